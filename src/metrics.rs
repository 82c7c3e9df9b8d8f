//! Prometheus metrics, served at `/metrics` (text format).
//!
//! One registry per process ([`global`]): the HTTP layer, the audit events
//! and the store errors feed it from where they happen. Label values come
//! from fixed sets (route patterns, backend and protocol names, outcomes),
//! never from client input, so the number of series stays bounded.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    method: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

/// The outcome of a token check, each a series of `token_checks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    Valid,
    /// A scope not granted.
    Forbidden,
    /// Unknown, revoked or malformed.
    Invalid,
    Expired,
    /// The store did not answer.
    Unavailable,
}

impl CheckOutcome {
    const ALL: [CheckOutcome; 5] = [
        CheckOutcome::Valid,
        CheckOutcome::Forbidden,
        CheckOutcome::Invalid,
        CheckOutcome::Expired,
        CheckOutcome::Unavailable,
    ];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            CheckOutcome::Valid => "valid",
            CheckOutcome::Forbidden => "forbidden",
            CheckOutcome::Invalid => "invalid",
            CheckOutcome::Expired => "expired",
            CheckOutcome::Unavailable => "unavailable",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerOutcomeLabels {
    server: String,
    outcome: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Sesame's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    authentications: Family<AuthLabels, Counter>,
    tokens_issued: Family<MethodLabels, Counter>,
    tokens_revoked: Counter,
    store_errors: Family<KindLabels, Counter>,
    live_tokens: Gauge,
    store_commit_seconds: Histogram,
    store_commit_operations: Counter,
    /// One counter per [`CheckOutcome`], in its order, made once: the check
    /// path counts without hashing labels or allocating.
    token_checks: [Counter; CheckOutcome::ALL.len()],
    access_log_skipped: Counter,
    access_log_dropped: Counter,
    ldap_connections: Family<ServerOutcomeLabels, Counter>,
    ldap_server_up: Family<ServerLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sesame");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route pattern, method and status",
            requests.clone(),
        );
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route pattern",
            latency.clone(),
        );
        let authentications = Family::<AuthLabels, Counter>::default();
        registry.register(
            "authentications",
            "Authentication attempts by method (password backend, uc_login or protocol) and outcome (accepted, refused, throttled, unavailable)",
            authentications.clone(),
        );
        let tokens_issued = Family::<MethodLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Tokens issued, by method",
            tokens_issued.clone(),
        );
        let tokens_revoked = Counter::default();
        registry.register("tokens_revoked", "Tokens revoked", tokens_revoked.clone());
        let store_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "store_errors",
            "Token store errors (unavailable: the store did not answer; internal)",
            store_errors.clone(),
        );
        let checks = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "token_checks",
            "Token checks (/0.1/token/{token}, the UC check, the gateway) by outcome: valid, forbidden (a scope not granted), invalid (unknown, revoked, malformed), expired, unavailable (the store did not answer)",
            checks.clone(),
        );
        let token_checks = CheckOutcome::ALL.map(|outcome| {
            checks
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.label().to_owned(),
                })
                .clone()
        });
        let store_commit_seconds = latency_histogram();
        registry.register(
            "store_commit_seconds",
            "Embedded store: time of each write transaction, from its start to its data on disk (fsync included); its count is the number of commits",
            store_commit_seconds.clone(),
        );
        let store_commit_operations = Counter::default();
        registry.register(
            "store_commit_operations",
            "Embedded store: token writes, revocations and expiry sweeps committed; divided by the commits, the operations that share one",
            store_commit_operations.clone(),
        );
        let live_tokens = Gauge::default();
        registry.register(
            "live_tokens",
            "Tokens in the embedded store, at the last scrape (not set with Redis)",
            live_tokens.clone(),
        );
        let access_log_skipped = Counter::default();
        registry.register(
            "access_log_skipped",
            "Requests answered without an access line (log.access: errors or off); sesame_http_requests_total counts them all",
            access_log_skipped.clone(),
        );
        let access_log_dropped = Counter::default();
        registry.register(
            "access_log_dropped",
            "Access lines dropped because the access file's writer could not keep up",
            access_log_dropped.clone(),
        );
        let ldap_connections = Family::<ServerOutcomeLabels, Counter>::default();
        registry.register(
            "ldap_server_connections",
            "Connections to each configured directory server (host:port), by outcome (reached, failed)",
            ldap_connections.clone(),
        );
        let ldap_server_up = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "ldap_server_up",
            "Whether the last connection to each configured directory server was made (1) or not (0)",
            ldap_server_up.clone(),
        );
        Metrics {
            registry,
            ldap_connections,
            ldap_server_up,
            access_log_skipped,
            access_log_dropped,
            requests,
            latency,
            authentications,
            tokens_issued,
            tokens_revoked,
            store_errors,
            live_tokens,
            store_commit_seconds,
            store_commit_operations,
            token_checks,
        }
    }

    /// A token checked.
    pub fn token_check(&self, outcome: CheckOutcome) {
        // `token_checks` is `CheckOutcome::ALL` mapped, in the enum's order
        // (`outcomes_are_listed_in_their_order`).
        if let Some(counter) = self.token_checks.get(outcome as usize) {
            counter.inc();
        }
    }

    /// A request answered; `route` is the route pattern, or `unmatched`;
    /// `method` one of [`method_label`]'s (never the client's own text).
    pub fn request(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn authentication(&self, method: &str, outcome: &str) {
        self.authentications
            .get_or_create(&AuthLabels {
                method: method.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn token_issued(&self, method: &str) {
        self.tokens_issued
            .get_or_create(&MethodLabels {
                method: method.to_owned(),
            })
            .inc();
    }

    pub fn access_log_skipped(&self) {
        self.access_log_skipped.inc();
    }

    pub fn access_log_dropped(&self) {
        self.access_log_dropped.inc();
    }

    pub fn token_revoked(&self) {
        self.tokens_revoked.inc();
    }

    pub fn store_error(&self, kind: &str) {
        self.store_errors
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// A write transaction of the embedded store, `operations` in it.
    pub fn store_commit(&self, operations: usize, seconds: f64) {
        self.store_commit_seconds.observe(seconds);
        self.store_commit_operations
            .inc_by(u64::try_from(operations).unwrap_or(u64::MAX));
    }

    /// A connection attempt to the directory server `server` (a
    /// configured `host:port`, so the label set stays bounded).
    pub fn ldap_connection(&self, server: &str, reached: bool) {
        let outcome = if reached { "reached" } else { "failed" };
        self.ldap_connections
            .get_or_create(&ServerOutcomeLabels {
                server: server.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.ldap_server_up
            .get_or_create(&ServerLabels {
                server: server.to_owned(),
            })
            .set(i64::from(reached));
    }

    pub fn set_live_tokens(&self, count: usize) {
        self.live_tokens
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The LDAP backend's connection attempts, into the process's metrics.
#[derive(Debug, Clone, Copy)]
pub struct LdapServerMetrics;

impl sesame_backends::ldap::ServerObserver for LdapServerMetrics {
    fn connection(&self, server: &str, reached: bool) {
        global().ldap_connection(server, reached);
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The label of an HTTP method: the standard ones by name, anything else a
/// client sends `other`, so that no client can add label values (each one a
/// series kept for ever, and a line of every scrape).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    STANDARD
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, label)| label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_listed_in_their_order() {
        for (i, outcome) in CheckOutcome::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i, "{outcome:?}");
        }
    }

    #[test]
    fn series_are_encoded_with_their_labels() {
        let m = Metrics::new();
        m.request("/0.1/token", "POST", 200, 0.002);
        m.authentication("xivo_user", "accepted");
        m.authentication("xivo_user", "accepted");
        m.token_issued("xivo_user");
        m.store_error("unavailable");
        m.set_live_tokens(7);
        m.ldap_connection("dc1.example.test:636", true);
        m.ldap_connection("dc2.example.test:636", true);
        m.ldap_connection("dc2.example.test:636", false);
        m.token_check(CheckOutcome::Forbidden);
        m.token_check(CheckOutcome::Forbidden);
        m.token_check(CheckOutcome::Unavailable);
        m.store_commit(3, 0.0015);
        m.store_commit(1, 0.0004);
        let text = m.encode();
        for line in [
            r#"sesame_http_requests_total{route="/0.1/token",method="POST",status="200"} 1"#,
            r#"sesame_http_request_duration_seconds_count{route="/0.1/token"} 1"#,
            r#"sesame_authentications_total{method="xivo_user",outcome="accepted"} 2"#,
            r#"sesame_tokens_issued_total{method="xivo_user"} 1"#,
            r#"sesame_store_errors_total{kind="unavailable"} 1"#,
            r#"sesame_ldap_server_connections_total{server="dc2.example.test:636",outcome="failed"} 1"#,
            r#"sesame_ldap_server_connections_total{server="dc2.example.test:636",outcome="reached"} 1"#,
            r#"sesame_ldap_server_up{server="dc1.example.test:636"} 1"#,
            r#"sesame_ldap_server_up{server="dc2.example.test:636"} 0"#,
            "sesame_live_tokens 7",
            r#"sesame_token_checks_total{outcome="forbidden"} 2"#,
            r#"sesame_token_checks_total{outcome="unavailable"} 1"#,
            r#"sesame_token_checks_total{outcome="valid"} 0"#,
            "sesame_store_commit_seconds_count 2",
            "sesame_store_commit_seconds_bucket{le=\"0.0008\"} 1",
            "sesame_store_commit_operations_total 4",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
