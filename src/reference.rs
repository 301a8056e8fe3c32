//! Image references: parse and normalise them following the distribution
//! reference grammar shared by Docker, containerd and the kubelet
//! (`github.com/distribution/reference`: `ParseNormalizedNamed` on top of
//! the anchored `Parse`, digests checked as `go-digest` checks them).
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

/// The digest algorithms the kubelet (through `go-digest`) knows, with the
/// number of hex digits each one's encoded part has.
const DIGEST_ALGORITHMS: [(&str, usize); 3] = [("sha256", 64), ("sha384", 96), ("sha512", 128)];

impl Digest {
    /// Parse `algorithm:encoded` strictly: the algorithm is lower case and
    /// one of sha256 (64 hex digits), sha384 (96) or sha512 (128), and the
    /// encoded part is lower-case hex of exactly that length. The error says
    /// what is wrong.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        let err = |reason: String| ReferenceError {
            input: s.to_string(),
            reason,
        };
        let (algorithm, encoded) = s.split_once(':').ok_or_else(|| {
            err("a digest is written `algorithm:hex`, such as `sha256:<64 hex digits>`".into())
        })?;
        if !valid_digest_algorithm(algorithm) {
            return Err(err(format!("invalid digest algorithm {algorithm:?}")));
        }
        let Some(&(_, want)) = DIGEST_ALGORITHMS
            .iter()
            .find(|(name, _)| *name == algorithm)
        else {
            let lower = algorithm.to_ascii_lowercase();
            return Err(err(
                if DIGEST_ALGORITHMS.iter().any(|(name, _)| *name == lower) {
                    format!("the digest algorithm must be lower case ({lower}, not {algorithm})")
                } else {
                    format!("unsupported digest algorithm {algorithm:?}; the kubelet knows sha256, sha384 and sha512")
                },
            ));
        };
        if let Some((i, c)) = encoded
            .char_indices()
            .find(|&(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
        {
            return Err(err(if c.is_ascii_hexdigit() {
                format!(
                    "{algorithm} digest must be lower-case hex; found {c:?} at position {}",
                    i + 1
                )
            } else {
                format!(
                    "{algorithm} digest must be hex (0-9, a-f); found {c:?} at position {}",
                    i + 1
                )
            }));
        }
        if encoded.len() != want {
            return Err(err(format!(
                "{algorithm} digest must have {want} hex digits, found {}",
                encoded.len()
            )));
        }
        Ok(Digest {
            algorithm: algorithm.to_string(),
            encoded: encoded.to_string(),
        })
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(bytes);
        let mut encoded = String::with_capacity(64);
        for b in hash {
            encoded.push_str(&format!("{b:02x}"));
        }
        Digest {
            algorithm: "sha256".to_string(),
            encoded,
        }
    }

    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    pub fn encoded(&self) -> &str {
        &self.encoded
    }
}

impl std::str::FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
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
    /// The normalised name, `domain/path` (one string: one allocation).
    name: String,
    /// Bytes of the domain in `name`.
    domain_len: usize,
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

/// Longest repository path (the name after the domain; `library/nginx` for
/// `nginx`) the grammar allows.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Docker Hub's canonical domain.
pub const DOCKER_HUB: &str = "docker.io";

