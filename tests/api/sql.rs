//! The `sql` backends against a real PostgreSQL: the test command starts one
//! (initdb in a temporary directory, a free loopback port) and exports
//! `SESAME_TEST_PG` (host:port) and `SESAME_TEST_PG_PASSWORD` (its
//! superuser's); a test without them fails, never skips. Each test makes a
//! database of its own, with the schemas of `e2e/sql/`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ALICE_UUID, Server, base_config, client, create_token, users_yaml};

fn pg() -> (String, String) {
    let address = std::env::var("SESAME_TEST_PG").unwrap_or_else(|_| {
        panic!("SESAME_TEST_PG is not set: run the tests with scripts/test-all, which starts PostgreSQL")
    });
    let password = std::env::var("SESAME_TEST_PG_PASSWORD").unwrap_or_default();
    (address, password)
}

/// A new database holding `schema` (SQL), and its URL (no password).
async fn database(schema: &str) -> String {
    let (address, password) = pg();
    let (host, port) = address.split_once(':').unwrap();
    let connect = |db: String| {
        let mut config = tokio_postgres::Config::new();
        config
            .host(host)
            .port(port.parse().unwrap())
            .user("postgres")
            .password(password.as_str())
            .dbname(&db);
        config
    };
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    let (admin, connection) = connect("postgres".into())
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (db, connection) = connect(name.clone())
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.batch_execute(schema).await.unwrap();
    format!("postgresql://postgres@{address}/{name}")
}

fn xivo_schema() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/e2e/sql/xivo.sql")).unwrap()
}

/// Sesame with the `sql` section `sql` (and `plugins` enabled).
fn server(plugins: &[&str], sql: &str) -> Server {
    server_with(plugins, sql, |config| config)
}

/// [`server`], its configuration passed through `edit`.
fn server_with(plugins: &[&str], sql: &str, edit: impl Fn(String) -> String + 'static) -> Server {
    let (_, password) = pg();
    // base_config has xivo_user and xivo_admin on, xivo_service off.
    let enabled: String = plugins
        .iter()
        .filter(|p| !["xivo_user", "xivo_admin", "xivo_service"].contains(p))
        .map(|p| format!("  {p}: true\n"))
        .collect();
    let service = plugins.contains(&"xivo_service");
    let sql = sql.to_owned();
    Server::start(
        move |port| {
            let config = base_config(port, &sql).replace(
                "enabled_backend_plugins:\n",
                &format!("enabled_backend_plugins:\n{enabled}"),
            );
            edit(if service {
                config.replace("xivo_service: false", "xivo_service: true")
            } else {
                config
            })
        },
        &users_yaml(""),
        &[("SESAME_TEST_DB_PW", password.as_str())],
    )
}

