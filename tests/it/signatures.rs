//! Signature discovery (`Client::discover`) against the real registry
//! (CNCF distribution 2.8: cosign's tags and the referrers tag schema),
//! with signatures made by the independent producer
//! `scripts/sign-image.py` (Python `cryptography`, see
//! `support::sign_image`), and the referrers API through a stand-in named
//! as such (`support::referrers_api`), the registry having none. What the
//! producer says it pushed is what discovery must find, digest for digest.

use std::collections::BTreeSet;
use std::sync::Arc;

use imagelock::credentials::Anonymous;
use imagelock::reference::{Digest, Reference};
use imagelock::registry::signatures::{
    DSSE_ENVELOPE, JOSE, NOTATION_SIGNATURE, SIGSTORE_BUNDLE_V03,
};
use imagelock::registry::{
    Client, DiscoverOptions, Discovered, ErrorKind, FilteredBy, ReferrersSource, RegistryConfig,
};

use crate::support::referrers_api::{pushed_referrers, referrers_tag, Page, ReferrersApiStandIn};
use crate::support::sign_image::Signer;
use crate::support::{block, Fault, FaultProxy, Registry, Setup};

const SLSA: &str = "https://slsa.dev/provenance/v1";

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn d(s: &str) -> Digest {
    Digest::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn s(v: &serde_json::Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// An anonymous client speaking plain HTTP to `host` (a proxy).
fn client_via(reg: &Registry, host: &str) -> Client {
    let cfg = RegistryConfig {
        plain_http: vec![host.to_string()],
        ..reg.registry_config()
    };
    Client::new(cfg, Arc::new(Anonymous)).unwrap()
}

async fn discover(c: &Client, host: &str, repo: &str, digest: &str) -> Discovered {
    c.discover(&r(&format!("{host}/{repo}:ignored")), &d(digest))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn referrer_digests(found: &Discovered) -> BTreeSet<String> {
    found
        .referrers
        .iter()
        .map(|r| r.digest.to_string())
        .collect()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Whether `content` is what the producer says it pushed: the same bytes
/// when it printed them as a string, else the same JSON.
fn same_content(content: &[u8], made: &serde_json::Value) -> bool {
    match made {
        serde_json::Value::String(text) => content == text.as_bytes(),
        other => json(content) == *other,
    }
}

/// Everything the producer makes, on one digest, found through cosign's
/// tags and the referrers tag schema, with exactly the requests the issue
/// allows; then a second digest of the same registry, which makes no
/// referrers API request any more.
#[test]
fn every_kind_is_found_with_the_requests_allowed() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "signed");
    let image = format!("team/app@{digest}");

    let sig1 = signer.cosign_sign(&image, &[]);
    let sig2 = signer.cosign_sign(&image, &["--append", "--annotation", "team=a"]);
    let att = signer.attest(&image, SLSA, &["--as", "tag"]);
    let sbom = signer.sbom(&image, "spdx");
    let bundle = signer.bundle_sign(&image, &[]);
    let bundle_dsse =
        signer.bundle_sign(&image, &["--predicate-type", SLSA, "--empty-artifact-type"]);
    let notation = signer.notation_sign(&image, &[]);
    let proxy = FaultProxy::start(reg.port);
    // Rate-limit headers on every answer, so the client's budget counts
    // the requests the registry would (manifest GETs).
    proxy.add(
        None,
        "/v2/",
        Fault::AddHeaders(vec![
            ("RateLimit-Limit".into(), "1000;w=21600".into()),
            ("RateLimit-Remaining".into(), "999;w=21600".into()),
        ]),
        usize::MAX,
    );
    let c = client_via(&reg, &proxy.host());
    let found = block(discover(&c, &proxy.host(), "team/app", &digest));
    assert_eq!(found.subject.to_string(), digest);

    // cosign .sig: one layer per signature, in order, read and annotated.
    let sigs = &found.cosign_signatures;
    assert_eq!(sigs.len(), 2, "{sigs:#?}");
    for (got, made) in sigs.iter().zip([&sig1, &sig2]) {
        assert_eq!(got.layer_digest.to_string(), s(&made["layer_digest"]));
        assert_eq!(got.manifest_digest.to_string(), s(&sig2["manifest_digest"]));
        assert_eq!(
            got.media_type,
            "application/vnd.dev.cosign.simplesigning.v1+json"
        );
        assert!(same_content(&got.payload, &made["payload"]));
        assert_eq!(
            got.annotations["dev.cosignproject.cosign/signature"],
            s(&made["signature"])
        );
    }
    // `--annotation` goes into the payload's `optional`, as cosign's `-a`.
    assert_eq!(json(&sigs[1].payload)["optional"]["team"], "a");

    // cosign .att: the DSSE envelope, with its predicate type.
    let atts = &found.cosign_attestations;
    assert_eq!(atts.len(), 1, "{atts:#?}");
    assert_eq!(
        atts[0].manifest_digest.to_string(),
        s(&att["tag"]["manifest_digest"])
    );
    assert_eq!(
        atts[0].layer_digest.to_string(),
        s(&att["tag"]["layer_digest"])
    );
    assert_eq!(atts[0].media_type, DSSE_ENVELOPE);
    assert_eq!(atts[0].annotations["predicateType"], SLSA);
    let envelope = json(&atts[0].payload);
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");

    // cosign .sbom: listed, not read.
    let got_sbom = found.cosign_sbom.as_ref().expect("the .sbom tag");
    assert_eq!(
        got_sbom.manifest_digest.to_string(),
        s(&sbom["manifest_digest"])
    );
    assert_eq!(got_sbom.layers.len(), 1);
    assert_eq!(
        got_sbom.layers[0].digest.to_string(),
        s(&sbom["layer_digest"])
    );
    assert_eq!(got_sbom.layers[0].media_type, s(&sbom["media_type"]));
    assert!(got_sbom.layers[0].content.is_none());

    // Referrers, from the tag schema: exactly the three pushed.
    assert_eq!(found.referrers_source, ReferrersSource::TagSchema);
    assert_eq!(found.referrers_filtered_by, None);
    let pushed: BTreeSet<String> = [&bundle, &bundle_dsse, &notation]
        .iter()
        .map(|m| s(&m["manifest_digest"]).to_string())
        .collect();
    assert_eq!(referrer_digests(&found), pushed);
    let by = |m: &serde_json::Value| {
        found
            .referrers
            .iter()
            .find(|r| r.digest.to_string() == s(&m["manifest_digest"]))
            .unwrap()
    };
    for (made, listed) in [(&bundle, SIGSTORE_BUNDLE_V03), (&bundle_dsse, "")] {
        let got = by(made);
        assert!(got.read);
        // Listed without a type: recognised by its layer.
        assert_eq!(got.artifact_type, SIGSTORE_BUNDLE_V03);
        assert_eq!(got.listed_artifact_type, listed);
        assert_eq!(
            got.subject.as_ref().map(ToString::to_string),
            Some(digest.clone())
        );
        assert_eq!(got.layers.len(), 1);
        assert_eq!(got.layers[0].digest.to_string(), s(&made["layer_digest"]));
        assert_eq!(got.layers[0].media_type, SIGSTORE_BUNDLE_V03);
        assert!(same_content(
            got.layers[0].content.as_ref().unwrap(),
            &made["bundle"]
        ));
    }
    let got = by(&notation);
    assert_eq!(got.artifact_type, NOTATION_SIGNATURE);
    assert!(got
        .annotations
        .contains_key("io.cncf.notary.x509chain.thumbprint#S256"));
    assert_eq!(got.layers[0].media_type, JOSE);
    assert_eq!(
        got.layers[0].digest.to_string(),
        s(&notation["layer_digest"])
    );
    assert!(same_content(
        got.layers[0].content.as_ref().unwrap(),
        &notation["envelope"]
    ));

    // The requests: the referrers API once (404: distribution 2.8 has
    // none), its tag-schema fallback once; one HEAD per cosign tag, HEAD
    // before any GET, the tags that exist read by digest, never by tag.
    let hex = digest.trim_start_matches("sha256:");
    let tag = referrers_tag(&digest);
    assert_eq!(proxy.count("GET", "/referrers/"), 1);
    assert_eq!(proxy.count("GET", &format!("/manifests/{tag}")), 1);
    for suffix in ["sig", "att", "sbom"] {
        let t = format!("/manifests/sha256-{hex}.{suffix}");
        assert_eq!(proxy.count("HEAD", &t), 1, "{t}");
        assert_eq!(proxy.count("GET", &t), 0, "{t}");
    }
    // Manifests read: .sig, .att, .sbom and the three referrers (by
    // digest), plus the referrers index (by tag).
    let by_digest = proxy.count("GET", "/manifests/sha256:");
    assert_eq!(by_digest, 6);
    // Blobs read: two .sig layers, one .att layer, the three referrers'
    // signature layers; the .sbom layer and no config is read.
    assert_eq!(proxy.count("GET", "/blobs/"), 6);
    assert_eq!(proxy.requests().len(), 1 + 1 + 3 + 6 + 6);
    // The budget counts the manifest GETs a registry counts.
    let budget = c.budget();
    assert_eq!(budget.len(), 1);
    assert_eq!(budget[0].counted_requests, 7);

    // A second digest with one cosign signature only: no referrers API
    // request (the registry is known to have none), one tag-schema GET
    // (404: no referrers), three HEADs, one .sig manifest and layer.
    let other = reg.push_oci_image("team/app", "v2", "other");
    let sig = signer.cosign_sign(&format!("team/app@{other}"), &[]);
    let before = proxy.requests().len();
    let found = block(discover(&c, &proxy.host(), "team/app", &other));
    assert_eq!(found.referrers_source, ReferrersSource::None);
    assert!(found.referrers.is_empty() && found.cosign_attestations.is_empty());
    assert!(found.cosign_sbom.is_none());
    assert_eq!(found.cosign_signatures.len(), 1);
    assert_eq!(
        found.cosign_signatures[0].layer_digest.to_string(),
        s(&sig["layer_digest"])
    );
    let after: Vec<_> = proxy.requests()[before..].to_vec();
    let seen: Vec<String> = after
        .iter()
        .map(|q| format!("{} {}", q.method, q.path))
        .collect();
    assert_eq!(after.len(), 1 + 3 + 1 + 1, "{seen:#?}");
    assert!(!seen.iter().any(|q| q.contains("/referrers/")), "{seen:#?}");
    assert_eq!(
        proxy.count("GET", &format!("/manifests/{}", referrers_tag(&other))),
        1
    );
}

/// The referrers API (through the stand-in, built from what the producer
/// pushed): pages joined by `Link` are all read, the tag schema is never
/// asked; an artifact type filter the registry says it applied
/// (`OCI-Filters-Applied`) is trusted, one it ignored is applied here.
#[test]
fn the_referrers_api_is_paged_and_filtered() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "api");
    let image = format!("team/app@{digest}");
    let bundle = signer.bundle_sign(&image, &[]);
    let notation = signer.notation_sign(&image, &[]);
    let listed = pushed_referrers(&reg, "team/app", &digest);
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let notation_only: Vec<_> = listed
        .iter()
        .filter(|d| d["artifactType"] == NOTATION_SIGNATURE)
        .cloned()
        .collect();

    let api = ReferrersApiStandIn::start(&reg);
    let host = api.host();
    let first = format!("/v2/team/app/referrers/{digest}");
    // Most specific first: the stand-in tries its answers in order.
    // Page 2 also lists an artifact no signature can be in (an SBOM
    // pushed by `oras attach`): listed, never read (its manifest is not
    // even in the registry, so reading it would fail).
    let sbom = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", "5".repeat(64)),
        "size": 321,
        "artifactType": "application/spdx+json",
        "annotations": {"org.opencontainers.image.created": "2026-12-07T00:00:00Z"},
    });
    let mut page2 = listed[1..].to_vec();
    page2.push(sbom.clone());
    api.answer(
        "page=2",
        Page {
            descriptors: page2,
            next: None,
            filtered: false,
        },
    );
    api.answer(
        &first,
        Page {
            descriptors: listed[..1].to_vec(),
            next: Some(format!("{first}?page=2")),
            filtered: false,
        },
    );
    let c = client_via(&reg, &host);
    let found = block(discover(&c, &host, "team/app", &digest));
    assert_eq!(found.referrers_source, ReferrersSource::Api);
    assert_eq!(found.referrers_filtered_by, None);
    let pushed: BTreeSet<String> = [&bundle, &notation, &sbom]
        .iter()
        .map(|m| s(m.get("manifest_digest").unwrap_or(&m["digest"])).to_string())
        .collect();
    assert_eq!(referrer_digests(&found), pushed);
    for got in &found.referrers {
        if got.digest.to_string() == s(&sbom["digest"]) {
            assert!(!got.read && got.layers.is_empty() && got.subject.is_none());
            assert_eq!(got.artifact_type, "application/spdx+json");
            assert_eq!(
                got.annotations["org.opencontainers.image.created"],
                "2026-12-07T00:00:00Z"
            );
        } else {
            assert!(got.read && got.layers[0].content.is_some(), "{got:#?}");
        }
    }
    assert_eq!(api.proxy.count("GET", "/referrers/"), 2);
    assert_eq!(
        api.proxy
            .count("GET", &format!("/manifests/{}", referrers_tag(&digest))),
        0
    );

    // A filter the registry applied: its answer is taken as it is.
    let only = DiscoverOptions {
        artifact_type: Some(NOTATION_SIGNATURE.to_string()),
        ..Default::default()
    };
    api.answer(
        "artifactType=",
        Page {
            descriptors: notation_only.clone(),
            next: None,
            filtered: true,
        },
    );
    let reference = r(&format!("{host}/team/app"));
    let lookup = Arc::new(Default::default());
    let found = block(c.discover_with(&reference, &d(&digest), lookup, &only)).unwrap();
    assert_eq!(found.referrers_filtered_by, Some(FilteredBy::Registry));
    let notation_digest = BTreeSet::from([s(&notation["manifest_digest"]).to_string()]);
    assert_eq!(referrer_digests(&found), notation_digest);
    let asked = api.proxy.requests();
    let asked = asked
        .iter()
        .rev()
        .find(|q| q.path.contains("/referrers/"))
        .unwrap();
    assert!(
        asked
            .path
            .ends_with("artifactType=application%2Fvnd.cncf.notary.signature"),
        "{}",
        asked.path
    );

    // A filter the registry ignored (no OCI-Filters-Applied, everything
    // listed): applied here, and the other referrer is not even read.
    api.answer(
        "artifactType=",
        Page {
            descriptors: listed.clone(),
            next: None,
            filtered: false,
        },
    );
    let before = api.proxy.count("GET", "/manifests/sha256:");
    let lookup = Arc::new(Default::default());
    let found = block(c.discover_with(&reference, &d(&digest), lookup, &only)).unwrap();
    assert_eq!(found.referrers_filtered_by, Some(FilteredBy::Client));
    assert_eq!(referrer_digests(&found), notation_digest);
    assert_eq!(api.proxy.count("GET", "/manifests/sha256:") - before, 1);

    // A next page at another host is not followed (nor credentials sent).
    api.answer(
        &first,
        Page {
            descriptors: listed[..1].to_vec(),
            next: Some("http://127.0.0.1:9/v2/team/app/referrers/x?page=2".into()),
            filtered: false,
        },
    );
    let err = block(discover_err(&c, &host, &digest));
    assert!(matches!(err.kind, ErrorKind::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("another host"), "{err}");
}

