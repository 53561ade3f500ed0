//! Transactions through the outbox: order, transactionIds, retries.

use super::tests::*;
use super::*;
use crate::ocpp::messages::*;
use serde_json::json;

#[test]
fn a_full_transaction_in_order() {
    let mut cp = online();
    cp.on_site(reading(1000.0), t(1));
    let (id, action, p) = the_call(&start_tx(&mut cp, 7, 1, t(1)));
    assert_eq!(action, "StartTransaction");
    assert_eq!(
        (p["meterStart"].clone(), p["idTag"].clone()),
        (json!(1000), json!("AbC"))
    );
    let out = reply(
        &mut cp,
        &id,
        json!({"transactionId": 42, "idTagInfo": {"status": "Accepted"}}),
        t(2),
    );
    assert!(matches!(
        &commands(&out)[..],
        [SiteCommand::TransactionConfirmed {
            transaction_id: 42,
            stop: false,
            ..
        }]
    ));
    cp.on_site(reading(2500.0), t(50));
    let (id, action, p) = the_call(&cp.on_tick(t(61)));
    assert_eq!(action, "MeterValues");
    assert_eq!(p["transactionId"], 42);
    assert_eq!(p["meterValue"][0]["sampledValue"][0]["value"], "2500");
    assert_eq!(
        p["meterValue"][0]["sampledValue"][0]["context"],
        "Sample.Periodic"
    );
    reply(&mut cp, &id, json!({}), t(62));
    let (answer, out) = call(
        &mut cp,
        "RemoteStopTransaction",
        json!({"transactionId": 42}),
        t(63),
    );
    assert_eq!(answer[2]["status"], "Accepted");
    assert_eq!(
        commands(&out),
        vec![SiteCommand::RemoteStop {
            connector: 1,
            local: 7
        }]
    );
    let (answer, _) = call(
        &mut cp,
        "RemoteStopTransaction",
        json!({"transactionId": 41}),
        t(63),
    );
    assert_eq!(answer[2]["status"], "Rejected");
    let out = cp.on_site(
        SiteEvent::TransactionStopped {
            local: 7,
            meter_stop_wh: 3000.0,
            at: wall(64),
            reason: Reason::Remote,
            id_tag: None,
        },
        t(64),
    );
    let (_, action, p) = the_call(&out);
    assert_eq!(action, "StopTransaction");
    assert_eq!(
        (
            p["transactionId"].clone(),
            p["meterStop"].clone(),
            p["reason"].clone()
        ),
        (json!(42), json!(3000), json!("Remote"))
    );
}

#[test]
fn offline_transaction_gets_its_id_when_delivered() {
    let mut cp = online();
    cp.on_disconnected(t(1));
    cp.on_site(reading(1000.0), t(1));
    assert!(frames(&start_tx(&mut cp, 9, 1, t(2))).is_empty());
    cp.on_site(reading(1500.0), t(60));
    assert!(frames(&cp.on_tick(t(62))).is_empty());
    cp.on_site(
        SiteEvent::TransactionStopped {
            local: 9,
            meter_stop_wh: 2000.0,
            at: wall(70),
            reason: Reason::Local,
            id_tag: None,
        },
        t(70),
    );
    assert_eq!(cp.outbox_depth(), 3);
    // a mere reconnect: no BootNotification, straight to the queue
    let (id, action, _) = the_call(&cp.on_connected(t(80)));
    assert_eq!(action, "StartTransaction");
    let (id, action, p) = the_call(&reply(
        &mut cp,
        &id,
        json!({"transactionId": 5, "idTagInfo": {"status": "Accepted"}}),
        t(81),
    ));
    assert_eq!(
        (action.as_str(), p["transactionId"].clone()),
        ("MeterValues", json!(5))
    );
    let (_, action, p) = the_call(&reply(&mut cp, &id, json!({}), t(82)));
    assert_eq!(
        (action.as_str(), p["transactionId"].clone()),
        ("StopTransaction", json!(5))
    );
}

#[test]
fn failed_transaction_messages_are_retried_then_given_up() {
    let mut cp = online();
    let (id, _, _) = the_call(&start_tx(&mut cp, 3, 1, t(1)));
    let err = |id: &str| json!([4, id, "InternalError", "db down", {}]).to_string();
    assert!(frames(&cp.on_text(&err(&id), t(2))).is_empty());
    // retry after TransactionMessageRetryInterval (60 s) x 1
    assert!(frames(&cp.on_tick(t(61))).is_empty());
    let (id, action, _) = the_call(&cp.on_tick(t(62)));
    assert_eq!(action, "StartTransaction");
    cp.on_text(&err(&id), t(63));
    // then x 2
    assert!(frames(&cp.on_tick(t(182))).is_empty());
    let (id, _, _) = the_call(&cp.on_tick(t(183)));
    // the third failure gives up: the stop goes out with transactionId -1
    cp.on_site(
        SiteEvent::TransactionStopped {
            local: 3,
            meter_stop_wh: 1.0,
            at: wall(184),
            reason: Reason::Local,
            id_tag: None,
        },
        t(184),
    );
    let (_, action, p) = the_call(&cp.on_text(&err(&id), t(185)));
    assert_eq!(
        (action.as_str(), p["transactionId"].clone()),
        ("StopTransaction", json!(-1))
    );
}
