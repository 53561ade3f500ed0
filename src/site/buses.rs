//! The site config's buses as Modbus transports.

use crate::config::{self, BusKind};
use crate::modbus::{BusOptions, Parity, SerialLine, StopBits, Transport};
use std::time::Duration;

/// The transport a configured bus uses.
pub fn transport(bus: &config::Bus) -> Transport {
    let address = || {
        format!(
            "{}:{}",
            bus.host.as_deref().unwrap_or("127.0.0.1"),
            bus.port.unwrap_or(502)
        )
    };
    match bus.kind {
        BusKind::Tcp => Transport::Tcp { address: address() },
        BusKind::RtuOverTcp => Transport::RtuOverTcp { address: address() },
        BusKind::Rtu => Transport::Rtu(SerialLine {
            path: bus
                .device
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            baud_rate: bus.baud,
            parity: parity(bus.parity),
            stop_bits: if bus.stop_bits == 2 {
                StopBits::Two
            } else {
                StopBits::One
            },
        }),
    }
}

/// Serial parity from the config's spelling.
pub fn parity(p: config::Parity) -> Parity {
    match p {
        config::Parity::None => Parity::None,
        config::Parity::Even => Parity::Even,
        config::Parity::Odd => Parity::Odd,
    }
}

/// The bus options a configured bus uses.
pub fn options(bus: &config::Bus) -> BusOptions {
    BusOptions {
        request_timeout: Duration::from_millis(bus.timeout_ms),
        inter_frame_delay: bus
            .inter_frame_delay_ms
            .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
        ..BusOptions::default()
    }
}
