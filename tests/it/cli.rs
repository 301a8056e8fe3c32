//! End-to-end tests of the offline commands: they drive the real binary on
//! copies of the fixtures under `testdata/`.

use std::path::{Path, PathBuf};

use crate::support;
use crate::support::run::{expect_code, imagelock, text};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temporary directory holding `app/` (the fixtures) and `images.lock`.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&testdata().join("app"), &dir.path().join("app"));
    fs_err::copy(testdata().join("app.lock"), dir.path().join("images.lock")).unwrap();
    dir
}

/// Every file under `dir` with its bytes, sorted.
fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        out.push((
            entry.strip_prefix(dir).unwrap().to_path_buf(),
            fs_err::read(&entry).unwrap(),
        ));
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn list_shows_every_reference() {
    let dir = workspace();
    let out = imagelock(dir.path(), &["list", "app"]);
    expect_code(&out, 0);
    insta::assert_snapshot!("list_text", text(&out.stdout));
    insta::assert_snapshot!("list_stderr", text(&out.stderr));
}

#[test]
fn list_json_has_context() {
    let dir = workspace();
    let out = imagelock(
        dir.path(),
        &["list", "--format", "json", "app/workloads.yaml"],
    );
    expect_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], 1, "the JSON contract is versioned");
    assert_eq!(doc["errors"], serde_json::json!([]));
    let rows = doc["references"].as_array().unwrap();
    let nginx = &rows[0];
    assert_eq!(nginx["reference"], "nginx:1.25");
    assert_eq!(nginx["name"], "docker.io/library/nginx");
    assert_eq!(nginx["kind"], "Deployment");
    assert_eq!(nginx["namespace"], "shop");
    assert_eq!(nginx["object"], "web");
    assert_eq!(nginx["container"], "nginx");
    assert_eq!(nginx["container-list"], "containers");
    assert_eq!(nginx["pull-policy"], "IfNotPresent");
    assert_eq!(nginx["status"], "locked");
    assert_eq!(nginx["line"], 12);
    assert_eq!(nginx["column"], 18);
    let init = rows.iter().find(|r| r["reference"] == "busybox").unwrap();
    assert_eq!(init["container-list"], "initContainers");
    assert_eq!(init["pull-policy"], "Always");
    let eph = rows.iter().find(|r| r["container"] == "shell").unwrap();
    assert_eq!(eph["container-list"], "ephemeralContainers");
    let pause = rows.iter().find(|r| r["container"] == "main").unwrap();
    assert_eq!(pause["status"], "pinned");
    assert!(pause["warnings"][0]
        .as_str()
        .unwrap()
        .contains("ErrImagePull"));
    let cron = rows.iter().find(|r| r["kind"] == "CronJob").unwrap();
    assert_eq!(cron["style"], "single-quoted");
}

#[test]
fn pin_rewrites_only_image_bytes_and_is_idempotent() {
    let dir = workspace();
    let before = snapshot_tree(&dir.path().join("app"));
    let out = imagelock(dir.path(), &["pin", "app"]);
    expect_code(&out, 0);
    let after = snapshot_tree(&dir.path().join("app"));
    let lock = imagelock::lockfile::Lockfile::load(&dir.path().join("images.lock")).unwrap();
    for ((path, old), (_, new)) in before.iter().zip(&after) {
        // Removing every inserted `@digest` from the new bytes (and the
        // `:latest` written out for the one untagged reference) must give
        // back the old bytes.
        let mut stripped = text(new);
        let mut old_stripped = text(old);
        for e in lock.entries() {
            stripped = stripped.replace(&format!("@{}", e.digest), "");
            old_stripped = old_stripped.replace(&format!("@{}", e.digest), "");
        }
        let stripped = stripped.replace("image: busybox:latest\n", "image: busybox\n");
        assert_eq!(
            stripped,
            old_stripped,
            "{} changed beyond image values",
            path.display()
        );
        insta::assert_snapshot!(
            format!("pinned_{}", path.display()).replace(['/', '.'], "_"),
            text(new)
        );
    }
    // CRLF stays CRLF.
    let crlf = fs_err::read(dir.path().join("app/crlf.yaml")).unwrap();
    assert_eq!(crlf.windows(2).filter(|w| w == b"\r\n").count(), 9);
    assert!(!text(&crlf).replace("\r\n", "").contains('\n'));
    // A second run changes nothing.
    let out = imagelock(dir.path(), &["pin", "app"]);
    expect_code(&out, 0);
    assert_eq!(snapshot_tree(&dir.path().join("app")), after);
    assert!(
        text(&out.stderr).contains("pinned 0 reference(s)"),
        "{}",
        text(&out.stderr)
    );
    // And everything is now clean, even when pinning is required.
    let out = imagelock(dir.path(), &["check", "--require-pinned", "app"]);
    expect_code(&out, 0);
}

#[test]
fn pin_dry_run_prints_diff_and_writes_nothing() {
    let dir = workspace();
    let before = snapshot_tree(dir.path());
    let out = imagelock(
        dir.path(),
        &["pin", "--dry-run", "app/workloads.yaml", "app/crlf.yaml"],
    );
    expect_code(&out, 0);
    assert_eq!(snapshot_tree(dir.path()), before);
    insta::assert_snapshot!("pin_dry_run", text(&out.stdout).replace('\r', "\\r"));
}

#[test]
fn pin_with_missing_entries_writes_nothing_and_lists_all() {
    let dir = workspace();
    let lock = fs_err::read_to_string(dir.path().join("images.lock")).unwrap();
    // Drop two entries.
    let kept: Vec<&str> = lock
        .split("\n\n")
        .filter(|e| !e.contains("library/caddy") && !e.contains("library/traefik"))
        .collect();
    fs_err::write(dir.path().join("images.lock"), kept.join("\n\n")).unwrap();
    let before = snapshot_tree(dir.path());
    let out = imagelock(dir.path(), &["pin", "app"]);
    expect_code(&out, 2);
    assert_eq!(
        snapshot_tree(dir.path()),
        before,
        "pin wrote a file despite missing entries"
    );
    let err = text(&out.stderr);
    assert!(err.contains("app/crlf.yaml:8:15: traefik:v3.0 (docker.io/library/traefik:v3.0) is not in images.lock"), "{err}");
    assert!(err.contains("app/unicode.yaml:10:28: caddy:2.7"), "{err}");
    assert!(err.contains("no file was changed"), "{err}");
}

#[test]
fn untagged_reference_is_pinned_with_latest() {
    let dir = workspace();
    let out = imagelock(dir.path(), &["pin", "app/workloads.yaml"]);
    expect_code(&out, 0);
    let y = fs_err::read_to_string(dir.path().join("app/workloads.yaml")).unwrap();
    assert!(y.contains("image: busybox:latest@sha256:"), "{y}");
}

#[test]
fn pin_updates_a_reference_pinned_to_another_digest() {
    let dir = workspace();
    let old = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let path = dir.path().join("app/compose.yaml");
    let y = fs_err::read_to_string(&path)
        .unwrap()
        .replace("mariadb:11.2", &format!("mariadb:11.2@{old}"));
    fs_err::write(&path, y).unwrap();
    let out = imagelock(dir.path(), &["check", "app/compose.yaml"]);
    expect_code(&out, 1);
    assert!(
        text(&out.stdout).contains("mismatch"),
        "{}",
        text(&out.stdout)
    );
    let out = imagelock(dir.path(), &["pin", "app/compose.yaml"]);
    expect_code(&out, 0);
    let y = fs_err::read_to_string(&path).unwrap();
    assert!(!y.contains(old));
    let out = imagelock(dir.path(), &["check", "app/compose.yaml"]);
    expect_code(&out, 0);
}

