//! Sending one HTTP request with the one retry policy every registry and
//! token request shares, reading bodies with a cap, and naming what failed
//! below HTTP (and who: the registry, its token server, a proxy, a redirect
//! target).
//!
//! Retried: 429 (waiting `Retry-After`, in seconds or as an HTTP date, when
//! it is at most [`MAX_RETRY_AFTER`]), 5xx, broken connections, and a
//! timeout once. Not retried: refused connections, unknown hosts, TLS
//! failures. Logs one `debug` event per request (target
//! `imagelock::registry`): method, URL without query, status, elapsed
//! milliseconds, attempt and the credential source's label, never a header
//! value or a body. Every registry answer, retried ones included, is shown
//! to the run's `budget` (rate-limit headers, counted requests).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, CONTENT_LENGTH, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::budget::{Budget, RateLimit};
use super::config::{shown, DowngradeStop, Proxies, RedirectStop, Redirects};
use super::error::{ErrorKind, Party};

/// The `tracing` target of every registry event.
pub(crate) const TARGET: &str = "imagelock::registry";

/// 429s retried at most this many times.
pub(crate) const MAX_RATE_LIMIT_RETRIES: u32 = 3;
/// Longest `Retry-After` we wait for; beyond that the 429 is reported.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// `Retry-After` values are clamped to this before they are reported.
const MAX_REPORTED_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// 5xx answers and broken connections retried at most this many times.
pub(crate) const MAX_TRANSIENT_RETRIES: u32 = 3;
/// Timeouts retried at most this many times (each costs the whole timeout).
pub(crate) const MAX_TIMEOUT_RETRIES: u32 = 1;

/// Largest manifest read (the distribution spec suggests 4 MiB).
pub(crate) const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Largest image config blob read.
pub(crate) const MAX_CONFIG_BYTES: usize = 8 * 1024 * 1024;
/// Largest token server reply read.
pub(crate) const MAX_TOKEN_REPLY_BYTES: usize = 1024 * 1024;
/// Largest error body read.
pub(crate) const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Who a request goes to and how; one per request site.
pub(crate) struct Call<'a> {
    pub http: &'a reqwest::Client,
    /// The registry, or its token server.
    pub party: Party,
    /// Label of the credential source whose credential goes with the
    /// request (`None`: anonymous). Logged; never the credential.
    pub source: Option<&'a str>,
    pub proxies: &'a Proxies,
    pub redirects: &'a Redirects,
    /// CA files trusted besides the system roots (for TLS messages).
    pub ca_files: &'a [PathBuf],
    /// Where to record the rate-limit headers and counted requests of each
    /// answer, and for which registry (registry requests only).
    pub budget: Option<(&'a Budget, &'a str)>,
}

