//! Registry access: resolve image tags to digests over the OCI distribution
//! API (`HEAD /v2/<name>/manifests/<tag>`).
//!
//! Built on reqwest (rustls, HTTP/2 where offered, one shared connection
//! pool per [`RegistryConfig`] and connection lane); see ARCHITECTURE.md
//! for why not `oci-client`. The parts:
//!
//! - `config`: how to reach a host (TLS trust, plain HTTP, proxies,
//!   redirects);
//! - `transport`: one request under the one retry policy, capped bodies,
//!   transport failures named with who failed;
//! - `auth` and `challenge`: the 401 challenge, token slots, credential
//!   candidates;
//! - `resolve`: manifests by HEAD/GET, digest checks, platforms;
//! - `signatures`: what a registry holds about a digest (cosign's
//!   `sha256-<hex>.sig/.att/.sbom` tags, OCI referrers), data only;
//! - `budget`: the rate limits registries state, and the requests they
//!   count;
//! - `schedule`: how many requests go to each registry at once, over how
//!   many connections;
//! - `error` ([`RegistryError`]) and `error_body`: what went wrong, and
//!   what the registry said about it.
//!
//! This module keeps the [`Client`] and the batch resolution.

// A `RegistryError` is one per failed image, not a hot path; it stays
// unboxed so callers match `err.kind` directly.
#![allow(clippy::result_large_err)]

mod auth;
mod budget;
mod challenge;
mod config;
mod error;
mod error_body;
pub mod manifest;
pub mod mirrors;
mod resolve;
mod schedule;
pub mod signatures;
mod transport;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use reqwest::Url;

use crate::credentials::{Keychain, Lookup, PodSecrets, Query};
use crate::reference::{Digest, Reference};

pub use budget::{RateLimit, RegistryBudget};
pub use challenge::{parse_challenges, Challenge};
pub use config::RegistryConfig;
pub use error::{ErrorKind, Missing, Party, RegistryError, Tried};
pub use manifest::Platform;
pub use signatures::{
    Artifact, CosignLayer, DiscoverOptions, Discovered, FilteredBy, Layer, Referrer,
    ReferrersSource,
};

use auth::RegistryAuth;
use budget::Budget;
use config::{Hosts, Proxies, Redirects};
use transport::Call;

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

/// Resolves references against registries. Cheap to share (`&Client` in
/// many tasks); holds the connection pools and the token cache.
pub struct Client {
    hosts: Hosts,
    keychain: Arc<dyn Keychain>,
    auth: Mutex<HashMap<String, Arc<RegistryAuth>>>,
    budget: Arc<Budget>,
    /// Whether each registry API root serves the referrers API, once one
    /// discovery learned it (see `signatures`).
    referrers_api: signatures::ApiStates,
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

/// Which reference and registry a request is for, and how to reach it;
/// used in every error.
struct Ctx<'a> {
    reference: &'a Reference,
    /// The credentials to try, in order.
    lookup: Arc<Lookup>,
    /// Normalised domain (`docker.io`).
    registry: &'a str,
    /// Host we talk to (`registry-1.docker.io`).
    api_host: String,
    /// The API root (`/v2`; a mirror's configuration may say otherwise).
    root: String,
    scheme: &'static str,
    http: reqwest::Client,
    ca_files: Vec<PathBuf>,
    proxies: Arc<Proxies>,
    redirects: Arc<Redirects>,
    budget: Arc<Budget>,
    /// `--plain-http`: the hosts a request may go to over plain HTTP
    /// after an HTTPS one (a redirect, a token realm).
    plain_http: Vec<String>,
}

impl Ctx<'_> {
    fn err(&self, kind: ErrorKind) -> RegistryError {
        RegistryError::new(self.reference.original(), self.registry, kind)
    }

    fn protocol(&self, detail: impl Into<String>) -> RegistryError {
        self.err(ErrorKind::Protocol {
            at: Party::Registry,
            detail: detail.into(),
        })
    }

    /// `<scheme>://<host>/v2/<repository>/<rest>`.
    fn url(&self, rest: &str) -> Result<Url, RegistryError> {
        let s = format!(
            "{}://{}{}/{}/{}",
            self.scheme,
            self.api_host,
            self.root,
            self.reference.path(),
            rest
        );
        Url::parse(&s).map_err(|e| self.protocol(format!("cannot build the URL {s:?}: {e}")))
    }

    /// A request to `party` with the credential from `source`.
    fn call<'c>(&'c self, party: Party, source: Option<&'c str>) -> Call<'c> {
        let budget = matches!(party, Party::Registry).then_some((&*self.budget, self.registry));
        Call {
            http: &self.http,
            party,
            source,
            proxies: &self.proxies,
            redirects: &self.redirects,
            ca_files: &self.ca_files,
            budget,
        }
    }
}

