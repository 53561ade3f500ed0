//! The CSMS's commands on the real site: ChangeAvailability (persisted, scheduled while a
//! transaction runs), UnlockConnector (the transaction stops first), Reset.

use crate::flow::status;
use crate::hub::{LONG, start};
use crate::ocpp_support::Csms;
use serde_json::{Value, json};

fn call_of(action: &'static str, connector: i64) -> impl Fn(&Value) -> bool {
    move |e: &Value| {
        e["event"] == "recv"
            && e["frame"][2] == action
            && (e["frame"][3]["connectorId"] == connector || connector < 0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_is_kept_across_a_restart_and_waits_for_a_transaction() {
    let mut csms = Csms::start(&[]).await;
    let mut hub = start(csms.port, &[]).await;
    csms.recv_call("BootNotification").await;
    status(&mut csms, 3, "Available").await;
    let answer = csms
        .call_ok(
            "ChangeAvailability",
            json!({"connectorId": 3, "type": "Inoperative"}),
        )
        .await;
    assert_eq!(answer["status"], "Accepted");
    status(&mut csms, 3, "Unavailable").await;

    // Still out of service after a restart; a car there does not charge.
    hub.halt().await;
    hub.resume();
    csms.wait_for("a boot", LONG, call_of("BootNotification", -1))
        .await;
    status(&mut csms, 3, "Unavailable").await;
    hub.plug("c3");
    hub.card(3, "04A1B2C3").await;
    csms.recv_call("Authorize").await;
    hub.sim.settle(3.0).await;
    assert!(hub.draw("c3") < 0.5);

    // Back in service: the accepted card starts it (within the connection timeout).
    let answer = csms
        .call_ok(
            "ChangeAvailability",
            json!({"connectorId": 3, "type": "Operative"}),
        )
        .await;
    assert_eq!(answer["status"], "Accepted");
    csms.wait_for("the start", LONG, call_of("StartTransaction", 3))
        .await;
    hub.until_draw("c3", "charging", |a| a > 5.0).await;

    // With a transaction running, taking it out of service waits for its end.
    let answer = csms
        .call_ok(
            "ChangeAvailability",
            json!({"connectorId": 3, "type": "Inoperative"}),
        )
        .await;
    assert_eq!(answer["status"], "Scheduled");
    hub.until_draw("c3", "still charging", |a| a > 5.0).await;
    hub.unplug("c3");
    csms.recv_call("StopTransaction").await;
    status(&mut csms, 3, "Unavailable").await;
    csms.assert_no_complaints();
    hub.stop().await;
    csms.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_stops_the_transaction_then_a_soft_reset_boots_again() {
    let mut csms = Csms::start(&[]).await;
    let hub = start(csms.port, &[]).await;
    csms.recv_call("BootNotification").await;
    for (charger, connector) in [("c1", 1), ("c2", 2)] {
        hub.plug(charger);
        status(&mut csms, connector, "Preparing").await;
        hub.card(connector as u32, "04A1B2C3").await;
        csms.recv_call("StartTransaction").await;
    }
    hub.until_draw("c1", "charging", |a| a > 5.0).await;

    let answer = csms
        .call_ok("UnlockConnector", json!({"connectorId": 1}))
        .await;
    assert_eq!(answer["status"], "Unlocked");
    let stop = csms.recv_call("StopTransaction").await;
    assert_eq!(
        (stop["transactionId"].clone(), stop["reason"].clone()),
        (json!(1), json!("UnlockCommand"))
    );
    hub.until_draw("c1", "stopped", |a| a < 0.5).await;

    let answer = csms.call_ok("Reset", json!({"type": "Soft"})).await;
    assert_eq!(answer["status"], "Accepted");
    let stop = csms.recv_call("StopTransaction").await;
    assert_eq!(
        (stop["transactionId"].clone(), stop["reason"].clone()),
        (json!(2), json!("SoftReset"))
    );
    csms.wait_for(
        "the boot after the reset",
        LONG,
        call_of("BootNotification", -1),
    )
    .await;
    hub.until_draw("c2", "no energy without a transaction", |a| a < 0.5)
        .await;
    csms.assert_no_complaints();
    hub.stop().await;
    csms.quit().await;
}
