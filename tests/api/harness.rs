//! Runs the real `sesame` binary as a child process on a free loopback port.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sesame_backends::Password;
use sesame_backends::password::{HashCost, hash_password};

pub const ALICE_UUID: &str = "63f3dc3c-865d-419e-bec2-e18c4b118224";

/// Cheap hashes keep the tests fast; the cost is read from each hash.
const CHEAP: HashCost = HashCost {
    m_cost: 64,
    t_cost: 1,
    p_cost: 1,
};

pub fn hash(password: &str) -> String {
    hash_password(&Password::new(password), CHEAP).unwrap()
}

/// A port nothing listens on, for a server the test starts. Taken from
/// below the kernel's ephemeral range (32768 and up) and never twice in
/// one run: a port the kernel handed out (`bind :0`) could be handed out
/// again, to a stand-in or to a client socket, before our server bound it,
/// and the test would talk to someone else's server.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Runs of other processes start elsewhere in the range.
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() % 1_000) * 12,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN)
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sesame"))
}

/// A users file with alice (UC user), root (admin) and ws (web service).
pub fn users_yaml(extra_users: &str) -> String {
    format!(
        r#"users:
  - login: alice
    uuid: {ALICE_UUID}
    email: alice@example.org
    profile: default
    password_hash: "{alice}"
    acl: [own.acl]
{extra_users}
admins:
  - login: root
    uuid: 11111111-2222-4333-8444-555555555555
    password_hash: "{root}"
services:
  - login: ws
    uuid: 11111111-2222-4333-8444-666666666666
    password_hash: "{ws}"
"#,
        alice = hash("s3cre7"),
        root = hash("rootpw"),
        ws = hash("wspw"),
    )
}

/// A plain-HTTP configuration; `extra` is appended (later keys win).
pub fn base_config(port: u16, extra: &str) -> String {
    format!(
        r#"listen:
  address: 127.0.0.1
  port: {port}
  tls:
    enabled: false
data_dir: data
users_file: users.yml
file_poll_interval: 1
default_token_lifetime: 7200
max_token_lifetime: 36000
enabled_backend_plugins:
  xivo_user: true
  xivo_admin: true
  xivo_service: false
backend_policies:
  xivo_user: user
policies:
  user: [confd.users.me.read, "!confd.users.me.delete", dird.#]
# Tests fail many logins from 127.0.0.1 on purpose; the throttle has its own tests.
throttle: {{max_failures_per_login: 1000, max_failures_per_address: 1000}}
{extra}"#
    )
}

pub struct Server {
    pub dir: PathBuf,
    pub port: u16,
    pub scheme: &'static str,
    env: Vec<(String, String)>,
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Write `config` and `users` into a new directory and start Sesame there.
    pub fn start(config: impl Fn(u16) -> String, users: &str, env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let port = free_port();
        std::fs::write(dir.join("config.yml"), config(port)).unwrap();
        std::fs::write(dir.join("users.yml"), users).unwrap();
        let mut server = Server {
            dir,
            port,
            scheme: "http",
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            _tmp: Some(tmp),
        };
        server.spawn();
        server
    }

    /// A standard server: alice, root, ws; plain HTTP.
    pub fn standard() -> Server {
        Server::start(|p| base_config(p, ""), &users_yaml(""), &[])
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.yml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("sesame.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{}", self.scheme, self.port, path)
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("-c")
            .arg(self.config_path())
            .env_remove("PLAY_AUTH_TOKEN")
            .env_remove("PLAY_AUTH_TOKEN_PREVIOUS")
            .env_remove("SESAME_DATA_DIR")
            .env_remove("SESAME_REDIS_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let bound_before = self.bound_lines();
        self.child = Some(cmd.spawn().unwrap());
        self.wait_ready(bound_before);
    }

    /// How many times the log says the main listener was bound.
    fn bound_lines(&self) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains("listening (http") && !line.contains("metrics listening"))
            .count()
    }

    /// Sesame binds its port only once everything is built, so an accepted
    /// connection means it is ready.
    ///
    /// The connection must reach this child: the log line it writes once
    /// bound is waited for too (the log is appended to across restarts, so
    /// a new line is counted).
    fn wait_ready(&mut self, bound_before: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "sesame exited with {status} before it was ready:\n{}",
                    self.log()
                );
            }
            if self.bound_lines() > bound_before
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sesame not ready in time:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("sesame did not stop after SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(status.success(), "exit status after SIGTERM: {status}");
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        // No pooled connections: a restarted server must not see stale ones.
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `GET path` on `s`, and its JSON body.
pub async fn get_json(s: &Server, path: &str) -> serde_json::Value {
    client()
        .get(s.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `POST /0.1/token` with HTTP Basic `login:password` and `body`: the
/// status, and the JSON body (`Null` when there is none).
pub async fn create_token(
    s: &Server,
    login: &str,
    password: &str,
    body: serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let r = client()
        .post(s.url("/0.1/token"))
        .basic_auth(login, Some(password))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

/// `POST /xuc/api/2.0/auth/login` with `login` and `password`: the status,
/// and the JSON body (every answer of the UC API has one).
pub async fn uc_login(
    s: &Server,
    login: &str,
    password: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    let r = client()
        .post(s.url("/xuc/api/2.0/auth/login"))
        .json(&serde_json::json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Run the CLI with `args` and `stdin`; returns (success, stdout, stderr).
pub fn cli(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses early (e.g. "already exists") exits without
    // reading its input: a closed pipe is then expected, not a failure.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Retry `check` for up to `secs` seconds (for reloads driven by the server).
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}
