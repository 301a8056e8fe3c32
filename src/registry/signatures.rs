//! Signature discovery: what a registry holds about one manifest digest,
//! as data. Nothing here verifies anything (that is `crate::signature`'s
//! work); this only finds and reads, with the client's own authentication,
//! transport, caps and digest checks.
//!
//! Two schemes, asked at once for each digest:
//!
//! - **cosign's tags** (cosign `specs/SIGNATURE_SPEC.md`, "Tag-based
//!   Discovery"): `sha256-<hex>.sig`, `.att` and `.sbom` in the image's
//!   repository (or [`DiscoverOptions::signature_repository`]). Each is asked by HEAD first; only a tag that exists is
//!   read (its manifest by digest, then the layers of `.sig` and `.att`,
//!   each checked against its digest). `.sbom`'s layers are listed, not
//!   read.
//! - **OCI 1.1 referrers** (distribution-spec `spec.md`, "Listing
//!   Referrers"): `GET /v2/<name>/referrers/<digest>`, `Link` pages
//!   followed (same origin only, at most [`MAX_REFERRER_PAGES`]). A `404`
//!   means the registry has no referrers API: the **referrers tag schema**
//!   (`sha256-<hex>`, an image index) is read instead, and a `404` there
//!   means no referrers. What the first digest learned is kept per registry
//!   API root, so later digests of that registry make one referrers request
//!   (the API, or the tag), not two; the first discovery on a registry asks
//!   alone while the others wait for its answer. Any other failure of the
//!   referrers call is an error, never "no referrers".
//!
//! The referrers whose type can hold a signature or attestation (a sigstore
//! bundle, a Notation signature, cosign's OCI 1.1 artifacts, DSSE/in-toto),
//! and those listed without a type, are read: their manifest, and the
//! content of their signature layers ([`is_signature_content`]). A bundle
//! listed with an empty `artifactType` (some registries do) is recognised
//! by its layer's media type. Other referrers (an SBOM pushed by `oras
//! attach`, …) are listed from the index only.
//!
//! Every body is capped (manifests and indexes at 4 MiB, signature layers
//! at [`MAX_LAYER_BYTES`]), every count too ([`MAX_REFERRERS`],
//! [`MAX_LAYERS`]); past a cap the discovery fails naming it. Layers come
//! from the repository's own `blobs/` endpoint only: a descriptor's `urls`
//! are never followed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::{StreamExt as _, TryStreamExt as _};
use reqwest::header::{HeaderMap, CONTENT_TYPE, LINK};
use reqwest::{Method, StatusCode, Url};

use super::error::{Party, RegistryError};
use super::resolve::{header_str, quoted, DIGEST_HEADER};
use super::transport::MAX_MANIFEST_BYTES;
use super::{manifest, Client, Ctx};
use crate::credentials::Lookup;
use crate::reference::{Digest, Reference};

/// cosign's simple-signing payload layer (`.sig`).
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// A DSSE envelope layer (cosign's `.att`).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// An in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The sigstore bundle v0.3 media type (what cosign 3 pushes as a
/// referrer). v0.1 and v0.2 are `application/vnd.dev.sigstore.bundle+json;version=0.x`.
pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The prefix every sigstore bundle media type starts with.
pub const SIGSTORE_BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// A Notary Project signature's artifact type.
pub const NOTATION_SIGNATURE: &str = "application/vnd.cncf.notary.signature";
/// A Notation JWS envelope layer.
pub const JOSE: &str = "application/jose+json";
/// A Notation COSE envelope layer.
pub const COSE: &str = "application/cose";
/// The prefix of cosign's OCI 1.1 artifact types
/// (`application/vnd.dev.cosign.artifact.sig.v1+json`, …).
pub const COSIGN_ARTIFACT_PREFIX: &str = "application/vnd.dev.cosign.";
/// The OCI empty descriptor's media type (an artifact's config).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Referrer list pages followed at most.
pub const MAX_REFERRER_PAGES: usize = 16;
/// Referrers listed at most per digest, over all pages.
pub const MAX_REFERRERS: usize = 512;
/// Layers read at most per signature, attestation or referrer manifest.
pub const MAX_LAYERS: usize = 64;
/// Largest signature, attestation or bundle layer read.
pub const MAX_LAYER_BYTES: usize = 4 * 1024 * 1024;
/// Referrer manifests read at once for one digest.
const READ_AT_ONCE: usize = 8;

