//! `pin`'s planning, apart from its output: from a file's text, what the
//! scan found in it and the lockfile, the edits that pin it, each checked
//! by the safety net ([`crate::verify`]) before anything sees it. What is
//! done with a checked plan (a transaction on disk, a diff, a stream) is
//! the caller's.
//!
//! A file is planned part by part as the scan hands its documents over
//! ([`PinPlanner::plan_part`]), and its edits are handed out only once it
//! is read whole ([`PinPlanner::finish_file`]); edits its images plan in
//! another file (a compose project's `.env`) are gathered per file and
//! handed out last ([`PinPlanner::finish_other_files`]). Every refusal is
//! an error in `diag` and counted, so the caller writes nothing when any
//! was made.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::choices::PinPullPolicy;
use crate::config::Filters;
use crate::lockfile::Lockfile;
use crate::pipeline::scanning::{built_note, location};
use crate::report::{Diagnostics, Message};
use crate::rewrite::{normalize, pin_value, plan_edit, Edit, PlanError};
use crate::scan::{Context, EditPlan, FileScan, FoundImage, ImageField};

/// A file's checked edits.
pub struct FilePlan {
    pub path: PathBuf,
    /// The text the edits apply to (decoded; the file keeps its encoding).
    pub text: String,
    pub edits: Vec<Edit>,
}

/// What a planning run counted.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlanCounts {
    /// References the lockfile lacks.
    pub missing: usize,
    /// Edits refused (not exact, overlapping, or stopped by the safety net).
    pub refused: usize,
    /// References whose value the checked plans change.
    pub changed_refs: usize,
    /// Pull policies the checked plans set (`--pull-policy if-not-present`).
    pub policies: usize,
}

/// Plans the pin of one run's files (see the module documentation).
pub struct PinPlanner<'a> {
    lock: &'a Lockfile,
    /// The lockfile's path, for messages.
    lockfile: &'a Path,
    filters: &'a Filters,
    pull_policy: PinPullPolicy,
    /// A digest written that is not the lockfile's is an error (`pin -`),
    /// instead of being replaced by the lockfile's.
    strict_digests: bool,
    counts: PlanCounts,
    /// The edits of the file being read, and how many of them set a policy.
    edits: Vec<Edit>,
    file_policies: usize,
    /// Which reference each image edit pins, at which line (for a conflict).
    owners: Vec<(Range<usize>, String, usize)>,
    /// Edits the file's images plan in another file, kept until the file
    /// is read to its end, then gathered per file: several compose files
    /// may pin through one `.env`.
    file_others: Vec<(PathBuf, Edit)>,
    others: BTreeMap<PathBuf, Vec<Edit>>,
    other_texts: HashMap<PathBuf, std::io::Result<String>>,
    /// Lines before the text being planned (a window of a stream).
    lines_before: usize,
}

