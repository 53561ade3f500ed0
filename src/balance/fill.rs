//! Progressive filling (pure): shares the room left in every circuit phase among chargers,
//! highest priority first; within a priority, chargers are admitted at their minimum in rotation
//! order while minimums fit, then raised together (max-min fair) until each reaches its upper
//! bound or a circuit phase it is on is full.

use super::model::SiteModel;
use crate::phase::{PerPhase, Phase};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

const EPS: f64 = 1e-9;

/// A charger asking for current.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub charger: usize,
    pub min_a: f64,
    /// The most it may get (max current, caps, what its car takes); at least `min_a`.
    pub upper_a: f64,
    pub priority: i32,
    /// Lower is admitted first when minimums do not all fit.
    pub rank: u64,
    /// It has been waiting for its turn: if its minimum does not fit (but would with nobody else
    /// of its priority charging), it reserves it ahead of those ranked after it.
    pub waiting: bool,
}

/// What stopped a charger's allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// It got its upper bound.
    Upper,
    /// A circuit phase it is on is full.
    Circuit(usize, Phase),
    /// Its minimum did not fit: paused.
    NoRoom(usize, Phase),
}

/// One charger's share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grant {
    pub charger: usize,
    pub amps: f64,
    pub bound: Bound,
}

#[derive(PartialEq)]
struct ByUpper(f64, usize);
impl Eq for ByUpper {}
impl PartialOrd for ByUpper {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByUpper {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on the upper bound.
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

/// Fills `asks` into `slack` (room per circuit per phase, A), which it uses up.
pub fn fill(model: &SiteModel, slack: &mut [PerPhase<f64>], asks: &[Ask]) -> Vec<Grant> {
    let mut grants = Vec::with_capacity(asks.len());
    let mut by_priority: Vec<&Ask> = asks.iter().collect();
    by_priority.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.rank.cmp(&b.rank)));
    let mut start = 0;
    while start < by_priority.len() {
        let p = by_priority[start].priority;
        let end = by_priority[start..]
            .iter()
            .position(|a| a.priority != p)
            .map_or(by_priority.len(), |n| start + n);
        fill_level(model, slack, &by_priority[start..end], &mut grants);
        start = end;
    }
    grants
}

/// The tightest (circuit, phase) on a charger's path for `amps` more, if it does not fit.
fn blocking(
    model: &SiteModel,
    slack: &[PerPhase<f64>],
    charger: usize,
    amps: f64,
) -> Option<(usize, Phase)> {
    let c = &model.chargers[charger];
    for &circuit in &c.path {
        for ph in Phase::ALL {
            let n = c.per_phase[ph];
            if n > 0.0 && slack[circuit][ph] + EPS < amps * n {
                return Some((circuit, ph));
            }
        }
    }
    None
}

fn take(model: &SiteModel, slack: &mut [PerPhase<f64>], charger: usize, amps: f64) {
    let c = &model.chargers[charger];
    for &circuit in &c.path {
        for ph in Phase::ALL {
            slack[circuit].0[ph as usize] -= amps * c.per_phase[ph];
        }
    }
}

