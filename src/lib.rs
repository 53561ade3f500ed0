//! hubgate: the edge site controller for EV charging hubs.
//!
//! The library holds everything; `main.rs` only parses the command line and dispatches.
//! See `docs/architecture.md` for a map of the modules and the data flow.

pub mod cli;
pub mod config;
pub mod modbus;
pub mod phase;
pub mod service;
pub mod sim;
pub mod status;
pub mod store;
pub mod view;
