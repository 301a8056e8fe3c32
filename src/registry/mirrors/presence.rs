//! Asking the mirrors: whether each host a node could pull a locked digest
//! from serves it (`HEAD /v2/<mapped path>/manifests/<digest>`), which
//! later host a node falls back to where one does not, and (with tags
//! compared) what each mirror that serves tags resolves the tag to.
//! Requests go through the [`Client`]: the same TLS settings, plain-HTTP
//! list and keychain (asked by the mirror's own host name, with the pod's
//! pull Secrets when the item carries them) as any registry.
//!
//! Every distinct question (one host, one repository, one digest or tag,
//! one credential set) is asked once, however many locked tags share it:
//! first every mirror's digests, then the upstream's only where a mirror
//! lacks one and no later mirror has it, then the tags. At most the run's
//! `--concurrency` requests are in flight (16 when it is not given). A
//! host's first question goes alone: when it times out, the host is given
//! up on (its other questions are not sent, and it is named once as not
//! answering); a host that answered is given up on after
//! [`GIVE_UP_AFTER`] timeouts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::StreamExt as _;

use super::{Endpoint, MirrorError, Mirrors};
use crate::credentials::PodSecrets;
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
    /// The pull Secrets of the pod that uses it, offered at every host as
    /// the node would (none: the keychain's own sources only).
    pub pod: Option<Arc<PodSecrets>>,
}

/// What was found at one mirror.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A node would pull the digest from `endpoint`, which lacks it;
    /// `fallback` is the first later host that serves it (none: the pull
    /// fails, unless a host in `unknown` serves it).
    Missing {
        endpoint: Endpoint,
        fallback: Option<Endpoint>,
        /// Later hosts, before the fallback, that could not be asked from
        /// here (their failure is among the check's errors).
        unknown: Vec<Endpoint>,
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
}

/// A host that could not be asked, once per distinct failure.
#[derive(Debug)]
pub struct HostError {
    pub endpoint: Endpoint,
    pub error: RegistryError,
}

/// A host given up on after too many timeouts.
#[derive(Debug)]
pub struct GaveUp {
    pub endpoint: Endpoint,
    /// Requests that timed out.
    pub timeouts: usize,
    /// Questions not sent to it.
    pub skipped: usize,
}

/// The whole check: a report per item (in input order), and the hosts that
/// could not be asked.
#[derive(Debug, Default)]
pub struct Check {
    pub reports: Vec<Result<Report, MirrorError>>,
    /// Each distinct failure once, in the order the questions were built.
    pub errors: Vec<HostError>,
    pub gave_up: Vec<GaveUp>,
}

/// Checks in flight at once when `--concurrency` is not given.
const IN_FLIGHT: usize = 16;

/// Timeouts at one host after which its remaining questions are not sent
/// (a host whose first question timed out is given up on at once).
pub const GIVE_UP_AFTER: usize = 3;

/// Whether a failure says the manifest (or its repository) is not there.
fn is_missing(e: &RegistryError) -> bool {
    matches!(e.kind, ErrorKind::NotFound { .. })
}

/// One question: a HEAD at one host for one mapped reference, with one
/// credential set.
struct Question {
    endpoint: Endpoint,
    mapped: Reference,
    pod: Option<Arc<PodSecrets>>,
}

/// What one question found.
#[derive(Debug, Clone)]
enum Answer {
    Digest(Digest),
    Missing,
    /// Could not be asked (the failure is among the errors).
    Failed,
}

/// Identity of a credential set (pods sharing Secrets share one).
fn pod_id(pod: &Option<Arc<PodSecrets>>) -> usize {
    pod.as_ref().map_or(0, |p| Arc::as_ptr(p) as usize)
}

/// Questions asked once each, by identity.
#[derive(Default)]
struct Questions {
    list: Vec<Question>,
    index: HashMap<String, usize>,
}

impl Questions {
    fn key(e: &Endpoint, mapped: &Reference, pod: &Option<Arc<PodSecrets>>) -> String {
        format!(
            "{} {:?} {} {}",
            e.url(),
            e.tls,
            mapped.original(),
            pod_id(pod)
        )
    }

    /// The index of the question, added when new.
    fn ask(&mut self, e: &Endpoint, mapped: Reference, pod: &Option<Arc<PodSecrets>>) -> usize {
        let key = Questions::key(e, &mapped, pod);
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.list.push(Question {
            endpoint: e.clone(),
            mapped,
            pod: pod.clone(),
        });
        self.index.insert(key, self.list.len() - 1);
        self.list.len() - 1
    }
}

/// Per host: answers and timeouts so far, and questions skipped after
/// giving up.
#[derive(Default)]
struct HostState {
    answered: AtomicUsize,
    timeouts: AtomicUsize,
    skipped: AtomicUsize,
}

