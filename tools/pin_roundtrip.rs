//! The differential pin test over a directory of files nobody here wrote
//! (`scripts/check-corpus.sh` runs it over the corpus): `pin-roundtrip
//! IMAGELOCK_BINARY DIR`. Every file with references is pinned (in a
//! copy) with a lockfile covering all of them; the result must read back
//! as the old file with only image values changed, a second pin must
//! change nothing, and a refused file must be left as it was (see
//! `tests/it/support/roundtrip.rs`). With `--no-refusals` (the corpus: every
//! file is valid for its tool), a refused file is a failure too. Exits 1
//! on any failure.

use std::path::PathBuf;
use std::process::ExitCode;

#[path = "../tests/it/support/roundtrip.rs"]
#[allow(dead_code)]
mod roundtrip;

fn main() -> ExitCode {
    let mut args: Vec<_> = std::env::args_os().skip(1).collect();
    let no_refusals = args.first().is_some_and(|a| a == "--no-refusals");
    if no_refusals {
        args.remove(0);
    }
    let mut args = args.into_iter();
    let (Some(bin), Some(dir), None) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: pin-roundtrip [--no-refusals] IMAGELOCK_BINARY DIR");
        return ExitCode::from(2);
    };
    let (bin, dir) = (PathBuf::from(bin), PathBuf::from(dir));
    if !dir.is_dir() {
        eprintln!("pin-roundtrip: {}: no such directory", dir.display());
        return ExitCode::from(2);
    }
    let report = roundtrip::run(&bin, &dir);
    for (f, why) in &report.refused {
        let first = why.lines().next().unwrap_or("");
        eprintln!("refused  {}: {first}", f.display());
    }
    eprintln!(
        "pin-roundtrip: {}: {} file(s) pinned and read back, {} already pinned, {} refused (left as they were)",
        dir.display(),
        report.pinned.len(),
        report.unchanged.len(),
        report.refused.len()
    );
    let mut failures = report.failures;
    if no_refusals {
        failures.extend(report.refused.iter().map(|(f, why)| {
            format!(
                "{}: pin refused a file that is valid for its tool: {why}",
                f.display()
            )
        }));
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            eprintln!("error: {f}");
        }
        eprintln!("pin-roundtrip: {} failure(s)", failures.len());
        ExitCode::FAILURE
    }
}
