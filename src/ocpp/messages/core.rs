//! OCPP 1.6 Core profile payloads (requests and their `.conf` answers).
//!
//! Field names, optionality and string bounds follow the official 1.6 JSON schemas; every
//! struct refuses properties the schema does not define.

use super::enums::*;
use super::smart::ChargingProfile;
use super::types::*;
use serde::{Deserialize, Serialize};

macro_rules! payload {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }
    };
}
pub(crate) use payload;

payload!(Authorize { id_tag: CiString20 });
payload!(AuthorizeResponse {
    id_tag_info: IdTagInfo
});

payload!(
    /// What the CSMS knows of an idTag.
    IdTagInfo {
        #[serde(skip_serializing_if = "Option::is_none")]
        expiry_date: Option<Timestamp>,
        #[serde(skip_serializing_if = "Option::is_none")]
        parent_id_tag: Option<CiString20>,
        status: AuthorizationStatus,
    }
);

payload!(BootNotification {
    charge_point_vendor: CiString20,
    charge_point_model: CiString20,
    #[serde(skip_serializing_if = "Option::is_none")]
    charge_point_serial_number: Option<CiString25>,
    #[serde(skip_serializing_if = "Option::is_none")]
    charge_box_serial_number: Option<CiString25>,
    #[serde(skip_serializing_if = "Option::is_none")]
    firmware_version: Option<CiString50>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iccid: Option<CiString20>,
    #[serde(skip_serializing_if = "Option::is_none")]
    imsi: Option<CiString20>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meter_type: Option<CiString25>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meter_serial_number: Option<CiString25>,
});

impl BootNotification {
    /// A boot notification naming only the vendor and the model; the optional facts are left
    /// out, to be filled in with struct update syntax where known.
    pub fn new(vendor: CiString20, model: CiString20) -> Self {
        BootNotification {
            charge_point_vendor: vendor,
            charge_point_model: model,
            charge_point_serial_number: None,
            charge_box_serial_number: None,
            firmware_version: None,
            iccid: None,
            imsi: None,
            meter_type: None,
            meter_serial_number: None,
        }
    }
}

/// BootNotification.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootNotificationResponse {
    pub status: RegistrationStatus,
    pub current_time: Timestamp,
    /// Heartbeat interval (Accepted) or retry interval (Pending/Rejected), seconds.
    pub interval: i32,
}

payload!(Heartbeat {});

/// Heartbeat.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeartbeatResponse {
    pub current_time: Timestamp,
}

payload!(StatusNotification {
    connector_id: i32,
    error_code: ChargePointErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<CiString50>,
    status: ChargePointStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor_id: Option<CiString255>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor_error_code: Option<CiString50>,
});
payload!(StatusNotificationResponse {});

/// One measured value; `value` is a string on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SampledValue {
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<ReadingContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurand: Option<Measurand>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<PhaseLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitOfMeasure>,
}

/// Values sampled at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterValue {
    pub timestamp: Timestamp,
    pub sampled_value: Vec<SampledValue>,
}

payload!(MeterValues {
    connector_id: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_id: Option<i32>,
    meter_value: Vec<MeterValue>,
});
payload!(MeterValuesResponse {});

/// StartTransaction.req: `meter_start` in integer Wh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartTransaction {
    pub connector_id: i32,
    pub id_tag: CiString20,
    pub meter_start: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<i32>,
    pub timestamp: Timestamp,
}
payload!(StartTransactionResponse {
    id_tag_info: IdTagInfo,
    transaction_id: i32
});

/// StopTransaction.req: `meter_stop` in integer Wh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopTransaction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_tag: Option<CiString20>,
    pub meter_stop: i32,
    pub timestamp: Timestamp,
    pub transaction_id: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_data: Option<Vec<MeterValue>>,
}
payload!(StopTransactionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    id_tag_info: Option<IdTagInfo>,
});

payload!(DataTransfer {
    vendor_id: CiString255,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<CiString50>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<String>,
});
/// DataTransfer.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataTransferResponse {
    pub status: DataTransferStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// ChangeAvailability.req (`type` on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeAvailability {
    pub connector_id: i32,
    #[serde(rename = "type")]
    pub kind: AvailabilityType,
}
/// ChangeAvailability.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeAvailabilityResponse {
    pub status: AvailabilityStatus,
}

payload!(ChangeConfiguration {
    key: CiString50,
    value: CiString500
});
/// ChangeConfiguration.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeConfigurationResponse {
    pub status: ConfigurationStatus,
}

payload!(GetConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<Vec<CiString50>>,
});
/// One entry of GetConfiguration.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyValue {
    pub key: CiString50,
    pub readonly: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<CiString500>,
}
payload!(GetConfigurationResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    configuration_key: Option<Vec<KeyValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown_key: Option<Vec<CiString50>>,
});

payload!(ClearCache {});
/// ClearCache.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearCacheResponse {
    pub status: ClearCacheStatus,
}

payload!(RemoteStartTransaction {
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i32>,
    id_tag: CiString20,
    #[serde(skip_serializing_if = "Option::is_none")]
    charging_profile: Option<ChargingProfile>,
});
payload!(RemoteStopTransaction {
    transaction_id: i32
});
/// RemoteStartTransaction.conf and RemoteStopTransaction.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteStartStopResponse {
    pub status: RemoteStartStopStatus,
}

/// Reset.req (`type` on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reset {
    #[serde(rename = "type")]
    pub kind: ResetType,
}
/// Reset.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetResponse {
    pub status: ResetStatus,
}

payload!(UnlockConnector { connector_id: i32 });
/// UnlockConnector.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockConnectorResponse {
    pub status: UnlockStatus,
}
