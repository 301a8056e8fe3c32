//! The Kubernetes extractor: images where Kubernetes reads them, with the
//! object, container and pod around each; Secret and ServiceAccount
//! manifests for pull credentials.
//!
//! Rules (the README's "What counts as an image reference"):
//! - **Built-in kinds by their schema.** A Pod, Deployment, StatefulSet,
//!   DaemonSet, ReplicaSet, ReplicationController, Job, CronJob or
//!   PodTemplate holds images exactly at its pod spec's
//!   `containers[].image`, `initContainers[].image`,
//!   `ephemeralContainers[].image` and `volumes[].image.reference`. Every
//!   other kind of a built-in API group (ConfigMap, Secret, Service, …)
//!   holds none. `kind: List` (and `*List`) items are objects of their own.
//! - **Custom resources by rule.** In any other object (and in YAML that
//!   is no object at all), an `image` key counts anywhere except under
//!   `metadata`, selectors and label maps, opaque data (`data`,
//!   `stringData`, `binaryData`) and free-form configuration (`config`,
//!   `configuration`, Helm `values`); an `image` key directly under a
//!   JSON-schema `properties` mapping describes a field; an `image` with a
//!   sibling `tag` is a repository joined elsewhere; a
//!   CustomResourceDefinition names no image. A mapping with both
//!   `apiVersion` and `kind` inside a custom resource is an object of its
//!   own, read by these same rules.
//! - Every `image` key these rules leave is counted, for one note per file.

use super::extraction::Extraction;
use super::helm_values::Over;
use super::EditPlan;
use super::{
    ContainerList, Context, ImageField, KubernetesField, ObjectContext, PodRef, SecretManifest,
    ServiceAccountManifest,
};
use crate::secret::Secret;
use crate::yaml::{Doc, NodeId, SiblingInsert};
use std::collections::{HashMap, HashSet};

/// Deepest nesting the walk descends into (the tree itself is built
/// without recursion); deeper nodes are not searched.
const MAX_DEPTH: usize = 256;

/// Read the images, Secrets and ServiceAccounts of one document.
pub fn extract(doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let mut walk = Walk {
        doc,
        ex,
        expanded: HashSet::new(),
        taken: HashSet::new(),
        visits: HashMap::new(),
        found: Vec::new(),
    };
    let Some(root) = doc.resolve(root) else {
        return;
    };
    if doc.is_map(root) && is_object(doc, root, false) {
        walk.object(root, 0);
    } else {
        let place = Place {
            key: None,
            seq_key: None,
        };
        walk.visit(root, &Obj::default(), place, 0);
    }
    walk.refuse_shared();
    // Every scalar reading `image` is a key the rules took: none left, and
    // no second walk over the document.
    if doc.image_scalars() <= walk.taken.len() {
        return;
    }
    let left: Vec<NodeId> = image_keys(doc, root)
        .into_iter()
        .filter(|k| !walk.taken.contains(k))
        .collect();
    if let Some(&first) = left.first() {
        let (line, column) = doc.position(first);
        walk.ex.left_image_keys(left.len(), line, column);
    }
}

/// API groups of Kubernetes itself (`v1` is the core group).
const BUILT_IN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "extensions",
    "autoscaling",
    "policy",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "certificates.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "internal.apiserver.k8s.io",
    "storagemigration.k8s.io",
];

/// The kinds of those groups that hold no image. A kind of a built-in
/// group not named here or among the workloads (OpenShift's legacy `v1`
/// `DeploymentConfig` and `Template`, say) is read by rule.
const NO_IMAGES: &[&str] = &[
    "ConfigMap",
    "Service",
    "Namespace",
    "Endpoints",
    "EndpointSlice",
    "Event",
    "LimitRange",
    "ResourceQuota",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Node",
    "Binding",
    "ComponentStatus",
    "ControllerRevision",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "StorageClass",
    "CSIDriver",
    "CSINode",
    "CSIStorageCapacity",
    "VolumeAttachment",
    "VolumeAttributesClass",
    "PriorityClass",
    "Lease",
    "CertificateSigningRequest",
    "ClusterTrustBundle",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "RuntimeClass",
    "APIService",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "ResourceClaim",
    "ResourceClaimTemplate",
    "DeviceClass",
    "ResourceSlice",
    "ServiceCIDR",
    "IPAddress",
    "TokenReview",
    "SubjectAccessReview",
    "SelfSubjectAccessReview",
    "LocalSubjectAccessReview",
    "SelfSubjectRulesReview",
    "SelfSubjectReview",
    "StorageVersionMigration",
];

