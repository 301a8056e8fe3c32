//! End-to-end: GitHub Actions workflows through the real binary against the
//! real CNCF distribution registry: a job's `container` (string and
//! mapping), its `services`, `docker://` steps; `lock`, `pin` (byte-exact,
//! idempotent), `check`, and `check --remote` drift, every digest
//! cross-checked with skopeo.

mod support;

use support::e2e::{assert_locked, pin_twice, run};
use support::run::{expect_code, text};
use support::{Registry, Setup};

#[test]
fn lock_pin_check_and_drift_of_a_workflow() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let node = reg.push_oci_image("ci/node", "20", "node");
    let pg = reg.push_oci_image("ci/postgres", "16", "pg");
    let redis = reg.push_oci_image("ci/redis", "7", "redis");
    let lint = reg.push_oci_image("ci/lint", "v1", "lint");
    let original = format!(
        "name: ci\r\n\
         on: [push, pull_request]\r\n\
         jobs:\r\n\
         \x20 test:\r\n\
         \x20   runs-on: ubuntu-latest\r\n\
         \x20   container: {h}/ci/node:20  # the job's container\r\n\
         \x20   services:\r\n\
         \x20     db:\r\n\
         \x20       image: '{h}/ci/postgres:16'\r\n\
         \x20     cache: {{image: \"{h}/ci/redis:7\"}}\r\n\
         \x20   steps:\r\n\
         \x20   - uses: actions/checkout@v4\r\n\
         \x20   - uses: docker://{h}/ci/lint:v1\r\n\
         \x20     with: {{args: --strict}}\r\n\
         \x20 build:\r\n\
         \x20   runs-on: ubuntu-latest\r\n\
         \x20   container:\r\n\
         \x20     image: {h}/ci/node:20\r\n\
         \x20     options: --cpus 2\r\n\
         \x20   steps:\r\n\
         \x20   - run: make\r\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir_all(d.join(".github/workflows")).unwrap();
    let file = d.join(".github/workflows/ci.yml");
    fs_err::write(&file, &original).unwrap();

    let o = run(&reg, d, &["list", "."]);
    expect_code(&o, 0);
    let rows: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        rows,
        [
            format!(".github/workflows/ci.yml:6:16 {h}/ci/node:20"),
            format!(".github/workflows/ci.yml:9:17 {h}/ci/postgres:16"),
            format!(".github/workflows/ci.yml:10:23 {h}/ci/redis:7"),
            format!(".github/workflows/ci.yml:13:22 {h}/ci/lint:v1"),
            format!(".github/workflows/ci.yml:18:14 {h}/ci/node:20"),
        ],
        "actions/checkout is an action, not an image"
    );
    assert!(
        !text(&o.stderr).contains("imagePullPolicy"),
        "{}",
        text(&o.stderr)
    );

    let o = run(&reg, d, &["lock", "."]);
    expect_code(&o, 0);
    assert_locked(
        &reg,
        d,
        &[
            ("ci/node:20", &node),
            ("ci/postgres:16", &pg),
            ("ci/redis:7", &redis),
            ("ci/lint:v1", &lint),
        ],
    );

    let pinned = pin_twice(&reg, d, &["pin", "."], &file, &original);
    assert_eq!(pinned.matches("@sha256:").count(), 5, "{pinned}");
    assert!(
        pinned.contains(&format!("- uses: docker://{h}/ci/lint:v1@{lint}\r\n")),
        "{pinned}"
    );

    let o = run(&reg, d, &["check", "--require-pinned", "."]);
    expect_code(&o, 0);

    let moved = reg.push_oci_image("ci/lint", "v1", "moved");
    assert_ne!(moved, lint);
    let o = run(&reg, d, &["check", "--remote", "."]);
    expect_code(&o, 1);
    let out = text(&o.stdout);
    assert!(
        out.contains(".github/workflows/ci.yml:13:22: drift:"),
        "{out}"
    );
    assert!(out.contains(&moved) && out.contains(&lint), "{out}");
}
