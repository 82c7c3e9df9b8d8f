//! Tenants, as wazo-auth has them: a tree under one top tenant (the
//! `default_tenant_uuid`), declared in the configuration. A token acts in
//! its own tenant and the tenants below it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A tenant as the configuration declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub uuid: Uuid,
    pub name: String,
    /// 1 to 10 letters, digits or `_`, unique (wazo-auth's rule); from the
    /// name when absent.
    #[serde(default)]
    pub slug: Option<String>,
    /// The tenant above it; the top tenant when absent.
    #[serde(default)]
    pub parent: Option<Uuid>,
    /// The names a login's `domain_name` selects it by, unique.
    #[serde(default)]
    pub domain_names: Vec<String>,
}

/// A tenant of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub uuid: Uuid,
    pub name: String,
    pub slug: String,
    /// The top tenant is its own parent, as in wazo-auth.
    pub parent_uuid: Uuid,
    pub domain_names: Vec<String>,
}

/// The name of the top tenant unless the configuration gives one (wazo-auth's).
const TOP_NAME: &str = "master";
const MAX_SLUG: usize = 10;

/// The tenant tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenants {
    top: Uuid,
    all: HashMap<Uuid, Tenant>,
}

fn slug_of(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(MAX_SLUG)
        .collect()
}

impl Tenants {
    /// Only the top tenant.
    pub fn single(top: Uuid) -> Self {
        Tenants::new(top, &[]).unwrap_or_else(|_| Tenants {
            top,
            all: HashMap::new(),
        })
    }

