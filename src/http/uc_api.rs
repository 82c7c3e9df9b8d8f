//! The UC (XiVO CC "xuc") auth API: `/xuc/api/2.0/auth/*`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::error::{UcCode, UcError};
use super::extract::{
    Client, PresentedToken, bearer, cookie, cookie_headers, negotiate, query_param,
};
use super::wire::{Message, UcErrorBody, UcSession};
use super::{AppState, mutual_auth};
use crate::login::{
    BackendChoice, BrowserStart, Credential, Lifetime, LoginError, LoginRequest, Via,
};
use crate::token::{ClientInfo, VerifiedToken};
use sesame_backends::Password;

fn credentials_answer(state: &AppState, token: &str, verified: &VerifiedToken) -> Json<UcSession> {
    Json(UcSession {
        login: verified.record().login.clone(),
        token: token.to_owned(),
        ttl: state.tokens.ttl(verified),
        refresh_token: None,
    })
}

/// A UC session for `credential`: the answer of every UC login route.
async fn session(
    state: &AppState,
    credential: Credential,
    client: ClientInfo,
) -> Result<Response, UcError> {
    open(state, LoginRequest::new(credential, Lifetime::Uc), client).await
}

/// A UC session for `request`, with its refresh token if it is offline.
async fn open(
    state: &AppState,
    request: LoginRequest,
    client: ClientInfo,
) -> Result<Response, UcError> {
    let login = state.broker.login(request, client).await?;
    let mut answer = credentials_answer(state, &login.token, &login.verified);
    answer.refresh_token = login.refresh_token;
    let mut response = answer.into_response();
    mutual_auth(&mut response, login.mutual_auth);
    Ok(response)
}

/// The UC login's body: a login and password, or a refresh token with its
/// client id; `access_type: offline` with a client id asks for a refresh
/// token too.
#[derive(Debug, PartialEq)]
pub struct UcLogin {
    pub credential: UcCredential,
    /// The client id of an offline login.
    pub offline: Option<String>,
}

#[derive(Debug, PartialEq)]
pub enum UcCredential {
    Password { login: String, password: String },
    RefreshToken { token: String, client_id: String },
}

/// Read the body of the UC login (also driven by the fuzz target `api`).
pub fn parse_login(body: &[u8]) -> Result<UcLogin, UcError> {
    let invalid = |m: String| UcError::new(UcCode::InvalidJson, m);
    let value: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
    let optional = |name: &str, max: usize| -> Result<Option<String>, UcError> {
        match value.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(invalid(format!("{name} is longer than {max}"))),
            Some(_) => Err(invalid(format!("{name} must be a string"))),
        }
    };
    let field = |name: &str| -> Result<String, UcError> {
        optional(name, usize::MAX)?.ok_or_else(|| invalid(format!("{name} is required")))
    };
    let client_id = optional("client_id", 1024)?.filter(|c| !c.is_empty());
    let offline = match optional("access_type", 16)?.as_deref() {
        None | Some("online") => false,
        Some("offline") => true,
        Some(_) => {
            return Err(invalid(
                "access_type must be \"online\" or \"offline\"".into(),
            ));
        }
    };
    let refresh = optional("refresh_token", 1024)?;
    if (offline || refresh.is_some()) && client_id.is_none() {
        return Err(invalid(
            "client_id is required with access_type offline and with refresh_token".into(),
        ));
    }
    let credential = match (refresh, client_id.clone()) {
        (Some(_), _) if offline => {
            return Err(invalid(
                "access_type offline cannot come with a refresh_token".into(),
            ));
        }
        (Some(token), Some(client_id)) => UcCredential::RefreshToken { token, client_id },
        _ => UcCredential::Password {
            login: field("login")?,
            password: field("password")?,
        },
    };
    Ok(UcLogin {
        credential,
        offline: client_id.filter(|_| offline),
    })
}

