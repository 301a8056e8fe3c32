//! `pin -` as a KRM function (the kustomize and kpt function protocol): a
//! `ResourceList` on standard input, its `functionConfig` read for the
//! lockfile and the pull policy, and the run's errors and warnings
//! written back as the list's `results`, each with the item it is about
//! (`resourceRef`) and the file that item came from (`file`, from the
//! `config.kubernetes.io/path` and `index` annotations the orchestrator
//! sets).
//!
//! The items are pinned by the filter's byte-exact edits like any other
//! stream; `results` is added after the last byte of the list, so no
//! other byte of the input moves.

use std::path::PathBuf;

use crate::choices::PinPullPolicy;
use crate::report::{Message, Severity};
use crate::yaml::{self, Doc, NodeId};

/// The `functionConfig` kind imagelock documents.
pub const CONFIG_API_VERSION: &str = "imagelock.dev/v1alpha1";
pub const CONFIG_KIND: &str = "Pin";

/// A `ResourceList` read from the stream.
#[derive(Debug, Default)]
pub struct ResourceList {
    items: Vec<Item>,
    /// Why imagelock's results cannot be added after the list's last byte
    /// (the list is JSON or a flow mapping, ends without a newline, …):
    /// they are then said on stderr only.
    no_results: Option<&'static str>,
    pub config: FunctionConfig,
}

/// What the function config asks for.
#[derive(Debug, Default, Clone)]
pub struct FunctionConfig {
    /// `lockfile`: the lockfile, relative to the working directory the
    /// orchestrator runs the function in.
    pub lockfile: Option<PathBuf>,
    /// `pullPolicy`: `Keep` (the default) or `IfNotPresent`.
    pub pull_policy: Option<PinPullPolicy>,
}

/// One item: where it starts in the stream, and what names it.
#[derive(Debug, Default, Clone)]
struct Item {
    /// Where the item starts: 1-based line and column.
    start: (usize, usize),
    api_version: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    path: Option<String>,
    index: Option<String>,
    /// Where each scalar value of the item is, and its field path in the
    /// item (`spec.containers[0].image`), sorted by position.
    fields: Vec<((usize, usize), String)>,
}

/// The stream as a `ResourceList`: `None` when it is not one (a single
/// YAML or JSON document of kind `ResourceList` in `config.kubernetes.io`),
/// `Some(Err)` when its function config cannot be used.
pub fn read(text: &str) -> Option<Result<ResourceList, String>> {
    // Most streams are no ResourceList: not parsed a second time.
    if !text.contains("ResourceList") {
        return None;
    }
    struct First {
        documents: usize,
        list: Option<Result<ResourceList, String>>,
    }
    impl yaml::Documents for First {
        fn document(&mut self, doc: &Doc<'_>, root: NodeId, _index: usize) {
            // An empty document (a trailing `---`) holds nothing.
            if doc.scalar_str(root).is_some_and(str::is_empty) {
                return;
            }
            self.documents += 1;
            if self.documents == 1 {
                self.list = resource_list(doc, root);
            }
        }
        fn restart(&mut self) {
            self.documents = 0;
            self.list = None;
        }
    }
    let mut first = First {
        documents: 0,
        list: None,
    };
    yaml::parse(text, false, &mut first).ok()?;
    if first.documents != 1 {
        return None;
    }
    first.list
}

