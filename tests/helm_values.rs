//! End-to-end: Helm values files through the real binary. `list` over a
//! hand-written chart (testdata/helm/chart), and `lock`, `pin` (only the
//! digest values change; a second pin changes nothing), `check` and
//! `check --remote` drift against the real CNCF distribution registry,
//! with every locked digest cross-checked against skopeo; `--helm-values`
//! turns the rules on for a file of another name.

mod support;

use std::path::Path;
use std::process::Output;

use support::e2e::{assert_locked, run};
use support::run::{expect_code, text};
use support::{Registry, Setup};

/// `path:line:column reference` of every line `list` prints.
fn listed(out: &Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .map(|l| {
            let mut f = l.split_whitespace();
            format!("{} {}", f.next().unwrap(), f.next().unwrap())
        })
        .collect()
}

#[test]
fn list_reads_a_charts_values_file() {
    // testdata/helm/chart: a `digest` key, a `sha` key, `tag: ""` with the
    // Chart.yaml appVersion, a mapping without a digest key, a plain
    // `image` string, `image: {distroless: true}` and commented-out images.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/helm/chart");
    let out = support::run::imagelock(&dir, &["list", "values.yaml"]);
    expect_code(&out, 0);
    assert_eq!(
        listed(&out),
        [
            "values.yaml:8:15 docker.io/bitnami/redis:8.2.1-debian-12-r0",
            "values.yaml:16:15 quay.io/thanos/thanos:v0.42.4",
            "values.yaml:23:17 ghcr.io/acme/shop-api:2.4.1",
            "values.yaml:30:17 ghcr.io/acme/shop-worker:1.0",
            "values.yaml:42:12 envoyproxy/envoy:v1.31.0",
        ]
    );
    let err = text(&out.stderr);
    assert!(!err.contains("warning"), "{err}");

    // other.yaml is no values file by name: walked, it is left with a note;
    // `--helm-values other.yaml` reads it.
    let out = support::run::imagelock(&dir, &["list", "."]);
    expect_code(&out, 0);
    assert!(!text(&out.stdout).contains("other.yaml"));
    assert!(text(&out.stderr).contains("other.yaml: 1 `image` value(s) not read"));
    let out = support::run::imagelock(&dir, &["list", "--helm-values", "other.yaml", "."]);
    expect_code(&out, 0);
    assert!(
        listed(&out).contains(&"other.yaml:3:15 ghcr.io/acme/shop-api:2.5.0".to_string()),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stderr).contains("not read"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_empty_tag_without_chart_yaml_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("values.yaml"),
        "image:\n  repository: nginx\n  tag: \"\"\n  digest: \"\"\n",
    )
    .unwrap();
    let out = support::run::imagelock(dir.path(), &["list", "."]);
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(err.contains("values.yaml:3:9"), "{err}");
    assert!(
        err.contains("appVersion") && err.contains("Chart.yaml"),
        "{err}"
    );
}