/// Log in with a login and a password.
///
/// The backends of `uc_api.login_backends` are tried in order.
#[utoipa::path(post, path = "/xuc/api/2.0/auth/login", tag = "uc",
    request_body = super::wire::UcLoginRequest,
    responses(
        (status = 200, description = "A new session", body = UcSession),
        (status = 400, description = "Body not JSON, login or password missing", body = UcErrorBody),
        (status = 401, description = "InvalidCredentials", body = UcErrorBody),
        (status = 429, description = "TooManyAttempts (Retry-After)", body = UcErrorBody),
        (status = 503, description = "An upstream or the token store is unavailable", body = UcErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Result<Response, UcError> {
    let body = parse_login(&body)?;
    let credential = match body.credential {
        UcCredential::Password { login, password } => Credential::Password {
            backends: BackendChoice::Uc,
            login: Some((login, Password::new(password))),
        },
        UcCredential::RefreshToken { token, client_id } => {
            Credential::RefreshToken { token, client_id }
        }
    };
    let request = LoginRequest {
        offline: body
            .offline
            .map(|client_id| crate::token::refresh::Offline { client_id }),
        mobile: super::token_api::mobile_session(&headers),
        ..LoginRequest::new(credential, Lifetime::Uc)
    };
    open(&state, request, client).await
}

/// The OpenID token of `POST /xuc/api/2.0/auth/oidc`: `Authorization:
/// Bearer`, or a JSON body `{"token": ...}`.
fn oidc_token(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, UcError> {
    if let Some(token) = bearer(headers) {
        return Ok(Some(token));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| UcError::new(UcCode::InvalidJson, format!("invalid JSON: {e}")))?;
    match value.get("token") {
        Some(Value::String(t)) if !t.is_empty() => Ok(Some(t.clone())),
        _ => Err(UcError::new(
            UcCode::InvalidJson,
            "token is required and must be a string",
        )),
    }
}

/// `POST /xuc/api/2.0/auth/oidc`: an OpenID Connect token for a Sesame token.
#[utoipa::path(post, path = "/xuc/api/2.0/auth/oidc", tag = "uc",
    request_body(content = Option<super::wire::OidcTokenRequest>, description = "Only when the token is not in Authorization: Bearer"),
    security(("bearer" = []), ()),
    responses(
        (status = 200, description = "A new session", body = UcSession),
        (status = 400, description = "InvalidJson", body = UcErrorBody),
        (status = 401, description = "InvalidOidcToken: bad signature, issuer, audience, expiry...", body = UcErrorBody),
        (status = 404, description = "No local user for the verified identity", body = UcErrorBody),
        (status = 503, description = "An upstream or the token store is unavailable", body = UcErrorBody),
    ))]
pub async fn oidc(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Result<Response, UcError> {
    let token = oidc_token(&headers, &body)?;
    session(&state, Credential::OidcToken(token), client).await
}

/// `GET /xuc/api/2.0/auth/sso`: Kerberos single sign-on. Without a ticket,
/// a 401 challenge that makes the browser send one (SPNEGO); with one, a
/// Sesame token for the local user of the principal.
#[utoipa::path(get, path = "/xuc/api/2.0/auth/sso", tag = "uc",
    security(("negotiate" = []), ()),
    responses(
        (status = 200, description = "A new session; WWW-Authenticate: Negotiate carries the mutual-authentication token", body = UcSession),
        (status = 400, description = "Kerberos is not configured", body = UcErrorBody),
        (status = 401, description = "No ticket (the challenge WWW-Authenticate: Negotiate) or SsoAuthenticationFailed", body = UcErrorBody),
        (status = 404, description = "No local user for the principal", body = UcErrorBody),
        (status = 503, description = "The keytab is unreadable or the token store unavailable", body = UcErrorBody),
    ))]
pub async fn sso(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
) -> Result<Response, UcError> {
    session(&state, Credential::Kerberos(negotiate(&headers)), client).await
}

/// `POST /xuc/api/2.0/auth/websession`: the web application's session
/// cookie (sent by the browser) for a Sesame token with mapped ACLs.
#[utoipa::path(post, path = "/xuc/api/2.0/auth/websession", tag = "uc",
    params(("Cookie" = String, Header, description = "The web application's session cookie")),
    responses(
        (status = 200, description = "A new session", body = UcSession),
        (status = 401, description = "No session cookie, or the web application refused it", body = UcErrorBody),
        (status = 403, description = "The session maps to no ACL", body = UcErrorBody),
        (status = 503, description = "An upstream or the token store is unavailable", body = UcErrorBody),
    ))]
pub async fn web_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
) -> Result<Response, UcError> {
    let credential = Credential::WebSession(cookie_headers(&headers));
    session(&state, credential, client).await
}

/// The cookies binding a browser login to the browser that started it, and
/// carrying its state, sealed (see `browser_state`).
const STATE_COOKIE: &str = "sesame_oidc_state";
const OIDC_PATH: &str = "/xuc/api/2.0/auth/oidc";
const CAS_STATE_COOKIE: &str = "sesame_cas_state";
const CAS_PATH: &str = "/xuc/api/2.0/auth/cas";

