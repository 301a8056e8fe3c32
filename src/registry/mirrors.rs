//! Where the nodes pull from: registry mirrors and pull-through caches.
//!
//! The model ([`Endpoint`], [`Mirrors`]) and the one question it answers:
//! which hosts a node would try for a reference, in order, at which mapped
//! repository path, for which kinds of pull (by digest, by tag), with
//! which TLS settings. The sources, each parsed in its own file:
//!
//! - `--mirror UPSTREAM=MIRROR[/PREFIX]` ([`FlagMirror`], here);
//! - containerd's `hosts.toml` directory (`containerd`);
//! - containers `registries.conf` v2 with its `.d` drop-ins
//!   (`registries_conf`).
//!
//! `presence` asks the hosts; this file sends nothing. The lockfile keeps
//! upstream names: a mirror only changes where bytes come from, never the
//! digest (the content's hash).

pub mod containerd;
pub mod presence;
pub mod registries_conf;

use std::path::{Path, PathBuf};

use crate::reference::{Digest, Reference};

/// A mirror configuration that cannot be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A file that is not valid (its path and what is wrong).
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// A `--mirror` value (or `mirrors` entry) that is not `UPSTREAM=MIRROR[/PREFIX]`.
    #[error("--mirror {value:?}: {message}")]
    Flag { value: String, message: String },
    #[error("give either --containerd-hosts-dir or --registries-conf, not both: a node runs one container runtime")]
    TwoRuntimes,
}

/// TLS settings of one host from its mirror configuration (besides the
/// system roots, `--ca-file` and `certs.d`, which apply to every host).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HostTls {
    /// Extra PEM CA files trusted for this host.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ca_files: Vec<PathBuf>,
    /// containerd `skip_verify`: no certificate check.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_verify: bool,
    /// registries.conf `insecure`: certificates unchecked, and plain HTTP
    /// when HTTPS fails.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// One host a node would try for one reference.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Endpoint {
    /// `host[:port]` requests go to.
    pub host: String,
    /// `https` or `http` (a host listed in `--plain-http` is spoken to
    /// over HTTP whatever this says).
    pub scheme: &'static str,
    /// The API root before the repository path: `/v2` for every compliant
    /// registry; containerd's `override_path` or a path in the host URL
    /// may change it.
    pub root: String,
    /// The repository path at this host (`dockerhub/library/nginx`).
    pub path: String,
    /// A node pulls references by digest from it.
    pub by_digest: bool,
    /// A node resolves tags at it.
    pub by_tag: bool,
    /// The registry the reference names (or the configured `server`/
    /// `location` standing for it): tried last.
    pub upstream: bool,
    #[serde(flatten)]
    pub tls: HostTls,
    /// Where this host was configured (`--mirror`, a file).
    pub source: String,
}

impl Endpoint {
    /// `host/path` as a reference name, for the keychain and messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.host, self.path)
    }

    /// The URL of the repository's manifests (for messages and `list`).
    pub fn url(&self) -> String {
        format!("{}://{}{}/{}", self.scheme, self.host, self.root, self.path)
    }

    /// `host/v2/path` without the scheme (for messages: `--plain-http` or
    /// an `insecure` fallback may change the scheme actually spoken).
    pub fn location(&self) -> String {
        format!("{}{}/{}", self.host, self.root, self.path)
    }

    /// This host's repository as a reference to `digest` (or to `tag`).
    pub fn reference(
        &self,
        tag: Option<&str>,
        digest: Option<&Digest>,
    ) -> Result<Reference, String> {
        let mut s = self.name();
        if let Some(t) = tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        Reference::parse(&s).map_err(|e| {
            format!(
                "{} maps to {s:?}, which is not a valid reference: {}",
                self.source, e.reason
            )
        })
    }

    /// Whether a node would pull `reference` (by digest, or by tag) here.
    pub fn serves(&self, by_digest: bool) -> bool {
        if by_digest {
            self.by_digest
        } else {
            self.by_tag
        }
    }
}

/// `--mirror UPSTREAM=MIRROR[/PREFIX]`: `docker.io=mirror.example.com/dockerhub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagMirror {
    /// A registry (`docker.io`) or a namespace in it (`docker.io/library`).
    pub upstream: String,
    pub scheme: &'static str,
    pub host: String,
    /// Repository path prefix at the mirror (may be empty).
    pub prefix: String,
}

