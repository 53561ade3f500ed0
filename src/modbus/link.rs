//! One open connection of a bus: the transport stream and the Modbus client framing on it.

use super::config::{Parity, SerialLine, StopBits, Transport};
use super::error::BusError;
use super::stream::{Drained, SharedStream};
use std::io;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{Request, Response, Slave};

/// An open connection.
pub(crate) struct Link {
    ctx: Context,
    stream: SharedStream,
    rtu: bool,
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
        let rtu = transport.is_rtu();
        Ok(Self {
            ctx: attach(stream.clone(), rtu),
            stream,
            rtu,
        })
    }

    /// Sends one request to `unit` and waits for its reply (no timeout of its own).
    pub(crate) async fn call(
        &mut self,
        unit: u8,
        request: Request<'_>,
    ) -> tokio_modbus::Result<Response> {
        self.ctx.set_slave(Slave(unit));
        self.ctx.call(request).await
    }

    /// Discards stray bytes; see [`SharedStream::drain`].
    pub(crate) async fn drain(&mut self, quiet: Duration, limit: Duration) -> io::Result<Drained> {
        self.stream.drain(quiet, limit).await
    }

    /// Restarts the client framing on the same stream (after a cancelled or garbled exchange).
    pub(crate) fn restart_framing(&mut self) {
        self.ctx = attach(self.stream.clone(), self.rtu);
    }

    /// Bytes (read, written) on this connection so far.
    pub(crate) fn traffic(&self) -> (u64, u64) {
        self.stream.traffic()
    }

    /// Closes the connection gracefully.
    pub(crate) async fn close(mut self, timeout: Duration) {
        match tokio::time::timeout(timeout, self.ctx.disconnect()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "closing the connection failed"),
            Err(_) => tracing::debug!("closing the connection timed out"),
        }
    }
}

fn attach(stream: SharedStream, rtu: bool) -> Context {
    // The unit is set before every call; 1 is only a placeholder.
    if rtu {
        tokio_modbus::client::rtu::attach_slave(stream, Slave(1))
    } else {
        tokio_modbus::client::tcp::attach_slave(stream, Slave(1))
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
