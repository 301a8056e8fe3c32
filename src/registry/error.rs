//! Registry errors: one [`RegistryError`] naming the reference and the
//! registry, with an [`ErrorKind`] for what went wrong and [`Party`] for who
//! failed when it was not the registry itself. Every message starts with
//! `<reference> (registry <host>):`. Never holds a credential, a token or a
//! header value.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::budget::RateLimit;
use crate::credentials::{Source, SourceKind};

/// Why a reference could not be resolved.
///
/// [`RegistryError::code`] gives a stable machine name for the kind:
///
/// | code | meaning |
/// |---|---|
/// | `not-found` | no such repository, tag or manifest |
/// | `auth-required` | the registry wants credentials and none matched |
/// | `invalid-credentials` | every credential tried was rejected |
/// | `access-denied` | authenticated, but not allowed to pull |
/// | `tls` | TLS handshake or certificate failure |
/// | `connection-refused` | nothing listens at the registry's address |
/// | `host-not-found` | the registry's host name does not resolve |
/// | `timeout` | no answer in time |
/// | `network` | the connection failed or broke (reset, closed early) |
/// | `server-error` | the registry kept answering 5xx |
/// | `rate-limited` | the registry kept answering 429 |
/// | `redirect-loop` | redirects looped or went on too long |
/// | `schema1` | a deprecated Docker schema 1 manifest |
/// | `not-a-manifest` | a success answer that is not an OCI or Docker v2 manifest or index (an HTML page, a layer or config blob) |
/// | `digest-mismatch` | content does not hash to the digest the registry gave |
/// | `platform-not-found` | the image has no manifest for a requested platform |
/// | `protocol` | an answer that breaks the distribution protocol (bad digest header, oversized body, unexpected status) |
/// | `token-server` | any failure at the registry's token server (unreachable, 5xx, not JSON, no token) |
/// | `proxy` | any failure reaching the proxy from `HTTPS_PROXY`/`HTTP_PROXY` |
/// | `config` | the client could not be set up (a bad `--ca-file`) |
/// | `blocked` | the `registries.conf` given refuses pulls from the registry (`blocked = true`); nothing was asked |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    /// The reference as written (empty for a [`ErrorKind::Config`] error).
    pub reference: String,
    /// Normalised registry domain (empty for a [`ErrorKind::Config`] error).
    pub registry: String,
    pub kind: ErrorKind,
}

/// Who failed to answer, or answered wrongly, on the registry's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// The registry itself.
    Registry,
    /// The token server of the registry's `Bearer` challenge (its URL
    /// without query).
    TokenServer(String),
    /// The HTTP proxy the request went through (its URL without
    /// credentials).
    Proxy(String),
    /// Where the registry redirected the request (its URL without query,
    /// which may carry a signature).
    Redirect(String),
}

/// Which part of a reference was missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The repository does not exist (`NAME_UNKNOWN`).
    Repository,
    /// The repository exists; the tag or manifest does not
    /// (`MANIFEST_UNKNOWN`).
    Manifest,
    /// The registry did not say which.
    Unknown,
}

