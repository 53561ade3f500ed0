//! A device's registers as the device would hold them (pure): the inverse of decoding, so the
//! simulator serves every device from the same driver files the daemon reads them with.

use super::codec::{DataType, Raw, Unit, decode_raw, encode_raw};
use super::model::Driver;
use super::reading::{ConnectorStatus, IecState};
use crate::modbus::{ModbusException, RegisterKind};
use crate::phase::PerPhase;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A meter's physical state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeterState {
    /// Per device phase.
    pub currents_a: PerPhase<f64>,
    pub voltages_v: PerPhase<f64>,
    pub powers_w: PerPhase<f64>,
    pub energy_import_wh: f64,
    pub energy_export_wh: f64,
    pub frequency_hz: f64,
}

/// A charger's physical state.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerState {
    pub iec: IecState,
    pub faulted: bool,
    /// Per device phase.
    pub currents_a: PerPhase<f64>,
    pub voltages_v: PerPhase<f64>,
    pub power_w: f64,
    pub energy_import_wh: f64,
    pub session_energy_wh: f64,
    pub current_limit_a: f64,
    pub enabled: bool,
    pub max_current_a: f64,
    pub id_tag: Option<String>,
    pub serial_number: String,
}

/// What a write to the device asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    SetCurrent(f64),
    Enable(bool),
    FailsafeCurrent(f64),
    FailsafeTimeout(Duration),
    KeepAlive,
    PhaseSwitch(u8),
    Unlock,
}

/// The registers of one device.
#[derive(Debug, Clone)]
pub struct RegisterImage {
    driver: Arc<Driver>,
    holding: BTreeMap<u16, u16>,
    input: BTreeMap<u16, u16>,
    nominal_voltage_v: f64,
}

/// What a writable register is for.
#[derive(Debug, Clone, Copy)]
enum Target {
    Limit,
    Enable { on: i128 },
    FailsafeCurrent(Unit),
    FailsafeTimeout(Unit),
    KeepAlive,
    PhaseSwitch { one: i128 },
    Unlock,
}

impl RegisterImage {
    pub fn new(driver: Arc<Driver>) -> Self {
        RegisterImage {
            driver,
            holding: BTreeMap::new(),
            input: BTreeMap::new(),
            nominal_voltage_v: 230.0,
        }
    }

    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    fn put(&mut self, name: &str, value: Option<f64>, text: Option<&str>) {
        let Some(v) = self.driver.file.values.get(name).cloned() else {
            return;
        };
        let kind = self.driver.value_kind(&v);
        let order = self.driver.value_order(&v);
        let raw = match (v.ty, text, value) {
            (DataType::String, Some(t), _) => Raw::Text(t.to_string()),
            (DataType::String, None, _) => Raw::Text(String::new()),
            (_, _, None) => match v.not_available {
                Some(na) => Raw::Int(na),
                None => return,
            },
            (ty, _, Some(x)) => {
                let raw = x / (v.scale * v.unit.factor());
                if ty.is_integer() {
                    Raw::Int(raw.round() as i128)
                } else {
                    Raw::Float(raw)
                }
            }
        };
        let words = encode_raw(&raw, v.ty, order, v.registers.unwrap_or(0));
        let map = match kind {
            RegisterKind::Holding => &mut self.holding,
            RegisterKind::Input => &mut self.input,
        };
        for (i, w) in words.into_iter().enumerate() {
            map.insert(v.address.wrapping_add(i as u16), w);
        }
    }

    fn put_raw(&mut self, name: &str, raw: i128) {
        if let Some(v) = self.driver.file.values.get(name) {
            let factor = v.scale * v.unit.factor();
            self.put(name, Some(raw as f64 * factor), None);
        }
    }

    /// Fills every value a meter driver defines.
    pub fn set_meter(&mut self, m: &MeterState) {
        for (i, ph) in ["l1", "l2", "l3"].iter().enumerate() {
            self.put(&format!("current_{ph}"), Some(m.currents_a.0[i]), None);
            self.put(&format!("voltage_{ph}"), Some(m.voltages_v.0[i]), None);
            self.put(&format!("power_{ph}"), Some(m.powers_w.0[i]), None);
        }
        self.put("power", Some(m.powers_w.sum()), None);
        self.put("energy_import", Some(m.energy_import_wh), None);
        self.put("energy_export", Some(m.energy_export_wh), None);
        self.put("frequency", Some(m.frequency_hz), None);
    }

