//! The simulated site as Modbus devices: the physics of [`super::model`] behind the register
//! images of the devices' driver files. The servers in [`super::serve`] answer requests from it.

use super::load::{LoadProfile, Surge};
use super::model::{ChargerSpec, Physics, PilotState, SimSite, Traffic};
use crate::config::{Circuit, SiteConfig};
use crate::driver::image::{ChargerState, Command, MeterState, RegisterImage};
use crate::driver::{IecState, Registry};
use crate::modbus::{ModbusException, RegisterKind};
use crate::phase::{PerPhase, Phase, Wiring};
use std::collections::HashMap;

/// Why a site config cannot be simulated.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{device}: no driver named {driver}")]
    UnknownDriver { device: String, driver: String },
    #[error("{device}: {message}")]
    Device { device: String, message: String },
}

/// What a simulated device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A meter on a circuit (`None` = the grid connection).
    Meter { circuit: Option<usize> },
    /// A charger: index into the site's chargers.
    Charger { index: usize },
}

/// One device as the bus sees it.
#[derive(Debug)]
pub struct SimDevice {
    pub name: String,
    pub bus: String,
    pub unit: u8,
    pub kind: DeviceKind,
    /// Grid phase of each of the device's phases.
    pub wiring: Vec<Phase>,
    pub image: RegisterImage,
    /// False while the device plays dead (no answer at all).
    pub online: bool,
    /// Read requests it answered.
    pub reads: u64,
    /// A wrong value it reports on one phase, while a fault is injected.
    pub fault: Option<PhaseFault>,
}

/// A device reporting `current_a` on its phase `phase` instead of what flows there (NaN, an
/// infinity, an absurd value): a broken meter or register.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseFault {
    pub phase: Phase,
    pub current_a: f64,
}

impl PhaseFault {
    fn apply(&self, mut currents: PerPhase<f64>) -> PerPhase<f64> {
        currents[self.phase] = self.current_a;
        currents
    }
}

/// Options of the simulated world beyond the site config.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    pub physics: Physics,
    /// Cars arriving and leaving; `None` = no cars unless a test plugs them in.
    pub traffic: Option<Traffic>,
    /// Non-EV load of the grid connection (the building), A per phase.
    pub building: Option<LoadProfile>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 1,
            physics: Physics::default(),
            traffic: Some(Traffic::default()),
            building: Some(demo_building()),
        }
    }
}

/// A shop's load: a base with a slow swing and a 35 A surge on L1 for a while every few minutes.
/// The surge leaves the shop within the connection's limit, so what the demo shows is the cars
/// on L1 making room for it.
pub fn demo_building() -> LoadProfile {
    LoadProfile {
        base: PerPhase([14.0, 9.0, 11.0]),
        swing_a: 4.0,
        period_s: 300.0,
        surges: (0..100)
            .map(|i| Surge {
                start_s: 25.0 + 180.0 * f64::from(i),
                duration_s: 40.0,
                amps: PerPhase([35.0, 0.0, 0.0]),
            })
            .collect(),
    }
}

/// The simulated site with its devices.
#[derive(Debug)]
pub struct SimWorld {
    pub site: SimSite,
    pub devices: Vec<SimDevice>,
    /// The highest current that really flowed at the grid connection per phase, since the world
    /// started or [`SimWorld::take_peak_grid`] was last called (A).
    pub peak_grid_a: PerPhase<f64>,
    index: HashMap<(String, u8), usize>,
}

