//! Starting a bus and talking to it.

use super::actor::{Actor, Command, Job};
use super::config::{BusOptions, Transport};
use super::error::BusError;
use super::ops::{Operation, RegisterKind, Reply};
use super::shared::Shared;
use super::stats::{BusStats, UnitStats};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// A physical Modbus bus: one serial line or one TCP endpoint, driven by one task.
#[derive(Debug)]
pub struct Bus;

impl Bus {
    /// Starts the task that owns the bus and returns a handle to it.
    ///
    /// The task connects at once (a failure is retried on the next request, with backoff) and
    /// serves requests one at a time, in arrival order. It stops when [`BusHandle::close`] is
    /// called or when every handle is dropped.
    ///
    /// Must be called from within a Tokio runtime.
    pub fn spawn(name: impl Into<String>, transport: Transport, options: BusOptions) -> BusHandle {
        let name = name.into();
        let (tx, rx) = mpsc::channel(options.queue_depth.max(1));
        let shared = Arc::new(Shared::new(name.clone(), &transport, &options));
        let actor = Actor::new(transport, options, Arc::clone(&shared));
        let span = tracing::info_span!("bus", bus = %name);
        tokio::spawn(actor.run(rx).instrument(span));
        BusHandle { tx, shared }
    }
}

/// A cheap, cloneable handle on a running bus.
///
/// Every request has a timeout ([`BusOptions::request_timeout`]) and fails with a [`BusError`];
/// a unit in backoff fails fast without the request entering the queue.
#[derive(Debug, Clone)]
pub struct BusHandle {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl BusHandle {
    /// The bus name given at spawn.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Reads `count` (1..=125) consecutive registers of `kind` from `unit`, starting at
    /// `address` (zero-based protocol address), with function code 3 (holding) or 4 (input).
    pub async fn read(
        &self,
        unit: u8,
        kind: RegisterKind,
        address: u16,
        count: u16,
    ) -> Result<Vec<u16>, BusError> {
        let op = Operation::Read {
            kind,
            address,
            count,
        };
        registers(self.submit(unit, op, false).await?)
    }

    /// Writes one holding register (function code 6).
    pub async fn write_single(&self, unit: u8, address: u16, value: u16) -> Result<(), BusError> {
        let op = Operation::WriteSingle { address, value };
        self.submit(unit, op, false).await.map(|_| ())
    }

    /// Writes 1..=123 consecutive holding registers (function code 16).
    pub async fn write_multiple(
        &self,
        unit: u8,
        address: u16,
        values: &[u16],
    ) -> Result<(), BusError> {
        let op = Operation::WriteMultiple {
            address,
            values: values.to_vec(),
        };
        self.submit(unit, op, false).await.map(|_| ())
    }

    /// Reads registers like [`BusHandle::read`], but as a probe: the unit's backoff is ignored
    /// and its health and counters are left alone (only the bus totals count it). For scans and
    /// installers' tools, not for polling.
    pub async fn probe(
        &self,
        unit: u8,
        kind: RegisterKind,
        address: u16,
        count: u16,
    ) -> Result<Vec<u16>, BusError> {
        let op = Operation::Read {
            kind,
            address,
            count,
        };
        registers(self.submit(unit, op, true).await?)
    }

    /// A snapshot of the bus's counters and of every addressed unit's health.
    pub fn stats(&self) -> BusStats {
        self.shared.stats().clone()
    }

    /// A snapshot of one unit's counters and health, if it was ever addressed.
    pub fn unit_stats(&self, unit: u8) -> Option<UnitStats> {
        self.shared.stats().units.get(&unit).cloned()
    }

    /// Whether the bus task has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Asks the bus task to stop after the requests queued before this call, and waits until it
    /// has closed its connection. Later requests fail with [`BusError::Closed`].
    pub async fn close(&self) {
        // If the task is already gone there is nothing to stop.
        if self.tx.send(Command::Close).await.is_ok() {
            self.tx.closed().await;
        }
    }

    async fn submit(&self, unit: u8, op: Operation, probe: bool) -> Result<Reply, BusError> {
        if !probe {
            self.shared.refuse_if_backing_off(unit, Instant::now())?;
        }
        let (reply, rx) = oneshot::channel();
        let job = Job {
            unit,
            op,
            probe,
            reply,
        };
        self.tx
            .send(Command::Job(job))
            .await
            .map_err(|_| BusError::Closed)?;
        rx.await.map_err(|_| BusError::Closed)?
    }
}

fn registers(reply: Reply) -> Result<Vec<u16>, BusError> {
    match reply {
        Reply::Registers(words) => Ok(words),
        Reply::Written => Err(BusError::Malformed(
            "a write acknowledgement where registers were expected".into(),
        )),
    }
}
