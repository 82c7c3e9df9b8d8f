//! Error bodies: the only place that picks status codes. Domain errors are
//! classified where they happen ([`crate::login::LoginError`],
//! [`crate::token::TokenError`], ...); each wire format renders them in its
//! own module:
//!
//! - [`legacy`]: the /0.1 routes, xivo-auth's body
//!   `{"reason": [msg], "timestamp": [float], "status_code": int}`;
//! - [`uc`]: the UC routes, `{"error": CODE, "message": text}`;
//! - [`oauth`]: the OAuth 2.0 routes, `{"error", "error_description"}`;
//! - [`gateway`]: the gateway check, `{"message": text}`;
//! - [`wazo`]: wazo-auth's protected routes, `{"message", "error_id", "details"}`.

pub mod gateway;
pub mod legacy;
pub mod oauth;
pub mod uc;
pub mod wazo;

pub use gateway::GatewayDenied;
pub use legacy::LegacyError;
pub use oauth::OAuthError;
pub use uc::{UcCode, UcError};
pub use wazo::WazoError;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// The challenge of the Kerberos routes' 401 answers.
pub const NEGOTIATE: &str = "Negotiate";

/// What every format says when `what` cannot be reached.
pub fn unavailable(what: &str) -> String {
    format!("{what} is unavailable, retry later")
}

/// The token store's fault, as status and text; counted in the metrics
/// and logged once, here, where every answer that carries it passes.
fn store_failure(e: &StoreError) -> (StatusCode, String) {
    let kind = match e {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Internal(_) => "internal",
    };
    crate::metrics::global().store_error(kind);
    tracing::error!(error = %e, "token store error");
    match e {
        StoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            unavailable("the token store"),
        ),
        StoreError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
    }
}

fn set_retry_after(response: &mut Response, seconds: Option<u64>) {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
}

fn set_challenge(response: &mut Response, challenge: &'static str) {
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static(challenge),
    );
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
            UcError::new(code, message)
                .with_status(status)
                .into_response()
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use axum::response::Response;
    use serde_json::Value;

    /// The status, the named header and the JSON body of an answer.
    pub fn read(response: Response, header: &str) -> (u16, Option<String>, Value) {
        let status = response.status().as_u16();
        let header = response
            .headers()
            .get(header)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = futures_body(response);
        (status, header, body)
    }

    fn futures_body(response: Response) -> Value {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .ok()
            .and_then(|rt| {
                rt.block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
                    .ok()
            })
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }
}
