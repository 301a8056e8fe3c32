//! The Go-YAML indentation workaround: saphyr rejects flow content (a
//! closing `]`, the continuation lines of a quoted scalar or flow
//! collection) indented no deeper than the enclosing block, which Go YAML
//! (kubectl, Helm) accepts at any indentation. A pre-pass indents every
//! such line past its block ([`IndentFix::continuations`]), parse errors
//! teach it more lines ([`IndentFix::add_for`]), and positions in the
//! patched text map back to the original ([`Patched::orig`],
//! [`IndentFix::column`]). Extra leading spaces change no value.

use super::SyntaxError;

/// Extra spaces to insert at the start of some (1-based) lines.
#[derive(Default)]
pub struct IndentFix {
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

pub struct Patched {
    pub text: String,
    /// (byte offset in the patched text where spaces were inserted, how many)
    inserts: Vec<(usize, usize)>,
}

impl IndentFix {
    /// Every continuation line of a multi-line flow collection or quoted
    /// scalar, indented to one column past the key (or `- ` item) on the
    /// line where it starts. Extra leading spaces change no value: they
    /// are folded away in quoted scalars and insignificant in flow context.
    pub fn continuations(text: &str) -> IndentFix {
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
    pub fn add_for(&mut self, text: &str, err: &SyntaxError) -> bool {
        let SyntaxError {
            line,
            column,
            message,
        } = err;
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

    /// Whether no line is to be indented.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The original 1-based column of patched column `column` on `line`.
    pub fn column(&self, line: usize, column: usize) -> usize {
        let k = self.lines.get(&line).copied().unwrap_or(0);
        column.saturating_sub(k).max(1)
    }

    /// The text with the extra indentation inserted.
    pub fn apply(&self, text: &str) -> Patched {
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
    pub fn orig(&self, p: usize) -> usize {
        let mut shift = 0;
        for &(at, k) in &self.inserts {
            if at >= p {
                break;
            }
            shift += k.min(p - at);
        }
        p - shift
    }
}

/// Read `text` again after a first reading failed with `first`: with the
/// continuation pre-pass, then learning from each error a line to indent,
/// until `read` (given the fix and the patched text) succeeds or nothing
/// new is learnt (each round must learn something, so this ends within a
/// few rounds per line). `Err(first)`, the original text's error, when no
/// reading succeeds.
pub fn retry<T>(
    text: &str,
    first: SyntaxError,
    mut read: impl FnMut(&IndentFix, &Patched) -> Result<T, SyntaxError>,
) -> Result<T, SyntaxError> {
    let mut fix = IndentFix::continuations(text);
    let mut err = first.clone();
    let rounds = text.lines().count() + 1;
    for round in 0..=rounds {
        if round > 0 && !fix.add_for(text, &err) {
            break;
        }
        if fix.is_empty() {
            continue;
        }
        let patched = fix.apply(text);
        match read(&fix, &patched) {
            Ok(t) => return Ok(t),
            Err(e) => err = e,
        }
    }
    Err(first)
}