/// Groups of custom resources whose `image` fields name repositories to
/// watch, not images to pull: Flux's image automation (`ImageRepository`
/// `spec.image` takes no tag or digest).
const NO_IMAGE_GROUPS: &[&str] = &["image.toolkit.fluxcd.io"];

/// Keys whose values a controller never pulls in a custom resource:
/// object metadata, label and selector maps, opaque data, free-form
/// configuration and Helm values (which follow a chart's conventions).
const NOT_PULLED: &[&str] = &[
    "metadata",
    "labels",
    "annotations",
    "selector",
    "matchLabels",
    "nodeSelector",
    "podLabels",
    "podAnnotations",
    "commonLabels",
    "commonAnnotations",
    "data",
    "stringData",
    "binaryData",
    "config",
    "configuration",
    "values",
    "valuesObject",
    "valuesInline",
    // Where a build pushes its image to (Shipwright `Build`, Strimzi
    // `KafkaConnect.spec.build`, kpack): a destination, never pulled.
    "output",
];

/// What an object's kind says about where its images are.
enum Kind {
    /// `kind: List` (or `DeploymentList`, …): its `items` are objects.
    List,
    /// A built-in workload: the path from the object to its pod spec.
    Workload(&'static [&'static str]),
    /// Secret and ServiceAccount: kept for pull credentials; no images.
    Secret,
    ServiceAccount,
    /// A schema: names no image.
    Crd,
    /// A kind known to hold no images (ConfigMap, Service, …).
    BuiltIn,
    /// A custom resource (or a kind imagelock does not know).
    Custom,
}

fn classify(kind: Option<&str>, api_version: Option<&str>) -> Kind {
    // `apps/v1` → `apps`; `v1` → the core group.
    let group = api_version.map(|v| v.rsplit_once('/').map_or("", |(g, _)| g));
    let built_in = group.is_none_or(|g| BUILT_IN_GROUPS.contains(&g));
    let Some(kind) = kind else {
        return Kind::Custom;
    };
    if kind == "CustomResourceDefinition" {
        return Kind::Crd;
    }
    if group.is_some_and(|g| NO_IMAGE_GROUPS.contains(&g)) {
        return Kind::BuiltIn;
    }
    if !built_in {
        return Kind::Custom;
    }
    match kind {
        "List" => Kind::List,
        "Pod" => Kind::Workload(&["spec"]),
        "PodTemplate" => Kind::Workload(&["template", "spec"]),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Kind::Workload(&["spec", "template", "spec"]),
        "CronJob" => Kind::Workload(&["spec", "jobTemplate", "spec", "template", "spec"]),
        "Secret" => Kind::Secret,
        "ServiceAccount" => Kind::ServiceAccount,
        k if NO_IMAGES.contains(&k) => Kind::BuiltIn,
        k if k.ends_with("List") => Kind::List,
        // A kind this list does not know (OpenShift's `v1` kinds, a kind
        // newer than imagelock): its `image` keys are read by rule.
        _ => Kind::Custom,
    }
}

/// A mapping that is an object: `kind` or `apiVersion` at the top of a
/// document; both inside another object.
fn is_object(doc: &Doc<'_>, id: NodeId, nested: bool) -> bool {
    let kind = doc.get(id, "kind").is_some();
    let api = doc.get(id, "apiVersion").is_some();
    if nested {
        kind && api && doc.get_str(id, "kind").is_some()
    } else {
        kind || api
    }
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

    fn with_pod(&self, doc: &Doc<'_>, spec: NodeId) -> Obj {
        Obj {
            pod: Some(PodRef {
                pull_secrets: pull_secret_names(doc, spec),
                service_account: doc
                    .get_str_merged(spec, "serviceAccountName")
                    .or_else(|| doc.get_str_merged(spec, "serviceAccount"))
                    .map(str::to_string),
            }),
            ..self.clone()
        }
    }
}

