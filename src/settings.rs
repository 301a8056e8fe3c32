//! The run's settings, resolved once: the command line, the configuration
//! file and the environment merged into plain types the commands take
//! (as uv's `settings.rs` and ripgrep's `LowArgs` → `HiArgs` do).
//!
//! Precedence, for every option `imagelock.toml` can set: a flag given on
//! the command line wins (a list given as flags replaces the file's list);
//! else the file's value; else the default the help names. The
//! environment contributes the current directory (where the file is looked
//! for); imagelock reads no option from environment variables.
//!
//! Nothing here is global: [`Settings`] is built in `main` and handed down.

use std::path::PathBuf;
use std::time::Duration;

use crate::choices::{
    CheckFormat, ListFormat, PinPullPolicy, ResolveAt, ResolveFormat, UpdateFormat,
};
use crate::cli::{self, Cli, DEFAULT_NAMESPACE, DEFAULT_PATH, DEFAULT_TIMEOUT};
use crate::config::{self, Config, Filters};

/// How a run reports, known from the command line alone (before any file
/// is read), so that a failure to read the configuration is reported in
/// the format asked for too.
#[derive(Debug, Clone)]
pub struct Reporting {
    /// `--quiet`.
    pub quiet: bool,
    /// The lockfile (`--lockfile`), named in machine formats.
    pub lockfile: PathBuf,
    /// `--format json`.
    pub json: bool,
    /// `check --format sarif`.
    pub sarif: bool,
    /// A format read by a machine, which also carries the run's errors and
    /// warnings.
    pub machine: bool,
    /// `pin -`: the filter, which as a KRM function writes the run's errors
    /// and warnings into the `ResourceList`'s results.
    pub filter: bool,
}

/// What the process environment contributes.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Where `imagelock.toml` is looked for.
    pub current_dir: PathBuf,
}

impl Environment {
    /// The environment of this process.
    pub fn capture() -> std::io::Result<Environment> {
        Ok(Environment {
            current_dir: std::env::current_dir()?,
        })
    }
}

/// Everything a run needs to know about what it was asked.
#[derive(Debug)]
pub struct Settings {
    /// The lockfile to read and write.
    pub lockfile: PathBuf,
    pub command: CommandSettings,
}

/// One subcommand's settings.
#[derive(Debug)]
pub enum CommandSettings {
    List(ListSettings),
    Pin(PinSettings),
    Check(CheckSettings),
    Lock(LockSettings),
    Update(UpdateSettings),
    Resolve(ResolveSettings),
    Init(InitSettings),
    Completions(clap_complete::Shell),
    /// The man page of this subcommand, else of `imagelock(1)`.
    Man(Option<String>),
}

/// What to scan and how to read it.
#[derive(Debug)]
pub struct ScanSettings {
    /// Files and directories (`-`: standard input).
    pub paths: Vec<PathBuf>,
    /// Files read as Helm values whatever their names.
    pub helm_values: Vec<PathBuf>,
    /// Read the process environment for compose `${VAR}` interpolation.
    pub compose_env: bool,
    /// `exclude`, `ignore-images` and `[[location]]` of the file.
    pub filters: Filters,
}

/// Where pull credentials come from besides the scanned manifests and the
/// user's own configuration.
#[derive(Debug, Clone)]
pub struct CredentialSettings {
    /// `--pull-secret` files.
    pub pull_secrets: Vec<PathBuf>,
    /// The namespace of manifests that name none.
    pub namespace: String,
    /// The kubelet's credential provider config and plugin directory,
    /// given together or not at all.
    pub provider: Option<ProviderSettings>,
}

/// A kubelet `CredentialProviderConfig` and the directory of its plugins.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub config: PathBuf,
    pub bin_dir: PathBuf,
}

