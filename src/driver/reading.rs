//! What one poll of a device says, decoded (pure).

use super::codec::{Raw, decode_raw};
use super::model::Driver;
use super::plan::ReadBlock;
use crate::phase::{PerPhase, Phase};
use serde::{Deserialize, Serialize};

/// IEC 61851-1 control pilot state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IecState {
    /// No vehicle.
    A,
    /// Vehicle connected, not charging.
    B,
    /// Charging.
    C,
    /// Charging, ventilation required.
    D,
    /// No power / short circuit.
    E,
    /// EVSE fault.
    F,
}

impl IecState {
    /// A vehicle is plugged in.
    pub fn connected(self) -> bool {
        matches!(self, IecState::B | IecState::C | IecState::D)
    }

    pub fn letter(self) -> char {
        match self {
            IecState::A => 'A',
            IecState::B => 'B',
            IecState::C => 'C',
            IecState::D => 'D',
            IecState::E => 'E',
            IecState::F => 'F',
        }
    }
}

/// OCPP 1.6 ChargePointStatus, spelled as OCPP spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectorStatus {
    Available,
    Preparing,
    Charging,
    SuspendedEVSE,
    SuspendedEV,
    Finishing,
    Reserved,
    Unavailable,
    Faulted,
}

impl ConnectorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorStatus::Available => "Available",
            ConnectorStatus::Preparing => "Preparing",
            ConnectorStatus::Charging => "Charging",
            ConnectorStatus::SuspendedEVSE => "SuspendedEVSE",
            ConnectorStatus::SuspendedEV => "SuspendedEV",
            ConnectorStatus::Finishing => "Finishing",
            ConnectorStatus::Reserved => "Reserved",
            ConnectorStatus::Unavailable => "Unavailable",
            ConnectorStatus::Faulted => "Faulted",
        }
    }
}

/// A charger's own view, beyond what meters measure too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChargerReading {
    pub status_raw: Option<i128>,
    /// `None` when the raw status is not in the driver's table.
    pub iec: Option<IecState>,
    pub ocpp: Option<ConnectorStatus>,
    pub error_code: Option<i128>,
    /// The status maps to IEC E/F or OCPP Faulted, or an error code other than "no error".
    pub faulted: bool,
    pub session_energy_wh: Option<f64>,
    pub current_limit_a: Option<f64>,
    pub max_current_a: Option<f64>,
    pub cable_max_current_a: Option<f64>,
    pub phases_in_use: Option<f64>,
    pub id_tag: Option<String>,
    pub serial_number: Option<String>,
    pub firmware_version: Option<String>,
}

/// Everything decoded from one poll; per-phase values in the device's own phase order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceReading {
    pub currents_a: PerPhase<Option<f64>>,
    pub voltages_v: PerPhase<Option<f64>>,
    pub powers_w: PerPhase<Option<f64>>,
    pub power_w: Option<f64>,
    pub energy_import_wh: Option<f64>,
    pub energy_export_wh: Option<f64>,
    pub frequency_hz: Option<f64>,
    pub charger: Option<ChargerReading>,
    /// Values the device returned as NaN or infinite (left `None` above), by driver value name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_finite: Vec<String>,
}

/// Why a reading cannot be trusted. Phases are the device's own (its first terminal is L1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Implausible {
    /// No current on a phase the device is wired to measure.
    MissingPhase { phase: Phase },
    /// The device returned NaN or an infinite value.
    NotFinite { phase: Phase },
    /// A current outside the physical range of the site.
    CurrentOutOfRange { phase: Phase, value_a: f64 },
    /// A voltage outside the nominal band.
    VoltageOutOfRange { phase: Phase, value_v: f64 },
}

impl std::fmt::Display for Implausible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Implausible::MissingPhase { phase } => write!(f, "no current on {phase}"),
            Implausible::NotFinite { phase } => write!(f, "{phase} reads a non-finite value"),
            Implausible::CurrentOutOfRange { phase, value_a } => {
                write!(f, "{phase} reads {value_a} A, outside the plausible range")
            }
            Implausible::VoltageOutOfRange { phase, value_v } => {
                write!(f, "{phase} reads {value_v} V, outside the nominal band")
            }
        }
    }
}

/// The physical range a device's readings must fall in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plausible {
    /// Currents above this are impossible at the device (A).
    pub max_current_a: f64,
    /// Currents below minus this are impossible (A).
    pub negative_tolerance_a: f64,
    /// Every phase the device is wired to must give a current.
    pub require_currents: bool,
    /// The band voltages must fall in (V), when they are read.
    pub voltage_band_v: Option<(f64, f64)>,
}

