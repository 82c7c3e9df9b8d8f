//! The `sql` backend: accounts read from a PostgreSQL database (XiVO's,
//! wazo-auth's, or an application's own), through a bounded pool.
//!
//! One parameterised query finds an account by login (`$1`); its columns
//! name what they hold (`uuid`, `password`, and optionally `login`, `salt`,
//! `enabled`, `email`, `acl`, `tenant_uuid`, `purpose`, `metadata_<key>`).
//! A query whose columns do not fit is refused before any login, naming the
//! backend and the column.

pub mod preset;
pub mod stored;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio_postgres::types::Type;

use crate::local::AccountKind;
use crate::password::{Password, PasswordHasher};
use crate::{AccountKey, Backend, BackendError, Lookup, VerifiedIdentity};
pub use preset::Preset;
pub use stored::{PasswordFormat, Stored};

/// One `sql` backend's settings (`sql.<backend name>` in the configuration).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// `postgresql://USER@HOST:PORT/DATABASE` (or `?host=/run/postgresql`
    /// for a socket); never with the password in it.
    pub url: String,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The file holding the password (its first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A known schema: its query and password format for this backend.
    #[serde(default)]
    pub preset: Option<Preset>,
    /// The query finding an account by login (`$1`), when no preset.
    #[serde(default)]
    pub by_login: Option<String>,
    /// The query finding an account by e-mail (`$1`), for identities
    /// proven by another protocol; the preset's when it has one.
    #[serde(default)]
    pub by_email: Option<String>,
    /// Whether identities proven by OpenID, CAS or Kerberos may be matched
    /// to this backend's accounts (by login or by e-mail, as the protocol's
    /// `match_local_user_by` says), after the users file's. Backends of UC
    /// users only.
    #[serde(default)]
    pub match_external_identities: bool,
    /// How passwords are stored; the preset's, else `auto`.
    #[serde(default)]
    pub password_format: Option<PasswordFormat>,
    /// Most connections open at once.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Longest a lookup may take (waiting for a connection included); the
    /// server is also told (`statement_timeout`).
    #[serde(default = "default_query_timeout_ms")]
    pub query_timeout_ms: u64,
    #[serde(default)]
    pub tls: SqlTls,
}

fn default_pool_size() -> usize {
    4
}
fn default_connect_timeout_ms() -> u64 {
    3000
}
fn default_query_timeout_ms() -> u64 {
    3000
}

/// TLS to the database.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlTls {
    #[serde(default)]
    pub mode: TlsMode,
    /// The CA that signed the server's certificate (PEM); the public roots
    /// when absent.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// `disable` for a socket or a loopback address, `verify-full` otherwise.
    #[default]
    Auto,
    Disable,
    /// Encrypted, the server's certificate checked against the host name.
    VerifyFull,
}

/// Why a backend cannot be built or its query does not fit.
#[derive(Debug, thiserror::Error)]
pub enum SqlSetupError {
    #[error("sql.{backend}.{key}: {message}")]
    Invalid {
        backend: String,
        key: &'static str,
        message: String,
    },
}

fn invalid(backend: &str, key: &'static str, message: impl Into<String>) -> SqlSetupError {
    SqlSetupError::Invalid {
        backend: backend.to_owned(),
        key,
        message: message.into(),
    }
}

/// The columns a query may have, and the types each may be.
const TEXT: &[Type] = &[Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME];
const COLUMNS: &[(&str, bool)] = &[
    ("uuid", true),
    ("password", true),
    ("login", false),
    ("salt", false),
    ("enabled", false),
    ("email", false),
    ("acl", false),
    ("tenant_uuid", false),
    ("purpose", false),
];

/// Whether the columns of a prepared query fit; the error names the column.
fn check_columns(columns: &[tokio_postgres::Column]) -> Result<(), String> {
    for column in columns {
        let name = column.name();
        let ty = column.type_();
        let fits = match name {
            "salt" => *ty == Type::BYTEA,
            "enabled" => [Type::BOOL, Type::INT2, Type::INT4, Type::INT8].contains(ty),
            "acl" => [Type::TEXT_ARRAY, Type::VARCHAR_ARRAY].contains(ty),
            n if COLUMNS.iter().any(|(c, _)| *c == n) || n.starts_with("metadata_") => {
                TEXT.contains(ty)
            }
            other => {
                return Err(format!(
                    "column `{other}` is not one Sesame reads (uuid, password, login, salt, \
                     enabled, email, acl, tenant_uuid, purpose, metadata_<key>)"
                ));
            }
        };
        if !fits {
            return Err(format!(
                "column `{name}` is of type {ty}; cast it (text, boolean, text[] or bytea as fits)"
            ));
        }
    }
    for (name, required) in COLUMNS {
        if *required && !columns.iter().any(|c| c.name() == *name) {
            return Err(format!("the query has no `{name}` column"));
        }
    }
    Ok(())
}

