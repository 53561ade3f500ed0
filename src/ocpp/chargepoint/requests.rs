//! The CSMS's requests and our answers.

use super::{ChargePoint, Normal, SiteCommand};
use crate::clock::Moment;
use crate::ocpp::messages::*;
use crate::ocpp::metering::meter_value;
use crate::ocpp::rpc::{CallFault, ErrorCode, Frame};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

impl ChargePoint {
    pub(super) fn handle_request(&mut self, id: &str, action: &str, payload: &Value, now: Moment) {
        let _span = tracing::info_span!("csms_call", %action, id).entered();
        let req = match decode_request(action, payload) {
            Ok(r) => r,
            Err(fault) => {
                tracing::warn!("refused: {fault}");
                self.send(Frame::call_error(id, &fault));
                return;
            }
        };
        let answer = match req {
            CsmsRequest::ChangeAvailability(r) => to_json(self.change_availability(r)),
            CsmsRequest::ChangeConfiguration(r) => {
                let status = self.config.change(r.key.as_str(), r.value.as_str());
                if status == ConfigurationStatus::Accepted
                    && crate::ocpp::keys::canonical(r.key.as_str()) == Some("WebSocketPingInterval")
                {
                    self.out.push(super::Output::PingInterval(
                        self.config.int("WebSocketPingInterval"),
                    ));
                }
                to_json(ChangeConfigurationResponse { status })
            }
            CsmsRequest::ClearCache(_) => {
                self.site(SiteCommand::ClearCache);
                to_json(ClearCacheResponse {
                    status: ClearCacheStatus::Accepted,
                })
            }
            CsmsRequest::ClearChargingProfile(r) => {
                let status = self.profiles.clear(&r);
                if status == ClearChargingProfileStatus::Accepted {
                    self.limits_changed();
                }
                to_json(ClearChargingProfileResponse { status })
            }
            CsmsRequest::DataTransfer(_) => to_json(DataTransferResponse {
                status: DataTransferStatus::UnknownVendorId,
                data: None,
            }),
            CsmsRequest::GetCompositeSchedule(r) => to_json(self.composite(r, now)),
            CsmsRequest::GetConfiguration(r) => {
                let asked = r.key.as_deref().unwrap_or(&[]);
                let max = self.config.int("GetConfigurationMaxKeys");
                if asked.len() > max as usize {
                    // the key list is an occurrence the charge point declared a bound for
                    Err(CallFault::new(
                        ErrorCode::OccurrenceConstraintViolation,
                        format!(
                            "{} keys asked, GetConfigurationMaxKeys is {max}",
                            asked.len()
                        ),
                    ))
                } else {
                    let (known, unknown) = self.config.report(asked);
                    to_json(GetConfigurationResponse {
                        configuration_key: (!known.is_empty()).then_some(known),
                        unknown_key: (!unknown.is_empty()).then_some(unknown),
                    })
                }
            }
            CsmsRequest::GetLocalListVersion(_) => {
                let list_version = if self.config.flag("LocalAuthListEnabled") {
                    self.local_list.version()
                } else {
                    -1
                };
                to_json(GetLocalListVersionResponse { list_version })
            }
            CsmsRequest::RemoteStartTransaction(r) => to_json(self.remote_start(r)),
            CsmsRequest::RemoteStopTransaction(r) => {
                let found = self
                    .txs
                    .iter()
                    .find(|(_, t)| t.transaction_id == Some(r.transaction_id));
                let status = match found {
                    Some((&connector, t)) => {
                        let local = t.local;
                        self.site(SiteCommand::RemoteStop { connector, local });
                        RemoteStartStopStatus::Accepted
                    }
                    None => RemoteStartStopStatus::Rejected,
                };
                to_json(RemoteStartStopResponse { status })
            }
            CsmsRequest::Reset(r) => {
                self.site(SiteCommand::Reset { kind: r.kind });
                to_json(ResetResponse {
                    status: ResetStatus::Accepted,
                })
            }
            CsmsRequest::SendLocalList(r) => {
                let status = if self.config.flag("LocalAuthListEnabled") {
                    let max = self.config.int("LocalAuthListMaxLength") as usize;
                    let sent = r.local_authorization_list.as_ref().map_or(0, Vec::len);
                    if sent > self.config.int("SendLocalListMaxLength") as usize {
                        UpdateStatus::Failed
                    } else {
                        self.local_list.apply(&r, max)
                    }
                } else {
                    UpdateStatus::NotSupported
                };
                to_json(SendLocalListResponse { status })
            }
            CsmsRequest::SetChargingProfile(r) => to_json(self.set_profile(r, now)),
            CsmsRequest::TriggerMessage(r) => to_json(self.trigger(r, now)),
            CsmsRequest::UnlockConnector(r) => match u32::try_from(r.connector_id) {
                Ok(c) if self.setup.unlockable.contains(&c) => {
                    // answered when the site reports the outcome
                    self.pending_unlock.insert(c, id.to_string());
                    self.site(SiteCommand::Unlock { connector: c });
                    return;
                }
                _ => to_json(UnlockConnectorResponse {
                    status: UnlockStatus::NotSupported,
                }),
            },
        };
        match answer {
            Ok(payload) => self.send(Frame::CallResult {
                id: id.to_string(),
                payload,
            }),
            Err(fault) => self.send(Frame::call_error(id, &fault)),
        }
    }

