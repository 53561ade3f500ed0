//! History for reports: status changes, alerts, sessions, site samples, retention.

use super::support::{new_store, sample, start, stop};
use hubgate::store::history::{
    StatusChange, active_alerts, alerts_between, clear_alert, last_status, raise_alert,
    record_status, sessions, status_changes,
};
use hubgate::store::outbox::{StartAck, mark_acked};
use hubgate::store::retention::{Retention, apply_retention};
use hubgate::store::samples::{SiteSample, downsample, record_site_sample, site_samples};
use hubgate::store::{auth::AuthStatus, journal, outbox};
use std::time::Duration;

const DAY: i64 = 86_400_000;

fn status(connector: u32, status: &str, at: i64) -> StatusChange {
    StatusChange {
        connector,
        status: status.into(),
        error_code: "NoError".into(),
        info: None,
        at,
    }
}

#[test]
fn status_changes_are_reported_with_each_connectors_state_at_the_start() {
    let (_d, s) = new_store();
    let c = s.conn();
    record_status(c, &status(1, "Available", 10)).expect("record");
    record_status(c, &status(1, "Charging", 20)).expect("record");
    record_status(c, &status(2, "Faulted", 15)).expect("record");
    record_status(c, &status(1, "Finishing", 40)).expect("record");
    let got: Vec<(u32, String, i64)> = status_changes(c, 30, 100)
        .expect("range")
        .into_iter()
        .map(|s| (s.connector, s.status, s.at))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "Faulted".into(), 15),
            (1, "Charging".into(), 20),
            (1, "Finishing".into(), 40)
        ]
    );
    assert_eq!(
        last_status(c, 1).expect("last").map(|s| s.status),
        Some("Finishing".into())
    );
    assert_eq!(last_status(c, 3).expect("last"), None);
}

#[test]
fn an_alert_is_raised_once_until_cleared() {
    let (_d, s) = new_store();
    let c = s.conn();
    let (id, new) =
        raise_alert(c, "grid_meter.stale", "critical", "no reading", 100).expect("raise");
    assert!(new);
    let (again, new) = raise_alert(c, "grid_meter.stale", "critical", "still", 200).expect("raise");
    assert_eq!((again, new), (id, false));
    assert_eq!(active_alerts(c).expect("active").len(), 1);
    assert!(clear_alert(c, "grid_meter.stale", 300).expect("clear"));
    assert!(!clear_alert(c, "grid_meter.stale", 301).expect("clear again"));
    assert!(active_alerts(c).expect("active").is_empty());
    let (third, new) = raise_alert(c, "grid_meter.stale", "critical", "again", 400).expect("raise");
    assert!(new && third != id);
    let past = alerts_between(c, 250, 350).expect("range");
    assert_eq!(past.len(), 1);
    assert_eq!((past[0].raised_at, past[0].cleared_at), (100, Some(300)));
    assert_eq!(past[0].message, "no reading");
}

#[test]
fn sessions_come_from_stopped_transactions() {
    let (_d, s) = new_store();
    let c = s.conn();
    let a = start(c, 1, "A", 1_000, 0);
    sample(c, a.tx, 5_000, 600_000);
    sample(c, a.tx, 5_000, 1_200_000);
    stop(c, a.tx, 5_000, 1_800_000);
    let b = start(c, 2, "B", 0, 10); // still running: not a session
    mark_acked(
        c,
        a.seq,
        1,
        Some(&StartAck {
            transaction_id: 77,
            id_tag_status: AuthStatus::Accepted,
        }),
    )
    .expect("ack");
    let got = sessions(c, 0, DAY).expect("sessions");
    assert_eq!(got.len(), 1);
    let s0 = &got[0];
    assert_eq!((s0.tx, s0.csms_tx_id, s0.connector), (a.tx, Some(77), 1));
    assert_eq!(s0.energy_wh, 4_000);
    assert_eq!(s0.duration_ms, 1_800_000);
    assert_eq!(s0.idle_ms, 1_200_000, "no energy after the first sample");
    assert_eq!(s0.cost, Some(1.5));
    assert!(
        sessions(c, 1, DAY).expect("sessions").is_empty(),
        "started before the range"
    );
    assert!(journal::transaction(c, b.tx).expect("b").is_some());
}

fn site(at: i64, span_ms: i64, amps: f64, curtailed: bool) -> SiteSample {
    SiteSample {
        at,
        span_ms,
        current_a: [Some(amps), Some(amps + 1.0), None],
        power_w: Some(amps * 230.0),
        limit_a: [Some(32.0 - amps), Some(32.0), None],
        curtailed,
        deferred_w: Some(if curtailed { amps * 100.0 } else { 0.0 }),
    }
}

