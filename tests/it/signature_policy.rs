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

// ---- sigstore bundles and keyless signatures (sigstore-verify) ----

const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// As [`project`], the `team/*` rule's body being `rule` (TOML lines);
/// no rule at all when `rule` is empty.
fn project_rule(reg: &Registry, images: &[String], rule: &str) {
    project(reg, images, "unused.pub");
    let path = reg.scratch().join("imagelock.toml");
    let text = fs_err::read_to_string(&path).unwrap();
    let text = if rule.is_empty() {
        text[..text.find("\n[[verify]]").unwrap() + 1].to_string()
    } else {
        text.replace("key = \"unused.pub\"\n", rule)
    };
    fs_err::write(path, text).unwrap();
}

fn trusted_root(signer: &Signer) -> String {
    signer
        .ca_dir
        .join("trusted_root.json")
        .to_str()
        .unwrap()
        .to_string()
}

/// A keyless rule for the signer's trusted root, identity and issuer as
/// TOML key-values (`identity = "…"`, `issuer-regexp = '…'`).
fn keyless_rule(signer: &Signer, identity: &str, issuer: &str) -> String {
    format!(
        "{identity}\n{issuer}\ntrusted-root = \"{}\"\n",
        trusted_root(signer)
    )
}

fn keyless_args<'a>(signer: &'a Signer, identity: &'a str, issuer: &'a str) -> Vec<&'a str> {
    vec![
        "--keyless",
        "--ca-dir",
        signer.ca_dir.to_str().unwrap(),
        "--identity",
        identity,
        "--issuer",
        issuer,
    ]
}

fn lockfile_text(reg: &Registry) -> String {
    fs_err::read_to_string(reg.scratch().join("images.lock")).unwrap()
}

#[test]
fn lock_records_a_key_signed_bundle_once_its_log_entry_is_checked() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let key_id = signer.key["key_id"].as_str().unwrap().to_string();
    let digest = reg.push_oci_image("team/app", "v1", "bundle-key");
    let signed = signer.bundle_sign(&format!("team/app@{digest}"), &[]);
    // cosign 3's form: a DSSE statement with cosign's signing predicate,
    // listed with an empty artifactType.
    let dsse = reg.push_oci_image("team/app", "v2", "bundle-key-dsse");
    let signed_dsse = signer.bundle_sign(
        &format!("team/app@{dsse}"),
        &[
            "--predicate-type",
            "https://sigstore.dev/cosign/sign/v1",
            "--empty-artifact-type",
        ],
    );
    let images = [reg.image("team/app:v1"), reg.image("team/app:v2")];

    // Without a trusted root the log entry cannot be checked: refused, saying so.
    project_rule(&reg, &images, &format!("key = \"{public}\"\n"));
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a trusted root to be checked"), "{err}");

    project_rule(
        &reg,
        &images,
        &format!(
            "key = \"{public}\"\ntrusted-root = \"{}\"\n",
            trusted_root(&signer)
        ),
    );
    let out = lock(&reg);
    expect_code(&out, 0);
    let text = lockfile_text(&reg);
    for s in [&signed, &signed_dsse] {
        let record = format!(
            "[[image.signature]]\nkind = \"sigstore-bundle\"\nmanifest = \"{}\"\nlayer = \"{}\"\nkey = \"{key_id}\"\nverified = \"team\"\n",
            s["manifest_digest"].as_str().unwrap(),
            s["layer_digest"].as_str().unwrap(),
        );
        assert!(text.contains(&record), "{text}\n---\n{record}");
    }
    // check --remote finds both bundles still there.
    let out = imagelock(&reg)
        .args(["check", "--remote"])
        .output()
        .unwrap();
    expect_code(&out, 0);
}

