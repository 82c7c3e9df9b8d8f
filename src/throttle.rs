//! Brute-force throttling of password logins: after too many failures for
//! one login, or from one client address, within a window, further attempts
//! are refused (429 with `Retry-After`) until the window ends. A success
//! clears the login's failures. With the Redis store, the counters are in
//! Redis, shared by every instance; otherwise (and while Redis does not
//! answer) in memory, per instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::store::redis::RedisCounters;

/// Most logins and addresses tracked at once; past it, expired entries are
/// dropped, then the oldest half.
const MAX_TRACKED: usize = 100_000;

/// The `throttle` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Failures allowed for one login within the window.
    #[serde(default = "default_per_login")]
    pub max_failures_per_login: u32,
    /// Failures allowed from one client address within the window.
    #[serde(default = "default_per_address")]
    pub max_failures_per_address: u32,
    /// The window, in seconds, counted from the first failure.
    #[serde(default = "default_window")]
    pub window_secs: u64,
}

fn default_true() -> bool {
    true
}
fn default_per_login() -> u32 {
    5
}
fn default_per_address() -> u32 {
    20
}
fn default_window() -> u64 {
    300
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: true,
            max_failures_per_login: default_per_login(),
            max_failures_per_address: default_per_address(),
            window_secs: default_window(),
        }
    }
}

impl ThrottleConfig {
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.enabled {
            for (key, value) in [
                ("max_failures_per_login", self.max_failures_per_login as u64),
                (
                    "max_failures_per_address",
                    self.max_failures_per_address as u64,
                ),
                ("window_secs", self.window_secs),
            ] {
                if value == 0 {
                    return Err((format!("throttle.{key}"), "must be positive".into()));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    window_end: Instant,
}

/// What a login's counter is filed under: the SHA-256 of the login in the
/// form every backend compares it in (see [`canonical_login`]), so that a
/// login of any length is 32 bytes, and spelling it another way does not
/// give a fresh counter.
type LoginKey = [u8; 32];

/// Both kinds of counters, under one lock: an attempt is taken from both or
/// from neither.
#[derive(Debug, Default)]
struct Counters {
    by_login: HashMap<LoginKey, Failures>,
    by_address: HashMap<String, Failures>,
}

/// Failure counters per login and per client address.
///
/// An attempt is taken from both counters *before* the password is checked
/// (atomically: concurrent guesses cannot all see the last free attempt)
/// and given back afterwards when it must not count: the login succeeded
/// (the login's counter is cleared, the address's attempt given back), or
/// the check could not be made (a backend was down).
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    window: Duration,
    local: Mutex<Counters>,
    shared: Option<RedisCounters>,
}

/// Where an attempt was taken, so that it is given back to the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The throttle is off: nothing was taken.
    Nothing,
    Local,
    Shared,
}

/// An attempt taken from a login's and an address's counters; hand it back
/// with [`LoginThrottle::succeeded`], [`LoginThrottle::failed`] or
/// [`LoginThrottle::not_checked`]. Dropped without either (the client went
/// away during the check), it stays counted as a failure.
#[derive(Debug)]
#[must_use = "an attempt is settled once the password has been checked"]
pub struct Attempt {
    login: LoginKey,
    address: Option<String>,
    held: Held,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Seconds until `until`, rounded up, at least 1.
fn secs_until(until: Instant, now: Instant) -> u64 {
    let left = until.saturating_duration_since(now);
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
}

/// The login as the backends compare it: surrounding white space dropped,
/// every inner run of white space one space, case folded. LDAP's matching
/// rules for names (caseIgnoreMatch, as OpenLDAP and Active Directory apply
/// them) ignore exactly these differences, so `alice`, ` Alice ` and
/// `ALICE` are one account there, and one counter here.
pub fn canonical_login(login: &str) -> String {
    login
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn login_key(login: &str) -> LoginKey {
    use sha2::Digest;
    sha2::Sha256::digest(canonical_login(login).as_bytes()).into()
}

fn blocked<K: std::hash::Hash + Eq>(
    map: &HashMap<K, Failures>,
    key: &K,
    max: u32,
    now: Instant,
) -> Option<u64> {
    map.get(key)
        .filter(|f| f.window_end > now && f.count >= max)
        .map(|f| secs_until(f.window_end, now))
}

fn count<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Failures>,
    key: &K,
    window: Duration,
    now: Instant,
) {
    if map.len() >= MAX_TRACKED && !map.contains_key(key) {
        map.retain(|_, f| f.window_end > now);
        if map.len() >= MAX_TRACKED {
            let mut ends: Vec<Instant> = map.values().map(|f| f.window_end).collect();
            ends.sort();
            if let Some(cut) = ends.get(ends.len() / 2).copied() {
                map.retain(|_, f| f.window_end > cut);
            }
        }
    }
    let entry = map.entry(key.clone()).or_insert(Failures {
        count: 0,
        window_end: now + window,
    });
    if entry.window_end <= now {
        *entry = Failures {
            count: 0,
            window_end: now + window,
        };
    }
    entry.count = entry.count.saturating_add(1);
}

fn uncount<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Failures>, key: &K, now: Instant) {
    if let Some(f) = map.get_mut(key)
        && f.window_end > now
    {
        f.count = f.count.saturating_sub(1);
    }
}

impl LoginThrottle {
    /// Counters in memory, or in Redis when `shared` is given.
    pub fn new(config: ThrottleConfig, shared: Option<RedisCounters>) -> Self {
        LoginThrottle {
            window: Duration::from_secs(config.window_secs),
            config,
            local: Mutex::new(Counters::default()),
            shared,
        }
    }

