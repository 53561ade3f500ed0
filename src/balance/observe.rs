//! From device states to the allocator's snapshot: readings judged plausible or not, mapped to
//! grid phases, ages, caps. Every reading is judged here, once per cycle, so the allocator, the
//! view and the alerts agree on it.

use super::cycle::{ChargerObs, MeterObs, Snapshot};
use crate::config::{Charger, Meter, SiteConfig};
use crate::device::DeviceState;
use crate::driver::{DeviceReading, Implausible, Plausible};
use crate::limits::ExternalLimits;
use crate::phase::{PerPhase, Phase};
use tokio::time::Instant;

/// A current beyond this multiple of the limit it is measured under is not physical (a broken
/// meter, a wrong register map), not a load.
pub const CURRENT_RANGE_FACTOR: f64 = 3.0;
/// A phase current below minus this (A) is not physical: meters and chargers give magnitudes.
pub const NEGATIVE_TOLERANCE_A: f64 = 1.0;
/// Meter voltages outside this share of the nominal voltage are not a grid (a broken meter).
pub const VOLTAGE_BAND: (f64, f64) = (0.7, 1.3);

/// A device's per-phase values summed onto the grid phases it is wired to.
pub fn to_grid(wiring: &[Phase], device: &PerPhase<Option<f64>>) -> Option<PerPhase<f64>> {
    let mut out = PerPhase::ZERO;
    let mut any = false;
    for (i, p) in wiring.iter().enumerate() {
        if let Some(Some(x)) = device.0.get(i) {
            out.0[*p as usize] += x;
            any = true;
        }
    }
    any.then_some(out)
}

/// The range a meter's readings must fall in: currents up to a multiple of the largest limit it
/// measures (the grid connection or its circuits), voltages in the band around nominal.
pub fn meter_range(config: &SiteConfig, meter: &Meter) -> Plausible {
    let grid = config.site.grid_limit_a.0;
    let mut limit = config
        .circuits
        .iter()
        .filter(|c| c.meter.as_deref() == Some(meter.name.as_str()))
        .map(|c| c.limit_a.0.max_value())
        .fold(0.0, f64::max);
    if config.site.grid_meter.as_deref() == Some(meter.name.as_str()) || limit <= 0.0 {
        limit = limit.max(grid.max_value());
    }
    let v = config.site.nominal_voltage_v;
    Plausible {
        max_current_a: CURRENT_RANGE_FACTOR * limit,
        negative_tolerance_a: NEGATIVE_TOLERANCE_A,
        require_currents: true,
        voltage_band_v: Some((VOLTAGE_BAND.0 * v, VOLTAGE_BAND.1 * v)),
    }
}

/// The range a charger's own currents must fall in: up to a multiple of its max current.
pub fn charger_range(charger: &Charger) -> Plausible {
    Plausible {
        max_current_a: CURRENT_RANGE_FACTOR * charger.max_current_a,
        negative_tolerance_a: NEGATIVE_TOLERANCE_A,
        require_currents: false,
        voltage_band_v: None,
    }
}

/// A meter's reading on the grid phases, or why it cannot be used.
pub fn judge_meter(
    wiring: &[Phase],
    reading: &DeviceReading,
    range: &Plausible,
) -> Result<PerPhase<f64>, Implausible> {
    if let Some(why) = reading.judge(wiring.len(), range) {
        return Err(why);
    }
    to_grid(wiring, &reading.currents_a).ok_or(Implausible::MissingPhase { phase: Phase::L1 })
}

/// The snapshot of one cycle.
pub fn observe(
    config: &SiteConfig,
    chargers: &[DeviceState],
    meters: &[DeviceState],
    limits: &ExternalLimits,
    now: Instant,
) -> Snapshot {
    let meters = config
        .meters
        .iter()
        .zip(meters)
        .map(|(m, s)| {
            let judged = s
                .reading
                .as_ref()
                .map(|r| judge_meter(&m.wiring, r, &meter_range(config, m)));
            MeterObs {
                current_a: judged.and_then(Result::ok),
                age_s: s.age(now).map(|a| a.as_secs_f64()),
                invalid: judged.and_then(Result::err),
            }
        })
        .collect();
    let chargers = config
        .chargers
        .iter()
        .zip(chargers)
        .map(|(c, s)| {
            let reading = s.reading.as_ref();
            let ch = reading.and_then(|r| r.charger.as_ref());
            let implausible = reading.and_then(|r| r.judge(c.wiring.len(), &charger_range(c)));
            let reading_ok = reading.filter(|_| implausible.is_none());
            ChargerObs {
                answering: s.answering(),
                connected: ch.and_then(|c| c.iec).is_some_and(|i| i.connected()),
                faulted: ch.is_some_and(|c| c.faulted),
                draw_a: reading_ok
                    .and_then(|r| to_grid(&c.wiring, &r.currents_a))
                    .unwrap_or(PerPhase::ZERO),
                draw_per_phase: reading_ok.is_some_and(|r| {
                    (0..c.wiring.len()).all(|i| r.currents_a.0.get(i).is_some_and(Option::is_some))
                }),
                cap: limits.charger_cap(&c.name).map(|(a, s)| (a, s.to_string())),
                paused_by: limits.paused_by(&c.name).map(str::to_string),
                limit_a: ch.and_then(|c| c.current_limit_a),
                implausible,
                silent_s: s.age(now).map(|a| a.as_secs_f64()),
            }
        })
        .collect();
    Snapshot {
        meters,
        chargers,
        site_cap: limits.site_cap().map(|(c, s)| (c, s.to_string())),
    }
}
