//! Checks the scanner against a directory of real published manifests
//! (the corpus described by its `SOURCES.md`): `scripts/check-corpus.sh
//! CORPUS_DIR` builds and runs it. Exits non-zero, saying why, when the
//! directory is missing, a file it expects is absent, or any check fails.
//!
//! For every YAML file: it scans without error; the fast path and the full
//! parser agree (also on line-level mutations of the small files);
//! truncated copies never panic and keep exact spans; and the references
//! found are the ones `SOURCES.md` documents, trap by trap.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use imagelock::scan::{
    fast_path_reads, read_file, scan_text, scan_text_full_parser, scan_text_in, ContainerList,
    EditPlan, FileScan, QuoteStyle, Scope,
};

/// What one corpus file must yield, scanned as a walked file.
struct Expect {
    file: &'static str,
    /// Every reference in file order: its line and the value as written
    /// (one ending in `@sha256:` only needs that prefix; the digest itself
    /// was checked by parsing).
    refs: &'static [(usize, &'static str)],
    /// How many warnings (templates, `ko://`, sibling `tag` keys).
    warnings: usize,
    /// Why: the trap `SOURCES.md` names.
    why: &'static str,
}

const ARGOCD: &str = "quay.io/argoproj/argocd:v3.5.1";
const UBUNTU: &str = "mirror.gcr.io/ubuntu@sha256:";
const PYTHON: &str = "mirror.gcr.io/python@sha256:";
const CERTGEN: &str = "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9@sha256:";

