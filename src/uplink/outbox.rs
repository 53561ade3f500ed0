//! [`Outbox`] over the store's journal: the transaction messages the CSMS has not acknowledged
//! yet, in the order they were journaled, surviving restarts.
//!
//! StartTransaction and StopTransaction are journaled by the sessions before the charge point
//! hears of them: pushing them only finds them. Periodic MeterValues come from the charge point
//! and are journaled when pushed. Settling a message commits its delivery state together with
//! the transactionId (and idTag status) a StartTransaction.conf brought.

use super::conv::auth_status;
use super::db::{Db, millis};
use crate::ocpp::messages::{AuthorizationStatus, MeterValues, StartTransaction, StopTransaction};
use crate::ocpp::outbox::{LocalTxId, Outbox, OutboxError, Queued, Settle, TxMessage};
use crate::store::journal::{self, Sample};
use crate::store::outbox::{self as store_outbox, Due, RetryPolicy, StartAck, TxAction};
use crate::store::{Millis, StoreError};
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{OptionalExtension, params};
use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The durable outbox.
#[derive(Debug)]
pub struct StoreOutbox {
    db: Db,
    /// idTag statuses of StartTransaction answers, until their message is settled.
    start_status: HashMap<LocalTxId, AuthorizationStatus>,
    /// The last count of waiting messages and when it was taken; pushes and settles adjust it,
    /// and it is counted again now and then (the sessions journal starts and stops directly).
    depth: Cell<Option<(usize, Instant)>>,
}

/// How long a count of waiting messages is trusted.
const DEPTH_FRESH: Duration = Duration::from_secs(1);

impl StoreOutbox {
    pub fn new(db: Db) -> StoreOutbox {
        StoreOutbox {
            db,
            start_status: HashMap::new(),
            depth: Cell::new(None),
        }
    }
}

fn err(e: impl std::fmt::Display) -> OutboxError {
    OutboxError(e.to_string())
}

fn local_of(tx: i64) -> LocalTxId {
    u64::try_from(tx).unwrap_or(0)
}

fn tx_of(local: LocalTxId) -> i64 {
    i64::try_from(local).unwrap_or(i64::MAX)
}