#[test]
fn keyless_bundles_are_accepted_for_the_identity_and_issuer_required() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "keyless");
    let signed = signer.run(
        "bundle-sign",
        &format!("team/app@{digest}"),
        &keyless_args(&signer, IDENTITY, ISSUER),
    );
    let images = [reg.image("team/app:v1")];
    let record = format!(
        "[[image.signature]]\nkind = \"sigstore-bundle\"\nmanifest = \"{}\"\nlayer = \"{}\"\nidentity = \"{IDENTITY}\"\nissuer = \"{ISSUER}\"\nverified = \"team\"\n",
        signed["manifest_digest"].as_str().unwrap(),
        signed["layer_digest"].as_str().unwrap(),
    );
    let rules = [
        keyless_rule(
            &signer,
            &format!("identity = \"{IDENTITY}\""),
            &format!("issuer = \"{ISSUER}\""),
        ),
        keyless_rule(
            &signer,
            r"identity-regexp = 'https://github\.com/acme/[^/]+/\.github/workflows/release\.yml@refs/tags/v.*'",
            r"issuer-regexp = 'https://token\.actions\.githubusercontent\.com'",
        ),
    ];
    for rule in &rules {
        let _ = fs_err::remove_file(reg.scratch().join("images.lock"));
        project_rule(&reg, &images, rule);
        let out = lock(&reg);
        expect_code(&out, 0);
        let text = lockfile_text(&reg);
        assert!(text.contains(&record), "{rule}\n{text}\n---\n{record}");
    }
    let out = imagelock(&reg)
        .args(["check", "--remote"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let out = imagelock(&reg)
        .args(["list", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sig = &doc["references"][0]["signatures"][0];
    assert_eq!(sig["kind"], "sigstore-bundle", "{doc}");
    assert_eq!(sig["identity"], IDENTITY, "{doc}");
    assert_eq!(sig["issuer"], ISSUER, "{doc}");

    // A regular expression must match the whole identity (cosign's matches
    // anywhere in it).
    let _ = fs_err::remove_file(reg.scratch().join("images.lock"));
    project_rule(
        &reg,
        &images,
        &keyless_rule(
            &signer,
            r"identity-regexp = 'https://github\.com/acme/app'",
            &format!("issuer = \"{ISSUER}\""),
        ),
    );
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "certificate identity \"{IDENTITY}\" is not matching /https://github\\.com/acme/app/"
        )),
        "{err}"
    );

    // The command line's flags, as cosign names them, for every image.
    project_rule(&reg, &[reg.image("other/app:v1")], "");
    let other = reg.push_oci_image("other/app", "v1", "keyless-cli");
    signer.run(
        "bundle-sign",
        &format!("other/app@{other}"),
        &keyless_args(&signer, IDENTITY, ISSUER),
    );
    let root = trusted_root(&signer);
    for flags in [
        vec![
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ],
        vec![
            "--certificate-identity-regexp",
            "https://github.com/acme/.*",
            "--certificate-oidc-issuer-regexp",
            "https://token.actions.githubusercontent.com",
        ],
    ] {
        let _ = fs_err::remove_file(reg.scratch().join("images.lock"));
        let out = imagelock(&reg)
            .arg("lock")
            .args(&flags)
            .args(["--trusted-root", &root])
            .output()
            .unwrap();
        expect_code(&out, 0);
        let text = lockfile_text(&reg);
        assert!(
            text.contains(&format!(
                "identity = \"{IDENTITY}\"\nissuer = \"{ISSUER}\"\nverified = \"--certificate-identity\"\n"
            )),
            "{flags:?}\n{text}"
        );
    }
    // Keyless without a trusted root is an error before anything is asked.
    let out = imagelock(&reg)
        .args([
            "lock",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("need --trusted-root FILE"));
    let out = imagelock(&reg)
        .args([
            "lock",
            "--certificate-identity",
            IDENTITY,
            "--trusted-root",
            &root,
        ])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs the certificate's issuer too"));
}

#[test]
fn keyless_bundles_that_do_not_count_are_refused_with_their_reason() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    // Another trust domain altogether (CA, log and CT log nobody trusts),
    // and its CA with the trusted log and CT log (only the chain is wrong).
    let untrusted = reg.scratch().join("untrusted");
    support::sign_image::run(&["ca-init", "--out", untrusted.to_str().unwrap()]);
    let untrusted_ca = reg.scratch().join("untrusted-ca");
    support::sign_image::run(&["ca-init", "--out", untrusted_ca.to_str().unwrap()]);
    for file in [
        "rekor.key",
        "rekor.pub",
        "ctlog.key",
        "ctlog.pub",
        "ca.json",
    ] {
        fs_err::copy(signer.ca_dir.join(file), untrusted_ca.join(file)).unwrap();
    }
    let elsewhere = format!("sha256:{}", "e".repeat(64));
    let rule = keyless_rule(
        &signer,
        &format!("identity = \"{IDENTITY}\""),
        &format!("issuer = \"{ISSUER}\""),
    );
    let ca = signer.ca_dir.to_str().unwrap().to_string();
    let keyless = |identity: &str, issuer: &str, ca: &str| -> Vec<String> {
        [
            "--keyless",
            "--ca-dir",
            ca,
            "--identity",
            identity,
            "--issuer",
            issuer,
        ]
        .map(String::from)
        .to_vec()
    };
    let with = |mut base: Vec<String>, more: &[&str]| {
        base.extend(more.iter().map(|s| (*s).to_string()));
        base
    };
    let other_identity =
        "https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1.2.3";
    // (seed, bundle-sign arguments, what the error says)
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "wrong-identity",
            keyless(other_identity, ISSUER, &ca),
            "identity mismatch",
        ),
        (
            "wrong-issuer",
            keyless(IDENTITY, "https://accounts.google.com", &ca),
            "issuer mismatch",
        ),
        (
            "expired",
            with(keyless(IDENTITY, ISSUER, &ca), &["--expired"]),
            "the certificate had expired when the signature was logged",
        ),
        (
            "untrusted-ca",
            keyless(IDENTITY, ISSUER, untrusted_ca.to_str().unwrap()),
            "not issued by a certificate authority of the trusted root",
        ),
        (
            "untrusted-log",
            keyless(IDENTITY, ISSUER, untrusted.to_str().unwrap()),
            "the transparency log is not one the trusted root names",
        ),
        (
            "no-tlog",
            with(keyless(IDENTITY, ISSUER, &ca), &["--no-tlog"]),
            "no transparency-log entry",
        ),
        (
            "tampered-signature",
            with(keyless(IDENTITY, ISSUER, &ca), &["--tamper", "signature"]),
            "invalid signature",
        ),
        (
            "tampered-proof",
            with(keyless(IDENTITY, ISSUER, &ca), &["--tamper", "proof"]),
            "inclusion proof",
        ),
        (
            "other-digest",
            with(
                keyless(IDENTITY, ISSUER, &ca),
                &[
                    "--predicate-type",
                    "https://sigstore.dev/cosign/sign/v1",
                    "--digest-in-payload",
                    &elsewhere,
                ],
            ),
            "the bundle signs another digest",
        ),
        (
            "key-signed",
            vec![
                "--key".into(),
                signer.key["private_key"].as_str().unwrap().into(),
                "--ca-dir".into(),
                ca.clone(),
            ],
            "signed with a key, not keylessly",
        ),
    ];
    for (seed, how, says) in cases {
        let digest = reg.push_oci_image("team/app", seed, seed);
        let args: Vec<&str> = how.iter().map(String::as_str).collect();
        signer.run("bundle-sign", &format!("team/app@{digest}"), &args);
        project_rule(&reg, &[reg.image(&format!("team/app:{seed}"))], &rule);
        let out = lock(&reg);
        expect_code(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("none valid under rule \"team\""),
            "{seed}: {err}"
        );
        assert!(err.contains(says), "{seed}: {err}");
        assert!(!reg.scratch().join("images.lock").exists(), "{seed}");
    }
}