/// A state cookie's name: with `uc_api.cookie_secure` (the default), the
/// `__Secure-` prefix, which browsers accept only on a `Secure` cookie set
/// over HTTPS. (`__Host-` would also forbid a `Path` other than `/`, and
/// these cookies are for their flow's routes only.)
fn cookie_name(state: &AppState, base: &str) -> String {
    if state.cookie_secure {
        format!("__Secure-{base}")
    } else {
        base.to_owned()
    }
}

/// The cookie holding a browser login's sealed state, for the routes under
/// `path`, for as long as the login may take; an empty value clears it.
fn state_cookie(
    state: &AppState,
    base: &str,
    path: &str,
    value: &str,
    lifetime: std::time::Duration,
) -> String {
    let secure = if state.cookie_secure { "; Secure" } else { "" };
    let max_age = if value.is_empty() {
        0
    } else {
        lifetime.as_secs().max(1)
    };
    let name = cookie_name(state, base);
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The start of a browser login: off to the login page, with the login's
/// sealed state in the cookie `base`.
fn off_to_login(
    state: &AppState,
    start: &BrowserStart,
    base: &str,
    path: &str,
) -> Result<Response, UcError> {
    let cookie = state_cookie(state, base, path, &start.sealed_state, start.timeout);
    redirect_to(&start.authorize_url, Some(&cookie))
}

/// The end of a browser login: its token handed to its redirect URL in
/// the fragment (which browsers never send to servers), and the state
/// cookie `base` cleared.
async fn hand_over(
    state: &AppState,
    credential: Credential,
    client: ClientInfo,
    base: &str,
    path: &str,
) -> Result<Response, UcError> {
    let login = state
        .broker
        .login(LoginRequest::new(credential, Lifetime::Uc), client)
        .await?;
    let fragment = format!(
        "token={}&TTL={}&login={}",
        login.token,
        state.tokens.ttl(&login.verified).unwrap_or(0),
        utf8_percent_encode(&login.verified.record().login, NON_ALPHANUMERIC)
    );
    let redirect = login.redirect.unwrap_or_default();
    let clear = state_cookie(state, base, path, "", Default::default());
    redirect_to(&format!("{redirect}#{fragment}"), Some(&clear))
}

/// `GET /xuc/api/2.0/auth/oidc/login?redirect=URL[&provider=NAME]`: off to
/// the provider's login page.
#[utoipa::path(get, path = "/xuc/api/2.0/auth/oidc/login", tag = "uc",
    params(
        ("redirect" = String, Query, description = "Where the token goes; must be allowed by `oidc.redirect_urls`"),
        ("provider" = Option<String>, Query, description = "The provider's name, when several are configured"),
    ),
    responses(
        (status = 302, description = "To the provider's authorization endpoint, with a state cookie"),
        (status = 400, description = "redirect missing or not allowed, unknown provider", body = UcErrorBody),
        (status = 503, description = "The provider's discovery document is unavailable", body = UcErrorBody),
    ))]
pub async fn oidc_login(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, UcError> {
    let query = query.unwrap_or_default();
    let redirect = required_param(&query, "redirect")?;
    let provider = query_param(&query, "provider");
    let start = state
        .broker
        .oidc_begin(provider.as_deref(), &redirect)
        .await?;
    off_to_login(&state, &start, STATE_COOKIE, OIDC_PATH)
}

/// `GET /xuc/api/2.0/auth/oidc/callback?code=...&state=...`: the provider
/// sends the browser back; the Sesame token goes to the allowed redirect URL
/// in its fragment, which browsers never send to servers.
#[utoipa::path(get, path = "/xuc/api/2.0/auth/oidc/callback", tag = "uc",
    params(
        ("code" = String, Query, description = "The authorization code"),
        ("state" = String, Query, description = "The login's state, also in the browser's cookie"),
    ),
    responses(
        (status = 302, description = "To the redirect URL, with token, TTL and login in the fragment"),
        (status = 400, description = "code or state missing", body = UcErrorBody),
        (status = 401, description = "The provider refused, the state does not match this browser, or the code or ID token is invalid", body = UcErrorBody),
        (status = 404, description = "No local user for the verified identity", body = UcErrorBody),
        (status = 503, description = "An upstream or the token store is unavailable", body = UcErrorBody),
    ))]
