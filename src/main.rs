use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use sesame::cli::{Cli, Command, HashArgs, Kind, TokenCommand, UserCommand};
use sesame::clock::{Clock, SystemClock};
use sesame::config::{self, LoadedConfig};
use sesame::token::statics::StaticTokensFile;
use sesame_backends::Password;
use sesame_backends::local::{AccountKind, LocalAccount};
use sesame_backends::password::{HashCost, hash_password};

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process, before anything uses rustls.
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("sesame: a TLS crypto provider was already installed");
    }
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli) {
        eprintln!("sesame: {e:#}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sesame: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli) -> anyhow::Result<()> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let level = match (cli.debug, cli.log_level.as_deref()) {
        (true, _) => "debug".to_string(),
        (false, Some("critical")) => "error".to_string(),
        (false, Some("warning")) => "warn".to_string(),
        (false, Some(other)) => other.to_string(),
        (false, None) => std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
    };
    let mut filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // With an audit file, audit events go there only.
    let audit = match &cli.audit_log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("audit log {}", path.display()))?;
            filter = filter.add_directive(
                format!("{}=off", sesame::audit::TARGET)
                    .parse()
                    .context("audit log filter")?,
            );
            let only_audit = tracing_subscriber::filter::Targets::new()
                .with_target(sesame::audit::TARGET, tracing::Level::INFO);
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::sync::Mutex::new(file))
                    .with_filter(only_audit),
            )
        }
        None => None,
    };
    let main_log = match cli.log_format {
        sesame::cli::LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        sesame::cli::LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(main_log.with_filter(filter))
        .with(audit)
        .init();
    Ok(())
}

fn load(cli: &Cli) -> anyhow::Result<LoadedConfig> {
    Ok(config::load(&cli.config)?)
}

fn run(mut cli: Cli) -> anyhow::Result<()> {
    if let Some(user) = &cli.user {
        tracing::warn!(
            user,
            "-u/--user is not applicable: run sesame as the wanted user (systemd User=)"
        );
    }
    match cli.command.take() {
        None | Some(Command::Serve) => {
            let config = load(&cli)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(sesame::server::serve(config))
        }
        Some(Command::CheckConfig) => {
            let config = load(&cli)?;
            if let Some(path) = config.users_file() {
                sesame::users::read(&path).map_err(anyhow::Error::msg)?;
            }
            StaticTokensFile::load(&config.static_tokens_file()).map_err(anyhow::Error::msg)?;
            // The sql backends' settings (their queries meet the database
            // only when Sesame starts, or with `sesame backend test`).
            let hasher = sesame_backends::PasswordHasher::new(1).map_err(anyhow::Error::msg)?;
            for name in config.config.sql.keys() {
                if let Some(sql) = config.sql(name) {
                    sesame_backends::sql::SqlBackend::new(name, &sql, Vec::new(), hasher.clone())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
            println!("{}: OK", cli.config.display());
            Ok(())
        }
        Some(Command::HashPassword(cost)) => {
            let password = read_password("Password: ")?;
            println!("{}", hash(&password, &cost)?);
            Ok(())
        }
        Some(Command::User(command)) => user_command(&load(&cli)?, command),
        Some(Command::Token(command)) => token_command(&load(&cli)?, command),
        Some(Command::WebSessionAcl(args)) => web_session_acl(&load(&cli)?, &args),
        Some(Command::Backend(command)) => {
            use sesame::cli::BackendCommand;
            let config = load(&cli)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let report = runtime.block_on(async {
                match command {
                    BackendCommand::Test { name, login, email } => {
                        sesame::server::backend_test(&config, &name, &login, email).await
                    }
                    BackendCommand::Tenants { name } => {
                        sesame::server::backend_tenants(&config, &name).await
                    }
                }
            })?;
            print!("{report}");
            Ok(())
        }
    }
}

/// `sesame web-session-acl [FILE]`: the permission paths of a document and
/// the ACLs they map to, one per line.
fn web_session_acl(
    config: &LoadedConfig,
    args: &sesame::cli::WebSessionAclArgs,
) -> anyhow::Result<()> {
    let Some(web) = config.web_session() else {
        bail!("the configuration has no web_session section");
    };
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let document: serde_json::Value =
        serde_json::from_str(&text).context("the permission document is not JSON")?;
    // A whole answer, or only its permissions.
    let superuser = document
        .get("superuser")
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    let permissions = document.get("permissions").unwrap_or(&document);
    let paths = sesame_federation::websession::flatten_permissions(permissions);
    let acl =
        sesame::login::external::web_session_acl(&web, &config.config.policies, &paths, superuser);
    println!("# permissions ({})", paths.len());
    for path in &paths {
        let mapped = if web.permission_map.contains_key(path) {
            ""
        } else {
            "  (unmapped)"
        };
        println!("{path}{mapped}");
    }
    println!("# acl ({})", acl.len());
    for entry in &acl {
        println!("{entry}");
    }
    Ok(())
}

fn hash(password: &Password, cost: &HashArgs) -> anyhow::Result<String> {
    if password.is_empty() {
        bail!("refusing to hash an empty password");
    }
    hash_password(
        password,
        HashCost {
            m_cost: cost.m_cost,
            t_cost: cost.t_cost,
            p_cost: cost.p_cost,
        },
    )
    .map_err(anyhow::Error::msg)
}

/// A password from the terminal (not echoed) or the first line of stdin.
fn read_password(prompt: &str) -> anyhow::Result<Password> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt)?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        return Ok(Password::new(first));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(Password::new(line.trim_end_matches(['\r', '\n'])))
}

