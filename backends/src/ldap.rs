//! The `ldap_user` backend: a login and a password checked by binding to an
//! LDAP directory, then matched to a local UC user by e-mail.
//!
//! Three ways to find the user's entry, as xivo-auth's LDAP plugin does:
//! - search mode: bind with a service account (`bind_dn`), search
//!   `(<login attribute>=<login>)` under `user_base_dn`, then bind as the one
//!   entry found;
//! - anonymous search mode (`bind_anonymous: true`): the same search without
//!   the service bind;
//! - no-search mode (neither): bind directly as
//!   `<login attribute>=<login>,<user_base_dn>`.
//!
//! The login is escaped for filters (RFC 4515) and for DNs (RFC 4514), so no
//! login can widen a search or point a bind at another entry. Connections are
//! pooled in two lanes: one for the service account's searches, one for user
//! binds, so that a user's bind never changes who the searches run as.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry,
    SearchOptions, dn_escape, ldap_escape,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::groups::GroupPolicies;
use crate::local::{AccountKind, LocalDirectory, UserKey, UserMatch, identity_of};
use crate::srv::SrvDiscovery;
use crate::{AccountKey, Backend, BackendError, LDAP_USER, Lookup, Password, VerifiedIdentity};

/// Longest login the backend sends to the directory.
pub const MAX_LOGIN_LEN: usize = 256;
/// Longest DN a lookup sends (a DN kept from an earlier login).
const MAX_DN_LEN: usize = 4096;

/// LDAP result codes the backend tells apart (RFC 4511, appendix A).
mod rc {
    pub const SIZE_LIMIT_EXCEEDED: u32 = 4;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_DN_SYNTAX: u32 = 34;
    pub const INAPPROPRIATE_AUTHENTICATION: u32 = 48;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const INSUFFICIENT_ACCESS_RIGHTS: u32 = 50;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
    pub const UNWILLING_TO_PERFORM: u32 = 53;
}

/// The `ldap` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:port` or `ldaps://host:port`, nothing more; or a list
    /// of them, tried in order (the domain controllers of an AD).
    #[serde(default)]
    pub uri: Uris,
    /// A DNS domain whose `_ldap._tcp` SRV records name more servers (an
    /// AD domain's controllers), tried after those of `uri`: with LDAPS on
    /// port 636, or with StartTLS on the record's port when `start_tls`.
    #[serde(default)]
    pub srv_domain: Option<String>,
    /// The name servers asked for `srv_domain` (and the addresses of the
    /// servers it names), `host:port`; the system's resolver when empty.
    #[serde(default)]
    pub srv_nameservers: Vec<std::net::SocketAddr>,
    pub user_base_dn: String,
    pub user_login_attribute: String,
    #[serde(default = "default_email_attribute")]
    pub user_email_attribute: String,
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password: Option<String>,
    #[serde(default)]
    pub bind_anonymous: bool,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub start_tls: bool,
    /// PEM file of the CA certificates that may sign the directory's
    /// certificate; without it, the system's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name the directory's certificate must hold, when it is not the
    /// URI's host (a DC dialled by address, a certificate issued for the
    /// domain's name).
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// How long a server that could not be reached is tried only after
    /// the others.
    #[serde(default = "default_failover_backoff_ms")]
    pub failover_backoff_ms: u64,
    /// The forms of a login users type besides the bare name.
    #[serde(default)]
    pub user_login_forms: LoginForms,
    /// Group (DN or name) → policy: the policy's ACLs are added to the
    /// token of a member.
    #[serde(default)]
    pub group_policies: std::collections::BTreeMap<String, String>,
    /// How a user's groups are found.
    #[serde(default)]
    pub group_membership: GroupMembership,
    /// Where groups are searched (`nested` and `search`).
    #[serde(default)]
    pub group_base_dn: Option<String>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_operation_timeout_ms")]
    pub operation_timeout_ms: u64,
    /// Connections per lane (service searches, user binds).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Whether a login needs a local UC user with the entry's e-mail
    /// (xivo-auth's behaviour). When false, a successful bind is enough, and
    /// the token's ACLs come from the backend's policy only.
    #[serde(default = "default_true")]
    pub local_user_required: bool,
    /// The tenant of the directory's users without a local account (with
    /// one, the account's tenant); the top tenant when absent.
    #[serde(default)]
    pub tenant_uuid: Option<uuid::Uuid>,
}

/// One directory URI or several.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Uris {
    One(String),
    Many(Vec<String>),
}

impl Default for Uris {
    fn default() -> Self {
        Uris::Many(Vec::new())
    }
}

impl Uris {
    /// The URIs, in the order they are tried.
    pub fn all(&self) -> &[String] {
        match self {
            Uris::One(uri) => std::slice::from_ref(uri),
            Uris::Many(uris) => uris,
        }
    }
}

impl From<&str> for Uris {
    fn from(uri: &str) -> Self {
        Uris::One(uri.to_owned())
    }
}

/// `host:port` of a URI that passed [`LdapConfig::validate`].
pub fn host_port(uri: &str) -> &str {
    let rest = uri
        .strip_prefix("ldaps://")
        .or_else(|| uri.strip_prefix("ldap://"))
        .unwrap_or(uri);
    rest.strip_suffix('/').unwrap_or(rest)
}

/// Told of every connection attempt to a directory server, by logins and
/// by `/readyz` alike: the server side turns it into per-server metrics.
pub trait ServerObserver: Send + Sync {
    /// `server` is the `host:port` of a configured URI; `reached` whether
    /// the connection (TLS included) was made.
    fn connection(&self, server: &str, reached: bool);
}

/// How a user's groups are found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMembership {
    /// The user entry's `memberOf` (AD; OpenLDAP with the memberof
    /// overlay): direct groups.
    #[default]
    MemberOf,
    /// AD's matching rule in chain (`1.2.840.113556.1.4.1941`) under
    /// `group_base_dn`: every group the user is in, through nested ones.
    Nested,
    /// `groupOfNames` / `groupOfUniqueNames` under `group_base_dn` whose
    /// `member` / `uniqueMember` is the user (OpenLDAP): direct groups.
    Search,
}

/// The AD matching rule that follows nested group membership.
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// Active Directory's forms of a login: `DOMAIN\user` and `user@suffix`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginForms {
    /// `DOMAIN\user` is accepted for these NetBIOS domain names (case is
    /// ignored) and searched as `user`; another domain is refused.
    #[serde(default)]
    pub domains: Vec<String>,
    /// `user@suffix` is accepted for these UPN suffixes (case is ignored)
    /// and searched whole in `upn_attribute`.
    #[serde(default)]
    pub upn_suffixes: Vec<String>,
    #[serde(default = "default_upn_attribute")]
    pub upn_attribute: String,
}

impl Default for LoginForms {
    fn default() -> Self {
        LoginForms {
            domains: Vec::new(),
            upn_suffixes: Vec::new(),
            upn_attribute: default_upn_attribute(),
        }
    }
}

fn default_upn_attribute() -> String {
    "userPrincipalName".into()
}

/// What a typed login names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed<'a> {
    /// A name searched in `user_login_attribute` (`DOMAIN\` taken off).
    Name(&'a str),
    /// A user principal name, searched in `upn_attribute`.
    Upn(&'a str),
    /// `DOMAIN\user` for a domain this directory is not.
    OtherDomain,
}

impl LoginForms {
    /// Read `login` in the configured forms.
    pub fn read<'a>(&self, login: &'a str) -> Typed<'a> {
        if !self.domains.is_empty()
            && let Some((domain, user)) = login.split_once('\\')
        {
            return if !user.is_empty()
                && !user.contains('\\')
                && self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
            {
                Typed::Name(user)
            } else {
                Typed::OtherDomain
            };
        }
        if let Some((user, suffix)) = login.rsplit_once('@')
            && !user.is_empty()
            && self
                .upn_suffixes
                .iter()
                .any(|s| s.eq_ignore_ascii_case(suffix))
        {
            return Typed::Upn(login);
        }
        Typed::Name(login)
    }

    /// The account name a login stands for, as the brute-force throttle
    /// counts it: `DOMAIN\alice`, `alice@suffix` and `alice` are one.
    pub fn account_name<'a>(&self, login: &'a str) -> &'a str {
        match self.read(login) {
            Typed::Name(name) => name,
            Typed::Upn(upn) => upn.rsplit_once('@').map_or(upn, |(user, _)| user),
            Typed::OtherDomain => login,
        }
    }
}