/// What the anchored grammar (`reference.Parse`) finds in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts<'a> {
    /// The domain the name regexp captures (`None` when the whole name is a path).
    domain: Option<&'a str>,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse a reference as Docker, containerd and the kubelet do
    /// (`ParseNormalizedNamed`): a 64-hex string alone is an image ID, not
    /// a name; the first component is a domain when it holds `.` or `:`, is
    /// `localhost` or has upper-case letters; `index.docker.io` is Docker
    /// Hub; a Docker Hub name of one component is in `library/`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason: String| ReferenceError {
            input: s.to_string(),
            reason,
        };
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err("a repository name cannot be 64 hex characters: that is an image ID (did you mean a digest, `name@sha256:...`?)".into()));
        }
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(err(format!(
                "contains the character {c:?}; a reference has no spaces or control characters"
            )));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split(':').next().unwrap_or_default();
        let lowered = || format!("{domain}/{}", remainder.to_ascii_lowercase());
        if remote.bytes().any(|b| b.is_ascii_uppercase()) && parse_anchored(&lowered()).is_ok() {
            let remote = remote.split('@').next().unwrap_or(remote);
            let written = if s.contains('/') {
                remote
            } else {
                remote.trim_start_matches("library/")
            };
            return Err(err(format!(
                "repository name must be lowercase ({written:?})"
            )));
        }
        let full = format!("{domain}/{remainder}");
        let parts = parse_anchored(&full).map_err(|reason| {
            // Say what is wrong in terms of what was written.
            match parse_anchored(s) {
                Err(own) => err(own),
                Ok(_) => err(reason),
            }
        })?;
        let tag = parts.tag.map(str::to_string);
        let digest = parts.digest;
        // `full` is `domain/path[:tag][@digest]`: keep `domain/path`.
        let mut name = full;
        if let Some(at) = name.find('@') {
            name.truncate(at);
        }
        if let Some(t) = &tag {
            name.truncate(name.len() - t.len() - 1);
        }
        Ok(Reference {
            original: s.to_string(),
            domain_len: domain.len(),
            name,
            tag,
            digest,
        })
    }

    /// The string exactly as written.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// Normalised domain: `docker.io` for Docker Hub (also when written as
    /// `index.docker.io` or `registry-1.docker.io`, or left out), else as written.
    pub fn domain(&self) -> &str {
        &self.name[..self.domain_len]
    }

    /// Normalised repository path: `library/nginx` for `nginx`.
    pub fn path(&self) -> &str {
        &self.name[self.domain_len + 1..]
    }

    /// Normalised repository name: `docker.io/library/nginx`.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// [`Reference::name`], borrowed.
    pub fn name_str(&self) -> &str {
        &self.name
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag a pull resolves: the written tag, or `latest` when the
    /// reference has neither tag nor digest. `None` for digest-only references.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// Fully normalised form: `docker.io/library/nginx:1.25@sha256:...`.
    pub fn normalized(&self) -> String {
        let mut s = self.name.clone();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The reference as written, pinned to `digest`: the name and tag stay
    /// as written, a missing tag becomes `latest`, and any digest already
    /// written is replaced. `nginx` becomes `nginx:latest@sha256:...`.
    pub fn pinned(&self, digest: &Digest) -> String {
        let base = match self.original.split_once('@') {
            Some((base, _)) => base,
            None => &self.original,
        };
        if self.tag.is_none() {
            format!("{base}:latest@{digest}")
        } else {
            format!("{base}@{digest}")
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// `splitDockerDomain`: the domain (normalised: `index.docker.io` and no
/// domain at all are `docker.io`) and the rest, with `library/` added to a
/// one-component Docker Hub name. Runs on the whole string, tag and digest
/// included, as the Go code does.
///
/// Unlike Go's `Domain()`, a first component that looks like a host but is
/// not a valid one (`exa_mple.com/a`, accepted by the grammar as a plain
/// path) is still taken as the domain: that is the host a runtime contacts.
fn split_docker_domain(s: &str) -> (&str, std::borrow::Cow<'_, str>) {
    let Some((first, rest)) = s.split_once('/') else {
        return (DOCKER_HUB, format!("library/{s}").into());
    };
    let (domain, remote) = if first == "localhost" {
        (first, rest)
    } else if first == "index.docker.io" {
        (DOCKER_HUB, rest)
    } else if first.contains(['.', ':']) || first.bytes().any(|b| b.is_ascii_uppercase()) {
        (first, rest)
    } else {
        (DOCKER_HUB, s)
    };
    if domain == DOCKER_HUB && !remote.contains('/') {
        (domain, format!("library/{remote}").into())
    } else {
        (domain, remote.into())
    }
}

/// `reference.Parse`: the anchored grammar
/// `name(:tag)?(@digest)?`, name `(domain/)?path`, without normalising.
/// The error says what is wrong.
fn parse_anchored(s: &str) -> Result<Parts<'_>, String> {
    if s.is_empty() {
        return Err("the reference is empty".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "contains the character {c:?}; a reference has no spaces or control characters"
        ));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => {
            if digest.contains('@') {
                return Err("a reference holds at most one '@' (before the digest)".into());
            }
            if !digest_syntax(digest) {
                return Err(match Digest::parse(digest) {
                    Err(e) => e.reason,
                    Ok(_) => "invalid digest".into(),
                });
            }
            (rest, Some(Digest::parse(digest).map_err(|e| e.reason)?))
        }
        None => (s, None),
    };
    // A tag follows the last ':' when no '/' comes after it (a name holds
    // ':' only in its domain's port).
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        validate_tag(tag)?;
    }
    if name.is_empty() {
        return Err("the repository name is empty".into());
    }
    // The domain is optional and greedy: the first component is the domain
    // when it is one and the rest is a valid path; else the whole name must
    // be a path.
    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if valid_domain(first) && validate_path(rest).is_ok() => {
            (Some(first), rest)
        }
        _ => match validate_path(name) {
            Ok(()) => (None, name),
            Err(path_err) => {
                return Err(match name.split_once('/') {
                    Some((first, rest))
                        if first.contains(['.', ':', '['])
                            || first.bytes().any(|b| b.is_ascii_uppercase()) =>
                    {
                        match validate_domain(first) {
                            Err(e) => e,
                            Ok(()) => validate_path(rest).err().unwrap_or(path_err),
                        }
                    }
                    _ => path_err,
                });
            }
        },
    };
    if path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(format!(
            "the repository path is {} characters long; the limit is {NAME_TOTAL_LENGTH_MAX}",
            path.len()
        ));
    }
    Ok(Parts {
        domain,
        path,
        tag,
        digest,
    })
}

