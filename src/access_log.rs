//! The access log: which requests get a line, and where the lines go.
//!
//! A line for every request costs disk and, under systemd, journald's rate
//! limit, which then drops lines that matter (errors, audit events) along
//! with the rest; and any unauthenticated client chooses the rate. So by
//! default (`log.access: errors`) a line is written for the requests an
//! operator looks for: answers that are not 2xx, requests slower than
//! `log.slow_request_ms`, and every request to a route that issues or
//! revokes tokens. The others are only counted
//! (`sesame_access_log_skipped_total`, and `sesame_http_requests_total` has
//! them all by route and status). A line not written is not formatted.
//!
//! With `log.access_file`, the lines go to that file (one JSON object a
//! line) instead of the main log, written by a thread of their own so that
//! a slow disk never holds a request; SIGHUP reopens the file (logrotate's
//! `postrotate`). Lines the writer cannot keep up with are dropped and
//! counted (`sesame_access_log_dropped_total`), never waited for.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

use serde::Deserialize;

/// Which requests get an access line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    /// Every request.
    All,
    /// Non-2xx answers, slow requests, and the routes that issue or revoke
    /// tokens.
    #[default]
    Errors,
    /// None.
    Off,
}

/// The `log` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub access: AccessMode,
    /// With `access: errors`, a request that took longer than this is
    /// logged whatever its answer.
    #[serde(default = "default_slow_ms")]
    pub slow_request_ms: u64,
    /// Write the access lines, as JSON, to this file instead of the main
    /// log; reopened on SIGHUP.
    #[serde(default)]
    pub access_file: Option<PathBuf>,
}

fn default_slow_ms() -> u64 {
    1000
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            access: AccessMode::default(),
            slow_request_ms: default_slow_ms(),
            access_file: None,
        }
    }
}

/// The routes (method and matched pattern) that issue or revoke tokens:
/// always logged with `access: errors`.
const TOKEN_ROUTES: &[(&str, &str)] = &[
    ("POST", "/0.1/token"),
    ("DELETE", "/0.1/token/{token}"),
    ("POST", "/xuc/api/2.0/auth/login"),
    ("POST", "/xuc/api/2.0/auth/logout"),
    ("POST", "/xuc/api/2.0/auth/oidc"),
    ("GET", "/xuc/api/2.0/auth/oidc/callback"),
    ("POST", "/xuc/api/2.0/auth/websession"),
    ("GET", "/xuc/api/2.0/auth/sso"),
    ("GET", "/xuc/api/2.0/auth/cas"),
    ("GET", "/xuc/api/2.0/auth/cas/callback"),
    ("POST", "/xuc/api/2.0/auth/cas/callback"),
    ("POST", "/oauth2/token"),
    ("POST", "/oauth2/revoke"),
];

/// One access line's fields, borrowed: formatted only if written.
#[derive(Debug)]
pub struct Entry<'a> {
    pub request_id: &'a str,
    pub method: &'static str,
    pub client: Option<std::net::IpAddr>,
    pub route: &'a str,
    pub query: &'a str,
    pub status: u16,
    pub elapsed: Duration,
}

enum Message {
    Line(String),
    Reopen,
}

/// Lines waiting for the file writer, at most.
const QUEUE: usize = 16 * 1024;

/// The access log as configured.
#[derive(Debug)]
pub struct AccessLog {
    mode: AccessMode,
    slow: Duration,
    file: Option<SyncSender<Message>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Line(_) => "Line",
            Message::Reopen => "Reopen",
        })
    }
}

impl AccessLog {
    /// The access log of `config`; with a file, the file is opened now (an
    /// error names it) and its writer thread started.
    pub fn new(config: &LogConfig) -> Result<Self, String> {
        let file = match &config.access_file {
            None => None,
            Some(path) => {
                let opened = open(path)?;
                let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
                let path = path.clone();
                std::thread::Builder::new()
                    .name("access-log".into())
                    .spawn(move || write_lines(&path, opened, &receiver))
                    .map_err(|e| format!("cannot start the access log writer: {e}"))?;
                Some(sender)
            }
        };
        Ok(AccessLog {
            mode: config.access,
            slow: Duration::from_millis(config.slow_request_ms),
            file,
        })
    }

    /// Whether `entry` gets a line.
    pub fn wants(&self, entry: &Entry<'_>) -> bool {
        match self.mode {
            AccessMode::All => true,
            AccessMode::Off => false,
            AccessMode::Errors => {
                !(200..300).contains(&entry.status)
                    || entry.elapsed > self.slow
                    || TOKEN_ROUTES
                        .iter()
                        .any(|(m, r)| *m == entry.method && *r == entry.route)
            }
        }
    }

    /// Log `entry` if the mode wants it; count it as skipped otherwise.
    pub fn record(&self, entry: &Entry<'_>) {
        if self.wants(entry) {
            self.write(entry);
        } else {
            crate::metrics::global().access_log_skipped();
        }
    }

