//! Chart values a release embeds (a Flux `HelmRelease`'s `spec.values`,
//! an Argo CD `Application`'s `valuesObject`), and what the release
//! applies over them.

use super::*;

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
    pub(super) fn overrides(&self, key: &str) -> Option<String> {
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
