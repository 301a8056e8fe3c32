//! Test harness: a real `docker-registry` (CNCF distribution 2.8) on
//! 127.0.0.1, with push helpers, skopeo as the oracle, a token server and a
//! fault-injecting proxy.
//!
//! Everything here is synchronous so end-to-end tests that drive the binary
//! can use it as well as async library tests (HTTP work runs on a private
//! runtime in a scoped thread).
//!
//! [`creds`] writes docker credential helpers and kubelet credential
//! provider plugins (small `sh` scripts) for tests to put on `PATH`.
//!
//! Missing tools panic naming the Debian package: `docker-registry`,
//! `skopeo`, `apache2-utils` (htpasswd), `openssl`.

pub(crate) mod creds;
pub(crate) mod e2e;
pub(crate) mod offline;
pub(crate) mod pki;
pub(crate) mod proxy;
pub(crate) mod referrers_api;
pub(crate) mod roundtrip;
pub(crate) mod run;
pub(crate) mod sign_image;
pub(crate) mod token_server;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

pub(crate) use proxy::{Fault, FaultProxy};
pub(crate) use token_server::{TokenServer, REFRESH_TOKEN, REFRESH_TOKEN_B};

/// The user every authenticated setup knows.
pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "wonderland";

/// A second user: in the htpasswd file of [`Setup::TlsBasic`] (no
/// per-repository ACL there), and under [`Setup::Token`] allowed `pull`
/// under `team-b/*` only. Not in [`Registry::docker_config`].
pub(crate) const USER_B: &str = "bob";
pub(crate) const PASSWORD_B: &str = "builder";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    /// Plain HTTP, anonymous.
    PlainAnonymous,
    /// HTTPS (test CA) with htpasswd Basic auth.
    TlsBasic,
    /// Plain HTTP with token auth (see [`token_server`]): anonymous pull
    /// under `public/*`, nothing under `forbidden/*`, push+pull for USER,
    /// pull under `team-b/*` only for USER_B; also the OAuth2
    /// refresh-token grant ([`REFRESH_TOKEN`], [`REFRESH_TOKEN_B`]).
    Token,
}

/// A running registry; killed on drop.
pub(crate) struct Registry {
    pub setup: Setup,
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    /// PEM CA file (TLS setup only).
    pub ca_file: Option<PathBuf>,
    /// Directory with `ca.crt` (skopeo `--cert-dir`, or a `certs.d/<host>`).
    pub cert_dir: Option<PathBuf>,
    /// A `DOCKER_CONFIG` directory whose `config.json` holds USER/PASSWORD
    /// for this registry (empty `auths` for the anonymous setup).
    pub docker_config_dir: PathBuf,
    pub token_server: Option<TokenServer>,
    log_file: PathBuf,
    push_tokens: Mutex<BTreeMap<String, String>>,
}

