//! Browser logins between their start and their callback (OpenID Connect's
//! code flow, CAS's login page), and the CAS single-logout index. The state
//! of a login is sealed into the browser's cookie (see
//! [`crate::browser_state`]); each sealed state finishes one login.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sesame_federation::cas::{CasClient, CasConfig};
use sesame_federation::oidc::OidcProvider;
use sesame_federation::once::SeenOnce;

use super::error::{LoginError, Via};
use super::external::{External, OidcConfig};
use crate::browser_state::Sealer;
use crate::store::TokenKey;

/// Where a browser login starts: the provider's URL, the cookie that binds
/// the login to this browser and carries its state, sealed, and how long
/// the browser has to come back.
#[derive(Debug)]
pub struct BrowserStart {
    pub authorize_url: String,
    pub sealed_state: String,
    pub timeout: Duration,
}

/// An OpenID browser login between its start and its callback, as sealed
/// into the browser's state cookie.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct OidcPending {
    /// The `state` the provider sends back, which must match.
    state: String,
    pub provider: String,
    pub redirect: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A CAS browser login between its start and its callback.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct CasPending {
    pub state: String,
    pub redirect: String,
}

const OIDC_FLOW: &str = "oidc-browser-login";
const CAS_FLOW: &str = "cas-browser-login";
/// Most browser-login states remembered as used.
const MAX_USED_STATES: usize = 100_000;

/// The browser flows' keys, timeouts and memory.
pub struct BrowserFlows {
    /// Seals the state of browser logins into their cookies.
    sealer: Sealer,
    /// The states of browser logins that reached their callback: each is
    /// used once. Only a callback with a state Sesame sealed adds one, and
    /// the set is bounded (oldest first), so it locks no one out.
    used_states: SeenOnce,
    oidc_redirects: Vec<String>,
    oidc_timeout: Duration,
    cas_timeout: Duration,
    cas_sessions: CasSessions,
}

impl BrowserFlows {
    pub fn new(oidc: &OidcConfig, cas: Option<&CasConfig>) -> Result<Self, String> {
        let oidc_timeout = oidc.login_timeout();
        let cas_timeout = cas
            .and_then(|c| c.login_timeout_secs)
            .map_or(oidc_timeout, |secs| Duration::from_secs(secs.max(1)));
        Ok(BrowserFlows {
            sealer: Sealer::new().map_err(|e| e.to_string())?,
            used_states: SeenOnce::new(MAX_USED_STATES, oidc_timeout.max(cas_timeout)),
            oidc_redirects: oidc.allowed_redirects.clone(),
            oidc_timeout,
            cas_timeout,
            cas_sessions: CasSessions::default(),
        })
    }

    /// Start a browser login with `provider` (the only one when `None`),
    /// ending at `redirect`, which must be allowed exactly.
    pub async fn oidc_begin(
        &self,
        external: &External,
        provider: Option<&str>,
        redirect: &str,
    ) -> Result<BrowserStart, LoginError> {
        let via = Via::Oidc;
        if !self.oidc_redirects.iter().any(|r| r == redirect) {
            return Err(LoginError::bad_request(
                via,
                "the redirect URL is not in oidc.allowed_redirects",
            ));
        }
        let provider = match provider {
            Some(name) => external.oidc.by_name(name).cloned(),
            None => external.oidc.only().cloned(),
        }
        .ok_or_else(|| LoginError::bad_request(via, "unknown or ambiguous OpenID provider"))?;
        let login = provider
            .begin_login()
            .await
            .map_err(|e| LoginError::new(via, e.into()))?;
        let pending = OidcPending {
            state: login.state,
            provider: provider.name.clone(),
            redirect: redirect.to_owned(),
            nonce: login.nonce,
            pkce_verifier: login.pkce_verifier,
        };
        Ok(BrowserStart {
            authorize_url: login.authorize_url,
            sealed_state: self.seal(via, OIDC_FLOW, &pending, self.oidc_timeout)?,
            timeout: self.oidc_timeout,
        })
    }

