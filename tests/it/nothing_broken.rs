//! End-to-end: `pin` writes nothing `kubectl apply` or imagelock itself
//! would refuse. Labels, annotations, selectors and ConfigMap data named
//! `image` are never listed, locked or pinned; flow mappings over several
//! lines take a digest (or a pull policy) with the comma their style
//! needs; a file without a final newline keeps having none; a hard-linked
//! file is replaced with a warning naming its links. Against the real CNCF
//! distribution registry, digests cross-checked with skopeo.

use crate::support::e2e::{assert_locked, run};
use crate::support::run::{expect_code, text};
use crate::support::{Registry, Setup};

#[test]
fn labels_annotations_selectors_and_data_named_image_are_never_pinned() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let web = reg.push_oci_image("team/web", "1.25", "web");
    let init = reg.push_oci_image("team/init", "2", "init");
    // Every value named `image` that is no image is also a valid
    // reference of a pushed repository: only the rules keep it out.
    let original = format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{image: {h}/team/web}}
  annotations:
    image: {h}/team/web:1.25
spec:
  selector:
    matchLabels:
      image: web
  template:
    metadata:
      labels:
        image: web
    spec:
      initContainers:
      - name: init
        image: {h}/team/init:2
      containers:
      - name: web
        image: {h}/team/web:1.25
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: site
data:
  image: {h}/team/web:1.25
"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("app.yaml");
    fs_err::write(&file, &original).unwrap();

    let o = run(&reg, d, &["lock", "app.yaml"]);
    expect_code(&o, 0);
    assert_locked(&reg, d, &[("team/web:1.25", &web), ("team/init:2", &init)]);
    let lockfile = fs_err::read_to_string(d.join("images.lock")).unwrap();
    assert_eq!(lockfile.matches("[[image]]").count(), 2, "{lockfile}");

    // Listed: the two containers, each with the rule that made it an image,
    // and one note counting what was left.
    let o = run(&reg, d, &["list", "--format", "json", "app.yaml"]);
    expect_code(&o, 0);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows: Vec<(u64, String, String)> = json["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reference"].as_str().unwrap().to_string(),
                r["context"]["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                19,
                format!("{h}/team/init:2"),
                "initContainers[].image".to_string()
            ),
            (
                22,
                format!("{h}/team/web:1.25"),
                "containers[].image".to_string()
            ),
        ]
    );
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("5 value(s) named `image` left unread"),
        "{stderr}"
    );

    // Pinned: the two container lines and nothing else.
    let o = run(&reg, d, &["pin", "app.yaml"]);
    expect_code(&o, 0);
    let pinned = fs_err::read_to_string(&file).unwrap();
    let want = original
        .replace(
            &format!("image: {h}/team/init:2\n"),
            &format!("image: {h}/team/init:2@{init}\n"),
        )
        .replacen(
            &format!("      - name: web\n        image: {h}/team/web:1.25\n"),
            &format!("      - name: web\n        image: {h}/team/web:1.25@{web}\n"),
            1,
        );
    assert_eq!(pinned, want);
    expect_code(&run(&reg, d, &["check", "--require-pinned", "app.yaml"]), 0);
    expect_code(&run(&reg, d, &["pin", "app.yaml"]), 0);
    assert_eq!(fs_err::read_to_string(&file).unwrap(), pinned);
}

