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
    #[default]
    TokenOnly,
    /// Refused (403): every protected path must be listed.
    Deny,
}

/// The `gateway` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
        let best = self
            .rules
            .iter()
            .filter(|rule| path.starts_with(&rule.path_prefix))
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

/// The path of `uri`, percent-decoded segment by segment. `None` for paths
/// that a prefix rule could be fooled by: dot segments (`..`, `%2e%2e`),
/// encoded slashes or backslashes, NUL, or invalid encodings.
pub fn normalize_path(uri: &str) -> Option<String> {
    let raw = uri.split(['?', '#']).next().unwrap_or("");
    if !raw.starts_with('/') {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    for segment in raw.split('/').skip(1) {
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .ok()?;
        if decoded == "." || decoded == ".." || decoded.contains(['/', '\\', '\0']) {
            return None;
        }
        out.push('/');
        out.push_str(&decoded);
    }
    if out.is_empty() {
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
            acl_header: None,
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
