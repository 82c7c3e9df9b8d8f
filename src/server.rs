//! Start-up: builds every part from the configuration, then serves until
//! SIGTERM or SIGINT, finishing the requests in flight.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use sesame_backends::ldap::LdapBackend;
use sesame_backends::local::{AccountKind, LocalBackend, LocalDirectory};
use sesame_backends::sql::SqlBackend;
use sesame_backends::{Backend, PasswordHasher};
use uuid::Uuid;

use crate::auth::Authenticator;
use crate::clock::{Clock, SystemClock};
use crate::config::{LoadedConfig, StoreKind};
use crate::http::{self, AppState};
use crate::login::Broker;
use crate::oauth::Callers;
use crate::store::TokenStore;
use crate::store::embedded::EmbeddedStore;
use crate::store::redis::RedisStore;
use crate::token::statics::StaticTokensFile;
use crate::token::{SharedSecret, StaticTokens, TokenPolicy, TokenService};

/// Everything a running server holds, built from the configuration.
pub struct Sesame {
    pub state: AppState,
    pub directory: Arc<LocalDirectory>,
    pub statics: Arc<StaticTokens>,
    /// The configuration Sesame started with (listeners, store, files).
    pub config: LoadedConfig,
    /// The merged files as they are applied now: the start-up ones, with
    /// the reloadable keys of later reloads.
    running: parking_lot::Mutex<yaml_serde::Value>,
    hasher: PasswordHasher,
}

/// The platform UUID: configured, or generated once and kept in the data dir.
fn platform_uuid(config: &LoadedConfig, data_dir: &Path) -> anyhow::Result<Uuid> {
    if let Some(uuid) = config.config.xivo_uuid {
        return Ok(uuid);
    }
    let path = data_dir.join("platform-uuid");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Uuid::try_parse(text.trim())
            .with_context(|| format!("{}: not a UUID", path.display()));
    }
    let uuid = Uuid::new_v4();
    crate::fsutil::write_private_atomically(&path, uuid.to_string().as_bytes())
        .map_err(anyhow::Error::msg)?;
    Ok(uuid)
}

/// `ldap.tenant_uuid` names a declared tenant.
fn ldap_tenant_declared(
    config: &LoadedConfig,
    tenants: &crate::tenants::Tenants,
) -> anyhow::Result<()> {
    if let Some(tenant) = config.ldap().and_then(|l| l.tenant_uuid)
        && tenants.get(tenant).is_none()
    {
        anyhow::bail!("ldap.tenant_uuid: tenant {tenant} is not declared in `tenants`");
    }
    Ok(())
}

impl Sesame {
    pub async fn build(config: LoadedConfig) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let data_dir = config.data_dir();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let platform = platform_uuid(&config, &data_dir)?;

        // With Redis, the throttle's counters are shared through it too.
        let (store, shared_counters): (Arc<dyn TokenStore>, _) = match config.config.store.kind {
            StoreKind::Embedded => {
                let path = config.store_path();
                let store = EmbeddedStore::open(&path, clock.now()).map_err(anyhow::Error::msg)?;
                (Arc::new(store), None)
            }
            StoreKind::Redis => {
                let redis = &config.config.store.redis;
                let store = RedisStore::from_config(redis).map_err(anyhow::Error::msg)?;
                let counters = store.counters();
                (Arc::new(store), Some(counters))
            }
        };

        let tenants = Arc::new(
            crate::tenants::Tenants::new(
                config.config.default_tenant_uuid.unwrap_or(platform),
                &config.config.tenants,
            )
            .map_err(anyhow::Error::msg)?,
        );
        ldap_tenant_declared(&config, &tenants)?;
        let directory = LocalDirectory::new();
        match config.users_file() {
            Some(path) => {
                let count = crate::users::load_into(&path, &directory, &tenants)
                    .map_err(anyhow::Error::msg)?;
                tracing::info!(file = %path.display(), accounts = count, "users file loaded");
            }
            None => tracing::warn!("no users_file configured: the local backends know no account"),
        }

        let statics = Arc::new(StaticTokens::default());
        let statics_path = config.static_tokens_file();
        let statics_file = StaticTokensFile::load(&statics_path).map_err(anyhow::Error::msg)?;
        statics.replace(&statics_file, platform);

