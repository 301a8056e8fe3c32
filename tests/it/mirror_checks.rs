//! End-to-end: checking locked digests at mirrors (`check --remote` with
//! mirrors, `lock`/`update --check-mirrors`). Real distribution registries
//! for the upstream and the mirror; the fault proxy in front of the mirror
//! for a hung host or a registry that states its rate limit.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support;
use crate::support::e2e::deployment;
use crate::support::run::{bin, expect_code, isolated, text, wait_with_timeout};
use crate::support::{Fault, FaultProxy, Registry, Setup};

/// The same, started in the background with both streams piped.
fn spawn(env_from: &Registry, dir: &Path, args: &[&str]) -> Child {
    let mut cmd = std::process::Command::new(bin());
    cmd.envs(env_from.isolated_env())
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for v in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(v);
    }
    cmd.spawn().unwrap()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn interrupt(child: &Child) {
    let status = std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .expect("`kill` not found: install the Debian package `procps`");
    assert!(status.success());
}

/// `lock`/`update --check-mirrors` ask the mirror with the run's own
/// client: a mirror that states its rate limit gets its line in the run's
/// summary (a second client's requests were never counted).
#[test]
fn check_mirrors_requests_count_in_the_runs_rate_limit_line() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::PlainAnonymous);
    up.push_oci_image("team/app", "1", "one");
    mirror.push_oci_image("team/app", "1", "one");
    let proxy = FaultProxy::start(mirror.port);
    proxy.add(
        None,
        "/v2/",
        Fault::AddHeaders(vec![
            ("RateLimit-Limit".into(), "100;w=21600".into()),
            ("RateLimit-Remaining".into(), "96;w=21600".into()),
        ]),
        usize::MAX,
    );
    let dir = tempfile::tempdir().unwrap();
    deployment(dir.path(), &[up.image("team/app:1")]);
    let flag = format!("{}={}", up.host(), proxy.host());
    let line = format!(
        "note: {}: 96 of 100 pulls left in this 6 h window",
        proxy.host()
    );
    for command in ["lock", "update"] {
        let out = isolated(
            &up,
            dir.path(),
            &[
                command,
                "--check-mirrors",
                "--mirror",
                &flag,
                "--plain-http",
                "127.0.0.1",
            ],
        );
        expect_code(&out, 0);
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&line), "{command}: {stderr}");
    }
    assert!(proxy.count("HEAD", "/manifests/sha256:") >= 2);
}

/// SIGINT while the mirror check waits on a mirror that never answers:
/// the run stops at once (exit 130), not after the requests time out.
#[test]
fn a_signal_stops_a_check_waiting_on_a_hung_mirror() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::PlainAnonymous);
    up.push_oci_image("team/app", "1", "one");
    let proxy = FaultProxy::start(mirror.port);
    proxy.add(
        None,
        "/",
        Fault::Stall(Duration::from_secs(120)),
        usize::MAX,
    );
    let dir = tempfile::tempdir().unwrap();
    deployment(dir.path(), &[up.image("team/app:1")]);
    let out = isolated(&up, dir.path(), &["lock", "--plain-http", "127.0.0.1"]);
    expect_code(&out, 0);
    let flag = format!("{}={}", up.host(), proxy.host());
    let child = spawn(
        &up,
        dir.path(),
        &[
            "check",
            "--remote",
            "--mirror",
            &flag,
            "--plain-http",
            "127.0.0.1",
            "--timeout",
            "300",
        ],
    );
    // The check is waiting on the mirror once the proxy holds a request.
    wait_for(
        "a request at the hung mirror",
        Duration::from_secs(60),
        || !proxy.requests().is_empty(),
    );
    let asked = Instant::now();
    interrupt(&child);
    let out = wait_with_timeout(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        asked.elapsed() < Duration::from_secs(60),
        "the signal waited for the request"
    );
    assert!(
        text(&out.stderr).contains("interrupted by SIGINT"),
        "{}",
        text(&out.stderr)
    );
}

/// A Deployment in namespace `team` whose pod pulls `image` with the pull
/// Secret `regcred`, and that Secret, holding `user:pass` for `host`.
fn deployment_with_secret(dir: &Path, image: &str, host: &str, user: &str, pass: &str) {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let config = serde_json::json!({"auths": {host: {"auth": b64(&format!("{user}:{pass}"))}}});
    fs_err::write(
        dir.join("deploy.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: team\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: team\nspec:\n  template:\n    spec:\n      imagePullSecrets:\n        - name: regcred\n      containers:\n        - name: app\n          image: {image}\n",
            b64(&config.to_string())
        ),
    )
    .unwrap();
}

