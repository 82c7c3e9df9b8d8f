//! OpenID Connect: JWTs (id tokens and JWT access tokens) checked against a
//! provider's discovery document and JWKS, and the authorization code flow
//! with PKCE for browsers.
//!
//! Discovery uses the `openidconnect` crate (which checks that the document
//! names the configured issuer); signatures and claims are checked with
//! `jsonwebtoken` against a JWKS cache. The cache lives as long as the
//! provider's `Cache-Control`/`Expires` say, never more than
//! `jwks_max_age_secs`, and is refreshed in the background before then, so
//! a key the provider stops listing stops being trusted within that time,
//! whether or not anyone presents a token with a new key. A token naming an
//! unknown key refetches it too, at most once per `jwks_min_refresh_secs`
//! after a success, so a flood of forged tokens cannot hammer the provider;
//! after a failed fetch, retries back off from one second to half a minute.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{ExternalIdentity, FederationError};

/// Longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Retry interval for a failed discovery, so a down provider is not hammered.
const DISCOVERY_RETRY: Duration = Duration::from_secs(1);

pub use crate::LocalMatch;

/// One OpenID provider, as configured under `oidc.providers.<name>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The issuer, exactly as the provider's tokens and discovery name it.
    pub issuer: String,
    pub client_id: String,
    /// Needed by the browser flow (code exchange), not by token validation.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Further accepted `aud` values besides `client_id` (e.g. the resource
    /// of JWT access tokens).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// When set, a token's `azp`, if present, must be one of these.
    #[serde(default)]
    pub allowed_azp: Vec<String>,
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    #[serde(default)]
    pub match_local_user_by: LocalMatch,
    /// With `match_local_user_by: email`, the token must say the address is
    /// verified (`email_verified: true`): otherwise anyone who can set an
    /// unverified e-mail at the provider could take a local account.
    /// Turn it off only for a provider that verifies every address and
    /// does not send the claim.
    #[serde(default = "default_true")]
    pub require_email_verified: bool,
    /// Signature algorithms accepted; HMAC and `none` never are.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh_secs: u64,
    /// Longest a fetched JWKS is trusted (the provider's cache headers may
    /// shorten it): a key removed at the provider is refused within this.
    #[serde(default = "default_jwks_max_age")]
    pub jwks_max_age_secs: u64,
    /// While the provider cannot be reached, keys past their age still serve
    /// for this long (and a warning is logged); then tokens get 503.
    #[serde(default = "default_jwks_stale_if_error")]
    pub jwks_stale_if_error_secs: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// PEM CAs for the provider's HTTPS; without it, the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Claims that must hold a value (or, for lists, contain it).
    #[serde(default)]
    pub required_claims: BTreeMap<String, Value>,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// A token must carry at least one of these groups, when set.
    #[serde(default)]
    pub required_groups: Vec<String>,
    /// Group → policy name: the policy's ACLs are added to the token.
    #[serde(default)]
    pub group_policies: BTreeMap<String, String>,
    /// When set, users without a local account get a token with this
    /// policy's ACLs instead of `UserNotFound`.
    #[serde(default)]
    pub auto_provision_policy: Option<String>,
    /// The browser flow's callback URL, as registered at the provider.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

fn default_true() -> bool {
    true
}

fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_algorithms() -> Vec<String> {
    [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
    ]
    .map(String::from)
    .to_vec()
}
fn default_leeway() -> u64 {
    30
}
fn default_jwks_min_refresh() -> u64 {
    60
}
fn default_jwks_max_age() -> u64 {
    300
}
fn default_jwks_stale_if_error() -> u64 {
    3600
}
fn default_timeout_ms() -> u64 {
    3000
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}

impl OidcProviderConfig {
    /// Check what can be checked offline. Errors name the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if IssuerUrl::new(self.issuer.clone()).is_err()
            || !(self.issuer.starts_with("https://") || self.issuer.starts_with("http://"))
        {
            return Err(("issuer".into(), "must be an http(s) URL".into()));
        }
        if self.client_id.is_empty() {
            return Err(("client_id".into(), "must not be empty".into()));
        }
        if self.algorithms.is_empty() {
            return Err(("algorithms".into(), "must list at least one".into()));
        }
        for alg in &self.algorithms {
            match alg.parse::<Algorithm>() {
                Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
                    return Err((
                        "algorithms".into(),
                        format!("{alg}: HMAC algorithms are refused (the keys are public)"),
                    ));
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(("algorithms".into(), format!("{alg}: unknown algorithm")));
                }
            }
        }
        if self.timeout_ms == 0 {
            return Err(("timeout_ms".into(), "must be positive".into()));
        }
        if self.jwks_max_age_secs == 0 {
            return Err(("jwks_max_age_secs".into(), "must be positive".into()));
        }
        if let Some(uri) = &self.redirect_uri
            && RedirectUrl::new(uri.clone()).is_err()
        {
            return Err(("redirect_uri".into(), "must be a URL".into()));
        }
        Ok(())
    }

    /// What an operator should hear about `audiences` at start-up: an extra
    /// audience without `allowed_azp` accepts the tokens of every client
    /// the provider issues for that audience (Keycloak puts `account` in
    /// the tokens of every client of a realm).
    pub fn audience_warning(&self) -> Option<String> {
        if self.audiences.is_empty() || !self.allowed_azp.is_empty() {
            return None;
        }
        let realm_wide = if self.audiences.iter().any(|a| a == "account") {
            " (`account` is in the tokens of every client of a Keycloak realm)"
        } else {
            ""
        };
        Some(format!(
            "audiences {:?} without allowed_azp: tokens issued to any client for those audiences are accepted{realm_wide}; list the clients allowed in allowed_azp",
            self.audiences
        ))
    }

    fn allowed_algorithms(&self) -> Vec<Algorithm> {
        self.algorithms
            .iter()
            .filter_map(|a| a.parse().ok())
            .filter(|a: &Algorithm| a.family() != jsonwebtoken::AlgorithmFamily::Hmac)
            .collect()
    }
}

