//! Credentials stay where they belong, through the real binary:
//! - an HTTPS registry that redirects to plain `http://` is refused (unless
//!   the target is named with `--plain-http`), and nothing reaches the
//!   plain leg;
//! - a credential helper's or plugin's own output is never printed, and a
//!   secret echoed by a registry or a token server is masked by the
//!   redactor, in every format and at every verbosity;
//! - helpers are never run from the working directory (a relative `PATH`
//!   entry);
//! - a helper that leaves a child holding its stdout cannot hold the run
//!   past `--timeout`.
//!
//! The registries here are small servers written for each rule (plain
//! HTTP, or HTTPS with a test CA): each answers exactly what the rule needs
//! and logs every request it gets.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

use crate::support;
use crate::support::run::{bin, expect_code, text, PROXY_VARS};

// ---------------------------------------------------------------------------
// A tiny HTTP/1.1 server (plain or TLS) with a handler per test.

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    /// Lower-cased header names.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Req {
    fn auth(&self) -> Option<&str> {
        self.headers.get("authorization").map(String::as_str)
    }
}

struct Resp {
    code: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn new(code: u16) -> Resp {
        Resp {
            code,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    fn json(mut self, body: &serde_json::Value) -> Resp {
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self.body = body.to_string().into_bytes();
        self
    }
}

type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

struct Server {
    port: u16,
    log: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    fn start(tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (handler, log, tls) = (handler.clone(), log2.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                    match tls {
                        Some(cfg) => {
                            let Ok(c) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            let mut s = rustls::StreamOwned::new(c, conn);
                            let _ = serve_conn(&mut s, &handler, &log);
                            s.conn.send_close_notify();
                            let _ = s.flush();
                        }
                        None => {
                            let mut conn = conn;
                            let _ = serve_conn(&mut conn, &handler, &log);
                        }
                    }
                });
            }
        });
        Server { port, log }
    }
}

/// Requests on one connection until the client closes it.
fn serve_conn(
    s: &mut (impl Read + Write),
    handler: &Handler,
    log: &Mutex<Vec<Req>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split_whitespace();
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let req = Req {
            method,
            path,
            headers,
            body,
        };
        log.lock().unwrap().push(req.clone());
        let resp = handler(&req);
        let mut out = format!("HTTP/1.1 {} X\r\n", resp.code);
        for (k, v) in &resp.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", resp.body.len()));
        s.write_all(out.as_bytes())?;
        if req.method != "HEAD" {
            s.write_all(&resp.body)?;
        }
        s.flush()?;
    }
}

/// A test CA (written to `dir/ca.pem`) and a server config with a
/// certificate it signs for 127.0.0.1.
fn tls_config(dir: &Path) -> (Arc<rustls::ServerConfig>, PathBuf) {
    fs_err::create_dir_all(dir).unwrap();
    let tls = support::pki::make_tls(dir);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![tls.server_cert_der.into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(tls.server_key_der.into()),
        )
        .unwrap();
    (Arc::new(config), tls.ca_file)
}

// ---------------------------------------------------------------------------
// An image the servers can serve.

fn sha256(b: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(b))
}

/// (manifest body, its digest, config blob, its digest).
fn image() -> (Vec<u8>, String, Vec<u8>, String) {
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []}, "config": {}
    })
    .to_string()
    .into_bytes();
    let config_digest = sha256(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": config.len()
        },
        "layers": []
    })
    .to_string()
    .into_bytes();
    let digest = sha256(&manifest);
    (manifest, digest, config, config_digest)
}

/// The answer of a registry holding [`image`] at any repository and tag.
fn serve_image(req: &Req) -> Resp {
    let (manifest, digest, config, config_digest) = image();
    if req.path == "/v2/" {
        return Resp::new(200).json(&serde_json::json!({}));
    }
    if req.path.contains("/blobs/") && req.path.ends_with(&config_digest) {
        let mut r = Resp::new(200)
            .header("Content-Type", "application/vnd.oci.image.config.v1+json")
            .header("Docker-Content-Digest", &config_digest);
        r.body = config;
        return r;
    }
    if req.path.contains("/manifests/") {
        let mut r = Resp::new(200)
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .header("Docker-Content-Digest", &digest);
        r.body = manifest;
        return r;
    }
    Resp::new(404)
        .json(&serde_json::json!({"errors": [{"code": "NOT_FOUND", "message": "not here"}]}))
}

