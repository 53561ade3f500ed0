//! The transaction journal and its outbox: order, retries, transactionId, bounded storage.

use super::support::{new_store, sample, start, stop, temp_db};
use hubgate::store::auth::AuthStatus;
use hubgate::store::backlog::{backlog, enforce_limit};
use hubgate::store::journal::{self, NewTransaction, Sample, TxState};
use hubgate::store::outbox::{
    self, DeliveryState, Due, OutboxMessage, RetryPolicy, Settled, StartAck, TxAction,
    UNKNOWN_TRANSACTION_ID, mark_acked, mark_failed, next_due,
};
use hubgate::store::{Store, StoreError};
use rusqlite::Connection;
use serde_json::json;
use std::time::Duration;

const POLICY: RetryPolicy = RetryPolicy {
    interval: Duration::from_secs(10),
    max_attempts: 3,
};

fn accepted(id: i32) -> StartAck {
    StartAck {
        transaction_id: id,
        id_tag_status: AuthStatus::Accepted,
    }
}

fn due(conn: &Connection, now: i64) -> OutboxMessage {
    match next_due(conn, now).expect("next_due") {
        Due::Send(m) => m,
        other => panic!("expected a message at {now}, got {other:?}"),
    }
}

/// Deliver the head message, answering a StartTransaction with `id`.
fn deliver(conn: &Connection, now: i64, id: i32) -> OutboxMessage {
    let m = due(conn, now);
    let ack = (m.action == TxAction::StartTransaction).then(|| accepted(id));
    assert_eq!(
        mark_acked(conn, m.seq, now, ack.as_ref()).expect("ack"),
        Settled::Acked
    );
    m
}

#[test]
fn messages_come_out_in_recording_order_across_transactions() {
    let (_d, s) = new_store();
    let c = s.conn();
    let a = start(c, 1, "A", 0, 100);
    let b = start(c, 2, "B", 0, 110);
    sample(c, a.tx, 10, 120);
    sample(c, b.tx, 10, 130);
    stop(c, a.tx, 20, 140);
    stop(c, b.tx, 20, 150);
    let order: Vec<(i64, TxAction)> = (0..6)
        .map(|i| deliver(c, 1000, 50 + i))
        .map(|m| (m.tx, m.action))
        .collect();
    use TxAction::*;
    assert_eq!(
        order,
        vec![
            (a.tx, StartTransaction),
            (b.tx, StartTransaction),
            (a.tx, MeterValues),
            (b.tx, MeterValues),
            (a.tx, StopTransaction),
            (b.tx, StopTransaction),
        ]
    );
    assert_eq!(next_due(c, 1000).expect("next"), Due::Idle);
}

#[test]
fn an_offline_start_gives_its_acknowledged_id_to_the_queued_messages() {
    let (_d, s) = new_store();
    let c = s.conn();
    let t = start(c, 1, "Tag", 500, 100);
    sample(c, t.tx, 600, 200);
    stop(c, t.tx, 700, 300);
    let first = due(c, 1000);
    assert_eq!(first.action, TxAction::StartTransaction);
    assert!(first.payload.get("transactionId").is_none());
    // Offline: nothing but the start is offered while it is unanswered.
    assert_eq!(due(c, 1000).seq, first.seq);
    mark_acked(c, first.seq, 1001, Some(&accepted(4711))).expect("ack");
    let rec = journal::transaction(c, t.tx)
        .expect("read")
        .expect("exists");
    assert_eq!(rec.csms_tx_id, Some(4711));
    assert_eq!(rec.start_status, Some(AuthStatus::Accepted));
    let mv = deliver(c, 1002, 0);
    assert_eq!(mv.action, TxAction::MeterValues);
    assert_eq!(mv.payload["transactionId"], json!(4711));
    let st = deliver(c, 1003, 0);
    assert_eq!(st.action, TxAction::StopTransaction);
    assert_eq!(st.payload["transactionId"], json!(4711));
    assert_eq!(st.payload["meterStop"], json!(700));
    // Stored payloads are left as recorded.
    let stored = outbox::entries(c, Some(t.tx)).expect("entries");
    assert!(
        stored
            .iter()
            .all(|e| e.payload.get("transactionId").is_none())
    );
    assert!(stored.iter().all(|e| e.state == DeliveryState::Acked));
}

#[test]
fn a_failed_message_is_retried_with_linear_backoff_and_holds_back_the_queue() {
    let (_d, s) = new_store();
    let c = s.conn();
    let t = start(c, 1, "A", 0, 100);
    let other = start(c, 2, "B", 0, 110);
    let m = due(c, 1000);
    assert_eq!(m.tx, t.tx);
    assert_eq!(
        mark_failed(c, m.seq, 1000, &POLICY, "InternalError").expect("fail"),
        Settled::RetryAt(11_000)
    );
    // The head waits; the other transaction's start may not overtake it.
    assert_eq!(next_due(c, 10_999).expect("next"), Due::WaitUntil(11_000));
    let again = due(c, 11_000);
    assert_eq!((again.seq, again.attempts), (m.seq, 1));
    assert_eq!(
        mark_failed(c, m.seq, 11_000, &POLICY, "InternalError").expect("fail"),
        Settled::RetryAt(31_000),
        "second wait is twice the interval"
    );
    assert_eq!(next_due(c, 30_000).expect("next"), Due::WaitUntil(31_000));
    mark_acked(c, m.seq, 31_000, Some(&accepted(1))).expect("ack");
    assert_eq!(due(c, 31_000).tx, other.tx);
    let entry = &outbox::entries(c, Some(t.tx)).expect("entries")[0];
    assert_eq!(entry.attempts, 2);
    assert_eq!(entry.last_error.as_deref(), Some("InternalError"));
}

