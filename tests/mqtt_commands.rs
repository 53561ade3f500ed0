//! MQTT commands against a real broker (mosquitto): retained and oversized commands are refused
//! with an answer and the connection stays; the external limit lapses on time whatever the wall
//! clock does; with the broker's ACL, another user's command never reaches hubgate.

mod support;

use hubgate::config::{EnvSource, load_str};
use hubgate::limits::ExternalLimits;
use hubgate::mqtt::persist::WallClock;
use hubgate::mqtt::{Credentials, MqttSettings, spawn};
use hubgate::phase::PerPhase;
use hubgate::view::SiteView;
use rumqttc::QoS;
use serde_json::Value;
use std::time::Duration;
use support::broker::{Broker, Observer};
use tokio::sync::watch;
use tokio::time::Instant;

fn settings(url: &str, dir: &std::path::Path) -> MqttSettings {
    let text = format!(
        r#"
[site]
id = "t1"
name = "Test"
grid_limit_a = 63

[[buses]]
name = "b"
kind = "tcp"
host = "127.0.0.1"

[[chargers]]
name = "cp-1"
driver = "abb-terra-ac"
bus = "b"
unit = 1
max_current_a = 32
connector = 1

[mqtt]
broker = "{url}"
"#
    );
    let loaded = load_str(
        &text,
        "t.toml".as_ref(),
        &EnvSource::Map(Default::default()),
        &hubgate::driver::Registry::builtin().unwrap(),
    )
    .unwrap();
    let mut s = MqttSettings::from_config(&loaded.config, dir)
        .unwrap()
        .unwrap();
    s.database = None;
    s.daily_report = None;
    s.state_file = Some(dir.join("hub.limits.json"));
    s
}

struct Running {
    limits: watch::Receiver<ExternalLimits>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _view: watch::Sender<SiteView>,
}

