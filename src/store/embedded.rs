//! The default store: one redb file, with the tokens in use also in memory.
//!
//! redb is pure Rust (no C build), crash-safe (copy-on-write B-tree with
//! checksummed commits) and keeps a single file; see `docs/stores.md`.
//!
//! * Reads are served from a bounded in-memory cache of decoded tokens (with
//!   their compiled ACLs); a miss reads the record from redb (MVCC readers,
//!   no lock against the writer). Memory does not grow with the number of
//!   live tokens.
//! * A read that raced with a revocation never caches the revoked token: an
//!   epoch counter, moved around every change, tells it to leave it out.
//! * Writes go through one writer thread that commits them in groups: every
//!   caller waits for the fsync of the commit that holds its change, but
//!   concurrent logins share one fsync.
//! * Expired tokens are dropped on load and by [`TokenStore::purge_expired`],
//!   which the server calls periodically; a second table ordered by expiry
//!   makes that a range scan.
//! * A third table lists each user's tokens with their expiry, for the
//!   per-user cap, written in the same transactions as the tokens. It is
//!   rebuilt from the tokens only when a file predates it (no `meta` mark);
//!   otherwise an open reads no token: it drops the expired ones through the
//!   expiry table, so it takes the same time with ten tokens or a million.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use async_trait::async_trait;
use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};
use tokio::sync::{mpsc, oneshot};

use super::refresh::{RefreshRecord, slot};
use super::{LiveToken, StoreError, TokenKey, TokenRecord, TokenStore};
use crate::clock::Timestamp;

/// Token hash → JSON record.
const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tokens");
/// (expiry in µs, token hash) → (): the purge index.
const EXPIRY: TableDefinition<(i64, &[u8]), ()> = TableDefinition::new("expiry");

/// auth_id → (expiry in µs, token hash): each user's tokens, for the cap.
const USERS: MultimapTableDefinition<&str, (i64, &[u8])> = MultimapTableDefinition::new("users");

/// (user, client id) → JSON refresh record.
const REFRESH: TableDefinition<&str, &[u8]> = TableDefinition::new("refresh");
/// Refresh token hash → (user, client id).
const REFRESH_KEYS: TableDefinition<&[u8], &str> = TableDefinition::new("refresh_keys");

/// Marks of the file's layout: `users_index` = [`USERS_INDEX`] once `USERS`
/// is kept with the tokens (files of earlier versions have no mark).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const USERS_INDEX: u64 = 1;

/// The expiry recorded in `USERS` for a token that never expires.
const NEVER: i64 = i64::MAX;

/// The owner of a stored record, read without decoding the rest.
#[derive(serde::Deserialize)]
struct Owner {
    auth_id: String,
}

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 256;

enum Op {
    Put {
        key: TokenKey,
        auth_id: String,
        json: Vec<u8>,
        /// `None` for a new token.
        old_expiry: Option<Option<Timestamp>>,
        new_expiry: Option<Timestamp>,
    },
    Delete {
        key: TokenKey,
        /// `None` when the record could not be read (no user entry then).
        auth_id: Option<String>,
        expiry: Option<Timestamp>,
    },
    PurgeBefore(Timestamp),
}

struct Job {
    op: Op,
    done: oneshot::Sender<Result<usize, StoreError>>,
}

type Cache = Arc<RwLock<HashMap<TokenKey, Arc<LiveToken>>>>;

/// Most decoded tokens kept in memory; past it, half are dropped.
const CACHE_CAPACITY: usize = 10_000;

pub struct EmbeddedStore {
    path: PathBuf,
    db: Arc<Database>,
    cache: Cache,
    /// Most tokens in `cache`.
    capacity: usize,
    /// Moved before and after every change of an existing token.
    epoch: AtomicU64,
    writer: mpsc::Sender<Job>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish()
    }
}

/// redb's page cache (its default is far larger).
const REDB_CACHE_BYTES: usize = 16 * 1024 * 1024;

