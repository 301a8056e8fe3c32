//! Subcommands, one file each, each taking its settings
//! ([`crate::settings`]) and putting together the steps of
//! [`crate::pipeline`]: scan the paths, ask the registries and merge the
//! answers into the lockfile model, save the lockfile only when it
//! changed, and report through [`crate::report`].
//!
//! Commands report every failure of a run through [`Diagnostics`] and return
//! the exit code; only a failure that stops the whole run is an `Err`.

pub mod check;
pub mod completions;
pub mod init;
pub mod list;
pub mod lock;
pub mod pin;
pub mod resolve;
pub mod update;

use std::path::Path;

use crate::report::{json, sarif, Diagnostics, Message};
use crate::settings::{CommandSettings, Reporting, Settings};

/// Run a command with its settings (or the failure to resolve them,
/// reported as every other failure is); returns the exit code.
pub fn run(reporting: &Reporting, settings: anyhow::Result<Settings>) -> anyhow::Result<i32> {
    let lockfile = reporting.lockfile.as_path();
    // Completions and man pages read neither lockfile nor manifests.
    match settings.as_ref().map(|s| &s.command) {
        Ok(CommandSettings::Completions(shell)) => return completions::completions(*shell),
        Ok(CommandSettings::Man(page)) => return completions::man(page.as_deref()),
        _ => {}
    }
    let mut diag =
        Diagnostics::new(reporting.quiet).keep_messages(reporting.machine || reporting.filter);
    let result = settings.and_then(|s| {
        check_lockfile_path(lockfile)?;
        Ok(s)
    });
    let result = result.and_then(|s| match s.command {
        CommandSettings::List(s) => list::run(&s, lockfile, &mut diag),
        CommandSettings::Pin(s) => pin::run(&s, lockfile, &mut diag),
        CommandSettings::Check(s) => check::run(&s, lockfile, &mut diag),
        CommandSettings::Lock(s) => lock::run(&s, lockfile, &mut diag),
        CommandSettings::Update(s) => update::run(&s, lockfile, &mut diag),
        CommandSettings::Resolve(s) => resolve::run(&s, &mut diag),
        CommandSettings::Init(s) => init::run(&s, &mut diag),
        CommandSettings::Completions(shell) => completions::completions(shell),
        CommandSettings::Man(page) => completions::man(page.as_deref()),
    });
    match result {
        // A failure that stopped the run is still a JSON document for a
        // script that asked for JSON (stderr has the message too).
        Err(e)
            if reporting.json
                && !crate::logging::is_broken_pipe(&e)
                && crate::interrupt::requested().is_none() =>
        {
            diag.emit(failure(&e));
            let doc = json::document(Vec::new(), &diag);
            let mut out = crate::redact::stdout();
            json::print(&mut out, &doc)?;
            Ok(crate::exit::ERROR)
        }
        // So is a SARIF log, for a workflow that uploads it.
        Err(e)
            if reporting.sarif
                && !crate::logging::is_broken_pipe(&e)
                && crate::interrupt::requested().is_none() =>
        {
            diag.emit(failure(&e));
            let base = std::env::current_dir()?;
            let mut out = crate::redact::stdout();
            sarif::print(
                &mut out,
                &[],
                diag.messages(),
                diag.is_quiet(),
                lockfile,
                &base,
            )?;
            Ok(crate::exit::ERROR)
        }
        other => other,
    }
}

/// A command line clap refuses (`--timeout 0`, an unknown option): clap's
/// message on stderr and, when the arguments ask for `--format json`, a
/// JSON document with the error (code `usage`) on stdout, as for every
/// other failure. `--help` and `--version` print as clap does. Returns
/// the exit code.
pub fn option_error(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let _ = e.print();
    let Some(format) = asked_format(std::env::args_os().skip(1)) else {
        return crate::exit::ERROR;
    };
    let text = e.to_string();
    let text = text.trim_end();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    // The first paragraph says what is wrong; clap's tips and usage
    // follow it.
    let (what, rest) = text.split_once("\n\n").unwrap_or((text, ""));
    let rest: Vec<&str> = rest
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let message = Message::error(what.trim())
        .code("usage")
        .hint((!rest.is_empty()).then(|| rest.join("; ")));
    let mut out = crate::redact::stdout();
    match format {
        MachineFormat::Json => {
            let doc = serde_json::json!({
                "version": json::VERSION,
                "errors": [message],
                "warnings": [],
            });
            let _ = json::print(&mut out, &doc);
        }
        // A CI step that uploads the SARIF log or reads the annotations
        // gets the failure too, as it does for every other one.
        MachineFormat::Sarif => {
            let base = std::env::current_dir().unwrap_or_default();
            let _ = crate::report::sarif::print(
                &mut out,
                &[],
                &[message],
                false,
                std::path::Path::new("images.lock"),
                &base,
            );
        }
        MachineFormat::Github => {
            let _ = crate::report::github::print(&mut out, &[], &[message], false);
        }
    }
    crate::exit::ERROR
}

/// A format read by a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MachineFormat {
    Json,
    Sarif,
    Github,
}

/// The machine-read format a command line asks for (`--format json`,
/// `--format=sarif`, …, before any `--`), read without clap: for a command
/// line clap refused. The last machine format named wins.
fn asked_format(args: impl Iterator<Item = std::ffi::OsString>) -> Option<MachineFormat> {
    let mut previous_was_format = false;
    let mut asked = None;
    for a in args {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        let value = if previous_was_format {
            Some(a.as_ref())
        } else {
            a.strip_prefix("--format=")
        };
        if let Some(v) = value {
            asked = match v {
                "json" => Some(MachineFormat::Json),
                "sarif" => Some(MachineFormat::Sarif),
                "github" => Some(MachineFormat::Github),
                _ => asked,
            };
        }
        previous_was_format = a == "--format";
    }
    asked
}

/// A failure that stopped a run as a message for the machine formats: an
/// error about the lockfile (code `lockfile`) or the configuration file
/// (code `config`) has its place as the location (`file`, `line`,
/// `column` in JSON), not inside the text.
pub fn failure(e: &anyhow::Error) -> Message {
    use crate::lockfile::LockfileError;
    if let Some(crate::config::ConfigError::Invalid {
        path,
        line,
        column,
        message,
    }) = e.downcast_ref()
    {
        return Message::error(message)
            .at(crate::report::Location::new(path, *line, *column))
            .code("config");
    }
    match e.downcast_ref::<LockfileError>() {
        Some(LockfileError::Invalid {
            path,
            line,
            column,
            message,
        }) => Message::error(message)
            .at(crate::report::Location::new(path, *line, *column))
            .code("lockfile"),
        Some(LockfileError::Read { path, source }) => {
            Message::error(format!("cannot read the lockfile: {source}"))
                .at(crate::report::Location::file(path))
                .code("lockfile")
        }
        Some(_) => Message::error(crate::report::failure_message(e)).code("lockfile"),
        None => Message::error(crate::report::failure_message(e)).code("error"),
    }
}

/// `--lockfile` must name a file in an existing directory.
fn check_lockfile_path(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "--lockfile {}: is a directory; name the lockfile itself, such as {}",
            path.display(),
            path.join("images.lock").display()
        );
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => return Ok(()),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "--lockfile {}: the directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}
