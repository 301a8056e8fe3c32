//! Notary Project (Notation) signatures: a JWS envelope
//! (`application/jose+json`) in an OCI referrer of artifact type
//! `application/vnd.cncf.notary.signature`, checked as the Notary Project
//! specifications say (`signature-specification.md`,
//! `signature-envelope-jws.md`, `trust-store-trust-policy.md` "Signature
//! Verification", at the `strict` level):
//!
//! - integrity: the flattened JWS JSON parsed; `cty` the Notary payload;
//!   `crit` lists `io.cncf.notary.signingScheme` and every other critical
//!   header present (`expiry`, `authenticSigningTime`, the plugin ones),
//!   and nothing imagelock does not understand; the signature (`ES256`,
//!   `ES384`, `PS256`, `PS384`, `PS512`) over
//!   `BASE64URL(protected) "." BASE64URL(payload)` by the leaf's key;
//! - authenticity: the `x5c` chain, leaf first, ends with a certificate of
//!   the rule's trust store and verifies to it (`rustls-webpki`: signatures,
//!   CA constraints, code-signing extended key usage when present); the
//!   leaf's subject DN holds every attribute of one trusted identity (or
//!   the rule trusts `*`);
//! - expiry: `io.cncf.notary.expiry`, when present, is in the future;
//! - authentic timestamp: the `notary.x509` scheme's signing time is the
//!   signer's claim, not trusted: without a timestamp countersignature
//!   every certificate must be valid now. RFC 3161 countersignatures are
//!   not read, so a timestamped signature is held to the same (stricter)
//!   rule; `notary.x509.signingAuthority` needs a signing-authority trust
//!   store imagelock does not have: refused.
//! - the payload's `targetArtifact.digest` is the digest checked, and the
//!   referrer's `subject` is that digest.
//!
//! Not checked: revocation (OCSP, CRL: network calls imagelock does not
//! make), verification plugins (refused when critical), COSE envelopes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Deserialize;
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::der::{Decode as _, Tag, Tagged as _};

use crate::reference::Digest;

/// The Notary payload's content type.
pub const PAYLOAD_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content octets.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
const EXPIRY: &str = "io.cncf.notary.expiry";
const PLUGIN: &str = "io.cncf.notary.verificationPlugin";
const PLUGIN_MIN_VERSION: &str = "io.cncf.notary.verificationPluginMinVersion";

/// A Notation rule's trust: the root CA certificates of its trust store and
/// the identities it trusts.
#[derive(Debug, Clone)]
pub struct NotationTrust {
    /// The PEM files as given (for messages).
    pub root_files: Vec<PathBuf>,
    /// Every certificate of those files, DER.
    roots: Vec<CertificateDer<'static>>,
    pub identities: Identities,
}

/// The trusted identities of a Notation rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identities {
    /// `["*"]`: any signing certificate the roots issued.
    Any,
    /// `x509.subject: …` DNs, each as its attributes (type upper-cased).
    Subjects(Vec<Dn>),
}

/// A distinguished name's attributes, each type once: `[("C", "US"), …]`.
pub type Dn = Vec<(String, String)>;

impl std::fmt::Display for NotationTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files: Vec<String> = self
            .root_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        write!(f, "a Notation certificate chaining to {}", files.join(", "))?;
        match &self.identities {
            Identities::Any => write!(f, " (any identity)"),
            Identities::Subjects(dns) => {
                let dns: Vec<String> = dns.iter().map(format_dn).collect();
                write!(f, " with subject {}", dns.join(" or "))
            }
        }
    }
}

impl NotationTrust {
    /// Whether a recorded signer's subject (as [`format_dn`] wrote it) is
    /// one this trust policy trusts: what the lockfile cache checks.
    pub fn trusts_subject(&self, subject: &str) -> bool {
        match &self.identities {
            Identities::Any => true,
            Identities::Subjects(trusted) => parse_dn(subject)
                .map(|dn| trusted.iter().any(|t| is_subset(t, &dn)))
                .unwrap_or(false),
        }
    }

    /// The trust of the PEM files `roots` (each holding one or more
    /// certificates) and the trusted `identities` as written.
    pub fn load(roots: &[PathBuf], identities: &[String]) -> Result<NotationTrust, String> {
        let mut ders = Vec::new();
        for path in roots {
            let text = fs_err::read_to_string(path)
                .map_err(|e| format!("cannot read the root certificate: {e}"))?;
            let found = pem_certificates(&text);
            if found.is_empty() {
                return Err(format!(
                    "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
                    path.display()
                ));
            }
            for der in found {
                let cert = CertificateDer::from(der);
                webpki::anchor_from_trusted_cert(&cert).map_err(|e| {
                    format!(
                        "{}: not a certificate imagelock can trust: {e}",
                        path.display()
                    )
                })?;
                ders.push(cert);
            }
        }
        if ders.is_empty() {
            return Err("`notation-roots` names no root certificate".into());
        }
        Ok(NotationTrust {
            root_files: roots.to_vec(),
            roots: ders,
            identities: parse_identities(identities)?,
        })
    }
}

