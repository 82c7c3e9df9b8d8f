//! The Redis store: shared by instances, 503 while Redis is down, recovery.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Server, base_config, client, free_port, uc_login, users_yaml};

fn redis_config(url: &str, prefix: &str) -> String {
    format!(
        "store:\n  type: redis\n  redis:\n    url: {url}\n    key_prefix: \"{prefix}\"\n    timeout_ms: 1000\n"
    )
}

/// The redis-server the test command started.
fn shared_redis() -> String {
    std::env::var("SESAME_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "SESAME_TEST_REDIS_URL is not set: run ./scripts/test-all, which starts redis-server"
        )
    })
}

async fn login(s: &Server) -> (StatusCode, Value) {
    uc_login(s, "alice", "s3cre7").await
}

async fn head(s: &Server, token: &str) -> StatusCode {
    client()
        .head(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn two_instances_share_tokens_through_redis() {
    let url = shared_redis();
    let prefix = format!("it-{}:", uuid::Uuid::new_v4());
    let config = |p: u16| base_config(p, &redis_config(&url, &prefix));
    let a = Server::start(config, &users_yaml(""), &[]);
    let b = Server::start(config, &users_yaml(""), &[]);
    let (status, body) = login(&a).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(head(&b, &token).await, StatusCode::NO_CONTENT);
    let r = client()
        .delete(b.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(head(&a, &token).await, StatusCode::NOT_FOUND);
}

struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    fn start(port: u16, dir: tempfile::TempDir) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server (run ./scripts/test-all to install it): {e}")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer {
            port,
            dir,
            child: Some(child),
        }
    }

    fn kill(mut self) -> (u16, tempfile::TempDir) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (self.port, dir)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test]
async fn redis_down_is_503_and_sesame_recovers() {
    let redis = RedisServer::start(free_port(), tempfile::tempdir().unwrap());
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let s = Server::start(
        |p| base_config(p, &redis_config(&url, "sesame:")),
        &users_yaml(""),
        &[],
    );
    let (status, body) = login(&s).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();

    let (port, dir) = redis.kill();
    let started = Instant::now();
    let (status, body) = login(&s).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "login while redis is down: {body}"
    );
    assert_eq!(body["error"], "BackendUnavailable");
    assert_eq!(head(&s, &token).await, StatusCode::SERVICE_UNAVAILABLE);
    let r = client()
        .get(s.url("/xuc/api/2.0/auth/check"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answers come within the timeouts"
    );

    // Redis comes back with its data (append-only file): no restart of Sesame.
    let _redis = RedisServer::start(port, dir);
    let recovered = crate::harness::eventually(15, || async {
        head(&s, &token).await == StatusCode::NO_CONTENT
    })
    .await;
    assert!(
        recovered,
        "the token answered before the outage is valid again:\n{}",
        s.log()
    );
    assert_eq!(login(&s).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_throttle_counts_failures_across_instances() {
    let url = shared_redis();
    let prefix = format!("it-{}:", uuid::Uuid::new_v4());
    let config = |p: u16| {
        base_config(p, &redis_config(&url, &prefix)).replace(
            "throttle: {max_failures_per_login: 1000, max_failures_per_address: 1000}",
            "throttle: {max_failures_per_login: 5, max_failures_per_address: 100}",
        )
    };
    let a = Server::start(config, &users_yaml(""), &[]);
    let b = Server::start(config, &users_yaml(""), &[]);
    let attempt = |s: &Server, password: &'static str| {
        client()
            .post(s.url("/xuc/api/2.0/auth/login"))
            .json(&json!({"login": "Alice", "password": password}))
            .send()
    };
    // Five failures (the limit per login), spread over both.
    for i in 0..5 {
        let s = if i % 2 == 0 { &a } else { &b };
        let r = attempt(s, "wrong").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for s in [&a, &b] {
        let r = attempt(s, "s3cre7").await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=300).contains(&wait), "Retry-After {wait}");
    }
    // Another login is not affected.
    let r = client()
        .post(b.url("/0.1/token"))
        .basic_auth("root", Some("rootpw"))
        .json(&json!({"backend": "xivo_admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_per_user_cap_holds_across_instances() {
    let url = shared_redis();
    let prefix = format!("it-{}:", uuid::Uuid::new_v4());
    let config = |p: u16| {
        base_config(
            p,
            &format!("max_tokens_per_user: 2\n{}", redis_config(&url, &prefix)),
        )
    };
    let a = Server::start(config, &users_yaml(""), &[]);
    let b = Server::start(config, &users_yaml(""), &[]);
    let (status, first) = login(&a).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(login(&b).await.0, StatusCode::OK);
    let (status, body) = login(&a).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "TooManyTokens");
    // A logout on one instance frees a place on the other.
    let r = client()
        .post(b.url("/xuc/api/2.0/auth/logout"))
        .header("X-Auth-Token", first["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(login(&a).await.0, StatusCode::OK);
    assert_eq!(login(&b).await.0, StatusCode::TOO_MANY_REQUESTS);
}