        let hasher = PasswordHasher::new(config.config.password_hashing.concurrency)
            .map_err(anyhow::Error::msg)?;
        let backends = password_backends(&config, &directory, &hasher)?;
        check_sql_backends(&backends.sql).await?;
        if let Some(ldap) = backends.ldap.clone() {
            // Said at start-up, without waiting for it: a directory server
            // Sesame cannot use (down, a certificate for another name).
            tokio::spawn(async move {
                for uri in ldap.server_uris() {
                    match ldap.check_server(&uri).await {
                        Ok(()) => tracing::info!(server = %uri, "LDAP server reachable"),
                        Err(why) => {
                            tracing::warn!(server = %uri, error = %why, "LDAP server cannot be used now")
                        }
                    }
                }
                if let Some(name) = ldap.discovery_name() {
                    match ldap.check_discovered().await {
                        Ok(servers) => {
                            tracing::info!(name, ?servers, "discovered LDAP servers reachable")
                        }
                        Err(why) => {
                            tracing::warn!(name, error = %why, "discovered LDAP servers cannot all be used now")
                        }
                    }
                }
            });
        }
        let mut probes = upstream_probes(&config);
        probes.extend(backends.probes());
        let auth = Arc::new(Authenticator::new(
            backends.all,
            crate::auth::LoginOrder {
                uc: config.uc_login_backends(),
                default: config.default_backends(),
            },
            config.config.throttle.clone(),
            shared_counters,
        ));

