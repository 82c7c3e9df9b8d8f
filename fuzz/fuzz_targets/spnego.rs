//! The DER reader that inspects SPNEGO and Kerberos tokens before GSSAPI
//! sees them: any bytes are read or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_federation::kerberos::token::{enctype_name, inspect};

fuzz_target!(|data: &[u8]| {
    if let Ok(offered) = inspect(data) {
        let _ = format!("{offered:?}");
    }
    if let Some(&b) = data.first() {
        let _ = enctype_name(i32::from(b as i8));
    }
});
