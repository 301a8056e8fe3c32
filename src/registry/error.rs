//! Registry errors: one variant per thing the user can tell apart and act
//! on. Every message starts with `<reference> (registry <host>):`.

use std::path::PathBuf;

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
        "{reference} (registry {registry}): authentication required{}",
        detail_suffix(detail)
    )]
    AuthRequired {
        reference: String,
        registry: String,
        detail: String,
    },
    #[error(
        "{reference} (registry {registry}): credentials for user {username:?} were rejected{}",
        detail_suffix(detail)
    )]
    InvalidCredentials {
        reference: String,
        registry: String,
        username: String,
        detail: String,
    },
    #[error(
        "{reference} (registry {registry}): access denied{}",
        detail_suffix(detail)
    )]
    AccessDenied {
        reference: String,
        registry: String,
        detail: String,
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
            AuthRequired { registry, .. } => format!(
                "add credentials for {registry} to the docker config (`docker login {registry}` writes them to $DOCKER_CONFIG/config.json or ~/.docker/config.json)"
            ),
            InvalidCredentials { registry, .. } => format!(
                "check the username and password for {registry} in the docker config (`docker login {registry}`)"
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

    /// Worth retrying the same request (connection reset or closed early).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Network { .. })
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
