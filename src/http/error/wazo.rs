//! The errors of wazo-auth's protected routes (`/0.1/tokens`,
//! `/0.1/users/.../tokens`): `{"message", "error_id", "details"}`, as
//! wazo-auth's `APIException` and its clients read them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::store_failure;
use crate::http::wire::WazoErrorBody;
use crate::token::TokenError;

/// An error of a protected route.
#[derive(Debug)]
pub struct WazoError {
    pub status: StatusCode,
    pub message: String,
    pub error_id: &'static str,
    pub details: Value,
}

impl WazoError {
    pub fn new(
        status: StatusCode,
        message: impl Into<String>,
        error_id: &'static str,
        details: Value,
    ) -> Self {
        WazoError {
            status,
            message: message.into(),
            error_id,
            details,
        }
    }

    /// No token, an invalid one, or one without `required_access` (the
    /// token itself is never echoed, unlike wazo-auth's `invalid_token`).
    pub fn unauthorized(required_access: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "unauthorized",
            json!({"required_access": required_access}),
        )
    }

    /// `Wazo-Tenant` names a tenant the token may not act in (the answer of
    /// wazo-auth's tenant helper).
    pub fn unauthorized_tenant(tenant: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized tenant",
            "unauthorized-tenant",
            json!({"tenant_uuid": tenant}),
        )
    }

    /// Bad paging parameters.
    pub fn invalid_list(details: Value) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Invalid list parameters",
            "invalid-list-param",
            details,
        )
    }

    /// The store's trouble, or a token refused for `required_access`.
    pub fn of(e: TokenError, required_access: &str) -> Self {
        match e {
            TokenError::Store(e) => {
                let (status, message) = store_failure(&e);
                Self::new(status, message, "store-unavailable", json!({}))
            }
            _ => Self::unauthorized(required_access),
        }
    }
}

impl IntoResponse for WazoError {
    fn into_response(self) -> Response {
        let body = WazoErrorBody {
            message: self.message,
            error_id: self.error_id.into(),
            details: self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::read;
    use super::*;

    #[test]
    fn bodies() {
        let (status, _, body) = read(
            WazoError::unauthorized("auth.tokens.read").into_response(),
            "x",
        );
        assert_eq!(status, 401);
        assert_eq!(body["error_id"], "unauthorized");
        assert_eq!(body["details"]["required_access"], "auth.tokens.read");
        let down = WazoError::of(
            TokenError::Store(crate::store::StoreError::Unavailable("redis".into())),
            "x",
        );
        let (status, _, body) = read(down.into_response(), "x");
        assert_eq!(status, 503);
        assert_eq!(
            body["message"],
            "the token store is unavailable, retry later"
        );
        let (status, _, _) = read(WazoError::of(TokenError::Expired, "x").into_response(), "x");
        assert_eq!(status, 401);
    }
}
