//! A fault-injecting HTTP/1.1 proxy in front of a plain-HTTP registry.
//!
//! One request per connection (`Connection: close` both ways). Rules match
//! on method and a path substring and fire a given number of times; every
//! request is logged, so tests can assert what was (not) sent.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// Answer with this status (and `Retry-After` when given) instead of
    /// forwarding.
    Status { code: u16, retry_after: Option<u64> },
    /// Close the connection with the request unread (the kernel sends RST).
    Reset,
    /// Hold the connection open without answering for this long.
    Stall(Duration),
    /// Wait this long, then forward (requests sent together overlap).
    Delay(Duration),
    /// Forward, but drop `Docker-Content-Digest` from the response.
    StripDigest,
    /// Forward, but replace `Docker-Content-Digest` with another digest.
    WrongDigest,
    /// Forward, but replace `Content-Type` with this.
    ContentType(String),
    /// Forward, but replace `Docker-Content-Digest` with this value.
    DigestHeader(String),
    /// Forward, and add these headers to the response (a registry's
    /// `ratelimit-limit` / `ratelimit-remaining`).
    AddHeaders(Vec<(String, String)>),
    /// Answer with exactly this status, headers and body instead of
    /// forwarding (`Retry-After` as a date, a `Location`, an error body).
    Answer {
        code: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Answer this status with a body that never ends (no
    /// `Content-Length`; written until the client hangs up, at most
    /// [`FLOOD_LIMIT`] bytes).
    Flood { code: u16 },
}

/// The most a [`Fault::Flood`] writes.
pub(crate) const FLOOD_LIMIT: usize = 256 * 1024 * 1024;

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub path: String,
    /// Whether it carried an `Authorization` header.
    pub authorized: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    method: Option<String>,
    path_contains: String,
    fault: Fault,
    times: usize,
}

struct Inner {
    upstream: u16,
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Seen>>,
    stop: AtomicBool,
    /// Requests being handled now, and the most at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts a request as in flight until dropped.
struct InFlight<'a>(&'a Inner);

impl<'a> InFlight<'a> {
    fn start(inner: &'a Inner) -> InFlight<'a> {
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(inner)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) struct FaultProxy {
    pub port: u16,
    inner: Arc<Inner>,
}

impl FaultProxy {
    pub(crate) fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            upstream: upstream_port,
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        super::serve(
            listener,
            inner.clone(),
            |i| i.stop.load(Ordering::SeqCst),
            handle,
        );
        FaultProxy { port, inner }
    }

    /// `127.0.0.1:PORT`
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Inject `fault` into the next `times` requests whose method is
    /// `method` (any when `None`) and whose path contains `path_contains`.
    pub(crate) fn add(
        &self,
        method: Option<&str>,
        path_contains: &str,
        fault: Fault,
        times: usize,
    ) {
        self.inner.rules.lock().unwrap().push(Rule {
            method: method.map(str::to_string),
            path_contains: path_contains.to_string(),
            fault,
            times,
        });
    }

    /// Every request seen.
    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.inner.log.lock().unwrap().clone()
    }

