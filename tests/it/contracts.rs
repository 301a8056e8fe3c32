//! The output contracts, through the binary: every failure is a JSON
//! document when JSON was asked for (option errors included), lockfile
//! errors carry their place as fields, options are checked before anything
//! runs and reported with the scan's failures, and messages say what is
//! true (the quote style, the option, the redirect, the mirror's root).

use std::path::Path;
use std::process::Output;

use crate::support::run::{expect_code, imagelock as run, isolated, text};
use crate::support::{Fault, FaultProxy, Registry, Setup};

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn pod(image: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: a\n    image: {image}\n")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        fs_err::write(dir.path().join(name), content).unwrap();
    }
    dir
}

#[test]
fn option_errors_are_json_documents_when_json_is_asked_for() {
    let dir = tree(&[("a.yaml", &pod("nginx:1"))]);
    let p = dir.path();
    for args in [
        &["list", "--format", "json", "--timeout", "0"][..],
        &["check", "--remote", "--format", "json", "--timeout", "0"],
        &["update", "--format=json", "--timeout", "0"],
        &["resolve", "--format", "json", "--timeout", "0", "nginx:1"],
        &["check", "--format", "json", "--no-such-option"],
        &["lock", "--format", "json"],
        &[
            "--lockfile",
            "x.lock",
            "list",
            "--format",
            "json",
            "--concurrency",
            "0",
        ],
    ] {
        let out = run(p, args);
        expect_code(&out, 2);
        let doc = json(&out);
        assert_eq!(doc["version"], 1, "{args:?}");
        let e = &doc["errors"][0];
        assert_eq!(e["code"], "usage", "{args:?}: {doc:#}");
        assert_eq!(e["severity"], "error");
        assert!(!e["message"].as_str().unwrap().is_empty(), "{doc:#}");
        assert_eq!(doc["warnings"], serde_json::json!([]));
        // The person at the terminal sees clap's message as before.
        assert!(text(&out.stderr).starts_with("error: "), "{args:?}");
    }
    let out = run(p, &["check", "--format", "json", "--timeout", "0"]);
    let message = json(&out)["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("--timeout"), "{message}");
    assert!(message.contains("1..=3600"), "{message}");

    // Without JSON, and for --help and --version, clap prints as it does.
    let out = run(p, &["check", "--timeout", "0"]);
    expect_code(&out, 2);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let out = run(p, &["check", "--format", "json", "--help"]);
    expect_code(&out, 0);
    assert!(text(&out.stdout).contains("Usage"), "{}", text(&out.stdout));
    // A `json` after `--` is a path, not the format.
    let out = run(p, &["list", "--timeout", "0", "--", "--format", "json"]);
    expect_code(&out, 2);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn option_errors_are_sarif_logs_and_annotations_when_those_are_asked_for() {
    let dir = tree(&[("a.yaml", &pod("nginx:1"))]);
    let p = dir.path();
    // A CI step that uploads `--format sarif` or reads `--format github`
    // annotations gets every failure, a refused option too.
    for args in [
        &["check", "--remote", "--format", "sarif", "--timeout", "0"][..],
        &["check", "--format=sarif", "--no-such-option"],
    ] {
        let out = run(p, args);
        expect_code(&out, 2);
        let doc = json(&out);
        assert_eq!(doc["version"], "2.1.0", "{args:?}: {doc:#}");
        let inv = &doc["runs"][0]["invocations"][0];
        assert_eq!(inv["executionSuccessful"], false, "{doc:#}");
        assert_eq!(inv["exitCode"], 2, "{doc:#}");
        let n = &inv["toolExecutionNotifications"][0];
        assert_eq!(n["level"], "error", "{doc:#}");
        assert!(
            n["message"]["text"]
                .as_str()
                .unwrap()
                .contains(if args.contains(&"0") {
                    "--timeout"
                } else {
                    "--no-such-option"
                }),
            "{doc:#}"
        );
        assert!(text(&out.stderr).starts_with("error: "), "{args:?}");
    }
    let out = run(p, &["check", "--format", "github", "--timeout", "0"]);
    expect_code(&out, 2);
    let annotations = text(&out.stdout);
    assert!(
        annotations.starts_with("::error ") && annotations.contains("--timeout"),
        "{annotations}"
    );
    // After `--` a `sarif` is a path, not the format.
    let out = run(p, &["check", "--timeout", "0", "--", "--format", "sarif"]);
    expect_code(&out, 2);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn lockfile_errors_carry_file_line_and_column() {
    let dir = tree(&[
        ("a.yaml", &pod("nginx:1")),
        ("images.lock", "# written by hand\nversion = \"1\"\n"),
    ]);
    let p = dir.path();
    for args in [
        &["list", "--format", "json", "a.yaml"][..],
        &["check", "--format", "json", "a.yaml"],
        &["update", "--format", "json"],
    ] {
        let out = run(p, args);
        expect_code(&out, 2);
        let doc = json(&out);
        let e = &doc["errors"][0];
        assert_eq!(e["code"], "lockfile", "{args:?}: {doc:#}");
        assert_eq!(e["file"], "images.lock", "{args:?}: {doc:#}");
        assert_eq!(e["line"], 2, "{args:?}: {doc:#}");
        assert_eq!(e["column"], 11, "{args:?}: {doc:#}");
        let message = e["message"].as_str().unwrap();
        // `version = "1"` is a hand edit, not a newer format.
        assert_eq!(
            message,
            "the lockfile version must be a number, not the string \"1\"; write `version = 1`",
            "{args:?}"
        );
        assert!(!message.contains("upgrade"), "{message}");
    }
    // Text says the place once, before the message.
    let out = run(p, &["list", "a.yaml"]);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).contains(
            "error: images.lock:2:11: the lockfile version must be a number, not the string \"1\""
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn config_file_errors_carry_file_line_and_column() {
    let dir = tree(&[
        ("a.yaml", &pod("nginx:1")),
        ("imagelock.toml", "timeout = 0\n"),
    ]);
    let out = run(dir.path(), &["list", "--format", "json", "a.yaml"]);
    expect_code(&out, 2);
    let doc = json(&out);
    let e = &doc["errors"][0];
    assert_eq!(e["code"], "config", "{doc:#}");
    assert_eq!(e["file"], "imagelock.toml", "{doc:#}");
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(1), Some(11)),
        "{doc:#}"
    );
    assert!(
        e["message"].as_str().unwrap().starts_with("timeout"),
        "{doc:#}"
    );
}

#[test]
fn junk_after_a_single_quoted_scalar_says_single_quoted() {
    let dir = tree(&[
        ("single.yaml", &pod("'nginx:1' junk")),
        ("double.yaml", &pod("\"nginx:1\" junk")),
    ]);
    let out = run(dir.path(), &["list", "single.yaml", "double.yaml"]);
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "error: single.yaml:8:22: invalid trailing content after single-quoted scalar"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "error: double.yaml:8:22: invalid trailing content after double-quoted scalar"
        ),
        "{stderr}"
    );
}

