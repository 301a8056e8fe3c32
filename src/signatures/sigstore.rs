//! Sigstore verification, through the `sigstore-verify` crate (default
//! features off; imagelock's own ring-based crypto provider): sigstore
//! bundles found as OCI referrers, signed with a key or keylessly (a Fulcio
//! certificate), and cosign's keyless `sha256-<hex>.sig` layers (the
//! certificate, chain and Rekor bundle annotations), converted to a v0.1
//! bundle so the same checks apply.
//!
//! What sigstore-verify checks (relied on): the bundle's structure for its
//! version (a v0.3 bundle must carry an inclusion proof); for a certificate,
//! the chain to a certificate authority of the trusted root at the log's
//! integrated time, the leaf's validity then and its code-signing usage, its
//! embedded SCT against the trusted root's CT logs, an exact identity or
//! issuer; the log entry's inclusion proof and signed checkpoint, or its
//! signed entry timestamp, against the trusted root's log keys, the entry's
//! time inside the certificate's validity, and the entry describing this
//! very signature; the signature over the digest (message signature) or
//! over the DSSE envelope, whose in-toto statement must have the digest as
//! a subject.
//!
//! What imagelock adds: at least one log entry, and the result saying the
//! log, the chain and the SCT were verified (not merely skipped);
//! identities and issuers as regular expressions, matched whole; a DSSE
//! bundle counts as a signature only with cosign's signing predicate
//! ([`COSIGN_SIGN_PREDICATE`]; others are attestations); the referrer's
//! `subject` (checked by the caller); for a cosign `.sig` layer, the
//! simple-signing claims (digest, repository, checked by the caller).
//!
//! No trust material is fetched: the `trusted_root.json` is the user's.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Bundle, DerPublicKey, Sha256Hash, SignatureContent};
use sigstore_verify::{
    PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult, Verifier,
};

use super::policy::Requirement;
use crate::reference::Digest;

/// The predicate type of what `cosign sign` (v3, bundle format) signs: an
/// in-toto statement about the image digest, in a DSSE envelope.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A `trusted_root.json` (sigstore protobuf-specs TrustedRoot JSON: the
/// certificate authorities, transparency logs and CT logs trusted), read
/// and checked once.
#[derive(Clone)]
pub struct TrustRoot {
    path: PathBuf,
    verifier: Arc<Verifier>,
}

impl fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustRoot")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TrustRoot {
    /// Read `path`; every key and certificate in it must be usable.
    pub fn load(path: &Path) -> Result<TrustRoot, String> {
        super::crypto_provider::install();
        let text = fs_err::read_to_string(path)
            .map_err(|e| format!("cannot read the trusted root: {e}"))?;
        let root = TrustedRoot::from_json(&text)
            .map_err(|e| format!("{}: not a sigstore trusted_root.json: {e}", path.display()))?;
        let verifier = Verifier::new(&root)
            .map_err(|e| format!("{}: unusable trusted root: {e}", path.display()))?;
        Ok(TrustRoot {
            path: path.to_path_buf(),
            verifier: Arc::new(verifier),
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A certificate identity or issuer as a policy names it: exactly (cosign
/// `--certificate-identity`), or by a regular expression (cosign
/// `--certificate-identity-regexp`, Rust `regex` syntax, close to Go's
/// RE2). Unlike cosign, whose Go `MatchString` finds the pattern anywhere,
/// the expression must match the WHOLE value: `https://github.com/acme/`
/// does not accept `https://evil.example/?https://github.com/acme/`.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    /// The expression as written, and compiled anchored (`^(?:…)$`).
    Regex(String, regex::Regex),
}

impl Matcher {
    /// A regular expression matcher; the error says what is wrong with it.
    pub fn regex(pattern: &str) -> Result<Matcher, String> {
        // Valid on its own first: wrapped unchecked, `a)|(b` would compile
        // as `^(?:a)|(b)$`, its second branch no longer anchored at the start.
        regex::Regex::new(pattern)
            .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
        let anchored = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
        Ok(Matcher::Regex(pattern.to_string(), anchored))
    }

    pub fn is_match(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(e) => e == value,
            Matcher::Regex(_, r) => r.is_match(value),
        }
    }

    fn exact(&self) -> Option<&str> {
        match self {
            Matcher::Exact(e) => Some(e),
            Matcher::Regex(..) => None,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(e) => write!(f, "{e:?}"),
            Matcher::Regex(p, _) => write!(f, "matching /{p}/"),
        }
    }
}

/// Who a verified signature was made by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A key: its id (`sha256:` of its DER SubjectPublicKeyInfo).
    Key(String),
    /// A Fulcio certificate's identity (SAN) and OIDC issuer.
    Identity { identity: String, issuer: String },
}

/// What a sigstore bundle holds, as far as its (not yet verified) content
/// says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A signature over a digest (cosign 2 `--new-bundle-format`).
    MessageSignature,
    /// A DSSE envelope whose statement has cosign's signing predicate.
    SignedStatement,
    /// A DSSE envelope with another predicate: an attestation, no signature.
    Attestation(String),
}

