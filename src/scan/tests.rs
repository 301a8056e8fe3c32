use super::*;
use crate::scan::scan_text;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/scan")
        .join(name);
    fs_err::read_to_string(p).expect("fixture")
}

/// Scan and check the invariants every result must satisfy: exact spans
/// slice to the reference, line/column point at the span start.
fn scan(text: &str) -> FileScan {
    let s = scan_text(Path::new("t.yaml"), text).expect("scan");
    check_invariants(text, &s);
    s
}

fn check_invariants(text: &str, s: &FileScan) {
    let mut spans = std::collections::HashSet::new();
    for img in &s.images {
        assert!(
            spans.insert((img.span.start, img.span.end)),
            "duplicate span {img:?}"
        );
        let slice = text.get(img.span.clone()).expect("span on char boundaries");
        if img.exact {
            assert_eq!(slice, img.reference.original(), "{img:?}");
        }
        // line/column (1-based, chars) of the span start
        let before = &text[..img.span.start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        assert_eq!((img.line, img.column), (line, column), "{img:?}");
    }
}

fn refs(s: &FileScan) -> Vec<&str> {
    s.images.iter().map(|i| i.reference.original()).collect()
}

fn find<'a>(s: &'a FileScan, original: &str) -> &'a FoundImage {
    s.images
        .iter()
        .find(|i| i.reference.original() == original)
        .unwrap_or_else(|| panic!("{original} not found in {:?}", refs(s)))
}

#[test]
fn multi_document_deployment_cronjob_pod() {
    let text = fixture("multi.yaml");
    let s = scan(&text);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        refs(&s),
        [
            "nginx:1.25",
            "ghcr.io/acme/sidecar:v2",
            "busybox:1.36",
            "alpine:3.19",
            "registry.k8s.io/pause:3.9",
            "busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
        ]
    );
    let nginx = find(&s, "nginx:1.25");
    assert_eq!((nginx.line, nginx.column), (12, 18));
    assert_eq!(nginx.document, 0);
    assert_eq!(nginx.style, QuoteStyle::Plain);
    assert!(nginx.exact);
    assert_eq!(nginx.field, ImageField::Image);
    let policy = nginx.context.kubernetes().unwrap().pull_policy_edit.clone();
    let Some(crate::scan::EditPlan::SetValue { span, .. }) = &policy else {
        panic!("the written imagePullPolicy is set in place: {policy:?}");
    };
    assert_eq!(&text[span.clone()], "IfNotPresent");
    assert_eq!(
        nginx.context,
        Context::Kubernetes(ObjectContext {
            kind: Some("Deployment".into()),
            namespace: Some("prod".into()),
            name: Some("web".into()),
            container: Some("nginx".into()),
            list: Some(ContainerList::Containers),
            field: Some(crate::scan::KubernetesField::Containers),
            pull_policy: Some("IfNotPresent".into()),
            pod: Some(PodRef::default()),
            pull_policy_edit: policy.clone(),
        })
    );
    let sidecar = find(&s, "ghcr.io/acme/sidecar:v2");
    assert_eq!(sidecar.style, QuoteStyle::DoubleQuoted);
    assert_eq!(sidecar.context.kubernetes().unwrap().pull_policy, None);
    assert_eq!(
        &text[sidecar.span.start - 1..sidecar.span.end + 1],
        "\"ghcr.io/acme/sidecar:v2\""
    );

    let job = find(&s, "busybox:1.36");
    assert_eq!(job.document, 1);
    assert_eq!(job.style, QuoteStyle::SingleQuoted);
    assert_eq!(
        job.context.kubernetes().unwrap().kind.as_deref(),
        Some("CronJob")
    );
    assert_eq!(
        job.context.kubernetes().unwrap().name.as_deref(),
        Some("nightly")
    );
    assert_eq!(job.context.kubernetes().unwrap().namespace, None);
    assert_eq!(
        job.context.kubernetes().unwrap().container.as_deref(),
        Some("job")
    );

    // Pod whose metadata comes after spec.
    let init = find(&s, "alpine:3.19");
    assert_eq!(init.document, 2);
    assert_eq!(
        init.context.kubernetes().unwrap().kind.as_deref(),
        Some("Pod")
    );
    assert_eq!(
        init.context.kubernetes().unwrap().name.as_deref(),
        Some("late-metadata")
    );
    assert_eq!(
        init.context.kubernetes().unwrap().namespace.as_deref(),
        Some("kube-system")
    );
    assert_eq!(
        init.context.kubernetes().unwrap().list,
        Some(ContainerList::InitContainers)
    );
    assert_eq!(
        init.context.kubernetes().unwrap().container.as_deref(),
        Some("init")
    );
    let main = find(&s, "registry.k8s.io/pause:3.9");
    assert_eq!(
        main.context.kubernetes().unwrap().container.as_deref(),
        Some("main"),
        "name after image"
    );
    assert_eq!(
        main.context.kubernetes().unwrap().list,
        Some(ContainerList::Containers)
    );
    let eph = &s.images[5];
    assert_eq!(
        eph.context.kubernetes().unwrap().list,
        Some(ContainerList::EphemeralContainers)
    );
    assert_eq!(
        eph.context.kubernetes().unwrap().container.as_deref(),
        Some("debugger")
    );
    assert!(eph.reference.digest().is_some());
}

#[test]
fn comment_and_spaces_after_plain_image_not_in_span() {
    let text = "spec:\n  containers:\n  - image: nginx:1.25   # pinned soon\n    name: a\n";
    let s = scan(text);
    let img = &s.images[0];
    assert_eq!(&text[img.span.clone()], "nginx:1.25");
    assert_eq!(img.span, 31..41);
    assert!(img.exact);
    // Also quoted with a trailing comment.
    let text = "image: 'nginx:1.25' # x\nother: \"a:1\"\n";
    let s = scan(text);
    assert_eq!(s.images[0].span, 8..18);
    assert_eq!(s.images[0].style, QuoteStyle::SingleQuoted);
}

#[test]
fn quote_styles() {
    let text = "a:\n  image: plain:1\nb:\n  image: 'single:1'\nc:\n  image: \"double:1\"\nd:\n  image: 'it''s'\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["plain:1", "single:1", "double:1"]);
    assert_eq!(
        s.images.iter().map(|i| i.style).collect::<Vec<_>>(),
        [
            QuoteStyle::Plain,
            QuoteStyle::SingleQuoted,
            QuoteStyle::DoubleQuoted
        ]
    );
    assert!(s.images.iter().all(|i| i.exact));
    // `it's` is not a valid reference: an invalid image with the parsed value.
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.invalid.len(), 1);
    assert_eq!((s.invalid[0].line, s.invalid[0].column), (8, 11));
    assert_eq!(s.invalid[0].value, "it's");
    assert!(
        s.invalid[0].message.contains("'\\''"),
        "{}",
        s.invalid[0].message
    );
}

