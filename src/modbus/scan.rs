//! Finding which unit ids answer on a bus (`hubgate scan`).

use super::error::BusError;
use super::handle::BusHandle;
use super::ops::RegisterKind;

/// What one probe says about a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// Something answered validly: registers or a Modbus exception.
    Present,
    /// Nothing answered in time, or only garbage did.
    Absent,
}

/// Probes each unit with a read of holding register 0 and returns, in order, those that answer.
///
/// Any valid answer, a Modbus exception included, means the unit is there. Probes leave the
/// units' backoff and counters alone. Units that cannot be addressed on the transport (0 and
/// 248..=255 on a serial line) are skipped. The scan stops with an error if the connection is
/// down or the bus is closed, since no answer could then tell anything.
pub async fn scan(
    bus: &BusHandle,
    units: impl IntoIterator<Item = u8>,
) -> Result<Vec<u8>, BusError> {
    scan_with(bus, units, RegisterKind::Holding, 0).await
}

/// Like [`scan`], probing the given register instead (some devices only answer on registers
/// they have).
pub async fn scan_with(
    bus: &BusHandle,
    units: impl IntoIterator<Item = u8>,
    kind: RegisterKind,
    address: u16,
) -> Result<Vec<u8>, BusError> {
    let mut found = Vec::new();
    for unit in units {
        match probe_unit(bus, unit, kind, address).await {
            Ok(Some(Presence::Present)) => found.push(unit),
            Ok(Some(Presence::Absent) | None) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// Probes one unit: `Ok(None)` if the unit cannot be addressed on this bus.
pub async fn probe_unit(
    bus: &BusHandle,
    unit: u8,
    kind: RegisterKind,
    address: u16,
) -> Result<Option<Presence>, BusError> {
    let result = bus.probe(unit, kind, address, 1).await;
    tracing::debug!(unit, ?result, "probe");
    presence(result)
}

fn presence(result: Result<Vec<u16>, BusError>) -> Result<Option<Presence>, BusError> {
    match result {
        Ok(_) | Err(BusError::Exception(_)) => Ok(Some(Presence::Present)),
        Err(BusError::Timeout(_) | BusError::Malformed(_)) => Ok(Some(Presence::Absent)),
        Err(BusError::InvalidRequest(_)) => Ok(None),
        // Probes bypass backoff; should one still be reported, the unit was not heard.
        Err(BusError::Backoff { .. }) => Ok(Some(Presence::Absent)),
        Err(e @ (BusError::Io { .. } | BusError::Disconnected { .. } | BusError::Closed)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::ModbusException;
    use std::time::Duration;

    #[test]
    fn exceptions_mean_present_and_silence_absent() {
        let exc = Err(BusError::Exception(ModbusException::IllegalDataAddress));
        assert_eq!(presence(exc), Ok(Some(Presence::Present)));
        assert_eq!(presence(Ok(vec![7])), Ok(Some(Presence::Present)));
        let silent = Err(BusError::Timeout(Duration::from_millis(50)));
        assert_eq!(presence(silent), Ok(Some(Presence::Absent)));
        let garbage = Err(BusError::Malformed("crc".into()));
        assert_eq!(presence(garbage), Ok(Some(Presence::Absent)));
        assert_eq!(presence(Err(BusError::Closed)), Err(BusError::Closed));
    }
}
