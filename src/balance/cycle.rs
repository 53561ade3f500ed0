//! One control cycle (pure): a snapshot of what was measured -> a setpoint per charger.
//!
//! Order of the rules:
//! 1. Room per circuit phase = limit - margin (the grid also under the external site cap) - the
//!    measured non-EV load - what chargers not being allocated draw (lost chargers at their last
//!    setpoint or max, and at least their failsafe current once it may be active; chargers
//!    whose own current is implausible at their max; chargers in fallback at the fallback
//!    current, idle chargers at what they still draw).
//! 2. A stale, missing or implausible meter puts every charger below it on the fallback current
//!    (fail closed).
//! 3. The rest is filled by priority, then max-min fair ([`super::fill`]); a car that takes less
//!    than it is offered is capped near what it takes, so the rest goes to others.
//! 4. Increases are ramped and ignored below the hysteresis; cuts apply at once.
//! 5. A charger that still draws more than its new setpoint (it has not reacted yet), or was cut
//!    to nothing, is counted at its draw: chargers that would grow into that current wait until
//!    it is free.

use super::fill::{Ask, Bound, fill};
use super::model::{ChargerNode, SiteModel};
pub use super::snapshot::{ChargerObs, CyclePlan, MeterObs, Reason, Setpoint, Snapshot};
use crate::phase::{PerPhase, Phase};

/// What the loop remembers from cycle to cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlState {
    /// The setpoint each charger was last given (A).
    pub setpoints: Vec<f64>,
    /// Which chargers did not answer last cycle.
    lost: Vec<bool>,
    /// Which chargers were capped near what their car takes last cycle.
    demand_capped: Vec<bool>,
    /// The grid phases each car has been seen drawing on during its session (phase detection).
    car_phases: Vec<Option<PerPhase<bool>>>,
    /// When each charger's current turn started (s), while it charges.
    turn_started: Vec<Option<f64>>,
    /// Since when each charger has been waiting (s).
    waiting_since: Vec<Option<f64>>,
    last_s: Option<f64>,
}

impl ControlState {
    pub fn new(model: &SiteModel) -> Self {
        let n = model.chargers.len();
        ControlState {
            setpoints: vec![0.0; n],
            lost: vec![false; n],
            demand_capped: vec![false; n],
            car_phases: vec![None; n],
            turn_started: vec![None; n],
            waiting_since: vec![None; n],
            last_s: None,
        }
    }
}

#[cfg(test)]
impl ControlState {
    pub(crate) fn set_last(&mut self, t: f64) {
        self.last_s = Some(t);
    }
}

/// A phase on which a car draws at least this much (A) is one it charges on.
pub const PHASE_ACTIVE_A: f64 = 1.0;
/// A car is judged on its phases only while it draws at least this much on one (A).
pub const PHASE_DETECT_MIN_A: f64 = 4.0;
/// Seconds a car must have been offered current before what it draws is judged (its demand,
/// its phases).
const SETTLE_S: f64 = 5.0;

/// With phase detection on, the model in which every car seen drawing on fewer phases than its
/// charger is wired to counts only on those; `None` when no car is (or detection is off).
///
/// A car's phases are learnt while it charges, settled, with the draw measured per phase; they
/// only ever grow during its session (a car that starts drawing on another phase counts there
/// again from that cycle on, and the measured draw is counted anyway), and are forgotten when it
/// leaves or its charger stops answering.
fn detect_car_phases(
    model: &SiteModel,
    snap: &Snapshot,
    state: &mut ControlState,
    now_s: f64,
) -> Option<SiteModel> {
    if !model.settings.detect_car_phases {
        return None;
    }
    let mut masked: Option<SiteModel> = None;
    for (i, ch) in model.chargers.iter().enumerate() {
        let Some(obs) = snap.chargers.get(i).filter(|o| o.answering && o.connected) else {
            state.car_phases[i] = None;
            continue;
        };
        let settled = state.turn_started[i].is_some_and(|t| now_s - t > SETTLE_S);
        if settled && obs.draw_per_phase && obs.draw_a.max_value() >= PHASE_DETECT_MIN_A {
            let seen = state.car_phases[i].get_or_insert(PerPhase([false; 3]));
            for ph in Phase::ALL {
                seen.0[ph as usize] |= obs.draw_a[ph] >= PHASE_ACTIVE_A;
            }
        }
        let Some(seen) = state.car_phases[i] else {
            continue;
        };
        let wired = ch.per_phase;
        let fewer = Phase::ALL.iter().any(|&ph| wired[ph] > 0.0 && !seen[ph]);
        if fewer {
            let m = masked.get_or_insert_with(|| model.clone());
            m.chargers[i].per_phase = PerPhase(std::array::from_fn(|p| {
                if seen.0[p] { wired.0[p] } else { 0.0 }
            }));
        }
    }
    masked
}

