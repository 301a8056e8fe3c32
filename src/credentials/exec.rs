//! Running a credential helper or provider plugin: stdin in, stdout and
//! stderr captured and never printed (stdout holds secrets, and stderr may
//! too), a deadline that holds for the program's whole process group, and
//! lookup on `PATH` in absolute directories only.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished program gave back.
pub(crate) struct Output {
    pub success: bool,
    /// `exit status 3`, `killed by signal 9`.
    pub status: String,
    pub stdout: Vec<u8>,
    // Stderr is read (so the program never blocks on a full pipe) and
    // dropped: it is never shown, as it may hold a secret.
}

/// Why a program could not be run to the end.
pub(crate) enum ExecError {
    /// The program does not exist (or is not executable).
    NotFound,
    /// It ran longer than the deadline and was killed.
    TimedOut(Duration),
    /// Could not start it or talk to it.
    Io(std::io::Error),
}

/// After the program exits, how long its output pipes may stay open (held
/// by a child it left behind) before its process group is killed.
const AFTER_EXIT_GRACE: Duration = Duration::from_millis(500);

/// Run `program args…` with `env` added to the inherited environment,
/// `stdin` written to it, in a process group of its own. Its output is
/// read with the deadline: when `timeout` passes, or when it has exited
/// but a child it left behind still holds its stdout or stderr open past
/// a short grace, the whole group is killed, so no background child can
/// hold the run.
pub(crate) fn run(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    stdin: &[u8],
    timeout: Duration,
) -> Result<Output, ExecError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
    }
    let deadline = Instant::now() + timeout;
    let mut child = match spawn(&mut cmd, timeout) {
        Ok(c) => c,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            return Err(ExecError::NotFound)
        }
        Err(e) => return Err(ExecError::Io(e)),
    };
    let group = Group(child.id());
    let mut pipe_in = child.stdin.take();
    let input = stdin.to_vec();
    // Detached: a program that never reads its stdin cannot hold the run.
    std::thread::spawn(move || {
        if let Some(p) = pipe_in.as_mut() {
            // A program that exits without reading stdin is not an error.
            let _ = p.write_all(&input);
        }
        drop(pipe_in);
    });
    // Stdout is kept as it comes (so what was read is there even when the
    // pipe is given up on); stderr is drained and dropped, never shown.
    let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let read = |keep: Option<std::sync::Arc<std::sync::Mutex<Vec<u8>>>>,
                pipe: Option<Box<dyn Read + Send>>| {
        let tx = tx.clone();
        // Detached: a pipe held open by a child in another session is
        // given up on, not waited for.
        std::thread::spawn(move || {
            if let Some(mut p) = pipe {
                let mut chunk = [0u8; 8192];
                loop {
                    match p.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            if let Some(k) = &keep {
                                let mut k =
                                    k.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                                // Bounded: a runaway program cannot fill memory.
                                let room = (4usize << 20).saturating_sub(k.len());
                                k.extend_from_slice(&chunk[..n.min(room)]);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
            let _ = tx.send(());
        });
    };
    read(
        Some(kept.clone()),
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    read(
        None,
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    drop(tx);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                group.kill();
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExecError::TimedOut(timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                group.kill();
                return Err(ExecError::Io(e));
            }
        }
    };
    // The program has exited: its pipes close unless something it left
    // behind holds them.
    let grace = (Instant::now() + AFTER_EXIT_GRACE).min(deadline);
    let mut killed = false;
    let mut open = 2;
    while open > 0 {
        let now = Instant::now();
        let until = if killed {
            now + AFTER_EXIT_GRACE
        } else {
            grace
        };
        match rx.recv_timeout(until.saturating_duration_since(now)) {
            Ok(()) => open -= 1,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !killed => {
                group.kill();
                killed = true;
            }
            Err(_) => break,
        }
    }
    let stdout = std::mem::take(
        &mut *kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let status_text = match status.code() {
        Some(c) => format!("exit status {c}"),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt as _;
                format!("killed by signal {}", status.signal().unwrap_or(0))
            }
            #[cfg(not(unix))]
            {
                "killed".to_string()
            }
        }
    };
    Ok(Output {
        success: status.success(),
        status: status_text,
        stdout,
    })
}

/// A program's process group (its id is the program's pid).
struct Group(u32);

impl Group {
    /// `SIGKILL` to every process left in the group.
    fn kill(&self) {
        #[cfg(unix)]
        if let Ok(pgid) = libc::pid_t::try_from(self.0) {
            if pgid > 0 {
                // SAFETY: kill(2) with a negative pid signals a process
                // group; no memory is involved.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Start `cmd`, retrying while the kernel says the program is busy
/// (`ETXTBSY`): a file just written is refused by `execve` while any
/// process still holds it open for writing, and a process that forked
/// between the writer's `open` and `close` holds that descriptor until
/// its own `exec` (close-on-exec closes it only then). That window lasts
/// microseconds, so a few short waits, bounded by the program's own
/// deadline, outlast it: a helper installed a moment ago by a parallel
/// job, or a test writing its helper while other threads fork.
fn spawn(cmd: &mut Command, timeout: Duration) -> std::io::Result<std::process::Child> {
    let give_up = Instant::now() + timeout.min(Duration::from_secs(2));
    let mut wait = Duration::from_millis(1);
    loop {
        match cmd.spawn() {
            Err(e) if is_text_busy(&e) && Instant::now() + wait < give_up => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// `ETXTBSY`: the program file is open for writing somewhere.
fn is_text_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::ExecutableFileBusy
}

/// Where a program was found on `PATH`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Which {
    /// In an absolute `PATH` directory.
    Found(std::path::PathBuf),
    /// Only through a relative `PATH` entry (an empty one, `.`, `bin`),
    /// that is in or below the working directory: refused, as Docker and
    /// Go's `exec.LookPath` refuse it.
    OnlyRelative {
        /// The entry as written (`""` for an empty one).
        entry: String,
    },
    NotFound,
}

/// Find `name` in the absolute directories of `PATH`.
pub(crate) fn which(name: &str) -> Which {
    let Some(path) = std::env::var_os("PATH") else {
        return Which::NotFound;
    };
    let mut relative = None;
    for dir in std::env::split_paths(&path) {
        if dir.is_absolute() {
            let p = dir.join(name);
            if is_executable(&p) {
                return Which::Found(p);
            }
        } else if relative.is_none() {
            let p = if dir.as_os_str().is_empty() {
                std::path::PathBuf::from(".").join(name)
            } else {
                dir.join(name)
            };
            if is_executable(&p) {
                relative = Some(dir.display().to_string());
            }
        }
    }
    match relative {
        Some(entry) => Which::OnlyRelative { entry },
        None => Which::NotFound,
    }
}

/// The message for a program found only through a relative `PATH` entry.
pub(crate) fn refused_relative(name: &str, entry: &str) -> String {
    let entry = if entry.is_empty() {
        "an empty PATH entry (the working directory)".to_string()
    } else {
        format!("the relative PATH entry {entry:?}")
    };
    format!(
        "not run: {name} was found only through {entry}, and a program from the working directory is never run; install it in an absolute PATH directory, or remove the relative entry from PATH"
    )
}

pub(crate) fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prog");
        fs_err::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs_err::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        (dir, p)
    }

    #[test]
    fn stdin_env_args_and_status() {
        let (_d, p) =
            sh(r#"read x; echo "$x $1 $FOO"; echo "  " >&2; echo "bad thing" >&2; exit 3"#);
        let out = run(
            &p,
            &["arg".into()],
            &[("FOO".into(), "bar".into())],
            b"hello\n",
            Duration::from_secs(10),
        )
        .ok()
        .unwrap();
        assert!(!out.success);
        assert_eq!(out.status, "exit status 3");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello arg bar\n");
    }

    /// A program written while another thread forks is run: the fork can
    /// hold the file open for writing for a moment (`ETXTBSY`), and `run`
    /// waits that out. Without the retry, a few of these 300 rounds fail
    /// with "Text file busy" on a two-core machine.
    #[test]
    fn a_program_written_while_another_thread_forks_runs() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let stop = Arc::new(AtomicBool::new(false));
        let forker = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = Command::new("/bin/true").status();
                }
            })
        };
        let dir = tempfile::tempdir().unwrap();
        let mut failures = Vec::new();
        for i in 0..300 {
            let p = dir.path().join(format!("prog{i}"));
            fs_err::write(&p, "#!/bin/sh\necho ok\n").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                fs_err::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            match run(&p, &[], &[], b"", Duration::from_secs(10)) {
                Ok(out) if out.success && out.stdout == b"ok\n" => {}
                Ok(out) => failures.push(format!("round {i}: {}", out.status)),
                Err(ExecError::Io(e)) => failures.push(format!("round {i}: {e}")),
                Err(ExecError::NotFound) => failures.push(format!("round {i}: not found")),
                Err(ExecError::TimedOut(_)) => failures.push(format!("round {i}: timed out")),
            }
        }
        stop.store(true, Ordering::Relaxed);
        forker.join().unwrap();
        assert!(failures.is_empty(), "{failures:?}");
    }

    /// A program that answers and exits, leaving a child that holds its
    /// stdout: its answer is taken and the child killed with its group,
    /// long before the deadline. A child in a session of its own (out of
    /// reach of the group) is given up on, the answer kept.
    #[test]
    fn a_child_left_holding_stdout_does_not_hold_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let (_d, p) = sh(&format!(
            "echo ok\nsleep 1000 &\necho $! >> {0}\nsetsid sleep 1000 &\necho $! >> {0}",
            pids.display()
        ));
        let out = run(&p, &[], &[], b"", Duration::from_secs(120));
        let left = fs_err::read_to_string(&pids).unwrap_or_default();
        let left: Vec<&str> = left.lines().collect();
        // Whatever happened, leave nothing running.
        for pid in &left {
            let _ = Command::new("kill").arg("-9").arg(pid).status();
        }
        let out = match out {
            Ok(o) => o,
            Err(ExecError::TimedOut(_)) => panic!("waited for the child until the deadline"),
            Err(_) => panic!("could not run"),
        };
        assert!(out.success, "{}", out.status);
        assert_eq!(out.stdout, b"ok\n");
        assert_eq!(left.len(), 2);
    }

    #[test]
    fn text_busy_is_recognised_by_its_errno() {
        // ETXTBSY is 26 on Linux.
        assert!(is_text_busy(&std::io::Error::from_raw_os_error(26)));
        assert!(!is_text_busy(&std::io::Error::from_raw_os_error(2)));
    }

    #[test]
    fn missing_program_and_timeout() {
        assert!(matches!(
            run(
                Path::new("/nonexistent/x"),
                &[],
                &[],
                b"",
                Duration::from_secs(1)
            ),
            Err(ExecError::NotFound)
        ));
        let (_d, p) = sh("sleep 5");
        let t = Instant::now();
        assert!(matches!(
            run(&p, &[], &[], b"", Duration::from_millis(200)),
            Err(ExecError::TimedOut(_))
        ));
        assert!(t.elapsed() < Duration::from_secs(3));
    }
}
