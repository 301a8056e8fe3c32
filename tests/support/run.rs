//! Running the real binary from a test: one helper for every test file.

use std::path::{Path, PathBuf};
use std::process::Output;

/// The binary under test.
pub(crate) fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("imagelock")
}

/// Run `imagelock ARGS` in `dir` (no `RUST_LOG` from the environment).
pub(crate) fn imagelock(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(bin())
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Assert the exit code, showing both streams when it is wrong.
pub(crate) fn expect_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Every variable that may send requests through a proxy.
pub(crate) const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Run without any proxy from the environment: tests talk to 127.0.0.1.
pub(crate) fn without_proxies(cmd: &mut assert_cmd::Command) -> &mut assert_cmd::Command {
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// `imagelock ARGS` in `dir` with `reg`'s isolated environment (its
/// credentials and nothing of the machine's own), the arguments as given.
pub(crate) fn isolated(reg: &super::Registry, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = assert_cmd::Command::cargo_bin("imagelock").unwrap();
    cmd.envs(reg.isolated_env())
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .args(args);
    without_proxies(&mut cmd);
    cmd.output().unwrap()
}

/// Wait for a background imagelock, failing the test (with its stderr)
/// once `limit` has passed.
pub(crate) fn wait_with_timeout(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> Output {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "imagelock did not finish within {limit:?}; stderr:\n{}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
