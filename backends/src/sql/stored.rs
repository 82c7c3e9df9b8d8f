//! Passwords as SQL databases keep them: in clear (XiVO), wazo-auth's
//! PBKDF2-HMAC-SHA512, argon2 (PHC), bcrypt, and crypt's SHA-512 (`$6$`).
//! Every check is constant-time in its comparison, and the costly ones run
//! on the password workers.

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::BackendError;
use crate::password::{Password, PasswordHasher};

/// How a backend's stored passwords are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordFormat {
    /// Read from each value: `$argon2…`, `$2a$/$2b$/$2y$` (bcrypt), `$6$`
    /// (SHA-512 crypt), or 128 hex digits with a `salt` column (wazo-auth).
    /// Never clear text: that must be said.
    #[default]
    Auto,
    /// In clear, as XiVO keeps CTI and web-service passwords.
    Plaintext,
    /// wazo-auth's: hex PBKDF2-HMAC-SHA512, 250 000 rounds, salt in its own
    /// column.
    WazoPbkdf2,
    Argon2,
    Bcrypt,
    Sha512Crypt,
}

/// wazo-auth's `PasswordEncrypter` rounds.
pub const WAZO_PBKDF2_ROUNDS: u32 = 250_000;

/// A stored password, its format known.
#[derive(Clone, PartialEq, Eq)]
pub enum Stored {
    Plaintext(String),
    WazoPbkdf2 { hash: Vec<u8>, salt: Vec<u8> },
    Argon2(String),
    Bcrypt(String),
    Sha512Crypt(String),
}

impl std::fmt::Debug for Stored {
    /// The kind only: a stored password is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Stored {
    /// The format's name, as `sesame backend test` prints it.
    pub fn kind(&self) -> &'static str {
        match self {
            Stored::Plaintext(_) => "plaintext",
            Stored::WazoPbkdf2 { .. } => "wazo_pbkdf2",
            Stored::Argon2(_) => "argon2",
            Stored::Bcrypt(_) => "bcrypt",
            Stored::Sha512Crypt(_) => "sha512_crypt",
        }
    }

    /// Read `value` (and `salt`, for wazo-auth's) as `format` says.
    pub fn read(format: PasswordFormat, value: &str, salt: Option<&[u8]>) -> Result<Self, String> {
        let pbkdf2 = || -> Result<Stored, String> {
            let hash = hex::decode(value.trim())
                .map_err(|_| "a wazo_pbkdf2 hash is hexadecimal".to_string())?;
            let salt = salt.ok_or("a wazo_pbkdf2 hash needs the `salt` column")?;
            if hash.is_empty() || salt.is_empty() {
                return Err("an empty wazo_pbkdf2 hash or salt".into());
            }
            Ok(Stored::WazoPbkdf2 {
                hash,
                salt: salt.to_vec(),
            })
        };
        let prefixed = |prefixes: &[&str], make: fn(String) -> Stored, name: &str| {
            if prefixes.iter().any(|p| value.starts_with(p)) {
                Ok(make(value.to_owned()))
            } else {
                Err(format!("not a {name} hash"))
            }
        };
        match format {
            PasswordFormat::Plaintext => Ok(Stored::Plaintext(value.to_owned())),
            PasswordFormat::WazoPbkdf2 => pbkdf2(),
            PasswordFormat::Argon2 => prefixed(&["$argon2"], Stored::Argon2, "argon2"),
            PasswordFormat::Bcrypt => prefixed(&["$2a$", "$2b$", "$2y$"], Stored::Bcrypt, "bcrypt"),
            PasswordFormat::Sha512Crypt => prefixed(&["$6$"], Stored::Sha512Crypt, "$6$"),
            PasswordFormat::Auto => {
                for format in [
                    PasswordFormat::Argon2,
                    PasswordFormat::Bcrypt,
                    PasswordFormat::Sha512Crypt,
                ] {
                    if let Ok(stored) = Stored::read(format, value, salt) {
                        return Ok(stored);
                    }
                }
                if salt.is_some() {
                    return pbkdf2();
                }
                Err(
                    "the stored password is in no known format (clear text must be \
                     configured: password_format: plaintext)"
                        .into(),
                )
            }
        }
    }

    /// Whether `password` is the one stored. The comparison is constant-time;
    /// hashing runs on `hasher`'s workers.
    pub async fn verify(
        &self,
        password: &Password,
        hasher: &PasswordHasher,
    ) -> Result<bool, BackendError> {
        let typed = password.clone();
        match self.clone() {
            Stored::Plaintext(stored) => Ok(equal_in_constant_time(
                stored.as_bytes(),
                password.expose().as_bytes(),
            )),
            Stored::Argon2(phc) => hasher.verify(password, Some(&phc)).await,
            Stored::WazoPbkdf2 { hash, salt } => {
                hasher
                    .run(move || {
                        let rounds = NonZeroU32::new(WAZO_PBKDF2_ROUNDS)
                            .ok_or_else(|| BackendError::Internal("pbkdf2 rounds".into()))?;
                        Ok(ring::pbkdf2::verify(
                            ring::pbkdf2::PBKDF2_HMAC_SHA512,
                            rounds,
                            &salt,
                            typed.expose().as_bytes(),
                            &hash,
                        )
                        .is_ok())
                    })
                    .await
            }
            Stored::Bcrypt(hash) => {
                hasher
                    .run(move || {
                        bcrypt::verify(typed.expose(), &hash)
                            .map_err(|e| BackendError::Internal(format!("bcrypt hash: {e}")))
                    })
                    .await
            }
            Stored::Sha512Crypt(hash) => {
                hasher
                    .run(move || match sha_crypt::sha512_check(typed.expose(), &hash) {
                        Ok(()) => Ok(true),
                        // The crate does not export its error type: a
                        // malformed value is told apart by its name only.
                        Err(e) => {
                            let why = format!("{e:?}");
                            if why != "HashMismatch" {
                                tracing::warn!(error = %why, "a $6$ password hash is malformed");
                            }
                            Ok(false)
                        }
                    })
                    .await
            }
        }
    }
}

