//! Error bodies: the only place that picks status codes.
//!
//! The /0.1 routes answer with xivo-auth's legacy body
//! `{"reason": [msg], "timestamp": [float], "status_code": int}`; the UC routes
//! with `{"error": CODE, "message": text}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;
use crate::federated::FederatedError;
use crate::oauth::{CallerError, ExchangeError};
use crate::store::StoreError;
use crate::token::TokenError;

/// An error of the /0.1 API.
#[derive(Debug)]
pub struct LegacyError {
    pub status: StatusCode,
    pub reason: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
    /// The `WWW-Authenticate` challenge of a 401 (HTTP Basic when `None`).
    pub challenge: Option<&'static str>,
}

impl LegacyError {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        LegacyError {
            status,
            reason: reason.into(),
            retry_after: None,
            challenge: None,
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }

    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, reason)
    }
}

impl IntoResponse for LegacyError {
    fn into_response(self) -> Response {
        let timestamp = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
        let body = json!({
            "reason": [self.reason],
            "timestamp": [timestamp],
            "status_code": self.status.as_u16(),
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    self.challenge.unwrap_or("Basic realm=\"sesame\""),
                ),
            );
        }
        set_retry_after(&mut response, self.retry_after);
        response
    }
}

fn set_retry_after(response: &mut Response, seconds: Option<u64>) {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
}

fn store_status(e: &StoreError) -> (StatusCode, String) {
    match e {
        StoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the token store is unavailable, retry later".into(),
        ),
        StoreError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
    }
}

fn log_store(e: &StoreError) {
    let kind = match e {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Internal(_) => "internal",
    };
    crate::metrics::global().store_error(kind);
    tracing::error!(error = %e, "token store error");
}

impl From<TokenError> for LegacyError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotFound | TokenError::Expired => {
                Self::new(StatusCode::NOT_FOUND, "No such token")
            }
            TokenError::Forbidden(scope) => {
                Self::new(StatusCode::FORBIDDEN, format!("Unauthorized for {scope}"))
            }
            TokenError::InvalidExpiration(m) => Self::bad_request(m),
            TokenError::NotRevocable(m) => Self::new(StatusCode::FORBIDDEN, m),
            TokenError::NotExchangeable(m) => Self::bad_request(m),
            e @ TokenError::TooManyTokens(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
            }
            TokenError::Store(e) => {
                log_store(&e);
                let (status, reason) = store_status(&e);
                Self::new(status, reason)
            }
        }
    }
}

impl From<AuthError> for LegacyError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::UnknownBackend(_) | AuthError::InvalidCredentials => {
                Self::unauthorized("Authentication Failed")
            }
            AuthError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the authentication backend is unavailable, retry later",
            ),
            AuthError::Internal(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
            AuthError::Throttled(seconds) => LegacyError {
                retry_after: Some(seconds),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many failed attempts, retry in {seconds} s"),
                )
            },
        }
    }
}

/// Which API's error body an answer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Legacy,
    Uc,
}

/// The JSON error for a status the framework chose (413, 405, ...).
pub fn framework_error(api: Api, status: StatusCode) -> Response {
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_owned(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported content type".to_owned(),
        other => other.canonical_reason().unwrap_or("error").to_owned(),
    };
    match api {
        Api::Legacy => LegacyError::new(status, message).into_response(),
        Api::Uc => {
            let code = if status.is_server_error() {
                UcCode::UnhandledError
            } else {
                UcCode::InvalidRequest
            };
            let body = json!({"error": code.name(), "message": message});
            (status, Json(body)).into_response()
        }
    }
}

/// The error codes of the UC API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UcCode {
    InvalidCredentials,
    InvalidJson,
    InvalidToken,
    TokenExpired,
    TokenNotRevocable,
    BackendUnavailable,
    InvalidOidcToken,
    UserNotFound,
    OidcProviderUnavailable,
    InvalidRequest,
    CasServerInvalidTicket,
    CasServiceNotAllowed,
    CasServerUnavailable,
    InvalidSession,
    WebSessionUnavailable,
    SsoAuthenticationFailed,
    TooManyAttempts,
    TooManyTokens,
    UnhandledError,
}

