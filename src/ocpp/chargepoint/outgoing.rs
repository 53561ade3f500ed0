//! Choosing and encoding the next CALL: BootNotification first, then other messages, then the
//! transaction outbox.

use super::{ChargePoint, Normal, Registration, Sent};
use crate::clock::Moment;
use crate::ocpp::messages::{Authorize, CiString50, Heartbeat, StatusNotification};
use crate::ocpp::outbox::Queued;
use crate::ocpp::outbox::{TxMessage, UNKNOWN_TRANSACTION};
use serde::Serialize;
use std::time::Duration;

impl ChargePoint {
    /// Start the next CALL if the link is free.
    pub(super) fn pump(&mut self, now: Moment) {
        if !self.connected || self.calls.is_busy() {
            return;
        }
        if self.boot_due.is_some_and(|due| now.mono >= due) {
            let payload = self.setup.boot.clone();
            self.call("BootNotification", &payload, Sent::Boot, now);
            return;
        }
        if self.registration != Registration::Accepted {
            return;
        }
        let hb = Duration::from_secs(u64::from(self.config.int("HeartbeatInterval")));
        if !hb.is_zero() && now.mono >= self.last_heartbeat.after(hb) {
            self.enqueue(Normal::Heartbeat);
        }
        if let Some(next) = self.queue.pop_front() {
            self.send_normal(next, now);
            return;
        }
        match self.outbox.front() {
            Ok(Some(q)) if self.retry_due(&q, now) => {
                let message = q.message;
                match self.tx_payload(&message) {
                    Ok(payload) => {
                        let sent = Sent::Tx {
                            seq: q.seq,
                            message: message.clone(),
                        };
                        self.call(message.action(), &payload, sent, now);
                    }
                    Err(e) => tracing::error!("outbox: {e}"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!("{e}"),
        }
    }

    fn send_normal(&mut self, n: Normal, now: Moment) {
        match n {
            Normal::Heartbeat => {
                self.last_heartbeat = now.mono;
                self.call("Heartbeat", &Heartbeat {}, Sent::Heartbeat, now);
            }
            Normal::Status(c) => {
                let Some(s) = self.status.get(&c).cloned() else {
                    return;
                };
                let req = StatusNotification {
                    connector_id: i32::try_from(c).unwrap_or(0),
                    error_code: s.error_code,
                    info: s.info.as_deref().map(CiString50::truncated),
                    status: s.status,
                    timestamp: Some(self.stamp(now.wall)),
                    vendor_id: None,
                    vendor_error_code: s.vendor_error_code.as_deref().map(CiString50::truncated),
                };
                self.call("StatusNotification", &req, Sent::Status(c, s), now);
            }
            Normal::Authorize { connector, id_tag } => {
                let req = Authorize {
                    id_tag: id_tag.clone(),
                };
                self.call(
                    "Authorize",
                    &req,
                    Sent::Authorize { connector, id_tag },
                    now,
                );
            }
            Normal::Meter(req) => self.call("MeterValues", &req, Sent::Meter, now),
        }
    }

    /// Whether the outbox's first message may be sent: at once unless a transmission of it
    /// failed, then once its retry wait has passed on the monotonic clock. A message that failed
    /// before this charge point knew it (before a restart) waits what is left of the wall-clock
    /// instant the journal recorded, at most the whole wait, so no clock jump makes it wait
    /// longer.
    fn retry_due(&mut self, q: &Queued, now: Moment) -> bool {
        if q.attempts == 0 {
            return true;
        }
        let due = match self.tx_retry {
            Some((seq, due)) if seq == q.seq => due,
            _ => {
                let full = self.retry_wait(q.attempts);
                let left = q
                    .not_before
                    .and_then(|t| (t - now.wall).to_std().ok())
                    .unwrap_or(Duration::ZERO)
                    .min(full);
                let due = now.mono.after(left);
                self.tx_retry = Some((q.seq, due));
                due
            }
        };
        now.mono >= due
    }

    /// TransactionMessageRetryInterval x the transmissions that failed so far.
    pub(super) fn retry_wait(&self, attempts: u32) -> Duration {
        let interval = u64::from(self.config.int("TransactionMessageRetryInterval"));
        Duration::from_secs(interval.saturating_mul(u64::from(attempts)))
    }

    /// A queued transaction message with the CSMS's transactionId filled in.
    fn tx_payload(&self, m: &TxMessage) -> Result<serde_json::Value, String> {
        let id = |local| {
            self.outbox
                .transaction_id(local)
                .map(|id| id.unwrap_or(UNKNOWN_TRANSACTION))
                .map_err(|e| e.to_string())
        };
        let v = match m {
            TxMessage::Start { req, .. } => serde_json::to_value(req),
            TxMessage::Meter { local, req } => {
                let mut req = req.clone();
                req.transaction_id = Some(id(*local)?);
                serde_json::to_value(req)
            }
            TxMessage::Stop { local, req } => {
                let mut req = req.clone();
                req.transaction_id = id(*local)?;
                serde_json::to_value(req)
            }
        };
        v.map_err(|e| e.to_string())
    }

    fn call<P: Serialize>(&mut self, action: &str, payload: &P, sent: Sent, now: Moment) {
        let payload = match serde_json::to_value(payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(%action, "cannot encode: {e}");
                return;
            }
        };
        match self.calls.start(action, payload, sent, now.mono) {
            Ok(frame) => self.send(frame),
            Err(busy) => tracing::error!(%action, "{busy}"),
        }
    }
}
