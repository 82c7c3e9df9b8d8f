//! Web sessions: a web application's session cookie, checked by asking that
//! application who the session belongs to and which permissions it has; the
//! permissions are flattened to dotted paths and mapped to ACLs by a table.
//!
//! The application answers `GET <validation_url>` (with the forwarded
//! cookies) with 200 and
//! `{"login": "...", "uuid": "...", "superuser": false, "permissions": ...}`,
//! where `permissions` is a nested object with boolean leaves
//! (`{"service": {"ipbx": {"general_settings": {"sip": true}}}}`), lists of
//! names at any level (`{"service": {"ipbx": ["users", "lines"]}}`), or a list
//! of dotted paths; 401 or 403 for a session that is not (or no longer) valid.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{ExternalIdentity, FederationError};

/// Deepest nesting of a permission document.
const MAX_DEPTH: usize = 16;
/// Most permission paths read from one answer.
const MAX_PATHS: usize = 10_000;
/// Largest answer read.
const MAX_ANSWER: usize = 1024 * 1024;

/// One ACL or several.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum AclList {
    One(String),
    Many(Vec<String>),
}

impl AclList {
    fn iter(&self) -> Box<dyn Iterator<Item = &String> + '_> {
        match self {
            AclList::One(acl) => Box::new(std::iter::once(acl)),
            AclList::Many(acls) => Box::new(acls.iter()),
        }
    }
}

/// The `web_session` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSessionConfig {
    /// Where the web application says whose a session is.
    pub validation_url: String,
    /// Cookies forwarded to it; the others are not.
    pub cookie_names: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Permission path → ACL(s). Unmapped permissions give nothing.
    #[serde(default)]
    pub permission_map: BTreeMap<String, AclList>,
    /// A policy whose ACLs a `"superuser": true` answer gets.
    #[serde(default)]
    pub superuser_policy: Option<String>,
}

fn default_timeout_ms() -> u64 {
    3000
}

