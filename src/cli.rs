//! Command-line interface: the clap definitions, nothing else. An option
//! `imagelock.toml` can set too is an `Option` or a list here, empty when
//! not given ([`parse_from`]), so that [`crate::settings`] sees what the command
//! line said and fills the rest from the file, then from the defaults the
//! help shows.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::choices::{
    CheckFormat, ListFormat, PinPullPolicy, ResolveAt, ResolveFormat, UpdateFormat,
};

/// The paths scanned when none is given (on the command line or in
/// `imagelock.toml`).
pub const DEFAULT_PATH: &str = ".";
/// `--timeout`'s default, in seconds.
pub const DEFAULT_TIMEOUT: u64 = 30;
/// `--namespace`'s default.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The options `imagelock.toml` can also set that have a default (by
/// their argument ids, which are their field names). The help shows
/// each default, but [`parse`] leaves the option unset when the command
/// line does not give it: the file comes before the default
/// ([`crate::settings`] applies both). An id no subcommand has fails
/// every run (and `tests::every_id_filled_from_the_file_exists`), so a
/// renamed field cannot silently stop the file from filling it.
const SHOWN_NOT_APPLIED: [&str; 3] = ["paths", "timeout", "namespace"];

/// Parse a command line: once as the help shows it (so `--help`,
/// `--version` and every error are clap's own, defaults included), then
/// again without the defaults of `SHOWN_NOT_APPLIED`, which gives the
/// [`Cli`] whose options are unset when not given.
pub fn parse_from(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    Cli::command().try_get_matches_from(args.clone())?;
    let mut unset = Cli::command();
    let mut found = [false; SHOWN_NOT_APPLIED.len()];
    let names: Vec<String> = unset
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for name in names {
        unset = unset.mut_subcommand(name, |mut sub| {
            for (i, id) in SHOWN_NOT_APPLIED.iter().enumerate() {
                if sub.get_arguments().any(|a| a.get_id() == *id) {
                    found[i] = true;
                    sub = sub.mut_arg(*id, |a| a.default_value(None::<&str>));
                }
            }
            sub
        });
    }
    if let Some(i) = found.iter().position(|f| !f) {
        panic!(
            "cli::SHOWN_NOT_APPLIED names {:?}, which no subcommand has",
            SHOWN_NOT_APPLIED[i]
        );
    }
    Cli::from_arg_matches(&unset.try_get_matches_from(args)?)
}

