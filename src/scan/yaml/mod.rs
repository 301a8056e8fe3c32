//! The YAML engine (JSON included, as a subset of YAML): text in, one node
//! tree per document out, with byte-exact scalar spans. It knows nothing
//! of Kubernetes, compose or any other input kind; extractors walk the
//! trees it hands over.
//!
//! - [`tree`]: the node tree of one document and its lookups;
//! - [`fast`]: the line-based fast path for plain block-style files;
//! - [`indent_fix`]: the Go-YAML indentation workaround;
//! - [`typing`]: which scalars are strings, nulls, and what tags say.

pub mod fast;
pub mod indent_fix;
pub mod tree;
pub mod typing;

use saphyr_parser::{Event, Parser};

pub use tree::{Doc, InsertPoint, NodeId, QuoteStyle, Scalar, SiblingInsert};

/// A text that is not YAML, where the parser stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// What receives the documents of a text, one at a time.
pub trait Documents {
    /// One document's tree, its root and 0-based index in the text.
    fn document(&mut self, doc: &Doc<'_>, root: NodeId, index: usize);
    /// Forget every document received: the fast path gave up and the full
    /// parser starts over.
    fn restart(&mut self);
}

/// Parse every document of `text`, handing each to `sink` as soon as it is
/// complete. With `fast`, plain block-style files are read by the fast
/// path first; when it gives up, `sink` is restarted and the full parser
/// reads the text, reporting syntax errors.
pub fn parse(text: &str, fast: bool, sink: &mut impl Documents) -> Result<(), SyntaxError> {
    if fast {
        let mut b = tree::Builder::new(text, true);
        let ok = fast::events(text, |event, span| {
            if let Some((root, index)) = b.event(event, span) {
                sink.document(&b.doc, root, index);
            }
        })
        .is_ok();
        if ok {
            if let Some((root, index)) = b.finish() {
                sink.document(&b.doc, root, index);
            }
            return Ok(());
        }
        sink.restart();
    }
    let mut parser = Parser::new_from_str(text);
    let mut b = tree::Builder::new(text, false);
    while let Some(ev) = parser.next_event() {
        let (event, span) = ev.map_err(|e| SyntaxError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        if matches!(event, Event::StreamEnd) {
            break;
        }
        if let Some((root, index)) = b.event(event, span) {
            sink.document(&b.doc, root, index);
        }
    }
    if let Some((root, index)) = b.finish() {
        sink.document(&b.doc, root, index);
    }
    Ok(())
}

/// Whether the fast path reads `text` itself (else it leaves it to the
/// full parser).
pub fn fast_path_reads(text: &str) -> bool {
    fast::events(text, |_, _| {}).is_ok()
}
