//! Alerts derived from the site view, cycle after cycle (pure). Each alert is raised once when its
//! condition starts and cleared once when it ends, with timestamps; the set of active alerts is
//! what the retained `alerts/active` topic shows.

use crate::view::SiteView;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Thresholds for the alerts that are not immediate.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// The CSMS link must be down this long before it is an alert (s).
    pub csms_unreachable_after_s: f64,
    /// Queued transaction messages above this are a backlog.
    pub backlog_threshold: u64,
    /// The database's share of its budget above which storage is nearly full (0..1).
    pub storage_full_fraction: f64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            csms_unreachable_after_s: 300.0,
            backlog_threshold: 1000,
            storage_full_fraction: 0.9,
        }
    }
}

/// Raised or cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Raised,
    Cleared,
}

/// One alert event, as published on `alerts/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Stable id, e.g. `charger_unreachable/cp-3`, `site_over_limit`.
    pub id: String,
    pub state: AlertState,
    /// When it happened (ms since the Unix epoch).
    pub at_ms: i64,
    /// When the condition started (ms since the Unix epoch).
    pub since_ms: i64,
    /// For humans.
    pub message: String,
    /// Largest excess over the limit seen while the alert was active (A), for `site_over_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_excess_a: Option<f64>,
}

/// An alert currently active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    pub id: String,
    pub since_ms: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_excess_a: Option<f64>,
}

/// Follows the conditions from view to view.
#[derive(Debug, Clone, Default)]
pub struct AlertTracker {
    settings: AlertSettings,
    active: BTreeMap<String, ActiveAlert>,
    /// Conditions seen but not yet long enough to be alerts (id -> since).
    pending: BTreeMap<String, i64>,
}

impl AlertTracker {
    pub fn new(settings: AlertSettings) -> Self {
        AlertTracker {
            settings,
            ..Self::default()
        }
    }

    /// The active alerts, by id.
    pub fn active(&self) -> Vec<ActiveAlert> {
        self.active.values().cloned().collect()
    }

    /// Takes the next view; returns what was raised and cleared by it. `storage_fraction` is the
    /// database's share of its budget, when known.
    pub fn update(&mut self, view: &SiteView, storage_fraction: Option<f64>) -> Vec<AlertEvent> {
        let now = view.at_ms;
        // Conditions true in this view: id -> (message, excess, delay before raising in ms).
        let mut now_true: BTreeMap<String, (String, Option<f64>, i64)> = BTreeMap::new();
        let task_failures = view
            .chargers
            .iter()
            .map(|c| (&c.name, &c.task_failure))
            .chain(view.meters.iter().map(|m| (&m.name, &m.task_failure)));
        for (name, failure) in task_failures {
            if let Some(f) = failure {
                now_true.insert(
                    format!("device_task_failed/{name}"),
                    (
                        format!(
                            "the task driving {name} failed ({} in a row, {} restarts): {}",
                            f.panics, f.restarts, f.panic
                        ),
                        None,
                        0,
                    ),
                );
            }
        }
        for c in &view.chargers {
            if !c.reachable {
                now_true.insert(
                    format!("charger_unreachable/{}", c.name),
                    (
                        format!("charger {} does not answer on its bus", c.name),
                        None,
                        0,
                    ),
                );
            } else if let Some(why) = &c.implausible {
                now_true.insert(
                    format!("charger_implausible/{}", c.name),
                    (
                        format!("charger {} reads an implausible current: {why}", c.name),
                        None,
                        0,
                    ),
                );
            }
            if c.reachable && c.status == "Faulted" {
                now_true.insert(
                    format!("charger_faulted/{}", c.name),
                    (format!("charger {} reports a fault", c.name), None, 0),
                );
            }
        }
        for m in &view.meters {
            if let Some(why) = &m.invalid {
                now_true.insert(
                    format!("meter_implausible/{}", m.name),
                    (
                        format!("meter {} reads implausible values: {why}", m.name),
                        None,
                        0,
                    ),
                );
            }
            if m.stale {
                now_true.insert(
                    format!("meter_stale/{}", m.name),
                    (format!("meter {} gives no fresh readings", m.name), None, 0),
                );
            }
        }
        if let Some(grid) = view.grid_current_a {
            let excess = grid
                .0
                .iter()
                .zip(view.grid_limit_a.0.iter())
                .map(|(i, l)| i - l)
                .fold(f64::NEG_INFINITY, f64::max);
            if excess > 0.0 {
                now_true.insert(
                    "site_over_limit".into(),
                    (
                        format!("grid current {excess:.1} A over the limit"),
                        Some(excess),
                        0,
                    ),
                );
            }
        }
        if view.fallback {
            now_true.insert(
                "fallback".into(),
                (
                    "a meter is stale or implausible: chargers under it run at the fallback current".into(),
                    None,
                    0,
                ),
            );
        }
        if let Some(u) = &view.uplink {
            // "none": no CSMS is configured (the part is there for the storage only).
            if u.state != "connected" && u.state != "none" {
                let delay = (self.settings.csms_unreachable_after_s * 1000.0) as i64;
                now_true.insert(
                    "csms_unreachable".into(),
                    (format!("the CSMS link is {}", u.state), None, delay),
                );
            }
            if let Some(st) = u.storage.as_ref().filter(|st| !st.available) {
                let fault = st.fault.as_deref().unwrap_or("it cannot be written");
                now_true.insert(
                    "storage_unavailable".into(),
                    (
                        format!(
                            "the database is unavailable ({fault}): {} transaction events kept in memory, new sessions: {}",
                            st.unjournaled_events, st.on_failure
                        ),
                        None,
                        0,
                    ),
                );
            }
            if u.queued_messages > self.settings.backlog_threshold {
                now_true.insert(
                    "transaction_backlog".into(),
                    (
                        format!(
                            "{} transaction messages wait for the CSMS",
                            u.queued_messages
                        ),
                        None,
                        0,
                    ),
                );
            }
        }
        if let Some(f) = storage_fraction
            && f > self.settings.storage_full_fraction
        {
            now_true.insert(
                "storage_nearly_full".into(),
                (
                    format!("the database uses {:.0} % of its budget", f * 100.0),
                    None,
                    0,
                ),
            );
        }
        self.apply(now, now_true)
    }

