//! End-to-end: Helm values files through the real binary. `list` over a
//! hand-written chart (testdata/helm/chart), and `lock`, `pin` (only the
//! digest values change; a second pin changes nothing), `check` and
//! `check --remote` drift against the real CNCF distribution registry,
//! with every locked digest cross-checked against skopeo; `--helm-values`
//! turns the rules on for a file of another name.

use std::path::Path;
use std::process::Output;

use crate::support;
use crate::support::e2e::{assert_locked, run};
use crate::support::run::{expect_code, text};
use crate::support::{Registry, Setup};

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
        listed(&out).contains(&"other.yaml:5:15 ghcr.io/acme/shop-api:2.5.0".to_string()),
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
    // The template prints app's empty tag as the appVersion, unchanged,
    // and reads each digest key.
    fs_err::create_dir(chart.join("templates")).unwrap();
    fs_err::write(
        chart.join("templates/app.yaml"),
        "image: \"{{ .Values.app.image.registry }}/{{ .Values.app.image.repository }}:{{ .Values.app.image.tag | default .Chart.AppVersion }}{{ with .Values.app.image.digest }}@{{ . }}{{ end }}\"\n\
         image: \"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}{{ with .Values.image.digest }}@{{ . }}{{ end }}\"\n\
         image: \"{{ .Values.metrics.image.registry }}/{{ .Values.metrics.image.repository }}:{{ .Values.metrics.image.tag }}{{ with .Values.metrics.image.sha }}@sha256:{{ . }}{{ end }}\"\n",
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

/// One fixture per convention (testdata/helm/conventions, each a small
/// chart written from the rule): what `list` reads, and where it warns
/// instead, naming the key.
#[test]
fn each_convention_is_read_as_the_chart_renders_it_or_warned_at_its_key() {
    let d1 = format!("sha256:{}", "1".repeat(64));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/helm/conventions");
    // (fixture, [line:column reference], [line:column start of the warning])
    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            // ingress-nginx's: `image` holds the path, the registry is the
            // mapping's or `global.image.registry`; `digestChroot` is the
            // variant's; `chroot: true` pulls a variant the template names.
            "image-path-global-registry",
            vec![
                format!("9:12 registry.example.net/acme/controller:v1.2.0@{d1}"),
                "18:12 mirror.example.org/acme/webhook:v0.9.1".into(),
                "24:12 registry.example.net/acme/backend:2.4".into(),
            ],
            vec!["29:5 chrooted.image.chroot is true"],
        ),
        (
            // An image + tag mapping with its own registry is read; a
            // split one is left to the chart's choice of registry.
            "global-registry-fallbacks",
            vec!["12:12 quay.io/acme/strimzi-like:0.38.0".into()],
            vec![
                "7:5 loki.image: global.registry is set (\"mirror.example.net\")",
                "19:5 strimzi.image has both `repository` and `name`",
            ],
        ),
        (
            "global-image-merged",
            vec![],
            vec![
                "5:5 global.image (registry, digest) has no `repository` or `image`",
                "9:12 backend.image: global.image sets digest beside its registry",
            ],
        ),
        (
            "image-with-sibling-tag",
            vec!["2:10 ghcr.io/acme/agent:3.1".into()],
            vec!["7:3 collector.image \"quay.io/acme/collector:1.0\" has a tag or digest of its own"],
        ),
        (
            "hub-short-name",
            vec!["10:10 registry.example.net/mesh/proxyv2:1.24.0".into()],
            vec!["6:3 pilot.image \"pilot\" is a short name under a hub"],
        ),
        (
            "template-defaults",
            vec![],
            vec![
                "4:5 scanner.image.defaultRegistry:",
                "10:5 reports.image.registry is null: the chart's template supplies the registry",
                "17:5 cleanup.image.repository is empty",
            ],
        ),
        (
            "app-version-unchanged",
            vec!["2:15 ghcr.io/acme/app:3.2.1".into()],
            vec![],
        ),
        (
            "app-version-prefixed",
            vec![],
            vec!["3:9 image.tag is empty, so the chart's template supplies the tag"],
        ),
        (
            "app-version-suffixed",
            vec![],
            vec![
                "6:5 controller.image.tagLabel is set",
                "12:11 agent.image.tag is empty",
            ],
        ),
        (
            "registry-namespace-name",
            vec![],
            vec!["6:5 controller.image (name, tag) has no `repository` or `image`"],
        ),
        (
            "number-tags",
            vec!["3:17 acme/kept:1.37".into()],
            vec![
                "9:10 shortened.image.tag 1.10 is not a string",
                "14:10 exponent.image.tag 1234567 is not a string",
                "19:10 zero.image.tag 0 is the number zero, which a template's `default`",
            ],
        ),
        (
            // values-prod.yaml is merged over the chart's values.yaml:
            // the registry and the digest it leaves out are the chart's.
            // (The `list` below reads values.yaml too: its own images.)
            "override-file",
            vec![
                "5:15 quay.io/acme/app:1.0".into(),
                format!("10:17 acme/worker:1.0@{d1}"),
                "15:17 acme/cache:1.0".into(),
            ],
            vec![],
        ),
        (
            // YAML that Helm reads differently from a first glance: a merge
            // key, a key written twice (Helm keeps the last), an alias of
            // an anchor under no image key, a registry ending in `/`, a
            // `suffix`, and a second document (Helm reads the first only).
            "yaml-shapes",
            vec![
                "31:17 quay.io/acme/kept:3".into(),
                "35:25 acme/shared:1".into(),
            ],
            vec![
                "7:5 merged.image takes keys from a merge key (`<<`)",
                "12:5 twice.image.tag is written again at line 13",
                "17:3 aliased.image is an alias of \"ghcr.io/acme/web:1.0\"",
                "20:5 slashed.image.registry \"quay.io/\" ends with `/`",
                "27:5 suffixed.image.suffix is set",
                "39:5 sharedAgain.image.repository is an alias of the repository read at line 35",
                "42:1 Helm reads only the first document of a values file",
            ],
        ),
        (
            "subcharts",
            vec!["2:15 ghcr.io/acme/shop:1.0.0".into()],
            vec!["8:11 cache.image.tag is empty: these values go to the subchart \"cache\""],
        ),
        (
            "global-image-registry",
            vec![],
            vec!["6:3 image: global.imageRegistry is set (\"mirror.example.net\")"],
        ),
        (
            "use-digest",
            vec![
                "3:17 quay.io/acme/agent:v1.18.0".into(),
                format!("10:17 quay.io/acme/operator:v1.18.0@{d1}"),
                format!("18:17 quay.io/acme/relay:v1.18.0@{d1}"),
            ],
            vec!["29:5 hubble.image.useDigest is not a YAML boolean"],
        ),
        (
            "repository-and-image",
            vec![],
            vec!["3:3 driver has both `repository` and `image`"],
        ),
        (
            "named-image-strings",
            vec![
                "2:10 registry.example.net/acme/server:2.1.0".into(),
                "3:13 registry.example.net/acme/control-plane:2.1.0".into(),
            ],
            vec![
                "4:3 global.imageSidecar \"registry.example.net/acme/sidecar\" has no tag or digest",
                "7:3 global.imageAgent \"${REGISTRY}/acme/agent:2.1.0\" is a template",
            ],
        ),
        (
            // cilium's digest per variant and `override`, istio's `hub`
            // beside the image, a short `image` with no registry anywhere,
            // an empty `image`.
            "template-variants",
            vec![],
            vec![
                "6:5 operator.image has a digest per variant (genericDigest, cloudDigest)",
                "12:5 agent.image.override is set",
                "18:3 mesh.image \"pilot\" sits beside a `hub`",
                "24:14 oci.images.proxy.image \"proxy\" is a short name with no registry",
                "28:3 optional.image is empty",
            ],
        ),
    ];
    for (name, refs, warnings) in cases {
        let out = support::run::imagelock(&root.join(name), &["list", "values.yaml"]);
        expect_code(&out, 0);
        let got: Vec<String> = listed(&out)
            .iter()
            .map(|l| l.strip_prefix("values.yaml:").unwrap().to_string())
            .collect();
        assert_eq!(got, refs, "{name}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        let got: Vec<&str> = err
            .lines()
            .filter_map(|l| l.strip_prefix("warning: values.yaml:"))
            .collect();
        assert_eq!(got.len(), warnings.len(), "{name}: {err}");
        for (g, w) in got.iter().zip(&warnings) {
            let (at, message) = w.split_once(' ').unwrap();
            assert!(
                g.starts_with(&format!("{at}: {message}")),
                "{name}: expected `{w}`, got `{g}`"
            );
            // What to do: render the chart, or change the value.
            assert!(
                [
                    "helm template",
                    "quote it",
                    "remove one",
                    "write the image here",
                    "without the `/`",
                    "into the first document",
                    "write it here"
                ]
                .iter()
                .any(|what| g.contains(what)),
                "{name}: {g}"
            );
        }
    }
}

