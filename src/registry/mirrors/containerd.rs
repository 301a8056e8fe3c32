//! containerd's registry host directory (`config_path`, `ctr --hosts-dir`):
//! `DIR/<host[:port]>/hosts.toml` (or `<host>_<port>_`), `DIR/_default`
//! when no directory names the host, and without a `hosts.toml` the
//! Docker-style certificate files (`*.crt`) of the upstream itself.
//!
//! In `hosts.toml`: `[host."URL"]` tables are tried in the order written,
//! then `server` (the upstream when unset); each with `capabilities`
//! (`pull` serves references by digest, `pull` and `resolve` tags too),
//! `ca` (a file or a list, relative to the directory), `skip_verify`, and
//! `override_path` (the URL's path is the API root: without it `/v2` is
//! appended to a path that does not end in it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{beside, default_upstream, Endpoint, HostTls, MirrorError};
use crate::reference::Reference;

/// The directory, as given.
#[derive(Debug, Clone)]
pub struct HostsDir {
    root: PathBuf,
}

/// One `[host."…"]` table, or the file's top level.
#[derive(Debug, Default, Deserialize)]
struct RawHost {
    capabilities: Option<Vec<String>>,
    ca: Option<OneOrMany>,
    skip_verify: Option<bool>,
    #[serde(default)]
    override_path: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    server: Option<String>,
    #[serde(default)]
    host: BTreeMap<String, RawHost>,
    #[serde(flatten)]
    top: RawHost,
}

impl HostsDir {
    pub fn open(root: &Path) -> Result<HostsDir, MirrorError> {
        if !root.is_dir() {
            return Err(MirrorError::Invalid {
                path: root.to_path_buf(),
                message: "--containerd-hosts-dir: no such directory".into(),
            });
        }
        Ok(HostsDir {
            root: root.to_path_buf(),
        })
    }

    /// The directory containerd reads for `host`: `<host>_<port>_`,
    /// `<host:port>`, then `_default`.
    fn dir_for(&self, host: &str) -> Option<PathBuf> {
        let mut candidates = Vec::new();
        if let Some((h, port)) = host.rsplit_once(':') {
            candidates.push(self.root.join(format!("{h}_{port}_")));
        }
        candidates.push(self.root.join(host));
        candidates.push(self.root.join("_default"));
        candidates.into_iter().find(|p| p.is_dir())
    }

    /// The hosts a node tries for `reference`.
    pub fn route(&self, reference: &Reference) -> Result<Vec<Endpoint>, MirrorError> {
        let domain = reference.domain();
        let Some(dir) = self.dir_for(domain) else {
            return Ok(vec![default_upstream(reference)]);
        };
        let file = dir.join("hosts.toml");
        if !file.is_file() {
            return Ok(vec![legacy_certs(&dir, reference)?]);
        }
        let text = fs_err::read_to_string(&file)?;
        parse(&file, &text, reference)
    }
}

/// No `hosts.toml`: the upstream, trusting the directory's `*.crt` files.
fn legacy_certs(dir: &Path, reference: &Reference) -> Result<Endpoint, MirrorError> {
    let mut up = default_upstream(reference);
    let mut crts: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "crt"))
        .collect();
    crts.sort();
    up.tls.ca_files = crts;
    up.source = format!("{} (certificates)", dir.display());
    Ok(up)
}

/// The `[host."…"]` keys in the order written (TOML tables deserialize
/// unordered): every `[host.KEY]` header, subtables (`[host.KEY.header]`)
/// skipped.
fn host_order(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        let Some(inner) = l.strip_prefix("[host.").and_then(|r| {
            let end = r.rfind(']')?;
            Some(&r[..end])
        }) else {
            continue;
        };
        let inner = inner.trim();
        let key = match inner.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let body = &inner[1..];
                match body.find(q) {
                    Some(end) => body[..end].to_string(),
                    None => continue,
                }
            }
            _ => inner
                .split('.')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        if !key.is_empty() && !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// Parse a `hosts.toml` read from `file` for `reference`.
