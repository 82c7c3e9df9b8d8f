//! The HTTP layer: routes, extractors, error bodies, access log. Handlers
//! only translate between HTTP and the services in [`crate::auth`] and
//! [`crate::token`].

pub mod client_addr;
pub mod error;
pub mod extract;
pub mod idle;
pub mod oauth_api;
pub mod openapi;
pub mod token_api;
pub mod uc_api;
pub mod wazo_api;
pub mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, head, post};

use crate::auth::Authenticator;
use crate::gateway::GatewayConfig;
use crate::login::Broker;
use crate::oauth::Callers;
use crate::token::TokenService;
use error::LegacyError;

/// What handlers share: one allocation, so that the copy axum hands each
/// request is a reference count, whatever the state holds.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The services and settings behind [`AppState`].
pub struct Shared {
    pub tokens: Arc<TokenService>,
    /// The upstreams `/readyz` reports on.
    pub upstreams: Arc<crate::upstreams::Upstreams>,
    pub auth: Arc<Authenticator>,
    pub request_timeout: Duration,
    /// Every login: credential → identity → token.
    pub broker: Arc<Broker>,
    /// Who may call the OAuth 2.0 introspection and revocation endpoints.
    pub callers: Arc<Callers>,
    /// Rules of the gateway check.
    pub gateway: Arc<GatewayConfig>,
    /// The public base URL (the OAuth issuer), when configured.
    pub public_url: Option<String>,
    /// Whether Sesame itself serves HTTPS (for URLs derived from `Host`).
    pub tls: bool,
    /// Whose forwarding headers name the client.
    pub proxies: Arc<client_addr::TrustedProxies>,
    /// Whether the browser flows' state cookies are `Secure`.
    pub cookie_secure: bool,
    /// Which requests get an access line, and where.
    pub access_log: Arc<crate::access_log::AccessLog>,
}

/// The whole HTTP application.
pub fn router(state: AppState, max_body_bytes: usize, serve_metrics: bool) -> Router {
    let timeout = state.request_timeout;
    let routes = if serve_metrics {
        Router::new().route("/metrics", get(metrics))
    } else {
        Router::new()
    };
    let routes = routes
        .route("/0.1/token", post(token_api::create_token))
        .route(
            "/0.1/token/{token}",
            head(token_api::head_token)
                .get(token_api::get_token)
                .delete(token_api::delete_token),
        )
        .route(
            "/0.1/token/{token}/scopes/check",
            post(token_api::check_scopes),
        )
        .route(
            "/0.1/status",
            get(token_api::status).head(token_api::head_status),
        )
        .route("/0.1/backends", get(token_api::list_backends))
        .route("/0.1/tokens", get(wazo_api::list_refresh_tokens))
        .route(
            "/0.1/users/{user}/tokens",
            get(wazo_api::list_user_refresh_tokens),
        )
        .route(
            "/0.1/users/{user}/tokens/{client_id}",
            delete(wazo_api::revoke_refresh_token),
        )
        .route("/0.1/tenants", get(wazo_api::list_tenants))
        .route("/0.1/sessions", get(wazo_api::list_sessions))
        .route("/0.1/sessions/{session}", delete(wazo_api::delete_session))
        .route(
            "/0.1/users/{user}/sessions",
            get(wazo_api::list_user_sessions),
        )
        .route(
            "/0.1/users/{user}/sessions/{session}",
            delete(wazo_api::delete_user_session),
        )
        .route("/xuc/api/2.0/auth/login", post(uc_api::login))
        .route("/xuc/api/2.0/auth/check", get(uc_api::check))
        .route("/xuc/api/2.0/auth/logout", post(uc_api::logout))
        .route("/xuc/api/2.0/auth/oidc", post(uc_api::oidc))
        .route("/xuc/api/2.0/auth/oidc/login", get(uc_api::oidc_login))
        .route(
            "/xuc/api/2.0/auth/oidc/callback",
            get(uc_api::oidc_callback),
        )
        .route("/xuc/api/2.0/auth/websession", post(uc_api::web_session))
        .route("/xuc/api/2.0/auth/sso", get(uc_api::sso))
        .route("/xuc/api/2.0/auth/cas", get(uc_api::cas))
        .route("/xuc/api/2.0/auth/cas/login", get(uc_api::cas_login))
        .route(
            "/xuc/api/2.0/auth/cas/callback",
            get(uc_api::cas_callback).post(uc_api::cas_single_logout),
        )
        .route("/oauth2/introspect", post(oauth_api::introspect))
        .route("/oauth2/revoke", post(oauth_api::revoke))
        .route("/oauth2/token", post(oauth_api::token))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth_api::metadata),
        )
        .route("/gateway/auth", any(oauth_api::gateway_auth))
        .route("/0.1/api/api.yml", get(openapi::api_yaml))
        .route("/api/openapi.json", get(openapi::api_json))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(timeout, deadline))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            state.access_log.clone(),
            access_log,
        ));
    // Without trusted proxies the TCP peer is the client: no layer to pay.
    let routes = if state.proxies.networks.is_empty() {
        routes
    } else {
        routes.layer(middleware::from_fn_with_state(
            state.proxies.clone(),
            client_addr::resolve,
        ))
    };
    routes
        .layer(middleware::map_response(security_headers))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// `/metrics` alone, for a separate listener (`metrics.listen`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Prometheus metrics, in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text (only when metrics.enabled and no separate metrics.listen)", content_type = "application/openmetrics-text")))]
