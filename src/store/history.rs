//! History kept for operator reports: connector status changes, alerts, and sessions (derived
//! from the transaction journal).

use super::Millis;
use super::error::StoreResult;
use super::journal::LocalTxId;
use rusqlite::{Connection, OptionalExtension, Row, params};

/// A connector's status change (connector 0: the charge point as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The connector.
    pub connector: u32,
    /// The OCPP ChargePointStatus (`Available`, `Charging`, `Faulted`, ...).
    pub status: String,
    /// The OCPP ChargePointErrorCode (`NoError`, ...).
    pub error_code: String,
    /// Free-form detail.
    pub info: Option<String>,
    /// When it changed.
    pub at: Millis,
}

/// An alert for the operator: raised, and cleared once the condition is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Its id.
    pub id: i64,
    /// What it is about, stable across raises (`grid_meter.stale`, `outbox.thinned`, ...).
    pub key: String,
    /// `info`, `warning` or `critical`, by convention.
    pub severity: String,
    /// Text for the operator.
    pub message: String,
    /// When it was raised.
    pub raised_at: Millis,
    /// When it was cleared, if it was.
    pub cleared_at: Option<Millis>,
}

/// A finished charging session, as reports see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The local transaction.
    pub tx: LocalTxId,
    /// The CSMS's transactionId, if known.
    pub csms_tx_id: Option<i32>,
    /// The connector.
    pub connector: u32,
    /// The idTag as presented.
    pub id_tag: String,
    /// Start.
    pub started_at: Millis,
    /// Stop.
    pub stopped_at: Millis,
    /// Energy delivered, Wh (meter stop − meter start).
    pub energy_wh: i64,
    /// Stop − start, ms.
    pub duration_ms: i64,
    /// Time without energy flowing, ms.
    pub idle_ms: i64,
    /// The cost computed on site.
    pub cost: Option<f64>,
    /// The stop reason.
    pub stop_reason: Option<String>,
}

/// Record a status change.
pub fn record_status(conn: &Connection, change: &StatusChange) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO status_changes (connector, status, error_code, info, at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            change.connector,
            change.status,
            change.error_code,
            change.info,
            change.at
        ],
    )?;
    Ok(())
}

/// The latest recorded status of `connector` (after an outage, send it only if it differs).
pub fn last_status(conn: &Connection, connector: u32) -> StoreResult<Option<StatusChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT connector, status, error_code, info, at FROM status_changes \
         WHERE connector = ?1 ORDER BY at DESC, id DESC LIMIT 1",
    )?;
    Ok(stmt.query_row(params![connector], status_row).optional()?)
}