#[test]
fn site_samples_are_merged_into_buckets_as_they_age() {
    let (_d, s) = new_store();
    let c = s.conn();
    let minute = 60_000;
    // Two buckets of 15 minutes, one sample per minute; then a recent one.
    for i in 0..30 {
        record_site_sample(c, &site(i * minute, minute, i as f64, i == 20)).expect("record");
    }
    record_site_sample(c, &site(40 * minute, minute, 1.0, false)).expect("record");
    assert_eq!(
        downsample(c, 35 * minute, 15 * minute).expect("downsample"),
        28
    );
    let rows = site_samples(c, 0, DAY).expect("rows");
    assert_eq!(rows.len(), 3);
    let (first, second) = (&rows[0], &rows[1]);
    assert_eq!((first.at, first.span_ms), (0, 15 * minute));
    assert_eq!(first.current_a[0], Some(7.0), "mean of 0..=14");
    assert_eq!(first.current_a[1], Some(8.0));
    assert_eq!(first.current_a[2], None);
    assert_eq!(first.limit_a[0], Some(32.0 - 14.0), "lowest limit");
    assert!(!first.curtailed);
    assert_eq!(second.at, 15 * minute);
    assert!(second.curtailed);
    assert_eq!(
        second.deferred_w,
        Some(2000.0 * 60_000.0 / (15.0 * 60_000.0)),
        "span-weighted mean of the deferred power"
    );
    assert_eq!(
        rows[2],
        site(40 * minute, minute, 1.0, false),
        "recent sample untouched"
    );
    assert_eq!(downsample(c, 35 * minute, 15 * minute).expect("again"), 0);
    assert_eq!(site_samples(c, 0, DAY).expect("rows"), rows);
}

#[test]
fn retention_prunes_old_history_but_nothing_still_needed() {
    let (_d, s) = new_store();
    let c = s.conn();
    let now = 1000 * DAY;
    let old = now - 800 * DAY;
    // An old delivered session, an old session with an undelivered stop, an open transaction.
    let done = start(c, 1, "A", 0, old);
    stop(c, done.tx, 10, old + 1);
    for _ in 0..2 {
        let m = match outbox::next_due(c, now).expect("due") {
            outbox::Due::Send(m) => m,
            other => panic!("{other:?}"),
        };
        let ack = StartAck {
            transaction_id: 1,
            id_tag_status: AuthStatus::Accepted,
        };
        let ack = (m.action == outbox::TxAction::StartTransaction).then_some(ack);
        mark_acked(c, m.seq, old + 2, ack.as_ref()).expect("ack");
    }
    let waiting = start(c, 2, "B", 0, old);
    stop(c, waiting.tx, 10, old + 1);
    let open = start(c, 3, "C", 0, old);
    record_status(c, &status(1, "Available", old)).expect("status");
    record_status(c, &status(1, "Charging", old + 5)).expect("status");
    record_status(c, &status(2, "Available", old)).expect("status");
    raise_alert(c, "x", "warning", "old", old).expect("raise");
    clear_alert(c, "x", old + 1).expect("clear");
    raise_alert(c, "y", "warning", "open", old).expect("raise");
    record_site_sample(c, &site(old, 60_000, 1.0, false)).expect("sample");
    record_site_sample(c, &site(now - DAY, 60_000, 1.0, false)).expect("sample");

    let pruned = apply_retention(c, now, &Retention::default()).expect("retention");
    assert_eq!(pruned.transactions, 1);
    assert_eq!(pruned.outbox, 2);
    assert_eq!(
        pruned.status_changes, 1,
        "each connector's latest status is kept"
    );
    assert_eq!(pruned.alerts, 1);
    assert_eq!(pruned.samples_deleted, 1);
    assert!(journal::transaction(c, done.tx).expect("read").is_none());
    assert!(journal::transaction(c, waiting.tx).expect("read").is_some());
    assert!(journal::transaction(c, open.tx).expect("read").is_some());
    assert_eq!(
        last_status(c, 1).expect("last").map(|s| s.status),
        Some("Charging".into())
    );
    assert!(last_status(c, 2).expect("last").is_some());
    assert_eq!(active_alerts(c).expect("active").len(), 1);
    assert_eq!(site_samples(c, 0, now).expect("samples").len(), 1);
    let again = apply_retention(
        c,
        now,
        &Retention {
            sample_bucket: Duration::from_secs(900),
            ..Retention::default()
        },
    )
    .expect("again");
    assert_eq!(again, Default::default(), "a second run finds nothing");
}
