//! The /0.1 routes' errors, with xivo-auth's body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{NEGOTIATE, set_challenge, set_retry_after, store_failure, unavailable};
use crate::http::wire::LegacyErrorBody;
use crate::login::{Failure, LoginError, Via};
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
        let body = LegacyErrorBody {
            reason: vec![self.reason],
            timestamp: vec![timestamp],
            status_code: self.status.as_u16(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            set_challenge(
                &mut response,
                self.challenge.unwrap_or("Basic realm=\"sesame\""),
            );
        }
        set_retry_after(&mut response, self.retry_after);
        response
    }
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
            TokenError::ForbiddenTenant(tenant) => Self::new(
                StatusCode::FORBIDDEN,
                format!("Unauthorized for tenant {tenant}"),
            ),
            TokenError::InvalidExpiration(m) => Self::bad_request(m),
            TokenError::NotRevocable(m) => Self::new(StatusCode::FORBIDDEN, m),
            TokenError::NotExchangeable(m) => Self::bad_request(m),
            e @ (TokenError::TooManyTokens(_) | TokenError::TooManyRefreshTokens(_)) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
            }
            TokenError::Store(e) => {
                let (status, reason) = store_failure(&e);
                Self::new(status, reason)
            }
        }
    }
}

impl From<LoginError> for LegacyError {
    fn from(e: LoginError) -> Self {
        let via = e.via;
        // A Kerberos refusal asks for another ticket.
        let refused = |reason: String| LegacyError {
            challenge: (via == Via::Kerberos).then_some(NEGOTIATE),
            ..Self::unauthorized(reason)
        };
        match e.failure {
            Failure::BadRequest(m) | Failure::ServiceNotAllowed(m) | Failure::Scope(m) => {
                Self::bad_request(m)
            }
            Failure::Missing(m) => refused(match via {
                Via::Kerberos => format!("Kerberos authentication failed: {m}"),
                _ => m,
            }),
            Failure::Refused(m) => refused(match via {
                Via::Password => "Authentication Failed".to_owned(),
                Via::Kerberos => format!("Kerberos authentication failed: {m}"),
                _ => format!("not accepted: {m}"),
            }),
            Failure::NoLocalUser(m) => refused(format!("no local user for {m}")),
            Failure::Throttled(seconds) => LegacyError {
                retry_after: Some(seconds),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many failed attempts, retry in {seconds} s"),
                )
            },
            Failure::Unavailable(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, unavailable(via.upstream()))
            }
            Failure::Internal(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
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
            LegacyError::from(LoginError::new(via, failure)).into_response(),
            "www-authenticate",
        )
    }

    #[test]
    fn each_upstream_is_named_when_it_is_down() {
        for (via, what) in [
            (Via::Password, "the authentication backend"),
            (Via::Kerberos, "Kerberos authentication"),
            (Via::Oidc, "the OpenID provider"),
            (Via::WebSession, "the web application"),
        ] {
            let (status, _, body) = answer(via, Failure::Unavailable("connection refused".into()));
            assert_eq!(status, 503);
            assert_eq!(
                body["reason"][0],
                format!("{what} is unavailable, retry later")
            );
            assert_eq!(body["status_code"], 503);
        }
    }

    #[test]
    fn refusals_are_401_with_the_right_challenge() {
        let (status, challenge, body) = answer(
            Via::Password,
            Failure::Refused("invalid credentials".into()),
        );
        assert_eq!(
            (status, challenge.as_deref()),
            (401, Some("Basic realm=\"sesame\""))
        );
        assert_eq!(body["reason"][0], "Authentication Failed");
        let (status, challenge, body) =
            answer(Via::Kerberos, Failure::NoLocalUser("bob@REALM".into()));
        assert_eq!((status, challenge.as_deref()), (401, Some("Negotiate")));
        assert_eq!(body["reason"][0], "no local user for bob@REALM");
        let (status, _, body) = answer(Via::Oidc, Failure::NoLocalUser("bob".into()));
        assert_eq!(status, 401, "no local user is 401 on /0.1, as documented");
        assert_eq!(body["reason"][0], "no local user for bob");
        let (status, _, body) = answer(Via::Oidc, Failure::Refused("expired".into()));
        assert_eq!(
            (status, body["reason"][0].as_str()),
            (401, Some("not accepted: expired"))
        );
    }

    #[test]
    fn throttles_requests_and_tokens() {
        let (status, retry, _) = answer(Via::Password, Failure::Throttled(7));
        assert_eq!((status, retry.as_deref()), (429, None));
        let response = LegacyError::from(LoginError::new(Via::Password, Failure::Throttled(7)))
            .into_response();
        assert_eq!(response.headers()["retry-after"], "7");
        let (status, _, _) = answer(
            Via::Cas,
            Failure::BadRequest("CAS is not configured".into()),
        );
        assert_eq!(status, 400);
        let (status, _, body) = answer(
            Via::Password,
            Failure::Token(TokenError::InvalidExpiration("too long".into())),
        );
        assert_eq!(
            (status, body["reason"][0].as_str()),
            (400, Some("too long"))
        );
        let (status, _, body) = read(LegacyError::from(TokenError::NotFound).into_response(), "x");
        assert_eq!(
            (status, body["reason"][0].as_str()),
            (404, Some("No such token"))
        );
    }
}
