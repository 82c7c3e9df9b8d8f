//! A local cache of decoded tokens that Redis itself invalidates (Redis's
//! client-side caching, `CLIENT TRACKING ... BCAST`): a check of a cached
//! token makes no round trip, and a revocation, renewal or expiry made by
//! any instance evicts it here as soon as Redis pushes the invalidation.
//!
//! It fails closed. The cache answers only while the tracking connection
//! is up; when it drops, is found dead by its once-a-second `ROLE`, or
//! talks to a server that is no longer the master, every tracked entry is
//! forgotten before the next check, and checks go to Redis until a new
//! tracking connection is made. A token read while an invalidation or a
//! reconnection happened is not cached as tracked (its value may be older
//! than the invalidation).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};

use super::TokenKey;

/// Where the tracking connection goes: the master, asked of the sentinels
/// each time with Sentinel. Both speak RESP3 (pushes on the connection).
pub enum MasterSource {
    Direct(redis::Client),
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

impl MasterSource {
    async fn client(&self) -> redis::RedisResult<redis::Client> {
        match self {
            MasterSource::Direct(client) => Ok(client.clone()),
            MasterSource::Sentinel(sentinels) => sentinels.lock().await.async_get_client().await,
        }
    }
}

/// The tracking state shared by the checks and the tracking task.
#[derive(Debug, Default)]
pub struct Tracking {
    /// Whether the tracking connection is up now.
    up: AtomicBool,
    /// Bumped by each tracking connection made and each loss: an entry of
    /// another generation is never answered.
    generation: AtomicU64,
    /// Bumped (under the cache's write lock) by every invalidation and
    /// generation change: a read that saw it move is not cached.
    moves: AtomicU64,
    /// Invalidations received, for the tests and the logs.
    invalidations: AtomicU64,
    /// The tracking connection's `CLIENT ID` (0 before the first).
    client_id: AtomicU64,
}

impl Tracking {
    /// The generation whose entries may be answered, if tracking is up.
    pub fn current(&self) -> Option<u64> {
        self.up
            .load(Ordering::Acquire)
            .then(|| self.generation.load(Ordering::Acquire))
    }

    /// Taken before a read: [`Tracking::cacheable`] with it after the read
    /// says whether the value read may be cached as tracked.
    pub fn stamp(&self) -> u64 {
        self.moves.load(Ordering::Acquire)
    }

    /// The generation to cache a value under, read since `stamp`, or none
    /// when something moved meanwhile. Call with the cache's write lock
    /// held (the task changes `moves` under it).
    pub fn cacheable(&self, stamp: u64) -> Option<u64> {
        if self.moves.load(Ordering::Acquire) != stamp {
            return None;
        }
        self.current()
    }

    pub fn invalidations(&self) -> u64 {
        self.invalidations.load(Ordering::Relaxed)
    }

    /// The generation now, up or not: it moves at each loss and each new
    /// tracking connection.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The tracking connection's Redis client id (`CLIENT LIST` shows it
    /// named `sesame-tracking`).
    pub fn client_id(&self) -> u64 {
        self.client_id.load(Ordering::Relaxed)
    }
}

/// What the tracking task changes: the state, and the cache it evicts from.
pub struct Tracked<V> {
    pub tracking: Arc<Tracking>,
    pub cache: Arc<RwLock<HashMap<TokenKey, V>>>,
    /// `<key_prefix>token:`: the keys tracked, and how a key names a token.
    pub token_prefix: String,
}

impl<V: Send + Sync + 'static> Tracked<V> {
    /// Forget everything and stop answering from the cache.
    fn lose(&self, why: &str) {
        let was_up = self.tracking.up.swap(false, Ordering::AcqRel);
        let mut cache = self.cache.write();
        self.tracking.generation.fetch_add(1, Ordering::AcqRel);
        self.tracking.moves.fetch_add(1, Ordering::AcqRel);
        cache.clear();
        drop(cache);
        if was_up {
            tracing::warn!(error = %why, "redis invalidations lost: the local token cache is emptied and checks read redis until they are back");
        }
    }

    /// A tracking connection is up: a new generation starts.
    fn gain(&self) {
        let mut cache = self.cache.write();
        self.tracking.generation.fetch_add(1, Ordering::AcqRel);
        self.tracking.moves.fetch_add(1, Ordering::AcqRel);
        cache.clear();
        self.tracking.up.store(true, Ordering::Release);
        drop(cache);
        tracing::info!("redis invalidations tracked: checks of cached tokens make no round trip");
    }

    /// An invalidation push: the keys named, or everything (a flush).
    fn invalidate(&self, push: &PushInfo) {
        let mut keys = Vec::new();
        let mut everything = false;
        for value in &push.data {
            collect_keys(value, &mut keys, &mut everything);
        }
        let mut cache = self.cache.write();
        self.tracking.moves.fetch_add(1, Ordering::AcqRel);
        self.tracking.invalidations.fetch_add(1, Ordering::Relaxed);
        if everything {
            cache.clear();
            return;
        }
        for key in keys {
            let hex = key
                .strip_prefix(self.token_prefix.as_bytes())
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(TokenKey::from_hex);
            if let Some(token) = hex {
                cache.remove(&token);
            }
        }
    }
}