#[test]
fn check_reports_missing_unpinned_and_stale() {
    let dir = workspace();
    // Unpinned is a finding only with --require-pinned.
    let out = imagelock(dir.path(), &["check", "app"]);
    expect_code(&out, 0);
    let out = imagelock(
        dir.path(),
        &["check", "--require-pinned", "app/compose.yaml"],
    );
    expect_code(&out, 1);
    insta::assert_snapshot!("check_require_pinned", text(&out.stdout));
    // Checking one file leaves the other entries stale: a warning, not a finding.
    assert!(
        text(&out.stderr).contains("stale entry docker.io/library/nginx:1.25"),
        "{}",
        text(&out.stderr)
    );
    // A reference without an entry is missing.
    fs_err::write(
        dir.path().join("app/new.yaml"),
        "image: example.com/new:1\n",
    )
    .unwrap();
    let out = imagelock(dir.path(), &["check", "--format", "github", "app/new.yaml"]);
    expect_code(&out, 1);
    insta::assert_snapshot!("check_github", text(&out.stdout));
    let out = imagelock(dir.path(), &["check", "--format", "json", "app/new.yaml"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["findings"][0]["kind"], "missing");
    assert_eq!(doc["findings"][0]["line"], 1);
}

#[test]
fn syntax_error_is_exit_2_with_position_and_pin_writes_nothing() {
    let dir = workspace();
    copy_dir(&testdata().join("bad"), &dir.path().join("app/bad"));
    let before = snapshot_tree(dir.path());
    let out = imagelock(dir.path(), &["pin", "app"]);
    expect_code(&out, 2);
    assert_eq!(snapshot_tree(dir.path()), before);
    let err = text(&out.stderr);
    assert!(
        err.contains("error: app/bad/latin1.yaml:2:6: not valid UTF-8"),
        "{err}"
    );
    assert!(err.contains("error: app/bad/syntax.yaml:7:"), "{err}");
    let out = imagelock(dir.path(), &["list", "app/bad/syntax.yaml"]);
    expect_code(&out, 2);
}

#[test]
fn unreadable_path_and_binary_file() {
    let dir = workspace();
    let out = imagelock(dir.path(), &["list", "does-not-exist"]);
    expect_code(&out, 2);
    assert!(text(&out.stderr).contains("does-not-exist"));
    fs_err::write(dir.path().join("app/blob.yaml"), b"\x00\x01\x02image: x").unwrap();
    let out = imagelock(dir.path(), &["list", "app"]);
    expect_code(&out, 0);
    assert!(text(&out.stderr).contains("app/blob.yaml: skipped: binary file"));
}

#[test]
fn helm_templates_are_skipped_with_one_note() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&testdata().join("chart"), &dir.path().join("chart"));
    let out = imagelock(dir.path(), &["list", "chart"]);
    expect_code(&out, 0);
    let err = text(&out.stderr);
    assert_eq!(
        err.matches("templates are Go templates").count(),
        1,
        "{err}"
    );
    assert!(!text(&out.stdout).contains("templates/deployment.yaml"));
    // values.yaml is the chart's values: walked, its images are read by
    // the Helm values rules (split `repository`/`tag` and `image` strings).
    let out_text = text(&out.stdout);
    assert!(
        out_text.contains("chart/values.yaml:2:15  nginx:1.25"),
        "{out_text}"
    );
    assert!(
        out_text.contains("chart/values.yaml:5:10  busybox:1.36"),
        "{out_text}"
    );
    assert!(!err.contains("not read"), "{err}");
    let out = imagelock(dir.path(), &["list", "chart/values.yaml"]);
    expect_code(&out, 0);
    assert!(text(&out.stdout).contains("busybox:1.36"));
}

#[test]
fn json_file_named_on_the_command_line() {
    let dir = workspace();
    fs_err::copy(
        testdata().join("manifest.json"),
        dir.path().join("manifest.json"),
    )
    .unwrap();
    let out = imagelock(dir.path(), &["pin", "manifest.json"]);
    expect_code(&out, 0);
    let j = fs_err::read_to_string(dir.path().join("manifest.json")).unwrap();
    assert!(j.contains("\"image\": \"nginx:1.25@sha256:"), "{j}");
    serde_json::from_str::<serde_json::Value>(&j).unwrap();
}

#[test]
fn bad_lockfile_is_exit_2_with_line() {
    let dir = workspace();
    fs_err::write(dir.path().join("images.lock"), "version = 7\n").unwrap();
    let out = imagelock(dir.path(), &["list", "app"]);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).contains("images.lock:1:11: unsupported lockfile version 7"),
        "{}",
        text(&out.stderr)
    );
}

/// A lockfile that cannot be read names it and says why once, in text and
/// in JSON (the error's own message already ends with the OS reason).
#[test]
fn unreadable_lockfile_says_why_once() {
    let dir = workspace();
    let lock = dir.path().join("images.lock");
    fs_err::remove_file(&lock).unwrap();
    fs_err::os::unix::fs::symlink("images.lock", &lock).unwrap();
    let out = imagelock(dir.path(), &["list", "app"]);
    expect_code(&out, 2);
    let err = text(&out.stderr);
    assert!(
        err.contains("images.lock: cannot read the lockfile: "),
        "{err}"
    );
    assert_eq!(err.matches("os error 40").count(), 1, "{err}");
    let out = imagelock(dir.path(), &["check", "app", "--format", "json"]);
    expect_code(&out, 2);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = doc["errors"][0]["message"].as_str().unwrap();
    assert_eq!(message.matches("os error 40").count(), 1, "{message}");
}

#[test]
fn help_lists_every_command() {
    let out = imagelock(Path::new("."), &["--help"]);
    expect_code(&out, 0);
    insta::assert_snapshot!("help", text(&out.stdout));
}

#[test]
fn repository_lockfile_covers_the_examples() {
    // The root images.lock is the lockfile of examples/ (see scripts/demo.sh).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = imagelock(root, &["check", "examples"]);
    expect_code(&out, 0);
    assert!(text(&out.stderr).contains("checked 6 reference(s) against images.lock: 0 finding(s)"));
    // --quiet prints findings and errors only: no summary line.
    let out = imagelock(root, &["--quiet", "check", "examples"]);
    expect_code(&out, 0);
    assert_eq!(text(&out.stderr), "");
}

// --- scanner hardening: encodings, invalid references, strict digests,
// --- which files hold images, YAML tags.

/// `list` output with the file path cut off each line (`path:line:col ...`
/// becomes `line:col ...`).
fn without_paths(stdout: &[u8]) -> Vec<String> {
    text(stdout)
        .lines()
        .map(|l| l.split_once(':').map_or(l, |(_, rest)| rest).to_string())
        .collect()
}