// ---------------------------------------------------------------------------
// Running the binary.

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

struct Run {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Run {
    fn new() -> Run {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        fs_err::create_dir_all(home.join(".docker")).unwrap();
        fs_err::write(home.join(".docker/config.json"), "{}").unwrap();
        let env = vec![
            ("HOME".into(), home.display().to_string()),
            (
                "DOCKER_CONFIG".into(),
                home.join(".docker").display().to_string(),
            ),
            (
                "XDG_CONFIG_HOME".into(),
                home.join(".config").display().to_string(),
            ),
            (
                "XDG_RUNTIME_DIR".into(),
                home.join("run").display().to_string(),
            ),
            (
                "REGISTRY_AUTH_FILE".into(),
                home.join("no-auth.json").display().to_string(),
            ),
        ];
        Run { dir, env }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn set(&mut self, k: &str, v: &str) {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
    }

    fn docker_config(&self, json: &serde_json::Value) {
        fs_err::write(
            self.path().join("home/.docker/config.json"),
            json.to_string(),
        )
        .unwrap();
    }

    /// A `bin` directory in the test's directory, first on PATH.
    fn bin_dir(&mut self) -> PathBuf {
        let d = self.path().join("bin");
        fs_err::create_dir_all(&d).unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        self.set("PATH", &format!("{}:{path}", d.display()));
        d
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(self.path())
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .stdin(Stdio::null());
        for v in PROXY_VARS {
            cmd.env_remove(v);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

/// An executable `sh` script, written from a child process (see
/// `support::creds::write_script`: no write descriptor of this process, so
/// no ETXTBSY when another test thread forks while it is written).
fn script(path: &Path, body: &str) {
    support::creds::write_script(path, &format!("#!/bin/sh\n{body}\n"));
}

/// Assert none of `secrets` is on stdout or stderr.
fn assert_no_secret(o: &Output, secrets: &[String], what: &str) {
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    for s in secrets {
        assert!(
            !out.contains(s.as_str()) && !err.contains(s.as_str()),
            "{s:?} leaked in {what}:\nstdout:\n{out}\nstderr:\n{err}"
        );
    }
}

/// Every format and verbosity a registry failure can be printed in, for
/// the image `reference` (locked in `images.lock` with `digest` so that
/// `check --remote` asks the registry). Returns each run's combined output.
fn every_output(r: &Run, reference: &str, plain_http: &str) -> Vec<(String, Output)> {
    let (name, tag) = reference.rsplit_once(':').unwrap();
    fs_err::write(
        r.path().join("app.yaml"),
        format!("services:\n  a:\n    image: {reference}\n"),
    )
    .unwrap();
    fs_err::write(
        r.path().join("images.lock"),
        format!(
            "version = 1\n\n[[image]]\nname = \"{name}\"\ntag = \"{tag}\"\ndigest = \"sha256:{}\"\n",
            "a".repeat(64)
        ),
    )
    .unwrap();
    let mut runs: Vec<Vec<String>> = Vec::new();
    let p = ["--plain-http", plain_http];
    for format in ["text", "json"] {
        runs.push(
            ["resolve", reference, "--format", format]
                .iter()
                .chain(&p)
                .map(ToString::to_string)
                .collect(),
        );
    }
    for format in ["text", "json", "sarif", "github", "markdown"] {
        runs.push(
            ["check", "--remote", "--format", format, "app.yaml"]
                .iter()
                .chain(&p)
                .map(ToString::to_string)
                .collect(),
        );
    }
    for format in ["text", "json", "markdown"] {
        runs.push(
            ["update", "--format", format, "app.yaml"]
                .iter()
                .chain(&p)
                .map(ToString::to_string)
                .collect(),
        );
    }
    for v in ["-v", "-vv"] {
        runs.push(
            ["resolve", v, reference]
                .iter()
                .chain(&p)
                .map(ToString::to_string)
                .collect(),
        );
        runs.push(
            ["check", v, "--remote", "app.yaml"]
                .iter()
                .chain(&p)
                .map(ToString::to_string)
                .collect(),
        );
    }
    let mut outs = Vec::new();
    for args in runs {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        outs.push((args.join(" "), r.run(&a)));
    }
    for level in ["trace", "debug"] {
        let a = ["resolve", reference, "--plain-http", plain_http];
        let o = r.command(&a).env("RUST_LOG", level).output().unwrap();
        outs.push((format!("RUST_LOG={level} {}", a.join(" ")), o));
    }
    outs
}

// ---------------------------------------------------------------------------
// 1. No downgrade.

#[test]
fn a_redirect_from_https_to_plain_http_is_refused_and_nothing_is_sent_in_cleartext() {
    let mut r = Run::new();
    let (tls, ca_file) = tls_config(r.path());
    let plain = Server::start(None, Arc::new(serve_image));
    let plain_host = plain.host();
    let same_port = Arc::new(Mutex::new(false));
    let same = same_port.clone();
    let target = plain_host.clone();
    let registry = Server::start(
        Some(tls),
        Arc::new(move |req: &Req| {
            if req.auth().is_none() {
                return Resp::new(401).header("WWW-Authenticate", "Basic realm=\"test\"");
            }
            let to = if *same.lock().unwrap() {
                req.headers.get("host").cloned().unwrap_or_default()
            } else {
                target.clone()
            };
            Resp::new(307).header("Location", &format!("http://{to}{}", req.path))
        }),
    );
    let host = registry.host();
    let password = "downgrade-secret-3391";
    r.docker_config(
        &serde_json::json!({"auths": {host.clone(): {"auth": b64(&format!("alice:{password}"))}}}),
    );
    let ca = ca_file.display().to_string();
    let reference = format!("{host}/team/app:1");
    let _ = r.bin_dir();

    // Refused: an error naming the registry and the redirect target.
    let o = r.run(&["resolve", &reference, "--ca-file", &ca]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("(registry {host})"))
            && err.contains("refused to go from HTTPS to plain HTTP")
            && err.contains(&format!("http://{plain_host}/v2/"))
            && err.contains(&format!("--plain-http {plain_host}")),
        "{err}"
    );
    assert!(
        plain.requests().is_empty(),
        "a request reached the plain-HTTP target: {:?}",
        plain.requests()
    );
    assert_no_secret(&o, &[password.to_string()], "resolve");
    // As JSON: the code says what it is.
    let o = r.run(&["resolve", &reference, "--ca-file", &ca, "--format", "json"]);
    expect_code(&o, 2);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let errors = doc["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["code"] == "insecure-redirect"),
        "{doc:#}"
    );
    assert!(plain.requests().is_empty());

    // The same host and port over plain HTTP (reqwest would keep the
    // Authorization header there): refused as well.
    *same_port.lock().unwrap() = true;
    let o = r.run(&["resolve", &reference, "--ca-file", &ca]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("redirected to http://{host}/v2/")),
        "{err}"
    );
    *same_port.lock().unwrap() = false;

    // Named with --plain-http: followed, and the credential stays behind
    // (another port is another origin).
    let o = r.run(&[
        "resolve",
        &reference,
        "--ca-file",
        &ca,
        "--plain-http",
        &plain_host,
    ]);
    expect_code(&o, 0);
    let (_, digest, _, _) = image();
    assert!(text(&o.stdout).contains(&digest), "{}", text(&o.stdout));
    let seen = plain.requests();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|q| q.auth().is_none()),
        "a credential was sent over plain HTTP: {seen:?}"
    );

