//! Carrying out what the connector machines decide: authorizing ids (the policy, the cache, the
//! CSMS), journaling starts and stops before the CSMS hears of them, unlocking cables.

use super::connector::{Effect, Now};
use super::task::{CACHE_MAX, Hub};
use super::unjournaled::is_provisional;
use crate::auth::{self, Local, Settings, Step};
use crate::config::StorageFailure;
use crate::device::DeviceCommand;
use crate::ocpp::chargepoint::SiteEvent;
use crate::ocpp::messages::{
    CiString20, IdTagInfo, Reason, StartTransaction, StopTransaction, Timestamp,
};
use crate::ocpp::metering::whole_wh;
use crate::store::StoreError;
use crate::store::auth as store_auth;
use crate::store::journal::{NewTransaction, StopRecord};
use crate::uplink::conv::{known, known_ocpp, to_store};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::oneshot;

/// The journal row of a start, with its StartTransaction.
pub(super) fn new_transaction(
    connector: u32,
    id_tag: &CiString20,
    meter_start_wh: f64,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<NewTransaction, serde_json::Error> {
    let req = StartTransaction {
        connector_id: i32::try_from(connector).unwrap_or(0),
        id_tag: id_tag.clone(),
        meter_start: whole_wh(meter_start_wh),
        reservation_id: None,
        timestamp: Timestamp(at),
    };
    Ok(NewTransaction {
        connector,
        id_tag: id_tag.as_str().to_string(),
        started_at: at.timestamp_millis(),
        meter_start_wh: i64::from(req.meter_start),
        payload: serde_json::to_value(&req)?,
    })
}

/// The longest wait for a charger to confirm an unlock.
const UNLOCK_TIMEOUT: Duration = Duration::from_secs(10);

impl Hub {
    /// Carry out `effects` of slot `i` (and what they lead to).
    pub(super) async fn run_effects(&mut self, i: usize, effects: Vec<Effect>, now: Now) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(e) = queue.pop_front() {
            let next = match e {
                Effect::Authorize(id_tag) => self.authorize(i, id_tag, now).await,
                Effect::Start { .. } => {
                    // Preparing goes out before the start.
                    self.publish_status(i).await;
                    self.journal_start(i, &e, now).await;
                    Vec::new()
                }
                Effect::Stop { .. } => self.journal_stop(i, e).await,
                Effect::Unlock => {
                    self.unlock(i);
                    Vec::new()
                }
            };
            queue.extend(next);
        }
    }

    /// An idTag presented by the site's reader at `connector`.
    pub(super) async fn presented(&mut self, connector: u32, id_tag: &str) {
        let Some(i) = self.slot_of(connector) else {
            tracing::warn!(connector, "idTag presented at an unknown connector");
            return;
        };
        let now = Hub::now();
        let effects =
            self.slots[i]
                .machine
                .present(CiString20::truncated(id_tag), now, &self.rules);
        self.run_effects(i, effects, now).await;
    }

    pub(super) fn auth_settings(&self) -> Settings {
        Settings {
            local_pre_authorize: self.flag("LocalPreAuthorize"),
            local_authorize_offline: self.flag("LocalAuthorizeOffline"),
            allow_offline_tx_for_unknown_id: self.flag("AllowOfflineTxForUnknownId"),
            cache_enabled: self.flag("AuthorizationCacheEnabled"),
            list_enabled: self.flag("LocalAuthListEnabled"),
            risk_cap: auth::RiskCap::from_config(&self.site.auth),
        }
    }

    /// What the local list and the cache hold about an id.
    pub(super) fn local_entries(&self, id_tag: &str) -> Local {
        let list = self
            .db
            .read(|c| store_auth::local_list_lookup(c, id_tag))
            .map_err(|e| tracing::warn!("local list not read: {e}"))
            .ok()
            .flatten()
            .and_then(|e| e.info.map(|i| known(&i)));
        let cache = self
            .db
            .read(|c| store_auth::cache_lookup(c, id_tag))
            .map_err(|e| tracing::warn!("authorization cache not read: {e}"))
            .ok()
            .flatten()
            .map(|e| known(&e.info));
        Local { list, cache }
    }

    /// Authorize locally when the policy allows, else ask the CSMS.
    async fn authorize(&mut self, i: usize, id_tag: CiString20, now: Now) -> Vec<Effect> {
        let settings = self.auth_settings();
        let local = self.local_entries(id_tag.as_str());
        match auth::before_asking(&settings, &local, now.utc) {
            Step::Decided(v) => self.slots[i]
                .machine
                .authorized(&id_tag, v, now, &self.rules),
            Step::AskCsms if self.link.is_some() => {
                self.asking.push((i, id_tag.clone()));
                let connector = Some(self.slots[i].charger.connector);
                self.send(SiteEvent::IdPresented { connector, id_tag })
                    .await;
                Vec::new()
            }
            Step::AskCsms => {
                let v = auth::offline(&settings, &local, now.utc);
                self.slots[i]
                    .machine
                    .authorized(&id_tag, v, now, &self.rules)
            }
        }
    }

    /// The CSMS's answer to an id asked about (`None`: it could not be asked).
    pub(super) async fn authorize_result(
        &mut self,
        connector: Option<u32>,
        id_tag: CiString20,
        info: Option<IdTagInfo>,
    ) {
        let Some(pos) = self.asking.iter().position(|(i, t)| {
            auth::same_id(t.as_str(), id_tag.as_str())
                && connector.is_none_or(|c| self.slots[*i].charger.connector == c)
        }) else {
            return;
        };
        let (i, asked) = self.asking.remove(pos);
        let now = Hub::now();
        let settings = self.auth_settings();
        let local = self.local_entries(asked.as_str());
        if let Some(info) = &info {
            self.remember(&settings, &local, &asked, info).await;
        }
        let answer = info.as_ref().map(known_ocpp);
        let verdict = auth::after_asking(&settings, &local, answer.as_ref(), now.utc);
        tracing::info!(id_tag = %asked, ?verdict, "authorization");
        let effects = self.slots[i]
            .machine
            .authorized(&asked, verdict, now, &self.rules);
        self.run_effects(i, effects, now).await;
    }

    /// Put what the CSMS said about an id into the cache (not for ids of the local list).
    pub(super) async fn remember(
        &self,
        settings: &Settings,
        local: &Local,
        id_tag: &CiString20,
        info: &IdTagInfo,
    ) {
        if !auth::cacheable(settings, local) {
            return;
        }
        let now = chrono::Utc::now().timestamp_millis();
        if let Err(e) = self
            .writer
            .cache_put(id_tag.as_str(), to_store(info), now, CACHE_MAX)
            .await
        {
            tracing::warn!("authorization cache not updated: {e}");
        }
    }

    /// Journal a start (and queue its StartTransaction), then tell the charge point. When the
    /// journal cannot be written the start is kept in memory (`charge_unbilled`) or held until
    /// it can (`pause_new_sessions`).
    async fn journal_start(&mut self, i: usize, start: &Effect, now: Now) {
        let Effect::Start {
            id_tag,
            meter_start_wh,
            at,
        } = start
        else {
            return;
        };
        let connector = self.slots[i].charger.connector;
        let new = match new_transaction(connector, id_tag, *meter_start_wh, *at) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("StartTransaction not encoded: {e}");
                self.slots[i].machine.start_failed();
                return;
            }
        };
        let meter_start = new.meter_start_wh;
        let result = if self.slots[i].kept.is_empty() {
            self.writer.record_start(new).await
        } else {
            Err(StoreError::Unavailable("earlier events wait".into()))
        };
        match result {
            Ok(rec) => {
                let local = u64::try_from(rec.tx).unwrap_or(0);
                tracing::info_span!("transaction", connector, local).in_scope(|| {
                    tracing::info!(id_tag = %id_tag, meter_start_wh, "transaction started");
                });
                let slot = &mut self.slots[i];
                slot.machine
                    .started(local, start, now, self.tariff.as_ref());
                slot.journaled = (tokio::time::Instant::now(), *meter_start_wh);
                self.send(SiteEvent::TransactionStarted {
                    local,
                    connector,
                    id_tag: id_tag.clone(),
                    meter_start_wh: meter_start as f64,
                    at: *at,
                    reservation_id: None,
                })
                .await;
            }
            Err(e) if e.is_storage_fault() && self.on_failure == StorageFailure::ChargeUnbilled => {
                let slot = &mut self.slots[i];
                if let Some(provisional) = slot.kept.keep_start(start) {
                    tracing::warn!(
                        connector,
                        id_tag = %id_tag,
                        "transaction started, kept in memory until the journal can be written: {e}"
                    );
                    slot.machine
                        .started(provisional, start, now, self.tariff.as_ref());
                    slot.journaled = (tokio::time::Instant::now(), *meter_start_wh);
                }
            }
            Err(e) if e.is_storage_fault() => {
                tracing::warn!(
                    connector,
                    "transaction start held until the journal can be written: {e}"
                );
                self.slots[i].machine.start_held(start, now, &self.rules);
            }
            Err(e) => {
                tracing::error!(connector, "transaction start not journaled: {e}");
                self.slots[i].machine.start_failed();
            }
        }
    }

    /// Journal a stop (and queue its StopTransaction), then tell the charge point. A stop that
    /// cannot be journaled is kept in memory, in order, and the connector moves on: its next car
    /// is a new transaction (see [`super::unjournaled`]).
    async fn journal_stop(&mut self, i: usize, stop: Effect) -> Vec<Effect> {
        let effect = stop.clone();
        let Effect::Stop {
            local,
            meter_stop_wh,
            at,
            reason,
            id_tag,
            cost,
        } = stop
        else {
            return Vec::new();
        };
        let connector = self.slots[i].charger.connector;
        let result = if self.slots[i].kept.is_empty() && !is_provisional(local) {
            self.record_stop(local, meter_stop_wh, at, reason, id_tag.clone(), cost)
                .await
        } else {
            Err(StoreError::Unavailable("earlier events wait".into()))
        };
        let span = tracing::info_span!("transaction", connector, local);
        match result {
            Ok(()) => {
                span.in_scope(|| {
                    tracing::info!(meter_stop_wh, ?reason, ?cost, "transaction stopped");
                });
                let next = self.slots[i].machine.stopped();
                self.send(SiteEvent::TransactionStopped {
                    local,
                    meter_stop_wh: f64::from(whole_wh(meter_stop_wh)),
                    at,
                    reason,
                    id_tag,
                })
                .await;
                next
            }
            Err(e) if e.is_storage_fault() => {
                span.in_scope(|| {
                    tracing::warn!(
                        meter_stop_wh,
                        ?reason,
                        "transaction stopped, kept in memory until the journal can be written: {e}"
                    );
                });
                self.slots[i].kept.keep_stop(&effect);
                self.slots[i].machine.stopped()
            }
            Err(StoreError::NotFound { .. }) => {
                // The database was recreated under the transaction: journal it afresh, its
                // start as it happened, then its stop.
                span.in_scope(|| {
                    tracing::warn!("transaction not in the journal (the database was recreated): journaled again");
                });
                let slot = &mut self.slots[i];
                if let Some(tx) = slot.machine.tx() {
                    let start = Effect::Start {
                        id_tag: tx.id_tag.clone(),
                        meter_start_wh: tx.meter_start_wh,
                        at: tx.started,
                    };
                    if let Some(provisional) = slot.kept.keep_start(&start) {
                        slot.kept.keep_stop(&Effect::Stop {
                            local: provisional,
                            meter_stop_wh,
                            at,
                            reason,
                            id_tag,
                            cost,
                        });
                    }
                }
                slot.machine.stopped()
            }
            Err(e) => {
                // The journal refuses it (not the disk): it never will take it.
                span.in_scope(|| tracing::error!("transaction stop not journaled: {e}"));
                self.slots[i].machine.stopped()
            }
        }
    }

    /// Journal the end of transaction `local` with its StopTransaction.
    pub(super) async fn record_stop(
        &self,
        local: u64,
        meter_stop_wh: f64,
        at: chrono::DateTime<chrono::Utc>,
        reason: Reason,
        id_tag: Option<CiString20>,
        cost: Option<f64>,
    ) -> Result<(), crate::store::StoreError> {
        let req = StopTransaction {
            id_tag,
            meter_stop: whole_wh(meter_stop_wh),
            timestamp: Timestamp(at),
            // filled in when sent
            transaction_id: 0,
            reason: Some(reason),
            transaction_data: None,
        };
        let reason_text = serde_json::to_value(reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        let rec = StopRecord {
            tx: i64::try_from(local).unwrap_or(i64::MAX),
            stopped_at: at.timestamp_millis(),
            meter_stop_wh: i64::from(req.meter_stop),
            reason: reason_text,
            cost,
            payload: serde_json::to_value(&req)?,
        };
        self.writer.record_stop(rec).await.map(|_| ())
    }

    /// Ask the charger to unlock; the charge point hears the outcome.
    fn unlock(&self, i: usize) {
        let slot = &self.slots[i];
        let connector = slot.charger.connector;
        let commands = slot.charger.commands.clone();
        let events = self.link.as_ref().map(|l| l.handle.events.clone());
        tokio::spawn(async move {
            let (reply, answer) = oneshot::channel();
            let sent = commands.send(DeviceCommand::Unlock { reply }).await.is_ok();
            let unlocked = sent
                && matches!(
                    tokio::time::timeout(UNLOCK_TIMEOUT, answer).await,
                    Ok(Ok(Ok(())))
                );
            tracing::info!(connector, unlocked, "unlock");
            if let Some(events) = events {
                let _ = events
                    .send(SiteEvent::UnlockResult {
                        connector,
                        unlocked,
                    })
                    .await;
            }
        });
    }
}
