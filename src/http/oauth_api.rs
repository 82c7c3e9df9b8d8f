//! OAuth 2.0 endpoints for gateways and generic clients (RFC 7662
//! introspection, RFC 7009 revocation, RFC 8693 token exchange, RFC 8414
//! metadata) and the gateway subrequest check (nginx `auth_request`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{GatewayDenied, OAuthError};
use super::extract::{Client, basic_credentials, query_param, token_from};
use super::wire::{ExchangedToken, Introspection, ServerMetadata};
use crate::gateway::Requirement;
use crate::login::{Credential, Lifetime, LoginRequest};
use crate::oauth::{
    self, CallerCredentials, GRANT_TOKEN_EXCHANGE, INTROSPECT_ACL, REVOKE_ACL, TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_ID, TOKEN_TYPE_JWT, TOKEN_TYPE_SESAME,
};

/// Most parameters a form may have: the longest the endpoints read (a token
/// exchange) has nine, and clients add a few of their own.
pub const MAX_FORM_FIELDS: usize = 32;

/// The parameters of a form-encoded body; each at most once (RFC 6749, 3.2),
/// at most [`MAX_FORM_FIELDS`] of them.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Read a form body (also driven by the fuzz target `api`).
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        // Counted before anything is decoded: a body of thousands of keys
        // costs one pass over its bytes, then a refusal.
        let fields = body.split(|b| *b == b'&').filter(|f| !f.is_empty()).count();
        if fields > MAX_FORM_FIELDS {
            return Err(OAuthError::invalid_request(format!(
                "the form has {fields} parameters; at most {MAX_FORM_FIELDS} are accepted"
            )));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| OAuthError::invalid_request(format!("invalid form body: {e}")))?;
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        for (name, _) in &pairs {
            if !seen.insert(name.as_str()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name:?} appears more than once"
                )));
            }
        }
        Ok(Form(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

/// The caller's credentials: a token (X-Auth-Token or Bearer), or HTTP Basic.
fn caller_credentials(headers: &HeaderMap) -> CallerCredentials {
    if let Some((login, password)) = basic_credentials(headers) {
        return CallerCredentials::Basic(login, password);
    }
    match token_from(headers, None) {
        Some(token) => CallerCredentials::Token(token),
        None => CallerCredentials::None,
    }
}

/// `POST /oauth2/introspect` (RFC 7662).
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth",
    request_body(content = super::wire::TokenForm, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = []), ("token" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The token's state", body = super::wire::Introspection),
        (status = 400, description = "invalid_request: not a form, token missing, a parameter twice", body = super::wire::OAuthErrorBody),
        (status = 401, description = "invalid_client", body = super::wire::OAuthErrorBody),
        (status = 403, description = "insufficient_scope: the caller lacks the introspection ACL", body = super::wire::OAuthErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::OAuthErrorBody),
    ))]
