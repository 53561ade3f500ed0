//! Any driver file, and any register contents, through the driver loader, the read planner and
//! the decoder. The properties are in `driver_file_check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../driver_file_check.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
