//! Tokens in Redis, shared by several Sesame instances.
//!
//! Each token is one key `<prefix>token:<sha256 hex>` holding its JSON record,
//! with the Redis TTL set to the token's remaining lifetime, so Redis itself
//! drops expired tokens. The connection is made lazily and re-made after a
//! failure by `redis`' connection manager: Sesame starts while Redis is down,
//! answers 503 meanwhile, and recovers without a restart.
//!
//! The tokens last decoded are kept in a bounded local cache. With
//! `client_cache` (see [`super::tracking`]), Redis pushes every change to a
//! token key to this instance, and a cached token is answered without a
//! round trip while that tracking is up. Otherwise a check costs one `GET`,
//! and when Redis answers the bytes a token was decoded from, the decoded
//! token (record and compiled ACLs) is reused instead of parsing the JSON
//! again; other bytes (a renewal by another instance) are decoded afresh,
//! and a missing key is a missing token whatever the cache holds.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::link::Link;

use super::refresh::RefreshRecord;
use super::{LiveToken, StoreError, TokenKey, TokenRecord, TokenStore};
use crate::clock::Timestamp;

/// Most decoded tokens kept in memory; past it, half are dropped.
const DECODED_CACHE_LIMIT: usize = 10_000;

/// A token as last read from (or written to) Redis: the stored bytes, and
/// the token decoded from them with its compiled ACLs.
pub(crate) struct Decoded {
    stored: Box<[u8]>,
    token: Arc<LiveToken>,
    /// The tracking generation it was cached under, when Redis will tell
    /// this instance of any change to it (see [`super::tracking`]).
    tracked: Option<u64>,
}

/// The tokens last decoded. An entry cached as tracked is answered without
/// reading Redis while tracking is up (Redis evicts it through the tracking
/// task); any other is used only when Redis answers the bytes it was
/// decoded from, to skip parsing the JSON and compiling the ACLs again.
type DecodedCache = Arc<RwLock<HashMap<TokenKey, Decoded>>>;

pub struct RedisStore {
    manager: Link,
    /// Writes that must reach replicas go through their own connection:
    /// `WAIT` blocks the connection it is sent on, and counts its writes.
    writer: Link,
    /// Replicas that must have a write before it is answered (`WAIT`).
    min_replicas_acked: u32,
    prefix: String,
    timeout: Duration,
    decoded: DecodedCache,
    /// With `client_cache`: whether, and under which generation, cached
    /// tokens may be answered without reading Redis.
    tracking: Option<Arc<super::tracking::Tracking>>,
    tracker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if let Some(task) = &self.tracker {
            task.abort();
        }
    }
}

/// Counters with a window, in Redis, shared by every Sesame instance of the
/// same store (the brute-force throttle's failures).
#[derive(Clone)]
pub struct RedisCounters {
    manager: Link,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCounters {
    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        within(self.timeout, op).await
    }

    /// The Redis keys of counter `name`: its failures and its attempts
    /// under way, in one hash slot (`{name}`), so that one script reads
    /// both on a Redis Cluster too.
    fn keys_of(&self, name: &str) -> (String, String) {
        (
            format!("{}throttle:{{{name}}}:fail", self.prefix),
            format!("{}throttle:{{{name}}}:busy", self.prefix),
        )
    }

