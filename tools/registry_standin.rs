//! A registry stand-in that costs no CPU, for `scripts/bench-registry.sh`:
//! it answers `HEAD /v2/<name>/manifests/<tag>` from a map, over TLS (a
//! test CA and a server certificate for 127.0.0.1) and HTTP/2 with 250
//! concurrent streams per connection (Go's default, as the CNCF registry
//! announces), behind a Basic challenge. Every chunk is delayed by
//! DELAY_MS in each direction inside the process (what
//! `scripts/delay-proxy.py` does, without Python's cost at 5,000 tags).
//!
//! Usage: `registry-standin DIR REGISTRIES TAGS DELAY_MS`. Listens on
//! REGISTRIES ports of 127.0.0.1, spreads TAGS tags over them, writes into
//! DIR: `ca.crt`, `refs.txt` (one reference per line), `expected.txt`
//! (`reference digest` lines, for `scripts/compare-digests.py`) and
//! `docker/config.json` (the Basic credential for every port), then prints
//! `ready` and serves until killed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose, SanType};
use sha2::Digest as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The one user the stand-in accepts.
const USER: &str = "bench";
const PASSWORD: &str = "bench-password";
/// Streams per HTTP/2 connection, as Go's HTTP/2 server announces.
const MAX_STREAMS: u32 = 250;

/// `port + path` → digest.
type Manifests = Arc<HashMap<String, String>>;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, registries, tags, delay_ms] = args.as_slice() else {
        eprintln!("usage: registry-standin DIR REGISTRIES TAGS DELAY_MS");
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    let parse = |s: &str, what: &str| {
        s.parse::<u64>().unwrap_or_else(|_| {
            eprintln!("registry-standin: {what} {s:?} is not a number");
            std::process::exit(2)
        })
    };
    let registries = parse(registries, "REGISTRIES").max(1) as usize;
    let tags = parse(tags, "TAGS") as usize;
    let delay = Duration::from_millis(parse(delay_ms, "DELAY_MS"));

    let tls = tls_acceptor(dir);
    let mut listeners = Vec::new();
    for _ in 0..registries {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("local address").port();
        listeners.push((port, l));
    }
    let mut manifests = HashMap::new();
    let (mut refs, mut expected) = (String::new(), String::new());
    for i in 1..=tags {
        let port = listeners[i % registries].0;
        let (name, tag) = (format!("bench/app{}", i % 50), format!("v{i}"));
        let digest = format!("sha256:{:x}", sha2::Sha256::digest(format!("{name}:{tag}")));
        let reference = format!("127.0.0.1:{port}/{name}:{tag}");
        refs.push_str(&format!("{reference}\n"));
        expected.push_str(&format!("{reference} {digest}\n"));
        manifests.insert(format!("{port}/v2/{name}/manifests/{tag}"), digest);
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let auths: serde_json::Map<String, serde_json::Value> = listeners
        .iter()
        .map(|(port, _)| {
            (
                format!("127.0.0.1:{port}"),
                serde_json::json!({ "auth": auth }),
            )
        })
        .collect();
    fs_err::write(dir.join("refs.txt"), refs).expect("write refs.txt");
    fs_err::write(dir.join("expected.txt"), expected).expect("write expected.txt");
    fs_err::create_dir_all(dir.join("docker")).expect("create docker/");
    let config = serde_json::json!({ "auths": auths });
    fs_err::write(dir.join("docker/config.json"), config.to_string()).expect("write config");

    let manifests: Manifests = Arc::new(manifests);
    let expected_auth: Arc<str> = format!("Basic {auth}").into();
    for (port, listener) in listeners {
        let (tls, manifests, expected_auth) =
            (tls.clone(), manifests.clone(), expected_auth.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                let (tls, manifests, expected_auth) =
                    (tls.clone(), manifests.clone(), expected_auth.clone());
                tokio::spawn(async move {
                    if delay.is_zero() {
                        serve(tls, tcp, port, manifests, expected_auth).await;
                    } else {
                        let io = delayed(tcp, delay);
                        serve(tls, io, port, manifests, expected_auth).await;
                    }
                });
            }
        });
    }
    println!("ready");
    std::future::pending::<()>().await;
}

/// A test CA (written to `DIR/ca.crt`) and a server certificate it signs
/// for 127.0.0.1 (rustls refuses a self-signed CA served as the server's
/// own certificate), offering only HTTP/2.
fn tls_acceptor(dir: &Path) -> tokio_rustls::TlsAcceptor {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
    p.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().expect("IP")));
    let cert = p
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("server certificate");
    fs_err::write(dir.join("ca.crt"), ca_cert.pem()).expect("write ca.crt");

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server certificate and key");
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// One connection: TLS, then HTTP/2, every request answered as it comes.
async fn serve(
    tls: tokio_rustls::TlsAcceptor,
    io: impl AsyncRead + AsyncWrite + Unpin,
    port: u16,
    manifests: Manifests,
    expected_auth: Arc<str>,
) {
    let Ok(stream) = tls.accept(io).await else {
        return;
    };
    let Ok(mut conn) = h2::server::Builder::new()
        .max_concurrent_streams(MAX_STREAMS)
        .handshake::<_, Bytes>(stream)
        .await
    else {
        return;
    };
    while let Some(Ok((req, mut respond))) = conn.accept().await {
        let authorized = req
            .headers()
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == expected_auth.as_bytes());
        let found = manifests.get(&format!("{port}{}", req.uri().path()));
        let answer = http::Response::builder();
        let answer = match (authorized, found) {
            (false, _) => answer
                .status(401)
                .header("www-authenticate", "Basic realm=\"registry-standin\""),
            (true, Some(digest)) if req.method() == http::Method::HEAD => answer
                .status(200)
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .header("docker-content-digest", digest.as_str()),
            (true, _) if req.uri().path() == "/v2/" => answer.status(200),
            (true, _) => answer.status(404),
        };
        let _ = respond.send_response(answer.body(()).expect("response"), true);
    }
}

/// The server's end of a connection whose every chunk is delayed by
/// `delay` each way.
fn delayed(tcp: TcpStream, delay: Duration) -> tokio::io::DuplexStream {
    let (near, far) = tokio::io::duplex(1 << 20);
    let (tcp_r, tcp_w) = tcp.into_split();
    let (far_r, far_w) = tokio::io::split(far);
    tokio::spawn(pump(tcp_r, far_w, delay));
    tokio::spawn(pump(far_r, tcp_w, delay));
    near
}

/// Copy `r` to `w`, each chunk `delay` after it was read; chunks keep
/// their order and their delays overlap (latency, not a bandwidth cap).
async fn pump(
    mut r: impl AsyncRead + Unpin,
    mut w: impl AsyncWrite + Unpin + Send + 'static,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if w.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = r.read(&mut buf).await {
        if tx
            .send((Instant::now() + delay, buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