async fn metrics(State(state): State<AppState>) -> Response {
    let store = state.tokens.store();
    if store.kind() == "embedded"
        && let Ok(count) = store.count().await
    {
        crate::metrics::global().set_live_tokens(count);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::global().encode(),
    )
        .into_response()
}

/// The process serves.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "ok", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// What Sesame depends on, as seen now: the token store (without which it
/// cannot serve) and the upstreams (without which some logins fail).
pub(crate) struct Health {
    pub store: Result<(), crate::store::StoreError>,
    /// Upstream name → "ok" or what is wrong.
    pub upstreams: std::collections::BTreeMap<String, String>,
}

/// Ask the store and probe the upstreams, at once.
pub(crate) async fn health(state: &AppState) -> Health {
    let store = state.tokens.store();
    let (store, upstreams) = tokio::join!(store.ping(), state.upstreams.status());
    Health { store, upstreams }
}

/// Ready to serve: the token store answers. 503 otherwise, so that a load
/// balancer sends the traffic elsewhere. The upstreams are reported too; one
/// out of reach makes Sesame "degraded" (still 200: see `upstreams`).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "ready or degraded", body = super::http::wire::Readiness),
        (status = 503, description = "The token store does not answer", body = super::http::wire::Readiness),
    ))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<wire::Readiness>) {
    let Health {
        store: ping,
        upstreams,
    } = health(&state).await;
    let store = state.tokens.store();
    let all_ok = upstreams.values().all(|s| s == "ok");
    let (status, word) = match ping {
        Ok(()) if all_ok => (StatusCode::OK, "ready"),
        Ok(()) => (StatusCode::OK, "degraded"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the token store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    let readiness = wire::Readiness {
        status: word.into(),
        store: store.kind().into(),
        upstreams,
    };
    (status, axum::Json(readiness))
}

async fn not_found() -> LegacyError {
    LegacyError::new(StatusCode::NOT_FOUND, "not found")
}

/// Answer 503 rather than hang when a request takes too long.
async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            LegacyError::new(StatusCode::SERVICE_UNAVAILABLE, "request timed out").into_response()
        }
    }
}

/// Errors the framework answers by itself (body too large, method not
/// allowed, bad content length...) get the JSON body of their API, like
/// every other error. HEAD answers have no body; the gateway's answers are
/// read by proxies, which ignore bodies.
async fn json_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let api = if request.method() == axum::http::Method::HEAD || path.starts_with("/gateway/") {
        None
    } else if path.starts_with("/xuc/") {
        Some(error::Api::Uc)
    } else {
        Some(error::Api::Legacy)
    };
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    match api {
        Some(api) if !is_json && (status.is_client_error() || status.is_server_error()) => {
            let (parts, _) = response.into_parts();
            let mut answer = error::framework_error(api, status);
            for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
                if let Some(value) = parts.headers.get(&name) {
                    answer.headers_mut().insert(name, value.clone());
                }
            }
            answer
        }
        _ => response,
    }
}

