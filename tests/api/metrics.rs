//! `/metrics`: counters fed by real requests, and the separate listener;
//! `/readyz` and its upstreams.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Server, base_config, client, create_token, free_port, get_json, users_yaml};

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
    // Checks: one valid, one forbidden scope, one unknown token.
    let (_, body) = create_token(&s, "alice", "s3cre7", json!({"backend": "xivo_user"})).await;
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    for path in [
        format!("/0.1/token/{token}"),
        format!("/0.1/token/{token}?scope=nothing.granted"),
        "/0.1/token/6f1d0b5e-0000-4000-8000-000000000000".to_owned(),
    ] {
        c.head(s.url(&path)).send().await.unwrap();
    }
    let (status, kind, text) = scrape(s.url("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    for line in [
        r#"sesame_authentications_total{method="xivo_user",outcome="accepted"} 2"#,
        r#"sesame_authentications_total{method="xivo_user",outcome="refused"} 1"#,
        r#"sesame_tokens_issued_total{method="xivo_user"} 2"#,
        r#"sesame_token_checks_total{outcome="valid"} 1"#,
        r#"sesame_token_checks_total{outcome="forbidden"} 1"#,
        r#"sesame_token_checks_total{outcome="invalid"} 1"#,
        r#"sesame_token_checks_total{outcome="expired"} 0"#,
        r#"sesame_http_requests_total{route="/0.1/token",method="POST",status="200"} 2"#,
        r#"sesame_http_requests_total{route="/0.1/token",method="POST",status="401"} 1"#,
        r#"sesame_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
        "sesame_live_tokens 2",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // Paths nobody routes are not labels: the series stay bounded.
    assert!(!text.contains("4c1d0b5e"));
    // The two tokens went through the embedded store's commits.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
    };
    let (commits, operations) = (
        value("sesame_store_commit_seconds_count"),
        value("sesame_store_commit_operations_total"),
    );
    assert!(
        commits >= 1.0 && operations >= 2.0,
        "{commits} commits, {operations} operations"
    );
    assert!(value("sesame_store_commit_seconds_sum") > 0.0);
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
    let body: serde_json::Value = get_json(&s, "/readyz").await;
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

#[tokio::test]
async fn every_request_has_an_id_in_its_answer_its_log_lines_and_its_audit_events() {
    let audit = tempfile::NamedTempFile::new().unwrap();
    let audit_path = audit.path().to_str().unwrap().to_owned();
    let s = Server::start(
        |port| base_config(port, ""),
        &users_yaml(""),
        &[
            ("SESAME_LOG_FORMAT", "json"),
            ("SESAME_AUDIT_LOG", &audit_path),
        ],
    );
    let c = client();
    let login = |id: Option<&str>| {
        let mut r = c
            .post(s.url("/0.1/token"))
            .basic_auth("alice", Some("s3cre7"))
            .json(&json!({"backend": "xivo_user"}));
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        r.send()
    };
    let made = login(None).await.unwrap();
    assert_eq!(made.status(), StatusCode::OK);
    let made = made.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made.len(), 15, "{made}");
    let kept = login(Some("lb-7f3a.42")).await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "lb-7f3a.42");
    let replaced = login(Some("forged id, level=error")).await.unwrap();
    let replaced = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(replaced, "forged id, level=error");
    assert_ne!(replaced, made);
    // An error answer has one too.
    let r = c.get(s.url("/0.1/token/nope")).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));

    let log = s.log();
    for id in [made.as_str(), "lb-7f3a.42", replaced.as_str()] {
        let access = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["target"] == "sesame::access" && l["fields"]["request_id"] == id);
        assert!(
            access.is_some(),
            "no access line with request_id {id}:\n{log}"
        );
    }
    assert!(
        !log.contains("forged"),
        "a refused request id reached the log"
    );
    let login_line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| {
            l["fields"]["message"] == "login accepted" && l["fields"]["request_id"] == "lb-7f3a.42"
        });
    assert!(
        login_line.is_some(),
        "the login line lacks the request id:\n{log}"
    );
    let events: Vec<serde_json::Value> = std::fs::read_to_string(audit.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let issued = events.iter().find(|e| {
        e["fields"]["event"] == "token_issued" && e["fields"]["request_id"] == "lb-7f3a.42"
    });
    assert!(
        issued.is_some(),
        "no token_issued event with the request id: {events:?}"
    );
}

/// Methods are the client's to choose: made-up ones are all `other`, so
/// that a flood of them adds no series (and no memory, nor scrape size).
#[tokio::test]
async fn made_up_methods_add_no_series() {
    let s = Server::standard();
    let c = client();
    for i in 0..200 {
        let method = format!("X{i}{}", "Q".repeat(4000));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        c.request(method, s.url("/0.1/token")).send().await.unwrap();
    }
    c.request(
        reqwest::Method::from_bytes(b"BREW").unwrap(),
        s.url("/healthz"),
    )
    .send()
    .await
    .unwrap();
    let (_, _, text) = scrape(s.url("/metrics")).await;
    assert!(!text.contains("QQQQ"), "a client's method became a label");
    assert!(!text.contains("BREW"));
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(
        text.len() < 64 * 1024,
        "/metrics grew to {} bytes",
        text.len()
    );
}

/// The access log's default: checks that pass (the bulk of the traffic)
/// are counted, not written; refusals, errors and logins are written.
#[tokio::test]
async fn by_default_passing_checks_get_no_access_line() {
    let s = Server::start(
        |port| base_config(port, ""),
        &users_yaml(""),
        &[("SESAME_LOG_FORMAT", "json")],
    );
    let c = client();
    let (_, body) = create_token(&s, "alice", "s3cre7", json!({"backend": "xivo_user"})).await;
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    for _ in 0..25 {
        let r = c
            .head(s.url(&format!("/0.1/token/{token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    c.head(s.url("/0.1/token/6f1d0b5e-0000-4000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    let (_, _, text) = scrape(s.url("/metrics")).await;
    let skipped: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("sesame_access_log_skipped_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(skipped >= 25, "skipped {skipped}:\n{text}");
    let access: Vec<serde_json::Value> = s
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "sesame::access")
        .collect();
    let statuses: Vec<u64> = access
        .iter()
        .filter_map(|l| l["fields"]["status"].as_u64())
        .collect();
    assert!(
        !statuses.contains(&204),
        "a passing check was logged: {statuses:?}"
    );
    assert!(
        statuses.contains(&404),
        "the refused check was not: {statuses:?}"
    );
    assert!(statuses.contains(&200), "the login was not: {statuses:?}");
}