/// Headroom above its draw a charger whose car takes less than offered keeps (A).
pub const DEMAND_HEADROOM_A: f64 = 2.0;
/// A capped car taking within this much of its offer (A) takes all of it: its offer grows.
pub const PROBE_BAND_A: f64 = 1.0;

/// Plans one cycle at time `now_s` (seconds on any monotonic clock).
pub fn plan_cycle(
    model: &SiteModel,
    snap: &Snapshot,
    state: &mut ControlState,
    now_s: f64,
) -> CyclePlan {
    let s = &model.settings;
    let n = model.chargers.len();
    let dt = state.last_s.map_or(0.0, |t| (now_s - t).max(0.0));
    state.last_s = Some(now_s);
    let detected = detect_car_phases(model, snap, state, now_s);
    let model = detected.as_ref().unwrap_or(model);

    // Room per circuit phase before any EV load.
    let mut room: Vec<PerPhase<f64>> = model
        .circuits
        .iter()
        .map(|c| c.limit_a.map(|l| l - s.margin_a))
        .collect();
    let mut grid_source = "grid".to_string();
    if let Some((cap, source)) = &snap.site_cap {
        if cap.0.iter().zip(room[0].0.iter()).any(|(c, r)| c < r) {
            grid_source = source.clone();
        }
        room[0] = room[0].zip(*cap, f64::min);
    }
    let grid_limit_a = room[0];

    // Stale meters: the chargers under them fall back.
    let mut stale_above: Vec<Option<Reason>> = vec![None; n];
    for (ci, c) in model.circuits.iter().enumerate() {
        let Some(m) = c.meter else { continue };
        let obs = snap.meters.get(m);
        if obs.and_then(|o| o.usable(s.stale_after_s)).is_some() {
            continue;
        }
        let name = model.meters.get(m).cloned().unwrap_or_default();
        let reason = if obs.is_some_and(|o| o.invalid.is_some()) {
            Reason::FallbackImplausible(name)
        } else {
            Reason::Fallback(name)
        };
        for (i, ch) in model.chargers.iter().enumerate() {
            if stale_above[i].is_none() && ch.path.contains(&ci) {
                stale_above[i] = Some(reason.clone());
            }
        }
    }

    // Measured non-EV load: meter minus the chargers' own draw under it.
    for (ci, c) in model.circuits.iter().enumerate() {
        let Some(reading) = c
            .meter
            .and_then(|m| snap.meters.get(m))
            .and_then(|o| o.current_a)
            .filter(|c| c.0.iter().all(|a| a.is_finite()))
        else {
            continue;
        };
        let mut ev = PerPhase::ZERO;
        for (i, ch) in model.chargers.iter().enumerate() {
            if ch.path.contains(&ci) {
                ev = ev + snap.charger_draw(i);
            }
        }
        let non_ev = reading.zip(ev, |m, e| (m - e).max(0.0));
        // Unmetered circuits above carry it too, up to the next metered one (whose own reading
        // already includes it).
        room[ci] = room[ci].zip(non_ev, |r, l| r - l);
        let mut cur = c.parent;
        while let Some(x) = cur {
            if model.circuits[x].meter.is_some() {
                break;
            }
            room[x] = room[x].zip(non_ev, |r, l| r - l);
            cur = model.circuits[x].parent;
        }
    }

    // Chargers not allocated this cycle take their fixed load off the room.
    let mut setpoints: Vec<Option<Setpoint>> = vec![None; n];
    let mut demand_capped = vec![false; n];
    let mut asks = Vec::new();
    for (i, ch) in model.chargers.iter().enumerate() {
        let obs = snap.chargers.get(i).cloned().unwrap_or_default();
        if state.lost[i] && obs.answering {
            // Back after being lost (perhaps restarted, at its own default or fail-safe
            // current): ramps and hold-backs start from what it offers now, not from what we
            // last wrote to it.
            state.setpoints[i] = obs.limit_a.unwrap_or_else(|| obs.draw_a.max_value());
        }
        let fixed = |amps: f64| ch.per_phase.map(|k| k * amps).zip(obs.draw_a, f64::max);
        let (sp, load) = if !obs.answering {
            let counted = lost_counted(ch, state.setpoints[i], obs.silent_s, s.lost_counts_max);
            (
                Setpoint {
                    amps: state.setpoints[i],
                    reason: Reason::Lost,
                },
                fixed(counted),
            )
        } else if let Some(fallback) = &stale_above[i] {
            let amps = if s.fallback_a >= ch.min_a {
                s.fallback_a.min(ch.max_a)
            } else {
                0.0
            };
            // A paused charger stays paused: 0 A is as safe as the fallback current, and it
            // may not deliver (no authorized session).
            let amps = if obs.paused_by.is_some() {
                0.0
            } else if obs.connected {
                amps
            } else {
                amps.min(state.setpoints[i])
            };
            // Blind to what it draws: it may still take what it was last given.
            let counted = if obs.implausible.is_some() {
                amps.max(state.setpoints[i])
            } else {
                amps
            };
            (
                Setpoint {
                    amps,
                    reason: fallback.clone(),
                },
                fixed(counted),
            )
        } else if let Some(why) = obs.implausible {
            // Blind to what it draws: it may take up to its max (or what it was last given).
            (
                Setpoint {
                    amps: state.setpoints[i],
                    reason: Reason::Implausible(why),
                },
                fixed(ch.max_a.max(state.setpoints[i])),
            )
        } else if obs.faulted {
            (
                Setpoint {
                    amps: 0.0,
                    reason: Reason::Faulted,
                },
                obs.draw_a,
            )
        } else if let Some(src) = &obs.paused_by {
            (
                Setpoint {
                    amps: 0.0,
                    reason: Reason::Paused(src.clone()),
                },
                obs.draw_a,
            )
        } else if !obs.connected {
            (
                Setpoint {
                    amps: 0.0,
                    reason: Reason::Idle,
                },
                obs.draw_a,
            )
        } else {
            let mut upper = ch.max_a;
            if let Some((cap, _)) = &obs.cap {
                upper = upper.min(*cap);
            }
            // A car taking clearly less than offered (after its reaction time) is capped near
            // what it takes. While capped it keeps its offer as long as it takes within the
            // headroom of it, and probes upwards by the headroom once it takes nearly all of it
            // (without that memory a capped car would swing between its cap and its full share
            // every other cycle, and the others with it).
            let draw = obs.draw_a.max_value();
            let offered = state.setpoints[i];
            let settled = state.turn_started[i].is_some_and(|t| now_s - t > SETTLE_S);
            let demand = if !settled || offered <= 0.0 {
                None
            } else if draw < offered - DEMAND_HEADROOM_A {
                Some((draw + DEMAND_HEADROOM_A).max(ch.min_a))
            } else if state.demand_capped[i] && draw < offered - PROBE_BAND_A {
                Some(offered)
            } else if state.demand_capped[i] {
                Some(offered + DEMAND_HEADROOM_A)
            } else {
                None
            };
            demand_capped[i] = demand.is_some_and(|d| d < upper);
            if let Some(d) = demand {
                upper = upper.min(d);
            }
            if upper + 1e-9 >= ch.min_a {
                asks.push(Ask {
                    charger: i,
                    min_a: ch.min_a,
                    upper_a: upper,
                    priority: ch.priority,
                    rank: 0,
                    waiting: state.waiting_since[i].is_some(),
                });
                continue;
            }
            (
                Setpoint {
                    amps: 0.0,
                    reason: Reason::Paused("cap below minimum".into()),
                },
                obs.draw_a,
            )
        };
        for &c in &ch.path {
            room[c] = room[c].zip(load, |r, l| r - l);
        }
        setpoints[i] = Some(sp);
    }

    // Rotation order: those within their turn first, then the longest waiting, then those whose
    // turn is over.
    for a in &mut asks {
        let i = a.charger;
        let period = s.rotation_period_s.max(1.0);
        a.rank = match (state.turn_started[i], state.waiting_since[i]) {
            (Some(t), _) if now_s - t < period => ((now_s - t) * 1000.0) as u64,
            (_, Some(w)) => {
                (1u64 << 40) + (1u64 << 39).saturating_sub(((now_s - w) * 1000.0) as u64)
            }
            (Some(t), None) => (2u64 << 40) + ((t.max(0.0)) * 1000.0) as u64,
            (None, None) => 1u64 << 40,
        };
    }
    let grants = fill(model, &mut room.clone(), &asks);
    let mut curtailed = false;
    let mut deferred_a = 0.0;
    for g in grants {
        let ch = &model.chargers[g.charger];
        let upper = asks
            .iter()
            .find(|a| a.charger == g.charger)
            .map_or(g.amps, |a| a.upper_a);
        let reason = match g.bound {
            Bound::Upper => Reason::Full,
            Bound::Circuit(c, phase) => {
                curtailed = true;
                Reason::Limited {
                    circuit: model.circuits[c].name.clone(),
                    phase,
                }
            }
            Bound::NoRoom(c, phase) => {
                curtailed = true;
                Reason::Waiting {
                    circuit: model.circuits[c].name.clone(),
                    phase,
                }
            }
        };
        let target = if g.amps + 1e-9 >= ch.min_a {
            g.amps
        } else {
            0.0
        };
        if !matches!(reason, Reason::Full) {
            deferred_a += (upper - target).max(0.0) * ch.per_phase.sum();
        }
        setpoints[g.charger] = Some(Setpoint {
            amps: target,
            reason,
        });
    }

    // Ramp and hysteresis, then hold back increases that would use current a charger still draws.
    let mut out: Vec<Setpoint> = setpoints
        .into_iter()
        .enumerate()
        .map(|(i, sp)| {
            let sp = sp.unwrap_or(Setpoint {
                amps: 0.0,
                reason: Reason::Idle,
            });
            if matches!(sp.reason, Reason::Lost | Reason::Implausible(_)) {
                return sp;
            }
            ramp(
                sp,
                state.setpoints[i],
                model.chargers[i].min_a,
                s.ramp_a_per_s * dt.max(0.0),
                s.hysteresis_a,
            )
        })
        .collect();
    let mut asked = vec![false; n];
    for a in &asks {
        asked[a.charger] = true;
    }
    hold_back_increases(model, snap, &room, &asked, state, &mut out);

    // Under a stale or implausible meter, even where the fallback current is held back.
    let fallback = stale_above.iter().any(Option::is_some);
    for (i, sp) in out.iter().enumerate() {
        let charging = sp.amps > 0.0;
        match (charging, state.setpoints[i] > 0.0) {
            (true, false) => {
                state.turn_started[i] = Some(now_s);
                state.waiting_since[i] = None;
            }
            (false, _) if matches!(sp.reason, Reason::Waiting { .. }) => {
                state.turn_started[i] = None;
                state.waiting_since[i].get_or_insert(now_s);
            }
            (false, _) => {
                state.turn_started[i] = None;
                state.waiting_since[i] = None;
            }
            (true, true) => {}
        }
        state.setpoints[i] = sp.amps;
        state.lost[i] = matches!(sp.reason, Reason::Lost);
        state.demand_capped[i] = demand_capped[i] && sp.amps > 0.0;
    }
    CyclePlan {
        setpoints: out,
        grid_limit_a,
        grid_limit_source: grid_source,
        fallback,
        curtailed,
        deferred_a,
    }
}

