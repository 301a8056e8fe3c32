//! End-to-end: checking locked digests at mirrors (`check --remote` with
//! mirrors, `lock`/`update --check-mirrors`). Real distribution registries
//! for the upstream and the mirror; the fault proxy in front of the mirror
//! for a hung host or a registry that states its rate limit.

mod support;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use support::run::{bin, expect_code, text, without_proxies};
use support::{Fault, FaultProxy, Registry, Setup};

/// `imagelock ARGS` in `dir` with `env_from`'s credentials (and nothing
/// of the machine's own).
fn imagelock(env_from: &Registry, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = assert_cmd::Command::cargo_bin("imagelock").unwrap();
    cmd.envs(env_from.isolated_env())
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .args(args);
    without_proxies(&mut cmd);
    cmd.output().unwrap()
}

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

/// A Deployment using `images`, in `dir/deploy.yaml`.
fn manifests(dir: &Path, images: &[String]) {
    let containers: String = images
        .iter()
        .enumerate()
        .map(|(i, img)| format!("        - name: c{i}\n          image: {img}\n"))
        .collect();
    fs_err::write(
        dir.join("deploy.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n{containers}"
        ),
    )
    .unwrap();
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "imagelock did not finish within {limit:?}; stderr:\n{}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
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
    manifests(dir.path(), &[up.image("team/app:1")]);
    let flag = format!("{}={}", up.host(), proxy.host());
    let line = format!(
        "note: {}: 96 of 100 pulls left in this 6 h window",
        proxy.host()
    );
    for command in ["lock", "update"] {
        let out = imagelock(
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
    manifests(dir.path(), &[up.image("team/app:1")]);
    let out = imagelock(&up, dir.path(), &["lock", "--plain-http", "127.0.0.1"]);
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
