//! The queries that read the accounts of a XiVO or Wazo platform's own
//! database, so that the common cases need only a URL. Tables and columns
//! as xivo-dao and wazo-auth define them (see `docs/sql.md`).

use serde::{Deserialize, Serialize};

use super::stored::PasswordFormat;

/// A known schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// XiVO's `asterisk` database, as its web interface writes it.
    Xivo,
    /// wazo-auth's own database.
    Wazo,
}

/// XiVO's UC users: the CTI login of IPBX ‣ Services ‣ PBX Settings ‣
/// Users (xivo-dao `userfeatures`: `loginclient`, `passwdclient`,
/// `enableclient`), passwords in clear.
const XIVO_USER: &str = "SELECT uuid::text AS uuid, loginclient AS login, \
     passwdclient AS password, enableclient = 1 AS enabled, email \
     FROM userfeatures WHERE loginclient = $1 AND loginclient <> ''";

/// XiVO's web-service accounts: Configuration ‣ Management ‣ Web Service
/// Access (xivo-dao `accesswebservice`), their ACLs in an array, passwords
/// in clear.
const XIVO_SERVICE: &str = "SELECT uuid::text AS uuid, login, passwd AS password, \
     disable = 0 AS enabled, acl FROM accesswebservice WHERE login = $1";

/// XiVO's web-interface administrators (xivo-dao `admin_dao`: table
/// `"user"`, `valid = 1`), passwords in clear.
const XIVO_ADMIN: &str = "SELECT uuid::text AS uuid, login, passwd AS password, \
     valid = 1 AS enabled FROM \"user\" WHERE login = $1";

/// The columns Sesame reads of wazo-auth's users: `auth_user` with its
/// PBKDF2 hash and salt, and the user's main e-mail.
macro_rules! wazo_user_columns {
    () => {
        "SELECT u.uuid::text AS uuid, u.username AS login, \
         u.password_hash AS password, u.password_salt AS salt, \
         COALESCE(u.enabled, false) AS enabled, \
         (SELECT e.address FROM auth_email e WHERE e.user_uuid = u.uuid \
          ORDER BY e.main DESC, e.address LIMIT 1) AS email, \
         u.tenant_uuid::text AS tenant_uuid, u.purpose AS purpose \
         FROM auth_user u "
    };
}

/// wazo-auth's users, by username or any of their e-mails (as wazo-auth
/// finds a login); only users that log in with a password
/// (`authentication_method` native, or the tenant's default).
const WAZO_USER: &str = concat!(
    wazo_user_columns!(),
    "WHERE (lower(u.username) = lower($1) \
        OR u.uuid IN (SELECT e.user_uuid FROM auth_email e WHERE lower(e.address) = lower($1))) \
       AND u.authentication_method IN ('native', 'default')"
);

/// XiVO's UC users by e-mail (for identities proven by another protocol):
/// the same columns, users with a CTI login only.
const XIVO_USER_BY_EMAIL: &str = "SELECT uuid::text AS uuid, loginclient AS login, \
     passwdclient AS password, enableclient = 1 AS enabled, email \
     FROM userfeatures WHERE lower(email) = lower($1) AND loginclient <> ''";

/// wazo-auth's users by any of their e-mails, whatever their
/// `authentication_method` (an identity proven by another protocol is what
/// a `saml` or `ldap` user logs in with).
const WAZO_USER_BY_EMAIL: &str = concat!(
    wazo_user_columns!(),
    "WHERE u.uuid IN (SELECT e.user_uuid FROM auth_email e WHERE lower(e.address) = lower($1))"
);

/// A preset's queries for one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queries {
    pub by_login: &'static str,
    /// Only for backends of UC users.
    pub by_email: Option<&'static str>,
    pub format: PasswordFormat,
}

/// The queries and password format of `preset` for the backend `name`.
pub fn queries(preset: Preset, name: &str) -> Result<Queries, String> {
    let of = |by_login, by_email, format| Queries {
        by_login,
        by_email,
        format,
    };
    match (preset, name) {
        (Preset::Xivo, "xivo_user") => Ok(of(
            XIVO_USER,
            Some(XIVO_USER_BY_EMAIL),
            PasswordFormat::Plaintext,
        )),
        (Preset::Xivo, "xivo_service") => Ok(of(XIVO_SERVICE, None, PasswordFormat::Plaintext)),
        (Preset::Xivo, "xivo_admin") => Ok(of(XIVO_ADMIN, None, PasswordFormat::Plaintext)),
        (Preset::Xivo, other) => Err(format!(
            "the xivo preset has queries for xivo_user, xivo_service and xivo_admin, not {other}"
        )),
        (Preset::Wazo, _) => Ok(of(
            WAZO_USER,
            Some(WAZO_USER_BY_EMAIL),
            PasswordFormat::WazoPbkdf2,
        )),
    }
}
