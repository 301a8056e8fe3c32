//! How pinning one found image changes its file: the plan a scan gives
//! every [`super::FoundImage`]. [`crate::rewrite`] turns a plan into the
//! byte edit it means; the scan only says where and what.

use std::ops::Range;

/// How pinning one found image changes its file. Spans are byte ranges of
/// the decoded text the scan read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "plan")]
pub enum EditPlan {
    /// Replace the reference's bytes with the pinned reference
    /// (`image: nginx:1.25` → `image: nginx:1.25@sha256:…`).
    Replace { span: Range<usize> },
    /// Write a value into an existing key (kustomize `digest: ""`): `span`
    /// covers the value as written, quotes included, or is empty right
    /// after the key's `:` when there is no value. The value is written
    /// plain, with a space after the colon when needed. `key_at`: where
    /// the entry's key's content starts.
    SetValue { span: Range<usize>, key_at: usize },
    /// Insert a new key (`key: value`) at the start of the line that begins at
    /// byte `after_line_end` (just past an existing entry's line break),
    /// indented by `indent` (spaces), with the file's line ending. Block
    /// mappings only: a scan never plans this in a flow mapping (`{image: a}`),
    /// and [`crate::rewrite::plan_edit`] refuses a position that is not a line
    /// start. `beside`: where the existing entry's key's content starts.
    InsertKey {
        after_line_end: usize,
        indent: String,
        key: String,
        beside: usize,
    },
    /// The bytes at `span` end the reference but are not all of it
    /// (`ARG TAG=1.25` used as `FROM nginx:${TAG}`): pinning writes them
    /// with `@<digest>` appended, replacing an `@…` already there. When
    /// the reference has no tag (`tagless`), `:latest` goes before the
    /// digest, as [`crate::reference::Reference::pinned`] writes it.
    AppendDigest { span: Range<usize>, tagless: bool },
    /// [`EditPlan::SetValue`] writing the digest's hex alone, without
    /// `sha256:` (kube-prometheus-stack's `sha:` key, whose templates print
    /// `repo:tag@sha256:{{ .sha }}`). Hex the YAML core schema would read
    /// as a number (all digits, `1e5`) is written double-quoted.
    SetDigestHex { span: Range<usize>, key_at: usize },
    /// No edit can pin this reference in a form its reader understands (a
    /// Helm values image mapping without a digest key): `pin` warns with
    /// `hint` and leaves it; [`crate::rewrite::plan_edit`] refuses it.
    Unpinnable { reason: String, hint: String },
    /// The value is shared with other places (a YAML anchor whose aliases stand
    /// where no image or policy belongs, an alias written for the value): any
    /// edit would change them too. [`crate::rewrite::plan_edit`] refuses it
    /// with `reason`.
    Shared { reason: String, hint: String },
    /// Insert `, <key>: <value>` at byte `at` of a flow mapping (right
    /// after a value, before whatever follows it: a `,`, a comment, a line
    /// break or the `}`), on one line or many. `beside`: where the key of
    /// the entry whose value ends at `at` starts.
    InsertFlowKey {
        at: usize,
        key: String,
        beside: usize,
        /// Written `, "key": "value"` (a JSON object).
        json: bool,
    },
    /// [`EditPlan::AppendDigest`] in another file: the compose project's
    /// `.env`, whose entry for `variable` ends the reference (`image:
    /// app:${TAG}` with `TAG=1.2` in `.env` becomes `TAG=1.2@sha256:…`). `span`
    /// is the value's bytes in that file; [`crate::rewrite::plan_edit`] refuses
    /// it (see [`EditPlan::other_file`]).
    DotEnv {
        file: std::path::PathBuf,
        span: Range<usize>,
        tagless: bool,
        variable: String,
    },
}

impl EditPlan {
    /// Map every byte offset of the plan (a scan of a patched text back
    /// to the original).
    pub fn remap(&mut self, f: impl Fn(usize) -> usize) {
        match self {
            EditPlan::Replace { span } | EditPlan::AppendDigest { span, .. } => {
                *span = f(span.start)..f(span.end);
            }
            EditPlan::SetValue { span, key_at } | EditPlan::SetDigestHex { span, key_at } => {
                *span = f(span.start)..f(span.end);
                *key_at = f(*key_at);
            }
            EditPlan::InsertKey {
                after_line_end,
                beside,
                ..
            } => {
                *after_line_end = f(*after_line_end);
                *beside = f(*beside);
            }
            // Offsets in another file: a patched text does not move them.
            EditPlan::Unpinnable { .. } | EditPlan::Shared { .. } | EditPlan::DotEnv { .. } => {}
            EditPlan::InsertFlowKey { at, beside, .. } => {
                *at = f(*at);
                *beside = f(*beside);
            }
        }
    }
}

impl EditPlan {
    /// The file a plan writes into when it is not the scanned one, and
    /// the plan to carry out on that file's text.
    pub fn other_file(&self) -> Option<(&std::path::Path, EditPlan)> {
        match self {
            EditPlan::DotEnv {
                file,
                span,
                tagless,
                ..
            } => Some((
                file.as_path(),
                EditPlan::AppendDigest {
                    span: span.clone(),
                    tagless: *tagless,
                },
            )),
            _ => None,
        }
    }
}
