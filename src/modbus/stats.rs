//! Bus and per-unit statistics: what the bus did, how long each unit held it, who is failing.
//!
//! The bus task keeps them up to date; [`crate::modbus::BusHandle::stats`] returns a snapshot.

use super::error::BusError;
use super::health::Health;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// State of the bus's connection (TCP socket or serial port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// No connection attempt has finished yet.
    Connecting,
    /// Connected since the given instant.
    Connected {
        /// When the current connection was established.
        since: Instant,
    },
    /// The connection is down; the next attempt is due at `retry_at`.
    Down {
        /// Why the last connection attempt or connection failed.
        reason: String,
        /// When the next connection attempt is due.
        retry_at: Instant,
    },
}

/// A unit's condition, for status displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitStatus {
    /// Never answered yet, and not failing.
    Unknown,
    /// Its last transaction got an answer.
    Online,
    /// Failed recently but not (or no longer) in backoff: the next request goes on the bus.
    Failing {
        /// Failures in a row.
        consecutive: u32,
    },
    /// In backoff: requests fail fast until `until`.
    Backoff {
        /// Failures in a row.
        consecutive: u32,
        /// End of the backoff.
        until: Instant,
    },
}

/// Counters and health of one unit (device) on the bus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitStats {
    /// Requests for this unit (including those that failed fast).
    pub requests: u64,
    /// Requests actually put on the bus (transaction slots used).
    pub transactions: u64,
    /// Successful replies.
    pub ok: u64,
    /// Modbus exception replies.
    pub exceptions: u64,
    /// Requests that got no reply in time.
    pub timeouts: u64,
    /// Garbled, short or mismatched replies.
    pub malformed: u64,
    /// Requests that failed on a connection error.
    pub io_errors: u64,
    /// Requests refused without touching the bus because the unit was in backoff.
    pub backoff_rejections: u64,
    /// Requests refused because the connection was down.
    pub disconnected_rejections: u64,
    /// Bus time this unit's transactions consumed: the silent interval before each (at least the
    /// configured inter-frame delay), request, reply (or the whole timeout) and any
    /// resynchronisation they caused.
    pub bus_time: Duration,
    /// Backoff state: consecutive failures and backoff end.
    pub health: Health,
    /// When the unit last answered (a reply or an exception).
    pub last_answer: Option<Instant>,
    /// The last error a request for this unit got.
    pub last_error: Option<BusError>,
}

impl UnitStats {
    /// Requests that did not succeed (every outcome but a regular reply).
    pub fn errors(&self) -> u64 {
        self.requests - self.ok
    }

    /// Whether the unit is in backoff at `now`.
    pub fn in_backoff(&self, now: Instant) -> bool {
        self.health.in_backoff(now)
    }

    /// The unit's condition at `now`.
    pub fn status(&self, now: Instant) -> UnitStatus {
        let consecutive = self.health.consecutive_failures();
        match (self.health.admit(now), consecutive, self.last_answer) {
            (Err(until), _, _) => UnitStatus::Backoff { consecutive, until },
            (Ok(()), 0, Some(_)) => UnitStatus::Online,
            (Ok(()), 0, None) => UnitStatus::Unknown,
            (Ok(()), _, _) => UnitStatus::Failing { consecutive },
        }
    }
}

/// Counters of the whole bus, with one [`UnitStats`] per unit that was addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusStats {
    /// The bus name given at spawn.
    pub name: String,
    /// The transport, as text (e.g. `tcp://10.0.0.5:502`).
    pub transport: String,
    /// Connection state.
    pub link: LinkStatus,
    /// Requests received (including fast failures and probes).
    pub requests: u64,
    /// Requests put on the bus.
    pub transactions: u64,
    /// Successful replies.
    pub ok: u64,
    /// Modbus exception replies.
    pub exceptions: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Garbled, short or mismatched replies.
    pub malformed: u64,
    /// Connection errors during a transaction.
    pub io_errors: u64,
    /// Requests refused because their unit was in backoff.
    pub backoff_rejections: u64,
    /// Requests refused because the connection was down.
    pub disconnected_rejections: u64,
    /// Requests refused as invalid.
    pub invalid_requests: u64,
    /// Successful connects (the first one included).
    pub connects: u64,
    /// Failed connect attempts.
    pub connect_failures: u64,
    /// Resynchronisations after a timeout or a garbled reply.
    pub resyncs: u64,
    /// Stray bytes discarded (late replies, noise).
    pub discarded_bytes: u64,
    /// Replies dropped because they answered an earlier request, not the one outstanding (on
    /// Modbus TCP: another transaction id; on RTU framing: another unit or function). They
    /// count against no unit: the earlier request's unit already had its timeout.
    pub late_replies: u64,
    /// Bytes written to the transport.
    pub bytes_sent: u64,
    /// Bytes read from the transport (discarded ones included).
    pub bytes_received: u64,
    /// Total bus time of all transactions (probes included).
    pub busy: Duration,
    /// Probe transactions (from scans), which are not counted per unit.
    pub probes: u64,
    /// Per-unit counters, by unit id.
    pub units: BTreeMap<u8, UnitStats>,
}

impl BusStats {
    pub(crate) fn new(name: &str, transport: String) -> Self {
        Self {
            name: name.to_owned(),
            transport,
            link: LinkStatus::Connecting,
            requests: 0,
            transactions: 0,
            ok: 0,
            exceptions: 0,
            timeouts: 0,
            malformed: 0,
            io_errors: 0,
            backoff_rejections: 0,
            disconnected_rejections: 0,
            invalid_requests: 0,
            connects: 0,
            connect_failures: 0,
            resyncs: 0,
            discarded_bytes: 0,
            late_replies: 0,
            bytes_sent: 0,
            bytes_received: 0,
            busy: Duration::ZERO,
            probes: 0,
            units: BTreeMap::new(),
        }
    }

