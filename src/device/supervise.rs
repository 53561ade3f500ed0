//! Supervision of device tasks, as plain data and pure rules: the task's condition as the
//! control loop and the view see it, the restart backoff, and when a charger whose task keeps
//! failing counts as one the site can no longer drive.
//!
//! A device task that panics is restarted (its state and channels survive it) after an
//! exponential backoff; meanwhile its device counts as not answering, so the allocator treats a
//! charger as lost. If a charger's task stays down longer than the bound, the control loop stops
//! feeding the systemd watchdog and the whole daemon is restarted.

use std::any::Any;
use std::time::Duration;
use tokio::time::Instant;

/// First wait before restarting a task that panicked; doubled for each further panic in a row.
pub const RESTART_INITIAL: Duration = Duration::from_millis(500);
/// Longest wait before a restart.
pub const RESTART_MAX: Duration = Duration::from_secs(30);
/// A restarted task that runs this long without panicking is up again (its panics in a row
/// start from zero).
pub const PROBATION: Duration = Duration::from_secs(2);

/// The condition of a device's task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TaskStatus {
    /// Running normally.
    #[default]
    Running,
    /// Panicked, and either waits to be restarted or was restarted less than [`PROBATION`] ago.
    Down {
        /// When the first panic of this series happened.
        since: Instant,
        /// Panics in a row in this series.
        panics: u32,
        /// What the last panic said.
        panic: String,
    },
}

impl TaskStatus {
    /// Whether the task is running normally.
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running)
    }

    /// Whether the task has been down for longer than `bound` at `now`.
    pub fn down_longer_than(&self, bound: Duration, now: Instant) -> bool {
        match self {
            Self::Running => false,
            Self::Down { since, .. } => now.saturating_duration_since(*since) > bound,
        }
    }

    /// The status after a panic at `now`: a series goes on while the task never got up again.
    pub fn after_panic(&self, now: Instant, panic: String) -> Self {
        match self {
            Self::Running => Self::Down {
                since: now,
                panics: 1,
                panic,
            },
            Self::Down { since, panics, .. } => Self::Down {
                since: *since,
                panics: panics.saturating_add(1),
                panic,
            },
        }
    }
}

/// The wait before restarting a task after its `panics`-th panic in a row (1 = the first).
pub fn restart_delay(panics: u32) -> Duration {
    let doublings = panics.saturating_sub(1).min(16);
    RESTART_INITIAL
        .saturating_mul(1u32 << doublings)
        .min(RESTART_MAX)
}

/// The shortest time a charger's task may be down before the site counts as unable to drive it:
/// longer than the first restart and its probation, so one panic that a restart cures never
/// trips the watchdog.
pub const DOWN_BOUND_MIN: Duration = Duration::from_secs(3);

/// How long a charger's task may be down before the control loop stops feeding the watchdog:
/// the site's meter staleness (`control.meter_stale_s`), at least [`DOWN_BOUND_MIN`].
pub fn down_bound(meter_stale_s: f64) -> Duration {
    Duration::try_from_secs_f64(meter_stale_s)
        .unwrap_or(DOWN_BOUND_MIN)
        .max(DOWN_BOUND_MIN)
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic without a message".to_string()
    }
}

/// The longest keep-alive period a task uses: anything longer (or not a number) is taken as
/// this, so no driver value can make a timer overflow.
pub const KEEPALIVE_MAX: Duration = Duration::from_secs(3600);
/// The shortest keep-alive period a task uses.
pub const KEEPALIVE_MIN: Duration = Duration::from_millis(100);

