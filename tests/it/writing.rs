//! End-to-end: nothing is ever lost or half-changed on disk. Every test
//! drives the real binary: faults are real (a file-size limit, a signal, a
//! kill, a held lock), never a test-only switch.
//!
//! Needs `sh`, `mkfifo` and `kill` (coreutils/procps), and for the
//! resolution tests the `docker-registry` package.

use std::io::BufRead;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::run::{bin, expect_code, imagelock, text, wait_with_timeout};
use crate::support::{Fault, FaultProxy, Registry, Setup};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// The lockfile of [`manifest`]`("nginx:1.25")` and `("redis:7")`.
fn nginx_redis_lock() -> String {
    lockfile(&[
        ("docker.io/library/nginx", "1.25", D1),
        ("docker.io/library/redis", "7", D2),
    ])
}

/// A lockfile locking `(name, tag, digest)` triples.
fn lockfile(entries: &[(&str, &str, &str)]) -> String {
    let mut s = String::from("version = 1\n");
    for (name, tag, digest) in entries {
        s.push_str(&format!(
            "\n[[image]]\nname = \"{name}\"\ntag = \"{tag}\"\ndigest = \"{digest}\"\n"
        ));
    }
    s
}

fn manifest(image: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: {image} # keep me\n")
}

/// Every path under `dir` (files, links, fifos), relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs_err::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let p = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    tree(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect()
}

fn is_root() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("probe");
    fs_err::write(&p, "").unwrap();
    fs_err::metadata(&p).unwrap().uid() == 0
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("`kill` not found: install the Debian package `procps`");
    assert!(status.success());
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Identity and content of a file: a rewrite changes the inode.
fn fingerprint(p: &Path) -> (u64, i64, i64, Vec<u8>) {
    let m = fs_err::metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec(), fs_err::read(p).unwrap())
}

// ---- 1. all or nothing across files ----

#[test]
fn pin_writes_nothing_when_staging_a_later_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = manifest("nginx:1.25");
    // Larger than the 4 KiB limit below: staging it fails with EFBIG,
    // exactly as a full disk would, after the small one staged fine.
    let large = manifest("redis:7") + &"# padding\n".repeat(2000);
    fs_err::write(d.join("a.yaml"), &small).unwrap();
    fs_err::write(d.join("b.yaml"), &large).unwrap();
    fs_err::write(d.join("images.lock"), nginx_redis_lock()).unwrap();
    let before = tree(d);
    let out = std::process::Command::new("sh")
        .current_dir(d)
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 8; exec \"$0\" pin a.yaml b.yaml")
        .arg(bin())
        .output()
        .unwrap();
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: b.yaml: cannot write the new content: File too large"),
        "{stderr}"
    );
    assert!(stderr.contains("no file was changed"), "{stderr}");
    assert!(!stderr.contains("pinned"), "{stderr}");
    assert_eq!(fs_err::read_to_string(d.join("a.yaml")).unwrap(), small);
    assert_eq!(fs_err::read_to_string(d.join("b.yaml")).unwrap(), large);
    assert_eq!(tree(d), before, "no temporary file remains");

    // Without the limit the same run writes both.
    let out = imagelock(d, &["pin", "a.yaml", "b.yaml"]);
    expect_code(&out, 0);
    assert!(text(&out.stderr).contains("pinned 2 reference(s) in 2 file(s)"));
    assert_eq!(
        fs_err::read_to_string(d.join("a.yaml")).unwrap(),
        manifest(&format!("nginx:1.25@{D1}"))
    );
}

// ---- 2. symlinks ----