fn fill_level(
    model: &SiteModel,
    slack: &mut [PerPhase<f64>],
    asks: &[&Ask],
    grants: &mut Vec<Grant>,
) {
    // Admission at the minimum, in rank order. A waiting charger whose minimum does not fit now,
    // but would on an empty circuit, holds its place in the queue: it reserves its minimum on
    // every circuit phase it is on, so nobody ranked after it is admitted onto a phase that
    // stopped it, nor into the room it needs on its other phases. Current freed by turns that end
    // then reaches it rather than the chargers behind it, also when it needs several phases that
    // different turns free at different times (no starvation of large minimums, nor of
    // three-phase chargers among one-phase ones). The reservations only hold back admissions: the
    // chargers admitted are raised into all of the room.
    let initial: Vec<PerPhase<f64>> = slack.to_vec();
    let mut unreserved: Vec<PerPhase<f64>> = slack.to_vec();
    let mut admitted: Vec<&Ask> = Vec::with_capacity(asks.len());
    for a in asks {
        match blocking(model, &unreserved, a.charger, a.min_a) {
            Some((circuit, ph)) => {
                if a.waiting && blocking(model, &initial, a.charger, a.min_a).is_none() {
                    take(model, &mut unreserved, a.charger, a.min_a);
                }
                grants.push(Grant {
                    charger: a.charger,
                    amps: 0.0,
                    bound: Bound::NoRoom(circuit, ph),
                });
            }
            None => {
                take(model, slack, a.charger, a.min_a);
                take(model, &mut unreserved, a.charger, a.min_a);
                admitted.push(a);
            }
        }
    }
    // Raise together from the common level; a charger joins when the level reaches its minimum.
    admitted.sort_by(|a, b| a.min_a.total_cmp(&b.min_a));
    let n = admitted.len();
    let mut level = admitted.first().map_or(0.0, |a| a.min_a);
    let mut next_join = 0;
    let mut active = vec![false; n];
    let mut done = vec![false; n];
    let mut heap = BinaryHeap::new();
    // Rate at which each circuit phase's slack shrinks as the level rises.
    let mut rate: Vec<PerPhase<f64>> = vec![PerPhase::ZERO; slack.len()];
    let adjust = |rate: &mut Vec<PerPhase<f64>>, a: &Ask, sign: f64| {
        let c = &model.chargers[a.charger];
        for &circuit in &c.path {
            for ph in Phase::ALL {
                rate[circuit].0[ph as usize] += sign * c.per_phase[ph];
            }
        }
    };
    let mut remaining = n;
    while remaining > 0 {
        while next_join < n && admitted[next_join].min_a <= level + EPS {
            let a = admitted[next_join];
            if a.upper_a <= a.min_a + EPS {
                grants.push(Grant {
                    charger: a.charger,
                    amps: a.min_a,
                    bound: Bound::Upper,
                });
                done[next_join] = true;
                remaining -= 1;
            } else {
                active[next_join] = true;
                adjust(&mut rate, a, 1.0);
                heap.push(ByUpper(a.upper_a, next_join));
            }
            next_join += 1;
        }
        if remaining == 0 {
            break;
        }
        // The next event: a charger reaching its upper bound, one joining, or a constraint filling.
        let mut step = f64::INFINITY;
        while let Some(ByUpper(u, i)) = heap.peek() {
            if done[*i] {
                heap.pop();
                continue;
            }
            step = step.min(u - level);
            break;
        }
        if next_join < n {
            step = step.min(admitted[next_join].min_a - level);
        }
        let mut binding: Option<(usize, Phase)> = None;
        for (c, r) in rate.iter().enumerate() {
            for ph in Phase::ALL {
                if r[ph] > EPS {
                    let s = (slack[c][ph] / r[ph]).max(0.0);
                    if s < step {
                        step = s;
                        binding = Some((c, ph));
                    }
                }
            }
        }
        if !step.is_finite() {
            break; // nothing active and nothing to join
        }
        let step = step.max(0.0);
        level += step;
        for (c, r) in rate.iter().enumerate() {
            for ph in Phase::ALL {
                slack[c].0[ph as usize] -= r[ph] * step;
            }
        }
        // Freeze at upper bounds.
        while let Some(ByUpper(u, i)) = heap.peek() {
            let (u, i) = (*u, *i);
            if done[i] {
                heap.pop();
                continue;
            }
            if u > level + EPS {
                break;
            }
            heap.pop();
            let a = admitted[i];
            grants.push(Grant {
                charger: a.charger,
                amps: u,
                bound: Bound::Upper,
            });
            adjust(&mut rate, a, -1.0);
            done[i] = true;
            active[i] = false;
            remaining -= 1;
        }
        // Freeze everyone on a full circuit phase.
        if let Some((circuit, ph)) = binding
            && slack[circuit][ph] <= EPS * 10.0 + 1e-7
        {
            for i in 0..n {
                if !active[i] || done[i] {
                    continue;
                }
                let a = admitted[i];
                let c = &model.chargers[a.charger];
                if c.per_phase[ph] > 0.0 && c.path.contains(&circuit) {
                    grants.push(Grant {
                        charger: a.charger,
                        amps: level,
                        bound: Bound::Circuit(circuit, ph),
                    });
                    adjust(&mut rate, a, -1.0);
                    done[i] = true;
                    active[i] = false;
                    remaining -= 1;
                }
            }
            slack[circuit].0[ph as usize] = slack[circuit][ph].max(0.0);
        }
    }
}
