//! The gateway check (nginx `auth_request`, Envoy `ext_authz`, Traefik
//! `forwardAuth`): which ACL, if any, a request to the protected service
//! needs, derived from the original method and path by configured rules.

use serde::Deserialize;

/// One rule: requests whose path starts with `path_prefix` (and whose method
/// is in `methods`, when given) need `acl`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayRule {
    pub path_prefix: String,
    #[serde(default)]
    pub methods: Vec<String>,
    /// The ACL to check; `None` means "any valid token".
    #[serde(default)]
    pub acl: Option<String>,
}

/// What happens to a path no rule matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// Any valid token passes.
    TokenOnly,
    /// Refused (403): every protected path must be listed. The default: a
    /// path forgotten in the rules is closed, not open to every token.
    #[default]
    Deny,
}

/// The `gateway` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    #[serde(default)]
    pub rules: Vec<GatewayRule>,
    #[serde(default)]
    pub unmatched: Unmatched,
    /// A request header that names the ACL to check, set by the gateway
    /// (`proxy_set_header X-Required-Acl ...`). Off unless named: a client
    /// could otherwise send its own.
    #[serde(default)]
    pub acl_header: Option<String>,
    /// Whether rules match paths letter case and all. Off by default: the
    /// path is compared case-folded, as many back ends (and every one on a
    /// case-insensitive file system) would serve `/API/confd/` as `/api/confd/`.
    #[serde(default)]
    pub case_sensitive: bool,
    /// The headers the gateway puts the original path and query, and
    /// method, in (Traefik: `X-Forwarded-Uri`, `X-Forwarded-Method`). The
    /// gateway must always set them, replacing whatever the client sent.
    #[serde(default = "default_uri_header")]
    pub original_uri_header: String,
    #[serde(default = "default_method_header")]
    pub original_method_header: String,
}

fn default_uri_header() -> String {
    "X-Original-URI".into()
}

fn default_method_header() -> String {
    "X-Original-Method".into()
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            rules: Vec::new(),
            unmatched: Unmatched::default(),
            acl_header: None,
            case_sensitive: false,
            original_uri_header: default_uri_header(),
            original_method_header: default_method_header(),
        }
    }
}

/// What the gateway check requires of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// A valid token.
    Token,
    /// A valid token granting this ACL.
    Acl(String),
    /// Nothing passes (unlisted path with `unmatched: deny`, or a path that
    /// tries to climb out of its prefix).
    Deny,
}

impl GatewayConfig {
    /// Check the rules. Errors name the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.path_prefix.starts_with('/') {
                return Err((
                    format!("gateway.rules[{i}].path_prefix"),
                    "must start with /".into(),
                ));
            }
            if let Some(acl) = &rule.acl
                && (acl.is_empty() || acl.contains(char::is_whitespace))
            {
                return Err((
                    format!("gateway.rules[{i}].acl"),
                    "must be one ACL, without spaces".into(),
                ));
            }
        }
        Ok(())
    }

    /// The requirement for `method` on `uri` (path and query, as the client
    /// sent them). The longest matching prefix wins; among rules with the
    /// same prefix, the first whose methods match.
    pub fn requirement(&self, method: &str, uri: &str) -> Requirement {
        let Some(path) = normalize_path(uri) else {
            return Requirement::Deny;
        };
        let path = if self.case_sensitive {
            path
        } else {
            path.to_lowercase()
        };
        let best = self
            .rules
            .iter()
            .filter(|rule| {
                if self.case_sensitive {
                    path.starts_with(&rule.path_prefix)
                } else {
                    path.starts_with(&rule.path_prefix.to_lowercase())
                }
            })
            .filter(|rule| {
                rule.methods.is_empty()
                    || rule.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
            })
            .fold(None::<&GatewayRule>, |best, rule| match best {
                Some(b) if b.path_prefix.len() >= rule.path_prefix.len() => Some(b),
                _ => Some(rule),
            });
        match (best, self.unmatched) {
            (Some(rule), _) => match &rule.acl {
                Some(acl) => Requirement::Acl(acl.clone()),
                None => Requirement::Token,
            },
            (None, Unmatched::TokenOnly) => Requirement::Token,
            (None, Unmatched::Deny) => Requirement::Deny,
        }
    }
}