/// Shortest wait after a failed JWKS fetch; it doubles with each failure in
/// a row, up to [`JWKS_RETRY_MAX`].
const JWKS_RETRY_MIN: Duration = Duration::from_secs(1);
const JWKS_RETRY_MAX: Duration = Duration::from_secs(30);
/// Longest the background refresher sleeps before it looks again.
const REFRESHER_TICK: Duration = Duration::from_secs(1);

/// What discovery and the JWKS gave, as cached.
#[derive(Default)]
struct Cache {
    metadata: Option<Arc<CoreProviderMetadata>>,
    /// Usable signature keys, as the last successful fetch listed them.
    keys: Arc<Vec<Jwk>>,
    /// When they were fetched, and until when they are trusted.
    fetched: Option<Instant>,
    valid_until: Option<Instant>,
    /// Failed JWKS fetches in a row, and when the last one was.
    failures: u32,
    last_failure: Option<Instant>,
    /// When discovery last failed.
    discovery_failure: Option<Instant>,
}

impl Cache {
    /// The keys, if their age allows them now.
    fn fresh(&self, now: Instant) -> Option<Arc<Vec<Jwk>>> {
        self.valid_until
            .filter(|until| *until > now)
            .map(|_| self.keys.clone())
    }

    /// After failed fetches, when the next one is allowed: one second after
    /// the first failure, doubling with each, at most [`JWKS_RETRY_MAX`].
    fn retry_at(&self) -> Option<Instant> {
        let wait = JWKS_RETRY_MIN
            .saturating_mul(1u32 << self.failures.saturating_sub(1).min(5))
            .min(JWKS_RETRY_MAX);
        self.last_failure.map(|at| at + wait)
    }

    /// Whether a fetch is allowed now, or must wait after failures.
    fn may_retry(&self, now: Instant) -> bool {
        self.retry_at().is_none_or(|at| now >= at)
    }
}

/// How the keys are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Keys within their age (fetched if need be).
    Fresh,
    /// A token named a key the cached set lacks: keys fetched within
    /// `jwks_min_refresh_secs`, fetched now otherwise.
    Recent,
}

/// How long the provider allows a JWKS answer to be cached: `max-age` of
/// `Cache-Control` (0 for `no-store`/`no-cache`), else `Expires` against
/// `Date`. `None` when it says nothing.
fn cache_lifetime(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    use reqwest::header::{CACHE_CONTROL, DATE, EXPIRES};
    if let Some(control) = headers.get(CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
        let mut max_age = None;
        for directive in control.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = lower.strip_prefix("max-age=") {
                max_age = secs.trim_matches('"').parse::<u64>().ok();
            }
        }
        if let Some(secs) = max_age {
            return Some(Duration::from_secs(secs));
        }
    }
    let date = |name| {
        headers
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
    };
    let expires = headers.get(EXPIRES)?;
    let Some(expires) = date(EXPIRES) else {
        // An invalid Expires means "already expired" (RFC 9111, 5.3).
        return expires.to_str().ok().map(|_| Duration::ZERO);
    };
    let now = date(DATE).unwrap_or_else(SystemTime::now);
    Some(expires.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A pending browser login: what the callback needs to finish it.
#[derive(Debug)]
pub struct PendingLogin {
    pub authorize_url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// One provider: its configuration, an HTTP client, and its cached keys.
pub struct OidcProvider {
    pub name: String,
    pub config: OidcProviderConfig,
    http: reqwest::Client,
    cache: RwLock<Cache>,
    /// Serializes fetches: concurrent kid misses wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("name", &self.name)
            .field("issuer", &self.config.issuer)
            .finish()
    }
}

/// The unverified `iss` of a JWT, to pick the provider that checks it.
pub fn peek_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// The unverified header's `alg`, to refuse `none` with a clear message.
fn peek_alg(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// What is checked of a JWT before its signature: its size, its header's
/// shape, and an algorithm among `allowed` (`none` refused by name). The
/// fuzz target `oidc_jwt` drives this with hostile tokens.
pub fn inspect_unverified(
    token: &str,
    allowed: &[Algorithm],
) -> Result<jsonwebtoken::Header, FederationError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(rejected("token too large"));
    }
    if let Some(alg) = peek_alg(token)
        && alg.eq_ignore_ascii_case("none")
    {
        return Err(rejected("unsigned token (alg none)"));
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| rejected(format!("malformed token: {e}")))?;
    if !allowed.contains(&header.alg) {
        return Err(rejected(format!(
            "algorithm {:?} is not allowed",
            header.alg
        )));
    }
    Ok(header)
}