impl SimWorld {
    /// Builds the world a site config describes: every charger and meter, with the drivers named
    /// in the config.
    pub fn from_config(
        config: &SiteConfig,
        registry: &Registry,
        options: SimOptions,
    ) -> Result<SimWorld, SimError> {
        let circuit_index: HashMap<&str, usize> = config
            .circuits
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let parents = config
            .circuits
            .iter()
            .map(|c: &Circuit| {
                c.parent
                    .as_deref()
                    .and_then(|p| circuit_index.get(p).copied())
            })
            .collect();
        let mut devices = Vec::new();
        let mut specs = Vec::new();
        for (index, ch) in config.chargers.iter().enumerate() {
            let driver = registry
                .get(&ch.driver)
                .ok_or_else(|| SimError::UnknownDriver {
                    device: ch.name.clone(),
                    driver: ch.driver.clone(),
                })?;
            let failsafe = driver
                .charger
                .as_ref()
                .map(|c| c.min_current_a)
                .unwrap_or(6.0);
            specs.push(ChargerSpec {
                wiring: Wiring(ch.wiring.clone()),
                circuit: ch
                    .circuit
                    .as_deref()
                    .and_then(|c| circuit_index.get(c).copied()),
                max_current_a: ch.max_current_a,
                failsafe_current_a: failsafe,
                failsafe_timeout_s: 60.0,
            });
            devices.push(SimDevice {
                name: ch.name.clone(),
                bus: ch.bus.clone(),
                unit: ch.unit,
                kind: DeviceKind::Charger { index },
                wiring: ch.wiring.clone(),
                image: RegisterImage::new(driver),
                online: true,
                reads: 0,
                fault: None,
            });
        }
        for m in &config.meters {
            let driver = registry
                .get(&m.driver)
                .ok_or_else(|| SimError::UnknownDriver {
                    device: m.name.clone(),
                    driver: m.driver.clone(),
                })?;
            let circuit = if config.site.grid_meter.as_deref() == Some(m.name.as_str()) {
                None
            } else {
                let c = config
                    .circuits
                    .iter()
                    .position(|c| c.meter.as_deref() == Some(m.name.as_str()));
                if c.is_none() {
                    return Err(SimError::Device {
                        device: m.name.clone(),
                        message: "the meter measures no circuit and is not the grid meter".into(),
                    });
                }
                c
            };
            devices.push(SimDevice {
                name: m.name.clone(),
                bus: m.bus.clone(),
                unit: m.unit,
                kind: DeviceKind::Meter { circuit },
                wiring: m.wiring.clone(),
                image: RegisterImage::new(driver),
                online: true,
                reads: 0,
                fault: None,
            });
        }
        let mut site = SimSite::new(
            options.seed,
            options.physics,
            specs,
            parents,
            options.traffic,
        );
        let grid = site.grid();
        site.load_profiles[grid] = options.building;
        let index = devices
            .iter()
            .enumerate()
            .map(|(i, d)| ((d.bus.clone(), d.unit), i))
            .collect();
        let mut world = SimWorld {
            site,
            devices,
            peak_grid_a: PerPhase::ZERO,
            index,
        };
        world.step(0.0);
        Ok(world)
    }

    /// Advances the physics by `dt_s` and refreshes every device's registers.
    pub fn step(&mut self, dt_s: f64) {
        if dt_s > 0.0 {
            self.site.step(dt_s);
        }
        let grid = self.site.meter(None).current_a;
        self.peak_grid_a = self.peak_grid_a.zip(grid, f64::max);
        let v = self.site.physics.voltage_v;
        for d in &mut self.devices {
            match d.kind {
                DeviceKind::Meter { circuit } => {
                    let m = self.site.meter(circuit);
                    // The meter's phase i measures grid phase wiring[i].
                    let pick = |grid: PerPhase<f64>| {
                        PerPhase(std::array::from_fn(|i| {
                            d.wiring.get(i).map(|p| grid[*p]).unwrap_or(0.0)
                        }))
                    };
                    let currents = pick(m.current_a);
                    d.image.set_meter(&MeterState {
                        currents_a: d.fault.map_or(currents, |f| f.apply(currents)),
                        voltages_v: pick(m.voltage_v),
                        powers_w: pick(m.power_w),
                        energy_import_wh: m.import_wh,
                        energy_export_wh: m.export_wh,
                        frequency_hz: m.frequency_hz,
                    });
                }
                DeviceKind::Charger { index } => {
                    let c = &self.site.chargers[index];
                    let iec = match c.pilot() {
                        PilotState::A => IecState::A,
                        PilotState::B => IecState::B,
                        PilotState::C => IecState::C,
                        PilotState::F => IecState::F,
                    };
                    d.image.set_charger(&ChargerState {
                        iec,
                        faulted: c.faulted,
                        currents_a: d
                            .fault
                            .map_or(PerPhase(c.draw_a), |f| f.apply(PerPhase(c.draw_a))),
                        voltages_v: PerPhase::splat(v),
                        power_w: c.power_w(v),
                        energy_import_wh: c.total_energy_wh,
                        session_energy_wh: c.session_energy_wh,
                        current_limit_a: c.setpoint_a,
                        enabled: c.enabled,
                        max_current_a: c.spec.max_current_a,
                        id_tag: c.car.as_ref().map(|car| car.id_tag.clone()),
                        serial_number: format!("SIM-{}", d.name),
                    });
                }
            }
        }
    }