impl Call<'_> {
    /// Send `method url` (headers and body added by `build`, called for
    /// every attempt) under the retry policy. Any status but 429 and 5xx
    /// is the caller's to map.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, ErrorKind> {
        let (mut rate_limited, mut server_errors, mut broken, mut timeouts) = (0, 0, 0, 0);
        let source = self.source.unwrap_or("anonymous");
        let shown_url = shown(url);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let start = Instant::now();
            let sent = build(self.http.request(method.clone(), url.clone()))
                .send()
                .await;
            let elapsed_ms = start.elapsed().as_millis() as u64;
            let redirected = self.redirects.take(url);
            let resp = match sent {
                Ok(resp) => resp,
                Err(e) => {
                    let kind = self.transport_kind(&e, url, redirected.as_ref());
                    tracing::debug!(
                        target: TARGET,
                        method = %method,
                        url = %shown_url,
                        error = kind_name(&kind),
                        elapsed_ms,
                        attempt,
                        source,
                        "HTTP request failed"
                    );
                    let retry = match &kind {
                        ErrorKind::Network { .. } if broken < MAX_TRANSIENT_RETRIES => {
                            broken += 1;
                            Some(backoff(broken))
                        }
                        ErrorKind::Timeout { .. } if timeouts < MAX_TIMEOUT_RETRIES => {
                            timeouts += 1;
                            Some(backoff(timeouts))
                        }
                        _ => None,
                    };
                    match retry {
                        Some(wait) => {
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        None => return Err(kind),
                    }
                }
            };
            let status = resp.status();
            tracing::debug!(
                target: TARGET,
                method = %method,
                url = %shown_url,
                status = status.as_u16(),
                elapsed_ms,
                attempt,
                source,
                "HTTP request"
            );
            if let Some((budget, registry)) = self.budget {
                budget.answered(registry, &method, url, status, resp.headers());
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let after = retry_after(resp.headers(), SystemTime::now());
                if rate_limited >= MAX_RATE_LIMIT_RETRIES
                    || after.is_some_and(|a| a > MAX_RETRY_AFTER)
                {
                    return Err(ErrorKind::RateLimited {
                        at: self.party.clone(),
                        retry_after: after,
                        limit: RateLimit::from_headers(resp.headers()),
                    });
                }
                rate_limited += 1;
                tokio::time::sleep(after.unwrap_or_else(|| backoff(rate_limited))).await;
                continue;
            }
            if status.is_server_error() {
                server_errors += 1;
                if server_errors > MAX_TRANSIENT_RETRIES {
                    return Err(ErrorKind::ServerError {
                        at: self.party.clone(),
                        status: status.to_string(),
                        times: server_errors,
                    });
                }
                let after = retry_after(resp.headers(), SystemTime::now())
                    .filter(|a| *a <= MAX_RETRY_AFTER);
                tokio::time::sleep(after.unwrap_or_else(|| backoff(server_errors))).await;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Read a body of at most `limit` bytes; `what` names it in the error
    /// (`manifest`, `token reply`).
    pub(crate) async fn read_body(
        &self,
        mut resp: Response,
        limit: usize,
        what: &str,
    ) -> Result<Vec<u8>, ErrorKind> {
        let too_large = || ErrorKind::Protocol {
            at: self.party.clone(),
            detail: format!("the {what} is larger than the {} limit", human_bytes(limit)),
        };
        let declared = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let url = resp.url().clone();
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > limit {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => return Ok(body),
                Err(e) => return Err(self.transport_kind(&e, &url, None)),
            }
        }
    }

    /// Read an error body (capped, never failing: a broken or oversized
    /// error body is no body).
    pub(crate) async fn read_error_body(&self, resp: Response) -> Vec<u8> {
        self.read_body(resp, MAX_ERROR_BODY_BYTES, "error body")
            .await
            .unwrap_or_default()
    }

    /// Name a failure below HTTP, and who failed: a redirect target when
    /// the request had moved to another host, the proxy when connecting
    /// through one failed, else this call's party.
    fn transport_kind(
        &self,
        err: &reqwest::Error,
        url: &Url,
        redirected: Option<&Url>,
    ) -> ErrorKind {
        let t = classify(err);
        if let Transport::Redirect { target, hops } = t {
            return ErrorKind::RedirectLoop { target, hops };
        }
        if let Transport::Downgrade {
            from,
            target,
            target_host,
        } = t
        {
            return ErrorKind::InsecureRedirect {
                from,
                how: "redirected to".into(),
                target,
                target_host,
            };
        }
        let final_url = redirected.or(err.url()).unwrap_or(url);
        // A redirect to another scheme on the same host and port (plain
        // HTTP sent to `https://`) moved the request too: `--plain-http`
        // names the host asked, not where it was sent.
        let moved = final_url.host_str() != url.host_str()
            || final_url.port_or_known_default() != url.port_or_known_default()
            || final_url.scheme() != url.scheme();
        let at = if moved {
            Party::Redirect(shown(final_url))
        } else if let Some(proxy) = self.proxies.for_url(final_url).filter(|_| err.is_connect()) {
            Party::Proxy(shown(proxy))
        } else {
            self.party.clone()
        };
        match t {
            Transport::Timeout(detail) => ErrorKind::Timeout { at, detail },
            Transport::Dns(detail) => ErrorKind::HostNotFound { at, detail },
            Transport::Refused(detail) => ErrorKind::ConnectionRefused { at, detail },
            Transport::Tls { detail, http_reply } => ErrorKind::Tls {
                at,
                detail,
                ca_files: self.ca_files.to_vec(),
                http_reply,
            },
            Transport::Other(detail) => ErrorKind::Network { at, detail },
            Transport::Redirect { .. } | Transport::Downgrade { .. } => {
                unreachable!("handled above")
            }
        }
    }
}

