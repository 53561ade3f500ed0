//! The whole site as one OCPP 1.6J charge point: simulated chargers over real Modbus, the real
//! site runtime and sessions, a real SQLite journal, against the independent CSMS on the Python
//! `ocpp` package (which validates every payload against the official JSON schemas).

#[path = "../support/mod.rs"]
mod support;

#[path = "../ocpp_support/mod.rs"]
mod ocpp_support;

mod auth;
mod commands;
mod flow;
mod hub;
mod offline;
mod restart;
mod smart;
