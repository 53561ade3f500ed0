//! From device states to the allocator's snapshot: readings mapped to grid phases, ages, caps.

use super::cycle::{ChargerObs, MeterObs, Snapshot};
use crate::config::SiteConfig;
use crate::device::DeviceState;
use crate::limits::ExternalLimits;
use crate::phase::{PerPhase, Phase};
use tokio::time::Instant;

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
        .map(|(m, s)| MeterObs {
            current_a: s
                .reading
                .as_ref()
                .and_then(|r| to_grid(&m.wiring, &r.currents_a)),
            age_s: s.age(now).map(|a| a.as_secs_f64()),
        })
        .collect();
    let chargers = config
        .chargers
        .iter()
        .zip(chargers)
        .map(|(c, s)| {
            let reading = s.reading.as_ref();
            let ch = reading.and_then(|r| r.charger.as_ref());
            ChargerObs {
                answering: s.answering(),
                connected: ch.and_then(|c| c.iec).is_some_and(|i| i.connected()),
                faulted: ch.is_some_and(|c| c.faulted),
                draw_a: reading
                    .and_then(|r| to_grid(&c.wiring, &r.currents_a))
                    .unwrap_or(PerPhase::ZERO),
                draw_per_phase: reading.is_some_and(|r| {
                    (0..c.wiring.len()).all(|i| r.currents_a.0.get(i).is_some_and(Option::is_some))
                }),
                cap: limits.charger_cap(&c.name).map(|(a, s)| (a, s.to_string())),
                paused_by: limits.paused_by(&c.name).map(str::to_string),
                limit_a: ch.and_then(|c| c.current_limit_a),
            }
        })
        .collect();
    Snapshot {
        meters,
        chargers,
        site_cap: limits.site_cap().map(|(c, s)| (c, s.to_string())),
    }
}
