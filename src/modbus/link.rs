//! One open connection of a bus: the transport stream and the framing on it.
//!
//! Modbus TCP is framed here (`mbap`): replies are matched to the request by transaction id,
//! so a late reply to an earlier request is dropped and the wait for the right one goes on.
//! RTU framing (serial, or tunnelled over TCP) is tokio-modbus's client.

use super::config::{Parity, SerialLine, StopBits, Transport};
use super::error::{BusError, ModbusException};
use super::mbap::{self, Answer};
use super::ops::{self, Failure, Operation, Recovery};
use super::stream::{Drained, SharedStream};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{Response, Slave};

/// An open connection.
pub(crate) struct Link {
    framing: Framing,
    stream: SharedStream,
    late: Late,
}

enum Framing {
    Tcp(TcpFraming),
    Rtu(Box<Context>),
}

/// Modbus TCP framing state. The receive buffer lives here, not in the read future, so a
/// request cancelled by its timeout leaves a half-received frame to be completed (and
/// dropped by its transaction id) by the next read.
#[derive(Default)]
struct TcpFraming {
    next_transaction: u16,
    buf: Vec<u8>,
}

/// Late replies dropped since the last look: all of them, and the bytes of those dropped while
/// a request waited for its own (those dropped between transactions are counted by the drain).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Late {
    pub replies: u64,
    pub bytes: u64,
}

impl Link {
    /// Opens the transport: connects the TCP socket or opens and configures the serial port.
    pub(crate) async fn open(transport: &Transport, timeout: Duration) -> Result<Self, BusError> {
        let stream = match transport {
            Transport::Tcp { address } | Transport::RtuOverTcp { address } => {
                let tcp = tokio::time::timeout(timeout, TcpStream::connect(address.as_str()))
                    .await
                    .map_err(|_| BusError::Io {
                        kind: io::ErrorKind::TimedOut,
                        message: format!(
                            "connecting to {address} took longer than {} ms",
                            timeout.as_millis()
                        ),
                    })?
                    .map_err(|e| BusError::Io {
                        kind: e.kind(),
                        message: format!("connecting to {address}: {e}"),
                    })?;
                // Requests are small and latency matters more than packing.
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not disable Nagle's algorithm");
                }
                SharedStream::new(tcp)
            }
            Transport::Rtu(line) => SharedStream::new(open_serial(line)?),
        };
        Ok(Self {
            framing: attach(stream.clone(), transport.is_rtu()),
            stream,
            late: Late::default(),
        })
    }

    /// Sends one request to `unit` and waits for its reply (no timeout of its own). A failure
    /// comes classified: what the link needs and whether it is the unit's fault.
    pub(crate) async fn call(
        &mut self,
        unit: u8,
        op: &Operation,
    ) -> Result<Result<Response, ModbusException>, Failure> {
        match &mut self.framing {
            Framing::Rtu(ctx) => {
                ctx.set_slave(Slave(unit));
                match ctx.call(op.request()).await {
                    Ok(Ok(response)) => Ok(Ok(response)),
                    Ok(Err(exception)) => Ok(Err(exception.into())),
                    Err(e) => {
                        let failure = ops::classify_error(&e, true);
                        if !failure.unit_fault && matches!(e, tokio_modbus::Error::Protocol(_)) {
                            tracing::debug!(error = %e, "dropped a reply for another request");
                            self.late.replies += 1;
                        }
                        Err(failure)
                    }
                }
            }
            Framing::Tcp(tcp) => tcp.call(&mut self.stream, &mut self.late, unit, op).await,
        }
    }

    /// Discards stray bytes; see [`SharedStream::drain`]. On Modbus TCP whole frames are
    /// discarded and a partial one is kept for the next read, so the stream stays in step; a
    /// stream that cannot be framed is reported as `InvalidData` (reconnect).
    pub(crate) async fn drain(&mut self, quiet: Duration, limit: Duration) -> io::Result<Drained> {
        let Framing::Tcp(tcp) = &mut self.framing else {
            return self.stream.drain(quiet, limit).await;
        };
        let buf = &mut tcp.buf;
        let drained = self
            .stream
            .drain_with(quiet, limit, |chunk| buf.extend_from_slice(chunk))
            .await?;
        let mut bytes = 0u64;
        while let Some(frame) = mbap::take_frame(&mut tcp.buf)
            .map_err(|g| io::Error::new(io::ErrorKind::InvalidData, g.0))?
        {
            // No request is outstanding between transactions: a whole frame is a late reply.
            bytes += frame.wire_len as u64;
            self.late.replies += 1;
        }
        Ok(Drained { bytes, ..drained })
    }

    /// Restarts the framing on the same stream (after a cancelled or garbled exchange). Modbus
    /// TCP needs none: a partial frame is completed by the next read and dropped by its
    /// transaction id, and bytes that cannot be framed are found by the header check.
    pub(crate) fn restart_framing(&mut self) {
        if let Framing::Rtu(_) = self.framing {
            self.framing = attach(self.stream.clone(), true);
        }
    }

    /// Late replies dropped during calls since the last look.
    pub(crate) fn take_late(&mut self) -> Late {
        std::mem::take(&mut self.late)
    }

    /// Bytes (read, written) on this connection so far.
    pub(crate) fn traffic(&self) -> (u64, u64) {
        self.stream.traffic()
    }

    /// Closes the connection gracefully.
    pub(crate) async fn close(mut self, timeout: Duration) {
        let closing = async {
            match &mut self.framing {
                Framing::Rtu(ctx) => ctx.disconnect().await,
                Framing::Tcp(_) => self.stream.shutdown().await,
            }
        };
        match tokio::time::timeout(timeout, closing).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "closing the connection failed"),
            Err(_) => tracing::debug!("closing the connection timed out"),
        }
    }
}

