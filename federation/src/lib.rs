//! External credentials for Sesame.
//!
//! Each protocol module (Kerberos/SPNEGO, CAS, OpenID Connect) verifies a
//! proof issued by another party and yields an [`ExternalIdentity`]. This crate
//! knows nothing of HTTP routing nor of Sesame tokens: the server maps the
//! external identity to a local user and issues the token.

pub mod cas;
pub mod kerberos;
pub mod oidc;
pub mod once;
pub mod websession;

use serde::Serialize;

/// An identity vouched for by an external authority.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalIdentity {
    /// Which kind of verifier produced it (`kerberos`, `cas`, `oidc`).
    pub source: &'static str,
    /// The authority that vouched for it: a Kerberos realm, a CAS server URL,
    /// an OpenID issuer.
    pub issuer: String,
    /// The subject as the authority names it (principal, CAS user, claim).
    pub subject: String,
    /// Further attributes released by the authority (e-mail, groups, ...).
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// What the subject of a verified identity is, for the server that matches
/// it to a local user (`match_local_user_by` of each protocol's section):
/// the protocol only names its subject accordingly (a Kerberos principal's
/// name, or the whole principal as an e-mail), and never looks accounts up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalMatch {
    /// The subject is a local login.
    #[default]
    Login,
    /// The subject is an e-mail of a local UC user.
    Email,
}

/// Why an external proof was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The proof is invalid: forged, expired, replayed, for another audience.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The authority, or something needed to check the proof, is out of
    /// reach; the user is not at fault.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl FederationError {
    /// Whether the failure is on our side or upstream (HTTP 503), rather than
    /// a bad proof (HTTP 401).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, FederationError::Unavailable(_))
    }
}

/// An HTTP client for an authority: timeouts on connect and on the whole
/// request, no redirects followed, and the CAs of `ca_file` (PEM) added to
/// the trusted roots when given.
pub fn http_client(
    timeout_ms: u64,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, String> {
    let timeout = std::time::Duration::from_millis(timeout_ms);
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("ca_file {}: no PEM certificate", path.display()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_errors_are_unavailable() {
        assert!(FederationError::Unavailable("kdc".into()).is_unavailable());
        assert!(!FederationError::Rejected("bad ticket".into()).is_unavailable());
    }
}
