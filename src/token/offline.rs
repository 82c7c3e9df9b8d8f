//! Offline logins: the refresh tokens a login makes, redeems, lists and
//! revokes (the records are in the store, see [`crate::store::refresh`];
//! the tokens are derived from them, see [`super::refresh`]).

use uuid::Uuid;

use super::{TokenError, TokenService, refresh};
use crate::login::Identity;
use crate::store::TokenKey;
use crate::store::refresh::RefreshRecord;

impl TokenService {
    /// The refresh token of `identity` for an offline login: the client's
    /// existing one, or a new one. A mobile login always gets a new one, and
    /// ends the sessions of the one it replaces and of the user's other
    /// mobile clients (one mobile client per user, as wazo-auth 26.04).
    pub async fn refresh_token_for(
        &self,
        identity: &Identity,
        offline: &refresh::Offline,
        mobile: bool,
    ) -> Result<refresh::Grant, TokenError> {
        let now = self.clock.now();
        let id = Uuid::new_v4();
        let token = self.refresh_key.token_of(&id);
        let record = RefreshRecord {
            generation: 0,
            retired: Vec::new(),
            id,
            key: TokenKey::of(&token),
            client_id: offline.client_id.clone(),
            user_uuid: identity
                .user_uuid
                .clone()
                .unwrap_or_else(|| identity.auth_id.clone()),
            created_at: now,
            expires_at: self.refresh_lifetime.map(|secs| now.plus_secs(secs)),
            mobile,
            tenant_uuid: identity
                .metadata
                .get("tenant_uuid")
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| self.policy.tenants.top().to_string(), str::to_owned),
            auth_id: identity.auth_id.clone(),
            xivo_user_uuid: identity.user_uuid.clone(),
            login: identity.login.clone(),
            backend: identity.backend.clone(),
            acl: identity.acl.clone(),
            metadata: identity.metadata.clone(),
        };
        // A user names the client ids: without a cap, one account could
        // fill the store. (Two offline logins at once for two new clients
        // may pass at cap - 1.)
        let held = self.store.refresh_list(Some(&record.user_uuid)).await?;
        if held.len() >= self.refresh_per_user
            && !held.iter().any(|r| r.client_id == record.client_id)
        {
            tracing::warn!(
                login = %crate::audit::loggable(&record.login),
                cap = self.refresh_per_user,
                "refresh token refused: the user holds the most refresh tokens allowed"
            );
            return Err(TokenError::TooManyRefreshTokens(self.refresh_per_user));
        }
        if mobile {
            let mut ended = 0;
            for old in held
                .iter()
                .filter(|r| r.client_id == record.client_id || r.mobile)
            {
                if old.client_id != record.client_id {
                    self.store
                        .refresh_remove(&old.user_uuid, &old.client_id)
                        .await?;
                }
                ended += self
                    .end_refresh_sessions(&old.auth_id, old.id, "replaced by a mobile login")
                    .await?;
            }
            let kept = self.store.refresh_put(record, true).await?;
            return Ok(refresh::Grant {
                token,
                id: kept.id,
                sessions_ended: ended,
            });
        }
        let snapshot = record.clone();
        let kept = self.store.refresh_put(record, false).await?;
        if kept.id != snapshot.id && !kept.is_expired(now) {
            // The client's token stays; what it mints follows this login
            // (the user's ACLs and metadata now).
            let updated = RefreshRecord {
                id: kept.id,
                key: kept.key,
                created_at: kept.created_at,
                expires_at: kept.expires_at,
                generation: kept.generation,
                retired: kept.retired.clone(),
                ..snapshot
            };
            if updated != kept {
                self.store.refresh_put(updated, true).await?;
            }
            return Ok(self.grant(&kept));
        }
        if kept.is_expired(now) {
            // The client's token ran out: a new one takes its place.
            let mut fresh = kept;
            fresh.id = Uuid::new_v4();
            fresh.generation = 0;
            fresh.retired.clear();
            fresh.key = TokenKey::of(&self.refresh_key.token_of(&fresh.id));
            fresh.created_at = now;
            fresh.expires_at = self.refresh_lifetime.map(|secs| now.plus_secs(secs));
            let grant = self.grant(&fresh);
            self.store.refresh_put(fresh, true).await?;
            return Ok(grant);
        }
        Ok(self.grant(&kept))
    }

    /// The current token of `record`.
    fn grant(&self, record: &RefreshRecord) -> refresh::Grant {
        refresh::Grant {
            token: self.refresh_key.token_at(&record.id, record.generation),
            id: record.id,
            sessions_ended: 0,
        }
    }

    /// The refresh token `token` of `client_id`, if it is one and still
    /// mints tokens; `NotFound` otherwise (also for another client's).
    ///
    /// Under rotation, the answer holds the token that replaces `token`;
    /// a token already replaced is a copy being replayed (or the client's
    /// own retry): the client's refresh token is revoked with its sessions,
    /// and `NotFound` answered.
    pub async fn redeem(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<refresh::Redeemed, TokenError> {
        let key = TokenKey::of(token);
        let found = self
            .store
            .refresh_get(&key)
            .await?
            .filter(|r| r.client_id == client_id && !r.is_expired(self.clock.now()));
        let Some(mut record) = found else {
            return Err(TokenError::NotFound);
        };
        if record.key != key {
            tracing::warn!(
                login = %crate::audit::loggable(&record.login),
                client_id,
                generation = record.generation,
                "a replaced refresh token was presented again: the client's refresh token is revoked with its sessions"
            );
            self.revoke_refresh(&record.user_uuid, &record.client_id)
                .await?;
            return Err(TokenError::NotFound);
        }
        if !self.refresh_rotate {
            return Ok(refresh::Redeemed {
                record,
                rotated: None,
            });
        }
        record.retired.insert(0, record.key);
        record.retired.truncate(crate::store::refresh::MAX_RETIRED);
        record.generation = record.generation.saturating_add(1);
        let next = self.refresh_key.token_at(&record.id, record.generation);
        record.key = TokenKey::of(&next);
        let record = self.store.refresh_put(record, true).await?;
        Ok(refresh::Redeemed {
            record,
            rotated: Some(next),
        })
    }

    /// A user's refresh tokens, or everyone's.
    pub async fn refresh_tokens(
        &self,
        user_uuid: Option<&str>,
    ) -> Result<Vec<RefreshRecord>, TokenError> {
        Ok(self.store.refresh_list(user_uuid).await?)
    }

    /// Revoke the refresh token of `user_uuid` for `client_id`: it mints
    /// nothing more, and the sessions it made end (wazo-auth deletes their
    /// tokens too). `Ok(false)` when there was none.
    pub async fn revoke_refresh(
        &self,
        user_uuid: &str,
        client_id: &str,
    ) -> Result<bool, TokenError> {
        let Some(removed) = self.store.refresh_remove(user_uuid, client_id).await? else {
            return Ok(false);
        };
        let ended = self
            .end_refresh_sessions(
                &removed.auth_id,
                removed.id,
                "its refresh token was revoked",
            )
            .await?;
        tracing::info!(
            user_uuid,
            client_id,
            sessions = ended,
            "refresh token revoked"
        );
        Ok(true)
    }
}
