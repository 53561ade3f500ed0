//! Broken readings against the real controller over real Modbus TCP: the simulated grid meter,
//! on a bus it shares with healthy chargers, reports NaN, +inf, -inf and 1e6 A on one phase; a
//! charger reports 1e6 A. The current that really flows at the grid connection in the
//! simulator's physics never goes over the connection's limit, and each fault raises one alert
//! naming the device, cleared when the reading is plausible again.

mod support;

use hubgate::control::ExternalLimits;
use hubgate::driver::Implausible;
use hubgate::mqtt::alerts::{AlertEvent, AlertSettings, AlertState, AlertTracker};
use hubgate::phase::Phase;
use hubgate::sim::serve::lock;
use hubgate::sim::world::PhaseFault;
use hubgate::site::{SiteChannels, SiteRuntime};
use hubgate::view::SiteView;
use std::sync::Arc;
use std::time::Duration;
use support::site::{Simulated, simulate};
use tokio::sync::watch;

/// 63 A connection, a shop drawing 40 A on L1: three cars share the 22 A left on L1. A meter
/// whose L1 counted as 0 A would give them 62 A there, 102 A in all.
const SITE: &str = r#"
[site]
id = "faults"
name = "Fault test"
grid_limit_a = 63
grid_meter = "grid"
safety_margin_a = 1
fallback_current_a = 6

[control]
cycle_ms = 500
meter_stale_s = 3
ramp_up_a_per_s = 40

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
max_current_a = 32
connector = 2

[[chargers]]
name = "c3"
driver = "abb-terra-ac"
bus = "lan"
unit = 13
max_current_a = 32
connector = 3
"#;

const CONNECTION_A: f64 = 63.0;

struct Running<'a> {
    sim: &'a Simulated,
    view: watch::Receiver<SiteView>,
    runtime: SiteRuntime,
    alerts: AlertTracker,
    events: Vec<AlertEvent>,
    /// The highest current that flowed per phase over the whole run (A).
    worst: [f64; 3],
}

impl Running<'_> {
    /// The next view; checks that no phase of the grid connection carried more than its limit
    /// since the last one, and follows the alerts.
    async fn next(&mut self) -> SiteView {
        tokio::time::timeout(Duration::from_secs(10), self.view.changed())
            .await
            .expect("a cycle")
            .expect("loop alive");
        let v = self.view.borrow_and_update().clone();
        let peak = lock(&self.sim.world).take_peak_grid();
        for (w, p) in self.worst.iter_mut().zip(peak.0) {
            *w = w.max(p);
        }
        assert!(
            peak.0.iter().all(|a| *a <= CONNECTION_A),
            "the grid connection carried {peak:?} A (cycle {}: {v:?})",
            v.cycle
        );
        self.events.extend(self.alerts.update(&v, None));
        v
    }

    /// Views until `done` holds (at most `cycles` of them).
    async fn until(&mut self, cycles: usize, what: &str, done: impl Fn(&SiteView) -> bool) {
        for _ in 0..cycles {
            if done(&self.next().await) {
                return;
            }
        }
        panic!("{what}: not within {cycles} cycles");
    }

    fn raised(&self, id: &str) -> Vec<&AlertEvent> {
        self.events
            .iter()
            .filter(|e| e.id == id && e.state == AlertState::Raised)
            .collect()
    }

    fn cleared(&self, id: &str) -> usize {
        self.events
            .iter()
            .filter(|e| e.id == id && e.state == AlertState::Cleared)
            .count()
    }
}

fn start(sim: &Simulated) -> Running<'_> {
    let (view_tx, view) = watch::channel(SiteView::default());
    let (heartbeat, _) = watch::channel(0);
    let (_limits_tx, limits) = watch::channel(ExternalLimits::default());
    let runtime = SiteRuntime::start(
        Arc::new(sim.config.clone()),
        &sim.registry,
        SiteChannels {
            view: view_tx,
            heartbeat,
            limits,
            records: None,
        },
    )
    .unwrap();
    Running {
        sim,
        view,
        runtime,
        alerts: AlertTracker::new(AlertSettings::default()),
        events: Vec::new(),
        worst: [0.0; 3],
    }
}

