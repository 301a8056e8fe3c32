//! Registry authentication: the per-registry challenge, the shared
//! per-(credential, scope) token slots, and the state machine that sends a
//! request with the right `Authorization` and walks the credential
//! candidates on refusal.
//!
//! No `/v2/` ping: the first request to a registry goes out bare and its
//! 401 teaches us the scheme (Basic or Bearer realm/service). After that
//! every request to that registry first takes a header from the slot for its
//! scope. A slot is a tokio mutex, so concurrent requests to one repository
//! wait for one token fetch instead of each fetching their own.
//!
//! Logs the challenge and the token cache's decisions at `trace` level
//! (scheme, realm, scope, source label); never a header, token, password or
//! token reply body.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};

use super::challenge::{parse_challenges, Challenge};
use super::config::shown;
use super::error::{ErrorKind, Party, RegistryError, Tried};
use super::transport::{MAX_TOKEN_REPLY_BYTES, TARGET};
use super::{Client, Ctx};
use crate::credentials::{Candidate, Credential};
use crate::secret::Secret;

/// How one credential (or anonymity) was refused, before it is turned into
/// a [`super::RegistryError`] naming the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Anonymous access refused.
    AuthRequired(String),
    /// The registry or token server refused this credential.
    BadCredentials(String),
    /// Authenticated, but not allowed.
    Denied(String),
    /// This kind of credential cannot answer this challenge (an identity
    /// token to a registry that asks for Basic).
    Unusable(String),
}

impl Failure {
    pub(crate) fn detail(&self) -> &str {
        match self {
            Failure::AuthRequired(d)
            | Failure::BadCredentials(d)
            | Failure::Denied(d)
            | Failure::Unusable(d) => d,
        }
    }
}

/// The header sent with a request, and which slot generation it came from.
pub(crate) struct Issued {
    pub header: Option<Secret>,
    pub generation: u64,
    /// The slot it came from: (candidate id or 0 for anonymous, scope key).
    pub slot: Option<(u64, String)>,
}

/// One (credential, scope)'s state: its current header, or its refusal.
#[derive(Default)]
pub(crate) struct Slot {
    pub header: Option<Secret>,
    pub expires: Option<Instant>,
    pub refused: Option<Failure>,
    pub generation: u64,
}

/// A slot shared by every request of one (credential, scope).
type SharedSlot = Arc<tokio::sync::Mutex<Slot>>;

/// Everything learned about one registry.
pub(crate) struct RegistryAuth {
    pub challenge: Mutex<Option<Challenge>>,
    /// Set once the first request to this registry has been answered.
    contacted: AtomicBool,
    /// Held by the first request until it is answered.
    pub gate: tokio::sync::Mutex<()>,
    /// Wakes those waiting for `contacted`.
    answered: tokio::sync::Notify,
    /// The HTTP version of the last answer (HTTP/2 or not decides how
    /// many requests go at once, see `schedule`).
    version: Mutex<Option<reqwest::Version>>,
    /// Token cache per (registry, credential source, scope): one pod's
    /// credential's token is never used for another pod's credential.
    slots: Mutex<HashMap<(u64, String), SharedSlot>>,
    /// Per identity-token candidate: the refresh token the token server
    /// handed back last (a server that rotates them refuses the spent
    /// one). Held across each refresh-token grant, so two scopes never
    /// spend the same refresh token at once.
    refresh: Mutex<HashMap<u64, RefreshCell>>,
}

/// The latest refresh token of one candidate (`None`: still the one it
/// came with).
type RefreshCell = Arc<tokio::sync::Mutex<Option<Secret>>>;