impl<'a> PinPlanner<'a> {
    pub fn new(
        lock: &'a Lockfile,
        lockfile: &'a Path,
        filters: &'a Filters,
        pull_policy: PinPullPolicy,
    ) -> PinPlanner<'a> {
        PinPlanner {
            lock,
            lockfile,
            filters,
            pull_policy,
            strict_digests: false,
            counts: PlanCounts::default(),
            edits: Vec::new(),
            file_policies: 0,
            owners: Vec::new(),
            file_others: Vec::new(),
            others: BTreeMap::new(),
            other_texts: HashMap::new(),
            lines_before: 0,
        }
    }

    /// Refuse a reference written with a digest other than the lockfile's
    /// (the filter: a rendered stream is pinned only from the lockfile, and
    /// a digest that disagrees with it is a mistake somewhere upstream).
    pub fn strict_digests(mut self) -> Self {
        self.strict_digests = true;
        self
    }

    /// The text planned next starts after `lines` lines of a stream
    /// (`pin -` reads it window by window): its positions are given as
    /// the stream numbers them.
    pub fn set_lines_before(&mut self, lines: usize) {
        self.lines_before = lines;
    }

    /// What was counted so far.
    pub fn counts(&self) -> PlanCounts {
        self.counts
    }

    /// Plan the edits of the images one part of a file holds; `text` is
    /// the whole file's.
    pub fn plan_part(&mut self, text: &str, part: &FileScan, diag: &mut Diagnostics) {
        for image in &part.images {
            self.plan_image(text, image, diag);
        }
    }

    /// The file failed after some parts: what they planned is void.
    pub fn void_file(&mut self) {
        self.edits.clear();
        self.file_others.clear();
        self.owners.clear();
        self.file_policies = 0;
    }

    /// The file is read whole: its edits, checked (none when nothing
    /// changes or the plan was refused).
    pub fn finish_file(
        &mut self,
        path: &Path,
        text: &str,
        diag: &mut Diagnostics,
    ) -> Option<Vec<Edit>> {
        for (other, edit) in self.file_others.drain(..) {
            self.others.entry(other).or_default().push(edit);
        }
        let policies_here = std::mem::take(&mut self.file_policies);
        let owners = std::mem::take(&mut self.owners);
        if self.edits.is_empty() {
            return None;
        }
        let edits = match normalize(std::mem::take(&mut self.edits)) {
            Ok(e) => e,
            Err(overlap) => {
                self.counts.refused += 1;
                let (line, column) = crate::lockfile::line_col(text, overlap.at);
                let line = line + self.lines_before;
                let who = |span: &Range<usize>| {
                    owners
                        .iter()
                        .find(|(s, _, _)| s == span)
                        .map(|(_, r, l)| format!("{r} (line {l})"))
                };
                let (first_line, _) = crate::lockfile::line_col(text, overlap.first.start);
                let first_line = first_line + self.lines_before;
                let names = match (who(&overlap.first), who(&overlap.second)) {
                    (Some(a), Some(b)) => format!("{a} and {b}"),
                    _ => "two references".to_string(),
                };
                diag.emit(
                    Message::error(format!(
                        "{}:{line}:{column}: {names} would be pinned through the same bytes (line {first_line}) with different values (a build argument or a YAML anchor that feeds both)",
                        path.display()
                    ))
                    .code("not-exact")
                    .hint(Some(
                        "give each image its own tag (its own build argument, or the tag written where the image is)",
                    )),
                );
                return None;
            }
        };
        // The safety net: the new text must read as the old one with only
        // the planned values changed and keys added.
        if let Err(mut m) = crate::verify::check(path, text, &edits) {
            m.line += self.lines_before;
            self.counts.refused += 1;
            diag.emit(unsafe_edit(path, &m));
            return None;
        }
        self.counts.policies += policies_here;
        self.counts.changed_refs += edits.len() - policies_here;
        Some(edits)
    }

    /// The other files' edits: one edit for references that are the same
    /// (two services ending in one `.env` line), checked like a scanned
    /// file's.
    pub fn finish_other_files(&mut self, diag: &mut Diagnostics) -> Vec<FilePlan> {
        let mut plans = Vec::new();
        for (path, edits) in std::mem::take(&mut self.others) {
            let Some(Ok(text)) = self.other_texts.remove(&path) else {
                continue;
            };
            let edits = match normalize(edits) {
                Ok(e) => e,
                Err(overlap) => {
                    self.counts.refused += 1;
                    let (line, column) = crate::lockfile::line_col(&text, overlap.at);
                    diag.emit(
                        Message::error(format!(
                            "{}:{line}:{column}: two references would be pinned through the same value with different digests",
                            path.display()
                        ))
                        .code("not-exact")
                        .hint(Some("give each image its own tag variable")),
                    );
                    continue;
                }
            };
            if let Err(m) = crate::verify::check(&path, &text, &edits) {
                self.counts.refused += 1;
                diag.emit(unsafe_edit(&path, &m));
                continue;
            }
            self.counts.changed_refs += edits.len();
            plans.push(FilePlan { path, text, edits });
        }
        plans
    }

    /// Plan the edits of one image of a file whose text is `text`.
    fn plan_image(&mut self, text: &str, image: &FoundImage, diag: &mut Diagnostics) {
        let r = &image.reference;
        if image.built() {
            diag.note(built_note(image));
            return;
        }
        if self.filters.ignores(r) {
            return; // `ignore-images` in imagelock.toml
        }
        // helm branch: a values mapping with no digest key the chart reads.
        if let EditPlan::Unpinnable { reason, hint } = &image.edit {
            if r.digest().is_none() {
                diag.emit(
                    Message::warning(format!("{r} is not pinned: {reason}"))
                        .at(location(image))
                        .code("not-pinnable")
                        .hint(Some(hint.as_str())),
                );
            }
            return;
        }
        // A digest cannot move: `--pull-policy if-not-present` sets the
        // policy beside every reference that is (or will be) pinned.
        if self.pull_policy == PinPullPolicy::IfNotPresent
            && (r.digest().is_some() || self.lock.lookup(r).is_some())
        {
            match if_not_present(text, image) {
                Ok(Some(edit)) => {
                    self.file_policies += 1;
                    self.edits.push(edit);
                }
                Ok(None) => {}
                Err(message) => {
                    self.counts.refused += 1;
                    diag.emit(*message);
                }
            }
        }
        if r.tag().is_none() && r.digest().is_some() {
            return; // written by digest only: left alone
        }
        let Some(entry) = self.lock.lookup(r) else {
            self.counts.missing += 1;
            diag.emit(
                Message::error(format!(
                    "{} ({}:{}) is not in {}",
                    r,
                    r.name(),
                    r.effective_tag().unwrap_or("latest"),
                    self.lockfile.display()
                ))
                .at(location(image))
                .code("missing"),
            );
            return;
        };
        if let Some(written) = r
            .digest()
            .filter(|d| self.strict_digests && **d != entry.digest)
        {
            self.counts.refused += 1;
            diag.emit(
                Message::error(format!(
                    "{r}: pinned to {written} but {} has {}",
                    self.lockfile.display(),
                    entry.digest
                ))
                .at(location(image))
                .code("mismatch")
                .hint(Some(
                    "render the reference without a digest, or update the lockfile (`imagelock update`)",
                )),
            );
            return;
        }
        let pinned = r.pinned(&entry.digest);
        if pinned == r.original() {
            return;
        }
        if !image.exact {
            self.counts.refused += 1;
            diag.emit(not_exact(image));
            return;
        }
        let value = pin_value(&image.edit, r, &entry.digest);
        if let Some((other, plan)) = image.edit.other_file() {
            let other_text = self
                .other_texts
                .entry(other.to_path_buf())
                .or_insert_with(|| crate::scan::compose::dotenv::read(other));
            let planned = match other_text {
                Ok(t) => plan_edit(t, &plan, &value).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match planned {
                Ok(edit) => self.file_others.push((other.to_path_buf(), edit)),
                Err(why) => {
                    self.counts.refused += 1;
                    diag.emit(
                        Message::error(format!(
                            "{r} cannot be pinned in {}: {why}",
                            other.display()
                        ))
                        .at(location(image))
                        .code("not-exact"),
                    );
                }
            }
            return;
        }
        match plan_edit(text, &image.edit, &value) {
            Ok(edit) => {
                self.owners
                    .push((edit.span.clone(), r.to_string(), image.line));
                self.edits.push(edit);
            }
            Err(why) => {
                self.counts.refused += 1;
                diag.emit(
                    Message::error(format!("{r} cannot be pinned: {why}"))
                        .at(location(image))
                        .code("not-exact")
                        .hint(match &why {
                            PlanError::NotLineStart(_) => Some(
                                "write the entry in block style (one key per line), or give it an empty `digest: \"\"` for pin to fill".to_string(),
                            ),
                            PlanError::Shared { hint, .. } => Some(hint.clone()),
                            _ => None,
                        }),
                );
            }
        }
    }
}

