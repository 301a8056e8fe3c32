//! `pin -`: the filter. The stream on standard input (rendered manifests:
//! `helm template`, `kustomize build`, a `kind: List`, a KRM
//! `ResourceList`) goes to standard output with every tag reference
//! pinned from the lockfile and every other byte as it came. Nothing is
//! printed unless the whole stream could be pinned: a reference the
//! lockfile lacks, a digest that disagrees with it, a value the kubelet
//! would reject or an edit that cannot be made exactly fails the run
//! (exit 2) with every such reference listed on stderr, so a deploy never
//! proceeds half-pinned.
//!
//! A stream of YAML documents is read window by window (see
//! [`stream`](crate::pipeline::stream)): each window is scanned, planned
//! and checked on its own, and its pinned bytes are spooled to a
//! temporary file, copied to standard output once every window pinned.
//! Memory follows the largest document, not the stream. What cannot be
//! cut (a `ResourceList`, UTF-16, a directive) is read whole.

use std::io::{Read, Seek, Write};
use std::path::Path;

use super::policy_summary;
use crate::lockfile::{Lockfile, LockfileGuard};
use crate::pipeline::krm;
use crate::pipeline::lock_entries::{resolve_entries, Ask};
use crate::pipeline::options::check_registry_options;
use crate::pipeline::pin_plan::PinPlanner;
use crate::pipeline::remote::{load_mirrors, Remote};
use crate::pipeline::scanning::{
    location, scan_error_message, scan_standard_input, scan_window, FileText, Scanned, Uses, STDIN,
};
use crate::pipeline::stream::{Input, Windows};
use crate::report::{Diagnostics, Location, Message};
use crate::rewrite::apply;
use crate::scan::{Context, FileScan, UnreadTally};
use crate::settings::PinSettings;

pub(super) fn run(
    args: &PinSettings,
    lockfile: &Path,
    diag: &mut Diagnostics,
) -> anyhow::Result<i32> {
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
    match Input::open(std::io::stdin().lock(), STDIN)? {
        Input::Whole { text, encoding } => whole(
            args,
            lockfile,
            FileText {
                path: STDIN.into(),
                text,
                encoding,
            },
            diag,
        ),
        Input::Windows(windows) => by_windows(args, lockfile, windows, diag),
    }
}

/// The lockfile the filter pins from: loaded, or with `--update-lockfile`
/// opened under its directory's lock (held from read to write, as `lock`
/// holds it). Without `--remote` it must exist.
fn open_lockfile(
    args: &PinSettings,
    lockfile: &Path,
) -> anyhow::Result<(Lockfile, Option<LockfileGuard>)> {
    if !args.remote && !Lockfile::exists(lockfile) {
        anyhow::bail!(
            "pin -: no lockfile at {}; create it from the same stream first (`helm template … | imagelock lock -`, `kustomize build … | imagelock lock -`), or name it with --lockfile",
            lockfile.display()
        );
    }
    let (lock, guard) = if args.update_lockfile {
        let (lock, guard) = Lockfile::open_for_update(lockfile)?;
        (lock, Some(guard))
    } else {
        (Lockfile::load(lockfile)?, None)
    };
    super::refuse_unverified(args, &lock, lockfile)?;
    Ok((lock, guard))
}

