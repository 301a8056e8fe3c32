//! Walking the paths given on the command line to find files to scan.
//! `-` stands for standard input (rendered output: `helm template … |
//! imagelock check -`).
//!
//! Directories are walked recursively the way ripgrep walks them (the
//! `ignore` crate: `.gitignore` honoured inside git repositories, hidden
//! files and directories skipped, except `.github`, whose workflows name
//! container images). The walk picks `*.yaml` and `*.yml`, and `*.json`
//! files that hold a Kubernetes object (top-level `apiVersion` and `kind`,
//! decided by a streaming look at the top-level keys: see [`sniff`]), as
//! `kubectl apply -f DIR` does; the other JSON files are skipped with one
//! note per run counting them. A file named on the command line is read
//! whatever its extension. A Helm
//! chart's `templates/` directory holds Go templates, not YAML: it is
//! skipped with one note per chart.
//!
//! Symlinks are followed, to files and to directories alike; a symlink that
//! leads back to a directory being walked is reported once (a note naming
//! it) and not followed. A file reached twice (named twice, inside a
//! directory also given, through a symlink) is one file: listed once, under
//! the first spelling met, so it is scanned and written once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

mod sniff;

/// One thing the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkItem {
    /// A file to scan. `explicit` when it was named on the command line.
    File { path: PathBuf, explicit: bool },
    /// `-`: read standard input (once), shown as `<stdin>`.
    Stdin,
    /// Something the user should know (a skipped Helm templates directory).
    Note(String),
    /// A path that could not be walked.
    Error { path: PathBuf, message: String },
}

/// What a directory walk leaves out, besides hidden paths and Helm
/// templates (shared with the walker's filter, which may run on any thread).
pub type Excluded = std::sync::Arc<dyn Fn(&Path) -> bool + Send + Sync>;

/// Nothing excluded.
pub fn nothing_excluded() -> Excluded {
    std::sync::Arc::new(|_| false)
}

/// Walk `paths` in a deterministic order (sorted by file name), each file
/// once, leaving out of directory walks what `excluded` names (`exclude` in
/// `imagelock.toml`; a path given is always read).
pub fn walk(paths: &[PathBuf], excluded: &Excluded) -> Vec<WalkItem> {
    let mut out = Walk::default();
    let mut stdin = false;
    for root in paths {
        if root.as_os_str() == "-" {
            if stdin {
                out.items.push(WalkItem::Error {
                    path: root.clone(),
                    message: "standard input given twice; it can be read once".into(),
                });
            } else {
                stdin = true;
                out.items.push(WalkItem::Stdin);
            }
            continue;
        }
        let meta = match fs_err::metadata(root) {
            Ok(m) => m,
            Err(e) => {
                out.items.push(WalkItem::Error {
                    path: root.clone(),
                    message: crate::file_error::without_path(e, root).to_string(),
                });
                continue;
            }
        };
        if !meta.is_dir() {
            out.file(root.clone(), true);
            continue;
        }
        let excluded = excluded.clone();
        let walker = ignore::WalkBuilder::new(root)
            .follow_links(true)
            .sort_by_file_name(std::cmp::Ord::cmp)
            // Hidden files and directories are skipped as ripgrep skips
            // them, except `.github` (workflows name container images).
            .hidden(false)
            .filter_entry(move |entry| {
                let hidden = entry.depth() > 0 && is_hidden_but_not_github(entry.path());
                !hidden && !is_helm_templates_dir(entry.path()) && !excluded(entry.path())
            })
            .build();
        // The filter above cannot emit notes, so find the skipped template
        // directories in a cheap second look at each directory entry.
        for entry in walker {
            match entry {
                Ok(entry) => {
                    let path = entry.path();
                    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                    if is_dir {
                        let templates = path.join("templates");
                        if path.join("Chart.yaml").is_file() && templates.is_dir() {
                            out.note_once(
                                &templates,
                                format!(
                                    "{}: skipped: a Helm chart's templates are Go templates, not YAML; pipe `helm template` output to imagelock instead",
                                    templates.display()
                                ),
                            );
                        }
                        continue;
                    }
                    // `imagelock list .` shows `k8s/a.yaml`, not `./k8s/a.yaml`
                    // (GitHub annotations want repository-relative paths).
                    let shown = match path.strip_prefix("./") {
                        Ok(rest) if root.as_os_str() == "." => rest,
                        _ => path,
                    };
                    // dockerfile branch: Dockerfiles and Containerfiles too.
                    let named = is_yaml_name(path)
                        || crate::scan::dockerfile::is_dockerfile_name(path)
                        || crate::scan::kustomize::is_kustomization_name(path);
                    let json = is_json_name(path);
                    // A FIFO, socket or device with such a name: reading
                    // it could block forever.
                    if (named || json) && entry.file_type().is_some_and(|t| !t.is_file()) {
                        out.note_once(
                            path,
                            format!(
                                "{}: skipped: not a regular file (a FIFO, a socket or a device), which reading could block on",
                                shown.display()
                            ),
                        );
                        continue;
                    }
                    if named {
                        out.file(shown.to_path_buf(), false);
                    } else if json {
                        out.json(shown.to_path_buf());
                    }
                }
                Err(e) => out.error(root, &e),
            }
        }
    }
    out.note_skipped_json();
    out.items
}

