//! Pull credentials end to end: the real binary against the real registry
//! (token auth with the test token server, TLS with htpasswd), with
//! credential helpers and kubelet credential provider plugins that are
//! small scripts speaking the real protocols. Every run asserts that no
//! secret reaches stdout, stderr or any file it wrote.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use base64::Engine as _;

use crate::support;
use crate::support::creds::{self, ProviderAuth};
use crate::support::{Registry, Setup, PASSWORD, PASSWORD_B, REFRESH_TOKEN, USER, USER_B};

const WRONG: &str = "not-the-password-7781";
const HELPER_SECRET: &str = "helper-secret-5512";
const PLUGIN_SECRET_WRONG: &str = "plugin-wrong-4471";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Every secret any test here hands out, and the forms it could leak in.
fn secrets(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        PASSWORD,
        PASSWORD_B,
        WRONG,
        HELPER_SECRET,
        PLUGIN_SECRET_WRONG,
        REFRESH_TOKEN,
        support::REFRESH_TOKEN_B,
    ]
    .iter()
    .map(std::string::ToString::to_string)
    .collect();
    for (u, p) in [(USER, PASSWORD), (USER_B, PASSWORD_B), (USER, WRONG)] {
        v.push(b64(&format!("{u}:{p}")));
    }
    v.extend(extra.iter().map(std::string::ToString::to_string));
    v
}

struct Env {
    reg: Registry,
    dir: tempfile::TempDir,
    /// Extra environment (PATH with helpers, DOCKER_CONFIG, auth file).
    env: Vec<(String, String)>,
    extra_secrets: Vec<String>,
}

impl Env {
    fn new(setup: Setup) -> Env {
        let reg = Registry::start(setup);
        let dir = tempfile::tempdir().unwrap();
        // An empty docker config by default: each test says which sources it uses.
        let empty = dir.path().join(".docker-empty");
        fs_err::create_dir_all(&empty).unwrap();
        fs_err::write(empty.join("config.json"), "{}").unwrap();
        Env {
            reg,
            dir,
            env: vec![("DOCKER_CONFIG".into(), empty.display().to_string())],
            extra_secrets: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            fs_err::create_dir_all(parent).unwrap();
        }
        fs_err::write(&p, text).unwrap();
        p
    }

    fn set(&mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) {
        self.env.retain(|(key, _)| key != k);
        self.env
            .push((k.to_string(), v.as_ref().to_string_lossy().into_owned()));
    }

    /// A docker config.json with `json` as its content.
    fn docker_config(&mut self, json: &serde_json::Value) {
        let d = self.path().join(".docker");
        fs_err::create_dir_all(&d).unwrap();
        fs_err::write(d.join("config.json"), json.to_string()).unwrap();
        self.set("DOCKER_CONFIG", &d);
    }

    /// Put `dir` first on PATH.
    fn path_prepend(&mut self, dir: &Path) {
        let path = std::env::var("PATH").unwrap_or_default();
        self.set("PATH", format!("{}:{path}", dir.display()));
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::cargo_bin("imagelock").unwrap();
        cmd.envs(self.reg.isolated_env())
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.path())
            .args(args);
        let registry = matches!(args.first(), Some(&"lock" | &"update" | &"resolve"))
            || args.contains(&"--remote");
        if registry {
            match &self.reg.ca_file {
                Some(ca) => cmd.arg("--ca-file").arg(ca),
                None => cmd.arg("--plain-http").arg(self.reg.host()),
            };
        }
        let o = cmd.output().unwrap();
        let all: Vec<&str> = self.extra_secrets.iter().map(String::as_str).collect();
        let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
        for s in secrets(&all) {
            assert!(
                !stdout.contains(&s) && !stderr.contains(&s),
                "a secret leaked in `imagelock {}`:\nstdout:\n{stdout}\nstderr:\n{stderr}",
                args.join(" ")
            );
        }
        let lock = self.path().join("images.lock");
        if let Ok(l) = fs_err::read_to_string(lock) {
            for s in secrets(&all) {
                assert!(!l.contains(&s), "a secret leaked into images.lock:\n{l}");
            }
        }
        o
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// A `kubernetes.io/dockerconfigjson` Secret manifest.
fn secret_yaml(ns: &str, name: &str, host: &str, user: &str, pass: &str) -> String {
    let json = serde_json::json!({"auths": {host: {"auth": b64(&format!("{user}:{pass}"))}}});
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        b64(&json.to_string())
    )
}

