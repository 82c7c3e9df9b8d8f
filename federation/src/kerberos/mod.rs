//! Kerberos single sign-on: the SPNEGO (`Authorization: Negotiate`) token
//! of a browser or a service, accepted with the keys of a keytab, yields
//! the client principal, which is mapped to a login.
//!
//! Checked in this order, each refusal logged with what was offered (never
//! the ticket): the token's shape (Kerberos, not NTLM), the encryption types
//! in clear in the `AP-REQ`, the service principal it names, the keytab
//! being readable, then GSSAPI (decryption, expiry with clock skew, replay
//! cache), the service principal again as GSSAPI verified it, and the
//! client's realm.

pub mod token;

#[cfg(feature = "kerberos")]
mod gss;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::LocalMatch;
use crate::{ExternalIdentity, FederationError};
use token::{enctype_name, enctype_number};

/// The `kerberos` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KerberosConfig {
    /// The keytab holding the service keys (a path, or `FILE:path`). When
    /// absent, `KRB5_KTNAME` names it.
    #[serde(default)]
    pub keytab: Option<String>,
    /// The service principals tickets may be for, e.g.
    /// `HTTP/sso.example.com@EXAMPLE.COM`; without `@REALM`, any realm of
    /// the keytab. Several when Sesame is reached by several names.
    pub service_principals: Vec<String>,
    /// Realms whose users are accepted; the realm is stripped from the login.
    #[serde(default)]
    pub allowed_realms: Vec<String>,
    /// Lower-case the login taken from the principal (`Alice@R` → `alice`).
    #[serde(default)]
    pub lowercase: bool,
    /// Exceptions: a full principal → the login it stands for, whatever
    /// its realm.
    #[serde(default)]
    pub principal_map: BTreeMap<String, String>,
    /// Encryption types accepted for the ticket and the session key.
    #[serde(default = "default_enctypes")]
    pub allowed_enctypes: Vec<String>,
    /// `login` (default): the principal's name is a local login; `email`:
    /// the whole principal (`alice@EXAMPLE.COM`) is a local user's e-mail.
    #[serde(default)]
    pub match_local_user_by: LocalMatch,
    /// When set, principals with no local user get a token with the ACLs
    /// of this policy instead of being refused.
    #[serde(default)]
    pub auto_provision_policy: Option<String>,
    /// Find the principal's entry in the `ldap` directory (an Active
    /// Directory): by sAMAccountName for the realm's principals, by
    /// userPrincipalName for enterprise principals; its account is then
    /// the one an LDAP login of that entry gets (local user by e-mail,
    /// group policies). `match_local_user_by` and `auto_provision_policy`
    /// are not used then.
    #[serde(default)]
    pub directory_lookup: bool,
}

/// A client principal split as `krb5_parse_name` reads it: its name
/// components, unescaped (`\@` is `@`, `\/` is `/`), and its realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub components: Vec<String>,
    pub realm: String,
}

impl Principal {
    /// Parse the display form GSSAPI gives (`erin\@example.com@AD.EXAMPLE.COM`
    /// for an enterprise principal). `None` for a form without a realm.
    pub fn parse(text: &str) -> Option<Principal> {
        let mut components = vec![String::new()];
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let escaped = match chars.next()? {
                        'n' => '\n',
                        't' => '\t',
                        'b' => '\u{8}',
                        '0' => '\0',
                        other => other,
                    };
                    components.last_mut()?.push(escaped);
                }
                '/' => components.push(String::new()),
                '@' => {
                    let realm: String = chars.collect();
                    let valid = !realm.is_empty() && components.iter().all(|c| !c.is_empty());
                    return valid.then_some(Principal { components, realm });
                }
                other => components.last_mut()?.push(other),
            }
        }
        None
    }

    /// What to look the principal up by in the directory: a one-component
    /// name is a sAMAccountName, or, holding an `@` (an enterprise
    /// principal), a userPrincipalName. Service principals (`host/x`) are
    /// not users: `None`.
    pub fn directory_name(&self) -> Option<DirectoryName> {
        match self.components.as_slice() {
            [name] if name.contains('@') => Some(DirectoryName::Upn(name.clone())),
            [name] => Some(DirectoryName::Account(name.clone())),
            _ => None,
        }
    }
}

