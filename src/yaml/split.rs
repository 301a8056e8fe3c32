//! Splitting a text into its documents at column-0 `---` and `...` lines,
//! with byte searches, so each document can be read (or skipped) on its
//! own.
//!
//! YAML forbids a `---` or `...` line at column 0 inside any scalar (block
//! scalars included), so such a line always ends a document: a piece cut
//! before a `---` line and after a `...` line holds at most one document,
//! and parses on its own exactly as it does in the whole text.

use memchr::memmem;

/// One piece of a text holding at most one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Byte range in the text; starts at a line start.
    pub start: usize,
    pub end: usize,
    /// 1-based line number of `start`.
    pub line: usize,
}

/// Whether the pieces of `text` can be read one by one: no directive
/// (`%YAML` belongs to the document after it) and no line break but `\n`
/// and `\r\n` (line numbers are counted by `\n`).
pub fn splittable(text: &str) -> bool {
    let b = text.as_bytes();
    if b.first() == Some(&b'%') || memmem::find(b, b"\n%").is_some() {
        return false;
    }
    memchr::memchr_iter(b'\r', b).all(|i| b.get(i + 1) == Some(&b'\n'))
}

/// The pieces of `text`, in order, covering it whole.
pub fn pieces(text: &str) -> Pieces<'_> {
    Pieces {
        text: text.as_bytes(),
        pos: 0,
        line: 1,
        dashes: memmem::Finder::new(b"\n---"),
        dots: memmem::Finder::new(b"\n..."),
        next_dashes: None,
        next_dots: None,
    }
}

pub struct Pieces<'t> {
    text: &'t [u8],
    pos: usize,
    line: usize,
    dashes: memmem::Finder<'static>,
    dots: memmem::Finder<'static>,
    /// The next `\n---` / `\n...` at or after `pos` (a cache: `Some(None)`
    /// means none is left).
    next_dashes: Option<Option<usize>>,
    next_dots: Option<Option<usize>>,
}

impl Pieces<'_> {
    /// Line start of the next marker line of `dots` (`...`) or not (`---`)
    /// starting after byte `from`.
    fn next_marker(&mut self, from: usize, dots: bool) -> Option<usize> {
        let text = self.text;
        let (finder, cache) = if dots {
            (&self.dots, &mut self.next_dots)
        } else {
            (&self.dashes, &mut self.next_dashes)
        };
        if let Some(Some(at)) = *cache {
            if at + 1 > from {
                return Some(at + 1);
            }
        } else if let Some(None) = *cache {
            return None;
        }
        let mut search = from.saturating_sub(1);
        loop {
            let found = finder.find(&text[search..]).map(|i| search + i);
            match found {
                None => {
                    *cache = Some(None);
                    return None;
                }
                Some(nl) if is_marker_at(text, nl + 1) => {
                    *cache = Some(Some(nl));
                    return Some(nl + 1);
                }
                Some(nl) => search = nl + 1,
            }
        }
    }
}

impl Iterator for Pieces<'_> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        let text = self.text;
        let start = self.pos;
        if start >= text.len() {
            return None;
        }
        // The piece ends before the next `---` line after its first line,
        // or after the first `...` line in it, whichever comes first.
        let dashes = self.next_marker(start + 1, false);
        let dots = if is_marker_at(text, start) && text[start] == b'.' {
            Some(start)
        } else {
            self.next_marker(start + 1, true)
        };
        let end = match (dashes, dots) {
            (Some(d), Some(e)) if e < d => line_end(text, e),
            (_, Some(e)) if dashes.is_none() => line_end(text, e),
            (Some(d), _) => d,
            (None, _) => text.len(),
        };
        let end = end.max(start + 1).min(text.len());
        let piece = Piece {
            start,
            end,
            line: self.line,
        };
        self.line += memchr::memchr_iter(b'\n', &text[start..end]).count();
        self.pos = end;
        Some(piece)
    }
}

/// Just past the line break of the line holding byte `p`.
fn line_end(text: &[u8], p: usize) -> usize {
    memchr::memchr(b'\n', &text[p..]).map_or(text.len(), |i| p + i + 1)
}

/// `---` or `...` at byte `p` (a line start), alone on its line or
/// followed by a space or tab.
fn is_marker_at(text: &[u8], p: usize) -> bool {
    let Some(m) = text.get(p..p + 3) else {
        return false;
    };
    (m == b"---" || m == b"...")
        && matches!(text.get(p + 3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str) -> Vec<(&str, usize)> {
        pieces(text)
            .map(|p| (&text[p.start..p.end], p.line))
            .collect()
    }

    #[test]
    fn cuts_before_dashes_and_after_dots() {
        assert_eq!(
            cut("a: 1\n---\nb: 2\n...\n# c\n--- x\n---\n"),
            [
                ("a: 1\n", 1),
                ("---\nb: 2\n...\n", 2),
                ("# c\n", 5),
                ("--- x\n", 6),
                ("---\n", 7)
            ]
        );
        assert_eq!(
            cut("...\na\n---x\n ---\n--- |\n  b\n"),
            [("...\n", 1), ("a\n---x\n ---\n", 2), ("--- |\n  b\n", 5)]
        );
        assert_eq!(cut("---"), [("---", 1)]);
        assert_eq!(cut(""), []);
        assert_eq!(
            cut("a\r\n---\r\nb\r\n...\r\n"),
            [("a\r\n", 1), ("---\r\nb\r\n...\r\n", 2)]
        );
    }

    #[test]
    fn directives_and_lone_carriage_returns_are_not_split() {
        assert!(splittable("a\r\n---\nb\n"));
        assert!(!splittable("%YAML 1.2\n---\na\n"));
        assert!(!splittable("a\n---\n%TAG ! x\n---\n"));
        assert!(!splittable("a\r---\rb"));
    }
}
