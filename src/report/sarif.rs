//! The SARIF 2.1.0 format (`check --format sarif`) for GitHub code scanning
//! and other SARIF viewers: one rule per [`FindingKind`], one result per
//! finding, the run's errors and warnings as tool execution notifications.
//!
//! Levels: `error` for what deploys another image than the one locked or
//! none at all (`mismatch`, `drift`, `invalid`, `access`); `warning` for
//! what `imagelock lock` or `imagelock pin` fixes while the manifest still
//! pulls the intended tag (`missing`, `unpinned`).
//!
//! Every result carries `partialFingerprints["imagelock/v1"]`: the SHA-256
//! of the kind, the file's URI, the normalised reference and the
//! occurrence of that triple in the file (0 for the first), never a line
//! or column, so a finding keeps its fingerprint when lines move above it.
//! Output is deterministic: no timestamps, no absolute paths for files
//! below the working directory.

use std::io::{self, Write};
use std::path::{Component, Path};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::reference::Reference;
use crate::report::{Finding, FindingKind, Location, Message, Severity};

/// The SARIF version and its schema's URI.
pub const SARIF_VERSION: &str = "2.1.0";
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// The key of the fingerprint in `partialFingerprints`.
pub const FINGERPRINT_KEY: &str = "imagelock/v1";
/// The base every relative artifact URI is resolved against.
pub const SRCROOT: &str = "%SRCROOT%";

/// Every finding kind, in the order of the rules.
pub const KINDS: [FindingKind; 12] = FindingKind::ALL;

/// A rule's level, name, one-line and full description.
struct RuleText {
    level: &'static str,
    name: &'static str,
    short: &'static str,
    help: &'static str,
}