    fn connector_exists(&self, c: i32) -> Option<u32> {
        u32::try_from(c)
            .ok()
            .filter(|c| self.setup.shape.connectors.contains_key(c))
    }

    fn change_availability(&mut self, r: ChangeAvailability) -> ChangeAvailabilityResponse {
        let connector = match u32::try_from(r.connector_id) {
            Ok(0) => 0,
            _ => match self.connector_exists(r.connector_id) {
                Some(c) => c,
                None => {
                    return ChangeAvailabilityResponse {
                        status: AvailabilityStatus::Rejected,
                    };
                }
            },
        };
        let busy = if connector == 0 {
            !self.txs.is_empty()
        } else {
            self.txs.contains_key(&connector)
        };
        let status = if busy && r.kind == AvailabilityType::Inoperative {
            self.scheduled_availability.insert(connector, r.kind);
            AvailabilityStatus::Scheduled
        } else {
            self.scheduled_availability.remove(&connector);
            self.site(SiteCommand::ChangeAvailability {
                connector,
                kind: r.kind,
            });
            AvailabilityStatus::Accepted
        };
        ChangeAvailabilityResponse { status }
    }

    fn remote_start(&mut self, r: RemoteStartTransaction) -> RemoteStartStopResponse {
        let rejected = RemoteStartStopResponse {
            status: RemoteStartStopStatus::Rejected,
        };
        let connector = match r.connector_id {
            None => None,
            Some(c) => match self.connector_exists(c) {
                Some(c) => Some(c),
                None => return rejected,
            },
        };
        if let Some(c) = connector {
            let unusable = matches!(
                self.status.get(&c).map(|s| s.status),
                Some(ChargePointStatus::Unavailable | ChargePointStatus::Faulted)
            );
            if self.txs.contains_key(&c) || unusable {
                return rejected;
            }
        }
        if let Some(p) = r.charging_profile {
            if p.charging_profile_purpose != ChargingProfilePurpose::TxProfile {
                return rejected;
            }
            self.remote_profile = Some((connector, p));
        }
        self.site(SiteCommand::RemoteStart {
            connector,
            id_tag: r.id_tag,
            authorize_first: self.config.flag("AuthorizeRemoteTxRequests"),
        });
        RemoteStartStopResponse {
            status: RemoteStartStopStatus::Accepted,
        }
    }