fn deployment(ns: &str, name: &str, image: &str, secrets: &[&str]) -> String {
    let pull = if secrets.is_empty() {
        String::new()
    } else {
        let items: Vec<String> = secrets
            .iter()
            .map(|s| format!("        - name: {s}\n"))
            .collect();
        format!("      imagePullSecrets:\n{}", items.concat())
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  template:\n    spec:\n{pull}      containers:\n        - name: app\n          image: {image}\n"
    )
}

fn lock_digest(dir: &Path, reference: &str) -> Option<String> {
    let lock = imagelock::lockfile::Lockfile::load(&dir.join("images.lock")).ok()?;
    let r = imagelock::reference::Reference::parse(reference).unwrap();
    lock.lookup(&r).map(|e| e.digest.to_string())
}

#[test]
fn two_namespaces_two_secrets_one_wrong_is_caught_per_workload() {
    let e = Env::new(Setup::Token);
    let h = e.reg.host();
    let digest = e.reg.push_oci_image("private/app", "1.0", "a");
    let image = format!("{h}/private/app:1.0");
    e.write(
        "good/secret.yaml",
        &secret_yaml("team-a", "regcred", &h, USER, PASSWORD),
    );
    e.write(
        "good/deploy.yaml",
        &deployment("team-a", "web", &image, &["regcred"]),
    );
    e.write(
        "bad/secret.yaml",
        &secret_yaml("team-b", "regcred", &h, USER, WRONG),
    );
    e.write(
        "bad/deploy.yaml",
        &deployment("team-b", "worker", &image, &["regcred"]),
    );

    // The right Secret resolves on its own.
    let o = e.run(&["lock", "good"]);
    expect_code(&o, 0);
    assert_eq!(
        lock_digest(e.path(), &image).as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(digest, e.reg.skopeo_digest("private/app:1.0"));

    // Both: the tag resolves with team-a's Secret, team-b's is rejected.
    fs_err::remove_file(e.path().join("images.lock")).unwrap();
    let o = e.run(&["lock", "."]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("Deployment worker (namespace team-b) cannot pull"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{h} rejected the credentials from Secret team-b/regcred (kubernetes.io/dockerconfigjson, key {h})"
        )),
        "{err}"
    );
    assert!(err.contains("used at bad/deploy.yaml:13:18"), "{err}");
    assert!(!err.contains("team-a/regcred"), "{err}");
    assert!(err.contains("hint: correct Secret team-b/regcred"), "{err}");
    assert!(
        !e.path().join("images.lock").exists(),
        "lock wrote a lockfile despite the access failure"
    );

    // check --remote: an `access` finding at the workload's line, exit 1.
    let o = e.run(&["lock", "good"]);
    expect_code(&o, 0);
    let o = e.run(&["check", "--remote", "."]);
    expect_code(&o, 1);
    let out = text(&o.stdout);
    assert!(
        out.contains(
            "bad/deploy.yaml:13:18: access: Deployment worker (namespace team-b) cannot pull"
        ),
        "{out}"
    );
    assert!(!out.contains("good/deploy.yaml"), "{out}");
    let o = e.run(&["check", "--remote", "--format", "json", "."]);
    expect_code(&o, 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["access"]);

    // list --format json names the sources per reference, never content.
    let o = e.run(&["list", "--format", "json", "."]);
    expect_code(&o, 0);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = doc["references"].as_array().unwrap().clone();
    let sources = |file: &str| -> Vec<String> {
        let row = rows
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(file))
            .unwrap();
        row["credential-sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        sources("bad/deploy.yaml"),
        [format!(
            "Secret team-b/regcred (kubernetes.io/dockerconfigjson, key {h})"
        )]
    );
    assert_eq!(
        sources("good/deploy.yaml"),
        [format!(
            "Secret team-a/regcred (kubernetes.io/dockerconfigjson, key {h})"
        )]
    );
}

