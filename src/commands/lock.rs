//! `imagelock lock`: make the lockfile cover exactly the references found.
//!
//! Locked references keep their entry and cost no request; new tags are
//! resolved; digest-only references are recorded without a request; entries
//! no manifest uses are removed. Any failure leaves the lockfile as it was.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::LockArgs;
use crate::commands::{
    collect_uses, parse_platforms, registry_client, report_registry_error, resolve_all, Use,
};
use crate::lockfile::{Entry, Key, Lockfile};
use crate::reference::Reference;
use crate::registry::Resolved;
use crate::report::Diagnostics;

pub fn run(args: &LockArgs, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    let platforms = parse_platforms(&args.platforms)?;
    let old = Lockfile::load(lockfile)?;
    let (uses, failed) = collect_uses(&args.paths, diag);
    if failed > 0 {
        diag.say(format!("{} left unchanged", lockfile.display()));
        return Ok(crate::exit::ERROR);
    }
    let wanted: Vec<String> = platforms.iter().map(ToString::to_string).collect();

    let mut new = Lockfile::new();
    let (mut added, mut kept) = (0usize, 0usize);
    // What needs a request: the key and the reference to ask for.
    let mut ask: Vec<(Key, Reference)> = Vec::new();
    for key in uses.keys() {
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
        let client = registry_client(&args.registry)?;
        let refs: Vec<Reference> = ask.iter().map(|(_, r)| r.clone()).collect();
        let results = resolve_all(&client, &refs, &platforms)?;
        let mut errors = 0usize;
        for ((key, _), result) in ask.iter().zip(results) {
            let key_uses: &[Use] = uses.get(key).map(Vec::as_slice).unwrap_or(&[]);
            match result {
                Err(e) => {
                    errors += 1;
                    report_registry_error(diag, &e, key_uses);
                }
                Ok(resolved) => {
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
            }
        }
        if errors > 0 {
            diag.say(format!(
                "{errors} image(s) could not be resolved; {} left unchanged",
                lockfile.display()
            ));
            return Ok(crate::exit::ERROR);
        }
    }
    let removed = old.keys().filter(|k| !uses.contains_key(*k)).count();
    if new.to_toml() != old.to_toml() || !Lockfile::exists(lockfile) {
        new.save(lockfile)?;
    }
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
