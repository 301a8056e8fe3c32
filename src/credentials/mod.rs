//! Pull credentials: a keychain asked about one image in one pod.
//!
//! The question is a normalised repository (`registry.example.com:5000/team-a/app`)
//! and, for a use inside a pod spec, that pod's pull secrets; the answer
//! ([`Lookup`]) is the ordered list of [`Candidate`]s to try, each a
//! [`Credential`] with a [`Source`] that names where it came from and never
//! what it holds, plus the sources looked in and those that failed. The
//! registry client tries the candidates one after another until the registry
//! accepts one (as the kubelet does) and goes anonymous only when the list is
//! empty.
//!
//! Sources, one file each, in the kubelet's order ([`keychain::DefaultKeychain`]):
//! the pod's pull secrets and `--pull-secret` files ([`pull_secret`]),
//! kubelet credential provider plugins ([`provider`]), Docker's
//! `config.json` with its credential helpers ([`docker_config`], [`helper`]),
//! containers `auth.json` ([`containers_auth`]). Keys are matched with the
//! kubelet's rules ([`keyring`]).
//!
//! Everything that knows a password goes through [`Secret`] (see
//! [`crate::secret`]), which never prints what it holds.

pub mod containers_auth;
pub mod docker_config;
mod exec;
mod go_filepath_match;
mod go_url;
pub mod helper;
pub mod keychain;
pub mod keyring;
pub mod provider;
pub mod pull_secret;

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::secret::Secret;

pub use docker_config::{DockerConfig, DockerConfigError};
pub use keychain::{CredentialOptions, DefaultKeychain};
pub use pull_secret::{PodSecrets, SecretIndex};

/// What a source holds for a registry.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub enum Credential {
    /// A username and password (Basic to the registry or its token server).
    Basic { username: String, password: Secret },
    /// An OAuth2 refresh token (Docker's `identitytoken`, a credential
    /// helper's `<token>` user): exchanged at the token server with the
    /// refresh-token grant.
    IdentityToken { token: Secret },
    /// A bearer token sent to the registry as it is (`registrytoken`).
    RegistryToken { token: Secret },
}

impl Credential {
    /// A username and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credential {
        Credential::Basic {
            username: username.into(),
            password: Secret::new(password.into()),
        }
    }

    /// What kind of credential this is, for messages (`user "alice"`,
    /// `identity token`, `registry token`); never its content.
    pub fn describe(&self) -> String {
        match self {
            Credential::Basic { username, .. } => format!("user {username:?}"),
            Credential::IdentityToken { .. } => "identity token".into(),
            Credential::RegistryToken { .. } => "registry token".into(),
        }
    }
}

/// Which kind of source a credential came from (for hints).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum SourceKind {
    /// A Secret named by the pod's `imagePullSecrets` (or its ServiceAccount's).
    PodSecret,
    /// A `--pull-secret` file.
    PullSecretFile,
    /// A kubelet credential provider plugin.
    CredentialProvider,
    /// A docker credential helper (`credHelpers`, `credsStore`).
    DockerHelper,
    /// Docker's `config.json` `auths`.
    DockerConfig,
    /// containers `auth.json` (podman, skopeo, buildah).
    ContainersAuth,
    /// Given by a program (tests, library users).
    Static,
}

/// Where a credential came from: printed in messages, never its content.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub struct Source {
    pub kind: SourceKind,
    /// `Secret team-a/regcred (kubernetes.io/dockerconfigjson, key registry.example.com)`,
    /// `credential helper docker-credential-ecr-login`, `~/.docker/config.json auths["ghcr.io"]`.
    pub label: String,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// One credential to try, with where it came from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Candidate {
    pub credential: Credential,
    pub source: Source,
    /// Identity of (source, credential) for token caches; a hash kept in
    /// memory, never printed.
    id: u64,
}

impl Candidate {
    pub fn new(credential: Credential, source: Source) -> Candidate {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        source.hash(&mut h);
        credential.hash(&mut h);
        Candidate {
            credential,
            source,
            id: h.finish() | 1,
        }
    }

    /// Non-zero identity of this (source, credential) pair.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// The question: one image, in one pod (or in no pod).
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// Normalised repository without tag: `docker.io/library/nginx`.
    pub repository: &'a str,
    /// The pod's pull secrets, when the image is used in a pod spec.
    pub pod: Option<&'a PodSecrets>,
}

impl<'a> Query<'a> {
    pub fn new(repository: &'a str) -> Query<'a> {
        Query {
            repository,
            pod: None,
        }
    }

    /// `host[:port]` of the repository.
    pub fn registry(&self) -> &'a str {
        self.repository
            .split_once('/')
            .map_or(self.repository, |(h, _)| h)
    }
}

/// The answer: candidates in the order to try them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    pub candidates: Vec<Candidate>,
    /// The sources looked in, in order (`pod imagePullSecrets [team-a/regcred]`,
    /// `--pull-secret ci.json`, `~/.docker/config.json`).
    pub searched: Vec<String>,
    /// Sources that failed (named, with why); resolution went on without them.
    pub failures: Vec<String>,
}

