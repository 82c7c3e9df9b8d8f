//! The bodies of both APIs, as types: what the handlers answer with and
//! what the OpenAPI document ([`super::openapi`]) describes, one and the
//! same. Request bodies are checked by hand (each fault gets its own
//! message), so their types here only describe them.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// The error body of the /0.1 API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LegacyErrorBody {
    /// One message.
    pub reason: Vec<String>,
    /// One Unix time, with microseconds.
    pub timestamp: Vec<f64>,
    pub status_code: u16,
}

/// The error body of the UC API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UcErrorBody {
    /// `InvalidCredentials`, `InvalidJson`, `InvalidToken`, `TokenExpired`,
    /// `TokenNotRevocable`, `TooManyAttempts`, `SsoAuthenticationFailed`,
    /// `BackendUnavailable`, `UnhandledError`...
    pub error: String,
    pub message: String,
}

/// The error body of the OAuth 2.0 routes (RFC 6749, 5.2).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
}

/// The body of `POST /0.1/token`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreateTokenRequest {
    /// A password backend (`xivo_user`, `xivo_admin`, `xivo_service`,
    /// `ldap_user`), or `oidc`, `kerberos`, `web_session`.
    pub backend: String,
    /// Seconds, a positive integer not above `max_token_lifetime`.
    pub expiration: Option<u64>,
}

/// A token, as xivo-auth describes it. Times are ISO 8601 without offset:
/// `issued_at`/`expires_at` local, `utc_*` UTC.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenData {
    pub token: String,
    pub auth_id: String,
    pub xivo_user_uuid: Option<String>,
    pub xivo_uuid: String,
    pub issued_at: String,
    pub utc_issued_at: String,
    /// `null` for tokens that never expire (shared, static).
    pub expires_at: Option<String>,
    pub utc_expires_at: Option<String>,
    pub acl: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub session_uuid: String,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    /// Only in the answer of an offline login (`access_type: offline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenEnvelope {
    pub data: TokenData,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    /// `success`.
    pub message: String,
}

impl Message {
    pub fn success() -> Self {
        Message {
            message: "success".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageEnvelope {
    pub data: Message,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackendsEnvelope {
    /// The enabled backends.
    pub data: Vec<String>,
}

/// The body of `POST /xuc/api/2.0/auth/login`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UcLoginRequest {
    /// Required unless `refresh_token` is given.
    pub login: Option<String>,
    pub password: Option<String>,
    /// `offline` (with `client_id`): the answer holds a `refresh_token` too.
    pub access_type: Option<String>,
    pub client_id: Option<String>,
    /// With `client_id`, in place of `login` and `password`.
    pub refresh_token: Option<String>,
}

/// A UC session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UcSession {
    pub login: String,
    pub token: String,
    /// Seconds left; `null` for tokens that never expire.
    #[serde(rename = "TTL")]
    #[schema(rename = "TTL")]
    pub ttl: Option<u64>,
    /// An offline login's refresh token (`access_type: offline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The body of `POST /xuc/api/2.0/auth/oidc` when the token is not in
/// `Authorization: Bearer`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OidcTokenRequest {
    pub token: String,
}

pub use crate::oauth::Introspection;

/// The answer of the RFC 8693 token exchange.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExchangedToken {
    pub access_token: String,
    /// `urn:ietf:params:oauth:token-type:access_token`.
    pub issued_token_type: String,
    /// `Bearer`.
    pub token_type: String,
    pub expires_in: u64,
    /// The token's ACLs, space-separated.
    pub scope: String,
}

/// The authorization server metadata (RFC 8414).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServerMetadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub grant_types_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
}

/// The form of `POST /oauth2/token`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenExchangeForm {
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    pub grant_type: String,
    /// A Sesame token, or an OpenID Connect ID or access token.
    pub subject_token: String,
    /// `urn:ietf:params:oauth:token-type:access_token`, `...:id_token`,
    /// `...:jwt`, or `urn:sesame:token`.
    pub subject_token_type: String,
    pub requested_token_type: Option<String>,
    /// ACLs asked for, space-separated: a subset of the subject's.
    pub scope: Option<String>,
}