#[test]
fn flow_style() {
    let text = "x: {image: nginx:1}\nspec: {containers: [{name: a, image: \"b:1\"}, {image: 'c:2', name: c}]}\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1", "b:1", "c:2"]);
    assert_eq!(
        s.images[1]
            .context
            .kubernetes()
            .unwrap()
            .container
            .as_deref(),
        Some("a")
    );
    assert_eq!(
        s.images[1].context.kubernetes().unwrap().list,
        Some(ContainerList::Containers)
    );
    assert_eq!(
        s.images[2]
            .context
            .kubernetes()
            .unwrap()
            .container
            .as_deref(),
        Some("c")
    );
    assert!(s.images.iter().all(|i| i.exact));
    assert_eq!(&text[s.images[0].span.clone()], "nginx:1");
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let text = "\
x-img: &img nginx:1.25
x-q: &q !!str \"redis:7\"
x-base: &base
  image: postgres:16
  imagePullPolicy: Always
x-list: &containers
  - name: shared
    image: shared:1
spec:
  containers:
    - name: a
      image: *img
    - name: b
      image: *img
    - name: c
      image: *q
    - <<: *base
      name: d
  initContainers: *containers
other:
  containers: *containers
";
    let s = scan(text);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        refs(&s),
        ["postgres:16", "shared:1", "nginx:1.25", "redis:7"]
    );
    let nginx = find(&s, "nginx:1.25");
    // Found at the anchored scalar, once, with the first alias's context.
    assert_eq!(nginx.line, 1);
    assert_eq!(nginx.column, 13);
    assert_eq!(&text[nginx.span.clone()], "nginx:1.25");
    assert_eq!(
        nginx.context.kubernetes().unwrap().container.as_deref(),
        Some("a")
    );
    let redis = find(&s, "redis:7");
    assert_eq!((redis.line, redis.column), (2, 16));
    assert_eq!(redis.style, QuoteStyle::DoubleQuoted);
    let pg = find(&s, "postgres:16");
    assert_eq!(pg.line, 4);
    assert_eq!(
        pg.context.kubernetes().unwrap().pull_policy.as_deref(),
        Some("Always")
    );
    let shared = find(&s, "shared:1");
    assert_eq!(shared.line, 8);
}

#[test]
fn alias_bomb_stays_linear() {
    let mut text = String::from("a0: &a0 [{image: nginx:1}]\n");
    for i in 1..40 {
        text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}]\n", p = i - 1));
    }
    let s = scan(&text);
    assert_eq!(refs(&s), ["nginx:1"]);
}

#[test]
fn crlf_line_endings() {
    let text = "kind: Pod\r\nmetadata:\r\n  name: p\r\nspec:\r\n  containers:\r\n  - name: a\r\n    image: nginx:1.25\r\n  - name: b\r\n    image: \"b:1\"\r\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25", "b:1"]);
    assert_eq!(&text[s.images[0].span.clone()], "nginx:1.25");
    assert_eq!((s.images[0].line, s.images[0].column), (7, 12));
    assert_eq!(
        s.images[0].context.kubernetes().unwrap().name.as_deref(),
        Some("p")
    );
    assert!(!text[s.images[1].span.clone()].contains('\r'));
}

#[test]
fn docker_compose() {
    let text = fixture("compose.yaml");
    let s = scan(&text);
    assert_eq!(refs(&s), ["postgres:16", "nginx:1.25-alpine"]);
    assert_eq!(s.images[0].line, 2);
    assert_eq!(
        s.images[0].context,
        Context::Compose(ComposeService {
            service: "db".into(),
            pull_policy: None,
            built: false,
            ..Default::default()
        })
    );
    assert_eq!(s.warnings.len(), 1);
    let w = &s.warnings[0];
    assert_eq!((w.line, w.column), (12, 12));
    assert!(
        w.message.contains("${REGISTRY}/worker:latest"),
        "{}",
        w.message
    );
}

#[test]
fn custom_resources_tekton_and_argo() {
    let text = fixture("tekton-argo.yaml");
    let s = scan(&text);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        refs(&s),
        [
            "golang:1.22",
            "gcr.io/kaniko-project/executor:v1.23.0",
            "docker/whalesay:latest",
            "python:3.12"
        ]
    );
    assert_eq!(
        s.images[0].context.kubernetes().unwrap().kind.as_deref(),
        Some("Task")
    );
    assert_eq!(
        s.images[0]
            .context
            .kubernetes()
            .unwrap()
            .container
            .as_deref(),
        Some("compile")
    );
    assert_eq!(s.images[0].context.kubernetes().unwrap().list, None);
    assert_eq!(
        s.images[2].context.kubernetes().unwrap().kind.as_deref(),
        Some("Workflow")
    );
    assert_eq!(s.images[2].document, 1);
    assert_eq!(s.images[2].context.kubernetes().unwrap().name, None);
}

#[test]
fn image_volume() {
    let text = "\
apiVersion: v1
kind: Pod
metadata: {name: vol}
spec:
  containers:
    - name: app
      image: app:1
  volumes:
    - name: models
      image:
        reference: quay.io/acme/models:v1
        pullPolicy: IfNotPresent
    - name: broken
      image:
        pullPolicy: Always
";
    let s = scan(text);
    assert_eq!(refs(&s), ["app:1", "quay.io/acme/models:v1"]);
    let v = &s.images[1];
    assert_eq!(v.field, ImageField::VolumeReference);
    assert_eq!(
        v.context.kubernetes().unwrap().pull_policy.as_deref(),
        Some("IfNotPresent")
    );
    assert_eq!(v.context.kubernetes().unwrap().kind.as_deref(), Some("Pod"));
    assert_eq!(v.context.kubernetes().unwrap().list, None);
    assert_eq!(v.line, 11);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].message.contains("reference"));
    // Under a pod template, with a templated reference: a warning.
    let text = "spec:\n  template:\n    spec:\n      volumes:\n      - image: {reference: '{{ .Values.img }}'}\n";
    let s = scan(text);
    assert!(s.images.is_empty());
    assert_eq!(s.warnings.len(), 1);
    assert_eq!((s.warnings[0].line, s.warnings[0].column), (5, 29));
    // An image mapping that is not in `volumes` is a warning.
    let s = scan("image:\n  repository: nginx\n  tag: 1.25\n");
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].message.contains("mapping"));
}

