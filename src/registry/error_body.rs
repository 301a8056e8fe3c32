//! The registry's error body, `{"errors":[{"code":…,"message":…}]}` (OCI
//! distribution spec, "Error Codes"), read to tell a missing repository
//! (`NAME_UNKNOWN`) from a missing tag (`MANIFEST_UNKNOWN`).
//!
//! Only the code and message are kept, cleaned for a terminal and
//! shortened: the body comes from the network and is shown to the user.

/// One entry of the `errors` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorEntry {
    /// `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `DENIED`, `UNAUTHORIZED`, …
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ErrorEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

#[derive(serde::Deserialize)]
struct Body {
    #[serde(default)]
    errors: Vec<RawEntry>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<serde_json::Value>,
}

/// Longest code or message kept, in characters.
const MAX_FIELD: usize = 200;
/// Entries kept.
const MAX_ENTRIES: usize = 4;

/// The entries of an error body; none when it is not one.
pub(crate) fn parse(body: &[u8]) -> Vec<ErrorEntry> {
    let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
        return Vec::new();
    };
    parsed
        .errors
        .into_iter()
        .take(MAX_ENTRIES)
        .map(|e| ErrorEntry {
            code: clean(e.code.as_ref()).to_ascii_uppercase(),
            message: clean(e.message.as_ref()),
        })
        .filter(|e| !e.code.is_empty())
        .collect()
}

/// A string field as printable text: secrets the run holds masked (before
/// the cut, so that no part of one is left), control characters dropped,
/// cut at [`MAX_FIELD`] characters.
fn clean(v: Option<&serde_json::Value>) -> String {
    let Some(serde_json::Value::String(s)) = v else {
        return String::new();
    };
    let s = crate::redact::redact(s);
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD)
        .collect();
    if s.chars().filter(|c| !c.is_control()).count() > MAX_FIELD {
        out.push('…');
    }
    out
}

/// The first entry with `code`.
pub(crate) fn find<'a>(entries: &'a [ErrorEntry], code: &str) -> Option<&'a ErrorEntry> {
    entries.iter().find(|e| e.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_bodies() {
        let e = parse(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v1"}}]}"#,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].to_string(), "MANIFEST_UNKNOWN: manifest unknown");
        assert!(find(&e, "MANIFEST_UNKNOWN").is_some());
        assert!(parse(b"<html>").is_empty());
        assert!(parse(br#"{"errors":"x"}"#).is_empty());
        let e = parse(br#"{"errors":[{"code":7},{"code":"denied","message":"a\u001b[31mb"}]}"#);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].to_string(), "DENIED: a[31mb");
        let long = format!(
            r#"{{"errors":[{{"code":"X","message":"{}"}}]}}"#,
            "m".repeat(5000)
        );
        assert!(parse(long.as_bytes())[0].message.chars().count() <= MAX_FIELD + 1);
    }
}
