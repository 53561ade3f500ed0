use super::tests::{profile, shape, t0};
use super::*;
use crate::ocpp::messages::*;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
struct Spec {
    id: i32,
    purpose: ChargingProfilePurpose,
    connector: u32,
    level: i32,
    kind: u8,
    base_h: i64,
    periods: Vec<(i32, f64)>,
    duration: Option<i32>,
    valid: (Option<i64>, Option<i64>),
    watts: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    let purpose = prop_oneof![
        Just(ChargingProfilePurpose::ChargePointMaxProfile),
        Just(ChargingProfilePurpose::TxDefaultProfile),
        Just(ChargingProfilePurpose::TxProfile),
    ];
    let periods = proptest::collection::btree_map(1i32..(36 * 3600), 0u32..640, 0..4)
        .prop_flat_map(|rest| (0u32..640, Just(rest)))
        .prop_map(|(first, rest)| {
            let mut v = vec![(0, f64::from(first) / 10.0)];
            v.extend(rest.into_iter().map(|(s, l)| (s, f64::from(l) / 10.0)));
            v
        });
    (
        (1i32..8, purpose, 0u32..3, 0i32..4, 0u8..4, -48i64..48),
        periods,
        proptest::option::of(600i32..(3 * 86400)),
        (
            proptest::option::of(-72i64..72),
            proptest::option::of(-72i64..72),
        ),
        any::<bool>(),
    )
        .prop_map(
            |((id, purpose, connector, level, kind, base_h), periods, duration, valid, watts)| {
                Spec {
                    id,
                    purpose,
                    connector,
                    level,
                    kind,
                    base_h,
                    periods,
                    duration,
                    valid,
                    watts,
                }
            },
        )
}

fn build(s: &Spec) -> ChargingProfile {
    let mut p = profile(s.id, s.purpose, s.level, &s.periods);
    p.charging_profile_kind = match s.kind {
        0 => ChargingProfileKind::Absolute,
        1 | 2 => ChargingProfileKind::Recurring,
        _ => ChargingProfileKind::Relative,
    };
    p.recurrency_kind = match s.kind {
        1 => Some(RecurrencyKind::Daily),
        2 => Some(RecurrencyKind::Weekly),
        _ => None,
    };
    p.charging_schedule.start_schedule = Some(Timestamp(t0() + Duration::hours(s.base_h)));
    p.charging_schedule.duration = s.duration;
    p.valid_from = s.valid.0.map(|h| Timestamp(t0() + Duration::hours(h)));
    p.valid_to = s.valid.1.map(|h| Timestamp(t0() + Duration::hours(h)));
    if s.watts {
        p.charging_schedule.charging_rate_unit = ChargingRateUnit::W;
        for period in &mut p.charging_schedule.charging_schedule_period {
            period.limit *= 100.0;
        }
    }
    p
}

fn running() -> (BTreeMap<u32, ActiveTx>, ActiveTx) {
    let tx = ActiveTx {
        transaction_id: Some(42),
        started: t0() - Duration::hours(1),
    };
    (BTreeMap::from([(1, tx)]), tx)
}

fn install(specs: &[Spec]) -> ProfileStore {
    let (_, tx) = running();
    let mut store = ProfileStore::new(shape());
    for s in specs {
        let active = (s.connector == 1).then_some(&tx);
        let _ = store.set(s.connector, build(s), active, t0());
    }
    store
}

/// The limit of the highest-stacked profile of `purpose` on `connector` in force at `t`,
/// found independently of the store's own selection.
fn winner(
    store: &ProfileStore,
    purpose: ChargingProfilePurpose,
    connector: u32,
    phases: u8,
    t: DateTime<Utc>,
    tx: Option<&ActiveTx>,
) -> Option<f64> {
    let mut best: Option<(i32, f64)> = None;
    for p in store.profiles() {
        if p.connector != connector || p.profile.charging_profile_purpose != purpose {
            continue;
        }
        if let Some(a) = p.amps_at(t, tx.map(|x| x.started), 230.0, phases)
            && best.is_none_or(|(l, _)| p.stack_level() > l)
        {
            best = Some((p.stack_level(), a));
        }
    }
    best.map(|(_, a)| a)
}

