//! Pull-policy awareness: the `imagePullPolicy` the API server would default
//! to, and the warnings that follow from it. Pure code.

use crate::reference::Reference;

/// A Kubernetes image pull policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }

    /// The policy the API server defaults to: `Always` when the tag is
    /// `latest` or there is neither tag nor digest (`nginx:latest@sha256:…`
    /// still gets `Always`), otherwise `IfNotPresent`.
    pub fn default_for(reference: &Reference) -> PullPolicy {
        match (reference.tag(), reference.digest()) {
            (Some("latest"), _) | (None, None) => PullPolicy::Always,
            _ => PullPolicy::IfNotPresent,
        }
    }
}

impl std::fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy a pod gets: the written one when valid, else the default.
/// Returns the policy and, when the written value is not a policy, a note.
pub fn effective(reference: &Reference, written: Option<&str>) -> (PullPolicy, Option<String>) {
    match written {
        Some("Always") => (PullPolicy::Always, None),
        Some("IfNotPresent") => (PullPolicy::IfNotPresent, None),
        Some("Never") => (PullPolicy::Never, None),
        Some(other) => (
            PullPolicy::default_for(reference),
            Some(format!(
                "imagePullPolicy {other:?} is not Always, IfNotPresent or Never; the API server will reject it"
            )),
        ),
        None => (PullPolicy::default_for(reference), None),
    }
}

/// The effective policy of a reference with the written `imagePullPolicy`,
/// and every warning about it (an invalid written policy included).
pub fn assess(reference: &Reference, written: Option<&str>) -> (PullPolicy, Vec<String>) {
    let (policy, note) = effective(reference, written);
    let mut out: Vec<String> = note.into_iter().collect();
    out.extend(warnings(reference, policy));
    (policy, out)
}

/// Warnings about how a reference and its effective policy behave on a node.
pub fn warnings(reference: &Reference, policy: PullPolicy) -> Vec<String> {
    let mut out = Vec::new();
    let pinned = reference.digest().is_some();
    match reference.tag() {
        Some("latest") if !pinned => out.push(
            "uses the tag `latest`: what runs depends on when each node pulled; pin a digest".to_string(),
        ),
        None if !pinned => out.push(
            "has no tag, so it means `latest`: what runs depends on when each node pulled; pin a digest".to_string(),
        ),
        _ => {}
    }
    match policy {
        PullPolicy::IfNotPresent if !pinned => out.push(
            "mutable tag with imagePullPolicy IfNotPresent: nodes keep running a stale cached image after the tag moves; pin a digest".to_string(),
        ),
        PullPolicy::Always if pinned => out.push(
            "pinned by digest but imagePullPolicy is Always: every pod start depends on the registry being up, and an outage becomes ErrImagePull; consider IfNotPresent".to_string(),
        ),
        PullPolicy::Never => out.push(
            "imagePullPolicy Never: the image must be pre-loaded on every node".to_string(),
        ),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }
    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_follow_the_api_server() {
        assert_eq!(PullPolicy::default_for(&r("nginx")), PullPolicy::Always);
        assert_eq!(
            PullPolicy::default_for(&r("nginx:latest")),
            PullPolicy::Always
        );
        assert_eq!(
            PullPolicy::default_for(&r(&format!("nginx:latest@{D}"))),
            PullPolicy::Always
        );
        assert_eq!(
            PullPolicy::default_for(&r("nginx:1.25")),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::default_for(&r(&format!("nginx@{D}"))),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::default_for(&r(&format!("nginx:1.25@{D}"))),
            PullPolicy::IfNotPresent
        );
    }

    #[test]
    fn written_policy_wins() {
        assert_eq!(effective(&r("nginx"), Some("Never")).0, PullPolicy::Never);
        let (p, note) = effective(&r("nginx:1"), Some("always"));
        assert_eq!(p, PullPolicy::IfNotPresent);
        assert!(note.unwrap().contains("\"always\""));
    }

    #[test]
    fn warnings_name_the_risk() {
        let w = warnings(&r("nginx:1.25"), PullPolicy::IfNotPresent);
        assert!(w.iter().any(|m| m.contains("stale cached image")), "{w:?}");
        let w = warnings(&r("nginx"), PullPolicy::Always);
        assert!(w.iter().any(|m| m.contains("no tag")), "{w:?}");
        let w = warnings(&r(&format!("nginx:1@{D}")), PullPolicy::Always);
        assert!(w.iter().any(|m| m.contains("ErrImagePull")), "{w:?}");
        let w = warnings(&r(&format!("nginx:1@{D}")), PullPolicy::IfNotPresent);
        assert!(w.is_empty(), "{w:?}");
        let w = warnings(&r(&format!("nginx:1@{D}")), PullPolicy::Never);
        assert!(w.iter().any(|m| m.contains("pre-loaded")), "{w:?}");
    }
}
