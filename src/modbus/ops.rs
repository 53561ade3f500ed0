//! Bus operations as plain data: validation, the Modbus request they become, checking the reply,
//! and classifying failures. No I/O here.

use super::error::{BusError, ModbusException};
use std::borrow::Cow;
use std::io;
use tokio_modbus::{ProtocolError, Request, Response};

/// Most registers one read may ask for (FC3/FC4), per the Modbus application protocol.
pub const MAX_READ_REGISTERS: u16 = 125;
/// Most registers one write may carry (FC16), per the Modbus application protocol.
pub const MAX_WRITE_REGISTERS: u16 = 123;

/// Which register table a read addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterKind {
    /// Holding registers, read with function code 3 (read/write data).
    Holding,
    /// Input registers, read with function code 4 (read-only measurements).
    Input,
}

/// One request to a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Operation {
    Read {
        kind: RegisterKind,
        address: u16,
        count: u16,
    },
    WriteSingle {
        address: u16,
        value: u16,
    },
    WriteMultiple {
        address: u16,
        values: Vec<u16>,
    },
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Registers(Vec<u16>),
    Written,
}

/// What the link needs after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Nothing: the link is in step.
    None,
    /// Discard stray bytes until the line is quiet and restart framing.
    Resync,
    /// Drop the connection and connect again.
    Reconnect,
}

/// A failed transaction, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub error: BusError,
    pub recovery: Recovery,
    /// Whether the failure counts against the unit's health.
    pub unit_fault: bool,
}

impl Operation {
    /// The Modbus function code.
    pub(crate) fn function_code(&self) -> u8 {
        match self {
            Self::Read {
                kind: RegisterKind::Holding,
                ..
            } => 0x03,
            Self::Read {
                kind: RegisterKind::Input,
                ..
            } => 0x04,
            Self::WriteSingle { .. } => 0x06,
            Self::WriteMultiple { .. } => 0x10,
        }
    }

    /// Checks counts and address ranges against the protocol's limits.
    pub(crate) fn validate(&self) -> Result<(), BusError> {
        let (address, count, max) = match self {
            Self::Read { address, count, .. } => (*address, *count, MAX_READ_REGISTERS),
            Self::WriteSingle { .. } => return Ok(()),
            Self::WriteMultiple { address, values } => {
                let count = u16::try_from(values.len()).unwrap_or(u16::MAX);
                (*address, count, MAX_WRITE_REGISTERS)
            }
        };
        if count == 0 || count > max {
            return Err(BusError::InvalidRequest(format!(
                "register count {count} is outside 1..={max}"
            )));
        }
        if u32::from(address) + u32::from(count) > 0x1_0000 {
            return Err(BusError::InvalidRequest(format!(
                "registers {address}..{} run past address 65535",
                u32::from(address) + u32::from(count)
            )));
        }
        Ok(())
    }

    /// The tokio-modbus request.
    pub(crate) fn request(&self) -> Request<'_> {
        match self {
            Self::Read {
                kind: RegisterKind::Holding,
                address,
                count,
            } => Request::ReadHoldingRegisters(*address, *count),
            Self::Read {
                kind: RegisterKind::Input,
                address,
                count,
            } => Request::ReadInputRegisters(*address, *count),
            Self::WriteSingle { address, value } => Request::WriteSingleRegister(*address, *value),
            Self::WriteMultiple { address, values } => {
                Request::WriteMultipleRegisters(*address, Cow::Borrowed(values))
            }
        }
    }

    /// Checks a decoded reply against the request: register count, echoed address and values.
    pub(crate) fn accept(&self, response: Response) -> Result<Reply, BusError> {
        let malformed = |what: String| Err(BusError::Malformed(what));
        match (self, response) {
            (Self::Read { kind, count, .. }, response) => {
                let words = match (kind, response) {
                    (RegisterKind::Holding, Response::ReadHoldingRegisters(w))
                    | (RegisterKind::Input, Response::ReadInputRegisters(w)) => w,
                    (_, other) => return malformed(format!("unexpected reply {other:?}")),
                };
                if words.len() != usize::from(*count) {
                    return malformed(format!("asked for {count} registers, got {}", words.len()));
                }
                Ok(Reply::Registers(words))
            }
            (Self::WriteSingle { address, value }, Response::WriteSingleRegister(a, v)) => {
                if (a, v) != (*address, *value) {
                    return malformed(format!(
                        "write echo {a}={v} does not match request {address}={value}"
                    ));
                }
                Ok(Reply::Written)
            }
            (Self::WriteMultiple { address, values }, Response::WriteMultipleRegisters(a, n)) => {
                if a != *address || usize::from(n) != values.len() {
                    return malformed(format!(
                        "write echo {n} registers at {a} does not match request {} at {address}",
                        values.len()
                    ));
                }
                Ok(Reply::Written)
            }
            (_, other) => malformed(format!("unexpected reply {other:?}")),
        }
    }
}

