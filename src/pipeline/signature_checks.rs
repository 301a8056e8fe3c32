//! The signatures of the digests a run locks: found at their registries
//! ([`crate::registry::signatures`]), checked against the run's
//! `[[verify]]` rules ([`crate::signatures::verify`]) and recorded in the
//! entries. The lockfile is the cache: an entry whose records already hold
//! a signature verified by its rule is not asked again.

use futures::StreamExt as _;

use super::remote::{registry_error, Remote};
use super::scanning::Use;
use crate::lockfile::{Entry, Key, Lockfile};
use crate::reference::{Digest, Reference};
use crate::registry::signatures::{
    Discovered, COSE, COSIGN_SIMPLESIGNING, DSSE_ENVELOPE, JOSE, NOTATION_SIGNATURE,
    SIGSTORE_BUNDLE_PREFIX,
};
use crate::registry::RegistryError;
use crate::report::{Diagnostics, Message};
use crate::report::{Finding, FindingKind};
use crate::settings::SignatureSettings;
use crate::signatures::attestations::{self, AttestationVerdict, FoundAttestation};
use crate::signatures::policy::{Requirement, Rule};
use crate::signatures::verify::{
    check_all, BundleSignature, CosignSignature, NotationSignature, Verdict,
};

/// The cosign annotation holding a layer's signature.
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The cosign annotations of a keyless signature: the leaf certificate,
/// its chain, and the Rekor entry.
const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Whether `entry` needs its signatures looked up in this run: a rule
/// applies and the records do not say that rule verified a signature and
/// each attestation it requires, or every digest is to be recorded and it
/// has no record yet.
fn needs_lookup(settings: &SignatureSettings, entry: &Entry) -> bool {
    match settings.policy.rule_for(&entry.name) {
        Some(rule) => {
            // A record counts only when it names the rule AND what the rule
            // requires now: a rule keeps its name (or its place, `verify
            // #N`) when its key is replaced (rotated after a compromise) or
            // its identity changed, and a digest verified by the old key
            // must be asked again, not kept on the strength of a name.
            let by_rule = |v: &Option<String>| v.as_deref() == Some(rule.name.as_str());
            let key_id = match &rule.requirement {
                Requirement::Key { key, .. } => Some(key.id()),
                Requirement::Keyless { .. } | Requirement::Notation { .. } => None,
            };
            let by_signer = |s: &crate::lockfile::SignatureRecord| match &rule.requirement {
                Requirement::Key { key, .. } => s.key.as_deref() == Some(key.id()),
                Requirement::Keyless {
                    identity, issuer, ..
                } => {
                    s.identity.as_deref().is_some_and(|i| identity.is_match(i))
                        && s.issuer.as_deref().is_some_and(|i| issuer.is_match(i))
                }
                Requirement::Notation { trust } => {
                    s.kind == "notation"
                        && s.identity
                            .as_deref()
                            .is_some_and(|i| trust.trusts_subject(i))
                }
            };
            let signed = entry
                .signatures
                .iter()
                .any(|s| by_rule(&s.verified) && by_signer(s));
            let attested = rule.attestations.iter().all(|t| {
                entry.attestations.iter().any(|a| {
                    &a.predicate_type == t && by_rule(&a.verified) && a.key.as_deref() == key_id
                })
            });
            !(signed && attested)
        }
        None => settings.record_all && entry.signatures.is_empty(),
    }
}

/// The rule naming `entry` when the lockfile records no signature (and
/// attestation) it verified with what it requires now: what offline
/// `check` reports, `lock` would verify again.
pub fn unverified_rule<'a>(settings: &'a SignatureSettings, entry: &Entry) -> Option<&'a Rule> {
    let rule = settings.policy.rule_for(&entry.name)?;
    needs_lookup(settings, entry).then_some(rule)
}

/// What the registries hold about each target's digest, asked all at once.
/// One entry's key and digest, and what its registry said of the digest.
type Lookup = (Key, Digest, Result<Discovered, RegistryError>);

