//! External credentials turned into identities: a proof checked by the
//! `sesame-federation` crate yields an external identity, which is mapped
//! here to a local user (or, when configured, provisioned from a policy).
//! Also the browser logins between their start and the callback, whose
//! state the browser keeps, sealed (see [`crate::browser_state`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use sesame_backends::local::{AccountKind, LocalDirectory, identity_of};
use sesame_federation::cas::{CasClient, CasConfig};
use sesame_federation::kerberos::{KerberosConfig, KerberosVerifier};
use sesame_federation::oidc::{LocalMatch, OidcProvider, OidcProviders};
use sesame_federation::once::SeenOnce;
use sesame_federation::websession::{WebSessionConfig, WebSessionVerifier};
use sesame_federation::{ExternalIdentity, FederationError};

use crate::auth::Identity;
use crate::browser_state::{SealError, Sealer};
use crate::store::TokenKey;

/// The `oidc` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    #[serde(default)]
    pub providers: BTreeMap<String, sesame_federation::oidc::OidcProviderConfig>,
    /// Where the browser flow may hand its token over: exact URLs.
    #[serde(default)]
    pub allowed_redirects: Vec<String>,
    /// Seconds a browser has to come back from the provider.
    #[serde(default = "default_login_timeout")]
    pub login_timeout_secs: u64,
}

fn default_login_timeout() -> u64 {
    300
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            providers: BTreeMap::new(),
            allowed_redirects: Vec::new(),
            login_timeout_secs: default_login_timeout(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FederatedError {
    /// The proof is invalid (bad signature, expired, wrong audience...).
    #[error("{0}")]
    Invalid(String),
    /// A valid proof for someone who has no local account.
    #[error("no local user for {0:?}")]
    UserNotFound(String),
    /// The provider (or something needed to check the proof) is out of reach.
    #[error("{0}")]
    Unavailable(String),
    /// A CAS ticket for a service that is not in the allow-list.
    #[error("service not allowed: {0}")]
    ServiceNotAllowed(String),
    /// A request Sesame will not serve (unknown provider, redirect not allowed).
    #[error("{0}")]
    BadRequest(String),
}

impl From<FederationError> for FederatedError {
    fn from(e: FederationError) -> Self {
        match e {
            FederationError::Rejected(m) => FederatedError::Invalid(m),
            FederationError::Unavailable(m) => FederatedError::Unavailable(m),
        }
    }
}

/// An OpenID browser login between its start and its callback, as sealed
/// into the browser's state cookie.
#[derive(serde::Serialize, serde::Deserialize)]
struct OidcPending {
    /// The `state` the provider sends back, which must match.
    state: String,
    provider: String,
    redirect: String,
    nonce: String,
    pkce_verifier: String,
}

/// A CAS browser login between its start and its callback.
#[derive(serde::Serialize, serde::Deserialize)]
struct CasPending {
    state: String,
    redirect: String,
}

const OIDC_FLOW: &str = "oidc-browser-login";
/// Most browser-login states remembered as used.
const MAX_USED_STATES: usize = 100_000;
const CAS_FLOW: &str = "cas-browser-login";

impl From<SealError> for FederatedError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::Internal(m) => FederatedError::Unavailable(m),
            e => {
                tracing::info!(why = %e, "browser login callback with a state cookie that does not open");
                FederatedError::Invalid(e.to_string())
            }
        }
    }
}

/// Where a browser login starts: the provider's URL, the cookie that binds
/// the login to this browser and carries its state, sealed, and how long
/// the browser has to come back.
#[derive(Debug)]
pub struct BrowserStart {
    pub authorize_url: String,
    pub sealed_state: String,
    pub timeout: Duration,
}