#[test]
fn pin_writes_through_a_symlinked_manifest_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir(d.join("real")).unwrap();
    fs_err::write(d.join("real/a.yaml"), manifest("nginx:1.25")).unwrap();
    fs_err::os::unix::fs::symlink("real/a.yaml", d.join("link.yaml")).unwrap();
    fs_err::write(
        d.join("images.lock"),
        lockfile(&[("docker.io/library/nginx", "1.25", D1)]),
    )
    .unwrap();
    // The link and its target both given: one file, written once.
    let out = imagelock(d, &["pin", "link.yaml", "real/a.yaml"]);
    expect_code(&out, 0);
    assert!(
        text(&out.stderr).contains("pinned 1 reference(s) in 1 file(s)"),
        "{}",
        text(&out.stderr)
    );
    let link = fs_err::symlink_metadata(d.join("link.yaml")).unwrap();
    assert!(link.file_type().is_symlink(), "the link stays a link");
    assert_eq!(
        fs_err::read_link(d.join("link.yaml")).unwrap(),
        Path::new("real/a.yaml")
    );
    assert_eq!(
        fs_err::read_to_string(d.join("real/a.yaml")).unwrap(),
        manifest(&format!("nginx:1.25@{D1}"))
    );
    assert!(temporaries(d).is_empty());
}

#[test]
fn walk_follows_symlinked_directories_and_notes_a_loop_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir_all(d.join("k8s")).unwrap();
    fs_err::create_dir_all(d.join("tree")).unwrap();
    fs_err::write(d.join("k8s/a.yaml"), manifest("nginx:1.25")).unwrap();
    fs_err::os::unix::fs::symlink("../k8s", d.join("tree/sub")).unwrap();
    fs_err::os::unix::fs::symlink(".", d.join("tree/loop")).unwrap();
    fs_err::os::unix::fs::symlink("k8s", d.join("linked")).unwrap();

    let child = std::process::Command::new(bin())
        .current_dir(d)
        .args(["list", "tree", "linked", "k8s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_with_timeout(child, Duration::from_secs(20));
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("nginx:1.25"))
        .collect();
    assert_eq!(rows.len(), 1, "one row for the one file:\n{stdout}");
    assert!(rows[0].starts_with("tree/sub/a.yaml"), "{stdout}");
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.matches("symlink loop").count(),
        1,
        "the loop is noted once:\n{stderr}"
    );
    assert!(
        stderr.contains("note: tree/loop: skipped: a symlink loop"),
        "{stderr}"
    );

    // A symlinked directory given alone is walked, not skipped.
    let out = imagelock(d, &["list", "linked"]);
    expect_code(&out, 0);
    assert!(
        text(&out.stdout).contains("linked/a.yaml"),
        "{}",
        text(&out.stdout)
    );
}

// ---- 3. owner and mode ----

#[test]
fn pin_keeps_mode_and_owner() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("a.yaml"), manifest("nginx:1.25")).unwrap();
    fs_err::write(d.join("b.yaml"), manifest("redis:7")).unwrap();
    fs_err::set_permissions(d.join("a.yaml"), std::fs::Permissions::from_mode(0o640)).unwrap();
    fs_err::set_permissions(d.join("b.yaml"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = is_root();
    if root {
        // CI runs as root over checkouts owned by someone else.
        fs_err::os::unix::fs::chown(d.join("a.yaml"), Some(1234), Some(1234)).unwrap();
    }
    let owner = |p: &str| {
        let m = fs_err::metadata(d.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    let (a_owner, b_owner) = (owner("a.yaml"), owner("b.yaml"));
    fs_err::write(d.join("images.lock"), nginx_redis_lock()).unwrap();
    let out = imagelock(d, &["pin", "."]);
    expect_code(&out, 0);
    let mode = |p: &str| fs_err::metadata(d.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("a.yaml"), 0o640);
    assert_eq!(mode("b.yaml"), 0o755);
    assert_eq!(owner("a.yaml"), a_owner);
    assert_eq!(owner("b.yaml"), b_owner);
    if root {
        assert_eq!(owner("a.yaml"), (1234, 1234));
    }
    assert!(fs_err::read_to_string(d.join("a.yaml"))
        .unwrap()
        .contains(D1));
}

#[test]
fn a_new_lockfile_gets_the_mode_the_umask_gives() {
    for (umask, expected) in [("022", 0o644), ("027", 0o640)] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Digest-only: `lock` records it without asking a registry.
        fs_err::write(d.join("a.yaml"), manifest(&format!("nginx@{D1}"))).unwrap();
        let out = std::process::Command::new("sh")
            .current_dir(d)
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" lock a.yaml"))
            .arg(bin())
            .output()
            .unwrap();
        expect_code(&out, 0);
        let mode = fs_err::metadata(d.join("images.lock")).unwrap().mode() & 0o777;
        assert_eq!(mode, expected, "umask {umask}");
    }
}

