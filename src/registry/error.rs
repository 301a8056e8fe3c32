//! Registry errors: one variant per thing the user can tell apart and act
//! on. Every message starts with `<reference> (registry <host>):`.

use std::path::PathBuf;

use crate::credentials::{Source, SourceKind};

/// Why a reference could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("{reference} (registry {registry}): host not found: {detail}")]
    HostNotFound {
        reference: String,
        registry: String,
        detail: String,
    },
    #[error("{reference} (registry {registry}): connection refused: {detail}")]
    ConnectionRefused {
        reference: String,
        registry: String,
        detail: String,
    },
    #[error("{reference} (registry {registry}): connection failed: {detail}")]
    Network {
        reference: String,
        registry: String,
        detail: String,
    },
    #[error(
        "{reference} (registry {registry}): TLS failure: {detail} (trusted: system roots{})",
        ca_list(ca_files)
    )]
    Tls {
        reference: String,
        registry: String,
        detail: String,
        /// CA files that were trusted besides the system roots.
        ca_files: Vec<PathBuf>,
        /// The server answered the TLS handshake with plain HTTP.
        http_reply: bool,
    },
    #[error(
        "{reference} (registry {registry}): {}",
        auth_required(registry, detail, looked_in, failed_sources)
    )]
    AuthRequired {
        reference: String,
        registry: String,
        detail: String,
        /// Every credential source looked in (names, never content).
        looked_in: Vec<String>,
        /// Sources that failed while looking (a helper that exited non-zero).
        failed_sources: Vec<String>,
    },
    #[error(
        "{reference} (registry {registry}): {registry} rejected the credentials from {}",
        list(tried)
    )]
    InvalidCredentials {
        reference: String,
        registry: String,
        /// Each credential tried, by source, and what was said.
        tried: Vec<Tried>,
    },
    #[error(
        "{reference} (registry {registry}): access denied{}{}",
        detail_suffix(detail),
        tried_suffix(tried)
    )]
    AccessDenied {
        reference: String,
        registry: String,
        detail: String,
        tried: Vec<Tried>,
    },
    #[error("{reference} (registry {registry}): not found: {what} does not exist (no such repository, tag or manifest)")]
    NotFound {
        reference: String,
        registry: String,
        /// What was missing, as a full reference (`host/repo:tag`).
        what: String,
    },
    #[error(
        "{reference} (registry {registry}): timed out{}",
        detail_suffix(detail)
    )]
    Timeout {
        reference: String,
        registry: String,
        detail: String,
    },
    #[error("{reference} (registry {registry}): rate limited (HTTP 429){}", retry_after.map(|s| format!(", retry after {s}s")).unwrap_or_default())]
    RateLimited {
        reference: String,
        registry: String,
        retry_after: Option<u64>,
    },
    #[error("{reference} (registry {registry}): manifest is Docker schema 1 ({media_type}), which is deprecated and not supported; the image must be re-pushed")]
    Schema1 {
        reference: String,
        registry: String,
        media_type: String,
    },
    #[error("{reference} (registry {registry}): digest mismatch: registry said {header}, content hashes to {computed}")]
    DigestMismatch {
        reference: String,
        registry: String,
        header: String,
        computed: String,
    },
    #[error("{reference} (registry {registry}): no manifest for platform {wanted}; available: {}", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    PlatformNotFound {
        reference: String,
        registry: String,
        wanted: String,
        available: Vec<String>,
    },
    #[error("{reference} (registry {registry}): protocol error: {detail}")]
    Protocol {
        reference: String,
        registry: String,
        detail: String,
    },
    /// The client could not be set up (bad `--ca-file`, …); no reference yet.
    #[error("registry client setup: {detail}")]
    Config { detail: String },
}

/// One credential tried against a registry: where it came from and what
/// the registry (or its token server) said. Never the credential itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub source: Source,
    /// `user "alice"`, `identity token`.
    pub credential: String,
    /// `the token server http://…/token answered 401`.
    pub outcome: String,
}

impl std::fmt::Display for Tried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.source, self.credential, self.outcome)
    }
}