/// Pin container image tags in Kubernetes manifests to immutable digests.
///
/// imagelock finds every image reference in your manifests, compose files,
/// Dockerfiles, kustomizations, Helm values and workflows, records each
/// tag's digest in `images.lock`, and rewrites the files to
/// `name:tag@sha256:…` without touching any other byte.
///
/// Exit codes: 0 clean, 1 findings (drift, unpinned, missing, invalid,
/// access), 2 error, 130/143 interrupted.
#[derive(Debug, Parser)]
#[command(name = "imagelock", version, max_term_width = 100)]
pub struct Cli {
    /// The lockfile to read and write.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "images.lock"
    )]
    pub lockfile: PathBuf,

    /// Print only errors and findings: no warnings, notes or summary line.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Log each registry request (method, URL, status, time, credential
    /// source by name) on stderr; -vv adds authentication decisions.
    /// Secrets are never logged. `RUST_LOG` (such as
    /// `RUST_LOG=imagelock=debug`) overrides it.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Read this configuration file instead of the `imagelock.toml` found
    /// in the current directory or the nearest parent up to the
    /// repository root. Flags given override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Read no configuration file.
    #[arg(long, global = true, conflicts_with = "config")]
    pub no_config: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every image reference with its location, normalised name, pull
    /// policy and lock status.
    List(ListArgs),
    /// Rewrite every tag reference to `name:tag@digest` from the lockfile,
    /// changing only the bytes of the image value.
    Pin(PinArgs),
    /// Check manifests against the lockfile: missing, mismatched, unpinned
    /// references; with --remote, tags that moved in the registry.
    Check(CheckArgs),
    /// Make the lockfile cover exactly the references in PATHS, resolving
    /// new tags against their registries.
    Lock(LockArgs),
    /// Ask the registries again for locked tags and record digests that moved.
    Update(UpdateArgs),
    /// Print the current digest of each reference, like `crane digest`.
    Resolve(ResolveArgs),
    /// Write a commented starter `imagelock.toml` for the repository in the
    /// current directory.
    Init(InitArgs),
    /// Print a shell completion script (`imagelock completions bash`).
    Completions(CompletionsArgs),
    /// Print the man page in roff (`imagelock man | man -l -`), of one
    /// subcommand when named (`imagelock man check`).
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace an existing imagelock.toml.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (`imagelock-check(1)`); without
    /// it, the page of `imagelock(1)`.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Files and directories to scan (directories recursively); `-` reads
    /// standard input.
    #[arg(default_value = DEFAULT_PATH)]
    pub paths: Vec<PathBuf>,
    /// Read FILE as a Helm chart's values file (images as `repository` and
    /// `tag` mappings) whatever its name, and scan it; files named
    /// `values*.yaml` are read so already. Repeatable.
    #[arg(long = "helm-values", value_name = "FILE")]
    pub helm_values: Vec<PathBuf>,
    /// Also read the process environment for compose `${VAR}`
    /// interpolation, as compose does (the environment wins over `.env`).
    /// Without it only the project's `.env` and the defaults written in
    /// the compose file are read, so results do not depend on who runs
    /// imagelock.
    #[arg(long)]
    pub compose_env: bool,
    /// `json` also shows, per reference, the credential sources that match
    /// it; `plain` prints the locked `name@digest` of every reference found.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    #[command(flatten)]
    pub mirrors: MirrorArgs,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// Files and directories to rewrite (directories recursively); `-`
    /// prints standard input pinned (`helm template … | imagelock pin -`).
    #[arg(default_value = DEFAULT_PATH)]
    pub paths: Vec<PathBuf>,
    /// Read FILE as a Helm chart's values file (images as `repository` and
    /// `tag` mappings) whatever its name, and scan it; files named
    /// `values*.yaml` are read so already. Repeatable.
    #[arg(long = "helm-values", value_name = "FILE")]
    pub helm_values: Vec<PathBuf>,
    /// Also read the process environment for compose `${VAR}`
    /// interpolation, as compose does (the environment wins over `.env`).
    /// Without it only the project's `.env` and the defaults written in
    /// the compose file are read, so results do not depend on who runs
    /// imagelock.
    #[arg(long)]
    pub compose_env: bool,
    /// Print a unified diff of the changes and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `if-not-present`: also set `imagePullPolicy: IfNotPresent` (an image
    /// volume's `pullPolicy`) beside every Kubernetes reference pinned, since
    /// a digest cannot move; `keep` changes no pull policy.
    #[arg(long, value_enum, default_value_t = PinPullPolicy::Keep, value_name = "POLICY")]
    pub pull_policy: PinPullPolicy,
    /// With `-`: resolve the references the lockfile lacks at their
    /// registries (with the pull secrets the stream holds, as `lock`
    /// does) instead of failing, and say on stderr which were not locked.
    #[arg(long)]
    pub remote: bool,
    /// With `--remote`: also record what was resolved in the lockfile.
    #[arg(long, requires = "remote")]
    pub update_lockfile: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files and directories to check (directories recursively); `-` reads
    /// standard input (`helm template … | imagelock check -`).
    #[arg(default_value = DEFAULT_PATH)]
    pub paths: Vec<PathBuf>,
    /// Read FILE as a Helm chart's values file (images as `repository` and
    /// `tag` mappings) whatever its name, and scan it; files named
    /// `values*.yaml` are read so already. Repeatable.
    #[arg(long = "helm-values", value_name = "FILE")]
    pub helm_values: Vec<PathBuf>,
    /// Also read the process environment for compose `${VAR}`
    /// interpolation, as compose does (the environment wins over `.env`).
    /// Without it only the project's `.env` and the defaults written in
    /// the compose file are read, so results do not depend on who runs
    /// imagelock.
    #[arg(long)]
    pub compose_env: bool,
    /// Also report references that are not pinned to a digest.
    #[arg(long)]
    pub require_pinned: bool,
    /// Also ask the registries whether locked tags still point at the locked
    /// digest, and every configured mirror whether it serves each locked digest.
    #[arg(long)]
    pub remote: bool,
    /// With --remote: also resolve each tag at the mirrors that serve tags
    /// and report those that point elsewhere than upstream (mirror-stale).
    #[arg(long, requires = "remote")]
    pub compare_tags: bool,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    #[command(flatten)]
    pub verify: VerifyArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Files and directories to scan (directories recursively); `-` reads
    /// standard input (`kustomize build | imagelock lock -`).
    #[arg(default_value = DEFAULT_PATH)]
    pub paths: Vec<PathBuf>,
    /// Read FILE as a Helm chart's values file (images as `repository` and
    /// `tag` mappings) whatever its name, and scan it; files named
    /// `values*.yaml` are read so already. Repeatable.
    #[arg(long = "helm-values", value_name = "FILE")]
    pub helm_values: Vec<PathBuf>,
    /// Also read the process environment for compose `${VAR}`
    /// interpolation, as compose does (the environment wins over `.env`).
    /// Without it only the project's `.env` and the defaults written in
    /// the compose file are read, so results do not depend on who runs
    /// imagelock.
    #[arg(long)]
    pub compose_env: bool,
    /// Also record the manifest digest of this platform (os/arch[/variant]); repeatable.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,
    /// Then ask every configured mirror whether it serves each locked digest
    /// (as `check --remote` does); a mirror lacking one fails the run.
    #[arg(long)]
    pub check_mirrors: bool,
    #[command(flatten)]
    pub signatures: SignatureArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Only these images, matched by name (`nginx`) or name:tag (`nginx:1.25`).
    pub images: Vec<String>,
    /// Also record the manifest digest of this platform (os/arch[/variant]); repeatable.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,
    #[arg(long, value_enum, default_value_t = UpdateFormat::Text)]
    pub format: UpdateFormat,
    /// Then ask every configured mirror whether it serves each locked digest
    /// (as `check --remote` does); a mirror lacking one fails the run.
    #[arg(long)]
    pub check_mirrors: bool,
    #[command(flatten)]
    pub signatures: SignatureArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// References to resolve (`nginx:1.25`, `ghcr.io/org/app:v2`).
    #[arg(required = true)]
    pub references: Vec<String>,
    /// Print this platform's manifest digest from the index instead (os/arch[/variant]).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[arg(long, value_enum, default_value_t = ResolveFormat::Text)]
    pub format: ResolveFormat,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Which signatures a run requires.