#[test]
fn templated_and_invalid_values_warn_with_position() {
    let text = "\
containers:
  - image: {{ .Values.image }}
  - image: \"{{ .Values.repo }}:{{ .Values.tag }}\"
  - image: ${TAG}
  - image: ''
  - image:
  - image: [a, b]
  - image: 42
  - image: true
  - image: ~
  - image: !!int 7
  - image: !!str 42
";
    // `{{ ... }}` unquoted is a flow mapping in YAML: still a warning.
    let s = scan_text(Path::new("dir/t.yaml"), text).unwrap();
    let got: Vec<(usize, usize)> = s.warnings.iter().map(|w| (w.line, w.column)).collect();
    assert_eq!(
        got,
        [
            (2, 12),
            (3, 13),
            (4, 12),
            (5, 13),
            (6, 5),
            (7, 12),
            (8, 12),
            (9, 12),
            (10, 12),
            (11, 18)
        ]
    );
    assert!(s
        .warnings
        .iter()
        .all(|w| *w.file == *Path::new("dir/t.yaml")));
    assert!(s.warnings[1]
        .message
        .contains("{{ .Values.repo }}:{{ .Values.tag }}"));
    assert!(
        s.warnings[2].message.contains("\"${TAG}\""),
        "{}",
        s.warnings[2].message
    );
    assert!(
        s.warnings[3].message.contains("empty"),
        "{}",
        s.warnings[3].message
    );
    assert!(s.warnings[4].message.contains("null"));
    assert!(s.warnings[5].message.contains("sequence"));
    assert!(s.warnings[6].message.contains("not a string"));
    assert!(s.warnings[7].message.contains("\"true\""));
    assert!(s.warnings[9].message.contains("not a string"));
    // `!!str 42` is a string, and a valid (Docker Hub) reference.
    assert_eq!(refs(&s), ["42"]);
}

#[test]
fn non_ascii_before_image() {
    let text = "\
# Café ☕ 日本語 — commentaire
metadata: {name: \"crème-brûlée 🍮\", namespace: 東京}
kind: Pod
spec:
  containers:
  - {name: \"é🙂中\", image: \"nginx:1.25\"} # ünïcödé
  - name: 日本
    image: ghcr.io/acme/app:v1 # 💥 after
  - name: x
    image: \"é:1\"
";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25", "ghcr.io/acme/app:v1"]);
    let a = &s.images[0];
    assert_eq!(&text[a.span.clone()], "nginx:1.25");
    assert_eq!((a.line, a.column), (6, 27));
    assert_eq!(
        a.context.kubernetes().unwrap().container.as_deref(),
        Some("é🙂中")
    );
    assert_eq!(
        a.context.kubernetes().unwrap().name.as_deref(),
        Some("crème-brûlée 🍮")
    );
    assert_eq!(
        a.context.kubernetes().unwrap().namespace.as_deref(),
        Some("東京")
    );
    let b = &s.images[1];
    assert_eq!(&text[b.span.clone()], "ghcr.io/acme/app:v1");
    assert_eq!((b.line, b.column), (8, 12));
    assert_eq!(s.invalid.len(), 1);
    assert_eq!((s.invalid[0].line, s.invalid[0].column), (10, 13));
    assert_eq!(s.invalid[0].value, "é:1");
}

#[test]
fn kind_list_items_are_their_own_objects() {
    let text = "\
apiVersion: v1
kind: List
metadata: {name: the-list}
items:
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: ds, namespace: n1}
    spec: {template: {spec: {containers: [{name: c, image: 'ds:1'}]}}}
  - apiVersion: v1
    kind: ReplicationController
    metadata: {name: rc}
    spec:
      template:
        spec:
          containers:
            - name: c
              image: rc:1
";
    let s = scan(text);
    assert_eq!(refs(&s), ["ds:1", "rc:1"]);
    assert_eq!(
        s.images[0].context.kubernetes().unwrap().kind.as_deref(),
        Some("DaemonSet")
    );
    assert_eq!(
        s.images[0]
            .context
            .kubernetes()
            .unwrap()
            .namespace
            .as_deref(),
        Some("n1")
    );
    assert_eq!(
        s.images[1].context.kubernetes().unwrap().kind.as_deref(),
        Some("ReplicationController")
    );
    assert_eq!(
        s.images[1].context.kubernetes().unwrap().name.as_deref(),
        Some("rc")
    );
    assert_eq!(s.images[1].context.kubernetes().unwrap().namespace, None);
}

#[test]
fn crd_schema_image_properties_are_silent() {
    let s = scan(&fixture("crd.yaml"));
    assert!(s.images.is_empty());
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn json_manifest() {
    let text = fixture("manifest.json");
    let s = scan(&text);
    assert_eq!(refs(&s), ["quay.io/acme/app:1.0"]);
    let i = &s.images[0];
    assert_eq!(i.style, QuoteStyle::DoubleQuoted);
    assert_eq!((i.line, i.column), (7, 33));
    assert_eq!(
        i.context.kubernetes().unwrap().pull_policy.as_deref(),
        Some("Always")
    );
    assert_eq!(
        i.context.kubernetes().unwrap().name.as_deref(),
        Some("json-pod")
    );
    assert_eq!(s.warnings.len(), 1);
    assert_eq!((s.warnings[0].line, s.warnings[0].column), (8, 32));
}

#[test]
fn escaped_double_quoted_is_not_exact() {
    let text = "image: \"nginx\\u003a1\"\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1"]);
    assert!(!s.images[0].exact);
    assert_eq!(&text[s.images[0].span.clone()], "nginx\\u003a1");
    assert_eq!(s.images[0].column, 9);
    // A double-quoted scalar folded over two lines: not exact either.
    let text = "image: \"nginx:\n  1\"\n";
    let s = scan(text);
    assert!(s.invalid.len() == 1 || !s.images[0].exact);
}

#[test]
fn block_scalars_are_not_exact() {
    let text = "a:\n  image: |-\n    nginx:1.25\nb:\n  image: >-\n    redis:7\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25", "redis:7"]);
    assert_eq!(s.images[0].style, QuoteStyle::Literal);
    assert_eq!(s.images[1].style, QuoteStyle::Folded);
    assert!(s.images.iter().all(|i| !i.exact));
    assert_eq!((s.images[0].line, s.images[0].column), (3, 5));
    assert_eq!(&text[s.images[0].span.clone()], "nginx:1.25");
    // `|` keeps the final newline: not a valid reference.
    let s = scan("image: |\n  nginx:1.25\n");
    assert!(s.images.is_empty());
    assert_eq!(s.invalid.len(), 1);
    assert_eq!(s.invalid[0].value, "nginx:1.25\n");
}

#[test]
fn multi_line_plain_scalar_is_not_exact() {
    let text = "image: nginx\n  :1.25\n";
    let s = scan(text);
    // Folds to "nginx :1.25": invalid, at line 1.
    assert_eq!(s.invalid.len(), 1);
    assert_eq!(s.invalid[0].line, 1);
}

#[test]
fn empty_string_warns() {
    let s = scan("image: ''\n");
    assert!(s.images.is_empty());
    assert_eq!(s.warnings.len(), 1);
    assert_eq!((s.warnings[0].line, s.warnings[0].column), (1, 9));
}

