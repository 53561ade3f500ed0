//! The controller against the simulator over real Modbus TCP: a 60 A surge of building load is
//! cut within two cycles; a meter that dies drops its chargers to the fallback; a charger that
//! dies is counted at its last setpoint; one-phase cars on three-phase chargers leave the other
//! phases to others with phase detection on.

mod support;

use hubgate::control::{CycleRecord, ExternalLimits};
use hubgate::sim::load::Surge;
use hubgate::sim::serve::lock;
use hubgate::site::{SiteChannels, SiteRuntime};
use hubgate::view::SiteView;
use std::sync::Arc;
use std::time::Duration;
use support::site::simulate;
use tokio::sync::{mpsc, watch};

const SITE: &str = r#"
[site]
id = "e2e"
name = "Surge test"
grid_limit_a = 100
grid_meter = "grid"
safety_margin_a = 2
fallback_current_a = 6

[control]
cycle_ms = 1000
meter_stale_s = 3
ramp_up_a_per_s = 50

[[buses]]
name = "lan"
kind = "tcp"
host = "127.0.0.1"
port = 1

[[meters]]
name = "grid"
driver = "eastron-sdm630"
bus = "lan"
unit = 1

[[chargers]]
name = "c1"
driver = "abb-terra-ac"
bus = "lan"
unit = 11
max_current_a = 32
connector = 1

[[chargers]]
name = "c2"
driver = "abb-terra-ac"
bus = "lan"
unit = 12
wiring = ["L2", "L3", "L1"]
max_current_a = 32
connector = 2

[[chargers]]
name = "c3"
driver = "abb-terra-ac"
bus = "lan"
unit = 13
wiring = ["L1"]
max_current_a = 32
connector = 3
"#;

struct Running {
    records: mpsc::Receiver<CycleRecord>,
    view: watch::Receiver<SiteView>,
    runtime: SiteRuntime,
}

fn start(sim: &support::site::Simulated) -> Running {
    let (view_tx, view) = watch::channel(SiteView::default());
    let (heartbeat, _) = watch::channel(0);
    let (_limits_tx, limits) = watch::channel(ExternalLimits::default());
    let (records_tx, records) = mpsc::channel(10_000);
    let runtime = SiteRuntime::start(
        Arc::new(sim.config.clone()),
        &sim.registry,
        SiteChannels {
            view: view_tx,
            heartbeat,
            limits,
            records: Some(records_tx),
        },
    )
    .unwrap();
    Running {
        records,
        view,
        runtime,
    }
}

