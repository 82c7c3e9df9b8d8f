//! The login broker: one way from a credential to a token.
//!
//! ```text
//! handler ── Credential ──▶ Broker::login
//!                            ├─ password ─▶ auth::Authenticator (throttle, backends)
//!                            ├─ Kerberos, OpenID, CAS ─▶ external (sesame-federation)
//!                            │                            └─▶ mapping (local user or provisioned)
//!                            ├─ web session ─▶ external (permissions → ACLs)
//!                            └─▶ token::TokenService::issue ─▶ store
//! ```
//!
//! Handlers build a [`Credential`] from what the request carries and make
//! one call; the broker checks it, records the attempt in the audit log,
//! maps the identity, issues the token and answers with a [`Login`] or one
//! [`LoginError`] that says which kind of credential failed and how.
//! Browser flows ([`browser`]) sit beside it: they start logins, and their
//! callbacks come back here as credentials.

pub mod browser;
pub mod error;
pub mod external;
pub mod mapping;

use std::sync::Arc;

use sesame_backends::{Password, VerifiedIdentity};

pub use browser::BrowserStart;
pub use error::{Failure, LoginError, Via};
pub use external::OidcConfig;
use external::{External, Proven};
use mapping::{IdentityMapper, Policies, Rule, Unmapped};

use crate::auth::Authenticator;
pub use crate::auth::BackendChoice;
use crate::store::TokenKey;
use crate::token::session::SessionStart;
use crate::token::{ClientInfo, TokenService, VerifiedToken};

/// Who a token is for, whatever proved it.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub auth_id: String,
    pub user_uuid: Option<String>,
    pub login: String,
    /// The backend or protocol that authenticated the user.
    pub backend: String,
    pub acl: Vec<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl Identity {
    pub fn from_backend(backend: &str, verified: VerifiedIdentity) -> Self {
        Identity {
            auth_id: verified.auth_id,
            user_uuid: verified.user_uuid,
            login: verified.login,
            backend: backend.to_owned(),
            acl: verified.acl,
            metadata: verified.metadata,
        }
    }
}

/// The `backend` of `POST /0.1/token` that takes an OpenID Connect token.
pub const OIDC_BACKEND: &str = "oidc";
/// The `backend` of `POST /0.1/token` that takes a Kerberos ticket.
pub const KERBEROS_BACKEND: &str = "kerberos";
/// The `backend` of `POST /0.1/token` that takes a web application's session cookie.
pub const WEB_SESSION_BACKEND: &str = "web_session";

/// What a request carries that may prove who its client is; a handler
/// fills in what its route reads.
#[derive(Debug, Default)]
pub struct Presented {
    /// HTTP Basic credentials.
    pub basic: Option<(String, Password)>,
    /// `Authorization: Bearer`.
    pub bearer: Option<String>,
    /// The base64 token of `Authorization: Negotiate`.
    pub negotiate: Option<String>,
    /// The `Cookie` headers.
    pub cookies: Vec<String>,
}

/// A credential to trade for a token. A proof the request lacks is `None`:
/// the broker says which one was missing.
#[derive(Debug)]
pub enum Credential {
    /// A login and password, for the backend named, or for a configured
    /// list of backends in order.
    Password {
        backends: BackendChoice,
        login: Option<(String, Password)>,
    },
    /// A refresh token of a client (wazo-auth's `refresh_token` with
    /// `client_id`), in place of a password.
    RefreshToken { token: String, client_id: String },
    /// The base64 SPNEGO token of `Authorization: Negotiate`.
    Kerberos(Option<String>),
    /// An OpenID Connect id token or JWT access token.
    OidcToken(Option<String>),
    /// A CAS service ticket and the service it was issued for.
    CasTicket { service: String, ticket: String },
    /// A web application's session: the request's `Cookie` headers.
    WebSession(Vec<String>),
    /// The end of an OpenID browser login: the callback's `code` and
    /// `state`, and the browser's sealed state cookie.
    OidcCallback {
        code: String,
        state: String,
        sealed: Option<String>,
    },
    /// The end of a CAS browser login: the callback's ticket and `state`,
    /// and the browser's sealed state cookie.
    CasCallback {
        ticket: String,
        state: Option<String>,
        sealed: Option<String>,
    },
}

