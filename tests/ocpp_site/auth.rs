//! The authorization rules against the CSMS: the local list it manages (versions, persisted),
//! the cache, blocked and unknown ids offline, the offline risk cap, late rejection.

use crate::flow::status;
use crate::hub::{Hub, LONG, calls, start_with};
use crate::ocpp_support::Csms;
use serde_json::{Value, json};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn until_offline(hub: &mut Hub) {
    hub.until_view("the uplink down", |v| {
        v.uplink.as_ref().is_some_and(|u| u.state != "connected")
    })
    .await;
}

/// Every journaled transaction: (connector, idTag, stop reason).
async fn journal(hub: &Hub) -> Vec<(u32, String, Option<String>)> {
    let all = hub
        .writer
        .call(|c| hubgate::store::journal::transactions_between(c, 0, i64::MAX))
        .await
        .unwrap();
    all.into_iter()
        .map(|t| (t.connector, t.id_tag, t.stop_reason))
        .collect()
}

fn stop_with(reason: &'static str) -> impl Fn(&Value) -> bool {
    move |e: &Value| {
        e["event"] == "recv"
            && e["frame"][2] == "StopTransaction"
            && e["frame"][3]["reason"] == reason
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_list_and_cache_decide_offline() {
    let mut first = Csms::start(&[]).await;
    let port = first.port;
    let auth = "[auth]\nlocal_authorize_offline = true\nallow_offline_tx_for_unknown_id = false\n";
    let mut hub = start_with(port, &[], auth).await;
    first.recv_call("BootNotification").await;

    let list = |version: i64, kind: &str, entries: Value| json!({"listVersion": version, "updateType": kind, "localAuthorizationList": entries});
    let full = list(
        3,
        "Full",
        json!([
            {"idTag": "LIST-OK", "idTagInfo": {"status": "Accepted"}},
            {"idTag": "LIST-BLOCKED", "idTagInfo": {"status": "Blocked"}}
        ]),
    );
    assert_eq!(
        first.call_ok("SendLocalList", full).await["status"],
        "Accepted"
    );
    let v = first.call_ok("GetLocalListVersion", json!({})).await;
    assert_eq!(v["listVersion"], 3);
    let diff = list(
        4,
        "Differential",
        json!([{"idTag": "LIST-NEW", "idTagInfo": {"status": "Accepted"}}, {"idTag": "list-ok"}]),
    );
    assert_eq!(
        first.call_ok("SendLocalList", diff.clone()).await["status"],
        "Accepted"
    );
    assert_eq!(
        first.call_ok("SendLocalList", diff).await["status"],
        "VersionMismatch"
    );

    // An id the CSMS accepts online goes into the cache.
    hub.plug("c3");
    status(&mut first, 3, "Preparing").await;
    hub.card(3, "CACHED-1").await;
    first.recv_call("StartTransaction").await;
    hub.unplug("c3");
    first.recv_call("StopTransaction").await;

    let first_log = first.finish().await;
    until_offline(&mut hub).await;

    // Offline: the list (any case) and the cache let ids charge...
    hub.plug("c1");
    hub.card(1, "list-new").await;
    hub.until_draw("c1", "charging on the list", |a| a > 5.0)
        .await;
    hub.plug("c3");
    hub.card(3, "cached-1").await;
    hub.until_draw("c3", "charging from the cache", |a| a > 5.0)
        .await;
    // ... a blocked id, and an id the list no longer holds (unknown), do not.
    hub.plug("c2");
    hub.card(2, "LIST-BLOCKED").await;
    hub.card(2, "LIST-OK").await;
    hub.sim.settle(4.0).await;
    assert!(hub.draw("c2") < 0.5);
    let txs = journal(&hub).await;
    assert!(txs.iter().all(|(c, _, _)| *c != 2), "{txs:?}");
    assert_eq!(txs.len(), 3, "{txs:?}");

    // The list survives a restart; ClearCache empties the cache.
    hub.halt().await;
    hub.resume();
    let mut csms = Csms::start(&["--port", &port.to_string(), "--first-tx", "10"]).await;
    csms.wait_for("the boot", LONG, |e| {
        e["event"] == "recv" && e["frame"][2] == "BootNotification"
    })
    .await;
    let v = csms.call_ok("GetLocalListVersion", json!({})).await;
    assert_eq!(v["listVersion"], 4);
    assert!(hub.writer.cache_lookup("CACHED-1").await.unwrap().is_some());
    assert_eq!(
        csms.call_ok("ClearCache", json!({})).await["status"],
        "Accepted"
    );
    let cleared = async {
        while hub.writer.cache_lookup("CACHED-1").await.unwrap().is_some() {
            hub.sim.settle(0.2).await;
        }
    };
    tokio::time::timeout(LONG, cleared)
        .await
        .expect("cache cleared");
    // The offline starts reached the CSMS once it was back.
    for tag in ["list-new", "cached-1"] {
        csms.wait_for(tag, LONG, |e| {
            e["event"] == "recv"
                && e["frame"][2] == "StartTransaction"
                && e["frame"][3]["idTag"] == tag
        })
        .await;
    }
    assert_eq!(calls(&first_log, "StartTransaction").len(), 1);
    csms.assert_no_complaints();
    hub.stop().await;
    csms.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_offline_stops_at_the_risk_cap() {
    let port = free_port();
    let auth = "[auth]\nallow_offline_tx_for_unknown_id = true\nunknown_id_max_energy_kwh = 0.03\n";
    let mut hub = start_with(port, &[], auth).await;
    until_offline(&mut hub).await;
    hub.plug("c1");
    hub.card(1, "STRANGER").await;
    hub.until_draw("c1", "charging", |a| a > 5.0).await;
    // 30 Wh at about 11 kW: the cap stops it within seconds.
    hub.until_draw("c1", "stopped at the cap", |a| a < 0.5)
        .await;
    let txs = journal(&hub).await;
    assert_eq!(txs, vec![(1, "STRANGER".into(), Some("Other".into()))]);
    let t = hub.writer.transaction(1).await.unwrap().unwrap();
    let taken = t.meter_stop_wh.unwrap() - t.meter_start_wh;
    assert!((30..200).contains(&taken), "{taken} Wh");

    let mut csms = Csms::start(&["--port", &port.to_string()]).await;
    let stop = csms.wait_for("the stop", LONG, stop_with("Other")).await;
    assert_eq!(stop["frame"][3]["transactionId"], 1);
    csms.assert_no_complaints();
    hub.stop().await;
    csms.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_rejection_stops_after_max_energy_or_only_stops_the_energy() {
    let port = free_port();
    let keys = [
        ("MaxEnergyOnInvalidId", "40"),
        ("StopTransactionOnInvalidId", "true"),
    ];
    let mut hub = start_with(port, &keys, crate::hub::OPEN_AUTH).await;
    until_offline(&mut hub).await;
    hub.plug("c1");
    hub.card(1, "STOLEN-1").await;
    hub.until_draw("c1", "charging offline", |a| a > 5.0).await;

    // The CSMS comes and rejects the id: 40 Wh more at most, then DeAuthorized.
    let mut csms = Csms::start(&["--port", &port.to_string(), "--authorize", "Invalid"]).await;
    let start_tx = csms.recv_call("StartTransaction").await;
    let stop = csms
        .wait_for("the stop", LONG, stop_with("DeAuthorized"))
        .await;
    let taken =
        stop["frame"][3]["meterStop"].as_i64().unwrap() - start_tx["meterStart"].as_i64().unwrap();
    assert!(taken >= 40, "stopped after {taken} Wh");
    hub.until_draw("c1", "no energy", |a| a < 0.5).await;
    hub.unplug("c1");

    // Without StopTransactionOnInvalidId (and no allowance) only the energy stops; the
    // transaction ends with the car.
    for (key, value) in [
        ("StopTransactionOnInvalidId", "false"),
        ("MaxEnergyOnInvalidId", "0"),
    ] {
        let answer = csms
            .call_ok("ChangeConfiguration", json!({"key": key, "value": value}))
            .await;
        assert_eq!(answer["status"], "Accepted");
    }
    hub.plug("c2");
    status(&mut csms, 2, "Preparing").await;
    // Online, Authorize itself says Invalid: nothing starts.
    hub.card(2, "STOLEN-2").await;
    csms.recv_call("Authorize").await;
    hub.sim.settle(3.0).await;
    assert!(hub.draw("c2") < 0.5);
    assert!(journal(&hub).await.iter().all(|(c, _, _)| *c != 2));
    // A remote start goes through without Authorize; its StartTransaction is rejected.
    let answer = csms
        .call_ok(
            "RemoteStartTransaction",
            json!({"connectorId": 2, "idTag": "STOLEN-2"}),
        )
        .await;
    assert_eq!(answer["status"], "Accepted");
    csms.recv_call("StartTransaction").await;
    status(&mut csms, 2, "SuspendedEVSE").await;
    hub.sim.settle(4.0).await;
    hub.until_draw("c2", "no energy", |a| a < 0.5).await;
    hub.unplug("c2");
    let stop = csms
        .wait_for("the car's stop", LONG, stop_with("EVDisconnected"))
        .await;
    assert_eq!(stop["frame"][3]["transactionId"], 2);
    // No other stop came before the car left.
    assert_eq!(calls(&csms.log, "StopTransaction").len(), 2);
    csms.assert_no_complaints();
    hub.stop().await;
    csms.quit().await;
}
