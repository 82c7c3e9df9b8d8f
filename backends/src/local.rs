//! Local accounts: UC users (`xivo_user`), administrators (`xivo_admin`) and
//! web-service accounts (`xivo_service`).
//!
//! The accounts live in a [`LocalDirectory`] that the server fills from the
//! users file and replaces as a whole when the file changes, so a login always
//! sees one consistent snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::password::{PasswordHasher, validate_hash};
use crate::{AccountKey, Backend, BackendError, Lookup, Password, VerifiedIdentity};

/// One local account as the users file spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalAccount {
    pub login: String,
    pub uuid: Uuid,
    /// Argon2 PHC string (`sesame hash-password` prints one).
    pub password_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The UC profile. A UC user without a profile cannot log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Whether the account may log in. For UC users this is the "CTI login
    /// enabled" flag (`cti_login_enabled` is accepted as its name).
    #[serde(default = "default_true", alias = "cti_login_enabled")]
    pub enabled: bool,
    /// ACLs of this account, added to its backend's default policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<String>,
    /// Free-form metadata copied into its tokens.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Its tenant; the top tenant when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_uuid: Option<Uuid>,
    /// The `purpose` its tokens carry; when absent, its kind's (`user`,
    /// `admin`, `external_api`). A Wazo daemon's account is `internal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
}

/// What an account is for, as wazo-auth names it in a token's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A person using the platform.
    User,
    /// An administrator of the platform (Sesame's, for `xivo_admin`).
    Admin,
    /// A daemon of the platform (wazo-auth's service users).
    Internal,
    /// A program outside the platform using its APIs.
    ExternalApi,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::User => "user",
            Purpose::Admin => "admin",
            Purpose::Internal => "internal",
            Purpose::ExternalApi => "external_api",
        }
    }

    /// What an account of `kind` is for when its entry does not say.
    pub fn of_kind(kind: AccountKind) -> Purpose {
        match kind {
            AccountKind::User => Purpose::User,
            AccountKind::Admin => Purpose::Admin,
            AccountKind::Service => Purpose::ExternalApi,
        }
    }
}

fn default_true() -> bool {
    true
}

impl LocalAccount {
    /// Whether the account may log in at all as a `kind` account, whatever
    /// the password: it is enabled, and a UC user has a profile.
    pub fn can_log_in(&self, kind: AccountKind) -> bool {
        self.enabled
            && (kind != AccountKind::User || self.profile.as_deref().is_some_and(|p| !p.is_empty()))
    }
}

/// The kind of a local account, i.e. which backend checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// `xivo_user`: a UC user (CTI login).
    User,
    /// `xivo_admin`: an administrator of the platform.
    Admin,
    /// `xivo_service`: a web-service access account.
    Service,
}

impl AccountKind {
    pub const ALL: [AccountKind; 3] = [AccountKind::User, AccountKind::Admin, AccountKind::Service];

    /// The backend name that checks this kind of account.
    pub fn backend_name(self) -> &'static str {
        match self {
            AccountKind::User => crate::XIVO_USER,
            AccountKind::Admin => crate::XIVO_ADMIN,
            AccountKind::Service => crate::XIVO_SERVICE,
        }
    }
}

/// The users file: one list per kind of account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    #[serde(default)]
    pub users: Vec<LocalAccount>,
    #[serde(default)]
    pub admins: Vec<LocalAccount>,
    #[serde(default)]
    pub services: Vec<LocalAccount>,
}

impl UsersFile {
    pub fn accounts(&self, kind: AccountKind) -> &Vec<LocalAccount> {
        match kind {
            AccountKind::User => &self.users,
            AccountKind::Admin => &self.admins,
            AccountKind::Service => &self.services,
        }
    }

    pub fn accounts_mut(&mut self, kind: AccountKind) -> &mut Vec<LocalAccount> {
        match kind {
            AccountKind::User => &mut self.users,
            AccountKind::Admin => &mut self.admins,
            AccountKind::Service => &mut self.services,
        }
    }