fn list(tried: &[Tried]) -> String {
    tried
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn tried_suffix(tried: &[Tried]) -> String {
    if tried.is_empty() {
        String::new()
    } else {
        format!(" (tried: {})", list(tried))
    }
}

fn auth_required(registry: &str, detail: &str, looked_in: &[String], failed: &[String]) -> String {
    let mut m = if looked_in.is_empty() {
        format!("authentication required{}", detail_suffix(detail))
    } else {
        format!(
            "{registry} requires authentication and no credential matched (looked in: {})",
            looked_in.join(", ")
        )
    };
    if !failed.is_empty() {
        m.push_str(&format!("; failed: {}", failed.join("; ")));
    }
    m
}

fn ca_list(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| format!(", {}", f.display()))
        .collect::<String>()
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl RegistryError {
    /// The registry host named in the error, if any.
    pub fn registry(&self) -> Option<&str> {
        use RegistryError::*;
        match self {
            HostNotFound { registry, .. }
            | ConnectionRefused { registry, .. }
            | Network { registry, .. }
            | Tls { registry, .. }
            | AuthRequired { registry, .. }
            | InvalidCredentials { registry, .. }
            | AccessDenied { registry, .. }
            | NotFound { registry, .. }
            | Timeout { registry, .. }
            | RateLimited { registry, .. }
            | Schema1 { registry, .. }
            | DigestMismatch { registry, .. }
            | PlatformNotFound { registry, .. }
            | Protocol { registry, .. } => Some(registry),
            Config { .. } => None,
        }
    }

    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        use RegistryError::*;
        Some(match self {
            HostNotFound { registry, .. } => {
                format!("check the registry host name `{registry}` and DNS (or HTTPS_PROXY)")
            }
            ConnectionRefused { registry, .. } => {
                format!("is a registry listening on {registry}? check the host and port")
            }
            Tls {
                registry,
                http_reply: true,
                ..
            } => format!("add `--plain-http {registry}` if this registry speaks HTTP"),
            Tls { registry, .. } => format!(
                "pass --ca-file with the CA that signed {registry}'s certificate, or put it in /etc/docker/certs.d/{registry}/ca.crt"
            ),
            AuthRequired {
                registry,
                failed_sources,
                ..
            } => {
                let mut h = format!(
                    "log in (`docker login {registry}` writes $DOCKER_CONFIG/config.json or ~/.docker/config.json), give the pod an imagePullSecrets Secret for {registry}, or pass --pull-secret FILE"
                );
                if !failed_sources.is_empty() {
                    h.push_str("; fix the failed credential source named above");
                }
                h
            }
            InvalidCredentials { registry, tried, .. } => fix_hint(registry, tried),
            AccessDenied { registry, tried, .. } if !tried.is_empty() => format!(
                "the credentials tried have no pull access to this repository on {registry}; check the repository name and what {} may pull",
                tried[0].source
            ),
            AccessDenied { registry, .. } => format!(
                "the credentials used for {registry} have no pull access to this repository; check the repository name and its permissions"
            ),
            Timeout { .. } => "raise --timeout, or check the network and proxy settings".into(),
            RateLimited { registry, .. } if registry == "docker.io" => {
                "Docker Hub limits anonymous pulls: log in (docker config) or wait".into()
            }
            RateLimited { .. } => "wait and try again, or lower --concurrency".into(),
            Schema1 { .. } => {
                "re-push the image with a current client so it is stored as Docker schema 2 or OCI"
                    .into()
            }
            DigestMismatch { .. } => {
                "a proxy or cache between here and the registry may be altering responses".into()
            }
            PlatformNotFound { .. } => "ask for one of the available platforms".into(),
            NotFound { .. } | Network { .. } | Protocol { .. } | Config { .. } => return None,
        })
    }

    /// The registry refused the credentials tried (or wanted some): the
    /// tag may still resolve with other credentials.
    pub fn is_access(&self) -> bool {
        matches!(
            self,
            RegistryError::AuthRequired { .. }
                | RegistryError::InvalidCredentials { .. }
                | RegistryError::AccessDenied { .. }
        )
    }

    /// Worth retrying the same request (connection reset or closed early).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Network { .. })
    }
}

/// What to correct for credentials a registry rejected: the first source tried.
fn fix_hint(registry: &str, tried: &[Tried]) -> String {
    let Some(first) = tried.first() else {
        return format!("check the credentials for {registry}");
    };
    let label = &first.source.label;
    match first.source.kind {
        SourceKind::PodSecret => format!(
            "correct {label}: its entry for {registry} must hold a username and password {registry} accepts"
        ),
        SourceKind::PullSecretFile => format!("correct the entry for {registry} in {label}"),
        SourceKind::CredentialProvider => format!(
            "check what {label} returns for {registry} (its configuration and the node identity it uses)"
        ),
        SourceKind::DockerHelper => format!(
            "the {label} holds stale credentials for {registry}: log in again (`docker login {registry}`)"
        ),
        SourceKind::DockerConfig => format!(
            "log in again: `docker login {registry}` rewrites {label}"
        ),
        SourceKind::ContainersAuth => format!(
            "log in again: `podman login {registry}` (or `skopeo login`) rewrites {label}"
        ),
        SourceKind::Static => format!("check the credentials for {registry}"),
    }
}

/// What went wrong below HTTP, read from a reqwest error's source chain.
pub(crate) enum Transport {
    Timeout(String),
    Dns(String),
    Refused(String),
    Tls { detail: String, http_reply: bool },
    Other(String),
}

/// Classify a reqwest error by walking its source chain.
pub(crate) fn classify(err: &reqwest::Error) -> Transport {
    let mut messages = Vec::new();
    let mut io_kind = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        messages.push(e.to_string());
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        source = e.source();
    }
    // The innermost message is usually the most precise.
    let detail = messages
        .iter()
        .rev()
        .find(|m| !m.is_empty())
        .cloned()
        .unwrap_or_else(|| err.to_string());
    let all = messages.join(": ").to_ascii_lowercase();
    if err.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) {
        return Transport::Timeout(detail);
    }
    if io_kind == Some(std::io::ErrorKind::ConnectionRefused) || all.contains("connection refused")
    {
        return Transport::Refused(detail);
    }
    if all.contains("dns error")
        || all.contains("failed to lookup address")
        || all.contains("name or service not known")
        || all.contains("no such host")
    {
        return Transport::Dns(detail);
    }
    let http_reply = all.contains("invalidcontenttype")
        || all.contains("corrupt message")
        || all.contains("http request to an https server");
    if http_reply
        || all.contains("certificate")
        || all.contains("tls")
        || all.contains("handshake")
        || all.contains("rustls")
        || all.contains("unknownissuer")
    {
        return Transport::Tls { detail, http_reply };
    }
    Transport::Other(detail)
}
