//! Subcommands, one file each, and what they share: scanning the paths,
//! loading the lockfile, a reference's lock status.
//!
//! Commands report every failure of a run through [`Diagnostics`] and return
//! the exit code; only a failure that stops the whole run is an `Err`.

pub mod check;
pub mod list;
pub mod lock;
pub mod pin;
pub mod pull_access;
pub mod resolve;
pub mod update;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::lockfile::{Entry, Lockfile};
use crate::reference::Reference;
use crate::report::Diagnostics;
use crate::scan::walk::{walk, WalkItem};
use crate::scan::{FileScan, FoundImage, ScanError};

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
    /// The decoded text (no byte order mark); spans index into it.
    pub text: String,
    /// How the file stores `text`: encode edits back with it.
    pub encoding: crate::scan::Encoding,
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
                    for n in &file.scan.notes {
                        diag.note(n);
                    }
                    for i in &file.scan.invalid {
                        diag.error(
                            format!(
                                "{}:{}:{}: invalid image reference {:?}: {}",
                                i.file.display(),
                                i.line,
                                i.column,
                                i.value,
                                i.message
                            ),
                            None,
                        );
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
    let Some(file) = crate::scan::read_file(path, explicit)? else {
        return Ok(None);
    };
    // A file found by walking a directory is read for images only where
    // it is a manifest imagelock knows; one named on the command line is
    // read whatever it holds.
    let scope = if explicit {
        crate::scan::Scope::Everything
    } else {
        crate::scan::Scope::KnownManifests
    };
    let scan = crate::scan::scan_text_in(path, &file.text, scope)?;
    Ok(Some(ScannedFile {
        path: path.to_path_buf(),
        text: file.text,
        encoding: file.encoding,
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
use std::sync::Arc;

use crate::cli::{CredentialArgs, RegistryArgs};
use crate::credentials::pull_secret::{PodWarning, PullSecretFile};
use crate::credentials::{CredentialOptions, DefaultKeychain, PodSecrets, SecretIndex};
use crate::lockfile::Key;
use crate::registry::{Client, Platform, RegistryConfig, RegistryError, Request, Resolved};
use crate::scan::{ObjectContext, SecretManifest, ServiceAccountManifest};

/// One place a reference is used.
#[derive(Debug, Clone)]
pub struct Use {
    pub reference: Reference,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// `Deployment app (namespace team-a)`, when the reference is in a pod spec.
    pub workload: Option<String>,
    /// The pod's pull secrets (set by [`Uses::with_pod_credentials`]).
    pub pod: Option<Arc<PodSecrets>>,
    context: ObjectContext,
}

impl Use {
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.line, self.column)
    }

    /// The sibling `imagePullPolicy` as written.
    pub fn pull_policy(&self) -> Option<&str> {
        self.context.pull_policy.as_deref()
    }
}

/// `Deployment app (namespace team-a)` for a reference in a pod spec, with
/// the default namespace when the object names none.
fn workload(c: &ObjectContext, default_namespace: &str) -> Option<String> {
    c.pod.as_ref()?;
    Some(format!(
        "{} {} (namespace {})",
        c.kind.as_deref()?,
        c.name.as_deref().unwrap_or("?"),
        c.namespace.as_deref().unwrap_or(default_namespace),
    ))
}

/// Every reference in some paths, grouped by lock key (sorted), with the
/// Secrets and ServiceAccounts found beside them.
#[derive(Default)]
pub struct Uses {
    pub by_key: BTreeMap<Key, Vec<Use>>,
    /// Files that could not be read or parsed.
    pub failed: usize,
    secrets: Vec<SecretManifest>,
    service_accounts: Vec<ServiceAccountManifest>,
}

impl Uses {
    /// Give every use inside a pod spec its pod's pull secrets: its
    /// `imagePullSecrets`, else its ServiceAccount's, looked up among the
    /// scanned Secrets and the `--pull-secret` files' (`extra`). Warns once
    /// about each Secret named but not found.
    pub fn with_pod_credentials(
        &mut self,
        default_namespace: &str,
        extra: &[SecretManifest],
        diag: &mut Diagnostics,
    ) {
        let mut pods = PodCredentials::new(
            default_namespace,
            &self.secrets,
            &self.service_accounts,
            extra,
        );
        for u in self.by_key.values_mut().flatten() {
            u.pod = pods.of(&u.context);
        }
        pods.report(diag);
    }
}

/// The pull secrets of pods, from the Secrets and ServiceAccounts of the
/// scan and the `--pull-secret` files; warns once per Secret named but not
/// found.
pub struct PodCredentials {
    index: SecretIndex,
    default_namespace: String,
    warnings: Vec<PodWarning>,
}

impl PodCredentials {
    pub fn new(
        default_namespace: &str,
        secrets: &[SecretManifest],
        service_accounts: &[ServiceAccountManifest],
        extra: &[SecretManifest],
    ) -> PodCredentials {
        let mut index = SecretIndex::new(default_namespace);
        for m in secrets.iter().chain(extra) {
            index.add_secret(m);
        }
        for m in service_accounts {
            index.add_service_account(m);
        }
        PodCredentials {
            index,
            default_namespace: default_namespace.to_string(),
            warnings: Vec::new(),
        }
    }

    /// The pull secrets of the workload a reference with context `c` sits in.
    pub fn of(&mut self, c: &ObjectContext) -> Option<Arc<PodSecrets>> {
        let name = workload(c, &self.default_namespace)?;
        let pod = c.pod.as_ref()?;
        self.index
            .pod_secrets(c.namespace.as_deref(), pod, &name, &mut self.warnings)
    }

    /// Print the warnings gathered, each once.
    pub fn report(mut self, diag: &mut Diagnostics) {
        self.warnings.sort();
        self.warnings.dedup();
        for w in self.warnings {
            diag.warning(w.0);
        }
    }
}

/// Every reference in `paths`, grouped by lock key (sorted).
pub fn collect_uses(paths: &[PathBuf], default_namespace: &str, diag: &mut Diagnostics) -> Uses {
    let mut uses = Uses::default();
    uses.failed = scan_each(paths, diag, |file, _| {
        uses.secrets.extend(file.scan.secrets);
        uses.service_accounts.extend(file.scan.service_accounts);
        for image in file.scan.images {
            uses.by_key
                .entry(Key::of_reference(&image.reference))
                .or_default()
                .push(Use {
                    reference: image.reference,
                    file: image.file,
                    line: image.line,
                    column: image.column,
                    workload: workload(&image.context, default_namespace),
                    pod: None,
                    context: image.context,
                });
        }
    });
    uses
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

/// The keychain for the command line's credential options, and the Secret
/// manifests its `--pull-secret` files hold (they also serve pods that
/// name them).
pub fn keychain(
    args: &CredentialArgs,
    timeout: std::time::Duration,
) -> anyhow::Result<(DefaultKeychain, Vec<SecretManifest>)> {
    let mut files = Vec::new();
    let mut manifests = Vec::new();
    for path in &args.pull_secrets {
        let bytes = fs_err::read(path)?;
        let text = crate::scan::decode_utf8(path, &bytes)?;
        // A JSON docker config is YAML too: it simply holds no Secret.
        let secrets = match crate::scan::scan_text(path, text) {
            Ok(scan) => scan.secrets,
            Err(_) => Vec::new(),
        };
        files.push(
            PullSecretFile::load(path, &secrets, &args.namespace)
                .map_err(|e| anyhow::anyhow!("--pull-secret {e}"))?,
        );
        manifests.extend(secrets);
    }
    let provider_config = match (
        &args.credential_provider_config,
        &args.credential_provider_bin_dir,
    ) {
        (Some(c), Some(b)) => Some((c.clone(), b.clone())),
        _ => None,
    };
    let keychain = DefaultKeychain::new(CredentialOptions {
        pull_secret_files: files,
        provider_config,
        docker_config: None,
        containers_auth: None,
        timeout,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((keychain, manifests))
}

/// A registry client for the command line's registry and credential
/// options, and the Secret manifests of its `--pull-secret` files.
pub fn registry_client(args: &RegistryArgs) -> anyhow::Result<(Client, Vec<SecretManifest>)> {
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
    let (keychain, manifests) = keychain(&args.credentials, config.timeout)?;
    Ok((Client::new(config, Arc::new(keychain))?, manifests))
}

/// Resolve references (no pod credentials) with a progress bar on stderr
/// (when it is a terminal).
pub fn resolve_all(
    client: &Client,
    refs: &[Reference],
    platforms: &[Platform],
) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>> {
    resolve_requests(client, &Request::without_pod(refs), platforms)
}

/// Resolve references, each with its pod's credentials, with a progress bar.
pub fn resolve_requests(
    client: &Client,
    requests: &[Request],
    platforms: &[Platform],
) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let bar = crate::report::progress(requests.len(), "resolving");
    let on_done = || bar.inc(1);
    let results = runtime.block_on(client.resolve_requests(requests, platforms, &on_done));
    bar.finish_and_clear();
    Ok(results)
}

/// Print the keychain's warnings (a helper missing, a plugin that failed).
pub fn report_credential_warnings(client: &Client, diag: &mut Diagnostics) {
    for w in client.credential_warnings() {
        diag.warning(w);
    }
}

/// Report a registry failure with every place the reference is used.
pub fn report_registry_error(diag: &mut Diagnostics, err: &RegistryError, uses: &[Use]) {
    let mut msg = err.to_string();
    for u in uses {
        msg.push_str(&format!("\n  used at {}", u.location()));
        if let Some(w) = &u.workload {
            msg.push_str(&format!(" ({w})"));
        }
    }
    diag.error(msg, err.hint().as_deref());
}