/// What the registries hold about the digest of each entry of `lock`
/// that `wanted` names, asked all at once: the entry's key and digest,
/// and the answer.
fn discover_all(
    remote: &Remote<'_>,
    lock: &Lockfile,
    wanted: impl Fn(&Entry) -> bool,
) -> anyhow::Result<Vec<Lookup>> {
    let targets: Vec<(Key, Reference, Digest)> = lock
        .entries()
        .filter(|e| wanted(e))
        .filter_map(|e| {
            let reference = Reference::parse(&format!("{}@{}", e.name, e.digest)).ok()?;
            Some((Key::of_entry(e), reference, e.digest.clone()))
        })
        .collect();
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let client = remote.client();
    // As many at once as resolution sends (`--concurrency`, unbounded by
    // default): the client's connections pace them per registry.
    let concurrency = client.concurrency();
    let work = futures::stream::iter(&targets)
        .map(|(_, reference, digest)| client.discover(reference, digest))
        .buffered(concurrency)
        .collect::<Vec<_>>();
    let found = remote.until_interrupted(work)?;
    Ok(targets
        .into_iter()
        .zip(found)
        .map(|((key, _, digest), answer)| (key, digest, answer))
        .collect())
}

/// The cosign signatures (simple-signing layers) among what was found.
fn cosign_signatures(discovered: &Discovered) -> Vec<CosignSignature<'_>> {
    discovered
        .cosign_signatures
        .iter()
        .filter(|l| l.media_type == COSIGN_SIMPLESIGNING)
        .map(|l| CosignSignature {
            manifest: &l.manifest_digest,
            layer: &l.layer_digest,
            payload: &l.payload,
            signature: l.annotations.get(SIGNATURE_ANNOTATION).map(String::as_str),
            certificate: l
                .annotations
                .get(CERTIFICATE_ANNOTATION)
                .map(String::as_str),
            chain: l.annotations.get(CHAIN_ANNOTATION).map(String::as_str),
            rekor_bundle: l.annotations.get(BUNDLE_ANNOTATION).map(String::as_str),
        })
        .collect()
}

/// The attestations among what was found, checked under `rule` (its key
/// and required predicate types).
fn attestation_verdict(
    rule: Option<&Rule>,
    digest: &Digest,
    discovered: &Discovered,
) -> AttestationVerdict {
    let found: Vec<FoundAttestation<'_>> = discovered
        .cosign_attestations
        .iter()
        .filter(|l| l.media_type == DSSE_ENVELOPE)
        .map(|l| FoundAttestation {
            manifest: &l.manifest_digest,
            layer: &l.layer_digest,
            envelope: &l.payload,
        })
        .collect();
    // Attestations are checked with a key (a keyless rule cannot require
    // them: refused when the rule is read).
    let rule = rule.and_then(|r| match &r.requirement {
        Requirement::Key { key, .. } => Some((r.name.as_str(), key, &r.attestations[..])),
        Requirement::Keyless { .. } | Requirement::Notation { .. } => None,
    });
    attestations::check(rule, digest, &found)
}

/// A digest lacking an attestation its rule requires: the finding kind
/// (`unsigned` when none was found, else `signature-invalid`) and the
/// message, said alike by `lock` (an error) and `check --remote` (a
/// finding).
fn attestation_failure(
    rule: Option<&Rule>,
    key: &Key,
    digest: &Digest,
    attested: &AttestationVerdict,
) -> Option<(FindingKind, String)> {
    let rule = rule.filter(|_| !attested.missing.is_empty())?;
    let kind = if attested.records.is_empty() {
        FindingKind::Unsigned
    } else {
        FindingKind::SignatureInvalid
    };
    Some((
        kind,
        format!(
            "{key} ({digest}): rule {:?} requires attestations: {}",
            rule.name,
            describe_missing(&attested.missing)
        ),
    ))
}