/// The base64 bodies of the `CERTIFICATE` blocks of a PEM text, decoded.
fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b) = body.take() {
                if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b) {
                    out.push(der);
                }
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    out
}

/// The trusted identities as a trust policy writes them: `["*"]`, or
/// `x509.subject: C=…, ST=…, O=…[, …]` items, each with at least C, ST and
/// O, no two overlapping (`trust-store-trust-policy.md` "Trusted
/// Identities Constraints").
pub fn parse_identities(items: &[String]) -> Result<Identities, String> {
    if items.is_empty() {
        return Err("`notation-identities` is empty: give `[\"x509.subject: C=…, ST=…, O=…\"]` (the signing certificate's subject) or `[\"*\"]`".into());
    }
    if items.iter().any(|i| i.trim() == "*") {
        if items.len() > 1 {
            return Err(
                "`\"*\"` trusts every identity: it must be the only item of `notation-identities`"
                    .into(),
            );
        }
        return Ok(Identities::Any);
    }
    let mut dns: Vec<Dn> = Vec::new();
    for item in items {
        let Some(rest) = item.trim_start().strip_prefix("x509.subject:") else {
            return Err(format!(
                "{item:?}: a trusted identity is `x509.subject: C=…, ST=…, O=…` (or `*`)"
            ));
        };
        let dn = parse_dn(rest).map_err(|e| format!("{item:?}: {e}"))?;
        for needed in ["C", "ST", "O"] {
            if !dn.iter().any(|(k, _)| k == needed) {
                return Err(format!(
                    "{item:?}: a trusted identity must name C, ST and O (Notation's trust policy requires them); it lacks {needed}"
                ));
            }
        }
        if let Some(other) = dns.iter().find(|o| is_subset(o, &dn) || is_subset(&dn, o)) {
            return Err(format!(
                "{item:?} overlaps x509.subject: {} (one certificate would match both); keep one",
                format_dn(other)
            ));
        }
        dns.push(dn);
    }
    Ok(Identities::Subjects(dns))
}

/// An RFC 4514-style DN as a trust policy writes it: comma-separated
/// `TYPE=value`, `\` escaping a character. Types are upper-cased; a type
/// given twice is refused (as Notation refuses it).
pub fn parse_dn(text: &str) -> Result<Dn, String> {
    // Each part's characters, each marked whether it was escaped.
    let mut parts: Vec<Vec<(char, bool)>> = vec![Vec::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let part = parts.last_mut().expect("one part at least");
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    return Err("ends in a lone `\\`".into());
                };
                part.push((n, true));
            }
            ',' => parts.push(Vec::new()),
            c => part.push((c, false)),
        }
    }
    let mut dn: Dn = Vec::new();
    for part in parts {
        let shown: String = part.iter().map(|(c, _)| c).collect();
        let Some(eq) = part.iter().position(|&(c, e)| c == '=' && !e) else {
            return Err(format!("{:?} is no `TYPE=value` attribute", shown.trim()));
        };
        let key: String = part[..eq].iter().map(|(c, _)| c).collect();
        let key = key.trim().to_ascii_uppercase();
        // Unescaped spaces around the value are not part of it.
        let mut value = &part[eq + 1..];
        while let [(' ', false), rest @ ..] = value {
            value = rest;
        }
        while let [rest @ .., (' ', false)] = value {
            value = rest;
        }
        let value: String = value.iter().map(|(c, _)| c).collect();
        if key.is_empty() || value.is_empty() {
            return Err(format!("{:?} has an empty type or value", shown.trim()));
        }
        if dn.iter().any(|(k, _)| *k == key) {
            return Err(format!("names {key} twice"));
        }
        dn.push((key, value));
    }
    Ok(dn)
}

/// Whether every attribute of `trusted` is in `subject` with the same value.
fn is_subset(trusted: &Dn, subject: &Dn) -> bool {
    trusted
        .iter()
        .all(|(k, v)| subject.iter().any(|(sk, sv)| sk == k && sv == v))
}

