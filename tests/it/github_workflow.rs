//! End-to-end: GitHub Actions workflows through the real binary against the
//! real CNCF distribution registry: a job's `container` (string and
//! mapping), its `services`, `docker://` steps; `lock`, `pin` (byte-exact,
//! idempotent), `check`, and `check --remote` drift, every digest
//! cross-checked with skopeo.

use crate::support::e2e::{assert_locked, pin_twice, run};
use crate::support::run::{expect_code, imagelock, text};
use crate::support::{Registry, Setup};

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

/// `services.db.image: ${{ matrix.db }}` and `container: ${{ matrix.os }}`
/// read the job's literal matrix: each value (the list, `include` and
/// `exclude` entries) is an image, locked, pinned where it is written, and
/// an `exclude` entry stays equal to the value it excludes. A job that
/// also reads its matrix key elsewhere (the job's name) is listed and
/// locked, and `pin` leaves those values with a warning naming the read.
#[test]
fn images_from_a_job_matrix() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let pg15 = reg.push_oci_image("ci/postgres", "15", "pg15");
    let pg16 = reg.push_oci_image("ci/postgres", "16", "pg16");
    let alpine = reg.push_oci_image("ci/alpine", "3", "alpine");
    let fedora = reg.push_oci_image("ci/fedora", "40", "fedora");
    let original = format!(
        "on: push\n\
         jobs:\n\
         \x20 db:\n\
         \x20   runs-on: ubuntu-latest\n\
         \x20   strategy:\n\
         \x20     matrix:\n\
         \x20       db: ['{h}/ci/postgres:15', \"{h}/ci/postgres:16\"]  # both\n\
         \x20       go: ['1.22']\n\
         \x20       exclude:\n\
         \x20         - db: '{h}/ci/postgres:15'\n\
         \x20           go: '1.22'\n\
         \x20   services:\n\
         \x20     postgres:\n\
         \x20       image: ${{{{ matrix.db }}}}\n\
         \x20   steps:\n\
         \x20   - run: go test ./... # matrix.db is read by the service only\n\
         \x20   - uses: some/docker-run-action@v3\n\
         \x20     with: {{image: 'ubuntu:24.04', run: make}}\n\
         \x20 distro:\n\
         \x20   name: test on ${{{{ matrix.os }}}}\n\
         \x20   runs-on: ubuntu-latest\n\
         \x20   strategy:\n\
         \x20     matrix:\n\
         \x20       include:\n\
         \x20         - os: {h}/ci/alpine:3\n\
         \x20         - os: {h}/ci/fedora:40\n\
         \x20   container: ${{{{matrix['os']}}}}\n\
         \x20   steps:\n\
         \x20   - run: make\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir_all(d.join(".github/workflows")).unwrap();
    let file = d.join(".github/workflows/ci.yml");
    fs_err::write(&file, &original).unwrap();

    let o = run(&reg, d, &["list", "--format", "json", "."]);
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows: Vec<String> = v["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{} {} {}",
                r["line"],
                r["column"],
                r["reference"].as_str().unwrap(),
                r["context"]["matrix"].as_str().unwrap_or("-")
            )
        })
        .collect();
    // Line and column of the `n`th appearance of `value` in the file.
    let at = |value: &str, n: usize| {
        let (i, line) = original
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(value))
            .nth(n)
            .unwrap();
        format!("{}:{}", i + 1, line.find(value).unwrap() + 1)
    };
    let (pg15_ref, pg16_ref) = (format!("{h}/ci/postgres:15"), format!("{h}/ci/postgres:16"));
    let (alpine_ref, fedora_ref) = (format!("{h}/ci/alpine:3"), format!("{h}/ci/fedora:40"));
    assert_eq!(
        rows,
        [
            format!("{} {pg15_ref} strategy.matrix.db[0]", at(&pg15_ref, 0)),
            format!("{} {pg16_ref} strategy.matrix.db[1]", at(&pg16_ref, 0)),
            format!(
                "{} {pg15_ref} strategy.matrix.exclude[0].db",
                at(&pg15_ref, 1)
            ),
            format!(
                "{} {alpine_ref} strategy.matrix.include[0].os",
                at(&alpine_ref, 0)
            ),
            format!(
                "{} {fedora_ref} strategy.matrix.include[1].os",
                at(&fedora_ref, 0)
            ),
        ],
        "{}",
        text(&o.stderr)
    );
    assert!(
        rows[0].starts_with("7:15 ") && rows[2].starts_with("10:18 "),
        "{rows:?}"
    );
    assert!(
        text(&o.stderr).contains(".github/workflows/ci.yml: 1 action input(s) named `image` not read (the first at 18:14)"),
        "an action's `with.image` is noted, not read: {}",
        text(&o.stderr)
    );
    assert!(
        !text(&o.stderr).contains("template"),
        "a matrix image is no template: {}",
        text(&o.stderr)
    );

    let o = run(&reg, d, &["lock", "."]);
    expect_code(&o, 0);
    assert_locked(
        &reg,
        d,
        &[
            ("ci/postgres:15", &pg15),
            ("ci/postgres:16", &pg16),
            ("ci/alpine:3", &alpine),
            ("ci/fedora:40", &fedora),
        ],
    );

    let o = run(&reg, d, &["pin", "."]);
    expect_code(&o, 0);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("matrix.os is also read at 20:11")
            && stderr.contains(&format!("{h}/ci/alpine:3 is not pinned")),
        "{stderr}"
    );
    let pinned = fs_err::read_to_string(&file).unwrap();
    let want = original
        .replace(
            &format!("'{h}/ci/postgres:15'"),
            &format!("'{h}/ci/postgres:15@{pg15}'"),
        )
        .replace(
            &format!("\"{h}/ci/postgres:16\""),
            &format!("\"{h}/ci/postgres:16@{pg16}\""),
        );
    assert_eq!(pinned, want, "only the db values are pinned, exclude too");
    let o = run(&reg, d, &["pin", "."]);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(&file).unwrap(),
        want,
        "a second pin changes nothing"
    );
}

