//! The kustomize extractor: the `images:` entries of a kustomization
//! (`kustomization.yaml`, `kustomization.yml`, `Kustomization`, or any
//! document with `apiVersion: kustomize.config.k8s.io/…` and `kind:
//! Kustomization` or `Component`), each turned into the reference kustomize
//! writes into the resources, and pinned by writing the entry's `digest:`.
//!
//! Rules, as kustomize applies an entry (`name` matches, `newName`
//! replaces the name, `newTag` the tag, `digest` pins):
//! - `newTag` given: the image is `newName:newTag` (or `name:newTag`),
//!   with `@digest` when the entry has one; pinning writes `digest:` (a
//!   new key after the entry's last line, or the value of an existing
//!   `digest:` key).
//! - `digest` given and no `newTag`: a digest-only entry, already pinned.
//! - neither: kustomize keeps the tag the resources use, which imagelock
//!   cannot see from here: a warning at the entry, nothing locked.
//! - `newTag` that YAML 1.1 reads as a number or boolean (`1.20`, `8`,
//!   `553640e6`, `yes`): kustomize reads the kustomization through
//!   `sigs.k8s.io/yaml` into a string field and stops with `cannot
//!   unmarshal number into Go struct field Image.images.newTag of type
//!   string`; a warning at the value (quote it), nothing locked. The same
//!   typing as Helm values' `tag` ([`Scalar::go_yaml_non_string`]).
//!
//! Other fields (`resources`, `patches`, `helmCharts`, …) name no image
//! (`helmCharts[].valuesInline` is not read). A kustomization document goes
//! to this extractor only: the Kubernetes rules never read it.

use std::collections::HashSet;
use std::path::Path;

use super::extraction::Extraction;
use super::EditPlan;
use super::{Context, FoundImage, ImageField, InvalidImage};
use crate::reference::Reference;
use crate::yaml::{Doc, NodeId, QuoteStyle, Scalar, SiblingInsert};

/// The `images:` entry a reference comes from, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KustomizeImage {
    /// `name`: the image kustomize replaces in the resources.
    pub name: String,
    /// `newName`, when given.
    #[serde(rename = "new-name")]
    pub new_name: Option<String>,
    /// `newTag`, when given.
    #[serde(rename = "new-tag")]
    pub new_tag: Option<String>,
    /// `digest` as written, when given (and not empty).
    pub digest: Option<String>,
}

/// File names kustomize reads a kustomization from.
const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Whether `path` is named as kustomize names a kustomization.
pub fn is_kustomization_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| FILE_NAMES.contains(&n))
}

/// Whether a document is a kustomization: its file is named as one, or it
/// says so (`apiVersion: kustomize.config.k8s.io/…` with `kind:
/// Kustomization` or `Component`).
pub fn is_kustomization(path: &Path, doc: &Doc<'_>, root: NodeId) -> bool {
    let Some(root) = doc.resolve(root).filter(|&r| doc.is_map(r)) else {
        return false;
    };
    if is_kustomization_name(path) {
        return true;
    }
    doc.get_str(root, "apiVersion")
        .is_some_and(|v| v.starts_with("kustomize.config.k8s.io/"))
        && matches!(
            doc.get_str(root, "kind"),
            Some("Kustomization" | "Component")
        )
}

/// Read every `images:` entry of a kustomization document.
pub fn extract(doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let Some(root) = doc.resolve(root) else {
        return;
    };
    let Some((key, images)) = doc.entry(root, "images") else {
        return;
    };
    let Some(images) = doc.resolve(images) else {
        ex.warn_at(
            doc,
            key,
            "images: the alias refers to an unknown anchor; skipped".into(),
        );
        return;
    };
    if doc.scalar(images).is_some_and(|s| s.is_null()) {
        return;
    }
    if !doc.is_seq(images) {
        let what = doc.describe(images);
        ex.warn_at(
            doc,
            images,
            format!("images is {what}, not a sequence of entries; skipped"),
        );
        return;
    }
    // An entry reached twice (through an alias) is reported once.
    let mut seen = HashSet::new();
    for &item in doc.seq_items(images) {
        match doc.resolve(item).filter(|&i| doc.is_map(i)) {
            Some(entry) if seen.insert(entry) => read_entry(doc, entry, ex),
            Some(_) => {}
            None => {
                let what = doc.resolve(item).map_or("an alias", |i| doc.describe(i));
                ex.warn_at(
                    doc,
                    item,
                    format!("images entry is {what}, not a mapping; skipped"),
                );
            }
        }
    }
}

