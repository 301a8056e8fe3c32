//! Resolution: a tag to its manifest digest by HEAD (GET when HEAD gives
//! no digest or no manifest media type), only the manifest and index media
//! types asked for taken (a GET's body must parse as one), digests checked
//! where they enter from the network, child
//! manifests for requested platforms, and the registry's non-success
//! answers turned into errors (reading its error body to say whether the
//! repository or the tag is missing).

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};

use super::budget::RateLimit;
use super::error::{ErrorKind, Missing, Party, RegistryError};
use super::error_body::{self, ErrorEntry};
use super::mirrors::Endpoint;
use super::transport::{MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES};
use super::{manifest, Client, Ctx, Platform, Resolved};
use crate::credentials::Lookup;
use crate::reference::{Digest, Reference};

/// The `Docker-Content-Digest` header.
pub(super) const DIGEST_HEADER: &str = "docker-content-digest";

pub(super) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// A value from the network, quoted for a message: secrets masked (before
/// the cut, so no part of one is left), escaped, at most 100 characters.
pub(super) fn quoted(v: &str) -> String {
    let v = crate::redact::redact(v);
    let cut: String = v.chars().take(100).collect();
    if cut.len() < v.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// The digest of `body` under `algorithm` (`sha256`, `sha512`); `None` for
/// an algorithm we cannot compute.
fn digest_of(algorithm: &str, body: &[u8]) -> Option<Digest> {
    use sha2::Digest as _;
    match algorithm {
        "sha256" => Some(Digest::sha256_of(body)),
        "sha512" => {
            let hex: String = sha2::Sha512::digest(body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Digest::parse(&format!("sha512:{hex}")).ok()
        }
        _ => None,
    }
}

/// A failure to reach the host at all (an `insecure` host is then tried
/// over plain HTTP, as containers/image does).
fn is_transport(e: &RegistryError) -> bool {
    matches!(
        e.kind,
        ErrorKind::Tls { .. } | ErrorKind::ConnectionRefused { .. } | ErrorKind::Network { .. }
    )
}

impl Client {
    /// Resolve the reference's tag (`latest` when it has none; for
    /// `name:tag@digest` the tag: the caller compares). A digest-only
    /// reference is checked with one HEAD (a GET when platforms are asked).
    ///
    /// With platforms: an index maps each to its child manifest; a single
    /// manifest is read as single-platform (its config blob says which) and
    /// maps the platforms it satisfies to itself; any other platform is a
    /// [`ErrorKind::PlatformNotFound`] naming what is available.
    pub async fn resolve(
        &self,
        reference: &Reference,
        platforms: &[Platform],
    ) -> Result<Resolved, RegistryError> {
        let lookup = self.lookup(reference, None).await;
        self.resolve_with(reference, platforms, lookup).await
    }

    /// [`Client::resolve`] with the credentials already looked up.
    pub async fn resolve_with(
        &self,
        reference: &Reference,
        platforms: &[Platform],
        lookup: Arc<Lookup>,
    ) -> Result<Resolved, RegistryError> {
        self.resolve_on(reference, platforms, lookup, 0).await
    }

    /// [`Client::resolve_with`] over the registry's connection `lane` (see
    /// `schedule`).
    pub(super) async fn resolve_on(
        &self,
        reference: &Reference,
        platforms: &[Platform],
        lookup: Arc<Lookup>,
        lane: usize,
    ) -> Result<Resolved, RegistryError> {
        let ctx = self.ctx(reference, lookup, lane)?;
        self.resolve_in(&ctx, reference, platforms).await
    }

    /// Resolve `mapped` (the reference at a mirror, see
    /// [`super::mirrors::Endpoint::reference`]) at `endpoint`, with the
    /// keychain's credentials for the mirror's own host name.
    pub async fn resolve_at(
        &self,
        endpoint: &Endpoint,
        mapped: &Reference,
        platforms: &[Platform],
        pod: Option<Arc<crate::credentials::PodSecrets>>,
    ) -> Result<Resolved, RegistryError> {
        let lookup = self.lookup(mapped, pod).await;
        let ctx = self.ctx_at(endpoint, mapped, lookup.clone(), false)?;
        let first = self.resolve_in(&ctx, mapped, platforms).await;
        match first {
            Err(e) if endpoint.tls.insecure && is_transport(&e) => {
                let ctx = self.ctx_at(endpoint, mapped, lookup, true)?;
                self.resolve_in(&ctx, mapped, platforms).await
            }
            other => other,
        }
    }

    /// The digest `endpoint` serves for `mapped`'s tag or digest (HEAD,
    /// GET when HEAD says no digest): a 404 is [`ErrorKind::NotFound`].
    pub async fn head_at(
        &self,
        endpoint: &Endpoint,
        mapped: &Reference,
    ) -> Result<Digest, RegistryError> {
        self.head_at_with(endpoint, mapped, None).await
    }

    /// [`Client::head_at`] offering `pod`'s pull Secrets first, as a node
    /// pulling for that pod would.
    pub async fn head_at_with(
        &self,
        endpoint: &Endpoint,
        mapped: &Reference,
        pod: Option<Arc<crate::credentials::PodSecrets>>,
    ) -> Result<Digest, RegistryError> {
        let what = match (mapped.tag(), mapped.digest()) {
            (_, Some(d)) => d.to_string(),
            (t, None) => t.unwrap_or("latest").to_string(),
        };
        let expected = mapped.digest();
        let lookup = self.lookup(mapped, pod).await;
        let ctx = self.ctx_at(endpoint, mapped, lookup.clone(), false)?;
        match self.head_manifest(&ctx, &what, expected).await {
            Err(e) if endpoint.tls.insecure && is_transport(&e) => {
                let ctx = self.ctx_at(endpoint, mapped, lookup, true)?;
                Ok(self.head_manifest(&ctx, &what, expected).await?.0)
            }
            other => Ok(other?.0),
        }
    }

    /// Resolve `reference` over `ctx` (see [`Client::resolve`]).
    async fn resolve_in(
        &self,
        ctx: &Ctx<'_>,
        reference: &Reference,
        platforms: &[Platform],
    ) -> Result<Resolved, RegistryError> {
        let (digest, media_type, body) = match (reference.tag(), reference.digest()) {
            // With platforms the GET below reads it (and so finds it).
            (None, Some(d)) if !platforms.is_empty() => (d.clone(), None, None),
            // A digest the registry does not have is not resolved: one
            // HEAD says it exists.
            (None, Some(d)) => self.head_manifest(ctx, &d.to_string(), Some(d)).await?,
            (tag, _) => {
                self.head_manifest(ctx, tag.unwrap_or("latest"), None)
                    .await?
            }
        };
        let mut resolved = Resolved {
            digest,
            media_type,
            platforms: BTreeMap::new(),
        };
        if platforms.is_empty() {
            return Ok(resolved);
        }
        let (body, media_type) = match body {
            Some(b) => (b, resolved.media_type.clone()),
            None => {
                let (b, mt) = self
                    .get_manifest(ctx, &resolved.digest.to_string(), Some(&resolved.digest))
                    .await?;
                (b, Some(mt))
            }
        };
        if resolved.media_type.is_none() {
            resolved.media_type = media_type.clone();
        }
        resolved.platforms = self
            .platforms(
                ctx,
                &resolved.digest,
                &body,
                media_type.as_deref(),
                platforms,
            )
            .await?;
        Ok(resolved)
    }

    /// HEAD the manifest for `tag` (a tag or, with `expected`, that
    /// digest); GET only when HEAD gives no digest, no media type that
    /// says which manifest it is, or is not allowed. Returns the digest, the
    /// media type (one of those asked for) and the body when a GET was
    /// made.
    async fn head_manifest(
        &self,
        ctx: &Ctx<'_>,
        tag: &str,
        expected: Option<&Digest>,
    ) -> Result<(Digest, Option<String>, Option<Vec<u8>>), RegistryError> {
        let url = ctx.url(&format!("manifests/{tag}"))?;
        let by_get = || async {
            let (body, mt) = self.get_manifest(ctx, tag, expected).await?;
            let digest = expected
                .cloned()
                .unwrap_or_else(|| Digest::sha256_of(&body));
            Ok((digest, Some(mt), Some(body)))
        };
        let resp = self
            .send(ctx, Method::HEAD, &url, manifest::ACCEPT_ALL)
            .await?;
        let status = resp.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return by_get().await;
        }
        if status == StatusCode::NOT_FOUND {
            // A HEAD answer has no body to say what is missing: ask by GET.
            return Err(self.not_found_by_get(ctx, tag).await);
        }
        if !status.is_success() {
            return Err(self.status_error(ctx, resp, tag).await);
        }
        let ct = header_str(resp.headers(), CONTENT_TYPE.as_str()).unwrap_or("");
        if manifest::is_schema1(ct) {
            return Err(ctx.err(ErrorKind::Schema1 {
                media_type: manifest::essence(ct),
            }));
        }
        if !manifest::is_accepted(ct) {
            if manifest::is_generic(ct) {
                // `application/json` or none: only the body can say.
                return by_get().await;
            }
            return Err(ctx.err(ErrorKind::NotAManifest {
                request: format!("HEAD {}", url.path()),
                got: format!("Content-Type {}", quoted(ct)),
            }));
        }
        let mt = manifest::essence(ct);
        match header_str(resp.headers(), DIGEST_HEADER).filter(|d| !d.is_empty()) {
            Some(d) => {
                let digest = Digest::parse(d).map_err(|e| {
                    ctx.protocol(format!(
                        "the Docker-Content-Digest header of HEAD {} is not a valid digest: {} ({})",
                        url.path(),
                        quoted(d),
                        e.reason
                    ))
                })?;
                if let Some(e) = expected.filter(|e| **e != digest) {
                    return Err(ctx.protocol(format!(
                        "HEAD {} asked for {e} and the Docker-Content-Digest header says {digest}",
                        url.path()
                    )));
                }
                Ok((digest, Some(mt), None))
            }
            None => by_get().await,
        }
    }

    /// GET a manifest by tag or digest (at most
    /// [`MAX_MANIFEST_BYTES`]). Its `Content-Type` must be one of the
    /// manifest and index types asked for (or say nothing, as
    /// `application/json` does), and the body one of them; the body must
    /// hash to `expected` (when given) and to any `Docker-Content-Digest`
    /// header, which must be a valid digest. Returns the body and its
    /// media type.
    pub(super) async fn get_manifest(
        &self,
        ctx: &Ctx<'_>,
        tag_or_digest: &str,
        expected: Option<&Digest>,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let url = ctx.url(&format!("manifests/{tag_or_digest}"))?;
        let resp = self
            .send(ctx, Method::GET, &url, manifest::ACCEPT_ALL)
            .await?;
        if !resp.status().is_success() {
            return Err(self.status_error(ctx, resp, tag_or_digest).await);
        }
        self.read_manifest(ctx, resp, &url, expected).await
    }

    /// Read a success answer to a manifest GET of `url` (see
    /// [`Client::get_manifest`] for what is checked).
    pub(super) async fn read_manifest(
        &self,
        ctx: &Ctx<'_>,
        resp: Response,
        url: &reqwest::Url,
        expected: Option<&Digest>,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let header = match header_str(resp.headers(), DIGEST_HEADER).filter(|d| !d.is_empty()) {
            Some(d) => Some(Digest::parse(d).map_err(|e| {
                ctx.protocol(format!(
                    "the Docker-Content-Digest header of GET {} is not a valid digest: {} ({})",
                    url.path(),
                    quoted(d),
                    e.reason
                ))
            })?),
            None => None,
        };
        let ct = header_str(resp.headers(), CONTENT_TYPE.as_str())
            .unwrap_or("")
            .to_string();
        let not_a_manifest = |got: String| {
            ctx.err(ErrorKind::NotAManifest {
                request: format!("GET {}", url.path()),
                got,
            })
        };
        if manifest::is_schema1(&ct) {
            return Err(ctx.err(ErrorKind::Schema1 {
                media_type: manifest::essence(&ct),
            }));
        }
        let header_mt = if manifest::is_accepted(&ct) {
            Some(manifest::essence(&ct))
        } else if manifest::is_generic(&ct) {
            None
        } else {
            // Not read: an HTML page or a blob says what it is here.
            return Err(not_a_manifest(format!("Content-Type {}", quoted(&ct))));
        };
        let body = ctx
            .call(Party::Registry, None)
            .read_body(resp, MAX_MANIFEST_BYTES, "manifest")
            .await
            .map_err(|k| ctx.err(k))?;
        let parsed: Option<manifest::AnyManifest> = serde_json::from_slice(&body).ok();
        if parsed.as_ref().and_then(|m| m.schema_version) == Some(1) {
            // Named as it came: `application/json` when that is what the
            // registry said.
            let said = parsed
                .and_then(|m| m.media_type)
                .map(|m| manifest::essence(&m))
                .filter(|m| manifest::is_schema1(m));
            let served = Some(manifest::essence(&ct)).filter(|m| !m.is_empty());
            return Err(ctx.err(ErrorKind::Schema1 {
                media_type: said
                    .or(served)
                    .unwrap_or_else(|| manifest::DOCKER_V1_SIGNED.into()),
            }));
        }
        let mut claims: Vec<(String, Digest)> = Vec::new();
        if let Some(h) = header {
            claims.push((
                format!("the Docker-Content-Digest header of GET {}", url.path()),
                h,
            ));
        }
        if let Some(e) = expected {
            claims.push(("the requested digest".to_string(), e.clone()));
        }
        for (claimed_by, claimed) in claims {
            let Some(computed) = digest_of(claimed.algorithm(), &body) else {
                return Err(ctx.protocol(format!(
                    "{claimed_by} uses the digest algorithm {}, which imagelock cannot verify",
                    quoted(claimed.algorithm())
                )));
            };
            if computed != claimed {
                return Err(ctx.err(ErrorKind::DigestMismatch {
                    claimed_by,
                    claimed: claimed.to_string(),
                    computed: computed.to_string(),
                }));
            }
        }
        // After the digests: a body changed on the way is a mismatch first.
        let mt = manifest::AnyManifest::check(&body, header_mt.as_deref()).map_err(|got| {
            let said = if header_mt.is_none() && !ct.is_empty() {
                format!("Content-Type {} with ", quoted(&ct))
            } else {
                String::new()
            };
            not_a_manifest(format!("{said}{got}"))
        })?;
        Ok((body, mt))
    }

    /// GET the blob `digest` of the reference's repository (at most
    /// `limit` bytes; `what` names it in errors) and check that it hashes
    /// to `digest` (`claimed_by` says who named it). Only the registry's
    /// own `blobs/` endpoint: a descriptor's `urls` are never followed.
    pub(super) async fn get_blob(
        &self,
        ctx: &Ctx<'_>,
        digest: &Digest,
        limit: usize,
        what: &str,
        claimed_by: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = ctx.url(&format!("blobs/{digest}"))?;
        let resp = self.send(ctx, Method::GET, &url, "*/*").await?;
        if !resp.status().is_success() {
            return Err(self.status_error(ctx, resp, &digest.to_string()).await);
        }
        let blob = ctx
            .call(Party::Registry, None)
            .read_body(resp, limit, what)
            .await
            .map_err(|k| ctx.err(k))?;
        match digest_of(digest.algorithm(), &blob) {
            Some(computed) if computed == *digest => Ok(blob),
            Some(computed) => Err(ctx.err(ErrorKind::DigestMismatch {
                claimed_by: claimed_by.to_string(),
                claimed: digest.to_string(),
                computed: computed.to_string(),
            })),
            None => Err(ctx.protocol(format!(
                "{what} {digest} uses a digest algorithm imagelock cannot verify"
            ))),
        }
    }

    /// The error for a non-success answer about `what` (a tag or digest),
    /// reading the registry's error body.
    pub(super) async fn status_error(
        &self,
        ctx: &Ctx<'_>,
        resp: Response,
        what: &str,
    ) -> RegistryError {
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = ctx.call(Party::Registry, None).read_error_body(resp).await;
        let entries = error_body::parse(&body);
        let said = entries.first().map(ToString::to_string);
        let said_suffix = said
            .as_ref()
            .map(|s| format!(" (registry said {s})"))
            .unwrap_or_default();
        match status {
            StatusCode::NOT_FOUND => self.not_found(ctx, what, &entries).await,
            StatusCode::UNAUTHORIZED => ctx.err(ErrorKind::AuthRequired {
                detail: said.unwrap_or_default(),
                looked_in: ctx.lookup.searched.clone(),
                failed_sources: ctx.lookup.failures.clone(),
            }),
            StatusCode::FORBIDDEN => ctx.err(ErrorKind::AccessDenied {
                detail: format!("the registry answered 403 Forbidden{said_suffix}"),
                tried: Vec::new(),
            }),
            StatusCode::TOO_MANY_REQUESTS => ctx.err(ErrorKind::RateLimited {
                at: Party::Registry,
                retry_after: None,
                limit: RateLimit::from_headers(&headers),
            }),
            StatusCode::BAD_REQUEST if ctx.scheme == "http" => ctx.protocol(format!(
                "HTTP 400 over plain HTTP{said_suffix}; if {} speaks HTTPS, drop it from --plain-http",
                ctx.registry
            )),
            s => ctx.protocol(format!("unexpected HTTP status {s}{said_suffix}")),
        }
    }

    /// After a 404 to HEAD: GET the manifest for the registry's error body.
    async fn not_found_by_get(&self, ctx: &Ctx<'_>, what: &str) -> RegistryError {
        let url = match ctx.url(&format!("manifests/{what}")) {
            Ok(u) => u,
            Err(e) => return e,
        };
        match self
            .send(ctx, Method::GET, &url, manifest::ACCEPT_ALL)
            .await
        {
            Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
                self.status_error(ctx, resp, what).await
            }
            // The tag appeared between HEAD and GET, or the GET failed
            // otherwise: what HEAD said stands.
            _ => self.not_found(ctx, what, &[]).await,
        }
    }

    /// Not found: the repository (`NAME_UNKNOWN`) or the tag or manifest
    /// (`MANIFEST_UNKNOWN`). Distribution answers `MANIFEST_UNKNOWN` for a
    /// tag in a missing repository too, so that is checked by listing the
    /// repository's tags (`NAME_UNKNOWN` there means no repository).
    async fn not_found(&self, ctx: &Ctx<'_>, what: &str, entries: &[ErrorEntry]) -> RegistryError {
        let name = ctx.reference.name();
        let sep = if what.contains(':') { "@" } else { ":" };
        let name_unknown = error_body::find(entries, "NAME_UNKNOWN");
        let manifest_unknown = error_body::find(entries, "MANIFEST_UNKNOWN");
        let (missing, said) = match (name_unknown, manifest_unknown) {
            (Some(e), _) => (Missing::Repository, Some(e)),
            (None, Some(e)) => match self.repository_exists(ctx).await {
                Some(false) => (Missing::Repository, Some(e)),
                Some(true) => (Missing::Manifest, Some(e)),
                None => (Missing::Unknown, Some(e)),
            },
            (None, None) => (Missing::Unknown, entries.first()),
        };
        ctx.err(ErrorKind::NotFound {
            what: format!("{name}{sep}{what}"),
            repository: name,
            missing,
            registry_said: said.map(ToString::to_string),
        })
    }

    /// Whether the repository exists, by `GET /v2/<name>/tags/list?n=1`;
    /// `None` when the registry does not say.
    async fn repository_exists(&self, ctx: &Ctx<'_>) -> Option<bool> {
        let url = ctx.url("tags/list?n=1").ok()?;
        let resp = self
            .send(ctx, Method::GET, &url, "application/json")
            .await
            .ok()?;
        match resp.status() {
            s if s.is_success() => Some(true),
            StatusCode::NOT_FOUND => {
                let body = ctx.call(Party::Registry, None).read_error_body(resp).await;
                error_body::find(&error_body::parse(&body), "NAME_UNKNOWN").map(|_| false)
            }
            _ => None,
        }
    }

    /// Map requested platforms to child digests.
    async fn platforms(
        &self,
        ctx: &Ctx<'_>,
        digest: &Digest,
        body: &[u8],
        media_type: Option<&str>,
        wanted: &[Platform],
    ) -> Result<BTreeMap<String, Digest>, RegistryError> {
        let parsed: manifest::AnyManifest = serde_json::from_slice(body)
            .map_err(|e| ctx.protocol(format!("manifest {digest} is not valid JSON: {e}")))?;
        let is_index = media_type.is_some_and(manifest::is_index)
            || parsed.media_type.as_deref().is_some_and(manifest::is_index)
            || parsed.manifests.is_some();
        let mut out = BTreeMap::new();
        if is_index {
            let entries: Vec<(Platform, &str)> = parsed
                .manifests
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| {
                    d.platform
                        .as_ref()
                        .map(|p| (p.to_platform(), d.digest.as_str()))
                })
                .collect();
            for want in wanted {
                let Some((_, d)) = entries.iter().find(|(p, _)| want.matches(p)) else {
                    let mut available: Vec<String> = entries
                        .iter()
                        .map(|(p, _)| p.to_string())
                        .filter(|p| p != "unknown/unknown")
                        .collect();
                    available.sort();
                    available.dedup();
                    return Err(ctx.err(ErrorKind::PlatformNotFound {
                        wanted: want.to_string(),
                        available,
                    }));
                };
                let d = Digest::parse(d).map_err(|e| {
                    ctx.protocol(format!(
                        "an entry of index {digest} has an invalid digest {} ({})",
                        quoted(d),
                        e.reason
                    ))
                })?;
                out.insert(want.to_string(), d);
            }
            return Ok(out);
        }
        // Single-platform image: its config blob says which platform.
        let config = parsed.config.as_ref().ok_or_else(|| {
            ctx.protocol(format!(
                "manifest {digest} has neither manifests nor config"
            ))
        })?;
        let config_digest = Digest::parse(&config.digest).map_err(|e| {
            ctx.protocol(format!(
                "manifest {digest} names an invalid config digest {} ({})",
                quoted(&config.digest),
                e.reason
            ))
        })?;
        let blob = self
            .get_blob(
                ctx,
                &config_digest,
                MAX_CONFIG_BYTES,
                "config blob",
                &format!("manifest {digest}'s config descriptor"),
            )
            .await?;
        let raw: manifest::RawPlatform = serde_json::from_slice(&blob).map_err(|e| {
            ctx.protocol(format!(
                "config blob {} is not valid JSON: {e}",
                config.digest
            ))
        })?;
        let have = raw.to_platform();
        for want in wanted {
            if !want.matches(&have) {
                return Err(ctx.err(ErrorKind::PlatformNotFound {
                    wanted: want.to_string(),
                    available: vec![format!("{have} (single-platform image)")],
                }));
            }
            out.insert(want.to_string(), digest.clone());
        }
        Ok(out)
    }
}
