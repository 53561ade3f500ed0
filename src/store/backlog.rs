//! The outbox's backlog: what is waiting, and keeping it within a bounded number of rows while
//! the CSMS stays unreachable.
//!
//! [`enforce_limit`] first forgets settled messages (delivered or given up; the journal keeps the
//! transactions), then thins the undelivered MeterValues. StartTransaction and StopTransaction
//! are never dropped: they carry the billing. Thinning drops every other periodic sample of a
//! transaction first (then every fourth, and so on), oldest first, so what survives still spans
//! the whole transaction; the last sample of each transaction is kept.

use super::error::StoreResult;
use super::journal::LocalTxId;
use super::outbox::Seq;
use super::{Millis, atomically, count, nonneg};
use rusqlite::{Connection, params};
use std::collections::HashMap;

/// What is waiting in the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Undelivered messages (pending or sent).
    pub undelivered: u64,
    /// ... of which StartTransaction.
    pub starts: u64,
    /// ... of which MeterValues.
    pub meter_values: u64,
    /// ... of which StopTransaction.
    pub stops: u64,
    /// Messages given up and still kept.
    pub failed: u64,
    /// All rows, settled ones included.
    pub rows: u64,
    /// When the oldest undelivered message was recorded.
    pub oldest: Option<Millis>,
    /// Failed attempts of the oldest undelivered message.
    pub head_attempts: u32,
}

/// A MeterValues message dropped by [`enforce_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Its sequence number.
    pub seq: Seq,
    /// Its transaction.
    pub tx: LocalTxId,
}

/// What [`enforce_limit`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Thinned {
    /// Settled (delivered or given-up) rows forgotten.
    pub purged_settled: u64,
    /// Undelivered MeterValues dropped (raise an alert if not empty: data was lost).
    pub dropped: Vec<Dropped>,
    /// Rows left.
    pub rows: u64,
    /// Still above the limit: only starts, stops and protected samples are left.
    pub over_limit: bool,
}

/// Count what is waiting.
pub fn backlog(conn: &Connection) -> StoreResult<Backlog> {
    let mut b = conn.query_row(
        "SELECT \
           count(*) FILTER (WHERE state IN ('pending', 'sent')), \
           count(*) FILTER (WHERE state IN ('pending', 'sent') AND action = 'StartTransaction'), \
           count(*) FILTER (WHERE state IN ('pending', 'sent') AND action = 'MeterValues'), \
           count(*) FILTER (WHERE state IN ('pending', 'sent') AND action = 'StopTransaction'), \
           count(*) FILTER (WHERE state = 'failed'), \
           count(*) \
         FROM outbox",
        [],
        |r| {
            Ok(Backlog {
                undelivered: nonneg(r.get(0)?),
                starts: nonneg(r.get(1)?),
                meter_values: nonneg(r.get(2)?),
                stops: nonneg(r.get(3)?),
                failed: nonneg(r.get(4)?),
                rows: nonneg(r.get(5)?),
                oldest: None,
                head_attempts: 0,
            })
        },
    )?;
    let head: Option<(Millis, u32)> = rusqlite::OptionalExtension::optional(conn.query_row(
        "SELECT created_at, attempts FROM outbox WHERE state IN ('pending', 'sent') \
         ORDER BY seq LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?;
    if let Some((oldest, attempts)) = head {
        b.oldest = Some(oldest);
        b.head_attempts = attempts;
    }
    Ok(b)
}

/// Bring the outbox down to at most `max_rows` rows, as described in the module documentation;
/// returns what was removed.
pub fn enforce_limit(conn: &Connection, max_rows: u64) -> StoreResult<Thinned> {
    atomically(conn, "outbox_limit", || {
        let mut out = Thinned::default();
        let mut rows = count(conn, "SELECT count(*) FROM outbox", [])?;
        if rows > max_rows {
            out.purged_settled = conn.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
                 WHERE state IN ('acked', 'failed') ORDER BY seq LIMIT ?1)",
                params![i64::try_from(rows - max_rows).unwrap_or(i64::MAX)],
            )? as u64;
            rows -= out.purged_settled;
        }
        if rows > max_rows {
            let excess = usize::try_from(rows - max_rows).unwrap_or(usize::MAX);
            out.dropped = thinning_victims(conn, excess)?;
            let mut del = conn.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for d in &out.dropped {
                del.execute(params![d.seq])?;
            }
            rows -= out.dropped.len() as u64;
            if !out.dropped.is_empty() {
                tracing::warn!(
                    dropped = out.dropped.len(),
                    max_rows,
                    "outbox full: undelivered meter values thinned"
                );
            }
        }
        out.rows = rows;
        out.over_limit = rows > max_rows;
        Ok(out)
    })
}

/// Choose up to `excess` undelivered MeterValues to drop: by thinning level (the number of
/// trailing zero bits of the sample's 1-based position within its transaction: odd positions
/// first), then oldest first. The message in flight (`sent`) and each transaction's last sample
/// are never chosen.
fn thinning_victims(conn: &Connection, excess: usize) -> StoreResult<Vec<Dropped>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, tx_id, state = 'sent' FROM outbox \
         WHERE action = 'MeterValues' AND state IN ('pending', 'sent') ORDER BY seq",
    )?;
    let samples = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, Seq>(0)?,
                r.get::<_, LocalTxId>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut last: HashMap<LocalTxId, Seq> = HashMap::new();
    for &(seq, tx, _) in &samples {
        last.insert(tx, seq);
    }
    let mut position: HashMap<LocalTxId, u64> = HashMap::new();
    let mut candidates: Vec<(u32, Seq, LocalTxId)> = Vec::new();
    for &(seq, tx, in_flight) in &samples {
        let pos = position.entry(tx).or_insert(0);
        *pos += 1;
        if in_flight || last.get(&tx) == Some(&seq) {
            continue;
        }
        candidates.push((pos.trailing_zeros(), seq, tx));
    }
    candidates.sort_unstable();
    candidates.truncate(excess);
    let mut victims: Vec<Dropped> = candidates
        .into_iter()
        .map(|(_, seq, tx)| Dropped { seq, tx })
        .collect();
    victims.sort_unstable_by_key(|d| d.seq);
    Ok(victims)
}
