//! Brute-force throttling over HTTP: both login APIs, 429 with Retry-After.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Server, base_config, client, users_yaml};

fn server() -> Server {
    Server::start(
        |p| {
            base_config(p, "").replace(
                "throttle: {max_failures_per_login: 1000, max_failures_per_address: 1000}",
                "throttle: {max_failures_per_login: 3, max_failures_per_address: 6, window_secs: 300}",
            )
        },
        &users_yaml(""),
        &[],
    )
}

async fn login01(s: &Server, user: &str, pw: &str) -> reqwest::Response {
    client()
        .post(s.url("/0.1/token"))
        .basic_auth(user, Some(pw))
        .json(&json!({"backend": "xivo_user"}))
        .send()
        .await
        .unwrap()
}

async fn login_uc(s: &Server, user: &str, pw: &str) -> reqwest::Response {
    client()
        .post(s.url("/xuc/api/2.0/auth/login"))
        .json(&json!({"login": user, "password": pw}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn failures_lock_the_login_then_the_address() {
    let s = server();
    for _ in 0..3 {
        assert_eq!(
            login01(&s, "alice", "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked: even the right password waits, on both APIs.
    let r = login01(&s, "alice", "s3cre7").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    let r = login_uc(&s, "ALICE", "s3cre7").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "TooManyAttempts"
    );

    // Other logins still work from here, until the address has failed 6 times.
    assert_eq!(
        login_uc(&s, "root", "nope").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login01(&s, "ghost", "x").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login01(&s, "ghost2", "x").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = login01(&s, "nobody", "x").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "6 failures from 127.0.0.1"
    );
}

#[tokio::test]
async fn a_success_clears_the_login() {
    let s = server();
    for _ in 0..2 {
        assert_eq!(
            login01(&s, "alice", "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login01(&s, "alice", "s3cre7").await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        assert_eq!(
            login01(&s, "alice", "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_uc(&s, "alice", "s3cre7").await.status(),
        StatusCode::OK
    );
}
