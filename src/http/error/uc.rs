//! The UC routes' errors: `{"error": CODE, "message": text}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{NEGOTIATE, set_challenge, set_retry_after, store_failure, unavailable};
use crate::http::wire::UcErrorBody;
use crate::login::{Failure, LoginError, Via};
use crate::store::StoreError;
use crate::token::TokenError;

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
            UcCode::BackendUnavailable
            | UcCode::OidcProviderUnavailable
            | UcCode::CasServerUnavailable
            | UcCode::WebSessionUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            UcCode::UserNotFound => StatusCode::NOT_FOUND,
            UcCode::TooManyAttempts | UcCode::TooManyTokens => StatusCode::TOO_MANY_REQUESTS,
            UcCode::TokenNotRevocable => StatusCode::FORBIDDEN,
            UcCode::UnhandledError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn name(self) -> &'static str {
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

    /// The code of a refused credential of each kind.
    fn refused(via: Via) -> Self {
        match via {
            Via::Password => UcCode::InvalidCredentials,
            Via::Kerberos => UcCode::SsoAuthenticationFailed,
            Via::Oidc => UcCode::InvalidOidcToken,
            Via::Cas => UcCode::CasServerInvalidTicket,
            Via::WebSession => UcCode::InvalidSession,
        }
    }

    /// The code of each kind's upstream being out of reach.
    fn unavailable(via: Via) -> Self {
        match via {
            Via::Password | Via::Kerberos => UcCode::BackendUnavailable,
            Via::Oidc => UcCode::OidcProviderUnavailable,
            Via::Cas => UcCode::CasServerUnavailable,
            Via::WebSession => UcCode::WebSessionUnavailable,
        }
    }
}

/// An error of the UC API.
#[derive(Debug)]
pub struct UcError {
    pub code: UcCode,
    pub message: String,
    status: StatusCode,
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
            status: code.status(),
            retry_after: None,
            challenge: None,
        }
    }

    /// The same body with a status the framework chose (413, 405, ...).
    pub fn with_status(self, status: StatusCode) -> Self {
        UcError { status, ..self }
    }
}

impl IntoResponse for UcError {
    fn into_response(self) -> Response {
        let body = UcErrorBody {
            error: self.code.name().into(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        set_retry_after(&mut response, self.retry_after);
        if let Some(challenge) = self.challenge {
            set_challenge(&mut response, challenge);
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
            TokenError::ForbiddenTenant(tenant) => UcError::new(
                UcCode::InvalidToken,
                format!("the token is not valid for tenant {tenant}"),
            ),
            TokenError::InvalidExpiration(m) => UcError::new(UcCode::InvalidJson, m),
            TokenError::NotRevocable(m) => UcError::new(UcCode::TokenNotRevocable, m),
            TokenError::NotExchangeable(m) => UcError::new(UcCode::InvalidToken, m),
            e @ (TokenError::TooManyTokens(_) | TokenError::TooManyRefreshTokens(_)) => {
                UcError::new(UcCode::TooManyTokens, e.to_string())
            }
            TokenError::Store(e) => {
                let (_, message) = store_failure(&e);
                let code = match e {
                    StoreError::Unavailable(_) => UcCode::BackendUnavailable,
                    StoreError::Internal(_) => UcCode::UnhandledError,
                };
                UcError::new(code, message)
            }
        }
    }
}

impl From<LoginError> for UcError {
    fn from(e: LoginError) -> Self {
        let via = e.via;
        match e.failure {
            Failure::BadRequest(m) | Failure::Scope(m) => UcError::new(UcCode::InvalidRequest, m),
            Failure::Missing(m) | Failure::Refused(m) => {
                let message = match via {
                    Via::Password => "invalid login or password".to_owned(),
                    _ => m,
                };
                UcError {
                    // A refused ticket is answered with a call for another.
                    challenge: (via == Via::Kerberos).then_some(NEGOTIATE),
                    ..UcError::new(UcCode::refused(via), message)
                }
            }
            Failure::ServiceNotAllowed(s) => UcError::new(
                UcCode::CasServiceNotAllowed,
                format!("the service {s:?} is not in cas.allowed_services"),
            ),
            Failure::NoLocalUser(m) => {
                UcError::new(UcCode::UserNotFound, format!("no local user for {m}"))
            }
            Failure::Throttled(seconds) => UcError {
                retry_after: Some(seconds),
                ..UcError::new(
                    UcCode::TooManyAttempts,
                    format!("too many failed attempts, retry in {seconds} s"),
                )
            },
            Failure::Unavailable(_) => {
                UcError::new(UcCode::unavailable(via), unavailable(via.upstream()))
            }
            Failure::Internal(_) => UcError::new(UcCode::UnhandledError, "internal error"),
            Failure::Token(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::read;
    use super::*;

    fn answer(via: Via, failure: Failure) -> (u16, Option<String>, serde_json::Value) {
        read(
            UcError::from(LoginError::new(via, failure)).into_response(),
            "www-authenticate",
        )
    }

    #[test]
    fn each_kind_has_its_codes() {
        let cases = [
            (
                Via::Password,
                401,
                "InvalidCredentials",
                503,
                "BackendUnavailable",
            ),
            (
                Via::Kerberos,
                401,
                "SsoAuthenticationFailed",
                503,
                "BackendUnavailable",
            ),
            (
                Via::Oidc,
                401,
                "InvalidOidcToken",
                503,
                "OidcProviderUnavailable",
            ),
            (
                Via::Cas,
                401,
                "CasServerInvalidTicket",
                503,
                "CasServerUnavailable",
            ),
            (
                Via::WebSession,
                401,
                "InvalidSession",
                503,
                "WebSessionUnavailable",
            ),
        ];
        for (via, refused, refused_code, down, down_code) in cases {
            let (status, challenge, body) = answer(via, Failure::Refused("no".into()));
            assert_eq!(
                (status, body["error"].as_str()),
                (refused, Some(refused_code))
            );
            assert_eq!(challenge.is_some(), via == Via::Kerberos, "{via:?}");
            let (status, _, body) = answer(via, Failure::Unavailable("timeout".into()));
            assert_eq!((status, body["error"].as_str()), (down, Some(down_code)));
            assert_eq!(
                body["message"],
                format!("{} is unavailable, retry later", via.upstream())
            );
        }
    }

    #[test]
    fn the_other_failures() {
        let (status, _, body) = answer(Via::Oidc, Failure::NoLocalUser("bob".into()));
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("UserNotFound"))
        );
        assert_eq!(body["message"], "no local user for bob");
        let (status, _, body) =
            answer(Via::Cas, Failure::ServiceNotAllowed("https://evil/".into()));
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("CasServiceNotAllowed"))
        );
        let (status, _, body) = answer(Via::Password, Failure::Throttled(3));
        assert_eq!(
            (status, body["error"].as_str()),
            (429, Some("TooManyAttempts"))
        );
        let (status, _, body) = answer(
            Via::Kerberos,
            Failure::BadRequest("Kerberos is not configured".into()),
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("InvalidRequest"))
        );
        let (status, _, body) = answer(
            Via::Password,
            Failure::Token(TokenError::Store(StoreError::Unavailable("down".into()))),
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("BackendUnavailable"))
        );
        assert_eq!(
            body["message"],
            "the token store is unavailable, retry later"
        );
        let (status, _, body) = read(
            UcError::new(UcCode::InvalidRequest, "too big")
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
                .into_response(),
            "x",
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (413, Some("InvalidRequest"))
        );
    }
}
