//! wazo-auth's sessions: each login opens one, listed and ended through
//! `/0.1/sessions` and `/0.1/users/{user}/sessions`; `Wazo-Sessions-Revoked`
//! on every login; a mobile offline login ends the user's other mobile
//! clients; a revoked refresh token ends the sessions it made.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ALICE_UUID, Server, base_config, client, hash, users_yaml};
use crate::wazo::{SHARED, TENANT, offline_login, refresh_login, refresh_of, wazo_server};

const BOB_UUID: &str = "0b0b0b0b-1111-4222-8333-444444444444";

/// Alice, and Bob whose tokens may list and end their own sessions.
fn server_with_bob() -> Server {
    let bob = format!(
        "  - login: bob\n    uuid: {BOB_UUID}\n    profile: default\n    password_hash: \"{}\"\n    acl: [\"auth.users.me.sessions.#\"]\n",
        hash("b0bpw")
    );
    Server::start(
        |port| {
            base_config(port, &format!("default_tenant_uuid: {TENANT}\n"))
                .replace("xivo_service: false", "xivo_service: true")
        },
        &users_yaml(&bob),
        &[("PLAY_AUTH_TOKEN", SHARED)],
    )
}

/// A login: its token, session and `Wazo-Sessions-Revoked`.
async fn login(s: &Server, user: &str, password: &str, mobile: bool) -> (String, String, String) {
    let mut request = client()
        .post(s.url("/0.1/token"))
        .basic_auth(user, Some(password))
        .json(&json!({"expiration": 600}));
    if mobile {
        request = request.header("Wazo-Session-Type", "mobile");
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let revoked = header(&r, "wazo-sessions-revoked");
    let body: Value = r.json().await.unwrap();
    (
        body["data"]["token"].as_str().unwrap().to_owned(),
        body["data"]["session_uuid"].as_str().unwrap().to_owned(),
        revoked,
    )
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(none)")
        .to_owned()
}

async fn get(s: &Server, path: &str, token: &str) -> (StatusCode, Value) {
    let r = client()
        .get(s.url(path))
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

async fn delete(s: &Server, path: &str, token: &str) -> StatusCode {
    client()
        .delete(s.url(path))
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn valid(s: &Server, token: &str) -> bool {
    let r = client()
        .head(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    r.status() == StatusCode::NO_CONTENT
}

fn uuids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uuid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sessions_are_listed_and_ended_by_whom_may() {
    let mut s = server_with_bob();
    let (desk, desk_session, revoked) = login(&s, "alice", "s3cre7", false).await;
    assert_eq!(revoked, "0", "wazo-auth sends it on every login");
    let (phone, phone_session, _) = login(&s, "alice", "s3cre7", true).await;
    let (bob, bob_session, _) = login(&s, "bob", "b0bpw", false).await;

    let (status, all) = get(&s, "/0.1/sessions", SHARED).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(
        (all["total"].as_u64(), all["filtered"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        uuids(&all),
        [
            desk_session.clone(),
            phone_session.clone(),
            bob_session.clone()
        ],
        "oldest first"
    );
    assert_eq!(
        all["items"][1],
        json!({"uuid": phone_session, "user_uuid": ALICE_UUID, "tenant_uuid": TENANT, "mobile": true})
    );
    let (_, alices) = get(
        &s,
        &format!("/0.1/users/{ALICE_UUID}/sessions?order=mobile&direction=desc&limit=1"),
        SHARED,
    )
    .await;
    assert_eq!(
        (alices["total"].as_u64(), uuids(&alices)),
        (Some(2), vec![phone_session.clone()])
    );
    for bad in [
        "order=client_id",
        "limit=x",
        "direction=up",
        "recurse=perhaps",
    ] {
        let (status, body) = get(&s, &format!("/0.1/sessions?{bad}"), SHARED).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error_id"], "invalid-list-param", "{body}");
    }

    // Alice's token lacks the ACLs; Bob's are for his own sessions only.
    assert_eq!(
        get(&s, "/0.1/sessions", &desk).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, mine) = get(&s, "/0.1/users/me/sessions", &bob).await;
    assert_eq!(
        (status, uuids(&mine)),
        (StatusCode::OK, vec![bob_session.clone()])
    );
    let alice_path = format!("/0.1/users/{ALICE_UUID}/sessions");
    assert_eq!(get(&s, &alice_path, &bob).await.0, StatusCode::UNAUTHORIZED);
    // Bob naming Alice's session under his own user ends nothing.
    let status = delete(&s, &format!("/0.1/users/me/sessions/{desk_session}"), &bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        valid(&s, &desk).await,
        "another user's session is left alone"
    );
    assert_eq!(
        get(&s, "/0.1/users/not-a-uuid/sessions", SHARED).await.0,
        StatusCode::NOT_FOUND
    );

    // Sessions survive a restart; ending one revokes its token only.
    s.restart();
    let status = delete(&s, &format!("{alice_path}/{desk_session}"), SHARED).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!valid(&s, &desk).await);
    assert!(valid(&s, &phone).await);
    let status = delete(&s, &format!("/0.1/sessions/{phone_session}"), SHARED).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!valid(&s, &phone).await);
    // Gone or never there: 204 as wazo-auth answers.
    for gone in [
        phone_session.as_str(),
        "8d2f3c1e-0000-4000-8000-000000000000",
        "junk",
    ] {
        assert_eq!(
            delete(&s, &format!("/0.1/sessions/{gone}"), SHARED).await,
            StatusCode::NO_CONTENT
        );
    }
    let status = delete(&s, &format!("/0.1/users/me/sessions/{bob_session}"), &bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!valid(&s, &bob).await, "Bob ended his own session");
    let (_, left) = get(&s, "/0.1/sessions", SHARED).await;
    assert_eq!(left["total"], 0, "{left}");
}

/// The token of an offline or refresh-token login's answer.
fn token_of(answer: &Value) -> String {
    answer["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_mobile_offline_login_ends_the_other_mobile_clients() {
    let s = wazo_server();
    let mobile_offline = |client_id: &'static str| {
        client()
            .post(s.url("/0.1/token"))
            .basic_auth("alice", Some("s3cre7"))
            .header("Wazo-Session-Type", "mobile")
            .json(&json!({"expiration": 600, "access_type": "offline", "client_id": client_id}))
            .send()
    };
    let r = mobile_offline("phone").await.unwrap();
    assert_eq!(header(&r, "wazo-sessions-revoked"), "0");
    let phone: Value = r.json().await.unwrap();
    let (_, refreshed) = refresh_login(&s, &refresh_of(&phone), "phone").await;
    let (_, desk) = offline_login(&s, "desk", false).await;
    for t in [token_of(&phone), token_of(&refreshed), token_of(&desk)] {
        assert!(valid(&s, &t).await);
    }

    // Another mobile client: the phone's two sessions end, the desk's stays.
    let r = mobile_offline("tablet").await.unwrap();
    assert_eq!(header(&r, "wazo-sessions-revoked"), "2");
    let tablet: Value = r.json().await.unwrap();
    assert!(!valid(&s, &token_of(&phone)).await);
    assert!(!valid(&s, &token_of(&refreshed)).await);
    assert!(valid(&s, &token_of(&desk)).await);
    assert_eq!(
        refresh_login(&s, &refresh_of(&phone), "phone").await.0,
        StatusCode::UNAUTHORIZED
    );
    // The same mobile client again: a new refresh token, its old session ends.
    let r = mobile_offline("tablet").await.unwrap();
    assert_eq!(header(&r, "wazo-sessions-revoked"), "1");
    let again: Value = r.json().await.unwrap();
    assert_ne!(refresh_of(&again), refresh_of(&tablet));
    assert!(!valid(&s, &token_of(&tablet)).await);
    assert!(valid(&s, &token_of(&again)).await);
    // A desktop offline login ends nothing.
    let (_, desk_again) = offline_login(&s, "desk", false).await;
    assert_eq!(refresh_of(&desk_again), refresh_of(&desk));
    assert!(valid(&s, &token_of(&again)).await);
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_the_sessions_it_made() {
    let s = wazo_server();
    let (_, offline) = offline_login(&s, "app", false).await;
    let (status, minted) = refresh_login(&s, &refresh_of(&offline), "app").await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    let (online, _, _) = login(&s, "alice", "s3cre7", false).await;
    let status = delete(&s, &format!("/0.1/users/{ALICE_UUID}/tokens/app"), SHARED).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!valid(&s, &token_of(&offline)).await);
    assert!(!valid(&s, &token_of(&minted)).await);
    assert!(
        valid(&s, &online).await,
        "a session of no refresh token stays"
    );
}