// ---- 4. the same file twice ----

#[test]
fn a_file_named_twice_is_listed_and_pinned_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir(d.join("dir")).unwrap();
    fs_err::write(d.join("dir/a.yaml"), manifest("nginx:1.25")).unwrap();
    fs_err::write(
        d.join("images.lock"),
        lockfile(&[("docker.io/library/nginx", "1.25", D1)]),
    )
    .unwrap();
    for (args, shown) in [
        (vec!["dir/a.yaml", "./dir/a.yaml"], "dir/a.yaml"),
        (vec![".", "dir/a.yaml"], "dir/a.yaml"),
        (vec!["dir", "dir/a.yaml"], "dir/a.yaml"),
    ] {
        let mut list = vec!["list"];
        list.extend(&args);
        let out = imagelock(d, &list);
        expect_code(&out, 0);
        let stdout = text(&out.stdout);
        let rows: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("nginx:1.25"))
            .collect();
        assert_eq!(rows.len(), 1, "{args:?}:\n{stdout}");
        assert!(rows[0].starts_with(shown), "{args:?}:\n{stdout}");
    }
    let out = imagelock(d, &["pin", ".", "dir/a.yaml"]);
    expect_code(&out, 0);
    assert!(
        text(&out.stderr).contains("pinned 1 reference(s) in 1 file(s)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fs_err::read_to_string(d.join("dir/a.yaml")).unwrap(),
        manifest(&format!("nginx:1.25@{D1}"))
    );
}

// ---- 5. lockfile writes ----

#[test]
fn lock_and_update_leave_an_unchanged_crlf_or_commented_lockfile_alone() {
    let crlf = format!(
        "# images.lock: written by imagelock.\r\nversion = 1\r\n\r\n[[image]]\r\nname = \"docker.io/library/nginx\"\r\ndigest = \"{D1}\"\r\n"
    );
    let commented = format!(
        "# images.lock, reviewed by the platform team\nversion = 1\n\n# nginx is pinned by digest on purpose\n[[image]]\nname = \"docker.io/library/nginx\"\ndigest = \"{D1}\" # do not bump\n"
    );
    for content in [crlf, commented] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs_err::write(d.join("a.yaml"), manifest(&format!("nginx@{D1}"))).unwrap();
        fs_err::write(d.join("images.lock"), &content).unwrap();
        let before = fingerprint(&d.join("images.lock"));
        std::thread::sleep(Duration::from_millis(20));
        for args in [&["lock", "a.yaml"][..], &["update"][..]] {
            let out = imagelock(d, args);
            expect_code(&out, 0);
            assert_eq!(
                fingerprint(&d.join("images.lock")),
                before,
                "{args:?} rewrote an unchanged lockfile"
            );
        }
    }
}

#[test]
fn an_unknown_lockfile_key_is_an_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("a.yaml"), manifest(&format!("nginx@{D1}"))).unwrap();
    fs_err::write(
        d.join("images.lock"),
        format!("version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ndigest = \"{D1}\"\nverified = true\n"),
    )
    .unwrap();
    let before = fs_err::read(d.join("images.lock")).unwrap();
    for cmd in ["lock", "pin", "list"] {
        let out = imagelock(d, &[cmd, "a.yaml"]);
        expect_code(&out, 2);
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("images.lock:6:1: unknown field `verified`"),
            "{cmd}: {stderr}"
        );
    }
    assert_eq!(fs_err::read(d.join("images.lock")).unwrap(), before);
}

