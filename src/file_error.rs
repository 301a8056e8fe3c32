//! File errors for messages that name the path themselves.
//!
//! File access goes through `fs-err`, whose errors say the path
//! (``failed to open file `deploy/a.yaml`: No such file or directory (os
//! error 2)``). A message that already names the file in imagelock's own
//! words (`deploy/a.yaml: cannot read: …`) takes the operating system's
//! error alone, so the path is not said twice. Never used for errors whose
//! message says no path.

use std::io;
use std::path::Path;

/// `e` without `fs-err`'s ``failed to … `path`: `` prefix for `path`: the
/// operating system's error as `std::fs` would have returned it (same kind,
/// same text). An error that does not name `path` is returned unchanged.
pub(crate) fn without_path(e: io::Error, path: &Path) -> io::Error {
    let text = e.to_string();
    let marker = format!("`{}`: ", path.display());
    match text.find(&marker) {
        Some(at) => io::Error::new(e.kind(), &text[at + marker.len()..]),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::without_path;

    #[test]
    fn leaves_the_error_std_fs_gives() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yaml");
        #[allow(clippy::disallowed_methods)] // what fs-err wraps
        let plain = std::fs::read_to_string(&missing).unwrap_err();
        let wrapped = fs_err::read_to_string(&missing).unwrap_err();
        assert!(wrapped.to_string().contains(&*missing.to_string_lossy()));
        let bare = without_path(wrapped, &missing);
        assert_eq!(bare.to_string(), plain.to_string());
        assert_eq!(bare.kind(), plain.kind());
    }

    #[test]
    fn keeps_an_error_naming_another_path() {
        let e = fs_err::read("/nonexistent/a").unwrap_err();
        let text = e.to_string();
        assert_eq!(
            without_path(e, std::path::Path::new("/nonexistent/b")).to_string(),
            text
        );
    }
}