#[derive(Debug, Args, Clone, Default)]
pub struct VerifyArgs {
    /// Require every image's digest to be signed with this cosign public key
    /// (PEM), instead of the `[[verify]]` rules of imagelock.toml.
    #[arg(long, value_name = "FILE")]
    pub verify_key: Option<PathBuf>,
    /// Require every image's digest to be signed keylessly by a Fulcio
    /// certificate for exactly this identity (cosign's
    /// --certificate-identity), instead of the `[[verify]]` rules.
    #[arg(long, value_name = "IDENTITY", conflicts_with_all = ["verify_key", "certificate_identity_regexp"])]
    pub certificate_identity: Option<String>,
    /// As --certificate-identity, by a regular expression that must match
    /// the whole identity (cosign's matches anywhere; anchor it there too).
    #[arg(long, value_name = "REGEXP", conflicts_with = "verify_key")]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer of a keyless signer's certificate, exactly.
    #[arg(long, value_name = "URL", conflicts_with_all = ["verify_key", "certificate_oidc_issuer_regexp"])]
    pub certificate_oidc_issuer: Option<String>,
    /// The OIDC issuer by a regular expression matching all of it.
    #[arg(long, value_name = "REGEXP", conflicts_with = "verify_key")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// The sigstore `trusted_root.json` keyless certificates, transparency
    /// log entries and SCTs are checked against (needed for keyless
    /// signatures, and for sigstore bundles signed with --verify-key).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Require every image's digest to be signed with Notation by a
    /// certificate chaining to this root CA certificate (PEM; repeat for
    /// several), instead of the `[[verify]]` rules. Needs
    /// --notation-identity.
    #[arg(
        long,
        value_name = "FILE",
        requires = "notation_identity",
        conflicts_with_all = ["verify_key", "certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer", "certificate_oidc_issuer_regexp", "trusted_root"]
    )]
    pub notation_root: Vec<PathBuf>,
    /// A trusted identity of the Notation signer, as in a Notation trust
    /// policy: `x509.subject: C=…, ST=…, O=…[, CN=…]` (repeat for several),
    /// or `*` for any identity the --notation-root certificates issued.
    #[arg(long, value_name = "IDENTITY", requires = "notation_root")]
    pub notation_identity: Vec<String>,
}

/// Which signatures to look for, record and require.
#[derive(Debug, Args, Clone, Default)]
pub struct SignatureArgs {
    #[command(flatten)]
    pub verify: VerifyArgs,
    /// Look up and record the signatures of every digest recorded (`lock`:
    /// new ones; `update`: every tag asked, again), even where no rule
    /// requires one.
    #[arg(long)]
    pub signatures: bool,
}

