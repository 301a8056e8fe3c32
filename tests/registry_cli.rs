//! End-to-end: the `imagelock resolve` binary against the real registry,
//! credentials from `DOCKER_CONFIG`, TLS from `--ca-file`.

mod support;

use assert_cmd::Command;
use support::{Registry, Setup};

fn imagelock(reg: &Registry) -> Command {
    let mut cmd = Command::cargo_bin("imagelock").unwrap();
    cmd.envs(reg.isolated_env())
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .current_dir(reg.scratch());
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
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    std::fs::create_dir_all(&empty).unwrap();
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&treg.skopeo_digest("private/app:v1")));
}
