//! The configuration file `imagelock.toml`: where it is found and what it
//! may say (typed; an unknown key or a bad value is an error at
//! `imagelock.toml:line:column`). Every option is an `Option`: what the
//! file leaves out, and what the command line says over it, is for
//! [`crate::settings`] to decide. Relative paths in the file are relative
//! to its directory. The scan's [`Filters`] (`exclude`, `ignore-images`,
//! `[[location]]`) are built here, since only the file sets them.
//!
//! Knows no command-line type.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;

use crate::reference::Reference;
use crate::scan::custom::{Location, RawLocation};
use crate::scan::walk::normalize_lexically;

/// The file's name.
pub const FILE_NAME: &str = "imagelock.toml";

/// A configuration file that cannot be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Bad TOML, an unknown key, a value of the wrong type or a bad glob,
    /// path or pattern.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// What the file says, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    paths: Option<Vec<PathBuf>>,
    exclude: Option<Vec<Spanned<String>>>,
    ignore_images: Option<Vec<Spanned<String>>>,
    helm_values: Option<Vec<PathBuf>>,
    compose_env: Option<bool>,
    #[serde(alias = "plain-http-hosts")]
    plain_http: Option<Vec<String>>,
    #[serde(alias = "ca-file")]
    ca_files: Option<Vec<PathBuf>>,
    #[serde(alias = "platform")]
    platforms: Option<Vec<String>>,
    concurrency: Option<Spanned<u16>>,
    timeout: Option<Spanned<u64>>,
    #[serde(alias = "pull-secret")]
    pull_secrets: Option<Vec<PathBuf>>,
    namespace: Option<String>,
    credential_provider_config: Option<PathBuf>,
    credential_provider_bin_dir: Option<PathBuf>,
    #[serde(alias = "mirror")]
    mirrors: Option<Vec<String>>,
    containerd_hosts_dir: Option<PathBuf>,
    registries_conf: Option<PathBuf>,
    #[serde(default, rename = "location")]
    locations: Vec<RawLocation>,
    #[serde(default, rename = "verify")]
    verify: Vec<crate::signatures::policy::RawRule>,
}

/// A configuration file, read and checked; paths joined to its directory.
#[derive(Debug, Default)]
pub struct Config {
    /// The file, as found or given.
    pub path: PathBuf,
    pub paths: Option<Vec<PathBuf>>,
    pub helm_values: Option<Vec<PathBuf>>,
    /// `compose-env = true` (`--compose-env`).
    pub compose_env: Option<bool>,
    pub plain_http: Option<Vec<String>>,
    pub ca_files: Option<Vec<PathBuf>>,
    pub platforms: Option<Vec<String>>,
    pub concurrency: Option<u16>,
    pub timeout: Option<u64>,
    pub pull_secrets: Option<Vec<PathBuf>>,
    pub namespace: Option<String>,
    pub credential_provider_config: Option<PathBuf>,
    pub credential_provider_bin_dir: Option<PathBuf>,
    /// `mirrors = ["docker.io=mirror.example.com/dockerhub"]` (`--mirror`).
    pub mirrors: Option<Vec<String>>,
    pub containerd_hosts_dir: Option<PathBuf>,
    pub registries_conf: Option<PathBuf>,
    /// What the scan consults.
    pub filters: Filters,
    /// The `[[verify]]` rules: which images must be signed, by whom.
    pub signature_policy: crate::signatures::policy::Policy,
}

/// What the file says the scan leaves out (`exclude`, `ignore-images`)
/// and reads besides the built-in rules (`[[location]]`); empty without a
/// file.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    /// The configuration file's directory, absolute and without `.`/`..`.
    dir: PathBuf,
    exclude: Option<GlobSet>,
    ignore_images: Option<GlobSet>,
    /// The `[[location]]` tables.
    pub locations: Vec<Location>,
}

impl Filters {
    /// Whether the walk leaves out `path` (a file or directory met while
    /// walking a directory): an `exclude` glob matches it, relative to the
    /// file's directory.
    pub fn excludes(&self, path: &Path) -> bool {
        let Some(set) = &self.exclude else {
            return false;
        };
        let Ok(cwd) = std::env::current_dir() else {
            return false;
        };
        let abs = normalize_lexically(&cwd.join(path));
        abs.strip_prefix(&self.dir)
            .is_ok_and(|rel| set.is_match(rel))
    }

    /// Whether `ignore-images` names the reference's image (its normalised
    /// name).
    pub fn ignores(&self, reference: &Reference) -> bool {
        self.ignore_images
            .as_ref()
            .is_some_and(|set| set.is_match(reference.name_str()))
    }
}

/// `imagelock.toml` in `start` or the nearest parent, stopping at the
/// repository root (a directory holding `.git`), spelled relative to `start`
/// (`imagelock.toml`, `../imagelock.toml`).
pub fn discover(start: &Path) -> Option<PathBuf> {
    let abs = normalize_lexically(start);
    let mut up = PathBuf::new();
    for dir in abs.ancestors() {
        if dir.join(FILE_NAME).is_file() {
            return Some(up.join(FILE_NAME));
        }
        if dir.join(".git").exists() {
            return None;
        }
        up.push("..");
    }
    None
}

