use super::*;
use crate::reference::Digest;
use crate::rewrite::{apply, pin_value, plan_edit};
use std::path::Path;

fn scan(text: &str) -> FileScan {
    let s = scan_text(Path::new("Dockerfile"), text);
    for img in &s.images {
        let slice = text.get(img.span.clone()).expect("span on char boundaries");
        let d = ctx(img);
        if img.exact && d.pin == DockerfilePin::Reference {
            assert_eq!(slice, img.reference.original(), "{img:?}");
        }
        if img.exact && d.pin == DockerfilePin::AppendDigest {
            assert!(img.reference.original().ends_with(slice), "{img:?}");
        }
    }
    s
}

fn refs(s: &FileScan) -> Vec<&str> {
    s.images.iter().map(|i| i.reference.original()).collect()
}

fn ctx(i: &FoundImage) -> &DockerfileContext {
    match &i.context {
        Context::Dockerfile(d) => d,
        other => panic!("not a Dockerfile context: {other:?}"),
    }
}

fn digest() -> Digest {
    Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap()
}

/// The file as `pin` writes it: the image's plan carried out.
fn pin(text: &str, img: &FoundImage) -> String {
    let value = pin_value(&img.edit, &img.reference, &digest());
    let edit = plan_edit(text, &img.edit, &value).unwrap();
    apply(text, &[edit])
}

#[test]
fn multi_stage_skips_stage_names_scratch_and_indexes() {
    let text = "FROM golang:1.22 AS Build\nRUN go build\nFROM build AS test\nFROM scratch\nCOPY --from=BUILD /app /app\nCOPY --from=0 /a /a\nCOPY --from=nginx:1.25 /etc/nginx /etc/nginx\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["golang:1.22", "nginx:1.25"]);
    let go = &s.images[0];
    assert_eq!((go.line, go.column), (1, 6));
    assert_eq!(&text[go.span.clone()], "golang:1.22");
    assert_eq!(ctx(go).instruction, DockerfileInstruction::From);
    assert_eq!(ctx(go).stage.as_deref(), Some("Build"));
    let nginx = &s.images[1];
    assert_eq!(ctx(nginx).instruction, DockerfileInstruction::CopyFrom);
    assert_eq!(ctx(nginx).stage, None);
    assert_eq!((nginx.line, nginx.column), (7, 13));
    assert!(s.warnings.is_empty() && s.invalid.is_empty(), "{s:?}");
}

#[test]
fn platform_flag_and_lower_case_as() {
    let s = scan("from --platform=$BUILDPLATFORM alpine:3.20 as base\nFROM base as final\n");
    assert_eq!(refs(&s), ["alpine:3.20"]);
    let c = ctx(&s.images[0]);
    assert_eq!(c.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(c.stage.as_deref(), Some("base"));
    assert_eq!(s.images[0].column, 32);
}

#[test]
fn continuation_lines_with_comments_between() {
    let text = "FROM \\\n  # the base\n\n  --platform=linux/amd64 \\\n  debian:12 \\\n  AS base\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["debian:12"]);
    let d = &s.images[0];
    assert_eq!((d.line, d.column), (5, 3));
    assert!(d.exact);
    assert_eq!(&text[d.span.clone()], "debian:12");
    assert_eq!(ctx(d).stage.as_deref(), Some("base"));
    assert_eq!(ctx(d).platform.as_deref(), Some("linux/amd64"));
}

#[test]
fn reference_split_by_a_continuation_is_not_exact() {
    let s = scan("FROM debian:\\\n12\n");
    assert_eq!(refs(&s), ["debian:12"]);
    assert!(!s.images[0].exact);
}

#[test]
fn arg_default_is_the_whole_reference() {
    let text = "ARG BASE=\"nginx:1.25\"\nFROM $BASE AS a\nFROM ${BASE}\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25", "nginx:1.25"]);
    for img in &s.images {
        assert_eq!(&text[img.span.clone()], "nginx:1.25");
        assert_eq!(img.style, QuoteStyle::DoubleQuoted);
        assert_eq!(ctx(img).pin, DockerfilePin::Reference);
        assert_eq!(ctx(img).via_arg.as_deref(), Some("BASE"));
        assert!(img.exact);
    }
    // Two FROMs, one ARG: the same span, so one edit.
    assert_eq!(s.images[0].span, s.images[1].span);
    assert_eq!((s.images[1].line, s.images[1].column), (3, 6));
    assert_eq!(
        pin(text, &s.images[0]),
        format!(
            "ARG BASE=\"nginx:1.25@{}\"\nFROM $BASE AS a\nFROM ${{BASE}}\n",
            digest()
        )
    );
}

#[test]
fn arg_value_that_ends_the_reference_takes_the_digest() {
    let text = format!(
        "ARG TAG=1.25@sha256:{}\nFROM nginx:${{TAG}}\n",
        "b".repeat(64)
    );
    let s = scan(&text);
    let img = &s.images[0];
    assert_eq!(img.reference.tag(), Some("1.25"));
    assert_eq!(ctx(img).pin, DockerfilePin::AppendDigest);
    assert!(img.exact);
    assert_eq!(
        pin(&text, img),
        format!("ARG TAG=1.25@{}\nFROM nginx:${{TAG}}\n", digest())
    );
}

