//! Brute-force throttling of password logins: after too many failures for
//! one login, or from one client address, within a window, further attempts
//! are refused (429 with `Retry-After`) until the window ends. A success
//! clears the login's failures. An attempt is taken before its password is
//! checked and counts while under way, so concurrent guesses cannot outrun
//! the limits. With the Redis store, the counters are in Redis, shared by
//! every instance; otherwise (and while Redis does not answer) in memory,
//! per instance.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::store::redis::{RedisCounters, Settled, Take};

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
    /// Failures within the window.
    count: u32,
    /// Attempts under way (taken, not settled yet).
    busy: u32,
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
/// An attempt is taken from both counters *before* the password is checked,
/// atomically, and is under way until it is settled: the failures and the
/// attempts under way of a counter together stay under its limit, so that
/// concurrent guesses cannot all see the last free attempt. Settling it
/// counts a failure (wrong password), clears the login's failures (a
/// success), or just ends it (a check that could not be made). Attempts
/// turned away only because others are under way wait one second, not the
/// whole window.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    window: Duration,
    local: Mutex<Counters>,
    shared: Option<RedisCounters>,
    pending: Arc<PendingSettles>,
}

/// Where an attempt was taken, so that it is settled in the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The throttle is off: nothing was taken.
    Nothing,
    Local,
    Shared,
}

/// An attempt taken from a login's and an address's counters, to settle
/// with [`LoginThrottle::settle`] once the password has been checked.
#[derive(Debug)]
#[must_use = "an attempt is settled once the password has been checked"]
pub struct Attempt {
    login: LoginKey,
    address: Option<String>,
    held: Held,
    /// Names this attempt among those under way (in Redis).
    id: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Wrong credentials: a failure for the login and the address.
    Failed,
    /// Accepted: the login's failures are cleared (the address's are not:
    /// an attacker's own account must not reset the count of its guesses).
    Succeeded,
    /// The check could not be made (a backend was down): nothing counted.
    NotChecked,
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

/// `Some(seconds)` when counter `key` has no attempt left.
fn blocked<K: std::hash::Hash + Eq>(
    map: &HashMap<K, Failures>,
    key: &K,
    max: u32,
    now: Instant,
) -> Option<u64> {
    let f = map.get(key)?;
    let count = if f.window_end > now { f.count } else { 0 };
    if count >= max {
        Some(secs_until(f.window_end, now))
    } else if count.saturating_add(f.busy) >= max {
        Some(1)
    } else {
        None
    }
}

/// The entry of `key`, made (or its window restarted) as needed.
fn entry<'a, K: std::hash::Hash + Eq + Clone>(
    map: &'a mut HashMap<K, Failures>,
    key: &K,
    window: Duration,
    now: Instant,
) -> &'a mut Failures {
    if map.len() >= MAX_TRACKED && !map.contains_key(key) {
        map.retain(|_, f| f.busy > 0 || (f.window_end > now && f.count > 0));
        if map.len() >= MAX_TRACKED {
            let mut ends: Vec<Instant> = map.values().map(|f| f.window_end).collect();
            ends.sort();
            if let Some(cut) = ends.get(ends.len() / 2).copied() {
                map.retain(|_, f| f.window_end > cut);
            }
        }
    }
    let f = map.entry(key.clone()).or_insert(Failures {
        count: 0,
        busy: 0,
        window_end: now + window,
    });
    if f.window_end <= now {
        f.count = 0;
        f.window_end = now + window;
    }
    f
}

/// End an attempt under way on counter `key`: `fail` adds a failure,
/// `clear` forgets them; an entry left with nothing is dropped.
fn finish<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Failures>,
    key: &K,
    outcome: Settled,
    window: Duration,
    now: Instant,
) {
    let f = entry(map, key, window, now);
    f.busy = f.busy.saturating_sub(1);
    match outcome {
        Settled::Failed => f.count = f.count.saturating_add(1),
        Settled::Clear => f.count = 0,
        Settled::Release => {}
    }
    if f.count == 0 && f.busy == 0 {
        map.remove(key);
    }
}

/// A settle Redis did not take when the check ended (it was away).
#[derive(Debug)]
struct Unsettled {
    name: String,
    id: String,
    how: Settled,
    since: Instant,
}

/// The settles waiting for Redis to answer again: delivered before the next
/// attempt is taken there (so that an attempt of the outage holds no place
/// once Redis is back) and every half second in the background meanwhile.
/// Past the attempts' deadline Redis has forgotten them by itself.
#[derive(Debug, Default)]
struct PendingSettles {
    list: tokio::sync::Mutex<Vec<Unsettled>>,
    flusher: std::sync::atomic::AtomicBool,
}