const EXPECT: &[Expect] = &[
    Expect {
        file: "argo-cd-install.yaml",
        refs: &[
            (32094, ARGOCD),
            (32236, "ghcr.io/dexidp/dex:v2.45.0"),
            (32266, ARGOCD),
            (32386, ARGOCD),
            (32485, "public.ecr.aws/docker/library/redis:8.2.3-alpine"),
            (32501, ARGOCD),
            (32816, ARGOCD),
            (32873, ARGOCD),
            (33337, ARGOCD),
            (33806, ARGOCD),
        ],
        warnings: 0,
        why: "3 huge CRDs first: 8 argocd + dex + redis, none from a schema",
    },
    Expect {
        file: "prometheus-operator-bundle.yaml",
        refs: &[(29761, "quay.io/prometheus-operator/prometheus-operator:v0.63.0")],
        warnings: 0,
        why: "13 of 14 `image:` lines are CRD property keys; the config-reloader ref is inside an arg",
    },
    Expect {
        file: "ingress-nginx-deploy.yaml",
        refs: &[
            (446, "registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:"),
            (549, CERTGEN),
            (605, CERTGEN),
        ],
        warnings: 0,
        why: "all 3 already pinned as tag@sha256",
    },
    Expect {
        file: "cert-manager-cert-manager.yaml",
        refs: &[
            (1380, "quay.io/jetstack/cert-manager-cainjector:v0.7.0"),
            (1421, "quay.io/jetstack/cert-manager-webhook:v0.7.0"),
            (1475, "quay.io/jetstack/cert-manager-controller:v0.7.0"),
        ],
        warnings: 0,
        why: "5 CRDs, 3 double-quoted images",
    },
    Expect {
        file: "kubernetes-examples-guestbook-all-in-one.yaml",
        refs: &[
            (38, "registry.k8s.io/redis:e2e"),
            (82, "gcr.io/google_samples/gb-redisslave:v1"),
            (135, "gcr.io/google-samples/gb-frontend:v5"),
        ],
        warnings: 0,
        why: "a trailing comment holding `image: redis` is no reference",
    },
    Expect {
        file: "kubernetes-examples-sysdig-daemonset.yaml",
        refs: &[(42, "sysdig/agent")],
        warnings: 0,
        why: "CRLF, odd indentation, untagged Docker Hub short name",
    },
    Expect {
        file: "descheduler-cronjob.yaml",
        refs: &[(19, "registry.k8s.io/descheduler/descheduler:v0.36.0")],
        warnings: 0,
        why: "CronJob jobTemplate",
    },
    Expect {
        file: "tekton-controller.yaml",
        refs: &[],
        warnings: 1,
        why: "`image: ko://…` is a ko import path (a warning, not an invalid reference); refs in a multi-line flow `args` are no `image` fields",
    },
    Expect {
        file: "tekton-step-script.yaml",
        refs: &[
            (13, UBUNTU),
            (16, UBUNTU),
            (36, UBUNTU),
            (44, UBUNTU),
            (50, UBUNTU),
            (62, "mirror.gcr.io/node@sha256:"),
            (68, PYTHON),
            (74, "mirror.gcr.io/perl@sha256:"),
            (81, PYTHON),
            (92, UBUNTU),
            (102, PYTHON),
            (121, "mirror.gcr.io/bash@sha256:"),
        ],
        warnings: 0,
        why: "12 digest-only step images in a TaskRun, block-scalar scripts between them",
    },
    Expect {
        file: "argo-workflows-ci-output-artifact.yaml",
        refs: &[(52, "golang:1.8"), (81, "alpine:3.23")],
        warnings: 4,
        why: "1 templated image, 3 `{image, tag}` withItems maps",
    },
    Expect {
        file: "kube-prometheus-stack-values.yaml",
        refs: &[
            (47, "docker.io/busybox:latest"),
            (1020, "quay.io/prometheus/alertmanager:v0.34.0"),
            (3131, "ghcr.io/jkroepke/kube-webhook-certgen:1.8.7"),
            (3573, "quay.io/thanos/thanos:v0.42.4"),
            (4346, "quay.io/prometheus/prometheus:v3.14.0-distroless"),
            (5540, "quay.io/thanos/thanos:v0.42.4"),
        ],
        warnings: 4,
        why: "Helm values (--helm-values): split `{registry, repository, tag, sha}` mappings, `thanosImage:` too; the 4 `tag: \"\"` (appVersion, no Chart.yaml beside) are warnings; `image: {distroless: true}` and commented-out images are not images",
    },
    Expect {
        file: "bitnami-redis-values.yaml",
        refs: &[
            (116, "docker.io/bitnami/redis:8.2.1-debian-12-r0"),
            (1188, "docker.io/bitnami/redis-sentinel:8.2.1-debian-12-r0"),
            (1790, "docker.io/bitnami/redis-exporter:1.76.0-debian-12-r0"),
            (2168, "docker.io/bitnami/os-shell:12-debian-12-r51"),
            (2232, "docker.io/bitnami/kubectl:1.33.4-debian-12-r0"),
            (2301, "docker.io/bitnami/os-shell:12-debian-12-r51"),
        ],
        warnings: 0,
        why: "Helm values (--helm-values): 6 split `{registry, repository, tag, digest}` mappings, all `digest: \"\"`; `## image: your-image` comments are not images",
    },
    Expect {
        file: "awesome-compose-wordpress-mysql-compose.yaml",
        refs: &[(4, "mariadb:10.6.4-focal"), (20, "wordpress:latest")],
        warnings: 0,
        why: "a commented-out `#image: mysql:8.0.27`; no final newline",
    },
    Expect {
        file: "awesome-compose-pihole-cloudflared-DoH-compose.yaml",
        refs: &[(4, "visibilityspots/cloudflared"), (20, "pihole/pihole:latest")],
        warnings: 0,
        why: "untagged image, `${VAR}` elsewhere, no final newline",
    },
];

