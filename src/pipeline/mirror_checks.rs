//! Mirrors in the pipeline: resolving tags at the first mirror
//! (`--resolve-at mirror`), references a `registries.conf` blocks,
//! checking locked digests at every mirror and turning what was found into
//! `mirror-missing` and `mirror-stale` findings.

use std::collections::HashMap;

use crate::choices::ResolveAt;
use crate::lockfile::{Key, Lockfile};
use crate::pipeline::remote::Remote;
use crate::pipeline::scanning::Use;
use crate::reference::Digest;
use crate::registry::mirrors::presence::{Item, Outcome};
use crate::registry::mirrors::{Endpoint, Mirrors};
use crate::registry::{ErrorKind, Platform, RegistryError, Request, Resolved};
use crate::report::{Diagnostics, Finding, FindingKind, Message};
use crate::settings::RegistrySettings;

/// `, tags resolved at mirrors` for a summary line under `--resolve-at mirror`.
pub fn summary_suffix(settings: &RegistrySettings) -> &'static str {
    if settings.resolve_at == ResolveAt::Mirror {
        ", tags resolved at mirrors"
    } else {
        ""
    }
}

/// Answer `requests` with `resolve` except those the `registries.conf`
/// given blocks (`blocked = true`): each of those is a `blocked` error,
/// asked of no registry. Results in request order, so every failure of a
/// run is reported together.
pub fn unless_blocked(
    mirrors: &Mirrors,
    requests: &[Request],
    resolve: impl FnOnce(&[Request]) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>>,
) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>> {
    let blocked: Vec<_> = requests
        .iter()
        .map(|r| mirrors.blocked(&r.reference))
        .collect();
    if blocked.iter().all(Option::is_none) {
        return resolve(requests);
    }
    let open: Vec<Request> = requests
        .iter()
        .zip(&blocked)
        .filter(|(_, b)| b.is_none())
        .map(|(r, _)| r.clone())
        .collect();
    let mut answers = if open.is_empty() {
        Vec::new()
    } else {
        resolve(&open)?
    }
    .into_iter();
    let mut out = Vec::with_capacity(requests.len());
    for (r, b) in requests.iter().zip(blocked) {
        let answer = match b {
            Some(b) => Err(RegistryError::new(
                r.reference.original(),
                r.reference.domain(),
                ErrorKind::Blocked {
                    prefix: b.prefix,
                    file: b.file,
                    line: b.line,
                    column: b.column,
                },
            )),
            None => match answers.next() {
                Some(answer) => answer,
                None => anyhow::bail!("a request was left unanswered"),
            },
        };
        out.push(answer);
    }
    Ok(out)
}

/// Resolve each request at the first host of its route that serves its
/// kind of reference (a mirror, else the upstream), each with its pod's
/// credentials for that host. As a node does, a host that answers `404`
/// or a `5xx` sends it on to the next host of the route (the upstream
/// last); when none has it, the first host's failure is the result.
/// Results in request order.
pub fn digests_at_mirrors(
    remote: &Remote<'_>,
    mirrors: &Mirrors,
    requests: &[Request],
    platforms: &[Platform],
) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>> {
    use futures::StreamExt as _;
    let mut targets = Vec::new();
    for req in requests {
        let r = &req.reference;
        let by_digest = r.tag().is_none() && r.digest().is_some();
        let mut hosts = Vec::new();
        for endpoint in mirrors
            .route(r)?
            .into_iter()
            .filter(|e| e.serves(by_digest))
        {
            let mapped = endpoint
                .reference(r.tag(), r.digest())
                .map_err(|m| anyhow::anyhow!(m))?;
            hosts.push((endpoint, mapped));
        }
        if hosts.is_empty() {
            let endpoint = crate::registry::mirrors::default_upstream(r);
            let mapped = endpoint
                .reference(r.tag(), r.digest())
                .map_err(|m| anyhow::anyhow!(m))?;
            hosts.push((endpoint, mapped));
        }
        targets.push((hosts, req.pod.clone()));
    }
    let client = remote.client();
    let concurrency = client.concurrency().min(16);
    let work = futures::stream::iter(&targets)
        .map(|(hosts, pod)| async move {
            let mut first_error = None;
            for (e, mapped) in hosts {
                let answer = if e.upstream {
                    client
                        .resolve_with(mapped, platforms, client.lookup(mapped, pod.clone()).await)
                        .await
                } else {
                    client.resolve_at(e, mapped, platforms, pod.clone()).await
                };
                match answer {
                    Ok(resolved) => return Ok(resolved),
                    Err(err) if sends_on(&err) => {
                        first_error.get_or_insert(err);
                    }
                    // A later host that cannot be asked either: what the
                    // first host said is the error, as containerd reports.
                    Err(err) => return Err(first_error.unwrap_or(err)),
                }
            }
            Err(first_error.expect("every route has a host"))
        })
        .buffered(concurrency)
        .collect::<Vec<_>>();
    remote.until_interrupted(work)
}

