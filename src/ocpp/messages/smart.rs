//! OCPP 1.6 Smart Charging, Remote Trigger and Local Auth List Management payloads.

use super::core::{IdTagInfo, payload};
use super::enums::*;
use super::types::*;
use serde::{Deserialize, Serialize};

/// One step of a charging schedule: from `start_period` seconds on, at most `limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingSchedulePeriod {
    pub start_period: i32,
    /// In the schedule's rate unit (A per phase or W), a multiple of 0.1.
    pub limit: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_phases: Option<i32>,
}

/// A list of periods with their unit and time base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingSchedule {
    /// Seconds; absent = the last period lasts indefinitely.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_schedule: Option<Timestamp>,
    pub charging_rate_unit: ChargingRateUnit,
    pub charging_schedule_period: Vec<ChargingSchedulePeriod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_charging_rate: Option<f64>,
}

/// A charging profile as sent by the CSMS (`csChargingProfiles` in SetChargingProfile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingProfile {
    pub charging_profile_id: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<i32>,
    pub stack_level: i32,
    pub charging_profile_purpose: ChargingProfilePurpose,
    pub charging_profile_kind: ChargingProfileKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrency_kind: Option<RecurrencyKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
    pub charging_schedule: ChargingSchedule,
}

payload!(SetChargingProfile {
    connector_id: i32,
    cs_charging_profiles: ChargingProfile
});
/// SetChargingProfile.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetChargingProfileResponse {
    pub status: ChargingProfileStatus,
}

payload!(ClearChargingProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    charging_profile_purpose: Option<ChargingProfilePurpose>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack_level: Option<i32>,
});
/// ClearChargingProfile.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearChargingProfileResponse {
    pub status: ClearChargingProfileStatus,
}

payload!(GetCompositeSchedule {
    connector_id: i32,
    duration: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    charging_rate_unit: Option<ChargingRateUnit>,
});
payload!(GetCompositeScheduleResponse {
    status: GetCompositeScheduleStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_start: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    charging_schedule: Option<ChargingSchedule>,
});

payload!(TriggerMessage {
    requested_message: MessageTrigger,
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i32>,
});
/// TriggerMessage.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerMessageResponse {
    pub status: TriggerMessageStatus,
}

/// One entry of a local authorization list update; no `id_tag_info` removes the entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationData {
    pub id_tag: CiString20,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfo>,
}

payload!(SendLocalList {
    list_version: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_authorization_list: Option<Vec<AuthorizationData>>,
    update_type: UpdateType,
});
/// SendLocalList.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendLocalListResponse {
    pub status: UpdateStatus,
}
payload!(GetLocalListVersion {});
payload!(GetLocalListVersionResponse { list_version: i32 });
