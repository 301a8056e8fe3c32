//! End-to-end helpers shared by the input-kind tests: run the binary
//! against a test registry, read what got locked, undo what `pin` wrote.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

use super::Registry;

/// imagelock in `dir` with this registry's credentials, pointed at it
/// (its CA, or plain HTTP) when the command talks to registries.
pub(crate) fn run(reg: &Registry, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::cargo_bin("imagelock").unwrap();
    cmd.envs(reg.isolated_env())
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .args(args);
    super::run::without_proxies(&mut cmd);
    let needs_registry = matches!(args.first(), Some(&"lock" | &"update" | &"resolve"))
        || args.contains(&"--remote");
    if needs_registry {
        match &reg.ca_file {
            Some(ca) => cmd.arg("--ca-file").arg(ca),
            None => cmd.arg("--plain-http").arg(reg.host()),
        };
    }
    cmd.output().unwrap()
}

pub(crate) fn locked(dir: &Path, reference: &str) -> String {
    let lock = imagelock::lockfile::Lockfile::load(&dir.join("images.lock")).unwrap();
    let r = imagelock::reference::Reference::parse(reference).unwrap();
    lock.lookup(&r)
        .unwrap_or_else(|| panic!("{reference} not locked"))
        .digest
        .to_string()
}

/// `text` with every `@sha256:<64 hex>` removed (each digest checked to
/// have 64 hex digits).
pub(crate) fn strip_digests(text: &str) -> String {
    for (at, _) in text.match_indices("@sha256:") {
        let n = text[at + 8..]
            .bytes()
            .take_while(u8::is_ascii_hexdigit)
            .count();
        assert_eq!(n, 64, "a digest of {n} hex digits in {text}");
    }
    super::roundtrip::strip_digests(text)
}

/// Assert that each `(repository:tag, pushed digest)` of this registry is
/// locked in `dir`'s lockfile with the pushed digest, which skopeo also
/// reports for the tag.
pub(crate) fn assert_locked(reg: &Registry, dir: &Path, pushed: &[(&str, &str)]) {
    for (repo_and_tag, digest) in pushed {
        let reference = reg.image(repo_and_tag);
        let got = locked(dir, &reference);
        assert_eq!(&got, digest, "{reference}");
        assert_eq!(got, reg.skopeo_digest(repo_and_tag), "{reference}");
    }
}

/// `pin ARGS` in `dir`: it succeeds, `file` differs from `original` only by
/// inserted `@sha256:…` digests, and a second `pin` changes nothing.
/// Returns the pinned text.
pub(crate) fn pin_twice(
    reg: &Registry,
    dir: &Path,
    args: &[&str],
    file: &Path,
    original: &str,
) -> String {
    let o = run(reg, dir, args);
    super::run::expect_code(&o, 0);
    let pinned = fs_err::read_to_string(file).unwrap();
    assert_eq!(
        strip_digests(&pinned),
        original,
        "pin changed more than the digests"
    );
    let o = run(reg, dir, args);
    super::run::expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(file).unwrap(),
        pinned,
        "a second pin changed the file"
    );
    pinned
}

/// A Deployment using `images`, in `dir/deploy.yaml`.
pub(crate) fn deployment(dir: &Path, images: &[String]) {
    let containers: String = images
        .iter()
        .enumerate()
        .map(|(i, img)| format!("        - name: c{i}\n          image: {img}\n"))
        .collect();
    fs_err::write(
        dir.join("deploy.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n{containers}"
        ),
    )
    .unwrap();
}
