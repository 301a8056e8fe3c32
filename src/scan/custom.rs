//! Custom image locations: the `[[location]]` tables of `imagelock.toml`,
//! checked ([`Location::new`]) and matched against Kubernetes-like
//! documents ([`extract`]), after the built-in rules.
//!
//! A location selects documents by `kind` and `api-version` (globs, both
//! optional) and values by a key path (`spec.operatorImage`,
//! `containers[*].args[*]`, `env[?name=RELOADER_IMAGE].value`, `ports[0]`);
//! an optional `pattern`'s named group `image` marks the reference inside a
//! longer string, and only those bytes are the found image's span, so `pin`
//! changes nothing else. A value the built-in rules found is not reported
//! again.

use std::ops::Range;

use globset::{Glob, GlobMatcher};
use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::extraction::Extraction;
use super::EditPlan;
use super::{Context, FoundImage, ImageField, InvalidImage, KubernetesField, ObjectContext};
use crate::reference::Reference;
use crate::yaml::{Doc, NodeId};

/// A `[[location]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLocation {
    kind: Option<Spanned<String>>,
    api_version: Option<Spanned<String>>,
    path: Spanned<String>,
    pattern: Option<Spanned<String>>,
}

/// A checked `[[location]]`.
#[derive(Debug, Clone)]
pub struct Location {
    kind: Option<GlobMatcher>,
    api_version: Option<GlobMatcher>,
    /// The key path as written (for messages).
    path_text: String,
    path: Vec<Step>,
    pattern: Option<Regex>,
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// `name`: the value of a mapping key.
    Key(String),
    /// `*`: the value of every key of a mapping.
    AnyKey,
    /// `[*]`: every item of a sequence.
    AnyItem,
    /// `[N]`: item N (0-based) of a sequence.
    Item(usize),
    /// `[?key=VALUE]`: the items of a sequence that are mappings whose
    /// `key` is the string VALUE.
    Where(String, String),
}

impl Location {
    /// Check a table; an error carries the span of the bad value.
    pub fn new(raw: RawLocation) -> Result<Location, (Range<usize>, String)> {
        let glob = |g: Option<Spanned<String>>, what: &str| {
            g.map(|g| {
                Glob::new(g.get_ref())
                    .map(|g| g.compile_matcher())
                    .map_err(|e| (g.span(), format!("invalid {what} glob: {}", e.kind())))
            })
            .transpose()
        };
        let kind = glob(raw.kind, "kind")?;
        let api_version = glob(raw.api_version, "api-version")?;
        let path = parse_path(raw.path.get_ref()).map_err(|m| {
            (
                raw.path.span(),
                format!("invalid path {:?}: {m}", raw.path.get_ref()),
            )
        })?;
        let pattern = match raw.pattern {
            None => None,
            Some(p) => {
                let re = Regex::new(p.get_ref())
                    .map_err(|e| (p.span(), format!("invalid pattern: {e}")))?;
                if !re.capture_names().any(|n| n == Some("image")) {
                    return Err((
                        p.span(),
                        "pattern has no named group `image` (write `(?P<image>…)` around the reference)".into(),
                    ));
                }
                Some(re)
            }
        };
        Ok(Location {
            kind,
            api_version,
            path_text: raw.path.into_inner(),
            path,
            pattern,
        })
    }

    fn selects(&self, kind: Option<&str>, api_version: Option<&str>) -> bool {
        let ok = |glob: &Option<GlobMatcher>, value: Option<&str>| match glob {
            None => true,
            Some(g) => value.is_some_and(|v| g.is_match(v)),
        };
        ok(&self.kind, kind) && ok(&self.api_version, api_version)
    }
}

