//! The OAuth 2.0 view of Sesame's tokens, for gateways and generic clients:
//! who may introspect and revoke (RFC 7662, RFC 7009), what introspection
//! says of a token, and token exchange (RFC 8693) of a Sesame token for a
//! down-scoped one. The HTTP layer only maps these results to wire formats.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::auth::{AuthError, Authenticator};
use crate::login::Identity;
use crate::store::{StoreError, TokenKey};
use crate::token::acl::{AclContext, spellings};
use crate::token::{ClientInfo, IssuedToken, TokenError, TokenKind, TokenService, VerifiedToken};

/// The ACL a token needs to introspect other tokens.
pub const INTROSPECT_ACL: &str = "auth.oauth2.introspect";
/// The ACL a token needs to revoke other tokens.
pub const REVOKE_ACL: &str = "auth.oauth2.revoke";

/// RFC 8693 token type URIs.
pub const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_ID: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// Sesame's own token type, for clients that want to be explicit.
pub const TOKEN_TYPE_SESAME: &str = "urn:sesame:params:oauth:token-type:sesame";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// How long a service account's verified password is remembered, so that a
/// gateway introspecting on every request does not pay argon2 each time.
const CALLER_CACHE_TTL: Duration = Duration::from_secs(30);
const CALLER_CACHE_MAX: usize = 1024;

/// What a caller of the introspection or revocation endpoint presents.
#[derive(Debug)]
pub enum CallerCredentials {
    /// `Authorization: Bearer` or `X-Auth-Token`: the shared token, or a
    /// token holding the endpoint's ACL.
    Token(String),
    /// HTTP Basic: a web-service account (`xivo_service`).
    Basic(String, String),
    None,
}

#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error("client authentication is required")]
    Missing,
    #[error("client authentication failed")]
    Invalid,
    #[error("the client may not use this endpoint")]
    Forbidden,
    #[error("{0}")]
    Unavailable(String),
}

impl From<TokenError> for CallerError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Store(StoreError::Unavailable(m)) => CallerError::Unavailable(m),
            TokenError::Store(StoreError::Internal(m)) => CallerError::Unavailable(m),
            _ => CallerError::Invalid,
        }
    }
}