    // A Bearer challenge from the HTTPS registry naming a plain-HTTP token
    // realm: the credential would go there in cleartext. Refused too.
    let (tls, _) = tls_config(&r.path().join("realm"));
    let token_server = Server::start(
        None,
        Arc::new(|_req: &Req| {
            Resp::new(200).json(&serde_json::json!({"token": "t-from-plain", "expires_in": 300}))
        }),
    );
    let realm = format!("http://{}/token", token_server.host());
    let challenge = format!("Bearer realm=\"{realm}\",service=\"test\"");
    let bearer = Server::start(
        Some(tls),
        Arc::new(move |req: &Req| {
            if req.auth() == Some("Bearer t-from-plain") {
                return serve_image(req);
            }
            Resp::new(401).header("WWW-Authenticate", &challenge)
        }),
    );
    let bearer_host = bearer.host();
    r.docker_config(&serde_json::json!({"auths": {bearer_host.clone(): {"auth": b64(&format!("alice:{password}"))}}}));
    let realm_ca = r.path().join("realm/ca.pem").display().to_string();
    let reference = format!("{bearer_host}/team/app:1");
    let o = r.run(&["resolve", &reference, "--ca-file", &realm_ca]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("names the token realm {realm}"))
            && err.contains(&format!("--plain-http {}", token_server.host())),
        "{err}"
    );
    assert!(token_server.requests().is_empty());
    // Named: asked, over plain HTTP as the user said.
    let o = r.run(&[
        "resolve",
        &reference,
        "--ca-file",
        &realm_ca,
        "--plain-http",
        &token_server.host(),
    ]);
    expect_code(&o, 0);
    assert_eq!(token_server.requests().len(), 1);
}