    fn apply(
        &mut self,
        now: i64,
        now_true: BTreeMap<String, (String, Option<f64>, i64)>,
    ) -> Vec<AlertEvent> {
        let mut events = Vec::new();
        // Cleared: active but no longer true.
        let gone: Vec<String> = self
            .active
            .keys()
            .filter(|id| !now_true.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(a) = self.active.remove(&id) {
                events.push(AlertEvent {
                    id,
                    state: AlertState::Cleared,
                    at_ms: now,
                    since_ms: a.since_ms,
                    message: a.message,
                    worst_excess_a: a.worst_excess_a,
                });
            }
        }
        self.pending.retain(|id, _| now_true.contains_key(id));
        for (id, (message, excess, delay)) in now_true {
            if let Some(a) = self.active.get_mut(&id) {
                if let Some(e) = excess {
                    a.worst_excess_a = Some(a.worst_excess_a.map_or(e, |w| w.max(e)));
                }
                continue;
            }
            let since = *self.pending.entry(id.clone()).or_insert(now);
            if now - since < delay {
                continue;
            }
            self.pending.remove(&id);
            let alert = ActiveAlert {
                id: id.clone(),
                since_ms: since,
                message: message.clone(),
                worst_excess_a: excess,
            };
            self.active.insert(id.clone(), alert);
            events.push(AlertEvent {
                id,
                state: AlertState::Raised,
                at_ms: now,
                since_ms: since,
                message,
                worst_excess_a: excess,
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::PerPhase;
    use crate::view::{ChargerView, MeterView, UplinkView};

    fn view(at_ms: i64) -> SiteView {
        SiteView {
            at_ms,
            grid_limit_a: PerPhase::splat(63.0),
            grid_current_a: Some(PerPhase::splat(20.0)),
            chargers: vec![ChargerView {
                name: "cp-1".into(),
                reachable: true,
                status: "Charging".into(),
                ..ChargerView::default()
            }],
            meters: vec![MeterView {
                name: "grid".into(),
                ..MeterView::default()
            }],
            ..SiteView::default()
        }
    }

    #[test]
    fn each_alert_is_raised_once_and_cleared_once() {
        let mut t = AlertTracker::new(AlertSettings::default());
        assert!(t.update(&view(0), None).is_empty());
        let mut v = view(1000);
        v.chargers[0].reachable = false;
        let ev = t.update(&v, None);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].id, "charger_unreachable/cp-1");
        assert_eq!(ev[0].state, AlertState::Raised);
        v.at_ms = 2000;
        assert!(t.update(&v, None).is_empty(), "no second raise");
        assert_eq!(t.active().len(), 1);
        let ev = t.update(&view(3000), None);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].state, AlertState::Cleared);
        assert_eq!(ev[0].since_ms, 1000);
        assert!(t.update(&view(4000), None).is_empty(), "no second clear");
    }

    #[test]
    fn over_limit_keeps_the_worst_excess() {
        let mut t = AlertTracker::new(AlertSettings::default());
        let mut v = view(0);
        v.grid_current_a = Some(PerPhase([70.0, 20.0, 20.0]));
        let ev = t.update(&v, None);
        assert_eq!(ev[0].worst_excess_a, Some(7.0));
        v.at_ms = 1000;
        v.grid_current_a = Some(PerPhase([75.0, 20.0, 20.0]));
        assert!(t.update(&v, None).is_empty());
        let ev = t.update(&view(2000), None);
        assert_eq!(ev[0].state, AlertState::Cleared);
        assert_eq!(ev[0].worst_excess_a, Some(12.0));
        assert_eq!(
            ev[0].at_ms - ev[0].since_ms,
            2000,
            "lasted from the first reading over"
        );
    }