/// What a registry holds about one manifest digest: cosign's tag-scheme
/// artifacts and the OCI referrers. Data only: nothing in it is verified
/// beyond "the bytes hash to the digest that named them".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The digest asked about.
    pub subject: Digest,
    /// One per layer of `sha256-<hex>.sig` (cosign appends one layer per
    /// signature), in manifest order; empty when the tag does not exist.
    pub cosign_signatures: Vec<CosignLayer>,
    /// One per layer of `sha256-<hex>.att` (DSSE envelopes; the
    /// `predicateType` annotation says what each attests), in manifest
    /// order; empty when the tag does not exist.
    pub cosign_attestations: Vec<CosignLayer>,
    /// `sha256-<hex>.sbom` (cosign attach sbom), its layers listed but not
    /// read; `None` when the tag does not exist.
    pub cosign_sbom: Option<Artifact>,
    /// The referrers, by digest (duplicates listed once).
    pub referrers: Vec<Referrer>,
    /// Where the referrers were listed from.
    pub referrers_source: ReferrersSource,
    /// Who applied [`DiscoverOptions::artifact_type`]: `None` without one.
    pub referrers_filtered_by: Option<FilteredBy>,
}

/// Where [`Discovered::referrers`] come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The registry's referrers API.
    Api,
    /// The referrers tag schema's index (`sha256-<hex>`), the registry
    /// having no referrers API.
    TagSchema,
    /// No referrers API and no referrers tag: none.
    None,
}

/// Who filtered the referrers by artifact type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilteredBy {
    /// The registry (`OCI-Filters-Applied: artifactType` on every page).
    Registry,
    /// This client, the registry not having said it filtered (or the
    /// referrers coming from the tag schema).
    Client,
}

/// Options of one discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoverOptions {
    /// Only referrers of this artifact type: sent as `?artifactType=` to
    /// the referrers API, and applied here when the registry does not say
    /// it applied it. `None`: every referrer (what a policy usually needs:
    /// bundles, Notation signatures and attestations in one request).
    pub artifact_type: Option<String>,
    /// Where cosign's `.sig`, `.att` and `.sbom` tags are (cosign's
    /// `COSIGN_REPOSITORY`): a repository (`host/path`; a tag or digest in
    /// it is ignored), possibly at another registry. `None`: the image's
    /// own repository. Referrers are always asked in the image's
    /// repository. On the image's registry the credentials given to
    /// [`Client::discover_with`] are used; on another, the keychain's for
    /// that repository (no pod Secrets).
    pub signature_repository: Option<Reference>,
}

/// One layer of a cosign `.sig` or `.att` manifest, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignLayer {
    /// The `.sig`/`.att` manifest it is a layer of.
    pub manifest_digest: Digest,
    /// The layer's digest (its content hashes to it).
    pub layer_digest: Digest,
    /// The layer's media type as its descriptor says
    /// ([`COSIGN_SIMPLESIGNING`], [`DSSE_ENVELOPE`]).
    pub media_type: String,
    /// The layer's content: the simple-signing payload, or the DSSE
    /// envelope JSON.
    pub payload: Vec<u8>,
    /// The layer descriptor's annotations
    /// (`dev.cosignproject.cosign/signature`,
    /// `dev.sigstore.cosign/certificate`, `…/chain`, `…/bundle`,
    /// `predicateType`).
    pub annotations: BTreeMap<String, String>,
}

/// A manifest found by tag whose layers are listed, not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub manifest_digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// Its layers, in order (`content` is `None`).
    pub layers: Vec<Layer>,
}