fn resource_list(doc: &Doc<'_>, root: NodeId) -> Option<Result<ResourceList, String>> {
    let root = doc.resolve(root).filter(|r| doc.is_map(*r))?;
    let api_version = doc.get_str(root, "apiVersion")?;
    if doc.get_str(root, "kind")? != "ResourceList"
        || !api_version.starts_with("config.kubernetes.io/")
    {
        return None;
    }
    let mut list = ResourceList {
        no_results: results_cannot_be_added(doc, root),
        ..ResourceList::default()
    };
    if let Some(items) = doc.get(root, "items").and_then(|i| doc.resolve(i)) {
        for &item in doc.seq_items(items) {
            list.items.push(item_of(doc, item));
        }
    }
    if let Some(config) = doc.get(root, "functionConfig").and_then(|c| doc.resolve(c)) {
        match function_config(doc, config) {
            Ok(c) => list.config = c,
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(list))
}

fn item_of(doc: &Doc<'_>, item: NodeId) -> Item {
    let start = doc.position(item);
    let Some(item) = doc.resolve(item).filter(|i| doc.is_map(*i)) else {
        return Item {
            start,
            ..Item::default()
        };
    };
    let text = |map: Option<NodeId>, key: &str| {
        map.and_then(|m| doc.get_str(m, key))
            .map(ToString::to_string)
    };
    let metadata = doc.get(item, "metadata").and_then(|m| doc.resolve(m));
    let annotations = metadata
        .and_then(|m| doc.get(m, "annotations"))
        .and_then(|a| doc.resolve(a))
        .filter(|a| doc.is_map(*a));
    let annotation =
        |new: &str, legacy: &str| text(annotations, new).or_else(|| text(annotations, legacy));
    let mut fields = Vec::new();
    field_paths(doc, item, &mut String::new(), 0, &mut fields);
    fields.sort();
    Item {
        start,
        fields,
        api_version: text(Some(item), "apiVersion"),
        kind: text(Some(item), "kind"),
        name: text(metadata, "name"),
        namespace: text(metadata, "namespace"),
        path: annotation(
            "internal.config.kubernetes.io/path",
            "config.kubernetes.io/path",
        ),
        index: annotation(
            "internal.config.kubernetes.io/index",
            "config.kubernetes.io/index",
        ),
    }
}

/// Every scalar value under `node`, with its path from the item: keys
/// joined by `.` (a key holding `.`, `[` or `]`, or none that is a plain
/// string, in brackets), sequence items as `[i]`, as kpt and kustomize
/// write a result's `field.path`. Through no alias (its value is where
/// its anchor is).
fn field_paths(
    doc: &Doc<'_>,
    node: NodeId,
    path: &mut String,
    depth: usize,
    out: &mut Vec<((usize, usize), String)>,
) {
    // The tree's own depth limit bounds this; a deeper item is left
    // without paths rather than walked.
    if depth > 256 {
        return;
    }
    if doc.is_scalar(node) {
        if !path.is_empty() {
            out.push((doc.position(node), path.clone()));
        }
        return;
    }
    let len = path.len();
    if doc.is_map(node) {
        for pair in doc.map_entries(node).chunks_exact(2) {
            let Some(key) = doc.scalar_str(pair[0]) else {
                continue;
            };
            if !path.is_empty() {
                path.push('.');
            }
            if key.is_empty() || key.contains(['.', '[', ']']) {
                path.push('[');
                path.push_str(key);
                path.push(']');
            } else {
                path.push_str(key);
            }
            field_paths(doc, pair[1], path, depth + 1, out);
            path.truncate(len);
        }
    } else if doc.is_seq(node) {
        for (i, &item) in doc.seq_items(node).iter().enumerate() {
            path.push_str(&format!("[{i}]"));
            field_paths(doc, item, path, depth + 1, out);
            path.truncate(len);
        }
    }
}

/// A `Pin` (`imagelock.dev/v1alpha1`, options under `spec`) or a
/// `ConfigMap` (options under `data`, as `kpt fn eval -- key=value` and
/// kustomize's `functionConfig` ConfigMaps write them).
fn function_config(doc: &Doc<'_>, config: NodeId) -> Result<FunctionConfig, String> {
    let api_version = doc.get_str(config, "apiVersion").unwrap_or("");
    let kind = doc.get_str(config, "kind").unwrap_or("");
    let options = match (api_version, kind) {
        (CONFIG_API_VERSION, CONFIG_KIND) => doc.get(config, "spec"),
        ("v1", "ConfigMap") => doc.get(config, "data"),
        _ => {
            return Err(format!(
                "functionConfig: {api_version}/{kind} is not imagelock's; give a `{CONFIG_API_VERSION}` `{CONFIG_KIND}` (options under spec) or a ConfigMap (options under data)"
            ))
        }
    };
    let mut out = FunctionConfig::default();
    let Some(options) = options.and_then(|o| doc.resolve(o)) else {
        return Ok(out);
    };
    if !doc.is_map(options) {
        return Err(format!(
            "functionConfig: {kind}'s options are {}, not a mapping",
            doc.describe(options)
        ));
    }
    for kv in doc.map_entries(options).chunks_exact(2) {
        let key = doc.scalar_str(kv[0]).unwrap_or("");
        let value = doc.scalar_str(kv[1]);
        match (key, value) {
            ("lockfile", Some(path)) if !path.is_empty() => {
                out.lockfile = Some(PathBuf::from(path));
            }
            ("pullPolicy", Some("Keep" | "keep")) => out.pull_policy = Some(PinPullPolicy::Keep),
            ("pullPolicy", Some("IfNotPresent" | "if-not-present")) => {
                out.pull_policy = Some(PinPullPolicy::IfNotPresent);
            }
            ("pullPolicy", _) => {
                return Err("functionConfig: pullPolicy is Keep or IfNotPresent".to_string())
            }
            ("lockfile", _) => {
                return Err("functionConfig: lockfile names a file (a string)".to_string())
            }
            (other, _) => {
                return Err(format!(
                "functionConfig: unknown option {other:?}; imagelock reads lockfile and pullPolicy"
            ))
            }
        }
    }
    Ok(out)
}

impl ResourceList {
    /// The item of the stream holding the place at `line`, `column`
    /// (1-based), if any.
    fn item_at(&self, line: usize, column: usize) -> Option<&Item> {
        self.items.iter().rev().find(|i| i.start <= (line, column))
    }

    /// Why the results cannot go into the list, if they cannot.
    pub fn results_left_out(&self) -> Option<&'static str> {
        self.no_results
    }

    /// The `results:` block to add after the list's last byte for these
    /// messages (errors and warnings), or nothing when there are none or
    /// the list has results already.
    pub fn results(&self, messages: &[Message]) -> String {
        let shown: Vec<&Message> = messages
            .iter()
            .filter(|m| m.severity != Severity::Note)
            .collect();
        if shown.is_empty() || self.no_results.is_some() {
            return String::new();
        }
        let q = |s: &str| yaml_quoted(s);
        let mut out = String::from("results:\n");
        for m in shown {
            let mut message = m.message.clone();
            if let Some(hint) = &m.hint {
                message.push_str("; ");
                message.push_str(hint);
            }
            out.push_str(&format!("- message: {}\n", q(&message)));
            let severity = match m.severity {
                Severity::Error => "error",
                _ => "warning",
            };
            out.push_str(&format!("  severity: {severity}\n"));
            let at = m
                .location
                .as_ref()
                .and_then(|l| Some((l.line?, l.column.unwrap_or(1))));
            let Some((at, item)) = at.and_then(|at| Some((at, self.item_at(at.0, at.1)?))) else {
                continue;
            };
            if let (Some(api_version), Some(kind), Some(name)) =
                (&item.api_version, &item.kind, &item.name)
            {
                out.push_str("  resourceRef:\n");
                out.push_str(&format!("    apiVersion: {}\n", q(api_version)));
                out.push_str(&format!("    kind: {}\n", q(kind)));
                out.push_str(&format!("    name: {}\n", q(name)));
                if let Some(ns) = &item.namespace {
                    out.push_str(&format!("    namespace: {}\n", q(ns)));
                }
            }
            if let Some(path) = &item.path {
                out.push_str("  file:\n");
                out.push_str(&format!("    path: {}\n", q(path)));
                if let Some(index) = item.index.as_deref().and_then(|i| i.parse::<u32>().ok()) {
                    out.push_str(&format!("    index: {index}\n"));
                }
            }
            // The field, when the message is at one of the item's values.
            if let Ok(i) = item.fields.binary_search_by(|(p, _)| p.cmp(&at)) {
                out.push_str("  field:\n");
                out.push_str(&format!("    path: {}\n", q(&item.fields[i].1)));
            }
        }
        out
    }
}

