//! The keychain imagelock uses: every source a node or a developer machine
//! has, asked in the kubelet's order.
//!
//! 1. the pod's pull secrets (its `imagePullSecrets`, else its
//!    ServiceAccount's), 2. `--pull-secret` files, 3. kubelet credential
//!    provider plugins, 4. Docker's `config.json` (`credHelpers[host]`, else
//!    `credsStore`, else `auths`), 5. containers `auth.json`. Every matching
//!    candidate is tried in that order; anonymous only when none matched.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::containers_auth::AuthFile;
use super::docker_config::{helper_server, Configured, DockerConfig};
use super::helper::{HelperAnswer, Helpers};
use super::provider::Providers;
use super::pull_secret::PullSecretFile;
use super::{Candidate, Keychain, Lookup, Query, Source, SourceKind};

/// Where to find the sources that are not in the environment.
#[derive(Debug, Default)]
pub struct CredentialOptions {
    /// `--pull-secret` files, already read.
    pub pull_secret_files: Vec<PullSecretFile>,
    /// `--credential-provider-config` and `--credential-provider-bin-dir`.
    pub provider_config: Option<(PathBuf, PathBuf)>,
    /// Docker's config file (`None`: `$DOCKER_CONFIG` or `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// containers `auth.json` files (`None`: the default ones).
    pub containers_auth: Option<Vec<PathBuf>>,
    /// How long a helper or plugin may take.
    pub timeout: Duration,
}

/// Pod secrets, `--pull-secret` files, plugins, docker config, auth.json.
#[derive(Debug)]
pub struct DefaultKeychain {
    files: Vec<PullSecretFile>,
    providers: Option<Providers>,
    docker: DockerConfig,
    helpers: Helpers,
    containers: Vec<AuthFile>,
    containers_paths: Vec<String>,
    warnings: Mutex<BTreeSet<String>>,
}

impl DefaultKeychain {
    /// Read every configured source; a malformed file is an error naming it.
    pub fn new(opts: CredentialOptions) -> Result<DefaultKeychain, String> {
        let providers = match &opts.provider_config {
            Some((config, bin)) => Some(Providers::load(config, bin, opts.timeout)?),
            None => None,
        };
        let docker = match &opts.docker_config {
            Some(p) => DockerConfig::from_path(p),
            None => DockerConfig::load_default(),
        }
        .map_err(|e| e.to_string())?;
        let paths = opts.containers_auth.unwrap_or_else(AuthFile::default_paths);
        let mut containers = Vec::new();
        for p in &paths {
            if let Some(f) = AuthFile::load(p)? {
                containers.push(f);
            }
        }
        Ok(DefaultKeychain {
            files: opts.pull_secret_files,
            providers,
            docker,
            helpers: Helpers::new(opts.timeout),
            containers,
            containers_paths: paths.iter().map(|p| super::tilde(p)).collect(),
            warnings: Mutex::new(BTreeSet::new()),
        })
    }

    /// Times a credential helper or provider plugin was started this run.
    pub fn programs_run(&self) -> usize {
        self.helpers.runs() + self.providers.as_ref().map_or(0, Providers::runs)
    }

    fn warn(&self, message: String) {
        self.warnings.lock().unwrap().insert(message);
    }

    fn helper_label(&self, helper: &str, key: Option<&str>) -> String {
        let from = match key {
            Some(k) => format!("credHelpers[{k:?}]"),
            None => "credsStore".to_string(),
        };
        format!(
            "credential helper docker-credential-{helper} ({} {from})",
            self.docker.display_path()
        )
    }

    /// Docker's answer for `registry`: candidates, or a failure.
    fn docker(&self, registry: &str, run: bool, lookup: &mut Lookup) {
        match self.docker.configured(registry) {
            None => {}
            Some(Configured::Auths(entries)) => {
                for (key, cred) in entries {
                    let source = Source {
                        kind: SourceKind::DockerConfig,
                        label: format!("{} auths[{key:?}]", self.docker.display_path()),
                    };
                    lookup.candidates.push(Candidate::new(cred.clone(), source));
                }
            }
            Some(Configured::Helper {
                helper,
                cred_helpers_key,
            }) => {
                let label = self.helper_label(helper, cred_helpers_key);
                if !run {
                    lookup.candidates.push(Candidate::new(
                        super::Credential::basic("", ""),
                        Source {
                            kind: SourceKind::DockerHelper,
                            label,
                        },
                    ));
                    return;
                }
                match self.helpers.get(helper, &helper_server(registry)) {
                    HelperAnswer::Found(cred) => lookup.candidates.push(Candidate::new(
                        cred,
                        Source {
                            kind: SourceKind::DockerHelper,
                            label,
                        },
                    )),
                    HelperAnswer::NotFound => {}
                    HelperAnswer::Missing => {
                        let m = format!(
                            "{label} is not installed: no docker-credential-{helper} on PATH; install it, or remove the entry from {}",
                            self.docker.display_path()
                        );
                        self.warn(m.clone());
                        lookup.failures.push(m);
                    }
                    HelperAnswer::Failed(why) => {
                        let m = format!("{label} failed for {}: {why}", helper_server(registry));
                        self.warn(m.clone());
                        lookup.failures.push(m);
                    }
                }
            }
        }
    }

    fn collect(&self, query: &Query<'_>, run: bool) -> Lookup {
        let repo = query.repository;
        let mut lk = Lookup::default();
        if let Some(pod) = query.pod {
            lk.searched.push(pod.describe());
            lk.candidates.extend(pod.lookup(repo));
        }
        for f in &self.files {
            lk.searched.push(f.label.clone());
            lk.candidates.extend(f.lookup(repo));
        }
        if let Some(p) = &self.providers {
            let matching: Vec<_> = p.plugins().iter().filter(|pl| pl.matches(repo)).collect();
            for pl in &matching {
                lk.searched.push(pl.label());
            }
            if !matching.is_empty() {
                if run {
                    let (cands, failures) = p.lookup(repo);
                    for f in &failures {
                        self.warn(f.clone());
                    }
                    lk.candidates.extend(cands);
                    lk.failures.extend(failures);
                } else {
                    for pl in matching {
                        lk.candidates.push(Candidate::new(
                            super::Credential::basic("", ""),
                            Source {
                                kind: SourceKind::CredentialProvider,
                                label: pl.label(),
                            },
                        ));
                    }
                }
            }
        }
        lk.searched.push(self.docker.display_path());
        self.docker(query.registry(), run, &mut lk);
        lk.searched.extend(self.containers_paths.iter().cloned());
        if let Some(c) = self.containers.iter().find_map(|f| f.lookup(repo)) {
            lk.candidates.push(c);
        }
        lk
    }
}

impl Keychain for DefaultKeychain {
    fn lookup(&self, query: &Query<'_>) -> Lookup {
        self.collect(query, true)
    }

    fn sources(&self, query: &Query<'_>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.collect(query, false).candidates {
            if !out.contains(&c.source.label) {
                out.push(c.source.label);
            }
        }
        out
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap().iter().cloned().collect()
    }
}
