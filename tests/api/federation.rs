//! The HTTP behaviour of the external credentials (web sessions, CAS,
//! OpenID Connect) on every route that takes them, against the stand-ins of
//! `standins.rs`: each kind's refusals, missing users and upstream outages
//! get their own answer, and an outage names the right upstream.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Server, base_config, client, get_json, users_yaml};
use crate::standins::{Op, body, cas_server, nowhere, web_app};

fn web_session_config(url: &str) -> String {
    format!(
        "web_session:\n  validation_url: {url}/session\n  cookie_names: [app_session]\n  timeout_ms: 2000\n  permission_map: {{users.read: confd.users.read}}\n"
    )
}

async fn token_by_web_session(s: &Server, cookie: Option<&str>) -> (StatusCode, Value) {
    let mut request = client()
        .post(s.url("/0.1/token"))
        .json(&json!({"backend": "web_session"}));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    let r = request.send().await.unwrap();
    (r.status(), body(r).await)
}

async fn uc_web_session(s: &Server, cookie: &str) -> (StatusCode, Value) {
    let r = client()
        .post(s.url("/xuc/api/2.0/auth/websession"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status(), body(r).await)
}

#[tokio::test]
async fn web_sessions_on_both_apis() {
    let app = web_app().await;
    let s = Server::start(
        |port| base_config(port, &web_session_config(&app)),
        &users_yaml(""),
        &[],
    );
    let (status, answer) = token_by_web_session(&s, Some("other=1; app_session=good")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["auth_id"], "web_session:webby");
    assert_eq!(answer["data"]["acl"], json!(["confd.users.read"]));
    assert_eq!(answer["data"]["metadata"]["purpose"], "web_session");
    let (status, answer) = token_by_web_session(&s, Some("app_session=stale")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let (status, _) = token_by_web_session(&s, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, answer) = uc_web_session(&s, "app_session=good").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["login"], "webby");
    let (status, answer) = uc_web_session(&s, "app_session=stale").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("InvalidSession"))
    );
}

/// The web application down is a 503 that names the web application, on
/// `/0.1/token` too (it named the OpenID provider there).
#[tokio::test]
async fn a_web_application_down_is_named_on_both_apis() {
    let down = nowhere();
    let s = Server::start(
        |port| base_config(port, &web_session_config(&down)),
        &users_yaml(""),
        &[],
    );
    let (status, answer) = token_by_web_session(&s, Some("app_session=good")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(
        answer["reason"][0],
        "the web application is unavailable, retry later"
    );
    let (status, answer) = uc_web_session(&s, "app_session=good").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer["error"], "WebSessionUnavailable");
    assert_eq!(
        answer["message"],
        "the web application is unavailable, retry later"
    );
}

const SERVICE: &str = "https://uc.example.org/login";
const REDIRECT: &str = "https://uc.example.org/app";

fn cas_config(port: u16, cas: &str) -> String {
    let callback = format!("http://127.0.0.1:{port}/xuc/api/2.0/auth/cas/callback");
    base_config(
        port,
        &format!(
            "uc_api: {{cookie_secure: false}}\ncas:\n  server_url: {cas}\n  allowed_services: [{SERVICE}]\n  callback_url: {callback}\n  allowed_redirects: [{REDIRECT}]\n"
        ),
    )
}

async fn cas_ticket(s: &Server, service: &str, ticket: &str) -> (StatusCode, Value) {
    let r = client()
        .get(s.url("/xuc/api/2.0/auth/cas"))
        .query(&[("service", service), ("ticket", ticket)])
        .send()
        .await
        .unwrap();
    (r.status(), body(r).await)
}

#[tokio::test]
async fn cas_tickets_and_their_refusals() {
    let cas = cas_server().await;
    let s = Server::start(|port| cas_config(port, &cas), &users_yaml(""), &[]);
    let (status, answer) = cas_ticket(&s, SERVICE, "ST-alice").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["login"], "alice");
    let (status, answer) = cas_ticket(&s, SERVICE, "ST-alice").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("CasServerInvalidTicket")),
        "a ticket is used once"
    );
    let (status, answer) = cas_ticket(&s, SERVICE, "PT-forged").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let (status, answer) = cas_ticket(&s, "https://evil.example/", "ST-alice2").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("CasServiceNotAllowed"))
    );
    let (status, answer) = cas_ticket(&s, SERVICE, "ST-bob").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("UserNotFound"))
    );
    assert_eq!(answer["message"], "no local user for bob");
}

#[tokio::test]
async fn a_cas_server_down_is_named() {
    let s = Server::start(
        |port| cas_config(port, &format!("{}/cas", nowhere())),
        &users_yaml(""),
        &[],
    );
    let (status, answer) = cas_ticket(&s, SERVICE, "ST-alice").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("CasServerUnavailable")
        )
    );
    assert_eq!(
        answer["message"],
        "the CAS server is unavailable, retry later"
    );
}