/// External credential checks and their mapping to local users.
pub struct Federated {
    oidc: OidcProviders,
    directory: Arc<LocalDirectory>,
    /// Replaced as a whole when the configuration is reloaded.
    policies: arc_swap::ArcSwap<BTreeMap<String, Vec<String>>>,
    allowed_redirects: Vec<String>,
    /// Seals the state of browser logins into their cookies.
    sealer: Sealer,
    /// The states of browser logins that reached their callback: each is
    /// used once. Only a callback with a state Sesame sealed adds one, and
    /// the set is bounded (oldest first), so it locks no one out.
    used_states: SeenOnce,
    oidc_timeout: Duration,
    cas: Option<CasClient>,
    cas_timeout: Duration,
    /// SHA-256 of the service tickets of CAS browser logins → the tokens
    /// issued for them, for single logout.
    cas_sessions: Mutex<HashMap<[u8; 32], CasSession>>,
    kerberos: Option<KerberosVerifier>,
    /// Replaced as a whole when the configuration is reloaded.
    web_session: arc_swap::ArcSwapOption<WebSessionVerifier>,
}

impl std::fmt::Debug for Federated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federated")
            .field("oidc", &self.oidc)
            .finish()
    }
}

impl Federated {
    pub fn new(
        oidc: &OidcConfig,
        cas: Option<&CasConfig>,
        web_session: Option<&WebSessionConfig>,
        kerberos: Option<&KerberosConfig>,
        directory: Arc<LocalDirectory>,
        policies: BTreeMap<String, Vec<String>>,
    ) -> Result<Self, String> {
        let oidc_timeout = Duration::from_secs(oidc.login_timeout_secs.max(1));
        let cas_timeout = cas
            .and_then(|c| c.login_timeout_secs)
            .map_or(oidc_timeout, |secs| Duration::from_secs(secs.max(1)));
        let mut providers = Vec::new();
        for (name, config) in &oidc.providers {
            let provider = OidcProvider::new(name, config.clone())
                .map_err(|e| format!("oidc.providers.{name}: {e}"))?;
            providers.push(provider);
        }
        Ok(Federated {
            oidc: OidcProviders::new(providers)?,
            directory,
            policies: arc_swap::ArcSwap::from_pointee(policies),
            allowed_redirects: oidc.allowed_redirects.clone(),
            sealer: Sealer::new().map_err(|e| e.to_string())?,
            used_states: SeenOnce::new(MAX_USED_STATES, oidc_timeout.max(cas_timeout)),
            oidc_timeout,
            cas: cas
                .map(|c| CasClient::new(c.clone()).map_err(|e| format!("cas: {e}")))
                .transpose()?,
            cas_timeout,
            cas_sessions: Mutex::new(HashMap::new()),
            kerberos: kerberos
                .map(|k| KerberosVerifier::new(k.clone()).map_err(|e| format!("kerberos: {e}")))
                .transpose()?,
            web_session: arc_swap::ArcSwapOption::new(
                web_session
                    .map(|c| {
                        WebSessionVerifier::new(c.clone())
                            .map(Arc::new)
                            .map_err(|e| format!("web_session: {e}"))
                    })
                    .transpose()?,
            ),
        })
    }

    pub fn oidc_enabled(&self) -> bool {
        !self.oidc.is_empty()
    }

    /// Trade an OpenID Connect token (id token or JWT access token) for an identity.
    async fn oidc_exchange_unaudited(&self, token: &str) -> Result<Identity, FederatedError> {
        if !self.oidc_enabled() {
            return Err(FederatedError::BadRequest(
                "no OpenID provider is configured".into(),
            ));
        }
        let provider = self.oidc.for_token(token)?;
        let outcome = provider.verify(token).await;
        self.outcome(provider, outcome)
    }

    fn outcome(
        &self,
        provider: &OidcProvider,
        outcome: Result<ExternalIdentity, FederationError>,
    ) -> Result<Identity, FederatedError> {
        let external = match outcome {
            Ok(external) => external,
            Err(e) => {
                tracing::info!(provider = %provider.name, outcome = %e, "OpenID token refused");
                return Err(e.into());
            }
        };
        let mapped = self.map_oidc(provider, &external);
        match &mapped {
            Ok(identity) => tracing::info!(
                provider = %provider.name,
                subject = %external.subject,
                login = %identity.login,
                "OpenID token accepted"
            ),
            Err(e) => {
                tracing::info!(provider = %provider.name, subject = %external.subject, outcome = %e, "OpenID login refused")
            }
        }
        mapped
    }

