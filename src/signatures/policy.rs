//! Which images must be signed, and by whom: `[[verify]]` rules in
//! `imagelock.toml`, in order; the first whose `images` pattern matches a
//! reference's normalised name applies to it. Images no rule names are not
//! required to be signed.
//!
//! ```toml
//! [[verify]]
//! name = "acme"                       # shown in messages and the lockfile
//! images = ["ghcr.io/acme/*"]         # globs over normalised names
//! key = "keys/cosign.pub"             # relative to imagelock.toml
//! attestations = ["https://slsa.dev/provenance/v1"]
//! ```
//!
//! A keyless rule names the Fulcio certificate's identity and OIDC issuer
//! (each exactly, or by a regular expression matched against the whole
//! value) and the `trusted_root.json` its certificates, transparency log
//! and CT logs are checked against:
//!
//! ```toml
//! [[verify]]
//! images = ["ghcr.io/acme/*"]
//! identity-regexp = 'https://github\.com/acme/[^/]+/\.github/workflows/release\.yml@refs/tags/v.*'
//! issuer = "https://token.actions.githubusercontent.com"
//! trusted-root = "trusted_root.json"
//! ```
//!
//! A key rule may name a `trusted-root` too: a sigstore bundle signed with
//! the key is accepted only with its transparency-log entry checked
//! against it (cosign `.sig` layers signed with a key need none).

use std::ops::Range;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;

use super::keys::PublicKey;
use super::notation::NotationTrust;
use super::sigstore::{Matcher, TrustRoot};

/// A `[[verify]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRule {
    name: Option<String>,
    images: Spanned<Vec<Spanned<String>>>,
    key: Option<Spanned<PathBuf>>,
    identity: Option<Spanned<String>>,
    identity_regexp: Option<Spanned<String>>,
    issuer: Option<Spanned<String>>,
    issuer_regexp: Option<Spanned<String>>,
    trusted_root: Option<Spanned<PathBuf>>,
    notation_roots: Option<Spanned<Vec<Spanned<PathBuf>>>>,
    notation_identities: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    attestations: Vec<String>,
}

/// One rule, checked: its key read.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `name`, else `verify #N` (its place in the file, from 1).
    pub name: String,
    /// The `images` patterns as written.
    pub patterns: Vec<String>,
    images: GlobSet,
    /// What a signature must be made with.
    pub requirement: Requirement,
    /// Predicate types of in-toto attestations that must be present too.
    pub attestations: Vec<String>,
}

/// An error about the part of the file at the span.
type SpannedError = (Range<usize>, String);

/// What a rule requires of a signature.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// Made with this key (`key = "cosign.pub"`); a sigstore bundle's log
    /// entry checked against `trusted_root` (without one, bundles are
    /// refused saying so).
    Key {
        path: PathBuf,
        key: PublicKey,
        trusted_root: Option<TrustRoot>,
    },
    /// Made keylessly: a Fulcio certificate for this identity and OIDC
    /// issuer, chaining to `trusted_root`, logged in its transparency log.
    Keyless {
        identity: Matcher,
        issuer: Matcher,
        trusted_root: TrustRoot,
    },
    /// A Notation (Notary Project) signature: an x509 chain to one of
    /// the trust store's roots, its leaf's subject a trusted identity.
    Notation { trust: NotationTrust },
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Requirement::Key { path, key, .. } => {
                write!(f, "the key {} ({})", path.display(), key.id())
            }
            Requirement::Keyless {
                identity,
                issuer,
                trusted_root,
            } => write!(
                f,
                "a certificate for identity {identity} and issuer {issuer} trusted by {}",
                trusted_root.path().display()
            ),
            Requirement::Notation { trust } => write!(f, "{trust}"),
        }
    }
}

/// The rules, in order.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Policy {
    pub fn new(rules: Vec<Rule>) -> Policy {
        Policy { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule for the repository `name` (normalised: `ghcr.io/acme/app`):
    /// the first that names it.
    pub fn rule_for(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.images.is_match(name))
    }
}

