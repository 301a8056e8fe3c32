//! Subcommands, one file each, on one pipeline: scan the paths
//! ([`scanning`]), ask the registries and merge the answers into the
//! lockfile model ([`pipeline`]), save the lockfile only when it changed,
//! and report through [`crate::report`].
//!
//! Commands report every failure of a run through [`Diagnostics`] and return
//! the exit code; only a failure that stops the whole run is an `Err`.

pub mod check;
pub mod completions;
pub mod init;
pub mod list;
pub mod lock;
pub mod mirrors;
pub mod pin;
pub mod pipeline;
pub mod registry_setup;
pub mod resolve;
pub mod scanning;
pub mod update;

use std::path::Path;

use crate::cli::{CheckFormat, Cli, Command, ListFormat, ResolveFormat, UpdateFormat};
use crate::lockfile::{Entry, Lockfile};
use crate::reference::Reference;
use crate::report::{json, sarif, Diagnostics, Message};

/// Run the parsed command line; returns the exit code.
pub fn run(mut cli: Cli) -> anyhow::Result<i32> {
    let config = configure(&mut cli);
    let lockfile = cli.lockfile.as_path();
    let json = match &cli.command {
        Command::List(a) => a.format == ListFormat::Json,
        Command::Update(a) => a.format == UpdateFormat::Json,
        Command::Resolve(a) => a.format == ResolveFormat::Json,
        Command::Check(a) => a.format == CheckFormat::Json,
        _ => false,
    };
    let sarif = matches!(&cli.command, Command::Check(a) if a.format == CheckFormat::Sarif);
    // Machine formats print the run's errors and warnings with the data.
    let machine =
        json || matches!(&cli.command, Command::Check(a) if a.format != CheckFormat::Text);
    // Completions and man pages read neither lockfile nor manifests.
    match &cli.command {
        Command::Completions(args) => return completions::completions(args),
        Command::Man(args) => return completions::man(args),
        _ => {}
    }
    let mut diag = Diagnostics::new(cli.quiet).keep_messages(machine);
    let result = config.and_then(|()| check_lockfile_path(lockfile));
    let result = result.and_then(|()| match cli.command {
        Command::List(args) => list::run(&args, lockfile, &mut diag),
        Command::Pin(args) => pin::run(&args, lockfile, &mut diag),
        Command::Check(args) => check::run(&args, lockfile, &mut diag),
        Command::Lock(args) => lock::run(&args, lockfile, &mut diag),
        Command::Update(args) => update::run(&args, lockfile, &mut diag),
        Command::Resolve(args) => resolve::run(&args, &mut diag),
        Command::Init(args) => init::run(&args, &mut diag),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    });
    match result {
        // A failure that stopped the run is still a JSON document for a
        // script that asked for JSON (stderr has the message too).
        Err(e)
            if json
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
            if sarif
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

/// Read the configuration file (`init` reads none: it writes one; nor do
/// completions and man pages), fill
/// the options the command line left unset from it and make its scan
/// settings the run's.
fn configure(cli: &mut Cli) -> anyhow::Result<()> {
    if !matches!(
        cli.command,
        Command::Init(_) | Command::Completions(_) | Command::Man(_)
    ) {
        if let Some(config) = crate::config::for_command_line(cli)? {
            config.apply(cli);
            crate::config::install(config.active);
        }
    }
    let compose_env = match &cli.command {
        Command::List(a) => a.compose_env,
        Command::Pin(a) => a.compose_env,
        Command::Check(a) => a.compose_env,
        Command::Lock(a) => a.compose_env,
        _ => false,
    };
    crate::scan::compose::read_environment(compose_env);
    crate::config::check_provider_pair(cli).map_err(|m| anyhow::anyhow!(m))
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

/// How a reference stands against the lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockStatus {
    /// Written with the digest the lockfile records.
    Pinned,
    /// In the lockfile, written without a digest: `pin` will add it.
    Locked,
    /// Written with a digest other than the lockfile's.
    Mismatch,
    /// Not in the lockfile.
    Unlocked,
    /// Built by its compose service (`build:`), not pulled: never locked.
    Built,
    /// Named by `ignore-images` in imagelock.toml: never locked or pinned.
    Ignored,
}

impl LockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LockStatus::Pinned => "pinned",
            LockStatus::Locked => "locked",
            LockStatus::Mismatch => "mismatch",
            LockStatus::Unlocked => "unlocked",
            LockStatus::Built => "built",
            LockStatus::Ignored => "ignored",
        }
    }
}

pub fn lock_status<'a>(lock: &'a Lockfile, r: &Reference) -> (LockStatus, Option<&'a Entry>) {
    match lock.lookup(r) {
        None => (LockStatus::Unlocked, None),
        Some(e) => match r.digest() {
            None => (LockStatus::Locked, Some(e)),
            Some(d) if *d == e.digest => (LockStatus::Pinned, Some(e)),
            Some(_) => (LockStatus::Mismatch, Some(e)),
        },
    }
}
