//! The control loop: one consistent snapshot of every device per cycle -> allocation -> setpoints
//! to the charger tasks -> the site view. It owns the site's control state; everything it decides
//! comes from the pure allocator in [`crate::balance`].
//!
//! A cycle runs every `[control] cycle_ms`, and at once when the grid meter reports a reading
//! over the limit, so a surge is cut without waiting for the next tick.

use crate::balance::{self, ControlState, CyclePlan, SiteModel};
use crate::config::SiteConfig;
use crate::device::{DeviceHandle, DeviceState};
use crate::driver::{IecState, Implausible};
pub use crate::limits::ExternalLimits;
use crate::phase::{PerPhase, Phase};
use crate::view::{ChargerView, MeterView, SiteView, TaskFailure};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};

/// One cycle as the `--json` record of the demo keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleRecord {
    pub cycle: u64,
    /// Seconds since the loop started.
    pub t_s: f64,
    /// Run at once on an overload reading, between two regular cycles.
    pub early: bool,
    pub grid_current_a: Option<PerPhase<f64>>,
    pub grid_limit_a: PerPhase<f64>,
    pub chargers: Vec<ChargerRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChargerRecord {
    pub name: String,
    pub setpoint_a: f64,
    /// Draw per grid phase (A).
    pub draw_a: PerPhase<f64>,
}

/// What the loop talks to.
pub struct LoopIo {
    pub view: watch::Sender<SiteView>,
    /// Advanced every cycle that can drive every charger; the systemd watchdog pings only while
    /// it moves.
    pub heartbeat: watch::Sender<u64>,
    pub limits: watch::Receiver<ExternalLimits>,
    /// Every cycle's record, when someone keeps them (the demo's `--json`).
    pub records: Option<mpsc::Sender<CycleRecord>>,
    /// True asks the loop to end.
    pub stop: watch::Receiver<bool>,
}

/// The devices the loop reads and drives, in config order.
pub struct Devices {
    pub chargers: Vec<DeviceHandle>,
    pub meters: Vec<DeviceHandle>,
}