// ---------------------------------------------------------------------------
// 2. Nothing a helper says; one redactor for everything printed.

const HELPER_SAYS: &str = "helper-said-this-secret-8812";

#[test]
fn a_failing_helper_or_plugin_is_named_and_its_output_never_printed() {
    let mut r = Run::new();
    let registry = Server::start(
        None,
        Arc::new(|_req: &Req| {
            Resp::new(401)
                .header("WWW-Authenticate", "Basic realm=\"test\"")
                .json(&serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}))
        }),
    );
    let host = registry.host();
    let bin = r.bin_dir();
    // It prints the password on stderr (and on stdout), then fails.
    script(
        &bin.join("docker-credential-leaky"),
        &format!(
            "read server\necho \"error: password {HELPER_SAYS} refused for $server\" >&2\necho \"{HELPER_SAYS}\"\nexit 1"
        ),
    );
    script(
        &bin.join("docker-credential-killed"),
        &format!("read server\necho {HELPER_SAYS} >&2\nkill -9 $$"),
    );
    r.docker_config(&serde_json::json!({"credHelpers": {host.clone(): "leaky"}}));
    let reference = format!("{host}/team/app:1");
    let secrets = vec![HELPER_SAYS.to_string()];
    let mut outs = every_output(&r, &reference, &host);
    for (what, o) in &outs {
        assert_no_secret(o, &secrets, what);
    }
    let (_, o) = outs.remove(0);
    let err = text(&o.stderr);
    assert!(
        err.contains("credential helper docker-credential-leaky")
            && err.contains("exit status 1")
            && err.contains(&format!("`echo {host} | docker-credential-leaky get`")),
        "{err}"
    );
    let (_, o) = outs.remove(0);
    assert!(
        text(&o.stdout).contains(&format!("echo {host} | docker-credential-leaky get")),
        "{}",
        text(&o.stdout)
    );

    // Killed by a signal: said so.
    r.docker_config(&serde_json::json!({"credHelpers": {host.clone(): "killed"}}));
    let o = r.run(&["resolve", &reference, "--plain-http", &host]);
    expect_code(&o, 2);
    assert_no_secret(&o, &secrets, "resolve with a killed helper");
    let err = text(&o.stderr);
    assert!(
        err.contains("docker-credential-killed")
            && err.contains("killed by signal 9")
            && err.contains(&format!("`echo {host} | docker-credential-killed get`")),
        "{err}"
    );

    // A kubelet credential provider plugin that does the same.
    r.docker_config(&serde_json::json!({}));
    let plugins = r.path().join("plugins");
    fs_err::create_dir_all(&plugins).unwrap();
    script(
        &plugins.join("leaky-provider"),
        &format!(
            "cat >/dev/null\necho \"token {HELPER_SAYS} expired\" >&2\necho {HELPER_SAYS}\nexit 2"
        ),
    );
    fs_err::write(
        r.path().join("providers.yaml"),
        format!("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: leaky-provider\n    matchImages: [\"{host}\"]\n    defaultCacheDuration: \"5m\"\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
    )
    .unwrap();
    for format in ["text", "json"] {
        let o = r.run(&[
            "resolve",
            &reference,
            "--plain-http",
            &host,
            "--format",
            format,
            "--credential-provider-config",
            "providers.yaml",
            "--credential-provider-bin-dir",
            "plugins",
        ]);
        expect_code(&o, 2);
        assert_no_secret(&o, &secrets, "resolve with a failing plugin");
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(
            all.contains("credential provider leaky-provider failed: exit status 2")
                && all.contains("plugins/leaky-provider")
                && all.contains("CredentialProviderRequest"),
            "{all}"
        );
    }
}

