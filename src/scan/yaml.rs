//! YAML (and JSON, a subset of YAML) scanning with byte-exact scalar spans.
//!
//! Each document is read from `saphyr-parser` events into a small flat node
//! tree (one `Vec` of nodes, one `Vec` of child ids, no per-node
//! allocation besides the scalar values the parser hands over), then walked
//! once to find `image` keys with the context around them. The tree is
//! needed because an object's `kind` and `metadata` may come after its
//! `spec` in the text.
//!
//! Positions: the parser reports character indexes; they are turned into
//! byte offsets by walking forward from the last converted position (no
//! walk at all for an all-ASCII file). A scalar event's span starts at its
//! anchor or tag, if any, and ends after its last content character (after
//! the closing quote for quoted scalars; trailing spaces and comments are
//! not part of a plain scalar).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};

use super::{
    ContainerList, FileScan, FoundImage, ImageField, InvalidImage, ObjectContext, PodRef,
    QuoteStyle, ScanError, ScanWarning, Scope, SecretManifest, ServiceAccountManifest,
};
use crate::credentials::Secret;
use crate::reference::Reference;

/// Deepest nesting the walk descends into (the tree itself is built
/// without recursion); deeper nodes are not searched.
const MAX_DEPTH: usize = 256;

pub fn scan_text(path: &Path, text: &str, scope: Scope) -> Result<FileScan, ScanError> {
    // A CustomResourceDefinition names no image: its documents are blanked
    // (same bytes, same lines) before anything is parsed.
    let masked = super::crd::mask(text);
    let text = masked.as_deref().unwrap_or(text);
    let first = match scan_once(path, text, scope) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    // saphyr rejects flow content (a closing `]`, the continuation lines of
    // a quoted scalar or flow collection) indented no deeper than the
    // enclosing block, which Go YAML (kubectl, Helm) accepts at any
    // indentation. Indent every such line past its block, then map
    // positions back.
    let mut fix = IndentFix::continuations(text);
    let mut err = first;
    // Whatever the pre-pass missed, learn from the errors; each round must
    // learn something new, so this ends within a few rounds per line.
    let rounds = text.lines().count() + 1;
    for round in 0..=rounds {
        if round > 0 && !fix.add_for(text, &err) {
            break;
        }
        if fix.lines.is_empty() {
            continue;
        }
        let patched = fix.apply(text);
        match scan_once(path, &patched.text, scope) {
            Ok(s) => return Ok(patched.remap(s, &fix)),
            Err(e) => err = e,
        }
    }
    // Report the error as the original text has it.
    scan_once(path, text, scope)
}

/// Extra spaces to insert at the start of some (1-based) lines.
#[derive(Default)]
struct IndentFix {
    lines: std::collections::BTreeMap<usize, usize>,
}

/// Line-by-line state of [`IndentFix::continuations`].
#[derive(Default)]
struct ContinuationScan {
    /// Open quoted scalar (`'` or `"`).
    quote: Option<u8>,
    /// Depth of open flow collections.
    flow: usize,
    /// Column continuation lines must reach.
    target: usize,
    /// Column of the key (or scalar) on the line being scanned.
    key: usize,
    /// A block scalar started on a line whose key sat at this column.
    block_scalar: Option<usize>,
}

impl ContinuationScan {
    /// Scan one line's syntax from `from`; `block` when the line starts in
    /// block context (a node may start after indentation and `- `).
    fn scan(&mut self, b: &[u8], from: usize, block: bool) {
        let mut p = from;
        // Where a node may start: after `- `, `: `, `[`, `{`, `,`, `? `.
        let mut node_start = true;
        let mut prev_space = true;
        while p < b.len() {
            let c = b[p];
            if let Some(q) = self.quote {
                match c {
                    b'\\' if q == b'"' => p += 2,
                    b'\'' if q == b'\'' && b.get(p + 1) == Some(&b'\'') => p += 2,
                    _ if c == q => {
                        self.quote = None;
                        node_start = false;
                        prev_space = false;
                        p += 1;
                    }
                    _ => p += 1,
                }
                continue;
            }
            match c {
                b' ' | b'\t' | b'\r' => {
                    prev_space = true;
                    p += 1;
                    continue;
                }
                b'#' if prev_space => return, // a comment
                b'"' | b'\'' if node_start => self.quote = Some(c),
                b'[' | b'{' if node_start => self.flow += 1,
                b']' | b'}' if self.flow > 0 => {
                    self.flow -= 1;
                    node_start = false;
                }
                b',' if self.flow > 0 => node_start = true,
                b'&' | b'!' if node_start => {
                    // An anchor or tag: the node follows it.
                    if b.get(p + 1) == Some(&b'<') {
                        while p < b.len() && b[p] != b'>' {
                            p += 1;
                        }
                    } else {
                        while p < b.len() && !matches!(b[p], b' ' | b'\t' | b'\r') {
                            if self.flow > 0 && matches!(b[p], b',' | b'[' | b']' | b'{' | b'}') {
                                break;
                            }
                            p += 1;
                        }
                        prev_space = false;
                        continue;
                    }
                }
                b'|' | b'>' if node_start && block && self.flow == 0 => {
                    self.block_scalar = Some(self.key);
                    return;
                }
                b'-' | b'?' if node_start && matches!(b.get(p + 1), Some(b' ') | None) => {}
                b':' if matches!(b.get(p + 1), Some(b' ' | b'\t' | b'\r') | None)
                    || (self.flow > 0
                        && matches!(b.get(p + 1), Some(b',' | b']' | b'}' | b'"' | b'\''))) =>
                {
                    node_start = true;
                }
                _ => node_start = false,
            }
            prev_space = false;
            p += 1;
        }
    }
}

struct Patched {
    text: String,
    /// (byte offset in the patched text where spaces were inserted, how many)
    inserts: Vec<(usize, usize)>,
}

impl IndentFix {
    /// Every continuation line of a multi-line flow collection or quoted
    /// scalar, indented to one column past the key (or `- ` item) on the
    /// line where it starts. Extra leading spaces change no value: they
    /// are folded away in quoted scalars and insignificant in flow context.
    fn continuations(text: &str) -> IndentFix {
        let mut fix = IndentFix::default();
        let mut st = ContinuationScan::default();
        for (i, line) in text.split('\n').enumerate() {
            let b = line.as_bytes();
            let indent = b.iter().take_while(|&&c| c == b' ').count();
            let blank = indent == b.len() || b[indent] == b'\r';
            if st.quote.is_some() || st.flow > 0 {
                if b.starts_with(b"---") || b.starts_with(b"...") {
                    // A document marker ends everything (the parser will say
                    // what is wrong, if anything).
                    st = ContinuationScan::default();
                    continue;
                }
                if !blank && indent < st.target {
                    fix.lines.insert(i + 1, st.target - indent);
                }
                st.scan(b, indent, false);
                continue;
            }
            if let Some(parent) = st.block_scalar {
                if blank || indent > parent {
                    continue; // block scalar content: no syntax in it
                }
                st.block_scalar = None;
            }
            if blank {
                continue;
            }
            // The key or scalar after any `- ` indicators on this line.
            let mut key = indent;
            while b.get(key) == Some(&b'-') && matches!(b.get(key + 1), Some(b' ') | None) {
                key += 1;
                while b.get(key) == Some(&b' ') {
                    key += 1;
                }
            }
            st.target = key + 1;
            st.key = key;
            st.scan(b, indent, true);
        }
        fix
    }