#[test]
fn a_start_given_up_leaves_minus_one_for_the_later_messages() {
    let (_d, s) = new_store();
    let c = s.conn();
    let t = start(c, 1, "A", 0, 100);
    sample(c, t.tx, 5, 150);
    stop(c, t.tx, 10, 200);
    let mut now = 1000;
    let m = due(c, now);
    for attempt in 1..=3 {
        let out = mark_failed(c, m.seq, now, &POLICY, "FormationViolation").expect("fail");
        if attempt < 3 {
            let Settled::RetryAt(at) = out else {
                panic!("attempt {attempt}: {out:?}")
            };
            now = at;
            assert_eq!(due(c, now).seq, m.seq);
        } else {
            assert_eq!(out, Settled::GaveUp);
        }
    }
    let rec = journal::transaction(c, t.tx)
        .expect("read")
        .expect("exists");
    assert_eq!(rec.csms_tx_id, Some(UNKNOWN_TRANSACTION_ID));
    assert_eq!(rec.start_status, None);
    let mv = deliver(c, now, 0);
    assert_eq!(mv.payload["transactionId"], json!(-1));
    let st = deliver(c, now, 0);
    assert_eq!(st.payload["transactionId"], json!(-1));
    // Settling a given-up message again changes nothing.
    assert_eq!(
        mark_acked(c, m.seq, now, Some(&accepted(9))).expect("late ack"),
        Settled::AlreadySettled
    );
    let rec = journal::transaction(c, t.tx)
        .expect("read")
        .expect("exists");
    assert_eq!(rec.csms_tx_id, Some(UNKNOWN_TRANSACTION_ID));
    assert_eq!(backlog(c).expect("backlog").failed, 1);
}

#[test]
fn settling_is_checked() {
    let (_d, s) = new_store();
    let c = s.conn();
    let t = start(c, 1, "A", 0, 100);
    let mv = sample(c, t.tx, 5, 150);
    let err = mark_acked(c, t.seq, 200, None).expect_err("start without its answer");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let err = mark_acked(c, mv, 200, Some(&accepted(3))).expect_err("answer on a sample");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let err = mark_acked(c, 999, 200, None).expect_err("unknown");
    assert!(matches!(err, StoreError::NotFound { id: 999, .. }), "{err}");
    // Nothing of the refused calls was stored.
    let rec = journal::transaction(c, t.tx)
        .expect("read")
        .expect("exists");
    assert_eq!(rec.csms_tx_id, None);
    assert!(
        outbox::entries(c, None)
            .expect("entries")
            .iter()
            .all(|e| e.state == DeliveryState::Pending)
    );
    assert_eq!(
        mark_acked(c, t.seq, 200, Some(&accepted(3))).expect("ack"),
        Settled::Acked
    );
    assert_eq!(
        mark_acked(c, t.seq, 201, Some(&accepted(4))).expect("duplicate ack"),
        Settled::AlreadySettled
    );
    let rec = journal::transaction(c, t.tx)
        .expect("read")
        .expect("exists");
    assert_eq!(
        rec.csms_tx_id,
        Some(3),
        "a duplicate answer does not change the id"
    );
}

#[test]
fn journal_writes_are_checked_and_leave_nothing_when_refused() {
    let (_d, s) = new_store();
    let c = s.conn();
    let t = start(c, 1, "A", 0, 100);
    let busy = journal::record_start(
        c,
        &NewTransaction {
            connector: 1,
            id_tag: "B".into(),
            started_at: 110,
            meter_start_wh: 0,
            payload: json!({}),
        },
    )
    .expect_err("connector busy");
    assert!(matches!(busy, StoreError::Conflict(_)), "{busy}");
    let bad = journal::record_sample(
        c,
        &Sample {
            tx: t.tx,
            at: 120,
            meter_wh: Some(1),
            payload: Some(json!([1, 2])),
        },
    )
    .expect_err("payload not an object");
    assert!(matches!(bad, StoreError::Invalid(_)), "{bad}");
    stop(c, t.tx, 10, 130);
    let twice = journal::record_stop(
        c,
        &hubgate::store::journal::StopRecord {
            tx: t.tx,
            stopped_at: 140,
            meter_stop_wh: 10,
            reason: None,
            cost: None,
            payload: json!({}),
        },
    )
    .expect_err("already stopped");
    assert!(matches!(twice, StoreError::Conflict(_)), "{twice}");
    let entries = outbox::entries(c, None).expect("entries");
    assert_eq!(entries.len(), 2, "start and stop only: {entries:?}");
    let count: i64 = c
        .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 1);
}