#[test]
fn utf16_and_utf32_manifests_with_a_bom_are_read_like_utf8() {
    use imagelock::scan::Encoding;
    let dir = workspace();
    let original = fs_err::read_to_string(testdata().join("app/unicode.yaml")).unwrap();
    let enc = dir.path().join("enc");
    fs_err::create_dir(&enc).unwrap();
    fs_err::write(enc.join("utf8.yaml"), &original).unwrap();
    let utf8 = imagelock(dir.path(), &["list", "enc/utf8.yaml"]);
    expect_code(&utf8, 0);
    let want = without_paths(&utf8.stdout);
    assert_eq!(want.len(), 2, "{want:?}");
    assert!(want[0].starts_with("10:28  caddy:2.7"), "{want:?}");
    for (name, e) in [
        ("utf16le.yaml", Encoding::Utf16Le),
        ("utf16be.yaml", Encoding::Utf16Be),
        ("utf32le.yaml", Encoding::Utf32Le),
        ("utf32be.yaml", Encoding::Utf32Be),
        ("utf8bom.yaml", Encoding::Utf8Bom),
    ] {
        let bytes = e.encode(&original);
        fs_err::write(enc.join(name), &bytes).unwrap();
        // Named on the command line and found by walking: never "binary".
        let out = imagelock(dir.path(), &["list", &format!("enc/{name}")]);
        expect_code(&out, 0);
        assert_eq!(without_paths(&out.stdout), want, "{name}");
        // pin edits the decoded text and writes the file back in its encoding.
        let out = imagelock(dir.path(), &["pin", &format!("enc/{name}")]);
        expect_code(&out, 0);
        let pinned = fs_err::read(enc.join(name)).unwrap();
        assert_eq!(Encoding::detect(&pinned), e, "{name}");
        let (text, _) = Encoding::decode(Path::new(name), &pinned).unwrap();
        assert!(
            text.contains("image: \"caddy:2.7@sha256:"),
            "{name}: {text}"
        );
        assert!(text.starts_with("# Café ☕"), "{name}");
    }
    let walked = imagelock(dir.path(), &["list", "enc"]);
    expect_code(&walked, 0);
    assert!(
        !text(&walked.stderr).contains("binary"),
        "{}",
        text(&walked.stderr)
    );
}

#[test]
fn invalid_utf16_names_file_encoding_and_position() {
    use imagelock::scan::Encoding;
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Encoding::Utf16Le.encode("kind: Pod\nspec: x");
    bytes.extend_from_slice(&0xDC00u16.to_le_bytes());
    fs_err::write(dir.path().join("bad.yaml"), bytes).unwrap();
    let out = imagelock(dir.path(), &["list", "."]);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr)
            .contains("bad.yaml:2:8: not valid UTF-16LE at byte 36: unpaired surrogate 0xDC00"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn nul_bytes_without_a_bom_are_binary_when_walked() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("blob.yaml"), b"image: a\0b\n").unwrap();
    let out = imagelock(dir.path(), &["list", "."]);
    expect_code(&out, 0);
    assert!(text(&out.stderr).contains("blob.yaml: skipped: binary file"));
}

#[test]
fn invalid_references_are_errors_not_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let d63 = "a".repeat(63);
    fs_err::write(
        dir.path().join("pod.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: nginx@sha256:{d63}\n  - image: Nginx:1\n  - image: 'nginx:'\n  - image: '{{{{ .Values.image }}}}'\n"
        ),
    )
    .unwrap();
    let out = imagelock(dir.path(), &["list", "pod.yaml"]);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("error: pod.yaml:5:12: invalid image reference \"nginx@sha256:{d63}\": sha256 digest must have 64 hex digits, found 63")),
        "{err}"
    );
    assert!(err.contains("error: pod.yaml:6:12: invalid image reference \"Nginx:1\": repository name must be lowercase"), "{err}");
    assert!(
        err.contains(
            "error: pod.yaml:7:13: invalid image reference \"nginx:\": the tag after ':' is empty"
        ),
        "{err}"
    );
    // A template stays a warning.
    assert!(
        err.contains("warning: pod.yaml:8:13: image \"{{ .Values.image }}\" is a template"),
        "{err}"
    );
    assert!(!text(&out.stdout).contains("Nginx"));
    expect_code(&out, 2);

    // check: each is an `invalid` finding at its place, exit 1.
    fs_err::write(dir.path().join("images.lock"), "version = 1\n").unwrap();
    let out = imagelock(dir.path(), &["check", "--format", "json", "pod.yaml"]);
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let invalid: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "invalid")
        .map(|f| format!("{}:{}", f["line"], f["column"]))
        .collect();
    assert_eq!(invalid, ["5:12", "6:12", "7:13"], "{doc:#}");

    // lock and pin: errors at their place, exit 2, nothing written.
    let before = fs_err::read(dir.path().join("pod.yaml")).unwrap();
    for cmd in ["lock", "pin"] {
        let out = imagelock(dir.path(), &[cmd, "pod.yaml"]);
        expect_code(&out, 2);
        let err = text(&out.stderr);
        assert!(
            err.contains("error: pod.yaml:6:12: invalid image reference"),
            "{cmd}: {err}"
        );
    }
    assert_eq!(fs_err::read(dir.path().join("pod.yaml")).unwrap(), before);
    assert_eq!(
        fs_err::read_to_string(dir.path().join("images.lock")).unwrap(),
        "version = 1\n"
    );
}

#[test]
fn compose_images_a_service_builds_are_listed_not_locked() {
    let dir = tempfile::tempdir().unwrap();
    let digest = format!("sha256:{}", "c".repeat(64));
    fs_err::write(
        dir.path().join("compose.yaml"),
        format!("services:\n  app:\n    build: .\n    image: registry.invalid/acme/app:dev\n  db:\n    image: postgres@{digest}\n"),
    )
    .unwrap();
    let out = imagelock(dir.path(), &["list", "compose.yaml"]);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    let app = stdout.lines().find(|l| l.contains("acme/app")).unwrap();
    assert!(app.ends_with("  built"), "{stdout}");
    assert!(
        text(&out.stderr).contains("built by its compose service"),
        "{}",
        text(&out.stderr)
    );
    // lock asks no registry for it (registry.invalid cannot resolve) and
    // records only the pulled image.
    let out = imagelock(dir.path(), &["lock", "compose.yaml"]);
    expect_code(&out, 0);
    let lock = fs_err::read_to_string(dir.path().join("images.lock")).unwrap();
    assert!(!lock.contains("acme/app"), "{lock}");
    assert!(lock.contains("docker.io/library/postgres"), "{lock}");
    let out = imagelock(dir.path(), &["check", "compose.yaml"]);
    expect_code(&out, 0);
}

#[test]
fn lockfile_digest_in_upper_case_hex_is_exit_2_naming_its_line() {
    let dir = workspace();
    fs_err::write(
        dir.path().join("images.lock"),
        format!(
            "version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1.25\"\ndigest = \"sha256:{}\"\n",
            "AB".repeat(32)
        ),
    )
    .unwrap();
    let out = imagelock(dir.path(), &["list", "app"]);
    expect_code(&out, 2);
    let err = text(&out.stderr);
    assert!(err.contains("images.lock:6:"), "{err}");
    assert!(err.contains("lower-case hex"), "{err}");
}

#[test]
fn walked_files_yield_images_only_from_known_manifests() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&testdata().join("scan/walked"), &dir.path().join("site"));
    let out = imagelock(dir.path(), &["list", "site"]);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    let err = text(&out.stderr);
    // Kubernetes objects (custom resources too) and compose files: found.
    for found in [
        "site/deploy.yaml:9:16  nginx:1.25",
        "site/compose.yaml:4:12  ghcr.io/acme/app:dev",
        "site/compose.yaml:6:12  postgres:16",
        "site/widget.yaml:6:10  ghcr.io/acme/widget:1.0",
    ] {
        assert!(stdout.contains(found), "{found}\n{stdout}");
    }
    // Anything else: no image, one note per file.
    assert!(!stdout.contains("assets"), "{stdout}");
    assert!(!stdout.contains("site-config.yaml"), "{stdout}");
    // A Helm values file is read by its own rules (scan/helm_values.rs).
    assert!(
        stdout.contains("site/values.yaml:2:8  nginx:1.25"),
        "{stdout}"
    );
    assert!(
        stdout.contains("site/values.yaml:5:17  busybox:1.36"),
        "{stdout}"
    );
    assert_eq!(
        err.matches("site/site-config.yaml: 2 `image` value(s) not read")
            .count(),
        1,
        "{err}"
    );
    assert!(!err.contains("site/values.yaml: 2"), "{err}");
    assert_eq!(
        err.matches("site/deploy.yaml: 1 `image` value(s) not read")
            .count(),
        1,
        "{err}"
    );
    // Named on the command line, a file is read whatever it holds.
    let out = imagelock(dir.path(), &["list", "site/values.yaml"]);
    expect_code(&out, 0);
    assert!(text(&out.stdout).contains("site/values.yaml:2:8  nginx:1.25"));
}

