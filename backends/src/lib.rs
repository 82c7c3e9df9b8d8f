//! Password backends of Sesame.
//!
//! A [`Backend`] checks a login and a password and answers with a
//! [`VerifiedIdentity`] (who the user is, which ACLs and metadata the token
//! should carry), or with a [`BackendError`] that tells wrong credentials from
//! an unavailable backend. Backends know nothing of HTTP or of tokens.

pub mod groups;
pub mod ldap;
pub mod local;
pub mod password;
pub mod sql;
pub mod srv;
mod tls;

use async_trait::async_trait;
use serde_json::{Map, Value};

pub use password::{Password, PasswordHasher};

/// The names of the stock local backends.
pub const XIVO_USER: &str = "xivo_user";
pub const XIVO_ADMIN: &str = "xivo_admin";
pub const XIVO_SERVICE: &str = "xivo_service";
/// The name of the LDAP backend.
pub const LDAP_USER: &str = "ldap_user";

/// Add the ACLs of `more` that `acl` does not hold yet, in their order.
pub fn merge_acl(acl: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    for entry in more {
        if !acl.contains(&entry) {
            acl.push(entry);
        }
    }
}

/// An error and its causes, as one line (a TLS or socket reason is often
/// only a cause of the error a client library returns).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// Who a backend says the user is.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedIdentity {
    /// The stable identifier of the authenticated principal (a UUID for local accounts).
    pub auth_id: String,
    /// The UC user's UUID when the principal is a UC user.
    pub user_uuid: Option<String>,
    /// The login the user typed, as the backend knows it.
    pub login: String,
    /// ACLs the token should carry.
    pub acl: Vec<String>,
    /// Metadata the token should carry.
    pub metadata: Map<String, Value>,
}

/// Why a backend did not authenticate a user.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Unknown login, wrong password, or an account that may not log in.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The backend cannot answer now (directory down, timeout): not the user's fault.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// A fault inside Sesame (corrupt hash, worker pool gone).
    #[error("internal backend error: {0}")]
    Internal(String),
}

impl BackendError {
    /// Whether the error should be reported as 503 rather than blamed on the user.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BackendError::Unavailable(_))
    }
}

/// What an account is looked up by when no password is checked: the
/// subject or e-mail of an identity another protocol proved, or the login
/// a refresh token was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKey<'a> {
    Login(&'a str),
    Email(&'a str),
    /// A directory user's userPrincipalName (an AD enterprise principal).
    Upn(&'a str),
    /// A directory entry's DN, kept from an earlier login.
    Dn(&'a str),
}

/// What a lookup without a password found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// This backend does not look accounts up by that key.
    NotAsked,
    /// No account.
    Nobody,
    /// The account, as a password login would have it.
    One(VerifiedIdentity),
    /// An account that may not be used, and why (disabled, several match).
    Refused(&'static str),
}

/// A source of truth for login/password pairs.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The backend's name as clients spell it (`xivo_user`, `ldap_user`, ...).
    fn name(&self) -> &str;

    /// Check `login` and `password`.
    async fn authenticate(
        &self,
        login: &str,
        password: &Password,
    ) -> Result<VerifiedIdentity, BackendError>;

    /// The account a typed login stands for, as the brute-force throttle
    /// counts it (`DOMAIN\\alice` and `alice@suffix` are `alice`).
    fn account_name<'a>(&self, login: &'a str) -> &'a str {
        login
    }

    /// Whether the identity mapping may match identities proven by other
    /// protocols (OpenID, CAS, Kerberos) to this backend's accounts.
    fn maps_external_identities(&self) -> bool {
        false
    }

    /// Find an account without its password. Backends that cannot answer
    /// `NotAsked`.
    async fn find(&self, key: AccountKey<'_>) -> Result<Lookup, BackendError> {
        let _ = key;
        Ok(Lookup::NotAsked)
    }
}
