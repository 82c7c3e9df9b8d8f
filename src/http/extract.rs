//! What handlers take from a request: the presented token, HTTP Basic
//! credentials, and who the client is.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use base64::Engine;

use crate::token::ClientInfo;

/// The header services put a token in.
pub const X_AUTH_TOKEN: &str = "x-auth-token";

/// A token as presented: `X-Auth-Token: T`, `Authorization: Bearer T`, or
/// `?token=T`, in that order of precedence. `None` when there is none.
#[derive(Debug, Clone)]
pub struct PresentedToken(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for PresentedToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PresentedToken(token_from(
            &parts.headers,
            parts.uri.query(),
        )))
    }
}

pub fn token_from(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(value) = headers.get(X_AUTH_TOKEN).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if !value.is_empty() {
            return Some(value.to_owned());
        }
    }
    if let Some(token) = bearer(headers) {
        return Some(token);
    }
    query_param(query?, "token")
}

/// The token of `Authorization: Bearer T`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    authorization(headers, "bearer")
}

/// The token of `Authorization: Negotiate <base64>`.
pub fn negotiate(headers: &HeaderMap) -> Option<String> {
    authorization(headers, "negotiate")
}

/// The credentials of `Authorization` when its scheme is `scheme` (any case).
fn authorization(headers: &HeaderMap, scheme: &str) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (given, rest) = value.split_once(' ')?;
    (given.eq_ignore_ascii_case(scheme) && !rest.trim().is_empty()).then(|| rest.trim().to_owned())
}

/// The first value of `name` in a query string, percent-decoded.
/// The request's `Cookie` headers, as sent.
pub fn cookie_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// HTTP Basic credentials, if well-formed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (login, password) = text.split_once(':')?;
    Some((login.to_owned(), password.to_owned()))
}

/// The client's address and user agent, for the token record.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Behind a trusted proxy, the forwarded client; else the TCP peer.
        let remote_addr = super::client_addr::of(&parts.extensions).map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(Client(ClientInfo {
            remote_addr,
            user_agent,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn token_sources_in_order() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            token_from(&headers, Some("a=1&token=q%2Dq")),
            Some("q-q".into())
        );
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(token_from(&headers, Some("token=q")), Some("b".into()));
        headers.insert(X_AUTH_TOKEN, HeaderValue::from_static("x"));
        assert_eq!(token_from(&headers, Some("token=q")), Some("x".into()));
        assert_eq!(token_from(&HeaderMap::new(), Some("tokens=q")), None);
    }

    #[test]
    fn basic_credentials_parse() {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic YWxpY2U6czNjcmU3"),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("alice".into(), "s3cre7".into()))
        );
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&headers), None);
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer YWxpY2U6czNjcmU3"),
        );
        assert_eq!(basic_credentials(&headers), None);
    }
}
