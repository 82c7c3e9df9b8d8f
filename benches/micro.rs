//! Micro-benchmarks (criterion) of the token check's parts: ACL matching
//! with the 50 patterns of bench scenario C, the token hash, and a lookup in
//! the embedded store; and of the password check a login pays, at the
//! cheapest argon2 cost (the floor under scenario E's cheap logins) and at
//! the default one. `cargo bench --bench micro`; `bench/run` measures the
//! whole server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sesame::clock::Timestamp;
use sesame::store::embedded::EmbeddedStore;
use sesame::store::{LiveToken, TokenKey, TokenRecord, TokenStore};
use sesame::token::acl::{AclContext, AclSet};

const AUTH_ID: &str = "0d9a8f7e-5b4c-4d3e-8f21-0a1b2c3d4e5f";

/// The ACLs of scenario C (five kinds of pattern, ten of each), and one
/// granted and one refused scope of each kind.
fn acl50() -> (Vec<String>, Vec<String>) {
    let (mut acl, mut scopes) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let (pattern, granted, refused) = match i % 5 {
            0 => (
                format!("svc{i}.#"),
                format!("svc{i}.calls.{i}.read"),
                format!("other{i}.calls.read"),
            ),
            1 => (
                format!("svc{i}.*.read"),
                format!("svc{i}.lines.read"),
                format!("svc{i}.lines.write"),
            ),
            2 => (
                format!("svc{i}.users.me.read"),
                format!("svc{i}.users.{AUTH_ID}.read"),
                format!("svc{i}.users.someone.read"),
            ),
            3 => (
                format!("svc{i}.users.me.#"),
                format!("svc{i}.users.me.voicemail.read"),
                format!("svc{i}.users.x.voicemail.read"),
            ),
            _ => (
                format!("svc{i}.items.{i}.read"),
                format!("svc{i}.items.{i}.read"),
                format!("svc{i}.items.{i}.delete"),
            ),
        };
        acl.push(pattern);
        scopes.extend([granted, refused]);
    }
    (acl, scopes)
}

fn acl_matching(c: &mut Criterion) {
    let ctx = AclContext {
        auth_id: AUTH_ID,
        session_id: "5e2fd887-ddf9-4cbc-91e1-fb5778c908a8",
    };
    let (acl, scopes) = acl50();
    let set = AclSet::compile(&acl, ctx);
    c.bench_function("acl: compile 50 patterns", |b| {
        b.iter(|| AclSet::compile(black_box(&acl), ctx))
    });
    c.bench_function("acl: 100 scopes (half granted) against 50 patterns", |b| {
        b.iter(|| {
            scopes
                .iter()
                .filter(|s| set.grants(black_box(s.as_str())))
                .count()
        })
    });
    let last = scopes.iter().rev().nth(1).expect("scopes").clone();
    c.bench_function("acl: the last pattern's scope (49 misses first)", |b| {
        b.iter(|| set.grants(black_box(&last)))
    });
}

fn token_lookup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let now = Timestamp::from_secs(2_000_000_000);
    let store = EmbeddedStore::open(&dir.path().join("tokens.redb"), now).unwrap();
    let (acl, _) = acl50();
    let tokens: Vec<String> = (0..1_000)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    runtime.block_on(async {
        for token in &tokens {
            let record = TokenRecord {
                auth_id: AUTH_ID.into(),
                user_uuid: Some(AUTH_ID.into()),
                login: "acl50".into(),
                backend: "xivo_user".into(),
                session_uuid: uuid::Uuid::new_v4(),
                issued_at: now,
                expires_at: Some(now.plus_secs(3_600)),
                lifetime_secs: 3_600,
                acl: acl.clone(),
                metadata: Default::default(),
                remote_addr: None,
                user_agent: None,
                parent: None,
                mobile: false,
                refresh_id: None,
            };
            store
                .insert(TokenKey::of(token), LiveToken::new(record), now)
                .await
                .unwrap();
        }
    });
    let token = tokens[500].clone();
    c.bench_function("token: SHA-256 key of a token", |b| {
        b.iter(|| TokenKey::of(black_box(&token)))
    });
    let key = TokenKey::of(&token);
    c.bench_function("store: embedded get of a cached token", |b| {
        b.iter(|| runtime.block_on(store.get(black_box(&key))).unwrap())
    });
}

fn password_check(c: &mut Criterion) {
    use sesame_backends::password::{HashCost, Password, PasswordHasher, hash_password};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hasher = PasswordHasher::new(1).unwrap();
    let password = Password::new("cheap-pw");
    let cheapest = HashCost {
        m_cost: 8,
        t_cost: 1,
        p_cost: 1,
    };
    let cheap = hash_password(&password, cheapest).unwrap();
    let default = hash_password(&password, HashCost::default()).unwrap();
    let parsed = argon2::PasswordHash::new(&cheap).unwrap();
    c.bench_function(
        "password: argon2id verify, m=8 KiB t=1 p=1, on the calling thread",
        |b| {
            b.iter(|| {
                argon2::PasswordVerifier::verify_password(
                    &argon2::Argon2::default(),
                    b"cheap-pw",
                    black_box(&parsed),
                )
                .unwrap()
            })
        },
    );
    c.bench_function(
        "password: argon2id verify, m=8 KiB t=1 p=1, on the hasher's thread",
        |b| {
            b.iter(|| {
                let ok = runtime.block_on(hasher.verify(&password, Some(black_box(&cheap))));
                assert!(ok.unwrap());
            })
        },
    );
    let mut slow = c.benchmark_group("password: default cost");
    slow.sample_size(10);
    slow.bench_function("argon2id verify, m=19 MiB t=2 p=1", |b| {
        b.iter(|| {
            let ok = runtime.block_on(hasher.verify(&password, Some(black_box(&default))));
            assert!(ok.unwrap());
        })
    });
    slow.finish();
}

criterion_group!(benches, acl_matching, token_lookup, password_check);
criterion_main!(benches);
