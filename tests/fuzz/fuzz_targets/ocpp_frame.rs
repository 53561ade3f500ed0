//! Every websocket text message the CSMS could send, through the frame parser and a live charge
//! point session. The properties are in `ocpp_frame_check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../ocpp_frame_check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    // websocket text frames are UTF-8: the websocket layer refuses anything else
    if let Ok(text) = std::str::from_utf8(data) {
        check::check(text);
    }
});
