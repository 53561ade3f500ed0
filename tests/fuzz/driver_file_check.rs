//! What any driver file must do to us: checked by the fuzz target `driver_file` on generated
//! inputs and by `tests/fuzz_inputs.rs` on the committed ones and the built-in drivers. An
//! input is a driver file, optionally followed by a NUL byte and the bytes its registers read.
//!
//! - parsing never panics, and every problem it reports can be shown;
//! - a driver that parses is read in requests of 1 to 125 registers that stay inside the
//!   address space and cover every value;
//! - whatever its registers hold, every number decoded from them is finite.

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
    let driver = match parse(Path::new("fuzz.toml"), text) {
        Ok(d) => d,
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in problems {
                assert!(!p.to_string().is_empty());
            }
            return;
        }
    };
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
