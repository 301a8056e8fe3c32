//! `imagelock update`: ask the registries again for locked tags (all, or the
//! named ones) and record the digests that moved. Prints old → new.

use std::io::Write;
use std::path::Path;

use crate::cli::{UpdateArgs, UpdateFormat};
use crate::commands::{
    parse_platforms, registry_client, report_credential_warnings, report_registry_error,
    resolve_all,
};
use crate::lockfile::{Entry, Lockfile};
use crate::reference::Reference;
use crate::registry::Platform;
use crate::report::Diagnostics;

#[derive(Debug, serde::Serialize)]
struct Change {
    name: String,
    tag: String,
    old: String,
    new: String,
}

pub fn run(args: &UpdateArgs, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    if !Lockfile::exists(lockfile) {
        anyhow::bail!(
            "{}: no lockfile to update; run `imagelock lock` first",
            lockfile.display()
        );
    }
    let cli_platforms = parse_platforms(&args.platforms)?;
    let (mut lock, guard) = Lockfile::open_for_update(lockfile)?;

    // Filters: by name (`nginx`) or name:tag (`nginx:1.25`).
    let mut filters = Vec::new();
    for image in &args.images {
        let r = Reference::parse(image)?;
        filters.push((image.as_str(), r.name(), r.tag().map(str::to_string)));
    }
    let matches = |e: &Entry, f: &(&str, String, Option<String>)| {
        e.name == f.1 && (f.2.is_none() || e.tag == f.2)
    };
    let mut bad_filter = false;
    for f in &filters {
        if !lock.entries().any(|e| e.tag.is_some() && matches(e, f)) {
            bad_filter = true;
            diag.error(
                format!(
                    "{}: no locked tag matches {:?} ({}{})",
                    lockfile.display(),
                    f.0,
                    f.1,
                    f.2.as_deref().map(|t| format!(":{t}")).unwrap_or_default()
                ),
                Some("`imagelock list` shows what is locked; `imagelock lock` adds new references"),
            );
        }
    }
    if bad_filter {
        return Ok(crate::exit::ERROR);
    }
    let targets: Vec<Entry> = lock
        .entries()
        .filter(|e| e.tag.is_some())
        .filter(|e| filters.is_empty() || filters.iter().any(|f| matches(e, f)))
        .cloned()
        .collect();

    // Entries keep the platforms they record unless --platform says otherwise;
    // group requests by platform set so each is asked once.
    let platforms_of = |e: &Entry| -> anyhow::Result<Vec<Platform>> {
        if !cli_platforms.is_empty() {
            return Ok(cli_platforms.clone());
        }
        e.platforms
            .keys()
            .map(|p| {
                p.parse().map_err(|m: String| {
                    anyhow::anyhow!("{}: platform {p:?} in {}: {m}", e.name, lockfile.display())
                })
            })
            .collect()
    };
    let (client, _) = registry_client(&args.registry)?;
    let mut groups: std::collections::BTreeMap<Vec<Platform>, Vec<Entry>> = Default::default();
    for e in targets {
        groups.entry(platforms_of(&e)?).or_default().push(e);
    }
    let mut changes = Vec::new();
    let mut errors = 0usize;
    for (platforms, entries) in &groups {
        let refs: Vec<Reference> = entries
            .iter()
            .map(Entry::reference)
            .collect::<Result<_, _>>()?;
        for ((entry, _r), result) in entries
            .iter()
            .zip(&refs)
            .zip(resolve_all(&client, &refs, platforms)?)
        {
            match result {
                Err(e) => {
                    errors += 1;
                    report_registry_error(diag, &e, &[]);
                }
                Ok(resolved) => {
                    if resolved.digest != entry.digest {
                        changes.push(Change {
                            name: entry.name.clone(),
                            tag: entry.tag.clone().unwrap_or_default(),
                            old: entry.digest.to_string(),
                            new: resolved.digest.to_string(),
                        });
                    }
                    lock.insert(Entry {
                        digest: resolved.digest,
                        media_type: resolved.media_type.or(entry.media_type.clone()),
                        platforms: resolved.platforms,
                        ..entry.clone()
                    });
                }
            }
        }
    }
    report_credential_warnings(&client, diag);
    if errors > 0 {
        diag.say(format!(
            "{errors} image(s) could not be resolved; {} left unchanged",
            lockfile.display()
        ));
        return Ok(crate::exit::ERROR);
    }
    changes.sort_by(|a, b| (&a.name, &a.tag).cmp(&(&b.name, &b.tag)));
    guard.save_if_changed(&lock)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        UpdateFormat::Text => {
            for c in &changes {
                writeln!(out, "{}:{}  {} -> {}", c.name, c.tag, c.old, c.new)?;
            }
        }
        UpdateFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&changes)?)?,
        UpdateFormat::Markdown => {
            if !changes.is_empty() {
                writeln!(out, "| Image | Tag | Old digest | New digest |")?;
                writeln!(out, "|---|---|---|---|")?;
                for c in &changes {
                    writeln!(
                        out,
                        "| `{}` | `{}` | `{}` | `{}` |",
                        c.name,
                        c.tag,
                        short(&c.old),
                        short(&c.new)
                    )?;
                }
            }
        }
    }
    out.flush()?;
    let asked: usize = groups.values().map(Vec::len).sum();
    diag.say(format!(
        "{}: {asked} tag(s) asked, {} changed",
        lockfile.display(),
        changes.len()
    ));
    Ok(crate::exit::CLEAN)
}

/// `sha256:0123456789ab` — enough to tell digests apart in a table.
fn short(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |i| i + 13).min(digest.len());
    &digest[..end]
}
