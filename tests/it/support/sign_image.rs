//! The independent signature producer, `scripts/sign-image.py` (Python and
//! its `cryptography` package, no imagelock code), run as a child process:
//! each subcommand pushes to a plain-HTTP registry and prints one JSON
//! object saying what it pushed.
//!
//! The Python comes from `IMAGELOCK_SIGN_PYTHON` (scripts/test.sh exports
//! its virtualenv's), else `python3` on PATH; it must import
//! `cryptography` ≥ 45, or the test panics saying how to get it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::Registry;

/// The environment variable naming the Python to run the producer with.
pub(crate) const PYTHON_VAR: &str = "IMAGELOCK_SIGN_PYTHON";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sign-image.py")
}

/// The Python that runs the producer, checked once.
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let python = std::env::var(PYTHON_VAR).unwrap_or_else(|_| "python3".to_string());
        let check = Command::new(&python)
            .args([
                "-c",
                "import cryptography, sys; sys.exit(0 if int(cryptography.__version__.split('.')[0]) >= 45 else 3)",
            ])
            .output();
        match check {
            Ok(out) if out.status.success() => python,
            Ok(out) => panic!(
                "{python} cannot run scripts/sign-image.py: it needs the Python package `cryptography` >= 45 ({}). Run scripts/test.sh (it makes a virtualenv with it and exports {PYTHON_VAR}), or: python3 -m venv ~/.cache/imagelock-tests/sign-venv && ~/.cache/imagelock-tests/sign-venv/bin/pip install 'cryptography>=45' && export {PYTHON_VAR}=~/.cache/imagelock-tests/sign-venv/bin/python",
                if out.status.code() == Some(3) {
                    "an older version is installed".to_string()
                } else {
                    String::from_utf8_lossy(&out.stderr).trim().to_string()
                }
            ),
            Err(e) => panic!(
                "cannot run {python} ({e}): scripts/sign-image.py needs Python 3 with `cryptography` >= 45; set {PYTHON_VAR} to such a Python, or run scripts/test.sh"
            ),
        }
    })
}

/// `sign-image.py ARGS`; its JSON. Panics with its stderr when it fails.
pub(crate) fn run(args: &[&str]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sign-image.py {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sign-image.py {} printed no JSON ({e}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A producer bound to one plain-HTTP registry, with a key pair and a
/// test CA in the registry's scratch directory.
pub(crate) struct Signer {
    host: String,
    /// keygen's output (`public_key`, `private_key`, `key_id`, …).
    pub key: serde_json::Value,
    /// The `ca-init` directory.
    pub ca_dir: PathBuf,
}

impl Signer {
    pub(crate) fn new(reg: &Registry) -> Signer {
        assert!(!reg.is_tls(), "sign-image.py pushes over plain HTTP");
        let dir = reg.scratch().join("signer");
        let keys = dir.join("keys");
        let ca_dir = dir.join("ca");
        fs_err::create_dir_all(&keys).unwrap();
        let key = run(&["keygen", "--out", keys.to_str().unwrap()]);
        run(&["ca-init", "--out", ca_dir.to_str().unwrap()]);
        Signer {
            host: reg.host(),
            key,
            ca_dir,
        }
    }

    fn private_key(&self) -> String {
        self.key["private_key"].as_str().unwrap().to_string()
    }

    /// `SUBCOMMAND HOST REPO@DIGEST ARGS…`.
    pub(crate) fn run(&self, sub: &str, image: &str, args: &[&str]) -> serde_json::Value {
        let mut all = vec![sub, &self.host, image];
        all.extend_from_slice(args);
        run(&all)
    }

    /// `cosign-sign --key` (no log entry), then `args`.
    pub(crate) fn cosign_sign(&self, image: &str, args: &[&str]) -> serde_json::Value {
        let key = self.private_key();
        let mut all = vec!["--key", &key, "--no-tlog"];
        all.extend_from_slice(args);
        self.run("cosign-sign", image, &all)
    }

    /// `bundle-sign --key`, logged in the test CA's log, then `args`.
    pub(crate) fn bundle_sign(&self, image: &str, args: &[&str]) -> serde_json::Value {
        let key = self.private_key();
        let ca = self.ca_dir.to_str().unwrap().to_string();
        let mut all = vec!["--key", &key, "--ca-dir", &ca];
        all.extend_from_slice(args);
        self.run("bundle-sign", image, &all)
    }

    /// `attest --key --no-tlog --predicate-type TYPE`, then `args`.
    pub(crate) fn attest(
        &self,
        image: &str,
        predicate_type: &str,
        args: &[&str],
    ) -> serde_json::Value {
        let key = self.private_key();
        let mut all = vec![
            "--key",
            &key,
            "--no-tlog",
            "--predicate-type",
            predicate_type,
        ];
        all.extend_from_slice(args);
        self.run("attest", image, &all)
    }

    /// `notation-sign --ca-dir`, then `args`.
    pub(crate) fn notation_sign(&self, image: &str, args: &[&str]) -> serde_json::Value {
        let ca = self.ca_dir.to_str().unwrap().to_string();
        let mut all = vec!["--ca-dir", &ca];
        all.extend_from_slice(args);
        self.run("notation-sign", image, &all)
    }

    /// `sbom --format FORMAT`.
    pub(crate) fn sbom(&self, image: &str, format: &str) -> serde_json::Value {
        self.run("sbom", image, &["--format", format])
    }
}
