//! The GitHub Actions workflow extractor: the container images a workflow
//! runs, `jobs.<id>.container` (a string, or its `image`),
//! `jobs.<id>.services.<name>.image`, and `jobs.<id>.steps[].uses:
//! docker://image:tag` (only the reference after `docker://` is its span).
//! Actions (`uses: actions/checkout@v4`) and reusable workflows are not
//! images.
//!
//! A container or service image written as one matrix expression
//! (`image: ${{ matrix.db }}`) is read from the job's literal matrix: every
//! `strategy.matrix.db` value, and `db` of every `include` and `exclude`
//! entry, is an image, pinned where it is written. When the job reads
//! that matrix key anywhere else (a job name, an `if:`, a step), pinning
//! the values would change those reads too: the images are listed and
//! locked, and `pin` leaves them with a warning.

use super::extraction::Extraction;
use super::EditPlan;
use super::{Context, ImageField};
use crate::yaml::{Doc, NodeId};

/// Where in a workflow an image is named.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkflowImage {
    /// The job's id under `jobs`.
    pub job: String,
    /// `container`, `services.<name>`, or `steps[<index>].uses`.
    pub field: String,
    /// The matrix value the image is (`strategy.matrix.db[1]`,
    /// `strategy.matrix.include[0].db`), when the field is `${{ matrix.db }}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<String>,
}

/// A workflow: a top-level `jobs` mapping beside an `on` trigger (or a file
/// under `.github/workflows/`), and neither `apiVersion` nor `kind`.
pub fn is_workflow(doc: &Doc<'_>, root: NodeId, in_workflows_dir: bool) -> bool {
    super::extraction::untyped_with_map(doc, root, "jobs")
        .is_some_and(|root| in_workflows_dir || doc.get(root, "on").is_some())
}

/// Whether `path` is under a `.github/workflows` directory.
pub fn in_workflows_dir(path: &std::path::Path) -> bool {
    let parts: Vec<_> = path
        .components()
        .map(std::path::Component::as_os_str)
        .collect();
    parts
        .windows(2)
        .any(|w| w[0] == ".github" && w[1] == "workflows")
}

/// Read every image of a workflow document.
pub fn extract(doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let Some(jobs) = doc
        .resolve(root)
        .and_then(|r| doc.get(r, "jobs"))
        .and_then(|j| doc.resolve(j))
    else {
        return;
    };
    // Action inputs named `image`, counted for one note.
    let mut inputs = 0usize;
    let mut first_input = None;
    for kv in doc.map_entries(jobs).chunks_exact(2) {
        let Some(job) = doc.scalar_str(kv[0]).map(str::to_string) else {
            continue;
        };
        let Some(body) = doc.resolve(kv[1]).filter(|&b| doc.is_map(b)) else {
            continue;
        };
        let context = |field: String| {
            Context::Workflow(WorkflowImage {
                job: job.clone(),
                field,
                matrix: None,
            })
        };
        let matrix = Matrix::of(doc, body);
        // `container: node:20` or `container: {image: node:20, …}`.
        if let Some((key, value)) = doc.entry(body, "container") {
            match doc.resolve(value) {
                Some(v) if doc.is_map(v) => {
                    if let Some((k, image)) = doc.entry(v, "image") {
                        if let Some(image) = doc.resolve(image) {
                            let c = context("container".into());
                            if !matrix.images(doc, image, &c, ex) {
                                ex.image(doc, k, image, ImageField::Image, c, "container image");
                            }
                        }
                    }
                }
                Some(v) => {
                    let c = context("container".into());
                    if !matrix.images(doc, v, &c, ex) {
                        ex.image(doc, key, v, ImageField::Image, c, "container");
                    }
                }
                None => {}
            }
        }
        if let Some(services) = doc.get(body, "services").and_then(|s| doc.resolve(s)) {
            for svc in doc.map_entries(services).chunks_exact(2) {
                let name = doc.scalar_str(svc[0]).unwrap_or("?").to_string();
                let Some(service) = doc.resolve(svc[1]).filter(|&s| doc.is_map(s)) else {
                    continue;
                };
                if let Some((k, image)) = doc.entry(service, "image") {
                    if let Some(image) = doc.resolve(image) {
                        let c = context(format!("services.{name}"));
                        if !matrix.images(doc, image, &c, ex) {
                            ex.image(doc, k, image, ImageField::Image, c, "service image");
                        }
                    }
                }
            }
        }
        if let Some(steps) = doc.get(body, "steps").and_then(|s| doc.resolve(s)) {
            for (i, &step) in doc.seq_items(steps).iter().enumerate() {
                let Some(step) = doc.resolve(step).filter(|&s| doc.is_map(s)) else {
                    continue;
                };
                if let Some((k, uses)) = doc.entry(step, "uses") {
                    if let Some(uses) = doc.resolve(uses) {
                        let c = context(format!("steps[{i}].uses"));
                        ex.image_after(doc, k, uses, "docker://", ImageField::Image, c, "uses");
                    }
                }
                // `with: {image: …}`: an input the action interprets.
                if let Some(input) = doc
                    .get(step, "with")
                    .and_then(|w| doc.resolve(w))
                    .filter(|&w| doc.is_map(w))
                    .and_then(|w| doc.entry(w, "image"))
                {
                    inputs += 1;
                    first_input.get_or_insert(doc.position(input.0));
                }
            }
        }
    }
    if let Some((line, column)) = first_input {
        let line = ex.stream_line(line);
        ex.out.notes.push(format!(
            "{}: {inputs} action input(s) named `image` not read (the first at {line}:{column}): each action decides what its inputs mean, so imagelock neither locks nor pins them; write a digest there by hand if the action pulls it",
            ex.path().display()
        ));
    }
}

