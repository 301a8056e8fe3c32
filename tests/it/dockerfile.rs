//! End-to-end: Dockerfiles through the real binary. `list` over the real
//! corpus files, and `lock`, `pin` (byte-exact, idempotent), `check` and
//! `check --remote` drift against the real CNCF distribution registry, with
//! every locked digest cross-checked against skopeo.

use std::path::Path;

use crate::support;
use crate::support::e2e::{assert_locked, pin_twice, run};
use crate::support::run::{expect_code, text};
use crate::support::{Registry, Setup};

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

/// Build-argument, heredoc, ONBUILD and file-name rules through the binary,
/// with a lockfile written here (no registry).
mod offline {
    use std::path::Path;

    use crate::support::offline::{digest, dir, read};
    use crate::support::run::{expect_code, imagelock, text};

    /// `pin` twice: the first succeeds, the second changes nothing.
    fn pin_twice(d: &Path, file: &str) -> String {
        let o = imagelock(d, &["--no-config", "pin", file]);
        expect_code(&o, 0);
        let once = read(d, file);
        let o = imagelock(d, &["--no-config", "pin", file]);
        expect_code(&o, 0);
        assert_eq!(read(d, file), once, "a second pin changed the file");
        once
    }

    /// `list FILE`: the references (second column) and stderr.
    fn list(d: &Path, file: &str) -> (Vec<String>, String) {
        let o = imagelock(d, &["--no-config", "list", file]);
        expect_code(&o, 0);
        let refs = text(&o.stdout)
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
            .collect();
        (refs, text(&o.stderr))
    }

    #[test]
    fn an_arg_only_images_read_takes_the_digest_else_the_image_word_does() {
        // One ARG ending two identical references: one ARG edit.
        let same = "ARG V=1.25\nFROM nginx:$V AS a\nFROM nginx:${V}\n";
        // A tagless value read by RUN too: the digest follows `${BASE}`,
        // with no `:latest` (a --build-arg with a tag stays valid).
        let tagless = "ARG BASE=nginx\nFROM ${BASE}\nRUN echo $BASE\n";
        // Read by another ARG's default: not the ARG's to hold.
        let chained = "ARG V=3.20\nARG W=${V}\nFROM alpine:${V}\n";
        let d = dir(
            &[
                ("same/Dockerfile", same),
                ("tagless/Dockerfile", tagless),
                ("chained/Dockerfile", chained),
            ],
            &["nginx:1.25", "nginx", "alpine:3.20"],
        );
        let n = digest("nginx:1.25");
        assert_eq!(
            pin_twice(d.path(), "same/Dockerfile"),
            format!("ARG V=1.25@{n}\nFROM nginx:$V AS a\nFROM nginx:${{V}}\n")
        );
        assert_eq!(
            pin_twice(d.path(), "tagless/Dockerfile"),
            format!(
                "ARG BASE=nginx\nFROM ${{BASE}}@{}\nRUN echo $BASE\n",
                digest("nginx")
            )
        );
        assert_eq!(
            pin_twice(d.path(), "chained/Dockerfile"),
            format!(
                "ARG V=3.20\nARG W=${{V}}\nFROM alpine:${{V}}@{}\n",
                digest("alpine:3.20")
            )
        );
    }

