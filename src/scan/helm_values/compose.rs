//! The composition of one image mapping: its name, registry, tag and
//! digest put together as the chart's templates print them, or a warning
//! at the key that leaves it to the template.

use super::*;

impl Walk<'_, '_> {
    /// Compose the image of a mapping in `shape`, or warn at the key that
    /// leaves it to the template.
    pub(super) fn compose(&mut self, doc: &Doc<'_>, map: NodeId, path: &[String], shape: Shape) {
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
                    self.ex.stream_line(name.line)
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
                if names_a_registry(name.value) {
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
        // Values a release embeds (a Flux HelmRelease, an Argo CD
        // Application) are merged over the chart's own values, which are
        // not here: a `registry` there (Bitnami's `docker.io`, kyverno's
        // `reg.kyverno.io`) applies to a repository that names no registry
        // host of its own.
        if self.chart.is_none() && own.is_none() && !names_a_registry(name.value) {
            self.ex.warn(
                name.line,
                name.column,
                format!("{dotted}.{} {:?} names no registry, and these values are merged over the chart's own values, whose `registry` (if any) the chart puts before it; write the registry host in it, or {RENDER}", shape.name_key(), name.value),
            );
            return None;
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
pub(super) enum Shape {
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

pub(super) struct Tag {
    value: String,
    app_version: bool,
}
