//! Scanning the command line's paths for the commands: read each file,
//! scan it, report what it says through [`Diagnostics`], and gather every
//! use of every reference with its pod's pull credentials.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::credentials::pull_secret::PodWarning;
use crate::credentials::{PodSecrets, SecretIndex};
use crate::lockfile::Key;
use crate::policy::Effective;
use crate::reference::Reference;
use crate::report::{Diagnostics, Location, Message, UsedAt};
use crate::rewrite::EditPlan;
use crate::scan::walk::{walk, WalkItem};
use crate::scan::{
    read_file, scan_file, Context, Encoding, FileScan, FoundImage, InvalidImage, ReadFile,
    ScanError, Scope, SecretManifest, ServiceAccountManifest,
};

/// One scanned file with its text.
pub struct ScannedFile {
    pub path: PathBuf,
    /// The decoded text (no byte order mark); spans index into it.
    pub text: String,
    /// How the file stores `text`: encode edits back with it.
    pub encoding: Encoding,
    pub scan: FileScan,
}

/// What scanning the paths gave besides the files themselves.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanSummary {
    /// Files that could not be read or parsed.
    pub failed: usize,
}

/// Walk `paths`, read and scan each file, and hand each scanned file to
/// `each`, one at a time (memory stays near the size of the largest file).
/// Notes, warnings and errors go to `diag`.
/// A value the kubelet would reject is an error here (`list`, `pin`).
/// `helm_values` are read as Helm values files whatever their names (and
/// scanned even when no path holds them).
pub fn scan_each(
    paths: &[PathBuf],
    helm_values: &[PathBuf],
    diag: &mut Diagnostics,
    each: impl FnMut(ScannedFile, &mut Diagnostics),
) -> ScanSummary {
    scan_files(paths, helm_values, diag, true, each)
}

/// [`scan_each`], reporting invalid values as errors only when
/// `invalid_is_error` (else the caller finds them in `file.scan.invalid`).
fn scan_files(
    paths: &[PathBuf],
    helm_values: &[PathBuf],
    diag: &mut Diagnostics,
    invalid_is_error: bool,
    mut each: impl FnMut(ScannedFile, &mut Diagnostics),
) -> ScanSummary {
    let mut summary = ScanSummary::default();
    // helm branch: `--helm-values` files are scanned too, known by their
    // canonical paths however the walk spells them.
    let helm: HashSet<PathBuf> = helm_values.iter().map(|p| canonical(p)).collect();
    let all: Vec<PathBuf> = paths.iter().chain(helm_values).cloned().collect();
    for item in walk(&all) {
        if crate::interrupt::requested().is_some() {
            // Stop at once; `main` exits 130/143. Counted as a failure so
            // no command acts on a partial scan.
            summary.failed += 1;
            break;
        }
        match item {
            WalkItem::Note(n) => diag.note(n),
            WalkItem::Error { path, message } => {
                summary.failed += 1;
                diag.emit(Message::error(message).at(Location::file(&path)).code("io"));
            }
            WalkItem::Stdin => {
                let result = read_stdin();
                take(
                    result,
                    Path::new(STDIN),
                    diag,
                    invalid_is_error,
                    &mut summary,
                    &mut each,
                );
            }
            WalkItem::File { path, explicit } => {
                let helm_values = crate::scan::helm_values::is_values_name(&path)
                    || helm.contains(&canonical(&path));
                let result = read_and_scan(&path, explicit, helm_values);
                take(
                    result,
                    &path,
                    diag,
                    invalid_is_error,
                    &mut summary,
                    &mut each,
                );
            }
        }
    }
    summary
}

/// How standard input (`-`) is shown in locations.
pub const STDIN: &str = "<stdin>";

