//! How to reach each registry host: TLS trust (system roots, `--ca-file`,
//! Docker's `certs.d`), plain HTTP, the proxy from the environment, the
//! redirect policy (no loops, and no `https` → `http` redirect to a host
//! not named with `--plain-http`). Builds the HTTP clients; sends nothing itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;

use super::error::RegistryError;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Extra PEM CA files trusted for every registry, besides the system roots.
    pub ca_files: Vec<PathBuf>,
    /// Hosts (`host` = any port, or `host:port`) spoken to over plain HTTP.
    pub plain_http: Vec<String>,
    /// Requests in flight at most in [`super::Client::resolve_all`]
    /// (default `usize::MAX`: only the limits per registry apply).
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
            concurrency: usize::MAX,
            timeout: Duration::from_secs(30),
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
        }
    }
}

/// Redirects followed at most per request.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// The error a redirect policy stops with, found again in the reqwest
/// error's source chain to name the target.
#[derive(Debug)]
pub(crate) struct RedirectStop {
    /// The target refused, without query.
    pub target: String,
    /// Redirects followed before it.
    pub hops: usize,
}

impl std::fmt::Display for RedirectStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped after {} redirects at {}",
            self.hops, self.target
        )
    }
}

impl std::error::Error for RedirectStop {}

/// The error the redirect policy stops an `https` → `http` redirect with
/// (to a host not named with `--plain-http`).
#[derive(Debug)]
pub(crate) struct DowngradeStop {
    /// The `https` URL that redirected, without query.
    pub from: String,
    /// The `http` target refused, without query.
    pub target: String,
    /// `host[:port]` of the target, as `--plain-http` would name it.
    pub target_host: String,
}

impl std::fmt::Display for DowngradeStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused the redirect from {} to plain HTTP {}",
            self.from, self.target
        )
    }
}

impl std::error::Error for DowngradeStop {}

