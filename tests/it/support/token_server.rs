//! A small token server for distribution's `auth: token`.
//!
//! Grants:
//! - anonymous: `pull` under `public/*`, nothing elsewhere;
//! - `USER`/`PASSWORD` (Basic): `pull`/`push` everywhere except
//!   `forbidden/*`, where nothing;
//! - `USER_B`/`PASSWORD_B` (Basic): `pull` under `team-b/*`, nothing
//!   elsewhere;
//! - a wrong password: 401.
//!
//! Two ways to ask:
//! - `GET /token?service=..&scope=..` with optional Basic auth (the
//!   classic docker token flow);
//! - `POST /token` with an `application/x-www-form-urlencoded` body
//!   (OAuth2, as Docker's `identitytoken` and Azure Container Registry do):
//!   `grant_type=refresh_token`, `refresh_token`, `service`, `scope`
//!   (space-separated, may be repeated), `client_id`. [`REFRESH_TOKEN`]
//!   stands for `USER`, [`REFRESH_TOKEN_B`] for `USER_B`. A missing
//!   `grant_type`, `service`, `client_id` or `refresh_token` is a 400 (as
//!   is any grant type but `refresh_token`, and a body that is not
//!   form-encoded: its fields are not read, as Go's `PostFormValue` does);
//!   an unknown refresh token, or a `service` other than [`SERVICE`], is a
//!   401. Errors carry a JSON body. The reply is `access_token`,
//!   `refresh_token` (the same one) and `expires_in`, and no `token`.
//!
//! Refresh modes ([`TokenServer::set_refresh`]): refresh tokens that
//! rotate (each grant returns a new one and refuses the one spent, as
//! OAuth2 servers with rotation do), a `404` to the POST with the refresh
//! token taken as a Basic password on `GET` instead (GCR's answer, which
//! containerd falls back from), or every refresh token expired
//! (`invalid_grant`).
//!
//! Hostile modes ([`TokenServer::set_hostile`]) answer every `GET /token`
//! with something a real token server should not send, for tests that
//! imagelock classifies it instead of crashing.
//!
//! Tokens are RS256 JWTs whose header carries the signing certificate in
//! `x5c` (distribution 2.8 accepts that when the certificate is in its
//! `rootcertbundle`). Every request is counted and logged (never a
//! password or refresh token).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::pki::SigningKey;
use super::{PASSWORD, PASSWORD_B, USER, USER_B};

pub(crate) const SERVICE: &str = "imagelock-test-registry";
pub(crate) const ISSUER: &str = "imagelock-test-token-issuer";

/// The OAuth2 refresh token (a docker `identitytoken`) standing for `USER`.
pub(crate) const REFRESH_TOKEN: &str = "imagelock-test-refresh-token-for-alice";
/// The OAuth2 refresh token standing for `USER_B`.
pub(crate) const REFRESH_TOKEN_B: &str = "imagelock-test-refresh-token-for-bob";

/// What [`TokenRequest::user`] says for a refused refresh token.
pub(crate) const UNKNOWN_REFRESH_TOKEN: &str = "<unknown refresh token>";

/// One token request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct TokenRequest {
    /// `None` for anonymous, else the Basic username (even when refused);
    /// for a refresh-token grant the user the token stands for, or
    /// [`UNKNOWN_REFRESH_TOKEN`].
    pub user: Option<String>,
    pub scopes: Vec<String>,
    /// `GET` or `POST`.
    pub method: String,
    /// The form's `grant_type` (POST only).
    pub grant_type: Option<String>,
    /// The form's `client_id` (POST only).
    pub client_id: Option<String>,
}
/// A wrong answer for every `GET /token` from now on.
#[derive(Debug, Clone)]
pub(crate) enum Hostile {
    /// 200 with a valid token, `expires_in` written as this raw JSON
    /// (`18446744073709551615`, `-1`, `1e300`, `"soon"`).
    ExpiresIn(String),
    /// 200 with this content type and body.
    Body { content_type: String, body: String },
    /// 200 with a body that never ends.
    Flood,
    /// This status with an empty JSON object, every time.
    Status(u16),
}