#[test]
fn pin_rewrites_only_the_value_after_a_tag() {
    let dir = workspace();
    let file = dir.path().join("app/tagged.yaml");
    let before = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: !<tag:yaml.org,2002:str> nginx:1.25\n  - image: !!str 'caddy:2.7' # c\n";
    fs_err::write(&file, before).unwrap();
    let out = imagelock(dir.path(), &["pin", "app/tagged.yaml"]);
    expect_code(&out, 0);
    let after = fs_err::read_to_string(&file).unwrap();
    let lines: Vec<&str> = after.lines().collect();
    assert!(
        lines[4].starts_with("  - image: !<tag:yaml.org,2002:str> nginx:1.25@sha256:"),
        "{after}"
    );
    assert!(
        lines[5].starts_with("  - image: !!str 'caddy:2.7@sha256:"),
        "{after}"
    );
    assert!(lines[5].ends_with("' # c"), "{after}");
    assert_eq!(after.lines().count(), before.lines().count());
}

#[test]
fn crd_bundle_lists_only_the_operator_image() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::copy(
        testdata().join("scan/crd-bundle.yaml"),
        dir.path().join("bundle.yaml"),
    )
    .unwrap();
    let out = imagelock(dir.path(), &["list", "."]);
    expect_code(&out, 0);
    let lines = without_paths(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("54:16  ghcr.io/example/widget-operator:v1.0.0"),
        "{lines:?}"
    );
}

/// Run `imagelock ARGS` in `dir` with `input` on standard input.
fn with_stdin(dir: &Path, args: &[&str], input: &str) -> std::process::Output {
    assert_cmd::Command::new(support::run::bin())
        .current_dir(dir)
        .args(args)
        .write_stdin(input)
        .output()
        .unwrap()
}

#[test]
fn rendered_output_on_stdin_is_listed_checked_and_locked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let digest = format!("sha256:{}", "d".repeat(64));
    // What `helm template` prints: a comment line, documents, no file.
    let rendered = format!(
        "---\n# Source: app/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: ghcr.io/acme/app@{digest}\n      - name: side\n        image: ghcr.io/acme/side:v2\n"
    );
    let out = with_stdin(d, &["list", "-"], &rendered);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("<stdin>:12:16  ghcr.io/acme/app@"),
        "{stdout}"
    );
    assert!(
        stdout.contains("<stdin>:14:16  ghcr.io/acme/side:v2"),
        "{stdout}"
    );

    let out = with_stdin(d, &["check", "--format", "json", "-"], &rendered);
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["findings"][0]["file"], "<stdin>");
    assert_eq!(doc["findings"][0]["line"], 12);

    // A digest-only reference needs no registry: `lock -` records it.
    let only_digest = rendered
        .split("      - name: side")
        .next()
        .unwrap()
        .to_string();
    let out = with_stdin(d, &["lock", "-"], &only_digest);
    expect_code(&out, 0);
    let lock = fs_err::read_to_string(d.join("images.lock")).unwrap();
    assert!(lock.contains(&digest), "{lock}");
    let out = with_stdin(d, &["check", "-"], &only_digest);
    expect_code(&out, 0);

    // `-` twice is one read: refused.
    let out = with_stdin(d, &["list", "-", "-"], &rendered);
    expect_code(&out, 2);
    assert!(text(&out.stderr).contains("standard input given twice"));
}

/// A lockfile recording `nginx:1.25` at `digest` (a test's own).
fn nginx_lock(dir: &Path, digest: &str) {
    fs_err::write(
        dir.join("images.lock"),
        format!(
            "version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1.25\"\ndigest = \"{digest}\"\n"
        ),
    )
    .unwrap();
}

#[test]
fn pin_filter_without_a_lockfile_says_how_to_make_one_from_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_stdin(dir.path(), &["pin", "-"], "kind: Pod\n");
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("pin -: no lockfile at images.lock"), "{err}");
    assert!(err.contains("| imagelock lock -"), "{err}");
    // Nor is standard input pinned beside files, or as a dry run.
    nginx_lock(dir.path(), &format!("sha256:{}", "a".repeat(64)));
    fs_err::write(dir.path().join("pod.yaml"), "kind: Pod\n").unwrap();
    let out = with_stdin(dir.path(), &["pin", "-", "pod.yaml"], "kind: Pod\n");
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    let out = with_stdin(dir.path(), &["pin", "--dry-run", "-"], "kind: Pod\n");
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
}

#[test]
fn pin_filter_prints_the_stream_with_every_tag_pinned_and_every_other_byte_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let digest = format!("sha256:{}", "a".repeat(64));
    nginx_lock(d, &digest);
    // What `helm template` prints (comments, quotes, flow style, a
    // `kind: List`), then a JSON object and a KRM ResourceList.
    let rendered = "---\r\n# Source: app/templates/pod.yaml\r\napiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: a # the pod\r\nspec:\r\n  containers:\r\n  - name: a\r\n    image: \"nginx:1.25\"   # pinned\r\n---\r\napiVersion: v1\r\nkind: List\r\nitems:\r\n- apiVersion: v1\r\n  kind: Pod\r\n  spec:\r\n    containers:\r\n    - {name: b, image: 'nginx:1.25'}\r\n";
    let out = with_stdin(d, &["pin", "-"], rendered);
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        rendered
            .replace("\"nginx:1.25\"", &format!("\"nginx:1.25@{digest}\""))
            .replace("'nginx:1.25'", &format!("'nginx:1.25@{digest}'"))
    );
    assert!(text(&out.stderr).contains("pinned 2 reference(s) in the stream"));

    let json = r#"{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"a","image":"nginx:1.25"}]}}"#;
    let out = with_stdin(d, &["pin", "-"], json);
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        json.replace("nginx:1.25", &format!("nginx:1.25@{digest}"))
    );

    let resource_list = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: app\n    annotations:\n      config.kubernetes.io/index: '0'\n      internal.config.kubernetes.io/path: 'deploy.yaml'\n  spec:\n    template:\n      spec:\n        containers:\n        - name: app\n          image: nginx:1.25\n";
    let out = with_stdin(d, &["pin", "-"], resource_list);
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        resource_list.replace("image: nginx:1.25", &format!("image: nginx:1.25@{digest}"))
    );

    // A second pass changes nothing; --pull-policy works as in `pin`.
    let pinned = text(&with_stdin(d, &["pin", "-"], rendered).stdout);
    assert_eq!(text(&with_stdin(d, &["pin", "-"], &pinned).stdout), pinned);
    let out = with_stdin(d, &["pin", "--pull-policy", "if-not-present", "-"], json);
    expect_code(&out, 0);
    assert!(
        text(&out.stdout).contains(r#""imagePullPolicy": "IfNotPresent""#),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn pin_filter_prints_nothing_unless_every_reference_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let digest = format!("sha256:{}", "a".repeat(64));
    nginx_lock(d, &digest);
    let pod = |images: &[&str]| {
        let mut s = String::from("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n");
        for (i, image) in images.iter().enumerate() {
            s.push_str(&format!("  - name: c{i}\n    image: {image}\n"));
        }
        s
    };
    // Every reference the lockfile lacks is named, and nothing is printed.
    let out = with_stdin(
        d,
        &["pin", "-"],
        &pod(&["nginx:1.25", "nginx:1.26", "redis:7"]),
    );
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "<stdin>:8:12: nginx:1.26 (docker.io/library/nginx:1.26) is not in images.lock"
        ) && err
            .contains("<stdin>:10:12: redis:7 (docker.io/library/redis:7) is not in images.lock")
            && err.contains("| imagelock lock -"),
        "{err}"
    );
    // A digest other than the lockfile's is an error, not replaced.
    let other = format!("nginx:1.25@sha256:{}", "b".repeat(64));
    let out = with_stdin(d, &["pin", "-"], &pod(&[&other]));
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "pinned to sha256:{} but images.lock has {digest}",
            "b".repeat(64)
        )),
        "{err}"
    );
    // So is a value the kubelet would reject.
    let out = with_stdin(d, &["pin", "-"], &pod(&["nginx:1.25", "Nginx:Latest"]));
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
}

