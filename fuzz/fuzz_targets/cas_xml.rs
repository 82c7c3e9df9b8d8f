//! The CAS server's validation answers and single-logout requests: any
//! text is parsed or refused, never a panic; a success names a user.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_federation::cas::{parse_logout_request, parse_service_response, plausible_ticket};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_service_response(xml);
    let _ = parse_logout_request(xml);
    let _ = plausible_ticket(xml);
});
