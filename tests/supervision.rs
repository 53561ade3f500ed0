//! Supervised device tasks against the simulated site over real Modbus: a task that panics is
//! restarted with a backoff and shown as down, its charger counts as lost, the control loop
//! stops the watchdog's heartbeat while a charger's task stays down, and a driver's unusable
//! keep-alive period no longer fails the task.

mod support;

use hubgate::balance::{SiteModel, observe};
use hubgate::config::SiteConfig;
use hubgate::control::{self, Devices, ExternalLimits, LoopIo};
use hubgate::device::{self, DeviceHandle, DeviceSpec, DeviceState, Role, TaskStatus, supervise};
use hubgate::driver::Driver;
use hubgate::modbus::{Bus, BusHandle};
use hubgate::site::{bus_options, transport};
use hubgate::view::SiteView;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use support::site::{SMALL_SITE, Simulated, simulate};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

/// A poll period of zero makes the task's timer panic at every start: a task that can never run.
const PANICS_AT_START: Duration = Duration::ZERO;
const POLL: Duration = Duration::from_millis(200);

fn buses(config: &SiteConfig) -> HashMap<String, BusHandle> {
    config
        .buses
        .iter()
        .map(|b| {
            let bus = Bus::spawn(b.name.clone(), transport(b), bus_options(b));
            (b.name.clone(), bus)
        })
        .collect()
}

fn driver(sim: &Simulated, name: &str) -> Arc<Driver> {
    sim.registry.get(name).unwrap()
}

fn charger(
    sim: &Simulated,
    buses: &HashMap<String, BusHandle>,
    i: usize,
    poll: Duration,
) -> DeviceHandle {
    let c = &sim.config.chargers[i];
    charger_with(sim, buses, i, poll, driver(sim, &c.driver))
}

fn charger_with(
    sim: &Simulated,
    buses: &HashMap<String, BusHandle>,
    i: usize,
    poll: Duration,
    driver: Arc<Driver>,
) -> DeviceHandle {
    let c = &sim.config.chargers[i];
    let spec = DeviceSpec {
        name: c.name.clone(),
        role: Role::Charger,
        unit: c.unit,
        driver,
        poll_period: poll,
        phases: u8::try_from(c.wiring.len()).unwrap(),
        nominal_voltage_v: sim.config.site.nominal_voltage_v,
        failsafe_current_a: Some(sim.config.site.fallback_current_a),
    };
    device::spawn(spec, buses[&c.bus].clone())
}

fn meter(sim: &Simulated, buses: &HashMap<String, BusHandle>, i: usize) -> DeviceHandle {
    let m = &sim.config.meters[i];
    let spec = DeviceSpec {
        name: m.name.clone(),
        role: Role::Meter,
        unit: m.unit,
        driver: driver(sim, &m.driver),
        poll_period: POLL,
        phases: 3,
        nominal_voltage_v: sim.config.site.nominal_voltage_v,
        failsafe_current_a: None,
    };
    device::spawn(spec, buses[&m.bus].clone())
}

