//! The token contract today's Wazo clients send (wazo-auth-client,
//! wazo-lib-python, `@wazo/sdk`): logins without a backend, wazo-auth's
//! body fields and metadata, tenant checks, `scopes/check`, `/status`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ALICE_UUID, Server, base_config, client, create_token, users_yaml};

const SHARED: &str = "wazo-test-shared-secret-0123456789abc";
const TENANT: &str = "5f6e7d8c-0000-4000-8000-00000000aaaa";
const OTHER_TENANT: &str = "5f6e7d8c-0000-4000-8000-00000000bbbb";

fn wazo_server() -> Server {
    Server::start(
        |port| {
            base_config(port, &format!("default_tenant_uuid: {TENANT}\n"))
                .replace("xivo_service: false", "xivo_service: true")
        },
        &users_yaml(""),
        &[("PLAY_AUTH_TOKEN", SHARED)],
    )
}

async fn post_token(s: &Server, login: &str, password: &str, body: Value) -> (StatusCode, Value) {
    create_token(s, login, password, body).await
}

#[tokio::test]
async fn logins_without_a_backend_try_the_default_backends() {
    let s = wazo_server();
    // A Wazo daemon renewing its service token; the SDK's login.
    let (status, answer) = post_token(&s, "ws", "wspw", json!({"expiration": 3600})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["metadata"]["purpose"], "external_api");
    let (status, answer) = post_token(
        &s,
        "alice",
        "s3cre7",
        json!({"backend": "wazo_user", "expiration": 3600}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let metadata = &answer["data"]["metadata"];
    assert_eq!(answer["data"]["auth_id"], ALICE_UUID);
    assert_eq!(metadata["auth_id"], ALICE_UUID);
    assert_eq!(metadata["uuid"], ALICE_UUID);
    assert_eq!(metadata["tenant_uuid"], TENANT);
    assert_eq!(metadata["purpose"], "user");
    assert_eq!(metadata["uuid"], metadata["pbx_user_uuid"]);
    assert!(metadata["xivo_uuid"].is_string());
    let (status, answer) = post_token(&s, "alice", "wrong", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["reason"][0], "Authentication Failed");
    // A login by refresh token, as the SDK sends it: none is issued yet.
    let r = client()
        .post(s.url("/0.1/token"))
        .json(&json!({"backend": "wazo_user", "expiration": 3600, "refresh_token": "rt", "client_id": "app"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["reason"][0], "Authentication Failed");
    // wazo-auth's schema rules.
    for body in [
        json!({"access_type": "offline"}),
        json!({"refresh_token": "x"}),
        json!({"tenant_id": TENANT, "domain_name": "example.org"}),
        json!({"expiration": 315_360_001_u64}),
    ] {
        let (status, _) = post_token(&s, "alice", "s3cre7", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}

async fn alice_token(s: &Server) -> String {
    let (_, answer) = post_token(s, "alice", "s3cre7", json!({})).await;
    answer["data"]["token"].as_str().unwrap().to_owned()
}

/// `?tenant=` is checked, never ignored: another tenant is 403.
#[tokio::test]
async fn a_token_is_valid_for_its_tenant_only() {
    let s = wazo_server();
    let t = alice_token(&s).await;
    let c = client();
    let head =
        |token: String, query: String| c.head(s.url(&format!("/0.1/token/{token}?{query}"))).send();
    let status = |r: reqwest::Response| r.status();
    assert_eq!(
        status(head(t.clone(), format!("tenant={TENANT}")).await.unwrap()),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(
            head(t.clone(), format!("tenant={OTHER_TENANT}"))
                .await
                .unwrap()
        ),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            head(t.clone(), format!("scope=dird.x&tenant={OTHER_TENANT}"))
                .await
                .unwrap()
        ),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(head(t.clone(), "tenant=not-a-uuid".into()).await.unwrap()),
        StatusCode::FORBIDDEN
    );
    let r = c
        .get(s.url(&format!("/0.1/token/{t}?tenant={OTHER_TENANT}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["reason"][0],
        format!("Unauthorized for tenant {OTHER_TENANT}")
    );
    // The platform's own token acts in any tenant, as wazo-auth's internal ones.
    assert_eq!(
        status(
            head(SHARED.into(), format!("tenant={OTHER_TENANT}"))
                .await
                .unwrap()
        ),
        StatusCode::NO_CONTENT
    );
}

async fn scopes_check(s: &Server, token: &str, body: &str) -> (StatusCode, Value) {
    let r = client()
        .post(s.url(&format!("/0.1/token/{token}/scopes/check")))
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn scopes_are_checked_one_by_one() {
    let s = wazo_server();
    let t = alice_token(&s).await;
    let (status, answer) = scopes_check(
        &s,
        &t,
        r#"{"scopes": ["confd.users.me.read", "confd.users.me.delete", "admin.x", "dird.a.b"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"scopes": {
            "confd.users.me.read": true,
            "confd.users.me.delete": false,
            "admin.x": false,
            "dird.a.b": true,
        }})
    );
    let with_tenant = format!(r#"{{"scopes": ["dird.x"], "tenant_uuid": "{OTHER_TENANT}"}}"#);
    assert_eq!(
        scopes_check(&s, &t, &with_tenant).await.0,
        StatusCode::FORBIDDEN
    );
    let unknown = "8d2f3c1e-0000-4000-8000-000000000000";
    let (status, answer) = scopes_check(&s, unknown, r#"{"scopes": []}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["reason"][0], "No such token");
    for bad in ["", "[]", r#"{"scopes": "x"}"#, r#"{"scopes": [1]}"#] {
        assert_eq!(
            scopes_check(&s, &t, bad).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let many = format!(r#"{{"scopes": [{}]}}"#, vec![r#""a""#; 257].join(","));
    assert_eq!(scopes_check(&s, &t, &many).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn status_says_whether_sesame_can_serve() {
    let s = wazo_server();
    let c = client();
    let r = c.head(s.url("/0.1/status")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.get(s.url("/0.1/status")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_store"]["status"], "ok");
    assert_eq!(body["rest_api"]["status"], "ok");
}