/// The registry answers every authenticated request with an error body
/// that quotes the request's `Authorization` header; its token server
/// quotes the refresh token it was sent, and the Basic password.
fn echoing_registry() -> Server {
    let port = Arc::new(Mutex::new(0u16));
    let p = port.clone();
    let server = Server::start(
        None,
        Arc::new(move |req: &Req| {
            let realm = format!("http://127.0.0.1:{}/token", p.lock().unwrap());
            if req.path.starts_with("/token") {
                if req.method == "POST" {
                    let form = String::from_utf8_lossy(&req.body).into_owned();
                    let refresh = form
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("refresh_token="))
                        .unwrap_or("")
                        .to_string();
                    let said = format!("the refresh token {refresh} has expired");
                    return Resp::new(400).json(&serde_json::json!({
                        "error": "invalid_grant", "error_description": said,
                        "errors": [{"code": "DENIED", "message": said}]
                    }));
                }
                let said = format!("cannot use {}", req.auth().unwrap_or(""));
                if req
                    .auth()
                    .is_some_and(|a| a.contains(&b64("tok:bearer-me")))
                {
                    return Resp::new(200)
                        .json(&serde_json::json!({"token": "bearer-token-echoed-5150", "expires_in": 300}));
                }
                return Resp::new(401).json(&serde_json::json!({
                    "errors": [{"code": "UNAUTHORIZED", "message": said}],
                    "details": said
                }));
            }
            let Some(auth) = req.auth() else {
                let basic = req.path.contains("/basic/");
                let challenge = if basic {
                    "Basic realm=\"test\"".to_string()
                } else {
                    format!("Bearer realm=\"{realm}\",service=\"echo\"")
                };
                return Resp::new(401).header("WWW-Authenticate", &challenge);
            };
            // A 404 is read for its body (a 403 to HEAD has none).
            let said = format!("you sent Authorization: {auth}");
            Resp::new(404).json(&serde_json::json!({
                "errors": [{"code": "NAME_UNKNOWN", "message": said, "detail": said}]
            }))
        }),
    );
    *port.lock().unwrap() = server.port;
    server
}

