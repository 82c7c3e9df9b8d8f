//! The served OpenAPI document: both paths, the same content, and every
//! operation it lists is routed by the running server (not answered by the
//! fallback, not 405).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{Server, base_config, client, users_yaml};

#[tokio::test]
async fn the_document_is_served_in_yaml_and_json_and_matches_the_routes() {
    let s = Server::start(
        |port| base_config(port, "metrics: {enabled: true}\n"),
        &users_yaml(""),
        &[],
    );
    let c = client();
    let yaml = c.get(s.url("/0.1/api/api.yml")).send().await.unwrap();
    assert_eq!(yaml.status(), StatusCode::OK);
    assert_eq!(yaml.headers()["content-type"], "application/yaml");
    let yaml: Value = yaml_serde::from_str(&yaml.text().await.unwrap()).unwrap();
    let json = c.get(s.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(json.status(), StatusCode::OK);
    let json: Value = json.json().await.unwrap();
    assert_eq!(yaml, json, "the YAML and JSON documents differ");
    assert!(json["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(json["info"]["version"], env!("CARGO_PKG_VERSION"));

    let paths = json["paths"].as_object().unwrap();
    assert!(paths.len() >= 24, "{} paths", paths.len());
    let mut probed = 0;
    for (path, item) in paths {
        let url = s.url(&path.replace("{token}", "8d2f3c1e-0000-4000-8000-000000000000"));
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = c.request(method.clone(), &url).send().await.unwrap();
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed"
            );
            assert!(
                !(status == StatusCode::NOT_FOUND && body.contains("\"not found\"")),
                "{method} {path} is documented but answered by the fallback: {body}"
            );
            probed += 1;
        }
    }
    assert!(probed >= 27, "{probed} operations probed");
    // And the fallback does say "not found", so the check above can fail.
    let r = c.get(s.url("/0.1/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("\"not found\""));
}