    /// The OpenID login this browser started, if the callback's `state` is
    /// the one sealed in its cookie; and its provider, still configured.
    pub(super) fn oidc_open(
        &self,
        external: &External,
        state: &str,
        sealed: &str,
    ) -> Result<(OidcPending, std::sync::Arc<OidcProvider>), LoginError> {
        let via = Via::Oidc;
        let pending: OidcPending =
            self.open(via, OIDC_FLOW, sealed, state, |p: &OidcPending| &p.state)?;
        if !self.oidc_redirects.contains(&pending.redirect) {
            return Err(LoginError::bad_request(
                via,
                "the redirect URL is no longer in oidc.allowed_redirects",
            ));
        }
        let provider = external
            .oidc
            .by_name(&pending.provider)
            .cloned()
            .ok_or_else(|| {
                LoginError::refused(via, "the login's OpenID provider is no longer configured")
            })?;
        Ok((pending, provider))
    }

    /// Start a CAS browser login ending at `redirect`: the CAS login URL for
    /// Sesame's callback with this login's state in it, and that state,
    /// sealed, for the browser's cookie.
    pub fn cas_begin(
        &self,
        external: &External,
        redirect: &str,
    ) -> Result<BrowserStart, LoginError> {
        let via = Via::Cas;
        let cas = external.cas_client()?;
        if !cas.config.allowed_redirects.iter().any(|r| r == redirect) {
            return Err(LoginError::bad_request(
                via,
                "the redirect URL is not in cas.allowed_redirects",
            ));
        }
        let state = uuid::Uuid::new_v4().simple().to_string();
        let service = callback_for(cas, &state)?;
        let pending = CasPending {
            state,
            redirect: redirect.to_owned(),
        };
        Ok(BrowserStart {
            authorize_url: cas.login_url(&service),
            sealed_state: self.seal(via, CAS_FLOW, &pending, self.cas_timeout)?,
            timeout: self.cas_timeout,
        })
    }

    /// The CAS login this browser started, if the callback's `state` is the
    /// one sealed in its cookie; and the service URL its ticket was issued
    /// for (the one holding that state).
    pub(super) fn cas_open<'a>(
        &self,
        external: &'a External,
        state: &str,
        sealed: &str,
    ) -> Result<(CasPending, &'a CasClient, String), LoginError> {
        let via = Via::Cas;
        let cas = external.cas_client()?;
        let pending: CasPending =
            self.open(via, CAS_FLOW, sealed, state, |p: &CasPending| &p.state)?;
        if !cas.config.allowed_redirects.contains(&pending.redirect) {
            return Err(LoginError::bad_request(
                via,
                "the redirect URL is no longer in cas.allowed_redirects",
            ));
        }
        let service = callback_for(cas, &pending.state)?;
        Ok((pending, cas, service))
    }

    fn seal<T: serde::Serialize>(
        &self,
        via: Via,
        flow: &str,
        pending: &T,
        timeout: Duration,
    ) -> Result<String, LoginError> {
        self.sealer
            .seal(flow, pending, timeout)
            .map_err(|e| LoginError::new(via, e.into()))
    }

    /// The login of `flow` sealed in this browser's cookie, if the state the
    /// callback brings is the one sealed there, and the first to come back
    /// with it.
    fn open<T: serde::de::DeserializeOwned>(
        &self,
        via: Via,
        flow: &str,
        sealed: &str,
        presented: &str,
        state_of: fn(&T) -> &String,
    ) -> Result<T, LoginError> {
        let pending: T = self.sealer.open(flow, sealed).map_err(|e| {
            tracing::info!(flow, why = %e, "browser login callback with a state cookie that does not open");
            LoginError::new(via, e.into())
        })?;
        let state = state_of(&pending);
        if !states_match(state, presented) {
            tracing::info!(
                flow,
                "browser login callback whose state is not this browser's"
            );
            return Err(LoginError::refused(
                via,
                "this browser did not start this login (state mismatch)",
            ));
        }
        if !self.used_states.first_use(&format!("{flow}:{state}")) {
            tracing::info!(flow, "browser login callback with a state used already");
            return Err(LoginError::refused(
                via,
                "this login's state was used already",
            ));
        }
        Ok(pending)
    }

    /// Remember that `token` was issued for the CAS ticket `ticket`, so that
    /// the CAS server's single-logout request can revoke it.
    pub(super) fn cas_remember(&self, ticket: &str, token: TokenKey) {
        self.cas_sessions.remember(ticket, token);
    }

    /// The tokens issued for the ticket a CAS single-logout request names
    /// (forgotten once returned).
    pub(super) fn cas_logout(&self, logout_request: &str) -> Vec<TokenKey> {
        self.cas_sessions.logout(logout_request)
    }
}

