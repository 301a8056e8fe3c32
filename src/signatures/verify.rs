//! One digest's signatures against its rule: which verify, which do not
//! and why, and what the lockfile records of them. The signatures are
//! cosign's `.sig` layers (signed with a key, or keylessly with a
//! certificate) and sigstore bundles found as referrers; one valid
//! signature satisfies the rule.

use super::keys::PublicKey;
use super::notation::{self, NotationSigner};
use super::policy::{Requirement, Rule};
use super::sigstore::{self, Content};
use super::simple_signing::check_claims;
use crate::lockfile::SignatureRecord;
use crate::reference::Digest;
use crate::registry::signatures::JOSE;

/// One cosign signature found for a digest: a layer of its
/// `sha256-<hex>.sig` manifest.
#[derive(Debug, Clone)]
pub struct CosignSignature<'a> {
    /// The `.sig` manifest's digest.
    pub manifest: &'a Digest,
    /// The layer's digest (its payload's).
    pub layer: &'a Digest,
    /// The simple-signing payload (the layer's content).
    pub payload: &'a [u8],
    /// `dev.cosignproject.cosign/signature`: base64 DER ECDSA.
    pub signature: Option<&'a str>,
    /// `dev.sigstore.cosign/certificate`: the keyless signer's leaf (PEM).
    pub certificate: Option<&'a str>,
    /// `dev.sigstore.cosign/chain`: its intermediates and root (PEM).
    pub chain: Option<&'a str>,
    /// `dev.sigstore.cosign/bundle`: the Rekor entry (SET and body).
    pub rekor_bundle: Option<&'a str>,
}

/// One sigstore bundle found for a digest: a layer of a referrer.
#[derive(Debug, Clone)]
pub struct BundleSignature<'a> {
    /// The referrer manifest's digest.
    pub manifest: &'a Digest,
    /// The bundle layer's digest.
    pub layer: &'a Digest,
    /// The referrer manifest's `subject` (`None`: it has none).
    pub subject: Option<&'a Digest>,
    /// The layer's content: the bundle JSON.
    pub content: &'a [u8],
}

/// One Notation signature found for a digest: the JWS envelope layer of
/// a referrer.
#[derive(Debug, Clone)]
pub struct NotationSignature<'a> {
    /// The referrer manifest's digest.
    pub manifest: &'a Digest,
    /// The envelope layer's digest.
    pub layer: &'a Digest,
    /// The referrer manifest's `subject` (`None`: it has none).
    pub subject: Option<&'a Digest>,
    /// The envelope layer's media type (`application/jose+json`, or
    /// `application/cose`, which is not verified yet).
    pub media_type: &'a str,
    /// The layer's content: the envelope.
    pub content: &'a [u8],
}

/// What one digest's signatures come to under its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Every signature found, as the lockfile records it (sorted).
    pub records: Vec<SignatureRecord>,
    /// `Some` when a rule applies and no signature satisfies it: why.
    pub failure: Option<Failure>,
}

/// Why a digest fails its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The rule requires a signature and none was found.
    #[error("no signature found (rule {rule:?} requires one made with {requirement})")]
    Unsigned { rule: String, requirement: String },
    /// Signatures were found and none satisfies the rule: each one's
    /// reason, in the order found.
    #[error("{} signature(s) found, none valid under rule {rule:?} ({requirement}): {}", .reasons.len(), .reasons.join("; "))]
    Invalid {
        rule: String,
        requirement: String,
        reasons: Vec<String>,
    },
}

impl Failure {
    /// The finding code: `unsigned` or `signature-invalid`.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Unsigned { .. } => "unsigned",
            Failure::Invalid { .. } => "signature-invalid",
        }
    }
}

