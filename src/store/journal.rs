//! The transaction journal: one row per charging transaction, written together with the OCPP
//! message that reports each event, so that an event is durable (and queued for the CSMS) before
//! anything acts on it.
//!
//! Each `record_*` function is one atomic write: the journal row and the outbox message are
//! stored together or not at all. The payloads are the OCPP request bodies as the caller built
//! them; the journal columns are what reports and restart recovery read.

use super::auth::AuthStatus;
use super::error::{StoreError, StoreResult};
use super::outbox::{self, Seq, TxAction};
use super::{Millis, atomically};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

/// hubgate's own number for a transaction, known from its start (before the CSMS's id).
pub type LocalTxId = i64;

text_enum! {
    /// Where a transaction is in its life.
    pub enum TxState {
        /// Started, not stopped.
        Active => "active",
        /// Stopped; its messages may still be waiting in the outbox.
        Stopped => "stopped",
    }
}

/// A transaction that starts now.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransaction {
    /// The connector (1..N) it runs on.
    pub connector: u32,
    /// The idTag that started it, as presented.
    pub id_tag: String,
    /// When it started.
    pub started_at: Millis,
    /// The connector's energy register at the start, in Wh.
    pub meter_start_wh: i64,
    /// The StartTransaction request body (a JSON object).
    pub payload: Value,
}

/// A meter reading taken during a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The transaction.
    pub tx: LocalTxId,
    /// When it was taken.
    pub at: Millis,
    /// The connector's energy register, in Wh, if read.
    pub meter_wh: Option<i64>,
    /// The MeterValues request body (a JSON object) to queue for the CSMS, if this sample is to
    /// be sent; `transactionId` is filled in when it is sent.
    pub payload: Option<Value>,
}

/// The end of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct StopRecord {
    /// The transaction.
    pub tx: LocalTxId,
    /// When it stopped.
    pub stopped_at: Millis,
    /// The connector's energy register at the stop, in Wh.
    pub meter_stop_wh: i64,
    /// The OCPP stop reason (`Local`, `EVDisconnected`, `PowerLoss`, ...), if any.
    pub reason: Option<String>,
    /// The cost computed on site, in the site's currency, if any.
    pub cost: Option<f64>,
    /// The StopTransaction request body (a JSON object); `transactionId` is filled in when it is
    /// sent.
    pub payload: Value,
}

/// A transaction as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionRecord {
    /// Its local id.
    pub id: LocalTxId,
    /// The connector.
    pub connector: u32,
    /// The idTag that started it, as presented.
    pub id_tag: String,
    /// When it started.
    pub started_at: Millis,
    /// Energy register at the start, Wh.
    pub meter_start_wh: i64,
    /// The CSMS's transactionId: `None` until StartTransaction is answered,
    /// [`outbox::UNKNOWN_TRANSACTION_ID`] if StartTransaction was given up.
    pub csms_tx_id: Option<i32>,
    /// `idTagInfo.status` of the StartTransaction answer, once answered.
    pub start_status: Option<AuthStatus>,
    /// The last energy register reading, Wh (the start value until a sample is recorded).
    pub last_meter_wh: i64,
    /// When that reading was taken.
    pub last_sample_at: Millis,
    /// Time spent without energy flowing, from consecutive readings, in ms.
    pub idle_ms: i64,
    /// When it stopped.
    pub stopped_at: Option<Millis>,
    /// Energy register at the stop, Wh.
    pub meter_stop_wh: Option<i64>,
    /// The stop reason.
    pub stop_reason: Option<String>,
    /// The cost computed on site.
    pub cost: Option<f64>,
    /// Active or stopped.
    pub state: TxState,
}

/// What [`record_start`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The new transaction's local id.
    pub tx: LocalTxId,
    /// Its StartTransaction message in the outbox.
    pub seq: Seq,
}

