//! Kubernetes pull secrets: `kubernetes.io/dockerconfigjson` (key
//! `.dockerconfigjson`, `{"auths": {…}}`) and `kubernetes.io/dockercfg`
//! (key `.dockercfg`, the bare map), under `data` (base64) or `stringData`.
//!
//! [`SecretIndex`] holds the Secrets and ServiceAccounts found in the
//! scanned files and `--pull-secret` files, and answers which credentials a
//! pod has: its `imagePullSecrets`, or when it names none, those of its
//! ServiceAccount (`serviceAccountName`, else `default`) when that
//! ServiceAccount is among the scanned files. All of a pod's Secrets form
//! one keyring, as in the kubelet's `MakeDockerKeyring`.

use crate::file_error::without_path;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use super::docker_config::parse_auths;
use super::keyring::Keyring;
use super::{Candidate, Credential, Source, SourceKind};
use crate::scan::{PodRef, SecretManifest, ServiceAccountManifest};

pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub const DOCKERCFG: &str = "kubernetes.io/dockercfg";

/// The most one Secret may hold: 1 MiB, the limit the Kubernetes API server
/// enforces, so a larger one was never applied to a cluster. Past it the
/// Secret is refused before its JSON is read.
pub const MAX_SECRET_BYTES: usize = 1024 * 1024;

fn too_large(key: &str, bytes: usize) -> String {
    format!(
        "{key:?} holds {bytes} bytes, more than the {MAX_SECRET_BYTES} bytes (1 MiB) Kubernetes allows in one Secret; split the registries over several Secrets"
    )
}

/// A usable pull secret: its registry entries.
#[derive(Debug, Clone)]
pub struct PullSecret {
    pub namespace: String,
    pub name: String,
    pub secret_type: String,
    /// (key as written, credential), keys sorted.
    pub entries: Vec<(String, Credential)>,
    pub file: PathBuf,
    pub line: usize,
}

impl PullSecret {
    /// `Secret team-a/regcred (kubernetes.io/dockerconfigjson, key registry.example.com)`.
    pub fn label(&self, key: &str) -> String {
        format!(
            "Secret {}/{} ({}, key {key})",
            self.namespace, self.name, self.secret_type
        )
    }

    fn candidates(&self, kind: SourceKind, suffix: &str) -> Vec<(String, Candidate)> {
        self.entries
            .iter()
            .map(|(key, cred)| {
                let source = Source {
                    kind,
                    label: format!("{}{suffix}", self.label(key)),
                };
                (key.clone(), Candidate::new(cred.clone(), source))
            })
            .collect()
    }
}

