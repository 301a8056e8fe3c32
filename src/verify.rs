//! The safety net under every rewrite: before anything is written (or
//! shown as a diff), the new text is read with the reader that read the
//! old one and compared with what the edits promise.
//!
//! - YAML and JSON: every document's tree (structure, key order, values,
//!   types, tags, aliases) must equal the old tree with only the planned
//!   values changed and only the planned keys added, and documents the
//!   scan skips unparsed (CustomResourceDefinitions) must be unchanged.
//! - Dockerfiles: the same parser directives and the same logical
//!   instructions, each equal to its old text with only its image words
//!   changed.
//!
//! A mismatch is a bug in a scan or a plan, never the user's: the caller
//! writes nothing and says where. Never writes or prints.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use crate::rewrite::{apply, Change, Edit};
use crate::scan::yaml::snapshot::{self, Document, Node, Scalar, Typed};
use crate::scan::yaml::QuoteStyle;

/// Deepest nesting compared (deeper documents are refused, not trusted).
const MAX_DEPTH: usize = snapshot::MAX_DEPTH + 1;

/// Where a planned rewrite departs from its plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {what}")]
pub struct Mismatch {
    /// 1-based line and column (characters) in the old text.
    pub line: usize,
    pub column: usize,
    pub what: String,
}

/// Check that applying `edits` (sorted, non-overlapping) to `old`, the
/// text of `path`, gives a text that reads as planned.
pub fn check(path: &Path, old: &str, edits: &[Edit]) -> Result<(), Mismatch> {
    if edits.is_empty() {
        return Ok(());
    }
    let new = apply(old, edits);
    if crate::scan::dockerfile::is_dockerfile_name(path) {
        let spans: Vec<(Range<usize>, &str)> = edits
            .iter()
            .map(|e| (e.span.clone(), e.replacement.as_str()))
            .collect();
        return crate::scan::dockerfile::same_but_edits(old, &new, &spans)
            .map_err(|(at, what)| mismatch(old, at, what));
    }
    check_yaml(old, &new, edits)
}

fn mismatch(text: &str, at: usize, what: String) -> Mismatch {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    Mismatch {
        line,
        column: before[start..].chars().count() + 1,
        what,
    }
}

/// YAML: a text cut into documents at its `---` lines is compared one
/// document at a time (memory bounded by the largest, time by the ones
/// edited): a document no edit touches must keep its bytes, an edited one
/// must read as planned. Any other text is compared whole.
fn check_yaml(old: &str, new: &str, edits: &[Edit]) -> Result<(), Mismatch> {
    use crate::scan::yaml::split;
    if !(split::splittable(old) && split::splittable(new)) {
        return check_yaml_whole(old, new, edits, 0);
    }
    let before: Vec<Range<usize>> = split::pieces(old).map(|p| p.start..p.end).collect();
    let after: Vec<Range<usize>> = split::pieces(new).map(|p| p.start..p.end).collect();
    if before.len() != after.len() {
        return Err(mismatch(
            old,
            edits[0].span.start,
            format!(
                "the new text would be cut into {} document(s), not {}",
                after.len(),
                before.len()
            ),
        ));
    }
    // Each edit belongs to the piece it starts in (an insertion at a
    // piece's very end, the start of the next `---` line, to the first).
    let mut by_piece: Vec<Vec<Edit>> = vec![Vec::new(); before.len()];
    for e in edits {
        let i = before
            .partition_point(|p| p.start < e.span.start)
            .saturating_sub(1);
        by_piece[i].push(e.clone());
    }
    for (i, ((b, a), mine)) in before.iter().zip(&after).zip(by_piece).enumerate() {
        if mine.is_empty() {
            if old[b.clone()] != new[a.clone()] {
                return Err(mismatch(
                    old,
                    b.start,
                    format!(
                        "document {} would change although no edit is planned in it",
                        i + 1
                    ),
                ));
            }
            continue;
        }
        // The piece's edits, at offsets of the piece's own text.
        let local: Vec<Edit> = mine.into_iter().map(|e| shift(e, b.start)).collect();
        let planned = apply(&old[b.clone()], &local);
        if planned != new[a.clone()] {
            return Err(mismatch(
                old,
                b.start,
                format!("document {}: the edits would not give the new text", i + 1),
            ));
        }
        check_yaml_whole(&old[b.clone()], &planned, &local, i)
            .map_err(|m| remap(old, b.start, m))?;
    }
    Ok(())
}

