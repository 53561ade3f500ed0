//! Any site config text through the loader and checks. The properties are in
//! `site_config_check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../site_config_check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    // config files are read as UTF-8 text; anything else is refused before parsing
    if let Ok(text) = std::str::from_utf8(data) {
        check::check(text);
    }
});
