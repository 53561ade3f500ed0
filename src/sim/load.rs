//! The building's own (non-EV) load on a circuit: a slowly varying base with noise-free swings and
//! scheduled surges (a kitchen, a lift, a heat pump starting). Pure and deterministic.

use crate::phase::PerPhase;

/// A step of extra load for a while.
#[derive(Debug, Clone, PartialEq)]
pub struct Surge {
    /// When it starts (s, simulation time).
    pub start_s: f64,
    /// How long it lasts (s); `f64::INFINITY` for a load that stays.
    pub duration_s: f64,
    /// Extra current per grid phase (A).
    pub amps: PerPhase<f64>,
}

/// A circuit's non-EV load over time.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadProfile {
    /// Mean load per grid phase (A).
    pub base: PerPhase<f64>,
    /// Amplitude of a slow sinusoidal swing around the base (A), like a day's rhythm compressed.
    pub swing_a: f64,
    /// Period of the swing (s).
    pub period_s: f64,
    pub surges: Vec<Surge>,
}

impl LoadProfile {
    /// A constant load.
    pub fn constant(base: PerPhase<f64>) -> Self {
        LoadProfile {
            base,
            swing_a: 0.0,
            period_s: 1.0,
            surges: Vec::new(),
        }
    }

    /// The load at time `t_s` (A per grid phase, never negative).
    pub fn at(&self, t_s: f64) -> PerPhase<f64> {
        let swing = if self.period_s > 0.0 {
            self.swing_a * (std::f64::consts::TAU * t_s / self.period_s).sin()
        } else {
            0.0
        };
        let mut load = self.base.map(|a| a + swing);
        for s in &self.surges {
            if t_s >= s.start_s && t_s < s.start_s + s.duration_s {
                load = load + s.amps;
            }
        }
        load.map(|a| a.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surges_add_while_they_last() {
        let mut p = LoadProfile::constant(PerPhase([10.0, 5.0, 0.0]));
        p.surges.push(Surge {
            start_s: 10.0,
            duration_s: 5.0,
            amps: PerPhase([60.0, 0.0, 0.0]),
        });
        assert_eq!(p.at(9.9), PerPhase([10.0, 5.0, 0.0]));
        assert_eq!(p.at(10.0), PerPhase([70.0, 5.0, 0.0]));
        assert_eq!(p.at(15.0), PerPhase([10.0, 5.0, 0.0]));
    }

    #[test]
    fn swing_never_goes_negative() {
        let p = LoadProfile {
            base: PerPhase([2.0, 2.0, 2.0]),
            swing_a: 5.0,
            period_s: 100.0,
            surges: vec![],
        };
        for t in 0..200 {
            assert!(p.at(f64::from(t)).0.iter().all(|a| *a >= 0.0));
        }
        assert!((p.at(25.0).0[0] - 7.0).abs() < 1e-9);
    }
}
