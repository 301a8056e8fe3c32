//! Tests of `imagelock::registry::Client` (and of batch scheduling, through
//! the binary) against a real registry (CNCF distribution), with skopeo as
//! the oracle.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use imagelock::credentials::{Anonymous, Credential, Keychain, StaticKeychain};
use imagelock::reference::Reference;
use imagelock::registry::{Client, ErrorKind, Missing, Platform, RegistryConfig};

use crate::support;
use crate::support::{Fault, FaultProxy, Registry, Setup, PASSWORD, USER};

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn client(reg: &Registry) -> Client {
    Client::new(reg.registry_config(), reg.credentials()).unwrap()
}

fn client_with(reg: &Registry, creds: impl Keychain + 'static) -> Client {
    Client::new(reg.registry_config(), Arc::new(creds)).unwrap()
}

fn platforms(list: &[&str]) -> Vec<Platform> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

/// Push all four manifest kinds under `repo` and check every resolved
/// digest equals what we pushed and what skopeo says.
async fn all_kinds_match_skopeo(reg: &Registry, repo: &str) {
    let c = client(reg);
    let oci = reg.push_oci_image(repo, "oci", "a");
    let v2 = reg.push_docker_schema2(repo, "v2", "b");
    let idx = reg.push_oci_index(repo, "index", "c");
    let list = reg.push_docker_manifest_list(repo, "list", "d");
    for (tag, pushed, mt) in [
        ("oci", &oci, "application/vnd.oci.image.manifest.v1+json"),
        (
            "v2",
            &v2,
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
        (
            "index",
            &idx.digest,
            "application/vnd.oci.image.index.v1+json",
        ),
        (
            "list",
            &list.digest,
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ),
    ] {
        let got = c
            .resolve(&r(&reg.image(&format!("{repo}:{tag}"))), &[])
            .await
            .unwrap_or_else(|e| panic!("{tag}: {e}\nregistry log:\n{}", reg.log()));
        assert_eq!(got.digest.to_string(), *pushed, "{tag}");
        assert_eq!(
            got.digest.to_string(),
            reg.skopeo_digest(&format!("{repo}:{tag}")),
            "{tag} vs skopeo"
        );
        assert_eq!(got.media_type.as_deref(), Some(mt), "{tag}");
        assert!(got.platforms.is_empty());
    }
}

#[tokio::test]
async fn plain_all_manifest_kinds_match_skopeo() {
    let reg = Registry::start(Setup::PlainAnonymous);
    all_kinds_match_skopeo(&reg, "team/app").await;
}

#[tokio::test]
async fn tls_basic_all_manifest_kinds_match_skopeo() {
    let reg = Registry::start(Setup::TlsBasic);
    all_kinds_match_skopeo(&reg, "team/app").await;
}

#[tokio::test]
async fn token_all_manifest_kinds_match_skopeo() {
    let reg = Registry::start(Setup::Token);
    all_kinds_match_skopeo(&reg, "team/app").await;
}

#[tokio::test]
async fn platforms_from_index_and_manifest_list() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let c = client(&reg);
    let idx = reg.push_oci_index("multi/app", "index", "p");
    let list = reg.push_docker_manifest_list("multi/app", "list", "q");
    for (tag, pushed) in [("index", &idx), ("list", &list)] {
        let got = c
            .resolve(
                &r(&reg.image(&format!("multi/app:{tag}"))),
                &platforms(&["linux/amd64", "linux/arm64"]),
            )
            .await
            .unwrap();
        assert_eq!(got.digest.to_string(), pushed.digest);
        assert_eq!(got.platforms.len(), 2);
        assert_eq!(
            got.platforms["linux/amd64"].to_string(),
            pushed.children["linux/amd64"]
        );
        assert_eq!(
            got.platforms["linux/arm64"].to_string(),
            pushed.children["linux/arm64/v8"]
        );
    }
    // A platform the index lacks names what is there.
    let e = c
        .resolve(
            &r(&reg.image("multi/app:index")),
            &platforms(&["linux/s390x"]),
        )
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e.kind, ErrorKind::PlatformNotFound { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("linux/s390x")
            && msg.contains("linux/amd64")
            && msg.contains("linux/arm64/v8"),
        "{msg}"
    );

    // Digest-only reference: a HEAD says it exists without platforms, the
    // index is read with.
    let by_digest = r(&format!("{}/multi/app@{}", reg.host(), idx.digest));
    let got = c.resolve(&by_digest, &[]).await.unwrap();
    assert_eq!(got.digest.to_string(), idx.digest);
    assert_eq!(
        got.media_type.as_deref(),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let got = c
        .resolve(&by_digest, &platforms(&["linux/arm64/v8"]))
        .await
        .unwrap();
    assert_eq!(
        got.platforms["linux/arm64/v8"].to_string(),
        idx.children["linux/arm64/v8"]
    );

    // Single-platform image: its config decides.
    let single = reg.push_oci_image("multi/app", "single", "s");
    let got = c
        .resolve(
            &r(&reg.image("multi/app:single")),
            &platforms(&["linux/amd64"]),
        )
        .await
        .unwrap();
    assert_eq!(got.platforms["linux/amd64"].to_string(), single);
    let e = c
        .resolve(
            &r(&reg.image("multi/app:single")),
            &platforms(&["linux/arm64"]),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("single-platform"), "{e}");
}

/// The real registry says `MANIFEST_UNKNOWN` for a missing tag (in an
/// existing repository or not) and `NAME_UNKNOWN` when listing a missing
/// repository: the message says which is missing.
async fn not_found_says_repository_or_tag(reg: &Registry) {
    reg.push_oci_image("team/app", "v1", "x");
    let c = client(reg);
    let e = c
        .resolve(&r(&reg.image("team/app:nope")), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::NotFound {
                missing: Missing::Manifest,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.code(), "not-found");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("{}/team/app:nope does not exist", reg.host())),
        "{msg}"
    );
    assert!(msg.contains(&format!("(registry {})", reg.host())), "{msg}");
    assert!(
        msg.contains("the repository exists, the tag or manifest does not"),
        "{msg}"
    );
    assert!(msg.contains("MANIFEST_UNKNOWN"), "{msg}");
    assert!(
        e.hint().unwrap().contains("check the tag"),
        "{:?}",
        e.hint()
    );

    // Missing repository.
    let e = c
        .resolve(&r(&reg.image("team/none:v1")), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::NotFound {
                missing: Missing::Repository,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains(&format!(
            "repository {}/team/none does not exist",
            reg.host()
        )),
        "{e}"
    );

    // A missing digest in an existing repository.
    let gone = format!("sha256:{}", "1".repeat(64));
    let e = c
        .resolve(
            &r(&format!("{}/team/app@{gone}", reg.host())),
            &platforms(&["linux/amd64"]),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("team/app@{gone} does not exist")),
        "{e}"
    );
}