#[test]
fn keyless_cosign_signatures_are_checked_like_bundles_and_by_their_claims() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let rule = keyless_rule(
        &signer,
        &format!("identity = \"{IDENTITY}\""),
        r"issuer-regexp = 'https://token\.actions\.githubusercontent\.com'",
    );
    let digest = reg.push_oci_image("team/app", "v1", "legacy-keyless");
    let signed = signer.run(
        "cosign-sign",
        &format!("team/app@{digest}"),
        &keyless_args(&signer, IDENTITY, ISSUER),
    );
    project_rule(&reg, &[reg.image("team/app:v1")], &rule);
    let out = lock(&reg);
    expect_code(&out, 0);
    let record = format!(
        "[[image.signature]]\nkind = \"cosign\"\nmanifest = \"{}\"\nlayer = \"{}\"\nidentity = \"{IDENTITY}\"\nissuer = \"{ISSUER}\"\nverified = \"team\"\n",
        signed["manifest_digest"].as_str().unwrap(),
        signed["layer_digest"].as_str().unwrap(),
    );
    let text = lockfile_text(&reg);
    assert!(text.contains(&record), "{text}\n---\n{record}");
    fs_err::remove_file(reg.scratch().join("images.lock")).unwrap();

    let elsewhere = format!("sha256:{}", "e".repeat(64));
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "wrong-issuer",
            vec!["--issuer", "https://accounts.google.com"],
            "certificate OIDC issuer \"https://accounts.google.com\" is not matching",
        ),
        (
            "expired",
            vec!["--expired"],
            "the certificate had expired when the signature was logged",
        ),
        ("no-tlog", vec!["--no-tlog"], "no transparency-log entry"),
        ("tampered-set", vec!["--tamper", "set"], "inclusion promise"),
        (
            "other-digest",
            vec!["--digest-in-payload", &elsewhere],
            "the signature is for sha256:eeee",
        ),
    ];
    for (seed, more, says) in cases {
        let digest = reg.push_oci_image("team/app", seed, seed);
        // The later --issuer wins over keyless_args's (argparse).
        let mut args = keyless_args(&signer, IDENTITY, ISSUER);
        args.extend(more);
        signer.run("cosign-sign", &format!("team/app@{digest}"), &args);
        project_rule(&reg, &[reg.image(&format!("team/app:{seed}"))], &rule);
        let out = lock(&reg);
        expect_code(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("none valid under rule \"team\""),
            "{seed}: {err}"
        );
        assert!(err.contains(says), "{seed}: {err}");
    }
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

#[test]
fn signatures_are_recorded_without_a_rule_when_asked_and_looked_up_again_by_update() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("free/app", "v1", "recorded");
    let first = signer.cosign_sign(&format!("free/app@{digest}"), &[]);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    // The rule names team/* only: free/app is recorded, not required.
    project(&reg, &[reg.image("free/app:v1")], &public);
    let lockfile = reg.scratch().join("images.lock");
    expect_code(&lock(&reg), 0);
    assert!(!fs_err::read_to_string(&lockfile)
        .unwrap()
        .contains("[[image.signature]]"));
    fs_err::remove_file(&lockfile).unwrap();
    let out = imagelock(&reg)
        .args(["lock", "--signatures"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let text = fs_err::read_to_string(&lockfile).unwrap();
    let manifest = first["manifest_digest"].as_str().unwrap();
    assert!(
        text.contains(&format!("manifest = \"{manifest}\"")),
        "{text}"
    );
    // Unverified: no key, no rule.
    assert!(!text.contains("verified ="), "{text}");
    // A second signature appended (a new .sig manifest; the same payload
    // makes the same layer): `update --signatures` looks again and records
    // the manifest now there.
    let second = signer.cosign_sign(&format!("free/app@{digest}"), &["--append"]);
    assert_eq!(second["layers"], 2);
    let out = imagelock(&reg)
        .args(["update", "--signatures"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let text = fs_err::read_to_string(&lockfile).unwrap();
    let now = second["manifest_digest"].as_str().unwrap();
    assert!(text.contains(&format!("manifest = \"{now}\"")), "{text}");
    assert!(!text.contains(manifest), "{text}");
}

// ---- Notation (Notary Project) signatures ----

const NOTARY_DN: &str = "C=US,ST=WA,O=acme,CN=builder";

/// A Notation rule trusting the root of `ca_dir` and `identities` (TOML
/// array items).
fn notation_rule(ca_dir: &std::path::Path, identities: &str) -> String {
    format!(
        "notation-roots = [\"{}\"]\nnotation-identities = [{identities}]\n",
        ca_dir.join("root.pem").to_str().unwrap()
    )
}

/// The referrers tag schema index of `digest` in `team/app` replaced by
/// one listing `descriptors`.
fn set_referrers(reg: &Registry, digest: &str, descriptors: Vec<serde_json::Value>) {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descriptors,
    });
    reg.push_manifest(
        "team/app",
        &crate::support::referrers_api::referrers_tag(digest),
        "application/vnd.oci.image.index.v1+json",
        index.to_string().as_bytes(),
    );
}

#[test]
fn a_notation_signature_from_the_trust_store_for_a_trusted_identity_is_recorded() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "notation");
    let rule = notation_rule(&signer.ca_dir, "\"x509.subject: O=acme, ST=WA, C=US\"");
    project_rule(&reg, &[reg.image("team/app:v1")], &rule);

    // Unsigned: refused, the rule's trust named.
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no signature found (rule \"team\" requires one made with a Notation certificate chaining to"),
        "{err}"
    );

    let signed = signer.notation_sign(&format!("team/app@{digest}"), &["--subject-dn", NOTARY_DN]);
    let out = lock(&reg);
    expect_code(&out, 0);
    let text = lockfile_text(&reg);
    let record = format!(
        "[[image.signature]]\nkind = \"notation\"\nmanifest = \"{}\"\nlayer = \"{}\"\nidentity = \"C=US, ST=WA, O=acme, CN=builder\"\nissuer = \"O=imagelock-test, CN=imagelock-test fulcio intermediate\"\nverified = \"team\"\n",
        signed["manifest_digest"].as_str().unwrap(),
        signed["layer_digest"].as_str().unwrap(),
    );
    assert!(text.contains(&record), "{text}\n---\n{record}");
    let out = imagelock(&reg)
        .args(["list", "--format", "json"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sig = &doc["references"][0]["signatures"][0];
    assert_eq!(sig["kind"], "notation", "{doc}");
    assert_eq!(sig["identity"], "C=US, ST=WA, O=acme, CN=builder", "{doc}");

    // check --remote: clean; the signature removed from the referrers:
    // unsigned, and the recorded one gone.
    let check = || {
        imagelock(&reg)
            .args(["check", "--remote", "--format", "json"])
            .output()
            .unwrap()
    };
    expect_code(&check(), 0);
    set_referrers(&reg, &digest, Vec::new());
    let out = check();
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["unsigned", "signature-gone"], "{doc}");

    // A legacy signature manifest (no artifactType, the Notary type as its
    // config's) counts too, under a rule trusting any identity.
    let legacy = reg.push_oci_image("team/app", "v2", "notation-legacy");
    signer.notation_sign(
        &format!("team/app@{legacy}"),
        &[
            "--legacy",
            "--empty-artifact-type",
            "--subject-dn",
            NOTARY_DN,
        ],
    );
    project_rule(
        &reg,
        &[reg.image("team/app:v2")],
        &notation_rule(&signer.ca_dir, "\"*\""),
    );
    let out = lock(&reg);
    expect_code(&out, 0);
    assert!(lockfile_text(&reg).contains("kind = \"notation\""));
}