#[test]
fn syntax_error_has_position() {
    let err = scan_text(Path::new("bad.yaml"), "a: b\nc: [d\ne: f\n").unwrap_err();
    match err {
        ScanError::Syntax {
            path, line, column, ..
        } => {
            assert_eq!(path, PathBuf::from("bad.yaml"));
            assert!(line >= 2, "{line}");
            assert!(column >= 1);
        }
        other => panic!("{other:?}"),
    }
    let err = scan_text(Path::new("bad.yaml"), "key: value\n  bad: indent\n").unwrap_err();
    assert!(matches!(err, ScanError::Syntax { line: 2, .. }), "{err:?}");
}

#[test]
fn empty_and_comment_only_files() {
    for t in [
        "",
        "\n",
        "# only a comment\n",
        "---\n",
        "---\n...\n---\n",
        "null\n",
        "[]",
        "{}",
    ] {
        let s = scan(t);
        assert!(s.images.is_empty() && s.warnings.is_empty(), "{t:?}");
    }
}

#[test]
fn document_index_counts_every_document() {
    let s = scan("---\n# empty\n---\nimage: a:1\n---\nimage: b:1\n");
    assert_eq!(
        s.images.iter().map(|i| i.document).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn truncated_inputs_never_panic() {
    let mut inputs: Vec<String> = [
        "multi.yaml",
        "compose.yaml",
        "tekton-argo.yaml",
        "crd.yaml",
        "manifest.json",
    ]
    .iter()
    .map(|f| fixture(f))
    .collect();
    inputs.push("x: &a [*a, {image: *a}]\nimage: *a\n".into());
    inputs.push(FLOW_AT_PARENT_INDENT.into());
    inputs.push("\u{feff}kind: Pod\nspec: {containers: [{image: 'a:1'}]}\n".into());
    inputs.push("k: \"é🙂\\u00e9\" # 日本\r\nimage: |\r\n  x\r\n- [ {\n".into());
    for text in &inputs {
        for (i, _) in text.char_indices() {
            let t = &text[..i];
            if let Ok(s) = scan_text(Path::new("f"), t) {
                check_invariants(t, &s);
            }
        }
    }
    // Deep nesting must not overflow the stack.
    let deep = "[".repeat(100_000);
    let _ = scan_text(Path::new("f"), &deep);
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let _ = scan_text(Path::new("f"), &deep);
}

/// Throughput on ~10 MB of generated Deployments:
/// `cargo test --release --lib scan::yaml::tests::throughput -- --ignored --nocapture`
const FLOW_AT_PARENT_INDENT: &str = "\
spec:
  containers:
  - name: a
    args: [
      \"-x\", \"y\",
    ]
    image: nginx:1.25
  - name: b
    args: [\"
      cd /src &&
      go build
    \"]
    image: 'golang:1.22'
  - name: c
    args: [\"é
    \", {image: \"redis:7\"}]
    image: 日本:1
";

/// Go YAML accepts flow content indented like its parent block; saphyr does
/// not. Both shapes come from real release manifests (argo, tekton).
#[test]
fn flow_content_at_parent_indentation_is_accepted() {
    let text = FLOW_AT_PARENT_INDENT;
    // Sanity: the parser alone rejects this text.
    let mut p = saphyr_parser::Parser::new_from_str(text);
    let mut failed = false;
    while let Some(ev) = p.next_event() {
        match ev {
            Err(_) => {
                failed = true;
                break;
            }
            Ok((saphyr_parser::Event::StreamEnd, _)) => break,
            Ok(_) => {}
        }
    }
    assert!(
        failed,
        "the parser accepts this now: the workaround may be unneeded"
    );
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25", "golang:1.22", "redis:7"]);
    let redis = find(&s, "redis:7");
    assert_eq!((redis.line, redis.column), (16, 17));
    assert_eq!(s.invalid.len(), 1, "{:?}", s.invalid);
    assert_eq!((s.invalid[0].line, s.invalid[0].column), (17, 12));
    // A genuinely misindented mapping is still an error, as written.
    let err = scan_text(Path::new("x"), "a:\n  b: 1\n c: 2\n").unwrap_err();
    assert!(matches!(err, ScanError::Syntax { line: 3, .. }), "{err:?}");
}

#[test]
fn byte_order_mark() {
    let text = "\u{feff}kind: Pod\nspec:\n  containers:\n  - image: nginx:1.25\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25"]);
    assert_eq!(
        s.images[0].context.kubernetes().unwrap().kind.as_deref(),
        Some("Pod")
    );
    assert_eq!(s.images[0].span.start, 3 + 41);
}

#[test]
fn anchors_and_tags_before_the_value_are_not_in_the_span() {
    let text = "\
a:
  image: &a
    nginx:1.25
b:
  image: !!str &b 'redis:7'
c:
  image: &c !!str \"x:1\" # c
d:
  image: !custom  y:2
e:
  image: &e |-
    z:3
";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25", "redis:7", "x:1", "y:2", "z:3"]);
    let pos: Vec<_> = s
        .images
        .iter()
        .map(|i| (i.line, i.column, i.exact))
        .collect();
    assert_eq!(
        pos,
        [
            (3, 5, true),
            (5, 20, true),
            (7, 20, true),
            (9, 19, true),
            (12, 5, false)
        ]
    );
}

/// The fast path must give exactly what the full parser gives, or give up;
/// and reading one document at a time (the fast path where it can, the
/// parser for the documents it gives up on) must give exactly what the
/// full parser gives reading the whole text.
fn same_as_full_parser(text: &str) -> bool {
    let fast_ok = super::fast_path_reads(text);
    let full = super::scan_text_full_parser(Path::new("f"), text);
    if fast_ok {
        let got = scan_text(Path::new("f"), text).expect("fast path accepted it");
        let want = full
            .unwrap_or_else(|e| panic!("fast path accepted what the parser rejects: {e}\n{text}"));
        assert_eq!(got.summary(), want.summary(), "\n{text}");
    } else if let Ok(want) = full {
        let got = scan_text(Path::new("f"), text)
            .unwrap_or_else(|e| panic!("the parser accepts the whole text: {e}\n{text}"));
        assert_eq!(got.summary(), want.summary(), "per document\n{text}");
    }
    fast_ok
}

fn mutations(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = Vec::new();
    for i in 0..lines.len() {
        let join = |f: &dyn Fn(usize, &str) -> Option<String>| -> String {
            lines
                .iter()
                .enumerate()
                .filter_map(|(j, l)| if j == i { f(j, l) } else { Some(l.to_string()) })
                .collect()
        };
        out.push(join(&|_, _| None)); // delete
        out.push(join(&|_, l| Some(format!("{l}{l}")))); // duplicate
        out.push(join(&|_, l| Some(format!(" {l}")))); // indent
        out.push(join(&|_, l| Some(format!("  {l}"))));
        out.push(join(&|_, l| {
            Some(l.strip_prefix(' ').unwrap_or(l).to_string())
        })); // dedent
        out.push(join(&|_, l| {
            Some(l.strip_prefix("  ").unwrap_or(l).to_string())
        }));
        out.push(join(&|_, l| Some(l.replacen(": ", ":  ", 1))));
        out.push(join(&|_, l| Some(l.replacen("- ", "-  ", 1))));
        out.push(join(&|_, l| Some(l.replacen(": ", ":\n    ", 1))));
        out.push(join(&|_, l| Some(l.replacen("\n", " # c\n", 1))));
    }
    out
}

