//! The Kubernetes extractor: `image` keys in workloads, pod specs
//! (`containers`, `initContainers`, `ephemeralContainers`), image volumes
//! (`volumes[].image.reference`), `kind: List` items and custom resources,
//! with the object, container and pod around each; Secret and
//! ServiceAccount manifests for pull credentials. Documents of no other
//! known kind come here too: their `image` keys are read by the same rules.
//!
//! Rules: an `image` key directly under a JSON-schema `properties` mapping
//! describes a field; an `image` with a sibling `tag` is a repository
//! joined elsewhere; a CustomResourceDefinition names no image.

use super::extract::Extraction;
use super::yaml::{Doc, NodeId, SiblingInsert};
use super::{
    ContainerList, Context, ImageField, ObjectContext, PodRef, SecretManifest,
    ServiceAccountManifest,
};
use crate::credentials::Secret;
use crate::rewrite::EditPlan;
use std::collections::HashSet;

/// Deepest nesting the walk descends into (the tree itself is built
/// without recursion); deeper nodes are not searched.
const MAX_DEPTH: usize = 256;

/// Read the images, Secrets and ServiceAccounts of one document.
pub fn extract(doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let mut walk = Walk {
        doc,
        ex,
        expanded: HashSet::new(),
    };
    let place = Place {
        key: None,
        seq_key: None,
    };
    walk.visit(root, &Obj::default(), place, 0);
}

/// Where a mapping sits, as far as the walk cares.
#[derive(Clone, Copy)]
struct Place<'k> {
    /// The key whose value this node is (`None` for sequence items and roots).
    key: Option<&'k str>,
    /// For a sequence item: the key holding the sequence.
    seq_key: Option<&'k str>,
}

/// The enclosing object and pod spec.
#[derive(Clone, Default)]
struct Obj {
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    /// The innermost pod spec (a mapping with a `containers` sequence).
    pod: Option<PodRef>,
}

impl Obj {
    fn context(&self) -> ObjectContext {
        ObjectContext {
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            pod: self.pod.clone(),
            ..ObjectContext::default()
        }
    }
}

struct Walk<'d, 'a, 'e, 'p> {
    doc: &'d Doc<'a>,
    ex: &'e mut Extraction<'p>,
    /// Anchored nodes already expanded through an alias (each at most once:
    /// keeps alias bombs linear).
    expanded: HashSet<NodeId>,
}

impl<'d, 'a> Walk<'d, 'a, '_, '_> {
    fn visit(&mut self, id: NodeId, obj: &Obj, place: Place<'d>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let doc = self.doc;
        if let Some(target) = doc.alias_target(id) {
            if let Some(t) = target {
                if self.expanded.insert(t) {
                    self.visit(t, obj, place, depth + 1);
                }
            }
        } else if doc.is_seq(id) {
            let item_place = Place {
                key: None,
                seq_key: place.key,
            };
            for &item in doc.seq_items(id) {
                self.visit(item, obj, item_place, depth + 1);
            }
        } else if doc.is_map(id) {
            self.visit_map(id, obj, place, depth);
        }
    }

