//! Argon2 password hashes, checked off the async runtime on dedicated threads.

use std::fmt;
use std::sync::{Arc, mpsc};

use parking_lot::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

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

/// A verification waiting for a worker.
struct Job {
    work: Work,
    reply: oneshot::Sender<Result<bool, BackendError>>,
}

/// A check a worker runs.
enum Work {
    /// An argon2 PHC string, hashed in the worker's reused memory.
    Argon2 { password: Password, phc: Arc<str> },
    /// Any other costly check (PBKDF2, bcrypt, crypt), as a closure.
    Other(Box<dyn FnOnce() -> Result<bool, BackendError> + Send>),
}

/// Verifies passwords on a few dedicated threads (one per allowed
/// concurrent verification), each reusing its own argon2 memory: a burst of
/// logins neither starves the async workers nor makes the allocator keep a
/// fresh 19 MiB buffer per thread it ever ran on.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: mpsc::SyncSender<Job>,
    /// A hash of a random password, checked when the login is unknown so that
    /// an unknown login costs as much time as a wrong password.
    decoy: Arc<str>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

/// Verifications queued per worker before new ones are refused as
/// "unavailable" (load shedding rather than an ever longer wait).
const QUEUE_PER_WORKER: usize = 256;

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
        let workers = concurrency.max(1);
        let (jobs, queue) = mpsc::sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..workers {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("sesame-argon2-{i}"))
                .spawn(move || work(&queue))
                .map_err(|e| BackendError::Internal(format!("password worker: {e}")))?;
        }
        Ok(PasswordHasher {
            jobs,
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
        let known = phc.is_some();
        let work = Work::Argon2 {
            password: password.clone(),
            phc: phc.map(Arc::from).unwrap_or_else(|| self.decoy.clone()),
        };
        let matched = self.submit(work).await?;
        Ok(known && matched)
    }

    /// Run a costly check on the workers (so that it counts against the
    /// same concurrency as argon2's, and never on the async runtime).
    pub async fn run(
        &self,
        check: impl FnOnce() -> Result<bool, BackendError> + Send + 'static,
    ) -> Result<bool, BackendError> {
        self.submit(Work::Other(Box::new(check))).await
    }

    async fn submit(&self, work: Work) -> Result<bool, BackendError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { work, reply };
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => {
                BackendError::Unavailable("too many password checks waiting".into())
            }
            mpsc::TrySendError::Disconnected(_) => {
                BackendError::Internal("password workers stopped".into())
            }
        })?;
        answer
            .await
            .map_err(|_| BackendError::Internal("password worker stopped".into()))?
    }
}

/// A worker: takes jobs until the hasher is dropped, with one argon2 memory
/// buffer grown to the largest cost seen.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let queue = queue.lock();
            queue.recv()
        };
        let Ok(job) = job else {
            return;
        };
        let outcome = match job.work {
            Work::Argon2 { password, phc } => {
                verify_with(&mut memory, password.expose().as_bytes(), &phc)
            }
            Work::Other(check) => check(),
        };
        // The caller may have gone away (request cancelled): nothing to do.
        let _ = job.reply.send(outcome);
    }
}

/// Check `password` against the PHC string `phc`, computing the hash in
/// `memory`, and compare in constant time.
fn verify_with(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> Result<bool, BackendError> {
    let unreadable = |e: String| BackendError::Internal(format!("stored hash unreadable: {e}"));
    let parsed = PasswordHash::new(phc).map_err(|e| unreadable(e.to_string()))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| unreadable(e.to_string()))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| unreadable(e.to_string()))?,
        None => Version::V0x13,
    };
    let params = Params::try_from(&parsed).map_err(|e| unreadable(e.to_string()))?;
    let expected = parsed.hash.ok_or_else(|| unreadable("no hash".into()))?;
    let salt = parsed.salt.ok_or_else(|| unreadable("no salt".into()))?;
    let mut salt_buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| unreadable(e.to_string()))?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
        .map_err(|e| unreadable(e.to_string()))?;
    Ok(out.ct_eq(expected.as_bytes()).into())
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

    #[tokio::test]
    async fn every_argon2_variant_and_cost_verifies() {
        let hasher = PasswordHasher::new(1).unwrap();
        // A larger cost after a smaller one grows the worker's memory.
        for cost in [
            CHEAP,
            HashCost {
                m_cost: 64,
                t_cost: 2,
                p_cost: 2,
            },
        ] {
            let phc = hash_password(&Password::new("pw"), cost).unwrap();
            assert!(
                hasher
                    .verify(&Password::new("pw"), Some(&phc))
                    .await
                    .unwrap()
            );
        }
        // argon2i and argon2d hashes from elsewhere verify too.
        for algorithm in [argon2::Algorithm::Argon2i, argon2::Algorithm::Argon2d] {
            let params = Params::new(16, 1, 1, None).unwrap();
            let argon = Argon2::new(algorithm, Version::V0x13, params);
            let salt = SaltString::generate(&mut OsRng);
            let phc = argon2::password_hash::PasswordHasher::hash_password(&argon, b"pw", &salt)
                .unwrap()
                .to_string();
            assert!(
                hasher
                    .verify(&Password::new("pw"), Some(&phc))
                    .await
                    .unwrap()
            );
            assert!(
                !hasher
                    .verify(&Password::new("px"), Some(&phc))
                    .await
                    .unwrap()
            );
        }
        assert!(
            hasher
                .verify(&Password::new("pw"), Some("$argon2id$v=19$garbage"))
                .await
                .is_err()
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