    #[test]
    fn arg_defaults_built_from_args_expand_in_order_and_pin_in_the_word() {
        let file = "ARG REGISTRY=ghcr.io/acme\n\
                    ARG TAG=2\n\
                    ARG BASE=${REGISTRY}/app:${TAG}\n\
                    ARG IMAGE_NAME=\"${IMAGE_NAME:-silverblue}\"\n\
                    ARG V=1\n\
                    ARG V2=${V}\n\
                    ARG D=\"\"\n\
                    ARG UNSET\n\
                    ARG LATER=${UNSET}\n\
                    FROM $BASE\n\
                    FROM quay.io/x/${IMAGE_NAME}:${V2}${D:+@${D}} AS q\n\
                    FROM busybox:${LATER}\n";
        let d = dir(
            &[("Containerfile", file)],
            &["ghcr.io/acme/app:2", "quay.io/x/silverblue:1"],
        );
        let (refs, stderr) = list(d.path(), "Containerfile");
        assert_eq!(refs, ["ghcr.io/acme/app:2", "quay.io/x/silverblue:1"]);
        assert!(
            stderr.contains("Containerfile:12:6: FROM busybox:${LATER}: build argument UNSET has no default before the first FROM (the default of LATER reads it)"),
            "{stderr}"
        );
        let pinned = pin_twice(d.path(), "Containerfile");
        assert_eq!(
            pinned,
            file.replace(
                "FROM $BASE\n",
                &format!("FROM $BASE@{}\n", digest("ghcr.io/acme/app:2"))
            )
            .replace(
                "${D:+@${D}} AS q",
                &format!("${{D:+@${{D}}}}@{} AS q", digest("quay.io/x/silverblue:1"))
            )
        );
    }

