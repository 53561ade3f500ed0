//! MQTT against a real broker (mosquitto, started by the test): the documented topics with
//! retained values, last will, alerts raised and cleared once, commands accepted or refused with a
//! reason, the external limit lapsing at its expiry, and a broker outage.

mod support;

use hubgate::config::{EnvSource, load_str};
use hubgate::limits::ExternalLimits;
use hubgate::mqtt::{MqttSettings, spawn};
use hubgate::phase::PerPhase;
use hubgate::view::{ChargerView, MeterView, SiteView};
use serde_json::Value;
use std::time::Duration;
use support::broker::{Broker, Observer, Relay};
use tokio::sync::watch;

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
home_assistant = true
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
    // The machine's own disk must not raise alerts in these tests.
    s.database = None;
    s.state_file = Some(dir.join("hub.limits.json"));
    s
}

fn view(cycle: u64, reachable: bool) -> SiteView {
    SiteView {
        site_id: "t1".into(),
        site_name: "Test".into(),
        cycle,
        at_ms: 1_700_000_000_000 + cycle as i64 * 1000,
        grid_current_a: Some(PerPhase([20.0, 21.0, 22.0])),
        grid_limit_a: PerPhase::splat(61.0),
        limit_source: "grid".into(),
        chargers: vec![ChargerView {
            name: "cp-1".into(),
            connector: 1,
            status: "Charging".into(),
            reachable,
            setpoint_a: 16.0,
            draw_a: PerPhase::splat(15.5),
            ..ChargerView::default()
        }],
        meters: vec![MeterView {
            name: "grid".into(),
            current_a: Some(PerPhase([20.0, 21.0, 22.0])),
            stale: false,
            invalid: None,
            ..MeterView::default()
        }],
        ..SiteView::default()
    }
}