fn rule_text(kind: FindingKind) -> RuleText {
    match kind {
        FindingKind::Missing => RuleText {
            level: "warning",
            name: "ReferenceNotLocked",
            short: "Image reference not in the lockfile",
            help: "The image's name and tag are not recorded in the lockfile, so nothing \
                   fixes which digest it pulls. Run `imagelock lock` to record it, then \
                   `imagelock pin` to write the digest into the manifest.",
        },
        FindingKind::Mismatch => RuleText {
            level: "error",
            name: "DigestMismatch",
            short: "Image pinned to a digest other than the lockfile's",
            help: "The reference is pinned to a digest the lockfile does not record for \
                   its tag: the manifest deploys another image than the one locked. Run \
                   `imagelock pin` to write the locked digest, or `imagelock update` if \
                   the lockfile is the one out of date.",
        },
        FindingKind::Unpinned => RuleText {
            level: "warning",
            name: "ReferenceNotPinned",
            short: "Image reference not pinned to a digest",
            help: "The reference names a tag without a digest, so the image it pulls \
                   changes when the tag moves. Run `imagelock pin` to write the locked \
                   digest beside the tag.",
        },
        FindingKind::Drift => RuleText {
            level: "error",
            name: "TagMoved",
            short: "Locked tag now points at another digest",
            help: "The registry now resolves the locked tag to another digest than the \
                   lockfile records. Run `imagelock update IMAGE` to record the new \
                   digest, then `imagelock pin`.",
        },
        FindingKind::Invalid => RuleText {
            level: "error",
            name: "InvalidImageName",
            short: "Invalid image reference",
            help: "The value is not a valid image reference: the kubelet refuses it with \
                   InvalidImageName. Write a valid reference.",
        },
        FindingKind::Access => RuleText {
            level: "error",
            name: "CannotPull",
            short: "Workload cannot pull its image",
            help: "The workload's own pull credentials cannot pull the image from its \
                   registry. Give the workload an imagePullSecret that can.",
        },
        FindingKind::MirrorMissing => RuleText {
            level: "error",
            name: "MirrorLacksDigest",
            short: "A mirror the nodes pull from lacks the locked digest",
            help: "A node would pull the locked digest from a mirror (containerd \
                   hosts.toml, registries.conf, --mirror) that does not serve it: the \
                   pull falls back to a later host, or fails where none serves it. Copy \
                   the image to the mirror (or let its pull-through cache fetch it) \
                   before the deploy, then run `imagelock check --remote` again.",
        },
        FindingKind::MirrorStale => RuleText {
            level: "warning",
            name: "MirrorTagStale",
            short: "A mirror resolves the tag to another digest than upstream",
            help: "A mirror that serves tags resolves the locked tag to another digest \
                   than the upstream registry: nodes pulling by tag from it run another \
                   image. Refresh the mirror, or pin the digest (`imagelock pin`).",
        },
        FindingKind::Blocked => RuleText {
            level: "error",
            name: "RegistryBlocked",
            short: "The nodes' registries.conf refuses pulls from this registry",
            help: "The registries.conf given with --registries-conf (or one of its \
                   registries.conf.d drop-ins) sets `blocked = true` on the [[registry]] \
                   table that matches the reference, so CRI-O and Podman refuse to pull it. \
                   Use an image from a registry that is not blocked (or copy it to one), or \
                   remove the block if it no longer applies, then run `imagelock check` again.",
        },
        FindingKind::Unsigned => RuleText {
            level: "error",
            name: "ImageNotSigned",
            short: "Locked digest not signed as its rule requires",
            help: "A [[verify]] rule of imagelock.toml (or --verify-key, \
                   --certificate-identity) requires the image's locked digest to be signed \
                   with its key, keylessly by its identity, or with a Notation certificate \
                   from its trust store, and the registry holds no signature of it. Sign \
                   the digest (`cosign sign`, `notation sign`), or lock a digest its \
                   publisher signed (`imagelock update IMAGE`).",
        },
        FindingKind::SignatureInvalid => RuleText {
            level: "error",
            name: "SignatureInvalid",
            short: "No signature of the locked digest satisfies its rule",
            help: "The registry holds signatures of the locked digest, and none verifies \
                   under its [[verify]] rule: made with another key or by another identity \
                   or issuer, for another digest or repository, over a changed payload, \
                   with a certificate the trusted root (or Notation trust store) does not \
                   vouch for or an identity the rule does not trust, or without a verified \
                   transparency-log entry. Find out who pushed them before \
                   deploying; sign the digest as the rule requires if it is yours, then run \
                   `imagelock check --remote` again.",
        },
        FindingKind::SignatureGone => RuleText {
            level: "warning",
            name: "SignatureGone",
            short: "A recorded signature is no longer at the registry",
            help: "The lockfile records a signature of the digest that the registry no \
                   longer holds (deleted, or the signature tag overwritten). Admission \
                   controllers that verify signatures will refuse the pod. Sign the digest \
                   again, then run `imagelock update --signatures`.",
        },
    }
}

/// Where the tool's documentation lives, when Cargo.toml says.
fn information_uri() -> Option<&'static str> {
    [env!("CARGO_PKG_REPOSITORY"), env!("CARGO_PKG_HOMEPAGE")]
        .into_iter()
        .find(|u| !u.is_empty())
}

