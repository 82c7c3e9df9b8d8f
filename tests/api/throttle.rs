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

async fn login_from(s: &Server, forwarded_for: &str, user: &str, pw: &str) -> reqwest::Response {
    client()
        .post(s.url("/0.1/token"))
        .basic_auth(user, Some(pw))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"backend": "xivo_user"}))
        .send()
        .await
        .unwrap()
}

fn behind_proxy(trusted: &str) -> Server {
    Server::start(
        |p| {
            base_config(p, "")
                .replace(
                    "throttle: {max_failures_per_login: 1000, max_failures_per_address: 1000}",
                    "throttle: {max_failures_per_login: 1000, max_failures_per_address: 20, window_secs: 300}",
                )
                .replace("  tls:\n", &format!("  trusted_proxies: [{trusted}]\n  tls:\n"))
        },
        &users_yaml(""),
        &[],
    )
}

/// Behind a trusted proxy (here, the tests' own 127.0.0.1), each forwarded
/// client has its own count: one client's 20 failures lock that client
/// out, not everyone behind the proxy.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_counted_apart() {
    let s = behind_proxy("127.0.0.1");
    // The client forges a first entry; the proxy appended the real address.
    let mallory = "198.51.100.77, 203.0.113.5";
    for i in 0..20 {
        assert_eq!(
            login_from(&s, mallory, &format!("guess{i}"), "x")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&s, mallory, "alice", "s3cre7").await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the forwarded client is locked out"
    );
    let r = login_from(&s, "203.0.113.6", "alice", "s3cre7").await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another client behind the same proxy"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["data"]["remote_addr"], "203.0.113.6",
        "the token records the client"
    );
    assert!(
        s.log().contains("203.0.113.5"),
        "the access and audit lines name the forwarded client"
    );
    assert!(
        !s.log().contains("198.51.100.77"),
        "the forged entry is ignored"
    );
}

/// From a peer that is not a trusted proxy, forwarding headers are ignored:
/// changing them gives no fresh count.
#[tokio::test]
async fn a_forged_forwarding_header_is_ignored() {
    let s = behind_proxy("192.0.2.1");
    for i in 0..20 {
        let forged = format!("203.0.113.{i}");
        assert_eq!(
            login_from(&s, &forged, &format!("guess{i}"), "x")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&s, "203.0.113.200", "alice", "s3cre7")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "all 20 failures were 127.0.0.1's"
    );
}
