//! Asking the mirrors: whether each host a node could pull a locked digest
//! from serves it (`HEAD /v2/<mapped path>/manifests/<digest>`), which
//! later host a node falls back to where one does not, and (with tags
//! compared) what each mirror that serves tags resolves the tag to.
//! Requests go through the [`Client`]: the same TLS settings, plain-HTTP
//! list and keychain (asked by the mirror's own host name) as any registry.

use futures::StreamExt as _;

use super::{Endpoint, MirrorError, Mirrors};
use crate::reference::{Digest, Reference};
use crate::registry::{Client, ErrorKind, RegistryError};

/// One locked image to check.
#[derive(Debug, Clone)]
pub struct Item {
    /// The upstream reference as locked (`name:tag` or `name`).
    pub reference: Reference,
    /// The locked digest.
    pub digest: Digest,
    /// What the upstream's tag points at now, when known (else the locked
    /// digest stands for it).
    pub upstream_tag: Option<Digest>,
}

/// What was found at one mirror.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A node would pull the digest from `endpoint`, which lacks it;
    /// `fallback` is the first later host that serves it (none: the pull
    /// fails).
    Missing {
        endpoint: Endpoint,
        fallback: Option<Endpoint>,
    },
    /// `endpoint` resolves the tag to `mirror`, the upstream to `upstream`.
    Stale {
        endpoint: Endpoint,
        tag: String,
        mirror: Digest,
        upstream: Digest,
    },
}

/// Everything found for one [`Item`].
#[derive(Debug, Default)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    /// Hosts that could not be asked (unreachable, refused credentials…).
    pub errors: Vec<RegistryError>,
    /// The hosts asked, in order (for messages).
    pub asked: usize,
}

/// Checks in flight at once (each a few requests to different hosts).
const IN_FLIGHT: usize = 16;

/// Whether a failure says the manifest (or its repository) is not there.
fn is_missing(e: &RegistryError) -> bool {
    matches!(e.kind, ErrorKind::NotFound { .. })
}

impl Client {
    /// Check every item against the hosts `mirrors` routes it to; results
    /// in input order. A configuration error (a mapping that makes no
    /// valid reference) fails that item only.
    pub async fn check_mirrors(
        &self,
        mirrors: &Mirrors,
        items: &[Item],
        compare_tags: bool,
    ) -> Vec<Result<Report, MirrorError>> {
        futures::stream::iter(items)
            .map(|item| self.check_one(mirrors, item, compare_tags))
            .buffered(IN_FLIGHT)
            .collect()
            .await
    }

    async fn check_one(
        &self,
        mirrors: &Mirrors,
        item: &Item,
        compare_tags: bool,
    ) -> Result<Report, MirrorError> {
        let route = mirrors.route(&item.reference)?;
        let mut report = Report::default();
        if route.iter().all(|e| e.upstream) {
            return Ok(report);
        }
        let invalid = |message: String| MirrorError::Invalid {
            path: route
                .first()
                .map(|e| e.source.clone())
                .unwrap_or_default()
                .into(),
            message,
        };
        // Presence of the digest at each host that serves digests: every
        // mirror; the upstream only when needed to name a fallback.
        let mut present: Vec<Option<bool>> = vec![None; route.len()];
        for (i, e) in route.iter().enumerate() {
            if e.upstream || !e.by_digest {
                continue;
            }
            present[i] = self
                .ask_digest(e, item, &mut report)
                .await
                .map_err(invalid)?;
        }
        for i in 0..route.len() {
            if present[i] != Some(false) {
                continue;
            }
            let mut fallback = None;
            for j in i + 1..route.len() {
                if !route[j].by_digest {
                    continue;
                }
                if present[j].is_none() && route[j].upstream {
                    present[j] = self
                        .ask_digest(&route[j], item, &mut report)
                        .await
                        .map_err(invalid)?;
                }
                if present[j] == Some(true) {
                    fallback = Some(route[j].clone());
                    break;
                }
            }
            report.outcomes.push(Outcome::Missing {
                endpoint: route[i].clone(),
                fallback,
            });
        }
        let Some(tag) = item.reference.tag().filter(|_| compare_tags) else {
            return Ok(report);
        };
        let upstream = item.upstream_tag.clone().unwrap_or(item.digest.clone());
        for e in route.iter().filter(|e| !e.upstream && e.by_tag) {
            let mapped = e.reference(Some(tag), None).map_err(invalid)?;
            report.asked += 1;
            match self.head_at(e, &mapped).await {
                Ok(d) if d != upstream => report.outcomes.push(Outcome::Stale {
                    endpoint: e.clone(),
                    tag: tag.to_string(),
                    mirror: d,
                    upstream: upstream.clone(),
                }),
                Ok(_) => {}
                // A mirror without the tag sends the node on: not stale.
                Err(err) if is_missing(&err) => {}
                Err(err) => report.errors.push(err),
            }
        }
        Ok(report)
    }

    /// Whether `e` serves the item's digest (`None`: it could not be asked;
    /// the failure is in the report).
    async fn ask_digest(
        &self,
        e: &Endpoint,
        item: &Item,
        report: &mut Report,
    ) -> Result<Option<bool>, String> {
        let mapped = e.reference(None, Some(&item.digest))?;
        report.asked += 1;
        Ok(match self.head_at(e, &mapped).await {
            Ok(_) => Some(true),
            Err(err) if is_missing(&err) => Some(false),
            Err(err) => {
                report.errors.push(err);
                None
            }
        })
    }
}