/// Every distinct digest is asked once per mirror, however many locked
/// tags share it; the upstream is asked only for a digest the mirror
/// lacks.
#[test]
fn each_distinct_digest_is_asked_once_per_host() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::PlainAnonymous);
    for t in ["1", "2", "3"] {
        up.push_oci_image("team/app", t, "same");
    }
    let other = up.push_oci_image("team/app", "4", "other");
    mirror.push_oci_image("team/app", "1", "same");
    let up_proxy = FaultProxy::start(up.port);
    let mirror_proxy = FaultProxy::start(mirror.port);
    let dir = tempfile::tempdir().unwrap();
    let image = |t: &str| format!("{}/team/app:{t}", up_proxy.host());
    deployment(
        dir.path(),
        &[image("1"), image("2"), image("3"), image("4")],
    );
    let out = isolated(&up, dir.path(), &["lock", "--plain-http", "127.0.0.1"]);
    expect_code(&out, 0);
    let flag = format!("{}={}", up_proxy.host(), mirror_proxy.host());
    let out = isolated(
        &up,
        dir.path(),
        &[
            "check",
            "--remote",
            "--format",
            "json",
            "--mirror",
            &flag,
            "--plain-http",
            "127.0.0.1",
        ],
    );
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["kind"], "mirror-missing");
    assert_eq!(findings[0]["locked"], other);
    let mirror_heads = mirror_proxy.count("HEAD", "/manifests/");
    assert_eq!(mirror_heads, 2, "{:?}", mirror_proxy.requests());
    // The upstream: four tags resolved, one digest asked for the fallback.
    assert_eq!(
        up_proxy.count("HEAD", "/manifests/sha256:"),
        1,
        "{:?}",
        up_proxy.requests()
    );
}

/// `--concurrency` bounds the requests to a mirror in flight at once.
#[test]
fn mirror_requests_keep_to_concurrency() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::PlainAnonymous);
    let mut images = Vec::new();
    for t in ["1", "2", "3", "4", "5", "6"] {
        up.push_oci_image("team/app", t, t);
        mirror.push_oci_image("team/app", t, t);
        images.push(up.image(&format!("team/app:{t}")));
    }
    let proxy = FaultProxy::start(mirror.port);
    // Each answer is held a moment, so requests sent together overlap.
    proxy.add(
        Some("HEAD"),
        "/manifests/",
        Fault::Delay(Duration::from_millis(200)),
        usize::MAX,
    );
    let dir = tempfile::tempdir().unwrap();
    deployment(dir.path(), &images);
    let out = isolated(&up, dir.path(), &["lock", "--plain-http", "127.0.0.1"]);
    expect_code(&out, 0);
    let flag = format!("{}={}", up.host(), proxy.host());
    let out = isolated(
        &up,
        dir.path(),
        &[
            "check",
            "--remote",
            "--concurrency",
            "2",
            "--mirror",
            &flag,
            "--plain-http",
            "127.0.0.1",
        ],
    );
    expect_code(&out, 0);
    assert_eq!(proxy.count("HEAD", "/manifests/"), 6);
    assert!(
        proxy.max_in_flight() <= 2,
        "{} requests at once",
        proxy.max_in_flight()
    );
}