/// Helm values files (named `*-values.yaml`, so as `--helm-values` reads
/// them): scanned with `Scope::HelmValues`.
const HELM_VALUES: &[&str] = &[
    "kube-prometheus-stack-values.yaml",
    "bitnami-redis-values.yaml",
];

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: corpus-check CORPUS_DIR");
        return ExitCode::from(2);
    };
    if !dir.join("SOURCES.md").is_file() {
        eprintln!(
            "corpus-check: {} is not the corpus (no SOURCES.md there); CI keeps it at ../shared/corpus beside the clone",
            dir.display()
        );
        return ExitCode::from(2);
    }
    let mut failures: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut dockerfiles = 0;
    let mut paths: Vec<PathBuf> = match fs_err::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .collect(),
        Err(e) => {
            eprintln!("corpus-check: {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    paths.sort();
    for path in &paths {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if imagelock::scan::dockerfile::is_dockerfile_name(path) {
            let before = failures.len();
            check_dockerfile(path, &name, &mut failures);
            dockerfiles += 1;
            eprintln!(
                "{}  {name}",
                if failures.len() == before {
                    "ok  "
                } else {
                    "FAIL"
                }
            );
            continue;
        }
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        seen.push(name.clone());
        let before = failures.len();
        check_file(path, &name, &mut failures);
        if failures.len() == before {
            eprintln!("ok    {name}");
        } else {
            eprintln!("FAIL  {name}");
        }
    }
    for e in EXPECT {
        if !seen.iter().any(|s| s == e.file) {
            failures.push(format!("{}: missing from the corpus", e.file));
        }
    }
    // The Dockerfiles of real/, where each repository put them.
    for (rel, _, _) in DOCKERFILES.iter().filter(|(n, _, _)| n.contains('/')) {
        let before = failures.len();
        check_dockerfile(&dir.join(rel), rel, &mut failures);
        dockerfiles += 1;
        let ok = failures.len() == before;
        eprintln!("{}  {rel}", if ok { "ok  " } else { "FAIL" });
    }
    for s in &seen {
        if !EXPECT.iter().any(|e| e.file == s) {
            failures.push(format!(
                "{s}: no expectation for it in tools/corpus_check.rs"
            ));
        }
    }
    if failures.is_empty() {
        eprintln!(
            "corpus-check: {} YAML files and {dockerfiles} Dockerfiles, every check passed",
            seen.len()
        );
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            eprintln!("error: {f}");
        }
        eprintln!("corpus-check: {} failure(s)", failures.len());
        ExitCode::FAILURE
    }
}

