//! The configuration loader: any YAML text is loaded or refused with an
//! error naming the file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = sesame::config::from_str("fuzz.yml", text) {
        assert!(e.to_string().contains("fuzz.yml"), "{e}");
    }
});