impl TcpFraming {
    async fn call(
        &mut self,
        stream: &mut SharedStream,
        late: &mut Late,
        unit: u8,
        op: &Operation,
    ) -> Result<Result<Response, ModbusException>, Failure> {
        let transaction = self.next_transaction;
        self.next_transaction = self.next_transaction.wrapping_add(1);
        let lost = |e: io::Error| Failure {
            error: BusError::io(&e),
            recovery: Recovery::Reconnect,
            unit_fault: false,
        };
        stream
            .write_all(&mbap::encode_request(transaction, unit, op))
            .await
            .map_err(lost)?;
        loop {
            while let Some(frame) = mbap::take_frame(&mut self.buf).map_err(garbage)? {
                if frame.transaction != transaction {
                    // The answer to a request that timed out: not this request's, not its unit's.
                    tracing::debug!(
                        transaction = frame.transaction,
                        expected = transaction,
                        from_unit = frame.unit,
                        "dropped a late reply"
                    );
                    late.replies += 1;
                    late.bytes += frame.wire_len as u64;
                    continue;
                }
                if frame.unit != unit {
                    return Err(mismatch(format!(
                        "reply to transaction {transaction} comes from unit {}",
                        frame.unit
                    )));
                }
                return match mbap::decode_reply(op, &frame.pdu).map_err(mismatch)? {
                    Answer::Response(response) => Ok(Ok(response)),
                    Answer::Exception(exception) => Ok(Err(exception)),
                };
            }
            let n = stream.read_buf(&mut self.buf).await.map_err(lost)?;
            if n == 0 {
                return Err(lost(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by peer",
                )));
            }
        }
    }
}

/// The stream cannot be framed any more: only a new connection brings it back in step.
fn garbage(g: mbap::Garbage) -> Failure {
    Failure {
        error: BusError::Malformed(format!("garbage on the stream: {}", g.0)),
        recovery: Recovery::Reconnect,
        unit_fault: true,
    }
}

/// A reply to this very request (its transaction id) that is wrong: the unit's fault; the
/// stream itself is still in step.
fn mismatch(what: String) -> Failure {
    Failure {
        error: BusError::Malformed(what),
        recovery: Recovery::None,
        unit_fault: true,
    }
}

fn attach(stream: SharedStream, rtu: bool) -> Framing {
    if rtu {
        // The unit is set before every call; 1 is only a placeholder.
        Framing::Rtu(Box::new(tokio_modbus::client::rtu::attach_slave(
            stream,
            Slave(1),
        )))
    } else {
        Framing::Tcp(TcpFraming::default())
    }
}

fn open_serial(line: &SerialLine) -> Result<tokio_serial::SerialStream, BusError> {
    use tokio_serial::SerialPort;
    let builder = tokio_serial::new(line.path.as_str(), line.baud_rate)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(match line.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .stop_bits(match line.stop_bits {
            StopBits::One => tokio_serial::StopBits::One,
            StopBits::Two => tokio_serial::StopBits::Two,
        })
        .flow_control(tokio_serial::FlowControl::None);
    let port = tokio_serial::SerialStream::open(&builder).map_err(|e| BusError::Io {
        kind: serial_error_kind(&e),
        message: format!("opening {}: {e}", line.path),
    })?;
    // Whatever the line carried before we opened it is not for us.
    if let Err(e) = port.clear(tokio_serial::ClearBuffer::All) {
        tracing::debug!(error = %e, path = %line.path, "could not clear the serial buffers");
    }
    Ok(port)
}

fn serial_error_kind(e: &tokio_serial::Error) -> io::ErrorKind {
    match e.kind() {
        tokio_serial::ErrorKind::NoDevice => io::ErrorKind::NotFound,
        tokio_serial::ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
        tokio_serial::ErrorKind::Io(kind) => kind,
        tokio_serial::ErrorKind::Unknown => io::ErrorKind::Other,
    }
}