impl Rule {
    /// A rule named `name` requiring `requirement` of every image (the
    /// command line's `--verify-key`, `--certificate-identity`, …).
    pub fn for_every_image(name: &str, requirement: Requirement) -> Rule {
        let images = GlobSetBuilder::new()
            .add(globset::Glob::new("**").expect("a valid glob"))
            .build()
            .expect("a valid glob set");
        Rule {
            name: name.to_string(),
            patterns: vec!["**".into()],
            images,
            requirement,
            attestations: Vec::new(),
        }
    }

    /// A rule named `name` requiring the key at `path` of every image.
    pub fn for_key(name: &str, path: &Path) -> Result<Rule, String> {
        Ok(Rule::for_every_image(name, read_key(path, None)?))
    }

    /// Check the rule at place `index` (0-based) of a file in `dir`,
    /// reading its key. An error carries the span it is about.
    pub fn new(raw: RawRule, index: usize, dir: &Path) -> Result<Rule, (Range<usize>, String)> {
        let name = raw.name.unwrap_or_else(|| format!("verify #{}", index + 1));
        if raw.images.get_ref().is_empty() {
            return Err((raw.images.span(), "`images` names no image".into()));
        }
        let mut set = GlobSetBuilder::new();
        let mut patterns = Vec::new();
        for g in raw.images.get_ref() {
            let normalised = normalise_pattern(g.get_ref())
                .map_err(|e| (g.span(), format!("rule {name:?}: {e}")))?;
            let glob = GlobBuilder::new(&normalised)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    (
                        g.span(),
                        format!("invalid glob {:?}: {}", g.get_ref(), e.kind()),
                    )
                })?;
            set.add(glob);
            patterns.push(g.get_ref().clone());
        }
        let images = set
            .build()
            .map_err(|e| (raw.images.span(), format!("invalid globs: {e}")))?;
        let resolve = |p: &PathBuf| {
            if dir.as_os_str().is_empty() {
                p.clone()
            } else {
                dir.join(p)
            }
        };
        let trusted_root = raw
            .trusted_root
            .as_ref()
            .map(|t| TrustRoot::load(&resolve(t.get_ref())).map_err(|e| (t.span(), e)))
            .transpose()?;
        let one_of = |exact: Option<Spanned<String>>,
                      regexp: Option<Spanned<String>>,
                      what: &str|
         -> Result<Option<(Range<usize>, Matcher)>, SpannedError> {
            match (exact, regexp) {
                (Some(e), None) => Ok(Some((e.span(), Matcher::Exact(e.into_inner())))),
                (None, Some(r)) => Matcher::regex(r.get_ref())
                    .map(|m| Some((r.span(), m)))
                    .map_err(|e| (r.span(), format!("rule {name:?}: {what}-regexp: {e}"))),
                (Some(_), Some(r)) => Err((
                    r.span(),
                    format!("rule {name:?}: give `{what}` or `{what}-regexp`, not both"),
                )),
                (None, None) => Ok(None),
            }
        };
        if let Some(roots) = &raw.notation_roots {
            let others = [
                raw.key.as_ref().map(|k| (k.span(), "key")),
                raw.identity.as_ref().map(|k| (k.span(), "identity")),
                raw.identity_regexp
                    .as_ref()
                    .map(|k| (k.span(), "identity-regexp")),
                raw.issuer.as_ref().map(|k| (k.span(), "issuer")),
                raw.issuer_regexp
                    .as_ref()
                    .map(|k| (k.span(), "issuer-regexp")),
                raw.trusted_root
                    .as_ref()
                    .map(|k| (k.span(), "trusted-root")),
            ];
            if let Some((span, what)) = others.into_iter().flatten().next() {
                return Err((
                    span,
                    format!("rule {name:?}: a Notation rule (`notation-roots`) takes no `{what}`: give Notation's trust store and identities, or cosign's key or keyless identity, in separate rules"),
                ));
            }
            if !raw.attestations.is_empty() {
                return Err((
                    raw.images.span(),
                    format!("rule {name:?}: required attestations are checked with a `key` only, not for Notation rules; remove `attestations` rather than have it look applied"),
                ));
            }
            let Some(identities) = &raw.notation_identities else {
                return Err((
                    roots.span(),
                    format!("rule {name:?}: a Notation rule needs `notation-identities`: [\"x509.subject: C=…, ST=…, O=…\"] (the signing certificate's subject, as in a Notation trust policy) or [\"*\"] for any identity the roots issued"),
                ));
            };
            if roots.get_ref().is_empty() {
                return Err((
                    roots.span(),
                    format!("rule {name:?}: `notation-roots` names no root certificate file"),
                ));
            }
            let mut files = Vec::new();
            for r in roots.get_ref() {
                let path = resolve(r.get_ref());
                NotationTrust::load(std::slice::from_ref(&path), &["*".to_string()])
                    .map_err(|e| (r.span(), format!("rule {name:?}: {e}")))?;
                files.push(path);
            }
            let trust = NotationTrust::load(&files, identities.get_ref()).map_err(|e| {
                (
                    identities.span(),
                    format!("rule {name:?}: notation-identities: {e}"),
                )
            })?;
            return Ok(Rule {
                name,
                patterns,
                images,
                requirement: Requirement::Notation { trust },
                attestations: Vec::new(),
            });
        }
        if let Some(identities) = &raw.notation_identities {
            return Err((
                identities.span(),
                format!("rule {name:?}: `notation-identities` needs `notation-roots` (the root CA certificates, PEM, of the Notation trust store)"),
            ));
        }
        let identity = one_of(raw.identity, raw.identity_regexp, "identity")?;
        let issuer = one_of(raw.issuer, raw.issuer_regexp, "issuer")?;
        let requirement = match (raw.key, identity, issuer) {
            (Some(key), None, None) => {
                let path = resolve(key.get_ref());
                let text = fs_err::read_to_string(&path)
                    .map_err(|e| (key.span(), format!("cannot read the key: {e}")))?;
                let key_read = PublicKey::from_pem(&text)
                    .map_err(|e| (key.span(), format!("{}: {e}", path.display())))?;
                Requirement::Key {
                    path,
                    key: key_read,
                    trusted_root,
                }
            }
            (Some(key), _, _) => {
                return Err((
                    key.span(),
                    format!("rule {name:?}: give a `key` or a keyless identity and issuer, not both"),
                ))
            }
            (None, Some((_, identity)), Some((_, issuer))) => match trusted_root {
                Some(trusted_root) => Requirement::Keyless {
                    identity,
                    issuer,
                    trusted_root,
                },
                None => {
                    return Err((
                        raw.images.span(),
                        format!("rule {name:?}: a keyless rule needs `trusted-root = \"trusted_root.json\"` (the Fulcio CA, transparency log and CT log keys to trust; imagelock fetches none)"),
                    ))
                }
            },
            (None, Some((span, _)), None) => {
                return Err((
                    span,
                    format!("rule {name:?}: a keyless rule needs the certificate's OIDC issuer too: `issuer` or `issuer-regexp`"),
                ))
            }
            (None, None, Some((span, _))) => {
                return Err((
                    span,
                    format!("rule {name:?}: a keyless rule needs the certificate's identity too: `identity` or `identity-regexp`"),
                ))
            }
            (None, None, None) => {
                return Err((
                    raw.images.span(),
                    format!("rule {name:?}: say what signs these images: `key = \"cosign.pub\"`, or `identity`, `issuer` and `trusted-root` for keyless signatures, or `notation-roots` and `notation-identities` for Notation signatures"),
                ))
            }
        };
        if matches!(requirement, Requirement::Keyless { .. }) && !raw.attestations.is_empty() {
            return Err((
                raw.images.span(),
                format!("rule {name:?}: required attestations are checked with a `key` only, not yet for keyless rules; remove `attestations` rather than have it look applied"),
            ));
        }
        Ok(Rule {
            name,
            patterns,
            images,
            requirement,
            attestations: raw.attestations,
        })
    }
}

