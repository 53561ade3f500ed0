//! How a bus is reached (its transport) and how it behaves (timeouts, backoff, pacing).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Parity of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// No parity bit (the Modbus serial line spec then asks for 2 stop bits; many devices use 1).
    None,
    /// Even parity: the Modbus serial line default.
    #[default]
    Even,
    /// Odd parity.
    Odd,
}

/// Stop bits of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum StopBits {
    /// One stop bit.
    #[default]
    One,
    /// Two stop bits.
    Two,
}

impl TryFrom<u8> for StopBits {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        match n {
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            other => Err(format!("stop bits must be 1 or 2, not {other}")),
        }
    }
}

impl From<StopBits> for u8 {
    fn from(s: StopBits) -> u8 {
        match s {
            StopBits::One => 1,
            StopBits::Two => 2,
        }
    }
}

/// An RS-485 serial line spoken in Modbus RTU. Data bits are always 8, as RTU requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialLine {
    /// Device path, e.g. `/dev/ttyUSB0` or `/dev/serial/by-id/...`.
    pub path: String,
    /// Baud rate, e.g. 9600, 19200, 38400, 115200.
    pub baud_rate: u32,
    /// Parity.
    #[serde(default)]
    pub parity: Parity,
    /// Stop bits.
    #[serde(default)]
    pub stop_bits: StopBits,
}

impl SerialLine {
    /// Bits on the wire per character: start + 8 data + parity (if any) + stop bits.
    pub fn bits_per_char(&self) -> u32 {
        let parity = match self.parity {
            Parity::None => 0,
            Parity::Even | Parity::Odd => 1,
        };
        1 + 8 + parity + u32::from(u8::from(self.stop_bits))
    }

    /// The RTU silent interval between frames (t3.5) for this line.
    ///
    /// 3.5 character times at the line's baud rate; above 19200 baud the Modbus serial line
    /// specification fixes it at 1.75 ms.
    pub fn silent_interval(&self) -> Duration {
        silent_interval(self.baud_rate, self.bits_per_char())
    }