struct Running {
    view: watch::Sender<SiteView>,
    limits: watch::Receiver<ExternalLimits>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn start(broker: &Broker) -> Running {
    start_with(&broker.url())
}

fn start_with(url: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(url, dir.path());
    start_settings(s, dir)
}

fn start_settings(s: MqttSettings, dir: tempfile::TempDir) -> Running {
    let (view_tx, view_rx) = watch::channel(view(0, true));
    let (limits_tx, limits_rx) = watch::channel(ExternalLimits::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = spawn(s, view_rx, limits_tx, stop_rx);
    Running {
        view: view_tx,
        limits: limits_rx,
        stop: stop_tx,
        task,
        _dir: dir,
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[tokio::test]
async fn topics_retained_state_discovery_and_alerts_once() {
    let broker = Broker::start().await;
    let r = start(&broker);
    r.view.send_replace(view(1, true));
    let mut obs = Observer::connect(broker.port, "#").await;
    let state_topics = [
        "hubgate/t1/status",
        "hubgate/t1/site/state",
        "hubgate/t1/chargers/cp-1/state",
    ];
    let got = obs.gather(&state_topics).await;
    assert_eq!(got["hubgate/t1/status"].0, "online");
    let site = json(&got["hubgate/t1/site/state"].0);
    assert_eq!(
        site["grid_current_a"],
        serde_json::json!([20.0, 21.0, 22.0])
    );
    assert_eq!(site["grid_limit_a"], serde_json::json!([61.0, 61.0, 61.0]));
    let ch = json(&got["hubgate/t1/chargers/cp-1/state"].0);
    assert_eq!(ch["status"], "Charging");
    assert_eq!(ch["setpoint_a"], 16.0);
    assert_eq!(ch["reachable"], true);
    // A client connecting later gets them as retained messages.
    let mut late = Observer::connect(broker.port, "hubgate/t1/#").await;
    for (topic, (_, retained)) in late.gather(&state_topics).await {
        assert!(retained, "{topic} is not retained");
    }
    let mut ha = Observer::connect(broker.port, "homeassistant/#").await;
    let (_, disc, _) = ha
        .next_where(|t, _| t == "homeassistant/sensor/hubgate_t1/cp_1_power/config")
        .await;
    assert_eq!(json(&disc)["state_topic"], "hubgate/t1/chargers/cp-1/state");

    // The charger stops answering for three cycles, then answers again.
    for cycle in 2..=4 {
        r.view.send_replace(view(cycle, false));
    }
    let (_, raised, retained) = obs.next_where(|t, _| t == "hubgate/t1/alerts/events").await;
    assert!(!retained);
    let raised = json(&raised);
    assert_eq!(raised["id"], "charger_unreachable/cp-1");
    assert_eq!(raised["state"], "raised");
    let (_, active, _) = obs
        .next_where(|t, p| t == "hubgate/t1/alerts/active" && p != "[]")
        .await;
    assert_eq!(json(&active)[0]["id"], "charger_unreachable/cp-1");
    r.view.send_replace(view(5, true));
    // Between the raise and the clear, no other event: each is sent once.
    let (_, next_event, _) = obs.next_where(|t, _| t == "hubgate/t1/alerts/events").await;
    let cleared = json(&next_event);
    assert_eq!(cleared["id"], "charger_unreachable/cp-1");
    assert_eq!(
        cleared["state"], "cleared",
        "a second event before the clear: {next_event}"
    );
    assert_eq!(cleared["since_ms"], raised["since_ms"]);
    let _ = r.stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), r.task).await;
}

#[tokio::test]
async fn commands_are_validated_answered_and_the_limit_lapses() {
    let broker = Broker::start().await;
    let mut r = start(&broker);
    let mut obs = Observer::connect(broker.port, "hubgate/t1/#").await;
    obs.next_where(|t, p| t == "hubgate/t1/status" && p == "online")
        .await;
    let client = obs.client.clone();
    let publish = |topic: &'static str, payload: &'static str| {
        let c = client.clone();
        async move {
            c.publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
    };

    // Refused: above the grid limit. Nothing changes.
    publish(
        "hubgate/t1/cmd/limit",
        r#"{"id":"r1","limit_a":90,"expires_in_s":60}"#,
    )
    .await;
    let (_, resp, _) = obs.next_where(|t, _| t == "hubgate/t1/cmd/response").await;
    let resp = json(&resp);
    assert_eq!(resp["id"], "r1");
    assert_eq!(resp["accepted"], false);
    assert!(
        resp["reason"]
            .as_str()
            .unwrap()
            .contains("above the grid limit")
    );
    assert_eq!(*r.limits.borrow(), ExternalLimits::default());

    // Refused: malformed.
    publish("hubgate/t1/cmd/limit", "{not json").await;
    let (_, resp, _) = obs.next_where(|t, _| t == "hubgate/t1/cmd/response").await;
    assert_eq!(json(&resp)["accepted"], false);
    publish(
        "hubgate/t1/cmd/charger/nope",
        r#"{"id":"r2","action":"pause"}"#,
    )
    .await;
    let (_, resp, _) = obs.next_where(|t, _| t == "hubgate/t1/cmd/response").await;
    assert!(
        json(&resp)["reason"]
            .as_str()
            .unwrap()
            .contains("no charger named")
    );
    assert_eq!(*r.limits.borrow(), ExternalLimits::default());

    // Accepted: a limit for one second, and a pause.
    publish(
        "hubgate/t1/cmd/limit",
        r#"{"id":"a1","limit_a":[30,31,32],"expires_in_s":1}"#,
    )
    .await;
    let (_, resp, _) = obs.next_where(|t, _| t == "hubgate/t1/cmd/response").await;
    assert_eq!(json(&resp)["accepted"], true);
    tokio::time::timeout(
        Duration::from_secs(5),
        r.limits.wait_for(|l| l.mqtt.site_cap_a.is_some()),
    )
    .await
    .expect("limit applied")
    .unwrap();
    assert_eq!(
        r.limits.borrow().mqtt.site_cap_a,
        Some(PerPhase([30.0, 31.0, 32.0]))
    );
    let (_, state, _) = obs
        .next_where(|t, p| t == "hubgate/t1/limit/state" && !p.contains("\"limit_a\":null"))
        .await;
    assert_eq!(
        json(&state)["limit_a"],
        serde_json::json!([30.0, 31.0, 32.0])
    );
    // It lapses by itself.
    tokio::time::timeout(
        Duration::from_secs(5),
        r.limits.wait_for(|l| l.mqtt.site_cap_a.is_none()),
    )
    .await
    .expect("limit lapsed")
    .unwrap();
    publish("hubgate/t1/cmd/charger/cp-1", r#"{"action":"pause"}"#).await;
    let (_, resp, _) = obs.next_where(|t, _| t == "hubgate/t1/cmd/response").await;
    assert_eq!(json(&resp)["accepted"], true, "{resp}");
    tokio::time::timeout(
        Duration::from_secs(5),
        r.limits.wait_for(|l| l.mqtt.paused.contains("cp-1")),
    )
    .await
    .expect("paused")
    .unwrap();
    let _ = r.stop.send(true);
}

#[tokio::test]
async fn last_will_fires_when_the_connection_dies() {
    let broker = Broker::start().await;
    let r = start(&broker);
    let mut obs = Observer::connect(broker.port, "hubgate/t1/status").await;
    obs.next_where(|_, p| p == "online").await;
    // Killed: the task disappears without a DISCONNECT.
    r.task.abort();
    let (_, status, _) = obs.next_where(|_, p| p == "offline").await;
    assert_eq!(status, "offline");
    let mut late = Observer::connect(broker.port, "hubgate/t1/status").await;
    let (_, status, retained) = late.next_where(|_, _| true).await;
    assert_eq!(status, "offline");
    assert!(retained);
}

#[tokio::test]
async fn a_broker_outage_loses_no_alert_and_state_catches_up() {
    let broker = Broker::start().await;
    let relay = Relay::start(broker.port).await;
    let r = start_with(&relay.url());
    let mut obs = Observer::connect(broker.port, "hubgate/t1/#").await;
    obs.next_where(|t, p| t == "hubgate/t1/status" && p == "online")
        .await;
    relay.cut();
    // The broker sees hubgate vanish: its last will.
    obs.next_where(|t, p| t == "hubgate/t1/status" && p == "offline")
        .await;
    // Meanwhile the site goes on: views keep coming (never blocked), an alert is raised and
    // cleared.
    for cycle in 1..=20 {
        r.view.send_replace(view(cycle, !(5..10).contains(&cycle)));
        tokio::task::yield_now().await;
    }
    relay.restore();
    obs.next_where(|t, p| t == "hubgate/t1/status" && p == "online")
        .await;
    let (_, ev, _) = obs.next_where(|t, _| t == "hubgate/t1/alerts/events").await;
    let ev = json(&ev);
    assert_eq!(ev["id"], "charger_unreachable/cp-1");
    assert_eq!(ev["state"], "raised");
    let (_, ev, _) = obs.next_where(|t, _| t == "hubgate/t1/alerts/events").await;
    assert_eq!(json(&ev)["state"], "cleared");
    let (_, site, _) = obs
        .next_where(|t, p| t == "hubgate/t1/site/state" && json(p)["cycle"] == 20)
        .await;
    assert_eq!(json(&site)["cycle"], 20);
    let _ = r.stop.send(true);
}

#[tokio::test]
async fn mqtts_verifies_the_broker_against_the_configured_ca() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hubgate test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().unwrap();
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let (ca, crt, k) = (
        dir.path().join("ca.pem"),
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
    );
    std::fs::write(&ca, ca_pem).unwrap();
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let broker = Broker::start_tls(&ca, &crt, &k).await;
    let mut obs = Observer::connect(broker.port, "hubgate/t1/status").await;

    let mut s = settings(
        &format!("mqtts://localhost:{}", broker.tls_port.unwrap()),
        dir.path(),
    );
    if let hubgate::mqtt::Security::Tls(t) = &mut s.security {
        t.ca_file = Some(ca.clone());
    } else {
        panic!("mqtts:// must mean TLS");
    }
    let (_view_tx, view_rx) = watch::channel(view(0, true));
    let (limits_tx, _limits_rx) = watch::channel(ExternalLimits::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = spawn(s, view_rx, limits_tx, stop_rx);
    let (_, status, _) = obs.next_where(|_, p| p == "online").await;
    assert_eq!(status, "online");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
