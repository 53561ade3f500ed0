//! Composing the installed profiles: the limits the load balancer applies now, and the composite
//! schedule GetCompositeSchedule reports.

use super::schedule::InstalledProfile;
use super::store::{ActiveTx, ProfileStore};
use crate::ocpp::messages::{
    ChargingProfilePurpose as Purpose, ChargingRateUnit, ChargingSchedule, ChargingSchedulePeriod,
    Timestamp,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest window a composite schedule covers (s); longer requests are answered for this long.
pub const MAX_COMPOSITE_S: i32 = 31 * 24 * 3600;

/// What the CSMS's profiles allow at one instant, in amperes per phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// ChargePointMaxProfile: a cap on the sum of all connectors' currents, per phase.
    pub site_cap_a: Option<f64>,
    /// Per connector: min(its share of the site cap, TxProfile or else TxDefaultProfile).
    /// Connectors without any profile in force are absent.
    pub connectors: BTreeMap<u32, f64>,
}

impl ProfileStore {
    fn phases(&self, connector: u32) -> u8 {
        self.shape
            .connectors
            .get(&connector)
            .map_or(3, |c| c.phases)
    }

    /// The highest stack level in force at `t` among `purpose` profiles on `connector`, in
    /// amperes per phase for an outlet of `phases` phases.
    fn winner(
        &self,
        purpose: Purpose,
        connector: u32,
        phases: u8,
        t: DateTime<Utc>,
        tx: Option<&ActiveTx>,
    ) -> Option<f64> {
        let v = self.shape.nominal_voltage_v;
        self.profiles()
            .iter()
            .filter(|p| p.connector == connector && p.profile.charging_profile_purpose == purpose)
            .filter_map(|p| {
                p.amps_at(t, tx.map(|x| x.started), v, phases)
                    .map(|a| (p.stack_level(), a))
            })
            .max_by_key(|(level, _)| *level)
            .map(|(_, a)| a)
    }

    /// The ChargePointMaxProfile limit at `t` (A per phase, summed over connectors).
    pub fn site_cap_at(&self, t: DateTime<Utc>) -> Option<f64> {
        self.winner(Purpose::ChargePointMaxProfile, 0, 3, t, None)
    }

    /// The limit for `connector` at `t` with transaction `tx` running there (if any).
    pub fn connector_limit_at(
        &self,
        connector: u32,
        t: DateTime<Utc>,
        tx: Option<&ActiveTx>,
    ) -> Option<f64> {
        let n = self.phases(connector);
        let tx_limit = tx
            .and_then(|_| self.winner(Purpose::TxProfile, connector, n, t, tx))
            .or_else(|| self.winner(Purpose::TxDefaultProfile, connector, n, t, tx))
            .or_else(|| self.winner(Purpose::TxDefaultProfile, 0, n, t, tx));
        min_opt(self.site_cap_at(t), tx_limit)
    }

    /// The limits for the load balancer at `now`; `txs` are the running transactions by connector.
    pub fn limits_at(&self, now: DateTime<Utc>, txs: &BTreeMap<u32, ActiveTx>) -> Limits {
        let connectors = self
            .shape
            .connectors
            .keys()
            .filter_map(|&c| self.connector_limit_at(c, now, txs.get(&c)).map(|a| (c, a)))
            .collect();
        Limits {
            site_cap_a: self.site_cap_at(now),
            connectors,
        }
    }

    fn relevant(&self, connector: u32) -> impl Iterator<Item = &InstalledProfile> {
        self.profiles()
            .iter()
            .filter(move |p| p.connector == 0 || (connector != 0 && p.connector == connector))
    }

    /// What the site will actually do on `connector` (0 = the whole site) from `start` for
    /// `duration_s` seconds: the profiles, the hardware limits and `local_cap_a` (the site's own
    /// limit, e.g. grid minus other load), as a schedule in `unit` with limits rounded down to
    /// 0.1. `None` for an unknown connector.
    pub fn composite(
        &self,
        connector: u32,
        start: DateTime<Utc>,
        duration_s: i32,
        unit: ChargingRateUnit,
        txs: &BTreeMap<u32, ActiveTx>,
        local_cap_a: Option<f64>,
    ) -> Option<ChargingSchedule> {
        let hardware = if connector == 0 {
            self.shape.site_max_a
        } else {
            self.shape.connectors.get(&connector)?.max_a
        };
        let duration_s = duration_s.clamp(0, MAX_COMPOSITE_S);
        let end = start + Duration::seconds(i64::from(duration_s));
        let tx = txs.get(&connector);
        let mut points = vec![start];
        for p in self.relevant(connector) {
            p.breakpoints(start, end, tx.map(|x| x.started), &mut points);
        }
        points.sort();
        points.dedup();
        let factor = match unit {
            ChargingRateUnit::A => 1.0,
            ChargingRateUnit::W => self.shape.nominal_voltage_v * f64::from(self.phases(connector)),
        };
        let mut periods: Vec<ChargingSchedulePeriod> = Vec::new();
        for t in points {
            let profile = if connector == 0 {
                self.site_cap_at(t)
            } else {
                self.connector_limit_at(connector, t, tx)
            };
            let amps = min_opt(min_opt(profile, local_cap_a), Some(hardware)).unwrap_or(hardware);
            let limit = round_down_tenth(amps.max(0.0) * factor);
            // periods start on whole seconds: a later change within the same second wins
            let offset = i32::try_from((t - start).num_seconds()).unwrap_or(i32::MAX);
            if periods.last().is_some_and(|p| p.start_period == offset) {
                periods.pop();
            }
            if periods.last().is_some_and(|p| p.limit == limit) {
                continue;
            }
            periods.push(ChargingSchedulePeriod {
                start_period: offset,
                limit,
                number_phases: None,
            });
        }
        Some(ChargingSchedule {
            duration: Some(duration_s),
            start_schedule: Some(Timestamp(start)),
            charging_rate_unit: unit,
            charging_schedule_period: periods,
            min_charging_rate: None,
        })
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Down to a multiple of 0.1 (the schemas' `multipleOf`), never above the value.
pub fn round_down_tenth(v: f64) -> f64 {
    ((v * 10.0) + 1e-9).floor() / 10.0
}
