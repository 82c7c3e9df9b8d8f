//! Real answers against the OpenAPI document: every operation answers
//! with a status its document lists, and a JSON body that conforms to the
//! schema documented for that status (no undocumented key, no missing
//! required one, the right types). Successful answers come from real
//! requests (with stand-ins for the peers); every operation is also probed
//! bare, which checks its error answers.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{ALICE_UUID, Server, base_config, client, get_json, users_yaml};
use crate::standins::{Op, cas_server, web_app};

const SHARED: &str = "schema-test-shared-secret-0123456789";

/// Whether `value` conforms to `schema` (OpenAPI 3.1's JSON Schema, as
/// utoipa writes it), resolving `$ref` in `doc`; the error says where not.
/// Stricter than JSON Schema on one point: an object whose properties are
/// listed may hold no other key (utoipa lists every field of a type).
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        if target.is_null() {
            return Err(format!("{at}: unknown schema {reference}"));
        }
        return conforms(doc, target, value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            if options.iter().any(|o| conforms(doc, o, value, at).is_ok()) {
                return Ok(());
            }
            return Err(format!("{at}: {value} matches none of {key}"));
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        for part in all {
            conforms(doc, part, value, at)?;
        }
        return Ok(());
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let fits = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            return Err(format!("{at}: {value} is not of type {types:?}"));
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            conforms(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
        }
    }
    if let (Some(fields), Some(properties)) = (value.as_object(), schema["properties"].as_object())
    {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !fields.contains_key(name) {
                return Err(format!("{at}: the required key {name:?} is missing"));
            }
        }
        for (name, field) in fields {
            let Some(property) = properties.get(name) else {
                return Err(format!("{at}: the key {name:?} is not documented"));
            };
            conforms(doc, property, field, &format!("{at}.{name}"))?;
        }
    }
    Ok(())
}

/// One answer to check: the operation, its status and its body.
struct Answer {
    method: Method,
    path: &'static str,
    status: StatusCode,
    body: Option<Value>,
}

async fn answer(method: Method, path: &'static str, r: reqwest::Response) -> Answer {
    let status = r.status();
    let body = r
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    Answer {
        method,
        path,
        status,
        body,
    }
}

/// Whether `a` is documented, and its body conforms to the schema
/// documented for its status; `Ok(true)` when a body was checked.
fn check(doc: &Value, a: &Answer) -> Result<bool, String> {
    let operation = &doc["paths"][a.path][a.method.as_str().to_lowercase()];
    let responses = &operation["responses"];
    let documented = &responses[a.status.as_str()];
    let documented = if documented.is_null() {
        &responses["default"]
    } else {
        documented
    };
    if documented.is_null() {
        return Err(format!(
            "{} {} answered {}, which its document does not list",
            a.method, a.path, a.status
        ));
    }
    let schema = &documented["content"]["application/json"]["schema"];
    match (&a.body, schema.is_null()) {
        (Some(body), false) => conforms(doc, schema, body, "body")
            .map(|()| true)
            .map_err(|e| format!("{} {} {}: {e}", a.method, a.path, a.status)),
        (None, false) => Err(format!(
            "{} {} {}: a JSON body is documented, none was answered",
            a.method, a.path, a.status
        )),
        _ => Ok(false),
    }
}

