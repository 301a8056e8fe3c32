//! The Helm values extractor: images in a chart's values file, in the
//! split form most charts use and as plain `image` strings.
//!
//! A mapping under any key (`image:`, `thanosImage:`, `kubectl:`) with a
//! `repository` and a `tag` is an image: `registry` (when not empty) joins
//! as `registry/repository`, and a digest written in `digest` (Bitnami:
//! `sha256:…`) or `sha` (kube-prometheus-stack: the bare hex) is part of
//! the reference, so a pinned mapping reads as pinned. `tag: ""` (or
//! `tag:`) means the chart's `appVersion`, read from the `Chart.yaml`
//! beside the values file; without one the image is skipped with a
//! warning. A tag YAML reads as a number or boolean is skipped with a
//! warning (Helm would print `1.10` as `1.1`). A mapping with neither key
//! (`image: {distroless: true}`) is no image, and comments are never read.
//!
//! Pinning writes the digest into the chart's own digest key, in the form
//! its templates print: `digest: sha256:…` (Bitnami's
//! `common.images.image` prints `repo@digest`), `sha: <hex>`
//! (kube-prometheus-stack prints `repo:tag@sha256:{{ .sha }}`). A mapping
//! with no digest key is [`EditPlan::Unpinnable`]: no key is ever added
//! that the chart's templates might not read.
//!
//! `global.imageRegistry` is not applied: only charts built on Bitnami's
//! common library read it, so when it is set the scan warns once (render
//! the chart with `helm template` to lock what it pulls).
//!
//! Which files: [`is_values_name`] (walked or named) and any file given
//! with `--helm-values`; never guessed from content.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use super::extract::Extraction;
use super::yaml::{Doc, NodeId, QuoteStyle};
use super::{Context, FoundImage, ImageField, InvalidImage};
use crate::reference::Reference;
use crate::rewrite::EditPlan;

/// Where an image sits in a values file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HelmImage {
    /// Dotted path of the image mapping, or of the `image` key holding a
    /// plain string (`prometheus.prometheusSpec.image`, `sidecars[0].image`).
    pub key: String,
    /// The key `pin` writes the digest into (`digest`, `sha`), when the
    /// mapping has one.
    pub digest_key: Option<String>,
    /// The tag is the chart's `appVersion` (`tag: ""`).
    pub app_version: bool,
}

/// A Helm values file by its name: `values*.yaml` or `values*.yml`
/// (`values.yaml`, `values-prod.yaml`, `values.dev.yml`).
pub fn is_values_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("values") && (n.ends_with(".yaml") || n.ends_with(".yml")))
}

/// Deeper than this, a values file is not walked further.
const MAX_DEPTH: usize = 128;

/// Read every image of one values document.
pub fn extract(doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let Some(root) = doc.resolve(root) else {
        return;
    };
    warn_global_registry(doc, root, ex);
    let mut walk = Walk {
        ex,
        app_version: None,
        seen: HashSet::new(),
    };
    let mut path = Vec::new();
    walk.node(doc, root, &mut path, 0);
}

/// `global.imageRegistry`, when set, is a Bitnami-library override that
/// imagelock does not apply: say so once.
fn warn_global_registry(doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let Some(global) = doc.get(root, "global").and_then(|g| doc.resolve(g)) else {
        return;
    };
    let Some(v) = doc
        .get(global, "imageRegistry")
        .and_then(|v| doc.resolve(v))
    else {
        return;
    };
    let Some(s) = doc.scalar(v) else { return };
    if s.is_null() || s.value.is_empty() {
        return;
    }
    ex.warn(
        s.line,
        s.column,
        format!(
            "global.imageRegistry {:?} is not applied: charts built on Bitnami's common library pull every image from it, other charts ignore it; imagelock reads each image's own `registry` (render the chart with `helm template` and scan that to lock what it pulls)",
            s.value
        ),
    );
}

struct Walk<'e, 'p> {
    ex: &'e mut Extraction<'p>,
    /// The chart's `appVersion`, or why there is none; read once, when a
    /// `tag: ""` needs it.
    app_version: Option<Result<String, String>>,
    /// `repository` nodes already reported (aliases repeat them).
    seen: HashSet<NodeId>,
}