/// Reads of a matrix key that the image values would change when pinned,
/// written as a hostile workflow may: in another case (expressions are
/// case-insensitive), through `matrix.*`, through a computed index, and
/// behind a `}}` inside a quoted string, and the image expression itself
/// shared through an anchor with `env`. Each job's values stay unpinned;
/// a job whose other reads are of other keys is pinned. No registry: the
/// lockfile is written by hand.
#[test]
fn every_spelling_of_a_matrix_read_keeps_its_values_unpinned() {
    let digest = |n: u8| format!("sha256:{}", format!("{n:x}").repeat(64));
    let mut lock = String::from("version = 1\n");
    for (tag, n) in [("15", 1), ("16", 2)] {
        lock.push_str(&format!(
            "\n[[image]]\nname = \"docker.io/library/postgres\"\ntag = \"{tag}\"\ndigest = \"{}\"\n",
            digest(n)
        ));
    }
    let job = |name: &str, read: &str| {
        format!(
            "  {name}:\n\
             \x20   runs-on: ubuntu-latest\n\
             \x20   strategy:\n\
             \x20     matrix:\n\
             \x20       db: [postgres:15]\n\
             \x20   services:\n\
             \x20     db:\n\
             \x20       image: ${{{{ matrix.db }}}}\n\
             \x20   steps:\n\
             \x20   - run: {read}\n"
        )
    };
    let mut original = String::from("on: push\njobs:\n");
    for (name, read) in [
        ("upper", "echo ${{ Matrix.DB }}"),
        ("star", "echo ${{ join(matrix.*, ' ') }}"),
        ("index", "echo ${{ matrix[format('{0}', 'db')] }}"),
        ("braces", "echo ${{ format('}}{0}', matrix.db) }}"),
    ] {
        original.push_str(&job(name, read));
    }
    // The image expression itself, shared through an anchor with `env`.
    original.push_str(
        "  shared:\n\
         \x20   runs-on: ubuntu-latest\n\
         \x20   strategy:\n\
         \x20     matrix:\n\
         \x20       db: [postgres:15]\n\
         \x20   env:\n\
         \x20     DB: &db ${{ matrix.db }}\n\
         \x20   container: *db\n\
         \x20   steps:\n\
         \x20   - run: make\n",
    );
    // `include` is no key of a combination: a template, not its entries.
    original.push_str(
        "  include:\n\
         \x20   runs-on: ubuntu-latest\n\
         \x20   strategy:\n\
         \x20     matrix:\n\
         \x20       include: [{db: postgres:15}]\n\
         \x20   container: ${{ matrix.include }}\n\
         \x20   steps:\n\
         \x20   - run: make\n",
    );
    original.push_str(
        "  fine:\n\
         \x20   runs-on: ubuntu-latest\n\
         \x20   strategy:\n\
         \x20     matrix:\n\
         \x20       db: [postgres:16]\n\
         \x20   container: ${{ matrix.db }}\n\
         \x20   steps:\n\
         \x20   - run: echo ${{ matrix.db2 }} ${{ github.sha }} matrix.db\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir_all(d.join(".github/workflows")).unwrap();
    let file = d.join(".github/workflows/ci.yml");
    fs_err::write(&file, &original).unwrap();
    fs_err::write(d.join("images.lock"), &lock).unwrap();

    let o = imagelock(d, &["pin", "."]);
    expect_code(&o, 0);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("container \"${{ matrix.include }}\" is a template"),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("postgres:15 is not pinned: matrix.db is also read")
            .count(),
        5,
        "{stderr}"
    );
    assert_eq!(
        fs_err::read_to_string(&file).unwrap(),
        original.replace(
            "db: [postgres:16]",
            &format!("db: [postgres:16@{}]", digest(2))
        ),
        "only the job that reads no db elsewhere is pinned"
    );
    let o = imagelock(d, &["check", "--require-pinned", "."]);
    expect_code(&o, 1);
}