#[tokio::test]
async fn not_found_says_repository_or_tag_anonymous() {
    not_found_says_repository_or_tag(&Registry::start(Setup::PlainAnonymous)).await;
}

#[tokio::test]
async fn not_found_says_repository_or_tag_with_token_auth() {
    not_found_says_repository_or_tag(&Registry::start(Setup::Token)).await;
}

#[tokio::test]
async fn basic_auth_required_without_credentials_and_wrong_password() {
    let reg = Registry::start(Setup::TlsBasic);
    reg.push_oci_image("team/app", "v1", "x");
    let e = client_with(&reg, Anonymous)
        .resolve(&r(&reg.image("team/app:v1")), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::AuthRequired { .. }), "{e}");
    assert!(e.hint().unwrap().contains("docker login"), "{:?}", e.hint());

    let wrong = StaticKeychain::new().with(
        &reg.host(),
        "test credential",
        Credential::basic(USER, "not-the-password"),
    );
    let e = client_with(&reg, wrong)
        .resolve(&r(&reg.image("team/app:v1")), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::InvalidCredentials { .. }),
        "{e}"
    );
    assert!(!format!("{e} {e:?}").contains("not-the-password"));

    // Kubelet-style: a bad candidate first, then the good one.
    let both = StaticKeychain::new()
        .with(&reg.host(), "first", Credential::basic("mallory", "bad"))
        .with(&reg.host(), "second", Credential::basic(USER, PASSWORD));
    let got = client_with(&reg, both)
        .resolve(&r(&reg.image("team/app:v1")), &[])
        .await
        .unwrap();
    assert_eq!(got.digest.to_string(), reg.skopeo_digest("team/app:v1"));
}

#[tokio::test]
async fn token_auth_public_private_forbidden_and_wrong_password() {
    let reg = Registry::start(Setup::Token);
    let public = reg.push_oci_image("public/app", "v1", "x");
    reg.push_oci_image("private/app", "v1", "y");

    // Anonymous pull under public/* works.
    let anon = client_with(&reg, Anonymous);
    let got = anon
        .resolve(&r(&reg.image("public/app:v1")), &[])
        .await
        .unwrap();
    assert_eq!(got.digest.to_string(), public);

    // Anonymous elsewhere: authentication required.
    let e = anon
        .resolve(&r(&reg.image("private/app:v1")), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::AuthRequired { .. }), "{e}");

    // With credentials: private works, forbidden is denied.
    let c = client(&reg);
    let got = c
        .resolve(&r(&reg.image("private/app:v1")), &[])
        .await
        .unwrap();
    assert_eq!(got.digest.to_string(), reg.skopeo_digest("private/app:v1"));
    let e = c
        .resolve(&r(&reg.image("forbidden/app:v1")), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::AccessDenied { .. }), "{e}");
    assert!(e.to_string().contains(&reg.host()), "{e}");

    // Wrong password: the token server refuses it.
    let wrong = StaticKeychain::new().with(
        &reg.host(),
        "test credential",
        Credential::basic(USER, "nope-secret"),
    );
    let e = client_with(&reg, wrong)
        .resolve(&r(&reg.image("private/app:v1")), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::InvalidCredentials { .. }),
        "{e}"
    );
    assert!(!format!("{e} {e:?}").contains("nope-secret"));

    // Kubelet-style: the refused candidate is skipped, the next one works.
    let both = StaticKeychain::new()
        .with(&reg.host(), "first", Credential::basic(USER, "nope-secret"))
        .with(&reg.host(), "second", Credential::basic(USER, PASSWORD));
    let got = client_with(&reg, both)
        .resolve(&r(&reg.image("private/app:v1")), &[])
        .await
        .unwrap();
    assert_eq!(got.digest.to_string(), reg.skopeo_digest("private/app:v1"));
}