/// A host's answer that makes a node try the next host: the manifest is
/// not there (`404`), or the host has a problem on its side (`5xx`).
fn sends_on(e: &RegistryError) -> bool {
    matches!(
        e.kind,
        ErrorKind::NotFound { .. } | ErrorKind::ServerError { .. }
    )
}

/// Check every entry of `lock` at the mirrors `mirrors` routes it to.
/// `upstream_now` gives the upstream's current digest per key (from the
/// run's own resolution), `uses` the places each key is used: each pod's
/// pull Secrets among them are offered at the mirrors, as its node would
/// (an entry used by pods with different Secrets is checked once per
/// set). Failures to ask a host are errors in `diag`, each once.
pub fn findings(
    remote: &Remote<'_>,
    lock: &Lockfile,
    upstream_now: &HashMap<Key, Digest>,
    uses: &dyn Fn(&Key) -> Vec<Use>,
    compare_tags: bool,
    diag: &mut Diagnostics,
) -> anyhow::Result<Vec<Finding>> {
    let mirrors = remote.mirrors();
    if mirrors.is_empty() {
        return Ok(Vec::new());
    }
    // One item per entry and credential set, with the places it stands for.
    let mut items = Vec::new();
    let mut places: Vec<Vec<Use>> = Vec::new();
    for entry in lock.entries() {
        let reference = entry.reference()?;
        if mirrors.blocked(&reference).is_some() {
            // A node pulls it from no host: reported as blocked instead.
            continue;
        }
        let key = Key::of_entry(entry);
        let mut by_pod: Vec<(
            Option<std::sync::Arc<crate::credentials::PodSecrets>>,
            Vec<Use>,
        )> = Vec::new();
        for u in uses(&key) {
            let id = |p: &Option<std::sync::Arc<crate::credentials::PodSecrets>>| {
                p.as_ref().map_or(0, |p| std::sync::Arc::as_ptr(p) as usize)
            };
            match by_pod.iter_mut().find(|(p, _)| id(p) == id(&u.pod)) {
                Some((_, list)) => list.push(u),
                None => by_pod.push((u.pod.clone(), vec![u])),
            }
        }
        if by_pod.is_empty() {
            by_pod.push((None, Vec::new()));
        }
        for (pod, list) in by_pod {
            items.push(Item {
                reference: reference.clone(),
                digest: entry.digest.clone(),
                upstream_tag: upstream_now.get(&key).cloned(),
                pod,
            });
            places.push(list);
        }
    }
    let check =
        remote.until_interrupted(remote.client().check_mirrors(mirrors, &items, compare_tags))?;
    for e in &check.errors {
        diag.emit(
            Message::error(format!(
                "cannot ask {} {}: {}",
                host_kind(&e.endpoint),
                e.endpoint.host,
                e.error
            ))
            .code(e.error.code())
            .hint(e.error.hint()),
        );
    }
    for g in &check.gave_up {
        diag.emit(
            Message::error(format!(
                "{} {} did not answer within --timeout ({} question(s) timed out); gave up asking it {} more",
                host_kind(&g.endpoint),
                g.endpoint.host,
                g.timeouts,
                g.skipped
            ))
            .code("timeout")
            .hint(Some(format!(
                "check that {} is up and reachable from here, or raise --timeout",
                g.endpoint.host
            ))),
        );
    }
    let mut out = Vec::new();
    for ((item, places), report) in items.iter().zip(places).zip(check.reports) {
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                diag.emit(Message::error(e).code("mirror-config"));
                continue;
            }
        };
        let written = item.reference.original().to_string();
        for o in report.outcomes {
            let f = finding(&written, &item.reference.name(), &item.digest, o);
            if places.is_empty() {
                out.push(f.clone());
            }
            for u in &places {
                let mut g = f.clone();
                g.location = Some(u.location.clone());
                g.reference = u.reference.original().to_string();
                out.push(g);
            }
        }
    }
    Ok(out)
}

