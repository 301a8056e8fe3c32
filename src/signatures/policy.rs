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
//! Keyless rules (`identity`/`identity-regexp`, `issuer`/`issuer-regexp`,
//! `trusted-root`) are read and refused for now: their verification is
//! not built yet, and a rule imagelock cannot apply must not look applied.

use std::ops::Range;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;

use super::keys::PublicKey;

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

/// What a rule requires of a signature.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// Made with this key (`key = "cosign.pub"`).
    Key { path: PathBuf, key: PublicKey },
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
    /// A rule named `name` requiring the key at `path` of every image.
    pub fn for_key(name: &str, path: &Path) -> Result<Rule, String> {
        let text = fs_err::read_to_string(path).map_err(|e| format!("cannot read the key: {e}"))?;
        let key = PublicKey::from_pem(&text).map_err(|e| e.to_string())?;
        let images = GlobSetBuilder::new()
            .add(globset::Glob::new("**").map_err(|e| e.to_string())?)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Rule {
            name: name.to_string(),
            patterns: vec!["**".into()],
            images,
            requirement: Requirement::Key {
                path: path.to_path_buf(),
                key,
            },
            attestations: Vec::new(),
        })
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
            let glob = GlobBuilder::new(g.get_ref())
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
        let keyless = [
            raw.identity.as_ref().map(Spanned::span),
            raw.identity_regexp.as_ref().map(Spanned::span),
            raw.issuer.as_ref().map(Spanned::span),
            raw.issuer_regexp.as_ref().map(Spanned::span),
            raw.trusted_root.as_ref().map(Spanned::span),
        ]
        .into_iter()
        .flatten()
        .next();
        let requirement = match (raw.key, keyless) {
            (Some(key), None) => {
                let path = if dir.as_os_str().is_empty() {
                    key.get_ref().clone()
                } else {
                    dir.join(key.get_ref())
                };
                let text = fs_err::read_to_string(&path)
                    .map_err(|e| (key.span(), format!("cannot read the key: {e}")))?;
                let key_read = PublicKey::from_pem(&text)
                    .map_err(|e| (key.span(), format!("{}: {e}", path.display())))?;
                Requirement::Key {
                    path,
                    key: key_read,
                }
            }
            (Some(key), Some(_)) => {
                return Err((
                    key.span(),
                    format!("rule {name:?}: give a `key` or a keyless identity, not both"),
                ))
            }
            (None, Some(span)) => {
                return Err((
                    span,
                    format!("rule {name:?}: keyless verification (identity, issuer, trusted-root) is not supported by this imagelock yet; require a `key`"),
                ))
            }
            (None, None) => {
                return Err((
                    raw.images.span(),
                    format!("rule {name:?}: say what signs these images: `key = \"cosign.pub\"`"),
                ))
            }
        };
        Ok(Rule {
            name,
            patterns,
            images,
            requirement,
            attestations: raw.attestations,
        })
    }
}