/// Where nodes pull from.
#[derive(Debug, Clone, Default)]
pub struct MirrorSettings {
    /// `UPSTREAM=MIRROR[/PREFIX]`, in order.
    pub mirrors: Vec<String>,
    pub containerd_hosts_dir: Option<PathBuf>,
    pub registries_conf: Option<PathBuf>,
}

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub ca_files: Vec<PathBuf>,
    /// Hosts spoken to over plain HTTP, as given (checked when the client
    /// is built).
    pub plain_http: Vec<String>,
    /// Requests in flight at once, at most.
    pub concurrency: Option<u16>,
    /// A request's (and a helper's) deadline.
    pub timeout: Duration,
    pub resolve_at: ResolveAt,
    pub credentials: CredentialSettings,
    pub mirrors: MirrorSettings,
}

#[derive(Debug)]
pub struct ListSettings {
    pub scan: ScanSettings,
    pub format: ListFormat,
    pub credentials: CredentialSettings,
    pub mirrors: MirrorSettings,
}

#[derive(Debug)]
pub struct PinSettings {
    pub scan: ScanSettings,
    pub dry_run: bool,
    pub pull_policy: PinPullPolicy,
    /// `pin - --remote`: resolve what the lockfile lacks.
    pub remote: bool,
    /// `--update-lockfile`: and record it.
    pub update_lockfile: bool,
    pub registry: RegistrySettings,
    /// `pin - --remote`: the `[[verify]]` rules what it resolves must
    /// pass, as `lock` checks them.
    pub signatures: SignatureSettings,
}

#[derive(Debug)]
pub struct CheckSettings {
    pub scan: ScanSettings,
    pub require_pinned: bool,
    pub remote: bool,
    pub compare_tags: bool,
    pub format: CheckFormat,
    /// With --remote: the rules each locked digest's signatures are
    /// checked against.
    pub signatures: SignatureSettings,
    pub registry: RegistrySettings,
}

#[derive(Debug)]
pub struct LockSettings {
    pub scan: ScanSettings,
    /// `os/arch[/variant]` as given (checked with the other options).
    pub platforms: Vec<String>,
    pub check_mirrors: bool,
    pub signatures: SignatureSettings,
    pub registry: RegistrySettings,
}

/// Which signatures a run looks for, and which it requires.
#[derive(Debug, Clone, Default)]
pub struct SignatureSettings {
    /// `--verify-key` (one rule for every image), else the file's
    /// `[[verify]]` rules.
    pub policy: crate::signatures::policy::Policy,
    /// `--signatures`: look up and record every new digest's signatures.
    pub record_all: bool,
}

impl SignatureSettings {
    /// Whether the run looks for signatures at all.
    pub fn active(&self) -> bool {
        self.record_all || !self.policy.is_empty()
    }
}

#[derive(Debug)]
pub struct UpdateSettings {
    /// Only these images (`nginx`, `nginx:1.25`).
    pub images: Vec<String>,
    pub platforms: Vec<String>,
    pub format: UpdateFormat,
    pub check_mirrors: bool,
    /// With `record_all` (`update --signatures`), the signatures of every
    /// tag asked are looked up again, not taken from the lockfile.
    pub signatures: SignatureSettings,
    pub registry: RegistrySettings,
}

#[derive(Debug)]
pub struct ResolveSettings {
    pub references: Vec<String>,
    pub platform: Option<String>,
    pub format: ResolveFormat,
    pub registry: RegistrySettings,
}

#[derive(Debug)]
pub struct InitSettings {
    /// Replace an existing imagelock.toml.
    pub force: bool,
}

/// How the command line asks the run to report.
pub fn reporting(cli: &Cli) -> Reporting {
    use cli::Command;
    let json = match &cli.command {
        Command::List(a) => a.format == ListFormat::Json,
        Command::Update(a) => a.format == UpdateFormat::Json,
        Command::Resolve(a) => a.format == ResolveFormat::Json,
        Command::Check(a) => a.format == CheckFormat::Json,
        _ => false,
    };
    let check_format = match &cli.command {
        Command::Check(a) => Some(a.format),
        _ => None,
    };
    Reporting {
        quiet: cli.quiet,
        lockfile: cli.lockfile.clone(),
        json,
        sarif: check_format == Some(CheckFormat::Sarif),
        machine: json || check_format.is_some_and(|f| f != CheckFormat::Text),
        filter: matches!(&cli.command, Command::Pin(a) if a.paths.iter().any(|p| p.as_os_str() == "-")),
    }
}

