//! Every number of the site config has a range, and a bad value is named with its key and line.

use super::*;
use crate::config::{DeviceKind, DriverCatalog, EnvSource, load_str};
use crate::numeric_keys::{assert_covers, numeric_leaves, set, shape};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

struct Drivers;

impl DriverCatalog for Drivers {
    fn kind_of(&self, name: &str) -> Option<DeviceKind> {
        match name {
            "meter" => Some(DeviceKind::Meter),
            "charger" => Some(DeviceKind::Charger),
            _ => None,
        }
    }
    fn names(&self) -> Vec<String> {
        vec!["meter".into(), "charger".into()]
    }
}

/// A config with every section and every optional number set.
const FULL: &str = r#"
[site]
id = "full"
name = "Every key"
grid_limit_a = [63.0, 62.0, 63.0]
grid_meter = "grid"
nominal_voltage_v = 230.0
safety_margin_a = 1.0
fallback_current_a = 6.0

[control]
cycle_ms = 1000
meter_stale_s = 5.0
ramp_up_a_per_s = 4.0
hysteresis_a = 0.5
rotation_period_s = 900

[[buses]]
name = "lan"
kind = "tcp"
host = "10.0.0.2"
port = 502
timeout_ms = 500

[[buses]]
name = "rs485"
kind = "rtu"
device = "/dev/ttyUSB0"
baud = 9600
stop_bits = 1
data_bits = 8
timeout_ms = 500
inter_frame_delay_ms = 4.0

[[circuits]]
name = "board"
limit_a = [32.0, 32.0, 32.0]

[[meters]]
name = "grid"
driver = "meter"
bus = "lan"
unit = 1

[[chargers]]
name = "c1"
driver = "charger"
bus = "rs485"
unit = 2
circuit = "board"
min_current_a = 6.0
max_current_a = 16.0
priority = 1
connector = 1

[ocpp]
csms_url = "ws://127.0.0.1:9000/ocpp"
security_profile = 0

[storage]
history_days = 365
full_resolution_days = 7
sessions_days = 730

[auth]
unknown_id_max_energy_kwh = 20.0
unknown_id_max_duration_min = 240.0

[tariff]
currency = "EUR"
price_per_kwh = 0.4
price_per_minute = 0.01
session_fee = 1.0

[[tariff.bands]]
name = "night"
start = "22:00"
end = "06:00"
price_per_kwh = 0.3
price_per_minute = 0.0
"#;

fn no_env() -> EnvSource {
    EnvSource::Map(HashMap::new())
}

fn full() -> SiteConfig {
    match load_str(FULL, Path::new("full.toml"), &no_env(), &Drivers) {
        Ok(l) => l.config,
        Err(e) => panic!("the fixture must load: {e}"),
    }
}

#[test]
fn every_numeric_field_of_the_schema_has_a_range() {
    let cfg = full();
    let json = serde_json::to_value(&cfg).expect("a config serializes");
    let in_schema = numeric_leaves(&json);
    let listed: BTreeSet<String> = site_numbers(&cfg).iter().map(|n| shape(&n.key)).collect();
    assert_covers(&in_schema, &listed);
    for n in site_numbers(&cfg) {
        assert!(
            n.range.contains(n.value),
            "{} = {} in the fixture",
            n.key,
            n.value
        );
    }
}

#[test]
fn a_bad_number_anywhere_is_named_with_its_key_and_line() {
    let keys: Vec<String> = site_numbers(&full()).into_iter().map(|n| n.key).collect();
    for key in &keys {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300] {
            let mut doc: toml_edit::DocumentMut = FULL.parse().expect("fixture parses");
            set(&mut doc, key, toml_edit::Value::from(bad));
            let text = doc.to_string();
            let err = match load_str(&text, Path::new("s.toml"), &no_env(), &Drivers) {
                Ok(_) => panic!("{key} = {bad} was accepted"),
                Err(e) => e,
            };
            let problems = err.problems();
            let p = problems.iter().find(|p| &p.path == key);
            let Some(p) = p else {
                panic!("{key} = {bad}: no problem names the key: {problems:?}");
            };
            let written = if bad.is_nan() {
                "nan".to_string()
            } else {
                format!("{bad}")
            };
            let line = text.lines().position(|l| {
                l.contains(&written) && (bad < 0.0 || !l.contains(&format!("-{written}")))
            });
            assert!(p.line.is_some(), "{key} = {bad}: no line: {p}");
            if bad.is_nan() || bad.is_infinite() {
                assert!(p.message.contains("not a finite number"), "{p}");
                assert_eq!(p.line.map(|l| l - 1), line, "{key} = {bad}: {p}");
            }
        }
    }
}

#[test]
fn non_finite_numbers_from_the_environment_name_the_variable() {
    for (var, key) in [
        (
            "HUBGATE__SITE__FALLBACK_CURRENT_A",
            "site.fallback_current_a",
        ),
        (
            "HUBGATE__BUSES__1__INTER_FRAME_DELAY_MS",
            "buses[1].inter_frame_delay_ms",
        ),
    ] {
        for value in ["nan", "inf", "-inf"] {
            let env = EnvSource::Map(HashMap::from([(var.to_string(), value.to_string())]));
            let err = load_str(FULL, Path::new("s.toml"), &env, &Drivers)
                .err()
                .unwrap_or_else(|| panic!("{var}={value} was accepted"));
            let problems = err.problems();
            assert!(
                problems
                    .iter()
                    .any(|p| p.message.contains("not a finite number")
                        && (p.path == key || p.env_var.as_deref() == Some(var))),
                "{var}={value}: {problems:?}"
            );
        }
    }
}

proptest! {
    #[test]
    fn what_passes_a_range_is_finite_and_inside(
        v in proptest::num::f64::ANY,
        lo in -1e6f64..1e6,
        width in 0f64..1e6,
        excluded in any::<bool>(),
    ) {
        let r = Range { lo_excluded: excluded, ..Range::new(lo, lo + width, "A") };
        match check_range(v, &r) {
            Ok(()) => {
                prop_assert!(v.is_finite() && v >= lo && v <= lo + width);
                prop_assert!(!(excluded && v == lo));
            }
            Err(m) => prop_assert!(!m.is_empty()),
        }
    }
}

#[test]
fn ranges_refuse_what_is_not_finite_or_outside() {
    let r = Range::above(0.0, 10.0, "A");
    assert!(check_range(5.0, &r).is_ok());
    assert!(check_range(10.0, &r).is_ok());
    for bad in [
        0.0,
        -1.0,
        10.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
    ] {
        assert!(check_range(bad, &r).is_err(), "{bad}");
    }
    let msg = check_range(f64::INFINITY, &r).unwrap_err();
    assert!(msg.contains("not a finite number"), "{msg}");
    assert!(msg.contains("above 0 to 10 A"), "{msg}");
    let msg = check_range(1e300, &Range::new(1.0, 2.0, "s").because("why")).unwrap_err();
    assert_eq!(msg, "1e300 s is out of range (1 to 2 s): why");
}