/// A chart's other values file is merged over its values.yaml: what it
/// leaves out of an image mapping (a registry, a digest) is the chart's,
/// a warning at the mapping; a mapping that sets every key is read.
#[test]
fn a_values_file_beside_the_charts_values_yaml_is_read_over_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/helm/conventions/override-file");
    let out = support::run::imagelock(&dir, &["list", "values-prod.yaml"]);
    expect_code(&out, 0);
    assert_eq!(listed(&out), ["values-prod.yaml:11:17 acme/cache:2.0"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: values-prod.yaml:3:3: image: the chart's values.yaml sets `registry: \"quay.io\"` in this mapping"),
        "{err}"
    );
    assert!(
        err.contains(
            "warning: values-prod.yaml:7:5: worker.image: the chart's values.yaml sets `digest: "
        ),
        "{err}"
    );
    assert_eq!(err.matches("helm template").count(), 2, "{err}");
}

/// A subchart unpacked in its parent's `charts/`: what the parent's
/// values.yaml sets under the subchart's key (its alias) is merged over
/// the subchart's own values, so those images are warnings in the
/// subchart's file; the others are read.
#[test]
fn a_subcharts_values_under_a_parent_that_sets_them_are_left_to_the_parent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/helm/conventions/umbrella");
    let out = support::run::imagelock(&dir, &["list", "charts/cache/values.yaml"]);
    expect_code(&out, 0);
    assert_eq!(
        listed(&out),
        ["charts/cache/values.yaml:7:10 ghcr.io/acme/exporter:1"]
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: charts/cache/values.yaml:2:3: image: the parent chart's values.yaml sets `cache.image.tag` for this subchart"),
        "{err}"
    );
    assert!(
        err.contains("warning: charts/cache/values.yaml:5:3: sidecar.image: the parent chart's values.yaml sets `cache.sidecar.image`"),
        "{err}"
    );
    assert_eq!(err.matches("helm template").count(), 2, "{err}");
}

