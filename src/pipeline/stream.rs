//! Standard input cut into windows of whole YAML documents, so `pin -`
//! holds one window at a time: memory follows the largest document (or
//! [`WINDOW`], whichever is larger), not the stream.
//!
//! A window ends before a column-0 `---` line: YAML forbids such a line
//! inside any scalar, so it always starts a document, and the documents
//! before it read the same on their own (see [`crate::yaml::split`]).
//! Directive lines (`%YAML`) belong to the document after them: a cut is
//! made before them, after the `...` line YAML requires there (a `%` line
//! without one is a block scalar's content, and is not cut from the
//! `---` after it). What cannot be cut is read whole: a stream with a
//! UTF-16 or UTF-32 byte order mark or NUL bytes, and a KRM
//! `ResourceList` (one document, whose function config decides how the
//! rest is read): the stream's first document holding something is read
//! to its end to tell, as a list's `kind` may follow its items.

use std::io::Read;
use std::path::Path;

use crate::scan::{Encoding, ScanError};

/// The bytes a window holds at least before it is cut (the last one, and
/// one whose document is larger, hold more).
pub const WINDOW: usize = 1 << 20;

/// How standard input is read.
pub enum Input<R> {
    /// Whole: its bytes, decoded.
    Whole { text: String, encoding: Encoding },
    /// Window by window (UTF-8 without a byte order mark).
    Windows(Windows<R>),
}

/// One window: whole documents of the stream, and how many lines come
/// before them.
pub struct Window {
    pub text: String,
    pub lines_before: usize,
}

/// Standard input as [`Window`]s; see the module documentation.
pub struct Windows<R> {
    reader: R,
    buf: Vec<u8>,
    eof: bool,
    lines_before: usize,
    path: &'static str,
    /// The stream started with a UTF-8 byte order mark, which no window
    /// holds: the pinned stream is written with it first.
    pub bom: bool,
}

/// The UTF-8 byte order mark.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: Read> Input<R> {
    /// Start reading `reader` (named `path` in errors): read whole when
    /// its first bytes say it cannot be cut, or when it is a KRM
    /// `ResourceList`.
    pub fn open(reader: R, path: &'static str) -> Result<Input<R>, ScanError> {
        let mut w = Windows::over(reader, path);
        w.fill(WINDOW)?;
        // A UTF-8 byte order mark (a file saved on Windows) is no reason
        // to read the stream whole: the windows go without it.
        let bom = w.buf.starts_with(UTF8_BOM);
        if bom {
            w.buf.drain(..UTF8_BOM.len());
        }
        // A ResourceList is the stream's one document, its `kind` anywhere
        // in it (after its items when its keys are sorted, as Go writes a
        // map): the first document holding something is read to its end.
        let first = loop {
            match first_document_end(&w.buf) {
                Some(end) => break end,
                None if w.eof => break w.buf.len(),
                None => w.fill(w.buf.len().saturating_mul(2))?,
            }
        };
        let b = &w.buf;
        let whole = Encoding::detect(b) != Encoding::Utf8
            || memchr::memchr(0, b).is_some()
            || resource_list(&b[..first]);
        if whole {
            w.fill(usize::MAX)?;
            if bom {
                w.buf.splice(0..0, UTF8_BOM.iter().copied());
            }
            let (text, encoding) = Encoding::decode(Path::new(path), &w.buf)?;
            return Ok(Input::Whole { text, encoding });
        }
        w.bom = bom;
        Ok(Input::Windows(w))
    }
}

/// The line breaks of `bytes` as YAML counts them (and the scan numbers
/// lines): `\n`, `\r\n`, and a lone `\r` (a stray one in an embedded
/// Windows file, `\r\r\n`, or a classic Mac text).
fn line_breaks(bytes: &[u8]) -> usize {
    let lone_cr = memchr::memchr_iter(b'\r', bytes)
        .filter(|&i| bytes.get(i + 1) != Some(&b'\n'))
        .count();
    memchr::memchr_iter(b'\n', bytes).count() + lone_cr
}

