//! Finding image references in files, with exact byte positions.
//!
//! Never modifies a file. A value in an image field that is not a valid
//! reference is an [`InvalidImage`] finding, except templates (`{{ … }}`,
//! `${…}`, `$(…)`), `ko://` import paths and empty values, which are
//! warnings; a file that cannot be parsed is an error.
//!
//! Layout: the YAML engine ([`crate::yaml`]: node trees, byte spans, no
//! input kind) lives outside; [`kubernetes`], [`compose`], [`kustomize`], [`helm_values`]
//! and [`github_workflow`] are the YAML extractors, one per input kind,
//! turning a document into found images with their [`Context`] and
//! [`EditPlan`];
//! [`extract`] sends each document to its extractor. [`dockerfile`] reads
//! Dockerfiles and Containerfiles.

pub mod compose;
mod crd;
pub mod custom;
pub mod dockerfile;
mod edit_plan;
pub mod encoding;
pub mod extract;
pub mod extraction;
pub mod github_workflow;
pub mod helm_values;
pub mod kubernetes;
pub mod kustomize;
pub mod walk;

pub use crate::yaml::{fast_path_reads, QuoteStyle};
pub use edit_plan::EditPlan;
pub use encoding::{read_file, Encoding, ReadFile};
pub use extract::scan_text_full_parser;
pub use extraction::UnreadTally;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::reference::Reference;
use crate::secret::Secret;

/// Which pod-spec list a container sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ContainerList {
    #[serde(rename = "containers")]
    Containers,
    #[serde(rename = "initContainers")]
    InitContainers,
    #[serde(rename = "ephemeralContainers")]
    EphemeralContainers,
}

/// Which field held the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageField {
    /// A mapping key `image` with a string value.
    Image,
    /// `volumes[].image.reference` (Kubernetes image volumes).
    VolumeReference,
    /// A kustomization's `images[]` entry (`newName`/`name`, `newTag`,
    /// `digest`); the position is the value naming the image.
    KustomizeImages,
    /// A Helm values mapping in split form (`registry`, `repository`,
    /// `tag`, `digest`/`sha`): the span is the `repository` value.
    HelmRepository,
    /// A `[[location]]` of `imagelock.toml` (the span may be part of a
    /// longer string).
    Location,
}

/// The rule that made a value in a Kubernetes object (or other YAML read
/// by the Kubernetes rules) an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum KubernetesField {
    /// A built-in kind's pod spec, by its schema.
    #[serde(rename = "containers[].image")]
    Containers,
    #[serde(rename = "initContainers[].image")]
    InitContainers,
    #[serde(rename = "ephemeralContainers[].image")]
    EphemeralContainers,
    #[serde(rename = "volumes[].image.reference")]
    VolumeReference,
    /// An `image` key of a custom resource (or of YAML that is no
    /// Kubernetes object), outside metadata, selectors and data.
    #[serde(rename = "custom-resource")]
    CustomResource,
    /// A `[[location]]` of `imagelock.toml`.
    #[serde(rename = "location")]
    Location,
}

impl KubernetesField {
    pub(crate) fn of_list(list: ContainerList) -> KubernetesField {
        match list {
            ContainerList::Containers => KubernetesField::Containers,
            ContainerList::InitContainers => KubernetesField::InitContainers,
            ContainerList::EphemeralContainers => KubernetesField::EphemeralContainers,
        }
    }
}

/// Where in the Kubernetes object model the reference sits.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ObjectContext {
    /// `kind` of the nearest enclosing object (a `kind: List` item is its own object).
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `name` of the container (sibling key of `image`), when in a container list.
    pub container: Option<String>,
    pub list: Option<ContainerList>,
    /// The rule that made the value an image.
    pub field: Option<KubernetesField>,
    /// The sibling `imagePullPolicy` (or `pullPolicy` for an image volume) as written.
    pub pull_policy: Option<String>,
    /// The pod spec the reference sits in (containers and image volumes).
    pub pod: Option<PodRef>,
    /// How to write the pull policy beside the reference (a container's
    /// `imagePullPolicy`, an image volume's `pullPolicy`): set the value
    /// written, or insert the key. `None` outside pod specs, or where no
    /// byte-exact edit can do it.
    #[serde(skip)]
    pub pull_policy_edit: Option<EditPlan>,
}

