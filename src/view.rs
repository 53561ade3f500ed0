//! The site as people and tools see it: one snapshot per control cycle, rendered for the terminal
//! (`hubgate demo`, `hubgate status`) or serialized as JSON (`--json`, the status socket, MQTT).

use crate::driver::Implausible;
use crate::phase::PerPhase;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One control cycle's view of the site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SiteView {
    pub site_id: String,
    pub site_name: String,
    /// Control cycle number since start.
    pub cycle: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Measured current at the grid connection, per phase (A); `None` without a fresh grid meter.
    pub grid_current_a: Option<PerPhase<f64>>,
    /// The limit in force at the grid connection after margin and external caps (A).
    pub grid_limit_a: PerPhase<f64>,
    /// What sets that limit: `grid`, `ocpp`, `external`, ...
    pub limit_source: String,
    /// True while a meter is stale and its chargers run at the fallback current.
    pub fallback: bool,
    /// True when some connected charger got less than it could take because of a limit.
    #[serde(default)]
    pub curtailed: bool,
    /// Estimated power the curtailed chargers could have taken beyond what they were given (W):
    /// the allocator's deferred current times the nominal voltage.
    #[serde(default)]
    pub deferred_w: f64,
    pub total_power_w: f64,
    pub chargers: Vec<ChargerView>,
    pub meters: Vec<MeterView>,
    /// OCPP link state, when an uplink is configured; set by the sessions, kept by the control
    /// loop from one cycle's view to the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<UplinkView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChargerView {
    pub name: String,
    pub connector: u32,
    /// OCPP-style status: Available, Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing,
    /// Faulted, Unavailable.
    pub status: String,
    /// IEC 61851 state letter, when known.
    pub iec_state: Option<char>,
    pub reachable: bool,
    /// Current limit sent to the charger (A per phase).
    pub setpoint_a: f64,
    /// Measured draw on the grid phases (A).
    pub draw_a: PerPhase<f64>,
    pub power_w: f64,
    pub session_energy_wh: f64,
    /// Why the setpoint is what it is (e.g. `circuit carport L2`, `paused: rotation`).
    #[serde(default)]
    pub reason: String,
    /// Why its own current reading is not trusted, while it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implausible: Option<Implausible>,
    /// Its device task failed and is being restarted (the charger counts as lost meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_failure: Option<TaskFailure>,
}

/// A device task that panicked, while it is down or on probation after its restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TaskFailure {
    /// Panics in a row in this series.
    pub panics: u32,
    /// What the last panic said.
    pub panic: String,
    /// Restarts since the site started.
    pub restarts: u32,
}

