//! State shared between the bus task and its handles: counters, unit health, backoff policy.

use super::config::{BusOptions, Transport};
use super::error::BusError;
use super::health::BackoffPolicy;
use super::ops::Failure;
use super::stats::BusStats;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Shared {
    pub name: String,
    pub rtu: bool,
    pub unit_policy: BackoffPolicy,
    stats: Mutex<BusStats>,
}

impl Shared {
    pub(crate) fn new(name: String, transport: &Transport, options: &BusOptions) -> Self {
        Self {
            stats: Mutex::new(BusStats::new(&name, transport.to_string())),
            name,
            rtu: transport.is_rtu(),
            unit_policy: BackoffPolicy {
                threshold: options.failures_before_backoff.max(1),
                initial: options.backoff_initial,
                max: options.backoff_max,
            },
        }
    }

    pub(crate) fn stats(&self) -> MutexGuard<'_, BusStats> {
        // Counters stay meaningful even if a holder panicked.
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails fast if `unit` is in backoff, counting the rejection.
    pub(crate) fn refuse_if_backing_off(&self, unit: u8, now: Instant) -> Result<(), BusError> {
        let mut stats = self.stats();
        let Some(u) = stats.units.get(&unit) else {
            return Ok(());
        };
        if let Err(until) = u.health.admit(now) {
            let err = BusError::Backoff { unit, until };
            stats.record(unit, Err(&err), None, false, now);
            return Err(err);
        }
        Ok(())
    }

    /// Counts a request that never reached the bus.
    pub(crate) fn refused(&self, unit: u8, probe: bool, error: &BusError) {
        self.stats()
            .record(unit, Err(error), None, probe, Instant::now());
    }

    /// Counts a finished transaction and updates the unit's health (probes leave it alone).
    pub(crate) fn finished<T>(
        &self,
        unit: u8,
        probe: bool,
        result: &Result<T, Failure>,
        bus_time: Duration,
        end: Instant,
    ) {
        let mut stats = self.stats();
        let outcome = result.as_ref().map(|_| ()).map_err(|f| &f.error);
        stats.record(unit, outcome, Some(bus_time), probe, end);
        if probe {
            return;
        }
        let health = &mut stats.units.entry(unit).or_default().health;
        match result {
            Ok(_) => health.record_success(),
            Err(f) if f.unit_fault => {
                if let Some(until) = health.record_failure(end, &self.unit_policy) {
                    tracing::warn!(
                        failures = health.consecutive_failures(),
                        backoff_ms = until.saturating_duration_since(end).as_millis() as u64,
                        error = %f.error,
                        "unit failing; backing off"
                    );
                }
            }
            // An exception proves the unit alive; a connection error is not its fault.
            Err(f) if f.error.is_device_answer() => health.record_success(),
            Err(_) => {}
        }
    }
}