/// Why a reference whose bytes cannot be replaced exactly is refused, and
/// what to write instead.
fn not_exact(image: &FoundImage) -> Message {
    let r = &image.reference;
    let (why, hint) = match &image.context {
        Context::Dockerfile(d) if d.via_arg.is_none() => (
            format!(
                "{r} cannot be pinned byte-exactly: the word is split by a line continuation or holds quotes or escapes"
            ),
            "write the reference on one line, without quotes or escapes inside it",
        ),
        Context::Dockerfile(d) => (
            format!(
                "{r} cannot be pinned byte-exactly: it is assembled from build arguments (`{}`) in a way no single edit can pin",
                d.via_arg.as_deref().unwrap_or("ARG")
            ),
            "write the reference (or its tag) in one ARG default or in the FROM line",
        ),
        _ => (
            format!(
                "{r} cannot be rewritten byte-exactly: the value is written with escapes, line folding or a block scalar"
            ),
            "write the image as a plain or simply quoted scalar on one line",
        ),
    };
    Message::error(why)
        .at(location(image))
        .code("not-exact")
        .hint(Some(hint))
}

/// The edit that makes a Kubernetes reference's pull policy `IfNotPresent`
/// (`Ok(None)`: nothing to do, or not a container or image volume).
fn if_not_present(text: &str, image: &FoundImage) -> Result<Option<Edit>, Box<Message>> {
    let Some(c) = image.context.kubernetes() else {
        return Ok(None);
    };
    let in_pod = c.list.is_some() || image.field == ImageField::VolumeReference;
    if !in_pod || c.pull_policy.as_deref() == Some("IfNotPresent") {
        return Ok(None);
    }
    let key = match image.field {
        ImageField::VolumeReference => "pullPolicy",
        _ => "imagePullPolicy",
    };
    let refuse = |why: String, shared: Option<String>| {
        let hint = shared.unwrap_or_else(|| {
            format!("write the container in block style with `{key}` on a line of its own (or drop --pull-policy)")
        });
        Box::new(
            Message::error(format!(
                "{}: cannot set {key}: IfNotPresent byte-exactly: {why}",
                image.reference
            ))
            .at(location(image))
            .code("not-exact")
            .hint(Some(hint)),
        )
    };
    let Some(plan) = &c.pull_policy_edit else {
        return Err(refuse(
            "the value or the layout around it is too complex".into(),
            None,
        ));
    };
    plan_edit(text, plan, "IfNotPresent")
        .map(Some)
        .map_err(|e| {
            let hint = match &e {
                PlanError::Shared { hint, .. } => Some(hint.clone()),
                _ => None,
            };
            refuse(e.to_string(), hint)
        })
}

/// The safety net refused a planned rewrite of `path` (a bug in imagelock).
fn unsafe_edit(path: &Path, m: &crate::verify::Mismatch) -> Message {
    Message::error(format!(
        "{}:{}:{}: internal error: the planned rewrite would change the file beyond its image values: {}",
        path.display(),
        m.line,
        m.column,
        m.what
    ))
    .code("unsafe-edit")
    .hint(Some(
        "nothing was written; this is a bug in imagelock: please report it with the file (or the lines around this position)",
    ))
}
