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
use super::wire::{
    BackendsEnvelope, Component, Message, MessageEnvelope, ScopesCheck, Status, TokenData,
    TokenEnvelope,
};

use crate::login::{Credential, Lifetime, LoginRequest, Presented, TenantName};
use crate::token::refresh::Offline;
use crate::token::{TokenService, VerifiedToken};
use sesame_backends::Password;

/// The longest `expiration` wazo-auth accepts: ten years.
pub const MAX_EXPIRATION: i64 = 10 * 365 * 24 * 3600;

/// `POST /0.1/token` body, with wazo-auth's fields, checked by hand so that
/// each fault gets its own message (the string `"30"` is not an
/// expiration). Unknown keys are ignored, as wazo-auth does.
#[derive(Debug, Default, PartialEq)]
pub struct CreateRequest {
    /// `None` (or `wazo_user`): the configured password backends, in order.
    pub backend: Option<String>,
    pub expiration: Option<i64>,
    /// `access_type: offline` asks for a refresh token.
    pub offline: bool,
    pub client_id: Option<String>,
    pub refresh_token: Option<String>,
    pub tenant_id: Option<String>,
    pub domain_name: Option<String>,
}

/// The `backend` Wazo clients send for "the platform's users".
pub const WAZO_USER: &str = "wazo_user";

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
    let text = |name: &str, max: usize| -> Result<Option<String>, LegacyError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => {
                Ok(Some(s.clone()))
            }
            Some(_) if max == usize::MAX => Err(LegacyError::bad_request(format!(
                "{name} must be a non-empty string"
            ))),
            Some(_) => Err(LegacyError::bad_request(format!(
                "{name} must be a string of 1 to {max} characters"
            ))),
        }
    };
    // Any name: an unknown one is refused as wrong credentials (401).
    let backend = text("backend", usize::MAX)?.filter(|b| b != WAZO_USER);
    let expiration = match fields.get("expiration") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(secs) if (1..=MAX_EXPIRATION).contains(&secs) => Some(secs),
            _ => return Err(bad_expiration()),
        },
        Some(_) => return Err(bad_expiration()),
    };
    let offline = match text("access_type", 16)?.as_deref() {
        None | Some("online") => false,
        Some("offline") => true,
        Some(_) => {
            return Err(LegacyError::bad_request(
                "access_type must be \"online\" or \"offline\"",
            ));
        }
    };
    let request = CreateRequest {
        backend,
        expiration,
        offline,
        client_id: text("client_id", 1024)?,
        refresh_token: text("refresh_token", 1024)?,
        tenant_id: text("tenant_id", 1024)?,
        domain_name: text("domain_name", 1024)?,
    };
    if request.offline && request.refresh_token.is_some() {
        return Err(LegacyError::bad_request(
            "cannot use the \"access_type\" \"offline\" with a refresh token",
        ));
    }
    if (request.offline || request.refresh_token.is_some()) && request.client_id.is_none() {
        let what = if request.offline {
            "access_type \"offline\""
        } else {
            "a \"refresh_token\""
        };
        return Err(LegacyError::bad_request(format!(
            "\"client_id\" must be specified when using {what}"
        )));
    }
    if request.tenant_id.is_some() && request.domain_name.is_some() {
        return Err(LegacyError::bad_request(
            "\"tenant_id\" and \"domain_name\" must be mutually exclusive",
        ));
    }
    Ok(request)
}

fn bad_expiration() -> LegacyError {
    LegacyError::bad_request(format!(
        "expiration must be an integer number of seconds from 1 to {MAX_EXPIRATION}"
    ))
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
        refresh_token: None,
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
    let request = login_request(parse_create(&body)?, &headers);
    let login = state.broker.login(request, client).await?;
    let mut data = token_data(&state.tokens, &login.token, &login.verified);
    data.refresh_token = login.refresh_token;
    let mut response = Json(TokenEnvelope { data }).into_response();
    // wazo-auth sends it on every login, 0 but for a mobile offline one.
    response.headers_mut().insert(
        "wazo-sessions-revoked",
        axum::http::HeaderValue::from(login.sessions_ended),
    );
    super::mutual_auth(&mut response, login.mutual_auth);
    Ok(response)
}