impl FlagMirror {
    pub fn parse(value: &str) -> Result<FlagMirror, MirrorError> {
        let bad = |message: &str| MirrorError::Flag {
            value: value.to_string(),
            message: message.to_string(),
        };
        let (upstream, mirror) = value.split_once('=').ok_or_else(|| {
            bad("expected UPSTREAM=MIRROR[/PREFIX], such as docker.io=mirror.example.com/dockerhub")
        })?;
        let upstream = normalize_upstream(upstream.trim());
        let (scheme, rest) = match mirror.trim().split_once("://") {
            Some(("http", rest)) => ("http", rest),
            Some(("https", rest)) => ("https", rest),
            Some((s, _)) => return Err(bad(&format!("unknown scheme {s}://"))),
            None => ("https", mirror.trim()),
        };
        let rest = rest.trim_end_matches('/');
        let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if upstream.is_empty() || host.is_empty() || upstream.contains(char::is_whitespace) {
            return Err(bad(
                "expected UPSTREAM=MIRROR[/PREFIX], such as docker.io=mirror.example.com/dockerhub",
            ));
        }
        Ok(FlagMirror {
            upstream,
            scheme,
            host: host.to_ascii_lowercase(),
            prefix: prefix.to_string(),
        })
    }
}

/// `index.docker.io` and `registry-1.docker.io` are `docker.io`, as in
/// references.
pub(crate) fn normalize_upstream(s: &str) -> String {
    let s = s.trim_end_matches('/').to_ascii_lowercase();
    for alias in ["index.docker.io", "registry-1.docker.io"] {
        if let Some(rest) = s.strip_prefix(alias) {
            if rest.is_empty() || rest.starts_with('/') {
                return format!("docker.io{rest}");
            }
        }
    }
    s
}

/// Whether the name `name` (`host/path`) is under `prefix` (`host`,
/// `host/ns`, `host/ns/repo`): equal, or followed by `/`. Returns the rest
/// of the path after the prefix (without the `/`).
pub(crate) fn under<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// `prefix/rest` without empty parts.
pub(crate) fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.trim_matches('/'), rest) {
        ("", r) => r.to_string(),
        (p, "") => p.to_string(),
        (p, r) => format!("{p}/{r}"),
    }
}

/// Where mirror configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct MirrorSources {
    /// `--mirror` values, in order.
    pub flags: Vec<String>,
    pub containerd_hosts_dir: Option<PathBuf>,
    pub registries_conf: Option<PathBuf>,
}

/// The mirror configuration of a run, loaded.
#[derive(Debug, Clone, Default)]
pub struct Mirrors {
    flags: Vec<FlagMirror>,
    containerd: Option<containerd::HostsDir>,
    registries: Option<registries_conf::RegistriesConf>,
}

impl Mirrors {
    pub fn load(sources: &MirrorSources) -> Result<Mirrors, MirrorError> {
        if sources.containerd_hosts_dir.is_some() && sources.registries_conf.is_some() {
            return Err(MirrorError::TwoRuntimes);
        }
        let flags = sources
            .flags
            .iter()
            .map(|f| FlagMirror::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        let containerd = match &sources.containerd_hosts_dir {
            Some(dir) => Some(containerd::HostsDir::open(dir)?),
            None => None,
        };
        let registries = match &sources.registries_conf {
            Some(file) => Some(registries_conf::RegistriesConf::load(file)?),
            None => None,
        };
        Ok(Mirrors {
            flags,
            containerd,
            registries,
        })
    }

    /// Where a `registries.conf` refuses pulls of `reference`
    /// (`blocked = true`); containerd and `--mirror` block nothing.
    pub fn blocked(&self, reference: &Reference) -> Option<registries_conf::Blocked> {
        self.registries.as_ref()?.blocked(reference)
    }

    /// Whether any mirror is configured.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty() && self.containerd.is_none() && self.registries.is_none()
    }

