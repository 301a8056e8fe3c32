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
mod compose;
mod digest;
mod printed;
mod release;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use super::extraction::Extraction;
use super::EditPlan;
use super::{Context, FoundImage, ImageField, InvalidImage};
use crate::reference::Reference;
use crate::yaml::{Doc, NodeId, QuoteStyle, Scalar};
use chart::{Chart, ShaForm};
use compose::Shape;
use digest::digest_of;
pub use release::{extract_embedded, Over};

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
                        self.ex.stream_line(doc.position(later[0]).0)
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
                self.ex.stream_line(s.line)
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
        let tagless =
            Reference::parse(s.value).is_ok_and(|r| r.tag().is_none() && r.digest().is_none());
        self.string_image(
            doc,
            key,
            value,
            path,
            tagless.then_some("(its appVersion, another key), or pull `latest`"),
        );
    }

    /// Report the image string `value` of `key`, or, when it has no tag or
    /// digest (`tagless` says where one may come from), warn at the key.
    fn string_image(
        &mut self,
        doc: &Doc<'_>,
        key: NodeId,
        value: NodeId,
        path: &[String],
        tagless: Option<&str>,
    ) {
        if let Some(from) = tagless {
            let written = doc
                .scalar(value)
                .map(|s| s.value.to_string())
                .unwrap_or_default();
            self.ex.warn_at(
                doc,
                key,
                format!(
                    "{} {written:?} has no tag or digest: the chart's template may add one {from}; {RENDER}",
                    dotted(path),
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
        let tagless = r.tag().is_none() && r.digest().is_none();
        self.string_image(doc, key, value, path, tagless.then_some("from another key"));
    }

    /// A warning at the key `key` of `map` (or at the mapping).
    fn warn_key(&mut self, doc: &Doc<'_>, map: NodeId, key: &str, message: String) {
        let at = doc.entry(map, key).map_or(map, |(k, _)| k);
        self.ex.warn_at(doc, at, message);
    }
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

/// A repository path whose first part is a registry host
/// (`quay.io/x`, `localhost:5000/x`), as the reference grammar reads it.
fn names_a_registry(path: &str) -> bool {
    let mut parts = path.splitn(2, '/');
    let first = parts.next().unwrap_or("");
    parts.next().is_some() && (first.contains(['.', ':']) || first == "localhost")
}

/// A boolean key set to true.
fn is_true(doc: &Doc<'_>, map: NodeId, key: &str) -> bool {
    truthy(doc, map, key) == Some(true)
}