/// `WWW-Authenticate: Negotiate <reply>` on `response`, for mutual
/// authentication, when GSSAPI made a reply token.
pub(crate) fn mutual_auth(response: &mut Response, reply: Option<String>) {
    if let Some(value) = reply.and_then(|r| HeaderValue::try_from(format!("Negotiate {r}")).ok()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
}

/// Headers every answer carries: token answers must never be cached.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The header carrying a request's id, in both directions.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client's request id is kept when it has 1 to 64 characters among
/// letters, digits and `-_.:`, so that it cannot forge or flood log lines.
pub fn sane_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// A new id: a random prefix drawn once per process, then a counter
/// (unique across instances and restarts, cheap per request).
fn new_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(rand::random::<u32>);
    format!(
        "{prefix:08x}-{:06}",
        COUNTER.fetch_add(1, Ordering::Relaxed) + 1
    )
}

/// One line per request, without tokens or passwords: the route pattern
/// stands for the path (so `/0.1/token/{token}` is logged as such), and
/// secret query parameters are replaced.
async fn access_log(
    State(log): State<Arc<crate::access_log::AccessLog>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let header = HeaderValue::from_str(&id).ok();
    let method = crate::metrics::method_label(request.method());
    let client = client_addr::of(request.extensions());
    let matched = request.extensions().get::<MatchedPath>().cloned();
    // A cheap clone (shared bytes), so that the path and query are read
    // after the request has gone to the handler, and only if logged.
    let uri = request.uri().clone();
    let mut response = crate::request_id::scope(id.clone(), next.run(request)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = matched.as_ref().map_or("unmatched", |path| path.as_str());
    crate::metrics::global().request(route, method, status, elapsed.as_secs_f64());
    let entry = crate::access_log::Entry {
        request_id: &id,
        method,
        client,
        route,
        query: "",
        status,
        elapsed,
    };
    if log.wants(&entry) {
        // The path of an unmatched request (redacted) stands for its route
        // in the line; the query with its secrets replaced.
        let path = match &matched {
            Some(_) => std::borrow::Cow::Borrowed(route),
            None => std::borrow::Cow::Owned(redact_path(uri.path())),
        };
        let query = uri.query().map(redact_query);
        log.write(&crate::access_log::Entry {
            route: &path,
            query: query.as_deref().unwrap_or(""),
            ..entry
        });
    } else {
        crate::metrics::global().access_log_skipped();
    }
    if let Some(value) = header {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}

/// Query parameters whose values are never logged.
const SECRET_PARAMS: [&str; 5] = ["token", "password", "ticket", "code", "state"];

pub fn redact_query(query: &str) -> std::borrow::Cow<'_, str> {
    fn key_of(pair: &str) -> &str {
        pair.split_once('=').map_or(pair, |(k, _)| k)
    }
    let is_secret = |key: &str| SECRET_PARAMS.iter().any(|s| key.eq_ignore_ascii_case(s));
    if !query.split('&').map(key_of).any(is_secret) {
        return std::borrow::Cow::Borrowed(query);
    }
    let redacted = query
        .split('&')
        .map(|pair| {
            let key = key_of(pair);
            if is_secret(key) {
                format!("{key}=REDACTED")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    std::borrow::Cow::Owned(redacted)
}

/// For unmatched paths: segments long enough to be a secret are replaced.
pub fn redact_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.len() >= 16 {
                "REDACTED"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        for good in ["a", "3f9a1c2b-000001", "req.42:x_y", &"x".repeat(64)] {
            assert!(sane_request_id(good), "{good}");
        }
        for bad in ["", "a b", "a\nb", "é", &"x".repeat(65), "a\"b"] {
            assert!(!sane_request_id(bad), "{bad:?}");
        }
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        assert!(sane_request_id(&a) && a.len() == 15, "{a}");
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact_query("scope=a.b&token=0f7c1a52-2d0c&Password=x&ticket=ST-1"),
            "scope=a.b&token=REDACTED&Password=REDACTED&ticket=REDACTED"
        );
        assert_eq!(
            redact_path("/0.2/token/0f7c1a52-2d0c-4a8e-9a55-6a8f8b0e2d11"),
            "/0.2/token/REDACTED"
        );
    }
}
