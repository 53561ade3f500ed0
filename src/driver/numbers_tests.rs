//! Every number of the driver format has a range; a bad one names the file, the key and the line.

use super::*;
use crate::driver::parse;
use crate::numeric_keys::{assert_covers, numeric_leaves, set, shape};
use std::collections::BTreeSet;
use std::path::Path;

/// A charger driver with every optional number set.
const FULL: &str = r#"
[driver]
name = "full"
vendor = "Test"
model = "Every key"
kind = "charger"
phases = 3

[driver.source]
document = "Test register map"
version = "1"

[modbus]
max_registers = 100
merge_gap = 8
default_port = 502
default_unit = 1
default_baud = 9600

[values.status]
address = 100
type = "u16"

[values.error_code]
address = 101
type = "u16"

[values.current_l1]
address = 102
type = "i32"
unit = "mA"
scale = 2.0
not_available = -1

[values.serial_number]
address = 110
type = "string"
registers = 8

[charger]
min_current_a = 6.0
max_current_a = 32.0
no_error = 0

[[charger.states]]
raw = 1
iec = "A"
ocpp = "Available"

[[charger.states]]
raw = 2
iec = "C"
ocpp = "Charging"

[charger.current_limit]
address = 200
type = "u16"
unit = "dA"

[charger.enable]
address = 201
type = "u16"
on = 1
off = 0

[charger.failsafe]
current_address = 202
current_type = "u16"
current_unit = "A"
timeout_address = 203
timeout_type = "u16"
timeout_unit = "s"
timeout_s = 60.0

[charger.keepalive]
mode = "register"
address = 204
type = "u16"
value = 1
period_s = 10.0

[charger.phase_switch]
address = 205
type = "u16"
one_phase = 1
three_phase = 3

[charger.unlock]
address = 206
type = "u16"
value = 1
"#;

fn full() -> DriverFile {
    toml::from_str(FULL).expect("the fixture parses")
}

#[test]
fn the_fixture_loads_and_every_numeric_field_has_a_range() {
    let f = full();
    if let Err(p) = parse(Path::new("drivers/full.toml"), FULL) {
        panic!("the fixture must load: {p:?}");
    }
    let json = serde_json::to_value(&f).expect("a driver file serializes");
    let in_format = numeric_leaves(&json);
    let listed: BTreeSet<String> = driver_numbers(&f).iter().map(|n| shape(&n.key)).collect();
    assert_covers(&in_format, &listed);
}

#[test]
fn a_bad_number_anywhere_names_the_file_the_key_and_the_line() {
    let path = Path::new("/etc/hubgate/drivers/full.toml");
    for n in driver_numbers(&full()) {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300] {
            let mut doc: toml_edit::DocumentMut = FULL.parse().expect("fixture parses");
            set(&mut doc, &n.key, toml_edit::Value::from(bad));
            let text = doc.to_string();
            let problems = match parse(path, &text) {
                Ok(_) => panic!("{} = {bad} was accepted", n.key),
                Err(p) => p,
            };
            let Some(p) = problems.iter().find(|p| p.key == n.key) else {
                panic!("{} = {bad}: no problem names the key: {problems:?}", n.key);
            };
            assert_eq!(p.path, path);
            let line = p
                .line
                .unwrap_or_else(|| panic!("{} = {bad}: no line", n.key));
            let last = n.key.rsplit('.').next().unwrap_or_default();
            let at = text.lines().nth(line - 1).unwrap_or_default();
            assert!(
                at.trim_start().starts_with(last),
                "{}: line {line} is `{at}`",
                n.key
            );
            assert!(
                p.to_string()
                    .starts_with(&format!("{}:{line}: {}: ", path.display(), n.key))
            );
        }
    }
}

#[test]
fn the_reported_cases_are_refused() {
    for (key, value, expect) in [
        ("charger.keepalive.period_s", "inf", "not a finite number"),
        ("charger.keepalive.period_s", "1e300", "out of range"),
        ("charger.failsafe.timeout_s", "nan", "not a finite number"),
        ("values.current_l1.scale", "1e-300", "too close to 0"),
        (
            "charger.keepalive.period_s",
            "90.0",
            "not shorter than failsafe.timeout_s",
        ),
        ("charger.states[1].raw", "70000", "fit its register type"),
    ] {
        let mut doc: toml_edit::DocumentMut = FULL.parse().expect("fixture parses");
        set(&mut doc, key, value.parse().expect("a TOML value"));
        let problems = parse(Path::new("full.toml"), &doc.to_string())
            .err()
            .unwrap_or_default();
        assert!(
            problems
                .iter()
                .any(|p| p.key == key && p.message.contains(expect)),
            "{key} = {value}: {problems:?}"
        );
    }
}

#[test]
fn a_failsafe_timeout_must_fit_its_register() {
    let text = FULL
        .replace("timeout_unit = \"s\"", "timeout_unit = \"ms\"")
        .replace("timeout_s = 60.0", "timeout_s = 600.0");
    let problems = parse(Path::new("full.toml"), &text)
        .err()
        .unwrap_or_default();
    assert!(
        problems
            .iter()
            .any(|p| p.key == "charger.failsafe.timeout_s" && p.message.contains("MilliSecond")),
        "{problems:?}"
    );
    // 60 s in ms fits a u16.
    let ok = FULL.replace("timeout_unit = \"s\"", "timeout_unit = \"ms\"");
    assert!(parse(Path::new("full.toml"), &ok).is_ok());
}
