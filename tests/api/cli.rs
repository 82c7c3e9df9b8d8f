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

/// `sql` sections are checked by `check-config` without a database: names,
/// the URL (never with a password in it), the preset or query.
#[test]
fn sql_backends_are_checked_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    // `plugins: {name: true}` lines go into base_config's own section.
    let check = |extra: &str| {
        let (plugins, rest) = match extra.strip_prefix("plugins:") {
            Some(tail) => tail.split_once('\n').unwrap_or((tail, "")),
            None => ("", extra),
        };
        let text = base_config(free_port(), rest).replace(
            "enabled_backend_plugins:\n",
            &format!("enabled_backend_plugins:\n{plugins}\n"),
        );
        std::fs::write(&config, text).unwrap();
        cli(&["check-config", "-c", config.to_str().unwrap()], "")
    };
    let good = "plugins:  wazo_db: true\n\
                sql:\n  xivo_user: {url: 'postgresql://sesame@127.0.0.1:1/asterisk', preset: xivo}\n  \
                wazo_db: {url: 'postgresql://sesame@127.0.0.1:1/wazo', preset: wazo}\n";
    let (ok, out, err) = check(good);
    assert!(ok, "{err}");
    assert!(out.contains("OK"));
    for (extra, why) in [
        (
            "sql:\n  wazo_user: {url: 'postgresql://s@127.0.0.1/w', preset: wazo}\n",
            "wazo_user is how Wazo clients ask",
        ),
        ("plugins:  elsewhere: true\n", "unknown backend"),
        (
            "sql:\n  mine: {url: 'postgresql://s:hunter2@127.0.0.1/w', preset: wazo}\n",
            "password_env or password_file",
        ),
        (
            "sql:\n  mine: {url: 'postgresql://s@127.0.0.1/w', preset: xivo}\n",
            "xivo_user, xivo_service and xivo_admin",
        ),
        (
            "sql:\n  mine: {url: 'postgresql://s@127.0.0.1/w', by_login: 'SELECT 1'}\n",
            "$1",
        ),
    ] {
        let (ok, _, err) = check(extra);
        assert!(!ok && err.contains(why), "{extra}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
