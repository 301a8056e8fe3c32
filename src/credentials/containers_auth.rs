//! containers `auth.json` (podman, skopeo, buildah): `$REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/containers/auth.json`).
//!
//! Keys may carry a repository path (`quay.io/org`); for an image the
//! longest matching key wins (`quay.io/org/app`, then `quay.io/org`, then
//! `quay.io`), and the first file with a match answers, as in
//! containers/image.

use crate::file_error::without_path;
use std::path::{Path, PathBuf};

use super::docker_config::{host_of_key, parse_auths};
use super::{Candidate, Credential, Source, SourceKind};

/// One `auth.json`.
#[derive(Debug, Clone)]
pub struct AuthFile {
    path: PathBuf,
    /// (normalised key: `host[/path]`, key as written, credential).
    entries: Vec<(String, String, Credential)>,
}

impl AuthFile {
    /// The files containers/image reads, in order (existing or not).
    pub fn default_paths() -> Vec<PathBuf> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let mut out = Vec::new();
        if let Some(p) = env("REGISTRY_AUTH_FILE") {
            out.push(p);
        } else if let Some(run) = env("XDG_RUNTIME_DIR") {
            out.push(run.join("containers/auth.json"));
        }
        let config = env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| h.join(".config")));
        if let Some(c) = config {
            out.push(c.join("containers/auth.json"));
        }
        out.dedup();
        out
    }

    /// Load `path`; a missing file is `Ok(None)`.
    pub fn load(path: &Path) -> Result<Option<AuthFile>, String> {
        let text = match fs_err::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                let e = without_path(e, path);
                return Err(format!("{}: cannot read: {e}", path.display()));
            }
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
        let mut entries = Vec::new();
        if let Some(a) = value.get("auths").filter(|v| !v.is_null()) {
            for (key, cred) in
                parse_auths(a, "auths").map_err(|e| format!("{}: {e}", path.display()))?
            {
                entries.push((normalise(&key), key, cred));
            }
        }
        Ok(Some(AuthFile {
            path: path.to_owned(),
            entries,
        }))
    }

    /// `~/.config/containers/auth.json`, for labels.
    pub fn display_path(&self) -> String {
        super::tilde(&self.path)
    }

    /// The entry for `repository` (longest matching key), if any.
    pub fn lookup(&self, repository: &str) -> Option<Candidate> {
        let mut scope = repository.to_string();
        loop {
            if let Some((_, key, cred)) = self.entries.iter().find(|(n, _, _)| *n == scope) {
                return Some(Candidate::new(
                    cred.clone(),
                    Source {
                        kind: SourceKind::ContainersAuth,
                        label: format!("{} auths[{key:?}]", self.display_path()),
                    },
                ));
            }
            match scope.rfind('/') {
                Some(i) => scope.truncate(i),
                None => return None,
            }
        }
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `Quay.io/Org` → `quay.io/Org`.
fn normalise(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let (host, path) = k.split_once('/').unwrap_or((k, ""));
    let host = host_of_key(host);
    let path = path.trim_end_matches('/');
    // Legacy Docker Hub keys carry a `/v1` or `/v2` path that means the registry.
    if path.is_empty() || path == "v1" || path == "v2" {
        host
    } else {
        format!("{host}/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn longest_path_wins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.json");
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        fs_err::write(
            &p,
            format!(
                r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "quay.io/org": {{"auth": "{}"}}, "quay.io/org/app": {{"auth": "{}"}}, "https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
                b("host:1"),
                b("org:2"),
                b("app:3"),
                b("hub:4")
            ),
        )
        .unwrap();
        let f = AuthFile::load(&p).unwrap().unwrap();
        let user = |repo: &str| match f.lookup(repo).map(|c| c.credential) {
            Some(Credential::Basic { username, .. }) => username,
            other => format!("{other:?}"),
        };
        assert_eq!(user("quay.io/org/app"), "app");
        assert_eq!(user("quay.io/org/other"), "org");
        assert_eq!(user("quay.io/elsewhere/x"), "host");
        assert_eq!(user("docker.io/library/nginx"), "hub");
        assert!(f.lookup("ghcr.io/org/app").is_none());
        assert!(f
            .lookup("quay.io/org/app")
            .unwrap()
            .source
            .label
            .ends_with(r#"auths["quay.io/org/app"]"#));
        assert!(AuthFile::load(&dir.path().join("none.json"))
            .unwrap()
            .is_none());
    }
}