struct Walk<'d, 'a, 'e, 'p> {
    doc: &'d Doc<'a>,
    ex: &'e mut Extraction<'p>,
    /// Anchored nodes already expanded through an alias (each at most once:
    /// keeps alias bombs linear).
    expanded: HashSet<NodeId>,
    /// `image` keys the rules took (as images, warnings or invalid
    /// values), each key once however many aliases reach it; the rest of
    /// the document's are counted as left.
    taken: HashSet<NodeId>,
    /// How many times the rules met each pull policy (its value, or the
    /// mapping a policy would go into): one written container that an
    /// alias puts in several places is met once per place.
    visits: HashMap<NodeId, usize>,
    /// The images found with a pull policy: the start of their span and
    /// the node their pull policy is written at.
    found: Vec<(usize, NodeId)>,
}

impl<'d, 'a> Walk<'d, 'a, '_, '_> {
    /// Refuse to set a pull policy a YAML anchor or merge key shares with
    /// another place (a container `&base` merged into another, `<<:
    /// *base`, whose image is its own): the policy written would change
    /// there too. (Image values so shared are refused for every input kind
    /// by [`Extraction`], which counts the places the rules read them at.)
    fn refuse_shared(&mut self) {
        if !self.doc.has_aliases() || self.found.is_empty() {
            return;
        }
        let mut places = self.doc.appearances();
        let doc_index = self.ex.document;
        for (start, policy) in std::mem::take(&mut self.found) {
            if places.count(policy) <= self.visits.get(&policy).copied().unwrap_or(0) {
                continue;
            }
            let img = self
                .ex
                .out
                .images
                .iter_mut()
                .find(|i| i.document == doc_index && i.span.start == start);
            let Some(Context::Kubernetes(c)) = img.map(|i| &mut i.context) else {
                continue;
            };
            if matches!(c.pull_policy_edit, Some(EditPlan::Shared { .. })) {
                continue; // refused already, with a closer reason
            }
            c.pull_policy_edit = Some(EditPlan::Shared {
                reason: "the container (or its pull policy) is shared through a YAML anchor or merge key with another place, which the policy written here would change too".into(),
                hint: "write `imagePullPolicy: IfNotPresent` in each container yourself (or drop --pull-policy)".into(),
            });
        }
    }

