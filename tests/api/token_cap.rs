//! `max_tokens_per_user`: it counts sessions, as wazo-auth's
//! `max_user_concurrent_sessions` does; past it a login is answered 429 on
//! every route that opens a session, other users are not affected, and a
//! session ended (its token revoked or expired) frees its place.

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

/// An RFC 8693 exchange of `subject` for a token.
async fn exchange(s: &Server, subject: &str) -> reqwest::Response {
    client()
        .post(s.url("/oauth2/token"))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
        ])
        .send()
        .await
        .unwrap()
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
    // An exchange (RFC 8693) opens no session: it joins its parent's, so
    // it is not refused at the cap; revoking the parent ends it too.
    let r = exchange(&s, long["data"]["token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let exchanged: Value = r.json().await.unwrap();
    let exchanged = exchanged["access_token"].as_str().unwrap().to_owned();
    let (status, _) = legacy_login(&s, "alice", "s3cre7", "xivo_user", 600).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "still two sessions");
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
    let r = client()
        .head(s.url(&format!("/0.1/token/{exchanged}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "its parent was revoked");
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

/// An exchange joins its parent's session; a session holds at most 100
/// tokens, so one login cannot fill the store by exchanging again and again.
#[tokio::test]
async fn exchanges_fill_one_session_up_to_a_bound() {
    let s = Server::start(|port| base_config(port, ""), &users_yaml(""), &[]);
    let (status, login) = legacy_login(&s, "alice", "s3cre7", "xivo_user", 600).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let subject = login["data"]["token"].as_str().unwrap().to_owned();
    // The login's token and 99 exchanged ones.
    for n in 1..100 {
        let r = exchange(&s, &subject).await;
        assert_eq!(r.status(), StatusCode::OK, "exchange {n}");
    }
    let r = exchange(&s, &subject).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("most tokens"),
        "{body}"
    );
    // Other logins of the same user are not affected.
    let (status, _) = legacy_login(&s, "alice", "s3cre7", "xivo_user", 600).await;
    assert_eq!(status, StatusCode::OK);
}