/// One layer of an artifact or referrer manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
    /// The content (hashing to `digest`), read only for the media types
    /// [`is_signature_content`] names.
    pub content: Option<Vec<u8>>,
}

/// One referrer of the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// The referrer manifest's media type, as listed.
    pub media_type: String,
    /// What it is: the manifest's `artifactType`, else the one listed,
    /// else its config's media type (unless the empty descriptor's), else
    /// its first layer's media type (how a bundle listed without a type is
    /// recognised). Empty when none says.
    pub artifact_type: String,
    /// The `artifactType` as the referrers list gave it (may be empty).
    pub listed_artifact_type: String,
    /// The manifest's annotations when it was read, else the listed
    /// descriptor's.
    pub annotations: BTreeMap<String, String>,
    /// The manifest's `subject` digest (`None` when not read or absent).
    /// The referrers API only lists manifests whose subject is the digest;
    /// the tag schema's index is written by clients, so a verifier should
    /// check it.
    pub subject: Option<Digest>,
    /// Whether the manifest was read (see the module documentation for
    /// which are); when not, `layers` is empty.
    pub read: bool,
    /// The manifest's layers, signature content read.
    pub layers: Vec<Layer>,
}

/// Whether a layer of this media type is read: cosign simple signing,
/// DSSE envelopes, in-toto statements, sigstore bundles (any version),
/// Notation JWS and COSE envelopes.
pub fn is_signature_content(media_type: &str) -> bool {
    let m = media_type.trim().to_ascii_lowercase();
    let essence = manifest::essence(&m);
    m.starts_with(SIGSTORE_BUNDLE_PREFIX)
        || [COSIGN_SIMPLESIGNING, DSSE_ENVELOPE, IN_TOTO, JOSE, COSE].contains(&essence.as_str())
}

/// Whether a referrer listed with this artifact type is read: empty (only
/// its manifest can say), or a type that holds a signature or attestation.
fn worth_reading(artifact_type: &str) -> bool {
    let t = artifact_type.trim().to_ascii_lowercase();
    t.is_empty()
        || t.starts_with(SIGSTORE_BUNDLE_PREFIX)
        || t.starts_with(COSIGN_ARTIFACT_PREFIX)
        || manifest::essence(&t) == NOTATION_SIGNATURE
        || is_signature_content(&t)
}

/// The referrers tag schema's tag for `digest`: `<alg>-<ref>`, the
/// algorithm truncated to 32 characters and the encoded part to 64.
pub fn referrers_tag(digest: &Digest) -> String {
    let alg: String = digest.algorithm().chars().take(32).collect();
    let enc: String = digest.encoded().chars().take(64).collect();
    format!("{alg}-{enc}")
}

/// cosign's tag for `digest`: `<alg>-<hex>.<suffix>` (`sig`, `att`, `sbom`).
pub fn cosign_tag(digest: &Digest, suffix: &str) -> String {
    format!("{}-{}.{suffix}", digest.algorithm(), digest.encoded())
}

/// Whether each registry API root serves the referrers API (`Some(true)`),
/// does not (`Some(false)`), or nobody knows yet. The async mutex makes the
/// first discovery on a root ask alone.
#[derive(Default)]
pub(crate) struct ApiStates(Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<bool>>>>>);

impl ApiStates {
    fn cell(&self, key: &str) -> Arc<tokio::sync::Mutex<Option<bool>>> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(key.to_string()).or_default().clone()
    }
}

#[derive(serde::Deserialize, Default)]
struct RawDescriptor {
    #[serde(default, rename = "mediaType")]
    media_type: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default, rename = "artifactType")]
    artifact_type: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
struct RawManifest {
    #[serde(default, rename = "artifactType")]
    artifact_type: String,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    subject: Option<RawDescriptor>,
}

/// The referrers as listed, before any is read.
struct Listing {
    descriptors: Vec<RawDescriptor>,
    source: ReferrersSource,
    /// The registry said it applied the artifact type filter on every page.
    registry_filtered: bool,
}

