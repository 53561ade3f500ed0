//! The fail-closed rules for readings that cannot be trusted and for chargers gone silent:
//! scenario tests and properties.

use super::observe::judge_meter;
use super::*;
use crate::driver::{DeviceReading, Implausible, Plausible};
use crate::phase::{PerPhase, Phase};
use proptest::prelude::*;

const FALLBACK_A: f64 = 6.0;

/// A grid connection of `limit` A per phase with its meter, and one three-phase charger per
/// entry of `max` (min 6 A), whose failsafe is the fallback current after `failsafe_after_s`.
fn site(limit: f64, max: &[f64], failsafe_after_s: Option<f64>) -> SiteModel {
    let circuits = vec![CircuitNode {
        name: "grid".into(),
        parent: None,
        limit_a: PerPhase::splat(limit),
        meter: Some(0),
        depth: 0,
    }];
    let chargers = max
        .iter()
        .enumerate()
        .map(|(i, m)| ChargerNode {
            name: format!("ch{i}"),
            circuit: 0,
            wiring: Phase::ALL.to_vec(),
            min_a: 6.0,
            max_a: *m,
            priority: 0,
            path: vec![0],
            per_phase: PerPhase::splat(1.0),
            failsafe: failsafe_after_s.map(|after_s| Failsafe {
                current_a: FALLBACK_A,
                after_s,
            }),
        })
        .collect();
    SiteModel {
        circuits,
        chargers,
        settings: Settings {
            margin_a: 1.0,
            fallback_a: FALLBACK_A,
            stale_after_s: 5.0,
            ramp_a_per_s: 1e9,
            hysteresis_a: 0.0,
            rotation_period_s: 60.0,
            lost_counts_max: false,
            detect_car_phases: false,
        },
        meters: vec!["grid".into()],
    }
}

fn range(limit: f64) -> Plausible {
    Plausible {
        max_current_a: 3.0 * limit,
        negative_tolerance_a: 1.0,
        require_currents: true,
        voltage_band_v: Some((161.0, 299.0)),
    }
}

/// The meter's observation from its reading, judged as `observe` judges it.
fn meter_obs(reading: &DeviceReading, limit: f64) -> MeterObs {
    let judged = judge_meter(&Phase::ALL, reading, &range(limit));
    MeterObs {
        current_a: judged.ok(),
        age_s: Some(0.2),
        invalid: judged.err(),
    }
}

fn reading(currents: [f64; 3]) -> DeviceReading {
    DeviceReading {
        currents_a: PerPhase(currents.map(Some)),
        voltages_v: PerPhase([Some(230.0); 3]),
        ..DeviceReading::default()
    }
}

fn charging(n: usize, draw: f64) -> Vec<ChargerObs> {
    (0..n)
        .map(|_| ChargerObs {
            answering: true,
            connected: true,
            draw_a: PerPhase::splat(draw),
            silent_s: Some(0.2),
            ..ChargerObs::default()
        })
        .collect()
}

/// One cycle from a state as after a first cycle a second before (the ramp does not hold it).
fn plan(m: &SiteModel, snap: &Snapshot) -> CyclePlan {
    let mut st = ControlState::new(m);
    st.set_last(-1.0);
    plan_cycle(m, snap, &mut st, 0.0)
}

