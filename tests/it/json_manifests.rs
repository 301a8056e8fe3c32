//! End-to-end: `*.json` files found by walking a directory are read when
//! they hold a Kubernetes object (top-level `apiVersion` and `kind`, in any
//! order), as `kubectl apply -f DIR` reads them; other JSON files are
//! skipped with one note per run. Pinning keeps the JSON valid, its byte
//! order mark and its line endings.

use std::path::Path;

use crate::support::run::{expect_code, imagelock, text};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// A lockfile locking `(name, tag)` pairs, all to D1.
fn lockfile(entries: &[(&str, &str)]) -> String {
    let mut s = String::from("version = 1\n");
    for (name, tag) in entries {
        s.push_str(&format!(
            "\n[[image]]\nname = \"{name}\"\ntag = \"{tag}\"\ndigest = \"{D1}\"\n"
        ));
    }
    s
}

/// A Deployment as JSON, `kind` before `apiVersion`, CRLF line endings
/// and a UTF-8 byte order mark.
const DEPLOYMENT: &str = "\u{feff}{\r\n  \"kind\": \"Deployment\",\r\n  \"metadata\": {\"name\": \"web\"},\r\n  \"spec\": {\"template\": {\"spec\": {\"containers\": [\r\n    {\"name\": \"web\", \"image\": \"nginx:1.25\"}\r\n  ]}}},\r\n  \"apiVersion\": \"apps/v1\"\r\n}\r\n";

/// A `kind: List` as kubectl prints it: keys sorted, `items` before `kind`.
const LIST: &str = "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n        {\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"},\n         \"spec\": {\"containers\": [{\"name\": \"a\", \"image\": \"redis:7\"}]}}\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\"resourceVersion\": \"\"}\n}\n";

/// A CustomResourceDefinition whose schema names an image as a default:
/// not an image anything runs.
const CRD: &str = "{\"apiVersion\": \"apiextensions.k8s.io/v1\", \"kind\": \"CustomResourceDefinition\", \"metadata\": {\"name\": \"widgets.example.com\"}, \"spec\": {\"group\": \"example.com\", \"names\": {\"kind\": \"Widget\", \"plural\": \"widgets\"}, \"scope\": \"Namespaced\", \"versions\": [{\"name\": \"v1\", \"served\": true, \"storage\": true, \"schema\": {\"openAPIV3Schema\": {\"type\": \"object\", \"properties\": {\"image\": {\"type\": \"string\", \"default\": \"busybox:1.36\"}}}}}]}}\n";

/// A project directory: manifests in JSON beside JSON that is no manifest.
fn project(d: &Path) {
    fs_err::create_dir_all(d.join("deploy/crds")).unwrap();
    fs_err::create_dir_all(d.join("web/node_modules/left-pad")).unwrap();
    fs_err::write(d.join("deploy/web.json"), DEPLOYMENT).unwrap();
    fs_err::write(d.join("deploy/list.json"), LIST).unwrap();
    fs_err::write(d.join("deploy/crds/widgets.json"), CRD).unwrap();
    // Not manifests: nested `kind`/`apiVersion` only, comments, a schema.
    fs_err::write(
        d.join("web/package.json"),
        "{\"name\": \"web\", \"version\": \"1.0.0\", \"config\": {\"kind\": \"Pod\", \"apiVersion\": \"v1\", \"image\": \"nginx:1.25\"}}\n",
    )
    .unwrap();
    fs_err::write(
        d.join("web/node_modules/left-pad/package.json"),
        "{\"name\": \"left-pad\", \"version\": \"1.3.0\"}\n",
    )
    .unwrap();
    fs_err::write(
        d.join("web/tsconfig.json"),
        "// compiler settings\n{\"compilerOptions\": {\"strict\": true}}\n",
    )
    .unwrap();
    fs_err::write(
        d.join("deploy/values.schema.json"),
        "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"properties\": {\"kind\": {\"type\": \"string\"}}}\n",
    )
    .unwrap();
    fs_err::write(
        d.join("images.lock"),
        lockfile(&[
            ("docker.io/library/nginx", "1.25"),
            ("docker.io/library/redis", "7"),
        ]),
    )
    .unwrap();
}

