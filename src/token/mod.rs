//! The token service: issues, checks, renews and revokes tokens.
//!
//! This is the one place with the rules about tokens; the HTTP layer only
//! translates requests into calls here, and the stores only keep records.
//!
//! A presented token is, in order of precedence:
//! 1. the trusted servers' shared secret (`PLAY_AUTH_TOKEN`), compared in
//!    constant time: it grants every ACL and never expires;
//! 2. a static service token (`sesame token create`), which never expires;
//! 3. a session token from the store.

pub mod acl;
mod offline;
pub mod refresh;
pub mod session;
pub mod statics;

use std::sync::Arc;

use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::clock::{Clock, Timestamp};
use crate::login::Identity;
use crate::store::{LiveToken, StoreError, TokenKey, TokenRecord, TokenStore};
pub use statics::StaticTokens;

/// A renewal that would move a token's expiry by less than this many
/// seconds is skipped (see [`TokenService::renew`]).
pub const RENEWAL_SLACK_SECS: u64 = 60;

/// How a token came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Issued after a login; expires.
    Session,
    /// A static service token; never expires, revoked with the CLI.
    Static,
    /// The trusted servers' shared secret.
    Shared,
}

/// How many exchanges a token may be away from a login: a token exchanged
/// from an exchanged token is two, and so on. Each check of such a token
/// reads every token of its chain.
pub const MAX_EXCHANGE_DEPTH: usize = 3;

/// A token that passed the checks.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub token: Arc<LiveToken>,
    pub kind: TokenKind,
    /// For an exchanged token, the tokens it was exchanged from, nearest
    /// first, each found live: this one grants only what all of them grant.
    pub ancestors: Vec<Arc<LiveToken>>,
}

impl VerifiedToken {
    /// A session token just issued or found, with no exchange behind it.
    pub fn session(token: Arc<LiveToken>) -> Self {
        VerifiedToken {
            token,
            kind: TokenKind::Session,
            ancestors: Vec::new(),
        }
    }

    /// Whether the token grants `scope`; the shared secret grants everything.
    /// An exchanged token grants a scope only if the tokens it came from
    /// grant it too, so an exchange can never widen rights.
    pub fn grants(&self, scope: &str) -> bool {
        self.kind == TokenKind::Shared
            || (self.token.acl.grants(scope) && self.ancestors.iter().all(|a| a.acl.grants(scope)))
    }

    pub fn record(&self) -> &TokenRecord {
        &self.token.record
    }

    /// When the token stops being valid: its own expiry, or an ancestor's
    /// if that comes first (`None`: never).
    pub fn expires_at(&self) -> Option<Timestamp> {
        std::iter::once(&self.token)
            .chain(&self.ancestors)
            .filter_map(|t| t.record.expires_at)
            .min()
    }
}

/// A newly issued token: the only moment the token string is known.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub live: Arc<LiveToken>,
}

/// Who asked for a token, for the record.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no such token")]
    NotFound,
    #[error("token expired")]
    Expired,
    #[error("token does not grant {0}")]
    Forbidden(String),
    /// The token is valid, but not for this tenant.
    #[error("token is not valid for tenant {0}")]
    ForbiddenTenant(String),
    #[error("invalid expiration: {0}")]
    InvalidExpiration(String),
    #[error("this token cannot be revoked here: {0}")]
    NotRevocable(&'static str),
    #[error("{0}")]
    NotExchangeable(&'static str),
    /// The user already holds `max_tokens_per_user` sessions.
    #[error(
        "too many sessions for this user (at most {0}): log out of one, or wait for one to expire"
    )]
    TooManyTokens(usize),
    /// The user already holds `refresh_tokens.max_per_user` refresh tokens.
    #[error(
        "too many refresh tokens for this user (at most {0}): revoke one (DELETE /0.1/users/me/tokens/CLIENT_ID)"
    )]
    TooManyRefreshTokens(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Count a check's outcome in the metrics.
fn count_check(result: &Result<VerifiedToken, TokenError>) {
    use crate::metrics::CheckOutcome;
    let outcome = match result {
        Ok(_) => CheckOutcome::Valid,
        Err(TokenError::Forbidden(_) | TokenError::ForbiddenTenant(_)) => CheckOutcome::Forbidden,
        Err(TokenError::Expired) => CheckOutcome::Expired,
        Err(TokenError::Store(_)) => CheckOutcome::Unavailable,
        Err(_) => CheckOutcome::Invalid,
    };
    crate::metrics::global().token_check(outcome);
}

/// Lifetimes and limits of issued tokens.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// Lifetime when the client asks for none.
    pub default_lifetime: u64,
    /// Longest lifetime a client may ask for.
    pub max_lifetime: u64,
    /// A renewed token never lives past `issued_at + max_session_age`.
    pub max_session_age: u64,
    /// The platform's UUID, reported in every token (`xivo_uuid`).
    pub platform_uuid: Uuid,
    /// The tenant tree; a token names no other tenant than its top one
    /// (`tenant_uuid` in the metadata) unless its identity does.
    pub tenants: Arc<crate::tenants::Tenants>,
    /// Most live tokens one user (`auth_id`) may hold; `None`: no cap.
    pub max_tokens_per_user: Option<usize>,
}

