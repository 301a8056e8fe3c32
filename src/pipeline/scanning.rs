//! Scanning the command line's paths for the commands: read each file,
//! scan it, report what it says through [`Diagnostics`], and gather every
//! use of every reference with its pod's pull credentials.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Filters;
use crate::credentials::pull_secret::PodWarning;
use crate::credentials::{PodSecrets, SecretIndex};
use crate::lockfile::Key;
use crate::policy::Effective;
use crate::reference::Reference;
use crate::report::{Diagnostics, Location, Message, UsedAt};
use crate::scan::walk::{walk, WalkItem};
use crate::scan::{
    read_file, scan_file_each, Context, EditPlan, Encoding, FileScan, FoundImage, InvalidImage,
    ReadFile, ScanError, Scope, SecretManifest, ServiceAccountManifest,
};
use crate::settings::ScanSettings;

/// One file being scanned: its text and how it is stored. Standard input
/// is one too, scanned in its own [`Scope::Stream`] and named [`STDIN`].
pub struct FileText {
    /// The file's path, or [`STDIN`].
    pub path: PathBuf,
    /// The decoded text (no byte order mark); spans index into it.
    pub text: String,
    /// How the file stores `text`: encode edits back with it.
    pub encoding: Encoding,
}

/// What scanning hands the commands, file by file and, within a file,
/// document by document (so memory does not grow with the images a file
/// holds).
pub enum Scanned<'a> {
    /// What one or more documents of a file hold, in order. Its warnings,
    /// notes (and invalid values, with [`scan_each`]) are reported already.
    Part(&'a FileText, FileScan),
    /// The file is read whole: every part of it was handed over.
    Done(FileText),
    /// The file failed after some parts (a syntax error further down,
    /// reported already): what its parts gave is void.
    Void(&'a FileText),
}

/// What scanning the paths gave besides the files themselves.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanSummary {
    /// Files that could not be read or parsed.
    pub failed: usize,
}

