//! Events from the site: connector states, idTags, transactions, meter readings; sampling.

use super::{
    Aligned, ChargePoint, Normal, Registration, SiteCommand, SiteEvent, StatusReport, TxState,
};
use crate::clock::{JUMP, Moment};
use crate::ocpp::messages::*;
use crate::ocpp::metering::{meter_value, next_aligned, whole_wh};
use crate::ocpp::outbox::{LocalTxId, TxMessage};
use chrono::{DateTime, Utc};
use std::time::Duration;

impl ChargePoint {
    pub(super) fn handle_site(&mut self, event: SiteEvent, now: Moment) {
        match event {
            SiteEvent::ConnectorStatus {
                connector,
                status,
                error_code,
                info,
                vendor_error_code,
            } => {
                let report = StatusReport {
                    status,
                    error_code,
                    info,
                    vendor_error_code,
                };
                if !self.status.contains_key(&connector) {
                    tracing::warn!(connector, "status of an unknown connector ignored");
                    return;
                }
                if self.status.get(&connector) != Some(&report) {
                    tracing::info!(connector, ?status, ?error_code, "connector status");
                    self.status.insert(connector, report);
                    if self.registration == Registration::Accepted && self.connected {
                        self.enqueue(Normal::Status(connector));
                    }
                }
            }
            SiteEvent::IdPresented { connector, id_tag } => {
                if self.registration == Registration::Accepted && self.connected {
                    self.enqueue(Normal::Authorize { connector, id_tag });
                } else {
                    self.site(SiteCommand::AuthorizeResult {
                        connector,
                        id_tag,
                        info: None,
                    });
                }
            }
            SiteEvent::TransactionStarted {
                local,
                connector,
                id_tag,
                meter_start_wh,
                at,
                reservation_id,
            } => {
                self.started(
                    local,
                    connector,
                    id_tag,
                    meter_start_wh,
                    at,
                    reservation_id,
                    now,
                );
            }
            SiteEvent::TransactionStopped {
                local,
                meter_stop_wh,
                at,
                reason,
                id_tag,
            } => {
                self.stopped(local, meter_stop_wh, at, reason, id_tag);
            }
            SiteEvent::Meter { connector, reading } => {
                self.readings.insert(connector, reading);
            }
            SiteEvent::UnlockResult {
                connector,
                unlocked,
            } => {
                if let Some(id) = self.pending_unlock.remove(&connector) {
                    let status = if unlocked {
                        UnlockStatus::Unlocked
                    } else {
                        UnlockStatus::UnlockFailed
                    };
                    match serde_json::to_value(UnlockConnectorResponse { status }) {
                        Ok(payload) => {
                            self.send(crate::ocpp::rpc::Frame::CallResult { id, payload })
                        }
                        Err(e) => tracing::error!("{e}"),
                    }
                }
            }
            SiteEvent::LocalCap { amps } => self.local_cap_a = amps,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn started(
        &mut self,
        local: LocalTxId,
        connector: u32,
        id_tag: CiString20,
        meter_start_wh: f64,
        at: DateTime<Utc>,
        reservation_id: Option<i32>,
        now: Moment,
    ) {
        let _span = tracing::info_span!("transaction", connector, local).entered();
        tracing::info!(id_tag = %id_tag, meter_start_wh, "transaction started");
        self.txs.insert(
            connector,
            TxState {
                local,
                transaction_id: None,
                started: at,
                last_sample: now.mono,
            },
        );
        let req = StartTransaction {
            connector_id: i32::try_from(connector).unwrap_or(0),
            id_tag: id_tag.clone(),
            meter_start: whole_wh(meter_start_wh),
            reservation_id,
            timestamp: self.stamp(at),
        };
        if let Err(e) = self.outbox.push(TxMessage::Start { local, req }) {
            tracing::error!("{e}");
        }
        if let Some((want, profile)) = self.remote_profile.take() {
            if want.is_none_or(|c| c == connector) {
                let tx = self.active_txs().get(&connector).copied();
                let base = self.clock(now.wall);
                self.profiles
                    .set_status(connector, profile, tx.as_ref(), base);
            } else {
                self.remote_profile = Some((want, profile));
            }
        }
        self.limits_changed();
    }

    fn stopped(
        &mut self,
        local: LocalTxId,
        meter_stop_wh: f64,
        at: DateTime<Utc>,
        reason: Reason,
        id_tag: Option<CiString20>,
    ) {
        let Some(connector) = self
            .txs
            .iter()
            .find(|(_, t)| t.local == local)
            .map(|(c, _)| *c)
        else {
            tracing::warn!(local, "stop of an unknown transaction");
            return;
        };
        let _span = tracing::info_span!("transaction", connector, local).entered();
        tracing::info!(meter_stop_wh, ?reason, "transaction stopped");
        self.txs.remove(&connector);
        let measurands = self.config.measurands("StopTxnSampledData");
        let transaction_data = self
            .readings
            .get(&connector)
            .and_then(|r| {
                meter_value(
                    r,
                    &measurands,
                    ReadingContext::TransactionEnd,
                    self.clock(at),
                )
            })
            .map(|mv| vec![mv]);
        let req = StopTransaction {
            id_tag,
            meter_stop: whole_wh(meter_stop_wh),
            timestamp: self.stamp(at),
            transaction_id: 0,
            reason: Some(reason),
            transaction_data,
        };
        if let Err(e) = self.outbox.push(TxMessage::Stop { local, req }) {
            tracing::error!("{e}");
        }
        self.profiles.transaction_ended(connector);
        self.limits_changed();
        for c in [connector, 0] {
            let free = c != 0 || self.txs.is_empty();
            if free && let Some(kind) = self.scheduled_availability.remove(&c) {
                self.site(SiteCommand::ChangeAvailability { connector: c, kind });
            }
        }
    }

    /// Periodic samples of running transactions and clock-aligned samples of every meter.
    pub(super) fn sample(&mut self, now: Moment) {
        let interval = Duration::from_secs(u64::from(self.config.int("MeterValueSampleInterval")));
        if !interval.is_zero() {
            let measurands = self.config.measurands("MeterValuesSampledData");
            let due: Vec<u32> = self
                .txs
                .iter()
                .filter(|(_, t)| now.mono >= t.last_sample.after(interval))
                .map(|(c, _)| *c)
                .collect();
            for c in due {
                if let Some(t) = self.txs.get_mut(&c) {
                    t.last_sample = now.mono;
                }
                self.meter_message(
                    c,
                    &measurands,
                    ReadingContext::SamplePeriodic,
                    self.clock(now.wall),
                );
            }
        }
        self.sample_aligned(now);
    }

    /// Clock-aligned data: the instants are the wall clock's (ClockAlignedDataInterval from
    /// midnight UTC, corrected by the CSMS's time), the wait for the next one runs on the
    /// monotonic clock. When the wall clock jumps (or the CSMS corrects it by more than
    /// [`JUMP`]), the next instant is planned again from the new time.
    fn sample_aligned(&mut self, now: Moment) {
        let interval = self.config.int("ClockAlignedDataInterval");
        let clock = self.corrected(now);
        match self.next_aligned {
            _ if interval == 0 => self.next_aligned = None,
            Some(next) if clock.wall_drift_since(next.planned).abs() > JUMP => {
                tracing::warn!(
                    drift_s = clock.wall_drift_since(next.planned).num_seconds(),
                    "the wall clock jumped: clock-aligned data planned again"
                );
                self.next_aligned = plan_aligned(clock, interval);
            }
            Some(next) if now.mono >= next.due => {
                let measurands = self.config.measurands("MeterValuesAlignedData");
                let connectors: Vec<u32> = self.readings.keys().copied().collect();
                for c in connectors {
                    self.meter_message(c, &measurands, ReadingContext::SampleClock, next.at);
                }
                // planned from the instant just served, so a tick a little early or late
                // neither skips nor repeats one
                let served = Moment {
                    mono: next.due,
                    wall: next.at,
                };
                self.next_aligned = plan_aligned(served, interval);
            }
            Some(_) => {}
            None => self.next_aligned = plan_aligned(clock, interval),
        }
    }

    /// A MeterValues of connector `c`: a transaction message while a transaction runs there,
    /// else a plain message (dropped when offline).
    fn meter_message(
        &mut self,
        c: u32,
        measurands: &[Measurand],
        context: ReadingContext,
        at: DateTime<Utc>,
    ) {
        let Some(mv) = self
            .readings
            .get(&c)
            .and_then(|r| meter_value(r, measurands, context, at))
        else {
            return;
        };
        let req = MeterValues {
            connector_id: i32::try_from(c).unwrap_or(0),
            transaction_id: None,
            meter_value: vec![mv],
        };
        match self.txs.get(&c) {
            Some(t) => {
                if let Err(e) = self.outbox.push(TxMessage::Meter {
                    local: t.local,
                    req,
                }) {
                    tracing::error!("{e}");
                }
            }
            None if self.connected && self.registration == Registration::Accepted => {
                self.enqueue(Normal::Meter(req));
            }
            None => {}
        }
    }
}

/// The next clock-aligned instant after `clock` (a CSMS-corrected moment) and when it is due on
/// the monotonic clock.
fn plan_aligned(clock: Moment, interval_s: u32) -> Option<Aligned> {
    let at = next_aligned(clock.wall, interval_s)?;
    Some(Aligned {
        at,
        due: clock.mono.after_delta(at - clock.wall),
        planned: clock,
    })
}