    fn visit_map(&mut self, id: NodeId, obj: &Obj, place: Place<'d>, depth: usize) {
        let doc = self.doc;
        let own;
        let is_object = doc.get(id, "kind").is_some() || doc.get(id, "apiVersion").is_some();
        let obj = if is_object {
            let metadata = doc.get(id, "metadata").and_then(|m| doc.resolve(m));
            own = Obj {
                kind: doc.get_str(id, "kind").map(str::to_string),
                namespace: metadata
                    .and_then(|m| doc.get_str(m, "namespace"))
                    .map(str::to_string),
                name: metadata
                    .and_then(|m| doc.get_str(m, "name"))
                    .map(str::to_string),
                pod: None,
            };
            match own.kind.as_deref() {
                Some("Secret") => self.secret(id, &own),
                Some("ServiceAccount") => self.service_account(id, &own),
                // A schema names no image (a CRD inside a `kind: List`;
                // whole CRD documents are masked before parsing).
                Some("CustomResourceDefinition") => return,
                _ => {}
            }
            &own
        } else {
            obj
        };
        let pod_own;
        let obj = if is_pod_spec(doc, id) {
            pod_own = Obj {
                pod: Some(PodRef {
                    pull_secrets: pull_secret_names(doc, id),
                    service_account: doc
                        .get_str(id, "serviceAccountName")
                        .or_else(|| doc.get_str(id, "serviceAccount"))
                        .map(str::to_string),
                }),
                ..obj.clone()
            };
            &pod_own
        } else {
            obj
        };
        // An `image` key directly under a JSON-schema `properties` mapping
        // describes a field; it is not an image.
        let schema = place.key == Some("properties");
        for kv in doc.map_entries(id).chunks_exact(2) {
            let (k, v) = (kv[0], kv[1]);
            let key = doc.scalar_str(k);
            match key {
                Some("image") if !schema => self.image(id, k, v, obj, place, is_object),
                Some("<<") => {
                    // Merge key: the merged mapping(s) sit where this one does.
                    self.visit(v, obj, place, depth + 1);
                }
                _ => {
                    let vplace = Place { key, seq_key: None };
                    self.visit(v, obj, vplace, depth + 1);
                }
            }
        }
    }

    /// The value `v` of an `image` key `key` in mapping `map`.
    fn image(
        &mut self,
        map: NodeId,
        key: NodeId,
        v: NodeId,
        obj: &Obj,
        place: Place<'_>,
        map_is_object: bool,
    ) {
        let doc = self.doc;
        let Some(target) = doc.resolve(v) else {
            self.ex.warn_at(
                doc,
                key,
                "image: the alias refers to an unknown anchor; skipped".into(),
            );
            return;
        };
        if doc.is_scalar(target) {
            if doc.get(map, "tag").is_some() {
                // `{image: debian, tag: '9.1'}` (Argo `withItems`, Helm-style
                // values): the value is a repository to be joined with the
                // tag elsewhere, not a reference a pod runs as written.
                self.ex.warn_at(
                    doc,
                    target,
                    "image has a sibling `tag` key, so its value is a repository joined with that tag elsewhere (template parameters, Helm values), not a complete reference; skipped".into(),
                );
                return;
            }
            let list = place.seq_key.and_then(container_list);
            let context = ObjectContext {
                container: if map_is_object {
                    None
                } else {
                    doc.get_str(map, "name").map(str::to_string)
                },
                list,
                pull_policy: doc.get_str(map, "imagePullPolicy").map(str::to_string),
                pull_policy_edit: list
                    .and_then(|_| policy_edit(doc, map, key, target, "imagePullPolicy")),
                ..obj.context()
            };
            self.ex.image(
                doc,
                key,
                target,
                ImageField::Image,
                Context::Kubernetes(context),
                "image",
            );
        } else if doc.is_map(target) && place.seq_key == Some("volumes") {
            self.image_volume(target, obj);
        } else {
            let message = if doc.is_map(target) {
                "image value is a mapping (Helm values style repository/tag?), not a string; skipped: render the chart with `helm template` and scan the output to pin what it deploys".to_string()
            } else {
                format!(
                    "image value is {}, not a string; skipped",
                    doc.describe(target)
                )
            };
            self.ex.warn_at(doc, target, message);
        }
    }

    /// A Kubernetes image volume: `volumes[].image.reference` (mapping `image`).
    fn image_volume(&mut self, image: NodeId, obj: &Obj) {
        let doc = self.doc;
        let Some(r) = doc.get(image, "reference") else {
            self.ex.warn_at(
                doc,
                image,
                "image volume has no `reference` key; skipped".into(),
            );
            return;
        };
        let Some(rt) = doc.resolve(r) else {
            self.ex.warn_at(
                doc,
                r,
                "image volume reference: the alias refers to an unknown anchor; skipped".into(),
            );
            return;
        };
        if !doc.is_scalar(rt) {
            let what = doc.describe(rt);
            self.ex.warn_at(
                doc,
                rt,
                format!("image volume reference is {what}, not a string; skipped"),
            );
            return;
        }
        let context = ObjectContext {
            pull_policy: doc.get_str(image, "pullPolicy").map(str::to_string),
            pull_policy_edit: policy_edit(doc, image, r, rt, "pullPolicy"),
            ..obj.context()
        };
        self.ex.image(
            doc,
            r,
            rt,
            ImageField::VolumeReference,
            Context::Kubernetes(context),
            "image volume reference",
        );
    }