fn value_at(schedule: &ChargingSchedule, offset: i64) -> f64 {
    schedule
        .charging_schedule_period
        .iter()
        .take_while(|p| i64::from(p.start_period) <= offset)
        .last()
        .map_or(f64::NAN, |p| p.limit)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn composite_never_exceeds_an_applicable_profile(
        specs in proptest::collection::vec(spec(), 0..7),
        samples in proptest::collection::vec(0i64..(2 * 86400), 1..40),
        connector in 0u32..3,
    ) {
        let store = install(&specs);
        let (txs, _) = running();
        let tx = txs.get(&connector);
        let c = store.composite(connector, t0(), 2 * 86400, ChargingRateUnit::A, &txs, None).unwrap();
        let starts: Vec<i32> = c.charging_schedule_period.iter().map(|p| p.start_period).collect();
        prop_assert!(starts.windows(2).all(|w| w[0] < w[1]));
        for off in samples {
            let t = t0() + Duration::seconds(off);
            let got = value_at(&c, off);
            let mut applicable = vec![winner(&store, ChargingProfilePurpose::ChargePointMaxProfile, 0, 3, t, None)];
            if connector != 0 {
                let n = store.shape.connectors[&connector].phases;
                let tx_limit = tx.and_then(|_| winner(&store, ChargingProfilePurpose::TxProfile, connector, n, t, tx))
                    .or_else(|| winner(&store, ChargingProfilePurpose::TxDefaultProfile, connector, n, t, tx))
                    .or_else(|| winner(&store, ChargingProfilePurpose::TxDefaultProfile, 0, n, t, tx));
                applicable.push(tx_limit);
                applicable.push(Some(store.shape.connectors[&connector].max_a));
            } else {
                applicable.push(Some(store.shape.site_max_a));
            }
            let bound = applicable.iter().flatten().copied().fold(f64::INFINITY, f64::min);
            prop_assert!(got <= bound + 1e-9, "at +{off}s composite {got} > {bound}");
            prop_assert!(got >= bound - 0.1 - 1e-9, "at +{off}s composite {got} far below {bound}");
        }
    }

    #[test]
    fn higher_stack_level_wins(
        low in 0i32..5, gap in 1i32..5, la in 0u32..640, lb in 0u32..640,
        purpose in prop_oneof![
            Just(ChargingProfilePurpose::ChargePointMaxProfile),
            Just(ChargingProfilePurpose::TxDefaultProfile),
            Just(ChargingProfilePurpose::TxProfile),
        ],
        high_first in any::<bool>(),
    ) {
        let (la, lb) = (f64::from(la) / 10.0, f64::from(lb) / 10.0);
        let connector = if purpose == ChargingProfilePurpose::ChargePointMaxProfile { 0 } else { 1 };
        let (txs, tx) = running();
        let mut store = ProfileStore::new(shape());
        let lo = profile(1, purpose, low, &[(0, la)]);
        let hi = profile(2, purpose, low + gap, &[(0, lb)]);
        let order = if high_first { [hi, lo] } else { [lo, hi] };
        for p in order {
            store.set(connector, p, Some(&tx), t0()).unwrap();
        }
        let limits = store.limits_at(t0() + Duration::minutes(5), &txs);
        prop_assert_eq!(limits.connectors.get(&1).copied(), Some(lb.min(if connector == 0 { lb } else { f64::INFINITY })));
    }

    #[test]
    fn clearing_removes_exactly_the_matching_profiles(
        specs in proptest::collection::vec(spec(), 0..8),
        id in proptest::option::of(1i32..8),
        connector in proptest::option::of(0i32..3),
        purpose in proptest::option::of(prop_oneof![
            Just(ChargingProfilePurpose::ChargePointMaxProfile),
            Just(ChargingProfilePurpose::TxDefaultProfile),
            Just(ChargingProfilePurpose::TxProfile),
        ]),
        level in proptest::option::of(0i32..4),
    ) {
        let mut store = install(&specs);
        let before: Vec<InstalledProfile> = store.profiles().to_vec();
        let req = ClearChargingProfile { id, connector_id: connector, charging_profile_purpose: purpose, stack_level: level };
        let status = store.clear(&req);
        let doomed = |p: &InstalledProfile| match id {
            Some(id) => p.profile.charging_profile_id == id,
            None => connector.is_none_or(|c| i64::from(c) == i64::from(p.connector))
                && purpose.is_none_or(|x| x == p.profile.charging_profile_purpose)
                && level.is_none_or(|l| l == p.profile.stack_level),
        };
        let expected: Vec<InstalledProfile> = before.iter().filter(|p| !doomed(p)).cloned().collect();
        prop_assert_eq!(store.profiles(), &expected[..]);
        let removed = before.len() != expected.len();
        prop_assert_eq!(status == ClearChargingProfileStatus::Accepted, removed);
    }
}
