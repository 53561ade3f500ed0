//! Timers under wall-clock jumps: the monotonic clock advances steadily while the wall clock is
//! set back an hour or forward a day; heartbeats, samples, call timeouts and retries keep their
//! schedule, and only the timestamps follow the wall clock.

use super::tests::*;
use super::*;
use serde_json::json;

/// `s` seconds into the test on the monotonic clock, the wall clock set `by` away.
fn jumped(s: i64, by: TimeDelta) -> Moment {
    t(s).wall_jumped(by)
}

fn back() -> TimeDelta {
    TimeDelta::hours(-1)
}

fn ahead() -> TimeDelta {
    TimeDelta::days(1)
}

fn action_of(out: &[Output]) -> Option<String> {
    frames(out)
        .into_iter()
        .find(|f| f[0] == 2)
        .and_then(|f| f[2].as_str().map(String::from))
}

#[test]
fn heartbeats_keep_their_interval_when_the_wall_clock_jumps() {
    let mut cp = online();
    // set back an hour just after the boot: the heartbeat is still due 300 s after it
    assert!(frames(&cp.on_tick(jumped(1, back()))).is_empty());
    assert!(frames(&cp.on_tick(jumped(299, back()))).is_empty());
    let (id, action, _) = the_call(&cp.on_tick(jumped(300, back())));
    assert_eq!(action, "Heartbeat");
    reply(
        &mut cp,
        &id,
        json!({"currentTime": "2026-02-01T08:05:01Z"}),
        jumped(301, back()),
    );
    // a day ahead: no early heartbeat, the next one 300 s after the last
    assert!(frames(&cp.on_tick(jumped(302, ahead()))).is_empty());
    assert!(frames(&cp.on_tick(jumped(599, ahead()))).is_empty());
    let (_, action, _) = the_call(&cp.on_tick(jumped(600, ahead())));
    assert_eq!(action, "Heartbeat");
}

#[test]
fn sampled_values_keep_their_interval_and_take_the_wall_clock_as_timestamp() {
    let mut cp = online();
    cp.on_site(reading(1000.0), t(1));
    let (id, _, _) = the_call(&start_tx(&mut cp, 7, 1, t(1)));
    let ok = json!({"transactionId": 42, "idTagInfo": {"status": "Accepted"}});
    reply(&mut cp, &id, ok, t(2));
    assert!(frames(&cp.on_tick(jumped(3, back()))).is_empty());
    assert!(frames(&cp.on_tick(jumped(60, back()))).is_empty());
    let (id, action, p) = the_call(&cp.on_tick(jumped(61, back())));
    assert_eq!(action, "MeterValues");
    // the message is stamped with the wall clock as it now reads
    assert_eq!(p["meterValue"][0]["timestamp"], "2026-02-01T07:01:01.000Z");
    reply(&mut cp, &id, json!({}), jumped(62, back()));
    assert!(frames(&cp.on_tick(jumped(63, ahead()))).is_empty());
    assert!(frames(&cp.on_tick(jumped(120, ahead()))).is_empty());
    let (_, action, p) = the_call(&cp.on_tick(jumped(121, ahead())));
    assert_eq!(action, "MeterValues");
    assert_eq!(p["meterValue"][0]["timestamp"], "2026-02-02T08:02:01.000Z");
}