impl Walk<'_, '_> {
    /// Walk a mapping or sequence (not through aliases: an anchored node
    /// is walked where it is defined).
    fn node(&mut self, doc: &Doc<'_>, id: NodeId, path: &mut Vec<String>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for kv in doc.map_entries(id).chunks_exact(2) {
            let Some(key) = doc.scalar_str(kv[0]) else {
                continue;
            };
            path.push(key.to_string());
            match doc.resolve(kv[1]) {
                Some(v) if doc.is_map(v) && is_split_image(doc, v) => {
                    self.split(doc, v, &path.join("."));
                }
                Some(v) if key == "image" && doc.is_scalar(v) => {
                    self.plain(doc, kv[0], v, &path.join("."));
                }
                _ if doc.alias_target(kv[1]).is_some() => {}
                _ => self.node(doc, kv[1], path, depth + 1),
            }
            path.pop();
        }
        for (i, &item) in doc.seq_items(id).iter().enumerate() {
            if doc.alias_target(item).is_some() {
                continue;
            }
            let last = path.pop().unwrap_or_default();
            path.push(format!("{last}[{i}]"));
            self.node(doc, item, path, depth + 1);
            path.pop();
            path.push(last);
        }
    }

    /// `image: repo:tag`, a plain string (an empty one means "the chart's
    /// default" and is skipped).
    fn plain(&mut self, doc: &Doc<'_>, key: NodeId, value: NodeId, path: &str) {
        let Some(s) = doc.scalar(value) else { return };
        if s.is_null() || !s.is_string() || s.value.is_empty() {
            return;
        }
        let context = Context::HelmValues(HelmImage {
            key: path.to_string(),
            digest_key: None,
            app_version: false,
        });
        self.ex
            .image(doc, key, value, ImageField::Image, context, "image");
    }

    /// A mapping with `repository` and `tag`.
    fn split(&mut self, doc: &Doc<'_>, map: NodeId, path: &str) {
        let Some(repo_id) = doc.get(map, "repository").and_then(|r| doc.resolve(r)) else {
            return;
        };
        let Some(repo) = doc.scalar(repo_id) else {
            return;
        };
        if !self.seen.insert(repo_id) {
            return;
        }
        if repo.is_null() || !repo.is_string() || repo.value.trim().is_empty() {
            self.ex.warn(
                repo.line,
                repo.column,
                format!("{path}.repository is empty or not a string; skipped"),
            );
            return;
        }
        let Some(tag) = self.tag(doc, map, path) else {
            return;
        };
        let registry = doc
            .get_str(map, "registry")
            .filter(|r| !r.is_empty())
            .map(|r| format!("{}/", r.trim_end_matches('/')))
            .unwrap_or_default();
        let (digest_key, written_digest, edit) = digest_of(doc, map, path);
        let written = format!(
            "{registry}{}:{}{}",
            repo.value,
            tag.value,
            written_digest.unwrap_or_default()
        );
        if written.contains("{{") || written.contains("${") {
            self.ex.warn(
                repo.line,
                repo.column,
                format!("{path}: {written:?} is a template, not a reference; skipped"),
            );
            return;
        }
        let reference = match Reference::parse(&written) {
            Ok(r) => r,
            Err(e) => {
                self.ex.out.invalid.push(InvalidImage {
                    file: self.ex.file(),
                    line: repo.line,
                    column: repo.column,
                    value: written,
                    message: e.reason,
                });
                return;
            }
        };
        self.ex.out.images.push(FoundImage {
            file: self.ex.file(),
            line: repo.line,
            column: repo.column,
            span: repo.content.clone(),
            edit,
            style: repo.style,
            exact: repo.exact,
            field: ImageField::HelmRepository,
            reference,
            context: Context::HelmValues(HelmImage {
                key: path.to_string(),
                digest_key,
                app_version: tag.app_version,
            }),
            document: self.ex.document,
        });
    }

    /// The tag of a split mapping: as written, or the chart's
    /// `appVersion` for `tag: ""`; `None` (with a warning) when there is
    /// none to use.
    fn tag(&mut self, doc: &Doc<'_>, map: NodeId, path: &str) -> Option<Tag> {
        let (key, value) = doc.entry(map, "tag")?;
        let Some(id) = doc.resolve(value) else {
            self.ex.warn_at(
                doc,
                key,
                format!("{path}.tag: the alias refers to an unknown anchor; skipped"),
            );
            return None;
        };
        let s = doc.scalar(id)?;
        if s.is_null() || (s.is_string() && s.value.is_empty()) {
            let at = if s.value.is_empty() && s.style == QuoteStyle::Plain {
                key
            } else {
                id
            };
            let version = self
                .app_version
                .get_or_insert_with(|| chart_app_version(self.ex.path()))
                .clone();
            return match version {
                Ok(v) => Some(Tag {
                    value: v,
                    app_version: true,
                }),
                Err(why) => {
                    self.ex.warn_at(
                        doc,
                        at,
                        format!(
                            "{path}.tag is empty, so the chart's appVersion applies, but {why}; skipped"
                        ),
                    );
                    None
                }
            };
        }
        if let Some(what) = s.go_yaml_non_string() {
            self.ex.warn(
                s.line,
                s.column,
                format!(
                    "{path}.tag {} is not a string: YAML reads {what}, which Helm may print differently (`1.10` as `1.1`); quote it; skipped",
                    s.value
                ),
            );
            return None;
        }
        Some(Tag {
            value: s.value.to_string(),
            app_version: false,
        })
    }
}