    /// Fills every value a charger driver defines.
    pub fn set_charger(&mut self, c: &ChargerState) {
        for (i, ph) in ["l1", "l2", "l3"].iter().enumerate() {
            self.put(&format!("current_{ph}"), Some(c.currents_a.0[i]), None);
            self.put(&format!("voltage_{ph}"), Some(c.voltages_v.0[i]), None);
            self.put(
                &format!("power_{ph}"),
                Some(c.currents_a.0[i] * c.voltages_v.0[i]),
                None,
            );
        }
        self.put("power", Some(c.power_w), None);
        self.put("energy_import", Some(c.energy_import_wh), None);
        self.put("session_energy", Some(c.session_energy_wh), None);
        self.put("current_limit", Some(c.current_limit_a), None);
        self.put("max_current", Some(c.max_current_a), None);
        self.put("cable_max_current", Some(c.max_current_a), None);
        let in_use = if c.currents_a.0[1] > 0.5 || c.currents_a.0[2] > 0.5 {
            3.0
        } else {
            1.0
        };
        self.put("phases_in_use", Some(in_use), None);
        self.put("id_tag", None, Some(c.id_tag.as_deref().unwrap_or("")));
        self.put("serial_number", None, Some(&c.serial_number));
        self.put("firmware_version", None, Some("sim-1.0"));
        if let Some(spec) = self.driver.charger.clone() {
            let wanted = if c.faulted {
                ConnectorStatus::Faulted
            } else {
                match c.iec {
                    IecState::A => ConnectorStatus::Available,
                    IecState::B if !c.enabled || c.current_limit_a < 1.0 => {
                        ConnectorStatus::SuspendedEVSE
                    }
                    IecState::B => ConnectorStatus::SuspendedEV,
                    IecState::C | IecState::D => ConnectorStatus::Charging,
                    IecState::E | IecState::F => ConnectorStatus::Faulted,
                }
            };
            let iec = if c.faulted { IecState::F } else { c.iec };
            let pick = spec
                .states
                .iter()
                .find(|s| s.iec == iec && s.ocpp == wanted)
                .or_else(|| spec.states.iter().find(|s| s.iec == iec))
                .or_else(|| spec.states.iter().find(|s| s.ocpp == wanted));
            if let Some(s) = pick {
                self.put_raw("status", s.raw);
            }
            let code = if c.faulted {
                spec.no_error + 1
            } else {
                spec.no_error
            };
            self.put_raw("error_code", code);
        }
    }

    /// Answers a read: registers nobody defined read as 0 inside a read that touches a defined
    /// one; a read touching none is refused like a real device would (IllegalDataAddress).
    pub fn read(
        &self,
        kind: RegisterKind,
        address: u16,
        count: u16,
    ) -> Result<Vec<u16>, ModbusException> {
        let map = match kind {
            RegisterKind::Holding => &self.holding,
            RegisterKind::Input => &self.input,
        };
        let end = u32::from(address) + u32::from(count);
        if count == 0 || end > 65_536 {
            return Err(ModbusException::IllegalDataAddress);
        }
        let end = (end - 1) as u16;
        if map.range(address..=end).next().is_none() && !self.writable_in(kind, address, end) {
            return Err(ModbusException::IllegalDataAddress);
        }
        Ok((address..=end)
            .map(|a| map.get(&a).copied().unwrap_or(0))
            .collect())
    }

    fn writable_in(&self, kind: RegisterKind, start: u16, end: u16) -> bool {
        kind == RegisterKind::Holding
            && self
                .targets()
                .iter()
                .any(|(a, _, _)| *a >= start && *a <= end)
    }

