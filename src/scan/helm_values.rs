//! The Helm values extractor: the images a chart composes from its values
//! file, read only where the composition is certain, a warning at the key
//! everywhere else.
//!
//! imagelock does not render the chart, so each convention read here is a
//! claim about how charts' templates print an image string. The
//! conventions read exactly (the README's "Helm values" lists them):
//!
//! - **Split form**: a mapping with a `repository` (and `tag`, `registry`,
//!   `digest` or `sha`) under any key (`image:`, `thanosImage:`) prints as
//!   `[registry/]repository:tag[@digest]`. Bitnami's library prints
//!   `repository@digest` without the tag when a digest is set: the same
//!   image, so the reference keeps both.
//! - **`image` + `tag`**: a mapping whose `image` holds the repository
//!   path beside a `tag` (ingress-nginx: `{image: ingress-nginx/controller,
//!   tag: v1.15.1, digest: sha256:…}`) prints `registry/image:tag@digest`,
//!   the registry being the mapping's own or `global.image.registry`. A
//!   second digest key (`digestChroot`) is a variant's, not another image.
//! - **A plain `image` string** (`image: nginx:1.25`), or an image string
//!   under a key named like one (consul's `imageK8S`) that carries a tag or
//!   digest.
//! - **An empty or missing tag** is the chart's `appVersion` only when a
//!   template line prints `.Values.<key>.tag | default .Chart.AppVersion`
//!   unchanged (or Bitnami's `common.images.image` is given the chart):
//!   [`chart`] reads the templates beside the values file for that.
//! - **A number tag** is read when Helm prints it as written (`1.37`, not
//!   `1.10`): [`printed`].
//!
//! Everything else is a warning at its key naming what the template
//! decides (a null `registry`, a `defaultRegistry`, a short name under a
//! `hub`, `global.imageRegistry`, a subchart's values, `imageRegistry` +
//! `imageNamespace` + `name`), pointing to render-time locking (`helm
//! template … | imagelock lock -`), which is exact for any chart. The
//! subcharts `Chart.yaml` names are a note: their images are not in this
//! file.
//!
//! What Helm merges in or applies afterwards decides as well, and leaves
//! the image to the chart with a warning: the chart's `values.yaml` under
//! another values file of it, a parent chart's values over an unpacked
//! subchart's, a registry put before every image (`global.registry`,
//! `global.image.registry`, `systemDefaultRegistry`, …), YAML that reads
//! otherwise than it looks (a key written twice, `<<`, a second document,
//! `tag: 0`), Argo CD `helm.parameters` and a Flux kustomize post-renderer
//! over embedded values.
//!
//! Pinning writes the digest into the chart's own digest key, in the form
//! its templates print: `digest: sha256:…`, `sha: <hex>` (kube-prometheus-
//! stack prints `repo:tag@sha256:{{ .sha }}`). A mapping with no digest
//! key (or with `useDigest: false`) is [`EditPlan::Unpinnable`]: no key is
//! ever added that the chart's templates might not read.
//!
//! Which files: [`is_values_name`] (walked or named), any file given with
//! `--helm-values`, and a Flux `HelmRelease`'s `spec.values`
//! ([`extract_embedded`]).

mod chart;
mod printed;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use super::extract::Extraction;
use super::yaml::{Doc, NodeId, QuoteStyle, Scalar};
use super::{Context, FoundImage, ImageField, InvalidImage};
use crate::reference::Reference;
use crate::rewrite::EditPlan;
use chart::{Chart, ShaForm};

/// Where an image sits in a values file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HelmImage {
    /// Dotted path of the image mapping, or of the key holding a plain
    /// string (`prometheus.prometheusSpec.image`, `sidecars[0].image`).
    pub key: String,
    /// The key `pin` writes the digest into (`digest`, `sha`), when the
    /// mapping has one.
    pub digest_key: Option<String>,
    /// The tag is the chart's `appVersion` (`tag: ""` or no `tag`).
    pub app_version: bool,
    /// Where the registry came from when not from the mapping itself
    /// (`global.image.registry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_from: Option<String>,
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

/// What a warning tells the user to do instead.
const RENDER: &str =
    "lock the rendered chart instead: `helm template RELEASE CHART -f VALUES | imagelock lock -`";

/// Read every image of one values document.
pub fn extract(doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let Some(root) = doc.resolve(root) else {
        return;
    };
    if ex.document > 0 {
        // go-yaml's Unmarshal, which Helm reads values with, stops at the
        // first document.
        if !doc.map_entries(root).is_empty() || !doc.seq_items(root).is_empty() {
            ex.warn_at(
                doc,
                root,
                "Helm reads only the first document of a values file; the images in this one are never rendered and are not read; move them into the first document".into(),
            );
        }
        return;
    }
    let chart = Chart::beside(ex.path());
    // Any values file but the chart's own `values.yaml` is merged over it.
    let is_defaults = ex.path().file_name().is_some_and(|n| n == "values.yaml");
    let defaults = (!is_defaults).then(|| chart.defaults().cloned()).flatten();
    let parents = chart.parent_values();
    let mut walk = Walk::new(doc, root, ex, Some(chart));
    if let Some(defaults) = defaults {
        walk.inherit_globals(&defaults);
        walk.defaults = Some(defaults);
    }
    for (key, values) in &parents {
        if key == "global" {
            walk.inherit_globals(values);
        }
    }
    walk.parents = parents;
    walk.note_subcharts();
    walk.node(doc, root, &mut Vec::new(), 0);
}