/// A mirror that never answers costs one timeout: its first request goes
/// alone, and when it times out the others are not sent; the run names
/// the host once and says what it did not ask.
#[test]
fn a_hung_mirror_is_given_up_after_one_timeout() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::PlainAnonymous);
    let mut images = Vec::new();
    for t in ["1", "2", "3", "4", "5"] {
        up.push_oci_image("team/app", t, t);
        images.push(up.image(&format!("team/app:{t}")));
    }
    let proxy = FaultProxy::start(mirror.port);
    proxy.add(
        None,
        "/",
        Fault::Stall(Duration::from_secs(120)),
        usize::MAX,
    );
    let dir = tempfile::tempdir().unwrap();
    deployment(dir.path(), &images);
    let out = isolated(&up, dir.path(), &["lock", "--plain-http", "127.0.0.1"]);
    expect_code(&out, 0);
    let flag = format!("{}={}", up.host(), proxy.host());
    let out = isolated(
        &up,
        dir.path(),
        &[
            "check",
            "--remote",
            "--mirror",
            &flag,
            "--plain-http",
            "127.0.0.1",
            "--timeout",
            "2",
        ],
    );
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    // One question (the transport's own retry may send it twice).
    let seen = proxy.requests();
    assert!(seen.iter().all(|r| r.path == seen[0].path), "{seen:?}");
    assert!(
        stderr.contains(&format!(
            "mirror {} did not answer within --timeout (1 question(s) timed out); gave up asking it 4 more",
            proxy.host()
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches(&format!("cannot ask mirror {}", proxy.host()))
            .count(),
        1,
        "{stderr}"
    );
}

/// A digest the mirror lacks, with the upstream unreachable from here: the
/// finding does not say the pull fails, and the upstream's failure is
/// named as the upstream's.
#[test]
fn an_unreachable_upstream_is_not_a_failing_pull() {
    let mirror = Registry::start(Setup::PlainAnonymous);
    // Nothing listens on the upstream's port (held, so no other test's
    // server takes it); the entry is locked by hand.
    let dead = support::ClosedPort::new();
    let upstream = dead.host();
    let dir = tempfile::tempdir().unwrap();
    deployment(dir.path(), &[format!("{upstream}/team/app:1")]);
    fs_err::write(
        dir.path().join("images.lock"),
        format!(
            "version = 1\n\n[[image]]\nname = \"{upstream}/team/app\"\ntag = \"1\"\ndigest = \"sha256:{}\"\n",
            "1".repeat(64)
        ),
    )
    .unwrap();
    let flag = format!("{upstream}={}", mirror.host());
    // The entry is locked: `lock` asks no registry, only the mirrors.
    let out = isolated(
        &mirror,
        dir.path(),
        &[
            "lock",
            "--check-mirrors",
            "--mirror",
            &flag,
            "--plain-http",
            "127.0.0.1",
        ],
    );
    let stderr = text(&out.stderr);
    expect_code(&out, 2);
    assert!(
        stderr.contains(&format!(
            "a node falls back to the upstream {upstream}, which could not be asked from here: the pull fails unless it serves the digest"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("no later host serves it"), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot ask the upstream {upstream}: ")),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot ask mirror"), "{stderr}");
}

/// `check --remote` offers the pod's pull Secret at the mirror, as the
/// node (and `lock --resolve-at mirror`) does: a mirror that wants
/// credentials the keychain does not hold is asked with the Secret's.
#[test]
fn check_offers_the_pods_pull_secret_at_the_mirror() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::TlsBasic);
    up.push_oci_image("team/app", "1", "one");
    mirror.push_oci_image("team/app", "1", "one");
    let dir = tempfile::tempdir().unwrap();
    let image = up.image("team/app:1");
    deployment_with_secret(
        dir.path(),
        &image,
        &mirror.host(),
        support::USER,
        support::PASSWORD,
    );
    let out = isolated(&up, dir.path(), &["lock", "--plain-http", &up.host()]);
    expect_code(&out, 0);
    let flag = format!("{}=https://{}", up.host(), mirror.host());
    let ca = mirror
        .ca_file
        .as_ref()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let args = [
        "check",
        "--remote",
        "--mirror",
        &flag,
        "--ca-file",
        &ca,
        "--plain-http",
        &up.host(),
    ];
    let out = isolated(&up, dir.path(), &args);
    expect_code(&out, 0);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("cannot ask"), "{stderr}");
    assert!(!stderr.contains(support::PASSWORD), "{stderr}");

    // A Secret with a wrong password: the hint names that Secret.
    deployment_with_secret(dir.path(), &image, &mirror.host(), support::USER, "nope");
    let out = isolated(&up, dir.path(), &args);
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot ask mirror {}", mirror.host()))
            && stderr.contains("Secret team/regcred"),
        "{stderr}"
    );
}

/// `--resolve-at mirror` goes on to the next host after a mirror's `404`
/// or `5xx`, as a node does: the tag resolves at the second mirror.
#[test]
fn resolve_at_mirror_tries_the_next_host_after_404_or_5xx() {
    let first = Registry::start(Setup::PlainAnonymous);
    let second = Registry::start(Setup::PlainAnonymous);
    let digest = second.push_oci_image("team/app", "1", "one");
    let proxy = FaultProxy::start(first.port);
    // Nothing listens on the upstream's port (held, so no other test's
    // server takes it).
    let dead = support::ClosedPort::new();
    let upstream = dead.host();
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{upstream}/team/app:1");
    deployment(dir.path(), std::slice::from_ref(&image));
    let to_first = format!("{upstream}={}", proxy.host());
    let to_second = format!("{upstream}={}", second.host());
    let lock = |dir: &Path| {
        isolated(
            &first,
            dir,
            &[
                "lock",
                "--resolve-at",
                "mirror",
                "--mirror",
                &to_first,
                "--mirror",
                &to_second,
                "--plain-http",
                "127.0.0.1",
            ],
        )
    };
    // The first mirror does not have it: 404.
    let out = lock(dir.path());
    expect_code(&out, 0);
    assert_eq!(support::e2e::locked(dir.path(), &image), digest);
    assert!(proxy.count("HEAD", "/manifests/1") >= 1);

    // The first mirror fails on its side: 500.
    fs_err::remove_file(dir.path().join("images.lock")).unwrap();
    proxy.add(
        None,
        "/v2/",
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        usize::MAX,
    );
    let out = lock(dir.path());
    expect_code(&out, 0);
    assert_eq!(support::e2e::locked(dir.path(), &image), digest);

    // No host has it: the first host's answer is the error.
    let other = format!("{upstream}/team/other:1");
    deployment(dir.path(), std::slice::from_ref(&other));
    let out = lock(dir.path());
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}/team/other:1", proxy.host())) && stderr.contains("500"),
        "{stderr}"
    );
}