fn default_failover_backoff_ms() -> u64 {
    30_000
}

fn default_email_attribute() -> String {
    "mail".into()
}
fn default_connect_timeout_ms() -> u64 {
    3000
}
fn default_operation_timeout_ms() -> u64 {
    5000
}
fn default_pool_size() -> usize {
    4
}
fn default_true() -> bool {
    true
}

/// How the backend finds a user's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    SearchAsService,
    SearchAnonymously,
    NoSearch,
}

impl LdapConfig {
    pub fn mode(&self) -> Mode {
        if self.bind_dn.is_some() {
            Mode::SearchAsService
        } else if self.bind_anonymous {
            Mode::SearchAnonymously
        } else {
            Mode::NoSearch
        }
    }

    /// Check what can be checked without the directory. Errors name the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.uri.all().is_empty() && self.srv_domain.is_none() {
            return Err((
                "uri".into(),
                "needs at least one URI (or srv_domain)".into(),
            ));
        }
        for uri in self.uri.all() {
            self.validate_uri(uri)?;
        }
        self.validate_discovery()?;
        if let Some(name) = &self.tls_server_name {
            if !self.uses_tls() {
                return Err((
                    "tls_server_name".into(),
                    "is for ldaps:// URIs or start_tls".into(),
                ));
            }
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                return Err((
                    "tls_server_name".into(),
                    format!("{name:?} is not a host name"),
                ));
            }
        }
        for (key, value) in [
            ("user_base_dn", &self.user_base_dn),
            ("user_login_attribute", &self.user_login_attribute),
            ("user_email_attribute", &self.user_email_attribute),
        ] {
            if value.trim().is_empty() {
                return Err((key.into(), "must not be empty".into()));
            }
        }
        for (key, value) in [
            ("user_login_attribute", &self.user_login_attribute),
            ("user_email_attribute", &self.user_email_attribute),
        ] {
            if !is_attribute_name(value) {
                return Err((key.into(), format!("{value:?} is not an attribute name")));
            }
        }
        match (&self.bind_dn, &self.bind_password) {
            (Some(_), None) | (Some(_), Some(_)) if self.bind_anonymous => {
                return Err((
                    "bind_anonymous".into(),
                    "set either bind_dn or bind_anonymous, not both".into(),
                ));
            }
            (Some(_), None) => {
                return Err(("bind_password".into(), "required with bind_dn".into()));
            }
            (None, Some(_)) => {
                return Err(("bind_dn".into(), "bind_password needs a bind_dn".into()));
            }
            (Some(_), Some(pw)) if pw.is_empty() => {
                return Err((
                    "bind_password".into(),
                    "must not be empty (an empty password is an anonymous bind)".into(),
                ));
            }
            _ => {}
        }
        if !self.group_policies.is_empty() {
            if self.mode() == Mode::NoSearch {
                return Err((
                    "group_policies".into(),
                    "groups are read by the service account: set bind_dn (or bind_anonymous)"
                        .into(),
                ));
            }
            if self.group_membership == GroupMembership::MemberOf {
                return self.validate_rest();
            }
            match &self.group_base_dn {
                Some(dn) if !dn.trim().is_empty() => {}
                _ => {
                    return Err((
                        "group_base_dn".into(),
                        "required to search groups (group_membership nested or search)".into(),
                    ));
                }
            }
        }
        self.validate_rest()
    }

    fn validate_rest(&self) -> Result<(), (String, String)> {
        let forms = &self.user_login_forms;
        if !forms.upn_suffixes.is_empty() && self.mode() == Mode::NoSearch {
            return Err((
                "user_login_forms.upn_suffixes".into(),
                "a UPN is found by a search: set bind_dn (or bind_anonymous)".into(),
            ));
        }
        if !is_attribute_name(&forms.upn_attribute) {
            return Err((
                "user_login_forms.upn_attribute".into(),
                format!("{:?} is not an attribute name", forms.upn_attribute),
            ));
        }
        if let Some(bad) = forms
            .domains
            .iter()
            .chain(&forms.upn_suffixes)
            .find(|v| v.is_empty() || v.contains(['\\', '@']))
        {
            return Err((
                "user_login_forms".into(),
                format!("{bad:?} is not a domain name"),
            ));
        }
        if self.connect_timeout_ms == 0 {
            return Err(("connect_timeout_ms".into(), "must be positive".into()));
        }
        if self.operation_timeout_ms == 0 {
            return Err(("operation_timeout_ms".into(), "must be positive".into()));
        }
        if self.pool_size == 0 {
            return Err(("pool_size".into(), "must be positive".into()));
        }
        Ok(())
    }

    fn validate_uri(&self, uri: &str) -> Result<(), (String, String)> {
        let rest = uri
            .strip_prefix("ldaps://")
            .or_else(|| uri.strip_prefix("ldap://"))
            .ok_or_else(|| {
                (
                    "uri".to_string(),
                    format!("{uri}: must start with ldap:// or ldaps://"),
                )
            })?;
        let host = rest.strip_suffix('/').unwrap_or(rest);
        if host.is_empty() || host.contains(['/', '?', '#', '@']) {
            return Err((
                "uri".into(),
                format!(
                    "{uri}: may only hold the scheme, host and port (e.g. ldap://ldap.example.org:389)"
                ),
            ));
        }
        if self.start_tls && uri.starts_with("ldaps://") {
            return Err((
                "start_tls".into(),
                "StartTLS is for ldap:// URIs; ldaps:// is TLS already".into(),
            ));
        }
        let tls = uri.starts_with("ldaps://") || self.start_tls;
        let first_tls = self
            .uri
            .all()
            .first()
            .is_some_and(|u| u.starts_with("ldaps://"));
        if tls != (first_tls || self.start_tls) {
            return Err((
                "uri".into(),
                "mixes ldap:// and ldaps://: every server must be reached the same way".into(),
            ));
        }
        Ok(())
    }

    fn validate_discovery(&self) -> Result<(), (String, String)> {
        let Some(domain) = &self.srv_domain else {
            if !self.srv_nameservers.is_empty() {
                return Err((
                    "srv_nameservers".into(),
                    "is for srv_domain, which is not set".into(),
                ));
            }
            return Ok(());
        };
        let name = domain.trim_end_matches('.');
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if name.is_empty() || name.len() > 240 || !name.split('.').all(label_ok) {
            return Err((
                "srv_domain".into(),
                format!("{domain:?} is not a DNS domain name (e.g. ad.example.com)"),
            ));
        }
        // Discovered servers are reached with TLS: LDAPS, or StartTLS.
        if !self.start_tls && self.uri.all().iter().any(|u| u.starts_with("ldap://")) {
            return Err((
                "uri".into(),
                "mixes ldap:// with the ldaps:// servers srv_domain finds: set start_tls to reach them all with StartTLS"
                    .into(),
            ));
        }
        Ok(())
    }

    fn uses_tls(&self) -> bool {
        self.start_tls
            || self.srv_domain.is_some()
            || self.uri.all().iter().any(|u| u.starts_with("ldaps://"))
    }
}

/// An attribute description as RFC 4512 spells it: a descriptor or an OID.
fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => chars.all(|c| c.is_ascii_alphanumeric() || c == '-'),
        Some(c) if c.is_ascii_digit() => name.chars().all(|c| c.is_ascii_digit() || c == '.'),
        _ => false,
    }
}

/// The values of `attribute` in `entry` (attribute names ignore case).
fn values<'a>(entry: &'a SearchEntry, attribute: &'a str) -> impl Iterator<Item = String> + 'a {
    entry
        .attrs
        .iter()
        .filter(move |(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, values)| values.iter().cloned())
}

/// AD's account flags, and the flag of a disabled account (MS-ADTS 2.2.16).
const USER_ACCOUNT_CONTROL: &str = "userAccountControl";
const ACCOUNT_DISABLE: u32 = 0x2;