/// `host[:port]` of `url` as `--plain-http` names it (the port only when
/// the URL gives one).
pub(crate) fn url_domain(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Whether `domain` (`host` or `host:port`) is listed in `plain_http`.
/// A listed `host` covers every port of that host; `host:port` only that
/// port.
pub(crate) fn listed_plain_http(plain_http: &[String], domain: &str) -> bool {
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
    plain_http.iter().any(|p| {
        let p = p.trim().to_ascii_lowercase();
        p == domain || p == host_only
    })
}

/// Where requests were last redirected, by the URL first asked: reqwest's
/// error for a failed redirect target names only the first URL, so the
/// redirect policy records the target here for the error to blame it.
#[derive(Debug, Default)]
pub(crate) struct Redirects {
    last: Mutex<HashMap<String, Url>>,
}

impl Redirects {
    fn record(&self, first: &Url, target: &Url) {
        self.lock().insert(first.to_string(), target.clone());
    }

    /// Where a request to `first` was last redirected, forgetting it.
    pub(crate) fn take(&self, first: &Url) -> Option<Url> {
        self.lock().remove(first.as_str())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Url>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A URL as it may be shown: no credentials, no query, no fragment.
pub(crate) fn shown(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The proxies from the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
/// `ALL_PROXY`, `NO_PROXY`, upper or lower case), decided here rather than
/// inside reqwest so that an error can name the proxy a request went
/// through.
#[derive(Debug, Clone, Default)]
pub(crate) struct Proxies {
    http: Option<Url>,
    https: Option<Url>,
    /// `NO_PROXY` entries, lower-cased: `*`, a host (and its subdomains),
    /// `.domain`, `host:port`, an IP address, a CIDR range.
    no_proxy: Vec<String>,
}

fn env_var(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

fn proxy_url(v: &str) -> Option<Url> {
    let with_scheme = if v.contains("://") {
        v.to_string()
    } else {
        format!("http://{v}")
    };
    Url::parse(&with_scheme).ok().filter(|u| u.host().is_some())
}

impl Proxies {
    pub(crate) fn from_env() -> Proxies {
        let all = env_var(&["ALL_PROXY", "all_proxy"]);
        let https = env_var(&["HTTPS_PROXY", "https_proxy"]).or(all.clone());
        // Like curl and reqwest: lower-case `http_proxy` only where a CGI
        // environment cannot set it (`HTTP_PROXY` is honoured too, as
        // reqwest does outside CGI).
        let http = env_var(&["HTTP_PROXY", "http_proxy"]).or(all);
        let no_proxy = env_var(&["NO_PROXY", "no_proxy"])
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        Proxies {
            http: http.as_deref().and_then(proxy_url),
            https: https.as_deref().and_then(proxy_url),
            no_proxy,
        }
    }

    /// The proxy a request to `url` goes through, if any.
    pub(crate) fn for_url(&self, url: &Url) -> Option<&Url> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        let host = url
            .host_str()?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let host_port = url
            .port_or_known_default()
            .map(|p| format!("{host}:{p}"))
            .unwrap_or_else(|| host.clone());
        let ip = host.parse::<std::net::IpAddr>().ok();
        let excluded = self.no_proxy.iter().any(|entry| {
            let e = entry.trim_start_matches("*.").trim_start_matches('.');
            entry == "*"
                || e == host
                || e == host_port
                || host.ends_with(&format!(".{e}"))
                || ip.is_some_and(|ip| in_cidr(ip, e))
        });
        (!excluded).then_some(proxy)
    }
}

/// Whether `ip` is in `cidr` (`10.0.0.0/8`, `fd00::/8`).
fn in_cidr(ip: std::net::IpAddr, cidr: &str) -> bool {
    use std::net::IpAddr;
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn load_pem_certs(path: &Path) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let pem = fs_err::read(path)
        .map_err(|e| RegistryError::config(format!("cannot read CA file: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        RegistryError::config(format!(
            "CA file {} is not PEM certificates: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(RegistryError::config(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The HTTP clients: one shared, one per registry with its own `certs.d`
/// CA, and one per extra connection lane.
pub(crate) struct Hosts {
    pub config: RegistryConfig,
    shared: reqwest::Client,
    /// Clients by (domain with its own CA, or empty; lane).
    per_host: Mutex<HashMap<(String, usize), LaneClient>>,
    /// Loaded `--ca-file` certificates, to build per-host clients.
    extra_certs: Vec<reqwest::Certificate>,
    pub proxies: Arc<Proxies>,
    pub redirects: Arc<Redirects>,
}

/// A client and the CA files it trusts besides the system roots.
type LaneClient = (reqwest::Client, Vec<PathBuf>);

/// How to reach one registry.
pub(crate) struct Route {
    pub http: reqwest::Client,
    pub scheme: &'static str,
    /// CA files trusted besides the system roots (for TLS messages).
    pub ca_files: Vec<PathBuf>,
}

impl Hosts {
    pub(crate) fn new(config: RegistryConfig) -> Result<Hosts, RegistryError> {
        let mut extra_certs = Vec::new();
        for f in &config.ca_files {
            extra_certs.extend(load_pem_certs(f)?);
        }
        let proxies = Arc::new(Proxies::from_env());
        let redirects = Arc::new(Redirects::default());
        let shared = build_http(&config, &extra_certs, &proxies, &redirects)?;
        Ok(Hosts {
            config,
            shared,
            per_host: Mutex::new(HashMap::new()),
            extra_certs,
            proxies,
            redirects,
        })
    }

    /// Whether `domain` (`host` or `host:port`) is listed in `plain_http`.
    /// A listed `host` covers every port of that host; `host:port` only that
    /// port.
    pub(crate) fn is_plain_http(&self, domain: &str) -> bool {
        listed_plain_http(&self.config.plain_http, domain)
    }

    /// How to reach `domain` over its connection `lane` (0 for all but
    /// the extra connections of `schedule`): plain HTTP, or HTTPS with a
    /// client that trusts the system roots, `--ca-file` and
    /// `<certs_dir>/<domain>/ca.crt`.
    pub(crate) fn route(&self, domain: &str, lane: usize) -> Result<Route, RegistryError> {
        if self.is_plain_http(domain) {
            return Ok(Route {
                http: self.shared.clone(),
                scheme: "http",
                ca_files: Vec::new(),
            });
        }
        let ca = self.config.certs_dir.join(domain).join("ca.crt");
        let own_ca = ca.is_file();
        if !own_ca && lane == 0 {
            return Ok(Route {
                http: self.shared.clone(),
                scheme: "https",
                ca_files: self.config.ca_files.clone(),
            });
        }
        // A lane's client serves that lane of every registry without its
        // own CA (hyper pools connections per host and client).
        let key = (if own_ca { domain } else { "" }.to_string(), lane);
        let mut map = self
            .per_host
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (http, ca_files) = match map.get(&key) {
            Some(c) => c.clone(),
            None => {
                let mut certs = self.extra_certs.clone();
                let mut files = self.config.ca_files.clone();
                if own_ca {
                    certs.extend(load_pem_certs(&ca)?);
                    files.push(ca);
                }
                let client = build_http(&self.config, &certs, &self.proxies, &self.redirects)?;
                map.insert(key, (client.clone(), files.clone()));
                (client, files)
            }
        };
        Ok(Route {
            http,
            scheme: "https",
            ca_files,
        })
    }

    /// How to reach a mirror host with TLS settings of its own (extra CA
    /// files from its configuration, no certificate check) besides
    /// `--ca-file` and its `certs.d` CA; cached per settings.
    pub(crate) fn route_with_tls(
        &self,
        domain: &str,
        ca_files: &[PathBuf],
        skip_verify: bool,
    ) -> Result<Route, RegistryError> {
        if ca_files.is_empty() && !skip_verify {
            return self.route(domain, 0);
        }
        let key = (
            format!(
                "{domain}|{skip_verify}|{}",
                ca_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            usize::MAX,
        );
        let mut map = self
            .per_host
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (http, files) = match map.get(&key) {
            Some(c) => c.clone(),
            None => {
                let mut certs = self.extra_certs.clone();
                let mut files = self.config.ca_files.clone();
                let own = self.config.certs_dir.join(domain).join("ca.crt");
                let mut extra: Vec<PathBuf> = ca_files.to_vec();
                if own.is_file() {
                    extra.push(own);
                }
                for f in &extra {
                    certs.extend(load_pem_certs(f)?);
                    files.push(f.clone());
                }
                let client = build_http_with(
                    &self.config,
                    &certs,
                    &self.proxies,
                    &self.redirects,
                    skip_verify,
                )?;
                map.insert(key, (client.clone(), files.clone()));
                (client, files)
            }
        };
        Ok(Route {
            http,
            scheme: "https",
            ca_files: files,
        })
    }
}

fn build_http(
    config: &RegistryConfig,
    certs: &[reqwest::Certificate],
    proxies: &Arc<Proxies>,
    redirects: &Arc<Redirects>,
) -> Result<reqwest::Client, RegistryError> {
    build_http_with(config, certs, proxies, redirects, false)
}

fn build_http_with(
    config: &RegistryConfig,
    certs: &[reqwest::Certificate],
    proxies: &Arc<Proxies>,
    redirects: &Arc<Redirects>,
    skip_verify: bool,
) -> Result<reqwest::Client, RegistryError> {
    let for_proxy = proxies.clone();
    let seen = redirects.clone();
    let plain_http = config.plain_http.clone();
    // No downgrade: once a request went over TLS, a redirect to plain HTTP
    // is followed only to a host the user named with `--plain-http` (reqwest
    // would otherwise re-send `Authorization` to the same host and port in
    // cleartext).
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        let hops = attempt.previous().len();
        let looped = attempt.previous().contains(attempt.url());
        let from_tls = attempt.previous().iter().any(|u| u.scheme() == "https");
        let target_host = url_domain(attempt.url());
        if from_tls
            && attempt.url().scheme() != "https"
            && !listed_plain_http(&plain_http, &target_host)
        {
            let from = attempt.previous().last().map(shown).unwrap_or_default();
            let target = shown(attempt.url());
            attempt.error(DowngradeStop {
                from,
                target,
                target_host,
            })
        } else if looped || hops > MAX_REDIRECTS {
            let target = shown(attempt.url());
            attempt.error(RedirectStop { target, hops })
        } else {
            if let Some(first) = attempt.previous().first() {
                seen.record(first, attempt.url());
            }
            attempt.follow()
        }
    });
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("imagelock/", env!("CARGO_PKG_VERSION")))
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(15)))
        .pool_max_idle_per_host(config.concurrency.clamp(1, 1024))
        .redirect(redirects)
        .no_proxy()
        .proxy(reqwest::Proxy::custom(move |url| {
            for_proxy.for_url(url).cloned()
        }));
    for c in certs {
        b = b.add_root_certificate(c.clone());
    }
    if skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build()
        .map_err(|e| RegistryError::config(format!("cannot build HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(plain: &[&str]) -> Hosts {
        Hosts::new(RegistryConfig {
            plain_http: plain.iter().map(std::string::ToString::to_string).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn plain_http_matching() {
        let h = hosts(&["localhost", "127.0.0.1:5000"]);
        assert!(h.is_plain_http("localhost"));
        assert!(h.is_plain_http("localhost:5000"));
        assert!(h.is_plain_http("127.0.0.1:5000"));
        assert!(!h.is_plain_http("127.0.0.1:5001"));
        assert!(!h.is_plain_http("127.0.0.1"));
        assert!(!h.is_plain_http("ghcr.io"));
    }

    #[test]
    fn bad_ca_file_is_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        fs_err::write(&p, "not a cert").unwrap();
        let e = Hosts::new(RegistryConfig {
            ca_files: vec![p.clone()],
            ..Default::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
        assert_eq!(e.code(), "config");
    }

    #[test]
    fn no_proxy_matching_and_shown_urls() {
        let p = Proxies {
            http: proxy_url("http://user:secret@proxy:3128"),
            https: proxy_url("proxy:3128"),
            no_proxy: vec![
                "internal.example".into(),
                ".corp".into(),
                "10.0.0.1:5000".into(),
                "192.168.0.0/16".into(),
                "fd00::/8".into(),
            ],
        };
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(p.for_url(&u("https://ghcr.io/v2/")).is_some());
        assert!(p.for_url(&u("https://internal.example/v2/")).is_none());
        assert!(p.for_url(&u("https://reg.internal.example/v2/")).is_none());
        assert!(p.for_url(&u("https://a.corp/v2/")).is_none());
        assert!(p.for_url(&u("http://10.0.0.1:5000/v2/")).is_none());
        assert!(p.for_url(&u("http://10.0.0.1:5001/v2/")).is_some());
        assert!(p.for_url(&u("https://192.168.4.5:5000/v2/")).is_none());
        assert!(p.for_url(&u("https://192.169.4.5/v2/")).is_some());
        assert!(p.for_url(&u("https://[fd12::1]:5000/v2/")).is_none());
        assert!(p.for_url(&u("https://[fe80::1]/v2/")).is_some());
        let shown_proxy = shown(p.for_url(&u("http://x/")).unwrap());
        assert_eq!(shown_proxy, "http://proxy:3128/");
        assert_eq!(
            shown(&u("https://s3.example/b?X-Amz-Signature=abc")),
            "https://s3.example/b"
        );
    }
}
