//! The configuration file `imagelock.toml`: where it is found, what it may
//! say (typed; an unknown key or a bad value is an error at
//! `imagelock.toml:line:column`), how it fills the options the command line
//! left unset, and the run's active settings the scan consults (`exclude`,
//! `ignore-images`, `[[location]]`).
//!
//! Never overrides a flag given on the command line: a list given as flags
//! replaces the file's list. Relative paths in the file are relative to its
//! directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;

use crate::cli::{Cli, Command, CredentialArgs, MirrorArgs, RegistryArgs};
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
    pub active: Active,
}

/// The settings the scan and the commands consult during a run.
#[derive(Debug, Default)]
pub struct Active {
    /// The configuration file's directory, absolute and without `.`/`..`.
    dir: PathBuf,
    exclude: Option<GlobSet>,
    ignore_images: Option<GlobSet>,
    /// The `[[location]]` tables.
    pub locations: Vec<Location>,
}

static ACTIVE: OnceLock<Active> = OnceLock::new();

/// Make `active` the run's settings (the first call wins; a run installs once).
pub fn install(active: Active) {
    let _ = ACTIVE.set(active);
}

/// The run's settings (empty when no configuration file is in use).
pub fn active() -> &'static Active {
    ACTIVE.get_or_init(Active::default)
}

/// Whether `ignore-images` names the reference's image (its normalised name).
pub fn ignores(reference: &Reference) -> bool {
    active().ignores(reference)
}