impl PendingSettles {
    /// Deliver what waits, in order; `true` when nothing is left. Stops at
    /// the first refusal: Redis is still away, and each try costs a timeout.
    async fn flush(&self, shared: &RedisCounters, window: Duration) -> bool {
        let mut list = self.list.lock().await;
        let deadline = Duration::from_millis(crate::store::redis::BUSY_TTL_MS);
        list.retain(|u| u.since.elapsed() < deadline);
        while let Some(u) = list.first() {
            if shared.settle(&u.name, &u.id, u.how, window).await.is_err() {
                return false;
            }
            list.remove(0);
        }
        true
    }

    async fn push(
        self: &Arc<Self>,
        shared: &RedisCounters,
        window: Duration,
        more: Vec<Unsettled>,
    ) {
        self.list.lock().await.extend(more);
        if self.flusher.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.flusher
                .store(false, std::sync::atomic::Ordering::Release);
            return;
        };
        let (pending, shared) = (Arc::clone(self), shared.clone());
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if pending.flush(&shared, window).await {
                    pending
                        .flusher
                        .store(false, std::sync::atomic::Ordering::Release);
                    // Something may have been added since the flush.
                    if pending.list.lock().await.is_empty()
                        || pending
                            .flusher
                            .swap(true, std::sync::atomic::Ordering::AcqRel)
                    {
                        return;
                    }
                }
            }
        });
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
            pending: Arc::default(),
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
            id: uuid::Uuid::new_v4().simple().to_string(),
        };
        if !self.config.enabled {
            return Ok(attempt);
        }
        if let Some(shared) = &self.shared {
            let asked = self.pending.flush(shared, self.window).await;
            let taken = if asked {
                self.take_shared(shared, &attempt).await
            } else {
                Err(crate::store::StoreError::Unavailable(
                    "settles of an earlier outage are still waiting".into(),
                ))
            };
            match taken {
                Ok(Ok(())) => {
                    attempt.held = Held::Shared;
                    return Ok(attempt);
                }
                Ok(Err(wait)) => return Err(wait),
                Err(e) => {
                    tracing::warn!(error = %e, "throttle: Redis does not answer, counting in memory");
                    if asked {
                        // Redis may have taken the attempt and lost only its
                        // answer (killed mid-reply, a timeout): its place is
                        // given back once Redis answers again, or it would
                        // hold the counter busy for a minute after a crash.
                        self.release_later(shared, &attempt).await;
                    }
                }
            }
        }
        self.take_local(&attempt, Instant::now())?;
        attempt.held = Held::Local;
        Ok(attempt)
    }

    /// Queue the release of `attempt`'s places in Redis (harmless for a
    /// place it never took).
    async fn release_later(&self, shared: &RedisCounters, attempt: &Attempt) {
        let since = Instant::now();
        let mut names = vec![Self::shared_login_name(&attempt.login)];
        names.extend(attempt.address.as_deref().map(Self::shared_address_name));
        let unsettled = names
            .into_iter()
            .map(|name| Unsettled {
                name,
                id: attempt.id.clone(),
                how: Settled::Release,
                since,
            })
            .collect();
        self.pending.push(shared, self.window, unsettled).await;
    }

    /// Each counter is taken from atomically in Redis; when the address's
    /// has no attempt left, the login's is released.
    async fn take_shared(
        &self,
        shared: &RedisCounters,
        attempt: &Attempt,
    ) -> Result<Result<(), u64>, crate::store::StoreError> {
        let wait = |taken: Take| match taken {
            Take::Taken => None,
            Take::Exhausted(ms) => Some(ms.div_ceil(1000).max(1)),
            Take::Busy => Some(1),
        };
        let login = Self::shared_login_name(&attempt.login);
        let taken = shared
            .take(
                &login,
                &attempt.id,
                self.config.max_failures_per_login,
                self.window,
            )
            .await?;
        if let Some(wait) = wait(taken) {
            return Ok(Err(wait));
        }
        if let Some(address) = &attempt.address {
            let name = Self::shared_address_name(address);
            let taken = shared
                .take(
                    &name,
                    &attempt.id,
                    self.config.max_failures_per_address,
                    self.window,
                )
                .await;
            let refused = match taken {
                Ok(taken) => wait(taken),
                Err(e) => {
                    // Leave no half-taken attempt behind.
                    let _ = shared
                        .settle(&login, &attempt.id, Settled::Release, self.window)
                        .await;
                    return Err(e);
                }
            };
            if let Some(wait) = refused {
                shared
                    .settle(&login, &attempt.id, Settled::Release, self.window)
                    .await?;
                return Ok(Err(wait));
            }
        }
        Ok(Ok(()))
    }

    fn take_local(&self, attempt: &Attempt, now: Instant) -> Result<(), u64> {
        let mut counters = self.local.lock();
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
        entry(&mut counters.by_login, &attempt.login, self.window, now).busy += 1;
        if let Some(address) = &attempt.address {
            entry(&mut counters.by_address, address, self.window, now).busy += 1;
        }
        Ok(())
    }

    /// Settle an attempt once its check is over.
    pub async fn settle(&self, attempt: Attempt, outcome: Outcome) {
        let (login, address) = match outcome {
            Outcome::Failed => (Settled::Failed, Settled::Failed),
            Outcome::Succeeded => (Settled::Clear, Settled::Release),
            Outcome::NotChecked => (Settled::Release, Settled::Release),
        };
        match attempt.held {
            Held::Nothing => {}
            Held::Local => self.settle_local(&attempt, login, address, Instant::now()),
            Held::Shared => {
                if let Some(shared) = &self.shared {
                    let mut names = vec![(Self::shared_login_name(&attempt.login), login)];
                    names.extend(
                        attempt
                            .address
                            .as_deref()
                            .map(|a| (Self::shared_address_name(a), address)),
                    );
                    let mut unsettled = Vec::new();
                    for (name, how) in names {
                        if let Err(e) = shared.settle(&name, &attempt.id, how, self.window).await {
                            tracing::warn!(error = %e, "throttle: Redis does not answer");
                            unsettled.push((name, how));
                        }
                    }
                    if unsettled.iter().any(|(_, how)| *how == Settled::Failed) {
                        // Counted here too, meanwhile: a failure is never lost.
                        self.count_local_failure(&attempt);
                    }
                    if !unsettled.is_empty() {
                        let since = Instant::now();
                        let unsettled = unsettled
                            .into_iter()
                            .map(|(name, how)| Unsettled {
                                name,
                                id: attempt.id.clone(),
                                how,
                                since,
                            })
                            .collect();
                        self.pending.push(shared, self.window, unsettled).await;
                    }
                }
                if outcome == Outcome::Succeeded {
                    // A failure counted in memory while Redis was away is
                    // cleared too.
                    self.local.lock().by_login.remove(&attempt.login);
                }
            }
        }
    }

    fn settle_local(&self, attempt: &Attempt, login: Settled, address: Settled, now: Instant) {
        let mut counters = self.local.lock();
        finish(
            &mut counters.by_login,
            &attempt.login,
            login,
            self.window,
            now,
        );
        if let Some(a) = &attempt.address {
            finish(&mut counters.by_address, a, address, self.window, now);
        }
    }

    /// A failure counted in memory for an attempt taken in Redis (Redis
    /// stopped answering in between).
    fn count_local_failure(&self, attempt: &Attempt) {
        let now = Instant::now();
        let mut counters = self.local.lock();
        entry(&mut counters.by_login, &attempt.login, self.window, now).count += 1;
        if let Some(a) = &attempt.address {
            entry(&mut counters.by_address, a, self.window, now).count += 1;
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
            id: String::new(),
        }
    }

    impl LoginThrottle {
        /// A wrong password for `login` from `address` at `now`, if an
        /// attempt is left.
        fn fail_at(&self, login: &str, address: Option<&str>, now: Instant) -> Result<(), u64> {
            let a = attempt(login, address);
            self.take_local(&a, now)?;
            self.settle_local(&a, Settled::Failed, Settled::Failed, now);
            Ok(())
        }
    }

    #[test]
    fn a_login_is_locked_after_its_failures_until_the_window_ends() {
        let t = throttle();
        let start = Instant::now();
        for _ in 0..3 {
            t.fail_at("Alice", Some("10.0.0.1"), start).unwrap();
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
    fn attempts_under_way_count_until_they_are_settled() {
        let t = throttle();
        let now = Instant::now();
        let taken: Vec<Attempt> = (0..3).map(|_| attempt("alice", None)).collect();
        for a in &taken {
            assert!(t.take_local(a, now).is_ok());
        }
        assert_eq!(
            t.take_local(&attempt("alice", None), now),
            Err(1),
            "three under way: the fourth waits a second, not the window"
        );
        // One succeeds: its place is free again, and nothing was a failure.
        t.settle_local(&taken[0], Settled::Clear, Settled::Release, now);
        assert!(t.take_local(&attempt("alice", None), now).is_ok());
        // The others fail: now the window applies.
        t.settle_local(&taken[1], Settled::Failed, Settled::Failed, now);
        t.settle_local(&taken[2], Settled::Failed, Settled::Failed, now);
        t.settle_local(
            &attempt("alice", None),
            Settled::Failed,
            Settled::Failed,
            now,
        );
        assert_eq!(t.take_local(&attempt("alice", None), now), Err(60));
    }

    #[test]
    fn spellings_of_a_login_share_its_counter() {
        let t = throttle();
        let now = Instant::now();
        for spelling in ["alice", " alice", "ALICE  "] {
            t.fail_at(spelling, None, now).unwrap();
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
            t.fail_at(&format!("user{i}"), Some("10.0.0.9"), now)
                .unwrap();
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
            t.fail_at("alice", Some(&format!("10.0.0.{i}")), now)
                .unwrap();
        }
        // alice is locked: attempts from 10.0.0.9 are refused, and do not
        // use up that address's five.
        for _ in 0..10 {
            assert!(t.fail_at("alice", Some("10.0.0.9"), now).is_err());
        }
        for i in 0..5 {
            t.fail_at(&format!("u{i}"), Some("10.0.0.9"), now).unwrap();
        }
    }

    #[tokio::test]
    async fn a_success_clears_the_login_not_the_address() {
        let t = throttle();
        for _ in 0..2 {
            let a = t.take("alice", Some("10.0.0.1")).await.unwrap();
            t.settle(a, Outcome::Failed).await;
        }
        let a = t.take("alice", Some("10.0.0.1")).await.unwrap();
        t.settle(a, Outcome::Succeeded).await;
        for _ in 0..3 {
            let a = t.take("alice", None).await.unwrap();
            t.settle(a, Outcome::Failed).await;
        }
        assert!(
            t.take("alice", None).await.is_err(),
            "counting started again"
        );
        // The address has 2 failures; mallory's two more make 4 (her
        // success does not take them back): one more, then locked.
        for _ in 0..2 {
            let a = t.take("mallory", Some("10.0.0.1")).await.unwrap();
            t.settle(a, Outcome::Failed).await;
        }
        let a = t.take("mallory", Some("10.0.0.1")).await.unwrap();
        t.settle(a, Outcome::Succeeded).await;
        let a = t.take("x", Some("10.0.0.1")).await.unwrap();
        t.settle(a, Outcome::Failed).await;
        assert!(t.take("y", Some("10.0.0.1")).await.is_err());
    }

    #[tokio::test]
    async fn an_unchecked_attempt_counts_nothing() {
        let t = throttle();
        for _ in 0..10 {
            let a = t.take("alice", Some("10.0.0.1")).await.unwrap();
            t.settle(a, Outcome::NotChecked).await;
        }
        assert!(t.take("alice", Some("10.0.0.1")).await.is_ok());
        assert!(
            t.local
                .lock()
                .by_address
                .get("10.0.0.1")
                .is_some_and(|f| f.count == 0)
        );
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
            let a = t.take("alice", Some("a")).await.unwrap();
            t.settle(a, Outcome::Failed).await;
        }
        assert!(t.take("alice", Some("a")).await.is_ok());
    }
}