/// The required attestations a verdict lacks, as one sentence.
fn describe_missing(missing: &[(String, Vec<String>)]) -> String {
    missing
        .iter()
        .map(|(t, why)| {
            if why.is_empty() {
                format!("no attestation of type {t:?} found")
            } else {
                format!("no valid attestation of type {t:?}: {}", why.join("; "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The sigstore bundles among the referrers found: every read layer whose
/// media type is a bundle's (whatever the referrer's listed type).
fn bundle_signatures(discovered: &Discovered) -> Vec<BundleSignature<'_>> {
    discovered
        .referrers
        .iter()
        .flat_map(|r| {
            r.layers.iter().filter_map(move |l| {
                let content = l.content.as_deref()?;
                l.media_type
                    .trim()
                    .to_ascii_lowercase()
                    .starts_with(SIGSTORE_BUNDLE_PREFIX)
                    .then_some(BundleSignature {
                        manifest: &r.digest,
                        layer: &l.digest,
                        subject: r.subject.as_ref(),
                        content,
                    })
            })
        })
        .collect()
}

/// The Notation signatures among the referrers found: the JWS (or COSE)
/// envelope layers of referrers of the Notary artifact type (listed, in
/// the manifest, or as a legacy manifest's config type), or of a referrer
/// no type names whose first layer is the envelope.
fn notation_signatures(discovered: &Discovered) -> Vec<NotationSignature<'_>> {
    let essence = |m: &str| crate::registry::manifest::essence(&m.trim().to_ascii_lowercase());
    discovered
        .referrers
        .iter()
        .filter(|r| {
            let t = essence(&r.artifact_type);
            t == NOTATION_SIGNATURE || t == JOSE
        })
        .flat_map(|r| {
            r.layers.iter().filter_map(move |l| {
                let content = l.content.as_deref()?;
                let m = essence(&l.media_type);
                (m == JOSE || m == COSE).then_some(NotationSignature {
                    manifest: &r.digest,
                    layer: &l.digest,
                    subject: r.subject.as_ref(),
                    media_type: &l.media_type,
                    content,
                })
            })
        })
        .collect()
}

/// Every signature of `discovered` checked against `rule`.
fn verdict(
    rule: Option<&crate::signatures::policy::Rule>,
    digest: &Digest,
    name: &str,
    discovered: &Discovered,
) -> Verdict {
    check_all(
        rule,
        digest,
        name,
        &cosign_signatures(discovered),
        &bundle_signatures(discovered),
        &notation_signatures(discovered),
    )
}

/// Whether any entry of `lock` needs its signatures looked up.
pub fn any_needs_lookup(settings: &SignatureSettings, lock: &Lockfile) -> bool {
    settings.active() && lock.entries().any(|e| needs_lookup(settings, e))
}

/// Look up, check and record the signatures of the entries of `lock` that
/// need it (all at once, as resolution asks). A digest that fails its
/// rule, and a registry that cannot be asked, are errors in `diag` at the
/// entry's uses (`uses`); the entry then keeps no record. Returns how many
/// entries were looked up.
pub fn check_signatures(
    remote: &Remote<'_>,
    settings: &SignatureSettings,
    lock: &mut Lockfile,
    uses: &dyn Fn(&Key) -> Vec<Use>,
    diag: &mut Diagnostics,
) -> anyhow::Result<usize> {
    if !settings.active() {
        return Ok(0);
    }
    let found = discover_all(remote, lock, |e| needs_lookup(settings, e))?;
    let looked_up = found.len();
    for (key, digest, discovered) in found {
        let (key, digest) = (&key, &digest);
        let at = uses(key);
        let discovered = match discovered {
            Ok(d) => d,
            Err(e) => {
                diag.emit(registry_error(&e, &at).hint(Some(
                    "its signatures could not be looked up; nothing was recorded",
                )));
                continue;
            }
        };
        let Some(entry) = lock.get(key).cloned() else {
            continue;
        };
        let rule = settings.policy.rule_for(&entry.name);
        let verdict = verdict(rule, digest, &entry.name, &discovered);
        if let Some(failure) = &verdict.failure {
            diag.emit(
                Message::error(format!("{key} ({digest}): {failure}"))
                    .code(failure.code())
                    .hint(Some(
                        "the digest is not recorded: sign it as the rule requires (its key, its keyless identity, or a Notation certificate from its trust store), or change the [[verify]] rule in imagelock.toml",
                    ))
                    .used_at(super::scanning::used_at(&at)),
            );
            continue;
        }
        let attested = attestation_verdict(rule, digest, &discovered);
        if let Some((kind, message)) = attestation_failure(rule, key, digest, &attested) {
            diag.emit(
                Message::error(message)
                .code(kind.as_str())
                .hint(Some(
                    "the digest is not recorded: attest it with the rule's key (`cosign attest --key … --type …`), or change the rule's `attestations`",
                ))
                .used_at(super::scanning::used_at(&at)),
            );
            continue;
        }
        let mut updated = entry;
        updated.signatures = verdict.records;
        updated.attestations = attested.records;
        lock.insert(updated);
    }
    Ok(looked_up)
}

/// `check --remote`: the signatures of every locked digest a rule names,
/// or that the lockfile records signatures of, asked again. A digest that
/// fails its rule is an `unsigned` or `signature-invalid` finding, and a
/// recorded signature the registry no longer holds a `signature-gone`
/// finding, at every use of the entry (once, without a place, when no
/// manifest uses it). A registry that cannot be asked is an error.
pub fn signature_findings(
    remote: &Remote<'_>,
    settings: &SignatureSettings,
    lock: &Lockfile,
    uses: &dyn Fn(&Key) -> Vec<Use>,
    diag: &mut Diagnostics,
) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let found = discover_all(remote, lock, |e| {
        settings.policy.rule_for(&e.name).is_some() || !e.signatures.is_empty()
    })?;
    for (key, digest, discovered) in found {
        let (key, digest) = (&key, &digest);
        let at = uses(key);
        let discovered = match discovered {
            Ok(d) => d,
            Err(e) => {
                diag.emit(registry_error(&e, &at));
                continue;
            }
        };
        let Some(entry) = lock.get(key) else {
            continue;
        };
        let rule = settings.policy.rule_for(&entry.name);
        let verdict = verdict(rule, digest, &entry.name, &discovered);
        // Every (manifest, layer) signature the registry holds now.
        let present: Vec<(&Digest, &Digest)> = cosign_signatures(&discovered)
            .into_iter()
            .map(|s| (s.manifest, s.layer))
            .chain(
                bundle_signatures(&discovered)
                    .into_iter()
                    .map(|b| (b.manifest, b.layer)),
            )
            .chain(
                notation_signatures(&discovered)
                    .into_iter()
                    .map(|n| (n.manifest, n.layer)),
            )
            .collect();
        let mut add = |kind: FindingKind, message: String, hint: &str| {
            let f = Finding::new(kind, None, key.to_string(), message)
                .with_hint(hint)
                .with_digests(digest, None);
            if at.is_empty() {
                findings.push(f.clone());
            }
            for u in &at {
                findings.push(Finding {
                    location: Some(u.location.clone()),
                    reference: u.reference.original().to_string(),
                    ..f.clone()
                });
            }
        };
        if let Some(failure) = &verdict.failure {
            let kind = match failure.code() {
                "unsigned" => FindingKind::Unsigned,
                _ => FindingKind::SignatureInvalid,
            };
            add(
                kind,
                format!("{key} ({digest}): {failure}"),
                "do not deploy it until its publisher's signature is found: sign it as the rule requires, or lock a signed digest",
            );
        }
        let attested = attestation_verdict(rule, digest, &discovered);
        if let Some((kind, message)) = attestation_failure(rule, key, digest, &attested) {
            add(
                kind,
                message,
                "do not deploy it until its publisher's attestation is found: attest it with the rule's key, or lock an attested digest",
            );
        }
        for gone in entry.signatures.iter().filter(|r| {
            !present
                .iter()
                .any(|(m, l)| **m == r.manifest && r.layer.as_ref().is_none_or(|rl| rl == *l))
        }) {
            add(
                FindingKind::SignatureGone,
                format!(
                    "{key} ({digest}): the {} signature {} recorded in the lockfile is no longer at the registry",
                    gone.kind, gone.manifest
                ),
                "sign the digest again, then run `imagelock update --signatures`",
            );
        }
    }
    Ok(findings)
}
