//! One cycle of the sessions: every charger's state through its connector machine, then what
//! follows from all of them: statuses to the CSMS, the OCPP limits for the control loop, the
//! uplink part of the site view.

use super::energy::Counter;
use super::observe::{meter_reading, observation};
use super::task::{Hub, JOURNAL_EVERY};
use super::unjournaled::is_provisional;
use crate::limits::SourceLimits;
use crate::ocpp::chargepoint::Registration;
use crate::ocpp::chargepoint::SiteEvent;
use crate::ocpp::link::{LinkState, LinkStatus};
use crate::ocpp::messages::{ChargePointErrorCode, ChargePointStatus};
use crate::phase::PerPhase;
use crate::store::journal::{self, Sample};
use crate::store::settings;
use crate::view::{SiteView, UplinkView};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// The outbox is counted this often for the view.
const BACKLOG_EVERY: Duration = Duration::from_secs(2);
/// The outbox is kept within this many rows (meter values thinned beyond).
const OUTBOX_MAX_ROWS: u64 = 200_000;
const MAINTAIN_EVERY: Duration = Duration::from_secs(300);

/// The settings key of a connector's energy register base.
pub(super) fn base_key(connector: u32) -> String {
    format!("connector.{connector}.energy_base_wh")
}

impl Hub {
    pub(super) async fn cycle(&mut self) {
        let now = Hub::now();
        self.refresh_rules();
        self.follow_storage().await;
        for i in 0..self.slots.len() {
            let state = self.slots[i].charger.state.borrow().clone();
            let slot = &mut self.slots[i];
            let register = state
                .reading
                .as_ref()
                .filter(|_| state.answering())
                .and_then(Counter::of)
                .map(|c| slot.register.update(c));
            let base = slot.register.base_wh();
            if register.is_some() && slot.saved_base != Some(base) {
                slot.saved_base = Some(base);
                let key = base_key(slot.charger.connector);
                let at = now.utc.timestamp_millis();
                if let Err(e) = self
                    .writer
                    .call(move |c| settings::set(c, &key, &base.to_string(), at))
                    .await
                {
                    tracing::warn!("energy register base not saved: {e}");
                }
            }
            let Some(obs) = observation(&state, register) else {
                continue;
            };
            let slot = &mut self.slots[i];
            slot.observed = true;
            let effects = slot
                .machine
                .observe(obs, now, &self.rules, self.tariff.as_ref());
            self.run_effects(i, effects, now).await;
            let slot = &self.slots[i];
            let connector = slot.charger.connector;
            if state.answering() {
                let value = slot.register.value();
                self.offer(SiteEvent::Meter {
                    connector,
                    reading: meter_reading(&state, value),
                });
            }
        }
        self.journal_registers(now).await;
        self.publish_statuses().await;
        self.publish_limits(now.utc);
        self.publish_view();
        self.maintain().await;
    }