/// Read a Secret manifest. `Ok(None)` when it is not a pull-secret type;
/// errors say what is wrong without quoting any value.
pub fn decode(m: &SecretManifest, default_namespace: &str) -> Result<Option<PullSecret>, String> {
    let secret_type = m.secret_type.clone().unwrap_or_default();
    let key = match secret_type.as_str() {
        DOCKER_CONFIG_JSON => ".dockerconfigjson",
        DOCKERCFG => ".dockercfg",
        _ => return Ok(None),
    };
    let namespace = m
        .namespace
        .clone()
        .unwrap_or_else(|| default_namespace.to_string());
    let name = m.name.clone().unwrap_or_default();
    // stringData wins over data, as the API server merges them.
    let raw: Vec<u8> = if let Some((_, v)) = m.string_data.iter().find(|(k, _)| k == key) {
        if v.expose().len() > MAX_SECRET_BYTES {
            return Err(too_large(key, v.expose().len()));
        }
        v.expose().as_bytes().to_vec()
    } else if let Some((_, v)) = m.data.iter().find(|(k, _)| k == key) {
        let compact: String = v
            .expose()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        // Decoded size, from the base64 length (padding aside).
        let decoded = compact.len() / 4 * 3;
        if decoded > MAX_SECRET_BYTES + 2 {
            return Err(too_large(key, decoded));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| format!("data[{key:?}] is not valid base64"))?;
        if raw.len() > MAX_SECRET_BYTES {
            return Err(too_large(key, raw.len()));
        }
        raw
    } else {
        return Err(format!(
            "type {secret_type} but no {key:?} key under data or stringData"
        ));
    };
    let value: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| {
        format!(
            "{key:?} is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let map = if secret_type == DOCKER_CONFIG_JSON {
        value
            .get("auths")
            .cloned()
            .ok_or_else(|| format!("{key:?} has no `auths` object"))?
    } else {
        value
    };
    let entries = parse_auths(&map, key)?;
    Ok(Some(PullSecret {
        namespace,
        name,
        secret_type,
        entries,
        file: m.file.clone(),
        line: m.line,
    }))
}

/// The credentials of one pod: its Secrets as one keyring.
#[derive(Debug)]
pub struct PodSecrets {
    /// `team-a/regcred`, in the pod's order (found or not).
    pub names: Vec<String>,
    /// How they were chosen: `imagePullSecrets` or `ServiceAccount team-a/builder`.
    pub via: String,
    keyring: Keyring<Candidate>,
}

impl PodSecrets {
    /// Candidates for `repository`, the kubelet's way.
    pub fn lookup(&self, repository: &str) -> Vec<Candidate> {
        self.keyring.lookup_cloned(repository)
    }

    /// `pod imagePullSecrets [team-a/regcred]`.
    pub fn describe(&self) -> String {
        format!("pod {} [{}]", self.via, self.names.join(", "))
    }
}

/// A `--pull-secret` file: Secret manifests or a docker `config.json`.
#[derive(Debug)]
pub struct PullSecretFile {
    pub label: String,
    keyring: Keyring<Candidate>,
}

impl PullSecretFile {
    /// Candidates for `repository`, the kubelet's way.
    pub fn lookup(&self, repository: &str) -> Vec<Candidate> {
        self.keyring.lookup_cloned(repository)
    }

    /// Build from the Secret manifests a file holds, or from a docker
    /// config's content when it holds none.
    pub fn load(
        path: &Path,
        secrets: &[SecretManifest],
        default_namespace: &str,
    ) -> Result<PullSecretFile, String> {
        let shown = path.display().to_string();
        let label = format!("--pull-secret {shown}");
        let mut keyring = Keyring::new();
        if !secrets.is_empty() {
            let mut usable = 0;
            for m in secrets {
                match decode(m, default_namespace) {
                    Ok(Some(s)) => {
                        usable += 1;
                        keyring.extend(s.candidates(
                            SourceKind::PullSecretFile,
                            &format!(" from --pull-secret {shown}"),
                        ));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        return Err(format!(
                            "{shown}:{}: Secret {}: {e}",
                            m.line,
                            m.name.as_deref().unwrap_or("?")
                        ))
                    }
                }
            }
            if usable == 0 {
                return Err(format!(
                    "{shown}: no Secret of type {DOCKER_CONFIG_JSON} or {DOCKERCFG} in it"
                ));
            }
            return Ok(PullSecretFile { label, keyring });
        }
        let text = fs_err::read_to_string(path)
            .map_err(|e| format!("{shown}: cannot read: {}", without_path(e, path)))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            format!("{shown}: neither a Secret manifest nor a docker config.json ({{\"auths\": {{…}}}})")
        })?;
        let auths = value.get("auths").ok_or_else(|| {
            format!("{shown}: a JSON file without `auths`: not a docker config.json")
        })?;
        let entries = parse_auths(auths, "auths").map_err(|e| format!("{shown}: {e}"))?;
        keyring.extend(entries.into_iter().map(|(key, cred)| {
            let source = Source {
                kind: SourceKind::PullSecretFile,
                label: format!("--pull-secret {shown} auths[{key:?}]"),
            };
            (key, Candidate::new(cred, source))
        }));
        Ok(PullSecretFile { label, keyring })
    }
}

/// (namespace, how chosen, secret names): pods that share it share credentials.
type PodKey = (String, String, Vec<String>);

/// Secrets and ServiceAccounts by namespace and name.
#[derive(Debug)]
pub struct SecretIndex {
    default_namespace: String,
    secrets: HashMap<(String, String), Result<Arc<PullSecret>, String>>,
    service_accounts: HashMap<(String, String), Vec<String>>,
    pods: Mutex<HashMap<PodKey, Arc<PodSecrets>>>,
}

/// A problem with a pod's pull secrets: the pull may still work.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodWarning(pub String);