/// Resolve the settings of a parsed command line: read the configuration
/// file it asks for (none for `init`, completions and man pages), then
/// merge.
pub fn from_command_line(cli: Cli) -> anyhow::Result<Settings> {
    use cli::Command;
    let reads_config = !matches!(
        cli.command,
        Command::Init(_) | Command::Completions(_) | Command::Man(_)
    );
    let file = if reads_config {
        let choice = if cli.no_config {
            config::Choice::None
        } else if let Some(path) = &cli.config {
            config::Choice::File(path.clone())
        } else {
            config::Choice::Discover(Environment::capture()?.current_dir)
        };
        config::read(&choice)?
    } else {
        None
    };
    Settings::resolve(cli, file)
}

impl Settings {
    /// Merge the command line over the configuration file (see the module
    /// documentation for the precedence).
    pub fn resolve(cli: Cli, file: Option<Config>) -> anyhow::Result<Settings> {
        use cli::Command;
        let file = file.unwrap_or_default();
        let command = match cli.command {
            Command::List(a) => CommandSettings::List(ListSettings {
                scan: scan(a.paths, a.helm_values, a.compose_env, &file),
                format: a.format,
                credentials: credentials(a.credentials, &file)?,
                mirrors: mirrors(a.mirrors, &file),
            }),
            Command::Pin(a) => CommandSettings::Pin(PinSettings {
                scan: scan(a.paths, a.helm_values, a.compose_env, &file),
                dry_run: a.dry_run,
                pull_policy: a.pull_policy,
                remote: a.remote,
                update_lockfile: a.update_lockfile,
                registry: registry(a.registry, &file)?,
                signatures: signatures(cli::VerifyArgs::default(), false, &file)?,
            }),
            Command::Check(a) => CommandSettings::Check(CheckSettings {
                scan: scan(a.paths, a.helm_values, a.compose_env, &file),
                require_pinned: a.require_pinned,
                remote: a.remote,
                compare_tags: a.compare_tags,
                format: a.format,
                signatures: signatures(a.verify, false, &file)?,
                registry: registry(a.registry, &file)?,
            }),
            Command::Lock(a) => CommandSettings::Lock(LockSettings {
                scan: scan(a.paths, a.helm_values, a.compose_env, &file),
                platforms: list(a.platforms, &file.platforms),
                check_mirrors: a.check_mirrors,
                signatures: signatures(a.signatures.verify, a.signatures.signatures, &file)?,
                registry: registry(a.registry, &file)?,
            }),
            Command::Update(a) => CommandSettings::Update(UpdateSettings {
                images: a.images,
                platforms: list(a.platforms, &file.platforms),
                format: a.format,
                check_mirrors: a.check_mirrors,
                signatures: signatures(a.signatures.verify, a.signatures.signatures, &file)?,
                registry: registry(a.registry, &file)?,
            }),
            Command::Resolve(a) => CommandSettings::Resolve(ResolveSettings {
                references: a.references,
                platform: a.platform,
                format: a.format,
                registry: registry(a.registry, &file)?,
            }),
            Command::Init(a) => CommandSettings::Init(InitSettings { force: a.force }),
            Command::Completions(a) => CommandSettings::Completions(a.shell),
            Command::Man(a) => CommandSettings::Man(a.command),
        };
        Ok(Settings {
            lockfile: cli.lockfile,
            command,
        })
    }
}

/// A list option: the flags' list when given, else the file's, else empty.
fn list<T: Clone>(flags: Vec<T>, file: &Option<Vec<T>>) -> Vec<T> {
    match file {
        Some(from_file) if flags.is_empty() => from_file.clone(),
        _ => flags,
    }
}

/// A single-valued option: the flag when given, else the file's value.
fn one<T: Clone>(flag: Option<T>, file: &Option<T>) -> Option<T> {
    flag.or_else(|| file.clone())
}

