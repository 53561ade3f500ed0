//! hubgate's charge point against an independent CSMS built on the Python `ocpp` package,
//! which validates every payload against the official OCPP 1.6 JSON schemas.

mod ocpp_support;

use hubgate::ocpp::chargepoint::{SiteCommand, SiteEvent};
use hubgate::ocpp::messages::{
    AuthorizationStatus, AvailabilityType, ChargePointStatus, CiString20, PhaseLabel, Reason,
    ResetType,
};
use hubgate::ocpp::metering::MeterReading;
use ocpp_support::*;
use serde_json::json;

fn tag(s: &str) -> CiString20 {
    CiString20::new(s).unwrap()
}

fn reading(connector: u32, wh: f64) -> SiteEvent {
    SiteEvent::Meter {
        connector,
        reading: MeterReading {
            energy_wh: wh,
            power_w: Some(11000.0),
            currents_a: vec![
                (PhaseLabel::L1, 16.0),
                (PhaseLabel::L2, 15.9),
                (PhaseLabel::L3, 16.1),
            ],
            voltages_v: vec![(PhaseLabel::L1, 230.1)],
            offered_a: Some(16.0),
            soc_percent: Some(42.0),
        },
    }
}

async fn start(s: &Session, local: u64, connector: u32, wh: f64) {
    s.event(SiteEvent::TransactionStarted {
        local,
        connector,
        id_tag: tag("Card-0001"),
        meter_start_wh: wh,
        at: chrono::Utc::now(),
        reservation_id: None,
    })
    .await;
}

#[tokio::test]
async fn boot_statuses_and_a_full_transaction_with_meter_values() {
    let mut csms = Csms::start(&[]).await;
    let keys = [
        ("MeterValueSampleInterval", "1"),
        (
            "MeterValuesSampledData",
            "Energy.Active.Import.Register,Current.Import,Power.Active.Import,Voltage,SoC,Current.Offered",
        ),
        ("StopTxnSampledData", "Energy.Active.Import.Register"),
    ];
    let mut s = session(link(csms.port, "ws"), &keys);
    all_available(&s).await;
    let boot = booted(&mut csms).await;
    assert_eq!(boot["chargePointVendor"], "hubgate");

    s.event(SiteEvent::IdPresented {
        connector: Some(1),
        id_tag: tag("Card-0001"),
    })
    .await;
    assert_eq!(csms.recv_call("Authorize").await["idTag"], "Card-0001");
    let c = s
        .command("authorize result", |c| {
            matches!(c, SiteCommand::AuthorizeResult { .. })
        })
        .await;
    let SiteCommand::AuthorizeResult {
        info: Some(info), ..
    } = c
    else {
        panic!("{c:?}")
    };
    assert_eq!(info.status, AuthorizationStatus::Accepted);

    s.event(reading(1, 1234.6)).await;
    s.status(1, ChargePointStatus::Charging).await;
    start(&s, 1, 1, 1234.6).await;
    let st = csms.recv_call("StartTransaction").await;
    assert_eq!(
        (
            st["connectorId"].clone(),
            st["meterStart"].clone(),
            st["idTag"].clone()
        ),
        (json!(1), json!(1235), json!("Card-0001"))
    );
    assert!(st["timestamp"].as_str().unwrap().ends_with('Z'));
    let c = s
        .command("confirmation", |c| {
            matches!(c, SiteCommand::TransactionConfirmed { .. })
        })
        .await;
    let SiteCommand::TransactionConfirmed {
        local: 1,
        transaction_id,
        stop: false,
        ..
    } = c
    else {
        panic!("{c:?}")
    };

    s.event(reading(1, 2000.0)).await;
    let mv = csms.recv_call("MeterValues").await;
    assert_eq!(mv["transactionId"], transaction_id);
    let values = mv["meterValue"][0]["sampledValue"].as_array().unwrap();
    assert!(values.iter().all(|v| v["value"].is_string()));
    assert!(
        values
            .iter()
            .any(|v| v["measurand"] == "Current.Import" && v["phase"] == "L3")
    );

    s.event(SiteEvent::TransactionStopped {
        local: 1,
        meter_stop_wh: 2500.2,
        at: chrono::Utc::now(),
        reason: Reason::EVDisconnected,
        id_tag: Some(tag("Card-0001")),
    })
    .await;
    let stop = csms.recv_call("StopTransaction").await;
    assert_eq!(
        (
            stop["transactionId"].clone(),
            stop["meterStop"].clone(),
            stop["reason"].clone()
        ),
        (json!(transaction_id), json!(2500), json!("EVDisconnected"))
    );
    assert_eq!(
        stop["transactionData"][0]["sampledValue"][0]["context"],
        "Transaction.End"
    );
    s.status(1, ChargePointStatus::Available).await;
    for expected in ["Charging", "Available"] {
        let e = csms
            .wait(expected, |e| {
                e["frame"][2] == "StatusNotification"
                    && e["frame"][3]["connectorId"] == 1
                    && e["frame"][3]["status"] == expected
            })
            .await;
        assert_eq!(e["frame"][3]["errorCode"], "NoError");
    }

    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}

