//! Configuration: a YAML file, overlaid by the `conf.d/*.yml` files beside it
//! (in name order), then by environment variables for secrets.
//!
//! Relative paths in the configuration are relative to the main file's
//! directory. An invalid configuration stops start-up with a message naming
//! the file and the key. `docs/configuration.md` is the reference.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sesame_backends::ldap::LdapConfig;
use sesame_federation::cas::CasConfig;
use sesame_federation::kerberos::KerberosConfig;
use sesame_federation::websession::WebSessionConfig;

use crate::federated::OidcConfig;
use crate::gateway::GatewayConfig;
use crate::throttle::ThrottleConfig;
use uuid::Uuid;
use yaml_serde::Value;

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
const MIN_HEADER_BYTES: usize = 8192;

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
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: default_redis_url(),
            key_prefix: default_redis_prefix(),
            timeout_ms: default_redis_timeout(),
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

/// A configuration error, naming where the problem is.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

/// A loaded configuration and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The files merged, before the environment: what a reload compares.
    pub raw: Value,
    /// The main file.
    pub path: PathBuf,
    /// Directory relative paths are resolved against.
    pub base_dir: PathBuf,
}

/// The top-level keys a reload applies; any other key needs a restart.
pub const RELOADABLE_KEYS: [&str; 5] = [
    "enabled_backend_plugins",
    "backend_policies",
    "policies",
    "ldap",
    "web_session",
];

/// The top-level keys whose values differ between two merged configurations
/// (a key absent from one counts as changed), sorted.
pub fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let empty = yaml_serde::Mapping::new();
    let old = old.as_mapping().unwrap_or(&empty);
    let new = new.as_mapping().unwrap_or(&empty);
    let mut keys: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| {
            k.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{k:?}"))
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The names of the backends this build knows.
pub const KNOWN_BACKENDS: [&str; 4] = [
    sesame_backends::XIVO_USER,
    sesame_backends::XIVO_ADMIN,
    sesame_backends::XIVO_SERVICE,
    sesame_backends::LDAP_USER,
];

impl LoadedConfig {
    /// Resolve a configured path against the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base_dir.join(path)
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        match std::env::var_os(ENV_DATA_DIR).filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => self.resolve(self.config.data_dir.as_deref().unwrap_or(Path::new("data"))),
        }
    }

    pub fn users_file(&self) -> Option<PathBuf> {
        self.config.users_file.as_deref().map(|p| self.resolve(p))
    }

    pub fn static_tokens_file(&self) -> PathBuf {
        match &self.config.static_tokens_file {
            Some(p) => self.resolve(p),
            None => self.data_dir().join("static-tokens.yml"),
        }
    }

    pub fn store_path(&self) -> PathBuf {
        match &self.config.store.path {
            Some(p) => self.resolve(p),
            None => self.data_dir().join("tokens.redb"),
        }
    }

    /// The enabled backends, in name order.
    pub fn enabled_backends(&self) -> Vec<String> {
        self.config
            .enabled_backend_plugins
            .iter()
            .filter(|(_, on)| **on)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Backends the UC login tries, in order.
    pub fn uc_login_backends(&self) -> Vec<String> {
        match &self.config.uc_api.login_backends {
            Some(list) => list.clone(),
            None => self
                .enabled_backends()
                .into_iter()
                .filter(|b| b == sesame_backends::XIVO_USER)
                .collect(),
        }
    }

    /// The OIDC section, its paths resolved against the config file's directory.
    pub fn oidc(&self) -> OidcConfig {
        let mut oidc = self.config.oidc.clone();
        for provider in oidc.providers.values_mut() {
            provider.ca_file = provider.ca_file.take().map(|p| self.resolve(&p));
        }
        oidc
    }

    /// The web-session section, its paths resolved against the config file's directory.
    pub fn web_session(&self) -> Option<WebSessionConfig> {
        self.config.web_session.clone().map(|mut web| {
            web.ca_file = web.ca_file.map(|p| self.resolve(&p));
            web
        })
    }

    /// The Kerberos section, its keytab path resolved against the config
    /// file's directory (a `KIND:residual` keytab name is kept as it is).
    pub fn kerberos(&self) -> Option<KerberosConfig> {
        self.config.kerberos.clone().map(|mut krb| {
            krb.keytab = krb.keytab.map(|k| match k.split_once(':') {
                Some(("FILE", path)) => format!("FILE:{}", self.resolve(Path::new(path)).display()),
                Some(_) => k,
                None => self.resolve(Path::new(&k)).display().to_string(),
            });
            krb
        })
    }

    /// The CAS section, its paths resolved against the config file's directory.
    pub fn cas(&self) -> Option<CasConfig> {
        self.config.cas.clone().map(|mut cas| {
            cas.ca_file = cas.ca_file.map(|p| self.resolve(&p));
            cas
        })
    }

    /// The LDAP section, its paths resolved against the config file's directory.
    pub fn ldap(&self) -> Option<LdapConfig> {
        self.config.ldap.clone().map(|mut ldap| {
            ldap.ca_file = ldap.ca_file.map(|p| self.resolve(&p));
            ldap
        })
    }

    /// The ACLs of `backend`'s default policy.
    pub fn backend_policy(&self, backend: &str) -> Vec<String> {
        self.config
            .backend_policies
            .get(backend)
            .and_then(|p| self.config.policies.get(p))
            .cloned()
            .unwrap_or_default()
    }
}