/// Whether `ROLE`'s first element says "master".
fn is_master(role: Option<&Value>) -> bool {
    match role {
        Some(Value::BulkString(r)) => r == b"master",
        Some(Value::SimpleString(r)) => r == "master",
        _ => false,
    }
}

fn collect_keys(value: &Value, keys: &mut Vec<Vec<u8>>, everything: &mut bool) {
    match value {
        Value::Nil => *everything = true,
        Value::BulkString(bytes) => keys.push(bytes.clone()),
        Value::SimpleString(text) => keys.push(text.clone().into_bytes()),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                collect_keys(item, keys, everything);
            }
        }
        _ => {}
    }
}

/// Keep a tracking connection up for as long as the process runs.
pub fn spawn<V: Send + Sync + 'static>(
    source: MasterSource,
    tracked: Tracked<V>,
    timeout: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let first = Duration::from_millis(100);
        let mut pause = first;
        let mut failing = false;
        loop {
            let (why, was_up) = match track(&source, &tracked, timeout).await {
                Ended::AfterTracking(why) => (why, true),
                Ended::Before(why) => (why, false),
            };
            // Said once per run of failures to set tracking up (Redis down,
            // or older than 6), and when a working connection is lost.
            if !was_up && !failing {
                tracing::warn!(error = %why, "redis invalidations cannot be tracked: checks read redis until they can");
            }
            failing = !was_up;
            tracked.lose(&why);
            // A connection that worked is made again at once; one that
            // cannot be made is tried again less and less often.
            pause = if was_up {
                first
            } else {
                (pause * 2).min(Duration::from_secs(2))
            };
            tokio::time::sleep(pause).await;
        }
    })
}

/// Why a tracking connection ended: before it tracked, or after.
enum Ended {
    Before(String),
    AfterTracking(String),
}

/// One tracking connection, until it fails.
async fn track<V: Send + Sync + 'static>(
    source: &MasterSource,
    tracked: &Tracked<V>,
    timeout: Duration,
) -> Ended {
    match set_up(source, tracked, timeout).await {
        Ok((connection, received)) => {
            Ended::AfterTracking(follow(connection, received, tracked).await)
        }
        Err(why) => Ended::Before(why),
    }
}

/// A RESP3 connection to the master with tracking on, and its pushes.
type Pushes = tokio::sync::mpsc::UnboundedReceiver<PushInfo>;

async fn set_up<V: Send + Sync + 'static>(
    source: &MasterSource,
    tracked: &Tracked<V>,
    timeout: Duration,
) -> Result<(redis::aio::MultiplexedConnection, Pushes), String> {
    let (pushes, received) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
    let client = match tokio::time::timeout(timeout, source.client()).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return Err(format!("no master to track: {e}")),
        Err(_) => return Err("no master to track: no answer in time".into()),
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_push_sender(pushes);
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| format!("tracking connection: {e}"))?;
    redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("BCAST")
        .arg("PREFIX")
        .arg(&tracked.token_prefix)
        .query_async::<()>(&mut connection)
        .await
        .map_err(|e| format!("CLIENT TRACKING refused (Redis 6 or later is needed): {e}"))?;
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("sesame-tracking")
        .query_async::<()>(&mut connection)
        .await
        .map_err(|e| format!("the tracking connection failed: {e}"))?;
    let id: u64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut connection)
        .await
        .map_err(|e| format!("the tracking connection failed: {e}"))?;
    tracked.tracking.client_id.store(id, Ordering::Relaxed);
    Ok((connection, received))
}

/// Track on `connection` until it fails: why it ended.
async fn follow<V: Send + Sync + 'static>(
    mut connection: redis::aio::MultiplexedConnection,
    mut received: Pushes,
    tracked: &Tracked<V>,
) -> String {
    tracked.gain();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            push = received.recv() => match push {
                None => return "the tracking connection closed".into(),
                Some(push) if push.kind == PushKind::Disconnection => {
                    return "the tracking connection closed".into();
                }
                Some(push) if push.kind == PushKind::Invalidate => tracked.invalidate(&push),
                Some(_) => {}
            },
            _ = tick.tick() => {
                // A silent death (no reset) or a demotion is found here.
                let role: redis::RedisResult<Value> =
                    redis::cmd("ROLE").query_async(&mut connection).await;
                match role {
                    Ok(Value::Array(parts)) if is_master(parts.first()) => {}
                    Ok(_) => return "the tracked server is no longer the master".into(),
                    Err(e) => return format!("the tracking connection failed: {e}"),
                }
            }
        }
    }
}