#[test]
fn secrets_echoed_by_a_registry_or_its_token_server_are_masked_everywhere() {
    let r = Run::new();
    let registry = echoing_registry();
    let host = registry.host();
    let password = "echoed-password-4420";
    let refresh = "echoed-refresh-token-7716";
    let bearer_pass = "bearer-me";
    // Basic straight to the registry.
    r.docker_config(
        &serde_json::json!({"auths": {host.clone(): {"auth": b64(&format!("alice:{password}"))}}}),
    );
    let reference = format!("{host}/basic/app:1");
    let secrets = vec![
        password.to_string(),
        b64(&format!("alice:{password}")),
        refresh.to_string(),
        "bearer-token-echoed-5150".to_string(),
        b64(&format!("tok:{bearer_pass}")),
    ];
    let outs = every_output(&r, &reference, &host);
    let mut masked = false;
    for (what, o) in &outs {
        assert_no_secret(o, &secrets, what);
        masked |= text(&o.stderr).contains("***") || text(&o.stdout).contains("***");
    }
    assert!(
        registry
            .requests()
            .iter()
            .any(|q| q.auth().is_some_and(|a| a.starts_with("Basic "))),
        "the credential was never sent"
    );
    // The echo reached imagelock's output at least once, masked.
    assert!(
        masked,
        "no run printed the echoed header: {}",
        text(&outs[0].1.stderr)
    );

    // An identity token: the token server quotes it in its OAuth2 error.
    r.docker_config(&serde_json::json!({"auths": {host.clone(): {"identitytoken": refresh}}}));
    let reference = format!("{host}/token/app:1");
    for (what, o) in every_output(&r, &reference, &host) {
        assert_no_secret(&o, &secrets, &what);
    }
    assert!(registry
        .requests()
        .iter()
        .any(|q| q.method == "POST" && String::from_utf8_lossy(&q.body).contains(refresh)));

    // Basic to the token server, whose bearer token the registry quotes.
    r.docker_config(
        &serde_json::json!({"auths": {host.clone(): {"auth": b64(&format!("tok:{bearer_pass}"))}}}),
    );
    let mut masked = false;
    for (what, o) in every_output(&r, &reference, &host) {
        assert_no_secret(&o, &secrets, &what);
        masked |= text(&o.stderr).contains("***") || text(&o.stdout).contains("***");
    }
    assert!(registry
        .requests()
        .iter()
        .any(|q| q.auth() == Some("Bearer bearer-token-echoed-5150")));
    assert!(masked, "the echoed bearer token was never printed");
}

// ---------------------------------------------------------------------------
// 3. No helper from the working directory.

#[test]
fn a_helper_is_never_run_from_the_working_directory() {
    let mut r = Run::new();
    let registry = Server::start(
        None,
        Arc::new(|_req: &Req| Resp::new(401).header("WWW-Authenticate", "Basic realm=\"test\"")),
    );
    let host = registry.host();
    let marker = r.path().join("helper-ran");
    // In the working directory, and in a relative `bin` below it.
    for dir in [r.path().to_path_buf(), r.path().join("rel")] {
        fs_err::create_dir_all(&dir).unwrap();
        script(
            &dir.join("docker-credential-here"),
            &format!(
                "touch {}\necho '{{\"ServerURL\":\"x\",\"Username\":\"u\",\"Secret\":\"from-cwd-1234\"}}'",
                marker.display()
            ),
        );
    }
    r.docker_config(&serde_json::json!({"credHelpers": {host.clone(): "here"}}));
    let reference = format!("{host}/team/app:1");
    for (path, shown) in [
        (
            "/usr/bin:/bin:",
            "an empty PATH entry (the working directory)",
        ),
        (
            ":/usr/bin:/bin",
            "an empty PATH entry (the working directory)",
        ),
        ("/usr/bin:.:/bin", "the relative PATH entry \".\""),
        ("rel:/usr/bin:/bin", "the relative PATH entry \"rel\""),
    ] {
        r.set("PATH", path);
        let o = r.run(&["resolve", &reference, "--plain-http", &host]);
        expect_code(&o, 2);
        assert!(
            !marker.exists(),
            "PATH={path}: the helper in the working directory ran"
        );
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!(
                "not run: docker-credential-here was found only through {shown}"
            )),
            "PATH={path}: {err}"
        );
        assert!(
            registry.requests().iter().all(|q| q.auth().is_none()),
            "PATH={path}"
        );
    }
}

// ---------------------------------------------------------------------------
// 4. Timeouts hold.

/// `cmd` run with its output piped, failing the test once `bound` passes.
fn output_within(mut cmd: Command, bound: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    support::run::wait_with_timeout(child, bound)
}

