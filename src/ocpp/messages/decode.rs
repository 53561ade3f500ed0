//! Turning an incoming CALL's payload into a typed request, or into the CALLERROR it deserves.

use super::types::PROPERTY_CONSTRAINT;
use super::*;
use crate::ocpp::rpc::{CallFault, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A request the CSMS may send to a charge point and hubgate handles.
#[derive(Debug, Clone, PartialEq)]
pub enum CsmsRequest {
    ChangeAvailability(ChangeAvailability),
    ChangeConfiguration(ChangeConfiguration),
    ClearCache(ClearCache),
    ClearChargingProfile(ClearChargingProfile),
    DataTransfer(DataTransfer),
    GetCompositeSchedule(GetCompositeSchedule),
    GetConfiguration(GetConfiguration),
    GetLocalListVersion(GetLocalListVersion),
    RemoteStartTransaction(RemoteStartTransaction),
    RemoteStopTransaction(RemoteStopTransaction),
    Reset(Reset),
    SendLocalList(SendLocalList),
    SetChargingProfile(SetChargingProfile),
    TriggerMessage(TriggerMessage),
    UnlockConnector(UnlockConnector),
}

/// Every action of OCPP 1.6 (with the security extension); those not listed in
/// [`CsmsRequest`] are known but not supported by hubgate as a receiver.
pub const KNOWN_ACTIONS: &[&str] = &[
    "Authorize",
    "BootNotification",
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "DeleteCertificate",
    "DiagnosticsStatusNotification",
    "ExtendedTriggerMessage",
    "FirmwareStatusNotification",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "Heartbeat",
    "InstallCertificate",
    "LogStatusNotification",
    "MeterValues",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SecurityEventNotification",
    "SendLocalList",
    "SetChargingProfile",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "SignedUpdateFirmware",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
];

/// Decode the CALL `action` with `payload`, or say which CALLERROR answers it.
pub fn decode_request(action: &str, payload: &Value) -> Result<CsmsRequest, CallFault> {
    use CsmsRequest as R;
    Ok(match action {
        "ChangeAvailability" => R::ChangeAvailability(decode_payload(payload)?),
        "ChangeConfiguration" => R::ChangeConfiguration(decode_payload(payload)?),
        "ClearCache" => R::ClearCache(decode_payload(payload)?),
        "ClearChargingProfile" => R::ClearChargingProfile(decode_payload(payload)?),
        "DataTransfer" => R::DataTransfer(decode_payload(payload)?),
        "GetCompositeSchedule" => R::GetCompositeSchedule(decode_payload(payload)?),
        "GetConfiguration" => R::GetConfiguration(decode_payload(payload)?),
        "GetLocalListVersion" => R::GetLocalListVersion(decode_payload(payload)?),
        "RemoteStartTransaction" => R::RemoteStartTransaction(decode_payload(payload)?),
        "RemoteStopTransaction" => R::RemoteStopTransaction(decode_payload(payload)?),
        "Reset" => R::Reset(decode_payload(payload)?),
        "SendLocalList" => R::SendLocalList(decode_payload(payload)?),
        "SetChargingProfile" => R::SetChargingProfile(decode_payload(payload)?),
        "TriggerMessage" => R::TriggerMessage(decode_payload(payload)?),
        "UnlockConnector" => R::UnlockConnector(decode_payload(payload)?),
        known if KNOWN_ACTIONS.contains(&known) => {
            return Err(CallFault::new(
                ErrorCode::NotSupported,
                format!("{known} is not supported by this charge point"),
            ));
        }
        other => {
            return Err(CallFault::new(
                ErrorCode::NotImplemented,
                format!(
                    "unknown action `{}`",
                    other.chars().take(60).collect::<String>()
                ),
            ));
        }
    })
}

/// Deserialize a payload; a failure is classified into the OCPP-J error code:
/// a missing required field is an occurrence violation, a JSON value of the wrong type a type
/// violation, a value outside its enum, bounds or format a property violation, and a property
/// the schema does not define (or a payload that is no object) a formation violation.
pub fn decode_payload<T: DeserializeOwned>(payload: &Value) -> Result<T, CallFault> {
    if !payload.is_object() {
        return Err(CallFault::new(
            ErrorCode::FormationViolation,
            "the payload must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize::<_, T>(payload).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let code = classify(&message);
        let message = message
            .strip_prefix(PROPERTY_CONSTRAINT)
            .unwrap_or(&message);
        let description = if path == "." {
            message.to_string()
        } else {
            format!("{path}: {message}")
        };
        CallFault::new(code, description)
    })
}

fn classify(message: &str) -> ErrorCode {
    if message.starts_with("missing field") {
        ErrorCode::OccurrenceConstraintViolation
    } else if message.starts_with("invalid type") {
        ErrorCode::TypeConstraintViolation
    } else if message.starts_with("unknown variant")
        || message.starts_with("invalid value")
        || message.starts_with(PROPERTY_CONSTRAINT)
    {
        ErrorCode::PropertyConstraintViolation
    } else {
        ErrorCode::FormationViolation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(action: &str, payload: Value) -> ErrorCode {
        decode_request(action, &payload).unwrap_err().code
    }

    #[test]
    fn valid_requests_decode() {
        let r = decode_request("Reset", &json!({"type": "Soft"})).unwrap();
        assert_eq!(
            r,
            CsmsRequest::Reset(Reset {
                kind: ResetType::Soft
            })
        );
        let r = decode_request("GetConfiguration", &json!({})).unwrap();
        assert_eq!(
            r,
            CsmsRequest::GetConfiguration(GetConfiguration { key: None })
        );
    }

    #[test]
    fn every_fault_has_its_code() {
        use ErrorCode::*;
        assert_eq!(code("FlyToTheMoon", json!({})), NotImplemented);
        assert_eq!(code("ReserveNow", json!({})), NotSupported);
        assert_eq!(code("Heartbeat", json!({})), NotSupported);
        assert_eq!(code("Reset", json!({})), OccurrenceConstraintViolation);
        assert_eq!(code("Reset", json!({"type": 1})), TypeConstraintViolation);
        assert_eq!(
            code("Reset", json!({"type": "Gentle"})),
            PropertyConstraintViolation
        );
        assert_eq!(
            code("Reset", json!({"type": "Soft", "x": 1})),
            FormationViolation
        );
        assert_eq!(code("Reset", json!([1])), FormationViolation);
        let long = "k".repeat(51);
        assert_eq!(
            code("ChangeConfiguration", json!({"key": long, "value": "1"})),
            PropertyConstraintViolation
        );
        assert_eq!(
            code("UnlockConnector", json!({"connectorId": "1"})),
            TypeConstraintViolation
        );
        assert_eq!(
            code("UnlockConnector", json!({"connectorId": 1.5})),
            TypeConstraintViolation
        );
        assert_eq!(
            code("UnlockConnector", json!({"connectorId": 1u64 << 40})),
            PropertyConstraintViolation
        );
        assert_eq!(
            code("RemoteStartTransaction", json!({"idTag": null})),
            TypeConstraintViolation
        );
    }

    #[test]
    fn nested_faults_name_the_path() {
        let p = json!({
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 1, "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Absolute",
                "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                    {"startPeriod": 0}
                ]}
            }
        });
        let f = decode_request("SetChargingProfile", &p).unwrap_err();
        assert_eq!(f.code, ErrorCode::OccurrenceConstraintViolation);
        assert!(
            f.description.contains("chargingSchedulePeriod[0]"),
            "{}",
            f.description
        );
        let mut bad_time = p.clone();
        bad_time["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] =
            json!(16);
        bad_time["csChargingProfiles"]["validFrom"] = json!("yesterday");
        let f = decode_request("SetChargingProfile", &bad_time).unwrap_err();
        assert_eq!(f.code, ErrorCode::PropertyConstraintViolation);
        assert!(!f.description.contains(PROPERTY_CONSTRAINT));
    }
}