/// A driver's keep-alive period in seconds as a usable duration, and whether it had to be
/// clamped to be one.
pub fn keepalive_period(period_s: f64) -> (Duration, bool) {
    match Duration::try_from_secs_f64(period_s) {
        Ok(d) if (KEEPALIVE_MIN..=KEEPALIVE_MAX).contains(&d) => (d, false),
        Ok(d) if d < KEEPALIVE_MIN => (KEEPALIVE_MIN, true),
        // Negative numbers and NaN are refused by the driver loader; clamp them low anyway.
        Err(_) if period_s.is_nan() || period_s < 0.0 => (KEEPALIVE_MIN, true),
        _ => (KEEPALIVE_MAX, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn restarts_back_off_exponentially_up_to_the_max() {
        assert_eq!(restart_delay(1), RESTART_INITIAL);
        assert_eq!(restart_delay(2), RESTART_INITIAL * 2);
        assert_eq!(restart_delay(3), RESTART_INITIAL * 4);
        assert_eq!(restart_delay(100), RESTART_MAX);
        assert_eq!(restart_delay(u32::MAX), RESTART_MAX);
    }

    #[test]
    fn a_series_of_panics_keeps_its_start_and_counts() {
        let t0 = Instant::now();
        let s = TaskStatus::Running.after_panic(t0, "a".into());
        let s = s.after_panic(t0 + Duration::from_secs(3), "b".into());
        assert_eq!(
            s,
            TaskStatus::Down {
                since: t0,
                panics: 2,
                panic: "b".into()
            }
        );
        assert!(!s.is_running());
        assert!(!s.down_longer_than(Duration::from_secs(5), t0 + Duration::from_secs(5)));
        assert!(s.down_longer_than(Duration::from_secs(5), t0 + Duration::from_secs(6)));
        assert!(!TaskStatus::Running.down_longer_than(Duration::ZERO, t0));
    }

    #[test]
    fn absurd_keepalive_periods_are_clamped() {
        assert_eq!(keepalive_period(10.0), (Duration::from_secs(10), false));
        assert_eq!(keepalive_period(f64::INFINITY), (KEEPALIVE_MAX, true));
        assert_eq!(keepalive_period(1e300), (KEEPALIVE_MAX, true));
        assert_eq!(keepalive_period(1e9), (KEEPALIVE_MAX, true));
        assert_eq!(keepalive_period(0.0), (KEEPALIVE_MIN, true));
        assert_eq!(keepalive_period(f64::NAN), (KEEPALIVE_MIN, true));
        assert_eq!(keepalive_period(-3.0), (KEEPALIVE_MIN, true));
    }

    #[test]
    fn the_down_bound_is_the_meter_staleness_but_never_below_a_restart() {
        assert!(DOWN_BOUND_MIN > RESTART_INITIAL + PROBATION);
        assert_eq!(down_bound(5.0), Duration::from_secs(5));
        assert_eq!(down_bound(0.2), DOWN_BOUND_MIN);
        assert_eq!(down_bound(f64::INFINITY), DOWN_BOUND_MIN);
        assert_eq!(down_bound(f64::NAN), DOWN_BOUND_MIN);
    }

    #[test]
    fn panic_payloads_become_text() {
        let s: Box<dyn Any + Send> = Box::new("boom");
        assert_eq!(panic_message(s.as_ref()), "boom");
        let s: Box<dyn Any + Send> = Box::new(String::from("bang"));
        assert_eq!(panic_message(s.as_ref()), "bang");
        let s: Box<dyn Any + Send> = Box::new(7u8);
        assert_eq!(panic_message(s.as_ref()), "panic without a message");
    }

    proptest! {
        #[test]
        fn every_keepalive_value_gives_a_usable_period(period_s in any::<f64>()) {
            let (d, _) = keepalive_period(period_s);
            prop_assert!((KEEPALIVE_MIN..=KEEPALIVE_MAX).contains(&d));
            // A timer at that period can always be set.
            prop_assert!(Instant::now().checked_add(d).is_some());
        }

        #[test]
        fn the_restart_delay_never_shrinks_and_stays_bounded(n in 1u32..1000) {
            prop_assert!(restart_delay(n + 1) >= restart_delay(n));
            prop_assert!(restart_delay(n) <= RESTART_MAX);
        }
    }
}
