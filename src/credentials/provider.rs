//! Kubelet credential provider plugins: how EKS, GKE and AKS nodes pull
//! from ECR, Artifact Registry and ACR with no pull secret.
//!
//! A `CredentialProviderConfig` (`kubelet.config.k8s.io/v1`, also `v1beta1`
//! and `v1alpha1`) lists plugins with `matchImages` globs; for a matching
//! image the plugin (`<bin dir>/<name> args…`, `env` added) gets a
//! `CredentialProviderRequest` on stdin and answers a
//! `CredentialProviderResponse` whose `auth` keys are matched with the
//! kubelet's keyring rules. Its `cacheKeyType` (`Image`, `Registry`,
//! `Global`) and `cacheDuration` are honoured within a run: a plugin is
//! asked at most once per cache key. Lookups of one plugin for one registry
//! take turns (so a `Registry` answer serves the images queued behind it);
//! other registries and plugins run beside them.

use crate::file_error::without_path;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::exec::{self, ExecError};
use super::keyring::{key_matches, Keyring};
use super::{Candidate, Credential, Source, SourceKind};

const CONFIG_API_VERSIONS: [&str; 3] = [
    "kubelet.config.k8s.io/v1",
    "kubelet.config.k8s.io/v1beta1",
    "kubelet.config.k8s.io/v1alpha1",
];
const PLUGIN_API_VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];

/// One configured plugin.
#[derive(Debug, Clone)]
pub struct Plugin {
    pub name: String,
    pub match_images: Vec<String>,
    pub default_cache_duration: Duration,
    pub api_version: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub program: PathBuf,
}

impl Plugin {
    /// Whether the plugin is asked about `image` (`matchImages`).
    pub fn matches(&self, image: &str) -> bool {
        self.match_images.iter().any(|m| key_matches(m, image))
    }

    /// `credential provider ecr-credential-provider`.
    pub fn label(&self) -> String {
        format!("credential provider {}", self.name)
    }
}

#[derive(Debug, Clone)]
struct Answer {
    /// (key, credential) from `auth`; empty when the plugin had none.
    auth: Vec<(String, Credential)>,
    expires: Option<Instant>,
}

#[derive(Debug, Default)]
struct Cache {
    image: HashMap<String, Answer>,
    registry: HashMap<String, Answer>,
    global: Option<Answer>,
    /// A failure is remembered per registry for the run (asked once).
    failed: HashMap<String, String>,
}

/// Held while one plugin is asked about one registry.
type Turn = Arc<Mutex<()>>;

/// The configured plugins and their answers for this run.
#[derive(Debug)]
pub struct Providers {
    pub config_path: PathBuf,
    plugins: Vec<Plugin>,
    timeout: Duration,
    caches: Vec<Mutex<Cache>>,
    turns: Mutex<HashMap<(usize, String), Turn>>,
    runs: std::sync::atomic::AtomicUsize,
}