/// An `images` pattern as the normalised names it is matched against
/// spell a repository, the way Docker reads a name: no registry means
/// Docker Hub (`nginx` is `docker.io/library/nginx`, `acme/*` is
/// `docker.io/acme/*`), `index.docker.io` is `docker.io`, a Docker Hub
/// name of one part is under `library/`. Written as is, such a pattern
/// would match no normalised name, and the images it names would be
/// locked unverified without a word. A pattern whose first part is a glob
/// (`**`, `*/app`) is kept. A tag or digest is refused: rules name
/// repositories.
fn normalise_pattern(pattern: &str) -> Result<String, String> {
    let is_glob = |s: &str| s.contains(['*', '?', '[', '{']);
    let parts: Vec<&str> = pattern.split('/').collect();
    let last = parts.last().copied().unwrap_or_default();
    if pattern.contains('@') || last.contains(':') {
        return Err(format!(
            "`images` pattern {pattern:?} names a tag or digest; a rule names repositories (`ghcr.io/acme/app`, `ghcr.io/acme/*`), and applies to every tag and digest of them"
        ));
    }
    if pattern.trim() != pattern || pattern.is_empty() {
        return Err(format!(
            "`images` pattern {pattern:?} has spaces around it or is empty; it would match no image"
        ));
    }
    let first = parts[0];
    if parts.len() == 1 && is_glob(first) && first != "**" {
        return Err(format!(
            "`images` pattern {pattern:?} matches no image: normalised names have a registry and a path (`docker.io/library/nginx`), and `*` stays within one part; write `**` for every image"
        ));
    }
    if is_glob(first) {
        return Ok(pattern.to_string());
    }
    let domain_like = first.contains(['.', ':']) || first == "localhost";
    let (domain, rest): (String, &[&str]) = if domain_like {
        let d = first.to_ascii_lowercase();
        let d = if d == "index.docker.io" {
            "docker.io".to_string()
        } else {
            d
        };
        (d, &parts[1..])
    } else {
        ("docker.io".to_string(), &parts[..])
    };
    if let Some(part) = rest
        .iter()
        .find(|p| !p.contains('[') && p.chars().any(|c| c.is_ascii_uppercase()))
    {
        return Err(format!(
            "`images` pattern {pattern:?}: {part:?} has capitals, and repository paths are lower case: it would match no image"
        ));
    }
    let mut out = vec![domain.clone()];
    if domain == "docker.io" && rest.len() == 1 && rest[0] != "**" {
        out.push("library".to_string());
    }
    out.extend(rest.iter().map(ToString::to_string));
    Ok(out.join("/"))
}

