//! After a start: availability and energy registers as they were, and the transactions the
//! journal holds open resumed (the vehicle is still plugged in) or closed (reason PowerLoss after
//! a crash or power cut, Reboot after a clean stop) with the last known meter value.

use super::connector::{Now, Tx};
use super::cycle::base_key;
use super::energy::{Counter, EnergyRegister};
use super::observe::observation;
use super::tariff::CostMeter;
use super::task::{CLEAN_STOP_KEY, Hub, first_polls};
use crate::auth::RiskCap;
use crate::ocpp::messages::{AuthorizationStatus, CiString20, Reason};
use crate::store::journal::TransactionRecord;
use crate::store::settings::{self, Availability};
use crate::uplink::conv::ocpp_status;
use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};
use rusqlite::params;
use std::time::Duration;
use tracing::Instrument;

/// The longest wait for the chargers' first answers before deciding on open transactions.
const FIRST_POLL_WAIT: Duration = Duration::from_secs(10);

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn local_time(ms: i64) -> NaiveDateTime {
    Local.from_utc_datetime(&utc(ms).naive_utc()).naive_local()
}

impl Hub {
    pub(super) async fn recover(&mut self) {
        let clean = matches!(
            self.writer.setting(CLEAN_STOP_KEY).await,
            Ok(Some(v)) if v == "true"
        );
        let now_ms = Utc::now().timestamp_millis();
        if let Err(e) = self
            .writer
            .set_setting(CLEAN_STOP_KEY, "false", now_ms)
            .await
        {
            tracing::warn!("start not recorded: {e}");
        }
        self.site_operative = self.operative(0).await;
        for i in 0..self.slots.len() {
            let connector = self.slots[i].charger.connector;
            let operative = self.site_operative && self.operative(connector).await;
            let (last, base) = self.register_of(connector);
            let slot = &mut self.slots[i];
            slot.machine.set_operative(operative);
            slot.register = EnergyRegister::new(last, base);
            slot.saved_base = base;
        }
        let open = match self.writer.open_transactions().await {
            Ok(open) => open,
            Err(e) => {
                tracing::error!("open transactions not read, closed once the database works: {e}");
                self.recovery_pending = true;
                return;
            }
        };
        if open.is_empty() {
            return;
        }
        first_polls(&self.slots, FIRST_POLL_WAIT).await;
        let reason = if clean {
            Reason::Reboot
        } else {
            Reason::PowerLoss
        };
        for t in open {
            self.recover_one(t, reason).await;
        }
    }

    async fn operative(&self, connector: u32) -> bool {
        match self.writer.availability(connector).await {
            Ok(a) => a == Availability::Operative,
            Err(e) => {
                tracing::warn!(connector, "availability not read: {e}");
                true
            }
        }
    }

    /// The connector's last journaled register and its saved base.
    fn register_of(&self, connector: u32) -> (f64, Option<f64>) {
        let last = self
            .db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT max(max(last_meter_wh, coalesce(meter_stop_wh, 0))) \
                     FROM transactions WHERE connector = ?1",
                    params![connector],
                    |r| r.get::<_, Option<i64>>(0),
                )?)
            })
            .ok()
            .flatten()
            .unwrap_or(0);
        let base = self
            .db
            .read(|c| settings::get(c, &base_key(connector)))
            .ok()
            .flatten()
            .and_then(|v| v.parse::<f64>().ok());
        (last as f64, base)
    }

    async fn recover_one(&mut self, t: TransactionRecord, reason: Reason) {
        let local = u64::try_from(t.id).unwrap_or(0);
        let span = tracing::info_span!("transaction", connector = t.connector, local);
        self.recover_in(t, local, reason).instrument(span).await;
    }

    async fn recover_in(&mut self, t: TransactionRecord, local: u64, reason: Reason) {
        let slot = self.slot_of(t.connector);
        let state = slot.map(|i| self.slots[i].charger.state.borrow().clone());
        let register = match (slot, &state) {
            (Some(i), Some(st)) if st.answering() => st
                .reading
                .as_ref()
                .and_then(Counter::of)
                .map(|c| self.slots[i].register.update(c)),
            _ => None,
        };
        let obs = state.as_ref().and_then(|st| observation(st, register));
        let last = t.last_meter_wh as f64;
        match (slot, obs) {
            (Some(i), Some(o)) if o.reachable && o.plugged => {
                let tx = self.resumed(&t, register.unwrap_or(last).max(last));
                tracing::info!(
                    meter_wh = tx.register_wh,
                    "the vehicle is still there: transaction resumed"
                );
                self.slots[i].machine.resume(tx);
                self.slots[i].journaled = (tokio::time::Instant::now(), last);
                if let Some(status) = t.start_status.map(ocpp_status)
                    && status != AuthorizationStatus::Accepted
                {
                    let now = Hub::now();
                    let stop = self.flag("StopTransactionOnInvalidId");
                    let max = f64::from(self.int("MaxEnergyOnInvalidId"));
                    let effects = self.slots[i]
                        .machine
                        .confirmed(local, false, stop, max, now);
                    self.run_effects(i, effects, now).await;
                }
            }
            (_, obs) => {
                // The charger's counter still shows the session's end once the vehicle left.
                let done = obs.is_some_and(|o| o.reachable && !o.plugged);
                let stop_wh = match register {
                    Some(r) if done => r.max(last),
                    _ => last,
                };
                let at = Utc::now();
                let cost = self.tariff.as_ref().map(|tariff| {
                    let mut m =
                        CostMeter::start(tariff, local_time(t.started_at), t.meter_start_wh as f64);
                    m.advance(tariff, local_time(t.last_sample_at), stop_wh);
                    m.total()
                });
                let id = CiString20::truncated(&t.id_tag);
                match self
                    .record_stop(local, stop_wh, at, reason, Some(id), cost)
                    .await
                {
                    Ok(()) => tracing::info!(
                        meter_stop_wh = stop_wh,
                        ?reason,
                        "transaction closed after the restart"
                    ),
                    Err(e) => tracing::error!("transaction not closed: {e}"),
                }
            }
        }
    }

    fn resumed(&self, t: &TransactionRecord, register_wh: f64) -> Tx {
        let started = utc(t.started_at);
        let meter_start = t.meter_start_wh as f64;
        // Not yet confirmed by the CSMS: an unknown id accepted offline keeps its risk cap.
        let cap = (self.rules.requires_auth
            && t.start_status.is_none()
            && self.auth_settings().allow_offline_tx_for_unknown_id)
            .then(|| RiskCap::from_config(&self.site.auth));
        let now: Now = Hub::now();
        let cost = self.tariff.as_ref().map(|tariff| {
            let mut m = CostMeter::start(tariff, local_time(t.started_at), meter_start);
            m.advance(tariff, now.local, register_wh);
            m
        });
        // before the restart only the wall clock counted: the risk cap goes on from there
        let ran = (now.utc - started).to_std().unwrap_or_default();
        Tx {
            local: u64::try_from(t.id).unwrap_or(0),
            id_tag: CiString20::truncated(&t.id_tag),
            started,
            started_mono: now.mono.before(ran),
            meter_start_wh: meter_start,
            register_wh,
            cap,
            rejection: None,
            suspended: false,
            cost,
        }
    }
}