/// How an entry is looked for.
#[derive(Debug, Clone, Copy)]
enum EntryQuery<'a> {
    /// `(attribute=value)` under `user_base_dn`.
    Attribute(&'a str, &'a str),
    /// The entry of that DN.
    Dn(&'a str),
}

/// What the backend reads of a user's entry.
#[derive(Debug)]
struct Entry {
    dn: String,
    emails: Vec<String>,
    /// Its `user_login_attribute` (sAMAccountName, uid).
    name: Option<String>,
    /// AD's "account disabled" flag is set.
    disabled: bool,
}

/// What went wrong, before it becomes a [`BackendError`].
#[derive(Debug)]
enum Failure {
    /// The user's credentials or entry do not allow a login.
    Refused(&'static str),
    /// The directory cannot answer; `stale` tells that the connection was
    /// reused from the pool, so a fresh one may succeed.
    Down { message: String, stale: bool },
    /// The directory answered, but not as configured (a bad service
    /// password, a missing base DN): an operator's problem, not the user's.
    Misconfigured(String),
    /// A backend asked for the entry's account by e-mail failed.
    Accounts(BackendError),
}

impl Failure {
    fn into_backend_error(self) -> BackendError {
        match self {
            Failure::Refused(_) => BackendError::InvalidCredentials,
            Failure::Down { message, .. } => {
                BackendError::Unavailable(format!("LDAP directory: {message}"))
            }
            Failure::Misconfigured(m) => BackendError::Unavailable(format!("LDAP backend: {m}")),
            Failure::Accounts(e) => e,
        }
    }
}

/// Whether an error means "this connection is no good" rather than an answer.
fn connection_failure(e: &LdapError, stale: bool) -> Option<Failure> {
    match e {
        LdapError::LdapResult { result } => match result.rc {
            rc::BUSY | rc::UNAVAILABLE => Some(Failure::Down {
                message: format!("result code {} ({})", result.rc, result.text),
                stale: false,
            }),
            _ => None,
        },
        other => Some(Failure::Down {
            message: other.to_string(),
            stale,
        }),
    }
}

/// An answer an operation did not expect: a busy or unavailable directory is
/// down; anything else is a configuration problem.
fn unexpected_answer(operation: &str, status: &LdapResult) -> Failure {
    let message = format!(
        "{operation} answered result code {} ({})",
        status.rc, status.text
    );
    if matches!(status.rc, rc::BUSY | rc::UNAVAILABLE) {
        Failure::Down {
            message,
            stale: false,
        }
    } else {
        Failure::Misconfigured(message)
    }
}

/// The result code of an answer, if it is one.
fn result_code(e: &LdapError) -> Option<u32> {
    match e {
        LdapError::LdapResult { result } => Some(result.rc),
        _ => None,
    }
}

/// One lane of pooled connections.
struct Lane {
    name: &'static str,
    /// Whether a new connection of this lane binds as the service account.
    binds_service: bool,
    idle: Mutex<Vec<Ldap>>,
    permits: Semaphore,
}

struct Lease<'a> {
    ldap: Ldap,
    /// Whether the connection came from the pool rather than a new connect.
    reused: bool,
    _permit: SemaphorePermit<'a>,
}

impl Lane {
    fn new(name: &'static str, binds_service: bool, size: usize) -> Self {
        Lane {
            name,
            binds_service,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
        }
    }

    fn take_idle(&self) -> Option<Ldap> {
        let mut idle = self.idle.lock();
        while let Some(mut ldap) = idle.pop() {
            if !ldap.is_closed() {
                return Some(ldap);
            }
        }
        None
    }

    fn put_back(&self, ldap: Ldap) {
        let mut idle = self.idle.lock();
        idle.push(ldap);
    }

    fn clear(&self) {
        let mut idle = self.idle.lock();
        idle.clear();
    }
}

/// A password backend over an LDAP directory.
pub struct LdapBackend {
    config: LdapConfig,
    settings: LdapConnSettings,
    /// The configured directory servers, in the order they are tried.
    servers: Vec<Arc<Server>>,
    /// The servers `srv_domain` names, tried after those.
    discovery: Option<Discovery>,
    directory: Arc<LocalDirectory>,
    /// Backends asked for the entry's e-mail after the users file
    /// (`sql` backends with `match_external_identities`).
    accounts: Vec<Arc<dyn Backend>>,
    /// `group_policies`, their ACLs resolved.
    group_acls: GroupPolicies,
    default_acl: Vec<String>,
    search_lane: Lane,
    bind_lane: Lane,
    observer: Option<Arc<dyn ServerObserver>>,
}

impl std::fmt::Debug for LdapBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapBackend")
            .field("uri", &self.config.uri.all())
            .field("mode", &self.config.mode())
            .finish()
    }
}

/// Why the backend could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum LdapSetupError {
    #[error("{0}: {1}")]
    Invalid(String, String),
    #[error("ca_file {path}: {message}")]
    CaFile { path: String, message: String },
}

impl LdapBackend {
    /// Build the backend. Nothing is connected yet: the first login connects,
    /// so a directory that is down at start-up does not stop Sesame.
    pub fn new(
        config: LdapConfig,
        directory: Arc<LocalDirectory>,
        default_acl: Vec<String>,
    ) -> Result<Self, LdapSetupError> {
        config
            .validate()
            .map_err(|(key, message)| LdapSetupError::Invalid(key, message))?;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(Duration::from_millis(config.connect_timeout_ms))
            .set_starttls(config.start_tls);
        if config.uses_tls() {
            settings = settings.set_config(tls_config(
                config.ca_file.as_deref(),
                config.tls_server_name.as_deref(),
            )?);
        }
        let size = config.pool_size;
        let servers = config
            .uri
            .all()
            .iter()
            .map(|uri| Arc::new(Server::new(uri.clone(), uri.clone(), None)))
            .collect();
        let discovery = match &config.srv_domain {
            Some(domain) => Some(Discovery {
                srv: SrvDiscovery::new(
                    domain,
                    &config.srv_nameservers,
                    Duration::from_millis(config.operation_timeout_ms),
                )
                .map_err(|e| LdapSetupError::Invalid("srv_domain".into(), e))?,
                known: parking_lot::Mutex::new((None, Vec::new())),
            }),
            None => None,
        };
        Ok(LdapBackend {
            config,
            settings,
            servers,
            discovery,
            directory,
            accounts: Vec::new(),
            group_acls: GroupPolicies::default(),
            default_acl,
            search_lane: Lane::new("search", true, size),
            bind_lane: Lane::new("bind", false, size),
            observer: None,
        })
    }