#[test]
fn lock_pin_check_and_drift_of_a_charts_values() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let web = reg.push_oci_image("team/web", "1.0", "web");
    let metrics = reg.push_oci_image("team/metrics", "2", "metrics");
    let app = reg.push_oci_image("team/app", "3.1", "app");
    let side = reg.push_oci_image("team/side", "1", "side");
    let legacy = reg.push_oci_image("team/legacy", "1", "legacy");
    let original = format!(
        "# The chart's values.\n\
         global:\n  imageRegistry: \"\"\n\
         image:\n  registry: {h}\n  repository: team/web\n  tag: \"1.0\"\n  digest: \"\"   # pinned by imagelock\n  pullPolicy: IfNotPresent\n\
         metrics:\n  image:\n    registry: {h}\n    repository: team/metrics\n    tag: '2'\n    sha: \"\"\n\
         app:\n  image:\n    registry: {h}\n    repository: team/app\n    tag: \"\"\n    digest:\n\
         sidecar:\n  image: {h}/team/side:1\n\
         legacy:\n  image:\n    registry: {h}\n    repository: team/legacy\n    tag: \"1\"\n\
         distroless:\n  image:\n    distroless: true\n\
         # image: {h}/team/commented:1\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let chart = d.join("chart");
    fs_err::create_dir(&chart).unwrap();
    fs_err::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: shop\nversion: 0.1.0\nappVersion: \"3.1\"\n",
    )
    .unwrap();
    let values = chart.join("values.yaml");
    fs_err::write(&values, &original).unwrap();

    let o = run(&reg, d, &["lock", "."]);
    expect_code(&o, 0);
    assert_locked(
        &reg,
        d,
        &[
            ("team/web:1.0", &web),
            ("team/metrics:2", &metrics),
            ("team/app:3.1", &app),
            ("team/side:1", &side),
            ("team/legacy:1", &legacy),
        ],
    );

    let o = run(&reg, d, &["pin", "."]);
    expect_code(&o, 0);
    let err = text(&o.stderr);
    assert!(
        err.contains("chart/values.yaml:27:17") && err.contains("no `digest` or `sha` key"),
        "the mapping without a digest key is a warning at its repository: {err}"
    );
    let hex = metrics.strip_prefix("sha256:").unwrap();
    let expected = original
        .replace(
            "digest: \"\"   # pinned",
            &format!("digest: {web}   # pinned"),
        )
        .replace("sha: \"\"", &format!("sha: {hex}"))
        .replace("    digest:\n", &format!("    digest: {app}\n"))
        .replace(
            &format!("image: {h}/team/side:1\n"),
            &format!("image: {h}/team/side:1@{side}\n"),
        );
    let pinned = fs_err::read_to_string(&values).unwrap();
    assert_eq!(pinned, expected, "pin changed more than the digest values");

    let o = run(&reg, d, &["pin", "."]);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(&values).unwrap(),
        pinned,
        "a second pin changed the file"
    );

    let o = run(&reg, d, &["check", "."]);
    expect_code(&o, 0);
    assert!(
        !text(&o.stderr).contains("imagePullPolicy"),
        "the chart decides the pull policy: {}",
        text(&o.stderr)
    );
    // The written digests are read back: the pinned images are pinned.
    let o = run(&reg, d, &["list", "--format", "json", "chart/values.yaml"]);
    expect_code(&o, 0);
    assert!(
        text(&o.stdout).contains(&format!("{h}/team/metrics:2@{metrics}")),
        "{}",
        text(&o.stdout)
    );

    // The tag moves: check --remote sees it, at the repository line.
    let moved = reg.push_oci_image("team/web", "1.0", "moved");
    assert_ne!(moved, web);
    assert_eq!(reg.skopeo_digest("team/web:1.0"), moved);
    let o = run(&reg, d, &["check", "--remote", "."]);
    expect_code(&o, 1);
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(all.contains(&moved) && all.contains(&web), "{all}");
    assert!(all.contains("chart/values.yaml:6:15"), "{all}");
}

#[test]
fn helm_values_option_locks_and_pins_a_file_of_another_name() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let api = reg.push_oci_image("team/api", "2.5.0", "api");
    let original = format!(
        "image:\n  registry: {h}\n  repository: team/api\n  tag: \"2.5.0\"\n  digest: ''\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("prod.yaml"), &original).unwrap();

    // Without the option the file is no manifest: nothing to lock.
    let o = run(&reg, d, &["lock", "."]);
    expect_code(&o, 0);
    assert!(text(&o.stderr).contains("not read"), "{}", text(&o.stderr));
    let o = run(&reg, d, &["lock", "--helm-values", "prod.yaml", "."]);
    expect_code(&o, 0);
    assert_locked(&reg, d, &[("team/api:2.5.0", &api)]);

    let o = run(&reg, d, &["pin", "--helm-values", "prod.yaml"]);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(d.join("prod.yaml")).unwrap(),
        original.replace("digest: ''", &format!("digest: {api}"))
    );
    let o = run(&reg, d, &["check", "--helm-values", "prod.yaml"]);
    expect_code(&o, 0);
}