impl RegistryAuth {
    pub(crate) fn new() -> RegistryAuth {
        RegistryAuth {
            challenge: Mutex::new(None),
            contacted: AtomicBool::new(false),
            gate: tokio::sync::Mutex::new(()),
            version: Mutex::new(None),
            answered: tokio::sync::Notify::new(),
            slots: Mutex::new(HashMap::new()),
            refresh: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn challenge(&self) -> Option<Challenge> {
        self.challenge.lock().unwrap().clone()
    }

    /// The first request has been answered (or has failed, or needed no
    /// request): the challenge, if any, is known.
    pub(crate) fn mark_contacted(&self) {
        self.contacted.store(true, Ordering::SeqCst);
        self.answered.notify_waiters();
    }

    /// Until [`RegistryAuth::mark_contacted`].
    pub(crate) async fn wait_contacted(&self) {
        loop {
            let answered = self.answered.notified();
            if self.contacted.load(Ordering::SeqCst) {
                return;
            }
            answered.await;
        }
    }

    /// The HTTP version of the last answer.
    pub(crate) fn version(&self) -> Option<reqwest::Version> {
        *self.version.lock().unwrap()
    }

    pub(crate) fn set_challenge(&self, ch: Challenge) {
        *self.challenge.lock().unwrap() = Some(ch);
    }

    /// The refresh-token cell of candidate `id`.
    fn refresh_cell(&self, id: u64) -> RefreshCell {
        self.refresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(id)
            .or_default()
            .clone()
    }

    pub(crate) fn slot(&self, key: &(u64, String)) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .clone()
    }
}

/// A token server's reply. Read leniently: `expires_in` may be any JSON
/// number (or missing, or nonsense), never a reason to fail or overflow.
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
    /// A new refresh token (OAuth2 servers that rotate them).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// An OAuth2 error reply (RFC 6749 §5.2): its `error` code and
/// `error_description`, which name the refusal and hold no secret.
#[derive(serde::Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// ` (invalid_grant: the refresh token has expired)` from an OAuth2 error
/// body, escaped and cut to 200 characters; empty for any other body.
fn oauth_said(body: &[u8]) -> String {
    let Ok(e) = serde_json::from_slice::<OAuthError>(body) else {
        return String::new();
    };
    let clean = |s: String| -> String {
        // Masked before the cut: no part of a secret is left.
        let cut: String = crate::redact::redact(&s).chars().take(200).collect();
        cut.chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect()
    };
    match (
        e.error.filter(|s| !s.is_empty()).map(clean),
        e.error_description.filter(|s| !s.is_empty()).map(clean),
    ) {
        (Some(code), Some(d)) => format!(" ({code}: {d})"),
        (Some(code), None) => format!(" ({code})"),
        (None, Some(d)) => format!(" ({d})"),
        (None, None) => String::new(),
    }
}

/// The Basic user name sent with a refresh token in the `GET` form
/// (what Docker's credential helpers and Azure use for identity tokens).
const TOKEN_USER: &str = "<token>";

/// Token lifetime when the server gives none (the distribution spec's
/// default).
const DEFAULT_TOKEN_SECS: u64 = 60;
/// Longest token lifetime believed.
const MAX_TOKEN_SECS: u64 = 86_400;

impl TokenResponse {
    /// The token and how long to use it: `expires_in` clamped to 1 s – 1
    /// day (60 s when missing, zero, negative or not a number), renewed a
    /// little early so a token does not expire in flight.
    pub(crate) fn into_parts(self) -> Option<(Secret, Duration)> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let secs = match self.expires_in {
            Some(serde_json::Value::Number(n)) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| *f >= 1.0)
                        .map(|f| f.min(MAX_TOKEN_SECS as f64) as u64)
                })
                .filter(|s| *s > 0)
                .unwrap_or(DEFAULT_TOKEN_SECS),
            _ => DEFAULT_TOKEN_SECS,
        }
        .min(MAX_TOKEN_SECS);
        let secs = if secs > 20 { secs - 10 } else { secs * 3 / 4 };
        Some((Secret::new(token), Duration::from_secs(secs.max(1))))
    }
}

/// A slot's lifetime for credentials that do not expire (Basic, a
/// registry token as given).
const LONG: Duration = Duration::from_secs(365 * 24 * 3600);

/// What [`Client::issue`] could not do.
enum Step {
    /// This candidate is refused (now or earlier): try the next one.
    Refused(Failure),
    /// Give up on the request.
    Fatal(RegistryError),
}

enum TokenError {
    /// This credential (or anonymity) was refused; try the next candidate.
    Refused(Failure),
    /// Give up.
    Fatal(RegistryError),
}

