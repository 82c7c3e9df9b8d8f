//! Sessions, as wazo-auth has them: each login opens one, its token (and
//! the tokens exchanged from it) belong to it, and it ends when its last
//! token goes. Nothing is stored about a session besides its tokens: a
//! session is the set of live tokens sharing a `session_uuid`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use super::{TokenError, TokenService};
use crate::clock::Timestamp;
use crate::store::{LiveToken, TokenKey};

/// Most live tokens in one session: a login's token and those exchanged
/// from it. An exchange past it is refused, so that one login cannot fill
/// the store by exchanging its token again and again.
pub const MAX_TOKENS_PER_SESSION: usize = 100;

/// How a login's session begins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStart {
    /// `Wazo-Session-Type: mobile`.
    pub mobile: bool,
    /// The refresh token the login made or used: revoking it ends the session.
    pub refresh_id: Option<Uuid>,
}

/// A live session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub uuid: Uuid,
    /// Its user (the tokens' `auth_id`, as wazo-auth reports it).
    pub user_uuid: String,
    pub tenant_uuid: String,
    pub mobile: bool,
    /// When its first live token was issued.
    pub started_at: Timestamp,
    pub refresh_id: Option<Uuid>,
    /// Its live tokens.
    pub tokens: Vec<TokenKey>,
}

/// A user's live tokens less those exchanged from a token that is gone:
/// they are refused when checked, and stay stored only until they expire.
/// (An exchanged token has its parent's user, so the parent is in the same
/// list when it is live.)
fn without_orphans(mut tokens: Vec<(TokenKey, Arc<LiveToken>)>) -> Vec<(TokenKey, Arc<LiveToken>)> {
    loop {
        let keys: HashSet<TokenKey> = tokens.iter().map(|(k, _)| *k).collect();
        let before = tokens.len();
        tokens.retain(|(_, t)| t.record.parent.is_none_or(|p| keys.contains(&p)));
        if tokens.len() == before {
            return tokens;
        }
    }
}

/// The sessions `tokens` belong to, oldest first.
fn sessions_of(tokens: Vec<(TokenKey, Arc<LiveToken>)>, default_tenant: &str) -> Vec<Session> {
    let mut by_uuid: HashMap<Uuid, Session> = HashMap::new();
    for (key, token) in without_orphans(tokens) {
        let record = &token.record;
        let session = by_uuid
            .entry(record.session_uuid)
            .or_insert_with(|| Session {
                uuid: record.session_uuid,
                user_uuid: record.auth_id.clone(),
                tenant_uuid: record
                    .metadata
                    .get("tenant_uuid")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or(default_tenant)
                    .to_owned(),
                mobile: false,
                started_at: record.issued_at,
                refresh_id: None,
                tokens: Vec::new(),
            });
        session.mobile |= record.mobile;
        session.started_at = session.started_at.min(record.issued_at);
        session.refresh_id = session.refresh_id.or(record.refresh_id);
        session.tokens.push(key);
    }
    let mut sessions: Vec<Session> = by_uuid.into_values().collect();
    sessions.sort_by_key(|s| (s.started_at, s.uuid));
    sessions
}

impl TokenService {
    /// The live sessions of `auth_id`, or everyone's, oldest first.
    pub async fn sessions(&self, auth_id: Option<&str>) -> Result<Vec<Session>, TokenError> {
        let tokens = self.store.live_tokens(auth_id, self.clock.now()).await?;
        Ok(sessions_of(tokens, &self.policy.tenants.top().to_string()))
    }

    /// End the sessions of `auth_id` that refresh token `refresh_id` made
    /// or was used in; how many.
    pub(super) async fn end_refresh_sessions(
        &self,
        auth_id: &str,
        refresh_id: Uuid,
        why: &str,
    ) -> Result<usize, TokenError> {
        let mut ended = 0;
        for session in self.sessions(Some(auth_id)).await? {
            if session.refresh_id == Some(refresh_id) {
                self.end(&session, why).await?;
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Revoke the tokens of `session`.
    pub async fn end(&self, session: &Session, why: &str) -> Result<(), TokenError> {
        for key in &session.tokens {
            if self.store.remove(key).await? {
                crate::audit::token_revoked(key, why);
            }
        }
        tracing::info!(session = %session.uuid, user = %session.user_uuid, tokens = session.tokens.len(), "{why}");
        Ok(())
    }

    /// Whether `auth_id` may open one more session (`max_tokens_per_user`
    /// counts sessions, as wazo-auth's `max_user_concurrent_sessions`), or
    /// add one more token to `session` by an exchange.
    pub(super) async fn room_for(
        &self,
        auth_id: &str,
        session: Option<Uuid>,
        now: Timestamp,
    ) -> Result<(), TokenError> {
        if session.is_none() && self.policy.max_tokens_per_user.is_none() {
            return Ok(());
        }
        let tokens = without_orphans(self.store.live_tokens(Some(auth_id), now).await?);
        match session {
            None => {
                let Some(cap) = self.policy.max_tokens_per_user else {
                    return Ok(());
                };
                let open: HashSet<Uuid> =
                    tokens.iter().map(|(_, t)| t.record.session_uuid).collect();
                if open.len() >= cap {
                    return Err(TokenError::TooManyTokens(cap));
                }
            }
            Some(session) => {
                let held = tokens
                    .iter()
                    .filter(|(_, t)| t.record.session_uuid == session)
                    .count();
                if held >= MAX_TOKENS_PER_SESSION {
                    return Err(TokenError::NotExchangeable(
                        "this session holds the most tokens allowed: revoke an exchanged token first",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::record;

    #[test]
    fn tokens_sharing_a_session_make_one() {
        let mut a = record("u", 100, 60);
        let mut b = record("u", 50, 60);
        b.session_uuid = a.session_uuid;
        b.mobile = true;
        a.refresh_id = Some(Uuid::nil());
        let c = record("u", 10, 60);
        let key = |n: &str| TokenKey::of(n);
        let sessions = sessions_of(
            vec![
                (key("a"), Arc::new(LiveToken::new(a.clone()))),
                (key("b"), Arc::new(LiveToken::new(b))),
                (key("c"), Arc::new(LiveToken::new(c.clone()))),
            ],
            "t",
        );
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions[0].uuid, c.session_uuid, "oldest first");
        let shared = &sessions[1];
        assert_eq!(shared.uuid, a.session_uuid);
        assert_eq!(shared.tokens.len(), 2);
        assert!(shared.mobile);
        assert_eq!(shared.refresh_id, Some(Uuid::nil()));
        assert_eq!(shared.started_at, Timestamp::from_secs(50));
        assert_eq!(shared.tenant_uuid, "t");
    }

    #[test]
    fn tokens_exchanged_from_a_revoked_token_are_not_counted() {
        let root = record("u", 10, 60);
        let mut child = record("u", 11, 60);
        child.session_uuid = root.session_uuid;
        child.parent = Some(TokenKey::of("root"));
        let mut grandchild = record("u", 12, 60);
        grandchild.session_uuid = root.session_uuid;
        grandchild.parent = Some(TokenKey::of("child"));
        let all = vec![
            (TokenKey::of("root"), Arc::new(LiveToken::new(root))),
            (TokenKey::of("child"), Arc::new(LiveToken::new(child))),
            (
                TokenKey::of("grandchild"),
                Arc::new(LiveToken::new(grandchild)),
            ),
        ];
        assert_eq!(sessions_of(all.clone(), "t")[0].tokens.len(), 3);
        assert!(
            sessions_of(all[1..].to_vec(), "t").is_empty(),
            "root revoked"
        );
    }
}