/// A DN as `C=US, ST=WA, O=acme` (commas and backslashes escaped).
pub fn format_dn(dn: &Dn) -> String {
    dn.iter()
        .map(|(k, v)| {
            let v = v.replace('\\', "\\\\").replace(',', "\\,");
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Who made a Notation signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotationSigner {
    /// The leaf certificate's subject DN.
    pub subject: String,
    /// Its issuer's DN.
    pub issuer: String,
}

#[derive(Deserialize)]
struct Envelope {
    payload: String,
    protected: String,
    #[serde(default)]
    header: BTreeMap<String, serde_json::Value>,
    signature: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    target_artifact: Target,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    digest: String,
}

fn b64url(field: &str, s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| format!("the envelope's {field} is not base64url: {e}"))
}

/// The protected header's facts the verification needs, checked.
#[derive(Debug, PartialEq, Eq)]
struct Protected {
    alg: String,
    expiry: Option<i64>,
}

/// Parse and check the protected header (`signature-envelope-jws.md`
/// "Protected Headers", RFC 7515 4.1.11 `crit`).
fn check_protected(bytes: &[u8]) -> Result<Protected, String> {
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| format!("the protected header is not a JSON object: {e}"))?;
    let text = |name: &str| -> Result<Option<&str>, String> {
        match header.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("the protected header's {name} is not a string")),
        }
    };
    let alg = text("alg")?
        .ok_or("the protected header has no alg")?
        .to_string();
    match text("cty")? {
        Some(PAYLOAD_TYPE) => {}
        Some(other) => {
            return Err(format!(
                "the payload's content type is {other:?}, not {PAYLOAD_TYPE}"
            ))
        }
        None => return Err("the protected header has no cty".into()),
    }
    let crit: Vec<&str> = match header.get("crit") {
        Some(serde_json::Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or("the protected header's crit lists a non-string")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("the protected header's crit is not a list of names".into()),
        None => return Err("the protected header has no crit".into()),
    };
    let understood = [
        SIGNING_SCHEME,
        EXPIRY,
        AUTHENTIC_SIGNING_TIME,
        PLUGIN,
        PLUGIN_MIN_VERSION,
    ];
    for name in &crit {
        if !understood.contains(name) {
            return Err(format!(
                "the protected header marks {name:?} critical, which imagelock does not understand"
            ));
        }
        if !header.contains_key(*name) {
            return Err(format!(
                "crit lists {name:?}, which the protected header does not hold"
            ));
        }
    }
    for name in understood {
        if header.contains_key(name) && !crit.contains(&name) {
            return Err(format!(
                "the protected header holds {name:?} without listing it in crit"
            ));
        }
    }
    match text(SIGNING_SCHEME)? {
        Some("notary.x509") => {}
        Some("notary.x509.signingAuthority") => return Err("signed under the notary.x509.signingAuthority scheme, which needs a signing-authority trust store imagelock does not have".into()),
        Some(other) => return Err(format!("unknown signing scheme {other:?}")),
        None => return Err(format!("the protected header has no {SIGNING_SCHEME}")),
    }
    // notary.x509: the signing time is required, and only the signer's
    // claim (not trusted: certificates are checked at the present time).
    let signing_time = text(SIGNING_TIME)?.ok_or(format!(
        "the protected header has no {SIGNING_TIME} (required by notary.x509)"
    ))?;
    rfc3339(signing_time).ok_or(format!(
        "{SIGNING_TIME} {signing_time:?} is no RFC 3339 time"
    ))?;
    if let Some(plugin) = text(PLUGIN)? {
        return Err(format!(
            "requires the verification plugin {plugin:?}; imagelock runs no plugins"
        ));
    }
    let expiry = text(EXPIRY)?
        .map(|t| rfc3339(t).ok_or(format!("{EXPIRY} {t:?} is no RFC 3339 time")))
        .transpose()?;
    Ok(Protected { alg, expiry })
}

/// Seconds since the Unix epoch of an RFC 3339 date-time
/// (`2024-05-01T12:00:00Z`, `…+02:00`, fractional seconds ignored).
fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    // Days from the civil date (H. Hinnant's algorithm).
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// An ECDSA signature as JWS writes it (`r || s`, fixed width) in DER.
fn ecdsa_der(raw: &[u8], width: usize) -> Result<Vec<u8>, String> {
    if raw.len() != 2 * width {
        return Err(format!(
            "the signature is {} bytes, not the {} of r || s",
            raw.len(),
            2 * width
        ));
    }
    let int = |x: &[u8]| {
        let x = &x[x.iter().take_while(|b| **b == 0).count().min(x.len() - 1)..];
        let mut v = vec![0x02];
        if x[0] & 0x80 != 0 {
            v.push((x.len() + 1) as u8);
            v.push(0);
        } else {
            v.push(x.len() as u8);
        }
        v.extend_from_slice(x);
        v
    };
    let (r, s) = (int(&raw[..width]), int(&raw[width..]));
    let len = r.len() + s.len();
    let mut der = vec![0x30];
    if len >= 0x80 {
        der.push(0x81);
    }
    der.push(len as u8);
    der.extend(r);
    der.extend(s);
    Ok(der)
}

