//! Loading: the main file, its `conf.d/*.yml` overlays in name order, then
//! the environment; relative paths resolved against the main file's
//! directory; errors naming the layer that set the key.

use std::path::{Path, PathBuf};

use yaml_serde::Value;

use super::schema::*;
use super::validate::validate;
use crate::login::OidcConfig;
use sesame_backends::ldap::LdapConfig;
use sesame_federation::cas::CasConfig;
use sesame_federation::kerberos::KerberosConfig;
use sesame_federation::websession::WebSessionConfig;

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
pub const RELOADABLE_KEYS: [&str; 6] = [
    "enabled_backend_plugins",
    "backend_policies",
    "policies",
    "ldap",
    "sql",
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

    pub fn refresh_key_file(&self) -> PathBuf {
        match &self.config.refresh_tokens.key_file {
            Some(p) => self.resolve(p),
            None => self.data_dir().join("refresh-token.key"),
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

    /// Backends `POST /0.1/token` tries, in order, when it names none.
    pub fn default_backends(&self) -> Vec<String> {
        match &self.config.default_backends {
            Some(list) => list.clone(),
            None => {
                let enabled = self.enabled_backends();
                [
                    sesame_backends::XIVO_USER,
                    sesame_backends::LDAP_USER,
                    sesame_backends::XIVO_SERVICE,
                    sesame_backends::XIVO_ADMIN,
                ]
                .into_iter()
                .filter(|b| enabled.iter().any(|e| e == b))
                .map(str::to_owned)
                // Then the backends only the `sql` section defines.
                .chain(
                    enabled
                        .iter()
                        .filter(|e| {
                            !super::KNOWN_BACKENDS.contains(&e.as_str())
                                && self.config.sql.contains_key(*e)
                        })
                        .cloned(),
                )
                .collect()
            }
        }
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
    /// The `sql` backend `name`, its files resolved.
    pub fn sql(&self, name: &str) -> Option<sesame_backends::sql::SqlConfig> {
        self.config.sql.get(name).cloned().map(|mut sql| {
            sql.password_file = sql.password_file.map(|p| self.resolve(&p));
            sql.tls.ca_file = sql.tls.ca_file.map(|p| self.resolve(&p));
            sql
        })
    }

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
pub(super) fn from_layers(
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

pub(super) fn read_yaml(path: &Path) -> Result<Value, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        message: format!("cannot read: {e}"),
    })?;
    parse_yaml(&file, &text)
}

pub(super) fn parse_yaml(file: &str, text: &str) -> Result<Value, ConfigError> {
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
pub(super) fn merge(base: &mut Value, overlay: Value) {
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
pub(super) fn origin(layers: &[(String, Value)], key: &str) -> String {
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

pub(super) fn apply_env(config: &mut Config) {
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
