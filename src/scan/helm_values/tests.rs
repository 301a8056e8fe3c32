use super::*;
use crate::scan::{scan_text_in, FileScan, Scope};

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn scan(path: &Path, text: &str) -> FileScan {
    scan_text_in(path, text, Scope::HelmValues).unwrap()
}

fn refs(s: &FileScan) -> Vec<(usize, usize, String)> {
    s.images
        .iter()
        .map(|i| (i.line, i.column, i.reference.original().to_string()))
        .collect()
}

fn helm(i: &FoundImage) -> &HelmImage {
    match &i.context {
        Context::HelmValues(h) => h,
        c => panic!("not a values image: {c:?}"),
    }
}

#[test]
fn names_that_are_values_files() {
    for n in [
        "values.yaml",
        "values.yml",
        "values-prod.yaml",
        "x/values.dev.yml",
    ] {
        assert!(is_values_name(Path::new(n)), "{n}");
    }
    for n in ["my-values.yaml", "values.json", "values", "Chart.yaml"] {
        assert!(!is_values_name(Path::new(n)), "{n}");
    }
}

#[test]
fn a_digest_key_takes_the_prefixed_digest() {
    let text = "image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 8.2.1\n  digest: \"\"\n";
    let s = scan(Path::new("values.yaml"), text);
    assert_eq!(
        refs(&s),
        [(3, 15, "docker.io/bitnami/redis:8.2.1".to_string())]
    );
    let img = &s.images[0];
    assert_eq!(&text[img.span.clone()], "bitnami/redis");
    assert_eq!(img.field, ImageField::HelmRepository);
    assert_eq!(helm(img).digest_key.as_deref(), Some("digest"));
    let EditPlan::SetValue { span, .. } = &img.edit else {
        panic!("{:?}", img.edit)
    };
    assert_eq!(&text[span.clone()], "\"\"");

    // A digest written is part of the reference.
    let pinned = text.replace("\"\"", &format!("sha256:{HEX}"));
    let s = scan(Path::new("values.yaml"), &pinned);
    assert_eq!(
        s.images[0].reference.original(),
        format!("docker.io/bitnami/redis:8.2.1@sha256:{HEX}")
    );
    let EditPlan::SetValue { span, .. } = &s.images[0].edit else {
        panic!()
    };
    assert_eq!(&pinned[span.clone()], format!("sha256:{HEX}"));
}

#[test]
fn a_sha_key_takes_the_bare_hex() {
    let text = "thanosImage:\n  registry: quay.io\n  repository: thanos/thanos\n  tag: v0.42.4\n  sha: ''\n";
    let s = scan(Path::new("values.yaml"), text);
    assert_eq!(
        refs(&s),
        [(3, 15, "quay.io/thanos/thanos:v0.42.4".to_string())]
    );
    assert_eq!(helm(&s.images[0]).key, "thanosImage");
    assert_eq!(helm(&s.images[0]).digest_key.as_deref(), Some("sha"));
    let EditPlan::SetDigestHex { span, .. } = &s.images[0].edit else {
        panic!("{:?}", s.images[0].edit)
    };
    assert_eq!(&text[span.clone()], "''");

    let pinned = text.replace("''", HEX);
    let s = scan(Path::new("values.yaml"), &pinned);
    assert_eq!(
        s.images[0].reference.original(),
        format!("quay.io/thanos/thanos:v0.42.4@sha256:{HEX}")
    );
    // An empty value: the edit goes right after the colon.
    let bare = text.replace(" ''", "");
    let s = scan(Path::new("values.yaml"), &bare);
    let EditPlan::SetDigestHex { span, .. } = &s.images[0].edit else {
        panic!()
    };
    assert!(span.is_empty() && bare[..span.start].ends_with("sha:"));
}

