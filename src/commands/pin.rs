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
use crate::pipeline::krm;
use crate::pipeline::lock_entries::{resolve_entries, Ask};
use crate::pipeline::options::check_registry_options;
use crate::pipeline::pin_plan::{PinPlanner, PlanCounts};
use crate::pipeline::remote::{load_mirrors, Remote};
use crate::pipeline::scanning::location;
use crate::pipeline::scanning::{
    read_standard_input, scan_each, scan_standard_input, FileText, Scanned, Uses,
};
use crate::reference::Digest;
use crate::report::Location;
use crate::report::{Diagnostics, Message};
use crate::rewrite::{apply, write_unified_diff, Edit};
use crate::scan::{Context, FileScan};
use crate::settings::PinSettings;
use crate::write::{Transaction, WriteError};

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

pub fn run(args: &PinSettings, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    if args.scan.paths.iter().any(|p| p.as_os_str() == "-") {
        return filter(args, lockfile, diag);
    }
    let lock = Lockfile::load(lockfile)?;
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
fn policy_summary(policies: usize) -> String {
    if policies == 0 {
        String::new()
    } else {
        format!(" and set {policies} pull policy(ies) to IfNotPresent")
    }
}

/// `pin -`: the filter. The stream on standard input (rendered manifests:
/// `helm template`, `kustomize build`, a `kind: List`, a KRM
/// `ResourceList`) goes to standard output with every tag reference
/// pinned from the lockfile and every other byte as it came. Nothing is
/// printed unless the whole stream could be pinned: a reference the
/// lockfile lacks, a digest that disagrees with it, a value the kubelet
/// would reject or an edit that cannot be made exactly fails the run
/// (exit 2) with every such reference listed on stderr, so a deploy never
/// proceeds half-pinned.
fn filter(args: &PinSettings, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    if args.scan.paths.len() > 1 {
        anyhow::bail!(
            "pin -: standard input is pinned to standard output on its own; pin files in a run of their own"
        );
    }
    if args.dry_run {
        anyhow::bail!(
            "pin -: --dry-run writes no file, and the filter writes none either: it prints the pinned stream"
        );
    }
    let file = read_standard_input()?;
    // A KRM `ResourceList` (kustomize, kpt) may name the lockfile and the
    // pull policy in its function config.
    let krm = match krm::read(&file.text) {
        None => None,
        Some(Ok(list)) => Some(list),
        Some(Err(e)) => anyhow::bail!("pin -: {e}"),
    };
    let config = krm.as_ref().map(|l| l.config.clone()).unwrap_or_default();
    let lockfile = config.lockfile.as_deref().unwrap_or(lockfile);
    let pull_policy = config.pull_policy.unwrap_or(args.pull_policy);
    if !args.remote && !Lockfile::exists(lockfile) {
        anyhow::bail!(
            "pin -: no lockfile at {}; create it from the same stream first (`helm template … | imagelock lock -`, `kustomize build … | imagelock lock -`), or name it with --lockfile",
            lockfile.display()
        );
    }
    // `--update-lockfile` holds the lockfile's directory lock from read to
    // write, as `lock` does.
    let (mut lock, guard) = if args.update_lockfile {
        let (lock, guard) = Lockfile::open_for_update(lockfile)?;
        (lock, Some(guard))
    } else {
        (Lockfile::load(lockfile)?, None)
    };
    if args.remote {
        check_registry_options(&args.registry, &[], diag);
    }
    // A failed KRM run returns the list as it came: kept only then.
    let original = krm.as_ref().map(|_| file.text.clone());
    let encoding = file.encoding;
    // The stream is scanned once. With --remote, what it holds is kept
    // until the registries have been asked about what the lockfile lacks,
    // then planned; without, it is planned as it is scanned.
    let mut pending = Some(file);
    let mut parts = Vec::new();
    let mut read: Option<FileText> = None;
    let mut failed_files = 0;
    if args.remote {
        let file = pending.take().expect("standard input is read above");
        let scanned = scan_standard_input(&args.scan, file, diag, |event, _| match event {
            Scanned::Part(_, part) => parts.push(part),
            Scanned::Void(_) => parts.clear(),
            Scanned::Done(file) => read = Some(file),
        });
        failed_files = scanned.failed;
        refuse_what_a_stream_cannot_hold(&parts, diag);
        if read.is_some() && diag.errors() == 0 {
            let resolved = resolve_missing(args, &mut lock, &parts, diag)?;
            if !resolved.is_empty() {
                diag.emit(
                    Message::warning(format!(
                        "pin -: {} reference(s) were pinned from their registries, not from {}: {}",
                        resolved.len(),
                        lockfile.display(),
                        resolved.join(", ")
                    ))
                    .code("not-locked")
                    .hint(Some(if args.update_lockfile {
                        "recorded in the lockfile (--update-lockfile)"
                    } else {
                        "record them with `… | imagelock lock -` (or --update-lockfile) so the next render needs no registry"
                    })),
                );
            }
        }
    }
    let mut planner =
        PinPlanner::new(&lock, lockfile, &args.scan.filters, pull_policy).strict_digests();
    let mut pinned: Option<String> = None;
    if let Some(file) = pending {
        let scanned = scan_standard_input(&args.scan, file, diag, |event, diag| match event {
            Scanned::Part(file, part) => {
                refuse_what_a_stream_cannot_hold(std::slice::from_ref(&part), diag);
                planner.plan_part(&file.text, &part, diag);
            }
            Scanned::Void(_) => planner.void_file(),
            Scanned::Done(file) => {
                let edits = planner
                    .finish_file(&file.path, &file.text, diag)
                    .unwrap_or_default();
                pinned = Some(apply(&file.text, &edits));
            }
        });
        failed_files = scanned.failed;
    } else if let Some(file) = &read {
        for part in &parts {
            planner.plan_part(&file.text, part, diag);
        }
        let edits = planner
            .finish_file(&file.path, &file.text, diag)
            .unwrap_or_default();
        pinned = Some(apply(&file.text, &edits));
    }
    // A compose file on standard input whose tags come from a `.env`
    // beside it would be pinned in that file: not by a filter.
    for plan in planner.finish_other_files(diag) {
        diag.emit(
            Message::error(format!(
                "pin -: {} would be written to pin the stream (a compose variable's value); the filter writes only to standard output",
                plan.path.display()
            ))
            .code("not-exact")
            .hint(Some("pin the compose project's files instead: `imagelock pin`")),
        );
    }
    let counts = planner.counts();
    if counts.missing > 0 {
        // The command to run names the lockfile unless it is the default.
        let named = if lockfile == Path::new("images.lock") {
            String::new()
        } else {
            format!(" --lockfile {}", lockfile.display())
        };
        diag.say(format!(
            "hint: {} reference(s) have no entry in {}; add them with the same stream: `… | imagelock lock{named} -`",
            counts.missing,
            lockfile.display()
        ));
    }
    let failed = diag.errors() > 0 || failed_files > 0 || counts.missing > 0 || counts.refused > 0;
    if let (false, Some(guard)) = (failed, &guard) {
        guard.save_if_changed(&lock)?;
    }
    // As a KRM function, the list goes back whole, with the run's errors
    // and warnings as its results: pinned, or as it came when the run
    // failed (never half-pinned).
    if let Some(list) = &krm {
        let mut text = match pinned {
            Some(pinned) if !failed => pinned,
            _ => original.unwrap_or_default(),
        };
        match list.results_left_out() {
            Some(why) if diag.errors() + diag.warnings() > 0 => diag.say(format!(
                "the messages above are not added to the ResourceList's results: {why}"
            )),
            _ => {
                let results = list.results(diag.messages());
                // In the list's own line ending.
                if text.contains("\r\n") {
                    text.push_str(&results.replace('\n', "\r\n"));
                } else {
                    text.push_str(&results);
                }
            }
        }
        let bytes = encoding.encode(&text);
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)?;
        out.flush()?;
        if failed {
            diag.say("the ResourceList is returned unpinned");
            return Ok(crate::exit::ERROR);
        }
        diag.say(format!(
            "pinned {} reference(s){} in the ResourceList",
            counts.changed_refs,
            policy_summary(counts.policies)
        ));
        return Ok(crate::exit::CLEAN);
    }
    let Some(bytes) = pinned.filter(|_| !failed).map(|t| encoding.encode(&t)) else {
        diag.say(
            "nothing was printed: the stream is printed only when every reference in it is pinned",
        );
        return Ok(crate::exit::ERROR);
    };
    // The stream goes out as it came, Secrets in it included: it is the
    // user's own data, not imagelock's output, so it is not passed through
    // the redactor (which would mask a pull secret's value in it).
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    out.flush()?;
    diag.say(format!(
        "pinned {} reference(s){} in the stream",
        counts.changed_refs,
        policy_summary(counts.policies)
    ));
    Ok(crate::exit::CLEAN)
}