        let c = &config.config;
        let shared = SharedSecret::new(
            &[
                c.shared_token.token.clone(),
                c.shared_token.previous.clone(),
            ],
            &c.shared_token.login,
            platform,
        );
        if !shared.is_enabled() {
            tracing::info!("shared token (PLAY_AUTH_TOKEN) not set: disabled");
        }
        for (name, value) in [
            ("PLAY_AUTH_TOKEN", &c.shared_token.token),
            ("PLAY_AUTH_TOKEN_PREVIOUS", &c.shared_token.previous),
        ] {
            if let Some(weakness) = value
                .as_deref()
                .and_then(crate::token::shared_secret_weakness)
            {
                // Not refused: every XiVO component must share the value, so
                // Sesame cannot be the one to change it. Said loudly instead.
                tracing::error!(
                    secret = name,
                    "{weakness}: the shared token grants every ACL to whoever guesses it; \
                     set a new random value (e.g. `openssl rand -hex 32`) on every component"
                );
            }
        }
        let tokens = Arc::new(
            TokenService::new(
                store,
                statics.clone(),
                clock,
                shared,
                TokenPolicy {
                    default_lifetime: c.default_token_lifetime,
                    max_lifetime: c.max_token_lifetime,
                    max_session_age: c.uc_api.max_session_age,
                    platform_uuid: platform,
                    tenants,
                    max_tokens_per_user: c.max_tokens_per_user,
                },
            )
            .with_refresh(
                crate::token::refresh::RefreshKey::load_or_create(&config.refresh_key_file())
                    .map_err(|e| anyhow::anyhow!("refresh_tokens.key_file: {e}"))?,
                crate::token::refresh::Settings {
                    lifetime: c.refresh_tokens.lifetime_secs,
                    per_user: c.refresh_tokens.max_per_user,
                    rotate: c.refresh_tokens.rotate,
                },
            ),
        );
        let callers = Arc::new(Callers::new(tokens.clone(), auth.clone()));
        let broker = Arc::new(
            Broker::new(
                tokens.clone(),
                auth.clone(),
                directory.clone(),
                crate::login::Sections {
                    oidc: &config.oidc(),
                    cas: config.cas().as_ref(),
                    web_session: config.web_session().as_ref(),
                    kerberos: config.kerberos().as_ref(),
                    policies: c.policies.clone(),
                    uc_token_lifetime: c.uc_api.token_lifetime.unwrap_or(c.default_token_lifetime),
                },
            )
            .map_err(anyhow::Error::msg)?,
        );
        let state = AppState::new(http::Shared {
            upstreams: Arc::new(crate::upstreams::Upstreams::new(probes)),
            broker,
            callers,
            gateway: Arc::new(c.gateway.clone()),
            public_url: c.public_url.clone(),
            tls: c.listen.tls.enabled,
            proxies: Arc::new(crate::http::client_addr::TrustedProxies {
                networks: c.listen.trusted_proxies.clone(),
                header: c.listen.forwarded_header,
            }),
            cookie_secure: c.uc_api.cookie_secure,
            access_log: Arc::new(
                crate::access_log::AccessLog::new(&c.log).map_err(anyhow::Error::msg)?,
            ),
            tokens,
            auth,
            request_timeout: Duration::from_secs(c.listen.request_timeout.max(1)),
        });
        Ok(Sesame {
            state,
            directory,
            statics,
            running: parking_lot::Mutex::new(config.raw.clone()),
            config,
            hasher,
        })
    }

    /// Re-read the users and static tokens files, then the configuration;
    /// failures keep the old data.
    pub fn reload_files(&self) {
        if let Some(path) = self.config.users_file() {
            let tenants = &self.state.tokens.policy().tenants;
            match crate::users::load_into(&path, &self.directory, tenants) {
                Ok(count) => {
                    tracing::info!(file = %path.display(), accounts = count, "users file reloaded")
                }
                Err(e) => {
                    tracing::error!(error = %e, "users file not reloaded, keeping the previous accounts")
                }
            }
        }
        let path = self.config.static_tokens_file();
        match StaticTokensFile::load(&path) {
            Ok(file) => {
                self.statics
                    .replace(&file, self.state.tokens.policy().platform_uuid);
                tracing::info!(file = %path.display(), tokens = file.tokens.len(), "static tokens reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "static tokens not reloaded, keeping the previous ones")
            }
        }
        self.reload_config();
    }

    /// Apply what changed in the configuration files: the keys of
    /// [`crate::config::RELOADABLE_KEYS`] take effect now (all or none: a
    /// failure keeps the running settings); any other changed key is refused
    /// with a message naming it, and keeps its running value until a restart.
    pub fn reload_config(&self) {
        use crate::config::RELOADABLE_KEYS;
        let new = match crate::config::load(&self.config.path) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded, keeping the running one");
                return;
            }
        };
        let mut running = self.running.lock();
        let changed = crate::config::changed_keys(&running, &new.raw);
        let (live, restart): (Vec<&String>, Vec<&String>) = changed
            .iter()
            .partition(|k| RELOADABLE_KEYS.contains(&k.as_str()));
        for key in &restart {
            tracing::error!(
                key = %key,
                file = %self.config.path.display(),
                "`{key}` changed, but it only takes effect on a restart: the running value is kept"
            );
        }
        if live.is_empty() {
            if changed.is_empty() {
                tracing::info!("configuration reloaded: nothing changed");
            }
            return;
        }
        match self.apply(&new, &live) {
            Ok(()) => {
                let (Some(running_map), Some(new_map)) =
                    (running.as_mapping_mut(), new.raw.as_mapping())
                else {
                    return;
                };
                for key in &live {
                    let key = yaml_serde::Value::String((*key).clone());
                    match new_map.get(&key) {
                        Some(value) => running_map.insert(key, value.clone()),
                        None => running_map.remove(&key),
                    };
                }
                let applied: Vec<&str> = live.iter().map(|k| k.as_str()).collect();
                tracing::info!(keys = ?applied, "configuration reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded, keeping the running settings")
            }
        }
    }

    /// Build everything the changed `keys` need from `new` first, then put
    /// it in place, so that an error changes nothing.
    fn apply(&self, new: &LoadedConfig, keys: &[&String]) -> anyhow::Result<()> {
        let touches = |names: &[&str]| keys.iter().any(|k| names.contains(&k.as_str()));
        let backends = if touches(&[
            "enabled_backend_plugins",
            "backend_policies",
            "policies",
            "ldap",
            "sql",
        ]) {
            ldap_tenant_declared(new, &self.state.tokens.policy().tenants)?;
            Some(password_backends(new, &self.directory, &self.hasher)?)
        } else {
            None
        };
        let broker = &self.state.broker;
        if touches(&["web_session"]) {
            broker
                .reload_web_session(new.web_session().as_ref())
                .map_err(|e| anyhow::anyhow!("web_session: {e}"))?;
        }
        if let Some(backends) = backends {
            // The new databases are probed from now on; a query that does
            // not fit shows in /readyz and in the log.
            let upstreams = &self.state.upstreams;
            for name in upstreams.names() {
                if name.starts_with("sql.") || name == "ldap" || name.starts_with("ldap.") {
                    upstreams.set(&name, None);
                }
            }
            for (name, probe) in backends.probes() {
                upstreams.set(&name, Some(probe));
            }
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let sql = backends.sql.clone();
                runtime.spawn(async move {
                    if let Err(e) = check_sql_backends(&sql).await {
                        tracing::error!(error = %e, "reloaded sql backend: its query does not fit; its logins fail until the configuration is fixed");
                    }
                });
            }
            self.state.auth.replace_backends(backends.all);
        }
        if touches(&["policies"]) {
            broker.replace_policies(new.config.policies.clone());
        }
        // What /readyz probes follows the reloaded upstreams.
        let probe = crate::upstreams::Probe::for_url;
        let upstreams = &self.state.upstreams;
        if touches(&["web_session"]) {
            let url = new.web_session().map(|w| w.validation_url);
            upstreams.set("web_session", url.and_then(|u| probe(&u)));
        }
        Ok(())
    }

    fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.config.static_tokens_file(), self.config.path.clone()];
        files.extend(self.config.users_file());
        files
    }
}

