//! What a `Negotiate` token says in clear, read before any cryptography: the
//! mechanism, the service the ticket is for, and the encryption types of the
//! ticket and of the authenticator (the session key). Sesame uses it to
//! refuse NTLM and weak encryption types early, and to log what was offered;
//! the ticket itself is checked by GSSAPI.
//!
//! Shapes read (RFC 4178, RFC 2743 §3.1, RFC 4121 §4.1, RFC 4120 §5.5.1):
//! a SPNEGO `NegTokenInit` whose optimistic `mechToken` is a Kerberos
//! `AP-REQ`, or the Kerberos token alone.

/// DER object identifiers (content bytes only).
const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const OID_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// The OID Microsoft clients also send for Kerberos (1.2.840.48018.1.2.2).
const OID_KRB5_MS: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];

/// What a Negotiate token offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedTicket {
    /// The service principal the ticket is for, as `name/host@REALM`.
    pub service: String,
    /// Encryption type of the ticket (the service's key).
    pub ticket_enctype: i32,
    /// Encryption type of the authenticator (the session key).
    pub session_enctype: i32,
}

/// Why a Negotiate token is not a Kerberos ticket Sesame can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenShapeError {
    #[error("NTLM is not accepted, only Kerberos")]
    Ntlm,
    #[error(
        "the SPNEGO token offers no Kerberos ticket (mechanism list only, or another mechanism)"
    )]
    NoKerberosTicket,
    #[error("not a SPNEGO or Kerberos token: {0}")]
    Malformed(&'static str),
}

/// A DER element: its tag byte and its content.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

/// Read one DER element at the start of `input`; the rest follows it.
fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), TokenShapeError> {
    let (&tag, rest) = input
        .split_first()
        .ok_or(TokenShapeError::Malformed("truncated"))?;
    if tag & 0x1f == 0x1f {
        return Err(TokenShapeError::Malformed("multi-byte tag"));
    }
    let (&first, rest) = rest
        .split_first()
        .ok_or(TokenShapeError::Malformed("truncated length"))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(TokenShapeError::Malformed("bad length"));
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return Err(TokenShapeError::Malformed("truncated content"));
    }
    let (content, rest) = rest.split_at(len);
    Ok((Tlv { tag, content }, rest))
}

/// The element of `input` with tag `tag` (input read as a sequence of elements).
fn find(input: &[u8], tag: u8) -> Result<&[u8], TokenShapeError> {
    let mut rest = input;
    while !rest.is_empty() {
        let (tlv, next) = read_tlv(rest)?;
        if tlv.tag == tag {
            return Ok(tlv.content);
        }
        rest = next;
    }
    Err(TokenShapeError::Malformed("missing field"))
}

/// The single element inside `input`, which must have tag `tag`.
fn expect<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<&'a [u8], TokenShapeError> {
    let (tlv, _) = read_tlv(input)?;
    if tlv.tag != tag {
        return Err(TokenShapeError::Malformed(what));
    }
    Ok(tlv.content)
}

fn integer(content: &[u8]) -> Result<i32, TokenShapeError> {
    let bytes = expect(content, 0x02, "expected an INTEGER")?;
    if bytes.is_empty() || bytes.len() > 4 {
        return Err(TokenShapeError::Malformed("bad INTEGER"));
    }
    let negative = bytes[0] & 0x80 != 0;
    let start: i64 = if negative { -1 } else { 0 };
    let value = bytes
        .iter()
        .fold(start, |acc, b| (acc << 8) | i64::from(*b));
    i32::try_from(value).map_err(|_| TokenShapeError::Malformed("bad INTEGER"))
}

fn general_string(content: &[u8]) -> Result<String, TokenShapeError> {
    let bytes = expect(content, 0x1b, "expected a GeneralString")?;
    String::from_utf8(bytes.to_vec()).map_err(|_| TokenShapeError::Malformed("non-UTF-8 name"))
}

/// Read a Negotiate token (already base64-decoded).
pub fn inspect(token: &[u8]) -> Result<OfferedTicket, TokenShapeError> {
    if token.starts_with(b"NTLMSSP\0") {
        return Err(TokenShapeError::Ntlm);
    }
    let (outer, _) = read_tlv(token)?;
    match outer.tag {
        // [APPLICATION 0] InitialContextToken: an OID, then the inner token.
        0x60 => {
            let (oid, inner) = read_tlv(outer.content)?;
            if oid.tag != 0x06 {
                return Err(TokenShapeError::Malformed("no mechanism OID"));
            }
            match oid.content {
                OID_SPNEGO => neg_token_init(inner),
                OID_KRB5 | OID_KRB5_MS => krb5_inner(inner),
                _ => Err(TokenShapeError::NoKerberosTicket),
            }
        }
        // A bare NegTokenResp means a later step of a negotiation Sesame
        // never started.
        0xa1 => Err(TokenShapeError::NoKerberosTicket),
        _ => Err(TokenShapeError::Malformed("unknown outer tag")),
    }
}

