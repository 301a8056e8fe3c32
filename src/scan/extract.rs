//! From YAML documents to a [`FileScan`]: each document goes to the
//! extractor of its input kind ([`compose`] for a compose file, else
//! [`kubernetes`], which also reads the `image` keys of custom resources
//! and other YAML). The only place that knows every kind; extractors
//! report into an [`Extraction`] (see [`super::extraction`]).

use std::path::Path;
use std::sync::Arc;

use super::extraction::{Delivered, Extraction};
use super::{
    compose, custom, github_workflow, helm_values, kubernetes, kustomize, Context, FileScan,
    Options, ScanError, Scope,
};
use crate::yaml::indent_fix;
use crate::yaml::{self, Doc, NodeId, SyntaxError};

/// Scan every document of `text` (CRDs skipped, Go-YAML indentation
/// accepted), handing each document's findings to `each` as soon as the
/// document is read (see [`super::scan_file_each`]).
pub fn scan_text(
    path: &Path,
    text: &str,
    scope: Scope,
    options: Options<'_>,
    each: &mut dyn FnMut(FileScan),
) -> Result<(), ScanError> {
    let file: Arc<Path> = Arc::from(path);
    let at = At {
        file: &file,
        scope,
        options,
    };
    let mut delivered = Delivered::default();
    let first = match scan_with(&at, text, true, &mut delivered, each) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let retried = indent_fix::retry(text, first, |fix, patched| {
        // Positions in the patched text, as the original text has them.
        let mut remapped = |mut s: FileScan| {
            for img in &mut s.images {
                img.column = fix.column(img.line, img.column);
                img.span = patched.orig(img.span.start)..patched.orig(img.span.end);
                img.edit.remap(|p| patched.orig(p));
                if let Context::Kubernetes(c) = &mut img.context {
                    if let Some(plan) = &mut c.pull_policy_edit {
                        plan.remap(|p| patched.orig(p));
                    }
                }
            }
            for w in &mut s.warnings {
                w.column = fix.column(w.line, w.column);
            }
            for i in &mut s.invalid {
                i.column = fix.column(i.line, i.column);
            }
            each(s);
        };
        scan_with(&at, &patched.text, true, &mut delivered, &mut remapped)
    });
    // An error is reported as the original text has it.
    retried.map_err(|e| syntax(path, e))
}

/// The same scan with the full parser only, reading the whole text at
/// once (no fast path, no cutting into documents, no indentation
/// workaround; CRD documents blanked rather than skipped): the reference
/// the fast path and the per-document reading are checked against (unit
/// tests and the corpus check).
pub fn scan_text_full_parser(path: &Path, text: &str) -> Result<FileScan, ScanError> {
    let masked = super::crd::mask(text);
    let text = masked.as_deref().unwrap_or(text);
    let mut all = FileScan::default();
    let mut each = |part| all.append(part);
    let mut delivered = Delivered::default();
    let mut reading = Dispatch {
        ex: Extraction::new(Arc::from(path), &mut delivered, &mut each),
        scope: Scope::Everything,
        options: Options::default(),
    };
    yaml::parse_whole(text, false, &mut reading).map_err(|e| syntax(path, e))?;
    reading.ex.finish(None);
    Ok(all)
}

fn syntax(path: &Path, e: SyntaxError) -> ScanError {
    ScanError::Syntax {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.message,
    }
}

/// One scan of `text`, one document at a time: CustomResourceDefinitions
/// skipped unparsed (they name no image), plain block-style documents read
/// by the fast path (with `fast`), the others by the full parser. Each
/// document's findings go to `each` as it ends, except those of the first
/// `delivered` documents (already handed over); `delivered` counts them.
fn scan_with(
    at: &At<'_>,
    text: &str,
    fast: bool,
    delivered: &mut Delivered,
    each: &mut dyn FnMut(FileScan),
) -> Result<(), SyntaxError> {
    let mut reading = Dispatch {
        ex: Extraction::new(at.file.clone(), delivered, each),
        scope: at.scope,
        options: at.options,
    };
    if let Some(tally) = at.options.unread {
        reading.ex.set_line_base(tally.line_base());
    }
    let crds = super::crd::mentions_crd(text);
    yaml::parse_documents(
        text,
        fast,
        |doc| crds && super::crd::is_crd(doc),
        &mut reading,
    )?;
    reading.ex.finish(at.options.unread);
    Ok(())
}

/// The file a scan reads and what it reads images from.
struct At<'a> {
    file: &'a Arc<Path>,
    scope: Scope,
    /// What the scan reads besides the built-in rules.
    options: Options<'a>,
}

/// One reading of a text: each document it hands over goes to the
/// extractor of its kind, which reports into `ex`.
struct Dispatch<'a, 'e> {
    ex: Extraction<'e>,
    scope: Scope,
    /// What the scan reads besides the built-in rules.
    options: Options<'a>,
}

impl yaml::Documents for Dispatch<'_, '_> {
    fn document(&mut self, doc: &Doc<'_>, root: NodeId, index: usize) {
        if !self.ex.begin_document(index) {
            return; // handed over by an earlier attempt
        }
        extract(doc, root, self.scope, self.options, &mut self.ex);
        self.ex.end_document(doc, index);
    }

    fn restart(&mut self) {
        self.ex.discard_document();
    }
}

/// One document's findings into `ex`.
fn extract(
    doc: &Doc<'_>,
    root: NodeId,
    scope: Scope,
    options: Options<'_>,
    ex: &mut Extraction<'_>,
) {
    // helm branch: a chart's values file has its own rules, whatever
    // its documents look like.
    if scope == Scope::HelmValues {
        helm_values::extract(doc, root, ex);
        return;
    }
    if scope == Scope::KnownManifests && !is_known_document(doc, root) {
        ex.skipped_image_keys(count_image_keys(doc));
        return;
    }
    // kustomize branch: a kustomization's `images:` only, never the
    // Kubernetes rules.
    if kustomize::is_kustomization(ex.path(), doc, root) {
        kustomize::extract(doc, root, ex);
        return;
    }
    if compose::is_compose(doc, root) {
        compose::extract(doc, root, options.compose_environment, ex);
    } else if github_workflow::is_workflow(doc, root, github_workflow::in_workflows_dir(ex.path()))
    {
        github_workflow::extract(doc, root, ex);
    } else {
        kubernetes::extract(doc, root, ex);
        custom::extract(options.locations, doc, root, ex);
    }
}

/// Whether a document is one imagelock knows how to read images from: a
/// Kubernetes object (`apiVersion` or `kind` at the top; `kind: List`
/// included), a compose file (`services` mapping), a kustomization or a
/// GitHub workflow (`jobs` mapping).
fn is_known_document(doc: &Doc<'_>, root: NodeId) -> bool {
    let Some(root) = doc.resolve(root) else {
        return false;
    };
    let is_map = |key: &str| {
        doc.get(root, key)
            .and_then(|v| doc.resolve(v))
            .is_some_and(|v| doc.is_map(v))
    };
    doc.get(root, "apiVersion").is_some()
        || doc.get(root, "kind").is_some()
        || is_map("services")
        || is_map("jobs")
        || ["resources", "images", "components", "bases", "patches"]
            .iter()
            .any(|k| doc.get(root, k).is_some())
}

/// How many mapping entries in the document have the key `image`.
fn count_image_keys(doc: &Doc<'_>) -> usize {
    (0..doc.len() as NodeId)
        .map(|id| {
            doc.map_entries(id)
                .chunks_exact(2)
                .filter(|kv| doc.scalar_str(kv[0]) == Some("image"))
                .count()
        })
        .sum()
}