    /// Take an attempt from counter `name`, atomically (one script, so that
    /// no two requests or instances both see the last free attempt): its
    /// failures and the attempts under way together stay under `max`. The
    /// attempts under way are a sorted set of attempt ids by deadline, so
    /// that one whose instance died before settling it stops counting after
    /// [`BUSY_TTL_MS`], however busy the counter stays.
    pub async fn take(
        &self,
        name: &str,
        attempt: &str,
        max: u32,
        window: Duration,
    ) -> Result<Take, StoreError> {
        const TAKE: &str = r"
local max = tonumber(ARGV[1])
local fail = tonumber(redis.call('GET', KEYS[1]) or '0')
if fail >= max then
  local left = redis.call('PTTL', KEYS[1])
  if left < 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    left = tonumber(ARGV[3])
  end
  return left
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if fail + redis.call('ZCARD', KEYS[2]) >= max then
  return -1
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0";
        let (fail, busy) = self.keys_of(name);
        let mut conn = self.manager.clone();
        let answer: i64 = self
            .run(
                redis::cmd("EVAL")
                    .arg(TAKE)
                    .arg(2)
                    .arg(&fail)
                    .arg(&busy)
                    .arg(max)
                    .arg(BUSY_TTL_MS)
                    .arg(millis(window))
                    .arg(attempt)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(match answer {
            0 => Take::Taken,
            left if left > 0 => Take::Exhausted(left.unsigned_abs()),
            _ => Take::Busy,
        })
    }

    /// Settle attempt `attempt` of counter `name`: it is no longer under
    /// way; `Failed` adds a failure (a new counter starts a window of
    /// `window`), `Clear` forgets the failures.
    pub async fn settle(
        &self,
        name: &str,
        attempt: &str,
        outcome: Settled,
        window: Duration,
    ) -> Result<(), StoreError> {
        const SETTLE: &str = r"
redis.call('ZREM', KEYS[2], ARGV[3])
if ARGV[1] == 'failed' then
  redis.call('SET', KEYS[1], 0, 'PX', ARGV[2], 'NX')
  redis.call('INCR', KEYS[1])
elseif ARGV[1] == 'clear' then
  redis.call('DEL', KEYS[1])
end
return 0";
        let (fail, busy) = self.keys_of(name);
        let how = match outcome {
            Settled::Failed => "failed",
            Settled::Clear => "clear",
            Settled::Release => "release",
        };
        let mut conn = self.manager.clone();
        self.run(
            redis::cmd("EVAL")
                .arg(SETTLE)
                .arg(2)
                .arg(&fail)
                .arg(&busy)
                .arg(how)
                .arg(millis(window))
                .arg(attempt)
                .query_async::<()>(&mut conn),
        )
        .await
    }
}

/// What taking an attempt from a counter found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Taken,
    /// The failures reached the limit: milliseconds left in the window.
    Exhausted(u64),
    /// Failures and attempts under way reached the limit: retry shortly.
    Busy,
}

/// How an attempt ends, for its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// A wrong password: one more failure.
    Failed,
    /// The attempt no longer counts (a success at the address, a check
    /// that could not be made).
    Release,
    /// A success for the login: its failures are forgotten.
    Clear,
}

/// How long an attempt under way holds its place in Redis if the instance
/// that took it dies (or loses Redis) before settling it: longer than any
/// password check, whose upstreams all time out sooner.
pub(crate) const BUSY_TTL_MS: u64 = 60_000;