/// Load `path`, its `conf.d` overlays and the environment.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let mut layers: Vec<(String, Value)> = vec![(path.display().to_string(), read_yaml(path)?)];
    let conf_d = base_dir.join("conf.d");
    if conf_d.is_dir() {
        let mut overlays: Vec<PathBuf> = std::fs::read_dir(&conf_d)
            .map_err(|e| ConfigError {
                file: conf_d.display().to_string(),
                message: e.to_string(),
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|ext| ext == "yml" || ext == "yaml")
            })
            .collect();
        overlays.sort();
        for overlay in overlays {
            layers.push((overlay.display().to_string(), read_yaml(&overlay)?));
        }
    }
    from_layers(layers, path, base_dir)
}

/// A configuration from one YAML text, as if it were the file `name` with no
/// `conf.d/` beside it (the fuzz target `config` drives this).
pub fn from_str(name: &str, text: &str) -> Result<LoadedConfig, ConfigError> {
    let layer = parse_yaml(name, text)?;
    from_layers(
        vec![(name.to_owned(), layer)],
        Path::new(name),
        PathBuf::from("."),
    )
}

/// Merge the layers in order, then deserialize, apply the environment and
/// validate; errors name the layer that set the key.
fn from_layers(
    layers: Vec<(String, Value)>,
    path: &Path,
    base_dir: PathBuf,
) -> Result<LoadedConfig, ConfigError> {
    let mut merged = Value::Mapping(Default::default());
    for (_, layer) in &layers {
        merge(&mut merged, layer.clone());
    }
    let raw = merged.clone();
    let mut config: Config = serde_path_to_error::deserialize(merged).map_err(|e| {
        let key = e.path().to_string();
        ConfigError {
            file: origin(&layers, &key),
            message: format!("key `{key}`: {}", e.inner()),
        }
    })?;
    apply_env(&mut config);
    validate(&config).map_err(|(key, message)| ConfigError {
        file: origin(&layers, &key),
        message: format!("key `{key}`: {message}"),
    })?;
    Ok(LoadedConfig {
        config,
        raw,
        path: path.to_owned(),
        base_dir,
    })
}

fn read_yaml(path: &Path) -> Result<Value, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        message: format!("cannot read: {e}"),
    })?;
    parse_yaml(&file, &text)
}