#[test]
fn notation_signatures_that_do_not_count_are_refused_with_their_reason() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let other_ca = reg.scratch().join("other-ca");
    support::sign_image::run(&["ca-init", "--out", other_ca.to_str().unwrap()]);
    let rule = notation_rule(
        &signer.ca_dir,
        "\"x509.subject: C=US, ST=WA, O=acme, CN=builder\"",
    );
    let elsewhere = format!("sha256:{}", "e".repeat(64));
    let other_image = reg.push_oci_image("team/app", "other", "notation-other");
    signer.notation_sign(
        &format!("team/app@{other_image}"),
        &["--subject-dn", NOTARY_DN],
    );
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "wrong-root",
            vec!["--ca-dir", other_ca.to_str().unwrap()],
            "not in the rule's trust store",
        ),
        (
            "identity",
            vec!["--subject-dn", "C=US,ST=WA,O=evil,CN=builder"],
            "signed by x509.subject: C=US, ST=WA, O=evil, CN=builder, which the rule does not trust",
        ),
        ("expired", vec!["--expired"], "has expired"),
        (
            "tampered-payload",
            vec!["--tamper", "payload"],
            "the signature does not verify",
        ),
        (
            "tampered-signature",
            vec!["--tamper", "signature"],
            "the signature does not verify",
        ),
        (
            "other-digest",
            vec!["--digest-in-payload", &elsewhere],
            "the signature is for sha256:eeee",
        ),
        ("other-subject", vec![], "the referrer's subject is"),
    ];
    let lockfile = reg.scratch().join("images.lock");
    for (seed, how, says) in cases {
        let digest = reg.push_oci_image("team/app", seed, &format!("notation-{seed}"));
        let image = format!("team/app@{digest}");
        if seed == "other-subject" {
            // The tag schema's index is written by clients: this digest's
            // lists the other image's signature.
            let theirs =
                crate::support::referrers_api::pushed_referrers(&reg, "team/app", &other_image);
            set_referrers(&reg, &digest, theirs);
        } else if seed == "wrong-root" {
            let mut args = vec!["--subject-dn", NOTARY_DN];
            args.extend(how);
            signer.run("notation-sign", &image, &args);
        } else {
            let mut args = vec!["--subject-dn", NOTARY_DN];
            args.extend(how);
            signer.notation_sign(&image, &args);
        }
        project_rule(&reg, &[reg.image(&format!("team/app:{seed}"))], &rule);
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
}

#[test]
fn a_notation_rule_is_refused_when_mixed_or_its_identities_are_not_notations() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let good = notation_rule(&signer.ca_dir, "\"*\"");
    let at = regex::Regex::new(r"imagelock\.toml:\d+:\d+").unwrap();
    for (rule, says) in [
        (
            format!("key = \"{public}\"\n{good}"),
            "a Notation rule (`notation-roots`) takes no `key`",
        ),
        (
            notation_rule(&signer.ca_dir, "\"x509.subject: CN=acme, O=Acme\""),
            "must name C, ST and O",
        ),
        (
            good.replace("notation-identities = [\"*\"]\n", ""),
            "needs `notation-identities`",
        ),
        (
            good.replace("root.pem", "missing.pem"),
            "cannot read the root certificate",
        ),
    ] {
        project_rule(&reg, &[reg.image("team/app:v1")], &rule);
        let out = lock(&reg);
        expect_code(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(at.is_match(&err), "{rule}: {err}");
        assert!(err.contains(says), "{rule}: {err}");
    }
}

#[test]
fn notation_root_on_the_command_line_requires_it_of_every_image() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("other/app", "v1", "cli-notation");
    project_rule(&reg, &[reg.image("other/app:v1")], "");
    let root = signer.ca_dir.join("root.pem");
    let root = root.to_str().unwrap();
    let with_flags = |identity: &str| {
        imagelock(&reg)
            .args([
                "lock",
                "--notation-root",
                root,
                "--notation-identity",
                identity,
            ])
            .output()
            .unwrap()
    };
    let out = with_flags("x509.subject: C=US, ST=WA, O=acme");
    expect_code(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no signature found (rule \"--notation-root\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    signer.notation_sign(&format!("other/app@{digest}"), &["--subject-dn", NOTARY_DN]);
    // Another organisation is not trusted; this one is.
    let out = with_flags("x509.subject: C=US, ST=WA, O=evil");
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("which the rule does not trust"));
    let out = with_flags("x509.subject: C=US, ST=WA, O=acme");
    expect_code(&out, 0);
    assert!(lockfile_text(&reg).contains("verified = \"--notation-root\""));
    // A root without identities is a usage error.
    let out = imagelock(&reg)
        .args(["lock", "--notation-root", root])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--notation-identity"));
}

// ---- hostile review (issue 22): defects found and what held ----