impl HostState {
    /// A host that timed out before it ever answered (its first question
    /// goes alone, so that is one timeout), or [`GIVE_UP_AFTER`] times.
    fn given_up(&self) -> bool {
        let timeouts = self.timeouts.load(Ordering::SeqCst);
        timeouts >= GIVE_UP_AFTER || (timeouts > 0 && self.answered.load(Ordering::SeqCst) == 0)
    }
}

impl Client {
    /// How many mirror questions are in flight at once: `--concurrency`,
    /// else [`IN_FLIGHT`].
    fn mirror_concurrency(&self) -> usize {
        match self.concurrency() {
            usize::MAX => IN_FLIGHT,
            n => n,
        }
    }

    /// Check every item against the hosts `mirrors` routes it to. A
    /// configuration error (a mapping that makes no valid reference) fails
    /// that item only.
    pub async fn check_mirrors(
        &self,
        mirrors: &Mirrors,
        items: &[Item],
        compare_tags: bool,
    ) -> Check {
        let mut check = Check::default();
        let mut questions = Questions::default();
        let mut answers: Vec<Option<Answer>> = Vec::new();

        // Each item's route, and its digest question at every mirror.
        let mut routes: Vec<Option<Vec<Endpoint>>> = Vec::with_capacity(items.len());
        let mut digest_q: Vec<Vec<Option<usize>>> = Vec::with_capacity(items.len());
        for item in items {
            let route = match route_of(mirrors, item) {
                Ok(r) => r,
                Err(e) => {
                    check.reports.push(Err(e));
                    routes.push(None);
                    digest_q.push(Vec::new());
                    continue;
                }
            };
            let mut qs = vec![None; route.len()];
            let mut failed = None;
            for (i, e) in route.iter().enumerate() {
                if e.upstream || !e.by_digest {
                    continue;
                }
                match e.reference(None, Some(&item.digest)) {
                    Ok(mapped) => qs[i] = Some(questions.ask(e, mapped, &item.pod)),
                    Err(m) => failed = Some(invalid(&route, m)),
                }
            }
            match failed {
                Some(e) => {
                    check.reports.push(Err(e));
                    routes.push(None);
                    digest_q.push(Vec::new());
                }
                None => {
                    check.reports.push(Ok(Report::default()));
                    routes.push(Some(route));
                    digest_q.push(qs);
                }
            }
        }
        let mut hosts: BTreeMap<String, HostState> = Default::default();
        self.answer(&questions, &mut answers, &mut hosts, &mut check)
            .await;

        // The upstream, where a mirror lacks the digest and no later
        // mirror has it.
        for (k, item) in items.iter().enumerate() {
            let Some(route) = &routes[k] else { continue };
            for i in 0..route.len() {
                if !matches!(
                    digest_q[k][i].and_then(|q| answers.get(q)),
                    Some(Some(Answer::Missing))
                ) {
                    continue;
                }
                for j in i + 1..route.len() {
                    if !route[j].by_digest {
                        continue;
                    }
                    if digest_q[k][j].is_none() && route[j].upstream {
                        match route[j].reference(None, Some(&item.digest)) {
                            Ok(mapped) => {
                                digest_q[k][j] = Some(questions.ask(&route[j], mapped, &item.pod));
                            }
                            Err(m) => {
                                check.reports[k] = Err(invalid(route, m));
                                break;
                            }
                        }
                    }
                    if let Some(q) = digest_q[k][j] {
                        if q >= answers.len() || matches!(answers[q], Some(Answer::Digest(_))) {
                            break;
                        }
                    }
                }
            }
        }
        self.answer(&questions, &mut answers, &mut hosts, &mut check)
            .await;

        // Missing outcomes, now that every host needed was asked.
        for (k, _) in items.iter().enumerate() {
            let (Some(route), Ok(report)) = (&routes[k], &mut check.reports[k]) else {
                continue;
            };
            let answer_at =
                |j: usize| digest_q[k][j].and_then(|q| answers.get(q).cloned().flatten());
            for i in 0..route.len() {
                if !matches!(answer_at(i), Some(Answer::Missing)) {
                    continue;
                }
                let mut fallback = None;
                let mut unknown = Vec::new();
                for (j, later) in route.iter().enumerate().skip(i + 1) {
                    if !later.by_digest {
                        continue;
                    }
                    match answer_at(j) {
                        Some(Answer::Digest(_)) => {
                            fallback = Some(later.clone());
                            break;
                        }
                        Some(Answer::Failed) => unknown.push(later.clone()),
                        _ => {}
                    }
                }
                report.outcomes.push(Outcome::Missing {
                    endpoint: route[i].clone(),
                    fallback,
                    unknown,
                });
            }
        }

        if compare_tags {
            let mut tag_q: Vec<Vec<(usize, Digest)>> = vec![Vec::new(); items.len()];
            for (k, item) in items.iter().enumerate() {
                let (Some(route), Some(tag)) = (&routes[k], item.reference.tag()) else {
                    continue;
                };
                let upstream = item.upstream_tag.clone().unwrap_or(item.digest.clone());
                for e in route.iter().filter(|e| !e.upstream && e.by_tag) {
                    match e.reference(Some(tag), None) {
                        Ok(mapped) => {
                            tag_q[k].push((questions.ask(e, mapped, &item.pod), upstream.clone()));
                        }
                        Err(m) => check.reports[k] = Err(invalid(route, m)),
                    }
                }
            }
            self.answer(&questions, &mut answers, &mut hosts, &mut check)
                .await;
            for (k, item) in items.iter().enumerate() {
                let Ok(report) = &mut check.reports[k] else {
                    continue;
                };
                let tag = item.reference.tag().unwrap_or("latest");
                for (q, upstream) in &tag_q[k] {
                    if let Some(Answer::Digest(d)) = &answers[*q] {
                        if d != upstream {
                            report.outcomes.push(Outcome::Stale {
                                endpoint: questions.list[*q].endpoint.clone(),
                                tag: tag.to_string(),
                                mirror: d.clone(),
                                upstream: upstream.clone(),
                            });
                        }
                    }
                }
            }
        }
        for (host, state) in hosts {
            let skipped = state.skipped.load(Ordering::SeqCst);
            if skipped == 0 {
                continue;
            }
            let endpoint = questions
                .list
                .iter()
                .find(|q| q.endpoint.host == host)
                .map(|q| q.endpoint.clone())
                .expect("a host given up on was asked");
            check.gave_up.push(GaveUp {
                endpoint,
                timeouts: state.timeouts.load(Ordering::SeqCst),
                skipped,
            });
        }
        check
    }