/// The login a `POST /0.1/token` asks for: by refresh token (with its
/// client id), or with the credential its backend takes; offline or not.
fn login_request(request: CreateRequest, headers: &HeaderMap) -> LoginRequest {
    let offline = request.offline.then(|| Offline {
        client_id: request.client_id.clone().unwrap_or_default(),
    });
    let credential = match (request.refresh_token, request.client_id) {
        (Some(token), Some(client_id)) => Credential::RefreshToken { token, client_id },
        _ => Credential::named(request.backend.as_deref(), presented(headers)),
    };
    let tenant = match (request.tenant_id, request.domain_name) {
        (Some(id), _) => Some(TenantName::Id(id)),
        (None, Some(domain)) => Some(TenantName::Domain(domain)),
        (None, None) => None,
    };
    LoginRequest {
        offline,
        tenant,
        mobile: mobile_session(headers),
        ..LoginRequest::new(credential, Lifetime::Requested(request.expiration))
    }
}

/// `Wazo-Session-Type: mobile`.
pub(super) fn mobile_session(headers: &HeaderMap) -> bool {
    headers
        .get("wazo-session-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("mobile"))
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

/// The `scope` and `tenant` a check asks about.
fn check_of(query: Option<&str>) -> (Option<String>, Option<String>) {
    let param = |name| query.and_then(|q| query_param(q, name));
    (param("scope"), param("tenant"))
}

/// Whether a token is valid (and grants `scope`, for `tenant`), without a body.
#[utoipa::path(head, path = "/0.1/token/{token}", tag = "token",
    params(
        ("token" = String, Path, description = "The token"),
        ("scope" = Option<String>, Query, description = "An ACL the token must grant"),
        ("tenant" = Option<String>, Query, description = "A tenant the token must be valid for"),
    ),
    responses(
        (status = 204, description = "Valid"),
        (status = 403, description = "Valid, but `scope` is not granted, or not for `tenant`"),
        (status = 404, description = "Unknown, expired, revoked or malformed"),
        (status = 503, description = "The token store is unavailable"),
    ))]
pub async fn head_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, LegacyError> {
    let (scope, tenant) = check_of(query.as_deref());
    let tokens = &state.tokens;
    tokens
        .check_for(&token, scope.as_deref(), tenant.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A token's data, when it is valid (and grants `scope`).
#[utoipa::path(get, path = "/0.1/token/{token}", tag = "token",
    params(
        ("token" = String, Path, description = "The token"),
        ("scope" = Option<String>, Query, description = "An ACL the token must grant"),
        ("tenant" = Option<String>, Query, description = "A tenant the token must be valid for"),
    ),
    responses(
        (status = 200, description = "Valid", body = super::wire::TokenEnvelope),
        (status = 403, description = "Valid, but `scope` is not granted, or not for `tenant`", body = super::wire::LegacyErrorBody),
        (status = 404, description = "Unknown, expired, revoked or malformed", body = super::wire::LegacyErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::LegacyErrorBody),
    ))]
pub async fn get_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<TokenEnvelope>, LegacyError> {
    let (scope, tenant) = check_of(query.as_deref());
    let tokens = &state.tokens;
    let verified = tokens
        .check_for(&token, scope.as_deref(), tenant.as_deref())
        .await?;
    let data = token_data(tokens, &token, &verified);
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

/// Most scopes one `scopes/check` request may ask about.
pub const MAX_CHECKED_SCOPES: usize = 256;

/// Read the body of `POST /0.1/token/{token}/scopes/check`.
pub fn parse_scopes_check(body: &[u8]) -> Result<(Vec<String>, Option<String>), LegacyError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| LegacyError::bad_request(format!("invalid JSON: {e}")))?;
    let scopes = match value.get("scopes") {
        Some(Value::Array(items)) if items.len() <= MAX_CHECKED_SCOPES => items
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>(),
        _ => None,
    }
    .ok_or_else(|| {
        LegacyError::bad_request(format!(
            "scopes must be a list of at most {MAX_CHECKED_SCOPES} strings"
        ))
    })?;
    let tenant = match value.get("tenant_uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(LegacyError::bad_request("tenant_uuid must be a string")),
    };
    Ok((scopes, tenant))
}

/// Which of `scopes` a token grants (wazo-auth's `scopes/check`).
#[utoipa::path(post, path = "/0.1/token/{token}/scopes/check", tag = "token",
    params(("token" = String, Path, description = "The token")),
    request_body = super::wire::ScopesCheckRequest,
    responses(
        (status = 200, description = "Each scope, granted or not", body = super::wire::ScopesCheck),
        (status = 400, description = "Not JSON, or scopes not a list of strings", body = super::wire::LegacyErrorBody),
        (status = 403, description = "The token is not valid for `tenant_uuid`", body = super::wire::LegacyErrorBody),
        (status = 404, description = "Unknown, expired, revoked or malformed", body = super::wire::LegacyErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::LegacyErrorBody),
    ))]