/// The browser flow: start, come back with the ticket and the state
/// cookie, get the token in the redirect's fragment; once. Single logout
/// then revokes that token.
#[tokio::test]
async fn a_cas_browser_login_and_its_single_logout() {
    let cas = cas_server().await;
    let s = Server::start(|port| cas_config(port, &cas), &users_yaml(""), &[]);
    // The browser: redirects are read, not followed.
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .get(s.url("/xuc/api/2.0/auth/cas/login"))
        .query(&[("redirect", REDIRECT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let login_url = r.headers()["location"].to_str().unwrap().to_owned();
    let service = url::Url::parse(&login_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let state = url::Url::parse(&service)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let callback = |ticket: &'static str, cookie: Option<String>| {
        let mut request = c
            .get(s.url("/xuc/api/2.0/auth/cas/callback"))
            .query(&[("ticket", ticket), ("state", state.as_str())]);
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        request.send()
    };
    let r = callback("ST-alice", None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no state cookie");
    let r = callback("ST-alice", Some(cookie.clone())).await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let (to, fragment) = location.split_once('#').unwrap();
    assert_eq!(to, REDIRECT);
    let token = fragment
        .split('&')
        .find_map(|p| p.strip_prefix("token="))
        .unwrap()
        .to_owned();
    let r = callback("ST-alice", Some(cookie)).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a state finishes one login"
    );

    let head = |token: String| c.head(s.url(&format!("/0.1/token/{token}"))).send();
    assert_eq!(
        head(token.clone()).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let logout = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">alice</saml:NameID><samlp:SessionIndex>ST-alice</samlp:SessionIndex></samlp:LogoutRequest>"#.to_owned();
    let r = c
        .post(s.url("/xuc/api/2.0/auth/cas/callback"))
        .form(&[("logoutRequest", logout)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(head(token).await.unwrap().status(), StatusCode::NOT_FOUND);
}

fn oidc_config(issuer: &str) -> String {
    format!(
        "oidc:\n  providers:\n    op:\n      issuer: {issuer}\n      client_id: sesame\n      algorithms: [ES256]\n"
    )
}

async fn token_by_oidc(s: &Server, token: &str) -> (StatusCode, Value) {
    let r = client()
        .post(s.url("/0.1/token"))
        .bearer_auth(token)
        .json(&json!({"backend": "oidc"}))
        .send()
        .await
        .unwrap();
    (r.status(), body(r).await)
}

#[tokio::test]
async fn openid_tokens_on_every_api() {
    let op = Op::start().await;
    let s = Server::start(
        |port| base_config(port, &oidc_config(&op.issuer)),
        &users_yaml(""),
        &[],
    );
    let (status, answer) = token_by_oidc(&s, &op.token("alice", 300)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["metadata"]["oidc_sub"], "sub-alice");
    let (status, _) = token_by_oidc(&s, &op.token("alice", -600)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");

    let r = client()
        .post(s.url("/xuc/api/2.0/auth/oidc"))
        .json(&json!({"token": op.token("nobody", 300)}))
        .send()
        .await
        .unwrap();
    let (status, answer) = (r.status(), body(r).await);
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("UserNotFound"))
    );

    let exchange = |token: String, scope: &'static str| {
        client()
            .post(s.url("/oauth2/token"))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", token.as_str()),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
                ("scope", scope),
            ])
            .send()
    };
    let r = exchange(op.token("alice", 300), "own.acl").await.unwrap();
    let (status, answer) = (r.status(), body(r).await);
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["scope"], "own.acl");
    let r = exchange(op.token("alice", 300), "admin.#").await.unwrap();
    let (status, answer) = (r.status(), body(r).await);
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
}

/// A verified identity without a local user: the status `POST /0.1/token`
/// answers is the one its OpenAPI document gives for that case (the
/// document said 404 where the server answers 401).
#[tokio::test]
async fn no_local_user_is_answered_as_documented() {
    let op = Op::start().await;
    let s = Server::start(
        |port| base_config(port, &oidc_config(&op.issuer)),
        &users_yaml(""),
        &[],
    );
    let (status, answer) = token_by_oidc(&s, &op.token("nobody", 300)).await;
    assert_eq!(answer["reason"][0], "no local user for nobody");
    let document = get_json(&s, "/api/openapi.json").await;
    let responses = document["paths"]["/0.1/token"]["post"]["responses"]
        .as_object()
        .unwrap();
    let documented: Vec<&String> = responses
        .iter()
        .filter(|(_, r)| {
            r["description"]
                .as_str()
                .is_some_and(|d| d.contains("without a local user"))
        })
        .map(|(code, _)| code)
        .collect();
    assert_eq!(documented, vec![&status.as_u16().to_string()]);
}
