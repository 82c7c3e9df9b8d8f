//! Fill an embedded token store with live tokens, as many logins would,
//! for `bench/run`'s one-node scale scenario (`BENCH_SCALE=1`).
//!
//! Usage: cargo run --release --example fill_store -- PATH COUNT [LIFETIME_SECS]
//! Each token belongs to one of 10 000 users and lives LIFETIME_SECS (an
//! hour by default). The store's writer commits concurrent inserts in
//! groups, as it does for concurrent logins.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sesame::clock::Timestamp;
use sesame::store::embedded::EmbeddedStore;
use sesame::store::{LiveToken, TokenKey, TokenRecord, TokenStore};

/// Inserts in flight at once (the writer groups them into commits).
const WORKERS: usize = 512;

fn record(user: usize, now: Timestamp, lifetime: u64) -> TokenRecord {
    let user_uuid = format!("00000000-0000-4000-8000-{user:012}");
    TokenRecord {
        auth_id: user_uuid.clone(),
        user_uuid: Some(user_uuid),
        login: format!("user{user}"),
        backend: "xivo_user".into(),
        session_uuid: uuid::Uuid::new_v4(),
        issued_at: now,
        expires_at: Some(now.plus_secs(lifetime)),
        lifetime_secs: lifetime,
        acl: vec!["confd.users.me.read".into(), "ctid-ng.#".into()],
        metadata: serde_json::Map::new(),
        remote_addr: Some("127.0.0.1".into()),
        user_agent: None,
        parent: None,
        mobile: false,
        refresh_id: None,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(Ok(count))) = (args.first(), args.get(1).map(|c| c.parse::<usize>()))
    else {
        eprintln!("usage: fill_store PATH COUNT [LIFETIME_SECS]");
        return ExitCode::from(2);
    };
    let lifetime = args
        .get(2)
        .and_then(|l| l.parse::<u64>().ok())
        .unwrap_or(3600);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_micros();
    let now = Timestamp(i64::try_from(micros).unwrap_or(i64::MAX));
    let store = match EmbeddedStore::open(std::path::Path::new(path), now) {
        Ok(store) => Arc::new(store),
        Err(e) => {
            eprintln!("fill_store: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let mut workers = Vec::with_capacity(WORKERS);
    for worker in 0..WORKERS {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut n = worker;
            while n < count {
                let key = TokenKey::of(&uuid::Uuid::new_v4().to_string());
                let token = LiveToken::new(record(n % 10_000, now, lifetime));
                store.insert(key, token, now).await?;
                n += WORKERS;
            }
            Ok::<(), sesame::store::StoreError>(())
        }));
    }
    for worker in workers {
        match worker.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("fill_store: {e}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("fill_store: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let total = store.count().await.unwrap_or(0);
    println!(
        "{total} tokens in {} ({:.1} s)",
        path,
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