/// How the refresh-token grant behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Refresh {
    /// The same refresh token is returned and stays valid.
    #[default]
    Same,
    /// Each grant returns a new refresh token for `USER`
    /// (`<REFRESH_TOKEN>-rotated-N`) and the one spent is refused (400
    /// `invalid_grant`).
    Rotating,
    /// `POST /token` is a 404; `GET /token` takes [`REFRESH_TOKEN`] as
    /// the Basic password (any user name) for `USER`.
    PostNotFound,
    /// Every refresh-token grant is a 400 `invalid_grant` "the refresh
    /// token has expired".
    Expired,
}

/// The refresh token of `USER` that [`Refresh::Rotating`] accepts now.
struct Rotation {
    current: String,
    issued: usize,
}

struct Inner {
    refresh: Mutex<Refresh>,
    rotation: Mutex<Rotation>,
    hostile: Mutex<Option<Hostile>>,
    key: ring::signature::RsaKeyPair,
    cert_der: Vec<u8>,
    count: AtomicUsize,
    log: Mutex<Vec<TokenRequest>>,
    stop: AtomicBool,
    jti: AtomicUsize,
    expires_in: AtomicUsize,
}

pub(crate) struct TokenServer {
    pub port: u16,
    inner: Arc<Inner>,
}