/// `[0] NegTokenInit ::= SEQUENCE { mechTypes [0], reqFlags [1], mechToken [2], ... }`
fn neg_token_init(input: &[u8]) -> Result<OfferedTicket, TokenShapeError> {
    let init = expect(input, 0xa0, "expected NegTokenInit")?;
    let fields = expect(init, 0x30, "expected a SEQUENCE")?;
    let mech_types = expect(find(fields, 0xa0)?, 0x30, "expected mechTypes")?;
    // The optimistic token is for the first mechanism listed.
    let (first, _) = read_tlv(mech_types)?;
    if first.tag != 0x06 {
        return Err(TokenShapeError::Malformed("bad mechTypes"));
    }
    if first.content != OID_KRB5 && first.content != OID_KRB5_MS {
        return Err(TokenShapeError::NoKerberosTicket);
    }
    let mech_token = match find(fields, 0xa2) {
        Ok(t) => expect(t, 0x04, "expected an OCTET STRING")?,
        Err(_) => return Err(TokenShapeError::NoKerberosTicket),
    };
    let (outer, _) = read_tlv(mech_token)?;
    if outer.tag != 0x60 {
        return Err(TokenShapeError::Malformed("bad Kerberos token"));
    }
    let (oid, inner) = read_tlv(outer.content)?;
    if oid.tag != 0x06 || (oid.content != OID_KRB5 && oid.content != OID_KRB5_MS) {
        return Err(TokenShapeError::NoKerberosTicket);
    }
    krb5_inner(inner)
}

/// The Kerberos token after its OID: `TOK_ID` 01 00, then the `AP-REQ`.
fn krb5_inner(input: &[u8]) -> Result<OfferedTicket, TokenShapeError> {
    let ap_req = input
        .strip_prefix(&[0x01, 0x00])
        .ok_or(TokenShapeError::Malformed("not an AP-REQ token"))?;
    let ap_req = expect(ap_req, 0x6e, "expected AP-REQ")?;
    let fields = expect(ap_req, 0x30, "expected a SEQUENCE")?;
    // ticket [3] Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2], enc-part [3] }
    let ticket = expect(find(fields, 0xa3)?, 0x61, "expected a Ticket")?;
    let ticket = expect(ticket, 0x30, "expected a SEQUENCE")?;
    let realm = general_string(find(ticket, 0xa1)?)?;
    let sname = expect(find(ticket, 0xa2)?, 0x30, "expected a PrincipalName")?;
    let mut parts = Vec::new();
    let mut components = expect(find(sname, 0xa1)?, 0x30, "expected name-string")?;
    while !components.is_empty() {
        let (tlv, rest) = read_tlv(components)?;
        if tlv.tag != 0x1b {
            return Err(TokenShapeError::Malformed("bad name component"));
        }
        parts.push(String::from_utf8_lossy(tlv.content).into_owned());
        components = rest;
    }
    let ticket_enctype = encrypted_data_etype(find(ticket, 0xa3)?)?;
    // authenticator [4] EncryptedData, under the session key.
    let session_enctype = encrypted_data_etype(find(fields, 0xa4)?)?;
    Ok(OfferedTicket {
        service: format!("{}@{realm}", parts.join("/")),
        ticket_enctype,
        session_enctype,
    })
}

/// `EncryptedData ::= SEQUENCE { etype [0] Int32, kvno [1] OPTIONAL, cipher [2] }`
fn encrypted_data_etype(input: &[u8]) -> Result<i32, TokenShapeError> {
    let fields = expect(input, 0x30, "expected EncryptedData")?;
    integer(find(fields, 0xa0)?)
}

/// Kerberos encryption types by number (RFC 3961, 3962, 4757, 6803, 8009).
pub const ENCTYPES: &[(i32, &str)] = &[
    (1, "des-cbc-crc"),
    (3, "des-cbc-md5"),
    (16, "des3-cbc-sha1"),
    (17, "aes128-cts-hmac-sha1-96"),
    (18, "aes256-cts-hmac-sha1-96"),
    (19, "aes128-cts-hmac-sha256-128"),
    (20, "aes256-cts-hmac-sha384-192"),
    (23, "arcfour-hmac"),
    (24, "arcfour-hmac-exp"),
    (25, "camellia128-cts-cmac"),
    (26, "camellia256-cts-cmac"),
];

/// The name of an encryption type, or its number.
pub fn enctype_name(enctype: i32) -> String {
    ENCTYPES
        .iter()
        .find(|(n, _)| *n == enctype)
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| format!("enctype-{enctype}"))
}

