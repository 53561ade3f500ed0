//! The simulator: chargers, meters, cars and a building load, served over Modbus from the same
//! driver files the daemon uses. `hubgate simulate`, `hubgate demo` and the tests run it.

pub mod load;
pub mod model;
pub mod serve;
pub mod world;
