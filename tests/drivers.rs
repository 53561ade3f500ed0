//! Every driver file in `drivers/`: it loads, its numbers survive a trip through the simulator's
//! register image and back, its setpoint writes land where the device expects them; broken
//! driver files are reported with their path, key and line.

use hubgate::driver::image::{ChargerState, Command, MeterState, RegisterImage};
use hubgate::driver::{DriverErrors, IecState, Registry};
use hubgate::phase::PerPhase;
use std::path::PathBuf;

fn registry() -> Registry {
    Registry::builtin().unwrap_or_else(|e| panic!("{e}"))
}

fn close(a: Option<f64>, b: f64, tol: f64, what: &str, driver: &str) {
    let a = a.unwrap_or_else(|| panic!("{driver}: {what} not decoded"));
    assert!((a - b).abs() <= tol, "{driver}: {what} = {a}, expected {b}");
}

#[test]
fn every_driver_file_loads_and_cites_its_source() {
    let r = registry();
    let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/drivers"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(r.len(), on_disk);
    for d in r.iter() {
        assert!(!d.file.driver.source.document.is_empty(), "{}", d.name);
        assert!(!d.read_plan().is_empty(), "{} reads nothing", d.name);
        for b in d.read_plan() {
            assert!(b.count >= 1 && b.count <= 125, "{}: {b:?}", d.name);
        }
    }
}

#[test]
fn meters_round_trip_through_their_register_image() {
    for d in registry().iter().filter(|d| d.charger.is_none()) {
        let mut image = RegisterImage::new(d.clone());
        let state = MeterState {
            currents_a: PerPhase([12.5, 7.25, 31.0]),
            voltages_v: PerPhase([229.5, 231.0, 232.5]),
            powers_w: PerPhase([2868.0, 1674.0, 7207.0]),
            energy_import_wh: 1_234_567.0,
            energy_export_wh: 890.0,
            frequency_hz: 50.02,
        };
        image.set_meter(&state);
        let blocks: Vec<_> = d
            .read_plan()
            .iter()
            .map(|b| {
                (
                    *b,
                    image
                        .read(b.kind, b.address, b.count)
                        .unwrap_or_else(|e| panic!("{}: {b:?}: {e:?}", d.name)),
                )
            })
            .collect();
        let r = d.decode(&blocks);
        let n = &d.name;
        let has = |v: &str| d.file.values.contains_key(v);
        // A value's own resolution: integers count in steps of scale x unit.
        let step = |v: &str| {
            d.file.values.get(v).map_or(0.0, |x| {
                if x.ty.is_integer() {
                    x.scale * x.unit.factor()
                } else {
                    0.0
                }
            })
        };
        for i in 0..usize::from(d.phases) {
            let l = format!("l{}", i + 1);
            if has(&format!("current_{l}")) {
                close(
                    r.currents_a.0[i],
                    state.currents_a.0[i],
                    0.01,
                    &format!("current {l}"),
                    n,
                );
            }
            if has(&format!("voltage_{l}")) {
                close(
                    r.voltages_v.0[i],
                    state.voltages_v.0[i],
                    0.1,
                    &format!("voltage {l}"),
                    n,
                );
            }
        }
        if has("power") {
            close(
                r.power_w,
                state.powers_w.sum(),
                step("power").max(1.0),
                "power",
                n,
            );
        }
        // Within the counter's own resolution (some count in 0.1 kWh steps).
        close(
            r.energy_import_wh,
            state.energy_import_wh,
            step("energy_import").max(10.0),
            "energy import",
            n,
        );
        if has("frequency") {
            close(
                r.frequency_hz,
                50.02,
                step("frequency").max(0.01),
                "frequency",
                n,
            );
        }
    }
}

