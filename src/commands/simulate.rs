//! `hubgate simulate`: the devices of a site config, simulated, on the buses it names.

use super::CommandError;
use crate::config::EnvSource;
use crate::service::{Request, Signals};
use crate::sim::serve::{Endpoint, Ports, lock, run_clock, serve};
use crate::sim::world::{SimOptions, SimWorld};
use crate::site::load_site;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Serves every charger and meter of the config at `path` until interrupted or `duration` ends.
pub async fn simulate(
    path: &Path,
    seed: u64,
    traffic: bool,
    duration: Option<f64>,
) -> Result<ExitCode, CommandError> {
    let site = load_site(path, &EnvSource::Process)?;
    let mut options = SimOptions {
        seed,
        ..SimOptions::default()
    };
    if !traffic {
        options.traffic = None;
    }
    let world = SimWorld::from_config(&site.loaded.config, &site.registry, options)
        .map_err(|e| CommandError::Other(e.to_string()))?;
    let world = Arc::new(Mutex::new(world));
    let servers = serve(Arc::clone(&world), &site.loaded.config, Ports::AsConfigured).await?;
    for (bus, endpoint) in &servers.endpoints {
        match endpoint {
            Endpoint::Tcp(a) => println!("bus {bus}: Modbus TCP on {a}"),
            Endpoint::RtuOverTcp(a) => println!("bus {bus}: Modbus RTU over TCP on {a}"),
            Endpoint::Rtu(p) => println!("bus {bus}: Modbus RTU on {}", p.display()),
        }
    }
    println!(
        "simulating {} devices of site {}; Ctrl-C stops",
        lock(&world).devices.len(),
        site.loaded.config.site.id
    );
    let clock = run_clock(Arc::clone(&world), Duration::from_millis(100));
    let mut signals = Signals::install()?;
    let stop = async {
        loop {
            if signals.next().await == Request::Shutdown {
                break;
            }
        }
    };
    match duration {
        Some(s) => {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(s.max(0.0))) => {}
                _ = stop => {}
            }
        }
        None => stop.await,
    }
    clock.abort();
    drop(servers);
    Ok(ExitCode::SUCCESS)
}