/// Which configuration file to read.
#[derive(Debug, Clone)]
pub enum Choice {
    /// None (`--no-config`).
    None,
    /// This one (`--config FILE`).
    File(PathBuf),
    /// The one [`discover`] finds from this directory, if any.
    Discover(PathBuf),
}

/// Read the configuration file `choice` names, if any.
pub fn read(choice: &Choice) -> Result<Option<Config>, ConfigError> {
    let path = match choice {
        Choice::None => return Ok(None),
        Choice::File(p) => p.clone(),
        Choice::Discover(dir) => match discover(dir) {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    load(&path).map(Some)
}

/// Read and check the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = fs_err::read_to_string(path)?;
    parse(path, &text)
}

/// Check the text of a configuration file read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let invalid = |span: Option<std::ops::Range<usize>>, message: String| {
        let (line, column) = line_column(text, span.map_or(0, |s| s.start));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| invalid(e.span(), e.message().to_string()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::new(),
    };
    let join = |p: PathBuf| {
        if dir.as_os_str().is_empty() {
            p
        } else {
            dir.join(p)
        }
    };
    let join_all = |v: Option<Vec<PathBuf>>| v.map(|v| v.into_iter().map(join).collect());
    if let Some(c) = &raw.concurrency {
        if *c.get_ref() == 0 {
            return Err(invalid(
                Some(c.span()),
                "concurrency must be at least 1".into(),
            ));
        }
    }
    if let Some(t) = &raw.timeout {
        if !(1..=3600).contains(t.get_ref()) {
            return Err(invalid(
                Some(t.span()),
                "timeout must be 1 to 3600 seconds".into(),
            ));
        }
    }
    let exclude = globs(raw.exclude.as_deref(), true).map_err(|(s, m)| invalid(Some(s), m))?;
    let ignore_images =
        globs(raw.ignore_images.as_deref(), true).map_err(|(s, m)| invalid(Some(s), m))?;
    let mut locations = Vec::new();
    for raw in raw.locations {
        locations.push(Location::new(raw).map_err(|(s, m)| invalid(Some(s), m))?);
    }
    let mut rules = Vec::new();
    for (i, raw) in raw.verify.into_iter().enumerate() {
        rules.push(
            crate::signatures::policy::Rule::new(raw, i, &dir)
                .map_err(|(s, m)| invalid(Some(s), m))?,
        );
    }
    let cwd = std::env::current_dir()?;
    Ok(Config {
        signature_policy: crate::signatures::policy::Policy::new(rules),
        path: path.to_path_buf(),
        paths: join_all(raw.paths),
        helm_values: join_all(raw.helm_values),
        compose_env: raw.compose_env,
        plain_http: raw.plain_http,
        ca_files: join_all(raw.ca_files),
        platforms: raw.platforms,
        concurrency: raw.concurrency.map(Spanned::into_inner),
        timeout: raw.timeout.map(Spanned::into_inner),
        pull_secrets: join_all(raw.pull_secrets),
        namespace: raw.namespace,
        credential_provider_config: raw.credential_provider_config.map(join),
        credential_provider_bin_dir: raw.credential_provider_bin_dir.map(join),
        mirrors: raw.mirrors,
        containerd_hosts_dir: raw.containerd_hosts_dir.map(join),
        registries_conf: raw.registries_conf.map(join),
        filters: Filters {
            dir: normalize_lexically(&cwd.join(&dir)),
            exclude,
            ignore_images,
            locations,
        },
    })
}

