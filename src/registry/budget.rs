//! The registry budget: what a registry says is left of its pull limit
//! (`ratelimit-limit` / `ratelimit-remaining`, Docker Hub's `100;w=21600`
//! form), and how many of the requests it counts this run made.
//!
//! Docker Hub counts manifest GETs, not HEADs; imagelock counts the GETs of
//! `/v2/<name>/manifests/<reference>` a registry answered with a manifest
//! (2xx). Figures are kept per normalised registry (`docker.io`), the
//! latest answer winning; shared by every request of a run, so behind a
//! mutex. Never records `docker-ratelimit-source` beyond the run's JSON
//! (it is the caller's IP address or account id, not a secret).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};

/// Below this share of the limit left, the line is a warning.
const LOW_PERCENT: u64 = 10;

/// A registry's limit as one answer stated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window (`ratelimit-limit`).
    pub limit: u64,
    /// Requests left in this window (`ratelimit-remaining`).
    pub remaining: u64,
    /// The window (`w=` in seconds), when stated.
    pub window: Option<Duration>,
    /// `docker-ratelimit-source`: whom the registry counts (an IP address
    /// or an account id).
    pub source: Option<String>,
}

impl RateLimit {
    /// The limit an answer's headers state; `None` unless both
    /// `ratelimit-limit` and `ratelimit-remaining` are readable.
    pub fn from_headers(h: &HeaderMap) -> Option<RateLimit> {
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
        let (limit, limit_window) = parse_value(get("ratelimit-limit")?)?;
        let (remaining, remaining_window) = parse_value(get("ratelimit-remaining")?)?;
        Some(RateLimit {
            limit,
            remaining,
            window: limit_window.or(remaining_window).map(Duration::from_secs),
            source: get("docker-ratelimit-source")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
    }

    /// `100 pulls per 6 h window`, for a hint.
    pub fn per_window(&self) -> String {
        match self.window {
            Some(w) => format!("{} pulls per {} window", self.limit, window_text(w)),
            None => format!("{} pulls per window", self.limit),
        }
    }

    /// `96 of 100 pulls left in this 6 h window`.
    pub fn left(&self) -> String {
        let window = self
            .window
            .map(|w| format!(" in this {} window", window_text(w)))
            .unwrap_or_default();
        format!("{} of {} pulls left{window}", self.remaining, self.limit)
    }
}

/// `100;w=21600` (or `100`, or `100, 100;w=21600` as some proxies merge
/// them: the first figure counts) → (100, Some(21600)).
fn parse_value(v: &str) -> Option<(u64, Option<u64>)> {
    let first = v.split(',').next()?;
    let mut parts = first.split(';');
    let n = parts.next()?.trim().parse().ok()?;
    let window = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == "w").then(|| v.trim().parse().ok()).flatten()
    });
    Some((n, window))
}

/// What to do about a registry that allows `allows` (`100 pulls per 6 h
/// window`) and refuses or is about to refuse: wait, or authenticate so
/// pulls count against an account (the sources imagelock reads).
pub(crate) fn rate_limit_hint(registry: &str, allows: &str) -> String {
    format!(
        "{registry} allows {allows}; wait for the window to refill, or authenticate so pulls count against an account: `docker login {registry}` (read from $DOCKER_CONFIG/config.json or ~/.docker/config.json, credential helpers included), an imagePullSecrets Secret for {registry} in the pod, --pull-secret FILE, or podman's auth.json"
    )
}

/// `6 h`, `30 min`, `90 s`.
pub(crate) fn window_text(w: Duration) -> String {
    let s = w.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// One registry's figures at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryBudget {
    /// Normalised registry (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    pub limit: u64,
    pub remaining: u64,
    pub window_seconds: Option<u64>,
    /// Manifest GETs this run made that the registry answered with a
    /// manifest.
    pub counted_requests: u64,
    /// Whom the registry counts (`docker-ratelimit-source`), when it said.
    pub source: Option<String>,
}

impl RegistryBudget {
    /// Fewer than 10% of the limit left.
    pub fn is_low(&self) -> bool {
        self.remaining.saturating_mul(100) < self.limit.saturating_mul(LOW_PERCENT)
    }

    /// The hint of a warning about a low budget.
    pub fn hint(&self) -> String {
        rate_limit_hint(&self.registry, &self.rate_limit().per_window())
    }

    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            limit: self.limit,
            remaining: self.remaining,
            window: self.window_seconds.map(Duration::from_secs),
            source: None,
        }
    }
}

/// `docker.io: 96 of 100 pulls left in this 6 h window; imagelock made 0
/// counted requests`.
impl fmt::Display for RegistryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.counted_requests;
        write!(
            f,
            "{}: {}; imagelock made {n} counted request{}",
            self.registry,
            self.rate_limit().left(),
            if n == 1 { "" } else { "s" }
        )
    }
}

#[derive(Debug, Default)]
struct Figures {
    latest: Option<RateLimit>,
    counted: u64,
}

