//! The kept events, and the rule they serve: every car session on a connector is a transaction
//! of its own, in order, whatever the journal did meanwhile.

use super::*;
use crate::session::connector::{Connector, Now, Observation, Rules};
use chrono::{TimeDelta, TimeZone};
use proptest::prelude::*;

fn at(s: i64) -> Now {
    let utc = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap() + TimeDelta::seconds(s);
    Now {
        utc,
        local: utc.naive_utc(),
        mono: crate::clock::Mono::from_origin(std::time::Duration::from_secs((1000 + s) as u64)),
    }
}

fn rules() -> Rules {
    Rules {
        requires_auth: false,
        free_vend: None,
        connection_timeout: TimeDelta::seconds(60),
        min_current_a: 6.0,
        hold_new_sessions: false,
    }
}

fn obs(plugged: bool, register: f64) -> Observation {
    Observation {
        reachable: true,
        plugged,
        charging: plugged,
        register_wh: Some(register),
        id_tag: Some("CAR".into()),
        offered_a: 16.0,
        ..Observation::default()
    }
}

/// A journal that can be made to fail, as the database does: (id, started_at, stopped_at).
#[derive(Default)]
struct Journal {
    up: bool,
    rows: Vec<(LocalTxId, DateTime<Utc>, Option<DateTime<Utc>>)>,
}

impl Journal {
    fn start(&mut self, at: DateTime<Utc>) -> Option<LocalTxId> {
        if !self.up {
            return None;
        }
        let id = self.rows.len() as LocalTxId + 1;
        self.rows.push((id, at, None));
        Some(id)
    }

    fn stop(&mut self, local: LocalTxId, at: DateTime<Utc>) -> bool {
        if !self.up {
            return false;
        }
        let row = &mut self.rows[(local - 1) as usize];
        assert!(row.2.is_none(), "transaction {local} stopped twice");
        row.2 = Some(at);
        true
    }
}

/// One connector as the sessions task drives it: effects journaled, or kept when the journal
/// fails or events wait already; kept events journaled in order when it works again.
struct Harness {
    machine: Connector,
    kept: Unjournaled,
    journal: Journal,
    register: f64,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            machine: Connector::new(1, true),
            kept: Unjournaled::new(1),
            journal: Journal {
                up: true,
                ..Journal::default()
            },
            register: 0.0,
        }
    }

    fn observe(&mut self, plugged: bool, t: i64) {
        self.register += 100.0;
        let now = at(t);
        let effects = self
            .machine
            .observe(obs(plugged, self.register), now, &rules(), None);
        for e in effects {
            match &e {
                Effect::Start { at, .. } => {
                    let local = if self.kept.is_empty() {
                        self.journal.start(*at)
                    } else {
                        None
                    };
                    let local = local.or_else(|| self.kept.keep_start(&e)).unwrap();
                    self.machine.started(local, &e, now, None);
                }
                Effect::Stop { local, at, .. } => {
                    let written = self.kept.is_empty()
                        && !is_provisional(*local)
                        && self.journal.stop(*local, *at);
                    if !written {
                        assert!(self.kept.keep_stop(&e));
                    }
                    self.machine.stopped();
                }
                _ => {}
            }
        }
    }

    fn replay(&mut self) {
        while let Some(event) = self.kept.front().cloned() {
            match event {
                Event::Start {
                    provisional, at, ..
                } => {
                    let Some(local) = self.journal.start(at) else {
                        return;
                    };
                    self.kept.journaled(Some(local));
                    self.machine.rebind(provisional, local);
                }
                Event::Stop { local, at, .. } => {
                    assert!(!is_provisional(local), "a stop before its start");
                    if !self.journal.stop(local, at) {
                        return;
                    }
                    self.kept.journaled(None);
                }
            }
        }
    }
}

