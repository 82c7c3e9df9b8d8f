//! OpenID Connect: JWTs (id tokens and JWT access tokens) checked against a
//! provider's discovery document and JWKS, and the authorization code flow
//! with PKCE for browsers.
//!
//! Discovery uses the `openidconnect` crate (which checks that the document
//! names the configured issuer); signatures and claims are checked with
//! `jsonwebtoken` against a JWKS cache that is refetched when a token names
//! an unknown key, at most once per `jwks_min_refresh_secs`, so a flood of
//! forged tokens cannot hammer the provider.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
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

/// How a provider's users are found among the local users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalMatch {
    /// The username claim is a local login.
    #[default]
    Login,
    /// The username claim is an e-mail of a local UC user.
    Email,
}

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
    /// Signature algorithms accepted; HMAC and `none` never are.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh_secs: u64,
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
        if let Some(uri) = &self.redirect_uri
            && RedirectUrl::new(uri.clone()).is_err()
        {
            return Err(("redirect_uri".into(), "must be a URL".into()));
        }
        Ok(())
    }

    fn allowed_algorithms(&self) -> Vec<Algorithm> {
        self.algorithms
            .iter()
            .filter_map(|a| a.parse().ok())
            .filter(|a: &Algorithm| a.family() != jsonwebtoken::AlgorithmFamily::Hmac)
            .collect()
    }
}

/// What discovery and the JWKS gave, as cached.
#[derive(Default)]
struct Cache {
    metadata: Option<Arc<CoreProviderMetadata>>,
    /// Usable signature keys.
    keys: Arc<Vec<Jwk>>,
    /// When the JWKS was last fetched (successfully or not).
    jwks_attempt: Option<Instant>,
    /// When discovery last failed.
    discovery_failure: Option<Instant>,
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
        let http = crate::http_client(config.timeout_ms, config.ca_file.as_deref())?;
        Ok(OidcProvider {
            name: name.to_owned(),
            config,
            http,
            cache: RwLock::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        match self.cache.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        match self.cache.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
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

    /// Fetch the JWKS if it was never fetched, or if `force` and the last
    /// attempt is older than the refresh interval. Returns the keys to use.
    async fn keys(&self, force: bool) -> Result<Arc<Vec<Jwk>>, FederationError> {
        let min_interval = Duration::from_secs(self.config.jwks_min_refresh_secs);
        // The cached keys serve unless a refresh is forced and the last
        // attempt is older than the refresh interval.
        let usable = |cache: &Cache| {
            !cache.keys.is_empty()
                && (!force
                    || cache
                        .jwks_attempt
                        .is_some_and(|at| at.elapsed() < min_interval))
        };
        {
            let cache = self.cache();
            if usable(&cache) {
                return Ok(cache.keys.clone());
            }
        }
        let metadata = self.metadata().await?;
        let _guard = self.fetching.lock().await;
        {
            // Another caller may have fetched while this one waited.
            let cache = self.cache();
            if usable(&cache) {
                return Ok(cache.keys.clone());
            }
            if cache.keys.is_empty()
                && cache
                    .jwks_attempt
                    .is_some_and(|at| at.elapsed() < DISCOVERY_RETRY)
            {
                return Err(FederationError::Unavailable(
                    "the provider's JWKS is unreachable (fetch failed just now)".into(),
                ));
            }
        }
        let uri = metadata.jwks_uri().url().clone();
        let fetched = async {
            let response = self
                .http
                .get(uri.clone())
                .send()
                .await?
                .error_for_status()?;
            response.json::<Value>().await
        }
        .await;
        let mut cache = self.cache_mut();
        cache.jwks_attempt = Some(Instant::now());
        match fetched {
            Ok(document) => {
                let keys = usable_keys(&document);
                tracing::info!(provider = %self.name, keys = keys.len(), "JWKS fetched");
                cache.keys = Arc::new(keys);
                Ok(cache.keys.clone())
            }
            Err(e) => {
                tracing::warn!(provider = %self.name, error = %e, "JWKS fetch failed");
                if cache.keys.is_empty() {
                    Err(FederationError::Unavailable(format!(
                        "the JWKS of {} is unreachable: {e}",
                        self.config.issuer
                    )))
                } else {
                    Ok(cache.keys.clone())
                }
            }
        }
    }

    /// Check a JWT (id token or JWT access token) and return its claims.
    pub async fn verify_claims(&self, token: &str) -> Result<Map<String, Value>, FederationError> {
        let header = inspect_unverified(token, &self.config.allowed_algorithms())?;
        let mut keys = self.keys(false).await?;
        let mut key = pick_key(&keys, header.kid.as_deref(), header.alg);
        if key.is_none() {
            // An unknown key: the provider may have rotated its keys.
            keys = self.keys(true).await?;
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
        if !self.config.allowed_azp.is_empty()
            && let Some(azp) = claims.get("azp").and_then(Value::as_str)
            && !self.config.allowed_azp.iter().any(|a| a == azp)
        {
            return Err(rejected(format!("authorized party {azp:?} is not allowed")));
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
}