#[tokio::test]
async fn the_seed_session_with_alice_in_xivos_userfeatures() {
    let url = database(&format!(
        "{}\nINSERT INTO userfeatures (uuid, firstname, loginclient, passwdclient, enableclient) \
         VALUES ('{ALICE_UUID}', 'Alice', 'alice', 's3cre7', 1);",
        xivo_schema().replace("'alice', 'cti-s3cre7'", "'alice-cti', 'cti-s3cre7'")
    ))
    .await;
    let s = server(
        &["xivo_user", "xivo_service"],
        &format!(
            "sql:\n  xivo_user: {{url: '{url}', password_env: SESAME_TEST_DB_PW, preset: xivo}}\n  \
             xivo_service: {{url: '{url}', password_env: SESAME_TEST_DB_PW, preset: xivo}}\n"
        ),
    );
    // The seed's session: POST, HEAD, GET, DELETE.
    let (status, body) = create_token(
        &s,
        "alice",
        "s3cre7",
        json!({"backend": "xivo_user", "expiration": 600}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["auth_id"], ALICE_UUID);
    assert_eq!(body["data"]["xivo_user_uuid"], ALICE_UUID);
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    let c = client();
    let head = c
        .head(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NO_CONTENT);
    let got: Value = c
        .get(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["auth_id"], ALICE_UUID);
    let deleted = c
        .delete(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);

    // A disabled CTI login, and the web-service account's ACL array.
    let body = json!({"backend": "xivo_user"});
    assert_eq!(
        create_token(&s, "bob", "b0b-pass", body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, service) =
        create_token(&s, "xuc", "xuc-key", json!({"backend": "xivo_service"})).await;
    assert_eq!(status, StatusCode::OK, "{service}");
    let acl = service["data"]["acl"].as_array().unwrap();
    assert!(
        acl.contains(&json!("confd.users.read")) && acl.contains(&json!("dird.#")),
        "{service}"
    );
    assert_eq!(service["data"]["metadata"]["purpose"], "external_api");
    assert_eq!(
        create_token(&s, "old", "old-key", json!({"backend": "xivo_service"}))
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "a disabled web-service account"
    );
}

#[tokio::test]
async fn a_wazo_auth_user_logs_in_with_the_hash_wazo_auth_wrote() {
    let salt = [7u8; 64];
    let hash = sesame_backends::sql::stored::wazo_pbkdf2("wazo-s3cre7", &salt);
    let top = "8a3f0c52-7d1e-4b6a-9c2d-000000000001";
    let carol = "8a3f0c52-7d1e-4b6a-9c2d-0000000000c0";
    let schema =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/e2e/sql/wazo.sql")).unwrap();
    let url = database(&format!(
        "{schema}\nINSERT INTO auth_tenant VALUES ('{top}', 'master', 'master', '{top}');\n\
         INSERT INTO auth_user VALUES ('{carol}', 'Carol', 'Carol', '', '{hash}', decode('{}', 'hex'), \
         'user', 'native', true, '{top}');\n\
         INSERT INTO auth_email VALUES ('{}', 'Carol@Example.org', true, true, '{carol}');",
        hex_of(&salt),
        uuid::Uuid::new_v4()
    ))
    .await;
    let s = server(
        &["wazo_db"],
        &format!(
            "default_tenant_uuid: {top}\ndefault_backends: [wazo_db]\n\
             sql:\n  wazo_db: {{url: '{url}', password_env: SESAME_TEST_DB_PW, preset: wazo}}\n"
        ),
    );
    for login in ["carol", "CAROL", "carol@example.org"] {
        let (status, body) =
            create_token(&s, login, "wazo-s3cre7", json!({"expiration": 60})).await;
        assert_eq!(status, StatusCode::OK, "{login}: {body}");
        assert_eq!(body["data"]["metadata"]["uuid"], carol);
        assert_eq!(body["data"]["metadata"]["tenant_uuid"], top);
    }
    let (status, _) = create_token(&s, "carol", "wazo-s3cre8", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An application's own table, argon2 hashes, metadata columns; logins full
/// of SQL metacharacters are data, never SQL.
#[tokio::test]
async fn a_custom_schema_with_argon2_hashes_and_hostile_logins() {
    let hash = |pw: &str| crate::harness::hash(pw);
    let logins = [
        "dora",
        "o'brien",
        "100%",
        "under_score",
        "back\\slash",
        "x'; DROP TABLE members; --",
        "élodie",
    ];
    let mut inserts = String::new();
    for (i, login) in logins.iter().enumerate() {
        inserts.push_str(&format!(
            "INSERT INTO members VALUES ('{}', '{}', '{}', true, '{{app.read}}', 'site-{i}');\n",
            uuid::Uuid::new_v4(),
            login.replace('\'', "''"),
            hash(&format!("pw-{i}"))
        ));
    }
    let url = database(&format!(
        "CREATE TABLE members (id uuid PRIMARY KEY, name text UNIQUE, hash text, active boolean, \
         roles text[], site text);\n{inserts}"
    ))
    .await;
    let query = "SELECT id::text AS uuid, name AS login, hash AS password, active AS enabled, \
                 roles AS acl, site AS metadata_site FROM members WHERE name = $1";
    let s = server(
        &["members"],
        &format!(
            "sql:\n  members: {{url: '{url}', password_env: SESAME_TEST_DB_PW, by_login: \"{query}\"}}\n"
        ),
    );
    for (i, login) in logins.iter().enumerate() {
        let body = json!({"backend": "members"});
        let (status, answer) = create_token(&s, login, &format!("pw-{i}"), body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{login}: {answer}");
        assert_eq!(answer["data"]["metadata"]["site"], format!("site-{i}"));
        assert!(
            answer["data"]["acl"]
                .as_array()
                .unwrap()
                .contains(&json!("app.read"))
        );
        // Another account's password does not open this one.
        let other = format!("pw-{}", (i + 1) % logins.len());
        assert_eq!(
            create_token(&s, login, &other, body).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Patterns and injections match nothing (and the table is still there).
    for hostile in ["%", "dor_", "x' OR '1'='1", "dora'--", "*"] {
        let (status, _) = create_token(&s, hostile, "pw-0", json!({"backend": "members"})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{hostile}");
    }
    let (status, _) = create_token(&s, "dora", "pw-0", json!({"backend": "members"})).await;
    assert_eq!(status, StatusCode::OK, "the table survived the logins");
}

/// Run `sql` in the database of `url` (made by [`database`]).
async fn execute(url: &str, sql: &str) {
    let (_, password) = pg();
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.password(password.as_str());
    let (db, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    db.batch_execute(sql).await.unwrap();
}

const CAS_SERVICE: &str = "https://uc.example.org/login";
const CAROL: &str = "2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d00c0";

async fn cas_login(s: &Server, ticket: &str) -> (StatusCode, Value) {
    let r = client()
        .get(s.url("/xuc/api/2.0/auth/cas"))
        .query(&[("service", CAS_SERVICE), ("ticket", ticket)])
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

/// CAS identities (by login, then by e-mail) are matched to XiVO's CTI
/// users when the backend says so: disabled ones refused, the users file
/// asked first, a broken query a 500, the database down a 503 of the
/// backend (not "no user").
#[tokio::test]
async fn identities_proven_elsewhere_find_their_accounts_in_the_database() {
    let url = database(&format!(
        "{}\nINSERT INTO userfeatures (uuid, firstname, email, loginclient, passwdclient, enableclient) \
         VALUES ('{CAROL}', 'Carol', 'Carol@Example.org', 'carol', 'c-pass', 1);",
        xivo_schema()
    ))
    .await;
    let cas = crate::standins::cas_server().await;
    let sesame = |by: &'static str| {
        server(
            &["xivo_user"],
            &format!(
                "sql:\n  xivo_user: {{url: '{url}', password_env: SESAME_TEST_DB_PW, preset: xivo, \
                 match_external_identities: true}}\n\
                 cas:\n  server_url: {cas}\n  allowed_services: [{CAS_SERVICE}]\n  \
                 match_local_user_by: {by}\n"
            ),
        )
    };
    let s = sesame("login");
    let (status, answer) = cas_login(&s, "ST-carol").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["login"], "carol");
    let token = answer["token"].as_str().unwrap().to_owned();
    let checked = crate::harness::get_json(&s, &format!("/0.1/token/{token}")).await;
    assert_eq!(checked["data"]["xivo_user_uuid"], CAROL, "{checked}");
    assert_eq!(checked["data"]["metadata"]["email"], "Carol@Example.org");
    // Bob's CTI login is disabled: refused, and said so.
    let (status, answer) = cas_login(&s, "ST-bob").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("may not log in, in xivo_user"),
        "{answer}"
    );
    let (status, answer) = cas_login(&s, "ST-nobody").await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("no local user for nobody"))
    );
    // Alice is in the users file and in the database: the file's wins.
    let (status, answer) = cas_login(&s, "ST-alice").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let token = answer["token"].as_str().unwrap().to_owned();
    let checked = crate::harness::get_json(&s, &format!("/0.1/token/{token}")).await;
    assert_eq!(
        checked["data"]["xivo_user_uuid"],
        crate::harness::ALICE_UUID
    );

    let s = sesame("email");
    let (status, answer) = cas_login(&s, "ST-CAROL@example.org").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["login"], "carol");
    let (status, _) = cas_login(&s, "ST-carol").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a login is not an e-mail");

    execute(&url, "ALTER TABLE userfeatures RENAME TO gone").await;
    let (status, answer) = cas_login(&s, "ST-bob@example.org").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    execute(&url, "ALTER TABLE gone RENAME TO userfeatures").await;

    // The database out of reach: the backend is unavailable, not the CAS
    // server, and nobody is told they have no account.
    let closed = format!(
        "postgresql://postgres@127.0.0.1:{}/none",
        crate::harness::free_port()
    );
    let s = server(
        &["xivo_user"],
        &format!(
            "sql:\n  xivo_user: {{url: '{closed}', preset: xivo, match_external_identities: true}}\n\
             cas:\n  server_url: {cas}\n  allowed_services: [{CAS_SERVICE}]\n"
        ),
    );
    let (status, answer) = cas_login(&s, "ST-carol").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("BackendUnavailable")),
        "{answer}"
    );
}

/// A refresh token of an SQL account mints tokens while the database says
/// the account may log in; the throttle counts wrong passwords as for the
/// other backends.
#[tokio::test]
async fn refresh_tokens_and_the_throttle_follow_the_database() {
    let url = database(&format!(
        "{}\nINSERT INTO userfeatures (uuid, firstname, email, loginclient, passwdclient, enableclient) \
         VALUES ('{CAROL}', 'Carol', 'carol@example.org', 'carol', 'c-pass', 1);",
        xivo_schema()
    ))
    .await;
    let sql = format!(
        "sql:\n  xivo_user: {{url: '{url}', password_env: SESAME_TEST_DB_PW, preset: xivo}}\n"
    );
    let s = server(&["xivo_user"], &sql);
    let c = client();
    let offline = c
        .post(s.url("/0.1/token"))
        .basic_auth("carol", Some("c-pass"))
        .json(&json!({"expiration": 60, "access_type": "offline", "client_id": "app"}))
        .send()
        .await
        .unwrap();
    assert_eq!(offline.status(), StatusCode::OK);
    let offline: Value = offline.json().await.unwrap();
    let refresh = offline["data"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let redeem = || {
        c.post(s.url("/0.1/token"))
            .json(&json!({"expiration": 60, "refresh_token": refresh, "client_id": "app"}))
            .send()
    };
    assert_eq!(redeem().await.unwrap().status(), StatusCode::OK);
    execute(
        &url,
        "UPDATE userfeatures SET enableclient = 0 WHERE loginclient = 'carol'",
    )
    .await;
    assert_eq!(
        redeem().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the CTI login was disabled in the database"
    );
    execute(
        &url,
        "UPDATE userfeatures SET enableclient = 1 WHERE loginclient = 'carol'",
    )
    .await;
    assert_eq!(redeem().await.unwrap().status(), StatusCode::OK);
    drop(s);

    let s = server_with(&["xivo_user"], &sql, |config| {
        config.replace(
            "throttle: {max_failures_per_login: 1000, max_failures_per_address: 1000}",
            "throttle: {max_failures_per_login: 3, max_failures_per_address: 100}",
        )
    });
    for _ in 0..3 {
        let (status, _) = create_token(&s, "carol", "wrong", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = create_token(&s, "carol", "c-pass", json!({})).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked, even with the right password: {body}"
    );
}

/// `/readyz` asks each database as logins do: through the backend's pool,
/// as its user, with its queries prepared: a database that accepts TCP but
/// refuses Sesame's password is reported.
#[tokio::test]
async fn readiness_reports_each_database_as_logins_see_it() {
    let url = database(&xivo_schema()).await;
    let s = Server::start(
        {
            let url = url.clone();
            move |port| {
                base_config(
                    port,
                    &format!(
                        "sql:\n  xivo_user: {{url: '{url}', password_env: SESAME_TEST_DB_PW, preset: xivo}}\n  \
                         xivo_service: {{url: '{url}', password_env: SESAME_TEST_WRONG_PW, preset: xivo}}\n"
                    ),
                )
                .replace("xivo_service: false", "xivo_service: true")
            }
        },
        &users_yaml(""),
        &[
            ("SESAME_TEST_DB_PW", pg().1.as_str()),
            ("SESAME_TEST_WRONG_PW", "not-the-password"),
        ],
    );
    let ready = crate::harness::get_json(&s, "/readyz").await;
    assert_eq!(ready["upstreams"]["sql.xivo_user"], "ok", "{ready}");
    let refused = ready["upstreams"]["sql.xivo_service"].as_str().unwrap();
    assert!(
        refused.starts_with("unreachable:") && refused.contains("password"),
        "{ready}"
    );
    assert_eq!(ready["status"], "degraded");
}
