//! Static service tokens: never expiring tokens for internal services
//! (xivo-auth's static token manager).
//!
//! They live in a YAML file that holds only their SHA-256, a name and ACLs.
//! `sesame token create|list|revoke` edits the file; the server reloads it on
//! change or SIGHUP, so revocation does not need a restart.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::store::{LiveToken, TokenKey, TokenRecord};

/// One static token as the file spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticTokenEntry {
    /// A unique name for operators (`sesame token revoke NAME`).
    pub name: String,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    pub acl: Vec<String>,
    /// RFC 3339 creation time, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticTokensFile {
    #[serde(default)]
    pub tokens: Vec<StaticTokenEntry>,
}

impl StaticTokensFile {
    /// Read the file; a missing file holds no token.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let file: StaticTokensFile =
            yaml_serde::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        file.validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(file)
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut names = HashMap::new();
        for entry in &self.tokens {
            if names.insert(entry.name.as_str(), ()).is_some() {
                return Err(format!("static token name {:?} appears twice", entry.name));
            }
            if TokenKey::from_hex(&entry.sha256).is_none() {
                return Err(format!(
                    "static token {:?}: sha256 is not 64 hex digits",
                    entry.name
                ));
            }
        }
        Ok(())
    }

    /// Write the file atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = yaml_serde::to_string(self).map_err(|e| e.to_string())?;
        crate::fsutil::write_private_atomically(path, text.as_bytes())
    }

    /// Add a token named `name` with `acl`; returns the token (shown once).
    pub fn create(
        &mut self,
        name: &str,
        acl: Vec<String>,
        now: Timestamp,
    ) -> Result<String, String> {
        if self.tokens.iter().any(|t| t.name == name) {
            return Err(format!("a static token named {name:?} already exists"));
        }
        let token = Uuid::new_v4().to_string();
        self.tokens.push(StaticTokenEntry {
            name: name.to_owned(),
            sha256: TokenKey::of(&token).to_hex(),
            acl,
            created_at: Some(now.to_datetime().to_rfc3339()),
        });
        Ok(token)
    }

    /// Remove the token named `name_or_token` (or whose value it is).
    pub fn revoke(&mut self, name_or_token: &str) -> bool {
        let digest = TokenKey::of(name_or_token).to_hex();
        let before = self.tokens.len();
        self.tokens
            .retain(|t| t.name != name_or_token && t.sha256 != digest);
        before != self.tokens.len()
    }
}

/// The static tokens the server currently accepts.
#[derive(Debug, Default)]
pub struct StaticTokens {
    tokens: arc_swap::ArcSwap<HashMap<TokenKey, Arc<LiveToken>>>,
}

impl StaticTokens {
    /// Replace the accepted tokens with those of `file`.
    pub fn replace(&self, file: &StaticTokensFile, platform_uuid: Uuid) {
        let mut map = HashMap::new();
        for entry in &file.tokens {
            let Some(key) = TokenKey::from_hex(&entry.sha256) else {
                continue;
            };
            let record = TokenRecord {
                auth_id: entry.name.clone(),
                user_uuid: None,
                login: entry.name.clone(),
                backend: "static".into(),
                session_uuid: Uuid::nil(),
                issued_at: entry
                    .created_at
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| Timestamp(t.timestamp_micros()))
                    .unwrap_or(Timestamp(0)),
                expires_at: None,
                lifetime_secs: 0,
                acl: entry.acl.clone(),
                metadata: serde_json::Map::from_iter([
                    (
                        "name".to_string(),
                        serde_json::Value::String(entry.name.clone()),
                    ),
                    (
                        "purpose".to_string(),
                        serde_json::Value::String("internal".into()),
                    ),
                    (
                        "xivo_uuid".to_string(),
                        serde_json::Value::String(platform_uuid.to_string()),
                    ),
                ]),
                remote_addr: None,
                user_agent: None,
                parent: None,
                mobile: false,
                refresh_id: None,
            };
            map.insert(key, Arc::new(LiveToken::new(record)));
        }
        let map = Arc::new(map);
        self.tokens.store(map);
    }

    pub fn get(&self, key: &TokenKey) -> Option<Arc<LiveToken>> {
        self.tokens.load().get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.tokens.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_save_load_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("static-tokens.yml");
        let mut file = StaticTokensFile::load(&path).unwrap();
        assert!(file.tokens.is_empty());
        let token = file
            .create(
                "confd-reader",
                vec!["confd.users.read".into()],
                Timestamp::from_secs(0),
            )
            .unwrap();
        assert!(
            file.create("confd-reader", vec![], Timestamp::from_secs(0))
                .is_err()
        );
        file.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&token), "the file must not hold the token");

        let loaded = StaticTokensFile::load(&path).unwrap();
        let statics = StaticTokens::default();
        statics.replace(&loaded, Uuid::nil());
        let live = statics.get(&TokenKey::of(&token)).unwrap();
        assert!(live.acl.grants("confd.users.read"));
        assert_eq!(live.record.expires_at, None);

        let mut loaded = loaded;
        assert!(loaded.revoke(&token));
        assert!(!loaded.revoke("confd-reader"));
        statics.replace(&loaded, Uuid::nil());
        assert!(statics.is_empty());
    }
}