async fn discover_err(c: &Client, host: &str, digest: &str) -> imagelock::registry::RegistryError {
    match c
        .discover(&r(&format!("{host}/team/app")), &d(digest))
        .await
    {
        Ok(found) => panic!("discovery succeeded: {found:#?}"),
        Err(e) => e,
    }
}

/// A registry that fails the referrers call (500, after the transport's
/// retries) fails the discovery: never "no referrers", and no fallback to
/// the tag schema.
#[test]
fn a_referrers_error_is_an_error() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let digest = reg.push_oci_image("team/app", "v1", "broken");
    let proxy = FaultProxy::start(reg.port);
    proxy.add(
        Some("GET"),
        "/referrers/",
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        usize::MAX,
    );
    let c = client_via(&reg, &proxy.host());
    let err = block(discover_err(&c, &proxy.host(), &digest));
    assert!(matches!(err.kind, ErrorKind::ServerError { .. }), "{err:?}");
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(
        proxy.count("GET", &format!("/manifests/{}", referrers_tag(&digest))),
        0
    );
    // The registry's state is not learnt from a failure: once it answers
    // again, the API is asked again (404 here), then the tag schema.
    let proxy2 = FaultProxy::start(reg.port);
    let c2 = client_via(&reg, &proxy2.host());
    let found = block(discover(&c2, &proxy2.host(), "team/app", &digest));
    assert_eq!(found.referrers_source, ReferrersSource::None);
    assert_eq!(proxy2.count("GET", "/referrers/"), 1);
}

