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
use crate::yaml::snapshot::{self, Document, Node, Scalar, Typed};
use crate::yaml::{parse_documents, Doc, Documents, NodeId, QuoteStyle};

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
    // Line-based files (a Dockerfile, a `.env`) are checked word by word:
    // each edit's span in the old text with what it wrote.
    let spans = || -> Vec<(Range<usize>, &str)> {
        edits
            .iter()
            .map(|e| (e.span.clone(), e.replacement.as_str()))
            .collect()
    };
    let checked = if crate::scan::dockerfile::is_dockerfile_name(path)
        || crate::scan::dockerfile::sniffed(path, old).is_some()
    {
        crate::scan::dockerfile::same_but_edits(old, &new, &spans())
    } else if crate::scan::compose::is_dotenv_name(path) {
        crate::scan::compose::dotenv::same_but_edits(old, &new, &spans())
    } else {
        check_yaml(old, &new, edits)
    };
    checked.map_err(|(at, what)| mismatch(old, at, what))
}

/// Where a check fails: the byte of the text it read, and what differs.
type Fail = (usize, String);

fn mismatch(text: &str, at: usize, what: String) -> Mismatch {
    let (line, column) = crate::lockfile::line_col(text, at);
    Mismatch { line, column, what }
}

/// YAML: a text cut into documents at its `---` lines is compared one
/// document at a time (memory bounded by the largest, time by the ones
/// edited): a document no edit touches must keep its bytes, an edited one
/// must read as planned. Any other text is compared whole.
fn check_yaml(old: &str, new: &str, edits: &[Edit]) -> Result<(), Fail> {
    use crate::yaml::split;
    if !(split::splittable(old) && split::splittable(new)) {
        return check_yaml_whole(old, new, edits, 0);
    }
    let before: Vec<Range<usize>> = split::pieces(old).map(|p| p.start..p.end).collect();
    let after: Vec<Range<usize>> = split::pieces(new).map(|p| p.start..p.end).collect();
    if before.len() != after.len() {
        return Err((
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
    // How far the new text has moved from the old one at the current
    // piece's start: the growth of the edits of every piece before it.
    let mut moved: isize = 0;
    for (i, ((b, a), mine)) in before.iter().zip(&after).zip(by_piece).enumerate() {
        let grown: isize = mine
            .iter()
            .map(|e| e.replacement.len() as isize - e.span.len() as isize)
            .sum();
        // The new text is the old one with every edit applied, so a piece
        // holds exactly its edits when it starts and ends where they put it.
        let start = b.start as isize + moved;
        let end = start + b.len() as isize + grown;
        moved += grown;
        if (start, end) != (a.start as isize, a.end as isize) {
            return Err((
                b.start,
                format!(
                    "document {}: the edits would move a document boundary",
                    i + 1
                ),
            ));
        }
        if mine.is_empty() {
            continue; // the same bytes at the same place: the same document
        }
        // The piece's edits, at offsets of the piece's own text.
        let local: Vec<Edit> = mine.into_iter().map(|e| shift(e, b.start)).collect();
        check_piece(&old[b.clone()], &new[a.clone()], &local, i)
            .map_err(|(at, what)| (b.start + at, what))?;
    }
    Ok(())
}

/// One document (a piece of the text) before and after its edits: both
/// read by the scan's reader and walked side by side, without copying
/// either tree. A piece that needs more than that (the Go-YAML indentation
/// workaround, a CRD the scan skips) goes through the snapshot comparison.
fn check_piece(old: &str, new: &str, edits: &[Edit], index: usize) -> Result<(), Fail> {
    if crate::scan::crd_mentioned(old) && crate::scan::crd_document(old) {
        return check_yaml_whole(old, new, edits, index);
    }
    if edits.iter().all(|e| e.change == Change::Splice) {
        return check_splices(old, new, edits, index);
    }
    struct Old<'n, 'e> {
        new: &'n str,
        plan: Plan<'e>,
        result: Option<Result<(), Differ>>,
        docs: usize,
    }
    struct New<'a, 'o, 'p, 'e> {
        old: &'a Doc<'o>,
        old_root: NodeId,
        plan: &'p mut Plan<'e>,
        result: Option<Result<(), Differ>>,
        docs: usize,
    }
    impl Documents for New<'_, '_, '_, '_> {
        fn document(&mut self, doc: &Doc<'_>, root: NodeId, _: usize) {
            self.docs += 1;
            if self.docs == 1 {
                let mut walk = Pair {
                    a: self.old,
                    b: doc,
                    plan: self.plan,
                    anchors: None,
                };
                self.result = Some(walk.node(self.old_root, root, 0));
            }
        }
        fn restart(&mut self) {
            self.docs = 0;
            self.result = None;
        }
    }
    impl Documents for Old<'_, '_> {
        fn document(&mut self, doc: &Doc<'_>, root: NodeId, _: usize) {
            self.docs += 1;
            let mut sink = New {
                old: doc,
                old_root: root,
                plan: &mut self.plan,
                result: None,
                docs: 0,
            };
            let parsed = parse_documents(self.new, true, |_| false, &mut sink);
            self.result = Some(match (parsed, sink.docs, sink.result) {
                (Ok(()), 1, Some(r)) => r,
                (Ok(()), n, _) => Err((
                    None,
                    String::new(),
                    format!("the new text would hold {n} document(s) here, not 1"),
                )),
                (Err(e), _, _) => Err((
                    None,
                    String::new(),
                    format!(
                        "the new text would not be YAML: {} at its line {}, column {}",
                        e.message, e.line, e.column
                    ),
                )),
            });
        }
        fn restart(&mut self) {
            self.docs = 0;
            self.result = None;
        }
    }
    let first = edits[0].span.start;
    let mut sink = Old {
        new,
        plan: Plan::new(edits),
        result: None,
        docs: 0,
    };
    if parse_documents(old, true, |_| false, &mut sink).is_err() || sink.docs != 1 {
        // Not one plain document: the general comparison.
        return check_yaml_whole(old, new, edits, index);
    }
    if let Some(Err((at, path, what))) = sink.result {
        let path = if path.is_empty() {
            String::new()
        } else {
            format!(" at {path}")
        };
        return Err((
            at.unwrap_or(first),
            format!("document {}{path}: {what}", index + 1),
        ));
    }
    if let Some((at, what)) = sink.plan.unused() {
        return Err((at, what));
    }
    Ok(())
}

/// A document whose edits only replace bytes inside values (a digest
/// appended to a reference): the new text read once. The bytes before and
/// after each edit are the old ones, so a reader reads the same tokens
/// there; what an edit can break is its own value (a quote, a `#`, a
/// comma or a line break in what it writes ends the value early, or runs
/// it on). So each written replacement must lie wholly inside one value of
/// the new tree, written exactly (its bytes are its value), and the new
/// text must read as one document. Any other edit gets the full
/// comparison of both trees ([`Pair`]).
fn check_splices(old: &str, new: &str, edits: &[Edit], index: usize) -> Result<(), Fail> {
    // Where each replacement lands in the new text (edits are sorted).
    let mut moved: isize = 0;
    let written: Vec<(Range<usize>, usize)> = edits
        .iter()
        .map(|e| {
            let start = (e.span.start as isize + moved) as usize;
            moved += e.replacement.len() as isize - e.span.len() as isize;
            (start..start + e.replacement.len(), e.span.start)
        })
        .collect();
    struct Sink<'w> {
        written: &'w [(Range<usize>, usize)],
        /// The old position of the first replacement no value holds.
        loose: Option<usize>,
        docs: usize,
    }
    impl Documents for Sink<'_> {
        fn document(&mut self, doc: &Doc<'_>, _: NodeId, _: usize) {
            self.docs += 1;
            // Scalars come in the text's order, like the replacements.
            let mut next = 0;
            for id in 0..doc.len() as NodeId {
                if next == self.written.len() {
                    break;
                }
                let Some(s) = doc.scalar_value(id) else {
                    continue;
                };
                while next < self.written.len() && self.written[next].0.end <= s.content.end {
                    let (w, at) = &self.written[next];
                    let inside = s.exact && s.content.start <= w.start && w.end <= s.content.end;
                    if !inside {
                        self.loose.get_or_insert(*at);
                    }
                    next += 1;
                }
            }
            if let Some((_, at)) = self.written.get(next) {
                self.loose.get_or_insert(*at);
            }
        }
        fn restart(&mut self) {
            self.docs = 0;
            self.loose = None;
        }
    }
    let mut sink = Sink {
        written: &written,
        loose: None,
        docs: 0,
    };
    // A document the workaround must read, a broken one, or not one
    // document: the full comparison says which.
    if parse_documents(new, true, |_| false, &mut sink).is_err() || sink.docs != 1 {
        return check_yaml_whole(old, new, edits, index);
    }
    match sink.loose {
        None => Ok(()),
        Some(at) => Err((at,
            format!(
                "document {}: the value written here would not read as one value (it would end early, run on, or fall outside every value)",
                index + 1
            ),
        )),
    }
}

/// Two trees walked side by side: the old one with the plan applied must
/// read as the new one.
struct Pair<'a, 'b, 'o, 'n, 'p, 'e> {
    a: &'a Doc<'o>,
    b: &'b Doc<'n>,
    plan: &'p mut Plan<'e>,
    /// Each document's anchored nodes, numbered in order (built at the
    /// first alias).
    anchors: Option<(HashMap<NodeId, usize>, HashMap<NodeId, usize>)>,
}

impl Pair<'_, '_, '_, '_, '_, '_> {
    fn anchor_numbers(&mut self) -> &(HashMap<NodeId, usize>, HashMap<NodeId, usize>) {
        let number = |d: &Doc<'_>| -> HashMap<NodeId, usize> {
            let mut t: Vec<NodeId> = (0..d.len() as NodeId)
                .filter_map(|id| d.alias_target(id).flatten())
                .collect();
            t.sort_unstable();
            t.dedup();
            t.into_iter().enumerate().map(|(i, n)| (n, i)).collect()
        };
        let (a, b) = (self.a, self.b);
        self.anchors.get_or_insert_with(|| (number(a), number(b)))
    }

    fn node(&mut self, x: NodeId, y: NodeId, depth: usize) -> Result<(), Differ> {
        let (a, b) = (self.a, self.b);
        if depth > MAX_DEPTH {
            return Err((
                None,
                String::new(),
                format!("nested deeper than {MAX_DEPTH} levels: not checked"),
            ));
        }
        match (a.alias_target(x), b.alias_target(y)) {
            (Some(tx), Some(ty)) => {
                let (na, nb) = self.anchor_numbers();
                let (ix, iy) = (tx.and_then(|t| na.get(&t)), ty.and_then(|t| nb.get(&t)));
                return if ix == iy {
                    Ok(())
                } else {
                    Err((
                        None,
                        String::new(),
                        "an alias would refer to another anchor".into(),
                    ))
                };
            }
            (None, None) => {}
            _ => {
                return Err((
                    None,
                    String::new(),
                    "an alias would read as a value, or a value as an alias".into(),
                ))
            }
        }
        if let Some(sa) = a.scalar_value(x) {
            let Some(sb) = b.scalar_value(y) else {
                return Err((
                    Some(sa.content.start),
                    String::new(),
                    format!("the value {:?} would read as {}", sa.value, b.describe(y)),
                ));
            };
            let mut spliced = None;
            self.plan.splice_value(&sa, &mut spliced)?;
            let (want, changed) = match &spliced {
                Some(v) => (v.as_str(), true),
                None => (sa.value, false),
            };
            let kind = |v: &str, s: &crate::yaml::Scalar<'_>| Typed::of(v, s.style, s.tag);
            let same_value = want == sb.value && kind(want, &sa) == kind(sb.value, &sb);
            let same_form = changed || (sa.style == sb.style && sa.tag == sb.tag);
            return if same_value && same_form {
                Ok(())
            } else {
                Err((
                    Some(sa.content.start),
                    String::new(),
                    format!("would read {:?}, not {want:?}", sb.value),
                ))
            };
        }
        if a.is_seq(x) {
            let (ia, ib) = (a.seq_items(x), b.seq_items(y));
            if !b.is_seq(y) || ia.len() != ib.len() {
                return Err((
                    None,
                    String::new(),
                    format!(
                        "a sequence of {} item(s) would read as {} of {}",
                        ia.len(),
                        b.describe(y),
                        ib.len()
                    ),
                ));
            }
            for (i, (&p, &q)) in ia.iter().zip(ib).enumerate() {
                self.node(p, q, depth + 1)
                    .map_err(|(at, path, what)| (at, join(&format!("[{i}]"), &path), what))?;
            }
            return Ok(());
        }
        if a.is_map(x) {
            if !b.is_map(y) {
                return Err((
                    None,
                    String::new(),
                    format!("a mapping would read as {}", b.describe(y)),
                ));
            }
            let (ea, eb) = (a.map_entries(x), b.map_entries(y));
            let mut j = 0;
            for kv in ea.chunks_exact(2) {
                let (ka, va) = (kv[0], kv[1]);
                let key_at = a.scalar_value(ka).map(|s| s.content.start);
                let name = a.scalar_str(ka).unwrap_or("?").to_string();
                let Some(kb) = eb.get(j).copied() else {
                    return Err((
                        key_at,
                        String::new(),
                        format!("the key {name} would be gone"),
                    ));
                };
                let vb = eb[j + 1];
                j += 2;
                self.node(ka, kb, depth + 1).map_err(|(at, p, what)| {
                    (at.or(key_at), join(&name, &p), format!("key {what}"))
                })?;
                match key_at.and_then(|at| self.plan.take_set(at)) {
                    Some(value) => {
                        let ok = b.scalar_value(vb).is_some_and(|s| {
                            s.value == value && Typed::of(s.value, s.style, s.tag) == Typed::Str
                        });
                        if !ok {
                            return Err((key_at, name, format!("would not read {value:?}")));
                        }
                    }
                    None => self
                        .node(va, vb, depth + 1)
                        .map_err(|(at, p, what)| (at.or(key_at), join(&name, &p), what))?,
                }
                for (key, value) in key_at.map(|at| self.plan.take_adds(at)).unwrap_or_default() {
                    let added = eb
                        .get(j)
                        .zip(eb.get(j + 1))
                        .and_then(|(&k, &v)| Some((b.scalar_value(k)?, b.scalar_value(v)?)));
                    let ok = added.is_some_and(|(k, v)| {
                        k.value == key
                            && v.value == value
                            && Typed::of(v.value, v.style, v.tag) == Typed::Str
                    });
                    if !ok {
                        return Err((
                            key_at,
                            name,
                            format!("the key {key}: {value} would not follow it"),
                        ));
                    }
                    j += 2;
                }
            }
            if j != eb.len() {
                let extra = b.scalar_str(eb[j]).unwrap_or("?");
                return Err((
                    first_key(a, x),
                    String::new(),
                    format!("a key {extra} would be added that no edit plans"),
                ));
            }
            return Ok(());
        }
        Err((
            None,
            String::new(),
            format!("{} would read as {}", a.describe(x), b.describe(y)),
        ))
    }
}

