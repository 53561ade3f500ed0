//! The task that owns one device: polls it, publishes what it read, writes what it is told.

use super::poll::{PollError, poll_device};
use super::supervise::{self, PROBATION, TaskStatus};
use crate::driver::{DeviceReading, Driver, Keepalive, RegisterWrite, WriteFunction};
use crate::modbus::{BusError, BusHandle};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, error, info, info_span, warn};

/// A charger or a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Meter,
    Charger,
}

/// What a device task needs to know about its device.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// The name in the site config.
    pub name: String,
    pub role: Role,
    pub unit: u8,
    pub driver: Arc<Driver>,
    /// How often it is read.
    pub poll_period: Duration,
    /// Chargers: the device's phase count and the nominal voltage, for chargers set in W.
    pub phases: u8,
    pub nominal_voltage_v: f64,
    /// Chargers: the current the charger falls back to by itself when hubgate stops writing
    /// (written at start when the driver has a failsafe register).
    pub failsafe_current_a: Option<f64>,
}

/// What the task publishes after every poll and write.
#[derive(Debug, Clone, Default)]
pub struct DeviceState {
    /// The last good reading and when it was taken.
    pub reading: Option<DeviceReading>,
    pub read_at: Option<Instant>,
    /// Polls failed in a row since the last good one.
    pub failures: u32,
    /// Why the last poll failed, while it does.
    pub error: Option<String>,
    /// Chargers: the last setpoint the charger acknowledged, and when.
    pub written_a: Option<f64>,
    pub written_at: Option<Instant>,
    /// Chargers: why the last write failed, while it does.
    pub write_error: Option<String>,
    /// Requests and writes the task made, for the status view.
    pub writes: u64,
    /// The condition of the device's task: a task that panicked is down until it has run again
    /// for a while after its restart.
    pub task: TaskStatus,
    /// Times the task was restarted after a panic, since the site started.
    pub restarts: u32,
}

impl DeviceState {
    /// True when the device answered its last poll and its task runs (a device whose task is
    /// down is not being read, whatever its last reading said: a charger then counts as lost).
    pub fn answering(&self) -> bool {
        self.failures == 0 && self.read_at.is_some() && self.task.is_running()
    }

    /// Age of the last good reading at `now`.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.read_at.map(|t| now.saturating_duration_since(t))
    }
}