/// A rendered stream larger than several of `pin -`'s windows (1 MiB):
/// `n` Deployments, each with a comment, a label named `image` and one
/// reference, `image_of(i)`.
fn long_stream(n: usize, image_of: impl Fn(usize) -> String) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "---\n# Source: app/templates/deploy-{i}.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels: {{image: web}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {}   # the app\n        args: [\"--flag\", \"{}\"]\n",
            image_of(i),
            "x".repeat(200)
        ));
    }
    s
}

#[test]
fn pin_filter_reads_a_long_stream_window_by_window_and_reports_lines_as_the_stream_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let digest = format!("sha256:{}", "a".repeat(64));
    nginx_lock(d, &digest);
    // 12,000 documents of 14 lines: several windows.
    let n = 12_000;
    let stream = long_stream(n, |_| "nginx:1.25".into());
    assert!(stream.len() > 3 << 20);
    let out = with_stdin(d, &["pin", "-"], &stream);
    expect_code(&out, 0);
    let pinned = text(&out.stdout);
    assert_eq!(
        pinned,
        stream.replace(
            "image: nginx:1.25 ",
            &format!("image: nginx:1.25@{digest} ")
        )
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("pinned {n} reference(s) in the stream")),
        "{err}"
    );
    // The labels named `image` are one note for the whole stream, at the
    // stream's first.
    assert_eq!(err.matches("named `image` left unread").count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "<stdin>: {n} value(s) named `image` left unread (the first at 7:12)"
        )),
        "{err}"
    );
    // The same bytes as a file pin the same way.
    fs_err::write(d.join("stream.yaml"), &stream).unwrap();
    expect_code(&with_stdin(d, &["pin", "stream.yaml"], ""), 0);
    assert_eq!(
        fs_err::read_to_string(d.join("stream.yaml")).unwrap(),
        pinned
    );
    // Twice changes nothing.
    assert_eq!(text(&with_stdin(d, &["pin", "-"], &pinned).stdout), pinned);

    // A reference missing from the lockfile in a late window is reported
    // at the stream's line, with the others, and nothing is printed.
    let late = |i: usize| {
        if i == 9_000 || i == 11_999 {
            "redis:7".to_string()
        } else {
            "nginx:1.25".to_string()
        }
    };
    let out = with_stdin(d, &["pin", "-"], &long_stream(n, late));
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    for i in [9_000, 11_999] {
        let line = i * 14 + 13;
        assert!(
            err.contains(&format!(
                "<stdin>:{line}:16: redis:7 (docker.io/library/redis:7) is not in images.lock"
            )),
            "{err}"
        );
    }
    // A syntax error in a late window: at its stream line, nothing printed.
    let mut broken = stream.clone();
    broken.push_str("---\nkind: Pod\nspec: [unclosed\n");
    let out = with_stdin(d, &["pin", "-"], &broken);
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    // Where the same bytes as a file have it.
    fs_err::write(d.join("broken.yaml"), &broken).unwrap();
    let listed = text(&with_stdin(d, &["list", "broken.yaml"], "").stderr);
    let at = listed
        .split("error: broken.yaml:")
        .nth(1)
        .and_then(|r| r.split(": ").next())
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(at.starts_with(&format!("{}:", n * 14 + 4)), "{listed}");
    assert!(
        err.contains(&format!("<stdin>:{at}: while parsing")),
        "{err}"
    );
}

/// Lines a message names in its text (not only at its start) are the
/// stream's too in a late window: an action input's note, a matrix key
/// read elsewhere, a Flux post-renderer, Argo CD parameters, a Helm
/// values alias.
#[test]
fn pin_filter_names_the_stream_lines_inside_messages_of_a_late_window() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nginx_lock(d, &format!("sha256:{}", "a".repeat(64)));
    let n = 5_000;
    let mut stream = long_stream(n, |_| "nginx:1.25".into());
    assert!(
        stream.len() > 2 << 20,
        "the documents below are in a late window"
    );
    let before = n * 14;
    stream.push_str("---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n  postRenderers:\n    - kustomize:\n        images:\n          - name: ghcr.io/acme/web\n            newTag: \"3.0\"\n  values:\n    other: &img nginx:1.25\n    image: *img\n    web:\n      image:\n        repository: ghcr.io/acme/web\n        tag: \"1.0\"\n");
    stream.push_str("---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop\nspec:\n  source:\n    helm:\n      parameters:\n        - name: api.image.tag\n          value: \"9.9\"\n      valuesObject:\n        api:\n          image:\n            repository: ghcr.io/acme/api\n            tag: \"2.0\"\n");
    stream.push_str("---\non: push\njobs:\n  t:\n    runs-on: ${{ matrix.os }}\n    strategy:\n      matrix:\n        os: [nginx:1.25]\n    container: ${{ matrix.os }}\n    steps:\n    - uses: some/action@v1\n      with:\n        image: nginx:1.25\n");
    let out = with_stdin(d, &["pin", "-"], &stream);
    let err = text(&out.stderr);
    // The same bytes as a file name the same lines.
    fs_err::write(d.join("stream.yaml"), &stream).unwrap();
    let listed = text(&with_stdin(d, &["list", "stream.yaml"], "").stderr);
    for said in [
        format!("the post-renderer at line {}", before + 8),
        format!("(anchored at line {})", before + 13),
        format!("\"api.image.tag\" (line {})", before + 27),
        format!("(the first at {}:9)", before + 47),
    ] {
        assert!(listed.contains(&said), "{said}: {listed}");
        assert!(err.contains(&said), "{said}: {err}");
    }
    // `pin stream.yaml` says this one.
    let said = format!("matrix.os is also read at {}:14", before + 39);
    assert!(err.contains(&said), "{said}: {err}");
}

/// The filter keeps the pinned stream in a temporary file until it is
/// printed: a `TMPDIR` it cannot write to is an error that names it and
/// says what to do, with nothing printed.
#[test]
fn pin_filter_names_the_temporary_directory_it_cannot_write_to() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nginx_lock(d, &format!("sha256:{}", "a".repeat(64)));
    let missing = d.join("no-such-dir");
    for args in [&["pin", "-"][..], &["pin", "--remote", "-"]] {
        let out = assert_cmd::Command::new(support::run::bin())
            .current_dir(d)
            .args(args)
            .env("TMPDIR", &missing)
            .write_stdin(long_stream(3, |_| "nginx:1.25".into()))
            .output()
            .unwrap();
        expect_code(&out, 2);
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "pin -: cannot keep the stream in a temporary file in {}",
                missing.display()
            )) && err.contains("Set TMPDIR to a writable directory"),
            "{err}"
        );
    }
}