fn internal(context: &str) -> impl Fn(redb::Error) -> StoreError + '_ {
    move |e| StoreError::Internal(format!("{context}: {e}"))
}

impl EmbeddedStore {
    /// Open (or create) the store file at `path`, load the live tokens and
    /// drop the expired ones.
    pub fn open(path: &Path, now: Timestamp) -> Result<Self, StoreError> {
        // Decoded tokens are cached above redb; its own page cache stays small.
        let db = redb::Builder::new()
            .set_cache_size(REDB_CACHE_BYTES)
            .create(path)
            .map_err(|e| {
                StoreError::Internal(format!("cannot open token store {}: {e}", path.display()))
            })?;
        create_tables(&db)?;
        let dropped = if users_index_kept(&db)? {
            // The index is kept with the tokens: read none of them.
            Vec::new()
        } else {
            let (owners, dropped) = scan_tokens(&db, now)?;
            rebuild_users(&db, &owners)?;
            tracing::info!(
                tokens = owners.len(),
                "token store: the per-user index was rebuilt (a file of an earlier version)"
            );
            dropped
        };
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<Job>(4096);
        let mut writer = Writer { db: db.clone(), rx };
        let mut ops: Vec<Op> = dropped
            .iter()
            .map(|(key, auth_id, expiry)| Op::Delete {
                key: *key,
                auth_id: auth_id.clone(),
                expiry: *expiry,
            })
            .collect();
        // The expired tokens, through the expiry index.
        ops.push(Op::PurgeBefore(now));
        let results = writer.commit(&ops);
        let mut removed = 0;
        for result in results {
            removed += result?;
        }
        if removed > 0 {
            tracing::info!(
                count = removed,
                "token store: dropped expired or unreadable tokens at load"
            );
        }
        let live = token_count(&db)?;
        std::thread::Builder::new()
            .name("sesame-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Internal(format!("cannot start the store writer: {e}")))?;
        tracing::info!(path = %path.display(), tokens = live, "token store opened");
        Ok(EmbeddedStore {
            path: path.to_owned(),
            db,
            cache: Arc::new(RwLock::new(HashMap::new())),
            capacity: CACHE_CAPACITY,
            epoch: AtomicU64::new(0),
            writer: tx,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn submit(&self, op: Op) -> Result<usize, StoreError> {
        let (done, wait) = oneshot::channel();
        self.writer
            .send(Job { op, done })
            .await
            .map_err(|_| StoreError::Internal("store writer stopped".into()))?;
        wait.await
            .map_err(|_| StoreError::Internal("store writer stopped".into()))?
    }

    /// The tokens table as of now (an MVCC snapshot: no lock against the writer).
    fn tokens_table(
        &self,
    ) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>, StoreError> {
        tokens_table(&self.db)
    }

    /// The record of `key` in redb, if any.
    fn read_record(&self, key: &TokenKey) -> Result<Option<TokenRecord>, StoreError> {
        let table = self.tokens_table()?;
        let Some(value) = table
            .get(key.0.as_slice())
            .map_err(|e| internal("read")(e.into()))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(|e| StoreError::Internal(format!("decode token: {e}")))
    }

    /// Put a decoded token in the cache, making room when it is full.
    fn cache_token(
        &self,
        cache: &mut HashMap<TokenKey, Arc<LiveToken>>,
        key: TokenKey,
        token: Arc<LiveToken>,
    ) {
        super::insert_bounded(cache, self.capacity, key, token);
    }

    /// The token of `key`: from the cache, or from redb (then cached).
    fn lookup(&self, key: &TokenKey) -> Result<Option<Arc<LiveToken>>, StoreError> {
        if let Some(token) = self.read_cache().get(key) {
            return Ok(Some(token.clone()));
        }
        let before = self.epoch.load(Ordering::SeqCst);
        let Some(record) = self.read_record(key)? else {
            return Ok(None);
        };
        let token = Arc::new(LiveToken::new(record));
        let mut cache = self.write_cache();
        // A change since the read may have made this record stale: serve
        // it to this caller (whose check began before the change ended),
        // but do not keep it.
        if self.epoch.load(Ordering::SeqCst) == before {
            self.cache_token(&mut cache, *key, token.clone());
        }
        Ok(Some(token))
    }

    fn read_cache(&self) -> parking_lot::RwLockReadGuard<'_, HashMap<TokenKey, Arc<LiveToken>>> {
        self.cache.read()
    }

    fn write_cache(&self) -> parking_lot::RwLockWriteGuard<'_, HashMap<TokenKey, Arc<LiveToken>>> {
        self.cache.write()
    }
}

/// Create the tables a new file lacks.
fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(|e| internal("begin")(e.into()))?;
    {
        txn.open_table(TOKENS)
            .map_err(|e| internal("tokens table")(e.into()))?;
        txn.open_table(EXPIRY)
            .map_err(|e| internal("expiry table")(e.into()))?;
        txn.open_multimap_table(USERS)
            .map_err(|e| internal("users table")(e.into()))?;
        txn.open_table(REFRESH)
            .map_err(|e| internal("refresh table")(e.into()))?;
        txn.open_table(REFRESH_KEYS)
            .map_err(|e| internal("refresh keys table")(e.into()))?;
        txn.open_table(META)
            .map_err(|e| internal("meta table")(e.into()))?;
    }
    txn.commit().map_err(|e| internal("commit")(e.into()))
}

/// The tokens table of `db` as of now (an MVCC snapshot).
fn tokens_table(
    db: &Database,
) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>, StoreError> {
    db.begin_read()
        .map_err(|e| internal("begin read")(e.into()))?
        .open_table(TOKENS)
        .map_err(|e| internal("tokens table")(e.into()))
}

/// The tokens in the file (redb keeps the count: nothing is read).
fn token_count(db: &Database) -> Result<usize, StoreError> {
    let len = tokens_table(db)?
        .len()
        .map_err(|e| internal("count")(e.into()))?;
    Ok(usize::try_from(len).unwrap_or(usize::MAX))
}

/// Whether the file's `USERS` table is kept with its tokens.
fn users_index_kept(db: &Database) -> Result<bool, StoreError> {
    let read = db
        .begin_read()
        .map_err(|e| internal("begin read")(e.into()))?;
    let meta = read
        .open_table(META)
        .map_err(|e| internal("meta table")(e.into()))?;
    let mark = meta
        .get("users_index")
        .map_err(|e| internal("meta table")(e.into()))?;
    Ok(mark.is_some_and(|v| v.value() == USERS_INDEX))
}

/// Live token owners (auth id, expiry, key), expired or unreadable tokens
/// to drop: a read of every token, for a file without the users index.
type Scanned = (
    Vec<(String, i64, TokenKey)>,
    Vec<(TokenKey, Option<String>, Option<Timestamp>)>,
);

fn scan_tokens(db: &Database, now: Timestamp) -> Result<Scanned, StoreError> {
    let mut owners = Vec::new();
    let mut dropped = Vec::new();
    let read = db
        .begin_read()
        .map_err(|e| internal("begin read")(e.into()))?;
    let table = read
        .open_table(TOKENS)
        .map_err(|e| internal("tokens table")(e.into()))?;
    for entry in table.iter().map_err(|e| internal("scan")(e.into()))? {
        let (k, v) = entry.map_err(|e| internal("scan")(e.into()))?;
        let Ok(bytes) = <[u8; 32]>::try_from(k.value()) else {
            tracing::warn!("token store: skipping a key of unexpected length");
            continue;
        };
        let key = TokenKey(bytes);
        match serde_json::from_slice::<TokenRecord>(v.value()) {
            Ok(record) if record.is_expired(now) => {
                dropped.push((key, Some(record.auth_id), record.expires_at))
            }
            Ok(record) => owners.push((
                record.auth_id,
                record.expires_at.map_or(NEVER, |at| at.0),
                key,
            )),
            Err(e) => {
                tracing::warn!(?key, error = %e, "token store: dropping an unreadable record");
                dropped.push((key, None, None));
            }
        }
    }
    Ok((owners, dropped))
}

/// Write the `USERS` table anew from the live tokens found at open (a file
/// of an earlier version lacks it), and mark it kept from now on.
fn rebuild_users(db: &Database, owners: &[(String, i64, TokenKey)]) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(|e| internal("begin")(e.into()))?;
    txn.delete_multimap_table(USERS)
        .map_err(|e| internal("users table")(e.into()))?;
    {
        let mut users = txn
            .open_multimap_table(USERS)
            .map_err(|e| internal("users table")(e.into()))?;
        for (auth_id, at, key) in owners {
            users
                .insert(auth_id.as_str(), (*at, key.0.as_slice()))
                .map_err(|e| internal("users table")(e.into()))?;
        }
        let mut meta = txn
            .open_table(META)
            .map_err(|e| internal("meta table")(e.into()))?;
        meta.insert("users_index", USERS_INDEX)
            .map_err(|e| internal("meta table")(e.into()))?;
    }
    txn.commit().map_err(|e| internal("commit")(e.into()))
}