#[tokio::test]
async fn tls_failure_without_ca() {
    let reg = Registry::start(Setup::TlsBasic);
    reg.push_oci_image("team/app", "v1", "x");
    let mut cfg = reg.registry_config();
    cfg.ca_files.clear();
    let c = Client::new(cfg, reg.credentials()).unwrap();
    let e = c
        .resolve(&r(&reg.image("team/app:v1")), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::Tls {
                http_reply: false,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("--ca-file"), "{:?}", e.hint());

    // The CA through `<certs_dir>/<host>/ca.crt` works too.
    let certs_d = reg.scratch().join("certs.d");
    fs_err::create_dir_all(certs_d.join(reg.host())).unwrap();
    fs_err::copy(
        reg.ca_file.as_ref().unwrap(),
        certs_d.join(reg.host()).join("ca.crt"),
    )
    .unwrap();
    let mut cfg = reg.registry_config();
    cfg.ca_files.clear();
    cfg.certs_dir = certs_d;
    let c = Client::new(cfg, reg.credentials()).unwrap();
    c.resolve(&r(&reg.image("team/app:v1")), &[]).await.unwrap();
}

#[tokio::test]
async fn https_to_plain_registry_hints_plain_http() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "x");
    let mut cfg = reg.registry_config();
    cfg.plain_http.clear();
    let c = Client::new(cfg, reg.credentials()).unwrap();
    let e = c
        .resolve(&r(&reg.image("team/app:v1")), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::Tls {
                http_reply: true,
                ..
            }
        ),
        "{e}"
    );
    assert!(e
        .hint()
        .unwrap()
        .contains(&format!("--plain-http {}", reg.host())));
}

#[tokio::test]
async fn connection_refused_is_reported() {
    // Held for the test: no other test's server can take the port.
    let dead = support::ClosedPort::new();
    let port = dead.port;
    let host = format!("127.0.0.1:{port}");
    let c = Client::new(
        RegistryConfig {
            plain_http: vec![host.clone()],
            ..Default::default()
        },
        Arc::new(Anonymous),
    )
    .unwrap();
    let e = c
        .resolve(&r(&format!("{host}/a/b:c")), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::ConnectionRefused { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("{host}/a/b:c (registry {host}):")),
        "{e}"
    );
}

#[tokio::test]
async fn drift_is_seen_on_each_setup() {
    for setup in [Setup::PlainAnonymous, Setup::TlsBasic, Setup::Token] {
        let reg = Registry::start(setup);
        let c = client(&reg);
        let first = reg.push_oci_image("team/app", "stable", "one");
        let got = c
            .resolve(&r(&reg.image("team/app:stable")), &[])
            .await
            .unwrap();
        assert_eq!(got.digest.to_string(), first);
        let second = reg
            .push_docker_manifest_list("team/app", "stable", "two")
            .digest;
        assert_ne!(first, second);
        let got = c
            .resolve(&r(&reg.image("team/app:stable")), &[])
            .await
            .unwrap();
        assert_eq!(got.digest.to_string(), second, "{setup:?}");
        assert_eq!(second, reg.skopeo_digest("team/app:stable"), "{setup:?}");
    }
}

#[tokio::test]
async fn concurrent_resolves_of_one_repo_fetch_one_token() {
    let reg = Registry::start(Setup::Token);
    for i in 0..5 {
        reg.push_oci_image("team/app", &format!("v{i}"), &format!("s{i}"));
    }
    let ts = reg.token_server.as_ref().unwrap();
    let before = ts.requests();
    let c = client(&reg);
    let refs: Vec<Reference> = (0..50)
        .map(|i| r(&reg.image(&format!("team/app:v{}", i % 5))))
        .collect();
    // Distinct names: 5; duplicates are asked once.
    let done = AtomicUsize::new(0);
    let results = c
        .resolve_all(&refs, &[], &|| {
            done.fetch_add(1, Ordering::SeqCst);
        })
        .await;
    assert_eq!(done.load(Ordering::SeqCst), 50);
    // Count before skopeo (which asks the token server too).
    assert_eq!(ts.requests() - before, 1, "token requests: {:?}", ts.log());
    for (i, res) in results.iter().enumerate() {
        let d = res.as_ref().unwrap().digest.to_string();
        if i < 5 {
            assert_eq!(d, reg.skopeo_digest(&format!("team/app:v{i}")));
        } else {
            assert_eq!(d, results[i % 5].as_ref().unwrap().digest.to_string());
        }
    }

    // 50 distinct tags at once through a fresh client: still one token.
    for i in 5..50 {
        reg.push_oci_image("team/app", &format!("v{i}"), &format!("s{i}"));
    }
    let before = ts.requests();
    let c = client(&reg);
    let refs: Vec<Reference> = (0..50)
        .map(|i| r(&reg.image(&format!("team/app:v{i}"))))
        .collect();
    let results = c.resolve_all(&refs, &[], &|| {}).await;
    assert!(results.iter().all(std::result::Result::is_ok));
    assert_eq!(ts.requests() - before, 1, "token requests: {:?}", ts.log());
}

