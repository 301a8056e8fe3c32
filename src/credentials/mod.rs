//! Pull credentials.
//!
//! Everything that knows a password goes through [`Secret`], whose `Debug`
//! and `Display` print `<redacted>`, so a credential can be logged or put in
//! an error by mistake without leaking it.
//!
//! Stores implement [`CredentialStore`]: given the normalised registry
//! domain they return the candidates to try, in order. The registry client
//! tries them one after another on 401/403 (as the kubelet does) and only
//! goes anonymous when the list is empty.

mod docker_config;
pub mod matching;

use std::fmt;

pub use docker_config::{DockerConfig, DockerConfigError};

/// A password or token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for building an `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A username and password for one registry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Credential {
    pub username: String,
    pub password: Secret,
}

impl Credential {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credential {
        Credential {
            username: username.into(),
            password: Secret::new(password.into()),
        }
    }
}

/// Where pull credentials come from.
pub trait CredentialStore: Send + Sync {
    /// Candidates for `registry` (the normalised domain from
    /// `Reference::domain()`: `docker.io`, `127.0.0.1:5000`, `ghcr.io`), in
    /// the order to try them. Empty means anonymous.
    fn lookup(&self, registry: &str) -> Vec<Credential>;
}

/// No credentials at all: every registry is accessed anonymously.
#[derive(Debug, Default, Clone, Copy)]
pub struct Anonymous;

impl CredentialStore for Anonymous {
    fn lookup(&self, _registry: &str) -> Vec<Credential> {
        Vec::new()
    }
}

/// A fixed list of `(registry, credential)` pairs; handy for tests and for
/// stacking stores.
#[derive(Debug, Default, Clone)]
pub struct StaticStore {
    entries: Vec<(String, Credential)>,
}

impl StaticStore {
    pub fn new() -> StaticStore {
        StaticStore::default()
    }
    pub fn with(mut self, registry: impl Into<String>, credential: Credential) -> StaticStore {
        self.entries.push((registry.into(), credential));
        self
    }
}

impl CredentialStore for StaticStore {
    fn lookup(&self, registry: &str) -> Vec<Credential> {
        self.entries
            .iter()
            .filter(|(r, _)| r == registry)
            .map(|(_, c)| c.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_everywhere() {
        let c = Credential::new("alice", "hunter2");
        let dbg = format!("{c:?} {:?} {}", c.password, c.password);
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("alice"));
        assert!(dbg.contains("<redacted>"));
        assert_eq!(c.password.expose(), "hunter2");
    }

    #[test]
    fn static_store_keeps_order() {
        let s = StaticStore::new()
            .with("ghcr.io", Credential::new("a", "1"))
            .with("docker.io", Credential::new("b", "2"))
            .with("ghcr.io", Credential::new("c", "3"));
        let names: Vec<_> = s
            .lookup("ghcr.io")
            .into_iter()
            .map(|c| c.username)
            .collect();
        assert_eq!(names, ["a", "c"]);
        assert!(Anonymous.lookup("ghcr.io").is_empty());
    }
}