#[test]
fn chargers_round_trip_status_and_setpoints() {
    for d in registry().iter().filter(|d| d.charger.is_some()) {
        let spec = d.charger.clone().unwrap();
        let mut image = RegisterImage::new(d.clone());
        for iec in [IecState::A, IecState::B, IecState::C] {
            let charging = iec == IecState::C;
            let amps = if charging { 15.0 } else { 0.0 };
            let state = ChargerState {
                iec,
                faulted: false,
                currents_a: PerPhase([amps, amps, amps]),
                voltages_v: PerPhase::splat(230.0),
                power_w: amps * 3.0 * 230.0,
                energy_import_wh: 54_321.0,
                session_energy_wh: 4321.0,
                current_limit_a: 16.0,
                enabled: true,
                max_current_a: 32.0,
                id_tag: Some("04A1B2C3".into()),
                serial_number: "SN123".into(),
            };
            image.set_charger(&state);
            let blocks: Vec<_> = d
                .read_plan()
                .iter()
                .map(|b| (*b, image.read(b.kind, b.address, b.count).unwrap()))
                .collect();
            let r = d.decode(&blocks);
            let c = r
                .charger
                .unwrap_or_else(|| panic!("{}: no charger reading", d.name));
            // Some chargers report only "vehicle present" without telling B from C; then the
            // mapped state is the first one the table has for that.
            if spec.states.iter().any(|s| s.iec == iec) {
                assert_eq!(
                    c.iec,
                    Some(iec),
                    "{}: status for {iec:?} (raw {:?})",
                    d.name,
                    c.status_raw
                );
            }
            assert!(!c.faulted, "{}: not faulted", d.name);
            if charging && d.file.values.contains_key("current_l1") {
                close(r.currents_a.0[0], 15.0, 0.1, "current l1", &d.name);
            }
            if d.file.values.contains_key("session_energy") {
                close(c.session_energy_wh, 4321.0, 10.0, "session energy", &d.name);
            }
        }
        // Setpoints land on the setpoint register with the right value.
        for amps in [6.0, 10.0, 16.5, 32.0] {
            let mut got = Vec::new();
            for w in d.setpoint_writes(amps, 230.0, d.phases) {
                got.extend(
                    image
                        .write(w.address, &w.values)
                        .unwrap_or_else(|e| panic!("{}: {w:?}: {e:?}", d.name)),
                );
            }
            let set = got.iter().find_map(|c| match c {
                Command::SetCurrent(a) => Some(*a),
                _ => None,
            });
            let resolution = match spec.current_limit.unit {
                hubgate::driver::Unit::A => 1.0,
                _ => 0.1,
            };
            close(set, amps, resolution, "setpoint", &d.name);
        }
        // 0 pauses.
        let mut got = Vec::new();
        for w in d.setpoint_writes(0.0, 230.0, d.phases) {
            got.extend(image.write(w.address, &w.values).unwrap());
        }
        assert!(
            got.iter()
                .any(|c| matches!(c, Command::SetCurrent(a) if *a == 0.0)
                    || matches!(c, Command::Enable(false))),
            "{}: 0 A does not pause: {got:?}",
            d.name
        );
        // The failsafe lands on the failsafe registers.
        let writes = d.failsafe_writes(6.0);
        let mut got = Vec::new();
        for w in &writes {
            got.extend(image.write(w.address, &w.values).unwrap());
        }
        if spec
            .failsafe
            .as_ref()
            .is_some_and(|f| f.current_address.is_some())
        {
            assert!(
                got.contains(&Command::FailsafeCurrent(6.0)),
                "{}: {got:?}",
                d.name
            );
        }
    }
}

fn broken(dir: &std::path::Path, name: &str, text: &str) -> DriverErrors {
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    Registry::load(&[dir.to_path_buf()]).expect_err("a broken driver must be refused")
}

