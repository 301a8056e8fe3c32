//! Writing files all or nothing: staged temporaries, then renames.
//!
//! A [`Transaction`] stages each new file as a temporary beside its target
//! (in the target's own directory, so the rename cannot cross file
//! systems): written, fsynced, given the original's owner (when the process
//! may chown, that is as root), group and mode. Only when every file is
//! staged does [`Transaction::commit`] rename them all over their targets
//! and fsync the directories. A failure or a stop signal before the renames
//! removes every temporary and changes nothing. Before the renames each
//! original is kept under a second name (a hard link, or a copy), so a
//! rename that fails part-way (an immutable file) is undone by renaming
//! the originals back; a signal during the renames does not stop them
//! (they are fast and cannot run out of space), so an interrupted run is
//! entirely new.
//!
//! A symlinked target is written through: the link's final target is
//! replaced and the link stays a link. A hard-linked target is replaced
//! like any other (the rename keeps the write atomic): this name gets the
//! new file, the other names keep the old one, and
//! [`Transaction::hard_linked`] names such files so the caller can say so. A new file gets the mode the umask
//! gives (`0644` under `022`).
//!
//! A file staged with [`Transaction::stage_replacing`] records a hash of
//! the content the caller read; [`Transaction::commit`] reads every such
//! target again just before the renames and, should one differ (another
//! process or an editor wrote it since), renames nothing. Callers that
//! must not race another imagelock run hold [`crate::dirlock`]'s locks
//! around the whole transaction, so this last check covers writers that
//! take no lock.
//!
//! This module never parses file content.

use crate::file_error::without_path;
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::interrupt::{self, Interrupted};

/// Why a file could not be written. Names the file and the step.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: cannot {step}: {source}")]
    Io {
        /// The file as the user named it.
        path: PathBuf,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}; nothing was written")]
    Interrupted(#[from] Interrupted),
    /// A target's content is no longer what the caller read.
    #[error(
        "{path}: changed while imagelock was running (after it was read); nothing was written"
    )]
    Changed {
        /// The file as the user named it.
        path: PathBuf,
    },
    /// A rename failed after others had succeeded; those were given their
    /// originals back, so no file changed.
    #[error("{0}; the files replaced before it were restored, so no file changed")]
    RolledBack(Box<WriteError>),
    /// A rename failed after others had succeeded, and the files replaced
    /// could not all be given their originals back: those are new, the
    /// rest old.
    #[error("{first}; {replaced} of {total} file(s) were replaced, the others left as they were")]
    Incomplete {
        first: Box<WriteError>,
        replaced: usize,
        total: usize,
    },
}

impl WriteError {
    fn io<'a>(
        path: &'a Path,
        step: &'static str,
    ) -> impl FnOnce(std::io::Error) -> WriteError + 'a {
        move |source| WriteError::Io {
            path: path.to_path_buf(),
            step,
            source,
        }
    }
}

/// One file staged for replacement.
struct Staged {
    /// The path as the user named it (for messages).
    shown: PathBuf,
    /// The file actually replaced: `shown` with symlinks resolved.
    target: PathBuf,
    /// The written temporary; removed when dropped unrenamed.
    temp: tempfile::TempPath,
    /// How many names the replaced file had (its hard links), and which
    /// file it was (device, inode).
    links: u64,
    inode: (u64, u64),
    /// The hash of the content the caller read, checked before the renames.
    expect: Option<crate::reference::Digest>,
}

/// A staged file that has other names (hard links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardLinked<'a> {
    pub path: &'a Path,
    /// Its link count.
    pub links: u64,
    /// How many of its other names this transaction replaces too.
    pub also_staged: u64,
}

/// Files staged for an all-or-nothing replacement. Dropping it without
/// [`commit`](Transaction::commit) removes every temporary.
#[derive(Default)]
pub struct Transaction {
    staged: Vec<Staged>,
}

impl Transaction {
    pub fn new() -> Transaction {
        Transaction::default()
    }

