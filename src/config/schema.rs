//! What the configuration file may say, with its defaults.

use crate::gateway::GatewayConfig;
use crate::login::OidcConfig;
use crate::throttle::ThrottleConfig;
use serde::Deserialize;
use sesame_backends::ldap::LdapConfig;
use sesame_federation::cas::CasConfig;
use sesame_federation::kerberos::KerberosConfig;
use sesame_federation::websession::WebSessionConfig;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use uuid::Uuid;

/// Environment variables read on top of the files.
pub const ENV_SHARED_TOKEN: &str = "PLAY_AUTH_TOKEN";
pub const ENV_SHARED_TOKEN_PREVIOUS: &str = "PLAY_AUTH_TOKEN_PREVIOUS";
pub const ENV_DATA_DIR: &str = "SESAME_DATA_DIR";
pub const ENV_REDIS_URL: &str = "SESAME_REDIS_URL";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where and how to listen.
    #[serde(default)]
    pub listen: ListenConfig,
    /// Directory for the token store, the generated TLS certificate and the
    /// static tokens. `$SESAME_DATA_DIR` overrides it.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The local accounts file (users, admins, web-service accounts).
    #[serde(default)]
    pub users_file: Option<PathBuf>,
    /// The static service tokens file; default `<data_dir>/static-tokens.yml`.
    #[serde(default)]
    pub static_tokens_file: Option<PathBuf>,
    /// Seconds between checks of the users and static tokens files for changes.
    #[serde(default = "default_reload_interval")]
    pub file_poll_interval: u64,
    /// Token lifetime when the client asks for none, in seconds.
    #[serde(default = "default_token_lifetime")]
    pub default_token_lifetime: u64,
    /// Longest lifetime a client may ask for, in seconds.
    #[serde(default = "default_max_token_lifetime")]
    pub max_token_lifetime: u64,
    /// Most live tokens one user may hold; a login past it is answered 429
    /// (absent: no cap).
    #[serde(default)]
    pub max_tokens_per_user: Option<usize>,
    /// The platform UUID reported in tokens (`xivo_uuid`); generated and kept
    /// in the data directory when not set.
    #[serde(default)]
    pub xivo_uuid: Option<Uuid>,
    /// The top tenant: that of every account and token that names no other.
    /// Set it to the uuid of the Wazo top tenant Sesame replaces; the
    /// platform UUID when not set.
    #[serde(default)]
    pub default_tenant_uuid: Option<Uuid>,
    /// The tenants below the top one (see `docs/tenants.md`).
    #[serde(default)]
    pub tenants: Vec<crate::tenants::TenantConfig>,
    /// The password backends `POST /0.1/token` tries, in order, when the
    /// body names no backend (or `wazo_user`, as Wazo clients send); by
    /// default the enabled ones among `xivo_user`, `ldap_user`,
    /// `xivo_service`, `xivo_admin`, in that order.
    #[serde(default)]
    pub default_backends: Option<Vec<String>>,
    /// Refresh tokens (`access_type: offline`).
    #[serde(default)]
    pub refresh_tokens: RefreshTokensConfig,
    /// Which backends are on: `{xivo_user: true, ...}`.
    #[serde(default)]
    pub enabled_backend_plugins: BTreeMap<String, bool>,
    /// The policy (ACL list) each backend gives its users on top of their own ACLs.
    #[serde(default)]
    pub backend_policies: BTreeMap<String, String>,
    /// Named ACL lists.
    #[serde(default)]
    pub policies: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub shared_token: SharedTokenConfig,
    #[serde(default)]
    pub uc_api: UcApiConfig,
    #[serde(default)]
    pub password_hashing: PasswordHashingConfig,
    /// The public base URL of Sesame (`https://auth.example.org`), used as
    /// the OAuth 2.0 issuer; derived from each request's `Host` when unset.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Rules of the gateway check (`/gateway/auth`, see docs/gateway.md).
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// Brute-force throttling of password logins.
    #[serde(default)]
    pub throttle: ThrottleConfig,
    /// Prometheus metrics (`/metrics`).
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The access log (see docs/operations.md).
    #[serde(default)]
    pub log: crate::access_log::LogConfig,
    /// OpenID Connect providers and the browser flow (see docs/oidc.md).
    #[serde(default)]
    pub oidc: OidcConfig,
    /// The web application whose sessions trade for tokens (see docs/websession.md).
    #[serde(default)]
    pub web_session: Option<WebSessionConfig>,
    /// The CAS server and its services (see docs/cas.md).
    #[serde(default)]
    pub cas: Option<CasConfig>,
    /// Kerberos single sign-on (see docs/kerberos.md).
    #[serde(default)]
    pub kerberos: Option<KerberosConfig>,
    /// The `ldap_user` backend's directory (see docs/ldap.md).
    #[serde(default)]
    pub ldap: Option<LdapConfig>,
    /// Backends read from PostgreSQL, by backend name (see docs/sql.md): a
    /// stock name (`xivo_user`, ...) is then read there instead of the
    /// users file.
    #[serde(default)]
    pub sql: BTreeMap<String, sesame_backends::sql::SqlConfig>,
}

