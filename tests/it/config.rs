//! The configuration file `imagelock.toml` through the real binary: where
//! it is found, its errors, flags overriding it, `exclude`,
//! `ignore-images`, `imagelock init`, and custom image locations locked,
//! pinned and checked against the real registry.

use std::path::Path;

use crate::support;
use crate::support::e2e::{assert_locked, pin_twice, run, strip_digests};
use crate::support::run::{expect_code, imagelock, text};
use crate::support::{Registry, Setup};

const FIXTURE: &str = "testdata/config/operator";

/// Copy the fixture into `to`, with `REGISTRY` replaced by `host`.
fn copy_fixture(from: &Path, to: &Path, host: &str) {
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs_err::create_dir_all(&target).unwrap();
            copy_fixture(&entry.path(), &target, host);
        } else {
            let t = fs_err::read_to_string(entry.path()).unwrap();
            fs_err::write(&target, t.replace("REGISTRY", host)).unwrap();
        }
    }
}

/// A temporary git repository (a `.git` directory) holding the fixture.
fn repository(host: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir(dir.path().join(".git")).unwrap();
    copy_fixture(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE),
        dir.path(),
        host,
    );
    dir
}

/// `list`'s rows: location and reference as written, and the status.
fn rows(stdout: &[u8]) -> Vec<String> {
    text(stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} {} {}", f[0], f[1], f[f.len() - 1])
        })
        .collect()
}

#[test]
fn custom_locations_are_listed_locked_pinned_and_checked() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let reloader = reg.push_oci_image("po/prometheus-config-reloader", "v0.63.0", "reloader");
    let operator = reg.push_oci_image("po/prometheus-operator", "v0.63.0", "operator");
    let repo = repository(&h);
    let d = repo.path();

    // No path given: the file's `paths`; `deploy/generated` is excluded
    // (its image exists nowhere, so `lock` would fail on it).
    let o = run(&reg, d, &["list"]);
    expect_code(&o, 0);
    assert_eq!(
        rows(&o.stdout),
        [
            format!("deploy/operator-config.yaml:6:19 {h}/po/prometheus-operator:v0.63.0 unlocked"),
            format!(
                "deploy/operator.yaml:13:40 {h}/po/prometheus-config-reloader:v0.63.0 unlocked"
            ),
            format!("deploy/operator.yaml:15:16 {h}/po/prometheus-operator:v0.63.0 unlocked"),
            format!(
                "deploy/operator.yaml:21:19 {h}/po/prometheus-config-reloader:v0.63.0 unlocked"
            ),
            format!("deploy/operator.yaml:23:16 {h}/ours/sidecar:dev ignored"),
        ],
        "each value once (the `containers[*].image` location repeats a built-in rule)"
    );
    let o = run(&reg, d, &["list", "--format", "json"]);
    expect_code(&o, 0);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let refs = doc["references"].as_array().unwrap();
    let fields: Vec<(&str, &str)> = refs
        .iter()
        .map(|r| (r["field"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("location", "unlocked"),
            ("location", "unlocked"),
            ("image", "unlocked"),
            ("location", "unlocked"),
            ("image", "ignored"),
        ]
    );
    assert_eq!(refs[0]["kind"], "OperatorConfig");

    // The ignored image is not resolved (nothing serves it).
    let o = run(&reg, d, &["lock"]);
    expect_code(&o, 0);
    assert_locked(
        &reg,
        d,
        &[
            ("po/prometheus-config-reloader:v0.63.0", &reloader),
            ("po/prometheus-operator:v0.63.0", &operator),
        ],
    );
    let lock = fs_err::read_to_string(d.join("images.lock")).unwrap();
    assert!(!lock.contains("ours/sidecar"), "{lock}");

    // Only the image bytes change: the digest goes inside the argument,
    // the env value and the quoted custom resource value.
    let manifest = d.join("deploy/operator.yaml");
    let original = fs_err::read_to_string(&manifest).unwrap();
    let cr = d.join("deploy/operator-config.yaml");
    let cr_original = fs_err::read_to_string(&cr).unwrap();
    let pinned = pin_twice(&reg, d, &["pin"], &manifest, &original);
    assert!(
        pinned.contains(&format!(
            "        - --prometheus-config-reloader={h}/po/prometheus-config-reloader:v0.63.0@{reloader}   # the reloader\n"
        )),
        "{pinned}"
    );
    assert!(
        pinned.contains(&format!(
            "          value: \"{h}/po/prometheus-config-reloader:v0.63.0@{reloader}\"\n"
        )),
        "{pinned}"
    );
    assert!(
        pinned.contains(&format!("        image: {h}/ours/sidecar:dev\n")),
        "the ignored image is left alone: {pinned}"
    );
    let cr_pinned = fs_err::read_to_string(&cr).unwrap();
    assert_eq!(strip_digests(&cr_pinned), cr_original);
    assert!(
        cr_pinned.contains(&format!(
            "  operatorImage: '{h}/po/prometheus-operator:v0.63.0@{operator}'\n"
        )),
        "{cr_pinned}"
    );

    // Checked like any other reference; the ignored one is not unpinned.
    let o = run(&reg, d, &["check", "--require-pinned", "--remote"]);
    expect_code(&o, 0);
    // The file's `plain-http` reaches the registry without the flag.
    let o = support::run::imagelock(d, &["check", "--remote"]);
    expect_code(&o, 0);
    // A tag that moved is drift, found at the argument.
    reg.push_oci_image("po/prometheus-config-reloader", "v0.63.0", "moved");
    let o = run(&reg, d, &["check", "--remote"]);
    expect_code(&o, 1);
    assert!(
        text(&o.stdout).contains("deploy/operator.yaml:13:40"),
        "{}",
        text(&o.stdout)
    );
}