/// Check the cosign signatures of `digest`, resolved in the repository
/// `name`, against `rule` (none: recorded, not required): [`check`]
/// without bundles.
pub fn check_cosign(
    rule: Option<&Rule>,
    digest: &Digest,
    name: &str,
    found: &[CosignSignature<'_>],
) -> Verdict {
    check(rule, digest, name, found, &[])
}

/// Check every signature of `digest`, resolved in the repository `name`,
/// against `rule` (none: recorded, not required): its cosign `.sig`
/// layers and its sigstore bundles. Bundles holding an attestation (a DSSE
/// statement with another predicate than cosign's signing one) are no
/// signatures: left out. The rule is satisfied by any one valid signature;
/// when none is, every signature's reason is given, cosign layers first.
pub fn check(
    rule: Option<&Rule>,
    digest: &Digest,
    name: &str,
    cosign: &[CosignSignature<'_>],
    bundles: &[BundleSignature<'_>],
) -> Verdict {
    check_all(rule, digest, name, cosign, bundles, &[])
}

/// [`check`] with the Notation signatures (referrers' JWS envelopes) too:
/// they count only under a Notation rule, and cosign signatures and
/// bundles only under a key or keyless rule.
pub fn check_all(
    rule: Option<&Rule>,
    digest: &Digest,
    name: &str,
    cosign: &[CosignSignature<'_>],
    bundles: &[BundleSignature<'_>],
    notation: &[NotationSignature<'_>],
) -> Verdict {
    let mut records = Vec::new();
    let mut reasons = Vec::new();
    let mut satisfied = false;
    let mut found = 0;
    let mut verdict_of = |mut record: SignatureRecord,
                          outcome: Option<Result<Signer, String>>,
                          records: &mut Vec<SignatureRecord>| {
        found += 1;
        match (rule, outcome) {
            (Some(rule), Some(Ok(signer))) => {
                match signer {
                    Signer::Key(id) => record.key = Some(id),
                    Signer::Identity { identity, issuer } => {
                        record.identity = Some(identity);
                        record.issuer = Some(issuer);
                    }
                    Signer::Notation(who) => {
                        record.identity = Some(who.subject);
                        record.issuer = Some(who.issuer);
                    }
                }
                record.verified = Some(rule.name.clone());
                satisfied = true;
            }
            (Some(_), Some(Err(why))) => reasons.push(format!("{}: {why}", record.manifest)),
            _ => {}
        }
        records.push(record);
    };
    for sig in cosign {
        let record = SignatureRecord::found("cosign", sig.manifest, Some(sig.layer));
        let outcome = rule.map(|rule| verify_cosign(&rule.requirement, digest, name, sig));
        verdict_of(record, outcome, &mut records);
    }
    for b in bundles {
        let parsed = sigstore::parse_bundle(b.content);
        if let Ok((_, Content::Attestation(_))) = parsed {
            continue;
        }
        let record = SignatureRecord::found("sigstore-bundle", b.manifest, Some(b.layer));
        let outcome = rule.map(|rule| {
            if let Requirement::Notation { .. } = rule.requirement {
                return Err(not_notation("a sigstore bundle"));
            }
            if b.subject != Some(digest) {
                return Err(match b.subject {
                    Some(other) => format!("the referrer's subject is {other}, not this digest"),
                    None => "the referrer has no subject".to_string(),
                });
            }
            let (bundle, _) = parsed?;
            sigstore::verify_bundle(&rule.requirement, digest, &bundle).map(Signer::from)
        });
        verdict_of(record, outcome, &mut records);
    }
    for n in notation {
        let record = SignatureRecord::found("notation", n.manifest, Some(n.layer));
        let outcome = rule.map(|rule| {
            let Requirement::Notation { trust } = &rule.requirement else {
                return Err(format!(
                    "a Notation signature; the rule requires {}",
                    rule.requirement
                ));
            };
            if crate::registry::manifest::essence(&n.media_type.trim().to_ascii_lowercase()) != JOSE
            {
                return Err(format!(
                    "a Notation {} envelope: only JWS ({JOSE}) envelopes are verified yet",
                    n.media_type
                ));
            }
            notation::verify(trust, digest, n.subject, n.content).map(Signer::Notation)
        });
        verdict_of(record, outcome, &mut records);
    }
    records.sort();
    records.dedup();
    let failure = match rule {
        Some(rule) if !satisfied => {
            let requirement = rule.requirement.to_string();
            Some(if found == 0 {
                Failure::Unsigned {
                    rule: rule.name.clone(),
                    requirement,
                }
            } else {
                Failure::Invalid {
                    rule: rule.name.clone(),
                    requirement,
                    reasons,
                }
            })
        }
        _ => None,
    };
    Verdict { records, failure }
}

/// One cosign signature under a requirement: who made it, or why it does
/// not count.
fn verify_cosign(
    requirement: &Requirement,
    digest: &Digest,
    name: &str,
    sig: &CosignSignature<'_>,
) -> Result<Signer, String> {
    let Some(signature) = sig.signature else {
        return Err("the layer has no dev.cosignproject.cosign/signature annotation".into());
    };
    let signer = match requirement {
        Requirement::Notation { .. } => return Err(not_notation("a cosign signature")),
        Requirement::Key { key, .. } => verify_with_key(key, sig.payload, signature)?,
        Requirement::Keyless { .. } => sigstore::verify_cosign_keyless(
            requirement,
            sig.payload,
            signature,
            sig.certificate,
            sig.chain,
            sig.rekor_bundle,
        )?
        .into(),
    };
    // The signature first: a payload's claims count only once its
    // signer is known.
    check_claims(sig.payload, digest, name).map_err(|e| e.to_string())?;
    Ok(signer)
}

/// Who made a signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signer {
    /// A key (cosign): its id.
    Key(String),
    /// A Fulcio certificate: its identity and OIDC issuer.
    Identity { identity: String, issuer: String },
    /// A Notation certificate: its subject and issuer DNs.
    Notation(NotationSigner),
}

impl From<sigstore::Signer> for Signer {
    fn from(s: sigstore::Signer) -> Signer {
        match s {
            sigstore::Signer::Key(id) => Signer::Key(id),
            sigstore::Signer::Identity { identity, issuer } => {
                Signer::Identity { identity, issuer }
            }
        }
    }
}

/// Why a cosign signature or bundle does not count under a Notation rule.
fn not_notation(what: &str) -> String {
    format!("{what}; the rule trusts Notation signatures only")
}

fn verify_with_key(key: &PublicKey, payload: &[u8], signature: &str) -> Result<Signer, String> {
    if !key.verifies_base64(payload, signature) {
        return Err(format!(
            "not signed by {} (another key, or a changed payload)",
            key.id()
        ));
    }
    Ok(Signer::Key(key.id().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    /// A key pair, and the rule requiring its public key for `ghcr.io/acme/*`.
    fn key_and_rule(dir: &std::path::Path) -> (EcdsaKeyPair, Rule) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // id-ecPublicKey, prime256v1, then the point.
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&spki);
        fs_err::write(
            dir.join("cosign.pub"),
            format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n"),
        )
        .unwrap();
        let raw = toml::from_str(
            "name = \"acme\"\nimages = [\"ghcr.io/acme/*\"]\nkey = \"cosign.pub\"\n",
        )
        .unwrap();
        (pair, Rule::new(raw, 0, dir).unwrap())
    }

    fn payload(reference: &str, digest: &Digest) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes()
    }

    fn sign(pair: &EcdsaKeyPair, message: &[u8]) -> String {
        let sig = pair.sign(&SystemRandom::new(), message).unwrap();
        base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
    }

    #[test]
    fn a_digest_passes_its_rule_only_with_a_signature_by_its_key_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let (pair, rule) = key_and_rule(dir.path());
        let other_dir = tempfile::tempdir().unwrap();
        let (other, _) = key_and_rule(other_dir.path());
        let digest = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let elsewhere = Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap();
        let manifest = Digest::parse(&format!("sha256:{}", "c".repeat(64))).unwrap();
        let name = "ghcr.io/acme/app";
        let good = payload(name, &digest);
        let for_other_digest = payload(name, &elsewhere);
        let for_other_repo = payload("ghcr.io/evil/app", &digest);
        let sig = |p: &'_ [u8], s: Option<String>| (p.to_vec(), s);
        let cases = [
            sig(&good, Some(sign(&other, &good))),
            sig(&for_other_digest, Some(sign(&pair, &for_other_digest))),
            sig(&for_other_repo, Some(sign(&pair, &for_other_repo))),
            sig(&good, None),
            sig(&good, Some(sign(&pair, b"something else"))),
        ];
        let found: Vec<CosignSignature<'_>> = cases
            .iter()
            .map(|(p, s)| CosignSignature {
                manifest: &manifest,
                layer: &digest,
                payload: p,
                signature: s.as_deref(),
                certificate: None,
                chain: None,
                rekor_bundle: None,
            })
            .collect();
        let verdict = check_cosign(Some(&rule), &digest, name, &found);
        let Some(Failure::Invalid { reasons, .. }) = &verdict.failure else {
            panic!("{verdict:?}");
        };
        assert_eq!(reasons.len(), 5);
        assert!(reasons[0].contains("not signed by"), "{reasons:?}");
        assert!(
            reasons[1].contains("the signature is for sha256:bbbb"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].contains("names the repository ghcr.io/evil/app"),
            "{reasons:?}"
        );
        assert!(
            reasons[3].contains("no dev.cosignproject.cosign/signature"),
            "{reasons:?}"
        );
        assert!(reasons[4].contains("not signed by"), "{reasons:?}");
        assert!(verdict.records.iter().all(|r| r.verified.is_none()));
        assert_eq!(
            verdict.failure.as_ref().unwrap().code(),
            "signature-invalid"
        );

        // One good signature among them is enough; it alone is verified.
        let good_sig = sign(&pair, &good);
        let mut with_good = found.clone();
        with_good.push(CosignSignature {
            manifest: &manifest,
            layer: &elsewhere,
            payload: &good,
            signature: Some(&good_sig),
            certificate: None,
            chain: None,
            rekor_bundle: None,
        });
        let verdict = check_cosign(Some(&rule), &digest, name, &with_good);
        assert_eq!(verdict.failure, None);
        let verified: Vec<_> = verdict
            .records
            .iter()
            .filter(|r| r.verified.is_some())
            .collect();
        assert_eq!(verified.len(), 1);
        assert_eq!(verified[0].verified.as_deref(), Some("acme"));
        assert_eq!(verified[0].layer.as_ref(), Some(&elsewhere));

        // None found: unsigned. No rule: recorded, never a failure.
        let verdict = check_cosign(Some(&rule), &digest, name, &[]);
        assert_eq!(
            verdict.failure.as_ref().map(Failure::code),
            Some("unsigned")
        );
        assert_eq!(check_cosign(None, &digest, name, &found).failure, None);
    }

    /// A v0.3 bundle holding a DSSE statement about `digest` with `predicate`.
    fn dsse_bundle(digest: &Digest, predicate: &str) -> Vec<u8> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let statement = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],"predicateType":"{predicate}","predicate":{{}}}}"#,
            digest.encoded()
        );
        format!(
            r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{{"publicKey":{{"hint":""}},"tlogEntries":[]}},"dsseEnvelope":{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"keyid":"","sig":"AA=="}}]}}}}"#,
            b64(&statement)
        )
        .into_bytes()
    }

    #[test]
    fn bundles_count_only_for_their_subject_and_attestations_are_no_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let (_, rule) = key_and_rule(dir.path());
        let digest = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let other = Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap();
        let referrer = Digest::parse(&format!("sha256:{}", "c".repeat(64))).unwrap();
        let layer = Digest::parse(&format!("sha256:{}", "d".repeat(64))).unwrap();
        let signed = dsse_bundle(&digest, super::sigstore::COSIGN_SIGN_PREDICATE);
        let provenance = dsse_bundle(&digest, "https://slsa.dev/provenance/v1");
        let bundle = |subject, content| BundleSignature {
            manifest: &referrer,
            layer: &layer,
            subject,
            content,
        };
        let name = "ghcr.io/acme/app";

        // An attestation bundle is no signature: the digest is unsigned.
        let verdict = check(
            Some(&rule),
            &digest,
            name,
            &[],
            &[bundle(Some(&digest), &provenance)],
        );
        assert_eq!(
            verdict.failure.as_ref().map(Failure::code),
            Some("unsigned")
        );
        assert!(verdict.records.is_empty());

        // A referrer of another digest (the tag schema's index is written
        // by clients), or of none, does not sign this one.
        for (subject, says) in [
            (Some(&other), "the referrer's subject is sha256:bbbb"),
            (None, "the referrer has no subject"),
        ] {
            let verdict = check(Some(&rule), &digest, name, &[], &[bundle(subject, &signed)]);
            let Some(Failure::Invalid { reasons, .. }) = &verdict.failure else {
                panic!("{verdict:?}");
            };
            assert!(
                reasons[0].starts_with(&format!("{referrer}: {says}")),
                "{reasons:?}"
            );
        }

        // A key rule without a trusted root cannot check a bundle's log
        // entry; nor can anything check a bundle without one.
        let verdict = check(
            Some(&rule),
            &digest,
            name,
            &[],
            &[bundle(Some(&digest), &signed)],
        );
        let Some(Failure::Invalid { reasons, .. }) = &verdict.failure else {
            panic!("{verdict:?}");
        };
        assert!(
            reasons[0].contains("no transparency-log entry"),
            "{reasons:?}"
        );

        // No rule: the bundle is recorded, nothing verified.
        let verdict = check(None, &digest, name, &[], &[bundle(Some(&digest), &signed)]);
        assert_eq!(verdict.failure, None);
        assert_eq!(
            verdict.records,
            [SignatureRecord::found(
                "sigstore-bundle",
                &referrer,
                Some(&layer)
            )]
        );
    }

    #[test]
    fn a_notation_signature_is_recorded_and_counts_only_under_a_notation_rule() {
        let dir = tempfile::tempdir().unwrap();
        let (_, rule) = key_and_rule(dir.path());
        let digest = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let referrer = Digest::parse(&format!("sha256:{}", "c".repeat(64))).unwrap();
        let layer = Digest::parse(&format!("sha256:{}", "d".repeat(64))).unwrap();
        let found = [NotationSignature {
            manifest: &referrer,
            layer: &layer,
            subject: Some(&digest),
            media_type: JOSE,
            content: b"{}",
        }];
        let name = "ghcr.io/acme/app";
        let verdict = check_all(Some(&rule), &digest, name, &[], &[], &found);
        let Some(Failure::Invalid { reasons, .. }) = &verdict.failure else {
            panic!("{verdict:?}");
        };
        assert!(
            reasons[0].contains("a Notation signature; the rule requires the key"),
            "{reasons:?}"
        );
        let verdict = check_all(None, &digest, name, &[], &[], &found);
        assert_eq!(verdict.failure, None);
        assert_eq!(
            verdict.records,
            [SignatureRecord::found("notation", &referrer, Some(&layer))]
        );
    }
}
