//! CAS: service tickets validated against the CAS server (protocol 3.0
//! `/p3/serviceValidate`, or 2.0 `/serviceValidate`), with the XML answer
//! read by a namespace-aware parser.
//!
//! A ticket is sent to the CAS server once: never retried (CAS tickets are
//! single-use, so a retry could only fail), and a ticket seen before is
//! refused without asking.

use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::LocalMatch;
use crate::once::SeenOnce;
use crate::{ExternalIdentity, FederationError};

/// The CAS XML namespace.
pub const CAS_NS: &str = "http://www.yale.edu/tp/cas";
/// Largest validation answer read.
const MAX_RESPONSE: usize = 1024 * 1024;
/// How long a validated (or attempted) ticket is remembered as used.
const SEEN_FOR: Duration = Duration::from_secs(24 * 3600);
/// Most tickets remembered; past it, the oldest are forgotten first (the
/// CAS server refuses a reused ticket anyway: this cache only spares it the
/// question).
const MAX_SEEN: usize = 100_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum CasProtocol {
    #[serde(rename = "2.0")]
    V2,
    #[default]
    #[serde(rename = "3.0")]
    V3,
}

/// The `cas` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasConfig {
    /// The CAS server's base URL, e.g. `https://cas.example.org/cas`.
    pub server_url: String,
    #[serde(default)]
    pub protocol: CasProtocol,
    /// Services whose tickets Sesame validates: exact URLs.
    #[serde(default)]
    pub allowed_services: Vec<String>,
    /// Take the login from this released attribute instead of `cas:user`.
    #[serde(default)]
    pub user_attribute: Option<String>,
    #[serde(default)]
    pub match_local_user_by: LocalMatch,
    /// When set, users without a local account get this policy's ACLs.
    #[serde(default)]
    pub auto_provision_policy: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The browser flow's service URL: Sesame's
    /// `/xuc/api/2.0/auth/cas/callback` as the CAS server reaches it.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Where the browser flow may hand its token over: exact URLs.
    #[serde(default)]
    pub allowed_redirects: Vec<String>,
    /// Seconds a browser has to come back from the CAS login page; when
    /// absent, `oidc.login_timeout_secs` (read for CAS too before this key
    /// existed; deprecated for CAS), whose default is 300.
    #[serde(default)]
    pub login_timeout_secs: Option<u64>,
}

fn default_timeout_ms() -> u64 {
    3000
}

impl CasConfig {
    pub fn validate(&self) -> Result<(), (String, String)> {
        let url = &self.server_url;
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(['?', '#'])
        {
            return Err((
                "server_url".into(),
                "must be an http(s) URL without query".into(),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(("timeout_ms".into(), "must be positive".into()));
        }
        if let Some(callback) = &self.callback_url
            && !(callback.starts_with("https://") || callback.starts_with("http://"))
        {
            return Err(("callback_url".into(), "must be an http(s) URL".into()));
        }
        Ok(())
    }
}

/// What a CAS server answered to a validation.
#[derive(Debug, Clone, PartialEq)]
pub enum CasAnswer {
    Success {
        user: String,
        attributes: Map<String, Value>,
    },
    Failure {
        code: String,
        message: String,
    },
}

/// Read a `cas:serviceResponse` document. `Err` when it is not one.
pub fn parse_service_response(xml: &str) -> Result<CasAnswer, String> {
    let mut reader = NsReader::from_str(xml);
    // (in the CAS namespace, local name) of each open element.
    let mut path: Vec<(bool, String)> = Vec::new();
    let mut text = String::new();
    let mut user: Option<String> = None;
    let mut attributes = Map::new();
    let mut failure: Option<(String, String)> = None;
    let mut success = false;
    let mut seen_root = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("invalid XML: {e}"))?;
        let in_cas = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == CAS_NS);
        match event {
            Event::Start(e) => {
                let local = e.local_name().as_ref().to_owned();
                if path.is_empty() {
                    if !(in_cas && local == "serviceResponse") {
                        return Err(format!("not a CAS answer (root element {local:?})"));
                    }
                    seen_root = true;
                }
                if path.len() == 1 && in_cas && local == "authenticationFailure" {
                    let code = e
                        .try_get_attribute("code")
                        .ok()
                        .flatten()
                        .and_then(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .ok()
                                .map(|v| v.trim().to_owned())
                        })
                        .unwrap_or_default();
                    failure = Some((code, String::new()));
                }
                if path.len() == 1 && in_cas && local == "authenticationSuccess" {
                    success = true;
                }
                path.push((in_cas, local));
                text.clear();
            }
            Event::Empty(e) => {
                if path.is_empty() {
                    return Err("not a CAS answer (empty root)".into());
                }
                let local = e.local_name().as_ref().to_owned();
                if is_attributes(&path) {
                    push_attribute(&mut attributes, local, String::new());
                }
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(c) => text.push_str(&c.into_inner()),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = r.xml10_content();
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("unknown entity &{name};"))?;
                    text.push_str(resolved);
                }
            }
            Event::End(_) => {
                let Some((cas, local)) = path.pop() else {
                    return Err("unbalanced XML".into());
                };
                let value = text.trim().to_owned();
                let parent_is = |name: &str| {
                    path.last().is_some_and(|(c, l)| *c && l == name) && path.len() == 2
                };
                if cas && local == "user" && parent_is("authenticationSuccess") {
                    user = Some(value.clone());
                } else if is_attributes(&path) {
                    push_attribute(&mut attributes, local.clone(), value.clone());
                } else if cas
                    && local == "authenticationFailure"
                    && path.len() == 1
                    && let Some((_, message)) = failure.as_mut()
                {
                    *message = value.clone();
                }
                text.clear();
            }
            Event::Eof if path.is_empty() => break,
            Event::Eof => return Err("truncated XML".into()),
            _ => {}
        }
    }
    if !seen_root {
        return Err("not a CAS answer (no serviceResponse)".into());
    }
    match (failure, success, user) {
        (Some((code, message)), _, _) => Ok(CasAnswer::Failure { code, message }),
        (None, true, Some(user)) if !user.is_empty() => Ok(CasAnswer::Success { user, attributes }),
        _ => Err("a CAS answer with neither a user nor a failure".into()),
    }
}