/// A directory with `.git` and files; returns it.
fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir(dir.path().join(".git")).unwrap();
    for (name, content) in files {
        let p = dir.path().join(name);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, content).unwrap();
    }
    dir
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n";

#[test]
fn an_unknown_key_is_an_error_at_its_line_and_column() {
    let repo = repo_with(&[
        (
            "imagelock.toml",
            "paths = [\"deploy\"]\n\n  colour = \"blue\"\n",
        ),
        ("deploy/pod.yaml", POD),
    ]);
    let o = imagelock(repo.path(), &["list"]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("error: imagelock.toml:3:3: unknown field `colour`, expected one of"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn invalid_location_path_or_pattern_is_an_error_in_the_file() {
    for (table, at, what) in [
        (
            "[[location]]\npath = \"spec.containers[x]\"\n",
            "imagelock.toml:2:8",
            "invalid path \"spec.containers[x]\"",
        ),
        (
            "[[location]]\npath = \"spec.args[*]\"\npattern = '^--image=(.+)$'\n",
            "imagelock.toml:3:11",
            "pattern has no named group `image`",
        ),
        (
            "[[location]]\npath = \"spec.args[*]\"\npattern = '(?P<image>['\n",
            "imagelock.toml:3:11",
            "invalid pattern",
        ),
        (
            "[[location]]\nkind = \"Deploy[\"\npath = \"spec\"\n",
            "imagelock.toml:2:8",
            "invalid kind glob",
        ),
        (
            "[[location]]\nkind = \"Deployment\"\n",
            "imagelock.toml:1:1",
            "missing field `path`",
        ),
    ] {
        let repo = repo_with(&[("imagelock.toml", table), ("pod.yaml", POD)]);
        let o = imagelock(repo.path(), &["list"]);
        expect_code(&o, 2);
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!("error: {at}: {what}")),
            "{table}: {err}"
        );
    }
}

#[test]
fn found_in_the_nearest_parent_up_to_the_repository_root() {
    let repo = repo_with(&[
        ("imagelock.toml", "paths = [\"deploy\"]\n"),
        ("deploy/pod.yaml", POD),
        ("other/pod.yaml", POD),
        ("sub/dir/.keep", ""),
    ]);
    // From a subdirectory: the root's file, its paths relative to it.
    let o = imagelock(&repo.path().join("sub/dir"), &["list"]);
    expect_code(&o, 0);
    assert_eq!(
        rows(&o.stdout),
        ["../../deploy/pod.yaml:7:12 nginx:1.25 unlocked"]
    );
    // A path given replaces the file's paths; --no-config reads no file.
    let o = imagelock(repo.path(), &["list", "other"]);
    assert_eq!(rows(&o.stdout), ["other/pod.yaml:7:12 nginx:1.25 unlocked"]);
    let o = imagelock(repo.path(), &["--no-config", "list"]);
    assert_eq!(rows(&o.stdout).len(), 2, "{}", text(&o.stdout));
    // A file above the repository root is not read.
    let outer = repo_with(&[("imagelock.toml", "bogus = 1\n")]);
    let inner = outer.path().join("repo");
    fs_err::create_dir_all(inner.join(".git")).unwrap();
    fs_err::write(inner.join("pod.yaml"), POD).unwrap();
    let o = imagelock(&inner, &["list"]);
    expect_code(&o, 0);
    assert_eq!(rows(&o.stdout), ["pod.yaml:7:12 nginx:1.25 unlocked"]);
}

#[test]
fn config_flag_reads_paths_relative_to_the_file() {
    let repo = repo_with(&[
        (
            "conf/team.toml",
            "paths = [\"../deploy\"]\nignore-images = [\"docker.io/library/*\"]\n",
        ),
        ("deploy/pod.yaml", POD),
    ]);
    let o = imagelock(repo.path(), &["--config", "conf/team.toml", "list"]);
    expect_code(&o, 0);
    assert_eq!(
        rows(&o.stdout),
        ["conf/../deploy/pod.yaml:7:12 nginx:1.25 ignored"]
    );
    // Ignored: not missing, not unpinned.
    let o = imagelock(
        repo.path(),
        &["--config", "conf/team.toml", "check", "--require-pinned"],
    );
    expect_code(&o, 0);
    let o = imagelock(repo.path(), &["--config", "conf/missing.toml", "list"]);
    expect_code(&o, 2);
    assert!(
        text(&o.stderr).contains("conf/missing.toml"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn init_writes_a_starter_file_once() {
    let repo = repo_with(&[
        ("deploy/pod.yaml", POD),
        (
            "deploy/app/dep.yaml",
            &POD.replace("nginx:1.25", "ghcr.io/org/app:2"),
        ),
        (
            "compose.yaml",
            "services:\n  web:\n    image: quay.io/org/web:1\n",
        ),
    ]);
    let d = repo.path();
    let o = imagelock(d, &["init"]);
    expect_code(&o, 0);
    let written = fs_err::read_to_string(d.join("imagelock.toml")).unwrap();
    for line in [
        "# `imagelock init` found 3 image reference(s) in 3 file(s):\n",
        "#   Kubernetes manifests: 2 file(s)\n",
        "#   compose files: 1 file(s)\n",
        "# Registries named: docker.io (1), ghcr.io (1), quay.io (1)\n",
        "paths = [\"compose.yaml\", \"deploy\"]\n",
    ] {
        assert!(written.contains(line), "{line:?} in\n{written}");
    }
    // The file it wrote is read back by the next run.
    let o = imagelock(d, &["list"]);
    expect_code(&o, 0);
    assert_eq!(rows(&o.stdout).len(), 3);
    // Never overwritten without --force.
    fs_err::write(d.join("imagelock.toml"), "paths = [\"deploy\"]\n").unwrap();
    let o = imagelock(d, &["init"]);
    expect_code(&o, 2);
    assert!(
        text(&o.stderr).contains("imagelock.toml exists already")
            && text(&o.stderr).contains("imagelock init --force"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        fs_err::read_to_string(d.join("imagelock.toml")).unwrap(),
        "paths = [\"deploy\"]\n"
    );
    let o = imagelock(d, &["init", "--force"]);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(d.join("imagelock.toml")).unwrap(),
        written
    );
}

#[test]
fn a_flag_given_replaces_the_file_list() {
    // Nothing to resolve, so `lock` asks no registry: only the platforms
    // decide whether it fails.
    let repo = repo_with(&[("imagelock.toml", "platforms = [\"not-a-platform\"]\n")]);
    let o = imagelock(repo.path(), &["lock"]);
    expect_code(&o, 2);
    assert!(
        text(&o.stderr).contains("invalid --platform \"not-a-platform\""),
        "{}",
        text(&o.stderr)
    );
    let o = imagelock(repo.path(), &["lock", "--platform", "linux/amd64"]);
    expect_code(&o, 0);
}

/// A ConfigMap key a controller reads as an image (Knative's
/// `config-deployment`) is an image only where a location names it: the
/// built-in rules read no ConfigMap, and an unresolved `ko://` path there
/// is a warning, as in a container.
#[test]
fn a_location_names_a_configmap_key_the_built_in_rules_leave() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let queue = reg.push_oci_image("knative/queue", "1.16", "queue");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir(d.join(".git")).unwrap();
    let config = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-deployment\n  labels:\n    image: queue\ndata:\n  queue-sidecar-image: {h}/knative/queue:1.16\n  image: assets/logo.png\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-deployment-dev\ndata:\n  queue-sidecar-image: ko://knative.dev/serving/cmd/queue\n"
    );
    fs_err::write(d.join("config.yaml"), &config).unwrap();
    // Without a location: nothing, and the note says what was left.
    let o = run(&reg, d, &["list", "config.yaml"]);
    expect_code(&o, 0);
    assert_eq!(text(&o.stdout), "");
    assert!(
        text(&o.stderr).contains("2 value(s) named `image` left unread"),
        "{}",
        text(&o.stderr)
    );
    fs_err::write(
        d.join("imagelock.toml"),
        "[[location]]\nkind = \"ConfigMap\"\npath = \"data.queue-sidecar-image\"\n",
    )
    .unwrap();
    let o = run(&reg, d, &["list", "config.yaml"]);
    expect_code(&o, 0);
    assert_eq!(
        rows(&o.stdout),
        [format!("config.yaml:8:24 {h}/knative/queue:1.16 unlocked")]
    );
    assert!(
        text(&o.stderr).contains("is a ko import path"),
        "{}",
        text(&o.stderr)
    );
    expect_code(&run(&reg, d, &["lock", "config.yaml"]), 0);
    assert_locked(&reg, d, &[("knative/queue:1.16", &queue)]);
    let pinned = pin_twice(
        &reg,
        d,
        &["pin", "config.yaml"],
        &d.join("config.yaml"),
        &config,
    );
    assert!(pinned.contains(&format!(
        "queue-sidecar-image: {h}/knative/queue:1.16@{queue}\n"
    )));
    assert!(pinned.contains("    image: queue\n") && pinned.contains("  image: assets/logo.png\n"));
}
