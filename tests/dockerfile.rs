//! End-to-end: Dockerfiles through the real binary. `list` over the real
//! corpus files, and `lock`, `pin` (byte-exact, idempotent), `check` and
//! `check --remote` drift against the real CNCF distribution registry, with
//! every locked digest cross-checked against skopeo.

mod support;

use std::path::Path;

use support::e2e::{assert_locked, pin_twice, run};
use support::run::{expect_code, text};
use support::{Registry, Setup};

#[test]
fn lock_pin_check_and_drift_of_a_multi_stage_dockerfile() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let syntax = reg.push_oci_image("docker/dockerfile", "1", "syntax");
    let base = reg.push_oci_image("team/base", "1.0", "base");
    let app = reg.push_oci_image("team/app", "2", "app");
    let tools = reg.push_oci_image("team/tools", "1", "tools");
    let cache = reg.push_oci_image("team/cache", "3", "cache");
    let original = format!(
        "# syntax={h}/docker/dockerfile:1\n\
         ARG BASE=\"{h}/team/base:1.0\"\n\
         ARG TAG=2\n\
         ARG GO_VERSION\n\
         FROM --platform=$BUILDPLATFORM $BASE AS build\n\
         RUN --mount=type=cache,target=/c,from={h}/team/cache:3 \\\n    --mount=from=build,target=/b make\n\
         RUN <<EOF\nFROM {h}/not/an:image\nEOF\n\
         FROM golang:${{GO_VERSION}} as go\n\
         FROM {h}/team/app:${{TAG}}\n\
         # a comment\n\
         COPY --from=build /app /app\n\
         COPY --from={h}/team/tools:1 /bin/t /bin/t\n\
         FROM ${{BASE}}\n\
         FROM scratch\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("Dockerfile");
    fs_err::write(&file, &original).unwrap();

    let o = run(&reg, d, &["lock", "."]);
    expect_code(&o, 0);
    assert!(
        text(&o.stderr).contains("Dockerfile:11:6") && text(&o.stderr).contains("GO_VERSION"),
        "the unresolved ARG is a warning at its place: {}",
        text(&o.stderr)
    );
    assert_locked(
        &reg,
        d,
        &[
            ("docker/dockerfile:1", &syntax),
            ("team/base:1.0", &base),
            ("team/app:2", &app),
            ("team/tools:1", &tools),
            ("team/cache:3", &cache),
        ],
    );

    let pinned = pin_twice(&reg, d, &["pin", "."], &file, &original);
    // The ARG used by two FROMs is pinned once, in the ARG line.
    assert!(
        pinned.contains(&format!("ARG BASE=\"{h}/team/base:1.0@{base}\"\n")),
        "{pinned}"
    );
    assert!(pinned.contains(&format!("ARG TAG=2@{app}\n")), "{pinned}");
    assert!(pinned.contains("FROM --platform=$BUILDPLATFORM $BASE AS build\n"));
    assert!(pinned.contains(&format!("# syntax={h}/docker/dockerfile:1@{syntax}\n")));
    assert!(pinned.contains(&format!("from={h}/team/cache:3@{cache} ")));
    assert!(pinned.contains(&format!("COPY --from={h}/team/tools:1@{tools} ")));
    assert_eq!(pinned.matches("@sha256:").count(), 5, "{pinned}");

    let o = run(&reg, d, &["check", "."]);
    expect_code(&o, 0);
    assert!(
        !text(&o.stderr).contains("imagePullPolicy"),
        "no pull-policy reasoning for a Dockerfile: {}",
        text(&o.stderr)
    );

    // The tag moves: check --remote sees it.
    let moved = reg.push_oci_image("team/base", "1.0", "moved");
    assert_ne!(moved, base);
    assert_eq!(reg.skopeo_digest("team/base:1.0"), moved);
    let o = run(&reg, d, &["check", "--remote", "."]);
    expect_code(&o, 1);
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(all.contains(&moved) && all.contains(&base), "{all}");
    assert!(
        all.contains("Dockerfile:5:"),
        "the drift names the FROM line: {all}"
    );
}

#[test]
fn pin_writes_the_digest_into_each_from_word_when_an_arg_is_shared() {
    // V ends one reference and sits inside another: its default cannot
    // hold either digest, so each FROM word takes its own.
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let a = reg.push_oci_image("team/alpine", "3.20", "a");
    let b = reg.push_oci_image("team/alpine", "3.20-slim", "b");
    let original =
        format!("ARG V=3.20\nFROM {h}/team/alpine:$V\nFROM {h}/team/alpine:${{V}}-slim\n");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("app.Dockerfile");
    fs_err::write(&file, &original).unwrap();
    expect_code(&run(&reg, d, &["lock", "."]), 0);
    let pinned = pin_twice(&reg, d, &["pin", "."], &file, &original);
    assert_eq!(
        pinned,
        format!("ARG V=3.20\nFROM {h}/team/alpine:$V@{a}\nFROM {h}/team/alpine:${{V}}-slim@{b}\n")
    );
}

#[test]
fn list_finds_every_image_in_a_multi_stage_dockerfile_and_nothing_else() {
    // testdata/dockerfile/Dockerfile: the syntax directive, --platform,
    // a heredoc holding a FROM line, RUN --mount from an image, lower-case
    // `from`/`as`, stage names and a stage index, COPY --from an image, an
    // ARG with a default and one without.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/dockerfile");
    let out = support::run::imagelock(&dir, &["list", "."]);
    expect_code(&out, 0);
    let refs: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            let mut f = l.split_whitespace();
            format!("{} {}", f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    assert_eq!(
        refs,
        [
            "Dockerfile:1:10 docker/dockerfile:1.7",
            "Dockerfile:7:32 golang:1.22",
            "Dockerfile:14:28 ghcr.io/acme/tools:v3",
            "Dockerfile:22:13 quay.io/acme/assets:2024.1",
            "Dockerfile:24:6 debian:12-slim",
        ]
    );
    let stderr = text(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("Dockerfile:17:6") && warnings[0].contains("GO_VERSION"),
        "{stderr}"
    );
    assert!(!stderr.contains("imagePullPolicy"), "{stderr}");
}
