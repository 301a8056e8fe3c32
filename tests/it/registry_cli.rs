//! End-to-end: the `imagelock resolve` binary against the real registry,
//! credentials from `DOCKER_CONFIG`, TLS from `--ca-file`.

use assert_cmd::Command;

use crate::support;
use crate::support::run::expect_code;
use crate::support::{Registry, Setup};

fn imagelock(reg: &Registry) -> Command {
    let mut cmd = Command::cargo_bin("imagelock").unwrap();
    cmd.envs(reg.isolated_env()).current_dir(reg.scratch());
    for var in support::run::PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn resolve_over_tls_with_docker_config_credentials() {
    let reg = Registry::start(Setup::TlsBasic);
    let pushed = reg.push_oci_index("team/app", "v1", "cli");
    let out = imagelock(&reg)
        .arg("resolve")
        .arg("--ca-file")
        .arg(reg.ca_file.as_ref().unwrap())
        .arg(reg.image("team/app:v1"))
        .output()
        .unwrap();
    expect_code(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!("{} {}", reg.image("team/app:v1"), pushed.digest)
    );
    assert_eq!(pushed.digest, reg.skopeo_digest("team/app:v1"));

    let out = imagelock(&reg)
        .args(["resolve", "--platform", "linux/arm64"])
        .arg("--ca-file")
        .arg(reg.ca_file.as_ref().unwrap())
        .arg(reg.image("team/app:v1"))
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&pushed.children["linux/arm64/v8"]));
}

#[test]
fn resolve_errors_name_reference_and_hint() {
    let reg = Registry::start(Setup::TlsBasic);
    reg.push_oci_image("team/app", "v1", "cli");
    // No --ca-file: TLS failure with a hint.
    let out = imagelock(&reg)
        .arg("resolve")
        .arg(reg.image("team/app:v1"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("(registry {})", reg.host())),
        "{stderr}"
    );
    assert!(stderr.contains("--ca-file"), "{stderr}");

    // Token registry, anonymous user (empty docker config): auth required.
    let treg = Registry::start(Setup::Token);
    treg.push_oci_image("private/app", "v1", "cli");
    let empty = treg.scratch().join("empty-docker-config");
    fs_err::create_dir_all(&empty).unwrap();
    let out = imagelock(&treg)
        .env("DOCKER_CONFIG", &empty)
        .args(["resolve", "--plain-http"])
        .arg(treg.host())
        .arg(treg.image("private/app:v1"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("requires authentication and no credential matched (looked in:"),
        "{stderr}"
    );
    assert!(stderr.contains("docker login"), "{stderr}");

    // With the harness's DOCKER_CONFIG it resolves.
    let out = imagelock(&treg)
        .args(["resolve", "--plain-http"])
        .arg(treg.host())
        .arg(treg.image("private/app:v1"))
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&treg.skopeo_digest("private/app:v1")));
}

/// A port nothing listens on, held so no other test's server takes it.
fn unused_port() -> support::ClosedPort {
    support::ClosedPort::new()
}

/// Resolve through a broken proxy: the message and hint name the proxy,
/// never the registry's host name or port.
fn assert_blames_proxy(reg: &Registry, var: &str, proxy: &str, extra: &[&str], what: &str) {
    let out = imagelock(reg)
        .env(var, proxy)
        .arg("resolve")
        .args(extra)
        .arg(reg.image("team/app:v1"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let shown = format!("{}/", proxy.trim_end_matches('/'));
    assert!(
        stderr.contains(&format!(
            "{} (registry {}): proxy {shown} : {what}",
            reg.image("team/app:v1"),
            reg.host()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("HTTPS_PROXY / HTTP_PROXY"), "{stderr}");
    assert!(!stderr.contains("check the registry host name"), "{stderr}");
    assert!(!stderr.contains("is a registry listening"), "{stderr}");
}

#[test]
fn broken_proxy_is_blamed_not_the_registry() {
    let plain = Registry::start(Setup::PlainAnonymous);
    plain.push_oci_image("team/app", "v1", "cli");
    let closed = unused_port();
    let refused = format!("http://{}", closed.host());
    let unresolvable = "http://proxy.does-not-exist.invalid:3128";
    let plain_http = ["--plain-http", &plain.host()];
    assert_blames_proxy(
        &plain,
        "HTTP_PROXY",
        &refused,
        &plain_http,
        "connection refused",
    );
    assert_blames_proxy(
        &plain,
        "HTTP_PROXY",
        unresolvable,
        &plain_http,
        "host not found",
    );

    let tls = Registry::start(Setup::TlsBasic);
    tls.push_oci_image("team/app", "v1", "cli");
    let ca = tls.ca_file.as_ref().unwrap().display().to_string();
    let ca_args = ["--ca-file", &ca];
    assert_blames_proxy(
        &tls,
        "HTTPS_PROXY",
        &refused,
        &ca_args,
        "connection refused",
    );
    assert_blames_proxy(
        &tls,
        "HTTPS_PROXY",
        unresolvable,
        &ca_args,
        "host not found",
    );

    // NO_PROXY naming the registry host: the proxy is not used.
    let out = imagelock(&tls)
        .env("HTTPS_PROXY", &refused)
        .env("NO_PROXY", "127.0.0.1")
        .arg("resolve")
        .args(ca_args)
        .arg(tls.image("team/app:v1"))
        .output()
        .unwrap();
    expect_code(&out, 0);
}

#[test]
fn not_found_through_the_binary_says_what_is_missing() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "cli");
    let out = imagelock(&reg)
        .args(["resolve", "--plain-http"])
        .arg(reg.host())
        .arg(reg.image("team/app:v2"))
        .arg(reg.image("team/gone:v1"))
        .arg(reg.image("team/app:v1"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}/team/app:v2 does not exist; the repository exists, the tag or manifest does not (registry said MANIFEST_UNKNOWN: manifest unknown)",
            reg.host()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "not found: repository {}/team/gone does not exist",
            reg.host()
        )),
        "{stderr}"
    );
    // The image that exists is still reported.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&reg.skopeo_digest("team/app:v1")),
        "{stdout}\n{stderr}"
    );
}

