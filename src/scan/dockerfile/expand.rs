//! Build-argument substitution in a Dockerfile word, as BuildKit's shell
//! lexer does it: `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`,
//! `${NAME:+word}`, `${NAME+word}`. Pure code.

use std::ops::Range;

/// One piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text taken as written (logical range in the word's instruction).
    Literal(Range<usize>),
    /// A variable expansion.
    Var {
        name: String,
        modifier: Modifier,
        /// The whole `${…}` or `$NAME`.
        range: Range<usize>,
    },
}

/// What follows the name inside `${…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Modifier {
    None,
    /// `:-word` (`colon`) or `-word`: the word when unset (or empty).
    Default {
        colon: bool,
        word: Range<usize>,
        /// The word's own pieces (it may hold expansions: `${A:-$B}`).
        inner: Vec<Piece>,
    },
    /// `:+word` or `+word`: the word when set (and not empty).
    Alternate {
        colon: bool,
        word: Range<usize>,
        inner: Vec<Piece>,
    },
}

/// A variable's state where the word is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// Declared with a default (or a known value).
    Set(&'a str),
    /// Declared without a default, or not declared: only `--build-arg` can
    /// give it a value.
    Unset,
    /// Has a value the file does not say (a platform argument, a default
    /// imagelock cannot follow): every expansion of it is unknown.
    Unknown,
}

/// Why a word cannot be expanded from the file alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `$NAME` of a variable with no default (only `--build-arg` gives it
    /// a value), or one whose value is unknown.
    NoDefault(String),
    /// The expansion would be longer than [`MAX_EXPANDED`] bytes (`ARG
    /// A1=${A0}${A0}`, doubled forty times, is a terabyte).
    TooLong,
}

/// The longest expansion followed, in bytes: far beyond any image
/// reference or real default, far below what exhausts memory.
pub(crate) const MAX_EXPANDED: usize = 64 * 1024;

/// The deepest `${A:-${B:-…}}` nesting followed: deeper is not followed
/// (`None`), rather than recursing off the end of the stack.
const MAX_NESTING: usize = 32;

/// Split `text[range]` into literal pieces and variable expansions.
/// `None` when it holds expansion syntax this module does not follow.
pub(crate) fn pieces(text: &str, range: Range<usize>, escape: char) -> Option<Vec<Piece>> {
    pieces_at(text, range, escape, 0)
}

fn pieces_at(text: &str, range: Range<usize>, escape: char, depth: usize) -> Option<Vec<Piece>> {
    if depth > MAX_NESTING {
        return None;
    }
    let mut out = Vec::new();
    let s = &text[range.clone()];
    let base = range.start;
    let mut lit_start = 0;
    let mut i = 0;
    let bytes = s.as_bytes();
    while i < s.len() {
        let c = s[i..].chars().next()?;
        if c == escape || c == '\'' || c == '"' {
            // Quotes and escapes inside a reference: not followed.
            if s[i..].contains('$') {
                return None;
            }
            i += c.len_utf8();
            continue;
        }
        if c != '$' {
            i += c.len_utf8();
            continue;
        }
        if lit_start < i {
            out.push(Piece::Literal(base + lit_start..base + i));
        }
        let start = i;
        if bytes.get(i + 1) == Some(&b'{') {
            let close = matching_brace(s, i + 1)?;
            let inner = &s[i + 2..close];
            let name_len = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            let name = &inner[..name_len];
            if name.is_empty() {
                return None;
            }
            let rest = &inner[name_len..];
            let word_start = base + i + 2 + name_len;
            let modifier = if rest.is_empty() {
                Modifier::None
            } else {
                let (colon, op) = match rest.strip_prefix(':') {
                    Some(r) => (true, r),
                    None => (false, rest),
                };
                let skip = usize::from(colon) + 1;
                let word = word_start + skip..base + close;
                let inner = pieces_at(text, word.clone(), escape, depth + 1)?;
                match op.chars().next() {
                    Some('-') => Modifier::Default { colon, word, inner },
                    Some('+') => Modifier::Alternate { colon, word, inner },
                    _ => return None,
                }
            };
            out.push(Piece::Var {
                name: name.to_string(),
                modifier,
                range: base + start..base + close + 1,
            });
            i = close + 1;
        } else {
            let name_len = s[i + 1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(s.len() - i - 1);
            if name_len == 0 {
                return None;
            }
            out.push(Piece::Var {
                name: s[i + 1..i + 1 + name_len].to_string(),
                modifier: Modifier::None,
                range: base + start..base + i + 1 + name_len,
            });
            i += 1 + name_len;
        }
        lit_start = i;
    }
    if lit_start < s.len() {
        out.push(Piece::Literal(base + lit_start..base + s.len()));
    }
    Some(out)
}

/// The `}` closing the `{` at `open`, counting nested `${…}`.
fn matching_brace(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, b) in s.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// Where the text of one expanded piece came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Written in the word itself (a literal, or a modifier's word).
    Word(Range<usize>),
    /// A variable's value.
    Variable(String),
}