#[tokio::test]
async fn resolve_all_keeps_input_order_and_errors() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let a = reg.push_oci_image("team/a", "v1", "a");
    let b = reg.push_oci_image("team/b", "v1", "b");
    let c = client(&reg);
    let refs = vec![
        r(&reg.image("team/b:v1")),
        r(&reg.image("team/a:v1")),
        r(&reg.image("team/a:missing")),
        r(&reg.image("team/b:v1")),
    ];
    let out = c.resolve_all(&refs, &[], &|| {}).await;
    assert_eq!(out[0].as_ref().unwrap().digest.to_string(), b);
    assert_eq!(out[1].as_ref().unwrap().digest.to_string(), a);
    assert!(
        matches!(&out[2], Err(e) if matches!(e.kind, ErrorKind::NotFound { .. })),
        "{:?}",
        out[2]
    );
    assert_eq!(out[3].as_ref().unwrap().digest.to_string(), b);
}

// ---- fault injection through the proxy ----

fn proxied(reg: &Registry) -> (FaultProxy, Client) {
    let proxy = FaultProxy::start(reg.port);
    let cfg = RegistryConfig {
        plain_http: vec![proxy.host()],
        timeout: Duration::from_secs(2),
        ..reg.registry_config()
    };
    let c = Client::new(cfg, Arc::new(Anonymous)).unwrap();
    (proxy, c)
}

#[tokio::test]
async fn rate_limited_then_success() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let d = reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        Fault::Status {
            code: 429,
            retry_after: Some(1),
        },
        2,
    );
    let start = std::time::Instant::now();
    let got = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap();
    assert_eq!(got.digest.to_string(), d);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
    assert_eq!(proxy.count("HEAD", "/manifests/v1"), 3);
    assert_eq!(proxy.count("GET", "/manifests/"), 0, "no GET after a 429");

    // Persistent 429: reported as rate limited, never by a GET.
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        Fault::Status {
            code: 429,
            retry_after: Some(0),
        },
        100,
    );
    let e = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::RateLimited { .. }), "{e}");
    assert_eq!(proxy.count("GET", "/manifests/"), 0);
}

#[tokio::test]
async fn head_without_digest_falls_back_to_get() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let d = reg.push_docker_manifest_list("team/app", "v1", "x").digest;
    let (proxy, c) = proxied(&reg);
    proxy.add(Some("HEAD"), "/manifests/v1", Fault::StripDigest, 1);
    let got = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap();
    assert_eq!(got.digest.to_string(), d);
    assert_eq!(got.digest.to_string(), reg.skopeo_digest("team/app:v1"));
    assert_eq!(proxy.count("GET", "/manifests/v1"), 1);

    // HEAD with a digest: never a GET.
    let got = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap();
    assert_eq!(got.digest.to_string(), d);
    assert_eq!(proxy.count("GET", "/manifests/v1"), 1);

    // 405 on HEAD: GET too.
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        Fault::Status {
            code: 405,
            retry_after: None,
        },
        1,
    );
    let got = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap();
    assert_eq!(got.digest.to_string(), d);
    assert_eq!(proxy.count("GET", "/manifests/v1"), 2);
}

#[tokio::test]
async fn get_digest_header_disagreeing_with_body_is_an_error() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    proxy.add(Some("HEAD"), "/manifests/v1", Fault::StripDigest, 1);
    proxy.add(Some("GET"), "/manifests/v1", Fault::WrongDigest, 1);
    let e = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::DigestMismatch { .. }), "{e}");
}

#[tokio::test]
async fn connection_reset_and_5xx_are_retried() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let d = reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    proxy.add(Some("HEAD"), "/manifests/v1", Fault::Reset, 1);
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        Fault::Status {
            code: 503,
            retry_after: None,
        },
        1,
    );
    let got = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap();
    assert_eq!(got.digest.to_string(), d);
    assert_eq!(proxy.count("HEAD", "/manifests/v1"), 3);

    // Persistent 5xx gives up (bounded) as a server error, not a
    // protocol error, with a hint to retry later.
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        Fault::Status {
            code: 503,
            retry_after: None,
        },
        100,
    );
    let before = proxy.count("HEAD", "/manifests/v1");
    let e = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::ServerError { .. }), "{e}");
    assert_eq!(e.code(), "server-error");
    assert!(
        e.to_string().ends_with(&format!(
            "(registry {}): the registry answered 503 Service Unavailable 4 times",
            proxy.host()
        )),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("retry later"), "{:?}", e.hint());
    assert_eq!(proxy.count("HEAD", "/manifests/v1") - before, 4);
}