/// The enabled password backends, and among them the `sql` ones (whose
/// databases `/readyz` probes).
struct BuiltBackends {
    all: Vec<Arc<dyn Backend>>,
    sql: Vec<(String, Arc<SqlBackend>)>,
    ldap: Option<Arc<LdapBackend>>,
}

impl BuiltBackends {
    /// The `/readyz` probes of the `sql` backends' databases.
    /// and of the LDAP backend's servers (`ldap`, or `ldap.<host:port>`
    /// each when there are several).
    fn probes(&self) -> Vec<(String, crate::upstreams::Probe)> {
        use crate::upstreams::{DatabaseProbe, DirectoryProbe, Probe};
        let mut probes: Vec<_> = self
            .sql
            .iter()
            .map(|(name, b)| {
                (
                    format!("sql.{name}"),
                    Probe::Database(DatabaseProbe(b.clone())),
                )
            })
            .collect();
        if let Some(ldap) = &self.ldap {
            let uris = ldap.server_uris();
            for uri in &uris {
                let name = if uris.len() == 1 {
                    "ldap".to_owned()
                } else {
                    format!("ldap.{}", sesame_backends::ldap::host_port(uri))
                };
                probes.push((
                    name,
                    Probe::Directory(DirectoryProbe(ldap.clone(), uri.clone())),
                ));
            }
            if let Some(name) = ldap.discovery_name() {
                probes.push((
                    "ldap.srv".to_owned(),
                    Probe::DiscoveredDirectories(DirectoryProbe(ldap.clone(), name.to_owned())),
                ));
            }
        }
        probes
    }
}

