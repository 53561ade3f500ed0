//! The installed charging profiles: SetChargingProfile and ClearChargingProfile rules.

use super::schedule::InstalledProfile;
use crate::ocpp::messages::{
    ChargingProfile, ChargingProfileKind, ChargingProfilePurpose, ChargingProfileStatus,
    ClearChargingProfile, ClearChargingProfileStatus,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the site is physically: used to convert watts and to answer GetCompositeSchedule with
/// what the site will actually do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteShape {
    /// Nominal phase-to-neutral voltage (V) for W <-> A.
    pub nominal_voltage_v: f64,
    /// Connectors 1..N: phases and highest current (A per phase).
    pub connectors: BTreeMap<u32, ConnectorShape>,
    /// The grid connection's limit (A per phase).
    pub site_max_a: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConnectorShape {
    pub phases: u8,
    pub max_a: f64,
}

/// A running transaction as far as charging profiles care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveTx {
    /// The CSMS's transactionId, once known.
    pub transaction_id: Option<i32>,
    pub started: DateTime<Utc>,
}

/// Why a profile is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileRejection {
    #[error("connector {0} does not exist")]
    NoSuchConnector(u32),
    #[error("ChargePointMaxProfile belongs on connector 0")]
    MaxProfileNotOnZero,
    #[error("ChargePointMaxProfile cannot be relative")]
    MaxProfileRelative,
    #[error("TxProfile needs a connector with a running transaction")]
    NoTransaction,
    #[error("TxProfile names transaction {0}, which is not running on that connector")]
    WrongTransaction(i32),
    #[error("a recurring profile needs recurrencyKind")]
    NoRecurrency,
    #[error("the schedule is invalid: {0}")]
    BadSchedule(&'static str),
}

/// The installed profiles; serializable so the daemon can persist them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileStore {
    pub shape: SiteShape,
    profiles: Vec<InstalledProfile>,
}

impl ProfileStore {
    pub fn new(shape: SiteShape) -> Self {
        ProfileStore {
            shape,
            profiles: Vec::new(),
        }
    }

    pub fn profiles(&self) -> &[InstalledProfile] {
        &self.profiles
    }

    /// SetChargingProfile on `connector`; `tx` is the transaction running there, if any.
    pub fn set(
        &mut self,
        connector: u32,
        profile: ChargingProfile,
        tx: Option<&ActiveTx>,
        now: DateTime<Utc>,
    ) -> Result<(), ProfileRejection> {
        self.check(connector, &profile, tx)?;
        let base = profile
            .charging_schedule
            .start_schedule
            .map_or(now, |s| s.0);
        let p = &profile;
        self.profiles.retain(|old| {
            let same_slot = old.connector == connector
                && old.profile.stack_level == p.stack_level
                && old.profile.charging_profile_purpose == p.charging_profile_purpose;
            old.id() != p.charging_profile_id && !same_slot
        });
        self.profiles.push(InstalledProfile {
            connector,
            profile,
            base,
        });
        Ok(())
    }

    /// [`set`](Self::set) as the SetChargingProfile.conf status.
    pub fn set_status(
        &mut self,
        connector: u32,
        profile: ChargingProfile,
        tx: Option<&ActiveTx>,
        now: DateTime<Utc>,
    ) -> ChargingProfileStatus {
        match self.set(connector, profile, tx, now) {
            Ok(()) => ChargingProfileStatus::Accepted,
            Err(e) => {
                tracing::info!(connector, "charging profile rejected: {e}");
                ChargingProfileStatus::Rejected
            }
        }
    }

    fn check(
        &self,
        connector: u32,
        p: &ChargingProfile,
        tx: Option<&ActiveTx>,
    ) -> Result<(), ProfileRejection> {
        use ProfileRejection as R;
        if connector != 0 && !self.shape.connectors.contains_key(&connector) {
            return Err(R::NoSuchConnector(connector));
        }
        match p.charging_profile_purpose {
            ChargingProfilePurpose::ChargePointMaxProfile => {
                if connector != 0 {
                    return Err(R::MaxProfileNotOnZero);
                }
                if p.charging_profile_kind == ChargingProfileKind::Relative {
                    return Err(R::MaxProfileRelative);
                }
            }
            ChargingProfilePurpose::TxProfile => {
                let Some(tx) = tx.filter(|_| connector != 0) else {
                    return Err(R::NoTransaction);
                };
                if let (Some(want), Some(have)) = (p.transaction_id, tx.transaction_id)
                    && want != have
                {
                    return Err(R::WrongTransaction(want));
                }
            }
            ChargingProfilePurpose::TxDefaultProfile => {}
        }
        if p.charging_profile_kind == ChargingProfileKind::Recurring && p.recurrency_kind.is_none()
        {
            return Err(R::NoRecurrency);
        }
        check_schedule(p)
    }

    /// ClearChargingProfile: with an id, that profile; else every profile matching all the given
    /// criteria. Accepted when something was removed.
    pub fn clear(&mut self, req: &ClearChargingProfile) -> ClearChargingProfileStatus {
        let before = self.profiles.len();
        self.profiles.retain(|p| !clear_matches(req, p));
        if self.profiles.len() < before {
            ClearChargingProfileStatus::Accepted
        } else {
            ClearChargingProfileStatus::Unknown
        }
    }

    /// A transaction on `connector` ended: its TxProfiles go with it.
    pub fn transaction_ended(&mut self, connector: u32) -> bool {
        let before = self.profiles.len();
        self.profiles.retain(|p| {
            !(p.connector == connector
                && p.profile.charging_profile_purpose == ChargingProfilePurpose::TxProfile)
        });
        self.profiles.len() < before
    }
}

/// Whether ClearChargingProfile `req` removes `p`.
pub fn clear_matches(req: &ClearChargingProfile, p: &InstalledProfile) -> bool {
    if let Some(id) = req.id {
        return p.id() == id;
    }
    req.connector_id
        .is_none_or(|c| u32::try_from(c).is_ok_and(|c| c == p.connector))
        && req
            .charging_profile_purpose
            .is_none_or(|pp| pp == p.profile.charging_profile_purpose)
        && req.stack_level.is_none_or(|s| s == p.stack_level())
}

fn check_schedule(p: &ChargingProfile) -> Result<(), ProfileRejection> {
    let bad = |why| Err(ProfileRejection::BadSchedule(why));
    let s = &p.charging_schedule;
    if p.stack_level < 0 {
        return bad("negative stackLevel");
    }
    if let (Some(f), Some(u)) = (p.valid_from, p.valid_to)
        && u <= f
    {
        return bad("validTo is not after validFrom");
    }
    if s.duration.is_some_and(|d| d <= 0) {
        return bad("duration must be positive");
    }
    match s.charging_schedule_period.first() {
        None => return bad("no periods"),
        Some(first) if first.start_period != 0 => return bad("the first period must start at 0"),
        Some(_) => {}
    }
    if s.charging_schedule_period
        .windows(2)
        .any(|w| w[1].start_period <= w[0].start_period)
    {
        return bad("periods must start in increasing order");
    }
    for period in &s.charging_schedule_period {
        if !period.limit.is_finite() || period.limit < 0.0 {
            return bad("limits must be zero or more");
        }
        if period.number_phases.is_some_and(|n| !(1..=3).contains(&n)) {
            return bad("numberPhases must be 1, 2 or 3");
        }
    }
    if s.min_charging_rate
        .is_some_and(|m| !m.is_finite() || m < 0.0)
    {
        return bad("minChargingRate must be zero or more");
    }
    Ok(())
}
