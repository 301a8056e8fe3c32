//! `imagelock update`: ask the registries again for locked tags (all, or the
//! named ones) and record the digests that moved. Prints old → new.

use std::io::Write;
use std::path::Path;

use crate::choices::UpdateFormat;
use crate::lockfile::{Entry, Key, Lockfile};
use crate::pipeline::lock_entries::{resolve_entries, Ask};
use crate::pipeline::mirror_checks::{check_locked, summary_suffix};
use crate::pipeline::options::{check_registry_options, parse_platforms};
use crate::pipeline::remote::{load_mirrors, registry_error, Remote};
use crate::pipeline::signature_checks::check_signatures;
use crate::reference::Reference;
use crate::registry::{ErrorKind, Platform, RegistryBudget};
use crate::report::{json, markdown, Diagnostics, Location, Message};
use crate::settings::UpdateSettings;

/// One locked tag whose entry changed: its digest moved, or its platform
/// set changed (`--platform`), or both.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
struct Change {
    name: String,
    tag: String,
    old: String,
    new: String,
    /// The platforms recorded before and after (empty for none).
    old_platforms: Vec<String>,
    new_platforms: Vec<String>,
}

impl Change {
    fn digest_moved(&self) -> bool {
        self.old != self.new
    }

    fn platforms_changed(&self) -> bool {
        self.old_platforms != self.new_platforms
    }
}

/// `linux/amd64, linux/arm64`, or `none`.
fn platform_list(platforms: &[String]) -> String {
    if platforms.is_empty() {
        "none".to_string()
    } else {
        platforms.join(", ")
    }
}

pub fn run(args: &UpdateSettings, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    if !Lockfile::exists(lockfile) {
        anyhow::bail!(
            "{}: no lockfile to update; run `imagelock lock` first",
            lockfile.display()
        );
    }
    // An option that cannot work is reported with the other failures
    // below, and the run stops before any request.
    check_registry_options(&args.registry, &args.platforms, diag);
    let cli_platforms = parse_platforms(&args.platforms).unwrap_or_default();
    let (old, guard) = Lockfile::open_for_update(lockfile)?;

    // Filters: by name (`nginx`) or name:tag (`nginx:1.25`).
    let mut filters = Vec::new();
    for image in &args.images {
        let r = Reference::parse(image)?;
        filters.push((image.as_str(), r.name(), r.tag().map(str::to_string)));
    }
    let matches = |e: &Entry, f: &(&str, String, Option<String>)| {
        e.name == f.1 && (f.2.is_none() || e.tag == f.2)
    };
    for f in &filters {
        if !old.entries().any(|e| e.tag.is_some() && matches(e, f)) {
            diag.emit(
                Message::error(format!(
                    "no locked tag matches {:?} ({}{})",
                    f.0,
                    f.1,
                    f.2.as_deref().map(|t| format!(":{t}")).unwrap_or_default()
                ))
                .at(Location::file(lockfile))
                .code("no-match")
                .hint(Some(
                    "`imagelock list` shows what is locked; `imagelock lock` adds new references",
                )),
            );
        }
    }
    if diag.errors() > 0 {
        return finish(args, &[], &[], diag);
    }

    // Entries keep the platforms they record unless --platform says otherwise.
    let mut asks = Vec::new();
    for e in old.entries().filter(|e| e.tag.is_some()) {
        if !filters.is_empty() && !filters.iter().any(|f| matches(e, f)) {
            continue;
        }
        let platforms: Vec<Platform> = if cli_platforms.is_empty() {
            e.platforms
                .keys()
                .map(|p| {
                    p.parse().map_err(|m: String| {
                        anyhow::anyhow!("{}: platform {p:?} in {}: {m}", e.name, lockfile.display())
                    })
                })
                .collect::<anyhow::Result<_>>()?
        } else {
            cli_platforms.clone()
        };
        asks.push(Ask {
            key: Key::of_entry(e),
            reference: e.reference()?,
            uses: Vec::new(),
            platforms,
        });
    }
    let asked = asks.len();
    let mirrors = load_mirrors(&args.registry.mirrors)?;
    if args.check_mirrors && mirrors.is_empty() {
        anyhow::bail!("--check-mirrors: no mirror is configured (give --mirror, --containerd-hosts-dir or --registries-conf)");
    }
    // One client for the run: resolution and the mirror checks share its
    // connections, credentials and rate-limit figures.
    let remote = Remote::connect(&args.registry, &mirrors, diag)?;
    let at = remote.tag_source(diag)?;
    let answers = resolve_entries(&remote, &old, asks, at)?;
    remote.report_credential_warnings(diag);
    let mut new = old.clone();
    let mut changes = Vec::new();
    for answer in answers {
        for (e, uses) in &answer.errors {
            let message = match (&e.kind, cli_platforms.is_empty()) {
                (ErrorKind::PlatformNotFound { wanted, available }, true) => {
                    recorded_platform_gone(e, wanted, available, &answer.ask, lockfile)
                }
                _ => registry_error(e, uses),
            };
            diag.emit(message);
        }
        if let (Some(before), Some(after)) = (&answer.previous, &answer.entry) {
            if before != after {
                let change = Change {
                    name: after.name.clone(),
                    tag: after.tag.clone().unwrap_or_default(),
                    old: before.digest.to_string(),
                    new: after.digest.to_string(),
                    old_platforms: before.platforms.keys().cloned().collect(),
                    new_platforms: after.platforms.keys().cloned().collect(),
                };
                if change.digest_moved() || change.platforms_changed() {
                    changes.push(change);
                }
            }
        }
        if let Some(mut entry) = answer.entry {
            // `--signatures`: what the lockfile recorded is looked up again.
            if args.signatures.record_all {
                entry.signatures.clear();
            }
            new.insert(entry);
        }
    }
    if diag.errors() == 0 {
        check_signatures(&remote, &args.signatures, &mut new, &|_| Vec::new(), diag)?;
    }
    if diag.errors() > 0 {
        let registries = remote.report_budget(diag);
        diag.say(format!(
            "{} image(s) could not be resolved or failed their signature rule; {} left unchanged",
            diag.errors(),
            lockfile.display()
        ));
        return finish(args, &[], &registries, diag);
    }
    changes.sort_by(|a, b| (&a.name, &a.tag).cmp(&(&b.name, &b.tag)));
    guard.save_if_changed(&new)?;
    let mirror_findings = if args.check_mirrors {
        check_locked(&remote, &new, diag)?
    } else {
        0
    };
    let registries = remote.report_budget(diag);
    let code = finish(args, &changes, &registries, diag)?.max(diag.exit_status(mirror_findings));
    diag.say(format!(
        "{}: {asked} tag(s) asked, {} changed{}",
        lockfile.display(),
        changes.len(),
        summary_suffix(&args.registry)
    ));
    Ok(code)
}