/// The `rel="next"` target of a `Link` header, resolved against `base`.
fn link_next(headers: &HeaderMap, base: &Url) -> Option<Result<Url, String>> {
    for value in headers.get_all(LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let link = link.trim();
            let Some(rest) = link.strip_prefix('<') else {
                continue;
            };
            let Some((target, params)) = rest.split_once('>') else {
                continue;
            };
            let next = params.split(';').any(|p| {
                let p = p.trim();
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("rel")
                        && v.trim()
                            .trim_matches('"')
                            .split_whitespace()
                            .any(|r| r.eq_ignore_ascii_case("next"))
                })
            });
            if next {
                return Some(
                    base.join(target.trim())
                        .map_err(|e| format!("{} ({e})", quoted(target))),
                );
            }
        }
    }
    None
}

/// Whether `OCI-Filters-Applied` names `artifactType`.
fn filters_applied(headers: &HeaderMap) -> bool {
    headers
        .get_all("oci-filters-applied")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim() == "artifactType")
}

fn parse_digest(ctx: &Ctx<'_>, d: &str, whose: &str) -> Result<Digest, RegistryError> {
    Digest::parse(d).map_err(|e| {
        ctx.protocol(format!(
            "{whose} names an invalid digest {} ({})",
            quoted(d),
            e.reason
        ))
    })
}