    #[test]
    fn platform_arguments_warn_once_and_stage_families_are_stages() {
        let file = "ARG P=${TARGETPLATFORM#linux/}\n\
                    ARG S=${P:+x}\n\
                    FROM --platform=$BUILDPLATFORM alpine:3.20 AS binaries-linux\n\
                    FROM alpine:3.20 AS binaries-windows\n\
                    FROM ghcr.io/acme/img-$TARGETARCH:1\n\
                    FROM binaries-$TARGETOS\n\
                    FROM binaries-linux AS linux\n\
                    FROM ${TARGETOS} AS target\n\
                    FROM alpine:${S}\n\
                    COPY --from=binaries-${TARGETOS} / /\n";
        let d = dir(&[("Dockerfile", file)], &[]);
        let (refs, stderr) = list(d.path(), "Dockerfile");
        assert_eq!(refs, ["alpine:3.20", "alpine:3.20"]);
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("warning"))
            .collect();
        assert_eq!(warnings.len(), 2, "{stderr}");
        // A default imagelock cannot follow makes what reads it unknown
        // (not unset: `${P:+x}` is not taken as empty).
        assert!(
            warnings[1].contains("Dockerfile:9:6: FROM alpine:${S}: the default of build argument P uses expansion imagelock does not follow"),
            "{stderr}"
        );
        assert!(
            warnings[0].contains("Dockerfile:5:6")
                && warnings[0].contains("varies by build platform")
                && warnings[0].contains("TARGETARCH")
                && !warnings[0].contains("--build-arg"),
            "{stderr}"
        );
    }

    #[test]
    fn heredocs_open_only_where_buildkit_sees_them() {
        let file = "FROM alpine:3.20 AS a\n\
                    RUN sed 's/x<<EOF/y/' f\n\
                    RUN echo $((1<<3))\n\
                    RUN python -c \"print(1<<4)\"\n\
                    FROM busybox:1.36 AS b\n\
                    RUN <<EOT\nFROM not/an:image\nEOT\n\
                    COPY <<-\"EOF\" /x\n\tFROM not/an:image\n\tEOF\n\
                    RUN cat <<'A' > a && cat <<B > b\nFROM not/an:image\nA\nFROM not/an:image\nB\n\
                    FROM debian:12\n";
        let d = dir(&[("Dockerfile", file)], &[]);
        let (refs, stderr) = list(d.path(), "Dockerfile");
        assert_eq!(
            refs,
            ["alpine:3.20", "busybox:1.36", "debian:12"],
            "{stderr}"
        );
    }

    #[test]
    fn onbuild_images_are_listed_and_pinned_and_onbuild_from_warns() {
        let file = "FROM alpine:3.20\n\
                    ONBUILD COPY --from=busybox:1.36 /bin/sh /sh\n\
                    ONBUILD RUN --mount=type=bind,from=ghcr.io/acme/tools:1,target=/t make\n\
                    ONBUILD FROM nginx:1.25\n\
                    ONBUILD COPY --from=builder / /\n";
        let d = dir(
            &[("Dockerfile", file)],
            &["alpine:3.20", "busybox:1.36", "ghcr.io/acme/tools:1"],
        );
        let (refs, stderr) = list(d.path(), "Dockerfile");
        assert_eq!(
            refs,
            ["alpine:3.20", "busybox:1.36", "ghcr.io/acme/tools:1"]
        );
        assert!(
            stderr.contains("Dockerfile:4:9: ONBUILD FROM: BuildKit rejects FROM"),
            "{stderr}"
        );
        assert!(
            stderr.contains("Dockerfile:5:21: ONBUILD COPY --from builder: may name a stage"),
            "{stderr}"
        );
        let o = imagelock(
            d.path(),
            &["--no-config", "list", "--format", "json", "Dockerfile"],
        );
        assert_eq!(text(&o.stdout).matches("\"onbuild\": true").count(), 2);
        let pinned = pin_twice(d.path(), "Dockerfile");
        assert!(
            pinned.contains(&format!("--from=busybox:1.36@{} ", digest("busybox:1.36")))
                && pinned.contains(&format!(
                    "from=ghcr.io/acme/tools:1@{},",
                    digest("ghcr.io/acme/tools:1")
                )),
            "{pinned}"
        );
    }

    #[test]
    fn a_file_named_like_the_standard_input_is_a_file_like_any_other() {
        // Standard input is shown as `<stdin>` in locations, but a file of
        // that name is a file: named on the command line, it is read as a
        // Dockerfile when it starts like one (it was once taken for the
        // standard input by its name, and its image went unread).
        let df = "FROM nginx:1.25\n";
        let d = dir(&[("<stdin>", df)], &["nginx:1.25"]);
        let (refs, stderr) = list(d.path(), "<stdin>");
        assert_eq!(refs, ["nginx:1.25"]);
        assert!(stderr.contains("<stdin>: read as a Dockerfile"), "{stderr}");
        assert_eq!(
            pin_twice(d.path(), "<stdin>"),
            format!("FROM nginx:1.25@{}\n", digest("nginx:1.25"))
        );
    }

    #[test]
    fn a_named_file_that_starts_like_a_dockerfile_is_read_as_one() {
        let df = "# the base image\n\nARG V=1.25\nFROM nginx:${V}\nRUN echo $V\n";
        let d = dir(
            &[("build/base.df", df), ("notes.txt", "hello: world\n")],
            &["nginx:1.25"],
        );
        let (refs, stderr) = list(d.path(), "build/base.df");
        assert_eq!(refs, ["nginx:1.25"]);
        assert!(
            stderr.contains("build/base.df: read as a Dockerfile")
                && stderr.contains("first instruction is ARG"),
            "{stderr}"
        );
        assert_eq!(
            pin_twice(d.path(), "build/base.df"),
            df.replace(
                "FROM nginx:${V}\n",
                &format!("FROM nginx:${{V}}@{}\n", digest("nginx:1.25"))
            )
        );
        let (refs, stderr) = list(d.path(), "notes.txt");
        assert!(refs.is_empty());
        assert!(
            stderr.contains("notes.txt: read as YAML") && stderr.contains("found no image"),
            "{stderr}"
        );
    }

    #[test]
    fn an_arg_a_stage_declares_is_read_by_its_later_runs() {
        // `ARG V` in a stage takes the global default and puts it in the
        // environment of every later RUN: editing the default would change
        // what `./build.sh` sees, so the digest goes into the word.
        let inherited = "ARG V=1.25\nFROM nginx:${V}\nARG V\nRUN ./build.sh\n";
        // The same for a stage's own default (Podman expands COPY --from).
        let own = "FROM alpine:3.20\nARG V=1.25\nCOPY --from=nginx:${V} /a /b\nRUN ./build.sh\n";
        // A COPY heredoc body is expanded: `# $V` there is file content.
        let heredoc = "ARG V=1.25\nFROM nginx:${V}\nARG V\nCOPY <<EOF /v\n# $V\nEOF\n";
        // A global `ARG V` with no default keeps the earlier default.
        let again = "ARG V=1.25\nARG V\nFROM nginx:${V}\n";
        let d = dir(
            &[
                ("inherited/Dockerfile", inherited),
                ("own/Containerfile", own),
                ("again/Dockerfile", again),
                ("heredoc/Dockerfile", heredoc),
            ],
            &["nginx:1.25", "alpine:3.20"],
        );
        let n = digest("nginx:1.25");
        assert_eq!(
            pin_twice(d.path(), "inherited/Dockerfile"),
            inherited.replace("${V}\n", &format!("${{V}}@{n}\n"))
        );
        assert_eq!(
            pin_twice(d.path(), "own/Containerfile"),
            own.replace("${V} ", &format!("${{V}}@{n} ")).replace(
                "alpine:3.20",
                &format!("alpine:3.20@{}", digest("alpine:3.20"))
            )
        );
        assert_eq!(
            pin_twice(d.path(), "heredoc/Dockerfile"),
            heredoc.replace("${V}\n", &format!("${{V}}@{n}\n"))
        );
        let (refs, stderr) = list(d.path(), "again/Dockerfile");
        assert_eq!(refs, ["nginx:1.25"], "{stderr}");
        assert_eq!(
            pin_twice(d.path(), "again/Dockerfile"),
            again.replacen("ARG V=1.25", &format!("ARG V=1.25@{n}"), 1)
        );
    }

    #[test]
    fn an_expansion_too_long_or_too_deep_is_a_warning_not_a_crash() {
        // Each default doubles the last: 2^40 bytes if followed.
        let mut doubling = String::from("ARG A0=x\n");
        for i in 1..=40 {
            doubling.push_str(&format!("ARG A{i}=${{A{}}}${{A{}}}\n", i - 1, i - 1));
        }
        doubling.push_str("FROM nginx:${A40}\n");
        // Nested far past any real default.
        let deep = format!(
            "ARG A=1.25\nFROM nginx:{}x{}\n",
            "${A:-".repeat(5000),
            "}".repeat(5000)
        );
        let d = dir(
            &[
                ("doubling/Dockerfile", &doubling),
                ("deep/Dockerfile", &deep),
            ],
            &[],
        );
        let (refs, stderr) = list(d.path(), "doubling/Dockerfile");
        assert!(refs.is_empty());
        assert!(
            stderr.contains("Dockerfile:42:6: FROM nginx:${A40}: the default of build argument A")
                && stderr.contains("expands to more than 65536 bytes"),
            "{stderr}"
        );
        let (refs, stderr) = list(d.path(), "deep/Dockerfile");
        assert!(refs.is_empty());
        assert!(
            stderr.contains("Dockerfile:2:6: FROM") && stderr.contains("imagelock does not follow"),
            "{}",
            &stderr[..200]
        );
    }

    #[test]
    fn a_python_import_is_not_a_from() {
        let d = dir(
            &[
                ("tool.py", "from os import path\n"),
                (
                    "base.df",
                    "FROM --platform=linux/amd64 nginx:1.25 AS base\n",
                ),
            ],
            &["nginx:1.25"],
        );
        let (refs, stderr) = list(d.path(), "tool.py");
        assert!(refs.is_empty(), "{stderr}");
        assert!(!stderr.contains("read as a Dockerfile"), "{stderr}");
        let (refs, stderr) = list(d.path(), "base.df");
        assert_eq!(refs, ["nginx:1.25"]);
        assert!(stderr.contains("base.df: read as a Dockerfile"), "{stderr}");
    }

    #[test]
    fn a_reference_split_by_a_continuation_is_refused_without_naming_an_arg() {
        let file = "FROM ngi\\\nnx:1.25\n";
        let d = dir(&[("Dockerfile", file)], &["nginx:1.25"]);
        let o = imagelock(d.path(), &["--no-config", "pin", "Dockerfile"]);
        expect_code(&o, 2);
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains("Dockerfile:1:6: nginx:1.25 cannot be pinned byte-exactly: the word is split by a line continuation")
                && !stderr.contains("build arguments"),
            "{stderr}"
        );
        assert_eq!(read(d.path(), "Dockerfile"), file);
    }

    #[test]
    fn an_onbuild_run_heredoc_body_is_not_read_as_instructions() {
        // BuildKit's parser opens heredocs in ONBUILD triggers too: the
        // body is the downstream build's script, not a FROM to pin.
        let file = "FROM alpine:3.20\n\
                    ONBUILD RUN <<EOF\nFROM nginx:1.25\nEOF\n\
                    onbuild copy <<-EOT /x\n\tFROM nginx:1.25\n\tEOT\n\
                    FROM busybox:1.36\n";
        let d = dir(
            &[("Dockerfile", file)],
            &["alpine:3.20", "busybox:1.36", "nginx:1.25"],
        );
        let (refs, stderr) = list(d.path(), "Dockerfile");
        assert_eq!(refs, ["alpine:3.20", "busybox:1.36"], "{stderr}");
        let pinned = pin_twice(d.path(), "Dockerfile");
        assert_eq!(pinned.matches("@sha256:").count(), 2, "{pinned}");
        assert!(pinned.contains("\nFROM nginx:1.25\nEOF\n"), "{pinned}");
    }

    #[test]
    fn a_mount_from_is_read_as_buildkit_reads_the_flag() {
        // The flag parser removes quotes; the mount's keys are in any
        // case; the last `from=` wins.
        let file = "FROM alpine:3.20\n\
                    RUN --mount=type=bind,FROM=nginx:1.25,target=/x true\n\
                    RUN --mount=type=bind,\"from=busybox:1.36\",target=/z true\n\
                    RUN --mount=\"type=bind,from=redis:7,target=/y\" true\n\
                    RUN --mount=type=bind,from=builder,from=redis:7,target=/w true\n";
        let d = dir(
            &[("Dockerfile", file)],
            &["alpine:3.20", "busybox:1.36", "nginx:1.25", "redis:7"],
        );
        let (refs, stderr) = list(d.path(), "Dockerfile");
        assert_eq!(
            refs,
            [
                "alpine:3.20",
                "nginx:1.25",
                "busybox:1.36",
                "redis:7",
                "redis:7"
            ],
            "{stderr}"
        );
        let pinned = pin_twice(d.path(), "Dockerfile");
        for (written, r) in [
            ("FROM=nginx:1.25", "nginx:1.25"),
            ("\"from=busybox:1.36", "busybox:1.36"),
            ("from=redis:7", "redis:7"),
        ] {
            assert!(
                pinned.contains(&format!("{written}@{},", digest(r)))
                    || pinned.contains(&format!("{written}@{}\"", digest(r))),
                "{pinned}"
            );
        }
        assert!(pinned.contains("from=builder,from=redis:7@"), "{pinned}");
    }

    #[test]
    fn a_syntax_directive_is_found_after_a_shebang_and_before_its_options() {
        // BuildKit's DetectSyntax skips a shebang line and takes the first
        // word of the value as the frontend image; its parser ends the
        // directives at the shebang, so the escape directive is a comment.
        let shebang = "#!/usr/bin/env -S docker build . -f\n\
                       # syntax=docker/dockerfile:1\n\
                       # escape=`\n\
                       FROM alpine:3.20 AS a\n\
                       RUN echo `\n\
                       FROM busybox:1.36\n";
        let options = "# syntax=docker/dockerfile:1 opt=1\nFROM alpine:3.20\n";
        let d = dir(
            &[("a/Dockerfile", shebang), ("b/Dockerfile", options)],
            &["docker/dockerfile:1", "alpine:3.20", "busybox:1.36"],
        );
        let (refs, stderr) = list(d.path(), "a/Dockerfile");
        assert_eq!(
            refs,
            ["docker/dockerfile:1", "alpine:3.20", "busybox:1.36"],
            "{stderr}"
        );
        let (refs, stderr) = list(d.path(), "b/Dockerfile");
        assert_eq!(refs, ["docker/dockerfile:1", "alpine:3.20"], "{stderr}");
        let syntax = digest("docker/dockerfile:1");
        assert!(pin_twice(d.path(), "a/Dockerfile")
            .contains(&format!("\n# syntax=docker/dockerfile:1@{syntax}\n")));
        assert!(pin_twice(d.path(), "b/Dockerfile")
            .starts_with(&format!("# syntax=docker/dockerfile:1@{syntax} opt=1\n")));
    }

    #[test]
    fn thousands_of_arg_images_are_read_in_linear_time() {
        // Where each digest goes was decided by rescanning the file for
        // each argument: 4000 stages took about 16 s (debug build).
        let mut file = String::new();
        for i in 0..4000 {
            file.push_str(&format!("ARG V{i}=1.{i}\n"));
        }
        for i in 0..4000 {
            file.push_str(&format!("FROM nginx:${{V{i}}}\nRUN echo $HOME\n"));
        }
        let d = dir(&[("Dockerfile", &file)], &[]);
        let started = std::time::Instant::now();
        let (refs, _) = list(d.path(), "Dockerfile");
        assert_eq!(refs.len(), 4000);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn an_arg_default_loses_its_quotes_and_escapes_as_buildkit_removes_them() {
        // `\2` is `2`, but `\\` is `\` and a single-quoted `\` stays: those
        // references are invalid in BuildKit, so here too.
        let d = dir(
            &[
                ("escaped/Dockerfile", "ARG V=1.\\25\nFROM nginx:${V}\n"),
                ("doubled/Dockerfile", "ARG V=1.2\\\\5\nFROM nginx:${V}\n"),
                ("single/Dockerfile", "ARG V='1.2\\5'\nFROM nginx:${V}\n"),
            ],
            &[],
        );
        let (refs, stderr) = list(d.path(), "escaped/Dockerfile");
        assert_eq!(refs, ["nginx:1.25"], "{stderr}");
        for file in ["doubled/Dockerfile", "single/Dockerfile"] {
            let o = imagelock(d.path(), &["--no-config", "list", file]);
            expect_code(&o, 2);
            assert!(
                text(&o.stderr).contains("invalid image reference \"nginx:1.2\\\\5\""),
                "{}",
                text(&o.stderr)
            );
        }
    }

    #[test]
    fn a_heredoc_never_closed_is_a_warning() {
        let file = "FROM alpine:3.20\nRUN <<EOF\nFROM nginx:1.25\n";
        let d = dir(&[("Dockerfile", file)], &["alpine:3.20"]);
        let (refs, stderr) = list(d.path(), "Dockerfile");
        assert_eq!(refs, ["alpine:3.20"]);
        assert!(
            stderr.contains("Dockerfile:2:1: heredoc <<EOF is never closed"),
            "{stderr}"
        );
    }

    /// `FROM ${IMAGE}@${IMAGE_SHA}` with `ARG IMAGE_SHA=""` (a placeholder
    /// `--build-arg` fills) is a warning naming the empty argument, not an
    /// invalid reference that fails the run; and `Dockerfile_windows` is a
    /// Dockerfile name a directory walk picks.
    #[test]
    fn an_empty_default_placeholder_is_a_warning_and_underscore_names_are_walked() {
        let d = dir(
            &[
                (
                    "Containerfile",
                    "ARG BASE=ghcr.io/acme/base:1.0\nARG BASE_SHA=\"\"\nFROM ${BASE}@${BASE_SHA} AS base\nFROM base\n",
                ),
                ("win/Dockerfile_windows", "FROM mcr.microsoft.com/windows/nanoserver:ltsc2022\n"),
            ],
            &[],
        );
        let o = imagelock(d.path(), &["list", "."]);
        expect_code(&o, 0);
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains("Containerfile:3:6: FROM ${BASE}@${BASE_SHA}: with the defaults written it is \"ghcr.io/acme/base:1.0@\", no image reference")
                && stderr.contains("build argument BASE_SHA is empty by default, so only --build-arg completes it; skipped"),
            "{stderr}"
        );
        assert!(!stderr.contains("error"), "{stderr}");
        let stdout = text(&o.stdout);
        assert!(
            stdout.contains(
                "win/Dockerfile_windows:1:6  mcr.microsoft.com/windows/nanoserver:ltsc2022"
            ),
            "{stdout}"
        );
    }
}
