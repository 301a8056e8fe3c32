//! Image signatures: what a publisher signed, checked before a digest is
//! recorded. [`keys`] reads cosign public keys and checks ECDSA P-256
//! signatures; [`simple_signing`] checks what a cosign signature's payload
//! claims (the digest it signs, the repository it names); [`policy`] says
//! which images must be signed, and by whom (`[[verify]]` in
//! `imagelock.toml`); [`sigstore`] checks sigstore bundles and keyless
//! (Fulcio certificate) signatures against a trusted root;
//! [`attestations`] checks in-toto attestations (DSSE envelopes) with a
//! key; [`notation`] checks Notary Project (Notation) JWS signatures
//! against root CA certificates and trusted identities; [`verify`] puts signatures together for one digest.
//!
//! Finding signatures at registries is [`crate::registry`]'s; recording
//! them is [`crate::lockfile`]'s.

pub mod attestations;
mod crypto_provider;
pub mod keys;
pub mod notation;
pub mod policy;
pub mod sigstore;
pub mod simple_signing;
pub mod verify;
