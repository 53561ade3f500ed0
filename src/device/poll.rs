//! One poll of one device: every block of its driver's read plan, decoded.

use crate::driver::{DeviceReading, Driver, ReadBlock};
use crate::modbus::{BusError, BusHandle};

/// Why a poll gave no reading.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PollError {
    /// The device did not answer or the bus is down: nothing is known about it.
    #[error("{0}")]
    Bus(BusError),
    /// The device answered every block with a Modbus exception (wrong driver or unit id?).
    #[error("every read was refused: {0}")]
    Refused(BusError),
}

/// Reads every block of the driver's plan from `unit` and decodes them.
///
/// A block the device refuses with a Modbus exception leaves its values empty and the other
/// blocks still count; a timeout or a connection error fails the whole poll at once (the device
/// is not answering, so the remaining blocks would only cost more timeouts).
pub async fn poll_device(
    bus: &BusHandle,
    unit: u8,
    driver: &Driver,
) -> Result<DeviceReading, PollError> {
    let plan = driver.read_plan();
    let mut blocks: Vec<(ReadBlock, Vec<u16>)> = Vec::with_capacity(plan.len());
    let mut refused = None;
    for block in plan {
        match bus.read(unit, block.kind, block.address, block.count).await {
            Ok(words) => blocks.push((*block, words)),
            Err(e) if e.is_device_answer() => refused = Some(e),
            Err(e) => return Err(PollError::Bus(e)),
        }
    }
    match refused {
        Some(e) if blocks.is_empty() => Err(PollError::Refused(e)),
        _ => Ok(driver.decode(&blocks)),
    }
}