impl UcCode {
    fn status(self) -> StatusCode {
        match self {
            UcCode::InvalidCredentials
            | UcCode::InvalidToken
            | UcCode::TokenExpired
            | UcCode::InvalidOidcToken
            | UcCode::CasServerInvalidTicket
            | UcCode::InvalidSession
            | UcCode::SsoAuthenticationFailed => StatusCode::UNAUTHORIZED,
            UcCode::InvalidJson | UcCode::InvalidRequest | UcCode::CasServiceNotAllowed => {
                StatusCode::BAD_REQUEST
            }
            UcCode::CasServerUnavailable | UcCode::WebSessionUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            UcCode::UserNotFound => StatusCode::NOT_FOUND,
            UcCode::TooManyAttempts | UcCode::TooManyTokens => StatusCode::TOO_MANY_REQUESTS,
            UcCode::OidcProviderUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            UcCode::TokenNotRevocable => StatusCode::FORBIDDEN,
            UcCode::BackendUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            UcCode::UnhandledError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn name(self) -> &'static str {
        match self {
            UcCode::InvalidCredentials => "InvalidCredentials",
            UcCode::InvalidJson => "InvalidJson",
            UcCode::InvalidToken => "InvalidToken",
            UcCode::TokenExpired => "TokenExpired",
            UcCode::TokenNotRevocable => "TokenNotRevocable",
            UcCode::BackendUnavailable => "BackendUnavailable",
            UcCode::InvalidOidcToken => "InvalidOidcToken",
            UcCode::UserNotFound => "UserNotFound",
            UcCode::OidcProviderUnavailable => "OidcProviderUnavailable",
            UcCode::InvalidRequest => "InvalidRequest",
            UcCode::CasServerInvalidTicket => "CasServerInvalidTicket",
            UcCode::CasServiceNotAllowed => "CasServiceNotAllowed",
            UcCode::CasServerUnavailable => "CasServerUnavailable",
            UcCode::InvalidSession => "InvalidSession",
            UcCode::WebSessionUnavailable => "WebSessionUnavailable",
            UcCode::SsoAuthenticationFailed => "SsoAuthenticationFailed",
            UcCode::TooManyAttempts => "TooManyAttempts",
            UcCode::TooManyTokens => "TooManyTokens",
            UcCode::UnhandledError => "UnhandledError",
        }
    }
}

/// An error of the UC API.
#[derive(Debug)]
pub struct UcError {
    pub code: UcCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
    /// A `WWW-Authenticate` challenge.
    pub challenge: Option<&'static str>,
}

impl UcError {
    pub fn new(code: UcCode, message: impl Into<String>) -> Self {
        UcError {
            code,
            message: message.into(),
            retry_after: None,
            challenge: None,
        }
    }
}

impl IntoResponse for UcError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code.name(), "message": self.message});
        let mut response = (self.code.status(), Json(body)).into_response();
        set_retry_after(&mut response, self.retry_after);
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<TokenError> for UcError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotFound => UcError::new(UcCode::InvalidToken, "invalid token"),
            TokenError::Expired => UcError::new(UcCode::TokenExpired, "the token has expired"),
            TokenError::Forbidden(scope) => UcError::new(
                UcCode::InvalidToken,
                format!("the token does not grant {scope}"),
            ),
            TokenError::InvalidExpiration(m) => UcError::new(UcCode::InvalidJson, m),
            TokenError::NotRevocable(m) => UcError::new(UcCode::TokenNotRevocable, m),
            TokenError::NotExchangeable(m) => UcError::new(UcCode::InvalidToken, m),
            e @ TokenError::TooManyTokens(_) => UcError::new(UcCode::TooManyTokens, e.to_string()),
            TokenError::Store(e) => {
                log_store(&e);
                match e {
                    StoreError::Unavailable(_) => UcError::new(
                        UcCode::BackendUnavailable,
                        "the token store is unavailable, retry later",
                    ),
                    StoreError::Internal(_) => {
                        UcError::new(UcCode::UnhandledError, "internal error")
                    }
                }
            }
        }
    }
}

impl From<AuthError> for UcError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::UnknownBackend(_) | AuthError::InvalidCredentials => {
                UcError::new(UcCode::InvalidCredentials, "invalid login or password")
            }
            AuthError::Unavailable(_) => UcError::new(
                UcCode::BackendUnavailable,
                "the authentication backend is unavailable, retry later",
            ),
            AuthError::Internal(_) => UcError::new(UcCode::UnhandledError, "internal error"),
            AuthError::Throttled(seconds) => UcError {
                retry_after: Some(seconds),
                ..UcError::new(
                    UcCode::TooManyAttempts,
                    format!("too many failed attempts, retry in {seconds} s"),
                )
            },
        }
    }
}