/// Authenticates callers of the OAuth 2.0 endpoints.
pub struct Callers {
    tokens: Arc<TokenService>,
    auth: Arc<Authenticator>,
    /// SHA-256 of `login NUL password` → when the entry stops counting.
    verified: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Callers {
    pub fn new(tokens: Arc<TokenService>, auth: Arc<Authenticator>) -> Self {
        Callers {
            tokens,
            auth,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Who the caller is, if it may use the endpoint guarded by `acl`.
    pub async fn authenticate(
        &self,
        credentials: CallerCredentials,
        acl: &str,
        address: Option<&str>,
    ) -> Result<String, CallerError> {
        match credentials {
            CallerCredentials::None => Err(CallerError::Missing),
            CallerCredentials::Token(token) => {
                let verified = self.tokens.verify(&token).await?;
                if verified.grants(acl) {
                    Ok(verified.record().login.clone())
                } else {
                    Err(CallerError::Forbidden)
                }
            }
            CallerCredentials::Basic(login, password) => {
                let key = cache_key(&login, &password);
                if self.recently_verified(&key) {
                    return Ok(login);
                }
                let outcome = self
                    .auth
                    .password_login(
                        sesame_backends::XIVO_SERVICE,
                        &login,
                        &sesame_backends::Password::new(password),
                        address,
                    )
                    .await;
                match outcome {
                    Ok(identity) => {
                        self.remember(key);
                        Ok(identity.login)
                    }
                    Err(AuthError::Unavailable(m)) | Err(AuthError::Internal(m)) => {
                        tracing::warn!(error = %m, "OAuth client authentication unavailable");
                        Err(CallerError::Unavailable(m))
                    }
                    Err(AuthError::Throttled(_)) => Err(CallerError::Invalid),
                    Err(AuthError::InvalidCredentials) | Err(AuthError::UnknownBackend(_)) => {
                        Err(CallerError::Invalid)
                    }
                }
            }
        }
    }

    fn recently_verified(&self, key: &[u8; 32]) -> bool {
        let cache = self.verified.lock();
        cache.get(key).is_some_and(|until| *until > Instant::now())
    }

    fn remember(&self, key: [u8; 32]) {
        let mut cache = self.verified.lock();
        let now = Instant::now();
        if cache.len() >= CALLER_CACHE_MAX {
            cache.retain(|_, until| *until > now);
            if cache.len() >= CALLER_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key, now + CALLER_CACHE_TTL);
    }
}

fn cache_key(login: &str, password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(login.as_bytes());
    hasher.update([0]);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// An RFC 7662 introspection answer; only `active` when the token is not.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Introspection {
    pub active: bool,
    /// The ACLs, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The backend or protocol that authenticated the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Absent for a token that never expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The token's auth id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `urn:uuid:<platform uuid>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xivo_user_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// RFC 7662 introspection of `token`. Unknown, expired and revoked tokens
/// are inactive; so is the shared secret, which is not an OAuth token and
/// whose value no introspection should confirm.
pub async fn introspect(tokens: &TokenService, token: &str) -> Result<Introspection, StoreError> {
    let verified = match tokens.verify(token).await {
        Ok(v) if v.kind != TokenKind::Shared => v,
        Err(TokenError::Store(e)) => return Err(e),
        Ok(_) | Err(_) => return Ok(Introspection::default()),
    };
    Ok(introspection_of(tokens, &verified))
}

fn introspection_of(tokens: &TokenService, verified: &VerifiedToken) -> Introspection {
    let r = verified.record();
    Introspection {
        active: true,
        scope: Some(r.acl.join(" ")),
        client_id: Some(r.backend.clone()),
        username: Some(r.login.clone()),
        token_type: Some("Bearer".into()),
        iat: Some(r.issued_at.unix_secs()),
        exp: verified.expires_at().map(|exp| exp.unix_secs()),
        sub: Some(r.auth_id.clone()),
        iss: Some(format!("urn:uuid:{}", tokens.policy().platform_uuid)),
        xivo_user_uuid: r.user_uuid.clone(),
        session_uuid: Some(r.session_uuid.to_string()),
        metadata: Some(r.metadata.clone()),
    }
}

/// Why an exchange was refused, in RFC 6749 terms.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    Unavailable(String),
    /// The identity holds the most live tokens allowed.
    #[error("{0}")]
    TooManyTokens(String),
}

impl From<TokenError> for ExchangeError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotFound => ExchangeError::InvalidGrant("unknown subject_token".into()),
            TokenError::Expired => ExchangeError::InvalidGrant("the subject_token expired".into()),
            TokenError::Store(e) => ExchangeError::Unavailable(e.to_string()),
            e @ (TokenError::TooManyTokens(_) | TokenError::TooManyRefreshTokens(_)) => {
                ExchangeError::TooManyTokens(e.to_string())
            }
            TokenError::NotExchangeable(why) => ExchangeError::InvalidGrant(why.into()),
            other => ExchangeError::InvalidGrant(other.to_string()),
        }
    }
}

/// A token issued by an exchange.
#[derive(Debug)]
pub struct Exchanged {
    pub issued: IssuedToken,
    pub expires_in: u64,
}

