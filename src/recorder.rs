//! History for reports, from the live site view: every connector status change as it happens,
//! and the site's per-phase current, power and limit averaged over a sample period. When it
//! stops, each connector gets a [`stopped`] record, so reports do not count the time hubgate was
//! not running as the last status continuing; a run that ended without them (a crash, a kill, a
//! power cut) is closed by the next start at its last trace (its last site sample's end or its
//! last status change). Old history is pruned and downsampled by the store's retention policy
//! once an hour.

use crate::mqtt::alerts::{AlertSettings, AlertState, AlertTracker};
use crate::store::WriterHandle;
use crate::store::history::StatusChange;
use crate::store::retention::Retention;
use crate::store::samples::SiteSample;
use crate::view::{ChargerView, SiteView};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

/// The retention policy of a site's `[storage]` settings.
pub fn retention(storage: &crate::config::Storage) -> Retention {
    let d = Retention::default();
    Retention {
        status_days: storage.history_days,
        samples_full_days: storage.full_resolution_days.min(storage.history_days),
        samples_days: storage.history_days,
        alerts_days: storage.history_days,
        sessions_days: storage.sessions_days,
        ..d
    }
}

/// Alerts raised and cleared by a view, written to the history (the same alerts MQTT publishes).
async fn record_alerts(tracker: &mut AlertTracker, v: &SiteView, writer: &WriterHandle) {
    for e in tracker.update(v, None) {
        let result = match e.state {
            AlertState::Raised => writer
                .raise_alert(&e.id, "warning", &e.message, e.at_ms)
                .await
                .map(|_| ()),
            AlertState::Cleared => writer.clear_alert(&e.id, e.at_ms).await.map(|_| ()),
        };
        if let Err(err) = result {
            warn!(error = %err, alert = %e.id, "alert history not recorded");
        }
    }
}

/// The status and error code a charger's view is recorded with (OCPP spellings). A charger
/// hubgate cannot reach is `Unavailable` with `OtherError` (and the info `unreachable`).
pub fn status_of(c: &ChargerView) -> (String, String) {
    if !c.reachable {
        return ("Unavailable".into(), "OtherError".into());
    }
    let error = if c.status == "Faulted" {
        "OtherError"
    } else {
        "NoError"
    };
    (c.status.clone(), error.into())
}

/// How long after start a charger that does not answer is not yet recorded as unreachable: in
/// the first cycles it may simply not have been polled yet.
pub const STARTUP_GRACE_MS: i64 = 10_000;

/// Whether a charger's status is recorded now (pure): a charger not answering is held back
/// until it has a status recorded in this run or [`STARTUP_GRACE_MS`] have passed since the
/// first view, so a restart does not show every charger as briefly lost.
pub fn should_record(c: &ChargerView, recorded_since_start: bool, since_start_ms: i64) -> bool {
    c.reachable || recorded_since_start || since_start_ms >= STARTUP_GRACE_MS
}

/// The record that ends a connector's observed history when the recorder stops: nothing is known
/// of it until the next start records it again.
pub fn stopped(connector: u32, at: i64) -> StatusChange {
    StatusChange {
        connector,
        status: "Unknown".into(),
        error_code: "NoError".into(),
        info: Some(crate::report::status::STOPPED_INFO.into()),
        at,
    }
}

/// The records that end the history of a run that stopped without writing them (a crash, a
/// kill, a power cut), from each connector's latest record and the run's last trace (pure).
/// Without them the last status of that run would be taken to have lasted until this start.
pub fn close_interrupted_run(latest: &[StatusChange], last_trace: i64) -> Vec<StatusChange> {
    latest
        .iter()
        .filter(|c| !crate::report::status::classify(c).unobserved)
        .map(|c| stopped(c.connector, last_trace.max(c.at)))
        .collect()
}

/// Closes the previous run's history if it ended without a stop; returns the connectors closed.
async fn close_previous_run(writer: &WriterHandle) -> crate::store::StoreResult<Vec<StatusChange>> {
    writer
        .call(|conn| {
            let Some(trace) = crate::store::history::last_trace(conn)? else {
                return Ok(Vec::new());
            };
            let latest = crate::store::history::latest_statuses(conn)?;
            let closing = close_interrupted_run(&latest, trace);
            for change in &closing {
                crate::store::history::record_status(conn, change)?;
            }
            Ok(closing)
        })
        .await
}

/// Averages views over a period (pure).
#[derive(Debug, Default, Clone)]
pub struct Averager {
    start_ms: Option<i64>,
    n: u32,
    current: [f64; 3],
    measured: [u32; 3],
    power: f64,
    deferred: f64,
    limit: [f64; 3],
    curtailed: bool,
}

impl Averager {
    pub fn add(&mut self, v: &SiteView) {
        if self.start_ms.is_none() {
            self.start_ms = Some(v.at_ms);
            self.limit = [f64::INFINITY; 3];
        }
        self.n += 1;
        if let Some(g) = v.grid_current_a {
            for i in 0..3 {
                self.current[i] += g.0[i];
                self.measured[i] += 1;
            }
        }
        self.power += v.total_power_w;
        self.deferred += v.deferred_w;
        for i in 0..3 {
            self.limit[i] = self.limit[i].min(v.grid_limit_a.0[i]);
        }
        self.curtailed |= v.curtailed;
    }