/// A stream whose first document only mentions a `ResourceList` (a
/// ConfigMap's data, a CRD's description) is no function call: it is
/// read window by window like any stream (read whole, 200 MB of
/// rendered manifests took 850 MB of memory instead of 18 MB). Only the
/// window-by-window reading keeps the stream in a temporary file, so a
/// `TMPDIR` it cannot write to tells the two apart.
#[test]
fn pin_filter_reads_a_stream_that_mentions_a_resource_list_window_by_window() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nginx_lock(d, &format!("sha256:{}", "a".repeat(64)));
    let mut stream = String::from("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kpt-notes\ndata:\n  README: pipe a ResourceList to the function\n");
    stream.push_str(&long_stream(8_000, |_| "nginx:1.25".into()));
    let out = with_stdin(d, &["pin", "-"], &stream);
    expect_code(&out, 0);
    fs_err::write(d.join("stream.yaml"), &stream).unwrap();
    expect_code(&with_stdin(d, &["pin", "stream.yaml"], ""), 0);
    assert_eq!(
        text(&out.stdout),
        fs_err::read_to_string(d.join("stream.yaml")).unwrap()
    );
    let out = assert_cmd::Command::new(support::run::bin())
        .current_dir(d)
        .args(["pin", "-"])
        .env("TMPDIR", d.join("no-such-dir"))
        .write_stdin(stream)
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).contains("cannot keep the stream in a temporary file"),
        "read whole: {}",
        text(&out.stderr)
    );
}

/// The peak memory (VmHWM, KiB) of `imagelock ARGS` reading `input`,
/// from /proc while it runs, and its exit code.
#[cfg(target_os = "linux")]
fn peak_memory_kib(dir: &Path, args: &[&str], input: Vec<u8>) -> (usize, Option<i32>) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(support::run::bin())
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let code = loop {
        if let Ok(text) = fs_err::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(done) = child.try_wait().unwrap() {
            break done.code();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    writer.join().unwrap().unwrap();
    (peak, code)
}

/// A stray carriage return (`\r\r\n`: a Windows file embedded twice
/// converted) is a line break as YAML counts lines: the windows count it
/// too and go on cutting, instead of reading the rest of the stream as
/// one window (200 MB after one took 3.3 GB and 52 s instead of 12 MB and
/// 4 s). Lines after it are still the stream's.
#[test]
#[cfg(target_os = "linux")]
fn pin_filter_goes_on_cutting_windows_after_a_lone_carriage_return() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nginx_lock(d, &format!("sha256:{}", "a".repeat(64)));
    let n = 30_000;
    let image_of = |i: usize| {
        if i == n - 1 {
            "redis:7".into()
        } else {
            "nginx:1.25".into()
        }
    };
    let mut stream =
        String::from("---\napiVersion: v1\nkind: ConfigMap\ndata:\n  run.bat: \"echo\"\r\r\n");
    stream.push_str(&long_stream(n, image_of));
    assert!(stream.len() > 10 << 20);
    // Where the same bytes as a file have the missing reference.
    fs_err::write(d.join("stream.yaml"), &stream).unwrap();
    let listed = text(&with_stdin(d, &["pin", "stream.yaml"], "").stderr);
    let at = listed
        .split("error: stream.yaml:")
        .nth(1)
        .and_then(|r| r.split(": redis:7").next())
        .unwrap_or_else(|| panic!("{listed}"))
        .to_string();
    // Six lines before the Deployments: the `\r\r\n` breaks two.
    assert!(at.starts_with(&format!("{}:", n * 14 + 5)), "{listed}");
    let out = with_stdin(d, &["pin", "-"], &stream);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).contains(&format!("<stdin>:{at}: redis:7")),
        "{}",
        text(&out.stderr)
    );
    // Memory follows the windows, not the stream.
    let pinnable = stream.replace("redis:7", "nginx:1.25");
    let (peak, code) = peak_memory_kib(d, &["pin", "-"], pinnable.into_bytes());
    assert_eq!(code, Some(0));
    assert!(
        peak < 100 << 10,
        "{peak} KiB for a {} MiB stream",
        stream.len() >> 20
    );
}

/// A `%YAML` directive (after `...`, where YAML allows one) belongs to
/// the document after it: the stream is still cut into windows (a window
/// holding one took the rest of the stream with it: 200 MB took 3.3 GB),
/// and the output is what pinning the same bytes as a file gives.
#[test]
#[cfg(target_os = "linux")]
fn pin_filter_goes_on_cutting_windows_after_a_directive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nginx_lock(d, &format!("sha256:{}", "a".repeat(64)));
    let mut stream =
        String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n...\n%YAML 1.2\n");
    stream.push_str(&long_stream(30_000, |_| "nginx:1.25".into()));
    let (peak, code) = peak_memory_kib(d, &["pin", "-"], stream.clone().into_bytes());
    assert_eq!(code, Some(0));
    assert!(
        peak < 100 << 10,
        "{peak} KiB for a {} MiB stream",
        stream.len() >> 20
    );
    let out = with_stdin(d, &["pin", "-"], &stream);
    expect_code(&out, 0);
    fs_err::write(d.join("stream.yaml"), &stream).unwrap();
    expect_code(&with_stdin(d, &["pin", "stream.yaml"], ""), 0);
    assert_eq!(
        text(&out.stdout),
        fs_err::read_to_string(d.join("stream.yaml")).unwrap()
    );
}

/// A stream starting with a UTF-8 byte order mark (files saved on
/// Windows, concatenated) is read window by window too, and printed with
/// its mark: read whole, its memory followed the stream. Only the
/// window-by-window reading needs a temporary directory.
#[test]
fn pin_filter_reads_a_stream_with_a_utf8_byte_order_mark_window_by_window() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nginx_lock(d, &format!("sha256:{}", "a".repeat(64)));
    let n = 8_000;
    let late = |i: usize| {
        if i == n - 1 {
            "redis:7".to_string()
        } else {
            "nginx:1.25".to_string()
        }
    };
    let stream = format!("\u{feff}{}", long_stream(n, late));
    // Where the same bytes as a file have the missing reference.
    fs_err::write(d.join("stream.yaml"), &stream).unwrap();
    let filed = text(&with_stdin(d, &["pin", "stream.yaml"], "").stderr);
    let at = format!("{}:16: redis:7", (n - 1) * 14 + 13);
    assert!(filed.contains(&format!("stream.yaml:{at}")), "{filed}");
    let out = with_stdin(d, &["pin", "-"], &stream);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).contains(&format!("<stdin>:{at}")),
        "{}",
        text(&out.stderr)
    );
    // Pinned, the mark kept: as the file is pinned.
    let stream = stream.replace("redis:7", "nginx:1.25");
    fs_err::write(d.join("stream.yaml"), &stream).unwrap();
    expect_code(&with_stdin(d, &["pin", "stream.yaml"], ""), 0);
    let out = with_stdin(d, &["pin", "-"], &stream);
    expect_code(&out, 0);
    assert!(out.stdout.starts_with("\u{feff}---\n".as_bytes()));
    assert_eq!(
        text(&out.stdout),
        fs_err::read_to_string(d.join("stream.yaml")).unwrap()
    );
    let out = assert_cmd::Command::new(support::run::bin())
        .current_dir(d)
        .args(["pin", "-"])
        .env("TMPDIR", d.join("no-such-dir"))
        .write_stdin(stream)
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).contains("cannot keep the stream in a temporary file"),
        "read whole: {}",
        text(&out.stderr)
    );
}

