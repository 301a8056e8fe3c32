//! `imagelock pin`: rewrite every tag reference to `name:tag@digest` from the
//! lockfile, changing only the bytes of the scalar.
//!
//! Every edit is planned first; if any reference has no lock entry, any file
//! fails to parse or any value cannot be rewritten exactly, no file is
//! written. Then each file is written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::PinArgs;
use crate::commands::{location, scan_each};
use crate::lockfile::Lockfile;
use crate::reference::Digest;
use crate::report::Diagnostics;
use crate::rewrite::{apply, normalize, write_atomic, write_unified_diff, Edit};

struct Planned {
    path: PathBuf,
    digest_before: Digest,
    edits: Vec<Edit>,
}

pub fn run(args: &PinArgs, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    let lock = Lockfile::load(lockfile)?;
    let mut plans: Vec<Planned> = Vec::new();
    let mut missing = 0usize;
    let mut refused = 0usize;
    let mut changed_refs = 0usize;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut io_error = None;

    let failed = scan_each(&args.paths, diag, |file, diag| {
        let mut edits = Vec::new();
        for image in &file.scan.images {
            let r = &image.reference;
            if r.tag().is_none() && r.digest().is_some() {
                continue; // written by digest only: left alone
            }
            let Some(entry) = lock.lookup(r) else {
                missing += 1;
                diag.error(
                    format!(
                        "{}: {} ({}:{}) is not in {}",
                        location(image),
                        r,
                        r.name(),
                        r.effective_tag().unwrap_or("latest"),
                        lockfile.display()
                    ),
                    None,
                );
                continue;
            };
            let pinned = r.pinned(&entry.digest);
            if pinned == r.original() {
                continue;
            }
            if !image.exact {
                refused += 1;
                diag.error(
                    format!(
                        "{}: {} cannot be rewritten byte-exactly: the value is written with escapes, line folding or a block scalar",
                        location(image),
                        r
                    ),
                    Some("write the image as a plain or simply quoted scalar on one line"),
                );
                continue;
            }
            edits.push(Edit {
                span: image.span.clone(),
                replacement: pinned,
            });
        }
        if edits.is_empty() {
            return;
        }
        let edits = match normalize(edits) {
            Ok(e) => e,
            Err(why) => {
                refused += 1;
                diag.error(format!("{}: {why}", file.path.display()), None);
                return;
            }
        };
        changed_refs += edits.len();
        if args.dry_run {
            let shown = file.path.display().to_string();
            if let Err(e) = write_unified_diff(&mut out, &shown, &file.text, &edits) {
                io_error.get_or_insert(e);
            }
        } else {
            plans.push(Planned {
                path: file.path.clone(),
                digest_before: Digest::sha256_of(file.text.as_bytes()),
                edits,
            });
        }
    });
    out.flush()?;
    if let Some(e) = io_error {
        return Err(e.into());
    }
    drop(out);

    if missing > 0 {
        diag.say(format!(
            "hint: {missing} reference(s) have no entry in {}; run `imagelock lock` to add them",
            lockfile.display()
        ));
    }
    if failed > 0 || missing > 0 || refused > 0 {
        if !args.dry_run {
            diag.say("no file was changed");
        }
        return Ok(crate::exit::ERROR);
    }
    if args.dry_run {
        diag.say(format!(
            "would pin {changed_refs} reference(s); nothing written (--dry-run)"
        ));
        return Ok(crate::exit::CLEAN);
    }

    let mut written = 0usize;
    for plan in &plans {
        let result = (|| -> anyhow::Result<()> {
            let bytes = fs_err::read(&plan.path)?;
            // Spans index the decoded text; the file keeps its encoding.
            let (text, encoding) = crate::scan::Encoding::decode(&plan.path, &bytes)?;
            if Digest::sha256_of(text.as_bytes()) != plan.digest_before {
                anyhow::bail!(
                    "{}: changed while imagelock was running; not rewritten (run pin again)",
                    plan.path.display()
                );
            }
            let new = apply(&text, &plan.edits);
            write_atomic(&plan.path, &encoding.encode(&new))
                .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", plan.path.display()))?;
            Ok(())
        })();
        match result {
            Ok(()) => written += 1,
            Err(e) => diag.error(format!("{e:#}"), None),
        }
    }
    diag.say(format!(
        "pinned {changed_refs} reference(s) in {written} file(s)"
    ));
    Ok(if diag.errors() > 0 {
        crate::exit::ERROR
    } else {
        crate::exit::CLEAN
    })
}