/// An `exclude` value written with the tag only, beside a list value
/// already pinned by hand, matches nothing; pinning it would make it
/// match and drop a combination. It stays as written, with a warning.
#[test]
fn a_matrix_value_that_pinning_would_make_equal_to_another_stays() {
    let digest = format!("sha256:{}", "1".repeat(64));
    let lock = format!(
        "version = 1\n\n[[image]]\nname = \"docker.io/library/postgres\"\ntag = \"15\"\ndigest = \"{digest}\"\n"
    );
    let original = format!(
        "on: push\n\
         jobs:\n\
         \x20 a:\n\
         \x20   runs-on: ${{{{ matrix.os }}}}\n\
         \x20   strategy:\n\
         \x20     matrix:\n\
         \x20       os: [ubuntu-latest, windows-latest]\n\
         \x20       db: ['postgres:15@{digest}']\n\
         \x20       exclude:\n\
         \x20         - db: postgres:15\n\
         \x20           os: windows-latest\n\
         \x20   container: ${{{{ matrix.db }}}}\n\
         \x20   steps:\n\
         \x20   - run: make\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir_all(d.join(".github/workflows")).unwrap();
    let file = d.join(".github/workflows/ci.yml");
    fs_err::write(&file, &original).unwrap();
    fs_err::write(d.join("images.lock"), &lock).unwrap();
    let o = imagelock(d, &["pin", "."]);
    expect_code(&o, 0);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("10:17: postgres:15 is not pinned: matrix.db also has the value"),
        "{stderr}"
    );
    assert_eq!(fs_err::read_to_string(&file).unwrap(), original);
}

/// An `include` entry written as an expression may give the key images
/// imagelock cannot read: a warning says so, and the literal entries are
/// read as before.
#[test]
fn an_include_entry_that_is_an_expression_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir_all(d.join(".github/workflows")).unwrap();
    fs_err::write(
        d.join(".github/workflows/ci.yml"),
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        include:\n          - db: postgres:15\n          - ${{ fromJSON(vars.X) }}\n    container: ${{ matrix.db }}\n    steps: [{run: make}]\n",
    )
    .unwrap();
    let o = imagelock(d, &["list", "."]);
    expect_code(&o, 0);
    assert!(
        text(&o.stderr).contains(
            "9:13: strategy.matrix.include[1] \"${{ fromJSON(vars.X) }}\" is an expression"
        ),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains(":8:17  postgres:15 "),
        "{}",
        text(&o.stdout)
    );
}
