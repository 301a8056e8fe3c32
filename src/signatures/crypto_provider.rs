//! The `sigstore-crypto` provider imagelock installs: verification only,
//! on `ring` (already imagelock's, through rustls) for hashing and for
//! signatures over a message, and RustCrypto `p256`/`p384` for ECDSA over a
//! precomputed digest (ring has none; sigstore-verify checks a
//! message-signature bundle over an image digest that way). No aws-lc-rs:
//! sigstore-verify is built with its default features off.

use std::sync::OnceLock;

use ring::digest;
use ring::signature::{self as rs, UnparsedPublicKey, VerificationAlgorithm};
use sigstore_crypto::{CryptoProvider, Error, HashContext, Result, SigningScheme};
use sigstore_types::HashAlgorithm;

#[derive(Debug)]
struct RingProvider;

static RING_PROVIDER: RingProvider = RingProvider;

/// Install the provider, once per process; sigstore-verify panics on any
/// check made before. Every [`super::sigstore::TrustRoot`] calls it.
pub(crate) fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Another provider installed first (none is, in imagelock) would
        // do as well: ignoring the refusal is right.
        let _ = sigstore_crypto::install_default_provider(&RING_PROVIDER);
    });
}

struct Ctx(digest::Context);

impl HashContext for Ctx {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self: Box<Self>) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

fn algorithm(scheme: SigningScheme) -> Result<&'static dyn VerificationAlgorithm> {
    Ok(match scheme {
        SigningScheme::EcdsaP256Sha256 => &rs::ECDSA_P256_SHA256_ASN1,
        SigningScheme::EcdsaP256Sha384 => &rs::ECDSA_P256_SHA384_ASN1,
        SigningScheme::EcdsaP384Sha256 => &rs::ECDSA_P384_SHA256_ASN1,
        SigningScheme::EcdsaP384Sha384 => &rs::ECDSA_P384_SHA384_ASN1,
        SigningScheme::Ed25519 => &rs::ED25519,
        SigningScheme::RsaPssSha256 => &rs::RSA_PSS_2048_8192_SHA256,
        SigningScheme::RsaPssSha384 => &rs::RSA_PSS_2048_8192_SHA384,
        SigningScheme::RsaPssSha512 => &rs::RSA_PSS_2048_8192_SHA512,
        SigningScheme::RsaPkcs1Sha256 => &rs::RSA_PKCS1_2048_8192_SHA256,
        SigningScheme::RsaPkcs1Sha384 => &rs::RSA_PKCS1_2048_8192_SHA384,
        SigningScheme::RsaPkcs1Sha512 => &rs::RSA_PKCS1_2048_8192_SHA512,
        other => {
            return Err(Error::UnsupportedAlgorithm(format!(
                "{other:?} is not supported by imagelock"
            )))
        }
    })
}

impl CryptoProvider for RingProvider {
    fn hash(&self, algorithm: HashAlgorithm) -> Result<Box<dyn HashContext>> {
        let a = match algorithm {
            HashAlgorithm::Sha2256 => &digest::SHA256,
            HashAlgorithm::Sha2384 => &digest::SHA384,
            HashAlgorithm::Sha2512 => &digest::SHA512,
            other => return Err(Error::UnsupportedAlgorithm(format!("{other}"))),
        };
        Ok(Box::new(Ctx(digest::Context::new(a))))
    }

    fn verify_raw(&self, scheme: SigningScheme, key: &[u8], data: &[u8], sig: &[u8]) -> Result<()> {
        UnparsedPublicKey::new(algorithm(scheme)?, key)
            .verify(data, sig)
            .map_err(|_| Error::Verification(format!("{} signature invalid", scheme.name())))
    }

    fn verify_prehashed(
        &self,
        scheme: SigningScheme,
        key: &[u8],
        digest: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let bad = || Error::Verification(format!("{} signature invalid", scheme.name()));
        match scheme {
            SigningScheme::EcdsaP256Sha256 | SigningScheme::EcdsaP256Sha384 => {
                let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| bad())?;
                let s = p256::ecdsa::DerSignature::from_bytes(sig).map_err(|_| bad())?;
                vk.verify_prehash(digest, &s).map_err(|_| bad())
            }
            SigningScheme::EcdsaP384Sha256 | SigningScheme::EcdsaP384Sha384 => {
                let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| bad())?;
                let s = p384::ecdsa::DerSignature::from_bytes(sig).map_err(|_| bad())?;
                vk.verify_prehash(digest, &s).map_err(|_| bad())
            }
            other => Err(Error::UnsupportedAlgorithm(format!(
                "ECDSA over a digest with {other:?} is not supported by imagelock"
            ))),
        }
    }
}
