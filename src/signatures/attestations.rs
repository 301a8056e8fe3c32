//! In-toto attestations of a digest (SLSA provenance, SBOMs, scan
//! results), as cosign attaches them: each a DSSE envelope (a layer of
//! the `sha256-<hex>.att` manifest) whose payload is an in-toto statement
//! about the digest. A rule's `attestations` lists predicate types that
//! must be present and signed with the rule's key.
//!
//! DSSE (`secure-systems-lab/dsse` `envelope.md`, `protocol.md`): the
//! signature is over `PAE(payloadType, payload)` =
//! `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in ASCII
//! decimal. The statement (in-toto `spec/v1/statement.md`):
//! `{"_type", "subject": [{"name", "digest": {"sha256": hex}}],
//! "predicateType", "predicate"}`.

use base64::Engine as _;
use serde::Deserialize;

use super::keys::PublicKey;
use crate::reference::Digest;

/// The payload type of an in-toto statement in a DSSE envelope.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

#[derive(Deserialize)]
struct Statement {
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// DSSE's pre-authentication encoding of a payload.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The predicate type an envelope claims, read without checking anything
/// (to say what was found).
pub fn claimed_predicate_type(envelope: &[u8]) -> Option<String> {
    let e: Envelope = serde_json::from_slice(envelope).ok()?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(e.payload)
        .ok()?;
    let s: Statement = serde_json::from_slice(&body).ok()?;
    Some(s.predicate_type)
}

/// Check a DSSE envelope (JSON) with `key`: some signature of it verifies
/// over its PAE, its payload is an in-toto statement, and one of its
/// subjects is `digest`. Returns the statement's predicate type.
pub fn verify_envelope(
    envelope: &[u8],
    key: &PublicKey,
    digest: &Digest,
) -> Result<String, String> {
    let e: Envelope =
        serde_json::from_slice(envelope).map_err(|err| format!("not a DSSE envelope: {err}"))?;
    if e.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "the envelope's payload type is {:?}, not an in-toto statement ({IN_TOTO_PAYLOAD_TYPE})",
            e.payload_type
        ));
    }
    let body = base64::engine::general_purpose::STANDARD
        .decode(&e.payload)
        .map_err(|_| "the envelope's payload is not base64".to_string())?;
    let signed = pae(&e.payload_type, &body);
    if !e
        .signatures
        .iter()
        .any(|s| key.verifies_base64(&signed, &s.sig))
    {
        return Err(format!(
            "not signed by {} (another key, or a changed statement)",
            key.id()
        ));
    }
    let statement: Statement = serde_json::from_slice(&body)
        .map_err(|err| format!("the signed payload is not an in-toto statement: {err}"))?;
    let (algorithm, hex) = digest
        .to_string()
        .split_once(':')
        .map(|(a, h)| (a.to_string(), h.to_string()))
        .unwrap_or_default();
    if !statement
        .subject
        .iter()
        .any(|s| s.digest.get(&algorithm) == Some(&hex))
    {
        return Err(format!(
            "the statement ({}) is about other subjects, not this digest",
            statement.predicate_type
        ));
    }
    Ok(statement.predicate_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}

/// One attestation found for a digest: a layer of its `.att` manifest.
#[derive(Debug, Clone)]
pub struct FoundAttestation<'a> {
    pub manifest: &'a Digest,
    pub layer: &'a Digest,
    /// The DSSE envelope (JSON).
    pub envelope: &'a [u8],
}

/// What a digest's attestations come to under a rule's key and required
/// predicate types: every one found, as recorded, and the required types
/// no verified attestation has, each with the reasons of those found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationVerdict {
    pub records: Vec<crate::lockfile::AttestationRecord>,
    /// Required predicate types without a verified attestation, and why
    /// (nothing found of that type, or each found one's reason).
    pub missing: Vec<(String, Vec<String>)>,
}

/// Check `found` against `key` (none: recorded unverified) for `digest`;
/// `required` types must each have a verified attestation, recorded as
/// verified by `rule`.
pub fn check(
    rule: Option<(&str, &PublicKey, &[String])>,
    digest: &Digest,
    found: &[FoundAttestation<'_>],
) -> AttestationVerdict {
    let mut records = Vec::new();
    let mut verified_types = Vec::new();
    let mut reasons: Vec<(String, String)> = Vec::new();
    for a in found {
        let claimed = claimed_predicate_type(a.envelope).unwrap_or_default();
        let mut record = crate::lockfile::AttestationRecord {
            predicate_type: claimed.clone(),
            manifest: a.manifest.clone(),
            layer: Some(a.layer.clone()),
            key: None,
            verified: None,
        };
        if let Some((name, key, _)) = rule {
            match verify_envelope(a.envelope, key, digest) {
                Ok(predicate_type) => {
                    record.predicate_type = predicate_type.clone();
                    record.key = Some(key.id().to_string());
                    record.verified = Some(name.to_string());
                    verified_types.push(predicate_type);
                }
                Err(why) => reasons.push((claimed, format!("{}: {why}", a.manifest))),
            }
        }
        records.push(record);
    }
    records.sort();
    records.dedup();
    let mut missing = Vec::new();
    if let Some((_, _, required)) = rule {
        for t in required {
            if verified_types.contains(t) {
                continue;
            }
            let why: Vec<String> = reasons
                .iter()
                .filter(|(claimed, _)| claimed == t)
                .map(|(_, r)| r.clone())
                .collect();
            missing.push((t.clone(), why));
        }
    }
    AttestationVerdict { records, missing }
}