/// The SAML 2.0 protocol namespace of CAS single-logout requests.
pub const SAMLP_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// The service ticket a CAS single-logout request names (its
/// `samlp:SessionIndex`), if the document is one.
pub fn parse_logout_request(xml: &str) -> Option<String> {
    let mut reader = NsReader::from_str(xml);
    let mut depth = 0usize;
    let mut in_index = false;
    let mut text = String::new();
    loop {
        let (ns, event) = reader.read_resolved_event().ok()?;
        let in_samlp = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == SAMLP_NS);
        match event {
            Event::Start(e) => {
                let local = e.local_name();
                if depth == 0 && !(in_samlp && local.as_ref() == "LogoutRequest") {
                    return None;
                }
                in_index = depth == 1 && in_samlp && local.as_ref() == "SessionIndex";
                depth += 1;
            }
            Event::Text(t) if in_index => text.push_str(&t.xml10_content()),
            Event::End(_) => {
                depth = depth.checked_sub(1)?;
                if in_index {
                    let ticket = text.trim().to_owned();
                    return plausible_ticket(&ticket).then_some(ticket);
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Whether `path` is `serviceResponse/authenticationSuccess/attributes`.
fn is_attributes(path: &[(bool, String)]) -> bool {
    path.len() == 3
        && path[1].0
        && path[1].1 == "authenticationSuccess"
        && path[2].0
        && path[2].1 == "attributes"
}

fn push_attribute(attributes: &mut Map<String, Value>, name: String, value: String) {
    match attributes.get_mut(&name) {
        None => {
            attributes.insert(name, Value::String(value));
        }
        Some(Value::Array(values)) => values.push(Value::String(value)),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, Value::String(value)]);
        }
    }
}

/// Whether a ticket looks like one: `ST-` or `PT-`, printable ASCII, short.
pub fn plausible_ticket(ticket: &str) -> bool {
    (ticket.starts_with("ST-") || ticket.starts_with("PT-"))
        && ticket.len() <= 256
        && ticket.bytes().all(|b| b.is_ascii_graphic())
}

/// A CAS client: validation, and the login URL of the browser flow.
pub struct CasClient {
    pub config: CasConfig,
    http: reqwest::Client,
    /// Tickets already sent.
    seen: SeenOnce,
}

impl std::fmt::Debug for CasClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CasClient")
            .field("server_url", &self.config.server_url)
            .finish()
    }
}

impl CasClient {
    pub fn new(config: CasConfig) -> Result<Self, String> {
        config.validate().map_err(|(k, m)| format!("{k}: {m}"))?;
        let http = crate::http_client(config.timeout_ms, config.ca_file.as_deref())?;
        Ok(CasClient {
            config,
            http,
            seen: SeenOnce::new(MAX_SEEN, SEEN_FOR),
        })
    }

    fn base(&self) -> &str {
        self.config.server_url.trim_end_matches('/')
    }

