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
    /// characters; other algorithms only need valid syntax
    /// (`[A-Za-z][A-Za-z0-9]*([+._-][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`).
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let (algorithm, encoded) = s.split_once(':').ok_or_else(|| {
            err("a digest is written `algorithm:hex`, such as `sha256:<64 hex characters>`")
        })?;
        if !valid_digest_algorithm(algorithm) {
            return Err(err(&format!("invalid digest algorithm {algorithm:?}")));
        }
        if algorithm == "sha256" {
            if encoded.len() != 64 {
                return Err(err(&format!(
                    "a sha256 digest has 64 hex characters, this one has {}",
                    encoded.chars().count()
                )));
            }
            if !encoded
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return Err(err(
                    "a sha256 digest is written in lowercase hex (0-9, a-f)",
                ));
            }
        } else if encoded.len() < 32 || !encoded.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(
                "the encoded part of a digest is at least 32 hex characters",
            ));
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

/// Longest repository name (domain and path, as written) the grammar allows.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Docker Hub's canonical domain.
pub const DOCKER_HUB: &str = "docker.io";

impl Reference {
    /// Parse a reference as Docker, containerd and the kubelet do.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason: String| ReferenceError {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("the reference is empty".into()));
        }
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(err(format!(
                "contains the character {c:?}; a reference has no spaces or control characters"
            )));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => {
                let d = Digest::parse(digest).map_err(|e| err(e.reason))?;
                (rest, Some(d))
            }
            None => (s, None),
        };
        // A tag follows the last ':' when no '/' comes after it.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(err)?;
        }
        if name.is_empty() {
            return Err(err("the repository name is empty".into()));
        }
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(err(format!(
                "the repository name is {} characters long; the limit is {NAME_TOTAL_LENGTH_MAX}",
                name.len()
            )));
        }
        let (domain, path) = split_domain(name);
        if let Some(domain) = domain {
            validate_domain(domain).map_err(err)?;
        }
        validate_path(path).map_err(err)?;
        let domain = match domain {
            None | Some("index.docker.io") | Some("registry-1.docker.io") => DOCKER_HUB,
            Some(d) => d,
        };
        if domain == DOCKER_HUB && path.len() == 64 && path.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("a repository name cannot be 64 hex characters (did you mean a digest, `@sha256:...`?)".into()));
        }
        let path = if domain == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(Reference {
            original: s.to_string(),
            domain: domain.to_string(),
            path,
            tag: tag.map(str::to_string),
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
        let mut s = self.name();
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

/// Split a name into (domain, path) the way `splitDockerDomain` does: the
/// first component is a domain when it holds `.` or `:`, is `localhost`,
/// or has uppercase letters (which a path cannot).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
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
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("not a valid IPv6 address");
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
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b.iter().all(|c| c.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// (input, normalised name, tag, has digest)
    const VALID: &[(&str, &str, Option<&str>, bool)] = &[
        ("nginx", "docker.io/library/nginx", None, false),
        ("nginx:1.25", "docker.io/library/nginx", Some("1.25"), false),
        ("nginx:latest", "docker.io/library/nginx", Some("latest"), false),
        ("library/nginx:1.25", "docker.io/library/nginx", Some("1.25"), false),
        ("docker.io/nginx", "docker.io/library/nginx", None, false),
        ("docker.io/library/nginx:1", "docker.io/library/nginx", Some("1"), false),
        ("index.docker.io/nginx", "docker.io/library/nginx", None, false),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx", Some("1"), false),
        ("registry-1.docker.io/bitnami/redis:7", "docker.io/bitnami/redis", Some("7"), false),
        ("sysdig/agent", "docker.io/sysdig/agent", None, false),
        ("bitnami/redis:7.2.4-debian-12-r9", "docker.io/bitnami/redis", Some("7.2.4-debian-12-r9"), false),
        ("quay.io/prometheus/node-exporter:v1.7.0", "quay.io/prometheus/node-exporter", Some("v1.7.0"), false),
        ("ghcr.io/a/b/c/d:x", "ghcr.io/a/b/c/d", Some("x"), false),
        ("localhost/foo", "localhost/foo", None, false),
        ("localhost:5000/foo:bar", "localhost:5000/foo", Some("bar"), false),
        ("127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000/team/app", Some("1.0"), false),
        ("[::1]:5000/app:1", "[::1]:5000/app", Some("1"), false),
        ("[2001:db8::1]/app", "[2001:db8::1]/app", None, false),
        ("Registry.Example.com/app", "Registry.Example.com/app", None, false),
        ("MyHost/app:1", "MyHost/app", Some("1"), false),
        ("registry.k8s.io/ingress-nginx/controller:v1.10.0", "registry.k8s.io/ingress-nginx/controller", Some("v1.10.0"), false),
        ("a/b__c/d-e---f/g.h:T_a-g.1", "docker.io/a/b__c/d-e---f/g.h", Some("T_a-g.1"), false),
        ("nginx:_tag", "docker.io/library/nginx", Some("_tag"), false),
        ("foo:5000", "docker.io/library/foo", Some("5000"), false),
        ("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/nginx", None, true),
        ("nginx:1.25@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/nginx", Some("1.25"), true),
        ("nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/nginx", Some("latest"), true),
        ("gcr.io/p/app@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "gcr.io/p/app", None, true),
        ("app@sha256+b64u.x-y_z:0123456789ABCDEF0123456789ABCDEF", "docker.io/library/app", None, true),
        ("my-registry.local:443/x/y:1-2", "my-registry.local:443/x/y", Some("1-2"), false),
    ];

    /// (input, a fragment the reason must contain)
    const INVALID: &[(&str, &str)] = &[
        ("", "empty"),
        ("Nginx", "lowercase"),
        ("docker.io/Library/nginx", "lowercase"),
        ("nginx:", "tag after ':' is empty"),
        ("nginx:.bad", "must start with"),
        ("nginx:-bad", "must start with"),
        ("nginx:a/b", "port must be a number"),
        ("nginx:1.25 ", "no spaces"),
        (" nginx", "no spaces"),
        ("{{ .Values.image }}", "no spaces"),
        ("${IMAGE}", "contains"),
        ("$IMAGE", "contains"),
        ("nginx@sha256:abc", "64 hex"),
        (
            "nginx@sha256:0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
            "lowercase hex",
        ),
        ("nginx@md5", "algorithm:hex"),
        ("nginx@1sha:0123456789abcdef0123456789abcdef", "algorithm"),
        ("nginx@sha512:0123", "at least 32"),
        (
            "nginx:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef@x",
            "64 hex characters",
        ),
        ("a//b", "empty component"),
        ("a/b/", "empty component"),
        ("/a", "empty"),
        ("a..b", "separator"),
        ("a___b", "separator"),
        ("a-", "start and end"),
        ("-a", "start and end"),
        ("a.-b", "separator"),
        ("ex ample.com/a", "no spaces"),
        ("exa_mple.com/a", "registry host"),
        ("-example.com/a", "registry host"),
        ("example.com:port/a", "port must be a number"),
        ("[::1/a", "closing"),
        ("[zz::1]/a", "IPv6"),
        ("example.com/", "empty"),
        (":tag", "empty"),
        ("nginx:\u{e9}t\u{e9}", "must start with"),
        ("nginx:t\u{e9}", "contains"),
        ("ngïnx", "contains"),
        (
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "64 hex",
        ),
    ];

    #[test]
    fn valid_references_parse_and_normalise() {
        for &(input, name, tag, has_digest) in VALID {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.name(), name, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest().is_some(), has_digest, "{input}");
            assert_eq!(r.original(), input);
        }
    }

    #[test]
    fn invalid_references_say_what_is_wrong() {
        for &(input, fragment) in INVALID {
            let e = Reference::parse(input).expect_err(input);
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("{input:?}")),
                "{msg} should quote {input:?}"
            );
            assert!(
                msg.contains(fragment),
                "{input:?}: {msg:?} should contain {fragment:?}"
            );
        }
    }

    #[test]
    fn table_has_enough_cases() {
        assert!(VALID.len() + INVALID.len() >= 40);
    }

    #[test]
    fn name_length_limit() {
        let ok = format!("example.com/{}", "a".repeat(255 - 12));
        assert_eq!(ok.len(), 255);
        assert!(Reference::parse(&ok).is_ok());
        let long = format!("example.com/{}", "a".repeat(256 - 12));
        let e = Reference::parse(&long).unwrap_err();
        assert!(e.reason.contains("255"), "{e}");
        // The limit counts the name, not the tag.
        assert!(Reference::parse(&format!("{ok}:tag")).is_ok());
    }

    #[test]
    fn tag_length_limit() {
        assert!(Reference::parse(&format!("a:{}", "t".repeat(128))).is_ok());
        assert!(Reference::parse(&format!("a:{}", "t".repeat(129))).is_err());
    }

    #[test]
    fn pinned_keeps_reference_as_written() {
        let d = Digest::parse(D).unwrap();
        let pin = |s: &str| Reference::parse(s).unwrap().pinned(&d);
        assert_eq!(pin("nginx:1.25"), format!("nginx:1.25@{D}"));
        assert_eq!(pin("sysdig/agent"), format!("sysdig/agent:latest@{D}"));
        assert_eq!(
            pin("localhost:5000/a"),
            format!("localhost:5000/a:latest@{D}")
        );
        let old = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
        assert_eq!(pin(&format!("nginx:1.25@{old}")), format!("nginx:1.25@{D}"));
        assert_eq!(
            pin(&format!("index.docker.io/nginx:1@{old}")),
            format!("index.docker.io/nginx:1@{D}")
        );
    }

    #[test]
    fn effective_tag() {
        assert_eq!(
            Reference::parse("nginx").unwrap().effective_tag(),
            Some("latest")
        );
        assert_eq!(
            Reference::parse("nginx:1").unwrap().effective_tag(),
            Some("1")
        );
        assert_eq!(
            Reference::parse(&format!("nginx@{D}"))
                .unwrap()
                .effective_tag(),
            None
        );
    }

    #[test]
    fn sha256_of_known_value() {
        assert_eq!(
            Digest::sha256_of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