/// Another process holds the lockfile (the test, with the same `flock` on
/// its directory) and changes it meanwhile: `lock` waits, then works from
/// the fresh content. Had it read before waiting it would find no entry
/// and ask the unreachable registry `127.0.0.1:1`, and fail.
#[test]
fn lock_waits_for_another_holder_and_reads_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("a.yaml"), manifest("127.0.0.1:1/app:v1")).unwrap();
    let held = fs_err::File::open(d).unwrap();
    held.lock().unwrap();
    let mut child = std::process::Command::new(bin())
        .current_dir(d)
        .args(["lock", "--plain-http", "127.0.0.1:1", "a.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(
        first.contains("images.lock: another imagelock process is updating it; waiting"),
        "{first}"
    );
    assert!(child.try_wait().unwrap().is_none(), "still waiting");
    // The other holder's work, written while `lock` waits.
    fs_err::write(
        d.join("images.lock"),
        lockfile(&[("127.0.0.1:1/app", "v1", D1)]),
    )
    .unwrap();
    held.unlock().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(
        rest.contains("0 added, 0 changed, 1 kept, 0 removed"),
        "{rest}"
    );
    let written = fs_err::read_to_string(d.join("images.lock")).unwrap();
    assert!(written.contains(D1), "{written}");
}

/// Start `imagelock ARGS` in `dir` and read its stderr until the note
/// that it waits for a lock (containing `note`); returns the child and
/// what stderr said so far.
fn spawn_until_waiting(dir: &Path, args: &[&str], note: &str) -> (Child, String) {
    let mut child = std::process::Command::new(bin())
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        said.push_str(&line);
        assert!(n > 0, "{args:?} ended without waiting; stderr:\n{said}");
        if line.contains(note) {
            break;
        }
    }
    assert!(child.try_wait().unwrap().is_none(), "still waiting: {said}");
    // The rest of stderr is read by wait_with_output.
    let rest = stderr.into_inner();
    child.stderr = Some(rest);
    (child, said)
}

const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const D4: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";

/// Two `pin` runs with different lockfiles over the same files, both
/// planned before either writes (the test holds the directory's lock until
/// both wait on it): one pins every file, the other finds the files changed
/// and writes nothing. The tree is never half one lockfile, half the other.
#[test]
fn two_pins_at_once_never_leave_a_mixed_tree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["k8s", "one", "two"] {
        fs_err::create_dir(d.join(sub)).unwrap();
    }
    fs_err::write(d.join("k8s/a.yaml"), manifest("nginx:1.25")).unwrap();
    fs_err::write(d.join("k8s/b.yaml"), manifest("redis:7")).unwrap();
    fs_err::write(d.join("one/images.lock"), nginx_redis_lock()).unwrap();
    fs_err::write(
        d.join("two/images.lock"),
        lockfile(&[
            ("docker.io/library/nginx", "1.25", D3),
            ("docker.io/library/redis", "7", D4),
        ]),
    )
    .unwrap();
    let held = fs_err::File::open(d.join("k8s")).unwrap();
    held.lock().unwrap();
    let waits = "k8s: another imagelock process is writing in this directory (this run writes k8s/";
    let (first, said_first) =
        spawn_until_waiting(d, &["pin", "--lockfile", "one/images.lock", "k8s"], waits);
    let (second, said_second) =
        spawn_until_waiting(d, &["pin", "--lockfile", "two/images.lock", "k8s"], waits);
    assert!(
        said_first.contains("waiting for it to finish"),
        "{said_first}"
    );
    assert!(said_second.starts_with("note: "), "{said_second}");
    held.unlock().unwrap();
    let outs = [
        wait_with_timeout(first, Duration::from_secs(60)),
        wait_with_timeout(second, Duration::from_secs(60)),
    ];
    let codes: Vec<_> = outs.iter().map(|o| o.status.code()).collect();
    let winner = match codes.as_slice() {
        [Some(0), Some(2)] => 0,
        [Some(2), Some(0)] => 1,
        _ => panic!(
            "one run pins, the other fails: {codes:?}\n{}\n{}",
            text(&outs[0].stderr),
            text(&outs[1].stderr)
        ),
    };
    let loser = text(&outs[1 - winner].stderr);
    assert!(
        loser.contains("k8s/a.yaml: changed while imagelock was running")
            && loser.contains("no file was changed"),
        "{loser}"
    );
    let (na, nb) = if winner == 0 { (D1, D2) } else { (D3, D4) };
    assert_eq!(
        fs_err::read_to_string(d.join("k8s/a.yaml")).unwrap(),
        manifest(&format!("nginx:1.25@{na}"))
    );
    assert_eq!(
        fs_err::read_to_string(d.join("k8s/b.yaml")).unwrap(),
        manifest(&format!("redis:7@{nb}"))
    );
    assert!(temporaries(d).is_empty(), "{:?}", tree(d));
}

