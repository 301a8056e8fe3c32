//! `imagelock pin`: rewrite every tag reference to `name:tag@digest` from the
//! lockfile. The edits are planned by [`PinPlanner`]; this file is the
//! output: a transaction on disk, or `--dry-run`'s diff.
//!
//! Every edit is planned first; if any reference has no lock entry, any file
//! fails to parse or any value cannot be rewritten exactly, no file is
//! written. Then every file is written in one [`Transaction`]: all are
//! staged (each re-checked against the bytes scanned), and only then
//! renamed, so a failure or a signal leaves every file as it was. The
//! writing holds [`crate::dirlock`]'s locks on the lockfile's directory and
//! on every directory written in, so two runs at once never mix: the
//! second finds the files changed and writes nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::lockfile::Lockfile;
use crate::pipeline::pin_plan::{PinPlanner, PlanCounts};
use crate::pipeline::scanning::{scan_each, Scanned};
use crate::reference::Digest;
use crate::report::{Diagnostics, Message};
use crate::rewrite::{apply, write_unified_diff, Edit};
use crate::settings::PinSettings;
use crate::write::{Transaction, WriteError};

mod filter;

struct Planned {
    path: PathBuf,
    digest_before: Digest,
    edits: Vec<Edit>,
}

/// Where each checked file's edits go: `--dry-run`'s spooled diff, or the
/// plans the transaction writes.
struct Output {
    diff: Option<std::io::BufWriter<std::fs::File>>,
    plans: Vec<Planned>,
    /// The first error writing the diff.
    io_error: Option<std::io::Error>,
}

impl Output {
    fn add(&mut self, path: PathBuf, text: &str, edits: Vec<Edit>) {
        match self.diff.as_mut() {
            Some(spool) => {
                let shown = path.display().to_string();
                if let Err(e) = write_unified_diff(spool, &shown, text, &edits) {
                    self.io_error.get_or_insert(e);
                }
            }
            None => self.plans.push(Planned {
                digest_before: Digest::sha256_of(text.as_bytes()),
                path,
                edits,
            }),
        }
    }
}

/// Refuse a lockfile holding an entry a `[[verify]]` rule names whose
/// records show no signature verified with what the rule requires now (a
/// digest edited by hand or in a pull request, its records dropped; a
/// lockfile from before the rule): `lock` verifies it, `pin` does not pin
/// it unverified.
fn refuse_unverified(args: &PinSettings, lock: &Lockfile, lockfile: &Path) -> anyhow::Result<()> {
    let unverified: Vec<String> = lock
        .entries()
        .filter_map(|e| {
            crate::pipeline::signature_checks::unverified_rule(&args.signatures, e).map(|rule| {
                format!(
                    "{} ({}, rule {:?})",
                    crate::lockfile::Key::of_entry(e),
                    e.digest,
                    rule.name
                )
            })
        })
        .collect();
    if unverified.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{}: {} entry(ies) a [[verify]] rule names record no signature verified by it: {}; nothing was pinned. Run `imagelock lock` (it verifies each digest, or refuses it), then pin",
        lockfile.display(),
        unverified.len(),
        unverified.join(", ")
    )
}

pub fn run(args: &PinSettings, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    if args.scan.paths.iter().any(|p| p.as_os_str() == "-") {
        return filter::run(args, lockfile, diag);
    }
    let lock = Lockfile::load(lockfile)?;
    refuse_unverified(args, &lock, lockfile)?;
    let mut planner = PinPlanner::new(&lock, lockfile, &args.scan.filters, args.pull_policy);
    // `--dry-run`'s diff, shown only when the run would write it (a run
    // that fails writes nothing, so it shows nothing either): spooled to
    // an unnamed temporary file, so memory does not grow with it.
    let mut out = Output {
        diff: if args.dry_run {
            Some(std::io::BufWriter::new(tempfile::tempfile()?))
        } else {
            None
        },
        plans: Vec::new(),
        io_error: None,
    };
    let scanned = scan_each(&args.scan, diag, |event, diag| match event {
        Scanned::Part(file, part) => planner.plan_part(&file.text, &part, diag),
        Scanned::Void(_) => planner.void_file(),
        Scanned::Done(file) => {
            if let Some(edits) = planner.finish_file(&file.path, &file.text, diag) {
                out.add(file.path, &file.text, edits);
            }
        }
    });
    for plan in planner.finish_other_files(diag) {
        out.add(plan.path, &plan.text, plan.edits);
    }
    let PlanCounts {
        missing,
        refused,
        changed_refs,
        policies,
    } = planner.counts();
    let Output {
        diff,
        plans,
        io_error,
    } = out;
    if let Some(e) = io_error {
        return Err(e.into());
    }

    if missing > 0 {
        diag.say(format!(
            "hint: {missing} reference(s) have no entry in {}; run `imagelock lock` to add them",
            lockfile.display()
        ));
    }
    // Any error (a file that does not parse, an invalid value) stops the run.
    if diag.errors() > 0 || scanned.failed > 0 || missing > 0 || refused > 0 {
        if args.dry_run {
            diag.say("nothing would be written: the run fails, so no diff is shown (--dry-run)");
        } else {
            diag.say("no file was changed");
        }
        return Ok(crate::exit::ERROR);
    }
    if let Some(spool) = diff {
        use std::io::Seek as _;
        let mut spool = spool
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        spool.seek(std::io::SeekFrom::Start(0))?;
        let mut out = crate::redact::stdout();
        std::io::copy(&mut spool, &mut out)?;
        out.flush()?;
        diag.say(format!(
            "would pin {changed_refs} reference(s){}; nothing written (--dry-run)",
            policy_summary(policies)
        ));
        return Ok(crate::exit::CLEAN);
    }

    write_all(&plans, (lockfile, &lock), changed_refs, policies, diag)
}