/// Runs the loop until `io.stop` turns true. Returns the devices so the caller can stop them.
pub async fn run(
    config: Arc<SiteConfig>,
    model: SiteModel,
    devices: Devices,
    mut io: LoopIo,
) -> Devices {
    let period = Duration::from_millis(config.control.cycle_ms.max(50));
    // Ticks half a period after the device polls (which start with the loop), so every cycle
    // works on readings at most half a period old.
    let mut tick = tokio::time::interval_at(Instant::now() + period / 2, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut state = ControlState::new(&model);
    let started = Instant::now();
    let mut cycle: u64 = 0;
    let grid_meter = config
        .site
        .grid_meter
        .as_ref()
        .and_then(|g| config.meters.iter().position(|m| &m.name == g));
    let mut grid_rx = grid_meter.map(|i| devices.meters[i].state.clone());
    let mut last_grid_seen: Option<Instant> = None;
    let down_bound = crate::device::supervise::down_bound(config.control.meter_stale_s);
    let mut withheld = false;
    let mut episodes = Episodes::default();
    info!(
        chargers = devices.chargers.len(),
        meters = devices.meters.len(),
        period_ms = period.as_millis() as u64,
        "control loop running"
    );

    loop {
        let early = tokio::select! {
            _ = tick.tick() => false,
            changed = async {
                match grid_rx.as_mut() {
                    Some(rx) => rx.changed().await,
                    None => std::future::pending().await,
                }
            } => {
                if changed.is_err() {
                    grid_rx = None;
                    continue;
                }
                // A fresh grid reading: run now if it shows an overload that the last cycle did
                // not see yet (a cycle already based on it has cut what it could; the chargers
                // need a moment to follow).
                let (over, read_at) = grid_rx.as_mut().map_or((false, None), |rx| {
                    let s = rx.borrow_and_update();
                    (over_limit(&config, &s), s.read_at)
                });
                let unseen = read_at.is_some_and(|t| last_grid_seen.is_none_or(|seen| t > seen));
                if !over || !unseen {
                    continue;
                }
                debug!("grid reading over the limit: cycle early");
                true
            }
            _ = io.stop.changed() => {
                if *io.stop.borrow() {
                    break;
                }
                continue;
            }
        };
        last_grid_seen = grid_rx.as_ref().and_then(|rx| rx.borrow().read_at);
        cycle += 1;
        let now = Instant::now();
        let chargers: Vec<DeviceState> = devices
            .chargers
            .iter()
            .map(|d| d.state.borrow().clone())
            .collect();
        let meters: Vec<DeviceState> = devices
            .meters
            .iter()
            .map(|d| d.state.borrow().clone())
            .collect();
        let limits = io.limits.borrow().clone();
        let snapshot = balance::observe(&config, &chargers, &meters, &limits, now);
        episodes.follow(&config, &snapshot);
        let plan = balance::plan_cycle(
            &model,
            &snapshot,
            &mut state,
            now.duration_since(started).as_secs_f64(),
        );
        for (handle, sp) in devices.chargers.iter().zip(&plan.setpoints) {
            let amps = sp.amps;
            handle.setpoint.send_if_modified(|cur| {
                let changed = cur.is_none_or(|c| (c - amps).abs() > 1e-6);
                if changed {
                    *cur = Some(amps);
                }
                changed
            });
        }
        let view = build_view(&config, cycle, &chargers, &meters, &snapshot, &plan, now);
        if let Some(tx) = &io.records {
            let record = CycleRecord {
                cycle,
                early,
                t_s: now.duration_since(started).as_secs_f64(),
                grid_current_a: view.grid_current_a,
                grid_limit_a: view.grid_limit_a,
                chargers: view
                    .chargers
                    .iter()
                    .map(|c| ChargerRecord {
                        name: c.name.clone(),
                        setpoint_a: c.setpoint_a,
                        draw_a: c.draw_a,
                    })
                    .collect(),
            };
            if tx.try_send(record).is_err() {
                warn!("cycle record dropped: nobody is keeping up");
            }
        }
        // The uplink part of the view is the sessions' (see `session`): kept as they set it.
        io.view.send_modify(|v| {
            let uplink = v.uplink.take();
            *v = view;
            v.uplink = uplink;
        });
        // The watchdog follows the heartbeat: it stops when a charger can no longer be driven.
        match devices
            .chargers
            .iter()
            .find(|d| !d.drivable(down_bound, now))
        {
            None => {
                io.heartbeat.send_replace(cycle);
                withheld = false;
            }
            Some(d) if !withheld => {
                error!(device = %d.name, "charger cannot be driven: withholding the heartbeat");
                withheld = true;
            }
            Some(_) => {}
        }
    }
    devices
}

/// The implausible readings seen last cycle, so each fault episode is logged once when it starts
/// and once when it ends.
#[derive(Debug, Default)]
struct Episodes {
    meters: Vec<Option<Implausible>>,
    chargers: Vec<Option<Implausible>>,
}

impl Episodes {
    fn follow(&mut self, config: &SiteConfig, snapshot: &balance::Snapshot) {
        let meters: Vec<_> = snapshot.meters.iter().map(|m| m.invalid).collect();
        for (i, change) in episode_changes(&self.meters, &meters) {
            let meter = config.meters.get(i).map_or("?", |m| m.name.as_str());
            match change {
                Some(why) => warn!(
                    device = meter,
                    reason = %why,
                    "meter reading implausible: its circuits run on the fallback current"
                ),
                None => info!(device = meter, "meter readings plausible again"),
            }
        }
        let chargers: Vec<_> = snapshot.chargers.iter().map(|c| c.implausible).collect();
        for (i, change) in episode_changes(&self.chargers, &chargers) {
            let c = config.chargers.get(i);
            let charger = c.map_or("?", |c| c.name.as_str());
            let connector = c.map_or(0, |c| c.connector);
            match change {
                Some(why) => warn!(
                    device = charger,
                    connector,
                    reason = %why,
                    "charger current reading implausible: counted at its max"
                ),
                None => info!(
                    device = charger,
                    connector, "charger readings plausible again"
                ),
            }
        }
        self.meters = meters;
        self.chargers = chargers;
    }
}

/// Where a device's fault changed from `before` to `now`: the new fault when one started
/// (`None` when it ended). A fault that only changes its reason continues its episode.
fn episode_changes(
    before: &[Option<Implausible>],
    now: &[Option<Implausible>],
) -> Vec<(usize, Option<Implausible>)> {
    now.iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let was = before.get(i).copied().flatten();
            match (was, n) {
                (None, Some(why)) => Some((i, Some(*why))),
                (Some(_), None) => Some((i, None)),
                _ => None,
            }
        })
        .collect()
}

/// True when a grid meter state shows a phase above the grid limit (less the margin).
fn over_limit(config: &SiteConfig, state: &DeviceState) -> bool {
    let Some(r) = &state.reading else {
        return false;
    };
    let limit = config.site.grid_limit_a.0;
    let margin = config.site.safety_margin_a;
    // An implausible value is no overload: the cycle's judgement puts the site on the fallback.
    let absurd = balance::CURRENT_RANGE_FACTOR * limit.max_value();
    r.currents_a
        .0
        .iter()
        .zip(limit.0.iter())
        .any(|(i, l)| i.is_some_and(|i| i > l - margin && i <= absurd))
}

