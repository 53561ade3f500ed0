//! The history the daemon keeps for reports: status changes, site samples and alerts, written
//! through the store's writer from the live view.

use hubgate::phase::PerPhase;
use hubgate::store::history::{alerts_between, status_changes};
use hubgate::store::{Store, StoreWriter};
use hubgate::view::{ChargerView, SiteView};
use std::time::Duration;
use tokio::sync::watch;

fn view(cycle: u64, reachable: bool) -> SiteView {
    SiteView {
        cycle,
        at_ms: 1_790_000_000_000 + cycle as i64 * 1000,
        grid_current_a: Some(PerPhase([10.0, 11.0, 12.0])),
        grid_limit_a: PerPhase::splat(62.0),
        chargers: vec![ChargerView {
            name: "c1".into(),
            connector: 1,
            status: "Charging".into(),
            reachable,
            ..ChargerView::default()
        }],
        ..SiteView::default()
    }
}

/// Starts the recorder on `writer` with hourly samples and the default retention; returns the
/// view sender (keep it: the recorder ends when it is dropped), the stop switch and the task.
fn start_recorder(
    writer: &hubgate::store::WriterHandle,
) -> (
    watch::Sender<SiteView>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (view_tx, view_rx) = watch::channel(SiteView::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let storage = hubgate::config::Storage::default();
    let task = hubgate::recorder::spawn(
        view_rx,
        writer.clone(),
        Duration::from_secs(3600),
        hubgate::recorder::retention(&storage),
        stop_rx,
    );
    (view_tx, stop_tx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_status_changes_are_kept_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let writer = StoreWriter::spawn(Store::open(&db).unwrap()).unwrap();
    let (view_tx, stop_tx, task) = start_recorder(&writer);
    // Each view's effect is awaited in the database before the next view (bounded).
    let wait_for = |what: &'static str, done: &dyn Fn(&Store) -> bool| {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(store) = Store::open_read_only(&db)
                && done(&store)
            {
                return;
            }
            assert!(std::time::Instant::now() < end, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let has_status = |status: &'static str| {
        move |s: &Store| {
            status_changes(s.conn(), 0, i64::MAX)
                .unwrap()
                .iter()
                .any(|c| c.status == status)
        }
    };
    let lost = |cleared: bool| {
        move |s: &Store| {
            alerts_between(s.conn(), 0, i64::MAX)
                .unwrap()
                .iter()
                .any(|a| a.key == "charger_unreachable/c1" && a.cleared_at.is_some() == cleared)
        }
    };
    view_tx.send_replace(view(1, true));
    tokio::task::block_in_place(|| wait_for("Charging recorded", &has_status("Charging")));
    // Past the recorder's start-up grace, the charger stops answering.
    view_tx.send_replace(view(20, false));
    tokio::task::block_in_place(|| wait_for("alert raised", &lost(false)));
    tokio::task::block_in_place(|| wait_for("Unavailable recorded", &has_status("Unavailable")));
    view_tx.send_replace(view(40, true));
    tokio::task::block_in_place(|| wait_for("alert cleared", &lost(true)));
    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    writer.shutdown().await.unwrap();
    let store = Store::open_read_only(&db).unwrap();
    let alerts = alerts_between(store.conn(), 0, i64::MAX).unwrap();
    let lost: Vec<_> = alerts
        .iter()
        .filter(|a| a.key == "charger_unreachable/c1")
        .collect();
    assert_eq!(lost.len(), 1, "raised once: {alerts:?}");
}

#[test]
fn history_days_of_zero_is_refused() {
    let text = r#"
[site]
id = "h"
name = "H"
grid_limit_a = 40

[storage]
history_days = 0
"#;
    let err = hubgate::config::load_str(
        text,
        "h.toml".as_ref(),
        &hubgate::config::EnvSource::Map(Default::default()),
        &hubgate::driver::Registry::builtin().unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("storage.history_days"), "{err}");
}

/// A run killed without writing its stop records is closed by the next start at its last trace,
/// so the time hubgate was down counts as unobserved, not as the last status going on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_ended_without_a_stop_is_closed_at_its_last_trace() {
    use hubgate::report::status::{STOPPED_INFO, classify};
    use hubgate::store::history::{StatusChange, record_status};
    use hubgate::store::samples::{SiteSample, record_site_sample};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let t0 = 1_790_000_000_000;
    {
        // the killed run: c1 charging, c2 available, one site sample ending a minute later
        let store = Store::open(&db).unwrap();
        for (connector, status) in [(1, "Charging"), (2, "Available")] {
            let change = StatusChange {
                connector,
                status: status.into(),
                error_code: "NoError".into(),
                info: None,
                at: t0,
            };
            record_status(store.conn(), &change).unwrap();
        }
        let sample = SiteSample {
            at: t0,
            span_ms: 60_000,
            current_a: [Some(10.0); 3],
            power_w: Some(7_000.0),
            limit_a: [Some(62.0); 3],
            curtailed: false,
            deferred_w: None,
        };
        record_site_sample(store.conn(), &sample).unwrap();
    }
    let writer = StoreWriter::spawn(Store::open(&db).unwrap()).unwrap();
    let (_view_tx, stop_tx, task) = start_recorder(&writer);
    // The closing happens before the recorder looks at any view; a request queued behind it on
    // the single writer sees its result.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let rows = writer
                .call(|conn| status_changes(conn, 0, i64::MAX))
                .await
                .unwrap();
            if rows.len() >= 4 {
                return rows;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the interrupted run is closed");
    let stops: Vec<&StatusChange> = closed
        .iter()
        .filter(|c| c.info.as_deref() == Some(STOPPED_INFO))
        .collect();
    assert_eq!(stops.len(), 2, "{closed:?}");
    for s in &stops {
        assert_eq!(s.at, t0 + 60_000);
        assert!(classify(s).unobserved);
    }
    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    // A clean stop leaves nothing to close: a second start adds no records.
    let (_view_tx, stop_tx, task) = start_recorder(&writer);
    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    let rows = writer
        .call(|conn| status_changes(conn, 0, i64::MAX))
        .await
        .unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    writer.shutdown().await.unwrap();
}