/// Journal a new transaction and queue its StartTransaction.
///
/// Refused with [`StoreError::Conflict`] if a transaction is already active on the connector.
pub fn record_start(conn: &Connection, new: &NewTransaction) -> StoreResult<Recorded> {
    outbox::check_payload(&new.payload)?;
    atomically(conn, "journal_start", || {
        let busy: Option<LocalTxId> = conn
            .query_row(
                "SELECT id FROM transactions WHERE connector = ?1 AND state = 'active'",
                params![new.connector],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(other) = busy {
            return Err(StoreError::Conflict(format!(
                "connector {} already has active transaction {other}",
                new.connector
            )));
        }
        conn.execute(
            "INSERT INTO transactions (connector, id_tag, started_at, meter_start_wh, \
             last_meter_wh, last_sample_at) VALUES (?1, ?2, ?3, ?4, ?4, ?3)",
            params![
                new.connector,
                new.id_tag,
                new.started_at,
                new.meter_start_wh
            ],
        )?;
        let tx = conn.last_insert_rowid();
        let seq = outbox::enqueue(
            conn,
            tx,
            TxAction::StartTransaction,
            &new.payload,
            new.started_at,
        )?;
        Ok(Recorded { tx, seq })
    })
}

/// Journal a meter reading of an active transaction and, if it has a payload, queue its
/// MeterValues; returns the message's sequence number.
///
/// A reading that shows no energy since the previous one adds the time between them to the
/// transaction's idle time.
pub fn record_sample(conn: &Connection, sample: &Sample) -> StoreResult<Option<Seq>> {
    if let Some(p) = &sample.payload {
        outbox::check_payload(p)?;
    }
    atomically(conn, "journal_sample", || {
        let t = active(conn, sample.tx)?;
        if let Some(meter) = sample.meter_wh {
            advance_meter(conn, &t, sample.at, meter)?;
        }
        match &sample.payload {
            Some(p) => Ok(Some(outbox::enqueue(
                conn,
                sample.tx,
                TxAction::MeterValues,
                p,
                sample.at,
            )?)),
            None => Ok(None),
        }
    })
}

/// Journal the end of an active transaction and queue its StopTransaction; returns the
/// message's sequence number.
pub fn record_stop(conn: &Connection, stop: &StopRecord) -> StoreResult<Seq> {
    outbox::check_payload(&stop.payload)?;
    atomically(conn, "journal_stop", || {
        let t = active(conn, stop.tx)?;
        advance_meter(conn, &t, stop.stopped_at, stop.meter_stop_wh)?;
        conn.execute(
            "UPDATE transactions SET state = 'stopped', stopped_at = ?2, meter_stop_wh = ?3, \
             stop_reason = ?4, cost = ?5 WHERE id = ?1",
            params![
                stop.tx,
                stop.stopped_at,
                stop.meter_stop_wh,
                stop.reason,
                stop.cost
            ],
        )?;
        outbox::enqueue(
            conn,
            stop.tx,
            TxAction::StopTransaction,
            &stop.payload,
            stop.stopped_at,
        )
    })
}

/// The transaction with local id `tx`, if journaled.
pub fn transaction(conn: &Connection, tx: LocalTxId) -> StoreResult<Option<TransactionRecord>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE id = ?1"))?;
    Ok(stmt.query_row(params![tx], from_row).optional()?)
}

/// The transactions still active, by local id: after a restart, the ones to resume or stop.
pub fn open_transactions(conn: &Connection) -> StoreResult<Vec<TransactionRecord>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE state = 'active' ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The transactions that started in `[from, to)`, by local id.
pub fn transactions_between(
    conn: &Connection,
    from: Millis,
    to: Millis,
) -> StoreResult<Vec<TransactionRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE started_at >= ?1 AND started_at < ?2 ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![from, to], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const SELECT: &str = "SELECT id, connector, id_tag, started_at, meter_start_wh, csms_tx_id, \
    start_status, last_meter_wh, last_sample_at, idle_ms, stopped_at, meter_stop_wh, \
    stop_reason, cost, state FROM transactions";

fn from_row(r: &Row<'_>) -> rusqlite::Result<TransactionRecord> {
    Ok(TransactionRecord {
        id: r.get(0)?,
        connector: r.get(1)?,
        id_tag: r.get(2)?,
        started_at: r.get(3)?,
        meter_start_wh: r.get(4)?,
        csms_tx_id: r.get(5)?,
        start_status: r.get(6)?,
        last_meter_wh: r.get(7)?,
        last_sample_at: r.get(8)?,
        idle_ms: r.get(9)?,
        stopped_at: r.get(10)?,
        meter_stop_wh: r.get(11)?,
        stop_reason: r.get(12)?,
        cost: r.get(13)?,
        state: r.get(14)?,
    })
}

fn active(conn: &Connection, tx: LocalTxId) -> StoreResult<TransactionRecord> {
    match transaction(conn, tx)? {
        None => Err(StoreError::NotFound {
            what: "transaction",
            id: tx,
        }),
        Some(t) if t.state == TxState::Stopped => Err(StoreError::Conflict(format!(
            "transaction {tx} is already stopped"
        ))),
        Some(t) => Ok(t),
    }
}

/// Move the transaction's last reading to `meter` at `at`, counting the time since the previous
/// reading as idle if no energy flowed.
fn advance_meter(
    conn: &Connection,
    t: &TransactionRecord,
    at: Millis,
    meter: i64,
) -> StoreResult<()> {
    let idle = if meter <= t.last_meter_wh {
        (at - t.last_sample_at).max(0)
    } else {
        0
    };
    conn.execute(
        "UPDATE transactions SET last_meter_wh = ?2, last_sample_at = max(last_sample_at, ?3), \
         idle_ms = idle_ms + ?4 WHERE id = ?1",
        params![t.id, meter, at, idle],
    )?;
    Ok(())
}
