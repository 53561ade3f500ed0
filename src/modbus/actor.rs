//! The bus task: owns the connection, runs one transaction at a time, keeps units' health.

use super::config::{BusOptions, Transport};
use super::error::BusError;
use super::health::{BackoffPolicy, Health};
use super::link::Link;
use super::ops::{self, Failure, Operation, Recovery, Reply};
use super::stats::{BusStats, LinkStatus};
use std::sync::{Arc, Mutex, MutexGuard};
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

/// State shared between the task and its handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub name: String,
    pub rtu: bool,
    pub unit_policy: BackoffPolicy,
    stats: Mutex<BusStats>,
}

impl Shared {
    pub(crate) fn new(name: String, transport: &Transport, options: &BusOptions) -> Self {
        Self {
            stats: Mutex::new(BusStats::new(&name, transport.to_string())),
            name,
            rtu: transport.is_rtu(),
            unit_policy: BackoffPolicy {
                threshold: options.failures_before_backoff.max(1),
                initial: options.backoff_initial,
                max: options.backoff_max,
            },
        }
    }

    pub(crate) fn stats(&self) -> MutexGuard<'_, BusStats> {
        // Counters stay meaningful even if a holder panicked.
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails fast if `unit` is in backoff, counting the rejection.
    pub(crate) fn refuse_if_backing_off(&self, unit: u8, now: Instant) -> Result<(), BusError> {
        let mut stats = self.stats();
        let Some(u) = stats.units.get(&unit) else {
            return Ok(());
        };
        if let Err(until) = u.health.admit(now) {
            let err = BusError::Backoff { unit, until };
            stats.record(unit, Err(&err), None, false, now);
            return Err(err);
        }
        Ok(())
    }
}

pub(crate) struct Actor {
    transport: Transport,
    options: BusOptions,
    inter_frame: Duration,
    link_policy: BackoffPolicy,
    shared: Arc<Shared>,
    link: Option<Link>,
    link_health: Health,
    link_down_reason: String,
    last_end: Option<Instant>,
    timeouts_in_row: u32,
}

