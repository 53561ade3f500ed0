//! Malformed frames from the CSMS get the right OCPP-J CALLERROR and do not stall the session.

mod ocpp_support;

use ocpp_support::*;
use serde_json::json;

#[tokio::test]
async fn malformed_frames_get_the_right_callerror() {
    let mut csms = Csms::start(&[]).await;
    let s = session(link(csms.port, "ws"), &[]);
    all_available(&s).await;
    booted(&mut csms).await;

    let long_key = "K".repeat(51);
    // GetConfigurationMaxKeys is 50
    let cases: Vec<(String, &str, &str)> = vec![
        ("{this is not json".into(), "-1", "FormationViolation"),
        (r#"{"an": "object"}"#.into(), "-1", "FormationViolation"),
        (r#"[2, "f1", "Reset"]"#.into(), "f1", "ProtocolError"),
        (r#"[2, "f2", "Reset", "Soft"]"#.into(), "f2", "FormationViolation"),
        (r#"[7, "f3", "Reset", {}]"#.into(), "f3", "FormationViolation"),
        (r#"[2, "f4", "Teleport", {}]"#.into(), "f4", "NotImplemented"),
        (r#"[2, "f5", "ReserveNow", {"connectorId": 1}]"#.into(), "f5", "NotSupported"),
        (r#"[2, "f6", "Reset", {}]"#.into(), "f6", "OccurenceConstraintViolation"),
        (r#"[2, "f7", "Reset", {"type": 1}]"#.into(), "f7", "TypeConstraintViolation"),
        (r#"[2, "f8", "UnlockConnector", {"connectorId": "one"}]"#.into(), "f8", "TypeConstraintViolation"),
        (r#"[2, "f9", "Reset", {"type": "Sometime"}]"#.into(), "f9", "PropertyConstraintViolation"),
        (json!([2, "f10", "ChangeConfiguration", {"key": long_key, "value": "1"}]).to_string(), "f10", "PropertyConstraintViolation"),
        (r#"[2, "f11", "Reset", {"type": "Soft", "when": "now"}]"#.into(), "f11", "FormationViolation"),
        (r#"[2, "f12", "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": {"chargingProfileId": 1}}]"#.into(), "f12", "OccurenceConstraintViolation"),
        (r#"[2, "f13", "TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 1.5}]"#.into(), "f13", "TypeConstraintViolation"),
        (json!([2, "f14", "GetConfiguration", {"key": vec!["HeartbeatInterval"; 51]}]).to_string(), "f14", "OccurenceConstraintViolation"),
    ];
    for (frame, id, code) in cases {
        let reply = csms.raw(&frame).await;
        assert_eq!(reply[0], 4, "{frame} -> {reply}");
        assert_eq!(
            (reply[1].as_str(), reply[2].as_str()),
            (Some(id), Some(code)),
            "{frame} -> {reply}"
        );
        assert!(reply[4].is_object());
    }
    // the session goes on
    let r = csms
        .call_ok("GetConfiguration", json!({"key": ["HeartbeatInterval"]}))
        .await;
    assert_eq!(r["configurationKey"][0]["key"], "HeartbeatInterval");
    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}
