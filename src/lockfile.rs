//! The `images.lock` model: read, query, write.
//!
//! The file is TOML, deterministic and diff-friendly: entries sorted by name
//! then tag, no timestamps, a fixed header. Reading rejects an unknown
//! `version`, a malformed digest or a duplicate entry with an error naming
//! the line, and an unknown key (a newer format, or a hand edit to look at).
//!
//! Commands that change the lockfile open it with
//! [`Lockfile::open_for_update`]: an exclusive advisory lock (`flock(2)` on
//! the lockfile's directory, which a rename never replaces) is held from the
//! read to the write, so two imagelock processes never lose each other's
//! work; [`LockfileGuard::save_if_changed`] writes through
//! [`crate::write::write_atomic`] only when the model changed, so a CRLF or
//! hand-commented lockfile nothing changed keeps its bytes.

use crate::file_error::without_path;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::interrupt::Interrupted;
use crate::reference::{Digest, Reference};
use crate::write::WriteError;

/// The lockfile format version this build writes when an entry records
/// signatures; it reads this one and [`VERSION_1`].
pub const VERSION: i64 = 2;

/// The format without signature records: what this build writes when no
/// entry has any, so a lockfile without them stays readable by imagelock
/// releases that read version 1 only (they refuse unknown keys).
pub const VERSION_1: i64 = 1;

/// The first line of every lockfile.
pub const HEADER: &str =
    "# images.lock: written by imagelock. Change it with `imagelock lock` or `imagelock update`.";

/// One locked image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Entry {
    /// Normalised repository, `docker.io/library/nginx`.
    pub name: String,
    /// Absent for references written by digest only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub digest: Digest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Per-platform manifest digests, only when platforms were asked for.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub platforms: BTreeMap<String, Digest>,
    /// The signatures found for `digest`, sorted (version 2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SignatureRecord>,
    /// The in-toto attestations found for `digest`, sorted (version 2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<AttestationRecord>,
}

/// One in-toto attestation of a locked digest (SLSA provenance, an SBOM),
/// as found and checked when it was locked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AttestationRecord {
    /// What it attests (`https://slsa.dev/provenance/v1`).
    pub predicate_type: String,
    /// The manifest holding it (cosign's `.att`).
    pub manifest: Digest,
    /// The layer holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    /// The id of the key that verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The rule it was verified against, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
}

/// One signature of a locked digest, as found and checked when it was
/// locked: deterministic, never a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SignatureRecord {
    /// `cosign` (the `sha256-<hex>.sig` tag), `sigstore-bundle` or
    /// `notation` (OCI referrers).
    pub kind: String,
    /// The signature manifest's digest.
    pub manifest: Digest,
    /// The layer holding it, when the manifest may hold several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    /// The id of the key that verified it (`sha256:` of its DER public key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The certificate identity (SAN) of a keyless signature that verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The OIDC issuer of that certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The `[[verify]]` rule it was verified against, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
}
impl SignatureRecord {
    /// A signature of `kind` found in `manifest` (`layer`), nothing yet
    /// verified of it.
    pub fn found(kind: &str, manifest: &Digest, layer: Option<&Digest>) -> SignatureRecord {
        SignatureRecord {
            kind: kind.to_string(),
            manifest: manifest.clone(),
            layer: layer.cloned(),
            key: None,
            identity: None,
            issuer: None,
            verified: None,
        }
    }
}

impl Entry {
    /// The reference this entry locks: `name:tag`, or `name@digest` for an
    /// entry without a tag. Entries are validated on read, so this parses.
    pub fn reference(&self) -> Result<Reference, crate::reference::ReferenceError> {
        Key::of_entry(self).reference()
    }
}

/// The key entries are sorted and deduplicated by: name, then tag; a tagless
/// entry is keyed by its digest as well.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub name: String,
    pub tag: Option<String>,
    pub digest_if_untagged: Option<String>,
}

impl Key {
    pub fn of_entry(e: &Entry) -> Key {
        Key {
            name: e.name.clone(),
            tag: e.tag.clone(),
            digest_if_untagged: e.tag.is_none().then(|| e.digest.to_string()),
        }
    }

    /// The key a reference is locked under: its effective tag (`latest` when
    /// it has neither tag nor digest), or its digest when written by digest only.
    pub fn of_reference(r: &Reference) -> Key {
        let tag = r.effective_tag().map(str::to_string);
        Key {
            name: r.name(),
            digest_if_untagged: if tag.is_none() {
                r.digest().map(std::string::ToString::to_string)
            } else {
                None
            },
            tag,
        }
    }
}