/// An error of the OAuth 2.0 endpoints: `{"error", "error_description"}`
/// (RFC 6749, 5.2).
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type {grant:?} is not supported; use token exchange (RFC 8693)"),
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "Basic realm=\"sesame\", Bearer realm=\"sesame\"",
                ),
            );
        }
        response
    }
}

impl From<CallerError> for OAuthError {
    fn from(e: CallerError) -> Self {
        match e {
            CallerError::Missing | CallerError::Invalid => {
                OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", e.to_string())
            }
            CallerError::Forbidden => {
                OAuthError::new(StatusCode::FORBIDDEN, "insufficient_scope", e.to_string())
            }
            CallerError::Unavailable(m) => {
                tracing::warn!(error = %m, "OAuth client authentication unavailable");
                OAuthError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "a backend is unavailable, retry later",
                )
            }
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        log_store(&e);
        let (status, message) = store_status(&e);
        let code = if status == StatusCode::SERVICE_UNAVAILABLE {
            "temporarily_unavailable"
        } else {
            "server_error"
        };
        OAuthError::new(status, code, message)
    }
}

impl From<TokenError> for OAuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Store(e) => e.into(),
            TokenError::NotRevocable(why) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_token_type", why)
            }
            e @ TokenError::TooManyTokens(_) => too_many_tokens(e.to_string()),
            other => OAuthError::invalid_request(other.to_string()),
        }
    }
}

/// The per-user cap, on the OAuth routes: an extension error code (RFC 6749, 8.5).
fn too_many_tokens(message: String) -> OAuthError {
    OAuthError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_tokens", message)
}

impl From<ExchangeError> for OAuthError {
    fn from(e: ExchangeError) -> Self {
        match e {
            ExchangeError::InvalidRequest(m) => OAuthError::invalid_request(m),
            ExchangeError::InvalidGrant(m) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", m)
            }
            ExchangeError::InvalidScope(m) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", m)
            }
            ExchangeError::Unavailable(m) => OAuthError::from(StoreError::Unavailable(m)),
            ExchangeError::TooManyTokens(m) => too_many_tokens(m),
        }
    }
}

/// Why the gateway check refused a request: 401, 403 or 503, the only
/// answers a gateway subrequest understands besides 2xx.
#[derive(Debug)]
pub enum GatewayDenied {
    NoToken,
    InvalidToken,
    Forbidden,
    Store(StoreError),
}

impl From<TokenError> for GatewayDenied {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Forbidden(_) => GatewayDenied::Forbidden,
            TokenError::Store(e) => GatewayDenied::Store(e),
            _ => GatewayDenied::InvalidToken,
        }
    }
}

impl IntoResponse for GatewayDenied {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            GatewayDenied::NoToken => (StatusCode::UNAUTHORIZED, "a token is required".to_owned()),
            GatewayDenied::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "invalid or expired token".to_owned(),
            ),
            GatewayDenied::Forbidden => (
                StatusCode::FORBIDDEN,
                "the token does not grant this request".to_owned(),
            ),
            GatewayDenied::Store(e) => {
                log_store(&e);
                store_status(&e)
            }
        };
        let mut response = (status, Json(json!({"message": message}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"sesame\""),
            );
        }
        response
    }
}

impl UcError {
    /// A CAS failure, with the CAS codes of the UC API.
    pub fn cas(e: FederatedError) -> Self {
        match e {
            FederatedError::Invalid(m) => UcError::new(UcCode::CasServerInvalidTicket, m),
            FederatedError::ServiceNotAllowed(s) => UcError::new(
                UcCode::CasServiceNotAllowed,
                format!("the service {s:?} is not in cas.allowed_services"),
            ),
            FederatedError::Unavailable(m) => {
                tracing::warn!(error = %m, "CAS server unavailable");
                UcError::new(
                    UcCode::CasServerUnavailable,
                    "the CAS server is unavailable, retry later",
                )
            }
            other => other.into(),
        }
    }
}