    /// Requests that did not succeed.
    pub fn errors(&self) -> u64 {
        self.requests - self.ok
    }

    /// One unit's counters, if the unit was ever addressed.
    pub fn unit(&self, unit: u8) -> Option<&UnitStats> {
        self.units.get(&unit)
    }

    /// The fraction (0..=1) of all bus time that `unit` consumed.
    pub fn bus_time_share(&self, unit: u8) -> f64 {
        let total = self.busy.as_secs_f64();
        match self.units.get(&unit) {
            Some(u) if total > 0.0 => u.bus_time.as_secs_f64() / total,
            _ => 0.0,
        }
    }

    /// The fraction (0..=1) of all transactions (bus slots) that `unit` used.
    pub fn transaction_share(&self, unit: u8) -> f64 {
        match self.units.get(&unit) {
            Some(u) if self.transactions > 0 => u.transactions as f64 / self.transactions as f64,
            _ => 0.0,
        }
    }

    /// Counts one finished request. `bus_time` is `Some` when the request went on the bus.
    pub(crate) fn record(
        &mut self,
        unit: u8,
        result: Result<(), &BusError>,
        bus_time: Option<Duration>,
        probe: bool,
        now: Instant,
    ) {
        self.requests += 1;
        if let Some(t) = bus_time {
            self.transactions += 1;
            self.busy += t;
        }
        bump(self.counter(result), 1);
        if probe {
            self.probes += u64::from(bus_time.is_some());
            return;
        }
        let u = self.units.entry(unit).or_default();
        u.requests += 1;
        if let Some(t) = bus_time {
            u.transactions += 1;
            u.bus_time += t;
        }
        match result {
            Ok(()) => {
                u.ok += 1;
                u.last_answer = Some(now);
            }
            Err(e) => {
                match e {
                    BusError::Timeout(_) => u.timeouts += 1,
                    BusError::Exception(_) => {
                        u.exceptions += 1;
                        u.last_answer = Some(now);
                    }
                    BusError::Malformed(_) => u.malformed += 1,
                    BusError::Io { .. } => u.io_errors += 1,
                    BusError::Backoff { .. } => u.backoff_rejections += 1,
                    BusError::Disconnected { .. } => u.disconnected_rejections += 1,
                    BusError::InvalidRequest(_) | BusError::Closed => {}
                }
                u.last_error = Some(e.clone());
            }
        }
    }

    fn counter(&mut self, result: Result<(), &BusError>) -> &mut u64 {
        match result {
            Ok(()) => &mut self.ok,
            Err(BusError::Timeout(_)) => &mut self.timeouts,
            Err(BusError::Exception(_)) => &mut self.exceptions,
            Err(BusError::Malformed(_)) => &mut self.malformed,
            Err(BusError::Io { .. } | BusError::Closed) => &mut self.io_errors,
            Err(BusError::Backoff { .. }) => &mut self.backoff_rejections,
            Err(BusError::Disconnected { .. }) => &mut self.disconnected_rejections,
            Err(BusError::InvalidRequest(_)) => &mut self.invalid_requests,
        }
    }
}

fn bump(counter: &mut u64, by: u64) {
    *counter = counter.saturating_add(by);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_unit_and_bus_totals() {
        let mut s = BusStats::new("b", "tcp://x".into());
        let now = Instant::now();
        let ms = Duration::from_millis;
        s.record(1, Ok(()), Some(ms(10)), false, now);
        s.record(2, Err(&BusError::Timeout(ms(50))), Some(ms(50)), false, now);
        let backoff = BusError::Backoff {
            unit: 2,
            until: now,
        };
        s.record(2, Err(&backoff), None, false, now);
        s.record(9, Err(&BusError::Timeout(ms(50))), Some(ms(40)), true, now);
        assert_eq!((s.requests, s.transactions, s.ok, s.timeouts), (4, 3, 1, 2));
        assert_eq!(s.errors(), 3);
        assert_eq!(s.busy, ms(100));
        assert_eq!(s.probes, 1);
        assert!(s.unit(9).is_none(), "probes are not counted per unit");
        let u2 = s.unit(2).unwrap();
        assert_eq!(
            (u2.requests, u2.transactions, u2.backoff_rejections),
            (2, 1, 1)
        );
        assert_eq!(u2.last_error, Some(backoff));
        assert!((s.bus_time_share(2) - 0.5).abs() < 1e-9);
        assert!((s.transaction_share(1) - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn status_follows_health() {
        let policy = crate::modbus::BackoffPolicy {
            threshold: 2,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
        };
        let now = Instant::now();
        let mut u = UnitStats::default();
        assert_eq!(u.status(now), UnitStatus::Unknown);
        u.health.record_failure(now, &policy);
        assert_eq!(u.status(now), UnitStatus::Failing { consecutive: 1 });
        let until = u.health.record_failure(now, &policy).unwrap();
        assert_eq!(
            u.status(now),
            UnitStatus::Backoff {
                consecutive: 2,
                until
            }
        );
        assert_eq!(u.status(until), UnitStatus::Failing { consecutive: 2 });
        u.health.record_success();
        u.last_answer = Some(now);
        assert_eq!(u.status(now), UnitStatus::Online);
    }

    #[test]
    fn an_exception_counts_as_an_answer() {
        let mut s = BusStats::new("b", "tcp://x".into());
        let now = Instant::now();
        let e = BusError::Exception(super::super::ModbusException::IllegalDataAddress);
        s.record(3, Err(&e), Some(Duration::from_millis(1)), false, now);
        let u = s.unit(3).unwrap();
        assert_eq!(u.exceptions, 1);
        assert_eq!(u.last_answer, Some(now));
    }
}