/// `pin` holds the lock `lock` and `update` hold (on the lockfile's
/// directory): it says it waits for it, and a lockfile another run wrote
/// meanwhile stops it before any file is written.
#[test]
fn pin_waits_for_a_lockfile_update_and_writes_nothing_when_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir(d.join("lockdir")).unwrap();
    fs_err::write(d.join("a.yaml"), manifest("nginx:1.25")).unwrap();
    fs_err::write(d.join("lockdir/images.lock"), nginx_redis_lock()).unwrap();
    let held = fs_err::File::open(d.join("lockdir")).unwrap();
    held.lock().unwrap();
    let (child, said) = spawn_until_waiting(
        d,
        &["pin", "--lockfile", "lockdir/images.lock", "a.yaml"],
        "lockdir: another imagelock process is writing in this directory (it holds the lockfile lockdir/images.lock); waiting for it to finish",
    );
    assert!(said.starts_with("note: "), "{said}");
    // The other holder's work: an update that moved the digest.
    fs_err::write(
        d.join("lockdir/images.lock"),
        lockfile(&[("docker.io/library/nginx", "1.25", D3)]),
    )
    .unwrap();
    held.unlock().unwrap();
    let out = wait_with_timeout(child, Duration::from_secs(60));
    expect_code(&out, 2);
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "lockdir/images.lock: changed while imagelock was running (another run updated it)"
        ) && err.contains("run `imagelock pin` again"),
        "{err}"
    );
    assert_eq!(
        fs_err::read_to_string(d.join("a.yaml")).unwrap(),
        manifest("nginx:1.25")
    );
    // Run again, it pins from the new lockfile.
    let out = imagelock(d, &["pin", "--lockfile", "lockdir/images.lock", "a.yaml"]);
    expect_code(&out, 0);
    assert_eq!(
        fs_err::read_to_string(d.join("a.yaml")).unwrap(),
        manifest(&format!("nginx:1.25@{D3}"))
    );
}

// ---- 6. interrupts ----

/// SIGINT / SIGTERM while `lock` waits on a registry that does not answer:
/// exits 130 / 143 at once, the lockfile as it was, no temporary.
#[test]
fn a_signal_during_resolution_stops_lock_cleanly() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_image("team/app", "v1", "writing");
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let proxy = FaultProxy::start(reg.port);
        proxy.add(
            None,
            "/manifests/",
            Fault::Stall(Duration::from_secs(60)),
            10,
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs_err::write(
            d.join("a.yaml"),
            manifest(&format!("{}/team/app:v1", proxy.host())),
        )
        .unwrap();
        let old = "# kept as is\r\nversion = 1\r\n".to_string();
        fs_err::write(d.join("images.lock"), &old).unwrap();
        let child = std::process::Command::new(bin())
            .current_dir(d)
            .envs(reg.isolated_env())
            .args(["lock", "--plain-http", &proxy.host(), "a.yaml"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the manifest request", Duration::from_secs(20), || {
            proxy
                .requests()
                .iter()
                .any(|r| r.path.contains("/manifests/"))
        });
        let sent = Instant::now();
        signal(&child, sig);
        let out = wait_with_timeout(child, Duration::from_secs(10));
        assert!(sent.elapsed() < Duration::from_secs(5), "stopped promptly");
        expect_code(&out, code);
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("interrupted by SIG{sig}")),
            "{stderr}"
        );
        assert_eq!(stderr.matches("interrupted by").count(), 1, "{stderr}");
        assert_eq!(fs_err::read_to_string(d.join("images.lock")).unwrap(), old);
        assert!(temporaries(d).is_empty());
    }
}