    fn set_profile(&mut self, r: SetChargingProfile, now: Moment) -> SetChargingProfileResponse {
        let p = &r.cs_charging_profiles;
        let too_many = self.profiles.profiles().len()
            >= self.config.int("MaxChargingProfilesInstalled") as usize
            && !self
                .profiles
                .profiles()
                .iter()
                .any(|old| old.id() == p.charging_profile_id);
        let over = i64::from(p.stack_level)
            > i64::from(self.config.int("ChargeProfileMaxStackLevel"))
            || p.charging_schedule.charging_schedule_period.len()
                > self.config.int("ChargingScheduleMaxPeriods") as usize;
        let status = match u32::try_from(r.connector_id) {
            Ok(c) if !too_many && !over => {
                let tx = self.active_txs().get(&c).copied();
                let at = self.clock(now.wall);
                let status = self
                    .profiles
                    .set_status(c, r.cs_charging_profiles, tx.as_ref(), at);
                if status == ChargingProfileStatus::Accepted {
                    self.limits_changed();
                }
                status
            }
            _ => ChargingProfileStatus::Rejected,
        };
        SetChargingProfileResponse { status }
    }

    fn composite(&self, r: GetCompositeSchedule, now: Moment) -> GetCompositeScheduleResponse {
        let rejected = GetCompositeScheduleResponse {
            status: GetCompositeScheduleStatus::Rejected,
            connector_id: None,
            schedule_start: None,
            charging_schedule: None,
        };
        let Ok(connector) = u32::try_from(r.connector_id) else {
            return rejected;
        };
        let unit = r.charging_rate_unit.unwrap_or(ChargingRateUnit::A);
        let start = self.clock(now.wall).with_nanosecond_zero();
        let txs = self.active_txs();
        match self
            .profiles
            .composite(connector, start, r.duration, unit, &txs, self.local_cap_a)
        {
            Some(schedule) => GetCompositeScheduleResponse {
                status: GetCompositeScheduleStatus::Accepted,
                connector_id: Some(r.connector_id),
                schedule_start: Some(Timestamp(start)),
                charging_schedule: Some(schedule),
            },
            None => rejected,
        }
    }

    fn trigger(&mut self, r: TriggerMessage, now: Moment) -> TriggerMessageResponse {
        let status = |s| TriggerMessageResponse { status: s };
        let connectors: Vec<u32> = match r.connector_id {
            None => self.status.keys().copied().collect(),
            Some(0) => vec![0],
            Some(c) => match self.connector_exists(c) {
                Some(c) => vec![c],
                None => return status(TriggerMessageStatus::Rejected),
            },
        };
        match r.requested_message {
            MessageTrigger::BootNotification => self.boot_due = Some(now.mono),
            MessageTrigger::Heartbeat => self.enqueue(Normal::Heartbeat),
            MessageTrigger::StatusNotification => {
                for c in connectors {
                    self.enqueue(Normal::Status(c));
                }
            }
            MessageTrigger::MeterValues => {
                let measurands = self.config.measurands("MeterValuesSampledData");
                for c in connectors {
                    let Some(reading) = self.readings.get(&c) else {
                        continue;
                    };
                    let at = self.clock(now.wall);
                    if let Some(mv) = meter_value(reading, &measurands, ReadingContext::Trigger, at)
                    {
                        let req = MeterValues {
                            connector_id: i32::try_from(c).unwrap_or(0),
                            transaction_id: self.txs.get(&c).and_then(|t| t.transaction_id),
                            meter_value: vec![mv],
                        };
                        self.enqueue(Normal::Meter(req));
                    }
                }
            }
            MessageTrigger::DiagnosticsStatusNotification
            | MessageTrigger::FirmwareStatusNotification => {
                return status(TriggerMessageStatus::NotImplemented);
            }
        }
        status(TriggerMessageStatus::Accepted)
    }
}

trait NanosZero {
    fn with_nanosecond_zero(self) -> Self;
}

impl NanosZero for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        chrono::Timelike::with_nanosecond(&self, 0).unwrap_or(self)
    }
}

fn to_json<T: Serialize>(v: T) -> Result<Value, CallFault> {
    serde_json::to_value(v).map_err(|e| CallFault::new(ErrorCode::InternalError, e.to_string()))
}