/// Defect: the lockfile cache trusted a record for the rule's NAME only.
/// A rule whose key is replaced (rotated after a compromise) keeps its
/// name, so `lock` kept every digest the old key had verified, asking
/// nothing. The record must name the rule's current key to count.
#[test]
fn a_replaced_key_is_asked_again_not_trusted_from_the_lockfile() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let old_public = signer.key["public_key"].as_str().unwrap().to_string();
    let digest = reg.push_oci_image("team/app", "v1", "rotated");
    signer.cosign_sign(&format!("team/app@{digest}"), &[]);
    project(&reg, &[reg.image("team/app:v1")], &old_public);
    expect_code(&lock(&reg), 0);
    let before = lockfile_text(&reg);
    assert!(before.contains("verified = \"team\""), "{before}");

    // The old key is compromised: the rule now names a new one.
    let new_key = support::sign_image::run(&[
        "keygen",
        "--out",
        reg.scratch().join("new-key").to_str().unwrap(),
    ]);
    project(
        &reg,
        &[reg.image("team/app:v1")],
        new_key["public_key"].as_str().unwrap(),
    );
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("none valid under rule \"team\"") && err.contains("not signed by"),
        "{err}"
    );
    assert_eq!(lockfile_text(&reg), before, "nothing is written");
}

/// Defect: `images` patterns were matched as written against normalised
/// names, so one naming a tag (`host/team/app:v1`), or written as Docker
/// reads names (`nginx`, `acme/*`, `index.docker.io/x`), matched nothing
/// and the images it meant were locked unverified, without a word. A tag
/// or digest is now an error at its line; Docker's short forms are read
/// as Docker reads them (unit test `patterns_are_read_as_docker_reads_names`).
#[test]
fn a_rule_pattern_naming_a_tag_is_an_error_not_a_rule_that_never_applies() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    reg.push_oci_image("team/app", "v1", "tag-pattern");
    project(&reg, &[reg.image("team/app:v1")], &public);
    let path = reg.scratch().join("imagelock.toml");
    let text = fs_err::read_to_string(&path)
        .unwrap()
        .replace("/team/*\"]", "/team/app:v1\"]");
    fs_err::write(&path, text).unwrap();
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("imagelock.toml:6:") && err.contains("names a tag or digest"),
        "{err}"
    );
    assert!(!reg.scratch().join("images.lock").exists());
}

/// Defect: an identity regular expression invalid on its own (`a)|(b`)
/// was accepted, wrapped as `^(?:a)|(b)$`: its second branch no longer
/// anchored at the start (`evil-b` matched), while the README promises
/// the whole value must match.
#[test]
fn an_identity_regexp_that_escapes_its_anchors_is_refused() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    reg.push_oci_image("team/app", "v1", "regexp");
    project_rule(
        &reg,
        &[reg.image("team/app:v1")],
        &keyless_rule(
            &signer,
            "identity-regexp = 'https://github\\.com/acme/app/.*)|(.*@acme\\.com'",
            &format!("issuer = \"{ISSUER}\""),
        ),
    );
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("imagelock.toml:") && err.contains("invalid regular expression"),
        "{err}"
    );
    // The same on the command line.
    project_rule(&reg, &[reg.image("team/app:v1")], "");
    let root = trusted_root(&signer);
    let out = imagelock(&reg)
        .args([
            "lock",
            "--certificate-identity-regexp",
            "x)|(.*",
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            &root,
        ])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid regular expression"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Held: a record forged by hand in images.lock (`verified = "team"` on a
/// signature that does not exist) makes `lock` trust it (the lockfile is
/// the cache, as documented), but `check --remote` asks again and finds
/// the digest unsigned and the recorded signature gone.
#[test]
fn a_forged_record_is_caught_by_check_remote() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let digest = reg.push_oci_image("team/app", "v1", "forged");
    project(&reg, &[reg.image("team/app:v1")], &public);
    let forged = format!(
        "version = 2\n\n[[image]]\nname = \"{}/team/app\"\ntag = \"v1\"\ndigest = \"{digest}\"\n\n[[image.signature]]\nkind = \"cosign\"\nmanifest = \"sha256:{}\"\nlayer = \"sha256:{}\"\nkey = \"{}\"\nverified = \"team\"\n",
        reg.host(),
        "1".repeat(64),
        "2".repeat(64),
        signer.key["key_id"].as_str().unwrap(),
    );
    fs_err::write(reg.scratch().join("images.lock"), &forged).unwrap();
    expect_code(&lock(&reg), 0);
    let out = imagelock(&reg)
        .args(["check", "--remote", "--format", "json"])
        .output()
        .unwrap();
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["unsigned", "signature-gone"], "{doc}");
    // Every format carries both, at the use.
    for format in ["github", "markdown", "text"] {
        let out = imagelock(&reg)
            .args(["check", "--remote", "--format", format])
            .output()
            .unwrap();
        expect_code(&out, 1);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("unsigned") && text.contains("signature-gone"),
            "{format}: {text}"
        );
        assert!(text.contains("deploy.yaml"), "{format}: {text}");
    }
    // Offline, a version-2 lockfile reads as any other: check, then pin.
    expect_code(&imagelock(&reg).args(["check"]).output().unwrap(), 0);
    expect_code(&imagelock(&reg).args(["pin"]).output().unwrap(), 0);
    let pinned = fs_err::read_to_string(reg.scratch().join("deploy.yaml")).unwrap();
    assert!(
        pinned.contains(&format!("team/app:v1@{digest}")),
        "{pinned}"
    );
}

