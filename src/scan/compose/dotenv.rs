//! The project's `.env` file, read as compose-go's `dotenv` parser reads
//! it: `KEY=value` (or `KEY: value`) statements, an optional `export `
//! prefix, `#` comment lines, blank lines; unquoted values end at the line
//! end or at a `#` after whitespace (an inline comment) and lose trailing
//! whitespace; `'…'` is taken as written; `"…"` may span lines, turns
//! `\n`/`\r` into line breaks and `\x` into `x` (but keeps `\$`); unquoted
//! and double-quoted values are interpolated with the keys read before
//! them (and the environment first, when it is read). A key alone on its
//! line takes its value from the environment. Later keys override earlier
//! ones; with the environment read, the environment wins.
//!
//! Each entry keeps the bytes its value is written at, so that `pin` can
//! append a digest to it, and whether those bytes are exactly the value.

use std::collections::HashMap;
use std::ops::Range;

use super::interpolate::{self, Source, Value};

/// One `KEY=value` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// The value's bytes in the file (quotes excluded).
    pub span: Range<usize>,
    /// `text[span] == value`: no escapes, no interpolation.
    pub exact: bool,
    /// 1-based line of the key.
    pub line: usize,
    /// Variables its value mentions (`${…}`).
    pub mentions: Vec<String>,
}

/// A parsed `.env` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DotEnv {
    /// Every statement, in order (a key set twice appears twice).
    pub entries: Vec<Entry>,
}

/// A `.env` statement compose refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotEnvError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl DotEnv {
    /// The entry that gives `key` its value (the last one).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// Whether any entry's value mentions `key` (`B=${A}`).
    pub fn mentioned(&self, key: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.mentions.iter().any(|m| m == key))
    }
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

/// Read a `.env` file as compose does: UTF-8, a leading byte order mark
/// skipped (compose-go trims it). The text is the one `pin` plans and
/// writes through (the file keeps its BOM, as any scanned file does).
pub fn read(path: &std::path::Path) -> std::io::Result<String> {
    // A FIFO or a device (`.env -> /dev/zero`) would block the run or
    // fill the memory: only a regular file (through symlinks) is read.
    let meta = fs_err::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: not a regular file", path.display()),
        ));
    }
    let bytes = fs_err::read(path)?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(body.to_vec()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: stream did not contain valid UTF-8", path.display()),
        )
    })
}