/// Whether process `pid` is still alive (a zombie is not).
fn alive(pid: &str) -> bool {
    match fs_err::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn a_helper_that_leaves_a_child_holding_its_stdout_does_not_hold_the_run() {
    let mut r = Run::new();
    let secret = "timeout-secret-6620";
    let expected = format!("Basic {}", b64(&format!("alice:{secret}")));
    let want = expected.clone();
    let registry = Server::start(
        None,
        Arc::new(move |req: &Req| {
            if req.auth() != Some(want.as_str()) {
                return Resp::new(401).header("WWW-Authenticate", "Basic realm=\"test\"");
            }
            serve_image(req)
        }),
    );
    let host = registry.host();
    let bin = r.bin_dir();
    let pids = r.path().join("pids");
    // Answers, then leaves a child that holds stdout (and stderr) open.
    script(
        &bin.join("docker-credential-lingering"),
        &format!(
            "read server\necho '{{\"ServerURL\":\"x\",\"Username\":\"alice\",\"Secret\":\"{secret}\"}}'\nsleep 1000 &\necho $! >> {}",
            pids.display()
        ),
    );
    // Never answers, and has a child of its own.
    script(
        &bin.join("docker-credential-hung"),
        &format!(
            "read server\nsleep 1000 &\necho $! >> {}\nsleep 1000",
            pids.display()
        ),
    );
    let reference = format!("{host}/team/app:1");
    let (_, digest, _, _) = image();

    r.docker_config(&serde_json::json!({"credHelpers": {host.clone(): "lingering"}}));
    let o = output_within(
        r.command(&[
            "resolve",
            &reference,
            "--plain-http",
            &host,
            "--timeout",
            "2",
        ]),
        Duration::from_secs(60),
    );
    expect_code(&o, 0);
    assert!(text(&o.stdout).contains(&digest), "{}", text(&o.stdout));
    assert!(registry
        .requests()
        .iter()
        .any(|q| q.auth() == Some(expected.as_str())));

    r.docker_config(&serde_json::json!({"credHelpers": {host.clone(): "hung"}}));
    let o = output_within(
        r.command(&[
            "resolve",
            &reference,
            "--plain-http",
            &host,
            "--timeout",
            "2",
        ]),
        Duration::from_secs(60),
    );
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("docker-credential-hung")
            && err.contains("did not answer within 2s and was stopped"),
        "{err}"
    );

    // Every child the helpers left behind was killed with its group.
    let deadline = Instant::now() + Duration::from_secs(20);
    let left = fs_err::read_to_string(&pids).unwrap();
    let left: Vec<&str> = left.lines().collect();
    assert_eq!(left.len(), 2, "{left:?}");
    while left.iter().any(|p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive_now: Vec<&&str> = left.iter().filter(|p| alive(p)).collect();
    for p in &alive_now {
        let _ = Command::new("kill").arg("-9").arg(p).status();
    }
    assert!(alive_now.is_empty(), "left running: {alive_now:?}");
}

// ---------------------------------------------------------------------------
// Echoes the redactor must catch although they are not the secret as sent:
// cut by a message's length limit, or in the form-encoded form the
// refresh-token grant sends.

/// A registry whose token server answers the refresh-token grant with an
/// OAuth2 error echoing `echo(form_value, decoded_value)`, and whose
/// manifests (behind Basic) answer 200 with a body that is not a manifest
/// and starts with the request's `Authorization` header.
fn cutting_echo_registry(echo: fn(&str, &str) -> String) -> Server {
    let port = Arc::new(Mutex::new(0u16));
    let p = port.clone();
    let server = Server::start(
        None,
        Arc::new(move |req: &Req| {
            let realm = format!("http://127.0.0.1:{}/token", p.lock().unwrap());
            if req.path.starts_with("/token") {
                let form = String::from_utf8_lossy(&req.body).into_owned();
                let sent = form
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("refresh_token="))
                    .unwrap_or("")
                    .to_string();
                let decoded = form_decode(&sent);
                return Resp::new(400).json(&serde_json::json!({
                    "error": "invalid_grant", "error_description": echo(&sent, &decoded)
                }));
            }
            if req.path == "/v2/" {
                return Resp::new(200).json(&serde_json::json!({}));
            }
            let Some(auth) = req.auth() else {
                let challenge = if req.path.contains("/basic/") {
                    "Basic realm=\"test\"".to_string()
                } else {
                    format!("Bearer realm=\"{realm}\",service=\"echo\"")
                };
                return Resp::new(401).header("WWW-Authenticate", &challenge);
            };
            // No digest header: imagelock reads the body to hash it.
            let mut r =
                Resp::new(200).header("Content-Type", "application/vnd.oci.image.manifest.v1+json");
            r.body = format!("{auth} is what you sent").into_bytes();
            r
        }),
    );
    *port.lock().unwrap() = server.port;
    server
}

