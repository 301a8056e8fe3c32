//! The few manifest facts we need: media types, index entries and their
//! platforms, the config blob's platform. Our own small serde types instead
//! of `oci-spec` (see ARCHITECTURE.md).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_V1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// `Accept` for any manifest we understand.
pub const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Strip parameters (`; charset=utf-8`) and lower-case.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The media types of [`ACCEPT_ALL`]: what a manifest answer may be.
pub const ACCEPTED: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_V2];

/// Whether `media_type` is one of the manifest and index types asked for.
pub fn is_accepted(media_type: &str) -> bool {
    ACCEPTED.contains(&essence(media_type).as_str())
}

/// A `Content-Type` that says nothing about which manifest the body is
/// (none, `application/json`, `text/plain`): the body must say.
pub fn is_generic(content_type: &str) -> bool {
    matches!(
        essence(content_type).as_str(),
        "" | "application/json" | "text/plain" | "application/octet-stream"
    )
}

pub fn is_schema1(media_type: &str) -> bool {
    let m = essence(media_type);
    m == DOCKER_V1 || m == DOCKER_V1_SIGNED
}

pub fn is_index(media_type: &str) -> bool {
    let m = essence(media_type);
    m == OCI_INDEX || m == DOCKER_LIST
}

/// A platform: `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// The variant with the usual defaults filled in (`arm64` → `v8`).
    fn normalised_variant(&self) -> Option<&str> {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("arm64", None) => Some("v8"),
            (_, v) => v,
        }
    }

    /// Whether an entry for `have` satisfies a request for `self`. Without a
    /// requested variant any variant matches.
    pub fn matches(&self, have: &Platform) -> bool {
        self.os == have.os
            && self.architecture == have.architecture
            && (self.variant.is_none() || self.normalised_variant() == have.normalised_variant())
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let bad = || {
            format!(
                "invalid platform {s:?}: expected os/architecture[/variant], e.g. linux/arm64/v8"
            )
        };
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        if parts.iter().any(|p| {
            !p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        }) {
            return Err(bad());
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts[1].to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }
}

impl PartialOrd for Platform {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Platform {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.os, &self.architecture, &self.variant).cmp(&(
            &other.os,
            &other.architecture,
            &other.variant,
        ))
    }
}

#[derive(serde::Deserialize)]
pub struct RawPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl RawPlatform {
    pub fn to_platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone().filter(|v| !v.is_empty()),
        }
    }
}

#[derive(serde::Deserialize)]
pub struct Descriptor {
    #[serde(default, rename = "mediaType")]
    pub media_type: Option<String>,
    pub digest: String,
    #[serde(default)]
    pub platform: Option<RawPlatform>,
}

/// The fields of any manifest or index we look at.
#[derive(serde::Deserialize)]
pub struct AnyManifest {
    #[serde(default, rename = "schemaVersion")]
    pub schema_version: Option<u32>,
    #[serde(default, rename = "mediaType")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Option<Vec<serde_json::Value>>,
}