fn start(s: MqttSettings) -> Running {
    let (view_tx, view_rx) = watch::channel(SiteView::default());
    let (limits_tx, limits) = watch::channel(ExternalLimits::default());
    let (stop, stop_rx) = watch::channel(false);
    let task = spawn(s, view_rx, limits_tx, stop_rx);
    Running {
        limits,
        stop,
        task,
        _view: view_tx,
    }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn is_response(id: &'static str) -> impl Fn(&str, &str) -> bool {
    move |t, p| t == "hubgate/t1/cmd/response" && json(p)["id"] == id
}

/// A command of `size` bytes: a valid limit padded with spaces.
fn padded(id: &str, size: usize) -> String {
    let mut p = format!(r#"{{"id":"{id}","limit_a":20,"expires_in_s":60}}"#);
    p.push_str(&" ".repeat(size.saturating_sub(p.len())));
    p
}

#[tokio::test]
async fn retained_and_oversized_commands_are_refused_and_the_connection_stays() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut obs = Observer::connect(broker.port, "hubgate/t1/#").await;
    // Left on the broker before hubgate connects: a retained pause, and a retained 20 KB limit.
    let c = obs.client.clone();
    c.publish(
        "hubgate/t1/cmd/charger/cp-1",
        QoS::AtLeastOnce,
        true,
        r#"{"id":"kept","action":"pause"}"#,
    )
    .await
    .unwrap();
    c.publish(
        "hubgate/t1/cmd/limit",
        QoS::AtLeastOnce,
        true,
        padded("big-kept", 20_000),
    )
    .await
    .unwrap();
    obs.next_where(|t, _| t == "hubgate/t1/cmd/limit").await;
    let r = start(settings(&broker.url(), dir.path()));
    // Both retained commands are answered (in the broker's order), neither applied.
    let big_kept = |t: &str, p: &str| {
        t == "hubgate/t1/cmd/response" && json(p)["command"] == "limit" && p.contains("retained")
    };
    let mut seen = obs.until(big_kept).await;
    if !seen.iter().any(|(t, p, _)| is_response("kept")(t, p)) {
        seen.extend(obs.until(is_response("kept")).await);
    }
    let pause_answer = seen
        .iter()
        .find(|(t, p, _)| is_response("kept")(t, p))
        .expect("the retained pause is answered");
    let pause_answer = json(&pause_answer.1);
    assert_eq!(pause_answer["accepted"], false);
    assert!(
        pause_answer["reason"]
            .as_str()
            .unwrap()
            .contains("retained commands are not applied"),
        "{pause_answer}"
    );
    // A 20 KB command, not retained: refused by size, with an answer.
    c.publish(
        "hubgate/t1/cmd/limit",
        QoS::AtLeastOnce,
        false,
        padded("big", 20_000),
    )
    .await
    .unwrap();
    let more = obs
        .until(|t, p| t == "hubgate/t1/cmd/response" && p.contains("byte command limit"))
        .await;
    // And the connection is still the first one: a valid command is applied at once.
    c.publish(
        "hubgate/t1/cmd/limit",
        QoS::AtLeastOnce,
        false,
        r#"{"id":"after","limit_a":25,"expires_in_s":60}"#,
    )
    .await
    .unwrap();
    let last = obs.until(is_response("after")).await;
    assert_eq!(json(&last.last().unwrap().1)["accepted"], true);
    let status: Vec<&str> = seen
        .iter()
        .chain(&more)
        .chain(&last)
        .filter(|(t, _, _)| t == "hubgate/t1/status")
        .map(|(_, p, _)| p.as_str())
        .collect();
    assert_eq!(status, ["online"], "hubgate connected more than once");
    let limits = r.limits.borrow().mqtt.clone();
    assert_eq!(limits.site_cap_a, Some(PerPhase::splat(25.0)));
    assert!(limits.paused.is_empty(), "a retained pause was applied");
    r.stop().await;
}

/// Sends a limit for `secs`, returns when its acceptance was seen.
async fn set_limit(obs: &mut Observer, id: &'static str, secs: u32) -> Instant {
    let payload = format!(r#"{{"id":"{id}","limit_a":30,"expires_in_s":{secs}}}"#);
    obs.client
        .publish("hubgate/t1/cmd/limit", QoS::AtLeastOnce, false, payload)
        .await
        .unwrap();
    let (_, resp, _) = obs.next_where(is_response(id)).await;
    assert_eq!(json(&resp)["accepted"], true, "{resp}");
    Instant::now()
}

/// Waits (bounded) until the MQTT limit is gone; returns when.
async fn lapsed(r: &mut Running) -> Instant {
    tokio::time::timeout(
        Duration::from_secs(20),
        r.limits.wait_for(|l| l.mqtt.site_cap_a.is_none()),
    )
    .await
    .expect("the limit lapses within its expiry and a bound")
    .unwrap();
    Instant::now()
}

#[tokio::test]
async fn a_limit_lapses_on_time_across_wall_clock_jumps() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&broker.url(), dir.path());
    let wall: WallClock = s.wall_clock.clone();
    let mut r = start(s);
    let mut obs = Observer::connect(broker.port, "hubgate/t1/#").await;
    obs.next_where(|t, p| t == "hubgate/t1/status" && p == "online")
        .await;
    const DAY_MS: i64 = 86_400_000;

    // A step forward by a day right after a 3 s limit is set: it still holds its 3 s.
    let set = set_limit(&mut obs, "fwd", 3).await;
    wall.jump(DAY_MS);
    // Another command makes the task go round its loop on the new wall clock.
    obs.client
        .publish(
            "hubgate/t1/cmd/charger/cp-1",
            QoS::AtLeastOnce,
            false,
            r#"{"id":"nudge","action":"pause"}"#,
        )
        .await
        .unwrap();
    obs.next_where(is_response("nudge")).await;
    assert!(
        r.limits.borrow().mqtt.site_cap_a.is_some(),
        "the limit lapsed at the clock step"
    );
    let held = lapsed(&mut r).await - set;
    assert!(
        held >= Duration::from_millis(2_800),
        "a 3 s limit lapsed after {held:?}"
    );

    // A step back by two days: the next 3 s limit is not lengthened by them.
    let set = set_limit(&mut obs, "back", 3).await;
    wall.jump(-2 * DAY_MS);
    let held = lapsed(&mut r).await - set;
    assert!(
        held >= Duration::from_millis(2_800),
        "lapsed after {held:?}"
    );
    r.stop().await;
}

