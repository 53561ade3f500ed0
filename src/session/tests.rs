//! The connector state machine: statuses, starts, stops and their reasons.

use super::connector::*;
use super::tariff::Tariff;
use crate::auth::{RiskCap, Source, Verdict};
use crate::ocpp::messages::{
    AuthorizationStatus, ChargePointErrorCode, ChargePointStatus, CiString20, Reason,
};
use chrono::{TimeDelta, TimeZone, Utc};

fn now(s: i64) -> Now {
    let utc = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap() + TimeDelta::seconds(s);
    Now {
        utc,
        local: utc.naive_utc(),
        mono: crate::clock::Mono::from_origin(std::time::Duration::from_secs(
            u64::try_from(1000 + s).unwrap_or(0),
        )),
    }
}

fn rules() -> Rules {
    Rules {
        requires_auth: true,
        free_vend: None,
        connection_timeout: TimeDelta::seconds(60),
        min_current_a: 6.0,
        hold_new_sessions: false,
    }
}

fn tag(s: &str) -> CiString20 {
    CiString20::new(s).unwrap()
}

fn obs(plugged: bool, charging: bool, register: f64) -> Observation {
    Observation {
        reachable: true,
        plugged,
        charging,
        fault: None,
        register_wh: Some(register),
        id_tag: None,
        offered_a: if charging { 16.0 } else { 0.0 },
    }
}

const ACCEPTED: Verdict = Verdict::Accepted {
    source: Source::Csms,
    cap: None,
};

/// Carry out a Start effect as the journal would, as transaction `local`.
fn start(c: &mut Connector, effects: &[Effect], local: u64, t: Now) {
    let start = effects
        .iter()
        .find(|e| matches!(e, Effect::Start { .. }))
        .unwrap_or_else(|| panic!("no start in {effects:?}"));
    c.started(local, start, t, None);
}

fn status(c: &Connector) -> ChargePointStatus {
    c.status(&rules()).status
}

