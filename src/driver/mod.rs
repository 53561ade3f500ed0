//! Device drivers as data: one TOML file per charger or meter model (`drivers/`), describing its
//! Modbus register map. The registry loads them; the pure codec, planner and decoder turn
//! registers into readings and setpoints into register writes; the register image does the
//! reverse for the simulator.

pub mod codec;
mod describe;
pub mod image;
mod load;
mod model;
pub mod numbers;
mod plan;
mod reading;
pub mod schema;
mod write;

pub use codec::{DataType, Unit, WordOrder};
pub use load::{DriverErrors, DriverProblem, Registry, parse};
pub use model::Driver;
pub use plan::{ReadBlock, plan};
pub use reading::{
    ChargerReading, ConnectorStatus, DeviceReading, IecState, Implausible, Plausible, Value,
};
pub use write::{Keepalive, RegisterWrite, WriteFunction};