/// Read a bundle layer's content.
pub fn parse_bundle(content: &[u8]) -> Result<(Bundle, Content), String> {
    let text = std::str::from_utf8(content).map_err(|_| "the bundle is not UTF-8 JSON")?;
    let bundle = Bundle::from_json(text).map_err(|e| format!("not a sigstore bundle: {e}"))?;
    let content = match &bundle.content {
        SignatureContent::MessageSignature(_) => Content::MessageSignature,
        SignatureContent::DsseEnvelope(env) => {
            let statement: sigstore_types::intoto::Statement =
                serde_json::from_slice(env.payload.as_bytes()).map_err(|e| {
                    format!("the bundle's DSSE payload is not an in-toto statement: {e}")
                })?;
            if statement.predicate_type == COSIGN_SIGN_PREDICATE {
                Content::SignedStatement
            } else {
                Content::Attestation(statement.predicate_type)
            }
        }
        _ => return Err("the bundle holds neither a message signature nor a DSSE envelope".into()),
    };
    Ok((bundle, content))
}

/// Verify `bundle` as a signature of the image `digest` under `requirement`.
pub fn verify_bundle(
    requirement: &Requirement,
    digest: &Digest,
    bundle: &Bundle,
) -> Result<Signer, String> {
    if digest.algorithm() != "sha256" {
        return Err(format!(
            "{digest}: only sha256 digests can be checked against a sigstore bundle"
        ));
    }
    let artifact = Sha256Hash::from_hex(digest.encoded()).map_err(|e| e.to_string())?;
    if bundle.verification_material.tlog_entries.is_empty() {
        return Err(
            "the bundle has no transparency-log entry: nothing shows the signature was logged"
                .into(),
        );
    }
    match requirement {
        Requirement::Key {
            key, trusted_root, ..
        } => {
            let Some(root) = trusted_root else {
                return Err("a sigstore bundle's transparency-log entry needs a trusted root to be checked: add `trusted-root = \"trusted_root.json\"` to the rule (or --trusted-root)".into());
            };
            if bundle.signing_certificate().is_some() {
                return Err(format!(
                    "signed keylessly (a certificate), not with the key {}",
                    key.id()
                ));
            }
            let policy =
                PublicKeyVerificationPolicy::new(DerPublicKey::from_bytes(&key.spki_der()));
            let result = root
                .verifier
                .verify(artifact, bundle, &policy)
                .map_err(|e| explain(&e))?;
            if !result.tlog_verified() {
                return Err("its transparency-log entry was not verified".into());
            }
            Ok(Signer::Key(key.id().to_string()))
        }
        Requirement::Keyless {
            identity,
            issuer,
            trusted_root,
        } => {
            if bundle.signing_certificate().is_none() {
                return Err(
                    "signed with a key, not keylessly (the bundle has no certificate)".into(),
                );
            }
            keyless(trusted_root, artifact.into(), bundle, identity, issuer)
        }
        Requirement::Notation { .. } => {
            Err("a sigstore bundle; the rule trusts Notation signatures only".into())
        }
    }
}

/// Verify a keyless cosign `.sig` layer: the signature (base64 DER) over
/// the simple-signing `payload` by the leaf `certificate` (PEM), `chain`
/// (PEM, intermediates then root) and the Rekor bundle annotation
/// (`{"SignedEntryTimestamp", "Payload": {body, integratedTime, logIndex,
/// logID}}`). The payload's claims are the caller's to check.
pub fn verify_cosign_keyless(
    requirement: &Requirement,
    payload: &[u8],
    signature: &str,
    certificate: Option<&str>,
    chain: Option<&str>,
    rekor_bundle: Option<&str>,
) -> Result<Signer, String> {
    let Requirement::Keyless {
        identity,
        issuer,
        trusted_root,
    } = requirement
    else {
        return Err("not a keyless requirement".into());
    };
    let Some(certificate) = certificate else {
        return Err(
            "signed with a key, not keylessly (no dev.sigstore.cosign/certificate annotation)"
                .into(),
        );
    };
    let Some(rekor_bundle) = rekor_bundle else {
        return Err("no transparency-log entry (no dev.sigstore.cosign/bundle annotation): nothing shows the signature was logged".into());
    };
    let bundle = legacy_to_bundle(
        payload,
        signature,
        certificate,
        chain.unwrap_or(""),
        rekor_bundle,
    )?;
    keyless(trusted_root, payload.into(), &bundle, identity, issuer)
}

