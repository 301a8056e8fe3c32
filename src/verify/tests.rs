use super::*;
use crate::reference::Digest;
use crate::rewrite::{normalize, pin_value, plan_edit};
use crate::scan::{scan_file, FileScan, Scope};

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The edits `pin --pull-policy if-not-present` plans for every image.
fn pin_edits(text: &str, s: &FileScan) -> Vec<Edit> {
    let digest = Digest::parse(D).unwrap();
    let mut edits = Vec::new();
    for img in &s.images {
        let value = pin_value(&img.edit, &img.reference, &digest);
        edits.push(plan_edit(text, &img.edit, &value).unwrap());
        if let Some(plan) = img
            .context
            .kubernetes()
            .and_then(|c| c.pull_policy_edit.clone())
        {
            edits.push(plan_edit(text, &plan, "IfNotPresent").unwrap());
        }
    }
    normalize(edits).unwrap()
}

fn planned(path: &str, text: &str) -> Vec<Edit> {
    let s = scan_file(Path::new(path), text, Scope::Everything).unwrap();
    assert!(!s.images.is_empty(), "{path}: no image in {text}");
    pin_edits(text, &s)
}

/// Every kind of planned edit passes on the text it was planned for.
#[test]
fn the_edits_pin_plans_read_back_as_planned() {
    let cases = [
        ("a.yaml", "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: \"a:1\" # c\n    imagePullPolicy: Always\n  - {name: b, image: 'b:1'}\n  - {name: c,\n     image: c:1, # inside\n    }\n  - {name: d,\n     image: 'd:1' # the image\n    }\n"),
        ("b.yaml", "kind: Pod\r\nspec:\r\n  containers:\r\n  - &x {image: a:1}\r\n  - *x\r\n"),
        ("kustomization.yaml", "images:\n- name: a\n  newTag: \"1\"\n- {name: b,\n   newTag: '2'}\n- name: c\n  newTag: \"3\"\n  digest: \"\"\n- name: d\n  newTag: '4'"),
        ("values.yaml", "image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: \"7.2\"\n  sha: \"\"\nother:\n  repository: bitnami/os-shell\n  tag: \"12\"\n  digest:\n"),
        ("Dockerfile", "# syntax=docker/dockerfile:1\nARG TAG=1.25\nFROM nginx:${TAG} AS web\nFROM --platform=$BUILDPLATFORM golang:1.22 \\\n  AS build\nCOPY --from=busybox:1.36 /bin/sh /sh\n"),
    ];
    for (path, text) in cases {
        let scope = if path == "values.yaml" {
            Scope::HelmValues
        } else {
            Scope::Everything
        };
        let s = scan_file(Path::new(path), text, scope).unwrap();
        assert!(!s.images.is_empty(), "{path}");
        let edits = pin_edits(text, &s);
        if let Err(m) = check(Path::new(path), text, &edits) {
            panic!("{path}: {m}\n{}", apply(text, &edits));
        }
    }
}

fn edit(text: &str, at: &str, replacement: &str, change: Change) -> Edit {
    let start = text.find(at).unwrap();
    Edit {
        span: start..start + at.len(),
        replacement: replacement.into(),
        change,
    }
}

fn insert(text: &str, before: &str, replacement: &str, change: Change) -> Edit {
    let at = text.find(before).unwrap();
    Edit {
        span: at..at,
        replacement: replacement.into(),
        change,
    }
}

fn fails(path: &str, text: &str, edits: &[Edit]) -> Mismatch {
    match check(Path::new(path), text, edits) {
        Ok(()) => panic!("{path}: passed:\n{}", apply(text, edits)),
        Err(m) => m,
    }
}

/// The defect of the last round: a key inserted on a line of its own
/// inside a flow mapping spread over lines, without a comma.
#[test]
fn a_key_inserted_inside_braces_without_a_comma_is_caught() {
    let text = "images:\n- {name: app,\n    newTag: \"1.0\"\n  }\n";
    let beside = text.find("newTag").unwrap();
    let e = insert(
        text,
        "  }",
        &format!("    digest: {D}\n"),
        Change::Add {
            beside,
            key: "digest".into(),
            value: D.into(),
        },
    );
    let m = fails("kustomization.yaml", text, &[e]);
    assert_eq!((m.line, m.column), (4, 1), "{m}");
    assert!(m.what.contains("would not be YAML"), "{m}");
    // Inserted after the closing brace instead: valid YAML, but the key is
    // not where the plan put it.
    let e = insert(
        text,
        "  }
",
        "",
        Change::Add {
            beside,
            key: "digest".into(),
            value: D.into(),
        },
    );
    let m = fails("kustomization.yaml", text, &[e]);
    assert!(m.what.contains("document 1 at images[0]"), "{m}");
    // The same insertion done right passes.
    let at = text.find("\"1.0\"").unwrap() + 5;
    let e = Edit {
        span: at..at,
        replacement: format!(", digest: {D}"),
        change: Change::Add {
            beside,
            key: "digest".into(),
            value: D.into(),
        },
    };
    check(Path::new("kustomization.yaml"), text, &[e]).unwrap();
}

