//! Token storage.
//!
//! Stores keep tokens under the SHA-256 of the token string, never the token
//! itself, so a copied data file or a Redis dump yields no usable token.
//! Three implementations sit behind [`TokenStore`]:
//!
//! * [`embedded::EmbeddedStore`], the default: a redb file for persistence with
//!   every live token also held in memory, so that a check never touches disk;
//! * [`redis::RedisStore`], for several Sesame instances sharing their tokens;
//! * [`memory::MemoryStore`], for tests.

pub mod embedded;
pub mod link;
pub mod memory;
pub mod redis;
pub mod refresh;
pub mod tracking;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::token::acl::{AclContext, AclSet};

/// The key a token is stored under: SHA-256 of the token string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKey(pub [u8; 32]);

impl TokenKey {
    pub fn of(token: &str) -> Self {
        TokenKey(Sha256::digest(token.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(TokenKey(bytes))
    }
}

impl Serialize for TokenKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TokenKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TokenKey::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("a token key is 64 hexadecimal digits"))
    }
}

impl fmt::Debug for TokenKey {
    /// Only a prefix of the hash: enough to correlate log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        write!(f, "TokenKey({}…)", hex.get(..12).unwrap_or(&hex))
    }
}

/// What is stored about a token (everything but the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub auth_id: String,
    #[serde(default)]
    pub user_uuid: Option<String>,
    pub login: String,
    /// The backend or protocol that authenticated the user.
    pub backend: String,
    pub session_uuid: Uuid,
    pub issued_at: Timestamp,
    /// `None` for tokens that never expire (static service tokens).
    pub expires_at: Option<Timestamp>,
    /// The lifetime the token was issued with, reused when it is renewed.
    pub lifetime_secs: u64,
    pub acl: Vec<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub remote_addr: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// For a token made by an exchange (RFC 8693), the key of the token it
    /// was exchanged from: it is valid only while that one is, and grants
    /// only what that one grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<TokenKey>,
    /// Its session was opened with `Wazo-Session-Type: mobile`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mobile: bool,
    /// The id of the refresh token it was made with (an offline login, or
    /// a login with a refresh token): revoking that refresh token revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_id: Option<Uuid>,
}

impl TokenRecord {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A stored token with its ACLs compiled, ready to be checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveToken {
    pub record: TokenRecord,
    pub acl: AclSet,
}

impl LiveToken {
    pub fn new(record: TokenRecord) -> Self {
        let session = record.session_uuid.to_string();
        let acl = AclSet::compile(
            &record.acl,
            AclContext {
                auth_id: &record.auth_id,
                session_id: &session,
            },
        );
        LiveToken { record, acl }
    }

    /// The same token with another expiry (ACLs are not recompiled).
    pub fn with_expiry(&self, expires_at: Option<Timestamp>) -> Self {
        let mut renewed = self.clone();
        renewed.record.expires_at = expires_at;
        renewed
    }
}

/// Put `value` under `key` in a cache of at most `capacity` decoded tokens:
/// when it is full and `key` is new, every other entry is dropped first
/// (cheap, and the tokens in use come back at their next read).
pub(crate) fn insert_bounded<V>(
    cache: &mut std::collections::HashMap<TokenKey, V>,
    capacity: usize,
    key: TokenKey,
    value: V,
) {
    if cache.len() >= capacity && !cache.contains_key(&key) {
        let mut n = 0usize;
        cache.retain(|_, _| {
            n += 1;
            n.is_multiple_of(2)
        });
    }
    cache.insert(key, value);
}

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached now (Redis down, timeout): HTTP 503.
    #[error("token store unavailable: {0}")]
    Unavailable(String),
    /// A fault of the store itself (I/O error, corrupt file).
    #[error("token store failure: {0}")]
    Internal(String),
}