/// A principal as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryName {
    /// The realm's principal `name@REALM`: the account named `name`
    /// (sAMAccountName).
    Account(String),
    /// An enterprise principal: the user whose userPrincipalName it is.
    Upn(String),
}

fn default_enctypes() -> Vec<String> {
    [
        "aes256-cts-hmac-sha1-96",
        "aes128-cts-hmac-sha1-96",
        "aes256-cts-hmac-sha384-192",
        "aes128-cts-hmac-sha256-128",
    ]
    .map(String::from)
    .to_vec()
}

/// The checks that need no cryptography: enctypes, service principals,
/// realms and the principal → login mapping.
#[derive(Debug)]
pub struct PrincipalPolicy {
    config: KerberosConfig,
    enctypes: Vec<i32>,
}

impl PrincipalPolicy {
    pub fn new(config: KerberosConfig) -> Result<Self, String> {
        if config.service_principals.is_empty() {
            return Err("service_principals is empty: name the HTTP/<host> principal(s)".into());
        }
        if config.allowed_realms.is_empty() && config.principal_map.is_empty() {
            return Err("allowed_realms is empty: no principal could log in".into());
        }
        let mut enctypes = Vec::new();
        for name in &config.allowed_enctypes {
            let number =
                enctype_number(name).ok_or_else(|| format!("unknown encryption type {name:?}"))?;
            if matches!(number, 1 | 3 | 24) {
                return Err(format!(
                    "encryption type {name} is broken and cannot be allowed"
                ));
            }
            enctypes.push(number);
        }
        if enctypes.is_empty() {
            return Err("allowed_enctypes is empty".into());
        }
        Ok(PrincipalPolicy { config, enctypes })
    }

    pub fn config(&self) -> &KerberosConfig {
        &self.config
    }

    /// The checks made before any cryptography, each refusal logged: the
    /// token's shape, its encryption types and the service it names.
    pub fn precheck(&self, token: &[u8]) -> Result<token::OfferedTicket, FederationError> {
        let offered = token::inspect(token).map_err(|e| {
            tracing::info!(outcome = %e, "Kerberos token refused");
            FederationError::Rejected(e.to_string())
        })?;
        let checked = self.check_enctypes(&offered).and_then(|()| {
            if self.service_allowed(&offered.service) {
                Ok(())
            } else {
                Err(FederationError::Rejected(format!(
                    "the ticket is for {}, which is not one of kerberos.service_principals",
                    offered.service
                )))
            }
        });
        if let Err(e) = checked {
            tracing::info!(
                service = ?offered.service,
                ticket_enctype = %enctype_name(offered.ticket_enctype),
                session_enctype = %enctype_name(offered.session_enctype),
                outcome = %e,
                "Kerberos ticket refused"
            );
            return Err(e);
        }
        Ok(offered)
    }

    /// Whether both encryption types of a ticket are allowed.
    pub fn check_enctypes(&self, offered: &token::OfferedTicket) -> Result<(), FederationError> {
        for (what, enctype) in [
            ("ticket", offered.ticket_enctype),
            ("session key", offered.session_enctype),
        ] {
            if !self.enctypes.contains(&enctype) {
                return Err(FederationError::Rejected(format!(
                    "the {what} uses the encryption type {}, which is not allowed",
                    enctype_name(enctype)
                )));
            }
        }
        Ok(())
    }

    /// Whether `service` (`HTTP/host@REALM`) is one of the configured
    /// service principals: service and host compared without case, the
    /// realm exactly when the configuration names one.
    pub fn service_allowed(&self, service: &str) -> bool {
        let (name, realm) = service.rsplit_once('@').unwrap_or((service, ""));
        self.config
            .service_principals
            .iter()
            .any(|allowed| match allowed.rsplit_once('@') {
                Some((a_name, a_realm)) => a_name.eq_ignore_ascii_case(name) && a_realm == realm,
                None => allowed.eq_ignore_ascii_case(name),
            })
    }