    /// Tell `observer` of each connection attempt from now on.
    pub fn with_observer(mut self, observer: Arc<dyn ServerObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn op_timeout(&self) -> Duration {
        Duration::from_millis(self.config.operation_timeout_ms)
    }

    /// A connection to the first server that answers: those not in
    /// back-off first, in order (configured, then discovered), then the
    /// others (a directory whose servers are all marked down is still
    /// tried). A server that cannot be reached is put in back-off for
    /// `failover_backoff_ms`.
    async fn connect(&self) -> Result<Ldap, Failure> {
        let mut errors = Vec::new();
        let mut servers = self.servers.clone();
        match self.discovered().await {
            Ok(found) => servers.extend(
                found
                    .into_iter()
                    .filter(|d| self.servers.iter().all(|s| s.uri != d.uri)),
            ),
            Err(why) => errors.push(why),
        }
        let now = Instant::now();
        let (up, resting): (Vec<&Arc<Server>>, Vec<&Arc<Server>>) =
            servers.iter().partition(|s| !s.resting(now));
        for server in up.into_iter().chain(resting) {
            match self.connect_to(server).await {
                Ok(ldap) => {
                    if server.down_until.lock().take().is_some() {
                        tracing::info!(server = %server.uri, "LDAP server reachable again");
                    }
                    return Ok(ldap);
                }
                Err(why) => {
                    let until =
                        Instant::now() + Duration::from_millis(self.config.failover_backoff_ms);
                    if server.down_until.lock().replace(until).is_none() && servers.len() > 1 {
                        tracing::warn!(server = %server.uri, error = %why, "LDAP server unreachable: the next one is tried");
                    }
                    errors.push(why);
                }
            }
        }
        Err(Failure::Down {
            message: errors.join("; "),
            stale: false,
        })
    }

    /// The servers `srv_domain` names now (none without it), each kept
    /// with its back-off while the answers name it.
    async fn discovered(&self) -> Result<Vec<Arc<Server>>, String> {
        let Some(discovery) = &self.discovery else {
            return Ok(Vec::new());
        };
        let targets = discovery.srv.targets().await?;
        let mut known = discovery.known.lock();
        if known.0.as_ref().is_some_and(|t| Arc::ptr_eq(t, &targets)) {
            return Ok(known.1.clone());
        }
        let mut servers = Vec::with_capacity(targets.len());
        for target in targets.iter() {
            let (scheme, port) = if self.config.start_tls {
                ("ldap", target.port)
            } else {
                ("ldaps", 636)
            };
            let uri = format!("{scheme}://{}:{port}", target.host);
            if let Some(same) = known.1.iter().find(|s| s.uri == uri) {
                servers.push(same.clone());
                continue;
            }
            let Some(address) = target.address else {
                servers.push(Arc::new(Server::new(uri.clone(), uri, None)));
                continue;
            };
            let dial = match address {
                std::net::IpAddr::V4(ip) => format!("{scheme}://{ip}:{port}"),
                std::net::IpAddr::V6(ip) => format!("{scheme}://[{ip}]:{port}"),
            };
            // Dialled by address: its certificate is checked for its name
            // (or for tls_server_name when set).
            let name = self
                .config
                .tls_server_name
                .as_deref()
                .unwrap_or(&target.host);
            match tls_config(self.config.ca_file.as_deref(), Some(name)) {
                Ok(tls) => {
                    let settings = self.settings.clone().set_config(tls);
                    servers.push(Arc::new(Server::new(uri, dial, Some(settings))));
                }
                Err(e) => {
                    tracing::warn!(server = %uri, error = %e, "a discovered LDAP server cannot be used: left out");
                }
            }
        }
        *known = (Some(targets), servers.clone());
        Ok(servers)
    }

    /// Open a connection to `server` and start its driver task; the
    /// observer is told whether it was made.
    async fn connect_to(&self, server: &Server) -> Result<Ldap, String> {
        let result = self.try_connect_to(server).await;
        if let Some(observer) = &self.observer {
            observer.connection(host_port(&server.uri), result.is_ok());
        }
        result
    }

    async fn try_connect_to(&self, server: &Server) -> Result<Ldap, String> {
        let uri = &server.uri;
        // The connect timeout covers TCP; this one also covers TLS and StartTLS.
        let limit = Duration::from_millis(self.config.connect_timeout_ms) + self.op_timeout();
        let settings = server.settings.as_ref().unwrap_or(&self.settings).clone();
        let connecting = LdapConnAsync::with_settings(settings, &server.dial);
        let (conn, ldap) = match tokio::time::timeout(limit, connecting).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                let why = crate::tls::explain_tls_failure(&e, "ldap.tls_server_name")
                    .unwrap_or_else(|| crate::error_chain(&e));
                return Err(format!("cannot connect to {uri}: {why}"));
            }
            Err(_) => return Err(format!("connecting to {uri} timed out")),
        };
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        Ok(ldap)
    }

    /// The state of the configured server `uri`, as `/readyz` reports it:
    /// a connection (TLS included) and, with a service account, its bind.
    pub async fn check_server(&self, uri: &str) -> Result<(), String> {
        let server = self
            .servers
            .iter()
            .find(|s| s.uri == uri)
            .cloned()
            .unwrap_or_else(|| Arc::new(Server::new(uri.to_owned(), uri.to_owned(), None)));
        self.check(&server).await
    }

    /// The state of the servers `srv_domain` names, as `/readyz` reports
    /// it: the lookup, then each server as [`Self::check_server`] does;
    /// an error names the servers that cannot be used.
    pub async fn check_discovered(&self) -> Result<Vec<String>, String> {
        let servers = self.discovered().await?;
        let mut usable = Vec::new();
        let mut errors = Vec::new();
        for server in &servers {
            match self.check(server).await {
                Ok(()) => usable.push(server.uri.clone()),
                Err(why) => errors.push(why),
            }
        }
        if errors.is_empty() {
            Ok(usable)
        } else {
            Err(format!(
                "{} of {} discovered servers usable: {}",
                usable.len(),
                servers.len(),
                errors.join("; ")
            ))
        }
    }

    /// The name `srv_domain` looks up, when set.
    pub fn discovery_name(&self) -> Option<&str> {
        self.discovery.as_ref().map(|d| d.srv.name())
    }

    async fn check(&self, server: &Server) -> Result<(), String> {
        let mut ldap = self.connect_to(server).await?;
        let bound = match (&self.config.bind_dn, &self.config.bind_password) {
            (Some(dn), Some(pw)) => match self.service_bind(&mut ldap, dn, pw).await {
                Ok(()) => Ok(()),
                Err(Failure::Down { message, .. } | Failure::Misconfigured(message)) => {
                    Err(message)
                }
                Err(_) => Err("the service account cannot bind".to_owned()),
            },
            _ => Ok(()),
        };
        let _ = ldap.unbind().await;
        bound
    }

    /// The URIs of the directory servers, in order.
    pub fn server_uris(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.uri.clone()).collect()
    }

    /// A connection of `lane`; a new one of the search lane is bound as the
    /// service account first.
    async fn lease<'a>(&self, lane: &'a Lane, fresh: bool) -> Result<Lease<'a>, Failure> {
        let permit = tokio::time::timeout(self.op_timeout(), lane.permits.acquire())
            .await
            .map_err(|_| Failure::Down {
                message: format!(
                    "all {} connections of the {} lane are busy",
                    self.config.pool_size, lane.name
                ),
                stale: false,
            })?
            .map_err(|_| Failure::Misconfigured("connection pool closed".into()))?;
        if !fresh && let Some(ldap) = lane.take_idle() {
            return Ok(Lease {
                ldap,
                reused: true,
                _permit: permit,
            });
        }
        let mut ldap = self.connect().await?;
        if lane.binds_service
            && let (Some(dn), Some(pw)) = (&self.config.bind_dn, &self.config.bind_password)
        {
            self.service_bind(&mut ldap, dn, pw).await?;
        }
        Ok(Lease {
            ldap,
            reused: false,
            _permit: permit,
        })
    }

    async fn service_bind(&self, ldap: &mut Ldap, dn: &str, pw: &str) -> Result<(), Failure> {
        let outcome = ldap
            .with_timeout(self.op_timeout())
            .simple_bind(dn, pw)
            .await
            .and_then(|r| r.success());
        match outcome {
            Ok(_) => Ok(()),
            Err(e) => Err(connection_failure(&e, false).unwrap_or_else(|| {
                Failure::Misconfigured(format!("the service account {dn:?} cannot bind: {e}"))
            })),
        }
    }

    /// Search the user's entry whose `attribute` is `login`: its DN and
    /// its e-mail addresses.
    async fn find_entry(&self, query: EntryQuery<'_>) -> Result<Option<Entry>, Failure> {
        match self.try_find_entry(query, false).await {
            Err(Failure::Down { stale: true, .. }) => {
                // The pooled connection died (directory restarted): one more
                // try on a new connection.
                self.search_lane.clear();
                self.try_find_entry(query, true).await
            }
            other => other,
        }
    }

    /// The entry `query` names, if there is one, read as the service
    /// account (or anonymously).
    async fn try_find_entry(
        &self,
        query: EntryQuery<'_>,
        fresh: bool,
    ) -> Result<Option<Entry>, Failure> {
        let mut lease = self.lease(&self.search_lane, fresh).await?;
        let (base, scope, filter) = match query {
            EntryQuery::Attribute(attribute, value) => (
                self.config.user_base_dn.as_str(),
                Scope::Subtree,
                format!("({attribute}={})", ldap_escape(value)),
            ),
            EntryQuery::Dn(dn) => (dn, Scope::Base, "(objectClass=*)".to_owned()),
        };
        let attrs = [
            self.config.user_email_attribute.as_str(),
            self.config.user_login_attribute.as_str(),
            USER_ACCOUNT_CONTROL,
        ];
        let outcome = lease
            .ldap
            .with_search_options(SearchOptions::new().sizelimit(2))
            .with_timeout(self.op_timeout())
            .search(base, scope, &filter, attrs)
            .await;
        let result = match outcome {
            Ok(result) => result,
            Err(e) => {
                return Err(connection_failure(&e, lease.reused)
                    .unwrap_or_else(|| Failure::Misconfigured(e.to_string())));
            }
        };
        let (entries, status) = (result.0, result.1);
        // The connection answered: it goes back to the pool whatever the answer.
        self.search_lane.put_back(lease.ldap.clone());
        let entries: Vec<SearchEntry> = entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(SearchEntry::construct)
            .collect();
        match (status.rc, query) {
            (0, _) => {}
            (rc::SIZE_LIMIT_EXCEEDED, _) => {
                return Err(Failure::Refused("several entries match the login"));
            }
            // A DN kept from an earlier login whose entry is gone.
            (rc::NO_SUCH_OBJECT | rc::INVALID_DN_SYNTAX, EntryQuery::Dn(_)) => return Ok(None),
            (rc::NO_SUCH_OBJECT, _) => {
                return Err(Failure::Misconfigured(format!(
                    "user_base_dn {:?} does not exist",
                    self.config.user_base_dn
                )));
            }
            (rc::INSUFFICIENT_ACCESS_RIGHTS, _) => {
                return Err(Failure::Misconfigured(
                    "the directory refuses the search (insufficient access rights)".into(),
                ));
            }
            _ => return Err(unexpected_answer("search", &status)),
        }
        match entries.as_slice() {
            [] => Ok(None),
            [entry] => Ok(Some(Entry {
                dn: entry.dn.clone(),
                emails: self.emails_of(entry),
                name: values(entry, &self.config.user_login_attribute).next(),
                disabled: values(entry, USER_ACCOUNT_CONTROL)
                    .next()
                    .and_then(|flags| flags.trim().parse::<u32>().ok())
                    .is_some_and(|flags| flags & ACCOUNT_DISABLE != 0),
            })),
            _ => Err(Failure::Refused("several entries match the login")),
        }
    }

    fn emails_of(&self, entry: &SearchEntry) -> Vec<String> {
        values(entry, &self.config.user_email_attribute).collect()
    }

    /// Bind as `dn`; in no-search mode, also read the entry's e-mail as the
    /// user (a search would have read it already otherwise).
    async fn bind_user(
        &self,
        dn: &str,
        password: &Password,
        read_emails: bool,
    ) -> Result<Vec<String>, Failure> {
        match self.try_bind_user(dn, password, read_emails, false).await {
            Err(Failure::Down { stale: true, .. }) => {
                self.bind_lane.clear();
                self.try_bind_user(dn, password, read_emails, true).await
            }
            other => other,
        }
    }

    async fn try_bind_user(
        &self,
        dn: &str,
        password: &Password,
        read_emails: bool,
        fresh: bool,
    ) -> Result<Vec<String>, Failure> {
        let mut lease = self.lease(&self.bind_lane, fresh).await?;
        let outcome = lease
            .ldap
            .with_timeout(self.op_timeout())
            .simple_bind(dn, password.expose())
            .await;
        let status = match outcome {
            Ok(status) => status,
            Err(e) => {
                return Err(connection_failure(&e, lease.reused)
                    .unwrap_or_else(|| Failure::Misconfigured(e.to_string())));
            }
        };
        match status.rc {
            0 => {}
            rc::INVALID_CREDENTIALS
            | rc::INVALID_DN_SYNTAX
            | rc::NO_SUCH_OBJECT
            | rc::INAPPROPRIATE_AUTHENTICATION
            | rc::UNWILLING_TO_PERFORM => {
                self.bind_lane.put_back(lease.ldap.clone());
                return Err(Failure::Refused("the directory refused the bind"));
            }
            _ => return Err(unexpected_answer("bind", &status)),
        }
        if !read_emails {
            self.bind_lane.put_back(lease.ldap.clone());
            return Ok(Vec::new());
        }
        let attrs = [self.config.user_email_attribute.as_str()];
        let outcome = lease
            .ldap
            .with_timeout(self.op_timeout())
            .search(dn, Scope::Base, "(objectClass=*)", attrs)
            .await
            .and_then(|r| r.success());
        match outcome {
            Ok((entries, _)) => {
                self.bind_lane.put_back(lease.ldap.clone());
                let emails = entries
                    .into_iter()
                    .map(SearchEntry::construct)
                    .flat_map(|entry| self.emails_of(&entry))
                    .collect();
                Ok(emails)
            }
            Err(e) => match connection_failure(&e, false) {
                Some(failure) => Err(failure),
                None => {
                    // The user may bind but not read their own entry.
                    tracing::warn!(
                        code = result_code(&e),
                        "LDAP: a bound user cannot read their own entry's e-mail"
                    );
                    Ok(Vec::new())
                }
            },
        }
    }

    /// Add the ACLs of `group_policies` (resolved) to members' tokens.
    pub fn with_group_policies(mut self, group_acls: GroupPolicies) -> Self {
        self.group_acls = group_acls;
        self
    }

    /// The DNs of the groups of the entry `dn`, as `group_membership` says
    /// to find them, read as the service account.
    async fn groups(&self, dn: &str) -> Result<Vec<String>, Failure> {
        match self.try_groups(dn, false).await {
            Err(Failure::Down { stale: true, .. }) => {
                self.search_lane.clear();
                self.try_groups(dn, true).await
            }
            other => other,
        }
    }

    async fn try_groups(&self, dn: &str, fresh: bool) -> Result<Vec<String>, Failure> {
        let mut lease = self.lease(&self.search_lane, fresh).await?;
        let member = ldap_escape(dn);
        let base = self.config.group_base_dn.as_deref().unwrap_or_default();
        let (base, scope, filter, attrs) = match self.config.group_membership {
            GroupMembership::MemberOf => {
                (dn, Scope::Base, "(objectClass=*)".to_owned(), "memberOf")
            }
            GroupMembership::Nested => (
                base,
                Scope::Subtree,
                format!("(member:{IN_CHAIN}:={member})"),
                "1.1",
            ),
            GroupMembership::Search => (
                base,
                Scope::Subtree,
                format!(
                    "(|(&(objectClass=groupOfNames)(member={member}))\
                     (&(objectClass=groupOfUniqueNames)(uniqueMember={member})))"
                ),
                "1.1",
            ),
        };
        let outcome = lease
            .ldap
            .with_timeout(self.op_timeout())
            .search(base, scope, &filter, [attrs])
            .await;
        let (entries, status) = match outcome {
            Ok(result) => (result.0, result.1),
            Err(e) => {
                return Err(connection_failure(&e, lease.reused)
                    .unwrap_or_else(|| Failure::Misconfigured(e.to_string())));
            }
        };
        self.search_lane.put_back(lease.ldap.clone());
        match status.rc {
            0 => {}
            rc::NO_SUCH_OBJECT => {
                return Err(Failure::Misconfigured(format!(
                    "group_base_dn {base:?} does not exist"
                )));
            }
            rc::INSUFFICIENT_ACCESS_RIGHTS => {
                return Err(Failure::Misconfigured(
                    "the directory refuses the group search (insufficient access rights)".into(),
                ));
            }
            _ => return Err(unexpected_answer("group search", &status)),
        }
        let entries = entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(SearchEntry::construct);
        Ok(match self.config.group_membership {
            GroupMembership::MemberOf => entries
                .flat_map(|entry| {
                    entry
                        .attrs
                        .into_iter()
                        .filter(|(name, _)| name.eq_ignore_ascii_case("memberOf"))
                        .flat_map(|(_, values)| values)
                })
                .collect(),
            GroupMembership::Nested | GroupMembership::Search => {
                entries.map(|entry| entry.dn).collect()
            }
        })
    }

    /// Ask `accounts`, in order, for the entry's e-mails when no local user
    /// has them (the users file is asked first).
    pub fn with_accounts(mut self, accounts: Vec<Arc<dyn Backend>>) -> Self {
        self.accounts = accounts;
        self
    }

    /// The account of the entry's `emails` in the backends of `accounts`:
    /// the first that knows one of them answers.
    async fn account_elsewhere(&self, emails: &[String]) -> Result<Option<Lookup>, Failure> {
        for backend in &self.accounts {
            for email in emails {
                match backend
                    .find(AccountKey::Email(email))
                    .await
                    .map_err(Failure::Accounts)?
                {
                    Lookup::NotAsked | Lookup::Nobody => continue,
                    found => return Ok(Some(found)),
                }
            }
        }
        Ok(None)
    }

    /// The whole login, before its errors become a [`BackendError`]: the
    /// entry's account, with the ACLs of its groups' policies.
    async fn login(&self, login: &str, password: &Password) -> Result<VerifiedIdentity, Failure> {
        let (dn, emails) = self.login_entry(login, password).await?;
        self.account_of(
            self.config.user_login_forms.account_name(login),
            &dn,
            &emails,
        )
        .await
    }

    /// The entry `login` names, bound with `password`: its DN and e-mails.
    async fn login_entry(
        &self,
        login: &str,
        password: &Password,
    ) -> Result<(String, Vec<String>), Failure> {
        if login.is_empty() || login.len() > MAX_LOGIN_LEN {
            return Err(Failure::Refused("empty or over-long login"));
        }
        // An empty password would be an unauthenticated simple bind, which
        // directories answer with success (RFC 4513, 5.1.2).
        if password.is_empty() {
            return Err(Failure::Refused("empty password"));
        }
        let forms = &self.config.user_login_forms;
        match (self.config.mode(), forms.read(login)) {
            (_, Typed::OtherDomain) => {
                Err(Failure::Refused("a domain this directory does not serve"))
            }
            (Mode::NoSearch, Typed::Upn(_)) => Err(Failure::Refused("a UPN needs search mode")),
            (Mode::NoSearch, Typed::Name(name)) => {
                let dn = format!(
                    "{}={},{}",
                    self.config.user_login_attribute,
                    dn_escape(name),
                    self.config.user_base_dn
                );
                let emails = self.bind_user(&dn, password, true).await?;
                Ok((dn, emails))
            }
            (Mode::SearchAsService | Mode::SearchAnonymously, typed) => {
                let query = match typed {
                    Typed::Upn(upn) => EntryQuery::Attribute(&forms.upn_attribute, upn),
                    Typed::Name(name) => {
                        EntryQuery::Attribute(&self.config.user_login_attribute, name)
                    }
                    Typed::OtherDomain => {
                        return Err(Failure::Refused("a domain this directory does not serve"));
                    }
                };
                let entry = self
                    .find_entry(query)
                    .await?
                    .ok_or(Failure::Refused("no entry matches the login"))?;
                self.bind_user(&entry.dn, password, false).await?;
                Ok((entry.dn, entry.emails))
            }
        }
    }

    /// The account of the entry `dn` (named `name`, with `emails`), as a
    /// login gets it: its local account found by e-mail (or the entry
    /// itself when `local_user_required` is off), with the ACLs of its
    /// groups' policies.
    async fn account_of(
        &self,
        name: &str,
        dn: &str,
        emails: &[String],
    ) -> Result<VerifiedIdentity, Failure> {
        let mut identity = self.account_of_entry(name, dn, emails).await?;
        if !self.group_acls.is_empty() {
            let groups = self.groups(dn).await?;
            let more = self.group_acls.acl_for(groups.iter().map(String::as_str));
            crate::merge_acl(&mut identity.acl, more);
        }
        Ok(identity)
    }

    async fn account_of_entry(
        &self,
        name: &str,
        dn: &str,
        emails: &[String],
    ) -> Result<VerifiedIdentity, Failure> {
        if !self.config.local_user_required {
            return Ok(self.directory_identity(name, dn, emails));
        }
        let mut identity = match self.directory.match_user(UserKey::Emails(emails)) {
            UserMatch::One(account) => identity_of(AccountKind::User, &account, &self.default_acl),
            UserMatch::None => match self.account_elsewhere(emails).await? {
                Some(Lookup::One(mut identity)) => {
                    crate::merge_acl(&mut identity.acl, self.default_acl.iter().cloned());
                    identity
                }
                Some(Lookup::Refused(why)) => return Err(Failure::Refused(why)),
                _ => return Err(Failure::Refused("no local user has the entry's e-mail")),
            },
            UserMatch::Disabled => return Err(Failure::Refused("the local user may not log in")),
            UserMatch::Several => {
                return Err(Failure::Refused(
                    "several local users have the entry's e-mail",
                ));
            }
        };
        identity
            .metadata
            .insert("ldap_dn".into(), Value::String(dn.to_owned()));
        Ok(identity)
    }

    /// The account of the entry `key` names, without its password (a
    /// Kerberos principal looked up in the directory, a refresh token's
    /// account checked again).
    async fn lookup(&self, key: AccountKey<'_>) -> Result<Lookup, Failure> {
        if self.config.mode() == Mode::NoSearch {
            // Nothing can be read without the user's own bind.
            return Ok(Lookup::NotAsked);
        }
        let (query, value, longest) = match key {
            AccountKey::Login(name) => (
                EntryQuery::Attribute(&self.config.user_login_attribute, name),
                name,
                MAX_LOGIN_LEN,
            ),
            AccountKey::Upn(upn) => (
                EntryQuery::Attribute(&self.config.user_login_forms.upn_attribute, upn),
                upn,
                MAX_LOGIN_LEN,
            ),
            AccountKey::Dn(dn) => (EntryQuery::Dn(dn), dn, MAX_DN_LEN),
            AccountKey::Email(_) => return Ok(Lookup::NotAsked),
        };
        if value.is_empty() || value.len() > longest {
            return Ok(Lookup::Nobody);
        }
        let Some(entry) = self.find_entry(query).await? else {
            return Ok(Lookup::Nobody);
        };
        if entry.disabled {
            return Ok(Lookup::Refused("the directory account is disabled"));
        }
        let name = match (&entry.name, key) {
            (Some(name), _) => name.clone(),
            (None, AccountKey::Login(name)) => name.to_owned(),
            (None, _) => entry.dn.clone(),
        };
        match self.account_of(&name, &entry.dn, &entry.emails).await {
            Ok(identity) => Ok(Lookup::One(identity)),
            Err(Failure::Refused(why)) => Ok(Lookup::Refused(why)),
            Err(other) => Err(other),
        }
    }

    /// The identity of a directory user without a local account.
    fn directory_identity(&self, login: &str, dn: &str, emails: &[String]) -> VerifiedIdentity {
        let mut metadata = Map::new();
        metadata.insert("login".into(), Value::String(login.to_owned()));
        metadata.insert("ldap_dn".into(), Value::String(dn.to_owned()));
        metadata.insert("purpose".into(), Value::String("user".into()));
        if let Some(tenant) = self.config.tenant_uuid {
            metadata.insert("tenant_uuid".into(), Value::String(tenant.to_string()));
        }
        if let Some(email) = emails.first() {
            metadata.insert("email".into(), Value::String(email.clone()));
        }
        VerifiedIdentity {
            auth_id: dn.to_owned(),
            user_uuid: None,
            login: login.to_owned(),
            acl: self.default_acl.clone(),
            metadata,
        }
    }
}