/// Copy `tag` of `repo` (its manifest, blobs and, for an index, its
/// children) from `from` to `to`, byte for byte.
fn copy_manifest(from: &Registry, to: &Registry, repo: &str, reference: &str) {
    let http = from.http();
    let base = from.base_url();
    let get = |path: String, accept: &'static str| {
        let http = http.clone();
        block(async move {
            let resp = http
                .get(path)
                .header("Accept", accept)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "{resp:?}");
            let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
            (ct, resp.bytes().await.unwrap().to_vec())
        })
    };
    let accept =
        "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
    let (ct, body) = get(format!("{base}/v2/{repo}/manifests/{reference}"), accept);
    let m = json(&body);
    for child in m["manifests"].as_array().into_iter().flatten() {
        copy_manifest(from, to, repo, s(&child["digest"]));
    }
    let blobs = m["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(m.get("config"));
    for blob in blobs {
        let (_, data) = get(
            format!("{base}/v2/{repo}/blobs/{}", s(&blob["digest"])),
            "*/*",
        );
        to.push_blob(repo, &data);
    }
    to.push_manifest(repo, reference, &ct, &body);
}

/// Discovery authenticates as resolution does (the same credentials, the
/// same 401 challenge, TLS with the test CA): what the producer pushed
/// to a plain registry, copied byte for byte to an HTTPS registry with
/// Basic auth, is found there; without credentials, the discovery fails
/// as a resolution would.
#[test]
fn discovery_authenticates_as_resolution_does() {
    let plain = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&plain);
    let digest = plain.push_oci_image("team/app", "v1", "auth");
    let image = format!("team/app@{digest}");
    let sig = signer.cosign_sign(&image, &[]);
    let bundle = signer.bundle_sign(&image, &[]);

    let tls = Registry::start(Setup::TlsBasic);
    let hex = digest.trim_start_matches("sha256:");
    for reference in [
        digest.clone(),
        format!("sha256-{hex}.sig"),
        s(&bundle["manifest_digest"]).to_string(),
        referrers_tag(&digest),
    ] {
        copy_manifest(&plain, &tls, "team/app", &reference);
    }

    let c = Client::new(tls.registry_config(), tls.credentials()).unwrap();
    let found = block(discover(&c, &tls.host(), "team/app", &digest));
    assert_eq!(found.cosign_signatures.len(), 1);
    assert_eq!(
        found.cosign_signatures[0].manifest_digest.to_string(),
        s(&sig["manifest_digest"])
    );
    assert_eq!(found.referrers_source, ReferrersSource::TagSchema);
    assert_eq!(
        referrer_digests(&found),
        BTreeSet::from([s(&bundle["manifest_digest"]).to_string()])
    );

    let anonymous = Client::new(tls.registry_config(), Arc::new(Anonymous)).unwrap();
    let err = block(discover_err(&anonymous, &tls.host(), &digest));
    assert!(
        matches!(err.kind, ErrorKind::AuthRequired { .. }),
        "{err:?}"
    );
}

