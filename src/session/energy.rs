//! A connector's energy register (pure): the charger's own import counter when its driver reads
//! one, else a register built from the charger's session energy counter (which restarts at every
//! new charging session) on top of a base that grows by each finished session. Never decreasing.

use crate::driver::DeviceReading;

/// Where the register comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Counter {
    /// The charger's lifetime import counter (Wh).
    Import(f64),
    /// The charger's energy of the current session (Wh).
    Session(f64),
}

impl Counter {
    /// The counter a charger's reading offers, the import counter first.
    pub fn of(reading: &DeviceReading) -> Option<Counter> {
        let finite = |v: Option<f64>| v.filter(|x| x.is_finite() && *x >= 0.0);
        finite(reading.energy_import_wh)
            .map(Counter::Import)
            .or_else(|| {
                finite(reading.charger.as_ref().and_then(|c| c.session_energy_wh))
                    .map(Counter::Session)
            })
    }
}

/// A session counter that drops by more than this (Wh) has restarted.
const RESTART_DROP_WH: f64 = 0.5;

/// The register of one connector.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyRegister {
    /// Register value at the start of the charger's current session (session counters only).
    base_wh: f64,
    last_session_wh: Option<f64>,
    /// The highest value given out.
    last_wh: f64,
}

impl EnergyRegister {
    /// `last_wh`: the last value recorded (e.g. in the journal) before a restart; `base_wh`: the
    /// base saved with it (session counters), if any.
    pub fn new(last_wh: f64, base_wh: Option<f64>) -> EnergyRegister {
        EnergyRegister {
            base_wh: base_wh.unwrap_or(last_wh),
            last_session_wh: None,
            last_wh,
        }
    }

    /// The base to save, so a restart continues a session where it was.
    pub fn base_wh(&self) -> f64 {
        self.base_wh
    }

    /// The register after reading `counter`.
    pub fn update(&mut self, counter: Counter) -> f64 {
        let value = match counter {
            Counter::Import(wh) => wh,
            Counter::Session(s) => {
                if self
                    .last_session_wh
                    .is_some_and(|prev| s + RESTART_DROP_WH < prev)
                {
                    // A new session on the charger: what the last one took stays counted.
                    self.base_wh = self.last_wh;
                } else if self.last_session_wh.is_none() && self.base_wh + s < self.last_wh {
                    // First reading since a start, and the session counter restarted meanwhile.
                    self.base_wh = self.last_wh;
                }
                self.last_session_wh = Some(s);
                self.base_wh + s
            }
        };
        self.last_wh = self.last_wh.max(value);
        self.last_wh
    }

    /// The highest value given out.
    pub fn value(&self) -> f64 {
        self.last_wh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn session_counters_stack_up() {
        let mut r = EnergyRegister::new(10_000.0, None);
        assert_eq!(r.update(Counter::Session(0.0)), 10_000.0);
        assert_eq!(r.update(Counter::Session(2_500.0)), 12_500.0);
        // Car leaves, next car: the counter restarts.
        assert_eq!(r.update(Counter::Session(0.0)), 12_500.0);
        assert_eq!(r.update(Counter::Session(300.0)), 12_800.0);
        assert_eq!(r.base_wh(), 12_500.0);
    }

    #[test]
    fn a_restart_continues_a_session_or_notices_a_new_one() {
        // Same session still running after our restart: base saved, counter went on.
        let mut r = EnergyRegister::new(12_800.0, Some(12_500.0));
        assert_eq!(r.update(Counter::Session(900.0)), 13_400.0);
        // A new session began while we were down.
        let mut r = EnergyRegister::new(12_800.0, Some(12_500.0));
        assert_eq!(r.update(Counter::Session(100.0)), 12_900.0);
    }

    #[test]
    fn import_counters_are_taken_as_they_are_but_never_go_back() {
        let mut r = EnergyRegister::new(0.0, None);
        assert_eq!(r.update(Counter::Import(5_000.0)), 5_000.0);
        assert_eq!(r.update(Counter::Import(4_990.0)), 5_000.0);
        assert_eq!(r.update(Counter::Import(5_100.0)), 5_100.0);
    }

    proptest! {
        #[test]
        fn never_decreasing(readings in prop::collection::vec((any::<bool>(), 0.0f64..1e6), 1..60)) {
            let mut r = EnergyRegister::new(1000.0, None);
            let mut last = r.value();
            for (import, v) in readings {
                let c = if import { Counter::Import(v) } else { Counter::Session(v) };
                let now = r.update(c);
                prop_assert!(now >= last);
                last = now;
            }
        }
    }
}