/// Read the chart values embedded in another document (a Flux
/// `HelmRelease`'s `spec.values`), whose chart is not beside the file:
/// `prefix` is the dotted path of `values` (`spec.values`).
///
/// `over` names what the release applies over these values: an Argo CD
/// `helm.parameters` entry sets a key after them, a Flux post-renderer
/// rewrites the rendered manifests.
pub fn extract_embedded(
    doc: &Doc<'_>,
    values: NodeId,
    prefix: &str,
    over: Over,
    ex: &mut Extraction<'_>,
) {
    let Some(values) = doc.resolve(values) else {
        return;
    };
    if !doc.is_map(values) {
        return;
    }
    let mut walk = Walk::new(doc, values, ex, None);
    walk.over = over;
    let mut path = vec![prefix.to_string()];
    walk.node(doc, values, &mut path, 0);
}

/// What a release applies over its embedded values (see
/// [`extract_embedded`]).
#[derive(Debug, Default, Clone)]
pub struct Over {
    /// Argo CD `helm.parameters` names (`image.tag`), which win over the
    /// values, with the line of `parameters`.
    pub parameters: Vec<String>,
    pub parameters_line: usize,
    /// A Flux `spec.postRenderers` entry running kustomize (`images`,
    /// patches) over the rendered chart: its line.
    pub post_renderer_line: Option<usize>,
}

impl Over {
    /// Why the image at `key` (relative to the values: `image`,
    /// `server.image`) may be rendered otherwise than its values say.
    fn overrides(&self, key: &str) -> Option<String> {
        if let Some(line) = self.post_renderer_line {
            return Some(format!(
                "the post-renderer at line {line} (kustomize) may rewrite the rendered image"
            ));
        }
        let p = self.parameters.iter().find(|p| {
            p.starts_with("global.")
                || *p == key
                || p.strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with('.'))
                || key
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })?;
        Some(format!(
            "the `helm.parameters` entry {p:?} (line {}) sets it after these values",
            self.parameters_line
        ))
    }
}

struct Walk<'e, 'p> {
    /// What the release applies over embedded values.
    over: Over,
    /// The chart's `values.yaml`, when this file is another values file
    /// of the chart (Helm merges this file over it).
    defaults: Option<serde_json::Value>,
    /// A parent chart's values for this one (when it is unpacked in the
    /// parent's `charts/`): (the key they sit under, the values).
    parents: Vec<(String, serde_json::Value)>,
    ex: &'e mut Extraction<'p>,
    /// The chart beside the values file; `None` for embedded values.
    chart: Option<Chart>,
    /// A registry for every image, when set: (dotted key, value) of
    /// `global.imageRegistry` (Bitnami, kube-prometheus-stack),
    /// `global.registry` and `global.image.registry` (loki's fallbacks),
    /// `global.cattle.systemDefaultRegistry` or `systemDefaultRegistry`
    /// (Rancher's charts).
    global_image_registry: Option<(String, String)>,
    /// `global.image.registry` when set (ingress-nginx's convention).
    global_registry: Option<String>,
    /// The keys of `global.image` other than `registry` that are set.
    global_image_others: Vec<String>,
    /// `global.hub` is set (istio's convention).
    global_hub: bool,
    /// `repository`/`image` nodes already reported (aliases repeat them).
    seen: HashSet<NodeId>,
}

/// The keys of a split mapping that make it an image.
const SPLIT_SIBLINGS: [&str; 6] = ["tag", "registry", "digest", "sha", "pullPolicy", "version"];

/// The keys of an image mapping that make up its reference.
const COMPOSING: [&str; 14] = [
    "registry",
    "repository",
    "image",
    "tag",
    "digest",
    "sha",
    "useDigest",
    "override",
    "hub",
    "defaultRegistry",
    "chroot",
    "name",
    "version",
    "imageRegistry",
];

/// Keys whose value the template may add to the printed reference.
/// (cilium's operator prints `repository-<cloud><suffix>:tag`.)
const MODIFIERS: [&str; 7] = [
    "variant",
    "flavor",
    "flavour",
    "suffix",
    "tagPrefix",
    "tagSuffix",
    "tagLabel",
];