pub async fn oidc_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    RawQuery(query): RawQuery,
) -> Result<Response, UcError> {
    let query = query.unwrap_or_default();
    if let Some(error) = query_param(&query, "error") {
        let why = format!("the OpenID provider refused the login: {error}");
        return Err(LoginError::refused(Via::Oidc, why).into());
    }
    let (Some(code), Some(login_state)) =
        (query_param(&query, "code"), query_param(&query, "state"))
    else {
        return Err(UcError::new(
            UcCode::InvalidRequest,
            "code and state are required",
        ));
    };
    let credential = Credential::OidcCallback {
        code,
        state: login_state,
        sealed: cookie(&headers, &cookie_name(&state, STATE_COOKIE)),
    };
    hand_over(&state, credential, client, STATE_COOKIE, OIDC_PATH).await
}

/// `GET /xuc/api/2.0/auth/cas?service=URL&ticket=ST`: a CAS service ticket
/// for a Sesame token.
#[utoipa::path(get, path = "/xuc/api/2.0/auth/cas", tag = "uc",
    params(
        ("service" = String, Query, description = "The service URL the ticket was issued for"),
        ("ticket" = String, Query, description = "The CAS service ticket"),
    ),
    responses(
        (status = 200, description = "A new session", body = UcSession),
        (status = 400, description = "service or ticket missing, service not allowed", body = UcErrorBody),
        (status = 401, description = "The CAS server refused the ticket", body = UcErrorBody),
        (status = 404, description = "No local user for the CAS user", body = UcErrorBody),
        (status = 503, description = "The CAS server or the token store is unavailable", body = UcErrorBody),
    ))]
pub async fn cas(
    State(state): State<AppState>,
    Client(client): Client,
    RawQuery(query): RawQuery,
) -> Result<Response, UcError> {
    let query = query.unwrap_or_default();
    let (Some(service), Some(ticket)) = (
        query_param(&query, "service"),
        query_param(&query, "ticket"),
    ) else {
        return Err(UcError::new(
            UcCode::InvalidRequest,
            "service and ticket are required",
        ));
    };
    session(&state, Credential::CasTicket { service, ticket }, client).await
}

/// `GET /xuc/api/2.0/auth/cas/login?redirect=URL`: off to the CAS login page.
#[utoipa::path(get, path = "/xuc/api/2.0/auth/cas/login", tag = "uc",
    params(("redirect" = String, Query, description = "Where the token goes; must be allowed by `cas.redirect_urls`")),
    responses(
        (status = 302, description = "To the CAS login page, with a state cookie"),
        (status = 400, description = "redirect missing or not allowed", body = UcErrorBody),
    ))]
pub async fn cas_login(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, UcError> {
    let query = query.unwrap_or_default();
    let redirect = required_param(&query, "redirect")?;
    let start = state.broker.cas_begin(&redirect)?;
    off_to_login(&state, &start, CAS_STATE_COOKIE, CAS_PATH)
}

/// `GET /xuc/api/2.0/auth/cas/callback?ticket=ST`: the CAS server sends the
/// browser back; the Sesame token goes to the allowed redirect URL in its
/// fragment.
#[utoipa::path(get, path = "/xuc/api/2.0/auth/cas/callback", tag = "uc",
    params(
        ("ticket" = String, Query, description = "The CAS service ticket"),
        ("state" = String, Query, description = "The login's state, part of the service URL sent to CAS"),
    ),
    responses(
        (status = 302, description = "To the redirect URL, with token, TTL and login in the fragment"),
        (status = 400, description = "ticket missing", body = UcErrorBody),
        (status = 401, description = "No state cookie, or the CAS server refused the ticket", body = UcErrorBody),
        (status = 404, description = "No local user for the CAS user", body = UcErrorBody),
        (status = 503, description = "The CAS server or the token store is unavailable", body = UcErrorBody),
    ))]
pub async fn cas_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    RawQuery(query): RawQuery,
) -> Result<Response, UcError> {
    let query = query.unwrap_or_default();
    let ticket = required_param(&query, "ticket")?;
    let credential = Credential::CasCallback {
        ticket,
        state: query_param(&query, "state"),
        sealed: cookie(&headers, &cookie_name(&state, CAS_STATE_COOKIE)),
    };
    hand_over(&state, credential, client, CAS_STATE_COOKIE, CAS_PATH).await
}