struct Tag {
    value: String,
    app_version: bool,
}

/// A mapping with both `repository` and `tag` keys.
fn is_split_image(doc: &Doc<'_>, map: NodeId) -> bool {
    doc.entry(map, "repository").is_some() && doc.entry(map, "tag").is_some()
}

/// The mapping's digest key, the `@…` it adds to the reference (none when
/// empty), and how `pin` writes into it.
fn digest_of(doc: &Doc<'_>, map: NodeId, path: &str) -> (Option<String>, Option<String>, EditPlan) {
    let found = ["digest", "sha"]
        .into_iter()
        .find_map(|k| doc.entry(map, k).map(|e| (k, e)));
    let Some((name, (key, value))) = found else {
        return (
            None,
            None,
            EditPlan::Unpinnable {
                reason: format!(
                    "the values mapping `{path}` has no `digest` or `sha` key to write the digest into"
                ),
                hint: "if the chart's templates read a digest key, add it (`digest: \"\"` for Bitnami charts, `sha: \"\"` for kube-prometheus-stack) and run `imagelock pin` again; imagelock never adds a key the chart might not read".into(),
            },
        );
    };
    let written = doc
        .scalar(value)
        .filter(|s| !s.is_null() && s.is_string() && !s.value.is_empty())
        .map(|s| match name {
            "sha" => format!("@sha256:{}", s.value),
            _ => format!("@{}", s.value),
        });
    let key_at = doc.scalar(key).map_or(0, |k| k.content.start);
    let edit = match value_span(doc, key, value) {
        Some(span) if name == "sha" => EditPlan::SetDigestHex { span, key_at },
        Some(span) => EditPlan::SetValue { span, key_at },
        None => EditPlan::Unpinnable {
            reason: format!(
                "`{path}.{name}` is not written as a plain or quoted scalar on the key's line"
            ),
            hint: format!("write `{name}: \"\"` and run `imagelock pin` again"),
        },
    };
    (Some(name.to_string()), written, edit)
}

/// The bytes a value occupies, quotes included; an empty range right after
/// the key's `:` when the value is empty. `None` for a block scalar or an
/// alias.
fn value_span(doc: &Doc<'_>, key: NodeId, value: NodeId) -> Option<Range<usize>> {
    let text = doc.text().as_bytes();
    let v = doc.scalar(value)?;
    match v.style {
        QuoteStyle::Plain if v.value.is_empty() => {
            let k = doc.scalar(key)?;
            let mut at = k.content.end;
            if k.style != QuoteStyle::Plain {
                at += 1;
            }
            while matches!(text.get(at), Some(b' ' | b'\t')) {
                at += 1;
            }
            (text.get(at) == Some(&b':')).then_some(at + 1..at + 1)
        }
        QuoteStyle::Plain => Some(v.content),
        QuoteStyle::SingleQuoted | QuoteStyle::DoubleQuoted => {
            let (start, end) = (v.content.start.checked_sub(1)?, v.content.end + 1);
            let quote = |i: usize| matches!(text.get(i), Some(b'\'' | b'"'));
            (quote(start) && quote(end - 1) && v.line == doc.position(key).0).then_some(start..end)
        }
        QuoteStyle::Literal | QuoteStyle::Folded => None,
    }
}

