//! How Sesame reaches its Redis master: one address (`redis` crate's
//! connection manager, which reconnects by itself), or through Redis
//! Sentinel, which names the master and names a new one after a failover.
//!
//! Every command goes to the master: a replica may lag behind a revocation,
//! so reads never go to one.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value,
};

/// A connection to the Redis master; clones share it.
#[derive(Clone)]
pub enum Link {
    Direct(ConnectionManager),
    Sentinel(Arc<SentinelLink>),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Direct(_) => f.write_str("Link::Direct"),
            Link::Sentinel(s) => f
                .debug_struct("Link::Sentinel")
                .field("master_name", &s.master_name)
                .finish_non_exhaustive(),
        }
    }
}

impl Link {
    /// A link to the server at `url` (`redis://[user:password@]host:port/db`);
    /// nothing is connected until the first command.
    pub fn direct(url: &str, timeout: Duration) -> Result<Link, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid redis url: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        ConnectionManager::new_lazy_with_config(client, config)
            .map(Link::Direct)
            .map_err(|e| format!("redis connection manager: {e}"))
    }

    /// A link to the master the `sentinels` (`host:port`) name
    /// `master_name`; the master's user, password and database are those of
    /// `url` (its host is not used). Nothing is connected until the first
    /// command.
    pub fn sentinel(
        sentinels: &[String],
        master_name: &str,
        url: &str,
        timeout: Duration,
    ) -> Result<Link, String> {
        let master = url
            .into_connection_info()
            .map_err(|e| format!("invalid redis url: {e}"))?;
        let client = sentinel_client(sentinels, master_name, master.redis_settings().clone())?;
        Ok(Link::Sentinel(Arc::new(SentinelLink {
            master_name: master_name.to_owned(),
            client: tokio::sync::Mutex::new(client),
            current: parking_lot::Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
            db: master.redis_settings().db(),
        })))
    }
}

/// Where the tracking connection of the local token cache goes, as the
/// links above reach the master: `url`, or the master the sentinels name;
/// in RESP3, for Redis's invalidation pushes.
pub fn master_source(
    sentinels: &[String],
    master_name: Option<&str>,
    url: &str,
) -> Result<super::tracking::MasterSource, String> {
    let info = url
        .into_connection_info()
        .map_err(|e| format!("invalid redis url: {e}"))?;
    let resp3 = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    match master_name {
        Some(name) if !sentinels.is_empty() => {
            let client = sentinel_client(sentinels, name, resp3)?;
            Ok(super::tracking::MasterSource::Sentinel(
                tokio::sync::Mutex::new(client),
            ))
        }
        _ => redis::Client::open(info.set_redis_settings(resp3))
            .map(super::tracking::MasterSource::Direct)
            .map_err(|e| format!("invalid redis url: {e}")),
    }
}

/// A client of the `sentinels` (`host:port` or URLs) for the master of
/// `master_name`, which it reaches with `master` (user, password, db,
/// protocol).
fn sentinel_client(
    sentinels: &[String],
    master_name: &str,
    master: redis::RedisConnectionInfo,
) -> Result<SentinelClient, String> {
    let addresses: Vec<String> = sentinels
        .iter()
        .map(|s| {
            if s.contains("://") {
                s.clone()
            } else {
                format!("redis://{s}")
            }
        })
        .collect();
    let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(master);
    SentinelClient::build(
        addresses,
        master_name.to_owned(),
        Some(node),
        SentinelServerType::Master,
    )
    .map_err(|e| format!("redis sentinels: {e}"))
}

/// The master's connection, found through the sentinels and found again
/// when it fails.
pub struct SentinelLink {
    master_name: String,
    /// Asks the sentinels; one question at a time.
    client: tokio::sync::Mutex<SentinelClient>,
    /// The connection to the master, with the generation it was made in.
    current: parking_lot::Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: std::sync::atomic::AtomicU64,
    config: AsyncConnectionConfig,
    db: i64,
}

impl SentinelLink {
    /// The master's connection: the one made already, or a new one to the
    /// master the sentinels name now.
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), RedisError> {
        if let Some(current) = self.current.lock().clone() {
            return Ok(current);
        }
        let mut sentinels = self.client.lock().await;
        // Another task may have connected while this one waited.
        if let Some(current) = self.current.lock().clone() {
            return Ok(current);
        }
        let master = sentinels.async_get_client().await?;
        let connection = master
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        tracing::info!(
            master_name = %self.master_name,
            master = %master.get_connection_info().addr(),
            "redis master found through sentinel"
        );
        *self.current.lock() = Some((generation, connection.clone()));
        Ok((generation, connection))
    }

    /// After `error` on the connection of `generation`: a connection that
    /// failed, or a server that is no longer the master (a failover turned
    /// it into a replica), is dropped so that the next command asks the
    /// sentinels again. A newer connection is kept.
    fn failed(&self, generation: u64, error: &RedisError) {
        let gone = error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
            || error.is_unrecoverable_error()
            || matches!(error.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"));
        if !gone {
            return;
        }
        let mut current = self.current.lock();
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            tracing::warn!(master_name = %self.master_name, error = %error, "redis master lost: the sentinels are asked again");
            *current = None;
        }
    }

    async fn command(&self, cmd: &Cmd) -> Result<Value, RedisError> {
        let (generation, mut connection) = self.connection().await?;
        let result = connection.req_packed_command(cmd).await;
        if let Err(e) = &result {
            self.failed(generation, e);
        }
        result
    }

    async fn commands(
        &self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> Result<Vec<Value>, RedisError> {
        let (generation, mut connection) = self.connection().await?;
        let result = connection
            .req_packed_commands(pipeline, offset, count)
            .await;
        if let Err(e) = &result {
            self.failed(generation, e);
        }
        result
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Direct(manager) => manager.req_packed_command(cmd),
            Link::Sentinel(link) => Box::pin(link.command(cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Direct(manager) => manager.req_packed_commands(pipeline, offset, count),
            Link::Sentinel(link) => Box::pin(link.commands(pipeline, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Direct(manager) => manager.get_db(),
            Link::Sentinel(link) => link.db,
        }
    }
}
