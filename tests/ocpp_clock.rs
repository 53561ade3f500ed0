//! The charge point against the independent CSMS while its wall clock jumps (set back an hour,
//! forward a day): heartbeats go on, and a transaction message the CSMS refused is retried
//! after TransactionMessageRetryInterval, not after the jump. The session reads its wall clock
//! through an offset the test moves; its monotonic clock is the real one.

mod ocpp_support;

use hubgate::ocpp::chargepoint::{SiteCommand, SiteEvent};
use hubgate::ocpp::messages::{CiString20, Reason};
use ocpp_support::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn tag() -> CiString20 {
    CiString20::new("Card-0001").unwrap()
}

/// The CSMS has handled everything the charge point sent before now: a CALL of its own
/// answered proves the session read (and settled) the frames before it.
async fn settled(csms: &mut Csms) {
    let p = csms
        .call_ok("GetConfiguration", json!({"key": ["HeartbeatInterval"]}))
        .await;
    assert!(p["configurationKey"].is_array(), "{p}");
}

#[tokio::test]
async fn heartbeats_go_on_when_the_wall_clock_jumps() {
    let mut csms = Csms::start(&["--boot-interval", "1"]).await;
    let offset = Arc::new(AtomicI64::new(0));
    let s = session_with_wall_offset(link(csms.port, "ws"), &[], offset.clone());
    all_available(&s).await;
    booted(&mut csms).await;
    csms.recv_call("Heartbeat").await;
    settled(&mut csms).await;
    // set back an hour: before, no heartbeat went out until the wall clock caught up
    offset.store(-HOUR_MS, Ordering::SeqCst);
    for _ in 0..3 {
        csms.recv_call("Heartbeat").await;
    }
    offset.store(DAY_MS, Ordering::SeqCst);
    for _ in 0..3 {
        csms.recv_call("Heartbeat").await;
    }
    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}

#[tokio::test]
async fn a_refused_transaction_message_is_retried_on_time_after_a_jump_back() {
    let mut csms = Csms::start(&[]).await;
    let offset = Arc::new(AtomicI64::new(0));
    let keys = [
        ("TransactionMessageRetryInterval", "3"),
        ("TransactionMessageAttempts", "3"),
    ];
    let mut s = session_with_wall_offset(link(csms.port, "ws"), &keys, offset.clone());
    all_available(&s).await;
    booted(&mut csms).await;
    csms.command(json!({"cmd": "fail", "action": "StartTransaction", "times": 1}))
        .await;
    s.event(SiteEvent::TransactionStarted {
        local: 1,
        connector: 1,
        id_tag: tag(),
        meter_start_wh: 1000.0,
        at: chrono::Utc::now(),
        reservation_id: None,
    })
    .await;
    let first = csms.recv_call("StartTransaction").await;
    csms.wait("the refusal of the first StartTransaction", |e| {
        e["event"] == "csms_callerror" && e["frame"][2] == "InternalError"
    })
    .await;
    settled(&mut csms).await;
    // the retry is due 3 s after the refusal; the wall clock goes back an hour first
    offset.store(-HOUR_MS, Ordering::SeqCst);
    let again = csms.recv_call("StartTransaction").await;
    assert_eq!(again, first, "the same message is sent again");
    let c = s
        .command("the confirmation", |c| {
            matches!(c, SiteCommand::TransactionConfirmed { local: 1, .. })
        })
        .await;
    let SiteCommand::TransactionConfirmed { transaction_id, .. } = c else {
        panic!("{c:?}")
    };
    // and a day ahead, the stop is delivered with the CSMS's transactionId
    offset.store(DAY_MS, Ordering::SeqCst);
    s.event(SiteEvent::TransactionStopped {
        local: 1,
        meter_stop_wh: 2000.0,
        at: chrono::Utc::now(),
        reason: Reason::Local,
        id_tag: None,
    })
    .await;
    let stop = csms.recv_call("StopTransaction").await;
    assert_eq!(stop["transactionId"], json!(transaction_id));
    s.until("an empty outbox", |l| l.outbox_depth == 0).await;
    // the one refusal is the test's own
    let refusals = csms.complaints();
    assert!(
        matches!(&refusals[..], [e] if e["frame"][2] == "InternalError"),
        "{refusals:#?}"
    );
    s.stop().await;
    csms.quit().await;
}