#[test]
fn fast_path_matches_the_full_parser() {
    let mut inputs: Vec<String> = ["multi.yaml", "compose.yaml", "tekton-argo.yaml", "crd.yaml"]
        .iter()
        .map(|f| fixture(f))
        .collect();
    inputs.push(
        "\
a:
- x
- 'y'
- \"z\" # c
-
- - 1
  - 2
-   k: v
    image: nginx:1   # c
  - bad
b:
  - c: d
    e:
    f: {x: 1}
image:
c: 'it''s'
d: \"a\\nb\"
---
--- # c
image: 42
...
"
        .to_string(),
    );
    inputs.push(
        "\
spec:
  containers: [{name: a, image: 'b:1'}, {image: \"c:2\", name: c}]
  x: [a, b , 'c', \"d\", [e, {f: g}], {}, [], h:i, 'j':k]
  resources: {limits: {cpu: \"1\", memory: 1Gi}, requests: {cpu: 100m}} # c
  bad: [a, b
  image: {repository: x}
  initContainers:
    - {name: i, image: busybox}
    - [image, x]
    - {image: , name: z}
    - {image: [x]}
    - {a: b, image: ok:1}x
    - {\"image\":\"json:1\"}
    - [a: b]
    - [-x, - y]
    - {a: b #c}
"
        .to_string(),
    );
    let unicode: String = "# café ☕ 日本\nmetadata: {name: \"crème 🍮\", namespace: 東京}\nspec:\n  containers:\n  - {name: \"é🙂中\", image: \"nginx:1.25\"} # ü\n  - name: 日本\n    image: ghcr.io/acme/app:v1 # 💥\n  - image: é:1\n  - image: [é]\n  - image: {é: 1}\n".into();
    assert!(
        crate::yaml::fast::events(&unicode, |_, _| {}).is_ok(),
        "fast path takes non-ASCII text"
    );
    assert!(same_as_full_parser(&unicode));
    inputs.push(unicode);
    inputs.push("\u{feff}image: a:1\n".into());
    inputs.push("image: a\u{85}b\n".into());
    // Per-document fallback: documents the fast path reads between
    // documents it gives up on (block scalars, anchors, `...`, non-ASCII
    // before and after), and a CRD skipped unparsed.
    inputs.push(
        "\
# café
kind: Pod
spec:
  containers:
  - image: a:1 # é
---
kind: ConfigMap
data:
  script: |
    echo 日本
    ---x
  image: b:2
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  image: crd:1
  x: |
    y
---
kind: Pod
spec:
  containers: &c
  - image: \"c:3\"
  initContainers: *c
...
# after the end
---
kind: Pod # ü
spec: {containers: [{image: d:4}]}
--- >
  folded
---
image: e:5
"
        .to_string(),
    );
    inputs.push("kind: Pod\r\nspec:\r\n  containers:\r\n  - image: a:1\r\n    name: x\r\n".into());
    inputs.push("- a\n-b\n- c: d\n  e: f\n-\n  g: h\n".into());
    inputs.push("  a: 1\n  b: 2\nc: 3\n".into());
    inputs.push("a:\n  - x\n  b: 1\n".into());
    inputs.push("key: value: x\nimage: -1\nimage: -\n".into());
    for item in [
        "{name: i, image: busybox}",
        "[image, x]",
        "{image: , name: z}",
        "{image: [x]}",
        "{image: {a: b}}",
        "{a: b, image: ok:1}x",
        "{\"image\":\"json:1\"}",
        "{\"image\": \"json:1\"}",
        "{'image': 'it''s'}",
        "[a: b]",
        "[-x, - y]",
        "{a: b #c}",
        "{a: b} # c",
        "{a: b,}",
        "[a, b,]",
        "[,]",
        "{image: http://x:1, b: c:d}",
        "{image: a:1 , name: n }",
        "{image: \"a\\u003a1\"}",
        "{image: 42, imagePullPolicy: Always}",
        "{image: ~}",
        "{image: 'x:1', image: 'y:2'}",
        "{name: [[[[]]]], image: z:1}",
    ] {
        inputs.push(format!(
            "spec:\n  initContainers:\n    - {item}\n    - image: after:1\n"
        ));
        inputs.push(format!("image: {item}\n"));
    }
    let mut engaged = 0;
    let mut total = 0;
    for text in &inputs {
        let mut all = vec![text.clone()];
        all.extend(mutations(text));
        for cut in (0..text.len())
            .step_by(7)
            .filter(|&c| text.is_char_boundary(c))
        {
            all.push(text[..cut].to_string());
        }
        for t in &all {
            total += 1;
            if same_as_full_parser(t) {
                engaged += 1;
            }
        }
    }
    // The fast path must actually take most plain manifests.
    assert!(crate::yaml::fast::events(&fixture("multi.yaml"), |_, _| {}).is_ok());
    assert!(crate::yaml::fast::events(&fixture("tekton-argo.yaml"), |_, _| {}).is_ok());
    assert!(crate::yaml::fast::events(FLOW_AT_PARENT_INDENT, |_, _| {}).is_err());
    eprintln!("fast path took {engaged} of {total} inputs");
    assert!(engaged * 4 > total, "{engaged} of {total}");
}

/// Literal and folded block scalars and multi-line plain scalars are read
/// by the fast path (their values built as the parser builds them), and
/// every mutation and truncation of them reads as the full parser reads it.
#[test]
fn fast_path_reads_block_and_multi_line_scalars_as_the_parser_does() {
    let inputs = [
        "\
kind: ConfigMap
metadata:
  name: s
  annotations:
    note: >
      folded text
      goes on

      after a blank line
    plain: a multi-line
      plain scalar

      with a blank line
    image: nginx:1
data:
  run.sh: |
    #!/bin/sh
      indented more
    echo \"key: value # not a comment\"\t tab

    done
  keep: |+
    kept

  strip: >-
    stripped
    text
  empty: x
spec:
  containers:
  - name: a
    image: a:1
    args:
    - |
      line one
      line two
    - >-
      folded item
    - plain item
      continued
    - last
  - image: b:2 # c
",
        "a: |\r\n  crlf\r\n  lines\r\nimage: c:3\r\n",
        "a: |\n  at the end\n",
        "a:\n- |-\n  x\n- y\n  z\nimage: d:4\n",
        "a:\n  b: |\n    deep\n  image: e:5\nc: >\n  f\n",
    ];
    let mut engaged = 0;
    let mut total = 0;
    for text in inputs {
        assert!(super::fast_path_reads(text), "fast path reads\n{text}");
        assert!(same_as_full_parser(text));
        let mut all = mutations(text);
        all.extend(
            (0..text.len())
                .filter(|&c| text.is_char_boundary(c))
                .map(|c| text[..c].to_string()),
        );
        for t in &all {
            total += 1;
            if same_as_full_parser(t) {
                engaged += 1;
            }
        }
    }
    eprintln!("fast path took {engaged} of {total} inputs");
    assert!(engaged * 2 > total, "{engaged} of {total}");
}

#[test]
fn image_with_a_sibling_tag_key_is_a_repository_not_a_reference() {
    // Argo `withItems` parameters and Helm-style values split the reference.
    let text = "steps:\n  - withItems:\n    - { image: 'debian', tag: '9.1' }\n    - image: alpine\n      tag: \"3.6\"\n  - image: busybox:1.36\n";
    let scan = scan_text(std::path::Path::new("w.yaml"), text).unwrap();
    let found: Vec<_> = scan.images.iter().map(|i| i.reference.original()).collect();
    assert_eq!(found, vec!["busybox:1.36"]);
    assert_eq!(scan.warnings.len(), 2, "{:?}", scan.warnings);
    assert!(scan.warnings[0].message.contains("sibling `tag`"));
    assert_eq!((scan.warnings[0].line, scan.warnings[0].column), (3, 17));
}

#[test]
fn pod_pull_secrets_service_accounts_and_secrets() {
    let text = r#"apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: ci}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          serviceAccountName: builder
          imagePullSecrets:
            - name: one
            - {name: two}
          initContainers:
            - name: i
              image: busybox:1.36
          containers:
            - name: c
              image: alpine:3.19
          volumes:
            - name: v
              image: {reference: "registry.k8s.io/pause:3.9"}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: ci}
imagePullSecrets: [{name: sa-secret}]
---
apiVersion: v1
kind: Secret
metadata:
  name: one
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: eyJhdXRocyI6e319
stringData:
  other: plain-value
---
services:
  web:
    image: nginx:1.25
"#;
    let s = scan(text);
    let want = PodRef {
        pull_secrets: vec!["one".into(), "two".into()],
        service_account: Some("builder".into()),
    };
    for r in ["busybox:1.36", "alpine:3.19", "registry.k8s.io/pause:3.9"] {
        assert_eq!(
            find(&s, r).context.kubernetes().unwrap().pod.as_ref(),
            Some(&want),
            "{r}"
        );
    }
    // A compose service has no pod.
    assert!(find(&s, "nginx:1.25").context.kubernetes().is_none());
    assert_eq!(s.service_accounts.len(), 1);
    let sa = &s.service_accounts[0];
    assert_eq!(sa.namespace.as_deref(), Some("ci"));
    assert_eq!(sa.pull_secrets, ["sa-secret"]);
    assert_eq!(s.secrets.len(), 1);
    let sec = &s.secrets[0];
    assert_eq!(
        (sec.name.as_deref(), sec.namespace.as_deref()),
        (Some("one"), None)
    );
    assert_eq!(
        sec.secret_type.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    assert_eq!(sec.data[0].0, ".dockerconfigjson");
    assert_eq!(sec.data[0].1.expose(), "eyJhdXRocyI6e319");
    assert_eq!(sec.string_data[0].1.expose(), "plain-value");
    assert!(!format!("{sec:?}").contains("plain-value"));
    assert_eq!(sec.line, 28);
}

/// Every continuation shape Go YAML accepts (flow collections and quoted
/// scalars continued at or below the parent key, plain scalars continued
/// inside flow, comments inside flow, nesting, and more than 64 of them in
/// one file): all references found, positions exact.
#[test]
fn continuation_shapes_go_yaml_accepts() {
    let text = fixture("continuations.yaml");
    assert!(
        saphyr_parser::Parser::new_from_str(&text).any(|e| e.is_err()),
        "the parser accepts this now: the workaround may be unneeded"
    );
    // One pre-pass finds every line to indent (no learning from errors).
    let patched = crate::yaml::indent_fix::IndentFix::continuations(&text)
        .apply(&text)
        .text;
    assert!(saphyr_parser::Parser::new_from_str(&patched).all(|e| e.is_ok()));
    let s = scan(&text);
    let mut want = vec![
        "nginx:1.25".to_string(),
        "busybox:1.36".into(),
        "redis:7".into(),
        "alpine:3.20".into(),
        "ghcr.io/acme/app:v1".into(),
        "quay.io/acme/tool:2".into(),
        "registry.k8s.io/pause:3.9".into(),
        "debian:12".into(),
    ];
    want.extend((0..80).map(|i| format!("example.com/many:{i}")));
    assert_eq!(refs(&s), want);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert!(s.invalid.is_empty(), "{:?}", s.invalid);
    assert!(s.images.iter().all(|i| i.exact));
    let busybox = find(&s, "busybox:1.36");
    assert_eq!((busybox.line, busybox.column), (24, 13));
    assert_eq!(
        busybox.context.kubernetes().unwrap().container.as_deref(),
        Some("flow-seq-at-column-0")
    );
    let last = find(&s, "example.com/many:79");
    assert_eq!(&text[last.span.clone()], "example.com/many:79");
}

/// Tags before the value, including verbatim tags with commas: the span
/// holds only the value, with the fast path and the full parser alike.
#[test]
fn tags_with_commas_are_not_in_the_span() {
    let text = "\
kind: Pod
spec:
  containers:
  - image: !<tag:yaml.org,2002:str> nginx:1.25
  - image: !!str redis:7
  - image: !local alpine:3
  - {name: x, image: !<tag:yaml.org,2002:str> 'busybox:1'}
  - image: &a !<tag:yaml.org,2002:str>   \"debian:12\" # c
  - image: !<tag:yaml.org,2002:int> 42
";
    let s = scan(text);
    assert_eq!(
        refs(&s),
        [
            "nginx:1.25",
            "redis:7",
            "alpine:3",
            "busybox:1",
            "debian:12"
        ]
    );
    for img in &s.images {
        assert!(img.exact, "{img:?}");
        assert_eq!(&text[img.span.clone()], img.reference.original());
    }
    assert_eq!(find(&s, "nginx:1.25").column, 37);
    // `!<tag:yaml.org,2002:int> 42` is an int, not a string.
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    // The fast path leaves tags to the parser; both give the same result.
    assert!(!same_as_full_parser(text));
    let full = super::scan_text_full_parser(Path::new("t.yaml"), text).unwrap();
    assert_eq!(s.summary(), full.summary());
}

/// Nothing in a CustomResourceDefinition is an image (`properties`,
/// `example`, `default`, `enum`, `x-kubernetes-*`), also inside a `kind:
/// List`; the Deployment beside it still is, at its exact position.
#[test]
fn crd_documents_name_no_image() {
    let text = fixture("crd-bundle.yaml");
    let s = scan(&text);
    assert_eq!(refs(&s), ["ghcr.io/example/widget-operator:v1.0.0"]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert!(s.invalid.is_empty(), "{:?}", s.invalid);
    let op = &s.images[0];
    assert_eq!((op.line, op.column), (54, 16));
    assert_eq!(op.document, 1);
    assert_eq!(
        op.context.kubernetes().unwrap().kind.as_deref(),
        Some("Deployment")
    );
}

/// A compose service with `build:` names the image it builds: marked, so
/// `lock` leaves it alone; Kubernetes containers never are.
#[test]
fn compose_services_that_build_are_marked() {
    let text = "\
services:
  app:
    build: {context: .}
    image: ghcr.io/acme/app:dev
  db:
    image: postgres:16
";
    let s = scan(text);
    assert_eq!(refs(&s), ["ghcr.io/acme/app:dev", "postgres:16"]);
    assert!(s.images[0].built());
    assert!(!s.images[1].built());
    let pod = "kind: Pod\nspec:\n  containers:\n  - {name: a, image: 'a:1', build: x}\n";
    assert!(!scan(pod).images[0].built());
}

/// [`Scope::KnownManifests`] reads images only from documents imagelock
/// knows, and says once per file how many `image` values it left.
#[test]
fn known_manifests_scope_skips_other_documents_with_one_note() {
    let text = "\
image: assets/images/social.png
---
apiVersion: v1
kind: Pod
spec: {containers: [{name: a, image: 'nginx:1.25'}]}
---
jobs:
  build:
    runs-on: ubuntu-latest
    container: {image: 'node:20'}
---
resources: [a.yaml]
---
logo: {image: a.png}
";
    let s = crate::scan::scan_text_in(Path::new("d/x.yaml"), text, Scope::KnownManifests).unwrap();
    check_invariants(text, &s);
    assert_eq!(refs(&s), ["nginx:1.25", "node:20"]);
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(s.notes[0].starts_with("d/x.yaml: 2 `image` value(s) not read"));
    // Everything: every document, as for a file named on the command line.
    let all = scan(text);
    assert_eq!(
        refs(&all),
        ["assets/images/social.png", "nginx:1.25", "node:20", "a.png"]
    );
    assert!(all.notes.is_empty());
}

/// Compose services are read by the compose extractor: each service's
/// `image` (through merge keys) with its name, `pull_policy` and `build`.
#[test]
fn compose_context_names_the_service_and_its_pull_policy() {
    let text = "\
x-base: &base
  pull_policy: always
  build: ./app
services:
  app:
    <<: *base
    image: ghcr.io/acme/app:dev
  cache:
    image: 'valkey/valkey:7.2'
    pull_policy: missing
    labels: {image: not-a-service-image}
";
    let s = scan(text);
    assert_eq!(refs(&s), ["ghcr.io/acme/app:dev", "valkey/valkey:7.2"]);
    assert_eq!(
        s.images[0].context,
        Context::Compose(ComposeService {
            service: "app".into(),
            pull_policy: Some("always".into()),
            built: true,
            ..Default::default()
        })
    );
    assert_eq!(s.images[1].context.pull_policy(), Some("missing"));
    assert!(!s.images[1].built());
    // A Kubernetes object with a `services` key is not a compose file.
    let k = scan("kind: Thing\nservices:\n  a:\n    image: b:1\n");
    assert!(k.images[0].context.kubernetes().is_some());
}

/// Every image found today is replaced in place: its plan is its span.
#[test]
fn found_images_plan_to_replace_their_span() {
    for name in [
        "multi.yaml",
        "compose.yaml",
        "tekton-argo.yaml",
        "continuations.yaml",
    ] {
        let text = fixture(name);
        let s = scan(&text);
        assert!(!s.images.is_empty(), "{name}");
        for i in &s.images {
            assert_eq!(
                i.edit,
                EditPlan::Replace {
                    span: i.span.clone()
                },
                "{name}"
            );
        }
    }
}

/// The tree tells an extractor where a sibling key can go: on a line of
/// its own after a block mapping entry whose value ends its line (also the
/// first entry of a sequence item), or after the value in a flow mapping.
#[test]
fn sibling_insert_after_a_block_or_flow_entry() {
    use crate::yaml::{InsertPoint, SiblingInsert};
    struct Points(Vec<Option<SiblingInsert>>);
    impl crate::yaml::Documents for Points {
        fn document(&mut self, doc: &crate::yaml::Doc<'_>, _: u32, _: usize) {
            for id in 0..doc.len() as u32 {
                for kv in doc.map_entries(id).chunks_exact(2) {
                    if doc.scalar_str(kv[0]) == Some("image") {
                        self.0.push(doc.sibling_insert(id, kv[0], kv[1]));
                    }
                }
            }
        }
        fn restart(&mut self) {
            self.0.clear();
        }
    }
    let text = "spec:\r\n  containers:\r\n  - name: a\r\n    image: a:1 # c\r\n  - {name: b, image: b:1}\r\n  - image: 'c:1'\r\n    name: c\r\n  - image: |\r\n      d:1\r\n";
    for fast in [true, false] {
        let mut p = Points(Vec::new());
        crate::yaml::parse(text, fast, &mut p).unwrap();
        let after = text.find("# c\r\n").unwrap() + 5;
        let flow = text.find("b:1}").unwrap() + 3;
        let after_c = text.find("'c:1'\r\n").unwrap() + 7;
        assert_eq!(
            p.0,
            [
                Some(SiblingInsert::Block(InsertPoint {
                    after_line_end: after,
                    indent: "    ".into()
                })),
                Some(SiblingInsert::Flow {
                    at: flow,
                    json: false
                }),
                Some(SiblingInsert::Block(InsertPoint {
                    after_line_end: after_c,
                    indent: "    ".into()
                })),
                None,
            ],
            "fast: {fast}"
        );
    }
}

/// Collect what [`crate::scan::scan_file_each`] hands over, part by part.
fn parts(text: &str) -> Vec<FileScan> {
    let mut parts = Vec::new();
    crate::scan::scan_file_each(
        Path::new("t.yaml"),
        text,
        Scope::Everything,
        crate::scan::Options::default(),
        &mut |p| {
            parts.push(p);
        },
    )
    .expect("scan");
    parts
}

/// The scan hands over each document's findings as the document ends (the
/// commands never hold a file's images), in order, each document once:
/// also when a later document needs the Go-YAML indentation fix (the
/// earlier ones are read again, not handed over again) and when the fast
/// path gives up on a text that cannot be cut into documents (the full
/// parser starts over).
#[test]
fn streams_one_part_per_document() {
    let plain = "kind: Pod\nspec:\n  containers:\n  - image: a:1\n  - image: b:1\n";
    let cases = [
        // cut into documents, all on the fast path
        (format!("{plain}---\n{plain}---\n{plain}"), 3, 6),
        // the second document needs the indentation fix
        (
            format!("{plain}---\n{FLOW_AT_PARENT_INDENT}---\n{plain}"),
            3,
            7,
        ),
        // a directive: read whole; the fast path gives up at the anchor in
        // the second document
        (
            format!("%YAML 1.2\n---\n{plain}---\nkind: Pod\nspec:\n  containers:\n  - image: &i c:1\n  - image: *i\n---\n{plain}"),
            3,
            5,
        ),
    ];
    for (text, documents, images) in cases {
        let parts = parts(&text);
        assert_eq!(parts.len(), documents, "{text}");
        for (n, part) in parts.iter().enumerate() {
            assert!(!part.images.is_empty(), "{text}");
            assert!(part.images.iter().all(|i| i.document == n), "{text}");
        }
        let mut all = FileScan::default();
        for p in parts {
            all.append(p);
        }
        assert_eq!(all.images.len(), images, "{text}");
        // Positions exact, no span twice.
        check_invariants(&text, &all);
        assert_eq!(all.summary(), scan(&text).summary());
    }
}

// Images are what a kubelet or controller pulls, not every key named `image`.

const LABELLED_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {image: nginx}
  annotations:
    image: logo.png
spec:
  selector:
    matchLabels:
      image: nginx
  template:
    metadata:
      labels:
        image: nginx
    spec:
      initContainers:
      - name: init
        image: busybox:1.36
      containers:
      - name: web
        image: nginx:1.25
      volumes:
      - name: models
        image:
          reference: ghcr.io/acme/models:v1
          pullPolicy: IfNotPresent
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: site
data:
  image: assets/images/social.png
";

fn fields(s: &FileScan) -> Vec<(&str, Option<crate::scan::KubernetesField>)> {
    s.images
        .iter()
        .map(|i| {
            (
                i.reference.original(),
                i.context.kubernetes().and_then(|c| c.field),
            )
        })
        .collect()
}

#[test]
fn a_built_in_kind_holds_images_only_in_its_pod_spec() {
    use crate::scan::KubernetesField as F;
    let s = scan(LABELLED_DEPLOYMENT);
    assert_eq!(
        fields(&s),
        [
            ("busybox:1.36", Some(F::InitContainers)),
            ("nginx:1.25", Some(F::Containers)),
            ("ghcr.io/acme/models:v1", Some(F::VolumeReference)),
        ]
    );
    assert!(s.invalid.is_empty(), "{:?}", s.invalid);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // Labels, the annotation, the selector, the template's label and the
    // ConfigMap's data: five left, said once for the file.
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(
        s.notes[0].contains("5 value(s) named `image` left unread"),
        "{:?}",
        s.notes
    );
}

#[test]
fn every_workload_kind_is_read_at_its_pod_spec() {
    let cases = [
        ("v1", "Pod", "spec:\n  containers:\n  - image: a:1\n"),
        ("v1", "PodTemplate", "template:\n  spec:\n    containers:\n    - image: a:1\n"),
        ("v1", "ReplicationController", "spec:\n  template:\n    spec:\n      containers:\n      - image: a:1\n"),
        ("apps/v1", "StatefulSet", "spec:\n  template:\n    spec:\n      containers:\n      - image: a:1\n"),
        ("apps/v1", "DaemonSet", "spec:\n  template:\n    spec:\n      containers:\n      - image: a:1\n"),
        ("apps/v1", "ReplicaSet", "spec:\n  template:\n    spec:\n      containers:\n      - image: a:1\n"),
        ("batch/v1", "Job", "spec:\n  template:\n    spec:\n      containers:\n      - image: a:1\n"),
        ("batch/v1", "CronJob", "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          ephemeralContainers:\n          - image: a:1\n"),
    ];
    for (api, kind, body) in cases {
        let text =
            format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  labels:\n    image: x\n{body}");
        let s = scan(&text);
        assert_eq!(refs(&s), ["a:1"], "{kind}");
        assert_eq!(s.notes.len(), 1, "{kind}: {:?}", s.notes);
        // An image key elsewhere in a built-in kind is not pulled.
        let text = format!("apiVersion: {api}\nkind: {kind}\nstatus:\n  image: b:2\n{body}");
        assert_eq!(refs(&scan(&text)), ["a:1"], "{kind}");
    }
}

#[test]
fn kinds_that_hold_no_images_yield_none() {
    for (api, kind) in [
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("v1", "Namespace"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("networking.k8s.io/v1", "Ingress"),
        ("apps/v1", "ControllerRevision"),
    ] {
        let text = format!(
            "apiVersion: {api}\nkind: {kind}\ndata:\n  image: nginx:1\nspec:\n  image: nginx:1\n"
        );
        let s = scan(&text);
        assert!(s.images.is_empty(), "{kind}: {:?}", refs(&s));
        assert!(s.invalid.is_empty(), "{kind}");
        assert_eq!(s.notes.len(), 1, "{kind}");
        assert!(s.notes[0].contains("2 value(s)"), "{kind}: {:?}", s.notes);
    }
}

#[test]
fn list_items_are_objects_of_their_own() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  data: {image: logo.png}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {labels: {image: web}}
  spec:
    template:
      spec:
        containers: [{name: web, image: 'nginx:1.25'}]
- apiVersion: argoproj.io/v1alpha1
  kind: Rollout
  spec:
    template:
      spec:
        containers:
        - image: ghcr.io/acme/app:2
";
    use crate::scan::KubernetesField as F;
    let s = scan(text);
    assert_eq!(
        fields(&s),
        [
            ("nginx:1.25", Some(F::Containers)),
            ("ghcr.io/acme/app:2", Some(F::CustomResource)),
        ]
    );
    let web = find(&s, "nginx:1.25");
    assert_eq!(
        web.context.kubernetes().unwrap().kind.as_deref(),
        Some("Deployment")
    );
    assert!(s.notes[0].contains("2 value(s)"), "{:?}", s.notes);
}

#[test]
fn custom_resources_leave_metadata_selectors_data_and_values() {
    let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  labels:
    image: web
  annotations: {image: logo.png}
spec:
  selector:
    matchLabels:
      image: web
  template:
    metadata:
      labels:
        image: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
spec:
  values:
    image: my-repo/app
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
spec:
  image: quay.io/prometheus/prometheus:v2.50.0
  config:
    image: not-this
  podMetadata:
    labels:
      image: prom
---
apiVersion: pkg.crossplane.io/v1
kind: Object
spec:
  forProvider:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      data:
        image: embedded.png
";
    let s = scan(text);
    assert_eq!(
        refs(&s),
        ["nginx:1.25", "quay.io/prometheus/prometheus:v2.50.0"]
    );
    assert!(s.invalid.is_empty(), "{:?}", s.invalid);
    assert!(s.notes[0].contains("8 value(s)"), "{:?}", s.notes);
    let web = find(&s, "nginx:1.25");
    let c = web.context.kubernetes().unwrap();
    assert_eq!(c.field, Some(crate::scan::KubernetesField::CustomResource));
    assert_eq!(c.container.as_deref(), Some("web"));
    assert!(c.pod.is_some());
}

#[test]
fn a_file_with_no_image_left_has_no_note() {
    let s = scan("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: a:1\n");
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}
