//! `imagelock pin`: rewrite every tag reference to `name:tag@digest` from the
//! lockfile, carrying out each found image's [`EditPlan`] (today: replace
//! the scalar's bytes, and nothing else).
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

use crate::cli::{PinArgs, PinPullPolicy};
use crate::commands::scanning::{built_note, location, scan_each, Scanned};
use crate::lockfile::Lockfile;
use crate::reference::Digest;
use crate::report::{Diagnostics, Message};
use crate::rewrite::{apply, normalize, pin_value, plan_edit, write_unified_diff, Edit, PlanError};
use crate::scan::{Context, EditPlan, FoundImage, ImageField};
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

pub fn run(args: &PinArgs, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        anyhow::bail!(
            "pin -: standard input has no file to write back to; pin the files the output is rendered from (manifests, a kustomization, a chart's values), or save the output to a file and pin that"
        );
    }
    let lock = Lockfile::load(lockfile)?;

    let mut missing = 0usize;
    let mut refused = 0usize;
    let mut changed_refs = 0usize;
    let mut policies = 0usize;
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

    // The edits of the file being read, and how many of them set a policy.
    let mut edits = Vec::new();
    // Which reference each image edit pins, at which line (for a conflict).
    let mut owners: Vec<(std::ops::Range<usize>, String, usize)> = Vec::new();
    let mut file_policies = 0usize;
    // Edits a file's images plan in another file (a compose project's
    // `.env`), kept until the file is read to its end, then gathered per
    // file: several compose files may pin through one `.env`.
    let mut file_others: Vec<(PathBuf, Edit)> = Vec::new();
    let mut others: std::collections::BTreeMap<PathBuf, Vec<Edit>> = Default::default();
    let mut other_texts: std::collections::HashMap<PathBuf, std::io::Result<String>> =
        Default::default();
    let scanned = scan_each(&args.paths, &args.helm_values, diag, |event, diag| {
        let (file, part) = match event {
            Scanned::Part(file, part) => (file, part),
            Scanned::Void(_) => {
                edits.clear();
                file_others.clear();
                owners.clear();
                file_policies = 0;
                return;
            }
            Scanned::Done(file) => {
                for (path, edit) in file_others.drain(..) {
                    others.entry(path).or_default().push(edit);
                }
                let policies_here = std::mem::take(&mut file_policies);
                let owners = std::mem::take(&mut owners);
                if edits.is_empty() {
                    return;
                }
                let edits = match normalize(std::mem::take(&mut edits)) {
                    Ok(e) => e,
                    Err(overlap) => {
                        refused += 1;
                        let (line, column) = crate::lockfile::line_col(&file.text, overlap.at);
                        let who = |span: &std::ops::Range<usize>| {
                            owners
                                .iter()
                                .find(|(s, _, _)| s == span)
                                .map(|(_, r, l)| format!("{r} (line {l})"))
                        };
                        let (first_line, _) =
                            crate::lockfile::line_col(&file.text, overlap.first.start);
                        let names = match (who(&overlap.first), who(&overlap.second)) {
                            (Some(a), Some(b)) => format!("{a} and {b}"),
                            _ => "two references".to_string(),
                        };
                        diag.emit(
                            Message::error(format!(
                                "{}:{line}:{column}: {names} would be pinned through the same bytes (line {first_line}) with different values (a build argument or a YAML anchor that feeds both)",
                                file.path.display()
                            ))
                            .code("not-exact")
                            .hint(Some(
                                "give each image its own tag (its own build argument, or the tag written where the image is)",
                            )),
                        );
                        return;
                    }
                };
                // The safety net: the new text must read as the old one
                // with only the planned values changed and keys added.
                if let Err(m) = crate::verify::check(&file.path, &file.text, &edits) {
                    refused += 1;
                    diag.emit(unsafe_edit(&file.path, &m));
                    return;
                }
                policies += policies_here;
                changed_refs += edits.len() - policies_here;
                out.add(file.path, &file.text, edits);
                return;
            }
        };
        for image in &part.images {
            let r = &image.reference;
            if image.built() {
                diag.note(built_note(image));
                continue;
            }
            if crate::config::ignores(r) {
                continue; // `ignore-images` in imagelock.toml
            }
            // helm branch: a values mapping with no digest key the chart reads.
            if let EditPlan::Unpinnable { reason, hint } = &image.edit {
                if r.digest().is_none() {
                    diag.emit(
                        Message::warning(format!("{r} is not pinned: {reason}"))
                            .at(location(image))
                            .code("not-pinnable")
                            .hint(Some(hint.as_str())),
                    );
                }
                continue;
            }
            // A digest cannot move: `--pull-policy if-not-present` sets the
            // policy beside every reference that is (or will be) pinned.
            if args.pull_policy == PinPullPolicy::IfNotPresent
                && (r.digest().is_some() || lock.lookup(r).is_some())
            {
                match if_not_present(&file.text, image) {
                    Ok(Some(edit)) => {
                        file_policies += 1;
                        edits.push(edit);
                    }
                    Ok(None) => {}
                    Err(message) => {
                        refused += 1;
                        diag.emit(*message);
                    }
                }
            }
            if r.tag().is_none() && r.digest().is_some() {
                continue; // written by digest only: left alone
            }
            let Some(entry) = lock.lookup(r) else {
                missing += 1;
                diag.emit(
                    Message::error(format!(
                        "{} ({}:{}) is not in {}",
                        r,
                        r.name(),
                        r.effective_tag().unwrap_or("latest"),
                        lockfile.display()
                    ))
                    .at(location(image))
                    .code("missing"),
                );
                continue;
            };
            let pinned = r.pinned(&entry.digest);
            if pinned == r.original() {
                continue;
            }
            if !image.exact {
                refused += 1;
                diag.emit(not_exact(image));
                continue;
            }
            let value = pin_value(&image.edit, r, &entry.digest);
            if let Some((other, plan)) = image.edit.other_file() {
                let text = other_texts
                    .entry(other.to_path_buf())
                    .or_insert_with(|| crate::scan::compose::dotenv::read(other));
                let planned = match text {
                    Ok(text) => plan_edit(text, &plan, &value).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match planned {
                    Ok(edit) => file_others.push((other.to_path_buf(), edit)),
                    Err(why) => {
                        refused += 1;
                        diag.emit(
                            Message::error(format!(
                                "{r} cannot be pinned in {}: {why}",
                                other.display()
                            ))
                            .at(location(image))
                            .code("not-exact"),
                        );
                    }
                }
                continue;
            }
            match plan_edit(&file.text, &image.edit, &value) {
                Ok(edit) => {
                    owners.push((edit.span.clone(), r.to_string(), image.line));
                    edits.push(edit);
                }
                Err(why) => {
                    refused += 1;
                    diag.emit(
                        Message::error(format!("{r} cannot be pinned: {why}"))
                            .at(location(image))
                            .code("not-exact")
                            .hint(match &why {
                                PlanError::NotLineStart(_) => Some(
                                    "write the entry in block style (one key per line), or give it an empty `digest: \"\"` for pin to fill".to_string(),
                                ),
                                PlanError::Shared { hint, .. } => Some(hint.clone()),
                                _ => None,
                            }),
                    );
                }
            }
        }
    });
    // The other files' edits: one edit for references that are the same
    // (two services ending in one `.env` line), checked and shown or
    // planned like a scanned file's.
    for (path, edits) in others {
        let Some(Ok(text)) = other_texts.remove(&path) else {
            continue;
        };
        let edits = match normalize(edits) {
            Ok(e) => e,
            Err(overlap) => {
                refused += 1;
                let (line, column) = crate::lockfile::line_col(&text, overlap.at);
                diag.emit(
                    Message::error(format!(
                        "{}:{line}:{column}: two references would be pinned through the same value with different digests",
                        path.display()
                    ))
                    .code("not-exact")
                    .hint(Some("give each image its own tag variable")),
                );
                continue;
            }
        };
        if let Err(m) = crate::verify::check(&path, &text, &edits) {
            refused += 1;
            diag.emit(unsafe_edit(&path, &m));
            continue;
        }
        changed_refs += edits.len();
        out.add(path, &text, edits);
    }
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

/// Why a reference whose bytes cannot be replaced exactly is refused, and
/// what to write instead.
fn not_exact(image: &FoundImage) -> Message {
    let r = &image.reference;
    let (why, hint) = match &image.context {
        Context::Dockerfile(d) if d.via_arg.is_none() => (
            format!(
                "{r} cannot be pinned byte-exactly: the word is split by a line continuation or holds quotes or escapes"
            ),
            "write the reference on one line, without quotes or escapes inside it",
        ),
        Context::Dockerfile(d) => (
            format!(
                "{r} cannot be pinned byte-exactly: it is assembled from build arguments (`{}`) in a way no single edit can pin",
                d.via_arg.as_deref().unwrap_or("ARG")
            ),
            "write the reference (or its tag) in one ARG default or in the FROM line",
        ),
        _ => (
            format!(
                "{r} cannot be rewritten byte-exactly: the value is written with escapes, line folding or a block scalar"
            ),
            "write the image as a plain or simply quoted scalar on one line",
        ),
    };
    Message::error(why)
        .at(location(image))
        .code("not-exact")
        .hint(Some(hint))
}

/// `, set N pull policies` when `--pull-policy` set any.
fn policy_summary(policies: usize) -> String {
    if policies == 0 {
        String::new()
    } else {
        format!(" and set {policies} pull policy(ies) to IfNotPresent")
    }
}

/// The edit that makes a Kubernetes reference's pull policy `IfNotPresent`
/// (`Ok(None)`: nothing to do, or not a container or image volume).
fn if_not_present(text: &str, image: &FoundImage) -> Result<Option<Edit>, Box<Message>> {
    let Some(c) = image.context.kubernetes() else {
        return Ok(None);
    };
    let in_pod = c.list.is_some() || image.field == ImageField::VolumeReference;
    if !in_pod || c.pull_policy.as_deref() == Some("IfNotPresent") {
        return Ok(None);
    }
    let key = match image.field {
        ImageField::VolumeReference => "pullPolicy",
        _ => "imagePullPolicy",
    };
    let refuse = |why: String, shared: Option<String>| {
        let hint = shared.unwrap_or_else(|| {
            format!("write the container in block style with `{key}` on a line of its own (or drop --pull-policy)")
        });
        Box::new(
            Message::error(format!(
                "{}: cannot set {key}: IfNotPresent byte-exactly: {why}",
                image.reference
            ))
            .at(location(image))
            .code("not-exact")
            .hint(Some(hint)),
        )
    };
    let Some(plan) = &c.pull_policy_edit else {
        return Err(refuse(
            "the value or the layout around it is too complex".into(),
            None,
        ));
    };
    plan_edit(text, plan, "IfNotPresent")
        .map(Some)
        .map_err(|e| {
            let hint = match &e {
                PlanError::Shared { hint, .. } => Some(hint.clone()),
                _ => None,
            };
            refuse(e.to_string(), hint)
        })
}

/// The safety net refused a planned rewrite of `path` (a bug in imagelock).
fn unsafe_edit(path: &Path, m: &crate::verify::Mismatch) -> Message {
    Message::error(format!(
        "{}:{}:{}: internal error: the planned rewrite would change the file beyond its image values: {}",
        path.display(),
        m.line,
        m.column,
        m.what
    ))
    .code("unsafe-edit")
    .hint(Some(
        "nothing was written; this is a bug in imagelock: please report it with the file (or the lines around this position)",
    ))
}