/// Equal bytes, in a time that depends on neither value (both are hashed
/// first, so lengths do not show either).
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    let a = ring::digest::digest(&ring::digest::SHA256, a);
    let b = ring::digest::digest(&ring::digest::SHA256, b);
    a.as_ref().ct_eq(b.as_ref()).into()
}

/// A made-up stored value in `format`, checked for unknown logins before
/// any real one was read (`None`: argon2's decoy, for `auto` and the
/// PHC-like formats).
pub fn decoy(format: PasswordFormat) -> Option<Stored> {
    let random = || {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).ok()?;
        Some(bytes)
    };
    match format {
        PasswordFormat::Plaintext => random().map(|b| Stored::Plaintext(hex::encode(b))),
        PasswordFormat::WazoPbkdf2 => random().map(|b| Stored::WazoPbkdf2 {
            hash: b.repeat(2),
            salt: b.repeat(2),
        }),
        _ => None,
    }
}

/// wazo-auth's hash of `password` with `salt` (for tests and fixtures).
pub fn wazo_pbkdf2(password: &str, salt: &[u8]) -> String {
    let mut out = [0u8; 64];
    if let Some(rounds) = NonZeroU32::new(WAZO_PBKDF2_ROUNDS) {
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA512,
            rounds,
            salt,
            password.as_bytes(),
            &mut out,
        );
    }
    hex::encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_read_from_the_value_or_said() {
        let auto = PasswordFormat::Auto;
        let kind = |format, value: &str, salt: Option<&[u8]>| {
            Stored::read(format, value, salt).map(|s| s.kind())
        };
        assert_eq!(
            kind(auto, "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", None),
            Ok("argon2")
        );
        assert_eq!(
            kind(auto, "$2b$10$abcdefghijklmnopqrstuu", None),
            Ok("bcrypt")
        );
        assert_eq!(kind(auto, "$6$salt$hash", None), Ok("sha512_crypt"));
        assert_eq!(kind(auto, "ab12", Some(b"salt")), Ok("wazo_pbkdf2"));
        assert!(
            kind(auto, "secret", None).is_err(),
            "clear text is never guessed"
        );
        assert_eq!(
            kind(PasswordFormat::Plaintext, "$6$x", None),
            Ok("plaintext")
        );
        assert!(kind(PasswordFormat::WazoPbkdf2, "zz", Some(b"s")).is_err());
        assert!(kind(PasswordFormat::WazoPbkdf2, "ab", None).is_err());
        assert!(kind(PasswordFormat::Bcrypt, "$6$x", None).is_err());
        assert_eq!(
            format!("{:?}", Stored::Plaintext("secret".into())),
            "plaintext"
        );
    }

    #[tokio::test]
    async fn each_format_verifies_its_password_only() {
        let hasher = PasswordHasher::new(2).unwrap();
        let salt = b"0123456789abcdef0123456789abcdef";
        let bcrypt = bcrypt::hash("s3cre7", 4).unwrap();
        let sha = sha_crypt::sha512_simple("s3cre7", &sha_crypt::Sha512Params::new(1_000).unwrap())
            .unwrap();
        let cases = [
            Stored::Plaintext("s3cre7".into()),
            Stored::read(
                PasswordFormat::Auto,
                &wazo_pbkdf2("s3cre7", salt),
                Some(salt),
            )
            .unwrap(),
            Stored::read(PasswordFormat::Auto, &bcrypt, None).unwrap(),
            Stored::read(PasswordFormat::Auto, &sha, None).unwrap(),
        ];
        for stored in cases {
            assert!(
                stored
                    .verify(&Password::new("s3cre7"), &hasher)
                    .await
                    .unwrap(),
                "{stored:?}"
            );
            assert!(
                !stored
                    .verify(&Password::new("s3cre8"), &hasher)
                    .await
                    .unwrap(),
                "{stored:?}"
            );
            assert!(
                !stored.verify(&Password::new(""), &hasher).await.unwrap(),
                "{stored:?}"
            );
        }
    }

    #[tokio::test]
    async fn decoys_are_in_the_backends_format_and_match_nothing() {
        let hasher = PasswordHasher::new(1).unwrap();
        for (format, kind) in [
            (PasswordFormat::Plaintext, "plaintext"),
            (PasswordFormat::WazoPbkdf2, "wazo_pbkdf2"),
        ] {
            let decoy = decoy(format).unwrap();
            assert_eq!(decoy.kind(), kind);
            assert!(!decoy.verify(&Password::new(""), &hasher).await.unwrap());
        }
        assert!(decoy(PasswordFormat::Auto).is_none());
    }

    #[test]
    fn wazo_hashes_are_what_python_hashlib_makes() {
        // python3 -c "import hashlib; print(hashlib.pbkdf2_hmac('sha512',
        //     b'secret', b'salt', 250000).hex())", as wazo-auth computes it.
        assert_eq!(
            wazo_pbkdf2("secret", b"salt"),
            "b6417ebb44e88408fe12c4a4604241d97b5556b4bf7f0306e1a841fe75b9d3ba\
             c4d386e037d29475df2b229cb0ed5300ab716a9bbdf82a6fea6de2c14dbb7805"
        );
    }
}