#[tokio::test]
async fn stall_is_a_timeout() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        // Far longer than the 2 s timeout, so the timeout ends it.
        Fault::Stall(Duration::from_secs(60)),
        2,
    );
    let e = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Timeout { .. }), "{e}");
    assert!(e.hint().unwrap().contains("--timeout"));
    // A timeout is retried once, then reported.
    assert_eq!(proxy.count("HEAD", "/manifests/v1"), 2);
}

#[tokio::test]
async fn schema1_media_type_is_refused() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        Fault::ContentType("application/vnd.docker.distribution.manifest.v1+prettyjws".into()),
        1,
    );
    let e = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Schema1 { .. }), "{e}");
    assert!(e.to_string().contains("re-pushed"), "{e}");
    assert_eq!(proxy.count("GET", "/manifests/"), 0);
}

#[tokio::test]
async fn token_expiry_is_honoured() {
    let reg = Registry::start(Setup::Token);
    reg.push_oci_image("team/app", "v1", "x");
    let ts = reg.token_server.as_ref().unwrap();
    // Used for 3 of its 4 s (renewed a little early): both resolutions
    // fall well inside that however loaded the machine, and the sleep
    // outlasts it whatever the scheduling.
    ts.set_expires_in(4);
    let c = client(&reg);
    let before = ts.requests();
    let img = r(&reg.image("team/app:v1"));
    c.resolve(&img, &[]).await.unwrap();
    c.resolve(&img, &[]).await.unwrap();
    assert_eq!(ts.requests() - before, 1, "token reused while valid");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    c.resolve(&img, &[]).await.unwrap();
    assert_eq!(ts.requests() - before, 2, "token renewed after expires_in");
}

#[tokio::test]
async fn cold_registry_sees_one_unauthenticated_request() {
    let reg = Registry::start(Setup::Token);
    for i in 0..10 {
        reg.push_oci_image("team/app", &format!("v{i}"), &format!("s{i}"));
    }
    let proxy = FaultProxy::start(reg.port);
    let cfg = RegistryConfig {
        plain_http: vec![proxy.host()],
        ..reg.registry_config()
    };
    let creds = StaticKeychain::new().with(
        &proxy.host(),
        "test credential",
        Credential::basic(USER, PASSWORD),
    );
    let c = Client::new(cfg, Arc::new(creds)).unwrap();
    let refs: Vec<Reference> = (0..10)
        .map(|i| r(&format!("{}/team/app:v{i}", proxy.host())))
        .collect();
    let before = reg.token_server.as_ref().unwrap().requests();
    let out = c.resolve_all(&refs, &[], &|| {}).await;
    assert!(out.iter().all(std::result::Result::is_ok), "{out:?}");
    let bare = proxy.requests().iter().filter(|s| !s.authorized).count();
    assert_eq!(bare, 1, "{:?}", proxy.requests());
    assert_eq!(proxy.count("HEAD", "/manifests/"), 11);
    assert_eq!(reg.token_server.as_ref().unwrap().requests() - before, 1);
}

#[tokio::test]
async fn unknown_host_is_host_not_found() {
    let c = Client::new(RegistryConfig::default(), Arc::new(Anonymous)).unwrap();
    let e = c
        .resolve(&r("registry.does-not-exist.invalid/a/b:c"), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::HostNotFound { .. }), "{e}");
    assert!(
        e.to_string().starts_with(
            "registry.does-not-exist.invalid/a/b:c (registry registry.does-not-exist.invalid):"
        ),
        "{e}"
    );
}

#[tokio::test]
async fn forbidden_without_challenge_is_access_denied_once() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        Fault::Status {
            code: 403,
            retry_after: None,
        },
        1,
    );
    let e = c
        .resolve(&r(&format!("{}/team/app:v1", proxy.host())), &[])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::AccessDenied { .. }), "{e}");
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
}

// ---- hostile registry and token server answers ----

use crate::support::token_server::Hostile;

fn expect_kind(e: &imagelock::registry::RegistryError, code: &str, says: &[&str]) {
    let msg = e.to_string();
    assert_eq!(e.code(), code, "{msg}");
    for s in says {
        assert!(msg.contains(s), "{s:?} not in: {msg}");
    }
}

#[tokio::test]
async fn absurd_token_lifetimes_are_clamped_not_a_panic() {
    let reg = Registry::start(Setup::Token);
    let d = reg.push_oci_image("team/app", "v1", "x");
    let ts = reg.token_server.as_ref().unwrap();
    for raw in [
        "18446744073709551615",
        "-1",
        "1e300",
        "0",
        "\"soon\"",
        "null",
    ] {
        ts.set_hostile(Some(Hostile::ExpiresIn(raw.into())));
        let got = client(&reg)
            .resolve(&r(&reg.image("team/app:v1")), &[])
            .await
            .unwrap_or_else(|e| panic!("expires_in {raw}: {e}"));
        assert_eq!(got.digest.to_string(), d, "expires_in {raw}");
    }
}