pub async fn introspect(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Introspection>, OAuthError> {
    state
        .callers
        .authenticate(
            caller_credentials(&headers),
            INTROSPECT_ACL,
            client.remote_addr.as_deref(),
        )
        .await?;
    let form = Form::parse(&headers, &body)?;
    let token = form.required("token")?;
    Ok(Json(oauth::introspect(&state.tokens, token).await?))
}

/// `POST /oauth2/revoke` (RFC 7009): 200 whether or not the token existed.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth",
    request_body(content = super::wire::TokenForm, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = []), ("token" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Revoked, or unknown"),
        (status = 400, description = "invalid_request", body = super::wire::OAuthErrorBody),
        (status = 401, description = "invalid_client", body = super::wire::OAuthErrorBody),
        (status = 403, description = "insufficient_scope, or a token that cannot be revoked", body = super::wire::OAuthErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::OAuthErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, OAuthError> {
    state
        .callers
        .authenticate(
            caller_credentials(&headers),
            REVOKE_ACL,
            client.remote_addr.as_deref(),
        )
        .await?;
    let form = Form::parse(&headers, &body)?;
    let token = form.required("token")?;
    state.tokens.revoke(token).await?;
    Ok(StatusCode::OK)
}

/// `POST /oauth2/token`: the token exchange grant (RFC 8693).
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth",
    request_body(content = super::wire::TokenExchangeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The exchanged token", body = super::wire::ExchangedToken),
        (status = 400, description = "invalid_request, unsupported_grant_type, invalid_grant, invalid_scope", body = super::wire::OAuthErrorBody),
        (status = 503, description = "An upstream or the token store is unavailable", body = super::wire::OAuthErrorBody),
    ))]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Result<Json<ExchangedToken>, OAuthError> {
    let form = Form::parse(&headers, &body)?;
    let (subject, scope) = exchange_request(&form)?;
    let (token, live, expires_in) = match subject {
        Subject::Sesame(subject) => {
            let exchanged =
                oauth::exchange_sesame_token(&state.tokens, subject, scope, client).await?;
            let issued = exchanged.issued;
            (issued.token, issued.live, exchanged.expires_in)
        }
        Subject::External(subject) => {
            let credential = Credential::OidcToken(Some(subject.to_owned()));
            let request = LoginRequest::new(credential, Lifetime::Default).with_scope(scope);
            let login = state.broker.login(request, client).await?;
            (login.token, login.verified.token, login.lifetime)
        }
    };
    Ok(Json(ExchangedToken {
        access_token: token,
        issued_token_type: TOKEN_TYPE_ACCESS.into(),
        token_type: "Bearer".into(),
        expires_in,
        scope: live.record.acl.join(" "),
    }))
}

/// What an RFC 8693 request exchanges.
enum Subject<'a> {
    /// A Sesame token, for a narrower one.
    Sesame(&'a str),
    /// An OpenID Connect token, for a Sesame token.
    External(&'a str),
}

/// The subject and the `scope` of a token exchange form, or why the form
/// asks for what Sesame does not do.
fn exchange_request(form: &Form) -> Result<(Subject<'_>, Option<&str>), OAuthError> {
    let grant = form.required("grant_type")?;
    if grant != GRANT_TOKEN_EXCHANGE {
        return Err(OAuthError::unsupported_grant_type(grant));
    }
    let subject = form.required("subject_token")?;
    let subject_type = form.required("subject_token_type")?;
    if let Some(wanted) = form.get("requested_token_type")
        && wanted != TOKEN_TYPE_ACCESS
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type {wanted:?} is not supported; Sesame issues {TOKEN_TYPE_ACCESS}"
        )));
    }
    if form.get("actor_token").is_some() {
        return Err(OAuthError::invalid_request(
            "delegation (actor_token) is not supported",
        ));
    }
    let subject = match subject_type {
        TOKEN_TYPE_SESAME => Subject::Sesame(subject),
        TOKEN_TYPE_ACCESS if uuid::Uuid::try_parse(subject).is_ok() => Subject::Sesame(subject),
        TOKEN_TYPE_ACCESS | TOKEN_TYPE_ID | TOKEN_TYPE_JWT => Subject::External(subject),
        other => {
            return Err(OAuthError::invalid_request(format!(
                "subject_token_type {other:?} is not supported"
            )));
        }
    };
    Ok((subject, form.get("scope")))
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "The RFC 8414 metadata", body = super::wire::ServerMetadata)))]
pub async fn metadata(State(state): State<AppState>, headers: HeaderMap) -> Json<ServerMetadata> {
    let issuer = match &state.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
                .unwrap_or("localhost");
            let scheme = if state.tls { "https" } else { "http" };
            format!("{scheme}://{host}")
        }
    };
    let callers = || vec!["client_secret_basic".to_owned(), "bearer".to_owned()];
    Json(ServerMetadata {
        token_endpoint: format!("{issuer}/oauth2/token"),
        introspection_endpoint: format!("{issuer}/oauth2/introspect"),
        revocation_endpoint: format!("{issuer}/oauth2/revoke"),
        issuer,
        grant_types_supported: vec![GRANT_TOKEN_EXCHANGE.to_owned()],
        response_types_supported: Vec::new(),
        token_endpoint_auth_methods_supported: vec!["none".to_owned()],
        introspection_endpoint_auth_methods_supported: callers(),
        revocation_endpoint_auth_methods_supported: callers(),
        scopes_supported: Vec::new(),
    })
}