#[test]
fn an_edit_that_breaks_quoting_or_structure_is_caught() {
    let text = "kind: Pod\nspec:\n  containers:\n  - image: 'a:1'\n    name: a\n";
    // A quote in the replacement ends the scalar early.
    let e = edit(text, "a:1", "a:1'x", Change::Splice);
    let m = fails("a.yaml", text, &[e]);
    assert!(m.what.contains("would not be YAML"), "{m}");
    // A new document.
    let e = edit(text, "a:1", "a:1'\n---\nb: '", Change::Splice);
    fails("a.yaml", text, &[e]);
    // A value that changes more than planned: the planned value is one
    // thing, the bytes say another.
    let e = edit(text, "a:1", "a:2", Change::Splice);
    check(Path::new("a.yaml"), text, &[e]).unwrap();
    let start = text.find("name: a").unwrap() + 6;
    let e = Edit {
        span: start..start + 1,
        replacement: "b".into(),
        change: Change::Set {
            key_at: text.find("image").unwrap(),
            value: "a".into(),
        },
    };
    let m = fails("a.yaml", text, &[e]);
    assert_eq!(m.line, 4, "{m}");
}

#[test]
fn an_edit_no_reader_sees_is_caught() {
    let text = "kind: Pod # image: a:1\nspec: {}\n";
    let e = edit(text, "a:1", "a:1@x", Change::Splice);
    let m = fails("a.yaml", text, std::slice::from_ref(&e));
    assert!(m.what.contains("would not read as one value"), "{m}");
    assert_eq!((m.line, m.column), (1, 20), "{m}");
    // The same through the full comparison of both trees (a document that
    // also gets a key added).
    let text = "kind: Pod # image: a:1\nspec: {a: b}\n";
    let e = edit(text, "a:1", "a:1@x", Change::Splice);
    let beside = text.find("a: b").unwrap();
    let at = beside + 4;
    let add = Edit {
        span: at..at,
        replacement: ", c: d".into(),
        change: Change::Add {
            beside,
            key: "c".into(),
            value: "d".into(),
        },
    };
    let m = fails("a.yaml", text, &[e, add]);
    assert!(m.what.contains("changes no value"), "{m}");
    assert_eq!((m.line, m.column), (1, 20), "{m}");
}

/// A splice that ends its value early, runs it on, or breaks it into two
/// is caught by the one-reading check.
#[test]
fn a_splice_that_breaks_its_value_is_caught() {
    let text = "kind: Pod\nspec:\n  containers:\n  - image: a:1 # c\n  - {image: b:1, name: x}\n  - image: \"c:1\"\n";
    for (at, bad) in [
        ("a:1", "a:1 #x"),
        ("a:1", "a:1\n  - image: z"),
        ("b:1", "b:1, y: z"),
        ("b:1", "b:1}"),
        ("c:1", "c:1\" x"),
    ] {
        let e = edit(text, at, bad, Change::Splice);
        let m = check(Path::new("a.yaml"), text, &[e]);
        assert!(
            m.is_err(),
            "{bad:?} passed: {}",
            apply(text, &[edit(text, at, bad, Change::Splice)])
        );
    }
}

#[test]
fn a_skipped_custom_resource_definition_must_not_change() {
    let text = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  image: a:1\n---\nkind: Pod\nspec:\n  containers:\n  - image: b:1\n";
    let crd = edit(text, "a:1", "a:2", Change::Splice);
    let pod = edit(text, "b:1", &format!("b:1@{D}"), Change::Splice);
    check(Path::new("a.yaml"), text, std::slice::from_ref(&pod)).unwrap();
    let m = fails("a.yaml", text, &[crd, pod]);
    assert!(m.what.contains("changes no value"), "{m}");
}

#[test]
fn a_dockerfile_edit_must_stay_inside_its_word() {
    let text = "FROM nginx:1.25 AS web\nRUN echo nginx:1.25\n";
    let ok = edit(
        text,
        "nginx:1.25",
        &format!("nginx:1.25@{D}"),
        Change::Splice,
    );
    check(Path::new("Dockerfile"), text, &[ok]).unwrap();
    // A line break makes a new instruction.
    let e = edit(text, "nginx:1.25", "nginx:1.25\nRUN x", Change::Splice);
    let m = fails("Dockerfile", text, &[e]);
    assert!(m.what.contains("instruction"), "{m}");
    // An edit inside a heredoc body touches no instruction.
    let text = "FROM a:1\nRUN <<EOF\nnginx:1.25\nEOF\n";
    let e = edit(text, "nginx:1.25", "x", Change::Splice);
    let m = fails("Dockerfile", text, &[e]);
    assert_eq!(m.line, 3, "{m}");
}

#[test]
fn files_needing_the_indentation_workaround_are_checked_too() {
    // Go-YAML accepts a flow sequence's continuation at the key's column.
    let text =
        "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: a:1\n    args: [\n    \"x\"]\n";
    let edits = planned("a.yaml", text);
    check(Path::new("a.yaml"), text, &edits).unwrap();
}
