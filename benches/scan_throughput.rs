//! Scanner throughput on one core, in-process (no file I/O):
//! `cargo bench --bench scan_throughput`.
//!
//! Four inputs of about 10 MB of Deployments: plain block style (the
//! scanner's line-based fast path), the same with non-ASCII comments, the
//! same with a literal block scalar in every document (also the fast
//! path), and the same with an anchor in every tenth document (those
//! documents, and only those, go to the full YAML parser). Also the bare
//! `saphyr-parser` event stream for comparison. The whole-command
//! benchmark is `scripts/bench-scan.sh`.

use std::path::Path;
use std::time::Instant;

fn documents(extra: &str) -> (String, usize) {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 10_000_000 {
        text.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: team-{ns}\n  labels:\n    app: app-{i}\n    tier: backend{extra}\nspec:\n  replicas: 3\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: busybox:1.36\n          command: [\"sh\", \"-c\", \"echo init\"]\n      containers:\n        - name: app\n          image: \"registry.example.com/team/app-{i}:v1.2.{i}\" # pinned soon\n          imagePullPolicy: IfNotPresent\n          env:\n            - name: MODE\n              value: production\n          resources:\n            limits: {{cpu: 500m, memory: 256Mi}}\n        - name: sidecar\n          image: 'envoyproxy/envoy:v1.30.1'\n",
            ns = i % 7
        ));
        i += 1;
    }
    (text, i * 3)
}

/// Best of three runs, in MB/s.
fn measure(name: &str, text: &str, expected_images: usize) {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let scan = imagelock::scan::scan_text(Path::new("bench.yaml"), text).expect("scans");
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(scan.images.len(), expected_images, "{name}");
    }
    println!("{name:<40} {:>7.1} MB/s", text.len() as f64 / best / 1e6);
}

fn main() {
    let (plain, plain_images) = documents("");
    measure("scan, block style (fast path)", &plain, plain_images);
    let (unicode, n) = documents(" # café ☕ 日本");
    measure("scan, non-ASCII comments (fast path)", &unicode, n);
    let (block, n) = documents("\n  annotations:\n    note: |\n      a block scalar");
    measure("scan, block scalars (fast path)", &block, n);
    // plain_images / 3 documents: a tenth of them get an anchor.
    let anchored = plain.replacen("tier: backend", "tier: &t backend", plain_images / 30);
    measure(
        "scan, anchors in a tenth (per document)",
        &anchored,
        plain_images,
    );

    let start = Instant::now();
    let mut parser = saphyr_parser::Parser::new_from_str(&plain);
    while let Some(Ok((event, _))) = parser.next_event() {
        if event == saphyr_parser::Event::StreamEnd {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<40} {:>7.1} MB/s",
        "saphyr-parser events alone",
        plain.len() as f64 / secs / 1e6
    );
}