impl Lookup {
    /// Identities of the candidates, in order: two lookups with the same
    /// list are the same question to a registry.
    pub fn identity(&self) -> Vec<u64> {
        self.candidates.iter().map(Candidate::id).collect()
    }
}

/// Where pull credentials come from.
pub trait Keychain: Send + Sync {
    /// The candidates for one image (may run helpers and plugins: call it
    /// off the async runtime's worker threads).
    fn lookup(&self, query: &Query<'_>) -> Lookup;

    /// The labels of the sources that match, in order, without running any
    /// helper or plugin (for `list`).
    fn sources(&self, query: &Query<'_>) -> Vec<String>;

    /// Warnings gathered so far (a helper missing from PATH, a plugin that
    /// failed), each once, sorted.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// No credentials at all: every registry is accessed anonymously.
#[derive(Debug, Default, Clone, Copy)]
pub struct Anonymous;

impl Keychain for Anonymous {
    fn lookup(&self, _query: &Query<'_>) -> Lookup {
        Lookup::default()
    }
    fn sources(&self, _query: &Query<'_>) -> Vec<String> {
        Vec::new()
    }
}

/// A fixed list of `(key, credential)` pairs matched with the kubelet's
/// rules; for tests and library users.
#[derive(Debug, Default, Clone)]
pub struct StaticKeychain {
    keyring: keyring::Keyring<Candidate>,
}

impl StaticKeychain {
    pub fn new() -> StaticKeychain {
        StaticKeychain::default()
    }
    /// Add `credential` under `key` (`ghcr.io`, `host:5000/team-a`), labelled `label`.
    pub fn with(mut self, key: &str, label: &str, credential: Credential) -> StaticKeychain {
        let source = Source {
            kind: SourceKind::Static,
            label: label.to_string(),
        };
        self.keyring.add(key, Candidate::new(credential, source));
        self
    }
}

impl Keychain for StaticKeychain {
    fn lookup(&self, query: &Query<'_>) -> Lookup {
        let candidates = self.keyring.lookup_cloned(query.repository);
        Lookup {
            candidates,
            searched: vec!["static credentials".into()],
            failures: Vec::new(),
        }
    }
    fn sources(&self, query: &Query<'_>) -> Vec<String> {
        let mut out: Vec<String> = self
            .keyring
            .lookup(query.repository)
            .into_iter()
            .map(|c| c.source.label.clone())
            .collect();
        out.dedup();
        out
    }
}

/// `$HOME/x` → `~/x`, for labels.
pub(crate) fn tilde(path: &std::path::Path) -> String {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        if let Ok(rest) = path.strip_prefix(&home) {
            return format!("~/{}", rest.display());
        }
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_everywhere() {
        let c = Credential::basic("alice", "hunter2");
        let cand = Candidate::new(
            c.clone(),
            Source {
                kind: SourceKind::Static,
                label: "test".into(),
            },
        );
        let tokens = [
            Credential::IdentityToken {
                token: Secret::new("idtok-secret"),
            },
            Credential::RegistryToken {
                token: Secret::new("regtok-secret"),
            },
        ];
        let dbg = format!("{c:?} {cand:?} {tokens:?} {}", c.describe());
        for s in ["hunter2", "idtok-secret", "regtok-secret"] {
            assert!(!dbg.contains(s), "{dbg}");
        }
        assert!(dbg.contains("alice"));
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn candidate_identity_depends_on_source_and_content() {
        let src = |l: &str| Source {
            kind: SourceKind::Static,
            label: l.into(),
        };
        let a = Candidate::new(Credential::basic("u", "p"), src("a"));
        let a2 = Candidate::new(Credential::basic("u", "p"), src("a"));
        let b = Candidate::new(Credential::basic("u", "p"), src("b"));
        let c = Candidate::new(Credential::basic("u", "q"), src("a"));
        assert_eq!(a.id(), a2.id());
        assert_ne!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_ne!(a.id(), 0);
    }

    #[test]
    fn static_keychain_matches_like_the_kubelet() {
        let k = StaticKeychain::new()
            .with("ghcr.io", "one", Credential::basic("a", "1"))
            .with("ghcr.io/org", "two", Credential::basic("b", "2"))
            .with("docker.io", "three", Credential::basic("c", "3"));
        let labels = |repo: &str| -> Vec<String> {
            k.lookup(&Query::new(repo))
                .candidates
                .into_iter()
                .map(|c| c.source.label)
                .collect()
        };
        assert_eq!(labels("ghcr.io/org/app"), ["two", "one"]);
        assert_eq!(labels("ghcr.io/other/app"), ["one"]);
        assert_eq!(labels("docker.io/library/nginx"), ["three"]);
        assert!(labels("quay.io/x/y").is_empty());
        assert!(Anonymous
            .lookup(&Query::new("ghcr.io/x"))
            .candidates
            .is_empty());
        assert_eq!(
            Query::new("127.0.0.1:5000/a/b").registry(),
            "127.0.0.1:5000"
        );
    }
}