    fn policies(&self) -> Arc<BTreeMap<String, Vec<String>>> {
        self.policies.load_full()
    }

    /// Put the named ACL lists of a reloaded configuration in place.
    pub fn replace_policies(&self, policies: BTreeMap<String, Vec<String>>) {
        self.policies.store(Arc::new(policies));
    }

    fn policy(&self, name: &str) -> Vec<String> {
        self.policies().get(name).cloned().unwrap_or_default()
    }

    /// The local user an OpenID identity stands for, with the ACLs of the
    /// policies its groups map to.
    fn map_oidc(
        &self,
        provider: &OidcProvider,
        external: &ExternalIdentity,
    ) -> Result<Identity, FederatedError> {
        let config = &provider.config;
        let mut group_acl: Vec<String> = Vec::new();
        for group in provider.groups(&external.attributes) {
            if let Some(policy) = config.group_policies.get(&group) {
                merge(&mut group_acl, self.policy(policy));
            }
        }
        let mut metadata = serde_json::Map::new();
        metadata.insert("oidc_issuer".into(), Value::String(external.issuer.clone()));
        if let Some(sub) = external.attributes.get("sub") {
            metadata.insert("oidc_sub".into(), sub.clone());
        }
        self.map_external(
            external,
            config.match_local_user_by,
            config.auto_provision_policy.as_deref(),
            group_acl,
            metadata,
        )
    }

    /// The local user an external identity names (by login or e-mail), or,
    /// with `auto_provision`, a user of that policy.
    fn map_external(
        &self,
        external: &ExternalIdentity,
        match_by: LocalMatch,
        auto_provision: Option<&str>,
        extra_acl: Vec<String>,
        metadata: serde_json::Map<String, Value>,
    ) -> Result<Identity, FederatedError> {
        let account = match match_by {
            LocalMatch::Login => self.directory.find(AccountKind::User, &external.subject),
            LocalMatch::Email => {
                let matches = self.directory.users_by_email(&external.subject);
                match matches.as_slice() {
                    [one] => Some(one.clone()),
                    [] => None,
                    _ => {
                        return Err(FederatedError::UserNotFound(format!(
                            "{} (several local users have that e-mail)",
                            external.subject
                        )));
                    }
                }
            }
        };
        match account {
            Some(account) if account.can_log_in(AccountKind::User) => {
                let verified = identity_of(AccountKind::User, &account, &extra_acl);
                let mut identity = Identity::from_backend(external.source, verified);
                identity.metadata.extend(metadata);
                Ok(identity)
            }
            Some(_) => Err(FederatedError::UserNotFound(format!(
                "{} (the local user may not log in)",
                external.subject
            ))),
            None => match auto_provision {
                Some(policy) => {
                    let mut acl = self.policy(policy);
                    merge(&mut acl, extra_acl);
                    let mut metadata = metadata;
                    metadata.insert("login".into(), Value::String(external.subject.clone()));
                    metadata.insert("purpose".into(), Value::String("user".into()));
                    Ok(Identity {
                        auth_id: format!("{}:{}", external.source, external.subject),
                        user_uuid: None,
                        login: external.subject.clone(),
                        backend: external.source.into(),
                        acl,
                        metadata,
                    })
                }
                None => Err(FederatedError::UserNotFound(external.subject.clone())),
            },
        }
    }

    /// Replace the web-session settings (mapping table included), after a
    /// configuration reload.
    pub fn reload_web_session(&self, config: Option<&WebSessionConfig>) -> Result<(), String> {
        let verifier = config
            .map(|c| WebSessionVerifier::new(c.clone()).map(Arc::new))
            .transpose()?;
        self.web_session.store(verifier);
        Ok(())
    }

    fn web_session(&self) -> Result<Arc<WebSessionVerifier>, FederatedError> {
        self.web_session
            .load_full()
            .ok_or_else(|| FederatedError::BadRequest("web_session is not configured".into()))
    }