/// A field of an entry: its key and the scalar it holds (through an
/// alias), when it holds a non-null one.
struct Field<'d> {
    key: NodeId,
    value: NodeId,
    scalar: Option<Scalar<'d>>,
}

impl Field<'_> {
    /// The value, unless null or empty.
    fn text(&self) -> Option<&str> {
        self.scalar
            .as_ref()
            .filter(|s| !s.is_null() && !s.value.is_empty())
            .map(|s| s.value)
    }
}

fn field<'d>(doc: &'d Doc<'_>, entry: NodeId, name: &str) -> Option<Field<'d>> {
    let (key, value) = doc.entry(entry, name)?;
    let scalar = doc.resolve(value).and_then(|v| doc.scalar(v));
    Some(Field { key, value, scalar })
}

fn read_entry(doc: &Doc<'_>, entry: NodeId, ex: &mut Extraction<'_>) {
    // kustomize reads the kustomization without its duplicate-key check
    // (go-yaml v2 keeps the last value): a key written twice is not read
    // as imagelock would read it (the first), so nothing is guessed.
    for key in ["name", "newName", "newTag", "digest", "tagSuffix"] {
        if let Some(second) = doc.get_all(entry, key).nth(1) {
            let (line, column) = doc.position(second);
            ex.warn(
                line,
                column,
                format!(
                    "images entry: the key `{key}` is written twice in one mapping: YAML forbids it, and kustomize takes the last value where other readers take the first; write it once; skipped"
                ),
            );
            return;
        }
    }
    let name = field(doc, entry, "name");
    let new_name = field(doc, entry, "newName");
    let new_tag = field(doc, entry, "newTag");
    let digest = field(doc, entry, "digest");
    let Some((name, name_text)) = name.as_ref().and_then(|f| Some((f, f.text()?))) else {
        ex.warn_at(
            doc,
            entry,
            "images entry has no name (the image it replaces); skipped".into(),
        );
        return;
    };
    // The value that names the image kustomize writes: where the image is
    // reported.
    let (naming, naming_text, naming_key) =
        match new_name.as_ref().and_then(|f| Some((f, f.text()?))) {
            Some((f, t)) => (f, t, "newName"),
            None => (name, name_text, "name"),
        };
    let Some(at) = naming.scalar.clone() else {
        return;
    };
    if let Some(s) = new_tag.as_ref().and_then(|f| f.scalar.as_ref()) {
        if let Some(what) = s.go_yaml_non_string() {
            // kustomize reads the kustomization through sigs.k8s.io/yaml
            // (YAML 1.1 to JSON) into a string field: a number or boolean
            // stops `kustomize build` (kubernetes-sigs/kustomize#4081).
            let go_type = match what {
                "a number" => "number",
                "a boolean" => "bool",
                _ => "a value that is no string",
            };
            ex.warn(
                s.line,
                s.column,
                format!(
                    "images entry {naming_key} {naming_text:?}: newTag {} is not a string: YAML reads {what}, and kustomize stops (\"invalid Kustomization: json: cannot unmarshal {go_type} into Go struct field Image.images.newTag of type string\"); quote it (newTag: \"{}\"); skipped",
                    s.value, s.value
                ),
            );
            return;
        }
    }
    let tag = new_tag.as_ref().and_then(Field::text);
    let written_digest = digest.as_ref().and_then(Field::text);
    if tag.is_none() && written_digest.is_none() {
        // `tagSuffix` applies only without newTag and digest: appended to
        // the resources' tag.
        let keeps = match field(doc, entry, "tagSuffix")
            .as_ref()
            .and_then(Field::text)
        {
            Some(suffix) => {
                format!("kustomize appends tagSuffix {suffix:?} to the tag the resources use")
            }
            None => "kustomize keeps the tag the resources use".to_string(),
        };
        ex.warn(
            at.line,
            at.column,
            format!(
                "images entry {naming_key} {naming_text:?} has no newTag or digest: {keeps}, which imagelock cannot see here; skipped (add newTag to lock and pin it)"
            ),
        );
        return;
    }
    let mut text = naming_text.to_string();
    if let Some(t) = tag {
        text.push(':');
        text.push_str(t);
    }
    if let Some(d) = written_digest {
        text.push('@');
        text.push_str(d);
    }
    if ["{{", "${", "$("].iter().any(|t| text.contains(t)) {
        ex.warn(
            at.line,
            at.column,
            format!("images entry {text:?} is a template, not a reference; skipped"),
        );
        return;
    }
    let reference = match Reference::parse(&text) {
        Ok(r) => r,
        Err(e) => {
            ex.out.invalid.push(InvalidImage {
                file: ex.file(),
                line: at.line,
                column: at.column,
                value: text,
                message: e.reason,
            });
            return;
        }
    };
    let (edit, exact) = match &digest {
        Some(d) => set_digest(doc, d),
        None => (insert_digest(doc, entry, &at), true),
    };
    let context = KustomizeImage {
        name: name_text.to_string(),
        new_name: new_name.as_ref().and_then(Field::text).map(str::to_string),
        new_tag: tag.map(str::to_string),
        digest: written_digest.map(str::to_string),
    };
    ex.out.images.push(FoundImage {
        file: ex.file(),
        line: at.line,
        column: at.column,
        span: at.content.clone(),
        edit,
        style: at.style,
        exact,
        field: ImageField::KustomizeImages,
        reference,
        context: Context::Kustomize(context),
        document: ex.document,
    });
}

