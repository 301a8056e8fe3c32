//! The compose extractor: `services.<name>.image` of a compose file, with
//! the service's `pull_policy` and whether it has a `build:` section (then
//! the image is the one it builds, not one to pull). Service keys are read
//! through merge keys (`<<: *common`), as compose reads them.

use super::extract::Extraction;
use super::yaml::{Doc, NodeId};
use super::{ComposeService, Context, ImageField};

/// A compose file: a top-level mapping with a `services` mapping and
/// neither `apiVersion` nor `kind` (those make it a Kubernetes object).
pub fn is_compose(doc: &Doc<'_>, root: NodeId) -> bool {
    super::extract::untyped_with_map(doc, root, "services").is_some()
}

/// Read the image of every service of a compose document.
pub fn extract(doc: &Doc<'_>, root: NodeId, ex: &mut Extraction<'_>) {
    let Some(services) = doc
        .resolve(root)
        .and_then(|r| doc.get(r, "services"))
        .and_then(|s| doc.resolve(s))
    else {
        return;
    };
    for kv in doc.map_entries(services).chunks_exact(2) {
        let Some(name) = doc.scalar_str(kv[0]) else {
            continue;
        };
        let Some(service) = doc.resolve(kv[1]).filter(|&s| doc.is_map(s)) else {
            continue;
        };
        let Some((key, value)) = doc.entry_merged(service, "image") else {
            continue;
        };
        let Some(target) = doc.resolve(value) else {
            ex.warn_at(
                doc,
                key,
                "image: the alias refers to an unknown anchor; skipped".into(),
            );
            continue;
        };
        if !doc.is_scalar(target) {
            let what = doc.describe(target);
            ex.warn_at(
                doc,
                target,
                format!("image value is {what}, not a string; skipped"),
            );
            continue;
        }
        let context = ComposeService {
            service: name.to_string(),
            pull_policy: doc
                .get_str_merged(service, "pull_policy")
                .map(str::to_string),
            built: doc.entry_merged(service, "build").is_some(),
        };
        ex.image(
            doc,
            key,
            target,
            ImageField::Image,
            Context::Compose(context),
            "image",
        );
    }
}
