//! Charging sessions: from every charger's readings, cycle after cycle, the connectors' OCPP
//! statuses, the transactions (journaled before anything else happens to them), their meter
//! values and local cost; and the CSMS's commands carried out on the chargers.
//!
//! Pure cores: [`connector`] (one connector's state machine), [`energy`] (a never-decreasing
//! energy register from the chargers' own counters), [`tariff`] (local cost).

mod commands;
pub mod connector;
mod cycle;
mod effects;
pub mod energy;
mod keep;
pub mod observe;
mod recovery;
pub mod tariff;
mod task;
pub mod unjournaled;

pub use cycle::{other_load, uplink_view};
pub use task::{SessionConfig, SessionError, Sessions};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_clock;
