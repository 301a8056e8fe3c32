//! Walking the paths given on the command line to find files to scan.
//!
//! Directories are walked recursively the way ripgrep walks them (the
//! `ignore` crate: `.gitignore` honoured inside git repositories, hidden
//! files and directories skipped). The walk picks `*.yaml` and `*.yml`;
//! a file named on the command line is read whatever its extension. A Helm
//! chart's `templates/` directory holds Go templates, not YAML: it is
//! skipped with one note per chart.

use std::path::{Path, PathBuf};

/// One thing the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkItem {
    /// A file to scan. `explicit` when it was named on the command line.
    File { path: PathBuf, explicit: bool },
    /// Something the user should know (a skipped Helm templates directory).
    Note(String),
    /// A path that could not be walked.
    Error { path: PathBuf, message: String },
}

/// Walk `paths` in a deterministic order (sorted by file name).
pub fn walk(paths: &[PathBuf]) -> Vec<WalkItem> {
    let mut out = Vec::new();
    for root in paths {
        let meta = match std::fs::metadata(root) {
            Ok(m) => m,
            Err(e) => {
                out.push(WalkItem::Error {
                    path: root.clone(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        if !meta.is_dir() {
            out.push(WalkItem::File {
                path: root.clone(),
                explicit: true,
            });
            continue;
        }
        let walker = ignore::WalkBuilder::new(root)
            .sort_by_file_name(|a, b| a.cmp(b))
            .filter_entry(|entry| !is_helm_templates_dir(entry.path()))
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
                            out.push(WalkItem::Note(format!(
                                "{}: skipped: a Helm chart's templates are Go templates, not YAML; pipe `helm template` output to imagelock instead",
                                templates.display()
                            )));
                        }
                        continue;
                    }
                    if is_yaml_name(path) {
                        // `imagelock list .` shows `k8s/a.yaml`, not `./k8s/a.yaml`
                        // (GitHub annotations want repository-relative paths).
                        let shown = match path.strip_prefix("./") {
                            Ok(rest) if root.as_os_str() == "." => rest,
                            _ => path,
                        };
                        out.push(WalkItem::File {
                            path: shown.to_path_buf(),
                            explicit: false,
                        });
                    }
                }
                Err(e) => out.push(WalkItem::Error {
                    path: error_path(&e).unwrap_or_else(|| root.clone()),
                    message: e.to_string(),
                }),
            }
        }
    }
    out
}

fn is_yaml_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_picks_yaml_skips_hidden_and_helm_templates() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("app/sub")).unwrap();
        std::fs::create_dir_all(d.join(".hidden")).unwrap();
        std::fs::create_dir_all(d.join("chart/templates")).unwrap();
        std::fs::write(d.join("app/a.yaml"), "").unwrap();
        std::fs::write(d.join("app/sub/b.yml"), "").unwrap();
        std::fs::write(d.join("app/c.json"), "").unwrap();
        std::fs::write(d.join(".hidden/h.yaml"), "").unwrap();
        std::fs::write(d.join("chart/Chart.yaml"), "").unwrap();
        std::fs::write(d.join("chart/values.yaml"), "").unwrap();
        std::fs::write(d.join("chart/templates/dep.yaml"), "").unwrap();
        let items = walk(&[d.to_path_buf(), d.join("app/c.json")]);
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
