//! End-to-end tests of the single output layer: the versioned JSON
//! contract, errors in every format, `--quiet`, a closed pipe, options that
//! cannot work, and `-v` request logging without secrets.

use std::io::Read;
use std::path::Path;
use std::process::{Output, Stdio};

use assert_cmd::Command;

use crate::support;
use crate::support::run::{expect_code, imagelock as run, text};
use crate::support::{Registry, Setup, PASSWORD, USER};

/// A tree with one good manifest (one locked, one missing reference), one
/// file that does not parse, and a lockfile with an entry only the broken
/// file might use.
fn broken_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs_err::write(
        p.join("good.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: a\n    image: nginx:1.25\n  - name: b\n    image: redis:7\n",
    )
    .unwrap();
    fs_err::write(
        p.join("broken.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: [unclosed\n",
    )
    .unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    fs_err::write(
        p.join("images.lock"),
        format!(
            "version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1.25\"\ndigest = \"{digest}\"\n\n[[image]]\nname = \"docker.io/library/postgres\"\ntag = \"16\"\ndigest = \"{digest}\"\n"
        ),
    )
    .unwrap();
    dir
}

#[test]
fn check_json_is_versioned_and_carries_errors() {
    let dir = broken_tree();
    let out = run(dir.path(), &["check", "--format", "json", "."]);
    expect_code(&out, 2);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], 1);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{doc:#}");
    let f = &findings[0];
    assert_eq!(f["kind"], "missing");
    assert_eq!(f["file"], "good.yaml");
    assert_eq!(f["line"], 9);
    assert_eq!(f["column"], 12);
    assert_eq!(f["reference"], "redis:7");
    assert_eq!(f["hint"], "run `imagelock lock`");
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{doc:#}");
    assert_eq!(errors[0]["code"], "parse");
    assert_eq!(errors[0]["file"], "broken.yaml");
    assert!(errors[0]["line"].as_u64().is_some());
    assert_eq!(errors[0]["severity"], "error");
    // While broken.yaml fails to parse, postgres might be one it uses: no
    // stale-entry warning.
    let stale = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "stale")
        .count();
    assert_eq!(stale, 0, "{doc:#}");
    assert_eq!(doc["summary"]["findings"], 1);
    assert_eq!(doc["summary"]["errors"], 1);
}

#[test]
fn check_github_annotates_parse_errors() {
    let dir = broken_tree();
    let out = run(dir.path(), &["check", "--format", "github", "."]);
    expect_code(&out, 2);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("::error file=good.yaml,line=9,col=12,title=imagelock::missing: "),
        "{stdout}"
    );
    let parse = stdout
        .lines()
        .find(|l| l.starts_with("::error file=broken.yaml,line="))
        .unwrap_or_else(|| panic!("no annotation for the parse error:\n{stdout}"));
    assert!(parse.contains("fix the YAML syntax"), "{parse}");
}

#[test]
fn stale_entries_are_reported_when_every_file_parses() {
    let dir = broken_tree();
    fs_err::remove_file(dir.path().join("broken.yaml")).unwrap();
    let out = run(dir.path(), &["check", "--format", "json", "."]);
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "stale")
        .unwrap_or_else(|| panic!("no stale-entry warning: {doc:#}"));
    assert_eq!(w["file"], "images.lock");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("docker.io/library/postgres:16"),
        "{doc:#}"
    );
}

#[test]
fn quiet_prints_findings_and_errors_only() {
    let dir = broken_tree();
    let out = run(dir.path(), &["--quiet", "check", "."]);
    expect_code(&out, 2);
    assert_eq!(text(&out.stdout).lines().count(), 1, "one finding");
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: broken.yaml:"), "{stderr}");
    assert!(!stderr.contains("checked"), "no summary line: {stderr}");
    assert!(!stderr.contains("warning"), "no warnings: {stderr}");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n");
    for i in 0..20_000 {
        yaml.push_str(&format!(
            "  - name: c{i}\n    image: example.com/app{i}:1\n"
        ));
    }
    fs_err::write(dir.path().join("big.yaml"), yaml).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("imagelock");
    let mut child = std::process::Command::new(bin)
        .current_dir(dir.path())
        .args(["list", "big.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take()); // `| head -c 16`
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn options_that_cannot_work_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs_err::write(
        p.join("a.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: example.com/a:1\n",
    )
    .unwrap();

    let out = run(p, &["lock", "--timeout", "0", "a.yaml"]);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).contains("--timeout"),
        "{}",
        text(&out.stderr)
    );

    let out = run(
        p,
        &["lock", "--plain-http", "https://example.com", "a.yaml"],
    );
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--plain-http https://example.com: expected HOST[:PORT]"),
        "{stderr}"
    );

    fs_err::create_dir(p.join("locks")).unwrap();
    // One clean message, not the OS error twice.
    for (args, says) in [
        (
            &["--lockfile", "locks", "check", "a.yaml"],
            "--lockfile locks: is a directory",
        ),
        (
            &["--lockfile", "missing/images.lock", "lock", "a.yaml"],
            "the directory missing does not exist",
        ),
    ] {
        let out = run(p, args);
        expect_code(&out, 2);
        let stderr = text(&out.stderr);
        assert_eq!(stderr.matches("error").count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    assert!(!p.join("missing").exists());
}

/// A registry at 127.0.0.1 with a pushed image, and a manifest using it.
fn registry_tree(reg: &Registry) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: app}}\nspec:\n  containers:\n  - name: a\n    image: {}\n  - name: b\n    image: {}\n",
            reg.image("team/app:v1"),
            reg.image("team/gone:v1"),
        ),
    )
    .unwrap();
    dir
}