/// Where a reference sits, per input kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "input", rename_all = "kebab-case")]
pub enum Context {
    /// A Kubernetes object (or other YAML read by the Kubernetes rules:
    /// custom resources, any document with `image` keys).
    Kubernetes(ObjectContext),
    /// A compose service.
    Compose(ComposeService),
    /// A Dockerfile instruction (`FROM`, `COPY --from`, `RUN --mount`,
    /// `# syntax=`).
    Dockerfile(dockerfile::DockerfileContext),
    /// A Helm chart's values file (a split `repository`/`tag` mapping or a
    /// plain `image` string); the chart's templates decide the pull policy.
    HelmValues(helm_values::HelmImage),
    /// A GitHub Actions workflow job's container, service or
    /// `docker://` step.
    Workflow(github_workflow::WorkflowImage),
    /// A kustomization's `images:` entry (pinned by writing its `digest:`).
    Kustomize(kustomize::KustomizeImage),
}

impl Context {
    /// The Kubernetes context, when the reference is in a Kubernetes object.
    pub fn kubernetes(&self) -> Option<&ObjectContext> {
        match self {
            Context::Kubernetes(c) => Some(c),
            Context::Compose(_)
            | Context::Dockerfile(_)
            | Context::Workflow(_)
            | Context::Kustomize(_)
            | Context::HelmValues(_) => None,
        }
    }

    /// The pull policy as written beside the reference (`imagePullPolicy`,
    /// an image volume's `pullPolicy`, compose `pull_policy`).
    pub fn pull_policy(&self) -> Option<&str> {
        match self {
            Context::Kubernetes(c) => c.pull_policy.as_deref(),
            Context::Compose(c) => c.pull_policy.as_deref(),
            Context::Dockerfile(_)
            | Context::Workflow(_)
            | Context::Kustomize(_)
            | Context::HelmValues(_) => None,
        }
    }

    /// The image is built by its compose service, not pulled.
    pub fn built(&self) -> bool {
        matches!(self, Context::Compose(c) if c.built)
    }
}

/// A compose service's `image`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ComposeService {
    /// The service's key under `services`.
    pub service: String,
    /// `pull_policy` as written (compose defaults to `missing`).
    pub pull_policy: Option<String>,
    /// The service has a `build:` section: the image is the one it builds,
    /// not one to pull (`lock` does not resolve it).
    pub built: bool,
    /// The `image:` value as written, when it holds variables (`${TAG}`):
    /// the reference is what compose interpolates it to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The variables that built the reference, by name.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub variables: std::collections::BTreeMap<String, compose::Variable>,
}

/// What a pod spec says about pull credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PodRef {
    /// `imagePullSecrets[].name`; when empty (or absent) the
    /// ServiceAccount's apply, as the API server's admission does.
    pub pull_secrets: Vec<String>,
    /// `serviceAccountName` (or the deprecated `serviceAccount`).
    pub service_account: Option<String>,
}

/// A `kind: Secret` document (any type); values stay [`Secret`]s.
#[derive(Debug, Clone)]
pub struct SecretManifest {
    pub file: PathBuf,
    pub line: usize,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `type` as written (`kubernetes.io/dockerconfigjson`).
    pub secret_type: Option<String>,
    /// `data` (base64) entries with string values.
    pub data: Vec<(String, Secret)>,
    /// `stringData` entries with string values.
    pub string_data: Vec<(String, Secret)>,
}

/// A `kind: ServiceAccount` document.
#[derive(Debug, Clone)]
pub struct ServiceAccountManifest {
    pub file: PathBuf,
    pub line: usize,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `imagePullSecrets[].name`.
    pub pull_secrets: Vec<String>,
}

/// One image reference found in a file.
#[derive(Debug, Clone)]
pub struct FoundImage {
    /// The file, shared by every image, warning and invalid value of it.
    pub file: Arc<Path>,
    /// 1-based line of the first character of the value (after any quote).
    pub line: usize,
    /// 1-based column, counted in characters, of the first character of the value.
    pub column: usize,
    /// Exact byte range of the scalar's content in the file, quotes excluded.
    pub span: Range<usize>,
    /// How `pin` writes the digest into the file.
    pub edit: EditPlan,
    pub style: QuoteStyle,
    /// True when `text[span]` is exactly the parsed value (no escapes, no
    /// line folding), so the bytes can be replaced without re-quoting.
    pub exact: bool,
    pub field: ImageField,
    pub reference: Reference,
    pub context: Context,
    /// 0-based index of the YAML document in the file.
    pub document: usize,
}

