//! `hubgate demo`: the built-in demo site, every device simulated and served over real Modbus
//! TCP on loopback, run by the real controller and shown live.

use super::CommandError;
use crate::config::EnvSource;
use crate::control::{CycleRecord, ExternalLimits};
use crate::service::{Request, Signals};
use crate::session::{SessionConfig, Sessions};
use crate::sim::serve::{Ports, run_clock, serve};
use crate::sim::serve::{SharedWorld, lock};
use crate::sim::world::{SimOptions, SimWorld};
use crate::site::{SiteChannels, SiteRuntime, load_site, load_site_str};
use crate::view::{SiteView, render};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The demo site's config, built in so `hubgate demo` needs no files.
pub const DEMO_CONFIG: &str = include_str!("../../site-configs/demo.toml");

/// Options of `hubgate demo`.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    pub duration: Option<f64>,
    pub json: bool,
    pub database: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub seed: u64,
}

/// Runs the demo until `duration` ends or Ctrl-C.
pub async fn demo(options: DemoOptions) -> Result<ExitCode, CommandError> {
    let env = demo_env();
    let site = match &options.config {
        Some(path) => load_site(path, &env)?,
        None => load_site_str(DEMO_CONFIG, Path::new("demo.toml"), &env)?,
    };
    let mut config = site.loaded.config;
    let sim = SimOptions {
        seed: options.seed,
        ..SimOptions::default()
    };
    let world = SimWorld::from_config(&config, &site.registry, sim)
        .map_err(|e| CommandError::Other(e.to_string()))?;
    let world = Arc::new(Mutex::new(world));
    let servers = serve(Arc::clone(&world), &config, Ports::Free).await?;
    servers.rewrite(&mut config);

    let (db_path, temporary) = match &options.database {
        Some(p) => (p.clone(), false),
        None => (
            std::env::temp_dir().join(format!("hubgate-demo-{}.db", std::process::id())),
            true,
        ),
    };
    config.storage.database = Some(db_path.clone());
    let writer =
        crate::daemon::open_store(&db_path).map_err(|e| CommandError::Other(e.to_string()))?;

    let config = Arc::new(config);
    let (view_tx, mut view_rx) = watch::channel(SiteView::default());
    let (heartbeat_tx, _heartbeat_rx) = watch::channel(0u64);
    let (limits_tx, limits_rx) = watch::channel(ExternalLimits::default());
    let mqtt = crate::mqtt::MqttTask::start(&config, view_tx.subscribe(), limits_tx.clone())
        .map_err(|e| CommandError::Other(e.to_string()))?;
    let (record_tx, mut record_rx) = mpsc::channel::<CycleRecord>(1024);
    let clock = run_clock(Arc::clone(&world), Duration::from_millis(100));
    let (stop_tx, stop_rx) = watch::channel(false);
    let recorder = crate::recorder::spawn(
        view_tx.subscribe(),
        writer.clone(),
        Duration::from_secs(60),
        crate::recorder::retention(&config.storage),
        stop_rx,
    );
    let runtime = SiteRuntime::start(
        Arc::clone(&config),
        &site.registry,
        SiteChannels {
            view: view_tx.clone(),
            heartbeat: heartbeat_tx,
            limits: limits_rx,
            records: Some(record_tx),
        },
    )
    .map_err(|e| CommandError::Other(e.to_string()))?;
    let sessions = Sessions::start(SessionConfig {
        site: Arc::clone(&config),
        chargers: runtime.chargers().to_vec(),
        writer: writer.clone(),
        db_path: db_path.clone(),
        limits: limits_tx,
        view: view_tx,
        restart: None,
    })
    .map_err(|e| CommandError::Other(e.to_string()))?;
    let cards = present_cards(Arc::clone(&world), &config, sessions.reader.clone());

    let mut records = Vec::new();
    let live = !options.json;
    let terminal = std::io::stdout().is_terminal();
    let mut signals = Signals::install()?;
    let deadline = options
        .duration
        .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    loop {
        let until_end = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = until_end => break,
            r = signals.next() => if r == Request::Shutdown { break },
            Some(rec) = record_rx.recv() => records.push(rec),
            changed = view_rx.changed() => {
                if changed.is_err() {
                    break;
                }
                if live {
                    let text = render(&view_rx.borrow_and_update());
                    let mut out = std::io::stdout().lock();
                    if terminal {
                        // Clear the screen and draw from the top left.
                        let _ = write!(out, "\x1b[2J\x1b[H");
                    }
                    let _ = writeln!(out, "{text}");
                    let _ = out.flush();
                }
            }
        }
    }
    cards.abort();
    sessions.stop().await;
    runtime.stop().await;
    if let Some(m) = mqtt {
        m.stop().await;
    }
    while let Ok(rec) = record_rx.try_recv() {
        records.push(rec);
    }
    clock.abort();
    drop(servers);
    let _ = stop_tx.send(true);
    let _ = recorder.await;
    let _ = writer.shutdown().await;
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
        }
        let _ = std::fs::remove_file(crate::mqtt::persist::state_file_for(&db_path));
    }
    if options.json {
        let text =
            serde_json::to_string(&records).map_err(|e| CommandError::Other(e.to_string()))?;
        println!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The process environment, with security profile 0 for a CSMS given only by URL: the demo
/// talks to lab CSMSes (`HUBGATE__OCPP__CSMS_URL=ws://127.0.0.1:9000/ocpp hubgate demo`).
fn demo_env() -> EnvSource {
    let mut vars: std::collections::HashMap<String, String> = std::env::vars().collect();
    let has = |k: &str| vars.keys().any(|v| v.eq_ignore_ascii_case(k));
    if has("HUBGATE__OCPP__CSMS_URL") && !has("HUBGATE__OCPP__SECURITY_PROFILE") {
        vars.insert("HUBGATE__OCPP__SECURITY_PROFILE".into(), "0".into());
    }
    EnvSource::Map(vars)
}

/// The demo's drivers hold their card to the site's reader when they plug in.
fn present_cards(
    world: SharedWorld,
    config: &crate::config::SiteConfig,
    reader: mpsc::Sender<(u32, String)>,
) -> JoinHandle<()> {
    let connectors: Vec<(String, u32)> = config
        .chargers
        .iter()
        .map(|c| (c.name.clone(), c.connector))
        .collect();
    tokio::spawn(async move {
        let mut shown: std::collections::HashSet<u32> = Default::default();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let cars: Vec<(u32, Option<String>)> = {
                let w = lock(&world);
                connectors
                    .iter()
                    .map(|(name, connector)| {
                        let car = w
                            .charger_index(name)
                            .and_then(|i| w.site.chargers.get(i))
                            .and_then(|c| c.car.as_ref().map(|car| car.id_tag.clone()));
                        (*connector, car)
                    })
                    .collect()
            };
            for (connector, card) in cars {
                match card {
                    Some(tag) if shown.insert(connector) => {
                        if reader.send((connector, tag)).await.is_err() {
                            return;
                        }
                    }
                    Some(_) => {}
                    None => {
                        shown.remove(&connector);
                    }
                }
            }
        }
    })
}