/// A bad value on one phase: NaN, an infinity, far above the range, or below zero.
fn bad_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (200.0f64..1e9),
        (-1e9f64..-1.5),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    /// For any reading with a non-finite, absurd or negative phase (or a phase missing) the plan
    /// is the plan for a stale meter, and no charger under it gets more than the fallback.
    #[test]
    fn a_bad_phase_gives_the_fallback_plan(
        limit in 40.0f64..63.0,
        load in prop::array::uniform3(0.0f64..40.0),
        max in prop::collection::vec(6.0f64..32.0, 1..6),
        draw in 0.0f64..10.0,
        phase in 0usize..3,
        bad in bad_value(),
        missing in any::<bool>(),
    ) {
        let m = site(limit, &max, None);
        let mut r = reading(load);
        r.currents_a.0[phase] = if missing { None } else { Some(bad) };
        let obs = meter_obs(&r, limit);
        prop_assert!(obs.invalid.is_some(), "{obs:?}");
        let bad_snap = Snapshot {
            meters: vec![obs],
            chargers: charging(max.len(), draw),
            site_cap: None,
        };
        let stale_snap = Snapshot {
            meters: vec![MeterObs::default()],
            ..bad_snap.clone()
        };
        let bad_plan = plan(&m, &bad_snap);
        // The same plan as for a stale meter, but for the reason it names.
        let mut as_stale = bad_plan.clone();
        for sp in &mut as_stale.setpoints {
            if let Reason::FallbackImplausible(name) = &sp.reason {
                sp.reason = Reason::Fallback(name.clone());
            }
        }
        prop_assert_eq!(&as_stale, &plan(&m, &stale_snap));
        prop_assert!(bad_plan.fallback, "{bad_plan:?}");
        let mut sum = 0.0;
        for sp in &bad_plan.setpoints {
            // At the fallback current, or held below it where even that does not fit.
            prop_assert!(
                matches!(sp.reason, Reason::FallbackImplausible(_) | Reason::Ramping),
                "{sp:?}"
            );
            prop_assert!(sp.amps <= FALLBACK_A + 1e-9, "{sp:?}");
            sum += sp.amps;
        }
        prop_assert!(sum <= FALLBACK_A * max.len() as f64 + 1e-9);
    }

    /// A plausible reading is used as it is: no fallback.
    #[test]
    fn a_plausible_reading_is_used(
        limit in 40.0f64..63.0,
        load in prop::array::uniform3(0.0f64..40.0),
    ) {
        let obs = meter_obs(&reading(load), limit);
        prop_assert_eq!(obs.invalid, None);
        prop_assert_eq!(obs.current_a, Some(PerPhase(load)));
        let m = site(limit, &[32.0], None);
        let snap = Snapshot { meters: vec![obs], chargers: charging(1, 0.0), site_cap: None };
        prop_assert!(!plan(&m, &snap).fallback);
    }

    /// A silent charger is counted at least at its last setpoint, and at least at its failsafe
    /// current once it has been silent for its failsafe time (or was never heard).
    #[test]
    fn a_silent_charger_is_counted_at_its_failsafe_once_it_may_be_in_it(
        setpoint in 0.0f64..32.0,
        silent in proptest::option::of(0.0f64..120.0),
        after in 0.0f64..60.0,
        counts_max in any::<bool>(),
    ) {
        let m = site(63.0, &[32.0], Some(after));
        let counted = lost_counted(&m.chargers[0], setpoint, silent, counts_max);
        prop_assert!(counted >= setpoint);
        if counts_max {
            prop_assert!(counted >= 32.0);
        }
        if silent.is_none_or(|t| t >= after) {
            prop_assert!(counted >= FALLBACK_A);
        } else {
            prop_assert_eq!(counted, if counts_max { 32.0 } else { setpoint });
        }
    }

    /// Whatever the others get leaves room for a paused charger that went silent to come back at
    /// its failsafe current.
    #[test]
    fn the_others_leave_room_for_a_lost_chargers_failsafe(
        limit in 30.0f64..63.0,
        load in 0.0f64..20.0,
        n in 1usize..5,
        silent in 10.0f64..100.0,
    ) {
        let m = site(limit, &vec![32.0; n + 1], Some(10.0));
        let mut chargers = charging(n + 1, 0.0);
        chargers[0].answering = false;
        chargers[0].silent_s = Some(silent);
        let snap = Snapshot {
            meters: vec![meter_obs(&reading([load; 3]), limit)],
            chargers,
            site_cap: None,
        };
        // It was paused: its last setpoint is 0 A.
        let p = plan(&m, &snap);
        prop_assert_eq!(&p.setpoints[0].reason, &Reason::Lost);
        let others: f64 = p.setpoints[1..].iter().map(|s| s.amps).sum();
        prop_assert!(
            load + others + FALLBACK_A <= limit - 1.0 + 1e-6,
            "{load} + {others} + {FALLBACK_A} over {limit} - 1: {p:?}"
        );
    }
}

