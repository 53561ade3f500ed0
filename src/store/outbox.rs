//! The outbox: transaction messages for the CSMS, delivered strictly in the order they were
//! recorded (OCPP 1.6, offline behaviour), retried with linear back-off, and given up after a
//! number of attempts.
//!
//! The queue is one global FIFO: [`next_due`] only ever offers the oldest undelivered message,
//! and a message waiting for its retry holds back every message behind it. A transaction's
//! MeterValues and StopTransaction therefore always follow its StartTransaction's outcome.
//!
//! **transactionId.** A transaction started offline has no CSMS id until its StartTransaction is
//! answered. Payloads are stored as the caller built them and are never rewritten; instead
//! [`next_due`] fills `transactionId` into MeterValues and StopTransaction bodies at send time,
//! from the id that [`mark_acked`] stored atomically with the StartTransaction's delivery (or
//! [`UNKNOWN_TRANSACTION_ID`] once [`mark_failed`] gave the StartTransaction up).

use super::auth::AuthStatus;
use super::error::{StoreError, StoreResult};
use super::journal::LocalTxId;
use super::{Millis, atomically};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::time::Duration;

/// An outbox message's sequence number: increasing in recording order, never reused.
pub type Seq = i64;

/// The transactionId used when StartTransaction could never be delivered (OCPP 1.6 errata 3.18).
pub const UNKNOWN_TRANSACTION_ID: i32 = -1;

text_enum! {
    /// The OCPP action of a transaction message.
    pub enum TxAction {
        /// StartTransaction.req.
        StartTransaction => "StartTransaction",
        /// MeterValues.req of a transaction.
        MeterValues => "MeterValues",
        /// StopTransaction.req.
        StopTransaction => "StopTransaction",
    }
}

text_enum! {
    /// Where a message is in its delivery.
    pub enum DeliveryState {
        /// Waiting to be sent (again).
        Pending => "pending",
        /// Handed to the link; no answer yet. Sent again after a restart.
        Sent => "sent",
        /// Answered by the CSMS.
        Acked => "acked",
        /// Given up after too many failed attempts.
        Failed => "failed",
    }
}

/// A message ready to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Its sequence number, to settle it with.
    pub seq: Seq,
    /// The local transaction it belongs to.
    pub tx: LocalTxId,
    /// The OCPP action.
    pub action: TxAction,
    /// The request body, with `transactionId` filled in for MeterValues and StopTransaction.
    pub payload: Value,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was recorded.
    pub created_at: Millis,
}

/// What the outbox has to offer now.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// Send this message next.
    Send(OutboxMessage),
    /// The oldest message waits for its retry until this instant; nothing may overtake it.
    WaitUntil(Millis),
    /// Nothing is waiting.
    Idle,
}

/// The CSMS's answer to a StartTransaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartAck {
    /// `transactionId` of StartTransaction.conf.
    pub transaction_id: i32,
    /// `idTagInfo.status` of StartTransaction.conf.
    pub id_tag_status: AuthStatus,
}

/// How often and how soon a failed message is tried again (`TransactionMessageAttempts`,
/// `TransactionMessageRetryInterval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the n-th failed attempt is `interval × n`.
    pub interval: Duration,
    /// Attempts in all before a message is given up (0 counts as 1).
    pub max_attempts: u32,
}

/// The outcome of settling a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Delivered.
    Acked,
    /// Failed; due again at this instant.
    RetryAt(Millis),
    /// Failed for the last time: given up.
    GaveUp,
    /// It had been settled before; nothing changed.
    AlreadySettled,
}

/// A message as stored (its payload as recorded, without `transactionId` filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Sequence number.
    pub seq: Seq,
    /// Local transaction.
    pub tx: LocalTxId,
    /// OCPP action.
    pub action: TxAction,
    /// Request body as recorded.
    pub payload: Value,
    /// When it was recorded.
    pub created_at: Millis,
    /// Failed attempts.
    pub attempts: u32,
    /// Not to be sent before this instant.
    pub next_attempt_at: Millis,
    /// Delivery state.
    pub state: DeliveryState,
    /// The last failure's description.
    pub last_error: Option<String>,
}

