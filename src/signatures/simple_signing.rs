//! What a cosign signature's payload claims: the simple-signing JSON
//! (cosign `specs/SIGNATURE_SPEC.md`, "Simple Signing"):
//!
//! ```json
//! {"critical": {"identity": {"docker-reference": "ghcr.io/acme/app"},
//!               "image": {"docker-manifest-digest": "sha256:…"},
//!               "type": "cosign container image signature"},
//!  "optional": null}
//! ```
//!
//! A signature counts for a digest only when its payload names that
//! digest (as cosign checks) and the repository the digest was resolved
//! in (stricter than cosign, which leaves `docker-reference` unchecked: a
//! signature copied from another repository says so).

use serde::Deserialize;

use crate::reference::{Digest, Reference};

/// The `type` of every cosign image signature.
pub const COSIGN_TYPE: &str = "cosign container image signature";

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Why a payload does not sign a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the signed payload is not cosign's simple-signing JSON: {0}")]
    NotSimpleSigning(String),
    #[error("the signed payload's type is {0:?}, not {COSIGN_TYPE:?}")]
    Type(String),
    #[error("the signature is for {found}, not this digest")]
    OtherDigest { found: String },
    #[error("the signature names the repository {found}, not {expected}")]
    OtherRepository { found: String, expected: String },
}

/// Check that `payload` claims `digest` in the repository `name` (a
/// normalised name, `ghcr.io/acme/app`).
pub fn check_claims(payload: &[u8], digest: &Digest, name: &str) -> Result<(), ClaimError> {
    let p: Payload =
        serde_json::from_slice(payload).map_err(|e| ClaimError::NotSimpleSigning(e.to_string()))?;
    let c = p.critical;
    if c.kind != COSIGN_TYPE {
        return Err(ClaimError::Type(c.kind));
    }
    if c.image.docker_manifest_digest != digest.to_string() {
        return Err(ClaimError::OtherDigest {
            found: c.image.docker_manifest_digest,
        });
    }
    // `docker-reference` is a repository as go-containerregistry names it
    // (`index.docker.io/library/nginx`, `127.0.0.1:5000/team/app`):
    // compared after imagelock's normalising.
    let named = Reference::parse(&c.identity.docker_reference)
        .ok()
        .filter(|r| r.tag().is_none() && r.digest().is_none())
        .map(|r| r.name());
    if named.as_deref() != Some(name) {
        return Err(ClaimError::OtherRepository {
            found: c.identity.docker_reference,
            expected: name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(reference: &str, digest: &str, kind: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"{kind}"}},"optional":null}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_payload_signs_its_digest_in_its_repository_only() {
        let d = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let other = format!("sha256:{}", "b".repeat(64));
        let ok = payload("index.docker.io/library/nginx", &d.to_string(), COSIGN_TYPE);
        assert_eq!(check_claims(&ok, &d, "docker.io/library/nginx"), Ok(()));
        let local = payload("127.0.0.1:5000/team/app", &d.to_string(), COSIGN_TYPE);
        assert_eq!(check_claims(&local, &d, "127.0.0.1:5000/team/app"), Ok(()));
        assert_eq!(
            check_claims(
                &payload("ghcr.io/x/y", &other, COSIGN_TYPE),
                &d,
                "ghcr.io/x/y"
            ),
            Err(ClaimError::OtherDigest { found: other })
        );
        assert!(matches!(
            check_claims(&ok, &d, "ghcr.io/acme/app"),
            Err(ClaimError::OtherRepository { .. })
        ));
        assert!(matches!(
            check_claims(
                &payload("ghcr.io/x/y", &d.to_string(), "other"),
                &d,
                "ghcr.io/x/y"
            ),
            Err(ClaimError::Type(_))
        ));
        assert!(matches!(
            check_claims(b"{}", &d, "ghcr.io/x/y"),
            Err(ClaimError::NotSimpleSigning(_))
        ));
        // A reference with a tag is no repository.
        let tagged = payload("ghcr.io/x/y:v1", &d.to_string(), COSIGN_TYPE);
        assert!(check_claims(&tagged, &d, "ghcr.io/x/y").is_err());
    }

    #[test]
    fn payload_tricks_are_refused() {
        let d = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let other = format!("sha256:{}", "b".repeat(64));
        // Duplicate keys: Go's encoding/json takes the last, a reader
        // taking the first would disagree; refused outright.
        let dup = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"ghcr.io/x/y"}},"image":{{"docker-manifest-digest":"{other}","docker-manifest-digest":"{d}"}},"type":"{COSIGN_TYPE}"}},"optional":null}}"#
        );
        assert!(matches!(
            check_claims(dup.as_bytes(), &d, "ghcr.io/x/y"),
            Err(ClaimError::NotSimpleSigning(_))
        ));
        // A repository with a space after it, in capitals, or with a
        // digest is not this repository.
        for reference in [
            "ghcr.io/x/y ",
            " ghcr.io/x/y",
            "GHCR.IO/x/y",
            "ghcr.io/X/y",
            "ghcr.io/x/y@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ghcr.io/x/y/",
            "ghcr.io/x/y\u{200b}",
        ] {
            let p = payload(reference, &d.to_string(), COSIGN_TYPE);
            assert!(
                check_claims(&p, &d, "ghcr.io/x/y").is_err(),
                "{reference:?}"
            );
        }
        // The digest compared exactly: upper-case hex is another string.
        let upper = payload("ghcr.io/x/y", &d.to_string().to_uppercase(), COSIGN_TYPE);
        assert!(check_claims(&upper, &d, "ghcr.io/x/y").is_err());
    }
}