/// Most refresh tokens per user unless configured (`refresh_tokens.max_per_user`).
pub const DEFAULT_REFRESH_PER_USER: usize = 100;

/// Shortest shared secret not warned about: 32 characters, the length of
/// 16 random bytes in hex.
pub const MIN_SHARED_SECRET_LEN: usize = 32;

/// What is wrong with a shared secret, if anything an operator must hear
/// about: too short, or one character repeated.
pub fn shared_secret_weakness(secret: &str) -> Option<String> {
    let length = secret.chars().count();
    if length == 0 {
        return None;
    }
    if length < MIN_SHARED_SECRET_LEN {
        return Some(format!(
            "the shared token is {length} characters long, under the {MIN_SHARED_SECRET_LEN} expected"
        ));
    }
    let mut chars = secret.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Some("the shared token is one character repeated".into());
    }
    None
}

/// The trusted servers' shared secret(s), kept as hashes.
#[derive(Debug, Clone, Default)]
pub struct SharedSecret {
    /// SHA-256 of each accepted value (current, and previous during rotation).
    digests: Vec<[u8; 32]>,
    identity: Option<Arc<LiveToken>>,
}

impl SharedSecret {
    /// `values` are the accepted secrets; empty ones are ignored (an empty
    /// secret means the feature is off, and never matches).
    pub fn new(values: &[Option<String>], login: &str, platform_uuid: Uuid) -> Self {
        let digests: Vec<[u8; 32]> = values
            .iter()
            .flatten()
            .filter(|v| !v.is_empty())
            .map(|v| TokenKey::of(v).0)
            .collect();
        let identity = (!digests.is_empty()).then(|| {
            Arc::new(LiveToken::new(TokenRecord {
                auth_id: login.to_owned(),
                user_uuid: None,
                login: login.to_owned(),
                backend: "shared_token".into(),
                session_uuid: Uuid::nil(),
                issued_at: Timestamp(0),
                expires_at: None,
                lifetime_secs: 0,
                acl: vec!["#".into()],
                metadata: serde_json::Map::from_iter([(
                    "xivo_uuid".to_string(),
                    serde_json::Value::String(platform_uuid.to_string()),
                )]),
                remote_addr: None,
                user_agent: None,
                parent: None,
                mobile: false,
                refresh_id: None,
            }))
        });
        SharedSecret { digests, identity }
    }

    pub fn is_enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Constant-time: every configured value is compared, whatever matches.
    fn matches(&self, presented: &str) -> bool {
        if presented.is_empty() {
            return false;
        }
        let digest = TokenKey::of(presented).0;
        let mut found = subtle::Choice::from(0u8);
        for candidate in &self.digests {
            found |= candidate.ct_eq(&digest);
        }
        bool::from(found)
    }
}