/// Refuse a payload that is not a JSON object (a `transactionId` could not be filled in).
pub(crate) fn check_payload(payload: &Value) -> StoreResult<()> {
    if payload.is_object() {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            "a transaction message payload must be a JSON object".into(),
        ))
    }
}

/// Queue a message behind all others (part of a journal write).
pub(crate) fn enqueue(
    conn: &Connection,
    tx: LocalTxId,
    action: TxAction,
    payload: &Value,
    now: Millis,
) -> StoreResult<Seq> {
    conn.execute(
        "INSERT INTO outbox (tx_id, action, payload, created_at, next_attempt_at) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![tx, action, serde_json::to_string(payload)?, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The message to send next, if the oldest undelivered one is due at `now`.
///
/// The sender sends one transaction message at a time and settles it ([`mark_acked`],
/// [`mark_failed`]) before asking again: until then the same message is offered again (also
/// after a restart, whether or not it was [`mark_sent`]).
pub fn next_due(conn: &Connection, now: Millis) -> StoreResult<Due> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.seq, o.tx_id, o.action, o.payload, o.attempts, o.next_attempt_at, \
         o.created_at, t.csms_tx_id FROM outbox o JOIN transactions t ON t.id = o.tx_id \
         WHERE o.state IN ('pending', 'sent') ORDER BY o.seq LIMIT 1",
    )?;
    let head = stmt
        .query_row([], |r| {
            Ok((
                r.get::<_, Seq>(0)?,
                r.get::<_, LocalTxId>(1)?,
                r.get::<_, TxAction>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, Millis>(5)?,
                r.get::<_, Millis>(6)?,
                r.get::<_, Option<i32>>(7)?,
            ))
        })
        .optional()?;
    let Some((seq, tx, action, payload, attempts, next_at, created_at, csms_id)) = head else {
        return Ok(Due::Idle);
    };
    if next_at > now {
        return Ok(Due::WaitUntil(next_at));
    }
    let mut payload: Value = serde_json::from_str(&payload)?;
    if action != TxAction::StartTransaction {
        let id = csms_id.unwrap_or_else(|| {
            // Cannot happen while the queue is FIFO: the StartTransaction, older, is settled.
            tracing::warn!(
                seq,
                tx,
                "transaction message without a settled start; using -1"
            );
            UNKNOWN_TRANSACTION_ID
        });
        if let Some(obj) = payload.as_object_mut() {
            obj.insert("transactionId".into(), Value::from(id));
        }
    }
    Ok(Due::Send(OutboxMessage {
        seq,
        tx,
        action,
        payload,
        attempts,
        created_at,
    }))
}

/// Note that message `seq` was handed to the link (informative: a sent message without an answer
/// is sent again, e.g. after a restart).
pub fn mark_sent(conn: &Connection, seq: Seq) -> StoreResult<()> {
    let n = conn.execute(
        "UPDATE outbox SET state = 'sent' WHERE seq = ?1 AND state IN ('pending', 'sent')",
        params![seq],
    )?;
    if n == 0 {
        lookup(conn, seq)?;
    }
    Ok(())
}

