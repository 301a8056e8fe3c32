//! Advisory locks (`flock(2)`) on directories, shared by every imagelock
//! process that writes.
//!
//! A directory is locked rather than a file because a write replaces a
//! file by a rename (a lock on the old inode would guard nothing), and a
//! rename never replaces the directory. `lock` and `update` hold the lock
//! of the lockfile's directory from the read to the write
//! ([`crate::lockfile::Lockfile::open_for_update`]); `pin` holds that one
//! and the lock of every directory it writes a file in
//! ([`lock_for_writing`]), taken in one fixed order (by device and inode,
//! the same in every process) so two runs never wait on each other in a
//! circle. A run that has to wait says on stderr what for, after a second.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::file_error::without_path;
use crate::interrupt::{self, Interrupted};

/// How long to wait for another holder before saying so.
pub(crate) const WAIT_NOTE_AFTER: Duration = Duration::from_secs(1);

/// Why a directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    #[error("{path}: cannot lock the directory against other imagelock processes: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}; nothing was written")]
    Interrupted(#[from] Interrupted),
}

/// Locks held until dropped (closing a directory releases its lock).
#[derive(Debug)]
pub struct DirLocks {
    _held: Vec<std::fs::File>,
}

/// Take `handle`'s exclusive lock, waiting for another holder; `waiting`
/// is printed (as a note on stderr) once the wait has lasted a second. A
/// stop signal ends the wait.
pub(crate) fn wait_exclusive(
    handle: &std::fs::File,
    waiting: impl FnOnce() -> String,
) -> Result<(), WaitError> {
    let started = Instant::now();
    let mut waiting = Some(waiting);
    loop {
        match handle.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                if started.elapsed() >= WAIT_NOTE_AFTER {
                    if let Some(message) = waiting.take() {
                        eprintln!("note: {}", message());
                    }
                }
                interrupt::sleep(Duration::from_millis(50))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(WaitError::Io(e)),
        }
    }
}

/// Why [`wait_exclusive`] returned without the lock.
#[derive(Debug)]
pub(crate) enum WaitError {
    Io(std::io::Error),
    Interrupted(Interrupted),
}

impl From<Interrupted> for WaitError {
    fn from(i: Interrupted) -> WaitError {
        WaitError::Interrupted(i)
    }
}

/// The directory whose lock guards a write to `path`: that of the file a
/// symlink finally points to.
pub(crate) fn dir_of(path: &Path) -> PathBuf {
    let target = crate::write::resolve_target(path).unwrap_or_else(|_| path.to_path_buf());
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Lock the directory of `lockfile` (the lock `lock` and `update` hold)
/// and that of every file in `files`, each once, in the fixed order.
pub fn lock_for_writing(lockfile: &Path, files: &[&Path]) -> Result<DirLocks, DirLockError> {
    // (device, inode) → the directory as named, and why it is locked.
    let mut dirs: std::collections::BTreeMap<(u64, u64), (PathBuf, std::fs::File, String)> =
        Default::default();
    let wanted = std::iter::once((
        dir_of(lockfile),
        format!("it holds the lockfile {}", lockfile.display()),
    ))
    .chain(
        files
            .iter()
            .map(|f| (dir_of(f), format!("this run writes {} there", f.display()))),
    );
    for (dir, why) in wanted {
        let io = |e: std::io::Error| DirLockError::Io {
            path: dir.clone(),
            source: without_path(e, &dir),
        };
        let handle = fs_err::File::open(&dir).map_err(io)?.into_file();
        let meta = handle.metadata().map_err(io)?;
        dirs.entry((meta.dev(), meta.ino()))
            .or_insert((dir, handle, why));
    }
    let mut held = Vec::with_capacity(dirs.len());
    for (dir, handle, why) in dirs.into_values() {
        match wait_exclusive(&handle, || {
            format!(
                "{}: another imagelock process is writing in this directory ({why}); waiting for it to finish",
                dir.display()
            )
        }) {
            Ok(()) => held.push(handle),
            Err(WaitError::Interrupted(i)) => return Err(i.into()),
            Err(WaitError::Io(source)) => return Err(DirLockError::Io { path: dir, source }),
        }
    }
    Ok(DirLocks { _held: held })
}
