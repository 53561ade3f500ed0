//! Reaction time of the whole controller, end to end over Modbus TCP: 50 simulated chargers (five
//! gateways of ten), every car charging, a 1 s control cycle. The building load jumps by 60 A on
//! L1; measured is the time from the grid meter's first reading that shows it to the moment every
//! charger has received its lower setpoint (as the simulated chargers see it on their registers).
//!
//! Run: `cargo bench --bench reaction` (a scripted run, ~1 minute; prints min / median / max).

use hubgate::config::EnvSource;
use hubgate::control::ExternalLimits;
use hubgate::phase::PerPhase;
use hubgate::sim::load::{LoadProfile, Surge};
use hubgate::sim::model::Car;
use hubgate::sim::serve::{Ports, lock, run_clock, serve};
use hubgate::sim::world::{DeviceKind, SimOptions, SimWorld};
use hubgate::site::{SiteChannels, SiteRuntime, load_site_str};
use hubgate::view::SiteView;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const CHARGERS: usize = 50;
const TRIALS: usize = 12;

fn config() -> String {
    let mut s = String::from(
        "[site]\nid = \"bench\"\nname = \"Reaction bench\"\ngrid_limit_a = 400\ngrid_meter = \"grid\"\nsafety_margin_a = 2\nfallback_current_a = 0\n\n[control]\ncycle_ms = 1000\nramp_up_a_per_s = 8\n\n[[buses]]\nname = \"meters\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n\n[[meters]]\nname = \"grid\"\ndriver = \"eastron-sdm630\"\nbus = \"meters\"\nunit = 1\n",
    );
    for g in 0..CHARGERS / 10 {
        let _ = write!(
            s,
            "\n[[buses]]\nname = \"gw{g}\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n"
        );
    }
    for i in 0..CHARGERS {
        let _ = write!(
            s,
            "\n[[chargers]]\nname = \"c{i}\"\ndriver = \"abb-terra-ac\"\nbus = \"gw{}\"\nunit = {}\nmax_current_a = 16\nconnector = {}\n",
            i / 10,
            i % 10 + 1,
            i + 1
        );
    }
    s
}

fn setpoints(world: &Arc<Mutex<SimWorld>>) -> Vec<f64> {
    lock(world)
        .site
        .chargers
        .iter()
        .map(|c| c.setpoint_a)
        .collect()
}

fn grid_reads(world: &Arc<Mutex<SimWorld>>) -> u64 {
    lock(world)
        .devices
        .iter()
        .find(|d| matches!(d.kind, DeviceKind::Meter { circuit: None }))
        .map_or(0, |d| d.reads)
}

async fn wait_steady(world: &Arc<Mutex<SimWorld>>) {
    let mut last = setpoints(world);
    let mut stable = 0;
    while stable < 4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = setpoints(world);
        if now.iter().zip(&last).all(|(a, b)| (a - b).abs() < 0.01) && now.iter().all(|a| *a >= 6.0)
        {
            stable += 1;
        } else {
            stable = 0;
        }
        last = now;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list
    }
    if std::env::var("BENCH_LOG").is_ok() {
        hubgate::service::init_logging("hubgate::control=debug,warn");
    }
    let text = config();
    let site = load_site_str(
        &text,
        Path::new("bench.toml"),
        &EnvSource::Map(Default::default()),
    )
    .expect("config");
    let mut config = site.loaded.config;
    let options = SimOptions {
        traffic: None,
        building: Some(LoadProfile::constant(PerPhase([20.0, 20.0, 20.0]))),
        ..SimOptions::default()
    };
    let world = Arc::new(Mutex::new(
        SimWorld::from_config(&config, &site.registry, options).expect("world"),
    ));
    for c in &mut lock(&world).site.chargers {
        c.plug_in(Car {
            max_current_a: 32.0,
            phases: 3,
            wants_wh: 1e12,
            id_tag: "X".into(),
        });
    }
    let servers = serve(Arc::clone(&world), &config, Ports::Free)
        .await
        .expect("serve");
    servers.rewrite(&mut config);
    let _clock = run_clock(Arc::clone(&world), Duration::from_millis(20));
    let (view, _view_rx) = watch::channel(SiteView::default());
    let (heartbeat, _hb) = watch::channel(0);
    let (_limits_tx, limits) = watch::channel(ExternalLimits::default());
    let runtime = SiteRuntime::start(
        Arc::new(config),
        &site.registry,
        SiteChannels {
            view,
            heartbeat,
            limits,
            records: None,
        },
    )
    .expect("start");

    let mut from_reading = Vec::new();
    let mut from_surge = Vec::new();
    for _ in 0..TRIALS {
        wait_steady(&world).await;
        let before = setpoints(&world);
        let t0 = Instant::now();
        let reads;
        {
            let mut w = lock(&world);
            let now = w.site.now_s;
            let grid = w.site.grid();
            if let Some(p) = w.site.load_profiles[grid].as_mut() {
                p.surges = vec![Surge {
                    start_s: now,
                    duration_s: f64::INFINITY,
                    amps: PerPhase([60.0, 0.0, 0.0]),
                }];
            }
            // Step at once, so the grid meter's registers show the surge from now on and its
            // next read is a reading of the overload.
            w.step(0.001);
            reads = w
                .devices
                .iter()
                .find(|d| matches!(d.kind, DeviceKind::Meter { circuit: None }))
                .map_or(0, |d| d.reads);
        }
        let mut t_read = None;
        let deadline = t0 + Duration::from_secs(10);
        loop {
            if t_read.is_none() && grid_reads(&world) > reads {
                t_read = Some(Instant::now());
            }
            let now = setpoints(&world);
            if now.iter().zip(&before).all(|(a, b)| *a < b - 0.5) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the chargers were not all cut within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let done = Instant::now();
        from_reading.push(done.duration_since(t_read.unwrap_or(t0)));
        from_surge.push(done.duration_since(t0));
        // Lift the surge and let the site settle again.
        let mut w = lock(&world);
        let grid = w.site.grid();
        if let Some(p) = w.site.load_profiles[grid].as_mut() {
            p.surges.clear();
        }
    }
    runtime.stop().await;
    for (name, mut v) in [
        ("overload reading -> all 50 setpoints written", from_reading),
        ("surge -> all 50 setpoints written", from_surge),
    ] {
        v.sort();
        println!(
            "{name}: min {:.0} ms, median {:.0} ms, max {:.0} ms ({} trials)",
            v[0].as_secs_f64() * 1e3,
            v[v.len() / 2].as_secs_f64() * 1e3,
            v[v.len() - 1].as_secs_f64() * 1e3,
            v.len()
        );
    }
}