/// Every car charging at more than the fallback current: the meter is trusted again.
fn sharing(v: &SiteView) -> bool {
    !v.fallback && v.chargers.iter().all(|c| c.setpoint_a > 6.5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_readings_never_overload_the_grid_and_each_raises_one_alert() {
    let sim = simulate(SITE, [40.0, 10.0, 10.0]).await;
    for c in ["c1", "c2", "c3"] {
        sim.plug_in(c, 32.0);
    }
    let mut r = start(&sim);
    r.until(40, "steady state", sharing).await;

    let faults = [
        (Phase::L1, f64::NAN),
        (Phase::L2, f64::INFINITY),
        (Phase::L3, f64::NEG_INFINITY),
        (Phase::L1, 1e6),
    ];
    for (n, (phase, current_a)) in faults.into_iter().enumerate() {
        assert!(lock(&sim.world).set_fault("grid", Some(PhaseFault { phase, current_a })));
        let expected = if current_a.is_finite() {
            Implausible::CurrentOutOfRange {
                phase,
                value_a: current_a,
            }
        } else {
            Implausible::NotFinite { phase }
        };
        r.until(10, "the meter judged invalid", |v| {
            v.meters[0].invalid == Some(expected)
        })
        .await;
        // In fallback from the first cycle that sees it; held while it lasts.
        for _ in 0..6 {
            let v = r.next().await;
            assert_eq!(v.meters[0].invalid, Some(expected), "{v:?}");
            assert!(v.fallback, "{v:?}");
            assert!(
                v.grid_current_a.is_none(),
                "an invalid reading is shown: {v:?}"
            );
            for c in &v.chargers {
                assert!(c.setpoint_a <= 6.0, "{v:?}");
                assert_eq!(c.reason, "fallback: meter grid implausible", "{v:?}");
            }
        }
        let raised = r.raised("meter_implausible/grid");
        assert_eq!(raised.len(), n + 1, "one alert per fault: {:?}", r.events);
        let last = raised[n];
        assert!(last.message.contains("meter grid"), "{}", last.message);
        assert!(
            last.message.contains(&phase.to_string()),
            "{}",
            last.message
        );

        assert!(lock(&sim.world).set_fault("grid", None));
        r.until(20, "back to sharing", sharing).await;
        assert_eq!(r.cleared("meter_implausible/grid"), n + 1, "{:?}", r.events);
    }

    // A charger reading 1e6 A is counted at its max, not at what it says.
    lock(&sim.world).set_fault(
        "c2",
        Some(PhaseFault {
            phase: Phase::L1,
            current_a: 1e6,
        }),
    );
    r.until(10, "the charger judged implausible", |v| {
        v.chargers[1].implausible.is_some()
    })
    .await;
    for _ in 0..6 {
        let v = r.next().await;
        assert!(!v.fallback, "the meter is fine: {v:?}");
        assert!(
            v.chargers[1].reason.starts_with("implausible reading"),
            "{v:?}"
        );
    }
    assert_eq!(
        r.raised("charger_implausible/c2").len(),
        1,
        "{:?}",
        r.events
    );
    lock(&sim.world).set_fault("c2", None);
    r.until(10, "the charger trusted again", |v| {
        v.chargers[1].implausible.is_none()
    })
    .await;
    r.next().await;
    assert_eq!(r.cleared("charger_implausible/c2"), 1, "{:?}", r.events);
    assert!(
        r.raised("site_over_limit").is_empty(),
        "no overload seen: {:?}",
        r.events
    );
    eprintln!("highest grid current per phase: {:?} A", r.worst);
    r.runtime.stop().await;
}