    /// A `kind: Secret` document: kept (values as [`Secret`]s) for pull
    /// credentials.
    fn secret(&mut self, id: NodeId, obj: &Obj) {
        let doc = self.doc;
        let entries = |key: &str| -> Vec<(String, Secret)> {
            let Some(m) = doc.get(id, key).and_then(|m| doc.resolve(m)) else {
                return Vec::new();
            };
            doc.map_entries(m)
                .chunks_exact(2)
                .filter_map(|kv| {
                    let k = doc.scalar_str(kv[0])?;
                    let v = doc.scalar_str(kv[1])?;
                    Some((k.to_string(), Secret::new(v)))
                })
                .collect()
        };
        let manifest = SecretManifest {
            file: self.ex.path().to_path_buf(),
            line: doc.start_line(id),
            namespace: obj.namespace.clone(),
            name: obj.name.clone(),
            secret_type: doc.get_str(id, "type").map(str::to_string),
            data: entries("data"),
            string_data: entries("stringData"),
        };
        self.ex.out.secrets.push(manifest);
    }

    /// A `kind: ServiceAccount` document: its `imagePullSecrets`.
    fn service_account(&mut self, id: NodeId, obj: &Obj) {
        let manifest = ServiceAccountManifest {
            file: self.ex.path().to_path_buf(),
            line: self.doc.start_line(id),
            namespace: obj.namespace.clone(),
            name: obj.name.clone(),
            pull_secrets: pull_secret_names(self.doc, id),
        };
        self.ex.out.service_accounts.push(manifest);
    }
}

/// A pod spec: a mapping whose `containers` is a sequence.
fn is_pod_spec(doc: &Doc<'_>, id: NodeId) -> bool {
    doc.get(id, "containers")
        .and_then(|c| doc.resolve(c))
        .is_some_and(|c| doc.is_seq(c))
}

/// `imagePullSecrets: [{name: a}, …]` of a pod spec or ServiceAccount.
fn pull_secret_names(doc: &Doc<'_>, id: NodeId) -> Vec<String> {
    let Some(list) = doc.get(id, "imagePullSecrets").and_then(|l| doc.resolve(l)) else {
        return Vec::new();
    };
    doc.seq_items(list)
        .iter()
        .filter_map(|&item| {
            let item = doc.resolve(item)?;
            if doc.is_map(item) {
                doc.get_str(item, "name")
            } else {
                doc.scalar_str(item)
            }
        })
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

fn container_list(key: &str) -> Option<ContainerList> {
    match key {
        "containers" => Some(ContainerList::Containers),
        "initContainers" => Some(ContainerList::InitContainers),
        "ephemeralContainers" => Some(ContainerList::EphemeralContainers),
        _ => None,
    }
}

/// How to write `policy_key` (`imagePullPolicy`, `pullPolicy`) in the
/// mapping `map` whose `image_key: image` entry names the image: set the
/// scalar already there, or insert the key after that entry (its own line
/// in a block mapping, `, key: value` in a flow mapping).
fn policy_edit(
    doc: &Doc<'_>,
    map: NodeId,
    image_key: NodeId,
    image: NodeId,
    policy_key: &str,
) -> Option<EditPlan> {
    if let Some(value) = doc.get(map, policy_key) {
        let s = doc.scalar(doc.resolve(value)?)?;
        return s.exact.then_some(EditPlan::SetValue { span: s.content });
    }
    Some(match doc.sibling_insert(image_key, image)? {
        SiblingInsert::Block(p) => EditPlan::InsertKey {
            after_line_end: p.after_line_end,
            indent: p.indent,
            key: policy_key.to_string(),
        },
        SiblingInsert::Flow { at } => EditPlan::InsertFlowKey {
            at,
            key: policy_key.to_string(),
        },
    })
}
