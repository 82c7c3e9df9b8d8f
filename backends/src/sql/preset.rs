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

/// wazo-auth's users, by username or any of their e-mails (as wazo-auth
/// finds a login), with its PBKDF2 hash and salt; only users that log in
/// with a password (`authentication_method` native, or the tenant's
/// default).
const WAZO_USER: &str = "SELECT u.uuid::text AS uuid, u.username AS login, \
     u.password_hash AS password, u.password_salt AS salt, \
     COALESCE(u.enabled, false) AS enabled, \
     (SELECT e.address FROM auth_email e WHERE e.user_uuid = u.uuid \
      ORDER BY e.main DESC, e.address LIMIT 1) AS email, \
     u.tenant_uuid::text AS tenant_uuid, u.purpose AS purpose \
     FROM auth_user u \
     WHERE (lower(u.username) = lower($1) \
        OR u.uuid IN (SELECT e.user_uuid FROM auth_email e WHERE lower(e.address) = lower($1))) \
       AND u.authentication_method IN ('native', 'default')";

/// The query and password format of `preset` for the backend `name`.
pub fn query(preset: Preset, name: &str) -> Result<(&'static str, PasswordFormat), String> {
    match (preset, name) {
        (Preset::Xivo, "xivo_user") => Ok((XIVO_USER, PasswordFormat::Plaintext)),
        (Preset::Xivo, "xivo_service") => Ok((XIVO_SERVICE, PasswordFormat::Plaintext)),
        (Preset::Xivo, "xivo_admin") => Ok((XIVO_ADMIN, PasswordFormat::Plaintext)),
        (Preset::Xivo, other) => Err(format!(
            "the xivo preset has queries for xivo_user, xivo_service and xivo_admin, not {other}"
        )),
        (Preset::Wazo, _) => Ok((WAZO_USER, PasswordFormat::WazoPbkdf2)),
    }
}