    /// The hosts a node would try for `reference`, in order: the
    /// `--mirror` hosts for its registry, then those of the runtime's
    /// configuration, ending with the upstream (or the host a
    /// `registries.conf` `location` or a containerd `server` puts in its
    /// place). Endpoints that
    /// would not be tried for this kind of reference (by digest or by tag)
    /// are included with their `by_digest`/`by_tag` saying so.
    pub fn route(&self, reference: &Reference) -> Result<Vec<Endpoint>, MirrorError> {
        let name = reference.name();
        let mut out: Vec<Endpoint> = Vec::new();
        for f in &self.flags {
            if let Some(rest) = under(&name, &f.upstream) {
                out.push(Endpoint {
                    host: f.host.clone(),
                    scheme: f.scheme,
                    root: "/v2".into(),
                    path: join_path(&f.prefix, rest),
                    by_digest: true,
                    by_tag: true,
                    upstream: false,
                    tls: HostTls::default(),
                    source: format!("--mirror {}={}/{}", f.upstream, f.host, f.prefix)
                        .trim_end_matches('/')
                        .to_string(),
                });
            }
        }
        // A runtime's configuration ends with the host it falls back to
        // last: the upstream, or where a `location`/`server` remaps it
        // (then the upstream itself is never tried).
        let configured = match (&self.containerd, &self.registries) {
            (Some(c), _) => c.route(reference)?,
            (_, Some(r)) => r.route(reference),
            _ => Vec::new(),
        };
        if configured.is_empty() {
            out.push(default_upstream(reference));
        } else {
            out.extend(configured);
        }
        Ok(out)
    }
}

/// The registry a reference names, as the last host to try.
pub fn default_upstream(reference: &Reference) -> Endpoint {
    Endpoint {
        host: reference.domain().to_string(),
        scheme: "https",
        root: "/v2".into(),
        path: reference.path().to_string(),
        by_digest: true,
        by_tag: true,
        upstream: true,
        tls: HostTls::default(),
        source: "the reference".into(),
    }
}

/// A relative path in a file joined to the file's directory.
pub(crate) fn beside(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn flag_mirror_maps_the_path_under_its_prefix() {
        let m = Mirrors::load(&MirrorSources {
            flags: vec![
                "docker.io=mirror.example.com/dockerhub".into(),
                "ghcr.io/org=http://cache.local:5000".into(),
            ],
            ..Default::default()
        })
        .unwrap();
        let route = m.route(&r("nginx:1.25")).unwrap();
        assert_eq!(route.len(), 2);
        assert_eq!(route[0].host, "mirror.example.com");
        assert_eq!(route[0].path, "dockerhub/library/nginx");
        assert_eq!(
            route[0].url(),
            "https://mirror.example.com/v2/dockerhub/library/nginx"
        );
        assert!(route[1].upstream);
        assert_eq!(route[1].name(), "docker.io/library/nginx");
        let route = m.route(&r("ghcr.io/org/app:v1")).unwrap();
        assert_eq!(route[0].url(), "http://cache.local:5000/v2/app");
        // Another namespace of the same registry is not under the prefix.
        assert_eq!(m.route(&r("ghcr.io/organisation/app:v1")).unwrap().len(), 1);
    }

    #[test]
    fn a_remapped_location_replaces_the_upstream() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("registries.conf");
        fs_err::write(
            &file,
            "[[registry]]\nprefix = \"quay.io/org\"\nlocation = \"internal.local/quay-org\"\n",
        )
        .unwrap();
        let m = Mirrors::load(&MirrorSources {
            flags: vec!["quay.io=first.local".into()],
            registries_conf: Some(file),
            ..Default::default()
        })
        .unwrap();
        let route = m.route(&r("quay.io/org/app:1")).unwrap();
        let names: Vec<String> = route.iter().map(Endpoint::name).collect();
        assert_eq!(
            names,
            vec!["first.local/org/app", "internal.local/quay-org/app"]
        );
        assert!(route.iter().all(|e| !e.upstream));
    }

    #[test]
    fn flag_mirror_rejects_bad_values() {
        for bad in ["docker.io", "=m.example", "docker.io=", "docker.io=ftp://m"] {
            assert!(FlagMirror::parse(bad).is_err(), "{bad}");
        }
        let f = FlagMirror::parse("index.docker.io=m.example/").unwrap();
        assert_eq!(f.upstream, "docker.io");
        assert_eq!(f.prefix, "");
    }

    #[test]
    fn two_runtimes_are_refused() {
        let e = Mirrors::load(&MirrorSources {
            containerd_hosts_dir: Some("a".into()),
            registries_conf: Some("b".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(e, MirrorError::TwoRuntimes));
    }
}
