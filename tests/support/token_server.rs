//! A small token server for distribution's `auth: token`.
//!
//! Grants:
//! - anonymous: `pull` under `public/*`, nothing elsewhere;
//! - `USER`/`PASSWORD` (Basic): `pull`/`push` everywhere except
//!   `forbidden/*`, where nothing;
//! - a wrong password: 401.
//!
//! Tokens are RS256 JWTs whose header carries the signing certificate in
//! `x5c` (distribution 2.8 accepts that when the certificate is in its
//! `rootcertbundle`). Every request is counted.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::pki::SigningKey;
use super::{PASSWORD, USER};

pub const SERVICE: &str = "imagelock-test-registry";
pub const ISSUER: &str = "imagelock-test-token-issuer";

/// One token request as the server saw it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `None` for anonymous, else the Basic username (even when refused).
    pub user: Option<String>,
    pub scopes: Vec<String>,
}

struct Inner {
    key: ring::signature::RsaKeyPair,
    cert_der: Vec<u8>,
    count: AtomicUsize,
    log: Mutex<Vec<TokenRequest>>,
    stop: AtomicBool,
    jti: AtomicUsize,
    expires_in: AtomicUsize,
}

pub struct TokenServer {
    pub port: u16,
    inner: Arc<Inner>,
}

impl TokenServer {
    pub fn start(key: &SigningKey) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
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

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// Token requests served so far (all outcomes).
    pub fn requests(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }

    /// `expires_in` (seconds) for tokens issued from now on; the JWT's
    /// `exp` follows it.
    pub fn set_expires_in(&self, secs: usize) {
        self.inner.expires_in.store(secs, Ordering::SeqCst);
    }

    pub fn log(&self) -> Vec<TokenRequest> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Issue a token directly (for the harness's own pushes).
    pub fn token_for(&self, user: Option<&str>, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        make_token(&self.inner, user, &scopes)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
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
        Some(_) if name.starts_with("forbidden/") => &[],
        Some(_) => &["pull", "push", "delete"],
    };
    actions
        .iter()
        .filter(|a| allowed.contains(a))
        .map(|a| a.to_string())
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

fn handle(inner: &Inner, conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_string());
            }
        }
    }
    inner.count.fetch_add(1, Ordering::SeqCst);
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
        ok = u == USER && p == PASSWORD;
    }
    inner.log.lock().unwrap().push(TokenRequest {
        user: user.clone(),
        scopes: scopes.clone(),
    });
    let mut out = conn;
    if !ok {
        let body = r#"{"details":"invalid username or password"}"#;
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let token = make_token(inner, user.as_deref(), &scopes);
    let body =
        serde_json::json!({"token": token, "access_token": token, "expires_in": inner.expires_in.load(Ordering::SeqCst)}).to_string();
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}