impl SecretIndex {
    pub fn new(default_namespace: &str) -> SecretIndex {
        SecretIndex {
            default_namespace: default_namespace.to_string(),
            secrets: HashMap::new(),
            service_accounts: HashMap::new(),
            pods: Mutex::new(HashMap::new()),
        }
    }

    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// (namespace, name) of a manifest, the namespace defaulted.
    fn key(&self, namespace: &Option<String>, name: &Option<String>) -> Option<(String, String)> {
        let ns = namespace
            .clone()
            .unwrap_or_else(|| self.default_namespace.clone());
        Some((ns, name.clone()?))
    }

    /// Remember a Secret manifest (any type; only pull secrets are usable).
    pub fn add_secret(&mut self, m: &SecretManifest) {
        let Some(key) = self.key(&m.namespace, &m.name) else {
            return;
        };
        let value = match decode(m, &self.default_namespace) {
            Ok(Some(s)) => Ok(Arc::new(s)),
            Ok(None) => Err(format!(
                "is of type {}, not {DOCKER_CONFIG_JSON} or {DOCKERCFG}; the kubelet ignores it",
                m.secret_type.as_deref().unwrap_or("Opaque")
            )),
            Err(e) => Err(format!(
                "cannot be used ({}:{}): {e}",
                m.file.display(),
                m.line
            )),
        };
        self.secrets.entry(key).or_insert(value);
    }

    pub fn add_service_account(&mut self, m: &ServiceAccountManifest) {
        let Some(key) = self.key(&m.namespace, &m.name) else {
            return;
        };
        self.service_accounts
            .entry(key)
            .or_insert_with(|| m.pull_secrets.clone());
    }

