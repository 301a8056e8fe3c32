//! One YAML document as a small flat node tree built from parser events
//! (one `Vec` of nodes, one `Vec` of child ids, no per-node allocation
//! besides the scalar values the parser hands over), with byte spans,
//! anchors and aliases resolved, and the lookups an extractor needs:
//! mapping entries by key (optionally through merge keys), sequence items,
//! a scalar's value, exact content span and quote style, and where a
//! sibling key can be inserted.
//!
//! Positions: the parser reports character indexes; they are turned into
//! byte offsets by walking forward from the last converted position (no
//! walk at all for an all-ASCII file). A scalar event's span starts at its
//! anchor or tag, if any, and ends after its last content character (after
//! the closing quote for quoted scalars; trailing spaces and comments are
//! not part of a plain scalar).

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use saphyr_parser::{Event, Marker, ScalarStyle, Span};

use super::typing::{self, TagKind};

/// How a scalar is written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuoteStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

impl From<ScalarStyle> for QuoteStyle {
    fn from(style: ScalarStyle) -> QuoteStyle {
        match style {
            ScalarStyle::Plain => QuoteStyle::Plain,
            ScalarStyle::SingleQuoted => QuoteStyle::SingleQuoted,
            ScalarStyle::DoubleQuoted => QuoteStyle::DoubleQuoted,
            ScalarStyle::Literal => QuoteStyle::Literal,
            ScalarStyle::Folded => QuoteStyle::Folded,
        }
    }
}

/// A node of a [`Doc`].
pub type NodeId = u32;

#[derive(Debug)]
enum NodeKind<'a> {
    Scalar {
        value: Cow<'a, str>,
        style: QuoteStyle,
        /// What the tag says about the type, if there is a tag.
        tag: TagKind,
        /// Byte range of the event span (anchor/tag included, quotes included).
        bytes: Range<usize>,
    },
    Map {
        /// Range into `Doc::children`: key, value, key, value, ...
        children: Range<u32>,
        /// Written in flow style (`{a: 1, b: 2}`), over one line or many.
        flow: bool,
    },
    Seq {
        children: Range<u32>,
    },
    /// An alias, resolved to the anchored node (`None`: unknown anchor).
    Alias(Option<NodeId>),
}

#[derive(Debug)]
struct Node<'a> {
    kind: NodeKind<'a>,
    /// Start of the event span (an anchor or tag, if any, else the node).
    start: Marker,
}

/// A scalar as an extractor sees it.
#[derive(Debug, Clone)]
pub struct Scalar<'d> {
    /// The parsed value.
    pub value: &'d str,
    pub style: QuoteStyle,
    pub tag: TagKind,
    /// Byte range of the content in the text (quotes, anchor and tag
    /// excluded).
    pub content: Range<usize>,
    /// True when `text[content]` is exactly the value (no escapes, no
    /// line folding), so the bytes can be replaced without re-quoting.
    pub exact: bool,
    /// 1-based line and column (in characters) of the content's start.
    pub line: usize,
    pub column: usize,
}

impl Scalar<'_> {
    /// An empty plain scalar or `null`/`~` (core schema).
    pub fn is_null(&self) -> bool {
        typing::is_null(self.value, self.style, self.tag)
    }

    /// A string under the core schema (plain `true`, `42` are not).
    pub fn is_string(&self) -> bool {
        typing::is_string(self.value, self.style, self.tag)
    }

    /// What Helm and kustomize (Go, YAML 1.1) read in place of a string,
    /// when they read no string: see [`typing::go_yaml_non_string`].
    pub fn go_yaml_non_string(&self) -> Option<&'static str> {
        typing::go_yaml_non_string(self.value, self.style, self.tag)
    }
}

/// Where a new key can be inserted after an existing entry of a block
/// mapping: at the start of the line after the entry, indented as its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertPoint {
    /// Byte offset just past the entry's line break (the text's length
    /// when the entry is on the last line).
    pub after_line_end: usize,
    /// The key's indentation (spaces).
    pub indent: String,
}