fn need(binary: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin"] {
        let p = Path::new(dir).join(binary);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{binary}` not found: install the Debian package `{package}` (apt-get install -y {package})");
}

/// A local port bound to a socket that does not listen: a connection to
/// it is refused, and no other process can take the port while this is
/// alive (a port picked free and released may be taken by a server of a
/// test running at the same time).
pub(crate) struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl ClosedPort {
    pub(crate) fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }

    /// `127.0.0.1:PORT`
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run a future on a private runtime in a scoped thread, so this works
/// from sync code and from inside another runtime alike.
pub(crate) fn block<F: Future + Send>(f: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .join()
        .unwrap()
    })
}

pub(crate) fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

impl Registry {
    pub(crate) fn start(setup: Setup) -> Registry {
        Registry::start_with(setup, "")
    }

    /// distribution's own pull-through cache (`proxy.remoteurl`) in front
    /// of `upstream` (a plain-HTTP anonymous registry), itself plain HTTP
    /// and anonymous.
    pub(crate) fn start_pull_through(upstream: &Registry) -> Registry {
        assert!(
            !upstream.is_tls(),
            "the pull-through cache fronts a plain-HTTP upstream"
        );
        let proxy = format!("proxy:\n  remoteurl: {}\n", upstream.base_url());
        Registry::start_with(Setup::PlainAnonymous, &proxy)
    }

    /// A registry with `extra` appended to its configuration file.
    fn start_with(setup: Setup, extra: &str) -> Registry {
        let bin = need("docker-registry", "docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        fs_err::create_dir_all(&storage).unwrap();

        let mut ca_file = None;
        let mut cert_dir = None;
        let mut tls_yaml = String::new();
        let mut auth_yaml = String::new();
        let mut token_server = None;
        match setup {
            Setup::PlainAnonymous => {}
            Setup::TlsBasic => {
                let tls = pki::make_tls(dir.path());
                tls_yaml = format!(
                    "\n  tls:\n    certificate: {}\n    key: {}",
                    tls.server_cert.display(),
                    tls.server_key.display()
                );
                let htpasswd = need("htpasswd", "apache2-utils");
                let mut lines = Vec::new();
                for (user, password) in [(USER, PASSWORD), (USER_B, PASSWORD_B)] {
                    let out = Command::new(&htpasswd)
                        .args(["-Bbn", user, password])
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "htpasswd failed");
                    // `-n` prints `user:hash` and an empty line.
                    let text = String::from_utf8(out.stdout).unwrap();
                    lines.push(text.trim().to_string());
                }
                let file = dir.path().join("htpasswd");
                fs_err::write(&file, lines.join("\n") + "\n").unwrap();
                auth_yaml = format!(
                    "auth:\n  htpasswd:\n    realm: imagelock-test\n    path: {}\n",
                    file.display()
                );
                ca_file = Some(tls.ca_file);
                cert_dir = Some(tls.cert_dir);
            }
            Setup::Token => {
                let key = pki::make_signing_key(dir.path());
                let ts = TokenServer::start(&key);
                auth_yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    ts.realm(),
                    token_server::SERVICE,
                    token_server::ISSUER,
                    key.cert_pem_file.display()
                );
                token_server = Some(ts);
            }
        }

        let log_file = dir.path().join("registry.log");
        // Every answer of this registry carries this header, so a server
        // of another test that took the port first is never mistaken for
        // it (the port is free when picked, and may not be when bound).
        let identity = dir.path().display().to_string();
        let scheme = if ca_file.is_some() { "https" } else { "http" };
        let probe = {
            let mut b = reqwest::Client::builder()
                .use_rustls_tls()
                .no_proxy()
                .timeout(Duration::from_secs(5));
            if let Some(ca) = &ca_file {
                let pem = fs_err::read(ca).unwrap();
                b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
            }
            b.build().unwrap()
        };
        let mut attempt = 0;
        let (child, port) = loop {
            attempt += 1;
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  headers:\n    X-Imagelock-Test: [{}]{tls_yaml}\n{auth_yaml}{extra}",
                storage.display(),
                serde_json::to_string(&identity).unwrap()
            );
            let cfg = dir.path().join("config.yml");
            fs_err::write(&cfg, config).unwrap();
            let log = fs_err::File::create(&log_file).unwrap().into_file();
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut up = false;
            let url = format!("{scheme}://127.0.0.1:{port}/v2/");
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    let log = fs_err::read_to_string(&log_file).unwrap_or_default();
                    if log.contains("address already in use") && attempt < 5 {
                        break;
                    }
                    panic!("docker-registry exited ({status}):\n{log}");
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // Ours, or another test's server on the same port?
                    let said = block(async {
                        let resp = probe.get(&url).send().await.ok()?;
                        Some(
                            resp.headers()
                                .get("x-imagelock-test")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string),
                        )
                    });
                    match said {
                        Some(Some(v)) if v == identity => {
                            up = true;
                            break;
                        }
                        // Someone else's: ours cannot bind; pick another port.
                        Some(_) if attempt < 5 => break,
                        Some(other) => panic!("port {port} is another server's ({other:?})"),
                        None => {}
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if up {
                break (child, port);
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                attempt < 5,
                "docker-registry did not come up on port {port}"
            );
        };

        let docker_config_dir = dir.path().join("docker-config");
        fs_err::create_dir_all(&docker_config_dir).unwrap();
        let auths = if setup == Setup::PlainAnonymous {
            serde_json::json!({})
        } else {
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
            serde_json::json!({ format!("127.0.0.1:{port}"): {"auth": auth} })
        };
        fs_err::write(
            docker_config_dir.join("config.json"),
            serde_json::json!({ "auths": auths }).to_string(),
        )
        .unwrap();

        let reg = Registry {
            setup,
            port,
            child,
            dir,
            ca_file,
            cert_dir,
            docker_config_dir,
            token_server,
            log_file,
            push_tokens: Mutex::new(BTreeMap::new()),
        };
        reg.wait_v2();
        reg
    }

    /// Poll `/v2/` until it answers (any HTTP status).
    fn wait_v2(&self) {
        let http = self.http();
        let url = format!("{}/v2/", self.base_url());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = block(async { http.get(&url).send().await.is_ok() });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "registry /v2/ never answered; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The registry's own log (errors only).
    pub(crate) fn log(&self) -> String {
        fs_err::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.setup == Setup::TlsBasic
    }

    pub(crate) fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.is_tls() { "https" } else { "http" },
            self.host()
        )
    }

    /// `127.0.0.1:PORT/<repo_and_tag>`
    pub(crate) fn image(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.host())
    }

    /// The `DOCKER_CONFIG` directory with this registry's credentials.
    pub(crate) fn docker_config(&self) -> &Path {
        &self.docker_config_dir
    }

    /// A scratch directory that lives as long as the registry.
    pub(crate) fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Harness HTTP client (trusts the test CA).
    pub(crate) fn http(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder().use_rustls_tls();
        if let Some(ca) = &self.ca_file {
            let pem = fs_err::read(ca).unwrap();
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        b.build().unwrap()
    }

    /// `Authorization` for pushing to `repo`.
    fn push_auth(&self, repo: &str) -> Option<String> {
        match self.setup {
            Setup::PlainAnonymous => None,
            Setup::TlsBasic => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
            )),
            Setup::Token => {
                let mut tokens = self.push_tokens.lock().unwrap();
                let t = tokens.entry(repo.to_string()).or_insert_with(|| {
                    self.token_server
                        .as_ref()
                        .unwrap()
                        .token_for(Some(USER), &[&format!("repository:{repo}:pull,push")])
                });
                Some(format!("Bearer {t}"))
            }
        }
    }

    /// A registry token (what a docker config's `registrytoken` holds, sent
    /// as `Authorization: Bearer <token>` as is): a JWT from the token
    /// server granting `pull` on `repo` as far as `user` ([`USER`] or
    /// [`USER_B`]) may. Not counted in [`TokenServer::requests`]; expires
    /// after the token server's `expires_in`. [`Setup::Token`] only.
    pub(crate) fn registry_token(&self, user: &str, repo: &str) -> String {
        let Some(ts) = &self.token_server else {
            panic!(
                "registry_token needs a Setup::Token registry; this one is {:?}",
                self.setup
            );
        };
        assert!(
            user == USER || user == USER_B,
            "registry_token: unknown user {user:?} (USER or USER_B)"
        );
        ts.token_for(Some(user), &[&format!("repository:{repo}:pull")])
    }

    /// Upload a blob (monolithic POST + PUT); returns its digest.
    pub(crate) fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let http = self.http();
        let auth = self.push_auth(repo);
        let base = self.base_url();
        let data = data.to_vec();
        let d2 = digest.clone();
        block(async move {
            let mut req = http.post(format!("{base}/v2/{repo}/blobs/uploads/"));
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 202, "blob upload start: {resp:?}");
            let loc = resp.headers()["location"].to_str().unwrap().to_string();
            let loc = if loc.starts_with('/') {
                format!("{base}{loc}")
            } else {
                loc
            };
            let sep = if loc.contains('?') { '&' } else { '?' };
            let mut req = http
                .put(format!("{loc}{sep}digest={d2}"))
                .header("Content-Type", "application/octet-stream")
                .body(data);
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 201, "blob upload: {resp:?}");
        });
        digest
    }

    /// PUT a manifest under `reference` (tag or digest); returns its digest
    /// (checked against the registry's `Docker-Content-Digest`).
    pub(crate) fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let digest = sha256(body);
        let http = self.http();
        let auth = self.push_auth(repo);
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base_url());
        let body = body.to_vec();
        let media_type = media_type.to_string();
        let header = block(async move {
            let mut req = http.put(url).header("Content-Type", media_type).body(body);
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let h = resp
                .headers()
                .get("docker-content-digest")
                .map(|v| v.to_str().unwrap().to_string());
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(status.as_u16(), 201, "manifest put: {text}");
            h
        });
        if let Some(h) = header {
            assert_eq!(h, digest, "registry digest differs from ours");
        }
        digest
    }

    /// Push a config blob and one small layer for `os/arch`; returns the
    /// manifest JSON body (not pushed).
    fn image_manifest(
        &self,
        repo: &str,
        seed: &str,
        os: &str,
        arch: &str,
        docker: bool,
    ) -> Vec<u8> {
        let layer = format!("imagelock test layer {seed} {os}/{arch}\n").into_bytes();
        let layer_digest = self.push_blob(repo, &layer);
        let config = serde_json::json!({
            "architecture": arch,
            "os": os,
            "config": {"Labels": {"seed": seed}},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created_by": format!("imagelock test {seed}")}],
        })
        .to_string()
        .into_bytes();
        let config_digest = self.push_blob(repo, &config);
        let (mt, cmt, lmt) = if docker {
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar",
            )
        } else {
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar",
            )
        };
        serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "config": {"mediaType": cmt, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": lmt, "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap()
    }

    pub(crate) fn push_oci_image(&self, repo: &str, tag: &str, seed: &str) -> String {
        let m = self.image_manifest(repo, seed, "linux", "amd64", false);
        self.push_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &m)
    }

    pub(crate) fn push_docker_schema2(&self, repo: &str, tag: &str, seed: &str) -> String {
        let m = self.image_manifest(repo, seed, "linux", "amd64", true);
        self.push_manifest(
            repo,
            tag,
            "application/vnd.docker.distribution.manifest.v2+json",
            &m,
        )
    }

    fn push_multi(&self, repo: &str, tag: &str, seed: &str, docker: bool) -> Pushed {
        let (index_mt, child_mt) = if docker {
            (
                "application/vnd.docker.distribution.manifest.list.v2+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
        } else {
            (
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.oci.image.manifest.v1+json",
            )
        };
        let mut children = BTreeMap::new();
        let mut entries = Vec::new();
        for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
            let m = self.image_manifest(repo, seed, "linux", arch, docker);
            let d = self.push_manifest(repo, &sha256(&m), child_mt, &m);
            let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
            let mut key = format!("linux/{arch}");
            if let Some(v) = variant {
                platform["variant"] = v.into();
                key.push('/');
                key.push_str(v);
            }
            entries.push(serde_json::json!({
                "mediaType": child_mt, "digest": d, "size": m.len(), "platform": platform,
            }));
            children.insert(key, d);
        }
        let index = serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2, "mediaType": index_mt, "manifests": entries,
        }))
        .unwrap();
        let digest = self.push_manifest(repo, tag, index_mt, &index);
        Pushed { digest, children }
    }

    /// OCI index with linux/amd64 and linux/arm64/v8 children.
    pub(crate) fn push_oci_index(&self, repo: &str, tag: &str, seed: &str) -> Pushed {
        self.push_multi(repo, tag, seed, false)
    }

    /// Docker manifest list with linux/amd64 and linux/arm64/v8 children.
    pub(crate) fn push_docker_manifest_list(&self, repo: &str, tag: &str, seed: &str) -> Pushed {
        self.push_multi(repo, tag, seed, true)
    }

    /// `skopeo inspect --format {{.Digest}}` for `repo:tag`, as the oracle.
    pub(crate) fn skopeo_digest(&self, repo_and_tag: &str) -> String {
        skopeo_digest(self, repo_and_tag)
    }

    /// A library config for this registry: plain HTTP or the test CA, a
    /// short timeout, no system `certs.d`.
    pub(crate) fn registry_config(&self) -> imagelock::registry::RegistryConfig {
        imagelock::registry::RegistryConfig {
            ca_files: self.ca_file.iter().cloned().collect(),
            plain_http: if self.is_tls() {
                vec![]
            } else {
                vec![self.host()]
            },
            concurrency: 16,
            timeout: Duration::from_secs(10),
            certs_dir: self.dir.path().join("no-certs.d"),
        }
    }

    /// Environment for an imagelock process that sees this registry's
    /// docker config and nothing of the machine's own credentials
    /// (containers auth.json, XDG directories).
    pub(crate) fn isolated_env(&self) -> Vec<(&'static str, PathBuf)> {
        let home = self.dir.path().join("home");
        fs_err::create_dir_all(&home).unwrap();
        vec![
            ("DOCKER_CONFIG", self.docker_config_dir.clone()),
            ("HOME", home.clone()),
            ("XDG_CONFIG_HOME", home.join(".config")),
            ("XDG_RUNTIME_DIR", home.join("run")),
            ("REGISTRY_AUTH_FILE", home.join("no-auth.json")),
        ]
    }

    /// A keychain with this registry's docker config only (no helpers on
    /// PATH matter, no containers auth.json from the machine).
    pub(crate) fn credentials(&self) -> Arc<dyn imagelock::credentials::Keychain> {
        Arc::new(
            imagelock::credentials::DefaultKeychain::new(
                imagelock::credentials::CredentialOptions {
                    docker_config: Some(self.docker_config_dir.join("config.json")),
                    containers_auth: Some(Vec::new()),
                    timeout: Duration::from_secs(10),
                    ..Default::default()
                },
            )
            .unwrap(),
        )
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Digests from a multi-platform push.
#[derive(Debug, Clone)]
pub(crate) struct Pushed {
    pub digest: String,
    /// `linux/amd64`, `linux/arm64/v8` → child digest.
    pub children: BTreeMap<String, String>,
}

pub(crate) fn skopeo_digest(reg: &Registry, repo_and_tag: &str) -> String {
    let bin = need("skopeo", "skopeo");
    let mut cmd = Command::new(bin);
    cmd.arg("inspect").arg("--format").arg("{{.Digest}}");
    if reg.is_tls() {
        cmd.arg("--cert-dir").arg(reg.cert_dir.as_ref().unwrap());
    } else {
        cmd.arg("--tls-verify=false");
    }
    if reg.setup != Setup::PlainAnonymous {
        cmd.arg("--creds").arg(format!("{USER}:{PASSWORD}"));
    }
    // Keep skopeo away from the user's auth files and policy.
    cmd.env("REGISTRY_AUTH_FILE", reg.scratch().join("skopeo-auth.json"));
    cmd.arg(format!("docker://{}", reg.image(repo_and_tag)));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {repo_and_tag} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Accept connections on `listener` until `stopped` says so, each handled
/// on its own thread (the fault proxy and the token server share this).
pub(crate) fn serve<T: Send + Sync + 'static>(
    listener: TcpListener,
    inner: Arc<T>,
    stopped: fn(&T) -> bool,
    handle: fn(&T, std::net::TcpStream) -> std::io::Result<()>,
) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stopped(&inner) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let inner = inner.clone();
            std::thread::spawn(move || {
                let _ = handle(&inner, conn);
            });
        }
    });
}
