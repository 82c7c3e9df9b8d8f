//! The OAuth 2.0 routes' errors: `{"error", "error_description"}` (RFC 6749, 5.2).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{set_challenge, set_retry_after, store_failure, unavailable};
use crate::http::wire::OAuthErrorBody;
use crate::login::{Failure, LoginError};
use crate::oauth::{CallerError, ExchangeError};
use crate::store::StoreError;
use crate::token::TokenError;

/// An error of the OAuth 2.0 endpoints.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn temporarily_unavailable(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            description,
        )
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
        let body = OAuthErrorBody {
            error: self.error.into(),
            error_description: self.description,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            set_challenge(
                &mut response,
                "Basic realm=\"sesame\", Bearer realm=\"sesame\"",
            );
        }
        set_retry_after(&mut response, self.retry_after);
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
            CallerError::Unavailable(_) => {
                OAuthError::temporarily_unavailable(unavailable("a backend"))
            }
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        let (status, message) = store_failure(&e);
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
            e @ (TokenError::TooManyTokens(_) | TokenError::TooManyRefreshTokens(_)) => {
                too_many_tokens(e.to_string())
            }
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
            ExchangeError::InvalidGrant(m) => OAuthError::invalid_grant(m),
            ExchangeError::InvalidScope(m) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", m)
            }
            ExchangeError::Unavailable(m) => OAuthError::from(StoreError::Unavailable(m)),
            ExchangeError::TooManyTokens(m) => too_many_tokens(m),
        }
    }
}

/// An external subject token (RFC 8693 with an OpenID token).
impl From<LoginError> for OAuthError {
    fn from(e: LoginError) -> Self {
        let via = e.via;
        match e.failure {
            Failure::BadRequest(m) | Failure::ServiceNotAllowed(m) => {
                OAuthError::invalid_request(m)
            }
            Failure::Missing(m) | Failure::Refused(m) => {
                OAuthError::invalid_grant(format!("invalid subject_token: {m}"))
            }
            Failure::NoLocalUser(m) => OAuthError::invalid_grant(format!("no local user for {m}")),
            Failure::Scope(m) => OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", m),
            Failure::Throttled(seconds) => OAuthError {
                retry_after: Some(seconds),
                ..OAuthError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "slow_down",
                    format!("too many failed attempts, retry in {seconds} s"),
                )
            },
            Failure::Unavailable(_) => {
                OAuthError::temporarily_unavailable(unavailable(via.upstream()))
            }
            Failure::Internal(_) => OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            ),
            Failure::Token(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::read;
    use super::*;
    use crate::login::Via;

    fn answer(failure: Failure) -> (u16, serde_json::Value) {
        let (status, _, body) = read(
            OAuthError::from(LoginError::new(Via::Oidc, failure)).into_response(),
            "x",
        );
        (status, body)
    }

    #[test]
    fn external_subject_tokens() {
        let (status, body) = answer(Failure::Refused("expired".into()));
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(body["error_description"], "invalid subject_token: expired");
        let (status, body) = answer(Failure::NoLocalUser("bob".into()));
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, body) = answer(Failure::Scope(
            "the subject_token does not grant \"x\"".into(),
        ));
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_scope"))
        );
        let (status, body) = answer(Failure::Unavailable("jwks".into()));
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("temporarily_unavailable"))
        );
        assert_eq!(
            body["error_description"],
            "the OpenID provider is unavailable, retry later"
        );
        let (status, body) = answer(Failure::Token(TokenError::TooManyTokens(5)));
        assert_eq!(
            (status, body["error"].as_str()),
            (429, Some("too_many_tokens"))
        );
    }

    #[test]
    fn callers_and_the_store() {
        let (status, challenge, body) = read(
            OAuthError::from(CallerError::Invalid).into_response(),
            "www-authenticate",
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert!(challenge.is_some_and(|c| c.contains("Bearer")));
        let (status, _, body) = read(
            OAuthError::from(CallerError::Unavailable("ldap".into())).into_response(),
            "x",
        );
        assert_eq!(
            (status, body["error_description"].as_str()),
            (503, Some("a backend is unavailable, retry later"))
        );
        let (status, _, body) = read(
            OAuthError::from(StoreError::Internal("disk".into())).into_response(),
            "x",
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (500, Some("server_error"))
        );
    }
}