    /// Ask every question not answered yet: per host, the first alone,
    /// then the rest at once (under the run's concurrency); a host with
    /// [`GIVE_UP_AFTER`] timeouts is asked nothing more.
    async fn answer(
        &self,
        questions: &Questions,
        answers: &mut Vec<Option<Answer>>,
        hosts: &mut BTreeMap<String, HostState>,
        check: &mut Check,
    ) {
        let start = answers.len();
        answers.resize(questions.list.len(), None);
        let mut by_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, q) in questions.list.iter().enumerate().skip(start) {
            by_host.entry(&q.endpoint.host).or_default().push(i);
            hosts.entry(q.endpoint.host.clone()).or_default();
        }
        if by_host.is_empty() {
            return;
        }
        let cap = tokio::sync::Semaphore::new(self.mirror_concurrency());
        let cap = &cap;
        let hosts = &*hosts;
        let ask = |i: usize| async move {
            let q = &questions.list[i];
            let state = &hosts[&q.endpoint.host];
            let _permit = cap.acquire().await.expect("never closed");
            if state.given_up() {
                state.skipped.fetch_add(1, Ordering::SeqCst);
                return (i, None);
            }
            let result = self
                .head_at_with(&q.endpoint, &q.mapped, q.pod.clone())
                .await;
            if matches!(&result, Err(e) if matches!(e.kind, ErrorKind::Timeout { .. })) {
                state.timeouts.fetch_add(1, Ordering::SeqCst);
            } else {
                state.answered.fetch_add(1, Ordering::SeqCst);
            }
            (i, Some(result))
        };
        let streams = by_host.into_values().map(|qs| {
            let (first, rest) = qs.split_at(1);
            let first = first[0];
            let rest = rest.to_vec();
            futures::stream::once(ask(first))
                .chain(
                    futures::stream::iter(rest)
                        .map(ask)
                        .buffer_unordered(usize::MAX),
                )
                .boxed()
        });
        let mut all = futures::stream::select_all(streams);
        let mut results = Vec::new();
        while let Some(r) = all.next().await {
            results.push(r);
        }
        results.sort_by_key(|(i, _)| *i);
        for (i, result) in results {
            answers[i] = Some(match result {
                None => Answer::Failed,
                Some(Ok(d)) => Answer::Digest(d),
                Some(Err(e)) if is_missing(&e) => Answer::Missing,
                Some(Err(error)) => {
                    check.errors.push(HostError {
                        endpoint: questions.list[i].endpoint.clone(),
                        error,
                    });
                    Answer::Failed
                }
            });
        }
    }
}

/// The hosts a node tries for the item; none to check when they are all
/// the upstream.
fn route_of(mirrors: &Mirrors, item: &Item) -> Result<Vec<Endpoint>, MirrorError> {
    let route = mirrors.route(&item.reference)?;
    if route.iter().all(|e| e.upstream) {
        return Ok(Vec::new());
    }
    Ok(route)
}

fn invalid(route: &[Endpoint], message: String) -> MirrorError {
    MirrorError::Invalid {
        path: route
            .first()
            .map(|e| e.source.clone())
            .unwrap_or_default()
            .into(),
        message,
    }
}