/// A variable's value in the process environment.
pub type Environment<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Parse a `.env` text; `environment` is the process environment when it
/// is read (`--compose-env`).
pub fn parse(text: &str, environment: Option<Environment<'_>>) -> Result<DotEnv, DotEnvError> {
    let mut out = DotEnv::default();
    let mut values: HashMap<String, String> = HashMap::new();
    let err = |at: usize, message: String| {
        let (line, column) = line_col(text, at);
        DotEnvError {
            line,
            column,
            message,
        }
    };
    let env = |k: &str| environment.and_then(|f| f(k));
    let mut i = 0;
    let (mut line, mut line_from) = (1usize, 0usize);
    let b = text.as_bytes();
    // The next statement: skip whitespace and comment lines.
    while let Some(off) = text[i..].find(|c: char| !c.is_whitespace()) {
        i += off;
        if b[i] == b'#' {
            match text[i..].find('\n') {
                Some(n) => {
                    i += n;
                    continue;
                }
                None => break,
            }
        }
        let statement = i;
        // `export` only as a prefix followed by whitespace (`^export\s+`):
        // `exporter_tag=1` is the key `exporter_tag`.
        if text[i..].starts_with("export")
            && text[i + "export".len()..]
                .chars()
                .next()
                .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r'))
        {
            i += "export".len();
        }
        i += text[i..].find(|c| !is_space(c)).unwrap_or(text.len() - i);
        let key_start = i;
        let mut sep = None;
        for (j, c) in text[i..].char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    sep = Some((i + j, c));
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    return Err(err(
                        i + j,
                        format!("unexpected character {c:?} in a variable name"),
                    ))
                }
            }
        }
        let (sep_at, sep_char) = sep.unwrap_or((text.len(), '\n'));
        let key = text[key_start..sep_at]
            .trim_end_matches(is_space)
            .to_string();
        if key.contains(' ') {
            return Err(err(key_start, "a key cannot contain a space".into()));
        }
        // Counted from the previous statement on: a scan of the whole
        // text before every statement is quadratic in a large file.
        line += text[line_from..statement].matches('\n').count();
        line_from = statement;
        if sep_char == '\n' {
            // A key alone: its value comes from the environment.
            if let Some(v) = env(&key) {
                values.insert(key, v);
            }
            i = (sep_at + 1).min(text.len());
            continue;
        }
        i = sep_at + 1;
        i += text[i..].find(|c| !is_space(c)).unwrap_or(text.len() - i);
        let lookup = |name: &str| {
            env(name)
                .or_else(|| values.get(name).cloned())
                .map(|value| Value {
                    value,
                    source: Source::DotEnv,
                })
        };
        let (raw, span, next, quote) = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                // Up to the first quote not escaped by a backslash (one
                // that is not itself escaped).
                let mut j = i + 1;
                let mut escaped = false;
                let close = loop {
                    match b.get(j) {
                        None => {
                            return Err(err(i, "a quoted value is never closed".into()));
                        }
                        Some(_) if escaped => escaped = false,
                        Some(b'\\') => escaped = true,
                        Some(&c) if c == q => break j,
                        _ => {}
                    }
                    j += 1;
                };
                let next = text[close..].find('\n').map_or(text.len(), |n| close + n);
                (&text[i + 1..close], i + 1..close, next, Some(q))
            }
            _ => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let line_text = &text[i..end];
                // An inline comment starts at ` #`.
                let cut = line_text.find(" #").unwrap_or(line_text.len());
                let v = line_text[..cut].trim_end_matches(|c: char| c.is_whitespace());
                (v, i..i + v.len(), end, None)
            }
        };
        let (value, exact, mentions) = match quote {
            // Taken as written, but for `\'`, which loses its backslash.
            Some(b'\'') => (raw.replace("\\'", "'"), !raw.contains('\\'), Vec::new()),
            _ => {
                let unescaped = if quote == Some(b'"') {
                    unescape(raw)
                } else {
                    raw.to_string()
                };
                let mut mentions = Vec::new();
                let value = match interpolate::parse(&unescaped) {
                    Ok(parts) => {
                        interpolate::names(&parts, &mut mentions);
                        // An unset variable is empty here, as compose has it.
                        substitute(&parts, &lookup)
                    }
                    // Not a template imagelock reads (`$1`, a lone `$`):
                    // compose-go still substitutes the variables around
                    // such a `$`, so count every name after a `$` as used.
                    Err(_) => {
                        loose_names(&unescaped, &mut mentions);
                        unescaped.clone()
                    }
                };
                let exact = !raw.contains(['\\', '$']) && value == raw;
                (value, exact, mentions)
            }
        };
        let value = env(&key).unwrap_or(value);
        values.insert(key.clone(), value.clone());
        out.entries.push(Entry {
            key,
            value,
            span,
            exact,
            line,
            mentions,
        });
        i = next;
    }
    // The environment wins over every entry (compose's lookup).
    Ok(out)
}

/// Every name after a `$` or `${` (but `$$`), for a value that does not
/// parse as a template.
fn loose_names(value: &str, out: &mut Vec<String>) {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        if b.get(i + 1) == Some(&b'$') {
            i += 2;
            continue;
        }
        let mut j = i + 1;
        if b.get(j) == Some(&b'{') {
            j += 1;
        }
        let start = j;
        while j < b.len() && (b[j] == b'_' || b[j].is_ascii_alphanumeric()) {
            j += 1;
        }
        if j > start {
            out.push(value[start..j].to_string());
        }
        i = j.max(i + 1);
    }
}

/// Substitute with unset variables empty (how `.env` values read them).
fn substitute(parts: &[interpolate::Part], lookup: &dyn Fn(&str) -> Option<Value>) -> String {
    use interpolate::{Op, Part};
    let mut s = String::new();
    for p in parts {
        match p {
            Part::Literal { text, .. } => s.push_str(text),
            Part::Var(v) => {
                let got = lookup(&v.name).map(|g| g.value);
                let set = got.is_some();
                let nonempty = got.as_deref().is_some_and(|g| !g.is_empty());
                match v.op {
                    Op::Plain | Op::Required { .. } => s.push_str(got.as_deref().unwrap_or("")),
                    Op::Default { colon } => {
                        if (colon && !nonempty) || (!colon && !set) {
                            s.push_str(&substitute(&v.arg, lookup));
                        } else {
                            s.push_str(got.as_deref().unwrap_or(""));
                        }
                    }
                    Op::Alternative { colon } => {
                        if (colon && nonempty) || (!colon && set) {
                            s.push_str(&substitute(&v.arg, lookup));
                        }
                    }
                }
            }
        }
    }
    s
}