/// What a charger that does not answer is counted at (A per phase): its last setpoint (or its
/// max, by policy), and at least its failsafe current once its failsafe timeout may have run
/// out (it has been silent that long, or was never heard).
pub fn lost_counted(
    ch: &ChargerNode,
    setpoint: f64,
    silent_s: Option<f64>,
    counts_max: bool,
) -> f64 {
    let counted = if counts_max { ch.max_a } else { setpoint };
    match &ch.failsafe {
        Some(f) if silent_s.is_none_or(|t| t >= f.after_s) => counted.max(f.current_a),
        _ => counted,
    }
}

/// Cuts at once; increases by at most `step`, not below `min` when starting, not by less than
/// the hysteresis.
fn ramp(sp: Setpoint, current: f64, min: f64, step: f64, hysteresis: f64) -> Setpoint {
    let target = sp.amps;
    if target <= current {
        return sp;
    }
    let mut next = (current + step).min(target);
    if current <= 0.0 {
        next = next.max(min).min(target);
    }
    if next - current < hysteresis && next < target {
        return Setpoint {
            amps: current,
            reason: Reason::Ramping,
        };
    }
    if next - current < hysteresis {
        // The whole remaining increase is below the hysteresis: not worth a write.
        return Setpoint {
            amps: current,
            reason: sp.reason,
        };
    }
    let reason = if next < target {
        Reason::Ramping
    } else {
        sp.reason
    };
    Setpoint { amps: next, reason }
}