/// `lock`/`update --check-mirrors`: check every entry of the lockfile
/// written at its mirrors, with the run's own client (its connections,
/// credentials and rate-limit figures); each finding is a warning on
/// stderr. Returns how many there were.
pub fn check_locked(
    remote: &Remote<'_>,
    lock: &Lockfile,
    diag: &mut Diagnostics,
) -> anyhow::Result<usize> {
    if remote.mirrors().is_empty() {
        anyhow::bail!("--check-mirrors: no mirror is configured (give --mirror, --containerd-hosts-dir or --registries-conf)");
    }
    let found = findings(remote, lock, &HashMap::new(), &|_| Vec::new(), false, diag)?;
    for f in &found {
        diag.emit(
            Message::warning(format!("{}: {}", f.kind, f.message))
                .code(f.kind.as_str())
                .hint(f.hint.clone()),
        );
    }
    Ok(found.len())
}

fn host_kind(e: &Endpoint) -> &'static str {
    if e.upstream {
        "the upstream"
    } else {
        "mirror"
    }
}

/// How to fill a mirror that lacks a digest. A `docker://` reference names
/// a repository under the API root `/v2` only: for a mirror whose root is
/// another (containerd's `override_path` on a URL without `/v2`), no
/// `skopeo copy` target can name it, so none is offered.
fn copy_hint(name: &str, digest: &Digest, endpoint: &Endpoint) -> String {
    if endpoint.root == "/v2" {
        format!(
            "copy the image to the mirror (skopeo copy --all docker://{name}@{digest} docker://{}@{digest}) or pull it once through the cache",
            endpoint.name()
        )
    } else {
        format!(
            "copy the image into the mirror's repository at {} (its API root {} is not /v2, which a docker:// reference such as skopeo's cannot name: use the mirror's own upload), or pull it once through the cache",
            endpoint.location(),
            endpoint.root
        )
    }
}

fn finding(reference: &str, name: &str, digest: &Digest, o: Outcome) -> Finding {
    match o {
        Outcome::Missing {
            endpoint,
            fallback,
            unknown,
        } => {
            let unknown_hosts = unknown
                .iter()
                .map(|u| format!("{} {}", host_kind(u), u.host))
                .collect::<Vec<_>>()
                .join(", ");
            let then = match (&fallback, unknown.is_empty()) {
                (Some(f), true) => format!(
                    "a node falls back to {} {} ({})",
                    host_kind(f),
                    f.host,
                    f.location()
                ),
                (Some(f), false) => format!(
                    "a node falls back to {unknown_hosts} (which could not be asked from here) or else to {} {} ({})",
                    host_kind(f),
                    f.host,
                    f.location()
                ),
                (None, true) => "no later host serves it: the pull fails".to_string(),
                (None, false) => format!(
                    "a node falls back to {unknown_hosts}, which could not be asked from here: the pull fails unless it serves the digest"
                ),
            };
            Finding::new(
                FindingKind::MirrorMissing,
                None,
                reference,
                format!(
                    "{reference}: mirror {} does not serve {digest} at {} (from {}); {then}",
                    endpoint.host,
                    endpoint.location(),
                    endpoint.source
                ),
            )
            .with_hint(copy_hint(name, digest, &endpoint))
            .with_digests(digest, None)
        }
        Outcome::Stale {
            endpoint,
            tag,
            mirror,
            upstream,
        } => Finding::new(
            FindingKind::MirrorStale,
            None,
            reference,
            format!(
                "{reference}: mirror {} resolves tag {tag} to {mirror} at {}, the upstream to {upstream}",
                endpoint.host,
                endpoint.location()
            ),
        )
        .with_hint("refresh the mirror's copy of the tag (a pull-through cache: expire its cached tag)")
        .with_digests(upstream, Some(mirror.to_string())),
    }
}
