//! Configuration: a YAML file, overlaid by the `conf.d/*.yml` files beside it
//! (in name order), then by environment variables for secrets.
//!
//! Relative paths in the configuration are relative to the main file's
//! directory. An invalid configuration stops start-up with a message naming
//! the file and the key. `docs/configuration.md` is the reference.
//!
//! Three rooms: [`schema`] (what the file may say, with its defaults),
//! [`load`] (layering, the environment, paths resolved against the file)
//! and [`validate`] (what must hold across keys).

mod load;
mod schema;
mod validate;

pub use load::*;
pub use schema::*;
pub use validate::KNOWN_BACKENDS;

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
    use std::path::{Path, PathBuf};
    use yaml_serde::Value;

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
    fn sentinels_and_their_master_name_go_together() {
        let dir = tempfile::tempdir().unwrap();
        for (redis, key) in [
            (
                "sentinels: [\"127.0.0.1:26379\"]",
                "store.redis.master_name",
            ),
            ("master_name: sesame", "store.redis.sentinels"),
            (
                "sentinels: [\"127.0.0.1:26379\"]\n    master_name: \" \"",
                "store.redis.master_name",
            ),
        ] {
            let main = write(
                dir.path(),
                "config.yml",
                &format!("store:\n  type: redis\n  redis:\n    {redis}\n"),
            );
            let err = load(&main).unwrap_err();
            assert!(err.message.contains(key), "{redis}: {err}");
        }
        let main = write(
            dir.path(),
            "config.yml",
            "store:\n  type: redis\n  redis:\n    sentinels: [\"127.0.0.1:26379\"]\n    master_name: sesame\n    min_replicas_acked: 1\n",
        );
        let loaded = load(&main).unwrap();
        assert_eq!(loaded.config.store.redis.min_replicas_acked, 1);
    }

    #[test]
    fn a_kerberos_directory_lookup_needs_a_searchable_directory() {
        let dir = tempfile::tempdir().unwrap();
        let kerberos = "kerberos:\n  service_principals: [HTTP/sso.example.com]\n  allowed_realms: [AD.EXAMPLE.COM]\n  directory_lookup: true\n";
        let ldap = |extra: &str| {
            format!(
                "ldap:\n  uri: ldaps://dc1.example.com\n  user_base_dn: DC=ad\n  user_login_attribute: sAMAccountName\n{extra}"
            )
        };
        let cases = [
            (String::new(), false),
            (ldap(""), false),
            (
                format!("enabled_backend_plugins:\n  ldap_user: true\n{}", ldap("")),
                false,
            ),
            (
                format!(
                    "enabled_backend_plugins:\n  ldap_user: true\n{}",
                    ldap("  bind_dn: CN=svc,DC=ad\n  bind_password: pw\n")
                ),
                true,
            ),
        ];
        for (extra, accepted) in cases {
            let main = write(dir.path(), "config.yml", &format!("{kerberos}{extra}"));
            match load(&main) {
                Ok(_) => assert!(accepted, "accepted: {extra}"),
                Err(e) => {
                    assert!(!accepted, "{e}");
                    assert!(e.message.contains("kerberos.directory_lookup"), "{e}");
                }
            }
        }
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
