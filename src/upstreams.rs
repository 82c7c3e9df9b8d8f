//! The upstreams `/readyz` reports on: can Sesame reach the LDAP directory,
//! the CAS server, the OpenID providers, the web application, the `sql`
//! backends' databases, and read its keytab? Each check is cheap (a TCP
//! connection, a file open, a pooled connection and prepared queries) and
//! the results are kept a few seconds, so probing `/readyz` every second
//! costs the upstreams almost nothing.
//!
//! A failing upstream makes Sesame "degraded", not unready: every instance
//! shares the same upstreams, so taking instances out of a load balancer
//! would only stop the logins and token checks that still work.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_backends::ldap::LdapBackend;
use sesame_backends::sql::SqlBackend;

use tokio::sync::Mutex;

/// How long results are reused.
const FRESH_FOR: Duration = Duration::from_secs(5);
/// How long one check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// What to check for one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connection to host:port.
    Tcp(String, u16),
    /// A file that must be readable.
    File(PathBuf),
    /// An `sql` backend's database: a connection from the backend's own
    /// pool, as Sesame's user, and its queries prepared and fitting.
    Database(DatabaseProbe),
    /// One server of the LDAP backend: a connection (TLS included, as
    /// logins make it) and the service account's bind.
    Directory(DirectoryProbe),
    /// The servers the LDAP backend's `srv_domain` names: the DNS lookup,
    /// then each server as [`Probe::Directory`] checks it.
    DiscoveredDirectories(DirectoryProbe),
}

/// The LDAP backend, and which of its servers is probed.
#[derive(Debug, Clone)]
pub struct DirectoryProbe(pub Arc<LdapBackend>, pub String);

impl PartialEq for DirectoryProbe {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) && self.1 == other.1
    }
}

impl Eq for DirectoryProbe {}

/// The backend whose database is probed (the very one logins use).
#[derive(Debug, Clone)]
pub struct DatabaseProbe(pub Arc<SqlBackend>);

impl PartialEq for DatabaseProbe {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for DatabaseProbe {}

impl Probe {
    /// The TCP probe for a URL (`http`, `https`, `ldap`, `ldaps`).
    pub fn for_url(url: &str) -> Option<Probe> {
        let parsed = url::Url::parse(url).ok()?;
        let default_port = match parsed.scheme() {
            "ldap" => Some(389),
            "ldaps" => Some(636),
            "postgresql" | "postgres" => Some(5432),
            _ => None,
        };
        let port = parsed.port_or_known_default().or(default_port)?;
        Some(Probe::Tcp(parsed.host_str()?.to_owned(), port))
    }

    async fn run(&self) -> Result<(), String> {
        match self {
            Probe::Tcp(host, port) => {
                match tokio::time::timeout(
                    CHECK_TIMEOUT,
                    tokio::net::TcpStream::connect((host.as_str(), *port)),
                )
                .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("{host}:{port}: {e}")),
                    Err(_) => Err(format!("{host}:{port}: no answer within 1 s")),
                }
            }
            Probe::File(path) => std::fs::File::open(path)
                .map(|_| ())
                .map_err(|e| format!("{}: {e}", path.display())),
            Probe::Directory(DirectoryProbe(backend, uri)) => {
                // A TLS handshake and a bind take longer than a TCP connect.
                match tokio::time::timeout(3 * CHECK_TIMEOUT, backend.check_server(uri)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("{uri}: no answer within 3 s")),
                }
            }
            Probe::DiscoveredDirectories(DirectoryProbe(backend, name)) => {
                // A DNS lookup, then a handshake and a bind per server.
                match tokio::time::timeout(6 * CHECK_TIMEOUT, backend.check_discovered()).await {
                    Ok(result) => result.map(|_| ()),
                    Err(_) => Err(format!("{name}: no answer within 6 s")),
                }
            }
            Probe::Database(DatabaseProbe(backend)) => {
                match tokio::time::timeout(CHECK_TIMEOUT, backend.check()).await {
                    Ok(Ok(Ok(()))) => Ok(()),
                    Ok(Ok(Err(down))) => Err(down),
                    Ok(Err(unfit)) => Err(unfit.to_string()),
                    Err(_) => Err("no answer within 1 s".into()),
                }
            }
        }
    }
}

