//! `imagelock lock`: make the lockfile cover exactly the references found.
//!
//! Locked references keep their entry and cost no request; new tags are
//! resolved; digest-only references are recorded without a request; entries
//! no manifest uses are removed. Any failure leaves the lockfile as it was.

use std::collections::BTreeMap;
use std::path::Path;

use crate::lockfile::{Entry, Lockfile};
use crate::pipeline::lock_entries::{resolve_entries, Ask};
use crate::pipeline::mirror_checks::{check_locked, summary_suffix};
use crate::pipeline::options::{check_registry_options, parse_platforms};
use crate::pipeline::remote::{load_mirrors, Remote};
use crate::pipeline::scanning::{collect_uses, invalid_message};
use crate::pipeline::signature_checks::{any_needs_lookup, check_signatures};
use crate::reference::Reference;
use crate::report::{Diagnostics, Message};
use crate::settings::LockSettings;

pub fn run(args: &LockSettings, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    // Options are checked first: one that cannot work is reported with the
    // scan's failures, and the run stops before any request.
    check_registry_options(&args.registry, &args.platforms, diag);
    let platforms = parse_platforms(&args.platforms).unwrap_or_default();
    let (old, guard) = Lockfile::open_for_update(lockfile)?;
    let namespace = &args.registry.credentials.namespace;
    let mut all = collect_uses(&args.scan, namespace, diag);
    for i in &all.invalid {
        diag.emit(invalid_message(i));
    }
    if diag.errors() > 0 {
        diag.say(format!("{} left unchanged", lockfile.display()));
        return Ok(diag.exit_status(0));
    }
    let wanted: Vec<String> = platforms.iter().map(ToString::to_string).collect();

    let mirrors = load_mirrors(&args.registry.mirrors)?;
    let mut new = Lockfile::new();
    let mut asks: Vec<Ask> = Vec::new();
    for key in all.by_key.keys() {
        let reference = match old.get(key) {
            Some(e) if wanted.iter().all(|p| e.platforms.contains_key(p)) => {
                // Kept without asking: a block is still said, not silent.
                warn_kept_blocked(&mirrors, all.of(key), diag);
                new.insert(e.clone());
                continue;
            }
            // Locked, but without a platform now asked for: read the index
            // at the locked digest, which cannot move.
            Some(e) => Reference::parse(&format!("{}@{}", e.name, e.digest))?,
            None => {
                let r = key.reference()?;
                match (r.tag(), r.digest()) {
                    // Written by digest only, no platforms asked: no request.
                    (None, Some(digest)) if wanted.is_empty() => {
                        warn_kept_blocked(&mirrors, all.of(key), diag);
                        new.insert(Entry {
                            name: key.name.clone(),
                            tag: None,
                            digest: digest.clone(),
                            media_type: None,
                            platforms: BTreeMap::new(),
                            signatures: Vec::new(),
                            attestations: Vec::new(),
                        });
                        continue;
                    }
                    _ => r,
                }
            }
        };
        asks.push(Ask {
            key: key.clone(),
            reference,
            uses: Vec::new(),
            platforms: platforms.clone(),
        });
    }

    if args.check_mirrors && mirrors.is_empty() {
        anyhow::bail!("--check-mirrors: no mirror is configured (give --mirror, --containerd-hosts-dir or --registries-conf)");
    }
    // One client for the run: resolution and the mirror checks share its
    // connections, credentials and rate-limit figures.
    let remote =
        if !asks.is_empty() || args.check_mirrors || any_needs_lookup(&args.signatures, &new) {
            Some(Remote::connect(&args.registry, &mirrors, diag)?)
        } else {
            None
        };
    let mut stale = 0usize;
    if let (false, Some(remote)) = (asks.is_empty(), &remote) {
        let at = remote.tag_source(diag)?;
        all.with_pod_credentials(namespace, remote.pull_secrets(), diag);
        for a in &mut asks {
            a.uses = all.of(&a.key).to_vec();
        }
        let answers = resolve_entries(remote, &old, asks, at)?;
        remote.report_credential_warnings(diag);
        for answer in answers {
            answer.report_failures(diag);
            let Some(entry) = answer.entry else { continue };
            for u in &answer.ask.uses {
                match u.reference.digest() {
                    Some(written) if answer.ask.key.tag.is_some() && *written != entry.digest => {
                        stale += 1;
                        diag.emit(
                            Message::warning(format!(
                                "{} is pinned to a stale digest; the registry has {} for {}",
                                u.reference, entry.digest, answer.ask.key
                            ))
                            .at(u.location.clone())
                            .hint(Some("run `imagelock pin` to rewrite it")),
                        );
                    }
                    _ => {}
                }
            }
            new.insert(entry);
        }
        if diag.errors() > 0 {
            remote.report_budget(diag);
            diag.say(format!(
                "{} failure(s) while resolving; {} left unchanged",
                diag.errors(),
                lockfile.display()
            ));
            return Ok(diag.exit_status(0));
        }
    }
    // The signatures of what is locked now (each digest once: what the
    // lockfile records of it already is not asked again).
    if let Some(remote) = &remote {
        let uses = |k: &crate::lockfile::Key| all.of(k).to_vec();
        check_signatures(remote, &args.signatures, &mut new, &uses, diag)?;
        if diag.errors() > 0 {
            remote.report_budget(diag);
            diag.say(format!(
                "{} failure(s) while checking signatures; {} left unchanged",
                diag.errors(),
                lockfile.display()
            ));
            return Ok(diag.exit_status(0));
        }
    }
    let added = new.keys().filter(|k| old.get(k).is_none()).count();
    // Locked before and entered again with other content: a platform set
    // that --platform changed (the digest a tag had cannot move here).
    let mut changed = 0usize;
    for e in new.entries() {
        let Some(before) = old.get(&crate::lockfile::Key::of_entry(e)) else {
            continue;
        };
        if before == e {
            continue;
        }
        changed += 1;
        let list = |e: &Entry| {
            if e.platforms.is_empty() {
                "none".to_string()
            } else {
                e.platforms.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        let what = if before.digest != e.digest {
            format!("digest {} -> {}", before.digest, e.digest)
        } else {
            format!("platforms {} -> {}", list(before), list(e))
        };
        diag.note(format!(
            "{}: {}: {what}",
            lockfile.display(),
            crate::lockfile::Key::of_entry(e)
        ));
    }
    let kept = new.len() - added - changed;
    let removed = old.keys().filter(|k| new.get(k).is_none()).count();
    guard.save_if_changed(&new)?;
    let mirror_findings = match &remote {
        Some(remote) if args.check_mirrors => check_locked(remote, &new, diag)?,
        _ => 0,
    };
    if let Some(remote) = &remote {
        remote.report_budget(diag);
    }
    diag.say(format!(
        "{}: {added} added, {changed} changed, {kept} kept, {removed} removed, {stale} stale{}",
        lockfile.display(),
        summary_suffix(&args.registry)
    ));
    Ok(diag.exit_status(mirror_findings))
}

/// A reference `lock` keeps without asking (already locked, or written by
/// digest) that the `registries.conf` given blocks: nodes refuse to pull
/// it, so it is a warning at each use (`check` makes it a finding).
fn warn_kept_blocked(
    mirrors: &crate::registry::mirrors::Mirrors,
    uses: &[crate::pipeline::scanning::Use],
    diag: &mut Diagnostics,
) {
    for u in uses {
        if let Some(b) = mirrors.blocked(&u.reference) {
            diag.emit(
                crate::report::diagnostics::Message::warning(format!(
                    "{} (kept in the lockfile without asking)",
                    b.refusal(&u.reference)
                ))
                .at(u.location.clone())
                .code("blocked"),
            );
        }
    }
}