#[derive(Debug)]
pub struct TokenService {
    store: Arc<dyn TokenStore>,
    statics: Arc<StaticTokens>,
    clock: Arc<dyn Clock>,
    shared: SharedSecret,
    policy: TokenPolicy,
    /// Derives refresh tokens (see [`refresh`]).
    refresh_key: refresh::RefreshKey,
    /// How long a refresh token mints tokens; `None`: until revoked.
    refresh_lifetime: Option<u64>,
    /// Each use of a refresh token gives a new one, and a used one
    /// presented again revokes them all (`refresh_tokens.rotate`).
    refresh_rotate: bool,
    /// Most refresh tokens (client ids) per user.
    refresh_per_user: usize,
}

impl TokenService {
    pub fn new(
        store: Arc<dyn TokenStore>,
        statics: Arc<StaticTokens>,
        clock: Arc<dyn Clock>,
        shared: SharedSecret,
        policy: TokenPolicy,
    ) -> Self {
        TokenService {
            store,
            statics,
            clock,
            shared,
            policy,
            refresh_key: refresh::RefreshKey::random().unwrap_or_else(|e| {
                tracing::error!(error = %e, "no refresh-token key");
                refresh::RefreshKey::from_seed(&Uuid::new_v4())
            }),
            refresh_lifetime: None,
            refresh_rotate: false,
            refresh_per_user: DEFAULT_REFRESH_PER_USER,
        }
    }

