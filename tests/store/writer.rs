//! The single writer: answers after the commit, batches, isolates failing requests, shuts down.

use super::support::{start_payload, temp_db};
use hubgate::store::journal::{NewTransaction, Sample, StopRecord};
use hubgate::store::outbox::Due;
use hubgate::store::{Store, StoreError, StoreWriter, WriterOptions, journal, settings};
use serde_json::json;
use std::time::Duration;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

fn new_tx(connector: u32, at: i64) -> NewTransaction {
    NewTransaction {
        connector,
        id_tag: format!("tag{connector}"),
        started_at: at,
        meter_start_wh: 0,
        payload: start_payload(connector, "t", 0, at),
    }
}

#[tokio::test]
async fn an_answer_means_the_write_is_visible_to_another_connection() {
    let (_d, path) = temp_db();
    let w = StoreWriter::spawn(Store::open(&path).expect("open")).expect("spawn");
    let rec = timeout(WAIT, w.record_start(new_tx(1, 100)))
        .await
        .expect("in time")
        .expect("start");
    // A separate connection (as a report would use) sees it as soon as the answer came.
    let ro = Store::open_read_only(&path).expect("read-only");
    let t = journal::transaction(ro.conn(), rec.tx)
        .expect("read")
        .expect("committed");
    assert_eq!(t.connector, 1);
    w.set_setting("HeartbeatInterval", "60", 1)
        .await
        .expect("set");
    assert_eq!(
        settings::get(ro.conn(), "HeartbeatInterval").expect("get"),
        Some("60".into())
    );
    assert_eq!(
        w.setting("HeartbeatInterval").await.expect("get"),
        Some("60".into())
    );
    match w.next_due(1_000).await.expect("due") {
        Due::Send(m) => assert_eq!(m.seq, rec.seq),
        other => panic!("{other:?}"),
    }
    w.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn concurrent_requests_are_batched_and_a_failing_one_does_not_spoil_its_batch() {
    let (_d, path) = temp_db();
    let options = WriterOptions {
        queue: 64,
        max_batch: 64,
    };
    let w = StoreWriter::spawn_with(Store::open(&path).expect("open"), options).expect("spawn");
    // Hold the writer busy so that the requests below queue up behind it.
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let blocker = {
        let w = w.clone();
        tokio::spawn(async move {
            w.call(move |_| {
                let _ = started_tx.send(());
                release_rx.recv_timeout(WAIT).ok();
                Ok(())
            })
            .await
        })
    };
    // Once it runs, its batch is formed: everything sent from now on waits in the channel.
    timeout(WAIT, started_rx)
        .await
        .expect("in time")
        .expect("blocker started");
    let mut tasks = Vec::new();
    for connector in 1..=8u32 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            w.record_start(new_tx(connector, 10)).await
        }));
    }
    // Connector 3 again: refused inside the same batch.
    let dup = {
        let w = w.clone();
        tokio::spawn(async move { w.record_start(new_tx(3, 11)).await })
    };
    // Wait until all nine are queued (the channel holds them while the writer is held).
    timeout(WAIT, async {
        while w.queued() < 9 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("requests queued");
    release_tx.send(()).expect("release");
    timeout(WAIT, blocker)
        .await
        .expect("in time")
        .expect("join")
        .expect("blocker");
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(
            timeout(WAIT, t)
                .await
                .expect("in time")
                .expect("join")
                .expect("start")
                .tx,
        );
    }
    let dup = timeout(WAIT, dup).await.expect("in time").expect("join");
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    let stats = w.stats();
    assert_eq!(stats.requests, 10);
    assert_eq!(
        stats.commits, 2,
        "the blocker alone, then one batch of nine: {stats:?}"
    );
    assert_eq!(w.open_transactions().await.expect("open").len(), 8);
    w.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_typed_requests_reach_the_journal() {
    let (_d, path) = temp_db();
    let w = StoreWriter::spawn(Store::open(&path).expect("open")).expect("spawn");
    let rec = w.record_start(new_tx(2, 0)).await.expect("start");
    let seq = w
        .record_sample(Sample {
            tx: rec.tx,
            at: 60_000,
            meter_wh: Some(500),
            payload: Some(json!({"connectorId": 2, "meterValue": []})),
        })
        .await
        .expect("sample");
    assert!(seq.is_some_and(|s| s > rec.seq));
    w.record_stop(StopRecord {
        tx: rec.tx,
        stopped_at: 120_000,
        meter_stop_wh: 900,
        reason: None,
        cost: None,
        payload: json!({"meterStop": 900}),
    })
    .await
    .expect("stop");
    let b = w.backlog().await.expect("backlog");
    assert_eq!((b.starts, b.meter_values, b.stops), (1, 1, 1));
    let t = w.transaction(rec.tx).await.expect("read").expect("exists");
    assert_eq!(t.meter_stop_wh, Some(900));
    w.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn after_shutdown_requests_fail_cleanly() {
    let (_d, path) = temp_db();
    let w = StoreWriter::spawn(Store::open(&path).expect("open")).expect("spawn");
    let other = w.clone();
    w.set_setting("k", "v", 0).await.expect("set");
    w.shutdown().await.expect("shutdown");
    let err = other.setting("k").await.expect_err("stopped");
    assert!(matches!(err, StoreError::WriterGone), "{err}");
    // The log was checkpointed into the main file: a fresh open sees everything.
    let s = Store::open(&path).expect("reopen");
    assert_eq!(settings::get(s.conn(), "k").expect("get"), Some("v".into()));
}