/// A Pod of `image` in namespace `shop`, its pull secret named when
/// `secret` is.
fn pod_stream(image: &str, secret: Option<&str>) -> String {
    let pull = secret
        .map(|s| format!("  imagePullSecrets:\n  - name: {s}\n"))
        .unwrap_or_default();
    format!(
        "---\n# Source: app/templates/pod.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: shop\nspec:\n{pull}  containers:\n  - name: app\n    image: {image} # the app\n"
    )
}

#[test]
fn pin_filter_with_remote_resolves_what_the_lockfile_lacks_and_records_it_when_asked() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let digest = reg.push_oci_image("team/app", "v1", "filter");
    let stream = pod_stream(&reg.image("team/app:v1"), None);
    let pinned = stream.replace(
        &reg.image("team/app:v1"),
        &format!("{}@{digest}", reg.image("team/app:v1")),
    );
    let lock = reg.scratch().join("images.lock");
    // Without --remote there is nothing to pin from.
    let out = imagelock(&reg)
        .args(["pin", "-"])
        .write_stdin(stream.as_str())
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    // With it, the registry's digest, said on stderr, and no lockfile
    // written.
    let out = imagelock(&reg)
        .args(["pin", "--remote", "--plain-http", &reg.host(), "-"])
        .write_stdin(stream.as_str())
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), pinned);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 reference(s) were pinned from their registries, not from images.lock"),
        "{stderr}"
    );
    assert!(!lock.exists());
    // --update-lockfile records it: the next render needs no registry.
    let out = imagelock(&reg)
        .args([
            "pin",
            "--remote",
            "--update-lockfile",
            "--plain-http",
            &reg.host(),
            "-",
        ])
        .write_stdin(stream.as_str())
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert!(fs_err::read_to_string(&lock).unwrap().contains(&digest));
    let out = imagelock(&reg)
        .args(["pin", "-"])
        .write_stdin(stream.as_str())
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), pinned);
}

#[test]
fn pin_filter_with_remote_reads_a_long_stream_twice_and_prints_it_once() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let digest = reg.push_oci_image("team/app", "v1", "filter-long");
    let image = reg.image("team/app:v1");
    // Many windows (1 MiB each) of pods already pinned, and the reference
    // to resolve in the last.
    let other = format!("{image}@{digest}");
    let mut stream = String::new();
    while stream.len() < 3 << 20 {
        stream.push_str(&pod_stream(&other, None));
    }
    let pinned_before = stream.clone();
    stream.push_str(&pod_stream(&image, None));
    let out = imagelock(&reg)
        .args(["pin", "--remote", "--plain-http", &reg.host(), "-"])
        .write_stdin(stream.as_str())
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        pinned_before + &pod_stream(&other, None)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Each warning of the scan is said once, not once per reading.
    assert_eq!(
        stderr.matches("were pinned from their registries").count(),
        1,
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    let distinct: std::collections::BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(lines.len(), distinct.len(), "{stderr}");
}

#[test]
fn pin_filter_with_remote_pulls_with_the_secret_the_stream_holds() {
    let reg = Registry::start(Setup::TlsBasic);
    let digest = reg.push_oci_image("team/app", "v1", "filter-secret");
    let auth = base64_of(&format!("{}:{}", support::USER, support::PASSWORD));
    let config = format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host());
    let secret = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: shop\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        base64_of(&config)
    );
    let stream = format!(
        "{secret}{}",
        pod_stream(&reg.image("team/app:v1"), Some("regcred"))
    );
    // No credentials but the stream's (an empty docker config).
    let empty = reg.scratch().join("empty-docker-config");
    fs_err::create_dir_all(&empty).unwrap();
    fs_err::write(empty.join("config.json"), "{}").unwrap();
    let run = |with_secret: &str| {
        imagelock(&reg)
            .env("DOCKER_CONFIG", &empty)
            .args(["pin", "--remote", "--ca-file"])
            .arg(reg.ca_file.as_ref().unwrap())
            .arg("-")
            .write_stdin(with_secret)
            .output()
            .unwrap()
    };
    let out = run(&stream);
    expect_code(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        stream.replace(
            &reg.image("team/app:v1"),
            &format!("{}@{digest}", reg.image("team/app:v1"))
        )
    );
    // The Secret comes out as it went in: the stream is the user's data.
    assert!(stdout.contains(&base64_of(&config)));
    // Without the secret the workload cannot pull: an error, nothing printed.
    let out = run(&pod_stream(&reg.image("team/app:v1"), None));
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