/// The run's figures per registry; shared by every request.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    by_registry: Mutex<BTreeMap<String, Figures>>,
}

impl Budget {
    /// Record an answer from `registry`: its limit headers, and whether it
    /// was a request the registry counts.
    pub(crate) fn answered(
        &self,
        registry: &str,
        method: &Method,
        url: &Url,
        status: StatusCode,
        headers: &HeaderMap,
    ) {
        let limit = RateLimit::from_headers(headers);
        let counted = *method == Method::GET && status.is_success() && is_manifest(url);
        if limit.is_none() && !counted {
            return;
        }
        let mut map = self
            .by_registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let figures = map.entry(registry.to_string()).or_default();
        if limit.is_some() {
            figures.latest = limit;
        }
        if counted {
            figures.counted += 1;
        }
    }

    /// The figures of every registry that stated a limit, by registry.
    pub(crate) fn report(&self) -> Vec<RegistryBudget> {
        let map = self
            .by_registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.iter()
            .filter_map(|(registry, f)| {
                let l = f.latest.as_ref()?;
                Some(RegistryBudget {
                    registry: registry.clone(),
                    limit: l.limit,
                    remaining: l.remaining,
                    window_seconds: l.window.map(|w| w.as_secs()),
                    counted_requests: f.counted,
                    source: l.source.clone(),
                })
            })
            .collect()
    }
}

/// `/v2/<name>/manifests/<reference>`.
fn is_manifest(url: &Url) -> bool {
    let path = url.path();
    path.starts_with("/v2/")
        && path
            .rsplit_once("/manifests/")
            .is_some_and(|(name, r)| name.len() > "/v2".len() && !r.is_empty() && !r.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn reads_docker_hub_headers() {
        let h = headers(&[
            ("ratelimit-limit", "100;w=21600"),
            ("ratelimit-remaining", "96;w=21600"),
            ("docker-ratelimit-source", "203.0.113.7"),
        ]);
        let l = RateLimit::from_headers(&h).unwrap();
        assert_eq!(
            l,
            RateLimit {
                limit: 100,
                remaining: 96,
                window: Some(Duration::from_secs(21600)),
                source: Some("203.0.113.7".into()),
            }
        );
        assert_eq!(l.left(), "96 of 100 pulls left in this 6 h window");
        assert_eq!(l.per_window(), "100 pulls per 6 h window");
        assert_eq!(
            RateLimit::from_headers(&headers(&[
                ("ratelimit-limit", "200"),
                ("ratelimit-remaining", "5")
            ]))
            .unwrap()
            .left(),
            "5 of 200 pulls left"
        );
        assert_eq!(
            RateLimit::from_headers(&headers(&[("ratelimit-limit", "100;w=21600")])),
            None
        );
        assert_eq!(
            RateLimit::from_headers(&headers(&[
                ("ratelimit-limit", "lots"),
                ("ratelimit-remaining", "5")
            ])),
            None
        );
    }

    #[test]
    fn windows_read_well() {
        assert_eq!(window_text(Duration::from_secs(21600)), "6 h");
        assert_eq!(window_text(Duration::from_secs(1800)), "30 min");
        assert_eq!(window_text(Duration::from_secs(90)), "90 s");
    }

    #[test]
    fn counts_manifest_gets_answered_and_keeps_the_latest_limit() {
        let b = Budget::default();
        let url = |p: &str| Url::parse(&format!("https://r.example{p}")).unwrap();
        let none = HeaderMap::new();
        let limit = |rem: &str| {
            headers(&[
                ("ratelimit-limit", "100;w=21600"),
                ("ratelimit-remaining", rem),
            ])
        };
        let ok = StatusCode::OK;
        let m = "/v2/library/nginx/manifests/1.25";
        b.answered("docker.io", &Method::HEAD, &url(m), ok, &limit("99"));
        b.answered("docker.io", &Method::GET, &url(m), ok, &limit("98"));
        b.answered(
            "docker.io",
            &Method::GET,
            &url(m),
            StatusCode::UNAUTHORIZED,
            &none,
        );
        b.answered(
            "docker.io",
            &Method::GET,
            &url("/v2/library/nginx/blobs/sha256:ab"),
            ok,
            &none,
        );
        b.answered(
            "docker.io",
            &Method::GET,
            &url("/v2/library/nginx/tags/list"),
            ok,
            &none,
        );
        // Counted requests without limit headers: no line.
        b.answered("quay.io", &Method::GET, &url(m), ok, &none);
        let report = b.report();
        assert_eq!(report.len(), 1);
        assert_eq!(
            report[0].to_string(),
            "docker.io: 98 of 100 pulls left in this 6 h window; imagelock made 1 counted request"
        );
        assert!(!report[0].is_low());
        b.answered("docker.io", &Method::HEAD, &url(m), ok, &limit("9"));
        assert!(b.report()[0].is_low());
    }
}