impl Credential {
    /// The credential `POST /0.1/token` means by `backend`: one of the
    /// external kinds by its name, else a password for that backend, or for
    /// the default backends in order when it names none.
    pub fn named(backend: Option<&str>, presented: Presented) -> Credential {
        let backends = match backend {
            Some(KERBEROS_BACKEND) => return Credential::Kerberos(presented.negotiate),
            Some(OIDC_BACKEND) => return Credential::OidcToken(presented.bearer),
            Some(WEB_SESSION_BACKEND) => return Credential::WebSession(presented.cookies),
            Some(name) => BackendChoice::Named(name.to_owned()),
            None => BackendChoice::Default,
        };
        Credential::Password {
            backends,
            login: presented.basic,
        }
    }

    pub fn via(&self) -> Via {
        match self {
            Credential::Password { .. } | Credential::RefreshToken { .. } => Via::Password,
            Credential::Kerberos(_) => Via::Kerberos,
            Credential::OidcToken(_) | Credential::OidcCallback { .. } => Via::Oidc,
            Credential::CasTicket { .. } | Credential::CasCallback { .. } => Via::Cas,
            Credential::WebSession(_) => Via::WebSession,
        }
    }
}

/// How long the token lives.
#[derive(Debug, Clone, Copy)]
pub enum Lifetime {
    /// The client's `expiration` (seconds), or the default without one.
    Requested(Option<i64>),
    /// The UC login's (`uc_api.token_lifetime`).
    Uc,
    /// The token policy's default.
    Default,
}

/// A login to make.
#[derive(Debug)]
pub struct LoginRequest {
    pub credential: Credential,
    pub lifetime: Lifetime,
    /// The OAuth `scope`: a subset of the identity's ACLs for the token.
    pub scope: Option<String>,
    /// `access_type: offline`: a refresh token for this client too.
    pub offline: Option<crate::token::refresh::Offline>,
    /// `Wazo-Session-Type: mobile`.
    pub mobile: bool,
    /// The tenant the login is for (`tenant_id` or `domain_name`): the
    /// identity must be in it.
    pub tenant: Option<TenantName>,
}

/// How a login names its tenant.
#[derive(Debug, Clone, PartialEq)]
pub enum TenantName {
    /// `tenant_id`: a uuid or a slug.
    Id(String),
    /// `domain_name`: one of a tenant's domain names.
    Domain(String),
}

impl LoginRequest {
    pub fn new(credential: Credential, lifetime: Lifetime) -> Self {
        LoginRequest {
            credential,
            lifetime,
            scope: None,
            offline: None,
            mobile: false,
            tenant: None,
        }
    }

    /// The same request, for the subset `scope` of the identity's ACLs.
    pub fn with_scope(self, scope: Option<&str>) -> Self {
        LoginRequest {
            scope: scope.map(str::to_owned),
            ..self
        }
    }
}

/// A login made: the token, and what the answer may need besides.
#[derive(Debug)]
pub struct Login {
    pub token: String,
    pub verified: VerifiedToken,
    /// The lifetime granted, in seconds.
    pub lifetime: u64,
    /// Kerberos's mutual-authentication token (base64), for
    /// `WWW-Authenticate: Negotiate`.
    pub mutual_auth: Option<String>,
    /// Where a browser login hands its token over.
    pub redirect: Option<String>,
    /// The refresh token of an offline login.
    pub refresh_token: Option<String>,
    /// Sessions of the user this login ended (`Wazo-Sessions-Revoked`).
    pub sessions_ended: usize,
}