/// The enabled password backends, built from `config`.
fn password_backends(
    config: &LoadedConfig,
    directory: &Arc<LocalDirectory>,
    hasher: &PasswordHasher,
) -> anyhow::Result<BuiltBackends> {
    let mut backends: Vec<Arc<dyn Backend>> = Vec::new();
    let mut ldap_backend = None;
    let mut sql_backends = Vec::new();
    for name in config.enabled_backends() {
        if let Some(sql) = config.sql(&name) {
            let backend = Arc::new(
                SqlBackend::new(&name, &sql, config.backend_policy(&name), hasher.clone())
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
            sql_backends.push((name, backend));
        }
    }
    // Where an LDAP entry's e-mail is looked for after the users file: the
    // sql backends that map identities, those of the default order first
    // (as the identity mapping asks them).
    let order = config.default_backends();
    let mut mapping: Vec<&(String, Arc<SqlBackend>)> = sql_backends
        .iter()
        .filter(|(_, b)| b.maps_external_identities())
        .collect();
    mapping.sort_by_key(|(name, _)| order.iter().position(|o| o == name).unwrap_or(usize::MAX));
    let mapping: Vec<Arc<dyn Backend>> = mapping
        .into_iter()
        .map(|(_, b)| b.clone() as Arc<dyn Backend>)
        .collect();
    for name in config.enabled_backends() {
        if let Some((_, backend)) = sql_backends.iter().find(|(n, _)| *n == name) {
            backends.push(backend.clone());
            continue;
        }
        if name == sesame_backends::LDAP_USER {
            let Some(ldap) = config.ldap() else {
                bail!("the ldap_user backend is enabled without an `ldap` section");
            };
            let ldap_groups = ldap.group_policies.clone();
            let backend = LdapBackend::new(ldap, directory.clone(), config.backend_policy(&name))
                .map_err(|e| anyhow::anyhow!("ldap: {e}"))?
                .with_accounts(mapping.clone())
                .with_observer(Arc::new(crate::metrics::LdapServerMetrics))
                .with_group_policies(sesame_backends::groups::GroupPolicies::new(
                    &ldap_groups,
                    |policy| config.config.policies.get(policy).cloned(),
                ));
            let backend = Arc::new(backend);
            ldap_backend = Some(backend.clone());
            backends.push(backend);
            continue;
        }
        let kind = AccountKind::ALL
            .into_iter()
            .find(|k| k.backend_name() == name);
        let Some(kind) = kind else {
            bail!("backend {name} is not available in this build");
        };
        backends.push(Arc::new(LocalBackend::new(
            kind,
            directory.clone(),
            hasher.clone(),
            config.backend_policy(&name),
        )));
    }
    // An `ldap` section without the ldap_user backend is still probed.
    if ldap_backend.is_none()
        && let Some(ldap) = config.ldap()
    {
        let backend = LdapBackend::new(ldap, directory.clone(), Vec::new())
            .map_err(|e| anyhow::anyhow!("ldap: {e}"))?
            .with_observer(Arc::new(crate::metrics::LdapServerMetrics));
        ldap_backend = Some(Arc::new(backend));
    }
    Ok(BuiltBackends {
        all: backends,
        sql: sql_backends,
        ldap: ldap_backend,
    })
}

/// Connect to each enabled `sql` backend's database and prepare its query:
/// a query that does not fit stops start-up; a database out of reach is
/// logged (its logins answer 503 until it is back).
async fn check_sql_backends(backends: &[(String, Arc<SqlBackend>)]) -> anyhow::Result<()> {
    for (name, backend) in backends {
        match backend.check().await.map_err(|e| anyhow::anyhow!("{e}"))? {
            Ok(()) => tracing::info!(backend = %name, "sql backend: the query fits the database"),
            Err(down) => tracing::warn!(
                backend = %name,
                error = %down,
                "sql backend: the database cannot be reached now; its logins answer 503 until it can"
            ),
        }
    }
    Ok(())
}

/// `sesame backend test NAME LOGIN`: what the `sql` backend NAME finds for
/// LOGIN, as text (never the password).
pub async fn backend_test(
    config: &LoadedConfig,
    name: &str,
    login: &str,
    by_email: bool,
) -> anyhow::Result<String> {
    use std::fmt::Write;
    let Some(sql) = config.sql(name) else {
        bail!("no `sql.{name}` section in the configuration");
    };
    let hasher = PasswordHasher::new(1).map_err(anyhow::Error::msg)?;
    let backend = SqlBackend::new(name, &sql, config.backend_policy(name), hasher)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Err(down) = backend.check().await.map_err(|e| anyhow::anyhow!("{e}"))? {
        bail!("sql.{name}: the database cannot be reached: {down}");
    }
    let mut out = String::new();
    let key = if by_email {
        sesame_backends::AccountKey::Email(login)
    } else {
        sesame_backends::AccountKey::Login(login)
    };
    let Some(found) = backend.lookup(key).await.map_err(anyhow::Error::msg)? else {
        writeln!(out, "sql.{name}: no account for {login:?}")?;
        return Ok(out);
    };
    let account = &found.account;
    writeln!(out, "sql.{name}: one account for {login:?}")?;
    writeln!(out, "uuid: {}", account.uuid)?;
    writeln!(
        out,
        "login: {}",
        account.login.as_deref().unwrap_or("(none)")
    )?;
    writeln!(out, "enabled: {}", account.enabled)?;
    writeln!(
        out,
        "email: {}",
        account.email.as_deref().unwrap_or("(none)")
    )?;
    writeln!(
        out,
        "tenant_uuid: {}",
        account.tenant_uuid.as_deref().unwrap_or("(the top tenant)")
    )?;
    writeln!(
        out,
        "purpose: {}",
        account.purpose.as_deref().unwrap_or("(the backend's)")
    )?;
    writeln!(out, "acl: {}", account.acl.join(", "))?;
    for (key, value) in &account.metadata {
        writeln!(out, "metadata.{key}: {value}")?;
    }
    match &found.stored {
        Ok(stored) => writeln!(out, "password: stored as {}", stored.kind())?,
        Err(why) => writeln!(out, "password: UNUSABLE: {why}")?,
    }
    Ok(out)
}

/// `sesame backend tenants NAME`: wazo-auth's tenant tree in the database
/// of the `sql` backend NAME, as the `default_tenant_uuid` and `tenants`
/// of Sesame's configuration (YAML).
pub async fn backend_tenants(config: &LoadedConfig, name: &str) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Entry {
        uuid: String,
        name: String,
        slug: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        parent: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        domain_names: Vec<String>,
    }
    #[derive(serde::Serialize)]
    struct Tree {
        default_tenant_uuid: String,
        tenants: Vec<Entry>,
    }
    let Some(sql) = config.sql(name) else {
        bail!("no `sql.{name}` section in the configuration");
    };
    let hasher = PasswordHasher::new(1).map_err(anyhow::Error::msg)?;
    let backend =
        SqlBackend::new(name, &sql, Vec::new(), hasher).map_err(|e| anyhow::anyhow!("{e}"))?;
    let found = backend.wazo_tenants().await.map_err(anyhow::Error::msg)?;
    let tops: Vec<_> = found.iter().filter(|t| t.uuid == t.parent_uuid).collect();
    let [top] = tops.as_slice() else {
        bail!(
            "sql.{name}: auth_tenant has {} top tenants (their own parent); wazo-auth has one",
            tops.len()
        );
    };
    let top = top.uuid.clone();
    let tree = Tree {
        default_tenant_uuid: top.clone(),
        tenants: found
            .into_iter()
            .map(|t| Entry {
                name: t
                    .name
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| t.slug.clone()),
                parent: (t.uuid != top && t.parent_uuid != top).then_some(t.parent_uuid),
                uuid: t.uuid,
                slug: t.slug,
                domain_names: t.domain_names,
            })
            .collect(),
    };
    let yaml = yaml_serde::to_string(&tree).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(format!(
        "# wazo-auth's tenants, read from sql.{name}: the top tenant and the tree under it\n{yaml}"
    ))
}

