//! Password checks: a login/password goes to a backend, under the
//! brute-force throttle, and what the backend vouches for becomes an
//! [`Identity`] for the login broker ([`crate::login`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use sesame_backends::{AccountKey, Backend, BackendError, Lookup, Password, VerifiedIdentity};

use crate::login::Identity;
use crate::throttle::{LoginThrottle, ThrottleConfig};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("unknown or disabled backend {0:?}")]
    UnknownBackend(String),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// Too many failures for this login or from this address: retry after
    /// that many seconds.
    #[error("too many failed attempts, retry in {0} s")]
    Throttled(u64),
}

impl From<BackendError> for AuthError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::InvalidCredentials => AuthError::InvalidCredentials,
            BackendError::Unavailable(m) => AuthError::Unavailable(m),
            BackendError::Internal(m) => AuthError::Internal(m),
        }
    }
}

type Backends = BTreeMap<String, Arc<dyn Backend>>;

fn by_name(backends: Vec<Arc<dyn Backend>>) -> Backends {
    backends
        .into_iter()
        .map(|b| (b.name().to_owned(), b))
        .collect()
}

/// The orders in which logins that name no backend try them.
#[derive(Debug, Clone, Default)]
pub struct LoginOrder {
    /// The UC login's (`uc_api.login_backends`).
    pub uc: Vec<String>,
    /// `POST /0.1/token` without a backend (`default_backends`).
    pub default: Vec<String>,
}

/// Which backends a login tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendChoice {
    /// The one named.
    Named(String),
    /// The UC login's, in order.
    Uc,
    /// Those of a login that names none, in order.
    Default,
}

/// What a backend says of an account asked for without its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    Yes,
    No,
    /// The backend cannot look accounts up (LDAP without a service
    /// account).
    CannotSay,
    /// No backend of that name is enabled.
    NoSuchBackend,
}

/// The enabled password backends, by name.
pub struct Authenticator {
    /// Replaced as a whole when the configuration is reloaded.
    backends: arc_swap::ArcSwap<Backends>,
    /// Backends the UC login tries, in order.
    uc_login_backends: Vec<String>,
    /// Backends a login that names none tries, in order.
    default_backends: Vec<String>,
    throttle: LoginThrottle,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("backends", &self.backend_names())
            .field("uc_login_backends", &self.uc_login_backends)
            .field("default_backends", &self.default_backends)
            .finish()
    }
}

impl Authenticator {
    pub fn new(
        backends: Vec<Arc<dyn Backend>>,
        order: LoginOrder,
        throttle: ThrottleConfig,
        shared_counters: Option<crate::store::redis::RedisCounters>,
    ) -> Self {
        Authenticator {
            backends: arc_swap::ArcSwap::from_pointee(by_name(backends)),
            uc_login_backends: order.uc,
            default_backends: order.default,
            throttle: LoginThrottle::new(throttle, shared_counters),
        }
    }

    /// Run `attempt` if `login` and `address` have an attempt left, taken
    /// before the password is checked so that concurrent guesses cannot
    /// outrun the count; then settle it: wrong credentials are a failure, a
    /// success clears the login, a check that could not be made counts
    /// nothing.
    ///
    /// The check and its settling run as a task of their own: a client that
    /// goes away during the check cancels neither (its guess is counted as
    /// any other, and its place is given back when the check ends, not
    /// before, so that disconnecting cannot pile up checks).
    async fn throttled<F>(
        self: &Arc<Self>,
        method: &str,
        login: &str,
        address: Option<&str>,
        attempt: F,
    ) -> Result<Identity, AuthError>
    where
        F: std::future::Future<Output = Result<Identity, AuthError>> + Send + 'static,
    {
        use crate::audit::{self, Outcome};
        // The account a login form names, so that `DOMAIN\\alice`,
        // `alice@upn-suffix` and `alice` share one counter.
        let account = self.account_name(method, login);
        let taken = match self.throttle.take(&account, address).await {
            Ok(taken) => taken,
            Err(wait) => {
                tracing::warn!(login = %audit::loggable(login), address, retry_after = wait, "login throttled");
                audit::attempt(method, login, Outcome::Throttled, None, address);
                return Err(AuthError::Throttled(wait));
            }
        };
        let this = Arc::clone(self);
        let (method, login, address) = (
            method.to_owned(),
            login.to_owned(),
            address.map(str::to_owned),
        );
        let checked = crate::request_id::scope(crate::request_id::current(), async move {
            let outcome = attempt.await;
            this.settle(taken, &method, &login, address.as_deref(), &outcome)
                .await;
            outcome
        });
        tokio::spawn(checked)
            .await
            .unwrap_or_else(|e| Err(AuthError::Internal(format!("the login check stopped: {e}"))))
    }