/// Where tokens live.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// A short name for logs (`embedded`, `redis`, `memory`).
    fn kind(&self) -> &'static str;

    /// Store a new token; durable when this returns `Ok`.
    async fn insert(
        &self,
        key: TokenKey,
        token: LiveToken,
        now: Timestamp,
    ) -> Result<Arc<LiveToken>, StoreError>;

    /// The token stored under `key`, expired or not (the caller checks expiry).
    async fn get(&self, key: &TokenKey) -> Result<Option<Arc<LiveToken>>, StoreError>;

    /// Forget a token. `Ok(false)` when there was none.
    async fn remove(&self, key: &TokenKey) -> Result<bool, StoreError>;

    /// Move a token's expiry; `Ok(None)` when there is no such token.
    async fn renew(
        &self,
        key: &TokenKey,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Arc<LiveToken>>, StoreError>;

    /// Drop the tokens that expired before `now`; returns how many.
    async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError>;

    /// How many tokens are stored (expired ones not yet purged included).
    async fn count(&self) -> Result<usize, StoreError>;

    /// The unexpired tokens of `auth_id`, or of everyone, with their keys
    /// (sessions are listed and ended from these). Everyone's means reading
    /// every token: for administrators' lists, not for the login path.
    async fn live_tokens(
        &self,
        auth_id: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<(TokenKey, Arc<LiveToken>)>, StoreError>;

    /// Keep `record` as the refresh token of its user and client id: when
    /// there is one already, it is kept and returned, unless `replace`
    /// (then the old one is dropped, its token with it).
    async fn refresh_put(
        &self,
        record: refresh::RefreshRecord,
        replace: bool,
    ) -> Result<refresh::RefreshRecord, StoreError>;

    /// The refresh token whose SHA-256 is `key`.
    async fn refresh_get(
        &self,
        key: &TokenKey,
    ) -> Result<Option<refresh::RefreshRecord>, StoreError>;

    /// A user's refresh tokens, or everyone's.
    async fn refresh_list(
        &self,
        user_uuid: Option<&str>,
    ) -> Result<Vec<refresh::RefreshRecord>, StoreError>;

    /// Forget the refresh token of `user_uuid` for `client_id`.
    async fn refresh_remove(
        &self,
        user_uuid: &str,
        client_id: &str,
    ) -> Result<Option<refresh::RefreshRecord>, StoreError>;

    /// Whether the store answers now (readiness probes). Stores inside the
    /// process always do.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod contract {
    //! Behaviour every store must have, run against each implementation.
    use super::*;

    pub fn record(auth_id: &str, issued: i64, lifetime: u64) -> TokenRecord {
        let issued_at = Timestamp::from_secs(issued);
        TokenRecord {
            auth_id: auth_id.into(),
            user_uuid: Some(auth_id.into()),
            login: "alice".into(),
            backend: "xivo_user".into(),
            session_uuid: Uuid::new_v4(),
            issued_at,
            expires_at: Some(issued_at.plus_secs(lifetime)),
            lifetime_secs: lifetime,
            acl: vec!["confd.users.me.read".into()],
            metadata: Map::new(),
            remote_addr: Some("127.0.0.1".into()),
            user_agent: None,
            parent: None,
            mobile: false,
            refresh_id: None,
        }
    }

    pub async fn run(store: &dyn TokenStore) {
        let now = Timestamp::from_secs(1_000);
        let key = TokenKey::of(&Uuid::new_v4().to_string());
        assert!(store.get(&key).await.unwrap().is_none());

        let stored = store
            .insert(key, LiveToken::new(record("u1", 1_000, 60)), now)
            .await
            .unwrap();
        assert!(stored.acl.grants("confd.users.u1.read"));
        let got = store.get(&key).await.unwrap().unwrap();
        assert_eq!(got.record, stored.record);
        assert!(got.acl.grants("confd.users.u1.read"));

        let renewed = store
            .renew(&key, Timestamp::from_secs(1_100), now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(renewed.record.expires_at, Some(Timestamp::from_secs(1_100)));
        assert_eq!(
            store.get(&key).await.unwrap().unwrap().record.expires_at,
            Some(Timestamp::from_secs(1_100))
        );
        let missing = TokenKey::of("missing");
        assert!(
            store
                .renew(&missing, Timestamp::from_secs(1_100), now)
                .await
                .unwrap()
                .is_none()
        );

        assert!(store.remove(&key).await.unwrap());
        assert!(!store.remove(&key).await.unwrap());
        assert!(store.get(&key).await.unwrap().is_none());
        per_user_counts(store).await;
        live_tokens(store).await;
    }

    /// `live_tokens`: a user's, or everyone's, unexpired tokens only.
    async fn live_tokens(store: &dyn TokenStore) {
        let now = Timestamp::from_secs(1_000);
        let (user, other) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
        let mut mine = Vec::new();
        for (owner, lifetime) in [(&user, 60), (&user, 60), (&other, 60), (&user, 1)] {
            let key = TokenKey::of(&Uuid::new_v4().to_string());
            let mut token = record(owner, 1_000, lifetime);
            token.mobile = lifetime == 1;
            store.insert(key, LiveToken::new(token), now).await.unwrap();
            if owner == &user && lifetime == 60 {
                mine.push(key);
            }
        }
        let later = Timestamp::from_secs(1_030);
        let mut found: Vec<TokenKey> = store
            .live_tokens(Some(&user), later)
            .await
            .unwrap()
            .into_iter()
            .map(|(key, token)| {
                assert_eq!(token.record.auth_id, user);
                key
            })
            .collect();
        found.sort();
        mine.sort();
        assert_eq!(
            found, mine,
            "the user's unexpired tokens, not the expired one"
        );
        let everyone = store.live_tokens(None, later).await.unwrap();
        assert!(everyone.iter().any(|(_, t)| t.record.auth_id == other));
        assert!(
            everyone
                .iter()
                .all(|(_, t)| !t.record.is_expired(later) && !t.record.mobile)
        );
        store.remove(&mine[0]).await.unwrap();
        assert_eq!(
            store.live_tokens(Some(&user), later).await.unwrap().len(),
            1,
            "a revoked token is not live"
        );
    }

    async fn count_of(store: &dyn TokenStore, auth_id: &str, now: Timestamp) -> usize {
        store.live_tokens(Some(auth_id), now).await.unwrap().len()
    }

    /// A user's unexpired tokens, following inserts,
    /// revocations, renewals and expiry.
    async fn per_user_counts(store: &dyn TokenStore) {
        let now = Timestamp::from_secs(1_000);
        let (user, other) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
        let keys: Vec<TokenKey> = (0..3)
            .map(|_| TokenKey::of(&Uuid::new_v4().to_string()))
            .collect();
        assert_eq!(count_of(store, &user, now).await, 0);
        for (i, key) in keys.iter().enumerate() {
            let owner = if i < 2 { &user } else { &other };
            store
                .insert(*key, LiveToken::new(record(owner, 1_000, 60)), now)
                .await
                .unwrap();
        }
        assert_eq!(count_of(store, &user, now).await, 2);
        assert_eq!(count_of(store, &other, now).await, 1);
        assert!(store.remove(&keys[0]).await.unwrap());
        assert_eq!(count_of(store, &user, now).await, 1);
        // A renewed token counts until its new expiry.
        store
            .renew(&keys[1], Timestamp::from_secs(1_200), now)
            .await
            .unwrap();
        assert_eq!(count_of(store, &user, Timestamp::from_secs(1_100)).await, 1);
        assert_eq!(
            count_of(store, &other, Timestamp::from_secs(1_100)).await,
            0,
            "an expired token does not count"
        );
        assert_eq!(count_of(store, &user, Timestamp::from_secs(1_300)).await, 0);
    }
}
