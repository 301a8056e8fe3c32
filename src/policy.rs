//! Pull-policy awareness per input kind: for Kubernetes (containers and
//! image volumes) the `imagePullPolicy` the API server would default to and
//! the warnings that follow from it; for compose its own `pull_policy`
//! (default `missing`). Input kinds without a pull policy get none. Pure
//! code.

use crate::reference::Reference;
use crate::scan::{Context, KubernetesField};

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

/// A compose service's `pull_policy`
/// (<https://docs.docker.com/reference/compose-file/services/#pull_policy>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposePullPolicy {
    /// `always`: pull on every `up`.
    Always,
    /// `never`: use only what the host has.
    Never,
    /// `missing` (also written `if_not_present`), the default: pull only
    /// when the host has no image of that reference.
    Missing,
    /// `build`: build the image, never pull it.
    Build,
    /// `daily`, `weekly`, `every_<duration>`: pull when the local copy is older.
    Refresh(String),
}

impl ComposePullPolicy {
    /// The policy as written, `None` when compose would refuse it.
    pub fn parse(written: &str) -> Option<ComposePullPolicy> {
        Some(match written {
            "always" => ComposePullPolicy::Always,
            "never" => ComposePullPolicy::Never,
            "missing" | "if_not_present" => ComposePullPolicy::Missing,
            "build" => ComposePullPolicy::Build,
            "daily" | "weekly" => ComposePullPolicy::Refresh(written.to_string()),
            _ if written
                .strip_prefix("every_")
                .is_some_and(|d| !d.is_empty()) =>
            {
                ComposePullPolicy::Refresh(written.to_string())
            }
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            ComposePullPolicy::Always => "always",
            ComposePullPolicy::Never => "never",
            ComposePullPolicy::Missing => "missing",
            ComposePullPolicy::Build => "build",
            ComposePullPolicy::Refresh(s) => s,
        }
    }
}

/// The pull policy in effect where a reference is used, per input kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effective {
    Kubernetes(PullPolicy),
    Compose(ComposePullPolicy),
    /// Pulled by a builder or a CI runner (a Dockerfile, a workflow), or
    /// not pulled where it is written (a kustomization `images:` entry:
    /// the resources' policy applies; a `[[location]]` value such as an
    /// argument: what pulls it sets its own): no pull policy here (shown as `-`,
    /// `null` in JSON).
    Runner,
    /// A Helm values image: the chart's templates set the pull policy, not
    /// the values file (shown as `-`, `null` in JSON).
    Chart,
}

impl std::fmt::Display for Effective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effective::Kubernetes(p) => f.write_str(p.as_str()),
            Effective::Compose(p) => f.write_str(p.as_str()),
            Effective::Runner | Effective::Chart => f.write_str("-"),
        }
    }
}

impl serde::Serialize for Effective {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Effective::Runner | Effective::Chart => s.serialize_none(),
            _ => s.collect_str(self),
        }
    }
}

/// The effective policy of a reference where it is used, and every warning
/// about it.
///
/// Kubernetes (containers and image volumes): see [`assess`].
///
/// Compose: the written `pull_policy`, else `missing`. Compose runs one
/// host, where `docker compose pull` is how tags move, so a mutable tag is
/// no warning under any policy (`always` with a mutable tag is fine; to
/// demand digests use `check --require-pinned`). Compose warns only about
/// a `pull_policy` compose refuses, and about `never` (the image must
/// already be on the host). No Kubernetes `imagePullPolicy` warning ever
/// applies to compose.
pub fn assess_in(reference: &Reference, context: &Context) -> (Effective, Vec<String>) {
    match context {
        // A `[[location]]` value (an argument, an `env` value, a custom
        // resource's field) is not the container's image: no
        // `imagePullPolicy` applies to it, only what its tag means.
        Context::Kubernetes(c) if c.field == Some(KubernetesField::Location) => {
            (Effective::Runner, tag_warnings(reference))
        }
        Context::Kubernetes(c) => {
            let (p, w) = assess(reference, c.pull_policy.as_deref());
            (Effective::Kubernetes(p), w)
        }
        // An image its service builds is never pulled: no policy warning.
        Context::Compose(c) if c.built => (
            Effective::Compose(
                c.pull_policy
                    .as_deref()
                    .and_then(ComposePullPolicy::parse)
                    .unwrap_or(ComposePullPolicy::Missing),
            ),
            Vec::new(),
        ),
        Context::Compose(c) => {
            let written = c.pull_policy.as_deref();
            match written.map(|w| (w, ComposePullPolicy::parse(w))) {
                None => (Effective::Compose(ComposePullPolicy::Missing), Vec::new()),
                Some((w, None)) => (
                    Effective::Compose(ComposePullPolicy::Missing),
                    vec![format!(
                        "pull_policy {w:?} is not always, never, missing, if_not_present, build, daily, weekly or every_<duration>; compose will refuse it"
                    )],
                ),
                Some((_, Some(ComposePullPolicy::Never))) => (
                    Effective::Compose(ComposePullPolicy::Never),
                    vec!["pull_policy never: the image must already be on the host".to_string()],
                ),
                Some((_, Some(p))) => (Effective::Compose(p), Vec::new()),
            }
        }
        // A kustomization entry is not where the image is pulled: the
        // policy is the resources' (read from them when they are scanned).
        Context::Dockerfile(_) | Context::Workflow(_) | Context::Kustomize(_) => {
            (Effective::Runner, Vec::new())
        }
        Context::HelmValues(_) => (Effective::Chart, Vec::new()),
    }
}