/// An identity checked, before its token.
struct Checked {
    identity: Identity,
    mutual_auth: Option<String>,
    redirect: Option<String>,
    /// The CAS ticket of a browser login, for single logout.
    cas_ticket: Option<String>,
    /// The refresh token a refresh-token login used.
    refresh_id: Option<uuid::Uuid>,
    /// The token that replaces it, under rotation.
    rotated: Option<String>,
}

impl Checked {
    fn of(identity: Identity) -> Self {
        Checked {
            identity,
            mutual_auth: None,
            redirect: None,
            cas_ticket: None,
            refresh_id: None,
            rotated: None,
        }
    }
}

/// Credential checks, identity mapping and token issuing, in one place.
pub struct Broker {
    tokens: Arc<TokenService>,
    passwords: Arc<Authenticator>,
    external: External,
    mapper: IdentityMapper,
    browser: browser::BrowserFlows,
    uc_lifetime: u64,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("passwords", &self.passwords)
            .field("external", &self.external)
            .finish()
    }
}

/// The configuration sections the broker is built from.
pub struct Sections<'a> {
    pub oidc: &'a OidcConfig,
    pub cas: Option<&'a sesame_federation::cas::CasConfig>,
    pub web_session: Option<&'a sesame_federation::websession::WebSessionConfig>,
    pub kerberos: Option<&'a sesame_federation::kerberos::KerberosConfig>,
    pub policies: Policies,
    pub uc_token_lifetime: u64,
}

impl Broker {
    pub fn new(
        tokens: Arc<TokenService>,
        passwords: Arc<Authenticator>,
        directory: Arc<sesame_backends::local::LocalDirectory>,
        sections: Sections<'_>,
    ) -> Result<Self, String> {
        Ok(Broker {
            tokens,
            passwords: passwords.clone(),
            external: External::new(
                sections.oidc,
                sections.cas,
                sections.web_session,
                sections.kerberos,
            )?,
            mapper: IdentityMapper::new(directory, passwords.clone(), sections.policies),
            browser: browser::BrowserFlows::new(sections.oidc, sections.cas)?,
            uc_lifetime: sections.uc_token_lifetime,
        })
    }

    /// Trade `request`'s credential for a token, for `client`.
    pub async fn login(
        &self,
        request: LoginRequest,
        client: ClientInfo,
    ) -> Result<Login, LoginError> {
        let via = request.credential.via();
        let token_error = |e| LoginError::new(via, Failure::Token(e));
        let lifetime = match request.lifetime {
            Lifetime::Requested(secs) => self.tokens.lifetime(secs).map_err(token_error)?,
            Lifetime::Uc => self.uc_lifetime,
            Lifetime::Default => self.tokens.policy().default_lifetime,
        };
        let tenant = match &request.tenant {
            Some(name) => Some(self.tenant_named(via, name)?),
            None => None,
        };
        let address = client.remote_addr.clone();
        let mut checked = self.check(request.credential, address.as_deref()).await?;
        if let Some(tenant) = tenant {
            let own = checked
                .identity
                .metadata
                .get("tenant_uuid")
                .and_then(serde_json::Value::as_str)
                .and_then(|t| uuid::Uuid::try_parse(t).ok())
                .unwrap_or_else(|| self.tokens.policy().tenants.top());
            if own != tenant {
                return Err(LoginError::refused(
                    via,
                    format!("the account is not in tenant {tenant}"),
                ));
            }
        }
        if let Some(scope) = request.scope.as_deref() {
            crate::oauth::narrow_identity(&mut checked.identity, scope)
                .map_err(|why| LoginError::new(via, Failure::Scope(why)))?;
        }
        // An offline login's refresh token is for the identity as checked;
        // made first, so that a refusal (too many) issues no token either.
        let grant = match &request.offline {
            Some(offline) => Some(
                self.tokens
                    .refresh_token_for(&checked.identity, offline, request.mobile)
                    .await
                    .map_err(token_error)?,
            ),
            None => None,
        };
        let start = SessionStart {
            mobile: request.mobile,
            refresh_id: grant.as_ref().map(|g| g.id).or(checked.refresh_id),
        };
        let issued = self
            .tokens
            .open_session(checked.identity, lifetime, client, start)
            .await
            .map_err(token_error)?;
        if let Some(ticket) = &checked.cas_ticket {
            self.browser
                .cas_remember(ticket, TokenKey::of(&issued.token));
        }
        Ok(Login {
            token: issued.token,
            verified: VerifiedToken::session(issued.live),
            lifetime,
            mutual_auth: checked.mutual_auth,
            redirect: checked.redirect,
            sessions_ended: grant.as_ref().map_or(0, |g| g.sessions_ended),
            refresh_token: grant.map(|g| g.token).or(checked.rotated),
        })
    }

