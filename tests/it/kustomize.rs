//! End-to-end: kustomizations through the real binary. `list` over a
//! fixture with every entry shape, and `lock`, `pin` (byte-exact: only
//! `digest:` written, idempotent), `check`, a mismatched digest and
//! `check --remote` drift against the real CNCF distribution registry,
//! with every locked digest cross-checked against skopeo.

use std::path::Path;

use crate::support;
use crate::support::e2e::{assert_locked, run};
use crate::support::run::{expect_code, text};
use crate::support::{Registry, Setup};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/kustomize/registry")
        .join(name);
    fs_err::read_to_string(path).unwrap()
}

#[test]
fn lock_pin_check_and_drift_of_a_kustomization() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let web = reg.push_oci_image("team/web", "2.0", "web");
    let worker = reg.push_oci_image("team/worker", "v1", "worker");
    let sidecar = reg.push_oci_image("team/sidecar", "3", "sidecar");
    let cache = reg.push_oci_image("team/cache", "1", "cache");
    let original = fixture("kustomization.yaml")
        .replace("REGISTRY", &h)
        .replace("CACHE_DIGEST", &cache);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("kustomization.yaml");
    fs_err::write(&file, &original).unwrap();
    fs_err::write(
        d.join("deployment.yaml"),
        fixture("deployment.yaml").replace("REGISTRY", &h),
    )
    .unwrap();

    let o = run(&reg, d, &["lock", "."]);
    expect_code(&o, 0);
    assert_locked(
        &reg,
        d,
        &[
            ("team/web:2.0", &web),
            ("team/worker:v1", &worker),
            ("team/sidecar:3", &sidecar),
        ],
    );

    // Each entry is listed at the value naming its image.
    let o = run(&reg, d, &["list", "kustomization.yaml"]);
    expect_code(&o, 0);
    let listed: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        listed,
        [
            format!("kustomization.yaml:9:14 {h}/team/web:2.0"),
            format!("kustomization.yaml:11:11 {h}/team/worker:v1"),
            format!("kustomization.yaml:14:14 {h}/team/sidecar:3"),
            format!("kustomization.yaml:18:14 {h}/team/cache@{cache}"),
        ]
    );

    let o = run(&reg, d, &["pin", "."]);
    expect_code(&o, 0);
    let pinned = fs_err::read_to_string(&file).unwrap();
    // The empty `digest: ""` is filled; every other digest is a new line,
    // and nothing else changed.
    let inserted = [
        format!("    digest: {web}\n"),
        format!("    digest: {worker}\n"),
    ];
    let without = inserted
        .iter()
        .fold(pinned.clone(), |t, line| t.replacen(line.as_str(), "", 1));
    assert_eq!(
        without,
        original.replace("digest: \"\"", &format!("digest: {sidecar}")),
        "pin changed more than the digests:\n{pinned}"
    );
    assert!(
        pinned.contains(&format!(
            "    newTag: \"2.0\" # bumped by CI\n    digest: {web}\n"
        )),
        "{pinned}"
    );
    assert!(
        pinned.contains(&format!("    newTag: v1\n    digest: {worker}\n")),
        "{pinned}"
    );
    assert!(
        pinned.contains(&format!("    digest: {sidecar}\n")),
        "{pinned}"
    );
    assert!(
        pinned.contains(&format!("    digest: {cache}\n")),
        "{pinned}"
    );
    assert_eq!(pinned.matches("digest: sha256:").count(), 4, "{pinned}");
    // The deployment's own image is pinned by the Kubernetes rules.
    assert!(fs_err::read_to_string(d.join("deployment.yaml"))
        .unwrap()
        .contains(&format!("image: {h}/team/worker:v1@{worker}\n")));

    let o = run(&reg, d, &["pin", "."]);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(&file).unwrap(),
        pinned,
        "a second pin changed the file"
    );

    let o = run(&reg, d, &["check", "."]);
    expect_code(&o, 0);
    assert!(
        !text(&o.stderr).contains("kustomization.yaml"),
        "nothing to say about a pinned kustomization (no pull policy applies): {}",
        text(&o.stderr)
    );

    // A digest that is not the locked one: check reports it, pin replaces
    // it in place.
    let wrong = pinned.replace(&format!("digest: {web}"), &format!("digest: {worker}"));
    fs_err::write(&file, &wrong).unwrap();
    let o = run(&reg, d, &["check", "."]);
    expect_code(&o, 1);
    assert!(
        text(&o.stdout).contains("kustomization.yaml:9:14")
            || text(&o.stderr).contains("kustomization.yaml:9:14"),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let o = run(&reg, d, &["pin", "."]);
    expect_code(&o, 0);
    assert_eq!(fs_err::read_to_string(&file).unwrap(), pinned);

    // The tag moves: check --remote sees it.
    let moved = reg.push_oci_image("team/web", "2.0", "moved");
    assert_ne!(moved, web);
    assert_eq!(reg.skopeo_digest("team/web:2.0"), moved);
    let o = run(&reg, d, &["check", "--remote", "."]);
    expect_code(&o, 1);
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(all.contains(&moved) && all.contains(&web), "{all}");
    assert!(
        all.contains("kustomization.yaml:9:14"),
        "the drift names the newName value: {all}"
    );
}