fn utc(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The energy register (Wh) in a MeterValues, if it carries one.
fn register_of(req: &MeterValues) -> Option<i64> {
    req.meter_value
        .iter()
        .flat_map(|mv| &mv.sampled_value)
        .find(|v| {
            v.measurand
                .is_none_or(|m| m == crate::ocpp::messages::Measurand::EnergyActiveImportRegister)
        })
        .and_then(|v| v.value.parse::<f64>().ok())
        .map(|wh| wh.round() as i64)
}

impl StoreOutbox {
    /// Adjust the cached count by `delta` messages.
    fn count(&self, delta: isize) {
        if let Some((n, at)) = self.depth.get() {
            self.depth.set(Some((n.saturating_add_signed(delta), at)));
        }
    }
}

impl Outbox for StoreOutbox {
    fn push(&mut self, message: TxMessage) -> Result<u64, OutboxError> {
        let (local, action) = match &message {
            TxMessage::Start { local, .. } => (*local, TxAction::StartTransaction),
            TxMessage::Stop { local, .. } => (*local, TxAction::StopTransaction),
            TxMessage::Meter { local, req } => {
                let at = req
                    .meter_value
                    .first()
                    .map_or_else(|| millis(Utc::now()), |mv| millis(mv.timestamp.0));
                let sample = Sample {
                    tx: tx_of(*local),
                    at,
                    meter_wh: register_of(req),
                    payload: Some(serde_json::to_value(req).map_err(err)?),
                };
                let seq = self
                    .db
                    .write(move |c| journal::record_sample(c, &sample))
                    .map_err(err)?;
                self.count(1);
                return seq
                    .map(|s| u64::try_from(s).unwrap_or(0))
                    .ok_or_else(|| err("meter values not queued"));
            }
        };
        // Journaled by the sessions before the charge point heard of it.
        self.count(1);
        let seq: Option<i64> = self
            .db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT seq FROM outbox WHERE tx_id = ?1 AND action = ?2 \
                     ORDER BY seq DESC LIMIT 1",
                    params![tx_of(local), action],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .map_err(err)?;
        seq.map(|s| u64::try_from(s).unwrap_or(0))
            .ok_or_else(|| err(format!("{action} of transaction {local} is not journaled")))
    }

    fn front(&self) -> Result<Option<Queued>, OutboxError> {
        let head = self
            .db
            .read(|c| {
                let Due::Send(m) = store_outbox::next_due(c, Millis::MAX)? else {
                    return Ok(None);
                };
                let next: Millis = c.query_row(
                    "SELECT next_attempt_at FROM outbox WHERE seq = ?1",
                    params![m.seq],
                    |r| r.get(0),
                )?;
                Ok(Some((m, next)))
            })
            .map_err(err)?;
        let Some((m, next_attempt_at)) = head else {
            return Ok(None);
        };
        let local = local_of(m.tx);
        let mut payload = m.payload;
        let message = match m.action {
            TxAction::StartTransaction => TxMessage::Start {
                local,
                req: serde_json::from_value::<StartTransaction>(payload).map_err(err)?,
            },
            TxAction::MeterValues => TxMessage::Meter {
                local,
                req: serde_json::from_value::<MeterValues>(payload).map_err(err)?,
            },
            TxAction::StopTransaction => {
                if let Some(o) = payload.as_object_mut() {
                    o.entry("transactionId").or_insert(0.into());
                }
                TxMessage::Stop {
                    local,
                    req: serde_json::from_value::<StopTransaction>(payload).map_err(err)?,
                }
            }
        };
        Ok(Some(Queued {
            seq: u64::try_from(m.seq).unwrap_or(0),
            message,
            attempts: m.attempts,
            not_before: (m.attempts > 0).then(|| utc(next_attempt_at)),
        }))
    }

    fn settle(
        &mut self,
        seq: u64,
        outcome: Settle,
        assign: Option<(LocalTxId, i32)>,
    ) -> Result<(), OutboxError> {
        let seq = i64::try_from(seq).map_err(err)?;
        let now = Utc::now();
        let result = match outcome {
            Settle::Delivered => {
                let start = assign.map(|(local, transaction_id)| StartAck {
                    transaction_id,
                    id_tag_status: auth_status(
                        self.start_status
                            .remove(&local)
                            .unwrap_or(AuthorizationStatus::Accepted),
                    ),
                });
                self.db
                    .write(move |c| store_outbox::mark_acked(c, seq, millis(now), start.as_ref()))
            }
            Settle::Retry(at) => {
                let attempts: u32 = self
                    .db
                    .read(|c| {
                        Ok(c.query_row(
                            "SELECT attempts FROM outbox WHERE seq = ?1",
                            params![seq],
                            |r| r.get(0),
                        )?)
                    })
                    .map_err(err)?;
                // The store waits interval x attempts (counting this one): choose the interval
                // that lands on `at`.
                let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
                let policy = RetryPolicy {
                    interval: wait / (attempts + 1),
                    max_attempts: u32::MAX,
                };
                self.db.write(move |c| {
                    store_outbox::mark_failed(c, seq, millis(now), &policy, "no usable answer")
                })
            }
            Settle::GiveUp => {
                let policy = RetryPolicy {
                    interval: Duration::ZERO,
                    max_attempts: 1,
                };
                self.db.write(move |c| {
                    store_outbox::mark_failed(c, seq, millis(now), &policy, "given up")
                })
            }
        };
        if !matches!(outcome, Settle::Retry(_)) {
            self.count(-1);
        }
        result.map(|_| ()).map_err(err)
    }

    fn start_answered(&mut self, local: LocalTxId, status: AuthorizationStatus) {
        self.start_status.insert(local, status);
    }

    fn transaction_id(&self, local: LocalTxId) -> Result<Option<i32>, OutboxError> {
        self.db
            .read(|c| {
                let id: Option<Option<i32>> = c
                    .query_row(
                        "SELECT csms_tx_id FROM transactions WHERE id = ?1",
                        params![tx_of(local)],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(id.flatten())
            })
            .map_err(err)
    }

    fn depth(&self) -> Result<usize, OutboxError> {
        if let Some((n, at)) = self.depth.get()
            && at.elapsed() < DEPTH_FRESH
        {
            return Ok(n);
        }
        let n = self
            .db
            .read(|c| {
                let n: i64 = c.query_row(
                    "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')",
                    [],
                    |r| r.get(0),
                )?;
                Ok(usize::try_from(n).unwrap_or(0))
            })
            .map_err(|e: StoreError| err(e))?;
        self.depth.set(Some((n, Instant::now())));
        Ok(n)
    }
}