/// Something a charger task is asked to do besides holding its setpoint.
#[derive(Debug)]
pub enum DeviceCommand {
    /// Unlock the cable (the driver's unlock register); the answer says whether it worked.
    Unlock {
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// The control loop's side of a device task.
#[derive(Debug)]
pub struct DeviceHandle {
    pub name: String,
    pub role: Role,
    /// Latest state; `borrow()` it for a snapshot.
    pub state: watch::Receiver<DeviceState>,
    /// Chargers: the setpoint to hold (A; 0 pauses). `None` until the control loop decides.
    pub setpoint: watch::Sender<Option<f64>>,
    /// Chargers: one-off commands (a few may wait; senders wait when it is full).
    pub commands: mpsc::Sender<DeviceCommand>,
    task: JoinHandle<()>,
}

impl DeviceHandle {
    /// Whether the control loop can still drive this device: its task takes setpoints (the
    /// supervisor holds the receiving end) and has not been down for longer than `bound`.
    pub fn drivable(&self, bound: Duration, now: Instant) -> bool {
        self.setpoint.receiver_count() > 0
            && !self.task.is_finished()
            && !self.state.borrow().task.down_longer_than(bound, now)
    }

    /// Stops the task (the charger keeps its last setpoint and falls to its own failsafe when the
    /// keep-alive stops).
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Starts the task for one device on `bus`.
pub fn spawn(spec: DeviceSpec, bus: BusHandle) -> DeviceHandle {
    let (state_tx, state_rx) = watch::channel(DeviceState::default());
    let (setpoint_tx, setpoint_rx) = watch::channel(None);
    let (commands_tx, commands_rx) = mpsc::channel(4);
    let name = spec.name.clone();
    let role = spec.role;
    let span = info_span!("device", device = %spec.name, bus = %bus.name(), unit = spec.unit);
    let task =
        tokio::spawn(supervised(spec, bus, state_tx, setpoint_rx, commands_rx).instrument(span));
    DeviceHandle {
        name,
        role,
        state: state_rx,
        setpoint: setpoint_tx,
        commands: commands_tx,
        task,
    }
}

/// Runs the device's task and restarts it, with an exponential backoff, whenever it panics; its
/// state and channels live here, so they outlast any run. Ends when the control loop is gone.
async fn supervised(
    spec: DeviceSpec,
    bus: BusHandle,
    state: watch::Sender<DeviceState>,
    mut setpoint: watch::Receiver<Option<f64>>,
    mut commands: mpsc::Receiver<DeviceCommand>,
) {
    loop {
        let outcome = {
            let body = AssertUnwindSafe(run(&spec, &bus, &state, &mut setpoint, &mut commands));
            let mut body = std::pin::pin!(body.catch_unwind());
            let mut probation = std::pin::pin!(tokio::time::sleep(PROBATION));
            loop {
                let down = !state.borrow().task.is_running();
                tokio::select! {
                    outcome = &mut body => break outcome,
                    () = &mut probation, if down => {
                        info!(device = %spec.name, "device task runs again");
                        state.send_modify(|s| s.task = TaskStatus::Running);
                    }
                }
            }
        };
        let Err(payload) = outcome else {
            return; // the control loop is gone
        };
        let panic = supervise::panic_message(payload.as_ref());
        let now = Instant::now();
        let mut panics = 1;
        state.send_modify(|s| {
            s.task = s.task.after_panic(now, panic.clone());
            if let TaskStatus::Down { panics: n, .. } = s.task {
                panics = n;
            }
            s.restarts = s.restarts.saturating_add(1);
            s.error = Some(format!("device task failed: {panic}"));
        });
        let delay = supervise::restart_delay(panics);
        error!(
            device = %spec.name,
            panics,
            restart_in_ms = delay.as_millis() as u64,
            panic = %panic,
            "device task panicked; restarting it"
        );
        tokio::time::sleep(delay).await;
        if setpoint.has_changed().is_err() {
            return; // the control loop went away meanwhile
        }
    }
}

async fn run(
    spec: &DeviceSpec,
    bus: &BusHandle,
    state: &watch::Sender<DeviceState>,
    setpoint: &mut watch::Receiver<Option<f64>>,
    commands: &mut mpsc::Receiver<DeviceCommand>,
) {
    let mut poll = tokio::time::interval(spec.poll_period);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let keepalive = match spec.role {
        Role::Charger => keepalive_of(&spec.driver),
        Role::Meter => None,
    };
    // Tick at the keep-alive period, or never.
    let ka_period = keepalive
        .as_ref()
        .map(|k| k.period)
        .unwrap_or(Duration::from_secs(3600));
    let mut ka_tick = tokio::time::interval_at(Instant::now() + ka_period, ka_period);
    ka_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failsafe_done = spec.role != Role::Charger || spec.failsafe_current_a.is_none();
    let mut last_write: Option<Instant> = None;

    loop {
        tokio::select! {
            _ = poll.tick() => {
                let result = poll_device(bus, spec.unit, &spec.driver).await;
                let answered = result.is_ok();
                publish_poll(state, result);
                if answered && !failsafe_done {
                    failsafe_done = write_failsafe(spec, bus).await;
                }
            }
            changed = setpoint.changed(), if spec.role == Role::Charger => {
                if changed.is_err() {
                    return; // the control loop is gone
                }
                let wanted = *setpoint.borrow_and_update();
                if let Some(amps) = wanted {
                    let same = state.borrow().written_a.is_some_and(|w| (w - amps).abs() < 0.05);
                    if !same && write_setpoint(spec, bus, state, amps).await {
                        last_write = Some(Instant::now());
                    }
                }
            }
            Some(command) = commands.recv() => match command {
                DeviceCommand::Unlock { reply } => {
                    let writes = spec.driver.unlock_writes();
                    let result = if writes.is_empty() {
                        Err("the driver cannot unlock".to_string())
                    } else {
                        write_all(bus, spec.unit, &writes).await.map_err(|e| e.to_string())
                    };
                    info!(ok = result.is_ok(), "unlock");
                    let _ = reply.send(result);
                }
            },
            _ = ka_tick.tick(), if keepalive.is_some() => {
                let Some(ka) = &keepalive else { continue };
                let due = last_write.is_none_or(|t| t.elapsed() + ka_period / 10 >= ka.period);
                if !due {
                    continue;
                }
                let wanted = *setpoint.borrow();
                let ok = if ka.rewrite_setpoint {
                    match wanted {
                        Some(amps) => write_setpoint(spec, bus, state, amps).await,
                        None => true,
                    }
                } else {
                    write_all(bus, spec.unit, &ka.writes).await.is_ok()
                };
                if ok {
                    last_write = Some(Instant::now());
                }
            }
        }
    }
}

/// The charger's keep-alive, with a period every timer can take: a driver value that is not a
/// usable duration (infinite, 1e300 s) is clamped, with a warning, instead of failing the task.
fn keepalive_of(driver: &Driver) -> Option<Keepalive> {
    let period_s = driver.charger.as_ref()?.keepalive.as_ref()?.period_s;
    let (period, clamped) = supervise::keepalive_period(period_s);
    let mut safe;
    let driver = if clamped {
        warn!(
            period_s,
            used_s = period.as_secs_f64(),
            "the driver's keep-alive period is not usable; clamped"
        );
        safe = driver.clone();
        if let Some(k) = safe.charger.as_mut().and_then(|c| c.keepalive.as_mut()) {
            k.period_s = period.as_secs_f64();
        }
        &safe
    } else {
        driver
    };
    driver.keepalive().map(|k| Keepalive { period, ..k })
}

fn publish_poll(state: &watch::Sender<DeviceState>, result: Result<DeviceReading, PollError>) {
    state.send_modify(|s| match result {
        Ok(reading) => {
            if s.failures > 0 {
                info!(after = s.failures, "device answers again");
            }
            s.reading = Some(reading);
            s.read_at = Some(Instant::now());
            s.failures = 0;
            s.error = None;
        }
        Err(e) => {
            if s.failures == 0 {
                warn!(error = %e, "device poll failed");
            } else {
                debug!(error = %e, failures = s.failures + 1, "device poll failed again");
            }
            s.failures = s.failures.saturating_add(1);
            s.error = Some(e.to_string());
        }
    });
}

async fn write_setpoint(
    spec: &DeviceSpec,
    bus: &BusHandle,
    state: &watch::Sender<DeviceState>,
    amps: f64,
) -> bool {
    let writes = spec
        .driver
        .setpoint_writes(amps, spec.nominal_voltage_v, spec.phases);
    let result = write_all(bus, spec.unit, &writes).await;
    let ok = result.is_ok();
    state.send_modify(|s| {
        s.writes += writes.len() as u64;
        match result {
            Ok(()) => {
                debug!(setpoint_a = amps, "setpoint written");
                s.written_a = Some(amps);
                s.written_at = Some(Instant::now());
                s.write_error = None;
            }
            Err(e) => {
                if s.write_error.is_none() {
                    warn!(setpoint_a = amps, error = %e, "setpoint write failed");
                }
                s.write_error = Some(e.to_string());
            }
        }
    });
    ok
}

/// Sets the charger's own failsafe (current and timeout). Returns true when done (or refused
/// for good: a charger that rejects the registers is not asked again).
async fn write_failsafe(spec: &DeviceSpec, bus: &BusHandle) -> bool {
    let Some(current) = spec.failsafe_current_a else {
        return true;
    };
    let writes = spec.driver.failsafe_writes(current);
    match write_all(bus, spec.unit, &writes).await {
        Ok(()) => {
            if !writes.is_empty() {
                info!(failsafe_a = current, "charger failsafe set");
            }
            true
        }
        Err(e) if e.is_device_answer() => {
            warn!(error = %e, "charger refused its failsafe settings");
            true
        }
        Err(_) => false,
    }
}

/// Performs `writes` in order, stopping at the first failure.
pub async fn write_all(
    bus: &BusHandle,
    unit: u8,
    writes: &[RegisterWrite],
) -> Result<(), BusError> {
    for w in writes {
        match (w.function, w.values.as_slice()) {
            (WriteFunction::Single, [value]) => bus.write_single(unit, w.address, *value).await?,
            _ => bus.write_multiple(unit, w.address, &w.values).await?,
        }
    }
    Ok(())
}