    /// How many files are staged.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// Write `bytes` to a temporary beside `path`'s target, fsync it and
    /// give it the original's owner, group and mode. Nothing visible
    /// changes until [`commit`](Transaction::commit).
    pub fn stage(&mut self, path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
        self.stage_inner(path, bytes, None)
    }

    /// [`stage`](Transaction::stage) a file whose current content the
    /// caller read as `read`: [`commit`](Transaction::commit) renames
    /// nothing when the file no longer holds exactly those bytes.
    pub fn stage_replacing(
        &mut self,
        path: &Path,
        bytes: &[u8],
        read: &[u8],
    ) -> Result<(), WriteError> {
        self.stage_inner(path, bytes, Some(crate::reference::Digest::sha256_of(read)))
    }

    fn stage_inner(
        &mut self,
        path: &Path,
        bytes: &[u8],
        expect: Option<crate::reference::Digest>,
    ) -> Result<(), WriteError> {
        interrupt::check()?;
        let target = resolve_target(path).map_err(WriteError::io(path, "resolve the symlink"))?;
        let original = match fs_err::metadata(&target) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                let e = without_path(e, &target);
                return Err(WriteError::io(path, "read the file's metadata")(e));
            }
        };
        let (dir, prefix) = beside(&target);
        let mut temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            // Passed to open(2), so the umask applies: 0644 under 022.
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(WriteError::io(
                path,
                "create a temporary file in its directory",
            ))?;
        temp.write_all(bytes)
            .map_err(WriteError::io(path, "write the new content"))?;
        if let Some(meta) = &original {
            keep_owner(temp.as_file(), meta).map_err(WriteError::io(path, "keep the owner"))?;
            // After chown, which clears set-id bits.
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(WriteError::io(path, "keep the mode"))?;
        }
        temp.as_file()
            .sync_all()
            .map_err(WriteError::io(path, "flush the new content to disk"))?;
        self.staged.push(Staged {
            shown: path.to_path_buf(),
            target,
            temp: temp.into_temp_path(),
            links: original.as_ref().map_or(1, MetadataExt::nlink),
            inode: original.as_ref().map_or((0, 0), |m| (m.dev(), m.ino())),
            expect,
        });
        Ok(())
    }

    /// The staged files that have other names (hard links), with their
    /// link count: the rename gives this name a new file, and the other
    /// names keep the old content.
    pub fn hard_linked(&self) -> Vec<HardLinked<'_>> {
        self.staged
            .iter()
            .filter(|s| s.links > 1)
            .map(|s| HardLinked {
                path: s.shown.as_path(),
                links: s.links,
                also_staged: self
                    .staged
                    .iter()
                    .filter(|o| o.inode == s.inode && o.shown != s.shown)
                    .count() as u64,
            })
            .collect()
    }

    /// Rename every staged file over its target, then fsync their
    /// directories. Returns how many files were replaced.
    ///
    /// First every file staged with
    /// [`stage_replacing`](Transaction::stage_replacing) is read again:
    /// one that changed since is [`WriteError::Changed`], and nothing is
    /// renamed.
    ///
    /// A signal before the first rename removes every temporary and
    /// changes nothing. Before the renames, each original is kept under a
    /// second name beside it (a hard link, else a copy); should a rename
    /// fail (a file made immutable, the directory changed under the run),
    /// the files already replaced are renamed back from those, so the run
    /// still changes nothing. Only when that restore fails too does
    /// [`WriteError::Incomplete`] say how many stayed replaced.
    pub fn commit(self) -> Result<usize, WriteError> {
        interrupt::check()?;
        // The last look: every file still holds what the caller read.
        for s in &self.staged {
            let Some(expect) = &s.expect else { continue };
            let now = fs_err::read(&s.target).map_err(|e| {
                let e = without_path(e, &s.target);
                WriteError::io(&s.shown, "read it again before replacing it")(e)
            })?;
            if crate::reference::Digest::sha256_of(&now) != *expect {
                return Err(WriteError::Changed {
                    path: s.shown.clone(),
                });
            }
        }
        let total = self.staged.len();
        // Each original under a second name (none for a new file).
        let mut backups = Vec::with_capacity(total);
        for s in &self.staged {
            let backup = if total > 1 {
                keep_original(&s.target).map_err(WriteError::io(
                    &s.shown,
                    "keep its original while the others are replaced",
                ))?
            } else {
                None
            };
            backups.push(backup);
        }
        let mut dirs = BTreeSet::new();
        let mut replaced: Vec<(usize, PathBuf)> = Vec::new();
        let mut first_error = None;
        for (i, s) in self.staged.into_iter().enumerate() {
            let dir = beside(&s.target).0.to_path_buf();
            match s.temp.persist(&s.target) {
                Ok(()) => {
                    replaced.push((i, s.target));
                    dirs.insert(dir);
                }
                Err(e) => {
                    // Dropping `e.path` removes the temporary.
                    first_error = Some(WriteError::io(&s.shown, "replace the file")(e.error));
                    break;
                }
            }
        }
        let result = match first_error {
            None => Ok(replaced.len()),
            Some(e) if total == 1 => Err(e),
            Some(e) => {
                // Undo: each replaced file gets its original back.
                let mut left = 0usize;
                for (i, target) in &replaced {
                    let undone = match backups[*i].take() {
                        Some(b) => b.persist(target).is_ok(),
                        None => fs_err::remove_file(target).is_ok(),
                    };
                    if !undone {
                        left += 1;
                    }
                }
                if left == 0 {
                    Err(WriteError::RolledBack(Box::new(e)))
                } else {
                    Err(WriteError::Incomplete {
                        first: Box::new(e),
                        replaced: left,
                        total,
                    })
                }
            }
        };
        for dir in &dirs {
            sync_dir(dir).map_err(WriteError::io(dir, "flush the directory to disk"))?;
        }
        // Dropping the backups removes the second names.
        drop(backups);
        result
    }
}