#[tokio::test]
async fn with_the_broker_acl_only_the_command_user_reaches_hubgate() {
    let users = [
        ("hubgate", "hub-pw"),
        ("ems", "ems-pw"),
        ("guest", "guest-pw"),
    ];
    let acl = "\
user hubgate
topic readwrite hubgate/t1/#
user ems
topic write hubgate/t1/cmd/#
topic read hubgate/t1/cmd/response
topic read hubgate/t1/limit/state
user guest
topic read hubgate/t1/#
";
    let broker = Broker::start_with_acl(&users, acl).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), dir.path());
    s.credentials = Some(Credentials {
        username: Some("hubgate".into()),
        password: Some("hub-pw".into()),
        ..Credentials::default()
    });
    let r = start(s);
    let mut guest = Observer::connect_as(broker.port, "hubgate/t1/#", "guest", "guest-pw").await;
    guest
        .next_where(|t, p| t == "hubgate/t1/status" && p == "online")
        .await;
    let mut ems =
        Observer::connect_as(broker.port, "hubgate/t1/cmd/response", "ems", "ems-pw").await;
    // The guest may read but not command: the broker drops its publish.
    guest
        .publish_acked(
            "hubgate/t1/cmd/limit",
            r#"{"id":"intruder","limit_a":5,"expires_in_s":600}"#,
        )
        .await;
    // Then the energy manager commands; its answer comes after anything the guest's would.
    ems.publish_acked(
        "hubgate/t1/cmd/limit",
        r#"{"id":"ems-1","limit_a":40,"expires_in_s":600}"#,
    )
    .await;
    let seen = guest.until(is_response("ems-1")).await;
    assert!(
        !seen.iter().any(|(_, p, _)| p.contains("intruder")),
        "the guest's command reached hubgate: {seen:?}"
    );
    let (_, resp, _) = ems.next_where(|_, _| true).await;
    assert_eq!(json(&resp)["id"], "ems-1");
    assert_eq!(
        r.limits.borrow().mqtt.site_cap_a,
        Some(PerPhase::splat(40.0))
    );
    r.stop().await;
}

