//! End-to-end: the registry budget. A registry that states its rate limit
//! (`ratelimit-limit` / `ratelimit-remaining`, as Docker Hub does) gets one
//! line at the end of a run that asked it, with the requests imagelock made
//! that it counts (manifest GETs, not HEADs); a warning when fewer than 10%
//! are left; its 429 names the window and how to authenticate; `--format
//! json` carries the same figures. The real registry behind the fault
//! proxy, which adds the headers.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

use crate::support;
use crate::support::run::{expect_code, text};
use crate::support::{Fault, FaultProxy, Registry, Setup};

/// Docker Hub's headers: `limit` per 6 hours, `remaining` left.
fn limit_headers(limit: u64, remaining: u64) -> Vec<(String, String)> {
    vec![
        ("RateLimit-Limit".into(), format!("{limit};w=21600")),
        ("RateLimit-Remaining".into(), format!("{remaining};w=21600")),
        ("Docker-RateLimit-Source".into(), "203.0.113.7".into()),
    ]
}

/// A registry with `team/app:v1` (an index) behind a proxy that adds
/// `headers` to every answer (none when empty).
fn setup(headers: Vec<(String, String)>) -> (Registry, FaultProxy) {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_index("team/app", "v1", "budget");
    let proxy = FaultProxy::start(reg.port);
    if !headers.is_empty() {
        proxy.add(None, "/v2/", Fault::AddHeaders(headers), usize::MAX);
    }
    (reg, proxy)
}

/// `imagelock ARGS` in `dir`, speaking plain HTTP to the proxy.
fn run(reg: &Registry, proxy: &FaultProxy, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::cargo_bin("imagelock").unwrap();
    cmd.envs(reg.isolated_env())
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .args(args)
        .args(["--plain-http", &proxy.host()]);
    support::run::without_proxies(&mut cmd);
    cmd.output().unwrap()
}

fn image(proxy: &FaultProxy) -> String {
    format!("{}/team/app:v1", proxy.host())
}

/// A directory with a Deployment using the image through the proxy.
fn manifests(reg: &Registry, proxy: &FaultProxy, name: &str) -> std::path::PathBuf {
    let dir = reg.scratch().join(name);
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(
        dir.join("app.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {}\n          imagePullPolicy: Always\n",
            image(proxy)
        ),
    )
    .unwrap();
    dir
}

fn manifest_gets(proxy: &FaultProxy) -> usize {
    proxy.count("GET", "/manifests/")
}