impl TaskFailure {
    /// The failure a device state shows, if its task is not running normally.
    pub fn of(state: &crate::device::DeviceState) -> Option<TaskFailure> {
        match &state.task {
            crate::device::TaskStatus::Running => None,
            crate::device::TaskStatus::Down { panics, panic, .. } => Some(TaskFailure {
                panics: *panics,
                panic: panic.clone(),
                restarts: state.restarts,
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MeterView {
    pub name: String,
    /// The plausible reading on the grid phases; `None` without one.
    pub current_a: Option<PerPhase<f64>>,
    pub stale: bool,
    /// Why the last reading is not trusted, while it is not (the meter then counts as stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<Implausible>,
    /// Its device task failed and is being restarted (the meter goes stale meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_failure: Option<TaskFailure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UplinkView {
    /// The CSMS link: `connected`, `pending`, `rejected`, `booting`, `connecting`, `offline`;
    /// `none` when no CSMS is configured (the part is then shown only for `storage`).
    pub state: String,
    pub queued_messages: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_queued_age_s: Option<f64>,
    /// The journal's database, while it cannot be written or events wait in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageView>,
}

/// The journal's database when something is wrong with it (the `storage_unavailable` alert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StorageView {
    /// False while the database cannot be written.
    pub available: bool,
    /// What is wrong (open refused, disk full, file deleted, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Since when (ms since the Unix epoch).
    pub since_ms: i64,
    /// Transaction starts and stops kept in memory until they can be journaled.
    pub unjournaled_events: u64,
    /// `[storage] on_failure`: `pause_new_sessions` or `charge_unbilled`.
    pub on_failure: String,
}

const BAR: usize = 30;

fn bar(value: f64, limit: f64) -> String {
    let frac = if limit > 0.0 {
        (value / limit).clamp(0.0, 1.2)
    } else {
        0.0
    };
    let filled = ((frac.min(1.0)) * BAR as f64).round() as usize;
    let mut s = String::with_capacity(BAR + 2);
    s.push('[');
    s.extend(std::iter::repeat_n('#', filled));
    s.extend(std::iter::repeat_n('.', BAR - filled));
    s.push(']');
    s
}

/// The site as a block of text for a terminal (no colours, so it also reads well in logs).
pub fn render(v: &SiteView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({})  cycle {}  {:.1} kW{}",
        v.site_name,
        v.site_id,
        v.cycle,
        v.total_power_w / 1000.0,
        if v.fallback {
            "  FALLBACK: meter stale"
        } else {
            ""
        }
    );
    if let Some(u) = v.uplink.as_ref().filter(|u| u.state != "none") {
        let _ = writeln!(
            out,
            "CSMS: {}  queued: {}{}",
            u.state,
            u.queued_messages,
            u.oldest_queued_age_s
                .map(|a| format!(" (oldest {a:.0} s)"))
                .unwrap_or_default()
        );
    }
    if let Some(s) = v.uplink.as_ref().and_then(|u| u.storage.as_ref()) {
        let _ = writeln!(
            out,
            "DATABASE {}: {}  {} transaction event(s) in memory  ({})",
            if s.available {
                "RECOVERING"
            } else {
                "UNAVAILABLE"
            },
            s.fault.as_deref().unwrap_or("journaling what was kept"),
            s.unjournaled_events,
            s.on_failure
        );
    }
    let _ = writeln!(out, "grid limit set by {}", v.limit_source);
    for (i, ph) in ["L1", "L2", "L3"].iter().enumerate() {
        let limit = v.grid_limit_a.0[i];
        match v.grid_current_a {
            Some(g) => {
                let _ = writeln!(
                    out,
                    "  {ph} {} {:6.1} / {:5.1} A",
                    bar(g.0[i], limit),
                    g.0[i],
                    limit
                );
            }
            None => {
                let _ = writeln!(out, "  {ph} {}    ?   / {limit:5.1} A", bar(0.0, limit));
            }
        }
    }
    let _ = writeln!(
        out,
        "\n  #  {:<10} {:<14} {:>8} {:>17} {:>8} {:>9}  note",
        "charger", "status", "set A", "draw L1/L2/L3 A", "kW", "kWh"
    );
    for c in &v.chargers {
        let status = if c.reachable {
            c.status.clone()
        } else {
            format!("{} (lost)", c.status)
        };
        let _ = writeln!(
            out,
            "  {:<2} {:<10} {:<14} {:>8.1} {:>5.1}/{:>5.1}/{:>5.1} {:>8.1} {:>9.2}  {}",
            c.connector,
            c.name,
            status,
            c.setpoint_a,
            c.draw_a.0[0],
            c.draw_a.0[1],
            c.draw_a.0[2],
            c.power_w / 1000.0,
            c.session_energy_wh / 1000.0,
            c.reason
        );
    }
    for m in &v.meters {
        let reading = match m.current_a {
            Some(a) => format!("{:.1}/{:.1}/{:.1} A", a.0[0], a.0[1], a.0[2]),
            None => "no reading".into(),
        };
        let _ = writeln!(
            out,
            "  meter {:<10} {reading}{}",
            m.name,
            if m.stale { "  STALE" } else { "" }
        );
        if let Some(why) = &m.invalid {
            let _ = writeln!(out, "    INVALID: {why}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_phases_chargers_and_stale_meters() {
        let v = SiteView {
            site_id: "demo".into(),
            site_name: "Demo hub".into(),
            cycle: 7,
            grid_current_a: Some(PerPhase([30.0, 61.0, 12.0])),
            grid_limit_a: PerPhase::splat(61.0),
            limit_source: "grid".into(),
            total_power_w: 23_460.0,
            chargers: vec![ChargerView {
                name: "cp-1".into(),
                connector: 1,
                status: "Charging".into(),
                reachable: false,
                setpoint_a: 16.0,
                draw_a: PerPhase([16.0, 16.0, 16.0]),
                power_w: 11_040.0,
                session_energy_wh: 1234.0,
                ..Default::default()
            }],
            meters: vec![MeterView {
                name: "grid".into(),
                current_a: None,
                stale: true,
                invalid: None,
                ..MeterView::default()
            }],
            ..Default::default()
        };
        let s = render(&v);
        assert!(s.contains("Demo hub (demo)  cycle 7  23.5 kW"), "{s}");
        assert!(
            s.contains(&format!("L2 [{}]   61.0 /  61.0 A", "#".repeat(30))),
            "{s}"
        );
        assert!(s.contains("Charging (lost)"), "{s}");
        assert!(s.contains("meter grid       no reading  STALE"), "{s}");
    }
}
