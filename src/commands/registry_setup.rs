//! From the command line's registry and credential options to a registry
//! client: option checks, the keychain, running resolution with a progress
//! bar, and registry failures as messages.

use std::sync::Arc;
use std::time::Duration;

use crate::cli::{CredentialArgs, RegistryArgs};
use crate::commands::scanning::{used_at, Use};
use crate::credentials::pull_secret::PullSecretFile;
use crate::credentials::{CredentialOptions, DefaultKeychain};
use crate::reference::Reference;
use crate::registry::{
    Client, Platform, RegistryBudget, RegistryConfig, RegistryError, Request, Resolved,
};
use crate::report::{Diagnostics, Message};
use crate::scan::SecretManifest;

/// Parse `--platform` values.
pub fn parse_platforms(values: &[String]) -> anyhow::Result<Vec<Platform>> {
    let mut out = Vec::new();
    for v in values {
        let p: Platform = v.parse().map_err(|e| {
            anyhow::anyhow!(
                "invalid --platform {v:?}: {e} (write os/arch[/variant], such as linux/arm64/v8)"
            )
        })?;
        out.push(p);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `--pull-secret FILE: cannot read: <why>`.
fn pull_secret_unreadable(path: &std::path::Path, e: std::io::Error) -> String {
    format!(
        "--pull-secret {}: cannot read: {}",
        path.display(),
        crate::file_error::without_path(e, path)
    )
}

/// Check the credential options before anything runs: each one that
/// cannot work is an error (code `usage`) naming the option, reported
/// with the run's other failures. Returns whether all can work.
pub fn check_credential_options(args: &CredentialArgs, diag: &mut Diagnostics) -> bool {
    let before = diag.errors();
    for path in &args.pull_secrets {
        let problem = match fs_err::metadata(path) {
            Err(e) => Some(pull_secret_unreadable(path, e)),
            Ok(m) if m.is_dir() => Some(format!(
                "--pull-secret {}: is a directory; name a Secret manifest or a docker config.json",
                path.display()
            )),
            Ok(_) => None,
        };
        if let Some(p) = problem {
            diag.emit(Message::error(p).code("usage"));
        }
    }
    diag.errors() == before
}

/// [`check_credential_options`] and the registry options: `--ca-file`,
/// `--plain-http` and the `--platform` values given.
pub fn check_registry_options(
    args: &RegistryArgs,
    platforms: &[String],
    diag: &mut Diagnostics,
) -> bool {
    let before = diag.errors();
    check_credential_options(&args.credentials, diag);
    for ca in &args.ca_files {
        if !ca.is_file() {
            diag.emit(
                Message::error(format!("--ca-file {}: no such file", ca.display())).code("usage"),
            );
        }
    }
    // Its notes are said again when the client is built.
    if let Err(e) = plain_http_hosts(&args.plain_http, &mut Diagnostics::new(true)) {
        diag.emit(Message::error(e).code("usage"));
    }
    if let Err(e) = parse_platforms(platforms) {
        diag.emit(Message::error(e).code("usage"));
    }
    diag.errors() == before
}

/// The keychain for the command line's credential options, and the Secret
/// manifests its `--pull-secret` files hold (they also serve pods that
/// name them).
pub fn keychain(
    args: &CredentialArgs,
    timeout: Duration,
) -> anyhow::Result<(DefaultKeychain, Vec<SecretManifest>)> {
    let mut files = Vec::new();
    let mut manifests = Vec::new();
    for path in &args.pull_secrets {
        let bytes =
            fs_err::read(path).map_err(|e| anyhow::anyhow!(pull_secret_unreadable(path, e)))?;
        let text = crate::scan::decode_utf8(path, &bytes)?;
        // A JSON docker config is YAML too: it simply holds no Secret.
        let secrets = match crate::scan::scan_text(path, text) {
            Ok(scan) => scan.secrets,
            Err(_) => Vec::new(),
        };
        files.push(
            PullSecretFile::load(path, &secrets, &args.namespace)
                .map_err(|e| anyhow::anyhow!("--pull-secret {e}"))?,
        );
        manifests.extend(secrets);
    }
    let provider_config = match (
        &args.credential_provider_config,
        &args.credential_provider_bin_dir,
    ) {
        (Some(c), Some(b)) => Some((c.clone(), b.clone())),
        _ => None,
    };
    let keychain = DefaultKeychain::new(CredentialOptions {
        pull_secret_files: files,
        provider_config,
        docker_config: None,
        containers_auth: None,
        timeout,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((keychain, manifests))
}

/// `--plain-http` values as hosts: `http://host:port/` is accepted as
/// `host:port` (with a note); anything else with a scheme or path is refused.
pub fn plain_http_hosts(values: &[String], diag: &mut Diagnostics) -> anyhow::Result<Vec<String>> {
    let mut hosts = Vec::new();
    for v in values {
        let host = match v.split_once("://") {
            Some(("http", rest)) => {
                let host = rest.trim_end_matches('/');
                diag.note(format!(
                    "--plain-http {v}: taken as {host} (the option names a host[:port]; plain HTTP is implied)"
                ));
                host
            }
            Some((scheme, _)) => {
                anyhow::bail!("--plain-http {v}: expected HOST[:PORT], not a {scheme}:// URL")
            }
            None => v.as_str(),
        };
        if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
            anyhow::bail!("--plain-http {v}: expected HOST[:PORT], such as localhost:5000");
        }
        hosts.push(host.to_string());
    }
    Ok(hosts)
}

/// A registry client for the command line's registry and credential
/// options, and the Secret manifests of its `--pull-secret` files.
pub fn registry_client(
    args: &RegistryArgs,
    diag: &mut Diagnostics,
) -> anyhow::Result<(Client, Vec<SecretManifest>)> {
    let config = RegistryConfig {
        ca_files: args.ca_files.clone(),
        plain_http: plain_http_hosts(&args.plain_http, diag)?,
        concurrency: args.concurrency.map_or(usize::MAX, usize::from),
        timeout: Duration::from_secs(args.timeout),
        ..RegistryConfig::default()
    };
    for ca in &config.ca_files {
        if !ca.is_file() {
            anyhow::bail!("--ca-file {}: no such file", ca.display());
        }
    }
    let (keychain, manifests) = keychain(&args.credentials, config.timeout)?;
    Ok((Client::new(config, Arc::new(keychain))?, manifests))
}

/// Resolve references (no pod credentials) with a progress bar on stderr
/// (when it is a terminal).
pub fn resolve_all(
    client: &Client,
    refs: &[Reference],
    platforms: &[Platform],
) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>> {
    resolve_requests(client, &Request::without_pod(refs), platforms)
}

/// Resolve references, each with its pod's credentials, with a progress bar.
pub fn resolve_requests(
    client: &Client,
    requests: &[Request],
    platforms: &[Platform],
) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>> {
    let bar = crate::report::progress(requests.len(), "resolving");
    let on_done = || bar.inc(1);
    let results = until_interrupted(client.resolve_requests(requests, platforms, &on_done));
    bar.finish_and_clear();
    results
}

/// The runtime every registry request of the run goes through: built once,
/// on first use, and kept for the whole command. The HTTP client's pooled
/// connections belong to the runtime they were opened on, so one runtime
/// per call (and the client outliving it) would leave the pool holding
/// connections whose runtime is gone.
pub fn runtime() -> anyhow::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(RUNTIME.get_or_init(|| built))
}

/// Run `work` on the registry [`runtime`] until it ends, or until SIGINT or
/// SIGTERM: then the requests in flight are dropped, not awaited, and the
/// result is [`crate::interrupt::Interrupted`]. Every registry wait of a
/// command goes through here.
pub fn until_interrupted<T>(work: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    let result = runtime()?.block_on(async {
        tokio::select! {
            r = work => Ok(r),
            s = crate::interrupt::cancelled() => Err(crate::interrupt::Interrupted(s)),
        }
    });
    Ok(result?)
}

/// Print the keychain's warnings (a helper missing, a plugin that failed).
pub fn report_credential_warnings(client: &Client, diag: &mut Diagnostics) {
    for w in client.credential_warnings() {
        diag.warning(w);
    }
}

/// A registry failure as a message naming every place the reference is used.
pub fn registry_error(err: &RegistryError, uses: &[Use]) -> Message {
    Message::error(err)
        .code(err.code())
        .hint(err.hint())
        .used_at(used_at(uses))
}

/// One line per registry that stated a rate limit in this run: a note
/// (`docker.io: 96 of 100 pulls left in this 6 h window; imagelock made 0
/// counted requests`), a warning when fewer than 10% are left. Returns the
/// figures for `--format json`'s `registries`.
pub fn report_budget(client: &Client, diag: &mut Diagnostics) -> Vec<RegistryBudget> {
    let budget = client.budget();
    for b in &budget {
        if b.is_low() {
            diag.emit(Message::warning(b).code("rate-limit").hint(Some(b.hint())));
        } else {
            diag.note(b);
        }
    }
    budget
}