    /// The ACLs a web application's permissions give: the mapped ones, and
    /// the superuser policy's when the answer says so.
    pub fn web_session_acl(
        config: &WebSessionConfig,
        policies: &BTreeMap<String, Vec<String>>,
        permissions: &[String],
        superuser: bool,
    ) -> Vec<String> {
        let mut acl = config.map_permissions(permissions);
        if superuser && let Some(policy) = &config.superuser_policy {
            merge(&mut acl, policies.get(policy).cloned().unwrap_or_default());
        }
        acl
    }

    /// Trade a web application's session (the request's `Cookie` headers;
    /// only the configured cookies go out) for an identity with mapped ACLs.
    async fn web_session_exchange_unaudited<'a>(
        &self,
        cookie_headers: impl Iterator<Item = &'a str>,
    ) -> Result<Identity, FederatedError> {
        let verifier = self.web_session()?;
        let cookie = verifier.forwarded_cookies(cookie_headers).ok_or_else(|| {
            FederatedError::Invalid("no session cookie of the web application".into())
        })?;
        let external = verifier
            .verify(&cookie)
            .await
            .inspect_err(|e| tracing::info!(outcome = %e, "web session refused"))?;
        let permissions: Vec<String> = external
            .attributes
            .get("permissions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let superuser = external
            .attributes
            .get("superuser")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let acl =
            Self::web_session_acl(&verifier.config, &self.policies(), &permissions, superuser);
        tracing::info!(
            login = %external.subject,
            permissions = permissions.len(),
            acl = acl.len(),
            superuser,
            "web session accepted"
        );
        let mut metadata = serde_json::Map::new();
        metadata.insert("login".into(), Value::String(external.subject.clone()));
        metadata.insert("purpose".into(), Value::String("web_session".into()));
        let uuid = external.attributes.get("uuid").and_then(Value::as_str);
        Ok(Identity {
            auth_id: uuid
                .map(str::to_owned)
                .unwrap_or_else(|| format!("web_session:{}", external.subject)),
            user_uuid: None,
            login: external.subject,
            backend: "web_session".into(),
            acl,
            metadata,
        })
    }

    /// Remember that `token` was issued for the CAS ticket `ticket`, so that
    /// the CAS server's single-logout request can revoke it.
    pub fn cas_remember(&self, ticket: &str, token: TokenKey) {
        let key = ticket_key(ticket);
        let mut sessions = self.cas_sessions.lock();
        let now = Instant::now();
        if sessions.len() >= MAX_CAS_SESSIONS {
            sessions.retain(|_, (_, until)| *until > now);
            if sessions.len() >= MAX_CAS_SESSIONS {
                tracing::warn!(
                    "too many CAS sessions remembered for single logout; forgetting them"
                );
                sessions.clear();
            }
        }
        let entry = sessions
            .entry(key)
            .or_insert_with(|| (Vec::new(), now + CAS_SESSION_MEMORY));
        entry.0.push(token);
    }

    /// The tokens issued for the ticket a CAS single-logout request names
    /// (forgotten once returned).
    pub fn cas_logout(&self, logout_request: &str) -> Vec<TokenKey> {
        let Some(ticket) = sesame_federation::cas::parse_logout_request(logout_request) else {
            tracing::info!("CAS single logout: not a logout request");
            return Vec::new();
        };
        let keys = self
            .cas_sessions
            .lock()
            .remove(&ticket_key(&ticket))
            .map(|(keys, _)| keys)
            .unwrap_or_default();
        tracing::info!(tokens = keys.len(), "CAS single logout");
        keys
    }

    pub fn web_session_enabled(&self) -> bool {
        self.web_session().is_ok()
    }

    pub fn kerberos_enabled(&self) -> bool {
        self.kerberos.is_some()
    }

    /// Trade the base64 token of `Authorization: Negotiate` for an
    /// identity, and the mutual-authentication token to send back (base64).
    async fn kerberos_exchange_unaudited(
        &self,
        negotiate: &str,
    ) -> Result<(Identity, Option<String>), FederatedError> {
        use base64::Engine as _;
        let kerberos = self
            .kerberos
            .as_ref()
            .ok_or_else(|| FederatedError::BadRequest("Kerberos is not configured".into()))?;
        let engine = base64::engine::general_purpose::STANDARD;
        let token = engine.decode(negotiate.trim()).map_err(|_| {
            tracing::info!("Kerberos token refused: not base64");
            FederatedError::Invalid("the Negotiate token is not base64".into())
        })?;
        let login = kerberos.verify(token).await?;
        let config = kerberos.policy().config();
        let principal = login
            .identity
            .attributes
            .get("principal")
            .cloned()
            .unwrap_or_default();
        let mut metadata = serde_json::Map::new();
        metadata.insert("kerberos_principal".into(), principal.clone());
        let mapped = self.map_external(
            &login.identity,
            config.match_local_user_by,
            config.auto_provision_policy.as_deref(),
            Vec::new(),
            metadata,
        );
        match &mapped {
            Ok(identity) => {
                tracing::info!(%principal, login = %identity.login, "Kerberos login accepted")
            }
            Err(e) => tracing::info!(%principal, outcome = %e, "Kerberos login refused"),
        }
        Ok((mapped?, login.reply.map(|r| engine.encode(r))))
    }

    fn cas(&self) -> Result<&CasClient, FederatedError> {
        self.cas
            .as_ref()
            .ok_or_else(|| FederatedError::BadRequest("CAS is not configured".into()))
    }

    /// Trade a CAS service ticket, issued for `service`, for an identity.
    async fn cas_exchange_unaudited(
        &self,
        service: &str,
        ticket: &str,
    ) -> Result<Identity, FederatedError> {
        let cas = self.cas()?;
        if !cas.service_allowed(service) {
            return Err(FederatedError::ServiceNotAllowed(service.to_owned()));
        }
        let outcome = cas.validate(service, ticket).await;
        self.cas_outcome(cas, outcome)
    }

    fn cas_outcome(
        &self,
        cas: &CasClient,
        outcome: Result<ExternalIdentity, FederationError>,
    ) -> Result<Identity, FederatedError> {
        let external =
            outcome.inspect_err(|e| tracing::info!(outcome = %e, "CAS ticket refused"))?;
        let mut metadata = serde_json::Map::new();
        metadata.insert("cas_user".into(), Value::String(external.subject.clone()));
        let mapped = self.map_external(
            &external,
            cas.config.match_local_user_by,
            cas.config.auto_provision_policy.as_deref(),
            Vec::new(),
            metadata,
        );
        match &mapped {
            Ok(identity) => {
                tracing::info!(cas_user = %external.subject, login = %identity.login, "CAS ticket accepted")
            }
            Err(e) => {
                tracing::info!(cas_user = %external.subject, outcome = %e, "CAS login refused")
            }
        }
        mapped
    }

    /// The login of `flow` sealed in this browser's cookie, if the state the
    /// callback brings is the one sealed there, and the first to come back
    /// with it.
    fn pending_login<T: serde::de::DeserializeOwned>(
        &self,
        flow: &str,
        sealed: &str,
        presented: &str,
        state_of: fn(&T) -> &String,
    ) -> Result<T, FederatedError> {
        let pending: T = self.sealer.open(flow, sealed)?;
        let state = state_of(&pending);
        if !states_match(state, presented) {
            tracing::info!(
                flow,
                "browser login callback whose state is not this browser's"
            );
            return Err(FederatedError::Invalid(
                "this browser did not start this login (state mismatch)".into(),
            ));
        }
        if !self.used_states.first_use(&format!("{flow}:{state}")) {
            tracing::info!(flow, "browser login callback with a state used already");
            return Err(FederatedError::Invalid(
                "this login's state was used already".into(),
            ));
        }
        Ok(pending)
    }

    /// Start a CAS browser login ending at `redirect`: the CAS login URL for
    /// Sesame's callback with this login's state in it, and that state,
    /// sealed, for the browser's cookie.
    pub fn cas_begin(&self, redirect: &str) -> Result<BrowserStart, FederatedError> {
        let cas = self.cas()?;
        if !cas.config.allowed_redirects.iter().any(|r| r == redirect) {
            return Err(FederatedError::BadRequest(
                "the redirect URL is not in cas.allowed_redirects".into(),
            ));
        }
        let state = uuid::Uuid::new_v4().simple().to_string();
        let service = cas.callback_for(&state).ok_or_else(|| {
            FederatedError::BadRequest("cas.callback_url is not configured".into())
        })?;
        let pending = CasPending {
            state,
            redirect: redirect.to_owned(),
        };
        Ok(BrowserStart {
            authorize_url: cas.login_url(&service),
            sealed_state: self.sealer.seal(CAS_FLOW, &pending, self.cas_timeout)?,
            timeout: self.cas_timeout,
        })
    }

    /// Finish a CAS browser login: the `state` of the callback URL must be
    /// the one sealed in this browser's cookie, and the ticket is validated
    /// for the service URL holding that state.
    async fn cas_finish_unaudited(
        &self,
        state: &str,
        sealed: &str,
        ticket: &str,
    ) -> Result<(Identity, String), FederatedError> {
        let cas = self.cas()?;
        let pending: CasPending =
            self.pending_login(CAS_FLOW, sealed, state, |p: &CasPending| &p.state)?;
        if !cas.config.allowed_redirects.contains(&pending.redirect) {
            return Err(FederatedError::BadRequest(
                "the redirect URL is no longer in cas.allowed_redirects".into(),
            ));
        }
        let service = cas.callback_for(&pending.state).ok_or_else(|| {
            FederatedError::BadRequest("cas.callback_url is not configured".into())
        })?;
        let outcome = cas.validate(&service, ticket).await;
        Ok((self.cas_outcome(cas, outcome)?, pending.redirect))
    }

    /// Start a browser login with `provider` (the only one when `None`),
    /// ending at `redirect`, which must be allowed exactly.
    pub async fn oidc_begin(
        &self,
        provider: Option<&str>,
        redirect: &str,
    ) -> Result<BrowserStart, FederatedError> {
        if !self.allowed_redirects.iter().any(|r| r == redirect) {
            return Err(FederatedError::BadRequest(
                "the redirect URL is not in oidc.allowed_redirects".into(),
            ));
        }
        let provider = match provider {
            Some(name) => self.oidc.by_name(name).cloned(),
            None => self.oidc.only().cloned(),
        }
        .ok_or_else(|| FederatedError::BadRequest("unknown or ambiguous OpenID provider".into()))?;
        let login = provider.begin_login().await?;
        let pending = OidcPending {
            state: login.state,
            provider: provider.name.clone(),
            redirect: redirect.to_owned(),
            nonce: login.nonce,
            pkce_verifier: login.pkce_verifier,
        };
        Ok(BrowserStart {
            authorize_url: login.authorize_url,
            sealed_state: self.sealer.seal(OIDC_FLOW, &pending, self.oidc_timeout)?,
            timeout: self.oidc_timeout,
        })
    }

    /// Finish a browser login: the state must be the one sealed in this
    /// browser's cookie; the code is traded for tokens, the id token checked
    /// (nonce included) and mapped.
    async fn oidc_finish_unaudited(
        &self,
        state: &str,
        sealed: &str,
        code: &str,
    ) -> Result<(Identity, String), FederatedError> {
        let pending: OidcPending =
            self.pending_login(OIDC_FLOW, sealed, state, |p: &OidcPending| &p.state)?;
        if !self.allowed_redirects.contains(&pending.redirect) {
            return Err(FederatedError::BadRequest(
                "the redirect URL is no longer in oidc.allowed_redirects".into(),
            ));
        }
        let provider = self
            .oidc
            .by_name(&pending.provider)
            .cloned()
            .ok_or_else(|| {
                FederatedError::Invalid(
                    "the login's OpenID provider is no longer configured".into(),
                )
            })?;
        let outcome = provider
            .finish_login(code, &pending.nonce, &pending.pkce_verifier)
            .await;
        let identity = self.outcome(&provider, outcome)?;
        Ok((identity, pending.redirect))
    }

    /// Trade an OpenID Connect token (id token or JWT access token) for an
    /// identity; the attempt is audited.
    pub async fn oidc_exchange(
        &self,
        token: &str,
        client_addr: Option<&str>,
    ) -> Result<Identity, FederatedError> {
        let result = self.oidc_exchange_unaudited(token).await;
        audited("oidc", client_addr, result, |i| i)
    }

    /// Trade the base64 token of `Authorization: Negotiate` for an identity
    /// and the mutual-authentication token to send back; audited.
    pub async fn kerberos_exchange(
        &self,
        negotiate: &str,
        client_addr: Option<&str>,
    ) -> Result<(Identity, Option<String>), FederatedError> {
        let result = self.kerberos_exchange_unaudited(negotiate).await;
        audited("kerberos", client_addr, result, |(i, _)| i)
    }

    /// Trade the web application's session cookie for an identity; audited.
    pub async fn web_session_exchange<'a>(
        &self,
        cookie_headers: impl Iterator<Item = &'a str>,
        client_addr: Option<&str>,
    ) -> Result<Identity, FederatedError> {
        let result = self.web_session_exchange_unaudited(cookie_headers).await;
        audited("web_session", client_addr, result, |i| i)
    }

    /// Trade a CAS service ticket, issued for `service`, for an identity; audited.
    pub async fn cas_exchange(
        &self,
        service: &str,
        ticket: &str,
        client_addr: Option<&str>,
    ) -> Result<Identity, FederatedError> {
        let result = self.cas_exchange_unaudited(service, ticket).await;
        audited("cas", client_addr, result, |i| i)
    }

    /// Finish a CAS browser login (see `cas_begin`): `state` from the
    /// callback URL, `sealed` from the browser's cookie; audited.
    pub async fn cas_finish(
        &self,
        state: &str,
        sealed: &str,
        ticket: &str,
        client_addr: Option<&str>,
    ) -> Result<(Identity, String), FederatedError> {
        let result = self.cas_finish_unaudited(state, sealed, ticket).await;
        audited("cas", client_addr, result, |(i, _)| i)
    }

    /// Finish an OpenID browser login (see `oidc_begin`): `state` from the
    /// callback URL, `sealed` from the browser's cookie; audited.
    pub async fn oidc_finish(
        &self,
        state: &str,
        sealed: &str,
        code: &str,
        client_addr: Option<&str>,
    ) -> Result<(Identity, String), FederatedError> {
        let result = self.oidc_finish_unaudited(state, sealed, code).await;
        audited("oidc", client_addr, result, |(i, _)| i)
    }
}