/// The expanded text of each piece, with where it came from (a
/// modifier's word that holds expansions gives one entry per inner piece).
pub(crate) fn expand<'a>(
    text: &str,
    pieces: &[Piece],
    lookup: &impl Fn(&str) -> Value<'a>,
) -> Result<Vec<(String, Source)>, Stop> {
    let mut out = Vec::new();
    let mut len = 0;
    expand_into(text, pieces, lookup, &mut out, &mut len)?;
    Ok(out)
}

fn expand_into<'a>(
    text: &str,
    pieces: &[Piece],
    lookup: &impl Fn(&str) -> Value<'a>,
    out: &mut Vec<(String, Source)>,
    len: &mut usize,
) -> Result<(), Stop> {
    for p in pieces {
        match p {
            Piece::Literal(r) => push(out, len, &text[r.clone()], Source::Word(r.clone()))?,
            Piece::Var { name, modifier, .. } => {
                let value = lookup(name);
                if value == Value::Unknown {
                    return Err(Stop::NoDefault(name.clone()));
                }
                let given = |colon: bool| match value {
                    Value::Set(v) if !colon || !v.is_empty() => Some(v),
                    _ => None,
                };
                match modifier {
                    Modifier::None => match value {
                        Value::Set(v) => push(out, len, v, Source::Variable(name.clone()))?,
                        Value::Unset | Value::Unknown => return Err(Stop::NoDefault(name.clone())),
                    },
                    Modifier::Default { colon, inner, .. } => match given(*colon) {
                        Some(v) => push(out, len, v, Source::Variable(name.clone()))?,
                        None => expand_into(text, inner, lookup, out, len)?,
                    },
                    Modifier::Alternate { colon, inner, .. } => {
                        if given(*colon).is_some() {
                            expand_into(text, inner, lookup, out, len)?;
                        }
                        // else: expands to nothing.
                    }
                }
            }
        }
    }
    Ok(())
}

/// Add one expanded piece, unless the whole would pass [`MAX_EXPANDED`].
fn push(
    out: &mut Vec<(String, Source)>,
    len: &mut usize,
    text: &str,
    src: Source,
) -> Result<(), Stop> {
    *len += text.len();
    if *len > MAX_EXPANDED {
        return Err(Stop::TooLong);
    }
    out.push((text.to_string(), src));
    Ok(())
}

/// Every variable name a word's pieces read, nested ones included.
pub(crate) fn names(pieces: &[Piece], out: &mut Vec<String>) {
    for p in pieces {
        if let Piece::Var { name, modifier, .. } = p {
            out.push(name.clone());
            match modifier {
                Modifier::None => {}
                Modifier::Default { inner, .. } | Modifier::Alternate { inner, .. } => {
                    names(inner, out);
                }
            }
        }
    }
}
