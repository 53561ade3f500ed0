//! MQTT with the real controller: the demo publishes to a broker given in the environment; an
//! external limit lowers the chargers' setpoints and lapses at its expiry; a broker outage of a
//! minute does not delay a single control cycle; the external limit and the pauses survive
//! SIGKILL of `hubgate run` with their expiry.

mod support;

use hubgate::control::{CycleRecord, ExternalLimits};
use hubgate::mqtt::MqttTask;
use hubgate::site::{SiteChannels, SiteRuntime};
use hubgate::view::SiteView;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use support::broker::{Broker, Observer, Relay};
use support::site::simulate;
use tokio::sync::{mpsc, watch};

const SITE: &str = r#"
[site]
id = "ms"
name = "MQTT site"
grid_limit_a = 63
grid_meter = "grid"
safety_margin_a = 1

[control]
cycle_ms = 1000
ramp_up_a_per_s = 50

[[buses]]
name = "lan"
kind = "tcp"
host = "127.0.0.1"
port = 1

[[meters]]
name = "grid"
driver = "eastron-sdm630"
bus = "lan"
unit = 1

[[chargers]]
name = "c1"
driver = "abb-terra-ac"
bus = "lan"
unit = 2
max_current_a = 32
connector = 1

[[chargers]]
name = "c2"
driver = "abb-terra-ac"
bus = "lan"
unit = 3
max_current_a = 32
connector = 2
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_publishes_to_the_broker_in_the_environment() {
    let broker = Broker::start().await;
    let mut obs = Observer::connect(broker.port, "hubgate/demo/#").await;
    let url = broker.url();
    let demo = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_hubgate"))
            .args(["demo", "--duration", "5", "--json"])
            .env("HUBGATE__MQTT__BROKER", url)
            .output()
            .unwrap()
    });
    let got = obs
        .gather(&[
            "hubgate/demo/status",
            "hubgate/demo/site/state",
            "hubgate/demo/chargers/cp-1/state",
            "hubgate/demo/chargers/port-2/state",
        ])
        .await;
    assert_eq!(got["hubgate/demo/status"].0, "online");
    let site: serde_json::Value = serde_json::from_str(&got["hubgate/demo/site/state"].0).unwrap();
    assert_eq!(site["grid_limit_a"], serde_json::json!([61.0, 61.0, 61.0]));
    let out = demo.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // On its way out the demo says it is offline.
    obs.next_where(|t, p| t == "hubgate/demo/status" && p == "offline")
        .await;
}

struct Running {
    _dir: tempfile::TempDir,
    runtime: SiteRuntime,
    mqtt: MqttTask,
    view: watch::Receiver<SiteView>,
    records: mpsc::Receiver<CycleRecord>,
}

fn start(sim: &support::site::Simulated, broker_url: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sim.config.clone();
    // The external limits' state file goes beside the database.
    config.storage.database = Some(dir.path().join("hub.db"));
    config.mqtt = Some(hubgate::config::Mqtt {
        broker: broker_url.to_string(),
        credentials_file: None,
        ca_file: None,
        topic_prefix: None,
        home_assistant: false,
        command_hmac_key_file: None,
    });
    let (view_tx, view) = watch::channel(SiteView::default());
    let (heartbeat, _) = watch::channel(0);
    let (limits_tx, limits) = watch::channel(ExternalLimits::default());
    let (records_tx, records) = mpsc::channel(100_000);
    let mqtt = MqttTask::start(&config, view_tx.subscribe(), limits_tx)
        .unwrap()
        .unwrap();
    let runtime = SiteRuntime::start(
        Arc::new(config),
        &sim.registry,
        SiteChannels {
            view: view_tx,
            heartbeat,
            limits,
            records: Some(records_tx),
        },
    )
    .unwrap();
    Running {
        _dir: dir,
        runtime,
        mqtt,
        view,
        records,
    }
}