/// How to reach registries.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Trust this PEM CA bundle for registry TLS, besides the system roots
    /// and /etc/docker/certs.d/<host>/ca.crt; repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,
    /// Speak plain HTTP (no TLS) to this registry; repeatable.
    #[arg(long = "plain-http", value_name = "HOST[:PORT]")]
    pub plain_http: Vec<String>,
    /// Registry requests in flight at once, at most (default: as many as
    /// each registry's connections carry).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: Option<u16>,
    /// Give up on a registry request (or a credential helper or plugin)
    /// after this many seconds.
    #[arg(long, default_value = "30", value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: Option<u64>,
    /// Resolve tags at `upstream` (default) or at the first `mirror` that
    /// serves tags (for CI that cannot reach upstream); the lockfile keeps
    /// upstream names either way.
    #[arg(long, value_enum, default_value_t = ResolveAt::Upstream, value_name = "WHERE")]
    pub resolve_at: ResolveAt,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    #[command(flatten)]
    pub mirrors: MirrorArgs,
}

/// Where the nodes pull from: registry mirrors and pull-through caches.
#[derive(Debug, Args, Clone, Default)]
pub struct MirrorArgs {
    /// A mirror nodes pull UPSTREAM's images from, tried before it, in
    /// the order given: `docker.io=mirror.example.com/dockerhub`; repeatable.
    #[arg(long = "mirror", value_name = "UPSTREAM=MIRROR[/PREFIX]")]
    pub mirrors: Vec<String>,
    /// containerd's registry host directory (`config_path`, such as
    /// /etc/containerd/certs.d): DIR/<host>/hosts.toml.
    #[arg(long, value_name = "DIR")]
    pub containerd_hosts_dir: Option<PathBuf>,
    /// containers registries.conf (CRI-O, Podman), with the
    /// registries.conf.d drop-ins beside it.
    #[arg(long, value_name = "FILE")]
    pub registries_conf: Option<PathBuf>,
}

/// Where pull credentials come from, besides the pod's own pull secrets
/// (found among the scanned manifests), Docker's config and its credential
/// helpers, and containers auth.json.
#[derive(Debug, Args, Clone)]
pub struct CredentialArgs {
    /// Pull credentials for every image, tried after the pod's own: a file of
    /// Kubernetes Secret manifests (kubernetes.io/dockerconfigjson or
    /// dockercfg) or a docker config.json; its Secrets also serve pods that
    /// name them; repeatable.
    #[arg(long = "pull-secret", value_name = "FILE")]
    pub pull_secrets: Vec<PathBuf>,
    /// Namespace of manifests that name none (to find the pull secrets their
    /// pods name).
    #[arg(long, default_value = DEFAULT_NAMESPACE, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Kubelet CredentialProviderConfig (kubelet.config.k8s.io/v1): run its
    /// plugins for the images their matchImages select, as a node does.
    #[arg(long, value_name = "FILE")]
    pub credential_provider_config: Option<PathBuf>,
    /// Directory holding the credential provider plugins (the kubelet's
    /// --image-credential-provider-bin-dir).
    #[arg(long, value_name = "DIR")]
    pub credential_provider_bin_dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        parse_from(args.iter().map(OsString::from).collect()).unwrap()
    }

    #[test]
    fn the_defaults_shown_are_the_defaults_applied() {
        let lock = Cli::command();
        let lock = lock.find_subcommand("lock").unwrap();
        let shown = |id: &str| {
            let arg = lock.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_default_values()[0].to_string_lossy().into_owned()
        };
        assert_eq!(shown("timeout"), DEFAULT_TIMEOUT.to_string());
        assert_eq!(shown("namespace"), DEFAULT_NAMESPACE);
        assert_eq!(shown("paths"), DEFAULT_PATH);
    }

    #[test]
    fn every_id_filled_from_the_file_exists() {
        // Panics when an id names no argument.
        parse(&["imagelock", "list"]);
    }

    #[test]
    fn an_option_not_given_is_unset_and_one_given_is_kept() {
        let Command::Lock(a) = parse(&["imagelock", "lock"]).command else {
            unreachable!()
        };
        assert!(a.paths.is_empty());
        assert_eq!(a.registry.timeout, None);
        assert_eq!(a.registry.credentials.namespace, None);
        let Command::Lock(a) = parse(&[
            "imagelock",
            "lock",
            "k8s",
            "--timeout",
            "30",
            "--namespace",
            "default",
        ])
        .command
        else {
            unreachable!()
        };
        assert_eq!(a.paths, [PathBuf::from("k8s")]);
        assert_eq!(a.registry.timeout, Some(30));
        assert_eq!(a.registry.credentials.namespace.as_deref(), Some("default"));
    }
}
