//! The GSSAPI acceptor (MIT krb5 through `libgssapi`). Blocking calls: the
//! caller runs them off the async runtime.

use libgssapi::context::{SecurityContext, ServerCtx};
use libgssapi::credential::Cred;
use libgssapi::error::{Error as GssError, MajorFlags};

/// A context accepted in one step.
#[derive(Debug)]
pub struct Accepted {
    /// The client principal, `user@REALM`.
    pub client: String,
    /// The service principal the ticket was for, `HTTP/host@REALM`.
    pub service: String,
    /// The mutual-authentication token to send back, if GSSAPI made one.
    pub reply: Option<Vec<u8>>,
}

/// Acceptor credentials from one keytab: any service principal in it.
pub struct GssAcceptor {
    cred: Cred,
}

impl std::fmt::Debug for GssAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GssAcceptor")
    }
}

impl GssAcceptor {
    /// Credentials for accepting contexts with the keys of `keytab` (a path,
    /// or a krb5 keytab name such as `FILE:/etc/sesame/http.keytab`). MIT
    /// checks here that the keytab exists and holds keys.
    pub fn from_keytab(keytab: &str) -> Result<Self, String> {
        let cred = acquire_from_keytab(keytab).map_err(|e| e.to_string())?;
        Ok(GssAcceptor { cred })
    }

    /// Accept the initial context token of a client. Multi-step
    /// negotiations are refused: HTTP Negotiate with Kerberos takes one.
    pub fn accept(&self, token: &[u8]) -> Result<Accepted, String> {
        let mut ctx = ServerCtx::new(Some(self.cred.clone()));
        let reply = ctx.step(token, None).map_err(|e| e.to_string())?;
        if !ctx.is_complete() {
            return Err("the negotiation needs another step, which Sesame does not take".into());
        }
        let name = |n: Result<libgssapi::name::Name, GssError>| -> Result<String, String> {
            let n = n.map_err(|e| e.to_string())?;
            let shown = n.display_name().map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&shown).into_owned())
        };
        Ok(Accepted {
            client: name(ctx.source_name())?,
            service: name(ctx.target_name())?,
            reply: reply.map(|b| b.to_vec()),
        })
    }
}

/// `gss_acquire_cred_from` with the credential store `{keytab: ...}`: the
/// acceptor keys come from the configured keytab, not from the process-wide
/// `KRB5_KTNAME`. `libgssapi` does not wrap this MIT extension (RFC-less,
/// in krb5 since 1.11), hence the one unsafe block of the project.
#[allow(unsafe_code)]
fn acquire_from_keytab(keytab: &str) -> Result<Cred, GssError> {
    use libgssapi_sys as sys;
    use std::ffi::CString;
    use std::ptr;

    let failure = |major: u32, minor: u32| GssError {
        major: MajorFlags::from_bits_retain(major),
        minor,
    };
    let key = c"keytab";
    let value = CString::new(keytab).map_err(|_| failure(sys::_GSS_S_FAILURE, 0))?;
    let mut element = sys::gss_key_value_element_desc {
        key: key.as_ptr(),
        value: value.as_ptr(),
    };
    let store = sys::gss_key_value_set_desc {
        count: 1,
        elements: &mut element,
    };
    let mut minor: sys::OM_uint32 = 0;
    let mut cred: sys::gss_cred_id_t = ptr::null_mut();
    // SAFETY: every pointer passed is either null where GSSAPI allows
    // GSS_C_NO_NAME / GSS_C_NO_OID_SET / "not wanted", or points to a live
    // local (`minor`, `cred`, `store`, whose strings `key` and `value`
    // outlive the call). GSSAPI copies what it keeps from the store.
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            ptr::null_mut(),
            sys::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            sys::GSS_C_ACCEPT as sys::gss_cred_usage_t,
            &store,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if major != sys::GSS_S_COMPLETE || cred.is_null() {
        return Err(failure(major, minor));
    }
    // SAFETY: `cred` is a credential handle GSSAPI just gave us, owned by
    // nobody else; `Cred` releases it once, when its last clone is dropped.
    Ok(unsafe { Cred::from_c(cred) })
}