/// An account as the query found it (the password kept apart).
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub uuid: String,
    pub login: Option<String>,
    pub enabled: bool,
    pub email: Option<String>,
    pub acl: Vec<String>,
    pub tenant_uuid: Option<String>,
    pub purpose: Option<String>,
    pub metadata: Map<String, Value>,
}

/// What a lookup found: the account and its stored password (or why that
/// could not be read).
#[derive(Debug)]
pub struct Found {
    pub account: Account,
    pub stored: Result<Stored, String>,
}

fn read_row(row: &tokio_postgres::Row, format: PasswordFormat) -> Result<Found, String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        match row.columns().iter().position(|c| c.name() == name) {
            None => Ok(None),
            Some(i) => row
                .try_get::<_, Option<String>>(i)
                .map_err(|e| format!("column {name}: {e}")),
        }
    };
    let position = |name: &str| row.columns().iter().position(|c| c.name() == name);
    let enabled = match position("enabled") {
        None => true,
        Some(i) => {
            let ty = row.columns().get(i).map(|c| c.type_().clone());
            let bad = |e: tokio_postgres::Error| format!("column enabled: {e}");
            if ty == Some(Type::BOOL) {
                row.try_get::<_, Option<bool>>(i).map_err(bad)? == Some(true)
            } else if ty == Some(Type::INT2) {
                row.try_get::<_, Option<i16>>(i)
                    .map_err(bad)?
                    .is_some_and(|v| v != 0)
            } else if ty == Some(Type::INT4) {
                row.try_get::<_, Option<i32>>(i)
                    .map_err(bad)?
                    .is_some_and(|v| v != 0)
            } else {
                row.try_get::<_, Option<i64>>(i)
                    .map_err(bad)?
                    .is_some_and(|v| v != 0)
            }
        }
    };
    let acl = match position("acl") {
        None => Vec::new(),
        Some(i) => row
            .try_get::<_, Option<Vec<Option<String>>>>(i)
            .map_err(|e| format!("column acl: {e}"))?
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect(),
    };
    let salt = match position("salt") {
        None => None,
        Some(i) => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(|e| format!("column salt: {e}"))?,
    };
    let mut metadata = Map::new();
    for column in row.columns() {
        if let Some(key) = column.name().strip_prefix("metadata_")
            && let Some(value) = text(column.name())?
        {
            metadata.insert(key.to_owned(), Value::String(value));
        }
    }
    let uuid = text("uuid")?.ok_or("the uuid is NULL")?;
    let stored = match text("password")? {
        Some(value) if !value.is_empty() => Stored::read(format, &value, salt.as_deref()),
        _ => Err("no password is stored".to_owned()),
    };
    Ok(Found {
        account: Account {
            uuid,
            login: text("login")?,
            enabled,
            email: text("email")?.filter(|e| !e.is_empty()),
            acl,
            tenant_uuid: text("tenant_uuid")?.filter(|t| !t.is_empty()),
            purpose: text("purpose")?,
            metadata,
        },
        stored,
    })
}

/// A tenant of wazo-auth's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WazoTenant {
    pub uuid: String,
    pub name: Option<String>,
    pub slug: String,
    /// The top tenant is its own parent.
    pub parent_uuid: String,
    pub domain_names: Vec<String>,
}

/// wazo-auth's tenants and their domain names (models `Tenant`, `Domain`).
const WAZO_TENANTS: &str = "SELECT t.uuid::text, t.name, t.slug::text, t.parent_uuid::text, \
     COALESCE(array_agg(d.name::text ORDER BY d.name) FILTER (WHERE d.name IS NOT NULL), '{}') \
     FROM auth_tenant t LEFT JOIN auth_tenant_domain d ON d.tenant_uuid = t.uuid \
     GROUP BY t.uuid, t.name, t.slug, t.parent_uuid \
     ORDER BY t.uuid <> t.parent_uuid, t.slug";

