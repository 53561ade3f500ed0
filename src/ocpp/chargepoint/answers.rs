//! Answers to our CALLs, and CALLs that failed.

use super::{ChargePoint, Registration, Sent, SiteCommand};
use crate::clock::Moment;
use crate::ocpp::messages::{
    AuthorizationStatus, AuthorizeResponse, BootNotificationResponse, HeartbeatResponse,
    RegistrationStatus, StartTransactionResponse, StopTransactionResponse, decode_payload,
};
use crate::ocpp::outbox::{Settle, TxMessage, UNKNOWN_TRANSACTION};
use crate::ocpp::rpc::Answer;
use std::time::Duration;

/// Boot retry when the CSMS gives no usable interval (s).
const BOOT_RETRY_S: u64 = 30;

impl ChargePoint {
    pub(super) fn handle_answer(&mut self, sent: Sent, answer: Answer, now: Moment) {
        let payload = match answer {
            Answer::Result(p) => p,
            Answer::Error { code, description } => {
                tracing::warn!(%code, %description, "the CSMS refused our call");
                self.call_failed(sent, now, true);
                return;
            }
        };
        match sent {
            Sent::Boot => match decode_payload::<BootNotificationResponse>(&payload) {
                Ok(r) => self.booted(r, now),
                Err(e) => {
                    tracing::warn!("invalid BootNotification answer: {e}");
                    self.call_failed(Sent::Boot, now, true);
                }
            },
            Sent::Heartbeat => match decode_payload::<HeartbeatResponse>(&payload) {
                Ok(r) => self.clock_offset = r.current_time.0 - now.wall,
                Err(e) => tracing::warn!("invalid Heartbeat answer: {e}"),
            },
            Sent::Status(c, report) => {
                self.status_sent.insert(c, report);
            }
            Sent::Authorize { connector, id_tag } => {
                let info = decode_payload::<AuthorizeResponse>(&payload)
                    .map_err(|e| tracing::warn!("invalid Authorize answer: {e}"))
                    .ok()
                    .map(|r| r.id_tag_info);
                self.site(SiteCommand::AuthorizeResult {
                    connector,
                    id_tag,
                    info,
                });
            }
            Sent::Meter => {}
            Sent::Tx { seq, message } => self.tx_answered(seq, message, payload, now),
        }
    }

    fn booted(&mut self, r: BootNotificationResponse, now: Moment) {
        self.clock_offset = r.current_time.0 - now.wall;
        let interval = u64::try_from(r.interval).unwrap_or(0);
        tracing::info!(status = ?r.status, interval, "BootNotification answered");
        match r.status {
            RegistrationStatus::Accepted => {
                let first = self.registration != Registration::Accepted;
                self.registration = Registration::Accepted;
                self.boot_due = None;
                self.last_heartbeat = now.mono;
                if interval > 0 {
                    self.config
                        .change("HeartbeatInterval", &interval.to_string());
                }
                if first {
                    self.status_sent.clear();
                }
                self.queue_changed_statuses();
            }
            RegistrationStatus::Pending | RegistrationStatus::Rejected => {
                self.registration = if r.status == RegistrationStatus::Pending {
                    Registration::Pending
                } else {
                    Registration::Rejected
                };
                let wait = if interval > 0 { interval } else { BOOT_RETRY_S };
                self.boot_due = Some(now.mono.after(Duration::from_secs(wait)));
            }
        }
    }

    fn tx_answered(
        &mut self,
        seq: u64,
        message: TxMessage,
        payload: serde_json::Value,
        now: Moment,
    ) {
        let local = message.local();
        let _span = tracing::info_span!("transaction", local).entered();
        let mut assign = None;
        match &message {
            TxMessage::Start { req, .. } => {
                let r = match decode_payload::<StartTransactionResponse>(&payload) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!("invalid StartTransaction answer: {e}");
                        self.call_failed(Sent::Tx { seq, message }, now, true);
                        return;
                    }
                };
                assign = Some((local, r.transaction_id));
                for tx in self.txs.values_mut().filter(|t| t.local == local) {
                    tx.transaction_id = Some(r.transaction_id);
                }
                self.outbox.start_answered(local, r.id_tag_info.status);
                let stop = self.config.flag("StopTransactionOnInvalidId");
                tracing::info!(transaction = r.transaction_id, status = ?r.id_tag_info.status, "transaction confirmed");
                self.site(SiteCommand::TransactionConfirmed {
                    local,
                    transaction_id: r.transaction_id,
                    id_tag: req.id_tag.clone(),
                    stop: stop && r.id_tag_info.status != AuthorizationStatus::Accepted,
                    info: r.id_tag_info,
                });
            }
            TxMessage::Stop { req, .. } => {
                if let (Ok(r), Some(id_tag)) = (
                    decode_payload::<StopTransactionResponse>(&payload),
                    &req.id_tag,
                ) && let Some(info) = r.id_tag_info
                {
                    self.site(SiteCommand::IdTagInfo {
                        id_tag: id_tag.clone(),
                        info,
                    });
                }
            }
            TxMessage::Meter { .. } => {}
        }
        if let Err(e) = self.outbox.settle(seq, Settle::Delivered, assign) {
            tracing::error!("{e}");
        }
    }

    /// Our CALL got no (usable) answer; `counted` is false when the link dropped under it.
    pub(super) fn call_failed(&mut self, sent: Sent, now: Moment, counted: bool) {
        match sent {
            Sent::Boot => {
                let wait = if counted { BOOT_RETRY_S } else { 0 };
                self.boot_due = Some(now.mono.after(Duration::from_secs(wait)));
            }
            Sent::Authorize { connector, id_tag } => {
                self.site(SiteCommand::AuthorizeResult {
                    connector,
                    id_tag,
                    info: None,
                });
            }
            Sent::Tx { seq, message } if counted => self.tx_failed(seq, message, now),
            _ => {}
        }
    }

    fn tx_failed(&mut self, seq: u64, message: TxMessage, now: Moment) {
        let attempts = match self.outbox.front() {
            Ok(Some(q)) if q.seq == seq => q.attempts + 1,
            _ => 1,
        };
        let max = self.config.int("TransactionMessageAttempts").max(1);
        let (outcome, assign) = if attempts >= max {
            tracing::error!(
                action = message.action(),
                attempts,
                "giving up on a transaction message"
            );
            let assign = matches!(message, TxMessage::Start { .. })
                .then_some((message.local(), UNKNOWN_TRANSACTION));
            (Settle::GiveUp, assign)
        } else {
            let wait = self.retry_wait(attempts);
            self.tx_retry = Some((seq, now.mono.after(wait)));
            // the journal records the wall-clock instant too, for a restart and for people
            let at = now.wall + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
            (Settle::Retry(at), None)
        };
        if let Err(e) = self.outbox.settle(seq, outcome, assign) {
            tracing::error!("{e}");
        }
    }
}