fn account_kind(kind: Kind) -> AccountKind {
    match kind {
        Kind::User => AccountKind::User,
        Kind::Admin => AccountKind::Admin,
        Kind::Service => AccountKind::Service,
    }
}

fn user_command(config: &LoadedConfig, command: UserCommand) -> anyhow::Result<()> {
    let path = config
        .users_file()
        .context("the configuration names no users_file")?;
    let mut file = sesame::users::read(&path).map_err(anyhow::Error::msg)?;
    match command {
        UserCommand::List => {
            for kind in AccountKind::ALL {
                for a in file.accounts(kind) {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        kind.backend_name(),
                        a.login,
                        a.uuid,
                        a.email.as_deref().unwrap_or("-"),
                        if a.enabled { "enabled" } else { "disabled" }
                    );
                }
            }
            Ok(())
        }
        UserCommand::Add {
            login,
            kind,
            email,
            profile,
            acl,
            uuid,
            disabled,
            purpose,
            cost,
        } => {
            let kind = account_kind(kind);
            if file.accounts(kind).iter().any(|a| a.login == login) {
                bail!("{} {login:?} already exists", kind.backend_name());
            }
            let password = read_password("Password: ")?;
            let account = LocalAccount {
                login: login.clone(),
                uuid: uuid.unwrap_or_else(uuid::Uuid::new_v4),
                password_hash: hash(&password, &cost)?,
                email,
                profile,
                enabled: !disabled,
                acl,
                metadata: Default::default(),
                tenant_uuid: None,
                purpose,
            };
            let uuid = account.uuid;
            file.accounts_mut(kind).push(account);
            sesame::users::write(&path, &file).map_err(anyhow::Error::msg)?;
            println!("added {} {login} ({uuid})", kind.backend_name());
            Ok(())
        }
        UserCommand::Remove { login, kind } => {
            let kind = account_kind(kind);
            let accounts = file.accounts_mut(kind);
            let before = accounts.len();
            accounts.retain(|a| a.login != login);
            if accounts.len() == before {
                bail!("no {} named {login:?}", kind.backend_name());
            }
            sesame::users::write(&path, &file).map_err(anyhow::Error::msg)?;
            println!("removed {} {login}", kind.backend_name());
            Ok(())
        }
    }
}

fn token_command(config: &LoadedConfig, command: TokenCommand) -> anyhow::Result<()> {
    let path = config.static_tokens_file();
    let mut file = StaticTokensFile::load(&path).map_err(anyhow::Error::msg)?;
    match command {
        TokenCommand::Create { acl, name } => {
            let acl = if acl.is_empty() {
                vec!["confd.users.read".to_string()]
            } else {
                acl
            };
            let name = name.unwrap_or_else(|| {
                (1..)
                    .map(|n| format!("static-{n}"))
                    .find(|candidate| !file.tokens.iter().any(|t| &t.name == candidate))
                    .unwrap_or_else(|| "static".into())
            });
            let token = file
                .create(&name, acl, SystemClock.now())
                .map_err(anyhow::Error::msg)?;
            file.save(&path).map_err(anyhow::Error::msg)?;
            println!("{token}");
            eprintln!(
                "static token {name:?} created in {}; it is shown only once",
                path.display()
            );
            Ok(())
        }
        TokenCommand::List => {
            for t in &file.tokens {
                println!(
                    "{}\t{}…\t{}\t{}",
                    t.name,
                    t.sha256.get(..12).unwrap_or(&t.sha256),
                    t.created_at.as_deref().unwrap_or("-"),
                    t.acl.join(",")
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { name_or_token } => {
            if !file.revoke(&name_or_token) {
                bail!("no static token named {name_or_token:?}");
            }
            file.save(&path).map_err(anyhow::Error::msg)?;
            println!("revoked");
            Ok(())
        }
    }
}