/// Writing into an existing `digest:` key: its value as written (quotes
/// included), or the empty span after the colon when it has no value.
/// Not exact when the value is a block scalar or an alias.
fn set_digest(doc: &Doc<'_>, digest: &Field<'_>) -> (EditPlan, bool) {
    let direct = doc.scalar(digest.value);
    let key_at = doc.scalar(digest.key).map_or(0, |k| k.content.start);
    match direct {
        Some(s) if s.style == QuoteStyle::Plain && s.value.is_empty() => {
            // `digest:` with nothing after it: right after the key's colon.
            let colon = doc.after_key_colon(digest.key).unwrap_or(0);
            (
                EditPlan::SetValue {
                    span: colon..colon,
                    key_at,
                },
                true,
            )
        }
        Some(s) if s.style == QuoteStyle::Plain => (
            EditPlan::SetValue {
                span: s.content,
                key_at,
            },
            true,
        ),
        // JSON (`"digest": ""`): written inside the quotes, as JSON needs.
        Some(s)
            if s.style == QuoteStyle::DoubleQuoted
                && doc
                    .scalar(digest.key)
                    .is_some_and(|k| k.style == QuoteStyle::DoubleQuoted) =>
        {
            (
                EditPlan::SetValue {
                    span: s.content,
                    key_at,
                },
                s.exact,
            )
        }
        Some(s) if matches!(s.style, QuoteStyle::SingleQuoted | QuoteStyle::DoubleQuoted) => {
            let span = s.content.start - 1..s.content.end + 1;
            (EditPlan::SetValue { span, key_at }, true)
        }
        Some(s) => (
            EditPlan::SetValue {
                span: s.content,
                key_at,
            },
            false,
        ),
        None => (EditPlan::SetValue { span: 0..0, key_at }, false),
    }
}

/// Inserting `digest:` into an entry: after the last of its keys whose
/// value ends its line, on a line of its own at that key's indentation
/// (`- name: a` included), or, in a flow entry (`- {name: a, newTag:
/// "1"}`), as `, digest: …` after the last value. Anything else (a last
/// value running over several lines with no other place) points inside
/// the line, so `pin` refuses it and says so.
fn insert_digest(doc: &Doc<'_>, entry: NodeId, naming: &Scalar<'_>) -> EditPlan {
    let digest_key = || "digest".to_string();
    let entries = doc.map_entries(entry);
    for kv in entries.chunks_exact(2).rev() {
        let beside = doc.scalar(kv[0]).map_or(0, |k| k.content.start);
        match doc.sibling_insert(entry, kv[0], kv[1]) {
            Some(SiblingInsert::Block(p)) => {
                return EditPlan::InsertKey {
                    after_line_end: p.after_line_end,
                    indent: p.indent,
                    key: digest_key(),
                    beside,
                }
            }
            Some(SiblingInsert::Flow { at, json }) => {
                return EditPlan::InsertFlowKey {
                    at,
                    key: digest_key(),
                    beside,
                    json,
                }
            }
            None => {}
        }
    }
    EditPlan::InsertKey {
        after_line_end: naming.content.start,
        indent: String::new(),
        key: digest_key(),
        beside: naming.content.start,
    }
}

#[cfg(test)]
mod tests;
