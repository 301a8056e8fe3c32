//! Registry answers are what they claim to be, through the binary: a `200`
//! that is not a manifest or index (an HTML page, a layer or config media
//! type, schema 1 served as `application/json`) is an error for that image
//! and never locked; a digest reference the registry does not have is not
//! printed back; `name:tag@digest` whose tag moved is reported. A
//! fault-injecting proxy in front of the real registry rewrites the
//! answers; skopeo is the digest oracle.

use std::path::Path;
use std::process::Output;

use crate::support;
use crate::support::run::{expect_code, text};
use crate::support::{Fault, FaultProxy, Registry, Setup};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn answer(code: u16, headers: &[(&str, &str)], body: &[u8]) -> Fault {
    Fault::Answer {
        code,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    }
}

/// `imagelock ARGS --plain-http PROXY` in `dir`.
fn run(reg: &Registry, proxy: &FaultProxy, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(support::run::bin());
    cmd.current_dir(dir)
        .envs(reg.isolated_env())
        .env_remove("RUST_LOG");
    for var in support::run::PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.args(args)
        .args(["--plain-http", &proxy.host()])
        .output()
        .unwrap()
}

fn pod(image: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: {image}\n")
}

/// `lock` of one image behind `proxy` with `faults` on its manifest: exit
/// 2, no lockfile, and stderr returned.
fn lock_refused(reg: &Registry, faults: &[(&str, Fault)]) -> String {
    let proxy = FaultProxy::start(reg.port);
    for (method, fault) in faults {
        proxy.add(Some(method), "/manifests/v1", fault.clone(), 10);
    }
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("pod.yaml"),
        pod(&format!("{}/team/app:v1", proxy.host())),
    )
    .unwrap();
    let o = run(reg, &proxy, dir.path(), &["lock", "pod.yaml"]);
    expect_code(&o, 2);
    assert!(
        !dir.path().join("images.lock").exists(),
        "a lockfile was written:\n{}",
        fs_err::read_to_string(dir.path().join("images.lock")).unwrap()
    );
    // The same through --format json: one error with its code.
    let o = run(
        reg,
        &proxy,
        dir.path(),
        &[
            "resolve",
            "--format",
            "json",
            &format!("{}/team/app:v1", proxy.host()),
        ],
    );
    expect_code(&o, 2);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let codes: Vec<&str> = doc["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["code"].as_str())
        .collect();
    let stderr = text(&o.stderr);
    assert!(
        codes == ["not-a-manifest"] || codes == ["schema1"],
        "{codes:?}\n{}\n{stderr}",
        text(&o.stdout)
    );
    stderr
}

#[test]
fn an_html_page_is_not_locked_as_an_image() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "answers");
    let html: &[u8] = b"<!doctype html><html><body>Sign in to continue</body></html>";
    let ct = ("Content-Type", "text/html; charset=utf-8");
    // A captive portal answering both HEAD and GET, with a digest header
    // for good measure.
    let digest = format!("sha256:{}", support::sha256(html));
    let stderr = lock_refused(
        &reg,
        &[
            (
                "HEAD",
                answer(200, &[ct, ("Docker-Content-Digest", &digest)], b""),
            ),
            ("GET", answer(200, &[ct], html)),
        ],
    );
    assert!(
        stderr.contains("not an image manifest")
            && stderr.contains(
                "HEAD /v2/team/app/manifests/v1 answered Content-Type \"text/html; charset=utf-8\""
            ),
        "{stderr}"
    );
    // A page served under a manifest media type: its body gives it away.
    let stderr = lock_refused(
        &reg,
        &[
            ("HEAD", Fault::StripDigest),
            ("GET", answer(200, &[("Content-Type", OCI_MANIFEST)], html)),
        ],
    );
    assert!(
        stderr.contains("GET /v2/team/app/manifests/v1 answered a body that is not JSON"),
        "{stderr}"
    );
}

#[test]
fn a_layer_or_config_media_type_is_not_a_manifest() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "answers");
    let layer = "application/vnd.oci.image.layer.v1.tar+gzip";
    let stderr = lock_refused(&reg, &[("HEAD", Fault::ContentType(layer.into()))]);
    assert!(
        stderr.contains(&format!("answered Content-Type {layer:?}")),
        "{stderr}"
    );
    // HEAD without a digest: the GET's type is checked too.
    let config = "application/vnd.oci.image.config.v1+json";
    let stderr = lock_refused(
        &reg,
        &[
            ("HEAD", Fault::StripDigest),
            ("GET", Fault::ContentType(config.into())),
        ],
    );
    assert!(
        stderr.contains(&format!(
            "GET /v2/team/app/manifests/v1 answered Content-Type {config:?}"
        )),
        "{stderr}"
    );
}

