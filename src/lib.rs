//! hubgate: the edge site controller for EV charging hubs.
//!
//! The library holds everything; `main.rs` only parses the command line and dispatches.
//! See `docs/architecture.md` for a map of the modules and the data flow.

pub mod auth;
pub mod balance;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod control;
pub mod daemon;
pub mod device;
pub mod driver;
pub mod limits;
pub mod modbus;
pub mod mqtt;
#[cfg(test)]
mod numeric_keys;
pub mod ocpp;
pub mod phase;
pub mod recorder;
pub mod report;
pub mod service;
pub mod session;
pub mod sim;
pub mod site;
pub mod status;
pub mod store;
pub mod uplink;
pub mod view;