/// Where [`Doc::sibling_insert`] puts a new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiblingInsert {
    /// On a line of its own after the entry.
    Block(InsertPoint),
    /// In a flow mapping, right after the value (`, key: value`); `json`
    /// when the entry's key is double-quoted (JSON), so the new key and
    /// value are written quoted too.
    Flow { at: usize, json: bool },
}

/// One document's node tree.
pub struct Doc<'t> {
    text: &'t str,
    ascii: bool,
    /// Markers hold byte offsets and byte columns (from the fast path),
    /// not characters.
    byte_marks: bool,
    nodes: Vec<Node<'t>>,
    children: Vec<NodeId>,
    /// The document holds an alias.
    aliases: bool,
    /// How many scalars read `image` (keys or values).
    image_scalars: usize,
}

/// How many times each node appears in a document once its aliases are
/// expanded (see [`Doc::appearances`]).
pub struct Appearances<'d, 't> {
    doc: &'d Doc<'t>,
    /// Each node's parent (`NodeId::MAX` for the root).
    parent: Vec<NodeId>,
    /// The alias nodes that refer to each anchored node.
    aliases_of: HashMap<NodeId, Vec<NodeId>>,
    memo: HashMap<(NodeId, Option<NodeId>), usize>,
}

impl Appearances<'_, '_> {
    /// How many places of the expanded document show node `id`: where it
    /// is written, and wherever an alias of it, or of a node around it,
    /// stands (a merge key's alias only for the keys the merging mapping
    /// does not set itself; a top-level `x-…` or `.…` entry, which only
    /// holds anchors, not at all). `usize::MAX` when the chain of aliases is too
    /// deep to count.
    pub fn count(&mut self, id: NodeId) -> usize {
        self.count_via(id, None, 0)
    }

    /// The key node, in mapping `map`, of the entry holding `child` (its
    /// value or its key).
    fn entry_key(&self, map: NodeId, child: NodeId) -> Option<NodeId> {
        let doc = self.doc;
        doc.map_entries(map)
            .chunks_exact(2)
            .find(|kv| kv[0] == child || kv[1] == child)
            .map(|kv| kv[0])
    }

    /// Whether alias `a` is merged (`<<: *a`, `<<: [*a, *b]`) into a
    /// mapping that sets the key `key` itself.
    fn shadowed(&self, a: NodeId, key: Option<NodeId>) -> bool {
        let doc = self.doc;
        let Some(key) = key.and_then(|k| doc.scalar_str(k)) else {
            return false;
        };
        let mut holder = self.parent.get(a as usize).copied().unwrap_or(NodeId::MAX);
        if holder != NodeId::MAX && doc.is_seq(holder) {
            holder = self
                .parent
                .get(holder as usize)
                .copied()
                .unwrap_or(NodeId::MAX);
        }
        if holder == NodeId::MAX || !doc.is_map(holder) {
            return false;
        }
        let merge_value = doc
            .map_entries(holder)
            .chunks_exact(2)
            .find(|kv| doc.scalar_str(kv[0]) == Some("<<"))
            .map(|kv| kv[1]);
        let merged_here =
            merge_value.is_some_and(|v| v == a || (doc.is_seq(v) && doc.seq_items(v).contains(&a)));
        merged_here && doc.get(holder, key).is_some()
    }