    /// The account `login` stands for under `method` (a backend's name, or
    /// a login order): the first backend of the order that reads a login
    /// form in it says.
    fn account_name(&self, method: &str, login: &str) -> String {
        let backends = self.backends();
        let order: &[String] = match method {
            "uc_login" => &self.uc_login_backends,
            "default_backends" => &self.default_backends,
            _ => &[],
        };
        let named = backends.get(method).into_iter();
        let ordered = order.iter().filter_map(|name| backends.get(name));
        for backend in named.chain(ordered) {
            let account = backend.account_name(login);
            if account != login {
                return account.to_owned();
            }
        }
        login.to_owned()
    }

    /// Count a checked attempt in the throttle and the audit log.
    async fn settle(
        &self,
        taken: crate::throttle::Attempt,
        method: &str,
        login: &str,
        address: Option<&str>,
        outcome: &Result<Identity, AuthError>,
    ) {
        use crate::audit::{self, Outcome};
        use crate::throttle::Outcome as Counted;
        let (counted, audited) = match outcome {
            Ok(_) => (Counted::Succeeded, Outcome::Accepted),
            Err(AuthError::InvalidCredentials | AuthError::UnknownBackend(_)) => {
                (Counted::Failed, Outcome::Refused)
            }
            Err(AuthError::Throttled(_)) => (Counted::NotChecked, Outcome::Throttled),
            Err(AuthError::Unavailable(_) | AuthError::Internal(_)) => {
                (Counted::NotChecked, Outcome::Unavailable)
            }
        };
        self.throttle.settle(taken, counted).await;
        let reason = outcome.as_ref().err().map(ToString::to_string);
        audit::attempt(method, login, audited, reason.as_deref(), address);
    }

    /// The backends now: a reload may replace them between two requests,
    /// never during one.
    fn backends(&self) -> Arc<Backends> {
        self.backends.load_full()
    }

    /// Put `backends` in place of the running ones (configuration reload).
    /// Logins under way finish with the backends they started with; the
    /// throttle's counters are kept.
    pub fn replace_backends(&self, backends: Vec<Arc<dyn Backend>>) {
        self.backends.store(Arc::new(by_name(backends)));
    }

    /// The account of an identity another protocol proved, in the backends
    /// that map such identities (`sql.<name>.match_external_identities`):
    /// those of the default login order first, then the others by name.
    /// The first backend that knows the key answers, with its name; an
    /// account it refuses is not looked for further.
    pub async fn find_external(
        &self,
        key: AccountKey<'_>,
    ) -> Result<Option<(String, Lookup)>, BackendError> {
        let backends = self.backends();
        let ordered = self
            .default_backends
            .iter()
            .filter_map(|name| backends.get(name))
            .chain(
                backends
                    .iter()
                    .filter(|(name, _)| !self.default_backends.contains(name))
                    .map(|(_, b)| b),
            )
            .filter(|b| b.maps_external_identities());
        for backend in ordered {
            match backend.find(key).await? {
                Lookup::NotAsked | Lookup::Nobody => continue,
                found => return Ok(Some((backend.name().to_owned(), found))),
            }
        }
        Ok(None)
    }

    /// What the backend `backend` finds for `key`, asked without a
    /// password; `None` when no backend of that name is enabled.
    pub async fn find_in(
        &self,
        backend: &str,
        key: AccountKey<'_>,
    ) -> Result<Option<Lookup>, BackendError> {
        let Some(backend) = self.backends().get(backend).cloned() else {
            return Ok(None);
        };
        backend.find(key).await.map(Some)
    }

    /// Whether the account `key` names in the backend `backend` may still
    /// log in, asked without its password (a refresh token's account);
    /// with `user_uuid`, it must still be that UC user.
    pub async fn still_allowed(
        &self,
        backend: &str,
        key: AccountKey<'_>,
        user_uuid: Option<&str>,
    ) -> Result<Allowed, BackendError> {
        Ok(match self.find_in(backend, key).await? {
            None => Allowed::NoSuchBackend,
            Some(Lookup::NotAsked) => Allowed::CannotSay,
            Some(Lookup::One(found)) => match user_uuid {
                Some(uuid) if found.user_uuid.as_deref() != Some(uuid) => Allowed::No,
                _ => Allowed::Yes,
            },
            Some(Lookup::Nobody | Lookup::Refused(_)) => Allowed::No,
        })
    }

