//! Self-tests of the test harness's additions: the second user, the
//! OAuth2 refresh-token grant, registry tokens, and the credential helper
//! and provider plugin scripts.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;

use crate::support::creds::{self, ProviderAuth};
use crate::support::token_server::{SERVICE, UNKNOWN_REFRESH_TOKEN};
use crate::support::{
    Registry, Setup, PASSWORD, PASSWORD_B, REFRESH_TOKEN, REFRESH_TOKEN_B, USER, USER_B,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn form_encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// POST a form to the token server: status and JSON body.
async fn post_token(reg: &Registry, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let resp = reg
        .http()
        .post(reg.token_server.as_ref().unwrap().realm())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_encode(fields))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, body)
}

/// GET a token with Basic credentials: status and JSON body.
async fn get_token(reg: &Registry, user: &str, password: &str, scope: &str) -> (u16, String) {
    let resp = reg
        .http()
        .get(reg.token_server.as_ref().unwrap().realm())
        .query(&[("service", SERVICE), ("scope", scope)])
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    (
        status,
        body["token"].as_str().unwrap_or_default().to_string(),
    )
}

/// HEAD a manifest with `Authorization`: status and digest header.
async fn head(reg: &Registry, repo: &str, tag: &str, auth: &str) -> (u16, Option<String>) {
    let resp = reg
        .http()
        .head(format!("{}/v2/{repo}/manifests/{tag}", reg.base_url()))
        .header("Accept", OCI_MANIFEST)
        .header("Authorization", auth)
        .send()
        .await
        .unwrap();
    let digest = resp
        .headers()
        .get("docker-content-digest")
        .map(|v| v.to_str().unwrap().to_string());
    (resp.status().as_u16(), digest)
}

/// The JWT's `access` claim.
fn access(jwt: &str) -> serde_json::Value {
    let claims = jwt.split('.').nth(1).unwrap();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&claims).unwrap()["access"].clone()
}

fn refresh_form<'a>(refresh_token: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("service", SERVICE),
        ("scope", scope),
        ("client_id", "imagelock"),
    ]
}