#[test]
fn options_are_checked_before_anything_runs_and_reported_with_the_scan() {
    let dir = tree(&[
        ("good.yaml", &pod("nginx:1")),
        ("broken.yaml", &pod("'nginx:1' junk")),
        ("images.lock", "version = 1\n"),
    ]);
    let p = dir.path();
    // The option is named, with why it cannot work.
    let out = run(p, &["lock", "--pull-secret", "/nonexistent", "good.yaml"]);
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: --pull-secret /nonexistent: cannot read: No such file"),
        "{stderr}"
    );
    assert!(!stderr.contains("failed to open"), "{stderr}");

    // An option that cannot work and a scan that fails: both are reported.
    let out = run(
        p,
        &[
            "lock",
            "--pull-secret",
            "/nonexistent",
            "--ca-file",
            "/nonexistent.pem",
            "--platform",
            "linux",
            "good.yaml",
            "broken.yaml",
        ],
    );
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    for says in [
        "--pull-secret /nonexistent",
        "--ca-file /nonexistent.pem",
        "--platform \"linux\"",
        "broken.yaml:8:22",
    ] {
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
    assert_eq!(
        fs_err::read_to_string(p.join("images.lock")).unwrap(),
        "version = 1\n"
    );

    let out = run(
        p,
        &[
            "check",
            "--remote",
            "--format",
            "json",
            "--pull-secret",
            "/nonexistent",
            "good.yaml",
            "broken.yaml",
        ],
    );
    expect_code(&out, 2);
    let doc = json(&out);
    let errors: Vec<(String, String)> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 2, "{doc:#}");
    assert_eq!(errors[0].0, "usage");
    assert!(
        errors[0].1.starts_with("--pull-secret /nonexistent: "),
        "{doc:#}"
    );
    assert_eq!(errors[1].0, "parse");

    // update and resolve stop before any request, naming the option.
    for args in [
        &["update", "--pull-secret", "/nonexistent"][..],
        &[
            "resolve",
            "--pull-secret",
            "/nonexistent",
            "127.0.0.1:1/a:1",
        ],
        &["list", "--pull-secret", "/nonexistent", "good.yaml"],
    ] {
        let out = run(p, args);
        expect_code(&out, 2);
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("error: --pull-secret /nonexistent: cannot read"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("127.0.0.1:1"), "nothing asked: {stderr}");
    }
}

