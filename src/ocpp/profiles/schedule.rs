//! One charging profile in time: whether it is in force at an instant, its limit there, and the
//! instants at which that can change.

use crate::ocpp::messages::{
    ChargingProfile, ChargingProfileKind, ChargingRateUnit, RecurrencyKind,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A profile as installed on a connector, with its time base resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledProfile {
    /// 0 = the whole charge point.
    pub connector: u32,
    pub profile: ChargingProfile,
    /// `startSchedule`, or the moment the profile arrived when the CSMS left it out
    /// (absolute and recurring profiles).
    pub base: DateTime<Utc>,
}

impl InstalledProfile {
    pub fn id(&self) -> i32 {
        self.profile.charging_profile_id
    }

    pub fn stack_level(&self) -> i32 {
        self.profile.stack_level
    }

    fn in_validity(&self, t: DateTime<Utc>) -> bool {
        self.profile.valid_from.is_none_or(|f| t >= f.0)
            && self.profile.valid_to.is_none_or(|u| t < u.0)
    }

    fn recurrence(&self) -> Option<Duration> {
        match (
            self.profile.charging_profile_kind,
            self.profile.recurrency_kind,
        ) {
            (ChargingProfileKind::Recurring, Some(RecurrencyKind::Daily)) => {
                Some(Duration::days(1))
            }
            (ChargingProfileKind::Recurring, Some(RecurrencyKind::Weekly)) => {
                Some(Duration::weeks(1))
            }
            _ => None,
        }
    }

    /// Start of the schedule occurrence that covers `t`, if any.
    fn occurrence_start(
        &self,
        t: DateTime<Utc>,
        tx_start: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        match self.profile.charging_profile_kind {
            ChargingProfileKind::Relative => tx_start,
            ChargingProfileKind::Absolute => Some(self.base),
            ChargingProfileKind::Recurring => {
                let period = self.recurrence()?;
                let k = (t - self.base)
                    .num_seconds()
                    .div_euclid(period.num_seconds());
                Some(self.base + period * i32::try_from(k).ok()?)
            }
        }
    }

    /// The limit in the schedule's own unit and the number of phases it names, if the profile
    /// is in force at `t` (valid, started, within its duration).
    pub fn raw_limit_at(
        &self,
        t: DateTime<Utc>,
        tx_start: Option<DateTime<Utc>>,
    ) -> Option<(f64, Option<i32>)> {
        if !self.in_validity(t) {
            return None;
        }
        let start = self.occurrence_start(t, tx_start)?;
        let offset = (t - start).num_milliseconds();
        if offset < 0 {
            return None;
        }
        let schedule = &self.profile.charging_schedule;
        if let Some(d) = schedule.duration
            && offset >= i64::from(d) * 1000
        {
            return None;
        }
        schedule
            .charging_schedule_period
            .iter()
            .take_while(|p| i64::from(p.start_period) * 1000 <= offset)
            .last()
            .map(|p| (p.limit, p.number_phases))
    }

    /// The limit at `t` in amperes per phase, converting watts with `voltage` and the period's
    /// number of phases (else `phases`).
    pub fn amps_at(
        &self,
        t: DateTime<Utc>,
        tx_start: Option<DateTime<Utc>>,
        voltage: f64,
        phases: u8,
    ) -> Option<f64> {
        let (limit, number_phases) = self.raw_limit_at(t, tx_start)?;
        Some(match self.profile.charging_schedule.charging_rate_unit {
            ChargingRateUnit::A => limit,
            ChargingRateUnit::W => {
                let n = number_phases
                    .filter(|n| (1..=3).contains(n))
                    .map_or(f64::from(phases), f64::from);
                limit / (voltage * n.max(1.0))
            }
        })
    }

    /// Every instant in `(from, to)` at which this profile's limit may change.
    pub fn breakpoints(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tx_start: Option<DateTime<Utc>>,
        out: &mut Vec<DateTime<Utc>>,
    ) {
        let mut push = |t: DateTime<Utc>| {
            if t > from && t < to {
                out.push(t);
            }
        };
        if let Some(f) = self.profile.valid_from {
            push(f.0);
        }
        if let Some(u) = self.profile.valid_to {
            push(u.0);
        }
        let schedule = &self.profile.charging_schedule;
        let mut occurrence = |start: DateTime<Utc>| {
            for p in &schedule.charging_schedule_period {
                push(start + Duration::seconds(i64::from(p.start_period)));
            }
            if let Some(d) = schedule.duration {
                push(start + Duration::seconds(i64::from(d)));
            }
        };
        match self.profile.charging_profile_kind {
            ChargingProfileKind::Absolute => occurrence(self.base),
            ChargingProfileKind::Relative => {
                if let Some(s) = tx_start {
                    occurrence(s);
                }
            }
            ChargingProfileKind::Recurring => {
                let Some(first) = self.occurrence_start(from, tx_start) else {
                    return;
                };
                let Some(period) = self.recurrence() else {
                    return;
                };
                let mut s = first;
                while s < to {
                    occurrence(s);
                    s += period;
                }
            }
        }
    }
}
