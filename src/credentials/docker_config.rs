//! Docker's `config.json`: `auths` entries, `credHelpers` and `credsStore`.
//!
//! Docker's order for a registry: `credHelpers[host]`, else `credsStore`,
//! else `auths` (a configured helper replaces the file's entries, as in the
//! docker CLI's `GetCredentialsStore`). `auths` entries hold `auth` (base64
//! `user:pass`), `username`/`password`, `identitytoken` or `registrytoken`;
//! keys written as URLs (`https://index.docker.io/v1/`) count by host.
//!
//! The entry parser here also reads pull secrets and containers `auth.json`.

use crate::file_error::without_path;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::Credential;
use crate::secret::Secret;

/// Why a docker config file could not be used. Names the path; never quotes
/// the file's content (it holds secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("docker config {}: {reason}", path.display())]
pub struct DockerConfigError {
    pub path: PathBuf,
    pub reason: String,
}

/// One `config.json`.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    path: Option<PathBuf>,
    /// (key as written, credential), keys sorted.
    auths: Vec<(String, Credential)>,
    /// `credHelpers`: key as written → helper name (`ecr-login`).
    cred_helpers: BTreeMap<String, String>,
    /// `credsStore`: the default helper.
    creds_store: Option<String>,
}

/// What the config says to use for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Configured<'a> {
    /// Ask this helper (`credHelpers` key, or `None` for `credsStore`).
    Helper {
        helper: &'a str,
        cred_helpers_key: Option<&'a str>,
    },
    /// These `auths` entries (key as written, credential), exact key first.
    Auths(Vec<(&'a str, &'a Credential)>),
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
    }

    /// Load from the default location. A missing file means no credentials.
    pub fn load_default() -> Result<DockerConfig, DockerConfigError> {
        match Self::default_path() {
            Some(p) => Self::from_path(&p),
            None => Ok(DockerConfig::default()),
        }
    }

    /// Load from `path`. A missing file means no credentials; a malformed
    /// one is an error naming the path.
    pub fn from_path(path: &Path) -> Result<DockerConfig, DockerConfigError> {
        let text = match fs_err::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig {
                    path: Some(path.to_owned()),
                    ..DockerConfig::default()
                })
            }
            Err(e) => {
                return Err(DockerConfigError {
                    path: path.to_owned(),
                    reason: format!("cannot read: {}", without_path(e, path)),
                })
            }
        };
        Self::from_json(&text, path)
    }

    /// Parse the content of a config file; `path` is only used in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<DockerConfig, DockerConfigError> {
        let err = |reason: String| DockerConfigError {
            path: path.to_owned(),
            reason,
        };
        // serde_json's messages carry only line/column, never content.
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| err("top level is not a JSON object".into()))?;
        let auths = match obj.get("auths") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(a) => parse_auths(a, "auths").map_err(err)?,
        };
        let mut cred_helpers = BTreeMap::new();
        if let Some(h) = obj.get("credHelpers").filter(|v| !v.is_null()) {
            let h = h
                .as_object()
                .ok_or_else(|| err("`credHelpers` is not an object".into()))?;
            for (k, v) in h {
                let name = v
                    .as_str()
                    .ok_or_else(|| err(format!("`credHelpers.{k}` is not a string")))?;
                if !name.is_empty() {
                    cred_helpers.insert(k.clone(), name.to_string());
                }
            }
        }
        let creds_store = match obj.get("credsStore") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if s.is_empty() => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(err("`credsStore` is not a string".into())),
        };
        Ok(DockerConfig {
            path: Some(path.to_owned()),
            auths,
            cred_helpers,
            creds_store,
        })
    }

    /// The file this was read from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// `~/.docker/config.json`, for labels.
    pub fn display_path(&self) -> String {
        self.path
            .as_deref()
            .map(super::tilde)
            .unwrap_or_else(|| "docker config".into())
    }

    /// What Docker would use for `registry` (a normalised domain:
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`), or `None` when the file
    /// says nothing about it.
    pub fn configured(&self, registry: &str) -> Option<Configured<'_>> {
        let registry = host_of_key(registry);
        if let Some((k, h)) = self
            .cred_helpers
            .iter()
            .find(|(k, _)| host_of_key(k) == registry)
        {
            return Some(Configured::Helper {
                helper: h,
                cred_helpers_key: Some(k),
            });
        }
        if let Some(h) = &self.creds_store {
            return Some(Configured::Helper {
                helper: h,
                cred_helpers_key: None,
            });
        }
        // Keys written exactly as the registry come first, then the other
        // spellings (`https://host/...`, Hub aliases), each group sorted.
        let mut exact = Vec::new();
        let mut other = Vec::new();
        for (key, cred) in &self.auths {
            if host_of_key(key) == registry {
                if key.eq_ignore_ascii_case(&registry) {
                    exact.push((key.as_str(), cred));
                } else {
                    other.push((key.as_str(), cred));
                }
            }
        }
        exact.extend(other);
        (!exact.is_empty()).then_some(Configured::Auths(exact))
    }
}

