use super::*;
use crate::ocpp::messages::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeMap;

pub(super) fn shape() -> SiteShape {
    let mut connectors = BTreeMap::new();
    connectors.insert(
        1,
        ConnectorShape {
            phases: 3,
            max_a: 32.0,
        },
    );
    connectors.insert(
        2,
        ConnectorShape {
            phases: 1,
            max_a: 16.0,
        },
    );
    SiteShape {
        nominal_voltage_v: 230.0,
        connectors,
        site_max_a: 63.0,
    }
}

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()
}

pub(super) fn profile(
    id: i32,
    purpose: ChargingProfilePurpose,
    level: i32,
    periods: &[(i32, f64)],
) -> ChargingProfile {
    ChargingProfile {
        charging_profile_id: id,
        transaction_id: None,
        stack_level: level,
        charging_profile_purpose: purpose,
        charging_profile_kind: ChargingProfileKind::Absolute,
        recurrency_kind: None,
        valid_from: None,
        valid_to: None,
        charging_schedule: ChargingSchedule {
            duration: None,
            start_schedule: Some(Timestamp(t0())),
            charging_rate_unit: ChargingRateUnit::A,
            charging_schedule_period: periods
                .iter()
                .map(|&(s, l)| ChargingSchedulePeriod {
                    start_period: s,
                    limit: l,
                    number_phases: None,
                })
                .collect(),
            min_charging_rate: None,
        },
    }
}

use ChargingProfilePurpose::*;

#[test]
fn max_profile_caps_the_site_and_each_connector() {
    let mut s = ProfileStore::new(shape());
    s.set(
        0,
        profile(1, ChargePointMaxProfile, 0, &[(0, 40.0), (3600, 20.0)]),
        None,
        t0(),
    )
    .unwrap();
    let l = s.limits_at(t0() + Duration::minutes(1), &BTreeMap::new());
    assert_eq!(l.site_cap_a, Some(40.0));
    assert_eq!(l.connectors.get(&1), Some(&40.0));
    let l = s.limits_at(t0() + Duration::hours(2), &BTreeMap::new());
    assert_eq!(l.site_cap_a, Some(20.0));
    assert_eq!(
        s.limits_at(t0() - Duration::hours(1), &BTreeMap::new()),
        Limits::default()
    );
}

#[test]
fn watts_become_amps_per_phase() {
    let mut s = ProfileStore::new(shape());
    let mut p = profile(1, TxDefaultProfile, 0, &[(0, 11040.0)]);
    p.charging_schedule.charging_rate_unit = ChargingRateUnit::W;
    s.set(0, p, None, t0()).unwrap();
    let l = s.limits_at(t0(), &BTreeMap::new());
    assert!((l.connectors[&1] - 16.0).abs() < 1e-9); // 3 phases
    assert!((l.connectors[&2] - 48.0).abs() < 1e-9); // 1 phase
}

#[test]
fn tx_profile_needs_a_transaction_and_beats_the_default() {
    let mut s = ProfileStore::new(shape());
    let tp = profile(5, TxProfile, 0, &[(0, 10.0)]);
    assert_eq!(
        s.set(1, tp.clone(), None, t0()),
        Err(ProfileRejection::NoTransaction)
    );
    assert_eq!(
        s.set(0, tp.clone(), None, t0()),
        Err(ProfileRejection::NoTransaction)
    );
    let tx = ActiveTx {
        transaction_id: Some(77),
        started: t0(),
    };
    let mut wrong = tp.clone();
    wrong.transaction_id = Some(78);
    assert_eq!(
        s.set(1, wrong, Some(&tx), t0()),
        Err(ProfileRejection::WrongTransaction(78))
    );
    s.set(0, profile(2, TxDefaultProfile, 9, &[(0, 20.0)]), None, t0())
        .unwrap();
    s.set(1, tp, Some(&tx), t0()).unwrap();
    let mut txs = BTreeMap::new();
    txs.insert(1, tx);
    let l = s.limits_at(t0(), &txs);
    assert_eq!(l.connectors.get(&1), Some(&10.0));
    assert_eq!(l.connectors.get(&2), Some(&20.0));
    assert!(s.transaction_ended(1));
    assert_eq!(
        s.limits_at(t0(), &BTreeMap::new()).connectors.get(&1),
        Some(&20.0)
    );
}