fn default_reload_interval() -> u64 {
    2
}
fn default_token_lifetime() -> u64 {
    7200
}
fn default_max_token_lifetime() -> u64 {
    86_400
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    #[serde(default = "default_address")]
    pub address: IpAddr,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Seconds a request may take before it is answered 503.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: u64,
    /// Seconds a client has to send a request's headers (and an idle
    /// keep-alive connection, its next request's) before the connection is
    /// closed: slow clients cannot hold connections open.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: u64,
    /// Seconds without a byte from the client before its connection is
    /// closed; must exceed `request_timeout`.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: u64,
    /// Largest request head (request line and headers), in bytes; past it,
    /// 431. At least 8192.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Reverse proxies (addresses or CIDR networks) whose forwarding header
    /// names the client; from anyone else, the header is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<crate::http::client_addr::Network>,
    /// The header those proxies write: `x_forwarded_for` or `forwarded`.
    #[serde(default)]
    pub forwarded_header: crate::http::client_addr::ForwardedHeader,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            address: default_address(),
            port: default_port(),
            tls: TlsConfig::default(),
            max_body_bytes: default_body_limit(),
            request_timeout: default_request_timeout(),
            header_read_timeout: default_header_read_timeout(),
            idle_timeout: default_idle_timeout(),
            max_header_bytes: default_max_header_bytes(),
            trusted_proxies: Vec::new(),
            forwarded_header: Default::default(),
        }
    }
}

fn default_address() -> IpAddr {
    IpAddr::from([0, 0, 0, 0])
}
fn default_port() -> u16 {
    9497
}
fn default_body_limit() -> usize {
    64 * 1024
}
fn default_request_timeout() -> u64 {
    30
}
fn default_header_read_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_max_header_bytes() -> usize {
    32 * 1024
}
/// hyper's smallest read buffer.
pub(super) const MIN_HEADER_BYTES: usize = 8192;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Serve HTTPS (default). Plain HTTP is for deployments behind a proxy
    /// that terminates TLS.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// PEM certificate chain; with neither this nor `private_key`, a
    /// self-signed certificate is generated in the data directory.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    #[serde(default)]
    pub private_key: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: true,
            certificate: None,
            private_key: None,
        }
    }
}

/// The `metrics` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A separate plain-HTTP listener for `/metrics` (e.g. `127.0.0.1:9498`);
    /// when set, the main port does not serve it.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: None,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Embedded,
    Redis,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default, rename = "type")]
    pub kind: StoreKind,
    /// Embedded store file; default `<data_dir>/tokens.redb`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Seconds between purges of expired tokens (embedded store).
    #[serde(default = "default_purge_interval")]
    pub purge_interval: u64,
    #[serde(default)]
    pub redis: RedisConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Embedded,
            path: None,
            purge_interval: default_purge_interval(),
            redis: RedisConfig::default(),
        }
    }
}

