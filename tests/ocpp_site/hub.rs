//! A simulated site served over real Modbus, run by the real site runtime and sessions, its
//! uplink pointed at the independent CSMS; the database is a real SQLite file.

use crate::support::site::{Simulated, simulate};
use hubgate::control::ExternalLimits;
use hubgate::session::{SessionConfig, Sessions};
use hubgate::sim::serve::lock;
use hubgate::site::{SiteChannels, SiteRuntime};
use hubgate::store::WriterHandle;
use hubgate::view::SiteView;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Three ABB chargers behind a grid meter, 3x63 A; the uplink on `{port}`.
const SITE: &str = r#"
[site]
id = "hub-7"
name = "Interop site"
grid_limit_a = 63
grid_meter = "grid"
safety_margin_a = 1
fallback_current_a = 6

[control]
cycle_ms = 500
meter_stale_s = 3
ramp_up_a_per_s = 40

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
unit = 11
max_current_a = 32
connector = 1

[[chargers]]
name = "c2"
driver = "abb-terra-ac"
bus = "lan"
unit = 12
wiring = ["L2", "L3", "L1"]
max_current_a = 32
connector = 2

[[chargers]]
name = "c3"
driver = "abb-terra-ac"
bus = "lan"
unit = 13
max_current_a = 32
connector = 3

[ocpp]
csms_url = "ws://127.0.0.1:{port}/ocpp"
security_profile = 0

{auth}

[tariff]
currency = "EUR"
price_per_kwh = 0.40
session_fee = 0.50
"#;

/// The `[auth]` of most tests: offline, ids the site knows and unknown ones may charge.
pub const OPEN_AUTH: &str = "[auth]
local_authorize_offline = true
allow_offline_tx_for_unknown_id = true
";

pub const LONG: Duration = Duration::from_secs(60);

pub struct Hub {
    pub sim: Simulated,
    pub view: watch::Receiver<SiteView>,
    pub writer: WriterHandle,
    view_tx: watch::Sender<SiteView>,
    db_path: std::path::PathBuf,
    runtime: Option<SiteRuntime>,
    sessions: Option<Sessions>,
    _dir: tempfile::TempDir,
}

/// Start the site with its uplink to 127.0.0.1:`port`; `keys` are OCPP configuration keys as
/// if the CSMS had set them before.
pub async fn start(port: u16, keys: &[(&str, &str)]) -> Hub {
    start_with(port, keys, OPEN_AUTH).await
}

/// [`start`] with another `[auth]` section.
pub async fn start_with(port: u16, keys: &[(&str, &str)], auth: &str) -> Hub {
    let text = SITE
        .replace("{port}", &port.to_string())
        .replace("{auth}", auth);
    let sim = simulate(&text, [5.0, 5.0, 5.0]).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("hub.db");
    let writer = hubgate::daemon::open_store(&db_path).unwrap();
    for (k, v) in keys {
        writer.set_setting(k, v, 0).await.unwrap();
    }
    let (view_tx, view) = watch::channel(SiteView::default());
    let mut hub = Hub {
        sim,
        view,
        writer,
        view_tx,
        db_path,
        runtime: None,
        sessions: None,
        _dir: dir,
    };
    hub.launch();
    hub
}

impl Hub {
    /// Start the site runtime and the sessions.
    fn launch(&mut self) {
        let config = Arc::new(self.sim.config.clone());
        let (heartbeat, _) = watch::channel(0);
        let (limits_tx, limits) = watch::channel(ExternalLimits::default());
        let runtime = SiteRuntime::start(
            Arc::clone(&config),
            &self.sim.registry,
            SiteChannels {
                view: self.view_tx.clone(),
                heartbeat,
                limits,
                records: None,
            },
        )
        .unwrap();
        let sessions = Sessions::start(SessionConfig {
            site: config,
            chargers: runtime.chargers().to_vec(),
            writer: self.writer.clone(),
            db_path: self.db_path.clone(),
            limits: limits_tx,
            view: self.view_tx.clone(),
            restart: None,
        })
        .unwrap();
        self.runtime = Some(runtime);
        self.sessions = Some(sessions);
    }

    /// Stop the sessions and the site runtime cleanly (the chargers go on by themselves).
    pub async fn halt(&mut self) {
        if let Some(s) = self.sessions.take() {
            s.stop().await;
        }
        if let Some(r) = self.runtime.take() {
            r.stop().await;
        }
        self.view_tx.send_modify(|v| v.uplink = None);
    }

    /// Start again on the same database.
    pub fn resume(&mut self) {
        self.launch();
    }

    pub fn plug(&self, charger: &str) {
        self.sim.plug_in(charger, 16.0);
    }

    pub fn unplug(&self, charger: &str) {
        let mut w = lock(&self.sim.world);
        let i = w.charger_index(charger).unwrap();
        w.site.chargers[i].unplug();
    }

    /// A card held to the site's reader at `connector`.
    pub async fn card(&self, connector: u32, tag: &str) {
        let s = self.sessions.as_ref().unwrap();
        s.reader.send((connector, tag.to_string())).await.unwrap();
    }

    /// What the simulated charger draws now (A, highest phase).
    pub fn draw(&self, charger: &str) -> f64 {
        let w = lock(&self.sim.world);
        let i = w.charger_index(charger).unwrap();
        w.site.chargers[i]
            .draw_a
            .iter()
            .copied()
            .fold(0.0, f64::max)
    }

    /// Wait (bounded) until the simulated charger's draw satisfies `pred`.
    pub async fn until_draw(&self, charger: &str, what: &str, pred: impl Fn(f64) -> bool) {
        let end = tokio::time::Instant::now() + LONG;
        while !pred(self.draw(charger)) {
            assert!(tokio::time::Instant::now() < end, "{charger} never: {what}");
            self.sim.settle(0.2).await;
        }
    }

    /// Wait (bounded) until the site view satisfies `pred`.
    pub async fn until_view(&mut self, what: &str, pred: impl Fn(&SiteView) -> bool) -> SiteView {
        let seen = match tokio::time::timeout(LONG, self.view.wait_for(|v| pred(v))).await {
            Ok(Ok(v)) => Some(v.clone()),
            _ => None,
        };
        seen.unwrap_or_else(|| {
            panic!(
                "the site never showed: {what}; last view {:#?}",
                *self.view.borrow()
            )
        })
    }

    pub async fn stop(mut self) {
        self.halt().await;
        let _ = self.writer.shutdown().await;
    }
}

/// The CALLs of `action` the CSMS received, in order.
pub fn calls<'a>(log: &'a [Value], action: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|e| e["event"] == "recv" && e["frame"][0] == 2 && e["frame"][2] == action)
        .map(|e| &e["frame"][3])
        .collect()
}

/// The energy register (Wh) of a MeterValues payload.
pub fn register_wh(mv: &Value) -> f64 {
    mv["meterValue"][0]["sampledValue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["measurand"].is_null() || v["measurand"] == "Energy.Active.Import.Register")
        .and_then(|v| v["value"].as_str())
        .and_then(|s| s.parse().ok())
        .unwrap()
}