impl Key {
    /// The reference to ask a registry for: `name:tag`, or `name@digest`
    /// for an untagged key.
    pub fn reference(&self) -> Result<Reference, crate::reference::ReferenceError> {
        Reference::parse(&self.to_string())
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest_if_untagged {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The whole lockfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lockfile {
    entries: BTreeMap<Key, Entry>,
}

/// Why a lockfile could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    #[error("{path}: cannot read the lockfile: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(
        "{path}: cannot lock the lockfile's directory against other imagelock processes: {source}"
    )]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}; the lockfile was not changed")]
    Interrupted(#[from] Interrupted),
}

#[derive(Deserialize)]
struct VersionOnly {
    version: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    version: Option<Spanned<toml::Value>>,
    #[serde(default)]
    image: Vec<Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawEntry {
    name: Spanned<String>,
    tag: Option<Spanned<String>>,
    digest: Spanned<String>,
    media_type: Option<String>,
    #[serde(default)]
    platforms: BTreeMap<String, Spanned<String>>,
    #[serde(default, rename = "signature")]
    signatures: Vec<Spanned<RawSignature>>,
    #[serde(default, rename = "attestation")]
    attestations: Vec<Spanned<RawAttestation>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawAttestation {
    predicate_type: String,
    manifest: Spanned<String>,
    layer: Option<Spanned<String>>,
    key: Option<String>,
    verified: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawSignature {
    kind: String,
    manifest: Spanned<String>,
    layer: Option<Spanned<String>>,
    key: Option<String>,
    identity: Option<String>,
    issuer: Option<String>,
    verified: Option<String>,
}

impl Lockfile {
    pub fn new() -> Lockfile {
        Lockfile::default()
    }

    /// Read `path`; a missing file is an empty lockfile.
    pub fn load(path: &Path) -> Result<Lockfile, LockfileError> {
        match fs_err::read_to_string(path) {
            Ok(text) => Lockfile::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lockfile::new()),
            Err(e) => Err(LockfileError::Read {
                path: path.to_path_buf(),
                source: without_path(e, path),
            }),
        }
    }

    /// Whether a lockfile exists at `path`.
    pub fn exists(path: &Path) -> bool {
        path.is_file()
    }

    /// Parse lockfile text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Lockfile, LockfileError> {
        let invalid = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            LockfileError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let from_toml = |e: toml::de::Error| {
            let offset = e.span().map_or(0, |s| s.start);
            invalid(offset, e.message().trim().to_string())
        };
        // One parse. Only when it fails is the version read on its own, so
        // a newer format says so rather than naming a field it added.
        let raw: RawLock = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let version: VersionOnly = toml::from_str(text).map_err(from_toml)?;
                check_version(&version.version, &invalid).map(|_| ())?;
                return Err(from_toml(e));
            }
        };
        let version = check_version(&raw.version, &invalid)?;
        let mut lock = Lockfile::new();
        for spanned in raw.image {
            let entry_start = spanned.span().start;
            let raw = spanned.into_inner();
            let name = raw.name.get_ref();
            match Reference::parse(name) {
                Ok(r) if r.tag().is_none() && r.digest().is_none() && &r.name() == name => {}
                Ok(r) if r.tag().is_none() && r.digest().is_none() => {
                    return Err(invalid(
                        raw.name.span().start,
                        format!("name {name:?} is not normalised; write {:?}", r.name()),
                    ))
                }
                Ok(_) => {
                    return Err(invalid(
                        raw.name.span().start,
                        format!("name {name:?} must be a repository name without tag or digest"),
                    ))
                }
                Err(e) => return Err(invalid(raw.name.span().start, e.to_string())),
            }
            let digest = Digest::parse(raw.digest.get_ref())
                .map_err(|e| invalid(raw.digest.span().start, format!("malformed digest: {e}")))?;
            if let Some(tag) = &raw.tag {
                let probe = format!("{name}:{}", tag.get_ref());
                if Reference::parse(&probe)
                    .map(|r| r.tag() != Some(tag.get_ref()))
                    .unwrap_or(true)
                {
                    return Err(invalid(
                        tag.span().start,
                        format!("invalid tag {:?}", tag.get_ref()),
                    ));
                }
            }
            let mut platforms = BTreeMap::new();
            for (platform, d) in raw.platforms {
                let digest = Digest::parse(d.get_ref()).map_err(|e| {
                    invalid(
                        d.span().start,
                        format!("malformed digest for platform {platform}: {e}"),
                    )
                })?;
                platforms.insert(platform, digest);
            }
            // Records are version 2's; their digests are checked as the
            // entry's are.
            let record_at = |start: usize, what: &str| {
                if version == VERSION_1 {
                    Err(invalid(
                        start,
                        format!("{what} records need `version = {VERSION}`"),
                    ))
                } else {
                    Ok(())
                }
            };
            let digest_at = |d: &Spanned<String>, what: &str| {
                Digest::parse(d.get_ref())
                    .map_err(|e| invalid(d.span().start, format!("malformed {what} digest: {e}")))
            };
            let layer_at =
                |l: &Option<Spanned<String>>| l.as_ref().map(|l| digest_at(l, "layer")).transpose();
            let mut signatures = Vec::new();
            for spanned in raw.signatures {
                record_at(spanned.span().start, "signature")?;
                let r = spanned.into_inner();
                signatures.push(SignatureRecord {
                    kind: r.kind,
                    manifest: digest_at(&r.manifest, "signature manifest")?,
                    layer: layer_at(&r.layer)?,
                    key: r.key,
                    identity: r.identity,
                    issuer: r.issuer,
                    verified: r.verified,
                });
            }
            signatures.sort();
            let mut attestations = Vec::new();
            for spanned in raw.attestations {
                record_at(spanned.span().start, "attestation")?;
                let r = spanned.into_inner();
                attestations.push(AttestationRecord {
                    predicate_type: r.predicate_type,
                    manifest: digest_at(&r.manifest, "attestation manifest")?,
                    layer: layer_at(&r.layer)?,
                    key: r.key,
                    verified: r.verified,
                });
            }
            attestations.sort();
            let entry = Entry {
                name: name.clone(),
                tag: raw.tag.map(Spanned::into_inner),
                digest,
                media_type: raw.media_type,
                platforms,
                signatures,
                attestations,
            };
            let key = Key::of_entry(&entry);
            if lock.entries.contains_key(&key) {
                return Err(invalid(
                    entry_start,
                    format!("duplicate entry for {key}; keep one"),
                ));
            }
            lock.entries.insert(key, entry);
        }
        Ok(lock)
    }

    /// The lockfile as TOML text, byte-stable for the same entries.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        out.push_str(HEADER);
        out.push('\n');
        let version = if self
            .entries
            .values()
            .any(|e| !e.signatures.is_empty() || !e.attestations.is_empty())
        {
            VERSION
        } else {
            VERSION_1
        };
        out.push_str(&format!("version = {version}\n"));
        for e in self.entries.values() {
            out.push_str("\n[[image]]\n");
            out.push_str(&format!("name = {}\n", quote(&e.name)));
            if let Some(tag) = &e.tag {
                out.push_str(&format!("tag = {}\n", quote(tag)));
            }
            out.push_str(&format!("digest = {}\n", quote(&e.digest.to_string())));
            if let Some(mt) = &e.media_type {
                out.push_str(&format!("media-type = {}\n", quote(mt)));
            }
            if !e.platforms.is_empty() {
                let items: Vec<String> = e
                    .platforms
                    .iter()
                    .map(|(p, d)| format!("{} = {}", quote(p), quote(&d.to_string())))
                    .collect();
                out.push_str(&format!("platforms = {{ {} }}\n", items.join(", ")));
            }
            for sig in &e.signatures {
                push_table(
                    &mut out,
                    "image.signature",
                    &[
                        ("kind", Some(sig.kind.clone())),
                        ("manifest", Some(sig.manifest.to_string())),
                        ("layer", sig.layer.as_ref().map(ToString::to_string)),
                        ("key", sig.key.clone()),
                        ("identity", sig.identity.clone()),
                        ("issuer", sig.issuer.clone()),
                        ("verified", sig.verified.clone()),
                    ],
                );
            }
            for att in &e.attestations {
                push_table(
                    &mut out,
                    "image.attestation",
                    &[
                        ("predicate-type", Some(att.predicate_type.clone())),
                        ("manifest", Some(att.manifest.to_string())),
                        ("layer", att.layer.as_ref().map(ToString::to_string)),
                        ("key", att.key.clone()),
                        ("verified", att.verified.clone()),
                    ],
                );
            }
        }
        out
    }

    /// Read `path` (absent = empty lockfile) and lock it against other
    /// imagelock processes until the guard is dropped. Waits for another
    /// holder (with a note on stderr after a second); a stop signal ends
    /// the wait with [`LockfileError::Interrupted`].
    pub fn open_for_update(path: &Path) -> Result<(Lockfile, LockfileGuard), LockfileError> {
        let dir = crate::dirlock::dir_of(path);
        let lock_err = |source| LockfileError::Lock {
            path: path.to_path_buf(),
            source,
        };
        let handle = fs_err::File::open(&dir)
            .map_err(|e| lock_err(without_path(e, &dir)))?
            .into_file();
        crate::dirlock::wait_exclusive(&handle, || {
            format!(
                "{}: another imagelock process is updating it; waiting for it to finish",
                path.display()
            )
        })
        .map_err(|e| match e {
            crate::dirlock::WaitError::Io(e) => lock_err(e),
            crate::dirlock::WaitError::Interrupted(i) => LockfileError::Interrupted(i),
        })?;
        // Read only now: what another process wrote while this one waited counts.
        let read = match fs_err::read_to_string(path) {
            Ok(text) => Some(Lockfile::parse(path, &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(LockfileError::Read {
                    path: path.to_path_buf(),
                    source: without_path(e, path),
                })
            }
        };
        let lock = read.clone().unwrap_or_default();
        let guard = LockfileGuard {
            path: path.to_path_buf(),
            _handle: handle,
            read,
        };
        Ok((lock, guard))
    }

    pub fn get(&self, key: &Key) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The entry a reference resolves through, if locked.
    pub fn lookup(&self, r: &Reference) -> Option<&Entry> {
        self.entries.get(&Key::of_reference(r))
    }

    pub fn insert(&mut self, entry: Entry) {
        self.entries.insert(Key::of_entry(&entry), entry);
    }

    pub fn remove(&mut self, key: &Key) -> Option<Entry> {
        self.entries.remove(key)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.keys()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A lockfile opened for update: holds an exclusive advisory lock until dropped.
#[derive(Debug)]
pub struct LockfileGuard {
    path: PathBuf,
    /// The locked directory; closing it releases the lock.
    _handle: std::fs::File,
    /// The model as read; `None` when there was no file.
    read: Option<Lockfile>,
}

impl LockfileGuard {
    /// The lockfile's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the lockfile existed when it was opened.
    pub fn existed(&self) -> bool {
        self.read.is_some()
    }

    /// Write `new` atomically when it differs, as a model, from what was
    /// read, or when there was no lockfile (even an empty one is written,
    /// so `lock` on a tree without images leaves a lockfile). A file whose
    /// entries did not change keeps its bytes (CRLF, comments). Returns
    /// whether it wrote.
    pub fn save_if_changed(&self, new: &Lockfile) -> Result<bool, LockfileError> {
        if self.read.as_ref() == Some(new) {
            return Ok(false);
        }
        crate::write::write_atomic(&self.path, new.to_toml().as_bytes())?;
        Ok(true)
    }
}

/// The `version` key must be this imagelock's.
fn check_version(
    version: &Option<Spanned<toml::Value>>,
    invalid: &impl Fn(usize, String) -> LockfileError,
) -> Result<i64, LockfileError> {
    match version {
        None => Err(invalid(0, format!("missing `version = {VERSION_1}`"))),
        Some(v) => match v.get_ref() {
            toml::Value::Integer(n @ (VERSION_1 | VERSION)) => Ok(*n),
            // `version = "1"`: not a newer format, a hand edit.
            other if !other.is_integer() => Err(invalid(
                v.span().start,
                format!(
                    "the lockfile version must be a number, not the {} {other}; write `version = {VERSION_1}`",
                    other.type_str()
                ),
            )),
            other => Err(invalid(
                v.span().start,
                format!(
                    "unsupported lockfile version {other}; this imagelock reads versions {VERSION_1} and {VERSION} (upgrade imagelock, or regenerate with `imagelock lock`)"
                ),
            )),
        },
    }
}

/// A `[[header]]` table of `pairs`, those that are present, in order.
fn push_table(out: &mut String, header: &str, pairs: &[(&str, Option<String>)]) {
    out.push_str(&format!("\n[[{header}]]\n"));
    for (key, value) in pairs {
        if let Some(value) = value {
            out.push_str(&format!("{key} = {}\n", quote(value)));
        }
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn entry(name: &str, tag: Option<&str>, digest: &str) -> Entry {
        Entry {
            name: name.into(),
            tag: tag.map(Into::into),
            digest: Digest::parse(digest).unwrap(),
            media_type: None,
            platforms: BTreeMap::new(),
            signatures: Vec::new(),
            attestations: Vec::new(),
        }
    }

    #[test]
    fn writes_sorted_and_reads_back() {
        let mut lock = Lockfile::new();
        lock.insert(entry("quay.io/b/c", Some("2"), B));
        lock.insert(entry("docker.io/library/nginx", Some("1.26"), A));
        lock.insert(entry("docker.io/library/nginx", Some("1.25"), B));
        let mut e = entry("docker.io/library/redis", None, A);
        e.media_type = Some("application/vnd.oci.image.index.v1+json".into());
        e.platforms
            .insert("linux/arm64".into(), Digest::parse(B).unwrap());
        e.platforms
            .insert("linux/amd64".into(), Digest::parse(A).unwrap());
        lock.insert(e);
        let text = lock.to_toml();
        let expected = format!(
            "{HEADER}\nversion = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1.25\"\ndigest = \"{B}\"\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1.26\"\ndigest = \"{A}\"\n\n[[image]]\nname = \"docker.io/library/redis\"\ndigest = \"{A}\"\nmedia-type = \"application/vnd.oci.image.index.v1+json\"\nplatforms = {{ \"linux/amd64\" = \"{A}\", \"linux/arm64\" = \"{B}\" }}\n\n[[image]]\nname = \"quay.io/b/c\"\ntag = \"2\"\ndigest = \"{B}\"\n"
        );
        assert_eq!(text, expected);
        let back = Lockfile::parse(Path::new("images.lock"), &text).unwrap();
        assert_eq!(back, lock);
        assert_eq!(back.to_toml(), text);
    }

    fn err(text: &str) -> String {
        Lockfile::parse(Path::new("images.lock"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_newer_format_is_named_by_its_version_not_by_a_field_it_added() {
        let e = err("version = 3\n\n[[image]]\nname = \"docker.io/library/a\"\ndigest = \"x\"\nsigned-by = \"k\"\n");
        assert!(
            e.contains("images.lock:1:11: unsupported lockfile version 3"),
            "{e}"
        );
        // The same field under version 1 is an unknown key, at its line.
        let e = err("version = 1\n\n[[image]]\nname = \"docker.io/library/a\"\ndigest = \"x\"\nsigned-by = \"k\"\n");
        assert!(
            e.contains("images.lock:6:1") && e.contains("signed-by"),
            "{e}"
        );
    }

    #[test]
    fn signature_records_round_trip_under_version_2_and_only_there() {
        let mut lock = Lockfile::new();
        let mut e = entry("ghcr.io/acme/app", Some("v1"), A);
        e.signatures = vec![
            SignatureRecord {
                kind: "cosign".into(),
                manifest: Digest::parse(B).unwrap(),
                layer: Some(Digest::parse(A).unwrap()),
                key: Some("sha256:0123".into()),
                identity: None,
                issuer: None,
                verified: Some("acme".into()),
            },
            SignatureRecord {
                kind: "sigstore-bundle".into(),
                manifest: Digest::parse(B).unwrap(),
                layer: Some(Digest::parse(B).unwrap()),
                key: None,
                identity: Some(
                    "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"
                        .into(),
                ),
                issuer: Some("https://token.actions.githubusercontent.com".into()),
                verified: Some("acme".into()),
            },
            SignatureRecord::found("cosign", &Digest::parse(A).unwrap(), None),
        ];
        e.signatures.sort();
        lock.insert(e);
        lock.insert(entry("docker.io/library/nginx", Some("1.25"), B));
        let text = lock.to_toml();
        assert!(text.contains("version = 2\n"), "{text}");
        assert!(
            text.contains("\n[[image.signature]]\nkind = \"cosign\"\n"),
            "{text}"
        );
        assert!(
            text.contains("identity = \"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3\"\nissuer = \"https://token.actions.githubusercontent.com\"\nverified = \"acme\"\n"),
            "{text}"
        );
        let read = Lockfile::parse(Path::new("images.lock"), &text).unwrap();
        assert_eq!(read, lock);
        assert_eq!(read.to_toml(), text);
        // Without records, version 1, as older releases read it.
        let mut plain = Lockfile::new();
        plain.insert(entry("docker.io/library/nginx", Some("1.25"), B));
        assert!(plain.to_toml().contains("version = 1\n"));
        // Records under version 1 are refused at their line.
        let e = err(&text.replace("version = 2", "version = 1"));
        assert!(e.contains("signature records need `version = 2`"), "{e}");
        // A bad digest in a record is named.
        let e = err(&text.replacen(&format!("manifest = \"{A}\""), "manifest = \"x\"", 1));
        assert!(e.contains("malformed signature manifest digest"), "{e}");
    }

    #[test]
    fn a_version_that_is_not_a_number_says_so() {
        let e = err("version = \"1\"\n");
        assert_eq!(
            e,
            "images.lock:1:11: the lockfile version must be a number, not the string \"1\"; write `version = 1`"
        );
    }

    #[test]
    fn rejects_unknown_version_with_line() {
        let e = err("# c\nversion = 3\n");
        assert!(
            e.starts_with("images.lock:2:11: unsupported lockfile version 3"),
            "{e}"
        );
        assert!(err("").contains("missing `version = 1`"));
    }

    #[test]
    fn rejects_malformed_digest_with_line() {
        let e = err("version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1\"\ndigest = \"sha256:abc\"\n");
        assert!(e.starts_with("images.lock:6:10: malformed digest"), "{e}");
    }

    #[test]
    fn rejects_duplicates_with_line() {
        let text = format!("version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1\"\ndigest = \"{A}\"\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1\"\ndigest = \"{B}\"\n");
        let e = err(&text);
        assert!(e.starts_with("images.lock:8:"), "{e}");
        assert!(
            e.contains("duplicate entry for docker.io/library/nginx:1"),
            "{e}"
        );
    }

    #[test]
    fn rejects_unnormalised_names_and_bad_toml() {
        let e = err(&format!(
            "version = 1\n[[image]]\nname = \"nginx\"\ntag = \"1\"\ndigest = \"{A}\"\n"
        ));
        assert!(e.contains("images.lock:3:8: name \"nginx\" is not normalised; write \"docker.io/library/nginx\""), "{e}");
        let e = err("version = 1\n[[image]\n");
        assert!(e.starts_with("images.lock:2:"), "{e}");
    }

    #[test]
    fn rejects_unknown_keys_with_line() {
        let e = err("version = 1\nowner = \"me\"\n");
        assert!(
            e.starts_with("images.lock:2:1: unknown field `owner`"),
            "{e}"
        );
        let e = err(&format!(
            "version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1\"\ndigest = \"{A}\"\npinned-by = \"me\"\n"
        ));
        assert!(
            e.starts_with("images.lock:7:1: unknown field `pinned-by`"),
            "{e}"
        );
    }

    #[test]
    fn save_if_changed_compares_models() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.lock");
        let (lock, guard) = Lockfile::open_for_update(&path).unwrap();
        assert!(!guard.existed());
        assert!(
            guard.save_if_changed(&lock).unwrap(),
            "absent: written even empty"
        );
        drop(guard);
        let crlf = format!("{HEADER}\r\n# hand note\r\nversion = 1\r\n");
        fs_err::write(&path, &crlf).unwrap();
        let (mut lock, guard) = Lockfile::open_for_update(&path).unwrap();
        assert!(!guard.save_if_changed(&lock).unwrap());
        assert_eq!(fs_err::read_to_string(&path).unwrap(), crlf);
        lock.insert(entry("docker.io/library/nginx", Some("1"), A));
        assert!(guard.save_if_changed(&lock).unwrap());
        assert_eq!(fs_err::read_to_string(&path).unwrap(), lock.to_toml());
    }

    #[test]
    fn missing_file_is_empty() {
        let lock = Lockfile::load(Path::new("/nonexistent/images.lock")).unwrap();
        assert!(lock.is_empty());
    }

    #[test]
    fn lookup_uses_effective_tag() {
        let mut lock = Lockfile::new();
        lock.insert(entry("docker.io/library/nginx", Some("latest"), A));
        lock.insert(entry("docker.io/library/redis", None, B));
        let r = |s: &str| Reference::parse(s).unwrap();
        assert!(lock.lookup(&r("nginx")).is_some());
        assert!(lock.lookup(&r("docker.io/library/nginx:latest")).is_some());
        assert!(lock.lookup(&r("nginx:1")).is_none());
        assert!(lock.lookup(&r(&format!("redis@{B}"))).is_some());
        assert!(lock.lookup(&r(&format!("redis@{A}"))).is_none());
    }
}
