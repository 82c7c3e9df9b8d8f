//! Tenants declared in the configuration: a token acts in its tenant and
//! those below it (`?tenant=` on checks, `Wazo-Tenant` on protected
//! routes), `domain_name` / `tenant_id` at login name the account's tenant,
//! `GET /0.1/tenants` lists what a token may see.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Server, base_config, cli, client, free_port, hash, users_yaml};
use crate::wazo::SHARED;

const TOP: &str = "7a000000-0000-4000-8000-000000000001";
const ACME: &str = "7a000000-0000-4000-8000-00000000ac3e";
const SALES: &str = "7a000000-0000-4000-8000-000000005a1e";
const OTHER: &str = "7a000000-0000-4000-8000-000000000ade";

fn tenants_config() -> String {
    format!(
        "default_tenant_uuid: {TOP}\ntenants:\n  - {{uuid: {ACME}, name: Acme Corp, domain_names: [acme.example]}}\n  - {{uuid: {SALES}, name: Acme Sales, slug: sales, parent: {ACME}}}\n  - {{uuid: {OTHER}, name: Other}}\n"
    )
}

fn account(login: &str, tenant: &str, acl: &str) -> String {
    format!(
        "  - login: {login}\n    uuid: {}\n    profile: default\n    password_hash: \"{}\"\n    tenant_uuid: {tenant}\n    acl: [{acl}]\n",
        uuid::Uuid::new_v4(),
        hash("pw")
    )
}

fn server() -> Server {
    let users = account("dave", ACME, "auth.tenants.read, auth.sessions.read")
        + &account("erin", SALES, "auth.tenants.read");
    Server::start(
        |port| base_config(port, &tenants_config()),
        &users_yaml(&users),
        &[("PLAY_AUTH_TOKEN", SHARED)],
    )
}

async fn login(s: &Server, user: &str, password: &str, body: Value) -> (StatusCode, Value) {
    crate::harness::create_token(s, user, password, body).await
}