    /// Appearances of node `x`, asked on behalf of the entry of `x` whose
    /// key is `key` (when `x` is a mapping on the path to the node asked).
    fn count_via(&mut self, x: NodeId, key: Option<NodeId>, depth: usize) -> usize {
        if depth > 512 {
            return usize::MAX;
        }
        if let Some(&n) = self.memo.get(&(x, key)) {
            return n;
        }
        // A top-level entry named `x-…` or `.…` only holds anchors for
        // others to use (compose's extension fields, hidden keys): what is
        // written there is read nowhere.
        let is_root = self
            .parent
            .get(x as usize)
            .is_none_or(|&p| p == NodeId::MAX);
        let holder = key
            .and_then(|k| self.doc.scalar_str(k))
            .is_some_and(|k| k.starts_with("x-") || k.starts_with('.'));
        if is_root && holder {
            return 0;
        }
        let up = |this: &mut Self, node: NodeId, depth: usize| -> usize {
            let p = this
                .parent
                .get(node as usize)
                .copied()
                .unwrap_or(NodeId::MAX);
            if p == NodeId::MAX {
                return 1;
            }
            let k = if this.doc.is_map(p) {
                this.entry_key(p, node)
            } else {
                None
            };
            this.count_via(p, k, depth + 1)
        };
        let mut n = up(self, x, depth);
        for a in self.aliases_of.get(&x).cloned().unwrap_or_default() {
            if !self.shadowed(a, key) {
                n = n.saturating_add(up(self, a, depth));
            }
        }
        self.memo.insert((x, key), n);
        n
    }
}

impl<'t> Doc<'t> {
    /// Whether the document holds any alias (`*name`).
    pub fn has_aliases(&self) -> bool {
        self.aliases
    }

    /// How many scalars of the document read `image` (keys or values),
    /// counted while it was built: an upper bound of its `image` keys.
    pub fn image_scalars(&self) -> usize {
        self.image_scalars
    }

    /// Where each node appears once aliases are expanded, to tell a value
    /// written once from one an anchor shares with other places.
    pub fn appearances(&self) -> Appearances<'_, 't> {
        let mut parent = vec![NodeId::MAX; self.nodes.len()];
        let mut aliases_of: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
        for (id, node) in self.nodes.iter().enumerate() {
            match &node.kind {
                NodeKind::Map { children, .. } | NodeKind::Seq { children } => {
                    for &c in &self.children[children.start as usize..children.end as usize] {
                        if let Some(p) = parent.get_mut(c as usize) {
                            *p = id as NodeId;
                        }
                    }
                }
                NodeKind::Alias(Some(t)) => aliases_of.entry(*t).or_default().push(id as NodeId),
                _ => {}
            }
        }
        Appearances {
            doc: self,
            parent,
            aliases_of,
            memo: HashMap::new(),
        }
    }

