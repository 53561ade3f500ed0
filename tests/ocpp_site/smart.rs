//! A ChargePointMaxProfile from the CSMS caps the site's chargers together: the allocator sees it
//! and the chargers' setpoints (and the cars' draw) come down.

use crate::flow::status;
use crate::hub::start;
use crate::ocpp_support::Csms;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_point_max_profile_lowers_the_setpoints() {
    let mut csms = Csms::start(&[]).await;
    let mut hub = start(csms.port, &[]).await;
    csms.recv_call("BootNotification").await;
    for (charger, connector) in [("c1", 1), ("c2", 2)] {
        hub.plug(charger);
        status(&mut csms, connector, "Preparing").await;
        hub.card(connector as u32, "04A1B2C3").await;
        csms.recv_call("StartTransaction").await;
    }
    // Both cars take their 16 A.
    hub.until_view("both charging at 16 A", |v| {
        v.chargers[..2].iter().all(|c| c.setpoint_a >= 16.0)
    })
    .await;

    let start = (chrono::Utc::now() - chrono::TimeDelta::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let profile = json!({
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 7,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": start,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20.0}]
            }
        }
    });
    let answer = csms.call_ok("SetChargingProfile", profile).await;
    assert_eq!(answer["status"], "Accepted");

    // The two chargers together stay within 20 A per phase, and the view says why.
    hub.until_view("the cap in force", |v| {
        v.limit_source == "ocpp"
            && v.chargers[..2].iter().map(|c| c.setpoint_a).sum::<f64>() <= 20.0 + 1e-6
            && v.chargers[..2].iter().all(|c| c.setpoint_a >= 6.0)
    })
    .await;
    // The cars follow.
    hub.until_draw("c2", "the pair within the cap", |a| {
        a + hub.draw("c1") <= 20.5
    })
    .await;

    // GetCompositeSchedule for the site says what it will actually do.
    let composite = csms
        .call_ok(
            "GetCompositeSchedule",
            json!({"connectorId": 0, "duration": 600, "chargingRateUnit": "A"}),
        )
        .await;
    assert_eq!(composite["status"], "Accepted");
    let limit = composite["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
        .as_f64()
        .unwrap();
    assert!(limit <= 20.0, "{composite}");

    // Cleared: the chargers get their current back.
    let answer = csms.call_ok("ClearChargingProfile", json!({"id": 7})).await;
    assert_eq!(answer["status"], "Accepted");
    hub.until_view("the cap lifted", |v| {
        v.limit_source != "ocpp" && v.chargers[..2].iter().all(|c| c.setpoint_a >= 16.0)
    })
    .await;
    csms.assert_no_complaints();
    hub.stop().await;
    csms.quit().await;
}