/// Waits (bounded) until the device's state satisfies `done`; returns that state.
async fn state_until(
    handle: &DeviceHandle,
    within: Duration,
    done: impl Fn(&DeviceState) -> bool,
) -> DeviceState {
    let mut rx = handle.state.clone();
    let found = timeout(within, async {
        loop {
            {
                let s = rx.borrow_and_update();
                if done(&s) {
                    return s.clone();
                }
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("{}: {:?}", handle.name, *handle.state.borrow()))
}

#[tokio::test]
async fn a_panicking_charger_task_is_restarted_shown_down_and_counted_as_lost() {
    let sim = simulate(SMALL_SITE, [5.0, 5.0, 5.0]).await;
    sim.plug_in("c2", 32.0);
    let buses = buses(&sim.config);
    let broken = charger(&sim, &buses, 0, PANICS_AT_START);
    let healthy = charger(&sim, &buses, 1, POLL);

    // Two restarts: after the first panic and after the second (a doubled wait).
    let first = state_until(&broken, Duration::from_secs(5), |s| s.restarts >= 1).await;
    let TaskStatus::Down {
        since, panics: 1, ..
    } = first.task
    else {
        panic!("{:?}", first.task);
    };
    let s = state_until(&broken, Duration::from_secs(10), |s| s.restarts >= 2).await;
    let TaskStatus::Down {
        since: still,
        panics,
        panic,
    } = &s.task
    else {
        panic!("{:?}", s.task);
    };
    assert_eq!((*still, *panics), (since, 2), "one series of panics");
    assert!(panic.contains("period"), "{panic}");
    assert!(
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("device task failed"))
    );
    assert!(!s.answering());

    // The healthy charger next to it is read, and a reading does not make a down task answer.
    let good = state_until(&healthy, Duration::from_secs(5), DeviceState::answering).await;
    assert!(good.task.is_running() && good.restarts == 0);
    let stale = DeviceState {
        task: s.task.clone(),
        ..good.clone()
    };
    assert!(!stale.answering());
    let snapshot = observe(
        &sim.config,
        &[stale, good, DeviceState::default()],
        &[DeviceState::default()],
        &ExternalLimits::default(),
        Instant::now(),
    );
    assert!(
        !snapshot.chargers[0].answering,
        "a charger whose task is down is lost"
    );
    assert!(snapshot.chargers[1].answering);

    // The watchdog rule: the broken charger is not drivable once down beyond the bound.
    let now = Instant::now();
    assert!(!broken.drivable(Duration::from_millis(1), now));
    assert!(broken.drivable(Duration::from_secs(3600), now));
    assert!(healthy.drivable(Duration::from_millis(1), now));
    broken.stop().await;
    healthy.stop().await;
}

#[tokio::test]
async fn the_heartbeat_stops_while_a_charger_task_stays_down_and_the_loop_goes_on() {
    let sim = simulate(SMALL_SITE, [5.0, 5.0, 5.0]).await;
    let config = Arc::new(sim.config.clone());
    let buses = buses(&config);
    let chargers = vec![
        charger(&sim, &buses, 0, PANICS_AT_START),
        charger(&sim, &buses, 1, POLL),
        charger(&sim, &buses, 2, POLL),
    ];
    let meters = vec![meter(&sim, &buses, 0)];
    let (view_tx, mut view) = watch::channel(SiteView::default());
    let (heartbeat_tx, heartbeat) = watch::channel(0u64);
    let (_limits_tx, limits) = watch::channel(ExternalLimits::default());
    let (stop_tx, stop) = watch::channel(false);
    let io = LoopIo {
        view: view_tx,
        heartbeat: heartbeat_tx,
        limits,
        records: None,
        stop,
    };
    let model = SiteModel::from_config(&config).unwrap();
    let started = Instant::now();
    let looping = tokio::spawn(control::run(
        config.clone(),
        model,
        Devices { chargers, meters },
        io,
    ));
    let bound = supervise::down_bound(config.control.meter_stale_s);
    let cycle = Duration::from_millis(config.control.cycle_ms);

    // Wait (bounded, counted in cycles) until the bound has passed by two cycles.
    let cycles_needed = (bound + cycle * 3).as_millis() / cycle.as_millis() + 2;
    let within = cycle * u32::try_from(cycles_needed).unwrap() * 3;
    let withheld_at = timeout(within, async {
        loop {
            view.changed().await.unwrap();
            if started.elapsed() > bound + cycle * 3 {
                return view.borrow_and_update().cycle;
            }
        }
    })
    .await
    .unwrap();
    let fed = *heartbeat.borrow();
    assert!(
        fed >= 1,
        "the heartbeat moved while the task was down less than the bound"
    );
    assert!(fed < withheld_at, "heartbeat {fed}, cycle {withheld_at}");

    // Three more cycles: the loop cycles, the heartbeat stays.
    timeout(cycle * 10, async {
        while view.borrow().cycle < withheld_at + 3 {
            view.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(*heartbeat.borrow(), fed);
    let v = view.borrow().clone();
    assert_eq!(v.chargers[0].name, "c1");
    assert!(
        !v.chargers[0].reachable,
        "the view shows the charger as unreachable"
    );
    assert!(v.chargers[1].reachable || v.chargers[2].reachable);
    let failure = v.chargers[0]
        .task_failure
        .as_ref()
        .expect("the view names the failed task");
    assert!(
        failure.panics >= 1 && !failure.panic.is_empty(),
        "{failure:?}"
    );
    assert!(v.chargers[1].task_failure.is_none());
    // ...and the alert task raises it, naming the device.
    let mut alerts = hubgate::mqtt::alerts::AlertTracker::new(Default::default());
    let raised = alerts.update(&v, None);
    assert!(
        raised.iter().any(|e| e.id == "device_task_failed/c1"),
        "{raised:?}"
    );

    stop_tx.send(true).unwrap();
    let devices = timeout(Duration::from_secs(5), looping)
        .await
        .unwrap()
        .unwrap();
    for d in devices.chargers.into_iter().chain(devices.meters) {
        d.stop().await;
    }
}

#[tokio::test]
async fn an_unusable_keepalive_period_is_clamped_and_the_charger_driven() {
    let sim = simulate(SMALL_SITE, [5.0, 5.0, 5.0]).await;
    sim.plug_in("c1", 32.0);
    let buses = buses(&sim.config);
    let mut handles = Vec::new();
    // Written into the driver directly: the driver loader may refuse such files.
    for (i, period_s) in [(0, f64::INFINITY), (1, 1e300)] {
        let mut d = (*driver(&sim, "abb-terra-ac")).clone();
        d.charger
            .as_mut()
            .unwrap()
            .keepalive
            .as_mut()
            .unwrap()
            .period_s = period_s;
        handles.push(charger_with(&sim, &buses, i, POLL, Arc::new(d)));
    }
    for h in &handles {
        h.setpoint.send_replace(Some(10.0));
        let s = state_until(h, Duration::from_secs(10), |s| {
            s.answering() && s.written_a == Some(10.0)
        })
        .await;
        assert_eq!((s.restarts, s.task), (0, TaskStatus::Running));
    }
    for h in handles {
        h.stop().await;
    }
}
