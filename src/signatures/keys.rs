//! cosign public keys (`cosign.pub`: a PKIX `PUBLIC KEY` PEM holding an
//! ECDSA P-256 key) and the signatures they check: ASN.1 DER ECDSA over
//! SHA-256 of the signed bytes, as cosign signs a simple-signing payload.
//! The key's id is `sha256:` and the hex SHA-256 of its DER
//! SubjectPublicKeyInfo (what sigstore calls the key hint).

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// A key that cannot be used, or a signature that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM `PUBLIC KEY` block (cosign.pub holds one)")]
    NotPem,
    #[error("the PEM block is not valid base64")]
    Base64,
    #[error("the file holds {0} `PUBLIC KEY` blocks; a rule names one key (only the first would be used, the others ignored): keep one key per file and rule")]
    SeveralKeys(usize),
    #[error("not an ECDSA P-256 public key (SubjectPublicKeyInfo with id-ecPublicKey and prime256v1); imagelock checks cosign's P-256 keys")]
    NotP256,
}

/// An ECDSA P-256 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The uncompressed point (`04 || X || Y`).
    point: Vec<u8>,
    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo.
    id: String,
}

/// The DER SubjectPublicKeyInfo of every P-256 key, up to its point: a
/// SEQUENCE of the algorithm (id-ecPublicKey, prime256v1) and a BIT STRING
/// of 66 bytes (no unused bits, then the 65-byte uncompressed point).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, // SEQUENCE, 89 bytes
    0x30, 0x13, // SEQUENCE, 19 bytes: the algorithm
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // 1.2.840.10045.2.1 id-ecPublicKey
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, // 1.2.840.10045.3.1.7 prime256v1
    0x03, 0x42, 0x00, // BIT STRING, 66 bytes, no unused bits
];

impl PublicKey {
    /// Read a PEM `PUBLIC KEY` block (text around it is allowed, as in a
    /// file with comments).
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
        const END: &str = "-----END PUBLIC KEY-----";
        let blocks = text.matches(BEGIN).count();
        if blocks > 1 {
            return Err(KeyError::SeveralKeys(blocks));
        }
        let start = text.find(BEGIN).ok_or(KeyError::NotPem)? + BEGIN.len();
        let end = text[start..].find(END).ok_or(KeyError::NotPem)? + start;
        let b64: String = text[start..end].split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| KeyError::Base64)?;
        PublicKey::from_spki_der(&der)
    }

    /// Read a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let point = der
            .strip_prefix(&P256_SPKI_PREFIX[..])
            .filter(|p| p.len() == 65 && p[0] == 0x04)
            .ok_or(KeyError::NotP256)?;
        Ok(PublicKey {
            point: point.to_vec(),
            id: format!("sha256:{:x}", Sha256::digest(der)),
        })
    }

    /// `sha256:<hex>` of the key's DER SubjectPublicKeyInfo.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key's DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.point);
        der
    }

    /// Whether `signature` (ASN.1 DER ECDSA, base64 as cosign writes it
    /// in `dev.cosignproject.cosign/signature`) signs `message`.
    pub fn verifies_base64(&self, message: &[u8], signature: &str) -> bool {
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            return false;
        };
        self.verifies(message, &der)
    }

    /// Whether the DER ECDSA `signature` signs `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(message, signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    fn pem(der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn a_p256_key_checks_what_it_signed_and_nothing_else() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        let key = PublicKey::from_pem(&format!("# cosign.pub\n{}", pem(&spki))).unwrap();
        assert_eq!(key.id(), format!("sha256:{:x}", Sha256::digest(&spki)));
        assert_eq!(key.spki_der(), spki);
        let sig = pair.sign(&rng, b"payload").unwrap();
        assert!(key.verifies(b"payload", sig.as_ref()));
        assert!(!key.verifies(b"payloaD", sig.as_ref()));
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig.as_ref());
        assert!(key.verifies_base64(b"payload", &b64));
        assert!(!key.verifies_base64(b"payload", "not base64!"));
    }

    #[test]
    fn other_keys_and_other_text_are_refused_with_their_reason() {
        assert_eq!(PublicKey::from_pem("hello"), Err(KeyError::NotPem));
        assert_eq!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----"),
            Err(KeyError::Base64)
        );
        // An RSA SubjectPublicKeyInfo (rsaEncryption), shortened.
        let rsa = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
        ];
        assert_eq!(PublicKey::from_pem(&pem(&rsa)), Err(KeyError::NotP256));
        // A P-384 key (secp384r1) is not cosign's P-256, whatever its size.
        let mut p384 = vec![
            0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00, 0x04,
        ];
        p384.extend_from_slice(&[7u8; 96]);
        assert_eq!(PublicKey::from_pem(&pem(&p384)), Err(KeyError::NotP256));
        // A P-256 prefix with a point one byte short, or trailing bytes.
        let mut short = P256_SPKI_PREFIX.to_vec();
        short.extend_from_slice(&[4u8; 64]);
        assert_eq!(PublicKey::from_pem(&pem(&short)), Err(KeyError::NotP256));
        let mut long = P256_SPKI_PREFIX.to_vec();
        long.extend_from_slice(&[4u8; 66]);
        assert_eq!(PublicKey::from_pem(&pem(&long)), Err(KeyError::NotP256));
        // Two keys in one file: refused, not the first taken silently.
        let mut two = P256_SPKI_PREFIX.to_vec();
        two.extend_from_slice(&[4u8; 65]);
        let one = pem(&two);
        assert_eq!(
            PublicKey::from_pem(&format!("{one}{one}")),
            Err(KeyError::SeveralKeys(2))
        );
    }
}
