//! The command line: `sesame [OPTIONS] [COMMAND]`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Sesame: a multi-protocol SSO token broker for Unified Communication platforms.
#[derive(Debug, Parser)]
#[command(name = "sesame", version, about)]
pub struct Cli {
    /// The configuration file (YAML); `conf.d/*.yml` beside it are overlays.
    #[arg(
        short = 'c',
        long = "config-file",
        global = true,
        env = "SESAME_CONFIG",
        default_value = "/etc/sesame/config.yml"
    )]
    pub config: PathBuf,
    /// Log debug messages (same as `-l debug`).
    #[arg(short = 'd', long, global = true)]
    pub debug: bool,
    /// Log level: critical, error, warning, info, debug (or a tracing filter).
    #[arg(short = 'l', long = "log-level", global = true)]
    pub log_level: Option<String>,
    /// Log format: `text` (colored on a terminal) or `json` (one object a
    /// line, for log collectors).
    #[arg(
        long = "log-format",
        global = true,
        env = "SESAME_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Write the audit events (authentication attempts, tokens issued and
    /// revoked) to this file as JSON lines, appended, instead of the main log.
    #[arg(long = "audit-log", global = true, env = "SESAME_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Accepted for compatibility with xivo-auth, not applicable: run Sesame as
    /// the wanted user with your service manager (systemd `User=`).
    #[arg(short = 'u', long, global = true)]
    pub user: Option<String>,
    /// Accepted for compatibility with xivo-auth: Sesame always runs in the
    /// foreground.
    #[arg(short = 'f', long, global = true)]
    pub foreground: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP APIs (the default command).
    Serve,
    /// Load and validate the configuration, then exit.
    CheckConfig,
    /// Print an argon2id hash of a password read from standard input.
    HashPassword(HashArgs),
    /// Manage the local accounts of the users file.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage static service tokens (tokens that never expire).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the ACLs a web application's permission document maps to with
    /// the configured `web_session.permission_map` (a dry run: nothing is
    /// asked of the web application).
    WebSessionAcl(WebSessionAclArgs),
    /// Check a configured password backend against its real source.
    #[command(subcommand)]
    Backend(BackendCommand),
}

#[derive(Debug, Subcommand)]
pub enum BackendCommand {
    /// Run the lookup of the `sql` backend NAME for LOGIN and print what it
    /// found (never the password): how an operator checks a preset or a
    /// query against the real database before going live.
    Test {
        /// The backend's name (a key of the `sql` section).
        name: String,
        /// The login to look up (an e-mail with `--email`).
        login: String,
        /// Run the backend's `by_email` query instead, as the identity
        /// mapping does for an e-mail proven by another protocol.
        #[arg(long)]
        email: bool,
    },
    /// Print wazo-auth's tenant tree, read from the database of the `sql`
    /// backend NAME (`auth_tenant`, `auth_tenant_domain`), as Sesame's
    /// `default_tenant_uuid` and `tenants`, to paste into the
    /// configuration.
    Tenants {
        /// The backend's name (a key of the `sql` section).
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct WebSessionAclArgs {
    /// The permission document (JSON: the `permissions` of the web
    /// application's answer, or the whole answer); `-` for standard input.
    #[arg(default_value = "-")]
    pub file: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct HashArgs {
    /// Memory cost in KiB.
    #[arg(long, default_value_t = 19_456)]
    pub m_cost: u32,
    /// Iterations.
    #[arg(long, default_value_t = 2)]
    pub t_cost: u32,
    /// Lanes.
    #[arg(long, default_value_t = 1)]
    pub p_cost: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// A UC user (backend xivo_user).
    User,
    /// An administrator (backend xivo_admin).
    Admin,
    /// A web-service account (backend xivo_service).
    Service,
}

fn parse_purpose(text: &str) -> Result<sesame_backends::local::Purpose, String> {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .map_err(|_| format!("{text:?}: one of user, admin, internal, external_api"))
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account; the password is read from standard input.
    Add {
        login: String,
        #[arg(long, value_enum, default_value = "user")]
        kind: Kind,
        #[arg(long)]
        email: Option<String>,
        /// UC profile (required for UC users to log in).
        #[arg(long)]
        profile: Option<String>,
        /// An ACL of the account (repeatable).
        #[arg(long = "acl")]
        acl: Vec<String>,
        /// Fixed UUID (default: a new one).
        #[arg(long)]
        uuid: Option<uuid::Uuid>,
        /// Create the account disabled.
        #[arg(long)]
        disabled: bool,
        /// The `purpose` its tokens carry (user, admin, internal,
        /// external_api); default: its kind's. Wazo daemons: internal.
        #[arg(long, value_parser = parse_purpose)]
        purpose: Option<sesame_backends::local::Purpose>,
        #[command(flatten)]
        cost: HashArgs,
    },
    /// List accounts.
    List,
    /// Remove an account.
    Remove {
        login: String,
        #[arg(long, value_enum, default_value = "user")]
        kind: Kind,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a static token and print it (it is shown only once).
    Create {
        /// An ACL of the token (repeatable); default `confd.users.read`.
        #[arg(long = "acl")]
        acl: Vec<String>,
        /// A unique name (default: `static-<n>`).
        #[arg(long)]
        name: Option<String>,
    },
    /// List static tokens (names and ACLs; the tokens themselves are not kept).
    List,
    /// Revoke a static token by name or value.
    Revoke { name_or_token: String },
}