    /// The tree of `configured` under `top` (which `configured` may name,
    /// to give it a name, slug or domains). Errors name the tenant.
    pub fn new(top: Uuid, configured: &[TenantConfig]) -> Result<Self, String> {
        let mut all: HashMap<Uuid, Tenant> = HashMap::new();
        all.insert(
            top,
            Tenant {
                uuid: top,
                name: TOP_NAME.into(),
                slug: TOP_NAME.into(),
                parent_uuid: top,
                domain_names: Vec::new(),
            },
        );
        let mut slugs: HashMap<String, Uuid> = HashMap::new();
        let mut domains: HashMap<String, Uuid> = HashMap::new();
        for (n, t) in configured.iter().enumerate() {
            let at = format!("tenants[{n}] ({})", t.uuid);
            if t.name.is_empty() || t.name.chars().count() > 128 {
                return Err(format!("{at}: the name must be 1 to 128 characters"));
            }
            let slug = t.slug.clone().unwrap_or_else(|| slug_of(&t.name));
            if slug.is_empty()
                || slug.len() > MAX_SLUG
                || !slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!(
                    "{at}: slug {slug:?} must be 1 to {MAX_SLUG} letters, digits or _"
                ));
            }
            let top_here = t.uuid == top;
            if top_here && t.parent.is_some_and(|p| p != top) {
                return Err(format!(
                    "{at}: the top tenant (default_tenant_uuid) has no parent"
                ));
            }
            if !top_here && all.contains_key(&t.uuid) {
                return Err(format!("{at}: this uuid is declared twice"));
            }
            let mut names = Vec::new();
            for domain in &t.domain_names {
                let domain = domain.trim().to_ascii_lowercase();
                if domain.is_empty() || domain.len() > 253 || !domain.contains('.') {
                    return Err(format!("{at}: {domain:?} is not a domain name"));
                }
                if let Some(other) = domains.insert(domain.clone(), t.uuid) {
                    return Err(format!("{at}: domain {domain} is also tenant {other}'s"));
                }
                names.push(domain);
            }
            all.insert(
                t.uuid,
                Tenant {
                    uuid: t.uuid,
                    name: t.name.clone(),
                    slug,
                    parent_uuid: if top_here {
                        top
                    } else {
                        t.parent.unwrap_or(top)
                    },
                    domain_names: names,
                },
            );
        }
        for tenant in all.values() {
            let key = tenant.slug.to_ascii_lowercase();
            if let Some(other) = slugs.insert(key, tenant.uuid) {
                return Err(format!(
                    "tenant {}: slug {} is also tenant {other}'s",
                    tenant.uuid, tenant.slug
                ));
            }
        }
        let tree = Tenants { top, all };
        for tenant in tree.all.values() {
            if !tree.all.contains_key(&tenant.parent_uuid) {
                return Err(format!(
                    "tenant {}: its parent {} is not a declared tenant",
                    tenant.uuid, tenant.parent_uuid
                ));
            }
            if tree.depth(tenant.uuid).is_none() {
                return Err(format!("tenant {}: its parents make a loop", tenant.uuid));
            }
        }
        Ok(tree)
    }

    /// Steps from `uuid` up to the top; `None` for a loop or an unknown tenant.
    fn depth(&self, uuid: Uuid) -> Option<usize> {
        let mut at = uuid;
        for steps in 0..=self.all.len() {
            if at == self.top {
                return Some(steps);
            }
            at = self.all.get(&at)?.parent_uuid;
        }
        None
    }

    pub fn top(&self) -> Uuid {
        self.top
    }

    pub fn get(&self, uuid: Uuid) -> Option<&Tenant> {
        self.all.get(&uuid)
    }

    /// Whether `tenant` is `ancestor` or below it (both declared).
    pub fn within(&self, tenant: Uuid, ancestor: Uuid) -> bool {
        let Some(mut at) = self.all.get(&tenant) else {
            return false;
        };
        for _ in 0..=self.all.len() {
            if at.uuid == ancestor {
                return true;
            }
            if at.uuid == self.top {
                return false;
            }
            match self.all.get(&at.parent_uuid) {
                Some(parent) => at = parent,
                None => return false,
            }
        }
        false
    }

    /// `uuid` and the tenants below it, or only `uuid` unless `recurse`.
    pub fn visible(&self, uuid: Uuid, recurse: bool) -> Vec<&Tenant> {
        let mut found: Vec<&Tenant> = self
            .all
            .values()
            .filter(|t| {
                if recurse {
                    self.within(t.uuid, uuid)
                } else {
                    t.uuid == uuid
                }
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
        found
    }

    /// The tenant a login's `domain_name` names (case-insensitively).
    pub fn by_domain(&self, name: &str) -> Option<&Tenant> {
        let name = name.trim().to_ascii_lowercase();
        self.all.values().find(|t| t.domain_names.contains(&name))
    }

    /// The tenant a login's `tenant_id` names: its uuid or its slug.
    pub fn by_id(&self, id: &str) -> Option<&Tenant> {
        if let Ok(uuid) = Uuid::try_parse(id) {
            return self.all.get(&uuid);
        }
        self.all.values().find(|t| t.slug.eq_ignore_ascii_case(id))
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn tenant(uuid: Uuid, name: &str, parent: Option<Uuid>) -> TenantConfig {
        TenantConfig {
            uuid,
            name: name.into(),
            slug: None,
            parent,
            domain_names: Vec::new(),
        }
    }

    #[test]
    fn a_tree_under_the_top_tenant() {
        let mut acme = tenant(u(2), "Acme Corp", None);
        acme.domain_names = vec!["Acme.Example".into()];
        let tree = Tenants::new(
            u(1),
            &[
                acme,
                tenant(u(3), "Acme Sales", Some(u(2))),
                tenant(u(4), "Other", None),
            ],
        )
        .unwrap();
        assert_eq!(tree.len(), 4);
        assert_eq!(tree.get(u(1)).unwrap().name, "master");
        assert_eq!(tree.get(u(2)).unwrap().slug, "AcmeCorp");
        assert_eq!(tree.get(u(3)).unwrap().slug, "AcmeSales");
        assert!(tree.within(u(3), u(1)) && tree.within(u(3), u(2)) && tree.within(u(3), u(3)));
        assert!(!tree.within(u(2), u(3)), "a parent is not within its child");
        assert!(!tree.within(u(4), u(2)) && !tree.within(u(9), u(1)));
        assert_eq!(tree.by_domain("acme.EXAMPLE").unwrap().uuid, u(2));
        assert_eq!(tree.by_id("acmesales").unwrap().uuid, u(3));
        assert_eq!(tree.by_id(&u(4).to_string()).unwrap().name, "Other");
        assert!(tree.by_id("nobody").is_none());
        let below: Vec<Uuid> = tree.visible(u(2), true).iter().map(|t| t.uuid).collect();
        assert_eq!(below, [u(2), u(3)]);
        assert_eq!(tree.visible(u(2), false).len(), 1);
        assert_eq!(tree.visible(u(1), true).len(), 4);
    }

    #[test]
    fn bad_trees_are_refused_with_the_tenant_named() {
        let top = u(1);
        let cases: Vec<(Vec<TenantConfig>, &str)> = vec![
            (vec![tenant(u(2), "A", Some(u(9)))], "not a declared tenant"),
            (
                vec![tenant(u(2), "A", Some(u(3))), tenant(u(3), "B", Some(u(2)))],
                "loop",
            ),
            (
                vec![tenant(u(2), "A", None), tenant(u(2), "B", None)],
                "twice",
            ),
            (
                vec![tenant(u(2), "A", None), tenant(u(3), "a", None)],
                "slug",
            ),
            (vec![tenant(u(2), "", None)], "name"),
            (
                vec![tenant(top, "Top", Some(u(2))), tenant(u(2), "A", None)],
                "no parent",
            ),
        ];
        for (configured, why) in cases {
            let e = Tenants::new(top, &configured).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let mut a = tenant(u(2), "A", None);
        a.domain_names = vec!["x.example".into()];
        let mut b = tenant(u(3), "B", None);
        b.domain_names = vec!["X.example".into()];
        assert!(Tenants::new(top, &[a, b]).unwrap_err().contains("domain"));
        let mut long = tenant(u(2), "A", None);
        long.slug = Some("much_too_long".into());
        assert!(Tenants::new(top, &[long]).unwrap_err().contains("slug"));
    }
}
