//! The site model the allocator works on (pure): the circuit tree with the grid connection at the
//! root, each charger's place and wiring, and the control settings.

use crate::config::{LostChargerPolicy, SiteConfig};
use crate::driver::Registry;
use crate::phase::{PerPhase, Phase};
use std::collections::HashMap;

/// One node of the circuit tree. Index 0 is the grid connection.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitNode {
    pub name: String,
    pub parent: Option<usize>,
    /// Per-phase limit (A).
    pub limit_a: PerPhase<f64>,
    /// Index of the meter measuring it (into the site's meters), if any.
    pub meter: Option<usize>,
    /// Depth below the grid connection (0 for the grid).
    pub depth: usize,
}

/// One charger as the allocator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerNode {
    pub name: String,
    /// The circuit feeding it.
    pub circuit: usize,
    /// Grid phase of each of the charger's phases.
    pub wiring: Vec<Phase>,
    pub min_a: f64,
    pub max_a: f64,
    pub priority: i32,
    /// The circuits it is under, itself's circuit first, the grid last.
    pub path: Vec<usize>,
    /// How many of its phases are on each grid phase (0 or 1 for sane wiring).
    pub per_phase: PerPhase<f64>,
    /// The failsafe hubgate programs into it, when its driver has one.
    pub failsafe: Option<Failsafe>,
}

/// What a charger does by itself when nobody writes to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Failsafe {
    /// The current it falls back to (A).
    pub current_a: f64,
    /// Seconds after its last answer by which it may be in its failsafe: the driver's timeout
    /// less one keep-alive period (its last keep-alive may have come that much before).
    pub after_s: f64,
}

/// Control settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub margin_a: f64,
    pub fallback_a: f64,
    pub stale_after_s: f64,
    pub ramp_a_per_s: f64,
    pub hysteresis_a: f64,
    pub rotation_period_s: f64,
    pub lost_counts_max: bool,
    /// Count a car only on the phases it is measured drawing on.
    pub detect_car_phases: bool,
}

/// The whole model.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteModel {
    pub circuits: Vec<CircuitNode>,
    pub chargers: Vec<ChargerNode>,
    pub settings: Settings,
    /// Meter names, in config order (the snapshot's meter readings follow this order).
    pub meters: Vec<String>,
}

/// The config describes no usable site.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("charger {charger}: unknown circuit {circuit}")]
    UnknownCircuit { charger: String, circuit: String },
    #[error("circuit {0}: its parents form a loop")]
    Loop(String),
}

impl SiteModel {
    /// Builds the model from a checked config.
    pub fn from_config(config: &SiteConfig) -> Result<SiteModel, ModelError> {
        let meters: Vec<String> = config.meters.iter().map(|m| m.name.clone()).collect();
        let meter_index = |name: &Option<String>| {
            name.as_ref()
                .and_then(|n| meters.iter().position(|m| m == n))
        };
        let mut circuits = vec![CircuitNode {
            name: "grid".into(),
            parent: None,
            limit_a: config.site.grid_limit_a.0,
            meter: meter_index(&config.site.grid_meter),
            depth: 0,
        }];
        let index: HashMap<&str, usize> = config
            .circuits
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i + 1))
            .collect();
        for c in &config.circuits {
            circuits.push(CircuitNode {
                name: c.name.clone(),
                parent: Some(
                    c.parent
                        .as_deref()
                        .and_then(|p| index.get(p).copied())
                        .unwrap_or(0),
                ),
                limit_a: c.limit_a.0,
                meter: meter_index(&c.meter),
                depth: 0,
            });
        }
        for i in 1..circuits.len() {
            let mut depth = 0;
            let mut cur = Some(i);
            while let Some(c) = cur {
                if c == 0 {
                    break;
                }
                depth += 1;
                if depth > circuits.len() {
                    return Err(ModelError::Loop(circuits[i].name.clone()));
                }
                cur = circuits[c].parent;
            }
            circuits[i].depth = depth;
        }
        let mut chargers = Vec::new();
        for ch in &config.chargers {
            let circuit = match &ch.circuit {
                None => 0,
                Some(name) => {
                    *index
                        .get(name.as_str())
                        .ok_or_else(|| ModelError::UnknownCircuit {
                            charger: ch.name.clone(),
                            circuit: name.clone(),
                        })?
                }
            };
            let mut per_phase = PerPhase::ZERO;
            for p in &ch.wiring {
                per_phase.0[*p as usize] += 1.0;
            }
            chargers.push(ChargerNode {
                name: ch.name.clone(),
                circuit,
                wiring: ch.wiring.clone(),
                min_a: ch.min_current_a,
                max_a: ch.max_current_a,
                priority: ch.priority,
                path: path_of(&circuits, circuit),
                per_phase,
                failsafe: None,
            });
        }
        let c = &config.control;
        Ok(SiteModel {
            circuits,
            chargers,
            meters,
            settings: Settings {
                margin_a: config.site.safety_margin_a,
                fallback_a: config.site.fallback_current_a,
                stale_after_s: c.meter_stale_s,
                ramp_a_per_s: c.ramp_up_a_per_s,
                hysteresis_a: c.hysteresis_a,
                rotation_period_s: c.rotation_period_s as f64,
                lost_counts_max: c.lost_charger_counts_as == LostChargerPolicy::Max,
                detect_car_phases: c.car_phase_detection,
            },
        })
    }

    /// Adds each charger's failsafe from its driver: the site's fallback current, which hubgate
    /// writes as the charger's failsafe current at start (its max where the driver has no
    /// register for it), after the driver's timeout.
    pub fn with_failsafes(mut self, config: &SiteConfig, registry: &Registry) -> SiteModel {
        for (node, ch) in self.chargers.iter_mut().zip(&config.chargers) {
            let Some(driver) = registry.get(&ch.driver) else {
                continue;
            };
            let Some(f) = driver.charger.as_ref().and_then(|c| c.failsafe.as_ref()) else {
                continue;
            };
            let keepalive_s = driver
                .keepalive()
                .map_or(f.timeout_s, |k| k.period.as_secs_f64());
            node.failsafe = Some(Failsafe {
                // Without a current register its own failsafe current is unknown: its max.
                current_a: if f.current_address.is_some() {
                    config.site.fallback_current_a
                } else {
                    ch.max_current_a
                },
                after_s: (f.timeout_s - keepalive_s).max(0.0),
            });
        }
        self
    }

    /// True when circuit `c` is `ancestor` or below it.
    pub fn is_under(&self, c: usize, ancestor: usize) -> bool {
        let mut cur = Some(c);
        while let Some(x) = cur {
            if x == ancestor {
                return true;
            }
            cur = self.circuits[x].parent;
        }
        false
    }
}

/// The circuits from `c` up to the grid connection.
pub fn path_of(circuits: &[CircuitNode], c: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut cur = Some(c);
    while let Some(x) = cur {
        if out.contains(&x) {
            break;
        }
        out.push(x);
        cur = circuits[x].parent;
    }
    out
}
