//! The external credentials Sesame is configured for, checked by the
//! `sesame-federation` crate: each check yields a verified identity and the
//! section's mapping settings, or a classified failure. Nothing here knows
//! local accounts (see [`super::mapping`]) or HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use sesame_federation::cas::{CasClient, CasConfig};
use sesame_federation::kerberos::{DirectoryName, KerberosConfig, KerberosVerifier, Principal};
use sesame_federation::oidc::{OidcProvider, OidcProviderConfig, OidcProviders};
use sesame_federation::websession::{WebSessionConfig, WebSessionVerifier};
use sesame_federation::{ExternalIdentity, FederationError, LocalMatch};

use super::Identity;
use super::error::{Failure, LoginError, Via};
use super::mapping::{Policies, merge};

/// The `oidc` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    #[serde(default)]
    pub providers: BTreeMap<String, OidcProviderConfig>,
    /// Where the browser flow may hand its token over: exact URLs.
    #[serde(default)]
    pub allowed_redirects: Vec<String>,
    /// Seconds a browser has to come back from the provider.
    #[serde(default = "default_login_timeout")]
    pub login_timeout_secs: u64,
}

fn default_login_timeout() -> u64 {
    300
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            providers: BTreeMap::new(),
            allowed_redirects: Vec::new(),
            login_timeout_secs: default_login_timeout(),
        }
    }
}

impl OidcConfig {
    /// How long a browser has to come back from the provider.
    pub fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout_secs.max(1))
    }
}

/// A verified external identity, with what its section says about finding
/// its local user.
#[derive(Debug)]
pub struct Proven {
    pub external: ExternalIdentity,
    pub match_by: LocalMatch,
    pub auto_provision: Option<String>,
    /// ACLs the identity brings besides its user's (group policies).
    pub extra_acl: Vec<String>,
    /// Entries for the token's metadata.
    pub metadata: Map<String, Value>,
    /// Where the directory (`ldap`) has the identity's account, when the
    /// protocol looks it up there (`kerberos.directory_lookup`).
    pub in_directory: Option<DirectoryName>,
}

/// The configured checkers of external credentials.
pub struct External {
    pub(super) oidc: OidcProviders,
    pub(super) cas: Option<CasClient>,
    kerberos: Option<KerberosVerifier>,
    /// Replaced as a whole when the configuration is reloaded.
    web_session: arc_swap::ArcSwapOption<WebSessionVerifier>,
}

impl std::fmt::Debug for External {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("External")
            .field("oidc", &self.oidc)
            .field("cas", &self.cas.is_some())
            .field("kerberos", &self.kerberos.is_some())
            .finish()
    }
}

impl External {
    pub fn new(
        oidc: &OidcConfig,
        cas: Option<&CasConfig>,
        web_session: Option<&WebSessionConfig>,
        kerberos: Option<&KerberosConfig>,
    ) -> Result<Self, String> {
        let mut providers = Vec::new();
        for (name, config) in &oidc.providers {
            let provider = OidcProvider::new(name, config.clone())
                .map_err(|e| format!("oidc.providers.{name}: {e}"))?;
            providers.push(provider);
        }
        Ok(External {
            oidc: OidcProviders::new(providers)?,
            cas: cas
                .map(|c| CasClient::new(c.clone()).map_err(|e| format!("cas: {e}")))
                .transpose()?,
            kerberos: kerberos
                .map(|k| KerberosVerifier::new(k.clone()).map_err(|e| format!("kerberos: {e}")))
                .transpose()?,
            web_session: arc_swap::ArcSwapOption::new(
                web_session
                    .map(|c| {
                        WebSessionVerifier::new(c.clone())
                            .map(Arc::new)
                            .map_err(|e| format!("web_session: {e}"))
                    })
                    .transpose()?,
            ),
        })
    }

    pub fn enabled(&self, via: Via) -> bool {
        match via {
            Via::Password => true,
            Via::Kerberos => self.kerberos.is_some(),
            Via::Oidc => !self.oidc.is_empty(),
            Via::Cas => self.cas.is_some(),
            Via::WebSession => self.web_session.load().is_some(),
        }
    }

    /// Replace the web-session settings (mapping table included), after a
    /// configuration reload.
    pub fn reload_web_session(&self, config: Option<&WebSessionConfig>) -> Result<(), String> {
        let verifier = config
            .map(|c| WebSessionVerifier::new(c.clone()).map(Arc::new))
            .transpose()?;
        self.web_session.store(verifier);
        Ok(())
    }