/// The path of `uri` as back ends read it: empty segments dropped (`//a` is
/// `/a`, as nginx's `merge_slashes` and most routers have it), each
/// segment's `;parameters` dropped (Tomcat, Spring and Jetty ignore them:
/// `/api;x=1/confd` is `/api/confd` there), then percent-decoded. `None`
/// for paths that a prefix rule could be fooled by: dot segments (`..`,
/// `%2e%2e`), encoded slashes, backslashes or semicolons, NUL, or invalid
/// encodings.
pub fn normalize_path(uri: &str) -> Option<String> {
    let raw = uri.split(['?', '#']).next().unwrap_or("");
    if !raw.starts_with('/') {
        return None;
    }
    let trailing = raw.len() > 1 && raw.ends_with('/');
    let mut out = String::with_capacity(raw.len());
    for segment in raw.split('/').skip(1) {
        let segment = segment.split(';').next().unwrap_or("");
        if segment.is_empty() {
            continue;
        }
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .ok()?;
        if decoded == "." || decoded == ".." || decoded.contains(['/', '\\', '\0', ';']) {
            return None;
        }
        out.push('/');
        out.push_str(&decoded);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str, methods: &[&str], acl: Option<&str>) -> GatewayRule {
        GatewayRule {
            path_prefix: prefix.into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            acl: acl.map(String::from),
        }
    }

    fn config(unmatched: Unmatched) -> GatewayConfig {
        GatewayConfig {
            rules: vec![
                rule("/api/confd/", &["GET", "HEAD"], Some("confd.read")),
                rule("/api/confd/", &[], Some("confd.write")),
                rule("/api/confd/users/me", &[], Some("confd.users.me.read")),
                rule("/public/", &[], None),
            ],
            unmatched,
            ..GatewayConfig::default()
        }
    }

    #[test]
    fn the_longest_prefix_then_the_method_decide() {
        let c = config(Unmatched::TokenOnly);
        let acl = |m: &str, u: &str| c.requirement(m, u);
        assert_eq!(
            acl("GET", "/api/confd/lines?x=1"),
            Requirement::Acl("confd.read".into())
        );
        assert_eq!(
            acl("get", "/api/confd/lines"),
            Requirement::Acl("confd.read".into())
        );
        assert_eq!(
            acl("DELETE", "/api/confd/lines/1"),
            Requirement::Acl("confd.write".into())
        );
        assert_eq!(
            acl("GET", "/api/confd/users/me"),
            Requirement::Acl("confd.users.me.read".into())
        );
        assert_eq!(acl("GET", "/public/x"), Requirement::Token);
        assert_eq!(acl("GET", "/elsewhere"), Requirement::Token);
        let strict = config(Unmatched::Deny);
        assert_eq!(strict.requirement("GET", "/elsewhere"), Requirement::Deny);
    }

    #[test]
    fn paths_cannot_climb_out_of_a_prefix() {
        let c = config(Unmatched::TokenOnly);
        for sneaky in [
            "/public/../api/confd/lines",
            "/public/%2e%2e/api/confd/lines",
            "/public/%2E%2e/api/confd/lines",
            "/public%2f..%2fapi/confd",
            "/public/.%2e/api",
            "/public/..%5capi",
            "/public/%00",
            "/public/%ff",
            "relative/path",
        ] {
            assert_eq!(c.requirement("GET", sneaky), Requirement::Deny, "{sneaky}");
        }
        // Encoded ordinary characters are fine and match decoded.
        assert_eq!(
            c.requirement("GET", "/api/%63onfd/lines"),
            Requirement::Acl("confd.read".into())
        );
    }

    /// The paths an outside review sent past a `DELETE` rule: back ends
    /// read them as `/api/confd/users/1`, and so does the check now.
    #[test]
    fn paths_are_read_as_back_ends_read_them() {
        let c = config(Unmatched::TokenOnly);
        for spelled in [
            "/api/confd/users/1",
            "//api/confd/users/1",
            "/api//confd///users/1",
            "/api;x=1/confd/users/1",
            "/api/confd;/users/1",
            "/api/confd;jsessionid=1/users/1",
            "/API/confd/users/1",
            "/Api/Confd/users/1",
        ] {
            assert_eq!(
                c.requirement("DELETE", spelled),
                Requirement::Acl("confd.write".into()),
                "{spelled}"
            );
        }
        assert_eq!(normalize_path("/a//b/").as_deref(), Some("/a/b/"));
        assert_eq!(normalize_path("//").as_deref(), Some("/"));
        for sneaky in ["/api%3bx/confd", "/api/..;/confd", "/public/;/../api"] {
            assert_eq!(c.requirement("GET", sneaky), Requirement::Deny, "{sneaky}");
        }
        let exact = GatewayConfig {
            case_sensitive: true,
            ..config(Unmatched::Deny)
        };
        assert_eq!(
            exact.requirement("DELETE", "/API/confd/users/1"),
            Requirement::Deny
        );
    }

    #[test]
    fn unlisted_paths_are_refused_by_default() {
        let c: GatewayConfig = serde_json::from_value(serde_json::json!({
            "rules": [{"path_prefix": "/api/public/"}]
        }))
        .unwrap();
        assert_eq!(c.unmatched, Unmatched::Deny);
        assert_eq!(c.requirement("GET", "/api/other"), Requirement::Deny);
        assert_eq!(c.requirement("GET", "/api/public/x"), Requirement::Token);
    }

    #[test]
    fn rules_are_validated() {
        let mut c = config(Unmatched::TokenOnly);
        assert!(c.validate().is_ok());
        c.rules.push(rule("api", &[], None));
        assert_eq!(c.validate().unwrap_err().0, "gateway.rules[4].path_prefix");
        c.rules.pop();
        c.rules.push(rule("/x", &[], Some("a b")));
        assert_eq!(c.validate().unwrap_err().0, "gateway.rules[4].acl");
    }
}