async fn wait_view(r: &mut Running, what: &str, pred: impl Fn(&SiteView) -> bool) -> SiteView {
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::timeout_at(end, r.view.changed())
            .await
            .unwrap_or_else(|_| panic!("{what}"))
            .unwrap();
        let v = r.view.borrow_and_update().clone();
        if pred(&v) {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_limit_lowers_the_setpoints_and_lapses() {
    let broker = Broker::start().await;
    let sim = simulate(SITE, [10.0, 10.0, 10.0]).await;
    sim.plug_in("c1", 32.0);
    sim.plug_in("c2", 32.0);
    let mut r = start(&sim, &broker.url());
    let before = wait_view(&mut r, "cars charging", |v| {
        v.chargers.iter().all(|c| c.setpoint_a >= 20.0)
    })
    .await;
    assert_eq!(before.limit_source, "grid");
    let mut obs = Observer::connect(broker.port, "hubgate/ms/#").await;
    obs.client
        .publish(
            "hubgate/ms/cmd/limit",
            rumqttc::QoS::AtLeastOnce,
            false,
            r#"{"id":"x","limit_a":30,"expires_in_s":4}"#,
        )
        .await
        .unwrap();
    let (_, resp, _) = obs.next_where(|t, _| t == "hubgate/ms/cmd/response").await;
    assert!(resp.contains("\"accepted\":true"), "{resp}");
    // 30 A at the connection, 10 A of it the building: 20 A left for two cars.
    let limited = wait_view(&mut r, "limit applied", |v| v.limit_source == "external").await;
    assert_eq!(limited.grid_limit_a.0, [30.0, 30.0, 30.0]);
    let v = wait_view(&mut r, "setpoints lowered", |v| {
        v.chargers.iter().map(|c| c.setpoint_a).sum::<f64>() <= 20.5
    })
    .await;
    assert!(
        v.chargers
            .iter()
            .all(|c| c.setpoint_a == 0.0 || c.setpoint_a >= 6.0)
    );
    // It lapses by itself.
    wait_view(&mut r, "limit lapsed", |v| {
        v.limit_source == "grid" && v.grid_limit_a.0[0] == 62.0
    })
    .await;
    r.mqtt.stop().await;
    r.runtime.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_of_a_minute_delays_no_control_cycle() {
    let broker = Broker::start().await;
    let relay = Relay::start(broker.port).await;
    let sim = simulate(SITE, [10.0, 10.0, 10.0]).await;
    sim.plug_in("c1", 32.0);
    let mut r = start(&sim, &relay.url());
    let mut obs = Observer::connect(broker.port, "hubgate/ms/status").await;
    obs.next_where(|_, p| p == "online").await;
    while r.records.try_recv().is_ok() {}
    relay.cut();
    obs.next_where(|_, p| p == "offline").await;
    let outage = Duration::from_secs(60);
    let start = tokio::time::Instant::now();
    let mut regular: Vec<f64> = Vec::new();
    while start.elapsed() < outage {
        let rec = tokio::time::timeout(Duration::from_secs(5), r.records.recv())
            .await
            .expect("a cycle")
            .unwrap();
        if !rec.early {
            regular.push(rec.t_s);
        }
    }
    relay.restore();
    // (The observer sat idle through the outage; a fresh one sees hubgate come back.)
    let mut obs = Observer::connect(broker.port, "hubgate/ms/status").await;
    obs.next_where(|_, p| p == "online").await;
    // One regular cycle per second throughout, none late by as much as half a cycle.
    assert!(
        regular.len() >= 59,
        "{} cycles in a 60 s outage",
        regular.len()
    );
    let worst = regular.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        worst < 1.5,
        "a cycle came {worst:.2} s after the previous one"
    );
    r.mqtt.stop().await;
    r.runtime.stop().await;
}

fn spawn_daemon(config: &std::path::Path, dir: &std::path::Path) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("daemon.log"))
        .unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUNTIME_DIRECTORY", dir.join("run"))
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// The state file once it holds what `pred` wants (bounded wait: it is written in the
/// background).
async fn state_file_where(
    path: &std::path::Path,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && pred(&v)
        {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "state file never showed it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_external_limit_and_pauses_survive_sigkill_with_their_expiry() {
    let broker = Broker::start().await;
    let sim = simulate(SITE, [10.0, 10.0, 10.0]).await;
    sim.plug_in("c1", 32.0);
    sim.plug_in("c2", 32.0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let mut config = sim.config.clone();
    config.storage.database = Some(dir.path().join("hub.db"));
    config.mqtt = Some(hubgate::config::Mqtt {
        broker: broker.url(),
        credentials_file: None,
        ca_file: None,
        topic_prefix: None,
        home_assistant: false,
        command_hmac_key_file: None,
    });
    let config_path = dir.path().join("site.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let mut obs = Observer::connect(broker.port, "hubgate/ms/#").await;
    let mut daemon = spawn_daemon(&config_path, dir.path());
    obs.next_where(|t, p| t == "hubgate/ms/status" && p == "online")
        .await;
    for (topic, payload) in [
        (
            "hubgate/ms/cmd/limit",
            r#"{"id":"l","limit_a":30,"expires_in_s":600}"#,
        ),
        (
            "hubgate/ms/cmd/charger/c2",
            r#"{"id":"p","action":"pause"}"#,
        ),
    ] {
        obs.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        let (_, resp, _) = obs.next_where(|t, _| t == "hubgate/ms/cmd/response").await;
        assert_eq!(json(&resp)["accepted"], true, "{resp}");
    }
    let saved = state_file_where(&dir.path().join("hub.limits.json"), |v| {
        v["paused"] == serde_json::json!(["c2"]) && v["limit_a"].is_array()
    })
    .await;
    let expires_at = saved["expires_at_ms"].as_i64().unwrap();

    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    obs.next_where(|t, p| t == "hubgate/ms/status" && p == "offline")
        .await;
    let mut daemon = spawn_daemon(&config_path, dir.path());
    obs.next_where(|t, p| t == "hubgate/ms/status" && p == "online")
        .await;
    // Restored before anything: the same limit with the same absolute expiry, the same pause.
    let (_, state, _) = obs.next_where(|t, _| t == "hubgate/ms/limit/state").await;
    let state = json(&state);
    assert_eq!(state["limit_a"], serde_json::json!([30.0, 30.0, 30.0]));
    assert_eq!(state["expires_at_ms"], expires_at);
    assert_eq!(state["paused"], serde_json::json!(["c2"]));
    // And the controller runs under them.
    let (_, site, _) = obs
        .next_where(|t, p| t == "hubgate/ms/site/state" && json(p)["limit_source"] == "external")
        .await;
    assert_eq!(
        json(&site)["grid_limit_a"],
        serde_json::json!([30.0, 30.0, 30.0])
    );
    let (_, c2, _) = obs
        .next_where(|t, p| {
            t == "hubgate/ms/chargers/c2/state"
                && json(p)["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("paused"))
        })
        .await;
    assert_eq!(json(&c2)["setpoint_a"], 0.0);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
}