    /// Whether tickets for `service` may be validated: an exact match with
    /// the allow-list or the browser flow's callback.
    pub fn service_allowed(&self, service: &str) -> bool {
        self.config.allowed_services.iter().any(|s| s == service)
            || self.config.callback_url.as_deref() == Some(service)
    }

    /// The service URL of one browser login: the callback with the login's
    /// `state` in its query. CAS issues the ticket for exactly this URL and
    /// validates it only for it, so a ticket obtained by someone else (for
    /// their own state) cannot finish this browser's login.
    pub fn callback_for(&self, state: &str) -> Option<String> {
        let callback = self.config.callback_url.as_deref()?;
        let separator = if callback.contains('?') { '&' } else { '?' };
        Some(format!(
            "{callback}{separator}state={}",
            utf8_percent_encode(state, NON_ALPHANUMERIC)
        ))
    }

    /// The CAS login page for `service`.
    pub fn login_url(&self, service: &str) -> String {
        format!(
            "{}/login?service={}",
            self.base(),
            utf8_percent_encode(service, NON_ALPHANUMERIC)
        )
    }

    /// Validate `ticket` for `service` with the CAS server (once).
    pub async fn validate(
        &self,
        service: &str,
        ticket: &str,
    ) -> Result<ExternalIdentity, FederationError> {
        if !plausible_ticket(ticket) {
            return Err(FederationError::Rejected("not a CAS service ticket".into()));
        }
        if !self.seen.first_use(ticket) {
            return Err(FederationError::Rejected("replayed ticket".into()));
        }
        let path = match self.config.protocol {
            CasProtocol::V3 => "p3/serviceValidate",
            CasProtocol::V2 => "serviceValidate",
        };
        let url = format!("{}/{path}", self.base());
        let unavailable = |m: String| FederationError::Unavailable(format!("CAS server: {m}"));
        let response = self
            .http
            .get(&url)
            .query(&[("service", service), ("ticket", ticket)])
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("answered HTTP {}", response.status())));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if body.len() > MAX_RESPONSE {
            return Err(unavailable("answer too large".into()));
        }
        let text = String::from_utf8_lossy(&body);
        match parse_service_response(&text).map_err(unavailable)? {
            CasAnswer::Failure { code, message } if code == "INTERNAL_ERROR" => {
                Err(unavailable(format!("INTERNAL_ERROR {message}")))
            }
            CasAnswer::Failure { code, message } => Err(FederationError::Rejected(format!(
                "CAS refused the ticket: {code} {message}"
            ))),
            CasAnswer::Success { user, attributes } => {
                let subject = match &self.config.user_attribute {
                    None => user,
                    Some(name) => match attributes.get(name) {
                        Some(Value::String(v)) if !v.is_empty() => v.clone(),
                        Some(Value::Array(v)) => v
                            .first()
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .ok_or_else(|| {
                                FederationError::Rejected(format!("attribute {name:?} is empty"))
                            })?,
                        _ => {
                            return Err(FederationError::Rejected(format!(
                                "CAS released no {name:?} attribute"
                            )));
                        }
                    },
                };
                Ok(ExternalIdentity {
                    source: "cas",
                    issuer: self.config.server_url.clone(),
                    subject,
                    attributes,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUCCESS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
  <cas:authenticationSuccess>
    <cas:user>alice</cas:user>
    <cas:attributes>
      <cas:email>alice@example.org</cas:email>
      <cas:memberOf>uc &amp; admins</cas:memberOf>
      <cas:memberOf><![CDATA[ops<1>]]></cas:memberOf>
      <cas:isFromNewLogin>true</cas:isFromNewLogin>
    </cas:attributes>
  </cas:authenticationSuccess>
</cas:serviceResponse>"#;

    #[test]
    fn a_success_gives_the_user_and_attributes() {
        let CasAnswer::Success { user, attributes } = parse_service_response(SUCCESS).unwrap()
        else {
            panic!("not a success");
        };
        assert_eq!(user, "alice");
        assert_eq!(attributes["email"], "alice@example.org");
        assert_eq!(
            attributes["memberOf"],
            serde_json::json!(["uc & admins", "ops<1>"])
        );
    }

    #[test]
    fn the_namespace_counts_not_the_prefix() {
        let other_prefix = SUCCESS
            .replace("cas:", "x:")
            .replace("xmlns:cas", "xmlns:x");
        assert!(matches!(
            parse_service_response(&other_prefix),
            Ok(CasAnswer::Success { .. })
        ));
        let wrong_ns = SUCCESS.replace("http://www.yale.edu/tp/cas", "urn:evil");
        assert!(parse_service_response(&wrong_ns).is_err());
        // A user element outside authenticationSuccess is not the user.
        let smuggled = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:user>root</cas:user></cas:serviceResponse>"#;
        assert!(parse_service_response(smuggled).is_err());
    }

    #[test]
    fn failures_and_garbage() {
        let failure = r#"<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>
            <cas:authenticationFailure code="INVALID_TICKET">Ticket ST-1 not recognized</cas:authenticationFailure>
        </cas:serviceResponse>"#;
        assert_eq!(
            parse_service_response(failure).unwrap(),
            CasAnswer::Failure {
                code: "INVALID_TICKET".into(),
                message: "Ticket ST-1 not recognized".into()
            }
        );
        for garbage in [
            "",
            "yes\nalice\n",
            "<html><body>502 Bad Gateway</body></html>",
            "<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:authenticationSuccess></cas:authenticationSuccess></cas:serviceResponse>",
            "<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:authenticationSuccess><cas:user>a</cas:user>",
            "<!DOCTYPE x [<!ENTITY e 'boom'>]><cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:authenticationSuccess><cas:user>&e;</cas:user></cas:authenticationSuccess></cas:serviceResponse>",
        ] {
            assert!(parse_service_response(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn logout_requests_name_their_ticket() {
        let request = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
            xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="x" Version="2.0" IssueInstant="2026-11-23T00:00:00Z">
            <saml:NameID>alice</saml:NameID>
            <samlp:SessionIndex>ST-12-abc</samlp:SessionIndex>
        </samlp:LogoutRequest>"#;
        assert_eq!(parse_logout_request(request).as_deref(), Some("ST-12-abc"));
        assert_eq!(
            parse_logout_request(&request.replace("urn:oasis:names:tc:SAML:2.0:protocol", "urn:x")),
            None
        );
        assert_eq!(
            parse_logout_request(&request.replace("ST-12-abc", "TGT-1")),
            None
        );
        assert_eq!(parse_logout_request("<a/>"), None);
        assert_eq!(parse_logout_request("garbage"), None);
    }

    #[test]
    fn tickets_are_checked_before_sending() {
        assert!(plausible_ticket("ST-1-abcDEF-cas01"));
        assert!(plausible_ticket("PT-22-x"));
        for bad in [
            "",
            "TGT-1-x",
            "ST-1 x",
            "ST-é",
            &format!("ST-{}", "a".repeat(300)),
        ] {
            assert!(!plausible_ticket(bad), "{bad}");
        }
    }

    fn client() -> CasClient {
        CasClient::new(CasConfig {
            server_url: "http://127.0.0.1:1/cas".into(),
            protocol: CasProtocol::V3,
            allowed_services: vec!["https://app.example.org/".into()],
            user_attribute: None,
            match_local_user_by: LocalMatch::Login,
            auto_provision_policy: None,
            timeout_ms: 500,
            ca_file: None,
            callback_url: Some("https://sesame.example.org/xuc/api/2.0/auth/cas/callback".into()),
            allowed_redirects: vec![],
            login_timeout_secs: None,
        })
        .unwrap()
    }

    #[test]
    fn the_callback_of_a_login_names_its_state() {
        let c = client();
        assert_eq!(
            c.callback_for("abc123").unwrap(),
            "https://sesame.example.org/xuc/api/2.0/auth/cas/callback?state=abc123"
        );
        let mut with_query = c.config.clone();
        with_query.callback_url = Some("https://s.example/cb?x=1".into());
        let c = CasClient::new(with_query).unwrap();
        assert_eq!(
            c.callback_for("a b").unwrap(),
            "https://s.example/cb?x=1&state=a%20b"
        );
    }

    #[test]
    fn services_match_exactly() {
        let c = client();
        assert!(c.service_allowed("https://app.example.org/"));
        assert!(c.service_allowed("https://sesame.example.org/xuc/api/2.0/auth/cas/callback"));
        for other in [
            "https://app.example.org",
            "https://app.example.org/x",
            "https://app.example.org/?a",
            "https://app.example.org.evil/",
        ] {
            assert!(!c.service_allowed(other), "{other}");
        }
        assert_eq!(
            c.login_url("https://app.example.org/"),
            "http://127.0.0.1:1/cas/login?service=https%3A%2F%2Fapp%2Eexample%2Eorg%2F"
        );
    }

    #[tokio::test]
    async fn a_ticket_goes_out_once_and_a_down_server_is_unavailable() {
        let c = client();
        let first = c.validate("https://app.example.org/", "ST-1-abc").await;
        assert!(
            matches!(first, Err(FederationError::Unavailable(_))),
            "{first:?}"
        );
        let again = c.validate("https://app.example.org/", "ST-1-abc").await;
        assert!(
            matches!(again, Err(FederationError::Rejected(_))),
            "{again:?}"
        );
    }
}
