//! Subcommands, one file each, and what they share: scanning the paths,
//! loading the lockfile, a reference's lock status.
//!
//! Commands report every failure of a run through [`Diagnostics`] and return
//! the exit code; only a failure that stops the whole run is an `Err`.

pub mod check;
pub mod list;
pub mod lock;
pub mod pin;
pub mod resolve;
pub mod update;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::lockfile::{Entry, Lockfile};
use crate::reference::Reference;
use crate::report::Diagnostics;
use crate::scan::walk::{walk, WalkItem};
use crate::scan::{decode_utf8, scan_text, FileScan, FoundImage, ScanError};

/// Run the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let mut diag = Diagnostics::new(cli.quiet);
    let lockfile = cli.lockfile.as_path();
    match cli.command {
        Command::List(args) => list::run(&args, lockfile, &mut diag),
        Command::Pin(args) => pin::run(&args, lockfile, &mut diag),
        Command::Check(args) => check::run(&args, lockfile, &mut diag),
        Command::Lock(args) => lock::run(&args, lockfile, &mut diag),
        Command::Update(args) => update::run(&args, lockfile, &mut diag),
        Command::Resolve(args) => resolve::run(&args, &mut diag),
    }
}

/// One scanned file with its text.
pub struct ScannedFile {
    pub path: PathBuf,
    pub text: String,
    pub scan: FileScan,
}

/// Walk `paths`, read and scan each file, and hand each scanned file to
/// `each`, one at a time (memory stays near the size of the largest file).
/// Notes, warnings and errors go to `diag`; returns the number of files
/// that could not be read or parsed.
pub fn scan_each(
    paths: &[PathBuf],
    diag: &mut Diagnostics,
    mut each: impl FnMut(ScannedFile, &mut Diagnostics),
) -> usize {
    let mut failed = 0;
    for item in walk(paths) {
        match item {
            WalkItem::Note(n) => diag.note(n),
            WalkItem::Error { path, message } => {
                failed += 1;
                diag.error(format!("{}: {message}", path.display()), None);
            }
            WalkItem::File { path, explicit } => match read_and_scan(&path, explicit) {
                Ok(Some(file)) => {
                    for w in &file.scan.warnings {
                        diag.warning(format!(
                            "{}:{}:{}: {}",
                            w.file.display(),
                            w.line,
                            w.column,
                            w.message
                        ));
                    }
                    each(file, diag);
                }
                Ok(None) => diag.note(format!("{}: skipped: binary file", path.display())),
                Err(e) => {
                    failed += 1;
                    let hint = matches!(e, ScanError::Syntax { .. })
                        .then_some("fix the YAML syntax; imagelock changes no file while any input fails to parse");
                    diag.error(&e, hint);
                }
            },
        }
    }
    failed
}

/// Read and scan one file. `Ok(None)` for a binary file found by the walk.
fn read_and_scan(path: &Path, explicit: bool) -> Result<Option<ScannedFile>, ScanError> {
    let bytes = std::fs::read(path).map_err(|source| ScanError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !explicit && bytes.contains(&0) {
        return Ok(None);
    }
    let text = decode_utf8(path, &bytes)?;
    let scan = scan_text(path, text)?;
    // `text` borrows `bytes`; `from_utf8` cannot fail after `decode_utf8`.
    let text = String::from_utf8(bytes).unwrap_or_default();
    Ok(Some(ScannedFile {
        path: path.to_path_buf(),
        text,
        scan,
    }))
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
}

impl LockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LockStatus::Pinned => "pinned",
            LockStatus::Locked => "locked",
            LockStatus::Mismatch => "mismatch",
            LockStatus::Unlocked => "unlocked",
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

/// `path:line:column` of a found image.
pub fn location(image: &FoundImage) -> String {
    format!("{}:{}:{}", image.file.display(), image.line, image.column)
}

use std::collections::BTreeMap;

use crate::cli::RegistryArgs;
use crate::lockfile::Key;
use crate::registry::{Client, Platform, RegistryConfig, RegistryError, Resolved};

/// One place a reference is used.
#[derive(Debug, Clone)]
pub struct Use {
    pub reference: Reference,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub pull_policy: Option<String>,
}

impl Use {
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Every reference in `paths`, grouped by lock key (sorted). Returns the
/// uses and the number of files that failed.
pub fn collect_uses(paths: &[PathBuf], diag: &mut Diagnostics) -> (BTreeMap<Key, Vec<Use>>, usize) {
    let mut uses: BTreeMap<Key, Vec<Use>> = BTreeMap::new();
    let failed = scan_each(paths, diag, |file, _| {
        for image in file.scan.images {
            uses.entry(Key::of_reference(&image.reference))
                .or_default()
                .push(Use {
                    reference: image.reference,
                    file: image.file,
                    line: image.line,
                    column: image.column,
                    pull_policy: image.context.pull_policy,
                });
        }
    });
    (uses, failed)
}

/// Parse `--platform` values.
pub fn parse_platforms(values: &[String]) -> anyhow::Result<Vec<Platform>> {
    let mut out = Vec::new();
    for v in values {
        let p: Platform = v.parse().map_err(|e| {
            anyhow::anyhow!(
                "invalid --platform {v:?}: {e} (write os/arch[/variant], such as linux/arm64/v8)"
            )
        })?;
        out.push(p);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A registry client for the command line's registry options and the
/// docker config's credentials.
pub fn registry_client(args: &RegistryArgs) -> anyhow::Result<Client> {
    let config = RegistryConfig {
        ca_files: args.ca_files.clone(),
        plain_http: args.plain_http.clone(),
        concurrency: usize::from(args.concurrency),
        timeout: std::time::Duration::from_secs(args.timeout),
        ..RegistryConfig::default()
    };
    for ca in &config.ca_files {
        if !ca.is_file() {
            anyhow::bail!("--ca-file {}: no such file", ca.display());
        }
    }
    let credentials = crate::credentials::DockerConfig::load_default()?;
    Ok(Client::new(config, std::sync::Arc::new(credentials))?)
}

/// Resolve references with a progress bar on stderr (when it is a terminal).
pub fn resolve_all(
    client: &Client,
    refs: &[Reference],
    platforms: &[Platform],
) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let bar = crate::report::progress(refs.len(), "resolving");
    let on_done = || bar.inc(1);
    let results = runtime.block_on(client.resolve_all(refs, platforms, &on_done));
    bar.finish_and_clear();
    Ok(results)
}

/// Report a registry failure with every place the reference is used.
pub fn report_registry_error(diag: &mut Diagnostics, err: &RegistryError, uses: &[Use]) {
    let mut msg = err.to_string();
    for u in uses {
        msg.push_str(&format!("\n  used at {}", u.location()));
    }
    diag.error(msg, err.hint().as_deref());
}
