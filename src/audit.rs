//! Audit events: one structured event per authentication attempt, token
//! issued and token revoked (each also counted in the metrics), under the
//! tracing target [`TARGET`], so that
//! an operator can send them apart (`--audit-log FILE` writes them as JSON
//! lines; see docs/security.md).
//!
//! Fields: `event` (`authentication`, `token_issued`, `token_revoked`),
//! `method` (a password backend, `uc_login`, or a protocol: `kerberos`,
//! `oidc`, `cas`, `web_session`), `login`, `outcome`, `reason`,
//! `client_addr`, and for tokens `token_id` (a prefix of the token's SHA-256,
//! the same as the store's key) and `session`. Never a token, a password or a
//! ticket. `request_id` is the id of the request that caused the event
//! (empty for events outside a request).

use crate::store::TokenKey;

/// The tracing target of audit events.
pub const TARGET: &str = "sesame::audit";

/// How an authentication attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted: a token follows.
    Accepted,
    /// The credentials (or the external proof) were refused.
    Refused,
    /// Refused by the brute-force throttle, credentials unchecked.
    Throttled,
    /// Not decided: a backend, an upstream or the store was unavailable.
    Unavailable,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Refused => "refused",
            Outcome::Throttled => "throttled",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// Client-supplied text as it may appear in logs and audit events: at most
/// 128 characters (the rest elided), control characters escaped, so that no
/// input floods the log or forges a line of it.
pub fn loggable(text: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 128;
    let clean = text.chars().count() <= MAX && !text.chars().any(char::is_control);
    if clean {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    std::borrow::Cow::Owned(out)
}

/// The short form of a token's key used in audit events and logs.
pub fn token_id(key: &TokenKey) -> String {
    let hex = key.to_hex();
    hex.get(..16).unwrap_or(&hex).to_owned()
}

/// An authentication attempt. `login` is what the client claimed (or the
/// verified subject for external proofs; empty when the proof named nobody).
pub fn attempt(
    method: &str,
    login: &str,
    outcome: Outcome,
    reason: Option<&str>,
    client_addr: Option<&str>,
) {
    crate::metrics::global().authentication(method, outcome.as_str());
    tracing::info!(
        target: TARGET,
        event = "authentication",
        request_id = %crate::request_id::current(),
        method,
        login = %loggable(login),
        outcome = outcome.as_str(),
        reason = %loggable(reason.unwrap_or("")),
        client_addr = client_addr.unwrap_or(""),
    );
}

/// A token issued to `login` through `method`.
pub fn token_issued(
    method: &str,
    login: &str,
    key: &TokenKey,
    session: &str,
    lifetime_secs: u64,
    client_addr: Option<&str>,
) {
    crate::metrics::global().token_issued(method);
    tracing::info!(
        target: TARGET,
        event = "token_issued",
        request_id = %crate::request_id::current(),
        method,
        login = %loggable(login),
        token_id = %token_id(key),
        session,
        lifetime_secs,
        client_addr = client_addr.unwrap_or(""),
    );
}

/// A token revoked (by its holder, an introspection client, or single logout).
pub fn token_revoked(key: &TokenKey, why: &str) {
    crate::metrics::global().token_revoked();
    tracing::info!(
        target: TARGET,
        event = "token_revoked",
        request_id = %crate::request_id::current(),
        token_id = %token_id(key),
        reason = why,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_is_bounded_and_cannot_forge_lines() {
        assert_eq!(loggable("alice"), "alice");
        assert_eq!(loggable("ålice"), "ålice");
        assert_eq!(loggable("a\nINFO fake\u{1b}[0m"), "a\\nINFO fake\\u{1b}[0m");
        let input = "x".repeat(50_000);
        let long = loggable(&input);
        assert_eq!(long.chars().count(), 129);
        assert!(long.ends_with('…'));
    }
}