fn check_file(path: &Path, name: &str, failures: &mut Vec<String>) {
    let mut fail = |msg: String| failures.push(format!("{name}: {msg}"));
    let file = match read_file(path, false) {
        Ok(Some(f)) => f,
        Ok(None) => return fail("read as binary".into()),
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    let text = file.text.as_str();
    let started = Instant::now();
    let helm_values = HELM_VALUES.contains(&name);
    let scope = if helm_values {
        Scope::HelmValues
    } else {
        Scope::KnownManifests
    };
    let walked = match scan_text_in(path, text, scope) {
        Ok(s) => s,
        Err(e) => return fail(format!("scan failed: {e}")),
    };
    let took = started.elapsed();
    eprintln!(
        "      {} images, {} warnings, {} invalid in {:.1} ms; fast path {}",
        walked.images.len(),
        walked.warnings.len(),
        walked.invalid.len(),
        took.as_secs_f64() * 1000.0,
        if fast_path_reads(text) {
            "used"
        } else {
            "gave up"
        }
    );
    if let Err(e) = invariants(text, &walked) {
        fail(e);
    }
    // Documented references, in order (a ref ending in `@sha256:` only
    // needs that prefix: the digest is checked to be well-formed by parsing).
    let Some(expect) = EXPECT.iter().find(|e| e.file == name) else {
        return;
    };
    let got: Vec<(usize, &str)> = walked
        .images
        .iter()
        .map(|i| (i.line, i.reference.original()))
        .collect();
    let matches = got.len() == expect.refs.len()
        && got.iter().zip(expect.refs).all(|((gl, g), (wl, w))| {
            gl == wl
                && if w.ends_with("@sha256:") {
                    g.starts_with(w)
                } else {
                    g == w
                }
        });
    if !matches {
        fail(format!(
            "expected {:?} ({}), found {got:?}",
            expect.refs, expect.why
        ));
    }
    if let Err(e) = traps(name, &walked) {
        fail(format!("{e} ({})", expect.why));
    }
    if walked.warnings.len() != expect.warnings {
        fail(format!(
            "expected {} warning(s) ({}), found {:?}",
            expect.warnings,
            expect.why,
            walked
                .warnings
                .iter()
                .map(|w| &w.message)
                .collect::<Vec<_>>()
        ));
    }
    if !walked.invalid.is_empty() {
        fail(format!("invalid references reported: {:?}", walked.invalid));
    }
    if !walked.notes.is_empty() {
        fail(format!("notes: {:?}", walked.notes));
    }
    if helm_values {
        // Every image of a values file is pinned through its digest key.
        let keyed = walked.images.iter().all(|i| {
            matches!(
                (&i.edit, name),
                (
                    EditPlan::SetDigestHex { .. },
                    "kube-prometheus-stack-values.yaml"
                ) | (EditPlan::SetValue { .. }, "bitnami-redis-values.yaml")
            )
        });
        if !keyed {
            fail("a values image is not pinned through the chart's digest key".into());
        }
    } else {
        // Every document is a manifest: scanning it as a named file gives the same.
        match scan_text(path, text) {
            Ok(all) if all.summary() == walked.summary() => {}
            Ok(_) => fail("a named file and a walked file scan differently".into()),
            Err(e) => fail(format!("scan failed: {e}")),
        }
    }
    if let Err(e) = same_as_full_parser(text) {
        fail(e);
    }
    // Mutations of the small files: the fast path agrees or gives up.
    if text.len() < 10_000 {
        for m in mutations(text) {
            if let Err(e) = same_as_full_parser(&m) {
                fail(format!("on a mutated copy: {e}"));
                break;
            }
        }
    }
    // Truncated copies: no panic, exact spans whenever they scan.
    if text.len() < 40_000 {
        let step = (text.len() / 150).max(1);
        for cut in (0..text.len())
            .step_by(step)
            .filter(|&c| text.is_char_boundary(c))
        {
            let part = &text[..cut];
            let result = std::panic::catch_unwind(|| scan_text(path, part));
            match result {
                Err(_) => {
                    fail(format!("panicked on the first {cut} bytes"));
                    break;
                }
                Ok(Ok(s)) => {
                    if let Err(e) = invariants(part, &s) {
                        fail(format!("first {cut} bytes: {e}"));
                        break;
                    }
                }
                Ok(Err(_)) => {}
            }
        }
    }
}

/// The traps `SOURCES.md` names beyond which references are found.
fn traps(name: &str, s: &FileScan) -> Result<(), String> {
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
    let imgs = &s.images;
    match name {
        "argo-cd-install.yaml" => check(
            imgs.iter()
                .filter(|i| {
                    i.context.kubernetes().and_then(|c| c.list)
                        == Some(ContainerList::InitContainers)
                })
                .count()
                == 3,
            "3 initContainers (dex, redis, repo-server)",
        ),
        "ingress-nginx-deploy.yaml" => check(
            imgs.iter()
                .all(|i| i.reference.tag().is_some() && i.reference.digest().is_some()),
            "every reference has a tag and a digest",
        ),
        "cert-manager-cert-manager.yaml" => check(
            imgs.iter()
                .all(|i| i.style == QuoteStyle::DoubleQuoted && i.exact),
            "every image double-quoted and exact",
        ),
        "kubernetes-examples-sysdig-daemonset.yaml" => check(
            imgs[0].reference.name() == "docker.io/sysdig/agent"
                && imgs[0].reference.effective_tag() == Some("latest"),
            "sysdig/agent is docker.io/sysdig/agent:latest",
        ),
        "descheduler-cronjob.yaml" => check(
            imgs[0].context.kubernetes().and_then(|c| c.kind.as_deref()) == Some("CronJob"),
            "the image belongs to the CronJob",
        ),
        "tekton-step-script.yaml" => check(
            imgs.iter()
                .all(|i| i.reference.tag().is_none() && i.reference.digest().is_some()),
            "every step image is digest-only",
        ),
        "kubernetes-examples-guestbook-all-in-one.yaml" => check(
            imgs.iter().all(|i| i.exact),
            "the trailing comment is not in the span",
        ),
        _ => Ok(()),
    }
}

/// Exact spans slice to the reference; line and column point at the span.
fn invariants(text: &str, s: &FileScan) -> Result<(), String> {
    for img in &s.images {
        let Some(slice) = text.get(img.span.clone()) else {
            return Err(format!(
                "span {:?} is not on character boundaries",
                img.span
            ));
        };
        // Only a replaced scalar holds the whole reference (a Helm values
        // span is the `repository` value).
        let whole = matches!(img.edit, EditPlan::Replace { .. });
        if whole && img.exact && slice != img.reference.original() {
            return Err(format!(
                "span {:?} holds {slice:?}, not {}",
                img.span, img.reference
            ));
        }
        let before = &text[..img.span.start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        if (img.line, img.column) != (line, column) {
            return Err(format!(
                "{} reported at {}:{}, its span starts at {line}:{column}",
                img.reference, img.line, img.column
            ));
        }
    }
    Ok(())
}

/// The scan (one document at a time: CRDs skipped, the fast path where it
/// reads a document, the parser for the others) equals the full parser's
/// reading of the whole text.
fn same_as_full_parser(text: &str) -> Result<(), String> {
    let path = Path::new("f");
    let want = match scan_text_full_parser(path, text) {
        Ok(want) => want,
        Err(e) if fast_path_reads(text) => {
            return Err(format!("fast path accepted what the parser rejects: {e}"))
        }
        Err(_) => return Ok(()),
    };
    let got =
        scan_text(path, text).map_err(|e| format!("the parser accepts it, scan failed: {e}"))?;
    if got.summary() != want.summary() {
        return Err(format!(
            "fast path and full parser differ:\n  fast: {:?}\n  full: {:?}",
            got.summary(),
            want.summary()
        ));
    }
    Ok(())
}

/// Line-level edits: delete, duplicate, indent, dedent, respace, split.
fn mutations(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = Vec::new();
    for i in 0..lines.len() {
        let join = |f: &dyn Fn(&str) -> Option<String>| -> String {
            lines
                .iter()
                .enumerate()
                .filter_map(|(j, l)| if j == i { f(l) } else { Some(l.to_string()) })
                .collect()
        };
        out.push(join(&|_| None));
        out.push(join(&|l| Some(format!("{l}{l}"))));
        out.push(join(&|l| Some(format!(" {l}"))));
        out.push(join(&|l| Some(format!("  {l}"))));
        out.push(join(&|l| {
            Some(l.strip_prefix(' ').unwrap_or(l).to_string())
        }));
        out.push(join(&|l| {
            Some(l.strip_prefix("  ").unwrap_or(l).to_string())
        }));
        out.push(join(&|l| Some(l.replacen(": ", ":  ", 1))));
        out.push(join(&|l| Some(l.replacen("- ", "-  ", 1))));
        out.push(join(&|l| Some(l.replacen(": ", ":\n    ", 1))));
        out.push(join(&|l| Some(l.replacen('\n', " # c\n", 1))));
    }
    out
}

/// What a person reads in each corpus Dockerfile (SOURCES.md): every image
/// at its `line:column`, the build arguments only `--build-arg` could
/// complete as warnings, and nothing else (stage names, `scratch`, heredoc
/// bodies, `COPY --from=<stage>`).
const DOCKERFILES: &[(&str, &[&str], &[&str])] = &[
    (
        "argo-cd-Dockerfile",
        &[
            "7:6 docker.io/library/golang:1.26.4@sha256:792443b89f65105abba56b9bd5e97f680a80074ac62fc844a584212f8c8102c3",
            "35:6 docker.io/library/ubuntu:26.04@sha256:f3d28607ddd78734bb7f71f117f3c6706c666b8b76cbff7c9ff6e5718d46ff64",
            "96:32 docker.io/library/node:24.14.1@sha256:80fc934952c8f1b2b4d39907af7211f8a9fff1a4c2cf673fb49099292c251cec",
            "116:32 docker.io/library/golang:1.26.4@sha256:792443b89f65105abba56b9bd5e97f680a80074ac62fc844a584212f8c8102c3",
        ],
        &[],
    ),
    (
        "awesome-compose-nginx-aspnet-mysql-Dockerfile",
        &[
            "1:10 docker/dockerfile:1.4",
            "3:32 mcr.microsoft.com/dotnet/sdk:6.0",
            "29:13 gloursdocker/docker",
            "37:32 mcr.microsoft.com/dotnet/aspnet:6.0",
        ],
        &[],
    ),
    (
        "ingress-nginx-test-runner-Dockerfile",
        &[],
        &["18:6 GOLANG_VERSION", "19:6 ETCD_VERSION", "21:6 BASE_IMAGE"],
    ),
    // real/: chained and self-referential ARG defaults, platform
    // arguments, stage-name families, heredocs, ONBUILD, `# escape=`.
    (
        "real/buildkit/Dockerfile",
        &[
            "1:10 docker/dockerfile-upstream:master",
            "33:6 quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
            "34:6 quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z",
            "37:32 tonistiigi/xx:1.9.0",
            "40:32 golang:1.26-alpine3.23",
            "42:6 moby/moby-bin:29.6",
            "43:6 dockereng/cli-bin:29.6",
            "44:6 docker/buildx-bin:0.34.1",
            "162:32 alpine:3.23",
            "183:32 alpine:3.23",
            "185:20 tonistiigi/binfmt:buildkit-v10.2.3-66@sha256:6014c1e52b8e51a67fbf76f691ffbe20ac0204c31c2f086df3e8ef3ce134b488",
            "211:32 alpine:3.23",
            "223:6 alpine:3.23",
            "229:6 ubuntu:24.04",
            "491:6 alpine:3.23",
        ],
        &[],
    ),
    (
        "real/ublue-os-main/Containerfile",
        &[
            "17:6 ghcr.io/ublue-os/akmods:main-44",
            "19:6 ghcr.io/ublue-os/akmods-nvidia-open:main-44",
            "21:6 quay.io/fedora-ostree-desktops/silverblue:44",
        ],
        &[],
    ),
    (
        "real/docker-jitsi-meet/web/Dockerfile",
        &["3:6 ghcr.io/jitsi/base:latest"],
        &[],
    ),
    (
        "real/dotnet-framework-docker/src/sdk/4.8.1/windowsservercore-ltsc2022/Dockerfile",
        &["4:6 mcr.microsoft.com/dotnet/framework/runtime:4.8.1-20260714-windowsservercore-ltsc2022"],
        &[],
    ),
    (
        "real/docker-library-golang/1.8/onbuild/Dockerfile",
        &["1:6 golang:1.8"],
        &[],
    ),
    (
        "real/docker-library-golang/1.26/windows/nanoserver-ltsc2022/Dockerfile",
        &[
            "7:6 mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "27:13 golang:1.26.7-windowsservercore-ltsc2022",
        ],
        &[],
    ),
];

fn check_dockerfile(path: &Path, name: &str, failures: &mut Vec<String>) {
    let mut fail = |msg: String| failures.push(format!("{name}: {msg}"));
    let Some((_, images, warnings)) = DOCKERFILES.iter().find(|(n, _, _)| *n == name) else {
        return fail("no expectation for it in tools/corpus_check.rs".into());
    };
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    let s = imagelock::scan::dockerfile::scan_text(path, &text);
    let got: Vec<String> = s
        .images
        .iter()
        .map(|i| format!("{}:{} {}", i.line, i.column, i.reference.original()))
        .collect();
    if got != *images {
        fail(format!("images {got:?}, expected {images:?}"));
    }
    if !s.invalid.is_empty() {
        fail(format!("invalid values {:?}", s.invalid));
    }
    let got: Vec<String> = s
        .warnings
        .iter()
        .map(|w| format!("{}:{} {}", w.line, w.column, w.message))
        .collect();
    let matches = got.len() == warnings.len()
        && warnings.iter().zip(&got).all(|(want, g)| {
            let (at, arg) = want.split_once(' ').unwrap_or((want, ""));
            g.starts_with(&format!("{at} ")) && g.contains(arg)
        });
    if !matches {
        fail(format!("warnings {got:?}, expected {warnings:?}"));
    }
    for i in &s.images {
        if text.get(i.span.clone()).is_none() {
            fail(format!("{}:{}: span outside the file", i.line, i.column));
        }
    }
}
