//! A checked driver: the file's data plus what is derived from it once (the read plan).

use super::codec::{DataType, Quantity, WordOrder};
use super::numbers::check_numbers;
use super::plan::{ReadBlock, plan_reads};
use super::schema::{
    ChargerSpec, DriverFile, KeepaliveMode, VALUE_NAMES, ValueSpec, WriteFunction,
};
use crate::config::DeviceKind;
use crate::modbus::RegisterKind;
use std::collections::BTreeSet;

/// A device model hubgate can talk to.
#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub kind: DeviceKind,
    /// The device's own phase count.
    pub phases: u8,
    pub notes: Option<String>,
    pub charger: Option<ChargerSpec>,
    pub file: DriverFile,
    plan: Vec<ReadBlock>,
}

/// One thing wrong with a driver file: the key path and what is wrong.
pub type KeyProblem = (String, String);

impl Driver {
    /// Checks a parsed file; `stem` is the file name without `.toml`.
    pub fn from_file(file: DriverFile, stem: &str) -> Result<Driver, Vec<KeyProblem>> {
        let problems = check(&file, stem);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut driver = Driver {
            name: file.driver.name.clone(),
            vendor: file.driver.vendor.clone(),
            model: file.driver.model.clone(),
            kind: file.driver.kind.into(),
            phases: file.driver.phases,
            notes: file.driver.notes.clone(),
            charger: file.charger.clone(),
            plan: Vec::new(),
            file,
        };
        driver.plan = plan_reads(&driver);
        Ok(driver)
    }

    /// The requests of one poll, planned once.
    pub fn read_plan(&self) -> &[ReadBlock] {
        &self.plan
    }

    /// The register kind a value is read with.
    pub fn value_kind(&self, v: &ValueSpec) -> RegisterKind {
        v.function.unwrap_or(self.file.modbus.function).into()
    }

    /// The word order of a value.
    pub fn value_order(&self, v: &ValueSpec) -> WordOrder {
        v.word_order.unwrap_or(self.file.modbus.word_order)
    }

    /// `charger` or `meter`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            DeviceKind::Charger => "charger",
            DeviceKind::Meter => "meter",
        }
    }

    /// The vendor document, as a citation.
    pub fn source_citation(&self) -> String {
        let s = &self.file.driver.source;
        match &s.url {
            Some(u) => format!("{}, {} ({u})", s.document, s.version),
            None => format!("{}, {}", s.document, s.version),
        }
    }
}

fn check(f: &DriverFile, stem: &str) -> Vec<KeyProblem> {
    let mut p: Vec<KeyProblem> = Vec::new();
    let d = &f.driver;
    if d.name != stem {
        p.push((
            "driver.name".into(),
            format!("`{}` must match the file name `{stem}`", d.name),
        ));
    }
    if d.name.is_empty()
        || !d
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        p.push((
            "driver.name".into(),
            "use lowercase letters, digits and `-`".into(),
        ));
    }
    if d.source.document.trim().is_empty() {
        p.push((
            "driver.source.document".into(),
            "name the vendor document the numbers come from".into(),
        ));
    }
    if d.source.version.trim().is_empty() {
        p.push((
            "driver.source.version".into(),
            "give the document's version or date".into(),
        ));
    }
    // Every number within its range (one list: `numbers::driver_numbers`).
    p.extend(check_numbers(f));
    if d.phases == 2 {
        p.push(("driver.phases".into(), "must be 1 or 3".into()));
    }
    let m = &f.modbus;
    let is_charger = d.kind == super::schema::Kind::Charger;
    for (name, v) in &f.values {
        let key = format!("values.{name}");
        let Some((_, quantity, charger_only)) = VALUE_NAMES.iter().find(|(n, _, _)| n == name)
        else {
            let names: Vec<&str> = VALUE_NAMES.iter().map(|(n, _, _)| *n).collect();
            let hint = crate::config::did_you_mean(name, names.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            p.push((key, format!("unknown value name{hint}")));
            continue;
        };
        if *charger_only && !is_charger {
            p.push((key.clone(), "only chargers have this value".into()));
        }
        let text = matches!(
            name.as_str(),
            "id_tag" | "serial_number" | "firmware_version"
        );
        if text != (v.ty == DataType::String) {
            p.push((
                format!("{key}.type"),
                if text {
                    "must be `string`".into()
                } else {
                    "must be a number type".into()
                },
            ));
        }
        if v.ty == DataType::String && v.registers.unwrap_or(0) == 0 {
            p.push((
                format!("{key}.registers"),
                "a string needs its register count".into(),
            ));
        }
        if let Some(q) = quantity
            && v.unit.quantity() != *q
        {
            p.push((
                format!("{key}.unit"),
                format!("{:?} is not a unit of {q:?}", v.unit),
            ));
        }
        let width = u32::from(v.ty.width(v.registers.unwrap_or(0)));
        if width > 125 || u32::from(v.address) + width > 65_536 {
            p.push((
                format!("{key}.address"),
                "the value runs past register 65535 or is too wide".into(),
            ));
        } else if width > u32::from(m.max_registers) && (1..=125).contains(&m.max_registers) {
            // One request reads a value whole: it could never be read.
            p.push((
                format!("{key}.type"),
                format!(
                    "takes {width} registers, more than one request may read \
                     (modbus.max_registers = {})",
                    m.max_registers
                ),
            ));
        }
    }
    // Values never overlap: every register is read once per poll and belongs to one value.
    let mut spans: Vec<(RegisterKind, u32, u32, &str)> = f
        .values
        .iter()
        .map(|(n, v)| {
            let kind: RegisterKind = v.function.unwrap_or(m.function).into();
            let start = u32::from(v.address);
            (
                kind,
                start,
                start + u32::from(v.ty.width(v.registers.unwrap_or(0))),
                n.as_str(),
            )
        })
        .collect();
    spans.sort_by_key(|(k, a, _, _)| (*k == RegisterKind::Input, *a));
    for w in spans.windows(2) {
        if w[0].0 == w[1].0 && w[1].1 < w[0].2 {
            p.push((
                format!("values.{}.address", w[1].3),
                format!("overlaps `{}`", w[0].3),
            ));
        }
    }
    let has = |n: &str| f.values.contains_key(n);
    match (&f.charger, is_charger) {
        (Some(_), false) => p.push((
            "charger".into(),
            "only charger drivers have a [charger] section".into(),
        )),
        (None, true) => p.push((
            "charger".into(),
            "a charger driver needs a [charger] section".into(),
        )),
        (Some(c), true) => check_charger(c, m.write, &mut p, has("status")),
        (None, false) => {
            let currents = has("current_l1") || has("power");
            if !currents {
                p.push((
                    "values".into(),
                    "a meter needs its phase currents (current_l1..) or total power".into(),
                ));
            }
            if !has("energy_import") {
                p.push((
                    "values.energy_import".into(),
                    "a meter needs its import energy counter".into(),
                ));
            }
        }
    }
    p
}