/// The SARIF log of one `check` run. Paths are made relative to `base`
/// (the working directory) where they lie below it; a finding without a
/// location (a lockfile entry no manifest uses) points at `lockfile`.
/// Errors and warnings become notifications; `quiet` leaves warnings out.
pub fn document(
    findings: &[Finding],
    messages: &[Message],
    quiet: bool,
    lockfile: &Path,
    base: &Path,
) -> Value {
    let rules: Vec<Value> = KINDS
        .iter()
        .map(|&k| {
            let t = rule_text(k);
            json!({
                "id": k.as_str(),
                "name": t.name,
                "shortDescription": {"text": t.short},
                "fullDescription": {"text": t.help},
                "help": {"text": t.help},
                "defaultConfiguration": {"level": t.level},
            })
        })
        .collect();
    let mut driver = json!({
        "name": "imagelock",
        "version": env!("CARGO_PKG_VERSION"),
        "semanticVersion": env!("CARGO_PKG_VERSION"),
    });
    if let Some(uri) = information_uri() {
        driver["informationUri"] = uri.into();
    }
    driver["rules"] = rules.into();

    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let location = f
                .location
                .clone()
                .unwrap_or_else(|| Location::file(lockfile));
            let artifact = artifact_location(&location.file, base);
            let key = fingerprint_input(f.kind, &artifact_key(&artifact), &f.reference);
            let occurrence = seen.entry(key.clone()).or_insert(0);
            let fingerprint = fingerprint(&key, *occurrence);
            *occurrence += 1;
            result(f, &location, artifact, fingerprint)
        })
        .collect();

    let notifications: Vec<Value> = messages
        .iter()
        .filter(|m| m.severity == Severity::Error || (m.severity == Severity::Warning && !quiet))
        .map(|m| notification(m, base))
        .collect();
    let errors = messages
        .iter()
        .filter(|m| m.severity == Severity::Error)
        .count();
    let mut invocation = json!({"executionSuccessful": errors == 0});
    invocation["exitCode"] = crate::report::exit_status(errors, findings.len()).into();
    if !notifications.is_empty() {
        invocation["toolExecutionNotifications"] = notifications.into();
    }

    json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": driver},
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

