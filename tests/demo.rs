//! `hubgate demo`: the built-in demo site under the real controller, with no arguments needed.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hubgate");

#[test]
fn demo_json_records_every_cycle_and_a_car_charges_within_seconds() {
    let out = Command::new(BIN)
        .args(["demo", "--duration", "8", "--json"])
        .env_remove("HUBGATE__MQTT__BROKER")
        .env_remove("HUBGATE__OCPP__CSMS_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(records.len() >= 6, "only {} cycles in 8 s", records.len());
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            r["cycle"].as_u64(),
            Some(i as u64 + 1),
            "cycles in order, none missing"
        );
        assert_eq!(r["grid_limit_a"], serde_json::json!([61.0, 61.0, 61.0]));
        assert_eq!(r["chargers"].as_array().unwrap().len(), 6);
    }
    // The first car arrives within seconds and draws current.
    let charging = records.iter().any(|r| {
        r["chargers"].as_array().unwrap().iter().any(|c| {
            c["setpoint_a"].as_f64().unwrap_or(0.0) >= 6.0
                && c["draw_a"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a.as_f64().unwrap_or(0.0) > 1.0)
        })
    });
    assert!(charging, "no car charged during the demo");
    // And the grid stays under its limit (with the fuse's own margin, no surge yet).
    for r in &records {
        if let Some(g) = r["grid_current_a"].as_array() {
            for a in g {
                assert!(a.as_f64().unwrap() <= 63.0, "{r}");
            }
        }
    }
}

#[test]
fn demo_without_json_draws_the_live_view() {
    let out = Command::new(BIN)
        .args(["demo", "--duration", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Demo hub (demo)"), "{text}");
    assert!(text.contains("cp-1") && text.contains("port-2"), "{text}");
    assert!(text.contains("L1 ["), "{text}");
}