/// Messages come in the stream's order, as for a stream read whole (or
/// a file): a reference missing from the lockfile is not said after the
/// warnings of the documents below it.
#[test]
fn pin_filter_says_its_messages_in_the_stream_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nginx_lock(d, &format!("sha256:{}", "a".repeat(64)));
    let stream = "---\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: redis:7\n    args: [\"x\"]\n---\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: b\n    image: ${IMAGE}\n    args: [\"x\"]\n---\n";
    let out = with_stdin(d, &["pin", "-"], stream);
    expect_code(&out, 2);
    let err = text(&out.stderr);
    let missing = err
        .find("<stdin>:7:12: redis:7")
        .unwrap_or_else(|| panic!("{err}"));
    let template = err
        .find("<stdin>:15:12:")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(missing < template, "{err}");
}

#[test]
fn pin_filter_refuses_what_a_stream_about_to_be_applied_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nginx_lock(d, &format!("sha256:{}", "a".repeat(64)));
    // A template left in an image field: the kubelet rejects it.
    for image in ["${IMAGE}", "\"{{ .Values.image }}\""] {
        let stream = format!(
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: nginx:1.25\n  - name: b\n    image: {image}\n"
        );
        let out = with_stdin(d, &["pin", "-"], &stream);
        expect_code(&out, 2);
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        assert!(
            err.contains("<stdin>:8:") && err.contains("the kubelet rejects it"),
            "{err}"
        );
    }
    // A compose image built from variables: its value is the environment's.
    fs_err::write(d.join(".env"), "TAG=1.25\n").unwrap();
    let out = with_stdin(
        d,
        &["pin", "-"],
        "services:\n  web:\n    image: nginx:${TAG}\n",
    );
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("built from compose variables"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn list_plain_prints_the_locked_pulls_for_preloading() {
    let dir = workspace();
    let out = imagelock(
        dir.path(),
        &["list", "--format", "plain", "app/workloads.yaml"],
    );
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(lines, sorted, "sorted and unique");
    assert!(!lines.is_empty());
    for l in &lines {
        let (name, digest) = l.split_once('@').unwrap();
        assert!(
            name.contains('/') && name.contains('.'),
            "fully qualified: {l}"
        );
        assert!(digest.starts_with("sha256:") && digest.len() == 71, "{l}");
    }
    // A reference the lockfile lacks is an error (the node could not pull it).
    fs_err::write(dir.path().join("images.lock"), "version = 1\n").unwrap();
    let out = imagelock(
        dir.path(),
        &["list", "--format", "plain", "app/workloads.yaml"],
    );
    expect_code(&out, 2);
    assert!(text(&out.stderr).contains("is not in the lockfile"));
}

#[test]
fn the_walk_reads_github_workflows_but_skips_other_hidden_paths() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir_all(d.join(".github/workflows")).unwrap();
    fs_err::create_dir_all(d.join(".cache")).unwrap();
    fs_err::write(
        d.join(".github/workflows/ci.yml"),
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    container:\n      image: node:20\n    services:\n      db:\n        image: postgres:16\n    steps:\n    - run: npm test\n",
    )
    .unwrap();
    fs_err::write(
        d.join(".cache/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: hidden:1\n",
    )
    .unwrap();
    let out = imagelock(d, &["list"]);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(".github/workflows/ci.yml:6:14  node:20"),
        "{stdout}"
    );
    assert!(
        stdout.contains(".github/workflows/ci.yml:9:16  postgres:16"),
        "{stdout}"
    );
    assert!(!stdout.contains("hidden:1"), "{stdout}");
}

#[test]
fn pin_pull_policy_if_not_present_sets_or_inserts_the_policy_byte_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let e = digest('e');
    let crlf = |lines: &[&str]| lines.iter().map(|l| format!("{l}\r\n")).collect::<String>();
    let pod = crlf(&[
        "apiVersion: v1",
        "kind: Pod",
        "metadata: {name: p}",
        "spec:",
        "  containers:",
        "  - name: a",
        "    image: example.com/a:1  # app",
        "    imagePullPolicy: Always",
        "  - name: b",
        "    image: \"example.com/b:1\"",
        "  - image: example.com/c:1",
        "    name: c",
        "  - {name: d, image: example.com/d:1}",
        "  initContainers:",
        "  - name: e",
        &format!("    image: example.com/e@{e}"),
        "  volumes:",
        "  - name: models",
        "    image: {reference: example.com/m:1, pullPolicy: Always}",
    ]);
    fs_err::write(d.join("pod.yaml"), &pod).unwrap();
    let mut lock = String::from("version = 1\n");
    for (name, c) in [("a", 'a'), ("b", 'b'), ("c", 'c'), ("d", 'd'), ("m", 'f')] {
        lock.push_str(&format!(
            "\n[[image]]\nname = \"example.com/{name}\"\ntag = \"1\"\ndigest = \"{}\"\n",
            digest(c)
        ));
    }
    fs_err::write(d.join("images.lock"), lock).unwrap();

    let out = imagelock(d, &["pin", "--pull-policy", "if-not-present", "pod.yaml"]);
    expect_code(&out, 0);
    assert!(
        text(&out.stderr).contains("set 6 pull policy(ies) to IfNotPresent"),
        "{}",
        text(&out.stderr)
    );
    let pinned = fs_err::read_to_string(d.join("pod.yaml")).unwrap();
    let (a, b, c, dd, m) = (
        digest('a'),
        digest('b'),
        digest('c'),
        digest('d'),
        digest('f'),
    );
    let want = crlf(&[
        "apiVersion: v1",
        "kind: Pod",
        "metadata: {name: p}",
        "spec:",
        "  containers:",
        "  - name: a",
        &format!("    image: example.com/a:1@{a}  # app"),
        "    imagePullPolicy: IfNotPresent",
        "  - name: b",
        &format!("    image: \"example.com/b:1@{b}\""),
        "    imagePullPolicy: IfNotPresent",
        &format!("  - image: example.com/c:1@{c}"),
        "    imagePullPolicy: IfNotPresent",
        "    name: c",
        &format!("  - {{name: d, image: example.com/d:1@{dd}, imagePullPolicy: IfNotPresent}}"),
        "  initContainers:",
        "  - name: e",
        &format!("    image: example.com/e@{e}"),
        "    imagePullPolicy: IfNotPresent",
        "  volumes:",
        "  - name: models",
        &format!("    image: {{reference: example.com/m:1@{m}, pullPolicy: IfNotPresent}}"),
    ]);
    assert_eq!(pinned, want);
    // Again: nothing to change.
    let out = imagelock(d, &["pin", "--pull-policy", "if-not-present", "pod.yaml"]);
    expect_code(&out, 0);
    assert_eq!(fs_err::read_to_string(d.join("pod.yaml")).unwrap(), want);
    // `keep` (the default) never touches a policy.
    fs_err::write(d.join("pod.yaml"), &pod).unwrap();
    let out = imagelock(d, &["pin", "pod.yaml"]);
    expect_code(&out, 0);
    let kept = fs_err::read_to_string(d.join("pod.yaml")).unwrap();
    assert_eq!(kept.matches("IfNotPresent").count(), 0, "{kept}");
}