impl<'e, 'p> Walk<'e, 'p> {
    fn new(doc: &Doc<'_>, root: NodeId, ex: &'e mut Extraction<'p>, chart: Option<Chart>) -> Self {
        let global = doc.get(root, "global").and_then(|g| doc.resolve(g));
        let string_at = |map: Option<NodeId>, key: &str| {
            map.and_then(|m| doc.get(m, key))
                .and_then(|v| doc.resolve(v))
                .and_then(|v| doc.scalar(v))
                .filter(|s| !s.is_null() && s.is_string() && !s.value.trim().is_empty())
                .map(|s| s.value.to_string())
        };
        let global_image = global
            .and_then(|g| doc.get(g, "image"))
            .and_then(|i| doc.resolve(i))
            .filter(|i| doc.is_map(*i));
        // ingress-nginx's `merge <component>.image .Values.global.image`
        // fills every key a component leaves out or empty, not only the
        // registry.
        let global_image_others = global_image
            .map(|g| {
                doc.map_entries(g)
                    .chunks_exact(2)
                    .filter(|kv| {
                        doc.scalar_str(kv[0]).is_some_and(|k| k != "registry")
                            && doc.resolve(kv[1]).is_some_and(|v| {
                                doc.scalar(v)
                                    .is_none_or(|s| !s.is_null() && !s.value.is_empty())
                            })
                    })
                    .filter_map(|kv| doc.scalar_str(kv[0]).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Walk {
            global_image_others,
            global_image_registry: [
                ("global.imageRegistry", string_at(global, "imageRegistry")),
                ("global.registry", string_at(global, "registry")),
                ("global.image.registry", string_at(global_image, "registry")),
                (
                    "global.cattle.systemDefaultRegistry",
                    string_at(
                        global
                            .and_then(|g| doc.get(g, "cattle"))
                            .and_then(|c| doc.resolve(c)),
                        "systemDefaultRegistry",
                    ),
                ),
                (
                    "systemDefaultRegistry",
                    string_at(Some(root), "systemDefaultRegistry"),
                ),
            ]
            .into_iter()
            .find_map(|(k, v)| v.map(|v| (k.to_string(), v))),
            global_registry: string_at(global_image, "registry"),
            global_hub: string_at(global, "hub").is_some(),
            ex,
            chart,
            seen: HashSet::new(),
            over: Over::default(),
            defaults: None,
            parents: Vec::new(),
        }
    }

    /// The subcharts `Chart.yaml` names: their images are set in their
    /// own values files, not in this one.
    fn note_subcharts(&mut self) {
        let Some(chart) = &self.chart else { return };
        let Ok(meta) = chart.meta() else { return };
        if meta.dependencies.is_empty() {
            return;
        }
        let names = meta.dependencies.join(", ");
        let note = format!(
            "{}: the chart's Chart.yaml names subcharts ({names}); the images they define are in their own values files, not in this one, and are not read here; {RENDER}",
            self.ex.path().display()
        );
        self.ex.out.notes.push(note);
    }

    /// The subchart whose values a top-level key holds, if any.
    fn subchart_of(&self, path: &[String]) -> Option<String> {
        let meta = self.chart.as_ref()?.meta().ok()?;
        let top = path.first()?;
        let top = top.split('[').next().unwrap_or(top);
        meta.dependencies.iter().find(|d| *d == top).cloned()
    }

    /// Walk a mapping or sequence (not through aliases: an anchored node
    /// is walked where it is defined).
    fn node(&mut self, doc: &Doc<'_>, id: NodeId, path: &mut Vec<String>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let entries = doc.map_entries(id);
        // A key written twice: Helm keeps the last one (go-yaml, not
        // strict); imagelock reads neither as part of an image.
        let mut duplicated = false;
        for (i, kv) in entries.chunks_exact(2).enumerate() {
            let Some(key) = doc.scalar_str(kv[0]) else {
                continue;
            };
            let later = entries
                .chunks_exact(2)
                .skip(i + 1)
                .find(|other| doc.scalar_str(other[0]) == Some(key));
            if let Some(later) = later {
                duplicated = true;
                let mut at = path.clone();
                at.push(key.to_string());
                self.ex.warn_at(
                    doc,
                    kv[0],
                    format!(
                        "{} is written again at line {} of the same mapping: Helm keeps the last one, and imagelock reads no image from a mapping with a key written twice; remove one",
                        dotted(&at),
                        doc.position(later[0]).0
                    ),
                );
            }
        }
        // A merge key brings keys in from elsewhere (`<<: *defaults`).
        let merged = doc.is_map(id) && doc.entry(id, "<<").is_some();
        let consumed: &[&str] = if !doc.is_map(id) || duplicated {
            &[]
        } else if merged {
            self.merged_image(doc, id, path);
            &[]
        } else {
            self.mapping(doc, id, path)
        };
        let hub_here = doc.is_map(id) && doc.entry(id, "hub").is_some();
        for (i, kv) in entries.chunks_exact(2).enumerate() {
            let Some(key) = doc.scalar_str(kv[0]) else {
                continue;
            };
            if consumed.contains(&key) || key == "<<" {
                continue;
            }
            if duplicated
                && entries
                    .chunks_exact(2)
                    .skip(i + 1)
                    .any(|other| doc.scalar_str(other[0]) == Some(key))
            {
                continue;
            }
            path.push(key.to_string());
            match doc.resolve(kv[1]) {
                Some(v)
                    if doc.alias_target(kv[1]).is_some()
                        && doc.is_scalar(v)
                        && (key == "image" || is_image_string_key(key))
                        && !self.seen.contains(&v) =>
                {
                    self.warn_alias(doc, kv[0], v, path);
                }
                _ if doc.alias_target(kv[1]).is_some() => {}
                Some(v) if key == "image" && doc.is_scalar(v) => {
                    self.plain(doc, kv[0], v, path, hub_here);
                }
                Some(v) if is_image_string_key(key) && doc.is_scalar(v) => {
                    self.named_string(doc, kv[0], v, path);
                }
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

    /// The globals the chart's `values.yaml` sets and this file does not
    /// (Helm merges them in).
    fn inherit_globals(&mut self, defaults: &serde_json::Value) {
        let text = |v: Option<&serde_json::Value>| {
            v.and_then(|v| v.as_str())
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        let global = defaults.get("global");
        if self.global_image_registry.is_none() {
            let at = |path: &[&str]| {
                text(path.iter().try_fold(defaults, |v, k| v.get(*k))).map(|v| (path.join("."), v))
            };
            self.global_image_registry = at(&["global", "imageRegistry"])
                .or_else(|| at(&["global", "registry"]))
                .or_else(|| at(&["global", "image", "registry"]))
                .or_else(|| at(&["global", "cattle", "systemDefaultRegistry"]))
                .or_else(|| at(&["systemDefaultRegistry"]));
        }
        if self.global_registry.is_none() {
            self.global_registry = text(
                global
                    .and_then(|g| g.get("image"))
                    .and_then(|i| i.get("registry")),
            );
        }
        self.global_hub |= text(global.and_then(|g| g.get("hub"))).is_some();
    }

    /// The keys of the chart's `values.yaml` mapping at `path` that can
    /// change the image and that mapping `map` of this file leaves to it
    /// (`registry: quay.io` beneath `{repository, tag}`).
    fn inherited(&self, doc: &Doc<'_>, map: NodeId, path: &[String]) -> Vec<String> {
        let Some(mut at) = self.defaults.as_ref() else {
            return Vec::new();
        };
        for key in path {
            // (Helm replaces a list whole: nothing under one is merged.)
            match at.get(key.as_str()) {
                Some(v) if !key.contains('[') => at = v,
                _ => return Vec::new(),
            }
        }
        let Some(base) = at.as_object() else {
            return Vec::new();
        };
        base.iter()
            .filter(|(k, v)| {
                let set = !(v.is_null()
                    || v.as_str().is_some_and(str::is_empty)
                    || v == &&serde_json::Value::Bool(false));
                let part = COMPOSING.contains(&k.as_str())
                    || MODIFIERS.contains(&k.as_str())
                    || k.ends_with("Digest");
                set && part && doc.entry(map, k).is_none()
            })
            .map(|(k, v)| format!("`{k}: {v}`"))
            .collect()
    }

    /// The keys of the image mapping at `path` that a parent chart's
    /// values set (any value, even empty or null, changes what the
    /// subchart reads), as `key.path`.
    fn set_by_parent(&self, path: &[String]) -> Option<String> {
        for (key, values) in &self.parents {
            if key == "global" {
                continue;
            }
            let mut at = values;
            let mut found = true;
            for k in path {
                match at.get(k.as_str()) {
                    Some(v) if !k.contains('[') => at = v,
                    _ => {
                        found = false;
                        break;
                    }
                }
            }
            if !found {
                continue;
            }
            let keys: Vec<String> = match at.as_object() {
                Some(m) => m
                    .keys()
                    .filter(|k| {
                        COMPOSING.contains(&k.as_str())
                            || MODIFIERS.contains(&k.as_str())
                            || k.ends_with("Digest")
                    })
                    .map(|k| format!("`{key}.{}.{k}`", path.join(".")))
                    .collect(),
                // The whole mapping replaced (a string, null).
                None => vec![format!("`{key}.{}`", path.join("."))],
            };
            if !keys.is_empty() {
                return Some(keys.join(", "));
            }
        }
        None
    }

    /// Whether what the release applies over embedded values may change
    /// the image at `path` (a warning at `at` then).
    fn overridden(&mut self, doc: &Doc<'_>, at: NodeId, path: &[String]) -> bool {
        let key = path.get(1..).unwrap_or_default().join(".");
        let why = self.over.overrides(&key).or_else(|| {
            self.set_by_parent(path).map(|set| {
                format!("the parent chart's values.yaml sets {set} for this subchart, which Helm merges over this file")
            })
        });
        let Some(why) = why else {
            return false;
        };
        self.ex.warn_at(
            doc,
            at,
            format!(
                "{}: {why}, so these values do not decide the reference; {RENDER}",
                dotted(path)
            ),
        );
        true
    }

    /// An image string reached only through an alias (`image: *img`, the
    /// anchor under a key that is no image's): a warning, as imagelock
    /// reads an image where it is written.
    fn warn_alias(&mut self, doc: &Doc<'_>, key: NodeId, value: NodeId, path: &[String]) {
        let Some(s) = doc.scalar(value) else { return };
        if s.is_null() || !s.is_string() || s.value.is_empty() {
            return;
        }
        self.ex.warn_at(
            doc,
            key,
            format!(
                "{} is an alias of {:?} (anchored at line {}): imagelock reads an image where it is written, and the anchor is not under an image key; write the image here",
                dotted(path),
                s.value,
                s.line
            ),
        );
    }

    /// A mapping with a merge key (`<<: *defaults`) that would be an
    /// image: a warning, its keys being partly elsewhere (and a digest
    /// written into an anchor would reach every mapping merging it).
    fn merged_image(&mut self, doc: &Doc<'_>, map: NodeId, path: &[String]) {
        let has = |k: &str| doc.entry_merged(map, k).is_some();
        let named = path.last().is_some_and(|k| is_image_key(k));
        if !(named || has("repository") || (has("image") && has("tag"))) {
            return;
        }
        self.warn_key(
            doc,
            map,
            "<<",
            format!(
                "{} takes keys from a merge key (`<<`): imagelock reads an image only from keys written in its mapping; write them there; {RENDER}",
                dotted(path)
            ),
        );
    }

    /// Read mapping `map` if it is an image; the keys it consumed (not
    /// walked further).
    fn mapping(&mut self, doc: &Doc<'_>, map: NodeId, path: &[String]) -> &'static [&'static str] {
        let has = |k: &str| doc.entry(map, k).is_some();
        let scalar_image = doc
            .get(map, "image")
            .and_then(|v| doc.resolve(v))
            .is_some_and(|v| doc.is_scalar(v));
        let named = path.last().is_some_and(|k| is_image_key(k));
        let dotted = dotted(path);
        if has("repository") {
            if !(named || SPLIT_SIBLINGS.iter().any(|k| has(k))) {
                return &[];
            }
            if scalar_image {
                self.warn_key(
                    doc,
                    map,
                    "image",
                    format!("{dotted} has both `repository` and `image`: charts join them differently (`repository/image:version`, or `repository` overriding `image`), so the template decides the reference; {RENDER}"),
                );
                return &["repository", "image"];
            }
            // Strimzi prints `registry/repository/name:tag`, cert-manager
            // the repository alone when set.
            if let Some(k) = ["name", "imageName"]
                .into_iter()
                .find(|k| set_scalar(doc, map, k))
            {
                self.warn_key(
                    doc,
                    map,
                    k,
                    format!("{dotted} has both `repository` and `{k}`: charts join them (`registry/repository/name:tag`) or pull `repository` alone, so the template decides the reference; {RENDER}"),
                );
                return &["repository"];
            }
            self.compose(doc, map, path, Shape::Split);
            return &["repository"];
        }
        if scalar_image && ["tag", "registry", "digest", "sha"].iter().any(|k| has(k)) {
            self.compose(doc, map, path, Shape::ImageAndTag);
            return &["image"];
        }
        if named && ["tag", "name", "version", "digest"].iter().any(|k| has(k)) {
            let keys: Vec<_> = doc
                .map_entries(map)
                .chunks_exact(2)
                .filter_map(|kv| doc.scalar_str(kv[0]))
                .collect();
            let at = doc.map_entries(map).first().copied().unwrap_or(map);
            self.ex.warn_at(
                doc,
                at,
                format!(
                    "{dotted} ({}) has no `repository` or `image`: the chart's template composes the reference from these keys and its own defaults (such as `imageRegistry` + `imageNamespace` + `name`); {RENDER}",
                    keys.join(", ")
                ),
            );
            return &[];
        }
        &[]
    }

    /// `image: repo:tag`, a plain string (an empty one means "the chart's
    /// default": a warning).
    fn plain(
        &mut self,
        doc: &Doc<'_>,
        key: NodeId,
        value: NodeId,
        path: &[String],
        hub_here: bool,
    ) {
        let Some(s) = doc.scalar(value) else { return };
        if s.is_null() || (s.is_string() && s.value.is_empty()) {
            self.ex.warn_at(
                doc,
                key,
                format!(
                    "{} is empty: the chart's template supplies the image (a default of its own, or another key's such as `global.image`, which is read where it is written); {RENDER}",
                    dotted(path)
                ),
            );
            return;
        }
        if !s.is_string() {
            return;
        }
        if self.overridden(doc, key, path) {
            return;
        }
        if (hub_here || self.global_hub) && !s.value.contains('/') {
            let hub = if hub_here {
                "the sibling `hub`"
            } else {
                "`global.hub`"
            };
            self.ex.warn_at(
                doc,
                key,
                format!(
                    "{} {:?} is a short name under a hub: the chart's template prefixes {hub} (and may add a tag or variant); {RENDER}",
                    dotted(path),
                    s.value
                ),
            );
            return;
        }
        if Reference::parse(s.value).is_ok_and(|r| r.tag().is_none() && r.digest().is_none()) {
            self.ex.warn_at(
                doc,
                key,
                format!(
                    "{} {:?} has no tag or digest: the chart's template may add one (its appVersion, another key), or pull `latest`; {RENDER}",
                    dotted(path),
                    s.value
                ),
            );
            return;
        }
        self.seen.insert(value);
        let context = Context::HelmValues(HelmImage {
            key: dotted(path),
            ..HelmImage::default()
        });
        self.ex
            .image(doc, key, value, ImageField::Image, context, "image");
    }

    /// An image string under a key named like an image (`imageK8S`,
    /// `sidecarImage`): read when it is a reference with a tag or digest.
    fn named_string(&mut self, doc: &Doc<'_>, key: NodeId, value: NodeId, path: &[String]) {
        let Some(s) = doc.scalar(value) else { return };
        if s.is_null() || !s.is_string() {
            return;
        }
        let Ok(r) = Reference::parse(s.value) else {
            if s.value.contains("{{") || s.value.contains("${") {
                self.ex.warn_at(
                    doc,
                    key,
                    format!(
                        "{} {:?} is a template the chart (or a tool before it) renders, not a reference; {RENDER}",
                        dotted(path),
                        s.value
                    ),
                );
            }
            return;
        };
        if self.overridden(doc, key, path) {
            return;
        }
        if r.tag().is_none() && r.digest().is_none() {
            self.ex.warn_at(
                doc,
                key,
                format!(
                    "{} {:?} has no tag or digest: the chart's template may add one from another key; {RENDER}",
                    dotted(path),
                    s.value
                ),
            );
            return;
        }
        self.seen.insert(value);
        let context = Context::HelmValues(HelmImage {
            key: dotted(path),
            ..HelmImage::default()
        });
        self.ex
            .image(doc, key, value, ImageField::Image, context, "image");
    }

    /// A warning at the key `key` of `map` (or at the mapping).
    fn warn_key(&mut self, doc: &Doc<'_>, map: NodeId, key: &str, message: String) {
        let at = doc.entry(map, key).map_or(map, |(k, _)| k);
        self.ex.warn_at(doc, at, message);
    }

    /// Compose the image of a mapping in `shape`, or warn at the key that
    /// leaves it to the template.
    fn compose(&mut self, doc: &Doc<'_>, map: NodeId, path: &[String], shape: Shape) {
        let dotted = dotted(path);
        let name_key = shape.name_key();
        let Some((name_key_id, name_value)) = doc.entry(map, name_key) else {
            return;
        };
        let Some(name_id) = doc.resolve(name_value) else {
            return;
        };
        let Some(name) = doc.scalar(name_id) else {
            return;
        };
        if !self.seen.insert(name_id) {
            // `repository: *r`, read already where the anchor is: this
            // mapping's own tag and digest make another image.
            self.ex.warn_at(
                doc,
                name_key_id,
                format!(
                    "{dotted}.{name_key} is an alias of the {name_key} read at line {}: imagelock reads an image where its {name_key} is written; write it here",
                    name.line
                ),
            );
            return;
        }
        if self.overridden(doc, name_key_id, path) {
            return;
        }
        let inherited = self.inherited(doc, map, path);
        if !inherited.is_empty() {
            self.ex.warn_at(
                doc,
                name_key_id,
                format!(
                    "{dotted}: the chart's values.yaml sets {} in this mapping, which Helm merges under this file; imagelock reads one values file at a time; {RENDER}",
                    inherited.join(", ")
                ),
            );
            return;
        }
        if name.is_null() || (name.is_string() && name.value.trim().is_empty()) {
            self.ex.warn_at(
                doc,
                name_key_id,
                format!("{dotted}.{name_key} is empty: the chart's template supplies the repository; {RENDER}"),
            );
            return;
        }
        if !name.is_string() {
            self.ex.warn(
                name.line,
                name.column,
                format!(
                    "{dotted}.{name_key} {} is not a string; skipped",
                    name.value
                ),
            );
            return;
        }
        if name.value.contains("://") {
            return;
        }
        if let Some((key, global)) = &self.global_image_registry {
            if shape == Shape::Split {
                self.ex.warn_at(
                    doc,
                    name_key_id,
                    format!(
                        "{dotted}: {key} is set ({global:?}): charts that read it (Bitnami's common library, kube-prometheus-stack, loki, Rancher's) pull this image from it in place of `{dotted}.registry`, others ignore it, so the template decides; {RENDER}"
                    ),
                );
                return;
            }
        }
        for k in ["defaultRegistry", "hub"] {
            // (an `image` beside a `hub` is warned at the image, below)
            if doc.entry(map, k).is_some() && !(k == "hub" && shape == Shape::ImageAndTag) {
                self.warn_key(
                    doc,
                    map,
                    k,
                    format!("{dotted}.{k}: the chart's template chooses between it and `registry`; {RENDER}"),
                );
                return;
            }
        }
        for k in MODIFIERS {
            if set_scalar(doc, map, k) {
                self.warn_key(
                    doc,
                    map,
                    k,
                    format!("{dotted}.{k} is set: the chart's template adds it to the reference; {RENDER}"),
                );
                return;
            }
        }
        let variants: Vec<&str> = doc
            .map_entries(map)
            .chunks_exact(2)
            .filter_map(|kv| doc.scalar_str(kv[0]))
            .filter(|k| k.len() > "Digest".len() && k.ends_with("Digest") && *k != "useDigest")
            .collect();
        if !variants.is_empty() {
            let first = variants[0];
            self.warn_key(
                doc,
                map,
                first,
                format!(
                    "{dotted} has a digest per variant ({}): the chart's template picks a variant and may change the repository with it (`operator-generic`); {RENDER}",
                    variants.join(", ")
                ),
            );
            return;
        }
        if set_scalar(doc, map, "override") {
            self.warn_key(
                doc,
                map,
                "override",
                format!("{dotted}.override is set: the chart's template pulls it in place of `{dotted}.{name_key}`; {RENDER}"),
            );
            return;
        }
        if shape == Shape::ImageAndTag {
            if doc.entry(map, "hub").is_some() {
                self.ex.warn_at(
                    doc,
                    name_key_id,
                    format!("{dotted}.image {:?} sits beside a `hub`: the chart's template composes the reference from the hub (or `global.hub`), the image and the tag, and may add a variant; {RENDER}", name.value),
                );
                return;
            }
            if self.global_hub && !name.value.contains('/') {
                self.ex.warn_at(
                    doc,
                    name_key_id,
                    format!("{dotted}.image {:?} is a short name under a hub: the chart's template prefixes `global.hub` (and may add a variant); {RENDER}", name.value),
                );
                return;
            }
            if truthy(doc, map, "chroot") != Some(false) {
                self.warn_key(
                    doc,
                    map,
                    "chroot",
                    format!("{dotted}.chroot is true: the chart's template pulls the `-chroot` variant with `digestChroot`; {RENDER}"),
                );
                return;
            }
            if name.value.contains('@')
                || name
                    .value
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last.contains(':'))
            {
                self.ex.warn_at(
                    doc,
                    name_key_id,
                    format!("{dotted}.image {:?} has a tag or digest of its own beside `{dotted}.tag`; the template decides which wins; {RENDER}", name.value),
                );
                return;
            }
        }
        let Some((registry, registry_from)) = self.registry(doc, map, &dotted, shape, &name) else {
            return;
        };
        let Some(tag) = self.tag(doc, map, path, name_key_id) else {
            return;
        };
        if truthy(doc, map, "useDigest").is_none() {
            self.warn_key(
                doc,
                map,
                "useDigest",
                format!("{dotted}.useDigest is not a YAML boolean: a template's `if` takes any non-empty string for true, `ternary` fails on it; write `true` or `false`; {RENDER}"),
            );
            return;
        }
        let sha_form = self.chart.as_ref().and_then(Chart::sha_form);
        let (digest_key, written_digest, mut edit) = digest_of(doc, map, &dotted, sha_form);
        // (A subchart's values are read by the subchart's templates.)
        let own = self.subchart_of(path).is_none();
        if let (Some(k), Some(chart), true) = (&digest_key, &self.chart, own) {
            if chart.reads(&path.join("."), k) == Some(false) {
                // A digest written where no template reads it is no pin.
                edit = EditPlan::Unpinnable {
                    reason: format!("no template of the chart beside it reads `{dotted}.{k}`"),
                    hint: "pin the image where the chart reads a digest, or lock the rendered chart: `helm template RELEASE CHART -f VALUES | imagelock lock -`".into(),
                };
            }
        }
        if tag.value.contains('@') && digest_key.is_some() {
            // `tag: "1.0@sha256:…"`: a digest written into the digest key
            // would print a second `@…`.
            edit = EditPlan::Unpinnable {
                reason: format!("`{dotted}.tag` carries a digest of its own, and the chart would print a second one from `{dotted}.{}`", digest_key.as_deref().unwrap_or("digest")),
                hint: format!("move the digest from `{dotted}.tag` into `{dotted}.{}` and run `imagelock pin` again", digest_key.as_deref().unwrap_or("digest")),
            };
        }
        let written = format!(
            "{registry}{}:{}{}",
            name.value,
            tag.value,
            written_digest.unwrap_or_default()
        );
        if written.contains("{{") || written.contains("${") {
            self.ex.warn(
                name.line,
                name.column,
                format!("{dotted}: {written:?} is a template the chart renders, not a reference; {RENDER}"),
            );
            return;
        }
        let reference = match Reference::parse(&written) {
            Ok(r) => r,
            Err(e) => {
                self.ex.out.invalid.push(InvalidImage {
                    file: self.ex.file(),
                    line: name.line,
                    column: name.column,
                    value: written,
                    message: e.reason,
                });
                return;
            }
        };
        self.ex.out.images.push(FoundImage {
            file: self.ex.file(),
            line: name.line,
            column: name.column,
            span: name.content.clone(),
            edit,
            style: name.style,
            exact: name.exact,
            field: ImageField::HelmRepository,
            reference,
            context: Context::HelmValues(HelmImage {
                key: dotted,
                digest_key,
                app_version: tag.app_version,
                registry_from,
            }),
            document: self.ex.document,
        });
    }

    /// The registry prefix (`quay.io/`, or empty) and where it came from
    /// when not the mapping; `None` (with a warning) when the template
    /// decides it.
    fn registry(
        &mut self,
        doc: &Doc<'_>,
        map: NodeId,
        dotted: &str,
        shape: Shape,
        name: &Scalar<'_>,
    ) -> Option<(String, Option<String>)> {
        let own = doc.entry(map, "registry");
        if let Some((key, value)) = own {
            let s = doc.resolve(value).and_then(|v| doc.scalar(v));
            match s {
                Some(s) if s.is_null() => {
                    self.ex.warn_at(
                        doc,
                        key,
                        format!("{dotted}.registry is null: the chart's template supplies the registry; {RENDER}"),
                    );
                    return None;
                }
                Some(s) if s.is_string() && s.value.ends_with('/') => {
                    // Charts print `registry/repository`: `quay.io//x`.
                    self.ex.warn_at(
                        doc,
                        key,
                        format!("{dotted}.registry {:?} ends with `/`, and charts print `registry/repository`, doubling the slash unless the template trims it; write it without the `/`; skipped", s.value),
                    );
                    return None;
                }
                Some(s) if s.is_string() && !s.value.trim().is_empty() => {
                    return Some((format!("{}/", s.value), None));
                }
                Some(s) if s.is_string() => {}
                _ => {
                    self.ex.warn_at(
                        doc,
                        key,
                        format!("{dotted}.registry is not a string; skipped"),
                    );
                    return None;
                }
            }
        }
        if shape == Shape::ImageAndTag {
            if let Some(global) = self.global_registry.clone() {
                if !self.global_image_others.is_empty() {
                    self.ex.warn(
                        name.line,
                        name.column,
                        format!("{dotted}: global.image sets {} beside its registry, which charts merging global.image into each image (ingress-nginx) fill in wherever {dotted} leaves them out or empty; {RENDER}", self.global_image_others.join(", ")),
                    );
                    return None;
                }
                let first = name.value.split('/').next().unwrap_or("");
                if name.value.contains('/') && (first.contains(['.', ':']) || first == "localhost")
                {
                    self.ex.warn(
                        name.line,
                        name.column,
                        format!("{dotted}.image {:?} names a registry of its own, and the template would prefix global.image.registry {global:?} to it; {RENDER}", name.value),
                    );
                    return None;
                }
                return Some((
                    format!("{}/", global.trim_end_matches('/')),
                    Some("global.image.registry".into()),
                ));
            }
            if !name.value.contains('/') {
                self.ex.warn(
                    name.line,
                    name.column,
                    format!("{dotted}.image {:?} is a short name with no registry in the mapping or in global.image.registry: the chart's template prefixes a registry or repository of its own; {RENDER}", name.value),
                );
                return None;
            }
        }
        Some((String::new(), None))
    }

    /// The tag of a mapping: as written, as Helm prints a number, or the
    /// chart's `appVersion` where the templates print it unchanged;
    /// `None` (with a warning) otherwise.
    fn tag(
        &mut self,
        doc: &Doc<'_>,
        map: NodeId,
        path: &[String],
        name_key: NodeId,
    ) -> Option<Tag> {
        let dotted = dotted(path);
        let entry = doc.entry(map, "tag");
        let (at, empty) = match entry {
            None => (name_key, true),
            Some((key, value)) => {
                let Some(id) = doc.resolve(value) else {
                    self.ex.warn_at(
                        doc,
                        key,
                        format!("{dotted}.tag: the alias refers to an unknown anchor; skipped"),
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
                    (at, true)
                } else if let Some(what) = s.go_yaml_non_string() {
                    if what == "a number" && s.value.parse::<f64>().is_ok_and(|v| v == 0.0) {
                        // Sprig's `default` and Bitnami's `if not .tag`
                        // take a zero for no tag: the appVersion, or `0`.
                        self.ex.warn(
                            s.line,
                            s.column,
                            format!(
                                "{dotted}.tag {} is the number zero, which a template's `default` (or `if not`) takes for no tag and replaces, commonly with the appVersion; quote it; skipped",
                                s.value
                            ),
                        );
                        return None;
                    }
                    let printed = (what == "a number")
                        .then(|| printed::number_printed_as_written(s.value))
                        .flatten();
                    return match printed {
                        Some(v) => Some(Tag {
                            value: v.to_string(),
                            app_version: false,
                        }),
                        None => {
                            self.ex.warn(
                                s.line,
                                s.column,
                                format!(
                                    "{dotted}.tag {} is not a string: YAML reads {what}, which Helm prints differently (`1.10` as `1.1`, `1234567` as `1.234567e+06`); quote it; skipped",
                                    s.value
                                ),
                            );
                            None
                        }
                    };
                } else {
                    return Some(Tag {
                        value: s.value.to_string(),
                        app_version: false,
                    });
                }
            }
        };
        debug_assert!(empty);
        let missing = if entry.is_some() {
            "is empty"
        } else {
            "is not set"
        };
        if let Some(sub) = self.subchart_of(path) {
            self.ex.warn_at(
                doc,
                at,
                format!("{dotted}.tag {missing}: these values go to the subchart {sub:?}, whose templates supply the tag; {RENDER}"),
            );
            return None;
        }
        let Some(chart) = &self.chart else {
            self.ex.warn_at(
                doc,
                at,
                format!("{dotted}.tag {missing}: the chart's template supplies the tag (usually its appVersion), and the chart is not beside this file; {RENDER}"),
            );
            return None;
        };
        let version = match chart.meta() {
            Ok(meta) => meta.app_version.clone(),
            Err(why) => Err(why.to_string()),
        };
        let checked = version.and_then(|v| {
            let key = path.join(".");
            chart
                .prints_app_version_for(&key)
                .map(|()| v.clone())
                .map_err(|why| format!("the appVersion is {v:?}, but {why}"))
        });
        match checked {
            Ok(v) => Some(Tag {
                value: v,
                app_version: true,
            }),
            Err(why) => {
                self.ex.warn_at(
                    doc,
                    at,
                    format!("{dotted}.tag {missing}, so the chart's template supplies the tag (commonly Chart.yaml's appVersion), and {why}; {RENDER}"),
                );
                None
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `repository` (+ `registry`, `tag`, `digest`/`sha`).
    Split,
    /// `image` holding the repository path beside a `tag` (+ `registry`,
    /// `digest`).
    ImageAndTag,
}

impl Shape {
    fn name_key(self) -> &'static str {
        match self {
            Shape::Split => "repository",
            Shape::ImageAndTag => "image",
        }
    }
}

struct Tag {
    value: String,
    app_version: bool,
}

/// The dotted key path (`server.image`); `(top level)` for the root.
fn dotted(path: &[String]) -> String {
    if path.is_empty() {
        "(top level)".into()
    } else {
        path.join(".")
    }
}

/// A key that names one image: `image`, `thanosImage`, `imageK8S`.
fn is_image_key(key: &str) -> bool {
    key == "image" || key.ends_with("Image") || is_image_string_key(key)
}

/// A key other than `image` that may hold an image string: `imageK8S`,
/// `imageConsulDataplane`, `sidecarImage` (not `imagePullPolicy`,
/// `imageTag` and other parts of one).
fn is_image_string_key(key: &str) -> bool {
    const PARTS: [&str; 12] = [
        "imagePullPolicy",
        "imagePullSecrets",
        "imagePullSecret",
        "imageTag",
        "imageRegistry",
        "imageNamespace",
        "imageRepository",
        "imageName",
        "imageDigest",
        "imageVersion",
        "imageCredentials",
        "imagePullProgressDeadline",
    ];
    if PARTS.contains(&key) {
        return false;
    }
    let after = key.strip_prefix("image");
    after.is_some_and(|a| a.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit()))
        || (key.ends_with("Image") && key.len() > "Image".len())
}

/// A key holding a scalar that is neither null nor empty.
fn set_scalar(doc: &Doc<'_>, map: NodeId, key: &str) -> bool {
    doc.get(map, key)
        .and_then(|v| doc.resolve(v))
        .and_then(|v| doc.scalar(v))
        .is_some_and(|s| !s.is_null() && !s.value.is_empty())
}

/// A switch key as a template's `if` sees it: `Some(false)` when missing
/// or null, the boolean Helm's YAML 1.1 reader makes of `true`, `yes`,
/// `on`, `y` (and their `false` forms); `None` for anything else (a
/// quoted `"false"` is a non-empty string, true to `if`, an error to
/// `ternary`).
fn truthy(doc: &Doc<'_>, map: NodeId, key: &str) -> Option<bool> {
    let Some(v) = doc.get(map, key) else {
        return Some(false);
    };
    let s = doc.resolve(v).and_then(|v| doc.scalar(v))?;
    if s.is_null() {
        return Some(false);
    }
    if s.go_yaml_non_string() != Some("a boolean") {
        return None;
    }
    Some(matches!(
        s.value,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y"
    ))
}

/// A boolean key set to true.
fn is_true(doc: &Doc<'_>, map: NodeId, key: &str) -> bool {
    truthy(doc, map, key) == Some(true)
}

/// The mapping's digest key, the `@…` it adds to the reference (none when
/// empty), and how `pin` writes into it.
///
/// A `sha` key holds the bare hex (kube-prometheus-stack prints
/// `@sha256:{{ .sha }}`) unless the chart's templates print it after a
/// bare `@` (kube-state-metrics), when it holds the whole digest.
fn digest_of(
    doc: &Doc<'_>,
    map: NodeId,
    path: &str,
    sha_form: Option<ShaForm>,
) -> (Option<String>, Option<String>, EditPlan) {
    let full_sha = sha_form == Some(ShaForm::Full);
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
    // cilium's `useDigest: false` prints no digest, whatever `digest` holds.
    if doc.entry(map, "useDigest").is_some() && !is_true(doc, map, "useDigest") {
        return (
            None,
            None,
            EditPlan::Unpinnable {
                reason: format!("`{path}.useDigest` is not true, so the chart prints no digest"),
                hint: format!("set `{path}.useDigest: true` if the chart should pull by digest, and run `imagelock pin` again"),
            },
        );
    }
    // (through an alias: Helm reads the anchored digest.)
    let written = doc
        .resolve(value)
        .and_then(|v| doc.scalar(v))
        .filter(|s| !s.is_null() && s.is_string() && !s.value.is_empty())
        .map(|s| match name {
            "sha" if !full_sha => format!("@sha256:{}", s.value),
            _ => format!("@{}", s.value),
        });
    let key_at = doc.scalar(key).map_or(0, |k| k.content.start);
    let edit = match value_span(doc, key, value) {
        Some(span) if name == "sha" && !full_sha => EditPlan::SetDigestHex { span, key_at },
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