#[test]
fn a_broken_driver_file_is_reported_with_path_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/drivers/abb-terra-ac.toml"
    ))
    .unwrap();
    // A wrong type on line N.
    let text = base
        .replace("name = \"abb-terra-ac\"", "name = \"my-charger\"")
        .replacen(
            "[charger.current_limit]\naddress = 0x4100\ntype = \"u32\"",
            "[charger.current_limit]\naddress = 0x4100\ntype = \"u33\"",
            1,
        );
    let errors = broken(dir.path(), "my-charger", &text);
    let p = &errors.0[0];
    assert_eq!(p.path, dir.path().join("my-charger.toml"));
    assert_eq!(p.key, "charger.current_limit.type");
    let line = text.lines().position(|l| l == "type = \"u33\"").unwrap() + 1;
    assert_eq!(p.line, Some(line), "{p}");
    assert!(p.to_string().contains("my-charger.toml:"), "{p}");

    // Semantic problems: all of them at once, each with its key.
    let dir = tempfile::tempdir().unwrap();
    let text = base
        .replace("name = \"abb-terra-ac\"", "name = \"wrong-name\"")
        .replace(
            "[values.power]\naddress = 0x401C\ntype = \"u32\"\nunit = \"W\"",
            "[values.pwer]\naddress = 0x401C\ntype = \"u32\"\nunit = \"W\"",
        )
        .replace(
            "[values.current_l1]\naddress = 0x4010\ntype = \"u32\"\nunit = \"mA\"",
            "[values.current_l1]\naddress = 0x4010\ntype = \"u32\"\nunit = \"V\"",
        );
    let errors = broken(dir.path(), "other", &text);
    let keys: Vec<&str> = errors.0.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"driver.name"), "{errors}");
    assert!(keys.contains(&"values.pwer"), "{errors}");
    assert!(keys.contains(&"values.current_l1.unit"), "{errors}");
    assert!(
        errors.to_string().contains("did you mean `power`"),
        "{errors}"
    );
    assert!(errors.0.iter().all(|p| p.line.is_some()), "{errors}");
}

#[test]
fn a_driver_directory_overrides_a_builtin_driver() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/drivers/eastron-sdm630.toml"
    ))
    .unwrap();
    let text = base.replace("model = \"SDM630 Modbus\"", "model = \"SDM630 site copy\"");
    std::fs::write(dir.path().join("eastron-sdm630.toml"), text).unwrap();
    let r = Registry::load(&[PathBuf::from(dir.path())]).unwrap();
    assert_eq!(r.get("eastron-sdm630").unwrap().model, "SDM630 site copy");
    assert_eq!(r.len(), registry().len());
}

#[test]
fn numbers_that_are_not_finite_or_absurd_are_refused_with_file_key_and_line() {
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/drivers/abb-terra-ac.toml"
    ))
    .unwrap()
    .replace("name = \"abb-terra-ac\"", "name = \"site-charger\"");
    for (from, to, key) in [
        (
            "period_s = 15",
            "period_s = inf",
            "charger.keepalive.period_s",
        ),
        (
            "period_s = 15",
            "period_s = 1e300",
            "charger.keepalive.period_s",
        ),
        (
            "timeout_s = 60",
            "timeout_s = nan",
            "charger.failsafe.timeout_s",
        ),
        (
            "max_current_a = 32.0",
            "max_current_a = -inf",
            "charger.max_current_a",
        ),
        (
            "[values.power]\naddress = 0x401C\ntype = \"u32\"\nunit = \"W\"",
            "[values.power]\naddress = 0x401C\ntype = \"u32\"\nunit = \"W\"\nscale = nan",
            "values.power.scale",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let dir = tempfile::tempdir().unwrap();
        let text = base.replacen(from, to, 1);
        let errors = broken(dir.path(), "site-charger", &text);
        let p = errors
            .0
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("{to}: {errors}"));
        let last = to.lines().last().unwrap();
        let line = text.lines().position(|l| l == last).unwrap() + 1;
        assert_eq!(p.path, dir.path().join("site-charger.toml"));
        assert_eq!(p.line, Some(line), "{p}");
    }
}

#[test]
fn a_value_wider_than_one_request_is_refused() {
    // Found by the driver_file fuzz target: with max_registers = 1 a 32-bit value was never read.
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/drivers/keba-kecontact-p30.toml"
    ))
    .unwrap()
    .replace("name = \"keba-kecontact-p30\"", "name = \"narrow\"");
    let text = base.replacen("max_registers = 2", "max_registers = 1", 1);
    let dir = tempfile::tempdir().unwrap();
    let errors = broken(dir.path(), "narrow", &text);
    let p = errors
        .0
        .iter()
        .find(|p| p.key == "values.status.type")
        .unwrap_or_else(|| panic!("{errors}"));
    assert!(p.message.contains("modbus.max_registers = 1"), "{p}");
    assert!(p.line.is_some(), "{p}");
}
