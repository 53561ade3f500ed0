//! The driver file format (`drivers/<name>.toml`): a device model's register map, as data.
//! Documented for driver authors in `docs/drivers.md`.

use super::codec::{DataType, Unit, WordOrder};
use super::reading::{ConnectorStatus, IecState};
use crate::config::DeviceKind;
use crate::modbus::RegisterKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole driver file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DriverFile {
    pub driver: Identity,
    #[serde(default)]
    pub modbus: ModbusSettings,
    #[serde(default)]
    pub values: BTreeMap<String, ValueSpec>,
    #[serde(default)]
    pub charger: Option<ChargerSpec>,
}

/// `[driver]`: what the device is and where the numbers come from.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub kind: Kind,
    #[serde(default)]
    pub firmware: Vec<String>,
    #[serde(default = "three")]
    pub phases: u8,
    #[serde(default)]
    pub notes: Option<String>,
    pub source: Source,
}

fn three() -> u8 {
    3
}

/// The kind as driver files spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Meter,
    Charger,
}

impl From<Kind> for DeviceKind {
    fn from(k: Kind) -> DeviceKind {
        match k {
            Kind::Meter => DeviceKind::Meter,
            Kind::Charger => DeviceKind::Charger,
        }
    }
}

/// `[driver.source]`: the vendor document the register numbers come from.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub document: String,
    pub version: String,
    #[serde(default)]
    pub url: Option<String>,
}

/// Function code for reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFunction {
    #[default]
    Holding,
    Input,
}

impl From<ReadFunction> for RegisterKind {
    fn from(f: ReadFunction) -> RegisterKind {
        match f {
            ReadFunction::Holding => RegisterKind::Holding,
            ReadFunction::Input => RegisterKind::Input,
        }
    }
}

/// Function code for writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteFunction {
    /// FC06, one register.
    #[default]
    Single,
    /// FC16.
    Multiple,
}

/// `[modbus]`: how the device wants to be talked to.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModbusSettings {
    pub function: ReadFunction,
    pub word_order: WordOrder,
    pub max_registers: u16,
    pub merge_gap: u16,
    pub merge_across_values: bool,
    pub write: WriteFunction,
    pub default_port: Option<u16>,
    pub default_unit: Option<u8>,
    pub default_baud: Option<u32>,
    pub default_parity: Option<String>,
}

impl Default for ModbusSettings {
    fn default() -> Self {
        ModbusSettings {
            function: ReadFunction::Holding,
            word_order: WordOrder::Big,
            max_registers: 125,
            merge_gap: 16,
            merge_across_values: true,
            write: WriteFunction::Single,
            default_port: None,
            default_unit: None,
            default_baud: None,
            default_parity: None,
        }
    }
}

/// `[values.<name>]`: one readable value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ValueSpec {
    pub address: u16,
    #[serde(rename = "type")]
    pub ty: DataType,
    #[serde(default = "no_unit")]
    pub unit: Unit,
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default)]
    pub function: Option<ReadFunction>,
    #[serde(default)]
    pub word_order: Option<WordOrder>,
    #[serde(default)]
    pub not_available: Option<i128>,
    /// Strings: register count.
    #[serde(default)]
    pub registers: Option<u16>,
}

fn no_unit() -> Unit {
    Unit::None
}
fn one() -> f64 {
    1.0
}

/// `[charger]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChargerSpec {
    #[serde(default = "six")]
    pub min_current_a: f64,
    pub max_current_a: f64,
    #[serde(default)]
    pub no_error: i128,
    pub states: Vec<StateMapping>,
    pub current_limit: CurrentLimit,
    #[serde(default)]
    pub enable: Option<Switch>,
    #[serde(default)]
    pub failsafe: Option<Failsafe>,
    #[serde(default)]
    pub keepalive: Option<Keepalive>,
    #[serde(default)]
    pub phase_switch: Option<PhaseSwitch>,
    #[serde(default)]
    pub unlock: Option<Trigger>,
}

fn six() -> f64 {
    6.0
}

/// `[[charger.states]]`: a raw status value's meaning.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StateMapping {
    pub raw: i128,
    pub iec: IecState,
    pub ocpp: ConnectorStatus,
}

/// `[charger.current_limit]`: the setpoint register.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentLimit {
    pub address: u16,
    #[serde(rename = "type")]
    pub ty: DataType,
    pub unit: Unit,
    #[serde(default)]
    pub function: Option<WriteFunction>,
    #[serde(default)]
    pub word_order: Option<WordOrder>,
    #[serde(default = "yes")]
    pub zero_pauses: bool,
}

fn yes() -> bool {
    true
}

/// `[charger.enable]`: a register switching charging on and off.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub address: u16,
    #[serde(rename = "type")]
    pub ty: DataType,
    pub on: i128,
    pub off: i128,
}

/// `[charger.failsafe]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Failsafe {
    #[serde(default)]
    pub current_address: Option<u16>,
    #[serde(default)]
    pub current_type: Option<DataType>,
    #[serde(default)]
    pub current_unit: Option<Unit>,
    #[serde(default)]
    pub timeout_address: Option<u16>,
    #[serde(default)]
    pub timeout_type: Option<DataType>,
    #[serde(default)]
    pub timeout_unit: Option<Unit>,
    #[serde(default = "sixty")]
    pub timeout_s: f64,
}

fn sixty() -> f64 {
    60.0
}

/// Keep-alive mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepaliveMode {
    /// Write `value` to `address` every period.
    Register,
    /// Rewrite the current limit every period.
    Rewrite,
}

/// `[charger.keepalive]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Keepalive {
    pub mode: KeepaliveMode,
    #[serde(default)]
    pub address: Option<u16>,
    #[serde(default, rename = "type")]
    pub ty: Option<DataType>,
    #[serde(default)]
    pub value: Option<i128>,
    pub period_s: f64,
}

/// `[charger.phase_switch]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSwitch {
    pub address: u16,
    #[serde(rename = "type")]
    pub ty: DataType,
    pub one_phase: i128,
    pub three_phase: i128,
}

/// `[charger.unlock]`: a register written with `value` to trigger an action.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub address: u16,
    #[serde(rename = "type")]
    pub ty: DataType,
    pub value: i128,
}

/// The value names a driver may define, with the quantity each holds (for unit checks).
pub const VALUE_NAMES: &[(&str, Option<super::codec::Quantity>, bool)] = {
    use super::codec::Quantity::*;
    &[
        ("current_l1", Some(Current), false),
        ("current_l2", Some(Current), false),
        ("current_l3", Some(Current), false),
        ("voltage_l1", Some(Voltage), false),
        ("voltage_l2", Some(Voltage), false),
        ("voltage_l3", Some(Voltage), false),
        ("power", Some(Power), false),
        ("power_l1", Some(Power), false),
        ("power_l2", Some(Power), false),
        ("power_l3", Some(Power), false),
        ("energy_import", Some(Energy), false),
        ("energy_export", Some(Energy), false),
        ("frequency", Some(Frequency), false),
        // Chargers only (the bool).
        ("status", None, true),
        ("error_code", None, true),
        ("session_energy", Some(Energy), true),
        ("current_limit", Some(Current), true),
        ("max_current", Some(Current), true),
        ("cable_max_current", Some(Current), true),
        ("phases_in_use", None, true),
        ("id_tag", None, true),
        ("serial_number", None, true),
        ("firmware_version", None, true),
    ]
};
