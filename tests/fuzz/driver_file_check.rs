//! What any driver file must do to us: checked by the fuzz target `driver_file` on generated
//! inputs and by `tests/fuzz_inputs.rs` on the committed ones and the built-in drivers. An
//! input is a driver file, optionally followed by a NUL byte and the bytes its registers read.
//!
//! - parsing never panics, and every problem it reports can be shown;
//! - a driver that parses is read in requests of 1 to 125 registers that stay inside the
//!   address space and cover every value;
//! - a driver that parses holds only finite numbers, each within its documented range, and its
//!   keep-alive, failsafe and setpoint writes can be made (no panic on a period or a timeout);
//! - whatever its registers hold, every number decoded from them is finite.

use hubgate::driver::numbers::driver_numbers;
use hubgate::driver::{Value, parse};
use std::path::Path;

pub fn check(data: &[u8]) {
    let (text, registers) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    // Named after the driver it declares, so that a driver file passes the name check and its
    // plan, numbers and decoding are checked too.
    let name = toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| Some(t.get("driver")?.get("name")?.as_str()?.to_string()))
        .filter(|n| !n.is_empty() && !n.contains(['/', '\\', '\0']))
        .unwrap_or_else(|| "fuzz".into());
    let driver = match parse(Path::new(&format!("{name}.toml")), text) {
        Ok(d) => d,
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in problems {
                assert!(!p.to_string().is_empty());
            }
            return;
        }
    };
    for n in driver_numbers(&driver.file) {
        assert!(
            n.value.is_finite() && n.range.contains(n.value),
            "{} = {} parsed, outside {:?}",
            n.key,
            n.value,
            n.range
        );
    }
    if let Some(k) = driver.keepalive() {
        assert!(k.period > std::time::Duration::ZERO, "{k:?}");
    }
    if let Some(t) = driver.failsafe_timeout() {
        assert!(t > std::time::Duration::ZERO, "{t:?}");
    }
    let _ = driver.failsafe_writes(6.0);
    let _ = driver.setpoint_writes(16.0, 230.0, 3);
    for block in driver.read_plan() {
        assert!((1..=125).contains(&block.count), "{block:?}");
        assert!(
            u32::from(block.address) + u32::from(block.count) <= 0x1_0000,
            "{block:?}"
        );
    }
    // The registers hold the given bytes, over and over (zeros without any).
    let mut bytes = registers.iter().copied().cycle();
    let mut word = || match (bytes.next(), bytes.next()) {
        (Some(hi), Some(lo)) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    };
    let blocks: Vec<_> = driver
        .read_plan()
        .iter()
        .map(|b| (*b, (0..b.count).map(|_| word()).collect::<Vec<u16>>()))
        .collect();
    for (name, v) in &driver.file.values {
        let kind = driver.value_kind(v);
        let end = u32::from(v.address) + u32::from(v.ty.width(v.registers.unwrap_or(0)));
        assert!(
            driver.read_plan().iter().any(|b| b.kind == kind
                && b.address <= v.address
                && end <= u32::from(b.address) + u32::from(b.count)),
            "{name} is not read by {:?}",
            driver.read_plan()
        );
        if let Some(Value::Number(n)) = driver.value(name, &blocks) {
            assert!(n.is_finite(), "{name} decoded as {n}");
        }
    }
    let _ = driver.decode(&blocks);
}
