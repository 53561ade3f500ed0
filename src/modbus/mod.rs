//! Modbus buses: one task per physical bus (a serial RS-485 line or a TCP endpoint) that owns the
//! connection and serializes its transactions.
//!
//! Transports: Modbus TCP, Modbus RTU on a serial line, and RTU framing tunnelled over TCP.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hubgate::modbus::BusError> {
//! use hubgate::modbus::{Bus, BusOptions, RegisterKind, Transport};
//! let bus = Bus::spawn(
//!     "meters",
//!     Transport::Tcp { address: "192.0.2.10:502".into() },
//!     BusOptions::default(),
//! );
//! let volts = bus.read(1, RegisterKind::Input, 0x0000, 2).await?;
//! bus.write_single(3, 0x4100, 16_000).await?;
//! println!("{volts:?}; {} requests so far", bus.stats().requests);
//! # Ok(()) }
//! ```
//!
//! Behaviour:
//! - every request has a timeout ([`BusOptions::request_timeout`]);
//! - a unit that fails [`BusOptions::failures_before_backoff`] times in a row goes into
//!   exponential backoff; meanwhile its requests fail fast with [`BusError::Backoff`] without
//!   touching the bus, so a dead device costs the others at most one timeout per backoff period;
//! - on Modbus TCP a reply is matched to its request by the MBAP transaction id: a late reply
//!   to an earlier request (one that timed out) is dropped and the wait for the right one goes
//!   on until the deadline, so a slow unit's timeout is never blamed on the next unit; on RTU
//!   framing, which has no transaction id, a reply from another unit or function is dropped
//!   without blame ([`BusStats::late_replies`] counts both);
//! - after a timeout or a garbled reply the link is resynchronised (stray bytes discarded until
//!   the line is quiet, framing restarted) so a late reply is never taken for the next answer;
//!   a broken connection (or garbage on Modbus TCP) is reopened, with its own backoff;
//! - units' health survives reconnects;
//! - on a serial line the RTU silent interval (t3.5) is kept between transactions;
//! - [`BusHandle::stats`] reports requests, errors, per-unit health and the bus time each unit
//!   consumed.

mod actor;
mod config;
mod connection;
mod error;
mod handle;
mod health;
mod link;
mod mbap;
mod ops;
mod scan;
mod shared;
mod stats;
mod stream;

pub use config::{BusOptions, Parity, SerialLine, StopBits, Transport, silent_interval};
pub use error::{BusError, ModbusException};
pub use handle::{Bus, BusHandle};
pub use health::{BackoffPolicy, Health};
pub use ops::{MAX_READ_REGISTERS, MAX_WRITE_REGISTERS, RegisterKind};
pub use scan::{Presence, probe_unit, scan, scan_with};
pub use stats::{BusStats, LinkStatus, UnitStats, UnitStatus};
