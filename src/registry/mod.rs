//! Registry access: resolve image tags to digests over the OCI distribution
//! API (`HEAD /v2/<name>/manifests/<tag>`).
//!
//! Built on reqwest (rustls, HTTP/2 where offered, one shared connection
//! pool per [`RegistryConfig`]); see ARCHITECTURE.md for why not
//! `oci-client`.

mod auth;
mod error;
pub mod manifest;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::StreamExt as _;
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};

use crate::credentials::{Candidate, Credential, Keychain, Lookup, PodSecrets, Query, Secret};
use crate::reference::{Digest, Reference};

pub use auth::{parse_challenges, Challenge};
pub use error::{RegistryError, Tried};
pub use manifest::Platform;

use auth::{Failure, Issued, RegistryAuth, Slot};
use error::{classify, Transport};

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Extra PEM CA files trusted for every registry, besides the system roots.
    pub ca_files: Vec<PathBuf>,
    /// Hosts (`host` = any port, or `host:port`) spoken to over plain HTTP.
    pub plain_http: Vec<String>,
    /// Requests in flight at most in [`Client::resolve_all`].
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Docker's per-registry CA directory: `<certs_dir>/<host[:port]>/ca.crt`.
    pub certs_dir: PathBuf,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            ca_files: Vec::new(),
            plain_http: Vec::new(),
            concurrency: 64,
            timeout: Duration::from_secs(30),
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
        }
    }
}

/// What a reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Digest of the manifest or index the tag points at.
    pub digest: Digest,
    /// Its media type, when the registry said (none for digest-only
    /// references resolved without a request).
    pub media_type: Option<String>,
    /// Requested platform (its `Display`) → child manifest digest.
    pub platforms: BTreeMap<String, Digest>,
}

/// 429s retried at most this many times.
const MAX_RATE_LIMIT_RETRIES: u32 = 3;
/// Longest `Retry-After` we wait for; beyond that we report the 429.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Retries for 5xx and connection resets on idempotent requests.
const MAX_TRANSIENT_RETRIES: u32 = 3;
/// Manifests larger than this are refused (the spec suggests 4 MiB).
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Resolves references against registries. Cheap to share (`&Client` in
/// many tasks); holds the connection pool and the token cache.
pub struct Client {
    config: RegistryConfig,
    keychain: Arc<dyn Keychain>,
    http: reqwest::Client,
    /// Clients for registries with their own `certs.d` CA.
    per_host: Mutex<HashMap<String, (reqwest::Client, Vec<PathBuf>)>>,
    auth: Mutex<HashMap<String, Arc<RegistryAuth>>>,
    /// Loaded `--ca-file` certificates, to build per-host clients.
    extra_certs: Vec<reqwest::Certificate>,
}

/// One image to resolve, with the pull secrets of the pod that uses it.
#[derive(Debug, Clone)]
pub struct Request {
    pub reference: Reference,
    pub pod: Option<Arc<PodSecrets>>,
}

impl Request {
    /// Requests for references used in no pod.
    pub fn without_pod(refs: &[Reference]) -> Vec<Request> {
        refs.iter()
            .map(|r| Request {
                reference: r.clone(),
                pod: None,
            })
            .collect()
    }
}

/// Which reference and registry a request is for; used in every error.
struct Ctx<'a> {
    reference: &'a Reference,
    /// The credentials to try, in order.
    lookup: Arc<Lookup>,
    /// Normalised domain (`docker.io`).
    registry: &'a str,
    /// Host we talk to (`registry-1.docker.io`).
    api_host: String,
    scheme: &'static str,
    http: reqwest::Client,
    ca_files: Vec<PathBuf>,
}

impl Ctx<'_> {
    fn reference(&self) -> String {
        self.reference.original().to_string()
    }
    fn registry(&self) -> String {
        self.registry.to_string()
    }
    fn protocol(&self, detail: impl Into<String>) -> RegistryError {
        RegistryError::Protocol {
            reference: self.reference(),
            registry: self.registry(),
            detail: detail.into(),
        }
    }
    fn url(&self, rest: &str) -> String {
        format!(
            "{}://{}/v2/{}/{}",
            self.scheme,
            self.api_host,
            self.reference.path(),
            rest
        )
    }
    fn transport(&self, err: &reqwest::Error, what: &str) -> RegistryError {
        let (reference, registry) = (self.reference(), self.registry());
        match classify(err) {
            Transport::Timeout(d) => RegistryError::Timeout {
                reference,
                registry,
                detail: format!("{what}: {d}"),
            },
            Transport::Dns(detail) => RegistryError::HostNotFound {
                reference,
                registry,
                detail,
            },
            Transport::Refused(detail) => RegistryError::ConnectionRefused {
                reference,
                registry,
                detail,
            },
            Transport::Tls { detail, http_reply } => RegistryError::Tls {
                reference,
                registry,
                detail,
                ca_files: self.ca_files.clone(),
                http_reply,
            },
            Transport::Other(d) => RegistryError::Network {
                reference,
                registry,
                detail: format!("{what}: {d}"),
            },
        }
    }
    /// The error for a request whose every credential was refused.
    fn auth_error(&self, tried: Vec<(Tried, Failure)>, last: Option<Failure>) -> RegistryError {
        let denied = tried.iter().any(|(_, f)| matches!(f, Failure::Denied(_)));
        let tried: Vec<Tried> = tried.into_iter().map(|(t, _)| t).collect();
        let (reference, registry) = (self.reference(), self.registry());
        if tried.is_empty() {
            return match last {
                Some(Failure::Denied(detail)) => RegistryError::AccessDenied {
                    reference,
                    registry,
                    detail,
                    tried,
                },
                other => RegistryError::AuthRequired {
                    reference,
                    registry,
                    detail: other.map(|f| f.detail().to_string()).unwrap_or_default(),
                    looked_in: self.lookup.searched.clone(),
                    failed_sources: self.lookup.failures.clone(),
                },
            };
        }
        if denied {
            RegistryError::AccessDenied {
                reference,
                registry,
                detail: String::new(),
                tried,
            }
        } else {
            RegistryError::InvalidCredentials {
                reference,
                registry,
                tried,
            }
        }
    }
}