    /// The sample of the period up to `now_ms`, and a fresh start; `None` if nothing was added.
    pub fn take(&mut self, now_ms: i64) -> Option<SiteSample> {
        let start = self.start_ms?;
        let s = SiteSample {
            at: start,
            span_ms: (now_ms - start).max(1),
            current_a: std::array::from_fn(|i| {
                (self.measured[i] > 0).then(|| self.current[i] / f64::from(self.measured[i]))
            }),
            power_w: Some(self.power / f64::from(self.n.max(1))),
            limit_a: std::array::from_fn(|i| self.limit[i].is_finite().then_some(self.limit[i])),
            curtailed: self.curtailed,
            deferred_w: Some(self.deferred / f64::from(self.n.max(1))),
        };
        *self = Averager::default();
        Some(s)
    }
}

/// Starts the recorder; it ends when `stop` turns true or the view sender is gone.
pub fn spawn(
    mut view: watch::Receiver<SiteView>,
    writer: WriterHandle,
    period: Duration,
    retention: Retention,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        match close_previous_run(&writer).await {
            Ok(closed) if !closed.is_empty() => {
                let at = closed.iter().map(|c| c.at).max().unwrap_or_default();
                warn!(
                    connectors = closed.len(),
                    last_trace_ms = at,
                    "previous run ended without a stop; its history closed at its last trace"
                );
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "the previous run's history not closed"),
        }
        let mut last: HashMap<u32, (String, String)> = HashMap::new();
        let mut alerts = AlertTracker::new(AlertSettings::default());
        let mut first_at: Option<i64> = None;
        let mut avg = Averager::default();
        let mut sample = tokio::time::interval(period);
        sample.tick().await;
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                changed = view.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let v = view.borrow_and_update().clone();
                    if v.cycle == 0 {
                        continue;
                    }
                    avg.add(&v);
                    record_alerts(&mut alerts, &v, &writer).await;
                    let since_start = v.at_ms - *first_at.get_or_insert(v.at_ms);
                    for c in &v.chargers {
                        if !should_record(c, last.contains_key(&c.connector), since_start) {
                            continue;
                        }
                        let now = status_of(c);
                        if last.get(&c.connector) != Some(&now) {
                            let info = (!c.reachable).then(|| crate::report::status::UNREACHABLE_INFO.to_string());
                            let change = StatusChange { connector: c.connector, status: now.0.clone(), error_code: now.1.clone(), info, at: v.at_ms };
                            if let Err(e) = writer.record_status(change).await {
                                warn!(error = %e, "status history not recorded");
                            }
                            last.insert(c.connector, now);
                        }
                    }
                }
                _ = sample.tick() => {
                    if let Some(s) = avg.take(crate::store::now_ms())
                        && let Err(e) = writer.record_site_sample(s).await {
                            warn!(error = %e, "site sample not recorded");
                        }
                }
                _ = prune.tick() => {
                    if let Err(e) = writer.apply_retention(crate::store::now_ms(), retention).await {
                        warn!(error = %e, "history retention failed");
                    }
                }
                _ = stop.changed() => {
                    if *stop.borrow() {
                        break;
                    }
                }
            }
        }
        let now = crate::store::now_ms();
        if let Some(s) = avg.take(now) {
            let _ = writer.record_site_sample(s).await;
        }
        for connector in last.keys() {
            if let Err(e) = writer.record_status(stopped(*connector, now)).await {
                warn!(error = %e, "status history not closed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_run_is_closed_at_its_last_trace() {
        let change = |connector, status: &str, info: Option<&str>, at| StatusChange {
            connector,
            status: status.into(),
            error_code: "NoError".into(),
            info: info.map(str::to_string),
            at,
        };
        let latest = [
            change(1, "Charging", None, 1_000),
            change(2, "Unknown", Some(crate::report::status::STOPPED_INFO), 500),
            change(3, "Available", None, 9_000),
        ];
        // connector 2 was closed by a clean stop; 3 changed after the last sample ended
        assert_eq!(
            close_interrupted_run(&latest, 5_000),
            vec![stopped(1, 5_000), stopped(3, 9_000)]
        );
        assert_eq!(close_interrupted_run(&latest[1..2], 5_000), vec![]);
    }

    #[test]
    fn a_charger_not_answering_at_start_is_recorded_after_the_grace() {
        let lost = ChargerView {
            reachable: false,
            ..ChargerView::default()
        };
        assert!(!should_record(&lost, false, 0));
        assert!(!should_record(&lost, false, STARTUP_GRACE_MS - 1));
        assert!(should_record(&lost, false, STARTUP_GRACE_MS));
        assert!(should_record(&lost, true, 0), "lost after it was recorded");
        let up = ChargerView {
            reachable: true,
            ..ChargerView::default()
        };
        assert!(should_record(&up, false, 0));
    }
    use crate::phase::PerPhase;

    #[test]
    fn averages_measured_phases_and_keeps_the_lowest_limit() {
        let mut a = Averager::default();
        for (i, g) in [Some([10.0, 20.0, 30.0]), None, Some([20.0, 40.0, 60.0])]
            .iter()
            .enumerate()
        {
            a.add(&SiteView {
                at_ms: 1000 * i as i64,
                grid_current_a: g.map(PerPhase),
                grid_limit_a: PerPhase::splat(60.0 - i as f64),
                total_power_w: 3000.0,
                curtailed: i == 1,
                deferred_w: if i == 1 { 2300.0 } else { 0.0 },
                ..SiteView::default()
            });
        }
        let s = a.take(3000).unwrap();
        assert_eq!(s.at, 0);
        assert_eq!(s.span_ms, 3000);
        assert_eq!(s.current_a, [Some(15.0), Some(30.0), Some(45.0)]);
        assert_eq!(s.limit_a, [Some(58.0); 3]);
        assert!(s.curtailed);
        assert_eq!(s.deferred_w, Some(2300.0 / 3.0));
        assert!(a.take(4000).is_none());
    }
}