    /// Count a visit of the node a pull `policy` is written at, and report
    /// the image through `report`; remember what was found for
    /// [`Walk::refuse_shared`].
    fn count_and_report(
        &mut self,
        policy: Option<NodeId>,
        report: impl FnOnce(&mut Extraction<'_>),
    ) {
        // Without an alias nothing is shared: nothing to count.
        let Some(policy) = policy.filter(|_| self.doc.has_aliases()) else {
            report(self.ex);
            return;
        };
        *self.visits.entry(policy).or_default() += 1;
        let before = self.ex.out.images.len();
        report(self.ex);
        if self.ex.out.images.len() > before {
            if let Some(img) = self.ex.out.images.last() {
                self.found.push((img.span.start, policy));
            }
        }
    }

    /// An object: its kind decides the rules.
    fn object(&mut self, id: NodeId, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let doc = self.doc;
        let metadata = doc.get(id, "metadata").and_then(|m| doc.resolve(m));
        let own = Obj {
            kind: doc.get_str(id, "kind").map(str::to_string),
            namespace: metadata
                .and_then(|m| doc.get_str(m, "namespace"))
                .map(str::to_string),
            name: metadata
                .and_then(|m| doc.get_str(m, "name"))
                .map(str::to_string),
            pod: None,
        };
        match classify(doc.get_str(id, "kind"), doc.get_str(id, "apiVersion")) {
            Kind::List => {
                let Some(items) = doc.get(id, "items").and_then(|i| doc.resolve(i)) else {
                    return;
                };
                for &item in doc.seq_items(items) {
                    if let Some(item) = doc.resolve(item).filter(|&i| doc.is_map(i)) {
                        if self.expanded.insert(item) {
                            self.object(item, depth + 1);
                        }
                    }
                }
            }
            Kind::Workload(path) => {
                if let Some(spec) = self.follow(id, path) {
                    let pod = own.with_pod(doc, spec);
                    let before = self.ex.out.images.len();
                    self.pod_spec(spec, &pod);
                    // In the order they are written, whatever the lists' order.
                    self.ex.out.images[before..].sort_by_key(|i| i.span.start);
                }
            }
            Kind::Secret => self.secret(id, &own),
            Kind::ServiceAccount => self.service_account(id, &own),
            // A schema's `image` properties are not values left unread.
            Kind::Crd => self.taken.extend(image_keys(doc, id)),
            Kind::BuiltIn => {}
            Kind::Custom => {
                self.chart_values(id);
                self.visit_map(
                    id,
                    &own,
                    Place {
                        key: None,
                        seq_key: None,
                    },
                    depth,
                );
            }
        }
    }

    /// The chart values a Flux `HelmRelease` (`spec.values`) or an Argo
    /// CD `Application` (`spec.source.helm.valuesObject`, and each of
    /// `spec.sources`) passes to a chart: read by the Helm values rules
    /// (the custom-resource rule leaves `values` alone).
    fn chart_values(&mut self, id: NodeId) {
        let doc = self.doc;
        let group = doc
            .get_str(id, "apiVersion")
            .and_then(|v| v.rsplit_once('/'))
            .map(|(g, _)| g);
        let get = |map: Option<NodeId>, key: &str| map.and_then(|m| doc.get(m, key));
        let spec = self.follow(id, &["spec"]);
        let mut found: Vec<(Option<NodeId>, String, Over)> = Vec::new();
        // Lines named in messages, as the stream numbers them.
        let line_base = self.ex.stream_line(0);
        // Argo CD's `helm.parameters` win over `valuesObject`.
        let parameters = |helm: Option<NodeId>| {
            let mut over = Over::default();
            let Some((key, list)) = helm.and_then(|h| doc.entry_merged(h, "parameters")) else {
                return over;
            };
            over.parameters_line = line_base + doc.position(key).0;
            let list = doc.resolve(list);
            for &item in list.map_or(&[][..], |l| doc.seq_items(l)) {
                if let Some(name) = doc
                    .resolve(item)
                    .and_then(|i| doc.get_str_merged(i, "name"))
                {
                    over.parameters.push(name.to_string());
                }
            }
            over
        };
        match (group, doc.get_str(id, "kind")) {
            (Some("helm.toolkit.fluxcd.io"), Some("HelmRelease")) => {
                // A post-renderer running kustomize (`images`, patches)
                // rewrites what the chart rendered from the values.
                let mut over = Over::default();
                let renderers = get(spec, "postRenderers").and_then(|r| doc.resolve(r));
                for &r in renderers.map_or(&[][..], |r| doc.seq_items(r)) {
                    if let Some((key, _)) = doc
                        .resolve(r)
                        .and_then(|r| doc.entry_merged(r, "kustomize"))
                    {
                        over.post_renderer_line
                            .get_or_insert(self.ex.stream_line(doc.position(key).0));
                    }
                }
                found.push((get(spec, "values"), "spec.values".into(), over));
            }
            (Some("argoproj.io"), Some("Application")) => {
                let helm = spec.and_then(|s| self.follow(s, &["source", "helm"]));
                found.push((
                    get(helm, "valuesObject"),
                    "spec.source.helm.valuesObject".into(),
                    parameters(helm),
                ));
                let sources = get(spec, "sources").and_then(|s| doc.resolve(s));
                for (i, &source) in sources
                    .map_or(&[][..], |s| doc.seq_items(s))
                    .iter()
                    .enumerate()
                {
                    let helm = doc.resolve(source).and_then(|s| self.follow(s, &["helm"]));
                    found.push((
                        get(helm, "valuesObject"),
                        format!("spec.sources[{i}].helm.valuesObject"),
                        parameters(helm),
                    ));
                }
            }
            _ => {}
        }
        // Argo CD's `helm.values` is YAML inside a string: its images are
        // rendered but not read here.
        if group == Some("argoproj.io") && doc.get_str(id, "kind") == Some("Application") {
            let mut helms = vec![(
                spec.and_then(|s| self.follow(s, &["source", "helm"])),
                "spec.source.helm".to_string(),
            )];
            let sources = get(spec, "sources").and_then(|s| doc.resolve(s));
            for (i, &source) in sources
                .map_or(&[][..], |s| doc.seq_items(s))
                .iter()
                .enumerate()
            {
                helms.push((
                    doc.resolve(source).and_then(|s| self.follow(s, &["helm"])),
                    format!("spec.sources[{i}].helm"),
                ));
            }
            for (helm, at) in helms {
                let Some((key, value)) = helm.and_then(|h| doc.entry_merged(h, "values")) else {
                    continue;
                };
                let text = doc.resolve(value).and_then(|v| doc.scalar(v));
                if text.is_some_and(|t| !t.is_null() && !t.value.trim().is_empty()) {
                    self.ex.warn_at(
                        doc,
                        key,
                        format!("{at}.values is a string of chart values, which imagelock does not read: the images it sets are not locked; write them under `{at}.valuesObject`, or lock the rendered chart: `helm template RELEASE CHART -f VALUES | imagelock lock -`"),
                    );
                }
            }
        }
        for (values, name, over) in found {
            if let Some(values) = values {
                super::helm_values::extract_embedded(doc, values, &name, over, self.ex);
            }
        }
    }

    /// The mapping at `path` below `id` (through aliases and merge keys).
    fn follow(&self, mut id: NodeId, path: &[&str]) -> Option<NodeId> {
        let doc = self.doc;
        for key in path {
            let (_, v) = doc.entry_merged(id, key)?;
            id = doc.resolve(v).filter(|&v| doc.is_map(v))?;
        }
        Some(id)
    }

    /// A built-in kind's pod spec: its container lists and image volumes.
    fn pod_spec(&mut self, spec: NodeId, obj: &Obj) {
        let doc = self.doc;
        for list_key in ["containers", "initContainers", "ephemeralContainers"] {
            let Some((_, list)) = doc.entry_merged(spec, list_key) else {
                continue;
            };
            let Some(list) = doc.resolve(list).filter(|&l| doc.is_seq(l)) else {
                continue;
            };
            let place = Place {
                key: None,
                seq_key: Some(list_key),
            };
            let mut seen = HashSet::new();
            for &c in doc.seq_items(list) {
                let Some(c) = doc.resolve(c).filter(|&c| doc.is_map(c)) else {
                    continue;
                };
                if !seen.insert(c) {
                    // The same container again (`- *c`): one more place its
                    // image and policy stand, each an image place.
                    if let Some(v) = doc
                        .has_aliases()
                        .then(|| doc.entry_merged(c, "image"))
                        .flatten()
                        .and_then(|(_, v)| doc.resolve(v))
                    {
                        self.ex.count_visit(v);
                        if let Some(p) = policy_node(doc, c, "imagePullPolicy") {
                            *self.visits.entry(p).or_default() += 1;
                        }
                    }
                    continue;
                }
                if let Some((k, v)) = doc.entry_merged(c, "image") {
                    self.taken.insert(k);
                    self.image(c, k, v, obj, place, false, true);
                }
            }
        }
        let Some((_, volumes)) = doc.entry_merged(spec, "volumes") else {
            return;
        };
        let Some(volumes) = doc.resolve(volumes).filter(|&l| doc.is_seq(l)) else {
            return;
        };
        for &vol in doc.seq_items(volumes) {
            let Some(vol) = doc.resolve(vol).filter(|&v| doc.is_map(v)) else {
                continue;
            };
            let Some((k, v)) = doc.entry_merged(vol, "image") else {
                continue;
            };
            self.taken.insert(k);
            match doc.resolve(v) {
                Some(image) if doc.is_map(image) => {
                    self.image_volume(image, obj, KubernetesField::VolumeReference);
                }
                Some(image) => {
                    let what = doc.describe(image);
                    self.ex.warn_at(
                        doc,
                        image,
                        format!("volume image is {what}, not a mapping with `reference`; skipped"),
                    );
                }
                None => self.ex.warn_at(
                    doc,
                    k,
                    "volume image: the alias refers to an unknown anchor; skipped".into(),
                ),
            }
        }
    }

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
            if is_object(doc, id, true) {
                self.object(id, depth + 1);
            } else {
                self.visit_map(id, obj, place, depth);
            }
        }
    }

    /// A mapping of a custom resource (or of YAML that is no object).
    fn visit_map(&mut self, id: NodeId, obj: &Obj, place: Place<'d>, depth: usize) {
        let doc = self.doc;
        let pod_own;
        let obj = if is_pod_spec(doc, id) {
            pod_own = obj.with_pod(doc, id);
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
                Some("image") if !schema => {
                    self.taken.insert(k);
                    let map_is_object =
                        doc.get(id, "kind").is_some() || doc.get(id, "apiVersion").is_some();
                    self.image(id, k, v, obj, place, map_is_object, false);
                }
                Some("<<") => {
                    // Merge key: the merged mapping(s) sit where this one does.
                    self.visit(v, obj, place, depth + 1);
                }
                // Never pulled: left, and counted as left.
                Some(k) if NOT_PULLED.contains(&k) => {}
                _ => {
                    let vplace = Place { key, seq_key: None };
                    self.visit(v, obj, vplace, depth + 1);
                }
            }
        }
    }

    /// The value `v` of an `image` key `key` in mapping `map`: a container
    /// of a built-in kind's pod spec (`by_schema`), else an `image` key a
    /// custom resource's rules take.
    #[allow(clippy::too_many_arguments)]
    fn image(
        &mut self,
        map: NodeId,
        key: NodeId,
        v: NodeId,
        obj: &Obj,
        place: Place<'_>,
        map_is_object: bool,
        by_schema: bool,
    ) {
        let doc = self.doc;
        let images: Vec<NodeId> = doc
            .map_entries(map)
            .chunks_exact(2)
            .filter(|kv| doc.scalar_str(kv[0]) == Some("image"))
            .map(|kv| kv[0])
            .collect();
        if images.len() > 1 {
            // YAML forbids a key twice; readers disagree on which wins.
            self.taken.extend(images.iter().copied());
            let (line, column) = doc.position(images[1]);
            let value = doc
                .get_all(map, "image")
                .nth(1)
                .and_then(|second| doc.scalar_str(second))
                .unwrap_or_default()
                .to_string();
            if !self
                .ex
                .out
                .invalid
                .iter()
                .any(|i| i.line == line && i.column == column)
            {
                self.ex.out.invalid.push(super::InvalidImage {
                    file: self.ex.file(),
                    line,
                    column,
                    value,
                    message: "the key `image` is written twice in one mapping: YAML forbids it, kubectl rejects the file, and readers disagree on which value wins".into(),
                });
            }
            return;
        }
        let Some(target) = doc.resolve(v) else {
            self.ex.warn_at(
                doc,
                key,
                "image: the alias refers to an unknown anchor; skipped".into(),
            );
            return;
        };
        if doc.is_scalar(target) {
            if !by_schema && doc.get(map, "tag").is_some() {
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
            let field = match list {
                Some(l) if by_schema => KubernetesField::of_list(l),
                _ => KubernetesField::CustomResource,
            };
            let pull_policy_edit =
                list.and_then(|_| policy_edit(doc, map, key, target, "imagePullPolicy"));
            let policy_node = list.and_then(|_| policy_node(doc, map, "imagePullPolicy"));
            let context = ObjectContext {
                container: if map_is_object {
                    None
                } else {
                    doc.get_str_merged(map, "name").map(str::to_string)
                },
                list,
                field: Some(field),
                pull_policy: doc
                    .get_str_merged(map, "imagePullPolicy")
                    .map(str::to_string),
                pull_policy_edit,
                ..obj.context()
            };
            self.count_and_report(policy_node, |ex| {
                ex.image(
                    doc,
                    key,
                    target,
                    ImageField::Image,
                    Context::Kubernetes(context),
                    "image",
                );
            });
        } else if !by_schema && doc.is_map(target) && place.seq_key == Some("volumes") {
            self.image_volume(target, obj, KubernetesField::CustomResource);
        } else {
            let message = if doc.is_map(target) && !by_schema {
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
    fn image_volume(&mut self, image: NodeId, obj: &Obj, field: KubernetesField) {
        let doc = self.doc;
        let Some((rkey, r)) = doc.entry(image, "reference") else {
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
            field: Some(field),
            pull_policy: doc.get_str(image, "pullPolicy").map(str::to_string),
            pull_policy_edit: policy_edit(doc, image, rkey, rt, "pullPolicy"),
            ..obj.context()
        };
        let policy = policy_node(doc, image, "pullPolicy");
        self.count_and_report(policy, |ex| {
            ex.image(
                doc,
                rkey,
                rt,
                ImageField::VolumeReference,
                Context::Kubernetes(context),
                "image volume reference",
            );
        });
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
    if let Some((key, value)) = doc.entry(map, policy_key) {
        if doc.alias_target(value).is_some() {
            return Some(EditPlan::Shared {
                reason: format!("`{policy_key}` is written as an alias (`*name`): setting it would change the anchor and every other place that uses it"),
                hint: format!("write `{policy_key}: IfNotPresent` as a value of its own (or drop --pull-policy)"),
            });
        }
        let s = doc.scalar(doc.resolve(value)?)?;
        let key_at = doc.scalar(key)?.content.start;
        if s.tag != crate::yaml::typing::TagKind::None && s.tag != crate::yaml::typing::TagKind::Str
        {
            return Some(EditPlan::Shared {
                reason: format!("`{policy_key}` is written with a tag (`!!null`, a custom tag), which the value written would keep"),
                hint: format!("write `{policy_key}: IfNotPresent` without the tag (or drop --pull-policy)"),
            });
        }
        // `imagePullPolicy:` with no value: the value goes after the colon.
        if s.value.is_empty() && s.style == crate::yaml::QuoteStyle::Plain {
            let at = doc.after_key_colon(key)?;
            return Some(EditPlan::SetValue {
                span: at..at,
                key_at,
            });
        }
        return s.exact.then_some(EditPlan::SetValue {
            span: s.content,
            key_at,
        });
    }
    let beside = doc.scalar(image_key)?.content.start;
    Some(match doc.sibling_insert(map, image_key, image)? {
        SiblingInsert::Block(p) => EditPlan::InsertKey {
            after_line_end: p.after_line_end,
            indent: p.indent,
            key: policy_key.to_string(),
            beside,
        },
        SiblingInsert::Flow { at, json } => EditPlan::InsertFlowKey {
            at,
            key: policy_key.to_string(),
            beside,
            json,
        },
    })
}

/// The keys `image` of the mapping entries below `root` (itself
/// included), in the order they are written, each written entry once
/// (aliases are not followed).
fn image_keys(doc: &Doc<'_>, root: NodeId) -> Vec<NodeId> {
    let mut keys = Vec::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((id, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            continue;
        }
        if doc.is_map(id) {
            for kv in doc.map_entries(id).chunks_exact(2).rev() {
                if doc.scalar_str(kv[0]) == Some("image") {
                    keys.push(kv[0]);
                }
                stack.push((kv[1], depth + 1));
            }
        } else if doc.is_seq(id) {
            stack.extend(doc.seq_items(id).iter().rev().map(|&i| (i, depth + 1)));
        }
    }
    // Node ids follow the text's order.
    keys.sort_unstable();
    keys
}

/// The node a pull policy edit writes at: the value of `policy_key` when
/// the mapping has one, else the mapping itself (where it would be added).
fn policy_node(doc: &Doc<'_>, map: NodeId, policy_key: &str) -> Option<NodeId> {
    match doc.entry(map, policy_key) {
        Some((_, v)) => doc.resolve(v),
        None => Some(map),
    }
}
