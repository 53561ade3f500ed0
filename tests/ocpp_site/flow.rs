//! A car plugged in and authorized gives the CSMS the whole story of its session; remote start
//! and stop drive the real charger.

use crate::hub::{LONG, calls, register_wh, start};
use crate::ocpp_support::Csms;
use serde_json::{Value, json};

/// The next StatusNotification of `connector` with `status`.
pub async fn status(csms: &mut Csms, connector: i64, status: &str) -> Value {
    let what = format!("connector {connector} {status}");
    csms.wait_for(&what, LONG, |e| {
        e["event"] == "recv"
            && e["frame"][2] == "StatusNotification"
            && e["frame"][3]["connectorId"] == connector
            && e["frame"][3]["status"] == status
    })
    .await
}

/// The position in the CSMS log of the first CALL matching `pred`.
fn position(log: &[Value], pred: impl Fn(&Value) -> bool) -> usize {
    log.iter()
        .position(|e| e["event"] == "recv" && e["frame"][0] == 2 && pred(&e["frame"]))
        .unwrap_or_else(|| panic!("not in the CSMS log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugged_in_car_makes_a_whole_transaction() {
    let mut csms = Csms::start(&[]).await;
    let hub = start(csms.port, &[("MeterValueSampleInterval", "2")]).await;
    csms.recv_call("BootNotification").await;
    status(&mut csms, 1, "Available").await;

    hub.plug("c1");
    status(&mut csms, 1, "Preparing").await;
    // The card as the reader read it: forwarded as received.
    hub.card(1, "04a1b2c3").await;
    let auth = csms.recv_call("Authorize").await;
    assert_eq!(auth["idTag"], "04a1b2c3");
    let start_tx = csms.recv_call("StartTransaction").await;
    assert_eq!(start_tx["connectorId"], 1);
    assert_eq!(start_tx["idTag"], "04a1b2c3");
    assert!(start_tx["meterStart"].is_i64(), "{start_tx}");
    status(&mut csms, 1, "Charging").await;
    hub.until_draw("c1", "draws current", |a| a > 5.0).await;

    let mut values = Vec::new();
    while values.len() < 3 {
        let mv = csms.recv_call("MeterValues").await;
        assert_eq!(mv["transactionId"], 1, "{mv}");
        values.push(register_wh(&mv));
    }
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
    assert!(values[2] > values[0], "no energy: {values:?}");

    hub.unplug("c1");
    let stop = csms.recv_call("StopTransaction").await;
    assert_eq!(stop["transactionId"], 1);
    assert_eq!(stop["reason"], "EVDisconnected");
    let meter_stop = stop["meterStop"].as_f64().unwrap();
    assert!(meter_stop >= values[2], "{stop}");
    assert!(meter_stop >= start_tx["meterStart"].as_f64().unwrap());
    status(&mut csms, 1, "Available").await;

    // The story in order: Preparing, then the start, then Charging, then the stop.
    let log = csms.log.clone();
    let preparing = position(&log, |f| {
        f[2] == "StatusNotification" && f[3]["connectorId"] == 1 && f[3]["status"] == "Preparing"
    });
    let started = position(&log, |f| f[2] == "StartTransaction");
    let charging = position(&log, |f| {
        f[2] == "StatusNotification" && f[3]["connectorId"] == 1 && f[3]["status"] == "Charging"
    });
    let stopped = position(&log, |f| f[2] == "StopTransaction");
    assert!(preparing < started && started < charging && charging < stopped);
    assert_eq!(calls(&log, "StartTransaction").len(), 1);
    csms.assert_no_complaints();

    // The journal holds the session with its local cost.
    let t = hub.writer.transaction(1).await.unwrap().unwrap();
    assert_eq!(t.csms_tx_id, Some(1));
    assert_eq!(t.meter_stop_wh, Some(meter_stop as i64));
    assert_eq!(t.stop_reason.as_deref(), Some("EVDisconnected"));
    let kwh = (meter_stop - start_tx["meterStart"].as_f64().unwrap()) / 1000.0;
    let cost = t.cost.unwrap();
    assert!(
        (cost - (0.50 + 0.40 * kwh)).abs() < 0.02,
        "cost {cost} for {kwh} kWh"
    );
    hub.stop().await;
    csms.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_start_and_stop_drive_the_charger() {
    let mut csms = Csms::start(&[]).await;
    let hub = start(csms.port, &[]).await;
    csms.recv_call("BootNotification").await;
    hub.plug("c2");
    status(&mut csms, 2, "Preparing").await;
    // Without authorization nothing flows.
    assert!(hub.draw("c2") < 1.0);

    let answer = csms
        .call_ok(
            "RemoteStartTransaction",
            json!({"connectorId": 2, "idTag": "APP-USER-1"}),
        )
        .await;
    assert_eq!(answer["status"], "Accepted");
    let start_tx = csms.recv_call("StartTransaction").await;
    assert_eq!(
        (start_tx["connectorId"].clone(), start_tx["idTag"].clone()),
        (json!(2), json!("APP-USER-1"))
    );
    hub.until_draw("c2", "charges after the remote start", |a| a > 10.0)
        .await;

    let answer = csms
        .call_ok("RemoteStopTransaction", json!({"transactionId": 1}))
        .await;
    assert_eq!(answer["status"], "Accepted");
    let stop = csms.recv_call("StopTransaction").await;
    assert_eq!(
        (stop["transactionId"].clone(), stop["reason"].clone()),
        (json!(1), json!("Remote"))
    );
    hub.until_draw("c2", "stops after the remote stop", |a| a < 0.5)
        .await;
    // The car is still plugged in: Finishing until it leaves.
    status(&mut csms, 2, "Finishing").await;
    csms.assert_no_complaints();
    hub.stop().await;
    csms.quit().await;
}