/// Why the query could not run: its own fault (a missing table or column,
/// a syntax error, columns that do not fit: Sesame's configuration), or the
/// database's (down, refusing, slow).
enum Failed {
    Refused(String),
    Down(String),
}

impl Failed {
    fn of(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code) if code.code().starts_with("42") => {
                Failed::Refused(format!("the query is refused: {}", described(&e)))
            }
            _ => Failed::Down(described(&e)),
        }
    }

    /// A connection could not be had from the pool.
    fn pool(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Failed::Down(described(&e)),
            e => Failed::Down(e.to_string()),
        }
    }
}

/// What went wrong, in the database's words ("password authentication
/// failed for user ...") where it said something: the error's own text is
/// only "db error".
fn described(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    crate::error_chain(e)
}

/// A password backend over a PostgreSQL query.
pub struct SqlBackend {
    name: String,
    kind: AccountKind,
    pool: deadpool_postgres::Pool,
    query: String,
    email_query: Option<String>,
    match_external: bool,
    format: PasswordFormat,
    timeout: Duration,
    default_acl: Vec<String>,
    hasher: PasswordHasher,
    /// The last stored password read (until then, one made up in the
    /// backend's format): an unknown login is checked against it, so that
    /// it costs what a wrong password costs, from the first login on.
    decoy: Mutex<Option<Stored>>,
}

impl std::fmt::Debug for SqlBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlBackend")
            .field("name", &self.name)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// The database's password, from the environment or a file.
fn password_of(name: &str, config: &SqlConfig) -> Result<Option<String>, SqlSetupError> {
    match (&config.password_env, &config.password_file) {
        (Some(_), Some(_)) => Err(invalid(
            name,
            "password_env",
            "give password_env or password_file, not both",
        )),
        (Some(var), None) => std::env::var(var)
            .map(Some)
            .map_err(|_| invalid(name, "password_env", format!("{var} is not set"))),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|t| Some(t.lines().next().unwrap_or_default().to_owned()))
            .map_err(|e| invalid(name, "password_file", format!("{}: {e}", path.display()))),
        (None, None) => Ok(None),
    }
}

/// Whether the host is this machine (a socket, or a loopback address).
fn is_local(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|host| match host {
        tokio_postgres::config::Host::Unix(_) => true,
        tokio_postgres::config::Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    })
}

