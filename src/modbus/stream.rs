//! A byte stream shared between the Modbus client (which frames requests and replies on it)
//! and the bus task (which discards stray bytes between transactions and counts traffic).
//!
//! Only the bus task ever touches it, one step at a time, so the lock is never contended; it
//! exists because the Modbus client takes ownership of its transport.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Anything the bus can speak Modbus over: a TCP socket, a serial port.
pub(crate) trait RawStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> RawStream for T {}

struct Inner {
    stream: Box<dyn RawStream>,
    bytes_in: u64,
    bytes_out: u64,
}

/// Cloneable handle on one open transport.
#[derive(Clone)]
pub(crate) struct SharedStream {
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for SharedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (bytes_in, bytes_out) = self.traffic();
        f.debug_struct("SharedStream")
            .field("bytes_in", &bytes_in)
            .field("bytes_out", &bytes_out)
            .finish()
    }
}

/// What a drain found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drained {
    /// Bytes read and thrown away.
    pub bytes: u64,
    /// Whether the line went quiet before the time limit (false: it kept babbling).
    pub quiet: bool,
}

impl SharedStream {
    pub(crate) fn new(stream: impl RawStream) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                stream: Box::new(stream),
                bytes_in: 0,
                bytes_out: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters in a harmful state.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bytes read and written so far.
    pub(crate) fn traffic(&self) -> (u64, u64) {
        let g = self.lock();
        (g.bytes_in, g.bytes_out)
    }

    /// Reads and discards bytes until none has arrived for `quiet`. If bytes are still arriving
    /// after `limit`, gives up and reports the line as not quiet (it keeps babbling); the whole
    /// drain thus takes at most `limit + quiet`.
    ///
    /// With `quiet == Duration::ZERO` it only takes what is already waiting (at most
    /// [`NONBLOCKING_DRAIN_MAX`] bytes), without blocking.
    /// End of stream and read errors are returned as errors: the connection is gone.
    pub(crate) async fn drain(&mut self, quiet: Duration, limit: Duration) -> io::Result<Drained> {
        self.drain_with(quiet, limit, |_| {}).await
    }

    /// Like [`SharedStream::drain`], handing every chunk read to `take` before it is dropped.
    pub(crate) async fn drain_with(
        &mut self,
        quiet: Duration,
        limit: Duration,
        mut take: impl FnMut(&[u8]),
    ) -> io::Result<Drained> {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 256];
        let mut bytes = 0u64;
        loop {
            let read = if quiet.is_zero() {
                self.read_ready(&mut buf).await
            } else {
                tokio::time::timeout(quiet, self.read(&mut buf)).await.ok()
            };
            match read {
                None => return Ok(Drained { bytes, quiet: true }),
                Some(read) => match read {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed by peer",
                        ));
                    }
                    Ok(n) => {
                        take(&buf[..n]);
                        bytes += n as u64;
                    }
                    Err(e) => return Err(e),
                },
            }
            let babbling = if quiet.is_zero() {
                bytes >= NONBLOCKING_DRAIN_MAX
            } else {
                Instant::now() >= deadline
            };
            if babbling {
                return Ok(Drained {
                    bytes,
                    quiet: false,
                });
            }
        }
    }
}

impl SharedStream {
    /// Reads what is already waiting, without waiting (`None`: nothing there). A zero-length
    /// timer would not do: timers round up to the next millisecond tick.
    async fn read_ready(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        std::future::poll_fn(|cx| {
            let mut rb = ReadBuf::new(buf);
            match Pin::new(&mut *self).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(rb.filled().len()))),
                Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                Poll::Pending => Poll::Ready(None),
            }
        })
        .await
    }
}

/// Most bytes a non-blocking drain takes in one go.
pub(crate) const NONBLOCKING_DRAIN_MAX: u64 = 4096;

impl AsyncRead for SharedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut g = self.lock();
        let before = buf.filled().len();
        let res = Pin::new(&mut g.stream).poll_read(cx, buf);
        let got = (buf.filled().len() - before) as u64;
        g.bytes_in += got;
        res
    }
}

impl AsyncWrite for SharedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut g = self.lock();
        let res = Pin::new(&mut g.stream).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &res {
            g.bytes_out += *n as u64;
        }
        res
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn drain_discards_waiting_bytes_and_counts_traffic() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut s = SharedStream::new(a);
        b.write_all(b"late reply").await.unwrap();
        let d = s
            .drain(Duration::from_millis(5), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            d,
            Drained {
                bytes: 10,
                quiet: true
            }
        );
        s.write_all(b"abc").await.unwrap();
        assert_eq!(s.traffic(), (10, 3));
        // Nothing waiting: a zero-quiet drain returns at once with nothing.
        let d = s.drain(Duration::ZERO, Duration::ZERO).await.unwrap();
        assert_eq!(d.bytes, 0);
    }

    #[tokio::test]
    async fn drain_gives_up_on_a_babbling_line() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut s = SharedStream::new(a);
        let babbler = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            loop {
                tick.tick().await;
                if b.write_all(b"~").await.is_err() {
                    return;
                }
            }
        });
        let d = s
            .drain(Duration::from_millis(200), Duration::from_millis(20))
            .await
            .unwrap();
        babbler.abort();
        assert!(!d.quiet);
        assert!(d.bytes > 0);
    }

    #[tokio::test]
    async fn drain_reports_a_closed_peer() {
        let (a, b) = tokio::io::duplex(64);
        drop(b);
        let mut s = SharedStream::new(a);
        let err = s.drain(Duration::ZERO, Duration::ZERO).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
