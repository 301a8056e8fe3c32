//! The YAML engine (JSON included, as a subset of YAML): text in, one node
//! tree per document out, with byte-exact scalar spans. It knows nothing
//! of Kubernetes, compose or any other input kind; extractors walk the
//! trees it hands over.
//!
//! - [`tree`]: the node tree of one document and its lookups;
//! - [`fast`]: the line-based fast path for plain block-style files;
//! - [`split`]: cutting a text into its documents;
//! - [`indent_fix`]: the Go-YAML indentation workaround;
//! - [`typing`]: which scalars are strings, nulls, and what tags say;
//! - [`snapshot`]: an owned copy of every document, to compare two readings;
//! - [`value`]: a text as `serde_json` values, anchors expanded, for
//!   configuration files (the kubelet's provider config, `Chart.yaml`).

pub mod fast;
pub mod indent_fix;
pub mod snapshot;
pub mod split;
pub mod tree;
pub mod typing;
pub mod value;

use saphyr_parser::{Event, Marker, Parser, Span};

pub use tree::{Doc, InsertPoint, NodeId, QuoteStyle, Scalar, SiblingInsert};

/// A text that is not YAML, where the parser stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// The parser's error at `m` (line and column in the whole `text`). The
/// parser says "after double-quoted scalar" for junk after a quoted scalar
/// of either style: the quote before the junk names the right one.
fn syntax_error(text: &str, m: Marker, info: &str) -> SyntaxError {
    const DOUBLE: &str = "invalid trailing content after double-quoted scalar";
    let mut message = info.to_string();
    if info == DOUBLE {
        let before: String = text
            .lines()
            .nth(m.line().saturating_sub(1))
            .unwrap_or("")
            .chars()
            .take(m.col())
            .collect();
        if before.trim_end().ends_with('\'') {
            message = "invalid trailing content after single-quoted scalar".into();
        }
    }
    SyntaxError {
        line: m.line(),
        column: m.col() + 1,
        message,
    }
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
/// complete; see [`parse_documents`].
pub fn parse(text: &str, fast: bool, sink: &mut impl Documents) -> Result<(), SyntaxError> {
    parse_documents(text, fast, |_| false, sink)
}

/// [`parse`] one document at a time: the text is cut at its column-0
/// `---`/`...` lines ([`split`]); with `fast`, each document is read by the
/// fast path, and only a document it gives up on goes to the full parser.
/// A document for which `skip` (given its text, marker line included)
/// says so is not parsed at all, but keeps its index. Positions, line
/// numbers and document indexes are those of the whole text.
pub fn parse_documents(
    text: &str,
    fast: bool,
    mut skip: impl FnMut(&str) -> bool,
    sink: &mut impl Documents,
) -> Result<(), SyntaxError> {
    if !split::splittable(text) {
        return parse_whole(text, fast, sink);
    }
    let mut b = tree::Builder::new(text, true);
    let mut chars = CharCount::new(text);
    for piece in split::pieces(text) {
        let range = piece.start..piece.end;
        if skip(&text[range.clone()]) {
            b.skip_document();
            continue;
        }
        if fast {
            b.set_byte_marks(true);
            let mut delivered = false;
            let ok = fast::events_in(text, range.clone(), piece.line, |event, span| {
                if let Some((root, index)) = b.event(event, span) {
                    sink.document(&b.doc, root, index);
                    delivered = true;
                }
            })
            .is_ok();
            if ok {
                if let Some((root, index)) = b.finish() {
                    sink.document(&b.doc, root, index);
                }
                continue;
            }
            // A piece holds one document, delivered at its very end: the
            // fast path cannot give up after it.
            debug_assert!(!delivered);
            b.abandon();
        }
        b.set_byte_marks(false);
        let base = chars.at(piece.start);
        let shift = |m: Marker| Marker::new(m.index() + base, m.line() + piece.line - 1, m.col());
        let mut parser = Parser::new_from_str(&text[range]);
        while let Some(ev) = parser.next_event() {
            let (event, span) = ev.map_err(|e| syntax_error(text, shift(*e.marker()), e.info()))?;
            if matches!(event, Event::StreamEnd) {
                break;
            }
            let span = Span::new(shift(span.start), shift(span.end));
            if let Some((root, index)) = b.event(event, span) {
                sink.document(&b.doc, root, index);
            }
        }
        if let Some((root, index)) = b.finish() {
            sink.document(&b.doc, root, index);
        }
    }
    Ok(())
}

/// The whole text at once (a text [`split`] cannot cut): the fast path;
/// when it gives up, `sink` is restarted and the full parser reads the
/// text, reporting syntax errors.
pub fn parse_whole(text: &str, fast: bool, sink: &mut impl Documents) -> Result<(), SyntaxError> {
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
        let (event, span) = ev.map_err(|e| syntax_error(text, *e.marker(), e.info()))?;
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

/// Character index of a byte offset, counted forward from the last one
/// asked (offsets asked only grow).
struct CharCount<'t> {
    text: &'t str,
    ascii: bool,
    byte: usize,
    chars: usize,
}

impl<'t> CharCount<'t> {
    fn new(text: &'t str) -> Self {
        CharCount {
            text,
            ascii: text.is_ascii(),
            byte: 0,
            chars: 0,
        }
    }

    fn at(&mut self, byte: usize) -> usize {
        if self.ascii {
            return byte;
        }
        let between = &self.text.as_bytes()[self.byte..byte];
        // Every byte but UTF-8 continuation bytes starts a character.
        self.chars += between.iter().filter(|&&c| (c as i8) >= -0x40).count();
        self.byte = byte;
        self.chars
    }
}

/// Whether the fast path reads `text` itself (else it leaves it to the
/// full parser).
pub fn fast_path_reads(text: &str) -> bool {
    fast::events(text, |_, _| {}).is_ok()
}