impl SqlBackend {
    /// Build the backend. Nothing is connected yet: a database that is down
    /// at start-up does not stop Sesame ([`SqlBackend::check`] says so).
    pub fn new(
        name: &str,
        config: &SqlConfig,
        default_acl: Vec<String>,
        hasher: PasswordHasher,
    ) -> Result<Self, SqlSetupError> {
        let (query, email_query, format) = match (&config.preset, &config.by_login) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    name,
                    "by_login",
                    "give a preset or by_login, not both",
                ));
            }
            (Some(_), None) if config.by_email.is_some() => {
                return Err(invalid(
                    name,
                    "by_email",
                    "give a preset or by_email, not both",
                ));
            }
            (Some(preset), None) => {
                let queries =
                    preset::queries(*preset, name).map_err(|m| invalid(name, "preset", m))?;
                (
                    queries.by_login.to_owned(),
                    queries.by_email.map(str::to_owned),
                    config.password_format.unwrap_or(queries.format),
                )
            }
            (None, Some(query)) => (
                query.clone(),
                config.by_email.clone(),
                config.password_format.unwrap_or(PasswordFormat::Auto),
            ),
            (None, None) => return Err(invalid(name, "by_login", "a preset or a query is needed")),
        };
        if !query.contains("$1") {
            return Err(invalid(
                name,
                "by_login",
                "the query must use the login as $1",
            ));
        }
        if email_query.as_ref().is_some_and(|q| !q.contains("$1")) {
            return Err(invalid(
                name,
                "by_email",
                "the query must use the e-mail as $1",
            ));
        }
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| invalid(name, "url", format!("{e}")))?;
        if pg.get_password().is_some() {
            return Err(invalid(
                name,
                "url",
                "the URL holds a password: put it in password_env or password_file",
            ));
        }
        if let Some(password) = password_of(name, config)? {
            pg.password(password);
        }
        if config.pool_size == 0 {
            return Err(invalid(name, "pool_size", "must be at least 1"));
        }
        let timeout = Duration::from_millis(config.query_timeout_ms.max(1));
        pg.connect_timeout(Duration::from_millis(config.connect_timeout_ms.max(1)));
        pg.options(format!("-c statement_timeout={}", timeout.as_millis()));
        pg.application_name("sesame");
        let tls = match config.tls.mode {
            TlsMode::Disable => false,
            TlsMode::VerifyFull => true,
            TlsMode::Auto => !is_local(&pg),
        };
        let manager_config = deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        };
        let manager = if tls {
            pg.ssl_mode(tokio_postgres::config::SslMode::Require);
            let client = crate::tls::client_config(config.tls.ca_file.as_deref())
                .map_err(|m| invalid(name, "tls.ca_file", m))?;
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new((*client).clone());
            deadpool_postgres::Manager::from_config(pg, connector, manager_config)
        } else {
            deadpool_postgres::Manager::from_config(pg, tokio_postgres::NoTls, manager_config)
        };
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(Duration::from_millis(
                config.connect_timeout_ms.max(1),
            )))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| invalid(name, "pool_size", e.to_string()))?;
        let kind = AccountKind::ALL
            .into_iter()
            .find(|k| k.backend_name() == name)
            .unwrap_or(AccountKind::User);
        if config.match_external_identities && kind != AccountKind::User {
            return Err(invalid(
                name,
                "match_external_identities",
                "only the accounts of UC users are matched to identities proven elsewhere \
                 (xivo_user or a backend name of your own), not those of xivo_admin or xivo_service",
            ));
        }
        Ok(SqlBackend {
            name: name.to_owned(),
            kind,
            pool,
            query,
            email_query,
            match_external: config.match_external_identities,
            format,
            timeout,
            default_acl,
            hasher,
            decoy: Mutex::new(stored::decoy(format)),
        })
    }

    fn unavailable(&self, what: impl std::fmt::Display) -> BackendError {
        BackendError::Unavailable(format!("sql.{}: {what}", self.name))
    }

    /// A connection and the prepared `query`, its columns checked.
    async fn prepared(
        &self,
        query: &str,
    ) -> Result<(deadpool_postgres::Object, tokio_postgres::Statement), Failed> {
        let client = self.pool.get().await.map_err(Failed::pool)?;
        let statement = client.prepare_cached(query).await.map_err(Failed::of)?;
        check_columns(statement.columns()).map_err(Failed::Refused)?;
        Ok((client, statement))
    }

    /// The rows of `query` for `value`, its columns checked.
    async fn rows(
        &self,
        query: &str,
        value: &str,
    ) -> Result<Vec<tokio_postgres::Row>, BackendError> {
        self.bounded(async {
            let (client, statement) = self.prepared(query).await?;
            client
                .query(&statement, &[&value])
                .await
                .map_err(Failed::of)
        })
        .await
    }

    /// `work` within the query timeout, its failure classified.
    async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, Failed>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(Failed::Refused(m))) => {
                Err(BackendError::Internal(format!("sql.{}: {m}", self.name)))
            }
            Ok(Err(Failed::Down(m))) => Err(self.unavailable(m)),
            Err(_) => Err(self.unavailable(format!("no answer within {:?}", self.timeout))),
        }
    }

    /// wazo-auth's tenant tree, read from this backend's database
    /// (`auth_tenant`, `auth_tenant_domain`): the top tenant (its own
    /// parent) first.
    pub async fn wazo_tenants(&self) -> Result<Vec<WazoTenant>, BackendError> {
        let rows = self
            .bounded(async {
                let client = self.pool.get().await.map_err(Failed::pool)?;
                client.query(WAZO_TENANTS, &[]).await.map_err(Failed::of)
            })
            .await?;
        rows.iter()
            .map(|row| {
                Ok(WazoTenant {
                    uuid: row.try_get(0)?,
                    name: row.try_get(1)?,
                    slug: row.try_get(2)?,
                    parent_uuid: row.try_get(3)?,
                    domain_names: row.try_get(4)?,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(|e| BackendError::Internal(format!("sql.{}: auth_tenant: {e}", self.name)))
    }

    /// The query and its parameter for `key`; `None` for an e-mail
    /// without a `by_email` query.
    fn query_for<'a>(&'a self, key: AccountKey<'a>) -> Option<(&'a str, &'a str)> {
        match key {
            AccountKey::Login(login) => Some((&self.query, login)),
            AccountKey::Email(email) => self.email_query.as_deref().map(|q| (q, email)),
            AccountKey::Upn(_) | AccountKey::Dn(_) => None,
        }
    }

    /// Find the account of `key` (for `sesame backend test`): `None` when
    /// no row matches; an error when several do, or for an e-mail without
    /// a `by_email` query.
    pub async fn lookup(&self, key: AccountKey<'_>) -> Result<Option<Found>, BackendError> {
        let Some((query, login)) = self.query_for(key) else {
            return Err(BackendError::Internal(format!(
                "sql.{}: no by_email query (nor a preset that has one)",
                self.name
            )));
        };
        let rows = self.rows(query, login).await?;
        match rows.as_slice() {
            [] => Ok(None),
            [row] => read_row(row, self.format)
                .map(Some)
                .map_err(|m| BackendError::Internal(format!("sql.{}: {m}", self.name))),
            _ => Err(BackendError::Internal(format!(
                "sql.{}: {} rows match {login:?}: the query must find one account at most",
                self.name,
                rows.len()
            ))),
        }
    }

    /// Connect and prepare the query once: a query that does not fit is an
    /// error (Sesame does not start); a database out of reach is only
    /// reported (logins answer 503 until it is back).
    pub async fn check(&self) -> Result<Result<(), String>, SqlSetupError> {
        let queries = std::iter::once(("by_login", &self.query))
            .chain(self.email_query.iter().map(|q| ("by_email", q)));
        for (key, query) in queries {
            match tokio::time::timeout(self.timeout, self.prepared(query)).await {
                Ok(Ok(_)) => {}
                Ok(Err(Failed::Refused(m))) => return Err(invalid(&self.name, key, m)),
                Ok(Err(Failed::Down(m))) => return Ok(Err(m)),
                Err(_) => return Ok(Err(format!("no answer within {:?}", self.timeout))),
            }
        }
        Ok(Ok(()))
    }

    /// The identity of `account`, found for `key` (its login when the
    /// query returns none).
    fn identity(&self, account: Account, key: &str) -> VerifiedIdentity {
        let mut metadata = account.metadata;
        metadata.insert("uuid".into(), Value::String(account.uuid.clone()));
        if let Some(login) = &account.login {
            metadata.insert("login".into(), Value::String(login.clone()));
        }
        let purpose = account.purpose.clone().unwrap_or_else(|| {
            match self.kind {
                AccountKind::User => "user",
                AccountKind::Admin => "admin",
                AccountKind::Service => "external_api",
            }
            .into()
        });
        metadata.insert("purpose".into(), Value::String(purpose));
        if let Some(email) = &account.email {
            metadata.insert("email".into(), Value::String(email.clone()));
        }
        if let Some(tenant) = &account.tenant_uuid {
            metadata.insert("tenant_uuid".into(), Value::String(tenant.clone()));
        }
        let mut acl = self.default_acl.clone();
        crate::merge_acl(&mut acl, account.acl);
        VerifiedIdentity {
            auth_id: account.uuid.clone(),
            user_uuid: (self.kind == AccountKind::User).then(|| account.uuid.clone()),
            login: account.login.unwrap_or_else(|| key.to_owned()),
            acl,
            metadata,
        }
    }

    /// Check `password` against a stored value whose answer is ignored (an
    /// unknown, ambiguous or unreadable account), so that it costs what a
    /// wrong password costs.
    async fn spend(&self, password: &Password) -> Result<(), BackendError> {
        let decoy = self.decoy.lock().clone();
        match decoy {
            Some(stored) => stored.verify(password, &self.hasher).await.map(|_| ()),
            None => self.hasher.verify(password, None).await.map(|_| ()),
        }
    }
}

#[async_trait]
impl Backend for SqlBackend {
    fn name(&self) -> &str {
        &self.name
    }

    async fn authenticate(
        &self,
        login: &str,
        password: &Password,
    ) -> Result<VerifiedIdentity, BackendError> {
        let rows = self.rows(&self.query, login).await?;
        let [row] = rows.as_slice() else {
            if rows.len() > 1 {
                tracing::warn!(backend = %self.name, rows = rows.len(), "several accounts match one login: none is picked");
            }
            self.spend(password).await?;
            return Err(BackendError::InvalidCredentials);
        };
        let found = match read_row(row, self.format) {
            Ok(found) => found,
            Err(m) => {
                self.spend(password).await?;
                return Err(BackendError::Internal(format!("sql.{}: {m}", self.name)));
            }
        };
        let stored = match found.stored {
            Ok(stored) => stored,
            Err(why) => {
                tracing::warn!(backend = %self.name, account = %found.account.uuid, %why, "stored password unreadable: the login is refused");
                self.spend(password).await?;
                return Err(BackendError::InvalidCredentials);
            }
        };
        let matched = stored.verify(password, &self.hasher).await?;
        *self.decoy.lock() = Some(stored);
        if matched && found.account.enabled && !password.is_empty() {
            Ok(self.identity(found.account, login))
        } else {
            Err(BackendError::InvalidCredentials)
        }
    }

    fn maps_external_identities(&self) -> bool {
        self.match_external
    }

    async fn find(&self, key: AccountKey<'_>) -> Result<Lookup, BackendError> {
        let Some((query, value)) = self.query_for(key) else {
            return Ok(Lookup::NotAsked);
        };
        let rows = self.rows(query, value).await?;
        let row = match rows.as_slice() {
            [] => return Ok(Lookup::Nobody),
            [row] => row,
            _ => return Ok(Lookup::Refused("several accounts match")),
        };
        let found = read_row(row, self.format)
            .map_err(|m| BackendError::Internal(format!("sql.{}: {m}", self.name)))?;
        if !found.account.enabled {
            return Ok(Lookup::Refused("the account may not log in"));
        }
        let login = match key {
            AccountKey::Login(login) => login,
            // Without a login column, the e-mail stands for it.
            AccountKey::Email(email) | AccountKey::Upn(email) | AccountKey::Dn(email) => email,
        };
        Ok(Lookup::One(self.identity(found.account, login)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> SqlConfig {
        yaml_serde::from_str(&format!("url: postgresql://sesame@127.0.0.1:1/db\n{extra}")).unwrap()
    }

    #[test]
    fn settings_are_checked_before_any_connection() {
        let hasher = PasswordHasher::new(1).unwrap();
        let build = |name: &str, extra: &str| {
            SqlBackend::new(name, &config(extra), Vec::new(), hasher.clone()).map(|_| ())
        };
        assert!(build("xivo_user", "preset: xivo").is_ok());
        assert!(build("xivo_service", "preset: xivo").is_ok());
        assert!(build("anything", "preset: wazo").is_ok());
        let refused = |name: &str, extra: &str, why: &str| {
            let e = build(name, extra).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        };
        refused("mine", "preset: xivo", "xivo_user");
        refused("mine", "", "a preset or a query");
        refused("mine", "by_login: SELECT 1", "$1");
        refused("mine", "preset: wazo\nby_login: SELECT $1", "not both");
        refused("mine", "pool_size: 0\npreset: wazo", "pool_size");
        refused("mine", "preset: wazo\nby_email: SELECT $1", "not both");
        refused(
            "mine",
            "by_login: SELECT $1\nby_email: SELECT 1",
            "the e-mail as $1",
        );
        refused(
            "xivo_service",
            "preset: xivo\nmatch_external_identities: true",
            "UC users",
        );
        assert!(build("xivo_user", "preset: xivo\nmatch_external_identities: true").is_ok());
        refused(
            "mine",
            "password_env: SESAME_TEST_NO_SUCH_VARIABLE\npreset: wazo",
            "not set",
        );
        let with_password = SqlConfig {
            url: "postgresql://sesame:hunter2@127.0.0.1/db".into(),
            ..config("preset: wazo")
        };
        let e = SqlBackend::new("mine", &with_password, Vec::new(), hasher.clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains("password_env") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn only_loopback_and_sockets_go_without_tls_by_default() {
        let local = |url: &str| is_local(&url.parse().unwrap());
        assert!(local("postgresql://u@127.0.0.1/db"));
        assert!(local("postgresql://u@localhost/db"));
        assert!(local("postgresql://u@%2Frun%2Fpostgresql/db"));
        assert!(!local("postgresql://u@db.example.org/db"));
    }
}