#[test]
fn connector_default_overrides_connector_zero_default() {
    let mut s = ProfileStore::new(shape());
    s.set(0, profile(1, TxDefaultProfile, 5, &[(0, 20.0)]), None, t0())
        .unwrap();
    s.set(2, profile(2, TxDefaultProfile, 0, &[(0, 8.0)]), None, t0())
        .unwrap();
    let l = s.limits_at(t0(), &BTreeMap::new());
    assert_eq!((l.connectors[&1], l.connectors[&2]), (20.0, 8.0));
}

#[test]
fn recurring_daily_and_relative_schedules() {
    let mut s = ProfileStore::new(shape());
    let mut p = profile(1, TxDefaultProfile, 0, &[(0, 6.0), (8 * 3600, 16.0)]);
    p.charging_profile_kind = ChargingProfileKind::Recurring;
    assert_eq!(
        s.set(1, p.clone(), None, t0()),
        Err(ProfileRejection::NoRecurrency)
    );
    p.recurrency_kind = Some(RecurrencyKind::Daily);
    s.set(1, p, None, t0()).unwrap();
    let at = |h: i64| s.connector_limit_at(1, t0() + Duration::hours(h), None);
    assert_eq!(
        (at(3), at(9), at(24 * 10 + 3), at(24 * 10 + 9)),
        (Some(6.0), Some(16.0), Some(6.0), Some(16.0))
    );

    let mut r = ProfileStore::new(shape());
    let mut rel = profile(3, TxDefaultProfile, 0, &[(0, 32.0), (600, 10.0)]);
    rel.charging_profile_kind = ChargingProfileKind::Relative;
    rel.charging_schedule.start_schedule = None;
    rel.charging_schedule.duration = Some(1200);
    r.set(1, rel, None, t0()).unwrap();
    assert_eq!(r.connector_limit_at(1, t0(), None), None);
    let tx = ActiveTx {
        transaction_id: None,
        started: t0() + Duration::hours(1),
    };
    let at = |s: i64| r.connector_limit_at(1, tx.started + Duration::seconds(s), Some(&tx));
    assert_eq!((at(10), at(700), at(1300)), (Some(32.0), Some(10.0), None));
}

#[test]
fn validity_window_bounds_a_profile() {
    let mut s = ProfileStore::new(shape());
    let mut p = profile(1, ChargePointMaxProfile, 0, &[(0, 30.0)]);
    p.valid_from = Some(Timestamp(t0() + Duration::hours(1)));
    p.valid_to = Some(Timestamp(t0() + Duration::hours(2)));
    s.set(0, p, None, t0()).unwrap();
    assert_eq!(s.site_cap_at(t0()), None);
    assert_eq!(s.site_cap_at(t0() + Duration::minutes(90)), Some(30.0));
    assert_eq!(s.site_cap_at(t0() + Duration::hours(2)), None);
}

#[test]
fn invalid_profiles_are_rejected() {
    let mut s = ProfileStore::new(shape());
    assert_eq!(
        s.set(9, profile(1, TxDefaultProfile, 0, &[(0, 1.0)]), None, t0()),
        Err(ProfileRejection::NoSuchConnector(9))
    );
    assert_eq!(
        s.set(
            1,
            profile(1, ChargePointMaxProfile, 0, &[(0, 1.0)]),
            None,
            t0()
        ),
        Err(ProfileRejection::MaxProfileNotOnZero)
    );
    for periods in [
        &[][..],
        &[(5, 1.0)][..],
        &[(0, 1.0), (0, 2.0)][..],
        &[(0, -1.0)][..],
    ] {
        assert!(matches!(
            s.set(1, profile(1, TxDefaultProfile, 0, periods), None, t0()),
            Err(ProfileRejection::BadSchedule(_))
        ));
    }
    assert!(s.profiles().is_empty());
}