fn millis(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

/// One Redis operation within `timeout`; an error or silence is "unavailable".
async fn within<T, F>(timeout: Duration, op: F) -> Result<T, StoreError>
where
    F: std::future::Future<Output = redis::RedisResult<T>>,
{
    match tokio::time::timeout(timeout, op).await {
        Ok(result) => result.map_err(unavailable),
        Err(_) => Err(StoreError::Unavailable(format!(
            "redis did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

impl RedisStore {
    /// A store on `url` (`redis://[:password@]host:port/db`). Nothing is
    /// connected yet: the first operation connects.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, StoreError> {
        let manager = Link::direct(url, timeout).map_err(StoreError::Internal)?;
        Ok(Self::on(manager.clone(), manager, 0, prefix, timeout))
    }

    /// The store the `store.redis` section describes: one server, or the
    /// master that Sentinel names.
    pub fn from_config(config: &crate::config::RedisConfig) -> Result<Self, StoreError> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let link = || match &config.master_name {
            Some(name) if !config.sentinels.is_empty() => {
                Link::sentinel(&config.sentinels, name, &config.url, timeout)
            }
            _ => Link::direct(&config.url, timeout),
        };
        let manager = link().map_err(StoreError::Internal)?;
        let writer = if config.min_replicas_acked > 0 {
            link().map_err(StoreError::Internal)?
        } else {
            manager.clone()
        };
        let mut store = Self::on(
            manager,
            writer,
            config.min_replicas_acked,
            &config.key_prefix,
            timeout,
        );
        if config.client_cache {
            let source = super::link::master_source(
                &config.sentinels,
                config.master_name.as_deref(),
                &config.url,
            )
            .map_err(StoreError::Internal)?;
            let tracking = Arc::new(super::tracking::Tracking::default());
            let tracked = super::tracking::Tracked {
                tracking: tracking.clone(),
                cache: store.decoded.clone(),
                token_prefix: format!("{}token:", store.prefix),
            };
            store.tracker = Some(super::tracking::spawn(source, tracked, timeout));
            store.tracking = Some(tracking);
        }
        Ok(store)
    }

    /// Invalidations Redis pushed to this store, with `client_cache`.
    pub fn invalidations(&self) -> Option<u64> {
        self.tracking.as_ref().map(|t| t.invalidations())
    }

    /// Whether cached tokens are answered without reading Redis now.
    pub fn tracking_up(&self) -> bool {
        self.tracking
            .as_ref()
            .is_some_and(|t| t.current().is_some())
    }

    /// The stamp to take before a read or a write whose value may be cached.
    fn stamp(&self) -> Option<u64> {
        self.tracking.as_ref().map(|t| t.stamp())
    }

    fn on(
        manager: Link,
        writer: Link,
        min_replicas_acked: u32,
        prefix: &str,
        timeout: Duration,
    ) -> Self {
        RedisStore {
            manager,
            writer,
            min_replicas_acked,
            prefix: prefix.to_owned(),
            timeout,
            decoded: Arc::new(RwLock::new(HashMap::new())),
            tracking: None,
            tracker: None,
        }
    }

    /// After a write on `conn` (the writer): with `min_replicas_acked`, wait
    /// until that many replicas have it, or fail as unavailable (the write
    /// is then not acknowledged: a failover could lose it).
    async fn replicated(&self, conn: &mut Link) -> Result<(), StoreError> {
        let wanted = self.min_replicas_acked;
        if wanted == 0 {
            return Ok(());
        }
        // WAIT's own timeout, under the command's: its answer says how many.
        let wait_ms = millis(self.timeout).saturating_sub(100).max(1);
        let acked: u32 = self
            .run(
                redis::cmd("WAIT")
                    .arg(wanted)
                    .arg(wait_ms)
                    .query_async(conn),
            )
            .await?;
        if acked >= wanted {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "redis: the write reached {acked} of the {wanted} replicas required within {wait_ms} ms"
            )))
        }
    }

    /// Counters in the same Redis, for the brute-force throttle.
    pub fn counters(&self) -> RedisCounters {
        RedisCounters {
            manager: self.manager.clone(),
            prefix: self.prefix.clone(),
            timeout: self.timeout,
        }
    }

    fn redis_key(&self, key: &TokenKey) -> String {
        format!("{}token:{}", self.prefix, key.to_hex())
    }

    /// The sorted set of a user's tokens (member: the token's key in hex,
    /// score: its expiry in ms), for the per-user cap.
    fn user_key(&self, auth_id: &str) -> String {
        format!("{}user:{}", self.prefix, auth_id)
    }

    /// A user's refresh tokens: a hash, client id → JSON record.
    fn refresh_key(&self, user_uuid: &str) -> String {
        format!("{}refresh:{user_uuid}", self.prefix)
    }

    /// Where a refresh token's hash leads: `<user>\x1f<client id>`.
    fn refresh_index(&self, key: &TokenKey) -> String {
        format!("{}refresh-key:{}", self.prefix, key.to_hex())
    }

    async fn refresh_values(&self, hash: String) -> Result<Vec<RefreshRecord>, StoreError> {
        let mut conn = self.manager.clone();
        let values: Vec<Vec<u8>> = self.run(conn.hvals(hash)).await?;
        values.iter().map(|v| decode_refresh(v)).collect()
    }

    /// Hand `each` the keys matching `pattern`, a SCAN batch at a time.
    async fn scan(
        &self,
        pattern: &str,
        mut each: impl FnMut(Vec<String>) + Send,
    ) -> Result<(), StoreError> {
        let mut conn = self.manager.clone();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .run(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn),
                )
                .await?;
            each(keys);
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Run one Redis operation within the configured timeout.
    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        within(self.timeout, op).await
    }

    /// Milliseconds until `expires_at`, at least 1 (Redis refuses 0).
    fn ttl_ms(expires_at: Timestamp, now: Timestamp) -> u64 {
        u64::try_from((expires_at.0 - now.0) / 1_000)
            .unwrap_or(0)
            .max(1)
    }

    async fn put(
        &self,
        key: &TokenKey,
        record: &TokenRecord,
        json: &[u8],
        now: Timestamp,
        only_if_exists: bool,
    ) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key)).arg(json);
        if let Some(at) = record.expires_at {
            cmd.arg("PX").arg(Self::ttl_ms(at, now));
        }
        if only_if_exists {
            cmd.arg("XX");
        }
        // The token and its entry in its user's set, in one transaction; the
        // set lives as long as its longest-lived token.
        let mut pipe = redis::pipe();
        pipe.atomic().add_command(cmd);
        if let Some(at) = record.expires_at {
            let user = self.user_key(&record.auth_id);
            let ttl = Self::ttl_ms(at, now);
            pipe.cmd("ZADD")
                .arg(&user)
                .arg(at.0 / 1_000)
                .arg(key.to_hex())
                .ignore();
            for condition in ["NX", "GT"] {
                pipe.cmd("PEXPIRE")
                    .arg(&user)
                    .arg(ttl)
                    .arg(condition)
                    .ignore();
            }
        }
        let mut conn = self.writer.clone();
        let (reply,): (Option<String>,) = self.run(pipe.query_async(&mut conn)).await?;
        if reply.is_some() {
            self.replicated(&mut conn).await?;
        }
        Ok(reply.is_some())
    }

    /// The token decoded from `stored`: the cached one when the bytes are
    /// the same, else decoded now (and cached).
    /// `stamp`: taken before `stored` was read (see [`Self::remember`]).
    fn decode(
        &self,
        key: &TokenKey,
        stored: Vec<u8>,
        stamp: Option<u64>,
    ) -> Result<Arc<LiveToken>, StoreError> {
        let reuse = self
            .decoded
            .read()
            .get(key)
            .filter(|hit| *hit.stored == *stored)
            .map(|hit| hit.token.clone());
        let token = match reuse {
            Some(token) => token,
            None => {
                let record: TokenRecord = serde_json::from_slice(&stored).map_err(|e| {
                    StoreError::Internal(format!("unreadable token record in redis: {e}"))
                })?;
                Arc::new(LiveToken::new(record))
            }
        };
        self.remember(key, stored, token.clone(), stamp);
        Ok(token)
    }

    /// Keep `token`, decoded from `stored`; as tracked (answered without a
    /// read) only when tracking is up and nothing moved since `stamp` was
    /// taken, before the read or write of `stored`.
    fn remember(&self, key: &TokenKey, stored: Vec<u8>, token: Arc<LiveToken>, stamp: Option<u64>) {
        let mut cache = self.decoded.write();
        let tracked = match (&self.tracking, stamp) {
            (Some(tracking), Some(stamp)) => tracking.cacheable(stamp),
            _ => None,
        };
        if let Some(hit) = cache.get(key)
            && hit.tracked.is_some()
            && hit.tracked == tracked
            && *hit.stored == *stored
        {
            return;
        }
        let decoded = Decoded {
            stored: stored.into_boxed_slice(),
            token,
            tracked,
        };
        super::insert_bounded(&mut cache, DECODED_CACHE_LIMIT, *key, decoded);
    }

    /// The token cached as tracked under the current generation, if any.
    fn tracked(&self, key: &TokenKey) -> Option<Arc<LiveToken>> {
        let generation = self.tracking.as_ref()?.current()?;
        let cache = self.decoded.read();
        let hit = cache.get(key)?;
        (hit.tracked == Some(generation)).then(|| hit.token.clone())
    }

    fn forget(&self, key: &TokenKey) {
        self.decoded.write().remove(key);
    }
}

