//! Limits imposed on the site from outside: the CSMS's charging profiles (OCPP) and an external
//! limit over MQTT (a building energy manager, a DSO signal). Each source keeps its own; the
//! control loop applies the tightest of them.

use crate::phase::PerPhase;
use std::collections::{BTreeMap, BTreeSet};

/// What one source asks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceLimits {
    /// A cap on the whole site per phase (A).
    pub site_cap_a: Option<PerPhase<f64>>,
    /// Caps on single chargers (A), by charger name.
    pub charger_cap_a: BTreeMap<String, f64>,
    /// Chargers this source has paused, by name.
    pub paused: BTreeSet<String>,
}

/// Every source's limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalLimits {
    pub ocpp: SourceLimits,
    pub mqtt: SourceLimits,
}

impl ExternalLimits {
    fn sources(&self) -> [(&'static str, &SourceLimits); 2] {
        [("ocpp", &self.ocpp), ("external", &self.mqtt)]
    }

    /// The tightest site cap per phase, and the source that sets the lowest phase of it.
    pub fn site_cap(&self) -> Option<(PerPhase<f64>, &'static str)> {
        let mut out: Option<(PerPhase<f64>, &'static str)> = None;
        for (name, s) in self.sources() {
            let Some(cap) = s.site_cap_a else { continue };
            out = Some(match out {
                None => (cap, name),
                Some((cur, cur_name)) => {
                    let merged = cur.zip(cap, f64::min);
                    let winner = if cap.min_value() < cur.min_value() {
                        name
                    } else {
                        cur_name
                    };
                    (merged, winner)
                }
            });
        }
        out
    }

    /// The tightest cap on one charger, and its source.
    pub fn charger_cap(&self, charger: &str) -> Option<(f64, &'static str)> {
        self.sources()
            .into_iter()
            .filter_map(|(name, s)| s.charger_cap_a.get(charger).map(|a| (*a, name)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// Whether any source paused the charger, and which.
    pub fn paused_by(&self, charger: &str) -> Option<&'static str> {
        self.sources()
            .into_iter()
            .find_map(|(name, s)| s.paused.contains(charger).then_some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tightest_cap_wins_per_phase() {
        let mut l = ExternalLimits::default();
        assert_eq!(l.site_cap(), None);
        l.ocpp.site_cap_a = Some(PerPhase([40.0, 40.0, 40.0]));
        l.mqtt.site_cap_a = Some(PerPhase([50.0, 30.0, 50.0]));
        let (cap, source) = l.site_cap().unwrap();
        assert_eq!(cap, PerPhase([40.0, 30.0, 40.0]));
        assert_eq!(source, "external");
        l.ocpp.charger_cap_a.insert("cp-1".into(), 10.0);
        l.mqtt.charger_cap_a.insert("cp-1".into(), 16.0);
        assert_eq!(l.charger_cap("cp-1"), Some((10.0, "ocpp")));
        assert_eq!(l.charger_cap("cp-2"), None);
        l.mqtt.paused.insert("cp-2".into());
        assert_eq!(l.paused_by("cp-2"), Some("external"));
        assert_eq!(l.paused_by("cp-1"), None);
    }
}
