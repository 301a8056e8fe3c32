use super::*;
use crate::rewrite::{apply, normalize, plan_edit, PlanError};
use crate::scan::{scan_text, scan_text_full_parser, FileScan};

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Scan `text` as `kustomization.yaml`, checking the fast path and the
/// full parser agree.
fn scan(text: &str) -> FileScan {
    scan_named("kustomization.yaml", text)
}

fn scan_named(name: &str, text: &str) -> FileScan {
    let path = Path::new(name);
    let s = scan_text(path, text).unwrap();
    let full = scan_text_full_parser(path, text).unwrap();
    assert_eq!(s.summary(), full.summary(), "fast path and parser differ");
    s
}

fn refs(s: &FileScan) -> Vec<&str> {
    s.images.iter().map(|i| i.reference.original()).collect()
}

fn ctx(i: &FoundImage) -> &KustomizeImage {
    match &i.context {
        Context::Kustomize(k) => k,
        other => panic!("not a kustomize context: {other:?}"),
    }
}

/// The file as `pin` writes it: every plan carried out with the digest.
fn pin(text: &str, s: &FileScan) -> Result<String, PlanError> {
    let edits = s
        .images
        .iter()
        .map(|i| plan_edit(text, &i.edit, D))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(apply(text, &normalize(edits).unwrap()))
}

#[test]
fn name_and_new_tag_insert_a_digest_under_the_entry() {
    let text = "resources:\n- deployment.yaml\nimages:\n- name: nginx\n  newTag: \"1.25\"\n- name: redis\n  newTag: 7.2-alpine\nnamePrefix: x-\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25", "redis:7.2-alpine"]);
    let nginx = &s.images[0];
    assert_eq!((nginx.line, nginx.column), (4, 9));
    assert_eq!(&text[nginx.span.clone()], "nginx");
    assert_eq!(nginx.field, ImageField::KustomizeImages);
    assert_eq!(
        ctx(nginx),
        &KustomizeImage {
            name: "nginx".into(),
            new_name: None,
            new_tag: Some("1.25".into()),
            digest: None,
        }
    );
    assert!(nginx.exact);
    assert!(
        matches!(&nginx.edit, EditPlan::InsertKey { indent, key, .. } if indent == "  " && key == "digest")
    );
    assert!(s.warnings.is_empty() && s.invalid.is_empty(), "{s:?}");
    assert_eq!(
        pin(text, &s).unwrap(),
        format!("resources:\n- deployment.yaml\nimages:\n- name: nginx\n  newTag: \"1.25\"\n  digest: {D}\n- name: redis\n  newTag: 7.2-alpine\n  digest: {D}\nnamePrefix: x-\n")
    );
}

#[test]
fn new_name_and_new_tag_name_the_new_image_at_new_name() {
    let text =
        "images:\n  - name: app\n    newName: registry.example.com/team/app\n    newTag: v2\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["registry.example.com/team/app:v2"]);
    let app = &s.images[0];
    assert_eq!((app.line, app.column), (3, 14));
    assert_eq!(&text[app.span.clone()], "registry.example.com/team/app");
    assert_eq!(ctx(app).name, "app");
    assert_eq!(
        ctx(app).new_name.as_deref(),
        Some("registry.example.com/team/app")
    );
    assert_eq!(
        pin(text, &s).unwrap(),
        format!("{text}    digest: {D}\n"),
        "inserted at the entry's own indentation"
    );
}

#[test]
fn name_only_and_new_name_only_are_warnings_not_guesses() {
    let text = "images:\n- name: nginx\n- name: app\n  newName: other/app\n";
    let s = scan(text);
    assert!(s.images.is_empty(), "{s:?}");
    let w: Vec<(usize, usize)> = s.warnings.iter().map(|w| (w.line, w.column)).collect();
    assert_eq!(w, [(2, 9), (4, 12)]);
    assert!(
        s.warnings[1].message.contains("newName \"other/app\"")
            && s.warnings[1].message.contains("kustomize keeps the tag"),
        "{:?}",
        s.warnings[1]
    );
}

#[test]
fn an_existing_digest_is_pinned_and_replaced_in_place() {
    let other = format!("sha256:{}", "f".repeat(64));
    let text = format!("images:\n- name: nginx\n  newTag: \"1.25\"\n  digest: {other} # old\n");
    let s = scan(&text);
    assert_eq!(refs(&s), [format!("nginx:1.25@{other}").as_str()]);
    let img = &s.images[0];
    assert_eq!(img.reference.digest().unwrap().to_string(), other);
    assert_eq!(ctx(img).digest.as_deref(), Some(other.as_str()));
    assert!(matches!(img.edit, EditPlan::SetValue { .. }));
    assert_eq!(
        pin(&text, &s).unwrap(),
        format!("images:\n- name: nginx\n  newTag: \"1.25\"\n  digest: {D} # old\n")
    );
}