#[test]
fn pin_adds_a_digest_to_a_flow_entry_in_place() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let web = reg.push_oci_image("team/web", "1", "web");
    let original =
        format!("images:\n- {{name: web, newName: {h}/team/web, newTag: \"1\"}}  # web\n");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("kustomization.yaml"), &original).unwrap();
    expect_code(&run(&reg, d, &["lock", "."]), 0);
    let o = run(&reg, d, &["pin", "."]);
    expect_code(&o, 0);
    let pinned = fs_err::read_to_string(d.join("kustomization.yaml")).unwrap();
    assert_eq!(
        pinned,
        format!("images:\n- {{name: web, newName: {h}/team/web, newTag: \"1\", digest: {web}}}  # web\n")
    );
    expect_code(&run(&reg, d, &["pin", "."]), 0);
    assert_eq!(
        fs_err::read_to_string(d.join("kustomization.yaml")).unwrap(),
        pinned
    );
    expect_code(&run(&reg, d, &["check", "--require-pinned", "."]), 0);
}

#[test]
fn list_reads_every_entry_shape_and_nothing_else() {
    // testdata/kustomize/list: name+newTag, newName+newTag, newName only
    // (a warning), a pinned entry, a digest-only entry, a flow entry, and
    // a helmCharts valuesInline `image` that is not read; the deployment
    // beside it is read by the Kubernetes rules.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kustomize/list");
    let out = support::run::imagelock(&dir, &["list", "."]);
    expect_code(&out, 0);
    let refs: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let pinned = "sha256:6e1e4e3a2e6f53d8a1ffdfc6c7ef1fa8d1c2e2dbf8a0b3f3e8a3d5d6f0c1b2a3";
    let only = "sha256:1e1e4e3a2e6f53d8a1ffdfc6c7ef1fa8d1c2e2dbf8a0b3f3e8a3d5d6f0c1b2a3";
    assert_eq!(
        refs,
        [
            "deployment.yaml:10:18 nginx:1.24".to_string(),
            "kustomization.yaml:8:11 nginx:1.25".to_string(),
            "kustomization.yaml:12:14 ghcr.io/acme/app:v2".to_string(),
            format!("kustomization.yaml:18:11 busybox:1.36@{pinned}"),
            format!("kustomization.yaml:22:11 alpine@{only}"),
            "kustomization.yaml:25:12 memcached:1.6".to_string(),
        ]
    );
    let stderr = text(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: kustomization.yaml"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("kustomization.yaml:16:14")
            && warnings[0].contains("kustomize keeps the tag the resources use"),
        "{stderr}"
    );
    assert!(!stderr.contains("chart-value"), "{stderr}");
}

