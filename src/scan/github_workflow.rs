//! The GitHub Actions workflow extractor: the container images a workflow
//! runs, `jobs.<id>.container` (a string, or its `image`),
//! `jobs.<id>.services.<name>.image`, and `jobs.<id>.steps[].uses:
//! docker://image:tag` (only the reference after `docker://` is its span).
//! Actions (`uses: actions/checkout@v4`) and reusable workflows are not
//! images.

use super::extract::Extraction;
use super::yaml::{Doc, NodeId};
use super::{Context, ImageField};

/// Where in a workflow an image is named.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkflowImage {
    /// The job's id under `jobs`.
    pub job: String,
    /// `container`, `services.<name>`, or `steps[<index>].uses`.
    pub field: String,
}

/// A workflow: a top-level `jobs` mapping beside an `on` trigger (or a file
/// under `.github/workflows/`), and neither `apiVersion` nor `kind`.
pub fn is_workflow(doc: &Doc<'_>, root: NodeId, in_workflows_dir: bool) -> bool {
    super::extract::untyped_with_map(doc, root, "jobs")
        .is_some_and(|root| in_workflows_dir || doc.get(root, "on").is_some())
}

/// Whether `path` is under a `.github/workflows` directory.
pub fn in_workflows_dir(path: &std::path::Path) -> bool {
    let parts: Vec<_> = path
        .components()
        .map(std::path::Component::as_os_str)
        .collect();
    parts
        .windows(2)
        .any(|w| w[0] == ".github" && w[1] == "workflows")
}

/// Read every image of a workflow document.
pub fn extract(doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let Some(jobs) = doc
        .resolve(root)
        .and_then(|r| doc.get(r, "jobs"))
        .and_then(|j| doc.resolve(j))
    else {
        return;
    };
    for kv in doc.map_entries(jobs).chunks_exact(2) {
        let Some(job) = doc.scalar_str(kv[0]).map(str::to_string) else {
            continue;
        };
        let Some(body) = doc.resolve(kv[1]).filter(|&b| doc.is_map(b)) else {
            continue;
        };
        let context = |field: String| {
            Context::Workflow(WorkflowImage {
                job: job.clone(),
                field,
            })
        };
        // `container: node:20` or `container: {image: node:20, …}`.
        if let Some((key, value)) = doc.entry(body, "container") {
            match doc.resolve(value) {
                Some(v) if doc.is_map(v) => {
                    if let Some((k, image)) = doc.entry(v, "image") {
                        if let Some(image) = doc.resolve(image) {
                            let c = context("container".into());
                            ex.image(doc, k, image, ImageField::Image, c, "container image");
                        }
                    }
                }
                Some(v) => {
                    let c = context("container".into());
                    ex.image(doc, key, v, ImageField::Image, c, "container");
                }
                None => {}
            }
        }
        if let Some(services) = doc.get(body, "services").and_then(|s| doc.resolve(s)) {
            for svc in doc.map_entries(services).chunks_exact(2) {
                let name = doc.scalar_str(svc[0]).unwrap_or("?").to_string();
                let Some(service) = doc.resolve(svc[1]).filter(|&s| doc.is_map(s)) else {
                    continue;
                };
                if let Some((k, image)) = doc.entry(service, "image") {
                    if let Some(image) = doc.resolve(image) {
                        let c = context(format!("services.{name}"));
                        ex.image(doc, k, image, ImageField::Image, c, "service image");
                    }
                }
            }
        }
        if let Some(steps) = doc.get(body, "steps").and_then(|s| doc.resolve(s)) {
            for (i, &step) in doc.seq_items(steps).iter().enumerate() {
                let Some(step) = doc.resolve(step).filter(|&s| doc.is_map(s)) else {
                    continue;
                };
                if let Some((k, uses)) = doc.entry(step, "uses") {
                    if let Some(uses) = doc.resolve(uses) {
                        let c = context(format!("steps[{i}].uses"));
                        ex.image_after(doc, k, uses, "docker://", ImageField::Image, c, "uses");
                    }
                }
            }
        }
    }
}
