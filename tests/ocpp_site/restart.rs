//! A restart: a transaction whose car is still plugged in goes on under its transactionId; one
//! whose car left meanwhile is closed (reason Reboot after a clean stop) with its last meter
//! value; nothing starts twice.

use crate::flow::status;
use crate::hub::{LONG, calls, register_wh, start};
use crate::ocpp_support::Csms;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_running_transactions_and_closes_ended_ones() {
    let mut csms = Csms::start(&[]).await;
    let mut hub = start(csms.port, &[("MeterValueSampleInterval", "2")]).await;
    csms.recv_call("BootNotification").await;
    for (charger, connector) in [("c1", 1u32), ("c2", 2)] {
        hub.plug(charger);
        status(&mut csms, i64::from(connector), "Preparing").await;
        hub.card(connector, "04A1B2C3").await;
        csms.recv_call("StartTransaction").await;
        hub.until_draw(charger, "charging", |a| a > 5.0).await;
    }
    let before = csms.recv_call("MeterValues").await;

    hub.halt().await;
    hub.unplug("c2");
    hub.sim.settle(1.0).await;
    hub.resume();

    // A real restart: a new boot, then c2's stop, then c1's meter values go on.
    let mv_of = |id: i64| {
        move |e: &Value| {
            e["event"] == "recv"
                && e["frame"][2] == "MeterValues"
                && e["frame"][3]["transactionId"] == id
        }
    };
    csms.wait_for("a boot", LONG, |e| {
        e["event"] == "recv" && e["frame"][2] == "BootNotification"
    })
    .await;
    let stop = csms
        .wait_for("c2's stop", LONG, |e| {
            e["event"] == "recv" && e["frame"][2] == "StopTransaction"
        })
        .await;
    let stop = &stop["frame"][3];
    assert_eq!(stop["transactionId"], 2);
    assert_eq!(stop["reason"], "Reboot");
    let after = csms.wait_for("c1's meter values", LONG, mv_of(1)).await;
    let id = before["transactionId"].as_i64().unwrap();
    let first = if id == 1 { register_wh(&before) } else { 0.0 };
    assert!(register_wh(&after["frame"][3]) >= first);
    hub.until_draw("c1", "still charging", |a| a > 5.0).await;

    hub.unplug("c1");
    let stop = csms
        .wait_for("c1's stop", LONG, |e| {
            e["event"] == "recv"
                && e["frame"][2] == "StopTransaction"
                && e["frame"][3]["transactionId"] == 1
        })
        .await;
    assert_eq!(stop["frame"][3]["reason"], "EVDisconnected");
    assert_eq!(calls(&csms.log, "StartTransaction").len(), 2);
    csms.assert_no_complaints();
    hub.stop().await;
    csms.quit().await;
}