/// The subject or issuer DN of a certificate as attributes, and as text.
fn dn_of(name: &x509_cert::name::Name) -> Result<Dn, String> {
    let mut dn = Dn::new();
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            let key = match atv.oid.to_string().as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.6" => "C".to_string(),
                "2.5.4.7" => "L".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.9" => "STREET".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "2.5.4.5" => "SERIALNUMBER".to_string(),
                "0.9.2342.19200300.100.1.25" => "DC".to_string(),
                "1.2.840.113549.1.9.1" => "EMAILADDRESS".to_string(),
                other => other.to_string(),
            };
            let value = match atv.value.tag() {
                Tag::Utf8String
                | Tag::PrintableString
                | Tag::Ia5String
                | Tag::TeletexString
                | Tag::VisibleString => String::from_utf8(atv.value.value().to_vec())
                    .map_err(|_| format!("the certificate's {key} is not text"))?,
                other => return Err(format!("the certificate's {key} is a {other}, not text")),
            };
            if dn.iter().any(|(k, _)| *k == key) {
                return Err(format!(
                    "the certificate's subject names {key} twice (Notation refuses such a DN)"
                ));
            }
            dn.push((key, value));
        }
    }
    Ok(dn)
}

/// The extension `oid` of `cert`: whether it is critical, its value.
fn extension<'c>(cert: &'c x509_cert::Certificate, oid: &str) -> Option<(bool, &'c [u8])> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id.to_string() == oid)
        .map(|e| (e.critical, e.extn_value.as_bytes()))
}

/// The certificate requirements of `signature-specification.md`
/// ("Certificate Requirements") that path validation leaves out: the chain
/// in order, leaf first (each issued by the next); the leaf's key usage
/// critical with digitalSignature and without keyCertSign or cRLSign, its
/// extended key usage (when present) free of anyExtendedKeyUsage,
/// serverAuth, emailProtection and timeStamping; each CA's key usage
/// critical with keyCertSign.
fn check_profile(certs: &[x509_cert::Certificate]) -> Result<(), String> {
    use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};
    for pair in certs.windows(2) {
        if pair[0].tbs_certificate.issuer != pair[1].tbs_certificate.subject {
            return Err("the x5c certificates are not in order (each issued by the next, the signing certificate first)".into());
        }
    }
    let key_usage = |cert: &x509_cert::Certificate, what: &str| -> Result<KeyUsage, String> {
        match extension(cert, "2.5.29.15") {
            Some((true, value)) => KeyUsage::from_der(value)
                .map_err(|e| format!("the {what}'s key usage cannot be read: {e}")),
            Some((false, _)) => Err(format!("the {what}'s key usage is not marked critical")),
            None => Err(format!("the {what} has no key usage")),
        }
    };
    let leaf = key_usage(&certs[0], "signing certificate")?;
    if !leaf.digital_signature() || leaf.key_cert_sign() || leaf.crl_sign() {
        return Err("the signing certificate's key usage is not digitalSignature only (a CA key, or not for signing)".into());
    }
    if let Some((_, value)) = extension(&certs[0], "2.5.29.37") {
        let eku = ExtendedKeyUsage::from_der(value).map_err(|e| {
            format!("the signing certificate's extended key usage cannot be read: {e}")
        })?;
        let refused = [
            ("2.5.29.37.0", "anyExtendedKeyUsage"),
            ("1.3.6.1.5.5.7.3.1", "serverAuth"),
            ("1.3.6.1.5.5.7.3.4", "emailProtection"),
            ("1.3.6.1.5.5.7.3.8", "timeStamping"),
        ];
        for oid in &eku.0 {
            if let Some((_, name)) = refused.iter().find(|(o, _)| *o == oid.to_string()) {
                return Err(format!(
                    "the signing certificate's extended key usage includes {name}, which a Notation signing certificate must not"
                ));
            }
        }
    }
    for ca in &certs[1..] {
        if !key_usage(ca, "CA certificate")?.key_cert_sign() {
            return Err(
                "a CA certificate of the chain is not for signing certificates (keyCertSign)"
                    .into(),
            );
        }
    }
    Ok(())
}