impl Providers {
    /// Read and check a `CredentialProviderConfig`; every plugin must be an
    /// executable in `bin_dir` (the kubelet refuses to start otherwise).
    pub fn load(config: &Path, bin_dir: &Path, timeout: Duration) -> Result<Providers, String> {
        let shown = config.display();
        let text = fs_err::read_to_string(config)
            .map_err(|e| format!("{shown}: cannot read: {}", without_path(e, config)))?;
        let value = crate::yaml::value::document(&text).map_err(|e| format!("{shown}: {e}"))?;
        let err = |m: String| format!("{shown}: {m}");
        let api = value
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if !CONFIG_API_VERSIONS.contains(&api) {
            return Err(err(format!(
                "apiVersion {api:?} is not one of {}",
                CONFIG_API_VERSIONS.join(", ")
            )));
        }
        let kind = value.get("kind").and_then(|v| v.as_str()).unwrap_or("");
        if kind != "CredentialProviderConfig" {
            return Err(err(format!(
                "kind {kind:?} is not CredentialProviderConfig"
            )));
        }
        let list = value
            .get("providers")
            .and_then(|v| v.as_array())
            .ok_or_else(|| err("no `providers` list".into()))?;
        let mut plugins = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let at = |m: String| err(format!("providers[{i}]: {m}"));
            let s = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let strings = |k: &str| -> Result<Vec<String>, String> {
                match p.get(k) {
                    None | Some(serde_json::Value::Null) => Ok(Vec::new()),
                    Some(serde_json::Value::Array(a)) => a
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .ok_or_else(|| at(format!("`{k}` holds a non-string")))
                        })
                        .collect(),
                    Some(_) => Err(at(format!("`{k}` is not a list"))),
                }
            };
            let name = s("name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| at("no `name`".into()))?;
            if name.contains(['/', '\\', ' ']) || name == "." || name == ".." {
                return Err(at(format!(
                    "name {name:?} must be a plain file name in the bin dir"
                )));
            }
            if plugins.iter().any(|q: &Plugin| q.name == name) {
                return Err(at(format!("duplicate provider name {name:?}")));
            }
            let match_images = strings("matchImages")?;
            if match_images.is_empty() || match_images.iter().any(String::is_empty) {
                return Err(at(format!(
                    "{name}: `matchImages` must list at least one non-empty pattern"
                )));
            }
            let dur = s("defaultCacheDuration")
                .ok_or_else(|| at(format!("{name}: `defaultCacheDuration` is required")))?;
            let default_cache_duration = parse_duration(&dur).ok_or_else(|| {
                at(format!(
                    "{name}: defaultCacheDuration {dur:?} is not a duration such as 12h or 5m30s"
                ))
            })?;
            let api_version = s("apiVersion").unwrap_or_default();
            if !PLUGIN_API_VERSIONS.contains(&api_version.as_str()) {
                return Err(at(format!(
                    "{name}: apiVersion {api_version:?} is not one of {}",
                    PLUGIN_API_VERSIONS.join(", ")
                )));
            }
            let mut env = Vec::new();
            if let Some(list) = p.get("env").and_then(|v| v.as_array()) {
                for e in list {
                    let n = e.get("name").and_then(|v| v.as_str()).unwrap_or("");
                    let v = e.get("value").and_then(|v| v.as_str()).unwrap_or("");
                    if n.is_empty() {
                        return Err(at(format!("{name}: an `env` entry has no name")));
                    }
                    env.push((n.to_string(), v.to_string()));
                }
            }
            let program = bin_dir.join(&name);
            if !exec::is_executable(&program) {
                return Err(at(format!(
                    "{name}: no executable {} (--credential-provider-bin-dir)",
                    program.display()
                )));
            }
            plugins.push(Plugin {
                name,
                match_images,
                default_cache_duration,
                api_version,
                args: strings("args")?,
                env,
                program,
            });
        }
        let caches = plugins
            .iter()
            .map(|_| Mutex::new(Cache::default()))
            .collect();
        Ok(Providers {
            config_path: config.to_owned(),
            plugins,
            timeout,
            caches,
            turns: Mutex::new(HashMap::new()),
            runs: Default::default(),
        })
    }

    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    /// How many times a plugin was started this run.
    pub fn runs(&self) -> usize {
        self.runs.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Candidates for `image` from every matching plugin (their `auth`
    /// maps form one keyring, as in the kubelet), and the plugins that failed.
    pub fn lookup(&self, image: &str) -> (Vec<Candidate>, Vec<String>) {
        let mut keyring = Keyring::new();
        let mut failures = Vec::new();
        for (i, p) in self.plugins.iter().enumerate() {
            if !p.matches(image) {
                continue;
            }
            match self.provide(i, image) {
                Ok(auth) => {
                    for (key, cred) in auth {
                        let source = Source {
                            kind: SourceKind::CredentialProvider,
                            label: format!("{} (key {key})", p.label()),
                        };
                        keyring.add(&key, Candidate::new(cred, source));
                    }
                }
                Err(why) => failures.push(format!("{} failed: {why}", p.label())),
            }
        }
        let found = keyring.lookup_cloned(image);
        (found, failures)
    }

    fn provide(&self, i: usize, image: &str) -> Result<Vec<(String, Credential)>, String> {
        let registry = image.split('/').next().unwrap_or(image).to_string();
        let turn = self
            .turns
            .lock()
            .unwrap()
            .entry((i, registry.clone()))
            .or_default()
            .clone();
        let _turn = turn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let fresh = |a: &Answer| a.expires.is_none_or(|e| now < e);
        {
            let cache = self.caches[i].lock().unwrap();
            if let Some(why) = cache.failed.get(&registry) {
                return Err(why.clone());
            }
            let hit = cache
                .image
                .get(image)
                .filter(|a| fresh(a))
                .or_else(|| cache.registry.get(&registry).filter(|a| fresh(a)))
                .or_else(|| cache.global.as_ref().filter(|a| fresh(a)));
            if let Some(a) = hit {
                return Ok(a.auth.clone());
            }
        }
        match self.run(&self.plugins[i], image) {
            Ok((key_type, answer)) => {
                let auth = answer.auth.clone();
                if answer.expires.is_some_and(|e| e <= now) {
                    return Ok(auth); // cacheDuration 0: not cached.
                }
                let mut cache = self.caches[i].lock().unwrap();
                match key_type {
                    CacheKey::Image => {
                        cache.image.insert(image.to_string(), answer);
                    }
                    CacheKey::Registry => {
                        cache.registry.insert(registry, answer);
                    }
                    CacheKey::Global => cache.global = Some(answer),
                }
                Ok(auth)
            }
            Err(why) => {
                self.caches[i]
                    .lock()
                    .unwrap()
                    .failed
                    .insert(registry, why.clone());
                Err(why)
            }
        }
    }

    fn run(&self, p: &Plugin, image: &str) -> Result<(CacheKey, Answer), String> {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let request = serde_json::json!({
            "apiVersion": p.api_version,
            "kind": "CredentialProviderRequest",
            "image": image,
        })
        .to_string();
        let out = match exec::run(
            &p.program,
            &p.args,
            &p.env,
            request.as_bytes(),
            self.timeout,
        ) {
            Ok(o) => o,
            Err(ExecError::NotFound) => {
                return Err(format!("{} is not executable", p.program.display()))
            }
            Err(ExecError::TimedOut(t)) => {
                return Err(format!(
                    "timed out after {}s and was stopped ({})",
                    t.as_secs(),
                    by_hand(p, &request)
                ))
            }
            Err(ExecError::Io(e)) => {
                return Err(format!("could not run {}: {e}", p.program.display()))
            }
        };
        if !out.success {
            return Err(format!("{} ({})", out.status, by_hand(p, &request)));
        }
        parse_response(&out.stdout, p)
    }
}

/// How to see a plugin's own message, which is never shown (it may hold
/// a secret): the command to run by hand.
fn by_hand(p: &Plugin, request: &str) -> String {
    use super::helper::shell_word;
    let mut cmd = format!("echo {} | ", shell_word(request));
    cmd.push_str(&shell_word(&p.program.display().to_string()));
    for a in &p.args {
        cmd.push(' ');
        cmd.push_str(&shell_word(a));
    }
    let env = if p.env.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = p.env.iter().map(|(k, _)| k.as_str()).collect();
        format!(" with {} set as in its config entry", names.join(", "))
    };
    format!("its output is not shown, as it may hold a secret; to see it, run `{cmd}`{env}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheKey {
    Image,
    Registry,
    Global,
}

/// Read a `CredentialProviderResponse`; errors never quote the reply.
fn parse_response(stdout: &[u8], p: &Plugin) -> Result<(CacheKey, Answer), String> {
    let v: serde_json::Value = serde_json::from_slice(stdout).map_err(|_| {
        "answered something that is not a CredentialProviderResponse JSON".to_string()
    })?;
    let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    if kind != "CredentialProviderResponse" {
        return Err(format!(
            "answered kind {kind:?}, not CredentialProviderResponse"
        ));
    }
    let api = v.get("apiVersion").and_then(|k| k.as_str()).unwrap_or("");
    if api != p.api_version {
        return Err(format!(
            "answered apiVersion {api:?}, but was asked with {}",
            p.api_version
        ));
    }
    let key_type = match v.get("cacheKeyType").and_then(|k| k.as_str()) {
        Some("Image") => CacheKey::Image,
        Some("Registry") => CacheKey::Registry,
        Some("Global") => CacheKey::Global,
        other => {
            return Err(format!(
                "cacheKeyType {other:?} is not Image, Registry or Global"
            ))
        }
    };
    let duration = match v.get("cacheDuration").and_then(|d| d.as_str()) {
        Some(d) => {
            parse_duration(d).ok_or_else(|| format!("cacheDuration {d:?} is not a duration"))?
        }
        None => p.default_cache_duration,
    };
    let mut auth = Vec::new();
    if let Some(map) = v.get("auth").and_then(|a| a.as_object()) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for key in keys {
            let e = &map[key];
            let user = e.get("username").and_then(|u| u.as_str()).unwrap_or("");
            let pass = e.get("password").and_then(|u| u.as_str()).unwrap_or("");
            auth.push((key.clone(), Credential::basic(user, pass)));
        }
    }
    Ok((
        key_type,
        Answer {
            auth,
            expires: Instant::now().checked_add(duration),
        },
    ))
}

