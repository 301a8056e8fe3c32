//! The one resolve-and-merge step `lock`, `update` and `check --remote`
//! share: ask the registries about lock keys, each once per distinct set of
//! pod credentials among the places that use it, and merge what they say
//! into lockfile entries by one rule.
//!
//! Per workload: a pod whose own pull secrets cannot pull its image is
//! caught before the deploy turns into `ImagePullBackOff`. The digest comes
//! from any credential set that could pull; a set the registry refused
//! (rejected, access denied, none matched on a private registry) while
//! another resolved the tag is an access failure of the workloads that use
//! it. When no set could pull, each failure is an error.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::credentials::PodSecrets;
use crate::lockfile::{Entry, Key, Lockfile};
use crate::pipeline::mirror_checks::{digests_at_mirrors, unless_blocked};
use crate::pipeline::remote::{registry_error, Remote};
use crate::pipeline::scanning::{used_at, Use};
use crate::reference::Reference;
use crate::registry::mirrors::Mirrors;
use crate::registry::{Platform, RegistryError, Request, Resolved};
use crate::report::{Diagnostics, Message};

/// One lock key to ask about, every place that uses it, and the platforms
/// whose manifest digests to record.
pub struct Ask {
    pub key: Key,
    /// What to ask for: the tag, or the locked digest when only platforms
    /// are missing (a digest cannot move).
    pub reference: Reference,
    pub uses: Vec<Use>,
    pub platforms: Vec<Platform>,
}

/// What the registries said about one [`Ask`].
pub struct Answer {
    pub ask: Ask,
    /// The entry the lockfile holds now, when the key was locked.
    pub previous: Option<Entry>,
    /// The entry the lockfile should hold, when any credential set could
    /// pull the reference.
    pub entry: Option<Entry>,
    /// Workloads whose own credentials cannot pull it while it resolved.
    pub access: Vec<(RegistryError, Vec<Use>)>,
    /// Failures that leave the key unresolved (or are not about access).
    pub errors: Vec<(RegistryError, Vec<Use>)>,
}

impl Answer {
    /// Report, as errors, the registry failures that left the key
    /// unresolved and the workloads whose own credentials cannot pull it.
    pub fn report_failures(&self, diag: &mut Diagnostics) {
        for (e, uses) in &self.errors {
            diag.emit(registry_error(e, uses));
        }
        for (e, uses) in &self.access {
            diag.emit(
                Message::error(access_message(&self.ask.reference, e, uses))
                    .code("access")
                    .hint(e.hint())
                    .used_at(used_at(uses)),
            );
        }
    }

    /// The previous and the new digest, when the entry's digest moved.
    pub fn moved(&self) -> Option<(&Entry, &Entry)> {
        match (&self.previous, &self.entry) {
            (Some(old), Some(new)) if old.digest != new.digest => Some((old, new)),
            _ => None,
        }
    }
}

/// The one merge rule: the key's name and tag, the registry's digest,
/// platforms and media type (the previous media type when the registry
/// named none), and the previous signature and attestation records while
/// the digest is the same (they are about that digest).
pub fn merge(key: &Key, previous: Option<&Entry>, resolved: Resolved) -> Entry {
    let same = previous.filter(|e| e.digest == resolved.digest);
    Entry {
        signatures: same.map(|e| e.signatures.clone()).unwrap_or_default(),
        attestations: same.map(|e| e.attestations.clone()).unwrap_or_default(),
        name: key.name.clone(),
        tag: key.tag.clone(),
        digest: resolved.digest,
        media_type: resolved
            .media_type
            .or_else(|| previous.and_then(|e| e.media_type.clone())),
        platforms: resolved.platforms,
    }
}

/// The uses that share one credential set, and what resolving gave them.
type GroupResult = (Vec<Use>, Result<Resolved, RegistryError>);

/// The requests of one platform set, each with its ask's index and uses.
#[derive(Default)]
struct Batch {
    requests: Vec<Request>,
    slots: Vec<(usize, Vec<Use>)>,
}

/// Resolve every ask (one request per key and distinct pod credentials,
/// grouped by platform set) and merge each answer with `lock`'s entry.
/// With `at` (`--resolve-at mirror`), each reference is resolved at the
/// first mirror its route names instead of upstream. A reference the
/// `registries.conf` of the remote's mirrors blocks is a `blocked` error,
/// not asked.
pub fn resolve_entries(
    remote: &Remote<'_>,
    lock: &Lockfile,
    asks: Vec<Ask>,
    at: Option<&Mirrors>,
) -> anyhow::Result<Vec<Answer>> {
    let mut batches: BTreeMap<Vec<Platform>, Batch> = BTreeMap::new();
    for (i, ask) in asks.iter().enumerate() {
        let batch = batches.entry(ask.platforms.clone()).or_default();
        for (pod, uses) in by_pod(&ask.uses) {
            batch.requests.push(Request {
                reference: ask.reference.clone(),
                pod,
            });
            batch.slots.push((i, uses));
        }
    }
    let mut per_ask: Vec<Vec<GroupResult>> = asks.iter().map(|_| Vec::new()).collect();
    for (platforms, batch) in batches {
        let results = unless_blocked(remote.mirrors(), &batch.requests, |open| match at {
            Some(m) => digests_at_mirrors(remote, m, open, &platforms),
            None => remote.digests_for(open, &platforms),
        })?;
        for ((i, uses), result) in batch.slots.into_iter().zip(results) {
            per_ask[i].push((uses, result));
        }
    }
    Ok(asks
        .into_iter()
        .zip(per_ask)
        .map(|(ask, results)| answer(lock, ask, results))
        .collect())
}

/// The uses of one key grouped by pod credentials (one group without uses
/// when nothing uses the key).
fn by_pod(uses: &[Use]) -> Vec<(Option<Arc<PodSecrets>>, Vec<Use>)> {
    let mut groups: Vec<(Option<Arc<PodSecrets>>, Vec<Use>)> = Vec::new();
    for u in uses {
        let same = |p: &Option<Arc<PodSecrets>>| match (p, &u.pod) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        match groups.iter_mut().find(|(p, _)| same(p)) {
            Some((_, list)) => list.push(u.clone()),
            None => groups.push((u.pod.clone(), vec![u.clone()])),
        }
    }
    if groups.is_empty() {
        groups.push((None, Vec::new()));
    }
    groups
}

fn answer(lock: &Lockfile, ask: Ask, results: Vec<GroupResult>) -> Answer {
    let previous = lock.get(&ask.key).cloned();
    let resolved = results.iter().find_map(|(_, r)| r.as_ref().ok().cloned());
    let mut access = Vec::new();
    let mut errors: Vec<(RegistryError, Vec<Use>)> = Vec::new();
    for (uses, r) in results {
        let Err(e) = r else { continue };
        if resolved.is_some() && e.is_access() && !uses.is_empty() {
            access.push((e, uses));
        } else if let Some((_, known)) = errors
            .iter_mut()
            .find(|(k, _)| k.to_string() == e.to_string())
        {
            known.extend(uses);
        } else {
            errors.push((e, uses));
        }
    }
    let entry = resolved.map(|r| merge(&ask.key, previous.as_ref(), r));
    Answer {
        ask,
        previous,
        entry,
        access,
        errors,
    }
}

/// `Deployment app (namespace team-b) cannot pull X with its own credentials …`.
pub fn access_message(reference: &Reference, err: &RegistryError, uses: &[Use]) -> String {
    let mut workloads: Vec<&str> = uses.iter().filter_map(|u| u.workload.as_deref()).collect();
    workloads.sort_unstable();
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