impl WebSessionConfig {
    pub fn validate(&self) -> Result<(), (String, String)> {
        let url = &self.validation_url;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(("validation_url".into(), "must be an http(s) URL".into()));
        }
        if self.cookie_names.is_empty() || self.cookie_names.iter().any(|c| !is_token(c)) {
            return Err((
                "cookie_names".into(),
                "list the session cookie's name(s)".into(),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(("timeout_ms".into(), "must be positive".into()));
        }
        for (path, acls) in &self.permission_map {
            for acl in acls.iter() {
                if acl.is_empty() || acl.contains(char::is_whitespace) {
                    return Err((
                        format!("permission_map.{path}"),
                        format!("{acl:?} is not an ACL"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The ACLs a set of permission paths maps to, each once, in table order.
    pub fn map_permissions(&self, paths: &[String]) -> Vec<String> {
        let mut acl: Vec<String> = Vec::new();
        for (path, acls) in &self.permission_map {
            if paths.iter().any(|p| p == path) {
                for entry in acls.iter() {
                    if !acl.contains(entry) {
                        acl.push(entry.clone());
                    }
                }
            }
        }
        acl
    }
}

/// An RFC 6265 cookie name.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// The permission paths of a document: dotted paths to `true` leaves, and
/// to the names listed in arrays. Sorted, each once.
pub fn flatten_permissions(document: &Value) -> Vec<String> {
    fn walk(value: &Value, prefix: &str, depth: usize, out: &mut Vec<String>) {
        if depth > MAX_DEPTH || out.len() >= MAX_PATHS {
            return;
        }
        let join = |name: &str| {
            if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            }
        };
        match value {
            Value::Bool(true) if !prefix.is_empty() => out.push(prefix.to_owned()),
            Value::Object(map) => {
                for (key, child) in map {
                    if !key.is_empty() {
                        walk(child, &join(key), depth + 1, out);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(name) if !name.is_empty() => out.push(join(name)),
                        Value::Object(_) => walk(item, prefix, depth + 1, out),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(document, "", 0, &mut out);
    out.retain(|p| !p.split('.').any(str::is_empty));
    out.sort();
    out.dedup();
    out.truncate(MAX_PATHS);
    out
}

/// Asks the web application about a session.
pub struct WebSessionVerifier {
    pub config: WebSessionConfig,
    http: reqwest::Client,
}

impl std::fmt::Debug for WebSessionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSessionVerifier")
            .field("validation_url", &self.config.validation_url)
            .finish()
    }
}

impl WebSessionVerifier {
    pub fn new(config: WebSessionConfig) -> Result<Self, String> {
        config.validate().map_err(|(k, m)| format!("{k}: {m}"))?;
        let http = crate::http_client(config.timeout_ms, config.ca_file.as_deref())?;
        Ok(WebSessionVerifier { config, http })
    }

    /// The configured cookies of a request's `Cookie` headers, as one
    /// `Cookie` value; `None` when there is none of them.
    pub fn forwarded_cookies<'a>(&self, headers: impl Iterator<Item = &'a str>) -> Option<String> {
        let kept: Vec<&str> = headers
            .flat_map(|h| h.split(';'))
            .map(str::trim)
            .filter(|pair| {
                pair.split_once('=').is_some_and(|(name, value)| {
                    !value.is_empty() && self.config.cookie_names.iter().any(|c| c == name)
                })
            })
            .collect();
        (!kept.is_empty()).then(|| kept.join("; "))
    }

    /// Ask the web application whose session `cookie` (a `Cookie` header
    /// value) is, and with which permissions.
    pub async fn verify(&self, cookie: &str) -> Result<ExternalIdentity, FederationError> {
        let unavailable = |m: String| FederationError::Unavailable(format!("web application: {m}"));
        let response = self
            .http
            .get(&self.config.validation_url)
            .header(reqwest::header::COOKIE, cookie)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(FederationError::Rejected(
                "the web application does not know this session".into(),
            ));
        }
        if !status.is_success() {
            return Err(unavailable(format!("answered HTTP {status}")));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if body.len() > MAX_ANSWER {
            return Err(unavailable("answer too large".into()));
        }
        let answer: Map<String, Value> = serde_json::from_slice(&body)
            .map_err(|_| unavailable("the answer is not a JSON object".into()))?;
        let login = answer
            .get("login")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| unavailable("the answer has no login".into()))?
            .to_owned();
        let permissions = flatten_permissions(answer.get("permissions").unwrap_or(&Value::Null));
        let mut attributes = Map::new();
        attributes.insert(
            "permissions".into(),
            Value::Array(permissions.into_iter().map(Value::String).collect()),
        );
        attributes.insert(
            "superuser".into(),
            Value::Bool(
                answer
                    .get("superuser")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
        );
        if let Some(uuid) = answer.get("uuid").and_then(Value::as_str) {
            attributes.insert("uuid".into(), Value::String(uuid.to_owned()));
        }
        Ok(ExternalIdentity {
            source: "web_session",
            issuer: self.config.validation_url.clone(),
            subject: login,
            attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_flatten_to_paths() {
        let nested = json!({"service": {"ipbx": {
            "general_settings": {"sip": true, "iax": false},
            "users": true,
            "lines": ["read", "write"],
            "odd": 1,
        }}});
        assert_eq!(
            flatten_permissions(&nested),
            vec![
                "service.ipbx.general_settings.sip",
                "service.ipbx.lines.read",
                "service.ipbx.lines.write",
                "service.ipbx.users",
            ]
        );
        let list = json!(["service.ipbx.users", "service.ipbx.users", "a..b", ""]);
        assert_eq!(flatten_permissions(&list), vec!["service.ipbx.users"]);
        assert!(flatten_permissions(&json!(true)).is_empty());
        assert!(flatten_permissions(&Value::Null).is_empty());
        let mut deep = json!(true);
        for _ in 0..40 {
            deep = json!({"x": deep});
        }
        assert!(flatten_permissions(&deep).is_empty(), "too deep is nothing");
    }

    fn config() -> WebSessionConfig {
        serde_json::from_value(json!({
            "validation_url": "http://127.0.0.1:1/api/session",
            "cookie_names": ["sessionid"],
            "timeout_ms": 500,
            "permission_map": {
                "service.ipbx.general_settings.sip": "confd.asterisk.sip.general.#",
                "service.ipbx.users": ["confd.users.read", "confd.users.update"],
                "service.ipbx.lines": "confd.lines.read",
            },
        }))
        .unwrap()
    }

    #[test]
    fn unmapped_permissions_give_nothing() {
        let c = config();
        assert!(c.validate().is_ok());
        let paths = vec![
            "service.ipbx.users".to_string(),
            "service.ipbx".to_string(),
            "service.ipbx.general_settings.sip".to_string(),
            "service.unknown".to_string(),
        ];
        assert_eq!(
            c.map_permissions(&paths),
            vec![
                "confd.asterisk.sip.general.#",
                "confd.users.read",
                "confd.users.update"
            ]
        );
        assert!(c.map_permissions(&[]).is_empty());
    }

    #[test]
    fn only_the_configured_cookies_are_forwarded() {
        let v = WebSessionVerifier::new(config()).unwrap();
        let headers = ["theme=dark; sessionid=abc", "other=1; sessionid="];
        assert_eq!(
            v.forwarded_cookies(headers.into_iter()).as_deref(),
            Some("sessionid=abc")
        );
        assert_eq!(v.forwarded_cookies(["theme=dark"].into_iter()), None);
    }

    #[tokio::test]
    async fn an_unreachable_application_is_unavailable() {
        let v = WebSessionVerifier::new(config()).unwrap();
        assert!(matches!(
            v.verify("sessionid=abc").await,
            Err(FederationError::Unavailable(_))
        ));
    }

    #[test]
    fn bad_configs_name_the_key() {
        let mut c = config();
        c.cookie_names = vec!["a;b".into()];
        assert_eq!(c.validate().unwrap_err().0, "cookie_names");
        let mut c = config();
        c.permission_map
            .insert("x".into(), AclList::One("two words".into()));
        assert_eq!(c.validate().unwrap_err().0, "permission_map.x");
    }
}