fn rejected(why: impl Into<String>) -> FederationError {
    FederationError::Rejected(why.into())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl OidcProvider {
    pub fn new(name: &str, config: OidcProviderConfig) -> Result<Self, String> {
        config.validate().map_err(|(k, m)| format!("{k}: {m}"))?;
        if let Some(warning) = config.audience_warning() {
            tracing::warn!(provider = name, "{warning}");
        }
        let http = crate::http_client(config.timeout_ms, config.ca_file.as_deref())?;
        Ok(OidcProvider {
            name: name.to_owned(),
            config,
            http,
            cache: RwLock::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn cache(&self) -> parking_lot::RwLockReadGuard<'_, Cache> {
        self.cache.read()
    }

    fn cache_mut(&self) -> parking_lot::RwLockWriteGuard<'_, Cache> {
        self.cache.write()
    }

    /// The discovery document, fetched once (and again after a failure, at
    /// most once per second).
    async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, FederationError> {
        if let Some(m) = self.cache().metadata.clone() {
            return Ok(m);
        }
        let _guard = self.fetching.lock().await;
        {
            let cache = self.cache();
            if let Some(m) = cache.metadata.clone() {
                return Ok(m);
            }
            if cache
                .discovery_failure
                .is_some_and(|at| at.elapsed() < DISCOVERY_RETRY)
            {
                return Err(FederationError::Unavailable(format!(
                    "OpenID provider {} is unreachable (discovery failed just now)",
                    self.config.issuer
                )));
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| FederationError::Unavailable(e.to_string()))?;
        match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                tracing::info!(provider = %self.name, issuer = %self.config.issuer, "OpenID provider discovered");
                let mut cache = self.cache_mut();
                cache.metadata = Some(metadata.clone());
                cache.discovery_failure = None;
                Ok(metadata)
            }
            Err(e) => {
                self.cache_mut().discovery_failure = Some(Instant::now());
                tracing::warn!(provider = %self.name, error = %e, "OpenID discovery failed");
                Err(FederationError::Unavailable(format!(
                    "discovery of {} failed: {e}",
                    self.config.issuer
                )))
            }
        }
    }

    /// The keys to check a token with. `Want::Fresh`: keys within their
    /// age, fetched when they are not. `Want::Recent`: keys fetched within
    /// `jwks_min_refresh_secs`, else fetched now. A fetch that fails gives
    /// 503, never the old keys as if they were the provider's word, except
    /// that keys past their age serve `jwks_stale_if_error_secs` more while
    /// the provider cannot be reached.
    async fn keys(&self, want: Want) -> Result<Arc<Vec<Jwk>>, FederationError> {
        if let Some(keys) = self.cached_keys(want, Instant::now()) {
            return Ok(keys);
        }
        let metadata = self.metadata().await?;
        let _guard = self.fetching.lock().await;
        let now = Instant::now();
        // Another caller may have fetched while this one waited.
        if let Some(keys) = self.cached_keys(want, now) {
            return Ok(keys);
        }
        if !self.cache().may_retry(now) {
            return self.stale_or_unavailable(
                now,
                want,
                "the provider's JWKS could not be fetched just now",
            );
        }
        match self.fetch_keys(&metadata).await {
            Ok(keys) => Ok(keys),
            Err(why) => self.stale_or_unavailable(Instant::now(), want, &why),
        }
    }

    fn cached_keys(&self, want: Want, now: Instant) -> Option<Arc<Vec<Jwk>>> {
        let cache = self.cache();
        let keys = cache.fresh(now)?;
        match want {
            Want::Fresh => Some(keys),
            Want::Recent => {
                let min = Duration::from_secs(self.config.jwks_min_refresh_secs);
                cache
                    .fetched
                    .filter(|at| now.saturating_duration_since(*at) < min)
                    .map(|_| keys)
            }
        }
    }

    /// After a failed or postponed fetch: keys that are fresh still serve a
    /// token they know (not an unknown key, which the provider may have
    /// just added); keys past their age serve within the stale allowance.
    fn stale_or_unavailable(
        &self,
        now: Instant,
        want: Want,
        why: &str,
    ) -> Result<Arc<Vec<Jwk>>, FederationError> {
        let cache = self.cache();
        let grace = Duration::from_secs(self.config.jwks_stale_if_error_secs);
        if want == Want::Fresh
            && !cache.keys.is_empty()
            && let Some(until) = cache.valid_until
            && now < until + grace
        {
            if now >= until {
                tracing::warn!(provider = %self.name, why, "OpenID provider unreachable: checking tokens with keys past their age");
            }
            return Ok(cache.keys.clone());
        }
        Err(FederationError::Unavailable(format!(
            "the JWKS of {} is unavailable: {why}",
            self.config.issuer
        )))
    }

    /// Fetch the JWKS and put it in the cache (the caller holds `fetching`).
    async fn fetch_keys(&self, metadata: &CoreProviderMetadata) -> Result<Arc<Vec<Jwk>>, String> {
        let uri = metadata.jwks_uri().url().clone();
        let fetched = async {
            let response = self.http.get(uri).send().await?.error_for_status()?;
            let lifetime = cache_lifetime(response.headers());
            Ok::<_, reqwest::Error>((response.json::<Value>().await?, lifetime))
        }
        .await;
        let now = Instant::now();
        let mut cache = self.cache_mut();
        match fetched {
            Ok((document, lifetime)) => {
                let keys = usable_keys(&document);
                let max_age = Duration::from_secs(self.config.jwks_max_age_secs);
                let floor = Duration::from_secs(self.config.jwks_min_refresh_secs).min(max_age);
                let age = lifetime.unwrap_or(max_age).clamp(floor, max_age);
                tracing::info!(provider = %self.name, keys = keys.len(), age_secs = age.as_secs(), "JWKS fetched");
                cache.keys = Arc::new(keys);
                cache.fetched = Some(now);
                cache.valid_until = Some(now + age);
                cache.failures = 0;
                cache.last_failure = None;
                Ok(cache.keys.clone())
            }
            Err(e) => {
                cache.failures = cache.failures.saturating_add(1);
                cache.last_failure = Some(now);
                tracing::warn!(provider = %self.name, error = %e, failures = cache.failures, "JWKS fetch failed");
                Err(e.to_string())
            }
        }
    }

    /// How long until the cached keys should be fetched again: at three
    /// quarters of their age, or soon after a failure; `None` when no key
    /// was ever fetched (nothing to keep fresh).
    fn next_refresh_in(&self, now: Instant) -> Option<Duration> {
        let cache = self.cache();
        let (fetched, until) = (cache.fetched?, cache.valid_until?);
        let at = cache
            .retry_at()
            .unwrap_or_else(|| fetched + until.saturating_duration_since(fetched).mul_f64(0.75));
        Some(at.saturating_duration_since(now))
    }

    /// Refetch the keys if they are due (the background refresher).
    async fn refresh_if_due(&self) {
        if self.next_refresh_in(Instant::now()) != Some(Duration::ZERO) {
            return;
        }
        let Ok(metadata) = self.metadata().await else {
            return;
        };
        let _guard = self.fetching.lock().await;
        if self.next_refresh_in(Instant::now()) == Some(Duration::ZERO)
            && self.cache().may_retry(Instant::now())
        {
            let _ = self.fetch_keys(&metadata).await;
        }
    }

    /// Keep this provider's keys fresh in the background: before they reach
    /// their age, they are fetched again, so that checks seldom wait for a
    /// fetch and a key the provider dropped is dropped here. The task ends
    /// when the provider is dropped (a configuration reload). Outside a
    /// Tokio runtime, nothing is started; keys are then fetched on use.
    pub fn spawn_refresher(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let provider = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                // At most a second asleep: a fetch made meanwhile by a
                // check (the first one, or after an unknown key) moves the
                // schedule, and a dropped provider ends the task soon.
                let wait = match provider.upgrade() {
                    Some(p) => p
                        .next_refresh_in(Instant::now())
                        .unwrap_or(REFRESHER_TICK)
                        .min(REFRESHER_TICK),
                    None => return,
                };
                tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
                match provider.upgrade() {
                    Some(p) => p.refresh_if_due().await,
                    None => return,
                }
            }
        });
    }

    /// Check a JWT (id token or JWT access token) and return its claims.
    pub async fn verify_claims(&self, token: &str) -> Result<Map<String, Value>, FederationError> {
        let header = inspect_unverified(token, &self.config.allowed_algorithms())?;
        let mut keys = self.keys(Want::Fresh).await?;
        let mut key = pick_key(&keys, header.kid.as_deref(), header.alg);
        if key.is_none() {
            // An unknown key: the provider may have added one. Refused only
            // on the word of a JWKS fetched just now; unavailable when the
            // provider cannot say.
            keys = self.keys(Want::Recent).await?;
            key = pick_key(&keys, header.kid.as_deref(), header.alg);
        }
        let jwk = key.ok_or_else(|| rejected("signed with an unknown key"))?;
        let decoding =
            DecodingKey::from_jwk(jwk).map_err(|e| rejected(format!("unusable key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.config.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[self.config.issuer.as_str()]);
        let mut audiences = vec![self.config.client_id.as_str()];
        audiences.extend(self.config.audiences.iter().map(String::as_str));
        validation.set_audience(&audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation)
            .map_err(|e| rejected(format!("invalid token: {e}")))?;
        let claims = data.claims;
        if let Some(iat) = claims.get("iat").and_then(Value::as_u64)
            && iat > now_secs() + self.config.leeway_secs
        {
            return Err(rejected("issued in the future"));
        }
        let azp = claims.get("azp").and_then(Value::as_str);
        // OpenID Connect Core 3.1.3.7: a token for several audiences must
        // say which client it was issued to.
        if claims
            .get("aud")
            .and_then(Value::as_array)
            .is_some_and(|aud| aud.len() > 1)
            && azp.is_none()
        {
            return Err(rejected(
                "a token for several audiences without an azp (authorized party) claim",
            ));
        }
        if !self.config.allowed_azp.is_empty()
            && let Some(azp) = azp
            && !self.config.allowed_azp.iter().any(|a| a == azp)
        {
            return Err(rejected(format!("authorized party {azp:?} is not allowed")));
        }
        if self.config.match_local_user_by == LocalMatch::Email
            && self.config.require_email_verified
            && !matches!(claims.get("email_verified"), Some(Value::Bool(true)))
            && claims.get("email_verified").and_then(Value::as_str) != Some("true")
        {
            return Err(rejected(
                "the provider does not say the e-mail address is verified (email_verified)",
            ));
        }
        for (name, expected) in &self.config.required_claims {
            if !claim_holds(claims.get(name), expected) {
                return Err(rejected(format!(
                    "claim {name:?} does not hold the required value"
                )));
            }
        }
        if !self.config.required_groups.is_empty() {
            let groups = groups_of(&claims, &self.config.groups_claim);
            if !self
                .config
                .required_groups
                .iter()
                .any(|g| groups.contains(g))
            {
                return Err(rejected("none of the required groups"));
            }
        }
        Ok(claims)
    }

    /// Check a JWT and say whom it identifies (the username claim).
    pub async fn verify(&self, token: &str) -> Result<ExternalIdentity, FederationError> {
        let claims = self.verify_claims(token).await?;
        let subject = claims
            .get(&self.config.username_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                rejected(format!(
                    "the token has no {:?} claim",
                    self.config.username_claim
                ))
            })?
            .to_owned();
        Ok(ExternalIdentity {
            source: "oidc",
            issuer: self.config.issuer.clone(),
            subject,
            attributes: claims,
        })
    }

    /// The groups a verified token's claims name.
    pub fn groups(&self, claims: &Map<String, Value>) -> Vec<String> {
        groups_of(claims, &self.config.groups_claim)
    }

    fn client(
        &self,
        metadata: &CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        FederationError,
    > {
        let redirect = self.config.redirect_uri.clone().ok_or_else(|| {
            FederationError::Unavailable("the provider has no redirect_uri configured".into())
        })?;
        let redirect =
            RedirectUrl::new(redirect).map_err(|e| FederationError::Unavailable(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Start a browser login: the provider's authorization URL with a fresh
    /// state, nonce and PKCE (S256) challenge.
    pub async fn begin_login(&self) -> Result<PendingLogin, FederationError> {
        let metadata = self.metadata().await?;
        let client = self.client(&metadata)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.config.scopes {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(PendingLogin {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finish a browser login: trade the code (with the PKCE verifier) for
    /// tokens, and check the id token, including its nonce.
    pub async fn finish_login(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<ExternalIdentity, FederationError> {
        let metadata = self.metadata().await?;
        let client = self.client(&metadata)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| FederationError::Unavailable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    rejected(format!("the provider refused the code: {}", r.error()))
                }
                other => FederationError::Unavailable(format!("code exchange failed: {other}")),
            })?;
        use openidconnect::TokenResponse;
        let id_token = response
            .id_token()
            .ok_or_else(|| rejected("the provider returned no id_token"))?
            .to_string();
        let identity = self.verify(&id_token).await?;
        let token_nonce = identity.attributes.get("nonce").and_then(Value::as_str);
        if token_nonce != Some(nonce) {
            return Err(rejected("the id_token's nonce does not match"));
        }
        Ok(identity)
    }
}

/// The keys of a JWKS document that can check signatures: not `enc` keys,
/// not symmetric keys, and each parsed on its own so one odd key does not
/// spoil the set.
fn usable_keys(document: &Value) -> Vec<Jwk> {
    document
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
                .filter(|k| {
                    matches!(
                        k.algorithm,
                        AlgorithmParameters::RSA(_)
                            | AlgorithmParameters::EllipticCurve(_)
                            | AlgorithmParameters::OctetKeyPair(_)
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The key a token names: by `kid`, or, without one, the only key of the
/// algorithm's family. A key that states its own `alg` must agree.
fn pick_key<'a>(keys: &'a [Jwk], kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let fits = |k: &&Jwk| {
        let family_ok = matches!(
            (&k.algorithm, alg.family()),
            (
                AlgorithmParameters::RSA(_),
                jsonwebtoken::AlgorithmFamily::Rsa
            ) | (
                AlgorithmParameters::EllipticCurve(_),
                jsonwebtoken::AlgorithmFamily::Ec
            ) | (
                AlgorithmParameters::OctetKeyPair(_),
                jsonwebtoken::AlgorithmFamily::Ed
            )
        );
        let alg_ok = k
            .common
            .key_algorithm
            .and_then(|ka| ka.to_string().parse::<Algorithm>().ok())
            .is_none_or(|ka| ka == alg);
        family_ok && alg_ok
    };
    match kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .find(fits),
        None => {
            let mut candidates = keys.iter().filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }
}

fn claim_holds(value: Option<&Value>, expected: &Value) -> bool {
    match (value, expected) {
        (None, _) => false,
        (Some(Value::Array(items)), Value::Array(wanted)) => {
            wanted.iter().all(|w| items.contains(w))
        }
        (Some(Value::Array(items)), scalar) => items.contains(scalar),
        (Some(v), expected) => v == expected,
    }
}

fn groups_of(claims: &Map<String, Value>, claim: &str) -> Vec<String> {
    match claims.get(claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// All configured providers, picked by the token's issuer.
#[derive(Debug, Default)]
pub struct OidcProviders {
    by_issuer: HashMap<String, Arc<OidcProvider>>,
    by_name: BTreeMap<String, Arc<OidcProvider>>,
}

impl OidcProviders {
    pub fn new(providers: Vec<OidcProvider>) -> Result<Self, String> {
        let mut all = OidcProviders::default();
        for provider in providers {
            let provider = Arc::new(provider);
            provider.spawn_refresher();
            if all
                .by_issuer
                .insert(provider.config.issuer.clone(), provider.clone())
                .is_some()
            {
                return Err(format!(
                    "two providers have the issuer {}",
                    provider.config.issuer
                ));
            }
            all.by_name.insert(provider.name.clone(), provider);
        }
        Ok(all)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The provider, when there is exactly one.
    pub fn only(&self) -> Option<&Arc<OidcProvider>> {
        let mut all = self.by_name.values();
        match (all.next(), all.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<OidcProvider>> {
        self.by_name.get(name)
    }

    /// The provider whose issuer the token claims (checked again, with the
    /// signature, by that provider).
    pub fn for_token(&self, token: &str) -> Result<&Arc<OidcProvider>, FederationError> {
        let issuer = peek_issuer(token).ok_or_else(|| rejected("malformed token (no issuer)"))?;
        self.by_issuer
            .get(&issuer)
            .ok_or_else(|| rejected(format!("no configured provider has the issuer {issuer:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    fn config() -> OidcProviderConfig {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://op.example.org",
            "client_id": "sesame",
        }))
        .unwrap()
    }

    #[test]
    fn defaults_and_validation() {
        let c = config();
        assert_eq!(c.username_claim, "preferred_username");
        assert_eq!(c.leeway_secs, 30);
        assert!(c.validate().is_ok());
        let hs = OidcProviderConfig {
            algorithms: vec!["RS256".into(), "HS256".into()],
            ..config()
        };
        assert_eq!(hs.validate().unwrap_err().0, "algorithms");
        let none = OidcProviderConfig {
            algorithms: vec!["none".into()],
            ..config()
        };
        assert_eq!(none.validate().unwrap_err().0, "algorithms");
        let bad = OidcProviderConfig {
            issuer: "op.example.org".into(),
            ..config()
        };
        assert_eq!(bad.validate().unwrap_err().0, "issuer");
    }

    #[test]
    fn the_issuer_and_alg_are_peeked_without_trusting_them() {
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"iss": "https://op.example.org", "sub": "x"}),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert_eq!(
            peek_issuer(&token).as_deref(),
            Some("https://op.example.org")
        );
        assert_eq!(peek_alg(&token).as_deref(), Some("HS256"));
        assert_eq!(peek_issuer("a.b.c"), None);
    }

    #[test]
    fn keys_are_picked_by_kid_and_family() {
        let document = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "weird"}
        ]});
        let keys = usable_keys(&document);
        assert_eq!(keys.len(), 2, "enc, oct and unknown keys are dropped");
        assert!(pick_key(&keys, Some("r1"), Algorithm::RS256).is_some());
        assert!(
            pick_key(&keys, Some("r1"), Algorithm::RS384).is_none(),
            "the key states RS256"
        );
        assert!(pick_key(&keys, Some("r1"), Algorithm::ES256).is_none());
        assert!(pick_key(&keys, Some("sym"), Algorithm::RS256).is_none());
        assert!(pick_key(&keys, None, Algorithm::ES256).is_some());
        assert!(pick_key(&keys, Some("nope"), Algorithm::RS256).is_none());
    }

    #[test]
    fn required_claims_and_groups() {
        assert!(claim_holds(
            Some(&serde_json::json!("x")),
            &serde_json::json!("x")
        ));
        assert!(claim_holds(
            Some(&serde_json::json!(["a", "b"])),
            &serde_json::json!("b")
        ));
        assert!(!claim_holds(
            Some(&serde_json::json!(["a"])),
            &serde_json::json!(["a", "b"])
        ));
        assert!(!claim_holds(None, &serde_json::json!(true)));
        let claims = serde_json::json!({"groups": ["admins", 3], "role": "ops"});
        let claims = claims.as_object().unwrap();
        assert_eq!(groups_of(claims, "groups"), vec!["admins"]);
        assert_eq!(groups_of(claims, "role"), vec!["ops"]);
        assert!(groups_of(claims, "none").is_empty());
    }

    #[test]
    fn several_providers_are_told_apart_by_issuer() {
        let provider = |name: &str, issuer: &str| {
            OidcProvider::new(
                name,
                OidcProviderConfig {
                    issuer: issuer.into(),
                    ..config()
                },
            )
            .unwrap()
        };
        let all = OidcProviders::new(vec![
            provider("corp", "https://sso.corp.example"),
            provider("partner", "https://login.partner.example/v2.0"),
        ])
        .unwrap();
        let token = |iss: &str| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &serde_json::json!({"iss": iss}),
                &EncodingKey::from_secret(b"k"),
            )
            .unwrap()
        };
        assert_eq!(
            all.for_token(&token("https://sso.corp.example"))
                .unwrap()
                .name,
            "corp"
        );
        assert_eq!(
            all.for_token(&token("https://login.partner.example/v2.0"))
                .unwrap()
                .name,
            "partner"
        );
        assert!(
            all.for_token(&token("https://sso.corp.example/")).is_err(),
            "exact match only"
        );
        assert!(all.for_token("garbage").is_err());
        assert!(all.only().is_none(), "two providers: none is implied");
        assert!(
            OidcProviders::new(vec![
                provider("a", "https://x.example"),
                provider("b", "https://x.example")
            ])
            .is_err(),
            "one issuer, one provider"
        );
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_unavailable() {
        let provider = OidcProvider::new(
            "test",
            OidcProviderConfig {
                issuer: "http://127.0.0.1:1".into(),
                timeout_ms: 500,
                ..config()
            },
        )
        .unwrap();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"iss": "http://127.0.0.1:1"}),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        // HS256 is refused before any fetch.
        assert!(matches!(
            provider.verify(&token).await,
            Err(FederationError::Rejected(_))
        ));
        let mut header = Header::new(Algorithm::HS256);
        header.alg = Algorithm::RS256;
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"iss":"http://127.0.0.1:1"}"#)
        );
        assert!(matches!(
            provider.verify(&unsigned).await,
            Err(FederationError::Unavailable(_))
        ));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"iss":"http://127.0.0.1:1"}"#)
        );
        assert!(matches!(
            provider.verify(&none).await,
            Err(FederationError::Rejected(_))
        ));
    }

    #[test]
    fn an_audience_without_allowed_azp_is_warned_about() {
        assert!(config().audience_warning().is_none());
        let keycloak = OidcProviderConfig {
            audiences: vec!["account".into()],
            ..config()
        };
        assert!(
            keycloak
                .audience_warning()
                .is_some_and(|w| w.contains("Keycloak"))
        );
        let narrowed = OidcProviderConfig {
            allowed_azp: vec!["uc-app".into()],
            ..keycloak
        };
        assert!(narrowed.audience_warning().is_none());
    }

    #[test]
    fn the_providers_cache_headers_set_the_age() {
        use reqwest::header::{CACHE_CONTROL, DATE, EXPIRES, HeaderMap, HeaderValue};
        let headers = |pairs: &[(reqwest::header::HeaderName, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(name.clone(), HeaderValue::from_static(value));
            }
            map
        };
        let secs = |h: &HeaderMap| cache_lifetime(h).map(|d| d.as_secs());
        assert_eq!(secs(&headers(&[])), None);
        assert_eq!(
            secs(&headers(&[(CACHE_CONTROL, "public, max-age=120")])),
            Some(120)
        );
        assert_eq!(secs(&headers(&[(CACHE_CONTROL, "no-store")])), Some(0));
        assert_eq!(
            secs(&headers(&[(CACHE_CONTROL, "max-age=60, no-cache")])),
            Some(0)
        );
        assert_eq!(
            secs(&headers(&[
                (DATE, "Tue, 01 Dec 2026 10:00:00 GMT"),
                (EXPIRES, "Tue, 01 Dec 2026 10:10:00 GMT"),
            ])),
            Some(600)
        );
        assert_eq!(
            secs(&headers(&[(EXPIRES, "0")])),
            Some(0),
            "invalid: expired"
        );
        assert_eq!(
            secs(&headers(&[
                (CACHE_CONTROL, "max-age=30"),
                (EXPIRES, "Tue, 01 Dec 2026 10:10:00 GMT"),
            ])),
            Some(30),
            "max-age wins over Expires"
        );
    }

    /// Keys made for this test only (P-256), and their public halves.
    const KEY_1: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXYJ1PUTkidLVnUn4
USuyruFELPyG0vJHBv4wGJnutUWhRANCAAQbLUprGHbViV82mXx1YnY9Fue3SJFQ
RZzzo4W6gwYLNN5o/3kjTUElRsqQucQra9AXfX+fiAf0JjaO/9oyCueG
-----END PRIVATE KEY-----";
    const KEY_2: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1sbYnPpUkrIFG4xJ
uaaTEaxxyEEyLJvRYnTWtEwEIx+hRANCAASKa1OatB6L7voI3/PjvtzBokF5pv/j
eyXtk9VZHiu/OlRX7Uk/9EdXwLVgi+zmQx5AlufpY9Ne1PJZQLvFzIIq
-----END PRIVATE KEY-----";

    fn public_jwk(kid: &str) -> Value {
        let (x, y) = match kid {
            "k1" => (
                "Gy1Kaxh21YlfNpl8dWJ2PRbnt0iRUEWc86OFuoMGCzQ",
                "3mj_eSNNQSVGypC5xCtr0Bd9f5-IB_QmNo7_2jIK54Y",
            ),
            _ => (
                "imtTmrQei-76CN_z477cwaJBeab_43sl7ZPVWR4rvzo",
                "VFftST_0R1fAtWCL7OZDHkCW5-lj017U8llAu8XMgio",
            ),
        };
        serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256", "x": x, "y": y})
    }

    /// What the stub provider answers for its JWKS.
    struct Stub {
        jwks: Value,
        cache_control: Option<&'static str>,
        up: bool,
        fetches: usize,
    }

    /// A minimal provider on loopback: discovery and a JWKS that the test
    /// changes as it goes (unit-test stub; the oidc e2e suite runs a real one).
    async fn stub_provider(stub: Arc<std::sync::Mutex<Stub>>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let base = issuer.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let stub = stub.clone();
                let base = base.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let (status, body, extra) = {
                        let mut stub = stub.lock().unwrap();
                        if path.ends_with("/.well-known/openid-configuration") {
                            let doc = serde_json::json!({
                                "issuer": base,
                                "authorization_endpoint": format!("{base}/auth"),
                                "jwks_uri": format!("{base}/jwks"),
                                "response_types_supported": ["code"],
                                "subject_types_supported": ["public"],
                                "id_token_signing_alg_values_supported": ["ES256"],
                            });
                            ("200 OK", doc.to_string(), String::new())
                        } else if !stub.up {
                            ("503 Service Unavailable", "{}".to_owned(), String::new())
                        } else {
                            stub.fetches += 1;
                            let extra = stub
                                .cache_control
                                .map(|c| format!("Cache-Control: {c}\r\n"))
                                .unwrap_or_default();
                            ("200 OK", stub.jwks.to_string(), extra)
                        }
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        issuer
    }

    fn pkcs8_der(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }

    fn signed(issuer: &str, pem: &str, kid: &str) -> String {
        signed_with(issuer, pem, kid, serde_json::json!({}))
    }

    /// A token with the usual claims, `extra` added or replacing them.
    fn signed_with(issuer: &str, pem: &str, kid: &str, extra: Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        let now = now_secs();
        let mut claims = serde_json::json!({"iss": issuer, "aud": "sesame", "sub": "alice",
            "preferred_username": "alice", "iat": now, "exp": now + 300});
        if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            claims.extend(extra.clone());
        }
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&pkcs8_der(pem))).unwrap()
    }

    #[tokio::test]
    async fn several_audiences_need_azp_and_e_mail_matches_need_email_verified() {
        let stub = Arc::new(std::sync::Mutex::new(Stub {
            jwks: serde_json::json!({"keys": [public_jwk("k1")]}),
            cache_control: None,
            up: true,
            fetches: 0,
        }));
        let issuer = stub_provider(stub).await;
        let provider = |by: LocalMatch, require: bool| {
            OidcProvider::new(
                "stub",
                OidcProviderConfig {
                    issuer: issuer.clone(),
                    algorithms: vec!["ES256".into()],
                    username_claim: "email".into(),
                    match_local_user_by: by,
                    require_email_verified: require,
                    ..config()
                },
            )
            .unwrap()
        };
        let token = |extra: Value| signed_with(&issuer, KEY_1, "k1", extra);
        let by_login = provider(LocalMatch::Login, true);
        let email = serde_json::json!({"email": "alice@example.org"});
        assert!(by_login.verify(&token(email.clone())).await.is_ok());
        let two = serde_json::json!({"email": "a@x", "aud": ["sesame", "other-api"]});
        assert!(
            matches!(by_login.verify(&token(two)).await, Err(FederationError::Rejected(m)) if m.contains("azp")),
            "several audiences, no azp"
        );
        let two_azp =
            serde_json::json!({"email": "a@x", "aud": ["sesame", "other-api"], "azp": "sesame"});
        assert!(by_login.verify(&token(two_azp)).await.is_ok());

        let by_email = provider(LocalMatch::Email, true);
        for unverified in [
            serde_json::json!({"email": "alice@example.org"}),
            serde_json::json!({"email": "alice@example.org", "email_verified": false}),
            serde_json::json!({"email": "alice@example.org", "email_verified": "yes"}),
        ] {
            assert!(
                matches!(by_email.verify(&token(unverified.clone())).await, Err(FederationError::Rejected(m)) if m.contains("email_verified")),
                "{unverified}"
            );
        }
        for verified in [
            serde_json::json!({"email": "alice@example.org", "email_verified": true}),
            serde_json::json!({"email": "alice@example.org", "email_verified": "true"}),
        ] {
            assert!(by_email.verify(&token(verified)).await.is_ok());
        }
        let trusting = provider(LocalMatch::Email, false);
        assert!(trusting.verify(&token(email)).await.is_ok(), "turned off");
    }

    #[tokio::test]
    async fn a_key_retired_at_the_provider_is_refused_within_the_maximum_age() {
        let stub = Arc::new(std::sync::Mutex::new(Stub {
            jwks: serde_json::json!({"keys": [public_jwk("k1")]}),
            cache_control: Some("max-age=86400"),
            up: true,
            fetches: 0,
        }));
        let issuer = stub_provider(stub.clone()).await;
        let provider = Arc::new(
            OidcProvider::new(
                "stub",
                OidcProviderConfig {
                    issuer: issuer.clone(),
                    algorithms: vec!["ES256".into()],
                    jwks_min_refresh_secs: 1,
                    jwks_max_age_secs: 1,
                    jwks_stale_if_error_secs: 60,
                    ..config()
                },
            )
            .unwrap(),
        );
        provider.spawn_refresher();
        let old = signed(&issuer, KEY_1, "k1");
        assert_eq!(provider.verify(&old).await.unwrap().subject, "alice");

        // The provider retires k1 (a day's max-age notwithstanding, the
        // configured maximum of one second holds). Nobody presents a k2
        // token: the background refresh alone must drop k1.
        stub.lock().unwrap().jwks = serde_json::json!({"keys": [public_jwk("k2")]});
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let fetched = stub.lock().unwrap().fetches;
        assert!(
            fetched >= 2,
            "refreshed in the background ({fetched} fetches)"
        );
        assert!(
            matches!(
                provider.verify(&old).await,
                Err(FederationError::Rejected(_))
            ),
            "the retired key is refused"
        );
        assert!(provider.verify(&signed(&issuer, KEY_2, "k2")).await.is_ok());

        // The provider goes down. Known keys serve within the stale
        // allowance; an unknown key cannot be judged: 503, not 401; and the
        // retries back off instead of following every token.
        stub.lock().unwrap().up = false;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(provider.verify(&signed(&issuer, KEY_2, "k2")).await.is_ok());
        let before = stub.lock().unwrap().fetches;
        for _ in 0..10 {
            let unknown = signed(&issuer, KEY_1, "k3");
            assert!(
                matches!(
                    provider.verify(&unknown).await,
                    Err(FederationError::Unavailable(_))
                ),
                "an unknown key while the JWKS cannot be fetched is unavailable"
            );
        }
        assert_eq!(
            stub.lock().unwrap().fetches,
            before,
            "failed fetches are not counted by the stub"
        );

        // Back up: the background refresh fetches again by itself, after
        // the short retry wait (not the minimum refresh interval of a
        // success), and the unknown key is judged again.
        stub.lock().unwrap().up = true;
        let before = stub.lock().unwrap().fetches;
        // The failures in a row have pushed the next retry up to 4 s away.
        for _ in 0..60 {
            if stub.lock().unwrap().fetches > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            stub.lock().unwrap().fetches > before,
            "the refresher retried after the failures, by itself"
        );
        assert!(matches!(
            provider.verify(&signed(&issuer, KEY_1, "k3")).await,
            Err(FederationError::Rejected(_))
        ));
    }
}