    fn targets(&self) -> Vec<(u16, DataType, Target)> {
        let Some(c) = &self.driver.charger else {
            return Vec::new();
        };
        let mut t = vec![(c.current_limit.address, c.current_limit.ty, Target::Limit)];
        if let Some(e) = &c.enable {
            t.push((e.address, e.ty, Target::Enable { on: e.on }));
        }
        if let Some(f) = &c.failsafe {
            if let (Some(a), Some(ty)) = (f.current_address, f.current_type) {
                t.push((
                    a,
                    ty,
                    Target::FailsafeCurrent(f.current_unit.unwrap_or(Unit::A)),
                ));
            }
            if let (Some(a), Some(ty)) = (f.timeout_address, f.timeout_type) {
                t.push((
                    a,
                    ty,
                    Target::FailsafeTimeout(f.timeout_unit.unwrap_or(Unit::Second)),
                ));
            }
        }
        if let Some(k) = &c.keepalive
            && let (Some(a), Some(ty)) = (k.address, k.ty)
        {
            t.push((a, ty, Target::KeepAlive));
        }
        if let Some(p) = &c.phase_switch {
            t.push((p.address, p.ty, Target::PhaseSwitch { one: p.one_phase }));
        }
        if let Some(u) = &c.unlock {
            t.push((u.address, u.ty, Target::Unlock));
        }
        t
    }

    /// Applies a write of `values` at `address`; returns what it asked for. Writes that do not
    /// start on a writable register are refused (IllegalDataAddress).
    pub fn write(&mut self, address: u16, values: &[u16]) -> Result<Vec<Command>, ModbusException> {
        let targets = self.targets();
        let order = self.driver.file.modbus.word_order;
        let limit_order = self
            .driver
            .charger
            .as_ref()
            .and_then(|c| c.current_limit.word_order)
            .unwrap_or(order);
        let mut commands = Vec::new();
        let mut offset = 0usize;
        while offset < values.len() {
            let at = address.wrapping_add(offset as u16);
            let Some((_, ty, target)) = targets.iter().find(|(a, _, _)| *a == at) else {
                return Err(ModbusException::IllegalDataAddress);
            };
            let width = usize::from(ty.width(0));
            if offset + width > values.len() {
                return Err(ModbusException::IllegalDataValue);
            }
            let words = &values[offset..offset + width];
            let word_order = if matches!(target, Target::Limit) {
                limit_order
            } else {
                order
            };
            let number = match decode_raw(words, *ty, word_order) {
                Some(Raw::Int(i)) => i as f64,
                Some(Raw::Float(f)) => f,
                _ => return Err(ModbusException::IllegalDataValue),
            };
            commands.push(self.command(*target, number)?);
            for (i, w) in words.iter().enumerate() {
                self.holding.insert(at.wrapping_add(i as u16), *w);
            }
            offset += width;
        }
        Ok(commands)
    }

    fn command(&self, target: Target, number: f64) -> Result<Command, ModbusException> {
        Ok(match target {
            Target::Limit => {
                let l = self
                    .driver
                    .charger
                    .as_ref()
                    .map(|c| c.current_limit.clone());
                let Some(l) = l else {
                    return Err(ModbusException::IllegalDataAddress);
                };
                let canonical = number * l.unit.factor();
                let amps = match l.unit.quantity() {
                    super::codec::Quantity::Power => {
                        canonical / (self.nominal_voltage_v * f64::from(self.driver.phases.max(1)))
                    }
                    _ => canonical,
                };
                if !amps.is_finite() || amps < 0.0 {
                    return Err(ModbusException::IllegalDataValue);
                }
                Command::SetCurrent(amps)
            }
            Target::Enable { on } => Command::Enable(number as i128 == on),
            Target::FailsafeCurrent(u) => Command::FailsafeCurrent(number * u.factor()),
            Target::FailsafeTimeout(u) => {
                Command::FailsafeTimeout(Duration::from_secs_f64((number * u.factor()).max(0.0)))
            }
            Target::KeepAlive => Command::KeepAlive,
            Target::PhaseSwitch { one } => {
                Command::PhaseSwitch(if number as i128 == one { 1 } else { 3 })
            }
            Target::Unlock => Command::Unlock,
        })
    }
}
