//! The gateway check's refusals: 401, 403 or 503, the only answers a
//! gateway subrequest understands besides 2xx.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{set_challenge, store_failure};
use crate::http::wire::GatewayRefusal;
use crate::store::StoreError;
use crate::token::TokenError;

/// Why the gateway check refused a request.
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
            TokenError::Forbidden(_) | TokenError::ForbiddenTenant(_) => GatewayDenied::Forbidden,
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
            GatewayDenied::Store(e) => store_failure(&e),
        };
        let mut response = (status, Json(GatewayRefusal { message })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            set_challenge(&mut response, "Bearer realm=\"sesame\"");
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::read;
    use super::*;

    #[test]
    fn only_401_403_and_503() {
        let (status, challenge, _) =
            read(GatewayDenied::NoToken.into_response(), "www-authenticate");
        assert_eq!(
            (status, challenge.as_deref()),
            (401, Some("Bearer realm=\"sesame\""))
        );
        let expired: GatewayDenied = TokenError::Expired.into();
        assert_eq!(read(expired.into_response(), "x").0, 401);
        let forbidden: GatewayDenied = TokenError::Forbidden("x".into()).into();
        assert_eq!(read(forbidden.into_response(), "x").0, 403);
        let down: GatewayDenied = TokenError::Store(StoreError::Unavailable("redis".into())).into();
        let (status, _, body) = read(down.into_response(), "x");
        assert_eq!(status, 503);
        assert_eq!(
            body["message"],
            "the token store is unavailable, retry later"
        );
    }
}
