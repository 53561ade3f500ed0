//! What can go wrong on a Modbus bus, as seen by the caller of a request.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

/// A Modbus exception: the device answered, but refused or could not carry out the request.
///
/// The numeric codes are those of the Modbus application protocol specification (section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModbusException {
    /// 0x01: the function code is not supported by the device.
    IllegalFunction,
    /// 0x02: the register address (or address + count) is not valid on the device.
    IllegalDataAddress,
    /// 0x03: a value in the request is not acceptable to the device.
    IllegalDataValue,
    /// 0x04: an unrecoverable error occurred in the device while carrying out the request.
    ServerDeviceFailure,
    /// 0x05: the device accepted a long-running request and is still working on it.
    Acknowledge,
    /// 0x06: the device is busy with a long-running command; retry later.
    ServerDeviceBusy,
    /// 0x08: the device detected a parity error in its memory.
    MemoryParityError,
    /// 0x0A: the gateway could not allocate a path to the target device.
    GatewayPathUnavailable,
    /// 0x0B: the gateway got no answer from the target device.
    GatewayTargetDeviceFailedToRespond,
    /// Any other code a device may send.
    Other(u8),
}

impl ModbusException {
    /// The exception from its numeric code.
    pub fn from_code(code: u8) -> Self {
        match code {
            0x01 => Self::IllegalFunction,
            0x02 => Self::IllegalDataAddress,
            0x03 => Self::IllegalDataValue,
            0x04 => Self::ServerDeviceFailure,
            0x05 => Self::Acknowledge,
            0x06 => Self::ServerDeviceBusy,
            0x08 => Self::MemoryParityError,
            0x0A => Self::GatewayPathUnavailable,
            0x0B => Self::GatewayTargetDeviceFailedToRespond,
            other => Self::Other(other),
        }
    }

    /// The numeric exception code sent on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::IllegalFunction => 0x01,
            Self::IllegalDataAddress => 0x02,
            Self::IllegalDataValue => 0x03,
            Self::ServerDeviceFailure => 0x04,
            Self::Acknowledge => 0x05,
            Self::ServerDeviceBusy => 0x06,
            Self::MemoryParityError => 0x08,
            Self::GatewayPathUnavailable => 0x0A,
            Self::GatewayTargetDeviceFailedToRespond => 0x0B,
            Self::Other(code) => code,
        }
    }

    /// The name of the exception as the specification spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::IllegalFunction => "IllegalFunction",
            Self::IllegalDataAddress => "IllegalDataAddress",
            Self::IllegalDataValue => "IllegalDataValue",
            Self::ServerDeviceFailure => "ServerDeviceFailure",
            Self::Acknowledge => "Acknowledge",
            Self::ServerDeviceBusy => "ServerDeviceBusy",
            Self::MemoryParityError => "MemoryParityError",
            Self::GatewayPathUnavailable => "GatewayPathUnavailable",
            Self::GatewayTargetDeviceFailedToRespond => "GatewayTargetDeviceFailedToRespond",
            Self::Other(_) => "Unknown",
        }
    }

    /// Whether the exception means the target device itself did not answer (a gateway saying so).
    ///
    /// Such exceptions count against the unit's health like a timeout; all others prove the device
    /// is alive.
    pub fn means_device_unreachable(self) -> bool {
        matches!(
            self,
            Self::GatewayPathUnavailable | Self::GatewayTargetDeviceFailedToRespond
        )
    }
}

impl fmt::Display for ModbusException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} {}", self.code(), self.name())
    }
}

impl From<tokio_modbus::ExceptionCode> for ModbusException {
    fn from(code: tokio_modbus::ExceptionCode) -> Self {
        Self::from_code(code.into())
    }
}

/// The error of one bus request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// No reply arrived within the request timeout.
    #[error("no reply within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The device answered with a Modbus exception.
    #[error("Modbus exception {0}")]
    Exception(ModbusException),
    /// The connection failed or broke (connect refused, reset, closed, serial port gone).
    #[error("connection error ({kind}): {message}")]
    Io {
        /// The I/O error kind, for programmatic checks.
        kind: io::ErrorKind,
        /// What happened, for humans.
        message: String,
    },
    /// The connection is down and the next reconnect attempt is not due yet; nothing was sent.
    #[error("not connected ({reason}); next reconnect attempt in {} ms", remaining_ms(*.retry_at))]
    Disconnected {
        /// Why the last connection attempt or connection failed.
        reason: String,
        /// When the bus will try to connect again.
        retry_at: Instant,
    },
    /// Bytes arrived but they were not a valid reply to the request (bad CRC, bad framing, wrong
    /// unit or function, short or inconsistent data).
    #[error("malformed reply: {0}")]
    Malformed(String),
    /// The unit failed recently and is in backoff: the request failed fast without touching the bus.
    #[error("unit {unit} is in backoff for another {} ms after repeated failures", remaining_ms(*.until))]
    Backoff {
        /// The unit (slave) id.
        unit: u8,
        /// When the unit will be tried again.
        until: Instant,
    },
    /// The request itself is invalid (count out of range, address overflow, unit not addressable).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The bus task has stopped.
    #[error("bus is closed")]
    Closed,
}

impl BusError {
    /// The I/O error as a bus error.
    pub fn io(err: &io::Error) -> Self {
        Self::Io {
            kind: err.kind(),
            message: err.to_string(),
        }
    }

    /// Whether this error proves that a device answered (a Modbus exception).
    pub fn is_device_answer(&self) -> bool {
        matches!(self, Self::Exception(_))
    }
}

fn remaining_ms(at: Instant) -> u128 {
    at.saturating_duration_since(Instant::now()).as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_codes_round_trip() {
        for code in 0u8..=255 {
            assert_eq!(ModbusException::from_code(code).code(), code);
        }
    }

    #[test]
    fn exception_display_names_code_and_name() {
        let e = BusError::Exception(ModbusException::from_code(2));
        assert_eq!(e.to_string(), "Modbus exception 0x02 IllegalDataAddress");
        let e = BusError::Exception(ModbusException::from_code(0x0B));
        assert_eq!(
            e.to_string(),
            "Modbus exception 0x0B GatewayTargetDeviceFailedToRespond"
        );
        assert_eq!(ModbusException::from_code(0x42).name(), "Unknown");
    }

    #[test]
    fn tokio_modbus_codes_map_to_ours() {
        let ours: ModbusException = tokio_modbus::ExceptionCode::GatewayTargetDevice.into();
        assert_eq!(ours, ModbusException::GatewayTargetDeviceFailedToRespond);
        let ours: ModbusException = tokio_modbus::ExceptionCode::IllegalDataAddress.into();
        assert_eq!(ours.code(), 2);
    }

    #[test]
    fn only_gateway_exceptions_mean_unreachable() {
        let unreachable: Vec<u8> = (0u8..=255)
            .filter(|c| ModbusException::from_code(*c).means_device_unreachable())
            .collect();
        assert_eq!(unreachable, vec![0x0A, 0x0B]);
    }
}