    /// Learn from a syntax error which lines to indent further; false when
    /// the error is not one this works around (or nothing new is learnt).
    fn add_for(&mut self, text: &str, err: &ScanError) -> bool {
        let ScanError::Syntax {
            line,
            column,
            message,
            ..
        } = err
        else {
            return false;
        };
        let Some(line_text) = line.checked_sub(1).and_then(|l| text.split('\n').nth(l)) else {
            return false;
        };
        let indent_of = |l: &str| l.bytes().take_while(|&b| b == b' ').count();
        if message == "invalid indentation in quoted scalar" {
            // The error points at the opening quote.
            let shift = self.lines.get(line).copied().unwrap_or(0);
            let line_start = text
                .split('\n')
                .take(line - 1)
                .map(|l| l.len() + 1)
                .sum::<usize>();
            let Some(col) = (column - 1).checked_sub(shift) else {
                return false;
            };
            let Some((off, q)) = line_text.char_indices().nth(col) else {
                return false;
            };
            if q != '"' && q != '\'' {
                return false;
            }
            let b = text.as_bytes();
            let mut p = line_start + off + 1;
            while p < b.len() {
                match b[p] {
                    b'\\' if q == '"' => p += 2,
                    b'\'' if q == '\'' && b.get(p + 1) == Some(&b'\'') => p += 2,
                    c if c == q as u8 => break,
                    _ => p += 1,
                }
            }
            let p = p.min(b.len());
            let last_line = line + text[line_start..p].matches('\n').count();
            let target = indent_of(line_text) + 1;
            let mut changed = false;
            for (i, l) in text.split('\n').enumerate().take(last_line).skip(*line) {
                let have = indent_of(l) + self.lines.get(&(i + 1)).copied().unwrap_or(0);
                if have < target && !l.trim().is_empty() {
                    *self.lines.entry(i + 1).or_insert(0) += target - have;
                    changed = true;
                }
            }
            changed
        } else if message.starts_with("invalid indentation") {
            let first = line_text.trim_start_matches(' ').bytes().next();
            if matches!(first, Some(b']' | b'}' | b',' | b'"' | b'\'')) {
                *self.lines.entry(*line).or_insert(0) += 1;
                true
            } else {
                false
            }
        } else {
            false
        }
    }

    fn apply(&self, text: &str) -> Patched {
        let mut out = String::with_capacity(text.len() + 64);
        let mut inserts = Vec::new();
        for (i, l) in text.split_inclusive('\n').enumerate() {
            if let Some(&k) = self.lines.get(&(i + 1)) {
                inserts.push((out.len(), k));
                out.extend(std::iter::repeat_n(' ', k));
            }
            out.push_str(l);
        }
        Patched { text: out, inserts }
    }
}

impl Patched {
    /// Byte offset in the original text of patched offset `p`.
    fn orig(&self, p: usize) -> usize {
        let mut shift = 0;
        for &(at, k) in &self.inserts {
            if at >= p {
                break;
            }
            shift += k.min(p - at);
        }
        p - shift
    }

    fn remap(&self, mut s: FileScan, fix: &IndentFix) -> FileScan {
        let col = |line: usize, column: usize| {
            let k = fix.lines.get(&line).copied().unwrap_or(0);
            column.saturating_sub(k).max(1)
        };
        for img in &mut s.images {
            img.column = col(img.line, img.column);
            img.span = self.orig(img.span.start)..self.orig(img.span.end);
        }
        for w in &mut s.warnings {
            w.column = col(w.line, w.column);
        }
        for i in &mut s.invalid {
            i.column = col(i.line, i.column);
        }
        s
    }
}

fn scan_once(path: &Path, text: &str, scope: Scope) -> Result<FileScan, ScanError> {
    scan_with(path, text, true, scope)
}

/// The same scan with the full parser only (no fast path, no indentation
/// workaround): the reference the fast path is checked against (unit tests
/// and the corpus check).
pub fn scan_text_full_parser(path: &Path, text: &str) -> Result<FileScan, ScanError> {
    let masked = super::crd::mask(text);
    scan_with(
        path,
        masked.as_deref().unwrap_or(text),
        false,
        Scope::Everything,
    )
}

/// Whether the fast path reads `text` itself (else it leaves it to the
/// full parser).
pub fn fast_path_reads(text: &str) -> bool {
    fast::events(text, |_, _| {}).is_ok()
}

/// One scan of `text`; `fast` lets plain block-style files skip the parser.
fn scan_with(path: &Path, text: &str, fast: bool, scope: Scope) -> Result<FileScan, ScanError> {
    let mut scanner = Scanner {
        path,
        text,
        conv: PosConv::new(text),
        out: FileScan::default(),
        seen_spans: HashSet::new(),
        seen_warnings: HashSet::new(),
        fast,
        byte_marks: false,
        scope,
        skipped_image_keys: 0,
    };
    scanner.run()?;
    if scanner.skipped_image_keys > 0 {
        scanner.out.notes.push(format!(
            "{}: {} `image` value(s) not read: no document holding them is a Kubernetes object (`apiVersion`/`kind`), compose file, kustomization or GitHub workflow; render Helm charts with `helm template`, or name the file on the command line to scan it anyway",
            path.display(),
            scanner.skipped_image_keys
        ));
    }
    Ok(scanner.out)
}

type NodeId = u32;

#[derive(Debug)]
enum NodeKind<'a> {
    Scalar {
        value: Cow<'a, str>,
        style: ScalarStyle,
        /// What the tag says about the type, if there is a tag.
        tag: TagKind,
        /// Byte range of the event span (anchor/tag included, quotes included).
        bytes: Range<usize>,
    },
    Map {
        /// Range into `Doc::children`: key, value, key, value, ...
        children: Range<u32>,
    },
    Seq {
        children: Range<u32>,
    },
    /// An alias, resolved to the anchored node (`None`: unknown anchor).
    Alias(Option<NodeId>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    None,
    Str,
    /// Another core-schema tag (`!!int`, `!!null`, ...).
    OtherCore,
    /// A local or custom tag: taken as a string.
    Custom,
}

#[derive(Debug)]
struct Node<'a> {
    kind: NodeKind<'a>,
    /// Start of the event span (an anchor or tag, if any, else the node).
    start: Marker,
}

/// One document's node tree.
#[derive(Default)]
struct Doc<'a> {
    nodes: Vec<Node<'a>>,
    children: Vec<NodeId>,
}