#[test]
fn open_transactions_survive_a_restart_with_their_last_reading_and_idle_time() {
    let (_d, path) = temp_db();
    let (a, b) = {
        let s = Store::open(&path).expect("open");
        let c = s.conn();
        let a = start(c, 1, "A", 1000, 0);
        let b = start(c, 2, "B", 50, 0);
        sample(c, a.tx, 1100, 60_000);
        sample(c, a.tx, 1100, 120_000); // no energy for a minute
        sample(c, a.tx, 1150, 180_000);
        stop(c, b.tx, 60, 90_000);
        (a, b)
    };
    let s = Store::open(&path).expect("reopen");
    let open = journal::open_transactions(s.conn()).expect("open transactions");
    assert_eq!(open.len(), 1);
    let t = &open[0];
    assert_eq!((t.id, t.connector, t.state), (a.tx, 1, TxState::Active));
    assert_eq!((t.last_meter_wh, t.last_sample_at), (1150, 180_000));
    assert_eq!(t.idle_ms, 60_000);
    let stopped = journal::transaction(s.conn(), b.tx)
        .expect("read")
        .expect("b");
    assert_eq!(stopped.state, TxState::Stopped);
    assert_eq!(stopped.meter_stop_wh, Some(60));
    // A sample without a payload updates the journal only.
    let seq = journal::record_sample(
        s.conn(),
        &Sample {
            tx: a.tx,
            at: 240_000,
            meter_wh: Some(1200),
            payload: None,
        },
    )
    .expect("sample");
    assert_eq!(seq, None);
    assert_eq!(
        outbox::entries(s.conn(), Some(a.tx))
            .expect("entries")
            .len(),
        4
    );
}

#[test]
fn backlog_counts_what_waits() {
    let (_d, s) = new_store();
    let c = s.conn();
    let t = start(c, 1, "A", 0, 100);
    sample(c, t.tx, 1, 200);
    sample(c, t.tx, 2, 300);
    stop(c, t.tx, 3, 400);
    deliver(c, 1000, 7);
    let b = backlog(c).expect("backlog");
    assert_eq!(
        (b.undelivered, b.starts, b.meter_values, b.stops, b.rows),
        (3, 0, 2, 1, 4)
    );
    assert_eq!(b.oldest, Some(200));
}

#[test]
fn thinning_drops_only_intermediate_meter_values_and_keeps_starts_and_stops() {
    let (_d, s) = new_store();
    let c = s.conn();
    let mut protected = Vec::new();
    for conn in 1..=2u32 {
        let t = start(c, conn, "A", 0, 0);
        protected.push(t.seq);
        let mut last = 0;
        for i in 1..=20 {
            last = sample(c, t.tx, i, i * 10);
        }
        protected.push(last);
        protected.push(stop(c, t.tx, 30, 500));
    }
    // 2 × (1 + 20 + 1) = 44 rows; allow 30.
    let out = enforce_limit(c, 30).expect("thin");
    assert_eq!(out.dropped.len(), 14);
    assert_eq!(
        (out.rows, out.over_limit, out.purged_settled),
        (30, false, 0)
    );
    let left = outbox::entries(c, None).expect("entries");
    assert_eq!(left.len(), 30);
    for seq in &protected {
        assert!(
            left.iter().any(|e| e.seq == *seq),
            "protected {seq} dropped"
        );
    }
    for d in &out.dropped {
        let gone = left.iter().all(|e| e.seq != d.seq);
        assert!(gone, "{d:?} reported dropped but still there");
    }
    // Odd positions go first: the survivors of each transaction are spread over its length.
    let first_tx = left[0].tx;
    let kept: Vec<i64> = left
        .iter()
        .filter(|e| e.tx == first_tx && e.action == TxAction::MeterValues)
        .map(|e| {
            e.payload["meterValue"][0]["sampledValue"][0]["value"]
                .as_str()
                .expect("v")
                .parse()
                .expect("n")
        })
        .collect();
    assert!(kept.contains(&2) && kept.contains(&20), "{kept:?}");
    // Down to the bone: only starts, stops and each transaction's last sample remain.
    let out = enforce_limit(c, 1).expect("thin hard");
    assert!(out.over_limit);
    assert_eq!(out.rows, protected.len() as u64);
}

#[test]
fn the_limit_forgets_settled_messages_before_dropping_samples() {
    let (_d, s) = new_store();
    let c = s.conn();
    let t = start(c, 1, "A", 0, 0);
    for i in 1..=5 {
        sample(c, t.tx, i, i);
    }
    for _ in 0..4 {
        deliver(c, 100, 1);
    }
    let out = enforce_limit(c, 3).expect("limit");
    assert_eq!(out.purged_settled, 3);
    assert!(out.dropped.is_empty());
    assert_eq!(backlog(c).expect("backlog").undelivered, 2);
}
