//! `imagelock check`: compare manifests with the lockfile (missing,
//! mismatched, with `--require-pinned` unpinned references; stale entries)
//! and with `--remote` the registries (tags whose digest moved, workloads
//! that cannot pull their image).

use std::io::Write;
use std::path::Path;

use crate::choices::CheckFormat;
use crate::lockfile::{Key, Lockfile};
use crate::pipeline::lock_entries::{access_message, resolve_entries, Ask};
use crate::pipeline::options::check_registry_options;
use crate::pipeline::remote::{load_mirrors, registry_error, Remote};
use crate::pipeline::scanning::{assess_policy, collect_uses, Use};
use crate::pipeline::signature_checks::{signature_findings, unverified_rule};
use crate::registry::{ErrorKind, RegistryBudget};
use crate::report::{
    github, json, markdown, sarif, sort_findings, text, Diagnostics, Finding, FindingKind,
    Location, Message,
};
use crate::settings::CheckSettings;

fn finding(kind: FindingKind, u: &Use, message: String) -> Finding {
    Finding::new(
        kind,
        Some(u.location.clone()),
        u.reference.original(),
        message,
    )
}

pub fn run(args: &CheckSettings, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    // A failure that stops the check (an unreadable lockfile, a bad
    // option) is still reported in the chosen format.
    let (mut findings, refs, registries) = match find(args, lockfile, diag) {
        Ok(found) => found,
        Err(e) => {
            diag.emit(crate::commands::failure(&e));
            (Vec::new(), 0, Vec::new())
        }
    };
    sort_findings(&mut findings);
    print(args, &findings, refs, &registries, lockfile, diag)?;
    diag.say(format!(
        "checked {refs} reference(s) against {}: {} finding(s), {} error(s), {} warning(s){}{}",
        lockfile.display(),
        findings.len(),
        diag.errors(),
        diag.warnings(),
        if args.remote {
            ", registries asked"
        } else {
            ""
        },
        if args.remote {
            crate::pipeline::mirror_checks::summary_suffix(&args.registry)
        } else {
            ""
        }
    ));
    Ok(diag.exit_status(findings.len()))
}