#[test]
fn service_account_secrets_missing_secret_and_anonymous_public() {
    let e = Env::new(Setup::Token);
    let h = e.reg.host();
    e.reg.push_oci_image("private/app", "1", "p");
    e.reg.push_oci_image("public/tool", "1", "q");
    e.write(
        "sa.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: builder\n  namespace: ci\nimagePullSecrets:\n  - name: ci-pull\n",
    );
    e.write(
        "secret.yaml",
        &secret_yaml("ci", "ci-pull", &h, USER, PASSWORD),
    );
    // No imagePullSecrets: the ServiceAccount's apply.
    e.write(
        "job.yaml",
        &format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: build\n  namespace: ci\nspec:\n  template:\n    spec:\n      serviceAccountName: builder\n      containers:\n        - name: b\n          image: {h}/private/app:1\n"
        ),
    );
    // A public repository needs nothing; a missing Secret is a warning.
    e.write(
        "tool.yaml",
        &deployment("ci", "tool", &format!("{h}/public/tool:1"), &["nowhere"]),
    );
    let o = e.run(&["lock", "."]);
    expect_code(&o, 0);
    // Read before skopeo (which asks the token server with its own --creds).
    let log = e.reg.token_server.as_ref().unwrap().log();
    let err = text(&o.stderr);
    assert!(
        err.contains("warning: Deployment tool (namespace ci) names pull secret ci/nowhere"),
        "{err}"
    );
    assert_eq!(
        lock_digest(e.path(), &format!("{h}/private/app:1")).unwrap(),
        e.reg.skopeo_digest("private/app:1")
    );
    assert_eq!(
        lock_digest(e.path(), &format!("{h}/public/tool:1")).unwrap(),
        e.reg.skopeo_digest("public/tool:1")
    );
    assert!(
        log.iter().any(|t| t.user.as_deref() == Some(USER)
            && t.scopes.iter().any(|s| s.contains("private/app"))),
        "{log:?}"
    );
    assert!(
        log.iter()
            .filter(|t| t.scopes.iter().any(|s| s.contains("public/tool")))
            .all(|t| t.user.is_none()),
        "the public image was asked with credentials: {log:?}"
    );

    // Without credentials at all: the message says where it looked.
    fs_err::remove_file(e.path().join("sa.yaml")).unwrap();
    fs_err::remove_file(e.path().join("images.lock")).unwrap();
    let o = e.run(&["lock", "job.yaml"]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "{h} requires authentication and no credential matched (looked in: "
        )),
        "{err}"
    );
    assert!(err.contains("docker login"), "{err}");
}

#[test]
fn path_scoped_key_picks_the_right_credential() {
    let e = Env::new(Setup::Token);
    let h = e.reg.host();
    e.reg.push_oci_image("team-b/app", "1", "b");
    e.reg.push_oci_image("private/app", "1", "p");
    // bob may pull only team-b/*; alice everything but forbidden/*.
    let cfg = serde_json::json!({"auths": {
        h.clone(): {"auth": b64(&format!("{USER}:{PASSWORD}"))},
        format!("{h}/team-b"): {"username": USER_B, "password": PASSWORD_B},
    }});
    e.write("ci-pull.json", &cfg.to_string());
    e.write(
        "pods.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: a\n      image: {h}/team-b/app:1\n    - name: b\n      image: {h}/private/app:1\n"
        ),
    );
    let o = e.run(&["lock", "--pull-secret", "ci-pull.json", "pods.yaml"]);
    expect_code(&o, 0);
    let log = e.reg.token_server.as_ref().unwrap().log();
    let users_for = |repo: &str| -> Vec<Option<String>> {
        log.iter()
            .filter(|t| t.scopes.iter().any(|s| s.contains(repo)))
            .map(|t| t.user.clone())
            .collect()
    };
    // The most specific key first: bob for team-b, never alice there.
    assert_eq!(
        users_for("team-b/app"),
        [Some(USER_B.to_string())],
        "{log:?}"
    );
    assert_eq!(
        users_for("private/app"),
        [Some(USER.to_string())],
        "{log:?}"
    );
    assert_eq!(
        lock_digest(e.path(), &format!("{h}/team-b/app:1")).unwrap(),
        e.reg.skopeo_digest("team-b/app:1")
    );

    // list shows the order the kubelet would try.
    let o = e.run(&[
        "list",
        "--format",
        "json",
        "--pull-secret",
        "ci-pull.json",
        "pods.yaml",
    ]);
    expect_code(&o, 0);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = doc["references"].as_array().unwrap().clone();
    let s0: Vec<&str> = rows[0]["credential-sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        s0,
        [
            format!("--pull-secret ci-pull.json auths[\"{h}/team-b\"]"),
            format!("--pull-secret ci-pull.json auths[\"{h}\"]"),
        ]
    );
}

