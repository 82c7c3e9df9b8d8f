//! The state of a browser login between its start and its callback, kept by
//! the browser, not by Sesame.
//!
//! Starting a browser login (OpenID Connect, CAS) is open to anyone, so
//! nothing it leaves behind may live in a table an outsider can fill. What
//! the callback needs (the provider, the redirect, the nonce and PKCE
//! verifier, the state the browser must bring back) is sealed into the state
//! cookie instead: encrypted and authenticated with ChaCha20-Poly1305 under a
//! key made when Sesame starts, bound to its flow, and expiring. A cookie
//! that was altered, comes from another flow, another Sesame process or is
//! past its time opens to nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Longest sealed value accepted back, in bytes of cookie text.
const MAX_SEALED: usize = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Altered, from another flow or process, or not a sealed value at all.
    #[error("the login state is not one this Sesame made")]
    Invalid,
    #[error("the login took too long (its state expired)")]
    Expired,
    #[error("{0}")]
    Internal(String),
}

/// Seals and opens browser-login state.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope<T> {
    /// Unix time after which the value is refused.
    exp: u64,
    v: T,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Sealer {
    /// A sealer with a fresh random key.
    pub fn new() -> Result<Self, SealError> {
        let rng = SystemRandom::new();
        let mut key = [0u8; 32];
        rng.fill(&mut key)
            .map_err(|_| SealError::Internal("no randomness for the login-state key".into()))?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &key)
            .map_err(|_| SealError::Internal("the login-state key was refused".into()))?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
            rng,
        })
    }

    /// `value`, sealed for `purpose` (a flow's name), valid for `ttl`.
    pub fn seal<T: Serialize>(
        &self,
        purpose: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<String, SealError> {
        let envelope = Envelope {
            exp: now_secs().saturating_add(ttl.as_secs()),
            v: value,
        };
        let mut data =
            serde_json::to_vec(&envelope).map_err(|e| SealError::Internal(e.to_string()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| SealError::Internal("no randomness for a nonce".into()))?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Internal("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The value sealed for `purpose`, if `sealed` is intact and in time.
    pub fn open<T: DeserializeOwned>(&self, purpose: &str, sealed: &str) -> Result<T, SealError> {
        if sealed.len() > MAX_SEALED {
            return Err(SealError::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| SealError::Invalid)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Invalid);
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Invalid)?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut data)
            .map_err(|_| SealError::Invalid)?;
        let envelope: Envelope<T> =
            serde_json::from_slice(plain).map_err(|_| SealError::Invalid)?;
        if envelope.exp <= now_secs() {
            return Err(SealError::Expired);
        }
        Ok(envelope.v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Pending {
        state: String,
        redirect: String,
    }

    fn pending() -> Pending {
        Pending {
            state: "s1".into(),
            redirect: "https://app.example/".into(),
        }
    }

    #[test]
    fn a_sealed_value_opens_for_its_flow_only() {
        let sealer = Sealer::new().unwrap();
        let sealed = sealer
            .seal("oidc", &pending(), Duration::from_secs(60))
            .unwrap();
        assert!(
            !sealed.contains("app.example"),
            "encrypted, not only signed"
        );
        assert_eq!(sealer.open::<Pending>("oidc", &sealed).unwrap(), pending());
        assert_eq!(
            sealer.open::<Pending>("cas", &sealed),
            Err(SealError::Invalid),
            "another flow"
        );
        let other = Sealer::new().unwrap();
        assert_eq!(
            other.open::<Pending>("oidc", &sealed),
            Err(SealError::Invalid),
            "another process"
        );
    }

    #[test]
    fn altered_truncated_or_late_values_are_refused() {
        let sealer = Sealer::new().unwrap();
        let sealed = sealer
            .seal("cas", &pending(), Duration::from_secs(60))
            .unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        for bad in [
            URL_SAFE_NO_PAD.encode(&bytes),
            sealed[..sealed.len() - 4].to_owned(),
            String::new(),
            "not base64!".into(),
            "A".repeat(MAX_SEALED + 1),
        ] {
            assert_eq!(sealer.open::<Pending>("cas", &bad), Err(SealError::Invalid));
        }
        let late = sealer.seal("cas", &pending(), Duration::ZERO).unwrap();
        assert_eq!(
            sealer.open::<Pending>("cas", &late),
            Err(SealError::Expired)
        );
    }
}