    /// Names of the enabled backends, sorted.
    pub fn backend_names(&self) -> Vec<String> {
        self.backends().keys().cloned().collect()
    }

    /// Check `login`/`password` with the backend named `backend`, for a
    /// client at `address`, under the brute-force throttle.
    pub async fn password_login(
        self: &Arc<Self>,
        backend: &str,
        login: &str,
        password: &Password,
        address: Option<&str>,
    ) -> Result<Identity, AuthError> {
        // The backend name comes from the request: only known names become
        // audit methods and metric labels.
        let method = if self.backends().contains_key(backend) {
            backend
        } else {
            "unknown_backend"
        };
        let this = Arc::clone(self);
        let (backend, checked_login, password) =
            (backend.to_owned(), login.to_owned(), password.clone());
        let attempt = async move {
            this.check_password(&backend, &checked_login, &password)
                .await
        };
        self.throttled(method, login, address, attempt).await
    }

    async fn check_password(
        &self,
        backend: &str,
        login: &str,
        password: &Password,
    ) -> Result<Identity, AuthError> {
        let b = self
            .backends()
            .get(backend)
            .cloned()
            .ok_or_else(|| AuthError::UnknownBackend(backend.to_owned()))?;
        let started = std::time::Instant::now();
        let outcome = b.authenticate(login, password).await;
        log_outcome(backend, login, started.elapsed(), &outcome);
        Ok(Identity::from_backend(backend, outcome?))
    }

    /// The UC login: the configured backends in order; the first that accepts
    /// wins. If none accepts and one of them was unavailable, the answer is
    /// "unavailable": that backend might have known the user.
    pub async fn uc_login(
        self: &Arc<Self>,
        login: &str,
        password: &Password,
        address: Option<&str>,
    ) -> Result<Identity, AuthError> {
        self.login(&BackendChoice::Uc, login, password, address)
            .await
    }

    /// Check `login`/`password` with `backends`: the one named, or a list
    /// in order (see [`Self::uc_login`]), under the brute-force throttle.
    pub async fn login(
        self: &Arc<Self>,
        choice: &BackendChoice,
        login: &str,
        password: &Password,
        address: Option<&str>,
    ) -> Result<Identity, AuthError> {
        let (method, order) = match choice {
            BackendChoice::Named(name) => {
                return self.password_login(name, login, password, address).await;
            }
            BackendChoice::Uc => ("uc_login", self.uc_login_backends.clone()),
            BackendChoice::Default => ("default_backends", self.default_backends.clone()),
        };
        let this = Arc::clone(self);
        let (checked_login, password) = (login.to_owned(), password.clone());
        let attempt = async move { this.in_order(&order, &checked_login, &password).await };
        self.throttled(method, login, address, attempt).await
    }

    async fn in_order(
        &self,
        order: &[String],
        login: &str,
        password: &Password,
    ) -> Result<Identity, AuthError> {
        let mut unavailable: Option<AuthError> = None;
        for name in order {
            match self.check_password(name, login, password).await {
                Ok(identity) => return Ok(identity),
                Err(AuthError::InvalidCredentials) | Err(AuthError::UnknownBackend(_)) => {}
                Err(e @ AuthError::Unavailable(_))
                | Err(e @ AuthError::Internal(_))
                | Err(e @ AuthError::Throttled(_)) => {
                    unavailable.get_or_insert(e);
                }
            }
        }
        Err(unavailable.unwrap_or(AuthError::InvalidCredentials))
    }
}