#[test]
fn flow_mappings_over_several_lines_take_keys_with_their_comma() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let web = reg.push_oci_image("team/web", "1.0", "web");
    let api = reg.push_oci_image("team/api", "2.0", "api");
    let job = reg.push_oci_image("team/job", "3", "job");
    // A kustomization without a final newline: entries as flow mappings
    // over several lines, with a trailing comma and with a comment.
    let kustomization = format!(
        "images:\n- {{name: web,\n    newName: {h}/team/web,\n    newTag: \"1.0\"}}\n- {{name: api, newName: {h}/team/api,\n    newTag: \"2.0\", # api\n  }}\n- name: job\n  newName: {h}/team/job\n  newTag: \"3\""
    );
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: web,\n     image: '{h}/team/web:1.0' # the image\n    }}\n  - {{name: api, image: {h}/team/api:2.0,\n     imagePullPolicy: Always}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("kustomization.yaml"), &kustomization).unwrap();
    fs_err::write(d.join("pod.yaml"), &pod).unwrap();
    expect_code(&run(&reg, d, &["lock", "."]), 0);
    assert_locked(
        &reg,
        d,
        &[
            ("team/web:1.0", &web),
            ("team/api:2.0", &api),
            ("team/job:3", &job),
        ],
    );

    let args = ["pin", "--pull-policy", "if-not-present", "."];
    let o = run(&reg, d, &args);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(d.join("kustomization.yaml")).unwrap(),
        format!(
            "images:\n- {{name: web,\n    newName: {h}/team/web,\n    newTag: \"1.0\", digest: {web}}}\n- {{name: api, newName: {h}/team/api,\n    newTag: \"2.0\", digest: {api}, # api\n  }}\n- name: job\n  newName: {h}/team/job\n  newTag: \"3\"\n  digest: {job}"
        ),
        "a digest after the last value, with a comma; still no final newline"
    );
    assert_eq!(
        fs_err::read_to_string(d.join("pod.yaml")).unwrap(),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: web,\n     image: '{h}/team/web:1.0@{web}', imagePullPolicy: IfNotPresent # the image\n    }}\n  - {{name: api, image: {h}/team/api:2.0@{api},\n     imagePullPolicy: IfNotPresent}}\n"
        )
    );
    // Both read back: imagelock lists the pinned references, twice changes
    // nothing, and check is clean.
    let o = run(&reg, d, &["check", "--require-pinned", "."]);
    expect_code(&o, 0);
    let before = (
        fs_err::read_to_string(d.join("kustomization.yaml")).unwrap(),
        fs_err::read_to_string(d.join("pod.yaml")).unwrap(),
    );
    expect_code(&run(&reg, d, &args), 0);
    let after = (
        fs_err::read_to_string(d.join("kustomization.yaml")).unwrap(),
        fs_err::read_to_string(d.join("pod.yaml")).unwrap(),
    );
    assert_eq!(before, after);
}

#[test]
fn a_hard_linked_file_is_replaced_with_a_warning_naming_its_links() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let web = reg.push_oci_image("team/web", "1", "web");
    let original = format!("kind: Pod\nspec:\n  containers:\n  - image: {h}/team/web:1\n");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir(d.join("k8s")).unwrap();
    fs_err::write(d.join("k8s/pod.yaml"), &original).unwrap();
    fs_err::hard_link(d.join("k8s/pod.yaml"), d.join("copy.yaml.orig")).unwrap();
    expect_code(&run(&reg, d, &["lock", "k8s"]), 0);
    let o = run(&reg, d, &["pin", "k8s"]);
    expect_code(&o, 0);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("k8s/pod.yaml has 2 hard links")
            && stderr.contains("the other 1 name(s) keep the old content"),
        "{stderr}"
    );
    assert_eq!(
        fs_err::read_to_string(d.join("k8s/pod.yaml")).unwrap(),
        original.replace(":1\n", &format!(":1@{web}\n"))
    );
    assert_eq!(
        fs_err::read_to_string(d.join("copy.yaml.orig")).unwrap(),
        original
    );
}

// ---------------------------------------------------------------------
// Cases a hostile pass found, offline (a lockfile written here).

mod offline {
    use std::path::Path;

    use crate::support::offline::{digest, dir, read};
    use crate::support::run::{expect_code, imagelock, text};

    fn pin(d: &Path, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--no-config", "pin"];
        all.extend_from_slice(args);
        imagelock(d, &all)
    }

