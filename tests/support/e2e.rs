//! End-to-end helpers shared by the input-kind tests: run the binary
//! against a test registry, read what got locked, undo what `pin` wrote.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

use super::Registry;

/// imagelock in `dir`, pointed at this registry over plain HTTP when the
/// command talks to it.
pub fn run(reg: &Registry, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::cargo_bin("imagelock").unwrap();
    cmd.envs(reg.isolated_env())
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .args(args);
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    if args.first() == Some(&"lock") || args.contains(&"--remote") {
        cmd.arg("--plain-http").arg(reg.host());
    }
    cmd.output().unwrap()
}

pub fn locked(dir: &Path, reference: &str) -> String {
    let lock = imagelock::lockfile::Lockfile::load(&dir.join("images.lock")).unwrap();
    let r = imagelock::reference::Reference::parse(reference).unwrap();
    lock.lookup(&r)
        .unwrap_or_else(|| panic!("{reference} not locked"))
        .digest
        .to_string()
}

/// `text` with every `@sha256:<64 hex>` removed.
pub fn strip_digests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("@sha256:") {
        out.push_str(&rest[..at]);
        let hex = &rest[at + 8..];
        let n = hex.bytes().take_while(|b| b.is_ascii_hexdigit()).count();
        assert_eq!(n, 64, "a digest of {n} hex digits in {text}");
        rest = &hex[n..];
    }
    out.push_str(rest);
    out
}