/// Checks that `unit` can be addressed on the transport and get an answer.
pub(crate) fn validate_unit(unit: u8, rtu: bool) -> Result<(), BusError> {
    if rtu && unit == 0 {
        return Err(BusError::InvalidRequest(
            "unit 0 is the RTU broadcast address and never answers".into(),
        ));
    }
    if rtu && unit > 247 {
        return Err(BusError::InvalidRequest(format!(
            "unit {unit} is reserved on a serial line (valid: 1..=247)"
        )));
    }
    Ok(())
}

/// Classifies a Modbus exception reply.
pub(crate) fn exception_failure(exception: ModbusException) -> Failure {
    Failure {
        error: BusError::Exception(exception),
        recovery: Recovery::None,
        unit_fault: exception.means_device_unreachable(),
    }
}

/// Classifies an error from the Modbus client. On a stream transport (Modbus TCP) a garbled
/// frame leaves the stream out of step, so it is reconnected; RTU framing resynchronises on
/// silence.
///
/// A reply from another unit or for another function has no transaction id to tell whose it
/// is; on RTU framing it is the late answer to an earlier request (whose unit already had its
/// timeout), so it is dropped with a resync and not counted against the unit asked now.
pub(crate) fn classify_error(err: &tokio_modbus::Error, rtu: bool) -> Failure {
    let garbled = if rtu {
        Recovery::Resync
    } else {
        Recovery::Reconnect
    };
    match err {
        tokio_modbus::Error::Protocol(ProtocolError::HeaderMismatch { message, .. }) => Failure {
            error: BusError::Malformed(format!("reply does not belong to the request: {message}")),
            recovery: garbled,
            unit_fault: !rtu,
        },
        tokio_modbus::Error::Protocol(ProtocolError::FunctionCodeMismatch { request, .. }) => {
            Failure {
                error: BusError::Malformed(format!(
                    "reply has a different function code than request {request}"
                )),
                recovery: garbled,
                unit_fault: !rtu,
            }
        }
        tokio_modbus::Error::Transport(e) if e.kind() == io::ErrorKind::InvalidData => Failure {
            error: BusError::Malformed(e.to_string()),
            recovery: garbled,
            unit_fault: true,
        },
        tokio_modbus::Error::Transport(e) => Failure {
            error: BusError::io(e),
            recovery: Recovery::Reconnect,
            unit_fault: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(kind: RegisterKind, address: u16, count: u16) -> Operation {
        Operation::Read {
            kind,
            address,
            count,
        }
    }

    #[test]
    fn counts_and_ranges_are_checked() {
        assert!(read(RegisterKind::Holding, 0, 125).validate().is_ok());
        assert!(read(RegisterKind::Holding, 0, 126).validate().is_err());
        assert!(read(RegisterKind::Input, 0, 0).validate().is_err());
        assert!(read(RegisterKind::Input, 65_535, 1).validate().is_ok());
        assert!(read(RegisterKind::Input, 65_535, 2).validate().is_err());
        let w = |n: usize| Operation::WriteMultiple {
            address: 10,
            values: vec![0; n],
        };
        assert!(w(123).validate().is_ok());
        assert!(w(124).validate().is_err());
        assert!(w(0).validate().is_err());
    }

    #[test]
    fn units_on_rtu_must_be_addressable() {
        assert!(validate_unit(0, true).is_err());
        assert!(validate_unit(248, true).is_err());
        assert!(validate_unit(1, true).is_ok());
        assert!(validate_unit(0, false).is_ok());
        assert!(validate_unit(255, false).is_ok());
    }

    #[test]
    fn short_and_mismatched_replies_are_malformed() {
        let op = read(RegisterKind::Holding, 100, 3);
        assert_eq!(op.function_code(), 3);
        let short = op.accept(Response::ReadHoldingRegisters(vec![1, 2]));
        assert!(matches!(short, Err(BusError::Malformed(m)) if m.contains("asked for 3")));
        let wrong = op.accept(Response::ReadInputRegisters(vec![1, 2, 3]));
        assert!(matches!(wrong, Err(BusError::Malformed(_))));
        let ws = Operation::WriteSingle {
            address: 7,
            value: 42,
        };
        assert_eq!(
            ws.accept(Response::WriteSingleRegister(7, 42)),
            Ok(Reply::Written)
        );
        assert!(ws.accept(Response::WriteSingleRegister(7, 43)).is_err());
        let wm = Operation::WriteMultiple {
            address: 7,
            values: vec![1, 2],
        };
        assert_eq!(
            wm.accept(Response::WriteMultipleRegisters(7, 2)),
            Ok(Reply::Written)
        );
        assert!(wm.accept(Response::WriteMultipleRegisters(8, 2)).is_err());
    }

    #[test]
    fn garbage_resyncs_rtu_and_reconnects_tcp() {
        let garbage = tokio_modbus::Error::Transport(io::Error::new(
            io::ErrorKind::InvalidData,
            "Invalid CRC",
        ));
        let f = classify_error(&garbage, true);
        assert_eq!((f.recovery, f.unit_fault), (Recovery::Resync, true));
        assert!(matches!(f.error, BusError::Malformed(m) if m.contains("CRC")));
        assert_eq!(
            classify_error(&garbage, false).recovery,
            Recovery::Reconnect
        );
        let reset = tokio_modbus::Error::Transport(io::ErrorKind::ConnectionReset.into());
        let f = classify_error(&reset, true);
        assert_eq!((f.recovery, f.unit_fault), (Recovery::Reconnect, false));
        assert!(matches!(
            f.error,
            BusError::Io {
                kind: io::ErrorKind::ConnectionReset,
                ..
            }
        ));
    }

    #[test]
    fn a_foreign_reply_on_rtu_is_dropped_without_blame() {
        let foreign = tokio_modbus::Error::Protocol(ProtocolError::HeaderMismatch {
            message: "expected slave 2, got 1".into(),
            result: Ok(Response::ReadHoldingRegisters(vec![1])),
        });
        let f = classify_error(&foreign, true);
        assert_eq!((f.recovery, f.unit_fault), (Recovery::Resync, false));
        let f = classify_error(&foreign, false);
        assert_eq!((f.recovery, f.unit_fault), (Recovery::Reconnect, true));
    }

    #[test]
    fn gateway_exceptions_count_against_the_unit() {
        let f = exception_failure(ModbusException::GatewayTargetDeviceFailedToRespond);
        assert!(f.unit_fault);
        let f = exception_failure(ModbusException::IllegalDataAddress);
        assert!(!f.unit_fault);
        assert_eq!(f.recovery, Recovery::None);
    }

    proptest! {
        #[test]
        fn a_read_reply_of_the_asked_length_is_accepted(
            address in 0u16..1000, words in proptest::collection::vec(any::<u16>(), 1..=125)
        ) {
            let count = words.len() as u16;
            let op = read(RegisterKind::Input, address, count);
            prop_assert!(op.validate().is_ok());
            let reply = op.accept(Response::ReadInputRegisters(words.clone()));
            prop_assert_eq!(reply, Ok(Reply::Registers(words)));
        }
    }
}
