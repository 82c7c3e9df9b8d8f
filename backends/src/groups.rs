//! Groups to policies: one table format and one matching for every source
//! of groups (an LDAP directory's, an OpenID provider's claim). A table key
//! is a group's DN (it holds `=`), which matches that group only, or its
//! name, which matches a group of that name wherever it is (a DN from the
//! directory by the value of its first RDN, e.g. the CN). Case and spaces
//! around DN separators do not matter.

use std::collections::BTreeMap;

/// Group (DN or name) → the ACLs of its policy, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupPolicies {
    by_key: BTreeMap<String, Vec<String>>,
}

/// How a group is compared: lower case, no spaces around `,` and `=`.
fn key_of(group: &str) -> String {
    let lower = group.trim().to_lowercase();
    if !lower.contains('=') {
        return lower;
    }
    lower
        .split(',')
        .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join(",")
}

/// The name of a group DN: its first RDN's value (`CN=UC admins,OU=...`
/// is `UC admins`); a name is its own.
fn name_of(group: &str) -> Option<&str> {
    let first = group.split(',').next()?;
    let (_, value) = first.split_once('=')?;
    Some(value.trim())
}

impl GroupPolicies {
    /// The table `group → policy`, each policy's ACLs given by `acl_of`
    /// (a group of an unknown policy is left out: configuration validation
    /// refuses those).
    pub fn new<'a>(
        table: impl IntoIterator<Item = (&'a String, &'a String)>,
        acl_of: impl Fn(&str) -> Option<Vec<String>>,
    ) -> Self {
        let by_key = table
            .into_iter()
            .filter_map(|(group, policy)| acl_of(policy).map(|acl| (key_of(group), acl)))
            .collect();
        GroupPolicies { by_key }
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The ACLs the groups bring, each once, in the order found.
    pub fn acl_for<'a>(&self, groups: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut acl: Vec<String> = Vec::new();
        for group in groups {
            let by_dn = self.by_key.get(&key_of(group));
            let by_name = name_of(group).and_then(|name| self.by_key.get(&key_of(name)));
            crate::merge_acl(
                &mut acl,
                by_dn.into_iter().chain(by_name).flatten().cloned(),
            );
        }
        acl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_match_by_dn_or_by_name() {
        let table: BTreeMap<String, String> = [
            (
                "CN=UC admins,OU=Groups,DC=ad,DC=example".to_string(),
                "admins".to_string(),
            ),
            ("staff".to_string(), "users".to_string()),
            ("ghosts".to_string(), "missing".to_string()),
        ]
        .into_iter()
        .collect();
        let policies = |p: &str| match p {
            "admins" => Some(vec!["admin.#".to_string(), "users.read".to_string()]),
            "users" => Some(vec!["users.read".to_string()]),
            _ => None,
        };
        let groups = GroupPolicies::new(&table, policies);
        assert_eq!(
            groups.acl_for(["cn=uc admins, ou=groups, dc=AD, dc=example"]),
            vec!["admin.#", "users.read"],
            "a DN, whatever its case and spaces"
        );
        assert_eq!(
            groups.acl_for(["CN=Staff,OU=Groups,DC=ad,DC=example", "staff"]),
            vec!["users.read"],
            "a name key: a DN by its name, a name by itself"
        );
        assert!(groups.acl_for(["ghosts", "CN=Other,DC=x"]).is_empty());
        // A DN key is that group only: not a same-named group elsewhere,
        // nor a bare name.
        assert!(
            groups
                .acl_for(["CN=UC admins,OU=Elsewhere,DC=x"])
                .is_empty()
        );
        assert!(groups.acl_for(["UC admins"]).is_empty());
    }
}