fn with_registry(reg: &Registry, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::cargo_bin("imagelock").unwrap();
    cmd.envs(reg.isolated_env())
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .args(args);
    support::run::without_proxies(&mut cmd);
    if let Some(ca) = &reg.ca_file {
        cmd.arg("--ca-file").arg(ca);
    }
    cmd.output().unwrap()
}

#[test]
fn registry_errors_are_error_objects_and_verbose_logs_requests_without_secrets() {
    let reg = Registry::start(Setup::TlsBasic);
    reg.push_oci_image("team/app", "v1", "app");
    let dir = registry_tree(&reg);
    let p = dir.path();

    // lock fails on the missing image: every other image is still asked.
    let out = with_registry(&reg, p, &["-vv", "lock", "app.yaml"]);
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("team/gone:v1"), "{stderr}");
    assert!(stderr.contains("used at app.yaml:9:12"), "{stderr}");
    // -v: one line per request, naming method, URL and status.
    assert!(stderr.contains("HEAD"), "{stderr}");
    assert!(stderr.contains("/v2/team/app/manifests/v1"), "{stderr}");
    for secret in [PASSWORD, &base64_basic(USER, PASSWORD)] {
        assert!(
            !stderr.contains(secret),
            "a secret reached stderr:\n{stderr}"
        );
    }

    // check --remote --format json carries the registry error as an object.
    let digest = reg.skopeo_digest("team/app:v1");
    fs_err::write(
        p.join("images.lock"),
        format!(
            "version = 1\n\n[[image]]\nname = \"{}\"\ntag = \"v1\"\ndigest = \"{digest}\"\n\n[[image]]\nname = \"{}\"\ntag = \"v1\"\ndigest = \"{digest}\"\n",
            reg.image("team/app"),
            reg.image("team/gone"),
        ),
    )
    .unwrap();
    let out = with_registry(
        &reg,
        p,
        &["check", "--remote", "--format", "json", "app.yaml"],
    );
    expect_code(&out, 2);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], 1);
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{doc:#}");
    let e = &errors[0];
    assert_eq!(e["code"], "not-found", "{e:#}");
    assert!(
        e["message"].as_str().unwrap().contains("team/gone:v1"),
        "{e:#}"
    );
    assert_eq!(e["used-at"][0]["file"], "app.yaml");
    assert_eq!(e["used-at"][0]["line"], 9);
    assert_eq!(doc["findings"], serde_json::json!([]));
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[test]
fn check_markdown_tables_findings_and_errors() {
    let dir = broken_tree();
    let out = run(dir.path(), &["check", "--format", "markdown", "."]);
    expect_code(&out, 2);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("| `good.yaml:9:12` | missing | `redis:7` | redis:7: docker.io/library/redis:7 is not in images.lock; run `imagelock lock` |"),
        "{stdout}"
    );
    assert!(stdout.contains("| Location | Error |"), "{stdout}");
    assert!(stdout.contains("| `broken.yaml:"), "{stdout}");
}

#[test]
fn a_broken_lockfile_is_an_error_object_in_json() {
    let dir = broken_tree();
    fs_err::remove_file(dir.path().join("broken.yaml")).unwrap();
    fs_err::write(
        dir.path().join("images.lock"),
        "version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1.25\"\ndigest = \"sha256:abc\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["check", "--format", "json", "."]);
    expect_code(&out, 2);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["findings"], serde_json::json!([]));
    let e = &doc["errors"][0];
    assert_eq!(e["code"], "lockfile", "{doc:#}");
    // The place is the message's fields, not part of its text.
    assert_eq!(e["file"], "images.lock", "{doc:#}");
    assert_eq!(e["line"], 6, "{doc:#}");
    assert!(e["column"].as_u64().is_some(), "{doc:#}");
    assert!(
        !e["message"].as_str().unwrap().contains("images.lock:6:"),
        "{doc:#}"
    );
}

#[test]
fn a_run_stopped_by_a_failure_still_prints_json() {
    let dir = broken_tree();
    fs_err::write(dir.path().join("images.lock"), "version = 7\n").unwrap();
    for args in [
        &["list", "--format", "json", "good.yaml"][..],
        &["update", "--format", "json"][..],
    ] {
        let out = run(dir.path(), args);
        expect_code(&out, 2);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", text(&out.stdout)));
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["errors"][0]["file"], "images.lock", "{args:?}: {doc:#}");
        // The person at the terminal sees it too.
        assert!(text(&out.stderr).contains("error: "), "{args:?}");
    }
}