impl Client {
    /// What the registry holds about `digest` in `reference`'s repository
    /// (the reference's tag, if any, is not used), with the keychain's
    /// credentials for that repository and no artifact type filter.
    pub async fn discover(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Discovered, RegistryError> {
        let lookup = self.lookup(reference, None).await;
        self.discover_with(reference, digest, lookup, &DiscoverOptions::default())
            .await
    }

    /// [`Client::discover`] with the credentials already looked up (as
    /// [`Client::resolve_with`] takes them: a pod's pull Secrets first) and
    /// options. The referrers request and the three cosign HEADs are sent
    /// at once; what they find is read at once too.
    pub async fn discover_with(
        &self,
        reference: &Reference,
        digest: &Digest,
        lookup: Arc<Lookup>,
        options: &DiscoverOptions,
    ) -> Result<Discovered, RegistryError> {
        let ctx = self.ctx(reference, lookup.clone(), 0)?;
        let ctx = &ctx;
        let elsewhere = match &options.signature_repository {
            None => None,
            Some(repo) => {
                let lookup = if repo.domain() == reference.domain() {
                    lookup
                } else {
                    self.lookup(repo, None).await
                };
                Some(self.ctx(repo, lookup, 0)?)
            }
        };
        let cosign = elsewhere.as_ref().unwrap_or(ctx);
        let (referrers, signatures, attestations, sbom) = futures::try_join!(
            self.referrers(ctx, digest, options),
            self.cosign_layers(cosign, digest, "sig"),
            self.cosign_layers(cosign, digest, "att"),
            self.cosign_sbom(cosign, digest),
        )?;
        let (referrers, referrers_source, referrers_filtered_by) = referrers;
        Ok(Discovered {
            subject: digest.clone(),
            cosign_signatures: signatures,
            cosign_attestations: attestations,
            cosign_sbom: sbom,
            referrers,
            referrers_source,
            referrers_filtered_by,
        })
    }

    /// HEAD cosign's `suffix` tag for `subject`; when it exists, GET its
    /// manifest by the digest HEAD gave (by tag when HEAD gave none or is
    /// not allowed). `None` when the tag does not exist.
    async fn cosign_manifest(
        &self,
        ctx: &Ctx<'_>,
        subject: &Digest,
        suffix: &str,
    ) -> Result<Option<(Digest, RawManifest, String)>, RegistryError> {
        let tag = cosign_tag(subject, suffix);
        let url = ctx.url(&format!("manifests/{tag}"))?;
        let resp = self
            .send(ctx, Method::HEAD, &url, manifest::ACCEPT_ALL)
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let expected = if status == StatusCode::METHOD_NOT_ALLOWED {
            None
        } else if !status.is_success() {
            return Err(self.status_error(ctx, resp, &tag).await);
        } else {
            match header_str(resp.headers(), DIGEST_HEADER).filter(|d| !d.is_empty()) {
                Some(d) => Some(parse_digest(
                    ctx,
                    d,
                    &format!("the Docker-Content-Digest header of HEAD {}", url.path()),
                )?),
                None => None,
            }
        };
        let by = expected
            .as_ref()
            .map_or_else(|| tag.clone(), ToString::to_string);
        let (body, media_type) = self.get_manifest(ctx, &by, expected.as_ref()).await?;
        let digest = expected.unwrap_or_else(|| Digest::sha256_of(&body));
        let parsed: RawManifest = serde_json::from_slice(&body).map_err(|e| {
            ctx.protocol(format!(
                "the manifest of {tag} ({digest}) cannot be read: {e}"
            ))
        })?;
        Ok(Some((digest, parsed, media_type)))
    }

    /// The layers of cosign's `.sig` or `.att` for `subject`, read.
    async fn cosign_layers(
        &self,
        ctx: &Ctx<'_>,
        subject: &Digest,
        suffix: &str,
    ) -> Result<Vec<CosignLayer>, RegistryError> {
        let Some((manifest_digest, parsed, _)) = self.cosign_manifest(ctx, subject, suffix).await?
        else {
            return Ok(Vec::new());
        };
        let whose = format!("{} ({manifest_digest})", cosign_tag(subject, suffix));
        let layers = self
            .read_layers(ctx, &whose, &parsed.layers, |_| true)
            .await?;
        Ok(layers
            .into_iter()
            .map(|l| CosignLayer {
                manifest_digest: manifest_digest.clone(),
                layer_digest: l.digest,
                media_type: l.media_type,
                payload: l.content.unwrap_or_default(),
                annotations: l.annotations,
            })
            .collect())
    }

    /// cosign's `.sbom` for `subject`, its layers listed.
    async fn cosign_sbom(
        &self,
        ctx: &Ctx<'_>,
        subject: &Digest,
    ) -> Result<Option<Artifact>, RegistryError> {
        let Some((manifest_digest, parsed, media_type)) =
            self.cosign_manifest(ctx, subject, "sbom").await?
        else {
            return Ok(None);
        };
        let whose = format!("{} ({manifest_digest})", cosign_tag(subject, "sbom"));
        let layers = self
            .read_layers(ctx, &whose, &parsed.layers, |_| false)
            .await?;
        Ok(Some(Artifact {
            manifest_digest,
            media_type,
            layers,
        }))
    }

    /// The layers of a manifest (`whose` names it in errors), the content
    /// of those `read` selects fetched (all at once) and checked against
    /// its digest and size.
    async fn read_layers(
        &self,
        ctx: &Ctx<'_>,
        whose: &str,
        layers: &[RawDescriptor],
        read: impl Fn(&str) -> bool,
    ) -> Result<Vec<Layer>, RegistryError> {
        if layers.len() > MAX_LAYERS {
            return Err(ctx.protocol(format!(
                "{whose} has {} layers; imagelock reads at most {MAX_LAYERS} signature layers per manifest",
                layers.len()
            )));
        }
        let reads = layers.iter().map(|raw| {
            let read = read(&raw.media_type);
            async move {
                let digest = parse_digest(ctx, &raw.digest, &format!("a layer of {whose}"))?;
                let content = if read {
                    let blob = self
                        .get_blob(
                            ctx,
                            &digest,
                            MAX_LAYER_BYTES,
                            "signature layer",
                            &format!("the layer descriptor of {whose}"),
                        )
                        .await?;
                    if blob.len() as u64 != raw.size {
                        return Err(ctx.protocol(format!(
                            "layer {digest} of {whose} is {} bytes; its descriptor says {}",
                            blob.len(),
                            raw.size
                        )));
                    }
                    Some(blob)
                } else {
                    None
                };
                Ok(Layer {
                    media_type: raw.media_type.clone(),
                    digest,
                    size: raw.size,
                    annotations: raw.annotations.clone(),
                    content,
                })
            }
        });
        futures::future::try_join_all(reads).await
    }

    /// The referrers of `subject`, read as the module documentation says.
    async fn referrers(
        &self,
        ctx: &Ctx<'_>,
        subject: &Digest,
        options: &DiscoverOptions,
    ) -> Result<(Vec<Referrer>, ReferrersSource, Option<FilteredBy>), RegistryError> {
        let key = format!("{}://{}{}", ctx.scheme, ctx.api_host, ctx.root);
        let cell = self.referrers_api.cell(&key);
        let mut state = cell.lock().await;
        let from_api = match *state {
            // Known to have no API: the cell is let go before the tag is
            // read, or every digest of the registry would wait in turn.
            Some(false) => {
                drop(state);
                None
            }
            Some(true) => {
                drop(state);
                self.referrers_api_list(ctx, subject, options).await?
            }
            None => {
                let listed = self.referrers_api_list(ctx, subject, options).await;
                if let Ok(l) = &listed {
                    *state = Some(l.is_some());
                }
                drop(state);
                listed?
            }
        };
        let listing = match from_api {
            Some(l) => l,
            None => self.referrers_tag_list(ctx, subject).await?,
        };
        let wanted = options.artifact_type.as_deref();
        let filtered_by = wanted.map(|_| {
            if listing.registry_filtered {
                FilteredBy::Registry
            } else {
                FilteredBy::Client
            }
        });
        let mut seen = HashSet::new();
        let mut descriptors = Vec::new();
        for d in listing.descriptors {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            // Filtered here when the registry did not: a listed type is
            // final; an empty one waits for the manifest.
            if filtered_by == Some(FilteredBy::Client)
                && !d.artifact_type.is_empty()
                && Some(d.artifact_type.as_str()) != wanted
            {
                continue;
            }
            descriptors.push(d);
        }
        let mut referrers: Vec<Referrer> = futures::stream::iter(
            descriptors
                .into_iter()
                .map(|d| self.read_referrer(ctx, subject, d)),
        )
        .buffered(READ_AT_ONCE)
        .try_collect()
        .await?;
        if filtered_by == Some(FilteredBy::Client) {
            referrers.retain(|r| Some(r.artifact_type.as_str()) == wanted);
        }
        referrers.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok((referrers, listing.source, filtered_by))
    }

    /// The referrers API's list, every page; `None` when the registry
    /// answers `404` (no referrers API).
    async fn referrers_api_list(
        &self,
        ctx: &Ctx<'_>,
        subject: &Digest,
        options: &DiscoverOptions,
    ) -> Result<Option<Listing>, RegistryError> {
        let mut url = ctx.url(&format!("referrers/{subject}"))?;
        if let Some(t) = &options.artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let origin = url.origin();
        let mut descriptors = Vec::new();
        let mut registry_filtered = true;
        for page in 1.. {
            if page > MAX_REFERRER_PAGES {
                return Err(ctx.protocol(format!(
                    "the referrers of {subject} go on past {MAX_REFERRER_PAGES} pages; imagelock reads at most that many"
                )));
            }
            let resp = self
                .send(ctx, Method::GET, &url, manifest::OCI_INDEX)
                .await?;
            let status = resp.status();
            if status == StatusCode::NOT_FOUND && page == 1 {
                return Ok(None);
            }
            if status == StatusCode::NOT_FOUND {
                return Err(ctx.protocol(format!(
                    "page {page} of the referrers of {subject} ({}) answered 404 Not Found",
                    url.path()
                )));
            }
            if !status.is_success() {
                return Err(self
                    .status_error(ctx, resp, &format!("referrers/{subject}"))
                    .await);
            }
            registry_filtered &= filters_applied(resp.headers());
            let next = link_next(resp.headers(), &url);
            let ct = header_str(resp.headers(), CONTENT_TYPE.as_str()).unwrap_or("");
            if manifest::essence(ct) != manifest::OCI_INDEX && !manifest::is_generic(ct) {
                return Err(ctx.protocol(format!(
                    "GET {} answered Content-Type {}, not an image index",
                    url.path(),
                    quoted(ct)
                )));
            }
            let body = ctx
                .call(Party::Registry, None)
                .read_body(resp, MAX_MANIFEST_BYTES, "referrers index")
                .await
                .map_err(|k| ctx.err(k))?;
            let index: RawManifest = serde_json::from_slice(&body).map_err(|e| {
                ctx.protocol(format!(
                    "the referrers index of {subject} (GET {}) cannot be read: {e}",
                    url.path()
                ))
            })?;
            descriptors.extend(index.manifests);
            if descriptors.len() > MAX_REFERRERS {
                return Err(ctx.protocol(format!(
                    "{subject} has more than {MAX_REFERRERS} referrers; imagelock reads at most that many"
                )));
            }
            match next {
                None => break,
                Some(Err(bad)) => {
                    return Err(ctx.protocol(format!(
                        "the Link header of GET {} names {bad}, not a URL",
                        url.path()
                    )))
                }
                Some(Ok(n)) if n.origin() != origin => {
                    return Err(ctx.protocol(format!(
                        "the next page of the referrers of {subject} is at another host ({}); imagelock sends requests and credentials only to {}",
                        quoted(&super::config::shown(&n)),
                        ctx.api_host
                    )))
                }
                Some(Ok(n)) => url = n,
            }
        }
        Ok(Some(Listing {
            descriptors,
            source: ReferrersSource::Api,
            registry_filtered: options.artifact_type.is_some() && registry_filtered,
        }))
    }

    /// The referrers tag schema's index for `subject`; an empty listing of
    /// source [`ReferrersSource::None`] when the tag does not exist.
    async fn referrers_tag_list(
        &self,
        ctx: &Ctx<'_>,
        subject: &Digest,
    ) -> Result<Listing, RegistryError> {
        let tag = referrers_tag(subject);
        let url = ctx.url(&format!("manifests/{tag}"))?;
        let resp = self
            .send(ctx, Method::GET, &url, manifest::ACCEPT_ALL)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(Listing {
                descriptors: Vec::new(),
                source: ReferrersSource::None,
                registry_filtered: false,
            });
        }
        if !resp.status().is_success() {
            return Err(self.status_error(ctx, resp, &tag).await);
        }
        let (body, media_type) = self.read_manifest(ctx, resp, &url, None).await?;
        if !manifest::is_index(&media_type) {
            return Err(ctx.protocol(format!(
                "the referrers tag {tag} holds a {media_type}, not an image index"
            )));
        }
        let index: RawManifest = serde_json::from_slice(&body)
            .map_err(|e| ctx.protocol(format!("the referrers index {tag} cannot be read: {e}")))?;
        if index.manifests.len() > MAX_REFERRERS {
            return Err(ctx.protocol(format!(
                "{subject} has more than {MAX_REFERRERS} referrers; imagelock reads at most that many"
            )));
        }
        Ok(Listing {
            descriptors: index.manifests,
            source: ReferrersSource::TagSchema,
            registry_filtered: false,
        })
    }

