//! The OAuth 2.0 endpoints and the gateway check, over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ALICE_UUID, Server, base_config, client, create_token, get_json, users_yaml};

const SHARED: &str = "0123456789abcdef-shared-for-tests";

fn server() -> Server {
    Server::start(
        |p| {
            base_config(
                p,
                r#"public_url: https://auth.example.org/
gateway:
  unmatched: token_only
  acl_header: X-Required-Acl
  rules:
    - {path_prefix: /api/confd/, methods: [GET], acl: confd.users.me.read}
    - {path_prefix: /api/confd/, acl: confd.users.delete}
    - {path_prefix: /api/admin/, acl: admin.everything}
"#,
            )
            .replace("xivo_service: false", "xivo_service: true")
        },
        &users_yaml(""),
        &[("PLAY_AUTH_TOKEN", SHARED)],
    )
}

async fn login(s: &Server) -> String {
    let r = client()
        .post(s.url("/0.1/token"))
        .basic_auth("alice", Some("s3cre7"))
        .json(&json!({"backend": "xivo_user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

const INTROSPECT: &str = "/oauth2/introspect";
const REVOKE: &str = "/oauth2/revoke";
const UNKNOWN: &str = "0f7c1a52-2d0c-4a8e-9a55-6a8f8b0e2d11";
const WS: Caller = Caller::Basic("ws", "wspw");
const TRUSTED: Caller = Caller::Bearer(SHARED);

/// Who calls the introspection and revocation endpoints.
#[derive(Clone, Copy)]
enum Caller<'a> {
    Nobody,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

/// POST `token=...` (if any) to `path` as `caller`.
async fn form(
    s: &Server,
    path: &str,
    caller: Caller<'_>,
    token: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let fields: Vec<(&str, &str)> = token.map(|t| ("token", t)).into_iter().collect();
    let mut request = client().post(s.url(path)).form(&fields);
    match caller {
        Caller::Nobody => {}
        Caller::Basic(user, pw) => request = request.basic_auth(user, Some(pw)),
        Caller::Bearer(t) => request = request.bearer_auth(t),
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn introspection_and_revocation() {
    let s = server();
    let alice = login(&s).await;

    // Callers must authenticate: no credentials, wrong ones, or a token
    // without the ACL are refused.
    let (status, headers, body) = form(&s, INTROSPECT, Caller::Nobody, Some(&alice)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert!(headers.contains_key("www-authenticate"));
    let (status, _, _) = form(&s, INTROSPECT, Caller::Basic("ws", "nope"), Some(&alice)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = form(&s, INTROSPECT, Caller::Bearer(&alice), Some(&alice)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // A web-service account, and the shared token, may.
    let (status, _, body) = form(&s, INTROSPECT, WS, Some(&alice)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], ALICE_UUID);
    assert_eq!(body["username"], "alice");
    assert_eq!(body["client_id"], "xivo_user");
    assert_eq!(body["token_type"], "Bearer");
    let scope = body["scope"].as_str().unwrap();
    assert!(scope.split(' ').any(|a| a == "dird.#"), "{scope}");
    assert_eq!(
        body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap(),
        7200
    );
    let (status, _, body) = form(&s, INTROSPECT, TRUSTED, Some(&alice)).await;
    assert_eq!((status, &body["active"]), (StatusCode::OK, &json!(true)));

    // Unknown tokens and the shared secret itself are inactive, not 404.
    for token in [UNKNOWN, "garbage", SHARED] {
        let (status, _, body) = form(&s, INTROSPECT, TRUSTED, Some(token)).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"active": false})));
    }
    // Malformed requests.
    let (status, _, body) = form(&s, INTROSPECT, TRUSTED, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let r = client()
        .post(s.url("/oauth2/introspect"))
        .bearer_auth(SHARED)
        .json(&json!({"token": alice}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Revocation: 200, then the token is inactive; unknown tokens are 200 too.
    let (status, _, _) = form(&s, REVOKE, Caller::Nobody, Some(&alice)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = form(&s, REVOKE, WS, Some(&alice)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, body) = form(&s, INTROSPECT, WS, Some(&alice)).await;
    assert_eq!(body, json!({"active": false}));
    let (status, _, _) = form(&s, REVOKE, WS, Some(UNKNOWN)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = form(&s, REVOKE, WS, Some(SHARED)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_token_type"))
    );
    assert!(!s.log().contains(&alice), "a token reached the log");
}

#[tokio::test]
async fn token_exchange_down_scopes() {
    let s = server();
    let alice = login(&s).await;
    let exchange = |scope: Option<&str>, subject: String, kind: &str| {
        let mut fields = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".to_owned(),
            ),
            ("subject_token", subject),
            ("subject_token_type", kind.to_owned()),
        ];
        if let Some(scope) = scope {
            fields.push(("scope", scope.to_owned()));
        }
        client().post(s.url("/oauth2/token")).form(&fields).send()
    };
    let access = "urn:ietf:params:oauth:token-type:access_token";
    let r = exchange(Some("dird.phonebook.read"), alice.clone(), access)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["issued_token_type"], access);
    // The subject's denials carry over, and the answer says so.
    assert_eq!(body["scope"], "dird.phonebook.read !confd.users.me.delete");
    assert!(body["expires_in"].as_u64().unwrap() <= 7200);
    let narrow = body["access_token"].as_str().unwrap().to_owned();
    let head = |token: &str, scope: &str| {
        client()
            .head(s.url(&format!("/0.1/token/{token}?scope={scope}")))
            .send()
    };
    assert_eq!(
        head(&narrow, "dird.phonebook.read").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        head(&narrow, "confd.users.me.read").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        head(&alice, "confd.users.me.read").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );

    for (scope, subject, kind, error) in [
        (
            Some("confd.users.delete"),
            alice.clone(),
            access,
            "invalid_scope",
        ),
        (Some("#"), alice.clone(), access, "invalid_scope"),
        (
            None,
            "0f7c1a52-2d0c-4a8e-9a55-6a8f8b0e2d11".to_owned(),
            access,
            "invalid_grant",
        ),
        (
            None,
            SHARED.to_owned(),
            "urn:sesame:params:oauth:token-type:sesame",
            "invalid_grant",
        ),
        (
            None,
            "eyJhbGciOiJSUzI1NiJ9.e30.x".to_owned(),
            "urn:ietf:params:oauth:token-type:id_token",
            "invalid_request",
        ),
        (
            None,
            alice.clone(),
            "urn:example:unknown",
            "invalid_request",
        ),
    ] {
        let r = exchange(scope, subject, kind).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{scope:?} {kind}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], error, "{body}");
        assert!(body["error_description"].is_string());
    }
    let r = client()
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "s3cre7"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    let meta: Value = get_json(&s, "/.well-known/oauth-authorization-server").await;
    assert_eq!(meta["issuer"], "https://auth.example.org");
    assert_eq!(
        meta["introspection_endpoint"],
        "https://auth.example.org/oauth2/introspect"
    );
    assert_eq!(
        meta["revocation_endpoint"],
        "https://auth.example.org/oauth2/revoke"
    );
    assert_eq!(
        meta["token_endpoint"],
        "https://auth.example.org/oauth2/token"
    );
}

#[tokio::test]
async fn gateway_check() {
    let s = server();
    let alice = login(&s).await;
    let check = |uri: &str, method: &str, token: Option<&str>, acl_header: Option<&str>| {
        let mut r = client()
            .get(s.url("/gateway/auth"))
            .header("X-Original-URI", uri)
            .header("X-Original-Method", method);
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        if let Some(acl) = acl_header {
            r = r.header("X-Required-Acl", acl);
        }
        r.send()
    };
    let r = check("/api/other", "GET", None, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = check("/api/other", "GET", Some(&alice), None)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["x-auth-user"], "alice");
    assert_eq!(r.headers()["x-auth-id"], ALICE_UUID);
    assert_eq!(r.headers()["x-auth-user-uuid"], ALICE_UUID);

    // Rules by path and method, climbing attempts, the token in the original
    // query string, and the ACL header when configured.
    let in_query = format!("/api/confd/users/1?a=1&token={alice}");
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        StatusCode,
    );
    let cases: [Case; 9] = [
        (
            "/api/confd/users/1",
            "GET",
            Some(&alice),
            None,
            StatusCode::NO_CONTENT,
        ),
        (
            "/api/confd/users/1",
            "DELETE",
            Some(&alice),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/admin/x",
            "GET",
            Some(&alice),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/other/../admin/x",
            "GET",
            Some(&alice),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/other/%2e%2e/admin/x",
            "GET",
            Some(&alice),
            None,
            StatusCode::FORBIDDEN,
        ),
        (&in_query, "GET", None, None, StatusCode::NO_CONTENT),
        (
            "/api/other",
            "GET",
            Some(&alice),
            Some("admin.everything"),
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/admin/x",
            "GET",
            Some(&alice),
            Some("dird.phonebook.read"),
            StatusCode::NO_CONTENT,
        ),
        (
            "/api/admin/x",
            "GET",
            Some(UNKNOWN),
            None,
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (uri, method, token, header, expected) in cases {
        let got = check(uri, method, token, header).await.unwrap().status();
        assert_eq!(got, expected, "{method} {uri} acl header {header:?}");
    }
    // A revoked token is refused.
    client()
        .delete(s.url(&format!("/0.1/token/{alice}")))
        .send()
        .await
        .unwrap();
    let got = check("/api/other", "GET", Some(&alice), None)
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::UNAUTHORIZED);
    assert!(!s.log().contains(&alice), "a token reached the log");
}

/// Wrong service-account passwords on introspection and revocation count
/// against the caller's address like any other failed login.
#[tokio::test]
async fn basic_client_failures_count_against_the_address() {
    let s = Server::start(
        |p| {
            base_config(p, "")
                .replace("xivo_service: false", "xivo_service: true")
                .replace(
                    "throttle: {max_failures_per_login: 1000, max_failures_per_address: 1000}",
                    "throttle: {max_failures_per_login: 1000, max_failures_per_address: 4}",
                )
        },
        &users_yaml(""),
        &[],
    );
    for (i, path) in [INTROSPECT, REVOKE, INTROSPECT, REVOKE].iter().enumerate() {
        let login = format!("svc{i}");
        let (status, _, _) = form(&s, path, Caller::Basic(&login, "nope"), Some(UNKNOWN)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = create_token(&s, "alice", "s3cre7", json!({"backend": "xivo_user"})).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "four failures from 127.0.0.1 on the OAuth endpoints"
    );
}