/// Every finding, the number of references checked, and with `--remote`
/// the rate-limit figures of the registries that stated them.
fn find(
    args: &CheckSettings,
    lockfile: &Path,
    diag: &mut Diagnostics,
) -> anyhow::Result<(Vec<Finding>, usize, Vec<RegistryBudget>)> {
    // With --remote, an option that cannot work is reported with the
    // scan's findings and failures; the registries are then not asked.
    let options_ok = !args.remote || check_registry_options(&args.registry, &[], diag);
    let lock = Lockfile::load(lockfile)?;
    let namespace = &args.registry.credentials.namespace;
    let mut all = collect_uses(&args.scan, namespace, diag);
    let lf = lockfile.display().to_string();
    let mut findings: Vec<Finding> = all
        .invalid
        .iter()
        .map(|i| {
            Finding::new(
                FindingKind::Invalid,
                Some(Location::shared(i.file.clone(), i.line, i.column)),
                &i.value,
                format!("invalid image reference {:?}: {}", i.value, i.message),
            )
            .with_hint("the kubelet refuses it with InvalidImageName; write a valid reference")
        })
        .collect();

    // A registries.conf that blocks a reference's registry: a finding
    // with or without --remote (a node would refuse the pull).
    let mirrors = load_mirrors(&args.registry.mirrors)?;
    for (key, key_uses) in &all.by_key {
        let entry = lock.get(key);
        for u in key_uses {
            let r = &u.reference;
            assess_policy(r, &u.context, &u.location, diag);
            if let Some(b) = mirrors.blocked(r) {
                findings.push(
                    finding(
                        FindingKind::Blocked,
                        u,
                        b.refusal(r),
                    )
                    .with_hint(format!(
                        "use an image from a registry that is not blocked (or copy it to one and change the reference), or remove `blocked = true` from {} if the block no longer applies",
                        b.file.display()
                    )),
                );
            }
            match (entry, r.digest()) {
                (None, _) => findings.push(
                    finding(
                        FindingKind::Missing,
                        u,
                        format!("{r}: {key} is not in {lf}"),
                    )
                    .with_hint("run `imagelock lock`"),
                ),
                (Some(e), Some(d)) if *d != e.digest => findings.push(
                    finding(
                        FindingKind::Mismatch,
                        u,
                        format!("{r}: pinned to {d} but {lf} has {}", e.digest),
                    )
                    .with_hint("run `imagelock pin`")
                    .with_digests(&e.digest, Some(d.to_string())),
                ),
                (Some(e), None) if args.require_pinned => findings.push(
                    finding(
                        FindingKind::Unpinned,
                        u,
                        format!("{r}: not pinned to a digest ({lf} has {})", e.digest),
                    )
                    .with_hint(
                        u.unpinnable
                            .clone()
                            .unwrap_or_else(|| "run `imagelock pin`".to_string()),
                    )
                    .with_digests(&e.digest, None),
                ),
                _ => {}
            }
            // Offline, the records are all there is to go by: an entry its
            // rule never verified (a digest edited by hand or in a pull
            // request) is not passed silently. `--remote` asks the
            // registry instead (below).
            if let (false, Some(e)) = (args.remote, entry) {
                if let Some(rule) = unverified_rule(&args.signatures, e) {
                    findings.push(
                        finding(
                            FindingKind::Unsigned,
                            u,
                            format!(
                                "{r}: {lf} records no signature of {} verified by rule {:?} ({})",
                                e.digest, rule.name, rule.requirement
                            ),
                        )
                        .with_hint("run `imagelock lock` (it verifies the digest, or refuses it) or `imagelock check --remote`")
                        .with_digests(&e.digest, None),
                    );
                }
            }
        }
    }
    // While a file fails to parse, any entry might be one it uses.
    if all.scan.failed == 0 {
        for key in lock.keys().filter(|k| !all.by_key.contains_key(*k)) {
            diag.emit(
                Message::warning(format!("stale entry {key}: no manifest uses it"))
                    .at(Location::file(lockfile))
                    .code("stale")
                    .hint(Some("`imagelock lock` removes it")),
            );
        }
    }

    let mut registries = Vec::new();
    if args.remote && options_ok {
        let remote = Remote::connect(&args.registry, &mirrors, diag)?;
        let at = remote.tag_source(diag)?;
        all.with_pod_credentials(namespace, remote.pull_secrets(), diag);
        let mut asks = Vec::new();
        for entry in lock.entries().filter(|e| e.tag.is_some()) {
            let key = Key::of_entry(entry);
            asks.push(Ask {
                reference: entry.reference()?,
                uses: all.of(&key).to_vec(),
                key,
                platforms: Vec::new(),
            });
        }
        let answers = resolve_entries(&remote, &lock, asks, at)?;
        // Upstream's digest per tag, to compare the mirrors' with (resolved
        // at a mirror, the locked digest stands for upstream instead).
        let now = answers
            .iter()
            .filter(|_| at.is_none())
            .filter_map(|a| Some((a.ask.key.clone(), a.entry.as_ref()?.digest.clone())))
            .collect();
        findings.extend(crate::pipeline::mirror_checks::findings(
            &remote,
            &lock,
            &now,
            &|k| all.of(k).to_vec(),
            args.compare_tags,
            diag,
        )?);
        findings.extend(signature_findings(
            &remote,
            &args.signatures,
            &lock,
            &|k| all.of(k).to_vec(),
            diag,
        )?);
        remote.report_credential_warnings(diag);
        for answer in &answers {
            let r = &answer.ask.reference;
            // A blocked reference was not asked; its uses are findings above.
            for (e, uses) in answer
                .errors
                .iter()
                .filter(|(e, _)| !matches!(e.kind, ErrorKind::Blocked { .. }))
            {
                diag.emit(registry_error(e, uses));
            }
            for (e, uses) in &answer.access {
                let message = access_message(r, e, uses);
                for u in uses {
                    let mut f = finding(FindingKind::Access, u, message.clone());
                    f.reference = r.original().to_string();
                    f.hint = e.hint();
                    findings.push(f);
                }
            }
            if let Some((before, after)) = answer.moved() {
                let drift = Finding::new(
                    FindingKind::Drift,
                    None,
                    r.original(),
                    format!(
                        "{r}: the tag moved: {lf} has {}, the registry now has {}",
                        before.digest, after.digest
                    ),
                )
                .with_hint(format!(
                    "run `imagelock update {}` then `imagelock pin`",
                    r.original()
                ))
                .with_digests(&before.digest, Some(after.digest.to_string()));
                for u in &answer.ask.uses {
                    findings.push(Finding {
                        location: Some(u.location.clone()),
                        ..drift.clone()
                    });
                }
                if answer.ask.uses.is_empty() {
                    findings.push(drift);
                }
            }
        }
        registries = remote.report_budget(diag);
    }

    Ok((findings, all.count(), registries))
}

/// Print findings (and, in the machine formats, errors and warnings) in
/// the chosen format.
fn print(
    args: &CheckSettings,
    findings: &[Finding],
    refs: usize,
    registries: &[RegistryBudget],
    lockfile: &Path,
    diag: &Diagnostics,
) -> anyhow::Result<()> {
    let summary = serde_json::json!({
        "references": refs,
        "findings": findings.len(),
        "errors": diag.errors(),
        "warnings": diag.warnings(),
        "remote": args.remote,
    });
    let mut out = std::io::BufWriter::new(crate::redact::stdout());
    match args.format {
        CheckFormat::Text => text::print_findings(&mut out, findings)?,
        CheckFormat::Json => {
            let doc = json::document(
                vec![
                    ("findings", serde_json::json!(findings)),
                    ("summary", summary),
                    ("registries", serde_json::json!(registries)),
                ],
                diag,
            );
            json::print(&mut out, &doc)?;
        }
        CheckFormat::Github => github::print(&mut out, findings, diag.messages(), diag.is_quiet())?,
        CheckFormat::Markdown => markdown::print_findings(&mut out, findings, diag.messages())?,
        CheckFormat::Sarif => {
            let base = std::env::current_dir()?;
            sarif::print(
                &mut out,
                findings,
                diag.messages(),
                diag.is_quiet(),
                lockfile,
                &base,
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
