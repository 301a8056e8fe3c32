//! Registry authentication: `WWW-Authenticate` parsing and the shared
//! per-(registry, scope) token slots.
//!
//! No `/v2/` ping: the first request to a registry goes out bare and its
//! 401 teaches us the scheme (Basic or Bearer realm/service). After that
//! every request to that registry first takes a header from the slot for its
//! scope. A slot is a tokio mutex, so concurrent requests to one repository
//! wait for one token fetch instead of each fetching their own.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::credentials::Secret;

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

/// How one credential (or anonymity) was refused, before it is turned into
/// a [`super::RegistryError`] naming the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Anonymous access refused.
    AuthRequired(String),
    /// The registry or token server refused this credential.
    BadCredentials(String),
    /// Authenticated, but not allowed.
    Denied(String),
    /// This kind of credential cannot answer this challenge (an identity
    /// token to a registry that asks for Basic).
    Unusable(String),
}

impl Failure {
    pub fn detail(&self) -> &str {
        match self {
            Failure::AuthRequired(d)
            | Failure::BadCredentials(d)
            | Failure::Denied(d)
            | Failure::Unusable(d) => d,
        }
    }
}

/// The header sent with a request, and which slot generation it came from.
pub struct Issued {
    pub header: Option<Secret>,
    pub generation: u64,
    /// The slot it came from: (candidate id or 0 for anonymous, scope key).
    pub slot: Option<(u64, String)>,
}

/// One (credential, scope)'s state: its current header, or its refusal.
#[derive(Default)]
pub struct Slot {
    pub header: Option<Secret>,
    pub expires: Option<Instant>,
    pub refused: Option<Failure>,
    pub generation: u64,
}

/// A slot shared by every request of one (credential, scope).
type SharedSlot = Arc<tokio::sync::Mutex<Slot>>;

/// Everything learned about one registry.
pub struct RegistryAuth {
    pub challenge: Mutex<Option<Challenge>>,
    /// Set once the first request to this registry has been answered.
    pub contacted: AtomicBool,
    /// Held by the first request until it is answered.
    pub gate: tokio::sync::Mutex<()>,
    /// Token cache per (registry, credential source, scope): one pod's
    /// credential's token is never used for another pod's credential.
    slots: Mutex<HashMap<(u64, String), SharedSlot>>,
}

impl RegistryAuth {
    pub fn new() -> RegistryAuth {
        RegistryAuth {
            challenge: Mutex::new(None),
            contacted: AtomicBool::new(false),
            gate: tokio::sync::Mutex::new(()),
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub fn challenge(&self) -> Option<Challenge> {
        self.challenge.lock().unwrap().clone()
    }

    pub fn set_challenge(&self, ch: Challenge) {
        *self.challenge.lock().unwrap() = Some(ch);
    }

    pub fn slot(&self, key: &(u64, String)) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .clone()
    }
}

/// A token response.
#[derive(serde::Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    pub fn into_parts(self) -> Option<(Secret, Duration)> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        // At most a day: a hostile `expires_in` must not overflow an Instant.
        let secs = self.expires_in.filter(|s| *s > 0).unwrap_or(60).min(86_400);
        // Renew a little early so a token does not expire in flight.
        let secs = if secs > 20 { secs - 10 } else { secs * 3 / 4 };
        Some((Secret::new(token), Duration::from_secs(secs.max(1))))
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

    #[test]
    fn token_response_variants() {
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        let (tok, ttl) = t.into_parts().unwrap();
        assert_eq!(tok.expose(), "a");
        assert_eq!(ttl, Duration::from_secs(50));
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"t","access_token":"a","expires_in":300}"#).unwrap();
        assert_eq!(t.into_parts().unwrap().0.expose(), "t");
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"t","expires_in":18446744073709551615}"#).unwrap();
        assert_eq!(t.into_parts().unwrap().1, Duration::from_secs(86_390));
        let t: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(t.into_parts().is_none());
    }
}