#[test]
fn custom_locations_empty_groups_warn_and_arguments_get_no_pull_policy() {
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: a\n    image: nginx:1@{D}\n    args: [\"--reloader=\", --reloader, \"--reloader=quay.io/a/r:1\"]\n"
    );
    let dir = tree(&[
        ("pod.yaml", &manifest),
        (
            "imagelock.toml",
            "[[location]]\npath = \"spec.containers[*].args[*]\"\npattern = '^--reloader(?:=(?P<image>.*))?$'\n",
        ),
    ]);
    let out = run(dir.path(), &["list", "--format", "json", "pod.yaml"]);
    expect_code(&out, 0);
    let doc = json(&out);
    let warnings: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["message"].as_str().unwrap())
        .collect();
    // `--reloader=` (the group matched nothing) and `--reloader` (the
    // group left out): each a warning at its place, neither invalid.
    assert_eq!(doc["errors"], serde_json::json!([]), "{doc:#}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("\"\" is empty, not a reference")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("\"--reloader\": the pattern's `image` group is empty")),
        "{warnings:?}"
    );
    // The argument's image is no container image: no imagePullPolicy.
    assert!(
        !warnings.iter().any(|w| w.contains("imagePullPolicy")),
        "{warnings:?}"
    );
    let refs = doc["references"].as_array().unwrap();
    let arg = refs
        .iter()
        .find(|r| r["reference"] == "quay.io/a/r:1")
        .unwrap();
    assert_eq!(arg["pull-policy"], serde_json::Value::Null, "{arg:#}");

    let out = run(dir.path(), &["check", "pod.yaml"]);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("invalid"), "{stderr}");
    assert!(!stderr.contains("imagePullPolicy"), "{stderr}");
}

#[test]
fn a_backtick_in_a_file_name_keeps_the_markdown_location_cell() {
    let dir = tree(&[
        ("a`b.yaml", &pod("nginx:1")),
        ("images.lock", "version = 1\n"),
    ]);
    let out = run(dir.path(), &["check", "--format", "markdown", "a`b.yaml"]);
    expect_code(&out, 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("| ``a`b.yaml:8:12`` | missing | `nginx:1` |"),
        "{stdout}"
    );
}

#[test]
fn a_redirect_to_https_that_fails_tls_names_the_redirect() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "x");
    let proxy = FaultProxy::start(reg.port);
    // The registry sends its clients to https:// on its own host and port,
    // where it speaks plain HTTP.
    let target = format!("https://{}/v2/team/app/manifests/v1", proxy.host());
    proxy.add(
        None,
        "/manifests/v1",
        Fault::Answer {
            code: 307,
            headers: vec![("Location".into(), target.clone())],
            body: Vec::new(),
        },
        10,
    );
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/team/app:v1", proxy.host());
    let out = isolated(
        &reg,
        dir.path(),
        &[
            "resolve",
            "--plain-http",
            &proxy.host(),
            "--timeout",
            "5",
            &image,
        ],
    );
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("redirect target {target}")),
        "{stderr}"
    );
    let hint = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint: {stderr}"));
    assert!(hint.contains(&format!("redirected to {target}")), "{hint}");
    assert!(!hint.contains("add `--plain-http"), "{hint}");
}

#[test]
fn mirror_missing_hint_keeps_the_mirrors_root() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::PlainAnonymous);
    up.push_oci_image("team/app", "1", "one");
    let dir = tree(&[("pod.yaml", &pod(&up.image("team/app:1")))]);
    let p = dir.path();
    expect_code(
        &isolated(&up, p, &["lock", "--plain-http", "127.0.0.1", "pod.yaml"]),
        0,
    );
    let host_dir = p.join("certs.d").join(up.host());
    fs_err::create_dir_all(&host_dir).unwrap();
    // override_path on a URL without /v2: the root is `/cache`.
    fs_err::write(
        host_dir.join("hosts.toml"),
        format!(
            "server = \"http://{up}\"\n\n[host.\"http://{m}/cache\"]\n  capabilities = [\"pull\"]\n  override_path = true\n",
            up = up.host(),
            m = mirror.host()
        ),
    )
    .unwrap();
    let out = isolated(
        &up,
        p,
        &[
            "check",
            "--remote",
            "--format",
            "json",
            "--containerd-hosts-dir",
            "certs.d",
            "--plain-http",
            "127.0.0.1",
            "pod.yaml",
        ],
    );
    expect_code(&out, 1);
    let doc = json(&out);
    let missing: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "mirror-missing")
        .collect();
    assert_eq!(missing.len(), 1, "{doc:#}");
    let hint = missing[0]["hint"].as_str().unwrap();
    // No skopeo target that drops `/cache`.
    assert!(
        !hint.contains(&format!("docker://{}/team/app", mirror.host())),
        "{hint}"
    );
    assert!(
        hint.contains(&format!("{}/cache/team/app", mirror.host())),
        "{hint}"
    );
}