    /// Write `entry`'s line (the caller asked [`AccessLog::wants`]).
    pub fn write(&self, entry: &Entry<'_>) {
        match &self.file {
            None => tracing::info!(
                target: "sesame::access",
                request_id = entry.request_id,
                method = entry.method,
                client = entry.client.map(tracing::field::display),
                route = entry.route,
                query = entry.query,
                status = entry.status,
                elapsed_ms = entry.elapsed.as_secs_f64() * 1000.0,
                "request"
            ),
            Some(sender) => {
                let line = serde_json::json!({
                    "timestamp": chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "request_id": entry.request_id,
                    "method": entry.method,
                    "client": entry.client.map(|c| c.to_string()),
                    "route": entry.route,
                    "query": entry.query,
                    "status": entry.status,
                    "elapsed_ms": entry.elapsed.as_secs_f64() * 1000.0,
                })
                .to_string();
                match sender.try_send(Message::Line(line)) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                        crate::metrics::global().access_log_dropped();
                    }
                }
            }
        }
    }

    /// Reopen the access file (after logrotate moved it away).
    pub fn reopen(&self) {
        if let Some(sender) = &self.file
            && sender.try_send(Message::Reopen).is_err()
        {
            tracing::warn!("the access log writer is behind: the file is reopened later");
        }
    }
}

fn open(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("access log {}: {e}", path.display()))
}

/// The writer thread: lines in order, flushed whenever the queue is empty.
fn write_lines(path: &Path, file: std::fs::File, receiver: &Receiver<Message>) {
    let mut out = std::io::BufWriter::new(file);
    while let Ok(first) = receiver.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line(line) => {
                    if let Err(e) = writeln!(out, "{line}") {
                        tracing::warn!(error = %e, file = %path.display(), "cannot write the access log");
                    }
                }
                Message::Reopen => {
                    let _ = out.flush();
                    match open(path) {
                        Ok(file) => out = std::io::BufWriter::new(file),
                        Err(e) => tracing::warn!(error = %e, "cannot reopen the access log"),
                    }
                }
            }
            next = receiver.try_recv().ok();
        }
        if let Err(e) = out.flush() {
            tracing::warn!(error = %e, file = %path.display(), "cannot write the access log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(method: &'static str, route: &'static str, status: u16, ms: u64) -> Entry<'static> {
        Entry {
            request_id: "r1",
            method,
            client: None,
            route,
            query: "",
            status,
            elapsed: Duration::from_millis(ms),
        }
    }

    fn log(mode: AccessMode) -> AccessLog {
        AccessLog::new(&LogConfig {
            access: mode,
            ..LogConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn by_default_errors_slow_requests_and_token_routes_are_logged() {
        let errors = log(AccessMode::Errors);
        assert!(
            !errors.wants(&entry("HEAD", "/0.1/token/{token}", 204, 1)),
            "a check"
        );
        assert!(!errors.wants(&entry("GET", "/healthz", 200, 1)));
        assert!(errors.wants(&entry("HEAD", "/0.1/token/{token}", 404, 1)));
        assert!(errors.wants(&entry("GET", "unmatched", 404, 1)));
        assert!(errors.wants(&entry("GET", "/healthz", 200, 1500)), "slow");
        assert!(errors.wants(&entry("POST", "/0.1/token", 200, 1)), "issues");
        assert!(
            errors.wants(&entry("DELETE", "/0.1/token/{token}", 204, 1)),
            "revokes"
        );
        assert!(errors.wants(&entry("POST", "/oauth2/revoke", 200, 1)));
        assert!(!errors.wants(&entry("GET", "/0.1/token/{token}", 200, 1)));
        assert!(log(AccessMode::All).wants(&entry("GET", "/healthz", 200, 1)));
        assert!(!log(AccessMode::Off).wants(&entry("POST", "/0.1/token", 500, 9000)));
    }

    #[test]
    fn the_file_gets_json_lines_and_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let access = AccessLog::new(&LogConfig {
            access: AccessMode::All,
            access_file: Some(path.clone()),
            ..LogConfig::default()
        })
        .unwrap();
        access.record(&entry("GET", "/healthz", 200, 3));
        let read_lines = |path: &Path| {
            for _ in 0..200 {
                if let Ok(text) = std::fs::read_to_string(path)
                    && !text.is_empty()
                {
                    return text;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            String::new()
        };
        let first: serde_json::Value = serde_json::from_str(read_lines(&path).trim()).unwrap();
        assert_eq!(first["route"], "/healthz");
        assert_eq!(first["status"], 200);
        // logrotate moves the file away, then SIGHUP: a new file.
        let rotated = dir.path().join("access.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        access.reopen();
        access.record(&entry("POST", "/0.1/token", 401, 2));
        let second: serde_json::Value = serde_json::from_str(read_lines(&path).trim()).unwrap();
        assert_eq!(second["status"], 401);
        assert_eq!(
            std::fs::read_to_string(&rotated).unwrap().lines().count(),
            1
        );
    }

    #[test]
    fn an_unwritable_file_is_named_at_start() {
        let err = AccessLog::new(&LogConfig {
            access_file: Some("/nonexistent-dir/access.log".into()),
            ..LogConfig::default()
        })
        .unwrap_err();
        assert!(err.contains("/nonexistent-dir/access.log"), "{err}");
    }
}
