//! A STAND-IN for the OCI 1.1 referrers API (distribution-spec spec.md
//! "Listing Referrers"), which the CNCF registry 2.8 these tests run does
//! not serve (it answers 404 there) and no registry from a package
//! repository reachable here does.
//!
//! It is the [`FaultProxy`] in front of the real registry: requests to
//! `/v2/<name>/referrers/<digest>` are answered here, everything else is
//! forwarded. The answers are built from what was really pushed: the
//! referrers tag schema index (`sha256-<hex>`) the producer wrote, read
//! from the registry, its descriptors served as the API would (an image
//! index, `Content-Type: application/vnd.oci.image.index.v1+json`), split
//! into pages joined by `Link: <…>; rel="next"`, optionally with
//! `OCI-Filters-Applied: artifactType`. Only what the tests need: it knows
//! the pages it was given, not the query.

use super::{block, FaultProxy, Registry};
use crate::support::Fault;

/// The referrers tag schema tag of `digest` (`sha256:<hex>`).
pub(crate) fn referrers_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// The descriptors of the referrers tag schema index of `repo@digest` at
/// `reg` (empty when the tag does not exist).
pub(crate) fn pushed_referrers(reg: &Registry, repo: &str, digest: &str) -> Vec<serde_json::Value> {
    let url = format!(
        "{}/v2/{repo}/manifests/{}",
        reg.base_url(),
        referrers_tag(digest)
    );
    let http = reg.http();
    block(async move {
        let resp = http
            .get(url)
            .header("Accept", "application/vnd.oci.image.index.v1+json")
            .send()
            .await
            .unwrap();
        if resp.status().as_u16() == 404 {
            return Vec::new();
        }
        assert!(resp.status().is_success(), "{resp:?}");
        let index: serde_json::Value = resp.json().await.unwrap();
        index["manifests"].as_array().cloned().unwrap_or_default()
    })
}

/// The referrers API, standing in (see the module documentation).
pub(crate) struct ReferrersApiStandIn {
    pub proxy: FaultProxy,
}

/// One answer of the stand-in.
pub(crate) struct Page {
    pub descriptors: Vec<serde_json::Value>,
    /// `Link: <next>; rel="next"` (a path or a URL).
    pub next: Option<String>,
    /// Send `OCI-Filters-Applied: artifactType`.
    pub filtered: bool,
}

impl ReferrersApiStandIn {
    pub(crate) fn start(reg: &Registry) -> ReferrersApiStandIn {
        assert!(!reg.is_tls(), "the stand-in forwards plain HTTP");
        ReferrersApiStandIn {
            proxy: FaultProxy::start(reg.port),
        }
    }

    /// `127.0.0.1:PORT`
    pub(crate) fn host(&self) -> String {
        self.proxy.host()
    }

    /// Answer the next `GET` whose path contains `path_contains` with
    /// `page`. Rules are tried in the order they were added: add the most
    /// specific (a later page's query) first.
    pub(crate) fn answer(&self, path_contains: &str, page: Page) {
        let body = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": page.descriptors,
        }))
        .unwrap();
        let mut headers = vec![(
            "Content-Type".to_string(),
            "application/vnd.oci.image.index.v1+json".to_string(),
        )];
        if let Some(next) = page.next {
            headers.push(("Link".to_string(), format!("<{next}>; rel=\"next\"")));
        }
        if page.filtered {
            headers.push((
                "OCI-Filters-Applied".to_string(),
                "artifactType".to_string(),
            ));
        }
        self.proxy.add(
            Some("GET"),
            path_contains,
            Fault::Answer {
                code: 200,
                headers,
                body,
            },
            1,
        );
    }
}