    /// Time on the wire for `bytes` characters.
    pub fn wire_time(&self, bytes: u64) -> Duration {
        if self.baud_rate == 0 {
            return Duration::ZERO;
        }
        let bits = u128::from(bytes) * u128::from(self.bits_per_char());
        let nanos = bits * 1_000_000_000 / u128::from(self.baud_rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The RTU silent interval t3.5 for a baud rate and character size (bits per character).
///
/// Above 19200 baud the spec fixes t3.5 at 1750 µs; a baud rate of 0 yields that same floor.
pub fn silent_interval(baud_rate: u32, bits_per_char: u32) -> Duration {
    const FIXED_ABOVE_19200: Duration = Duration::from_micros(1750);
    if baud_rate == 0 || baud_rate > 19_200 {
        return FIXED_ABOVE_19200;
    }
    // 3.5 chars = 7 half chars; round up to the next microsecond.
    let micros = (7 * u64::from(bits_per_char) * 1_000_000).div_ceil(2 * u64::from(baud_rate));
    Duration::from_micros(micros)
}

/// How a bus is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transport {
    /// Modbus TCP (MBAP framing) to `host:port`; units behind a gateway are addressed by unit id.
    Tcp {
        /// `host:port`, e.g. `127.0.0.1:502`.
        address: String,
    },
    /// Modbus RTU framing (with CRC) over a TCP socket, as transparent serial gateways speak it.
    RtuOverTcp {
        /// `host:port` of the gateway.
        address: String,
    },
    /// Modbus RTU over a serial line (RS-485).
    Rtu(SerialLine),
}

impl Transport {
    /// Whether the transport uses RTU framing (serial or tunnelled over TCP).
    pub fn is_rtu(&self) -> bool {
        matches!(self, Self::Rtu(_) | Self::RtuOverTcp { .. })
    }

    /// The default pause between transactions for this transport: t3.5 on a serial line,
    /// nothing on TCP (a serial gateway paces its own line).
    pub fn default_inter_frame_delay(&self) -> Duration {
        match self {
            Self::Rtu(line) => line.silent_interval(),
            Self::Tcp { .. } | Self::RtuOverTcp { .. } => Duration::ZERO,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { address } => write!(f, "tcp://{address}"),
            Self::RtuOverTcp { address } => write!(f, "rtu-over-tcp://{address}"),
            Self::Rtu(line) => {
                let parity = match line.parity {
                    Parity::None => 'N',
                    Parity::Even => 'E',
                    Parity::Odd => 'O',
                };
                write!(
                    f,
                    "rtu://{} {} 8{}{}",
                    line.path,
                    line.baud_rate,
                    parity,
                    u8::from(line.stop_bits)
                )
            }
        }
    }
}

/// How a bus behaves. [`BusOptions::default`] suits a real site; tests shorten the times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusOptions {
    /// Longest wait for a reply to one request.
    pub request_timeout: Duration,
    /// Longest wait for a TCP connect or for opening the serial port.
    pub connect_timeout: Duration,
    /// Pause between the end of one transaction and the start of the next, during which the
    /// line must stay quiet (bytes arriving meanwhile are discarded and restart the pause).
    /// `None` derives it from the transport ([`Transport::default_inter_frame_delay`]). It is a
    /// minimum: the runtime's timers tick in milliseconds, so the real pause can be up to about
    /// 1 ms longer.
    pub inter_frame_delay: Option<Duration>,
    /// After a timeout or a garbled reply, incoming bytes are discarded until the line has been
    /// quiet this long, so a late reply is never taken as the answer to the next request.
    pub resync_quiet: Duration,
    /// Consecutive failures of a unit before it goes into backoff (at least 1).
    pub failures_before_backoff: u32,
    /// First backoff of a failing unit; doubled at each further failure.
    pub backoff_initial: Duration,
    /// Longest backoff of a failing unit.
    pub backoff_max: Duration,
    /// First wait before reconnecting a broken connection; doubled at each failed attempt.
    pub reconnect_initial: Duration,
    /// Longest wait between reconnect attempts.
    pub reconnect_max: Duration,
    /// Requests that may wait in the bus queue before senders wait too.
    pub queue_depth: usize,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(3),
            inter_frame_delay: None,
            resync_quiet: Duration::from_millis(20),
            failures_before_backoff: 2,
            backoff_initial: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            reconnect_initial: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(30),
            queue_depth: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(baud_rate: u32, parity: Parity, stop_bits: StopBits) -> SerialLine {
        SerialLine {
            path: "/dev/null".into(),
            baud_rate,
            parity,
            stop_bits,
        }
    }

    #[test]
    fn silent_interval_at_9600_8e1_is_3_5_chars_of_11_bits() {
        // 3.5 * 11 bits / 9600 baud = 4.0104 ms
        let l = line(9600, Parity::Even, StopBits::One);
        assert_eq!(l.bits_per_char(), 11);
        assert_eq!(l.silent_interval(), Duration::from_micros(4011));
    }

    #[test]
    fn silent_interval_8n1_uses_10_bit_chars() {
        let l = line(19_200, Parity::None, StopBits::One);
        assert_eq!(l.bits_per_char(), 10);
        // 3.5 * 10 / 19200 = 1.8229 ms
        assert_eq!(l.silent_interval(), Duration::from_micros(1823));
    }

    #[test]
    fn silent_interval_is_fixed_above_19200() {
        for baud in [38_400, 57_600, 115_200] {
            let l = line(baud, Parity::Even, StopBits::Two);
            assert_eq!(l.silent_interval(), Duration::from_micros(1750));
        }
    }

    #[test]
    fn wire_time_counts_every_bit() {
        let l = line(9600, Parity::Even, StopBits::One);
        // 8 bytes * 11 bits / 9600 = 9.1667 ms
        assert_eq!(l.wire_time(8), Duration::from_nanos(9_166_666));
    }

    #[test]
    fn tcp_has_no_inter_frame_delay_and_serial_has_t3_5() {
        let tcp = Transport::Tcp {
            address: "127.0.0.1:502".into(),
        };
        assert_eq!(tcp.default_inter_frame_delay(), Duration::ZERO);
        let rtu = Transport::Rtu(line(9600, Parity::None, StopBits::Two));
        assert_eq!(rtu.default_inter_frame_delay(), Duration::from_micros(4011));
        assert_eq!(rtu.to_string(), "rtu:///dev/null 9600 8N2");
    }

    #[test]
    fn transport_deserializes_from_toml() {
        let t: Transport = toml::from_str(
            "kind = \"rtu\"\npath = \"/dev/ttyUSB0\"\nbaud_rate = 19200\nparity = \"none\"\nstop_bits = 2\n",
        )
        .unwrap();
        let expected = SerialLine {
            path: "/dev/ttyUSB0".into(),
            ..line(19_200, Parity::None, StopBits::Two)
        };
        assert_eq!(t, Transport::Rtu(expected));
        let t: Transport = toml::from_str("kind = \"tcp\"\naddress = \"10.0.0.5:502\"\n").unwrap();
        assert!(!t.is_rtu());
        let bad = toml::from_str::<Transport>(
            "kind = \"rtu\"\npath = \"/dev/ttyS0\"\nbaud_rate = 9600\nstop_bits = 3\n",
        );
        assert!(bad.is_err());
    }

    proptest! {
        #[test]
        fn silent_interval_is_never_below_the_spec_floor(
            baud in 1u32..=1_000_000, bits in 10u32..=12
        ) {
            let t = silent_interval(baud, bits);
            prop_assert!(t >= Duration::from_micros(1750));
            if baud <= 19_200 {
                // never shorter than 3.5 characters
                let exact_ns = 3.5 * f64::from(bits) / f64::from(baud) * 1e9;
                prop_assert!(t.as_nanos() as f64 >= exact_ns - 1.0);
            }
        }
    }
}