impl<R: Read> Windows<R> {
    /// Windows of `reader`, known to be cut-able (the spooled stream
    /// [`Input::open`] cut before).
    pub fn over(reader: R, path: &'static str) -> Windows<R> {
        Windows {
            reader,
            buf: Vec::new(),
            eof: false,
            lines_before: 0,
            path,
            bom: false,
        }
    }

    /// Read until the buffer holds `want` bytes or the input ends.
    fn fill(&mut self, want: usize) -> Result<(), ScanError> {
        let mut chunk = [0u8; 64 * 1024];
        while !self.eof && self.buf.len() < want {
            match self.reader.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ScanError::Io {
                        path: self.path.into(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// The next window, or `None` at the end of the input. A window whose
    /// text holds a directive takes the rest of the input with it.
    pub fn next_window(&mut self) -> Result<Option<Window>, ScanError> {
        let mut want = WINDOW;
        let cut = loop {
            self.fill(want)?;
            if self.buf.is_empty() {
                return Ok(None);
            }
            match last_cut(&self.buf, self.eof) {
                Some(cut) => break cut,
                None if self.eof => break self.buf.len(),
                None => want = self.buf.len().saturating_mul(2),
            }
        };
        let rest = self.buf.split_off(cut);
        let bytes = std::mem::replace(&mut self.buf, rest);
        let lines_before = self.lines_before;
        // A window ends after a `\n`: a `\r` before it is no lone one.
        self.lines_before += line_breaks(&bytes);
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let good = &e.as_bytes()[..at];
            // `good` is valid UTF-8 by construction.
            let good = std::str::from_utf8(good).unwrap_or_default();
            let (line, column) = crate::scan::encoding::position(good);
            ScanError::NotUtf8 {
                path: self.path.into(),
                line: lines_before + line,
                column,
            }
        })?;
        Ok(Some(Window { text, lines_before }))
    }
}

/// Whether `first`, the stream's first document holding something, is a
/// KRM `ResourceList` (the stream is then a function call, read whole). A
/// document that only mentions one (a ConfigMap's data, a CRD's
/// description) leaves the stream cut into windows.
fn resource_list(first: &[u8]) -> bool {
    memchr::memmem::find(first, b"ResourceList").is_some()
        && std::str::from_utf8(first).is_ok_and(|text| super::krm::read(text).is_some())
}

/// Whether `line` (without its line break) is a document marker (`---`,
/// `...`) with nothing after it but a comment.
fn bare_marker(line: &[u8]) -> bool {
    let rest = match line {
        [b'-', b'-', b'-', rest @ ..] | [b'.', b'.', b'.', rest @ ..] => rest,
        _ => return false,
    };
    let rest = rest.trim_ascii_start();
    rest.is_empty() || (rest.len() < line.len() - 3 && rest.first() == Some(&b'#'))
}

/// Where the first document of `buf` that holds something (past blank
/// lines, comments and bare markers) ends: the start of the `---` line
/// after it, or `None` when `buf` does not reach one yet.
fn first_document_end(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    let content = loop {
        let end = memchr::memchr(b'\n', &buf[at..]).map(|i| at + i);
        let line = &buf[at..end.unwrap_or(buf.len())];
        let trimmed = line.trim_ascii();
        if !(trimmed.is_empty() || trimmed.first() == Some(&b'#') || bare_marker(line)) {
            break at;
        }
        at = end? + 1;
    };
    let mut from = content;
    while let Some(i) = memchr::memmem::find(&buf[from..], b"\n---") {
        let start = from + i + 1;
        if matches!(buf.get(start + 3), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            return Some(start);
        }
        from = start;
    }
    None
}

/// The start of the last `---` line of `buf` after its first byte: a
/// document starts there. A `---` at the very end of `buf` counts only at
/// the end of the input (more bytes could make it `----`).
fn last_cut(buf: &[u8], eof: bool) -> Option<usize> {
    let mut end = buf.len();
    while let Some(i) = memchr::memmem::rfind(&buf[..end], b"\n---") {
        let start = i + 1;
        let marker = match buf.get(start + 3) {
            Some(b' ' | b'\t' | b'\r' | b'\n') => true,
            None => eof,
            _ => false,
        };
        if marker {
            match directives_before(buf, start) {
                Some(cut) if cut > 0 => return Some(cut),
                Some(_) => {}
                None => return Some(start),
            }
        }
        end = i;
    }
    None
}

/// Where the document starting with the `---` line at `start` really
/// starts when directive lines (`%YAML`, `%TAG`) come before it: `None`
/// when none do (it starts at `start`), else the start of the line after
/// the `...` that ends the document before them (YAML requires one there),
/// or `Some(0)` when no `...` line does: then the `%` lines are another
/// document's content (a block scalar at column 0) and the cut cannot be
/// made here.
fn directives_before(buf: &[u8], start: usize) -> Option<usize> {
    let line_start = |end: usize| {
        buf[..end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
    };
    let mut at = start;
    let mut directive = false;
    while at > 0 {
        let from = line_start(at - 1);
        let line = &buf[from..at - 1];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"%") {
            directive = true;
        } else if line.starts_with(b"...") && matches!(line.get(3), None | Some(b' ' | b'\t')) {
            return directive.then_some(at);
        } else if !(line.is_empty() || line.starts_with(b"#")) {
            break;
        }
        at = from;
    }
    directive.then_some(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every window of `text` read through a reader that hands over `step`
    /// bytes at a time.
    fn windows(text: &[u8], step: usize) -> Vec<(String, usize)> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(self.0.len()).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let Ok(Input::Windows(mut w)) = Input::open(Trickle(text, step), "<stdin>") else {
            panic!("read whole");
        };
        let mut out = Vec::new();
        while let Some(win) = w.next_window().unwrap() {
            out.push((win.text, win.lines_before));
        }
        out
    }

    #[test]
    fn windows_cover_the_stream_and_end_before_document_markers() {
        let doc = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: nginx:1.25\n";
        let mut text = String::new();
        for i in 0..40_000 {
            text.push_str(if i % 3 == 0 { "--- # c\n" } else { "---\n" });
            text.push_str(doc);
        }
        for step in [7, 4096, 1 << 20] {
            let got = windows(text.as_bytes(), step);
            assert!(got.len() > 1, "cut into windows");
            assert_eq!(got.iter().map(|w| w.0.as_str()).collect::<String>(), text);
            let mut lines = 0;
            for (w, before) in &got {
                assert!(w.starts_with("---"), "a window starts a document");
                assert_eq!(*before, lines);
                lines += w.matches('\n').count();
            }
        }
    }

    #[test]
    fn a_dashes_line_that_is_no_marker_is_not_cut_at() {
        // `----` and `---x` are plain scalars' lines, not markers.
        let mut text = String::from("a: |\n  x\n");
        text.push_str(&"b: c\n".repeat(WINDOW / 4));
        text.push_str("k:\n----\n---x: 1\n");
        let got = windows(text.as_bytes(), 1 << 16);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, text);
    }

    #[test]
    fn a_directive_stays_with_its_document_and_the_rest_is_still_cut() {
        // After a `...` line: the cut is made before the directive.
        let mut text = "---\na: 1\n".repeat(WINDOW / 8);
        text.push_str("...\n%YAML 1.2\n# c\n---\nb: 2\n");
        text.push_str(&"---\nc: 3\n".repeat(WINDOW / 8));
        let got = windows(text.as_bytes(), 1 << 16);
        assert!(got.len() > 2, "still cut after the directive");
        assert_eq!(got.iter().map(|w| w.0.as_str()).collect::<String>(), text);
        let with = got.iter().find(|w| w.0.contains("%YAML")).unwrap();
        assert!(with.0.contains("%YAML 1.2\n# c\n---\nb: 2\n"));
        // And a cut right before the directive's document is made before
        // the directive.
        let cut = last_cut(b"a: 1\n...\n%YAML 1.2\n---\nb: 2\n", true);
        assert_eq!(cut, Some(9));
        // Without one, a `%` line is content (a block scalar at column 0):
        // no cut between it and the `---` after it.
        let mut text = "---\na: 1\n".repeat(WINDOW / 8);
        text.push_str("--- |\n%not a directive\n---\nb: 2\n");
        let got = windows(text.as_bytes(), 1 << 16);
        assert_eq!(got.iter().map(|w| w.0.as_str()).collect::<String>(), text);
        let with = got.iter().find(|w| w.0.contains("%not")).unwrap();
        assert!(with.0.contains("--- |\n%not a directive\n---\nb: 2\n"));
    }

    #[test]
    fn what_cannot_be_cut_is_read_whole() {
        for text in [
            &b"\xFF\xFEa\0:\0"[..],
            b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n",
        ] {
            assert!(matches!(
                Input::open(text, "<stdin>"),
                Ok(Input::Whole { .. })
            ));
        }
    }

    #[test]
    fn a_resource_list_naming_its_kind_after_a_long_first_window_is_read_whole() {
        let items = "- a: 1\n".repeat(WINDOW / 4);
        for lead in ["", "# c\n---\n", "--- # c\n\n...\n---\n"] {
            let text = format!(
                "{lead}apiVersion: config.kubernetes.io/v1\nitems:\n{items}kind: ResourceList\n"
            );
            assert!(matches!(
                Input::open(text.as_bytes(), "<stdin>"),
                Ok(Input::Whole { .. })
            ));
        }
        // Not the first document holding something, or a document that
        // only mentions one: cut as any stream.
        for text in [
            format!("a: 1\n---\nitems:\n{items}kind: ResourceList\n"),
            format!("kind: ConfigMap\ndata:\n  a: a ResourceList\n---\n{items}"),
        ] {
            assert!(matches!(
                Input::open(text.as_bytes(), "<stdin>"),
                Ok(Input::Windows(_))
            ));
        }
        assert_eq!(
            first_document_end(b"---\n# c\n--- # d\na: 1\n---\nb: 2\n"),
            Some(21)
        );
        assert_eq!(first_document_end(b"--- {a: 1}\n---\n"), Some(11));
        assert_eq!(first_document_end(b"---\n---\n"), None);
    }

    #[test]
    fn a_utf8_byte_order_mark_is_no_window_s() {
        let Ok(Input::Windows(mut w)) = Input::open(&b"\xEF\xBB\xBF---\na: 1\n"[..], "<stdin>")
        else {
            panic!("read whole");
        };
        assert!(w.bom);
        assert_eq!(w.next_window().unwrap().unwrap().text, "---\na: 1\n");
        // Two marks: the second is in the text, read whole as before.
        assert!(matches!(
            Input::open(&b"\xEF\xBB\xBF\xEF\xBB\xBFa: 1\n"[..], "<stdin>"),
            Ok(Input::Whole { .. })
        ));
    }

    #[test]
    fn invalid_utf8_is_reported_at_its_stream_line() {
        let mut text = "---\na: 1\n".repeat(WINDOW / 8).into_bytes();
        text.extend_from_slice(b"---\nb: \xFF\n");
        let Ok(Input::Windows(mut w)) = Input::open(&text[..], "<stdin>") else {
            panic!("read whole");
        };
        let lines = WINDOW / 8 * 2;
        loop {
            match w.next_window() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error"),
                Err(ScanError::NotUtf8 { line, column, .. }) => {
                    assert_eq!((line, column), (lines + 2, 4));
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}
