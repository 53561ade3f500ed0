//! The sessions while the journal cannot be written: what the database's state means for new
//! sessions (`[storage] on_failure`), and the kept starts and stops journaled in order, then
//! told to the charge point, once it can be written again.

use super::effects::new_transaction;
use super::task::Hub;
use super::unjournaled::{Event, is_provisional};
use crate::config::StorageFailure;
use crate::ocpp::chargepoint::SiteEvent;
use crate::ocpp::messages::{CiString20, Reason};
use crate::ocpp::metering::whole_wh;
use crate::view::StorageView;

impl Hub {
    /// Follow the database's state: journal what was kept once it can be written; hold new
    /// sessions while it cannot (with `pause_new_sessions`).
    pub(super) async fn follow_storage(&mut self) {
        let health = self.writer.health().borrow().clone();
        if health.available && !self.storage.available {
            tracing::warn!("database writable again: kept transaction events are journaled");
        } else if !health.available && self.storage.available {
            tracing::error!(
                fault = health.fault.as_deref().unwrap_or(""),
                on_failure = ?self.on_failure,
                "database unavailable: load management goes on"
            );
        }
        self.storage = health;
        if self.storage.available && self.recovery_pending {
            self.close_orphans().await;
        }
        if self.storage.available && !self.recovery_pending && self.kept_events() > 0 {
            self.journal_kept().await;
        }
        self.rules.hold_new_sessions = self.on_failure == StorageFailure::PauseNewSessions
            && (!self.storage.available || self.kept_events() > 0);
    }

    /// The open transactions of the journal that could not be read at start are closed (reason
    /// PowerLoss, at their last journaled register): the cars of now, if any, are sessions of
    /// their own. A transaction a connector runs is left alone.
    async fn close_orphans(&mut self) {
        let open = match self.writer.open_transactions().await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!("open transactions still not read: {e}");
                return;
            }
        };
        self.recovery_pending = false;
        for t in open {
            let local = u64::try_from(t.id).unwrap_or(0);
            if self
                .slots
                .iter()
                .any(|s| s.machine.tx().is_some_and(|tx| tx.local == local))
            {
                continue;
            }
            let span = tracing::info_span!("transaction", connector = t.connector, local);
            let id = CiString20::truncated(&t.id_tag);
            let at = chrono::Utc::now();
            let stop_wh = t.last_meter_wh as f64;
            match self
                .record_stop(local, stop_wh, at, Reason::PowerLoss, Some(id), None)
                .await
            {
                Ok(()) => span.in_scope(|| {
                    tracing::info!(
                        meter_stop_wh = stop_wh,
                        "transaction closed once the database could be read"
                    );
                }),
                Err(e) => {
                    if e.is_storage_fault() {
                        self.recovery_pending = true;
                    }
                    span.in_scope(|| tracing::error!("transaction not closed: {e}"));
                }
            }
        }
    }

    /// Transaction events waiting for the journal, on every connector.
    pub(super) fn kept_events(&self) -> usize {
        self.slots.iter().map(|s| s.kept.len()).sum()
    }

    /// The storage part of the view: `None` while all is well.
    pub(super) fn storage_view(&self) -> Option<StorageView> {
        let kept = self.kept_events();
        if self.storage.available && kept == 0 {
            return None;
        }
        Some(StorageView {
            available: self.storage.available,
            fault: self.storage.fault.clone(),
            since_ms: self.storage.since_ms,
            unjournaled_events: kept as u64,
            on_failure: match self.on_failure {
                StorageFailure::PauseNewSessions => "pause_new_sessions",
                StorageFailure::ChargeUnbilled => "charge_unbilled",
            }
            .into(),
        })
    }

    async fn journal_kept(&mut self) {
        for i in 0..self.slots.len() {
            if !self.journal_kept_of(i).await {
                return;
            }
        }
    }

    /// Journal slot `i`'s kept events in order; false if the database failed again.
    async fn journal_kept_of(&mut self, i: usize) -> bool {
        let connector = self.slots[i].charger.connector;
        while let Some(event) = self.slots[i].kept.front().cloned() {
            let ok = match event {
                Event::Start {
                    provisional,
                    id_tag,
                    meter_start_wh,
                    at,
                } => {
                    let new = match new_transaction(connector, &id_tag, meter_start_wh, at) {
                        Ok(n) => n,
                        Err(e) => {
                            self.give_up(i, &e.to_string());
                            continue;
                        }
                    };
                    let meter_start = new.meter_start_wh;
                    match self.writer.record_start(new).await {
                        Ok(rec) => {
                            let local = u64::try_from(rec.tx).unwrap_or(0);
                            let slot = &mut self.slots[i];
                            slot.kept.journaled(Some(local));
                            slot.machine.rebind(provisional, local);
                            tracing::info_span!("transaction", connector, local).in_scope(|| {
                                tracing::info!(id_tag = %id_tag, meter_start_wh, "kept transaction start journaled");
                            });
                            self.send(SiteEvent::TransactionStarted {
                                local,
                                connector,
                                id_tag,
                                meter_start_wh: meter_start as f64,
                                at,
                                reservation_id: None,
                            })
                            .await;
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                Event::Stop {
                    local,
                    meter_stop_wh,
                    at,
                    reason,
                    id_tag,
                    cost,
                } => {
                    if is_provisional(local) {
                        self.give_up(i, "its start was never journaled");
                        continue;
                    }
                    match self
                        .record_stop(local, meter_stop_wh, at, reason, id_tag.clone(), cost)
                        .await
                    {
                        Ok(()) => {
                            self.slots[i].kept.journaled(None);
                            tracing::info_span!("transaction", connector, local).in_scope(|| {
                                tracing::info!(
                                    meter_stop_wh,
                                    ?reason,
                                    "kept transaction stop journaled"
                                );
                            });
                            self.send(SiteEvent::TransactionStopped {
                                local,
                                meter_stop_wh: f64::from(whole_wh(meter_stop_wh)),
                                at,
                                reason,
                                id_tag,
                            })
                            .await;
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match ok {
                Ok(()) => {}
                Err(e) if e.is_storage_fault() => {
                    tracing::warn!(connector, "kept transaction events wait on: {e}");
                    return false;
                }
                Err(e) => self.give_up(i, &e.to_string()),
            }
        }
        true
    }

    /// The journal refuses slot `i`'s oldest kept event (not the disk): it is dropped, with a start
    /// the events of its transaction.
    fn give_up(&mut self, i: usize, why: &str) {
        let connector = self.slots[i].charger.connector;
        let dropped = self.slots[i].kept.give_up();
        tracing::error!(
            connector,
            events = dropped.len(),
            ?dropped,
            "kept transaction events refused by the journal and dropped: {why}"
        );
    }
}
