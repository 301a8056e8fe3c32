//! End-to-end: `pin` writes nothing `kubectl apply` or imagelock itself
//! would refuse. Labels, annotations, selectors and ConfigMap data named
//! `image` are never listed, locked or pinned; flow mappings over several
//! lines take a digest (or a pull policy) with the comma their style
//! needs; a file without a final newline keeps having none; a hard-linked
//! file is replaced with a warning naming its links. Against the real CNCF
//! distribution registry, digests cross-checked with skopeo.

mod support;

use support::e2e::{assert_locked, run};
use support::run::{expect_code, text};
use support::{Registry, Setup};

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