impl AnyManifest {
    /// Why `body` is not a schema 2 manifest or index of `media_type` (the
    /// answer's accepted `Content-Type`, or `None` when that said nothing
    /// and the body's own `mediaType` must): `Ok` with the media type it
    /// is. The caller has ruled out schema 1.
    pub fn check(body: &[u8], media_type: Option<&str>) -> Result<String, String> {
        let parsed: AnyManifest = serde_json::from_slice(body).map_err(|e| {
            // Masked before the cut: no part of a secret is left (the
            // 40 characters shown come from far fewer than 64 KiB).
            let text = String::from_utf8_lossy(&body[..body.len().min(1 << 16)]);
            let start: String = crate::redact::redact(&text)
                .chars()
                .take(40)
                .filter(|c| !c.is_control())
                .collect();
            format!("a body that is not JSON ({e}; it starts {start:?})")
        })?;
        if parsed.schema_version != Some(2) {
            return Err(match parsed.schema_version {
                Some(v) => format!("a body with schemaVersion {v}, not 2"),
                None => "a JSON body without schemaVersion".to_string(),
            });
        }
        let own = parsed.media_type.as_deref().map(essence);
        let mt = match (media_type.map(essence), own) {
            (Some(header), Some(own)) if header != own => {
                return Err(format!(
                    "Content-Type {header} but a body whose mediaType is {:?}",
                    crate::redact::redact(&own)
                        .chars()
                        .take(100)
                        .collect::<String>()
                ))
            }
            (Some(header), _) => header,
            (None, Some(own)) if is_accepted(&own) => own,
            (None, Some(own)) => {
                return Err(format!(
                    "a body whose mediaType is {:?}, not a manifest or index type",
                    crate::redact::redact(&own)
                        .chars()
                        .take(100)
                        .collect::<String>()
                ))
            }
            // No media type anywhere: an OCI body may omit it; its shape
            // says which.
            (None, None) if parsed.manifests.is_some() => OCI_INDEX.to_string(),
            (None, None) if parsed.config.is_some() => OCI_MANIFEST.to_string(),
            (None, None) => {
                return Err("a JSON body that is neither a manifest nor an index".to_string())
            }
        };
        let fits = if is_index(&mt) {
            parsed.manifests.is_some()
        } else {
            parsed.config.is_some() && parsed.layers.is_some()
        };
        if !fits {
            let needs = if is_index(&mt) {
                "`manifests`"
            } else {
                "`config` and `layers`"
            };
            return Err(format!("a {mt} body without {needs}"));
        }
        Ok(mt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parse_display_order() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p, Platform::new("linux", "arm64", Some("v8")));
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(
            "Linux/AMD64".parse::<Platform>().unwrap().to_string(),
            "linux/amd64"
        );
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
        let mut v: Vec<Platform> = ["linux/arm64", "linux/amd64", "linux/arm/v7", "linux/arm/v6"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            s,
            ["linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64"]
        );
    }

    #[test]
    fn platform_matching() {
        let want: Platform = "linux/arm64".parse().unwrap();
        assert!(want.matches(&"linux/arm64/v8".parse().unwrap()));
        let want: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(want.matches(&"linux/arm64".parse().unwrap()));
        let want: Platform = "linux/arm/v7".parse().unwrap();
        assert!(!want.matches(&"linux/arm/v6".parse().unwrap()));
        assert!(!want.matches(&"linux/amd64".parse().unwrap()));
    }

    #[test]
    fn body_must_be_the_manifest_it_claims() {
        let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:0"},"layers":[]}"#;
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(AnyManifest::check(manifest, None).unwrap(), OCI_MANIFEST);
        assert_eq!(
            AnyManifest::check(manifest, Some(OCI_MANIFEST)).unwrap(),
            OCI_MANIFEST
        );
        assert_eq!(AnyManifest::check(index, None).unwrap(), OCI_INDEX);
        assert_eq!(
            AnyManifest::check(index, Some(DOCKER_LIST)).unwrap(),
            DOCKER_LIST
        );
        let err = |body: &[u8], mt: Option<&str>| AnyManifest::check(body, mt).unwrap_err();
        assert!(err(b"<html>", Some(OCI_MANIFEST)).contains("not JSON"));
        assert!(err(manifest, Some(OCI_INDEX)).contains("but a body whose mediaType"));
        assert!(err(index, Some(OCI_MANIFEST)).contains("without `config` and `layers`"));
        assert!(err(br#"{"schemaVersion":2}"#, None).contains("neither"));
        assert!(err(br#"{"mediaType":"x"}"#, None).contains("without schemaVersion"));
        let config =
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.config.v1+json"}"#;
        assert!(err(config, None).contains("not a manifest or index type"));
        assert!(is_generic("application/json; charset=utf-8") && is_generic(""));
        assert!(!is_generic("text/html") && is_accepted(&format!("{DOCKER_V2}; x=y")));
    }

    #[test]
    fn media_types() {
        assert!(is_schema1(
            "application/vnd.docker.distribution.manifest.v1+prettyjws"
        ));
        assert!(is_index(
            "application/vnd.oci.image.index.v1+json; charset=utf-8"
        ));
        assert!(!is_index(DOCKER_V2));
    }
}
