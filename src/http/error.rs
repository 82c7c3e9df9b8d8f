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
use crate::store::StoreError;
use crate::token::TokenError;

/// An error of the /0.1 API.
#[derive(Debug)]
pub struct LegacyError {
    pub status: StatusCode,
    pub reason: String,
}

impl LegacyError {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        LegacyError {
            status,
            reason: reason.into(),
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
                axum::http::HeaderValue::from_static("Basic realm=\"sesame\""),
            );
        }
        response
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
    UnhandledError,
}

impl UcCode {
    fn status(self) -> StatusCode {
        match self {
            UcCode::InvalidCredentials | UcCode::InvalidToken | UcCode::TokenExpired => {
                StatusCode::UNAUTHORIZED
            }
            UcCode::InvalidJson => StatusCode::BAD_REQUEST,
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
            UcCode::UnhandledError => "UnhandledError",
        }
    }
}

/// An error of the UC API.
#[derive(Debug)]
pub struct UcError {
    pub code: UcCode,
    pub message: String,
}

impl UcError {
    pub fn new(code: UcCode, message: impl Into<String>) -> Self {
        UcError {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for UcError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code.name(), "message": self.message});
        (self.code.status(), Json(body)).into_response()
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
        }
    }
}
