//! A line-based reader for the plain block-style subset of YAML that most
//! manifests use (block mappings and sequences, one-line plain and quoted
//! scalars without escapes, one-line flow collections, comments, `---`).
//! Markers it emits hold byte offsets and byte columns. It
//! produces the same events as `saphyr-parser` (scalars borrowed, not
//! copied) and gives up (`Err(())`) on anything else: flow collections,
//! anchors, aliases, tags, block scalars, multi-line scalars, escapes,
//! tabs, directives, odd indentation. Giving up is always safe: the caller
//! starts over with the full parser, which also reports syntax errors.

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

pub(crate) fn events<'t, F: FnMut(Event<'t>, Span)>(text: &'t str, emit: F) -> Result<(), ()> {
    events_in(text, 0..text.len(), 1, emit)
}

/// [`events`] for the lines of `text[range]` alone (`range` starts at a
/// line start, on 1-based line `line`, and ends at a line start or the end
/// of the text): markers are positions in the whole `text`.
pub(crate) fn events_in<'t, F: FnMut(Event<'t>, Span)>(
    text: &'t str,
    range: std::ops::Range<usize>,
    line: usize,
    emit: F,
) -> Result<(), ()> {
    let piece = &text[range.clone()];
    if !piece.is_ascii()
        && piece.chars().any(|c| {
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
        line: line - 1,
        line_start: range.start,
    };
    let b = text.as_bytes();
    let mut pos = range.start;
    while pos < range.end {
        let nl = memchr::memchr(b'\n', &b[pos..range.end]).map_or(range.end, |i| pos + i);
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
    f.line_start = range.end;
    f.end_doc(range.end);
    Ok(())
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
        let close = memchr::memchr(q, &b[c + 1..le])
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