    /// The name of a login's counter in Redis.
    fn shared_login_name(key: &LoginKey) -> String {
        format!("login:{}", hex::encode(key))
    }

    fn shared_address_name(address: &str) -> String {
        format!("addr:{address}")
    }

    /// Take an attempt for `login` from `address`, or `Err(seconds)` to
    /// wait when either counter has no attempt left.
    pub async fn take(&self, login: &str, address: Option<&str>) -> Result<Attempt, u64> {
        let mut attempt = Attempt {
            login: login_key(login),
            address: address.map(str::to_owned),
            held: Held::Nothing,
        };
        if !self.config.enabled {
            return Ok(attempt);
        }
        if let Some(shared) = &self.shared {
            match self.take_shared(shared, &attempt).await {
                Ok(Ok(())) => {
                    attempt.held = Held::Shared;
                    return Ok(attempt);
                }
                Ok(Err(wait)) => return Err(wait),
                Err(e) => {
                    tracing::warn!(error = %e, "throttle: Redis does not answer, counting in memory")
                }
            }
        }
        self.take_local(&attempt, Instant::now())?;
        attempt.held = Held::Local;
        Ok(attempt)
    }

    /// Each counter is taken from atomically in Redis; when the address's
    /// is exhausted, the login's attempt is given back.
    async fn take_shared(
        &self,
        shared: &RedisCounters,
        attempt: &Attempt,
    ) -> Result<Result<(), u64>, crate::store::StoreError> {
        let login = Self::shared_login_name(&attempt.login);
        let left = shared
            .take(&login, self.config.max_failures_per_login, self.window)
            .await?;
        if left > 0 {
            return Ok(Err(left.div_ceil(1000).max(1)));
        }
        if let Some(address) = &attempt.address {
            let name = Self::shared_address_name(address);
            let taken = shared
                .take(&name, self.config.max_failures_per_address, self.window)
                .await;
            let left = match taken {
                Ok(left) => left,
                Err(e) => {
                    // Leave no half-taken attempt behind.
                    let _ = shared.give_back(&login).await;
                    return Err(e);
                }
            };
            if left > 0 {
                shared.give_back(&login).await?;
                return Ok(Err(left.div_ceil(1000).max(1)));
            }
        }
        Ok(Ok(()))
    }

