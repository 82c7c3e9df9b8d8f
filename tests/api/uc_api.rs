//! The UC auth API, and how both APIs share one token service.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Server, client, get_json, uc_login};

fn assert_uc_error(body: &Value, code: &str) {
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[tokio::test]
async fn login_check_logout() {
    let s = Server::standard();
    let c = client();
    let (status, body) = uc_login(&s, "alice", "s3cre7").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["login"], "alice");
    assert_eq!(body["TTL"], 7200);
    let token = body["token"].as_str().unwrap().to_owned();

    // The three ways of presenting a token.
    let check = |req: reqwest::RequestBuilder| async move {
        let r = req.send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    let url = s.url("/xuc/api/2.0/auth/check");
    for (how, req) in [
        ("X-Auth-Token", c.get(&url).header("X-Auth-Token", &token)),
        ("Bearer", c.get(&url).bearer_auth(&token)),
        ("query", c.get(format!("{url}?token={token}"))),
    ] {
        let (status, body) = check(req).await;
        assert_eq!(status, StatusCode::OK, "{how}: {body}");
        assert_eq!(body["token"], token.as_str(), "{how}");
        assert_eq!(body["login"], "alice", "{how}");
        assert!(body["TTL"].as_u64().unwrap() >= 7199, "{how}: {body}");
    }

    let (status, body) = check(c.get(&url)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_uc_error(&body, "InvalidToken");
    let (status, body) = check(
        c.get(&url)
            .header("X-Auth-Token", uuid::Uuid::new_v4().to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_uc_error(&body, "InvalidToken");

    let r = c
        .post(s.url("/xuc/api/2.0/auth/logout"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, body) = check(c.get(&url).header("X-Auth-Token", &token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_uc_error(&body, "InvalidToken");
    let r = c
        .post(s.url("/xuc/api/2.0/auth/logout"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!s.log().contains(&token), "tokens must not be logged");
}

#[tokio::test]
async fn login_errors() {
    let s = Server::standard();
    for (login, password) in [
        ("alice", "nope"),
        ("nobody", "s3cre7"),
        ("alice", ""),
        ("root", "rootpw"),
    ] {
        let (status, body) = uc_login(&s, login, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{login}");
        assert_uc_error(&body, "InvalidCredentials");
    }
    for body in [
        "",
        "{",
        r#"{"login": "alice"}"#,
        r#"{"login": 1, "password": "x"}"#,
    ] {
        let r = client()
            .post(s.url("/xuc/api/2.0/auth/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_uc_error(&r.json().await.unwrap(), "InvalidJson");
    }
    assert!(!s.log().contains("s3cre7"), "passwords must not be logged");
}

#[tokio::test]
async fn one_token_service_behind_both_apis() {
    let s = Server::standard();
    let c = client();
    let (_, body) = uc_login(&s, "alice", "s3cre7").await;
    let uc_token = body["token"].as_str().unwrap().to_owned();
    let r = c
        .head(s.url(&format!("/0.1/token/{uc_token}?scope=confd.users.me.read")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let r = c
        .post(s.url("/0.1/token"))
        .basic_auth("alice", Some("s3cre7"))
        .json(&json!({"backend": "xivo_user", "expiration": 300}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    let r = c
        .get(s.url("/xuc/api/2.0/auth/check"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["login"], "alice");
    assert!(body["TTL"].as_u64().unwrap() <= 300);
    // Revoked on one API, gone on the other.
    c.post(s.url("/xuc/api/2.0/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let r = c
        .head(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn kerberos_routes_without_a_kerberos_section() {
    let s = Server::standard();
    let r = client()
        .get(s.url("/xuc/api/2.0/auth/sso"))
        .header("Authorization", "Negotiate YIIBAA==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("www-authenticate").is_none());
    assert_uc_error(&r.json().await.unwrap(), "InvalidRequest");
    let r = client()
        .post(s.url("/0.1/token"))
        .header("Authorization", "Negotiate YIIBAA==")
        .json(&json!({"backend": "kerberos"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let backends: Value = get_json(&s, "/0.1/backends").await;
    assert!(
        !backends["data"]
            .as_array()
            .unwrap()
            .contains(&json!("kerberos"))
    );
}

/// A UC login, body as given.
async fn uc_post(s: &Server, body: Value) -> (StatusCode, Value) {
    let r = client()
        .post(s.url("/xuc/api/2.0/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

/// Offline access on the UC API: the same refresh tokens as `/0.1/token`.
#[tokio::test]
async fn a_uc_login_may_ask_for_offline_access() {
    let s = Server::standard();
    let (status, online) = uc_login(&s, "alice", "s3cre7").await;
    assert_eq!(status, StatusCode::OK);
    assert!(online.get("refresh_token").is_none(), "{online}");
    let offline = json!({"login": "alice", "password": "s3cre7", "access_type": "offline", "client_id": "cc-agent"});
    let (status, first) = uc_post(&s, offline.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let rt = first["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(rt.len(), 36);
    let (_, again) = uc_post(&s, offline).await;
    assert_eq!(
        again["refresh_token"],
        rt.as_str(),
        "one per user and client"
    );

    let (status, minted) = uc_post(&s, json!({"refresh_token": rt, "client_id": "cc-agent"})).await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    assert_eq!(minted["login"], "alice");
    assert!(minted.get("refresh_token").is_none());
    assert_ne!(minted["token"], first["token"]);
    // The same refresh token works on the xivo-auth API: one store.
    let r = client()
        .post(s.url("/0.1/token"))
        .json(&json!({"refresh_token": rt, "client_id": "cc-agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (status, body) = uc_post(&s, json!({"refresh_token": rt, "client_id": "other"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_uc_error(&body, "InvalidCredentials");
    for bad in [
        json!({"login": "alice", "password": "s3cre7", "access_type": "offline"}),
        json!({"refresh_token": rt}),
        json!({"refresh_token": rt, "client_id": "cc-agent", "access_type": "offline"}),
        json!({"login": "alice", "password": "s3cre7", "access_type": 1, "client_id": "x"}),
    ] {
        let (status, body) = uc_post(&s, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_uc_error(&body, "InvalidJson");
    }
}
