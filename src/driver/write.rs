//! Register writes a charger needs (pure): the setpoint, pause/enable, its own failsafe, the
//! keep-alive, phase switching, unlocking.

use super::codec::{DataType, Quantity, Raw, Unit, encode_raw};
use super::model::Driver;
use super::schema::KeepaliveMode;
pub use super::schema::WriteFunction;
use std::time::Duration;

/// One write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterWrite {
    pub address: u16,
    pub values: Vec<u16>,
    pub function: WriteFunction,
}

/// What keeps a charger from falling back to its failsafe while hubgate runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Keepalive {
    /// Writes to make every period (empty when the setpoint itself is rewritten).
    pub writes: Vec<RegisterWrite>,
    pub period: Duration,
    /// The current limit must be rewritten every period.
    pub rewrite_setpoint: bool,
}

impl Driver {
    fn write(
        &self,
        address: u16,
        ty: DataType,
        raw: Raw,
        function: Option<WriteFunction>,
    ) -> RegisterWrite {
        let values = encode_raw(&raw, ty, self.file.modbus.word_order, 0);
        let function = match function.unwrap_or(self.file.modbus.write) {
            WriteFunction::Single if values.len() == 1 => WriteFunction::Single,
            _ => WriteFunction::Multiple,
        };
        RegisterWrite {
            address,
            values,
            function,
        }
    }

    /// The raw register value for `amps` in the setpoint's unit (W: over `phases` at `voltage`).
    pub fn setpoint_raw(&self, amps: f64, nominal_voltage_v: f64, phases: u8) -> Option<f64> {
        let l = &self.charger.as_ref()?.current_limit;
        let canonical = match l.unit.quantity() {
            Quantity::Power => amps * nominal_voltage_v * f64::from(phases.max(1)),
            _ => amps,
        };
        Some(canonical / l.unit.factor())
    }

    /// The writes that set the current limit to `amps`; 0 pauses the charger (a zero limit, or
    /// the enable register switched off when the charger does not pause at 0).
    pub fn setpoint_writes(
        &self,
        amps: f64,
        nominal_voltage_v: f64,
        phases: u8,
    ) -> Vec<RegisterWrite> {
        let Some(c) = &self.charger else {
            return Vec::new();
        };
        let amps = if amps.is_finite() { amps.max(0.0) } else { 0.0 };
        let l = &c.current_limit;
        if amps <= 0.0 && !l.zero_pauses {
            return self.enable_writes(false);
        }
        let raw = self
            .setpoint_raw(amps, nominal_voltage_v, phases)
            .unwrap_or(0.0);
        let value = if l.ty.is_integer() {
            Raw::Int((raw + 1e-6).floor() as i128) // never more than given
        } else {
            Raw::Float(not_above(raw, l.ty))
        };
        let order = l.word_order.unwrap_or(self.file.modbus.word_order);
        let values = encode_raw(&value, l.ty, order, 0);
        let function = match l.function.unwrap_or(self.file.modbus.write) {
            WriteFunction::Single if values.len() == 1 => WriteFunction::Single,
            _ => WriteFunction::Multiple,
        };
        let mut out = vec![RegisterWrite {
            address: l.address,
            values,
            function,
        }];
        if amps > 0.0 {
            out.extend(self.enable_writes(true));
        }
        out
    }

    /// Switches charging on or off through the enable register, if the charger has one.
    pub fn enable_writes(&self, on: bool) -> Vec<RegisterWrite> {
        let Some(e) = self.charger.as_ref().and_then(|c| c.enable.as_ref()) else {
            return Vec::new();
        };
        vec![self.write(
            e.address,
            e.ty,
            Raw::Int(if on { e.on } else { e.off }),
            None,
        )]
    }

    /// Sets the charger's own failsafe: `current_a` and the driver's timeout.
    pub fn failsafe_writes(&self, current_a: f64) -> Vec<RegisterWrite> {
        let Some(f) = self.charger.as_ref().and_then(|c| c.failsafe.as_ref()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let (Some(a), Some(ty)) = (f.current_address, f.current_type) {
            let unit = f.current_unit.unwrap_or(Unit::A);
            let raw = current_a.max(0.0) / unit.factor();
            let value = if ty.is_integer() {
                Raw::Int(raw.round() as i128)
            } else {
                Raw::Float(raw)
            };
            out.push(self.write(a, ty, value, None));
        }
        if let (Some(a), Some(ty)) = (f.timeout_address, f.timeout_type) {
            let unit = f.timeout_unit.unwrap_or(Unit::Second);
            let raw = f.timeout_s / unit.factor();
            let value = if ty.is_integer() {
                Raw::Int(raw.round() as i128)
            } else {
                Raw::Float(raw)
            };
            out.push(self.write(a, ty, value, None));
        }
        out
    }

    /// The failsafe timeout the driver sets, if it sets one.
    pub fn failsafe_timeout(&self) -> Option<Duration> {
        let f = self.charger.as_ref()?.failsafe.as_ref()?;
        f.timeout_address
            .map(|_| Duration::from_secs_f64(f.timeout_s.max(0.0)))
    }

    /// The keep-alive, if the charger needs one.
    pub fn keepalive(&self) -> Option<Keepalive> {
        let k = self.charger.as_ref()?.keepalive.as_ref()?;
        let period = Duration::from_secs_f64(k.period_s.max(0.1));
        Some(match k.mode {
            KeepaliveMode::Rewrite => Keepalive {
                writes: Vec::new(),
                period,
                rewrite_setpoint: true,
            },
            KeepaliveMode::Register => Keepalive {
                writes: match (k.address, k.ty, k.value) {
                    (Some(a), Some(ty), Some(v)) => vec![self.write(a, ty, Raw::Int(v), None)],
                    _ => Vec::new(),
                },
                period,
                rewrite_setpoint: false,
            },
        })
    }

    /// Switches between 1 and 3 phases, if the charger can.
    pub fn phase_switch_writes(&self, phases: u8) -> Vec<RegisterWrite> {
        let Some(s) = self.charger.as_ref().and_then(|c| c.phase_switch.as_ref()) else {
            return Vec::new();
        };
        let v = if phases == 1 {
            s.one_phase
        } else {
            s.three_phase
        };
        vec![self.write(s.address, s.ty, Raw::Int(v), None)]
    }

    /// Unlocks the connector, if the charger can.
    pub fn unlock_writes(&self) -> Vec<RegisterWrite> {
        let Some(u) = self.charger.as_ref().and_then(|c| c.unlock.as_ref()) else {
            return Vec::new();
        };
        vec![self.write(u.address, u.ty, Raw::Int(u.value), None)]
    }
}

/// `raw` as the register's float type will hold it, never above `raw` (a 32-bit float can round up).
fn not_above(raw: f64, ty: super::codec::DataType) -> f64 {
    if ty == super::codec::DataType::F32 {
        let mut f = raw as f32;
        if f64::from(f) > raw {
            f = f.next_down();
        }
        f64::from(f)
    } else {
        raw
    }
}