#[test]
fn credential_helpers_cred_helpers_creds_store_and_missing() {
    let mut e = Env::new(Setup::TlsBasic);
    let h = e.reg.host();
    e.reg.push_oci_image("team/app", "1", "a");
    e.reg.push_oci_image("team/other", "1", "b");
    let bin = e.path().join("bin");
    fs_err::create_dir_all(&bin).unwrap();
    let helper = creds::docker_credential_helper(&bin, "imagelock-test", &[(&h, USER, PASSWORD)]);
    e.path_prepend(&bin);
    e.write(
        "app.yaml",
        &format!("services:\n  a:\n    image: {h}/team/app:1\n  b:\n    image: {h}/team/other:1\n"),
    );

    // credHelpers[host] beats an auths entry with a wrong password.
    e.docker_config(&serde_json::json!({
        "auths": {h.clone(): {"auth": b64(&format!("{USER}:{WRONG}"))}},
        "credHelpers": {h.clone(): "imagelock-test"},
    }));
    let o = e.run(&["lock", "app.yaml"]);
    expect_code(&o, 0);
    assert_eq!(
        lock_digest(e.path(), &format!("{h}/team/app:1")).unwrap(),
        e.reg.skopeo_digest("team/app:1")
    );
    // Asked once for the registry, though two images were resolved.
    assert_eq!(creds::calls(&creds::calls_path(&helper)), vec![h.clone()]);

    // credsStore, the default helper.
    fs_err::remove_file(e.path().join("images.lock")).unwrap();
    e.docker_config(&serde_json::json!({"credsStore": "imagelock-test"}));
    let o = e.run(&["lock", "app.yaml"]);
    expect_code(&o, 0);

    // A helper that says "credentials not found": anonymous, then 401.
    fs_err::remove_file(e.path().join("images.lock")).unwrap();
    creds::docker_credential_helper(&bin, "empty", &[]);
    e.docker_config(&serde_json::json!({"credsStore": "empty"}));
    let o = e.run(&["lock", "app.yaml"]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(err.contains("no credential matched"), "{err}");

    // A helper missing from PATH is named with what to install.
    e.docker_config(&serde_json::json!({"credHelpers": {h.clone(): "not-installed"}}));
    let o = e.run(&["lock", "app.yaml"]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("warning: credential helper docker-credential-not-installed")
            && err.contains("is not installed: no docker-credential-not-installed on PATH"),
        "{err}"
    );

    // A helper that fails: named with its exit status and the command
    // that shows its message; its own output is never printed.
    creds::failing_docker_credential_helper(&bin, "broken");
    e.docker_config(&serde_json::json!({"credHelpers": {h.clone(): "broken"}}));
    let o = e.run(&["lock", "app.yaml"]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("credential helper docker-credential-broken")
            && err.contains("failed for")
            && err.contains("exit status 3")
            && err.contains(&format!("`echo {h} | docker-credential-broken get`"))
            && !err.contains("keychain locked"),
        "{err}"
    );
}

#[test]
fn identity_token_refresh_grant_and_registry_token() {
    let mut e = Env::new(Setup::Token);
    let h = e.reg.host();
    e.reg.push_oci_image("private/app", "1", "p");
    e.write(
        "c.yaml",
        &format!("services:\n  a:\n    image: {h}/private/app:1\n"),
    );
    e.docker_config(&serde_json::json!({"auths": {h.clone(): {"identitytoken": REFRESH_TOKEN}}}));
    let o = e.run(&["lock", "c.yaml"]);
    expect_code(&o, 0);
    let log = e.reg.token_server.as_ref().unwrap().log();
    let grant = log
        .iter()
        .find(|t| t.method == "POST")
        .unwrap_or_else(|| panic!("no refresh-token grant: {log:?}"));
    assert_eq!(grant.grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(grant.client_id.as_deref(), Some("imagelock"));
    assert_eq!(grant.user.as_deref(), Some(USER));
    assert!(log.iter().all(|t| t.method == "POST"), "{log:?}");

    // An unknown refresh token: rejected, named by source.
    fs_err::remove_file(e.path().join("images.lock")).unwrap();
    e.docker_config(
        &serde_json::json!({"auths": {h.clone(): {"identitytoken": "bogus-refresh-9"}}}),
    );
    e.extra_secrets.push("bogus-refresh-9".into());
    let o = e.run(&["lock", "c.yaml"]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("{h} rejected the credentials from"))
            && err.contains("config.json auths[")
            && err.contains("(identity token)"),
        "{err}"
    );

    // A registry token is sent as it is: no token server request.
    let token = e.reg.registry_token(USER, "private/app");
    e.extra_secrets.push(token.clone());
    e.docker_config(&serde_json::json!({"auths": {h.clone(): {"registrytoken": token}}}));
    let before = e.reg.token_server.as_ref().unwrap().requests();
    let o = e.run(&["lock", "c.yaml"]);
    expect_code(&o, 0);
    assert_eq!(e.reg.token_server.as_ref().unwrap().requests(), before);
    assert_eq!(
        lock_digest(e.path(), &format!("{h}/private/app:1")).unwrap(),
        e.reg.skopeo_digest("private/app:1")
    );
}

#[test]
fn kubelet_credential_provider_plugin_cached_per_registry() {
    let e = Env::new(Setup::Token);
    let h = e.reg.host();
    let mut yaml = String::new();
    for i in 0..6 {
        e.reg
            .push_oci_image(&format!("private/app{i}"), "1", &format!("s{i}"));
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\nspec:\n  containers:\n    - name: c\n      image: {h}/private/app{i}:1\n"
        ));
    }
    e.write("pods.yaml", &yaml);
    let bin = e.path().join("plugins");
    fs_err::create_dir_all(&bin).unwrap();
    // Ports are compared as written (the kubelet has no port globs).
    let pattern = format!("127.0.0.*:{}", e.reg.port);
    let plugin = creds::credential_provider_plugin(
        &bin,
        "test-provider",
        "Registry",
        "10m",
        &[
            ProviderAuth {
                key: format!("{h}/nothing-here"),
                username: USER.into(),
                password: PLUGIN_SECRET_WRONG.into(),
            },
            ProviderAuth {
                key: h.clone(),
                username: USER.into(),
                password: PASSWORD.into(),
            },
        ],
    );
    // A second plugin that matches nothing here is never run.
    let other = creds::failing_credential_provider_plugin(&bin, "other-provider");
    creds::credential_provider_config(
        &e.path().join("providers.yaml"),
        "v1",
        &[
            (
                "test-provider",
                &[pattern.as_str()],
                "5m",
                &["get-credentials"],
                &[("PLUGIN_TEST_ENV", "from-config")],
            ),
            ("other-provider", &["*.example.com"], "5m", &[], &[]),
        ],
    );
    let provider_args = [
        "--credential-provider-config",
        "providers.yaml",
        "--credential-provider-bin-dir",
        "plugins",
    ];
    let mut args = vec!["lock"];
    args.extend(provider_args);
    args.push("pods.yaml");
    let o = e.run(&args);
    expect_code(&o, 0);
    for i in 0..6 {
        assert_eq!(
            lock_digest(e.path(), &format!("{h}/private/app{i}:1")).unwrap(),
            e.reg.skopeo_digest(&format!("private/app{i}:1"))
        );
    }
    // cacheKeyType Registry: asked once for six images, with args and env.
    let calls = creds::calls(&creds::calls_path(&plugin));
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with(&format!("{h}/private/app")),
        "{calls:?}"
    );
    let args_file = fs_err::read_to_string(bin.join("test-provider.args")).unwrap();
    assert_eq!(args_file.trim(), "get-credentials");
    let env_file = fs_err::read_to_string(bin.join("test-provider.env")).unwrap();
    assert_eq!(env_file.trim(), "from-config");
    assert!(creds::calls(&creds::calls_path(&other)).is_empty());

    // A failing plugin is named with its exit status and the command that
    // shows its message; its own output is never printed.
    creds::credential_provider_config(
        &e.path().join("providers.yaml"),
        "v1",
        &[("other-provider", &[pattern.as_str()], "5m", &[], &[])],
    );
    fs_err::remove_file(e.path().join("images.lock")).unwrap();
    let o = e.run(&args);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("credential provider other-provider failed: exit status 2 (its output is not shown, as it may hold a secret; to see it, run `echo '{\"apiVersion\"")
            && err.contains("plugins/other-provider`"),
        "{err}"
    );
    assert!(
        !err.contains("no instance metadata") && !err.contains("detail"),
        "{err}"
    );
}

