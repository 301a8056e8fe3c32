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

/// Wait for a background imagelock (its output piped), failing the test
/// with its stderr once `limit` has passed. The output is read while it
/// runs, so a chatty run cannot block on a full pipe.
pub(crate) fn wait_with_timeout(child: std::process::Child, limit: std::time::Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .status();
            let stderr = rx
                .recv()
                .ok()
                .and_then(Result::ok)
                .map(|o| text(&o.stderr))
                .unwrap_or_default();
            panic!("imagelock did not finish within {limit:?}; stderr:\n{stderr}");
        }
    }
}