/// A job's literal `strategy.matrix`, to read `${{ matrix.KEY }}` images.
struct Matrix {
    /// The `strategy.matrix` mapping, when it is one (not an expression).
    map: Option<NodeId>,
    /// The job body, searched for other reads of a matrix key.
    body: NodeId,
}

impl Matrix {
    fn of(doc: &Doc<'_>, body: NodeId) -> Matrix {
        let map = doc
            .get(body, "strategy")
            .and_then(|s| doc.resolve(s))
            .filter(|&s| doc.is_map(s))
            .and_then(|s| doc.get(s, "matrix"))
            .and_then(|m| doc.resolve(m))
            .filter(|&m| doc.is_map(m));
        Matrix { map, body }
    }

    /// When image value `value` is exactly `${{ matrix.KEY }}` and the
    /// job's matrix lists literal values for KEY: report each of them as
    /// an image (true). Otherwise report nothing (false), and the value is
    /// read as written (a template warning).
    fn images(&self, doc: &Doc<'_>, value: NodeId, c: &Context, ex: &mut Extraction<'_>) -> bool {
        let (Some(map), Some(key)) = (self.map, doc.scalar_str(value).and_then(matrix_key)) else {
            return false;
        };
        // `include` and `exclude` shape the matrix; neither is a key of a
        // combination (`${{ matrix.include }}` is empty).
        if key == "include" || key == "exclude" {
            return false;
        }
        let mut values = Vec::new(); // (value key node, value node, path)
        if let Some((k, list)) = doc.entry(map, key) {
            match doc.resolve(list) {
                Some(l) if doc.is_seq(l) => {
                    for (i, &item) in doc.seq_items(l).iter().enumerate() {
                        values.push((k, item, format!("strategy.matrix.{key}[{i}]")));
                    }
                }
                // `db: ${{ fromJSON(…) }}`, a mapping: not literal.
                _ => return false,
            }
        }
        for extra in ["include", "exclude"] {
            let Some(list) = doc.get(map, extra).and_then(|l| doc.resolve(l)) else {
                continue;
            };
            if !doc.is_seq(list) {
                return false; // an expression
            }
            for (i, &entry) in doc.seq_items(list).iter().enumerate() {
                let Some(entry) = doc.resolve(entry).filter(|&e| doc.is_map(e)) else {
                    // `- ${{ fromJSON(…) }}`: may name images unread.
                    if let Some(text) = doc.resolve(entry).and_then(|e| doc.scalar_str(e)) {
                        if text.contains("${{") {
                            ex.warn_at(doc, entry, format!("strategy.matrix.{extra}[{i}] {text:?} is an expression: the images it gives matrix.{key} are not read"));
                        }
                    }
                    continue;
                };
                if let Some((k, v)) = doc.entry(entry, key) {
                    values.push((k, v, format!("strategy.matrix.{extra}[{i}].{key}")));
                }
            }
        }
        if values.is_empty() {
            return false;
        }
        // Every read of the key besides image values (a job name, `if:`,
        // a step's input) would see the pinned value too.
        let elsewhere = other_read(doc, self.body, key, 0);
        let Context::Workflow(base) = c else {
            return false;
        };
        // Two values that differ only in a digest (`postgres:15@sha256:…`
        // in the list, `postgres:15` in an `exclude`) would be equal once
        // pinned: an `include` or `exclude` that matched nothing would
        // then match, changing which combinations run.
        let text = |v: NodeId| doc.resolve(v).and_then(|v| doc.scalar_str(v));
        let bare = |t: &str| t.split('@').next().unwrap_or(t).trim().to_string();
        let collides = |t: &str| {
            values
                .iter()
                .filter_map(|&(_, v, _)| text(v))
                .find(|&other| other != t && bare(other) == bare(t))
        };
        let collisions: Vec<Option<String>> = values
            .iter()
            .map(|&(_, v, _)| text(v).and_then(collides).map(str::to_string))
            .collect();
        for ((k, v, path), collision) in values.into_iter().zip(collisions) {
            let Some(v) = doc.resolve(v) else { continue };
            let before = ex.out.images.len();
            let context = Context::Workflow(WorkflowImage {
                matrix: Some(path),
                ..base.clone()
            });
            ex.image(doc, k, v, ImageField::Image, context, "matrix image");
            if let Some((line, column)) = elsewhere {
                let line = ex.stream_line(line);
                for img in &mut ex.out.images[before..] {
                    img.edit = EditPlan::Unpinnable {
                        reason: format!("matrix.{key} is also read at {line}:{column}, not as an image: pinning its values would change that read too"),
                        hint: format!("give the image a matrix key of its own (`{key}-image`), or write the digest in the matrix value by hand where that read allows it"),
                    };
                }
            }
            if let (None, Some(other)) = (elsewhere, collision) {
                for img in &mut ex.out.images[before..] {
                    img.edit = EditPlan::Unpinnable {
                        reason: format!("matrix.{key} also has the value `{other}`, which differs from this one only in a digest: pinning would make them equal, changing which combinations an `include` or `exclude` matches"),
                        hint: "write every value of the key for one image the same way (all pinned, or none) and run `imagelock pin` again".to_string(),
                    };
                }
            }
        }
        true
    }
}