#[test]
fn a_newtag_yaml_reads_as_a_number_or_boolean_is_a_warning_not_a_reference() {
    // kustomize reads the kustomization through sigs.k8s.io/yaml (YAML
    // 1.1 to JSON) into a string field: `newTag: 1.20` (1.2 to YAML),
    // `8`, `553640e6` (a float), `yes` (YAML 1.1 true) stop `kustomize
    // build`; quoted they are strings. Nothing is locked or pinned for
    // them, and each is a warning at its value.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let kustomization = "resources:\n- deployment.yaml\nimages:\n- name: nginx\n  newTag: 1.20\n- name: redis\n  newTag: 8\n- name: app\n  newName: ghcr.io/acme/app\n  newTag: 553640e6\n- name: flag\n  newTag: yes\n- name: quoted\n  newTag: \"1.20\"\n- {name: flow, newTag: 1_0}\n- name: suffixed\n  tagSuffix: -debug\n";
    fs_err::write(d.join("kustomization.yaml"), kustomization).unwrap();
    fs_err::write(
        d.join("images.lock"),
        "version = 1\n\n[[image]]\nname = \"docker.io/library/quoted\"\ntag = \"1.20\"\ndigest = \"sha256:1111111111111111111111111111111111111111111111111111111111111111\"\n",
    )
    .unwrap();
    let out = support::run::imagelock(d, &["--no-config", "list", "."]);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    assert!(
        rows[0].starts_with("kustomization.yaml:13:9  quoted:1.20 "),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("is not a string"))
        .collect();
    assert_eq!(
        warnings,
        [
            "warning: kustomization.yaml:5:11: images entry name \"nginx\": newTag 1.20 is not a string: YAML reads a number, and kustomize stops (\"invalid Kustomization: json: cannot unmarshal number into Go struct field Image.images.newTag of type string\"); quote it (newTag: \"1.20\"); skipped",
            "warning: kustomization.yaml:7:11: images entry name \"redis\": newTag 8 is not a string: YAML reads a number, and kustomize stops (\"invalid Kustomization: json: cannot unmarshal number into Go struct field Image.images.newTag of type string\"); quote it (newTag: \"8\"); skipped",
            "warning: kustomization.yaml:10:11: images entry newName \"ghcr.io/acme/app\": newTag 553640e6 is not a string: YAML reads a number, and kustomize stops (\"invalid Kustomization: json: cannot unmarshal number into Go struct field Image.images.newTag of type string\"); quote it (newTag: \"553640e6\"); skipped",
            "warning: kustomization.yaml:12:11: images entry name \"flag\": newTag yes is not a string: YAML reads a boolean, and kustomize stops (\"invalid Kustomization: json: cannot unmarshal bool into Go struct field Image.images.newTag of type string\"); quote it (newTag: \"yes\"); skipped",
            "warning: kustomization.yaml:15:24: images entry name \"flow\": newTag 1_0 is not a string: YAML reads a number, and kustomize stops (\"invalid Kustomization: json: cannot unmarshal number into Go struct field Image.images.newTag of type string\"); quote it (newTag: \"1_0\"); skipped",
        ],
        "{stderr}"
    );
    // tagSuffix alone: appended to a tag imagelock cannot see.
    assert!(
        stderr.contains("warning: kustomization.yaml:16:9: images entry name \"suffixed\" has no newTag or digest: kustomize appends tagSuffix \"-debug\" to the tag the resources use"),
        "{stderr}"
    );
    // pin writes only the quoted entry's digest.
    let out = support::run::imagelock(d, &["--no-config", "pin", "."]);
    expect_code(&out, 0);
    let pinned = fs_err::read_to_string(d.join("kustomization.yaml")).unwrap();
    assert_eq!(
        pinned,
        kustomization.replace(
            "  newTag: \"1.20\"\n",
            "  newTag: \"1.20\"\n  digest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n"
        )
    );
}

#[test]
fn a_newtag_go_yaml_reads_as_a_string_is_no_warning() {
    // go-yaml v2 types a plain scalar by its first character: after `_` or
    // `.` it drops no underscores (`_1`, `._5` are strings), and a number
    // out of Go's 64-bit range is a string (`1e400`): kustomize uses them
    // as tags, so they are references, not "is not a string" warnings.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(
        d.join("kustomization.yaml"),
        "images:\n- name: a\n  newTag: _1\n- name: b\n  newTag: 1e400\n- name: c\n  newTag: 1.20\n",
    )
    .unwrap();
    let out = support::run::imagelock(d, &["--no-config", "list", "."]);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 2, "{stdout}\n{stderr}");
    assert!(
        rows[0].starts_with("kustomization.yaml:2:9  a:_1 "),
        "{stdout}"
    );
    assert!(
        rows[1].starts_with("kustomization.yaml:4:9  b:1e400 "),
        "{stdout}"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("is not a string"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("kustomization.yaml:7:11"), "{stderr}");
}

#[test]
fn a_key_written_twice_in_an_images_entry_is_a_warning_not_the_first_value() {
    // kustomize's go-yaml v2 keeps the last `newTag` (2.0): locking the
    // first (1.0) and pinning its digest would run 1.0 under a 2.0 tag.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(
        d.join("kustomization.yaml"),
        "images:\n- name: nginx\n  newTag: \"1.0\"\n  newTag: \"2.0\"\n- name: redis\n  newTag: \"7\"\n",
    )
    .unwrap();
    let out = support::run::imagelock(d, &["--no-config", "list", "."]);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 1, "{stdout}\n{stderr}");
    assert!(rows[0].contains("redis:7"), "{stdout}");
    assert!(
        stderr.contains("warning: kustomization.yaml:4:12: images entry: the key `newTag` is written twice in one mapping"),
        "{stderr}"
    );
}