/// Whether the state a callback brings is the one sealed for this browser
/// (compared in constant time: it is the secret of the login).
fn states_match(sealed: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    sealed.len() == presented.len() && bool::from(sealed.as_bytes().ct_eq(presented.as_bytes()))
}

/// Record an external-credential attempt in the audit log, and pass its
/// result on.
fn audited<T>(
    method: &str,
    client_addr: Option<&str>,
    result: Result<T, FederatedError>,
    identity: impl Fn(&T) -> &Identity,
) -> Result<T, FederatedError> {
    use crate::audit::{Outcome, attempt};
    match &result {
        Ok(done) => attempt(
            method,
            &identity(done).login,
            Outcome::Accepted,
            None,
            client_addr,
        ),
        Err(FederatedError::Unavailable(m)) => {
            attempt(method, "", Outcome::Unavailable, Some(m), client_addr)
        }
        Err(e) => attempt(
            method,
            "",
            Outcome::Refused,
            Some(&e.to_string()),
            client_addr,
        ),
    }
    result
}

/// The tokens of one CAS browser login, and until when they are remembered.
type CasSession = (Vec<TokenKey>, Instant);

/// How long a CAS browser login's ticket is remembered for single logout.
const CAS_SESSION_MEMORY: Duration = Duration::from_secs(24 * 3600);
const MAX_CAS_SESSIONS: usize = 100_000;

