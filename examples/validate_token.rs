//! How a service checks a Sesame token (and optionally an ACL) before
//! serving a request: `HEAD /0.1/token/{token}?scope=ACL`.
//!
//! Usage: cargo run --example validate_token -- BASE_URL TOKEN [ACL]
//! (add SESAME_CA=/path/to/ca.pem to trust Sesame's certificate).
//! Exit status 0: valid (and grants ACL); 1: not valid; 2: Sesame unavailable.

use std::process::ExitCode;

/// What Sesame said about a token.
enum Verdict {
    Valid,
    Invalid,
    Unavailable(String),
}

async fn check(base: &str, token: &str, acl: Option<&str>) -> Verdict {
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3));
    if let Ok(path) = std::env::var("SESAME_CA") {
        match std::fs::read(&path).map(|pem| reqwest::Certificate::from_pem(&pem)) {
            Ok(Ok(ca)) => builder = builder.add_root_certificate(ca),
            _ => return Verdict::Unavailable(format!("cannot read the CA {path}")),
        }
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => return Verdict::Unavailable(e.to_string()),
    };
    // The token goes in the path: percent-encode it like any path segment.
    let token: String = token
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut request = client.head(format!("{base}/0.1/token/{token}"));
    if let Some(acl) = acl {
        request = request.query(&[("scope", acl)]);
    }
    match request.send().await {
        Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => Verdict::Valid,
        // 404: unknown, expired or revoked; 403: valid but without that ACL.
        Ok(r) if r.status().is_client_error() => Verdict::Invalid,
        Ok(r) => Verdict::Unavailable(format!("Sesame answered {}", r.status())),
        Err(e) => Verdict::Unavailable(e.to_string()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(base), Some(token)) = (args.first(), args.get(1)) else {
        eprintln!("usage: validate_token BASE_URL TOKEN [ACL]");
        return ExitCode::from(2);
    };
    match check(
        base.trim_end_matches('/'),
        token,
        args.get(2).map(String::as_str),
    )
    .await
    {
        Verdict::Valid => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Verdict::Invalid => {
            println!("invalid");
            ExitCode::from(1)
        }
        // Not the user's fault: answer 503 to your own client, not 401.
        Verdict::Unavailable(why) => {
            println!("unavailable");
            eprintln!("{why}");
            ExitCode::from(2)
        }
    }
}