impl FoundImage {
    /// A compose service with a `build:` section: the image it builds, not
    /// one to pull (`lock` does not resolve it).
    pub fn built(&self) -> bool {
        self.context.built()
    }
}

/// A value skipped with a warning (templating, empty string, a map, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanWarning {
    pub file: Arc<Path>,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// An image value that is a placeholder something else fills (a
    /// template): skipped here, but no image a kubelet can pull, so a
    /// stream about to be applied must not hold it (`pin -`).
    pub placeholder: bool,
}

/// A value in an image field that the kubelet would refuse
/// (`InvalidImageName`): a finding, not a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidImage {
    pub file: Arc<Path>,
    pub line: usize,
    pub column: usize,
    /// The value as parsed.
    pub value: String,
    /// What is wrong ("sha256 digest must have 64 hex digits, found 63").
    pub message: String,
}

/// What one file holds.
#[derive(Debug, Clone, Default)]
pub struct FileScan {
    pub images: Vec<FoundImage>,
    pub warnings: Vec<ScanWarning>,
    /// Values in image fields that are not valid references (templates and
    /// empty values are warnings instead).
    pub invalid: Vec<InvalidImage>,
    /// Secrets and ServiceAccounts, for pull credentials.
    pub secrets: Vec<SecretManifest>,
    pub service_accounts: Vec<ServiceAccountManifest>,
    /// Things the user should know, once per file (`image` values in
    /// documents [`Scope::KnownManifests`] leaves out).
    pub notes: Vec<String>,
}

/// What a scan reads besides the built-in rules, as the run's settings
/// say. The default reads nothing more.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Custom image locations (`[[location]]` in `imagelock.toml`).
    pub locations: &'a [custom::Location],
    /// Read the process environment for compose `${VAR}` interpolation, as
    /// compose does (the environment wins over `.env`): `--compose-env`.
    pub compose_environment: bool,
    /// A text that is one window of a longer stream (`pin -`): the notes
    /// about `image` values left unread are tallied here for the whole
    /// stream instead of said per window.
    pub unread: Option<&'a UnreadTally>,
}

/// Which documents a scan reads images from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every document (a file named on the command line).
    Everything,
    /// Every document of standard input (`-`: rendered manifests), read as
    /// YAML or JSON: it has no name to tell a Dockerfile by.
    Stream,
    /// Only documents imagelock knows: Kubernetes objects (`apiVersion` or
    /// `kind`), compose files, kustomizations, GitHub workflows (a file
    /// found by walking a directory, where a Helm values file or any other
    /// YAML may have an `image:` key holding a path or a repository part).
    KnownManifests,
    /// A Helm chart's values file (named `values*.yaml`, or given with
    /// `--helm-values`): read by [`helm_values`]'s rules.
    HelmValues,
}

impl FileScan {
    /// Nothing found.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
            && self.warnings.is_empty()
            && self.invalid.is_empty()
            && self.secrets.is_empty()
            && self.service_accounts.is_empty()
            && self.notes.is_empty()
    }

    /// Add what a later part of the same file holds.
    pub fn append(&mut self, mut part: FileScan) {
        self.images.append(&mut part.images);
        self.warnings.append(&mut part.warnings);
        self.invalid.append(&mut part.invalid);
        self.secrets.append(&mut part.secrets);
        self.service_accounts.append(&mut part.service_accounts);
        self.notes.append(&mut part.notes);
    }

    /// Move every line by `lines`: what a window of a longer stream holds,
    /// as the stream numbers its lines (the window starts after `lines`).
    pub fn shift_lines(&mut self, lines: usize) {
        for i in &mut self.images {
            i.line += lines;
        }
        for w in &mut self.warnings {
            w.line += lines;
        }
        for i in &mut self.invalid {
            i.line += lines;
        }
        for s in &mut self.secrets {
            s.line += lines;
        }
        for a in &mut self.service_accounts {
            a.line += lines;
        }
    }

    /// Everything the scan reports, one comparable line per image, warning
    /// and invalid value: the fast-path differential tests and the corpus
    /// check compare two scans with it.
    pub fn summary(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .images
            .iter()
            .map(|i| {
                format!(
                    "{}:{} {:?} {:?} {:?} {} {:?} {} {:?} doc{}",
                    i.line,
                    i.column,
                    i.span,
                    i.edit,
                    i.style,
                    i.exact,
                    i.field,
                    i.reference.original(),
                    i.context,
                    i.document,
                )
            })
            .collect();
        v.extend(
            self.warnings
                .iter()
                .map(|w| format!("W {}:{} {}", w.line, w.column, w.message)),
        );
        v.extend(
            self.invalid
                .iter()
                .map(|i| format!("I {}:{} {:?} {}", i.line, i.column, i.value, i.message)),
        );
        v
    }
}