#[tokio::test]
async fn hostile_token_replies_are_classified_per_image() {
    let reg = Registry::start(Setup::Token);
    reg.push_oci_image("team/app", "v1", "x");
    let other = Registry::start(Setup::PlainAnonymous);
    let fine = other.push_oci_image("team/ok", "v1", "y");
    let ts = reg.token_server.as_ref().unwrap();
    let realm = ts.realm();
    let mut cfg = reg.registry_config();
    cfg.plain_http.push(other.host());
    let c = Client::new(cfg, reg.credentials()).unwrap();
    let refs = [r(&reg.image("team/app:v1")), r(&other.image("team/ok:v1"))];
    let cases: Vec<(Hostile, Vec<String>)> = vec![
        (
            Hostile::Body {
                content_type: "text/html".into(),
                body: "<html>token=leaked-secret-in-html</html>".into(),
            },
            vec![
                format!("token server {realm} broke the protocol"),
                "not token JSON (text/html".into(),
            ],
        ),
        (
            Hostile::Body {
                content_type: "application/json".into(),
                body: r#"{"expires_in":300}"#.into(),
            },
            vec!["the reply holds no token".into()],
        ),
        (
            Hostile::Flood,
            vec!["the token reply is larger than the 1 MiB limit".into()],
        ),
        (
            Hostile::Status(503),
            vec![format!(
                "token server {realm} answered 503 Service Unavailable 4 times"
            )],
        ),
    ];
    for (hostile, says) in cases {
        ts.set_hostile(Some(hostile.clone()));
        let out = c.resolve_all(&refs, &[], &|| {}).await;
        let e = out[0].as_ref().unwrap_err();
        let says: Vec<&str> = says.iter().map(String::as_str).collect();
        expect_kind(e, "token-server", &says);
        assert!(!e.to_string().contains("leaked-secret"), "{e}");
        assert!(e.hint().unwrap().contains(&realm), "{:?}", e.hint());
        assert_eq!(
            out[1].as_ref().map(|r| r.digest.to_string()).ok(),
            Some(fine.clone()),
            "{hostile:?}: the other image still resolves"
        );
    }
}

#[tokio::test]
async fn unreachable_token_server_is_named() {
    let mut reg = Registry::start(Setup::Token);
    reg.push_oci_image("team/app", "v1", "x");
    let realm = reg.token_server.as_ref().unwrap().realm();
    drop(reg.token_server.take());
    let e = client(&reg)
        .resolve(&r(&reg.image("team/app:v1")), &[])
        .await
        .unwrap_err();
    expect_kind(
        &e,
        "token-server",
        &[&format!("token server {realm} refused the connection")],
    );
    assert!(!e.to_string().contains("is a registry listening"), "{e}");
}

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

#[tokio::test]
async fn retry_after_negative_absurd_and_as_a_date() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let d = reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    let img = r(&format!("{}/team/app:v1", proxy.host()));

    // Negative: no wait, retried.
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        answer(429, &[("Retry-After", "-5")], b""),
        2,
    );
    let start = std::time::Instant::now();
    assert_eq!(c.resolve(&img, &[]).await.unwrap().digest.to_string(), d);
    // (Honoured as 5 s it would take that long.)
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );

    // An HTTP date five seconds ahead is honoured: the date has whole
    // seconds, and the request takes its time, so at least 2.5 s is
    // waited, with margin for a slow machine.
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(5));
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        answer(429, &[("Retry-After", &date)], b""),
        1,
    );
    let start = std::time::Instant::now();
    assert_eq!(c.resolve(&img, &[]).await.unwrap().digest.to_string(), d);
    assert!(
        start.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );

    // Absurd seconds and a date years ahead: reported at once, clamped.
    let far = httpdate::fmt_http_date(
        std::time::SystemTime::now() + Duration::from_secs(5 * 365 * 86400),
    );
    for value in ["99999999999999999999999", far.as_str()] {
        let before = proxy.count("HEAD", "/manifests/v1");
        proxy.add(
            Some("HEAD"),
            "/manifests/v1",
            answer(429, &[("Retry-After", value)], b""),
            1,
        );
        let e = c.resolve(&img, &[]).await.unwrap_err();
        expect_kind(
            &e,
            "rate-limited",
            &["rate limited (HTTP 429), retry after 86400s"],
        );
        assert_eq!(proxy.count("HEAD", "/manifests/v1") - before, 1, "{value}");
    }
}

#[tokio::test]
async fn enormous_bodies_are_capped() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    let img = r(&format!("{}/team/app:v1", proxy.host()));
    proxy.add(Some("HEAD"), "/manifests/v1", Fault::StripDigest, 1);
    proxy.add(Some("GET"), "/manifests/v1", Fault::Flood { code: 200 }, 1);
    let e = c.resolve(&img, &[]).await.unwrap_err();
    expect_kind(
        &e,
        "protocol",
        &["the manifest is larger than the 4 MiB limit"],
    );

    // An endless error body is no body: still a not-found.
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        Fault::Status {
            code: 404,
            retry_after: None,
        },
        1,
    );
    proxy.add(Some("GET"), "/manifests/v1", Fault::Flood { code: 404 }, 1);
    let e = c.resolve(&img, &[]).await.unwrap_err();
    expect_kind(&e, "not-found", &["team/app:v1 does not exist"]);
}

