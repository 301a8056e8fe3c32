//! Running a credential helper or provider plugin: stdin in, stdout and
//! stderr captured (never printed: stdout holds secrets), a deadline.

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
    pub stderr: Vec<u8>,
}

impl Output {
    /// The first non-empty line of stderr, trimmed and cut to 200 characters.
    pub(crate) fn stderr_line(&self) -> Option<String> {
        first_line(&self.stderr)
    }
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

pub(crate) fn first_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut out: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        out.push('…');
    }
    Some(out)
}

/// Run `program args…` with `env` added to the inherited environment,
/// `stdin` written to it, killed after `timeout`.
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
    let mut pipe_in = child.stdin.take();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(p) = pipe_in.as_mut() {
            // A program that exits without reading stdin is not an error.
            let _ = p.write_all(&input);
        }
        drop(pipe_in);
    });
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                // Bounded: a runaway program cannot fill memory.
                let _ = p.by_ref().take(4 << 20).read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = writer.join();
                return Err(ExecError::TimedOut(timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(ExecError::Io(e)),
        }
    };
    let _ = writer.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
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
        stderr,
    })
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

/// Find `name` on `PATH`.
pub(crate) fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
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
        assert_eq!(out.stderr_line().as_deref(), Some("bad thing"));
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