#[async_trait]
impl Backend for LdapBackend {
    fn name(&self) -> &str {
        LDAP_USER
    }

    fn account_name<'a>(&self, login: &'a str) -> &'a str {
        self.config.user_login_forms.account_name(login)
    }

    async fn find(&self, key: AccountKey<'_>) -> Result<Lookup, BackendError> {
        self.lookup(key).await.map_err(|failure| {
            log_failure(&failure, "LDAP lookup");
            failure.into_backend_error()
        })
    }

    async fn authenticate(
        &self,
        login: &str,
        password: &Password,
    ) -> Result<VerifiedIdentity, BackendError> {
        self.login(login, password).await.map_err(|failure| {
            log_failure(&failure, "LDAP login");
            failure.into_backend_error()
        })
    }
}

/// One log line for a failed login or lookup (`what`).
fn log_failure(failure: &Failure, what: &str) {
    match failure {
        Failure::Refused(why) => tracing::info!(backend = LDAP_USER, why, "{what} refused"),
        Failure::Down { message, .. } => {
            tracing::warn!(backend = LDAP_USER, error = %message, "LDAP directory unavailable")
        }
        Failure::Misconfigured(message) => {
            tracing::error!(backend = LDAP_USER, error = %message, "LDAP backend misconfigured")
        }
        Failure::Accounts(e) => {
            tracing::warn!(backend = LDAP_USER, error = %e, "the entry's account could not be looked up")
        }
    }
}

