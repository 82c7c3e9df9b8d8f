//! Slow clients cannot hold Sesame: a client that does not finish its
//! headers is disconnected after `listen.header_read_timeout`, one that sends
//! nothing after `listen.idle_timeout`; a body that never arrives is answered 503
//! after `listen.request_timeout`; others are served meanwhile. A request
//! head over `listen.max_header_bytes` is refused with 431.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::{Server, base_config, client, users_yaml};

fn slow_server() -> Server {
    Server::start(
        |port| {
            base_config(port, "").replace(
                "  tls:\n",
                "  header_read_timeout: 1\n  request_timeout: 2\n  idle_timeout: 3\n  tls:\n",
            )
        },
        &users_yaml(""),
        &[],
    )
}

/// Everything the server sends before it closes the connection (or 20 s
/// pass, which fails the tests below: the server never closed it).
fn read_until_closed(stream: &mut TcpStream) -> (bool, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (true, String::from_utf8_lossy(&received).into_owned()),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (true, String::from_utf8_lossy(&received).into_owned());
            }
            Err(_) => return (false, String::from_utf8_lossy(&received).into_owned()),
        }
    }
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed() {
    let s = slow_server();
    let addr = ("127.0.0.1", s.port);
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut idle = TcpStream::connect(addr).unwrap();
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Others are served while both hang on.
    let r = client().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (closed, _) = tokio::task::spawn_blocking(move || read_until_closed(&mut slow))
        .await
        .unwrap();
    assert!(closed, "a client stuck in its headers was not disconnected");
    let (closed, _) = tokio::task::spawn_blocking(move || read_until_closed(&mut idle))
        .await
        .unwrap();
    assert!(closed, "an idle connection was not closed");
    let (closed, answer) = tokio::task::spawn_blocking(move || read_until_closed(&mut kept))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "a kept-alive connection left idle was not closed");
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_503() {
    let s = slow_server();
    let mut slow = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    slow.write_all(
        b"POST /0.1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"backend\"",
    )
    .unwrap();
    let (_, answer) = tokio::task::spawn_blocking(move || read_until_closed(&mut slow))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("request timed out"), "{answer}");
    let r = client().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_request_head_over_the_limit_is_refused_with_431() {
    let s = Server::start(
        |port| base_config(port, "").replace("  tls:\n", "  max_header_bytes: 8192\n  tls:\n"),
        &users_yaml(""),
        &[],
    );
    let big = "x".repeat(9_000);
    let r = client()
        .get(s.url("/healthz"))
        .header("X-Padding", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let fits = "x".repeat(6_000);
    let r = client()
        .get(s.url("/healthz"))
        .header("X-Padding", &fits)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