#[test]
fn a_stop_kept_in_memory_ends_its_transaction_and_the_next_car_is_a_new_one() {
    let mut h = Harness::new();
    h.observe(true, 0);
    assert_eq!(h.journal.rows.len(), 1);
    h.journal.up = false;
    h.observe(false, 10);
    assert_eq!(h.kept.len(), 1, "the stop is kept");
    h.observe(true, 20);
    let tx = h.machine.tx().unwrap().local;
    assert!(is_provisional(tx), "the second car is a new transaction");
    h.observe(false, 30);
    h.observe(true, 40);
    h.observe(false, 50);
    assert_eq!(h.kept.len(), 5);
    h.journal.up = true;
    h.replay();
    assert!(h.kept.is_empty());
    let rows: Vec<_> = h
        .journal
        .rows
        .iter()
        .map(|r| {
            (
                r.0,
                (r.1 - at(0).utc).num_seconds(),
                r.2.map(|s| (s - at(0).utc).num_seconds()),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [(1, 0, Some(10)), (2, 20, Some(30)), (3, 40, Some(50))]
    );
}

#[test]
fn a_running_kept_start_takes_the_journals_id() {
    let mut h = Harness::new();
    h.journal.up = false;
    h.observe(true, 0);
    let provisional = h.machine.tx().unwrap().local;
    assert!(is_provisional(provisional));
    h.journal.up = true;
    h.replay();
    assert_eq!(h.machine.tx().unwrap().local, 1);
    h.observe(false, 10);
    assert!(h.kept.is_empty());
    assert_eq!(h.journal.rows[0].2, Some(at(10).utc));
}

#[test]
fn giving_up_a_start_drops_its_stop_but_not_the_next_transaction() {
    let mut h = Harness::new();
    h.journal.up = false;
    for t in 0..4 {
        h.observe(t % 2 == 0, t * 10);
    }
    assert_eq!(h.kept.len(), 4);
    let dropped = h.kept.give_up();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert!(matches!(h.kept.front(), Some(Event::Start { .. })));
    h.journal.up = true;
    h.replay();
    assert_eq!(h.journal.rows.len(), 1);
    assert!(h.journal.rows[0].2.is_some());
}

#[test]
fn held_new_sessions_start_once_released() {
    let mut c = Connector::new(1, true);
    let held = Rules {
        hold_new_sessions: true,
        ..rules()
    };
    assert!(c.observe(obs(true, 0.0), at(0), &held, None).is_empty());
    let e = c.observe(obs(true, 0.0), at(1), &rules(), None);
    assert!(matches!(&e[..], [Effect::Start { .. }]), "{e:?}");
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Plug,
    Unplug,
    DiskFails,
    DiskRecovers,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Plug),
        3 => Just(Step::Unplug),
        1 => Just(Step::DiskFails),
        1 => Just(Step::DiskRecovers),
    ]
}

proptest! {
    /// Whatever the journal does between plug-ins, once it works again every car session is a
    /// transaction of its own: one per plug-in, in order, each stopped once, none overlapping.
    #[test]
    fn every_car_session_is_its_own_transaction(steps in prop::collection::vec(step(), 1..60)) {
        let mut h = Harness::new();
        let mut plugged = false;
        let mut sessions = 0;
        for (t, s) in steps.iter().enumerate() {
            let t = t as i64 * 10;
            match s {
                Step::Plug => {
                    sessions += usize::from(!plugged);
                    plugged = true;
                }
                Step::Unplug => plugged = false,
                Step::DiskFails => h.journal.up = false,
                Step::DiskRecovers => h.journal.up = true,
            }
            if h.journal.up {
                h.replay();
            }
            h.observe(plugged, t);
        }
        h.observe(false, 10_000);
        h.journal.up = true;
        h.replay();
        prop_assert!(h.kept.is_empty());
        prop_assert_eq!(h.journal.rows.len(), sessions);
        let mut last_stop = None;
        for (id, start, stop) in &h.journal.rows {
            let stop = stop.unwrap_or_else(|| panic!("transaction {id} never stopped"));
            prop_assert!(start <= &stop);
            prop_assert!(last_stop.is_none_or(|l| l <= *start), "transactions overlap");
            last_stop = Some(stop);
        }
    }
}