    /// Journal the running transactions' registers now and then, so a restart knows them: all
    /// of them together in one commit per [`JOURNAL_EVERY`] (these checkpoints are not
    /// transaction events: a restart recovers from the last one, and the stop carries the final
    /// value). Transactions kept in memory (not journaled yet) are left out.
    async fn journal_registers(&mut self, now: super::connector::Now) {
        if self.registers_at.elapsed() < JOURNAL_EVERY {
            return;
        }
        self.registers_at = Instant::now();
        let mut due = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(tx) = slot.machine.tx() else {
                continue;
            };
            if is_provisional(tx.local) || tx.register_wh <= slot.journaled.1 {
                continue;
            }
            let sample = Sample {
                tx: i64::try_from(tx.local).unwrap_or(i64::MAX),
                at: now.utc.timestamp_millis(),
                meter_wh: Some(tx.register_wh.round() as i64),
                payload: None,
            };
            due.push((i, sample, tx.register_wh));
        }
        if due.is_empty() {
            return;
        }
        let samples: Vec<Sample> = due.iter().map(|(_, s, _)| s.clone()).collect();
        let written = self
            .writer
            .call(move |c| {
                Ok(samples
                    .iter()
                    .map(|s| journal::record_sample(c, s).map_err(|e| e.to_string()))
                    .collect::<Vec<_>>())
            })
            .await;
        match written {
            Ok(results) => {
                for ((i, sample, register), result) in due.into_iter().zip(results) {
                    match result {
                        Ok(_) => self.slots[i].journaled = (Instant::now(), register),
                        Err(e) => {
                            tracing::warn!(local = sample.tx, "meter reading not journaled: {e}")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(
                transactions = due.len(),
                "meter readings not journaled: {e}"
            ),
        }
    }

    async fn publish_statuses(&mut self) {
        if self.link.is_none() {
            return;
        }
        if !self.status0_sent {
            self.status0_sent = true;
            let status = if self.site_operative {
                ChargePointStatus::Available
            } else {
                ChargePointStatus::Unavailable
            };
            self.send(SiteEvent::ConnectorStatus {
                connector: 0,
                status,
                error_code: ChargePointErrorCode::NoError,
                info: None,
                vendor_error_code: None,
            })
            .await;
        }
        for i in 0..self.slots.len() {
            self.publish_status(i).await;
        }
    }

    /// Tell the charge point the status of slot `i` if it changed.
    pub(super) async fn publish_status(&mut self, i: usize) {
        let slot = &self.slots[i];
        if !slot.observed || self.link.is_none() {
            return;
        }
        let status = slot.machine.status(&self.rules);
        if slot.sent.as_ref() == Some(&status) {
            return;
        }
        let connector = slot.charger.connector;
        self.slots[i].sent = Some(status.clone());
        self.send(SiteEvent::ConnectorStatus {
            connector,
            status: status.status,
            error_code: status.error_code,
            info: status.info,
            vendor_error_code: status.vendor_error_code,
        })
        .await;
    }

    /// The OCPP source of the limits: chargers without a transaction that may deliver are
    /// paused (when ids are authorized), inoperative ones always; the CSMS's profiles cap the
    /// chargers and their sum.
    fn publish_limits(&mut self, now: chrono::DateTime<chrono::Utc>) {
        let mut paused = BTreeSet::new();
        for s in &self.slots {
            let hold = !s.machine.operative()
                || (self.rules.requires_auth
                    || self.rules.free_vend.is_some()
                    || self.rules.hold_new_sessions)
                    && !s.machine.delivering();
            if hold {
                paused.insert(s.charger.name.clone());
            }
        }
        let view = self.view.borrow().clone();
        let other = other_load(&view);
        let mut limits = SourceLimits {
            paused,
            ..SourceLimits::default()
        };
        if let Some(c) = &self.charging {
            let l = c.limits_at(now);
            // The profiles cap the chargers' sum; the control loop caps the grid connection,
            // which also carries the rest of the building.
            limits.site_cap_a = l.site_cap_a.map(|cap| other.map(|o| o + cap));
            let names: BTreeMap<u32, &str> = self
                .slots
                .iter()
                .map(|s| (s.charger.connector, s.charger.name.as_str()))
                .collect();
            for (c, amps) in l.connectors {
                if let Some(name) = names.get(&c) {
                    limits.charger_cap_a.insert((*name).to_string(), amps);
                }
            }
        }
        self.limits.send_if_modified(|l| {
            let changed = l.ocpp != limits;
            if changed {
                l.ocpp = limits;
            }
            changed
        });
        if self.link.is_some() {
            let s = &self.site.site;
            let local = (s.grid_limit_a.0 - PerPhase::splat(s.safety_margin_a) - other).min_value();
            self.offer(SiteEvent::LocalCap {
                amps: Some(local.max(0.0)),
            });
        }
    }

    fn publish_view(&mut self) {
        let storage = self.storage_view();
        let Some(link) = &self.link else {
            // Without a CSMS the part is there only for the database.
            let uplink = storage.map(|s| UplinkView {
                state: "none".into(),
                storage: Some(s),
                ..UplinkView::default()
            });
            self.view.send_if_modified(|v| {
                let changed = v.uplink != uplink;
                if changed {
                    v.uplink = uplink;
                }
                changed
            });
            return;
        };
        if self.backlog_at.is_none_or(|t| t.elapsed() >= BACKLOG_EVERY) {
            self.backlog_at = Some(Instant::now());
            match self.db.read(backlog) {
                Ok(b) => self.backlog = b,
                Err(e) => tracing::warn!("outbox not counted: {e}"),
            }
        }
        let status = *link.handle.status.borrow();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let uplink = UplinkView {
            storage,
            ..uplink_view(&status, self.backlog, now_ms)
        };
        self.view.send_if_modified(|v| {
            let changed = v.uplink.as_ref() != Some(&uplink);
            if changed {
                v.uplink = Some(uplink);
            }
            changed
        });
    }

    /// Keep the outbox within bounds; say so when meter values had to go.
    async fn maintain(&mut self) {
        if self.maintained_at.elapsed() < MAINTAIN_EVERY {
            return;
        }
        self.maintained_at = Instant::now();
        match self.writer.enforce_limit(OUTBOX_MAX_ROWS).await {
            Ok(t) if !t.dropped.is_empty() => {
                let msg = format!(
                    "the CSMS backlog is full: {} undelivered meter values were thinned",
                    t.dropped.len()
                );
                tracing::warn!("{msg}");
                let now = chrono::Utc::now().timestamp_millis();
                if let Err(e) = self
                    .writer
                    .raise_alert("outbox_thinned", "warning", &msg, now)
                    .await
                {
                    tracing::warn!("alert not recorded: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("outbox not kept within bounds: {e}"),
        }
    }
}

/// The non-EV load per grid phase: the grid meter less what the chargers draw (0 without one).
pub fn other_load(view: &SiteView) -> PerPhase<f64> {
    let Some(grid) = view.grid_current_a else {
        return PerPhase::ZERO;
    };
    let chargers = view
        .chargers
        .iter()
        .fold(PerPhase::ZERO, |acc, c| acc + c.draw_a);
    (grid - chargers).map(|a| a.max(0.0))
}

/// Undelivered transaction messages and when the oldest was recorded.
fn backlog(c: &rusqlite::Connection) -> Result<(u64, Option<i64>), crate::store::StoreError> {
    let n: i64 = c.query_row(
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')",
        [],
        |r| r.get(0),
    )?;
    let oldest: Option<i64> = rusqlite::OptionalExtension::optional(c.query_row(
        "SELECT created_at FROM outbox WHERE state IN ('pending', 'sent') ORDER BY seq LIMIT 1",
        [],
        |r| r.get(0),
    ))?;
    Ok((u64::try_from(n).unwrap_or(0), oldest))
}

/// The uplink as `hubgate status` and the alerts show it.
pub fn uplink_view(status: &LinkStatus, backlog: (u64, Option<i64>), now_ms: i64) -> UplinkView {
    let state = match (status.state, status.registration) {
        (LinkState::Connected, Registration::Accepted) => "connected",
        (LinkState::Connected, Registration::Pending) => "pending",
        (LinkState::Connected, Registration::Rejected) => "rejected",
        (LinkState::Connected, Registration::Unknown) => "booting",
        (LinkState::Connecting, _) => "connecting",
        (LinkState::Offline, _) => "offline",
    };
    UplinkView {
        state: state.into(),
        queued_messages: backlog.0,
        oldest_queued_age_s: backlog
            .1
            .map(|t| ((now_ms - t).max(0) as f64 / 1000.0).round()),
        storage: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::ChargerView;

    #[test]
    fn other_load_is_the_grid_less_the_chargers() {
        let v = SiteView {
            grid_current_a: Some(PerPhase([30.0, 20.0, 5.0])),
            chargers: vec![
                ChargerView {
                    draw_a: PerPhase([10.0, 10.0, 10.0]),
                    ..ChargerView::default()
                },
                ChargerView {
                    draw_a: PerPhase([0.0, 5.0, 0.0]),
                    ..ChargerView::default()
                },
            ],
            ..SiteView::default()
        };
        assert_eq!(other_load(&v), PerPhase([20.0, 5.0, 0.0]));
        assert_eq!(other_load(&SiteView::default()), PerPhase::ZERO);
    }

    #[test]
    fn the_view_names_the_link_state() {
        let s = LinkStatus {
            state: LinkState::Connected,
            registration: Registration::Accepted,
            outbox_depth: 0,
            connects: 1,
        };
        let v = uplink_view(&s, (12, Some(1_000)), 61_000);
        assert_eq!(
            (v.state.as_str(), v.queued_messages, v.oldest_queued_age_s),
            ("connected", 12, Some(60.0))
        );
        let s = LinkStatus {
            state: LinkState::Offline,
            ..s
        };
        assert_eq!(uplink_view(&s, (0, None), 0).state, "offline");
    }
}