/// A digest's first requests (the referrers call and the three cosign
/// HEADs) are in flight at once, as resolution's are.
#[test]
fn a_digests_requests_go_at_once() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let digest = reg.push_oci_image("team/app", "v1", "together");
    let proxy = FaultProxy::start(reg.port);
    proxy.add(
        None,
        "/v2/team/app/",
        Fault::Delay(std::time::Duration::from_millis(400)),
        usize::MAX,
    );
    let c = client_via(&reg, &proxy.host());
    let found = block(discover(&c, &proxy.host(), "team/app", &digest));
    assert_eq!(found.referrers_source, ReferrersSource::None);
    assert!(found.cosign_signatures.is_empty() && found.cosign_sbom.is_none());
    assert_eq!(proxy.max_in_flight(), 4, "{:#?}", proxy.requests());
}

/// Bodies are capped: a signature layer answered without end fails the
/// discovery naming the limit (and is not read to the end).
#[test]
fn an_endless_layer_is_refused_at_the_cap() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "capped");
    let sig = signer.cosign_sign(&format!("team/app@{digest}"), &[]);
    let proxy = FaultProxy::start(reg.port);
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", s(&sig["layer_digest"])),
        Fault::Flood { code: 200 },
        usize::MAX,
    );
    let c = client_via(&reg, &proxy.host());
    let err = block(discover_err(&c, &proxy.host(), &digest));
    assert!(matches!(err.kind, ErrorKind::Protocol { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("signature layer is larger than the 4 MiB limit"),
        "{err}"
    );
}

/// cosign's tags in another repository (cosign's `COSIGN_REPOSITORY`) are
/// found there when the options name it, and not in the image's own.
#[test]
fn cosign_tags_in_another_repository() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "elsewhere");
    let sig = signer.cosign_sign(
        &format!("team/app@{digest}"),
        &["--signature-repo", "team/signatures"],
    );
    assert_eq!(s(&sig["signature_repository"]), "team/signatures");
    let c = Client::new(reg.registry_config(), reg.credentials()).unwrap();
    let image = r(&reg.image("team/app:v1"));
    let here = block(c.discover(&image, &d(&digest))).unwrap();
    assert!(here.cosign_signatures.is_empty());
    let options = DiscoverOptions {
        signature_repository: Some(r(&reg.image("team/signatures"))),
        ..Default::default()
    };
    let lookup = block(c.lookup(&image, None));
    let there = block(c.discover_with(&image, &d(&digest), lookup, &options)).unwrap();
    assert_eq!(there.cosign_signatures.len(), 1);
    assert_eq!(
        there.cosign_signatures[0].manifest_digest.to_string(),
        s(&sig["manifest_digest"])
    );
}