pub fn parse(file: &Path, text: &str, reference: &Reference) -> Result<Vec<Endpoint>, MirrorError> {
    let invalid = |message: String| MirrorError::Invalid {
        path: file.to_path_buf(),
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let source = file.display().to_string();
    let mut out = Vec::new();
    let mut order = host_order(text);
    // Keys the line scan missed (inline tables) come last, sorted.
    for k in raw.host.keys() {
        if !order.contains(k) {
            order.push(k.clone());
        }
    }
    for key in order {
        let Some(h) = raw.host.get(&key) else {
            continue;
        };
        out.push(endpoint(&key, h, dir, reference, false, &source).map_err(invalid)?);
    }
    let server = match &raw.server {
        Some(s) => endpoint(s, &raw.top, dir, reference, true, &source).map_err(invalid)?,
        None => {
            let mut up = default_upstream(reference);
            up.tls = tls(&raw.top, dir);
            up.source = source.clone();
            up
        }
    };
    out.push(server);
    Ok(out)
}

fn tls(h: &RawHost, dir: &Path) -> HostTls {
    let ca_files = match &h.ca {
        None => Vec::new(),
        Some(OneOrMany::One(p)) => vec![beside(dir, p)],
        Some(OneOrMany::Many(ps)) => ps.iter().map(|p| beside(dir, p)).collect(),
    };
    HostTls {
        ca_files,
        skip_verify: h.skip_verify.unwrap_or(false),
        insecure: false,
    }
}

/// One host URL and its settings as the endpoint for `reference`.
fn endpoint(
    url: &str,
    h: &RawHost,
    dir: &Path,
    reference: &Reference,
    is_server: bool,
    source: &str,
) -> Result<Endpoint, String> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", r)) => ("http", r),
        Some(("https", r)) => ("https", r),
        Some((s, _)) => return Err(format!("host {url:?}: unknown scheme {s}://")),
        None => ("https", url),
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(format!("host {url:?} names no host"));
    }
    let path = clean(path);
    let full = if h.override_path || path.ends_with("/v2") {
        path
    } else {
        format!("{path}/v2")
    };
    // A path `…/v2/<prefix>` (override_path) serves repositories under
    // `<prefix>`: the root is `…/v2`, the prefix part of the repository.
    let (root, prefix) = match full.find("/v2/") {
        Some(i) => (full[..i + 3].to_string(), full[i + 4..].to_string()),
        None => (full, String::new()),
    };
    let (mut pull, mut resolve) = (true, true);
    if let Some(caps) = &h.capabilities {
        pull = false;
        resolve = false;
        for c in caps {
            match c.to_ascii_lowercase().as_str() {
                "pull" => pull = true,
                "resolve" => resolve = true,
                "push" => {}
                other => return Err(format!("host {url:?}: unknown capability {other:?}")),
            }
        }
    }
    let host = host.to_ascii_lowercase();
    let domain = reference.domain();
    let upstream =
        is_server && (host == domain || host == crate::registry::schedule::api_host(domain));
    Ok(Endpoint {
        host: if upstream { domain.to_string() } else { host },
        scheme,
        root,
        path: super::join_path(&prefix, reference.path()),
        by_digest: pull,
        by_tag: pull && resolve,
        upstream,
        tls: tls(h, dir),
        source: source.to_string(),
    })
}