/// Double-quoted escapes, as compose-go reads them: the shell's
/// single-character escapes (`\n`, `\t`, `\\`, `\"`, …), and `\$` for a
/// literal `$`; any other `\x` stays as written.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some('$') => out.push_str("$$"),
            Some(x @ ('\\' | '"' | '\'')) => out.push(x),
            Some(x) => {
                out.push('\\');
                out.push(x);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The safety net for a `.env` edit: the new text must read as the old
/// one, entry for entry, with only the values whose bytes `edits` touch
/// changed, each to its old bytes with the edit spliced in. `Err`: the
/// byte of the old text where they part, and how.
pub fn same_but_edits(
    old: &str,
    new: &str,
    edits: &[(Range<usize>, &str)],
) -> Result<(), (usize, String)> {
    let a =
        parse(old, None).map_err(|e| (0, format!("the old .env does not read: {}", e.message)))?;
    let b =
        parse(new, None).map_err(|e| (0, format!("the new .env does not read: {}", e.message)))?;
    if a.entries.len() != b.entries.len() {
        return Err((0, "the number of entries changed".into()));
    }
    let mut used = vec![false; edits.len()];
    for (x, y) in a.entries.iter().zip(&b.entries) {
        if x.key != y.key {
            return Err((x.span.start, format!("key {} became {}", x.key, y.key)));
        }
        let touched = edits
            .iter()
            .any(|(span, _)| span.start >= x.span.start && span.end <= x.span.end);
        if !touched {
            if y.value != x.value {
                return Err((
                    x.span.start,
                    format!("{} reads {:?}, not {:?}", x.key, y.value, x.value),
                ));
            }
            continue;
        }
        let mut expect = String::new();
        let mut at = x.span.start;
        for (k, (span, repl)) in edits.iter().enumerate() {
            if span.start >= x.span.start && span.end <= x.span.end {
                if !x.exact {
                    return Err((span.start, format!("{} is not written exactly", x.key)));
                }
                expect.push_str(&old[at..span.start]);
                expect.push_str(repl);
                at = span.end;
                used[k] = true;
            }
        }
        expect.push_str(&old[at..x.span.end]);
        if y.value != expect {
            return Err((
                x.span.start,
                format!("{} reads {:?}, not {:?}", x.key, y.value, expect),
            ));
        }
    }
    if let Some(k) = used.iter().position(|u| !u) {
        return Err((edits[k].0.start, "an edit outside every value".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, key: &str) -> Option<String> {
        parse(text, None)
            .unwrap()
            .entry(key)
            .map(|e| e.value.clone())
    }

    #[test]
    fn compose_dotenv_syntax() {
        let t = "# c\nexport A=1.2 # inline\nB='x y' \nC=\"q\\\"\\n\\$A\\\\\"\nD=${A}-d\nE=\nF=a#b\nG: yaml\n  H = spaced  \n#I=commented\nJ\nK='it\\'s'\n";
        assert_eq!(value(t, "A").as_deref(), Some("1.2"));
        assert_eq!(value(t, "B").as_deref(), Some("x y"));
        assert_eq!(value(t, "C").as_deref(), Some("q\"\n$A\\"));
        assert_eq!(value(t, "K").as_deref(), Some("it's"));
        assert_eq!(value(t, "D").as_deref(), Some("1.2-d"));
        assert_eq!(value(t, "E").as_deref(), Some(""));
        assert_eq!(value(t, "F").as_deref(), Some("a#b"));
        assert_eq!(value(t, "G").as_deref(), Some("yaml"));
        assert_eq!(value(t, "H").as_deref(), Some("spaced"));
        assert_eq!(value(t, "I"), None);
        assert_eq!(value(t, "J"), None);
        let d = parse(t, None).unwrap();
        let a = d.entry("A").unwrap();
        assert!(a.exact && &t[a.span.clone()] == "1.2");
        assert!(!d.entry("C").unwrap().exact);
        assert!(!d.entry("D").unwrap().exact);
        assert_eq!(d.entry("D").unwrap().mentions, vec!["A".to_string()]);
        let env = |k: &str| (k == "A" || k == "J").then(|| "env".to_string());
        let d = parse(t, Some(&env)).unwrap();
        assert_eq!(d.entry("A").unwrap().value, "env");
        assert_eq!(d.entry("D").unwrap().value, "env-d");
    }

    #[test]
    fn the_safety_net_sees_only_the_planned_value_change() {
        let old = "A=1\nT=\"1.2\"\n";
        let at = old.find("1.2").unwrap();
        let new = "A=1\nT=\"1.2@x\"\n";
        assert!(same_but_edits(old, new, &[(at..at + 3, "1.2@x")]).is_ok());
        let bad = "A=2\nT=\"1.2@x\"\n";
        assert!(same_but_edits(old, bad, &[(at..at + 3, "1.2@x")]).is_err());
    }
}