/// What the walk found so far, and what it has seen (by canonical path).
#[derive(Default)]
struct Walk {
    items: Vec<WalkItem>,
    /// Canonical path of each file listed → its index in `items`.
    files: HashMap<PathBuf, usize>,
    /// Canonical paths already noted (loops, Helm templates).
    noted: HashSet<PathBuf>,
    /// JSON files found in directories that hold no Kubernetes object:
    /// canonical path and the path as found.
    skipped_json: Vec<(PathBuf, PathBuf)>,
    /// Canonical paths of the JSON files looked at.
    json_seen: HashSet<PathBuf>,
}

impl Walk {
    /// List a file unless the same file is listed already; naming it on the
    /// command line makes the listed one explicit.
    fn file(&mut self, path: PathBuf, explicit: bool) {
        let canonical = fs_err::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some(&i) = self.files.get(&canonical) {
            if let WalkItem::File { explicit: e, .. } = &mut self.items[i] {
                *e |= explicit;
            }
            return;
        }
        self.files.insert(canonical, self.items.len());
        self.items.push(WalkItem::File { path, explicit });
    }

    /// A `*.json` file found in a directory: listed when it holds a
    /// Kubernetes object, else counted as skipped.
    fn json(&mut self, path: PathBuf) {
        let canonical = fs_err::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.files.contains_key(&canonical) || !self.json_seen.insert(canonical.clone()) {
            return;
        }
        if sniff::holds_manifest(&path) {
            self.file(path, false);
        } else {
            self.skipped_json.push((canonical, path));
        }
    }

    /// One note for the JSON files skipped (those not named on the command
    /// line as well).
    fn note_skipped_json(&mut self) {
        let files = &self.files;
        let skipped: Vec<&PathBuf> = self
            .skipped_json
            .iter()
            .filter(|(c, _)| !files.contains_key(c))
            .map(|(_, p)| p)
            .collect();
        let note = match skipped.as_slice() {
            [] => return,
            [one] => format!(
                "{}: skipped: a JSON file without top-level apiVersion and kind (not a Kubernetes object)",
                one.display()
            ),
            [first, ..] => format!(
                "{} JSON files without top-level apiVersion and kind (not Kubernetes objects) skipped (the first: {})",
                skipped.len(),
                first.display()
            ),
        };
        self.items.push(WalkItem::Note(note));
    }

    fn note_once(&mut self, about: &Path, note: String) {
        let canonical = fs_err::canonicalize(about).unwrap_or_else(|_| about.to_path_buf());
        if self.noted.insert(canonical) {
            self.items.push(WalkItem::Note(note));
        }
    }

    fn error(&mut self, root: &Path, e: &ignore::Error) {
        let path = error_path(e).unwrap_or_else(|| root.to_path_buf());
        if let Some((ancestor, child)) = symlink_loop(e) {
            let note = format!(
                "{}: skipped: a symlink loop (it leads back to {})",
                child.display(),
                ancestor.display()
            );
            self.note_once(ancestor, note);
            return;
        }
        let dangling = fs_err::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
            && !path.exists();
        if dangling && !is_yaml_name(&path) {
            // A broken link to something imagelock would not read anyway.
            return;
        }
        self.items.push(WalkItem::Error {
            path,
            message: e.to_string(),
        });
    }
}

fn is_json_name(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

fn is_yaml_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// A hidden name (`.git`, `.venv`, `.env.yaml`) other than `.github`.
fn is_hidden_but_not_github(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n != ".github")
}

fn is_helm_templates_dir(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "templates")
        && path.is_dir()
        && path
            .parent()
            .is_some_and(|p| p.join("Chart.yaml").is_file())
}

fn error_path(e: &ignore::Error) -> Option<PathBuf> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        _ => None,
    }
}

/// The directory a looping symlink leads back to, and the link.
fn symlink_loop(e: &ignore::Error) -> Option<(&Path, &Path)> {
    match e {
        ignore::Error::Loop { ancestor, child } => Some((ancestor, child)),
        ignore::Error::WithPath { err, .. }
        | ignore::Error::WithDepth { err, .. }
        | ignore::Error::WithLineNumber { err, .. } => symlink_loop(err),
        _ => None,
    }
}

/// `path` without `.` and with `..` applied to the part before it (no
/// symlinks resolved).
pub fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_picks_yaml_skips_hidden_and_helm_templates() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs_err::create_dir_all(d.join("app/sub")).unwrap();
        fs_err::create_dir_all(d.join(".hidden")).unwrap();
        fs_err::create_dir_all(d.join("chart/templates")).unwrap();
        fs_err::write(d.join("app/a.yaml"), "").unwrap();
        fs_err::write(d.join("app/sub/b.yml"), "").unwrap();
        fs_err::write(d.join("app/c.json"), "").unwrap();
        fs_err::write(d.join(".hidden/h.yaml"), "").unwrap();
        fs_err::write(d.join("chart/Chart.yaml"), "").unwrap();
        fs_err::write(d.join("chart/values.yaml"), "").unwrap();
        fs_err::write(d.join("chart/templates/dep.yaml"), "").unwrap();
        let items = walk(
            &[d.to_path_buf(), d.join("app/c.json")],
            &nothing_excluded(),
        );
        let files: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                WalkItem::File { path, explicit } => {
                    Some((path.strip_prefix(d).unwrap().to_path_buf(), *explicit))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            files,
            vec![
                (PathBuf::from("app/a.yaml"), false),
                (PathBuf::from("app/sub/b.yml"), false),
                (PathBuf::from("chart/Chart.yaml"), false),
                (PathBuf::from("chart/values.yaml"), false),
                (PathBuf::from("app/c.json"), true),
            ]
        );
        let notes: Vec<_> = items
            .iter()
            .filter(|i| matches!(i, WalkItem::Note(_)))
            .collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
    }
}
