//! Compose's variable interpolation (the Compose specification's
//! "Interpolation" section, as compose-go's `template` package reads it):
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`,
//! `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`, defaults that are templates
//! themselves (`${A:-${B:-x}}`), and `$$` for a literal `$`.
//!
//! A variable name is `[_A-Za-z][_A-Za-z0-9]*`; any other `$` (a `$`
//! before a digit or a space, at the end, `${` never closed, `${A:x}`) is
//! an invalid template, as Compose says. Parsing keeps every part's byte
//! range in the value, so a pin can write where the resolved reference
//! ends.

use std::ops::Range;

/// One part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text taken as it is; `written` is false for `$$` (one `$`).
    Literal {
        text: String,
        span: Range<usize>,
        written: bool,
    },
    Var(Var),
}

/// A variable reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub name: String,
    /// Where the `$` is in the value.
    pub at: usize,
    pub op: Op,
    /// The default, message or alternative (a template itself).
    pub arg: Vec<Part>,
}

/// What a variable reference says to do when it is unset or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `$VAR`, `${VAR}`.
    Plain,
    /// `${VAR:-default}` (`colon`) or `${VAR-default}`.
    Default { colon: bool },
    /// `${VAR:?err}` or `${VAR?err}`.
    Required { colon: bool },
    /// `${VAR:+alt}` or `${VAR+alt}`.
    Alternative { colon: bool },
}

/// A template Compose refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: usize,
    pub message: String,
}

fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn is_name(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// Whether a value holds any `$` (only then is it a template).
pub fn has_dollar(value: &str) -> bool {
    value.contains('$')
}

/// Parse `value` into parts.
pub fn parse(value: &str) -> Result<Vec<Part>, SyntaxError> {
    parse_range(value, 0, value.len())
}

fn parse_range(value: &str, start: usize, end: usize) -> Result<Vec<Part>, SyntaxError> {
    let b = value.as_bytes();
    let mut parts = Vec::new();
    let mut lit_start = start;
    let mut i = start;
    let flush = |parts: &mut Vec<Part>, from: usize, to: usize| {
        if to > from {
            parts.push(Part::Literal {
                text: value[from..to].to_string(),
                span: from..to,
                written: true,
            });
        }
    };
    while i < end {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        flush(&mut parts, lit_start, i);
        let at = i;
        let next = b.get(i + 1).copied().filter(|_| i + 1 < end);
        match next {
            Some(b'$') => {
                parts.push(Part::Literal {
                    text: "$".into(),
                    span: i..i + 2,
                    written: false,
                });
                i += 2;
            }
            Some(c) if is_name_start(c) => {
                let mut j = i + 1;
                while j < end && is_name(b[j]) {
                    j += 1;
                }
                parts.push(Part::Var(Var {
                    name: value[i + 1..j].to_string(),
                    at,
                    op: Op::Plain,
                    arg: Vec::new(),
                }));
                i = j;
            }
            Some(b'{') => {
                let close = closing_brace(b, i + 2, end).ok_or_else(|| SyntaxError {
                    at,
                    message: "`${` is never closed by a `}`".into(),
                })?;
                let mut j = i + 2;
                if j < close && is_name_start(b[j]) {
                    j += 1;
                    while j < close && is_name(b[j]) {
                        j += 1;
                    }
                }
                let name = &value[i + 2..j];
                if name.is_empty() {
                    return Err(SyntaxError {
                        at,
                        message: format!(
                            "`{}` does not start with a variable name ([_A-Za-z][_A-Za-z0-9]*)",
                            &value[at..=close]
                        ),
                    });
                }
                let colon = b.get(j) == Some(&b':') && j < close;
                let k = if colon { j + 1 } else { j };
                let op = if k == close && !colon {
                    Op::Plain
                } else {
                    match b.get(k).filter(|_| k < close) {
                        Some(b'-') => Op::Default { colon },
                        Some(b'?') => Op::Required { colon },
                        Some(b'+') => Op::Alternative { colon },
                        _ => {
                            return Err(SyntaxError {
                                at,
                                message: format!(
                                    "`{}` is not a valid substitution (after the name: `}}`, `:-`, `-`, `:?`, `?`, `:+` or `+`)",
                                    &value[at..=close]
                                ),
                            })
                        }
                    }
                };
                let arg = if op == Op::Plain {
                    Vec::new()
                } else {
                    parse_range(value, k + 1, close)?
                };
                parts.push(Part::Var(Var {
                    name: name.to_string(),
                    at,
                    op,
                    arg,
                }));
                i = close + 1;
            }
            _ => {
                return Err(SyntaxError {
                    at,
                    message: "a `$` that starts no variable (write `$$` for a literal `$`)".into(),
                })
            }
        }
        lit_start = i;
    }
    flush(&mut parts, lit_start, end);
    Ok(parts)
}

/// The `}` closing a `${` whose content starts at `from`, counting nested
/// `${…}` (and skipping `$$`).
fn closing_brace(b: &[u8], from: usize, end: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < end {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Every variable name a template mentions (nested ones included), with
/// repeats.
pub fn names(parts: &[Part], out: &mut Vec<String>) {
    for p in parts {
        if let Part::Var(v) = p {
            out.push(v.name.clone());
            names(&v.arg, out);
        }
    }
}

/// Where a variable's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The project's `.env` file.
    DotEnv,
    /// The process environment (`--compose-env`).
    Environment,
}

/// A variable's value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub value: String,
    pub source: Source,
}

/// Where the resolved text ends, for a pin to write the digest there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Written text of the template (a literal tail, or inside the
    /// default that applied): bytes `span` of the value.
    Literal(Range<usize>),
    /// The value of a variable from `.env`.
    DotEnv(String),
    /// No single place in the written text or `.env`: why. The end of
    /// the image value may still take the digest.
    Nowhere(String),
    /// Text no file holds (the process environment, `$$`): why.
    Unwritten(String),
}

/// How one variable was used in a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Used {
    pub name: String,
    pub value: String,
    /// `None`: its default applied.
    pub source: Option<Source>,
}

/// Why a template cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// `${VAR:?message}` / `${VAR?message}` with the variable unset (or empty).
    Required {
        name: String,
        at: usize,
        message: String,
    },
}

/// A resolved template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub text: String,
    pub end: End,
    pub used: Vec<Used>,
    /// Variables with no value and no default, substituted by an empty
    /// string as compose does (it warns): name and byte in the value.
    pub unset: Vec<(String, usize)>,
}

/// Resolve `parts` with `lookup` (a variable's value and source).
pub fn resolve(
    parts: &[Part],
    lookup: &dyn Fn(&str) -> Option<Value>,
) -> Result<Resolved, Unresolved> {
    let mut r = Resolved {
        text: String::new(),
        end: End::Nowhere("the value is empty".into()),
        used: Vec::new(),
        unset: Vec::new(),
    };
    for p in parts {
        match p {
            Part::Literal {
                text,
                span,
                written,
            } => {
                r.text.push_str(text);
                r.end = if *written {
                    End::Literal(span.clone())
                } else {
                    End::Unwritten("it ends in `$$` (a literal `$`)".into())
                };
            }
            Part::Var(v) => {
                let got = lookup(&v.name);
                let set = got.is_some();
                let nonempty = got.as_ref().is_some_and(|g| !g.value.is_empty());
                let from_value = |r: &mut Resolved, g: &Value| {
                    r.text.push_str(&g.value);
                    r.used.push(Used {
                        name: v.name.clone(),
                        value: g.value.clone(),
                        source: Some(g.source),
                    });
                    r.end = match (g.source, g.value.is_empty()) {
                        (_, true) => End::Nowhere(format!("it ends in `{}`, which is empty", v.name)),
                        (Source::DotEnv, false) => End::DotEnv(v.name.clone()),
                        (Source::Environment, false) => End::Unwritten(format!(
                            "it ends in `{}`, which comes from the process environment (--compose-env), where pin cannot write",
                            v.name
                        )),
                    };
                };
                match v.op {
                    Op::Plain => match &got {
                        Some(g) => from_value(&mut r, g),
                        None => {
                            // Compose substitutes an empty string.
                            r.unset.push((v.name.clone(), v.at));
                            r.end =
                                End::Nowhere(format!("it ends in `{}`, which is not set", v.name));
                        }
                    },
                    Op::Default { colon } => {
                        let apply = if colon { !nonempty } else { !set };
                        if apply {
                            let d = resolve(&v.arg, lookup)?;
                            r.text.push_str(&d.text);
                            r.used.push(Used {
                                name: v.name.clone(),
                                value: d.text.clone(),
                                source: None,
                            });
                            r.used.extend(d.used);
                            r.unset.extend(d.unset);
                            r.end = if d.text.is_empty() {
                                End::Nowhere(format!(
                                    "it ends in the default of `{}`, which is empty",
                                    v.name
                                ))
                            } else {
                                d.end
                            };
                        } else if let Some(g) = &got {
                            from_value(&mut r, g);
                        }
                    }
                    Op::Required { colon } => {
                        let fail = if colon { !nonempty } else { !set };
                        if fail {
                            // The message with its variables shown by
                            // name, not value: a warning must not print
                            // another variable's value (a password).
                            let by_name = |n: &str| {
                                Some(Value {
                                    value: format!("${{{n}}}"),
                                    source: Source::DotEnv,
                                })
                            };
                            let message = resolve(&v.arg, &by_name)
                                .map(|m| m.text)
                                .unwrap_or_default();
                            return Err(Unresolved::Required {
                                name: v.name.clone(),
                                at: v.at,
                                message,
                            });
                        }
                        if let Some(g) = &got {
                            from_value(&mut r, g);
                        }
                    }
                    Op::Alternative { colon } => {
                        let apply = if colon { nonempty } else { set };
                        // What the alternative put into the reference, not
                        // the variable's own value (a `${PASSWORD:+x}`
                        // must not show the password).
                        let a = if apply {
                            Some(resolve(&v.arg, lookup)?)
                        } else {
                            None
                        };
                        if let Some(g) = &got {
                            r.used.push(Used {
                                name: v.name.clone(),
                                value: a.as_ref().map(|a| a.text.clone()).unwrap_or_default(),
                                source: Some(g.source),
                            });
                        }
                        if let Some(a) = a {
                            r.text.push_str(&a.text);
                            r.used.extend(a.used);
                            r.unset.extend(a.unset);
                        }
                        r.end = End::Nowhere(format!(
                            "it ends in `${{{}{}+…}}`, an alternative value that depends on whether the variable is set",
                            v.name,
                            if colon { ":" } else { "" }
                        ));
                    }
                }
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<Value> + 'a {
        move |name| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| Value {
                value: v.to_string(),
                source: Source::DotEnv,
            })
        }
    }

    fn text(t: &str, vars: &[(&str, &str)]) -> Result<String, Unresolved> {
        let parts = parse(t).unwrap();
        resolve(&parts, &env(vars)).map(|r| r.text)
    }

    #[test]
    fn the_specified_forms() {
        let e = [("SET", "v"), ("EMPTY", "")];
        assert_eq!(text("a$SET-b", &e).unwrap(), "av-b");
        assert_eq!(text("${SET}", &e).unwrap(), "v");
        assert_eq!(text("${EMPTY:-d}", &e).unwrap(), "d");
        assert_eq!(text("${EMPTY-d}", &e).unwrap(), "");
        assert_eq!(text("${UNSET-d}", &e).unwrap(), "d");
        assert_eq!(text("${SET:+alt}", &e).unwrap(), "alt");
        assert_eq!(text("${EMPTY:+alt}", &e).unwrap(), "");
        assert_eq!(text("${EMPTY+alt}", &e).unwrap(), "alt");
        assert_eq!(text("${UNSET:-${NO:-x}}", &e).unwrap(), "x");
        assert_eq!(text("$$SET", &e).unwrap(), "$SET");
        assert_eq!(text("${EMPTY?m}", &e).unwrap(), "");
        assert!(matches!(
            text("${EMPTY:?need it}", &e),
            Err(Unresolved::Required { message, .. }) if message == "need it"
        ));
        // Unset with no default: an empty string, as compose substitutes.
        let parts = parse("x:${UNSET}").unwrap();
        let r = resolve(&parts, &env(&e)).unwrap();
        assert_eq!(r.text, "x:");
        assert_eq!(r.unset, [("UNSET".to_string(), 2)]);
        let parts = parse("${A:-${UNSET}y}").unwrap();
        let r = resolve(&parts, &env(&e)).unwrap();
        assert_eq!((r.text.as_str(), r.unset.len()), ("y", 1));
    }

    #[test]
    fn invalid_templates() {
        for t in ["${", "${A", "$1", "a$", "${A:x}", "${}", "${-a}", "$ a"] {
            assert!(parse(t).is_err(), "{t}");
        }
    }

    #[test]
    fn where_the_reference_ends() {
        let e = [("TAG", "1.2")];
        let end = |t: &str| resolve(&parse(t).unwrap(), &env(&e)).unwrap().end;
        assert_eq!(end("${REPO:-r}/app:1.2"), End::Literal(10..18));
        assert_eq!(end("app:${V:-release}"), End::Literal(9..16));
        assert_eq!(end("app:${V:-${W:-x}}"), End::Literal(14..15));
        assert_eq!(end("app:${TAG}"), End::DotEnv("TAG".into()));
        assert!(matches!(end("app:${TAG:+x}"), End::Nowhere(_)));
        assert!(matches!(end("app$$"), End::Unwritten(_)));
    }
}
