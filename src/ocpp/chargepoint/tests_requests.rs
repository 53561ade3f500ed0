//! The CSMS's requests.

use super::tests::*;
use super::*;
use crate::ocpp::messages::*;
use serde_json::{Value, json};

#[test]
fn call_errors_for_bad_requests() {
    let mut cp = online();
    let code = |cp: &mut ChargePoint, text: &str| {
        let out = cp.on_text(text, t(1));
        let f = frames(&out);
        assert_eq!(f.len(), 1, "{text}");
        assert_eq!(f[0][0], 4);
        f[0][2].as_str().unwrap().to_string()
    };
    assert_eq!(code(&mut cp, "[2,\"a\",\"Reset\""), "FormationViolation");
    assert_eq!(code(&mut cp, r#"[2,"a","Teleport",{}]"#), "NotImplemented");
    assert_eq!(code(&mut cp, r#"[2,"a","ReserveNow",{}]"#), "NotSupported");
    assert_eq!(
        code(&mut cp, r#"[2,"a","Reset",{}]"#),
        "OccurenceConstraintViolation"
    );
    assert_eq!(
        code(&mut cp, r#"[2,"a","Reset",{"type":3}]"#),
        "TypeConstraintViolation"
    );
    assert_eq!(
        code(&mut cp, r#"[2,"a","Reset",{"type":"Now"}]"#),
        "PropertyConstraintViolation"
    );
    assert_eq!(code(&mut cp, r#"[2,"a","Reset"]"#), "ProtocolError");
    // and the session goes on
    let (answer, out) = call(&mut cp, "Reset", json!({"type": "Hard"}), t(2));
    assert_eq!(answer[2]["status"], "Accepted");
    assert_eq!(
        commands(&out),
        vec![SiteCommand::Reset {
            kind: ResetType::Hard
        }]
    );
}

#[test]
fn csms_requests() {
    let mut cp = online();
    let (a, _) = call(&mut cp, "DataTransfer", json!({"vendorId": "x"}), t(1));
    assert_eq!(a[2]["status"], "UnknownVendorId");
    let (a, out) = call(
        &mut cp,
        "ChangeConfiguration",
        json!({"key": "WebSocketPingInterval", "value": "30"}),
        t(1),
    );
    assert_eq!(a[2]["status"], "Accepted");
    assert!(out.contains(&Output::PingInterval(30)));
    let (a, _) = call(
        &mut cp,
        "ChangeConfiguration",
        json!({"key": "NumberOfConnectors", "value": "3"}),
        t(1),
    );
    assert_eq!(a[2]["status"], "Rejected");
    let (a, _) = call(
        &mut cp,
        "GetConfiguration",
        json!({"key": ["WebSocketPingInterval", "Nope"]}),
        t(1),
    );
    assert_eq!(a[2]["configurationKey"][0]["value"], "30");
    assert_eq!(a[2]["unknownKey"], json!(["Nope"]));
    // more keys than GetConfigurationMaxKeys is refused, as many is answered
    let max = cp.config().int("GetConfigurationMaxKeys") as usize;
    let keys = |n: usize| json!({"key": vec!["HeartbeatInterval"; n]});
    let (a, _) = call(&mut cp, "GetConfiguration", keys(max), t(1));
    assert_eq!(a[0], 3);
    let (a, _) = call(&mut cp, "GetConfiguration", keys(max + 1), t(1));
    assert_eq!(
        (a[0].clone(), a[2].clone()),
        (json!(4), json!("OccurenceConstraintViolation"))
    );
    let (a, out) = call(&mut cp, "ClearCache", json!({}), t(1));
    assert_eq!(
        (a[2]["status"].clone(), commands(&out)),
        (json!("Accepted"), vec![SiteCommand::ClearCache])
    );
    // unlock is answered when the site reports
    let out = cp.on_text(r#"[2,"u1","UnlockConnector",{"connectorId":1}]"#, t(2));
    assert_eq!(commands(&out), vec![SiteCommand::Unlock { connector: 1 }]);
    assert!(frames(&out).is_empty());
    let out = cp.on_site(
        SiteEvent::UnlockResult {
            connector: 1,
            unlocked: true,
        },
        t(3),
    );
    assert_eq!(frames(&out), vec![json!([3, "u1", {"status": "Unlocked"}])]);
    let (a, _) = call(&mut cp, "UnlockConnector", json!({"connectorId": 2}), t(3));
    assert_eq!(a[2]["status"], "NotSupported");
    let (a, out) = call(
        &mut cp,
        "TriggerMessage",
        json!({"requestedMessage": "StatusNotification", "connectorId": 2}),
        t(4),
    );
    assert_eq!(a[2]["status"], "Accepted");
    // the triggered message goes out right after the answer
    assert_eq!(
        out.iter()
            .position(|o| matches!(o, Output::Send(s) if s.starts_with("[3"))),
        Some(0)
    );
    let (id, action, p) = the_call(&out);
    assert_eq!(
        (action.as_str(), p["connectorId"].clone()),
        ("StatusNotification", json!(2))
    );
    let (_, out) = call(
        &mut cp,
        "TriggerMessage",
        json!({"requestedMessage": "Heartbeat"}),
        t(4),
    );
    assert!(frames(&out).iter().all(|f| f[0] != 2), "one CALL at a time");
    assert_eq!(
        the_call(&reply(&mut cp, &id, json!({}), t(5))).1,
        "Heartbeat"
    );
    let (a, _) = call(
        &mut cp,
        "TriggerMessage",
        json!({"requestedMessage": "FirmwareStatusNotification"}),
        t(4),
    );
    assert_eq!(a[2]["status"], "NotImplemented");
}

#[test]
fn availability_is_scheduled_behind_a_transaction() {
    let mut cp = online();
    let (id, _, _) = the_call(&start_tx(&mut cp, 1, 1, t(1)));
    reply(
        &mut cp,
        &id,
        json!({"transactionId": 8, "idTagInfo": {"status": "Accepted"}}),
        t(2),
    );
    let (a, out) = call(
        &mut cp,
        "ChangeAvailability",
        json!({"connectorId": 1, "type": "Inoperative"}),
        t(3),
    );
    assert_eq!(a[2]["status"], "Scheduled");
    assert!(commands(&out).is_empty());
    let (a, out) = call(
        &mut cp,
        "ChangeAvailability",
        json!({"connectorId": 2, "type": "Inoperative"}),
        t(3),
    );
    assert_eq!(a[2]["status"], "Accepted");
    assert_eq!(
        commands(&out),
        vec![SiteCommand::ChangeAvailability {
            connector: 2,
            kind: AvailabilityType::Inoperative
        }]
    );
    let (a, _) = call(
        &mut cp,
        "ChangeAvailability",
        json!({"connectorId": 5, "type": "Operative"}),
        t(3),
    );
    assert_eq!(a[2]["status"], "Rejected");
    let out = cp.on_site(
        SiteEvent::TransactionStopped {
            local: 1,
            meter_stop_wh: 5.0,
            at: wall(4),
            reason: Reason::Local,
            id_tag: None,
        },
        t(4),
    );
    assert!(commands(&out).contains(&SiteCommand::ChangeAvailability {
        connector: 1,
        kind: AvailabilityType::Inoperative
    }));
}

#[test]
fn profiles_reach_the_load_balancer() {
    let mut cp = online();
    let profile = json!({
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-02-01T07:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20.0}]}
    });
    let (a, out) = call(
        &mut cp,
        "SetChargingProfile",
        json!({"connectorId": 0, "csChargingProfiles": profile}),
        t(1),
    );
    assert_eq!(a[2]["status"], "Accepted");
    let Some(SiteCommand::LimitsChanged(limits)) = commands(&out).pop() else {
        panic!("no limits")
    };
    assert_eq!(limits.limits_at(wall(2)).site_cap_a, Some(20.0));
    let mut tx = profile.clone();
    tx["chargingProfilePurpose"] = json!("TxProfile");
    let (a, _) = call(
        &mut cp,
        "SetChargingProfile",
        json!({"connectorId": 1, "csChargingProfiles": tx}),
        t(1),
    );
    assert_eq!(a[2]["status"], "Rejected");
    let (a, _) = call(
        &mut cp,
        "GetCompositeSchedule",
        json!({"connectorId": 1, "duration": 600}),
        t(1),
    );
    assert_eq!(a[2]["status"], "Accepted");
    assert_eq!(
        a[2]["chargingSchedule"]["chargingSchedulePeriod"],
        json!([{"startPeriod": 0, "limit": 20.0}])
    );
    let (a, out) = call(&mut cp, "ClearChargingProfile", json!({"id": 1}), t(1));
    assert_eq!(a[2]["status"], "Accepted");
    let Some(SiteCommand::LimitsChanged(limits)) = commands(&out).pop() else {
        panic!("no limits")
    };
    assert_eq!(limits.limits_at(wall(2)).site_cap_a, None);
}

#[test]
fn remote_start_with_a_profile() {
    let mut cp = online();
    let profile = json!({
        "chargingProfileId": 4, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}
    });
    let (a, out) = call(
        &mut cp,
        "RemoteStartTransaction",
        json!({"connectorId": 1, "idTag": "RFID1", "chargingProfile": profile}),
        t(1),
    );
    assert_eq!(a[2]["status"], "Accepted");
    assert!(matches!(
        &commands(&out)[..],
        [SiteCommand::RemoteStart {
            connector: Some(1),
            authorize_first: false,
            ..
        }]
    ));
    let out = start_tx(&mut cp, 11, 1, t(2));
    let Some(SiteCommand::LimitsChanged(limits)) = commands(&out).pop() else {
        panic!("no limits")
    };
    assert_eq!(limits.limits_at(wall(3)).connectors.get(&1), Some(&10.0));
    let (a, _) = call(
        &mut cp,
        "RemoteStartTransaction",
        json!({"connectorId": 9, "idTag": "RFID1"}),
        t(1),
    );
    assert_eq!(a[2]["status"], "Rejected");
}

#[test]
fn unanswered_authorize_times_out() {
    let mut cp = online();
    let out = cp.on_site(
        SiteEvent::IdPresented {
            connector: None,
            id_tag: CiString20::new("x").unwrap(),
        },
        t(1),
    );
    assert_eq!(the_call(&out).1, "Authorize");
    assert!(commands(&cp.on_tick(t(30))).is_empty());
    let out = cp.on_tick(t(31));
    assert!(matches!(
        &commands(&out)[..],
        [SiteCommand::AuthorizeResult { info: None, .. }]
    ));
}

#[test]
fn clock_aligned_samples_are_stamped_with_the_boundary() {
    let mut cp = online();
    let (a, _) = call(
        &mut cp,
        "ChangeConfiguration",
        json!({"key": "ClockAlignedDataInterval", "value": "900"}),
        t(1),
    );
    assert_eq!(a[2]["status"], "Accepted");
    call(
        &mut cp,
        "ChangeConfiguration",
        json!({"key": "HeartbeatInterval", "value": "0"}),
        t(1),
    );
    cp.on_site(reading(5000.0), t(2));
    assert!(frames(&cp.on_tick(t(3))).is_empty());
    // t(0) is 08:00:00, the next boundary 08:15:00 = t(900)
    assert!(frames(&cp.on_tick(t(899))).is_empty());
    let (_, action, p) = the_call(&cp.on_tick(t(901)));
    assert_eq!(action, "MeterValues");
    assert_eq!(p["meterValue"][0]["timestamp"], "2026-02-01T08:15:00.000Z");
    assert_eq!(
        p["meterValue"][0]["sampledValue"][0]["context"],
        "Sample.Clock"
    );
    assert!(p.get("transactionId").is_none());
}

#[test]
fn triggered_meter_values_carry_the_transaction() {
    let mut cp = online();
    cp.on_site(reading(100.0), t(1));
    let (id, _, _) = the_call(&start_tx(&mut cp, 2, 1, t(1)));
    reply(
        &mut cp,
        &id,
        json!({"transactionId": 31, "idTagInfo": {"status": "Accepted"}}),
        t(2),
    );
    let (a, out) = call(
        &mut cp,
        "TriggerMessage",
        json!({"requestedMessage": "MeterValues", "connectorId": 1}),
        t(3),
    );
    assert_eq!(a[2]["status"], "Accepted");
    let (_, action, p) = the_call(&out);
    assert_eq!(
        (action.as_str(), p["transactionId"].clone()),
        ("MeterValues", json!(31))
    );
    assert_eq!(p["meterValue"][0]["sampledValue"][0]["context"], "Trigger");
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-zA-Z0-9.:-]{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("Soft"),
                Just("Accepted"),
                Just("TxProfile"),
                Just("A"),
                Just("2026-01-01T00:00:00Z")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("connectorId".to_string()),
                        Just("type".to_string()),
                        Just("key".to_string()),
                        Just("value".to_string()),
                        Just("idTag".to_string()),
                        Just("transactionId".to_string()),
                        Just("csChargingProfiles".to_string()),
                        Just("duration".to_string()),
                        Just("requestedMessage".to_string()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..4,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever the CSMS sends, a CALL gets exactly one answer with its id, and the session
        /// goes on.
        #[test]
        fn every_call_gets_one_answer(
            action in prop_oneof![
                proptest::sample::select(crate::ocpp::messages::KNOWN_ACTIONS.to_vec()).prop_map(String::from),
                "[A-Za-z]{1,12}",
            ],
            payload in json_value(),
        ) {
            let mut cp = online();
            let out = cp.on_text(&json!([2, "p1", action, payload]).to_string(), t(1));
            let answers: Vec<Value> = frames(&out).into_iter().filter(|f| f[0] != 2).collect();
            let deferred = commands(&out).iter().any(|c| matches!(c, SiteCommand::Unlock { .. }));
            if deferred {
                prop_assert!(answers.is_empty());
            } else {
                prop_assert_eq!(answers.len(), 1, "{:?}", out);
                prop_assert_eq!(&answers[0][1], "p1");
            }
            let (a, _) = call(&mut cp, "GetConfiguration", json!({"key": ["HeartbeatInterval"]}), t(2));
            prop_assert_eq!(a[0].as_u64(), Some(3));
        }

        #[test]
        fn arbitrary_text_never_breaks_the_session(text in ".{0,80}") {
            let mut cp = online();
            let _ = cp.on_text(&text, t(1));
            let (a, _) = call(&mut cp, "GetConfiguration", json!({}), t(2));
            prop_assert_eq!(a[0].as_u64(), Some(3));
        }
    }
}