async fn token(s: &Server, user: &str) -> String {
    let (status, body) = login(s, user, "pw", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["token"].as_str().unwrap().to_owned()
}

async fn check(s: &Server, token: &str, tenant: &str) -> StatusCode {
    client()
        .head(s.url(&format!("/0.1/token/{token}?tenant={tenant}")))
        .send()
        .await
        .unwrap()
        .status()
}

async fn get(s: &Server, path: &str, token: &str, tenant: Option<&str>) -> (StatusCode, Value) {
    let mut request = client().get(s.url(path)).header("X-Auth-Token", token);
    if let Some(tenant) = tenant {
        request = request.header("Wazo-Tenant", tenant);
    }
    let r = request.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

fn uuids(list: &Value) -> Vec<&str> {
    let mut found: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uuid"].as_str().unwrap())
        .collect();
    found.sort_unstable();
    found
}

#[tokio::test]
async fn a_token_acts_in_its_tenant_and_below() {
    let s = server();
    let (dave, erin) = (token(&s, "dave").await, token(&s, "erin").await);
    let (_, body) = login(&s, "dave", "pw", json!({})).await;
    assert_eq!(body["data"]["metadata"]["tenant_uuid"], ACME, "{body}");
    let (alice, _) = (crate::wazo::alice_token(&s).await, ());
    let cases = [
        (&dave, ACME, StatusCode::NO_CONTENT),
        (&dave, SALES, StatusCode::NO_CONTENT),
        (&dave, TOP, StatusCode::FORBIDDEN),
        (&dave, OTHER, StatusCode::FORBIDDEN),
        (&erin, SALES, StatusCode::NO_CONTENT),
        (&erin, ACME, StatusCode::FORBIDDEN),
        (&alice, OTHER, StatusCode::NO_CONTENT),
        (&alice, SALES, StatusCode::NO_CONTENT),
        // Undeclared, or not a UUID: refused, never ignored.
        (
            &alice,
            "7a000000-0000-4000-8000-00000000dead",
            StatusCode::FORBIDDEN,
        ),
        (&alice, "acme", StatusCode::FORBIDDEN),
    ];
    for (token, tenant, expected) in cases {
        assert_eq!(check(&s, token, tenant).await, expected, "{tenant}");
    }
    // The shared secret acts in any declared tenant.
    assert_eq!(check(&s, SHARED, OTHER).await, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_login_naming_a_tenant_must_be_of_it() {
    let s = server();
    let named = |field: &str, value: &str| json!({ field: value });
    let ok = StatusCode::OK;
    let refused = StatusCode::UNAUTHORIZED;
    let cases = [
        ("dave", named("domain_name", "ACME.example"), ok),
        ("dave", named("tenant_id", ACME), ok),
        ("dave", named("tenant_id", "AcmeCorp"), ok),
        ("erin", named("tenant_id", "sales"), ok),
        // Erin is below Acme, not in it; an unknown tenant is refused.
        ("erin", named("domain_name", "acme.example"), refused),
        ("dave", named("domain_name", "nowhere.example"), refused),
        ("dave", named("tenant_id", OTHER), refused),
    ];
    for (user, body, expected) in cases {
        let (status, answer) = login(&s, user, "pw", body.clone()).await;
        assert_eq!(status, expected, "{user} {body}: {answer}");
    }
}

#[tokio::test]
async fn tenants_and_sessions_are_listed_from_the_requests_tenant() {
    let s = server();
    let (dave, erin) = (token(&s, "dave").await, token(&s, "erin").await);
    crate::wazo::alice_token(&s).await;

    let (status, all) = get(&s, "/0.1/tenants", SHARED, None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["total"], 4);
    let top = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["uuid"] == TOP)
        .unwrap();
    assert_eq!(
        (&top["name"], &top["parent_uuid"]),
        (&json!("master"), &json!(TOP))
    );
    let (_, mine) = get(&s, "/0.1/tenants", &dave, None).await;
    assert_eq!(uuids(&mine), [SALES, ACME], "sorted");
    let acme = &mine["items"][0];
    assert_eq!(
        (&acme["slug"], &acme["domain_names"]),
        (&json!("AcmeCorp"), &json!(["acme.example"]))
    );
    let (_, below) = get(&s, "/0.1/tenants", &dave, Some(SALES)).await;
    assert_eq!(uuids(&below), [SALES]);
    let (_, searched) = get(&s, "/0.1/tenants?search=SALES", SHARED, None).await;
    assert_eq!(
        (searched["total"].as_u64(), searched["filtered"].as_u64()),
        (Some(4), Some(1))
    );
    for (token, tenant) in [(&dave, TOP), (&dave, OTHER), (&erin, ACME), (&dave, "junk")] {
        let (status, body) = get(&s, "/0.1/tenants", token, Some(tenant)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{tenant}");
        assert_eq!(body["error_id"], "unauthorized-tenant", "{body}");
    }

    // Sessions: the request's tenant, the ones below with recurse=true.
    let (_, own) = get(&s, "/0.1/sessions", &dave, None).await;
    let tenants_of = |list: &Value| -> Vec<String> {
        let mut t: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["tenant_uuid"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    assert_eq!(tenants_of(&own), [ACME]);
    let (_, deep) = get(&s, "/0.1/sessions?recurse=true", &dave, None).await;
    assert_eq!(tenants_of(&deep), [SALES, ACME], "sorted");
    let (_, everyone) = get(&s, "/0.1/sessions?recurse=true", SHARED, None).await;
    assert_eq!(everyone["total"], 3);
    // Dave cannot end a session of the top tenant.
    let alices = everyone["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tenant_uuid"] == TOP)
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = client()
        .delete(s.url(&format!("/0.1/sessions/{alices}")))
        .header("X-Auth-Token", SHARED)
        .header("Wazo-Tenant", ACME)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, still) = get(&s, "/0.1/sessions?recurse=true", SHARED, None).await;
    assert_eq!(
        still["total"], 3,
        "a session outside the request's tenants stays"
    );
}

#[test]
fn undeclared_tenants_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    let bad_parent = tenants_config().replace(
        &format!("parent: {ACME}"),
        "parent: 7a000000-0000-4000-8000-00000000dead",
    );
    std::fs::write(&config, base_config(free_port(), &bad_parent)).unwrap();
    let (ok, _, err) = cli(&["check-config", "-c", config.to_str().unwrap()], "");
    assert!(
        !ok && err.contains("tenants") && err.contains("not a declared tenant"),
        "{err}"
    );
    let no_top = format!("tenants:\n  - {{uuid: {ACME}, name: Acme}}\n");
    std::fs::write(&config, base_config(free_port(), &no_top)).unwrap();
    let (ok, _, err) = cli(&["check-config", "-c", config.to_str().unwrap()], "");
    assert!(!ok && err.contains("default_tenant_uuid"), "{err}");
    // An account of an undeclared tenant.
    std::fs::write(&config, base_config(free_port(), &tenants_config())).unwrap();
    let users = account("zed", "7a000000-0000-4000-8000-00000000dead", "x");
    std::fs::write(dir.path().join("users.yml"), users_yaml(&users)).unwrap();
    let (ok, _, err) = cli(&["serve", "-c", config.to_str().unwrap()], "");
    assert!(
        !ok && err.contains("zed") && err.contains("not declared"),
        "{err}"
    );
}
