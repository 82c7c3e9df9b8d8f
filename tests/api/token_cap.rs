//! `max_tokens_per_user`: past the cap a login is answered 429 on every
//! route that issues tokens, other users are not affected, and a revoked or
//! expired token frees its place.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Server, base_config, client, create_token, uc_login, users_yaml};

async fn legacy_login(
    s: &Server,
    user: &str,
    password: &str,
    backend: &str,
    expiration: u64,
) -> (StatusCode, Value) {
    let body = json!({"backend": backend, "expiration": expiration});
    create_token(s, user, password, body).await
}

#[tokio::test]
async fn a_user_past_the_cap_gets_429_until_a_token_goes() {
    let s = Server::start(
        |port| base_config(port, "max_tokens_per_user: 2\n"),
        &users_yaml(""),
        &[],
    );
    let (status, short) = legacy_login(&s, "alice", "s3cre7", "xivo_user", 4).await;
    assert_eq!(status, StatusCode::OK, "{short}");
    let (status, long) = legacy_login(&s, "alice", "s3cre7", "xivo_user", 600).await;
    assert_eq!(status, StatusCode::OK, "{long}");
    let (status, body) = legacy_login(&s, "alice", "s3cre7", "xivo_user", 600).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["reason"][0].as_str().unwrap().contains("at most 2"),
        "{body}"
    );
    let (status, body) = uc_login(&s, "alice", "s3cre7").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "TooManyTokens", "{body}");
    // The OAuth token exchange issues tokens too.
    let r = client()
        .post(s.url("/oauth2/token"))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", long["data"]["token"].as_str().unwrap()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_tokens", "{body}");
    // Another user is not affected.
    assert_eq!(
        legacy_login(&s, "root", "rootpw", "xivo_admin", 600)
            .await
            .0,
        StatusCode::OK
    );
    // A revoked token frees its place.
    let token = long["data"]["token"].as_str().unwrap();
    let r = client()
        .delete(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        legacy_login(&s, "alice", "s3cre7", "xivo_user", 600)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        legacy_login(&s, "alice", "s3cre7", "xivo_user", 600)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // So does an expired one (the 4-second token).
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    assert_eq!(
        legacy_login(&s, "alice", "s3cre7", "xivo_user", 600)
            .await
            .0,
        StatusCode::OK
    );
    // And the count survives a restart of the embedded store.
    let mut s = s;
    s.restart();
    assert_eq!(
        legacy_login(&s, "alice", "s3cre7", "xivo_user", 600)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
}