#[test]
fn arg_in_the_middle_pins_the_literal_tail() {
    let text = "ARG REPO=nginx\nFROM ${REPO}:1.25\n";
    let s = scan(text);
    let img = &s.images[0];
    assert_eq!(img.reference.original(), "nginx:1.25");
    assert_eq!(ctx(img).pin, DockerfilePin::AppendDigest);
    assert_eq!(&text[img.span.clone()], ":1.25");
    assert_eq!(
        pin(text, img),
        format!("ARG REPO=nginx\nFROM ${{REPO}}:1.25@{}\n", digest())
    );
}

#[test]
fn arg_that_ends_one_reference_and_is_inside_another_pins_each_word() {
    let text = "ARG V=3.20\nFROM alpine:$V\nFROM alpine:${V}-slim\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["alpine:3.20", "alpine:3.20-slim"]);
    assert!(s.images.iter().all(|i| i.exact));
    let d = digest();
    assert_eq!(
        pin(text, &s.images[0]),
        format!("ARG V=3.20\nFROM alpine:$V@{d}\nFROM alpine:${{V}}-slim\n")
    );
    assert_eq!(
        pin(text, &s.images[1]),
        format!("ARG V=3.20\nFROM alpine:$V\nFROM alpine:${{V}}-slim@{d}\n")
    );
}

