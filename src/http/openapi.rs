//! The OpenAPI 3 description of both APIs, generated from the handlers'
//! `#[utoipa::path]` annotations and the body types of [`super::wire`]
//! (the types the handlers answer with), and served at `/0.1/api/api.yml`
//! (xivo-auth's path) and `/api/openapi.json`. A test checks that every
//! route of [`super::router`] is in the document and that the document
//! lists no route that does not exist; `tests/api/openapi.rs` checks real
//! answers against their documented schemas.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{oauth_api, token_api, uc_api, wazo_api};

/// The document: paths from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sesame",
        description = "Multi-protocol SSO token broker: the xivo-auth /0.1 API, the XiVO CC UC auth API, OAuth 2.0 introspection, revocation and token exchange, and the gateway check.",
        license(name = "GPL-3.0-or-later")
    ),
    paths(
        token_api::create_token,
        token_api::head_token,
        token_api::get_token,
        token_api::delete_token,
        token_api::list_backends,
        token_api::check_scopes,
        token_api::status,
        token_api::head_status,
        wazo_api::list_refresh_tokens,
        wazo_api::list_user_refresh_tokens,
        wazo_api::revoke_refresh_token,
        wazo_api::list_sessions,
        wazo_api::delete_session,
        wazo_api::list_user_sessions,
        wazo_api::delete_user_session,
        wazo_api::list_tenants,
        uc_api::login,
        uc_api::check,
        uc_api::logout,
        uc_api::oidc,
        uc_api::oidc_login,
        uc_api::oidc_callback,
        uc_api::web_session,
        uc_api::sso,
        uc_api::cas,
        uc_api::cas_login,
        uc_api::cas_callback,
        uc_api::cas_single_logout,
        oauth_api::introspect,
        oauth_api::revoke,
        oauth_api::token,
        oauth_api::metadata,
        oauth_api::gateway_auth,
        super::healthz,
        super::readyz,
        super::metrics,
        api_yaml,
        api_json,
    ),
    modifiers(&Security),
    tags(
        (name = "token", description = "The xivo-auth /0.1 token API"),
        (name = "uc", description = "The XiVO CC UC auth API (/xuc/api/2.0/auth)"),
        (name = "oauth", description = "OAuth 2.0 endpoints for gateways and services"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The ways to present credentials, named by the operations.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
        );
        components.add_security_scheme(
            "token_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("token"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "negotiate",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Negotiate).build()),
        );
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc
    })
}

fn serialized(body: Result<String, String>, content_type: &'static str) -> Response {
    match body {
        Ok(text) => ([(header::CONTENT_TYPE, content_type)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialize");
            super::error::LegacyError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "the API description is unavailable",
            )
            .into_response()
        }
    }
}

/// The API description in YAML.
#[utoipa::path(get, path = "/0.1/api/api.yml", tag = "operations",
    responses((status = 200, description = "This document, in YAML", content_type = "application/yaml")))]
pub async fn api_yaml() -> Response {
    serialized(
        document().to_yaml().map_err(|e| e.to_string()),
        "application/yaml",
    )
}

/// The API description in JSON.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "This document, in JSON", content_type = "application/json")))]
pub async fn api_json() -> Response {
    serialized(
        document().to_json().map_err(|e| e.to_string()),
        "application/json",
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The routes `super::router` registers, read from its source: the path
    /// of each `.route("...", ...)` call and the method functions
    /// (`get(`, `.post(`...) of its method router.
    fn routes_in_source() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let source = source.split("#[cfg(test)]").next().unwrap_or(source);
        let mut routes = BTreeSet::new();
        for call in source.split(".route(").skip(1) {
            let path = call
                .trim_start()
                .strip_prefix('"')
                .and_then(|rest| rest.split('"').next())
                .expect("a route's path is a string literal");
            // The method router ends where the `.route(` call closes.
            let mut depth = 1usize;
            let mut end = call.len();
            for (i, c) in call.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let methods = &call[..end];
            let mut found = false;
            for method in ["get", "head", "post", "put", "patch", "delete", "any"] {
                let direct = format!(" {method}(");
                let chained = format!(".{method}(");
                if methods.contains(&direct) || methods.contains(&chained) {
                    routes.insert((path.to_owned(), method.to_owned()));
                    found = true;
                }
            }
            assert!(found, "no method found for the route {path}");
        }
        routes
    }

    fn operations_in_document() -> BTreeSet<(String, String)> {
        let doc = serde_json::to_value(document()).expect("the document serializes");
        let mut operations = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths").iter() {
            for method in item.as_object().expect("a path item").keys() {
                operations.insert((path.clone(), method.clone()));
            }
        }
        operations
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let routes = routes_in_source();
        assert!(routes.len() >= 25, "the route parser found {routes:?}");
        let documented = operations_in_document();
        for (path, method) in &routes {
            if method == "any" {
                assert!(
                    documented.iter().any(|(p, _)| p == path),
                    "{path} (any method) is missing from the OpenAPI document"
                );
            } else {
                assert!(
                    documented.contains(&(path.clone(), method.clone())),
                    "{method} {path} is missing from the OpenAPI document"
                );
            }
        }
        for (path, method) in &documented {
            assert!(
                routes.contains(&(path.clone(), method.clone()))
                    || routes.contains(&(path.clone(), "any".to_owned())),
                "the OpenAPI document lists {method} {path}, which the router does not serve"
            );
        }
    }

    /// OpenAPI wants each operation id once (utoipa takes the handler's
    /// name: two `revoke` handlers would clash).
    #[test]
    fn operation_ids_are_unique() {
        let doc = serde_json::to_value(document()).expect("the document serializes");
        let mut seen = BTreeSet::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("a path item").values() {
                let id = operation["operationId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                assert!(seen.insert(id.clone()), "operation id {id:?} twice");
            }
        }
        assert!(seen.len() >= 30, "{} operations", seen.len());
    }

    #[test]
    fn the_document_is_valid_yaml_and_json() {
        let yaml = document().to_yaml().expect("YAML");
        assert!(
            yaml.starts_with("openapi: 3."),
            "{}",
            &yaml[..40.min(yaml.len())]
        );
        let json: serde_json::Value =
            serde_json::from_str(&document().to_json().expect("JSON")).expect("parses");
        assert_eq!(json["info"]["title"], "Sesame");
        for scheme in ["token", "token_query", "bearer", "basic", "negotiate"] {
            assert!(
                json["components"]["securitySchemes"][scheme].is_object(),
                "{scheme}"
            );
        }
        assert!(json["components"]["schemas"]["TokenData"].is_object());
    }
}
