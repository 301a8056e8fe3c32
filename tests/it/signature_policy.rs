//! End-to-end: `lock` with `[[verify]]` rules against the real registry,
//! with cosign signatures made by the independent producer
//! (`scripts/sign-image.py`, Python `cryptography`): a digest is recorded
//! only when a signature by the rule's key signs it in its repository, and
//! the lockfile records what verified it.

use assert_cmd::Command;

use crate::support;
use crate::support::run::expect_code;
use crate::support::sign_image::Signer;
use crate::support::{Registry, Setup};

fn imagelock(reg: &Registry) -> Command {
    let mut cmd = Command::cargo_bin("imagelock").unwrap();
    cmd.envs(reg.isolated_env()).current_dir(reg.scratch());
    for var in support::run::PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// A project in the registry's scratch directory: a Deployment using
/// `images`, and an imagelock.toml requiring `key` for `team/*`.
fn project(reg: &Registry, images: &[String], key: &str) {
    let dir = reg.scratch();
    let mut containers = String::new();
    for (i, image) in images.iter().enumerate() {
        containers.push_str(&format!("      - name: c{i}\n        image: {image}\n"));
    }
    fs_err::write(
        dir.join("deploy.yaml"),
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n{containers}"),
    )
    .unwrap();
    fs_err::write(
        dir.join("imagelock.toml"),
        format!(
            "paths = [\"deploy.yaml\"]\nplain-http = [\"{}\"]\n\n[[verify]]\nname = \"team\"\nimages = [\"{}/team/*\"]\nkey = \"{key}\"\n",
            reg.host(),
            reg.host()
        ),
    )
    .unwrap();
}

fn lock(reg: &Registry) -> std::process::Output {
    imagelock(reg).args(["lock"]).output().unwrap()
}

#[test]
fn lock_records_a_digest_only_when_the_rules_key_signed_it() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "signed");
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    project(&reg, &[reg.image("team/app:v1")], &public);
    let lockfile = reg.scratch().join("images.lock");

    // Unsigned: nothing recorded, exit 2, the rule and what is missing named.
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no signature found (rule \"team\" requires one made with the key"),
        "{err}"
    );
    assert!(!lockfile.exists());

    // Signed by the key, for this digest in this repository: recorded.
    let signed = signer.cosign_sign(&format!("team/app@{digest}"), &[]);
    let out = lock(&reg);
    expect_code(&out, 0);
    let text = fs_err::read_to_string(&lockfile).unwrap();
    assert!(text.contains("version = 2\n"), "{text}");
    let record = format!(
        "[[image.signature]]\nkind = \"cosign\"\nmanifest = \"{}\"\nlayer = \"{}\"\nkey = \"{}\"\nverified = \"team\"\n",
        signed["manifest_digest"].as_str().unwrap(),
        signed["layer_digest"].as_str().unwrap(),
        signer.key["key_id"].as_str().unwrap(),
    );
    assert!(text.contains(&record), "{text}\n---\n{record}");
    // `list --format json` shows what signs each reference's digest.
    let out = imagelock(&reg)
        .args(["list", "--format", "json"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sig = &doc["references"][0]["signatures"][0];
    assert_eq!(sig["kind"], "cosign", "{doc}");
    assert_eq!(sig["manifest"], signed["manifest_digest"], "{doc}");
    assert_eq!(sig["key"], signer.key["key_id"], "{doc}");
    assert_eq!(sig["verified"], "team", "{doc}");
    // The lockfile is the cache: a second run asks nothing about it.
    let out = lock(&reg);
    expect_code(&out, 0);
    assert_eq!(fs_err::read_to_string(&lockfile).unwrap(), text);
}

#[test]
fn lock_refuses_each_signature_that_does_not_count_and_says_why() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let other_key = support::sign_image::run(&[
        "keygen",
        "--out",
        reg.scratch().join("other").to_str().unwrap(),
    ]);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let lockfile = reg.scratch().join("images.lock");
    let elsewhere = format!("sha256:{}", "e".repeat(64));
    // (seed, how it is signed, what the error says)
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "other-key",
            vec![
                "--key".into(),
                other_key["private_key"].as_str().unwrap().into(),
                "--no-tlog".into(),
            ],
            "not signed by sha256:",
        ),
        (
            "other-digest",
            vec!["--digest-in-payload".into(), elsewhere.clone()],
            "the signature is for sha256:eeee",
        ),
        (
            "other-repository",
            vec![
                "--docker-reference".into(),
                format!("{}/evil/app", reg.host()),
            ],
            "names the repository",
        ),
        (
            "tampered",
            vec!["--tamper".into(), "payload".into()],
            "not signed by",
        ),
    ];
    for (seed, how, says) in cases {
        let digest = reg.push_oci_image("team/app", seed, seed);
        let image = format!("team/app@{digest}");
        let args: Vec<&str> = how.iter().map(String::as_str).collect();
        if seed == "other-key" {
            signer.run("cosign-sign", &image, &args);
        } else {
            signer.cosign_sign(&image, &args);
        }
        project(&reg, &[reg.image(&format!("team/app:{seed}"))], &public);
        let out = lock(&reg);
        expect_code(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("none valid under rule \"team\""),
            "{seed}: {err}"
        );
        assert!(err.contains(says), "{seed}: {err}");
        assert!(!lockfile.exists(), "{seed}");
    }
    // An image no rule names is locked without a signature.
    let digest = reg.push_oci_image("other/app", "v1", "free");
    project(&reg, &[reg.image("other/app:v1")], &public);
    let out = lock(&reg);
    expect_code(&out, 0);
    let text = fs_err::read_to_string(&lockfile).unwrap();
    assert!(
        text.contains(&digest) && text.contains("version = 1\n"),
        "{text}"
    );
}

