use super::*;
use crate::ocpp::messages::*;
use chrono::TimeZone;
use serde_json::{Value, json};

/// `s` seconds into the test on both clocks (the wall clock at 2026-02-01 08:00:00Z + s).
pub(super) fn t(s: i64) -> Moment {
    Moment {
        mono: Mono::from_origin(std::time::Duration::from_secs(
            u64::try_from(1000 + s).unwrap_or(0),
        )),
        wall: wall(s),
    }
}

/// The wall clock `s` seconds into the test.
pub(super) fn wall(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 8, 0, 0).unwrap() + TimeDelta::seconds(s)
}

pub(super) fn cp() -> ChargePoint {
    super::testkit::lab(t(0)).unwrap()
}

/// Frames sent, as JSON arrays.
pub(super) fn frames(out: &[Output]) -> Vec<Value> {
    super::testkit::sent_frames(out)
}

pub(super) fn commands(out: &[Output]) -> Vec<SiteCommand> {
    out.iter()
        .filter_map(|o| match o {
            Output::Site(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

/// The single CALL in `out`: (id, action, payload).
pub(super) fn the_call(out: &[Output]) -> (String, String, Value) {
    let calls: Vec<Value> = frames(out).into_iter().filter(|f| f[0] == 2).collect();
    assert_eq!(calls.len(), 1, "expected one CALL in {out:?}");
    let f = &calls[0];
    (
        f[1].as_str().unwrap().into(),
        f[2].as_str().unwrap().into(),
        f[3].clone(),
    )
}

pub(super) fn reply(cp: &mut ChargePoint, id: &str, payload: Value, now: Moment) -> Vec<Output> {
    cp.on_text(&json!([3, id, payload]).to_string(), now)
}

pub(super) fn status(
    cp: &mut ChargePoint,
    connector: u32,
    s: ChargePointStatus,
    now: Moment,
) -> Vec<Output> {
    cp.on_site(
        SiteEvent::ConnectorStatus {
            connector,
            status: s,
            error_code: ChargePointErrorCode::NoError,
            info: None,
            vendor_error_code: None,
        },
        now,
    )
}

/// Connect, boot accepted, acknowledge the three boot statuses.
pub(super) fn online() -> ChargePoint {
    super::testkit::online(t(0)).unwrap()
}

pub(super) fn call(
    cp: &mut ChargePoint,
    action: &str,
    payload: Value,
    now: Moment,
) -> (Value, Vec<Output>) {
    let out = cp.on_text(&json!([2, "c1", action, payload]).to_string(), now);
    let answer = frames(&out)
        .into_iter()
        .find(|f| f[1] == "c1")
        .expect("an answer");
    (answer, out)
}

#[test]
fn nothing_but_boot_until_accepted() {
    let mut cp = cp();
    let out = cp.on_connected(t(0));
    let (id, action, payload) = the_call(&out);
    assert_eq!(action, "BootNotification");
    assert_eq!(payload["chargePointVendor"], "hubgate");
    assert!(frames(&status(&mut cp, 1, ChargePointStatus::Available, t(1))).is_empty());
    let out = cp.on_site(
        SiteEvent::IdPresented {
            connector: Some(1),
            id_tag: CiString20::new("tag").unwrap(),
        },
        t(1),
    );
    assert!(matches!(
        &commands(&out)[..],
        [SiteCommand::AuthorizeResult { info: None, .. }]
    ));
    let out = reply(
        &mut cp,
        &id,
        json!({"status": "Pending", "currentTime": "2026-02-01T09:00:00Z", "interval": 10}),
        t(2),
    );
    assert!(frames(&out).is_empty());
    assert_eq!(cp.registration(), Registration::Pending);
    // the CSMS may talk to us while Pending
    let (answer, _) = call(
        &mut cp,
        "GetConfiguration",
        json!({"key": ["HeartbeatInterval"]}),
        t(3),
    );
    assert_eq!(answer[0], 3);
    assert!(frames(&cp.on_tick(t(11))).is_empty());
    let (id, action, _) = the_call(&cp.on_tick(t(12)));
    assert_eq!(action, "BootNotification");
    let out = reply(
        &mut cp,
        &id,
        json!({"status": "Accepted", "currentTime": "2026-02-01T09:00:00Z", "interval": 120}),
        t(13),
    );
    let (_, action, p) = the_call(&out);
    assert_eq!(action, "StatusNotification");
    // clock synchronised to the CSMS's time
    assert_eq!(p["timestamp"], "2026-02-01T09:00:00.000Z");
    assert_eq!(cp.config().int("HeartbeatInterval"), 120);
}

#[test]
fn rejected_boot_stays_silent_until_the_interval() {
    let mut cp = cp();
    let (id, _, _) = the_call(&cp.on_connected(t(0)));
    reply(
        &mut cp,
        &id,
        json!({"status": "Rejected", "currentTime": "2026-02-01T08:00:00Z", "interval": 60}),
        t(0),
    );
    let out = cp.on_text(r#"[2,"x","Reset",{"type":"Soft"}]"#, t(1));
    assert!(out.is_empty());
    assert!(frames(&cp.on_tick(t(59))).is_empty());
    assert_eq!(the_call(&cp.on_tick(t(60))).1, "BootNotification");
}

#[test]
fn heartbeat_at_the_interval() {
    let mut cp = online();
    assert!(frames(&cp.on_tick(t(299))).is_empty());
    let (id, action, _) = the_call(&cp.on_tick(t(300)));
    assert_eq!(action, "Heartbeat");
    reply(
        &mut cp,
        &id,
        json!({"currentTime": "2026-02-01T08:10:00Z"}),
        t(301),
    );
    assert!(frames(&cp.on_tick(t(599))).is_empty());
}

pub(super) fn start_tx(
    cp: &mut ChargePoint,
    local: u64,
    connector: u32,
    now: Moment,
) -> Vec<Output> {
    cp.on_site(
        SiteEvent::TransactionStarted {
            local,
            connector,
            id_tag: CiString20::new("AbC").unwrap(),
            meter_start_wh: 1000.4,
            at: now.wall,
            reservation_id: None,
        },
        now,
    )
}

pub(super) fn reading(wh: f64) -> SiteEvent {
    SiteEvent::Meter {
        connector: 1,
        reading: crate::ocpp::metering::MeterReading {
            energy_wh: wh,
            ..Default::default()
        },
    }
}

#[test]
fn reconnect_sends_only_changed_statuses() {
    let mut cp = online();
    cp.on_disconnected(t(5));
    status(&mut cp, 2, ChargePointStatus::Faulted, t(6));
    let out = cp.on_connected(t(7));
    let (_, action, p) = the_call(&out);
    assert_eq!(
        (
            action.as_str(),
            p["connectorId"].clone(),
            p["status"].clone()
        ),
        ("StatusNotification", json!(2), json!("Faulted"))
    );
    assert!(out.contains(&Output::PingInterval(60)));
}

#[test]
fn saved_profiles_come_back_without_tx_profiles() {
    let mut saved = ProfileStore::new(cp().setup.shape.clone());
    let p = |id, purpose| -> ChargingProfile {
        serde_json::from_value(json!({
            "chargingProfileId": id, "stackLevel": 0, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-02-01T07:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 12.0}]}
        }))
        .unwrap()
    };
    let tx = ActiveTx {
        transaction_id: Some(1),
        started: wall(0),
    };
    saved
        .set(0, p(1, "ChargePointMaxProfile"), None, wall(0))
        .unwrap();
    saved.set(1, p(2, "TxProfile"), Some(&tx), wall(0)).unwrap();
    let cp = cp().with_profiles(saved);
    let limits = cp.charging_limits();
    assert_eq!(limits.profiles.profiles().len(), 1);
    assert_eq!(limits.limits_at(wall(1)).site_cap_a, Some(12.0));
}