#[test]
fn the_line_names_the_registry_its_figures_and_the_counted_gets() {
    let (reg, proxy) = setup(limit_headers(100, 96));
    let dir = manifests(&reg, &proxy, "lock");

    // A platform needs the index: HEAD the tag, then GET the index.
    let out = run(&reg, &proxy, &dir, &["lock", "--platform", "linux/arm64"]);
    expect_code(&out, 0);
    let gets = manifest_gets(&proxy);
    assert_eq!(gets, 1, "{:?}", proxy.requests());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "note: {}: 96 of 100 pulls left in this 6 h window; imagelock made 1 counted request\n",
            proxy.host()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");

    // A run that only HEADs counts nothing.
    let out = run(&reg, &proxy, &dir, &["resolve", &image(&proxy)]);
    expect_code(&out, 0);
    assert_eq!(manifest_gets(&proxy), gets, "resolve sent a manifest GET");
    assert!(proxy.count("HEAD", "/manifests/v1") >= 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "note: {}: 96 of 100 pulls left in this 6 h window; imagelock made 0 counted requests",
            proxy.host()
        )),
        "{stderr}"
    );

    // The line is information: --quiet drops it.
    let out = run(&reg, &proxy, &dir, &["-q", "resolve", &image(&proxy)]);
    expect_code(&out, 0);
    assert!(
        !text(&out.stderr).contains("pulls left"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn fewer_than_ten_percent_left_is_a_warning_with_a_hint() {
    let (reg, proxy) = setup(limit_headers(100, 9));
    let dir = manifests(&reg, &proxy, "low");
    let out = run(&reg, &proxy, &dir, &["lock"]);
    expect_code(&out, 0);
    let out = run(&reg, &proxy, &dir, &["check", "--remote"]);
    expect_code(&out, 0);
    let stderr = text(&out.stderr);
    let host = proxy.host();
    assert!(
        stderr.contains(&format!(
            "warning: {host}: 9 of 100 pulls left in this 6 h window; imagelock made 0 counted requests\n  hint: {host} allows 100 pulls per 6 h window;"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("note: "), "{stderr}");
    assert!(stderr.contains("1 warning(s)"), "{stderr}");

    // Ten left of 100 is not fewer than 10%.
    let (reg, proxy) = setup(limit_headers(100, 10));
    let out = run(&reg, &proxy, reg.scratch(), &["resolve", &image(&proxy)]);
    expect_code(&out, 0);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("note: {}: 10 of 100 pulls left", proxy.host())),
        "{stderr}"
    );
}

#[test]
fn a_429_names_the_window_and_how_to_authenticate() {
    let (reg, proxy) = setup(Vec::new());
    let mut headers = limit_headers(100, 0);
    // Longer than imagelock waits: reported at once.
    headers.push(("Retry-After".into(), "3600".into()));
    proxy.add(
        None,
        "/manifests/",
        Fault::Answer {
            code: 429,
            headers,
            body: br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#.to_vec(),
        },
        usize::MAX,
    );
    let out = run(&reg, &proxy, reg.scratch(), &["resolve", &image(&proxy)]);
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    let host = proxy.host();
    assert!(
        stderr.contains(
            "rate limited (HTTP 429), 0 of 100 pulls left in this 6 h window, retry after 3600s"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: {host} allows 100 pulls per 6 h window; wait for the window to refill, or authenticate so pulls count against an account: `docker login {host}`"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--pull-secret FILE"), "{stderr}");
    // The figures of the 429 make the end-of-run line, a warning.
    assert!(
        stderr.contains(&format!(
            "warning: {host}: 0 of 100 pulls left in this 6 h window; imagelock made 0 counted requests"
        )),
        "{stderr}"
    );
}

#[test]
fn json_carries_the_figures() {
    let (reg, proxy) = setup(limit_headers(200, 150));
    let dir = manifests(&reg, &proxy, "json");
    let expected = |counted: u64| {
        serde_json::json!([{
            "registry": proxy.host(),
            "limit": 200,
            "remaining": 150,
            "window-seconds": 21600,
            "counted-requests": counted,
            "source": "203.0.113.7",
        }])
    };
    let json = |out: &Output| -> serde_json::Value {
        expect_code(out, 0);
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let out = run(
        &reg,
        &proxy,
        &dir,
        &[
            "resolve",
            "--format",
            "json",
            "--platform",
            "linux/amd64",
            &image(&proxy),
        ],
    );
    assert_eq!(json(&out)["registries"], expected(1));

    expect_code(&run(&reg, &proxy, &dir, &["lock"]), 0);
    let out = run(
        &reg,
        &proxy,
        &dir,
        &["check", "--remote", "--format", "json"],
    );
    assert_eq!(json(&out)["registries"], expected(0));
    let out = run(&reg, &proxy, &dir, &["update", "--format", "json"]);
    assert_eq!(json(&out)["registries"], expected(0));

    // Not asked: an empty list.
    let out = run(&reg, &proxy, &dir, &["check", "--format", "json"]);
    assert_eq!(json(&out)["registries"], serde_json::json!([]));
}

#[test]
fn no_line_when_the_registry_states_no_limit() {
    let (reg, proxy) = setup(Vec::new());
    let dir = manifests(&reg, &proxy, "none");
    let out = run(&reg, &proxy, &dir, &["lock", "--platform", "linux/arm64"]);
    expect_code(&out, 0);
    assert_eq!(manifest_gets(&proxy), 1);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("pulls left"), "{stderr}");
    assert!(!stderr.contains("counted request"), "{stderr}");
    let out = run(
        &reg,
        &proxy,
        &dir,
        &["resolve", "--format", "json", &image(&proxy)],
    );
    expect_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["registries"], serde_json::json!([]));
}
