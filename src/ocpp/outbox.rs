//! The queue of transaction messages (StartTransaction, transaction MeterValues,
//! StopTransaction): delivered in order, retried, and the CSMS's transactionId carried into
//! the messages queued before it was known.
//!
//! [`Outbox`] is the interface a durable journal implements; [`MemoryOutbox`] keeps it in memory.

use super::messages::{AuthorizationStatus, MeterValues, StartTransaction, StopTransaction};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, VecDeque};

/// hubgate's own number for a transaction, known from its start (before the CSMS's id).
pub type LocalTxId = u64;

/// The transactionId used when StartTransaction could never be delivered (OCPP 1.6 errata).
pub const UNKNOWN_TRANSACTION: i32 = -1;

/// A transaction message as queued; `transaction_id` fields are filled in at sending time.
#[derive(Debug, Clone, PartialEq)]
pub enum TxMessage {
    Start {
        local: LocalTxId,
        req: StartTransaction,
    },
    Meter {
        local: LocalTxId,
        req: MeterValues,
    },
    Stop {
        local: LocalTxId,
        req: StopTransaction,
    },
}

impl TxMessage {
    pub fn local(&self) -> LocalTxId {
        match self {
            TxMessage::Start { local, .. }
            | TxMessage::Meter { local, .. }
            | TxMessage::Stop { local, .. } => *local,
        }
    }

    pub fn action(&self) -> &'static str {
        match self {
            TxMessage::Start { .. } => "StartTransaction",
            TxMessage::Meter { .. } => "MeterValues",
            TxMessage::Stop { .. } => "StopTransaction",
        }
    }
}

/// The oldest undelivered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub seq: u64,
    pub message: TxMessage,
    /// Transmissions that failed so far.
    pub attempts: u32,
    /// The wall-clock instant of the next attempt, as recorded with the last failure. The
    /// charge point schedules retries on its monotonic clock and reads this only for a message
    /// that failed before it started, and then waits at most the whole retry wait.
    pub not_before: Option<DateTime<Utc>>,
}

/// How a transmission ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Acknowledged by the CSMS: remove it.
    Delivered,
    /// Failed; try again at the given wall-clock instant (a record: the wait itself runs on
    /// the charge point's monotonic clock).
    Retry(DateTime<Utc>),
    /// Failed too often: remove it undelivered.
    GiveUp,
}

/// The store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbox: {0}")]
pub struct OutboxError(pub String);

/// An ordered, retrying queue of transaction messages.
///
/// A durable implementation must make `settle` atomic: the message's removal (or attempt count)
/// and the transactionId assignment are one commit, so a restart never resends what the CSMS
/// acknowledged.
pub trait Outbox {
    /// Queue a message behind all others.
    fn push(&mut self, message: TxMessage) -> Result<u64, OutboxError>;
    /// The oldest undelivered message.
    fn front(&self) -> Result<Option<Queued>, OutboxError>;
    /// Settle message `seq`; `assign` records the CSMS's transactionId for a local transaction
    /// (from StartTransaction.conf, or [`UNKNOWN_TRANSACTION`] when the start was given up).
    fn settle(
        &mut self,
        seq: u64,
        outcome: Settle,
        assign: Option<(LocalTxId, i32)>,
    ) -> Result<(), OutboxError>;
    /// The CSMS answered the StartTransaction of `local` with this idTag status; called just
    /// before that message is settled, so a journal can store both in one commit.
    fn start_answered(&mut self, local: LocalTxId, status: AuthorizationStatus) {
        let _ = (local, status);
    }
    /// The CSMS's transactionId of a local transaction, once known.
    fn transaction_id(&self, local: LocalTxId) -> Result<Option<i32>, OutboxError>;
    /// Messages waiting.
    fn depth(&self) -> Result<usize, OutboxError>;
}

/// An [`Outbox`] in memory: ordered, not durable.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    next: u64,
    queue: VecDeque<Queued>,
    ids: BTreeMap<LocalTxId, i32>,
}

impl Outbox for MemoryOutbox {
    fn push(&mut self, message: TxMessage) -> Result<u64, OutboxError> {
        self.next += 1;
        self.queue.push_back(Queued {
            seq: self.next,
            message,
            attempts: 0,
            not_before: None,
        });
        Ok(self.next)
    }

    fn front(&self) -> Result<Option<Queued>, OutboxError> {
        Ok(self.queue.front().cloned())
    }

    fn settle(
        &mut self,
        seq: u64,
        outcome: Settle,
        assign: Option<(LocalTxId, i32)>,
    ) -> Result<(), OutboxError> {
        let Some(pos) = self.queue.iter().position(|q| q.seq == seq) else {
            return Err(OutboxError(format!("no message {seq}")));
        };
        match outcome {
            Settle::Delivered | Settle::GiveUp => {
                self.queue.remove(pos);
            }
            Settle::Retry(at) => {
                if let Some(q) = self.queue.get_mut(pos) {
                    q.attempts += 1;
                    q.not_before = Some(at);
                }
            }
        }
        if let Some((local, id)) = assign {
            self.ids.insert(local, id);
        }
        Ok(())
    }

    fn transaction_id(&self, local: LocalTxId) -> Result<Option<i32>, OutboxError> {
        Ok(self.ids.get(&local).copied())
    }

    fn depth(&self) -> Result<usize, OutboxError> {
        Ok(self.queue.len())
    }
}
