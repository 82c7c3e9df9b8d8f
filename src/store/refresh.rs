//! Refresh tokens as stored: one record per user and client id, found by
//! the SHA-256 of the token (never the token itself, as for access
//! tokens). The token is recomputed from the record's random `id` and the
//! server's key when an offline login asks for it again (see
//! [`crate::token::refresh`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::TokenKey;
use crate::clock::Timestamp;

/// What is stored about a refresh token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// Random, per record: with the server's key, it gives the token.
    pub id: Uuid,
    /// SHA-256 of the token.
    pub key: TokenKey,
    pub client_id: String,
    pub user_uuid: String,
    pub created_at: Timestamp,
    /// `None`: it never expires (wazo-auth's refresh tokens never do).
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Made by a login with `Wazo-Session-Type: mobile`.
    #[serde(default)]
    pub mobile: bool,
    pub tenant_uuid: String,
    /// Whom the tokens it mints are for.
    pub auth_id: String,
    /// The UC user's UUID (`xivo_user_uuid`), for a UC user.
    #[serde(default)]
    pub xivo_user_uuid: Option<String>,
    pub login: String,
    pub backend: String,
    pub acl: Vec<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Times it was rotated: its token is derived from `id` and this.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
    /// The SHA-256 of the tokens it replaced, newest first (at most
    /// [`MAX_RETIRED`]): one presented again means the family was copied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<TokenKey>,
}

/// Most retired tokens a record remembers.
pub const MAX_RETIRED: usize = 32;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RefreshRecord {
    /// Whether `key` is this record's token now, or one it replaced.
    pub fn answers_to(&self, key: &TokenKey) -> bool {
        self.key == *key || self.retired.contains(key)
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The name of a record: its user and client id (the unit 0x1f cannot be
/// in a UUID, so the pair reads back unambiguously).
pub(crate) fn slot(user_uuid: &str, client_id: &str) -> String {
    format!("{user_uuid}\u{1f}{client_id}")
}

#[cfg(test)]
pub(crate) mod contract {
    //! What every store does with refresh tokens.
    use super::*;
    use crate::store::TokenStore;

    pub fn record(user: &str, client_id: &str) -> RefreshRecord {
        let id = Uuid::new_v4();
        RefreshRecord {
            id,
            key: TokenKey::of(&id.to_string()),
            client_id: client_id.into(),
            user_uuid: user.into(),
            created_at: Timestamp::from_secs(1_000),
            expires_at: None,
            mobile: false,
            tenant_uuid: "t".into(),
            auth_id: user.into(),
            xivo_user_uuid: Some(user.into()),
            login: "alice".into(),
            backend: "xivo_user".into(),
            acl: vec!["a.b".into()],
            metadata: Map::new(),
            generation: 0,
            retired: Vec::new(),
        }
    }

    pub async fn run(store: &dyn TokenStore) {
        let user = Uuid::new_v4().to_string();
        let first = record(&user, "app");
        let kept = store.refresh_put(first.clone(), false).await.unwrap();
        assert_eq!(kept, first);
        // Another offline login of the same client: the first one stays.
        let second = record(&user, "app");
        assert_eq!(
            store.refresh_put(second.clone(), false).await.unwrap(),
            first
        );
        assert_eq!(
            store.refresh_get(&first.key).await.unwrap(),
            Some(first.clone())
        );
        assert_eq!(store.refresh_get(&second.key).await.unwrap(), None);
        // Replacing (a mobile login) drops the old token.
        let replaced = store.refresh_put(second.clone(), true).await.unwrap();
        assert_eq!(replaced, second);
        assert_eq!(store.refresh_get(&first.key).await.unwrap(), None);
        let other = record(&user, "other.app");
        store.refresh_put(other.clone(), false).await.unwrap();
        let stranger = record(&Uuid::new_v4().to_string(), "app");
        store.refresh_put(stranger.clone(), false).await.unwrap();
        let mut mine = store.refresh_list(Some(&user)).await.unwrap();
        mine.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        assert_eq!(mine, vec![second.clone(), other.clone()]);
        let all = store.refresh_list(None).await.unwrap();
        assert!(all.contains(&stranger) && all.len() >= 3);
        assert_eq!(
            store.refresh_remove(&user, "app").await.unwrap(),
            Some(second.clone())
        );
        assert_eq!(store.refresh_remove(&user, "app").await.unwrap(), None);
        assert_eq!(store.refresh_get(&second.key).await.unwrap(), None);
        assert_eq!(store.refresh_list(Some(&user)).await.unwrap(), vec![other]);
        rotation(store).await;
    }

    /// A rotated record is found by its token and by the ones it replaced,
    /// until it is replaced or removed.
    async fn rotation(store: &dyn TokenStore) {
        let user = Uuid::new_v4().to_string();
        let first = record(&user, "app");
        store.refresh_put(first.clone(), false).await.unwrap();
        let mut rotated = first.clone();
        rotated.generation = 1;
        rotated.key = TokenKey::of("generation 1");
        rotated.retired = vec![first.key];
        store.refresh_put(rotated.clone(), true).await.unwrap();
        for key in [&first.key, &rotated.key] {
            assert_eq!(
                store.refresh_get(key).await.unwrap().as_ref(),
                Some(&rotated)
            );
        }
        // A new family (a mobile login) forgets the old one's tokens.
        let fresh = record(&user, "app");
        store.refresh_put(fresh.clone(), true).await.unwrap();
        for key in [&first.key, &rotated.key] {
            assert_eq!(store.refresh_get(key).await.unwrap(), None);
        }
        let mut again = fresh.clone();
        again.retired = vec![TokenKey::of("old")];
        store.refresh_put(again, true).await.unwrap();
        store.refresh_remove(&user, "app").await.unwrap();
        assert_eq!(store.refresh_get(&TokenKey::of("old")).await.unwrap(), None);
        assert_eq!(store.refresh_get(&fresh.key).await.unwrap(), None);
    }
}