fn log_outcome(
    backend: &str,
    login: &str,
    elapsed: std::time::Duration,
    outcome: &Result<VerifiedIdentity, BackendError>,
) {
    let ms = elapsed.as_millis() as u64;
    let login = crate::audit::loggable(login);
    let login = login.as_ref();
    let request_id = crate::request_id::current();
    match outcome {
        Ok(_) => tracing::info!(request_id, backend, login, ms, "login accepted"),
        Err(BackendError::InvalidCredentials) => {
            tracing::info!(request_id, backend, login, ms, "login refused")
        }
        Err(e) => {
            tracing::warn!(request_id, backend, login, ms, error = %e, "login failed: backend error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    struct Fixed(&'static str, Outcome);

    #[async_trait]
    impl Backend for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        async fn authenticate(
            &self,
            _: &str,
            _: &Password,
        ) -> Result<VerifiedIdentity, BackendError> {
            (self.1)()
        }
        /// `ldap_user` reads `D\\name` as `name`, as the LDAP backend does
        /// for its domain.
        fn account_name<'a>(&self, login: &'a str) -> &'a str {
            match (self.0, login.strip_prefix("D\\")) {
                ("ldap_user", Some(name)) => name,
                _ => login,
            }
        }
    }

    fn ok() -> Result<VerifiedIdentity, BackendError> {
        Ok(VerifiedIdentity {
            auth_id: "id".into(),
            user_uuid: None,
            login: "alice".into(),
            acl: vec![],
            metadata: Default::default(),
        })
    }
    fn refused() -> Result<VerifiedIdentity, BackendError> {
        Err(BackendError::InvalidCredentials)
    }
    fn down() -> Result<VerifiedIdentity, BackendError> {
        Err(BackendError::Unavailable("ldap down".into()))
    }

    type Outcome = fn() -> Result<VerifiedIdentity, BackendError>;

    fn auth(backends: Vec<(&'static str, Outcome)>) -> Arc<Authenticator> {
        let names: Vec<String> = backends.iter().map(|(n, _)| n.to_string()).collect();
        let order = LoginOrder {
            uc: names.clone(),
            default: names,
        };
        Arc::new(Authenticator::new(
            backends
                .into_iter()
                .map(|(n, f)| Arc::new(Fixed(n, f)) as Arc<dyn Backend>)
                .collect(),
            order,
            ThrottleConfig::default(),
            None,
        ))
    }

    #[test]
    fn the_throttle_counts_the_account_a_login_form_names() {
        let a = auth(vec![("xivo_user", refused), ("ldap_user", refused)]);
        assert_eq!(a.account_name("ldap_user", "D\\alice"), "alice");
        assert_eq!(a.account_name("xivo_user", "D\\alice"), "D\\alice");
        // A login over an order: the backend that reads the form says.
        assert_eq!(a.account_name("default_backends", "D\\alice"), "alice");
        assert_eq!(a.account_name("uc_login", "D\\alice"), "alice");
        assert_eq!(a.account_name("uc_login", "alice"), "alice");
    }

    #[tokio::test]
    async fn uc_login_tries_backends_in_order() {
        let pw = Password::new("x");
        let id = auth(vec![("a", refused), ("b", ok)])
            .uc_login("alice", &pw, None)
            .await
            .unwrap();
        assert_eq!(id.backend, "b");
        assert!(matches!(
            auth(vec![("a", refused), ("b", refused)])
                .uc_login("alice", &pw, None)
                .await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            auth(vec![("a", down), ("b", refused)])
                .uc_login("alice", &pw, None)
                .await,
            Err(AuthError::Unavailable(_))
        ));
        assert_eq!(
            auth(vec![("a", down), ("b", ok)])
                .uc_login("alice", &pw, None)
                .await
                .unwrap()
                .backend,
            "b"
        );
    }

    #[tokio::test]
    async fn unknown_backends_are_refused() {
        assert!(matches!(
            auth(vec![("a", ok)])
                .password_login("zzz", "alice", &Password::new("x"), None)
                .await,
            Err(AuthError::UnknownBackend(_))
        ));
    }

    /// A backend that counts its password checks and takes its time, so
    /// that concurrent attempts overlap; it accepts every password or none.
    struct Slow {
        checks: std::sync::atomic::AtomicUsize,
        delay_ms: u64,
        accepts: bool,
    }

    impl Slow {
        fn new(delay_ms: u64, accepts: bool) -> Arc<Self> {
            Arc::new(Slow {
                checks: Default::default(),
                delay_ms,
                accepts,
            })
        }

        fn checks(&self) -> usize {
            self.checks.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Backend for Slow {
        fn name(&self) -> &str {
            "xivo_user"
        }
        async fn authenticate(
            &self,
            _: &str,
            _: &Password,
        ) -> Result<VerifiedIdentity, BackendError> {
            self.checks
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(self.delay_ms)).await;
            if self.accepts { ok() } else { refused() }
        }
    }

    /// 200 wrong guesses at once against a limit of 5 per login: at most 5
    /// reach the backend, every other one is throttled.
    async fn concurrent_guesses_are_bounded(shared: Option<crate::store::redis::RedisCounters>) {
        let backend = Slow::new(50, false);
        let auth = throttled(backend.clone() as Arc<dyn Backend>, 5, shared);
        let mut guesses = tokio::task::JoinSet::new();
        for i in 0..200 {
            let auth = auth.clone();
            guesses.spawn(async move {
                // Spread over many addresses, so that only the login's limit applies.
                let address = format!("10.0.{}.{}", i / 10, i % 10);
                auth.uc_login("alice", &Password::new(format!("guess{i}")), Some(&address))
                    .await
            });
        }
        let (mut refused, mut throttled) = (0, 0);
        while let Some(outcome) = guesses.join_next().await {
            match outcome.unwrap() {
                Err(AuthError::InvalidCredentials) => refused += 1,
                Err(AuthError::Throttled(_)) => throttled += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        let checks = backend.checks();
        assert!(checks <= 5, "{checks} password checks");
        assert_eq!(refused, checks);
        assert_eq!(refused + throttled, 200);
        assert!(throttled >= 195);
    }

    /// Throttle counters in the test command's redis-server, under a prefix
    /// of their own.
    fn redis_counters() -> crate::store::redis::RedisCounters {
        let prefix = format!("sesame-test-{}:", uuid::Uuid::new_v4());
        crate::store::redis::RedisStore::new(
            &crate::store::redis::test_redis_url(),
            &prefix,
            std::time::Duration::from_secs(2),
        )
        .unwrap()
        .counters()
    }

    /// One backend under a throttle of `per_login` attempts per login and
    /// 20 per address.
    fn throttled(
        backend: Arc<dyn Backend>,
        per_login: u32,
        shared: Option<crate::store::redis::RedisCounters>,
    ) -> Arc<Authenticator> {
        Arc::new(Authenticator::new(
            vec![backend],
            LoginOrder {
                uc: vec!["xivo_user".into()],
                default: vec!["xivo_user".into()],
            },
            ThrottleConfig {
                enabled: true,
                max_failures_per_login: per_login,
                max_failures_per_address: 20,
                window_secs: 300,
            },
            shared,
        ))
    }

    /// Logins that succeed give their places back: round after round of as
    /// many concurrent logins as the limit allows, none is refused.
    async fn successes_give_their_places_back(shared: Option<crate::store::redis::RedisCounters>) {
        let auth = throttled(Slow::new(20, true), 5, shared);
        for round in 0..4 {
            let mut logins = tokio::task::JoinSet::new();
            for _ in 0..5 {
                let auth = auth.clone();
                logins.spawn(async move {
                    auth.uc_login("alice", &Password::new("right"), Some("10.0.0.1"))
                        .await
                });
            }
            while let Some(outcome) = logins.join_next().await {
                assert!(outcome.unwrap().is_ok(), "round {round}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn successes_give_their_places_back_in_memory() {
        successes_give_their_places_back(None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn successes_give_their_places_back_in_redis() {
        successes_give_their_places_back(Some(redis_counters())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_guesses_are_bounded_in_memory() {
        concurrent_guesses_are_bounded(None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_guesses_are_bounded_in_redis() {
        concurrent_guesses_are_bounded(Some(redis_counters())).await;
    }

    /// A client that hangs up during the check: its guess is counted all
    /// the same, and its place is free once the check is over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_guess_whose_client_went_away_still_counts() {
        let backend = Slow::new(50, false);
        let auth = throttled(backend.clone() as Arc<dyn Backend>, 1, None);
        let guess = {
            let auth = auth.clone();
            tokio::spawn(async move {
                auth.uc_login("alice", &Password::new("guess"), Some("10.0.0.1"))
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        guess.abort();
        assert!(guess.await.is_err(), "the client's future was dropped");
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        assert_eq!(backend.checks(), 1);
        match auth
            .uc_login("alice", &Password::new("again"), Some("10.0.0.2"))
            .await
        {
            Err(AuthError::Throttled(wait)) => assert!(wait > 1, "the failure counts: {wait} s"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_backend_down_gives_the_attempt_back() {
        let auth = auth(vec![("a", down)]);
        for _ in 0..20 {
            assert!(matches!(
                auth.uc_login("alice", &Password::new("x"), Some("10.0.0.1"))
                    .await,
                Err(AuthError::Unavailable(_))
            ));
        }
    }
}