/// RFC 8693: trade a Sesame token for a new one carrying a subset of its
/// rights (all of them when `scope` is absent), for the same identity and
/// session, that never outlives it and dies with it. Each requested ACL must
/// be one of the subject's positive ACLs as written, or a pattern without
/// wildcards every spelling of which the subject grants; every negative ACL
/// of the subject carries over. On top of that, a check of the new token
/// asks the subject too (see [`TokenService::issue_exchanged`]).
pub async fn exchange_sesame_token(
    tokens: &TokenService,
    subject: &str,
    scope: Option<&str>,
    client: ClientInfo,
) -> Result<Exchanged, ExchangeError> {
    let verified = tokens.verify(subject).await?;
    if verified.kind == TokenKind::Shared {
        return Err(ExchangeError::InvalidGrant(
            "the shared token cannot be exchanged".into(),
        ));
    }
    let record = verified.record();
    let session = record.session_uuid.to_string();
    let context = AclContext {
        auth_id: &record.auth_id,
        session_id: &session,
    };
    let acl = narrow(
        &record.acl,
        |wanted| verified.grants(wanted),
        context,
        scope,
    )?;
    let lifetime = match tokens.ttl(&verified) {
        Some(0) => {
            return Err(ExchangeError::InvalidGrant(
                "the subject_token expired".into(),
            ));
        }
        Some(left) => left.min(tokens.policy().default_lifetime),
        None => tokens.policy().default_lifetime,
    };
    let mut metadata = record.metadata.clone();
    metadata.insert(
        "exchanged_from".into(),
        Value::String(record.session_uuid.to_string()),
    );
    let identity = Identity {
        auth_id: record.auth_id.clone(),
        user_uuid: record.user_uuid.clone(),
        login: record.login.clone(),
        backend: record.backend.clone(),
        acl,
        metadata,
    };
    let issued = tokens
        .issue_exchanged(identity, lifetime, client, &verified, TokenKey::of(subject))
        .await?;
    let expires_in = issued
        .live
        .record
        .expires_at
        .map_or(lifetime, |at| tokens.now().secs_until(at));
    Ok(Exchanged { issued, expires_in })
}

/// RFC 8693 for an identity another authority vouched for: keep the subset
/// of its ACLs that `scope` names (as written; its negative ACLs always
/// carry over), or say which one it does not hold.
pub fn narrow_identity(identity: &mut Identity, scope: &str) -> Result<(), String> {
    let context = AclContext {
        auth_id: &identity.auth_id,
        session_id: "",
    };
    identity.acl =
        narrow(&identity.acl, |_| false, context, Some(scope)).map_err(|e| e.to_string())?;
    Ok(())
}