fn decode_refresh(bytes: &[u8]) -> Result<RefreshRecord, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Internal(format!("decode refresh token: {e}")))
}

/// Keep a refresh record unless its user and client id have one (or
/// `replace`): KEYS[1] the user's hash, KEYS[2] the new token's index;
/// ARGV client id, JSON, replace, index value, index prefix. Answers the
/// record kept.
const REFRESH_PUT: &str = r#"
local kept = redis.call('HGET', KEYS[1], ARGV[1])
if kept and ARGV[3] == '0' then return kept end
if kept then
  local old = cjson.decode(kept)
  redis.call('DEL', ARGV[5] .. old.key)
  if type(old.retired) == 'table' then
    for _, key in ipairs(old.retired) do redis.call('DEL', ARGV[5] .. key) end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[4])
local new = cjson.decode(ARGV[2])
if type(new.retired) == 'table' then
  for _, key in ipairs(new.retired) do redis.call('SET', ARGV[5] .. key, ARGV[4]) end
end
return ARGV[2]
"#;

fn encode(record: &TokenRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Internal(format!("encode token: {e}")))
}

#[async_trait]
impl TokenStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn insert(
        &self,
        key: TokenKey,
        token: LiveToken,
        now: Timestamp,
    ) -> Result<Arc<LiveToken>, StoreError> {
        let json = encode(&token.record)?;
        let stamp = self.stamp();
        self.put(&key, &token.record, &json, now, false).await?;
        let token = Arc::new(token);
        self.remember(&key, json, token.clone(), stamp);
        Ok(token)
    }

    async fn get(&self, key: &TokenKey) -> Result<Option<Arc<LiveToken>>, StoreError> {
        if let Some(token) = self.tracked(key) {
            return Ok(Some(token));
        }
        let stamp = self.stamp();
        let mut conn = self.manager.clone();
        let stored: Option<Vec<u8>> = self.run(conn.get(self.redis_key(key))).await?;
        let Some(stored) = stored else {
            self.forget(key);
            return Ok(None);
        };
        self.decode(key, stored, stamp).map(Some)
    }

    async fn remove(&self, key: &TokenKey) -> Result<bool, StoreError> {
        let mut conn = self.writer.clone();
        let removed: usize = self.run(conn.del(self.redis_key(key))).await?;
        self.forget(key);
        self.replicated(&mut conn).await?;
        Ok(removed > 0)
    }

    async fn renew(
        &self,
        key: &TokenKey,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Arc<LiveToken>>, StoreError> {
        let Some(current) = self.get(key).await? else {
            return Ok(None);
        };
        let renewed = Arc::new(current.with_expiry(Some(expires_at)));
        let json = encode(&renewed.record)?;
        let stamp = self.stamp();
        if self.put(key, &renewed.record, &json, now, true).await? {
            self.remember(key, json, renewed.clone(), stamp);
            Ok(Some(renewed))
        } else {
            // Revoked or expired between the read and the write.
            self.forget(key);
            Ok(None)
        }
    }

    async fn purge_expired(&self, _now: Timestamp) -> Result<usize, StoreError> {
        // Redis drops expired keys by itself.
        Ok(0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.manager.clone();
        let _: String = self.run(redis::cmd("PING").query_async(&mut conn)).await?;
        Ok(())
    }

    async fn live_tokens(
        &self,
        auth_id: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<(TokenKey, Arc<LiveToken>)>, StoreError> {
        let mut hex_keys: Vec<String> = Vec::new();
        match auth_id {
            Some(auth_id) => {
                // Expired entries leave the user's set as it is read.
                let mut conn = self.manager.clone();
                let user = self.user_key(auth_id);
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&user)
                    .arg("-inf")
                    .arg(now.0 / 1_000)
                    .ignore()
                    .cmd("ZRANGE")
                    .arg(&user)
                    .arg(format!("({}", now.0 / 1_000))
                    .arg("+inf")
                    .arg("BYSCORE");
                (hex_keys,) = self.run(pipe.query_async(&mut conn)).await?;
            }
            None => {
                let prefix = format!("{}token:", self.prefix);
                self.scan(&format!("{prefix}*"), |keys| {
                    hex_keys.extend(
                        keys.into_iter()
                            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)),
                    )
                })
                .await?;
            }
        }
        let keys: Vec<TokenKey> = hex_keys
            .iter()
            .filter_map(|h| TokenKey::from_hex(h))
            .collect();
        let mut found = Vec::new();
        for batch in keys.chunks(500) {
            let names: Vec<String> = batch.iter().map(|k| self.redis_key(k)).collect();
            let mut conn = self.manager.clone();
            let values: Vec<Option<Vec<u8>>> = self
                .run(redis::cmd("MGET").arg(&names).query_async(&mut conn))
                .await?;
            let mut revoked = Vec::new();
            for (key, value) in batch.iter().zip(values) {
                match value {
                    Some(stored) => {
                        let token = self.decode(key, stored, None)?;
                        if !token.record.is_expired(now) {
                            found.push((*key, token));
                        }
                    }
                    None => revoked.push(key.to_hex()),
                }
            }
            // Revoked tokens leave their user's set too.
            if let (Some(auth_id), false) = (auth_id, revoked.is_empty()) {
                let _: usize = self.run(conn.zrem(self.user_key(auth_id), revoked)).await?;
            }
        }
        Ok(found)
    }

    async fn refresh_put(
        &self,
        record: RefreshRecord,
        replace: bool,
    ) -> Result<RefreshRecord, StoreError> {
        let json = serde_json::to_vec(&record)
            .map_err(|e| StoreError::Internal(format!("encode refresh token: {e}")))?;
        let mut conn = self.writer.clone();
        let kept: Vec<u8> = self
            .run(
                redis::cmd("EVAL")
                    .arg(REFRESH_PUT)
                    .arg(2)
                    .arg(self.refresh_key(&record.user_uuid))
                    .arg(self.refresh_index(&record.key))
                    .arg(&record.client_id)
                    .arg(json)
                    .arg(if replace { "1" } else { "0" })
                    .arg(super::refresh::slot(&record.user_uuid, &record.client_id))
                    .arg(format!("{}refresh-key:", self.prefix))
                    .query_async(&mut conn),
            )
            .await?;
        self.replicated(&mut conn).await?;
        decode_refresh(&kept)
    }

    async fn refresh_get(&self, key: &TokenKey) -> Result<Option<RefreshRecord>, StoreError> {
        let mut conn = self.manager.clone();
        let slot: Option<String> = self.run(conn.get(self.refresh_index(key))).await?;
        let Some((user, client_id)) = slot.as_deref().and_then(|s| s.split_once('\u{1f}')) else {
            return Ok(None);
        };
        let stored: Option<Vec<u8>> = self
            .run(conn.hget(self.refresh_key(user), client_id))
            .await?;
        match stored {
            Some(bytes) => {
                let record = decode_refresh(&bytes)?;
                Ok(record.answers_to(key).then_some(record))
            }
            None => Ok(None),
        }
    }

    async fn refresh_list(
        &self,
        user_uuid: Option<&str>,
    ) -> Result<Vec<RefreshRecord>, StoreError> {
        if let Some(user) = user_uuid {
            return self.refresh_values(self.refresh_key(user)).await;
        }
        let mut hashes = Vec::new();
        self.scan(&format!("{}refresh:*", self.prefix), |keys| {
            hashes.extend(keys)
        })
        .await?;
        let mut found = Vec::new();
        for hash in hashes {
            found.extend(self.refresh_values(hash).await?);
        }
        Ok(found)
    }

    async fn refresh_remove(
        &self,
        user_uuid: &str,
        client_id: &str,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let mut conn = self.writer.clone();
        let hash = self.refresh_key(user_uuid);
        let stored: Option<Vec<u8>> = self.run(conn.hget(&hash, client_id)).await?;
        let Some(bytes) = stored else {
            return Ok(None);
        };
        let record = decode_refresh(&bytes)?;
        let removed: usize = self.run(conn.hdel(&hash, client_id)).await?;
        let indexes: Vec<String> = std::iter::once(&record.key)
            .chain(&record.retired)
            .map(|k| self.refresh_index(k))
            .collect();
        let _: usize = self.run(conn.del(indexes)).await?;
        self.replicated(&mut conn).await?;
        Ok((removed > 0).then_some(record))
    }

    async fn count(&self) -> Result<usize, StoreError> {
        let mut total = 0usize;
        self.scan(&format!("{}token:*", self.prefix), |keys| {
            total += keys.len()
        })
        .await?;
        Ok(total)
    }
}

