//! Why a login failed, classified once: which kind of credential (and so
//! which upstream) it was, and what went wrong. Each wire format renders
//! these in its own module under `http::error`; nothing here logs.

use crate::token::TokenError;

/// The kind of credential a login presented, which names the upstream that
/// checked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A login and password, checked by a password backend.
    Password,
    Kerberos,
    Oidc,
    Cas,
    WebSession,
}

impl Via {
    /// The name of the method, in audit events and logs.
    pub fn name(self) -> &'static str {
        match self {
            Via::Password => "password",
            Via::Kerberos => "kerberos",
            Via::Oidc => "oidc",
            Via::Cas => "cas",
            Via::WebSession => "web_session",
        }
    }

    /// What an operator and a user call the party that checks this kind of
    /// credential, as the subject of "... is unavailable".
    pub fn upstream(self) -> &'static str {
        match self {
            Via::Password => "the authentication backend",
            Via::Kerberos => "Kerberos authentication",
            Via::Oidc => "the OpenID provider",
            Via::Cas => "the CAS server",
            Via::WebSession => "the web application",
        }
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A request Sesame will not serve: this kind of credential is not
    /// configured, a redirect URL is not allowed.
    #[error("{0}")]
    BadRequest(String),
    /// No credential where this kind is read from.
    #[error("{0}")]
    Missing(String),
    /// The credential is wrong: a bad password, a forged or expired proof,
    /// a state that is not this browser's.
    #[error("{0}")]
    Refused(String),
    /// A CAS ticket for a service outside the allow-list.
    #[error("service not allowed: {0}")]
    ServiceNotAllowed(String),
    /// A valid proof for someone who has no local account (or several, or
    /// one that may not log in); the text names the subject and why.
    #[error("no local user for {0}")]
    NoLocalUser(String),
    /// Too many failures for this login or from this address: retry after
    /// that many seconds.
    #[error("too many failed attempts, retry in {0} s")]
    Throttled(u64),
    /// The upstream that checks this credential is out of reach; the user
    /// is not at fault.
    #[error("{0}")]
    Unavailable(String),
    /// Sesame's own fault.
    #[error("{0}")]
    Internal(String),
    /// An OAuth `scope` the identity does not hold.
    #[error("{0}")]
    Scope(String),
    /// The identity was verified, but no token could be issued.
    #[error(transparent)]
    Token(TokenError),
}

/// A failed login: the kind of credential, and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{} login: {failure}", via.name())]
pub struct LoginError {
    pub via: Via,
    pub failure: Failure,
}

impl LoginError {
    pub fn new(via: Via, failure: Failure) -> Self {
        LoginError { via, failure }
    }

    pub fn bad_request(via: Via, why: impl Into<String>) -> Self {
        Self::new(via, Failure::BadRequest(why.into()))
    }

    pub fn missing(via: Via, why: impl Into<String>) -> Self {
        Self::new(via, Failure::Missing(why.into()))
    }

    pub fn refused(via: Via, why: impl Into<String>) -> Self {
        Self::new(via, Failure::Refused(why.into()))
    }

    /// Whether the failure is upstream or Sesame's (503/500), not the
    /// client's.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self.failure,
            Failure::Unavailable(_) | Failure::Internal(_) | Failure::Token(TokenError::Store(_))
        )
    }
}

impl From<sesame_federation::FederationError> for Failure {
    fn from(e: sesame_federation::FederationError) -> Self {
        use sesame_federation::FederationError;
        match e {
            FederationError::Rejected(m) => Failure::Refused(m),
            FederationError::Unavailable(m) => Failure::Unavailable(m),
        }
    }
}

impl From<crate::auth::AuthError> for Failure {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        match e {
            e @ (AuthError::UnknownBackend(_) | AuthError::InvalidCredentials) => {
                Failure::Refused(e.to_string())
            }
            AuthError::Unavailable(m) => Failure::Unavailable(m),
            AuthError::Internal(m) => Failure::Internal(m),
            AuthError::Throttled(seconds) => Failure::Throttled(seconds),
        }
    }
}

impl From<crate::browser_state::SealError> for Failure {
    fn from(e: crate::browser_state::SealError) -> Self {
        match e {
            crate::browser_state::SealError::Internal(m) => Failure::Unavailable(m),
            e => Failure::Refused(e.to_string()),
        }
    }
}
