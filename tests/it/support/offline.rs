//! A directory of files with a lockfile written here, for tests through
//! the binary that need no registry: each reference's digest is made from
//! its name and tag.

use std::path::Path;

use imagelock::lockfile::{Entry, Lockfile};
use imagelock::reference::{Digest, Reference};

/// The digest the lockfile holds for `reference`.
pub(crate) fn digest(reference: &str) -> String {
    let r = Reference::parse(reference).unwrap();
    Digest::sha256_of(format!("{}:{}", r.name(), r.effective_tag().unwrap_or("latest")).as_bytes())
        .to_string()
}

/// A directory holding `files` and a lockfile covering `refs`.
pub(crate) fn dir(files: &[(&str, &str)], refs: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let mut lock = Lockfile::new();
    for r in refs {
        let p = Reference::parse(r).unwrap();
        lock.insert(Entry {
            name: p.name(),
            tag: Some(p.effective_tag().unwrap_or("latest").to_string()),
            digest: Digest::parse(&digest(r)).unwrap(),
            media_type: None,
            platforms: Default::default(),
            signatures: Vec::new(),
            attestations: Vec::new(),
        });
    }
    fs_err::write(d.path().join("images.lock"), lock.to_toml()).unwrap();
    for (name, body) in files {
        let p = d.path().join(name);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, body).unwrap();
    }
    d
}

/// A file of the directory, as text.
pub(crate) fn read(d: &Path, name: &str) -> String {
    fs_err::read_to_string(d.join(name)).unwrap()
}