/// The number of a named encryption type (`rc4-hmac` is accepted for 23).
pub fn enctype_number(name: &str) -> Option<i32> {
    let name = name.trim().to_ascii_lowercase();
    let name = if name == "rc4-hmac" {
        "arcfour-hmac"
    } else {
        &name
    };
    ENCTYPES.iter().find(|(_, n)| *n == name).map(|(n, _)| *n)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// DER element with `tag` around `content`.
    pub(crate) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    fn int(v: u8) -> Vec<u8> {
        der(0x02, &[v])
    }

    fn gs(s: &str) -> Vec<u8> {
        der(0x1b, s.as_bytes())
    }

    fn encrypted(etype: u8) -> Vec<u8> {
        let cipher = der(0x04, &[0xde; 300]);
        der(
            0x30,
            &[
                der(0xa0, &int(etype)),
                der(0xa1, &int(2)),
                der(0xa2, &cipher),
            ]
            .concat(),
        )
    }

    /// A Kerberos GSS token (with its OID) whose AP-REQ names `service`
    /// (`HTTP`, `host.example`) in `realm`.
    pub(crate) fn krb5_token(service: [&str; 2], realm: &str, ticket: u8, session: u8) -> Vec<u8> {
        let sname = der(
            0x30,
            &[
                der(0xa0, &int(2)),
                der(0xa1, &der(0x30, &[gs(service[0]), gs(service[1])].concat())),
            ]
            .concat(),
        );
        let ticket = der(
            0x61,
            &der(
                0x30,
                &[
                    der(0xa0, &int(5)),
                    der(0xa1, &gs(realm)),
                    der(0xa2, &sname),
                    der(0xa3, &encrypted(ticket)),
                ]
                .concat(),
            ),
        );
        let ap_req = der(
            0x6e,
            &der(
                0x30,
                &[
                    der(0xa0, &int(5)),
                    der(0xa1, &int(14)),
                    der(0xa2, &der(0x03, &[0x00, 0x20, 0, 0, 0])),
                    der(0xa3, &ticket),
                    der(0xa4, &encrypted(session)),
                ]
                .concat(),
            ),
        );
        der(
            0x60,
            &[der(0x06, OID_KRB5), vec![0x01, 0x00], ap_req].concat(),
        )
    }

    pub(crate) fn spnego(first_mech: &[u8], mech_token: Option<Vec<u8>>) -> Vec<u8> {
        let mech_types = der(
            0x30,
            &[der(0x06, first_mech), der(0x06, OID_KRB5_MS)].concat(),
        );
        let mut fields = der(0xa0, &mech_types);
        if let Some(t) = mech_token {
            fields.extend(der(0xa2, &der(0x04, &t)));
        }
        der(
            0x60,
            &[der(0x06, OID_SPNEGO), der(0xa0, &der(0x30, &fields))].concat(),
        )
    }

    #[test]
    fn spnego_with_a_kerberos_ticket_is_read() {
        let token = spnego(
            OID_KRB5,
            Some(krb5_token(
                ["HTTP", "sso.example.com"],
                "EXAMPLE.COM",
                18,
                17,
            )),
        );
        assert_eq!(
            inspect(&token),
            Ok(OfferedTicket {
                service: "HTTP/sso.example.com@EXAMPLE.COM".into(),
                ticket_enctype: 18,
                session_enctype: 17,
            })
        );
    }

    #[test]
    fn bare_kerberos_tokens_are_read_too() {
        let token = krb5_token(["HTTP", "a.b"], "R", 23, 23);
        let offered = inspect(&token).map(|o| (o.service, o.ticket_enctype));
        assert_eq!(offered, Ok(("HTTP/a.b@R".into(), 23)));
    }

    #[test]
    fn ntlm_and_mechanism_lists_without_a_ticket_are_told_apart() {
        assert_eq!(inspect(b"NTLMSSP\0\x01\0\0\0"), Err(TokenShapeError::Ntlm));
        let ntlm_oid = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
        assert_eq!(
            inspect(&spnego(&ntlm_oid, Some(vec![1, 2, 3]))),
            Err(TokenShapeError::NoKerberosTicket)
        );
        assert_eq!(
            inspect(&spnego(OID_KRB5, None)),
            Err(TokenShapeError::NoKerberosTicket)
        );
    }

    #[test]
    fn garbage_and_truncations_are_refused_without_panicking() {
        assert!(matches!(inspect(b""), Err(TokenShapeError::Malformed(_))));
        assert!(matches!(
            inspect(b"foobar"),
            Err(TokenShapeError::Malformed(_))
        ));
        let token = spnego(OID_KRB5, Some(krb5_token(["HTTP", "h"], "R", 18, 18)));
        // Every prefix, and every single-byte change, is refused or read; never a panic.
        for cut in 0..token.len() {
            assert!(inspect(&token[..cut]).is_err(), "prefix of {cut} bytes");
        }
        for i in 0..token.len() {
            let mut t = token.clone();
            t[i] ^= 0xff;
            let _ = inspect(&t);
        }
    }

    #[test]
    fn enctype_names_round_trip() {
        assert_eq!(enctype_number("AES256-CTS-HMAC-SHA1-96"), Some(18));
        assert_eq!(enctype_number("rc4-hmac"), Some(23));
        assert_eq!(enctype_number("aes512"), None);
        assert_eq!(enctype_name(19), "aes128-cts-hmac-sha256-128");
        assert_eq!(enctype_name(99), "enctype-99");
    }
}