#[cfg(test)]
mod lost_replies {
    use super::*;

    /// Redis took an attempt whose answer was lost (it was killed while
    /// replying): the place it holds is given back once Redis answers, so
    /// that the user is not told to wait for a minute after the crash.
    #[tokio::test]
    async fn a_place_taken_without_an_answer_is_given_back() {
        let prefix = format!("sesame-test-{}:", uuid::Uuid::new_v4());
        let shared = crate::store::redis::RedisStore::new(
            &crate::store::redis::test_redis_url(),
            &prefix,
            Duration::from_secs(2),
        )
        .unwrap()
        .counters();
        let config = ThrottleConfig {
            max_failures_per_login: 1,
            ..ThrottleConfig::default()
        };
        let throttle = LoginThrottle::new(config, Some(shared.clone()));
        // The lost attempt: in Redis, unknown to Sesame.
        let lost = Attempt {
            login: login_key("alice"),
            address: None,
            held: Held::Nothing,
            id: "lost-reply".into(),
        };
        let name = LoginThrottle::shared_login_name(&lost.login);
        let window = Duration::from_secs(60);
        shared.take(&name, &lost.id, 1, window).await.unwrap();
        assert_eq!(
            throttle.take("alice", None).await.err(),
            Some(1),
            "held busy"
        );
        throttle.release_later(&shared, &lost).await;
        let attempt = throttle.take("alice", None).await.unwrap();
        assert!(matches!(attempt.held, Held::Shared));
    }
}