/// The configured upstreams and their last results.
#[derive(Debug)]
pub struct Upstreams {
    /// Changed by a configuration reload (`set`).
    probes: parking_lot::RwLock<Vec<(String, Probe)>>,
    last: Mutex<Option<(Instant, BTreeMap<String, String>)>>,
}

impl Upstreams {
    pub fn new(probes: Vec<(String, Probe)>) -> Self {
        Upstreams {
            probes: parking_lot::RwLock::new(probes),
            last: Mutex::new(None),
        }
    }

    /// Probe `name` with `probe` from now on, or no more when `None`
    /// (a reloaded configuration moved or removed that upstream).
    pub fn set(&self, name: &str, probe: Option<Probe>) {
        let mut probes = self.probes.write();
        probes.retain(|(n, _)| n != name);
        probes.extend(probe.map(|p| (name.to_owned(), p)));
        probes.sort_by(|a, b| a.0.cmp(&b.0));
        drop(probes);
        if let Ok(mut last) = self.last.try_lock() {
            *last = None;
        }
    }

    /// The names of the upstreams probed now.
    pub fn names(&self) -> Vec<String> {
        self.probes.read().iter().map(|(n, _)| n.clone()).collect()
    }

    /// Each upstream's state: `ok`, or `unreachable: why`.
    pub async fn status(&self) -> BTreeMap<String, String> {
        let mut last = self.last.lock().await;
        if let Some((at, results)) = last.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return results.clone();
        }
        let probes = self.probes.read().clone();
        let checks = probes.into_iter().map(|(name, probe)| async move {
            let state = match probe.run().await {
                Ok(()) => "ok".to_owned(),
                Err(why) => format!("unreachable: {why}"),
            };
            (name, state)
        });
        let results: BTreeMap<String, String> = futures_join(checks).await;
        *last = Some((Instant::now(), results.clone()));
        results
    }
}

/// Run the checks concurrently.
async fn futures_join<F>(checks: impl Iterator<Item = F>) -> BTreeMap<String, String>
where
    F: std::future::Future<Output = (String, String)> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for check in checks {
        set.spawn(check);
    }
    let mut results = BTreeMap::new();
    while let Some(done) = set.join_next().await {
        if let Ok((name, state)) = done {
            results.insert(name, state);
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_and_port() {
        assert_eq!(
            Probe::for_url("ldap://dir.example.org"),
            Some(Probe::Tcp("dir.example.org".into(), 389))
        );
        assert_eq!(
            Probe::for_url("ldaps://dir.example.org:1636"),
            Some(Probe::Tcp("dir.example.org".into(), 1636))
        );
        assert_eq!(
            Probe::for_url("https://cas.example.org/cas"),
            Some(Probe::Tcp("cas.example.org".into(), 443))
        );
        assert_eq!(Probe::for_url("not a url"), None);
    }

    #[tokio::test]
    async fn results_name_what_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().port();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let upstreams = Upstreams::new(vec![
            ("cas".into(), Probe::Tcp("127.0.0.1".into(), open)),
            ("ldap".into(), Probe::Tcp("127.0.0.1".into(), closed)),
            ("kerberos".into(), Probe::File("/nonexistent/keytab".into())),
        ]);
        let status = upstreams.status().await;
        assert_eq!(status["cas"], "ok");
        assert!(
            status["ldap"].starts_with("unreachable: 127.0.0.1:"),
            "{status:?}"
        );
        assert!(
            status["kerberos"].contains("/nonexistent/keytab"),
            "{status:?}"
        );
    }
}