/// A rustls client configuration trusting the CAs of `ca_file` (the
/// system's without one), checking certificates for `server_name` when
/// given.
fn tls_config(
    ca_file: Option<&std::path::Path>,
    server_name: Option<&str>,
) -> Result<Arc<rustls::ClientConfig>, LdapSetupError> {
    use crate::tls::Roots;
    let roots = ca_file.map_or(Roots::System, Roots::File);
    crate::tls::verified_client_config(roots, server_name, "ldap.tls_server_name").map_err(
        |message| match ca_file {
            Some(path) => LdapSetupError::CaFile {
                path: path.display().to_string(),
                message,
            },
            None => LdapSetupError::Invalid("tls_server_name".into(), message),
        },
    )
}

/// One directory server and its back-off.
struct Server {
    /// What is logged and reported (`ldaps://dc1.ad.example.com:636`).
    uri: String,
    /// What is dialled: the URI, or a discovered server's address.
    dial: String,
    /// Its own TLS settings, when it is dialled by address.
    settings: Option<LdapConnSettings>,
    down_until: parking_lot::Mutex<Option<Instant>>,
}

/// `srv_domain`'s lookup, and the servers of its last answer.
struct Discovery {
    srv: SrvDiscovery,
    known: parking_lot::Mutex<Known>,
}