fn basic_header(username: &str, password: &Secret) -> Secret {
    let raw = format!("{username}:{}", password.expose());
    // The pair and its base64 form, masked wherever they are echoed.
    crate::redact::register_basic(username, password.expose());
    Secret::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

/// `application/x-www-form-urlencoded` body.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut u = Url::parse("http://x/").expect("static URL");
    u.query_pairs_mut().extend_pairs(pairs);
    u.query().unwrap_or_default().to_string()
}

impl Ctx<'_> {
    /// The error for a request whose every credential was refused.
    fn auth_error(&self, tried: Vec<(Tried, Failure)>, last: Option<Failure>) -> RegistryError {
        let denied = tried.iter().any(|(_, f)| matches!(f, Failure::Denied(_)));
        let tried: Vec<Tried> = tried.into_iter().map(|(t, _)| t).collect();
        let kind = if tried.is_empty() {
            match last {
                Some(Failure::Denied(detail)) => ErrorKind::AccessDenied { detail, tried },
                other => ErrorKind::AuthRequired {
                    detail: other.map(|f| f.detail().to_string()).unwrap_or_default(),
                    looked_in: self.lookup.searched.clone(),
                    failed_sources: self.lookup.failures.clone(),
                },
            }
        } else if denied {
            ErrorKind::AccessDenied {
                detail: String::new(),
                tried,
            }
        } else {
            ErrorKind::InvalidCredentials { tried }
        };
        self.err(kind)
    }
}

impl Client {
    pub(super) fn registry_auth(&self, domain: &str) -> Arc<RegistryAuth> {
        let mut map = self
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(domain.to_string())
            .or_insert_with(|| Arc::new(RegistryAuth::new()))
            .clone()
    }