fn load_pem_certs(path: &Path) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let pem = std::fs::read(path).map_err(|e| RegistryError::Config {
        detail: format!("cannot read CA file {}: {e}", path.display()),
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| RegistryError::Config {
        detail: format!("CA file {} is not PEM certificates: {e}", path.display()),
    })?;
    if certs.is_empty() {
        return Err(RegistryError::Config {
            detail: format!("CA file {} holds no PEM certificate", path.display()),
        });
    }
    Ok(certs)
}

fn basic_header(username: &str, password: &Secret) -> Secret {
    let raw = format!("{username}:{}", password.expose());
    Secret::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// `Retry-After` in seconds (the HTTP-date form is treated as unknown).
fn retry_after(h: &HeaderMap) -> Option<u64> {
    header_str(h, RETRY_AFTER.as_str()).and_then(|v| v.parse().ok())
}

impl Client {
    pub fn new(
        config: RegistryConfig,
        keychain: Arc<dyn Keychain>,
    ) -> Result<Client, RegistryError> {
        let mut extra_certs = Vec::new();
        for f in &config.ca_files {
            extra_certs.extend(load_pem_certs(f)?);
        }
        let http = Self::build_http(&config, &extra_certs)?;
        Ok(Client {
            config,
            keychain,
            http,
            per_host: Mutex::new(HashMap::new()),
            auth: Mutex::new(HashMap::new()),
            extra_certs,
        })
    }

    fn build_http(
        config: &RegistryConfig,
        certs: &[reqwest::Certificate],
    ) -> Result<reqwest::Client, RegistryError> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("imagelock/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(15)))
            .pool_max_idle_per_host(config.concurrency.max(1));
        for c in certs {
            b = b.add_root_certificate(c.clone());
        }
        b.build().map_err(|e| RegistryError::Config {
            detail: format!("cannot build HTTP client: {e}"),
        })
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Whether `domain` (`host` or `host:port`) is listed in `plain_http`.
    /// A listed `host` covers every port of that host; `host:port` only that
    /// port.
    fn is_plain_http(&self, domain: &str) -> bool {
        let domain = domain.to_ascii_lowercase();
        let host_only = match domain.rsplit_once(':') {
            Some((h, port))
                if !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && (!h.contains(':') || h.ends_with(']')) =>
            {
                h
            }
            _ => domain.as_str(),
        };
        self.config.plain_http.iter().any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == domain || p == host_only
        })
    }

    /// The HTTP client for `domain`: the shared one, or one that also trusts
    /// `<certs_dir>/<domain>/ca.crt`.
    fn http_for(&self, domain: &str) -> Result<(reqwest::Client, Vec<PathBuf>), RegistryError> {
        let ca = self.config.certs_dir.join(domain).join("ca.crt");
        if !ca.is_file() {
            return Ok((self.http.clone(), self.config.ca_files.clone()));
        }
        let mut map = self.per_host.lock().unwrap();
        if let Some(c) = map.get(domain) {
            return Ok(c.clone());
        }
        let mut certs = self.extra_certs.clone();
        certs.extend(load_pem_certs(&ca)?);
        let client = Self::build_http(&self.config, &certs)?;
        let mut files = self.config.ca_files.clone();
        files.push(ca);
        map.insert(domain.to_string(), (client.clone(), files.clone()));
        Ok((client, files))
    }

    fn registry_auth(&self, domain: &str) -> Arc<RegistryAuth> {
        let mut map = self.auth.lock().unwrap();
        map.entry(domain.to_string())
            .or_insert_with(|| Arc::new(RegistryAuth::new()))
            .clone()
    }

    /// Ask the keychain about `reference` in `pod`, off the runtime's
    /// worker threads (a helper or plugin may be slow).
    pub async fn lookup(&self, reference: &Reference, pod: Option<Arc<PodSecrets>>) -> Arc<Lookup> {
        let keychain = self.keychain.clone();
        let repository = reference.name();
        let ask = move || {
            keychain.lookup(&Query {
                repository: &repository,
                pod: pod.as_deref(),
            })
        };
        Arc::new(off_runtime(ask).await)
    }

    /// Warnings from the keychain (a helper missing from PATH, a plugin
    /// that failed), each once.
    pub fn credential_warnings(&self) -> Vec<String> {
        self.keychain.warnings()
    }

    fn ctx<'a>(
        &self,
        reference: &'a Reference,
        lookup: Arc<Lookup>,
    ) -> Result<Ctx<'a>, RegistryError> {
        let domain = reference.domain();
        let api_host = if domain == "docker.io" {
            "registry-1.docker.io".to_string()
        } else {
            domain.to_string()
        };
        let plain = self.is_plain_http(domain);
        let (http, ca_files) = if plain {
            (self.http.clone(), Vec::new())
        } else {
            self.http_for(domain)?
        };
        Ok(Ctx {
            reference,
            lookup,
            registry: domain,
            api_host,
            scheme: if plain { "http" } else { "https" },
            http,
            ca_files,
        })
    }

    /// Resolve the reference's tag (`latest` when it has none; for
    /// `name:tag@digest` the tag). A digest-only reference returns its own
    /// digest without a request unless platforms are asked.
    ///
    /// With platforms: an index maps each to its child manifest; a single
    /// manifest is read as single-platform (its config blob says which) and
    /// maps the platforms it satisfies to itself; any other platform is a
    /// [`RegistryError::PlatformNotFound`] naming what is available.
    pub async fn resolve(
        &self,
        reference: &Reference,
        platforms: &[Platform],
    ) -> Result<Resolved, RegistryError> {
        let lookup = self.lookup(reference, None).await;
        self.resolve_with(reference, platforms, lookup).await
    }

    /// [`Client::resolve`] with the credentials already looked up.
    pub async fn resolve_with(
        &self,
        reference: &Reference,
        platforms: &[Platform],
        lookup: Arc<Lookup>,
    ) -> Result<Resolved, RegistryError> {
        let ctx = self.ctx(reference, lookup)?;
        let (digest, media_type, body) = match (reference.tag(), reference.digest()) {
            (None, Some(d)) => {
                if platforms.is_empty() {
                    return Ok(Resolved {
                        digest: d.clone(),
                        media_type: None,
                        platforms: BTreeMap::new(),
                    });
                }
                (d.clone(), None, None)
            }
            (tag, _) => self.head_manifest(&ctx, tag.unwrap_or("latest")).await?,
        };
        let mut resolved = Resolved {
            digest,
            media_type,
            platforms: BTreeMap::new(),
        };
        if platforms.is_empty() {
            return Ok(resolved);
        }
        let (body, media_type) = match body {
            Some(b) => (b, resolved.media_type.clone()),
            None => {
                let (b, mt) = self
                    .get_manifest(&ctx, &resolved.digest.to_string(), Some(&resolved.digest))
                    .await?;
                (b, mt)
            }
        };
        if resolved.media_type.is_none() {
            resolved.media_type = media_type.clone();
        }
        resolved.platforms = self
            .platforms(
                &ctx,
                &resolved.digest,
                &body,
                media_type.as_deref(),
                platforms,
            )
            .await?;
        Ok(resolved)
    }

    /// Resolve many references (no pod credentials), at most `concurrency`
    /// in flight, each distinct normalised reference asked once. Results
    /// come in input order; `on_done` is called once per input reference
    /// as its result is known.
    pub async fn resolve_all(
        &self,
        refs: &[Reference],
        platforms: &[Platform],
        on_done: &(dyn Fn() + Sync),
    ) -> Vec<Result<Resolved, RegistryError>> {
        self.resolve_requests(&Request::without_pod(refs), platforms, on_done)
            .await
    }

    /// Resolve references each with its pod's credentials. The keychain is
    /// asked once per (repository, pod), all registries at once; each
    /// distinct (reference, credential list) is one question to the
    /// registry, so two pods with different pull secrets are both tried.
    pub async fn resolve_requests(
        &self,
        requests: &[Request],
        platforms: &[Platform],
        on_done: &(dyn Fn() + Sync),
    ) -> Vec<Result<Resolved, RegistryError>> {
        // 1. Credentials: one blocking task per registry, so a slow helper
        // for one registry never holds up another.
        // Pods that share Secrets share one `PodSecrets` (the index caches
        // them), so its address identifies the credential set.
        let pod_id = |r: &Request| r.pod.as_ref().map_or(0, |p| Arc::as_ptr(p) as usize);
        // registry → (repository, pod id, pod) to ask about.
        type Asks = Vec<(String, usize, Option<Arc<PodSecrets>>)>;
        let mut by_registry: BTreeMap<String, Asks> = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for r in requests {
            let repo = r.reference.name();
            if seen.insert((repo.clone(), pod_id(r))) {
                by_registry
                    .entry(r.reference.domain().to_string())
                    .or_default()
                    .push((repo, pod_id(r), r.pod.clone()));
            }
        }
        let tasks = by_registry.into_values().map(|asks| {
            let keychain = self.keychain.clone();
            let run = move || {
                asks.into_iter()
                    .map(|(repo, pid, pod)| {
                        let l = keychain.lookup(&Query {
                            repository: &repo,
                            pod: pod.as_deref(),
                        });
                        ((repo, pid), Arc::new(l))
                    })
                    .collect::<Vec<_>>()
            };
            off_runtime(run)
        });
        let lookups: HashMap<(String, usize), Arc<Lookup>> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .flatten()
            .collect();

        // 2. Questions: distinct (reference, credential identities).
        let mut key_index: HashMap<(String, Vec<u64>), usize> = HashMap::new();
        let mut first_ref: Vec<usize> = Vec::new();
        let mut slot_of = Vec::with_capacity(requests.len());
        let mut lookup_of: Vec<Arc<Lookup>> = Vec::new();
        for (i, req) in requests.iter().enumerate() {
            let r = &req.reference;
            let name = match (r.tag(), r.digest()) {
                (None, Some(d)) => format!("{}@{}", r.name(), d),
                (t, _) => format!("{}:{}", r.name(), t.unwrap_or("latest")),
            };
            let lookup = lookups
                .get(&(r.name(), pod_id(req)))
                .cloned()
                .unwrap_or_default();
            let key = (name, lookup.identity());
            let idx = *key_index.entry(key).or_insert_with(|| {
                first_ref.push(i);
                lookup_of.push(lookup);
                first_ref.len() - 1
            });
            slot_of.push(idx);
        }
        let mut counts = vec![0usize; first_ref.len()];
        for &s in &slot_of {
            counts[s] += 1;
        }
        let mut results: Vec<Option<Result<Resolved, RegistryError>>> = vec![None; first_ref.len()];
        // Boxed as `dyn Future + Send`: without it rustc's higher-ranked
        // lifetime inference makes the whole future lose `Send`.
        type Job<'a> = std::pin::Pin<
            Box<
                dyn std::future::Future<Output = (usize, Result<Resolved, RegistryError>)>
                    + Send
                    + 'a,
            >,
        >;
        let jobs: Vec<Job<'_>> = first_ref
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let r = &requests[i].reference;
                let lookup = lookup_of[k].clone();
                Box::pin(async move { (k, self.resolve_with(r, platforms, lookup).await) })
                    as Job<'_>
            })
            .collect();
        let mut stream =
            futures::stream::iter(jobs).buffer_unordered(self.config.concurrency.max(1));
        while let Some((k, res)) = stream.next().await {
            results[k] = Some(res);
            for _ in 0..counts[k] {
                on_done();
            }
        }
        slot_of
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let res = results[k].clone().expect("every key resolved");
                // Errors name the reference as written at the first
                // occurrence; re-resolve the message for duplicates.
                let original = requests[i].reference.original();
                match res {
                    Err(e) if original != requests[first_ref[k]].reference.original() => {
                        Err(rename(e, original))
                    }
                    other => other,
                }
            })
            .collect()
    }

    /// HEAD the manifest for `tag`; GET only when HEAD gives no digest or
    /// is not allowed. Returns the digest, the media type and the body when
    /// a GET was made.
    async fn head_manifest(
        &self,
        ctx: &Ctx<'_>,
        tag: &str,
    ) -> Result<(Digest, Option<String>, Option<Vec<u8>>), RegistryError> {
        let url = ctx.url(&format!("manifests/{tag}"));
        let resp = self
            .send(ctx, Method::HEAD, &url, manifest::ACCEPT_ALL)
            .await?;
        let status = resp.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            let (body, mt) = self.get_manifest(ctx, tag, None).await?;
            return Ok((Digest::sha256_of(&body), mt, Some(body)));
        }
        self.check_status(ctx, &resp, tag)?;
        let mt = header_str(resp.headers(), CONTENT_TYPE.as_str()).map(manifest::essence);
        if let Some(m) = &mt {
            if manifest::is_schema1(m) {
                return Err(RegistryError::Schema1 {
                    reference: ctx.reference(),
                    registry: ctx.registry(),
                    media_type: m.clone(),
                });
            }
        }
        match header_str(resp.headers(), "docker-content-digest").filter(|d| !d.is_empty()) {
            Some(d) => {
                let digest = Digest::parse(d).map_err(|_| {
                    ctx.protocol(format!("invalid Docker-Content-Digest header {d:?}"))
                })?;
                Ok((digest, mt.filter(|m| !m.is_empty()), None))
            }
            None => {
                let (body, mt) = self.get_manifest(ctx, tag, None).await?;
                Ok((Digest::sha256_of(&body), mt, Some(body)))
            }
        }
    }

    /// GET a manifest by tag or digest. The body's sha256 must equal
    /// `expected` (when given) and any `Docker-Content-Digest` header.
    async fn get_manifest(
        &self,
        ctx: &Ctx<'_>,
        tag_or_digest: &str,
        expected: Option<&Digest>,
    ) -> Result<(Vec<u8>, Option<String>), RegistryError> {
        let url = ctx.url(&format!("manifests/{tag_or_digest}"));
        let resp = self
            .send(ctx, Method::GET, &url, manifest::ACCEPT_ALL)
            .await?;
        self.check_status(ctx, &resp, tag_or_digest)?;
        let header = header_str(resp.headers(), "docker-content-digest")
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let mt = header_str(resp.headers(), CONTENT_TYPE.as_str()).map(manifest::essence);
        let body = self.read_body(ctx, resp).await?;
        let parsed: Option<manifest::AnyManifest> = serde_json::from_slice(&body).ok();
        let body_mt = parsed.as_ref().and_then(|m| m.media_type.clone());
        let mt = mt
            .filter(|m| !m.is_empty() && m != "application/json" && m != "text/plain")
            .or(body_mt);
        let schema1 = parsed.as_ref().and_then(|m| m.schema_version) == Some(1);
        if schema1 || mt.as_deref().is_some_and(manifest::is_schema1) {
            return Err(RegistryError::Schema1 {
                reference: ctx.reference(),
                registry: ctx.registry(),
                media_type: mt.unwrap_or_else(|| manifest::DOCKER_V1_SIGNED.into()),
            });
        }
        let computed = Digest::sha256_of(&body);
        let mut claimed: Vec<String> = header.into_iter().collect();
        if let Some(e) = expected {
            claimed.push(e.to_string());
        }
        for c in claimed {
            let ok = match Digest::parse(&c) {
                Ok(d) if d.algorithm() == "sha256" => d == computed,
                // Other algorithms: cannot check here; trust the header.
                Ok(_) => true,
                Err(_) => false,
            };
            if !ok {
                return Err(RegistryError::DigestMismatch {
                    reference: ctx.reference(),
                    registry: ctx.registry(),
                    header: c,
                    computed: computed.to_string(),
                });
            }
        }
        Ok((body, mt))
    }

    async fn read_body(&self, ctx: &Ctx<'_>, mut resp: Response) -> Result<Vec<u8>, RegistryError> {
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    body.extend_from_slice(&c);
                    if body.len() > MAX_MANIFEST_BYTES {
                        return Err(ctx
                            .protocol(format!("manifest larger than {MAX_MANIFEST_BYTES} bytes")));
                    }
                }
                Ok(None) => return Ok(body),
                Err(e) => return Err(ctx.transport(&e, "reading manifest body")),
            }
        }
    }

    /// Map a non-success status to its error. `what` is the tag or digest.
    fn check_status(
        &self,
        ctx: &Ctx<'_>,
        resp: &Response,
        what: &str,
    ) -> Result<(), RegistryError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let (reference, registry) = (ctx.reference(), ctx.registry());
        Err(match status {
            StatusCode::NOT_FOUND => {
                let sep = if what.contains(':') { "@" } else { ":" };
                RegistryError::NotFound {
                    reference,
                    registry,
                    what: format!("{}{sep}{what}", ctx.reference.name()),
                }
            }
            StatusCode::TOO_MANY_REQUESTS => RegistryError::RateLimited {
                reference,
                registry,
                retry_after: retry_after(resp.headers()),
            },
            StatusCode::UNAUTHORIZED => RegistryError::AuthRequired {
                reference,
                registry,
                detail: String::new(),
                looked_in: ctx.lookup.searched.clone(),
                failed_sources: ctx.lookup.failures.clone(),
            },
            StatusCode::FORBIDDEN => RegistryError::AccessDenied {
                reference,
                registry,
                detail: "the registry answered 403 Forbidden".into(),
                tried: Vec::new(),
            },
            StatusCode::BAD_REQUEST if ctx.scheme == "http" => RegistryError::Protocol {
                reference,
                registry: registry.clone(),
                detail: format!(
                    "HTTP 400 over plain HTTP; if {registry} speaks HTTPS, drop it from --plain-http"
                ),
            },
            s => RegistryError::Protocol {
                reference,
                registry,
                detail: format!("unexpected HTTP status {s}"),
            },
        })
    }

    /// Send with authentication: learn the challenge from a 401, then try
    /// the request's credential candidates in order. A candidate the
    /// registry or its token server refuses is remembered per (credential,
    /// scope) and the next one is tried, as the kubelet does; anonymous only
    /// when there is no candidate. Returns the first response that is not a
    /// 401/403 (which the caller maps).
    async fn send(
        &self,
        ctx: &Ctx<'_>,
        method: Method,
        url: &str,
        accept: &str,
    ) -> Result<Response, RegistryError> {
        let reg = self.registry_auth(ctx.registry);
        let lookup = ctx.lookup.clone();
        let cands = &lookup.candidates;
        let mut scope = format!("repository:{}:pull", ctx.reference.path());
        let mut idx = 0usize;
        let mut tried: Vec<(Tried, Failure)> = Vec::new();
        let record = |tried: &mut Vec<(Tried, Failure)>, c: &Candidate, f: Failure| {
            tried.push((
                Tried {
                    source: c.source.clone(),
                    credential: c.credential.describe(),
                    outcome: f.detail().to_string(),
                },
                f,
            ));
        };
        for _ in 0..(cands.len() * 3 + 4) {
            if !cands.is_empty() && idx >= cands.len() {
                return Err(ctx.auth_error(tried, None));
            }
            let cand = cands.get(idx);
            // First contact with a registry goes alone: the others wait for
            // its 401 to teach the challenge instead of all collecting one.
            let mut gate = None;
            if !reg.contacted.load(Ordering::SeqCst) {
                let g = reg.gate.lock().await;
                if !reg.contacted.load(Ordering::SeqCst) {
                    gate = Some(g);
                }
            }
            let issued = match self.issue(ctx, &reg, cand, &scope).await {
                Ok(i) => i,
                Err(Step::Refused(f)) => match cand {
                    Some(c) => {
                        record(&mut tried, c, f);
                        idx += 1;
                        continue;
                    }
                    None => return Err(ctx.auth_error(tried, Some(f))),
                },
                Err(Step::Fatal(e)) => return Err(e),
            };
            let sent = self
                .send_retrying(
                    ctx,
                    method.clone(),
                    url,
                    accept,
                    issued.header.as_ref().map(Secret::expose),
                )
                .await;
            if gate.is_some() {
                reg.contacted.store(true, Ordering::SeqCst);
            }
            let resp = sent?;
            match resp.status() {
                StatusCode::UNAUTHORIZED => {
                    let challenges = parse_challenges(
                        resp.headers()
                            .get_all(WWW_AUTHENTICATE)
                            .iter()
                            .filter_map(|v| v.to_str().ok()),
                    );
                    let ch = challenges
                        .iter()
                        .find(|c| c.scheme == "bearer" && c.param("realm").is_some())
                        .or_else(|| challenges.iter().find(|c| c.scheme == "basic"))
                        .cloned();
                    let Some(ch) = ch else {
                        let f = Failure::AuthRequired(
                            "the registry answered 401 without a Basic or Bearer challenge".into(),
                        );
                        match cand {
                            Some(c) if issued.header.is_some() => {
                                if self.refuse(&reg, &issued, f.clone()).await {
                                    record(&mut tried, c, f);
                                    idx += 1;
                                }
                                continue;
                            }
                            _ => return Err(ctx.auth_error(tried, Some(f))),
                        }
                    };
                    let insufficient = ch.param("error") == Some("insufficient_scope");
                    let mut scope_changed = false;
                    if ch.scheme == "bearer" {
                        if let Some(s) = ch.param("scope").filter(|s| !s.is_empty()) {
                            scope_changed = s != scope;
                            scope = s.to_string();
                        }
                    }
                    let known = reg.challenge();
                    let same_scheme = known.as_ref().is_some_and(|k| k.scheme == ch.scheme);
                    reg.set_challenge(ch);
                    if issued.header.is_none() || !same_scheme || scope_changed {
                        // First contact (or the scheme changed): retry with
                        // a header for the challenge just learned.
                        continue;
                    }
                    let Some(c) = cand else {
                        return Err(ctx.auth_error(
                            tried,
                            Some(Failure::AuthRequired(format!(
                                "anonymous access to {scope} refused"
                            ))),
                        ));
                    };
                    let f = if insufficient {
                        Failure::Denied(format!(
                            "access denied: the registry refused the token for {scope} (insufficient_scope)"
                        ))
                    } else {
                        Failure::BadCredentials("the registry answered 401".into())
                    };
                    if self.refuse(&reg, &issued, f.clone()).await {
                        record(&mut tried, c, f);
                        idx += 1;
                    }
                }
                StatusCode::FORBIDDEN => {
                    let Some(c) = cand.filter(|_| issued.header.is_some()) else {
                        // Nothing else to try: the caller maps the 403.
                        return Ok(resp);
                    };
                    let f = Failure::Denied(
                        "access denied: the registry answered 403 Forbidden".into(),
                    );
                    if self.refuse(&reg, &issued, f.clone()).await {
                        record(&mut tried, c, f);
                        idx += 1;
                    }
                }
                _ => return Ok(resp),
            }
        }
        Err(ctx.auth_error(
            tried,
            Some(Failure::AuthRequired(
                "gave up after repeated 401 answers".into(),
            )),
        ))
    }

    /// Remember that the credential behind `issued` was refused under its
    /// scope. False when another request already replaced that header (then
    /// the same credential is tried again with the new one).
    async fn refuse(&self, reg: &RegistryAuth, issued: &Issued, failure: Failure) -> bool {
        let Some(key) = &issued.slot else {
            return true;
        };
        let slot = reg.slot(key);
        let mut s = slot.lock().await;
        if s.refused.is_some() {
            return true;
        }
        if s.generation != issued.generation {
            return false;
        }
        s.refused = Some(failure);
        s.header = None;
        s.expires = None;
        s.generation += 1;
        true
    }

    /// The `Authorization` header for the next request of `cand` (None:
    /// anonymous) under `scope`: from the slot, or a new one (a token
    /// fetched once for every concurrent request of that slot).
    async fn issue(
        &self,
        ctx: &Ctx<'_>,
        reg: &RegistryAuth,
        cand: Option<&Candidate>,
        scope: &str,
    ) -> Result<Issued, Step> {
        let Some(ch) = reg.challenge() else {
            return Ok(Issued {
                header: None,
                generation: 0,
                slot: None,
            });
        };
        let basic = ch.scheme == "basic";
        let key = (
            cand.map_or(0, Candidate::id),
            if basic {
                "basic".to_string()
            } else {
                scope.to_string()
            },
        );
        let slot = reg.slot(&key);
        let mut s = slot.lock().await;
        if let Some(f) = &s.refused {
            return Err(Step::Refused(f.clone()));
        }
        if let (Some(h), Some(exp)) = (&s.header, s.expires) {
            if Instant::now() < exp {
                return Ok(Issued {
                    header: Some(h.clone()),
                    generation: s.generation,
                    slot: Some(key),
                });
            }
        }
        let long = Duration::from_secs(365 * 24 * 3600);
        let refuse = |s: &mut Slot, f: Failure| {
            s.refused = Some(f.clone());
            s.header = None;
            s.generation += 1;
            Err(Step::Refused(f))
        };
        let (header, ttl) =
            match (basic, cand.map(|c| &c.credential)) {
                (true, None) => {
                    return Err(Step::Refused(Failure::AuthRequired(
                        "the registry asks for Basic authentication".into(),
                    )))
                }
                (true, Some(Credential::Basic { username, password })) => {
                    (basic_header(username, password), long)
                }
                (true, Some(_)) => return refuse(
                    &mut s,
                    Failure::Unusable(
                        "the registry asks for Basic authentication, which a token cannot answer"
                            .into(),
                    ),
                ),
                (false, Some(Credential::RegistryToken { token })) => {
                    (Secret::new(format!("Bearer {}", token.expose())), long)
                }
                (false, cred) => match self.fetch_token(ctx, &ch, scope, cred).await {
                    Ok((token, ttl)) => (Secret::new(format!("Bearer {}", token.expose())), ttl),
                    Err(TokenError::Refused(f)) => return refuse(&mut s, f),
                    Err(TokenError::Fatal(e)) => return Err(Step::Fatal(e)),
                },
            };
        s.header = Some(header.clone());
        s.expires = Instant::now().checked_add(ttl);
        s.generation += 1;
        Ok(Issued {
            header: Some(header),
            generation: s.generation,
            slot: Some(key),
        })
    }

    /// A bearer token from the challenge's realm: GET with Basic
    /// credentials (or none), or for an identity token the OAuth2
    /// refresh-token grant (`POST`, as Azure Container Registry expects).
    async fn fetch_token(
        &self,
        ctx: &Ctx<'_>,
        ch: &Challenge,
        scope: &str,
        cred: Option<&Credential>,
    ) -> Result<(Secret, Duration), TokenError> {
        let realm = ch.param("realm").unwrap_or_default();
        let base = reqwest::Url::parse(realm).map_err(|_| {
            TokenError::Fatal(ctx.protocol(format!("invalid token realm {realm:?}")))
        })?;
        let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        let mut url = base.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = ch.param("service") {
                q.append_pair("service", service);
            }
            for s in &scopes {
                q.append_pair("scope", s);
            }
        }
        // Named in messages without its query (which carries no secret,
        // but is noise).
        let realm_name = {
            let mut r = base.clone();
            r.set_query(None);
            r.to_string()
        };
        let mut attempt = 0;
        let resp = loop {
            let req = match cred {
                Some(Credential::IdentityToken { token }) => {
                    let mut form: Vec<(&str, &str)> = vec![
                        ("grant_type", "refresh_token"),
                        ("refresh_token", token.expose()),
                        ("client_id", "imagelock"),
                    ];
                    if let Some(service) = ch.param("service") {
                        form.push(("service", service));
                    }
                    let joined = scopes.join(" ");
                    if !joined.is_empty() {
                        form.push(("scope", &joined));
                    }
                    let body = form_encode(&form);
                    ctx.http
                        .post(base.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(body)
                }
                Some(Credential::Basic { username, password }) => ctx
                    .http
                    .get(url.clone())
                    .header(AUTHORIZATION, basic_header(username, password).expose()),
                _ => ctx.http.get(url.clone()),
            };
            match req.send().await {
                Ok(r)
                    if (r.status().is_server_error()
                        || r.status() == StatusCode::TOO_MANY_REQUESTS)
                        && attempt < MAX_TRANSIENT_RETRIES =>
                {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt, retry_after(r.headers()))).await;
                }
                Ok(r) => break r,
                Err(e) => {
                    let err = ctx.transport(&e, &format!("token server {realm_name}"));
                    if err.is_transient() && attempt < MAX_TRANSIENT_RETRIES {
                        attempt += 1;
                        tokio::time::sleep(backoff(attempt, None)).await;
                        continue;
                    }
                    return Err(TokenError::Fatal(err));
                }
            }
        };
        let status = resp.status();
        let grant = if matches!(cred, Some(Credential::IdentityToken { .. })) {
            " to the refresh-token grant"
        } else {
            ""
        };
        match status {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST if cred.is_some() => {
                return Err(TokenError::Refused(Failure::BadCredentials(format!(
                    "the token server {realm_name} answered {status}{grant}"
                ))))
            }
            StatusCode::UNAUTHORIZED => {
                return Err(TokenError::Refused(Failure::AuthRequired(format!(
                    "the token server {realm_name} refuses anonymous access"
                ))))
            }
            StatusCode::FORBIDDEN => {
                return Err(TokenError::Refused(Failure::Denied(format!(
                    "access denied: the token server {realm_name} refused {scope}"
                ))))
            }
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(TokenError::Fatal(RegistryError::RateLimited {
                    reference: ctx.reference(),
                    registry: ctx.registry(),
                    retry_after: retry_after(resp.headers()),
                }))
            }
            s => {
                return Err(TokenError::Fatal(ctx.protocol(format!(
                    "the token server {realm_name} answered HTTP {s}"
                ))))
            }
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| TokenError::Fatal(ctx.transport(&e, "reading token")))?;
        let parsed: auth::TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            TokenError::Fatal(ctx.protocol(format!(
                "the token server {realm_name} sent a reply that is not token JSON"
            )))
        })?;
        parsed.into_parts().ok_or_else(|| {
            TokenError::Fatal(ctx.protocol(format!("the token server {realm_name} sent no token")))
        })
    }

    /// One request with bounded retries: 429 (honouring `Retry-After` up to
    /// a cap), 5xx and connection resets. Timeouts are not retried.
    async fn send_retrying(
        &self,
        ctx: &Ctx<'_>,
        method: Method,
        url: &str,
        accept: &str,
        authorization: Option<&str>,
    ) -> Result<Response, RegistryError> {
        let mut rate_limited = 0;
        let mut transient = 0;
        loop {
            let mut req = ctx.http.request(method.clone(), url).header(ACCEPT, accept);
            if let Some(a) = authorization {
                req = req.header(AUTHORIZATION, a);
            }
            match req.send().await {
                Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let after = retry_after(resp.headers());
                    let wait = backoff(rate_limited + 1, after);
                    if rate_limited >= MAX_RATE_LIMIT_RETRIES
                        || after.is_some_and(|a| Duration::from_secs(a) > MAX_RETRY_AFTER)
                    {
                        return Err(RegistryError::RateLimited {
                            reference: ctx.reference(),
                            registry: ctx.registry(),
                            retry_after: after,
                        });
                    }
                    rate_limited += 1;
                    tokio::time::sleep(wait).await;
                }
                Ok(resp)
                    if resp.status().is_server_error() && transient < MAX_TRANSIENT_RETRIES =>
                {
                    transient += 1;
                    tokio::time::sleep(backoff(transient, None)).await;
                }
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    let err = ctx.transport(&e, &format!("{method} {url}"));
                    if err.is_transient() && transient < MAX_TRANSIENT_RETRIES {
                        transient += 1;
                        tokio::time::sleep(backoff(transient, None)).await;
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Map requested platforms to child digests.
    async fn platforms(
        &self,
        ctx: &Ctx<'_>,
        digest: &Digest,
        body: &[u8],
        media_type: Option<&str>,
        wanted: &[Platform],
    ) -> Result<BTreeMap<String, Digest>, RegistryError> {
        let parsed: manifest::AnyManifest = serde_json::from_slice(body)
            .map_err(|e| ctx.protocol(format!("manifest {digest} is not valid JSON: {e}")))?;
        let is_index = media_type.is_some_and(manifest::is_index)
            || parsed.media_type.as_deref().is_some_and(manifest::is_index)
            || parsed.manifests.is_some();
        let mut out = BTreeMap::new();
        if is_index {
            let entries: Vec<(Platform, &str)> = parsed
                .manifests
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| {
                    d.platform
                        .as_ref()
                        .map(|p| (p.to_platform(), d.digest.as_str()))
                })
                .collect();
            for want in wanted {
                let Some((_, d)) = entries.iter().find(|(p, _)| want.matches(p)) else {
                    let mut available: Vec<String> = entries
                        .iter()
                        .map(|(p, _)| p.to_string())
                        .filter(|p| p != "unknown/unknown")
                        .collect();
                    available.sort();
                    available.dedup();
                    return Err(RegistryError::PlatformNotFound {
                        reference: ctx.reference(),
                        registry: ctx.registry(),
                        wanted: want.to_string(),
                        available,
                    });
                };
                let d = Digest::parse(d)
                    .map_err(|_| ctx.protocol(format!("index entry has invalid digest {d:?}")))?;
                out.insert(want.to_string(), d);
            }
            return Ok(out);
        }
        // Single-platform image: its config blob says which platform.
        let config = parsed.config.as_ref().ok_or_else(|| {
            ctx.protocol(format!(
                "manifest {digest} has neither manifests nor config"
            ))
        })?;
        let url = ctx.url(&format!("blobs/{}", config.digest));
        let resp = self.send(ctx, Method::GET, &url, "*/*").await?;
        self.check_status(ctx, &resp, &config.digest)?;
        let blob = self.read_body(ctx, resp).await?;
        let raw: manifest::RawPlatform = serde_json::from_slice(&blob).map_err(|e| {
            ctx.protocol(format!(
                "config blob {} is not valid JSON: {e}",
                config.digest
            ))
        })?;
        let have = raw.to_platform();
        for want in wanted {
            if !want.matches(&have) {
                return Err(RegistryError::PlatformNotFound {
                    reference: ctx.reference(),
                    registry: ctx.registry(),
                    wanted: want.to_string(),
                    available: vec![format!("{have} (single-platform image)")],
                });
            }
            out.insert(want.to_string(), digest.clone());
        }
        Ok(out)
    }
}

enum TokenError {
    /// This credential (or anonymity) was refused; try the next candidate.
    Refused(Failure),
    /// Give up.
    Fatal(RegistryError),
}

/// Run blocking work (a keychain lookup may run a helper) off the async
/// runtime's worker threads; inline when there is no runtime.
async fn off_runtime<T: Default + Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::spawn_blocking(f).await.unwrap_or_default(),
        Err(_) => f(),
    }
}

