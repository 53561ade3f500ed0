//! Property: whatever the mix of transactions, samples, answers and failures, the outbox offers
//! messages strictly in recording order, never one before every older message is settled, and
//! fills in the transactionId the StartTransaction got (or -1 once it was given up).

use super::support::{new_store, sample, start, stop};
use hubgate::store::auth::AuthStatus;
use hubgate::store::backlog::backlog;
use hubgate::store::outbox::{
    Due, RetryPolicy, Settled, StartAck, TxAction, mark_acked, mark_failed, next_due,
};
use proptest::prelude::*;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Start(u32),
    Sample(u32),
    Stop(u32),
    Ack,
    Fail,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1..=3u32).prop_map(Op::Start),
        3 => (1..=3u32).prop_map(Op::Sample),
        2 => (1..=3u32).prop_map(Op::Stop),
        3 => Just(Op::Ack),
        2 => Just(Op::Fail),
    ]
}

const POLICY: RetryPolicy = RetryPolicy {
    interval: Duration::from_millis(1_000),
    max_attempts: 3,
};

/// What the test expects, kept alongside the database.
#[derive(Default)]
struct Model {
    /// Recorded messages in order: (seq, tx, action); settled ones removed from the front.
    queue: Vec<(i64, i64, TxAction)>,
    /// Active transaction per connector.
    active: HashMap<u32, i64>,
    /// The transactionId each transaction's start settled with.
    ids: HashMap<i64, i32>,
    /// The last seq settled.
    last_settled: i64,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn outbox_delivers_in_order_with_the_right_transaction_id(ops in prop::collection::vec(op(), 1..60)) {
        let (_d, s) = new_store();
        let c = s.conn();
        // One transaction for the whole case: the functions nest their savepoints inside it.
        c.execute_batch("BEGIN").expect("begin");
        let mut m = Model::default();
        let mut now = 1_000i64;
        let mut meter = 0i64;
        for op in ops {
            now += 1;
            meter += 1;
            match op {
                Op::Start(conn) if !m.active.contains_key(&conn) => {
                    let r = start(c, conn, "t", meter, now);
                    m.active.insert(conn, r.tx);
                    m.queue.push((r.seq, r.tx, TxAction::StartTransaction));
                }
                Op::Sample(conn) if m.active.contains_key(&conn) => {
                    let tx = m.active[&conn];
                    m.queue.push((sample(c, tx, meter, now), tx, TxAction::MeterValues));
                }
                Op::Stop(conn) if m.active.contains_key(&conn) => {
                    let tx = m.active[&conn];
                    m.queue.push((stop(c, tx, meter, now), tx, TxAction::StopTransaction));
                    m.active.remove(&conn);
                }
                Op::Start(_) | Op::Sample(_) | Op::Stop(_) => {}
                Op::Ack | Op::Fail => {
                    let msg = match next_due(c, now).expect("next_due") {
                        Due::Idle => {
                            prop_assert!(m.queue.is_empty());
                            continue;
                        }
                        Due::WaitUntil(at) => {
                            prop_assert!(at > now);
                            now = at;
                            match next_due(c, now).expect("next_due") {
                                Due::Send(msg) => msg,
                                other => panic!("not due at its own time: {other:?}"),
                            }
                        }
                        Due::Send(msg) => msg,
                    };
                    // Strictly the oldest unsettled message.
                    let (seq, tx, action) = m.queue[0];
                    prop_assert_eq!((msg.seq, msg.tx, msg.action), (seq, tx, action));
                    prop_assert!(msg.seq > m.last_settled);
                    if action == TxAction::StartTransaction {
                        prop_assert!(msg.payload.get("transactionId").is_none());
                    } else {
                        prop_assert_eq!(&msg.payload["transactionId"], &json!(m.ids[&tx]));
                    }
                    let settled = if matches!(op, Op::Ack) {
                        let id = (seq % 1000) as i32 + 1;
                        let ack = (action == TxAction::StartTransaction).then_some(StartAck {
                            transaction_id: id,
                            id_tag_status: AuthStatus::Accepted,
                        });
                        let out = mark_acked(c, seq, now, ack.as_ref()).expect("ack");
                        prop_assert_eq!(out, Settled::Acked);
                        if ack.is_some() {
                            m.ids.insert(tx, id);
                        }
                        true
                    } else {
                        match mark_failed(c, seq, now, &POLICY, "err").expect("fail") {
                            Settled::GaveUp => {
                                prop_assert_eq!(msg.attempts + 1, POLICY.max_attempts);
                                if action == TxAction::StartTransaction {
                                    m.ids.insert(tx, -1);
                                }
                                true
                            }
                            Settled::RetryAt(at) => {
                                let wait = i64::from(msg.attempts + 1) * 1_000;
                                prop_assert_eq!(at, now + wait);
                                false
                            }
                            other => panic!("unexpected {other:?}"),
                        }
                    };
                    if settled {
                        m.last_settled = seq;
                        m.queue.remove(0);
                    }
                }
            }
        }
        let b = backlog(c).expect("backlog");
        prop_assert_eq!(b.undelivered, m.queue.len() as u64);
        let starts = m.queue.iter().filter(|q| q.2 == TxAction::StartTransaction).count();
        prop_assert_eq!(b.starts, starts as u64);
    }
}
