//! Property tests (proptest) for the parts that read untrusted input or
//! change files: the reference parser, the lockfile reader, the scanner and
//! the rewriter. `cargo test` runs a short pass of each;
//! `scripts/fuzz.sh` runs them for longer. A failing case proptest finds is
//! saved in `tests/it/properties.proptest-regressions` and replayed by
//! every later run, so keep those files in the repository.

use std::collections::BTreeMap;
use std::path::Path;

use imagelock::lockfile::{Entry, Lockfile};
use imagelock::reference::{Digest, Reference};
use proptest::prelude::*;

/// A valid reference as people write them: optional registry, one to three
/// path components, optional tag.
fn reference() -> impl Strategy<Value = String> {
    let domain = prop_oneof![
        Just(String::new()),
        Just("ghcr.io/".to_string()),
        Just("registry.example.com:5000/".to_string()),
        Just("localhost/".to_string()),
        Just("127.0.0.1:5000/".to_string()),
    ];
    // A letter first: a plain `0` or `1e3` would be a YAML number.
    let component = "[a-z][a-z0-9]{0,5}([._-][a-z0-9]{1,4})?";
    let path = prop::collection::vec(component, 1..=3).prop_map(|c| c.join("/"));
    let tag = prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}");
    (domain, path, tag).prop_map(|(d, p, t)| match t {
        Some(t) => format!("{d}{p}:{t}"),
        None => format!("{d}{p}"),
    })
}

fn digest() -> impl Strategy<Value = Digest> {
    "[0-9a-f]{64}".prop_map(|hex| Digest::parse(&format!("sha256:{hex}")).unwrap())
}

/// Where failing cases are kept (replayed by every run).
const REGRESSIONS: &str = "tests/it/properties.proptest-regressions";

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(default_cases),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(REGRESSIONS),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn reference_parser_never_panics(s in "\\PC{0,80}") {
        let _ = Reference::parse(&s);
    }

    #[test]
    fn reference_parser_never_panics_on_near_references(
        r in reference(), cut in 0usize..80, junk in "[:@/A-Z.#-]{0,3}"
    ) {
        let mut s = r.clone();
        let at = s.char_indices().map(|(i, _)| i).nth(cut % s.len().max(1)).unwrap_or(0);
        s.insert_str(at, &junk);
        let _ = Reference::parse(&s);
    }

    #[test]
    fn normalised_references_are_stable(r in reference(), d in digest()) {
        let parsed = Reference::parse(&r).unwrap();
        let again = Reference::parse(&parsed.normalized()).unwrap();
        prop_assert_eq!(again.normalized(), parsed.normalized());
        prop_assert_eq!(again.name(), parsed.name());
        // Pinning keeps the name and tag and adds exactly the digest.
        let pinned = Reference::parse(&parsed.pinned(&d)).unwrap();
        prop_assert_eq!(pinned.name(), parsed.name());
        prop_assert_eq!(pinned.effective_tag(), parsed.effective_tag());
        prop_assert_eq!(pinned.digest(), Some(&d));
        prop_assert_eq!(Reference::parse(&pinned.pinned(&d)).unwrap(), pinned);
    }

    #[test]
    fn lockfile_reader_never_panics(s in "\\PC{0,400}") {
        let _ = Lockfile::parse(Path::new("images.lock"), &s);
    }

    #[test]
    fn lockfile_round_trips(entries in prop::collection::vec((reference(), digest(), any::<bool>()), 0..8)) {
        let mut lock = Lockfile::new();
        for (r, d, with_platform) in entries {
            let r = Reference::parse(&r).unwrap();
            let mut platforms = BTreeMap::new();
            if with_platform {
                platforms.insert("linux/arm64".to_string(), d.clone());
            }
            lock.insert(Entry {
                name: r.name(),
                tag: Some(r.effective_tag().unwrap_or("latest").to_string()),
                digest: d,
                media_type: None,
                platforms,
                signatures: Vec::new(),
                attestations: Vec::new(),
            });
        }
        let text = lock.to_toml();
        let read = Lockfile::parse(Path::new("images.lock"), &text).unwrap();
        prop_assert_eq!(&read, &lock);
        prop_assert_eq!(read.to_toml(), text);
    }

    #[test]
    fn lockfile_reader_never_panics_on_damaged_lockfiles(
        r in reference(), d in digest(), cut in 0usize..400, junk in "\\PC{0,4}"
    ) {
        let mut lock = Lockfile::new();
        let parsed = Reference::parse(&r).unwrap();
        lock.insert(Entry {
            name: parsed.name(),
            tag: Some("1".into()),
            digest: d,
            media_type: Some("application/vnd.oci.image.index.v1+json".into()),
            platforms: BTreeMap::new(),
            signatures: Vec::new(),
            attestations: Vec::new(),
        });
        let mut text = lock.to_toml();
        let at = text.char_indices().map(|(i, _)| i).nth(cut % text.len()).unwrap_or(0);
        text.insert_str(at, &junk);
        let _ = Lockfile::parse(Path::new("images.lock"), &text);
    }

    #[test]
    fn scanner_never_panics(s in "\\PC{0,300}") {
        let _ = imagelock::scan::scan_text(Path::new("a.yaml"), &s);
    }

    #[test]
    fn scanner_never_panics_on_damaged_manifests(m in manifest(), cut in 0usize..2000, junk in "[ \\t\\n:'\"#&*!|>{}\\[\\],-]{0,4}") {
        let mut text = m.text;
        let at = text.char_indices().map(|(i, _)| i).nth(cut % text.len()).unwrap_or(0);
        text.insert_str(at, &junk);
        let _ = imagelock::scan::scan_text(Path::new("a.yaml"), &text);
        text.truncate(at);
        let _ = imagelock::scan::scan_text(Path::new("a.yaml"), &text);
    }

    #[test]
    fn scanner_finds_every_image_at_its_bytes(m in manifest()) {
        let scan = imagelock::scan::scan_text(Path::new("a.yaml"), &m.text).unwrap();
        let found: Vec<&str> = scan.images.iter().map(|i| &m.text[i.span.clone()]).collect();
        let want: Vec<&str> = m.images.iter().map(String::as_str).collect();
        prop_assert_eq!(found, want);
    }
}

