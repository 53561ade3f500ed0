//! The CSMS goes away for the length of several sessions (a start and a stop offline, a session
//! that stops offline, one that spans the outage) and comes back: it receives every
//! StartTransaction, MeterValues and StopTransaction, in order, with consistent transactionIds
//! and meter values, none twice.

use crate::flow::status;
use crate::hub::{Hub, LONG, calls, register_wh, start};
use crate::ocpp_support::Csms;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const TX_ACTIONS: [&str; 3] = ["StartTransaction", "MeterValues", "StopTransaction"];

/// A session on `charger`: plugged in, card shown, charging.
async fn begin(hub: &Hub, charger: &str, connector: u32, card: &str) {
    hub.plug(charger);
    hub.card(connector, card).await;
    hub.until_draw(charger, "charging", |a| a > 5.0).await;
}

fn offline(hub: &Hub) -> bool {
    hub.view
        .borrow()
        .uplink
        .as_ref()
        .is_some_and(|u| u.state != "connected")
}

/// The instant a transaction message speaks of.
fn stamp(action: &str, p: &Value) -> String {
    let t = match action {
        "MeterValues" => &p["meterValue"][0]["timestamp"],
        _ => &p["timestamp"],
    };
    t.as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_during_an_outage_reach_the_csms_in_order_once() {
    let mut first = Csms::start(&[]).await;
    let port = first.port;
    let mut hub = start(port, &[("MeterValueSampleInterval", "2")]).await;
    first.recv_call("BootNotification").await;
    // S starts online.
    status(&mut first, 3, "Available").await;
    begin(&hub, "c3", 3, "SPAN-S").await;
    let s_start = first.recv_call("StartTransaction").await;
    assert_eq!(s_start["idTag"], "SPAN-S");
    first.recv_call("MeterValues").await;

    // The CSMS goes away.
    let first_log = first.finish().await;
    hub.until_view("the uplink down", |v| {
        v.uplink.as_ref().is_some_and(|u| u.state != "connected")
    })
    .await;

    // A starts and stops offline; S stops offline; B starts offline and runs on.
    begin(&hub, "c1", 1, "OFFLINE-A").await;
    hub.sim.settle(3.0).await;
    hub.unplug("c1");
    hub.sim.settle(1.5).await;
    hub.unplug("c3");
    begin(&hub, "c2", 2, "OFFLINE-B").await;
    hub.sim.settle(3.0).await;
    let v = hub
        .until_view("the queue holding the outage", |v| {
            v.uplink.as_ref().is_some_and(|u| u.queued_messages >= 5)
        })
        .await;
    assert!(
        offline(&hub),
        "the sessions did not run offline: {:?}",
        v.uplink
    );

    // The CSMS comes back on the same port (a reconnect, not a reboot: no BootNotification).
    let mut csms = Csms::start(&["--port", &port.to_string(), "--first-tx", "2"]).await;
    let stop_of = |id: i64| {
        move |e: &Value| {
            e["event"] == "recv"
                && e["frame"][2] == "StopTransaction"
                && e["frame"][3]["transactionId"] == id
        }
    };
    csms.wait_for("A's stop", LONG, stop_of(2)).await;
    csms.wait_for("B's start", LONG, |e| {
        e["event"] == "recv"
            && e["frame"][2] == "StartTransaction"
            && e["frame"][3]["idTag"] == "OFFLINE-B"
    })
    .await;
    // B ends online.
    hub.unplug("c2");
    csms.wait_for("B's stop", LONG, stop_of(3)).await;
    hub.until_view("the queue empty", |v| {
        v.uplink.as_ref().is_some_and(|u| u.queued_messages == 0)
    })
    .await;
    csms.assert_no_complaints();
    let log = csms.finish().await;

    let frames: Vec<&Value> = log
        .iter()
        .filter(|e| e["event"] == "recv" && e["frame"][0] == 2)
        .map(|e| &e["frame"])
        .collect();
    assert!(
        calls(&log, "BootNotification").is_empty(),
        "a reconnect is no reboot"
    );

    // Every transaction message once, in the order things happened.
    let tx_msgs: Vec<(&str, &Value)> = frames
        .iter()
        .filter_map(|f| {
            let action = f[2].as_str()?;
            TX_ACTIONS.contains(&action).then_some((action, &f[3]))
        })
        .collect();
    let unique: BTreeSet<String> = tx_msgs.iter().map(|(a, p)| format!("{a}{p}")).collect();
    assert_eq!(unique.len(), tx_msgs.len(), "a message came twice");
    let stamps: Vec<String> = tx_msgs.iter().map(|(a, p)| stamp(a, p)).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "out of order: {stamps:#?}"
    );

    // Transaction ids: S = 1 (from the first CSMS), A = 2, B = 3 in start order; the meter
    // values of each between its start and its stop, never decreasing.
    let starts = calls(&log, "StartTransaction");
    assert_eq!(
        starts
            .iter()
            .map(|s| s["idTag"].clone())
            .collect::<Vec<_>>(),
        ["OFFLINE-A", "OFFLINE-B"]
    );
    let mut last: BTreeMap<i64, f64> = BTreeMap::new();
    last.insert(1, s_start["meterStart"].as_f64().unwrap());
    for (id, s) in [2i64, 3].into_iter().zip(&starts) {
        last.insert(id, s["meterStart"].as_f64().unwrap());
    }
    let mut stopped = BTreeSet::new();
    for (action, p) in &tx_msgs {
        match *action {
            "MeterValues" => {
                let id = p["transactionId"].as_i64().unwrap();
                assert!(
                    !stopped.contains(&id),
                    "meter values after the stop of {id}"
                );
                let wh = register_wh(p);
                assert!(wh >= last[&id], "transaction {id} went back to {wh}");
                last.insert(id, wh);
            }
            "StopTransaction" => {
                let id = p["transactionId"].as_i64().unwrap();
                assert!(last.contains_key(&id), "unknown transactionId {id}: {p}");
                assert!(p["meterStop"].as_f64().unwrap() >= last[&id]);
                assert!(stopped.insert(id), "{id} stopped twice");
            }
            _ => {}
        }
    }
    assert_eq!(stopped, BTreeSet::from([1, 2, 3]));
    // Nothing of S went to the first CSMS twice either.
    assert_eq!(calls(&first_log, "StartTransaction").len(), 1);
    hub.stop().await;
}
