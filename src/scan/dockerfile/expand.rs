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

/// A word that cannot be expanded from the file alone: `$NAME` of a
/// variable with no default (only `--build-arg` gives it a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoDefault(pub String);

/// Split `text[range]` into literal pieces and variable expansions.
/// `None` when it holds expansion syntax this module does not follow.
pub(crate) fn pieces(text: &str, range: Range<usize>, escape: char) -> Option<Vec<Piece>> {
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
                let inner = pieces(text, word.clone(), escape)?;
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
) -> Result<Vec<(String, Source)>, NoDefault> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Literal(r) => out.push((text[r.clone()].to_string(), Source::Word(r.clone()))),
            Piece::Var { name, modifier, .. } => {
                let value = lookup(name);
                if value == Value::Unknown {
                    return Err(NoDefault(name.clone()));
                }
                let given = |colon: bool| match value {
                    Value::Set(v) if !colon || !v.is_empty() => Some(v),
                    _ => None,
                };
                match modifier {
                    Modifier::None => match value {
                        Value::Set(v) => out.push((v.to_string(), Source::Variable(name.clone()))),
                        Value::Unset | Value::Unknown => return Err(NoDefault(name.clone())),
                    },
                    Modifier::Default { colon, inner, .. } => match given(*colon) {
                        Some(v) => out.push((v.to_string(), Source::Variable(name.clone()))),
                        None => out.extend(expand(text, inner, lookup)?),
                    },
                    Modifier::Alternate { colon, inner, .. } => {
                        if given(*colon).is_some() {
                            out.extend(expand(text, inner, lookup)?);
                        }
                        // else: expands to nothing.
                    }
                }
            }
        }
    }
    Ok(out)
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