    /// The OpenID provider a token names (by its issuer).
    fn oidc_for(&self, token: &str) -> Result<&Arc<OidcProvider>, LoginError> {
        if self.oidc.is_empty() {
            return Err(LoginError::bad_request(
                Via::Oidc,
                "no OpenID provider is configured",
            ));
        }
        self.oidc.for_token(token).map_err(|e| fail(Via::Oidc, e))
    }

    /// An OpenID Connect token (id token or JWT access token).
    pub async fn oidc_token(&self, token: &str, policies: &Policies) -> Result<Proven, LoginError> {
        let provider = self.oidc_for(token)?;
        let external = provider
            .verify(token)
            .await
            .map_err(|e| fail(Via::Oidc, e))?;
        Ok(oidc_proven(provider, external, policies))
    }

    /// The base64 token of `Authorization: Negotiate`; also the
    /// mutual-authentication token to send back (base64).
    pub async fn kerberos(&self, negotiate: &str) -> Result<(Proven, Option<String>), LoginError> {
        use base64::Engine as _;
        let kerberos = self
            .kerberos
            .as_ref()
            .ok_or_else(|| LoginError::bad_request(Via::Kerberos, "Kerberos is not configured"))?;
        let engine = base64::engine::general_purpose::STANDARD;
        let token = engine
            .decode(negotiate.trim())
            .map_err(|_| LoginError::refused(Via::Kerberos, "the Negotiate token is not base64"))?;
        let login = kerberos
            .verify(token)
            .await
            .map_err(|e| fail(Via::Kerberos, e))?;
        let config = kerberos.policy().config();
        let principal = login
            .identity
            .attributes
            .get("principal")
            .cloned()
            .unwrap_or_default();
        let in_directory = match config.directory_lookup {
            false => None,
            true => Some(
                principal
                    .as_str()
                    .and_then(Principal::parse)
                    .and_then(|p| p.directory_name())
                    .ok_or_else(|| {
                        LoginError::refused(Via::Kerberos, "the principal is not a user's")
                    })?,
            ),
        };
        let mut metadata = Map::new();
        metadata.insert("kerberos_principal".into(), principal);
        let proven = Proven {
            external: login.identity,
            match_by: config.match_local_user_by,
            auto_provision: config.auto_provision_policy.clone(),
            extra_acl: Vec::new(),
            metadata,
            in_directory,
        };
        Ok((proven, login.reply.map(|r| engine.encode(r))))
    }

    pub(super) fn cas_client(&self) -> Result<&CasClient, LoginError> {
        self.cas
            .as_ref()
            .ok_or_else(|| LoginError::bad_request(Via::Cas, "CAS is not configured"))
    }

    /// A CAS service ticket, issued for `service`, which must be allowed.
    pub async fn cas_ticket(&self, service: &str, ticket: &str) -> Result<Proven, LoginError> {
        let cas = self.cas_client()?;
        if !cas.service_allowed(service) {
            return Err(LoginError::new(
                Via::Cas,
                Failure::ServiceNotAllowed(service.to_owned()),
            ));
        }
        self.cas_validate(cas, service, ticket).await
    }

    /// A CAS ticket validated for `service`, as is.
    pub(super) async fn cas_validate(
        &self,
        cas: &CasClient,
        service: &str,
        ticket: &str,
    ) -> Result<Proven, LoginError> {
        let external = cas
            .validate(service, ticket)
            .await
            .map_err(|e| fail(Via::Cas, e))?;
        let mut metadata = Map::new();
        metadata.insert("cas_user".into(), Value::String(external.subject.clone()));
        Ok(Proven {
            external,
            match_by: cas.config.match_local_user_by,
            auto_provision: cas.config.auto_provision_policy.clone(),
            extra_acl: Vec::new(),
            metadata,
            in_directory: None,
        })
    }

