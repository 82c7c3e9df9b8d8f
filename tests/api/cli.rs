//! The command line.

use crate::harness::{base_config, cli, free_port};

#[test]
fn hash_password_prints_an_argon2id_hash() {
    let (ok, out, err) = cli(
        &["hash-password", "--m-cost", "64", "--t-cost", "1"],
        "s3cre7\n",
    );
    assert!(ok, "{err}");
    assert!(
        out.trim().starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
        "{out}"
    );
    assert!(!out.contains("s3cre7"));
    let (ok, _, err) = cli(&["hash-password"], "\n");
    assert!(!ok);
    assert!(err.contains("empty password"), "{err}");
}

#[test]
fn user_add_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, base_config(free_port(), "")).unwrap();
    let c = config.to_str().unwrap();
    let (ok, _, err) = cli(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.org",
            "--profile",
            "default",
            "--acl",
            "a.b",
            "--m-cost",
            "64",
            "--t-cost",
            "1",
            "-c",
            c,
        ],
        "carolpw\n",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&["user", "add", "carol", "-c", c], "x\n");
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, _) = cli(
        &[
            "user", "add", "svc", "--kind", "service", "--m-cost", "64", "--t-cost", "1", "-c", c,
        ],
        "svcpw\n",
    );
    assert!(ok);
    let text = std::fs::read_to_string(dir.path().join("users.yml")).unwrap();
    assert!(
        text.contains("carol") && text.contains("$argon2id$") && !text.contains("carolpw"),
        "{text}"
    );
    let (ok, list, _) = cli(&["user", "list", "-c", c], "");
    assert!(ok);
    assert!(
        list.contains("xivo_user\tcarol") && list.contains("xivo_service\tsvc"),
        "{list}"
    );
    let (ok, _, _) = cli(&["user", "remove", "carol", "-c", c], "");
    assert!(ok);
    let (_, list, _) = cli(&["user", "list", "-c", c], "");
    assert!(!list.contains("carol"), "{list}");
    let (ok, _, err) = cli(&["user", "remove", "carol", "-c", c], "");
    assert!(!ok && err.contains("no xivo_user"), "{err}");
}

#[test]
fn invalid_config_stops_start_up_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, base_config(free_port(), "")).unwrap();
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    std::fs::write(
        dir.path().join("conf.d/10-bad.yml"),
        "listen:\n  port: not-a-port\n",
    )
    .unwrap();
    for command in ["serve", "check-config"] {
        let (ok, _, err) = cli(&[command, "-c", config.to_str().unwrap()], "");
        assert!(!ok, "{command} must fail");
        assert!(
            err.contains("10-bad.yml") && err.contains("listen.port"),
            "{command}: {err}"
        );
    }
    std::fs::remove_file(dir.path().join("conf.d/10-bad.yml")).unwrap();
    let (ok, out, err) = cli(&["check-config", "-c", config.to_str().unwrap()], "");
    assert!(ok, "{err}");
    assert!(out.contains("OK"));
}

#[test]
fn xivo_auth_flags_are_accepted() {
    let (ok, out, _) = cli(&["-h"], "");
    assert!(ok);
    for flag in [
        "--config-file",
        "--debug",
        "--log-level",
        "--user",
        "--foreground",
    ] {
        assert!(out.contains(flag), "{flag} in help:\n{out}");
    }
}