#[tokio::test]
async fn redirect_loop_and_dead_redirect_target_are_named() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    let img = r(&format!("{}/team/app:v1", proxy.host()));
    let here = format!("http://{}/v2/team/app/manifests/v1", proxy.host());
    proxy.add(
        Some("HEAD"),
        "/manifests/v1",
        answer(
            302,
            &[("Location", "/v2/team/app/manifests/v1?again=1")],
            b"",
        ),
        100,
    );
    let e = c.resolve(&img, &[]).await.unwrap_err();
    expect_kind(&e, "redirect-loop", &["too many redirects", &here]);
    assert!(!e.to_string().contains("again=1"), "no query: {e}");
    assert!(
        proxy.count("HEAD", "/manifests/v1") <= 3,
        "{:?}",
        proxy.requests()
    );

    let closed = support::ClosedPort::new();
    let dead = closed.port;
    let target = format!("http://127.0.0.1:{dead}/storage/blob");
    let mut cfg = reg.registry_config();
    cfg.plain_http = vec![proxy.host()];
    let proxy2 = FaultProxy::start(reg.port);
    cfg.plain_http.push(proxy2.host());
    let c = Client::new(cfg, Arc::new(Anonymous)).unwrap();
    proxy2.add(
        Some("HEAD"),
        "/manifests/v1",
        answer(
            307,
            &[("Location", &format!("{target}?X-Signature=s3cr3t"))],
            b"",
        ),
        10,
    );
    let e = c
        .resolve(&r(&format!("{}/team/app:v1", proxy2.host())), &[])
        .await
        .unwrap_err();
    expect_kind(
        &e,
        "connection-refused",
        &[&format!("redirect target {target} refused the connection")],
    );
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
    assert!(e.hint().unwrap().contains(&target), "{:?}", e.hint());
}

#[tokio::test]
async fn invalid_digest_headers_are_protocol_errors() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let d = reg.push_oci_image("team/app", "v1", "x");
    let (proxy, c) = proxied(&reg);
    let img = r(&format!("{}/team/app:v1", proxy.host()));
    let upper = format!("sha256:{}", d.trim_start_matches("sha256:").to_uppercase());
    for bad in ["sha256:abc", upper.as_str(), "md5:0123", "not a digest"] {
        proxy.add(
            Some("HEAD"),
            "/manifests/v1",
            Fault::DigestHeader(bad.into()),
            1,
        );
        let e = c.resolve(&img, &[]).await.unwrap_err();
        expect_kind(
            &e,
            "protocol",
            &[
                &format!("(registry {})", proxy.host()),
                "the Docker-Content-Digest header of HEAD /v2/team/app/manifests/v1 is not a valid digest",
            ],
        );
    }
    // On a GET, an invalid header is refused as well.
    proxy.add(Some("HEAD"), "/manifests/v1", Fault::StripDigest, 1);
    proxy.add(
        Some("GET"),
        "/manifests/v1",
        Fault::DigestHeader(upper.clone()),
        1,
    );
    let e = c.resolve(&img, &[]).await.unwrap_err();
    expect_kind(
        &e,
        "protocol",
        &["the Docker-Content-Digest header of GET /v2/team/app/manifests/v1 is not a valid digest"],
    );
    // A valid header that the body does not hash to: a mismatch naming it.
    proxy.add(Some("HEAD"), "/manifests/v1", Fault::StripDigest, 1);
    proxy.add(Some("GET"), "/manifests/v1", Fault::WrongDigest, 1);
    let e = c.resolve(&img, &[]).await.unwrap_err();
    expect_kind(
        &e,
        "digest-mismatch",
        &[
            "the Docker-Content-Digest header of GET /v2/team/app/manifests/v1 said sha256:0000",
            &format!("hashes to {d}"),
        ],
    );
    // Without faults it resolves.
    assert_eq!(c.resolve(&img, &[]).await.unwrap().digest.to_string(), d);
}

// ---- request log ----

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Run `fut` with every `tracing` event down to `trace` written to a buffer.
async fn traced<F: std::future::Future>(fut: F) -> (F::Output, String) {
    use tracing::instrument::WithSubscriber as _;
    let buf = Captured::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = fut.with_subscriber(subscriber).await;
    (out, buf.text())
}