#[test]
fn containers_auth_json_with_a_path_key() {
    let mut e = Env::new(Setup::TlsBasic);
    let h = e.reg.host();
    e.reg.push_oci_image("team/app", "1", "a");
    e.write(
        "c.yaml",
        &format!("services:\n  a:\n    image: {h}/team/app:1\n"),
    );
    let auth = e.write(
        "auth.json",
        &serde_json::json!({"auths": {
            h.clone(): {"auth": b64(&format!("{USER}:{WRONG}"))},
            format!("{h}/team"): {"auth": b64(&format!("{USER}:{PASSWORD}"))},
        }})
        .to_string(),
    );
    e.set("REGISTRY_AUTH_FILE", &auth);
    let o = e.run(&["lock", "c.yaml"]);
    expect_code(&o, 0);
    assert_eq!(
        lock_digest(e.path(), &format!("{h}/team/app:1")).unwrap(),
        e.reg.skopeo_digest("team/app:1")
    );
    let o = e.run(&["list", "--format", "json", "c.yaml"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = doc["references"].as_array().unwrap().clone();
    let label = rows[0]["credential-sources"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        label.ends_with(&format!("auth.json auths[\"{h}/team\"]")),
        "{label}"
    );
}

/// A pull Secret's `.dockerconfigjson` with `decoys` entries besides the
/// one for `host`.
fn big_secret_yaml(name: &str, host: &str, decoys: usize) -> String {
    let mut auths = serde_json::Map::new();
    for i in 0..decoys {
        auths.insert(
            format!("decoy{i}.example.com"),
            serde_json::json!({"auth": b64(&format!("u{i}:p{i}"))}),
        );
    }
    auths.insert(
        host.to_string(),
        serde_json::json!({"auth": b64(&format!("{USER}:{PASSWORD}"))}),
    );
    let json = serde_json::json!({ "auths": auths }).to_string();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: team\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        b64(&json)
    )
}

#[test]
fn a_large_pull_secret_is_read_and_one_past_the_kubernetes_limit_is_refused() {
    let e = Env::new(Setup::Token);
    let h = e.reg.host();
    e.reg.push_oci_image("private/app", "1", "a");
    // Just under 1 MiB of JSON: some 15,000 registries, read by every
    // workload that names it (reading it was quadratic in its entries).
    let secret = big_secret_yaml("regcred", &h, 15_000);
    e.write("k8s/secret.yaml", &secret);
    let pods: Vec<String> = (0..5)
        .map(|i| {
            deployment(
                "team",
                &format!("app{i}"),
                &format!("{h}/private/app:1"),
                &["regcred"],
            )
        })
        .collect();
    e.write("k8s/apps.yaml", &pods.join("---\n"));
    let o = e.run(&["lock", "k8s"]);
    expect_code(&o, 0);
    assert_eq!(
        lock_digest(e.path(), &format!("{h}/private/app:1")).unwrap(),
        e.reg.skopeo_digest("private/app:1")
    );

    // Ten times the limit: refused with the limit named, before its JSON
    // is read.
    e.write("huge.yaml", &big_secret_yaml("huge", &h, 170_000));
    fs_err::remove_file(e.path().join("images.lock")).unwrap();
    let o = e.run(&["lock", "--pull-secret", "huge.yaml", "k8s"]);
    expect_code(&o, 2);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("huge.yaml")
            && stderr.contains("Secret huge")
            && stderr.contains("1 MiB")
            && stderr.contains("split the registries over several Secrets"),
        "{stderr}"
    );
    // The same Secret among the scanned files: the pods naming it are
    // told why it is not used.
    e.write("k8s/secret.yaml", &big_secret_yaml("regcred", &h, 170_000));
    let o = e.run(&["lock", "k8s"]);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("pull secret team/regcred cannot be used") && stderr.contains("1 MiB"),
        "{stderr}"
    );
}