/// A glob set; `*` stays within one `/`-separated part when `literal_separator`
/// (`**` crosses them). An error carries the bad glob's span.
fn globs(
    list: Option<&[Spanned<String>]>,
    literal_separator: bool,
) -> Result<Option<GlobSet>, (std::ops::Range<usize>, String)> {
    let Some(list) = list else {
        return Ok(None);
    };
    let mut set = GlobSetBuilder::new();
    for g in list {
        let glob = GlobBuilder::new(g.get_ref())
            .literal_separator(literal_separator)
            .build()
            .map_err(|e| {
                (
                    g.span(),
                    format!("invalid glob {:?}: {}", g.get_ref(), e.kind()),
                )
            })?;
        set.add(glob);
    }
    set.build()
        .map(Some)
        .map_err(|e| (list[0].span(), format!("invalid globs: {e}")))
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("imagelock.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_key_names_key_line_and_column() {
        let e = err("paths = [\"a\"]\n\n  colour = 1\n");
        assert!(
            e.starts_with("imagelock.toml:3:3: unknown field `colour`"),
            "{e}"
        );
    }

    #[test]
    fn verify_rules_read_their_key_beside_the_file_and_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // A P-256 public key (SubjectPublicKeyInfo) made with Python's
        // `cryptography` (scripts/sign-image.py keygen).
        let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4pPpE+B8kpQF3sU0iTl0Lm7ZYorp\n5dlpWcTOt1d8cPC0wRAZok5eG3GtYkjt3zWsXTjw6JBambLO3Zz1N8MS9g==\n-----END PUBLIC KEY-----\n";
        fs_err::write(dir.path().join("cosign.pub"), pem).unwrap();
        let path = dir.path().join("imagelock.toml");
        let text = "[[verify]]\nname = \"acme\"\nimages = [\"ghcr.io/acme/*\"]\nkey = \"cosign.pub\"\n\n[[verify]]\nimages = [\"ghcr.io/**\"]\nkey = \"cosign.pub\"\n";
        let config = parse(&path, text).unwrap();
        let policy = &config.signature_policy;
        assert_eq!(policy.rule_for("ghcr.io/acme/app").unwrap().name, "acme");
        assert_eq!(
            policy.rule_for("ghcr.io/acme/team/app").unwrap().name,
            "verify #2"
        );
        assert!(policy.rule_for("docker.io/library/nginx").is_none());
        // What cannot be applied is an error at its line.
        let e = parse(
            &path,
            "[[verify]]\nimages = [\"a/*\"]\nkey = \"missing.pub\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("imagelock.toml:3:7: cannot read the key"), "{e}");
        let e = parse(
            &path,
            "[[verify]]\nimages = [\"a/*\"]\nidentity = \"me\"\nissuer = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(":2:10: rule \"verify #1\": a keyless rule needs `trusted-root"),
            "{e}"
        );
        let e = parse(
            &path,
            "[[verify]]\nimages = [\"a/*\"]\nidentity = \"me\"\nidentity-regexp = \"m.\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(":4:19: rule \"verify #1\": give `identity` or `identity-regexp`, not both"),
            "{e}"
        );
        let e = parse(
            &path,
            "[[verify]]\nimages = [\"a/*\"]\nissuer-regexp = \"(\"\nidentity = \"me\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(":3:17: rule \"verify #1\": issuer-regexp: invalid regular expression"),
            "{e}"
        );
        let e = parse(
            &path,
            "[[verify]]\nimages = [\"a/*\"]\nidentity = \"me\"\ntrusted-root = \"root.json\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(":4:16: cannot read the trusted root"), "{e}");
        let e = parse(&path, "[[verify]]\nimages = [\"a/*\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("say what signs these images"), "{e}");
        fs_err::write(
            dir.path().join("rsa.pub"),
            "-----BEGIN PUBLIC KEY-----\nMA0GCSqGSIb3DQEBAQ==\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let e = parse(&path, "[[verify]]\nimages = [\"a/*\"]\nkey = \"rsa.pub\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an ECDSA P-256 public key"), "{e}");
    }

    #[test]
    fn bad_values_point_at_the_value() {
        assert!(err("timeout = 0\n").starts_with("imagelock.toml:1:11: timeout"));
        let e = err("exclude = [\"a/**\", \"b/[\"]\n");
        assert!(e.starts_with("imagelock.toml:1:20: invalid glob"), "{e}");
    }

    #[test]
    fn relative_paths_join_the_file_directory() {
        let c = parse(
            Path::new("conf/imagelock.toml"),
            "paths = [\"deploy\"]\nca-files = [\"/abs.pem\", \"ca.pem\"]\n",
        )
        .unwrap();
        assert_eq!(c.paths.unwrap(), vec![PathBuf::from("conf/deploy")]);
        assert_eq!(
            c.ca_files.unwrap(),
            vec![PathBuf::from("/abs.pem"), PathBuf::from("conf/ca.pem")]
        );
    }

    #[test]
    fn mirror_settings_under_the_flags_names() {
        let c = parse(
            Path::new("conf/imagelock.toml"),
            "mirrors = [\"docker.io=mirror.example.com/dockerhub\"]\ncontainerd-hosts-dir = \"certs.d\"\nregistries-conf = \"/etc/containers/registries.conf\"\n",
        )
        .unwrap();
        assert_eq!(
            c.mirrors.unwrap(),
            vec!["docker.io=mirror.example.com/dockerhub".to_string()]
        );
        assert_eq!(
            c.containerd_hosts_dir.unwrap(),
            PathBuf::from("conf/certs.d")
        );
        assert_eq!(
            c.registries_conf.unwrap(),
            PathBuf::from("/etc/containers/registries.conf")
        );
    }

    #[test]
    fn ignore_images_match_the_normalised_name() {
        let c = parse(
            Path::new("imagelock.toml"),
            "ignore-images = [\"registry.example.com/ours/*\", \"docker.io/library/nginx\"]\n",
        )
        .unwrap();
        let r = |s: &str| Reference::parse(s).unwrap();
        assert!(c.filters.ignores(&r("registry.example.com/ours/app:1")));
        assert!(!c
            .filters
            .ignores(&r("registry.example.com/ours/team/app:1")));
        assert!(c.filters.ignores(&r("nginx:1.25")));
        assert!(!c.filters.ignores(&r("nginxinc/nginx:1.25")));
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé\nx", 6), (2, 3));
        assert_eq!(line_column("", 0), (1, 1));
    }
}
