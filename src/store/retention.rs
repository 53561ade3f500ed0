//! How long history is kept, and the pruning that enforces it (run e.g. once a day).
//!
//! Nothing a restart or the CSMS still needs is ever pruned: active transactions, transactions
//! with undelivered messages, undelivered messages, open alerts, and each connector's latest
//! status.

use super::error::StoreResult;
use super::samples::downsample;
use super::{Millis, atomically};
use rusqlite::{Connection, params};
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;

/// Retention periods, in days before `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Connector status changes.
    pub status_days: u32,
    /// Site samples at the resolution recorded.
    pub samples_full_days: u32,
    /// The bucket older site samples are merged into.
    pub sample_bucket: Duration,
    /// Site samples at all.
    pub samples_days: u32,
    /// Cleared alerts.
    pub alerts_days: u32,
    /// Stopped transactions (sessions), once all their messages are settled.
    pub sessions_days: u32,
    /// Outbox messages after they were delivered or given up.
    pub settled_outbox_days: u32,
}

impl Default for Retention {
    /// A year of history, sessions for two, site samples at full resolution for a week and in
    /// 15-minute buckets after that, settled outbox rows for a week.
    fn default() -> Self {
        Retention {
            status_days: 365,
            samples_full_days: 7,
            sample_bucket: Duration::from_secs(15 * 60),
            samples_days: 365,
            alerts_days: 365,
            sessions_days: 730,
            settled_outbox_days: 7,
        }
    }
}

/// What [`apply_retention`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Status change rows.
    pub status_changes: u64,
    /// Site sample rows merged away by downsampling.
    pub samples_merged: u64,
    /// Site sample rows deleted.
    pub samples_deleted: u64,
    /// Cleared alerts.
    pub alerts: u64,
    /// Settled outbox rows.
    pub outbox: u64,
    /// Stopped transactions.
    pub transactions: u64,
}

/// Apply `policy` at `now`, in one atomic step.
pub fn apply_retention(conn: &Connection, now: Millis, policy: &Retention) -> StoreResult<Pruned> {
    let before = |days: u32| now.saturating_sub(i64::from(days) * DAY_MS);
    let bucket_ms = i64::try_from(policy.sample_bucket.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    atomically(conn, "retention", || {
        let mut p = Pruned {
            status_changes: conn.execute(
                "DELETE FROM status_changes WHERE at < ?1 AND id NOT IN ( \
                   SELECT (SELECT id FROM status_changes s2 WHERE s2.connector = s1.connector \
                           ORDER BY at DESC, id DESC LIMIT 1) \
                   FROM (SELECT DISTINCT connector FROM status_changes) s1)",
                params![before(policy.status_days)],
            )? as u64,
            ..Pruned::default()
        };
        p.samples_deleted = conn.execute(
            "DELETE FROM site_samples WHERE at < ?1",
            params![before(policy.samples_days)],
        )? as u64;
        p.samples_merged = downsample(conn, before(policy.samples_full_days), bucket_ms)?;
        p.alerts = conn.execute(
            "DELETE FROM alerts WHERE cleared_at IS NOT NULL AND cleared_at < ?1",
            params![before(policy.alerts_days)],
        )? as u64;
        let sessions_before = before(policy.sessions_days);
        p.outbox = conn.execute(
            "DELETE FROM outbox WHERE state IN ('acked', 'failed') AND (settled_at < ?1 \
             OR tx_id IN (SELECT id FROM transactions WHERE state = 'stopped' \
                          AND stopped_at < ?2))",
            params![before(policy.settled_outbox_days), sessions_before],
        )? as u64;
        p.transactions = conn.execute(
            "DELETE FROM transactions WHERE state = 'stopped' AND stopped_at < ?1 \
             AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.tx_id = transactions.id)",
            params![sessions_before],
        )? as u64;
        Ok(p)
    })
}