    /// The subject a client principal maps to: a login (or, matching by
    /// e-mail, the principal itself), or a refusal for realms not allowed.
    pub fn map(&self, principal: &str) -> Result<String, FederationError> {
        if let Some(login) = self.config.principal_map.get(principal) {
            return Ok(login.clone());
        }
        let parsed = Principal::parse(principal).ok_or_else(|| {
            FederationError::Rejected(format!("{principal:?} is not a user@REALM principal"))
        })?;
        let realm = parsed.realm.as_str();
        if !self.config.allowed_realms.iter().any(|r| r == realm) {
            return Err(FederationError::Rejected(format!(
                "the realm {realm} is not allowed"
            )));
        }
        let name = parsed.components.join("/");
        // An enterprise principal's name is its UPN, unescaped: it is the
        // e-mail-like name the user typed, and the login matched.
        let enterprise = parsed.components.len() == 1 && name.contains('@');
        let subject = match self.config.match_local_user_by {
            LocalMatch::Login => name.as_str(),
            LocalMatch::Email if enterprise => name.as_str(),
            LocalMatch::Email => principal,
        };
        Ok(if self.config.lowercase {
            subject.to_lowercase()
        } else {
            subject.to_owned()
        })
    }
}

/// A Kerberos login: who, and the token GSSAPI wants sent back
/// (`WWW-Authenticate: Negotiate <reply>`) for mutual authentication.
#[derive(Debug)]
pub struct KerberosLogin {
    pub identity: ExternalIdentity,
    pub reply: Option<Vec<u8>>,
}

/// The keytab a configuration uses: its krb5 name, and the file behind it
/// when it is a file (checked on every request, so that a keytab gone
/// missing is reported as such).
fn keytab_of(config: &KerberosConfig) -> Result<(String, Option<PathBuf>), String> {
    let name = match &config.keytab {
        Some(k) if !k.is_empty() => k.clone(),
        _ => std::env::var("KRB5_KTNAME").map_err(|_| {
            "no keytab: set kerberos.keytab (or the KRB5_KTNAME environment variable)".to_owned()
        })?,
    };
    let file = match name.split_once(':') {
        Some(("FILE" | "WRFILE", path)) => Some(PathBuf::from(path)),
        Some((kind, _)) if kind.len() > 1 && !kind.contains('/') => None,
        _ => Some(PathBuf::from(&name)),
    };
    Ok((name, file))
}

/// The keytab file a configuration uses (its path, or `KRB5_KTNAME`'s),
/// when the keytab is a file.
pub fn keytab_file(config: &KerberosConfig) -> Option<PathBuf> {
    keytab_of(config).ok().and_then(|(_, file)| file)
}

/// The SPNEGO acceptor of one configuration.
#[derive(Debug)]
pub struct KerberosVerifier {
    policy: Arc<PrincipalPolicy>,
    keytab_file: Option<PathBuf>,
    #[cfg(feature = "kerberos")]
    acceptor: Arc<gss::GssAcceptor>,
}

impl KerberosVerifier {
    /// Check the configuration and the keytab (which must exist and be
    /// readable: a Kerberos setup that cannot work stops the start-up).
    pub fn new(config: KerberosConfig) -> Result<Self, String> {
        let (keytab, keytab_file) = keytab_of(&config)?;
        let policy = Arc::new(PrincipalPolicy::new(config)?);
        if let Some(path) = &keytab_file {
            std::fs::File::open(path).map_err(|e| format!("keytab {}: {e}", path.display()))?;
        }
        Self::with_acceptor(policy, keytab, keytab_file)
    }

    #[cfg(feature = "kerberos")]
    fn with_acceptor(
        policy: Arc<PrincipalPolicy>,
        keytab: String,
        keytab_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        let acceptor =
            gss::GssAcceptor::from_keytab(&keytab).map_err(|e| format!("keytab {keytab}: {e}"))?;
        Ok(KerberosVerifier {
            policy,
            keytab_file,
            acceptor: Arc::new(acceptor),
        })
    }

