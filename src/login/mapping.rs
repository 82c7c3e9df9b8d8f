//! One identity mapping for every protocol: a verified external identity
//! becomes the local user it names (by login or e-mail: in the users file
//! first, then in the backends that map such identities, e.g. an `sql`
//! backend with `match_external_identities`), or, when the protocol's
//! section says so, a user provisioned from a policy. Also the named ACL
//! lists (`policies`) that group mappings and provisioning refer to,
//! replaced as a whole on reload.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use sesame_backends::local::{AccountKind, LocalDirectory, UserKey, UserMatch, identity_of};
use sesame_backends::{AccountKey, BackendError, Lookup};
use sesame_federation::kerberos::DirectoryName;
use sesame_federation::{ExternalIdentity, LocalMatch};

use super::Identity;
use crate::auth::Authenticator;

/// Why an identity has no local user.
#[derive(Debug, thiserror::Error)]
pub enum Unmapped {
    /// Nobody (or several, or one who may not log in): the text names the
    /// subject and why.
    #[error("{0}")]
    NoLocalUser(String),
    /// A backend that holds accounts could not be asked.
    #[error(transparent)]
    Backend(BackendError),
}

/// Named ACL lists.
pub type Policies = BTreeMap<String, Vec<String>>;

/// How one protocol's identities find their local users.
#[derive(Debug, Clone, Copy)]
pub struct Rule<'a> {
    pub match_by: LocalMatch,
    /// The policy of users provisioned when no local user matches; `None`
    /// refuses them.
    pub auto_provision: Option<&'a str>,
}

/// Maps external identities to local users.
#[derive(Debug)]
pub struct IdentityMapper {
    directory: Arc<LocalDirectory>,
    /// The backends, for the accounts the users file does not hold.
    accounts: Arc<Authenticator>,
    /// Replaced as a whole when the configuration is reloaded.
    policies: arc_swap::ArcSwap<Policies>,
}

impl IdentityMapper {
    pub fn new(
        directory: Arc<LocalDirectory>,
        accounts: Arc<Authenticator>,
        policies: Policies,
    ) -> Self {
        IdentityMapper {
            directory,
            accounts,
            policies: arc_swap::ArcSwap::from_pointee(policies),
        }
    }

    /// The policies now.
    pub fn policies(&self) -> Arc<Policies> {
        self.policies.load_full()
    }

    /// Put the policies of a reloaded configuration in place.
    pub fn replace_policies(&self, policies: Policies) {
        self.policies.store(Arc::new(policies));
    }

    /// The ACLs of the policy `name` (none when there is no such policy;
    /// validation makes sure every name used exists).
    pub fn policy(&self, name: &str) -> Vec<String> {
        self.policies.load().get(name).cloned().unwrap_or_default()
    }

    /// Whether the account a refresh token was issued for (`backend`,
    /// `login`, and the UC user `user_uuid` it was mapped to) still exists
    /// and may log in, asked without its password:
    /// - of the backend that checked its password, when it can look
    ///   accounts up (users file, `sql`);
    /// - of the users file, for a users-file backend no longer enabled;
    /// - for an identity another protocol proved and mapped to an account
    ///   (`backend` is the protocol), of wherever the mapping found it: the
    ///   same account must still be found by its login;
    /// - for an account read from the directory (`ldap_dn`), of its entry,
    ///   read again (gone or disabled: no longer);
    /// - true where nothing can be asked (LDAP without a service account,
    ///   a provisioned user).
    pub async fn still_allowed(
        &self,
        backend: &str,
        login: &str,
        user_uuid: Option<&str>,
        ldap_dn: Option<&str>,
    ) -> Result<bool, BackendError> {
        use crate::auth::Allowed;
        if let Some(dn) = ldap_dn {
            // An account read from the directory (an LDAP login, a Kerberos
            // principal looked up there): its entry is read again.
            // No longer allowed once the directory is no longer configured.
            let allowed = self
                .accounts
                .still_allowed(sesame_backends::LDAP_USER, AccountKey::Dn(dn), user_uuid)
                .await?;
            return Ok(matches!(allowed, Allowed::Yes | Allowed::CannotSay));
        }
        let kind = AccountKind::ALL
            .into_iter()
            .find(|kind| kind.backend_name() == backend);
        let key = AccountKey::Login(login);
        match (self.accounts.still_allowed(backend, key, None).await?, kind) {
            (Allowed::Yes, _) => Ok(true),
            (Allowed::No, _) => Ok(false),
            (Allowed::CannotSay, _) => Ok(true),
            (Allowed::NoSuchBackend, Some(kind)) => Ok(self
                .directory
                .find(kind, login)
                .is_some_and(|account| account.can_log_in(kind))),
            (Allowed::NoSuchBackend, None) => match user_uuid {
                None => Ok(true),
                Some(uuid) => self.still_mapped(login, uuid).await,
            },
        }
    }

