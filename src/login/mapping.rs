//! One identity mapping for every protocol: a verified external identity
//! becomes the local user it names (by login or e-mail), or, when the
//! protocol's section says so, a user provisioned from a policy. Also the
//! named ACL lists (`policies`) that group mappings and provisioning refer
//! to, replaced as a whole on reload.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use sesame_backends::local::{AccountKind, LocalDirectory, UserKey, UserMatch, identity_of};
use sesame_federation::{ExternalIdentity, LocalMatch};

use super::Identity;

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
    /// Replaced as a whole when the configuration is reloaded.
    policies: arc_swap::ArcSwap<Policies>,
}

impl IdentityMapper {
    pub fn new(directory: Arc<LocalDirectory>, policies: Policies) -> Self {
        IdentityMapper {
            directory,
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

    /// Whether the account `login` of the local backend `backend` still
    /// exists and may log in; true for other backends (nothing to ask
    /// without the user's password).
    pub fn still_allowed(&self, backend: &str, login: &str) -> bool {
        match AccountKind::ALL
            .into_iter()
            .find(|kind| kind.backend_name() == backend)
        {
            Some(kind) => self
                .directory
                .find(kind, login)
                .is_some_and(|account| account.can_log_in(kind)),
            None => true,
        }
    }

    /// The local user `external` names under `rule`, with `extra_acl` added
    /// (group policies) and `metadata` merged into the token's; or, with
    /// `rule.auto_provision`, a user of that policy. The error says whom,
    /// and why nobody was picked.
    pub fn map(
        &self,
        external: &ExternalIdentity,
        rule: Rule<'_>,
        extra_acl: Vec<String>,
        metadata: Map<String, Value>,
    ) -> Result<Identity, String> {
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
            (UserMatch::None, None) => Err(external.subject.clone()),
            (other, _) => Err(format!(
                "{} ({})",
                external.subject,
                other.refusal().unwrap_or("no local user")
            )),
        }
    }
}

/// Add the ACLs of `more` not yet in `acl`.
pub fn merge(acl: &mut Vec<String>, more: Vec<String>) {
    for entry in more {
        if !acl.contains(&entry) {
            acl.push(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_backends::local::{LocalAccount, UsersFile};

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
        IdentityMapper::new(directory, policies)
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

    #[test]
    fn one_user_none_disabled_or_several() {
        let m = mapper();
        let alice = m
            .map(&external("alice"), BY_LOGIN, vec!["x".into()], Map::new())
            .unwrap();
        assert_eq!(
            (alice.login.as_str(), alice.backend.as_str()),
            ("alice", "cas")
        );
        assert_eq!(alice.acl, vec!["own.acl", "x"]);
        assert_eq!(
            m.map(&external("bob"), BY_LOGIN, vec![], Map::new())
                .unwrap_err(),
            "bob"
        );
        let disabled = m
            .map(&external("noprofile"), BY_LOGIN, vec![], Map::new())
            .unwrap_err();
        assert!(disabled.contains("may not log in"), "{disabled}");
        let by_email = Rule {
            match_by: LocalMatch::Email,
            auto_provision: Some("guests"),
        };
        let found = m
            .map(&external("ALICE@example.org"), by_email, vec![], Map::new())
            .unwrap();
        assert_eq!(found.login, "alice");
        // Provisioning is for nobody found, never for a refused match.
        let twins = m
            .map(&external("twin@example.org"), by_email, vec![], Map::new())
            .unwrap_err();
        assert!(twins.contains("several"), "{twins}");
    }

    #[test]
    fn provisioned_users_get_the_policy_and_the_extra_acls() {
        let m = mapper();
        let rule = Rule {
            match_by: LocalMatch::Login,
            auto_provision: Some("guests"),
        };
        let bob = m
            .map(&external("bob"), rule, vec!["admin.#".into()], Map::new())
            .unwrap();
        assert_eq!((bob.auth_id.as_str(), bob.user_uuid), ("cas:bob", None));
        assert_eq!(bob.acl, vec!["guest.read", "admin.#"]);
        assert_eq!(bob.metadata["purpose"], "user");
    }
}