/// The challenge of the Kerberos routes' 401 answers.
pub const NEGOTIATE: &str = "Negotiate";

impl UcError {
    /// A Kerberos failure on the SSO route: a ticket refused is a 401 that
    /// asks for another (`WWW-Authenticate: Negotiate`); a valid ticket for
    /// nobody is `UserNotFound` (404); Sesame's own trouble (keytab) a 503.
    pub fn kerberos(e: FederatedError) -> Self {
        match e {
            FederatedError::Invalid(m) => UcError {
                challenge: Some(NEGOTIATE),
                ..UcError::new(UcCode::SsoAuthenticationFailed, m)
            },
            FederatedError::Unavailable(m) => {
                tracing::warn!(error = %m, "Kerberos unavailable");
                UcError::new(
                    UcCode::BackendUnavailable,
                    "Kerberos authentication is unavailable, retry later",
                )
            }
            other => other.into(),
        }
    }
}

impl LegacyError {
    /// A Kerberos failure on `POST /0.1/token`.
    pub fn kerberos(e: FederatedError) -> Self {
        match e {
            FederatedError::Invalid(m) => LegacyError {
                challenge: Some(NEGOTIATE),
                ..Self::unauthorized(format!("Kerberos authentication failed: {m}"))
            },
            FederatedError::UserNotFound(m) => LegacyError {
                challenge: Some(NEGOTIATE),
                ..Self::unauthorized(format!("no local user for {m}"))
            },
            FederatedError::Unavailable(m) => {
                tracing::warn!(error = %m, "Kerberos unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Kerberos authentication is unavailable, retry later",
                )
            }
            FederatedError::BadRequest(m) | FederatedError::ServiceNotAllowed(m) => {
                Self::bad_request(m)
            }
        }
    }
}

impl UcError {
    /// A web-session failure, with its own UC codes.
    pub fn web_session(e: FederatedError) -> Self {
        match e {
            FederatedError::Invalid(m) => UcError::new(UcCode::InvalidSession, m),
            FederatedError::Unavailable(m) => {
                tracing::warn!(error = %m, "web application unavailable");
                UcError::new(
                    UcCode::WebSessionUnavailable,
                    "the web application is unavailable, retry later",
                )
            }
            other => other.into(),
        }
    }
}

impl From<FederatedError> for UcError {
    fn from(e: FederatedError) -> Self {
        match e {
            FederatedError::Invalid(m) => UcError::new(UcCode::InvalidOidcToken, m),
            FederatedError::UserNotFound(m) => {
                UcError::new(UcCode::UserNotFound, format!("no local user for {m}"))
            }
            FederatedError::Unavailable(m) => {
                tracing::warn!(error = %m, "OpenID provider unavailable");
                UcError::new(
                    UcCode::OidcProviderUnavailable,
                    "the OpenID provider is unavailable, retry later",
                )
            }
            FederatedError::BadRequest(m) | FederatedError::ServiceNotAllowed(m) => {
                UcError::new(UcCode::InvalidRequest, m)
            }
        }
    }
}

impl From<FederatedError> for LegacyError {
    fn from(e: FederatedError) -> Self {
        match e {
            FederatedError::Invalid(m) => Self::unauthorized(format!("not accepted: {m}")),
            FederatedError::UserNotFound(m) => Self::unauthorized(format!("no local user for {m}")),
            FederatedError::Unavailable(m) => {
                tracing::warn!(error = %m, "OpenID provider unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the OpenID provider is unavailable, retry later",
                )
            }
            FederatedError::BadRequest(m) | FederatedError::ServiceNotAllowed(m) => {
                Self::bad_request(m)
            }
        }
    }
}

impl From<FederatedError> for OAuthError {
    fn from(e: FederatedError) -> Self {
        match e {
            FederatedError::Invalid(m) => OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                format!("invalid subject_token: {m}"),
            ),
            FederatedError::UserNotFound(m) => OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                format!("no local user for {m}"),
            ),
            FederatedError::Unavailable(m) => {
                tracing::warn!(error = %m, "OpenID provider unavailable");
                OAuthError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the OpenID provider is unavailable, retry later",
                )
            }
            FederatedError::BadRequest(m) | FederatedError::ServiceNotAllowed(m) => {
                OAuthError::invalid_request(m)
            }
        }
    }
}