    /// Send with authentication: learn the challenge from a 401, then try
    /// the request's credential candidates in order. A candidate the
    /// registry or its token server refuses is remembered per (credential,
    /// scope) and the next one is tried, as the kubelet does; anonymous only
    /// when there is no candidate. Returns the first response that is not a
    /// 401/403 (which the caller maps), after the transport's retries.
    pub(super) async fn send(
        &self,
        ctx: &Ctx<'_>,
        method: Method,
        url: &Url,
        accept: &str,
    ) -> Result<Response, RegistryError> {
        let reg = self.registry_auth(ctx.registry);
        let lookup = ctx.lookup.clone();
        let cands = &lookup.candidates;
        let mut scope = format!("repository:{}:pull", ctx.reference.path());
        let mut idx = 0usize;
        let mut tried: Vec<(Tried, Failure)> = Vec::new();
        let record = |tried: &mut Vec<(Tried, Failure)>, c: &Candidate, f: Failure| {
            tracing::trace!(target: TARGET, source = c.source.label.as_str(), outcome = f.detail(), "credential refused");
            tried.push((
                Tried {
                    source: c.source.clone(),
                    credential: c.credential.describe(),
                    outcome: f.detail().to_string(),
                },
                f,
            ));
        };
        for _ in 0..(cands.len() * 3 + 4) {
            if !cands.is_empty() && idx >= cands.len() {
                return Err(ctx.auth_error(tried, None));
            }
            let cand = cands.get(idx);
            // First contact with a registry goes alone: the others wait for
            // its 401 to teach the challenge instead of all collecting one.
            let mut gate = None;
            if !reg.contacted.load(Ordering::SeqCst) {
                let g = reg.gate.lock().await;
                if !reg.contacted.load(Ordering::SeqCst) {
                    gate = Some(g);
                }
            }
            let issued = match self.issue(ctx, &reg, cand, &scope).await {
                Ok(i) => i,
                Err(Step::Refused(f)) => match cand {
                    Some(c) => {
                        record(&mut tried, c, f);
                        idx += 1;
                        continue;
                    }
                    None => return Err(ctx.auth_error(tried, Some(f))),
                },
                Err(Step::Fatal(e)) => return Err(e),
            };
            let source = cand
                .filter(|_| issued.header.is_some())
                .map(|c| c.source.label.as_str());
            let header = issued.header.as_ref().map(Secret::expose);
            let sent = ctx
                .call(Party::Registry, source)
                .send(method.clone(), url, |req| {
                    let req = req.header(ACCEPT, accept);
                    match header {
                        Some(h) => req.header(AUTHORIZATION, h),
                        None => req,
                    }
                })
                .await;
            if let Ok(resp) = &sent {
                *reg.version.lock().unwrap() = Some(resp.version());
            }
            if gate.is_some() {
                reg.mark_contacted();
            }
            let resp = sent.map_err(|k| ctx.err(k))?;
            match resp.status() {
                StatusCode::UNAUTHORIZED => {
                    let challenges = parse_challenges(
                        resp.headers()
                            .get_all(WWW_AUTHENTICATE)
                            .iter()
                            .filter_map(|v| v.to_str().ok()),
                    );
                    let ch = challenges
                        .iter()
                        .find(|c| c.scheme == "bearer" && c.param("realm").is_some())
                        .or_else(|| challenges.iter().find(|c| c.scheme == "basic"))
                        .cloned();
                    tracing::trace!(
                        target: TARGET,
                        challenges = challenges.len(),
                        scheme = ch.as_ref().map(|c| c.scheme.as_str()),
                        realm = ch.as_ref().and_then(|c| c.param("realm")),
                        service = ch.as_ref().and_then(|c| c.param("service")),
                        scope = ch.as_ref().and_then(|c| c.param("scope")),
                        error = ch.as_ref().and_then(|c| c.param("error")),
                        "401 challenge"
                    );
                    let Some(ch) = ch else {
                        let f = Failure::AuthRequired(
                            "the registry answered 401 without a Basic or Bearer challenge".into(),
                        );
                        match cand {
                            Some(c) if issued.header.is_some() => {
                                if self.refuse(&reg, &issued, f.clone()).await {
                                    record(&mut tried, c, f);
                                    idx += 1;
                                }
                                continue;
                            }
                            _ => return Err(ctx.auth_error(tried, Some(f))),
                        }
                    };
                    let insufficient = ch.param("error") == Some("insufficient_scope");
                    let mut scope_changed = false;
                    if ch.scheme == "bearer" {
                        if let Some(s) = ch.param("scope").filter(|s| !s.is_empty()) {
                            scope_changed = s != scope;
                            scope = s.to_string();
                        }
                    }
                    let known = reg.challenge();
                    let same_scheme = known.as_ref().is_some_and(|k| k.scheme == ch.scheme);
                    reg.set_challenge(ch);
                    if issued.header.is_none() || !same_scheme || scope_changed {
                        // First contact (or the scheme changed): retry with
                        // a header for the challenge just learned.
                        continue;
                    }
                    let Some(c) = cand else {
                        return Err(ctx.auth_error(
                            tried,
                            Some(Failure::AuthRequired(format!(
                                "anonymous access to {scope} refused"
                            ))),
                        ));
                    };
                    let f = if insufficient {
                        Failure::Denied(format!(
                            "access denied: the registry refused the token for {scope} (insufficient_scope)"
                        ))
                    } else {
                        Failure::BadCredentials("the registry answered 401".into())
                    };
                    if self.refuse(&reg, &issued, f.clone()).await {
                        record(&mut tried, c, f);
                        idx += 1;
                    }
                }
                StatusCode::FORBIDDEN => {
                    let Some(c) = cand.filter(|_| issued.header.is_some()) else {
                        // Nothing else to try: the caller maps the 403.
                        return Ok(resp);
                    };
                    let f = Failure::Denied(
                        "access denied: the registry answered 403 Forbidden".into(),
                    );
                    if self.refuse(&reg, &issued, f.clone()).await {
                        record(&mut tried, c, f);
                        idx += 1;
                    }
                }
                _ => return Ok(resp),
            }
        }
        Err(ctx.auth_error(
            tried,
            Some(Failure::AuthRequired(
                "gave up after repeated 401 answers".into(),
            )),
        ))
    }

    /// Remember that the credential behind `issued` was refused under its
    /// scope. False when another request already replaced that header (then
    /// the same credential is tried again with the new one).
    async fn refuse(&self, reg: &RegistryAuth, issued: &Issued, failure: Failure) -> bool {
        let Some(key) = &issued.slot else {
            return true;
        };
        let slot = reg.slot(key);
        let mut s = slot.lock().await;
        if s.refused.is_some() {
            return true;
        }
        if s.generation != issued.generation {
            tracing::trace!(target: TARGET, scope = %key.1, "refused header already replaced; trying the new one");
            return false;
        }
        s.refused = Some(failure);
        s.header = None;
        s.expires = None;
        s.generation += 1;
        true
    }