impl Active {
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

/// The configuration the command line asks for: `--no-config` none,
/// `--config FILE` that file, else the one [`discover`] finds.
pub fn for_command_line(cli: &Cli) -> Result<Option<Config>, ConfigError> {
    if cli.no_config {
        return Ok(None);
    }
    let path = match &cli.config {
        Some(p) => p.clone(),
        None => {
            let cwd = std::env::current_dir()?;
            match discover(&cwd) {
                Some(p) => p,
                None => return Ok(None),
            }
        }
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
    let cwd = std::env::current_dir()?;
    Ok(Config {
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
        active: Active {
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

/// The option ids given on the command line (not defaulted), as clap names
/// them (`paths`, `ca_files`, `timeout`).
#[derive(Debug, Clone, Default)]
pub struct Given(BTreeSet<String>);

impl Given {
    /// The ids given in `matches` and its subcommand's.
    pub fn from_matches(matches: &clap::ArgMatches) -> Given {
        let mut ids = BTreeSet::new();
        let mut add = |m: &clap::ArgMatches| {
            for id in m.ids() {
                if m.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine) {
                    ids.insert(id.as_str().to_string());
                }
            }
        };
        add(matches);
        if let Some((_, sub)) = matches.subcommand() {
            add(sub);
        }
        Given(ids)
    }

    fn has(&self, id: &str) -> bool {
        self.0.contains(id)
    }
}

/// The credential provider's config and bin directory come together (from
/// flags or the file).
pub fn check_provider_pair(cli: &Cli) -> Result<(), &'static str> {
    let creds = match &cli.command {
        Command::List(a) => Some(&a.credentials),
        Command::Check(a) => Some(&a.registry.credentials),
        Command::Lock(a) => Some(&a.registry.credentials),
        Command::Update(a) => Some(&a.registry.credentials),
        Command::Resolve(a) => Some(&a.registry.credentials),
        Command::Pin(_) | Command::Init(_) | Command::Completions(_) | Command::Man(_) => None,
    };
    match creds {
            Some(c) if c.credential_provider_config.is_some() != c.credential_provider_bin_dir.is_some() => Err(
                "--credential-provider-config and --credential-provider-bin-dir go together: give both (as flags or as credential-provider-config and credential-provider-bin-dir in imagelock.toml)",
            ),
            _ => Ok(()),
        }
}

impl Config {
    /// Fill the options of `cli`'s command that its command line left
    /// unset from the file.
    pub fn apply(&self, cli: &mut Cli) {
        let given = cli.given.clone();
        let fill = |id: &str, target: &mut Vec<PathBuf>, from: &Option<Vec<PathBuf>>| {
            if let (false, Some(v)) = (given.has(id), from) {
                *target = v.clone();
            }
        };
        match &mut cli.command {
            Command::List(a) => {
                fill("paths", &mut a.paths, &self.paths);
                fill("helm_values", &mut a.helm_values, &self.helm_values);
                if let (false, Some(on)) = (given.has("compose_env"), self.compose_env) {
                    a.compose_env = on;
                }
                self.apply_credentials(&given, &mut a.credentials);
                self.apply_mirrors(&given, &mut a.mirrors);
            }
            Command::Pin(a) => {
                fill("paths", &mut a.paths, &self.paths);
                fill("helm_values", &mut a.helm_values, &self.helm_values);
                if let (false, Some(on)) = (given.has("compose_env"), self.compose_env) {
                    a.compose_env = on;
                }
            }
            Command::Check(a) => {
                fill("paths", &mut a.paths, &self.paths);
                fill("helm_values", &mut a.helm_values, &self.helm_values);
                if let (false, Some(on)) = (given.has("compose_env"), self.compose_env) {
                    a.compose_env = on;
                }
                self.apply_registry(&given, &mut a.registry);
            }
            Command::Lock(a) => {
                fill("paths", &mut a.paths, &self.paths);
                fill("helm_values", &mut a.helm_values, &self.helm_values);
                if let (false, Some(on)) = (given.has("compose_env"), self.compose_env) {
                    a.compose_env = on;
                }
                self.apply_platforms(&given, &mut a.platforms);
                self.apply_registry(&given, &mut a.registry);
            }
            Command::Update(a) => {
                self.apply_platforms(&given, &mut a.platforms);
                self.apply_registry(&given, &mut a.registry);
            }
            Command::Resolve(a) => self.apply_registry(&given, &mut a.registry),
            Command::Init(_) | Command::Completions(_) | Command::Man(_) => {}
        }
    }

    fn apply_platforms(&self, given: &Given, platforms: &mut Vec<String>) {
        if let (false, Some(v)) = (given.has("platforms"), &self.platforms) {
            *platforms = v.clone();
        }
    }

    fn apply_registry(&self, given: &Given, r: &mut RegistryArgs) {
        if let (false, Some(v)) = (given.has("ca_files"), &self.ca_files) {
            r.ca_files = v.clone();
        }
        if let (false, Some(v)) = (given.has("plain_http"), &self.plain_http) {
            r.plain_http = v.clone();
        }
        if !given.has("concurrency") && self.concurrency.is_some() {
            r.concurrency = self.concurrency;
        }
        if let (false, Some(t)) = (given.has("timeout"), self.timeout) {
            r.timeout = t;
        }
        self.apply_credentials(given, &mut r.credentials);
        self.apply_mirrors(given, &mut r.mirrors);
    }

    fn apply_mirrors(&self, given: &Given, m: &mut MirrorArgs) {
        if let (false, Some(v)) = (given.has("mirrors"), &self.mirrors) {
            m.mirrors = v.clone();
        }
        if !given.has("containerd_hosts_dir") && self.containerd_hosts_dir.is_some() {
            m.containerd_hosts_dir = self.containerd_hosts_dir.clone();
        }
        if !given.has("registries_conf") && self.registries_conf.is_some() {
            m.registries_conf = self.registries_conf.clone();
        }
    }

    fn apply_credentials(&self, given: &Given, c: &mut CredentialArgs) {
        if let (false, Some(v)) = (given.has("pull_secrets"), &self.pull_secrets) {
            c.pull_secrets = v.clone();
        }
        if let (false, Some(v)) = (given.has("namespace"), &self.namespace) {
            c.namespace = v.clone();
        }
        if !given.has("credential_provider_config") && self.credential_provider_config.is_some() {
            c.credential_provider_config = self.credential_provider_config.clone();
        }
        if !given.has("credential_provider_bin_dir") && self.credential_provider_bin_dir.is_some() {
            c.credential_provider_bin_dir = self.credential_provider_bin_dir.clone();
        }
    }
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
        assert!(c.active.ignores(&r("registry.example.com/ours/app:1")));
        assert!(!c.active.ignores(&r("registry.example.com/ours/team/app:1")));
        assert!(c.active.ignores(&r("nginx:1.25")));
        assert!(!c.active.ignores(&r("nginxinc/nginx:1.25")));
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé\nx", 6), (2, 3));
        assert_eq!(line_column("", 0), (1, 1));
    }
}