    /// The tenant a login names; an unknown one is refused (401, as a
    /// wrong password: it says nothing of the accounts).
    fn tenant_named(&self, via: Via, name: &TenantName) -> Result<uuid::Uuid, LoginError> {
        let tenants = &self.tokens.policy().tenants;
        let found = match name {
            TenantName::Id(id) => tenants.by_id(id),
            TenantName::Domain(domain) => tenants.by_domain(domain),
        };
        found
            .map(|t| t.uuid)
            .ok_or_else(|| LoginError::refused(via, format!("no such tenant: {name:?}")))
    }

    /// The identity a credential proves. Password checks are throttled and
    /// audited by the authenticator; the others are audited here.
    async fn check(
        &self,
        credential: Credential,
        address: Option<&str>,
    ) -> Result<Checked, LoginError> {
        let via = credential.via();
        if let Credential::RefreshToken { token, client_id } = credential {
            let outcome = self.redeem(&token, &client_id).await;
            use crate::audit::{Outcome, attempt};
            match &outcome {
                Ok(checked) => attempt(
                    "refresh_token",
                    &checked.identity.login,
                    Outcome::Accepted,
                    None,
                    address,
                ),
                Err(e) => attempt(
                    "refresh_token",
                    "",
                    if e.is_unavailable() {
                        Outcome::Unavailable
                    } else {
                        Outcome::Refused
                    },
                    Some(&e.failure.to_string()),
                    address,
                ),
            }
            return outcome;
        }
        if let Credential::Password { backends, login } = credential {
            let (login, password) = login
                .ok_or_else(|| LoginError::missing(via, "HTTP Basic credentials are required"))?;
            let checked = self
                .passwords
                .login(&backends, &login, &password, address)
                .await;
            return checked
                .map(Checked::of)
                .map_err(|e| LoginError::new(via, e.into()));
        }
        if !self.external.enabled(via) {
            return Err(LoginError::bad_request(via, not_configured(via)));
        }
        let outcome = self.check_external(credential).await;
        audit(via, address, &outcome);
        outcome
    }