/// What went wrong, carrying only what differs between kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound {
        /// What was missing, as a full reference (`host/repo:tag`).
        what: String,
        /// The repository (`host/repo`).
        repository: String,
        missing: Missing,
        /// The registry's own error entry (`MANIFEST_UNKNOWN: manifest unknown`).
        registry_said: Option<String>,
    },
    AuthRequired {
        detail: String,
        /// Every credential source looked in (names, never content).
        looked_in: Vec<String>,
        /// Sources that failed while looking (a helper that exited non-zero).
        failed_sources: Vec<String>,
    },
    InvalidCredentials {
        /// Each credential tried, by source, and what was said.
        tried: Vec<Tried>,
    },
    AccessDenied {
        detail: String,
        tried: Vec<Tried>,
    },
    Tls {
        at: Party,
        detail: String,
        /// CA files that were trusted besides the system roots.
        ca_files: Vec<PathBuf>,
        /// The server answered the TLS handshake with plain HTTP.
        http_reply: bool,
    },
    ConnectionRefused {
        at: Party,
        detail: String,
    },
    HostNotFound {
        at: Party,
        detail: String,
    },
    Timeout {
        at: Party,
        detail: String,
    },
    /// The connection failed or broke.
    Network {
        at: Party,
        detail: String,
    },
    /// 5xx after every retry.
    ServerError {
        at: Party,
        /// `503 Service Unavailable`.
        status: String,
        /// How many times it was answered.
        times: u32,
    },
    /// 429 after every retry, or with a `Retry-After` too long to wait.
    RateLimited {
        at: Party,
        /// What `Retry-After` asked for (clamped to a day).
        retry_after: Option<Duration>,
        /// The limit the 429 stated (`ratelimit-limit` /
        /// `ratelimit-remaining`), when it did.
        limit: Option<RateLimit>,
    },
    /// An `https` request redirected to plain `http` (or an HTTPS
    /// registry's Bearer challenge naming an `http` token realm) at a host
    /// not named with `--plain-http`: refused, nothing sent there.
    InsecureRedirect {
        /// The `https` URL that redirected (without query).
        from: String,
        /// `redirected to`, `names the token realm`.
        how: String,
        /// The `http` target refused (without query).
        target: String,
        /// `host[:port]` of the target.
        target_host: String,
    },
    RedirectLoop {
        /// The redirect target that was refused (URL without query).
        target: String,
        /// Redirects followed before giving up.
        hops: usize,
    },
    Schema1 {
        media_type: String,
    },
    /// A `200` whose body is not a manifest or index of a type asked for.
    NotAManifest {
        /// The request (`GET /v2/team/app/manifests/1`).
        request: String,
        /// What came back (`Content-Type text/html`, `a body that is not JSON`).
        got: String,
    },
    DigestMismatch {
        /// Where the claimed digest came from (`the Docker-Content-Digest header`).
        claimed_by: String,
        claimed: String,
        computed: String,
    },
    PlatformNotFound {
        wanted: String,
        available: Vec<String>,
    },
    Protocol {
        at: Party,
        detail: String,
    },
    /// The client could not be set up (bad `--ca-file`, …); no reference yet.
    Config {
        detail: String,
    },
    /// The `registries.conf` given (`--registries-conf`) says `blocked =
    /// true` for the `[[registry]]` that matches the reference: nodes
    /// using it refuse the pull, so nothing was asked.
    Blocked {
        /// The matching table's prefix.
        prefix: String,
        /// The file (or drop-in) and the position of `blocked = true`.
        file: PathBuf,
        line: usize,
        column: usize,
    },
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

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.source, self.credential, self.outcome)
    }
}

impl std::error::Error for RegistryError {}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ErrorKind::Config { detail } = &self.kind {
            return write!(f, "registry client setup: {detail}");
        }
        write!(
            f,
            "{} (registry {}): {}",
            self.reference,
            self.registry,
            describe(&self.registry, &self.kind)
        )
    }
}

/// How a failure at `at` reads: `the registry`-less for the registry itself
/// (`connection refused: …`), else naming the party
/// (`token server http://…/token refused the connection: …`,
/// `proxy http://… : connection refused: …`).
fn at_party(at: &Party, registry_form: &str, other_form: &str, detail: &str) -> String {
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    };
    match at {
        Party::Registry => format!("{registry_form}{detail}"),
        Party::TokenServer(url) => format!("token server {url} {other_form}{detail}"),
        Party::Proxy(url) => format!("proxy {url} : {registry_form}{detail}"),
        Party::Redirect(url) => format!("redirect target {url} {other_form}{detail}"),
    }
}

