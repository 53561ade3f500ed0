//! Charging sessions: from every charger's readings, cycle after cycle, the connectors' OCPP
//! statuses, the transactions (journaled before anything else happens to them), their meter
//! values and local cost; and the CSMS's commands carried out on the chargers.
//!
//! Pure cores: [`connector`] (one connector's state machine), [`energy`] (a never-decreasing
//! energy register from the chargers' own counters), [`tariff`] (local cost).

pub mod connector;
pub mod energy;
pub mod tariff;

#[cfg(test)]
mod tests;