/// `POST /xuc/api/2.0/auth/cas/callback` with `logoutRequest=...`: CAS
/// single logout. The tokens issued for the ticket it names are revoked.
/// Always 200: the CAS server does not care, and nobody learns which tickets
/// Sesame knows.
#[utoipa::path(post, path = "/xuc/api/2.0/auth/cas/callback", tag = "uc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "logoutRequest=<SAML LogoutRequest naming the ticket>"),
    responses((status = 200, description = "Always, whether or not a token was revoked")))]
pub async fn cas_single_logout(State(state): State<AppState>, body: Bytes) -> StatusCode {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some((_, request)) = fields.iter().find(|(k, _)| k == "logoutRequest") else {
        return StatusCode::OK;
    };
    state.broker.cas_single_logout(request).await;
    StatusCode::OK
}

fn redirect_to(location: &str, cookie: Option<&str>) -> Result<Response, UcError> {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_str(location)
            .map_err(|_| UcError::new(UcCode::UnhandledError, "invalid redirect URL"))?,
    );
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// A query parameter a browser-flow route cannot do without.
fn required_param(query: &str, name: &str) -> Result<String, UcError> {
    query_param(query, name).ok_or_else(|| {
        UcError::new(
            UcCode::InvalidRequest,
            format!("the {name} parameter is required"),
        )
    })
}

fn required(token: PresentedToken) -> Result<String, UcError> {
    token.0.ok_or_else(|| {
        UcError::new(
            UcCode::InvalidToken,
            "no token: send X-Auth-Token, Authorization: Bearer, or ?token=",
        )
    })
}

/// Check a token and push its expiry forward.
#[utoipa::path(get, path = "/xuc/api/2.0/auth/check", tag = "uc",
    security(("token" = []), ("bearer" = []), ("token_query" = [])),
    responses(
        (status = 200, description = "Valid; TTL is the time left", body = UcSession),
        (status = 401, description = "InvalidToken or TokenExpired", body = UcErrorBody),
        (status = 503, description = "The token store is unavailable", body = UcErrorBody),
    ))]
pub async fn check(
    State(state): State<AppState>,
    token: PresentedToken,
) -> Result<Json<UcSession>, UcError> {
    let token = required(token)?;
    let verified = state.tokens.renew(&token).await?;
    Ok(credentials_answer(&state, &token, &verified))
}

/// Revoke the presented token.
#[utoipa::path(post, path = "/xuc/api/2.0/auth/logout", tag = "uc",
    security(("token" = []), ("bearer" = []), ("token_query" = [])),
    responses(
        (status = 200, description = "Revoked", body = super::wire::Message),
        (status = 401, description = "InvalidToken or TokenExpired", body = UcErrorBody),
        (status = 403, description = "TokenNotRevocable: the shared token or a static token", body = UcErrorBody),
        (status = 503, description = "The token store is unavailable", body = UcErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    token: PresentedToken,
) -> Result<Json<Message>, UcError> {
    let token = required(token)?;
    // Only a valid token may log itself out.
    state.tokens.verify(&token).await?;
    state.tokens.revoke(&token).await?;
    Ok(Json(Message::success()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_body_validation() {
        let password = |login: &str, password: &str| UcCredential::Password {
            login: login.into(),
            password: password.into(),
        };
        assert_eq!(
            parse_login(br#"{"login":"a","password":"b"}"#).unwrap(),
            UcLogin {
                credential: password("a", "b"),
                offline: None
            }
        );
        assert_eq!(
            parse_login(
                br#"{"login":"a","password":"b","access_type":"offline","client_id":"app"}"#
            )
            .unwrap()
            .offline
            .as_deref(),
            Some("app")
        );
        assert_eq!(
            parse_login(br#"{"refresh_token":"rt","client_id":"app"}"#)
                .unwrap()
                .credential,
            UcCredential::RefreshToken {
                token: "rt".into(),
                client_id: "app".into()
            }
        );
        for bad in [
            &b""[..],
            b"{",
            br#"{"login":"a"}"#,
            br#"{"login":1,"password":"b"}"#,
            br#"{"login":"a","password":"b","access_type":"offline"}"#,
            br#"{"login":"a","password":"b","access_type":"forever","client_id":"x"}"#,
            br#"{"refresh_token":"rt"}"#,
            br#"{"refresh_token":"rt","client_id":"app","access_type":"offline"}"#,
        ] {
            assert_eq!(parse_login(bad).unwrap_err().code, UcCode::InvalidJson);
        }
    }
}
