//! An owned copy of every document a text holds, as a reader sees it:
//! structure, key order, scalar values with their type, tag and style,
//! aliases by the anchor they name, and where each scalar's content sits in
//! the text. Two readings (a text before and after an edit) are compared
//! with it. Read the way the scan reads (documents cut at `---`, the fast
//! path, the full parser where it gives up, the Go-YAML indentation
//! workaround when the text needs it); documents the caller skips are kept
//! as their text. Knows nothing of any input kind.

use std::collections::HashMap;
use std::ops::Range;

use super::indent_fix;
use super::tree::{Doc, NodeId, QuoteStyle};
use super::typing::{self, TagKind};
use super::{parse_documents, Documents, SyntaxError};

/// One node of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Scalar(Scalar),
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
    /// An alias, by the position of its anchored node among the document's
    /// anchored nodes (`None`: an unknown anchor).
    Alias(Option<usize>),
}

/// What a reader gets from a scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    pub value: String,
    pub kind: Typed,
    pub tag: TagKind,
    pub style: QuoteStyle,
    /// Byte range of the content in the text read (quotes excluded).
    pub content: Range<usize>,
    /// The content's bytes are exactly the value.
    pub exact: bool,
    /// Set by a caller that changed the value (never by [`read`]).
    pub changed: bool,
}

/// A scalar's type under the YAML core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    Str,
    Null,
    /// A number, boolean or other non-string core type.
    Other,
}

impl Typed {
    /// The type of a scalar written `value` in `style` with `tag`.
    pub fn of(value: &str, style: QuoteStyle, tag: TagKind) -> Typed {
        if typing::is_null(value, style, tag) {
            Typed::Null
        } else if typing::is_string(value, style, tag) {
            Typed::Str
        } else {
            Typed::Other
        }
    }
}

/// A document of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// Its tree (`None`: an empty document).
    Tree(Option<Node>),
    /// Not parsed (the caller's `skip` said so): its text.
    Skipped(String),
    /// Nested deeper than [`MAX_DEPTH`]: not copied.
    TooDeep,
}

/// Deepest nesting copied.
pub const MAX_DEPTH: usize = 512;

struct TooDeep;

/// Read every document of `text`; `skip` (given a document's text) names
/// documents to keep unparsed, as the scan skips them.
pub fn read(text: &str, skip: &dyn Fn(&str) -> bool) -> Result<Vec<Document>, SyntaxError> {
    let first = match read_once(text, skip, &|p| p) {
        Ok(d) => return Ok(d),
        Err(e) => e,
    };
    // The Go-YAML indentation workaround, learnt as the scan learns it.
    indent_fix::retry(text, first, |_, patched| {
        read_once(&patched.text, skip, &|p| patched.orig(p))
    })
}

fn read_once(
    text: &str,
    skip: &dyn Fn(&str) -> bool,
    orig: &dyn Fn(usize) -> usize,
) -> Result<Vec<Document>, SyntaxError> {
    let skipped = std::cell::RefCell::new(Vec::new());
    let mut sink = Sink {
        orig,
        docs: Vec::new(),
    };
    parse_documents(
        text,
        true,
        |piece| {
            let s = skip(piece);
            if s {
                skipped.borrow_mut().push(piece.to_string());
            }
            s
        },
        &mut sink,
    )?;
    // Skipped documents keep their place in the order of documents.
    let mut out: Vec<(usize, Document)> = sink.docs;
    let mut taken: Vec<usize> = out.iter().map(|(i, _)| *i).collect();
    taken.sort_unstable();
    let mut next = 0;
    for text in skipped.into_inner() {
        while taken.binary_search(&next).is_ok() {
            next += 1;
        }
        out.push((next, Document::Skipped(text)));
        next += 1;
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, d)| d).collect())
}

struct Sink<'o> {
    orig: &'o dyn Fn(usize) -> usize,
    docs: Vec<(usize, Document)>,
}

impl Documents for Sink<'_> {
    fn document(&mut self, doc: &Doc<'_>, root: NodeId, index: usize) {
        let mut b = Copy {
            doc,
            orig: self.orig,
            anchors: HashMap::new(),
        };
        let tree = if doc.is_empty() {
            Document::Tree(None)
        } else {
            match b.node(root) {
                Ok(tree) => Document::Tree(tree),
                Err(TooDeep) => Document::TooDeep,
            }
        };
        self.docs.push((index, tree));
    }

    fn restart(&mut self) {
        self.docs.clear();
    }
}

/// Copies a [`Doc`] into [`Node`]s without recursion.
struct Copy<'d, 't, 'o> {
    doc: &'d Doc<'t>,
    orig: &'o dyn Fn(usize) -> usize,
    /// Anchored node → its position among anchored nodes.
    anchors: HashMap<NodeId, usize>,
}

impl Copy<'_, '_, '_> {
    fn node(&mut self, root: NodeId) -> Result<Option<Node>, TooDeep> {
        let doc = self.doc;
        // Anchored nodes, numbered in document order (node ids are).
        let mut targets: Vec<NodeId> = (0..doc.len() as NodeId)
            .filter_map(|id| doc.alias_target(id).flatten())
            .collect();
        targets.sort_unstable();
        targets.dedup();
        self.anchors = targets.iter().enumerate().map(|(i, &t)| (t, i)).collect();

        // An explicit stack of frames: (node, children built so far).
        enum Frame {
            Map(NodeId, Vec<Node>, usize),
            Seq(NodeId, Vec<Node>, usize),
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut done: Option<Node> = None;
        let mut next = Some(root);
        loop {
            if let Some(id) = next.take() {
                if let Some(t) = doc.alias_target(id) {
                    done = Some(Node::Alias(t.and_then(|t| self.anchors.get(&t).copied())));
                } else if doc.is_map(id) || doc.is_seq(id) {
                    if stack.len() >= MAX_DEPTH {
                        return Err(TooDeep);
                    }
                    stack.push(if doc.is_map(id) {
                        Frame::Map(id, Vec::new(), 0)
                    } else {
                        Frame::Seq(id, Vec::new(), 0)
                    });
                } else if let Some(s) = doc.scalar_value(id) {
                    done = Some(Node::Scalar(Scalar {
                        value: s.value.to_string(),
                        kind: Typed::of(s.value, s.style, s.tag),
                        tag: s.tag,
                        style: s.style,
                        content: (self.orig)(s.content.start)..(self.orig)(s.content.end),
                        exact: s.exact,
                        changed: false,
                    }));
                } else {
                    return Ok(None);
                }
            }
            // Hand a finished node to its parent, or descend to the next child.
            let Some(top) = stack.last_mut() else {
                return Ok(done);
            };
            let (id, kids, i, is_map) = match top {
                Frame::Map(id, kids, i) => (*id, kids, i, true),
                Frame::Seq(id, kids, i) => (*id, kids, i, false),
            };
            if let Some(n) = done.take() {
                kids.push(n);
                *i += 1;
            }
            let children = if is_map {
                doc.map_entries(id)
            } else {
                doc.seq_items(id)
            };
            if *i < children.len() {
                next = Some(children[*i]);
                continue;
            }
            let kids = std::mem::take(kids);
            stack.pop();
            done = Some(if is_map {
                let mut entries = Vec::with_capacity(kids.len() / 2);
                let mut it = kids.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Node::Map(entries)
            } else {
                Node::Seq(kids)
            });
        }
    }
}