/// Walk `paths`, read and scan each file, and hand what each holds to
/// `each` as it is found (see [`Scanned`]): memory stays near the size of
/// the largest file, however many images it holds. Notes, warnings and
/// errors go to `diag`. A value the kubelet would reject is an error here
/// (`list`, `pin`). `helm_values` are read as Helm values files whatever
/// their names (and scanned even when no path holds them).
pub fn scan_each(
    settings: &ScanSettings,
    diag: &mut Diagnostics,
    each: impl FnMut(Scanned<'_>, &mut Diagnostics),
) -> ScanSummary {
    scan_files(settings, diag, true, each)
}

/// [`scan_each`], reporting invalid values as errors only when
/// `invalid_is_error` (else the caller finds them in the parts' `invalid`).
fn scan_files(
    settings: &ScanSettings,
    diag: &mut Diagnostics,
    invalid_is_error: bool,
    mut each: impl FnMut(Scanned<'_>, &mut Diagnostics),
) -> ScanSummary {
    let mut summary = ScanSummary::default();
    // helm branch: `--helm-values` files are scanned too, known by their
    // canonical paths however the walk spells them.
    let helm: HashSet<PathBuf> = settings.helm_values.iter().map(|p| canonical(p)).collect();
    let all: Vec<PathBuf> = settings
        .paths
        .iter()
        .chain(&settings.helm_values)
        .cloned()
        .collect();
    // What imagelock.toml leaves out (nothing without one).
    let filters = Arc::new(settings.filters.clone());
    let excluded: crate::scan::walk::Excluded = Arc::new(move |p| filters.excludes(p));
    for item in walk(&all, &excluded) {
        if crate::interrupt::requested().is_some() {
            // Stop at once; `main` exits 130/143. Counted as a failure so
            // no command acts on a partial scan.
            summary.failed += 1;
            break;
        }
        let (path, read, scope) = match item {
            WalkItem::Note(n) => {
                diag.note(n);
                continue;
            }
            WalkItem::Error { path, message } => {
                summary.failed += 1;
                diag.emit(Message::error(message).at(Location::file(&path)).code("io"));
                continue;
            }
            WalkItem::Stdin => (PathBuf::from(STDIN), read_stdin(), Scope::Stream),
            WalkItem::File { path, explicit } => {
                let helm_values = crate::scan::helm_values::is_values_name(&path)
                    || helm.contains(&canonical(&path));
                // A file found by walking a directory is read for images
                // only where it is a manifest imagelock knows; one named
                // on the command line is read whatever it holds.
                let scope = if helm_values {
                    Scope::HelmValues
                } else if explicit {
                    Scope::Everything
                } else {
                    Scope::KnownManifests
                };
                let read = read_file(&path, explicit);
                (path, read, scope)
            }
        };
        let file = match read {
            Ok(Some(file)) => FileText {
                path,
                text: file.text,
                encoding: file.encoding,
            },
            Ok(None) => {
                diag.note(format!("{}: skipped: binary file", path.display()));
                continue;
            }
            Err(e) => {
                summary.failed += 1;
                diag.emit(scan_error_message(&e));
                continue;
            }
        };
        if scan_read_file(file, scope, settings, diag, invalid_is_error, &mut each) {
            summary.failed += 1;
        }
    }
    summary
}

/// Scan one file read whole (standard input included) and hand what it
/// holds to `each`; returns whether it failed (reported in `diag`).
fn scan_read_file(
    file: FileText,
    scope: Scope,
    settings: &ScanSettings,
    diag: &mut Diagnostics,
    invalid_is_error: bool,
    each: &mut impl FnMut(Scanned<'_>, &mut Diagnostics),
) -> bool {
    // A compose variables file named on the command line (not as
    // Helm values): read with the compose file beside it, never as
    // YAML. A file so named that holds YAML is read as any file.
    let dotenv =
        scope == Scope::Everything && crate::scan::compose::is_variables_file_name(&file.path);
    if dotenv && looks_like_dotenv(&file.text) {
        diag.note(dotenv_note(&file.path));
        return false;
    }
    // A file whose syntax error would be a note (skipped) holds its
    // documents until the whole file parses: `list` prints no image
    // of a file it then says it skipped.
    let template = file.text.contains("{{") && in_helm_templates(&file.path);
    // A walked `*.json` manifest may be a stream of JSON objects, which
    // kubectl applies one by one and imagelock does not read.
    let walked_json =
        scope == Scope::KnownManifests && file.path.extension().is_some_and(|x| x == "json");
    let hold = dotenv || template || walked_json;
    let mut held = Vec::new();
    let scanned = scan_file_each(
        &file.path,
        &file.text,
        scope,
        crate::scan::Options {
            locations: &settings.filters.locations,
            compose_environment: settings.compose_env,
            unread: None,
        },
        &mut |part| {
            if hold {
                held.push(part);
            } else {
                report(&part, diag, invalid_is_error);
                each(Scanned::Part(&file, part), diag);
            }
        },
    );
    if scanned.is_ok() {
        for part in held {
            report(&part, diag, invalid_is_error);
            each(Scanned::Part(&file, part), diag);
        }
    }
    match scanned {
        Ok(()) => {
            each(Scanned::Done(file), diag);
            false
        }
        // A Helm template named on the command line is no YAML until
        // rendered: said, as a walk says it of the templates directory.
        Err(crate::scan::ScanError::Syntax { .. }) if dotenv => {
            diag.note(dotenv_note(&file.path));
            each(Scanned::Void(&file), diag);
            false
        }
        Err(crate::scan::ScanError::Syntax { .. }) if template => {
            diag.note(format!(
                "{}: skipped: a Helm chart's template (Go template syntax, not YAML until rendered); pipe `helm template` output to imagelock instead",
                file.path.display()
            ));
            each(Scanned::Void(&file), diag);
            false
        }
        Err(crate::scan::ScanError::Syntax {
            line,
            column,
            message,
            ..
        }) if walked_json && message.contains("document start") => {
            diag.emit(
                Message::warning(format!(
                    "not read: more than one JSON value ({message}): kubectl applies a stream of JSON objects one by one, imagelock reads one JSON document per file"
                ))
                .at(Location::new(&file.path, line, column))
                .hint(Some(
                    "write one object per file, or the objects as a `kind: List`, or as YAML documents separated by `---`",
                )),
            );
            each(Scanned::Void(&file), diag);
            false
        }
        Err(e) => {
            diag.emit(scan_error_message(&e));
            each(Scanned::Void(&file), diag);
            true
        }
    }
}

/// Scan one window of standard input read window by window (see
/// [`super::stream`]): its text starts after `lines_before` lines of the
/// stream, and every line reported is the stream's. The notes about
/// values left unread are tallied in `tally`, said once at the stream's
/// end. With `report`, its warnings and invalid values are reported to
/// `diag` (a second reading of the same window reports nothing), each
/// part's before `each` is handed it, so messages come in the stream's
/// order. Returns whether it failed (a syntax error, reported): its parts
/// are then void.
pub fn scan_window(
    settings: &ScanSettings,
    file: &FileText,
    lines_before: usize,
    tally: &crate::scan::UnreadTally,
    diag: &mut Diagnostics,
    report_parts: bool,
    mut each: impl FnMut(FileScan, &mut Diagnostics),
) -> Result<(), ScanError> {
    tally.set_line_base(lines_before);
    let scanned = scan_file_each(
        &file.path,
        &file.text,
        Scope::Stream,
        crate::scan::Options {
            locations: &settings.filters.locations,
            compose_environment: settings.compose_env,
            unread: Some(tally),
        },
        &mut |mut part| {
            part.shift_lines(lines_before);
            if report_parts {
                report(&part, diag, true);
            }
            each(part, diag);
        },
    );
    scanned.map_err(|e| match e {
        ScanError::Syntax {
            path,
            line,
            column,
            message,
        } => ScanError::Syntax {
            path,
            line: line + lines_before,
            column,
            message,
        },
        e => e,
    })
}

/// Standard input, read whole, for a caller that looks at it before it is
/// scanned (`pin -` reads a KRM function config from it).
pub fn read_standard_input() -> Result<FileText, ScanError> {
    let read = read_stdin()?.unwrap_or(ReadFile {
        text: String::new(),
        encoding: Encoding::Utf8,
    });
    Ok(FileText {
        path: PathBuf::from(STDIN),
        text: read.text,
        encoding: read.encoding,
    })
}

/// Scan standard input read with [`read_standard_input`], as
/// [`scan_each`] scans `-`.
pub fn scan_standard_input(
    settings: &ScanSettings,
    file: FileText,
    diag: &mut Diagnostics,
    mut each: impl FnMut(Scanned<'_>, &mut Diagnostics),
) -> ScanSummary {
    ScanSummary {
        failed: usize::from(scan_read_file(
            file,
            Scope::Stream,
            settings,
            diag,
            true,
            &mut each,
        )),
    }
}

/// How standard input (`-`) is named in locations.
pub const STDIN: &str = "<stdin>";

/// Report what one part of a file holds: warnings, notes, and (when
/// `invalid_is_error`) invalid values as errors.
fn report(part: &FileScan, diag: &mut Diagnostics, invalid_is_error: bool) {
    for w in &part.warnings {
        diag.emit(Message::warning(&w.message).at(Location::shared(
            w.file.clone(),
            w.line,
            w.column,
        )));
    }
    for n in &part.notes {
        diag.note(n);
    }
    if invalid_is_error {
        for i in &part.invalid {
            diag.emit(invalid_message(i));
        }
    }
}

/// Read standard input (rendered manifests: `helm template …`,
/// `kustomize build`), whatever it holds, shown as `<stdin>`.
fn read_stdin() -> Result<Option<ReadFile>, ScanError> {
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
    Ok(Some(ReadFile { text, encoding }))
}

/// The effective pull policy of `reference` where it is used, each of its
/// warnings reported at `at`.
pub fn assess_policy(
    reference: &Reference,
    context: &Context,
    at: &Location,
    diag: &mut Diagnostics,
) -> (Effective, Vec<String>) {
    if !diag.shows_warnings() {
        return (crate::policy::effective_in(reference, context), Vec::new());
    }
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
    .at(Location::shared(i.file.clone(), i.line, i.column))
    .code("invalid")
    .hint(Some(
        "the kubelet refuses it with InvalidImageName; write a valid reference",
    ))
}

/// A file that could not be read or parsed, as a message.
pub fn scan_error_message(e: &ScanError) -> Message {
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

fn canonical(path: &Path) -> PathBuf {
    fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `path:line:column` of a found image.
pub fn location(image: &FoundImage) -> Location {
    Location::shared(image.file.clone(), image.line, image.column)
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

/// Every reference in `paths`, grouped by lock key (sorted). A file that
/// fails to parse gives none (its error is reported).
pub fn collect_uses(
    settings: &ScanSettings,
    default_namespace: &str,
    diag: &mut Diagnostics,
) -> Uses {
    let mut uses = Uses::default();
    // The file being read, until it is read whole.
    let mut file = Uses::default();
    uses.scan = scan_files(settings, diag, false, |event, _| match event {
        Scanned::Part(_, part) => file.add(part, &settings.filters, default_namespace),
        Scanned::Done(_) => uses.append(std::mem::take(&mut file)),
        Scanned::Void(_) => file = Uses::default(),
    });
    uses
}

impl Uses {
    /// Add the uses one part of a file holds.
    pub fn add(&mut self, part: FileScan, filters: &Filters, default_namespace: &str) {
        self.invalid.extend(part.invalid);
        self.secrets.extend(part.secrets);
        self.service_accounts.extend(part.service_accounts);
        for image in part.images {
            if image.built() || filters.ignores(&image.reference) {
                continue; // built by its compose service, or `ignore-images`
            }
            self.by_key
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
    }

    /// Add the uses of a file read whole.
    fn append(&mut self, other: Uses) {
        for (key, mut v) in other.by_key {
            self.by_key.entry(key).or_default().append(&mut v);
        }
        self.invalid.extend(other.invalid);
        self.secrets.extend(other.secrets);
        self.service_accounts.extend(other.service_accounts);
    }
}

/// The note for a dotenv file named on the command line.
fn dotenv_note(path: &Path) -> String {
    format!(
        "{}: skipped: a dotenv file of compose variables, not a manifest; compose reads `.env` beside the compose file, and imagelock reads it with that file",
        path.display()
    )
}

/// Whether a text reads as dotenv lines: each blank, a `#` comment, or
/// `NAME=value` (`export NAME=value`). A file named `prod.env` that holds
/// a manifest is no dotenv file.
fn looks_like_dotenv(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return true;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        line.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        })
    })
}

/// Whether a file sits in a Helm chart's `templates/` directory (or below
/// it): a `templates` directory whose parent holds `Chart.yaml`. The path
/// is made absolute first, so `x.yaml` named from inside `templates/` is
/// one too.
fn in_helm_templates(path: &Path) -> bool {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    path.ancestors().skip(1).any(|dir| {
        dir.file_name().is_some_and(|n| n == "templates")
            && dir.parent().is_some_and(|p| p.join("Chart.yaml").is_file())
    })
}