fn config(port: u16, app: &str, cas: &str, op: &str) -> String {
    base_config(
        port,
        &format!(
            r#"metrics: {{enabled: true}}
web_session:
  validation_url: {app}/session
  cookie_names: [app_session]
  permission_map: {{users.read: confd.users.read}}
cas:
  server_url: {cas}
  allowed_services: [https://uc.example.org/login]
oidc:
  providers:
    op: {{issuer: {op}, client_id: sesame, algorithms: [ES256]}}
gateway:
  rules: [{{path_prefix: /api/, acl: dird.#}}]
"#
        ),
    )
}

#[tokio::test]
async fn real_answers_conform_to_the_document() {
    let (app, cas, op) = (web_app().await, cas_server().await, Op::start().await);
    let s = Server::start(
        |port| config(port, &app, &cas, &op.issuer),
        &users_yaml(""),
        &[("PLAY_AUTH_TOKEN", SHARED)],
    );
    let doc = get_json(&s, "/api/openapi.json").await;
    let c = client();
    let mut answers = Vec::new();
    macro_rules! call {
        ($method:ident, $path:literal, $url:expr, |$r:ident| $build:expr) => {{
            let $r = c.request(Method::$method, s.url(&$url));
            answers.push(answer(Method::$method, $path, $build.send().await.unwrap()).await);
            answers
                .last()
                .and_then(|a| a.body.clone())
                .unwrap_or_default()
        }};
    }
    let token_of = |body: &Value| {
        body["data"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let created = call!(POST, "/0.1/token", "/0.1/token", |r| r
        .basic_auth("alice", Some("s3cre7"))
        .json(&json!({"backend": "xivo_user"})));
    let t = token_of(&created);
    call!(POST, "/0.1/token", "/0.1/token", |r| r
        .basic_auth("alice", Some("wrong"))
        .json(&json!({"backend": "xivo_user"})));
    call!(POST, "/0.1/token", "/0.1/token", |r| r
        .header("Cookie", "app_session=good")
        .json(&json!({"backend": "web_session"})));
    call!(POST, "/0.1/token", "/0.1/token", |r| r
        .bearer_auth(op.token("nobody", 300))
        .json(&json!({"backend": "oidc"})));
    call!(HEAD, "/0.1/token/{token}", format!("/0.1/token/{t}"), |r| r);
    call!(
        HEAD,
        "/0.1/token/{token}",
        format!("/0.1/token/{t}?scope=admin.x"),
        |r| r
    );
    call!(GET, "/0.1/token/{token}", format!("/0.1/token/{t}"), |r| r);
    call!(
        GET,
        "/0.1/token/{token}",
        format!("/0.1/token/{t}?scope=admin.x"),
        |r| r
    );
    call!(GET, "/0.1/backends", "/0.1/backends", |r| r);
    call!(GET, "/0.1/tenants", "/0.1/tenants", |r| r
        .header("X-Auth-Token", SHARED));
    let sessions = call!(GET, "/0.1/sessions", "/0.1/sessions", |r| r
        .header("X-Auth-Token", SHARED));
    assert!(sessions["total"].as_u64() >= Some(1), "{sessions}");
    call!(
        GET,
        "/0.1/users/{user}/sessions",
        format!("/0.1/users/{ALICE_UUID}/sessions?order=mobile"),
        |r| r.header("X-Auth-Token", SHARED)
    );
    call!(
        GET,
        "/0.1/users/{user}/sessions",
        "/0.1/users/nobody/sessions",
        |r| r.header("X-Auth-Token", SHARED)
    );
    let session = call!(
        POST,
        "/xuc/api/2.0/auth/login",
        "/xuc/api/2.0/auth/login",
        |r| r.json(&json!({"login": "alice", "password": "s3cre7"}))
    );
    let uc = session["token"].as_str().unwrap_or_default().to_owned();
    call!(
        POST,
        "/xuc/api/2.0/auth/login",
        "/xuc/api/2.0/auth/login",
        |r| r.json(&json!({"login": "alice", "password": "nope"}))
    );
    call!(
        GET,
        "/xuc/api/2.0/auth/check",
        "/xuc/api/2.0/auth/check",
        |r| r.header("X-Auth-Token", &uc)
    );
    call!(
        POST,
        "/xuc/api/2.0/auth/oidc",
        "/xuc/api/2.0/auth/oidc",
        |r| r.bearer_auth(op.token("alice", 300))
    );
    call!(
        POST,
        "/xuc/api/2.0/auth/oidc",
        "/xuc/api/2.0/auth/oidc",
        |r| r.bearer_auth(op.token("nobody", 300))
    );
    call!(
        GET,
        "/xuc/api/2.0/auth/cas",
        "/xuc/api/2.0/auth/cas?service=https%3A%2F%2Fuc.example.org%2Flogin&ticket=ST-alice",
        |r| r
    );
    call!(
        GET,
        "/xuc/api/2.0/auth/cas",
        "/xuc/api/2.0/auth/cas?service=https%3A%2F%2Fuc.example.org%2Flogin&ticket=ST-bob",
        |r| r
    );
    call!(
        POST,
        "/xuc/api/2.0/auth/websession",
        "/xuc/api/2.0/auth/websession",
        |r| r.header("Cookie", "app_session=good")
    );
    call!(
        POST,
        "/xuc/api/2.0/auth/websession",
        "/xuc/api/2.0/auth/websession",
        |r| r.header("Cookie", "app_session=stale")
    );
    call!(POST, "/oauth2/introspect", "/oauth2/introspect", |r| r
        .bearer_auth(SHARED)
        .form(&[("token", t.as_str())]));
    call!(POST, "/oauth2/introspect", "/oauth2/introspect", |r| r
        .bearer_auth(SHARED)
        .form(&[("token", "not-a-token")]));
    let exchange = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", t.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
    ];
    call!(POST, "/oauth2/token", "/oauth2/token", |r| r
        .form(&exchange));
    call!(
        GET,
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server",
        |r| r
    );
    call!(GET, "/readyz", "/readyz", |r| r);
    call!(GET, "/gateway/auth", "/gateway/auth", |r| r
        .header("X-Auth-Token", &t)
        .header("X-Original-URI", "/api/x"));
    call!(GET, "/gateway/auth", "/gateway/auth", |r| r
        .header("X-Auth-Token", &t)
        .header("X-Original-URI", "/elsewhere"));
    call!(
        POST,
        "/xuc/api/2.0/auth/logout",
        "/xuc/api/2.0/auth/logout",
        |r| r.header("X-Auth-Token", &uc)
    );
    call!(
        DELETE,
        "/0.1/token/{token}",
        format!("/0.1/token/{t}"),
        |r| r
    );
    let successes: BTreeSet<(String, &str)> = answers
        .iter()
        .filter(|a| a.status.is_success())
        .map(|a| (a.method.to_string(), a.path))
        .collect();
    assert!(
        successes.len() >= 16,
        "successful operations: {successes:?}"
    );

    // Every documented operation, bare: its error answers.
    let paths: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (path.clone(), m.clone()))
        })
        .collect();
    let (mut failures, mut bodies) = (Vec::new(), 0);
    let mut tally = |outcome: Result<bool, String>| match outcome {
        Ok(checked) => bodies += usize::from(checked),
        Err(e) => failures.push(e),
    };
    for a in &answers {
        tally(check(&doc, a));
    }
    for (path, method) in &paths {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let url = s.url(&path.replace("{token}", "8d2f3c1e-0000-4000-8000-000000000000"));
        let r = c.request(method.clone(), url).send().await.unwrap();
        let path: &'static str = Box::leak(path.clone().into_boxed_str());
        tally(check(&doc, &answer(method, path, r).await));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        bodies >= 45,
        "only {bodies} bodies were checked against a schema"
    );
}

#[test]
fn the_checker_refuses_what_it_should() {
    let doc = json!({"components": {"schemas": {"S": {
        "type": "object", "required": ["a"],
        "properties": {"a": {"type": "string"}, "b": {"type": ["integer", "null"]}}
    }}}});
    let s = json!({"$ref": "#/components/schemas/S"});
    assert!(conforms(&doc, &s, &json!({"a": "x", "b": null}), "b").is_ok());
    assert!(conforms(&doc, &s, &json!({"a": "x", "b": 2}), "b").is_ok());
    assert!(
        conforms(&doc, &s, &json!({"b": 2}), "b").is_err(),
        "missing a"
    );
    assert!(
        conforms(&doc, &s, &json!({"a": 1}), "b").is_err(),
        "a not a string"
    );
    assert!(
        conforms(&doc, &s, &json!({"a": "x", "c": 1}), "b").is_err(),
        "c undocumented"
    );
    let list = json!({"type": "array", "items": {"$ref": "#/components/schemas/S"}});
    assert!(conforms(&doc, &list, &json!([{"a": "x"}, {"a": 2}]), "b").is_err());
}
