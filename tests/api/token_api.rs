//! The /0.1 token API, status by status.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ALICE_UUID, Server, client};

async fn create(s: &Server, user: &str, pw: &str, body: Value) -> (StatusCode, Value) {
    let r = client()
        .post(s.url("/0.1/token"))
        .basic_auth(user, Some(pw))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn utc(v: &Value) -> chrono::NaiveDateTime {
    chrono::NaiveDateTime::parse_from_str(v.as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f").unwrap()
}

fn assert_legacy_error(body: &Value, status: u16) {
    assert_eq!(body["status_code"], status, "{body}");
    assert!(body["reason"][0].is_string(), "{body}");
    assert!(body["timestamp"][0].is_f64(), "{body}");
}

/// The session of seed 003, step by step.
#[tokio::test]
async fn seed_session() {
    let s = Server::standard();
    let (status, body) = create(
        &s,
        "alice",
        "s3cre7",
        json!({"backend": "xivo_user", "expiration": 600}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    let token = data["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 36);
    assert_eq!(uuid::Uuid::parse_str(&token).unwrap().get_version_num(), 4);
    assert_eq!(data["auth_id"], ALICE_UUID);
    assert_eq!(data["xivo_user_uuid"], ALICE_UUID);
    for field in [
        "xivo_uuid",
        "issued_at",
        "utc_issued_at",
        "expires_at",
        "utc_expires_at",
        "acl",
        "metadata",
        "session_uuid",
        "remote_addr",
        "user_agent",
    ] {
        assert!(data.get(field).is_some(), "missing {field} in {data}");
    }
    assert_eq!(
        (utc(&data["utc_expires_at"]) - utc(&data["utc_issued_at"])).num_seconds(),
        600
    );
    assert_eq!(
        (utc(&data["expires_at"]) - utc(&data["issued_at"])).num_seconds(),
        600
    );
    assert_eq!(data["remote_addr"], "127.0.0.1");
    assert_eq!(
        data["acl"],
        json!([
            "own.acl",
            "confd.users.me.read",
            "!confd.users.me.delete",
            "dird.#"
        ])
    );

    let c = client();
    let head = c
        .head(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NO_CONTENT);
    assert_eq!(head.headers()["cache-control"], "no-store");

    let get: Value = c
        .get(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["data"]["token"], token.as_str());
    assert_eq!(get["data"]["auth_id"], ALICE_UUID);
    assert_eq!(get["data"]["session_uuid"], data["session_uuid"]);

    let del = c
        .delete(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::OK);
    assert_eq!(
        del.json::<Value>().await.unwrap(),
        json!({"data": {"message": "success"}})
    );
    let head = c
        .head(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    let get = c
        .get(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    assert_legacy_error(&get.json().await.unwrap(), 404);
    // Deleting an unknown token succeeds too.
    let del = c
        .delete(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::OK);
}

#[tokio::test]
async fn create_token_statuses() {
    let s = Server::standard();
    let c = client();
    // Lifetime defaults to default_token_lifetime.
    let (status, body) = create(&s, "alice", "s3cre7", json!({"backend": "xivo_user"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (utc(&body["data"]["utc_expires_at"]) - utc(&body["data"]["utc_issued_at"])).num_seconds(),
        7200
    );
    // The admin backend, with its own account.
    let (status, body) = create(&s, "root", "rootpw", json!({"backend": "xivo_admin"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["xivo_user_uuid"], Value::Null);

    for (user, pw, backend, why) in [
        ("alice", "wrong", "xivo_user", "wrong password"),
        ("nobody", "s3cre7", "xivo_user", "unknown user"),
        ("alice", "s3cre7", "xivo_admin", "user is not an admin"),
        ("alice", "s3cre7", "no_such_backend", "unknown backend"),
        ("ws", "wspw", "xivo_service", "disabled backend"),
        ("alice", "", "xivo_user", "empty password"),
    ] {
        let (status, body) = create(&s, user, pw, json!({"backend": backend})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}");
        assert_legacy_error(&body, 401);
    }
    let r = c
        .post(s.url("/0.1/token"))
        .json(&json!({"backend": "xivo_user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no credentials");

    for (body, why) in [
        ("", "no body"),
        ("{not json", "invalid JSON"),
        ("[1]", "not an object"),
        (r#"{"backend": "", "expiration": 60}"#, "empty backend"),
        (
            r#"{"backend": "xivo_user", "expiration": "30"}"#,
            "string expiration",
        ),
        (
            r#"{"backend": "xivo_user", "expiration": 0}"#,
            "zero expiration",
        ),
        (
            r#"{"backend": "xivo_user", "expiration": -10}"#,
            "negative expiration",
        ),
        (
            r#"{"backend": "xivo_user", "expiration": 1.5}"#,
            "fractional expiration",
        ),
        (
            r#"{"backend": "xivo_user", "expiration": 36001}"#,
            "over the maximum",
        ),
    ] {
        let r = c
            .post(s.url("/0.1/token"))
            .basic_auth("alice", Some("s3cre7"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{why}");
        assert_legacy_error(&r.json().await.unwrap(), 400);
    }

    let backends: Value = c
        .get(s.url("/0.1/backends"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(backends, json!({"data": ["xivo_admin", "xivo_user"]}));
}

#[tokio::test]
async fn token_checks_and_scopes() {
    let s = Server::standard();
    let c = client();
    let (_, body) = create(
        &s,
        "alice",
        "s3cre7",
        json!({"backend": "xivo_user", "expiration": 60}),
    )
    .await;
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    let status = |path: String| {
        let c = c.clone();
        let url = s.url(&path);
        async move { c.head(url).send().await.unwrap().status() }
    };
    assert_eq!(
        status(format!("/0.1/token/{token}?scope=confd.users.me.read")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(format!(
            "/0.1/token/{token}?scope=confd.users.{ALICE_UUID}.read"
        ))
        .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(format!("/0.1/token/{token}?scope=dird.a.b.c")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(format!("/0.1/token/{token}?scope=confd.users.me.delete")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(format!("/0.1/token/{token}?scope=confd.users.read")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status("/0.1/token/not-a-uuid".into()).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(format!("/0.1/token/{}", uuid::Uuid::new_v4())).await,
        StatusCode::NOT_FOUND
    );
    let r = c
        .get(s.url(&format!("/0.1/token/{token}?scope=confd.users.read")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status_code"], 403);
    let r = c.get(s.url("/no/such/route")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shared_token_is_trusted_everywhere() {
    let secret = "shared-secret-of-the-xuc-servers";
    let s = Server::start(
        |p| crate::harness::base_config(p, ""),
        &crate::harness::users_yaml(""),
        &[
            ("PLAY_AUTH_TOKEN", secret),
            ("PLAY_AUTH_TOKEN_PREVIOUS", "the-previous-secret"),
        ],
    );
    let c = client();
    for value in [secret, "the-previous-secret"] {
        let r = c
            .head(s.url(&format!("/0.1/token/{value}?scope=anything.at.all")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{value}");
    }
    let r = c
        .head(s.url("/0.1/token/shared-secret-of-the-xuc-serverz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c
        .get(s.url("/xuc/api/2.0/auth/check"))
        .header("X-Auth-Token", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["login"], "trusted-server");
    assert_eq!(body["TTL"], Value::Null);
    let r = c
        .delete(s.url(&format!("/0.1/token/{secret}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        !s.log().contains(secret),
        "the shared token must not be logged"
    );
}

#[tokio::test]
async fn empty_shared_token_is_disabled() {
    let s = Server::start(
        |p| crate::harness::base_config(p, ""),
        &crate::harness::users_yaml(""),
        &[("PLAY_AUTH_TOKEN", "")],
    );
    let r = client()
        .get(s.url("/xuc/api/2.0/auth/check?token="))
        .header("X-Auth-Token", "")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_a_json_error() {
    let s = Server::standard();
    let huge = format!(
        r#"{{"backend": "xivo_user", "pad": "{}"}}"#,
        "x".repeat(200_000)
    );
    for path in ["/0.1/token", "/xuc/api/2.0/auth/login"] {
        let r = client()
            .post(s.url(path))
            .basic_auth("alice", Some("s3cre7"))
            .header("Content-Type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body.is_object(), "{path}: {body}");
    }
    // Other answers the framework makes: JSON too, and the Allow header kept.
    let r = client()
        .get(s.url("/xuc/api/2.0/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers().get("allow").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "InvalidRequest", "{body}");
}