/// The key requirement for the key file at `path`, its bundles checked
/// against `trusted_root`.
pub fn read_key(path: &Path, trusted_root: Option<TrustRoot>) -> Result<Requirement, String> {
    let text = fs_err::read_to_string(path).map_err(|e| format!("cannot read the key: {e}"))?;
    let key = PublicKey::from_pem(&text).map_err(|e| e.to_string())?;
    Ok(Requirement::Key {
        path: path.to_path_buf(),
        key,
        trusted_root,
    })
}

#[cfg(test)]
mod tests {
    use super::normalise_pattern;

    #[test]
    fn patterns_are_read_as_docker_reads_names() {
        for (written, normalised) in [
            ("nginx", "docker.io/library/nginx"),
            ("docker.io/nginx", "docker.io/library/nginx"),
            ("index.docker.io/nginx", "docker.io/library/nginx"),
            ("acme/*", "docker.io/acme/*"),
            ("docker.io/*", "docker.io/library/*"),
            ("docker.io/**", "docker.io/**"),
            ("GHCR.io/acme/*", "ghcr.io/acme/*"),
            ("ghcr.io/acme/*", "ghcr.io/acme/*"),
            ("localhost:5000/team/*", "localhost:5000/team/*"),
            ("localhost/app", "localhost/app"),
            ("**", "**"),
            ("*/acme/*", "*/acme/*"),
        ] {
            assert_eq!(
                normalise_pattern(written).as_deref(),
                Ok(normalised),
                "{written}"
            );
        }
        for bad in [
            "ghcr.io/acme/app:v1",
            "nginx:1",
            "ghcr.io/acme/app@sha256:00",
            "ghcr.io/Acme/*",
            "*",
            "*nginx*",
            " ghcr.io/acme/*",
            "",
        ] {
            assert!(normalise_pattern(bad).is_err(), "{bad}");
        }
    }
}