/// `KEY` of a value that is exactly `${{ matrix.KEY }}` (or
/// `${{ matrix['KEY'] }}`), spaces inside the braces allowed.
fn matrix_key(value: &str) -> Option<&str> {
    let inner = value
        .trim()
        .strip_prefix("${{")?
        .strip_suffix("}}")?
        .trim()
        .strip_prefix("matrix")?;
    let key = if let Some(k) = inner.strip_prefix('.') {
        k
    } else {
        let k = inner.strip_prefix('[')?.strip_suffix(']')?;
        k.strip_prefix('\'')
            .and_then(|k| k.strip_suffix('\''))
            .or_else(|| k.strip_prefix('"').and_then(|k| k.strip_suffix('"')))?
    };
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    (!key.is_empty() && key.chars().all(ident)).then_some(key)
}

/// The position of the first value under `node` that reads matrix key
/// `key`, or the whole `matrix` context, in an expression (`${{ … }}`, or
/// an `if:` condition), other than the image values written exactly
/// `${{ matrix.KEY }}`; the job's `strategy` (where the matrix is
/// defined) aside. Image values are told by where they sit, not by node:
/// an image expression shared through a YAML anchor with an `env:` value
/// is read there.
fn other_read(doc: &Doc<'_>, node: NodeId, key: &str, depth: usize) -> Option<(usize, usize)> {
    let node = doc.resolve(node)?;
    if depth > 64 {
        // Deeper than any workflow: say it is read rather than pin blind.
        return Some(doc.position(node));
    }
    if doc.is_map(node) {
        return doc.map_entries(node).chunks_exact(2).find_map(|kv| {
            let name = doc.scalar_str(kv[0]);
            match name {
                Some("strategy") if depth == 0 => None,
                Some("container") if depth == 0 => slot_read(doc, kv[1], key, true, depth + 1),
                Some("services") if depth == 0 => {
                    let services = doc.resolve(kv[1])?;
                    if !doc.is_map(services) {
                        return other_read(doc, services, key, depth + 1);
                    }
                    doc.map_entries(services)
                        .chunks_exact(2)
                        .find_map(|svc| slot_read(doc, svc[1], key, false, depth + 2))
                }
                Some("if") => {
                    let v = doc.resolve(kv[1])?;
                    let text = doc.scalar_str(v)?;
                    reads_key(text, key).then(|| doc.position(v))
                }
                _ => other_read(doc, kv[1], key, depth + 1),
            }
        });
    }
    if doc.is_seq(node) {
        return doc
            .seq_items(node)
            .iter()
            .find_map(|&c| other_read(doc, c, key, depth + 1));
    }
    let text = doc.scalar_str(node)?;
    let read = expressions(text).any(|e| reads_key(e, key));
    read.then(|| doc.position(node))
}