/// An answer of the lookup (the very `Arc` it returned) and its servers.
type Known = (Option<Arc<Vec<crate::srv::Target>>>, Vec<Arc<Server>>);

impl Server {
    fn new(uri: String, dial: String, settings: Option<LdapConnSettings>) -> Self {
        Server {
            uri,
            dial,
            settings,
            down_until: parking_lot::Mutex::new(None),
        }
    }

    /// Whether the server failed lately and is tried after the others.
    fn resting(&self, now: Instant) -> bool {
        self.down_until.lock().is_some_and(|until| until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LdapConfig {
        LdapConfig {
            uri: "ldap://127.0.0.1:1".into(),
            user_base_dn: "ou=people,dc=example,dc=org".into(),
            user_login_attribute: "uid".into(),
            user_email_attribute: "mail".into(),
            bind_dn: Some("cn=sesame,dc=example,dc=org".into()),
            bind_password: Some("bindpass".into()),
            bind_anonymous: false,
            start_tls: false,
            ca_file: None,
            tls_server_name: None,
            srv_domain: None,
            srv_nameservers: Vec::new(),
            failover_backoff_ms: 30_000,
            user_login_forms: LoginForms::default(),
            group_policies: Default::default(),
            group_membership: GroupMembership::default(),
            group_base_dn: None,
            connect_timeout_ms: 500,
            operation_timeout_ms: 500,
            pool_size: 2,
            local_user_required: true,
            tenant_uuid: None,
        }
    }

    #[test]
    fn several_servers_and_a_certificate_name() {
        let yaml = "uri: [ldaps://dc1.ad.example:636, ldaps://dc2.ad.example]\nuser_base_dn: dc=ad\nuser_login_attribute: sAMAccountName\ntls_server_name: ad.example\n";
        let parsed: LdapConfig = yaml_serde::from_str(yaml).unwrap();
        assert_eq!(parsed.uri.all().len(), 2);
        assert!(parsed.validate().is_ok(), "{:?}", parsed.validate());
        assert_eq!(
            host_port("ldaps://dc1.ad.example:636"),
            "dc1.ad.example:636"
        );
        let refused = |config: LdapConfig, key: &str| {
            let (k, message) = config.validate().unwrap_err();
            assert_eq!(k, key, "{message}");
        };
        refused(
            LdapConfig {
                uri: Uris::Many(vec!["ldaps://a".into(), "ldap://b".into()]),
                ..config()
            },
            "uri",
        );
        refused(
            LdapConfig {
                uri: Uris::Many(Vec::new()),
                ..config()
            },
            "uri",
        );
        refused(
            LdapConfig {
                tls_server_name: Some("ad.example".into()),
                ..config()
            },
            "tls_server_name",
        );
    }

    #[test]
    fn login_forms_name_one_account() {
        let forms = LoginForms {
            domains: vec!["ADSESAME".into()],
            upn_suffixes: vec!["ad.sesame.test".into(), "example.test".into()],
            ..LoginForms::default()
        };
        assert_eq!(forms.read("ADSESAME\\alice"), Typed::Name("alice"));
        assert_eq!(forms.read("adsesame\\alice"), Typed::Name("alice"));
        assert_eq!(forms.read("OTHER\\alice"), Typed::OtherDomain);
        assert_eq!(forms.read("ADSESAME\\"), Typed::OtherDomain);
        assert_eq!(forms.read("ADSESAME\\a\\b"), Typed::OtherDomain);
        assert_eq!(
            forms.read("alice@AD.sesame.test"),
            Typed::Upn("alice@AD.sesame.test")
        );
        assert_eq!(
            forms.read("alice@elsewhere.org"),
            Typed::Name("alice@elsewhere.org")
        );
        assert_eq!(forms.read("@example.test"), Typed::Name("@example.test"));
        assert_eq!(forms.read("alice"), Typed::Name("alice"));
        for typed in ["ADSESAME\\alice", "alice@example.test", "alice"] {
            assert_eq!(forms.account_name(typed), "alice", "{typed}");
        }
        // Without domains, a backslash is part of the name.
        assert_eq!(LoginForms::default().read("a\\b"), Typed::Name("a\\b"));
        let no_search = LdapConfig {
            bind_dn: None,
            bind_password: None,
            user_login_forms: forms.clone(),
            ..config()
        };
        assert_eq!(
            no_search.validate().unwrap_err().0,
            "user_login_forms.upn_suffixes"
        );
    }

    #[test]
    fn group_policies_need_a_service_account_and_a_base() {
        let groups: std::collections::BTreeMap<String, String> =
            [("UC admins".to_string(), "admins".to_string())]
                .into_iter()
                .collect();
        let member_of = LdapConfig {
            group_policies: groups.clone(),
            ..config()
        };
        assert!(member_of.validate().is_ok());
        let nested = LdapConfig {
            group_membership: GroupMembership::Nested,
            ..member_of.clone()
        };
        assert_eq!(nested.validate().unwrap_err().0, "group_base_dn");
        let with_base = LdapConfig {
            group_base_dn: Some("ou=groups,dc=example,dc=org".into()),
            ..nested
        };
        assert!(with_base.validate().is_ok());
        let no_search = LdapConfig {
            bind_dn: None,
            bind_password: None,
            ..member_of
        };
        assert_eq!(no_search.validate().unwrap_err().0, "group_policies");
        let parsed: LdapConfig = yaml_serde::from_str(
            "uri: ldaps://dc1\nuser_base_dn: dc=ad\nuser_login_attribute: sAMAccountName\n\
             bind_dn: cn=svc\nbind_password: pw\ngroup_membership: nested\n\
             group_base_dn: dc=ad\ngroup_policies: {UC admins: admins}\n",
        )
        .unwrap();
        assert_eq!(parsed.group_membership, GroupMembership::Nested);
    }

    #[test]
    fn modes_follow_the_seed() {
        assert_eq!(config().mode(), Mode::SearchAsService);
        let anonymous = LdapConfig {
            bind_dn: None,
            bind_password: None,
            bind_anonymous: true,
            ..config()
        };
        assert_eq!(anonymous.mode(), Mode::SearchAnonymously);
        let direct = LdapConfig {
            bind_dn: None,
            bind_password: None,
            ..config()
        };
        assert_eq!(direct.mode(), Mode::NoSearch);
    }

    #[test]
    fn the_seed_example_parses_with_defaults() {
        let yaml = "uri: ldap://example.org\nbind_dn: cn=xivo,dc=example,dc=org\nbind_password: bindpass\nuser_base_dn: ou=people,dc=example,dc=org\nuser_login_attribute: uid\n";
        let parsed: LdapConfig = yaml_serde::from_str(yaml).unwrap();
        assert_eq!(parsed.user_email_attribute, "mail");
        assert!(parsed.local_user_required);
        assert!(parsed.validate().is_ok());
    }

    #[test]
    fn discovery_alone_or_beside_uris_is_accepted() {
        for config in [
            LdapConfig {
                uri: Uris::default(),
                srv_domain: Some("ad.example.com.".into()),
                ..config()
            },
            LdapConfig {
                uri: "ldaps://dc1.ad.example.com".into(),
                srv_domain: Some("ad.example.com".into()),
                srv_nameservers: vec!["192.0.2.53:53".parse().unwrap()],
                ..config()
            },
            LdapConfig {
                start_tls: true,
                srv_domain: Some("ad.example.com".into()),
                ..config()
            },
        ] {
            assert_eq!(config.validate(), Ok(()), "{config:?}");
        }
    }

    #[tokio::test]
    async fn a_domain_dns_does_not_answer_for_is_unavailable() {
        // A name server that never answers: the lookup times out, and the
        // login is a 503, not a wrong password.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let b = backend(LdapConfig {
            uri: Uris::default(),
            srv_domain: Some("ad.example.com".into()),
            srv_nameservers: vec![addr],
            ..config()
        });
        let outcome = b.authenticate("alice", &Password::new("pw")).await;
        match outcome {
            Err(BackendError::Unavailable(why)) => {
                assert!(why.contains("_ldap._tcp.ad.example.com"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(b.discovery_name(), Some("_ldap._tcp.ad.example.com"));
        assert!(b.check_discovered().await.is_err());
    }

    #[test]
    fn validation_names_the_key() {
        let cases: Vec<(LdapConfig, &str)> = vec![
            (
                LdapConfig {
                    uri: Uris::default(),
                    ..config()
                },
                "uri",
            ),
            (
                LdapConfig {
                    srv_domain: Some("ad..example.com".into()),
                    ..config()
                },
                "srv_domain",
            ),
            (
                LdapConfig {
                    srv_domain: Some("_ldap._tcp.example.com".into()),
                    ..config()
                },
                "srv_domain",
            ),
            (
                // Discovered servers are reached with LDAPS; a plain
                // ldap:// beside them needs start_tls.
                LdapConfig {
                    srv_domain: Some("ad.example.com".into()),
                    ..config()
                },
                "uri",
            ),
            (
                LdapConfig {
                    srv_nameservers: vec!["127.0.0.1:53".parse().unwrap()],
                    ..config()
                },
                "srv_nameservers",
            ),
            (
                LdapConfig {
                    uri: "http://x".into(),
                    ..config()
                },
                "uri",
            ),
            (
                LdapConfig {
                    uri: "ldap://x/dc=org?uid".into(),
                    ..config()
                },
                "uri",
            ),
            (
                LdapConfig {
                    uri: "ldaps://x".into(),
                    start_tls: true,
                    ..config()
                },
                "start_tls",
            ),
            (
                LdapConfig {
                    bind_password: None,
                    ..config()
                },
                "bind_password",
            ),
            (
                LdapConfig {
                    bind_password: Some(String::new()),
                    ..config()
                },
                "bind_password",
            ),
            (
                LdapConfig {
                    bind_anonymous: true,
                    ..config()
                },
                "bind_anonymous",
            ),
            (
                LdapConfig {
                    bind_dn: None,
                    ..config()
                },
                "bind_dn",
            ),
            (
                LdapConfig {
                    user_login_attribute: "uid)(x".into(),
                    ..config()
                },
                "user_login_attribute",
            ),
            (
                LdapConfig {
                    user_base_dn: " ".into(),
                    ..config()
                },
                "user_base_dn",
            ),
            (
                LdapConfig {
                    pool_size: 0,
                    ..config()
                },
                "pool_size",
            ),
        ];
        for (config, key) in cases {
            assert_eq!(config.validate().unwrap_err().0, key, "{config:?}");
        }
        assert!(
            LdapConfig {
                uri: "ldaps://ldap.example.org:636/".into(),
                ..config()
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn escaping_keeps_logins_inside_their_value() {
        assert_eq!(ldap_escape("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(ldap_escape("a\\b\0"), "a\\5cb\\00");
        assert_eq!(dn_escape("x,ou=admins"), "x\\2cou\\3dadmins");
        assert_eq!(dn_escape("a+b=c"), "a\\2bb\\3dc");
        assert_eq!(dn_escape(" lead#"), "\\20lead#");
        assert_eq!(ldap_escape("élodie"), "élodie");
    }

    fn backend(config: LdapConfig) -> LdapBackend {
        LdapBackend::new(config, LocalDirectory::new(), vec![]).unwrap()
    }

    #[tokio::test]
    async fn empty_passwords_and_logins_are_refused_before_any_connection() {
        // The URI points at a closed port: reaching the network would give
        // "unavailable", not "invalid credentials".
        let b = backend(config());
        for (login, password) in [("alice", ""), ("", "pw")] {
            assert!(matches!(
                b.authenticate(login, &Password::new(password)).await,
                Err(BackendError::InvalidCredentials)
            ));
        }
        let long = "a".repeat(MAX_LOGIN_LEN + 1);
        assert!(matches!(
            b.authenticate(&long, &Password::new("pw")).await,
            Err(BackendError::InvalidCredentials)
        ));
    }

    #[tokio::test]
    async fn an_unreachable_directory_is_unavailable_not_a_wrong_password() {
        for config in [
            config(),
            LdapConfig {
                bind_dn: None,
                bind_password: None,
                ..config()
            },
        ] {
            let outcome = backend(config)
                .authenticate("alice", &Password::new("pw"))
                .await;
            assert!(
                matches!(outcome, Err(BackendError::Unavailable(_))),
                "{outcome:?}"
            );
        }
    }

    /// Records what the backend tells a [`ServerObserver`].
    #[derive(Default)]
    struct Recorder(parking_lot::Mutex<Vec<(String, bool)>>);

    impl ServerObserver for Recorder {
        fn connection(&self, server: &str, reached: bool) {
            self.0.lock().push((server.to_owned(), reached));
        }
    }

    #[tokio::test]
    async fn each_server_tried_is_told_to_the_observer_in_order() {
        // The second server accepts TCP connections and never answers: the
        // connection is made (plain LDAP), the service bind then times out.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let recorder = Arc::new(Recorder::default());
        let b = backend(LdapConfig {
            uri: Uris::Many(vec![
                "ldap://127.0.0.1:1".into(),
                format!("ldap://127.0.0.1:{port}"),
            ]),
            ..config()
        })
        .with_observer(recorder.clone());
        let outcome = b.authenticate("alice", &Password::new("pw")).await;
        assert!(
            matches!(outcome, Err(BackendError::Unavailable(_))),
            "{outcome:?}"
        );
        let told = recorder.0.lock().clone();
        assert_eq!(
            told.first(),
            Some(&("127.0.0.1:1".to_owned(), false)),
            "{told:?}"
        );
        assert!(
            told.contains(&(format!("127.0.0.1:{port}"), true)),
            "{told:?}"
        );
        // The readiness probe of one server is told too.
        recorder.0.lock().clear();
        assert!(b.check_server("ldap://127.0.0.1:1").await.is_err());
        assert_eq!(*recorder.0.lock(), vec![("127.0.0.1:1".to_owned(), false)]);
        held.abort();
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("sesame-ldap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let outcome = LdapBackend::new(
            LdapConfig {
                uri: "ldaps://x".into(),
                ca_file: Some(path),
                ..config()
            },
            LocalDirectory::new(),
            vec![],
        );
        assert!(matches!(outcome, Err(LdapSetupError::CaFile { .. })));
        let _ = std::fs::remove_dir_all(dir);
    }
}