/// Go's `time.ParseDuration` for the units a cache duration uses
/// (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`; decimals; `0`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return None;
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43200)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("5m0s"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in ["", "12", "h", "-1s", "1d", "1h x"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    fn plugin() -> Plugin {
        Plugin {
            name: "p".into(),
            match_images: vec!["*.example.com".into()],
            default_cache_duration: Duration::from_secs(60),
            api_version: PLUGIN_API_VERSIONS[0].into(),
            args: vec![],
            env: vec![],
            program: "/bin/false".into(),
        }
    }

    #[test]
    fn responses() {
        let p = plugin();
        let ok = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"5m","auth":{"b.example.com":{"username":"u","password":"s3cret"},"a.example.com":{"username":"v","password":"w"}}}"#;
        let (k, a) = parse_response(ok, &p).unwrap();
        assert_eq!(k, CacheKey::Registry);
        assert_eq!(a.auth[0].0, "a.example.com");
        assert_eq!(a.auth[1].1, Credential::basic("u", "s3cret"));
        let wrong_api = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","kind":"CredentialProviderResponse","cacheKeyType":"Image"}"#;
        assert!(parse_response(wrong_api, &p)
            .unwrap_err()
            .contains("apiVersion"));
        let no_key = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","auth":{"x":{"username":"u","password":"s3cret"}}}"#;
        let e = parse_response(no_key, &p).unwrap_err();
        assert!(e.contains("cacheKeyType") && !e.contains("s3cret"));
        assert!(p.matches("a.example.com/x/y"));
        assert!(!p.matches("example.com/x"));
    }
}