    /// The text the document was parsed from.
    pub fn text(&self) -> &'t str {
        self.text
    }

    /// How many nodes the document has (ids are `0..len`).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the document has no node at all.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    #[inline]
    fn node(&self, id: NodeId) -> &Node<'t> {
        &self.nodes[id as usize]
    }

    /// Follow aliases (at most a few hops; aliases cannot chain, but be safe);
    /// `None` for an alias of an unknown anchor.
    #[inline]
    pub fn resolve(&self, mut id: NodeId) -> Option<NodeId> {
        for _ in 0..8 {
            match self.node(id).kind {
                NodeKind::Alias(Some(target)) => id = target,
                NodeKind::Alias(None) => return None,
                _ => return Some(id),
            }
        }
        None
    }

    /// The anchored node when `id` is an alias (`Some(None)`: unknown anchor).
    #[inline]
    pub fn alias_target(&self, id: NodeId) -> Option<Option<NodeId>> {
        match self.node(id).kind {
            NodeKind::Alias(t) => Some(t),
            _ => None,
        }
    }

    #[inline]
    pub fn is_map(&self, id: NodeId) -> bool {
        matches!(self.node(id).kind, NodeKind::Map { .. })
    }

    #[inline]
    /// A mapping written in flow style (`{a: 1}`).
    pub fn is_flow_map(&self, id: NodeId) -> bool {
        matches!(self.node(id).kind, NodeKind::Map { flow: true, .. })
    }

    pub fn is_seq(&self, id: NodeId) -> bool {
        matches!(self.node(id).kind, NodeKind::Seq { .. })
    }

    #[inline]
    pub fn is_scalar(&self, id: NodeId) -> bool {
        matches!(self.node(id).kind, NodeKind::Scalar { .. })
    }

    /// "a mapping", "a sequence", ... for messages.
    pub fn describe(&self, id: NodeId) -> &'static str {
        match self.node(id).kind {
            NodeKind::Map { .. } => "a mapping",
            NodeKind::Seq { .. } => "a sequence",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Alias(_) => "an alias",
        }
    }

    /// A mapping's entries: key, value, key, value, ... (empty for others).
    #[inline]
    pub fn map_entries(&self, id: NodeId) -> &[NodeId] {
        match &self.node(id).kind {
            NodeKind::Map { children, .. } => {
                &self.children[children.start as usize..children.end as usize]
            }
            _ => &[],
        }
    }

    /// A sequence's items (empty for others).
    #[inline]
    pub fn seq_items(&self, id: NodeId) -> &[NodeId] {
        match &self.node(id).kind {
            NodeKind::Seq { children } => {
                &self.children[children.start as usize..children.end as usize]
            }
            _ => &[],
        }
    }

    /// The string value of a scalar (through an alias), if it is a scalar.
    #[inline]
    pub fn scalar_str(&self, id: NodeId) -> Option<&str> {
        let id = self.resolve(id)?;
        match &self.node(id).kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The entry (key, value) of `key` in mapping `map` (not through merge keys).
    #[inline]
    pub fn entry(&self, map: NodeId, key: &str) -> Option<(NodeId, NodeId)> {
        self.map_entries(map)
            .chunks_exact(2)
            .find(|kv| self.scalar_str(kv[0]) == Some(key))
            .map(|kv| (kv[0], kv[1]))
    }

    /// The values of every entry of `key` in mapping `map` (a key written
    /// twice, which YAML forbids, has two).
    pub fn get_all<'k>(&'k self, map: NodeId, key: &'k str) -> impl Iterator<Item = NodeId> + 'k {
        self.map_entries(map)
            .chunks_exact(2)
            .filter(move |kv| self.scalar_str(kv[0]) == Some(key))
            .map(|kv| kv[1])
    }

    /// The value of `key` in mapping `map` (not through merge keys).
    #[inline]
    pub fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        self.entry(map, key).map(|(_, v)| v)
    }

    /// The entry of `key` in mapping `map`, else in the mappings its merge
    /// keys (`<<: *a`, `<<: [*a, *b]`) bring in, first one first.
    pub fn entry_merged(&self, map: NodeId, key: &str) -> Option<(NodeId, NodeId)> {
        self.entry_merged_depth(map, key, 0)
    }

    fn entry_merged_depth(&self, map: NodeId, key: &str, depth: usize) -> Option<(NodeId, NodeId)> {
        if let Some(e) = self.entry(map, key) {
            return Some(e);
        }
        if depth > 8 {
            return None;
        }
        let merged = self.resolve(self.get(map, "<<")?)?;
        if self.is_map(merged) {
            return self.entry_merged_depth(merged, key, depth + 1);
        }
        self.seq_items(merged).iter().find_map(|&m| {
            let m = self.resolve(m)?;
            self.entry_merged_depth(m, key, depth + 1)
        })
    }

    /// The string value of `key` in mapping `map`, when it is a non-null scalar.
    pub fn get_str(&self, map: NodeId, key: &str) -> Option<&str> {
        self.non_null_str(self.get(map, key)?)
    }

    /// [`Doc::get_str`] through merge keys.
    pub fn get_str_merged(&self, map: NodeId, key: &str) -> Option<&str> {
        self.non_null_str(self.entry_merged(map, key)?.1)
    }

    fn non_null_str(&self, v: NodeId) -> Option<&str> {
        let v = self.resolve(v)?;
        match &self.node(v).kind {
            NodeKind::Scalar {
                value, style, tag, ..
            } if !typing::is_null(value, *style, *tag) => Some(value),
            _ => None,
        }
    }

    /// 1-based line of a node's start (its anchor or tag, if any).
    pub fn start_line(&self, id: NodeId) -> usize {
        self.node(id).start.line()
    }

    /// Scalar `id` (not through aliases) with its exact content span.
    pub fn scalar(&self, id: NodeId) -> Option<Scalar<'_>> {
        let mut s = self.scalar_value(id)?;
        let node = self.node(id);
        let NodeKind::Scalar { bytes, .. } = &node.kind else {
            return None;
        };
        (s.line, s.column) = self.line_col(node.start, bytes.start, s.content.start);
        Some(s)
    }

    /// The byte just after the `:` that follows key `key` (where a value
    /// goes when the entry has none written).
    pub fn after_key_colon(&self, key: NodeId) -> Option<usize> {
        let text = self.text.as_bytes();
        let key_end = self.scalar_value(key)?.content.end;
        let quoted = matches!(
            self.scalar_value(key)?.style,
            QuoteStyle::SingleQuoted | QuoteStyle::DoubleQuoted
        );
        let from = key_end + usize::from(quoted);
        let colon = text.get(from..)?.iter().position(|&c| c == b':')?;
        Some(from + colon + 1)
    }

    /// [`Doc::scalar`] without its line and column (cheaper: for walks
    /// that compare values, not report them; `line` and `column` are 0).
    pub fn scalar_value(&self, id: NodeId) -> Option<Scalar<'_>> {
        let NodeKind::Scalar {
            value,
            style,
            tag,
            bytes,
        } = &self.node(id).kind
        else {
            return None;
        };
        let (content, exact) = self.content_span(value, *style, bytes.clone());
        Some(Scalar {
            value,
            style: *style,
            tag: *tag,
            content,
            exact,
            line: 0,
            column: 0,
        })
    }

    /// 1-based line and column (in characters) to report a node at: a
    /// scalar's content, else the node's start.
    pub fn position(&self, id: NodeId) -> (usize, usize) {
        let node = self.node(id);
        match &node.kind {
            NodeKind::Scalar {
                value,
                style,
                bytes,
                ..
            } if !value.is_empty() || *style != QuoteStyle::Plain => {
                let (content, _) = self.content_span(value, *style, bytes.clone());
                self.line_col(node.start, bytes.start, content.start)
            }
            _ => (node.start.line(), self.mark_col(node.start) + 1),
        }
    }

    /// Where a sibling key of `key: value` can go, in a block mapping
    /// (also when the entry opens a sequence item, `- image: a`: the new
    /// line is indented to the key's column) or a flow mapping (`{name: a,
    /// image: b}`: right after the value). `None` when the value runs past
    /// its line or the layout is anything else.
    pub fn sibling_insert(&self, map: NodeId, key: NodeId, value: NodeId) -> Option<SiblingInsert> {
        let b = self.text.as_bytes();
        let NodeKind::Scalar { bytes: kbytes, .. } = &self.node(key).kind else {
            return None;
        };
        let NodeKind::Scalar { bytes: vbytes, .. } = &self.node(value).kind else {
            return None;
        };
        // A flow mapping, on one line or over many, takes `, key: value`
        // right after the value, before whatever follows it (a comma, a
        // comment, a line break, the closing brace).
        if self.is_flow_map(map) {
            // Where the value itself ends: a quoted scalar's event span
            // runs on over the spaces and comment after its closing quote.
            let s = self.scalar(value)?;
            let at = match s.style {
                QuoteStyle::SingleQuoted | QuoteStyle::DoubleQuoted => s.content.end + 1,
                QuoteStyle::Plain => s.content.end,
                QuoteStyle::Literal | QuoteStyle::Folded => return None,
            };
            let json = self.scalar(key)?.style == QuoteStyle::DoubleQuoted;
            return (at <= vbytes.end).then_some(SiblingInsert::Flow { at, json });
        }
        let key_start = kbytes.start;
        let line_start = b[..key_start]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        let line_end = b[key_start..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |i| key_start + i);
        if vbytes.end > line_end {
            return None;
        }
        let after = self.text[vbytes.end..line_end].trim_start_matches([' ', '\t']);
        let after = after.trim_end_matches(['\r', ' ', '\t']);
        if !(after.is_empty() || after.starts_with('#')) {
            return None;
        }
        // Before the key: spaces and sequence dashes (`  - - key:`) only.
        let lead = &self.text[line_start..key_start];
        if !lead.bytes().all(|c| c == b' ' || c == b'-') || lead.contains("--") {
            return None;
        }
        Some(SiblingInsert::Block(InsertPoint {
            after_line_end: (line_end + 1).min(b.len()),
            indent: " ".repeat(lead.len()),
        }))
    }

    /// A marker's 0-based column in characters.
    fn mark_col(&self, m: Marker) -> usize {
        if !self.byte_marks || self.ascii {
            return m.col();
        }
        let line_start = m.index() - m.col();
        self.text
            .get(line_start..m.index())
            .map_or(m.col(), |s| s.chars().count())
    }

    /// 1-based line and column (in characters) of byte `to`, knowing that
    /// byte `from` is at marker `mark`.
    fn line_col(&self, mark: Marker, from: usize, to: usize) -> (usize, usize) {
        let (mut line, mut col) = (mark.line(), self.mark_col(mark));
        let between = self.text.get(from..to.max(from)).unwrap_or("");
        let mut chars = between.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\n' => {
                    line += 1;
                    col = 0;
                }
                '\r' => {
                    if chars.peek() != Some(&'\n') {
                        line += 1;
                        col = 0;
                    }
                }
                _ => col += 1,
            }
        }
        (line, col + 1)
    }

    /// The byte range of a scalar's content (quotes, anchor and tag
    /// excluded) from its event span, and whether it is exactly the value.
    fn content_span(
        &self,
        value: &str,
        style: QuoteStyle,
        ev: Range<usize>,
    ) -> (Range<usize>, bool) {
        let text = self.text;
        let bytes = text.as_bytes();
        let start = skip_properties(text, ev.start, ev.end);
        let end = ev.end;
        match style {
            QuoteStyle::Plain => {
                let span = start..end;
                let exact = text.get(span.clone()) == Some(value);
                (span, exact)
            }
            QuoteStyle::SingleQuoted | QuoteStyle::DoubleQuoted => {
                // The event span ends after any spaces and comment that
                // follow the closing quote: find the closing quote itself.
                let single = style == QuoteStyle::SingleQuoted;
                let q = if single { b'\'' } else { b'"' };
                if start >= end || bytes[start] != q {
                    return (start..end, false);
                }
                let mut p = start + 1;
                while p < end {
                    match bytes[p] {
                        b'\\' if !single => p += 2,
                        b'\'' if single && bytes.get(p + 1) == Some(&b'\'') => p += 2,
                        c if c == q => break,
                        _ => p += 1,
                    }
                }
                let close = p.min(end);
                let span = start + 1..close;
                let exact = text.get(span.clone()) == Some(value);
                (span, exact)
            }
            QuoteStyle::Literal | QuoteStyle::Folded => {
                // The event span starts at the content when the scalar has
                // no anchor or tag; after them, skip the header line (`|-`,
                // `>2`, maybe a comment), then blank lines and indentation.
                let mut p = start;
                if p < end && matches!(bytes[p], b'|' | b'>') {
                    while p < end && bytes[p] != b'\n' {
                        p += 1;
                    }
                }
                while p < end && matches!(bytes[p], b' ' | b'\t' | b'\r' | b'\n') {
                    p += 1;
                }
                let mut e = end;
                while e > p && matches!(bytes[e - 1], b' ' | b'\t' | b'\r' | b'\n') {
                    e -= 1;
                }
                (p..e, false)
            }
        }
    }
}

