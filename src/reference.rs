//! Image references: parse and normalise them following the distribution
//! reference grammar shared by Docker, containerd and the kubelet.
//!
//! Pure code: no I/O, no registry. A [`Reference`] keeps the string exactly as
//! written next to its normalised parts.

use std::fmt;

/// A content digest such as `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    algorithm: String,
    encoded: String,
}

impl Digest {
    /// Parse `algorithm:encoded`. `sha256` needs exactly 64 lowercase hex
    /// characters; other algorithms only need valid syntax.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        let _ = s;
        todo!()
    }
    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let _ = bytes;
        todo!()
    }
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }
    pub fn encoded(&self) -> &str {
        &self.encoded
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.encoded)
    }
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    original: String,
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a valid image reference. Its message quotes the
/// string and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let _ = s;
        todo!()
    }
    /// The string exactly as written.
    pub fn original(&self) -> &str {
        &self.original
    }
    /// Normalised domain: `docker.io` for Docker Hub (also when written as
    /// `index.docker.io` or `registry-1.docker.io`), else as written.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// Normalised repository path: `library/nginx` for `nginx`.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// Normalised repository name: `docker.io/library/nginx`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}