/// The `appVersion` of the `Chart.yaml` beside a values file, or why
/// there is none ("there is no chart/Chart.yaml").
fn chart_app_version(values: &Path) -> Result<String, String> {
    let chart = values
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join("Chart.yaml");
    let text = match fs_err::read_to_string(&chart) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("there is no {}", chart.display()))
        }
        Err(e) => return Err(e.to_string()),
    };
    let v = crate::yaml_value::document(&text).map_err(|e| format!("{}: {e}", chart.display()))?;
    match v.get("appVersion") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        _ => Err(format!("{} has no appVersion", chart.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{scan_text_in, FileScan, Scope};

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn scan(path: &Path, text: &str) -> FileScan {
        scan_text_in(path, text, Scope::HelmValues).unwrap()
    }

    fn refs(s: &FileScan) -> Vec<(usize, usize, String)> {
        s.images
            .iter()
            .map(|i| (i.line, i.column, i.reference.original().to_string()))
            .collect()
    }

    fn helm(i: &FoundImage) -> &HelmImage {
        match &i.context {
            Context::HelmValues(h) => h,
            c => panic!("not a values image: {c:?}"),
        }
    }

    #[test]
    fn names_that_are_values_files() {
        for n in [
            "values.yaml",
            "values.yml",
            "values-prod.yaml",
            "x/values.dev.yml",
        ] {
            assert!(is_values_name(Path::new(n)), "{n}");
        }
        for n in ["my-values.yaml", "values.json", "values", "Chart.yaml"] {
            assert!(!is_values_name(Path::new(n)), "{n}");
        }
    }

    #[test]
    fn a_digest_key_takes_the_prefixed_digest() {
        let text = "image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 8.2.1\n  digest: \"\"\n";
        let s = scan(Path::new("values.yaml"), text);
        assert_eq!(
            refs(&s),
            [(3, 15, "docker.io/bitnami/redis:8.2.1".to_string())]
        );
        let img = &s.images[0];
        assert_eq!(&text[img.span.clone()], "bitnami/redis");
        assert_eq!(img.field, ImageField::HelmRepository);
        assert_eq!(helm(img).digest_key.as_deref(), Some("digest"));
        let EditPlan::SetValue { span, .. } = &img.edit else {
            panic!("{:?}", img.edit)
        };
        assert_eq!(&text[span.clone()], "\"\"");

        // A digest written is part of the reference.
        let pinned = text.replace("\"\"", &format!("sha256:{HEX}"));
        let s = scan(Path::new("values.yaml"), &pinned);
        assert_eq!(
            s.images[0].reference.original(),
            format!("docker.io/bitnami/redis:8.2.1@sha256:{HEX}")
        );
        let EditPlan::SetValue { span, .. } = &s.images[0].edit else {
            panic!()
        };
        assert_eq!(&pinned[span.clone()], format!("sha256:{HEX}"));
    }

    #[test]
    fn a_sha_key_takes_the_bare_hex() {
        let text = "thanosImage:\n  registry: quay.io\n  repository: thanos/thanos\n  tag: v0.42.4\n  sha: ''\n";
        let s = scan(Path::new("values.yaml"), text);
        assert_eq!(
            refs(&s),
            [(3, 15, "quay.io/thanos/thanos:v0.42.4".to_string())]
        );
        assert_eq!(helm(&s.images[0]).key, "thanosImage");
        assert_eq!(helm(&s.images[0]).digest_key.as_deref(), Some("sha"));
        let EditPlan::SetDigestHex { span, .. } = &s.images[0].edit else {
            panic!("{:?}", s.images[0].edit)
        };
        assert_eq!(&text[span.clone()], "''");

        let pinned = text.replace("''", HEX);
        let s = scan(Path::new("values.yaml"), &pinned);
        assert_eq!(
            s.images[0].reference.original(),
            format!("quay.io/thanos/thanos:v0.42.4@sha256:{HEX}")
        );
        // An empty value: the edit goes right after the colon.
        let bare = text.replace(" ''", "");
        let s = scan(Path::new("values.yaml"), &bare);
        let EditPlan::SetDigestHex { span, .. } = &s.images[0].edit else {
            panic!()
        };
        assert!(span.is_empty() && bare[..span.start].ends_with("sha:"));
    }

    #[test]
    fn no_digest_key_is_unpinnable() {
        let text =
            "app:\n  image:\n    repository: nginx\n    tag: \"1.25\"\n    pullPolicy: Always\n";
        let s = scan(Path::new("values.yaml"), text);
        assert_eq!(refs(&s), [(3, 17, "nginx:1.25".to_string())]);
        assert_eq!(helm(&s.images[0]).key, "app.image");
        assert!(matches!(s.images[0].edit, EditPlan::Unpinnable { .. }));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn registry_joins_and_an_empty_one_is_left_out() {
        let text = "a:\n  registry: ghcr.io/\n  repository: org/a\n  tag: v1\nb:\n  registry: \"\"\n  repository: org/b\n  tag: v2\n";
        let s = scan(Path::new("values.yaml"), text);
        let got: Vec<_> = refs(&s).into_iter().map(|r| r.2).collect();
        assert_eq!(got, ["ghcr.io/org/a:v1", "org/b:v2"]);
    }

    #[test]
    fn an_empty_tag_is_the_charts_app_version() {
        let dir = tempfile::tempdir().unwrap();
        let values = dir.path().join("values.yaml");
        let text = "image:\n  repository: nginx\n  tag: \"\"\n  digest: \"\"\nother:\n  repository: busybox\n  tag:\n  digest:\n";
        // Without Chart.yaml: a warning at each tag, no image.
        let s = scan(&values, text);
        assert!(s.images.is_empty());
        let w: Vec<_> = s
            .warnings
            .iter()
            .map(|w| (w.line, w.column, w.message.as_str()))
            .collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!((w[0].0, w[0].1), (3, 9)); // after the quote
        assert_eq!((w[1].0, w[1].1), (7, 3));
        assert!(w[0].2.contains("appVersion") && w[0].2.contains("Chart.yaml"));

        fs_err::write(dir.path().join("Chart.yaml"), "apiVersion: v2\nname: x\n").unwrap();
        let s = scan(&values, text);
        assert!(s.images.is_empty());
        assert!(s.warnings[0].message.contains("has no appVersion"));

        fs_err::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: x\nappVersion: \"1.27.0\"\n",
        )
        .unwrap();
        let s = scan(&values, text);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let got: Vec<_> = refs(&s).into_iter().map(|r| r.2).collect();
        assert_eq!(got, ["nginx:1.27.0", "busybox:1.27.0"]);
        assert!(helm(&s.images[0]).app_version);
    }

    #[test]
    fn quoted_tags_are_strings_and_number_tags_are_warned() {
        let text = "a:\n  repository: x\n  tag: 'latest'\nb:\n  repository: y\n  tag: \"1.10\"\nc:\n  repository: z\n  tag: 1.10\n";
        let s = scan(Path::new("values.yaml"), text);
        let got: Vec<_> = refs(&s).into_iter().map(|r| r.2).collect();
        assert_eq!(got, ["x:latest", "y:1.10"]);
        assert_eq!(s.warnings.len(), 1);
        assert_eq!((s.warnings[0].line, s.warnings[0].column), (9, 8));
        assert!(s.warnings[0].message.contains("quote it"));
    }

    #[test]
    fn non_image_mappings_and_comments_are_not_images() {
        let text = "# image: quay.io/commented:1\nimage:\n  distroless: true\nprometheus:\n  ## image:\n  ##   repository: x\n  repository: https://charts.example\nlist:\n  - name: a\n    image: busybox:1.36\n  - image: \"\"\n";
        let s = scan(Path::new("values.yaml"), text);
        assert_eq!(refs(&s), [(10, 12, "busybox:1.36".to_string())]);
        assert_eq!(helm(&s.images[0]).key, "list[0].image");
        assert!(matches!(s.images[0].edit, EditPlan::Replace { .. }));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert!(s.notes.is_empty());
    }

    #[test]
    fn global_image_registry_is_warned_not_applied() {
        let text = "global:\n  imageRegistry: mirror.example\nimage:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: '8'\n  digest: ''\n";
        let s = scan(Path::new("values.yaml"), text);
        assert_eq!(
            s.images[0].reference.original(),
            "docker.io/bitnami/redis:8"
        );
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].message.contains("global.imageRegistry"));
    }

    #[test]
    fn an_anchored_image_is_reported_once() {
        let text = "a: &img\n  repository: x\n  tag: '1'\n  digest: ''\nb: *img\n";
        let s = scan(Path::new("values.yaml"), text);
        assert_eq!(s.images.len(), 1);
    }
}