fn ticket_key(ticket: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(ticket.as_bytes()).into()
}

/// Add the ACLs of `more` not yet in `acl`.
fn merge(acl: &mut Vec<String>, more: Vec<String>) {
    for entry in more {
        if !acl.contains(&entry) {
            acl.push(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_logins_wait_five_minutes_by_default() {
        // The section's default must agree with its fields' defaults.
        let absent = OidcConfig::default();
        let empty: OidcConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(absent, empty);
        assert_eq!(absent.login_timeout_secs, 300);
    }

    fn federated(auto_provision: bool) -> (Federated, OidcProvider) {
        use sesame_backends::local::{LocalAccount, UsersFile};
        let directory = LocalDirectory::new();
        let account = |login: &str, email: &str, profile: Option<&str>| LocalAccount {
            login: login.into(),
            uuid: uuid::Uuid::new_v4(),
            password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            email: Some(email.into()),
            profile: profile.map(str::to_owned),
            enabled: true,
            acl: vec!["own.acl".into()],
            metadata: Default::default(),
        };
        directory
            .replace(&UsersFile {
                users: vec![
                    account("alice", "alice@example.org", Some("default")),
                    account("noprofile", "np@example.org", None),
                    account("twin1", "twin@example.org", Some("default")),
                    account("twin2", "twin@example.org", Some("default")),
                ],
                ..Default::default()
            })
            .unwrap();
        let mut policies = BTreeMap::new();
        policies.insert("admins".to_string(), vec!["admin.#".to_string()]);
        policies.insert("guests".to_string(), vec!["guest.read".to_string()]);
        let config: sesame_federation::oidc::OidcProviderConfig =
            serde_json::from_value(serde_json::json!({
                "issuer": "https://op.example.org",
                "client_id": "sesame",
                "group_policies": {"uc-admins": "admins"},
                "auto_provision_policy": if auto_provision { Some("guests") } else { None },
            }))
            .unwrap();
        let provider = OidcProvider::new("op", config).unwrap();
        let federated = Federated::new(
            &OidcConfig::default(),
            None,
            None,
            None,
            directory,
            policies,
        )
        .unwrap();
        (federated, provider)
    }

    fn external(subject: &str, groups: &[&str]) -> ExternalIdentity {
        let mut attributes = serde_json::Map::new();
        attributes.insert("sub".into(), Value::String(format!("sub-{subject}")));
        attributes.insert("groups".into(), serde_json::json!(groups));
        ExternalIdentity {
            source: "oidc",
            issuer: "https://op.example.org".into(),
            subject: subject.into(),
            attributes,
        }
    }

    #[test]
    fn oidc_identities_map_to_local_users_with_group_policies() {
        let (f, provider) = federated(false);
        let id = f
            .map_oidc(&provider, &external("alice", &["uc-admins", "other"]))
            .unwrap();
        assert_eq!(id.login, "alice");
        assert_eq!(id.acl, vec!["own.acl", "admin.#"]);
        assert_eq!(id.metadata["oidc_sub"], "sub-alice");
        assert!(matches!(
            f.map_oidc(&provider, &external("bob", &[])),
            Err(FederatedError::UserNotFound(_))
        ));
        assert!(matches!(
            f.map_oidc(&provider, &external("noprofile", &[])),
            Err(FederatedError::UserNotFound(_))
        ));
    }

    #[test]
    fn auto_provisioning_uses_its_policy_and_email_matching_needs_one_user() {
        let (f, provider) = federated(true);
        let id = f
            .map_oidc(&provider, &external("bob", &["uc-admins"]))
            .unwrap();
        assert_eq!(
            (id.auth_id.as_str(), id.user_uuid.as_deref()),
            ("oidc:bob", None)
        );
        assert_eq!(id.acl, vec!["guest.read", "admin.#"]);
        let by_email = |subject: &str| {
            f.map_external(
                &external(subject, &[]),
                LocalMatch::Email,
                None,
                vec![],
                Default::default(),
            )
        };
        assert_eq!(by_email("ALICE@example.org").unwrap().login, "alice");
        assert!(matches!(
            by_email("twin@example.org"),
            Err(FederatedError::UserNotFound(_))
        ));
    }

    #[test]
    fn states_are_compared_whole() {
        assert!(states_match("abc", "abc"));
        for other in ["abd", "ab", "abcd", ""] {
            assert!(!states_match("abc", other), "{other}");
        }
    }
}