/// What [`Client::issue`] could not do.
enum Step {
    /// This candidate is refused (now or earlier): try the next one.
    Refused(Failure),
    /// Give up on the request.
    Fatal(RegistryError),
}

/// `application/x-www-form-urlencoded` body.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut u = reqwest::Url::parse("http://x/").expect("static URL");
    u.query_pairs_mut().extend_pairs(pairs);
    u.query().unwrap_or_default().to_string()
}

/// Backoff for retry `n` (1-based): `Retry-After` when given (capped), else
/// 200ms, 400ms, 800ms…
fn backoff(n: u32, retry_after: Option<u64>) -> Duration {
    match retry_after {
        Some(s) => Duration::from_secs(s).min(MAX_RETRY_AFTER),
        None => Duration::from_millis(200u64 << (n.saturating_sub(1)).min(6)),
    }
}

/// Put another spelling of the same reference into an error message.
fn rename(e: RegistryError, reference: &str) -> RegistryError {
    use RegistryError::*;
    let mut e = e;
    match &mut e {
        HostNotFound { reference: r, .. }
        | ConnectionRefused { reference: r, .. }
        | Network { reference: r, .. }
        | Tls { reference: r, .. }
        | AuthRequired { reference: r, .. }
        | InvalidCredentials { reference: r, .. }
        | AccessDenied { reference: r, .. }
        | NotFound { reference: r, .. }
        | Timeout { reference: r, .. }
        | RateLimited { reference: r, .. }
        | Schema1 { reference: r, .. }
        | DigestMismatch { reference: r, .. }
        | PlatformNotFound { reference: r, .. }
        | Protocol { reference: r, .. } => *r = reference.to_string(),
        Config { .. } => {}
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_matching() {
        let c = Client::new(
            RegistryConfig {
                plain_http: vec!["localhost".into(), "127.0.0.1:5000".into()],
                ..Default::default()
            },
            Arc::new(crate::credentials::Anonymous),
        )
        .unwrap();
        assert!(c.is_plain_http("localhost"));
        assert!(c.is_plain_http("localhost:5000"));
        assert!(c.is_plain_http("127.0.0.1:5000"));
        assert!(!c.is_plain_http("127.0.0.1:5001"));
        assert!(!c.is_plain_http("127.0.0.1"));
        assert!(!c.is_plain_http("ghcr.io"));
    }

    #[test]
    fn bad_ca_file_is_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a cert").unwrap();
        let e = Client::new(
            RegistryConfig {
                ca_files: vec![p.clone()],
                ..Default::default()
            },
            Arc::new(crate::credentials::Anonymous),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
    }

    #[test]
    fn client_and_futures_are_send() {
        fn is_send<T: Send>(_: &T) {}
        fn is_sync<T: Sync>() {}
        is_sync::<Client>();
        let c = Client::new(
            RegistryConfig::default(),
            Arc::new(crate::credentials::Anonymous),
        )
        .unwrap();
        let r = Reference::parse("example.com/a:b").unwrap();
        let refs = [r.clone()];
        let one = c.resolve(&r, &[]);
        is_send(&one);
        let all = c.resolve_all(&refs, &[], &|| {});
        is_send(&all);
    }

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(1, None), Duration::from_millis(200));
        assert_eq!(backoff(3, None), Duration::from_millis(800));
        assert_eq!(backoff(1, Some(2)), Duration::from_secs(2));
        assert_eq!(backoff(1, Some(10_000)), MAX_RETRY_AFTER);
    }

    #[test]
    fn error_messages_name_reference_and_registry() {
        let e = RegistryError::NotFound {
            reference: "nginx:1.99".into(),
            registry: "docker.io".into(),
            what: "docker.io/library/nginx:1.99".into(),
        };
        assert_eq!(
            e.to_string(),
            "nginx:1.99 (registry docker.io): not found: docker.io/library/nginx:1.99 does not exist (no such repository, tag or manifest)"
        );
        let e = RegistryError::Tls {
            reference: "r".into(),
            registry: "h:1".into(),
            detail: "bad".into(),
            ca_files: vec!["/ca.pem".into()],
            http_reply: true,
        };
        assert!(e.to_string().contains("/ca.pem"));
        assert!(e.hint().unwrap().contains("--plain-http h:1"));
    }
}