/// The directory of `target` and the prefix of a hidden name beside it
/// (`.NAME.`), for its temporary and its kept original.
fn beside(target: &Path) -> (&Path, String) {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, format!(".{name}."))
}

/// A second name for the file at `target` beside it, removed when the
/// returned path is dropped: a hard link, or a copy where the file system
/// has none. `None` when there is no file yet.
fn keep_original(target: &Path) -> std::io::Result<Option<tempfile::TempPath>> {
    if fs_err::symlink_metadata(target).is_err() {
        return Ok(None);
    }
    let (dir, prefix) = beside(target);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".orig");
    let linked = builder.make_in(dir, |p| fs_err::hard_link(target, p));
    let kept = match linked {
        Ok(f) => f,
        Err(_) => builder.make_in(dir, |p| fs_err::copy(target, p).map(|_| ()))?,
    };
    Ok(Some(kept.into_temp_path()))
}

/// Write one file atomically (a one-file [`Transaction`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let mut t = Transaction::new();
    t.stage(path, bytes)?;
    t.commit().map(|_| ())
}

/// The file a write to `path` must replace: `path` itself, or for a
/// symlink the file it finally points to (which may not exist yet).
pub(crate) fn resolve_target(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    // Follow link by link, so a dangling link names the file to create;
    // the bound stops a loop (the kernel's own limit is 40).
    for _ in 0..40 {
        match fs_err::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs_err::read_link(&p).map_err(|e| without_path(e, &p))?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(without_path(e, &p)),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Give `file` the owner and group of `original`. Only root may give a
/// file away; without that right a differing owner is left as it is
/// (the mode is still kept), as `cp -p` does.
fn keep_owner(file: &std::fs::File, original: &std::fs::Metadata) -> std::io::Result<()> {
    let ours = file.metadata()?;
    if ours.uid() == original.uid() && ours.gid() == original.gid() {
        return Ok(());
    }
    match std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid())) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            // Not root: the group alone may still be ours to give.
            let _ = std::os::unix::fs::fchown(file, None, Some(original.gid()));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::File::open(dir)
        .map_err(|e| without_path(e, dir))?
        .sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs_err::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn write_atomic_replaces_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.yaml");
        fs_err::write(&p, "old").unwrap();
        fs_err::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs_err::read_to_string(&p).unwrap(), "new");
        assert_eq!(mode(&p), 0o640);
        assert_eq!(
            fs_err::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn dropped_transaction_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        fs_err::write(&a, "old").unwrap();
        let mut t = Transaction::new();
        t.stage(&a, b"new").unwrap();
        t.stage(&dir.path().join("b.yaml"), b"new").unwrap();
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 3);
        drop(t);
        assert_eq!(fs_err::read_to_string(&a).unwrap(), "old");
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A rename that fails after another succeeded (here the third file's
    /// temporary vanished after staging) gives the files already
    /// replaced their originals back, and a file created new is removed:
    /// the run changes nothing, and no backup or temporary is left.
    #[test]
    fn a_rename_failing_part_way_restores_the_files_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a.yaml"),
            dir.path().join("b.yaml"),
            dir.path().join("c.env"),
        );
        fs_err::write(&a, "old a").unwrap();
        fs_err::hard_link(&a, dir.path().join("a-link")).unwrap();
        fs_err::write(&c, "old c").unwrap();
        let mut t = Transaction::new();
        t.stage(&a, b"new a").unwrap();
        t.stage(&b, b"new b").unwrap();
        t.stage(&c, b"new c").unwrap();
        for e in fs_err::read_dir(dir.path()).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with(".c.env.") && name.ends_with(".tmp") {
                fs_err::remove_file(dir.path().join(name)).unwrap();
            }
        }
        let e = t.commit().unwrap_err();
        assert!(matches!(e, WriteError::RolledBack(_)), "{e}");
        assert!(
            e.to_string().contains("c.env: cannot replace the file"),
            "{e}"
        );
        assert!(
            e.to_string().contains("restored, so no file changed"),
            "{e}"
        );
        assert_eq!(fs_err::read_to_string(&a).unwrap(), "old a");
        assert_eq!(fs_err::read_to_string(&c).unwrap(), "old c");
        assert_eq!(
            fs_err::metadata(&a).unwrap().ino(),
            fs_err::metadata(dir.path().join("a-link")).unwrap().ino(),
            "the original inode is back under its name"
        );
        assert!(!b.exists(), "a file created new is removed");
        let mut left: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["a-link", "a.yaml", "c.env"],
            "no backup or temporary left"
        );
    }

    /// A file written by someone else between staging and commit stops
    /// the commit before any rename: every file keeps its content.
    #[test]
    fn a_file_changed_after_staging_stops_every_rename() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
        fs_err::write(&a, "old a").unwrap();
        fs_err::write(&b, "old b").unwrap();
        let mut t = Transaction::new();
        t.stage_replacing(&a, b"new a", b"old a").unwrap();
        t.stage_replacing(&b, b"new b", b"old b").unwrap();
        fs_err::write(&b, "theirs").unwrap();
        let e = t.commit().unwrap_err();
        assert!(matches!(e, WriteError::Changed { .. }), "{e}");
        assert!(e.to_string().contains("b.yaml: changed while"), "{e}");
        assert_eq!(fs_err::read_to_string(&a).unwrap(), "old a");
        assert_eq!(fs_err::read_to_string(&b).unwrap(), "theirs");
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn writes_through_a_dangling_relative_symlink() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("real")).unwrap();
        let link = dir.path().join("link.yaml");
        fs_err::os::unix::fs::symlink("real/new.yaml", &link).unwrap();
        write_atomic(&link, b"x").unwrap();
        assert!(fs_err::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs_err::read_to_string(dir.path().join("real/new.yaml")).unwrap(),
            "x"
        );
    }

    #[test]
    fn error_names_the_file_and_step() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir/x.yaml");
        let e = write_atomic(&p, b"x").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: cannot create a temporary file in its directory:",
                p.display()
            )),
            "{e}"
        );
    }
}