    /// The `Authorization` header for the next request of `cand` (None:
    /// anonymous) under `scope`: from the slot, or a new one (a token
    /// fetched once for every concurrent request of that slot).
    async fn issue(
        &self,
        ctx: &Ctx<'_>,
        reg: &RegistryAuth,
        cand: Option<&Candidate>,
        scope: &str,
    ) -> Result<Issued, Step> {
        let Some(ch) = reg.challenge() else {
            tracing::trace!(target: TARGET, registry = ctx.registry, "no challenge known yet: sending bare");
            return Ok(Issued {
                header: None,
                generation: 0,
                slot: None,
            });
        };
        let basic = ch.scheme == "basic";
        let key = (
            cand.map_or(0, Candidate::id),
            if basic {
                "basic".to_string()
            } else {
                scope.to_string()
            },
        );
        let source = cand.map_or("anonymous", |c| c.source.label.as_str());
        let slot = reg.slot(&key);
        let mut s = slot.lock().await;
        if let Some(f) = &s.refused {
            tracing::trace!(target: TARGET, source, scope, "token cache: refused before");
            return Err(Step::Refused(f.clone()));
        }
        if let (Some(h), Some(exp)) = (&s.header, s.expires) {
            if Instant::now() < exp {
                tracing::trace!(target: TARGET, source, scope, "token cache: hit");
                return Ok(Issued {
                    header: Some(h.clone()),
                    generation: s.generation,
                    slot: Some(key),
                });
            }
            tracing::trace!(target: TARGET, source, scope, "token cache: expired");
        } else {
            tracing::trace!(target: TARGET, source, scope, scheme = %ch.scheme, "token cache: miss");
        }
        let refuse = |s: &mut Slot, f: Failure| {
            s.refused = Some(f.clone());
            s.header = None;
            s.generation += 1;
            Err(Step::Refused(f))
        };
        let (header, ttl) = match (basic, cand) {
            (true, None) => {
                return Err(Step::Refused(Failure::AuthRequired(
                    "the registry asks for Basic authentication".into(),
                )))
            }
            (true, Some(c)) => match &c.credential {
                Credential::Basic { username, password } => {
                    (basic_header(username, password), LONG)
                }
                _ => return refuse(
                    &mut s,
                    Failure::Unusable(
                        "the registry asks for Basic authentication, which a token cannot answer"
                            .into(),
                    ),
                ),
            },
            (
                false,
                Some(Candidate {
                    credential: Credential::RegistryToken { token },
                    ..
                }),
            ) => (Secret::new(format!("Bearer {}", token.expose())), LONG),
            (false, cand) => match self.fetch_token(ctx, reg, &ch, scope, cand).await {
                Ok((token, ttl)) => (Secret::new(format!("Bearer {}", token.expose())), ttl),
                Err(TokenError::Refused(f)) => return refuse(&mut s, f),
                Err(TokenError::Fatal(e)) => return Err(Step::Fatal(e)),
            },
        };
        s.header = Some(header.clone());
        // A lifetime too long for the clock never expires.
        s.expires = Instant::now().checked_add(ttl);
        s.generation += 1;
        tracing::trace!(target: TARGET, source, scope, ttl_secs = ttl.as_secs(), "token cache: stored");
        Ok(Issued {
            header: Some(header),
            generation: s.generation,
            slot: Some(key),
        })
    }