/// The gateway subrequest (nginx `auth_request`): 204 with identity headers
/// when the original request's token passes, 401 without a valid token, 403
/// when the token lacks the ACL the path needs.
///
/// Any method is accepted (nginx sends the subrequest with the original
/// request's method unless told otherwise).
#[utoipa::path(get, path = "/gateway/auth", tag = "oauth",
    params(
        ("X-Original-URI" = Option<String>, Header, description = "The original request's URI (with ?token= when the token is there)"),
        ("X-Original-Method" = Option<String>, Header, description = "The original request's method"),
    ),
    security(("token" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Allowed: X-Auth-User, X-Auth-Id, X-Auth-User-Uuid carry the identity"),
        (status = 401, description = "No valid token", body = super::wire::GatewayRefusal),
        (status = 403, description = "The token lacks the ACL the path needs", body = super::wire::GatewayRefusal),
        (status = 503, description = "The token store is unavailable", body = super::wire::GatewayRefusal),
    ))]
pub async fn gateway_auth(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, GatewayDenied> {
    let uri = header_str(&headers, &state.gateway.original_uri_header).unwrap_or("/");
    let method = header_str(&headers, &state.gateway.original_method_header).unwrap_or("GET");
    let query = uri
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(q));
    let token = token_from(&headers, None).or_else(|| query.and_then(|q| query_param(q, "token")));
    let header_acl = state
        .gateway
        .acl_header
        .as_deref()
        .and_then(|name| header_str(&headers, name))
        .filter(|acl| !acl.is_empty());
    let requirement = match header_acl {
        Some(acl) => Requirement::Acl(acl.to_owned()),
        None => state.gateway.requirement(method, uri),
    };
    let scope = match &requirement {
        Requirement::Deny => return Err(GatewayDenied::Forbidden),
        Requirement::Token => None,
        Requirement::Acl(acl) => Some(acl.as_str()),
    };
    let token = token.ok_or(GatewayDenied::NoToken)?;
    let verified = state.tokens.check(&token, scope).await?;
    let record = verified.record();
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    for (name, value) in [
        ("x-auth-user", Some(record.login.as_str())),
        ("x-auth-id", Some(record.auth_id.as_str())),
        ("x-auth-user-uuid", record.user_uuid.as_deref()),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            out.insert(HeaderName::from_static(name), value);
        }
    }
    Ok(response)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::extract::X_AUTH_TOKEN;

    fn form_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        h
    }

    #[test]
    fn forms_are_strict() {
        let h = form_headers();
        let form = Form::parse(&h, b"token=a%2Bb&token_type_hint=access_token").unwrap();
        assert_eq!(form.get("token"), Some("a+b"));
        assert!(Form::parse(&h, b"token=a&token=b").is_err());
        assert!(Form::parse(&HeaderMap::new(), b"token=a").is_err());
        assert!(Form::parse(&h, b"").unwrap().required("token").is_err());
        assert!(
            Form::parse(&h, b"token=")
                .unwrap()
                .required("token")
                .is_err()
        );
    }

    #[test]
    fn a_form_of_many_keys_is_refused_before_it_is_decoded() {
        let h = form_headers();
        // The attack: 16 250 distinct keys in 65 kB, each compared with all
        // the others before.
        let body: Vec<String> = (0..16_250).map(|i| format!("k{i:x}=")).collect();
        let refused = Form::parse(&h, body.join("&").as_bytes())
            .err()
            .map(|e| e.description);
        assert!(
            refused.as_deref().is_some_and(|m| m.contains("at most 32")),
            "{refused:?}"
        );
        let most: Vec<String> = (0..MAX_FORM_FIELDS).map(|i| format!("k{i}=v")).collect();
        let form = Form::parse(&h, most.join("&").as_bytes()).unwrap();
        assert_eq!(form.get("k31"), Some("v"));
        let mut dup = most.clone();
        dup[MAX_FORM_FIELDS - 1] = "k0=w".into();
        assert!(Form::parse(&h, dup.join("&").as_bytes()).is_err());
    }

    #[test]
    fn callers_present_basic_or_a_token() {
        let mut h = HeaderMap::new();
        assert!(matches!(caller_credentials(&h), CallerCredentials::None));
        h.insert(X_AUTH_TOKEN, HeaderValue::from_static("t"));
        assert!(matches!(caller_credentials(&h), CallerCredentials::Token(t) if t == "t"));
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_static("Basic c3ZjOnB3"),
        );
        assert!(
            matches!(caller_credentials(&h), CallerCredentials::Basic(l, p) if l == "svc" && p == "pw")
        );
    }
}
