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

/// Failure counters per login and per client address.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    window: Duration,
    by_login: Mutex<HashMap<String, Failures>>,
    by_address: Mutex<HashMap<String, Failures>>,
    shared: Option<RedisCounters>,
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

fn blocked(map: &HashMap<String, Failures>, key: &str, max: u32, now: Instant) -> Option<u64> {
    map.get(key)
        .filter(|f| f.window_end > now && f.count >= max)
        .map(|f| secs_until(f.window_end, now))
}

fn count(map: &mut HashMap<String, Failures>, key: &str, window: Duration, now: Instant) {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, f| f.window_end > now);
        if map.len() >= MAX_TRACKED {
            let mut ends: Vec<Instant> = map.values().map(|f| f.window_end).collect();
            ends.sort();
            let cut = ends[ends.len() / 2];
            map.retain(|_, f| f.window_end > cut);
        }
    }
    let entry = map.entry(key.to_owned()).or_insert(Failures {
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

impl LoginThrottle {
    /// Counters in memory, or in Redis when `shared` is given.
    pub fn new(config: ThrottleConfig, shared: Option<RedisCounters>) -> Self {
        LoginThrottle {
            window: Duration::from_secs(config.window_secs),
            config,
            by_login: Mutex::new(HashMap::new()),
            by_address: Mutex::new(HashMap::new()),
            shared,
        }
    }

    fn login_key(login: &str) -> String {
        login.to_lowercase()
    }

    /// The name of a login's counter in Redis (hashed: any bytes, bounded length).
    fn shared_login_name(login: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(Self::login_key(login).as_bytes());
        format!("login:{}", hex::encode(digest))
    }

    /// The names of a login's counter and, when known, its address's, in
    /// that order.
    fn shared_names(login: &str, address: Option<&str>) -> Vec<String> {
        let mut names = vec![Self::shared_login_name(login)];
        names.extend(address.map(|a| format!("addr:{a}")));
        names
    }

    /// `Err(seconds)` when an attempt for `login` from `address` must wait.
    pub async fn check(&self, login: &str, address: Option<&str>) -> Result<(), u64> {
        if !self.config.enabled {
            return Ok(());
        }
        let Some(shared) = &self.shared else {
            return self.check_local(login, address, Instant::now());
        };
        let names = Self::shared_names(login, address);
        let limits = [
            self.config.max_failures_per_login,
            self.config.max_failures_per_address,
        ];
        let outcome = async {
            let counts = shared.counts(&names).await?;
            let mut wait = None;
            for ((name, count), max) in names.iter().zip(counts).zip(limits) {
                if count >= u64::from(max) {
                    let left = shared.window_left_ms(name).await?;
                    let secs = left.div_ceil(1000).max(1);
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
            Ok::<_, crate::store::StoreError>(wait)
        }
        .await;
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => Err(wait),
            Err(e) => {
                tracing::warn!(error = %e, "throttle: Redis does not answer, counting in memory");
                self.check_local(login, address, Instant::now())
            }
        }
    }

    /// A failed attempt for `login` from `address`.
    pub async fn failure(&self, login: &str, address: Option<&str>) {
        if !self.config.enabled {
            return;
        }
        if let Some(shared) = &self.shared {
            match shared
                .add(&Self::shared_names(login, address), self.window)
                .await
            {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "throttle: Redis does not answer, counting in memory")
                }
            }
        }
        self.failure_local(login, address, Instant::now());
    }

    /// A success clears the login's failures (not the address's: an
    /// attacker's own account must not reset the count of its guesses).
    pub async fn success(&self, login: &str) {
        if !self.config.enabled {
            return;
        }
        if let Some(shared) = &self.shared
            && let Err(e) = shared.clear(&Self::shared_login_name(login)).await
        {
            tracing::warn!(error = %e, "throttle: Redis does not answer");
        }
        self.success_local(login);
    }

    fn check_local(&self, login: &str, address: Option<&str>, now: Instant) -> Result<(), u64> {
        if !self.config.enabled {
            return Ok(());
        }
        let by_login = blocked(
            &lock(&self.by_login),
            &Self::login_key(login),
            self.config.max_failures_per_login,
            now,
        );
        let by_address = address.and_then(|a| {
            blocked(
                &lock(&self.by_address),
                a,
                self.config.max_failures_per_address,
                now,
            )
        });
        match by_login.max(by_address) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    fn failure_local(&self, login: &str, address: Option<&str>, now: Instant) {
        count(
            &mut lock(&self.by_login),
            &Self::login_key(login),
            self.window,
            now,
        );
        if let Some(address) = address {
            count(&mut lock(&self.by_address), address, self.window, now);
        }
    }

    fn success_local(&self, login: &str) {
        lock(&self.by_login).remove(&Self::login_key(login));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run a future that never waits (the in-memory path) to completion.
    fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

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

    #[test]
    fn a_login_is_locked_after_its_failures_until_the_window_ends() {
        let t = throttle();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(t.check_local("Alice", Some("10.0.0.1"), start).is_ok());
            t.failure_local("Alice", Some("10.0.0.1"), start);
        }
        assert_eq!(
            t.check_local("alice", Some("10.0.0.2"), start),
            Err(60),
            "case-insensitive, any address"
        );
        assert_eq!(
            t.check_local("alice", None, start + Duration::from_secs(59)),
            Err(1)
        );
        assert!(
            t.check_local("alice", None, start + Duration::from_secs(60))
                .is_ok()
        );
        assert!(
            t.check_local("bob", Some("10.0.0.1"), start).is_ok(),
            "other logins are free"
        );
    }

    #[test]
    fn an_address_is_locked_across_logins() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..5 {
            t.failure_local(&format!("user{i}"), Some("10.0.0.9"), now);
        }
        assert!(t.check_local("someone", Some("10.0.0.9"), now).is_err());
        assert!(t.check_local("someone", Some("10.0.0.8"), now).is_ok());
    }

    #[test]
    fn a_success_clears_the_login_not_the_address() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..2 {
            t.failure_local("alice", Some("10.0.0.1"), now);
        }
        t.success_local("alice");
        t.failure_local("alice", Some("10.0.0.1"), now);
        assert!(
            t.check_local("alice", None, now).is_ok(),
            "counting starts again"
        );
        for _ in 0..2 {
            t.failure_local("mallory", Some("10.0.0.1"), now);
        }
        t.success_local("mallory");
        assert!(
            t.check_local("x", Some("10.0.0.1"), now).is_err(),
            "5 failures from that address"
        );
    }

    #[test]
    fn disabled_means_never() {
        let t = LoginThrottle::new(
            ThrottleConfig {
                enabled: false,
                ..ThrottleConfig::default()
            },
            None,
        );
        for _ in 0..100 {
            futures_lite(t.failure("alice", Some("a")));
        }
        assert!(futures_lite(t.check("alice", Some("a"))).is_ok());
    }
}