#[test]
fn no_digest_key_is_unpinnable() {
    let text = "app:\n  image:\n    repository: nginx\n    tag: \"1.25\"\n    pullPolicy: Always\n";
    let s = scan(Path::new("values.yaml"), text);
    assert_eq!(refs(&s), [(3, 17, "nginx:1.25".to_string())]);
    assert_eq!(helm(&s.images[0]).key, "app.image");
    assert!(matches!(s.images[0].edit, EditPlan::Unpinnable { .. }));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn registry_joins_and_an_empty_one_is_left_out() {
    let text = "a:\n  registry: ghcr.io/\n  repository: org/a\n  tag: v1\nb:\n  registry: \"\"\n  repository: org/b\n  tag: v2\n";
    let s = scan(Path::new("values.yaml"), text);
    let got: Vec<_> = refs(&s).into_iter().map(|r| r.2).collect();
    // `ghcr.io/` + `/` + `org/a` is `ghcr.io//org/a` unless the template
    // trims the slash: left to the chart, with a warning at the registry.
    assert_eq!(got, ["org/b:v2"]);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert_eq!((s.warnings[0].line, s.warnings[0].column), (2, 3));
    let text = text.replace("ghcr.io/", "ghcr.io");
    let s = scan(Path::new("values.yaml"), &text);
    let got: Vec<_> = refs(&s).into_iter().map(|r| r.2).collect();
    assert_eq!(got, ["ghcr.io/org/a:v1", "org/b:v2"]);
}

#[test]
fn an_empty_tag_is_the_app_version_the_templates_print() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values.yaml");
    let text = "image:\n  repository: nginx\n  tag: \"\"\n  digest: \"\"\nother:\n  repository: busybox\n  tag:\n  digest:\n";
    // Without Chart.yaml: a warning at each tag, no image.
    let s = scan(&values, text);
    assert!(s.images.is_empty());
    let w: Vec<_> = s
        .warnings
        .iter()
        .map(|w| (w.line, w.column, w.message.as_str()))
        .collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!((w[0].0, w[0].1), (3, 9)); // after the quote
    assert_eq!((w[1].0, w[1].1), (7, 3));
    assert!(w[0].2.starts_with("image.tag is empty") && w[0].2.contains("Chart.yaml"));
    assert!(w[1].2.starts_with("other.tag is empty"));

    fs_err::write(dir.path().join("Chart.yaml"), "apiVersion: v2\nname: x\n").unwrap();
    let s = scan(&values, text);
    assert!(s.images.is_empty());
    assert!(s.warnings[0].message.contains("has no appVersion"));

    // appVersion, but no templates to say how it is printed.
    fs_err::write(
        dir.path().join("Chart.yaml"),
        "apiVersion: v2\nname: x\nappVersion: \"1.27.0\"\n",
    )
    .unwrap();
    let s = scan(&values, text);
    assert!(s.images.is_empty());
    assert!(
        s.warnings[0].message.contains("templates"),
        "{:?}",
        s.warnings
    );

    // A template printing `image`'s unchanged: that one is read; `other`
    // is printed nowhere, so it stays a warning.
    fs_err::create_dir(dir.path().join("templates")).unwrap();
    fs_err::write(
        dir.path().join("templates/deploy.yaml"),
        "image: \"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}\"\n",
    )
    .unwrap();
    let s = scan(&values, text);
    let got: Vec<_> = refs(&s).into_iter().map(|r| r.2).collect();
    assert_eq!(got, ["nginx:1.27.0"]);
    assert!(helm(&s.images[0]).app_version);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].message.starts_with("other.tag is empty"));

    // A `v` added anywhere: no appVersion is trusted.
    fs_err::write(
        dir.path().join("templates/other.yaml"),
        "image: \"{{ .Values.other.repository }}:v{{ .Values.other.tag | default .Chart.AppVersion }}\"\n",
    )
    .unwrap();
    let s = scan(&values, text);
    assert!(s.images.is_empty());
    assert!(
        s.warnings[0].message.contains("templates/other.yaml:1"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn quoted_tags_are_strings_and_number_tags_are_warned() {
    let text = "a:\n  repository: x\n  tag: 'latest'\nb:\n  repository: y\n  tag: \"1.10\"\nc:\n  repository: z\n  tag: 1.10\n";
    let s = scan(Path::new("values.yaml"), text);
    let got: Vec<_> = refs(&s).into_iter().map(|r| r.2).collect();
    assert_eq!(got, ["x:latest", "y:1.10"]);
    assert_eq!(s.warnings.len(), 1);
    assert_eq!((s.warnings[0].line, s.warnings[0].column), (9, 8));
    assert!(s.warnings[0].message.contains("quote it"));
}

#[test]
fn non_image_mappings_and_comments_are_not_images() {
    let text = "# image: quay.io/commented:1\nimage:\n  distroless: true\nprometheus:\n  ## image:\n  ##   repository: x\n  repository: https://charts.example\nlist:\n  - name: a\n    image: busybox:1.36\n  - image: \"\"\n";
    let s = scan(Path::new("values.yaml"), text);
    assert_eq!(refs(&s), [(10, 12, "busybox:1.36".to_string())]);
    assert_eq!(helm(&s.images[0]).key, "list[0].image");
    assert!(matches!(s.images[0].edit, EditPlan::Replace { .. }));
    // `image: ""` is the chart's default: a warning at its key.
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert_eq!((s.warnings[0].line, s.warnings[0].column), (11, 5));
    assert!(s.warnings[0].message.starts_with("list[1].image is empty"));
    assert!(s.notes.is_empty());
}

#[test]
fn global_image_registry_leaves_each_image_to_the_template() {
    let text = "global:\n  imageRegistry: mirror.example\nimage:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: '8'\n  digest: ''\nplain:\n  image: nginx:1.25\n";
    let s = scan(Path::new("values.yaml"), text);
    // The split mapping is not read; a plain string is not composed.
    let got: Vec<_> = refs(&s).into_iter().map(|r| r.2).collect();
    assert_eq!(got, ["nginx:1.25"]);
    assert_eq!(s.warnings.len(), 1);
    assert_eq!((s.warnings[0].line, s.warnings[0].column), (5, 3));
    assert!(s.warnings[0]
        .message
        .starts_with("image: global.imageRegistry"));
}

#[test]
fn an_anchored_image_is_reported_once() {
    let text = "a: &img\n  repository: x\n  tag: '1'\n  digest: ''\nb: *img\n";
    let s = scan(Path::new("values.yaml"), text);
    assert_eq!(s.images.len(), 1);
}

#[test]
fn a_registry_for_every_image_leaves_split_mappings_to_the_chart() {
    for global in [
        "global:\n  image:\n    registry: mirror.example.net\n",
        "global:\n  cattle:\n    systemDefaultRegistry: mirror.example.net\n",
        "systemDefaultRegistry: mirror.example.net\n",
        "global:\n  imageRegistry: mirror.example.net\n",
    ] {
        let text = format!("{global}app:\n  image:\n    registry: quay.io\n    repository: acme/app\n    tag: \"1\"\n");
        let s = scan(Path::new("values.yaml"), &text);
        assert!(s.images.is_empty(), "{global}: {:?}", refs(&s));
        assert_eq!(s.warnings.len(), 1, "{global}: {:?}", s.warnings);
        assert!(
            s.warnings[0].message.contains("mirror.example.net"),
            "{:?}",
            s.warnings
        );
    }
}

#[test]
fn a_templated_image_string_under_an_image_key_is_a_warning() {
    let text = "other:\n  imageSidecar: \"${REGISTRY}/nginx:1.0\"\n  imageAgent: \"{{ .Values.r }}/agent:1\"\n";
    let s = scan(Path::new("values.yaml"), text);
    assert!(s.images.is_empty());
    let at: Vec<_> = s.warnings.iter().map(|w| (w.line, w.column)).collect();
    assert_eq!(at, [(2, 3), (3, 3)], "{:?}", s.warnings);
    assert!(s
        .warnings
        .iter()
        .all(|w| w.message.contains("helm template")));
}
