//! The raw client bound for `scripts/bench-registry.sh`: the least time
//! any client can take to learn the digests the registry stand-in
//! (`tools/registry_standin.rs`) serves. Per registry, on one connection:
//! the first request alone (its 401 is the challenge), then every HEAD at
//! once with the Basic credential; all registries at once. Checks every
//! digest and prints the seconds taken.
//!
//! Usage: `registry-bound DIR` (the stand-in's DIR).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use base64::Engine as _;

const USER: &str = "bench";
const PASSWORD: &str = "bench-password";

#[tokio::main]
async fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: registry-bound DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    let ca = fs_err::read(dir.join("ca.crt")).expect("the stand-in's ca.crt");
    let ca = reqwest::Certificate::from_pem(&ca).expect("a PEM CA");
    let expected = fs_err::read_to_string(dir.join("expected.txt")).expect("expected.txt");
    // host → (URL, digest), in the stand-in's order.
    let mut by_host: BTreeMap<&str, Vec<(String, &str)>> = BTreeMap::new();
    for line in expected.lines() {
        let (reference, digest) = line.split_once(' ').expect("`reference digest` lines");
        let (host, rest) = reference.split_once('/').expect("host/name:tag");
        let (name, tag) = rest.rsplit_once(':').expect("name:tag");
        let url = format!("https://{host}/v2/{name}/manifests/{tag}");
        by_host.entry(host).or_default().push((url, digest));
    }
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    // One client per registry (one HTTP/2 connection each), built before
    // the clock starts.
    let clients: Vec<reqwest::Client> = by_host
        .keys()
        .map(|_| {
            reqwest::Client::builder()
                .use_rustls_tls()
                .add_root_certificate(ca.clone())
                .build()
                .expect("HTTP client")
        })
        .collect();
    let start = Instant::now();
    let per_registry = by_host.values().zip(&clients).map(|(items, http)| {
        let auth = &auth;
        async move {
            let first = http.head(&items[0].0).send().await.expect("first request");
            assert_eq!(first.status(), 401, "the stand-in challenges first");
            let answers = futures::future::join_all(
                items
                    .iter()
                    .map(|(url, _)| http.head(url).header("authorization", auth.as_str()).send()),
            )
            .await;
            answers
                .into_iter()
                .zip(items)
                .filter(|(a, (_, digest))| {
                    let got = a.as_ref().ok().and_then(|r| {
                        r.headers()
                            .get("docker-content-digest")
                            .and_then(|v| v.to_str().ok())
                    });
                    got != Some(*digest)
                })
                .count()
        }
    });
    let wrong: usize = futures::future::join_all(per_registry)
        .await
        .into_iter()
        .sum();
    let secs = start.elapsed().as_secs_f64();
    if wrong > 0 {
        eprintln!("registry-bound: {wrong} digests wrong or missing");
        std::process::exit(1);
    }
    println!("{secs:.3}");
}