/// Copy the regular files of `from` into a new directory.
fn copy_tree(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in fs_err::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs_err::copy(e.path(), to.path().join(e.file_name())).unwrap();
        }
    }
    to
}

/// Every regular file of `dir` by name, with its bytes.
fn files(dir: &Path) -> std::collections::BTreeMap<std::ffi::OsString, Vec<u8>> {
    fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name(), fs_err::read(e.path()).unwrap()))
        .collect()
}

/// Run `program ARGS` in `dir` with `input` on stdin; panics unless it
/// succeeds.
fn apply_with(program: &str, args: &[&str], dir: &Path, input: &[u8]) {
    use std::io::Write;
    let mut child = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("`{program}` not found ({e}): install the Debian package"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}\ndiff:\n{}",
        text(&out.stdout),
        text(&out.stderr),
        text(input)
    );
}

#[test]
fn pin_dry_run_diff_applies_with_git_apply_and_patch() {
    let lock = format!(
        "version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1\"\ndigest = \"{D}\"\n"
    );
    let no_newline = pod("nginx:1");
    let no_newline = no_newline.trim_end();
    let crlf = pod("nginx:1").replace('\n', "\r\n");
    let dir = tree(&[
        ("images.lock", &lock),
        ("plain.yaml", &pod("nginx:1")),
        ("my file.yaml", &pod("nginx:1")),
        ("two  spaces .yaml", &pod("nginx:1")),
        ("tab\there.yaml", &pod("nginx:1")),
        ("q\"uote.yaml", &pod("nginx:1")),
        ("back\\slash.yaml", &pod("nginx:1")),
        ("ünï cødé.yaml", &pod("nginx:1")),
        ("no-final-newline.yaml", no_newline),
        ("crlf.yaml", &crlf),
    ]);
    let out = run(dir.path(), &["pin", "--dry-run", "."]);
    expect_code(&out, 0);
    let diff = out.stdout;
    let shown = text(&diff);
    assert_eq!(shown.matches("diff --git ").count(), 9, "{shown}");
    assert!(
        shown.contains("diff --git a/my file.yaml b/my file.yaml\n--- a/my file.yaml\t\n+++ b/my file.yaml\t\n"),
        "{shown}"
    );
    assert!(
        shown.contains("diff --git \"a/tab\\there.yaml\" \"b/tab\\there.yaml\"\n"),
        "{shown}"
    );
    // What pin itself writes.
    let pinned = copy_tree(dir.path());
    expect_code(&run(pinned.path(), &["pin", "."]), 0);
    let want = files(pinned.path());

    let checked = copy_tree(dir.path());
    apply_with("git", &["apply", "--check", "-"], checked.path(), &diff);
    apply_with("patch", &["-p1", "--dry-run"], checked.path(), &diff);
    assert_eq!(
        files(checked.path()),
        files(dir.path()),
        "checks change nothing"
    );

    let by_git = copy_tree(dir.path());
    apply_with("git", &["apply", "-"], by_git.path(), &diff);
    assert_eq!(
        files(by_git.path()),
        want,
        "git apply gives what pin writes"
    );

    let by_patch = copy_tree(dir.path());
    apply_with("patch", &["-p1", "--quiet"], by_patch.path(), &diff);
    assert_eq!(
        files(by_patch.path()),
        want,
        "patch -p1 gives what pin writes"
    );
}

#[test]
fn pin_dry_run_diff_applies_for_paths_written_with_dot_and_double_slashes() {
    let lock = format!(
        "version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1\"\ndigest = \"{D}\"\n"
    );
    let dir = tree(&[("images.lock", &lock), ("my file.yaml", &pod("nginx:1"))]);
    fs_err::create_dir_all(dir.path().join("k8s")).unwrap();
    fs_err::write(dir.path().join("k8s/app.yaml"), pod("nginx:1")).unwrap();
    // As a shell completes them: `./file`, `dir//file`, `./dir/./file`.
    for args in [
        &["pin", "--dry-run", "./my file.yaml"][..],
        &["pin", "--dry-run", "k8s//app.yaml"],
        &["pin", "--dry-run", "./k8s/./app.yaml", "./my file.yaml"],
    ] {
        let out = run(dir.path(), args);
        expect_code(&out, 0);
        let diff = out.stdout;
        let shown = text(&diff);
        assert!(!shown.contains("a/./") && !shown.contains("//"), "{shown}");
        let checked = copy_tree(dir.path());
        fs_err::create_dir_all(checked.path().join("k8s")).unwrap();
        fs_err::write(checked.path().join("k8s/app.yaml"), pod("nginx:1")).unwrap();
        apply_with("git", &["apply", "--check", "-"], checked.path(), &diff);
        apply_with("patch", &["-p1", "--dry-run"], checked.path(), &diff);
    }
}