fn scan(
    paths: Vec<PathBuf>,
    helm_values: Vec<PathBuf>,
    compose_env: bool,
    file: &Config,
) -> ScanSettings {
    // No path given and none in the file: the current directory.
    let paths = match (&file.paths, paths.is_empty()) {
        (Some(from_file), true) => from_file.clone(),
        (None, true) => vec![PathBuf::from(DEFAULT_PATH)],
        (_, false) => paths,
    };
    ScanSettings {
        paths,
        helm_values: list(helm_values, &file.helm_values),
        compose_env: compose_env || file.compose_env.unwrap_or(false),
        filters: file.filters.clone(),
    }
}

fn credentials(c: cli::CredentialArgs, file: &Config) -> anyhow::Result<CredentialSettings> {
    let config = one(
        c.credential_provider_config,
        &file.credential_provider_config,
    );
    let bin_dir = one(
        c.credential_provider_bin_dir,
        &file.credential_provider_bin_dir,
    );
    let provider = match (config, bin_dir) {
        (Some(config), Some(bin_dir)) => Some(ProviderSettings { config, bin_dir }),
        (None, None) => None,
        _ => anyhow::bail!(
            "--credential-provider-config and --credential-provider-bin-dir go together: give both (as flags or as credential-provider-config and credential-provider-bin-dir in imagelock.toml)"
        ),
    };
    Ok(CredentialSettings {
        pull_secrets: list(c.pull_secrets, &file.pull_secrets),
        namespace: one(c.namespace, &file.namespace)
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
        provider,
    })
}

fn mirrors(m: cli::MirrorArgs, file: &Config) -> MirrorSettings {
    MirrorSettings {
        mirrors: list(m.mirrors, &file.mirrors),
        containerd_hosts_dir: one(m.containerd_hosts_dir, &file.containerd_hosts_dir),
        registries_conf: one(m.registries_conf, &file.registries_conf),
    }
}

/// `--verify-key` replaces the file's rules with one for every image.
fn signatures(
    v: cli::VerifyArgs,
    record_all: bool,
    file: &Config,
) -> anyhow::Result<SignatureSettings> {
    use crate::signatures::policy::{read_key, Policy, Requirement, Rule};
    use crate::signatures::sigstore::{Matcher, TrustRoot};
    if !v.notation_root.is_empty() {
        let trust = crate::signatures::notation::NotationTrust::load(
            &v.notation_root,
            &v.notation_identity,
        )
        .map_err(|e| anyhow::anyhow!("--notation-root / --notation-identity: {e}"))?;
        let policy = Policy::new(vec![Rule::for_every_image(
            "--notation-root",
            Requirement::Notation { trust },
        )]);
        return Ok(SignatureSettings { policy, record_all });
    }
    let trusted_root = v
        .trusted_root
        .as_deref()
        .map(|p| TrustRoot::load(p).map_err(|e| anyhow::anyhow!("--trusted-root: {e}")))
        .transpose()?;
    let regexp = |flag: &str, pattern: &str| {
        Matcher::regex(pattern).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
    };
    let identity = match (v.certificate_identity, v.certificate_identity_regexp) {
        (Some(id), _) => Some(Matcher::Exact(id)),
        (None, Some(r)) => Some(regexp("--certificate-identity-regexp", &r)?),
        (None, None) => None,
    };
    let issuer = match (v.certificate_oidc_issuer, v.certificate_oidc_issuer_regexp) {
        (Some(iss), _) => Some(Matcher::Exact(iss)),
        (None, Some(r)) => Some(regexp("--certificate-oidc-issuer-regexp", &r)?),
        (None, None) => None,
    };
    let policy = match (v.verify_key, identity, issuer) {
        (Some(path), _, _) => Policy::new(vec![Rule::for_every_image(
            "--verify-key",
            read_key(&path, trusted_root)
                .map_err(|e| anyhow::anyhow!("--verify-key {}: {e}", path.display()))?,
        )]),
        (None, Some(identity), Some(issuer)) => {
            let Some(trusted_root) = trusted_root else {
                anyhow::bail!("--certificate-identity and --certificate-oidc-issuer need --trusted-root FILE: the sigstore trusted_root.json to check the certificates and log entries against (imagelock fetches none)");
            };
            Policy::new(vec![Rule::for_every_image(
                "--certificate-identity",
                Requirement::Keyless {
                    identity,
                    issuer,
                    trusted_root,
                },
            )])
        }
        (None, Some(_), None) => anyhow::bail!(
            "--certificate-identity needs the certificate's issuer too: --certificate-oidc-issuer or --certificate-oidc-issuer-regexp"
        ),
        (None, None, Some(_)) => anyhow::bail!(
            "--certificate-oidc-issuer needs the certificate's identity too: --certificate-identity or --certificate-identity-regexp"
        ),
        (None, None, None) => {
            if trusted_root.is_some() {
                anyhow::bail!("--trusted-root applies to --verify-key or --certificate-identity; give one of them (a [[verify]] rule names its own `trusted-root`)");
            }
            file.signature_policy.clone()
        }
    };
    Ok(SignatureSettings { policy, record_all })
}

