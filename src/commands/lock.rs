//! `imagelock lock`: make the lockfile cover exactly the references found.
//!
//! Locked references keep their entry and cost no request; new tags are
//! resolved; digest-only references are recorded without a request; entries
//! no manifest uses are removed. Any failure leaves the lockfile as it was.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::LockArgs;
use crate::commands::pull_access::{self, access_message, Ask};
use crate::commands::{
    collect_uses, parse_platforms, registry_client, report_credential_warnings,
    report_registry_error, Use,
};
use crate::lockfile::{Entry, Key, Lockfile};
use crate::reference::Reference;
use crate::registry::Resolved;
use crate::report::Diagnostics;

pub fn run(args: &LockArgs, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    let platforms = parse_platforms(&args.platforms)?;
    let (old, guard) = Lockfile::open_for_update(lockfile)?;
    let mut all = collect_uses(&args.paths, &args.registry.credentials.namespace, diag);
    if all.failed > 0 {
        diag.say(format!("{} left unchanged", lockfile.display()));
        return Ok(crate::exit::ERROR);
    }
    let wanted: Vec<String> = platforms.iter().map(ToString::to_string).collect();

    let mut new = Lockfile::new();
    let (mut added, mut kept) = (0usize, 0usize);
    // What needs a request: the key and the reference to ask for.
    let mut ask: Vec<(Key, Reference)> = Vec::new();
    for key in all.by_key.keys() {
        match old.get(key) {
            Some(e) if wanted.iter().all(|p| e.platforms.contains_key(p)) => {
                new.insert(e.clone());
                kept += 1;
            }
            Some(e) => {
                // Locked, but without a platform now asked for: read the
                // index at the locked digest, which cannot move.
                ask.push((key.clone(), by_digest(&e.name, &e.digest.to_string())?));
            }
            None => {
                let r = key.reference()?;
                match (r.tag(), r.digest()) {
                    // Written by digest only, no platforms asked: no request.
                    (None, Some(digest)) if wanted.is_empty() => {
                        new.insert(Entry {
                            name: key.name.clone(),
                            tag: None,
                            digest: digest.clone(),
                            media_type: None,
                            platforms: BTreeMap::new(),
                        });
                        added += 1;
                    }
                    _ => ask.push((key.clone(), r)),
                }
            }
        }
    }

    let mut stale = 0usize;
    if !ask.is_empty() {
        let (client, extra) = registry_client(&args.registry)?;
        all.with_pod_credentials(&args.registry.credentials.namespace, &extra, diag);
        let asks: Vec<Ask> = ask
            .iter()
            .map(|(key, r)| Ask {
                key: key.clone(),
                reference: r.clone(),
                uses: all.by_key.get(key).cloned().unwrap_or_default(),
            })
            .collect();
        let outcomes = pull_access::resolve(&client, &asks, &platforms)?;
        report_credential_warnings(&client, diag);
        let mut errors = 0usize;
        for (a, outcome) in asks.iter().zip(outcomes) {
            let key = &a.key;
            for (e, key_uses) in &outcome.errors {
                errors += 1;
                report_registry_error(diag, e, key_uses);
            }
            for (e, key_uses) in &outcome.access {
                errors += 1;
                let mut msg = access_message(&a.reference, e, key_uses);
                for u in key_uses {
                    msg.push_str(&format!("\n  used at {}", u.location()));
                }
                diag.error(msg, e.hint().as_deref());
            }
            let Some(resolved) = outcome.resolved else {
                continue;
            };
            let key_uses: &[Use] = all.by_key.get(key).map(Vec::as_slice).unwrap_or(&[]);
            let entry = match old.get(key) {
                Some(e) => {
                    kept += 1;
                    Entry {
                        platforms: resolved.platforms.clone(),
                        media_type: e.media_type.clone().or(resolved.media_type.clone()),
                        ..e.clone()
                    }
                }
                None => {
                    added += 1;
                    entry_for(key, &resolved)
                }
            };
            for u in key_uses {
                if let Some(written) = u.reference.digest() {
                    if key.tag.is_some() && *written != entry.digest {
                        stale += 1;
                        diag.warning(format!(
                            "{}: {} is pinned to a stale digest; the registry has {} for {key}; run `imagelock pin` to rewrite it",
                            u.location(),
                            u.reference,
                            entry.digest
                        ));
                    }
                }
            }
            new.insert(entry);
        }
        if errors > 0 {
            diag.say(format!(
                "{errors} failure(s) while resolving; {} left unchanged",
                lockfile.display()
            ));
            return Ok(crate::exit::ERROR);
        }
    }
    let removed = old.keys().filter(|k| !all.by_key.contains_key(*k)).count();
    guard.save_if_changed(&new)?;
    diag.say(format!(
        "{}: {added} added, {kept} kept, {removed} removed, {stale} stale",
        lockfile.display()
    ));
    Ok(crate::exit::CLEAN)
}

fn by_digest(name: &str, digest: &str) -> anyhow::Result<Reference> {
    Ok(Reference::parse(&format!("{name}@{digest}"))?)
}

fn entry_for(key: &Key, resolved: &Resolved) -> Entry {
    Entry {
        name: key.name.clone(),
        tag: key.tag.clone(),
        digest: resolved.digest.clone(),
        media_type: resolved.media_type.clone(),
        platforms: resolved.platforms.clone(),
    }
}