#[test]
fn same_id_or_same_slot_replaces() {
    let mut s = ProfileStore::new(shape());
    s.set(0, profile(1, TxDefaultProfile, 0, &[(0, 10.0)]), None, t0())
        .unwrap();
    s.set(0, profile(1, TxDefaultProfile, 3, &[(0, 11.0)]), None, t0())
        .unwrap();
    assert_eq!(s.profiles().len(), 1);
    s.set(0, profile(2, TxDefaultProfile, 3, &[(0, 12.0)]), None, t0())
        .unwrap();
    assert_eq!(s.profiles().len(), 1);
    assert_eq!(s.profiles()[0].id(), 2);
}

#[test]
fn composite_reports_what_the_site_does() {
    let mut s = ProfileStore::new(shape());
    s.set(
        0,
        profile(1, ChargePointMaxProfile, 0, &[(0, 40.0), (600, 20.0)]),
        None,
        t0(),
    )
    .unwrap();
    s.set(0, profile(2, TxDefaultProfile, 0, &[(0, 25.0)]), None, t0())
        .unwrap();
    let c = s
        .composite(1, t0(), 1800, ChargingRateUnit::A, &BTreeMap::new(), None)
        .unwrap();
    let got: Vec<(i32, f64)> = c
        .charging_schedule_period
        .iter()
        .map(|p| (p.start_period, p.limit))
        .collect();
    assert_eq!(got, vec![(0, 25.0), (600, 20.0)]);
    assert_eq!(c.duration, Some(1800));
    // the local cap and the hardware limit count too
    let c = s
        .composite(
            2,
            t0(),
            1800,
            ChargingRateUnit::A,
            &BTreeMap::new(),
            Some(18.0),
        )
        .unwrap();
    let got: Vec<(i32, f64)> = c
        .charging_schedule_period
        .iter()
        .map(|p| (p.start_period, p.limit))
        .collect();
    assert_eq!(got, vec![(0, 16.0)]);
    let w = s
        .composite(0, t0(), 1800, ChargingRateUnit::W, &BTreeMap::new(), None)
        .unwrap();
    assert_eq!(w.charging_schedule_period[0].limit, 27600.0);
    assert!(
        s.composite(7, t0(), 60, ChargingRateUnit::A, &BTreeMap::new(), None)
            .is_none()
    );
}

#[test]
fn clear_by_id_or_criteria() {
    let mut s = ProfileStore::new(shape());
    s.set(0, profile(1, TxDefaultProfile, 0, &[(0, 10.0)]), None, t0())
        .unwrap();
    s.set(1, profile(2, TxDefaultProfile, 1, &[(0, 10.0)]), None, t0())
        .unwrap();
    s.set(
        0,
        profile(3, ChargePointMaxProfile, 0, &[(0, 10.0)]),
        None,
        t0(),
    )
    .unwrap();
    let by_id = ClearChargingProfile {
        id: Some(2),
        connector_id: Some(0),
        charging_profile_purpose: None,
        stack_level: None,
    };
    assert_eq!(s.clear(&by_id), ClearChargingProfileStatus::Accepted);
    assert_eq!(s.clear(&by_id), ClearChargingProfileStatus::Unknown);
    let by_purpose = ClearChargingProfile {
        id: None,
        connector_id: None,
        charging_profile_purpose: Some(TxDefaultProfile),
        stack_level: None,
    };
    assert_eq!(s.clear(&by_purpose), ClearChargingProfileStatus::Accepted);
    assert_eq!(s.profiles().len(), 1);
    assert_eq!(s.profiles()[0].id(), 3);
}
