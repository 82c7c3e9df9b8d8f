//! What Sesame reads of an OpenID token before checking its signature: the
//! unverified issuer and the header. Never a panic; `none` and algorithms
//! outside the allowed list are never accepted.
#![no_main]

use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use sesame_federation::oidc::{inspect_unverified, peek_issuer};

const ALLOWED: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = peek_issuer(token);
    if let Ok(header) = inspect_unverified(token, &ALLOWED) {
        assert!(ALLOWED.contains(&header.alg), "{:?}", header.alg);
    }
});