/// The subcharts `Chart.yaml` names are a note: their images are in
/// their own values files.
#[test]
fn subcharts_are_named_in_a_note() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/helm/conventions/subcharts");
    let out = support::run::imagelock(&dir, &["list", "values.yaml"]);
    expect_code(&out, 0);
    let err = text(&out.stderr);
    assert!(
        err.contains("note: values.yaml: the chart's Chart.yaml names subcharts (cache, db)"),
        "{err}"
    );
}

/// `pin` writes the digest into the `digest` key of an `image` + `tag`
/// mapping (ingress-nginx's form), never into `digestChroot`; chart values
/// in a Flux `HelmRelease` and an Argo CD `Application` are read by the
/// same rules; a second pin changes nothing.
#[test]
fn pin_writes_the_digest_key_of_composed_mappings_and_embedded_values() {
    use crate::support::offline::{digest, dir, read};
    let values = "global:\n  image:\n    registry: registry.example.net\ncontroller:\n  image:\n    image: acme/controller\n    tag: \"v1.2.0\"\n    digest: \"\"\n    digestChroot: \"\"\n";
    let release = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: shop\nspec:\n  values:\n    cache:\n      repository: ghcr.io/acme/cache\n      tag: \"8.6\"\n      digest: ''\n    web:\n      image: ghcr.io/acme/web\n";
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop\nspec:\n  sources:\n    - repoURL: https://charts.example.net\n      helm:\n        valuesObject:\n          image:\n            repository: ghcr.io/acme/api\n            tag: \"2.0\"\n            digest: \"\"\n";
    let d = dir(
        &[
            ("chart/values.yaml", values),
            ("deploy/release.yaml", release),
            ("deploy/app.yaml", app),
        ],
        &[
            "registry.example.net/acme/controller:v1.2.0",
            "ghcr.io/acme/cache:8.6",
            "ghcr.io/acme/api:2.0",
        ],
    );
    let out = support::run::imagelock(d.path(), &["list", "."]);
    expect_code(&out, 0);
    assert_eq!(
        listed(&out),
        [
            "chart/values.yaml:6:12 registry.example.net/acme/controller:v1.2.0",
            "deploy/app.yaml:11:25 ghcr.io/acme/api:2.0",
            "deploy/release.yaml:8:19 ghcr.io/acme/cache:8.6",
        ]
    );
    // The tagless `web.image` is left to the chart, with a warning at it.
    let err = text(&out.stderr);
    assert!(
        err.contains("deploy/release.yaml:12:7: spec.values.web.image \"ghcr.io/acme/web\" has no tag or digest"),
        "{err}"
    );

    let out = support::run::imagelock(d.path(), &["pin", "."]);
    expect_code(&out, 0);
    let controller = digest("registry.example.net/acme/controller:v1.2.0");
    assert_eq!(
        read(d.path(), "chart/values.yaml"),
        values.replacen("digest: \"\"", &format!("digest: {controller}"), 1)
    );
    assert_eq!(
        read(d.path(), "deploy/release.yaml"),
        release.replace(
            "digest: ''",
            &format!("digest: {}", digest("ghcr.io/acme/cache:8.6"))
        )
    );
    assert_eq!(
        read(d.path(), "deploy/app.yaml"),
        app.replace(
            "digest: \"\"",
            &format!("digest: {}", digest("ghcr.io/acme/api:2.0"))
        )
    );
    let before: Vec<String> = [
        "chart/values.yaml",
        "deploy/release.yaml",
        "deploy/app.yaml",
    ]
    .iter()
    .map(|f| read(d.path(), f))
    .collect();
    let out = support::run::imagelock(d.path(), &["pin", "."]);
    expect_code(&out, 0);
    let after: Vec<String> = [
        "chart/values.yaml",
        "deploy/release.yaml",
        "deploy/app.yaml",
    ]
    .iter()
    .map(|f| read(d.path(), f))
    .collect();
    assert_eq!(before, after, "a second pin changed a file");
}