/// A stream of YAML documents, window by window. With `--remote`, the
/// stream is first scanned whole (and spooled), the registries asked
/// about what the lockfile lacks, then the spooled stream is pinned.
fn by_windows<R: Read>(
    args: &PinSettings,
    lockfile: &Path,
    mut windows: Windows<R>,
    diag: &mut Diagnostics,
) -> anyhow::Result<i32> {
    let (mut lock, guard) = open_lockfile(args, lockfile)?;
    let tally = UnreadTally::default();
    let mut failed_files = 0;
    // With --remote: the stream as it came, for the second reading.
    let mut spooled = None;
    if args.remote {
        check_registry_options(&args.registry, &[], diag);
        let mut spool = spool_file()?;
        let mut parts = Vec::new();
        failed_files += read_windows(&mut windows, diag, |file, lines_before, diag| {
            spool.write_all(file.text.as_bytes()).map_err(spool_error)?;
            Ok(scan_window(
                &args.scan,
                &file,
                lines_before,
                &tally,
                diag,
                true,
                |part, _| parts.push(part),
            ))
        })?;
        for note in tally.notes(Path::new(STDIN)) {
            diag.note(note);
        }
        refuse_what_a_stream_cannot_hold(&parts, diag);
        if failed_files == 0 && diag.errors() == 0 {
            report_resolved(args, lockfile, &mut lock, &parts, diag)?;
        }
        spool.rewind().map_err(spool_error)?;
        if failed_files == 0 {
            spooled = Some(spool);
        }
    }
    let mut planner =
        PinPlanner::new(&lock, lockfile, &args.scan.filters, args.pull_policy).strict_digests();
    // The pinned stream, printed only once every window is pinned.
    let mut out = std::io::BufWriter::new(spool_file()?);
    // A UTF-8 byte order mark the stream started with, no window's.
    if windows.bom {
        out.write_all(crate::pipeline::stream::UTF8_BOM)
            .map_err(spool_error)?;
    }
    let pinned = match spooled {
        Some(spool) => {
            let mut again = Windows::over(spool, STDIN);
            pin_windows(args, &mut again, &mut planner, None, &mut out, diag)?
        }
        None if args.remote => 0,
        None => pin_windows(
            args,
            &mut windows,
            &mut planner,
            Some(&tally),
            &mut out,
            diag,
        )?,
    };
    failed_files += pinned;
    let failed = finish(lockfile, &mut planner, failed_files, diag);
    if let (false, Some(guard)) = (failed, &guard) {
        guard.save_if_changed(&lock)?;
    }
    if failed || (args.remote && failed_files > 0) {
        diag.say(
            "nothing was printed: the stream is printed only when every reference in it is pinned",
        );
        return Ok(crate::exit::ERROR);
    }
    let mut spool = out.into_inner().map_err(|e| spool_error(e.into_error()))?;
    spool.rewind().map_err(spool_error)?;
    // The stream goes out as it came, Secrets in it included: it is the
    // user's own data, not imagelock's output, so it is not passed through
    // the redactor (which would mask a pull secret's value in it).
    let mut stdout = std::io::stdout().lock();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match spool.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => anyhow::bail!(
                "pin -: cannot read back the pinned stream from its temporary file in {}: {e}; the stream printed is incomplete",
                std::env::temp_dir().display()
            ),
        };
        stdout.write_all(&chunk[..n])?;
    }
    stdout.flush()?;
    let counts = planner.counts();
    diag.say(format!(
        "pinned {} reference(s){} in the stream",
        counts.changed_refs,
        policy_summary(counts.policies)
    ));
    Ok(crate::exit::CLEAN)
}

/// Scan, plan and check each window of `windows` and write it pinned to
/// `out`; returns how many windows failed (a syntax error ends the
/// reading, as it voids a file). With `tally`, this is the first reading
/// of the stream: the scan's warnings and what a stream cannot hold are
/// reported, and the notes about unread values said at its end.
fn pin_windows<R: Read>(
    args: &PinSettings,
    windows: &mut Windows<R>,
    planner: &mut PinPlanner<'_>,
    tally: Option<&UnreadTally>,
    out: &mut impl Write,
    diag: &mut Diagnostics,
) -> anyhow::Result<usize> {
    let quiet = UnreadTally::default();
    let failed = read_windows(windows, diag, |file, lines_before, diag| {
        planner.set_lines_before(lines_before);
        // Each part planned as it is scanned (as a stream read whole is),
        // so messages come in the stream's order.
        let scanned = scan_window(
            &args.scan,
            &file,
            lines_before,
            tally.unwrap_or(&quiet),
            diag,
            tally.is_some(),
            |part, diag| {
                if tally.is_some() {
                    refuse_what_a_stream_cannot_hold(std::slice::from_ref(&part), diag);
                }
                planner.plan_part(&file.text, &part, diag);
            },
        );
        if scanned.is_err() {
            planner.void_file();
            return Ok(scanned);
        }
        let edits = planner
            .finish_file(&file.path, &file.text, diag)
            .unwrap_or_default();
        let written = if edits.is_empty() {
            out.write_all(file.text.as_bytes())
        } else {
            out.write_all(apply(&file.text, &edits).as_bytes())
        };
        written.map_err(spool_error)?;
        Ok(Ok(()))
    })?;
    if let Some(tally) = tally {
        for note in tally.notes(Path::new(STDIN)) {
            diag.note(note);
        }
    }
    Ok(failed)
}