/// The kind's name for a log line.
fn kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Timeout { .. } => "timeout",
        ErrorKind::HostNotFound { .. } => "host not found",
        ErrorKind::ConnectionRefused { .. } => "connection refused",
        ErrorKind::Tls { .. } => "TLS failure",
        ErrorKind::RedirectLoop { .. } => "redirect loop",
        ErrorKind::InsecureRedirect { .. } => "redirect to plain HTTP refused",
        _ => "connection failed",
    }
}

/// `4 MiB`, `64 KiB`, `100 bytes`.
pub(crate) fn human_bytes(n: usize) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// `Retry-After` as a wait from `now`: delay-seconds or an HTTP date.
/// Negative values and dates in the past are no wait; absurd ones are
/// clamped to a day. `None` when absent or unreadable.
pub(crate) fn retry_after(h: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let wait = if digits(v) {
        // Beyond u64: as long as can be, clamped below.
        Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX))
    } else if v.strip_prefix('-').is_some_and(digits) {
        Duration::ZERO
    } else {
        let when = httpdate::parse_http_date(v).ok()?;
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_REPORTED_RETRY_AFTER))
}

/// Backoff for retry `n` (1-based) when the server gave no `Retry-After`:
/// 200ms, 400ms, 800ms… up to 12.8s.
pub(crate) fn backoff(n: u32) -> Duration {
    Duration::from_millis(200u64 << n.saturating_sub(1).min(6))
}

/// What went wrong below HTTP, read from a reqwest error's source chain.
enum Transport {
    Timeout(String),
    Dns(String),
    Refused(String),
    Tls {
        detail: String,
        http_reply: bool,
    },
    Redirect {
        target: String,
        hops: usize,
    },
    Downgrade {
        from: String,
        target: String,
        target_host: String,
    },
    Other(String),
}

/// Classify a reqwest error by walking its source chain.
fn classify(err: &reqwest::Error) -> Transport {
    let mut messages = Vec::new();
    let mut io_kind = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(stop) = e.downcast_ref::<RedirectStop>() {
            return Transport::Redirect {
                target: stop.target.clone(),
                hops: stop.hops,
            };
        }
        if let Some(stop) = e.downcast_ref::<DowngradeStop>() {
            return Transport::Downgrade {
                from: stop.from.clone(),
                target: stop.target.clone(),
                target_host: stop.target_host.clone(),
            };
        }
        messages.push(e.to_string());
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        source = e.source();
    }
    // The innermost message is usually the most precise; reqwest's own
    // outer message names the URL with its query, which is not wanted.
    let detail = messages
        .iter()
        .rev()
        .find(|m| !m.is_empty())
        .cloned()
        .unwrap_or_else(|| "request failed".to_string());
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn after(v: &str, now: SystemTime) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        retry_after(&h, now)
    }

    #[test]
    fn retry_after_seconds_dates_and_nonsense() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(after("-5", now), Some(Duration::ZERO));
        assert_eq!(
            after("99999999999999999999999999", now),
            Some(MAX_REPORTED_RETRY_AFTER)
        );
        let in_7s = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(after(&in_7s, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(70));
        assert_eq!(after(&past, now), Some(Duration::ZERO));
        let far = httpdate::fmt_http_date(now + Duration::from_secs(10 * 365 * 86400));
        assert_eq!(after(&far, now), Some(MAX_REPORTED_RETRY_AFTER));
        assert_eq!(after("soon", now), None);
        assert_eq!(after("1.5", now), None);
    }

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(u32::MAX), Duration::from_millis(200 << 6));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(MAX_MANIFEST_BYTES), "4 MiB");
        assert_eq!(human_bytes(MAX_ERROR_BODY_BYTES), "64 KiB");
        assert_eq!(human_bytes(100), "100 bytes");
    }
}