#[test]
fn check_hints_what_to_do_for_a_values_mapping_pin_cannot_pin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(
        d.join("values.yaml"),
        "image:\n  registry: ghcr.io\n  repository: acme/app\n  tag: \"1.2\"\n",
    )
    .unwrap();
    fs_err::write(
        d.join("images.lock"),
        format!(
            "version = 1\n\n[[image]]\nname = \"ghcr.io/acme/app\"\ntag = \"1.2\"\ndigest = \"sha256:{}\"\n",
            "a".repeat(64)
        ),
    )
    .unwrap();
    let out = imagelock(
        d,
        &[
            "check",
            "--require-pinned",
            "--format",
            "json",
            "values.yaml",
        ],
    );
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &doc["findings"][0];
    assert_eq!(f["kind"], "unpinned");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(3), Some(15))
    );
    let hint = f["hint"].as_str().unwrap();
    assert!(hint.contains("has no `digest` or `sha` key"), "{hint}");
    assert!(!hint.starts_with("run `imagelock pin`"), "{hint}");
}

/// The scan streams document by document; a file that fails further down
/// still counts as a whole: `pin` plans nothing from its first documents
/// (no file written), `check` takes no findings from it, `list` shows what
/// it read beside the error. Every command exits 2.
#[test]
fn a_syntax_error_in_a_later_document_voids_the_file() {
    let dir = workspace();
    let file = dir.path().join("app/late-error.yaml");
    let manifest = "kind: Pod\nspec:\n  containers:\n  - image: alpine:latest\n---\nkind: Pod\nspec: [unclosed\n";
    fs_err::write(&file, manifest).unwrap();
    let out = imagelock(dir.path(), &["pin", "app/late-error.yaml"]);
    expect_code(&out, 2);
    assert_eq!(fs_err::read_to_string(&file).unwrap(), manifest);
    assert!(
        text(&out.stderr).contains("app/late-error.yaml:"),
        "{}",
        text(&out.stderr)
    );
    let out = imagelock(
        dir.path(),
        &[
            "check",
            "--require-pinned",
            "app/late-error.yaml",
            "--format",
            "json",
        ],
    );
    expect_code(&out, 2);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["findings"], serde_json::json!([]), "{doc}");
    assert_eq!(doc["errors"].as_array().unwrap().len(), 1, "{doc}");
    let out = imagelock(dir.path(), &["list", "app/late-error.yaml"]);
    expect_code(&out, 2);
    assert!(
        text(&out.stdout).starts_with("app/late-error.yaml:4:12  alpine:latest"),
        "{}",
        text(&out.stdout)
    );
}

/// File errors name the path once: imagelock's own message says it, and the
/// operating system's reason follows without fs-err's second copy of it.
#[test]
fn unreadable_files_are_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("pod.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: a\n    image: nginx:1.25\n").unwrap();
    let out = imagelock(d, &["--no-config", "list", "missing.yaml"]);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).contains("error: missing.yaml: No such file or directory (os error 2)\n"),
        "{}",
        text(&out.stderr)
    );
    let out = imagelock(
        d,
        &[
            "--no-config",
            "lock",
            "--credential-provider-config",
            "nope.yaml",
            "--credential-provider-bin-dir",
            ".",
            "pod.yaml",
        ],
    );
    expect_code(&out, 2);
    let err = text(&out.stderr);
    assert!(
        err.contains("error: nope.yaml: cannot read: No such file or directory (os error 2)\n"),
        "{err}"
    );
    assert_eq!(err.matches("nope.yaml").count(), 1, "{err}");
}

/// Files a user names on the command line that are no manifests of their
/// own: a compose variables file (`.env`, `env.example`) and a Helm
/// chart's template (Go template syntax) are each one note, never a YAML
/// syntax error that fails the run; a template that happens to parse is
/// read like any file named.
#[test]
fn a_dotenv_file_and_a_helm_template_named_are_notes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(
        d.join(".env"),
        "TAG=1.2\n# a comment\nexport REPO=\"x/y\"\n",
    )
    .unwrap();
    fs_err::write(d.join("env.example"), "#TAG=1.3\nNAME=a b\n").unwrap();
    fs_err::create_dir_all(d.join("chart/templates")).unwrap();
    fs_err::write(
        d.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    )
    .unwrap();
    fs_err::write(
        d.join("chart/templates/deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: \"{{ .Values.image }}\"\n          {{- with .Values.resources }}\n          resources: {{ toYaml . | nindent 12 }}\n          {{- end }}\n",
    )
    .unwrap();
    fs_err::write(
        d.join("chart/templates/plain.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      image: busybox:1.36\n",
    )
    .unwrap();
    let o = imagelock(
        d,
        &[
            "list",
            ".env",
            "env.example",
            "chart/templates/deploy.yaml",
            "chart/templates/plain.yaml",
        ],
    );
    expect_code(&o, 0);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("note: .env: skipped: a dotenv file of compose variables")
            && stderr.contains("note: env.example: skipped: a dotenv file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("note: chart/templates/deploy.yaml: skipped: a Helm chart's template"),
        "{stderr}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
    assert_eq!(
        text(&o.stdout)
            .lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        ["chart/templates/plain.yaml:6:14 busybox:1.36"],
        "a template that parses is read"
    );
    // A YAML file with a syntax error outside a chart's templates is
    // still an error.
    fs_err::write(d.join("broken.yaml"), "a: [\n").unwrap();
    let o = imagelock(d, &["list", "broken.yaml"]);
    expect_code(&o, 2);
}

/// A file named like a dotenv file that holds a manifest is read (a
/// `prod.env` Pod); one given with `--helm-values` is read as values; a
/// chart's `templates/` file with a real YAML error and no template in
/// it is an error; a template named from inside `templates/` is a note.
#[test]
fn dotenv_and_template_notes_fire_only_on_dotenv_and_templates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(
        d.join("prod.env"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      image: busybox:1.36\n",
    )
    .unwrap();
    fs_err::write(
        d.join("vals.env"),
        "image:\n  repository: redis\n  tag: \"7\"\n",
    )
    .unwrap();
    let o = imagelock(d, &["list", "--helm-values", "vals.env", "prod.env"]);
    expect_code(&o, 0);
    let rows: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        rows,
        ["prod.env:6:14 busybox:1.36", "vals.env:2:15 redis:7"],
        "{}",
        text(&o.stderr)
    );
    assert!(!text(&o.stderr).contains("dotenv"), "{}", text(&o.stderr));

    fs_err::create_dir_all(d.join("chart/templates")).unwrap();
    fs_err::write(
        d.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    )
    .unwrap();
    fs_err::write(
        d.join("chart/templates/broken.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n",
    )
    .unwrap();
    let o = imagelock(d, &["list", "chart/templates/broken.yaml"]);
    expect_code(&o, 2);
    fs_err::write(
        d.join("chart/templates/t.yaml"),
        "image: \"{{ .Values.x }}\"\n{{- if .Values.y }}\nz: 1\n{{- end }}\n",
    )
    .unwrap();
    let o = imagelock(&d.join("chart/templates"), &["list", "t.yaml"]);
    expect_code(&o, 0);
    assert!(
        text(&o.stderr).contains("note: t.yaml: skipped: a Helm chart's template"),
        "{}",
        text(&o.stderr)
    );
    // A first document that parses, a template after it: the file is
    // skipped whole, and `list` prints none of its images.
    fs_err::write(
        d.join("chart/templates/multi.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      image: redis:7\n---\n{{- if .Values.x }}\nkind: Pod\n{{- end }}\n",
    )
    .unwrap();
    let o = imagelock(d, &["list", "chart/templates/multi.yaml"]);
    expect_code(&o, 0);
    assert_eq!(text(&o.stdout), "", "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("multi.yaml: skipped: a Helm chart's template"),
        "{}",
        text(&o.stderr)
    );
}