impl<'a> Doc<'a> {
    fn clear(&mut self) {
        self.nodes.clear();
        self.children.clear();
    }

    fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id as usize]
    }

    /// Follow aliases (at most a few hops; aliases cannot chain, but be safe).
    fn resolve(&self, mut id: NodeId) -> Option<NodeId> {
        for _ in 0..8 {
            match self.node(id).kind {
                NodeKind::Alias(Some(target)) => id = target,
                NodeKind::Alias(None) => return None,
                _ => return Some(id),
            }
        }
        None
    }

    fn map_entries(&self, id: NodeId) -> &[NodeId] {
        match &self.node(id).kind {
            NodeKind::Map { children } => {
                &self.children[children.start as usize..children.end as usize]
            }
            _ => &[],
        }
    }

    fn seq_items(&self, id: NodeId) -> &[NodeId] {
        match &self.node(id).kind {
            NodeKind::Seq { children } => {
                &self.children[children.start as usize..children.end as usize]
            }
            _ => &[],
        }
    }

    /// The string value of a scalar (through an alias), if it is a scalar.
    fn scalar_str(&self, id: NodeId) -> Option<&str> {
        let id = self.resolve(id)?;
        match &self.node(id).kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of `key` in mapping `map` (not through merge keys).
    fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        self.map_entries(map)
            .chunks_exact(2)
            .find(|kv| self.scalar_str(kv[0]) == Some(key))
            .map(|kv| kv[1])
    }

    /// The string value of `key` in mapping `map`, when it is a non-null scalar.
    fn get_str(&self, map: NodeId, key: &str) -> Option<&str> {
        let v = self.resolve(self.get(map, key)?)?;
        match &self.node(v).kind {
            NodeKind::Scalar {
                value, style, tag, ..
            } if !is_null(value, *style, *tag) => Some(value),
            _ => None,
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
    fn new(text: &'t str) -> Self {
        PosConv {
            text,
            ascii: text.is_ascii(),
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

/// Where a mapping sits, as far as the walk cares.
#[derive(Clone, Copy)]
struct Place<'k> {
    /// The key whose value this node is (`None` for sequence items and roots).
    key: Option<&'k str>,
    /// For a sequence item: the key holding the sequence.
    seq_key: Option<&'k str>,
}

struct Scanner<'p, 't> {
    path: &'p Path,
    text: &'t str,
    conv: PosConv<'t>,
    out: FileScan,
    /// Spans already reported (aliases must not report a scalar twice).
    seen_spans: HashSet<(usize, usize)>,
    seen_warnings: HashSet<(usize, usize)>,
    /// Try the fast path first.
    fast: bool,
    /// Markers hold byte offsets and byte columns (from the fast path),
    /// not characters.
    byte_marks: bool,
    scope: Scope,
    /// `image` keys in documents [`Scope::KnownManifests`] leaves out.
    skipped_image_keys: usize,
}

/// Walk state for one document.
struct Walk<'d, 'a> {
    doc: &'d Doc<'a>,
    document: usize,
    /// Anchored nodes already expanded through an alias (each at most once:
    /// keeps alias bombs linear).
    expanded: HashSet<NodeId>,
}

/// Event consumer state: the tree of the current document.
#[derive(Default)]
struct DocState<'a> {
    doc: Doc<'a>,
    /// (node id, index into `pending` where its children start)
    stack: Vec<(NodeId, usize)>,
    pending: Vec<NodeId>,
    anchors: HashMap<usize, NodeId>,
    root: Option<NodeId>,
    document: usize,
    in_doc: bool,
}

#[derive(Clone, Default)]
struct Obj {
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    /// The innermost pod spec (a mapping with a `containers` sequence).
    pod: Option<PodRef>,
}

impl<'p, 't> Scanner<'p, 't> {
    fn syntax(&self, mark: &Marker, message: &str) -> ScanError {
        ScanError::Syntax {
            path: self.path.to_path_buf(),
            line: mark.line(),
            column: mark.col() + 1,
            message: message.to_string(),
        }
    }

    fn run(&mut self) -> Result<(), ScanError> {
        // Fast path for plain block-style ASCII YAML (most manifests); it
        // gives up on anything else, and the full parser starts over.
        if self.fast {
            let mut st = DocState::default();
            let text = self.text;
            self.byte_marks = true;
            let ok = fast::events(text, |event, span| self.on_event(&mut st, event, span)).is_ok();
            if ok {
                self.finish(&st);
                return Ok(());
            }
            self.byte_marks = false;
            self.out = FileScan::default();
            self.skipped_image_keys = 0;
            self.seen_spans.clear();
            self.seen_warnings.clear();
        }
        let mut parser = Parser::new_from_str(self.text);
        let mut st = DocState::default();
        while let Some(ev) = parser.next_event() {
            let (event, span) = match ev {
                Ok(x) => x,
                Err(e) => return Err(self.syntax(e.marker(), e.info())),
            };
            if matches!(event, Event::StreamEnd) {
                break;
            }
            self.on_event(&mut st, event, span);
        }
        self.finish(&st);
        Ok(())
    }

    /// A stream that ends without a DocumentEnd (never, in practice): walk
    /// what there is.
    fn finish(&mut self, st: &DocState<'t>) {
        if st.in_doc {
            if let Some(r) = st.root {
                self.walk_doc(&st.doc, r, st.document);
            }
        }
    }

    fn on_event(&mut self, st: &mut DocState<'t>, event: Event<'t>, span: Span) {
        let doc = &mut st.doc;
        let id = doc.nodes.len() as NodeId;
        let node = match event {
            Event::StreamEnd | Event::StreamStart | Event::Nothing => return,
            Event::DocumentStart(_) => {
                doc.clear();
                st.stack.clear();
                st.pending.clear();
                st.anchors.clear();
                st.root = None;
                st.in_doc = true;
                return;
            }
            Event::DocumentEnd => {
                if let Some(r) = st.root.take() {
                    self.walk_doc(&st.doc, r, st.document);
                }
                st.document += 1;
                st.in_doc = false;
                return;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some((id, from)) = st.stack.pop() else {
                    return;
                };
                let start = doc.children.len() as u32;
                doc.children.extend(st.pending.drain(from..));
                let end = doc.children.len() as u32;
                match &mut doc.nodes[id as usize].kind {
                    NodeKind::Map { children } | NodeKind::Seq { children } => {
                        *children = start..end;
                    }
                    _ => {}
                }
                return;
            }
            Event::Alias(anchor) => Node {
                kind: NodeKind::Alias(st.anchors.get(&anchor).copied()),
                start: span.start,
            },
            Event::Scalar(value, style, anchor, tag) => {
                if anchor > 0 {
                    st.anchors.insert(anchor, id);
                }
                let bytes = self.span_bytes(&span);
                Node {
                    kind: NodeKind::Scalar {
                        value,
                        style,
                        tag: tag_kind(tag.as_deref()),
                        bytes,
                    },
                    start: span.start,
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if anchor > 0 {
                    st.anchors.insert(anchor, id);
                }
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    NodeKind::Seq { children: 0..0 }
                } else {
                    NodeKind::Map { children: 0..0 }
                };
                // Register as a child of the parent before pushing our own frame.
                if st.stack.is_empty() {
                    st.root.get_or_insert(id);
                } else {
                    st.pending.push(id);
                }
                doc.nodes.push(Node {
                    kind,
                    start: span.start,
                });
                st.stack.push((id, st.pending.len()));
                return;
            }
        };
        if st.stack.is_empty() {
            st.root.get_or_insert(id);
        } else {
            st.pending.push(id);
        }
        doc.nodes.push(node);
    }

    fn span_bytes(&mut self, span: &Span) -> Range<usize> {
        if self.byte_marks {
            return span.start.index()..span.end.index().max(span.start.index());
        }
        let start = self.conv.byte(span.start.index());
        let end = self.conv.byte(span.end.index()).max(start);
        start..end
    }

    fn walk_doc(&mut self, doc: &Doc<'_>, root: NodeId, document: usize) {
        if self.scope == Scope::KnownManifests && !is_known_document(doc, root) {
            self.skipped_image_keys += count_image_keys(doc);
            return;
        }
        let mut walk = Walk {
            doc,
            document,
            expanded: HashSet::new(),
        };
        let place = Place {
            key: None,
            seq_key: None,
        };
        self.visit(&mut walk, root, &Obj::default(), place, 0);
    }

    fn visit(
        &mut self,
        w: &mut Walk<'_, '_>,
        id: NodeId,
        obj: &Obj,
        place: Place<'_>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let doc = w.doc;
        match &doc.node(id).kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Alias(target) => {
                if let Some(t) = *target {
                    if w.expanded.insert(t) {
                        self.visit(w, t, obj, place, depth + 1);
                    }
                }
            }
            NodeKind::Seq { .. } => {
                let item_place = Place {
                    key: None,
                    seq_key: place.key,
                };
                for &item in doc.seq_items(id) {
                    self.visit(w, item, obj, item_place, depth + 1);
                }
            }
            NodeKind::Map { .. } => {
                let own;
                let is_object =
                    doc.get(id, "kind").is_some() || doc.get(id, "apiVersion").is_some();
                let obj = if is_object {
                    let metadata = doc.get(id, "metadata").and_then(|m| doc.resolve(m));
                    own = Obj {
                        kind: doc.get_str(id, "kind").map(str::to_string),
                        namespace: metadata
                            .and_then(|m| doc.get_str(m, "namespace"))
                            .map(str::to_string),
                        name: metadata
                            .and_then(|m| doc.get_str(m, "name"))
                            .map(str::to_string),
                        pod: None,
                    };
                    match own.kind.as_deref() {
                        Some("Secret") => self.secret(doc, id, &own),
                        Some("ServiceAccount") => self.service_account(doc, id, &own),
                        // A schema names no image (a CRD inside a `kind:
                        // List`; whole CRD documents never get here).
                        Some("CustomResourceDefinition") => return,
                        _ => {}
                    }
                    &own
                } else {
                    obj
                };
                let pod_own;
                let obj = if is_pod_spec(doc, id) {
                    pod_own = Obj {
                        pod: Some(PodRef {
                            pull_secrets: pull_secret_names(doc, id),
                            service_account: doc
                                .get_str(id, "serviceAccountName")
                                .or_else(|| doc.get_str(id, "serviceAccount"))
                                .map(str::to_string),
                        }),
                        ..obj.clone()
                    };
                    &pod_own
                } else {
                    obj
                };
                // An `image` key directly under a JSON-schema `properties`
                // mapping describes a field; it is not an image.
                let schema = place.key == Some("properties");
                for kv in doc.map_entries(id).chunks_exact(2) {
                    let (k, v) = (kv[0], kv[1]);
                    let key = doc.scalar_str(k);
                    match key {
                        Some("image") if !schema => {
                            self.image(w, id, k, v, obj, place, is_object);
                            // The value may still hold something (a mapping
                            // under `image`) only for image volumes, handled
                            // above; nothing else to descend into.
                        }
                        Some("<<") => {
                            // Merge key: the merged mapping(s) sit where this one does.
                            self.visit(w, v, obj, place, depth + 1);
                        }
                        _ => {
                            let vplace = Place { key, seq_key: None };
                            self.visit(w, v, obj, vplace, depth + 1);
                        }
                    }
                }
            }
        }
    }

    /// Handle the value `v` of an `image` key in mapping `map`.
    #[allow(clippy::too_many_arguments)]
    fn image(
        &mut self,
        w: &mut Walk<'_, '_>,
        map: NodeId,
        key: NodeId,
        v: NodeId,
        obj: &Obj,
        place: Place<'_>,
        map_is_object: bool,
    ) {
        let doc = w.doc;
        let Some(target) = doc.resolve(v) else {
            self.warn_at_node(
                doc,
                key,
                "image: the alias refers to an unknown anchor; skipped".into(),
            );
            return;
        };
        match &doc.node(target).kind {
            NodeKind::Scalar { .. } if doc.get(map, "tag").is_some() => {
                // `{image: debian, tag: '9.1'}` (Argo `withItems`, Helm-style
                // values): the value is a repository to be joined with the
                // tag elsewhere, not a reference a pod runs as written.
                self.warn_at_node(
                    doc,
                    target,
                    "image has a sibling `tag` key, so its value is a repository joined with that tag elsewhere (template parameters, Helm values), not a complete reference; skipped".into(),
                );
            }
            NodeKind::Scalar { .. } => {
                let context = ObjectContext {
                    kind: obj.kind.clone(),
                    namespace: obj.namespace.clone(),
                    name: obj.name.clone(),
                    container: if map_is_object {
                        None
                    } else {
                        doc.get_str(map, "name").map(str::to_string)
                    },
                    list: place.seq_key.and_then(container_list),
                    pull_policy: doc.get_str(map, "imagePullPolicy").map(str::to_string),
                    pod: obj.pod.clone(),
                };
                // A compose service that builds its image names the image it
                // builds, not one to pull.
                let built = obj.kind.is_none() && doc.get(map, "build").is_some();
                self.scalar_image(
                    doc,
                    key,
                    target,
                    ImageField::Image,
                    context,
                    w.document,
                    "image",
                    built,
                );
            }
            NodeKind::Map { .. } if place.seq_key == Some("volumes") => {
                // Kubernetes image volume: `volumes[].image.reference`.
                match doc.get(target, "reference") {
                    Some(r) => {
                        let Some(rt) = doc.resolve(r) else {
                            self.warn_at_node(doc, r, "image volume reference: the alias refers to an unknown anchor; skipped".into());
                            return;
                        };
                        let context = ObjectContext {
                            kind: obj.kind.clone(),
                            namespace: obj.namespace.clone(),
                            name: obj.name.clone(),
                            container: None,
                            list: None,
                            pull_policy: doc.get_str(target, "pullPolicy").map(str::to_string),
                            pod: obj.pod.clone(),
                        };
                        if matches!(doc.node(rt).kind, NodeKind::Scalar { .. }) {
                            self.scalar_image(
                                doc,
                                r,
                                rt,
                                ImageField::VolumeReference,
                                context,
                                w.document,
                                "image volume reference",
                                false,
                            );
                        } else {
                            let what = describe(doc, rt);
                            self.warn_at_node(
                                doc,
                                rt,
                                format!("image volume reference is {what}, not a string; skipped"),
                            );
                        }
                    }
                    None => self.warn_at_node(
                        doc,
                        target,
                        "image volume has no `reference` key; skipped".into(),
                    ),
                }
            }
            _ => {
                let what = describe(doc, target);
                self.warn_at_node(
                    doc,
                    target,
                    if matches!(doc.node(target).kind, NodeKind::Map { .. }) {
                    "image value is a mapping (Helm values style repository/tag?), not a string; skipped: render the chart with `helm template` and scan the output to pin what it deploys".to_string()
                } else {
                    format!("image value is {what}, not a string; skipped")
                },
                );
            }
        }
    }

    /// A scalar `id` (already resolved) as the value of `key`.
    #[allow(clippy::too_many_arguments)]
    fn scalar_image(
        &mut self,
        doc: &Doc<'_>,
        key: NodeId,
        id: NodeId,
        field: ImageField,
        context: ObjectContext,
        document: usize,
        what: &str,
        built: bool,
    ) {
        let node = doc.node(id);
        let NodeKind::Scalar {
            value,
            style,
            tag,
            bytes,
        } = &node.kind
        else {
            return;
        };
        if is_null(value, *style, *tag) {
            // An implicit null has no position of its own: point at the key.
            let at = if value.is_empty() { key } else { id };
            self.warn_at_node(doc, at, format!("{what} is null (no value); skipped"));
            return;
        }
        let (content, exact) = self.content_span(value, *style, bytes.clone());
        let (line, column) = self.line_col(node.start, bytes.start, content.start);
        if !is_string(value, *style, *tag) {
            self.warn(
                line,
                column,
                format!("{what} {:?} is not a string; skipped", &**value),
            );
            return;
        }
        match Reference::parse(value) {
            Ok(reference) => {
                if !self.seen_spans.insert((content.start, content.end)) {
                    return;
                }
                self.out.images.push(FoundImage {
                    file: self.path.to_path_buf(),
                    line,
                    column,
                    span: content,
                    style: quote_style(*style),
                    exact,
                    field,
                    reference,
                    context,
                    document,
                    built,
                    dockerfile: None,
                });
            }
            Err(e) => match placeholder(value) {
                Some(kind) => self.warn(
                    line,
                    column,
                    format!("{what} {:?} is {kind}, not a reference; skipped", &**value),
                ),
                None => {
                    if self.seen_spans.insert((content.start, content.end)) {
                        self.out.invalid.push(InvalidImage {
                            file: self.path.to_path_buf(),
                            line,
                            column,
                            value: value.to_string(),
                            message: e.reason,
                        });
                    }
                }
            },
        }
    }

    /// A `kind: Secret` document: kept (values as [`Secret`]s) for pull
    /// credentials.
    fn secret(&mut self, doc: &Doc<'_>, id: NodeId, obj: &Obj) {
        let entries = |key: &str| -> Vec<(String, Secret)> {
            let Some(m) = doc.get(id, key).and_then(|m| doc.resolve(m)) else {
                return Vec::new();
            };
            doc.map_entries(m)
                .chunks_exact(2)
                .filter_map(|kv| {
                    let k = doc.scalar_str(kv[0])?;
                    let v = doc.scalar_str(kv[1])?;
                    Some((k.to_string(), Secret::new(v)))
                })
                .collect()
        };
        self.out.secrets.push(SecretManifest {
            file: self.path.to_path_buf(),
            line: doc.node(id).start.line(),
            namespace: obj.namespace.clone(),
            name: obj.name.clone(),
            secret_type: doc.get_str(id, "type").map(str::to_string),
            data: entries("data"),
            string_data: entries("stringData"),
        });
    }

    /// A `kind: ServiceAccount` document: its `imagePullSecrets`.
    fn service_account(&mut self, doc: &Doc<'_>, id: NodeId, obj: &Obj) {
        self.out.service_accounts.push(ServiceAccountManifest {
            file: self.path.to_path_buf(),
            line: doc.node(id).start.line(),
            namespace: obj.namespace.clone(),
            name: obj.name.clone(),
            pull_secrets: pull_secret_names(doc, id),
        });
    }

    fn warn_at_node(&mut self, doc: &Doc<'_>, id: NodeId, message: String) {
        let node = doc.node(id);
        let (line, column) = match &node.kind {
            NodeKind::Scalar {
                value,
                style,
                bytes,
                ..
            } if !value.is_empty() || *style != ScalarStyle::Plain => {
                let (content, _) = self.content_span(value, *style, bytes.clone());
                self.line_col(node.start, bytes.start, content.start)
            }
            _ => (node.start.line(), self.mark_col(node.start) + 1),
        };
        self.warn(line, column, message);
    }

    fn warn(&mut self, line: usize, column: usize, message: String) {
        if !self.seen_warnings.insert((line, column)) {
            return;
        }
        self.out.warnings.push(ScanWarning {
            file: self.path.to_path_buf(),
            line,
            column,
            message,
        });
    }

    /// A marker's 0-based column in characters.
    fn mark_col(&self, m: Marker) -> usize {
        if !self.byte_marks || self.conv.ascii {
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
        style: ScalarStyle,
        ev: Range<usize>,
    ) -> (Range<usize>, bool) {
        let text = self.text;
        let bytes = text.as_bytes();
        let start = skip_properties(text, ev.start, ev.end);
        let end = ev.end;
        match style {
            ScalarStyle::Plain => {
                let span = start..end;
                let exact = text.get(span.clone()) == Some(value);
                (span, exact)
            }
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                // The event span ends after any spaces and comment that
                // follow the closing quote: find the closing quote itself.
                let single = style == ScalarStyle::SingleQuoted;
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
            ScalarStyle::Literal | ScalarStyle::Folded => {
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

/// Skip an anchor (`&a`) and/or tag (`!t`) with the spaces, line breaks and
/// comments after them, from byte `p`; stops at `end`.
/// Whether a document is one imagelock knows how to read images from: a
/// Kubernetes object (`apiVersion` or `kind` at the top; `kind: List`
/// included), a compose file (`services` mapping), a kustomization or a
/// GitHub workflow (`jobs` mapping).
fn is_known_document(doc: &Doc<'_>, root: NodeId) -> bool {
    let Some(root) = doc.resolve(root) else {
        return false;
    };
    let is_map = |key: &str| {
        doc.get(root, key)
            .and_then(|v| doc.resolve(v))
            .is_some_and(|v| matches!(doc.node(v).kind, NodeKind::Map { .. }))
    };
    doc.get(root, "apiVersion").is_some()
        || doc.get(root, "kind").is_some()
        || is_map("services")
        || is_map("jobs")
        || ["resources", "images", "components", "bases", "patches"]
            .iter()
            .any(|k| doc.get(root, k).is_some())
}

/// How many mapping entries in the document have the key `image`.
fn count_image_keys(doc: &Doc<'_>) -> usize {
    (0..doc.nodes.len() as NodeId)
        .filter(|&id| matches!(doc.node(id).kind, NodeKind::Map { .. }))
        .map(|id| {
            doc.map_entries(id)
                .chunks_exact(2)
                .filter(|kv| doc.scalar_str(kv[0]) == Some("image"))
                .count()
        })
        .sum()
}

/// What kind of placeholder an image value is, when it is one that some
/// tool fills in before the kubelet sees it: a template or an unresolved
/// `ko://` import path.
fn placeholder(value: &str) -> Option<&'static str> {
    if value.contains("{{") || value.contains("${") || value.contains("$(") {
        Some("a template")
    } else if value.starts_with("ko://") {
        Some("a ko import path (resolved by `ko resolve`)")
    } else if value.trim().is_empty() {
        Some("empty")
    } else {
        None
    }
}

/// A pod spec: a mapping whose `containers` is a sequence.
fn is_pod_spec(doc: &Doc<'_>, id: NodeId) -> bool {
    doc.get(id, "containers")
        .and_then(|c| doc.resolve(c))
        .is_some_and(|c| matches!(doc.node(c).kind, NodeKind::Seq { .. }))
}

/// `imagePullSecrets: [{name: a}, …]` of a pod spec or ServiceAccount.
fn pull_secret_names(doc: &Doc<'_>, id: NodeId) -> Vec<String> {
    let Some(list) = doc.get(id, "imagePullSecrets").and_then(|l| doc.resolve(l)) else {
        return Vec::new();
    };
    doc.seq_items(list)
        .iter()
        .filter_map(|&item| {
            let item = doc.resolve(item)?;
            match doc.node(item).kind {
                NodeKind::Map { .. } => doc.get_str(item, "name"),
                _ => doc.scalar_str(item),
            }
        })
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

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

fn tag_kind(tag: Option<&Tag>) -> TagKind {
    match tag {
        None => TagKind::None,
        // A verbatim tag `!<tag:yaml.org,2002:str>` arrives whole in the suffix.
        Some(t) if t.handle.is_empty() && t.suffix.starts_with("tag:yaml.org,2002:") => {
            if t.suffix == "tag:yaml.org,2002:str" {
                TagKind::Str
            } else {
                TagKind::OtherCore
            }
        }
        Some(t) if t.is_yaml_core_schema() => {
            if t.suffix == "str" {
                TagKind::Str
            } else {
                TagKind::OtherCore
            }
        }
        // `!!str` may also arrive unresolved as handle `!!`.
        Some(t) if t.handle == "!!" && t.suffix == "str" => TagKind::Str,
        Some(t) if t.handle == "!!" => TagKind::OtherCore,
        Some(_) => TagKind::Custom,
    }
}

/// A null: an empty plain scalar or `null`/`~` (YAML 1.2 core schema).
fn is_null(value: &str, style: ScalarStyle, tag: TagKind) -> bool {
    if style != ScalarStyle::Plain || matches!(tag, TagKind::Str | TagKind::Custom) {
        return false;
    }
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// Whether the scalar is a string under the YAML 1.2 core schema (plain
/// `true`, `42`, `1.5`, `.inf` are not).
fn is_string(value: &str, style: ScalarStyle, tag: TagKind) -> bool {
    match tag {
        TagKind::Str | TagKind::Custom => return true,
        TagKind::OtherCore => return false,
        TagKind::None => {}
    }
    if style != ScalarStyle::Plain {
        return true;
    }
    !(is_null(value, style, tag) || is_bool(value) || is_int(value) || is_float(value))
}

fn is_bool(v: &str) -> bool {
    matches!(v, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

fn is_int(v: &str) -> bool {
    let digits = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.as_bytes().iter().all(f);
    if let Some(h) = v.strip_prefix("0x") {
        return digits(h, u8::is_ascii_hexdigit);
    }
    if let Some(o) = v.strip_prefix("0o") {
        return digits(o, |b| (b'0'..=b'7').contains(b));
    }
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    digits(s, u8::is_ascii_digit)
}

fn is_float(v: &str) -> bool {
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    if matches!(s, ".inf" | ".Inf" | ".INF") || matches!(v, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    // [0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)? with at least one digit in the mantissa
    let b = s.as_bytes();
    let mut i = 0;
    let mut mantissa = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        mantissa += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            mantissa += 1;
        }
    }
    if mantissa == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

fn quote_style(style: ScalarStyle) -> QuoteStyle {
    match style {
        ScalarStyle::Plain => QuoteStyle::Plain,
        ScalarStyle::SingleQuoted => QuoteStyle::SingleQuoted,
        ScalarStyle::DoubleQuoted => QuoteStyle::DoubleQuoted,
        ScalarStyle::Literal => QuoteStyle::Literal,
        ScalarStyle::Folded => QuoteStyle::Folded,
    }
}

fn container_list(key: &str) -> Option<ContainerList> {
    match key {
        "containers" => Some(ContainerList::Containers),
        "initContainers" => Some(ContainerList::InitContainers),
        "ephemeralContainers" => Some(ContainerList::EphemeralContainers),
        _ => None,
    }
}

fn describe(doc: &Doc<'_>, id: NodeId) -> &'static str {
    match doc.node(id).kind {
        NodeKind::Map { .. } => "a mapping",
        NodeKind::Seq { .. } => "a sequence",
        NodeKind::Scalar { .. } => "a scalar",
        NodeKind::Alias(_) => "an alias",
    }
}

/// A line-based reader for the plain block-style subset of YAML that most
/// manifests use (block mappings and sequences, one-line plain and quoted
/// scalars without escapes, one-line flow collections, comments, `---`).
/// Markers it emits hold byte offsets and byte columns. It
/// produces the same events as `saphyr-parser` (scalars borrowed, not
/// copied) and gives up (`Err(())`) on anything else: flow collections,
/// anchors, aliases, tags, block scalars, multi-line scalars, escapes,
/// tabs, directives, odd indentation. Giving up is always safe: the caller
/// starts over with the full parser, which also reports syntax errors.
mod fast {
    use std::borrow::Cow;

    use saphyr_parser::{Event, Marker, ScalarStyle, Span};

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Map,
        Seq,
    }

    #[derive(Clone, Copy)]
    struct Pending {
        /// Column of the key, or of the `-`, waiting for its value.
        col: usize,
        is_key: bool,
    }

    struct Fast<'t, F> {
        text: &'t str,
        emit: F,
        stack: Vec<(Kind, usize)>,
        pending: Option<Pending>,
        in_doc: bool,
        has_root: bool,
        line: usize,
        line_start: usize,
    }

    pub(super) fn events<'t, F: FnMut(Event<'t>, Span)>(text: &'t str, emit: F) -> Result<(), ()> {
        if !text.is_ascii()
            && text.chars().any(|c| {
                matches!(
                    c,
                    '\u{80}'..='\u{9f}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                )
            })
        {
            return Err(()); // leave BOMs and C1 controls to the parser
        }
        let mut f = Fast {
            text,
            emit,
            stack: Vec::new(),
            pending: None,
            in_doc: false,
            has_root: false,
            line: 0,
            line_start: 0,
        };
        let b = text.as_bytes();
        let mut pos = 0;
        while pos < b.len() {
            let nl = memchr(b'\n', &b[pos..]).map_or(b.len(), |i| pos + i);
            f.line += 1;
            f.line_start = pos;
            let mut end = nl;
            if end > pos && b[end - 1] == b'\r' {
                end -= 1;
            }
            f.do_line(pos, end)?;
            pos = nl + 1;
        }
        f.line += 1;
        f.line_start = b.len();
        f.end_doc(b.len());
        Ok(())
    }

    fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
        hay.iter().position(|&c| c == needle)
    }

    fn is_indicator(c: u8) -> bool {
        matches!(
            c,
            b'[' | b']'
                | b'{'
                | b'}'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'%'
                | b'@'
                | b'`'
                | b','
                | b'?'
                | b':'
                | b'#'
                | b'\''
                | b'"'
        )
    }

    impl<'t, F: FnMut(Event<'t>, Span)> Fast<'t, F> {
        fn mark(&self, pos: usize) -> Marker {
            Marker::new(pos, self.line, pos - self.line_start)
        }

        fn emit_at(&mut self, ev: Event<'t>, pos: usize) {
            let m = self.mark(pos);
            (self.emit)(ev, Span::new(m, m));
        }

        fn empty_scalar(&mut self, pos: usize) {
            self.emit_at(
                Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None),
                pos,
            );
        }

        fn end_doc(&mut self, pos: usize) {
            if !self.in_doc {
                return;
            }
            if let Some(_p) = self.pending.take() {
                self.empty_scalar(pos);
            }
            while let Some((k, _)) = self.stack.pop() {
                let ev = if k == Kind::Map {
                    Event::MappingEnd
                } else {
                    Event::SequenceEnd
                };
                self.emit_at(ev, pos);
            }
            if !self.has_root {
                self.empty_scalar(pos);
            }
            self.emit_at(Event::DocumentEnd, pos);
            self.in_doc = false;
            self.has_root = false;
        }

        fn do_line(&mut self, ls: usize, le: usize) -> Result<(), ()> {
            let b = self.text.as_bytes();
            let line = &b[ls..le];
            if line.iter().any(|&c| c < 0x20) {
                return Err(()); // tabs, stray CRs, control characters
            }
            let mut c = ls;
            while c < le && b[c] == b' ' {
                c += 1;
            }
            if c == le || b[c] == b'#' {
                return Ok(()); // blank or comment line
            }
            if c == ls && (line.starts_with(b"---") || line.starts_with(b"...") || b[c] == b'%') {
                if !line.starts_with(b"---") {
                    return Err(());
                }
                let mut r = ls + 3;
                if r < le && b[r] != b' ' {
                    return Err(());
                }
                while r < le && b[r] == b' ' {
                    r += 1;
                }
                if r < le && b[r] != b'#' {
                    return Err(());
                }
                self.end_doc(ls);
                self.emit_at(Event::DocumentStart(true), ls);
                self.in_doc = true;
                return Ok(());
            }
            if !self.in_doc {
                self.emit_at(Event::DocumentStart(false), c);
                self.in_doc = true;
            }
            loop {
                let col = c - ls;
                if b[c] == b'-' && (c + 1 == le || b[c + 1] == b' ') {
                    self.open(Kind::Seq, col, c)?;
                    c += 1;
                    while c < le && b[c] == b' ' {
                        c += 1;
                    }
                    self.pending = Some(Pending { col, is_key: false });
                    if c == le || b[c] == b'#' {
                        return Ok(());
                    }
                    continue;
                }
                if matches!(b[c], b'[' | b'{') {
                    // A one-line flow collection as a `-` item.
                    match self.pending {
                        Some(p) if !p.is_key && p.col < col => {}
                        _ => return Err(()),
                    }
                    self.pending = None;
                    return self.value(c, le);
                }
                if is_indicator(b[c]) && !matches!(b[c], b'"' | b'\'') {
                    return Err(());
                }
                match self.find_key(c, le)? {
                    Some(colon) => {
                        self.open(Kind::Map, col, c)?;
                        self.scalar_event(
                            Cow::Borrowed(&self.text[c..colon]),
                            ScalarStyle::Plain,
                            c,
                            colon,
                        );
                        let mut v = colon + 1;
                        while v < le && b[v] == b' ' {
                            v += 1;
                        }
                        if v == le || b[v] == b'#' {
                            self.pending = Some(Pending { col, is_key: true });
                            return Ok(());
                        }
                        return self.value(v, le);
                    }
                    None => {
                        // A scalar: only as the item of a `-` on this line.
                        match self.pending {
                            Some(p) if !p.is_key && p.col < col => {}
                            _ => return Err(()),
                        }
                        self.pending = None;
                        return self.value(c, le);
                    }
                }
            }
        }

        /// A plain key starting at `c`: the position of its `:`.
        fn find_key(&self, c: usize, le: usize) -> Result<Option<usize>, ()> {
            let b = self.text.as_bytes();
            if matches!(b[c], b'"' | b'\'') {
                // A quoted key (or a quoted scalar item): only the latter.
                let close = self.quoted_end(c, le)?;
                let mut r = close + 1;
                while r < le && b[r] == b' ' {
                    r += 1;
                }
                return if r == le || b[r] == b'#' {
                    Ok(None)
                } else {
                    Err(())
                };
            }
            let mut j = c;
            while j < le {
                match b[j] {
                    b':' if j + 1 == le || b[j + 1] == b' ' => {
                        if b[j - 1] == b' ' {
                            return Err(());
                        }
                        return Ok(Some(j));
                    }
                    b'#' if b[j - 1] == b' ' => return Ok(None),
                    _ => j += 1,
                }
            }
            Ok(None)
        }

        /// The closing quote of the one-line quoted scalar at `c`.
        fn quoted_end(&self, c: usize, le: usize) -> Result<usize, ()> {
            let b = self.text.as_bytes();
            let q = b[c];
            let close = super::fast::memchr(q, &b[c + 1..le])
                .map(|i| c + 1 + i)
                .ok_or(())?;
            if q == b'"' && b[c + 1..close].contains(&b'\\') {
                return Err(());
            }
            if q == b'\'' && close + 1 < le && b[close + 1] == b'\'' {
                return Err(());
            }
            Ok(close)
        }

        fn scalar_event(&mut self, v: Cow<'t, str>, style: ScalarStyle, start: usize, end: usize) {
            let (s, e) = (self.mark(start), self.mark(end));
            (self.emit)(Event::Scalar(v, style, 0, None), Span::new(s, e));
        }

        /// A value scalar at `v` running to the end of the line.
        fn value(&mut self, v: usize, le: usize) -> Result<(), ()> {
            let b = self.text.as_bytes();
            let text = self.text;
            if matches!(b[v], b'"' | b'\'') {
                let close = self.quoted_end(v, le)?;
                let mut r = close + 1;
                while r < le && b[r] == b' ' {
                    r += 1;
                }
                if r < le && b[r] != b'#' {
                    return Err(());
                }
                let style = if b[v] == b'"' {
                    ScalarStyle::DoubleQuoted
                } else {
                    ScalarStyle::SingleQuoted
                };
                self.scalar_event(Cow::Borrowed(&text[v + 1..close]), style, v, close + 1);
                return Ok(());
            }
            if matches!(b[v], b'[' | b'{') {
                let mut r = self.flow(v, le, 0)?;
                while r < le && b[r] == b' ' {
                    r += 1;
                }
                return if r == le || b[r] == b'#' {
                    Ok(())
                } else {
                    Err(())
                };
            }
            if is_indicator(b[v]) || (b[v] == b'-' && (v + 1 == le || b[v + 1] == b' ')) {
                return Err(());
            }
            let mut end = le;
            let mut j = v;
            while j < le {
                match b[j] {
                    b'#' if b[j - 1] == b' ' => {
                        end = j;
                        break;
                    }
                    b':' if j + 1 == le || b[j + 1] == b' ' => return Err(()),
                    _ => j += 1,
                }
            }
            while end > v && b[end - 1] == b' ' {
                end -= 1;
            }
            self.scalar_event(Cow::Borrowed(&text[v..end]), ScalarStyle::Plain, v, end);
            Ok(())
        }

        /// A flow collection (`[`/`{` at `p`) that closes on this line;
        /// returns the position after it.
        fn flow(&mut self, p: usize, le: usize, depth: usize) -> Result<usize, ()> {
            let b = self.text.as_bytes();
            if depth > 32 {
                return Err(());
            }
            let is_map = b[p] == b'{';
            let close = if is_map { b'}' } else { b']' };
            let ev = if is_map {
                Event::MappingStart(0, None)
            } else {
                Event::SequenceStart(0, None)
            };
            self.emit_at(ev, p);
            let skip = |mut q: usize| {
                while q < le && b[q] == b' ' {
                    q += 1;
                }
                q
            };
            let mut q = skip(p + 1);
            loop {
                if q >= le {
                    return Err(());
                }
                if b[q] == close {
                    let ev = if is_map {
                        Event::MappingEnd
                    } else {
                        Event::SequenceEnd
                    };
                    self.emit_at(ev, q);
                    return Ok(q + 1);
                }
                if is_map {
                    // key: plain or quoted scalar, then `: `
                    if matches!(b[q], b'[' | b'{') {
                        return Err(());
                    }
                    q = self.flow_scalar(q, le)?;
                    q = skip(q);
                    if q + 1 >= le || b[q] != b':' || b[q + 1] != b' ' {
                        return Err(());
                    }
                    q = skip(q + 1);
                    if q >= le || matches!(b[q], b',' | b'}') {
                        return Err(());
                    }
                }
                q = if matches!(b[q], b'[' | b'{') {
                    self.flow(q, le, depth + 1)?
                } else {
                    self.flow_scalar(q, le)?
                };
                q = skip(q);
                if q < le && b[q] == b',' {
                    q = skip(q + 1);
                } else if q >= le || b[q] != close {
                    return Err(());
                }
            }
        }

        /// A plain or quoted scalar inside a one-line flow collection;
        /// returns the position after it.
        fn flow_scalar(&mut self, q: usize, le: usize) -> Result<usize, ()> {
            let b = self.text.as_bytes();
            let text = self.text;
            if matches!(b[q], b'"' | b'\'') {
                let close = self.quoted_end(q, le)?;
                let style = if b[q] == b'"' {
                    ScalarStyle::DoubleQuoted
                } else {
                    ScalarStyle::SingleQuoted
                };
                self.scalar_event(Cow::Borrowed(&text[q + 1..close]), style, q, close + 1);
                return Ok(close + 1);
            }
            if is_indicator(b[q])
                || b[q] == b'-'
                    && (q + 1 == le || matches!(b[q + 1], b' ' | b',' | b'[' | b']' | b'{' | b'}'))
            {
                return Err(());
            }
            let mut j = q;
            while j < le {
                match b[j] {
                    b',' | b'[' | b']' | b'{' | b'}' => break,
                    b':' if j + 1 == le
                        || matches!(b[j + 1], b' ' | b',' | b'[' | b']' | b'{' | b'}') =>
                    {
                        break
                    }
                    b'#' if b[j - 1] == b' ' => return Err(()),
                    _ => j += 1,
                }
            }
            let mut end = j;
            while end > q && b[end - 1] == b' ' {
                end -= 1;
            }
            self.scalar_event(Cow::Borrowed(&text[q..end]), ScalarStyle::Plain, q, end);
            Ok(j)
        }

        /// A collection entry of `kind` starts at column `col` (byte `pos`):
        /// close what ends here, open what starts here.
        fn open(&mut self, kind: Kind, col: usize, pos: usize) -> Result<(), ()> {
            loop {
                if let Some(p) = self.pending {
                    if col > p.col || (kind == Kind::Seq && p.is_key && col == p.col) {
                        self.pending = None;
                        return self.start(kind, col, pos);
                    }
                    self.pending = None;
                    self.empty_scalar(pos);
                }
                match self.stack.last().copied() {
                    Some((_, i)) if i > col => {
                        let (k, _) = self.stack.pop().ok_or(())?;
                        let ev = if k == Kind::Map {
                            Event::MappingEnd
                        } else {
                            Event::SequenceEnd
                        };
                        self.emit_at(ev, pos);
                    }
                    Some((Kind::Seq, i)) if i == col && kind == Kind::Map => {
                        // An indentless sequence ends at a key of its mapping.
                        self.stack.pop();
                        self.emit_at(Event::SequenceEnd, pos);
                        if self.stack.last() != Some(&(Kind::Map, col)) {
                            return Err(());
                        }
                    }
                    Some((k, i)) if i == col && k == kind => return Ok(()),
                    None if !self.has_root => return self.start(kind, col, pos),
                    _ => return Err(()),
                }
            }
        }

        fn start(&mut self, kind: Kind, col: usize, pos: usize) -> Result<(), ()> {
            self.has_root = true;
            self.stack.push((kind, col));
            let ev = if kind == Kind::Map {
                Event::MappingStart(0, None)
            } else {
                Event::SequenceStart(0, None)
            };
            self.emit_at(ev, pos);
            Ok(())
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