    fn device(&mut self, bus: &str, unit: u8) -> Option<&mut SimDevice> {
        let i = *self.index.get(&(bus.to_string(), unit))?;
        let d = self.devices.get_mut(i)?;
        let online = d.online
            && match d.kind {
                DeviceKind::Charger { index } => self.site.chargers[index].online,
                DeviceKind::Meter { .. } => true,
            };
        online.then_some(d)
    }

    /// Answers a read; `None` when no device answers at that unit (the request times out).
    pub fn read(
        &mut self,
        bus: &str,
        unit: u8,
        kind: RegisterKind,
        address: u16,
        count: u16,
    ) -> Option<Result<Vec<u16>, ModbusException>> {
        let d = self.device(bus, unit)?;
        d.reads += 1;
        Some(d.image.read(kind, address, count))
    }

    /// Applies a write; `None` when no device answers at that unit.
    pub fn write(
        &mut self,
        bus: &str,
        unit: u8,
        address: u16,
        values: &[u16],
    ) -> Option<Result<(), ModbusException>> {
        let now = self.site.now_s;
        let d = self.device(bus, unit)?;
        let kind = d.kind;
        let commands = match d.image.write(address, values) {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        if let DeviceKind::Charger { index } = kind {
            let c = &mut self.site.chargers[index];
            for command in commands {
                match command {
                    Command::SetCurrent(a) => c.write_setpoint(a, now),
                    Command::Enable(on) => {
                        c.enabled = on;
                        c.keep_alive(now);
                    }
                    Command::KeepAlive => c.keep_alive(now),
                    Command::FailsafeCurrent(a) => c.spec.failsafe_current_a = a,
                    Command::FailsafeTimeout(t) => c.spec.failsafe_timeout_s = t.as_secs_f64(),
                    Command::PhaseSwitch(_) | Command::Unlock => c.keep_alive(now),
                }
            }
        }
        Some(Ok(()))
    }

    /// Makes the device named `name` stop answering (or answer again). False if there is none.
    pub fn set_online(&mut self, name: &str, online: bool) -> bool {
        let mut found = false;
        for d in self.devices.iter_mut().filter(|d| d.name == name) {
            d.online = online;
            found = true;
        }
        found
    }

    /// Makes the device named `name` report a wrong value on one phase (`None`: the true ones
    /// again). False if there is none.
    pub fn set_fault(&mut self, name: &str, fault: Option<PhaseFault>) -> bool {
        let mut found = false;
        for d in self.devices.iter_mut().filter(|d| d.name == name) {
            d.fault = fault;
            found = true;
        }
        if found {
            self.step(0.0);
        }
        found
    }

    /// The peak grid current per phase since the last call, and starts a new one.
    pub fn take_peak_grid(&mut self) -> PerPhase<f64> {
        std::mem::replace(&mut self.peak_grid_a, PerPhase::ZERO)
    }

    /// The charger named `name`, for tests and the demo (unplug a car, kill a charger).
    pub fn charger_index(&self, name: &str) -> Option<usize> {
        self.devices.iter().find_map(|d| match d.kind {
            DeviceKind::Charger { index } if d.name == name => Some(index),
            _ => None,
        })
    }
}
