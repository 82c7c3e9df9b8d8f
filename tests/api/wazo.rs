//! The token contract today's Wazo clients send (wazo-auth-client,
//! wazo-lib-python, `@wazo/sdk`): logins without a backend, wazo-auth's
//! body fields and metadata, tenant checks, `scopes/check`, `/status`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ALICE_UUID, Server, base_config, client, create_token, users_yaml};

pub(crate) const SHARED: &str = "wazo-test-shared-secret-0123456789abc";
pub(crate) const TENANT: &str = "5f6e7d8c-0000-4000-8000-00000000aaaa";
const OTHER_TENANT: &str = "5f6e7d8c-0000-4000-8000-00000000bbbb";

pub(crate) fn wazo_server() -> Server {
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

pub(crate) async fn alice_token(s: &Server) -> String {
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

/// An offline login for `client_id`: the answer's status and body.
pub(crate) async fn offline_login(
    s: &Server,
    client_id: &str,
    mobile: bool,
) -> (StatusCode, Value) {
    let mut request = client()
        .post(s.url("/0.1/token"))
        .basic_auth("alice", Some("s3cre7"))
        .json(&json!({"backend": "wazo_user", "expiration": 60, "access_type": "offline", "client_id": client_id}));
    if mobile {
        request = request.header("Wazo-Session-Type", "mobile");
    }
    let r = request.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

/// A login by refresh token, as `@wazo/sdk` sends it (no Authorization).
pub(crate) async fn refresh_login(
    s: &Server,
    refresh_token: &str,
    client_id: &str,
) -> (StatusCode, Value) {
    let r = client()
        .post(s.url("/0.1/token"))
        .json(&json!({"backend": "wazo_user", "expiration": 60, "refresh_token": refresh_token, "client_id": client_id}))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

pub(crate) fn refresh_of(answer: &Value) -> String {
    answer["data"]["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn refresh_tokens_mint_tokens_until_revoked_and_survive_a_restart() {
    let mut s = wazo_server();
    let (status, answer) = offline_login(&s, "my-app", false).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let rt = refresh_of(&answer);
    assert_eq!(rt.len(), 36, "{answer}");
    // The next offline login of the same client gets the same one back.
    let (_, again) = offline_login(&s, "my-app", false).await;
    assert_eq!(refresh_of(&again), rt);
    let (_, other) = offline_login(&s, "other.app", false).await;
    assert_ne!(refresh_of(&other), rt);
    // An online login has none.
    let (_, online) = post_token(&s, "alice", "s3cre7", json!({})).await;
    assert!(online["data"].get("refresh_token").is_none(), "{online}");

    let (status, minted) = refresh_login(&s, &rt, "my-app").await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    assert_eq!(minted["data"]["auth_id"], ALICE_UUID);
    assert!(minted["data"].get("refresh_token").is_none());
    assert_eq!(minted["data"]["acl"], answer["data"]["acl"]);
    assert_ne!(minted["data"]["token"], answer["data"]["token"]);
    // Another client's refresh token, or a made-up one: 401.
    assert_eq!(
        refresh_login(&s, &rt, "other.app").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh_login(&s, "8d2f3c1e-0000-4000-8000-000000000000", "my-app")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    s.restart();
    let (status, _) = refresh_login(&s, &rt, "my-app").await;
    assert_eq!(status, StatusCode::OK, "a refresh token survives a restart");

    // Alice lists and revokes her own (the user policy has no such ACL:
    // the shared token does it, then alice with a token that may).
    let c = client();
    let list = c
        .get(s.url(&format!(
            "/0.1/users/{ALICE_UUID}/tokens?order=client_id&direction=desc"
        )))
        .header("X-Auth-Token", SHARED)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let list: Value = list.json().await.unwrap();
    assert_eq!(
        (list["total"].as_u64(), list["filtered"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(list["items"][0]["client_id"], "other.app");
    assert_eq!(list["items"][1]["client_id"], "my-app");
    assert_eq!(list["items"][1]["user_uuid"], ALICE_UUID);
    assert_eq!(list["items"][1]["tenant_uuid"], TENANT);
    assert!(list["items"][1].get("refresh_token").is_none());
    let searched: Value = c
        .get(s.url("/0.1/tokens?search=MY-&limit=5"))
        .header("X-Auth-Token", SHARED)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (searched["total"].as_u64(), searched["filtered"].as_u64()),
        (Some(2), Some(1))
    );
    let alice_token = online["data"]["token"].as_str().unwrap();
    let r = c
        .get(s.url("/0.1/tokens"))
        .header("X-Auth-Token", alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "alice lacks auth.tokens.read"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_id"], "unauthorized");
    for bad in ["limit=-1", "order=uuid", "direction=sideways"] {
        let r = c
            .get(s.url(&format!("/0.1/tokens?{bad}")))
            .header("X-Auth-Token", SHARED)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    let delete = |client_id: &'static str| {
        c.delete(s.url(&format!("/0.1/users/{ALICE_UUID}/tokens/{client_id}")))
            .header("X-Auth-Token", SHARED)
            .send()
    };
    assert_eq!(
        delete("my-app").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let again = delete("my-app").await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let body: Value = again.json().await.unwrap();
    assert_eq!(
        body["error_id"],
        "cannot-find-refresh-token-matching-client-id"
    );
    assert_eq!(
        refresh_login(&s, &rt, "my-app").await.0,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
    s.restart();
    assert_eq!(
        refresh_login(&s, &rt, "my-app").await.0,
        StatusCode::UNAUTHORIZED,
        "still revoked after a restart"
    );
    // A new offline login makes a new refresh token.
    let (_, fresh) = offline_login(&s, "my-app", false).await;
    assert!(!refresh_of(&fresh).is_empty() && refresh_of(&fresh) != rt);
}

#[tokio::test]
async fn a_mobile_offline_login_replaces_the_clients_refresh_token() {
    let s = wazo_server();
    let (_, first) = offline_login(&s, "phone", true).await;
    let (_, second) = offline_login(&s, "phone", true).await;
    let (old, new) = (refresh_of(&first), refresh_of(&second));
    assert!(!old.is_empty() && old != new);
    assert_eq!(
        refresh_login(&s, &old, "phone").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(refresh_login(&s, &new, "phone").await.0, StatusCode::OK);
}

/// `me` is the token's user; the ACL of a path with dots has them as `_`.
#[tokio::test]
async fn me_and_dotted_client_ids() {
    let s = Server::start(
        |port| {
            base_config(port, "").replace(
                "dird.#]",
                "dird.#, auth.users.me.tokens.read, auth.users.me.tokens.com_example_app.delete]",
            )
        },
        &users_yaml(""),
        &[],
    );
    let (_, answer) = offline_login(&s, "com.example.app", false).await;
    let token = answer["data"]["token"].as_str().unwrap().to_owned();
    let c = client();
    let mine: Value = c
        .get(s.url("/0.1/users/me/tokens"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"][0]["client_id"], "com.example.app", "{mine}");
    // `me` in an ACL is the token's own user: her UUID passes, another's not.
    let of = |user: &str| {
        c.get(s.url(&format!("/0.1/users/{user}/tokens")))
            .header("X-Auth-Token", &token)
            .send()
    };
    assert_eq!(of(ALICE_UUID).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        of("11111111-2222-4333-8444-555555555555")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = c
        .delete(s.url("/0.1/users/me/tokens/com.example.app"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// A user names the client ids: past `refresh_tokens.max_per_user`, an
/// offline login for another client is 429; the clients held still work.
#[tokio::test]
async fn refresh_tokens_per_user_are_capped() {
    let s = Server::start(
        |port| base_config(port, "refresh_tokens: {max_per_user: 2}\n"),
        &users_yaml(""),
        &[],
    );
    assert_eq!(offline_login(&s, "app1", false).await.0, StatusCode::OK);
    assert_eq!(offline_login(&s, "app2", false).await.0, StatusCode::OK);
    let (status, answer) = offline_login(&s, "app3", false).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert!(
        answer["reason"][0]
            .as_str()
            .unwrap()
            .contains("refresh tokens")
    );
    assert_eq!(offline_login(&s, "app1", false).await.0, StatusCode::OK);
}

/// What a refresh token mints follows the client's last offline login: a
/// changed policy reaches the app at its next offline login, with the same
/// refresh token.
#[tokio::test]
async fn a_refresh_token_mints_the_acls_of_the_last_offline_login() {
    let s = wazo_server();
    let (_, first) = offline_login(&s, "app", false).await;
    let rt = refresh_of(&first);
    let config = std::fs::read_to_string(s.config_path()).unwrap();
    std::fs::write(
        s.config_path(),
        config.replace("dird.#]", "dird.#, chatd.#]"),
    )
    .unwrap();
    s.signal("HUP");
    let reloaded = crate::harness::eventually(10, || async {
        let (_, answer) = post_token(&s, "alice", "s3cre7", json!({})).await;
        answer["data"]["acl"].to_string().contains("chatd.#")
    })
    .await;
    assert!(reloaded, "the policy was reloaded");
    let (_, minted) = refresh_login(&s, &rt, "app").await;
    assert!(
        !minted["data"]["acl"].to_string().contains("chatd.#"),
        "not yet"
    );
    let (_, again) = offline_login(&s, "app", false).await;
    assert_eq!(refresh_of(&again), rt, "the same refresh token");
    let (_, minted) = refresh_login(&s, &rt, "app").await;
    assert!(
        minted["data"]["acl"].to_string().contains("chatd.#"),
        "{minted}"
    );
}

/// `refresh_tokens.rotate`: each login by refresh token answers a new one;
/// a replaced one presented again revokes the client's refresh token and
/// ends its sessions.
#[tokio::test]
async fn rotation_detects_a_replayed_refresh_token() {
    let s = Server::start(
        |port| {
            base_config(port, &format!("default_tenant_uuid: {TENANT}\n"))
                + "refresh_tokens: {rotate: true}\n"
        },
        &users_yaml(""),
        &[],
    );
    let (_, offline) = offline_login(&s, "app", false).await;
    let rt0 = refresh_of(&offline);
    let (status, first) = refresh_login(&s, &rt0, "app").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let rt1 = refresh_of(&first);
    assert!(rt1.len() == 36 && rt1 != rt0, "{first}");
    let (_, second) = refresh_login(&s, &rt1, "app").await;
    let rt2 = refresh_of(&second);
    assert!(rt2.len() == 36 && rt2 != rt1);
    // The client's next offline login gets the current one.
    let (_, again) = offline_login(&s, "app", false).await;
    assert_eq!(refresh_of(&again), rt2);
    let tokens: Vec<String> = [&offline, &first, &second, &again]
        .iter()
        .map(|a| a["data"]["token"].as_str().unwrap().to_owned())
        .collect();

    // A replay of a replaced token: refused, and the family is revoked.
    assert_eq!(
        refresh_login(&s, &rt0, "app").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh_login(&s, &rt2, "app").await.0,
        StatusCode::UNAUTHORIZED
    );
    for token in &tokens {
        let r = client()
            .head(s.url(&format!("/0.1/token/{token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::NOT_FOUND,
            "the family's sessions ended"
        );
    }
    assert!(
        s.log()
            .contains("a replaced refresh token was presented again")
    );
}