/// A generated manifest and the images it holds, in order.
#[derive(Debug, Clone)]
struct Manifest {
    text: String,
    images: Vec<String>,
}

/// How a container is written.
#[derive(Debug, Clone, Copy)]
enum Style {
    Block,
    /// `- {name: c0, image: a}`
    Flow,
    /// A flow mapping over several lines, with or without a trailing
    /// comma, with or without a comment inside.
    FlowLines {
        trailing_comma: bool,
        comment: bool,
    },
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Block),
        Just(Style::Flow),
        (any::<bool>(), any::<bool>()).prop_map(|(trailing_comma, comment)| Style::FlowLines {
            trailing_comma,
            comment
        }),
    ]
}

/// Kubernetes manifests in the shapes people write: one to three
/// documents of several kinds (workloads at their pod spec, a custom
/// resource, a ConfigMap), labels, annotations, selectors and ConfigMap
/// data that use the key `image` (never an image), containers in block
/// style or in flow mappings on one line or several, 2 or 4 spaces, plain
/// or quoted images, comments, `imagePullPolicy`, LF or CRLF.
fn manifest() -> impl Strategy<Value = Manifest> {
    let container = (reference(), 0u8..3, any::<bool>(), any::<bool>(), style());
    let doc = (
        prop_oneof![
            Just("Deployment"),
            Just("Pod"),
            Just("StatefulSet"),
            Just("CronJob"),
            Just("Rollout"),
            Just("ConfigMap"),
        ],
        prop::collection::vec(container, 1..4),
        prop_oneof![Just(2usize), Just(4usize)],
        any::<bool>(),
        any::<bool>(),
    );
    (prop::collection::vec(doc, 1..4), any::<bool>()).prop_map(|(docs, crlf)| {
        let mut text = String::new();
        let mut images = Vec::new();
        for (n, (kind, containers, step, indented_list, labels)) in docs.into_iter().enumerate() {
            if n > 0 {
                text.push_str("---\n");
            }
            let i = " ".repeat(step);
            let api = match kind {
                "Pod" | "ConfigMap" => "v1",
                "CronJob" => "batch/v1",
                "Rollout" => "argoproj.io/v1alpha1",
                _ => "apps/v1",
            };
            text.push_str(&format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n{i}name: app{n} # the app\n"));
            if labels {
                text.push_str(&format!("{i}labels: {{image: app{n}}}\n{i}annotations:\n{i}{i}image: logo.png\n"));
            }
            if kind == "ConfigMap" {
                text.push_str(&format!("data:\n{i}image: assets/images/social.png\n{i}other: nginx:1.25\n"));
                continue;
            }
            // The pod spec's indentation and the keys leading to it.
            let mut depth = 0;
            let open = |text: &mut String, key: &str, depth: &mut usize| {
                text.push_str(&format!("{}{key}:\n", i.repeat(*depth)));
                *depth += 1;
            };
            match kind {
                "Pod" => open(&mut text, "spec", &mut depth),
                "CronJob" => {
                    open(&mut text, "spec", &mut depth);
                    open(&mut text, "jobTemplate", &mut depth);
                    open(&mut text, "spec", &mut depth);
                    open(&mut text, "template", &mut depth);
                    open(&mut text, "spec", &mut depth);
                }
                _ => {
                    open(&mut text, "spec", &mut depth);
                    if labels {
                        text.push_str(&format!("{i}selector:\n{i}{i}matchLabels:\n{i}{i}{i}image: app{n}\n"));
                    }
                    open(&mut text, "template", &mut depth);
                    if labels {
                        let d = i.repeat(depth);
                        text.push_str(&format!("{d}metadata:\n{d}{i}labels:\n{d}{i}{i}image: app{n}\n"));
                    }
                    open(&mut text, "spec", &mut depth);
                }
            }
            let at = i.repeat(depth);
            text.push_str(&format!("{at}containers:\n"));
            let dash = if indented_list { format!("{at}{i}- ") } else { format!("{at}- ") };
            let cont = " ".repeat(dash.len());
            for (c, (image, quote, comment, policy, style)) in containers.into_iter().enumerate() {
                let written = match quote {
                    0 => image.clone(),
                    1 => format!("'{image}'"),
                    _ => format!("\"{image}\""),
                };
                let policy_text = if policy { ", imagePullPolicy: Always" } else { "" };
                match style {
                    Style::Block => {
                        text.push_str(&format!("{dash}name: c{c}\n{cont}image: {written}"));
                        if comment {
                            text.push_str("  # pinned by imagelock");
                        }
                        text.push('\n');
                        if policy {
                            text.push_str(&format!("{cont}imagePullPolicy: Always\n"));
                        }
                    }
                    Style::Flow => {
                        text.push_str(&format!("{dash}{{name: c{c}, image: {written}{policy_text}}}"));
                        if comment {
                            text.push_str("  # pinned by imagelock");
                        }
                        text.push('\n');
                    }
                    Style::FlowLines { trailing_comma, comment: inside } => {
                        let note = if inside { " # the image" } else { "" };
                        let comma = if trailing_comma { "," } else { "" };
                        text.push_str(&format!(
                            "{dash}{{name: c{c},\n{cont}  image: {written}{policy_text}{comma}{note}\n{cont}}}\n"
                        ));
                    }
                }
                images.push(image);
            }
        }
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        Manifest { text, images }
    })
}

/// `pin` through the real binary: afterwards every document parses to the
/// same tree except the image values, which name the same image pinned to
/// the locked digest; a second `pin` changes nothing.
mod pin {
    use super::*;
    use crate::support::run::imagelock as run;

    /// With `policy` (`--pull-policy if-not-present`), a mapping holding
    /// an `image` may also gain `imagePullPolicy: IfNotPresent`, or have
    /// its policy set to it.
    fn same_except_images(
        before: &serde_json::Value,
        after: &serde_json::Value,
        lock: &Lockfile,
        policy: bool,
    ) -> Result<(), String> {
        use serde_json::Value;
        match (before, after) {
            (Value::Object(a), Value::Object(b)) => {
                let mut b = b.clone();
                if policy && a.contains_key("image") && a.get("image") != b.get("image") {
                    if b.remove("imagePullPolicy") != Some(Value::String("IfNotPresent".into())) {
                        return Err(format!("no imagePullPolicy: IfNotPresent beside {b:?}"));
                    }
                    if let Some(p) = a.get("imagePullPolicy") {
                        b.insert("imagePullPolicy".into(), p.clone());
                    }
                }
                let mut ka: Vec<&String> = a.keys().collect();
                let mut kb: Vec<&String> = b.keys().collect();
                ka.sort();
                kb.sort();
                if ka != kb {
                    return Err(format!("keys differ: {a:?} / {b:?}"));
                }
                for (k, v) in a {
                    same_except_images(v, &b[k], lock, policy)?;
                }
                Ok(())
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .try_for_each(|(x, y)| same_except_images(x, y, lock, policy)),
            (Value::String(a), Value::String(b)) if a != b => {
                let was = Reference::parse(a).map_err(|e| e.to_string())?;
                let now = Reference::parse(b).map_err(|e| e.to_string())?;
                let entry = lock.lookup(&was).ok_or(format!("{a} not locked"))?;
                if now.name() != was.name()
                    || now.effective_tag() != was.effective_tag()
                    || now.digest() != Some(&entry.digest)
                {
                    return Err(format!("{a} became {b}"));
                }
                Ok(())
            }
            (a, b) if a == b => Ok(()),
            (a, b) => Err(format!("{a} became {b}")),
        }
    }

    proptest! {
        #![proptest_config(config(24))]

        #[test]
        fn pin_changes_only_image_values_and_is_idempotent(m in manifest(), d in digest(), policy in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path();
            let mut lock = Lockfile::new();
            for image in &m.images {
                let r = Reference::parse(image).unwrap();
                lock.insert(Entry {
                    name: r.name(),
                    tag: Some(r.effective_tag().unwrap_or("latest").to_string()),
                    digest: d.clone(),
                    media_type: None,
                    platforms: BTreeMap::new(),
                    signatures: Vec::new(),
                    attestations: Vec::new(),
                });
            }
            fs_err::write(p.join("images.lock"), lock.to_toml()).unwrap();
            fs_err::write(p.join("a.yaml"), &m.text).unwrap();
            let args: &[&str] = if policy {
                &["pin", "--pull-policy", "if-not-present", "a.yaml"]
            } else {
                &["pin", "a.yaml"]
            };
            let out = run(p, args);
            prop_assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stderr), m.text);
            let pinned = fs_err::read_to_string(p.join("a.yaml")).unwrap();
            let before = imagelock::yaml::value::documents(&m.text).unwrap();
            let after = imagelock::yaml::value::documents(&pinned).unwrap();
            prop_assert_eq!(before.len(), after.len());
            for (b, a) in before.iter().zip(&after) {
                if let Err(e) = same_except_images(b, a, &lock, policy) {
                    prop_assert!(false, "{}\n--- before\n{}\n--- after\n{}", e, m.text, pinned);
                }
            }
            prop_assert_eq!(pinned.contains("\r\n"), m.text.contains("\r\n"));
            // Read back, the same images, each pinned to the locked digest.
            let scan = imagelock::scan::scan_text(Path::new("a.yaml"), &pinned).unwrap();
            let found: Vec<String> = scan.images.iter().map(|i| i.reference.original().to_string()).collect();
            let want: Vec<String> = m.images.iter().map(|r| Reference::parse(r).unwrap().pinned(&d)).collect();
            prop_assert_eq!(found, want);
            let out = run(p, args);
            prop_assert_eq!(out.status.code(), Some(0));
            prop_assert_eq!(fs_err::read_to_string(p.join("a.yaml")).unwrap(), pinned);
        }
    }
}