#[test]
fn arg_modifiers_follow_buildkit() {
    let text = "ARG SET=1.25\nARG EMPTY=\nARG NODEF\nFROM a:${NODEF:-1}\nFROM b:${EMPTY:-2}\nFROM c:${EMPTY-3}x\nFROM d:${SET:+4}\nFROM e${NODEF:+:5}\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["a:1", "b:2", "c:x", "d:4", "e"]);
    // `${NODEF:-1}` pins after the expansion, in the FROM line.
    let end = text.find("${NODEF:-1}").unwrap() + "${NODEF:-1}".len();
    assert_eq!(s.images[0].span, end..end);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn unresolved_arg_is_a_warning_at_its_location() {
    let s = scan("ARG GO_VERSION\nFROM golang:${GO_VERSION} AS go\nFROM $UNDECLARED\n");
    assert!(s.images.is_empty() && s.invalid.is_empty());
    let at: Vec<_> = s.warnings.iter().map(|w| (w.line, w.column)).collect();
    assert_eq!(at, [(2, 6), (3, 6)]);
    assert!(
        s.warnings[0].message.contains("GO_VERSION"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn arg_after_the_first_from_does_not_reach_from() {
    let s = scan("FROM alpine:3.20\nARG TAG=1\nFROM nginx:$TAG\n");
    assert_eq!(refs(&s), ["alpine:3.20"]);
    assert_eq!(s.warnings.len(), 1);
}

#[test]
fn invalid_value_after_substitution() {
    let s = scan("ARG IMG=Nginx:1.25\nFROM $IMG\n");
    assert!(s.images.is_empty());
    assert_eq!(s.invalid.len(), 1);
    assert_eq!(s.invalid[0].value, "Nginx:1.25");
    assert_eq!((s.invalid[0].line, s.invalid[0].column), (2, 6));
}

#[test]
fn run_mount_from_image_and_stage() {
    let text = "FROM alpine:3.20 AS tools\nRUN --network=none --mount=type=bind,from=tools,target=/t \\\n    --mount=type=cache,target=/c,from=busybox:1.36 make\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["alpine:3.20", "busybox:1.36"]);
    let b = &s.images[1];
    assert_eq!(ctx(b).instruction, DockerfileInstruction::RunMount);
    assert_eq!(ctx(b).stage.as_deref(), Some("tools"));
    assert_eq!(&text[b.span.clone()], "busybox:1.36");
    assert_eq!(b.line, 3);
}

#[test]
fn syntax_directive_is_an_image_and_ends_at_the_first_comment() {
    let text = "# syntax = docker/dockerfile:1.7\n# escape=\\\n# syntax=ignored/after:1\nFROM alpine:3.20\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["docker/dockerfile:1.7", "alpine:3.20"]);
    let d = &s.images[0];
    assert_eq!(ctx(d).instruction, DockerfileInstruction::Syntax);
    assert_eq!((d.line, d.column), (1, 12));
    assert_eq!(&text[d.span.clone()], "docker/dockerfile:1.7");
}

#[test]
fn heredocs_are_skipped() {
    let text = "FROM alpine:3.20\nRUN <<EOF\nFROM not/an:image\nEOF\nCOPY <<-\"END\" /x\n\tFROM nor/this:one\n\tEND\nRUN cat <<A <<B\nFROM a:1\nA\nFROM b:1\nB\nFROM debian:12\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["alpine:3.20", "debian:12"]);
}

#[test]
fn escape_directive_backtick() {
    let text = "# escape=`\nFROM `\n  mcr.microsoft.com/windows/servercore:ltsc2022 `\n  AS win\nRUN dir c:\\\nFROM win\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["mcr.microsoft.com/windows/servercore:ltsc2022"]);
    assert_eq!(ctx(&s.images[0]).stage.as_deref(), Some("win"));
    assert_eq!(s.images[0].line, 3);
}

#[test]
fn comments_and_crlf() {
    let text = "# FROM commented:1\r\nFROM alpine:3.20 # not a comment to Docker, but a word\r\nFROM redis:7\r\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["alpine:3.20", "redis:7"]);
    assert_eq!(&text[s.images[1].span.clone()], "redis:7");
}

#[test]
fn dockerfile_names() {
    for yes in [
        "Dockerfile",
        "dockerfile",
        "Containerfile",
        "api.Dockerfile",
        "app.containerfile",
        "Dockerfile.dev",
        "Dockerfile-alpine",
        "Containerfile.ubi9",
        "app_dockerfile",
        "argo-cd-Dockerfile",
        "dir/Dockerfile",
    ] {
        assert!(is_dockerfile_name(Path::new(yes)), "{yes}");
    }
    for no in [
        "Dockerfile.dockerignore",
        "Dockerfile.md",
        "Dockerfiles",
        "notaDockerfile",
        "values.yaml",
        "Dockerfile.yaml",
        "Dockerfile.j2",
        "dockerfile.rs",
        "src/scan/dockerfile.rs",
        "Dockerfile.",
    ] {
        assert!(!is_dockerfile_name(Path::new(no)), "{no}");
    }
}

#[test]
fn append_digest_replaces_an_existing_digest_and_adds_latest() {
    // `FROM example.com/${NAME}` with no tag: the ARG value gets `:latest`.
    let s = scan("ARG NAME=nginx\nFROM example.com/${NAME}\n");
    assert_eq!(ctx(&s.images[0]).pin, DockerfilePin::AppendDigest);
    assert_eq!(
        pin("ARG NAME=nginx\nFROM example.com/${NAME}\n", &s.images[0]),
        format!(
            "ARG NAME=nginx:latest@{}\nFROM example.com/${{NAME}}\n",
            digest()
        )
    );
    // A digest already in the ARG value is replaced, never stacked.
    let text = format!(
        "ARG TAG=1.25@sha256:{}\nFROM nginx:${{TAG}}\n",
        "b".repeat(64)
    );
    let s = scan(&text);
    assert_eq!(
        pin(&text, &s.images[0]),
        format!("ARG TAG=1.25@{}\nFROM nginx:${{TAG}}\n", digest())
    );
}

#[test]
fn heredocs_open_only_as_a_shell_word_of_their_own() {
    let count = |t: &str| instructions::parse(t).instructions.len();
    for (text, n) in [
        ("RUN sed 's/x<<EOF/y/' f\nFROM a\n", 2),
        ("RUN echo $((1<<3))\nFROM a\n", 2),
        ("RUN python -c \"print(1<<4)\"\nFROM a\n", 2),
        ("RUN cat <<EOF\nFROM a\nEOF\nFROM b\n", 2),
        ("RUN 3<<EOF cat\nFROM a\nEOF\nFROM b\n", 2),
        ("RUN cat <<'E1' <<\"E2\"\nx\nE1\ny\nE2\nFROM b\n", 2),
        ("COPY <<-EOT /x\n\tFROM a\n\tEOT\nFROM b\n", 2),
        // Not a word of its own: BuildKit opens no heredoc.
        ("RUN cat<<EOF\nFROM a\nEOF\nFROM b\n", 4),
        // Only RUN, COPY and ADD take heredocs, as ONBUILD triggers too
        // (BuildKit's canContainHeredoc looks through ONBUILD).
        ("ONBUILD RUN <<EOF\nFROM a\nEOF\n", 1),
        ("ENV A <<EOF\nFROM a\n", 2),
        // `<< EOF` (a blank after `<<`) is two words: no heredoc.
        ("RUN cat << EOF\nFROM a\n", 2),
    ] {
        assert_eq!(count(text), n, "{text:?}");
    }
}

#[test]
fn nested_and_chained_defaults_expand_in_order() {
    let text = "ARG D=\"\"\nARG R=${R:-ghcr.io/acme}\nARG V=${X:-\"1.0\"}\nFROM ${R}/app:${V}${D:+@${D}}\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["ghcr.io/acme/app:1.0"]);
    let img = &s.images[0];
    assert!(img.exact);
    assert_eq!(img.span, text.len() - 1..text.len() - 1);
}

#[test]
fn an_arg_for_identical_references_is_one_shared_edit() {
    let text =
        "ARG IMG=nginx:1.25\nFROM $IMG AS a\nFROM alpine:3.20\nARG IMG\nCOPY --from=${IMG} / /\n";
    let s = scan(text);
    assert_eq!(refs(&s), ["nginx:1.25", "alpine:3.20", "nginx:1.25"]);
    for img in [&s.images[0], &s.images[2]] {
        assert_eq!(&text[img.span.clone()], "nginx:1.25");
        assert_eq!(img.edit, EditPlan::Replace { span: 8..18 });
    }
}