/// Where chargers still draw more than their new setpoint, the current they have not released yet
/// is not free: increases of others on those circuit phases are held back as far as needed.
fn hold_back_increases(
    model: &SiteModel,
    snap: &Snapshot,
    room: &[PerPhase<f64>],
    asked: &[bool],
    state: &ControlState,
    out: &mut [Setpoint],
) {
    // The chargers below each circuit, in index order.
    let mut under: Vec<Vec<usize>> = vec![Vec::new(); model.circuits.len()];
    for (i, ch) in model.chargers.iter().enumerate() {
        for &c in &ch.path {
            under[c].push(i);
        }
    }
    // Load per circuit phase counting each allocated charger at max(setpoint, draw).
    for _ in 0..3 {
        let mut load: Vec<PerPhase<f64>> = vec![PerPhase::ZERO; model.circuits.len()];
        for (i, ch) in model.chargers.iter().enumerate() {
            let allocated = matches!(
                out[i].reason,
                Reason::Full | Reason::Limited { .. } | Reason::Ramping
            );
            let counted = if allocated {
                let set = ch.per_phase.map(|k| k * out[i].amps);
                set.zip(snap.charger_draw(i), f64::max)
            } else if asked[i] {
                // Cut to nothing this cycle (waiting for its turn, below a higher priority):
                // until it has reacted, what it still draws is not free.
                snap.charger_draw(i)
            } else {
                // Its load came off the room before the allocation.
                continue;
            };
            for &c in &ch.path {
                load[c] = load[c] + counted;
            }
        }
        let mut changed = false;
        for (c, l) in load.iter().enumerate() {
            for ph in Phase::ALL {
                let over = l[ph] - room[c][ph];
                if over <= 1e-6 {
                    continue;
                }
                // Take it back from chargers rising on this phase, most recent increase first.
                let mut left = over;
                for &i in &under[c] {
                    let ch = &model.chargers[i];
                    if left <= 0.0 || ch.per_phase[ph] <= 0.0 {
                        continue;
                    }
                    let rise = out[i].amps - state.setpoints[i];
                    if rise <= 0.0 {
                        continue;
                    }
                    let back = rise.min(left / ch.per_phase[ph]);
                    let mut amps = out[i].amps - back;
                    if amps < ch.min_a {
                        amps = state.setpoints[i].min(out[i].amps);
                    }
                    left -= (out[i].amps - amps) * ch.per_phase[ph];
                    out[i].amps = amps;
                    out[i].reason = Reason::Ramping;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
}
