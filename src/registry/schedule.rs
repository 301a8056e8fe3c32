//! Scheduling one batch: how many requests go to each registry at once and
//! over how many connections.
//!
//! Every registry gets its own stream, and all streams run at once. A
//! registry's first request goes alone (its 401 teaches the challenge, see
//! `auth`); the rest are released by its answer, so no request waits on
//! another registry's first answer while holding a place in the batch.
//! Then:
//!
//! - over HTTP/2 every request is sent at once. hyper keeps to the server's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS` per connection and queues the rest,
//!   so a registry with more tags than one connection carries gets up to
//!   [`MAX_LANES`] connections ("lanes": one `reqwest::Client` each, as
//!   hyper opens one HTTP/2 connection per host and client). The extra
//!   lanes connect while the first request is answered, so their TLS
//!   handshakes cost no round trip of their own;
//! - over HTTP/1.1 (one request per connection at a time) at most
//!   [`HTTP1_PER_HOST`] requests are in flight per registry.
//!
//! The user's `--concurrency` caps requests in flight over the whole batch
//! (a semaphore taken by each request, in `resolve_requests`).

use std::future::Future;
use std::pin::Pin;

use futures::stream::{self, BoxStream, StreamExt as _};
use reqwest::Version;

use super::error::RegistryError;
use super::Client;
use super::Resolved;

/// One question's answer, by its index in the batch.
pub(crate) type Answer = (usize, Result<Resolved, RegistryError>);

/// One question sent over a lane. Boxed as `dyn Future + Send`: without it
/// rustc's higher-ranked lifetime inference makes the whole future lose
/// `Send`.
pub(crate) type Job<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// Connections opened at most to one HTTP/2 registry.
pub(crate) const MAX_LANES: usize = 4;

/// Requests one HTTP/2 connection is assumed to carry at once when
/// deciding how many lanes to open: 100, the smallest limit common servers
/// announce (RFC 9113 recommends at least 100; Go's registries say 250).
pub(crate) const STREAMS_PER_LANE: usize = 100;

/// Requests in flight at most to one HTTP/1.1 registry (each its own
/// connection).
pub(crate) const HTTP1_PER_HOST: usize = 64;

/// Lanes for `questions` requests to one registry: one per
/// [`STREAMS_PER_LANE`], at most [`MAX_LANES`].
pub(crate) fn lanes_for(questions: usize) -> usize {
    questions.div_ceil(STREAMS_PER_LANE).clamp(1, MAX_LANES)
}

impl Client {
    /// The answers for one registry's questions (`keys`, batch indices),
    /// `run(key, lane)` sending one.
    pub(super) fn registry_stream<'a>(
        &'a self,
        domain: &'a str,
        keys: Vec<usize>,
        run: impl Fn(usize, usize) -> Job<'a> + Copy + Send + 'a,
    ) -> BoxStream<'a, Answer> {
        let Some((&first, rest)) = keys.split_first() else {
            return stream::empty().boxed();
        };
        let rest = rest.to_vec();
        let lanes = lanes_for(rest.len());
        if lanes > 1 {
            self.warm_lanes(domain, lanes);
        }
        let reg = self.registry_auth(domain);
        let waiting = reg.clone();
        let after_first = stream::once(async move {
            // Released by the first answer (the challenge), not by the end
            // of the first question, which sends again with a credential.
            waiting.wait_contacted().await;
            // What the first answer came over decides how the rest go.
            let http2 = waiting.version() == Some(Version::HTTP_2);
            let (lanes, in_flight) = if http2 {
                (lanes, rest.len().max(1))
            } else {
                (1, HTTP1_PER_HOST)
            };
            stream::iter(rest.into_iter().enumerate())
                .map(move |(i, k)| run(k, i % lanes))
                .buffer_unordered(in_flight)
        })
        .flatten();
        let first = async move {
            let answer = run(first, 0).await;
            // A question that needed no request (a digest) or failed
            // before sending one releases the rest too.
            reg.mark_contacted();
            answer
        };
        // Both at once: the rest wait for the first answer inside.
        stream::select(stream::once(first), after_first).boxed()
    }

    /// Open lanes `1..lanes` to `domain` now, each with a request whose
    /// answer is not needed (`GET /v2/`), so they are connected by the
    /// time the first answer releases the rest.
    fn warm_lanes(&self, domain: &str, lanes: usize) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for lane in 1..lanes {
            let Ok(route) = self.hosts.route(domain, lane) else {
                return;
            };
            if route.scheme != "https" {
                return;
            }
            let url = format!("https://{}/v2/", api_host(domain));
            runtime.spawn(async move {
                let _ = route.http.get(url).send().await;
            });
        }
    }
}

/// The host requests for `domain` go to.
pub(crate) fn api_host(domain: &str) -> &str {
    if domain == "docker.io" {
        "registry-1.docker.io"
    } else {
        domain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_grow_with_the_questions_up_to_the_limit() {
        assert_eq!(lanes_for(0), 1);
        assert_eq!(lanes_for(1), 1);
        assert_eq!(lanes_for(100), 1);
        assert_eq!(lanes_for(101), 2);
        assert_eq!(lanes_for(499), MAX_LANES);
        assert_eq!(lanes_for(5_000), MAX_LANES);
    }
}