/// A read of `key` under a job's `container` or one of its services,
/// whose image (its `image`, or the value itself when `scalar` may be
/// one: `container: ${{ matrix.os }}`) written exactly
/// `${{ matrix.KEY }}` is the image and no read.
fn slot_read(
    doc: &Doc<'_>,
    value: NodeId,
    key: &str,
    scalar: bool,
    depth: usize,
) -> Option<(usize, usize)> {
    let is_image = |n: NodeId| {
        doc.resolve(n)
            .and_then(|n| doc.scalar_str(n))
            .and_then(matrix_key)
            == Some(key)
    };
    let v = doc.resolve(value)?;
    if doc.is_map(v) {
        return doc.map_entries(v).chunks_exact(2).find_map(|kv| {
            if doc.scalar_str(kv[0]) == Some("image") && is_image(kv[1]) {
                return None;
            }
            other_read(doc, kv[1], key, depth + 1)
        });
    }
    if scalar && is_image(v) {
        return None;
    }
    other_read(doc, v, key, depth)
}

/// The expressions (`${{ … }}`) of a value, each the text between the
/// braces; a `}}` inside a quoted string (`format('}}{0}', matrix.db)`)
/// does not end one. An expression left open runs to the end.
fn expressions(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find("${{")? + 3;
        let body = &rest[start..];
        let b = body.as_bytes();
        let (mut i, mut quoted) = (0, false);
        while i < b.len() {
            match b[i] {
                b'\'' => quoted = !quoted,
                b'}' if !quoted && b.get(i + 1) == Some(&b'}') => break,
                _ => {}
            }
            i += 1;
        }
        rest = &body[(i + 2).min(body.len())..];
        Some(&body[..i])
    })
}

/// Whether an expression text reads `matrix.KEY`, `matrix['KEY']` or the
/// whole `matrix` object (`toJSON(matrix)`).
///
/// Expressions are case-insensitive (`Matrix.DB` reads `db`); an index
/// that is no literal (`matrix[format('{0}', 'db')]`) or `matrix.*` may
/// read any key.
fn reads_key(text: &str, key: &str) -> bool {
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let lower = text.to_ascii_lowercase();
    let key = key.to_ascii_lowercase();
    let key = key.as_str();
    let text = lower.as_str();
    let b = text.as_bytes();
    text.match_indices("matrix").any(|(at, _)| {
        if at > 0 && (ident(b[at - 1]) || b[at - 1] == b'.') {
            return false; // `strategy.matrix`, `my_matrix`
        }
        let rest = &text[at + "matrix".len()..];
        if let Some(k) = rest.strip_prefix('.') {
            let k = k.trim_start();
            return k.starts_with('*')
                || k.strip_prefix(key)
                    .is_some_and(|t| t.bytes().next().is_none_or(|c| !ident(c)));
        }
        if let Some(k) = rest.strip_prefix('[') {
            let k = k.trim_start();
            return match k.strip_prefix(['\'', '"']) {
                Some(k) => k.starts_with(key),
                None => true, // `matrix[expr]`: any key
            };
        }
        // `matrix` alone: the whole object, unless a word goes on.
        rest.bytes().next().is_none_or(|c| !ident(c))
    })
}
