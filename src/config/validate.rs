//! What must hold across keys, checked after loading; each error names
//! the key.

use super::schema::*;

/// The names of the backends this build knows.
pub const KNOWN_BACKENDS: [&str; 4] = [
    sesame_backends::XIVO_USER,
    sesame_backends::XIVO_ADMIN,
    sesame_backends::XIVO_SERVICE,
    sesame_backends::LDAP_USER,
];

pub(super) fn validate(config: &Config) -> Result<(), (String, String)> {
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
    if !config.tenants.is_empty() {
        let Some(top) = config.default_tenant_uuid else {
            return Err((
                "tenants".into(),
                "declare the top tenant's uuid as default_tenant_uuid too".into(),
            ));
        };
        crate::tenants::Tenants::new(top, &config.tenants)
            .map_err(|e| ("tenants".to_string(), e))?;
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
        if !KNOWN_BACKENDS.contains(&name.as_str()) && !config.sql.contains_key(name) {
            return Err((
                format!("enabled_backend_plugins.{name}"),
                format!(
                    "unknown backend; known: {}, or a name of the `sql` section",
                    KNOWN_BACKENDS.join(", ")
                ),
            ));
        }
    }
    for name in config.sql.keys() {
        if name == "wazo_user" || name == sesame_backends::LDAP_USER {
            return Err((
                format!("sql.{name}"),
                "this name is taken (wazo_user is how Wazo clients ask for the default \
                 backends): name it e.g. wazo_db, and list it in default_backends"
                    .into(),
            ));
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((
                format!("sql.{name}"),
                "a backend name is letters, digits and _".into(),
            ));
        }
    }
    for (backend, policy) in &config.backend_policies {
        require_policy(config, || format!("backend_policies.{backend}"), policy)?;
    }
    let lists = [
        ("uc_api.login_backends", &config.uc_api.login_backends),
        ("default_backends", &config.default_backends),
    ];
    for (key, list) in lists {
        for (i, name) in list.iter().flatten().enumerate() {
            if !config
                .enabled_backend_plugins
                .get(name)
                .copied()
                .unwrap_or(false)
            {
                return Err((
                    format!("{key}[{i}]"),
                    format!("backend {name:?} is not enabled in enabled_backend_plugins"),
                ));
            }
        }
    }
    let ldap_on = config
        .enabled_backend_plugins
        .get(sesame_backends::LDAP_USER)
        .copied()
        .unwrap_or(false);
    if let Some(ldap) = &config.ldap {
        for policy in ldap.group_policies.values() {
            require_policy(config, || "ldap.group_policies".into(), policy)?;
        }
    }
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
        if let Some(policy) = &web.superuser_policy {
            require_policy(config, || "web_session.superuser_policy".into(), policy)?;
        }
    }
    if let Some(cas) = &config.cas {
        cas.validate()
            .map_err(|(key, message)| (format!("cas.{key}"), message))?;
        if let Some(policy) = &cas.auto_provision_policy {
            require_policy(config, || "cas.auto_provision_policy".into(), policy)?;
        }
    }
    if config.kerberos.as_ref().is_some_and(|k| k.directory_lookup) {
        let searchable = config
            .ldap
            .as_ref()
            .is_some_and(|l| l.mode() != sesame_backends::ldap::Mode::NoSearch);
        if !ldap_on || !searchable {
            return Err((
                "kerberos.directory_lookup".into(),
                "needs the ldap_user backend enabled and an `ldap` section that can search \
                 (bind_dn or bind_anonymous)"
                    .into(),
            ));
        }
    }
    if let Some(policy) = config
        .kerberos
        .as_ref()
        .and_then(|k| k.auto_provision_policy.as_ref())
    {
        require_policy(config, || "kerberos.auto_provision_policy".into(), policy)?;
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
            require_policy(config, || format!("oidc.providers.{name}"), policy)?;
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
    let redis = &config.store.redis;
    match (redis.sentinels.is_empty(), &redis.master_name) {
        (false, None) => {
            return Err((
                "store.redis.master_name".into(),
                "required with sentinels: the name the sentinels monitor (sentinel monitor NAME ...)"
                    .into(),
            ));
        }
        (true, Some(_)) => {
            return Err((
                "store.redis.sentinels".into(),
                "required with master_name: the sentinels' host:port".into(),
            ));
        }
        (false, Some(name)) if name.trim().is_empty() => {
            return Err(("store.redis.master_name".into(), "must not be empty".into()));
        }
        _ => {}
    }
    if config.store.kind == StoreKind::Redis && config.store.redis.timeout_ms == 0 {
        return Err(("store.redis.timeout_ms".into(), "must be positive".into()));
    }
    if config.refresh_tokens.max_per_user == 0 {
        return Err((
            "refresh_tokens.max_per_user".into(),
            "must be at least 1".into(),
        ));
    }
    if config.refresh_tokens.lifetime_secs == Some(0) {
        return Err((
            "refresh_tokens.lifetime_secs".into(),
            "must be positive (leave it out for refresh tokens that last until revoked)".into(),
        ));
    }
    if config.password_hashing.concurrency == 0 {
        return Err((
            "password_hashing.concurrency".into(),
            "must be positive".into(),
        ));
    }
    Ok(())
}

/// `policy` must be one of the configured policies; `key` names where the
/// configuration uses it.
fn require_policy(
    config: &Config,
    key: impl FnOnce() -> String,
    policy: &str,
) -> Result<(), (String, String)> {
    if config.policies.contains_key(policy) {
        Ok(())
    } else {
        Err((key(), format!("no policy named {policy:?} in `policies`")))
    }
}
