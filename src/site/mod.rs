//! A running site: its buses, a task per device, and the control loop, started from a checked
//! config and stopped as one.

mod buses;
mod load;

pub use buses::{options as bus_options, parity, transport};
pub use load::{LoadedSite, SiteLoadError, load_site, load_site_str};

use crate::balance::SiteModel;
use crate::config::SiteConfig;
use crate::control::{self, CycleRecord, Devices, ExternalLimits, LoopIo};
use crate::device::{self, DeviceCommand, DeviceSpec, DeviceState, Role};
use crate::driver::Registry;
use crate::modbus::{Bus, BusHandle};
use crate::view::SiteView;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::info;

/// Why a site could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{device}: no driver named {driver}")]
    UnknownDriver { device: String, driver: String },
    #[error("{device}: no bus named {bus}")]
    UnknownBus { device: String, bus: String },
    #[error("{0}")]
    Model(String),
}

/// What the running site reports to and takes from the rest of the daemon.
pub struct SiteChannels {
    pub view: watch::Sender<SiteView>,
    pub heartbeat: watch::Sender<u64>,
    pub limits: watch::Receiver<ExternalLimits>,
    pub records: Option<mpsc::Sender<CycleRecord>>,
}

/// What the sessions need of one charger: its state, its one-off commands.
#[derive(Debug, Clone)]
pub struct ChargerLink {
    pub name: String,
    pub connector: u32,
    pub state: watch::Receiver<DeviceState>,
    pub commands: mpsc::Sender<DeviceCommand>,
    /// Its driver can unlock the cable.
    pub unlockable: bool,
}

/// The running site.
pub struct SiteRuntime {
    buses: Vec<BusHandle>,
    chargers: Vec<ChargerLink>,
    control: JoinHandle<Devices>,
    stop: watch::Sender<bool>,
}

impl SiteRuntime {
    /// Opens the buses, starts a task per device and the control loop.
    pub fn start(
        config: Arc<SiteConfig>,
        registry: &Registry,
        channels: SiteChannels,
    ) -> Result<SiteRuntime, StartError> {
        let model = SiteModel::from_config(&config)
            .map(|m| m.with_failsafes(&config, registry))
            .map_err(|e| StartError::Model(e.to_string()))?;
        let mut buses: HashMap<&str, BusHandle> = HashMap::new();
        for b in &config.buses {
            buses.insert(
                b.name.as_str(),
                Bus::spawn(b.name.clone(), transport(b), bus_options(b)),
            );
        }
        let poll_period = Duration::from_millis(config.control.cycle_ms.max(50));
        let bus_of = |device: &str, bus: &str| {
            buses
                .get(bus)
                .cloned()
                .ok_or_else(|| StartError::UnknownBus {
                    device: device.to_string(),
                    bus: bus.to_string(),
                })
        };
        let driver_of = |device: &str, name: &str| {
            registry.get(name).ok_or_else(|| StartError::UnknownDriver {
                device: device.to_string(),
                driver: name.to_string(),
            })
        };
        let mut chargers = Vec::new();
        let mut links = Vec::new();
        for c in &config.chargers {
            let spec = DeviceSpec {
                name: c.name.clone(),
                role: Role::Charger,
                unit: c.unit,
                driver: driver_of(&c.name, &c.driver)?,
                poll_period,
                phases: u8::try_from(c.wiring.len()).unwrap_or(3),
                nominal_voltage_v: config.site.nominal_voltage_v,
                failsafe_current_a: Some(config.site.fallback_current_a),
            };
            let unlockable = !spec.driver.unlock_writes().is_empty();
            let handle = device::spawn(spec, bus_of(&c.name, &c.bus)?);
            links.push(ChargerLink {
                name: c.name.clone(),
                connector: c.connector,
                state: handle.state.clone(),
                commands: handle.commands.clone(),
                unlockable,
            });
            chargers.push(handle);
        }
        let mut meters = Vec::new();
        for m in &config.meters {
            let spec = DeviceSpec {
                name: m.name.clone(),
                role: Role::Meter,
                unit: m.unit,
                driver: driver_of(&m.name, &m.driver)?,
                poll_period,
                phases: u8::try_from(m.wiring.len()).unwrap_or(3),
                nominal_voltage_v: config.site.nominal_voltage_v,
                failsafe_current_a: None,
            };
            meters.push(device::spawn(spec, bus_of(&m.name, &m.bus)?));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let io = LoopIo {
            view: channels.view,
            heartbeat: channels.heartbeat,
            limits: channels.limits,
            records: channels.records,
            stop: stop_rx,
        };
        let control = tokio::spawn(control::run(
            config.clone(),
            model,
            Devices { chargers, meters },
            io,
        ));
        info!(site = %config.site.id, "site started");
        Ok(SiteRuntime {
            buses: buses.into_values().collect(),
            chargers: links,
            control,
            stop: stop_tx,
        })
    }

    /// Every charger's state and command channel, in config order.
    pub fn chargers(&self) -> &[ChargerLink] {
        &self.chargers
    }

    /// Stops the control loop, the device tasks and the buses. Chargers keep their last setpoint
    /// and fall to their own failsafe when their keep-alive timeout passes.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Ok(devices) = self.control.await {
            for d in devices.chargers.into_iter().chain(devices.meters) {
                d.stop().await;
            }
        }
        for b in self.buses {
            b.close().await;
        }
    }
}