#[tokio::test]
async fn remote_control_availability_and_configuration() {
    let mut csms = Csms::start(&[]).await;
    let mut s = session(link(csms.port, "ws"), &[]);
    all_available(&s).await;
    booted(&mut csms).await;

    let r = csms
        .call_ok(
            "RemoteStartTransaction",
            json!({"connectorId": 1, "idTag": "Remote-1"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    let c = s
        .command("remote start", |c| {
            matches!(c, SiteCommand::RemoteStart { .. })
        })
        .await;
    assert!(matches!(
        c,
        SiteCommand::RemoteStart {
            connector: Some(1),
            ..
        }
    ));
    start(&s, 5, 1, 10.0).await;
    csms.recv_call("StartTransaction").await;
    let c = s
        .command("confirmation", |c| {
            matches!(c, SiteCommand::TransactionConfirmed { .. })
        })
        .await;
    let SiteCommand::TransactionConfirmed { transaction_id, .. } = c else {
        panic!()
    };

    let r = csms
        .call_ok(
            "ChangeAvailability",
            json!({"connectorId": 1, "type": "Inoperative"}),
        )
        .await;
    assert_eq!(r["status"], "Scheduled");
    let r = csms
        .call_ok(
            "ChangeAvailability",
            json!({"connectorId": 2, "type": "Inoperative"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    let c = s
        .command("availability", |c| {
            matches!(c, SiteCommand::ChangeAvailability { .. })
        })
        .await;
    assert_eq!(
        c,
        SiteCommand::ChangeAvailability {
            connector: 2,
            kind: AvailabilityType::Inoperative
        }
    );

    let r = csms
        .call_ok(
            "RemoteStopTransaction",
            json!({"transactionId": transaction_id}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    let c = s
        .command("remote stop", |c| {
            matches!(c, SiteCommand::RemoteStop { .. })
        })
        .await;
    assert_eq!(
        c,
        SiteCommand::RemoteStop {
            connector: 1,
            local: 5
        }
    );
    s.event(SiteEvent::TransactionStopped {
        local: 5,
        meter_stop_wh: 900.0,
        at: chrono::Utc::now(),
        reason: Reason::Remote,
        id_tag: None,
    })
    .await;
    csms.recv_call("StopTransaction").await;
    let c = s
        .command("scheduled availability", |c| {
            matches!(c, SiteCommand::ChangeAvailability { .. })
        })
        .await;
    assert_eq!(
        c,
        SiteCommand::ChangeAvailability {
            connector: 1,
            kind: AvailabilityType::Inoperative
        }
    );

    let all = csms.call_ok("GetConfiguration", json!({})).await;
    let keys = all["configurationKey"].as_array().unwrap();
    assert!(
        keys.iter().any(|k| k["key"] == "NumberOfConnectors"
            && k["value"] == "2"
            && k["readonly"] == true)
    );
    let r = csms
        .call_ok(
            "ChangeConfiguration",
            json!({"key": "HeartbeatInterval", "value": "1"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    csms.recv_call("Heartbeat").await;
    let r = csms
        .call_ok(
            "ChangeConfiguration",
            json!({"key": "NumberOfConnectors", "value": "9"}),
        )
        .await;
    assert_eq!(r["status"], "Rejected");
    let r = csms
        .call_ok(
            "ChangeConfiguration",
            json!({"key": "MeterValueSampleInterval", "value": "often"}),
        )
        .await;
    assert_eq!(r["status"], "Rejected");
    let r = csms
        .call_ok(
            "ChangeConfiguration",
            json!({"key": "FluxCapacitor", "value": "1"}),
        )
        .await;
    assert_eq!(r["status"], "NotSupported");
    let r = csms
        .call_ok(
            "GetConfiguration",
            json!({"key": ["HeartbeatInterval", "FluxCapacitor"]}),
        )
        .await;
    assert_eq!(r["configurationKey"][0]["value"], "1");
    assert_eq!(r["unknownKey"], json!(["FluxCapacitor"]));

    let r = csms
        .call_ok(
            "DataTransfer",
            json!({"vendorId": "com.example", "data": "x"}),
        )
        .await;
    assert_eq!(r["status"], "UnknownVendorId");
    let r = csms
        .call_ok(
            "TriggerMessage",
            json!({"requestedMessage": "StatusNotification", "connectorId": 2}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    assert_eq!(csms.recv_call("StatusNotification").await["connectorId"], 2);
    let r = csms
        .call_ok(
            "TriggerMessage",
            json!({"requestedMessage": "BootNotification"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    csms.recv_call("BootNotification").await;
    let r = csms.call_ok("ClearCache", json!({})).await;
    assert_eq!(r["status"], "Accepted");
    s.command("clear cache", |c| *c == SiteCommand::ClearCache)
        .await;
    let r = csms.call_ok("SendLocalList", json!({"listVersion": 2, "updateType": "Full", "localAuthorizationList": [{"idTag": "Card-0001", "idTagInfo": {"status": "Accepted"}}]})).await;
    assert_eq!(r["status"], "Accepted");
    assert_eq!(
        csms.call_ok("GetLocalListVersion", json!({})).await["listVersion"],
        2
    );

    let unlock = tokio::spawn(async move {
        let c = s
            .command("unlock", |c| matches!(c, SiteCommand::Unlock { .. }))
            .await;
        assert_eq!(c, SiteCommand::Unlock { connector: 1 });
        s.event(SiteEvent::UnlockResult {
            connector: 1,
            unlocked: true,
        })
        .await;
        s
    });
    let r = csms
        .call_ok("UnlockConnector", json!({"connectorId": 1}))
        .await;
    assert_eq!(r["status"], "Unlocked");
    let mut s = unlock.await.unwrap();
    let r = csms.call_ok("Reset", json!({"type": "Soft"})).await;
    assert_eq!(r["status"], "Accepted");
    s.command("reset", |c| {
        *c == SiteCommand::Reset {
            kind: ResetType::Soft,
        }
    })
    .await;

    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}