#[tokio::test]
async fn refresh_token_grant_second_user_and_registry_tokens() {
    let reg = Registry::start(Setup::Token);
    let app = reg.push_oci_image("team/app", "v1", "a");
    let team_b = reg.push_oci_image("team-b/app", "v1", "b");
    let ts = reg.token_server.as_ref().unwrap();

    // alice's refresh token: an access token the registry takes.
    let (status, body) = post_token(
        &reg,
        &refresh_form(REFRESH_TOKEN, "repository:team/app:pull"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("token").is_none(), "{body}");
    assert_eq!(body["refresh_token"], REFRESH_TOKEN);
    assert_eq!(body["expires_in"], 300);
    let jwt = body["access_token"].as_str().unwrap();
    assert_eq!(
        head(&reg, "team/app", "v1", &format!("Bearer {jwt}")).await,
        (200, Some(app.clone()))
    );
    let last = ts.log().pop().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(last.user.as_deref(), Some(USER));
    assert_eq!(last.grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(last.client_id.as_deref(), Some("imagelock"));
    assert_eq!(last.scopes, ["repository:team/app:pull"]);

    // Repeated and space-separated scopes all count.
    let mut form = refresh_form(
        REFRESH_TOKEN,
        "repository:team/app:pull repository:forbidden/x:pull",
    );
    form.push(("scope", "repository:team-b/app:pull"));
    let (status, body) = post_token(&reg, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ts.log().pop().unwrap().scopes.len(), 3);
    let granted = access(body["access_token"].as_str().unwrap());
    assert_eq!(granted[1]["actions"], serde_json::json!([]), "{granted}");

    // Unknown refresh token: 401 with a JSON body; missing client_id: 400.
    let (status, body) = post_token(
        &reg,
        &refresh_form("nope-refresh", "repository:team/app:pull"),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        ts.log().pop().unwrap().user.as_deref(),
        Some(UNKNOWN_REFRESH_TOKEN)
    );
    let mut form = refresh_form(REFRESH_TOKEN, "repository:team/app:pull");
    form.retain(|(k, _)| *k != "client_id");
    let (status, body) = post_token(&reg, &form).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("client_id"));
    // A refresh token is bound to its service.
    let mut form = refresh_form(REFRESH_TOKEN, "repository:team/app:pull");
    form[2].1 = "another-service";
    assert_eq!(post_token(&reg, &form).await.0, 401);

    // bob's refresh token: pull under team-b/* only.
    let (status, body) = post_token(
        &reg,
        &refresh_form(REFRESH_TOKEN_B, "repository:team-b/app:pull"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let jwt = body["access_token"].as_str().unwrap();
    assert_eq!(
        head(&reg, "team-b/app", "v1", &format!("Bearer {jwt}")).await,
        (200, Some(team_b.clone()))
    );
    assert_eq!(ts.log().pop().unwrap().user.as_deref(), Some(USER_B));
    let (status, body) = post_token(
        &reg,
        &refresh_form(REFRESH_TOKEN_B, "repository:team/app:pull"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let jwt = body["access_token"].as_str().unwrap();
    assert_eq!(access(jwt)[0]["actions"], serde_json::json!([]));
    assert_eq!(
        head(&reg, "team/app", "v1", &format!("Bearer {jwt}"))
            .await
            .0,
        401
    );

    // bob with Basic over GET: the same grants; a wrong password is a 401.
    let (status, jwt) = get_token(&reg, USER_B, PASSWORD_B, "repository:team-b/app:pull").await;
    assert_eq!(status, 200);
    assert_eq!(
        head(&reg, "team-b/app", "v1", &format!("Bearer {jwt}"))
            .await
            .0,
        200
    );
    let (_, jwt) = get_token(&reg, USER_B, PASSWORD_B, "repository:team/app:pull").await;
    assert_eq!(
        head(&reg, "team/app", "v1", &format!("Bearer {jwt}"))
            .await
            .0,
        401
    );
    assert_eq!(
        get_token(&reg, USER_B, PASSWORD, "repository:team-b/app:pull")
            .await
            .0,
        401
    );
    let last = ts.log().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.user.as_deref()),
        ("GET", Some(USER_B))
    );
    assert_eq!(
        get_token(&reg, USER, PASSWORD, "repository:team/app:pull")
            .await
            .0,
        200
    );

    // Registry tokens go straight into `Authorization: Bearer`.
    let before = ts.requests();
    let t = reg.registry_token(USER_B, "team-b/app");
    assert_eq!(
        head(&reg, "team-b/app", "v1", &format!("Bearer {t}"))
            .await
            .0,
        200
    );
    let t = reg.registry_token(USER_B, "team/app");
    assert_eq!(
        head(&reg, "team/app", "v1", &format!("Bearer {t}")).await.0,
        401
    );
    let t = reg.registry_token(USER, "team/app");
    assert_eq!(
        head(&reg, "team/app", "v1", &format!("Bearer {t}")).await.0,
        200
    );
    assert_eq!(ts.requests(), before);

    // No refresh token is ever logged.
    let log = format!("{:?}", ts.log());
    assert!(
        !log.contains(REFRESH_TOKEN)
            && !log.contains(REFRESH_TOKEN_B)
            && !log.contains("nope-refresh")
    );
}

#[tokio::test]
async fn tls_basic_knows_bob() {
    let reg = Registry::start(Setup::TlsBasic);
    let d = reg.push_oci_image("team/app", "v1", "x");
    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    assert_eq!(
        head(&reg, "team/app", "v1", &basic(USER_B, PASSWORD_B)).await,
        (200, Some(d))
    );
    assert_eq!(
        head(&reg, "team/app", "v1", &basic(USER, PASSWORD)).await.0,
        200
    );
    assert_eq!(
        head(&reg, "team/app", "v1", &basic(USER_B, PASSWORD))
            .await
            .0,
        401
    );
}

fn run(program: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A program may exit without reading its input (`store` here).
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn docker_credential_helper_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let helper = creds::docker_credential_helper(
        dir.path(),
        "test",
        &[
            ("127.0.0.1:5000", "<token>", r#"id"tok'en"#),
            ("https://index.docker.io/v1/", "alice", "s3cret&<x>"),
        ],
    );
    assert_eq!(helper, dir.path().join("docker-credential-test"));

    // Found via PATH, URL without a trailing newline.
    let path = format!("{}:/usr/bin:/bin", dir.path().display());
    let o = run(
        Path::new("docker-credential-test"),
        &["get"],
        "127.0.0.1:5000",
        &[("PATH", &path)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.ends_with("}\n") && out.contains(r"\u003ctoken\u003e"),
        "{out}"
    );
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        got,
        serde_json::json!({"ServerURL": "127.0.0.1:5000", "Username": "<token>", "Secret": "id\"tok'en"})
    );

    // CRLF and whitespace are trimmed.
    let o = run(&helper, &["get"], "  https://index.docker.io/v1/\r\n", &[]);
    assert_eq!(o.status.code(), Some(0));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(got["Secret"], "s3cret&<x>");

    // Unknown server: the docker-credential-helpers text, exit 1.
    let o = run(&helper, &["get"], "other.example\n", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stdout), format!("{}\n", creds::NOT_FOUND));

    let o = run(&helper, &["list"], "", &[]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list["127.0.0.1:5000"], "<token>");
    assert_eq!(run(&helper, &["store"], "{}", &[]).status.code(), Some(1));

    let calls_file = dir.path().join("docker-credential-test.calls");
    assert_eq!(creds::calls_path(&helper), calls_file);
    assert_eq!(
        creds::calls(&calls_file),
        [
            "127.0.0.1:5000",
            "https://index.docker.io/v1/",
            "other.example"
        ]
    );
    assert!(!fs_err::read_to_string(&calls_file)
        .unwrap()
        .contains("tok'en"));

    let failing = creds::failing_docker_credential_helper(dir.path(), "locked");
    assert!(creds::calls(&creds::calls_path(&failing)).is_empty());
    let o = run(&failing, &["get"], "127.0.0.1:5000", &[]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(o.stdout, b"");
    assert_eq!(text(&o.stderr), format!("{}\n", creds::HELPER_FAILURE));
    assert_eq!(
        creds::calls(&creds::calls_path(&failing)),
        ["127.0.0.1:5000"]
    );
}

#[test]
fn credential_provider_plugin_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let auth = [
        ProviderAuth {
            key: "127.0.0.1:5000".into(),
            username: "alice".into(),
            password: r#"pa"ss<>"#.into(),
        },
        ProviderAuth {
            key: "*.example.com/team".into(),
            username: "<token>".into(),
            password: "t".into(),
        },
    ];
    let plugin =
        creds::credential_provider_plugin(dir.path(), "my-plugin", "Registry", "5m", &auth);
    let request = "{\n  \"apiVersion\" : \"credentialprovider.kubelet.k8s.io/v1\",\n  \"kind\":\"CredentialProviderRequest\",\n  \"image\": \"127.0.0.1:5000/team/app:v1\"\n}\n";
    let o = run(
        &plugin,
        &["--flag", "x"],
        request,
        &[("PLUGIN_TEST_ENV", "hello")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderResponse",
            "cacheKeyType": "Registry",
            "cacheDuration": "5m",
            "auth": {
                "127.0.0.1:5000": {"username": "alice", "password": "pa\"ss<>"},
                "*.example.com/team": {"username": "<token>", "password": "t"},
            },
        })
    );
    let compact = r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"reg.example/a@sha256:00"}"#;
    let o = run(&plugin, &[], compact, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    // Wrong kind / version: refused, not logged as a call.
    let o = run(
        &plugin,
        &[],
        &compact.replace("CredentialProviderRequest", "Other"),
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("kind"), "{}", text(&o.stderr));
    let o = run(&plugin, &[], &compact.replace("/v1\"", "/v1alpha1\""), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("apiVersion"));

    let side = |ext: &str| dir.path().join(format!("my-plugin.{ext}"));
    assert_eq!(
        creds::calls(&side("calls")),
        ["127.0.0.1:5000/team/app:v1", "reg.example/a@sha256:00"]
    );
    assert_eq!(creds::calls(&side("args")), ["--flag x", ""]);
    assert_eq!(creds::calls(&side("env")), ["hello", ""]);
    assert_eq!(creds::calls(&side("requests")).len(), 4);

    let failing = creds::failing_credential_provider_plugin(dir.path(), "broken");
    let o = run(&failing, &[], compact, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(o.stdout, b"");
    assert_eq!(
        text(&o.stderr),
        format!("{}\ndetail\n", creds::PLUGIN_FAILURE)
    );
    assert_eq!(
        creds::calls(&creds::calls_path(&failing)),
        ["reg.example/a@sha256:00"]
    );

    let cfg = dir.path().join("config.yaml");
    creds::credential_provider_config(
        &cfg,
        "v1",
        &[
            (
                "my-plugin",
                &["127.0.0.1:5000", "*.example.com"],
                "1m",
                &["--flag"],
                &[("PLUGIN_TEST_ENV", "hello")],
            ),
            ("broken", &["*.broken.example"], "0s", &[], &[]),
        ],
    );
    assert_eq!(
        fs_err::read_to_string(&cfg).unwrap(),
        r#"apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: "my-plugin"
    matchImages:
      - "127.0.0.1:5000"
      - "*.example.com"
    defaultCacheDuration: "1m"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args:
      - "--flag"
    env:
      - name: "PLUGIN_TEST_ENV"
        value: "hello"
  - name: "broken"
    matchImages:
      - "*.broken.example"
    defaultCacheDuration: "0s"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
"#
    );
}