#[tokio::test]
async fn request_log_names_requests_and_sources_never_secrets() {
    use base64::Engine as _;
    let reg = Registry::start(Setup::Token);
    let d = reg.push_oci_image("team/app", "v1", "x");
    let img = r(&reg.image("team/app:v1"));
    let registry_token = reg.registry_token(USER, "team/app");
    let keychain = StaticKeychain::new()
        .with(
            &reg.host(),
            "wrong password",
            Credential::basic(USER, "hunter2-wrong"),
        )
        .with(
            &reg.host(),
            "docker config",
            Credential::basic(USER, PASSWORD),
        );
    let c = client_with(&reg, keychain);
    let (got, log) = traced(c.resolve(&img, &[])).await;
    assert_eq!(got.unwrap().digest.to_string(), d);

    // One line per request: method, URL, status, time, attempt, source.
    let url = format!("http://{}/v2/team/app/manifests/v1", reg.host());
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("HTTP request")).collect();
    assert!(
        lines.iter().any(|l| l.contains("DEBUG")
            && l.contains("imagelock::registry")
            && l.contains("method=HEAD")
            && l.contains(&format!("url={url}"))
            && l.contains("status=200")
            && l.contains("elapsed_ms=")
            && l.contains("attempt=1")
            && l.contains("source=\"docker config\"")),
        "{log}"
    );
    let realm = reg.token_server.as_ref().unwrap().realm();
    assert!(
        lines.iter().any(|l| l.contains(&format!("url={realm}"))
            && l.contains("status=401")
            && l.contains("source=\"wrong password\"")),
        "{log}"
    );
    // Challenge and token cache decisions at trace level.
    assert!(log.contains("401 challenge"), "{log}");
    assert!(log.contains("token cache: miss"), "{log}");
    assert!(log.contains("credential refused"), "{log}");

    // A registry token and an identity token: never logged either.
    let keychain = StaticKeychain::new().with(
        &reg.host(),
        "registry token",
        Credential::RegistryToken {
            token: imagelock::secret::Secret::new(registry_token.clone()),
        },
    );
    let (got, log2) = traced(client_with(&reg, keychain).resolve(&img, &[])).await;
    assert_eq!(got.unwrap().digest.to_string(), d);
    let keychain = StaticKeychain::new().with(
        &reg.host(),
        "identity token",
        Credential::IdentityToken {
            token: imagelock::secret::Secret::new(support::REFRESH_TOKEN),
        },
    );
    let (got, log3) = traced(client_with(&reg, keychain).resolve(&img, &[])).await;
    assert_eq!(got.unwrap().digest.to_string(), d);
    assert!(log3.contains("method=POST"), "{log3}");

    let all = format!("{log}\n{log2}\n{log3}");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for secret in [
        PASSWORD,
        "hunter2-wrong",
        basic.as_str(),
        registry_token.as_str(),
        support::REFRESH_TOKEN,
        // Any JWT (every token from the token server starts so).
        "eyJ",
        "Bearer ",
        "Basic ",
    ] {
        assert!(!all.contains(secret), "{secret:?} in the log:\n{all}");
    }
}

/// Many tags over several registries at once (TLS with Basic auth and more
/// tags than one HTTP/2 connection is assumed to carry, so extra
/// connections open; token auth; plain anonymous), locked through the
/// binary with `--concurrency 1` and with the default (no cap but each
/// registry's connections): every tag gets the digest pushed for it.
#[test]
fn many_tags_over_several_registries_lock_with_any_concurrency() {
    let regs = [
        (Registry::start(Setup::TlsBasic), "app", 120),
        (Registry::start(Setup::Token), "public/app", 30),
        (Registry::start(Setup::PlainAnonymous), "app", 30),
    ];
    let mut pushed = Vec::new();
    let mut auths = serde_json::Map::new();
    let mut pods = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for (reg, repo, tags) in &regs {
        for i in 0..*tags {
            let repo = format!("{repo}{}", i % 7);
            let tag = format!("v{i}");
            let digest = reg.push_oci_image(&repo, &tag, &format!("{}-{i}", reg.port));
            let image = reg.image(&format!("{repo}:{tag}"));
            pods.push_str(&format!(
                "- {{kind: Pod, metadata: {{name: p}}, spec: {{containers: [{{name: c, image: '{image}'}}]}}}}\n"
            ));
            pushed.push((image, digest));
        }
        let config = fs_err::read_to_string(reg.docker_config().join("config.json")).unwrap();
        let config: serde_json::Value = serde_json::from_str(&config).unwrap();
        if let Some(a) = config["auths"].as_object() {
            auths.extend(a.clone());
        }
    }
    let home = tempfile::tempdir().unwrap();
    let docker = home.path().join("docker");
    fs_err::create_dir_all(&docker).unwrap();
    fs_err::write(
        docker.join("config.json"),
        serde_json::json!({ "auths": auths }).to_string(),
    )
    .unwrap();
    for concurrency in [Some("1"), None] {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("pods.yaml"), &pods).unwrap();
        let mut cmd = assert_cmd::Command::cargo_bin("imagelock").unwrap();
        cmd.current_dir(dir.path())
            .env_remove("RUST_LOG")
            .env("DOCKER_CONFIG", &docker)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env("XDG_RUNTIME_DIR", home.path().join("run"))
            .env("REGISTRY_AUTH_FILE", home.path().join("no-auth.json"))
            .args(["lock", "--ca-file"])
            .arg(regs[0].0.ca_file.as_ref().unwrap())
            .args(["--plain-http", &regs[1].0.host()])
            .args(["--plain-http", &regs[2].0.host()]);
        support::run::without_proxies(&mut cmd);
        if let Some(c) = concurrency {
            cmd.args(["--concurrency", c]);
        }
        cmd.arg("pods.yaml");
        let out = cmd.output().unwrap();
        support::run::expect_code(&out, 0);
        for (image, digest) in &pushed {
            assert_eq!(
                &support::e2e::locked(dir.path(), image),
                digest,
                "{image} with --concurrency {concurrency:?}"
            );
        }
    }
}