/// Print the log, pretty, followed by a newline.
pub fn print(
    out: &mut impl Write,
    findings: &[Finding],
    messages: &[Message],
    quiet: bool,
    lockfile: &Path,
    base: &Path,
) -> io::Result<()> {
    let doc = document(findings, messages, quiet, lockfile, base);
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn result(f: &Finding, location: &Location, artifact: Value, fingerprint: String) -> Value {
    let mut text = f.message.clone();
    if let Some(h) = &f.hint {
        text.push_str(&format!("; {h}"));
    }
    let index = KINDS.iter().position(|k| *k == f.kind).unwrap_or(0);
    let mut properties = json!({"reference": f.reference});
    if let Some(l) = &f.locked {
        properties["locked"] = l.as_str().into();
    }
    if let Some(a) = &f.actual {
        properties["actual"] = a.as_str().into();
    }
    json!({
        "ruleId": f.kind.as_str(),
        "ruleIndex": index,
        "level": rule_text(f.kind).level,
        "message": {"text": text},
        "locations": [physical_location(location, artifact)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        "properties": properties,
    })
}

fn notification(m: &Message, base: &Path) -> Value {
    let mut text = m.message.clone();
    if let Some(h) = &m.hint {
        text.push_str(&format!("; {h}"));
    }
    let level = if m.severity == Severity::Error {
        "error"
    } else {
        "warning"
    };
    let mut n = json!({"level": level, "message": {"text": text}});
    if let Some(code) = &m.code {
        n["descriptor"] = json!({"id": code});
    }
    let places: Vec<&Location> = match &m.location {
        Some(l) => vec![l],
        None => m.used_at.iter().map(|u| &u.location).collect(),
    };
    if !places.is_empty() {
        n["locations"] = places
            .into_iter()
            .map(|l| physical_location(l, artifact_location(&l.file, base)))
            .collect::<Vec<_>>()
            .into();
    }
    n
}

fn physical_location(l: &Location, artifact: Value) -> Value {
    let mut physical = json!({"artifactLocation": artifact});
    if let Some(line) = l.line {
        let mut region = json!({"startLine": line});
        if let Some(col) = l.column {
            region["startColumn"] = col.into();
        }
        physical["region"] = region;
    }
    json!({"physicalLocation": physical})
}

/// `{"uri": "k8s/app.yaml", "uriBaseId": "%SRCROOT%"}` for a file below
/// `base` (written relative or absolute), `{"uri": "file:///…"}` for an
/// absolute path elsewhere. Separators are `/`, other bytes a URI may not
/// hold are percent-encoded.
pub fn artifact_location(file: &Path, base: &Path) -> Value {
    let relative = if file.is_absolute() {
        file.strip_prefix(base).ok()
    } else {
        Some(file)
    };
    match relative {
        Some(rel) => json!({"uri": uri_path(rel), "uriBaseId": SRCROOT}),
        None => json!({"uri": format!("file:///{}", uri_path(file))}),
    }
}

/// The components of `path` joined by `/`, each percent-encoded (`.` and
/// the root dropped).
fn uri_path(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(encode(&p.to_string_lossy())),
            Component::ParentDir => Some("..".to_string()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect();
    parts.join("/")
}

/// The artifact's identity for the fingerprint: its URI and base.
fn artifact_key(artifact: &Value) -> String {
    format!(
        "{}{}",
        artifact["uriBaseId"].as_str().unwrap_or_default(),
        artifact["uri"].as_str().unwrap_or_default()
    )
}

/// Kind, file and normalised reference (as written when it does not
/// parse), NUL-separated.
fn fingerprint_input(kind: FindingKind, file: &str, reference: &str) -> String {
    let normalized = Reference::parse(reference)
        .map(|r| r.normalized())
        .unwrap_or_else(|_| reference.to_string());
    format!("{kind}\0{file}\0{normalized}")
}

fn fingerprint(input: &str, occurrence: usize) -> String {
    let mut h = Sha256::new();
    h.update(input.as_bytes());
    h.update(format!("\0{occurrence}").as_bytes());
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// Percent-encode what a URI path segment may not hold unescaped.
fn encode(segment: &str) -> String {
    let mut s = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'@' => s.push(b as char),
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_rule() {
        for k in KINDS {
            assert!(!rule_text(k).short.is_empty());
        }
        let ids: std::collections::BTreeSet<&str> = KINDS.iter().map(|k| k.as_str()).collect();
        assert_eq!(ids.len(), KINDS.len());
    }

    #[test]
    fn uris_are_relative_with_slashes_and_encoded() {
        let base = Path::new("/work/repo");
        assert_eq!(
            artifact_location(Path::new("./k8s/my app.yaml"), base),
            json!({"uri": "k8s/my%20app.yaml", "uriBaseId": "%SRCROOT%"})
        );
        assert_eq!(
            artifact_location(Path::new("/work/repo/k8s/a.yaml"), base),
            json!({"uri": "k8s/a.yaml", "uriBaseId": "%SRCROOT%"})
        );
        assert_eq!(
            artifact_location(Path::new("/elsewhere/a.yaml"), base),
            json!({"uri": "file:///elsewhere/a.yaml"})
        );
    }

    #[test]
    fn fingerprint_ignores_lines_and_spelling_of_the_name() {
        let base = Path::new("/r");
        let at = |line| {
            Finding::new(
                FindingKind::Missing,
                Some(Location::new("a.yaml", line, 14)),
                "nginx:1.25",
                "m",
            )
        };
        let fp = |f: Finding| {
            document(&[f], &[], false, Path::new("images.lock"), base)["runs"][0]["results"][0]
                ["partialFingerprints"][FINGERPRINT_KEY]
                .clone()
        };
        let mut other = at(3);
        other.reference = "docker.io/library/nginx:1.25".into();
        assert_eq!(fp(at(3)), fp(at(40)));
        assert_eq!(fp(at(3)), fp(other));
    }

    #[test]
    fn the_same_reference_twice_in_a_file_gets_two_fingerprints() {
        let f = |line| {
            Finding::new(
                FindingKind::Missing,
                Some(Location::new("a.yaml", line, 14)),
                "nginx:1.25",
                "m",
            )
        };
        let doc = document(
            &[f(3), f(9)],
            &[],
            false,
            Path::new("images.lock"),
            Path::new("/r"),
        );
        let r = &doc["runs"][0]["results"];
        assert_ne!(
            r[0]["partialFingerprints"][FINGERPRINT_KEY],
            r[1]["partialFingerprints"][FINGERPRINT_KEY]
        );
    }
}