    fn take_local(&self, attempt: &Attempt, now: Instant) -> Result<(), u64> {
        let mut counters = lock(&self.local);
        let by_login = blocked(
            &counters.by_login,
            &attempt.login,
            self.config.max_failures_per_login,
            now,
        );
        let by_address = attempt.address.as_ref().and_then(|a| {
            blocked(
                &counters.by_address,
                a,
                self.config.max_failures_per_address,
                now,
            )
        });
        if let Some(wait) = by_login.max(by_address) {
            return Err(wait);
        }
        count(&mut counters.by_login, &attempt.login, self.window, now);
        if let Some(address) = &attempt.address {
            count(&mut counters.by_address, address, self.window, now);
        }
        Ok(())
    }

    /// The password was wrong: the attempt stays counted.
    pub fn failed(&self, attempt: Attempt) {
        let _ = attempt;
    }

    /// The login succeeded: its failures are cleared; the address's attempt
    /// is given back, but not its earlier failures (an attacker's own
    /// account must not reset the count of its guesses).
    pub async fn succeeded(&self, attempt: Attempt) {
        match attempt.held {
            Held::Nothing => {}
            Held::Local => {
                let mut counters = lock(&self.local);
                counters.by_login.remove(&attempt.login);
                if let Some(address) = &attempt.address {
                    uncount(&mut counters.by_address, address, Instant::now());
                }
            }
            Held::Shared => {
                if let Some(shared) = &self.shared {
                    let mut outcome = shared.clear(&Self::shared_login_name(&attempt.login)).await;
                    if let (Ok(()), Some(address)) = (&outcome, &attempt.address) {
                        outcome = shared.give_back(&Self::shared_address_name(address)).await;
                    }
                    if let Err(e) = outcome {
                        tracing::warn!(error = %e, "throttle: Redis does not answer");
                    }
                }
                // A failure counted in memory while Redis was away is
                // cleared too.
                lock(&self.local).by_login.remove(&attempt.login);
            }
        }
    }