    /// The most requests that were being handled at once.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    /// Requests seen with this method whose path contains `path_contains`.
    pub(crate) fn count(&self, method: &str, path_contains: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains(path_contains))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn find(h: &[u8], pat: &[u8]) -> Option<usize> {
    h.windows(pat.len()).position(|w| w == pat)
}

fn handle(inner: &Inner, mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    // Peek until the whole head is there, without consuming it, so a Reset
    // can close with unread data (which makes the kernel send RST).
    let mut buf = vec![0u8; 64 * 1024];
    let head_len = loop {
        let n = conn.peek(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        // A TLS ClientHello (a client sent to https:// here): answer as
        // Go's plain-HTTP server does, so the client sees an HTTP reply.
        if buf[0] == 0x16 {
            conn.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")?;
            let _ = conn.shutdown(Shutdown::Write);
            return Ok(());
        }
        if let Some(p) = find(&buf[..n], b"\r\n\r\n") {
            break p + 4;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    let mut first = head.lines().next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let authorized = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("authorization:"));
    inner.log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        authorized,
    });
    let _in_flight = InFlight::start(inner);

    let fault = {
        let mut rules = inner.rules.lock().unwrap();
        let idx = rules.iter().position(|r| {
            r.times > 0
                && r.method.as_deref().is_none_or(|m| m == method)
                && path.contains(&r.path_contains)
        });
        idx.map(|i| {
            rules[i].times -= 1;
            rules[i].fault.clone()
        })
    };
    match &fault {
        Some(Fault::Reset) => {
            drop(conn);
            return Ok(());
        }
        Some(Fault::Stall(d)) => {
            std::thread::sleep(*d);
            return Ok(());
        }
        Some(Fault::Delay(d)) => std::thread::sleep(*d),
        Some(Fault::Status { code, retry_after }) => {
            let mut rest = vec![0u8; head_len];
            conn.read_exact(&mut rest)?;
            let ra = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            write!(
                conn,
                "HTTP/1.1 {code} Injected\r\n{ra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            let _ = conn.shutdown(Shutdown::Write);
            return Ok(());
        }
        Some(Fault::Answer {
            code,
            headers,
            body,
        }) => {
            let mut rest = vec![0u8; head_len];
            conn.read_exact(&mut rest)?;
            let mut head = format!("HTTP/1.1 {code} Injected\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ));
            conn.write_all(head.as_bytes())?;
            if method != "HEAD" {
                conn.write_all(body)?;
            }
            let _ = conn.shutdown(Shutdown::Write);
            return Ok(());
        }
        Some(Fault::Flood { code }) => {
            let mut rest = vec![0u8; head_len];
            conn.read_exact(&mut rest)?;
            write!(
                conn,
                "HTTP/1.1 {code} Flood\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
            )?;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < FLOOD_LIMIT && conn.write_all(&chunk).is_ok() {
                sent += chunk.len();
            }
            let _ = conn.shutdown(Shutdown::Both);
            return Ok(());
        }
        _ => {}
    }

    // Consume the head and any body, then forward.
    let mut head_bytes = vec![0u8; head_len];
    conn.read_exact(&mut head_bytes)?;
    let content_length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; content_length];
    conn.read_exact(&mut body)?;

    let mut req = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        if line.is_empty() {
            continue;
        }
        if i > 0 {
            let k = line.split(':').next().unwrap_or("").trim();
            if k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("keep-alive") {
                continue;
            }
        }
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(("127.0.0.1", inner.upstream))?;
    up.write_all(req.as_bytes())?;
    up.write_all(&body)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;

    let Some(split) = find(&resp, b"\r\n\r\n") else {
        conn.write_all(&resp)?;
        return Ok(());
    };
    let (rhead, rbody) = (
        String::from_utf8_lossy(&resp[..split]).into_owned(),
        &resp[split + 4..],
    );
    let mut out = String::new();
    for (i, line) in rhead.split("\r\n").enumerate() {
        let k = line.split(':').next().unwrap_or("").trim();
        if i > 0 && k.eq_ignore_ascii_case("docker-content-digest") {
            match &fault {
                Some(Fault::StripDigest) => continue,
                Some(Fault::DigestHeader(d)) => {
                    out.push_str(&format!("Docker-Content-Digest: {d}\r\n"));
                    continue;
                }
                Some(Fault::WrongDigest) => {
                    out.push_str(&format!(
                        "Docker-Content-Digest: sha256:{}\r\n",
                        "0".repeat(64)
                    ));
                    continue;
                }
                _ => {}
            }
        }
        if i > 0 && k.eq_ignore_ascii_case("content-type") {
            if let Some(Fault::ContentType(ct)) = &fault {
                out.push_str(&format!("Content-Type: {ct}\r\n"));
                continue;
            }
        }
        if i > 0 && k.eq_ignore_ascii_case("connection") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if let Some(Fault::AddHeaders(headers)) = &fault {
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    conn.write_all(out.as_bytes())?;
    conn.write_all(rbody)?;
    let _ = conn.shutdown(Shutdown::Write);
    Ok(())
}
