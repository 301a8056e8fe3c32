//! `imagelock check`: compare manifests with the lockfile (missing,
//! mismatched, with `--require-pinned` unpinned references; stale entries)
//! and with `--remote` the registries (tags whose digest moved).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{CheckArgs, CheckFormat};
use crate::commands::pull_access::{self, access_message, Ask};
use crate::commands::{
    collect_uses, registry_client, report_credential_warnings, report_registry_error, Use,
};
use crate::lockfile::Lockfile;
use crate::policy;
use crate::report::{github_data, github_property, Diagnostics};

/// One thing `check` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// `missing`, `mismatch`, `unpinned`, `drift` or `access` (a workload
    /// whose own pull credentials cannot pull its image).
    pub kind: &'static str,
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub reference: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Warning {
    file: Option<PathBuf>,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl Finding {
    fn at(kind: &'static str, u: &Use, message: String) -> Finding {
        Finding {
            kind,
            file: Some(u.file.clone()),
            line: Some(u.line),
            column: Some(u.column),
            reference: u.reference.original().to_string(),
            message,
            locked: None,
            actual: None,
        }
    }
}

pub fn run(args: &CheckArgs, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    let lock = Lockfile::load(lockfile)?;
    let mut all = collect_uses(&args.paths, &args.registry.credentials.namespace, diag);
    let failed = all.failed;
    let lf = lockfile.display().to_string();
    let mut findings = Vec::new();
    let mut warnings = Vec::new();

    for (key, key_uses) in &all.by_key {
        let entry = lock.get(key);
        for u in key_uses {
            let r = &u.reference;
            for w in policy::assess(r, u.pull_policy()).1 {
                warnings.push(Warning {
                    file: Some(u.file.clone()),
                    line: Some(u.line),
                    column: Some(u.column),
                    message: format!("{r}: {w}"),
                });
            }
            match (entry, r.digest()) {
                (None, _) => findings.push(Finding::at(
                    "missing",
                    u,
                    format!("{r}: {key} is not in {lf}; run `imagelock lock`"),
                )),
                (Some(e), Some(d)) if *d != e.digest => {
                    let mut f = Finding::at(
                        "mismatch",
                        u,
                        format!(
                            "{r}: pinned to {d} but {lf} has {}; run `imagelock pin`",
                            e.digest
                        ),
                    );
                    f.locked = Some(e.digest.to_string());
                    f.actual = Some(d.to_string());
                    findings.push(f);
                }
                (Some(e), None) if args.require_pinned => findings.push(Finding::at(
                    "unpinned",
                    u,
                    format!(
                        "{r}: not pinned to a digest ({lf} has {}); run `imagelock pin`",
                        e.digest
                    ),
                )),
                _ => {}
            }
        }
    }
    for key in lock.keys().filter(|k| !all.by_key.contains_key(*k)) {
        warnings.push(Warning {
            file: Some(lockfile.to_path_buf()),
            line: None,
            column: None,
            message: format!("stale entry {key}: no manifest uses it; `imagelock lock` removes it"),
        });
    }

    let mut registry_failed = false;
    if args.remote {
        let entries: Vec<_> = lock
            .entries()
            .filter(|e| e.tag.is_some())
            .cloned()
            .collect();
        let (client, extra) = registry_client(&args.registry)?;
        all.with_pod_credentials(&args.registry.credentials.namespace, &extra, diag);
        let mut asks = Vec::new();
        for entry in &entries {
            let key = crate::lockfile::Key::of_entry(entry);
            asks.push(Ask {
                reference: entry.reference()?,
                uses: all.by_key.get(&key).cloned().unwrap_or_default(),
                key,
            });
        }
        let outcomes = pull_access::resolve(&client, &asks, &[])?;
        report_credential_warnings(&client, diag);
        for ((entry, ask), outcome) in entries.iter().zip(&asks).zip(outcomes) {
            let r = &ask.reference;
            for (e, key_uses) in &outcome.errors {
                registry_failed = true;
                report_registry_error(diag, e, key_uses);
            }
            for (e, key_uses) in &outcome.access {
                let message = access_message(r, e, key_uses);
                for u in key_uses {
                    let mut f = Finding::at("access", u, message.clone());
                    f.reference = r.original().to_string();
                    findings.push(f);
                }
            }
            match outcome.resolved {
                Some(resolved) if resolved.digest != entry.digest => {
                    let message = format!(
                        "{r}: the tag moved: {lf} has {}, the registry now has {}; run `imagelock update {}` then `imagelock pin`",
                        entry.digest, resolved.digest, r.original()
                    );
                    let mut base = Finding {
                        kind: "drift",
                        file: None,
                        line: None,
                        column: None,
                        reference: r.original().to_string(),
                        message,
                        locked: Some(entry.digest.to_string()),
                        actual: Some(resolved.digest.to_string()),
                    };
                    if ask.uses.is_empty() {
                        findings.push(base);
                    } else {
                        for u in &ask.uses {
                            base.file = Some(u.file.clone());
                            base.line = Some(u.line);
                            base.column = Some(u.column);
                            findings.push(base.clone());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    print(args.format, &findings, &warnings, diag)?;
    let code = if failed > 0 || registry_failed {
        crate::exit::ERROR
    } else if findings.is_empty() {
        crate::exit::CLEAN
    } else {
        crate::exit::FINDINGS
    };
    let refs: usize = all.by_key.values().map(Vec::len).sum();
    diag.say(format!(
        "checked {refs} reference(s) against {lf}: {} finding(s), {} warning(s){}",
        findings.len(),
        warnings.len(),
        if args.remote {
            ", registries asked"
        } else {
            ""
        }
    ));
    Ok(code)
}

fn place(file: &Option<PathBuf>, line: Option<usize>, column: Option<usize>) -> String {
    match (file, line, column) {
        (Some(f), Some(l), Some(c)) => format!("{}:{l}:{c}: ", f.display()),
        (Some(f), _, _) => format!("{}: ", f.display()),
        _ => String::new(),
    }
}

fn print(
    format: CheckFormat,
    findings: &[Finding],
    warnings: &[Warning],
    diag: &mut Diagnostics,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        CheckFormat::Text => {
            for w in warnings {
                diag.warning(format!("{}{}", place(&w.file, w.line, w.column), w.message));
            }
            for f in findings {
                writeln!(
                    out,
                    "{}{}: {}",
                    place(&f.file, f.line, f.column),
                    f.kind,
                    f.message
                )?;
            }
        }
        CheckFormat::Json => {
            let doc = serde_json::json!({ "findings": findings, "warnings": warnings });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        CheckFormat::Github => {
            let annotate = |level: &str,
                            file: &Option<PathBuf>,
                            line: Option<usize>,
                            col: Option<usize>,
                            msg: &str| {
                let mut props = Vec::new();
                if let Some(f) = file {
                    props.push(format!(
                        "file={}",
                        github_property(&f.display().to_string())
                    ));
                }
                if let Some(l) = line {
                    props.push(format!("line={l}"));
                }
                if let Some(c) = col {
                    props.push(format!("col={c}"));
                }
                props.push("title=imagelock".to_string());
                format!("::{level} {}::{}", props.join(","), github_data(msg))
            };
            if !diag.is_quiet() {
                for w in warnings {
                    writeln!(
                        out,
                        "{}",
                        annotate("warning", &w.file, w.line, w.column, &w.message)
                    )?;
                }
            }
            for f in findings {
                writeln!(
                    out,
                    "{}",
                    annotate(
                        "error",
                        &f.file,
                        f.line,
                        f.column,
                        &format!("{}: {}", f.kind, f.message)
                    )
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