/// Character index → byte offset, walking from the last converted position.
struct PosConv<'t> {
    text: &'t str,
    ascii: bool,
    char_idx: usize,
    byte_idx: usize,
}

impl<'t> PosConv<'t> {
    fn new(text: &'t str, ascii: bool) -> Self {
        PosConv {
            text,
            ascii,
            char_idx: 0,
            byte_idx: 0,
        }
    }

    fn byte(&mut self, char_idx: usize) -> usize {
        if self.ascii {
            return char_idx.min(self.text.len());
        }
        if char_idx >= self.char_idx {
            for c in self.text[self.byte_idx..].chars() {
                if self.char_idx == char_idx {
                    break;
                }
                self.char_idx += 1;
                self.byte_idx += c.len_utf8();
            }
        } else {
            for c in self.text[..self.byte_idx].chars().rev() {
                if self.char_idx == char_idx {
                    break;
                }
                self.char_idx -= 1;
                self.byte_idx -= c.len_utf8();
            }
        }
        self.byte_idx
    }
}

/// Builds one [`Doc`] after another from parser events.
pub struct Builder<'t> {
    pub doc: Doc<'t>,
    conv: PosConv<'t>,
    /// (node id, index into `pending` where its children start)
    stack: Vec<(NodeId, usize)>,
    pending: Vec<NodeId>,
    anchors: HashMap<usize, NodeId>,
    root: Option<NodeId>,
    document: usize,
    in_doc: bool,
}