fn stop_reason(effects: &[Effect]) -> Option<Reason> {
    effects.iter().find_map(|e| match e {
        Effect::Stop { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// Plug in, present `id`, accept it: a running transaction.
fn running(local: u64) -> Connector {
    let mut c = Connector::new(1, true);
    let r = rules();
    assert!(
        c.observe(obs(true, false, 1000.0), now(0), &r, None)
            .is_empty()
    );
    assert_eq!(status(&c), ChargePointStatus::Preparing);
    let e = c.present(tag("AbC"), now(1), &r);
    assert_eq!(e, vec![Effect::Authorize(tag("AbC"))]);
    let e = c.authorized(&tag("abc"), ACCEPTED, now(2), &r);
    assert_eq!(
        e,
        vec![Effect::Start {
            id_tag: tag("AbC"),
            meter_start_wh: 1000.0,
            at: now(2).utc
        }]
    );
    start(&mut c, &e, local, now(2));
    assert!(c.delivering());
    c
}

#[test]
fn plug_authorize_charge_unplug() {
    let r = rules();
    let mut c = running(7);
    c.observe(obs(true, true, 1500.0), now(10), &r, None);
    assert_eq!(status(&c), ChargePointStatus::Charging);
    let e = c.observe(obs(false, false, 2500.0), now(20), &r, None);
    assert_eq!(
        e,
        vec![Effect::Stop {
            local: 7,
            meter_stop_wh: 2500.0,
            at: now(20).utc,
            reason: Reason::EVDisconnected,
            id_tag: None,
            cost: None
        }]
    );
    assert_eq!(status(&c), ChargePointStatus::Finishing);
    assert!(c.stopped().is_empty());
    assert_eq!(status(&c), ChargePointStatus::Available);
    assert!(!c.delivering());
}

#[test]
fn suspended_statuses_follow_the_offer() {
    let r = rules();
    let mut c = running(1);
    let mut o = obs(true, false, 1000.0);
    o.offered_a = 16.0;
    c.observe(o.clone(), now(3), &r, None);
    assert_eq!(status(&c), ChargePointStatus::SuspendedEV);
    o.offered_a = 0.0;
    c.observe(o, now(4), &r, None);
    assert_eq!(status(&c), ChargePointStatus::SuspendedEVSE);
}

#[test]
fn the_meter_never_goes_back_and_a_stop_after_unplug_leaves_finishing_while_plugged() {
    let r = rules();
    let mut c = running(1);
    c.observe(obs(true, true, 1800.0), now(3), &r, None);
    c.observe(obs(true, true, 1700.0), now(4), &r, None);
    assert_eq!(c.tx().unwrap().register_wh, 1800.0);
    let e = c.remote_stop(1, now(5));
    assert_eq!(stop_reason(&e), Some(Reason::Remote));
    c.stopped();
    c.observe(obs(true, false, 1800.0), now(6), &r, None);
    assert_eq!(status(&c), ChargePointStatus::Finishing);
    // No new transaction on the same plug-in without a new id.
    assert!(
        c.observe(obs(true, false, 1800.0), now(7), &r, None)
            .is_empty()
    );
    c.observe(obs(false, false, 1800.0), now(8), &r, None);
    assert_eq!(status(&c), ChargePointStatus::Available);
}

#[test]
fn refused_ids_do_not_start_and_unrelated_answers_are_ignored() {
    let r = rules();
    let mut c = Connector::new(1, true);
    c.observe(obs(true, false, 0.0), now(0), &r, None);
    c.present(tag("X"), now(1), &r);
    assert!(c.authorized(&tag("Y"), ACCEPTED, now(2), &r).is_empty());
    let e = c.authorized(
        &tag("x"),
        Verdict::Refused(AuthorizationStatus::Blocked),
        now(2),
        &r,
    );
    assert!(e.is_empty());
    assert!(
        c.observe(obs(true, false, 0.0), now(3), &r, None)
            .is_empty()
    );
    assert_eq!(status(&c), ChargePointStatus::Preparing);
}

#[test]
fn an_id_before_the_vehicle_waits_for_the_connection_timeout() {
    let r = rules();
    let mut c = Connector::new(1, true);
    c.observe(obs(false, false, 0.0), now(0), &r, None);
    c.present(tag("A"), now(1), &r);
    assert!(c.authorized(&tag("A"), ACCEPTED, now(2), &r).is_empty());
    assert_eq!(status(&c), ChargePointStatus::Preparing);
    let e = c.observe(obs(true, false, 50.0), now(30), &r, None);
    assert!(matches!(&e[..], [Effect::Start { meter_start_wh, .. }] if *meter_start_wh == 50.0));
    // Too late: the acceptance lapsed.
    let mut c = Connector::new(1, true);
    c.present(tag("A"), now(1), &r);
    c.authorized(&tag("A"), ACCEPTED, now(2), &r);
    assert!(
        c.observe(obs(true, false, 0.0), now(70), &r, None)
            .is_empty()
    );
    assert_eq!(status(&c), ChargePointStatus::Preparing);
}

#[test]
fn remote_start_with_and_without_authorization() {
    let r = rules();
    let mut c = Connector::new(1, true);
    c.observe(obs(true, false, 10.0), now(0), &r, None);
    let e = c.remote_start(tag("R"), false, now(1), &r);
    assert!(matches!(&e[..], [Effect::Start { id_tag, .. }] if id_tag.as_str() == "R"));
    let mut c = Connector::new(1, true);
    c.observe(obs(true, false, 10.0), now(0), &r, None);
    assert_eq!(
        c.remote_start(tag("R"), true, now(1), &r),
        vec![Effect::Authorize(tag("R"))]
    );
}

#[test]
fn the_same_id_again_stops_locally() {
    let r = rules();
    let mut c = running(3);
    let e = c.present(tag("ABC"), now(5), &r);
    assert!(
        matches!(&e[..], [Effect::Stop { reason: Reason::Local, id_tag: Some(t), .. }] if t.as_str() == "ABC")
    );
    // Another id does nothing to a running transaction.
    let mut c = running(3);
    assert!(c.present(tag("other"), now(5), &r).is_empty());
}

#[test]
fn an_unknown_id_accepted_offline_stops_at_its_risk_cap() {
    let r = rules();
    let cap = RiskCap {
        max_energy_wh: 5000.0,
        max_duration: std::time::Duration::from_secs(4 * 3600),
    };
    let mut c = Connector::new(1, true);
    c.observe(obs(true, false, 1000.0), now(0), &r, None);
    c.present(tag("U"), now(0), &r);
    let v = Verdict::Accepted {
        source: Source::OfflineUnknown,
        cap: Some(cap),
    };
    let e = c.authorized(&tag("U"), v, now(1), &r);
    start(&mut c, &e, 1, now(1));
    assert!(
        c.observe(obs(true, true, 5999.0), now(100), &r, None)
            .is_empty()
    );
    let e = c.observe(obs(true, true, 6000.0), now(101), &r, None);
    assert_eq!(stop_reason(&e), Some(Reason::Other));
    // Once the CSMS accepts the id, the cap is lifted.
    let mut c = Connector::new(1, true);
    c.observe(obs(true, false, 1000.0), now(0), &r, None);
    c.present(tag("U"), now(0), &r);
    let e = c.authorized(&tag("U"), v, now(1), &r);
    start(&mut c, &e, 2, now(1));
    c.confirmed(2, true, true, 0.0, now(2));
    assert!(
        c.observe(obs(true, true, 9000.0), now(200), &r, None)
            .is_empty()
    );
}

#[test]
fn late_rejection_stops_or_suspends_after_the_allowance() {
    let r = rules();
    let mut c = running(4);
    let e = c.confirmed(4, false, true, 0.0, now(3));
    assert_eq!(stop_reason(&e), Some(Reason::DeAuthorized));

    let mut c = running(4);
    assert!(c.confirmed(4, false, false, 0.0, now(3)).is_empty());
    assert!(!c.delivering());
    c.observe(obs(true, false, 1000.0), now(4), &r, None);
    assert_eq!(status(&c), ChargePointStatus::SuspendedEVSE);

    let mut c = running(4);
    assert!(c.confirmed(4, false, true, 500.0, now(3)).is_empty());
    assert!(
        c.observe(obs(true, true, 1400.0), now(4), &r, None)
            .is_empty()
    );
    let e = c.observe(obs(true, true, 1500.0), now(5), &r, None);
    assert_eq!(stop_reason(&e), Some(Reason::DeAuthorized));
}

#[test]
fn unlock_stops_the_transaction_first() {
    let mut c = running(5);
    let e = c.unlock(now(3));
    assert_eq!(stop_reason(&e), Some(Reason::UnlockCommand));
    assert_eq!(c.stopped(), vec![Effect::Unlock]);
    let mut idle = Connector::new(2, true);
    assert_eq!(idle.unlock(now(3)), vec![Effect::Unlock]);
}

#[test]
fn faults_lost_chargers_and_availability() {
    let r = rules();
    let mut c = Connector::new(1, true);
    c.observe(
        Observation {
            reachable: false,
            ..Observation::default()
        },
        now(0),
        &r,
        None,
    );
    let s = c.status(&r);
    assert_eq!(
        (s.status, s.error_code),
        (
            ChargePointStatus::Faulted,
            ChargePointErrorCode::InternalError
        )
    );
    let mut o = obs(false, false, 0.0);
    o.fault = Some("3".into());
    c.observe(o, now(1), &r, None);
    let s = c.status(&r);
    assert_eq!(
        (s.status, s.error_code, s.vendor_error_code.as_deref()),
        (
            ChargePointStatus::Faulted,
            ChargePointErrorCode::OtherError,
            Some("3")
        )
    );
    c.set_operative(false);
    c.observe(obs(true, false, 0.0), now(2), &r, None);
    assert_eq!(status(&c), ChargePointStatus::Unavailable);
    // An inoperative connector starts nothing.
    c.present(tag("A"), now(3), &r);
    assert!(c.authorized(&tag("A"), ACCEPTED, now(3), &r).is_empty());
}

#[test]
fn a_lost_charger_keeps_its_transaction() {
    let r = rules();
    let mut c = running(6);
    let lost = Observation {
        reachable: false,
        ..Observation::default()
    };
    assert!(c.observe(lost, now(5), &r, None).is_empty());
    assert!(c.tx().is_some());
    assert_eq!(status(&c), ChargePointStatus::Faulted);
}

#[test]
fn free_vend_and_sites_without_a_csms_start_on_plug_in() {
    let mut r = rules();
    r.free_vend = Some(tag("FREE"));
    let mut c = Connector::new(1, true);
    let e = c.observe(obs(true, false, 0.0), now(0), &r, None);
    assert!(matches!(&e[..], [Effect::Start { id_tag, .. }] if id_tag.as_str() == "FREE"));

    let r = Rules {
        requires_auth: false,
        ..rules()
    };
    let mut c = Connector::new(1, true);
    let mut o = obs(true, false, 0.0);
    o.id_tag = Some("CARD1".into());
    let e = c.observe(o, now(0), &r, None);
    assert!(matches!(&e[..], [Effect::Start { id_tag, .. }] if id_tag.as_str() == "CARD1"));
}

#[test]
fn an_rfid_read_by_the_charger_is_presented_once() {
    let r = rules();
    let mut c = Connector::new(1, true);
    let mut o = obs(true, false, 0.0);
    o.id_tag = Some("CARD".into());
    assert_eq!(
        c.observe(o.clone(), now(0), &r, None),
        vec![Effect::Authorize(tag("CARD"))]
    );
    assert!(c.observe(o, now(1), &r, None).is_empty());
}

#[test]
fn the_cost_runs_with_the_register() {
    let r = rules();
    let tariff = Tariff {
        currency: "EUR".into(),
        price_per_kwh: 0.5,
        price_per_minute: 0.0,
        session_fee: 1.0,
        bands: vec![],
    };
    let mut c = Connector::new(1, true);
    c.observe(obs(true, false, 0.0), now(0), &r, Some(&tariff));
    c.present(tag("A"), now(0), &r);
    let e = c.authorized(&tag("A"), ACCEPTED, now(0), &r);
    let s = e.into_iter().next().unwrap();
    c.started(1, &s, now(0), Some(&tariff));
    c.observe(obs(true, true, 4000.0), now(600), &r, Some(&tariff));
    let e = c.observe(obs(false, false, 4000.0), now(700), &r, Some(&tariff));
    assert!(matches!(&e[..], [Effect::Stop { cost: Some(c), .. }] if (*c - 3.0).abs() < 1e-9));
}