    #[cfg(not(feature = "kerberos"))]
    fn with_acceptor(
        _policy: Arc<PrincipalPolicy>,
        _keytab: String,
        _keytab_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        Err(
            "this Sesame was built without Kerberos support: build it with \
             `cargo build --release --features kerberos` (Debian packages libkrb5-dev, \
             libclang1-14 and libclang-common-14-dev)"
                .into(),
        )
    }

    pub fn policy(&self) -> &PrincipalPolicy {
        &self.policy
    }

    /// Accept the (base64-decoded) token of `Authorization: Negotiate`.
    pub async fn verify(&self, token: Vec<u8>) -> Result<KerberosLogin, FederationError> {
        let offered = self.policy.precheck(&token)?;
        let enctype = enctype_name(offered.session_enctype);
        let refuse = |e: FederationError| {
            tracing::info!(
                service = ?offered.service,
                session_enctype = %enctype,
                outcome = %e,
                "Kerberos ticket refused"
            );
            e
        };
        let accepted = self.accept(token).await.map_err(refuse)?;
        if !self.policy.service_allowed(&accepted.service) {
            return Err(refuse(FederationError::Rejected(format!(
                "the ticket is for {}, which is not one of kerberos.service_principals",
                accepted.service
            ))));
        }
        let subject = self.policy.map(&accepted.client).map_err(|e| {
            tracing::info!(principal = %accepted.client, session_enctype = %enctype, outcome = %e, "Kerberos principal refused");
            e
        })?;
        tracing::info!(principal = %accepted.client, service = %accepted.service, session_enctype = %enctype, "Kerberos ticket accepted");
        let realm = accepted
            .client
            .rsplit_once('@')
            .map(|(_, r)| r.to_owned())
            .unwrap_or_default();
        let mut attributes = serde_json::Map::new();
        attributes.insert("principal".into(), accepted.client.clone().into());
        attributes.insert("enctype".into(), enctype.into());
        Ok(KerberosLogin {
            identity: ExternalIdentity {
                source: "kerberos",
                issuer: realm,
                subject,
                attributes,
            },
            reply: accepted.reply,
        })
    }

    /// The keytab check and the GSSAPI acceptance, off the async runtime.
    async fn accept(&self, token: Vec<u8>) -> Result<Accepted, FederationError> {
        let keytab_file = self.keytab_file.clone();
        #[cfg(feature = "kerberos")]
        let acceptor = self.acceptor.clone();
        tokio::task::spawn_blocking(move || {
            keytab_readable(keytab_file.as_deref())?;
            #[cfg(feature = "kerberos")]
            {
                acceptor
                    .accept(&token)
                    .map(|a| Accepted {
                        client: a.client,
                        service: a.service,
                        reply: a.reply,
                    })
                    .map_err(gssapi_refusal)
            }
            #[cfg(not(feature = "kerberos"))]
            {
                let _ = token;
                Err(FederationError::Unavailable(
                    "built without Kerberos support".into(),
                ))
            }
        })
        .await
        .map_err(|e| FederationError::Unavailable(format!("the Kerberos check failed: {e}")))?
    }
}

/// GSSAPI refused a ticket. Its words (the replay cache, the key version,
/// the realm's KDC, the enctypes it tried) help the operator, not the
/// client: they go to the log, and the refusal says one fixed sentence.
/// Sesame's own refusals (a realm, an encryption type or a service not
/// allowed, NTLM) keep their words, which tell the user what to change.
#[cfg(any(feature = "kerberos", test))]
fn gssapi_refusal(detail: String) -> FederationError {
    tracing::info!(gssapi = %detail, "Kerberos ticket refused by GSSAPI");
    FederationError::Rejected(GSSAPI_REFUSED.into())
}

#[cfg(any(feature = "kerberos", test))]
const GSSAPI_REFUSED: &str = "the ticket was refused (expired, replayed, or not made for this service's key): ask for a new one";

/// The keytab file can be opened (checked before each acceptance, so that
/// a keytab gone missing is a 503 that names it, not a refused user).
fn keytab_readable(file: Option<&std::path::Path>) -> Result<(), FederationError> {
    if let Some(path) = file {
        std::fs::File::open(path).map_err(|e| {
            tracing::error!(keytab = %path.display(), error = %e, "the Kerberos keytab is unreadable");
            FederationError::Unavailable(format!("the keytab is unreadable: {e}"))
        })?;
    }
    Ok(())
}

