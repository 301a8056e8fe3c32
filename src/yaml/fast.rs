//! A line-based reader for the plain block-style subset of YAML that most
//! manifests use (block mappings and sequences, plain scalars, one-line
//! quoted scalars without escapes, literal and folded block scalars,
//! one-line flow collections, comments, `---`).
//! Markers it emits hold byte offsets and byte columns. It
//! produces the same events as `saphyr-parser` (scalars borrowed, not
//! copied) and gives up (`Err(())`) on anything else: flow collections,
//! anchors, aliases, tags, block scalars with explicit indentation or
//! leading blank lines, more-indented folded lines, multi-line quoted
//! scalars, escapes, tabs, directives, odd indentation. Giving up is always safe: the caller
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
    /// End of the lines read (a line start, or the end of the text).
    end: usize,
    /// Where to go on after a scalar that took more lines than its first.
    resume: Option<usize>,
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
    if has_bom_or_c1(&text.as_bytes()[range.clone()]) {
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
        end: range.end,
        resume: None,
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
        pos = f.resume.take().unwrap_or(nl + 1);
    }
    f.line += 1;
    f.line_start = range.end;
    f.end_doc(range.end);
    Ok(())
}

/// Whether UTF-8 `b` holds a C1 control (U+0080 to U+009F: `C2 80` to
/// `C2 9F`), a byte order mark (U+FEFF: `EF BB BF`) or a noncharacter
/// U+FFFE / U+FFFF (`EF BF BE`, `EF BF BF`), found by byte search: `C2`
/// and `EF` only ever lead a character in UTF-8.
fn has_bom_or_c1(b: &[u8]) -> bool {
    memchr::memchr2_iter(0xC2, 0xEF, b).any(|i| match b[i] {
        0xC2 => matches!(b.get(i + 1), Some(0x80..=0x9F)),
        _ => matches!(
            (b.get(i + 1), b.get(i + 2)),
            (Some(0xBB), Some(0xBF)) | (Some(0xBF), Some(0xBE | 0xBF))
        ),
    })
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
                return self.value(c, le, None);
            }
            if matches!(b[c], b'|' | b'>') {
                // A block scalar as a `-` item.
                let parent = match self.pending {
                    Some(p) if !p.is_key && p.col < col => p.col,
                    _ => return Err(()),
                };
                self.pending = None;
                return self.value(c, le, Some(parent));
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
                    return self.value(v, le, Some(col));
                }
                None => {
                    // A scalar: only as the item of a `-` on this line.
                    let parent = match self.pending {
                        Some(p) if !p.is_key && p.col < col => p.col,
                        _ => return Err(()),
                    };
                    self.pending = None;
                    return self.value(c, le, Some(parent));
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

    /// A value scalar at `v` running to the end of the line, or (a block
    /// scalar, a multi-line plain scalar) on over the lines after it
    /// indented more than `parent` (the column of its key or `-`; `None`:
    /// no scalar may go on past its line).
    fn value(&mut self, v: usize, le: usize, parent: Option<usize>) -> Result<(), ()> {
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
        if let (b'|' | b'>', Some(parent)) = (b[v], parent) {
            return self.block_scalar(v, le, parent);
        }
        if is_indicator(b[v]) || (b[v] == b'-' && (v + 1 == le || b[v + 1] == b' ')) {
            return Err(());
        }
        let mut commented = false;
        let mut end = le;
        let mut j = v;
        while j < le {
            match b[j] {
                b'#' if b[j - 1] == b' ' => {
                    end = j;
                    commented = true;
                    break;
                }
                b':' if j + 1 == le || b[j + 1] == b' ' => return Err(()),
                _ => j += 1,
            }
        }
        while end > v && b[end - 1] == b' ' {
            end -= 1;
        }
        if let (false, Some(parent)) = (commented, parent) {
            if let Some((value, last_end, resume, line)) =
                self.plain_lines(&text[v..end], le, parent)?
            {
                let start = self.mark(v);
                let e = Marker::new(last_end, line, last_end - self.line_start_of(last_end));
                (self.emit)(
                    Event::Scalar(Cow::Owned(value), ScalarStyle::Plain, 0, None),
                    Span::new(start, e),
                );
                self.resume = Some(resume);
                self.line = line;
                return Ok(());
            }
        }
        self.scalar_event(Cow::Borrowed(&text[v..end]), ScalarStyle::Plain, v, end);
        Ok(())
    }

    /// The line after the one ending at `le` (its `\n` or the end): its
    /// start, the end of its content (before `\r\n`) and the next line's
    /// start; `None` at the end of the lines read.
    fn next_line(&self, le: usize) -> Option<(usize, usize, usize)> {
        let b = self.text.as_bytes();
        let start = memchr::memchr(b'\n', &b[le..self.end]).map(|i| le + i + 1)?;
        if start >= self.end {
            return None;
        }
        let nl = memchr::memchr(b'\n', &b[start..self.end]).map_or(self.end, |i| start + i);
        let content_end = if nl > start && b[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        Some((start, content_end, nl))
    }

    /// Start of the line holding byte `p`.
    fn line_start_of(&self, p: usize) -> usize {
        self.text.as_bytes()[..p]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1)
    }

    /// The lines continuing a plain scalar whose first line reads `first`
    /// (ending its line at `le`): `None` when the next line with content
    /// does not continue it; else its value (folded: a line break between
    /// lines is a space, blank lines are line breaks), the end of its last
    /// line's content, where to go on, and the last line's number. Gives up
    /// on a line that might be anything but plain text.
    #[allow(clippy::type_complexity)]
    fn plain_lines(
        &self,
        first: &str,
        le: usize,
        parent: usize,
    ) -> Result<Option<(String, usize, usize, usize)>, ()> {
        let b = self.text.as_bytes();
        // Most often the next line is a sibling or parent entry: its
        // indentation says so without finding its end.
        let next = match b.get(le) {
            Some(b'\n') => le + 1,
            Some(b'\r') if b.get(le + 1) == Some(&b'\n') => le + 2,
            _ => return Ok(None),
        };
        let indented = b[next..self.end.max(next)]
            .iter()
            .take(parent + 1)
            .take_while(|&&c| c == b' ')
            .count();
        if indented <= parent && !matches!(b.get(next + indented), Some(b'\n' | b'\r')) {
            return Ok(None);
        }
        let mut value: Option<String> = None;
        let mut blanks = 0;
        let mut line = self.line;
        let mut at = le;
        let mut last = None;
        while let Some((start, ce, nl)) = self.next_line(at) {
            line += 1;
            at = nl;
            let content = &b[start..ce];
            let sp = content.iter().take_while(|&&c| c == b' ').count();
            if sp == content.len() {
                blanks += 1;
                continue;
            }
            if sp <= parent || content[sp] == b'#' {
                break;
            }
            let rest = &content[sp..];
            if rest.iter().any(|&c| c < 0x20)
                || is_indicator(rest[0])
                || rest[0] == b'-'
                || rest.ends_with(b":")
                || rest.windows(2).any(|w| w == b": " || w == b" #")
            {
                return Err(());
            }
            let mut e = rest.len();
            while rest[e - 1] == b' ' {
                e -= 1;
            }
            let v = value.get_or_insert_with(|| first.to_string());
            if blanks == 0 {
                v.push(' ');
            }
            for _ in 0..blanks {
                v.push('\n');
            }
            blanks = 0;
            v.push_str(&self.text[start + sp..start + sp + e]);
            last = Some((start + sp + e, nl + 1, line));
        }
        Ok(match (value, last) {
            (Some(v), Some((end, resume, line))) => Some((v, end, resume.min(self.end), line)),
            _ => None,
        })
    }

    /// A literal (`|`) or folded (`>`) block scalar whose header is at `v`
    /// (ending its line at `le`), in a collection entry at column
    /// `parent`: its content lines are read here, its value built, and
    /// the lines go on after it. Gives up on explicit indentation,
    /// leading blank lines, blank lines longer than the indentation,
    /// more-indented folded lines and control characters.
    fn block_scalar(&mut self, v: usize, le: usize, parent: usize) -> Result<(), ()> {
        let b = self.text.as_bytes();
        let literal = b[v] == b'|';
        let mut h = v + 1;
        let chomp = match b.get(h) {
            Some(&c @ (b'-' | b'+')) if h < le => {
                h += 1;
                c
            }
            _ => b' ',
        };
        if h < le {
            if b[h] != b' ' {
                return Err(());
            }
            while h < le && b[h] == b' ' {
                h += 1;
            }
            if h < le && b[h] != b'#' {
                return Err(());
            }
        }
        let mut indent = 0;
        let mut value = String::new();
        let mut blanks = 0;
        let mut first: Option<(usize, usize)> = None; // content start, its line
        let mut line = self.line;
        let mut at = le;
        let mut end = self.end;
        let mut end_line = None;
        while let Some((start, ce, nl)) = self.next_line(at) {
            let content = &b[start..ce];
            let sp = content.iter().take_while(|&&c| c == b' ').count();
            if sp == content.len() {
                if first.is_none() || sp > indent {
                    return Err(());
                }
                blanks += 1;
                line += 1;
                at = nl;
                continue;
            }
            if first.is_none() {
                if sp <= parent {
                    return Err(()); // an empty block scalar
                }
                indent = sp;
            }
            if sp < indent {
                end = start;
                end_line = Some(line + 1);
                break;
            }
            let rest = &content[indent..];
            if rest.iter().any(|&c| c < 0x20 && c != b'\t')
                || (!literal && (sp > indent || rest[0] == b'\t'))
            {
                return Err(());
            }
            line += 1;
            at = nl;
            match first {
                None => first = Some((start + indent, line)),
                Some(_) if literal => {
                    value.push('\n');
                    for _ in 0..blanks {
                        value.push('\n');
                    }
                }
                Some(_) => {
                    if blanks == 0 {
                        value.push(' ');
                    }
                    for _ in 0..blanks {
                        value.push('\n');
                    }
                }
            }
            blanks = 0;
            value.push_str(&self.text[start + indent..ce]);
        }
        let Some((content_start, content_line)) = first else {
            return Err(());
        };
        if end_line.is_none() && b.get(end.wrapping_sub(1)) != Some(&b'\n') {
            return Err(()); // the text ends inside the last line
        }
        match chomp {
            b'-' => {}
            b'+' => {
                value.push('\n');
                for _ in 0..blanks {
                    value.push('\n');
                }
            }
            _ => value.push('\n'),
        }
        let style = if literal {
            ScalarStyle::Literal
        } else {
            ScalarStyle::Folded
        };
        let start = Marker::new(content_start, content_line, indent);
        let end_line = end_line.unwrap_or(line + 1);
        (self.emit)(
            Event::Scalar(Cow::Owned(value), style, 0, None),
            Span::new(start, Marker::new(end, end_line, 0)),
        );
        self.resume = Some(end);
        self.line = end_line - 1;
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

#[cfg(test)]
mod tests {
    /// The byte search finds exactly the characters a `char` walk finds.
    #[test]
    fn bom_and_c1_by_bytes_match_by_chars() {
        let by_chars = |s: &str| {
            s.chars().any(|c| {
                matches!(
                    c,
                    '\u{80}'..='\u{9f}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                )
            })
        };
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s = format!("a: {c}b\n");
            assert_eq!(
                super::has_bom_or_c1(s.as_bytes()),
                by_chars(&s),
                "{:X}",
                c as u32
            );
        }
    }
}