/// The form of `POST /oauth2/introspect` and `POST /oauth2/revoke`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenForm {
    pub token: String,
    pub token_type_hint: Option<String>,
}

/// `GET /readyz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (an upstream is unreachable) or `unavailable`
    /// (the token store does not answer: 503).
    pub status: String,
    /// `embedded`, `redis` or `memory`.
    pub store: String,
    /// Per upstream: `ok` or `unreachable: <why>`.
    pub upstreams: BTreeMap<String, String>,
}

/// `GET /gateway/auth`'s refusals.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayRefusal {
    pub message: String,
}

/// The body of `POST /0.1/token/{token}/scopes/check`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScopesCheckRequest {
    /// The ACLs to check.
    pub scopes: Vec<String>,
    /// A tenant the token must be valid for.
    pub tenant_uuid: Option<String>,
}

/// Which scopes a token grants.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScopesCheck {
    /// Each scope asked for, and whether the token grants it.
    pub scopes: BTreeMap<String, bool>,
}

/// One component of `GET /0.1/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Component {
    /// `ok`; `fail` when Sesame cannot serve without it (503); `degraded`
    /// for an upstream out of reach (the logins it checks fail, the rest
    /// is served).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Component {
    pub fn ok() -> Self {
        Component {
            status: "ok".into(),
            reason: None,
        }
    }

    pub fn failing(reason: String) -> Self {
        Component {
            status: "fail".into(),
            reason: Some(reason),
        }
    }

    pub fn degraded(reason: String) -> Self {
        Component {
            status: "degraded".into(),
            reason: Some(reason),
        }
    }
}

/// `GET /0.1/status`: each component by name (`rest_api`, `token_store`,
/// and the upstreams).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Status(pub BTreeMap<String, Component>);

/// The error body of wazo-auth's protected routes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WazoErrorBody {
    pub message: String,
    pub error_id: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// A refresh token, as listed (never the token itself).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefreshTokenItem {
    pub client_id: String,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// Made by a login with `Wazo-Session-Type: mobile`.
    pub mobile: bool,
    pub user_uuid: String,
    pub tenant_uuid: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// A page of refresh tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefreshTokenList {
    /// All the tokens the request may see.
    pub total: usize,
    /// Those that match `search`.
    pub filtered: usize,
    pub items: Vec<RefreshTokenItem>,
}

/// A live session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionItem {
    pub uuid: String,
    /// The user of its tokens (their `auth_id`).
    pub user_uuid: String,
    pub tenant_uuid: String,
    /// Opened with `Wazo-Session-Type: mobile`.
    pub mobile: bool,
}

/// A page of sessions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionList {
    /// All the sessions the request may see.
    pub total: usize,
    /// The same: sessions are not searched.
    pub filtered: usize,
    pub items: Vec<SessionItem>,
}

/// A tenant's postal address: wazo-auth's fields, empty (Sesame keeps none).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct TenantAddress {
    pub line_1: Option<String>,
    pub line_2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip_code: Option<String>,
}

/// A tenant, as wazo-auth lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantItem {
    pub uuid: String,
    pub name: String,
    pub slug: String,
    /// The top tenant is its own parent.
    pub parent_uuid: String,
    pub domain_names: Vec<String>,
    pub contact: Option<String>,
    pub phone: Option<String>,
    pub address: TenantAddress,
    /// Always `native`: how a tenant's users log in is Sesame's configuration.
    pub default_authentication_method: &'static str,
}

/// A page of tenants.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantList {
    /// The tenants the request may see.
    pub total: usize,
    /// Those that match `search`.
    pub filtered: usize,
    pub items: Vec<TenantItem>,
}