struct Accepted {
    client: String,
    service: String,
    reply: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gssapi_words_stay_in_the_log() {
        let detail = "Request is a replay (37), Key version 3 not found in keytab /etc/krb5.keytab"
            .to_owned();
        match gssapi_refusal(detail) {
            FederationError::Rejected(m) => {
                assert_eq!(m, GSSAPI_REFUSED);
                assert!(!m.contains("keytab") && !m.contains("37"));
            }
            other => panic!("{other:?}"),
        }
    }

    fn config() -> KerberosConfig {
        KerberosConfig {
            keytab: Some("/nonexistent".into()),
            service_principals: vec![
                "HTTP/sso.example.com@EXAMPLE.COM".into(),
                "HTTP/proxy.example.com".into(),
            ],
            allowed_realms: vec!["EXAMPLE.COM".into()],
            lowercase: true,
            principal_map: BTreeMap::from([("jdoe@PARTNER.ORG".into(), "john".into())]),
            allowed_enctypes: default_enctypes(),
            match_local_user_by: LocalMatch::Login,
            auto_provision_policy: None,
            directory_lookup: false,
        }
    }

    #[test]
    fn principals_are_unescaped_as_krb5_reads_them() {
        let parse =
            |text| Principal::parse(text).and_then(|p| p.directory_name().map(|n| (n, p.realm)));
        assert_eq!(
            parse("erin\\@example.test@AD.EXAMPLE.COM"),
            Some((
                DirectoryName::Upn("erin@example.test".into()),
                "AD.EXAMPLE.COM".into()
            ))
        );
        assert_eq!(
            parse("alice@AD.EXAMPLE.COM"),
            Some((
                DirectoryName::Account("alice".into()),
                "AD.EXAMPLE.COM".into()
            ))
        );
        // A service principal is not a user; an escaped slash is no separator.
        assert_eq!(parse("HTTP/sso.example.com@AD.EXAMPLE.COM"), None);
        assert_eq!(
            parse("a\\/b@R").map(|(n, _)| n),
            Some(DirectoryName::Account("a/b".into()))
        );
        for bad in ["alice", "alice@", "@R", "a//b@R", "trailing\\"] {
            assert_eq!(Principal::parse(bad), None, "{bad}");
        }
        // Enterprise principals: the login and the e-mail matched are the UPN.
        let mut by_email = config();
        by_email.match_local_user_by = LocalMatch::Email;
        let policy = PrincipalPolicy::new(by_email).unwrap();
        assert_eq!(
            policy.map("Erin\\@Example.test@EXAMPLE.COM").unwrap(),
            "erin@example.test"
        );
        assert_eq!(policy.map("bob@EXAMPLE.COM").unwrap(), "bob@example.com");
        let policy = PrincipalPolicy::new(config()).unwrap();
        assert_eq!(
            policy.map("erin\\@example.test@EXAMPLE.COM").unwrap(),
            "erin@example.test"
        );
    }

    #[test]
    fn principals_map_to_logins_by_realm_case_and_exceptions() {
        let policy = PrincipalPolicy::new(config()).unwrap();
        assert_eq!(policy.map("Alice@EXAMPLE.COM").unwrap(), "alice");
        assert_eq!(policy.map("jdoe@PARTNER.ORG").unwrap(), "john");
        for refused in [
            "bob@OTHER.ORG",
            "bob@example.com",
            "bob",
            "@EXAMPLE.COM",
            "bob@",
        ] {
            assert!(
                matches!(policy.map(refused), Err(FederationError::Rejected(_))),
                "{refused}"
            );
        }
        let mut by_email = config();
        by_email.match_local_user_by = LocalMatch::Email;
        by_email.lowercase = false;
        let policy = PrincipalPolicy::new(by_email).unwrap();
        assert_eq!(
            policy.map("Alice@EXAMPLE.COM").unwrap(),
            "Alice@EXAMPLE.COM"
        );
    }