#[test]
fn verify_key_on_the_command_line_requires_it_of_every_image() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("other/app", "v1", "cli-key");
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    project(&reg, &[reg.image("other/app:v1")], &public);
    let out = imagelock(&reg)
        .args(["lock", "--verify-key", &public])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("rule \"--verify-key\""));
    signer.cosign_sign(&format!("other/app@{digest}"), &[]);
    let out = imagelock(&reg)
        .args(["lock", "--verify-key", &public])
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert!(fs_err::read_to_string(reg.scratch().join("images.lock"))
        .unwrap()
        .contains("verified = \"--verify-key\""));
}

#[test]
fn check_remote_finds_unsigned_invalid_and_gone_signatures_in_every_format() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let digest = reg.push_oci_image("team/app", "v1", "check");
    signer.cosign_sign(&format!("team/app@{digest}"), &[]);
    project(&reg, &[reg.image("team/app:v1")], &public);
    expect_code(&lock(&reg), 0);
    let check = |format: &str| {
        imagelock(&reg)
            .args(["check", "--remote", "--format", format])
            .output()
            .unwrap()
    };
    expect_code(&check("text"), 0);

    // The .sig tag overwritten by another key's signature: the recorded
    // signature is gone, and what is there does not verify.
    let other = support::sign_image::run(&[
        "keygen",
        "--out",
        reg.scratch().join("other").to_str().unwrap(),
    ]);
    signer.run(
        "cosign-sign",
        &format!("team/app@{digest}"),
        &["--key", other["private_key"].as_str().unwrap(), "--no-tlog"],
    );
    let out = check("json");
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["signature-invalid", "signature-gone"], "{doc}");
    assert_eq!(doc["findings"][0]["file"], "deploy.yaml");
    assert_eq!(doc["findings"][0]["line"], 10);

    // Every rule is described in SARIF; the findings name theirs.
    let out = check("sarif");
    expect_code(&out, 1);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules: Vec<&str> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for id in ["unsigned", "signature-invalid", "signature-gone"] {
        assert!(rules.contains(&id), "{rules:?}");
    }
    let text = String::from_utf8_lossy(&check("text").stdout).to_string();
    assert!(
        text.contains("signature-gone") && text.contains("signature-invalid"),
        "{text}"
    );

    // A required image with no signature at all: unsigned.
    let bare = reg.push_oci_image("team/bare", "v1", "bare");
    project(&reg, &[reg.image("team/bare:v1")], &public);
    fs_err::write(
        reg.scratch().join("images.lock"),
        format!(
            "version = 1\n\n[[image]]\nname = \"{}/team/bare\"\ntag = \"v1\"\ndigest = \"{bare}\"\n",
            reg.host()
        ),
    )
    .unwrap();
    let out = check("json");
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["findings"][0]["kind"], "unsigned", "{doc}");
}

#[test]
fn a_rule_requiring_an_attestation_records_the_digest_only_with_it_signed() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let digest = reg.push_oci_image("team/app", "v1", "attested");
    let image = format!("team/app@{digest}");
    signer.cosign_sign(&image, &[]);
    project(&reg, &[reg.image("team/app:v1")], &public);
    let config = reg.scratch().join("imagelock.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(
        &config,
        format!("{text}attestations = [\"https://slsa.dev/provenance/v1\"]\n"),
    )
    .unwrap();
    let lockfile = reg.scratch().join("images.lock");
    // Signed, not attested.
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rule \"team\" requires attestations: no attestation of type \"https://slsa.dev/provenance/v1\" found"),
        "{err}"
    );
    assert!(!lockfile.exists());
    // Attested by another key: found, not valid.
    let other = support::sign_image::run(&[
        "keygen",
        "--out",
        reg.scratch().join("other").to_str().unwrap(),
    ]);
    signer.run(
        "attest",
        &image,
        &[
            "--key",
            other["private_key"].as_str().unwrap(),
            "--no-tlog",
            "--predicate-type",
            "https://slsa.dev/provenance/v1",
        ],
    );
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no valid attestation of type"), "{err}");
    assert!(err.contains("not signed by"), "{err}");
    // Attested with the rule's key: recorded with the signature.
    let attested = signer.attest(&image, "https://slsa.dev/provenance/v1", &[]);
    let out = lock(&reg);
    expect_code(&out, 0);
    let text = fs_err::read_to_string(&lockfile).unwrap();
    let record = format!(
        "[[image.attestation]]\npredicate-type = \"https://slsa.dev/provenance/v1\"\nmanifest = \"{}\"\n",
        attested["tag"]["manifest_digest"].as_str().unwrap()
    );
    assert!(text.contains(&record), "{text}\n{attested}");
    assert!(text.contains("verified = \"team\""), "{text}");
}
