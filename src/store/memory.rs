//! A store that forgets everything at exit: for tests.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use async_trait::async_trait;

use super::refresh::{RefreshRecord, slot};
use super::{LiveToken, StoreError, TokenKey, TokenStore};
use crate::clock::Timestamp;

#[derive(Debug, Default)]
pub struct MemoryStore {
    tokens: RwLock<HashMap<TokenKey, Arc<LiveToken>>>,
    /// Refresh tokens by (user, client id).
    refresh: RwLock<HashMap<String, RefreshRecord>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn insert(
        &self,
        key: TokenKey,
        token: LiveToken,
        _now: Timestamp,
    ) -> Result<Arc<LiveToken>, StoreError> {
        let token = Arc::new(token);
        self.tokens.write().insert(key, token.clone());
        Ok(token)
    }

    async fn get(&self, key: &TokenKey) -> Result<Option<Arc<LiveToken>>, StoreError> {
        Ok(self.tokens.read().get(key).cloned())
    }

    async fn remove(&self, key: &TokenKey) -> Result<bool, StoreError> {
        Ok(self.tokens.write().remove(key).is_some())
    }

    async fn renew(
        &self,
        key: &TokenKey,
        expires_at: Timestamp,
        _now: Timestamp,
    ) -> Result<Option<Arc<LiveToken>>, StoreError> {
        let mut tokens = self.tokens.write();
        Ok(tokens.get_mut(key).map(|token| {
            *token = Arc::new(token.with_expiry(Some(expires_at)));
            token.clone()
        }))
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut tokens = self.tokens.write();
        let before = tokens.len();
        tokens.retain(|_, t| !t.record.is_expired(now));
        Ok(before - tokens.len())
    }

    async fn count(&self) -> Result<usize, StoreError> {
        Ok(self.tokens.read().len())
    }

    async fn live_tokens(
        &self,
        auth_id: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<(TokenKey, Arc<LiveToken>)>, StoreError> {
        Ok(self
            .tokens
            .read()
            .iter()
            .filter(|(_, t)| {
                auth_id.is_none_or(|a| t.record.auth_id == a) && !t.record.is_expired(now)
            })
            .map(|(k, t)| (*k, t.clone()))
            .collect())
    }

    async fn refresh_put(
        &self,
        record: RefreshRecord,
        replace: bool,
    ) -> Result<RefreshRecord, StoreError> {
        let mut all = self.refresh.write();
        let name = slot(&record.user_uuid, &record.client_id);
        match all.get(&name) {
            Some(kept) if !replace => Ok(kept.clone()),
            _ => {
                all.insert(name, record.clone());
                Ok(record)
            }
        }
    }

    async fn refresh_get(&self, key: &TokenKey) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(self
            .refresh
            .read()
            .values()
            .find(|r| r.answers_to(key))
            .cloned())
    }

    async fn refresh_list(
        &self,
        user_uuid: Option<&str>,
    ) -> Result<Vec<RefreshRecord>, StoreError> {
        Ok(self
            .refresh
            .read()
            .values()
            .filter(|r| user_uuid.is_none_or(|u| r.user_uuid == u))
            .cloned()
            .collect())
    }

    async fn refresh_remove(
        &self,
        user_uuid: &str,
        client_id: &str,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(self.refresh.write().remove(&slot(user_uuid, client_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_contract() {
        super::super::contract::run(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn memory_store_refresh_contract() {
        super::super::refresh::contract::run(&MemoryStore::new()).await;
    }
}