fn iec_letter(s: IecState) -> char {
    match s {
        IecState::A => 'A',
        IecState::B => 'B',
        IecState::C => 'C',
        IecState::D => 'D',
        IecState::E => 'E',
        IecState::F => 'F',
    }
}

fn build_view(
    config: &SiteConfig,
    cycle: u64,
    chargers: &[DeviceState],
    meters: &[DeviceState],
    snapshot: &balance::Snapshot,
    plan: &CyclePlan,
    now: Instant,
) -> SiteView {
    let stale = Duration::from_secs_f64(config.control.meter_stale_s.max(0.1));
    let meter_views: Vec<MeterView> = config
        .meters
        .iter()
        .zip(meters)
        .zip(&snapshot.meters)
        .map(|((m, s), obs)| MeterView {
            name: m.name.clone(),
            current_a: obs.current_a,
            stale: s.age(now).is_none_or(|a| a > stale),
            invalid: obs.invalid,
            task_failure: TaskFailure::of(s),
        })
        .collect();
    let grid_current_a = config.site.grid_meter.as_ref().and_then(|g| {
        meter_views
            .iter()
            .find(|m| &m.name == g && !m.stale)
            .and_then(|m| m.current_a)
    });
    let v = config.site.nominal_voltage_v;
    let charger_views: Vec<ChargerView> = config
        .chargers
        .iter()
        .zip(chargers)
        .zip(&plan.setpoints)
        .enumerate()
        .map(|(i, ((c, s), sp))| {
            let reading = s.reading.as_ref();
            let ch = reading.and_then(|r| r.charger.as_ref());
            let draw = snapshot.charger_draw(i);
            ChargerView {
                name: c.name.clone(),
                connector: c.connector,
                status: if s.answering() {
                    ch.and_then(|c| c.ocpp)
                        .map(|o| o.as_str().to_string())
                        .unwrap_or_else(|| "Unknown".into())
                } else {
                    "Unreachable".into()
                },
                iec_state: ch.and_then(|c| c.iec).map(iec_letter),
                reachable: s.answering(),
                setpoint_a: sp.amps,
                draw_a: draw,
                power_w: reading
                    .and_then(|r| r.power_w)
                    .unwrap_or_else(|| draw.sum() * v),
                session_energy_wh: ch.and_then(|c| c.session_energy_wh).unwrap_or(0.0),
                reason: sp.reason.to_string(),
                implausible: snapshot.chargers.get(i).and_then(|o| o.implausible),
                task_failure: TaskFailure::of(s),
            }
        })
        .collect();
    let total_power_w = match grid_current_a {
        Some(g) => g.sum() * v,
        None => charger_views.iter().map(|c| c.power_w).sum(),
    };
    SiteView {
        site_id: config.site.id.clone(),
        site_name: config.site.name.clone(),
        cycle,
        at_ms: unix_ms(),
        grid_current_a,
        grid_limit_a: plan.grid_limit_a,
        limit_source: plan.grid_limit_source.clone(),
        fallback: plan.fallback,
        curtailed: plan.curtailed,
        deferred_w: plan.deferred_a * v,
        total_power_w,
        chargers: charger_views,
        meters: meter_views,
        uplink: None,
    }
}

/// A device's per-phase values on the grid phases it is wired to.
pub fn to_grid(wiring: &[Phase], device: &PerPhase<Option<f64>>) -> PerPhase<f64> {
    let mut out = PerPhase::ZERO;
    for (i, p) in wiring.iter().enumerate() {
        if let Some(Some(x)) = device.0.get(i) {
            out.0[*p as usize] += x;
        }
    }
    out
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::Phase;

    #[test]
    fn a_fault_episode_is_reported_when_it_starts_and_when_it_ends() {
        let nan = Some(Implausible::NotFinite { phase: Phase::L1 });
        let missing = Some(Implausible::MissingPhase { phase: Phase::L2 });
        assert_eq!(episode_changes(&[], &[None, nan]), vec![(1, nan)]);
        assert!(episode_changes(&[None, nan], &[None, nan]).is_empty());
        assert!(
            episode_changes(&[nan], &[missing]).is_empty(),
            "another reason continues the episode"
        );
        assert_eq!(
            episode_changes(&[missing, nan], &[None, nan]),
            vec![(0, None)]
        );
    }
}