/// The keyless checks: sigstore-verify with the exact parts of the policy,
/// the regular expressions matched here on what it verified.
fn keyless(
    root: &TrustRoot,
    artifact: sigstore_types::Artifact<'_>,
    bundle: &Bundle,
    identity: &Matcher,
    issuer: &Matcher,
) -> Result<Signer, String> {
    let mut policy = VerificationPolicy::any_identity();
    if let Some(id) = identity.exact() {
        policy = policy.require_identity(id);
    }
    if let Some(iss) = issuer.exact() {
        policy = policy.require_issuer(iss);
    }
    let result: VerificationResult = root
        .verifier
        .verify(artifact, bundle, &policy)
        .map_err(|e| explain(&e))?;
    if !(result.certificate_verified() && result.sct_verified() && result.tlog_verified()) {
        return Err("its certificate chain, SCT or log entry was not verified".into());
    }
    let got_identity = result.identity().map(|s| s.as_str().to_string());
    let got_issuer = result.issuer().map(str::to_string);
    let (Some(got_identity), Some(got_issuer)) = (got_identity, got_issuer) else {
        return Err("the certificate names no identity or no OIDC issuer".into());
    };
    if !identity.is_match(&got_identity) {
        return Err(format!(
            "certificate identity {got_identity:?} is not {identity}"
        ));
    }
    if !issuer.is_match(&got_issuer) {
        return Err(format!(
            "certificate OIDC issuer {got_issuer:?} is not {issuer}"
        ));
    }
    Ok(Signer::Identity {
        identity: got_identity,
        issuer: got_issuer,
    })
}

/// sigstore-verify's refusal, said for a person first (what it means),
/// then as the crate says it (the details).
fn explain(e: &sigstore_verify::Error) -> String {
    use sigstore_verify::Error as E;
    let detail = e.to_string();
    let what = match e {
        E::SignatureInvalid(_) => {
            "the signature does not verify (another key, or changed bytes)"
        }
        E::ArtifactMismatch(_) => "the bundle signs another digest",
        E::IdentityMismatch { .. } | E::IssuerMismatch { .. } => return detail,
        _ if detail.contains("CertExpired") || detail.contains("certificate had expired") => {
            "the certificate had expired when the signature was logged"
        }
        _ if detail.contains("certificate is not yet valid") || detail.contains("CertNotValidYet") => {
            "the certificate was not yet valid when the signature was logged"
        }
        _ if detail.contains("certificate chain is invalid") => {
            "the certificate was not issued by a certificate authority of the trusted root"
        }
        _ if detail.contains("No log key") || detail.contains("unknown transparency log") => {
            "the transparency log is not one the trusted root names"
        }
        _ if detail.contains("inclusion") || detail.contains("checkpoint") => {
            "the transparency-log entry does not verify (inclusion proof, checkpoint or signed entry timestamp)"
        }
        _ if detail.contains("signed certificate timestamp") => {
            "the certificate's SCT does not verify against the trusted root's CT logs"
        }
        _ => return detail,
    };
    format!("{what}: {detail}")
}

/// The DER contents of every `CERTIFICATE` PEM block of `text`, in order.
fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = body.find(END).ok_or("a PEM certificate has no END line")?;
        let b64: String = body[..end].split_whitespace().collect();
        out.push(
            B64.decode(b64)
                .map_err(|_| "a PEM certificate is not valid base64")?,
        );
        rest = &body[end + END.len()..];
    }
    Ok(out)
}