    async fn check_external(&self, credential: Credential) -> Result<Checked, LoginError> {
        let via = credential.via();
        match credential {
            Credential::Password { .. } | Credential::RefreshToken { .. } => Err(LoginError::new(
                via,
                Failure::Internal("a password is not an external credential".into()),
            )),
            Credential::Kerberos(negotiate) => {
                let negotiate = negotiate.ok_or_else(|| {
                    LoginError::missing(via, "no Kerberos ticket: send Authorization: Negotiate")
                })?;
                let (proven, reply) = self.external.kerberos(&negotiate).await?;
                let mut checked = Checked::of(self.map(via, proven).await?);
                checked.mutual_auth = reply;
                Ok(checked)
            }
            Credential::OidcToken(token) => {
                let token = token.ok_or_else(|| {
                    LoginError::missing(via, "no OpenID token: send Authorization: Bearer")
                })?;
                let proven = self
                    .external
                    .oidc_token(&token, &self.mapper.policies())
                    .await?;
                Ok(Checked::of(self.map(via, proven).await?))
            }
            Credential::OidcCallback {
                code,
                state,
                sealed,
            } => {
                let sealed = sealed.ok_or_else(|| missing_state_cookie(via))?;
                let (pending, provider) =
                    self.browser.oidc_open(&self.external, &state, &sealed)?;
                let external = provider
                    .finish_login(&code, &pending.nonce, &pending.pkce_verifier)
                    .await
                    .map_err(|e| LoginError::new(via, e.into()))?;
                let proven = external::oidc_proven(&provider, external, &self.mapper.policies());
                let mut checked = Checked::of(self.map(via, proven).await?);
                checked.redirect = Some(pending.redirect);
                Ok(checked)
            }
            Credential::CasTicket { service, ticket } => {
                let proven = self.external.cas_ticket(&service, &ticket).await?;
                Ok(Checked::of(self.map(via, proven).await?))
            }
            Credential::CasCallback {
                ticket,
                state,
                sealed,
            } => {
                let sealed = sealed.ok_or_else(|| missing_state_cookie(via))?;
                // The state CAS sends back is the one in the service URL the
                // ticket was issued for (see `BrowserFlows::cas_begin`).
                let state = state.ok_or_else(|| {
                    LoginError::missing(
                        via,
                        "this callback has no login state: the ticket was not issued for this browser's login",
                    )
                })?;
                let (pending, cas, service) =
                    self.browser.cas_open(&self.external, &state, &sealed)?;
                let proven = self.external.cas_validate(cas, &service, &ticket).await?;
                let mut checked = Checked::of(self.map(via, proven).await?);
                checked.redirect = Some(pending.redirect);
                checked.cas_ticket = Some(ticket);
                Ok(checked)
            }
            Credential::WebSession(cookies) => {
                let identity = self
                    .external
                    .web_session(&cookies, &self.mapper.policies())
                    .await?;
                Ok(Checked::of(identity))
            }
        }
    }

    /// The identity a refresh token mints tokens for: the one of its
    /// offline login, while its local account (if it has one) may still
    /// log in.
    async fn redeem(&self, token: &str, client_id: &str) -> Result<Checked, LoginError> {
        let via = Via::Password;
        let redeemed = self
            .tokens
            .redeem(token, client_id)
            .await
            .map_err(|e| match e {
                crate::token::TokenError::NotFound => LoginError::refused(
                    via,
                    format!("unknown refresh_token for client_id {client_id:?}"),
                ),
                e => LoginError::new(via, Failure::Token(e)),
            })?;
        let record = redeemed.record;
        let allowed = self
            .mapper
            .still_allowed(
                &record.backend,
                &record.login,
                record.xivo_user_uuid.as_deref(),
                record
                    .metadata
                    .get("ldap_dn")
                    .and_then(serde_json::Value::as_str),
            )
            .await
            .map_err(|e| LoginError::new(via, crate::auth::AuthError::from(e).into()))?;
        if !allowed {
            return Err(LoginError::refused(
                via,
                "the refresh token's account may no longer log in",
            ));
        }
        let mut checked = Checked::of(Identity {
            auth_id: record.auth_id,
            user_uuid: record.xivo_user_uuid,
            login: record.login,
            backend: record.backend,
            acl: record.acl,
            metadata: record.metadata,
        });
        checked.refresh_id = Some(record.id);
        checked.rotated = redeemed.rotated;
        Ok(checked)
    }

    /// The local user (or provisioned user) of a verified identity.
    async fn map(&self, via: Via, proven: Proven) -> Result<Identity, LoginError> {
        let rule = Rule {
            match_by: proven.match_by,
            auto_provision: proven.auto_provision.as_deref(),
        };
        let subject = proven.external.subject.clone();
        let mapped = match &proven.in_directory {
            Some(name) => {
                self.mapper
                    .in_directory(&proven.external, name, proven.metadata)
                    .await
            }
            None => {
                self.mapper
                    .map(&proven.external, rule, proven.extra_acl, proven.metadata)
                    .await
            }
        };
        let mapped = mapped.map_err(|e| match e {
            Unmapped::NoLocalUser(who) => LoginError::new(via, Failure::NoLocalUser(who)),
            // The accounts' backend is down, not the protocol's upstream.
            Unmapped::Backend(e) => {
                LoginError::new(Via::Password, crate::auth::AuthError::from(e).into())
            }
        });
        match &mapped {
            Ok(identity) => {
                tracing::info!(method = via.name(), %subject, login = %identity.login, "external identity accepted")
            }
            Err(e) => {
                tracing::info!(method = via.name(), %subject, outcome = %e, "external identity has no local user")
            }
        }
        mapped
    }