    #[test]
    fn service_principals_match_host_without_case_and_realm_exactly() {
        let policy = PrincipalPolicy::new(config()).unwrap();
        assert!(policy.service_allowed("HTTP/sso.example.com@EXAMPLE.COM"));
        assert!(policy.service_allowed("HTTP/SSO.example.com@EXAMPLE.COM"));
        assert!(!policy.service_allowed("HTTP/sso.example.com@OTHER.COM"));
        assert!(policy.service_allowed("HTTP/proxy.example.com@ANY.REALM"));
        assert!(!policy.service_allowed("HTTP/other.example.com@EXAMPLE.COM"));
        assert!(!policy.service_allowed("host/sso.example.com@EXAMPLE.COM"));
    }

    #[test]
    fn weak_enctypes_are_refused_for_ticket_and_session_key() {
        let policy = PrincipalPolicy::new(config()).unwrap();
        let offered = |t, s| token::OfferedTicket {
            service: "HTTP/sso.example.com@EXAMPLE.COM".into(),
            ticket_enctype: t,
            session_enctype: s,
        };
        assert!(policy.check_enctypes(&offered(18, 17)).is_ok());
        assert!(policy.check_enctypes(&offered(23, 18)).is_err());
        assert!(policy.check_enctypes(&offered(18, 16)).is_err());
        let mut with_des = config();
        with_des.allowed_enctypes = vec!["des-cbc-md5".into()];
        assert!(PrincipalPolicy::new(with_des).is_err());
        let mut unknown = config();
        unknown.allowed_enctypes = vec!["aes1024".into()];
        assert!(PrincipalPolicy::new(unknown).is_err());
    }

    #[test]
    fn configurations_that_cannot_work_are_refused() {
        let mut no_spn = config();
        no_spn.service_principals.clear();
        assert!(PrincipalPolicy::new(no_spn).is_err());
        let mut nobody = config();
        nobody.allowed_realms.clear();
        nobody.principal_map.clear();
        assert!(PrincipalPolicy::new(nobody).is_err());
        let missing = KerberosVerifier::new(config()).unwrap_err();
        assert!(missing.contains("/nonexistent"), "{missing}");
    }

    #[test]
    fn keytab_names_tell_files_from_other_kinds() {
        let mut c = config();
        c.keytab = Some("FILE:/etc/sesame/http.keytab".into());
        assert_eq!(
            keytab_of(&c).unwrap().1,
            Some(PathBuf::from("/etc/sesame/http.keytab"))
        );
        c.keytab = Some("/etc/krb5.keytab".into());
        assert_eq!(
            keytab_of(&c).unwrap().1,
            Some(PathBuf::from("/etc/krb5.keytab"))
        );
        c.keytab = Some("MEMORY:test".into());
        assert_eq!(keytab_of(&c).unwrap().1, None);
    }

    #[test]
    fn tokens_are_checked_before_any_cryptography() {
        let policy = PrincipalPolicy::new(config()).unwrap();
        let refused = |token: &[u8]| match policy.precheck(token) {
            Err(FederationError::Rejected(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert!(refused(b"garbage").contains("not a SPNEGO"));
        assert!(refused(b"NTLMSSP\0\x01").contains("NTLM"));
        let rc4 = token::tests::krb5_token(["HTTP", "sso.example.com"], "EXAMPLE.COM", 23, 23);
        assert!(refused(&rc4).contains("arcfour-hmac"));
        let elsewhere =
            token::tests::krb5_token(["HTTP", "other.example.com"], "EXAMPLE.COM", 18, 18);
        assert!(refused(&elsewhere).contains("other.example.com"));
        let fine = token::tests::krb5_token(["HTTP", "sso.example.com"], "EXAMPLE.COM", 18, 17);
        assert_eq!(
            policy.precheck(&fine).ok().map(|o| o.service),
            Some("HTTP/sso.example.com@EXAMPLE.COM".to_owned())
        );
    }

    #[test]
    fn a_missing_keytab_is_unavailable_not_a_refusal() {
        assert!(keytab_readable(None).is_ok());
        assert!(matches!(
            keytab_readable(Some(std::path::Path::new("/nonexistent/keytab"))),
            Err(FederationError::Unavailable(m)) if m.contains("unreadable")
        ));
    }
}