    /// Check what a login relies on: unique logins per kind, unique UUIDs,
    /// argon2 hashes. Errors name the account.
    pub fn validate(&self) -> Result<(), String> {
        let mut uuids = HashMap::new();
        for kind in AccountKind::ALL {
            let mut logins = HashMap::new();
            for account in self.accounts(kind) {
                let section = kind.backend_name();
                if account.login.is_empty() {
                    return Err(format!("{section}: an account has an empty login"));
                }
                if logins.insert(account.login.as_str(), ()).is_some() {
                    return Err(format!(
                        "{section}: login {:?} appears twice",
                        account.login
                    ));
                }
                if let Some(other) = uuids.insert(account.uuid, account.login.as_str()) {
                    return Err(format!(
                        "{section}: uuid {} of {:?} is also the uuid of {:?}",
                        account.uuid, account.login, other
                    ));
                }
                validate_hash(&account.password_hash)
                    .map_err(|e| format!("{section}: password_hash of {:?}: {e}", account.login))?;
            }
        }
        Ok(())
    }
}

/// What names a local UC user when another authority vouched for someone.
#[derive(Debug, Clone, Copy)]
pub enum UserKey<'a> {
    /// The user's login.
    Login(&'a str),
    /// Any of these e-mails (compared case-insensitively).
    Emails(&'a [String]),
}

/// Which local UC user a [`UserKey`] names.
#[derive(Debug, Clone)]
pub enum UserMatch {
    /// Exactly one user, who may log in.
    One(Arc<LocalAccount>),
    /// Nobody.
    None,
    /// Exactly one user, who may not log in (disabled, or no profile).
    Disabled,
    /// Several users: nobody is picked.
    Several,
}

impl UserMatch {
    /// Why no user was picked, in words for logs and error bodies.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            UserMatch::One(_) => None,
            UserMatch::None => Some("no local user"),
            UserMatch::Disabled => Some("the local user may not log in"),
            UserMatch::Several => Some("several local users match"),
        }
    }
}

/// A consistent snapshot of the local accounts, indexed for logins.
#[derive(Debug, Default)]
struct Snapshot {
    by_login: HashMap<(AccountKind, String), Arc<LocalAccount>>,
    users_by_email: HashMap<String, Vec<Arc<LocalAccount>>>,
}

/// The local accounts, replaceable as a whole at run time.
#[derive(Debug, Default)]
pub struct LocalDirectory {
    snapshot: arc_swap::ArcSwap<Snapshot>,
}

impl LocalDirectory {
    pub fn new() -> Arc<Self> {
        Arc::new(LocalDirectory::default())
    }