fn describe(registry: &str, kind: &ErrorKind) -> String {
    use ErrorKind::*;
    match kind {
        NotFound {
            what,
            repository,
            missing,
            registry_said,
        } => {
            let said = registry_said
                .as_ref()
                .map(|s| format!(" (registry said {s})"))
                .unwrap_or_default();
            match missing {
                Missing::Repository => {
                    format!("not found: repository {repository} does not exist{said}")
                }
                Missing::Manifest => format!(
                    "not found: {what} does not exist; the repository exists, the tag or manifest does not{said}"
                ),
                Missing::Unknown => format!(
                    "not found: {what} does not exist (no such repository, tag or manifest){said}"
                ),
            }
        }
        AuthRequired {
            detail,
            looked_in,
            failed_sources,
        } => auth_required(registry, detail, looked_in, failed_sources),
        InvalidCredentials { tried } => {
            format!("{registry} rejected the credentials from {}", list(tried))
        }
        AccessDenied { detail, tried } => format!(
            "access denied{}{}",
            detail_suffix(detail),
            tried_suffix(tried)
        ),
        Tls {
            at,
            detail,
            ca_files,
            ..
        } => {
            let trusted = format!("(trusted: system roots{})", ca_list(ca_files));
            at_party(
                at,
                "TLS failure",
                "failed the TLS handshake",
                &format!("{detail} {trusted}"),
            )
        }
        ConnectionRefused { at, detail } => at_party(
            at,
            "connection refused",
            "refused the connection",
            detail,
        ),
        HostNotFound { at, detail } => at_party(at, "host not found", "was not found", detail),
        Timeout { at, detail } => at_party(at, "timed out", "timed out", detail),
        Network { at, detail } => at_party(at, "connection failed", "connection failed", detail),
        ServerError { at, status, times } => {
            let times = if *times == 1 {
                "once".to_string()
            } else {
                format!("{times} times")
            };
            match at {
                Party::Registry => format!("the registry answered {status} {times}"),
                other => at_party(other, "", &format!("answered {status} {times}"), ""),
            }
        }
        RateLimited {
            at,
            retry_after,
            limit,
        } => {
            let left = limit
                .as_ref()
                .map(|l| format!(", {}", l.left()))
                .unwrap_or_default();
            let wait = retry_after
                .map(|d| format!(", retry after {}s", d.as_secs()))
                .unwrap_or_default();
            let after = format!("{left}{wait}");
            match at {
                Party::Registry => format!("rate limited (HTTP 429){after}"),
                other => at_party(other, "", &format!("rate limited (HTTP 429){after}"), ""),
            }
        }
        InsecureRedirect {
            from, how, target, ..
        } => format!(
            "refused to go from HTTPS to plain HTTP: {from} {how} {target}, and no credential or request goes over plain HTTP to a host not named with --plain-http"
        ),
        RedirectLoop { target, hops } => format!(
            "too many redirects: gave up after {hops} at {target} (a redirect loop?)"
        ),
        Schema1 { media_type } => format!(
            "manifest is Docker schema 1 ({media_type}), which is deprecated and not supported; the image must be re-pushed"
        ),
        NotAManifest { request, got } => format!(
            "not an image manifest: {request} answered {got}; only OCI and Docker v2 manifests and indexes are accepted, and nothing else is locked"
        ),
        DigestMismatch {
            claimed_by,
            claimed,
            computed,
        } => format!(
            "digest mismatch: {claimed_by} said {claimed}, the body received hashes to {computed}"
        ),
        PlatformNotFound { wanted, available } => format!(
            "no manifest for platform {wanted}; available: {}",
            if available.is_empty() {
                "none".to_string()
            } else {
                available.join(", ")
            }
        ),
        Protocol { at, detail } => match at {
            Party::Registry => format!("protocol error: {detail}"),
            other => at_party(other, "protocol error", "broke the protocol", detail),
        },
        Config { detail } => detail.clone(),
        Blocked {
            prefix,
            file,
            line,
            column,
        } => format!(
            "blocked: {}:{line}:{column} sets `blocked = true` for the prefix {prefix:?}, so nodes using that configuration refuse to pull it; not resolved",
            file.display()
        ),
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
    /// An error about `reference` at `registry`.
    pub fn new(
        reference: impl Into<String>,
        registry: impl Into<String>,
        kind: ErrorKind,
    ) -> RegistryError {
        RegistryError {
            reference: reference.into(),
            registry: registry.into(),
            kind,
        }
    }

    /// A client setup error (no reference yet).
    pub fn config(detail: impl Into<String>) -> RegistryError {
        RegistryError::new(
            "",
            "",
            ErrorKind::Config {
                detail: detail.into(),
            },
        )
    }

    /// The stable machine name of the kind (see the table on
    /// [`RegistryError`]); failures at the token server are
    /// `token-server`, failures reaching a proxy `proxy`.
    pub fn code(&self) -> &'static str {
        use ErrorKind::*;
        let at = self.party();
        match at {
            Some(Party::TokenServer(_)) => return "token-server",
            Some(Party::Proxy(_)) => return "proxy",
            _ => {}
        }
        match &self.kind {
            NotFound { .. } => "not-found",
            AuthRequired { .. } => "auth-required",
            InvalidCredentials { .. } => "invalid-credentials",
            AccessDenied { .. } => "access-denied",
            Tls { .. } => "tls",
            ConnectionRefused { .. } => "connection-refused",
            HostNotFound { .. } => "host-not-found",
            Timeout { .. } => "timeout",
            Network { .. } => "network",
            ServerError { .. } => "server-error",
            RateLimited { .. } => "rate-limited",
            RedirectLoop { .. } => "redirect-loop",
            InsecureRedirect { .. } => "insecure-redirect",
            Schema1 { .. } => "schema1",
            NotAManifest { .. } => "not-a-manifest",
            DigestMismatch { .. } => "digest-mismatch",
            PlatformNotFound { .. } => "platform-not-found",
            Protocol { .. } => "protocol",
            Config { .. } => "config",
            Blocked { .. } => "blocked",
        }
    }

    /// Who failed, for the kinds that can be someone else than the registry.
    pub fn party(&self) -> Option<&Party> {
        use ErrorKind::*;
        match &self.kind {
            Tls { at, .. }
            | ConnectionRefused { at, .. }
            | HostNotFound { at, .. }
            | Timeout { at, .. }
            | Network { at, .. }
            | ServerError { at, .. }
            | RateLimited { at, .. }
            | Protocol { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The registry host named in the error (none for a setup error).
    pub fn registry(&self) -> Option<&str> {
        Some(self.registry.as_str()).filter(|r| !r.is_empty())
    }

    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        use ErrorKind::*;
        let registry = &self.registry;
        let proxy_hint = |url: &str| {
            format!("check HTTPS_PROXY / HTTP_PROXY (and NO_PROXY): the proxy {url} is used for {registry}")
        };
        let token_hint = |url: &str| {
            format!("{registry} sends clients to the token server {url} for tokens: check that it is up and reachable from here, or retry later")
        };
        let redirect_hint = |url: &str| {
            format!("{registry} redirected to {url}; its storage backend may be down or unreachable from here")
        };
        // TLS failed at the redirect target: the redirect chose HTTPS,
        // whatever `--plain-http` says about the registry.
        if let (Some(Party::Redirect(url)), Tls { http_reply, .. }) = (self.party(), &self.kind) {
            return Some(if *http_reply {
                format!("{registry} redirected to {url}, which answers plain HTTP on an https:// URL: the registry's redirect (its configured external URL) is wrong; --plain-http names the registry asked, not where it redirects. Tell its operator")
            } else {
                format!("{registry} redirected to {url}, whose certificate is not trusted: pass --ca-file with the CA that signed it")
            });
        }
        match self.party() {
            Some(Party::Proxy(url)) => return Some(proxy_hint(url)),
            Some(Party::TokenServer(url)) => return Some(token_hint(url)),
            Some(Party::Redirect(url)) => return Some(redirect_hint(url)),
            _ => {}
        }
        Some(match &self.kind {
            HostNotFound { .. } => {
                format!("check the registry host name `{registry}` and DNS (or HTTPS_PROXY)")
            }
            ConnectionRefused { .. } => {
                format!("is a registry listening on {registry}? check the host and port")
            }
            Tls {
                http_reply: true, ..
            } => format!("add `--plain-http {registry}` if this registry speaks HTTP"),
            Tls { .. } => format!(
                "pass --ca-file with the CA that signed {registry}'s certificate, or put it in /etc/docker/certs.d/{registry}/ca.crt"
            ),
            AuthRequired { failed_sources, .. } => {
                let mut h = format!(
                    "log in (`docker login {registry}` writes $DOCKER_CONFIG/config.json or ~/.docker/config.json), give the pod an imagePullSecrets Secret for {registry}, or pass --pull-secret FILE"
                );
                if !failed_sources.is_empty() {
                    h.push_str("; fix the failed credential source named above");
                }
                h
            }
            InvalidCredentials { tried } => fix_hint(registry, tried),
            AccessDenied { tried, .. } if !tried.is_empty() => format!(
                "the credentials tried have no pull access to this repository on {registry}; check the repository name and what {} may pull",
                tried[0].source
            ),
            AccessDenied { .. } => format!(
                "the credentials used for {registry} have no pull access to this repository; check the repository name and its permissions"
            ),
            NotFound {
                missing: Missing::Repository,
                ..
            } => format!(
                "check the repository name (and its namespace) on {registry}; a private repository may also answer not found to credentials that cannot see it"
            ),
            NotFound {
                missing: Missing::Manifest,
                ..
            } => "check the tag: it may have been deleted or never pushed".into(),
            Timeout { .. } => "raise --timeout, or check the network and proxy settings".into(),
            ServerError { .. } => format!(
                "{registry} has a problem on its side: retry later, or check the registry's status page"
            ),
            RateLimited {
                limit: Some(limit), ..
            } => super::budget::rate_limit_hint(registry, &limit.per_window()),
            RateLimited { .. } if registry == "docker.io" => super::budget::rate_limit_hint(
                registry,
                "100 anonymous pulls per 6 h window per IP address (200 for a free account)",
            ),
            RateLimited { .. } => "wait and try again, or lower --concurrency".into(),
            RedirectLoop { .. } => format!(
                "{registry} (or a proxy in front of it) redirects in a loop; tell its operator"
            ),
            InsecureRedirect { target_host, .. } => format!(
                "a registry served over HTTPS should not send clients to plain HTTP: tell the operator of {registry}; if {target_host} is meant to be reached over plain HTTP, name it with --plain-http {target_host}"
            ),
            Schema1 { .. } => {
                "re-push the image with a current client so it is stored as Docker schema 2 or OCI"
                    .into()
            }
            NotAManifest { request, .. } => format!(
                "something other than {registry}'s manifest API answered (a login page, a proxy, a mirror serving another kind of file): check the registry address and what `{request}` returns"
            ),
            DigestMismatch { .. } => {
                "a proxy or cache between here and the registry may be altering responses".into()
            }
            PlatformNotFound { .. } => "ask for one of the available platforms".into(),
            Blocked { file, .. } => format!(
                "use an image from a registry that is not blocked (or copy it to one and change the reference), or remove `blocked = true` from {} if the block no longer applies",
                file.display()
            ),
            NotFound { .. } | Network { .. } | Protocol { .. } | Config { .. } => return None,
        })
    }

    /// The registry refused the credentials tried (or wanted some): the
    /// tag may still resolve with other credentials.
    pub fn is_access(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::AuthRequired { .. }
                | ErrorKind::InvalidCredentials { .. }
                | ErrorKind::AccessDenied { .. }
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_reference_registry_and_party() {
        let e = RegistryError::new(
            "nginx:1.99",
            "docker.io",
            ErrorKind::NotFound {
                what: "docker.io/library/nginx:1.99".into(),
                repository: "docker.io/library/nginx".into(),
                missing: Missing::Unknown,
                registry_said: None,
            },
        );
        assert_eq!(
            e.to_string(),
            "nginx:1.99 (registry docker.io): not found: docker.io/library/nginx:1.99 does not exist (no such repository, tag or manifest)"
        );
        assert_eq!(e.code(), "not-found");
        let e = RegistryError::new(
            "r",
            "h:1",
            ErrorKind::Tls {
                at: Party::Registry,
                detail: "bad".into(),
                ca_files: vec!["/ca.pem".into()],
                http_reply: true,
            },
        );
        assert!(e.to_string().contains("/ca.pem"));
        assert!(e.hint().unwrap().contains("--plain-http h:1"));
        let e = RegistryError::new(
            "r",
            "h:1",
            ErrorKind::ConnectionRefused {
                at: Party::TokenServer("http://t/token".into()),
                detail: "os error 111".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "r (registry h:1): token server http://t/token refused the connection: os error 111"
        );
        assert_eq!(e.code(), "token-server");
        assert!(e.hint().unwrap().contains("http://t/token"));
        let e = RegistryError::new(
            "r",
            "h:1",
            ErrorKind::HostNotFound {
                at: Party::Proxy("http://p.invalid:3128/".into()),
                detail: "dns error".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "r (registry h:1): proxy http://p.invalid:3128/ : host not found: dns error"
        );
        assert_eq!(e.code(), "proxy");
        assert!(!e.hint().unwrap().contains("check the registry host name"));
        let e = RegistryError::new(
            "r",
            "h:1",
            ErrorKind::ServerError {
                at: Party::Registry,
                status: "503 Service Unavailable".into(),
                times: 4,
            },
        );
        assert_eq!(
            e.to_string(),
            "r (registry h:1): the registry answered 503 Service Unavailable 4 times"
        );
        assert!(e.hint().unwrap().contains("retry later"));
        assert_eq!(
            RegistryError::config("bad CA").to_string(),
            "registry client setup: bad CA"
        );
    }

    #[test]
    fn docker_hub_429_without_limit_headers_still_names_the_window() {
        let e = RegistryError::new(
            "nginx:1",
            "docker.io",
            ErrorKind::RateLimited {
                at: Party::Registry,
                retry_after: None,
                limit: None,
            },
        );
        assert_eq!(
            e.to_string(),
            "nginx:1 (registry docker.io): rate limited (HTTP 429)"
        );
        let hint = e.hint().unwrap();
        assert!(hint.contains("per 6 h window"), "{hint}");
        assert!(hint.contains("`docker login docker.io`"), "{hint}");
        let other = RegistryError::new("r", "h:1", e.kind.clone());
        assert_eq!(
            other.hint().unwrap(),
            "wait and try again, or lower --concurrency"
        );
    }
}