/// The server address Docker hands a credential helper for `registry`:
/// `https://index.docker.io/v1/` for Docker Hub, else the host.
pub fn helper_server(registry: &str) -> String {
    if host_of_key(registry) == "docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`, `https://host:5000/x` →
/// `host:5000`, `Host` → `host`.
pub fn host_of_key(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        _ => host,
    }
}

/// Parse an `auths`-style map (`{"host": {"auth": …}}`) into (key,
/// credential) pairs, keys sorted; entries holding nothing usable (`{}`,
/// as `credsStore` users have) are left out. `what` names the map in errors
/// (`auths`, `.dockercfg`); errors never quote a value.
pub fn parse_auths(
    value: &serde_json::Value,
    what: &str,
) -> Result<Vec<(String, Credential)>, String> {
    let map = value
        .as_object()
        .ok_or_else(|| format!("`{what}` is not an object"))?;
    let mut out = Vec::new();
    for (key, entry) in map {
        if let Some(c) = parse_entry(entry, &format!("{what}[{key:?}]"))? {
            out.push((key.clone(), c));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// One entry: `auth`, `username`/`password`, `identitytoken`, `registrytoken`.
pub fn parse_entry(entry: &serde_json::Value, what: &str) -> Result<Option<Credential>, String> {
    let entry = entry
        .as_object()
        .ok_or_else(|| format!("`{what}` is not an object"))?;
    let field = |name: &str| -> Result<Option<&str>, String> {
        match entry.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{what}.{name}` is not a string")),
        }
    };
    if let Some(t) = field("registrytoken")? {
        return Ok(Some(Credential::RegistryToken {
            token: Secret::new(t),
        }));
    }
    if let Some(t) = field("identitytoken")? {
        return Ok(Some(Credential::IdentityToken {
            token: Secret::new(t),
        }));
    }
    if let Some(auth) = field("auth")? {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| format!("`{what}.auth` is not valid base64"))?;
        let raw = String::from_utf8(raw).map_err(|_| format!("`{what}.auth` is not UTF-8"))?;
        let (user, pass) = raw
            .split_once(':')
            .ok_or_else(|| format!("`{what}.auth` does not decode to `user:password`"))?;
        return Ok(Some(Credential::basic(user, pass)));
    }
    match (field("username")?, field("password")?) {
        (Some(u), Some(p)) => Ok(Some(Credential::basic(u, p))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn parse(json: &str) -> DockerConfig {
        DockerConfig::from_json(json, Path::new("/x/config.json")).unwrap()
    }

    fn auths(c: &DockerConfig, reg: &str) -> Vec<(String, Credential)> {
        match c.configured(reg) {
            Some(Configured::Auths(v)) => v
                .into_iter()
                .map(|(k, c)| (k.to_string(), c.clone()))
                .collect(),
            Some(other) => panic!("{other:?}"),
            None => Vec::new(),
        }
    }

    fn users(c: &DockerConfig, reg: &str) -> Vec<String> {
        auths(c, reg)
            .into_iter()
            .map(|(_, c)| match c {
                Credential::Basic { username, .. } => username,
                other => other.describe(),
            })
            .collect()
    }

    #[test]
    fn every_entry_shape() {
        let c = parse(&format!(
            r#"{{"auths": {{
                "ghcr.io": {{"auth": "{}"}},
                "127.0.0.1:5000": {{"username": "u2", "password": "p:2"}},
                "acr.example.io": {{"identitytoken": "refresh"}},
                "reg.example.io": {{"registrytoken": "bearer"}}
            }}}}"#,
            b64("u1:p:1")
        ));
        let g = auths(&c, "ghcr.io");
        assert_eq!(g[0].1, Credential::basic("u1", "p:1"));
        assert_eq!(
            auths(&c, "127.0.0.1:5000")[0].1,
            Credential::basic("u2", "p:2")
        );
        assert_eq!(
            auths(&c, "acr.example.io")[0].1,
            Credential::IdentityToken {
                token: Secret::new("refresh")
            }
        );
        assert_eq!(
            auths(&c, "reg.example.io")[0].1,
            Credential::RegistryToken {
                token: Secret::new("bearer")
            }
        );
        assert!(c.configured("127.0.0.1:5001").is_none());
        assert!(c.configured("127.0.0.1").is_none());
    }

    #[test]
    fn hub_aliases_and_url_keys() {
        let c = parse(&format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "docker.io": {{"auth": "{}"}},
                "https://registry.example.com:8443/v2/": {{"auth": "{}"}},
                "quay.io": {{}}
            }}}}"#,
            b64("hubold:x"),
            b64("hubnew:y"),
            b64("ex:z")
        ));
        assert_eq!(users(&c, "docker.io"), ["hubnew", "hubold"]);
        assert_eq!(users(&c, "registry.example.com:8443"), ["ex"]);
        assert!(c.configured("quay.io").is_none());
        for alias in ["index.docker.io", "registry-1.docker.io"] {
            let c = parse(&format!(
                r#"{{"auths": {{"{alias}": {{"auth": "{}"}}}}}}"#,
                b64("a:b")
            ));
            assert_eq!(users(&c, "docker.io"), ["a"], "{alias}");
        }
    }

    #[test]
    fn docker_order_cred_helpers_then_store_then_auths() {
        let c = parse(&format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}, "quay.io": {{"auth": "{}"}}}},
                "credHelpers": {{"ghcr.io": "gh", "https://index.docker.io/v1/": "hub"}},
                "credsStore": "desktop"}}"#,
            b64("a:b"),
            b64("c:d")
        ));
        // credHelpers beats the auths entry for the same host.
        assert_eq!(
            c.configured("ghcr.io"),
            Some(Configured::Helper {
                helper: "gh",
                cred_helpers_key: Some("ghcr.io")
            })
        );
        assert!(matches!(
            c.configured("docker.io"),
            Some(Configured::Helper { helper: "hub", .. })
        ));
        // credsStore replaces the auths entries (Docker's nativeStore).
        assert_eq!(
            c.configured("quay.io"),
            Some(Configured::Helper {
                helper: "desktop",
                cred_helpers_key: None
            })
        );
        let c = parse(&format!(
            r#"{{"auths": {{"quay.io": {{"auth": "{}"}}}}, "credsStore": ""}}"#,
            b64("c:d")
        ));
        assert_eq!(users(&c, "quay.io"), ["c"]);
        assert_eq!(helper_server("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(helper_server("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn missing_file_is_empty_malformed_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        let c = DockerConfig::from_path(&p).unwrap();
        assert!(c.configured("docker.io").is_none());

        fs_err::write(&p, r#"{"auths": {"x": {"auth": "c2VjcmV0"#).unwrap();
        let e = DockerConfig::from_path(&p).unwrap_err();
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");

        fs_err::write(&p, r#"{"auths": {"x": {"auth": "!!!notbase64-secret"}}}"#).unwrap();
        let e = DockerConfig::from_path(&p).unwrap_err().to_string();
        assert!(e.contains("base64") && !e.contains("secret"), "{e}");

        fs_err::write(
            &p,
            format!(r#"{{"auths": {{"x": {{"auth": "{}"}}}}}}"#, b64("nocolon")),
        )
        .unwrap();
        let e = DockerConfig::from_path(&p).unwrap_err().to_string();
        assert!(e.contains("user:password") && !e.contains("nocolon"), "{e}");
    }

    #[test]
    fn debug_redacts_passwords() {
        let c = parse(&format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}, "x.io": {{"identitytoken": "tok-secret"}}}}}}"#,
            b64("u:topsecret")
        ));
        let d = format!("{c:?}");
        assert!(!d.contains("topsecret") && !d.contains("tok-secret"), "{d}");
    }
}