/// Report what reading and scanning one file gave, then hand it to `each`.
fn take(
    result: Result<Option<ScannedFile>, ScanError>,
    path: &Path,
    diag: &mut Diagnostics,
    invalid_is_error: bool,
    summary: &mut ScanSummary,
    each: &mut impl FnMut(ScannedFile, &mut Diagnostics),
) {
    match result {
        Ok(Some(file)) => {
            for w in &file.scan.warnings {
                diag.emit(
                    Message::warning(&w.message).at(Location::new(&w.file, w.line, w.column)),
                );
            }
            for n in &file.scan.notes {
                diag.note(n);
            }
            if invalid_is_error {
                for i in &file.scan.invalid {
                    diag.emit(invalid_message(i));
                }
            }
            each(file, diag);
        }
        Ok(None) => diag.note(format!("{}: skipped: binary file", path.display())),
        Err(e) => {
            summary.failed += 1;
            diag.emit(scan_error_message(&e));
        }
    }
}

/// Read and scan standard input (rendered manifests: `helm template …`,
/// `kustomize build`), read whatever it holds, shown as `<stdin>`.
fn read_stdin() -> Result<Option<ScannedFile>, ScanError> {
    use std::io::Read as _;
    let path = Path::new(STDIN);
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|source| ScanError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let (text, encoding) = Encoding::decode(path, &bytes)?;
    scanned(path, ReadFile { text, encoding }, Scope::Everything).map(Some)
}

/// Scan a file read as `file` by its kind (see [`crate::scan::scan_file`]).
fn scanned(path: &Path, file: ReadFile, scope: Scope) -> Result<ScannedFile, ScanError> {
    let scan = scan_file(path, &file.text, scope)?;
    Ok(ScannedFile {
        path: path.to_path_buf(),
        text: file.text,
        encoding: file.encoding,
        scan,
    })
}

/// The effective pull policy of `reference` where it is used, each of its
/// warnings reported at `at`.
pub fn assess_policy(
    reference: &Reference,
    context: &Context,
    at: &Location,
    diag: &mut Diagnostics,
) -> (Effective, Vec<String>) {
    let (policy, warnings) = crate::policy::assess_in(reference, context);
    for w in &warnings {
        diag.emit(Message::warning(format!("{reference}: {w}")).at(at.clone()));
    }
    (policy, warnings)
}

/// The note for an image its compose service builds (`build:`).
pub fn built_note(image: &FoundImage) -> String {
    format!(
        "{}: {}: built by its compose service (`build:`), not pulled: not locked or pinned",
        location(image),
        image.reference
    )
}

/// A value the kubelet would reject, as an error.
pub fn invalid_message(i: &InvalidImage) -> Message {
    Message::error(format!(
        "invalid image reference {:?}: {}",
        i.value, i.message
    ))
    .at(Location::new(&i.file, i.line, i.column))
    .code("invalid")
    .hint(Some(
        "the kubelet refuses it with InvalidImageName; write a valid reference",
    ))
}

/// A file that could not be read or parsed, as a message.
fn scan_error_message(e: &ScanError) -> Message {
    match e {
        ScanError::Syntax {
            path,
            line,
            column,
            message,
        } => Message::error(message)
            .at(Location::new(path, *line, *column))
            .code("parse")
            .hint(Some(
                "fix the YAML syntax; imagelock changes no file while any input fails to parse",
            )),
        ScanError::NotUtf8 { path, line, column } => Message::error(
            "not valid UTF-8 (imagelock reads UTF-8, UTF-16 and UTF-32 YAML and JSON)",
        )
        .at(Location::new(path, *line, *column))
        .code("encoding"),
        ScanError::Decode {
            path,
            line,
            column,
            encoding,
            offset,
            message,
        } => Message::error(format!("not valid {encoding} at byte {offset}: {message}"))
            .at(Location::new(path, *line, *column))
            .code("encoding")
            .hint(Some(
                "save the file as UTF-8 (or valid UTF-16/UTF-32 with a byte order mark)",
            )),
        ScanError::Io { path, source } => Message::error(format!("cannot read: {source}"))
            .at(Location::file(path))
            .code("io"),
    }
}