impl DeviceReading {
    /// The first reason the currents (and voltages) of the device's first `phases` phases cannot
    /// be trusted, or `None` when they are plausible.
    pub fn judge(&self, phases: usize, range: &Plausible) -> Option<Implausible> {
        for (i, phase) in Phase::ALL.into_iter().enumerate().take(phases) {
            if self.not_finite.contains(&format!("current_l{}", i + 1)) {
                return Some(Implausible::NotFinite { phase });
            }
            match self.currents_a.0[i] {
                None if range.require_currents => {
                    return Some(Implausible::MissingPhase { phase });
                }
                None => {}
                Some(a) if !a.is_finite() => return Some(Implausible::NotFinite { phase }),
                Some(a) if a > range.max_current_a || a < -range.negative_tolerance_a => {
                    return Some(Implausible::CurrentOutOfRange { phase, value_a: a });
                }
                Some(_) => {}
            }
            let Some((low, high)) = range.voltage_band_v else {
                continue;
            };
            if self.not_finite.contains(&format!("voltage_l{}", i + 1)) {
                return Some(Implausible::NotFinite { phase });
            }
            match self.voltages_v.0[i] {
                Some(v) if !v.is_finite() => return Some(Implausible::NotFinite { phase }),
                Some(v) if v < low || v > high => {
                    return Some(Implausible::VoltageOutOfRange { phase, value_v: v });
                }
                _ => {}
            }
        }
        None
    }
}

/// A decoded value: a number in canonical units or a text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
}

impl Driver {
    /// The value `name` from the blocks read, or `None` when it was not read, is marked "not
    /// available", or is not a finite number.
    pub fn value(&self, name: &str, blocks: &[(ReadBlock, Vec<u16>)]) -> Option<Value> {
        let (v, raw) = self.raw(name, blocks)?;
        match raw {
            Raw::Text(t) => Some(Value::Text(t)),
            Raw::Int(i) => {
                if v.not_available == Some(i) {
                    return None;
                }
                Some(Value::Number(i as f64 * v.scale * v.unit.factor()))
            }
            Raw::Float(f) => {
                let x = f * v.scale * v.unit.factor();
                if !x.is_finite() || v.not_available.is_some_and(|na| na as f64 == f) {
                    return None;
                }
                Some(Value::Number(x))
            }
        }
    }

    /// The spec of `name` and its raw decoded value, when the blocks hold it.
    fn raw(
        &self,
        name: &str,
        blocks: &[(ReadBlock, Vec<u16>)],
    ) -> Option<(&super::schema::ValueSpec, Raw)> {
        let v = self.file.values.get(name)?;
        let kind = self.value_kind(v);
        let width = v.ty.width(v.registers.unwrap_or(0));
        let (block, words) = blocks.iter().find(|(b, w)| {
            b.kind == kind
                && b.address <= v.address
                && u32::from(v.address) + u32::from(width) <= u32::from(b.address) + w.len() as u32
        })?;
        let start = usize::from(v.address - block.address);
        let raw = decode_raw(
            &words[start..start + usize::from(width)],
            v.ty,
            self.value_order(v),
        )?;
        Some((v, raw))
    }

    /// True when `name` was read and is NaN or infinite (raw, or once scaled).
    pub fn not_finite(&self, name: &str, blocks: &[(ReadBlock, Vec<u16>)]) -> bool {
        match self.raw(name, blocks) {
            Some((v, Raw::Float(f))) => !(f * v.scale * v.unit.factor()).is_finite(),
            _ => false,
        }
    }

    /// The raw integer of `name` (status and error codes), unscaled.
    pub fn raw_int(&self, name: &str, blocks: &[(ReadBlock, Vec<u16>)]) -> Option<i128> {
        let v = self.file.values.get(name)?;
        match self.value(name, blocks)? {
            Value::Number(n) => Some((n / (v.scale * v.unit.factor())).round() as i128),
            Value::Text(_) => None,
        }
    }

    fn number(&self, name: &str, blocks: &[(ReadBlock, Vec<u16>)]) -> Option<f64> {
        match self.value(name, blocks)? {
            Value::Number(n) => Some(n),
            Value::Text(_) => None,
        }
    }

    fn text(&self, name: &str, blocks: &[(ReadBlock, Vec<u16>)]) -> Option<String> {
        match self.value(name, blocks)? {
            Value::Text(t) if !t.is_empty() => Some(t),
            _ => None,
        }
    }