/// Why `results:` cannot be added after the list's last byte, if it
/// cannot: only a block mapping at the first column, the last thing in
/// the text, followed by a newline, takes a key added at its end.
fn results_cannot_be_added(doc: &Doc<'_>, root: NodeId) -> Option<&'static str> {
    let text = doc.text();
    if doc.get(root, "results").is_some() {
        return Some("the list has results already (from a function before this one)");
    }
    if doc.is_flow_map(root) {
        return Some("the list is written as JSON or a flow mapping");
    }
    if doc.position(root).1 != 1 {
        return Some("the list's keys are indented");
    }
    if !text.ends_with('\n') {
        return Some("the list does not end with a newline");
    }
    let last = text.trim_end().lines().last().unwrap_or("");
    if last.starts_with("...") || last.starts_with("---") {
        return Some("the list ends with a document marker");
    }
    None
}

/// `s` as a YAML double-quoted scalar: `"` and `\` escaped, and every
/// character YAML does not allow as it is (C0 and C1 controls, DEL, the
/// byte order mark, surrogates cannot occur) written as an escape.
fn yaml_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_of_an_item_has_its_field_path() {
        let text = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- kind: Pod\n  metadata:\n    annotations: {example.com/image: 'a:1'}\n  spec:\n    containers:\n    - name: a\n      image: nginx:1.25\n    - {name: b, image: \"redis:7\"}\n";
        let list = read(text).unwrap().unwrap();
        let fields = &list.items[0].fields;
        let path_at = |line, column| {
            fields
                .iter()
                .find(|(p, _)| *p == (line, column))
                .map(|(_, f)| f.as_str())
        };
        assert_eq!(path_at(10, 14), Some("spec.containers[0].image"));
        assert_eq!(path_at(11, 25), Some("spec.containers[1].image"));
        assert_eq!(
            path_at(6, 39),
            Some("metadata.annotations.[example.com/image]")
        );
        assert_eq!(path_at(4, 9), Some("kind"));
    }
}