/// The service URL of Sesame's CAS callback for the login `state`.
fn callback_for(cas: &CasClient, state: &str) -> Result<String, LoginError> {
    cas.callback_for(state)
        .ok_or_else(|| LoginError::bad_request(Via::Cas, "cas.callback_url is not configured"))
}

/// Whether the state a callback brings is the one sealed for this browser
/// (compared in constant time: it is the secret of the login).
fn states_match(sealed: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    sealed.len() == presented.len() && bool::from(sealed.as_bytes().ct_eq(presented.as_bytes()))
}

/// The tokens of one CAS browser login, and until when they are remembered.
type CasSession = (Vec<TokenKey>, Instant);

/// How long a CAS browser login's ticket is remembered for single logout.
const CAS_SESSION_MEMORY: Duration = Duration::from_secs(24 * 3600);
const MAX_CAS_SESSIONS: usize = 100_000;

/// SHA-256 of the service tickets of CAS browser logins → the tokens
/// issued for them, for single logout.
#[derive(Default)]
struct CasSessions(Mutex<HashMap<[u8; 32], CasSession>>);

impl CasSessions {
    fn remember(&self, ticket: &str, token: TokenKey) {
        let key = ticket_key(ticket);
        let mut sessions = self.0.lock();
        let now = Instant::now();
        if sessions.len() >= MAX_CAS_SESSIONS {
            sessions.retain(|_, (_, until)| *until > now);
            if sessions.len() >= MAX_CAS_SESSIONS {
                tracing::warn!(
                    "too many CAS sessions remembered for single logout; forgetting them"
                );
                sessions.clear();
            }
        }
        let entry = sessions
            .entry(key)
            .or_insert_with(|| (Vec::new(), now + CAS_SESSION_MEMORY));
        entry.0.push(token);
    }

    fn logout(&self, logout_request: &str) -> Vec<TokenKey> {
        let Some(ticket) = sesame_federation::cas::parse_logout_request(logout_request) else {
            tracing::info!("CAS single logout: not a logout request");
            return Vec::new();
        };
        let keys = self
            .0
            .lock()
            .remove(&ticket_key(&ticket))
            .map(|(keys, _)| keys)
            .unwrap_or_default();
        tracing::info!(tokens = keys.len(), "CAS single logout");
        keys
    }
}

fn ticket_key(ticket: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(ticket.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_logins_wait_five_minutes_by_default() {
        // The section's default must agree with its fields' defaults.
        let absent = OidcConfig::default();
        let empty: OidcConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(absent, empty);
        assert_eq!(absent.login_timeout_secs, 300);
    }

    #[test]
    fn states_are_compared_whole() {
        assert!(states_match("abc", "abc"));
        for other in ["abd", "ab", "abcd", ""] {
            assert!(!states_match("abc", other), "{other}");
        }
    }

    #[test]
    fn a_sealed_state_finishes_one_login() {
        let flows = BrowserFlows::new(&OidcConfig::default(), None).unwrap();
        let pending = CasPending {
            state: "s1".into(),
            redirect: "https://app/".into(),
        };
        let sealed = flows
            .seal(Via::Cas, CAS_FLOW, &pending, Duration::from_secs(60))
            .unwrap();
        let open = |presented: &str| {
            flows.open(Via::Cas, CAS_FLOW, &sealed, presented, |p: &CasPending| {
                &p.state
            })
        };
        assert!(open("s2").is_err(), "another browser's state");
        assert_eq!(open("s1").unwrap().redirect, "https://app/");
        let again = open("s1").unwrap_err();
        assert!(again.to_string().contains("used already"), "{again}");
        // A state sealed for one flow does not open in the other.
        assert!(
            flows
                .open(Via::Oidc, OIDC_FLOW, &sealed, "s1", |p: &CasPending| &p
                    .state)
                .is_err()
        );
    }
}