impl<'t> Builder<'t> {
    /// `byte_marks`: the events' markers hold byte offsets and byte
    /// columns (the fast path), not characters (the parser).
    pub fn new(text: &'t str, byte_marks: bool) -> Self {
        let ascii = text.is_ascii();
        Builder {
            doc: Doc {
                text,
                ascii,
                byte_marks,
                nodes: Vec::new(),
                children: Vec::new(),
                aliases: false,
                image_scalars: 0,
            },
            conv: PosConv::new(text, ascii),
            stack: Vec::new(),
            pending: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            document: 0,
            in_doc: false,
        }
    }

    /// Whether the next document's markers hold byte offsets and byte
    /// columns (the fast path) or characters (the parser).
    pub fn set_byte_marks(&mut self, byte_marks: bool) {
        self.doc.byte_marks = byte_marks;
    }

    /// Drop a document left half-built (the fast path gave up on it); the
    /// next document keeps the index this one had.
    pub fn abandon(&mut self) {
        self.stack.clear();
        self.pending.clear();
        self.root = None;
        self.in_doc = false;
    }

    /// Count a document that is skipped unparsed.
    pub fn skip_document(&mut self) {
        self.abandon();
        self.document += 1;
    }

    /// A stream that ends without a DocumentEnd (never, in practice): the
    /// root and index of what there is.
    pub fn finish(&mut self) -> Option<(NodeId, usize)> {
        if self.in_doc {
            self.in_doc = false;
            return self.root.take().map(|r| (r, self.document));
        }
        None
    }