/// `pin - --remote`: ask the registries about every tag of the stream the
/// lockfile lacks (with the pull secrets the stream holds and the
/// `--pull-secret` files, through the mirrors, as `lock` does), add what
/// they say to `lock`, and return the references so resolved. A registry
/// failure and a workload that cannot pull its image are errors.
fn resolve_missing(
    args: &PinSettings,
    lock: &mut Lockfile,
    parts: &[FileScan],
    diag: &mut Diagnostics,
) -> anyhow::Result<Vec<String>> {
    let namespace = &args.registry.credentials.namespace;
    let mut uses = Uses::default();
    for part in parts {
        uses.add(part.clone(), &args.scan.filters, namespace);
    }
    let mut asks = Vec::new();
    for key in uses.by_key.keys() {
        let reference = key.reference()?;
        if lock.get(key).is_some() || reference.tag().is_none() {
            continue;
        }
        asks.push(Ask {
            key: key.clone(),
            reference,
            uses: Vec::new(),
            platforms: Vec::new(),
        });
    }
    if asks.is_empty() {
        return Ok(Vec::new());
    }
    let mirrors = load_mirrors(&args.registry.mirrors)?;
    let remote = Remote::connect(&args.registry, &mirrors, diag)?;
    let at = remote.tag_source(diag)?;
    uses.with_pod_credentials(namespace, remote.pull_secrets(), diag);
    for a in &mut asks {
        a.uses = uses.of(&a.key).to_vec();
    }
    let answers = resolve_entries(&remote, lock, asks, at)?;
    remote.report_credential_warnings(diag);
    let mut resolved = Vec::new();
    for answer in answers {
        answer.report_failures(diag);
        if let Some(entry) = answer.entry {
            resolved.push(answer.ask.key.to_string());
            lock.insert(entry);
        }
    }
    remote.report_budget(diag);
    Ok(resolved)
}

/// What a rendered stream about to be applied cannot hold, as errors: a
/// placeholder in an image field (the kubelet rejects it), and a compose
/// image built from variables (its value depends on the environment
/// compose runs in, not on the stream).
fn refuse_what_a_stream_cannot_hold(parts: &[FileScan], diag: &mut Diagnostics) {
    for part in parts {
        for w in part.warnings.iter().filter(|w| w.placeholder) {
            diag.emit(
                Message::error(format!(
                    "{}: a stream about to be applied holds it, and the kubelet rejects it (InvalidImageName)",
                    w.message.trim_end_matches("; skipped")
                ))
                .at(Location::shared(w.file.clone(), w.line, w.column))
                .code("invalid")
                .hint(Some("render the template before pinning")),
            );
        }
        for image in &part.images {
            if let Context::Compose(c) = &image.context {
                if !c.built && !c.variables.is_empty() {
                    diag.emit(
                        Message::error(format!(
                            "{}: built from compose variables, whose values depend on the environment compose runs in, not on the stream",
                            image.reference
                        ))
                        .at(location(image))
                        .code("not-exact")
                        .hint(Some("pin the compose project's files instead: `imagelock pin`")),
                    );
                }
            }
        }
    }
}
