//! `hubgate probe` against the simulator, for every driver in `drivers/`: the values it prints are
//! the simulated device's, decoded with the driver's own register map; `--set-current` lands on
//! the charger. `hubgate scan` finds the simulated units.

mod support;

use hubgate::driver::Registry;
use hubgate::sim::serve::{Endpoint, lock};
use serde_json::Value;
use std::process::Command;
use support::site::simulate;

const BIN: &str = env!("CARGO_BIN_EXE_hubgate");

fn site_for(driver: &str, charger: bool) -> String {
    let mut s = format!(
        r#"
[site]
id = "p"
name = "Probe"
grid_limit_a = 100
grid_meter = "grid"

[[buses]]
name = "lan"
kind = "tcp"
host = "127.0.0.1"
port = 1

[[meters]]
name = "grid"
driver = "{}"
bus = "lan"
unit = 1
"#,
        if charger { "eastron-sdm630" } else { driver }
    );
    if charger {
        s.push_str(&format!(
            r#"
[[chargers]]
name = "c1"
driver = "{driver}"
bus = "lan"
unit = 2
max_current_a = 16
connector = 1
"#
        ));
    }
    s
}

fn probe(addr: &str, driver: &str, unit: u8, extra: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args([
            "probe",
            "--driver",
            driver,
            "--tcp",
            addr,
            "--unit",
            &unit.to_string(),
            "--json",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{driver}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{driver}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_prints_the_simulated_values_for_every_driver() {
    let registry = Registry::builtin().unwrap();
    for d in registry.iter() {
        let charger = d.charger.is_some();
        let sim = simulate(&site_for(&d.name, charger), [11.0, 12.0, 13.0]).await;
        let Some(Endpoint::Tcp(addr)) = sim.servers.endpoint("lan").cloned() else {
            panic!()
        };
        let addr = addr.to_string();
        // Let the clock step the load into the registers.
        sim.settle(0.2).await;
        if !charger {
            let r = tokio::task::block_in_place(|| probe(&addr, &d.name, 1, &[]));
            let has = |n: &str| d.file.values.contains_key(n);
            for (i, want) in [11.0, 12.0, 13.0].iter().enumerate() {
                if has(&format!("current_l{}", i + 1)) {
                    let got = num(&r["currents_a"][i]);
                    assert!(
                        (got - want).abs() < 0.11,
                        "{}: L{} current {got} != {want}: {r}",
                        d.name,
                        i + 1
                    );
                }
            }
            if has("voltage_l1") {
                assert!(
                    (num(&r["voltages_v"][0]) - 230.0).abs() < 0.6,
                    "{}: {r}",
                    d.name
                );
            }
            if has("frequency") {
                assert!(
                    (num(&r["frequency_hz"]) - 50.0).abs() < 0.05,
                    "{}: {r}",
                    d.name
                );
            }
            assert!(r["energy_import_wh"].is_number(), "{}: {r}", d.name);
            continue;
        }
        sim.plug_in("c1", 32.0);
        sim.settle(0.2).await;
        // Writing a limit through probe reaches the simulated charger.
        let r = tokio::task::block_in_place(|| probe(&addr, &d.name, 2, &["--set-current", "10"]));
        let idx = lock(&sim.world).charger_index("c1").unwrap();
        let set = lock(&sim.world).site.chargers[idx].setpoint_a;
        assert!(
            (set - 10.0).abs() < 0.51,
            "{}: the charger got {set} A",
            d.name
        );
        let c = &r["charger"];
        let iec = c["iec"].as_str().unwrap_or("?");
        let states = &d.charger.as_ref().unwrap().states;
        if states.iter().any(|s| {
            matches!(
                s.iec,
                hubgate::driver::IecState::B | hubgate::driver::IecState::C
            )
        }) {
            assert!(
                iec == "B" || iec == "C",
                "{}: a plugged-in car reads as IEC {iec}: {r}",
                d.name
            );
        }
        assert_eq!(c["faulted"], false, "{}: {r}", d.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_lists_the_simulated_units() {
    let sim = simulate(&site_for("abb-terra-ac", true), [1.0; 3]).await;
    let Some(Endpoint::Tcp(addr)) = sim.servers.endpoint("lan").cloned() else {
        panic!()
    };
    let out = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args([
                "scan",
                "--tcp",
                &addr.to_string(),
                "--from",
                "1",
                "--to",
                "5",
                "--timeout-ms",
                "200",
                "--input",
            ])
            .output()
            .unwrap()
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("unit 1 answers"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("unit 3 answers"), "{text}");
}

#[test]
fn drivers_lists_every_driver_and_shows_one() {
    let out = Command::new(BIN).arg("drivers").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for d in Registry::builtin().unwrap().iter() {
        assert!(text.contains(&d.name), "{} missing from:\n{text}", d.name);
    }
    let out = Command::new(BIN)
        .args(["drivers", "abb-terra-ac"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ABB Terra AC Charger Modbus Communication"),
        "{text}"
    );
    assert!(text.contains("0x4100"), "{text}");
    let out = Command::new(BIN)
        .args(["drivers", "abb-tera-ac"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean abb-terra-ac"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_serves_rtu_buses_on_a_pseudo_terminal() {
    let text = site_for("eastron-sdm630", false).replace(
        "kind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1",
        "kind = \"rtu\"\ndevice = \"/dev/ttyUSB0\"\nbaud = 19200\nparity = \"even\"",
    );
    let sim = simulate(&text, [11.0, 12.0, 13.0]).await;
    let Some(Endpoint::Rtu(path)) = sim.servers.endpoint("lan").cloned() else {
        panic!("not RTU")
    };
    sim.settle(0.2).await;
    let out = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args(["probe", "--driver", "eastron-sdm630", "--serial"])
            .arg(&path)
            .args([
                "--baud", "19200", "--parity", "even", "--unit", "1", "--json",
            ])
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((num(&r["currents_a"][1]) - 12.0).abs() < 0.01, "{r}");
}