fn first_key(d: &Doc<'_>, map: NodeId) -> Option<usize> {
    d.map_entries(map)
        .first()
        .and_then(|&k| d.scalar(k))
        .map(|s| s.content.start)
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

fn check_yaml_whole(old: &str, new: &str, edits: &[Edit], doc_base: usize) -> Result<(), Fail> {
    let first = edits[0].span.start;
    let read = |text: &str| {
        let crds = crate::scan::crd_mentioned(text);
        snapshot::read(text, &|piece| crds && crate::scan::crd_document(piece))
    };
    let before = read(old).map_err(|e| {
        (
            first,
            format!("the file no longer reads as it was scanned ({})", e.message),
        )
    })?;
    let after = read(new).map_err(|e| {
        (
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
            plan.apply(root, 0)?;
        }
    }
    if let Some((at, what)) = plan.unused() {
        return Err((at, what));
    }
    if expected.len() != after.len() {
        return Err((
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
            (at, format!("document {}{path}: {what}", doc_base + i + 1))
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

    /// The value a scalar of the old tree takes after the splices inside
    /// it (`None`: none falls inside it).
    fn splice_value(
        &mut self,
        s: &crate::yaml::Scalar<'_>,
        out: &mut Option<String>,
    ) -> Result<(), Differ> {
        let mut copy = Scalar {
            value: String::new(),
            kind: Typed::Str,
            tag: s.tag,
            style: s.style,
            content: s.content.clone(),
            exact: s.exact,
            changed: false,
        };
        let from = self
            .splices
            .partition_point(|e| e.span.start < s.content.start);
        if from >= self.splices.len() || self.splices[from].span.start > s.content.end {
            return Ok(());
        }
        copy.value = s.value.to_string();
        self.splice(&mut copy)
            .map_err(|(at, what)| (Some(at), String::new(), what))?;
        if copy.changed {
            *out = Some(copy.value);
        }
        Ok(())
    }

    /// The value planned for the entry whose key starts at `key_at`.
    fn take_set(&mut self, key_at: usize) -> Option<&'e str> {
        let (value, used) = self.sets.get_mut(&key_at)?;
        *used = true;
        Some(*value)
    }

    /// The keys planned after the entry whose key starts at `beside`.
    fn take_adds(&mut self, beside: usize) -> Vec<Added<'e>> {
        match self.adds.get_mut(&beside) {
            Some((added, used)) => {
                *used = true;
                added.clone()
            }
            None => Vec::new(),
        }
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
        tag: crate::yaml::typing::TagKind::None,
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