    #[test]
    fn csms_unreachable_waits_for_its_threshold() {
        let mut t = AlertTracker::new(AlertSettings {
            csms_unreachable_after_s: 60.0,
            ..AlertSettings::default()
        });
        let down = |at| {
            let mut v = view(at);
            v.uplink = Some(UplinkView {
                state: "connecting".into(),
                ..UplinkView::default()
            });
            v
        };
        assert!(t.update(&down(0), None).is_empty());
        assert!(t.update(&down(59_000), None).is_empty());
        let ev = t.update(&down(60_000), None);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].since_ms, 0);
        // A blip shorter than the threshold never raises.
        let mut t2 = AlertTracker::new(AlertSettings::default());
        assert!(t2.update(&down(0), None).is_empty());
        assert!(t2.update(&view(1000), None).is_empty());
        assert!(t2.update(&down(2000), None).is_empty());
    }

    #[test]
    fn implausible_readings_raise_one_alert_naming_the_device() {
        use crate::driver::Implausible;
        use crate::phase::Phase;
        let mut t = AlertTracker::new(AlertSettings::default());
        assert!(t.update(&view(0), None).is_empty());
        let mut v = view(1000);
        v.meters[0].invalid = Some(Implausible::NotFinite { phase: Phase::L2 });
        v.chargers[0].implausible = Some(Implausible::CurrentOutOfRange {
            phase: Phase::L1,
            value_a: 1e6,
        });
        let ev = t.update(&v, None);
        let ids: Vec<_> = ev.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["charger_implausible/cp-1", "meter_implausible/grid"]);
        assert!(ev[1].message.contains("meter grid"), "{}", ev[1].message);
        assert!(ev[1].message.contains("L2"), "{}", ev[1].message);
        // Another reason in the same episode raises nothing new.
        v.at_ms = 2000;
        v.meters[0].invalid = Some(Implausible::MissingPhase { phase: Phase::L3 });
        assert!(t.update(&v, None).is_empty());
        let ev = t.update(&view(3000), None);
        assert_eq!(ev.len(), 2);
        assert!(ev.iter().all(|e| e.state == AlertState::Cleared));
    }

    #[test]
    fn an_unavailable_database_raises_one_alert_and_no_csms_alert_without_a_csms() {
        use crate::view::StorageView;
        let mut t = AlertTracker::new(AlertSettings {
            csms_unreachable_after_s: 0.0,
            ..AlertSettings::default()
        });
        let broken = |at_ms, available| {
            let mut v = view(at_ms);
            v.uplink = Some(UplinkView {
                state: "none".into(),
                storage: Some(StorageView {
                    available,
                    fault: Some("disk full".into()),
                    since_ms: 0,
                    unjournaled_events: 2,
                    on_failure: "pause_new_sessions".into(),
                }),
                ..UplinkView::default()
            });
            v
        };
        let ev = t.update(&broken(0, false), None);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].id, "storage_unavailable");
        assert_eq!(ev[0].state, AlertState::Raised);
        assert!(ev[0].message.contains("disk full"), "{}", ev[0].message);
        assert!(
            t.update(&broken(1000, false), None).is_empty(),
            "raised once"
        );
        let ev = t.update(&broken(2000, true), None);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].state, AlertState::Cleared);
    }

    #[test]
    fn a_failed_device_task_raises_one_alert_naming_it() {
        use crate::view::TaskFailure;
        let mut t = AlertTracker::new(AlertSettings::default());
        let mut v = view(0);
        v.meters[0].task_failure = Some(TaskFailure {
            panics: 2,
            panic: "boom".into(),
            restarts: 2,
        });
        let ev = t.update(&v, None);
        let ids: Vec<_> = ev.iter().map(|e| e.id.as_str()).collect();
        assert!(ids.contains(&"device_task_failed/grid"), "{ids:?}");
        assert!(ev.iter().any(|e| e.message.contains("boom")));
        v.at_ms = 1000;
        v.meters[0].task_failure = None;
        let ev = t.update(&v, None);
        assert!(
            ev.iter()
                .any(|e| e.id == "device_task_failed/grid" && e.state == AlertState::Cleared)
        );
    }

    #[test]
    fn storage_and_backlog() {
        let mut t = AlertTracker::new(AlertSettings::default());
        let mut v = view(0);
        v.uplink = Some(UplinkView {
            state: "connected".into(),
            queued_messages: 5000,
            oldest_queued_age_s: None,
            ..UplinkView::default()
        });
        let ev = t.update(&v, Some(0.95));
        let ids: Vec<_> = ev.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["storage_nearly_full", "transaction_backlog"]);
    }
}