/// Under the locks of the lockfile's directory and of every directory
/// written in (so a `lock`, `update` or other `pin` run waits, and this one
/// for them), check that the lockfile and every file still hold what was
/// read, stage every planned file, then rename them all (the transaction
/// reads each file once more just before); on any failure nothing changes.
fn write_all(
    plans: &[Planned],
    (lockfile, lock): (&Path, &Lockfile),
    changed_refs: usize,
    policies: usize,
    diag: &mut Diagnostics,
) -> anyhow::Result<i32> {
    let paths: Vec<&Path> = plans.iter().map(|p| p.path.as_path()).collect();
    let _locks = crate::dirlock::lock_for_writing(lockfile, &paths)?;
    // Another run may have updated the lockfile before this one had the lock.
    if Lockfile::load(lockfile)? != *lock {
        diag.error(
            format!(
                "{}: changed while imagelock was running (another run updated it)",
                lockfile.display()
            ),
            Some("run `imagelock pin` again"),
        );
        diag.say("no file was changed");
        return Ok(crate::exit::ERROR);
    }
    let mut transaction = Transaction::new();
    for plan in plans {
        let bytes = fs_err::read(&plan.path)?;
        // Spans index the decoded text; the file keeps its encoding.
        let (text, encoding) = crate::scan::Encoding::decode(&plan.path, &bytes)?;
        if Digest::sha256_of(text.as_bytes()) != plan.digest_before {
            diag.error(
                format!(
                    "{}: changed while imagelock was running",
                    plan.path.display()
                ),
                Some("run `imagelock pin` again"),
            );
            diag.say("no file was changed");
            return Ok(crate::exit::ERROR);
        }
        let new = encoding.encode(&apply(&text, &plan.edits));
        match transaction.stage_replacing(&plan.path, &new, &bytes) {
            Ok(()) => {}
            // Dropping the transaction (on return) removes every temporary.
            Err(e @ WriteError::Interrupted(_)) => return Err(e.into()),
            Err(e) => {
                diag.error(&e, None);
                diag.say("no file was changed");
                return Ok(crate::exit::ERROR);
            }
        }
    }
    for linked in transaction.hard_linked() {
        let others = linked.links - 1;
        let rest = others.saturating_sub(linked.also_staged);
        let fate = if rest == 0 {
            format!("its other {others} name(s) were pinned in this run too, each as a file of its own: they are no longer linked")
        } else if linked.also_staged > 0 {
            format!("{} other name(s) were pinned in this run too, each as a file of its own; the other {rest} name(s) keep the old content", linked.also_staged)
        } else {
            format!("the other {rest} name(s) keep the old content")
        };
        diag.emit(
            Message::warning(format!(
                "{} has {} hard links: pin wrote it as a new file (through a temporary and a rename, so that no run is left half-written); {fate}",
                linked.path.display(),
                linked.links,
            ))
            .code("hard-link")
            .hint(Some(
                "pin each name, or replace the hard links with symbolic links (written through)",
            )),
        );
    }
    match transaction.commit() {
        Ok(written) => {
            diag.say(format!(
                "pinned {changed_refs} reference(s){} in {written} file(s)",
                policy_summary(policies)
            ));
            Ok(crate::exit::CLEAN)
        }
        Err(e @ WriteError::Interrupted(_)) => Err(e.into()),
        Err(e @ WriteError::Changed { .. }) => {
            diag.error(&e, Some("run `imagelock pin` again"));
            diag.say("no file was changed");
            Ok(crate::exit::ERROR)
        }
        Err(e) => {
            let written = match &e {
                WriteError::Incomplete { replaced, .. } => *replaced,
                _ => 0,
            };
            diag.error(&e, None);
            diag.say(format!("{written} file(s) written"));
            Ok(crate::exit::ERROR)
        }
    }
}

/// `, set N pull policies` when `--pull-policy` set any.
pub(super) fn policy_summary(policies: usize) -> String {
    if policies == 0 {
        String::new()
    } else {
        format!(" and set {policies} pull policy(ies) to IfNotPresent")
    }
}