/// Held: `--verify-key` naming a file that cannot be read is an error
/// naming the file (exit 2), before any request.
#[test]
fn an_unreadable_verify_key_is_an_actionable_error() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "nokey");
    project_rule(&reg, &[reg.image("team/app:v1")], "");
    let out = imagelock(&reg)
        .args(["lock", "--verify-key", "missing.pub"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.pub"), "{err}");
    assert!(!reg.scratch().join("images.lock").exists());

    // Defect (fixed): a key file holding two keys had its first used and
    // the second ignored without a word.
    let signer = Signer::new(&reg);
    let one = fs_err::read_to_string(signer.key["public_key"].as_str().unwrap()).unwrap();
    fs_err::write(reg.scratch().join("two.pub"), format!("{one}{one}")).unwrap();
    let out = imagelock(&reg)
        .args(["lock", "--verify-key", "two.pub"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("two.pub") && err.contains("holds 2 `PUBLIC KEY` blocks"),
        "{err}"
    );
    project(&reg, &[reg.image("team/app:v1")], "two.pub");
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("imagelock.toml:7:") && err.contains("holds 2 `PUBLIC KEY` blocks"),
        "{err}"
    );
}

/// Held: a registry failing on the `.sig` HEAD (500), or serving a
/// signature layer whose bytes are not its digest's, fails the run (exit
/// 2, the use named, nothing written), never "unsigned" nor "verified".
#[test]
fn a_failing_or_lying_registry_fails_the_lock_closed() {
    use crate::support::{Fault, FaultProxy};
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let digest = reg.push_oci_image("team/app", "v1", "faults");
    let dir = reg.scratch();
    let lockfile = dir.join("images.lock");
    // The image used through `proxy`, its payload naming that host.
    let setup = |proxy: &FaultProxy| {
        let via = proxy.host();
        let signed = signer.cosign_sign(
            &format!("team/app@{digest}"),
            &["--docker-reference", &format!("{via}/team/app")],
        );
        fs_err::write(
            dir.join("deploy.yaml"),
            format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: {via}/team/app:v1\n"),
        )
        .unwrap();
        fs_err::write(
            dir.join("imagelock.toml"),
            format!("paths = [\"deploy.yaml\"]\nplain-http = [\"{via}\"]\n\n[[verify]]\nname = \"team\"\nimages = [\"{via}/team/*\"]\nkey = \"{public}\"\n"),
        )
        .unwrap();
        signed
    };

    let failing = FaultProxy::start(reg.port);
    setup(&failing);
    failing.add(
        Some("HEAD"),
        ".sig",
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        1000,
    );
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deploy.yaml:8:"), "{err}");
    assert!(err.contains("500"), "{err}");
    assert!(!err.contains("no signature found"), "{err}");
    assert!(!lockfile.exists());

    // The signature layer answered with other bytes of the same length.
    let lying = FaultProxy::start(reg.port);
    let signed = setup(&lying);
    let layer = signed["layer_digest"].as_str().unwrap();
    let payload = signed["payload"].as_str().unwrap();
    let tampered = payload.replacen("team/app", "team/apq", 1);
    assert_eq!(payload.len(), tampered.len());
    lying.add(
        Some("GET"),
        &format!("/blobs/{layer}"),
        Fault::Answer {
            code: 200,
            headers: vec![("Content-Type".into(), "application/octet-stream".into())],
            body: tampered.into_bytes(),
        },
        1000,
    );
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deploy.yaml:8:"), "{err}");
    assert!(err.contains(layer), "{err}");
    // The layer's bytes, not "the manifest body" (the message said so).
    assert!(
        err.contains("the body received hashes to") && !err.contains("manifest body"),
        "{err}"
    );
    assert!(!lockfile.exists());

    // Answered honestly, the same signature verifies.
    let honest = FaultProxy::start(reg.port);
    setup(&honest);
    expect_code(&lock(&reg), 0);
    assert!(lockfile_text(&reg).contains("verified = \"team\""));
}

/// Held: a registry that never answers the `.sig` HEAD is given up on at
/// `--timeout`, failing the run (exit 2, the use named), not hanging it.
#[test]
fn a_registry_stalling_on_the_signature_tag_times_out() {
    use crate::support::{Fault, FaultProxy};
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    reg.push_oci_image("team/app", "v1", "stall");
    let proxy = FaultProxy::start(reg.port);
    let via = proxy.host();
    let dir = reg.scratch();
    fs_err::write(
        dir.join("deploy.yaml"),
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: {via}/team/app:v1\n"),
    )
    .unwrap();
    fs_err::write(
        dir.join("imagelock.toml"),
        format!("paths = [\"deploy.yaml\"]\nplain-http = [\"{via}\"]\n\n[[verify]]\nname = \"team\"\nimages = [\"{via}/team/*\"]\nkey = \"{public}\"\n"),
    )
    .unwrap();
    proxy.add(
        Some("HEAD"),
        ".sig",
        Fault::Stall(std::time::Duration::from_secs(120)),
        1000,
    );
    let started = std::time::Instant::now();
    let out = imagelock(&reg)
        .args(["lock", "--timeout", "2"])
        .output()
        .unwrap();
    let took = started.elapsed();
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deploy.yaml:8:"), "{err}");
    assert!(took < std::time::Duration::from_secs(60), "{took:?}: {err}");
    assert!(!dir.join("images.lock").exists());
}

/// Defect (fixed), keyless side: a rule narrowed to another identity
/// keeps its name, and `lock` kept the digest a now-refused identity
/// signed. The recorded identity must be one the rule accepts now.
#[test]
fn a_narrowed_identity_is_asked_again_not_trusted_from_the_lockfile() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "narrowed");
    signer.run(
        "cosign-sign",
        &format!("team/app@{digest}"),
        &keyless_args(&signer, IDENTITY, ISSUER),
    );
    let broad = keyless_rule(
        &signer,
        r"identity-regexp = 'https://github\.com/acme/.*'",
        &format!("issuer = \"{ISSUER}\""),
    );
    project_rule(&reg, &[reg.image("team/app:v1")], &broad);
    expect_code(&lock(&reg), 0);
    let before = lockfile_text(&reg);
    assert!(
        before.contains(&format!("identity = \"{IDENTITY}\"")),
        "{before}"
    );

    // Only the v2 release workflow may sign now.
    let narrow = keyless_rule(
        &signer,
        r"identity-regexp = 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v2\..*'",
        &format!("issuer = \"{ISSUER}\""),
    );
    project_rule(&reg, &[reg.image("team/app:v1")], &narrow);
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("none valid under rule \"team\""), "{err}");
    assert_eq!(lockfile_text(&reg), before, "nothing is written");
}