/// Read and scan one file. `Ok(None)` for a binary file found by the walk.
fn read_and_scan(
    path: &Path,
    explicit: bool,
    helm_values: bool,
) -> Result<Option<ScannedFile>, ScanError> {
    let Some(file) = read_file(path, explicit)? else {
        return Ok(None);
    };
    // A file found by walking a directory is read for images only where
    // it is a manifest imagelock knows; one named on the command line is
    // read whatever it holds.
    let scope = if helm_values {
        Scope::HelmValues
    } else if explicit {
        Scope::Everything
    } else {
        Scope::KnownManifests
    };
    scanned(path, file, scope).map(Some)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `path:line:column` of a found image.
pub fn location(image: &FoundImage) -> Location {
    Location::new(&image.file, image.line, image.column)
}

/// One place a reference is used.
#[derive(Debug, Clone)]
pub struct Use {
    pub reference: Reference,
    pub location: Location,
    /// `Deployment app (namespace team-a)`, when the reference is in a pod spec.
    pub workload: Option<String>,
    /// The pod's pull secrets (set by [`Uses::with_pod_credentials`]).
    pub pod: Option<Arc<PodSecrets>>,
    pub context: Context,
    /// Why `pin` cannot pin it, with what to do instead (a Helm values
    /// mapping without a digest key).
    pub unpinnable: Option<String>,
}

impl Use {
    /// The place, for a message about the reference.
    pub fn used_at(&self) -> UsedAt {
        UsedAt {
            location: self.location.clone(),
            workload: self.workload.clone(),
        }
    }
}

/// Every place in `uses`, for a message.
pub fn used_at(uses: &[Use]) -> Vec<UsedAt> {
    uses.iter().map(Use::used_at).collect()
}

/// `Deployment app (namespace team-a)` for a reference in a pod spec, with
/// the default namespace when the object names none.
fn workload(c: &Context, default_namespace: &str) -> Option<String> {
    let c = c.kubernetes()?;
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
    pub scan: ScanSummary,
    /// Values the kubelet would reject (not yet reported).
    pub invalid: Vec<InvalidImage>,
    secrets: Vec<SecretManifest>,
    service_accounts: Vec<ServiceAccountManifest>,
}

impl Uses {
    /// The uses of one key (none when no manifest uses it).
    pub fn of(&self, key: &Key) -> &[Use] {
        self.by_key.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every use, in key order.
    pub fn count(&self) -> usize {
        self.by_key.values().map(Vec::len).sum()
    }

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
    pub fn of(&mut self, c: &Context) -> Option<Arc<PodSecrets>> {
        let name = workload(c, &self.default_namespace)?;
        let c = c.kubernetes()?;
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
pub fn collect_uses(
    paths: &[PathBuf],
    helm_values: &[PathBuf],
    default_namespace: &str,
    diag: &mut Diagnostics,
) -> Uses {
    let mut uses = Uses::default();
    uses.scan = scan_files(paths, helm_values, diag, false, |file, _| {
        uses.invalid.extend(file.scan.invalid);
        uses.secrets.extend(file.scan.secrets);
        uses.service_accounts.extend(file.scan.service_accounts);
        for image in file.scan.images {
            if image.built() || crate::config::ignores(&image.reference) {
                continue; // built by its compose service, or `ignore-images`
            }
            uses.by_key
                .entry(Key::of_reference(&image.reference))
                .or_default()
                .push(Use {
                    location: location(&image),
                    workload: workload(&image.context, default_namespace),
                    pod: None,
                    unpinnable: match &image.edit {
                        EditPlan::Unpinnable { reason, hint } => Some(format!("{reason}; {hint}")),
                        _ => None,
                    },
                    reference: image.reference,
                    context: image.context,
                });
        }
    });
    uses
}