fn check_charger(
    c: &ChargerSpec,
    default_write: WriteFunction,
    p: &mut Vec<KeyProblem>,
    has_status: bool,
) {
    if !has_status {
        p.push((
            "values.status".into(),
            "a charger needs its status register".into(),
        ));
    }
    if c.states.is_empty() {
        p.push((
            "charger.states".into(),
            "map at least one raw status".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, s) in c.states.iter().enumerate() {
        if !seen.insert(s.raw) {
            p.push((
                format!("charger.states[{i}].raw"),
                format!("raw status {} is mapped twice", s.raw),
            ));
        }
    }
    let l = &c.current_limit;
    if !matches!(l.unit.quantity(), Quantity::Current | Quantity::Power) {
        p.push((
            "charger.current_limit.unit".into(),
            "must be A, dA, cA, mA, W or kW".into(),
        ));
    }
    if l.ty == DataType::String {
        p.push((
            "charger.current_limit.type".into(),
            "must be a number type".into(),
        ));
    }
    if l.function.unwrap_or(default_write) == WriteFunction::Single && l.ty.width(0) != 1 {
        p.push(("charger.current_limit.function".into(), "a single-register write (FC06) cannot carry a 2- or 4-register value; use \"multiple\"".into()));
    }
    if !l.zero_pauses && c.enable.is_none() {
        p.push((
            "charger.enable".into(),
            "with zero_pauses = false the charger needs an enable register to pause".into(),
        ));
    }
    if let Some(f) = &c.failsafe {
        if f.current_address.is_some() != f.current_type.is_some() {
            p.push((
                "charger.failsafe.current_type".into(),
                "give current_address and current_type together".into(),
            ));
        }
        if f.timeout_address.is_some() != f.timeout_type.is_some() {
            p.push((
                "charger.failsafe.timeout_type".into(),
                "give timeout_address and timeout_type together".into(),
            ));
        }
        if let Some(u) = f.timeout_unit
            && u.quantity() != Quantity::Time
        {
            p.push((
                "charger.failsafe.timeout_unit".into(),
                "must be s, ms or min".into(),
            ));
        }
        if let Some(u) = f.current_unit
            && u.quantity() != Quantity::Current
        {
            p.push((
                "charger.failsafe.current_unit".into(),
                "must be A, dA, cA or mA".into(),
            ));
        }
    }
    if let Some(k) = &c.keepalive
        && k.mode == KeepaliveMode::Register
        && (k.address.is_none() || k.ty.is_none() || k.value.is_none())
    {
        p.push((
            "charger.keepalive".into(),
            "mode \"register\" needs address, type and value".into(),
        ));
    }
}