    /// The Secrets a pod pulls with. `workload` names it in warnings
    /// (`Deployment team-a/app`). `None` when it has none.
    pub fn pod_secrets(
        &self,
        namespace: Option<&str>,
        pod: &PodRef,
        workload: &str,
        warnings: &mut Vec<PodWarning>,
    ) -> Option<Arc<PodSecrets>> {
        let ns = namespace.unwrap_or(&self.default_namespace).to_string();
        let (names, via) = if !pod.pull_secrets.is_empty() {
            (pod.pull_secrets.clone(), "imagePullSecrets".to_string())
        } else {
            let sa = pod.service_account.as_deref().unwrap_or("default");
            let names = self.service_accounts.get(&(ns.clone(), sa.to_string()))?;
            if names.is_empty() {
                return None;
            }
            (
                names.clone(),
                format!("ServiceAccount {ns}/{sa} imagePullSecrets"),
            )
        };
        let mut found = Vec::new();
        for name in &names {
            match self.secrets.get(&(ns.clone(), name.clone())) {
                None => warnings.push(PodWarning(format!(
                    "{workload} names pull secret {ns}/{name} ({via}), which is in none of the scanned files nor a --pull-secret file; resolution goes on without it"
                ))),
                Some(Err(why)) => warnings.push(PodWarning(format!(
                    "{workload}: pull secret {ns}/{name} {why}"
                ))),
                Some(Ok(s)) => found.push(s.clone()),
            }
        }
        // The keyring is built once per credential set, not per workload:
        // a large Secret shared by many pods is read once.
        let cache_key = (ns.clone(), via.clone(), names.clone());
        let mut pods = self.pods.lock().unwrap();
        Some(
            pods.entry(cache_key)
                .or_insert_with(|| {
                    let mut keyring = Keyring::new();
                    for s in &found {
                        keyring.extend(s.candidates(SourceKind::PodSecret, ""));
                    }
                    Arc::new(PodSecrets {
                        names: names.iter().map(|n| format!("{ns}/{n}")).collect(),
                        via,
                        keyring,
                    })
                })
                .clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn manifest(
        ns: Option<&str>,
        name: &str,
        ty: &str,
        data: &[(&str, &str)],
        string_data: &[(&str, &str)],
    ) -> SecretManifest {
        let conv = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), Secret::new(*v)))
                .collect()
        };
        SecretManifest {
            file: "s.yaml".into(),
            line: 1,
            namespace: ns.map(str::to_string),
            name: Some(name.into()),
            secret_type: Some(ty.into()),
            data: conv(data),
            string_data: conv(string_data),
        }
    }

    fn users(c: &[Candidate]) -> Vec<String> {
        c.iter()
            .map(|c| match &c.credential {
                Credential::Basic { username, .. } => username.clone(),
                other => other.describe(),
            })
            .collect()
    }

    #[test]
    fn both_types_data_and_string_data() {
        let json = format!(r#"{{"auths":{{"reg.io":{{"auth":"{}"}}}}}}"#, b64("a:1"));
        let m = manifest(
            Some("ns"),
            "s1",
            DOCKER_CONFIG_JSON,
            &[(".dockerconfigjson", &b64(&json))],
            &[],
        );
        let s = decode(&m, "default").unwrap().unwrap();
        assert_eq!(s.entries[0].0, "reg.io");
        assert_eq!(
            s.label("reg.io"),
            "Secret ns/s1 (kubernetes.io/dockerconfigjson, key reg.io)"
        );

        let cfg = r#"{"https://reg.io":{"username":"b","password":"2"}}"#;
        let m = manifest(None, "s2", DOCKERCFG, &[], &[(".dockercfg", cfg)]);
        let s = decode(&m, "team").unwrap().unwrap();
        assert_eq!(s.namespace, "team");
        assert_eq!(
            users(
                &s.candidates(SourceKind::PodSecret, "")
                    .into_iter()
                    .map(|c| c.1)
                    .collect::<Vec<_>>()
            ),
            ["b"]
        );

        let m = manifest(None, "o", "Opaque", &[], &[]);
        assert!(decode(&m, "d").unwrap().is_none());
        let m = manifest(
            None,
            "bad",
            DOCKER_CONFIG_JSON,
            &[(".dockerconfigjson", "%%%secret%%%")],
            &[],
        );
        let e = decode(&m, "d").unwrap_err();
        assert!(e.contains("base64") && !e.contains("secret%"), "{e}");
        let m = manifest(None, "nokey", DOCKER_CONFIG_JSON, &[], &[]);
        assert!(decode(&m, "d").unwrap_err().contains(".dockerconfigjson"));
    }

    #[test]
    fn pod_then_service_account_and_missing_warnings() {
        let json = |u: &str| {
            format!(
                r#"{{"auths":{{"reg.io":{{"auth":"{}"}}}}}}"#,
                b64(&format!("{u}:x"))
            )
        };
        let mut idx = SecretIndex::new("default");
        idx.add_secret(&manifest(
            Some("a"),
            "one",
            DOCKER_CONFIG_JSON,
            &[],
            &[(".dockerconfigjson", &json("u1"))],
        ));
        idx.add_secret(&manifest(
            Some("a"),
            "two",
            DOCKER_CONFIG_JSON,
            &[],
            &[(".dockerconfigjson", &json("u2"))],
        ));
        idx.add_secret(&manifest(Some("a"), "opaque", "Opaque", &[], &[]));
        idx.add_service_account(&ServiceAccountManifest {
            file: "sa.yaml".into(),
            line: 1,
            namespace: Some("a".into()),
            name: Some("builder".into()),
            pull_secrets: vec!["two".into()],
        });
        let mut w = Vec::new();
        let pod = PodRef {
            pull_secrets: vec!["one".into(), "gone".into(), "opaque".into()],
            service_account: None,
        };
        let p = idx
            .pod_secrets(Some("a"), &pod, "Deployment a/app", &mut w)
            .unwrap();
        assert_eq!(users(&p.lookup("reg.io/x")), ["u1"]);
        assert_eq!(
            p.describe(),
            "pod imagePullSecrets [a/one, a/gone, a/opaque]"
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].0.contains("Deployment a/app") && w[0].0.contains("a/gone"));
        assert!(w[1].0.contains("Opaque"));

        let pod = PodRef {
            pull_secrets: vec![],
            service_account: Some("builder".into()),
        };
        let p = idx.pod_secrets(Some("a"), &pod, "Job a/j", &mut w).unwrap();
        assert_eq!(users(&p.lookup("reg.io/x")), ["u2"]);
        assert!(p.describe().contains("ServiceAccount a/builder"));
        // No ServiceAccount manifest for `default`: no pod credentials.
        let pod = PodRef::default();
        assert!(idx
            .pod_secrets(Some("a"), &pod, "Pod a/p", &mut w)
            .is_none());
        // Same secrets, same Arc: one question per distinct credential set.
        let pod = PodRef {
            pull_secrets: vec!["one".into()],
            service_account: None,
        };
        let x = idx.pod_secrets(Some("a"), &pod, "x", &mut w).unwrap();
        let y = idx.pod_secrets(Some("a"), &pod, "y", &mut w).unwrap();
        assert!(Arc::ptr_eq(&x, &y));
    }
}