    /// Start an OpenID browser login (see [`BrowserStart`]).
    pub async fn oidc_begin(
        &self,
        provider: Option<&str>,
        redirect: &str,
    ) -> Result<BrowserStart, LoginError> {
        self.browser
            .oidc_begin(&self.external, provider, redirect)
            .await
    }

    /// Start a CAS browser login (see [`BrowserStart`]).
    pub fn cas_begin(&self, redirect: &str) -> Result<BrowserStart, LoginError> {
        self.browser.cas_begin(&self.external, redirect)
    }

    /// CAS single logout: revoke the tokens issued for the ticket that
    /// `logout_request` names. How it went is logged, never answered: the
    /// CAS server does not care, and nobody learns which tickets Sesame knows.
    pub async fn cas_single_logout(&self, logout_request: &str) {
        for key in self.browser.cas_logout(logout_request) {
            if let Err(e) = self.tokens.revoke_key(&key).await {
                tracing::warn!(error = %e, "CAS single logout: a token could not be revoked");
            }
        }
    }

    /// The `backend` names `POST /0.1/token` takes: the password backends,
    /// then the external kinds configured.
    pub fn backend_names(&self) -> Vec<String> {
        let mut names = self.passwords.backend_names();
        let external = [
            (KERBEROS_BACKEND, Via::Kerberos),
            (OIDC_BACKEND, Via::Oidc),
            (WEB_SESSION_BACKEND, Via::WebSession),
        ];
        names.extend(
            external
                .into_iter()
                .filter(|(_, via)| self.external.enabled(*via))
                .map(|(name, _)| name.to_owned()),
        );
        names
    }

    /// Put a reloaded configuration's policies in place.
    pub fn replace_policies(&self, policies: Policies) {
        self.mapper.replace_policies(policies);
    }

    /// Put a reloaded configuration's web-session settings in place.
    pub fn reload_web_session(
        &self,
        config: Option<&sesame_federation::websession::WebSessionConfig>,
    ) -> Result<(), String> {
        self.external.reload_web_session(config)
    }
}

/// The answer to a credential of a kind that is not configured.
fn not_configured(via: Via) -> &'static str {
    match via {
        Via::Password => "no password backend is configured",
        Via::Kerberos => "Kerberos is not configured",
        Via::Oidc => "no OpenID provider is configured",
        Via::Cas => "CAS is not configured",
        Via::WebSession => "web_session is not configured",
    }
}

fn missing_state_cookie(via: Via) -> LoginError {
    tracing::info!(
        method = via.name(),
        "browser login callback without the browser's state cookie"
    );
    LoginError::missing(
        via,
        "this browser did not start this login (state cookie missing)",
    )
}

/// Record an external-credential attempt in the audit log (and log an
/// upstream outage, where it is decided).
fn audit(via: Via, address: Option<&str>, outcome: &Result<Checked, LoginError>) {
    use crate::audit::{Outcome, attempt};
    let method = via.name();
    match outcome {
        Ok(checked) => attempt(
            method,
            &checked.identity.login,
            Outcome::Accepted,
            None,
            address,
        ),
        Err(e) if e.is_unavailable() => {
            tracing::warn!(method, error = %e.failure, "{} is unavailable", via.upstream());
            attempt(
                method,
                "",
                Outcome::Unavailable,
                Some(&e.failure.to_string()),
                address,
            )
        }
        Err(e) => {
            tracing::info!(method, outcome = %e.failure, "external credential refused");
            attempt(
                method,
                "",
                Outcome::Refused,
                Some(&e.failure.to_string()),
                address,
            )
        }
    }
}