/// The latest record of every connector that has one, by connector.
pub fn latest_statuses(conn: &Connection) -> StoreResult<Vec<StatusChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT connector, status, error_code, info, at FROM status_changes s1 \
         WHERE id = (SELECT id FROM status_changes s2 WHERE s2.connector = s1.connector \
                     ORDER BY at DESC, id DESC LIMIT 1) \
         ORDER BY connector",
    )?;
    let rows = stmt.query_map([], status_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The last moment the history shows hubgate running: the end of the latest site sample or the
/// latest status change, whichever is later; `None` for an empty history.
pub fn last_trace(conn: &Connection) -> StoreResult<Option<Millis>> {
    Ok(conn.query_row(
        "SELECT max(t) FROM (SELECT max(at + span_ms) AS t FROM site_samples \
                             UNION ALL SELECT max(at) FROM status_changes)",
        [],
        |r| r.get(0),
    )?)
}

/// The status changes in `[from, to)`, in order, with the last change before `from` of each
/// connector first (so a report knows every connector's state at `from`).
pub fn status_changes(
    conn: &Connection,
    from: Millis,
    to: Millis,
) -> StoreResult<Vec<StatusChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT connector, status, error_code, info, at FROM status_changes WHERE id IN ( \
           SELECT (SELECT id FROM status_changes s2 WHERE s2.connector = s1.connector \
                   AND s2.at < ?1 ORDER BY at DESC, id DESC LIMIT 1) \
           FROM (SELECT DISTINCT connector FROM status_changes) s1) \
         OR (at >= ?1 AND at < ?2) ORDER BY at, id",
    )?;
    let rows = stmt.query_map(params![from, to], status_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn status_row(r: &Row<'_>) -> rusqlite::Result<StatusChange> {
    Ok(StatusChange {
        connector: r.get(0)?,
        status: r.get(1)?,
        error_code: r.get(2)?,
        info: r.get(3)?,
        at: r.get(4)?,
    })
}

/// Raise the alert `key` at `now`. An alert already open under the same key stays as it is
/// (raised once until cleared); returns its id and whether it is new.
pub fn raise_alert(
    conn: &Connection,
    key: &str,
    severity: &str,
    message: &str,
    now: Millis,
) -> StoreResult<(i64, bool)> {
    let inserted = conn
        .query_row(
            "INSERT INTO alerts (key, severity, message, raised_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key) WHERE cleared_at IS NULL DO NOTHING RETURNING id",
            params![key, severity, message, now],
            |r| r.get::<_, i64>(0),
        )
        .optional()?;
    match inserted {
        Some(id) => Ok((id, true)),
        None => {
            let id = conn.query_row(
                "SELECT id FROM alerts WHERE key = ?1 AND cleared_at IS NULL",
                params![key],
                |r| r.get(0),
            )?;
            Ok((id, false))
        }
    }
}

/// Clear the open alert `key` at `now`; returns whether one was open.
pub fn clear_alert(conn: &Connection, key: &str, now: Millis) -> StoreResult<bool> {
    Ok(conn.execute(
        "UPDATE alerts SET cleared_at = max(?2, raised_at) WHERE key = ?1 AND cleared_at IS NULL",
        params![key, now],
    )? > 0)
}

/// The alerts open now, oldest first.
pub fn active_alerts(conn: &Connection) -> StoreResult<Vec<Alert>> {
    alerts_where(conn, "cleared_at IS NULL", None)
}

/// The alerts that were open at some time in `[from, to)`, oldest first.
pub fn alerts_between(conn: &Connection, from: Millis, to: Millis) -> StoreResult<Vec<Alert>> {
    alerts_where(
        conn,
        "raised_at < ?2 AND (cleared_at IS NULL OR cleared_at >= ?1)",
        Some((from, to)),
    )
}

fn alerts_where(
    conn: &Connection,
    filter: &str,
    range: Option<(Millis, Millis)>,
) -> StoreResult<Vec<Alert>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, key, severity, message, raised_at, cleared_at FROM alerts \
         WHERE {filter} ORDER BY raised_at, id"
    ))?;
    let map = |r: &Row<'_>| {
        Ok(Alert {
            id: r.get(0)?,
            key: r.get(1)?,
            severity: r.get(2)?,
            message: r.get(3)?,
            raised_at: r.get(4)?,
            cleared_at: r.get(5)?,
        })
    };
    let rows = match range {
        Some((from, to)) => stmt.query_map(params![from, to], map)?,
        None => stmt.query_map([], map)?,
    };
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The sessions (stopped transactions) that started in `[from, to)`, in start order.
pub fn sessions(conn: &Connection, from: Millis, to: Millis) -> StoreResult<Vec<Session>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, csms_tx_id, connector, id_tag, started_at, stopped_at, \
         meter_stop_wh - meter_start_wh, stopped_at - started_at, idle_ms, cost, stop_reason \
         FROM transactions WHERE state = 'stopped' AND started_at >= ?1 AND started_at < ?2 \
         ORDER BY started_at, id",
    )?;
    let rows = stmt.query_map(params![from, to], |r| {
        Ok(Session {
            tx: r.get(0)?,
            csms_tx_id: r.get(1)?,
            connector: r.get(2)?,
            id_tag: r.get(3)?,
            started_at: r.get(4)?,
            stopped_at: r.get(5)?,
            energy_wh: r.get(6)?,
            duration_ms: r.get(7)?,
            idle_ms: r.get(8)?,
            cost: r.get(9)?,
            stop_reason: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