#[test]
fn identity_token_rotated_refresh_token_post_404_fallback_and_oauth2_error() {
    use crate::support::token_server::Refresh;
    let mut e = Env::new(Setup::Token);
    let h = e.reg.host();
    let mut yaml = String::from("services:\n");
    // Three repositories: three scopes, three refresh-token grants.
    for i in 0..3 {
        e.reg.push_oci_image(&format!("private/app{i}"), "1", "r");
        yaml.push_str(&format!("  a{i}:\n    image: {h}/private/app{i}:1\n"));
    }
    e.write("c.yaml", &yaml);
    e.docker_config(&serde_json::json!({"auths": {h.clone(): {"identitytoken": REFRESH_TOKEN}}}));
    let ts = e.reg.token_server.as_ref().unwrap();

    // Rotation: each grant spends the refresh token the last one returned.
    ts.set_refresh(Refresh::Rotating);
    let o = e.run(&["lock", "c.yaml"]);
    expect_code(&o, 0);
    for i in 0..3 {
        assert_eq!(
            lock_digest(e.path(), &format!("{h}/private/app{i}:1")).unwrap(),
            e.reg.skopeo_digest(&format!("private/app{i}:1"))
        );
    }
    let log = ts.log();
    let grants: Vec<_> = log.iter().filter(|t| t.method == "POST").collect();
    assert_eq!(grants.len(), 3, "{log:?}");
    assert!(
        grants.iter().all(|t| t.user.as_deref() == Some(USER)),
        "a spent refresh token was sent: {log:?}"
    );
    assert_eq!(ts.rotated_tokens().len(), 3);

    // 404 to the POST: the GET form, with the refresh token.
    ts.set_refresh(Refresh::PostNotFound);
    fs_err::remove_file(e.path().join("images.lock")).unwrap();
    let before = ts.log().len();
    let o = e.run(&["lock", "c.yaml"]);
    expect_code(&o, 0);
    let log = ts.log()[before..].to_vec();
    assert!(
        log.iter()
            .any(|t| t.method == "GET" && t.user.as_deref() == Some(USER)),
        "{log:?}"
    );
    assert_eq!(
        lock_digest(e.path(), &format!("{h}/private/app0:1")).unwrap(),
        e.reg.skopeo_digest("private/app0:1")
    );

    // An OAuth2 error reply: its error and description are in the message.
    ts.set_refresh(Refresh::Expired);
    fs_err::remove_file(e.path().join("images.lock")).unwrap();
    e.extra_secrets.extend(ts.rotated_tokens());
    let o = e.run(&["lock", "c.yaml"]);
    expect_code(&o, 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("answered 400 Bad Request to the refresh-token grant (invalid_grant: the refresh token has expired)"),
        "{err}"
    );
}