#[test]
fn json_manifests_in_a_directory_are_listed_and_other_json_is_noted_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d);
    let out = imagelock(d, &["--no-config", "list", "."]);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 2, "{stdout}\n{stderr}");
    assert!(rows[0].starts_with("deploy/list.json:5:"), "{stdout}");
    assert!(rows[0].contains("redis:7"), "{stdout}");
    assert!(rows[1].starts_with("deploy/web.json:5:"), "{stdout}");
    assert!(rows[1].contains("nginx:1.25"), "{stdout}");
    let notes: Vec<&str> = stderr.lines().filter(|l| l.contains("JSON file")).collect();
    assert_eq!(
        notes,
        ["note: 4 JSON files without top-level apiVersion and kind (not Kubernetes objects) skipped (the first: deploy/values.schema.json)"],
        "{stderr}"
    );
    // The CRD's schema default is not an image.
    assert!(!stdout.contains("busybox"), "{stdout}");
}

#[test]
fn a_json_file_named_on_the_command_line_is_read_whatever_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d);
    // Named, package.json is read as today: a YAML/JSON document with no
    // Kubernetes kind, and no note about skipped JSON.
    let out = imagelock(d, &["--no-config", "list", "web/package.json"]);
    expect_code(&out, 0);
    assert!(
        !text(&out.stderr).contains("JSON files"),
        "{}",
        text(&out.stderr)
    );
    // Named and found in a walk: listed once, not counted as skipped.
    let out = imagelock(
        d,
        &["--no-config", "list", "deploy", "deploy/values.schema.json"],
    );
    expect_code(&out, 0);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("JSON file"), "{stderr}");
}