/// Verify one Notation JWS envelope (`content`) of a referrer whose
/// `subject` it is, for `digest`, under `trust`, at the present time.
pub fn verify(
    trust: &NotationTrust,
    digest: &Digest,
    subject: Option<&Digest>,
    content: &[u8],
) -> Result<NotationSigner, String> {
    verify_at(trust, digest, subject, content, UnixTime::now())
}

/// [`verify`] at the time `now`.
pub fn verify_at(
    trust: &NotationTrust,
    digest: &Digest,
    subject: Option<&Digest>,
    content: &[u8],
    now: UnixTime,
) -> Result<NotationSigner, String> {
    if subject != Some(digest) {
        return Err(match subject {
            Some(other) => format!("the referrer's subject is {other}, not this digest"),
            None => "the referrer has no subject".to_string(),
        });
    }
    let envelope: Envelope = serde_json::from_slice(content).map_err(|e| {
        format!("not a flattened JWS JSON envelope (signature-envelope-jws.md): {e}")
    })?;
    let protected_bytes = b64url("protected header", &envelope.protected)?;
    let protected = check_protected(&protected_bytes)?;
    let payload_bytes = b64url("payload", &envelope.payload)?;
    let signature = b64url("signature", &envelope.signature)?;
    let chain: Vec<CertificateDer<'static>> = match envelope.header.get("x5c") {
        Some(serde_json::Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                    .map(CertificateDer::from)
                    .ok_or("the x5c header holds an entry that is not base64 DER")
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("the unprotected header has no x5c certificate chain".into()),
    };
    let leaf = EndEntityCert::try_from(&chain[0])
        .map_err(|e| format!("the signing certificate cannot be read: {e}"))?;

    // Integrity: the signature over the signing input by the leaf's key.
    let signing_input = format!("{}.{}", envelope.protected, envelope.payload);
    use webpki::ring as algs;
    let checked = match protected.alg.as_str() {
        "ES256" => leaf.verify_signature(
            algs::ECDSA_P256_SHA256,
            signing_input.as_bytes(),
            &ecdsa_der(&signature, 32)?,
        ),
        "ES384" => leaf.verify_signature(
            algs::ECDSA_P384_SHA384,
            signing_input.as_bytes(),
            &ecdsa_der(&signature, 48)?,
        ),
        "PS256" => leaf.verify_signature(
            algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            signing_input.as_bytes(),
            &signature,
        ),
        "PS384" => leaf.verify_signature(
            algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
            signing_input.as_bytes(),
            &signature,
        ),
        "PS512" => leaf.verify_signature(
            algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
            signing_input.as_bytes(),
            &signature,
        ),
        other => {
            return Err(format!(
                "the signature algorithm {other:?} is none Notation signs with (ES256, ES384, PS256, PS384, PS512 are checked; ES512 is not yet)"
            ))
        }
    };
    checked.map_err(|e| match e {
        webpki::Error::InvalidSignatureForPublicKey => {
            "the signature does not verify with the signing certificate's key (a changed payload or signature)".to_string()
        }
        e => format!(
            "the signature cannot be checked with the signing certificate's key ({} for its key type?): {e}",
            protected.alg
        ),
    })?;

    // Authenticity: the chain as given ends with a certificate of the
    // trust store, and verifies to it with the code-signing usage.
    let last = chain.last().expect("a non-empty chain");
    if !trust.roots.iter().any(|r| r.as_ref() == last.as_ref()) {
        return Err(format!(
            "the certificate chain ends with a root that is not in the rule's trust store ({})",
            trust
                .root_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let anchors: Vec<_> = trust
        .roots
        .iter()
        .filter_map(|r| webpki::anchor_from_trusted_cert(r).ok())
        .collect();
    let intermediates = &chain[1..];
    let all_algs = [
        algs::ECDSA_P256_SHA256,
        algs::ECDSA_P256_SHA384,
        algs::ECDSA_P384_SHA256,
        algs::ECDSA_P384_SHA384,
        algs::RSA_PKCS1_2048_8192_SHA256,
        algs::RSA_PKCS1_2048_8192_SHA384,
        algs::RSA_PKCS1_2048_8192_SHA512,
        algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    ];
    leaf.verify_for_usage(
        &all_algs,
        &anchors,
        intermediates,
        now,
        KeyUsage::required_if_present(CODE_SIGNING),
        None,
        None,
    )
    .map_err(|e| match e {
        webpki::Error::CertExpired { .. } => "a certificate of its chain has expired (notary.x509 without a timestamp countersignature: every certificate must be valid now)".to_string(),
        webpki::Error::CertNotValidYet { .. } => "a certificate of its chain is not valid yet".to_string(),
        webpki::Error::UnknownIssuer => "its certificate chain does not lead to the rule's trust store".to_string(),
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "the signing certificate is not for code signing (its extended key usage lacks 1.3.6.1.5.5.7.3.3)".to_string()
        }
        e => format!("its certificate chain does not verify: {e}"),
    })?;

    let certs: Vec<x509_cert::Certificate> = chain
        .iter()
        .map(|c| x509_cert::Certificate::from_der(c))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("a certificate of its chain cannot be read: {e}"))?;
    check_profile(&certs)?;
    let leaf_cert = &certs[0];
    let subject_dn = dn_of(&leaf_cert.tbs_certificate.subject)?;
    let issuer_dn = dn_of(&leaf_cert.tbs_certificate.issuer)?;
    if let Identities::Subjects(trusted) = &trust.identities {
        if !trusted.iter().any(|t| is_subset(t, &subject_dn)) {
            return Err(format!(
                "signed by x509.subject: {}, which the rule does not trust",
                format_dn(&subject_dn)
            ));
        }
    }

    // Expiry.
    if let Some(expiry) = protected.expiry {
        if now.as_secs() as i64 >= expiry {
            return Err("the signature has expired (io.cncf.notary.expiry is past)".into());
        }
    }

    // What was signed: this digest.
    let payload: Payload = serde_json::from_slice(&payload_bytes)
        .map_err(|e| format!("the payload is not a Notary payload (targetArtifact): {e}"))?;
    if payload.target_artifact.digest != digest.to_string() {
        return Err(format!(
            "the signature is for {}, not this digest",
            payload.target_artifact.digest
        ));
    }
    Ok(NotationSigner {
        subject: format_dn(&subject_dn),
        issuer: format_dn(&issuer_dn),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn identities_are_read_as_notation_trust_policies_write_them() {
        let Identities::Subjects(dns) = parse_identities(&s(&[
            "x509.subject: C=US, ST=WA, O=acme\\, inc., CN=\\ builder\\ ",
        ]))
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            dns[0],
            [
                ("C".into(), "US".into()),
                ("ST".into(), "WA".into()),
                ("O".into(), "acme, inc.".into()),
                ("CN".into(), " builder ".into()),
            ]
        );
        assert_eq!(parse_identities(&s(&["*"])).unwrap(), Identities::Any);
        for (bad, says) in [
            (vec!["*", "x509.subject: C=US, ST=WA, O=a"], "only item"),
            (vec!["x509.subject: CN=acme, O=Acme"], "lacks C"),
            (vec!["CN=acme"], "x509.subject:"),
            (vec!["x509.subject: C=US, ST=WA, O=a, O=b"], "twice"),
            (
                vec![
                    "x509.subject: C=US, ST=WA, O=a",
                    "x509.subject: C=US, ST=WA, O=a, OU=b",
                ],
                "overlaps",
            ),
            (vec![], "empty"),
        ] {
            let e = parse_identities(&s(&bad)).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_trusted_identity_matches_a_subject_holding_its_attributes() {
        let subject = parse_dn("C=US, ST=WA, L=Seattle, O=acme, CN=builder").unwrap();
        let yes = parse_dn("O=acme, ST=WA, C=US").unwrap();
        let no = parse_dn("C=US, ST=WA, O=acme, CN=other").unwrap();
        let case = parse_dn("C=US, ST=WA, O=ACME").unwrap();
        assert!(is_subset(&yes, &subject));
        assert!(!is_subset(&no, &subject));
        assert!(!is_subset(&case, &subject));
    }

    #[test]
    fn the_protected_header_is_held_to_crit_and_the_notary_scheme() {
        let ok = serde_json::json!({
            "alg": "ES256", "cty": PAYLOAD_TYPE, "crit": [SIGNING_SCHEME],
            SIGNING_SCHEME: "notary.x509", SIGNING_TIME: "2024-05-01T12:00:00Z",
        });
        let check = |v: &serde_json::Value| check_protected(v.to_string().as_bytes());
        assert_eq!(
            check(&ok).unwrap(),
            Protected {
                alg: "ES256".into(),
                expiry: None
            }
        );
        let with = |k: &str, v: serde_json::Value| {
            let mut o = ok.clone();
            o[k] = v;
            o
        };
        for (bad, says) in [
            (
                with("crit", serde_json::json!([SIGNING_SCHEME, "x.unknown"])),
                "does not understand",
            ),
            (
                with("crit", serde_json::json!([SIGNING_SCHEME, EXPIRY])),
                "does not hold",
            ),
            (
                with(EXPIRY, serde_json::json!("2030-01-01T00:00:00Z")),
                "without listing it",
            ),
            (
                with("cty", serde_json::json!("application/json")),
                "content type",
            ),
            (
                with(
                    SIGNING_SCHEME,
                    serde_json::json!("notary.x509.signingAuthority"),
                ),
                "signing-authority",
            ),
            (
                with(SIGNING_TIME, serde_json::json!("yesterday")),
                "RFC 3339",
            ),
        ] {
            let e = check(&bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let mut expiring = with(EXPIRY, serde_json::json!("1970-01-02T00:00:00+01:00"));
        expiring["crit"] = serde_json::json!([SIGNING_SCHEME, EXPIRY]);
        assert_eq!(check(&expiring).unwrap().expiry, Some(86400 - 3600));
    }

    /// A P-384 root and a code-signing leaf it issued for `C=US, ST=WA,
    /// O=acme, CN=builder` (`eku`: its extended key usage), an ES384
    /// envelope by the leaf over a payload for `digest` (`alg` in the
    /// header), and the trust in the root for `identities`.
    fn es384_envelope(
        dir: &std::path::Path,
        digest: &Digest,
        alg: &str,
        eku: &[rcgen::ExtendedKeyUsagePurpose],
        identities: &[&str],
    ) -> (Vec<u8>, NotationTrust) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        use ring::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
        root.distinguished_name
            .push(DnType::OrganizationName, "acme");
        root.distinguished_name
            .push(DnType::CommonName, "acme root");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let root = root.self_signed(&root_key).unwrap();
        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
        for (t, v) in [
            (DnType::CountryName, "US"),
            (DnType::StateOrProvinceName, "WA"),
            (DnType::OrganizationName, "acme"),
            (DnType::CommonName, "builder"),
        ] {
            leaf.distinguished_name.push(t, v);
        }
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = eku.to_vec();
        let leaf = leaf.signed_by(&leaf_key, &root, &root_key).unwrap();
        fs_err::write(dir.join("root.pem"), root.pem()).unwrap();
        let trust = NotationTrust::load(
            &[dir.join("root.pem")],
            &identities
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )
        .unwrap();

        let b64u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let protected = serde_json::json!({
            "alg": alg, "cty": PAYLOAD_TYPE, "crit": [SIGNING_SCHEME],
            SIGNING_SCHEME: "notary.x509", SIGNING_TIME: "2024-05-01T12:00:00Z",
        });
        let payload = serde_json::json!({"targetArtifact": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest.to_string(), "size": 100,
        }});
        let (h, p) = (
            b64u(protected.to_string().as_bytes()),
            b64u(payload.to_string().as_bytes()),
        );
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P384_SHA384_FIXED_SIGNING,
            &leaf_key.serialize_der(),
            &rng,
        )
        .unwrap();
        let sig = pair.sign(&rng, format!("{h}.{p}").as_bytes()).unwrap();
        let envelope = serde_json::json!({
            "payload": p, "protected": h, "signature": b64u(sig.as_ref()),
            "header": {"x5c": [b64(leaf.der()), b64(root.der())]},
        });
        (envelope.to_string().into_bytes(), trust)
    }

    #[test]
    fn an_es384_envelope_verifies_to_its_root_for_a_code_signing_leaf_valid_now() {
        let dir = tempfile::tempdir().unwrap();
        let digest = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let other = Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap();
        use rcgen::ExtendedKeyUsagePurpose::{CodeSigning, ServerAuth};
        let code = &[CodeSigning][..];
        let (env, trust) = es384_envelope(dir.path(), &digest, "ES384", code, &["*"]);
        let signer = verify(&trust, &digest, Some(&digest), &env).unwrap();
        // In the certificate's order (rcgen's here), whatever the order.
        let sorted = |dn: &str| {
            let mut d = parse_dn(dn).unwrap();
            d.sort();
            d
        };
        assert_eq!(
            sorted(&signer.subject),
            sorted("C=US, ST=WA, O=acme, CN=builder")
        );
        assert_eq!(sorted(&signer.issuer), sorted("O=acme, CN=acme root"));
        // For another digest, or a referrer of another.
        let e = verify(&trust, &other, Some(&other), &env).unwrap_err();
        assert!(e.contains("the signature is for sha256:aaaa"), "{e}");
        let e = verify(&trust, &digest, Some(&other), &env).unwrap_err();
        assert!(e.contains("the referrer's subject is sha256:bbbb"), "{e}");
        // Checked at the verification time: before they were issued, the
        // certificates are not valid.
        let e = verify_at(
            &trust,
            &digest,
            Some(&digest),
            &env,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(1)),
        )
        .unwrap_err();
        assert!(e.contains("not valid yet"), "{e}");

        // The header says ES256 of a P-384 key: refused.
        let (env, trust) = es384_envelope(dir.path(), &digest, "ES256", code, &["*"]);
        assert!(verify(&trust, &digest, Some(&digest), &env).is_err());
        // A TLS server's certificate does not sign code.
        let (env, trust) = es384_envelope(dir.path(), &digest, "ES384", &[ServerAuth], &["*"]);
        let e = verify(&trust, &digest, Some(&digest), &env).unwrap_err();
        assert!(e.contains("not for code signing"), "{e}");
        // Nor does one for code signing and TLS servers (the Notary
        // certificate requirements).
        let (env, trust) = es384_envelope(
            dir.path(),
            &digest,
            "ES384",
            &[CodeSigning, ServerAuth],
            &["*"],
        );
        let e = verify(&trust, &digest, Some(&digest), &env).unwrap_err();
        assert!(e.contains("includes serverAuth"), "{e}");
        // Identities: a subset of the subject matches, another does not.
        let (env, trust) = es384_envelope(
            dir.path(),
            &digest,
            "ES384",
            code,
            &[
                "x509.subject: C=US, ST=WA, O=other",
                "x509.subject: O=acme, C=US, ST=WA",
            ],
        );
        verify(&trust, &digest, Some(&digest), &env).unwrap();
        let (env, trust) = es384_envelope(
            dir.path(),
            &digest,
            "ES384",
            code,
            &["x509.subject: C=US, ST=WA, O=acme, CN=other"],
        );
        let e = verify(&trust, &digest, Some(&digest), &env).unwrap_err();
        assert!(e.contains("does not trust"), "{e}");
    }

    /// `notation cert generate-test` makes a self-signed signing
    /// certificate and puts it in the trust store: a chain of one.
    #[test]
    fn a_self_signed_signing_certificate_in_the_trust_store_is_a_chain_of_one() {
        use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};
        use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let dir = tempfile::tempdir().unwrap();
        let digest = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        for (t, v) in [
            (DnType::CountryName, "US"),
            (DnType::StateOrProvinceName, "WA"),
            (DnType::OrganizationName, "Notary"),
            (DnType::CommonName, "acme.test"),
        ] {
            p.distinguished_name.push(t, v);
        }
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
        let cert = p.self_signed(&key).unwrap();
        fs_err::write(dir.path().join("test.pem"), cert.pem()).unwrap();
        let trust = NotationTrust::load(
            &[dir.path().join("test.pem")],
            &["x509.subject: C=US, ST=WA, O=Notary".to_string()],
        )
        .unwrap();
        let b64u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let protected = serde_json::json!({
            "alg": "ES256", "cty": PAYLOAD_TYPE, "crit": [SIGNING_SCHEME],
            SIGNING_SCHEME: "notary.x509", SIGNING_TIME: "2024-05-01T12:00:00Z",
        });
        let payload = serde_json::json!({"targetArtifact": {"digest": digest.to_string()}});
        let (h, pl) = (
            b64u(protected.to_string().as_bytes()),
            b64u(payload.to_string().as_bytes()),
        );
        let rng = ring::rand::SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng)
                .unwrap();
        let sig = pair.sign(&rng, format!("{h}.{pl}").as_bytes()).unwrap();
        let envelope = serde_json::json!({
            "payload": pl, "protected": h, "signature": b64u(sig.as_ref()),
            "header": {"x5c": [base64::engine::general_purpose::STANDARD.encode(cert.der())]},
        });
        let signer = verify(
            &trust,
            &digest,
            Some(&digest),
            envelope.to_string().as_bytes(),
        )
        .unwrap();
        assert!(signer.subject.contains("CN=acme.test"), "{signer:?}");
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("2000-03-01T00:00:00.5Z"), Some(951868800));
        assert_eq!(rfc3339("2024-05-01T12:00:00"), None);
    }

    #[test]
    fn jws_ecdsa_signatures_become_der() {
        let mut raw = vec![0u8; 64];
        raw[31] = 1;
        raw[32] = 0x80;
        assert_eq!(
            ecdsa_der(&raw, 32).unwrap()[..7],
            [0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21]
        );
        assert!(ecdsa_der(&raw[1..], 32).is_err());
    }
}