#[test]
fn a_paused_charger_lost_before_its_failsafe_time_is_counted_at_its_setpoint() {
    let m = site(63.0, &[32.0], Some(45.0));
    assert_eq!(lost_counted(&m.chargers[0], 0.0, Some(44.0), false), 0.0);
    assert_eq!(lost_counted(&m.chargers[0], 0.0, Some(45.0), false), 6.0);
    assert_eq!(lost_counted(&m.chargers[0], 0.0, None, false), 6.0);
    assert_eq!(lost_counted(&m.chargers[0], 16.0, Some(100.0), false), 16.0);
    // Without a failsafe it keeps what it was last given.
    let m = site(63.0, &[32.0], None);
    assert_eq!(lost_counted(&m.chargers[0], 0.0, Some(1000.0), false), 0.0);
}

#[test]
fn an_implausible_charger_current_is_counted_at_its_max() {
    // 63 A, 1 A margin, no other load: with c0 counted at 32 A, c1 gets the 30 A left.
    let m = site(63.0, &[32.0, 32.0], None);
    let mut chargers = charging(2, 0.0);
    chargers[0].implausible = Some(Implausible::CurrentOutOfRange {
        phase: Phase::L1,
        value_a: 1e6,
    });
    let snap = Snapshot {
        meters: vec![meter_obs(&reading([0.0; 3]), 63.0)],
        chargers,
        site_cap: None,
    };
    let p = plan(&m, &snap);
    assert!(
        matches!(p.setpoints[0].reason, Reason::Implausible(_)),
        "{p:?}"
    );
    assert_eq!(p.setpoints[0].amps, 0.0, "its setpoint is held");
    assert!((p.setpoints[1].amps - 30.0).abs() < 1e-6, "{p:?}");
}

#[test]
fn a_meter_missing_a_wired_phase_is_invalid_but_an_unwired_one_is_not() {
    let mut r = reading([10.0; 3]);
    r.currents_a.0[2] = None;
    assert_eq!(
        judge_meter(&Phase::ALL, &r, &range(63.0)),
        Err(Implausible::MissingPhase { phase: Phase::L3 })
    );
    // A one-phase meter on grid L2 measures its own L1 only.
    let one = judge_meter(&[Phase::L2], &r, &range(63.0));
    assert_eq!(one, Ok(PerPhase([0.0, 10.0, 0.0])));
}

#[test]
fn the_failsafe_comes_from_the_driver_and_the_sites_fallback_current() {
    let text = r#"
[site]
id = "t"
name = "t"
grid_limit_a = 63
grid_meter = "grid"
fallback_current_a = 8

[[buses]]
name = "lan"
kind = "tcp"
host = "127.0.0.1"
port = 502

[[meters]]
name = "grid"
driver = "eastron-sdm630"
bus = "lan"
unit = 1

[[chargers]]
name = "abb"
driver = "abb-terra-ac"
bus = "lan"
unit = 11
max_current_a = 32
connector = 1

[[chargers]]
name = "etrel"
driver = "etrel-inch"
bus = "lan"
unit = 12
max_current_a = 32
connector = 2
"#;
    let site = crate::site::load_site_str(
        text,
        std::path::Path::new("site.toml"),
        &crate::config::EnvSource::Map(Default::default()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let config = &site.loaded.config;
    let m = SiteModel::from_config(config)
        .unwrap()
        .with_failsafes(config, &site.registry);
    // ABB Terra AC: 60 s timeout, the setpoint rewritten every 15 s.
    assert_eq!(
        m.chargers[0].failsafe,
        Some(Failsafe {
            current_a: 8.0,
            after_s: 45.0
        })
    );
    // The Etrel INCH has no failsafe: it keeps its last setpoint.
    assert_eq!(m.chargers[1].failsafe, None);
}

#[test]
fn an_implausible_charger_under_a_stale_meter_falls_back_too() {
    let m = site(63.0, &[32.0], None);
    let mut chargers = charging(1, 0.0);
    chargers[0].implausible = Some(Implausible::NotFinite { phase: Phase::L2 });
    let snap = Snapshot {
        meters: vec![MeterObs::default()],
        chargers,
        site_cap: None,
    };
    let mut st = ControlState::new(&m);
    st.setpoints[0] = 20.0;
    st.set_last(-1.0);
    let p = plan_cycle(&m, &snap, &mut st, 0.0);
    assert_eq!(p.setpoints[0].amps, FALLBACK_A, "{p:?}");
    assert!(
        matches!(p.setpoints[0].reason, Reason::Fallback(_)),
        "{p:?}"
    );
}
