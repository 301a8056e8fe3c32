//! What extractors report into: [`Extraction`], the findings of one
//! file, document by document. Every extractor writes into it; the
//! dispatch ([`super::extract`]) that calls them creates and drives it.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::EditPlan;
use super::{Context, FileScan, FoundImage, ImageField, InvalidImage, ScanWarning};
use crate::reference::Reference;
use crate::yaml::{Doc, NodeId};

/// What a file's scan has handed over so far, kept across attempts: a
/// later attempt (after an indentation fix) reads the first documents
/// again but does not hand them over twice (extra indentation changes no
/// value, so they would be the same).
#[derive(Default)]
pub(super) struct Delivered {
    documents: usize,
    /// `image` keys in documents [`super::Scope::KnownManifests`] leaves out.
    skipped_image_keys: usize,
    /// `image` keys the Kubernetes rules left (labels, data, outside a
    /// built-in kind's pod spec), and where the first one is.
    left_image_keys: usize,
    first_left: Option<(usize, usize)>,
}

/// What extractors report into, for one file: the findings of the
/// document being read, handed over when it ends. It checks a value is a
/// reference, dedups aliases' repeats and gives every found image its
/// edit plan.
pub struct Extraction<'e> {
    file: Arc<Path>,
    pub out: FileScan,
    /// Spans already reported in this document (aliases must not report a
    /// scalar twice).
    seen_spans: HashSet<(usize, usize)>,
    /// Positions already warned about in this document.
    seen_warnings: HashSet<(usize, usize)>,
    /// In a document with aliases: how many times each image value was
    /// reported (through every alias that reaches it).
    visits: std::collections::HashMap<NodeId, usize>,
    /// Index of the document being extracted.
    pub document: usize,
    /// What was handed over (by this scan or an earlier attempt).
    delivered: &'e mut Delivered,
    each: &'e mut dyn FnMut(FileScan),
    /// Lines of a longer stream before the text (a window of `pin -`):
    /// added to a line a message names in its text, which
    /// [`FileScan::shift_lines`] cannot reach.
    line_base: usize,
}

impl<'e> Extraction<'e> {
    pub(super) fn new(
        file: Arc<Path>,
        delivered: &'e mut Delivered,
        each: &'e mut dyn FnMut(FileScan),
    ) -> Self {
        Extraction {
            file,
            out: FileScan::default(),
            seen_spans: HashSet::new(),
            seen_warnings: HashSet::new(),
            visits: std::collections::HashMap::new(),
            document: 0,
            delivered,
            each,
            line_base: 0,
        }
    }

    /// The text is a window of a longer stream starting after `lines`
    /// lines (see [`UnreadTally`]).
    pub(super) fn set_line_base(&mut self, lines: usize) {
        self.line_base = lines;
    }

    /// Line `line` of the text as the file (or stream) numbers it, for a
    /// line a message names in its text (positions of findings are
    /// shifted with [`FileScan::shift_lines`]).
    pub fn stream_line(&self, line: usize) -> usize {
        line + self.line_base
    }

    /// Start document `index`: whether it is still to be read (not handed
    /// over by an earlier attempt). Aliases stay inside their document:
    /// what was seen in earlier ones cannot repeat, so it is not kept.
    pub(super) fn begin_document(&mut self, index: usize) -> bool {
        if index < self.delivered.documents {
            return false;
        }
        self.document = index;
        self.seen_spans.clear();
        self.visits.clear();
        self.seen_warnings.clear();
        true
    }

    /// End document `index`: refuse what its anchors share, then hand its
    /// findings over.
    pub(super) fn end_document(&mut self, doc: &Doc<'_>, index: usize) {
        if doc.has_aliases() {
            self.refuse_shared(doc);
        }
        self.delivered.documents = index + 1;
        if !self.out.is_empty() {
            (self.each)(std::mem::take(&mut self.out));
        }
    }

    /// Drop the findings of the document being read (the reading restarts
    /// with the full parser). The documents already handed over stay so:
    /// the full parser reads them as the fast path did.
    pub(super) fn discard_document(&mut self) {
        self.out = FileScan::default();
    }

    /// Count `image` keys in a document the scope leaves out.
    pub(super) fn skipped_image_keys(&mut self, n: usize) {
        self.delivered.skipped_image_keys += n;
    }