/// SIGINT / SIGTERM during `pin`'s write phase. Deterministic: `b.yaml` is
/// a FIFO, so the re-check before staging it blocks until the test writes
/// it again; by then `a.yaml` has a staged temporary, and the signal lands
/// between the two. Every temporary is removed and no file changes.
#[test]
fn a_signal_during_pin_writes_removes_the_staged_files() {
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let a = manifest("nginx:1.25");
        let b = manifest("redis:7");
        fs_err::write(d.join("a.yaml"), &a).unwrap();
        let fifo = d.join("b.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("`mkfifo` not found: install the Debian package `coreutils`");
        assert!(made.success());
        fs_err::write(d.join("images.lock"), nginx_redis_lock()).unwrap();
        let before = tree(d);
        let child = std::process::Command::new(bin())
            .current_dir(d)
            .args(["pin", "a.yaml", "b.yaml"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The scan reads b.yaml once...
        fs_err::write(&fifo, &b).unwrap();
        // ...then a.yaml is staged and the re-check of b.yaml blocks.
        wait_for("a.yaml's temporary", Duration::from_secs(20), || {
            !temporaries(d).is_empty()
        });
        signal(&child, sig);
        fs_err::write(&fifo, &b).unwrap();
        let out = wait_with_timeout(child, Duration::from_secs(10));
        expect_code(&out, code);
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("interrupted by SIG{sig}; nothing was written")),
            "{stderr}"
        );
        // The cause is said once, not again after the message.
        assert_eq!(stderr.matches("interrupted by").count(), 1, "{stderr}");
        assert_eq!(fs_err::read_to_string(d.join("a.yaml")).unwrap(), a);
        assert_eq!(tree(d), before, "no temporary file remains");
    }
}

/// `kill -9` at arbitrary moments of a `pin` over many files: each file is
/// entirely old or entirely new, and a rerun finishes the job.
#[test]
fn sigkill_during_pin_leaves_every_file_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir(d.join("m")).unwrap();
    fs_err::write(
        d.join("images.lock"),
        lockfile(&[("docker.io/library/nginx", "1.25", D1)]),
    )
    .unwrap();
    let old = manifest("nginx:1.25") + &"# filler\n".repeat(200);
    let new = manifest(&format!("nginx:1.25@{D1}")) + &"# filler\n".repeat(200);
    let files: Vec<PathBuf> = (0..300)
        .map(|i| d.join(format!("m/f{i:03}.yaml")))
        .collect();
    let reset = || {
        for f in &files {
            fs_err::write(f, &old).unwrap();
        }
    };
    // Time one whole run, then kill at fractions of it, so the kills land
    // in the scan, the staging and the renames (the last few percent).
    reset();
    let started = Instant::now();
    expect_code(&imagelock(d, &["pin", "m"]), 0);
    let whole = started.elapsed();
    for permille in [0u32, 100, 300, 500, 700, 850, 920, 960, 980, 990, 1000] {
        let delay = whole * permille / 1000;
        reset();
        let mut child = std::process::Command::new(bin())
            .current_dir(d)
            .args(["pin", "m"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        for f in &files {
            let got = fs_err::read_to_string(f).unwrap();
            assert!(
                got == old || got == new,
                "{} is half-written after kill -9 at {delay:?}",
                f.display()
            );
        }
    }
    // Leftover temporaries of a killed run do not disturb the next one.
    let out = imagelock(d, &["pin", "m"]);
    expect_code(&out, 0);
    for f in &files {
        assert_eq!(fs_err::read_to_string(f).unwrap(), new);
    }
}