/// Parse a key path: keys separated by `.`, each followed by any number
/// of `[*]`, `[N]` or `[?key=VALUE]`.
fn parse_path(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut rest = text;
    let mut expect_key = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after
                .find(']')
                .ok_or_else(|| "a `[` without its `]`".to_string())?;
            let inner = &after[..end];
            steps.push(if inner == "*" {
                Step::AnyItem
            } else if let Some(cond) = inner.strip_prefix('?') {
                let (k, v) = cond
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("`[{inner}]`: write `[?key=VALUE]`"))?;
                Step::Where(k.to_string(), v.to_string())
            } else {
                Step::Item(
                    inner.parse().map_err(|_| {
                        format!("`[{inner}]`: write `[*]`, `[N]` or `[?key=VALUE]`")
                    })?,
                )
            });
            rest = &after[end + 1..];
            expect_key = false;
            continue;
        }
        if !expect_key {
            rest = rest
                .strip_prefix('.')
                .ok_or_else(|| "expected `.` or `[` after `]`".to_string())?;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let key = &rest[..end];
        if key.is_empty() {
            return Err("an empty key".into());
        }
        if key.contains(']') {
            return Err(format!("`{key}`: a `]` without its `[`"));
        }
        steps.push(if key == "*" {
            Step::AnyKey
        } else {
            Step::Key(key.to_string())
        });
        rest = &rest[end..];
        expect_key = false;
    }
    if steps.is_empty() {
        return Err("empty".into());
    }
    Ok(steps)
}

/// Report what the scan's `[[location]]` tables (`locations`) find in one
/// document (a Kubernetes-like one: `kind` or `apiVersion` at the top; the
/// items of a `kind: List` each on their own).
pub fn extract(locations: &[Location], doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    if locations.is_empty() {
        return;
    }
    let Some(root) = doc.resolve(root).filter(|&r| doc.is_map(r)) else {
        return;
    };
    let before = ex.out.images.len();
    if doc.get_str(root, "kind") == Some("List") {
        if let Some(items) = doc.get(root, "items").and_then(|i| doc.resolve(i)) {
            for &item in doc.seq_items(items) {
                if let Some(item) = doc.resolve(item).filter(|&i| doc.is_map(i)) {
                    object(locations, doc, item, ex);
                }
            }
        }
    } else {
        object(locations, doc, root, ex);
    }
    if ex.out.images.len() > before {
        // The document's images in the order they are written.
        let document = ex.document;
        let first = ex
            .out
            .images
            .iter()
            .position(|i| i.document == document)
            .unwrap_or(before);
        ex.out.images[first..].sort_by_key(|i| i.span.start);
    }
}

/// One Kubernetes-like object (mapping `root`).
fn object(locations: &[Location], doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let kind = doc.get_str(root, "kind");
    let api_version = doc.get_str(root, "apiVersion");
    if kind.is_none() && api_version.is_none() {
        return;
    }
    let meta = doc.get(root, "metadata").and_then(|m| doc.resolve(m));
    let meta_str = |k: &str| meta.and_then(|m| doc.get_str(m, k)).map(str::to_string);
    let context = ObjectContext {
        kind: kind.map(str::to_string),
        namespace: meta_str("namespace"),
        name: meta_str("name"),
        field: Some(KubernetesField::Location),
        ..ObjectContext::default()
    };
    for location in locations.iter().filter(|l| l.selects(kind, api_version)) {
        for (key, value) in select(doc, root, &location.path) {
            found(location, doc, key, value, &context, ex);
        }
    }
}

/// The nodes the path leads to from `root`, each with the node to point
/// at when it has no position of its own (its key, or itself).
fn select(doc: &Doc<'_>, root: NodeId, path: &[Step]) -> Vec<(NodeId, NodeId)> {
    let mut at = vec![(root, root)];
    for step in path {
        let mut next = Vec::new();
        for &(_, id) in &at {
            let Some(id) = doc.resolve(id) else { continue };
            match step {
                Step::Key(k) if doc.is_map(id) => next.extend(doc.entry(id, k)),
                Step::AnyKey if doc.is_map(id) => {
                    next.extend(doc.map_entries(id).chunks_exact(2).map(|kv| (kv[0], kv[1])));
                }
                Step::AnyItem if doc.is_seq(id) => {
                    next.extend(doc.seq_items(id).iter().map(|&i| (i, i)));
                }
                Step::Item(n) if doc.is_seq(id) => {
                    next.extend(doc.seq_items(id).get(*n).map(|&i| (i, i)));
                }
                Step::Where(k, v) if doc.is_seq(id) => next.extend(
                    doc.seq_items(id)
                        .iter()
                        .filter(|&&i| {
                            doc.resolve(i)
                                .is_some_and(|m| doc.is_map(m) && doc.get_str(m, k) == Some(v))
                        })
                        .map(|&i| (i, i)),
                ),
                _ => {}
            }
        }
        at = next;
    }
    at
}