    /// Count `image` keys the Kubernetes rules left in this document, the
    /// first of them at `line`:`column`.
    pub fn left_image_keys(&mut self, n: usize, line: usize, column: usize) {
        self.delivered.left_image_keys += n;
        self.delivered.first_left.get_or_insert((line, column));
    }

    /// The end of the file: the notes about `image` values left unread,
    /// or, for a text that is one window of a longer stream, their counts
    /// added to the stream's `tally` (its notes come at the stream's end).
    pub(super) fn finish(self, tally: Option<&UnreadTally>) {
        let d = self.delivered;
        if let Some(tally) = tally {
            let mut t = tally.0.borrow_mut();
            let base = t.line_base;
            t.skipped_image_keys += d.skipped_image_keys;
            t.left_image_keys += d.left_image_keys;
            if t.first_left.is_none() {
                t.first_left = d.first_left.map(|(line, column)| (line + base, column));
            }
            return;
        }
        for note in unread_notes(
            &self.file,
            d.left_image_keys,
            d.first_left,
            d.skipped_image_keys,
        ) {
            let mut last = FileScan::default();
            last.notes.push(note);
            (self.each)(last);
        }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The file, to give a found image, warning or invalid value.
    pub fn file(&self) -> Arc<Path> {
        self.file.clone()
    }

    /// Report scalar `id` (already resolved), the value of `key`, as an
    /// image: a [`FoundImage`] replaced in place when pinned, an
    /// [`InvalidImage`], or a warning (null, not a string, a template).
    /// `what` names the field in messages ("image").
    pub fn image(
        &mut self,
        doc: &Doc<'_>,
        key: NodeId,
        id: NodeId,
        field: ImageField,
        context: Context,
        what: &str,
    ) {
        self.image_after(doc, key, id, "", field, context, what);
    }

    /// [`Extraction::image`] for a value that holds the reference after a
    /// `prefix` (`docker://nginx:1.25`): only the reference's bytes are
    /// its span. A value without the prefix is not an image.
    #[allow(clippy::too_many_arguments)]
    pub fn image_after(
        &mut self,
        doc: &Doc<'_>,
        key: NodeId,
        id: NodeId,
        prefix: &str,
        field: ImageField,
        context: Context,
        what: &str,
    ) {
        if doc.has_aliases() {
            *self.visits.entry(id).or_default() += 1;
        }
        let Some(mut s) = doc.scalar(id) else {
            return;
        };
        if !prefix.is_empty() {
            let Some(rest) = s.value.strip_prefix(prefix) else {
                return;
            };
            s.value = rest;
            if s.exact {
                s.content.start += prefix.len();
            }
            s.column += prefix.chars().count();
        }
        if s.is_null() {
            // An implicit null has no position of its own: point at the key.
            let at = if s.value.is_empty() { key } else { id };
            self.warn_at(doc, at, format!("{what} is null (no value); skipped"));
            return;
        }
        if !s.is_string() {
            self.warn(
                s.line,
                s.column,
                format!("{what} {:?} is not a string; skipped", s.value),
            );
            return;
        }
        let content = s.content.clone();
        match Reference::parse(s.value) {
            Ok(reference) => {
                if !self.seen_spans.insert((content.start, content.end)) {
                    return;
                }
                self.out.images.push(FoundImage {
                    file: self.file.clone(),
                    line: s.line,
                    column: s.column,
                    edit: EditPlan::Replace {
                        span: content.clone(),
                    },
                    span: content,
                    style: s.style,
                    exact: s.exact,
                    field,
                    reference,
                    context,
                    document: self.document,
                });
            }
            Err(e) => match placeholder(s.value) {
                Some(kind) => self.warn_placeholder(
                    s.line,
                    s.column,
                    format!("{what} {:?} is {kind}, not a reference; skipped", s.value),
                ),
                None => {
                    if self.seen_spans.insert((content.start, content.end)) {
                        self.out.invalid.push(InvalidImage {
                            file: self.file.clone(),
                            line: s.line,
                            column: s.column,
                            value: s.value.to_string(),
                            message: e.reason,
                        });
                    }
                }
            },
        }
    }

    /// Report an image an extractor built itself (a compose value read
    /// through interpolation), counted and deduplicated as
    /// [`Extraction::image`] does: whether it was reported now (not
    /// already through another alias).
    pub fn found(&mut self, doc: &Doc<'_>, id: NodeId, image: FoundImage) -> bool {
        if doc.has_aliases() {
            *self.visits.entry(id).or_default() += 1;
        }
        if !self.seen_spans.insert((image.span.start, image.span.end)) {
            return false;
        }
        self.out.images.push(image);
        true
    }

    /// Report an invalid value an extractor found itself, once per span.
    pub fn invalid_at(&mut self, span: std::ops::Range<usize>, invalid: InvalidImage) {
        if self.seen_spans.insert((span.start, span.end)) {
            self.out.invalid.push(invalid);
        }
    }

    /// Refuse to pin what a YAML anchor shares with places the extractor
    /// did not read as images (`image: &img nginx` with `labels: {a:
    /// *img}` in a compose service or a Deployment's selector, an env
    /// value in a workflow, a Helm value's `name`, a kustomization `digest:
    /// &d ""` used elsewhere): pinning would rewrite those too. (The
    /// Kubernetes rules judge pull policies themselves.)
    fn refuse_shared(&mut self, doc: &Doc<'_>) {
        let document = self.document;
        let mut places = doc.appearances();
        let nodes = NodeIndex::of(doc);
        for img in self.out.images.iter_mut() {
            if img.document != document {
                continue;
            }
            let Some(node) = nodes.edited(doc, &img.edit) else {
                continue;
            };
            let visits = self.visits.get(&node).copied().unwrap_or(1);
            if places.count(node) > visits {
                img.edit = EditPlan::Shared {
                    reason: "the value is a YAML anchor (or an alias of one) that also stands where no image belongs (labels, selectors, names, commands, environment, other fields): pinning it would change those too".into(),
                    hint: "write the image as a value of its own rather than through a YAML anchor that other fields share".into(),
                };
            }
        }
    }

    /// One more place where the rules read image value `node` without
    /// reporting it again (a container repeated through an alias).
    pub fn count_visit(&mut self, node: NodeId) {
        *self.visits.entry(node).or_default() += 1;
    }

    /// A warning at node `id` (see [`Doc::position`]).
    pub fn warn_at(&mut self, doc: &Doc<'_>, id: NodeId, message: String) {
        let (line, column) = doc.position(id);
        self.warn(line, column, message);
    }

    /// A warning at a position, once per position.
    pub fn warn(&mut self, line: usize, column: usize, message: String) {
        self.push_warning(line, column, message, false);
    }

    /// A warning that an image value is a placeholder (see
    /// [`ScanWarning::placeholder`]).
    pub fn warn_placeholder(&mut self, line: usize, column: usize, message: String) {
        self.push_warning(line, column, message, true);
    }

    fn push_warning(&mut self, line: usize, column: usize, message: String, placeholder: bool) {
        if !self.seen_warnings.insert((line, column)) {
            return;
        }
        self.out.warnings.push(ScanWarning {
            file: self.file.clone(),
            line,
            column,
            message,
            placeholder,
        });
    }
}

/// The root mapping of a document that is no Kubernetes object (neither
/// `apiVersion` nor `kind`) and holds a mapping under `key` (compose's
/// `services`, a workflow's `jobs`).
pub fn untyped_with_map(doc: &Doc<'_>, root: NodeId, key: &str) -> Option<NodeId> {
    let root = doc.resolve(root).filter(|&r| doc.is_map(r))?;
    let typed = doc.get(root, "apiVersion").is_some() || doc.get(root, "kind").is_some();
    let has_map = doc
        .get(root, key)
        .and_then(|s| doc.resolve(s))
        .is_some_and(|s| doc.is_map(s));
    (!typed && has_map).then_some(root)
}

/// What kind of placeholder an image value is, when it is one that some
/// tool fills in before the kubelet sees it: a template or an unresolved
/// `ko://` import path.
pub fn placeholder(value: &str) -> Option<&'static str> {
    if value.contains("{{") || value.contains("${") || value.contains("$(") {
        Some("a template")
    } else if value.starts_with("ko://") {
        Some("a ko import path (resolved by `ko resolve`)")
    } else if value.trim().is_empty() {
        Some("empty")
    } else {
        None
    }
}