/// Record that the CSMS answered message `seq`. For a StartTransaction `start` carries the
/// answer, and the CSMS transactionId is stored in the same commit as the delivery, so a restart
/// can neither resend the start nor lose its id.
pub fn mark_acked(
    conn: &Connection,
    seq: Seq,
    now: Millis,
    start: Option<&StartAck>,
) -> StoreResult<Settled> {
    atomically(conn, "outbox_ack", || {
        let (tx, action, state) = lookup(conn, seq)?;
        if matches!(state, DeliveryState::Acked | DeliveryState::Failed) {
            return Ok(Settled::AlreadySettled);
        }
        match (action, start) {
            (TxAction::StartTransaction, Some(ack)) => {
                conn.execute(
                    "UPDATE transactions SET csms_tx_id = ?2, start_status = ?3 WHERE id = ?1",
                    params![tx, ack.transaction_id, ack.id_tag_status],
                )?;
            }
            (TxAction::StartTransaction, None) => {
                return Err(StoreError::Invalid(format!(
                    "StartTransaction {seq} acknowledged without its answer"
                )));
            }
            (_, Some(_)) => {
                return Err(StoreError::Invalid(format!(
                    "{action} {seq} is not a StartTransaction"
                )));
            }
            (_, None) => {}
        }
        conn.execute(
            "UPDATE outbox SET state = 'acked', settled_at = ?2 WHERE seq = ?1",
            params![seq, now],
        )?;
        Ok(Settled::Acked)
    })
}

/// Record that the CSMS failed to process message `seq` (a CALLERROR, or no usable answer).
///
/// The message is due again after `interval × attempts so far`; after `max_attempts` attempts it
/// is given up. A StartTransaction given up leaves its transaction with
/// [`UNKNOWN_TRANSACTION_ID`], which its later messages then carry.
pub fn mark_failed(
    conn: &Connection,
    seq: Seq,
    now: Millis,
    policy: &RetryPolicy,
    error: &str,
) -> StoreResult<Settled> {
    atomically(conn, "outbox_fail", || {
        let (tx, action, state) = lookup(conn, seq)?;
        if matches!(state, DeliveryState::Acked | DeliveryState::Failed) {
            return Ok(Settled::AlreadySettled);
        }
        let attempts: u32 = conn.query_row(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1 \
             RETURNING attempts",
            params![seq, error],
            |r| r.get(0),
        )?;
        if attempts >= policy.max_attempts.max(1) {
            conn.execute(
                "UPDATE outbox SET state = 'failed', settled_at = ?2 WHERE seq = ?1",
                params![seq, now],
            )?;
            if action == TxAction::StartTransaction {
                conn.execute(
                    "UPDATE transactions SET csms_tx_id = ?2 WHERE id = ?1 AND csms_tx_id IS NULL",
                    params![tx, UNKNOWN_TRANSACTION_ID],
                )?;
            }
            tracing::warn!(seq, tx, %action, attempts, "transaction message given up");
            return Ok(Settled::GaveUp);
        }
        let wait = i64::try_from(policy.interval.as_millis())
            .unwrap_or(i64::MAX)
            .saturating_mul(i64::from(attempts));
        let at = now.saturating_add(wait);
        conn.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?2 WHERE seq = ?1",
            params![seq, at],
        )?;
        Ok(Settled::RetryAt(at))
    })
}

/// Every message of transaction `tx` (or of all transactions), in order, as stored.
pub fn entries(conn: &Connection, tx: Option<LocalTxId>) -> StoreResult<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, tx_id, action, payload, created_at, attempts, next_attempt_at, state, \
         last_error FROM outbox WHERE ?1 IS NULL OR tx_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![tx], |r| {
        Ok((
            OutboxEntry {
                seq: r.get(0)?,
                tx: r.get(1)?,
                action: r.get(2)?,
                payload: Value::Null,
                created_at: r.get(4)?,
                attempts: r.get(5)?,
                next_attempt_at: r.get(6)?,
                state: r.get(7)?,
                last_error: r.get(8)?,
            },
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut entry, payload) = row?;
        entry.payload = serde_json::from_str(&payload)?;
        out.push(entry);
    }
    Ok(out)
}

fn lookup(conn: &Connection, seq: Seq) -> StoreResult<(LocalTxId, TxAction, DeliveryState)> {
    conn.query_row(
        "SELECT tx_id, action, state FROM outbox WHERE seq = ?1",
        params![seq],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()?
    .ok_or(StoreError::NotFound {
        what: "outbox message",
        id: seq,
    })
}