/// Refresh tokens are written rarely (offline logins, revocations): each
/// change is a transaction of its own, on a blocking thread, beside the
/// writer thread of the access tokens (redb serializes the two).
async fn refresh_txn<T, F>(db: &Arc<Database>, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error> + Send + 'static,
{
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let txn = db.begin_write()?;
        let out = work(&txn)?;
        txn.commit()?;
        Ok::<T, redb::Error>(out)
    })
    .await
    .map_err(|e| StoreError::Internal(format!("refresh token write: {e}")))?
    .map_err(internal("refresh token write"))
}

fn refresh_json(record: &RefreshRecord) -> Result<Vec<u8>, redb::Error> {
    serde_json::to_vec(record).map_err(|e| redb::Error::Io(std::io::Error::other(e)))
}

fn refresh_of(bytes: &[u8]) -> Result<RefreshRecord, redb::Error> {
    serde_json::from_slice(bytes).map_err(|e| redb::Error::Io(std::io::Error::other(e)))
}

fn to_json(record: &TokenRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Internal(format!("encode token: {e}")))
}

#[async_trait]
impl TokenStore for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn insert(
        &self,
        key: TokenKey,
        token: LiveToken,
        _now: Timestamp,
    ) -> Result<Arc<LiveToken>, StoreError> {
        let json = to_json(&token.record)?;
        self.submit(Op::Put {
            key,
            auth_id: token.record.auth_id.clone(),
            json,
            old_expiry: None,
            new_expiry: token.record.expires_at,
        })
        .await?;
        let token = Arc::new(token);
        self.cache_token(&mut self.write_cache(), key, token.clone());
        Ok(token)
    }

    async fn get(&self, key: &TokenKey) -> Result<Option<Arc<LiveToken>>, StoreError> {
        self.lookup(key)
    }

    async fn remove(&self, key: &TokenKey) -> Result<bool, StoreError> {
        let Some(token) = self.lookup(key)? else {
            return Ok(false);
        };
        self.epoch.fetch_add(1, Ordering::SeqCst);
        // Out of memory first: the token stops working at once.
        self.write_cache().remove(key);
        let outcome = self
            .submit(Op::Delete {
                key: *key,
                auth_id: Some(token.record.auth_id.clone()),
                expiry: token.record.expires_at,
            })
            .await;
        self.epoch.fetch_add(1, Ordering::SeqCst);
        // Again, after the commit: a read that raced with it is gone too.
        self.write_cache().remove(key);
        outcome.map(|_| true)
    }

    async fn renew(
        &self,
        key: &TokenKey,
        expires_at: Timestamp,
        _now: Timestamp,
    ) -> Result<Option<Arc<LiveToken>>, StoreError> {
        let Some(current) = self.lookup(key)? else {
            return Ok(None);
        };
        let renewed = Arc::new(current.with_expiry(Some(expires_at)));
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let outcome = self
            .submit(Op::Put {
                key: *key,
                auth_id: current.record.auth_id.clone(),
                json: to_json(&renewed.record)?,
                old_expiry: Some(current.record.expires_at),
                new_expiry: Some(expires_at),
            })
            .await;
        self.epoch.fetch_add(1, Ordering::SeqCst);
        outcome?;
        self.cache_token(&mut self.write_cache(), *key, renewed.clone());
        Ok(Some(renewed))
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.write_cache().retain(|_, t| !t.record.is_expired(now));
        let outcome = self.submit(Op::PurgeBefore(now)).await;
        self.epoch.fetch_add(1, Ordering::SeqCst);
        outcome
    }

    async fn count(&self) -> Result<usize, StoreError> {
        token_count(&self.db)
    }

    async fn refresh_put(
        &self,
        record: RefreshRecord,
        replace: bool,
    ) -> Result<RefreshRecord, StoreError> {
        refresh_txn(&self.db, move |txn| {
            let mut table = txn.open_table(REFRESH)?;
            let mut keys = txn.open_table(REFRESH_KEYS)?;
            let name = slot(&record.user_uuid, &record.client_id);
            let kept = match table.get(name.as_str())? {
                Some(bytes) => Some(refresh_of(bytes.value())?),
                None => None,
            };
            if let Some(kept) = kept {
                if !replace {
                    return Ok(kept);
                }
                for key in std::iter::once(&kept.key).chain(&kept.retired) {
                    keys.remove(key.0.as_slice())?;
                }
            }
            table.insert(name.as_str(), refresh_json(&record)?.as_slice())?;
            for key in std::iter::once(&record.key).chain(&record.retired) {
                keys.insert(key.0.as_slice(), name.as_str())?;
            }
            Ok(record)
        })
        .await
    }

    async fn refresh_get(&self, key: &TokenKey) -> Result<Option<RefreshRecord>, StoreError> {
        let read = || -> Result<Option<RefreshRecord>, redb::Error> {
            let txn = self.db.begin_read()?;
            let keys = txn.open_table(REFRESH_KEYS)?;
            let Some(name) = keys.get(key.0.as_slice())? else {
                return Ok(None);
            };
            let table = txn.open_table(REFRESH)?;
            match table.get(name.value())? {
                Some(bytes) => Ok(Some(refresh_of(bytes.value())?).filter(|r| r.answers_to(key))),
                None => Ok(None),
            }
        };
        read().map_err(internal("refresh token read"))
    }

    async fn refresh_list(
        &self,
        user_uuid: Option<&str>,
    ) -> Result<Vec<RefreshRecord>, StoreError> {
        let read = || -> Result<Vec<RefreshRecord>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(REFRESH)?;
            let mut found = Vec::new();
            let entries = match user_uuid {
                // A user's records are the names that start with the user.
                Some(user) => {
                    let from = format!("{user}\u{1f}");
                    let to = format!("{user}\u{20}");
                    table.range(from.as_str()..to.as_str())?
                }
                None => table.range::<&str>(..)?,
            };
            for entry in entries {
                let (_, bytes) = entry?;
                found.push(refresh_of(bytes.value())?);
            }
            Ok(found)
        };
        read().map_err(internal("refresh token list"))
    }

    async fn refresh_remove(
        &self,
        user_uuid: &str,
        client_id: &str,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let name = slot(user_uuid, client_id);
        refresh_txn(&self.db, move |txn| {
            let mut table = txn.open_table(REFRESH)?;
            let removed = match table.remove(name.as_str())? {
                Some(bytes) => Some(refresh_of(bytes.value())?),
                None => None,
            };
            if let Some(record) = &removed {
                let mut keys = txn.open_table(REFRESH_KEYS)?;
                for key in std::iter::once(&record.key).chain(&record.retired) {
                    keys.remove(key.0.as_slice())?;
                }
            }
            Ok(removed)
        })
        .await
    }

    async fn live_tokens(
        &self,
        auth_id: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<(TokenKey, Arc<LiveToken>)>, StoreError> {
        let read = |e: redb::StorageError| internal("read")(e.into());
        let mut found = Vec::new();
        let Some(auth_id) = auth_id else {
            // Everyone's: every record, decoded (the cache holds only some).
            let table = self.tokens_table()?;
            for entry in table.iter().map_err(read)? {
                let (key, value) = entry.map_err(read)?;
                let Ok(bytes) = <[u8; 32]>::try_from(key.value()) else {
                    continue;
                };
                let record: TokenRecord = serde_json::from_slice(value.value())
                    .map_err(|e| StoreError::Internal(format!("decode token: {e}")))?;
                if !record.is_expired(now) {
                    found.push((TokenKey(bytes), Arc::new(LiveToken::new(record))));
                }
            }
            return Ok(found);
        };
        let users = self
            .db
            .begin_read()
            .map_err(|e| internal("begin read")(e.into()))?
            .open_multimap_table(USERS)
            .map_err(|e| internal("users table")(e.into()))?;
        let mut keys = Vec::new();
        for entry in users.get(auth_id).map_err(read)? {
            let entry = entry.map_err(read)?;
            let (expiry, key) = entry.value();
            if expiry > now.0
                && let Ok(bytes) = <[u8; 32]>::try_from(key)
            {
                keys.push(TokenKey(bytes));
            }
        }
        for key in keys {
            if let Some(token) = self.lookup(&key)?
                && !token.record.is_expired(now)
            {
                found.push((key, token));
            }
        }
        Ok(found)
    }
}