/// What `/readyz` checks of each configured upstream.
fn upstream_probes(config: &LoadedConfig) -> Vec<(String, crate::upstreams::Probe)> {
    use crate::upstreams::Probe;
    let mut probes = Vec::new();
    let mut by_url = |name: String, url: &str| {
        if let Some(probe) = Probe::for_url(url) {
            probes.push((name, probe));
        }
    };
    if let Some(cas) = config.cas() {
        by_url("cas".into(), &cas.server_url);
    }
    for (name, provider) in &config.oidc().providers {
        by_url(format!("oidc.{name}"), &provider.issuer);
    }
    if let Some(web) = config.web_session() {
        by_url("web_session".into(), &web.validation_url);
    }
    if let Some(file) = config
        .kerberos()
        .and_then(|k| sesame_federation::kerberos::keytab_file(&k))
    {
        probes.push(("kerberos_keytab".into(), Probe::File(file)));
    }
    probes
}

fn mtimes(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

/// Reload the files when they change or on SIGHUP.
async fn watch_files(sesame: Arc<Sesame>) {
    let files = sesame.watched_files();
    let mut seen = mtimes(&files);
    let mut tick = tokio::time::interval(Duration::from_secs(
        sesame.config.config.file_poll_interval.max(1),
    ));
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    };
    loop {
        let by_signal = tokio::select! {
            _ = tick.tick() => false,
            Some(_) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        let now = mtimes(&files);
        if by_signal || now != seen {
            if by_signal {
                tracing::info!(
                    "SIGHUP: reloading the users, static tokens and configuration files, reopening the access log"
                );
                sesame.state.access_log.reopen();
            }
            seen = now;
            sesame.reload_files();
        }
    }
}

/// Drop expired tokens from the store now and then.
async fn purge_expired(sesame: Arc<Sesame>) {
    let every = Duration::from_secs(sesame.config.config.store.purge_interval.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let tokens = &sesame.state.tokens;
        match tokens.store().purge_expired(tokens.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "expired tokens purged"),
            Err(e) => tracing::warn!(error = %e, "purge of expired tokens failed"),
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing requests in flight, then exiting"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: finishing requests in flight, then exiting"),
    }
}