pub async fn check_scopes(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Json<ScopesCheck>, LegacyError> {
    let (scopes, tenant) = parse_scopes_check(&body)?;
    let verified = state
        .tokens
        .check_for(&token, None, tenant.as_deref())
        .await?;
    let scopes = scopes
        .into_iter()
        .map(|scope| {
            let granted = verified.grants(&scope);
            (scope, granted)
        })
        .collect();
    Ok(Json(ScopesCheck { scopes }))
}

/// Whether Sesame can serve: 200, or 503 when the token store does not
/// answer (wazo-auth's `/status`). `GET` says which component is failing.
#[utoipa::path(get, path = "/0.1/status", tag = "token",
    responses(
        (status = 200, description = "Sesame can serve", body = super::wire::Status),
        (status = 503, description = "A component Sesame cannot serve without is failing", body = super::wire::Status),
    ))]
pub async fn status(State(state): State<AppState>) -> (StatusCode, Json<Status>) {
    let super::Health {
        store: ping,
        upstreams,
    } = super::health(&state).await;
    let mut components = std::collections::BTreeMap::new();
    components.insert("rest_api".to_owned(), Component::ok());
    let stored = match ping {
        Ok(()) => Component::ok(),
        Err(e) => Component::failing(e.to_string()),
    };
    let status = if stored.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    components.insert("token_store".to_owned(), stored);
    for (name, seen) in upstreams {
        let component = if seen == "ok" {
            Component::ok()
        } else {
            Component::degraded(seen)
        };
        components.insert(name, component);
    }
    (status, Json(Status(components)))
}

/// `HEAD /0.1/status`: [`status`] without its body.
#[utoipa::path(head, path = "/0.1/status", tag = "token",
    responses(
        (status = 200, description = "Sesame can serve"),
        (status = 503, description = "A component Sesame cannot serve without is failing"),
    ))]
pub async fn head_status(state: State<AppState>) -> StatusCode {
    status(state).await.0
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
        assert!(parse_create(br#"{"backend": 1}"#).is_err());
        assert!(parse_create(br#"{"backend": ""}"#).is_err());
        for bad in [r#""30""#, "0", "-1", "1.5", "true", "1e3", "315360001"] {
            let body = format!(r#"{{"backend": "xivo_user", "expiration": {bad}}}"#);
            assert!(parse_create(body.as_bytes()).is_err(), "{bad}");
        }
        let ok = parse_create(br#"{"backend": "xivo_user", "expiration": 600}"#).unwrap();
        assert_eq!(
            (ok.backend.as_deref(), ok.expiration),
            (Some("xivo_user"), Some(600))
        );
        assert_eq!(
            parse_create(br#"{"backend": "b"}"#).unwrap().expiration,
            None
        );
    }

    /// wazo-auth's schema: the backend defaults, the other fields and
    /// their rules; unknown keys are ignored.
    #[test]
    fn wazo_fields() {
        let service = parse_create(br#"{"expiration": 3600}"#).unwrap();
        assert_eq!((service.backend, service.expiration), (None, Some(3600)));
        let sdk = parse_create(br#"{"backend": "wazo_user", "expiration": 3600, "x": 1}"#).unwrap();
        assert_eq!(sdk.backend, None, "wazo_user means the default backends");
        assert!(parse_create(br#"{"expiration": 315360000}"#).is_ok());
        let offline = parse_create(br#"{"access_type": "offline", "client_id": "app"}"#).unwrap();
        assert!(offline.offline);
        assert_eq!(offline.client_id.as_deref(), Some("app"));
        let refresh = parse_create(br#"{"refresh_token": "rt", "client_id": "app"}"#).unwrap();
        assert_eq!(refresh.refresh_token.as_deref(), Some("rt"));
        for bad in [
            r#"{"access_type": "offline"}"#,
            r#"{"access_type": "sometimes"}"#,
            r#"{"refresh_token": "rt"}"#,
            r#"{"access_type": "offline", "client_id": "app", "refresh_token": "rt"}"#,
            r#"{"tenant_id": "t", "domain_name": "d"}"#,
            r#"{"client_id": ""}"#,
        ] {
            assert!(parse_create(bad.as_bytes()).is_err(), "{bad}");
        }
        let long = format!(r#"{{"client_id": "{}"}}"#, "a".repeat(1025));
        assert!(parse_create(long.as_bytes()).is_err());
    }
}