impl Client {
    pub fn new(
        config: RegistryConfig,
        keychain: Arc<dyn Keychain>,
    ) -> Result<Client, RegistryError> {
        Ok(Client {
            hosts: Hosts::new(config)?,
            keychain,
            auth: Mutex::new(HashMap::new()),
            budget: Arc::new(Budget::default()),
            referrers_api: signatures::ApiStates::default(),
        })
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.hosts.config
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

    /// Requests in flight at most over a batch (`--concurrency`;
    /// `usize::MAX` when not given).
    pub fn concurrency(&self) -> usize {
        self.hosts.config.concurrency.max(1)
    }

    /// What each registry that states a rate limit said last, and how
    /// many requests it counts this client made (see `budget`), by
    /// registry.
    pub fn budget(&self) -> Vec<RegistryBudget> {
        self.budget.report()
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
        lane: usize,
    ) -> Result<Ctx<'a>, RegistryError> {
        let domain = reference.domain();
        let api_host = schedule::api_host(domain).to_string();
        let route = self.hosts.route(domain, lane).map_err(|mut e| {
            e.reference = reference.original().to_string();
            e.registry = domain.to_string();
            e
        })?;
        Ok(Ctx {
            reference,
            lookup,
            registry: domain,
            api_host,
            root: "/v2".to_string(),
            scheme: route.scheme,
            http: route.http,
            ca_files: route.ca_files,
            proxies: self.hosts.proxies.clone(),
            redirects: self.hosts.redirects.clone(),
            budget: self.budget.clone(),
            plain_http: self.hosts.config.plain_http.clone(),
        })
    }

    /// How to ask `endpoint` (a mirror) about `mapped` (the reference at
    /// that host, see [`mirrors::Endpoint::reference`]): its API root, its
    /// scheme (plain HTTP also when `--plain-http` lists the host, or when
    /// `plain` asks for it) and its TLS settings.
    fn ctx_at<'a>(
        &self,
        endpoint: &mirrors::Endpoint,
        mapped: &'a Reference,
        lookup: Arc<Lookup>,
        plain: bool,
    ) -> Result<Ctx<'a>, RegistryError> {
        let mut ctx = self.ctx(mapped, lookup, 0)?;
        if endpoint.upstream && endpoint.tls == mirrors::HostTls::default() {
            return Ok(ctx);
        }
        ctx.root = endpoint.root.clone();
        if plain || endpoint.scheme == "http" || self.hosts.is_plain_http(&endpoint.host) {
            ctx.scheme = "http";
            return Ok(ctx);
        }
        let tls = &endpoint.tls;
        let route = self
            .hosts
            .route_with_tls(
                &endpoint.host,
                &tls.ca_files,
                tls.skip_verify || tls.insecure,
            )
            .map_err(|mut e| {
                e.reference = mapped.original().to_string();
                e.registry = endpoint.host.clone();
                e
            })?;
        ctx.scheme = route.scheme;
        ctx.http = route.http;
        ctx.ca_files = route.ca_files;
        Ok(ctx)
    }

    /// Resolve many references (no pod credentials), all registries at
    /// once, at most `concurrency` requests in flight (see `schedule` for
    /// the limits per registry), each distinct normalised reference asked
    /// once. Results
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
        // 3. Scheduling: every registry at once, each on its own stream
        // (see `schedule`), under the user's `--concurrency` only.
        let cap = tokio::sync::Semaphore::new(
            self.hosts
                .config
                .concurrency
                .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
        );
        let cap = &cap;
        let lookup_of = &lookup_of;
        let first_ref = &first_ref;
        let run = move |k: usize, lane: usize| -> schedule::Job<'_> {
            let r = &requests[first_ref[k]].reference;
            let lookup = lookup_of[k].clone();
            Box::pin(async move {
                let _permit = cap.acquire().await.expect("never closed");
                (k, self.resolve_on(r, platforms, lookup, lane).await)
            })
        };
        let mut by_registry: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (k, &i) in first_ref.iter().enumerate() {
            by_registry
                .entry(requests[i].reference.domain())
                .or_default()
                .push(k);
        }
        let streams = by_registry
            .into_iter()
            .map(|(domain, keys)| self.registry_stream(domain, keys, run));
        let mut stream = futures::stream::select_all(streams);
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
}

/// Run blocking work (a keychain lookup may run a helper) off the async
/// runtime's worker threads; inline when there is no runtime.
async fn off_runtime<T: Default + Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::spawn_blocking(f).await.unwrap_or_default(),
        Err(_) => f(),
    }
}

/// Put another spelling of the same reference into an error message.
fn rename(mut e: RegistryError, reference: &str) -> RegistryError {
    if !e.reference.is_empty() {
        e.reference = reference.to_string();
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