    /// One listed referrer: its manifest and signature layers read when
    /// [`worth_reading`], else the listing's facts only.
    async fn read_referrer(
        &self,
        ctx: &Ctx<'_>,
        subject: &Digest,
        listed: RawDescriptor,
    ) -> Result<Referrer, RegistryError> {
        let digest = parse_digest(ctx, &listed.digest, &format!("a referrer of {subject}"))?;
        if !worth_reading(&listed.artifact_type) {
            return Ok(Referrer {
                digest,
                media_type: listed.media_type,
                artifact_type: listed.artifact_type.clone(),
                listed_artifact_type: listed.artifact_type,
                annotations: listed.annotations,
                subject: None,
                read: false,
                layers: Vec::new(),
            });
        }
        let (body, media_type) = self
            .get_manifest(ctx, &digest.to_string(), Some(&digest))
            .await?;
        let parsed: RawManifest = serde_json::from_slice(&body).map_err(|e| {
            ctx.protocol(format!(
                "the referrer manifest {digest} cannot be read: {e}"
            ))
        })?;
        let whose = format!("referrer {digest}");
        let layers = self
            .read_layers(ctx, &whose, &parsed.layers, is_signature_content)
            .await?;
        let config_type = parsed
            .config
            .as_ref()
            .map(|c| c.media_type.as_str())
            .filter(|m| !m.is_empty() && *m != OCI_EMPTY);
        let artifact_type = [
            Some(parsed.artifact_type.as_str()),
            Some(listed.artifact_type.as_str()),
            config_type,
            layers.first().map(|l| l.media_type.as_str()),
        ]
        .into_iter()
        .flatten()
        .find(|t| !t.is_empty())
        .unwrap_or("")
        .to_string();
        let subject_digest = match &parsed.subject {
            Some(s) => Some(parse_digest(
                ctx,
                &s.digest,
                &format!("the subject of {whose}"),
            )?),
            None => None,
        };
        Ok(Referrer {
            digest,
            media_type: if listed.media_type.is_empty() {
                media_type
            } else {
                listed.media_type
            },
            artifact_type,
            listed_artifact_type: listed.artifact_type,
            annotations: parsed.annotations,
            subject: subject_digest,
            read: true,
            layers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn tags_follow_the_schemes() {
        let d = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
        assert_eq!(referrers_tag(&d), format!("sha256-{}", "ab".repeat(32)));
        assert_eq!(
            cosign_tag(&d, "sig"),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
        let long = Digest::parse(&format!("sha512:{}", "cd".repeat(64))).unwrap();
        assert_eq!(referrers_tag(&long), format!("sha512-{}", "cd".repeat(32)));
    }

    #[test]
    fn link_next_is_found_and_resolved() {
        let base = Url::parse("http://r.example/v2/a/referrers/sha256:x").unwrap();
        let h = headers(&[(
            "link",
            "</v2/a/referrers/sha256:x?n=2&last=b>; rel=\"next\"",
        )]);
        assert_eq!(
            link_next(&h, &base).unwrap().unwrap().as_str(),
            "http://r.example/v2/a/referrers/sha256:x?n=2&last=b"
        );
        let h = headers(&[(
            "link",
            "<http://r.example/prev>; rel=prev, <http://other.example/n>; rel=next",
        )]);
        assert_eq!(
            link_next(&h, &base).unwrap().unwrap().as_str(),
            "http://other.example/n"
        );
        assert!(link_next(&headers(&[("link", "<x>; rel=prev")]), &base).is_none());
        assert!(link_next(&HeaderMap::new(), &base).is_none());
    }

    #[test]
    fn filters_header_and_media_types() {
        assert!(filters_applied(&headers(&[(
            "oci-filters-applied",
            "annotation, artifactType"
        )])));
        assert!(!filters_applied(&headers(&[(
            "oci-filters-applied",
            "annotation"
        )])));
        for m in [
            SIGSTORE_BUNDLE_V03,
            "application/vnd.dev.sigstore.bundle+json;version=0.2",
            JOSE,
            COSE,
            DSSE_ENVELOPE,
            COSIGN_SIMPLESIGNING,
        ] {
            assert!(is_signature_content(m), "{m}");
        }
        assert!(!is_signature_content(
            "application/vnd.oci.image.layer.v1.tar"
        ));
        assert!(!is_signature_content("text/spdx+json"));
        assert!(worth_reading("") && worth_reading(NOTATION_SIGNATURE));
        assert!(worth_reading(
            "application/vnd.dev.cosign.artifact.sig.v1+json"
        ));
        assert!(!worth_reading("application/spdx+json"));
    }
}