/// Serve until a termination signal.
pub async fn serve(config: LoadedConfig) -> anyhow::Result<()> {
    let listen = config.config.listen.clone();
    let sesame = Arc::new(Sesame::build(config).await?);
    let metrics = sesame.config.config.metrics.clone();
    let app = http::router(
        sesame.state.clone(),
        listen.max_body_bytes,
        metrics.enabled && metrics.listen.is_none(),
    )
    .into_make_service_with_connect_info::<SocketAddr>();
    let addr = SocketAddr::new(listen.address, listen.port);

    let handle = axum_server::Handle::new();
    let metrics_handle = axum_server::Handle::new();
    let watcher = tokio::spawn(watch_files(sesame.clone()));
    let purger = tokio::spawn(purge_expired(sesame.clone()));
    {
        let handle = handle.clone();
        let metrics_handle = metrics_handle.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            handle.graceful_shutdown(Some(Duration::from_secs(10)));
            metrics_handle.graceful_shutdown(Some(Duration::from_secs(1)));
        });
    }
    let metrics_server = match metrics.listen.filter(|_| metrics.enabled) {
        Some(metrics_addr) => {
            let listener = std::net::TcpListener::bind(metrics_addr)
                .with_context(|| format!("cannot serve metrics on {metrics_addr}"))?;
            tracing::info!(address = %metrics_addr, "metrics listening (http)");
            let app = http::metrics_router(sesame.state.clone());
            let server = axum_server::from_tcp(listener)?.handle(metrics_handle);
            Some(tokio::spawn(async move {
                server.serve(app.into_make_service()).await
            }))
        }
        None => None,
    };
    {
        let handle = handle.clone();
        let scheme = if listen.tls.enabled { "https" } else { "http" };
        tokio::spawn(async move {
            if let Some(bound) = handle.listening().await {
                tracing::info!(address = %bound, "listening ({scheme})");
            }
        });
    }

    // What a client may send, and how slowly, before its request reaches the
    // router: hyper answers 431 to a head over listen.max_header_bytes.
    let header_timeout = Some(Duration::from_secs(listen.header_read_timeout.max(1)));
    let max_header_list = u32::try_from(listen.max_header_bytes).unwrap_or(u32::MAX);
    // The protocol settings stay with the server whichever acceptor it gets.
    let mut server = axum_server::bind(addr);
    let builder = server.http_builder();
    builder
        .http1()
        .header_read_timeout(header_timeout)
        .max_buf_size(listen.max_header_bytes);
    builder.http2().max_header_list_size(max_header_list);
    let idle = http::idle::IdleTimeout {
        idle: Duration::from_secs(listen.idle_timeout.max(1)),
    };
    let served = if listen.tls.enabled {
        let configured = listen
            .tls
            .certificate
            .as_ref()
            .zip(listen.tls.private_key.as_ref())
            .map(|(c, k)| (sesame.config.resolve(c), sesame.config.resolve(k)));
        let (cert, key) = crate::tls::certificate_paths(configured, &sesame.config.data_dir())
            .map_err(anyhow::Error::msg)?;
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
            .await
            .with_context(|| format!("cannot load TLS certificate {}", cert.display()))?;
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(idle);
        server.acceptor(acceptor).handle(handle).serve(app).await
    } else {
        server.acceptor(idle).handle(handle).serve(app).await
    };
    watcher.abort();
    purger.abort();
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    served.with_context(|| format!("cannot serve on {addr}"))?;
    tracing::info!("stopped");
    Ok(())
}