    /// A bearer token from the challenge's realm: GET with Basic
    /// credentials (or none), or for an identity token the OAuth2
    /// refresh-token grant (`POST`, as Azure Container Registry expects).
    async fn fetch_token(
        &self,
        ctx: &Ctx<'_>,
        reg: &RegistryAuth,
        ch: &Challenge,
        scope: &str,
        cand: Option<&Candidate>,
    ) -> Result<(Secret, Duration), TokenError> {
        let realm = ch.param("realm").unwrap_or_default();
        let base = Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                TokenError::Fatal(ctx.protocol(format!(
                    "the Bearer challenge names an invalid token realm {:?}",
                    // Masked before the cut: no part of a secret is left.
                    crate::redact::redact(realm)
                        .chars()
                        .take(200)
                        .collect::<String>()
                )))
            })?;
        let realm_name = shown(&base);
        // No downgrade: an HTTPS registry's token realm over plain HTTP
        // would carry the credential in cleartext.
        if ctx.scheme == "https" && base.scheme() != "https" {
            let target_host = super::config::url_domain(&base);
            if !super::config::listed_plain_http(&ctx.plain_http, &target_host) {
                return Err(TokenError::Fatal(ctx.err(ErrorKind::InsecureRedirect {
                    from: format!("https://{}{}/", ctx.api_host, ctx.root),
                    how: "names the token realm".into(),
                    target: realm_name,
                    target_host,
                })));
            }
        }
        let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        let mut url = base.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = ch.param("service") {
                q.append_pair("service", service);
            }
            for s in &scopes {
                q.append_pair("scope", s);
            }
        }
        let cred = cand.map(|c| &c.credential);
        let source = cand.map(|c| c.source.label.as_str());
        let call = ctx.call(Party::TokenServer(realm_name.clone()), source);
        tracing::trace!(target: TARGET, realm = %realm_name, scope, source = source.unwrap_or("anonymous"), "fetching token");
        // An identity token: the refresh token the server handed back last
        // (or the one configured), held until this grant is answered.
        let cell = match (cand, cred) {
            (Some(c), Some(Credential::IdentityToken { .. })) => Some(reg.refresh_cell(c.id())),
            _ => None,
        };
        let mut latest = match &cell {
            Some(c) => Some(c.lock().await),
            None => None,
        };
        let refresh: Option<Secret> = match cred {
            Some(Credential::IdentityToken { token }) => Some(
                latest
                    .as_ref()
                    .and_then(|l| (**l).clone())
                    .unwrap_or_else(|| token.clone()),
            ),
            _ => None,
        };
        let sent = match (&refresh, cred) {
            (Some(refresh), _) => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose()),
                    ("client_id", "imagelock"),
                ];
                if let Some(service) = ch.param("service") {
                    form.push(("service", service));
                }
                let joined = scopes.join(" ");
                if !joined.is_empty() {
                    form.push(("scope", &joined));
                }
                let body = form_encode(&form);
                call.send(Method::POST, &base, |req| {
                    req.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(body.clone())
                })
                .await
            }
            (None, Some(Credential::Basic { username, password })) => {
                let header = basic_header(username, password);
                call.send(Method::GET, &url, |req| {
                    req.header(AUTHORIZATION, header.expose())
                })
                .await
            }
            _ => call.send(Method::GET, &url, |req| req).await,
        };
        let mut resp = sent.map_err(|k| TokenError::Fatal(ctx.err(k)))?;
        let mut grant = if refresh.is_some() {
            " to the refresh-token grant"
        } else {
            ""
        };
        if let Some(refresh) = refresh
            .as_ref()
            .filter(|_| resp.status() == StatusCode::NOT_FOUND)
        {
            // A token server without the OAuth2 POST (GCR answers 404):
            // the refresh token as a Basic password on the GET form, as
            // containerd falls back.
            tracing::trace!(target: TARGET, realm = %realm_name, "404 to the refresh-token POST: asking by GET");
            let header = basic_header(TOKEN_USER, refresh);
            resp = call
                .send(Method::GET, &url, |req| {
                    req.header(AUTHORIZATION, header.expose())
                })
                .await
                .map_err(|k| TokenError::Fatal(ctx.err(k)))?;
            grant = " to the refresh token sent by GET (the POST grant answered 404)";
        }
        let status = resp.status();
        if !status.is_success() {
            // `error`/`error_description` say why (`invalid_grant`, an
            // expired refresh token); the rest of the body is not shown.
            let said = oauth_said(&call.read_error_body(resp).await);
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST if cred.is_some() => {
                    TokenError::Refused(Failure::BadCredentials(format!(
                        "the token server {realm_name} answered {status}{grant}{said}"
                    )))
                }
                StatusCode::UNAUTHORIZED => TokenError::Refused(Failure::AuthRequired(format!(
                    "the token server {realm_name} refuses anonymous access{said}"
                ))),
                StatusCode::FORBIDDEN => TokenError::Refused(Failure::Denied(format!(
                    "access denied: the token server {realm_name} refused {scope}{said}"
                ))),
                s => TokenError::Fatal(ctx.err(ErrorKind::Protocol {
                    at: Party::TokenServer(realm_name),
                    detail: format!("unexpected HTTP status {s}{grant}{said}"),
                })),
            });
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                crate::redact::redact(v)
                    .chars()
                    .take(80)
                    .collect::<String>()
            })
            .unwrap_or_else(|| "no content type".into());
        let body = call
            .read_body(resp, MAX_TOKEN_REPLY_BYTES, "token reply")
            .await
            .map_err(|k| TokenError::Fatal(ctx.err(k)))?;
        let protocol = |detail: String| {
            TokenError::Fatal(ctx.err(ErrorKind::Protocol {
                at: Party::TokenServer(realm_name.clone()),
                detail,
            }))
        };
        // Never the body in a message: it may hold a token.
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            protocol(format!(
                "the reply is not token JSON ({content_type}, {} bytes)",
                body.len()
            ))
        })?;
        // Every token the server hands out is a secret from now on, before
        // anything could echo it (the next refresh token is used only
        // later, the access token only as a header).
        for t in [&parsed.refresh_token, &parsed.token, &parsed.access_token]
            .into_iter()
            .flatten()
        {
            crate::redact::register(t);
        }
        // A server that rotates refresh tokens sent the next one: the one
        // just spent is refused from now on.
        if let (Some(latest), Some(next)) = (
            latest.as_mut(),
            parsed.refresh_token.as_ref().filter(|t| !t.is_empty()),
        ) {
            **latest = Some(Secret::new(next.clone()));
            tracing::trace!(target: TARGET, realm = %realm_name, "refresh token replaced by the token server's");
        }
        let (token, ttl) = parsed
            .into_parts()
            .ok_or_else(|| protocol("the reply holds no token".into()))?;
        tracing::trace!(target: TARGET, realm = %realm_name, scope, ttl_secs = ttl.as_secs(), "token received");
        Ok((token, ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth2_error_reply_is_named() {
        assert_eq!(
            oauth_said(
                br#"{"error":"invalid_grant","error_description":"the refresh token has expired"}"#
            ),
            " (invalid_grant: the refresh token has expired)"
        );
        assert_eq!(
            oauth_said(br#"{"error":"invalid_grant"}"#),
            " (invalid_grant)"
        );
        assert_eq!(oauth_said(br#"{"details":"nope"}"#), "");
        assert_eq!(oauth_said(b"<html>"), "");
        assert_eq!(oauth_said(br#"{"error":"a\nb"}"#), " (a\\nb)");
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","refresh_token":"r2"}"#).unwrap();
        assert_eq!(t.refresh_token.as_deref(), Some("r2"));
    }

    #[test]
    fn token_response_variants() {
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        let (tok, ttl) = t.into_parts().unwrap();
        assert_eq!(tok.expose(), "a");
        assert_eq!(ttl, Duration::from_secs(50));
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"t","access_token":"a","expires_in":300}"#).unwrap();
        assert_eq!(t.into_parts().unwrap().0.expose(), "t");
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"t","expires_in":18446744073709551615}"#).unwrap();
        assert_eq!(t.into_parts().unwrap().1, Duration::from_secs(86_390));
        let ttl = |expires_in: &str| {
            let t: TokenResponse =
                serde_json::from_str(&format!(r#"{{"token":"t","expires_in":{expires_in}}}"#))
                    .unwrap();
            t.into_parts().unwrap().1
        };
        assert_eq!(ttl("-5"), Duration::from_secs(50));
        assert_eq!(ttl("1e300"), Duration::from_secs(86_390));
        assert_eq!(ttl("0.5"), Duration::from_secs(50));
        assert_eq!(ttl(r#""300""#), Duration::from_secs(50));
        assert_eq!(ttl("null"), Duration::from_secs(50));
        let t: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(t.into_parts().is_none());
    }
}