impl TokenServer {
    pub(crate) fn start(key: &SigningKey) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            refresh: Mutex::new(Refresh::Same),
            rotation: Mutex::new(Rotation {
                current: REFRESH_TOKEN.to_string(),
                issued: 0,
            }),
            hostile: Mutex::new(None),
            key: ring::signature::RsaKeyPair::from_pkcs8(&key.pkcs8_der).unwrap(),
            cert_der: key.cert_der.clone(),
            count: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            jti: AtomicUsize::new(0),
            expires_in: AtomicUsize::new(300),
        });
        super::serve(
            listener,
            inner.clone(),
            |i| i.stop.load(Ordering::SeqCst),
            handle,
        );
        TokenServer { port, inner }
    }

    pub(crate) fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// Token requests served so far (all outcomes).
    pub(crate) fn requests(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }

    /// `expires_in` (seconds) for tokens issued from now on; the JWT's
    /// `exp` follows it.
    pub(crate) fn set_expires_in(&self, secs: usize) {
        self.inner.expires_in.store(secs, Ordering::SeqCst);
    }

    /// Run the refresh-token grant this way from now on.
    pub(crate) fn set_refresh(&self, mode: Refresh) {
        *self.inner.refresh.lock().unwrap() = mode;
    }

    /// The refresh tokens [`Refresh::Rotating`] has handed out so far.
    pub(crate) fn rotated_tokens(&self) -> Vec<String> {
        let n = self.inner.rotation.lock().unwrap().issued;
        (1..=n).map(rotated).collect()
    }

    /// Answer every `GET /token` this way from now on (`None`: normally).
    pub(crate) fn set_hostile(&self, hostile: Option<Hostile>) {
        *self.inner.hostile.lock().unwrap() = hostile;
    }

    pub(crate) fn log(&self) -> Vec<TokenRequest> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Issue a token directly (for the harness's own pushes).
    pub(crate) fn token_for(&self, user: Option<&str>, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        make_token(&self.inner, user, &scopes)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The `n`th refresh token [`Refresh::Rotating`] hands out.
fn rotated(n: usize) -> String {
    format!("{REFRESH_TOKEN}-rotated-{n}")
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(h, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn granted(user: Option<&str>, name: &str, actions: &[&str]) -> Vec<String> {
    let allowed: &[&str] = match user {
        None if name.starts_with("public/") => &["pull"],
        None => &[],
        Some(u) if u == USER_B && name.starts_with("team-b/") => &["pull"],
        Some(u) if u == USER_B => &[],
        // USER (and any other name handed to `token_for`).
        Some(_) if name.starts_with("forbidden/") => &[],
        Some(_) => &["pull", "push", "delete"],
    };
    actions
        .iter()
        .filter(|a| allowed.contains(a))
        .map(std::string::ToString::to_string)
        .collect()
}

fn make_token(inner: &Inner, user: Option<&str>, scopes: &[String]) -> String {
    let mut access = Vec::new();
    for scope in scopes {
        // repository:name:actions — name may hold ':' only with a port, not here.
        let mut parts = scope.splitn(3, ':');
        let (Some(typ), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if typ != "repository" {
            continue;
        }
        let acts: Vec<&str> = actions.split(',').collect();
        let g = granted(user, name, &acts);
        access.push(serde_json::json!({"type": "repository", "name": name, "actions": g}));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "RS256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(&inner.cert_der)],
    });
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user.unwrap_or(""),
        "aud": SERVICE,
        "exp": now + inner.expires_in.load(Ordering::SeqCst) as u64,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("t{}", inner.jti.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; inner.key.public().modulus_len()];
    inner
        .key
        .sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut sig,
        )
        .unwrap();
    format!("{signing_input}.{}", b64url(&sig))
}

/// Largest request body read (a token request is a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

fn handle(inner: &Inner, conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("GET").to_string();
    let target = words.next().unwrap_or("/").to_string();
    let mut authorization = None;
    let mut content_length = 0usize;
    let mut content_type = String::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let k = k.trim();
            if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_string());
            } else if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("content-type") {
                content_type = v.trim().to_string();
            }
        }
    }
    inner.count.fetch_add(1, Ordering::SeqCst);
    let mut out = conn;
    if method == "POST" {
        let mut body = vec![0u8; content_length.min(MAX_BODY)];
        reader.read_exact(&mut body)?;
        let path = target.split('?').next().unwrap_or("");
        if path != "/token" {
            return respond(&mut out, 404, "Not Found", r#"{"details":"not found"}"#);
        }
        if *inner.refresh.lock().unwrap() == Refresh::PostNotFound {
            inner.log.lock().unwrap().push(TokenRequest {
                user: None,
                scopes: Vec::new(),
                method,
                grant_type: None,
                client_id: None,
            });
            return respond(&mut out, 404, "Not Found", "404 page not found\n");
        }
        return post_token(inner, &mut out, &content_type, &body);
    }

    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut scopes = Vec::new();
    for pair in query.split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            if k == "scope" {
                scopes.extend(percent_decode(v).split(' ').map(str::to_string));
            }
        }
    }
    let mut user = None;
    let mut ok = true;
    if let Some(a) = &authorization {
        let decoded = a
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let (u, p) = decoded.split_once(':').unwrap_or((&decoded, ""));
        user = Some(u.to_string());
        ok = (u == USER && p == PASSWORD) || (u == USER_B && p == PASSWORD_B);
        if *inner.refresh.lock().unwrap() == Refresh::PostNotFound && p == REFRESH_TOKEN {
            user = Some(USER.to_string());
            ok = true;
        }
    }
    inner.log.lock().unwrap().push(TokenRequest {
        user: user.clone(),
        scopes: scopes.clone(),
        method,
        grant_type: None,
        client_id: None,
    });
    if !ok {
        let body = r#"{"details":"invalid username or password"}"#;
        return respond(&mut out, 401, "Unauthorized", body);
    }
    let token = make_token(inner, user.as_deref(), &scopes);
    let hostile = inner.hostile.lock().unwrap().clone();
    match hostile {
        None => {}
        Some(Hostile::ExpiresIn(raw)) => {
            let body = format!(r#"{{"token":"{token}","expires_in":{raw}}}"#);
            return respond(&mut out, 200, "OK", &body);
        }
        Some(Hostile::Body { content_type, body }) => {
            return write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Some(Hostile::Flood) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{{\"token\":\""
            )?;
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < super::proxy::FLOOD_LIMIT && out.write_all(&chunk).is_ok() {
                sent += chunk.len();
            }
            let _ = out.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        Some(Hostile::Status(code)) => return respond(&mut out, code, "Hostile", "{}"),
    }
    let body =
        serde_json::json!({"token": token, "access_token": token, "expires_in": inner.expires_in.load(Ordering::SeqCst)}).to_string();
    respond(&mut out, 200, "OK", &body)
}

/// The OAuth2 endpoint (`POST /token`, form-encoded).
fn post_token(
    inner: &Inner,
    out: &mut TcpStream,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    // Like Go's `PostFormValue`: a body that is not form-encoded has no fields.
    let is_form = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded");
    let form: Vec<(String, String)> = if is_form {
        String::from_utf8_lossy(body)
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    } else {
        Vec::new()
    };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let grant_type = field("grant_type");
    let client_id = field("client_id");
    let service = field("service");
    let refresh_token = field("refresh_token");
    let scopes: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()).map(str::to_string))
        .collect::<Vec<_>>();
    let is_refresh = grant_type.as_deref() == Some("refresh_token");
    let mode = *inner.refresh.lock().unwrap();
    let mut rotation = inner.rotation.lock().unwrap();
    // Rotating: only the refresh token handed out last stands for USER.
    let spent = mode == Refresh::Rotating
        && refresh_token.as_deref().is_some_and(|t| {
            t != rotation.current
                && (t == REFRESH_TOKEN || t.starts_with(&format!("{REFRESH_TOKEN}-rotated-")))
        });
    let user = if is_refresh {
        Some(
            match refresh_token.as_deref() {
                _ if spent => UNKNOWN_REFRESH_TOKEN,
                Some(t) if mode == Refresh::Rotating && t == rotation.current => USER,
                Some(REFRESH_TOKEN) => USER,
                Some(REFRESH_TOKEN_B) => USER_B,
                _ => UNKNOWN_REFRESH_TOKEN,
            }
            .to_string(),
        )
    } else {
        None
    };
    inner.log.lock().unwrap().push(TokenRequest {
        user: user.clone(),
        scopes: scopes.clone(),
        method: "POST".to_string(),
        grant_type: grant_type.clone(),
        client_id: client_id.clone(),
    });

    let bad = |what: &str| oauth_error("invalid_request", &format!("missing {what} value"));
    let refusal = if grant_type.is_none() {
        Some((400, bad("grant_type")))
    } else if service.is_none() {
        Some((400, bad("service")))
    } else if client_id.is_none() {
        Some((400, bad("client_id")))
    } else if !is_refresh {
        Some((
            400,
            oauth_error(
                "unsupported_grant_type",
                "only grant_type=refresh_token is supported",
            ),
        ))
    } else if refresh_token.is_none() {
        Some((400, bad("refresh_token")))
    } else if mode == Refresh::Expired {
        Some((
            400,
            oauth_error("invalid_grant", "the refresh token has expired"),
        ))
    } else if spent {
        Some((
            400,
            oauth_error("invalid_grant", "the refresh token was already used"),
        ))
    } else if user.as_deref() == Some(UNKNOWN_REFRESH_TOKEN) {
        Some((401, oauth_error("invalid_grant", "invalid refresh token")))
    } else if service.as_deref() != Some(SERVICE) {
        // distribution binds a refresh token to its service.
        Some((401, oauth_error("invalid_grant", "invalid refresh token")))
    } else {
        None
    };
    if let Some((code, body)) = refusal {
        let reason = if code == 401 {
            "Unauthorized"
        } else {
            "Bad Request"
        };
        return respond(out, code, reason, &body);
    }
    let token = make_token(inner, user.as_deref(), &scopes);
    let refresh_token = if mode == Refresh::Rotating && user.as_deref() == Some(USER) {
        rotation.issued += 1;
        rotation.current = rotated(rotation.issued);
        Some(rotation.current.clone())
    } else {
        refresh_token
    };
    drop(rotation);
    let body = serde_json::json!({
        "access_token": token,
        "refresh_token": refresh_token,
        "expires_in": inner.expires_in.load(Ordering::SeqCst),
    })
    .to_string();
    respond(out, 200, "OK", &body)
}

/// An OAuth2 error body (RFC 6749 §5.2), with distribution's `errors`
/// list beside it.
fn oauth_error(code: &str, description: &str) -> String {
    serde_json::json!({
        "error": code,
        "error_description": description,
        "errors": [{"code": code.to_uppercase(), "message": description}],
    })
    .to_string()
}

fn respond(out: &mut TcpStream, code: u16, reason: &str, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
