//! Per-unit health and exponential backoff: a pure state machine over instants.
//!
//! A unit that fails `threshold` times in a row goes into backoff; while it is in backoff its
//! requests fail fast without touching the bus. When the backoff expires, the next request probes
//! the unit: success clears everything, failure doubles the backoff (up to the maximum).
//! The same policy paces reconnect attempts of a broken connection.

use std::time::{Duration, Instant};

/// Exponential backoff: `initial`, `2 * initial`, `4 * initial`, ... capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Failures in a row before the first backoff (at least 1).
    pub threshold: u32,
    /// The first backoff.
    pub initial: Duration,
    /// The longest backoff.
    pub max: Duration,
}

impl BackoffPolicy {
    /// The backoff after `failures` consecutive failures (zero below the threshold).
    pub fn delay_after(&self, failures: u32) -> Duration {
        let threshold = self.threshold.max(1);
        if failures < threshold {
            return Duration::ZERO;
        }
        let doublings = (failures - threshold).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// The health of one unit (or of one connection) as far as backoff is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    consecutive_failures: u32,
    backoff_until: Option<Instant>,
}

impl Health {
    /// Whether a request may go on the bus at `now`; if not, until when the backoff lasts.
    pub fn admit(&self, now: Instant) -> Result<(), Instant> {
        match self.backoff_until {
            Some(until) if now < until => Err(until),
            _ => Ok(()),
        }
    }

    /// The unit answered.
    pub fn record_success(&mut self) {
        self.consecutive_failures = 0;
        self.backoff_until = None;
    }

    /// The unit failed at `now`; returns the end of the backoff it entered, if any.
    pub fn record_failure(&mut self, now: Instant, policy: &BackoffPolicy) -> Option<Instant> {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let delay = policy.delay_after(self.consecutive_failures);
        self.backoff_until = if delay.is_zero() {
            None
        } else {
            now.checked_add(delay)
        };
        self.backoff_until
    }

    /// Failures in a row since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The end of the current backoff, if one was set (it may lie in the past).
    pub fn backoff_until(&self) -> Option<Instant> {
        self.backoff_until
    }

    /// Whether the unit is in backoff at `now`.
    pub fn in_backoff(&self, now: Instant) -> bool {
        self.admit(now).is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(threshold: u32, initial_ms: u64, max_ms: u64) -> BackoffPolicy {
        BackoffPolicy {
            threshold,
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn backoff_doubles_from_threshold_and_caps() {
        let p = policy(2, 100, 1000);
        let delays: Vec<u128> = (0..8).map(|n| p.delay_after(n).as_millis()).collect();
        assert_eq!(delays, vec![0, 0, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.delay_after(u32::MAX).as_millis(), 1000);
    }

    #[test]
    fn failing_unit_enters_backoff_and_success_clears_it() {
        let p = policy(2, 100, 1000);
        let t0 = Instant::now();
        let mut h = Health::default();
        assert_eq!(h.record_failure(t0, &p), None);
        assert!(h.admit(t0).is_ok());
        let until = h.record_failure(t0, &p).unwrap();
        assert_eq!(until, t0 + Duration::from_millis(100));
        assert_eq!(h.admit(t0 + Duration::from_millis(99)), Err(until));
        assert!(h.admit(until).is_ok());
        h.record_success();
        assert_eq!(h.consecutive_failures(), 0);
        assert!(h.admit(t0).is_ok());
    }

    proptest! {
        #[test]
        fn backoff_is_monotonic_and_bounded(
            threshold in 1u32..5, initial in 1u64..10_000, max in 1u64..100_000, n in 0u32..200
        ) {
            let p = policy(threshold, initial, max);
            prop_assert!(p.delay_after(n) <= p.delay_after(n + 1));
            prop_assert!(p.delay_after(n) <= Duration::from_millis(max));
        }
    }

    /// Cost model of a poll cycle on a saturated or paced bus, driven by the same policy the bus
    /// uses, on a virtual clock.
    struct Site {
        live_units: u32,
        live_transaction: Duration,
        timeout: Duration,
        period: Duration,
    }

    struct Outcome {
        dead_bus_time: Duration,
        live_bus_time: Duration,
        dead_attempts: u32,
        /// Sum over cycles of how far each cycle overran its period.
        overrun: Duration,
        elapsed: Duration,
    }

    fn simulate(site: &Site, policy: &BackoffPolicy, cycles: u32) -> Outcome {
        let start = Instant::now();
        let mut now = start;
        let mut dead = Health::default();
        let mut out = Outcome {
            dead_bus_time: Duration::ZERO,
            live_bus_time: Duration::ZERO,
            dead_attempts: 0,
            overrun: Duration::ZERO,
            elapsed: Duration::ZERO,
        };
        for _ in 0..cycles {
            let cycle_start = now;
            let live = site.live_transaction * site.live_units;
            now += live;
            out.live_bus_time += live;
            if dead.admit(now).is_ok() {
                now += site.timeout;
                out.dead_bus_time += site.timeout;
                out.dead_attempts += 1;
                dead.record_failure(now, policy);
            }
            let spent = now - cycle_start;
            if spent < site.period {
                now = cycle_start + site.period;
            } else {
                out.overrun += spent - site.period;
            }
        }
        out.elapsed = now - start;
        out
    }

    #[test]
    fn dead_unit_costs_live_polling_under_ten_percent_with_default_options() {
        let opts = crate::modbus::BusOptions::default();
        let policy = BackoffPolicy {
            threshold: opts.failures_before_backoff,
            initial: opts.backoff_initial,
            max: opts.backoff_max,
        };
        // Eight live devices at ~30 ms each (a 9600 baud read of a small block), 1 s cycle.
        let site = Site {
            live_units: 8,
            live_transaction: Duration::from_millis(30),
            timeout: opts.request_timeout,
            period: Duration::from_secs(1),
        };
        // Paced polling: the delay the dead unit adds to the live units' cycles, from the first
        // minute on, stays under 10 % of the time.
        for cycles in [60, 600, 3600] {
            let o = simulate(&site, &policy, cycles);
            let slowdown = o.overrun.as_secs_f64() / o.elapsed.as_secs_f64();
            assert!(slowdown < 0.10, "{cycles} cycles: slowdown {slowdown:.3}");
        }
        // Saturated bus (no idle time): after ten minutes the dead unit holds under 10 % of the
        // bus time; in steady state it tends to timeout / (backoff_max + timeout).
        let saturated = Site {
            period: Duration::ZERO,
            ..site
        };
        let o = simulate(&saturated, &policy, 2_500);
        let share =
            o.dead_bus_time.as_secs_f64() / (o.dead_bus_time + o.live_bus_time).as_secs_f64();
        assert!(o.elapsed >= Duration::from_secs(600));
        assert!(share < 0.10, "dead share {share:.3}");
        assert!(o.dead_attempts > 1, "the dead unit is still retried");
    }
}
