//! The CSMS's commands carried out on the site.

use super::task::Hub;
use crate::ocpp::chargepoint::{SiteCommand, SiteEvent};
use crate::ocpp::messages::{AvailabilityType, CiString20, IdTagInfo, Reason, ResetType};
use crate::store::settings::Availability;
use crate::uplink::conv::known_ocpp;
use crate::uplink::link::PROFILES_KEY;

impl Hub {
    pub(super) async fn command(&mut self, cmd: SiteCommand) {
        let now = Hub::now();
        match cmd {
            SiteCommand::RemoteStart {
                connector,
                id_tag,
                authorize_first,
            } => {
                let slot = match connector {
                    Some(c) => self.slot_of(c),
                    None => self.pick_for_remote_start(),
                };
                let Some(i) = slot else {
                    tracing::warn!(?connector, "remote start: no connector to start on");
                    return;
                };
                let effects =
                    self.slots[i]
                        .machine
                        .remote_start(id_tag, authorize_first, now, &self.rules);
                self.run_effects(i, effects, now).await;
            }
            SiteCommand::RemoteStop { connector, local } => {
                if let Some(i) = self.slot_of(connector) {
                    let effects = self.slots[i].machine.remote_stop(local, now);
                    self.run_effects(i, effects, now).await;
                }
            }
            SiteCommand::ChangeAvailability { connector, kind } => {
                self.availability(connector, kind).await;
            }
            SiteCommand::Reset { kind } => self.reset(kind).await,
            SiteCommand::Unlock { connector } => match self.slot_of(connector) {
                Some(i) => {
                    let effects = self.slots[i].machine.unlock(now);
                    self.run_effects(i, effects, now).await;
                }
                None => {
                    self.send(SiteEvent::UnlockResult {
                        connector,
                        unlocked: false,
                    })
                    .await
                }
            },
            SiteCommand::LimitsChanged(limits) => {
                match serde_json::to_string(&limits.profiles) {
                    Ok(json) => {
                        let at = now.utc.timestamp_millis();
                        if let Err(e) = self.writer.set_setting(PROFILES_KEY, &json, at).await {
                            tracing::warn!("charging profiles not saved: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("charging profiles not encoded: {e}"),
                }
                self.charging = Some(*limits);
            }
            SiteCommand::ClearCache => match self.writer.cache_clear().await {
                Ok(n) => tracing::info!(entries = n, "authorization cache cleared"),
                Err(e) => tracing::warn!("authorization cache not cleared: {e}"),
            },
            SiteCommand::AuthorizeResult {
                connector,
                id_tag,
                info,
            } => self.authorize_result(connector, id_tag, info).await,
            SiteCommand::TransactionConfirmed {
                local,
                id_tag,
                info,
                stop,
                ..
            } => {
                self.id_tag_info(&id_tag, &info).await;
                let accepted = known_ocpp(&info).valid_at(now.utc);
                let max_energy = f64::from(self.int("MaxEnergyOnInvalidId"));
                let found = self
                    .slots
                    .iter()
                    .position(|s| s.machine.tx().is_some_and(|t| t.local == local));
                if let Some(i) = found {
                    let effects = self.slots[i]
                        .machine
                        .confirmed(local, accepted, stop, max_energy, now);
                    self.run_effects(i, effects, now).await;
                }
            }
            SiteCommand::IdTagInfo { id_tag, info } => self.id_tag_info(&id_tag, &info).await,
        }
    }

    /// An IdTagInfo from any answer of the CSMS goes into the cache.
    async fn id_tag_info(&self, id_tag: &CiString20, info: &IdTagInfo) {
        let settings = self.auth_settings();
        let local = self.local_entries(id_tag.as_str());
        self.remember(&settings, &local, id_tag, info).await;
    }

    /// A connector for a remote start that names none: one where a vehicle waits, else a free
    /// one.
    fn pick_for_remote_start(&self) -> Option<usize> {
        let free: Vec<(usize, bool)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.machine
                    .free_for_remote_start()
                    .map(|waiting| (i, waiting))
            })
            .collect();
        free.iter()
            .find(|(_, waiting)| *waiting)
            .or(free.first())
            .map(|(i, _)| *i)
    }

    /// ChangeAvailability, persisted (connector 0: every connector).
    async fn availability(&mut self, connector: u32, kind: AvailabilityType) {
        let operative = kind == AvailabilityType::Operative;
        let value = if operative {
            Availability::Operative
        } else {
            Availability::Inoperative
        };
        let targets: Vec<u32> = if connector == 0 {
            std::iter::once(0)
                .chain(self.slots.iter().map(|s| s.charger.connector))
                .collect()
        } else {
            vec![connector]
        };
        let at = chrono::Utc::now().timestamp_millis();
        for c in targets {
            if let Err(e) = self.writer.set_availability(c, value, at).await {
                tracing::error!(connector = c, "availability not saved: {e}");
            }
            if c == 0 {
                self.site_operative = operative;
                self.status0_sent = false;
            } else if let Some(i) = self.slot_of(c) {
                self.slots[i].machine.set_operative(operative);
            }
        }
        tracing::info!(connector, ?kind, "availability changed");
    }

    /// Reset: stop every transaction, then start the charge point afresh (soft) or have the
    /// daemon restart the whole site (hard).
    async fn reset(&mut self, kind: ResetType) {
        let reason = match kind {
            ResetType::Soft => Reason::SoftReset,
            ResetType::Hard => Reason::HardReset,
        };
        tracing::info!(?kind, "reset");
        let now = Hub::now();
        for i in 0..self.slots.len() {
            let effects = self.slots[i].machine.stop_with(reason, now);
            self.run_effects(i, effects, now).await;
        }
        if kind == ResetType::Hard
            && let Some(restart) = &self.restart
            && restart.send(()).await.is_ok()
        {
            return;
        }
        self.restart_link().await;
    }
}