fn parse_yaml(file: &str, text: &str) -> Result<Value, ConfigError> {
    let file = file.to_owned();
    let value: Value = yaml_serde::from_str(text).map_err(|e| ConfigError {
        file: file.clone(),
        message: format!("invalid YAML: {e}"),
    })?;
    match value {
        Value::Null => Ok(Value::Mapping(Default::default())),
        Value::Mapping(_) => Ok(value),
        _ => Err(ConfigError {
            file,
            message: "the top level must be a mapping of keys".into(),
        }),
    }
}

/// Deep merge: mappings merge key by key, anything else replaces.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => {
            for (k, v) in overlay {
                match base.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// The last layer that sets `key` (a dotted path), else the main file.
fn origin(layers: &[(String, Value)], key: &str) -> String {
    let parts: Vec<&str> = key
        .split('.')
        .filter(|p| !p.is_empty() && *p != "?")
        .collect();
    for (file, value) in layers.iter().rev() {
        // The longest prefix of the key that this layer sets counts.
        let mut node = value;
        let mut found = false;
        for part in &parts {
            let name = part.split('[').next().unwrap_or(part);
            match node.get(name) {
                Some(child) => {
                    node = child;
                    found = true;
                }
                None => break,
            }
        }
        if found {
            return file.clone();
        }
    }
    layers.first().map(|(f, _)| f.clone()).unwrap_or_default()
}

fn apply_env(config: &mut Config) {
    if let Ok(token) = std::env::var(ENV_SHARED_TOKEN) {
        config.shared_token.token = Some(token);
    }
    if let Ok(token) = std::env::var(ENV_SHARED_TOKEN_PREVIOUS) {
        config.shared_token.previous = Some(token);
    }
    if let Ok(url) = std::env::var(ENV_REDIS_URL)
        && !url.is_empty()
    {
        config.store.redis.url = url;
    }
}

fn validate(config: &Config) -> Result<(), (String, String)> {
    if config.default_token_lifetime == 0 {
        return Err(("default_token_lifetime".into(), "must be positive".into()));
    }
    if config.max_token_lifetime < config.default_token_lifetime {
        return Err((
            "max_token_lifetime".into(),
            format!(
                "must be at least default_token_lifetime ({})",
                config.default_token_lifetime
            ),
        ));
    }
    if config.max_tokens_per_user == Some(0) {
        return Err((
            "max_tokens_per_user".into(),
            "must be at least 1 (leave it out for no cap)".into(),
        ));
    }
    let listen = &config.listen;
    if listen.max_header_bytes < MIN_HEADER_BYTES {
        return Err((
            "listen.max_header_bytes".into(),
            format!("must be at least {MIN_HEADER_BYTES}"),
        ));
    }
    if listen.idle_timeout <= listen.request_timeout {
        return Err((
            "listen.idle_timeout".into(),
            format!(
                "must exceed listen.request_timeout ({} s): a connection waiting for its answer must not be closed as idle",
                listen.request_timeout
            ),
        ));
    }
    for name in config.enabled_backend_plugins.keys() {
        if !KNOWN_BACKENDS.contains(&name.as_str()) {
            return Err((
                format!("enabled_backend_plugins.{name}"),
                format!("unknown backend; known: {}", KNOWN_BACKENDS.join(", ")),
            ));
        }
    }
    for (backend, policy) in &config.backend_policies {
        if !config.policies.contains_key(policy) {
            return Err((
                format!("backend_policies.{backend}"),
                format!("no policy named {policy:?} in `policies`"),
            ));
        }
    }
    for (i, name) in config.uc_api.login_backends.iter().flatten().enumerate() {
        if !config
            .enabled_backend_plugins
            .get(name)
            .copied()
            .unwrap_or(false)
        {
            return Err((
                format!("uc_api.login_backends[{i}]"),
                format!("backend {name:?} is not enabled in enabled_backend_plugins"),
            ));
        }
    }
    let ldap_on = config
        .enabled_backend_plugins
        .get(sesame_backends::LDAP_USER)
        .copied()
        .unwrap_or(false);
    match &config.ldap {
        Some(ldap) => ldap
            .validate()
            .map_err(|(key, message)| (format!("ldap.{key}"), message))?,
        None if ldap_on => {
            return Err((
                "ldap".into(),
                "the ldap_user backend is enabled, but there is no `ldap` section".into(),
            ));
        }
        None => {}
    }
    config.gateway.validate()?;
    config.throttle.validate()?;
    if let Some(web) = &config.web_session {
        web.validate()
            .map_err(|(key, message)| (format!("web_session.{key}"), message))?;
        if let Some(policy) = &web.superuser_policy
            && !config.policies.contains_key(policy)
        {
            return Err((
                "web_session.superuser_policy".into(),
                format!("no policy named {policy:?} in `policies`"),
            ));
        }
    }
    if let Some(cas) = &config.cas {
        cas.validate()
            .map_err(|(key, message)| (format!("cas.{key}"), message))?;
        if let Some(policy) = &cas.auto_provision_policy
            && !config.policies.contains_key(policy)
        {
            return Err((
                "cas.auto_provision_policy".into(),
                format!("no policy named {policy:?} in `policies`"),
            ));
        }
    }
    if let Some(policy) = config
        .kerberos
        .as_ref()
        .and_then(|k| k.auto_provision_policy.as_ref())
        && !config.policies.contains_key(policy)
    {
        return Err((
            "kerberos.auto_provision_policy".into(),
            format!("no policy named {policy:?} in `policies`"),
        ));
    }
    for (name, provider) in &config.oidc.providers {
        provider
            .validate()
            .map_err(|(key, message)| (format!("oidc.providers.{name}.{key}"), message))?;
        let policies = provider
            .group_policies
            .values()
            .chain(provider.auto_provision_policy.iter());
        for policy in policies {
            if !config.policies.contains_key(policy) {
                return Err((
                    format!("oidc.providers.{name}"),
                    format!("no policy named {policy:?} in `policies`"),
                ));
            }
        }
    }
    if let Some(url) = &config.public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err((
            "public_url".into(),
            "must be an http:// or https:// URL".into(),
        ));
    }
    let tls = &config.listen.tls;
    if tls.certificate.is_some() != tls.private_key.is_some() {
        return Err((
            "listen.tls".into(),
            "set both `certificate` and `private_key`, or neither".into(),
        ));
    }
    if config.store.kind == StoreKind::Redis && config.store.redis.timeout_ms == 0 {
        return Err(("store.redis.timeout_ms".into(), "must be positive".into()));
    }
    if config.password_hashing.concurrency == 0 {
        return Err((
            "password_hashing.concurrency".into(),
            "must be positive".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn changed_keys_are_the_top_level_ones_that_differ() {
        let parse = |t: &str| -> Value { yaml_serde::from_str(t).unwrap() };
        let old = parse("listen: {port: 1}\npolicies: {a: [x]}\nldap: {uri: u}\n");
        let new = parse("listen: {port: 1}\npolicies: {a: [y]}\ndata_dir: d\n");
        assert_eq!(
            super::changed_keys(&old, &new),
            vec!["data_dir", "ldap", "policies"]
        );
        assert!(super::changed_keys(&old, &old).is_empty());
    }

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    const BASE: &str = "listen:\n  port: 9000\n  tls:\n    enabled: false\nenabled_backend_plugins:\n  xivo_user: true\n";

    #[test]
    fn overlays_merge_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "config.yml", BASE);
        write(dir.path(), "conf.d/20-port.yml", "listen:\n  port: 9002\n");
        write(
            dir.path(),
            "conf.d/10-port.yml",
            "listen:\n  port: 9001\n  address: 127.0.0.1\n",
        );
        write(dir.path(), "conf.d/ignored.txt", "not: yaml: at: all");
        let loaded = load(&main).unwrap();
        assert_eq!(loaded.config.listen.port, 9002);
        assert_eq!(loaded.config.listen.address.to_string(), "127.0.0.1");
        assert!(!loaded.config.listen.tls.enabled);
        assert_eq!(loaded.config.default_token_lifetime, 7200);
        assert_eq!(loaded.enabled_backends(), vec!["xivo_user"]);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "config.yml", BASE);
        let overlay = write(dir.path(), "conf.d/50-bad.yml", "listen:\n  port: lots\n");
        let err = load(&main).unwrap_err();
        assert_eq!(err.file, overlay.display().to_string());
        assert!(err.message.contains("listen.port"), "{err}");

        std::fs::remove_file(&overlay).unwrap();
        write(dir.path(), "conf.d/60-typo.yml", "listen:\n  prot: 1\n");
        let err = load(&main).unwrap_err();
        assert!(err.to_string().contains("60-typo.yml"), "{err}");
        assert!(err.message.contains("prot"), "{err}");
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "config.yml",
            "enabled_backend_plugins:\n  xivo_user: true\nbackend_policies:\n  xivo_user: nope\n",
        );
        let err = load(&main).unwrap_err();
        assert!(err.message.contains("backend_policies.xivo_user"), "{err}");
        assert_eq!(err.file, main.display().to_string());

        let main = write(
            dir.path(),
            "config.yml",
            "enabled_backend_plugins:\n  ldap_usr: true\n",
        );
        assert!(load(&main).unwrap_err().message.contains("unknown backend"));

        let main = write(
            dir.path(),
            "config.yml",
            "default_token_lifetime: 100\nmax_token_lifetime: 10\nuc_api:\n  login_backends: []\n",
        );
        assert!(
            load(&main)
                .unwrap_err()
                .message
                .contains("max_token_lifetime")
        );
    }

    #[test]
    fn the_ldap_section_is_checked_and_its_paths_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "config.yml",
            "enabled_backend_plugins:\n  ldap_user: true\n",
        );
        assert!(
            load(&main)
                .unwrap_err()
                .message
                .contains("no `ldap` section")
        );

        let ldap = "ldap:\n  uri: ldap://127.0.0.1/ou=x\n  user_base_dn: ou=people,dc=x\n  user_login_attribute: uid\n";
        let main = write(
            dir.path(),
            "config.yml",
            &format!("enabled_backend_plugins:\n  ldap_user: true\n{ldap}"),
        );
        assert!(load(&main).unwrap_err().message.contains("ldap.uri"));

        let main = write(
            dir.path(),
            "config.yml",
            &format!(
                "enabled_backend_plugins:\n  ldap_user: true\n{}  start_tls: true\n  ca_file: certs/ca.pem\n",
                ldap.replace("/ou=x", ":389")
            ),
        );
        let loaded = load(&main).unwrap();
        let section = loaded.ldap().unwrap();
        assert_eq!(section.ca_file, Some(dir.path().join("certs/ca.pem")));
        assert_eq!(section.user_email_attribute, "mail");
    }

    #[test]
    fn invalid_yaml_and_missing_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "config.yml", "listen: [unclosed\n");
        assert!(load(&main).unwrap_err().message.contains("invalid YAML"));
        let err = load(&dir.path().join("absent.yml")).unwrap_err();
        assert!(err.message.contains("cannot read"));
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "config.yml",
            &format!("{BASE}users_file: users.yml\ndata_dir: var\n"),
        );
        let loaded = load(&main).unwrap();
        assert_eq!(loaded.users_file().unwrap(), dir.path().join("users.yml"));
        assert_eq!(loaded.store_path(), dir.path().join("var/tokens.redb"));
        assert_eq!(
            loaded.static_tokens_file(),
            dir.path().join("var/static-tokens.yml")
        );
    }
}