    /// Replace every account with those of `file`, after validating it.
    pub fn replace(&self, file: &UsersFile) -> Result<(), String> {
        file.validate()?;
        let mut snapshot = Snapshot::default();
        for kind in AccountKind::ALL {
            for account in file.accounts(kind) {
                let account = Arc::new(account.clone());
                if let (AccountKind::User, Some(email)) = (kind, &account.email) {
                    snapshot
                        .users_by_email
                        .entry(email.to_lowercase())
                        .or_default()
                        .push(account.clone());
                }
                snapshot
                    .by_login
                    .insert((kind, account.login.clone()), account);
            }
        }
        self.snapshot.store(Arc::new(snapshot));
        Ok(())
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The account of `kind` with this login.
    pub fn find(&self, kind: AccountKind, login: &str) -> Option<Arc<LocalAccount>> {
        self.current()
            .by_login
            .get(&(kind, login.to_owned()))
            .cloned()
    }

    /// The UC users whose e-mail is `email`, compared case-insensitively.
    pub fn users_by_email(&self, email: &str) -> Vec<Arc<LocalAccount>> {
        self.current()
            .users_by_email
            .get(&email.to_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// The one UC user that `key` names, classified: the single place where
    /// an identity proved elsewhere (a directory entry, an OpenID, CAS or
    /// Kerberos identity) meets the local accounts.
    pub fn match_user(&self, key: UserKey<'_>) -> UserMatch {
        let mut found: Vec<Arc<LocalAccount>> = match key {
            UserKey::Login(login) => self.find(AccountKind::User, login).into_iter().collect(),
            UserKey::Emails(emails) => emails
                .iter()
                .flat_map(|email| self.users_by_email(email))
                .collect(),
        };
        found.sort_by_key(|account| account.uuid);
        found.dedup_by_key(|account| account.uuid);
        match found.as_slice() {
            [] => UserMatch::None,
            [one] if one.can_log_in(AccountKind::User) => UserMatch::One(one.clone()),
            [_] => UserMatch::Disabled,
            _ => UserMatch::Several,
        }
    }

    /// How many accounts of each kind are loaded.
    pub fn count(&self, kind: AccountKind) -> usize {
        self.current()
            .by_login
            .keys()
            .filter(|(k, _)| *k == kind)
            .count()
    }
}

/// The identity a token gets for a local account.
pub fn identity_of(
    kind: AccountKind,
    account: &LocalAccount,
    default_acl: &[String],
) -> VerifiedIdentity {
    let mut acl = account.acl.clone();
    crate::merge_acl(&mut acl, default_acl.iter().cloned());
    let mut metadata = account.metadata.clone();
    metadata.insert("uuid".into(), Value::String(account.uuid.to_string()));
    metadata.insert("login".into(), Value::String(account.login.clone()));
    if let Some(tenant) = account.tenant_uuid {
        metadata.insert("tenant_uuid".into(), Value::String(tenant.to_string()));
    }
    let purpose = account.purpose.unwrap_or(Purpose::of_kind(kind));
    metadata.insert("purpose".into(), Value::String(purpose.as_str().into()));
    if let Some(profile) = &account.profile {
        metadata.insert("profile".into(), Value::String(profile.clone()));
    }
    VerifiedIdentity {
        auth_id: account.uuid.to_string(),
        user_uuid: (kind == AccountKind::User).then(|| account.uuid.to_string()),
        login: account.login.clone(),
        acl,
        metadata,
    }
}

/// A password backend over one kind of local account.
#[derive(Debug)]
pub struct LocalBackend {
    kind: AccountKind,
    directory: Arc<LocalDirectory>,
    hasher: PasswordHasher,
    default_acl: Vec<String>,
}

impl LocalBackend {
    pub fn new(
        kind: AccountKind,
        directory: Arc<LocalDirectory>,
        hasher: PasswordHasher,
        default_acl: Vec<String>,
    ) -> Self {
        LocalBackend {
            kind,
            directory,
            hasher,
            default_acl,
        }
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn name(&self) -> &str {
        self.kind.backend_name()
    }

    async fn authenticate(
        &self,
        login: &str,
        password: &Password,
    ) -> Result<VerifiedIdentity, BackendError> {
        let account = self.directory.find(self.kind, login);
        // The hash is checked even for unknown or disabled accounts, so that
        // the answer time does not tell which logins exist.
        let matched = self
            .hasher
            .verify(password, account.as_ref().map(|a| a.password_hash.as_str()))
            .await?;
        match account {
            Some(account) if matched && !password.is_empty() && account.can_log_in(self.kind) => {
                Ok(identity_of(self.kind, &account, &self.default_acl))
            }
            _ => Err(BackendError::InvalidCredentials),
        }
    }

    /// By login only: the identity mapping reads the users file's e-mails
    /// itself (before any backend is asked).
    async fn find(&self, key: AccountKey<'_>) -> Result<Lookup, BackendError> {
        let AccountKey::Login(login) = key else {
            return Ok(Lookup::NotAsked);
        };
        Ok(match self.directory.find(self.kind, login) {
            None => Lookup::Nobody,
            Some(account) if account.can_log_in(self.kind) => {
                Lookup::One(identity_of(self.kind, &account, &self.default_acl))
            }
            Some(_) => Lookup::Refused("the account may not log in"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{HashCost, hash_password};

    const CHEAP: HashCost = HashCost {
        m_cost: 8,
        t_cost: 1,
        p_cost: 1,
    };

    fn account(login: &str, password: &str) -> LocalAccount {
        LocalAccount {
            login: login.into(),
            uuid: Uuid::new_v4(),
            password_hash: hash_password(&Password::new(password), CHEAP).unwrap(),
            email: Some(format!("{login}@Example.org")),
            profile: Some("default".into()),
            enabled: true,
            acl: vec!["own.acl".into(), "shared.acl".into()],
            metadata: Map::new(),
            tenant_uuid: None,
            purpose: None,
        }
    }

    fn backend(kind: AccountKind, file: &UsersFile) -> LocalBackend {
        let directory = LocalDirectory::new();
        directory.replace(file).unwrap();
        LocalBackend::new(
            kind,
            directory,
            PasswordHasher::new(2).unwrap(),
            vec!["shared.acl".into(), "policy.acl".into()],
        )
    }

    #[tokio::test]
    async fn a_user_logs_in_with_own_and_policy_acls() {
        let alice = account("alice", "s3cre7");
        let file = UsersFile {
            users: vec![alice.clone()],
            ..Default::default()
        };
        let id = backend(AccountKind::User, &file)
            .authenticate("alice", &Password::new("s3cre7"))
            .await
            .unwrap();
        assert_eq!(id.auth_id, alice.uuid.to_string());
        assert_eq!(id.user_uuid, Some(alice.uuid.to_string()));
        assert_eq!(id.acl, vec!["own.acl", "shared.acl", "policy.acl"]);
        assert_eq!(id.metadata["login"], "alice");
        assert_eq!(id.metadata["profile"], "default");
    }

    #[tokio::test]
    async fn wrong_password_unknown_login_and_empty_password_fail() {
        let file = UsersFile {
            users: vec![account("alice", "s3cre7")],
            ..Default::default()
        };
        let b = backend(AccountKind::User, &file);
        for (login, password) in [("alice", "wrong"), ("bob", "s3cre7"), ("alice", "")] {
            assert!(matches!(
                b.authenticate(login, &Password::new(password)).await,
                Err(BackendError::InvalidCredentials)
            ));
        }
    }

    #[tokio::test]
    async fn disabled_or_profileless_users_cannot_log_in() {
        let mut disabled = account("dis", "pw");
        disabled.enabled = false;
        let mut no_profile = account("nop", "pw");
        no_profile.profile = None;
        let file = UsersFile {
            users: vec![disabled, no_profile],
            ..Default::default()
        };
        let b = backend(AccountKind::User, &file);
        for login in ["dis", "nop"] {
            assert!(matches!(
                b.authenticate(login, &Password::new("pw")).await,
                Err(BackendError::InvalidCredentials)
            ));
        }
    }

    #[tokio::test]
    async fn kinds_do_not_mix() {
        let admin = account("root", "adminpw");
        let file = UsersFile {
            admins: vec![admin.clone()],
            ..Default::default()
        };
        assert!(
            backend(AccountKind::User, &file)
                .authenticate("root", &Password::new("adminpw"))
                .await
                .is_err()
        );
        let id = backend(AccountKind::Admin, &file)
            .authenticate("root", &Password::new("adminpw"))
            .await
            .unwrap();
        assert_eq!(id.user_uuid, None);
        assert_eq!(id.metadata["purpose"], "admin");
    }

    #[tokio::test]
    async fn a_service_account_may_say_it_is_internal() {
        let mut daemon = account("wazo-calld", "key");
        let plain = account("partner", "key2");
        daemon.purpose = Some(Purpose::Internal);
        let file = UsersFile {
            services: vec![daemon, plain],
            ..Default::default()
        };
        let services = backend(AccountKind::Service, &file);
        let id = services
            .authenticate("wazo-calld", &Password::new("key"))
            .await
            .unwrap();
        assert_eq!(id.metadata["purpose"], "internal");
        let id = services
            .authenticate("partner", &Password::new("key2"))
            .await
            .unwrap();
        assert_eq!(id.metadata["purpose"], "external_api");
        let parsed: Result<LocalAccount, _> = yaml_serde::from_str(
            "{login: x, uuid: 5b2ba3d8-2a44-4a29-9e35-0f2b8a8d1a4e, password_hash: h, purpose: daemon}",
        );
        assert!(parsed.is_err(), "an unknown purpose is refused");
    }

    #[test]
    fn validation_names_the_faulty_account() {
        let mut file = UsersFile {
            users: vec![account("alice", "a"), account("alice", "b")],
            ..Default::default()
        };
        assert!(
            file.validate()
                .unwrap_err()
                .contains("\"alice\" appears twice")
        );
        file.users.pop();
        file.users[0].password_hash = "clear".into();
        assert!(
            file.validate()
                .unwrap_err()
                .contains("password_hash of \"alice\"")
        );
    }

    #[test]
    fn email_lookup_ignores_case() {
        let directory = LocalDirectory::new();
        directory
            .replace(&UsersFile {
                users: vec![account("alice", "x")],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(directory.users_by_email("ALICE@example.ORG").len(), 1);
        assert!(directory.users_by_email("bob@example.org").is_empty());
    }
}