/// The scalars and mapping entries of a document by where their content
/// starts, to find the node an edit plan writes into.
struct NodeIndex {
    /// Scalars (not aliases): content start, content end, node, sorted.
    scalars: Vec<(usize, usize, NodeId)>,
    /// Mapping entries by the start of their key's content: (mapping, value).
    keys: std::collections::HashMap<usize, (NodeId, NodeId)>,
}

impl NodeIndex {
    fn of(doc: &Doc<'_>) -> NodeIndex {
        let mut scalars = Vec::new();
        let mut keys = std::collections::HashMap::new();
        for id in 0..doc.len() as NodeId {
            if doc.alias_target(id).is_some() {
                continue;
            }
            if let Some(s) = doc.scalar_value(id) {
                scalars.push((s.content.start, s.content.end, id));
            }
            for kv in doc.map_entries(id).chunks_exact(2) {
                if let Some(k) = doc.scalar_value(kv[0]) {
                    keys.insert(k.content.start, (id, kv[1]));
                }
            }
        }
        scalars.sort_unstable();
        NodeIndex { scalars, keys }
    }

    /// The node an edit plan writes into: the scalar holding a replaced
    /// span, the value of the entry whose value is set, the mapping a key
    /// is added to.
    fn edited(&self, doc: &Doc<'_>, plan: &EditPlan) -> Option<NodeId> {
        match plan {
            EditPlan::Replace { span } | EditPlan::AppendDigest { span, .. } => {
                let i = self
                    .scalars
                    .partition_point(|&(start, _, _)| start <= span.start)
                    .checked_sub(1)?;
                let (_, end, id) = self.scalars[i];
                (span.end <= end).then_some(id)
            }
            EditPlan::SetValue { key_at, .. } | EditPlan::SetDigestHex { key_at, .. } => {
                self.keys.get(key_at).and_then(|&(_, v)| doc.resolve(v))
            }
            EditPlan::InsertKey { beside, .. } | EditPlan::InsertFlowKey { beside, .. } => {
                self.keys.get(beside).map(|&(m, _)| m)
            }
            EditPlan::Unpinnable { .. } | EditPlan::Shared { .. } | EditPlan::DotEnv { .. } => None,
        }
    }
}