/// A file that could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}:{column}: not valid UTF-8 (imagelock reads UTF-8 YAML and JSON)")]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("{path}:{line}:{column}: not valid {encoding} at byte {offset}: {message}")]
    Decode {
        path: PathBuf,
        line: usize,
        column: usize,
        /// `UTF-16LE`, ...
        encoding: &'static str,
        /// Byte offset in the file (byte order mark included).
        offset: usize,
        message: String,
    },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Scan the text of one YAML or JSON file (every document of it).
pub fn scan_text(path: &Path, text: &str) -> Result<FileScan, ScanError> {
    scan_text_in(path, text, Scope::Everything)
}

/// Scan the text of one file, reading images from the documents `scope`
/// takes.
pub fn scan_text_in(path: &Path, text: &str, scope: Scope) -> Result<FileScan, ScanError> {
    let mut all = FileScan::default();
    extract::scan_text(path, text, scope, Options::default(), &mut |part| {
        all.append(part);
    })?;
    Ok(all)
}

/// Scan one file's text by its kind: a Dockerfile or Containerfile by its
/// name, anything else as YAML or JSON reading the documents `scope` takes.
pub fn scan_file(path: &Path, text: &str, scope: Scope) -> Result<FileScan, ScanError> {
    let mut all = FileScan::default();
    scan_file_each(path, text, scope, Options::default(), &mut |part| {
        all.append(part);
    })?;
    Ok(all)
}

/// [`scan_file`], handing what the file holds to `each` in parts, in
/// order, as soon as each is complete (a YAML file's documents one by one,
/// so memory does not grow with the images a file holds), reading what
/// `options` add to the built-in rules. On an error, the parts already
/// handed over are void: the file is not read.
pub fn scan_file_each(
    path: &Path,
    text: &str,
    scope: Scope,
    options: Options<'_>,
    each: &mut dyn FnMut(FileScan),
) -> Result<(), ScanError> {
    if dockerfile::is_dockerfile_name(path) {
        each(dockerfile::scan_text(path, text));
        return Ok(());
    }
    // A file named on the command line whose name says nothing: a
    // Dockerfile when it starts like one, else YAML, said when that
    // finds nothing (`imagelock list build/base.df` never prints nothing).
    let named = scope == Scope::Everything;
    if let Some(keyword) = dockerfile::sniffed(path, text).filter(|_| named) {
        let mut scan = dockerfile::scan_text(path, text);
        scan.notes.push(format!(
            "{}: read as a Dockerfile: its name is not one imagelock recognises and its first instruction is {keyword}",
            path.display()
        ));
        each(scan);
        return Ok(());
    }
    let unrecognised = named && !walk_known_name(path);
    let mut found = false;
    extract::scan_text(path, text, scope, options, &mut |part| {
        found |= !part.is_empty();
        each(part);
    })?;
    if unrecognised && !found {
        each(FileScan {
            notes: vec![format!(
                "{}: read as YAML (its name is not one imagelock recognises) and found no image; name a Dockerfile `Dockerfile`, `*.Dockerfile` or `Containerfile`, or start it with FROM or ARG",
                path.display()
            )],
            ..FileScan::default()
        });
    }
    Ok(())
}

/// A name imagelock reads by its kind: YAML or JSON by extension, a
/// kustomization.
fn walk_known_name(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("yaml" | "yml" | "json"))
        || kustomize::is_kustomization_name(path)
}

/// Whether a text names a CustomResourceDefinition anywhere (cheap byte
/// search; see [`crd_document`]).
pub fn crd_mentioned(text: &str) -> bool {
    crd::mentions_crd(text)
}

/// Whether one document's text is a CustomResourceDefinition, which the
/// scan skips unparsed.
pub fn crd_document(text: &str) -> bool {
    crd::is_crd(text)
}

/// Decode file bytes as UTF-8, reporting the line and column of the first
/// invalid byte.
pub fn decode_utf8<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, ScanError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            // `good` is valid UTF-8 by construction.
            let good = std::str::from_utf8(good).unwrap_or_default();
            let (line, column) = encoding::position(good);
            Err(ScanError::NotUtf8 {
                path: path.to_path_buf(),
                line,
                column,
            })
        }
    }
}

#[cfg(test)]
mod tests;
