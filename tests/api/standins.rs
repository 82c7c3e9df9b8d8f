//! Stand-ins for the peers of the external credentials, on loopback, for
//! the HTTP behaviour of the routes that use them: a web application that
//! says whose a session is, a CAS server that validates tickets, an OpenID
//! provider with discovery, a JWKS and ES256 tokens. (The e2e suites run
//! the real peers; these only answer what the routes need.)

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// Serve `app` on a loopback port of its own; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A base URL where nothing listens.
pub fn nowhere() -> String {
    let port = crate::harness::free_port();
    format!("http://127.0.0.1:{port}")
}

/// A web application: `GET /session` with the cookie `app_session=good`
/// is webby's session with one permission; any other session is refused.
pub async fn web_app() -> String {
    let app = Router::new().route(
        "/session",
        get(|headers: HeaderMap| async move {
            let cookie = headers
                .get("cookie")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if cookie.contains("app_session=good") {
                let body = json!({"login": "webby", "permissions": {"users": {"read": true}}});
                (StatusCode::OK, body.to_string())
            } else {
                (StatusCode::UNAUTHORIZED, "{}".to_owned())
            }
        }),
    );
    serve(app).await
}

/// A CAS server (protocol 3): a ticket `ST-<user>` is valid for that user,
/// any other is not.
pub async fn cas_server() -> String {
    let app = Router::new().route(
        "/cas/p3/serviceValidate",
        get(|Query(q): Query<HashMap<String, String>>| async move {
            let ticket = q.get("ticket").cloned().unwrap_or_default();
            match ticket.strip_prefix("ST-") {
                Some(user) => format!(
                    r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:user>{user}</cas:user></cas:authenticationSuccess></cas:serviceResponse>"#
                ),
                None => r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure code="INVALID_TICKET">unknown ticket</cas:authenticationFailure></cas:serviceResponse>"#.to_owned(),
            }
        }),
    );
    format!("{}/cas", serve(app).await)
}

/// An OpenID provider's signing key (P-256), fixed so that runs compare.
const OP_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1sbYnPpUkrIFG4xJuaaTEaxxyEEyLJvRYnTWtEwEIx+hRANCAASKa1OatB6L7voI3/PjvtzBokF5pv/jeyXtk9VZHiu/OlRX7Uk/9EdXwLVgi+zmQx5AlufpY9Ne1PJZQLvFzIIq";

/// An OpenID provider: discovery and a JWKS; it signs what [`Op::token`]
/// is asked for.
pub struct Op {
    pub issuer: String,
    key: EcdsaKeyPair,
}

impl Op {
    pub async fn start() -> Op {
        let rng = ring::rand::SystemRandom::new();
        let der = STANDARD.decode(OP_KEY).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).unwrap();
        let point = key.public_key().as_ref().to_vec();
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        });
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { axum::Json(discovery) }),
            )
            .route("/jwks", get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Op { issuer, key }
    }

    /// A token of this provider for the client `sesame`, for `username`,
    /// valid for `valid_secs` (negative: expired).
    pub fn token(&self, username: &str, valid_secs: i64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": "k1"});
        let claims = json!({
            "iss": self.issuer, "aud": "sesame", "sub": format!("sub-{username}"),
            "preferred_username": username, "iat": now - 60, "exp": now + valid_secs,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let signature = self.key.sign(&rng, signing_input.as_bytes()).unwrap();
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

/// The JSON body of an answer, `Null` when there is none.
pub async fn body(r: reqwest::Response) -> Value {
    r.json().await.unwrap_or_default()
}
