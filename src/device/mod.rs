//! Device runtimes: one task per charger or meter that polls it through its bus with the read
//! plan of its driver, publishes the decoded reading, and (chargers) writes the setpoints the
//! control loop decides, plus the keep-alive the charger needs to stay out of its failsafe.
//!
//! Tasks publish through `watch` channels, so the control loop takes one consistent snapshot of
//! the latest reading of every device at the start of a cycle.

mod poll;
pub mod supervise;
mod task;

pub use poll::{PollError, poll_device};
pub use supervise::TaskStatus;
pub use task::{DeviceCommand, DeviceHandle, DeviceSpec, DeviceState, Role, spawn, write_all};
