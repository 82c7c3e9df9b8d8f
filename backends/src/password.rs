//! Argon2 password hashes, checked off the async runtime.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use tokio::sync::Semaphore;

use crate::BackendError;

/// A password in transit: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Password(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Argon2 cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for HashCost {
    /// argon2id with the OWASP minimum (19 MiB, 2 iterations, 1 lane).
    fn default() -> Self {
        HashCost {
            m_cost: Params::DEFAULT_M_COST,
            t_cost: Params::DEFAULT_T_COST,
            p_cost: Params::DEFAULT_P_COST,
        }
    }
}

/// Make an argon2id PHC string for `password`.
pub fn hash_password(password: &Password, cost: HashCost) -> Result<String, BackendError> {
    let params = Params::new(cost.m_cost, cost.t_cost, cost.p_cost, None)
        .map_err(|e| BackendError::Internal(format!("argon2 parameters: {e}")))?;
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    argon2::password_hash::PasswordHasher::hash_password(
        &argon,
        password.expose().as_bytes(),
        &salt,
    )
    .map(|h| h.to_string())
    .map_err(|e| BackendError::Internal(format!("argon2: {e}")))
}

/// Check that `phc` is an argon2 PHC string this build can verify.
pub fn validate_hash(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| e.to_string())?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(()),
        other => Err(format!("unsupported algorithm {other}, expected argon2")),
    }
}

/// Verifies passwords on the blocking pool, a bounded number at a time, so a
/// burst of logins neither starves the async workers nor exhausts memory.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password, checked when the login is unknown so that
    /// an unknown login costs as much time as a wrong password.
    decoy: Arc<str>,
}

impl PasswordHasher {
    /// `concurrency` verifications at most at once (at least one).
    pub fn new(concurrency: usize) -> Result<Self, BackendError> {
        let random: [u8; 16] = rand_bytes();
        let decoy = hash_password(
            &Password::new(
                random
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            ),
            HashCost::default(),
        )?;
        Ok(PasswordHasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            decoy: decoy.into(),
        })
    }

    /// Whether `password` matches `phc`. With `phc` `None`, the decoy hash is
    /// checked and the answer is always `false`.
    pub async fn verify(
        &self,
        password: &Password,
        phc: Option<&str>,
    ) -> Result<bool, BackendError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| BackendError::Internal("password verifier closed".into()))?;
        let known = phc.is_some();
        let phc: String = phc
            .map(str::to_owned)
            .unwrap_or_else(|| self.decoy.to_string());
        let password = password.clone();
        let matched = tokio::task::spawn_blocking(move || -> Result<bool, BackendError> {
            let parsed = PasswordHash::new(&phc)
                .map_err(|e| BackendError::Internal(format!("stored hash unreadable: {e}")))?;
            Ok(Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|e| BackendError::Internal(format!("password worker: {e}")))??;
        Ok(known && matched)
    }
}

fn rand_bytes() -> [u8; 16] {
    use argon2::password_hash::rand_core::RngCore;
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost {
        m_cost: 8,
        t_cost: 1,
        p_cost: 1,
    };

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(2).unwrap();
        let phc = hash_password(&Password::new("s3cre7"), CHEAP).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        validate_hash(&phc).unwrap();
        assert!(
            hasher
                .verify(&Password::new("s3cre7"), Some(&phc))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&Password::new("s3cre8"), Some(&phc))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(&Password::new(""), Some(&phc)).await.unwrap());
    }

    #[tokio::test]
    async fn the_decoy_never_matches() {
        let hasher = PasswordHasher::new(1).unwrap();
        assert!(
            !hasher
                .verify(&Password::new("anything"), None)
                .await
                .unwrap()
        );
    }

    #[test]
    fn non_argon2_hashes_are_refused() {
        assert!(validate_hash("plain").is_err());
        assert!(validate_hash("$5$rounds=5000$salt$hash").is_err());
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            format!("{:?}", Password::new("s3cre7")),
            "Password(<redacted>)"
        );
    }
}