#[tokio::test]
async fn a_retained_message_above_the_default_packet_limit_goes_out_on_one_connection() {
    use hubgate::view::ChargerView;
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut obs = Observer::connect(broker.port, "hubgate/t1/#").await;
    let (view_tx, view_rx) = watch::channel(SiteView::default());
    let (limits_tx, _limits) = watch::channel(ExternalLimits::default());
    let (stop, stop_rx) = watch::channel(false);
    let task = spawn(
        settings(&broker.url(), dir.path()),
        view_rx,
        limits_tx,
        stop_rx,
    );
    obs.next_where(|t, p| t == "hubgate/t1/status" && p == "online")
        .await;
    // 300 chargers go unreachable: the retained list of active alerts is far above 10 KiB.
    let view = |cycle: u64, reachable: bool| SiteView {
        site_id: "t1".into(),
        cycle,
        at_ms: 1_700_000_000_000 + cycle as i64 * 1000,
        chargers: (0..300)
            .map(|i| ChargerView {
                name: format!("charger-with-a-long-name-{i:03}"),
                connector: i + 1,
                status: "Available".into(),
                reachable,
                ..ChargerView::default()
            })
            .collect(),
        ..SiteView::default()
    };
    view_tx.send_replace(view(1, true));
    for cycle in 2..=4 {
        view_tx.send_replace(view(cycle, false));
        tokio::task::yield_now().await;
    }
    let seen = obs
        .until(|t, p| t == "hubgate/t1/alerts/active" && p.len() > 20_000)
        .await;
    let (_, active, retained) = seen.last().unwrap();
    assert_eq!(json(active).as_array().unwrap().len(), 300);
    assert!(!retained);
    let status: Vec<&str> = seen
        .iter()
        .filter(|(t, _, _)| t == "hubgate/t1/status")
        .map(|(_, p, _)| p.as_str())
        .collect();
    assert!(status.is_empty(), "hubgate reconnected: {status:?}");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

#[tokio::test]
async fn with_a_command_key_only_signed_fresh_commands_are_taken() {
    use hubgate::mqtt::signed::CommandKey;
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), dir.path());
    let key = CommandKey::from_text("5f0c1e7a9b2d4c6e8f10a3b5c7d9e1f2").unwrap();
    s.command_key = Some(key.clone());
    let wall = s.wall_clock.clone();
    let r = start(s);
    let mut obs = Observer::connect(broker.port, "hubgate/t1/#").await;
    obs.next_where(|t, p| t == "hubgate/t1/status" && p == "online")
        .await;
    let signed = |body: String| {
        let tag = key.sign("limit", &body);
        serde_json::json!({"body": body, "hmac_sha256": tag}).to_string()
    };
    let body = |id: &str, nonce: &str, ts: i64| {
        format!(r#"{{"id":"{id}","limit_a":30,"expires_in_s":60,"ts_ms":{ts},"nonce":"{nonce}"}}"#)
    };
    let client = obs.client.clone();
    let send = |payload: String| {
        let c = client.clone();
        async move {
            c.publish("hubgate/t1/cmd/limit", QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
    };
    // Unsigned: refused, with its id echoed.
    send(r#"{"id":"plain","limit_a":30,"expires_in_s":60}"#.into()).await;
    let (_, resp, _) = obs.next_where(is_response("plain")).await;
    assert!(resp.contains("must be signed"), "{resp}");
    // Signed with the right key, fresh: taken.
    let good = signed(body("s1", "n-1", wall.now_ms()));
    send(good.clone()).await;
    let (_, resp, _) = obs.next_where(is_response("s1")).await;
    assert_eq!(json(&resp)["accepted"], true, "{resp}");
    // The same message again: a replay.
    send(good).await;
    let (_, resp, _) = obs
        .next_where(|t, p| t == "hubgate/t1/cmd/response" && json(p)["accepted"] == false)
        .await;
    assert!(resp.contains("replayed"), "{resp}");
    // Signed two minutes ago: stale.
    send(signed(body("s2", "n-2", wall.now_ms() - 120_000))).await;
    let (_, resp, _) = obs
        .next_where(|t, p| t == "hubgate/t1/cmd/response" && json(p)["accepted"] == false)
        .await;
    assert!(resp.contains("from hubgate's clock"), "{resp}");
    assert_eq!(
        r.limits.borrow().mqtt.site_cap_a,
        Some(PerPhase::splat(30.0))
    );
    r.stop().await;
}

#[tokio::test]
async fn a_state_file_that_cannot_be_written_changes_nothing_for_control() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), dir.path());
    // A directory that does not exist: every save fails.
    s.state_file = Some(dir.path().join("gone/hub.limits.json"));
    let mut r = start(s);
    let mut obs = Observer::connect(broker.port, "hubgate/t1/#").await;
    obs.next_where(|t, p| t == "hubgate/t1/status" && p == "online")
        .await;
    set_limit(&mut obs, "nosave", 600).await;
    tokio::time::timeout(
        Duration::from_secs(5),
        r.limits
            .wait_for(|l| l.mqtt.site_cap_a == Some(PerPhase::splat(30.0))),
    )
    .await
    .expect("the limit is in force without its file")
    .unwrap();
    assert!(!dir.path().join("gone").exists());
    r.stop().await;
}