async fn next(r: &mut Running) -> CycleRecord {
    tokio::time::timeout(Duration::from_secs(10), r.records.recv())
        .await
        .expect("a cycle")
        .expect("loop alive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_60_a_surge_is_cut_within_two_cycles() {
    let sim = simulate(SITE, [10.0, 10.0, 10.0]).await;
    for c in ["c1", "c2", "c3"] {
        sim.plug_in(c, 32.0);
    }
    let mut r = start(&sim);
    // Steady state: the cars charge and L1 carries a good share of the limit.
    let limit = 98.0;
    loop {
        let rec = next(&mut r).await;
        let l1 = rec.grid_current_a.map_or(0.0, |g| g.0[0]);
        if l1 > 60.0
            && rec
                .chargers
                .iter()
                .all(|c| c.draw_a.0.iter().any(|a| *a > 5.0))
        {
            break;
        }
        assert!(rec.cycle < 40, "never reached a steady state: {rec:?}");
    }
    // The building load jumps by 60 A on L1.
    {
        let mut w = lock(&sim.world);
        let now = w.site.now_s;
        let grid = w.site.grid();
        if let Some(p) = w.site.load_profiles[grid].as_mut() {
            p.surges.push(Surge {
                start_s: now,
                duration_s: f64::INFINITY,
                amps: hubgate::phase::PerPhase([60.0, 0.0, 0.0]),
            });
        }
    }
    // The first cycle that sees the overload, then at most two more until every phase is under.
    let first = loop {
        let rec = next(&mut r).await;
        if rec.grid_current_a.is_some_and(|g| g.0[0] > limit) {
            break rec.cycle;
        }
        assert!(rec.cycle < 200, "the surge never showed");
    };
    // Regular cycles after the one that saw it (early cycles, run at once on the overload
    // reading, come on top).
    let mut regular = 0;
    let mut back_under = None;
    for _ in 0..12 {
        let rec = next(&mut r).await;
        if !rec.early {
            regular += 1;
        }
        let g = rec.grid_current_a.expect("grid reading");
        if g.0.iter().all(|a| *a <= limit + 2.0) {
            back_under = Some(regular);
            break;
        }
    }
    let cycles = back_under.expect("grid current never back under the limit");
    assert!(
        cycles <= 2,
        "over the limit from cycle {first} for {cycles} regular cycles"
    );
    r.runtime.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_meter_means_fallback_and_a_dead_charger_is_counted_not_forgotten() {
    let sim = simulate(SITE, [10.0, 10.0, 10.0]).await;
    sim.plug_in("c1", 32.0);
    sim.plug_in("c2", 32.0);
    let mut r = start(&sim);
    loop {
        let rec = next(&mut r).await;
        if rec.chargers[0].setpoint_a > 20.0 {
            break;
        }
        assert!(rec.cycle < 30);
    }
    lock(&sim.world).set_online("grid", false);
    // Within the stale time (3 s) plus a cycle, both fall back to 6 A.
    let mut fell_back = false;
    for _ in 0..8 {
        next(&mut r).await;
        let v = r.view.borrow().clone();
        if v.fallback {
            assert!(
                v.chargers.iter().take(2).all(|c| c.setpoint_a == 6.0),
                "{v:?}"
            );
            fell_back = true;
            break;
        }
    }
    assert!(fell_back, "no fallback after the grid meter died");
    lock(&sim.world).set_online("grid", true);
    loop {
        let v = {
            next(&mut r).await;
            r.view.borrow().clone()
        };
        if !v.fallback {
            break;
        }
    }
    // Charger c1 dies: it is reported unreachable and keeps being counted.
    lock(&sim.world).set_online("c1", false);
    let mut seen = false;
    for _ in 0..10 {
        next(&mut r).await;
        let v = r.view.borrow().clone();
        if !v.chargers[0].reachable {
            assert_eq!(v.chargers[0].reason, "not answering");
            seen = true;
            break;
        }
    }
    assert!(seen, "the dead charger was not noticed");
    r.runtime.stop().await;
}

/// Two one-phase cars on three-phase chargers (on grid L1 and L2) and a three-phase car share
/// 38 A per phase. Counted on all phases, each gets a third; with phase detection the
/// one-phase cars are counted only where they draw, and get what the three-phase car leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_phase_cars_are_counted_on_their_phase_with_detection() {
    let site = |detect: bool| {
        SITE.replace("grid_limit_a = 100", "grid_limit_a = 40")
            .replace(
                "ramp_up_a_per_s = 50",
                &format!("ramp_up_a_per_s = 50\ncar_phase_detection = {detect}"),
            )
            .replace(
                "wiring = [\"L1\"]\nmax_current_a = 32",
                "max_current_a = 16",
            )
    };
    for detect in [false, true] {
        let sim = simulate(&site(detect), [0.0; 3]).await;
        sim.plug_in_car("c1", 32.0, 1);
        sim.plug_in_car("c2", 32.0, 1);
        sim.plug_in_car("c3", 32.0, 3);
        let mut r = start(&sim);
        let expected = if detect {
            [22.0, 22.0, 16.0]
        } else {
            [12.6, 12.6, 12.6]
        };
        let mut last = None;
        for _ in 0..30 {
            let rec = next(&mut r).await;
            let set: Vec<f64> = rec.chargers.iter().map(|c| c.setpoint_a).collect();
            let grid = rec.grid_current_a.expect("grid reading");
            assert!(grid.0.iter().all(|a| *a <= 38.0 + 1.0), "{rec:?}");
            if set.iter().zip(expected).all(|(s, e)| (s - e).abs() < 0.5) {
                last = Some(rec);
                break;
            }
            last = Some(rec);
        }
        let rec = last.expect("cycles");
        let set: Vec<f64> = rec.chargers.iter().map(|c| c.setpoint_a).collect();
        assert!(
            set.iter().zip(expected).all(|(s, e)| (s - e).abs() < 0.5),
            "detection {detect}: setpoints {set:?}, expected about {expected:?}"
        );
        r.runtime.stop().await;
    }
}