/// Print the changes (and in JSON the registries' rate-limit figures) in
/// the chosen format; the exit status.
fn finish(
    args: &UpdateSettings,
    changes: &[Change],
    registries: &[RegistryBudget],
    diag: &Diagnostics,
) -> anyhow::Result<i32> {
    let mut out = std::io::BufWriter::new(crate::redact::stdout());
    match args.format {
        UpdateFormat::Text => {
            for c in changes {
                if c.digest_moved() {
                    writeln!(out, "{}:{}  {} -> {}", c.name, c.tag, c.old, c.new)?;
                }
                if c.platforms_changed() {
                    writeln!(
                        out,
                        "{}:{}  platforms {} -> {}",
                        c.name,
                        c.tag,
                        platform_list(&c.old_platforms),
                        platform_list(&c.new_platforms)
                    )?;
                }
            }
        }
        UpdateFormat::Json => {
            let doc = json::document(
                vec![
                    ("changes", serde_json::json!(changes)),
                    ("registries", serde_json::json!(registries)),
                ],
                diag,
            );
            json::print(&mut out, &doc)?;
        }
        UpdateFormat::Markdown => {
            if changes.iter().any(Change::digest_moved) {
                writeln!(out, "| Image | Tag | Old digest | New digest |")?;
                writeln!(out, "|---|---|---|---|")?;
                for c in changes.iter().filter(|c| c.digest_moved()) {
                    writeln!(
                        out,
                        "| `{}` | `{}` | `{}` | `{}` |",
                        markdown::cell(&c.name),
                        markdown::cell(&c.tag),
                        short(&c.old),
                        short(&c.new)
                    )?;
                }
            }
            if changes.iter().any(Change::platforms_changed) {
                if changes.iter().any(Change::digest_moved) {
                    writeln!(out)?;
                }
                writeln!(out, "| Image | Tag | Old platforms | New platforms |")?;
                writeln!(out, "|---|---|---|---|")?;
                for c in changes.iter().filter(|c| c.platforms_changed()) {
                    writeln!(
                        out,
                        "| `{}` | `{}` | {} | {} |",
                        markdown::cell(&c.name),
                        markdown::cell(&c.tag),
                        markdown::cell(&platform_list(&c.old_platforms)),
                        markdown::cell(&platform_list(&c.new_platforms))
                    )?;
                }
            }
        }
    }
    out.flush()?;
    Ok(diag.exit_status(0))
}

/// A platform the lockfile records for an entry (no `--platform` given)
/// that the image no longer has: say where it came from, and the command
/// that records the platforms it still has.
fn recorded_platform_gone(
    e: &crate::registry::RegistryError,
    wanted: &str,
    available: &[String],
    ask: &Ask,
    lockfile: &Path,
) -> Message {
    let name = format!(
        "{}:{}",
        ask.key.name,
        ask.key.tag.as_deref().unwrap_or("latest")
    );
    // Available platforms as platforms (a single-platform image's is
    // named with a remark after it).
    let have: Vec<Platform> = available
        .iter()
        .filter_map(|a| a.split(' ').next()?.parse().ok())
        .collect();
    let mut keep: Vec<String> = ask
        .platforms
        .iter()
        .filter(|p| have.iter().any(|h| p.matches(h)))
        .map(ToString::to_string)
        .collect();
    if keep.is_empty() {
        keep = have.iter().map(ToString::to_string).collect();
    }
    let flags: Vec<String> = keep.iter().map(|p| format!("--platform {p}")).collect();
    let hint = if flags.is_empty() {
        format!(
            "the image names no platform now: remove {wanted} from the entry's `platforms` in {}, or lock another tag",
            lockfile.display()
        )
    } else {
        format!(
            "record the platforms it still has: `imagelock update {} {name}` (this replaces the entry's platform set in {})",
            flags.join(" "),
            lockfile.display()
        )
    };
    Message::error(format!(
        "{e} (platform {wanted} is recorded for {name} in {}, and `update` asks for the platforms an entry records)",
        lockfile.display()
    ))
    .at(Location::file(lockfile))
    .code(e.code())
    .hint(Some(hint))
}

/// `sha256:0123456789ab` — enough to tell digests apart in a table.
fn short(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |i| i + 13).min(digest.len());
    &digest[..end]
}
