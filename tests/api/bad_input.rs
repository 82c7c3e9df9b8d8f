//! The bad-input table: for each route, malformed JSON, wrong types, huge
//! values, odd unicode, missing fields and duplicated parameters. Each gets
//! its documented 4xx with the API's JSON error body; the server never
//! panics, keeps serving, and logs neither the password nor the input.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{Server, client};

/// One row: what is sent, and the status it must get.
struct Case {
    what: &'static str,
    method: Method,
    path: String,
    body: Option<String>,
    basic: bool,
    status: StatusCode,
}

fn case(what: &'static str, method: Method, path: &str, body: Option<&str>, status: u16) -> Case {
    Case {
        what,
        method,
        path: path.to_owned(),
        body: body.map(str::to_owned),
        basic: false,
        status: StatusCode::from_u16(status).unwrap(),
    }
}

/// The same, with alice's HTTP Basic credentials.
fn with_basic(mut c: Case) -> Case {
    c.basic = true;
    c
}

fn table() -> Vec<Case> {
    let huge = "x".repeat(50_000);
    let long_path_token = "a".repeat(8_000);
    let token = "/0.1/token";
    let login = "/xuc/api/2.0/auth/login";
    let mut rows = vec![
        // POST /0.1/token: the body is checked before the credentials.
        with_basic(case("empty body", Method::POST, token, Some(""), 400)),
        with_basic(case("truncated JSON", Method::POST, token, Some("{"), 400)),
        with_basic(case("a JSON array", Method::POST, token, Some("[]"), 400)),
        with_basic(case("JSON null", Method::POST, token, Some("null"), 400)),
        // No backend is the default backends (Wazo clients send none).
        with_basic(case(
            "backend empty",
            Method::POST,
            token,
            Some(r#"{"backend": "", "expiration": 60}"#),
            400,
        )),
        with_basic(case(
            "offline access without a client id",
            Method::POST,
            token,
            Some(r#"{"access_type": "offline"}"#),
            400,
        )),
        with_basic(case(
            "backend a number",
            Method::POST,
            token,
            Some(r#"{"backend": 5}"#),
            400,
        )),
        with_basic(case(
            "expiration a string",
            Method::POST,
            token,
            Some(r#"{"backend": "xivo_user", "expiration": "30"}"#),
            400,
        )),
        with_basic(case(
            "expiration negative",
            Method::POST,
            token,
            Some(r#"{"backend": "xivo_user", "expiration": -1}"#),
            400,
        )),
        with_basic(case(
            "expiration past u64",
            Method::POST,
            token,
            Some(r#"{"backend": "xivo_user", "expiration": 99999999999999999999999}"#),
            400,
        )),
        with_basic(case(
            "expiration 1e400",
            Method::POST,
            token,
            Some(r#"{"backend": "xivo_user", "expiration": 1e400}"#),
            400,
        )),
        with_basic(case(
            "expiration past the maximum",
            Method::POST,
            token,
            Some(r#"{"backend": "xivo_user", "expiration": 999999999}"#),
            400,
        )),
        with_basic(case(
            "unknown backend in unicode",
            Method::POST,
            token,
            Some(r#"{"backend": "é🙂\u0000"}"#),
            401,
        )),
        with_basic(case(
            "invalid UTF-8",
            Method::POST,
            token,
            Some("{\"backend\": \"\u{FFFD}\"}"),
            401,
        )),
        case(
            "no credentials",
            Method::POST,
            token,
            Some(r#"{"backend": "xivo_user"}"#),
            401,
        ),
        // POST /xuc/api/2.0/auth/login
        case("empty body", Method::POST, login, Some(""), 400),
        case(
            "truncated JSON",
            Method::POST,
            login,
            Some(r#"{"login": "alice""#),
            400,
        ),
        case(
            "login a number",
            Method::POST,
            login,
            Some(r#"{"login": 1, "password": "s3cre7"}"#),
            400,
        ),
        case(
            "password missing",
            Method::POST,
            login,
            Some(r#"{"login": "alice"}"#),
            400,
        ),
        case(
            "password an object",
            Method::POST,
            login,
            Some(r#"{"login": "alice", "password": {"a": 1}}"#),
            400,
        ),
        case(
            "unicode login",
            Method::POST,
            login,
            Some(r#"{"login": "ålice\u202e", "password": "s3cre7"}"#),
            401,
        ),
        case(
            "empty login and password",
            Method::POST,
            login,
            Some(r#"{"login": "", "password": ""}"#),
            401,
        ),
        // GET /xuc/api/2.0/auth/check
        case(
            "no token",
            Method::GET,
            "/xuc/api/2.0/auth/check",
            None,
            401,
        ),
        case(
            "a garbage token",
            Method::GET,
            "/xuc/api/2.0/auth/check?token=%00%FF%C3%A9",
            None,
            401,
        ),
        case(
            "two tokens",
            Method::GET,
            "/xuc/api/2.0/auth/check?token=a&token=b",
            None,
            401,
        ),
        // Tokens in the path
        case(
            "a token that is not a UUID",
            Method::GET,
            "/0.1/token/not-a-token",
            None,
            404,
        ),
        case(
            "an encoded slash and unicode",
            Method::GET,
            "/0.1/token/..%2F%C3%A9",
            None,
            404,
        ),
        case(
            "an unknown scope on an unknown token",
            Method::GET,
            "/0.1/token/00000000-0000-4000-8000-000000000000?scope=%00",
            None,
            404,
        ),
        case(
            "DELETE of an unknown token",
            Method::DELETE,
            "/0.1/token/00000000-0000-4000-8000-000000000000",
            None,
            200,
        ),
        // Other routes
        case(
            "CAS without its section",
            Method::GET,
            "/xuc/api/2.0/auth/cas",
            None,
            400,
        ),
        case(
            "introspection without credentials",
            Method::POST,
            "/oauth2/introspect",
            Some("token=x&token=y"),
            401,
        ),
        case(
            "token exchange without a grant type",
            Method::POST,
            "/oauth2/token",
            Some("x=%ZZ"),
            400,
        ),
        case("the wrong method", Method::PUT, token, Some("{}"), 405),
        case("an unknown route", Method::GET, "/0.2/token", None, 404),
    ];
    rows.push(with_basic(case(
        "a 50 kB backend name",
        Method::POST,
        token,
        None,
        401,
    )));
    if let Some(last) = rows.last_mut() {
        last.body = Some(format!(r#"{{"backend": "{huge}"}}"#));
    }
    rows.push(case(
        "an 8 kB token in the path",
        Method::GET,
        "",
        None,
        404,
    ));
    if let Some(last) = rows.last_mut() {
        last.path = format!("/0.1/token/{long_path_token}");
    }
    rows.push(case("a 50 kB login", Method::POST, login, None, 401));
    if let Some(last) = rows.last_mut() {
        last.body = Some(format!(r#"{{"login": "{huge}", "password": "s3cre7"}}"#));
    }
    rows
}

#[tokio::test]
async fn every_bad_input_gets_its_status_and_a_json_error() {
    let s = Server::standard();
    let c = client();
    let mut failures = Vec::new();
    for row in table() {
        let mut request = c.request(row.method.clone(), s.url(&row.path));
        if let Some(body) = &row.body {
            let kind = if row.path.starts_with("/oauth2/") {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            request = request.header("Content-Type", kind).body(body.clone());
        }
        if row.basic {
            request = request.basic_auth("alice", Some("s3cre7"));
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let body: Result<Value, _> = r.json().await;
        let is_error_body = match &body {
            Ok(v) if status.is_success() => v.is_object(),
            Ok(v) => v.get("reason").is_some() || v.get("error").is_some(),
            Err(_) => false,
        };
        if status != row.status || !is_error_body {
            failures.push(format!(
                "{} {} ({}): got {status} {:?}, expected {}",
                row.method,
                row.path.chars().take(60).collect::<String>(),
                row.what,
                body.ok(),
                row.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Still serving, and nothing it should not have in the log.
    let r = c
        .post(s.url("/0.1/token"))
        .basic_auth("alice", Some("s3cre7"))
        .json(&serde_json::json!({"backend": "xivo_user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let log = s.log();
    assert!(!log.contains("s3cre7"), "the password is in the log");
    // Client text is cut at 128 characters in the log.
    let flood = "x".repeat(200);
    let line = log.lines().find(|l| l.contains(&flood)).unwrap_or_default();
    assert!(
        line.is_empty(),
        "the huge input is in the log: {}",
        &line[..line.len().min(300)]
    );
    assert!(!log.contains("panicked"), "{log}");
}