/// A Notation signature in the pre-1.1 layout (no `artifactType`, the
/// config's media type saying what it is) listed without a type, and an
/// attestation pushed as a bundle, are recognised from their manifests.
#[test]
fn legacy_notation_and_attestation_bundles_are_recognised() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "legacy");
    let image = format!("team/app@{digest}");
    let notation = signer.notation_sign(&image, &["--legacy", "--empty-artifact-type"]);
    let ca = signer.ca_dir.to_str().unwrap().to_string();
    let att = signer.attest(&image, SLSA, &["--as", "bundle", "--tlog", "--ca-dir", &ca]);
    let c = Client::new(reg.registry_config(), reg.credentials()).unwrap();
    let found = block(c.discover(&r(&reg.image("team/app")), &d(&digest))).unwrap();
    let by = |digest: &str| {
        found
            .referrers
            .iter()
            .find(|r| r.digest.to_string() == digest)
            .unwrap_or_else(|| panic!("{digest} not found in {:#?}", found.referrers))
    };
    let got = by(s(&notation["manifest_digest"]));
    assert_eq!(got.listed_artifact_type, "");
    assert_eq!(got.artifact_type, NOTATION_SIGNATURE);
    assert_eq!(got.layers[0].media_type, JOSE);
    assert!(same_content(
        got.layers[0].content.as_ref().unwrap(),
        &notation["envelope"]
    ));
    let got = by(s(&att["bundle"]["manifest_digest"]));
    assert_eq!(got.artifact_type, SIGSTORE_BUNDLE_V03);
    assert!(same_content(
        got.layers[0].content.as_ref().unwrap(),
        &att["bundle"]["bundle"]
    ));
    assert_eq!(found.referrers.len(), 2);
}