/// The test command starts a real redis-server and exports its URL; a test
/// that needs it fails without it, never skips.
#[cfg(test)]
pub(crate) fn test_redis_url() -> String {
    std::env::var("SESAME_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "SESAME_TEST_REDIS_URL is not set: run ./scripts/test-all, which starts redis-server, \
             or start one and export SESAME_TEST_REDIS_URL=redis://127.0.0.1:PORT"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    fn redis_url() -> String {
        test_redis_url()
    }

    fn store() -> RedisStore {
        let prefix = format!("sesame-test-{}:", uuid::Uuid::new_v4());
        RedisStore::new(&redis_url(), &prefix, Duration::from_secs(2)).unwrap()
    }

    #[tokio::test]
    async fn redis_store_refresh_contract() {
        crate::store::refresh::contract::run(&store()).await;
    }

    #[tokio::test]
    async fn redis_store_contract() {
        contract::run(&store()).await;
    }

    #[tokio::test]
    async fn writes_wait_for_the_replicas_required() {
        // The test Redis has no replica: with one required, a token is not
        // acknowledged (503), a revocation neither; with none, both are.
        let config = |acked| crate::config::RedisConfig {
            url: redis_url(),
            key_prefix: format!("sesame-test-{}:", uuid::Uuid::new_v4()),
            timeout_ms: 400,
            min_replicas_acked: acked,
            ..Default::default()
        };
        let now = Timestamp::from_secs(1_000);
        let key = TokenKey::of("6a1f3c2e-8f0b-4d7e-9c55-0b1d2e3f4a5b");
        let strict = RedisStore::from_config(&config(1)).unwrap();
        let token = || LiveToken::new(contract::record("u", 1_000, 60));
        match strict.insert(key, token(), now).await {
            Err(StoreError::Unavailable(why)) => {
                assert!(why.contains("0 of the 1 replicas"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            strict.remove(&key).await,
            Err(StoreError::Unavailable(_))
        ));
        let relaxed = RedisStore::from_config(&config(0)).unwrap();
        relaxed.insert(key, token(), now).await.unwrap();
        assert!(relaxed.remove(&key).await.unwrap());
    }

    /// Two stores with the local cache on one prefix, as two instances.
    async fn tracked_pair() -> (RedisStore, RedisStore) {
        let config = crate::config::RedisConfig {
            url: redis_url(),
            key_prefix: format!("sesame-test-{}:", uuid::Uuid::new_v4()),
            ..Default::default()
        };
        let pair = (
            RedisStore::from_config(&config).unwrap(),
            RedisStore::from_config(&config).unwrap(),
        );
        for _ in 0..200 {
            if pair.0.tracking_up() && pair.1.tracking_up() {
                return pair;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the tracking connections are not up");
    }

    #[tokio::test]
    async fn a_cached_token_is_evicted_when_another_instance_revokes_it() {
        let (a, b) = tracked_pair().await;
        let now = Timestamp::from_secs(1_000);
        let key = TokenKey::of("2c9e7d4a-1b3f-4e5a-8c6d-7f8091a2b3c4");
        a.insert(key, LiveToken::new(contract::record("u", 1_000, 600)), now)
            .await
            .unwrap();
        assert!(b.get(&key).await.unwrap().is_some());
        // B answers it from its cache now, without reading Redis.
        assert!(b.tracked(&key).is_some());
        let before = b.invalidations().unwrap();
        assert!(a.remove(&key).await.unwrap());
        let mut refused = false;
        for _ in 0..200 {
            if b.get(&key).await.unwrap().is_none() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(refused, "B still accepts a token A revoked");
        assert!(b.invalidations().unwrap() > before);
        // A renewal by A reaches B too: B's cached expiry is replaced.
        a.insert(key, LiveToken::new(contract::record("u", 1_000, 600)), now)
            .await
            .unwrap();
        b.get(&key).await.unwrap();
        let later = Timestamp::from_secs(5_000);
        a.renew(&key, later, now).await.unwrap();
        let mut renewed = false;
        for _ in 0..200 {
            let seen = b.get(&key).await.unwrap().unwrap();
            if seen.record.expires_at == Some(later) {
                renewed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(renewed, "B kept the expiry from before A's renewal");
    }

    #[tokio::test]
    async fn a_dropped_tracking_connection_empties_the_cache() {
        let (a, b) = tracked_pair().await;
        let now = Timestamp::from_secs(1_000);
        let key = TokenKey::of("5d6e7f80-9a1b-4c2d-8e3f-405162738495");
        a.insert(key, LiveToken::new(contract::record("u", 1_000, 600)), now)
            .await
            .unwrap();
        b.get(&key).await.unwrap();
        assert!(b.tracked(&key).is_some());
        let tracking = b.tracking.clone().unwrap();
        let generation = tracking.generation();
        let mut admin = redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: () = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(tracking.client_id())
            .query_async(&mut admin)
            .await
            .unwrap();
        for _ in 0..200 {
            if tracking.generation() != generation {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_ne!(tracking.generation(), generation, "the loss is not noticed");
        // Whatever Redis changes now (its invalidation may be lost with the
        // connection), B reads it: nothing is answered from before.
        assert!(b.tracked(&key).is_none());
        let _: () = admin
            .del(format!("{}token:{}", b.prefix, key.to_hex()))
            .await
            .unwrap();
        assert!(b.get(&key).await.unwrap().is_none());
        // And tracking comes back by itself.
        for _ in 0..300 {
            if b.tracking_up() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(b.tracking_up(), "tracking did not come back");
    }

    #[tokio::test]
    async fn sentinels_that_do_not_answer_make_the_store_unavailable() {
        // Nothing listens there: the store answers "unavailable" within its
        // timeout, never hangs, and never falls back to another server.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let store = RedisStore::from_config(&crate::config::RedisConfig {
            sentinels: vec![format!("127.0.0.1:{port}")],
            master_name: Some("sesame".into()),
            timeout_ms: 300,
            ..Default::default()
        })
        .unwrap();
        assert!(matches!(
            store.get(&TokenKey::of("x")).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store.ping().await,
            Err(StoreError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn redis_holds_hashes_and_expires_by_ttl() {
        let store = store();
        let now = Timestamp::from_secs(1_000);
        let token = "0f7c1a52-2d0c-4a8e-9a55-6a8f8b0e2d11";
        let key = TokenKey::of(token);
        store
            .insert(key, LiveToken::new(contract::record("u", 1_000, 2)), now)
            .await
            .unwrap();
        let mut conn = store.manager.clone();
        let mut keys: Vec<String> = conn.keys(format!("{}*", store.prefix)).await.unwrap();
        keys.sort();
        let (token_key, user_key) = (
            format!("{}token:{}", store.prefix, key.to_hex()),
            format!("{}user:u", store.prefix),
        );
        assert_eq!(keys, vec![token_key.clone(), user_key.clone()]);
        for key in [&token_key, &user_key] {
            let ttl: i64 = conn.pttl(key).await.unwrap();
            assert!(ttl > 0 && ttl <= 2_000, "{key}: ttl {ttl}");
        }
        // The user's set names the token by its hash only.
        let members: Vec<String> = conn.zrange(&user_key, 0, -1).await.unwrap();
        assert_eq!(members, vec![key.to_hex()]);
        assert!(!members[0].contains(token));
        assert_eq!(store.count().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_decoded_token_is_reused_only_while_redis_holds_the_same_bytes() {
        let here = store();
        let there = RedisStore::new(&redis_url(), &here.prefix, Duration::from_secs(2)).unwrap();
        let now = Timestamp::from_secs(1_000);
        let key = TokenKey::of("6b0a2f0e-7c51-4d8e-b0a4-1f2e3d4c5b6a");
        here.insert(key, LiveToken::new(contract::record("u", 1_000, 60)), now)
            .await
            .unwrap();
        let first = here.get(&key).await.unwrap().unwrap();
        let again = here.get(&key).await.unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "same bytes: the decoded token is reused"
        );

        // Another instance renews it: this one reads the new record at once.
        let until = Timestamp::from_secs(5_000);
        there.renew(&key, until, now).await.unwrap().unwrap();
        let renewed = here.get(&key).await.unwrap().unwrap();
        assert_eq!(renewed.record.expires_at, Some(until));
        assert!(!Arc::ptr_eq(&first, &renewed));

        // Bytes written behind every instance's back are decoded too.
        let mut edited = renewed.record.clone();
        edited.acl = vec!["other.#".into()];
        let mut conn = here.manager.clone();
        let _: () = conn
            .set(here.redis_key(&key), encode(&edited).unwrap())
            .await
            .unwrap();
        let read = here.get(&key).await.unwrap().unwrap();
        assert_eq!(read.record.acl, vec!["other.#".to_string()]);
        assert!(read.acl.grants("other.x.y"));
        assert!(!read.acl.grants("confd.users.me.read"));

        // Revoked by the other instance: gone here, whatever was cached.
        assert!(there.remove(&key).await.unwrap());
        assert!(here.get(&key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn throttle_counters_hold_failures_and_attempts_under_way() {
        let counters = store().counters();
        let window = Duration::from_secs(60);
        assert_eq!(
            counters.take("login:x", "a1", 2, window).await.unwrap(),
            Take::Taken
        );
        assert_eq!(
            counters.take("login:x", "a2", 2, window).await.unwrap(),
            Take::Taken
        );
        assert_eq!(
            counters.take("login:x", "a3", 2, window).await.unwrap(),
            Take::Busy,
            "two under way"
        );
        counters
            .settle("login:x", "a1", Settled::Release, window)
            .await
            .unwrap();
        assert_eq!(
            counters.take("login:x", "a4", 2, window).await.unwrap(),
            Take::Taken
        );
        counters
            .settle("login:x", "a2", Settled::Failed, window)
            .await
            .unwrap();
        counters
            .settle("login:x", "a4", Settled::Failed, window)
            .await
            .unwrap();
        match counters.take("login:x", "a5", 2, window).await.unwrap() {
            Take::Exhausted(ms) => assert!(ms > 55_000 && ms <= 60_000, "{ms}"),
            other => panic!("{other:?}"),
        }
        counters
            .settle("login:x", "none", Settled::Clear, window)
            .await
            .unwrap();
        assert_eq!(
            counters.take("login:x", "a6", 2, window).await.unwrap(),
            Take::Taken
        );

        // An attempt whose instance died holds its place only until its
        // deadline, even while the counter stays busy.
        let (_, busy) = counters.keys_of("addr:10.0.0.1");
        let mut conn = counters.manager.clone();
        let _: () = conn.zadd(&busy, "dead", 1).await.unwrap();
        let _: () = conn.zadd(&busy, "dead-too", 2).await.unwrap();
        assert_eq!(
            counters
                .take("addr:10.0.0.1", "b1", 1, window)
                .await
                .unwrap(),
            Take::Taken
        );
        let (fail, busy) = counters.keys_of("login:x");
        assert!(
            fail.contains("{login:x}") && busy.contains("{login:x}"),
            "one hash slot"
        );
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_unavailable_not_missing() {
        // A port nobody listens on: connection refused.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let store = RedisStore::new(
            &format!("redis://127.0.0.1:{port}"),
            "x:",
            Duration::from_millis(500),
        )
        .unwrap();
        let err = store.get(&TokenKey::of("t")).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}
