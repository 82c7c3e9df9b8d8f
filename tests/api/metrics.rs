//! `/metrics`: counters fed by real requests, and the separate listener;
//! `/readyz` and its upstreams.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Server, base_config, client, free_port, users_yaml};

async fn scrape(url: String) -> (StatusCode, String, String) {
    let r = client().get(url).send().await.unwrap();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status(), kind, r.text().await.unwrap())
}

#[tokio::test]
async fn requests_logins_and_tokens_are_counted() {
    let s = Server::standard();
    let c = client();
    for password in ["s3cre7", "wrong"] {
        c.post(s.url("/0.1/token"))
            .basic_auth("alice", Some(password))
            .json(&json!({"backend": "xivo_user"}))
            .send()
            .await
            .unwrap();
    }
    c.get(s.url("/nope/4c1d0b5e")).send().await.unwrap();
    let (status, kind, text) = scrape(s.url("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    for line in [
        r#"sesame_authentications_total{method="xivo_user",outcome="accepted"} 1"#,
        r#"sesame_authentications_total{method="xivo_user",outcome="refused"} 1"#,
        r#"sesame_tokens_issued_total{method="xivo_user"} 1"#,
        r#"sesame_http_requests_total{route="/0.1/token",method="POST",status="200"} 1"#,
        r#"sesame_http_requests_total{route="/0.1/token",method="POST",status="401"} 1"#,
        r#"sesame_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
        "sesame_live_tokens 1",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // Paths nobody routes are not labels: the series stay bounded.
    assert!(!text.contains("4c1d0b5e"));
}

#[tokio::test]
async fn metrics_can_have_their_own_listener() {
    let metrics_port = free_port();
    let s = Server::start(
        |p| {
            base_config(
                p,
                &format!("metrics: {{listen: \"127.0.0.1:{metrics_port}\"}}\n"),
            )
        },
        &users_yaml(""),
        &[],
    );
    let (status, _, _) = scrape(s.url("/metrics")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not on the main port");
    let (status, _, text) = scrape(format!("http://127.0.0.1:{metrics_port}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("# EOF"), "{text}");
}

#[tokio::test]
async fn readyz_reports_upstreams_without_draining_the_instance() {
    let s = Server::standard();
    let body: serde_json::Value = client()
        .get(s.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["upstreams"], json!({}));

    let closed = free_port();
    let s = Server::start(
        |p| {
            base_config(
                p,
                &format!(
                    "cas:\n  server_url: http://127.0.0.1:{closed}/cas\n  allowed_services: [http://app.test/]\n"
                ),
            )
        },
        &users_yaml(""),
        &[],
    );
    let r = client().get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a shared upstream down: degraded, still serving"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(
        body["upstreams"]["cas"]
            .as_str()
            .unwrap()
            .starts_with(&format!("unreachable: 127.0.0.1:{closed}")),
        "{body}"
    );
}
