//! The two clocks: the monotonic one, which every wait and timeout is measured on, and the wall
//! clock, used only for timestamps (in messages, in the journal) and for the instants the OCPP
//! specification ties to the calendar (clock-aligned meter data).
//!
//! The pure cores never read a clock: the I/O edge reads [`Moment::now`] and passes it in, so
//! tests drive both clocks independently (the wall clock may jump while the monotonic clock
//! advances steadily).

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A wall clock that differs from the monotonic clock by more than this has jumped.
pub const JUMP: TimeDelta = TimeDelta::seconds(2);

/// How far before the process's first reading the monotonic origin lies (about 100 years).
pub const BEFORE_START: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A point on the monotonic clock: the time since an arbitrary origin, [`BEFORE_START`] before
/// the first reading in this process (so instants before the process started, such as the
/// start of a transaction resumed after a restart, have a place on it). It never goes
/// backwards and ignores changes of the wall clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mono(Duration);

impl Mono {
    /// The monotonic clock now.
    pub fn now() -> Mono {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        Mono(BEFORE_START.saturating_add(ORIGIN.get_or_init(Instant::now).elapsed()))
    }

    /// The point `d` after the origin (for tests and replays).
    pub const fn from_origin(d: Duration) -> Mono {
        Mono(d)
    }

    /// The time since the origin.
    pub fn since_origin(self) -> Duration {
        self.0
    }

    /// The time from `earlier` to `self` (zero when `earlier` is later).
    pub fn since(self, earlier: Mono) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// The point `d` later (saturating).
    pub fn after(self, d: Duration) -> Mono {
        Mono(self.0.saturating_add(d))
    }

    /// The point `d` earlier (saturating at the origin).
    pub fn before(self, d: Duration) -> Mono {
        Mono(self.0.saturating_sub(d))
    }

    /// The point `d` later, for a signed wall-clock span (negative spans count as zero).
    pub fn after_delta(self, d: TimeDelta) -> Mono {
        self.after(d.to_std().unwrap_or(Duration::ZERO))
    }
}

/// One instant read on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub mono: Mono,
    pub wall: DateTime<Utc>,
}

impl Moment {
    /// Both clocks now.
    pub fn now() -> Moment {
        Moment {
            mono: Mono::now(),
            wall: Utc::now(),
        }
    }

    /// `d` later on both clocks (time passing with no change of the wall clock).
    pub fn advanced(self, d: Duration) -> Moment {
        Moment {
            mono: self.mono.after(d),
            wall: self.wall + TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX),
        }
    }

    /// The same monotonic instant with the wall clock set `by` away (a clock jump).
    pub fn wall_jumped(self, by: TimeDelta) -> Moment {
        Moment {
            mono: self.mono,
            wall: self.wall + by,
        }
    }

    /// How far the wall clock moved against the monotonic clock since `earlier`: zero for time
    /// passing normally, about -1 h after the wall clock was set back an hour.
    pub fn wall_drift_since(self, earlier: Moment) -> TimeDelta {
        let mono = TimeDelta::from_std(self.mono.since(earlier.mono)).unwrap_or(TimeDelta::MAX);
        (self.wall - earlier.wall) - mono
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m0() -> Moment {
        Moment {
            mono: Mono::from_origin(Duration::from_secs(100)),
            wall: DateTime::UNIX_EPOCH + TimeDelta::days(20_000),
        }
    }

    #[test]
    fn the_monotonic_clock_never_goes_back() {
        let a = Mono::now();
        let b = Mono::now();
        assert!(b >= a);
        assert_eq!(a.since(a.after(Duration::from_secs(1))), Duration::ZERO);
        assert_eq!(
            a.after(Duration::from_secs(3)).since(a),
            Duration::from_secs(3)
        );
        assert_eq!(a.after_delta(TimeDelta::seconds(-5)), a);
    }

    #[test]
    fn drift_shows_jumps_and_not_time_passing() {
        let t = m0();
        let later = t.advanced(Duration::from_secs(600));
        assert_eq!(later.wall_drift_since(t), TimeDelta::zero());
        let back = later.wall_jumped(TimeDelta::hours(-1));
        assert_eq!(back.wall_drift_since(t), TimeDelta::hours(-1));
        assert_eq!(back.mono, later.mono);
        let ahead = later.wall_jumped(TimeDelta::days(1));
        assert_eq!(ahead.wall_drift_since(t), TimeDelta::days(1));
    }
}