/// Report the reference a location finds at scalar `value`.
fn found(
    location: &Location,
    doc: &Doc<'_>,
    key: NodeId,
    value: NodeId,
    context: &ObjectContext,
    ex: &mut Extraction<'_>,
) {
    let Some(id) = doc.resolve(value) else { return };
    let Some(s) = doc.scalar(id) else {
        return; // a mapping or sequence: not a reference
    };
    let what = format!("`{}`", location.path_text);
    if s.is_null() {
        let at = if s.value.is_empty() { key } else { id };
        ex.warn_at(doc, at, format!("{what} is null (no value); skipped"));
        return;
    }
    if !s.is_string() {
        let message = format!("{what} {:?} is not a string; skipped", s.value);
        ex.warn(s.line, s.column, message);
        return;
    }
    // The bytes of the reference inside the value.
    let part = match &location.pattern {
        None => 0..s.value.len(),
        Some(re) => match re.captures(s.value) {
            Some(c) => match c.name("image") {
                Some(m) => m.range(),
                // Matched, with the `image` group left out (`(?P<image>…)?`):
                // an empty reference, said as one.
                None => {
                    let message = format!("{what} {:?}: the pattern's `image` group is empty, not a reference; skipped", s.value);
                    ex.warn(s.line, s.column, message);
                    return;
                }
            },
            None => return, // another value at the same path
        },
    };
    let value = &s.value[part.clone()];
    // Only an exact scalar maps the value's bytes onto the file's; another
    // is reported whole and `pin` refuses it as it refuses any inexact one.
    let (span, column) = if s.exact {
        let start = s.content.start + part.start;
        (
            start..start + part.len(),
            s.column + s.value[..part.start].chars().count(),
        )
    } else {
        (s.content.clone(), s.column)
    };
    let document = ex.document;
    let overlaps = |r: &Range<usize>| r.start < span.end && span.start < r.end;
    if ex
        .out
        .images
        .iter()
        .any(|i| i.document == document && overlaps(&i.span))
        || ex
            .out
            .invalid
            .iter()
            .any(|i| i.line == s.line && i.column == column)
    {
        return; // found by the built-in rules or an earlier location
    }
    if let Some(kind) = super::extraction::placeholder(value) {
        let message = format!("{what} {value:?} is {kind}, not a reference; skipped");
        ex.warn_placeholder(s.line, column, message);
        return;
    }
    match Reference::parse(value) {
        Ok(reference) => ex.out.images.push(FoundImage {
            file: ex.file(),
            line: s.line,
            column,
            edit: EditPlan::Replace { span: span.clone() },
            span,
            style: s.style,
            exact: s.exact,
            field: ImageField::Location,
            reference,
            context: Context::Kubernetes(context.clone()),
            document,
        }),
        Err(e) => ex.out.invalid.push(InvalidImage {
            file: ex.file(),
            line: s.line,
            column,
            value: value.to_string(),
            message: e.reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_steps() {
        assert_eq!(
            parse_path("spec.template.spec.containers[*].env[?name=RELOADER_IMAGE].value").unwrap(),
            vec![
                Step::Key("spec".into()),
                Step::Key("template".into()),
                Step::Key("spec".into()),
                Step::Key("containers".into()),
                Step::AnyItem,
                Step::Key("env".into()),
                Step::Where("name".into(), "RELOADER_IMAGE".into()),
                Step::Key("value".into()),
            ]
        );
        assert_eq!(
            parse_path("a[0][*].*").unwrap(),
            vec![
                Step::Key("a".into()),
                Step::Item(0),
                Step::AnyItem,
                Step::AnyKey
            ]
        );
    }

    #[test]
    fn bad_paths_say_why() {
        for (path, why) in [
            ("", "empty"),
            ("a..b", "an empty key"),
            ("a[x]", "`[x]`: write"),
            ("a[*", "without its `]`"),
            ("a[*]b", "expected `.`"),
            ("a[?=x]", "[?key=VALUE]"),
            ("a]", "without its `[`"),
        ] {
            let e = parse_path(path).unwrap_err();
            assert!(e.contains(why), "{path}: {e}");
        }
    }
}
