//! Smart charging against the independent CSMS: ChargePointMaxProfile as a site cap, TxProfile
//! on one connector, composite schedules the schema-validating CSMS accepts.

mod ocpp_support;

use hubgate::ocpp::chargepoint::{SiteCommand, SiteEvent};
use hubgate::ocpp::messages::CiString20;
use ocpp_support::*;
use serde_json::json;

async fn start(s: &Session, local: u64, connector: u32, wh: f64) {
    s.event(SiteEvent::TransactionStarted {
        local,
        connector,
        id_tag: CiString20::new("Card-0002").unwrap(),
        meter_start_wh: wh,
        at: chrono::Utc::now(),
        reservation_id: None,
    })
    .await;
}

#[tokio::test]
async fn charging_profiles_and_composite_schedules() {
    let mut csms = Csms::start(&[]).await;
    let mut s = session(link(csms.port, "ws"), &[]);
    all_available(&s).await;
    booted(&mut csms).await;
    let limits = |c: &SiteCommand| matches!(c, SiteCommand::LimitsChanged(_));

    let cap = json!({
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 100, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Recurring", "recurrencyKind": "Daily",
            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-01-01T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20.0}]}
        }
    });
    assert_eq!(
        csms.call_ok("SetChargingProfile", cap).await["status"],
        "Accepted"
    );
    let SiteCommand::LimitsChanged(l) = s.command("limits", limits).await else {
        panic!()
    };
    let now = l.limits_at(chrono::Utc::now());
    assert_eq!(now.site_cap_a, Some(20.0));
    assert_eq!(now.connectors.get(&1), Some(&20.0));

    let mut tx_profile = json!({
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 200, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6900.0}]}
        }
    });
    assert_eq!(
        csms.call_ok("SetChargingProfile", tx_profile.clone()).await["status"],
        "Rejected"
    );
    start(&s, 9, 1, 0.0).await;
    let st = csms.recv_call("StartTransaction").await;
    assert_eq!(st["connectorId"], 1);
    s.command("confirmation", |c| {
        matches!(c, SiteCommand::TransactionConfirmed { .. })
    })
    .await;
    tx_profile["csChargingProfiles"]["transactionId"] = json!(1);
    assert_eq!(
        csms.call_ok("SetChargingProfile", tx_profile).await["status"],
        "Accepted"
    );
    let SiteCommand::LimitsChanged(l) = s.command("limits", limits).await else {
        panic!()
    };
    let now = l.limits_at(chrono::Utc::now());
    assert_eq!(now.connectors.get(&1), Some(&10.0)); // 6900 W / (230 V x 3)
    assert_eq!(now.connectors.get(&2), Some(&20.0));

    let r = csms
        .call_ok(
            "GetCompositeSchedule",
            json!({"connectorId": 1, "duration": 3600}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    assert_eq!(r["chargingSchedule"]["chargingRateUnit"], "A");
    assert_eq!(
        r["chargingSchedule"]["chargingSchedulePeriod"],
        json!([{"startPeriod": 0, "limit": 10.0}])
    );
    let r = csms
        .call_ok(
            "GetCompositeSchedule",
            json!({"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"}),
        )
        .await;
    assert_eq!(
        r["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"],
        6900.0
    );
    let r = csms
        .call_ok(
            "GetCompositeSchedule",
            json!({"connectorId": 0, "duration": 600}),
        )
        .await;
    assert_eq!(
        r["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"],
        20.0
    );
    let r = csms
        .call_ok(
            "GetCompositeSchedule",
            json!({"connectorId": 7, "duration": 600}),
        )
        .await;
    assert_eq!(r["status"], "Rejected");

    let r = csms
        .call_ok(
            "ClearChargingProfile",
            json!({"chargingProfilePurpose": "ChargePointMaxProfile"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    let SiteCommand::LimitsChanged(l) = s.command("limits", limits).await else {
        panic!()
    };
    assert_eq!(l.limits_at(chrono::Utc::now()).site_cap_a, None);
    let r = csms
        .call_ok("ClearChargingProfile", json!({"id": 100}))
        .await;
    assert_eq!(r["status"], "Unknown");

    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}