#[test]
fn schema1_served_as_application_json_is_refused() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "answers");
    let body = br#"{"schemaVersion": 1, "name": "team/app", "tag": "v1", "architecture": "amd64", "fsLayers": [], "history": []}"#;
    let digest = format!("sha256:{}", support::sha256(body));
    let json = ("Content-Type", "application/json");
    let stderr = lock_refused(
        &reg,
        &[
            (
                "HEAD",
                answer(200, &[json, ("Docker-Content-Digest", &digest)], b""),
            ),
            ("GET", answer(200, &[json], body)),
        ],
    );
    assert!(
        stderr.contains("manifest is Docker schema 1 (application/json)"),
        "{stderr}"
    );
}

#[test]
fn a_real_manifest_under_a_generic_content_type_is_read_from_its_body() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "answers");
    let proxy = FaultProxy::start(reg.port);
    proxy.add(
        None,
        "/manifests/v1",
        Fault::ContentType("application/json".into()),
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/team/app:v1", proxy.host());
    let o = run(
        &reg,
        &proxy,
        dir.path(),
        &["resolve", "--format", "json", &image],
    );
    expect_code(&o, 0);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["resolved"][0]["digest"],
        reg.skopeo_digest("team/app:v1").as_str()
    );
    // The body's own media type is what is recorded.
    assert_eq!(doc["resolved"][0]["media-type"], OCI_MANIFEST);
    assert_eq!(proxy.count("GET", "/manifests/v1"), 1);
}

#[test]
fn a_digest_reference_is_checked_and_a_moved_tag_beside_a_digest_is_reported() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let v1 = reg.push_oci_image("team/app", "v1", "answers-1");
    let v2 = reg.push_oci_image("team/app", "v2", "answers-2");
    assert_eq!(v1, reg.skopeo_digest("team/app:v1"));
    let proxy = FaultProxy::start(reg.port);
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}/team/app", proxy.host());
    let absent = format!("sha256:{}", "0".repeat(64));

    // Present: printed, after one HEAD.
    let o = run(
        &reg,
        &proxy,
        dir.path(),
        &["resolve", &format!("{name}@{v1}")],
    );
    expect_code(&o, 0);
    assert_eq!(text(&o.stdout).trim(), format!("{name}@{v1} {v1}"));
    assert_eq!(proxy.count("HEAD", &format!("/manifests/{v1}")), 1);

    // Absent: not found, nothing printed.
    let o = run(
        &reg,
        &proxy,
        dir.path(),
        &["resolve", &format!("{name}@{absent}")],
    );
    expect_code(&o, 2);
    assert_eq!(text(&o.stdout), "");
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains(&format!("{name}@{absent} does not exist")),
        "{stderr}"
    );

    // The tag still at the digest written: printed.
    let o = run(
        &reg,
        &proxy,
        dir.path(),
        &["resolve", &format!("{name}:v1@{v1}")],
    );
    expect_code(&o, 0);
    assert_eq!(text(&o.stdout).trim(), format!("{name}:v1@{v1} {v1}"));

    // The tag elsewhere: reported with both digests, nothing printed.
    let o = run(
        &reg,
        &proxy,
        dir.path(),
        &["resolve", &format!("{name}:v1@{v2}")],
    );
    expect_code(&o, 2);
    assert_eq!(text(&o.stdout), "");
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains(&format!(
            "{name}:v1@{v2}: the tag v1 points at {v1} in the registry, not at the digest written ({v2})"
        )),
        "{stderr}"
    );

    let o = run(
        &reg,
        &proxy,
        dir.path(),
        &["resolve", "--format", "json", &format!("{name}:v1@{v2}")],
    );
    expect_code(&o, 2);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["resolved"], serde_json::json!([]));
    assert_eq!(doc["errors"][0]["code"], "stale", "{doc}");

    // lock says the same as a stale pin and records the tag's digest.
    fs_err::write(dir.path().join("pod.yaml"), pod(&format!("{name}:v1@{v2}"))).unwrap();
    let o = run(&reg, &proxy, dir.path(), &["lock", "pod.yaml"]);
    expect_code(&o, 0);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("is pinned to a stale digest") && stderr.contains(&v1),
        "{stderr}"
    );
    let lock = fs_err::read_to_string(dir.path().join("images.lock")).unwrap();
    assert!(lock.contains(&v1) && !lock.contains(&v2), "{lock}");
}