#[test]
fn queued_transaction_messages_are_retried_on_schedule_when_the_wall_clock_jumps() {
    let mut cp = online();
    let (id, _, _) = the_call(&start_tx(&mut cp, 3, 1, t(1)));
    let err = |id: &str| json!([4, id, "InternalError", "db down", {}]).to_string();
    assert!(frames(&cp.on_text(&err(&id), t(2))).is_empty());
    // TransactionMessageRetryInterval (60 s) x 1 after the failure, the wall clock an hour back
    assert!(frames(&cp.on_tick(jumped(61, back()))).is_empty());
    let (id, action, _) = the_call(&cp.on_tick(jumped(62, back())));
    assert_eq!(action, "StartTransaction");
    cp.on_text(&err(&id), jumped(63, back()));
    // x 2 after the second failure, the wall clock a day ahead: not sooner
    assert!(frames(&cp.on_tick(jumped(64, ahead()))).is_empty());
    assert!(frames(&cp.on_tick(jumped(182, ahead()))).is_empty());
    let (id, action, _) = the_call(&cp.on_tick(jumped(183, ahead())));
    assert_eq!(action, "StartTransaction");
    let ok = json!({"transactionId": 8, "idTagInfo": {"status": "Accepted"}});
    reply(&mut cp, &id, ok, jumped(184, ahead()));
    assert_eq!(cp.outbox_depth(), 0);
}

#[test]
fn a_message_that_failed_before_a_restart_waits_no_longer_than_its_retry() {
    use crate::ocpp::keys::MemoryConfigStore;
    use crate::ocpp::outbox::{MemoryOutbox, Outbox, Settle};
    let mut outbox = MemoryOutbox::default();
    // the journal says: failed once, next attempt a day from now (written while the wall
    // clock read a day ahead)
    let mut cp = online();
    start_tx(&mut cp, 1, 1, t(0));
    let queued = cp.outbox.front().unwrap().unwrap();
    let seq = outbox.push(queued.message).unwrap();
    outbox
        .settle(seq, Settle::Retry(wall(0) + ahead()), None)
        .unwrap();
    let mut restarted = ChargePoint::new(
        cp.setup.clone(),
        Configuration::new(Box::new(MemoryConfigStore::default()), 2, "1.RST,2.RST"),
        Box::new(outbox),
        Box::new(crate::ocpp::local_list::MemoryLocalList::default()),
        t(0),
    );
    let boot = the_call(&restarted.on_connected(t(0)));
    let accepted =
        json!({"status": "Accepted", "currentTime": "2026-02-01T08:00:00Z", "interval": 300});
    let mut out = reply(&mut restarted, &boot.0, accepted, t(0));
    // the three statuses first
    for _ in 0..3 {
        let (id, action, _) = the_call(&out);
        assert_eq!(action, "StatusNotification");
        out = reply(&mut restarted, &id, json!({}), t(0));
    }
    assert!(frames(&out).is_empty());
    // at most TransactionMessageRetryInterval x 1, not a day
    assert!(frames(&restarted.on_tick(t(59))).is_empty());
    assert_eq!(
        action_of(&restarted.on_tick(t(60))).as_deref(),
        Some("StartTransaction")
    );
}

#[test]
fn a_call_times_out_on_the_monotonic_clock() {
    let mut cp = online();
    let (_, action, _) = the_call(&cp.on_tick(t(300)));
    assert_eq!(action, "Heartbeat");
    // a day ahead while the CSMS has not answered: the call is still outstanding
    let out = status(
        &mut cp,
        1,
        ChargePointStatus::Charging,
        jumped(301, ahead()),
    );
    assert!(frames(&out).is_empty());
    assert!(frames(&cp.on_tick(jumped(329, ahead()))).is_empty());
    // 30 s after it was sent it timed out: the queued status goes out
    assert_eq!(
        action_of(&cp.on_tick(jumped(330, ahead()))).as_deref(),
        Some("StatusNotification")
    );
}

#[test]
fn a_boot_retry_waits_its_interval_when_the_wall_clock_jumps() {
    let mut cp = cp();
    let (id, _, _) = the_call(&cp.on_connected(t(0)));
    let pending =
        json!({"status": "Pending", "currentTime": "2026-02-01T08:00:00Z", "interval": 60});
    reply(&mut cp, &id, pending, t(0));
    assert!(frames(&cp.on_tick(jumped(1, ahead()))).is_empty());
    assert!(frames(&cp.on_tick(jumped(59, ahead()))).is_empty());
    assert_eq!(
        action_of(&cp.on_tick(jumped(60, back()))).as_deref(),
        Some("BootNotification")
    );
}