/// The notes about `image` values a text left unread: `left` values the
/// Kubernetes rules left (the first at `first_left`), `skipped` in
/// documents the scope leaves out.
fn unread_notes(
    file: &Path,
    left: usize,
    first_left: Option<(usize, usize)>,
    skipped: usize,
) -> Vec<String> {
    let mut notes = Vec::new();
    if let (true, Some((line, column))) = (left > 0, first_left) {
        notes.push(format!(
            "{}: {left} value(s) named `image` left unread (the first at {line}:{column}): under metadata (labels, annotations), selectors or data, or outside a built-in kind's pod spec, where Kubernetes pulls nothing; name one in a `[[location]]` of imagelock.toml if a controller reads it as an image",
            file.display(),
        ));
    }
    if skipped > 0 {
        notes.push(format!(
            "{}: {skipped} `image` value(s) not read: no document holding them is a Kubernetes object (`apiVersion`/`kind`), compose file, kustomization or GitHub workflow; render Helm charts with `helm template`, or name the file on the command line to scan it anyway",
            file.display(),
        ));
    }
    notes
}

/// The counts behind the unread-value notes of a stream read window by
/// window (see [`super::Options::unread`]): one pair of notes for the
/// whole stream, at its end, with lines as the stream has them.
#[derive(Debug, Default)]
pub struct UnreadTally(std::cell::RefCell<Tally>);

#[derive(Debug, Default)]
struct Tally {
    /// Lines before the window being scanned.
    line_base: usize,
    skipped_image_keys: usize,
    left_image_keys: usize,
    first_left: Option<(usize, usize)>,
}

impl UnreadTally {
    /// The next window starts after `lines` lines of the stream.
    pub fn set_line_base(&self, lines: usize) {
        self.0.borrow_mut().line_base = lines;
    }

    /// Lines of the stream before the window being scanned.
    pub(super) fn line_base(&self) -> usize {
        self.0.borrow().line_base
    }

    /// The stream's notes, once every window is scanned.
    pub fn notes(&self, file: &Path) -> Vec<String> {
        let t = self.0.borrow();
        unread_notes(file, t.left_image_keys, t.first_left, t.skipped_image_keys)
    }
}
