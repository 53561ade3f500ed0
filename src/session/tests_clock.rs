//! The connection timeout and the risk cap's duration run on the monotonic clock: the wall
//! clock set back an hour or forward a day neither stretches nor cuts them.

use super::connector::*;
use crate::auth::{RiskCap, Source, Verdict};
use crate::clock::Mono;
use crate::ocpp::messages::{CiString20, Reason};
use chrono::{TimeDelta, TimeZone, Utc};
use std::time::Duration;

/// `s` seconds into the test on the monotonic clock, the wall clock set `jump` away.
fn at(s: u64, jump: TimeDelta) -> Now {
    let utc = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap()
        + TimeDelta::seconds(i64::try_from(s).unwrap())
        + jump;
    Now {
        utc,
        local: utc.naive_utc(),
        mono: Mono::from_origin(Duration::from_secs(1000 + s)),
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

fn obs(plugged: bool, register: f64) -> Observation {
    Observation {
        reachable: true,
        plugged,
        charging: plugged,
        register_wh: Some(register),
        offered_a: if plugged { 16.0 } else { 0.0 },
        ..Default::default()
    }
}

const ACCEPTED: Verdict = Verdict::Accepted {
    source: Source::Csms,
    cap: None,
};

fn starts(effects: &[Effect]) -> bool {
    effects.iter().any(|e| matches!(e, Effect::Start { .. }))
}

fn stop_reason(effects: &[Effect]) -> Option<Reason> {
    effects.iter().find_map(|e| match e {
        Effect::Stop { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// An id accepted at 2 s, before any vehicle, with the wall clock jumping `jump` at 3 s.
fn accepted_then_jump(plug_at: u64, jump: TimeDelta) -> Vec<Effect> {
    let r = rules();
    let zero = TimeDelta::zero();
    let mut c = Connector::new(1, true);
    c.observe(obs(false, 0.0), at(0, zero), &r, None);
    c.present(tag("A"), at(1, zero), &r);
    assert!(
        c.authorized(&tag("A"), ACCEPTED, at(2, zero), &r)
            .is_empty()
    );
    assert!(c.observe(obs(false, 0.0), at(3, jump), &r, None).is_empty());
    c.observe(obs(true, 0.0), at(plug_at, jump), &r, None)
}

#[test]
fn the_connection_timeout_ignores_wall_clock_jumps() {
    for jump in [TimeDelta::hours(-1), TimeDelta::days(1)] {
        // within 60 s of the acceptance on the monotonic clock: it starts
        assert!(starts(&accepted_then_jump(61, jump)), "{jump}");
        // later: the acceptance lapsed
        assert!(!starts(&accepted_then_jump(63, jump)), "{jump}");
    }
}

/// A transaction of an unknown id accepted offline (4 h, 5 kWh risk cap), started at 1 s.
fn capped() -> Connector {
    let r = rules();
    let zero = TimeDelta::zero();
    let cap = RiskCap {
        max_energy_wh: 5000.0,
        max_duration: Duration::from_secs(4 * 3600),
    };
    let mut c = Connector::new(1, true);
    c.observe(obs(false, 1000.0), at(0, zero), &r, None);
    c.present(tag("U"), at(0, zero), &r);
    let v = Verdict::Accepted {
        source: Source::OfflineUnknown,
        cap: Some(cap),
    };
    c.authorized(&tag("U"), v, at(1, zero), &r);
    let e = c.observe(obs(true, 1000.0), at(1, zero), &r, None);
    let start = e
        .iter()
        .find(|e| matches!(e, Effect::Start { .. }))
        .unwrap_or_else(|| panic!("no start in {e:?}"));
    c.started(1, start, at(1, zero), None);
    c
}

#[test]
fn the_risk_cap_duration_ignores_wall_clock_jumps() {
    let r = rules();
    let four_h = 4 * 3600;
    // a day ahead does not end the session early
    let mut c = capped();
    let e = c.observe(obs(true, 1500.0), at(10, TimeDelta::days(1)), &r, None);
    assert_eq!(stop_reason(&e), None, "{e:?}");
    let e = c.observe(obs(true, 1600.0), at(four_h, TimeDelta::days(1)), &r, None);
    assert_eq!(stop_reason(&e), None, "{e:?}");
    let e = c.observe(
        obs(true, 1700.0),
        at(four_h + 1, TimeDelta::days(1)),
        &r,
        None,
    );
    assert_eq!(stop_reason(&e), Some(Reason::Other));
    // an hour back does not let it run an hour longer
    let mut c = capped();
    let back = TimeDelta::hours(-1);
    assert_eq!(
        stop_reason(&c.observe(obs(true, 1500.0), at(10, back), &r, None)),
        None
    );
    let e = c.observe(obs(true, 1700.0), at(four_h + 1, back), &r, None);
    assert_eq!(stop_reason(&e), Some(Reason::Other));
}