    /// The same service with the refresh-token settings of the configuration.
    pub fn with_refresh(self, key: refresh::RefreshKey, settings: refresh::Settings) -> Self {
        TokenService {
            refresh_key: key,
            refresh_lifetime: settings.lifetime,
            refresh_rotate: settings.rotate,
            refresh_per_user: settings.per_user,
            ..self
        }
    }

    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.store
    }

    /// The lifetime to give a token: the client's wish within the bounds.
    pub fn lifetime(&self, requested: Option<i64>) -> Result<u64, TokenError> {
        match requested {
            None => Ok(self.policy.default_lifetime),
            Some(secs) if secs <= 0 => Err(TokenError::InvalidExpiration(
                "expiration must be a positive number of seconds".into(),
            )),
            Some(secs) => {
                let secs = secs.unsigned_abs();
                if secs > self.policy.max_lifetime {
                    Err(TokenError::InvalidExpiration(format!(
                        "expiration must not exceed {} seconds",
                        self.policy.max_lifetime
                    )))
                } else {
                    Ok(secs)
                }
            }
        }
    }

    /// Issue a token for `identity`, living `lifetime` seconds, in a new session.
    pub async fn issue(
        &self,
        identity: Identity,
        lifetime: u64,
        client: ClientInfo,
    ) -> Result<IssuedToken, TokenError> {
        self.open_session(identity, lifetime, client, session::SessionStart::default())
            .await
    }

    /// Issue a token for `identity` in a new session that begins as `start` says.
    pub async fn open_session(
        &self,
        identity: Identity,
        lifetime: u64,
        client: ClientInfo,
        start: session::SessionStart,
    ) -> Result<IssuedToken, TokenError> {
        self.issue_in(identity, lifetime, client, Uuid::new_v4(), None, start)
            .await
    }

    /// Issue a token exchanged from `parent` (RFC 8693): it belongs to the
    /// parent's session, is valid only while the parent is (revoking the
    /// parent revokes it), never outlives it, and grants only what the
    /// parent grants. The caller narrows `identity`'s ACLs; this holds
    /// whatever they are.
    pub async fn issue_exchanged(
        &self,
        identity: Identity,
        lifetime: u64,
        client: ClientInfo,
        parent: &VerifiedToken,
        parent_key: TokenKey,
    ) -> Result<IssuedToken, TokenError> {
        if parent.kind == TokenKind::Shared {
            return Err(TokenError::NotExchangeable(
                "the shared token cannot be exchanged",
            ));
        }
        if parent.ancestors.len() + 1 > MAX_EXCHANGE_DEPTH {
            return Err(TokenError::NotExchangeable(
                "this token was exchanged from tokens exchanged too many times",
            ));
        }
        let left = parent
            .expires_at()
            .map_or(lifetime, |at| self.clock.now().secs_until(at));
        self.issue_in(
            identity,
            lifetime.min(left),
            client,
            parent.record().session_uuid,
            Some(parent_key),
            session::SessionStart {
                mobile: parent.record().mobile,
                refresh_id: None,
            },
        )
        .await
    }

    async fn issue_in(
        &self,
        identity: Identity,
        lifetime: u64,
        client: ClientInfo,
        session_uuid: Uuid,
        parent: Option<TokenKey>,
        start: session::SessionStart,
    ) -> Result<IssuedToken, TokenError> {
        let token = Uuid::new_v4().to_string();
        let now = self.clock.now();
        let mut metadata = identity.metadata;
        // What wazo-auth's tokens carry, and Wazo services read.
        let string = serde_json::Value::String;
        let defaults = [
            ("xivo_uuid", string(self.policy.platform_uuid.to_string())),
            ("tenant_uuid", string(self.policy.tenants.top().to_string())),
            ("auth_id", string(identity.auth_id.clone())),
            (
                "pbx_user_uuid",
                identity
                    .user_uuid
                    .clone()
                    .map_or(serde_json::Value::Null, string),
            ),
        ];
        for (key, value) in defaults {
            metadata.entry(key).or_insert(value);
        }
        if let Some(uuid) = &identity.user_uuid {
            metadata
                .entry("uuid")
                .or_insert_with(|| string(uuid.clone()));
        }
        let record = TokenRecord {
            auth_id: identity.auth_id,
            user_uuid: identity.user_uuid,
            login: identity.login,
            backend: identity.backend,
            session_uuid,
            issued_at: now,
            expires_at: Some(now.plus_secs(lifetime)),
            lifetime_secs: lifetime,
            acl: identity.acl,
            metadata,
            remote_addr: client.remote_addr,
            user_agent: client.user_agent,
            parent,
            mobile: start.mobile,
            refresh_id: start.refresh_id,
        };
        let joining = parent.is_some().then_some(session_uuid);
        if let Err(refused) = self.room_for(&record.auth_id, joining, now).await {
            tracing::warn!(
                login = %crate::audit::loggable(&record.login),
                reason = %refused,
                "token refused"
            );
            return Err(refused);
        }
        let key = TokenKey::of(&token);
        let live = self.store.insert(key, LiveToken::new(record), now).await?;
        crate::audit::token_issued(
            &live.record.backend,
            &live.record.login,
            &key,
            &live.record.session_uuid.to_string(),
            lifetime,
            live.record.remote_addr.as_deref(),
        );
        Ok(IssuedToken { token, live })
    }

    /// Find a presented token; `Expired` when it exists but has expired.
    pub async fn verify(&self, presented: &str) -> Result<VerifiedToken, TokenError> {
        if self.shared.matches(presented)
            && let Some(identity) = &self.shared.identity
        {
            return Ok(VerifiedToken {
                token: identity.clone(),
                kind: TokenKind::Shared,
                ancestors: Vec::new(),
            });
        }
        // Every token Sesame issues is a UUID: anything else is unknown, and
        // costs no lookup.
        if Uuid::try_parse(presented).is_err() {
            return Err(TokenError::NotFound);
        }
        let key = TokenKey::of(presented);
        if let Some(token) = self.statics.get(&key) {
            return Ok(VerifiedToken {
                token,
                kind: TokenKind::Static,
                ancestors: Vec::new(),
            });
        }
        let token = self.store.get(&key).await?.ok_or(TokenError::NotFound)?;
        let now = self.clock.now();
        if token.record.is_expired(now) {
            return Err(TokenError::Expired);
        }
        let ancestors = match token.record.parent {
            None => Vec::new(),
            Some(parent) => self.ancestors(parent, now).await?,
        };
        Ok(VerifiedToken {
            token,
            kind: TokenKind::Session,
            ancestors,
        })
    }

    /// The live chain of tokens an exchanged token came from, starting at
    /// `parent`. A revoked or unknown link makes the token unknown; an
    /// expired one makes it expired.
    async fn ancestors(
        &self,
        parent: TokenKey,
        now: Timestamp,
    ) -> Result<Vec<Arc<LiveToken>>, TokenError> {
        let mut chain: Vec<Arc<LiveToken>> = Vec::new();
        let mut next = Some(parent);
        while let Some(key) = next {
            if chain.len() >= MAX_EXCHANGE_DEPTH {
                return Err(TokenError::NotFound);
            }
            let link = match self.statics.get(&key) {
                Some(token) => token,
                None => self.store.get(&key).await?.ok_or(TokenError::NotFound)?,
            };
            if link.record.is_expired(now) {
                return Err(TokenError::Expired);
            }
            next = link.record.parent;
            chain.push(link);
        }
        Ok(chain)
    }

    /// Find a presented token and check that it grants `scope`, if any.
    pub async fn check(
        &self,
        presented: &str,
        scope: Option<&str>,
    ) -> Result<VerifiedToken, TokenError> {
        self.check_for(presented, scope, None).await
    }

    /// [`Self::check`], and, with `tenant`, that the token is valid for
    /// that tenant: its own (the only one until tenants are configurable),
    /// or any for the platform's own tokens (the shared secret, static
    /// tokens), as wazo-auth treats its internal tokens.
    pub async fn check_for(
        &self,
        presented: &str,
        scope: Option<&str>,
        tenant: Option<&str>,
    ) -> Result<VerifiedToken, TokenError> {
        let checked = self.verify(presented).await.and_then(|verified| {
            if let Some(scope) = scope
                && !verified.grants(scope)
            {
                return Err(TokenError::Forbidden(scope.to_owned()));
            }
            if let Some(tenant) = tenant
                && !self.in_tenant(&verified, tenant)
            {
                return Err(TokenError::ForbiddenTenant(tenant.to_owned()));
            }
            Ok(verified)
        });
        count_check(&checked);
        checked
    }

    /// Whether `verified` may act in `tenant` (wazo-auth's rule): the
    /// tenant is declared and is the token's own or below it. The shared
    /// secret and static tokens (the platform's own) act in any.
    pub fn in_tenant(&self, verified: &VerifiedToken, tenant: &str) -> bool {
        if verified.kind != TokenKind::Session {
            return true;
        }
        let Ok(tenant) = Uuid::try_parse(tenant) else {
            return false;
        };
        self.tenant_of(verified)
            .is_some_and(|own| self.policy.tenants.within(tenant, own))
    }

    /// The tenant a token acts in: its own (the top tenant for tokens
    /// issued before tokens carried one, and for the shared secret and
    /// static tokens). `None` for a tenant that is not declared (any more).
    pub fn tenant_of(&self, verified: &VerifiedToken) -> Option<Uuid> {
        let tenants = &self.policy.tenants;
        if verified.kind != TokenKind::Session {
            return Some(tenants.top());
        }
        match verified
            .record()
            .metadata
            .get("tenant_uuid")
            .and_then(serde_json::Value::as_str)
        {
            None => Some(tenants.top()),
            Some(own) => Uuid::try_parse(own)
                .ok()
                .filter(|own| tenants.get(*own).is_some()),
        }
    }

    /// Check a token and push its expiry to now + its lifetime (bounded by the
    /// maximum session age). Tokens that never expire are returned as they are.
    ///
    /// The store is written only when the expiry would move by more than
    /// [`RENEWAL_SLACK_SECS`] (or a tenth of the lifetime, if shorter): a
    /// client checking its token on every request costs reads, not writes.
    pub async fn renew(&self, presented: &str) -> Result<VerifiedToken, TokenError> {
        let renewed = self.renew_checked(presented).await;
        count_check(&renewed);
        renewed
    }

    async fn renew_checked(&self, presented: &str) -> Result<VerifiedToken, TokenError> {
        let verified = self.verify(presented).await?;
        if verified.kind != TokenKind::Session {
            return Ok(verified);
        }
        let record = verified.record();
        let now = self.clock.now();
        let mut cap = record.issued_at.plus_secs(self.policy.max_session_age);
        // An exchanged token is never renewed past the tokens it came from.
        for ancestor in &verified.ancestors {
            if let Some(at) = ancestor.record.expires_at {
                cap = cap.min(at);
            }
        }
        let wanted = now.plus_secs(record.lifetime_secs).min(cap);
        let slack = RENEWAL_SLACK_SECS.min(record.lifetime_secs / 10);
        if record
            .expires_at
            .is_some_and(|at| at.plus_secs(slack) >= wanted)
        {
            return Ok(verified);
        }
        let renewed = self
            .store
            .renew(&TokenKey::of(presented), wanted, now)
            .await?
            .ok_or(TokenError::NotFound)?;
        Ok(VerifiedToken {
            token: renewed,
            kind: TokenKind::Session,
            ancestors: verified.ancestors,
        })
    }

    /// Revoke a session token. Unknown tokens are not an error (the goal, no
    /// such token, holds); the shared secret and static tokens are refused.
    pub async fn revoke(&self, presented: &str) -> Result<(), TokenError> {
        if self.shared.matches(presented) {
            return Err(TokenError::NotRevocable(
                "the shared token is revoked by changing PLAY_AUTH_TOKEN",
            ));
        }
        if Uuid::try_parse(presented).is_err() {
            return Ok(());
        }
        let key = TokenKey::of(presented);
        if self.statics.get(&key).is_some() {
            return Err(TokenError::NotRevocable(
                "static tokens are revoked with `sesame token revoke`",
            ));
        }
        if self.store.remove(&key).await? {
            crate::audit::token_revoked(&key, "revoked by a client");
        }
        Ok(())
    }

    /// Revoke a session token known only by its key (single logout).
    pub async fn revoke_key(&self, key: &TokenKey) -> Result<(), TokenError> {
        if self.store.remove(key).await? {
            crate::audit::token_revoked(key, "single logout");
        }
        Ok(())
    }

    /// Seconds until the token expires (`None` if it never does).
    pub fn ttl(&self, token: &VerifiedToken) -> Option<u64> {
        token.expires_at().map(|at| self.clock.now().secs_until(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::memory::MemoryStore;

    const SHARED: &str = "a-long-shared-secret";

    fn identity() -> Identity {
        Identity {
            auth_id: "63f3dc3c-865d-419e-bec2-e18c4b118224".into(),
            user_uuid: Some("63f3dc3c-865d-419e-bec2-e18c4b118224".into()),
            login: "alice".into(),
            backend: "xivo_user".into(),
            acl: vec![
                "confd.users.me.read".into(),
                "!confd.users.me.delete".into(),
            ],
            metadata: serde_json::Map::new(),
        }
    }

    fn service(clock: Arc<ManualClock>, shared: &[Option<String>]) -> TokenService {
        let platform = Uuid::new_v4();
        TokenService::new(
            Arc::new(MemoryStore::new()),
            Arc::new(StaticTokens::default()),
            clock,
            SharedSecret::new(shared, "xuc", platform),
            TokenPolicy {
                default_lifetime: 7200,
                max_lifetime: 36_000,
                max_session_age: 10_000,
                platform_uuid: platform,
                tenants: Arc::new(crate::tenants::Tenants::single(platform)),
                max_tokens_per_user: None,
            },
        )
    }

    #[tokio::test]
    async fn a_token_lives_its_lifetime_then_expires() {
        let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
        let svc = service(clock.clone(), &[]);
        let issued = svc
            .issue(identity(), 600, ClientInfo::default())
            .await
            .unwrap();
        assert_eq!(issued.token.len(), 36);
        let r = &issued.live.record;
        assert_eq!(r.expires_at.unwrap().0 - r.issued_at.0, 600 * 1_000_000);

        clock.advance_secs(599);
        let v = svc
            .check(
                &issued.token,
                Some("confd.users.63f3dc3c-865d-419e-bec2-e18c4b118224.read"),
            )
            .await
            .unwrap();
        assert_eq!(svc.ttl(&v), Some(1));
        assert!(matches!(
            svc.check(&issued.token, Some("confd.users.me.delete"))
                .await,
            Err(TokenError::Forbidden(_))
        ));
        clock.advance_secs(1);
        assert!(matches!(
            svc.verify(&issued.token).await,
            Err(TokenError::Expired)
        ));
    }

    #[tokio::test]
    async fn lifetimes_are_bounded() {
        let svc = service(ManualClock::new(Timestamp::from_secs(0)), &[]);
        assert_eq!(svc.lifetime(None).unwrap(), 7200);
        assert_eq!(svc.lifetime(Some(36_000)).unwrap(), 36_000);
        for bad in [0, -5, 36_001] {
            assert!(matches!(
                svc.lifetime(Some(bad)),
                Err(TokenError::InvalidExpiration(_))
            ));
        }
    }

    #[tokio::test]
    async fn renewal_slides_the_expiry_up_to_the_session_cap() {
        let clock = ManualClock::new(Timestamp::from_secs(0));
        let svc = service(clock.clone(), &[]);
        let issued = svc
            .issue(identity(), 3_000, ClientInfo::default())
            .await
            .unwrap();
        clock.advance_secs(2_000);
        let renewed = svc.renew(&issued.token).await.unwrap();
        assert_eq!(svc.ttl(&renewed), Some(3_000));
        for _ in 0..2 {
            clock.advance_secs(2_000);
            svc.renew(&issued.token).await.unwrap();
        }
        clock.advance_secs(2_000); // t = 8000: the cap (10 000) limits the renewal
        let renewed = svc.renew(&issued.token).await.unwrap();
        assert_eq!(svc.ttl(&renewed), Some(2_000));
        clock.advance_secs(2_000);
        assert!(matches!(
            svc.renew(&issued.token).await,
            Err(TokenError::Expired)
        ));
    }

    #[tokio::test]
    async fn frequent_checks_do_not_rewrite_the_token() {
        let clock = ManualClock::new(Timestamp::from_secs(0));
        let svc = service(clock.clone(), &[]);
        let issued = svc
            .issue(identity(), 3_000, ClientInfo::default())
            .await
            .unwrap();
        clock.advance_secs(RENEWAL_SLACK_SECS as i64 - 1);
        let checked = svc.renew(&issued.token).await.unwrap();
        assert_eq!(
            checked.record().expires_at,
            Some(Timestamp::from_secs(3_000))
        );
        clock.advance_secs(2);
        let renewed = svc.renew(&issued.token).await.unwrap();
        assert_eq!(svc.ttl(&renewed), Some(3_000));
    }

    #[tokio::test]
    async fn revoked_and_foreign_tokens_are_unknown() {
        let svc = service(ManualClock::new(Timestamp::from_secs(0)), &[]);
        let issued = svc
            .issue(identity(), 60, ClientInfo::default())
            .await
            .unwrap();
        svc.revoke(&issued.token).await.unwrap();
        svc.revoke(&issued.token).await.unwrap();
        assert!(matches!(
            svc.verify(&issued.token).await,
            Err(TokenError::NotFound)
        ));
        for other in ["", "not-a-uuid", &Uuid::new_v4().to_string()] {
            assert!(matches!(svc.verify(other).await, Err(TokenError::NotFound)));
        }
    }

    #[tokio::test]
    async fn the_shared_secret_grants_everything_and_rotates() {
        let svc = service(
            ManualClock::new(Timestamp::from_secs(0)),
            &[Some(SHARED.into()), Some("previous-secret".into())],
        );
        for secret in [SHARED, "previous-secret"] {
            let v = svc.check(secret, Some("anything.at.all")).await.unwrap();
            assert_eq!(v.kind, TokenKind::Shared);
            assert_eq!(svc.ttl(&v), None);
        }
        assert!(svc.verify("a-long-shared-secreT").await.is_err());
        assert!(matches!(
            svc.revoke(SHARED).await,
            Err(TokenError::NotRevocable(_))
        ));
    }

    #[test]
    fn weak_shared_secrets_are_named() {
        assert!(shared_secret_weakness("secret").is_some_and(|w| w.contains("6 characters")));
        assert!(shared_secret_weakness(&"a".repeat(40)).is_some());
        assert_eq!(shared_secret_weakness(""), None, "disabled, not weak");
        assert_eq!(
            shared_secret_weakness("0123456789abcdef0123456789abcdef"),
            None
        );
    }

    #[tokio::test]
    async fn an_empty_shared_secret_is_disabled() {
        let svc = service(
            ManualClock::new(Timestamp::from_secs(0)),
            &[Some(String::new()), None],
        );
        assert!(!svc.shared.is_enabled());
        assert!(matches!(svc.verify("").await, Err(TokenError::NotFound)));
    }
}