    /// The password could not be checked (a backend was unavailable): the
    /// attempt is given back to both counters.
    pub async fn not_checked(&self, attempt: Attempt) {
        match attempt.held {
            Held::Nothing => {}
            Held::Local => {
                let mut counters = lock(&self.local);
                let now = Instant::now();
                uncount(&mut counters.by_login, &attempt.login, now);
                if let Some(address) = &attempt.address {
                    uncount(&mut counters.by_address, address, now);
                }
            }
            Held::Shared => {
                if let Some(shared) = &self.shared {
                    let mut names = vec![Self::shared_login_name(&attempt.login)];
                    names.extend(attempt.address.as_deref().map(Self::shared_address_name));
                    for name in names {
                        if let Err(e) = shared.give_back(&name).await {
                            tracing::warn!(error = %e, "throttle: Redis does not answer");
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(
            ThrottleConfig {
                enabled: true,
                max_failures_per_login: 3,
                max_failures_per_address: 5,
                window_secs: 60,
            },
            None,
        )
    }

    fn attempt(login: &str, address: Option<&str>) -> Attempt {
        Attempt {
            login: login_key(login),
            address: address.map(str::to_owned),
            held: Held::Local,
        }
    }

    #[test]
    fn a_login_is_locked_after_its_failures_until_the_window_ends() {
        let t = throttle();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(
                t.take_local(&attempt("Alice", Some("10.0.0.1")), start)
                    .is_ok()
            );
        }
        assert_eq!(
            t.take_local(&attempt("alice", Some("10.0.0.2")), start),
            Err(60),
            "case-insensitive, any address"
        );
        assert_eq!(
            t.take_local(&attempt("alice", None), start + Duration::from_secs(59)),
            Err(1)
        );
        assert!(
            t.take_local(&attempt("alice", None), start + Duration::from_secs(60))
                .is_ok()
        );
        assert!(
            t.take_local(&attempt("bob", Some("10.0.0.1")), start)
                .is_ok(),
            "other logins are free"
        );
    }

    #[test]
    fn spellings_of_a_login_share_its_counter() {
        let t = throttle();
        let now = Instant::now();
        for spelling in ["alice", " alice", "ALICE  "] {
            assert!(t.take_local(&attempt(spelling, None), now).is_ok());
        }
        for spelling in ["alice", "  Alice\t", "\u{a0}alice\u{a0}", "aLiCe\n"] {
            assert!(
                t.take_local(&attempt(spelling, None), now).is_err(),
                "{spelling:?}"
            );
        }
        assert_eq!(canonical_login("  Jean \t Dupont "), "jean dupont");
        assert!(t.take_local(&attempt("jean dupont", None), now).is_ok());
    }

    #[test]
    fn a_huge_login_is_a_small_key() {
        let t = throttle();
        let login = "x".repeat(64 * 1024);
        let a = attempt(&login, None);
        assert!(t.take_local(&a, Instant::now()).is_ok());
        assert_eq!(std::mem::size_of_val(&a.login), 32);
        let shared = LoginThrottle::shared_login_name(&a.login);
        assert_eq!(shared.len(), "login:".len() + 64);
    }

    #[test]
    fn an_address_is_locked_across_logins() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..5 {
            assert!(
                t.take_local(&attempt(&format!("user{i}"), Some("10.0.0.9")), now)
                    .is_ok()
            );
        }
        assert!(
            t.take_local(&attempt("someone", Some("10.0.0.9")), now)
                .is_err()
        );
        assert!(
            t.take_local(&attempt("someone", Some("10.0.0.8")), now)
                .is_ok()
        );
    }

    #[test]
    fn a_refused_attempt_takes_from_neither_counter() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..3 {
            assert!(
                t.take_local(&attempt("alice", Some(&format!("10.0.0.{i}"))), now)
                    .is_ok()
            );
        }
        // alice is locked: attempts from 10.0.0.9 are refused, and do not
        // use up that address's five.
        for _ in 0..10 {
            assert!(
                t.take_local(&attempt("alice", Some("10.0.0.9")), now)
                    .is_err()
            );
        }
        for i in 0..5 {
            assert!(
                t.take_local(&attempt(&format!("u{i}"), Some("10.0.0.9")), now)
                    .is_ok()
            );
        }
    }

    #[tokio::test]
    async fn a_success_clears_the_login_not_the_address() {
        let t = throttle();
        for _ in 0..2 {
            t.failed(t.take("alice", Some("10.0.0.1")).await.unwrap());
        }
        t.succeeded(t.take("alice", Some("10.0.0.1")).await.unwrap())
            .await;
        for _ in 0..3 {
            t.failed(t.take("alice", None).await.unwrap());
        }
        assert!(
            t.take("alice", None).await.is_err(),
            "counting started again"
        );
        // The address has seen 2 failures; mallory's two more and a success
        // leave it at 4: one more attempt, then locked.
        for _ in 0..2 {
            t.failed(t.take("mallory", Some("10.0.0.1")).await.unwrap());
        }
        t.succeeded(t.take("mallory", Some("10.0.0.1")).await.unwrap())
            .await;
        t.failed(t.take("x", Some("10.0.0.1")).await.unwrap());
        assert!(t.take("y", Some("10.0.0.1")).await.is_err());
    }

    #[tokio::test]
    async fn an_unchecked_attempt_is_given_back() {
        let t = throttle();
        for _ in 0..10 {
            t.not_checked(t.take("alice", Some("10.0.0.1")).await.unwrap())
                .await;
        }
        assert!(t.take("alice", Some("10.0.0.1")).await.is_ok());
    }

    #[tokio::test]
    async fn disabled_means_never() {
        let t = LoginThrottle::new(
            ThrottleConfig {
                enabled: false,
                ..ThrottleConfig::default()
            },
            None,
        );
        for _ in 0..100 {
            t.failed(t.take("alice", Some("a")).await.unwrap());
        }
        assert!(t.take("alice", Some("a")).await.is_ok());
    }
}