/// The clock-aligned MeterValues in `out`: its timestamp.
fn aligned_stamp(out: &[Output]) -> Option<String> {
    frames(out)
        .into_iter()
        .find(|f| f[0] == 2 && f[2] == "MeterValues")
        .filter(|f| f[3]["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock")
        .and_then(|f| {
            f[3]["meterValue"][0]["timestamp"]
                .as_str()
                .map(String::from)
        })
}

/// Tick once a second over `from..=to` (monotonic seconds, the wall clock set `by` away);
/// the tick and timestamp of every clock-aligned sample, each answered at once.
fn aligned_over(cp: &mut ChargePoint, from: i64, to: i64, by: TimeDelta) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    for s in from..=to {
        let now = jumped(s, by);
        let mut out = cp.on_tick(now);
        loop {
            if let Some(stamp) = aligned_stamp(&out) {
                seen.push((s, stamp));
            }
            let Some(f) = frames(&out).into_iter().find(|f| f[0] == 2) else {
                break;
            };
            let answer = match f[2].as_str() {
                Some("Heartbeat") => json!({"currentTime": now.wall.to_rfc3339()}),
                _ => json!({}),
            };
            out = reply(cp, f[1].as_str().unwrap_or(""), answer, now);
        }
    }
    seen
}

#[test]
fn clock_aligned_data_stays_on_the_wall_clocks_boundaries_across_jumps() {
    let mut cp = online();
    let (answer, _) = call(
        &mut cp,
        "ChangeConfiguration",
        json!({"key": "ClockAlignedDataInterval", "value": "900"}),
        t(1),
    );
    assert_eq!(answer[2]["status"], "Accepted");
    cp.on_site(reading(1000.0), t(1));
    let zero = TimeDelta::zero();
    // 08:00:02 -> 08:15:00, 900 s into the test
    assert_eq!(
        aligned_over(&mut cp, 2, 900, zero),
        vec![(900, "2026-02-01T08:15:00.000Z".to_string())]
    );
    // set back an hour: 07:15:01 -> 07:30:00
    assert_eq!(
        aligned_over(&mut cp, 901, 1800, back()),
        vec![(1800, "2026-02-01T07:30:00.000Z".to_string())]
    );
    // a day and 7.5 min ahead: 07:30:01 reads 07:37:31 next day, the next boundary is 07:45:00
    let odd = back() + ahead() + TimeDelta::seconds(450);
    assert_eq!(
        aligned_over(&mut cp, 1801, 2700, odd),
        vec![(2250, "2026-02-02T07:45:00.000Z".to_string())]
    );
}

mod property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the wall clock does between ticks (steps of up to two days either way),
        /// heartbeats go out every HeartbeatInterval (300 s) on the monotonic clock: never
        /// sooner, and no later than the next tick.
        #[test]
        fn heartbeats_follow_the_monotonic_clock_whatever_the_wall_clock_does(
            steps in prop::collection::vec((1i64..=5, -172_800i64..=172_800), 1..600),
        ) {
            let mut cp = online();
            let (mut s, mut jump) = (0i64, TimeDelta::zero());
            let mut sent = vec![0i64];
            for (advance, by) in steps {
                s += advance;
                jump += TimeDelta::seconds(by);
                let now = jumped(s, jump);
                let out = cp.on_tick(now);
                if let Some(f) = frames(&out).into_iter().find(|f| f[0] == 2) {
                    prop_assert_eq!(f[2].as_str(), Some("Heartbeat"));
                    sent.push(s);
                    let answer = json!({"currentTime": now.wall.to_rfc3339()});
                    reply(&mut cp, f[1].as_str().unwrap_or(""), answer, now);
                }
            }
            for w in sent.windows(2) {
                prop_assert!(w[1] - w[0] >= 300 && w[1] - w[0] <= 305, "{:?}", sent);
            }
            // none missing at the end either
            prop_assert!(sent.last().is_some_and(|last| s - last < 305), "{:?} at {}", sent, s);
        }
    }
}