/// The effective policy of a reference where it is used, without building
/// its warnings (for a run that shows none; Kubernetes warns about nearly
/// every mutable tag, elsewhere warnings are rare).
pub fn effective_in(reference: &Reference, context: &Context) -> Effective {
    match context {
        Context::Kubernetes(c) if c.field != Some(KubernetesField::Location) => {
            Effective::Kubernetes(effective(reference, c.pull_policy.as_deref()).0)
        }
        _ => assess_in(reference, context).0,
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

/// What the tag alone means on a node, whatever pulls it: `latest`, or
/// no tag (which means `latest`), unpinned.
fn tag_warnings(reference: &Reference) -> Vec<String> {
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
    out
}

/// Warnings about how a reference and its effective policy behave on a node.
pub fn warnings(reference: &Reference, policy: PullPolicy) -> Vec<String> {
    let mut out = tag_warnings(reference);
    let pinned = reference.digest().is_some();
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

    fn compose(pull_policy: Option<&str>) -> Context {
        Context::Compose(crate::scan::ComposeService {
            service: "web".into(),
            pull_policy: pull_policy.map(str::to_string),
            built: false,
            ..Default::default()
        })
    }

    #[test]
    fn compose_defaults_to_missing_without_kubernetes_warnings() {
        let (p, w) = assess_in(&r("nginx:1.25"), &compose(None));
        assert_eq!(p, Effective::Compose(ComposePullPolicy::Missing));
        assert_eq!(p.to_string(), "missing");
        assert!(w.is_empty(), "{w:?}");
        let (p, w) = assess_in(&r("nginx:latest"), &compose(Some("always")));
        assert_eq!(p.to_string(), "always");
        assert!(w.is_empty(), "{w:?}");
        let (p, w) = assess_in(&r("nginx"), &compose(Some("if_not_present")));
        assert_eq!(p, Effective::Compose(ComposePullPolicy::Missing));
        assert!(w.is_empty(), "{w:?}");
        let (p, _) = assess_in(&r("nginx"), &compose(Some("every_12h")));
        assert_eq!(p.to_string(), "every_12h");
    }

    #[test]
    fn compose_warns_about_never_and_refused_policies() {
        let (_, w) = assess_in(&r("nginx:1"), &compose(Some("never")));
        assert!(w.iter().any(|m| m.contains("on the host")), "{w:?}");
        let (p, w) = assess_in(&r("nginx:1"), &compose(Some("Always")));
        assert_eq!(p.to_string(), "missing");
        assert!(w.iter().any(|m| m.contains("compose will refuse")), "{w:?}");
        // An image its service builds is never pulled: no warning at all.
        let built = Context::Compose(crate::scan::ComposeService {
            service: "app".into(),
            pull_policy: Some("never".into()),
            built: true,
            ..Default::default()
        });
        let (p, w) = assess_in(&r("acme/app:dev"), &built);
        assert_eq!(p, Effective::Compose(ComposePullPolicy::Never));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn kubernetes_context_keeps_the_api_server_rules() {
        let c = Context::Kubernetes(crate::scan::ObjectContext::default());
        let (p, w) = assess_in(&r("nginx:1.25"), &c);
        assert_eq!(p, Effective::Kubernetes(PullPolicy::IfNotPresent));
        assert!(w.iter().any(|m| m.contains("stale cached image")), "{w:?}");
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
