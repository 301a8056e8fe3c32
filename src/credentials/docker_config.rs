//! Credentials from Docker's `config.json` (`auths` only).
//!
//! Only plain entries are read: `auth` (base64 `user:pass`) or
//! `username`/`password`. Credential helpers (`credsStore`, `credHelpers`)
//! and `identitytoken` entries are ignored here; a later store adds them.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::{Credential, CredentialStore};

/// Why a docker config file could not be used. Names the path; never quotes
/// the file's content (it holds secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("docker config {}: {reason}", path.display())]
pub struct DockerConfigError {
    pub path: PathBuf,
    pub reason: String,
}

/// Credentials read from one `config.json`.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    path: Option<PathBuf>,
    /// (normalised registry, credential) in file order (keys sorted).
    entries: Vec<(String, String, Credential)>,
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
    pub fn load() -> Result<DockerConfig, DockerConfigError> {
        match Self::default_path() {
            Some(p) => Self::from_path(&p),
            None => Ok(DockerConfig::default()),
        }
    }

    /// Same as [`DockerConfig::load`] (the name the commands use).
    pub fn load_default() -> Result<DockerConfig, DockerConfigError> {
        Self::load()
    }

    /// Load from `path`. A missing file means no credentials; a malformed
    /// one is an error naming the path.
    pub fn from_path(path: &Path) -> Result<DockerConfig, DockerConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig {
                    path: Some(path.to_owned()),
                    entries: Vec::new(),
                })
            }
            Err(e) => {
                return Err(DockerConfigError {
                    path: path.to_owned(),
                    reason: format!("cannot read: {e}"),
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
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            // serde_json's messages carry only line/column, never content.
            err(format!("not valid JSON: {e}"))
        })?;
        let obj = value
            .as_object()
            .ok_or_else(|| err("top level is not a JSON object".into()))?;
        let mut entries = Vec::new();
        if let Some(auths) = obj.get("auths") {
            let auths = auths
                .as_object()
                .ok_or_else(|| err("`auths` is not an object".into()))?;
            for (key, entry) in auths {
                let entry = entry
                    .as_object()
                    .ok_or_else(|| err(format!("`auths.{key}` is not an object")))?;
                let field = |name: &str| -> Result<Option<&str>, DockerConfigError> {
                    match entry.get(name) {
                        None | Some(serde_json::Value::Null) => Ok(None),
                        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
                        Some(serde_json::Value::String(s)) => Ok(Some(s)),
                        Some(_) => Err(err(format!("`auths.{key}.{name}` is not a string"))),
                    }
                };
                let cred = if let Some(auth) = field("auth")? {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .map_err(|_| err(format!("`auths.{key}.auth` is not valid base64")))?;
                    let raw = String::from_utf8(raw)
                        .map_err(|_| err(format!("`auths.{key}.auth` is not UTF-8")))?;
                    let (user, pass) = raw.split_once(':').ok_or_else(|| {
                        err(format!(
                            "`auths.{key}.auth` does not decode to `user:password`"
                        ))
                    })?;
                    Credential::new(user, pass)
                } else if let (Some(user), Some(pass)) = (field("username")?, field("password")?) {
                    Credential::new(user, pass)
                } else {
                    // `{}` (credsStore users) or identitytoken-only: nothing here.
                    continue;
                };
                entries.push((normalise_key(key), key.clone(), cred));
            }
        }
        Ok(DockerConfig {
            path: Some(path.to_owned()),
            entries,
        })
    }

    /// The file this was read from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl CredentialStore for DockerConfig {
    fn lookup(&self, registry: &str) -> Vec<Credential> {
        let registry = normalise_key(registry);
        // Keys written exactly as the registry come first, then the other
        // spellings (`https://host/...`, Hub aliases).
        let mut exact = Vec::new();
        let mut other = Vec::new();
        for (norm, key, cred) in &self.entries {
            if *norm == registry {
                if key.eq_ignore_ascii_case(&registry) {
                    exact.push(cred.clone());
                } else {
                    other.push(cred.clone());
                }
            }
        }
        exact.extend(other);
        exact
    }
}

/// `https://index.docker.io/v1/` → `docker.io`, `https://host:5000/x` →
/// `host:5000`, `Host` → `host`.
fn normalise_key(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
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

    fn users(c: &DockerConfig, reg: &str) -> Vec<String> {
        c.lookup(reg).into_iter().map(|c| c.username).collect()
    }

    #[test]
    fn auth_and_username_password() {
        let c = parse(&format!(
            r#"{{"auths": {{
                "ghcr.io": {{"auth": "{}"}},
                "127.0.0.1:5000": {{"username": "u2", "password": "p:2"}}
            }}}}"#,
            b64("u1:p:1")
        ));
        let g = c.lookup("ghcr.io");
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].username, "u1");
        assert_eq!(g[0].password.expose(), "p:1");
        let l = c.lookup("127.0.0.1:5000");
        assert_eq!(l[0].username, "u2");
        assert_eq!(l[0].password.expose(), "p:2");
        assert!(c.lookup("127.0.0.1:5001").is_empty());
        assert!(c.lookup("127.0.0.1").is_empty());
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
        assert!(c.lookup("quay.io").is_empty());
        for alias in ["index.docker.io", "registry-1.docker.io"] {
            let c = parse(&format!(
                r#"{{"auths": {{"{alias}": {{"auth": "{}"}}}}}}"#,
                b64("a:b")
            ));
            assert_eq!(users(&c, "docker.io"), ["a"], "{alias}");
        }
    }

    #[test]
    fn missing_file_is_empty_malformed_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        let c = DockerConfig::from_path(&p).unwrap();
        assert!(c.lookup("docker.io").is_empty());

        std::fs::write(&p, r#"{"auths": {"x": {"auth": "c2VjcmV0"#).unwrap();
        let e = DockerConfig::from_path(&p).unwrap_err();
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");

        std::fs::write(&p, r#"{"auths": {"x": {"auth": "!!!notbase64-secret"}}}"#).unwrap();
        let e = DockerConfig::from_path(&p).unwrap_err().to_string();
        assert!(e.contains("base64") && !e.contains("secret"), "{e}");

        std::fs::write(
            &p,
            format!(r#"{{"auths": {{"x": {{"auth": "{}"}}}}}}"#, b64("nocolon")),
        )
        .unwrap();
        let e = DockerConfig::from_path(&p).unwrap_err().to_string();
        assert!(e.contains("user:password") && !e.contains("nocolon"), "{e}");
    }

    #[test]
    fn credsstore_only_and_no_auths() {
        let c = parse(r#"{"credsStore": "desktop", "auths": {"docker.io": {}}}"#);
        assert!(c.lookup("docker.io").is_empty());
        let c = parse(r#"{}"#);
        assert!(c.lookup("docker.io").is_empty());
    }

    #[test]
    fn debug_redacts_passwords() {
        let c = parse(&format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#,
            b64("u:topsecret")
        ));
        assert!(!format!("{c:?}").contains("topsecret"));
    }

    #[test]
    fn default_path_prefers_docker_config() {
        // Read-only check of the rule without touching the process env.
        let p = DockerConfig::default_path();
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            assert_eq!(p, Some(PathBuf::from(dir).join("config.json")));
        } else if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            assert_eq!(p, Some(PathBuf::from(home).join(".docker/config.json")));
        }
    }
}