/// An edit of a piece starting at byte `base`, at the piece's offsets.
fn shift(e: Edit, base: usize) -> Edit {
    let change = match e.change {
        Change::Splice => Change::Splice,
        Change::Set { key_at, value } => Change::Set {
            key_at: key_at - base,
            value,
        },
        Change::Add { beside, key, value } => Change::Add {
            beside: beside - base,
            key,
            value,
        },
    };
    Edit {
        span: e.span.start - base..e.span.end - base,
        replacement: e.replacement,
        change,
    }
}

/// A mismatch found in a piece starting at byte `base`, at the whole
/// text's line and column.
fn remap(text: &str, base: usize, m: Mismatch) -> Mismatch {
    let piece = &text[base..];
    // The byte of the piece at (line, column), then the whole text's.
    let mut at = 0;
    for (n, line) in piece.split_inclusive('\n').enumerate() {
        if n + 1 == m.line {
            at += line
                .char_indices()
                .nth(m.column.saturating_sub(1))
                .map_or(line.len(), |(i, _)| i);
            break;
        }
        at += line.len();
    }
    mismatch(text, base + at, m.what)
}

fn check_yaml_whole(old: &str, new: &str, edits: &[Edit], doc_base: usize) -> Result<(), Mismatch> {
    let first = edits[0].span.start;
    let read = |text: &str| {
        let crds = crate::scan::crd_mentioned(text);
        snapshot::read(text, &|piece| crds && crate::scan::crd_document(piece))
    };
    let before = read(old).map_err(|e| {
        mismatch(
            old,
            first,
            format!("the file no longer reads as it was scanned ({})", e.message),
        )
    })?;
    let after = read(new).map_err(|e| {
        mismatch(
            old,
            first,
            format!(
                "the new text would not be YAML: {} at its line {}, column {}",
                e.message, e.line, e.column
            ),
        )
    })?;
    let mut plan = Plan::new(edits);
    let mut expected = before;
    for doc in &mut expected {
        if let Document::Tree(Some(root)) = doc {
            plan.apply(root, 0)
                .map_err(|(at, what)| mismatch(old, at, what))?;
        }
    }
    if let Some((at, what)) = plan.unused() {
        return Err(mismatch(old, at, what));
    }
    if expected.len() != after.len() {
        return Err(mismatch(
            old,
            first,
            format!(
                "the new text would hold {} document(s), not {}",
                after.len(),
                expected.len()
            ),
        ));
    }
    for (i, (want, got)) in expected.iter().zip(&after).enumerate() {
        let fail = |at: usize, path: String, what: String| {
            let path = if path.is_empty() {
                String::new()
            } else {
                format!(" at {path}")
            };
            mismatch(
                old,
                at,
                format!("document {}{path}: {what}", doc_base + i + 1),
            )
        };
        match (want, got) {
            (Document::Tree(Some(w)), Document::Tree(Some(g))) => {
                same(w, g, 0).map_err(|(at, path, what)| fail(at.unwrap_or(first), path, what))?;
            }
            (Document::Tree(None), Document::Tree(None)) => {}
            (Document::Skipped(w), Document::Skipped(g)) if w == g => {}
            (Document::TooDeep, _) | (_, Document::TooDeep) => {
                return Err(fail(
                    first,
                    String::new(),
                    format!(
                        "nested deeper than {} levels, too deep to check; not rewritten",
                        snapshot::MAX_DEPTH
                    ),
                ))
            }
            _ => {
                return Err(fail(
                    first,
                    String::new(),
                    "would read differently (skipped, empty or parsed)".into(),
                ))
            }
        }
    }
    Ok(())
}