    /// Take one event; at the end of a document, its root and 0-based
    /// index (the tree is in `self.doc` until the next event).
    pub fn event(&mut self, event: Event<'t>, span: Span) -> Option<(NodeId, usize)> {
        let doc = &mut self.doc;
        let id = doc.nodes.len() as NodeId;
        let node = match event {
            Event::StreamEnd | Event::StreamStart | Event::Nothing => return None,
            Event::DocumentStart(_) => {
                doc.nodes.clear();
                doc.children.clear();
                doc.aliases = false;
                doc.image_scalars = 0;
                self.stack.clear();
                self.pending.clear();
                self.anchors.clear();
                self.root = None;
                self.in_doc = true;
                return None;
            }
            Event::DocumentEnd => {
                let done = self.root.take().map(|r| (r, self.document));
                self.document += 1;
                self.in_doc = false;
                return done;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (id, from) = self.stack.pop()?;
                let start = doc.children.len() as u32;
                doc.children.extend(self.pending.drain(from..));
                let end = doc.children.len() as u32;
                match &mut doc.nodes[id as usize].kind {
                    NodeKind::Map { children, .. } | NodeKind::Seq { children } => {
                        *children = start..end;
                    }
                    _ => {}
                }
                return None;
            }
            Event::Alias(anchor) => {
                doc.aliases = true;
                Node {
                    kind: NodeKind::Alias(self.anchors.get(&anchor).copied()),
                    start: span.start,
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                if value == "image" {
                    doc.image_scalars += 1;
                }
                if anchor > 0 {
                    self.anchors.insert(anchor, id);
                }
                let bytes = if doc.byte_marks {
                    span.start.index()..span.end.index().max(span.start.index())
                } else {
                    let start = self.conv.byte(span.start.index());
                    start..self.conv.byte(span.end.index()).max(start)
                };
                Node {
                    kind: NodeKind::Scalar {
                        value,
                        style: style.into(),
                        tag: typing::tag_kind(tag.as_deref()),
                        bytes,
                    },
                    start: span.start,
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if anchor > 0 {
                    self.anchors.insert(anchor, id);
                }
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    NodeKind::Seq { children: 0..0 }
                } else {
                    // Flow style: `{` where the content starts (after any
                    // anchor and tag).
                    let byte = if doc.byte_marks {
                        span.start.index()
                    } else {
                        self.conv.byte(span.start.index())
                    };
                    let content = skip_properties(doc.text, byte, doc.text.len());
                    NodeKind::Map {
                        children: 0..0,
                        flow: doc.text.as_bytes().get(content) == Some(&b'{'),
                    }
                };
                // Register as a child of the parent before pushing our own frame.
                if self.stack.is_empty() {
                    self.root.get_or_insert(id);
                } else {
                    self.pending.push(id);
                }
                doc.nodes.push(Node {
                    kind,
                    start: span.start,
                });
                self.stack.push((id, self.pending.len()));
                return None;
            }
        };
        if self.stack.is_empty() {
            self.root.get_or_insert(id);
        } else {
            self.pending.push(id);
        }
        doc.nodes.push(node);
        None
    }
}

/// Skip an anchor (`&a`) and/or tag (`!t`) with the spaces, line breaks and
/// comments after them, from byte `p`; stops at `end`.
fn skip_properties(text: &str, mut p: usize, end: usize) -> usize {
    let b = text.as_bytes();
    loop {
        if p >= end {
            return end;
        }
        match b[p] {
            b'!' if b.get(p + 1) == Some(&b'<') => {
                // A verbatim tag may hold any URI character, commas included.
                while p < end && b[p] != b'>' {
                    p += 1;
                }
                p = (p + 1).min(end);
                p = skip_space_and_comments(b, p, end);
            }
            b'&' | b'!' => {
                while p < end
                    && !matches!(
                        b[p],
                        b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | b'{' | b'}'
                    )
                {
                    p += 1;
                }
                p = skip_space_and_comments(b, p, end);
            }
            _ => return p,
        }
    }
}

/// Whitespace, line breaks and comments between properties and content.
fn skip_space_and_comments(b: &[u8], mut p: usize, end: usize) -> usize {
    loop {
        while p < end && matches!(b[p], b' ' | b'\t' | b'\r' | b'\n') {
            p += 1;
        }
        if p < end && b[p] == b'#' {
            while p < end && b[p] != b'\n' {
                p += 1;
            }
        } else {
            return p;
        }
    }
}