#[test]
fn pin_writes_json_manifests_found_in_a_directory_and_keeps_them_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d);
    let before_package = fs_err::read(d.join("web/package.json")).unwrap();
    let out = imagelock(d, &["--no-config", "check", "."]);
    expect_code(&out, 0);
    let out = imagelock(d, &["--no-config", "pin", "."]);
    expect_code(&out, 0);
    assert!(
        text(&out.stderr).contains("pinned 2 reference(s) in 2 file(s)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fs_err::read_to_string(d.join("deploy/web.json")).unwrap(),
        DEPLOYMENT.replace("nginx:1.25", &format!("nginx:1.25@{D1}"))
    );
    assert_eq!(
        fs_err::read_to_string(d.join("deploy/list.json")).unwrap(),
        LIST.replace("redis:7", &format!("redis:7@{D1}"))
    );
    // Still JSON (the byte order mark aside).
    for f in ["deploy/web.json", "deploy/list.json"] {
        let t = fs_err::read_to_string(d.join(f)).unwrap();
        serde_json::from_str::<serde_json::Value>(t.trim_start_matches('\u{feff}'))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    assert_eq!(
        fs_err::read(d.join("web/package.json")).unwrap(),
        before_package
    );
    // Twice changes nothing.
    let out = imagelock(d, &["--no-config", "pin", "."]);
    expect_code(&out, 0);
    assert!(
        text(&out.stderr).contains("pinned 0 reference(s)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_utf16_json_manifest_in_a_directory_is_read() {
    // PowerShell 5 `kubectl get -o json > pod.json` writes UTF-16LE.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text16 = "{\r\n  \"kind\": \"Pod\",\r\n  \"apiVersion\": \"v1\",\r\n  \"metadata\": {\"name\": \"é\"},\r\n  \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"redis:7\"}]}\r\n}\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    for u in text16.encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    fs_err::write(d.join("pod.json"), &bytes).unwrap();
    let out = imagelock(d, &["--no-config", "list", "."]);
    expect_code(&out, 0);
    assert!(
        text(&out.stdout).starts_with("pod.json:5:"),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn a_key_written_with_json_escapes_is_the_key_it_reads_as() {
    // `"\u0061piVersion"` is `apiVersion` to every JSON reader (kubectl
    // applies this Pod); the walk must not skip it as not a manifest.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pod = "{\"\\u0061piVersion\": \"v1\", \"k\\u0069nd\": \"Pod\", \"spec\": {\"containers\": [{\"name\": \"a\", \"image\": \"nginx:1.25\"}]}}\n";
    fs_err::write(d.join("pod.json"), pod).unwrap();
    fs_err::write(
        d.join("images.lock"),
        lockfile(&[("docker.io/library/nginx", "1.25")]),
    )
    .unwrap();
    let out = imagelock(d, &["--no-config", "list", "."]);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("pod.json:1:"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("JSON file"),
        "{}",
        text(&out.stderr)
    );
    let out = imagelock(d, &["--no-config", "pin", "."]);
    expect_code(&out, 0);
    let pinned = fs_err::read_to_string(d.join("pod.json")).unwrap();
    assert_eq!(
        pinned,
        pod.replace("nginx:1.25", &format!("nginx:1.25@{D1}"))
    );
    serde_json::from_str::<serde_json::Value>(&pinned).unwrap();
}

#[test]
fn a_huge_json_file_in_a_directory_is_skipped_without_reading_it_whole() {
    // 1 GiB (sparse) of one string value before any key: the sniff gives
    // up after 1 MiB instead of reading the value to its end.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fs_err::File::create(d.join("dump.json")).unwrap();
    std::io::Write::write_all(&mut &f, b"{\"data\": \"").unwrap();
    f.set_len(1 << 30).unwrap();
    drop(f);
    let started = std::time::Instant::now();
    let out = imagelock(d, &["--no-config", "list", "."]);
    expect_code(&out, 0);
    assert!(
        text(&out.stderr).contains(
            "note: dump.json: skipped: a JSON file without top-level apiVersion and kind"
        ),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// A walked `x.json` holding a stream of JSON objects (kubectl applies
/// each) is one warning at the second object, and the run goes on: the
/// other files are read, nothing of that file is listed, exit 0. A FIFO
/// named like a manifest in a walked directory is a note, never a read
/// that blocks forever.
#[test]
fn a_json_stream_is_a_warning_and_a_fifo_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pod = |image: &str| {
        format!(
            "{{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {{\"name\": \"p\"}}, \"spec\": {{\"containers\": [{{\"name\": \"a\", \"image\": \"{image}\"}}]}}}}\n"
        )
    };
    fs_err::create_dir_all(d.join("k8s")).unwrap();
    fs_err::write(
        d.join("k8s/stream.json"),
        pod("nginx:1.25") + &pod("redis:7"),
    )
    .unwrap();
    fs_err::write(d.join("k8s/one.json"), pod("busybox:1.36")).unwrap();
    let fifo = d.join("k8s/pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("`mkfifo` not found: install coreutils");
    assert!(made.success());
    // Should the walk read the FIFO, a writer lets that read end (empty)
    // instead of blocking the test: the assertions below then fail. While
    // nothing reads it, this thread waits in open(2) until the test ends.
    let writer = fifo.clone();
    std::thread::spawn(move || {
        let _ = fs_err::OpenOptions::new().write(true).open(writer);
    });
    let o = imagelock(d, &["list", "k8s"]);
    expect_code(&o, 0);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("k8s/stream.json:2:1: not read: more than one JSON value")
            && stderr.contains("kind: List"),
        "{stderr}"
    );
    assert!(
        stderr.contains("k8s/pipe.yaml: skipped: not a regular file"),
        "{stderr}"
    );
    let stdout = text(&o.stdout);
    assert!(stdout.contains("k8s/one.json:1:"), "{stdout}");
    assert!(
        !stdout.contains("nginx") && !stdout.contains("redis"),
        "{stdout}"
    );
}