/// The ACLs `scope` asks for, all of `available` when it is absent.
///
/// A requested positive ACL must be a positive ACL of `available` as
/// written, or a pattern without wildcards every spelling of which `grants`
/// accepts (in `context`, the subject's); a requested negative ACL only
/// narrows, and is kept. Every negative ACL of `available` is added: a
/// denial of the subject stays a denial of the result. So whatever the
/// request, the result grants no scope that `available` refuses.
fn narrow(
    available: &[String],
    grants: impl Fn(&str) -> bool,
    context: AclContext<'_>,
    scope: Option<&str>,
) -> Result<Vec<String>, ExchangeError> {
    let Some(requested) = scope else {
        return Ok(available.to_vec());
    };
    let mut acl: Vec<String> = Vec::new();
    for wanted in requested.split_whitespace() {
        let covered = wanted.starts_with('!')
            || available.iter().any(|a| a == wanted)
            || spellings(wanted, context)
                .is_some_and(|scopes| scopes.iter().all(|scope| grants(scope)));
        if !covered {
            return Err(ExchangeError::InvalidScope(format!(
                "the subject_token does not grant {wanted:?}"
            )));
        }
        if !acl.iter().any(|a| a == wanted) {
            acl.push(wanted.to_owned());
        }
    }
    for denial in available.iter().filter(|a| a.starts_with('!')) {
        if !acl.contains(denial) {
            acl.push(denial.clone());
        }
    }
    Ok(acl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, Timestamp};
    use crate::store::memory::MemoryStore;
    use crate::token::{SharedSecret, StaticTokens, TokenPolicy};
    use serde_json::json;

    fn service(clock: Arc<ManualClock>) -> TokenService {
        TokenService::new(
            Arc::new(MemoryStore::new()),
            Arc::new(StaticTokens::default()),
            clock,
            SharedSecret::new(
                &[Some("s3cret-shared".into())],
                "trusted",
                uuid::Uuid::nil(),
            ),
            TokenPolicy {
                default_lifetime: 600,
                max_lifetime: 3600,
                max_session_age: 7200,
                platform_uuid: uuid::Uuid::nil(),
                tenants: Arc::new(crate::tenants::Tenants::single(uuid::Uuid::nil())),
                max_tokens_per_user: None,
            },
        )
    }

    /// The introspection answer of `token`, as sent.
    async fn introspected(tokens: &TokenService, token: &str) -> Value {
        serde_json::to_value(introspect(tokens, token).await.unwrap()).unwrap()
    }

    async fn issue(tokens: &TokenService, acl: &[&str], lifetime: u64) -> String {
        let identity = Identity {
            auth_id: "uuid-1".into(),
            user_uuid: Some("uuid-1".into()),
            login: "alice".into(),
            backend: "xivo_user".into(),
            acl: acl.iter().map(|s| s.to_string()).collect(),
            metadata: Map::new(),
        };
        tokens
            .issue(identity, lifetime, ClientInfo::default())
            .await
            .unwrap()
            .token
    }

    /// A token exchanged from `subject` for all of its ACLs.
    async fn exchange_all(tokens: &TokenService, subject: &str) -> String {
        exchange_sesame_token(tokens, subject, None, ClientInfo::default())
            .await
            .unwrap()
            .issued
            .token
    }

    #[tokio::test]
    async fn introspection_tells_active_from_inactive() {
        let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
        let tokens = service(clock.clone());
        let t = issue(&tokens, &["confd.users.me.read", "dird.#"], 100).await;
        let body = introspected(&tokens, &t).await;
        assert_eq!(body["active"], true);
        assert_eq!(body["scope"], "confd.users.me.read dird.#");
        assert_eq!(body["sub"], "uuid-1");
        assert_eq!(body["exp"], 1_000_100);
        assert_eq!(body["iat"], 1_000_000);
        for other in [
            "s3cret-shared",
            "not-a-token",
            &uuid::Uuid::new_v4().to_string(),
        ] {
            assert_eq!(introspected(&tokens, other).await, json!({"active": false}));
        }
        clock.advance_secs(101);
        assert_eq!(introspected(&tokens, &t).await, json!({"active": false}));
    }

    #[tokio::test]
    async fn exchange_narrows_and_never_widens() {
        let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
        let tokens = service(clock.clone());
        let t = issue(&tokens, &["confd.users.me.read", "dird.#"], 300).await;

        let narrowed = exchange_sesame_token(
            &tokens,
            &t,
            Some("dird.phonebook.read confd.users.me.read"),
            ClientInfo::default(),
        )
        .await
        .unwrap();
        assert_eq!(narrowed.expires_in, 300, "never outlives the subject");
        let new = tokens.verify(&narrowed.issued.token).await.unwrap();
        assert_eq!(
            new.record().acl,
            vec!["dird.phonebook.read", "confd.users.me.read"]
        );
        assert!(!new.grants("dird.other"));
        assert_eq!(new.record().auth_id, "uuid-1");

        for wider in ["confd.users.delete", "dird.*", "#", "confd.#"] {
            assert!(
                matches!(
                    exchange_sesame_token(&tokens, &t, Some(wider), ClientInfo::default()).await,
                    Err(ExchangeError::InvalidScope(_))
                ),
                "{wider}"
            );
        }
        assert!(matches!(
            exchange_sesame_token(&tokens, "s3cret-shared", None, ClientInfo::default()).await,
            Err(ExchangeError::InvalidGrant(_))
        ));
        clock.advance_secs(301);
        assert!(matches!(
            exchange_sesame_token(&tokens, &t, None, ClientInfo::default()).await,
            Err(ExchangeError::InvalidGrant(_))
        ));
    }

    #[tokio::test]
    async fn an_exchanged_token_keeps_every_denial_of_its_subject() {
        let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
        let tokens = service(clock.clone());
        let t = issue(
            &tokens,
            &["confd.users.me.#", "!confd.users.me.delete", "dird.me.#"],
            300,
        )
        .await;
        let exchanged =
            exchange_sesame_token(&tokens, &t, Some("confd.users.me.#"), ClientInfo::default())
                .await
                .unwrap();
        let child = &exchanged.issued.token;
        for scope in ["confd.users.me.delete", "confd.users.uuid-1.delete"] {
            assert!(
                matches!(
                    tokens.check(&t, Some(scope)).await,
                    Err(TokenError::Forbidden(_))
                ),
                "the subject is refused {scope}"
            );
            assert!(
                matches!(
                    tokens.check(child, Some(scope)).await,
                    Err(TokenError::Forbidden(_))
                ),
                "so is the exchanged token: {scope}"
            );
        }
        assert!(
            tokens
                .check(child, Some("confd.users.uuid-1.read"))
                .await
                .is_ok()
        );
        assert!(
            tokens.check(child, Some("dird.uuid-1.read")).await.is_err(),
            "not asked for"
        );
        let acl = &exchanged.issued.live.record.acl;
        assert_eq!(acl, &vec!["confd.users.me.#", "!confd.users.me.delete"]);
        assert_eq!(
            exchanged.issued.live.record.session_uuid,
            tokens.verify(&t).await.unwrap().record().session_uuid,
            "the same session"
        );
    }

    #[tokio::test]
    async fn a_literal_is_checked_in_every_spelling() {
        let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
        let tokens = service(clock.clone());
        // `x.m#` grants the scope `x.me`, but the pattern `x.me` would also
        // grant `x.uuid-1`, which the subject is refused.
        let t = issue(&tokens, &["x.m#", "y.e#"], 300).await;
        for wider in ["x.me", "y.edit"] {
            assert!(
                matches!(
                    exchange_sesame_token(&tokens, &t, Some(wider), ClientInfo::default()).await,
                    Err(ExchangeError::InvalidScope(_))
                ),
                "{wider}"
            );
        }
        let t = issue(&tokens, &["x.*"], 300).await;
        let ok = exchange_sesame_token(&tokens, &t, Some("x.me"), ClientInfo::default())
            .await
            .unwrap();
        assert!(
            tokens
                .check(&ok.issued.token, Some("x.uuid-1"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn an_exchanged_token_dies_with_its_subject() {
        let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
        let tokens = service(clock.clone());
        let t = issue(&tokens, &["dird.#"], 300).await;
        let child = exchange_all(&tokens, &t).await;
        let grandchild = exchange_all(&tokens, &child).await;
        assert!(tokens.check(&grandchild, Some("dird.x")).await.is_ok());
        tokens.revoke(&t).await.unwrap();
        for gone in [&child, &grandchild] {
            assert!(matches!(
                tokens.verify(gone).await,
                Err(TokenError::NotFound)
            ));
            assert!(matches!(
                tokens.renew(gone).await,
                Err(TokenError::NotFound)
            ));
            assert_eq!(introspected(&tokens, gone).await, json!({"active": false}));
        }
    }

    #[tokio::test]
    async fn an_exchanged_token_never_outlives_its_subject() {
        let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
        let tokens = service(clock.clone());
        let t = issue(&tokens, &["dird.#"], 300).await;
        let child = exchange_sesame_token(&tokens, &t, None, ClientInfo::default())
            .await
            .unwrap();
        assert_eq!(child.expires_in, 300);
        let child = child.issued.token;
        clock.advance_secs(200);
        // Renewing the child would give it 300 s more; its subject has 100.
        let renewed = tokens.renew(&child).await.unwrap();
        assert_eq!(tokens.ttl(&renewed), Some(100));
        assert_eq!(introspected(&tokens, &child).await["exp"], json!(1_000_300));
        clock.advance_secs(100);
        assert!(matches!(
            tokens.verify(&child).await,
            Err(TokenError::Expired)
        ));
    }

    #[tokio::test]
    async fn exchanges_are_bounded_in_depth() {
        let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
        let tokens = service(clock.clone());
        let mut t = issue(&tokens, &["dird.#"], 300).await;
        for _ in 0..crate::token::MAX_EXCHANGE_DEPTH {
            t = exchange_all(&tokens, &t).await;
        }
        assert!(matches!(
            exchange_sesame_token(&tokens, &t, None, ClientInfo::default()).await,
            Err(ExchangeError::InvalidGrant(_))
        ));
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        /// Segments of scopes and patterns: literals, the special words,
        /// and the values they stand for (`uuid-1` is the auth id, `S` the
        /// session).
        const WORDS: [&str; 8] = [
            "a",
            "b",
            "me",
            "uuid-1",
            "my_session",
            "S",
            "edit",
            "update",
        ];

        /// A pattern segment: a word or a wildcard.
        fn pattern_segment() -> impl Strategy<Value = String> {
            let mut segments = WORDS.to_vec();
            segments.extend(["*", "#", "m#", "e*", "a#b"]);
            prop::sample::select(segments).prop_map(str::to_owned)
        }

        fn pattern() -> impl Strategy<Value = String> {
            (
                any::<bool>(),
                prop::collection::vec(pattern_segment(), 1..4),
            )
                .prop_map(|(negative, segments)| {
                    format!("{}{}", if negative { "!" } else { "" }, segments.join("."))
                })
        }

        fn scope() -> impl Strategy<Value = String> {
            let mut segments = WORDS.to_vec();
            segments.extend(["x", ""]);
            prop::collection::vec(prop::sample::select(segments), 1..4)
                .prop_map(|segments| segments.join("."))
        }

        /// Scopes a pattern matches, or nearly: its wildcards filled in
        /// several ways, its special words spelled each way.
        fn instances(pattern: &str, session: &str) -> Vec<String> {
            let pattern = pattern.trim_start_matches('!');
            let mut out = Vec::new();
            for filler in ["", "a", "me", "uuid-1", "S", "update", "a.b", "x.me"] {
                let filled = pattern.replace('#', filler);
                let filled = if filler.contains('.') {
                    filled.replace('*', "a")
                } else {
                    filled.replace('*', filler)
                };
                for spelled in [
                    filled.clone(),
                    filled
                        .split('.')
                        .map(|segment| match segment {
                            "me" => "uuid-1",
                            "edit" => "update",
                            "my_session" => "S",
                            other => other,
                        })
                        .collect::<Vec<_>>()
                        .join("."),
                ] {
                    out.push(spelled.replace('S', session));
                }
            }
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// Whatever the subject's ACLs and whatever is asked, a scope the
            /// exchanged token is granted is granted to its subject: by the
            /// narrowed ACLs alone, and by the check.
            #[test]
            fn exchanged_grants_are_a_subset_of_the_subject_grants(
                acl in prop::collection::vec(pattern(), 1..6),
                picks in prop::collection::vec((any::<prop::sample::Index>(), pattern(), 0u8..5), 0..4),
                scopes in prop::collection::vec(scope(), 1..20),
            ) {
                let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                runtime.block_on(async {
                    let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
                    let tokens = service(clock);
                    let acl_refs: Vec<&str> = acl.iter().map(String::as_str).collect();
                    let t = issue(&tokens, &acl_refs, 300).await;
                    let session = tokens.verify(&t).await.unwrap().record().session_uuid.to_string();
                    let positives: Vec<&String> = acl.iter().filter(|a| !a.starts_with('!')).collect();
                    // Ask mostly for the subject's own positive ACLs (those
                    // its denials cut into), and for other patterns and
                    // literals; no picks asks for everything.
                    let requested: Vec<String> = picks
                        .iter()
                        .map(|(index, other, kind)| match kind {
                            0..=2 if !positives.is_empty() => index.get(&positives).to_string(),
                            3 => instances(index.get::<String>(&acl), "S")
                                .get(index.index(8))
                                .cloned()
                                .unwrap_or_else(|| other.clone()),
                            _ => other.clone(),
                        })
                        .collect();
                    let scope = (!picks.is_empty()).then(|| requested.join(" "));
                    let Ok(exchanged) = exchange_sesame_token(
                        &tokens, &t, scope.as_deref(), ClientInfo::default(),
                    ).await else {
                        return;
                    };
                    let child = exchanged.issued.token.clone();
                    let probes = acl
                        .iter()
                        .chain(&requested)
                        .flat_map(|p| instances(p, &session))
                        .chain(scopes.iter().map(|s| s.replace('S', &session)));
                    for scope in probes {
                        let subject = tokens.check(&t, Some(&scope)).await.is_ok();
                        let by_acl = exchanged.issued.live.acl.grants(&scope);
                        let by_check = tokens.check(&child, Some(&scope)).await.is_ok();
                        assert!(
                            subject || !by_acl,
                            "the narrowed ACLs {:?} of {acl:?} grant {scope:?}",
                            exchanged.issued.live.record.acl
                        );
                        assert!(subject || !by_check, "the check grants {scope:?}");
                    }
                });
            }
        }
    }
}