    /// Whether the login an external identity was mapped to still names
    /// the UC user `uuid`, who may log in.
    async fn still_mapped(&self, login: &str, uuid: &str) -> Result<bool, BackendError> {
        match self.directory.match_user(UserKey::Login(login)) {
            UserMatch::One(account) => return Ok(account.uuid.to_string() == uuid),
            UserMatch::None => {}
            _ => return Ok(false),
        }
        Ok(
            match self
                .accounts
                .find_external(AccountKey::Login(login))
                .await?
            {
                Some((_, Lookup::One(verified))) => verified.user_uuid.as_deref() == Some(uuid),
                _ => false,
            },
        )
    }

    /// The local user `external` names under `rule`, with `extra_acl` added
    /// (group policies) and `metadata` merged into the token's; or, with
    /// `rule.auto_provision`, a user of that policy. The error says whom,
    /// and why nobody was picked.
    pub async fn map(
        &self,
        external: &ExternalIdentity,
        rule: Rule<'_>,
        extra_acl: Vec<String>,
        metadata: Map<String, Value>,
    ) -> Result<Identity, Unmapped> {
        let subject = std::slice::from_ref(&external.subject);
        let key = match rule.match_by {
            LocalMatch::Login => UserKey::Login(&external.subject),
            LocalMatch::Email => UserKey::Emails(subject),
        };
        let found = self.directory.match_user(key);
        if let UserMatch::One(account) = &found {
            let verified = identity_of(AccountKind::User, account, &extra_acl);
            let mut identity = Identity::from_backend(external.source, verified);
            identity.metadata.extend(metadata);
            return Ok(identity);
        }
        if let UserMatch::None = found {
            let key = match rule.match_by {
                LocalMatch::Login => AccountKey::Login(&external.subject),
                LocalMatch::Email => AccountKey::Email(&external.subject),
            };
            match self
                .accounts
                .find_external(key)
                .await
                .map_err(Unmapped::Backend)?
            {
                Some((_, Lookup::One(verified))) => {
                    let mut identity = Identity::from_backend(external.source, verified);
                    merge(&mut identity.acl, extra_acl);
                    identity.metadata.extend(metadata);
                    return Ok(identity);
                }
                Some((backend, Lookup::Refused(why))) => {
                    return Err(Unmapped::NoLocalUser(format!(
                        "{} ({why}, in {backend})",
                        external.subject
                    )));
                }
                Some((_, Lookup::NotAsked | Lookup::Nobody)) | None => {}
            }
        }
        match (&found, rule.auto_provision) {
            (UserMatch::None, Some(policy)) => {
                let mut acl = self.policy(policy);
                merge(&mut acl, extra_acl);
                let mut metadata = metadata;
                metadata.insert("login".into(), Value::String(external.subject.clone()));
                metadata.insert("purpose".into(), Value::String("user".into()));
                Ok(Identity {
                    auth_id: format!("{}:{}", external.source, external.subject),
                    user_uuid: None,
                    login: external.subject.clone(),
                    backend: external.source.into(),
                    acl,
                    metadata,
                })
            }
            (UserMatch::None, None) => Err(Unmapped::NoLocalUser(external.subject.clone())),
            (other, _) => Err(Unmapped::NoLocalUser(format!(
                "{} ({})",
                external.subject,
                other.refusal().unwrap_or("no local user")
            ))),
        }
    }

    /// The account the directory (`ldap`) has for `external` under `name`,
    /// as an LDAP login of that entry gets it (local user by e-mail, group
    /// policies), with `metadata` merged into the token's.
    pub async fn in_directory(
        &self,
        external: &ExternalIdentity,
        name: &DirectoryName,
        metadata: Map<String, Value>,
    ) -> Result<Identity, Unmapped> {
        let key = match name {
            DirectoryName::Account(name) => AccountKey::Login(name),
            DirectoryName::Upn(upn) => AccountKey::Upn(upn),
        };
        let refused = |why: &str| Unmapped::NoLocalUser(format!("{} ({why})", external.subject));
        match self
            .accounts
            .find_in(sesame_backends::LDAP_USER, key)
            .await
            .map_err(Unmapped::Backend)?
        {
            Some(Lookup::One(verified)) => {
                let mut identity = Identity::from_backend(external.source, verified);
                identity.metadata.extend(metadata);
                Ok(identity)
            }
            Some(Lookup::Refused(why)) => Err(refused(why)),
            Some(Lookup::Nobody) => Err(refused("no directory entry")),
            Some(Lookup::NotAsked) | None => Err(refused("the directory cannot be searched")),
        }
    }
}

