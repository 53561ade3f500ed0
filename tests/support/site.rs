//! A simulated site served over real Modbus (the product's own simulator), and its config
//! rewritten to point at it.

use hubgate::config::{EnvSource, SiteConfig};
use hubgate::sim::load::LoadProfile;
use hubgate::sim::serve::{Ports, SharedWorld, SimServers, lock, run_clock, serve};
use hubgate::sim::world::{SimOptions, SimWorld};
use hubgate::site::load_site_str;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct Simulated {
    pub world: SharedWorld,
    pub servers: SimServers,
    /// The config, with its buses pointing at the simulated devices.
    pub config: SiteConfig,
    pub registry: hubgate::driver::Registry,
    clock: tokio::task::JoinHandle<()>,
}

impl Drop for Simulated {
    fn drop(&mut self) {
        self.clock.abort();
    }
}

/// Serves the devices of `config_text` on free ports. No cars arrive by themselves; the building
/// load is `building` A per phase.
pub async fn simulate(config_text: &str, building: [f64; 3]) -> Simulated {
    let site = load_site_str(
        config_text,
        Path::new("site.toml"),
        &EnvSource::Map(Default::default()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut config = site.loaded.config;
    let options = SimOptions {
        seed: 7,
        traffic: None,
        building: Some(LoadProfile::constant(hubgate::phase::PerPhase(building))),
        ..SimOptions::default()
    };
    let world = SimWorld::from_config(&config, &site.registry, options).unwrap();
    let world = Arc::new(Mutex::new(world));
    let servers = serve(Arc::clone(&world), &config, Ports::Free)
        .await
        .unwrap();
    servers.rewrite(&mut config);
    let clock = run_clock(Arc::clone(&world), std::time::Duration::from_millis(50));
    Simulated {
        clock,
        world,
        servers,
        config,
        registry: site.registry,
    }
}

impl Simulated {
    /// Plugs a three-phase car into charger `name`.
    pub fn plug_in(&self, name: &str, max_a: f64) {
        self.plug_in_car(name, max_a, 3);
    }

    /// Plugs a car charging on `phases` phases into charger `name`.
    pub fn plug_in_car(&self, name: &str, max_a: f64, phases: usize) {
        let mut w = lock(&self.world);
        let i = w
            .charger_index(name)
            .unwrap_or_else(|| panic!("no charger {name}"));
        w.site.chargers[i].plug_in(hubgate::sim::model::Car {
            max_current_a: max_a,
            phases,
            wants_wh: 1e9,
            id_tag: "04A1B2C3".into(),
        });
    }

    /// Waits until the simulation has stepped `seconds` further (bounded), so the registers
    /// show what was just changed.
    pub async fn settle(&self, seconds: f64) {
        let start = lock(&self.world).site.now_s;
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while lock(&self.world).site.now_s < start + seconds {
            assert!(
                std::time::Instant::now() < end,
                "the simulation clock does not run"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// The config as TOML, for a daemon to read.
    pub fn config_toml(&self) -> String {
        toml::to_string(&self.config).unwrap()
    }
}

/// A small site: grid meter, 3x40 A, three 3-phase ABB chargers.
pub const SMALL_SITE: &str = r#"
[site]
id = "t"
name = "Test site"
grid_limit_a = 40
grid_meter = "grid"
safety_margin_a = 1
fallback_current_a = 6

[control]
cycle_ms = 500
meter_stale_s = 3
ramp_up_a_per_s = 20

[[buses]]
name = "meters"
kind = "tcp"
host = "127.0.0.1"
port = 1

[[buses]]
name = "chargers"
kind = "rtu_over_tcp"
host = "127.0.0.1"
port = 1

[[meters]]
name = "grid"
driver = "eastron-sdm630"
bus = "meters"
unit = 1

[[chargers]]
name = "c1"
driver = "abb-terra-ac"
bus = "chargers"
unit = 1
max_current_a = 32
connector = 1

[[chargers]]
name = "c2"
driver = "abb-terra-ac"
bus = "chargers"
unit = 2
wiring = ["L2", "L3", "L1"]
max_current_a = 32
connector = 2

[[chargers]]
name = "c3"
driver = "abb-terra-ac"
bus = "chargers"
unit = 3
max_current_a = 16
connector = 3
"#;