/// Held: the referrers tag schema's index is written by clients; one with
/// push access lists, under this digest's tag, another digest's signed
/// bundle. It does not sign this digest: its `subject` is the other one.
#[test]
fn a_referrer_of_another_digest_listed_in_the_tag_schema_does_not_sign() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let signed_digest = reg.push_oci_image("team/app", "v1", "listed-signed");
    let target = reg.push_oci_image("team/app", "v2", "listed-target");
    signer.bundle_sign(&format!("team/app@{signed_digest}"), &[]);
    // Copy the signed digest's referrers index under the target's tag.
    let http = reg.http();
    let url = format!(
        "{}/v2/team/app/manifests/sha256-{}",
        reg.base_url(),
        signed_digest.trim_start_matches("sha256:")
    );
    let (ct, body) = crate::support::block(async move {
        let resp = http
            .get(url)
            .header("Accept", "application/vnd.oci.image.index.v1+json")
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{resp:?}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        (ct, resp.bytes().await.unwrap().to_vec())
    });
    reg.push_manifest(
        "team/app",
        &format!("sha256-{}", target.trim_start_matches("sha256:")),
        &ct,
        &body,
    );
    project_rule(
        &reg,
        &[reg.image("team/app:v2")],
        &format!(
            "key = \"{public}\"\ntrusted-root = \"{}\"\n",
            trusted_root(&signer)
        ),
    );
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "the referrer's subject is {signed_digest}, not this digest"
        )),
        "{err}"
    );
    assert!(!reg.scratch().join("images.lock").exists());
}

/// Held: a `.sig` manifest of 65 layers (one valid signature among
/// copies) is past the cap of 64 signature layers: the run fails naming
/// the cap and the use, nothing written (never a partial read taken for
/// "unsigned" or "verified").
#[test]
fn a_signature_manifest_past_the_layer_cap_fails_naming_it() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let digest = reg.push_oci_image("team/app", "v1", "many-layers");
    let signed = signer.cosign_sign(&format!("team/app@{digest}"), &[]);
    let tag = signed["tag"].as_str().unwrap().to_string();
    let http = reg.http();
    let url = format!("{}/v2/team/app/manifests/{tag}", reg.base_url());
    let (ct, body) = crate::support::block(async move {
        let resp = http
            .get(url)
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{resp:?}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        (ct, resp.bytes().await.unwrap().to_vec())
    });
    let mut manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let layer = manifest["layers"][0].clone();
    manifest["layers"] = serde_json::Value::Array(vec![layer; 65]);
    reg.push_manifest(
        "team/app",
        &tag,
        &ct,
        &serde_json::to_vec(&manifest).unwrap(),
    );
    project(&reg, &[reg.image("team/app:v1")], &public);
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has 65 layers; imagelock reads at most 64")
            && err.contains("deploy.yaml:10:"),
        "{err}"
    );
    assert!(!reg.scratch().join("images.lock").exists());
}

/// A trusted root edited so that its certificate authority's (or its
/// log's key's) validity ended before the signature was logged: the
/// keyless bundle must be refused.
fn keyless_refused_with_root(edit: impl Fn(&mut serde_json::Value)) -> String {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let digest = reg.push_oci_image("team/app", "v1", "expired-root");
    signer.run(
        "bundle-sign",
        &format!("team/app@{digest}"),
        &keyless_args(&signer, IDENTITY, ISSUER),
    );
    let path = signer.ca_dir.join("trusted_root.json");
    let mut root: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
    edit(&mut root);
    let edited = reg.scratch().join("edited_root.json");
    fs_err::write(&edited, serde_json::to_vec_pretty(&root).unwrap()).unwrap();
    let rule = format!(
        "identity = \"{IDENTITY}\"\nissuer = \"{ISSUER}\"\ntrusted-root = \"{}\"\n",
        edited.display()
    );
    project_rule(&reg, &[reg.image("team/app:v1")], &rule);
    let out = lock(&reg);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    expect_code(&out, 2);
    assert!(err.contains("none valid under rule \"team\""), "{err}");
    assert!(!reg.scratch().join("images.lock").exists());
    err
}

/// A validity period long over.
fn ended() -> serde_json::Value {
    serde_json::json!({"start": "2000-01-01T00:00:00Z", "end": "2001-01-01T00:00:00Z"})
}

/// Held: a trusted root whose certificate authority's validity ended
/// before the signature was logged does not vouch for its certificates.
#[test]
fn a_keyless_signature_under_an_expired_ca_is_refused() {
    let err = keyless_refused_with_root(|root| {
        root["certificateAuthorities"][0]["validFor"] = ended();
    });
    assert!(
        err.contains("no trusted certificate authority is valid at"),
        "{err}"
    );
}

/// Held: a log key whose validity ended before the entry was made does
/// not vouch for the entry.
#[test]
fn a_keyless_signature_logged_under_an_expired_log_key_is_refused() {
    let err = keyless_refused_with_root(|root| {
        root["tlogs"][0]["publicKey"]["validFor"] = ended();
    });
    assert!(err.contains("No log key valid at integrated time"), "{err}");
}

/// Held: an e-mail identity (the certificate's e-mail SAN) is matched as
/// a whole: `.*@acme\.com` does not accept `x@acme.com.evil.example`, a
/// URI rule does not accept an e-mail, and the e-mail itself is accepted.
#[test]
fn an_email_identity_is_matched_whole() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let google = "https://accounts.google.com";
    let images = [reg.image("team/app:v1"), reg.image("team/app:v2")];
    let honest = reg.push_oci_image("team/app", "v1", "email-honest");
    let evil = reg.push_oci_image("team/app", "v2", "email-evil");
    signer.run(
        "bundle-sign",
        &format!("team/app@{honest}"),
        &keyless_args(&signer, "release@acme.com", google),
    );
    signer.run(
        "bundle-sign",
        &format!("team/app@{evil}"),
        &keyless_args(&signer, "x@acme.com.evil.example", google),
    );
    let rule = |identity: &str| keyless_rule(&signer, identity, &format!("issuer = \"{google}\""));
    project_rule(&reg, &images, &rule(r"identity-regexp = '.*@acme\.com'"));
    let out = lock(&reg);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("x@acme.com.evil.example")
            && !err.contains(&format!("team/app:v1 ({honest})")),
        "{err}"
    );
    project_rule(
        &reg,
        &images[..1],
        &rule(r"identity-regexp = 'https://github\.com/acme/.*'"),
    );
    expect_code(&lock(&reg), 2);
    project_rule(&reg, &images[..1], &rule("identity = \"release@acme.com\""));
    expect_code(&lock(&reg), 0);
    assert!(lockfile_text(&reg).contains("identity = \"release@acme.com\""));
}