/// `application/x-www-form-urlencoded` escaping of one value.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether any `n`-character piece of `secret` is in the run's output.
fn assert_no_piece(o: &Output, secret: &str, n: usize, what: &str) {
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    let chars: Vec<char> = secret.chars().collect();
    for w in chars.windows(n) {
        let piece: String = w.iter().collect();
        assert!(
            !all.contains(&piece),
            "{piece:?} of {secret:?} leaked in {what}:\n{all}"
        );
    }
}

#[test]
fn an_echoed_secret_cut_by_a_length_limit_leaves_no_piece_of_it() {
    let r = Run::new();
    // The token server's error_description: the refresh token after
    // filler, so that a cut at 200 characters falls inside it.
    let registry = cutting_echo_registry(|_, token| format!("{} {token}", "d".repeat(185)));
    let host = registry.host();
    let refresh = "QxZv7kPw0m3NrT9yLs2bHc4dJq";
    r.docker_config(&serde_json::json!({"auths": {host.clone(): {"identitytoken": refresh}}}));
    let reference = format!("{host}/token/app:1");
    for (what, o) in every_output(&r, &reference, &host) {
        assert_no_piece(&o, refresh, 8, &what);
    }
    assert!(registry
        .requests()
        .iter()
        .any(|q| q.method == "POST" && String::from_utf8_lossy(&q.body).contains(refresh)));

    // A manifest answer that is not JSON, starting with the Basic header:
    // the message quotes its first bytes.
    let password = "Wk8pQz3vXr7mNb2Lt5yHs9dF";
    r.docker_config(
        &serde_json::json!({"auths": {host.clone(): {"auth": b64(&format!("alice:{password}"))}}}),
    );
    let reference = format!("{host}/basic/app:1");
    let o = r.run(&["resolve", &reference, "--plain-http", &host]);
    expect_code(&o, 2);
    assert!(text(&o.stderr).contains("not JSON"), "{}", text(&o.stderr));
    for (what, o) in every_output(&r, &reference, &host) {
        assert_no_piece(&o, &b64(&format!("alice:{password}")), 12, &what);
    }
}

#[test]
fn a_refresh_token_echoed_in_its_form_encoded_form_is_masked() {
    let r = Run::new();
    let registry = cutting_echo_registry(|sent, _| format!("refresh_token={sent} is spent"));
    let host = registry.host();
    // A base64 token: `/`, `+` and `=` are escaped in the form body.
    let refresh = "Zm9v/YmFy+YmF6/cXV4+cXV1eA==";
    r.docker_config(&serde_json::json!({"auths": {host.clone(): {"identitytoken": refresh}}}));
    let reference = format!("{host}/token/app:1");
    let encoded = form_encode(refresh);
    assert_ne!(encoded, refresh);
    let mut echoed = false;
    for (what, o) in every_output(&r, &reference, &host) {
        assert_no_secret(&o, &[refresh.to_string(), encoded.clone()], &what);
        echoed |= text(&o.stderr).contains("refresh_token=*** is spent")
            || text(&o.stdout).contains("refresh_token=*** is spent");
    }
    assert!(echoed, "the echo never reached the output");
}
