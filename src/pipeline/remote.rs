//! The run's one registry context, [`Remote`]: the client (its connection
//! pools, keychain, rate-limit figures), where nodes pull from (mirrors),
//! where tags are resolved (`--resolve-at`), the Secrets of the
//! `--pull-secret` files, and the runtime every registry wait goes through.
//! A command builds it once from its [`RegistrySettings`], where it first
//! needs a registry, and hands it to every step that asks one.

use std::sync::Arc;
use std::time::Duration;

use crate::choices::ResolveAt;
use crate::credentials::pull_secret::PullSecretFile;
use crate::credentials::{CredentialOptions, DefaultKeychain};
use crate::pipeline::options::{plain_http_hosts, pull_secret_unreadable};
use crate::pipeline::scanning::{used_at, Use};
use crate::reference::Reference;
use crate::registry::mirrors::{MirrorSources, Mirrors};
use crate::registry::{
    Client, Platform, RegistryBudget, RegistryConfig, RegistryError, Request, Resolved,
};
use crate::report::{Diagnostics, Message};
use crate::scan::SecretManifest;
use crate::settings::{CredentialSettings, MirrorSettings, RegistrySettings};

/// Where nodes pull from, read from the mirror settings (`--mirror`,
/// containerd's `hosts.toml`, `registries.conf`).
pub fn load_mirrors(settings: &MirrorSettings) -> anyhow::Result<Mirrors> {
    Ok(Mirrors::load(&MirrorSources {
        flags: settings.mirrors.clone(),
        containerd_hosts_dir: settings.containerd_hosts_dir.clone(),
        registries_conf: settings.registries_conf.clone(),
    })?)
}

/// The run's registry context (see the module documentation).
pub struct Remote<'m> {
    client: Client,
    mirrors: &'m Mirrors,
    resolve_at: ResolveAt,
    pull_secrets: Vec<SecretManifest>,
    runtime: &'static tokio::runtime::Runtime,
}

impl<'m> Remote<'m> {
    /// The client for `settings` (its `--plain-http` notes said in
    /// `diag`), beside the `mirrors` loaded from the same settings.
    pub fn connect(
        settings: &RegistrySettings,
        mirrors: &'m Mirrors,
        diag: &mut Diagnostics,
    ) -> anyhow::Result<Remote<'m>> {
        let (client, pull_secrets) = registry_client(settings, diag)?;
        Remote::new(settings, client, pull_secrets, mirrors)
    }

    /// The context of a client built with [`registry_client`] (for a
    /// command that loads its mirrors after the client).
    pub fn new(
        settings: &RegistrySettings,
        client: Client,
        pull_secrets: Vec<SecretManifest>,
        mirrors: &'m Mirrors,
    ) -> anyhow::Result<Remote<'m>> {
        Ok(Remote {
            client,
            mirrors,
            resolve_at: settings.resolve_at,
            pull_secrets,
            runtime: runtime()?,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn mirrors(&self) -> &'m Mirrors {
        self.mirrors
    }

    /// The Secret manifests of the `--pull-secret` files (they also serve
    /// pods that name them).
    pub fn pull_secrets(&self) -> &[SecretManifest] {
        &self.pull_secrets
    }

    /// Where tags are resolved: `None` upstream; with `--resolve-at
    /// mirror`, the mirrors (said in a note; an error without any).
    pub fn tag_source(&self, diag: &mut Diagnostics) -> anyhow::Result<Option<&'m Mirrors>> {
        if self.resolve_at != ResolveAt::Mirror {
            return Ok(None);
        }
        if self.mirrors.is_empty() {
            anyhow::bail!("--resolve-at mirror: no mirror is configured (give --mirror, --containerd-hosts-dir or --registries-conf)");
        }
        diag.note("tags resolved at the first mirror of each image (--resolve-at mirror), not upstream; the lockfile keeps upstream names");
        Ok(Some(self.mirrors))
    }

    /// Ask the registries for the digests of references (no pod
    /// credentials), with a progress bar on stderr (when it is a terminal).
    pub fn digests_of(
        &self,
        refs: &[Reference],
        platforms: &[Platform],
    ) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>> {
        self.digests_for(&Request::without_pod(refs), platforms)
    }

    /// Ask the registries for the digests of references, each with its
    /// pod's credentials, with a progress bar.
    pub fn digests_for(
        &self,
        requests: &[Request],
        platforms: &[Platform],
    ) -> anyhow::Result<Vec<Result<Resolved, RegistryError>>> {
        let bar = crate::report::progress(requests.len(), "resolving");
        let on_done = || bar.inc(1);
        let results =
            self.until_interrupted(self.client.resolve_requests(requests, platforms, &on_done));
        bar.finish_and_clear();
        results
    }

    /// Run `work` on the registry runtime until it ends, or until SIGINT or
    /// SIGTERM: then the requests in flight are dropped, not awaited, and
    /// the result is [`crate::interrupt::Interrupted`]. Every registry wait
    /// of a command goes through here.
    pub fn until_interrupted<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> anyhow::Result<T> {
        let result = self.runtime.block_on(async {
            tokio::select! {
                r = work => Ok(r),
                s = crate::interrupt::cancelled() => Err(crate::interrupt::Interrupted(s)),
            }
        });
        Ok(result?)
    }

    /// Print the keychain's warnings (a helper missing, a plugin that failed).
    pub fn report_credential_warnings(&self, diag: &mut Diagnostics) {
        for w in self.client.credential_warnings() {
            diag.warning(w);
        }
    }

    /// One line per registry that stated a rate limit in this run: a note
    /// (`docker.io: 96 of 100 pulls left in this 6 h window; imagelock made 0
    /// counted requests`), a warning when fewer than 10% are left. Returns
    /// the figures for `--format json`'s `registries`.
    pub fn report_budget(&self, diag: &mut Diagnostics) -> Vec<RegistryBudget> {
        let budget = self.client.budget();
        for b in &budget {
            if b.is_low() {
                diag.emit(Message::warning(b).code("rate-limit").hint(Some(b.hint())));
            } else {
                diag.note(b);
            }
        }
        budget
    }
}

