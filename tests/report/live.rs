//! Reports on live history: the demo's database, and the daily summary the MQTT task publishes
//! to a real broker (mosquitto).

#[path = "../support/mod.rs"]
mod support;

use super::history::{self, HOUR, session_at, status_at};
use super::{BERLIN, hubgate_report};
use hubgate::config::{EnvSource, load_str};
use hubgate::limits::ExternalLimits;
use hubgate::mqtt::{MqttSettings, spawn};
use hubgate::report::Report;
use hubgate::report::daily::DailySummary;
use hubgate::store::{Store, now_ms};
use hubgate::view::SiteView;
use std::process::Command;
use std::time::Duration;
use support::broker::{Broker, Observer};
use tokio::sync::watch;

#[test]
fn the_demo_keeps_history_that_report_reads() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("demo.db");
    let db_arg = db.to_str().expect("path");
    let began = now_ms();
    let out = Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .args(["demo", "--duration", "4", "--json", "--database", db_arg])
        .output()
        .expect("run the demo");
    let ended = now_ms();
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demo_config = concat!(env!("CARGO_MANIFEST_DIR"), "/site-configs/demo.toml");
    let text = hubgate_report(
        BERLIN,
        &[
            "--config",
            demo_config,
            "--database",
            db_arg,
            "--format",
            "json",
        ],
    );
    let r: Report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let names: Vec<_> = r.chargers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cp-1", "cp-2", "cp-3", "cp-4", "port-1", "port-2"]);
    for c in &r.chargers {
        let t = c
            .time
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no status history", c.name));
        assert!(t.observed_ms > 0, "{}", c.name);
        assert!(
            t.observed_ms <= ended - began,
            "{} observed beyond the demo's run: the stop was not recorded",
            c.name
        );
        assert_eq!(c.faults.count, 0, "{}: no charger is lost at start", c.name);
    }
    let e = &r.site.energy;
    assert!(
        e.measured_ms > 0 && e.total_wh > 0.0,
        "no site samples: {e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_summary_is_published_retained() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().expect("dir");
    // Yesterday in this process's zone, the zone the MQTT task uses.
    let (date, from, to) = hubgate::report::load::previous_day(&chrono::Local, now_ms());
    let db = history::database(dir.path(), |c| {
        status_at(c, 1, "Available", from - HOUR);
        status_at(c, 1, "Faulted", from + 6 * HOUR);
        status_at(c, 1, "Available", from + 7 * HOUR);
        session_at(c, 1, from + 10 * HOUR, from + 11 * HOUR, 5250, Some(2.75));
        // Today's session is not yesterday's.
        session_at(c, 2, to + 60_000, to + 120_000, 1000, Some(1.0));
    });
    let text = format!(
        "{}\n[mqtt]\nbroker = \"{}\"\n",
        history::config(&db),
        broker.url()
    );
    let registry = hubgate::driver::Registry::builtin().expect("drivers");
    let loaded = load_str(
        &text,
        "site.toml".as_ref(),
        &EnvSource::Map(Default::default()),
        &registry,
    )
    .expect("config");
    let settings = MqttSettings::from_config(&loaded.config, dir.path())
        .expect("mqtt")
        .expect("configured");
    let (_view_tx, view_rx) = watch::channel(SiteView::default());
    let (limits_tx, _limits_rx) = watch::channel(ExternalLimits::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let topic = "hubgate/hub-7/report/daily";
    let mut live = Observer::connect(broker.port, topic).await;
    let task = spawn(settings, view_rx, limits_tx, stop_rx);

    let (_, payload, _) = live.next_where(|t, _| t == topic).await;
    let s: DailySummary =
        serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{e}: {payload}"));
    assert_eq!(s.date, date.format("%Y-%m-%d").to_string());
    assert_eq!((s.from_ms, s.to_ms), (from, to));
    assert_eq!(s.site_id.as_deref(), Some("hub-7"));
    assert_eq!((s.energy_kwh, s.sessions, s.revenue), (5.25, 1, 2.75));
    assert_eq!(s.currency.as_deref(), Some("EUR"));
    let day = to - from;
    let uptime = 100.0 * (day - HOUR) as f64 / day as f64;
    let rounded = (uptime * 100.0).round() / 100.0;
    assert_eq!(
        s.uptime_pct,
        Some(rounded),
        "one hour down, one charger reporting"
    );
    assert_eq!(s.faults, 1);
    let by_name: Vec<_> = s
        .chargers
        .iter()
        .map(|c| (c.name.as_str(), c.sessions, c.uptime_pct))
        .collect();
    assert_eq!(
        by_name,
        [
            ("bay-1", 1, Some(rounded)),
            ("bay-2", 0, None),
            ("bay-3", 0, None)
        ]
    );

    // Retained for whoever subscribes later.
    let mut late = Observer::connect(broker.port, topic).await;
    let (_, again, retained) = late.next_where(|t, _| t == topic).await;
    assert!(retained, "the daily summary is not retained");
    assert_eq!(again, payload);

    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the MQTT task stops")
        .expect("task");
    // The database was only read.
    let store = Store::open_read_only(&db).expect("still hubgate's");
    assert_eq!(
        store.schema_version().expect("version"),
        hubgate::store::SCHEMA_VERSION
    );
}