    /// Decodes the blocks of one poll. A block that is missing leaves its values `None`.
    pub fn decode(&self, blocks: &[(ReadBlock, Vec<u16>)]) -> DeviceReading {
        let n = |name: &str| self.number(name, blocks);
        let phases = |prefix: &str| {
            PerPhase([
                n(&format!("{prefix}_l1")),
                n(&format!("{prefix}_l2")),
                n(&format!("{prefix}_l3")),
            ])
        };
        let charger = self.file.charger.as_ref().map(|spec| {
            let status_raw = self.raw_int("status", blocks);
            let mapping = status_raw.and_then(|raw| spec.states.iter().find(|s| s.raw == raw));
            let error_code = self.raw_int("error_code", blocks);
            let iec = mapping.map(|m| m.iec);
            let ocpp = mapping.map(|m| m.ocpp);
            let faulted = matches!(iec, Some(IecState::E | IecState::F))
                || ocpp == Some(ConnectorStatus::Faulted)
                || error_code.is_some_and(|e| e != spec.no_error);
            ChargerReading {
                status_raw,
                iec,
                ocpp,
                error_code,
                faulted,
                session_energy_wh: n("session_energy"),
                current_limit_a: n("current_limit"),
                max_current_a: n("max_current"),
                cable_max_current_a: n("cable_max_current"),
                phases_in_use: n("phases_in_use"),
                id_tag: self.text("id_tag", blocks),
                serial_number: self.text("serial_number", blocks),
                firmware_version: self.text("firmware_version", blocks),
            }
        });
        DeviceReading {
            currents_a: phases("current"),
            voltages_v: phases("voltage"),
            powers_w: phases("power"),
            power_w: n("power"),
            energy_import_wh: n("energy_import"),
            energy_export_wh: n("energy_export"),
            frequency_hz: n("frequency"),
            charger,
            not_finite: ["current", "voltage", "power"]
                .iter()
                .flat_map(|p| (1..=3).map(move |i| format!("{p}_l{i}")))
                .chain(["power".to_string()])
                .filter(|name| self.not_finite(name, blocks))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Registry;
    use crate::driver::image::{MeterState, RegisterImage};

    fn range() -> Plausible {
        Plausible {
            max_current_a: 189.0,
            negative_tolerance_a: 1.0,
            require_currents: true,
            voltage_band_v: Some((161.0, 299.0)),
        }
    }

    fn reading(currents: [Option<f64>; 3]) -> DeviceReading {
        DeviceReading {
            currents_a: PerPhase(currents),
            voltages_v: PerPhase([Some(230.0); 3]),
            ..DeviceReading::default()
        }
    }

    #[test]
    fn a_float_meter_reporting_nan_or_infinity_is_marked_not_left_blank() {
        let registry = Registry::builtin().unwrap();
        let d = registry.get("eastron-sdm630").unwrap();
        for (bad, phase) in [
            (f64::NAN, Phase::L1),
            (f64::INFINITY, Phase::L2),
            (f64::NEG_INFINITY, Phase::L3),
        ] {
            let mut currents = PerPhase([10.0; 3]);
            currents[phase] = bad;
            let mut image = RegisterImage::new(d.clone());
            image.set_meter(&MeterState {
                currents_a: currents,
                voltages_v: PerPhase::splat(230.0),
                powers_w: PerPhase::splat(2300.0),
                energy_import_wh: 1.0,
                energy_export_wh: 0.0,
                frequency_hz: 50.0,
            });
            let blocks: Vec<_> = d
                .read_plan()
                .iter()
                .map(|b| (*b, image.read(b.kind, b.address, b.count).unwrap()))
                .collect();
            let r = d.decode(&blocks);
            assert_eq!(r.currents_a[phase], None);
            let name = format!("current_l{}", phase.index() + 1);
            assert_eq!(r.not_finite, vec![name]);
            assert_eq!(r.judge(3, &range()), Some(Implausible::NotFinite { phase }));
        }
    }

    #[test]
    fn plausible_readings_pass() {
        assert_eq!(
            reading([Some(40.0), Some(0.0), Some(-0.5)]).judge(3, &range()),
            None
        );
        // Only the phases the device is wired to measure count.
        assert_eq!(reading([Some(40.0), None, None]).judge(1, &range()), None);
    }

    #[test]
    fn each_kind_of_implausible_reading_is_named_with_its_phase() {
        let r = range();
        assert_eq!(
            reading([Some(1.0), None, Some(1.0)]).judge(3, &r),
            Some(Implausible::MissingPhase { phase: Phase::L2 })
        );
        let lax = Plausible {
            require_currents: false,
            ..r
        };
        assert_eq!(reading([Some(1.0), None, Some(1.0)]).judge(3, &lax), None);
        assert_eq!(
            reading([Some(1.0), Some(1e6), Some(1.0)]).judge(3, &r),
            Some(Implausible::CurrentOutOfRange {
                phase: Phase::L2,
                value_a: 1e6
            })
        );
        assert_eq!(
            reading([Some(-5.0), Some(1.0), Some(1.0)]).judge(3, &r),
            Some(Implausible::CurrentOutOfRange {
                phase: Phase::L1,
                value_a: -5.0
            })
        );
        assert_eq!(
            reading([Some(1.0), Some(1.0), Some(f64::NAN)]).judge(3, &r),
            Some(Implausible::NotFinite { phase: Phase::L3 })
        );
        let mut low = reading([Some(1.0); 3]);
        low.voltages_v.0[2] = Some(3.0);
        assert_eq!(
            low.judge(3, &r),
            Some(Implausible::VoltageOutOfRange {
                phase: Phase::L3,
                value_v: 3.0
            })
        );
        assert!(low.judge(2, &r).is_none(), "L3 is not wired");
    }

    #[test]
    fn the_reason_serializes_as_a_tagged_kind() {
        let j = serde_json::to_string(&Implausible::NotFinite { phase: Phase::L2 }).unwrap();
        assert_eq!(j, r#"{"kind":"not_finite","phase":"L2"}"#);
    }
}