/// A lockfile entry a rule names whose records show no signature
/// verified by it (a digest edited by hand or in a pull request, its
/// records dropped; or a record of the rule's old key).
fn project_with_unverified_entry(reg: &Registry) -> String {
    let signer = Signer::new(reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let digest = reg.push_oci_image("team/app", "v1", "never-verified");
    project(reg, &[reg.image("team/app:v1")], &public);
    fs_err::write(
        reg.scratch().join("images.lock"),
        format!(
            "version = 1\n\n[[image]]\nname = \"{}/team/app\"\ntag = \"v1\"\ndigest = \"{digest}\"\n",
            reg.host()
        ),
    )
    .unwrap();
    digest
}

/// Defect (fixed): offline `check` ignored [[verify]] rules, so such an
/// entry passed it without a word (only `lock` and `check --remote`
/// caught it). It is an `unsigned` finding at the use now.
#[test]
fn offline_check_reports_an_entry_its_rule_never_verified() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let digest = project_with_unverified_entry(&reg);
    let out = imagelock(&reg)
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &doc["findings"][0];
    assert_eq!(f["kind"], "unsigned", "{doc}");
    assert_eq!(f["file"], "deploy.yaml", "{doc}");
    assert_eq!(f["line"], 10, "{doc}");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains(&digest) && message.contains("verified by rule \"team\""),
        "{doc}"
    );
    // Once `lock` has verified a signature, offline check is clean.
    let signer = Signer::new(&reg);
    signer.cosign_sign(&format!("team/app@{digest}"), &[]);
    expect_code(&lock(&reg), 0);
    expect_code(&imagelock(&reg).args(["check"]).output().unwrap(), 0);
}

/// Defect (fixed): `pin` ignored [[verify]] rules and pinned such an
/// entry without a word. It refuses the lockfile now (exit 2, nothing
/// written, the entry and its rule named), from files and on a stream.
#[test]
fn pin_does_not_pin_an_entry_its_rule_never_verified() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let digest = project_with_unverified_entry(&reg);
    let manifest = reg.scratch().join("deploy.yaml");
    let before = fs_err::read_to_string(&manifest).unwrap();
    let out = imagelock(&reg).args(["pin"]).output().unwrap();
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("images.lock")
            && err.contains(&digest)
            && err.contains("rule \"team\"")
            && err.contains("imagelock lock"),
        "{err}"
    );
    assert_eq!(fs_err::read_to_string(&manifest).unwrap(), before);
    let out = imagelock(&reg)
        .args(["pin", "-"])
        .write_stdin(before.clone())
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    // Once `lock` has verified a signature, pin pins it.
    let signer = Signer::new(&reg);
    signer.cosign_sign(&format!("team/app@{digest}"), &[]);
    expect_code(&lock(&reg), 0);
    expect_code(&imagelock(&reg).args(["pin"]).output().unwrap(), 0);
    assert!(fs_err::read_to_string(&manifest)
        .unwrap()
        .contains(&format!("team/app:v1@{digest}")));
}

/// Defect (fixed): `pin - --remote` (render-time pinning: `helm template
/// … | imagelock pin --remote -  | kubectl apply -f -`) resolved what the
/// lockfile lacked without the `[[verify]]` rules, so an unsigned digest
/// of a repository a rule names was pinned into the stream about to be
/// applied (and, with `--update-lockfile`, recorded). It is refused now,
/// as `lock` refuses it; a signed one is pinned and recorded with its
/// signature.
#[test]
fn render_time_pinning_checks_the_rules_as_lock_does() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let digest = reg.push_oci_image("team/app", "v1", "render-time");
    project(&reg, &[reg.image("team/app:v1")], &public);
    let lockfile = reg.scratch().join("images.lock");
    fs_err::write(&lockfile, "version = 1\n").unwrap();
    let stream = fs_err::read_to_string(reg.scratch().join("deploy.yaml")).unwrap();
    let pin = || {
        imagelock(&reg)
            .args(["pin", "--remote", "--update-lockfile", "-"])
            .write_stdin(stream.clone())
            .output()
            .unwrap()
    };
    let out = pin();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    expect_code(&out, 2);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.contains("no signature found (rule \"team\"") && err.contains("<stdin>:10:"),
        "{err}"
    );
    assert_eq!(fs_err::read_to_string(&lockfile).unwrap(), "version = 1\n");

    signer.cosign_sign(&format!("team/app@{digest}"), &[]);
    let out = pin();
    expect_code(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("team/app:v1@{digest}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fs_err::read_to_string(&lockfile)
        .unwrap()
        .contains("verified = \"team\""));
}

/// Held: a tag moved to an unsigned digest is refused by `update` (the old
/// digest's records do not carry over); signed, the new digest is locked
/// with its own record only. With the rule removed, `lock` keeps the
/// records as they are (version 2).
#[test]
fn a_moved_tag_takes_no_records_with_it() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let signer = Signer::new(&reg);
    let public = signer.key["public_key"].as_str().unwrap().to_string();
    let old = reg.push_oci_image("team/app", "v1", "moved-old");
    let old_sig = signer.cosign_sign(&format!("team/app@{old}"), &[]);
    project(&reg, &[reg.image("team/app:v1")], &public);
    expect_code(&lock(&reg), 0);
    let before = lockfile_text(&reg);

    let new = reg.push_oci_image("team/app", "v1", "moved-new");
    let out = imagelock(&reg).args(["update"]).output().unwrap();
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&new) && err.contains("no signature found"),
        "{err}"
    );
    assert_eq!(lockfile_text(&reg), before);

    let new_sig = signer.cosign_sign(&format!("team/app@{new}"), &[]);
    expect_code(&imagelock(&reg).args(["update"]).output().unwrap(), 0);
    let after = lockfile_text(&reg);
    assert!(after.contains(&new), "{after}");
    assert!(
        after.contains(new_sig["manifest_digest"].as_str().unwrap())
            && !after.contains(old_sig["manifest_digest"].as_str().unwrap()),
        "{after}"
    );

    // The rule removed: nothing asked, the records stay.
    project_rule(&reg, &[reg.image("team/app:v1")], "");
    expect_code(&lock(&reg), 0);
    assert_eq!(lockfile_text(&reg), after);
    assert!(
        after.starts_with("version = 2\n") || after.contains("\nversion = 2\n"),
        "{after}"
    );
}