fn hex_bytes(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{hex:?} is not hex"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// cosign's keyless `.sig` layer as a v0.1 sigstore bundle: the leaf and
/// chain as `x509CertificateChain`, the Rekor bundle annotation as a log
/// entry whose inclusion promise is its signed entry timestamp, and a
/// message signature over the payload's SHA-256 (the artifact being the
/// payload bytes), so chain, SCT, identity, SET, signature and entry
/// consistency are all checked by sigstore-verify.
fn legacy_to_bundle(
    payload: &[u8],
    signature: &str,
    certificate: &str,
    chain: &str,
    rekor_bundle: &str,
) -> Result<Bundle, String> {
    let mut certs = Vec::new();
    let leaf = pem_certificates(certificate)?;
    if leaf.len() != 1 {
        return Err("the certificate annotation does not hold one PEM certificate".into());
    }
    for der in leaf.into_iter().chain(pem_certificates(chain)?) {
        certs.push(serde_json::json!({ "rawBytes": B64.encode(der) }));
    }
    let bad = |what: &str| format!("the dev.sigstore.cosign/bundle annotation has no {what}");
    let annotation: serde_json::Value = serde_json::from_str(rekor_bundle)
        .map_err(|e| format!("the dev.sigstore.cosign/bundle annotation is not JSON: {e}"))?;
    let p = &annotation["Payload"];
    let body_b64 = p["body"].as_str().ok_or_else(|| bad("Payload.body"))?;
    let body: serde_json::Value = B64
        .decode(body_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("readable Payload.body"))?;
    let log_id = hex_bytes(p["logID"].as_str().ok_or_else(|| bad("Payload.logID"))?)?;
    let set = annotation["SignedEntryTimestamp"]
        .as_str()
        .ok_or_else(|| bad("SignedEntryTimestamp"))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, payload);
    let json = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": { "certificates": certs },
            "tlogEntries": [{
                "logIndex": p["logIndex"].as_i64().ok_or_else(|| bad("Payload.logIndex"))?.to_string(),
                "logId": { "keyId": B64.encode(log_id) },
                "kindVersion": { "kind": body["kind"], "version": body["apiVersion"] },
                "integratedTime": p["integratedTime"].as_i64().ok_or_else(|| bad("Payload.integratedTime"))?.to_string(),
                "inclusionPromise": { "signedEntryTimestamp": set },
                "canonicalizedBody": body_b64,
            }],
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": B64.encode(digest.as_ref()) },
            "signature": signature.trim(),
        },
    });
    Bundle::from_json(&json.to_string())
        .map_err(|e| format!("cannot read the signature as a bundle: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_expression_must_match_the_whole_value() {
        let m = Matcher::regex(r"https://github\.com/acme/.*").unwrap();
        assert!(m.is_match("https://github.com/acme/app/.github/workflows/r.yml@refs/tags/v1"));
        assert!(!m.is_match("https://evil.example/?https://github.com/acme/x"));
        // Alternatives are grouped before anchoring.
        let m = Matcher::regex("a|b").unwrap();
        assert!(m.is_match("a") && m.is_match("b") && !m.is_match("ab"));
        assert!(Matcher::regex("(")
            .unwrap_err()
            .contains("invalid regular expression"));
        assert_eq!(Matcher::Exact("x".into()).to_string(), "\"x\"");
        assert_eq!(m.to_string(), "matching /a|b/");
    }

    #[test]
    fn pem_blocks_and_hex_are_read_and_bad_ones_refused() {
        let two = "-----BEGIN CERTIFICATE-----\nAQI=\n-----END CERTIFICATE-----\nx\n-----BEGIN CERTIFICATE-----\nAw==\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(two).unwrap(), vec![vec![1, 2], vec![3]]);
        assert!(pem_certificates("-----BEGIN CERTIFICATE-----\nAQI=").is_err());
        assert_eq!(hex_bytes("0aff").unwrap(), vec![10, 255]);
        assert!(hex_bytes("0g").is_err() && hex_bytes("abc").is_err());
    }

    #[test]
    fn a_bundle_is_told_apart_from_an_attestation() {
        let statement = |predicate: &str| {
            let s = format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],"predicateType":"{predicate}","predicate":{{}}}}"#,
                "a".repeat(64)
            );
            format!(
                r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{{"publicKey":{{"hint":""}},"tlogEntries":[]}},"dsseEnvelope":{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"keyid":"","sig":"AA=="}}]}}}}"#,
                B64.encode(s)
            )
        };
        let (_, c) = parse_bundle(statement(COSIGN_SIGN_PREDICATE).as_bytes()).unwrap();
        assert_eq!(c, Content::SignedStatement);
        let (_, c) = parse_bundle(statement("https://slsa.dev/provenance/v1").as_bytes()).unwrap();
        assert_eq!(
            c,
            Content::Attestation("https://slsa.dev/provenance/v1".into())
        );
        assert!(parse_bundle(b"{}")
            .unwrap_err()
            .starts_with("not a sigstore bundle"));
    }
}
