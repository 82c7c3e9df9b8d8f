//! The request parsers of both APIs and the OAuth forms, with the query
//! helpers and the log redaction: any input gets an answer, never a panic,
//! and redaction never lets a secret parameter's value through.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use sesame::http::extract::query_param;
use sesame::http::oauth_api::Form;
use sesame::http::token_api::parse_create;
use sesame::http::uc_api::parse_login;
use sesame::http::{redact_path, redact_query};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_create(data) {
        assert!(request.backend.is_none_or(|b| !b.is_empty()));
        assert!(request.expiration.is_none_or(|e| e > 0));
        assert!(!(request.offline && request.client_id.is_none()));
    }
    let _ = parse_login(data);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if let Ok(form) = Form::parse(&headers, data) {
        let _ = form.get("token");
    }
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    for name in ["token", "scope", "redirect"] {
        let _ = query_param(query, name);
    }
    let redacted = redact_query(query);
    for pair in redacted.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if ["token", "password", "ticket", "code", "state"]
            .iter()
            .any(|s| key.eq_ignore_ascii_case(s))
        {
            assert!(
                value.is_empty() || value == "REDACTED",
                "{query:?} → {redacted:?}"
            );
        }
    }
    let _ = redact_path(query);
});
