//! The bus task: owns the connection, runs one transaction at a time, keeps units' health.

use super::config::{BusOptions, Transport};
use super::connection::Connection;
use super::error::BusError;
use super::health::BackoffPolicy;
use super::ops::{self, Failure, Operation, Recovery, Reply};
use super::shared::Shared;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// Timeouts in a row (any units, no answer in between) after which the connection is assumed
/// dead and reopened.
const STALE_LINK_TIMEOUTS: u32 = 3;

/// One request with its reply slot.
pub(crate) struct Job {
    pub unit: u8,
    pub op: Operation,
    /// Probes (scans) bypass and leave alone the unit's backoff and counters.
    pub probe: bool,
    pub reply: oneshot::Sender<Result<Reply, BusError>>,
}

pub(crate) enum Command {
    Job(Job),
    Close,
}

pub(crate) struct Actor {
    conn: Connection,
    options: BusOptions,
    inter_frame: Duration,
    shared: Arc<Shared>,
    /// End of the last transaction, for the silent interval before the next one.
    last_end: Option<Instant>,
    timeouts_in_row: u32,
}

impl Actor {
    pub(crate) fn new(transport: Transport, options: BusOptions, shared: Arc<Shared>) -> Self {
        let reconnect = BackoffPolicy {
            // One broken connection is reopened at once; repeated failures back off.
            threshold: 2,
            initial: options.reconnect_initial,
            max: options.reconnect_max,
        };
        Self {
            inter_frame: options
                .inter_frame_delay
                .unwrap_or_else(|| transport.default_inter_frame_delay()),
            conn: Connection::new(
                transport,
                options.connect_timeout,
                reconnect,
                Arc::clone(&shared),
            ),
            options,
            shared,
            last_end: None,
            timeouts_in_row: 0,
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        tracing::info!(transport = %self.conn.transport(), "bus started");
        if let Err(e) = self.conn.ensure().await {
            tracing::warn!(error = %e, "initial connection failed");
        }
        while let Some(command) = rx.recv().await {
            let job = match command {
                Command::Job(job) => job,
                Command::Close => break,
            };
            if job.reply.is_closed() {
                continue; // the caller gave up while the request waited in the queue
            }
            let span = tracing::debug_span!(
                "request",
                unit = job.unit,
                function = job.op.function_code()
            );
            let result = self.execute(&job).instrument(span).await;
            // The caller may have gone in the meantime; nothing to do about it.
            let _ = job.reply.send(result);
        }
        self.conn.close().await;
        tracing::info!("bus stopped");
    }

    async fn execute(&mut self, job: &Job) -> Result<Reply, BusError> {
        let checked = job
            .op
            .validate()
            .and_then(|()| ops::validate_unit(job.unit, self.shared.rtu));
        if let Err(e) = checked {
            self.shared.refused(job.unit, job.probe, &e);
            return Err(e);
        }
        if !job.probe {
            self.shared
                .refuse_if_backing_off(job.unit, Instant::now())?;
        }
        match self.conn.ensure().await {
            Ok(true) => self.last_end = None,
            Ok(false) => {}
            Err(e) => {
                self.shared.refused(job.unit, job.probe, &e);
                return Err(e);
            }
        }
        let (result, bus_time) = self.transact(job).await;
        self.shared
            .finished(job.unit, job.probe, &result, bus_time, Instant::now());
        result.map_err(|f| f.error)
    }

    /// Puts one request on the bus and brings the link back in step afterwards.
    /// Returns the outcome and the bus time it consumed.
    async fn transact(&mut self, job: &Job) -> (Result<Reply, Failure>, Duration) {
        let began = Instant::now();
        if let Err(f) = self.quiet_line().await {
            self.recover(f.recovery, &f.error).await;
            return (Err(f), began.elapsed());
        }
        let timeout = self.options.request_timeout;
        let Some(link) = self.conn.link() else {
            return (Err(not_connected()), Duration::ZERO);
        };
        let (in_before, out_before) = link.traffic();
        let start = Instant::now();
        let outcome = tokio::time::timeout(timeout, link.call(job.unit, &job.op)).await;
        let late = link.take_late();
        let result = match outcome {
            Ok(Ok(Ok(response))) => job.op.accept(response).map_err(|error| Failure {
                error,
                recovery: Recovery::None,
                unit_fault: true,
            }),
            Ok(Ok(Err(exception))) => Err(ops::exception_failure(exception)),
            Ok(Err(f)) => Err(f),
            Err(_elapsed) => {
                // Late replies to earlier requests, dropped by their transaction id, are not
                // this unit's garbage.
                let stray = (link.traffic().0 - in_before).saturating_sub(late.bytes);
                let error = if stray > 0 {
                    BusError::Malformed(format!(
                        "no valid reply within {} ms ({stray} bytes of garbage received)",
                        timeout.as_millis()
                    ))
                } else {
                    BusError::Timeout(timeout)
                };
                Err(Failure {
                    error,
                    recovery: Recovery::Resync,
                    unit_fault: true,
                })
            }
        };
        let (bytes_in, bytes_out) = link.traffic();
        {
            let mut stats = self.shared.stats();
            stats.bytes_received += bytes_in - in_before;
            stats.bytes_sent += bytes_out - out_before;
            stats.late_replies += late.replies;
            stats.discarded_bytes += late.bytes;
        }
        let recovery = match &result {
            Ok(_) => Recovery::None,
            Err(f) => self.escalate(f, job.probe),
        };
        if recovery == Recovery::None {
            self.timeouts_in_row = 0;
            self.conn.answered();
        }
        if let Err(f) = &result {
            self.recover(recovery, &f.error).await;
        }
        let end = Instant::now();
        self.last_end = Some(end);
        // The transaction held the bus for its silent interval (at least the configured one,
        // more if the timer overslept) and the exchange itself.
        let held = (end - began).max(self.inter_frame + (end - start));
        (result, held)
    }

    /// The recovery a failure needs, given what happened before on this link.
    fn escalate(&mut self, failure: &Failure, probe: bool) -> Recovery {
        match &failure.error {
            // Silence is the expected answer of most probes (scans): it says nothing of the link.
            BusError::Timeout(_) if probe => failure.recovery,
            BusError::Timeout(_) => {
                self.timeouts_in_row += 1;
                if self.timeouts_in_row >= STALE_LINK_TIMEOUTS {
                    return Recovery::Reconnect;
                }
                failure.recovery
            }
            // A stream protocol (Modbus TCP) cannot find the next frame after garbage.
            BusError::Malformed(_) if !self.shared.rtu && failure.recovery != Recovery::None => {
                Recovery::Reconnect
            }
            _ => failure.recovery,
        }
    }

    /// Keeps the silent interval before a request: waits until the line has been quiet for the
    /// inter-frame delay since the last transaction, discarding whatever arrives meanwhile (a
    /// late reply must not be read as the answer to the next request).
    async fn quiet_line(&mut self) -> Result<(), Failure> {
        let remaining = self.last_end.map_or(Duration::ZERO, |last| {
            (last + self.inter_frame).saturating_duration_since(Instant::now())
        });
        let limit = self.options.request_timeout;
        let full = self.inter_frame;
        let Some(link) = self.conn.link() else {
            return Err(not_connected());
        };
        let lost = |e: std::io::Error| Failure {
            error: BusError::io(&e),
            recovery: Recovery::Reconnect,
            unit_fault: false,
        };
        let mut drained = link.drain(remaining, limit).await.map_err(lost)?;
        if drained.bytes > 0 && !full.is_zero() {
            // Something was still talking: give the line a full silent interval.
            let again = link.drain(full, limit).await.map_err(lost)?;
            drained.bytes += again.bytes;
            drained.quiet = again.quiet;
        }
        if drained.bytes > 0 {
            tracing::debug!(
                bytes = drained.bytes,
                "discarded stray bytes before request"
            );
            self.shared.stats().discarded_bytes += drained.bytes;
        }
        if drained.quiet {
            return Ok(());
        }
        Err(Failure {
            error: BusError::Malformed(format!(
                "the line never went quiet ({} bytes of noise)",
                drained.bytes
            )),
            recovery: Recovery::Reconnect,
            unit_fault: false,
        })
    }

    async fn recover(&mut self, recovery: Recovery, error: &BusError) {
        match recovery {
            Recovery::None => {}
            Recovery::Resync => {
                let quiet = self.options.resync_quiet.max(self.inter_frame);
                let limit = quiet + self.options.request_timeout;
                let Some(link) = self.conn.link() else {
                    return;
                };
                let drained = link.drain(quiet, limit).await;
                if let Ok(d) = &drained {
                    if d.quiet {
                        link.restart_framing();
                    }
                    if d.bytes > 0 {
                        tracing::debug!(bytes = d.bytes, "discarded stray bytes after failure");
                    }
                    let mut stats = self.shared.stats();
                    stats.resyncs += 1;
                    stats.discarded_bytes += d.bytes;
                }
                match drained {
                    Ok(d) if d.quiet => {}
                    Ok(_) => self.reconnect(format!("line does not go quiet after: {error}")),
                    Err(e) => self.reconnect(format!("connection lost: {e}")),
                }
            }
            Recovery::Reconnect => self.reconnect(error.to_string()),
        }
    }

    fn reconnect(&mut self, reason: String) {
        self.timeouts_in_row = 0;
        self.conn.drop_link(reason);
    }
}

fn not_connected() -> Failure {
    // Callers run right after Connection::ensure() succeeded; this only guards the invariant.
    Failure {
        error: BusError::Io {
            kind: std::io::ErrorKind::NotConnected,
            message: "no connection".into(),
        },
        recovery: Recovery::Reconnect,
        unit_fault: false,
    }
}