/// Hand each window of `windows` to `each` (its text as standard input's,
/// and the lines before it) until the input ends. The reading ends early,
/// as one failure, at a window that cannot be read, at an interrupt, or at
/// a window `each` could not scan (a syntax error voids the stream, as it
/// voids a file); the failure is reported. Returns how many failed: 0 or 1.
fn read_windows<R: Read>(
    windows: &mut Windows<R>,
    diag: &mut Diagnostics,
    mut each: impl FnMut(
        FileText,
        usize,
        &mut Diagnostics,
    ) -> anyhow::Result<Result<(), crate::scan::ScanError>>,
) -> anyhow::Result<usize> {
    loop {
        let window = match windows.next_window() {
            Ok(Some(w)) => w,
            Ok(None) => return Ok(0),
            Err(e) => {
                diag.emit(scan_error_message(&e));
                return Ok(1);
            }
        };
        if crate::interrupt::requested().is_some() {
            return Ok(1);
        }
        if let Err(e) = each(stdin_text(window.text), window.lines_before, diag)? {
            diag.emit(scan_error_message(&e));
            return Ok(1);
        }
    }
}

/// A temporary file (in `TMPDIR`) the stream is kept in until every
/// window is pinned.
fn spool_file() -> anyhow::Result<std::fs::File> {
    tempfile::tempfile().map_err(spool_error)
}

/// A temporary file of the stream could not be made, written or read:
/// where, and what to do (nothing is printed yet).
fn spool_error(e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "pin -: cannot keep the stream in a temporary file in {}: {e}; nothing was printed. Set TMPDIR to a writable directory with room for the stream (one copy of it, two with --remote)",
        std::env::temp_dir().display()
    )
}

fn stdin_text(text: String) -> FileText {
    FileText {
        path: STDIN.into(),
        text,
        encoding: crate::scan::Encoding::Utf8,
    }
}

/// `--remote`: resolve what the lockfile lacks and say which references
/// were pinned from their registries.
fn report_resolved(
    args: &PinSettings,
    lockfile: &Path,
    lock: &mut Lockfile,
    parts: &[FileScan],
    diag: &mut Diagnostics,
) -> anyhow::Result<()> {
    let resolved = resolve_missing(args, lock, parts, diag)?;
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
    Ok(())
}

/// What every way of reading the stream ends with: the files a compose
/// variable would make it write (refused), the hint for missing entries,
/// and whether the run failed.
fn finish(
    lockfile: &Path,
    planner: &mut PinPlanner<'_>,
    failed_files: usize,
    diag: &mut Diagnostics,
) -> bool {
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
    diag.errors() > 0 || failed_files > 0 || counts.missing > 0 || counts.refused > 0
}

/// A stream read whole: a KRM `ResourceList` (its function config may
/// name the lockfile and the pull policy, and the list goes back whole
/// with the run's messages as its `results`), or a stream that cannot be
/// cut into windows.
fn whole(
    args: &PinSettings,
    lockfile: &Path,
    file: FileText,
    diag: &mut Diagnostics,
) -> anyhow::Result<i32> {
    let krm = match krm::read(&file.text) {
        None => None,
        Some(Ok(list)) => Some(list),
        Some(Err(e)) => anyhow::bail!("pin -: {e}"),
    };
    let config = krm.as_ref().map(|l| l.config.clone()).unwrap_or_default();
    let lockfile = config.lockfile.as_deref().unwrap_or(lockfile);
    let pull_policy = config.pull_policy.unwrap_or(args.pull_policy);
    let (mut lock, guard) = open_lockfile(args, lockfile)?;
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
            report_resolved(args, lockfile, &mut lock, &parts, diag)?;
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
    let failed = finish(lockfile, &mut planner, failed_files, diag);
    let counts = planner.counts();
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
    // What was resolved, its signatures checked against the `[[verify]]`
    // rules as `lock` checks them before anything is pinned from it: a
    // digest its rule refuses is an error (nothing printed, nothing
    // recorded), not a reference pinned into a stream about to be applied.
    let mut fresh = Lockfile::new();
    for answer in answers {
        answer.report_failures(diag);
        if let Some(entry) = answer.entry {
            resolved.push(answer.ask.key.to_string());
            fresh.insert(entry);
        }
    }
    if diag.errors() == 0 {
        crate::pipeline::signature_checks::check_signatures(
            &remote,
            &args.signatures,
            &mut fresh,
            &|k| uses.of(k).to_vec(),
            diag,
        )?;
    }
    for entry in fresh.entries() {
        lock.insert(entry.clone());
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