/// A chart in a fresh directory: Chart.yaml (appVersion "1.0"), a values
/// file leaving `image.tag` empty, and the templates given.
fn chart_with_templates(templates: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(
        d.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    )
    .unwrap();
    fs_err::write(
        d.join("values.yaml"),
        "image:\n  repository: acme/app\n  tag: \"\"\n  tagOverride: \"\"\n",
    )
    .unwrap();
    fs_err::create_dir(d.join("templates")).unwrap();
    for (name, text) in templates {
        let path = d.join("templates").join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    dir
}

/// A chart's template files: (name under templates/, bytes).
type Templates<'a> = Vec<(&'a str, &'a [u8])>;

const UNCHANGED: &[u8] =
    b"        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}\"\n";

#[test]
fn an_empty_tag_is_the_app_version_only_when_no_template_prints_it_otherwise() {
    // The control: the one template prints the appVersion unchanged.
    let dir = chart_with_templates(&[("deploy.yaml", UNCHANGED)]);
    let out = support::run::imagelock(dir.path(), &["list", "values.yaml"]);
    expect_code(&out, 0);
    assert_eq!(listed(&out), ["values.yaml:2:15 acme/app:1.0"]);
    // Bitnami's library given the chart prints the appVersion for an empty
    // tag; its helpers for pull secrets and warnings print no image.
    let dir = chart_with_templates(&[
        ("_helpers.tpl", b"{{- define \"c.image\" -}}\n{{ include \"common.images.image\" (dict \"imageRoot\" .Values.image \"global\" .Values.global \"chart\" .Chart) }}\n{{- end -}}\n"),
        ("NOTES.txt", b"{{- include \"common.warnings.rollingTag\" .Values.image }}\n{{- include \"common.errors.insecureImages\" (dict \"images\" (list .Values.image) \"context\" $) }}\n"),
        ("deploy.yaml", b"      {{- include \"common.images.renderPullSecrets\" (dict \"images\" (list .Values.image) \"context\" $) | nindent 6 }}\n"),
    ]);
    let out = support::run::imagelock(dir.path(), &["list", "values.yaml"]);
    expect_code(&out, 0);
    assert_eq!(
        listed(&out),
        ["values.yaml:2:15 acme/app:1.0"],
        "{}",
        text(&out.stderr)
    );

    // Each of these charts renders another tag (or a second one) from the
    // same empty `image.tag`: never the appVersion listed, a warning at
    // the tag naming the template line.
    let latin1: &[u8] = b"# caf\xe9\n        image: \"{{ .Values.image.repository }}:v{{ .Values.image.tag | default .Chart.AppVersion }}\"\n";
    let cases: Vec<(&str, Templates, &str)> = vec![
        (
            "another template defaults the same tag to `latest`",
            vec![
                ("test.yaml", UNCHANGED),
                ("deploy.yaml", b"        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag | default \"latest\" }}\"\n"),
            ],
            "templates/deploy.yaml:1",
        ),
        (
            "the template prints `tagOverride`, not `tag`",
            vec![("deploy.yaml", b"        image: \"{{ .Values.image.repository }}:{{ .Values.image.tagOverride | default .Chart.AppVersion }}\"\n")],
            "no template line prints",
        ),
        (
            "a template that is not UTF-8 prefixes a `v`",
            vec![("a.yaml", UNCHANGED), ("b.yaml", latin1)],
            "templates/b.yaml:2",
        ),
        (
            "an image key's whole value is a printf adding a `v`",
            vec![
                ("a.yaml", UNCHANGED),
                ("b.yaml", b"        image: {{ printf \"%s:v%s\" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}\n"),
            ],
            "templates/b.yaml:1",
        ),
        (
            "`with` hands the tag to a `v{{ . }}`",
            vec![
                ("a.yaml", UNCHANGED),
                ("b.yaml", b"{{- with .Values.image.tag }}\n        image: acme/app:v{{ . }}\n{{- end }}\n"),
            ],
            "templates/b.yaml:1",
        ),
        (
            "a conditional variant follows the tag",
            vec![("deploy.yaml", b"        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{ if .Values.variant }}-{{ .Values.variant }}{{ end }}\"\n")],
            "templates/deploy.yaml:1",
        ),
        (
            "`-}}` glues the next line's text to the tag",
            vec![("deploy.yaml", b"        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion -}}\n          -debian\"\n")],
            "templates/deploy.yaml:1",
        ),
        (
            "a helper is given the whole mapping",
            vec![
                ("a.yaml", UNCHANGED),
                ("b.yaml", b"        image: {{ include \"c.image\" .Values.image }}\n"),
            ],
            "templates/b.yaml:1",
        ),
    ];
    for (what, templates, why) in cases {
        let dir = chart_with_templates(&templates);
        let out = support::run::imagelock(dir.path(), &["list", "values.yaml"]);
        expect_code(&out, 0);
        assert_eq!(text(&out.stdout), "", "{what}");
        let err = text(&out.stderr);
        assert!(
            err.contains("warning: values.yaml:3:9: image.tag is empty"),
            "{what}: {err}"
        );
        assert!(err.contains(why), "{what}: {err}");
        assert!(err.contains("helm template"), "{what}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn templates_behind_symbolic_links_are_searched_as_helm_loads_them() {
    let outside = tempfile::tempdir().unwrap();
    fs_err::create_dir(outside.path().join("shared")).unwrap();
    fs_err::write(
        outside.path().join("shared/job.yaml"),
        "        image: \"{{ .Values.image.repository }}:v{{ .Values.image.tag | default .Chart.AppVersion }}\"\n",
    )
    .unwrap();
    let dir = chart_with_templates(&[("deploy.yaml", UNCHANGED)]);
    fs_err::os::unix::fs::symlink(
        outside.path().join("shared"),
        dir.path().join("templates/shared"),
    )
    .unwrap();
    let out = support::run::imagelock(dir.path(), &["list", "values.yaml"]);
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(
        err.contains("values.yaml:3:9") && err.contains("templates/shared/job.yaml:1"),
        "{err}"
    );
}

/// Digests the chart renders that are not in the `digest` key's own text:
/// an alias of an anchored digest is part of the reference (and not
/// written through), a tag carrying its own `@sha256:` is never given a
/// second digest; flow mappings and CRLF take exactly the digest's bytes.
#[test]
fn pin_writes_only_where_the_chart_reads_one_digest() {
    use crate::support::offline::{digest, dir, read};
    let hex = "0123456789abcdef".repeat(4);
    let values = format!(
        "d: &d sha256:{hex}\nal:\n  image:\n    repository: acme/al\n    tag: \"1\"\n    digest: *d\nintag:\n  image:\n    repository: acme/intag\n    tag: \"1.0@sha256:{hex}\"\n    digest: \"\"\nflow:\n  image: {{repository: acme/flow, tag: \"2\", digest: }}\ncr:\r\n  image:\r\n    repository: acme/cr\r\n    tag: \"3\"\r\n    digest: \"\" # pinned\r\n"
    );
    let d = dir(
        &[("values.yaml", &values)],
        &["acme/al:1", "acme/intag:1.0", "acme/flow:2", "acme/cr:3"],
    );
    let out = support::run::imagelock(d.path(), &["list", "values.yaml"]);
    expect_code(&out, 0);
    let got = listed(&out);
    assert_eq!(got[0], format!("values.yaml:4:17 acme/al:1@sha256:{hex}"));
    assert_eq!(
        got[1],
        format!("values.yaml:9:17 acme/intag:1.0@sha256:{hex}")
    );
    let out = support::run::imagelock(d.path(), &["pin", "values.yaml"]);
    expect_code(&out, 0);
    let want = values
        .replacen(
            "digest: }",
            &format!("digest: {} }}", digest("acme/flow:2")),
            1,
        )
        .replacen(
            "digest: \"\" # pinned",
            &format!("digest: {} # pinned", digest("acme/cr:3")),
            1,
        );
    assert_eq!(read(d.path(), "values.yaml"), want);
    let out = support::run::imagelock(d.path(), &["pin", "values.yaml"]);
    expect_code(&out, 0);
    assert_eq!(read(d.path(), "values.yaml"), want);
}

/// What a release applies over its embedded values decides the image:
/// Argo CD's `helm.parameters` (set after `valuesObject`) and a Flux
/// post-renderer running kustomize (`images:` rewrites the render). Those
/// images are warnings at their key; the others are read.
#[test]
fn what_a_release_applies_over_its_values_is_a_warning() {
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop\nspec:\n  source:\n    repoURL: https://charts.example.net\n    chart: shop\n    helm:\n      parameters:\n        - name: api.image.tag\n          value: \"9.9\"\n      valuesObject:\n        api:\n          image:\n            repository: ghcr.io/acme/api\n            tag: \"2.0\"\n        worker:\n          image: ghcr.io/acme/worker:1.0\n";
    let release = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n  postRenderers:\n    - kustomize:\n        images:\n          - name: ghcr.io/acme/web\n            newTag: \"3.0\"\n  values:\n    image:\n      repository: ghcr.io/acme/web\n      tag: \"1.0\"\n";
    // Values written as a string are not read: a warning at the key.
    let stringly = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: str\nspec:\n  sources:\n    - repoURL: https://charts.example.net\n      helm:\n        values: |\n          image:\n            repository: ghcr.io/acme/api\n            tag: \"2.0\"\n";
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("app.yaml"), app).unwrap();
    fs_err::write(dir.path().join("release.yaml"), release).unwrap();
    fs_err::write(dir.path().join("stringly.yaml"), stringly).unwrap();
    let out = support::run::imagelock(dir.path(), &["list", "."]);
    expect_code(&out, 0);
    assert_eq!(listed(&out), ["app.yaml:19:18 ghcr.io/acme/worker:1.0"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: stringly.yaml:9:9: spec.sources[0].helm.values is a string of chart values, which imagelock does not read"),
        "{err}"
    );
    assert!(
        err.contains("warning: app.yaml:16:13: spec.source.helm.valuesObject.api.image: the `helm.parameters` entry \"api.image.tag\" (line 10)"),
        "{err}"
    );
    assert!(
        err.contains("warning: release.yaml:13:7: spec.values.image: the post-renderer at line 7 (kustomize)"),
        "{err}"
    );
    assert!(err.matches("helm template").count() >= 2, "{err}");
}

/// A `sha` key holds what the chart prints after the `@`: the bare hex for
/// `@sha256:{{ .sha }}` (kube-prometheus-stack), the whole digest for
/// `@%s` (kube-state-metrics). `pin` writes that form; a second pin
/// changes nothing.
#[test]
fn pin_writes_a_sha_key_in_the_form_the_charts_templates_print() {
    use crate::support::offline::{digest, dir, read};
    let chart = "apiVersion: v2\nname: c\nversion: 0.1.0\nappVersion: \"1.0\"\n";
    let values =
        "image:\n  registry: quay.io\n  repository: acme/proxy\n  tag: v0.22.1\n  sha: \"\"\n";
    let full = "{{- define \"c.image\" -}}\n{{- if .Values.image.sha }}\n{{- printf \"%s/%s:%s@%s\" .Values.image.registry .Values.image.repository .Values.image.tag .Values.image.sha }}\n{{- end }}\n{{- end -}}\n";
    let hex = "        image: \"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}{{ with .Values.image.sha }}@sha256:{{ . }}{{ end }}\"\n";
    let d = dir(
        &[
            ("full/Chart.yaml", chart),
            ("full/values.yaml", values),
            ("full/templates/_helpers.tpl", full),
            ("hex/Chart.yaml", chart),
            ("hex/values.yaml", values),
            ("hex/templates/deploy.yaml", hex),
        ],
        &["quay.io/acme/proxy:v0.22.1"],
    );
    let want = digest("quay.io/acme/proxy:v0.22.1");
    let out = support::run::imagelock(d.path(), &["pin", "."]);
    expect_code(&out, 0);
    let full_pinned = values.replace("sha: \"\"", &format!("sha: {want}"));
    let hex_pinned = values.replace(
        "sha: \"\"",
        &format!("sha: {}", want.strip_prefix("sha256:").unwrap()),
    );
    assert_eq!(read(d.path(), "full/values.yaml"), full_pinned);
    assert_eq!(read(d.path(), "hex/values.yaml"), hex_pinned);
    let out = support::run::imagelock(d.path(), &["list", "."]);
    expect_code(&out, 0);
    assert_eq!(
        listed(&out),
        [
            format!("full/values.yaml:3:15 quay.io/acme/proxy:v0.22.1@{want}"),
            format!("hex/values.yaml:3:15 quay.io/acme/proxy:v0.22.1@{want}"),
        ]
    );
    let out = support::run::imagelock(d.path(), &["pin", "."]);
    expect_code(&out, 0);
    assert_eq!(read(d.path(), "full/values.yaml"), full_pinned);
    assert_eq!(read(d.path(), "hex/values.yaml"), hex_pinned);
}

/// A digest key no template of the chart beside the values reads is never
/// written: the chart would go on pulling the tag.
#[test]
fn pin_leaves_a_digest_key_the_charts_templates_do_not_read() {
    use crate::support::offline::{dir, read};
    let values =
        "web:\n  image:\n    repository: ghcr.io/acme/web\n    tag: \"1.0\"\n    digest: \"\"\n";
    let d = dir(
        &[
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\nappVersion: \"1.0\"\n"),
            ("values.yaml", values),
            (
                "templates/deploy.yaml",
                "        image: \"{{ .Values.web.image.repository }}:{{ .Values.web.image.tag }}\"\n",
            ),
        ],
        &["ghcr.io/acme/web:1.0"],
    );
    let out = support::run::imagelock(d.path(), &["pin", "values.yaml"]);
    assert_eq!(read(d.path(), "values.yaml"), values);
    let err = text(&out.stderr);
    assert!(
        err.contains("values.yaml:3:17")
            && err.contains("no template of the chart beside it reads `web.image.digest`"),
        "{err}"
    );
}

/// Values a release embeds are merged over the chart's own values, which
/// imagelock does not see: a repository naming no registry host may get
/// the chart's `registry` in front, so it is left to the chart.
#[test]
fn embedded_values_without_a_registry_host_are_left_to_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("release.yaml"),
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cache\nspec:\n  values:\n    image:\n      repository: acme/cache\n      tag: \"7.2\"\n    exporter:\n      registry: quay.io\n      repository: acme/exporter\n      tag: \"1.0\"\n",
    )
    .unwrap();
    let out = support::run::imagelock(dir.path(), &["list", "release.yaml"]);
    expect_code(&out, 0);
    assert_eq!(
        listed(&out),
        ["release.yaml:12:19 quay.io/acme/exporter:1.0"]
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "release.yaml:8:19: spec.values.image.repository \"acme/cache\" names no registry"
        ),
        "{err}"
    );
}
