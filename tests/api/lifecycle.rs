//! What happens over time: restarts, file reloads, static tokens, HTTPS.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    ALICE_UUID, Server, base_config, cli, client, create_token, eventually, get_json, hash,
    uc_login, users_yaml, write_file,
};

async fn login(s: &Server, user: &str, pw: &str) -> StatusCode {
    uc_login(s, user, pw).await.0
}

#[tokio::test]
async fn tokens_survive_a_restart_of_the_embedded_store() {
    let mut s = Server::standard();
    let c = client();
    let r: Value = c
        .post(s.url("/0.1/token"))
        .basic_auth("alice", Some("s3cre7"))
        .json(&json!({"backend": "xivo_user"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = r["data"]["token"].as_str().unwrap().to_owned();
    let revoked: Value = c
        .post(s.url("/0.1/token"))
        .basic_auth("alice", Some("s3cre7"))
        .json(&json!({"backend": "xivo_user"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let revoked = revoked["data"]["token"].as_str().unwrap().to_owned();
    c.delete(s.url(&format!("/0.1/token/{revoked}")))
        .send()
        .await
        .unwrap();

    s.restart(); // asserts a clean exit on SIGTERM

    let r = c
        .get(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["auth_id"], ALICE_UUID);
    assert_eq!(body["data"]["acl"][0], "own.acl");
    let r = c
        .head(s.url(&format!("/0.1/token/{token}?scope=confd.users.me.read")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "ACLs survive too");
    let r = c
        .head(s.url(&format!("/0.1/token/{revoked}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a revoked token stays revoked"
    );

    // The store holds hashes, not tokens.
    let raw = std::fs::read(s.dir.join("data/tokens.redb")).unwrap();
    let needle = token.as_bytes();
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "the store file must not hold the token"
    );
}

#[tokio::test]
async fn users_file_changes_are_picked_up_without_restart() {
    let s = Server::standard();
    assert_eq!(login(&s, "bob", "bobpw").await, StatusCode::UNAUTHORIZED);
    let bob = format!(
        "  - login: bob\n    uuid: {}\n    profile: default\n    password_hash: \"{}\"\n",
        uuid::Uuid::new_v4(),
        hash("bobpw")
    );
    write_file(&s.dir.join("users.yml"), &users_yaml(&bob));
    assert!(
        eventually(10, || async {
            login(&s, "bob", "bobpw").await == StatusCode::OK
        })
        .await,
        "bob can log in after the file changed:\n{}",
        s.log()
    );
    // A broken file keeps the previous accounts.
    write_file(&s.dir.join("users.yml"), "users: [ {login: broken");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(login(&s, "bob", "bobpw").await, StatusCode::OK);
    assert!(s.log().contains("users file not reloaded"), "{}", s.log());
}

#[tokio::test]
async fn sighup_reloads_the_users_file() {
    let s = Server::start(
        |p| base_config(p, "").replace("file_poll_interval: 1", "file_poll_interval: 3600"),
        &users_yaml(""),
        &[],
    );
    assert_eq!(login(&s, "alice", "s3cre7").await, StatusCode::OK);
    // alice's CTI login gets disabled.
    let disabled = users_yaml("").replacen(
        "    profile: default\n",
        "    profile: default\n    cti_login_enabled: false\n",
        1,
    );
    write_file(&s.dir.join("users.yml"), &disabled);
    s.signal("HUP");
    assert!(
        eventually(10, || async {
            login(&s, "alice", "s3cre7").await == StatusCode::UNAUTHORIZED
        })
        .await,
        "a disabled user cannot log in after SIGHUP:\n{}",
        s.log()
    );
}

#[tokio::test]
async fn static_tokens_from_the_cli() {
    let s = Server::standard();
    let config = s.config_path();
    let config = config.to_str().unwrap();
    let (ok, token, err) = cli(
        &[
            "token",
            "create",
            "--acl",
            "confd.users.read",
            "--name",
            "svc",
            "-c",
            config,
        ],
        "",
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    assert_eq!(token.len(), 36);
    let c = client();
    let url = |scope: &str| s.url(&format!("/0.1/token/{token}?scope={scope}"));
    assert!(
        eventually(10, || async {
            c.head(url("confd.users.read"))
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::NO_CONTENT
        })
        .await,
        "{}",
        s.log()
    );
    assert_eq!(
        c.head(url("confd.users.delete"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let body: Value = c
        .get(s.url(&format!("/0.1/token/{token}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["expires_at"], Value::Null);
    assert_eq!(body["data"]["auth_id"], "svc");
    assert_eq!(
        c.delete(s.url(&format!("/0.1/token/{token}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN,
        "static tokens are revoked with the CLI"
    );

    let (ok, listing, _) = cli(&["token", "list", "-c", config], "");
    assert!(ok);
    assert!(
        listing.contains("svc") && listing.contains("confd.users.read"),
        "{listing}"
    );
    assert!(!listing.contains(&token));

    let (ok, _, err) = cli(&["token", "revoke", "svc", "-c", config], "");
    assert!(ok, "{err}");
    assert!(
        eventually(10, || async {
            c.head(url("confd.users.read"))
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::NOT_FOUND
        })
        .await,
        "{}",
        s.log()
    );
}

/// The demo configuration as shipped, with only the port and data directory
/// moved aside: HTTPS with a generated certificate, alice / s3cre7.
#[tokio::test]
async fn demo_config_serves_https() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let demo = std::fs::read_to_string(examples.join("demo.yml")).unwrap();
    let demo_users = std::fs::read_to_string(examples.join("demo-users.yml")).unwrap();
    assert!(demo.contains("port: 9497"));
    let mut s = Server::start(
        move |port| {
            demo.replace("port: 9497", &format!("port: {port}"))
                .replace("users_file: demo-users.yml", "users_file: users.yml")
        },
        &demo_users,
        &[],
    );
    s.scheme = "https";
    let c = client();
    let r = c
        .post(s.url("/0.1/token"))
        .basic_auth("alice", Some("s3cre7"))
        .json(&json!({"backend": "xivo_user", "expiration": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cert = s.dir.join("demo-data/tls/self-signed.crt");
    let before = std::fs::read(&cert).unwrap();
    s.restart();
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        before,
        "the generated certificate is kept"
    );
    let r = c.get(s.url("/0.1/backends")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Plain HTTP is not served on the HTTPS port.
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", s.port)).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

/// The ACLs of a new /0.1 token for alice, or the status when refused.
async fn alice_acl(s: &Server) -> Result<Vec<String>, StatusCode> {
    match create_token(s, "alice", "s3cre7", json!({"backend": "xivo_user"})).await {
        (StatusCode::OK, body) => Ok(serde_json::from_value(body["data"]["acl"].clone()).unwrap()),
        (status, _) => Err(status),
    }
}

#[tokio::test]
async fn sighup_applies_policies_and_backends_and_refuses_restart_only_keys() {
    let config =
        |p| base_config(p, "").replace("file_poll_interval: 1", "file_poll_interval: 3600");
    let s = Server::start(config, &users_yaml(""), &[]);
    let acl = alice_acl(&s).await.unwrap();
    assert!(acl.contains(&"dird.#".to_owned()), "{acl:?}");
    let root = || async {
        create_token(&s, "root", "rootpw", json!({"backend": "xivo_admin"}))
            .await
            .0
    };
    assert_eq!(root().await, StatusCode::OK);

    let ready = || async { get_json(&s, "/readyz").await["upstreams"].clone() };
    assert_eq!(ready().await, json!({}));

    // A new policy, xivo_admin switched off, an LDAP directory (that
    // /readyz then probes), and two keys that need a restart.
    let other_port = crate::harness::free_port();
    let ldap = "ldap: {uri: \"ldap://127.0.0.1:1\", user_base_dn: \"ou=people,dc=x\", user_login_attribute: uid}\n";
    let edited = base_config(s.port, ldap)
        .replace("file_poll_interval: 1", "file_poll_interval: 3600")
        .replace("dird.#]", "chat.send]")
        .replace("xivo_admin: true", "xivo_admin: false")
        .replace("default_token_lifetime: 7200", "default_token_lifetime: 60")
        .replace(&format!("port: {}", s.port), &format!("port: {other_port}"));
    write_file(&s.config_path(), &edited);
    s.signal("HUP");
    assert!(
        eventually(10, || async {
            alice_acl(&s)
                .await
                .is_ok_and(|acl| acl.contains(&"chat.send".to_owned()))
        })
        .await,
        "the new policy applies after SIGHUP:\n{}",
        s.log()
    );
    let acl = alice_acl(&s).await.unwrap();
    assert!(!acl.contains(&"dird.#".to_owned()), "{acl:?}");
    assert_eq!(root().await, StatusCode::UNAUTHORIZED, "xivo_admin is off");
    assert_eq!(
        get_json(&s, "/0.1/backends").await["data"],
        json!(["xivo_user"])
    );
    let upstreams = ready().await;
    assert!(
        upstreams["ldap"]
            .as_str()
            .unwrap()
            .starts_with("unreachable"),
        "{upstreams}"
    );
    // The restart-only keys: refused by name, the running values kept.
    let log = s.log();
    for key in ["listen", "default_token_lifetime"] {
        assert!(
            log.contains(&format!(
                "`{key}` changed, but it only takes effect on a restart"
            )),
            "{key}:\n{log}"
        );
    }
    let (_, data) = create_token(&s, "alice", "s3cre7", json!({"backend": "xivo_user"})).await;
    let issued = data["data"]["utc_issued_at"].as_str().unwrap().to_owned();
    let expires = data["data"]["utc_expires_at"].as_str().unwrap().to_owned();
    let secs = |t: &str| {
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
            .unwrap()
            .and_utc()
            .timestamp()
    };
    assert_eq!(
        secs(&expires) - secs(&issued),
        7200,
        "the lifetime is unchanged"
    );

    // An invalid configuration (ldap_user without `ldap`) changes nothing.
    write_file(
        &s.config_path(),
        &edited
            .replace(ldap, "")
            .replace("xivo_admin: false", "xivo_admin: true\n  ldap_user: true"),
    );
    s.signal("HUP");
    assert!(
        eventually(10, || async {
            s.log().contains("configuration not reloaded")
        })
        .await,
        "{}",
        s.log()
    );
    assert_eq!(root().await, StatusCode::UNAUTHORIZED, "still off");
    assert!(
        alice_acl(&s)
            .await
            .unwrap()
            .contains(&"chat.send".to_owned())
    );
}
