//! `WWW-Authenticate` parsing: the challenges a registry answers a 401
//! with (RFC 7235), lenient about what registries really send. Pure code.

use std::collections::BTreeMap;

/// One challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased scheme: `bearer`, `basic`, …
    pub scheme: String,
    /// Parameters, keys lower-cased.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/:".contains(c)
}

/// Parse every `WWW-Authenticate` header line. A line may carry several
/// challenges; commas inside quoted values do not split; schemes compare
/// case-insensitively.
pub fn parse_challenges<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for line in lines {
        parse_line(line, &mut out);
    }
    out
}

fn parse_line(line: &str, out: &mut Vec<Challenge>) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && (chars[*i] == ' ' || chars[*i] == '\t') {
            *i += 1;
        }
    };
    let read_token = |i: &mut usize| -> String {
        let start = *i;
        while *i < chars.len() && is_tchar(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect()
    };
    loop {
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t' || chars[i] == ',') {
            i += 1;
        }
        if i >= chars.len() {
            return;
        }
        let scheme = read_token(&mut i);
        if scheme.is_empty() {
            // Garbage: skip one char and go on.
            i += 1;
            continue;
        }
        let mut ch = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        // Parameters: name = value, separated by commas, until a token that
        // is not followed by `=` (the next scheme).
        loop {
            let save = i;
            while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t' || chars[i] == ',') {
                i += 1;
            }
            let name = read_token(&mut i);
            skip_ws(&mut i);
            if name.is_empty() || i >= chars.len() || chars[i] != '=' {
                // token68 (`Negotiate abc==`) or the next challenge.
                i = save;
                break;
            }
            i += 1; // '='
            skip_ws(&mut i);
            let value = if i < chars.len() && chars[i] == '"' {
                i += 1;
                let mut v = String::new();
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    v.push(chars[i]);
                    i += 1;
                }
                i += 1; // closing quote
                v
            } else {
                let start = i;
                while i < chars.len() && chars[i] != ',' && chars[i] != ' ' && chars[i] != '\t' {
                    i += 1;
                }
                chars[start..i].iter().collect()
            };
            ch.params.insert(name.to_ascii_lowercase(), value);
        }
        // A token68 after the scheme (no `=` param) is skipped up to a comma.
        if ch.params.is_empty() {
            skip_ws(&mut i);
            let save = i;
            let tok = read_token(&mut i);
            let mut j = i;
            while j < chars.len() && chars[j] == '=' {
                j += 1;
            }
            skip_ws(&mut j);
            if !tok.is_empty() && (j >= chars.len() || chars[j] == ',') && j > i {
                i = j;
            } else {
                i = save;
            }
        }
        out.push(ch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Vec<Challenge> {
        parse_challenges([s])
    }

    #[test]
    fn bearer_with_quoted_commas() {
        let c = one(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:library/nginx:pull,push")
        );
    }

    #[test]
    fn several_challenges_one_line_and_case() {
        let c = one(r#"BASIC realm="a, b", bEaReR Realm=https://x/t, error="insufficient_scope""#);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("a, b"));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("https://x/t"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn several_lines_and_token68() {
        let c = parse_challenges([
            "Negotiate abc==, Basic realm=\"r\"",
            "Bearer realm=\"x\\\"y\"",
        ]);
        let schemes: Vec<_> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["negotiate", "basic", "bearer"]);
        assert_eq!(c[1].param("realm"), Some("r"));
        assert_eq!(c[2].param("realm"), Some("x\"y"));
    }
}