impl Actor {
    pub(crate) fn new(transport: Transport, options: BusOptions, shared: Arc<Shared>) -> Self {
        Self {
            inter_frame: options
                .inter_frame_delay
                .unwrap_or_else(|| transport.default_inter_frame_delay()),
            link_policy: BackoffPolicy {
                // One broken connection is reconnected at once; repeated failures back off.
                threshold: 2,
                initial: options.reconnect_initial,
                max: options.reconnect_max,
            },
            transport,
            options,
            shared,
            link: None,
            link_health: Health::default(),
            link_down_reason: String::new(),
            last_end: None,
            timeouts_in_row: 0,
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        tracing::info!(transport = %self.transport, "bus started");
        if let Err(e) = self.ensure_link().await {
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
        if let Some(link) = self.link.take() {
            link.close(self.options.connect_timeout).await;
        }
        tracing::info!("bus stopped");
    }

    async fn execute(&mut self, job: &Job) -> Result<Reply, BusError> {
        let now = Instant::now();
        if let Err(e) = job
            .op
            .validate()
            .and_then(|()| ops::validate_unit(job.unit, self.shared.rtu))
        {
            self.shared
                .stats()
                .record(job.unit, Err(&e), None, job.probe, now);
            return Err(e);
        }
        if !job.probe {
            self.shared.refuse_if_backing_off(job.unit, now)?;
        }
        if let Err(e) = self.ensure_link().await {
            self.shared
                .stats()
                .record(job.unit, Err(&e), None, job.probe, Instant::now());
            return Err(e);
        }
        let (result, bus_time) = self.transact(job).await;
        let end = Instant::now();
        let mut stats = self.shared.stats();
        stats.record(
            job.unit,
            result.as_ref().map(|_| ()).map_err(|f| &f.error),
            Some(bus_time),
            job.probe,
            end,
        );
        if !job.probe {
            let unit = stats.units.entry(job.unit).or_default();
            match &result {
                Err(f) if f.unit_fault => {
                    if let Some(until) = unit.health.record_failure(end, &self.shared.unit_policy) {
                        tracing::warn!(
                            failures = unit.health.consecutive_failures(),
                            backoff_ms = until.saturating_duration_since(end).as_millis() as u64,
                            error = %f.error,
                            "unit failing; backing off"
                        );
                    }
                }
                Err(_) => {}
                Ok(_) => unit.health.record_success(),
            }
        }
        drop(stats);
        result.map_err(|f| f.error)
    }

    /// Puts one request on the bus and brings the link back in step afterwards.
    /// Returns the outcome and the bus time it consumed.
    async fn transact(&mut self, job: &Job) -> (Result<Reply, Failure>, Duration) {
        if let Some(last) = self.last_end {
            tokio::time::sleep_until((last + self.inter_frame).into()).await;
        }
        let timeout = self.options.request_timeout;
        let Some(link) = self.link.as_mut() else {
            // ensure_link() just succeeded; a missing link here would be a bug in this module.
            let f = Failure {
                error: BusError::Io {
                    kind: std::io::ErrorKind::NotConnected,
                    message: "no connection".into(),
                },
                recovery: Recovery::Reconnect,
                unit_fault: false,
            };
            return (Err(f), Duration::ZERO);
        };
        let (in_before, out_before) = link.traffic();
        let start = Instant::now();
        let outcome = tokio::time::timeout(timeout, link.call(job.unit, job.op.request())).await;
        let result = match outcome {
            Ok(Ok(Ok(response))) => job.op.accept(response).map_err(|error| Failure {
                error,
                recovery: Recovery::None,
                unit_fault: true,
            }),
            Ok(Ok(Err(exception))) => Err(ops::exception_failure(exception.into())),
            Ok(Err(e)) => Err(ops::classify_error(&e, self.shared.rtu)),
            Err(_elapsed) => {
                let (in_now, _) = link.traffic();
                let stray = in_now - in_before;
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
        let answered = result.is_ok() || matches!(&result, Err(f) if f.recovery == Recovery::None);
        let mut recovery = match &result {
            Ok(_) => Recovery::None,
            Err(f) => f.recovery,
        };
        if answered {
            self.timeouts_in_row = 0;
            self.link_health.record_success();
        } else if matches!(&result, Err(f) if matches!(f.error, BusError::Timeout(_))) {
            self.timeouts_in_row += 1;
            if self.timeouts_in_row >= STALE_LINK_TIMEOUTS {
                recovery = Recovery::Reconnect;
            }
        }
        if !self.shared.rtu
            && matches!(&result, Err(f) if matches!(f.error, BusError::Malformed(_)))
        {
            // A stream protocol cannot find the next frame after garbage.
            recovery = Recovery::Reconnect;
        }
        self.recover(recovery, &result).await;
        let end = Instant::now();
        self.last_end = Some(end);
        if let Some(link) = self.link.as_ref() {
            let (in_now, out_now) = link.traffic();
            let mut stats = self.shared.stats();
            stats.bytes_received += in_now - in_before;
            stats.bytes_sent += out_now - out_before;
        }
        (result, self.inter_frame + (end - start))
    }

    async fn recover(&mut self, recovery: Recovery, result: &Result<Reply, Failure>) {
        let reason = match result {
            Err(f) => f.error.to_string(),
            Ok(_) => String::new(),
        };
        match recovery {
            Recovery::None => {}
            Recovery::Resync => {
                let Some(link) = self.link.as_mut() else {
                    return;
                };
                self.shared.stats().resyncs += 1;
                let quiet = self.options.resync_quiet.max(self.inter_frame);
                match link.drain(quiet, self.options.request_timeout).await {
                    Ok(d) => {
                        self.shared.stats().discarded_bytes += d.bytes;
                        if d.bytes > 0 {
                            tracing::debug!(bytes = d.bytes, "discarded stray bytes after failure");
                        }
                        if d.quiet {
                            link.restart_framing();
                        } else {
                            self.drop_link(format!("line does not go quiet after: {reason}"));
                        }
                    }
                    Err(e) => self.drop_link(format!("connection lost: {e}")),
                }
            }
            Recovery::Reconnect => self.drop_link(reason),
        }
    }

    fn drop_link(&mut self, reason: String) {
        if self.link.take().is_some() {
            tracing::warn!(%reason, "dropping connection");
        }
        self.timeouts_in_row = 0;
        let now = Instant::now();
        let retry_at = self
            .link_health
            .record_failure(now, &self.link_policy)
            .unwrap_or(now);
        self.link_down_reason = reason.clone();
        self.shared.stats().link = LinkStatus::Down { reason, retry_at };
    }

    /// Makes sure a connection is open and in step, connecting if one is due.
    async fn ensure_link(&mut self) -> Result<(), BusError> {
        // Two rounds: a connection found closed by the peer (an idle gateway hanging up) is
        // reopened at once.
        for _ in 0..2 {
            if self.link.is_none() {
                self.connect().await?;
            }
            let Some(link) = self.link.as_mut() else {
                continue;
            };
            match link.drain(Duration::ZERO, Duration::ZERO).await {
                Ok(d) => {
                    if d.bytes > 0 {
                        tracing::debug!(bytes = d.bytes, "discarded stray bytes before request");
                        self.shared.stats().discarded_bytes += d.bytes;
                    }
                    return Ok(());
                }
                Err(e) => {
                    self.link = None;
                    self.link_down_reason = format!("connection lost: {e}");
                    tracing::info!(reason = %self.link_down_reason, "connection closed; reconnecting");
                }
            }
        }
        Err(BusError::Disconnected {
            reason: self.link_down_reason.clone(),
            retry_at: Instant::now(),
        })
    }

    async fn connect(&mut self) -> Result<(), BusError> {
        let now = Instant::now();
        if let Err(retry_at) = self.link_health.admit(now) {
            return Err(BusError::Disconnected {
                reason: self.link_down_reason.clone(),
                retry_at,
            });
        }
        match Link::open(&self.transport, self.options.connect_timeout).await {
            Ok(link) => {
                tracing::info!("connected");
                self.link = Some(link);
                self.last_end = None;
                let mut stats = self.shared.stats();
                stats.connects += 1;
                stats.link = LinkStatus::Connected {
                    since: Instant::now(),
                };
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "connect failed");
                self.shared.stats().connect_failures += 1;
                self.drop_link(e.to_string());
                Err(e)
            }
        }
    }
}