#[test]
fn a_digest_without_new_tag_is_digest_only() {
    let text = format!("images:\n- name: nginx\n  newName: mirror/nginx\n  digest: {D}\n");
    let s = scan(&text);
    assert_eq!(refs(&s), [format!("mirror/nginx@{D}").as_str()]);
    assert_eq!(s.images[0].reference.tag(), None);
    assert!(s.warnings.is_empty(), "{s:?}");
}

#[test]
fn empty_digest_values_are_filled() {
    for (digest, written) in [
        ("  digest: \"\"\n", format!("  digest: {D}\n")),
        ("  digest: ''\n", format!("  digest: {D}\n")),
        ("  digest:\n", format!("  digest: {D}\n")),
        ("  digest: ~\n", format!("  digest: {D}\n")),
    ] {
        let text = format!("images:\n- name: nginx\n  newTag: \"1\"\n{digest}");
        let s = scan(&text);
        assert_eq!(refs(&s), ["nginx:1"], "{digest}");
        assert_eq!(
            pin(&text, &s).unwrap(),
            format!("images:\n- name: nginx\n  newTag: \"1\"\n{written}"),
            "{digest}"
        );
    }
}

#[test]
fn crlf_and_comments_are_kept() {
    let text = "# images\r\nimages: # pinned by imagelock\r\n- name: nginx # web\r\n  # the tag\r\n  newTag: '1.25' # keep\r\n\r\n# end\r\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25"]);
    assert_eq!((s.images[0].line, s.images[0].column), (3, 9));
    assert_eq!(
        pin(text, &s).unwrap(),
        format!("# images\r\nimages: # pinned by imagelock\r\n- name: nginx # web\r\n  # the tag\r\n  newTag: '1.25' # keep\r\n  digest: {D}\r\n\r\n# end\r\n")
    );
}

#[test]
fn a_first_line_entry_takes_the_digest_when_the_last_is_multi_line() {
    let text = "images:\n- name: nginx\n  newTag: >-\n    1.25\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25"]);
    assert_eq!(
        pin(text, &s).unwrap(),
        format!("images:\n- name: nginx\n  digest: {D}\n  newTag: >-\n    1.25\n")
    );
}

#[test]
fn a_flow_entry_takes_the_digest_after_its_last_value() {
    let text = "images:\n- {name: nginx, newTag: \"1.25\"}\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25"]);
    assert_eq!((s.images[0].line, s.images[0].column), (2, 10));
    assert_eq!(
        pin(text, &s).unwrap(),
        format!("images:\n- {{name: nginx, newTag: \"1.25\", digest: {D}}}\n")
    );
    // With a digest key there is a value to write: that works.
    let text = "images: [{name: nginx, newTag: \"1.25\", digest: \"\"}]\n";
    let s = scan(text);
    assert_eq!(
        pin(text, &s).unwrap(),
        format!("images: [{{name: nginx, newTag: \"1.25\", digest: {D}}}]\n")
    );
}

#[test]
fn a_kustomization_is_not_read_by_the_kubernetes_rules() {
    // `helmCharts[].valuesInline` and inline patches hold `image` keys:
    // none of them is an image of the kustomization.
    let text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nhelmCharts:\n- name: web\n  valuesInline:\n    image: nginx:1.0\npatches:\n- target: {kind: Deployment}\n  patch: |-\n    - op: replace\n      path: /spec/template/spec/containers/0/image\n      value: nginx:2\nimages:\n- name: nginx\n  newTag: \"3\"\n";
    for name in ["kustomization.yaml", "overlay.yaml"] {
        let s = scan_named(name, text);
        assert_eq!(refs(&s), ["nginx:3"], "{name}");
    }
    // A Component by its apiVersion and kind, in any file.
    let text = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n- name: a\n  newTag: b\n";
    assert_eq!(refs(&scan_named("component.yaml", text)), ["a:b"]);
    // The same keys in a Kubernetes object are Kubernetes rules' business.
    let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: nginx:1\n";
    assert_eq!(refs(&scan_named("pod.yaml", text)), ["nginx:1"]);
}

#[test]
fn file_names_and_invalid_entries() {
    assert!(is_kustomization_name(Path::new("k/kustomization.yml")));
    assert!(is_kustomization_name(Path::new("Kustomization")));
    assert!(!is_kustomization_name(Path::new("kustomization.json")));
    let text = "images:\n- newTag: \"1\"\n- name: Nginx\n  newTag: \"1\"\n- name: app\n  newTag: ${TAG}\n- just-a-string\n";
    let s = scan(text);
    assert!(s.images.is_empty(), "{s:?}");
    assert_eq!(s.invalid.len(), 1, "{s:?}");
    assert_eq!((s.invalid[0].line, s.invalid[0].column), (3, 9));
    assert_eq!(s.invalid[0].value, "Nginx:1");
    let w: Vec<(usize, usize)> = s.warnings.iter().map(|w| (w.line, w.column)).collect();
    assert_eq!(w, [(2, 3), (5, 9), (7, 3)], "{:?}", s.warnings);
}
