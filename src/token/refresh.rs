//! Refresh tokens (wazo-auth's `access_type: offline`): one per user and
//! client id, which mints access tokens without credentials until it is
//! revoked (or, with `refresh_tokens.lifetime_secs`, until it expires).
//!
//! The store keeps the SHA-256 of each refresh token, never the token. The
//! token is `HMAC-SHA256(key, record id)`, written as a UUID: a second
//! offline login of the same user and client gets the same token again
//! (as wazo-auth answers) without the token being stored anywhere. The
//! key is a file of its own (`refresh_tokens.key_file`), apart from the
//! store: a copied store or Redis dump yields no usable refresh token.
//! Instances sharing Redis must share the key file.

use std::path::Path;

use ring::hmac;
use uuid::Uuid;

/// The key refresh tokens are derived with.
pub struct RefreshKey(hmac::Key);

impl std::fmt::Debug for RefreshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshKey(..)")
    }
}

/// What a key file holds: 32 random bytes, in hex.
const KEY_BYTES: usize = 32;

impl RefreshKey {
    /// A key of this process only (tests; tokens die with the process).
    pub fn random() -> Result<Self, String> {
        Ok(RefreshKey::from_bytes(&random_bytes()?))
    }

    /// A key from a seed (the fallback when the system has no randomness
    /// at start: tokens then die with the process, as with [`Self::random`]).
    pub fn from_seed(seed: &Uuid) -> Self {
        RefreshKey::from_bytes(seed.as_bytes())
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        RefreshKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The key in `path`, made (mode 0600) when there is none yet.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .map_err(|_| format!("{}: not a hexadecimal key", path.display()))?;
                if bytes.len() < KEY_BYTES {
                    return Err(format!(
                        "{}: a refresh-token key has at least {KEY_BYTES} bytes ({} hex digits)",
                        path.display(),
                        KEY_BYTES * 2
                    ));
                }
                Ok(RefreshKey::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random_bytes()?;
                crate::fsutil::write_private_atomically(path, hex::encode(bytes).as_bytes())?;
                tracing::info!(file = %path.display(), "refresh-token key made");
                Ok(RefreshKey::from_bytes(&bytes))
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// The refresh token of the record `id`, as first made.
    pub fn token_of(&self, id: &Uuid) -> String {
        self.token_at(id, 0)
    }

    /// The refresh token of the record `id` after `generation` rotations
    /// (the first one is generation 0, as before rotation existed).
    pub fn token_at(&self, id: &Uuid, generation: u32) -> String {
        let tag = if generation == 0 {
            hmac::sign(&self.0, id.as_bytes())
        } else {
            let mut input = id.as_bytes().to_vec();
            input.extend_from_slice(&generation.to_be_bytes());
            hmac::sign(&self.0, &input)
        };
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag.as_ref()[..16]);
        Uuid::from_bytes(bytes).to_string()
    }
}

fn random_bytes() -> Result<[u8; KEY_BYTES], String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; KEY_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness for the refresh-token key".to_owned())?;
    Ok(bytes)
}

/// An offline login's request.
#[derive(Debug, Clone)]
pub struct Offline {
    pub client_id: String,
}

/// The `refresh_tokens` settings the service follows.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a refresh token mints tokens; `None`: until revoked.
    pub lifetime: Option<u64>,
    /// Most refresh tokens (client ids) per user.
    pub per_user: usize,
    /// Rotation with reuse detection.
    pub rotate: bool,
}

/// A refresh token redeemed: the record, and under rotation, the token
/// that replaces the one presented.
#[derive(Debug, Clone)]
pub struct Redeemed {
    pub record: crate::store::refresh::RefreshRecord,
    pub rotated: Option<String>,
}

/// The refresh token an offline login gets.
#[derive(Debug, Clone)]
pub struct Grant {
    pub token: String,
    /// Its record's id: the sessions it makes carry it.
    pub id: Uuid,
    /// Sessions ended to make room for it (a mobile login's).
    pub sessions_ended: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_key_and_the_record() {
        let key = RefreshKey::random().unwrap();
        let id = Uuid::new_v4();
        assert_eq!(key.token_of(&id), key.token_of(&id));
        assert_ne!(key.token_of(&id), key.token_of(&Uuid::new_v4()));
        assert_ne!(
            key.token_of(&id),
            RefreshKey::random().unwrap().token_of(&id)
        );
        assert!(Uuid::try_parse(&key.token_of(&id)).is_ok());
        assert_eq!(key.token_at(&id, 0), key.token_of(&id));
        assert_ne!(key.token_at(&id, 1), key.token_of(&id));
        assert_ne!(key.token_at(&id, 1), key.token_at(&id, 2));
    }

    #[test]
    fn the_key_file_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("refresh.key");
        let id = Uuid::new_v4();
        let made = RefreshKey::load_or_create(&path).unwrap().token_of(&id);
        assert_eq!(
            RefreshKey::load_or_create(&path).unwrap().token_of(&id),
            made
        );
        std::fs::write(&path, "abcd").unwrap();
        assert!(RefreshKey::load_or_create(&path).is_err(), "too short");
    }
}