/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}`
fn digest_syntax(d: &str) -> bool {
    d.split_once(':').is_some_and(|(alg, hex)| {
        valid_digest_algorithm(alg) && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// `domainAndPort`: `host(:[0-9]+)?`, host a DNS name (components of
/// letters, digits and inner '-') or `[` hex digits and colons `]`.
fn valid_domain(domain: &str) -> bool {
    validate_domain(domain).is_ok()
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if tag.is_empty() {
        return Err("the tag after ':' is empty".into());
    }
    if tag.len() > 128 {
        return Err(format!(
            "the tag is {} characters long; the limit is 128",
            tag.len()
        ));
    }
    if !word(bytes[0]) {
        return Err(format!(
            "the tag {tag:?} must start with a letter, digit or '_'"
        ));
    }
    if let Some(c) = tag
        .chars()
        .find(|&c| !(c.is_ascii() && (word(c as u8) || c == '.' || c == '-')))
    {
        return Err(format!(
            "the tag {tag:?} contains {c:?}; tags hold letters, digits, '_', '.' and '-'"
        ));
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid registry host {domain:?}: {why}"));
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return bad("an IPv6 address needs a closing ']'");
        };
        // The grammar takes any run of hex digits and colons (no zone, no
        // embedded IPv4).
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad("an IPv6 address in brackets holds only hex digits and ':'");
        }
        match after {
            "" => (None, None),
            p if p.starts_with(':') => (None, Some(&p[1..])),
            _ => return bad("unexpected text after the IPv6 address"),
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return bad("the port must be a number");
        }
    }
    if let Some(host) = host {
        if host.is_empty() {
            return bad("the host is empty");
        }
        for component in host.split('.') {
            let b = component.as_bytes();
            if b.is_empty() {
                return bad("empty component between dots");
            }
            if !b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-') {
                return bad("a host holds letters, digits, '-' and '.'");
            }
            if b[0] == b'-' || b[b.len() - 1] == b'-' {
                return bad("a host component cannot start or end with '-'");
            }
        }
    }
    Ok(())
}

fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the repository path is empty".into());
    }
    for component in path.split('/') {
        validate_path_component(component)?;
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn validate_path_component(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("the repository path has an empty component ('//' or a trailing '/')".into());
    }
    if let Some(ch) = c
        .chars()
        .find(|&x| !(x.is_ascii_alphanumeric() || matches!(x, '.' | '_' | '-')))
    {
        return Err(format!(
            "the path component {c:?} contains {ch:?}; paths hold lowercase letters, digits, '.', '_' and '-'"
        ));
    }
    if c.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("repository name must be lowercase ({c:?})"));
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(format!(
            "the path component {c:?} must start and end with a lowercase letter or digit"
        ));
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            let ch = sep.chars().next().unwrap_or('?');
            return Err(
                if sep.bytes().all(|x| x == b'.' || x == b'_' || x == b'-') {
                    format!("the path component {c:?} has the separator {sep:?}; allowed are '.', '_', '__' and runs of '-'")
                } else {
                    format!("the path component {c:?} contains {ch:?}; paths hold lowercase letters, digits, '.', '_' and '-'")
                },
            );
        }
    }
    Ok(())
}

fn valid_digest_algorithm(a: &str) -> bool {
    !a.is_empty()
        && a.split(['+', '.', '_', '-']).all(|part| {
            let b = part.as_bytes();
            !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
        })
}

#[cfg(test)]
mod tests;