/// The registry client for `settings` (its `--plain-http` notes said in
/// `diag`), and the Secret manifests of its `--pull-secret` files.
pub fn registry_client(
    settings: &RegistrySettings,
    diag: &mut Diagnostics,
) -> anyhow::Result<(Client, Vec<SecretManifest>)> {
    let config = RegistryConfig {
        ca_files: settings.ca_files.clone(),
        plain_http: plain_http_hosts(&settings.plain_http, diag)?,
        concurrency: settings.concurrency.map_or(usize::MAX, usize::from),
        timeout: settings.timeout,
        ..RegistryConfig::default()
    };
    for ca in &config.ca_files {
        if !ca.is_file() {
            anyhow::bail!("--ca-file {}: no such file", ca.display());
        }
    }
    let (keychain, pull_secrets) = keychain(&settings.credentials, config.timeout)?;
    Ok((Client::new(config, Arc::new(keychain))?, pull_secrets))
}

/// The keychain for the run's credential settings, and the Secret
/// manifests its `--pull-secret` files hold (they also serve pods that
/// name them).
pub fn keychain(
    settings: &CredentialSettings,
    timeout: Duration,
) -> anyhow::Result<(DefaultKeychain, Vec<SecretManifest>)> {
    let mut files = Vec::new();
    let mut manifests = Vec::new();
    for path in &settings.pull_secrets {
        let bytes =
            fs_err::read(path).map_err(|e| anyhow::anyhow!(pull_secret_unreadable(path, e)))?;
        let text = crate::scan::decode_utf8(path, &bytes)?;
        // A JSON docker config is YAML too: it simply holds no Secret.
        let secrets = match crate::scan::scan_text(path, text) {
            Ok(scan) => scan.secrets,
            Err(_) => Vec::new(),
        };
        files.push(
            PullSecretFile::load(path, &secrets, &settings.namespace)
                .map_err(|e| anyhow::anyhow!("--pull-secret {e}"))?,
        );
        manifests.extend(secrets);
    }
    let provider_config = settings
        .provider
        .as_ref()
        .map(|p| (p.config.clone(), p.bin_dir.clone()));
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

/// The runtime every registry request of the process goes through: built
/// once, on first use, and never dropped (a credential helper still
/// running at an interrupt is not waited for). The HTTP client's pooled
/// connections belong to the runtime they were opened on, so one runtime
/// per call (and the client outliving it) would leave the pool holding
/// connections whose runtime is gone.
fn runtime() -> anyhow::Result<&'static tokio::runtime::Runtime> {
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

/// A registry failure as a message naming every place the reference is used.
pub fn registry_error(err: &RegistryError, uses: &[Use]) -> Message {
    Message::error(err)
        .code(err.code())
        .hint(err.hint())
        .used_at(used_at(uses))
}
