//! What one cycle works on and gives (plain data): the snapshot of what was measured, the
//! setpoints and the reasons for them.

use crate::driver::Implausible;
use crate::phase::{PerPhase, Phase};
use std::fmt;

/// One meter's reading, on grid phases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeterObs {
    pub current_a: Option<PerPhase<f64>>,
    /// Age of the reading (s); `None` = never read.
    pub age_s: Option<f64>,
    /// Why the last reading cannot be trusted (then `current_a` is `None`): the meter counts as
    /// stale.
    pub invalid: Option<Implausible>,
}

impl MeterObs {
    /// A reading the allocator may use: plausible, finite and not older than `stale_after_s`.
    pub fn usable(&self, stale_after_s: f64) -> Option<PerPhase<f64>> {
        let current = self
            .current_a
            .filter(|c| c.0.iter().all(|a| a.is_finite()))?;
        let fresh = self.age_s.is_some_and(|a| a <= stale_after_s);
        (fresh && self.invalid.is_none()).then_some(current)
    }
}

/// One charger as measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChargerObs {
    /// It answered its last poll.
    pub answering: bool,
    /// A vehicle is plugged in (IEC state B, C or D).
    pub connected: bool,
    /// It reports a fault: it gets nothing.
    pub faulted: bool,
    /// Draw on the grid phases (A).
    pub draw_a: PerPhase<f64>,
    /// The draw is measured on every phase the charger is wired to (not only a total).
    pub draw_per_phase: bool,
    /// A cap from outside (A) and its source.
    pub cap: Option<(f64, String)>,
    /// Paused from outside, by this source.
    pub paused_by: Option<String>,
    /// The current limit the charger itself reports (A), where its driver reads it back.
    pub limit_a: Option<f64>,
    /// Why its own current reading cannot be trusted (then `draw_a` is zero): it is counted at
    /// the most it may draw.
    pub implausible: Option<Implausible>,
    /// Seconds since it last answered; `None` = it never did.
    pub silent_s: Option<f64>,
}

/// Everything measured at the start of a cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub meters: Vec<MeterObs>,
    pub chargers: Vec<ChargerObs>,
    /// A cap on the whole site per phase (A) and its source.
    pub site_cap: Option<(PerPhase<f64>, String)>,
}

impl Snapshot {
    /// The measured draw of charger `i` on the grid phases.
    pub fn charger_draw(&self, i: usize) -> PerPhase<f64> {
        self.chargers.get(i).map_or(PerPhase::ZERO, |c| c.draw_a)
    }
}

/// Why a setpoint is what it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// It got all it can take.
    Full,
    /// A circuit phase is full.
    Limited {
        circuit: String,
        phase: Phase,
    },
    /// Paused: its minimum did not fit, others take their turn.
    Waiting {
        circuit: String,
        phase: Phase,
    },
    /// No vehicle.
    Idle,
    Faulted,
    /// Paused from outside.
    Paused(String),
    /// A meter above it is stale.
    Fallback(String),
    /// A meter above it reads implausible values: the same fallback as a stale one.
    FallbackImplausible(String),
    /// It does not answer; counted at its last setpoint or max (and its failsafe current once
    /// its failsafe timeout may have run out).
    Lost,
    /// Its current reading is implausible; counted at its max, its setpoint held.
    Implausible(Implausible),
    /// Rising towards its share at the ramp rate.
    Ramping,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Full => f.write_str("full share"),
            Reason::Limited { circuit, phase } => write!(f, "limited by {circuit} {phase:?}"),
            Reason::Waiting { circuit, phase } => write!(f, "waiting: {circuit} {phase:?} full"),
            Reason::Idle => f.write_str("no vehicle"),
            Reason::Faulted => f.write_str("faulted"),
            Reason::Paused(s) => write!(f, "paused by {s}"),
            Reason::Fallback(m) => write!(f, "fallback: meter {m} stale"),
            Reason::FallbackImplausible(m) => write!(f, "fallback: meter {m} implausible"),
            Reason::Lost => f.write_str("not answering"),
            Reason::Implausible(why) => write!(f, "implausible reading: {why}"),
            Reason::Ramping => f.write_str("ramping up"),
        }
    }
}

/// A charger's setpoint for this cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Setpoint {
    pub amps: f64,
    pub reason: Reason,
}

/// The cycle's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CyclePlan {
    pub setpoints: Vec<Setpoint>,
    /// The limit in force at the grid connection (after margin and site cap).
    pub grid_limit_a: PerPhase<f64>,
    pub grid_limit_source: String,
    /// Some chargers are under a stale (or implausible) meter: on the fallback current at most.
    pub fallback: bool,
    /// Some connected charger got less than it could take because of a limit.
    pub curtailed: bool,
    /// What the curtailed chargers could have taken beyond their grants, summed over the grid
    /// phases they draw on (A x phases): each curtailed charger's upper bound (max current,
    /// caps, what its car takes) minus its grant, times its number of phases. Reports turn it
    /// into the power (and energy) curtailment deferred.
    pub deferred_a: f64,
}