fn default_purge_interval() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port/db`; `$SESAME_REDIS_URL` overrides it.
    #[serde(default = "default_redis_url")]
    pub url: String,
    #[serde(default = "default_redis_prefix")]
    pub key_prefix: String,
    /// Milliseconds for connecting and for each command.
    #[serde(default = "default_redis_timeout")]
    pub timeout_ms: u64,
    /// Redis Sentinels (`host:port`) that name the master of
    /// `master_name`; `url` then gives only the master's user, password
    /// and database.
    #[serde(default)]
    pub sentinels: Vec<String>,
    #[serde(default)]
    pub master_name: Option<String>,
    /// Replicas that must have a token's write (an issue, a revocation)
    /// before it is answered (Redis `WAIT`); 0 answers once the master has it.
    #[serde(default)]
    pub min_replicas_acked: u32,
    /// Keep decoded tokens in a local cache that Redis invalidates
    /// (`CLIENT TRACKING`): checks of cached tokens make no round trip.
    #[serde(default = "default_true")]
    pub client_cache: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: default_redis_url(),
            key_prefix: default_redis_prefix(),
            timeout_ms: default_redis_timeout(),
            sentinels: Vec::new(),
            master_name: None,
            min_replicas_acked: 0,
            client_cache: true,
        }
    }
}

fn default_redis_url() -> String {
    "redis://127.0.0.1:6379/0".into()
}
fn default_redis_prefix() -> String {
    "sesame:".into()
}
fn default_redis_timeout() -> u64 {
    2000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedTokenConfig {
    /// The shared secret of trusted servers. `$PLAY_AUTH_TOKEN` overrides it;
    /// empty or unset disables it.
    #[serde(default)]
    pub token: Option<String>,
    /// A second accepted value during rotation (`$PLAY_AUTH_TOKEN_PREVIOUS`).
    #[serde(default)]
    pub previous: Option<String>,
    /// The login and auth_id reported for the shared token.
    #[serde(default = "default_shared_login")]
    pub login: String,
}

impl Default for SharedTokenConfig {
    fn default() -> Self {
        SharedTokenConfig {
            token: None,
            previous: None,
            login: default_shared_login(),
        }
    }
}

fn default_shared_login() -> String {
    "trusted-server".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UcApiConfig {
    /// Backends `POST /xuc/api/2.0/auth/login` tries, in order; default
    /// `[xivo_user]` when that backend is enabled.
    #[serde(default)]
    pub login_backends: Option<Vec<String>>,
    /// Lifetime of UC tokens; default `default_token_lifetime`.
    #[serde(default)]
    pub token_lifetime: Option<u64>,
    /// `GET /xuc/api/2.0/auth/check` never extends a token past
    /// `issued_at + max_session_age` seconds.
    #[serde(default = "default_max_session_age")]
    pub max_session_age: u64,
    /// Whether the browser flows' state cookies are `Secure` (and named
    /// `__Secure-...`). On by default, also when Sesame serves plain HTTP:
    /// behind a TLS-terminating proxy the browser speaks HTTPS. Turn it off
    /// only for browsers that reach Sesame over plain HTTP on another host
    /// than localhost (tests, a lab).
    #[serde(default = "default_true")]
    pub cookie_secure: bool,
}

fn default_true() -> bool {
    true
}

impl Default for UcApiConfig {
    fn default() -> Self {
        UcApiConfig {
            login_backends: None,
            token_lifetime: None,
            max_session_age: default_max_session_age(),
            cookie_secure: true,
        }
    }
}

fn default_max_session_age() -> u64 {
    86_400
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordHashingConfig {
    /// Password verifications run at once at most (argon2 is memory-hard).
    #[serde(default = "default_hash_concurrency")]
    pub concurrency: usize,
}

impl Default for PasswordHashingConfig {
    fn default() -> Self {
        PasswordHashingConfig {
            concurrency: default_hash_concurrency(),
        }
    }
}

fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// The `refresh_tokens` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokensConfig {
    /// The key refresh tokens are derived with (made when missing);
    /// default `<data_dir>/refresh-token.key`. Instances sharing Redis
    /// must share this file.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Seconds a refresh token mints tokens; absent: until it is revoked,
    /// as wazo-auth's.
    #[serde(default)]
    pub lifetime_secs: Option<u64>,
    /// Most refresh tokens one user may hold (one per client id): an
    /// offline login for yet another client past it is answered 429.
    #[serde(default = "default_max_refresh_per_user")]
    pub max_per_user: usize,
    /// Each login by refresh token answers a new refresh token and retires
    /// the one presented; a retired one presented again revokes the client's
    /// refresh token and its sessions. Off by default: wazo-auth's clients
    /// keep their first refresh token.
    #[serde(default)]
    pub rotate: bool,
}

fn default_max_refresh_per_user() -> usize {
    100
}

impl Default for RefreshTokensConfig {
    fn default() -> Self {
        RefreshTokensConfig {
            key_file: None,
            lifetime_secs: None,
            max_per_user: default_max_refresh_per_user(),
            rotate: false,
        }
    }
}
