//! Grid phases and per-phase quantities, shared by the config, the allocator and the simulator.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Index, IndexMut, Sub};

/// One of the three phases of the site's grid connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    L1,
    L2,
    L3,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::L1, Phase::L2, Phase::L3];

    /// Zero-based index (L1 = 0).
    pub fn index(self) -> usize {
        match self {
            Phase::L1 => 0,
            Phase::L2 => 1,
            Phase::L3 => 2,
        }
    }

    pub fn from_index(i: usize) -> Option<Phase> {
        Phase::ALL.get(i).copied()
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Phase::L1 => "L1",
            Phase::L2 => "L2",
            Phase::L3 => "L3",
        };
        f.write_str(s)
    }
}

/// A value per grid phase (L1, L2, L3), e.g. currents in amperes.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PerPhase<T>(pub [T; 3]);

impl<T: Copy> PerPhase<T> {
    pub fn splat(v: T) -> Self {
        PerPhase([v; 3])
    }

    pub fn map<U>(self, f: impl Fn(T) -> U) -> PerPhase<U> {
        PerPhase([f(self.0[0]), f(self.0[1]), f(self.0[2])])
    }

    pub fn zip<U: Copy, V>(self, other: PerPhase<U>, f: impl Fn(T, U) -> V) -> PerPhase<V> {
        PerPhase([
            f(self.0[0], other.0[0]),
            f(self.0[1], other.0[1]),
            f(self.0[2], other.0[2]),
        ])
    }
}

impl PerPhase<f64> {
    pub const ZERO: PerPhase<f64> = PerPhase([0.0; 3]);

    pub fn max_value(&self) -> f64 {
        self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    pub fn min_value(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn sum(&self) -> f64 {
        self.0.iter().sum()
    }

    /// Element-wise minimum.
    pub fn min(self, other: PerPhase<f64>) -> PerPhase<f64> {
        self.zip(other, f64::min)
    }
}

impl<T> Index<Phase> for PerPhase<T> {
    type Output = T;
    fn index(&self, p: Phase) -> &T {
        &self.0[p.index()]
    }
}

impl<T> IndexMut<Phase> for PerPhase<T> {
    fn index_mut(&mut self, p: Phase) -> &mut T {
        &mut self.0[p.index()]
    }
}

impl Add for PerPhase<f64> {
    type Output = PerPhase<f64>;
    fn add(self, o: Self) -> Self {
        self.zip(o, |a, b| a + b)
    }
}

impl Sub for PerPhase<f64> {
    type Output = PerPhase<f64>;
    fn sub(self, o: Self) -> Self {
        self.zip(o, |a, b| a - b)
    }
}

/// How a device's own phases (its terminals 1, 2, 3) are connected to the grid phases.
/// `wiring[i]` is the grid phase that the device's phase `i + 1` is wired to; a 1-phase
/// device has only its first entry. Three-phase chargers installed with phase rotation
/// (to spread single-phase cars over the grid) have e.g. `[L2, L3, L1]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wiring(pub Vec<Phase>);

impl Wiring {
    pub fn three_phase() -> Self {
        Wiring(Phase::ALL.to_vec())
    }

    pub fn phases(&self) -> usize {
        self.0.len()
    }

    /// Spread a device-side per-terminal current onto the grid phases.
    pub fn to_grid(&self, device: &[f64]) -> PerPhase<f64> {
        let mut out = PerPhase::ZERO;
        for (i, grid) in self.0.iter().enumerate() {
            out[*grid] += device.get(i).copied().unwrap_or(0.0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_wiring_maps_terminals_to_grid() {
        let w = Wiring(vec![Phase::L2, Phase::L3, Phase::L1]);
        let g = w.to_grid(&[10.0, 20.0, 30.0]);
        assert_eq!(g.0, [30.0, 10.0, 20.0]);
    }

    #[test]
    fn single_phase_on_l3() {
        let w = Wiring(vec![Phase::L3]);
        assert_eq!(w.to_grid(&[16.0, 5.0, 5.0]).0, [0.0, 0.0, 16.0]);
    }
}