    /// A web application's session (the request's `Cookie` headers; only
    /// the configured cookies go out): an identity of its own, whose ACLs
    /// its permissions give, never a local user.
    pub async fn web_session(
        &self,
        cookie_headers: &[String],
        policies: &Policies,
    ) -> Result<Identity, LoginError> {
        let verifier = self.web_session.load_full().ok_or_else(|| {
            LoginError::bad_request(Via::WebSession, "web_session is not configured")
        })?;
        let cookie = verifier
            .forwarded_cookies(cookie_headers.iter().map(String::as_str))
            .ok_or_else(|| {
                LoginError::missing(Via::WebSession, "no session cookie of the web application")
            })?;
        let external = verifier
            .verify(&cookie)
            .await
            .map_err(|e| fail(Via::WebSession, e))?;
        let permissions: Vec<String> = external
            .attributes
            .get("permissions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let superuser = external
            .attributes
            .get("superuser")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let acl = web_session_acl(&verifier.config, policies, &permissions, superuser);
        tracing::info!(
            login = %external.subject,
            permissions = permissions.len(),
            acl = acl.len(),
            superuser,
            "web session accepted"
        );
        let mut metadata = Map::new();
        metadata.insert("login".into(), Value::String(external.subject.clone()));
        metadata.insert("purpose".into(), Value::String("web_session".into()));
        let uuid = external.attributes.get("uuid").and_then(Value::as_str);
        Ok(Identity {
            auth_id: uuid
                .map(str::to_owned)
                .unwrap_or_else(|| format!("web_session:{}", external.subject)),
            user_uuid: None,
            login: external.subject,
            backend: Via::WebSession.name().into(),
            acl,
            metadata,
        })
    }
}

/// What an identity `provider` vouched for brings: its groups' policies,
/// and the issuer and subject in the metadata.
pub fn oidc_proven(
    provider: &OidcProvider,
    external: ExternalIdentity,
    policies: &Policies,
) -> Proven {
    let config = &provider.config;
    let table = sesame_backends::groups::GroupPolicies::new(&config.group_policies, |policy| {
        policies.get(policy).cloned()
    });
    let groups = provider.groups(&external.attributes);
    let extra_acl = table.acl_for(groups.iter().map(String::as_str));
    let mut metadata = Map::new();
    metadata.insert("oidc_issuer".into(), Value::String(external.issuer.clone()));
    if let Some(sub) = external.attributes.get("sub") {
        metadata.insert("oidc_sub".into(), sub.clone());
    }
    Proven {
        external,
        match_by: config.match_local_user_by,
        auto_provision: config.auto_provision_policy.clone(),
        extra_acl,
        metadata,
        in_directory: None,
    }
}

/// A protocol's refusal or outage, for this kind of credential.
fn fail(via: Via, e: FederationError) -> LoginError {
    LoginError::new(via, e.into())
}

/// The ACLs a web application's permissions give: the mapped ones, and
/// the superuser policy's when the answer says so.
pub fn web_session_acl(
    config: &WebSessionConfig,
    policies: &Policies,
    permissions: &[String],
    superuser: bool,
) -> Vec<String> {
    let mut acl = config.map_permissions(permissions);
    if superuser && let Some(policy) = &config.superuser_policy {
        merge(&mut acl, policies.get(policy).cloned().unwrap_or_default());
    }
    acl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_openid_identity_brings_its_groups_policies_and_its_subject() {
        let config: OidcProviderConfig = serde_json::from_value(serde_json::json!({
            "issuer": "https://op.example.org",
            "client_id": "sesame",
            "group_policies": {"uc-admins": "admins", "ghosts": "missing"},
            "match_local_user_by": "email",
        }))
        .unwrap();
        let provider = OidcProvider::new("op", config).unwrap();
        let mut attributes = Map::new();
        attributes.insert("sub".into(), Value::String("sub-alice".into()));
        attributes.insert(
            "groups".into(),
            serde_json::json!(["uc-admins", "other", "ghosts"]),
        );
        let external = ExternalIdentity {
            source: "oidc",
            issuer: "https://op.example.org".into(),
            subject: "alice@example.org".into(),
            attributes,
        };
        let mut policies = Policies::new();
        policies.insert("admins".into(), vec!["admin.#".into()]);
        let proven = oidc_proven(&provider, external, &policies);
        assert_eq!(proven.extra_acl, vec!["admin.#"]);
        assert_eq!(proven.match_by, LocalMatch::Email);
        assert_eq!(proven.metadata["oidc_sub"], "sub-alice");
        assert_eq!(proven.metadata["oidc_issuer"], "https://op.example.org");
    }
}