/// `path.Clean` for a URL path: no empty or `.` segments, `..` applied,
/// no trailing slash; empty for the root.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("/{}", parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    /// The example of containerd's docs/hosts.md: a mirror with a path
    /// and `override_path`, tried before the upstream `server`.
    #[test]
    fn documented_override_path_example() {
        let text = r#"
server = "https://registry-1.docker.io"

[host."https://public-mirror.gcr.io"]
  capabilities = ["pull"]

[host."https://registry.example.com/v2/dockerhub"]
  capabilities = ["pull", "resolve"]
  override_path = true
  ca = "certs/mirror.pem"
  skip_verify = true
"#;
        let f = Path::new("/etc/containerd/certs.d/docker.io/hosts.toml");
        let route = parse(f, text, &r("nginx:1.25")).unwrap();
        assert_eq!(route.len(), 3);
        assert_eq!(route[0].host, "public-mirror.gcr.io");
        assert_eq!(
            route[0].url(),
            "https://public-mirror.gcr.io/v2/library/nginx"
        );
        assert!(route[0].by_digest && !route[0].by_tag);
        assert_eq!(route[1].root, "/v2");
        assert_eq!(route[1].path, "dockerhub/library/nginx");
        assert!(route[1].by_digest && route[1].by_tag);
        assert!(route[1].tls.skip_verify);
        assert_eq!(
            route[1].tls.ca_files,
            vec![PathBuf::from(
                "/etc/containerd/certs.d/docker.io/certs/mirror.pem"
            )]
        );
        assert!(route[2].upstream);
        assert_eq!(route[2].host, "docker.io");
    }

    #[test]
    fn path_without_override_gets_v2_appended() {
        let text = "[host.\"http://10.0.0.1:5000/cache\"]\n[host.'https://m2']\ncapabilities=[\"pull\",\"resolve\",\"push\"]\n";
        let route = parse(Path::new("d/hosts.toml"), text, &r("ghcr.io/org/app:1")).unwrap();
        assert_eq!(route[0].url(), "http://10.0.0.1:5000/cache/v2/org/app");
        assert_eq!(route[1].url(), "https://m2/v2/org/app");
        // No `server`: the upstream itself, last.
        assert!(route[2].upstream);
        assert_eq!(route[2].url(), "https://ghcr.io/v2/org/app");
    }

    #[test]
    fn override_path_without_v2_is_the_root() {
        let text = "[host.\"https://m/api/registry\"]\noverride_path = true\n";
        let route = parse(Path::new("hosts.toml"), text, &r("quay.io/a/b:1")).unwrap();
        assert_eq!(route[0].root, "/api/registry");
        assert_eq!(route[0].url(), "https://m/api/registry/a/b");
    }

    #[test]
    fn order_is_as_written_not_sorted() {
        let text =
            "[host.\"https://z\"]\n[host.\"https://a\"]\n[host.\"https://z\".header]\nx = \"y\"\n";
        assert_eq!(host_order(text), vec!["https://z", "https://a"]);
    }

    #[test]
    fn bad_capability_and_bad_toml_name_the_file() {
        let e = parse(
            Path::new("x/hosts.toml"),
            "[host.\"https://m\"]\ncapabilities = [\"fly\"]\n",
            &r("a.io/b:1"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("x/hosts.toml: "), "{e}");
        assert!(e.to_string().contains("fly"), "{e}");
        assert!(parse(Path::new("x/hosts.toml"), "server = [", &r("a.io/b:1")).is_err());
    }

    #[test]
    fn directory_lookup_port_form_default_and_legacy_certs() {
        let d = tempfile::tempdir().unwrap();
        let hd = HostsDir::open(d.path()).unwrap();
        // Nothing configured: the upstream alone.
        let route = hd.route(&r("a.io/b:1")).unwrap();
        assert_eq!(route.len(), 1);
        assert!(route[0].upstream);
        fs_err::create_dir_all(d.path().join("_default")).unwrap();
        fs_err::write(
            d.path().join("_default/hosts.toml"),
            "[host.\"https://everything\"]\n",
        )
        .unwrap();
        fs_err::create_dir_all(d.path().join("reg.local_5000_")).unwrap();
        fs_err::write(d.path().join("reg.local_5000_/ca.crt"), "x").unwrap();
        let route = hd.route(&r("a.io/b:1")).unwrap();
        assert_eq!(route[0].host, "everything");
        let route = hd.route(&r("reg.local:5000/b:1")).unwrap();
        assert_eq!(route.len(), 1);
        assert!(route[0].upstream);
        assert_eq!(
            route[0].tls.ca_files,
            vec![d.path().join("reg.local_5000_/ca.crt")]
        );
    }
}
