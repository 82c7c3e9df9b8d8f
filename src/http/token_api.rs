//! The /0.1 token API, with xivo-auth's wire contract.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use super::error::LegacyError;
use super::extract::{Client, basic_credentials, bearer, cookie_headers, negotiate, query_param};
use super::wire::{BackendsEnvelope, Message, MessageEnvelope, TokenData, TokenEnvelope};

use crate::login::{Credential, Lifetime, LoginRequest, Presented};
use crate::token::{TokenService, VerifiedToken};
use sesame_backends::Password;

/// `POST /0.1/token` body, checked by hand so that each fault gets its own
/// message (the string `"30"` is not an expiration).
pub struct CreateRequest {
    pub backend: String,
    pub expiration: Option<i64>,
}

/// Read the body of `POST /0.1/token` (also driven by the fuzz target `api`).
pub fn parse_create(body: &[u8]) -> Result<CreateRequest, LegacyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(LegacyError::bad_request("a JSON body is required"));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| LegacyError::bad_request(format!("invalid JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(LegacyError::bad_request("the body must be a JSON object"));
    };
    let backend = match fields.get("backend") {
        Some(Value::String(b)) if !b.is_empty() => b.clone(),
        Some(_) => {
            return Err(LegacyError::bad_request(
                "backend must be a non-empty string",
            ));
        }
        None => return Err(LegacyError::bad_request("backend is required")),
    };
    let expiration = match fields.get("expiration") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(secs) if secs > 0 => Some(secs),
            _ => {
                return Err(LegacyError::bad_request(
                    "expiration must be a positive integer number of seconds",
                ));
            }
        },
        Some(_) => {
            return Err(LegacyError::bad_request(
                "expiration must be a positive integer number of seconds",
            ));
        }
    };
    Ok(CreateRequest {
        backend,
        expiration,
    })
}

/// The `data` object of a token, as xivo-auth answers it.
pub fn token_data(service: &TokenService, token: &str, verified: &VerifiedToken) -> TokenData {
    let r = verified.record();
    TokenData {
        token: token.to_owned(),
        auth_id: r.auth_id.clone(),
        xivo_user_uuid: r.user_uuid.clone(),
        xivo_uuid: service.policy().platform_uuid.to_string(),
        issued_at: r.issued_at.format_local(),
        utc_issued_at: r.issued_at.format_utc(),
        expires_at: verified.expires_at().map(|t| t.format_local()),
        utc_expires_at: verified.expires_at().map(|t| t.format_utc()),
        acl: r.acl.clone(),
        metadata: r.metadata.clone(),
        session_uuid: r.session_uuid.to_string(),
        remote_addr: r.remote_addr.clone(),
        user_agent: r.user_agent.clone(),
    }
}

/// Trade credentials for a token.
///
/// HTTP Basic credentials checked by the password backend named in the body;
/// or, by backend: `oidc` with `Authorization: Bearer <OpenID token>`,
/// `kerberos` with `Authorization: Negotiate <SPNEGO token>`, `web_session`
/// with the web application's session cookie.
#[utoipa::path(post, path = "/0.1/token", tag = "token",
    request_body = super::wire::CreateTokenRequest,
    security(("basic" = []), ("bearer" = []), ("negotiate" = [])),
    responses(
        (status = 200, description = "The new token", body = super::wire::TokenEnvelope),
        (status = 400, description = "No body, invalid JSON, no backend, bad expiration", body = super::wire::LegacyErrorBody),
        (status = 401, description = "No or bad credentials, unknown backend, disabled account, or a verified external identity without a local user", body = super::wire::LegacyErrorBody),
        (status = 413, description = "Body too large", body = super::wire::LegacyErrorBody),
        (status = 429, description = "Too many failed logins (Retry-After)", body = super::wire::LegacyErrorBody),
        (status = 503, description = "A backend, upstream or the token store is unavailable", body = super::wire::LegacyErrorBody),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Result<Response, LegacyError> {
    let request = parse_create(&body)?;
    let credential = Credential::named(&request.backend, presented(&headers));
    let login = LoginRequest::new(credential, Lifetime::Requested(request.expiration));
    let login = state.broker.login(login, client).await?;
    let data = token_data(&state.tokens, &login.token, &login.verified);
    let mut response = Json(TokenEnvelope { data }).into_response();
    super::mutual_auth(&mut response, login.mutual_auth);
    Ok(response)
}

/// Every proof `POST /0.1/token` may read, whichever its backend takes.
fn presented(headers: &HeaderMap) -> Presented {
    Presented {
        basic: basic_credentials(headers).map(|(login, pw)| (login, Password::new(pw))),
        bearer: bearer(headers),
        negotiate: negotiate(headers),
        cookies: cookie_headers(headers),
    }
}

fn scope_of(query: Option<&str>) -> Option<String> {
    query.and_then(|q| query_param(q, "scope"))
}

/// Whether a token is valid (and grants `scope`), without a body.
#[utoipa::path(head, path = "/0.1/token/{token}", tag = "token",
    params(
        ("token" = String, Path, description = "The token"),
        ("scope" = Option<String>, Query, description = "An ACL the token must grant"),
    ),
    responses(
        (status = 204, description = "Valid"),
        (status = 403, description = "Valid, but `scope` is not granted"),
        (status = 404, description = "Unknown, expired, revoked or malformed"),
        (status = 503, description = "The token store is unavailable"),
    ))]
