//! Resolution per workload: each lock key is asked once per distinct set of
//! credentials among the pods that use it, so a pod whose own pull secrets
//! cannot pull its image is caught before the deploy turns into
//! `ImagePullBackOff`.
//!
//! The digest comes from any credential set that could pull; a set the
//! registry refused (rejected, access denied, none matched on a private
//! registry) while another resolved the tag is an access failure of the
//! workloads that use it. When no set could pull, each failure is an error.

use std::sync::Arc;

use crate::commands::{resolve_requests, Use};
use crate::credentials::PodSecrets;
use crate::lockfile::Key;
use crate::reference::Reference;
use crate::registry::{Client, Platform, RegistryError, Request, Resolved};

/// The uses that share one credential set, and what resolving gave them.
type GroupResult = (Vec<Use>, Result<Resolved, RegistryError>);

/// One lock key to resolve and every place that uses it.
pub struct Ask {
    pub key: Key,
    pub reference: Reference,
    pub uses: Vec<Use>,
}

/// What resolving one [`Ask`] gave.
#[derive(Default)]
pub struct Outcome {
    /// The digest, when any credential set could pull the tag.
    pub resolved: Option<Resolved>,
    /// Workloads whose own credentials cannot pull it while the tag resolved.
    pub access: Vec<(RegistryError, Vec<Use>)>,
    /// Failures that leave the key unresolved (or are not about access).
    pub errors: Vec<(RegistryError, Vec<Use>)>,
}

/// Resolve every ask, one request per (key, distinct pod credentials).
pub fn resolve(
    client: &Client,
    asks: &[Ask],
    platforms: &[Platform],
) -> anyhow::Result<Vec<Outcome>> {
    let mut requests = Vec::new();
    let mut groups: Vec<(usize, Vec<Use>)> = Vec::new();
    for (i, ask) in asks.iter().enumerate() {
        let mut by_pod: Vec<(Option<Arc<PodSecrets>>, Vec<Use>)> = Vec::new();
        for u in &ask.uses {
            let same = |p: &Option<Arc<PodSecrets>>| match (p, &u.pod) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            };
            match by_pod.iter_mut().find(|(p, _)| same(p)) {
                Some((_, list)) => list.push(u.clone()),
                None => by_pod.push((u.pod.clone(), vec![u.clone()])),
            }
        }
        if by_pod.is_empty() {
            by_pod.push((None, Vec::new()));
        }
        for (pod, list) in by_pod {
            requests.push(Request {
                reference: ask.reference.clone(),
                pod,
            });
            groups.push((i, list));
        }
    }
    let results = resolve_requests(client, &requests, platforms)?;
    let mut per_ask: Vec<Vec<GroupResult>> = asks.iter().map(|_| Vec::new()).collect();
    for ((i, list), res) in groups.into_iter().zip(results) {
        per_ask[i].push((list, res));
    }
    Ok(per_ask
        .into_iter()
        .map(|list| {
            let mut out = Outcome {
                resolved: list.iter().find_map(|(_, r)| r.as_ref().ok().cloned()),
                ..Outcome::default()
            };
            for (uses, r) in list {
                let Err(e) = r else { continue };
                if out.resolved.is_some() && e.is_access() && !uses.is_empty() {
                    out.access.push((e, uses));
                } else if let Some((_, known)) = out
                    .errors
                    .iter_mut()
                    .find(|(k, _)| k.to_string() == e.to_string())
                {
                    known.extend(uses);
                } else {
                    out.errors.push((e, uses));
                }
            }
            out
        })
        .collect())
}

/// `Deployment app (namespace team-b) cannot pull X with its own credentials …`.
pub fn access_message(reference: &Reference, err: &RegistryError, uses: &[Use]) -> String {
    let mut workloads: Vec<&str> = uses.iter().filter_map(|u| u.workload.as_deref()).collect();
    workloads.sort();
    workloads.dedup();
    let who = if workloads.is_empty() {
        "this use".to_string()
    } else {
        workloads.join(", ")
    };
    format!(
        "{who} cannot pull {} with its own credentials, although the tag resolves with other credentials: {err}",
        reference.original()
    )
}