    #[test]
    fn an_anchor_shared_with_labels_and_names_is_refused_not_spread() {
        let text_in = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: &app nginx\nspec:\n  selector:\n    matchLabels:\n      app: *app\n  template:\n    metadata:\n      labels:\n        app: *app\n    spec:\n      containers:\n      - name: *app\n        image: *app\n";
        let d = dir(&[("web.yaml", text_in)], &["nginx"]);
        let o = pin(d.path(), &["web.yaml"]);
        expect_code(&o, 2);
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains("web.yaml:6:15: nginx cannot be pinned: the value is a YAML anchor")
                && stderr.contains("no file was changed"),
            "{stderr}"
        );
        assert_eq!(read(d.path(), "web.yaml"), text_in);
        // --dry-run of a failing run shows no diff.
        let o = pin(d.path(), &["--dry-run", "web.yaml"]);
        expect_code(&o, 2);
        assert_eq!(text(&o.stdout), "");
    }

    #[test]
    fn anchors_shared_only_by_images_are_pinned_once() {
        let text_in = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers: &list\n  - name: a\n    image: nginx:1.25\n  containers: *list\n";
        let d = dir(&[("p.yaml", text_in)], &["nginx:1.25"]);
        expect_code(
            &pin(d.path(), &["--pull-policy", "if-not-present", "p.yaml"]),
            0,
        );
        assert_eq!(
            read(d.path(), "p.yaml"),
            text_in.replace(
                "image: nginx:1.25\n",
                &format!(
                    "image: nginx:1.25@{}\n    imagePullPolicy: IfNotPresent\n",
                    digest("nginx:1.25")
                )
            )
        );
    }

    #[test]
    fn a_policy_merged_into_another_container_is_refused_the_image_is_not() {
        let text_in = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - &base\n    name: a\n    image: nginx:1.25\n  - <<: *base\n    name: b\n    image: busybox:${TAG}\n";
        let d = dir(&[("p.yaml", text_in)], &["nginx:1.25"]);
        let o = pin(d.path(), &["--pull-policy", "if-not-present", "p.yaml"]);
        expect_code(&o, 2);
        assert!(
            text(&o.stderr).contains("cannot set imagePullPolicy: IfNotPresent byte-exactly: the container (or its pull policy) is shared"),
            "{}",
            text(&o.stderr)
        );
        assert_eq!(read(d.path(), "p.yaml"), text_in);
        // Without the policy, the image is pinned: `b` sets its own image.
        expect_code(&pin(d.path(), &["p.yaml"]), 0);
        assert_eq!(
            read(d.path(), "p.yaml"),
            text_in.replace(
                "nginx:1.25",
                &format!("nginx:1.25@{}", digest("nginx:1.25"))
            )
        );
    }

    #[test]
    fn a_pull_policy_written_as_an_alias_is_refused_with_its_reason() {
        let text_in = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    restart-mode: &m Always\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n    imagePullPolicy: *m\n";
        let d = dir(&[("p.yaml", text_in)], &["nginx:1.25"]);
        let o = pin(d.path(), &["--pull-policy", "if-not-present", "p.yaml"]);
        expect_code(&o, 2);
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains("`imagePullPolicy` is written as an alias")
                && !stderr.contains("internal error"),
            "{stderr}"
        );
        assert_eq!(read(d.path(), "p.yaml"), text_in);
    }

    #[test]
    fn image_volumes_json_and_tabs_take_a_pull_policy() {
        let volumes = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - name: v\n    image:\n      reference: alpine:3.19\n  - name: w\n    image: {reference: busybox:1.36}\n";
        let json = "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"},\n \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"nginx:1.25\"}]}}\n";
        let tabs = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\t# c\n  - name: d\n    image: busybox:1.36\t\n";
        let d = dir(
            &[("v.yaml", volumes), ("p.json", json), ("t.yaml", tabs)],
            &["alpine:3.19", "busybox:1.36", "nginx:1.25"],
        );
        let o = pin(
            d.path(),
            &[
                "--pull-policy",
                "if-not-present",
                "v.yaml",
                "p.json",
                "t.yaml",
            ],
        );
        expect_code(&o, 0);
        let (a, b, n) = (
            digest("alpine:3.19"),
            digest("busybox:1.36"),
            digest("nginx:1.25"),
        );
        assert_eq!(
            read(d.path(), "v.yaml"),
            format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  volumes:\n  - name: v\n    image:\n      reference: alpine:3.19@{a}\n      pullPolicy: IfNotPresent\n  - name: w\n    image: {{reference: busybox:1.36@{b}, pullPolicy: IfNotPresent}}\n")
        );
        let pinned = read(d.path(), "p.json");
        assert!(
            pinned.contains(&format!(
                "\"image\": \"nginx:1.25@{n}\", \"imagePullPolicy\": \"IfNotPresent\"}}"
            )),
            "{pinned}"
        );
        let v: serde_json::Value = serde_json::from_str(&pinned).expect("still JSON");
        assert_eq!(
            v["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(
            read(d.path(), "t.yaml"),
            format!("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25@{n}\t# c\n    imagePullPolicy: IfNotPresent\n  - name: d\n    image: busybox:1.36@{b}\t\n    imagePullPolicy: IfNotPresent\n")
        );
    }

    #[test]
    fn unknown_core_kinds_are_read_by_rule_push_targets_and_watched_repositories_are_not() {
        let text_in = "apiVersion: v1\nkind: DeploymentConfig\nmetadata: {name: dc}\nspec: {template: {spec: {containers: [{name: c, image: nginx:1.25}]}}}\n---\napiVersion: v1\nkind: Template\nmetadata: {name: t}\nobjects:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n  spec: {template: {spec: {containers: [{name: c, image: busybox:1.36}]}}}\n---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata: {name: app}\nspec: {image: ghcr.io/acme/app}\n---\napiVersion: shipwright.io/v1beta1\nkind: Build\nmetadata: {name: b}\nspec:\n  source: {url: https://example.com/repo}\n  output: {image: quay.io/x/y:latest}\n---\napiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnect\nmetadata: {name: c}\nspec: {build: {output: {type: docker, image: ghcr.io/acme/app:1.0}}}\n";
        let d = dir(&[("all.yaml", text_in)], &[]);
        let o = imagelock(
            d.path(),
            &["--no-config", "list", "--format", "json", "all.yaml"],
        );
        expect_code(&o, 0);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let refs: Vec<(&str, &str)> = v["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["reference"].as_str().unwrap(),
                    r["context"]["field"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            refs,
            [
                ("nginx:1.25", "custom-resource"),
                ("busybox:1.36", "containers[].image")
            ]
        );
        assert!(
            text(&o.stderr).contains("3 value(s) named `image` left unread (the first at 18:8)"),
            "{}",
            text(&o.stderr)
        );
    }

    #[test]
    fn values_reached_through_aliases_are_counted_once_in_the_note() {
        let text_in = "apiVersion: example.com/v1\nkind: App\nmetadata:\n  labels: {image: nginx}\nspec:\n  main: &m {image: nginx:1.25}\n  copies: [*m]\n";
        let d = dir(&[("a.yaml", text_in)], &[]);
        let o = imagelock(d.path(), &["--no-config", "list", "a.yaml"]);
        expect_code(&o, 0);
        assert!(
            text(&o.stderr).contains("1 value(s) named `image` left unread (the first at 4:12)"),
            "{}",
            text(&o.stderr)
        );
    }

    #[test]
    fn a_build_argument_other_instructions_read_is_not_rewritten() {
        // V is read by RUN and LABEL too: the digest goes into the FROM
        // word, after the expansion, and the ARG line stays.
        let text_in = "ARG V=1.25\nFROM nginx:$V\nARG V\nRUN curl https://example.com/v$V.tar.gz\nLABEL version=$V\n";
        let shared = "ARG V=1.25\nFROM nginx:$V\nFROM busybox:$V\n";
        let d = dir(
            &[("a/Dockerfile", text_in), ("b/Dockerfile", shared)],
            &["nginx:1.25", "busybox:1.25"],
        );
        let o = pin(d.path(), &["a/Dockerfile"]);
        expect_code(&o, 0);
        assert_eq!(
            read(d.path(), "a/Dockerfile"),
            text_in.replace(
                "FROM nginx:$V\n",
                &format!("FROM nginx:$V@{}\n", digest("nginx:1.25"))
            )
        );
        // A comment or an escaped `\$V` expands nothing: the ARG pins.
        let quiet = "# the tag, used as $V below\nARG V=1.25\nFROM nginx:$V\nRUN echo \\$V\n";
        let q = dir(&[("Dockerfile", quiet)], &["nginx:1.25"]);
        expect_code(&pin(q.path(), &["Dockerfile"]), 0);
        assert_eq!(
            read(q.path(), "Dockerfile"),
            quiet.replace(
                "ARG V=1.25",
                &format!("ARG V=1.25@{}", digest("nginx:1.25"))
            )
        );
        // One ARG ending two different references: each FROM word.
        let o = pin(d.path(), &["b/Dockerfile"]);
        expect_code(&o, 0);
        assert_eq!(
            read(d.path(), "b/Dockerfile"),
            format!(
                "ARG V=1.25\nFROM nginx:$V@{}\nFROM busybox:$V@{}\n",
                digest("nginx:1.25"),
                digest("busybox:1.25")
            )
        );
    }

    #[test]
    fn both_names_of_a_hard_link_pinned_are_said_to_be_separate_files_now() {
        let body = "kind: Pod\nspec:\n  containers:\n  - image: nginx:1.25\n";
        let d = dir(&[("a.yaml", body)], &["nginx:1.25"]);
        fs_err::hard_link(d.path().join("a.yaml"), d.path().join("b.yaml")).unwrap();
        let o = pin(d.path(), &["a.yaml", "b.yaml"]);
        expect_code(&o, 0);
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains("a.yaml has 2 hard links")
                && stderr.contains("its other 1 name(s) were pinned in this run too")
                && !stderr.contains("keep the old content"),
            "{stderr}"
        );
        assert_eq!(read(d.path(), "a.yaml"), read(d.path(), "b.yaml"));
    }

    #[test]
    fn anchors_shared_with_non_image_fields_are_refused_in_every_input_kind() {
        let cases = [
            (
                "c/compose.yaml",
                "services:\n  a:\n    image: &img nginx:1.25\n    labels: {img: *img}\n    command: [*img]\n",
            ),
            (
                ".github/workflows/ci.yml",
                "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    container: {image: &img nginx:1.25}\n    env: {IMG: *img}\n    steps: [{run: echo}]\n",
            ),
            ("h/values.yaml", "sidecar: {image: &s nginx:1.25, name: *s}\n"),
            (
                "k/kustomization.yaml",
                "images: [{name: nginx, newTag: \"1.25\", digest: &d \"\"}]\nconfigMapGenerator: [{name: x, literals: [*d]}]\n",
            ),
        ];
        for (name, body) in cases {
            let d = dir(&[(name, body)], &["nginx:1.25"]);
            let o = pin(d.path(), &[name]);
            expect_code(&o, 2);
            assert!(
                text(&o.stderr).contains("cannot be pinned: the value is a YAML anchor"),
                "{name}: {}",
                text(&o.stderr)
            );
            assert_eq!(read(d.path(), name), body, "{name}");
        }
        // Compose's extension fields only hold anchors: a service merging
        // one is pinned through it.
        let body = "x-common: &common\n  image: nginx:1.25\n  restart: always\nservices:\n  a: {<<: *common}\n  b:\n    <<: *common\n";
        let d = dir(&[("compose.yaml", body)], &["nginx:1.25"]);
        expect_code(&pin(d.path(), &["compose.yaml"]), 0);
        assert_eq!(
            read(d.path(), "compose.yaml"),
            body.replace(
                "nginx:1.25",
                &format!("nginx:1.25@{}", digest("nginx:1.25"))
            )
        );
    }

    #[test]
    fn an_empty_pull_policy_is_filled_and_a_tagged_one_refused() {
        let body = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n    imagePullPolicy:\n  - {name: e, image: busybox:1.36, imagePullPolicy: }\n";
        let d = dir(&[("p.yaml", body)], &["nginx:1.25", "busybox:1.36"]);
        expect_code(
            &pin(d.path(), &["--pull-policy", "if-not-present", "p.yaml"]),
            0,
        );
        assert_eq!(
            read(d.path(), "p.yaml"),
            format!(
                "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25@{}\n    imagePullPolicy: IfNotPresent\n  - {{name: e, image: busybox:1.36@{}, imagePullPolicy: IfNotPresent }}\n",
                digest("nginx:1.25"),
                digest("busybox:1.36")
            )
        );
        let body = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n    imagePullPolicy: !!null\n";
        let d = dir(&[("p.yaml", body)], &["nginx:1.25"]);
        let o = pin(d.path(), &["--pull-policy", "if-not-present", "p.yaml"]);
        expect_code(&o, 2);
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains("is written with a tag") && !stderr.contains("internal error"),
            "{stderr}"
        );
    }

    #[test]
    fn an_image_key_written_twice_is_an_invalid_value_not_a_pin() {
        let body = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n    image: busybox:1.36\n";
        let d = dir(&[("p.yaml", body)], &["nginx:1.25", "busybox:1.36"]);
        let o = pin(d.path(), &["p.yaml"]);
        expect_code(&o, 2);
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains("p.yaml:7:5") && stderr.contains("the key `image` is written twice"),
            "{stderr}"
        );
        assert_eq!(read(d.path(), "p.yaml"), body);
        let o = imagelock(d.path(), &["--no-config", "check", "p.yaml"]);
        expect_code(&o, 1);
    }
}