struct Writer {
    db: Arc<Database>,
    rx: mpsc::Receiver<Job>,
}

impl Writer {
    fn run(mut self) {
        while let Some(first) = self.rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let (ops, replies): (Vec<Op>, Vec<_>) =
                jobs.into_iter().map(|j| (j.op, j.done)).unzip();
            let started = std::time::Instant::now();
            let results = self.commit(&ops);
            crate::metrics::global().store_commit(ops.len(), started.elapsed().as_secs_f64());
            for (reply, result) in replies.into_iter().zip(results) {
                // The caller may have gone away (request cancelled): nothing to do.
                let _ = reply.send(result);
            }
        }
        tracing::debug!("token store writer stopped");
    }

    /// Apply `ops` in one transaction; one result per op.
    fn commit(&mut self, ops: &[Op]) -> Vec<Result<usize, StoreError>> {
        match self.try_commit(ops) {
            Ok(counts) => counts.into_iter().map(Ok).collect(),
            Err(e) => {
                tracing::error!(error = %e, "token store commit failed");
                ops.iter()
                    .map(|_| Err(StoreError::Internal(format!("commit failed: {e}"))))
                    .collect()
            }
        }
    }

    fn try_commit(&mut self, ops: &[Op]) -> Result<Vec<usize>, redb::Error> {
        let txn = self.db.begin_write()?;
        let mut counts = Vec::with_capacity(ops.len());
        {
            let mut tokens = txn.open_table(TOKENS)?;
            let mut expiry = txn.open_table(EXPIRY)?;
            let mut users = txn.open_multimap_table(USERS)?;
            let never = |at: &Option<Timestamp>| at.map_or(NEVER, |t| t.0);
            for op in ops {
                match op {
                    Op::Put {
                        key,
                        auth_id,
                        json,
                        old_expiry,
                        new_expiry,
                    } => {
                        let hash = key.0.as_slice();
                        if let Some(old) = old_expiry {
                            if let Some(old) = old {
                                expiry.remove((old.0, hash))?;
                            }
                            users.remove(auth_id.as_str(), (never(old), hash))?;
                        }
                        if let Some(new) = new_expiry {
                            expiry.insert((new.0, hash), ())?;
                        }
                        users.insert(auth_id.as_str(), (never(new_expiry), hash))?;
                        tokens.insert(hash, json.as_slice())?;
                        counts.push(1);
                    }
                    Op::Delete {
                        key,
                        auth_id,
                        expiry: at,
                    } => {
                        let hash = key.0.as_slice();
                        if let Some(at) = at {
                            expiry.remove((at.0, hash))?;
                        }
                        if let Some(auth_id) = auth_id {
                            users.remove(auth_id.as_str(), (never(at), hash))?;
                        }
                        let existed = tokens.remove(hash)?.is_some();
                        counts.push(usize::from(existed));
                    }
                    Op::PurgeBefore(now) => {
                        let mut due: Vec<(i64, Vec<u8>)> = Vec::new();
                        for entry in expiry.range(..=(now.0, [0xffu8; 32].as_slice()))? {
                            let (k, _) = entry?;
                            let (at, hash) = k.value();
                            due.push((at, hash.to_vec()));
                        }
                        for (at, hash) in &due {
                            expiry.remove((*at, hash.as_slice()))?;
                            let owner = tokens
                                .remove(hash.as_slice())?
                                .and_then(|v| serde_json::from_slice::<Owner>(v.value()).ok());
                            if let Some(owner) = owner {
                                users.remove(owner.auth_id.as_str(), (*at, hash.as_slice()))?;
                            }
                        }
                        counts.push(due.len());
                    }
                }
            }
        }
        txn.commit()?;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    #[tokio::test]
    async fn embedded_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            EmbeddedStore::open(&dir.path().join("tokens.redb"), Timestamp::from_secs(1_000))
                .unwrap();
        contract::run(&store).await;
    }

    #[tokio::test]
    async fn embedded_store_refresh_contract() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.redb");
        let kept = crate::store::refresh::contract::record("u", "kept");
        {
            let store = EmbeddedStore::open(&path, Timestamp::from_secs(1_000)).unwrap();
            crate::store::refresh::contract::run(&store).await;
            store.refresh_put(kept.clone(), false).await.unwrap();
        }
        // And the refresh tokens survive a reopen (once the first store's
        // writer thread has let the file go).
        let mut reopened = None;
        for _ in 0..50 {
            if let Ok(store) = EmbeddedStore::open(&path, Timestamp::from_secs(1_000)) {
                reopened = Some(store);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let store = reopened.expect("store reopens");
        assert_eq!(store.refresh_get(&kept.key).await.unwrap(), Some(kept));
    }

    #[tokio::test]
    async fn tokens_survive_a_reopen_and_expired_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.redb");
        let now = Timestamp::from_secs(1_000);
        let (live, short, static_key) = (
            TokenKey::of("live"),
            TokenKey::of("short"),
            TokenKey::of("static"),
        );
        {
            let store = EmbeddedStore::open(&path, now).unwrap();
            store
                .insert(live, LiveToken::new(contract::record("a", 1_000, 600)), now)
                .await
                .unwrap();
            store
                .insert(short, LiveToken::new(contract::record("b", 1_000, 10)), now)
                .await
                .unwrap();
            let mut forever = contract::record("c", 1_000, 0);
            forever.expires_at = None;
            store
                .insert(static_key, LiveToken::new(forever), now)
                .await
                .unwrap();
            assert_eq!(store.count().await.unwrap(), 3);
        }
        // The writer thread of the first store has exited once its channel closed.
        let mut reopened = None;
        for _ in 0..50 {
            match EmbeddedStore::open(&path, Timestamp::from_secs(1_020)) {
                Ok(store) => {
                    reopened = Some(store);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
        let store = reopened.expect("store reopens");
        let token = store.get(&live).await.unwrap().unwrap();
        assert_eq!(token.record.auth_id, "a");
        assert!(token.acl.grants("confd.users.a.read"));
        assert!(
            store.get(&short).await.unwrap().is_none(),
            "expired at load"
        );
        assert!(
            store.get(&static_key).await.unwrap().is_some(),
            "never expires"
        );
    }

    /// Open `path` once the previous store's writer thread has let it go.
    async fn reopen(path: &std::path::Path, now: Timestamp) -> EmbeddedStore {
        for _ in 0..50 {
            if let Ok(store) = EmbeddedStore::open(path, now) {
                return store;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the store does not reopen");
    }

    /// The user index's entries in the file, read directly.
    fn users_entries(path: &std::path::Path) -> usize {
        let db = redb::Database::open(path).unwrap();
        let read = db.begin_read().unwrap();
        let users = read.open_multimap_table(USERS).unwrap();
        redb::ReadableMultimapTable::iter(&users)
            .unwrap()
            .map(|e| e.unwrap().1.count())
            .sum()
    }

    #[tokio::test]
    async fn a_reopen_keeps_the_user_index_and_rebuilds_it_only_for_an_older_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.redb");
        let now = Timestamp::from_secs(1_000);
        {
            let store = EmbeddedStore::open(&path, now).unwrap();
            for (user, life) in [("a", 600), ("a", 600), ("b", 10)] {
                store
                    .insert(
                        TokenKey::of(&format!("{user}-{}", uuid::Uuid::new_v4())),
                        LiveToken::new(contract::record(user, 1_000, life)),
                        now,
                    )
                    .await
                    .unwrap();
            }
        }
        // A reopen after b's token expired: the index was kept with the
        // tokens, and the expired token leaves both.
        let later = Timestamp::from_secs(1_100);
        {
            let store = reopen(&path, later).await;
            assert_eq!(store.count().await.unwrap(), 2);
            assert_eq!(store.live_tokens(Some("a"), later).await.unwrap().len(), 2);
            assert!(
                store
                    .live_tokens(Some("b"), later)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(users_entries(&path), 2);
        // A file of an earlier version: no mark, no index. It is rebuilt.
        {
            let db = redb::Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_multimap_table(USERS).unwrap();
            txn.open_multimap_table(USERS).unwrap();
            txn.open_table(META).unwrap().remove("users_index").unwrap();
            txn.commit().unwrap();
        }
        assert_eq!(users_entries(&path), 0);
        {
            let store = reopen(&path, later).await;
            assert_eq!(store.live_tokens(Some("a"), later).await.unwrap().len(), 2);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(users_entries(&path), 2);
    }

    #[tokio::test]
    async fn purge_drops_only_expired_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::from_secs(1_000);
        let store = EmbeddedStore::open(&dir.path().join("t.redb"), now).unwrap();
        for (name, life) in [("a", 10), ("b", 20), ("c", 600)] {
            store
                .insert(
                    TokenKey::of(name),
                    LiveToken::new(contract::record(name, 1_000, life)),
                    now,
                )
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .purge_expired(Timestamp::from_secs(1_015))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .purge_expired(Timestamp::from_secs(1_020))
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.count().await.unwrap(), 1);
        assert!(store.get(&TokenKey::of("c")).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_cache_is_bounded_and_misses_read_redb() {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            EmbeddedStore::open(&dir.path().join("t.redb"), Timestamp::from_secs(0)).unwrap();
        store.capacity = 8;
        let keys: Vec<TokenKey> = (0..20)
            .map(|i| TokenKey::of(&format!("token-{i}")))
            .collect();
        for key in &keys {
            store
                .insert(
                    *key,
                    LiveToken::new(contract::record("user", 0, 600)),
                    Timestamp::from_secs(0),
                )
                .await
                .unwrap();
        }
        for key in &keys {
            assert!(store.get(key).await.unwrap().is_some());
        }
        assert!(store.read_cache().len() <= 8);
        assert_eq!(store.count().await.unwrap(), 20);
        assert!(store.remove(&keys[3]).await.unwrap());
        assert!(store.get(&keys[3]).await.unwrap().is_none());
        assert!(!store.remove(&keys[3]).await.unwrap());
    }

    #[tokio::test]
    async fn many_concurrent_inserts_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::from_secs(1_000);
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("t.redb"), now).unwrap());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let key = TokenKey::of(&format!("t{i}"));
                store
                    .insert(key, LiveToken::new(contract::record("x", 1_000, 60)), now)
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.count().await.unwrap(), 200);
    }
}