fn registry(r: cli::RegistryArgs, file: &Config) -> anyhow::Result<RegistrySettings> {
    Ok(RegistrySettings {
        ca_files: list(r.ca_files, &file.ca_files),
        plain_http: list(r.plain_http, &file.plain_http),
        concurrency: one(r.concurrency, &file.concurrency),
        timeout: Duration::from_secs(one(r.timeout, &file.timeout).unwrap_or(DEFAULT_TIMEOUT)),
        resolve_at: r.resolve_at,
        credentials: credentials(r.credentials, file)?,
        mirrors: mirrors(r.mirrors, file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(args: &[&str], file: &str) -> Settings {
        let cli = cli::parse_from(
            std::iter::once("imagelock")
                .chain(args.iter().copied())
                .map(Into::into)
                .collect(),
        )
        .unwrap();
        let file = config::parse(Path::new("imagelock.toml"), file).unwrap();
        Settings::resolve(cli, Some(file)).unwrap()
    }

    fn lock(s: Settings) -> LockSettings {
        match s.command {
            CommandSettings::Lock(l) => l,
            other => panic!("not lock: {other:?}"),
        }
    }

    #[test]
    fn a_flag_wins_over_the_file_and_the_file_over_the_default() {
        let file = "timeout = 7\nnamespace = \"team\"\nplatforms = [\"linux/amd64\"]\n";
        let from_file = lock(settings(&["lock"], file));
        assert_eq!(from_file.registry.timeout, Duration::from_secs(7));
        assert_eq!(from_file.registry.credentials.namespace, "team");
        assert_eq!(from_file.platforms, ["linux/amd64"]);
        let flags = lock(settings(
            &[
                "lock",
                "--timeout",
                "9",
                "--namespace",
                "x",
                "--platform",
                "linux/arm64",
            ],
            file,
        ));
        assert_eq!(flags.registry.timeout, Duration::from_secs(9));
        assert_eq!(flags.registry.credentials.namespace, "x");
        assert_eq!(flags.platforms, ["linux/arm64"]);
        let defaults = lock(settings(&["lock"], ""));
        assert_eq!(
            defaults.registry.timeout,
            Duration::from_secs(DEFAULT_TIMEOUT)
        );
        assert_eq!(defaults.registry.credentials.namespace, DEFAULT_NAMESPACE);
        assert_eq!(defaults.scan.paths, [PathBuf::from(".")]);
    }

    #[test]
    fn an_empty_paths_list_in_the_file_is_kept() {
        let s = lock(settings(&["lock"], "paths = []\n"));
        assert!(s.scan.paths.is_empty());
        let s = lock(settings(&["lock", "k8s"], "paths = []\n"));
        assert_eq!(s.scan.paths, [PathBuf::from("k8s")]);
    }

    #[test]
    fn a_provider_config_without_its_directory_is_refused() {
        let cli = cli::parse_from(
            ["imagelock", "lock", "--credential-provider-config", "c"]
                .map(Into::into)
                .to_vec(),
        )
        .unwrap();
        let e = Settings::resolve(cli, None).unwrap_err().to_string();
        assert!(e.contains("go together"), "{e}");
    }
}