/// Add the ACLs of `more` not yet in `acl` (the backends' one helper).
pub use sesame_backends::merge_acl as merge;

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_backends::local::{LocalAccount, UsersFile};
    use sesame_backends::{Backend, Password, VerifiedIdentity};

    /// A backend of accounts that maps external identities: carol (by
    /// login or e-mail), dora (disabled); `down` finds it unreachable.
    struct Database;

    fn carol() -> VerifiedIdentity {
        VerifiedIdentity {
            auth_id: "c-uuid".into(),
            user_uuid: Some("c-uuid".into()),
            login: "carol".into(),
            acl: vec!["db.acl".into()],
            metadata: Map::new(),
        }
    }

    #[async_trait::async_trait]
    impl Backend for Database {
        fn name(&self) -> &str {
            "db_user"
        }
        async fn authenticate(
            &self,
            _: &str,
            _: &Password,
        ) -> Result<VerifiedIdentity, BackendError> {
            Err(BackendError::InvalidCredentials)
        }
        fn maps_external_identities(&self) -> bool {
            true
        }
        async fn find(&self, key: AccountKey<'_>) -> Result<Lookup, BackendError> {
            Ok(match key {
                AccountKey::Login("carol") | AccountKey::Email("carol@db.example") => {
                    Lookup::One(carol())
                }
                AccountKey::Login("alice") => Lookup::One(VerifiedIdentity {
                    login: "alice-in-db".into(),
                    ..carol()
                }),
                AccountKey::Login("dora") => Lookup::Refused("the account may not log in"),
                AccountKey::Login("down") => {
                    return Err(BackendError::Unavailable("connection refused".into()));
                }
                _ => Lookup::Nobody,
            })
        }
    }

    fn mapper() -> IdentityMapper {
        let directory = LocalDirectory::new();
        let account = |login: &str, email: &str, profile: Option<&str>| LocalAccount {
            login: login.into(),
            uuid: uuid::Uuid::new_v4(),
            password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            email: Some(email.into()),
            profile: profile.map(str::to_owned),
            enabled: true,
            acl: vec!["own.acl".into()],
            metadata: Default::default(),
            tenant_uuid: None,
            purpose: None,
        };
        directory
            .replace(&UsersFile {
                users: vec![
                    account("alice", "alice@example.org", Some("default")),
                    account("noprofile", "np@example.org", None),
                    account("twin1", "twin@example.org", Some("default")),
                    account("twin2", "twin@example.org", Some("default")),
                ],
                ..Default::default()
            })
            .unwrap();
        let mut policies = BTreeMap::new();
        policies.insert("guests".to_string(), vec!["guest.read".to_string()]);
        let accounts = Arc::new(Authenticator::new(
            vec![Arc::new(Database)],
            crate::auth::LoginOrder::default(),
            crate::throttle::ThrottleConfig::default(),
            None,
        ));
        IdentityMapper::new(directory, accounts, policies)
    }

    fn external(subject: &str) -> ExternalIdentity {
        ExternalIdentity {
            source: "cas",
            issuer: "https://cas.example.org".into(),
            subject: subject.into(),
            attributes: Map::new(),
        }
    }

    const BY_LOGIN: Rule<'static> = Rule {
        match_by: LocalMatch::Login,
        auto_provision: None,
    };

    fn refusal(outcome: Result<Identity, Unmapped>) -> String {
        match outcome {
            Err(Unmapped::NoLocalUser(why)) => why,
            other => panic!("not a refusal: {other:?}"),
        }
    }

    #[tokio::test]
    async fn one_user_none_disabled_or_several() {
        let m = mapper();
        let alice = m
            .map(&external("alice"), BY_LOGIN, vec!["x".into()], Map::new())
            .await
            .unwrap();
        assert_eq!(
            (alice.login.as_str(), alice.backend.as_str()),
            ("alice", "cas"),
            "the users file is asked first"
        );
        assert_eq!(alice.acl, vec!["own.acl", "x"]);
        let bob = m.map(&external("bob"), BY_LOGIN, vec![], Map::new()).await;
        assert_eq!(refusal(bob), "bob");
        let disabled = refusal(
            m.map(&external("noprofile"), BY_LOGIN, vec![], Map::new())
                .await,
        );
        assert!(disabled.contains("may not log in"), "{disabled}");
        let by_email = Rule {
            match_by: LocalMatch::Email,
            auto_provision: Some("guests"),
        };
        let found = m
            .map(&external("ALICE@example.org"), by_email, vec![], Map::new())
            .await
            .unwrap();
        assert_eq!(found.login, "alice");
        // Provisioning is for nobody found, never for a refused match.
        let twins = refusal(
            m.map(&external("twin@example.org"), by_email, vec![], Map::new())
                .await,
        );
        assert!(twins.contains("several"), "{twins}");
    }

    #[tokio::test]
    async fn backends_that_map_identities_are_asked_after_the_users_file() {
        let m = mapper();
        let carol = m
            .map(&external("carol"), BY_LOGIN, vec!["x".into()], Map::new())
            .await
            .unwrap();
        assert_eq!(
            (carol.login.as_str(), carol.backend.as_str()),
            ("carol", "cas")
        );
        assert_eq!(carol.acl, vec!["db.acl", "x"]);
        let by_email = Rule {
            match_by: LocalMatch::Email,
            auto_provision: Some("guests"),
        };
        let carol = m
            .map(&external("carol@db.example"), by_email, vec![], Map::new())
            .await
            .unwrap();
        assert_eq!(carol.user_uuid.as_deref(), Some("c-uuid"));
        // A refused account is not provisioned over.
        let provisioning = Rule {
            match_by: LocalMatch::Login,
            auto_provision: Some("guests"),
        };
        let dora = refusal(
            m.map(&external("dora"), provisioning, vec![], Map::new())
                .await,
        );
        assert!(
            dora.contains("may not log in") && dora.contains("db_user"),
            "{dora}"
        );
        // The database down is not "no such user".
        let down = m
            .map(&external("down"), provisioning, vec![], Map::new())
            .await;
        assert!(
            matches!(down, Err(Unmapped::Backend(BackendError::Unavailable(_)))),
            "{down:?}"
        );
    }

    #[tokio::test]
    async fn refresh_tokens_of_mapped_identities_follow_their_accounts() {
        let m = mapper();
        // Mapped by CAS to the database's carol: allowed while she is found
        // with the same uuid.
        assert!(
            m.still_allowed("cas", "carol", Some("c-uuid"), None)
                .await
                .unwrap()
        );
        assert!(
            !m.still_allowed("cas", "carol", Some("other"), None)
                .await
                .unwrap()
        );
        assert!(
            !m.still_allowed("cas", "dora", Some("d-uuid"), None)
                .await
                .unwrap()
        );
        assert!(
            m.still_allowed("cas", "down", Some("x"), None)
                .await
                .is_err()
        );
        // Mapped to a users-file account: that account, by login and uuid.
        let alice = m.directory.find(AccountKind::User, "alice").unwrap();
        let alice_uuid = alice.uuid.to_string();
        assert!(
            m.still_allowed("cas", "alice", Some(&alice_uuid), None)
                .await
                .unwrap()
        );
        let noprofile = m.directory.find(AccountKind::User, "noprofile").unwrap();
        let noprofile_uuid = noprofile.uuid.to_string();
        assert!(
            !m.still_allowed("oidc", "noprofile", Some(&noprofile_uuid), None)
                .await
                .unwrap()
        );
        // A provisioned user has no account to follow.
        assert!(m.still_allowed("cas", "guest", None, None).await.unwrap());
        // The backend itself is asked for its own logins.
        assert!(
            m.still_allowed("db_user", "carol", None, None)
                .await
                .unwrap()
        );
        assert!(
            !m.still_allowed("db_user", "gone", None, None)
                .await
                .unwrap()
        );
        // A users-file backend that is not enabled: the users file.
        assert!(
            m.still_allowed("xivo_user", "alice", None, None)
                .await
                .unwrap()
        );
        assert!(
            !m.still_allowed("xivo_user", "noprofile", None, None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn provisioned_users_get_the_policy_and_the_extra_acls() {
        let m = mapper();
        let rule = Rule {
            match_by: LocalMatch::Login,
            auto_provision: Some("guests"),
        };
        let bob = m
            .map(&external("bob"), rule, vec!["admin.#".into()], Map::new())
            .await
            .unwrap();
        assert_eq!((bob.auth_id.as_str(), bob.user_uuid), ("cas:bob", None));
        assert_eq!(bob.acl, vec!["guest.read", "admin.#"]);
        assert_eq!(bob.metadata["purpose"], "user");
    }
}