/// The planned changes, by where they apply in the old text.
struct Plan<'e> {
    /// Splices by the start of their span, in order.
    splices: Vec<&'e Edit>,
    used_splices: Vec<bool>,
    /// Values set, by the start of the key's content.
    sets: HashMap<usize, (&'e str, bool)>,
    /// Keys added, by the start of the content of the key they follow.
    adds: HashMap<usize, (Vec<Added<'e>>, bool)>,
}

/// A key and value an edit adds.
type Added<'e> = (&'e str, &'e str);

impl<'e> Plan<'e> {
    fn new(edits: &'e [Edit]) -> Plan<'e> {
        let mut plan = Plan {
            splices: Vec::new(),
            used_splices: Vec::new(),
            sets: HashMap::new(),
            adds: HashMap::new(),
        };
        for e in edits {
            match &e.change {
                Change::Splice => plan.splices.push(e),
                Change::Set { key_at, value } => {
                    plan.sets.insert(*key_at, (value.as_str(), false));
                }
                Change::Add { beside, key, value } => {
                    plan.adds
                        .entry(*beside)
                        .or_default()
                        .0
                        .push((key.as_str(), value.as_str()));
                }
            }
        }
        plan.splices.sort_by_key(|e| e.span.start);
        plan.used_splices = vec![false; plan.splices.len()];
        plan
    }

    /// Apply the splices that fall inside scalar `s`.
    fn splice(&mut self, s: &mut Scalar) -> Result<(), (usize, String)> {
        let from = self
            .splices
            .partition_point(|e| e.span.start < s.content.start);
        let mut shift: isize = 0;
        let mut k = from;
        while k < self.splices.len() && self.splices[k].span.start <= s.content.end {
            let e = self.splices[k];
            if e.span.end > s.content.end {
                return Err((
                    e.span.start,
                    "the edit runs past the end of its value".into(),
                ));
            }
            if !s.exact {
                return Err((
                    e.span.start,
                    "the edit falls in a value written with escapes or folding".into(),
                ));
            }
            let a = (e.span.start - s.content.start) as isize + shift;
            let b = (e.span.end - s.content.start) as isize + shift;
            s.value
                .replace_range(a as usize..b as usize, &e.replacement);
            shift += e.replacement.len() as isize - (e.span.end - e.span.start) as isize;
            s.changed = true;
            self.used_splices[k] = true;
            k += 1;
        }
        Ok(())
    }

    fn apply(&mut self, node: &mut Node, depth: usize) -> Result<(), (usize, String)> {
        if depth > MAX_DEPTH {
            return Err((
                0,
                format!("nested deeper than {MAX_DEPTH} levels: not checked"),
            ));
        }
        match node {
            Node::Scalar(s) => self.splice(s),
            Node::Seq(items) => {
                for item in items {
                    self.apply(item, depth + 1)?;
                }
                Ok(())
            }
            Node::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for (mut k, mut v) in std::mem::take(entries) {
                    self.apply(&mut k, depth + 1)?;
                    let key_at = match &k {
                        Node::Scalar(s) => Some(s.content.start),
                        _ => None,
                    };
                    if let Some((value, used)) = key_at.and_then(|at| self.sets.get_mut(&at)) {
                        *used = true;
                        v = Node::Scalar(planned(value));
                    } else {
                        self.apply(&mut v, depth + 1)?;
                    }
                    out.push((k, v));
                    if let Some((added, used)) = key_at.and_then(|at| self.adds.get_mut(&at)) {
                        *used = true;
                        for (key, value) in added.iter() {
                            out.push((Node::Scalar(planned(key)), Node::Scalar(planned(value))));
                        }
                    }
                }
                *entries = out;
                Ok(())
            }
            Node::Alias(_) => Ok(()),
        }
    }

    /// A planned change that met no value of the old text.
    fn unused(&self) -> Option<(usize, String)> {
        let what = "the edit changes no value a reader of the file sees".to_string();
        let splice = self
            .splices
            .iter()
            .zip(&self.used_splices)
            .find(|(_, used)| !**used)
            .map(|(e, _)| e.span.start);
        let set = self.sets.iter().find(|(_, (_, u))| !u).map(|(at, _)| *at);
        let add = self.adds.iter().find(|(_, (_, u))| !u).map(|(at, _)| *at);
        [splice, set, add]
            .into_iter()
            .flatten()
            .min()
            .map(|at| (at, what))
    }
}

/// A string scalar as an edit writes it (plain, on one line).
fn planned(value: &str) -> Scalar {
    Scalar {
        value: value.to_string(),
        kind: Typed::Str,
        tag: crate::scan::yaml::typing::TagKind::None,
        style: QuoteStyle::Plain,
        content: 0..0,
        exact: true,
        changed: true,
    }
}

type Differ = (Option<usize>, String, String);

/// Compare a planned tree with a tree read: `Err` has the old position (if
/// any), the path from the root, and what differs.
fn same(want: &Node, got: &Node, depth: usize) -> Result<(), Differ> {
    if depth > MAX_DEPTH {
        return Err((
            None,
            String::new(),
            format!("nested deeper than {MAX_DEPTH} levels: not checked"),
        ));
    }
    let at = |n: &Node| match n {
        Node::Scalar(s) if !s.changed || s.content.end > 0 => Some(s.content.start),
        _ => None,
    };
    match (want, got) {
        (Node::Scalar(w), Node::Scalar(g)) => {
            let same_value = w.value == g.value && w.kind == g.kind;
            // A changed value may be written in another style; an unchanged
            // one is the same bytes, so the same style and tag.
            let same_form = w.changed || (w.style == g.style && w.tag == g.tag);
            if same_value && same_form {
                Ok(())
            } else {
                Err((
                    at(want),
                    String::new(),
                    format!(
                        "would read {:?} ({:?}), not {:?} ({:?})",
                        g.value, g.kind, w.value, w.kind
                    ),
                ))
            }
        }
        (Node::Alias(w), Node::Alias(g)) if w == g => Ok(()),
        (Node::Seq(w), Node::Seq(g)) => {
            if w.len() != g.len() {
                return Err((
                    w.first().and_then(first_at),
                    String::new(),
                    format!(
                        "a sequence of {} item(s) would read as {}",
                        w.len(),
                        g.len()
                    ),
                ));
            }
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                same(a, b, depth + 1)
                    .map_err(|(at, p, what)| (at, join(&format!("[{i}]"), &p), what))?;
            }
            Ok(())
        }
        (Node::Map(w), Node::Map(g)) => {
            if w.len() != g.len() {
                let keys = |m: &[(Node, Node)]| {
                    m.iter()
                        .map(|(k, _)| key_text(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err((
                    w.first().and_then(|(k, _)| first_at(k)),
                    String::new(),
                    format!(
                        "a mapping with keys [{}] would read as [{}]",
                        keys(w),
                        keys(g)
                    ),
                ));
            }
            for ((wk, wv), (gk, gv)) in w.iter().zip(g) {
                let name = key_text(wk);
                same(wk, gk, depth + 1)
                    .map_err(|(at, p, what)| (at, join(&name, &p), format!("key {what}")))?;
                same(wv, gv, depth + 1).map_err(|(at, p, what)| {
                    (at.or_else(|| first_at(wk)), join(&name, &p), what)
                })?;
            }
            Ok(())
        }
        _ => Err((
            first_at(want),
            String::new(),
            format!("{} would read as {}", describe(want), describe(got)),
        )),
    }
}

fn join(head: &str, rest: &str) -> String {
    if rest.is_empty() {
        head.to_string()
    } else if rest.starts_with('[') {
        format!("{head}{rest}")
    } else {
        format!("{head}.{rest}")
    }
}

fn key_text(k: &Node) -> String {
    match k {
        Node::Scalar(s) => s.value.clone(),
        other => describe(other).to_string(),
    }
}

fn first_at(n: &Node) -> Option<usize> {
    match n {
        Node::Scalar(s) if !s.changed => Some(s.content.start),
        Node::Scalar(_) | Node::Alias(_) => None,
        Node::Seq(items) => items.iter().find_map(first_at),
        Node::Map(entries) => entries.iter().find_map(|(k, _)| first_at(k)),
    }
}

fn describe(n: &Node) -> &'static str {
    match n {
        Node::Scalar(_) => "a scalar",
        Node::Map(_) => "a mapping",
        Node::Seq(_) => "a sequence",
        Node::Alias(_) => "an alias",
    }
}

#[cfg(test)]
mod tests;