pub async fn head_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, LegacyError> {
    let scope = scope_of(query.as_deref());
    state.tokens.check(&token, scope.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A token's data, when it is valid (and grants `scope`).
#[utoipa::path(get, path = "/0.1/token/{token}", tag = "token",
    params(
        ("token" = String, Path, description = "The token"),
        ("scope" = Option<String>, Query, description = "An ACL the token must grant"),
    ),
    responses(
        (status = 200, description = "Valid", body = super::wire::TokenEnvelope),
        (status = 403, description = "Valid, but `scope` is not granted", body = super::wire::LegacyErrorBody),
        (status = 404, description = "Unknown, expired, revoked or malformed", body = super::wire::LegacyErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::LegacyErrorBody),
    ))]
pub async fn get_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<TokenEnvelope>, LegacyError> {
    let scope = scope_of(query.as_deref());
    let verified = state.tokens.check(&token, scope.as_deref()).await?;
    let data = token_data(&state.tokens, &token, &verified);
    Ok(Json(TokenEnvelope { data }))
}

/// Revoke a token (200 also for an unknown one).
#[utoipa::path(delete, path = "/0.1/token/{token}", tag = "token",
    params(("token" = String, Path, description = "The token")),
    responses(
        (status = 200, description = "Revoked, or unknown", body = super::wire::MessageEnvelope),
        (status = 403, description = "The shared token or a static token", body = super::wire::LegacyErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::LegacyErrorBody),
    ))]
pub async fn delete_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<MessageEnvelope>, LegacyError> {
    state.tokens.revoke(&token).await?;
    Ok(Json(MessageEnvelope {
        data: Message::success(),
    }))
}

/// The password backends, then the other credentials `POST /0.1/token`
/// takes, when configured.
#[utoipa::path(get, path = "/0.1/backends", tag = "token",
    responses((status = 200, description = "The enabled backends", body = super::wire::BackendsEnvelope)))]
pub async fn list_backends(State(state): State<AppState>) -> Json<BackendsEnvelope> {
    Json(BackendsEnvelope {
        data: state.broker.backend_names(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_validation() {
        assert!(parse_create(b"").is_err());
        assert!(parse_create(b"{").is_err());
        assert!(parse_create(b"[]").is_err());
        assert!(parse_create(br#"{"expiration": 10}"#).is_err());
        assert!(parse_create(br#"{"backend": 1}"#).is_err());
        for bad in [r#""30""#, "0", "-1", "1.5", "true", "1e3"] {
            let body = format!(r#"{{"backend": "xivo_user", "expiration": {bad}}}"#);
            assert!(parse_create(body.as_bytes()).is_err(), "{bad}");
        }
        let ok = parse_create(br#"{"backend": "xivo_user", "expiration": 600}"#).unwrap();
        assert_eq!(
            (ok.backend.as_str(), ok.expiration),
            ("xivo_user", Some(600))
        );
        assert_eq!(
            parse_create(br#"{"backend": "b"}"#).unwrap().expiration,
            None
        );
    }
}
