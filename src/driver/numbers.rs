//! Every number of a driver file with the range it must be in (see `docs/drivers.md`): one list,
//! checked by [`check_range`] when the file is loaded, so no number is forgotten (a unit test
//! walks every numeric field of the format).

use super::codec::DataType;
use super::schema::DriverFile;
use crate::config::range::{Number, Range, check_range};

/// Register addresses.
const ADDRESS: Range = Range::new(0.0, 65_535.0, "");
/// Largest integer an f64 holds exactly: raw values of float registers stay below it.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// The raw values a register of type `ty` can hold.
pub fn raw_range(ty: DataType) -> Range {
    let (lo, hi) = match ty {
        DataType::U16 => (0.0, f64::from(u16::MAX)),
        DataType::I16 => (f64::from(i16::MIN), f64::from(i16::MAX)),
        DataType::U32 => (0.0, f64::from(u32::MAX)),
        DataType::I32 => (f64::from(i32::MIN), f64::from(i32::MAX)),
        DataType::U64 => (0.0, u64::MAX as f64),
        DataType::I64 => (i64::MIN as f64, i64::MAX as f64),
        DataType::F32 | DataType::F64 | DataType::String => (-EXACT, EXACT),
    };
    Range::new(lo, hi, "").because("the value must fit its register type")
}

/// Every number of a driver file, with its key path and range.
pub fn driver_numbers(f: &DriverFile) -> Vec<Number> {
    let mut out = Vec::new();
    let mut n = |key: &str, value: f64, range: Range| out.push(Number::new(key, value, range));
    n(
        "driver.phases",
        f64::from(f.driver.phases),
        Range::new(1.0, 3.0, ""),
    );
    let m = &f.modbus;
    let registers =
        Range::new(1.0, 125.0, "registers").because("a Modbus read carries at most 125");
    n(
        "modbus.max_registers",
        f64::from(m.max_registers),
        registers,
    );
    n(
        "modbus.merge_gap",
        f64::from(m.merge_gap),
        Range::new(0.0, 125.0, "registers"),
    );
    if let Some(v) = m.default_port {
        n(
            "modbus.default_port",
            f64::from(v),
            Range::new(1.0, 65_535.0, ""),
        );
    }
    if let Some(v) = m.default_unit {
        n(
            "modbus.default_unit",
            f64::from(v),
            Range::new(0.0, 255.0, ""),
        );
    }
    if let Some(v) = m.default_baud {
        n(
            "modbus.default_baud",
            f64::from(v),
            Range::new(1200.0, 115_200.0, "baud"),
        );
    }
    for (name, v) in &f.values {
        let key = |k: &str| format!("values.{name}.{k}");
        n(&key("address"), f64::from(v.address), ADDRESS);
        let scale =
            Range::new(-1.0e6, 1.0e6, "").because("a factor between 1e-6 and 1e6 either way");
        n(&key("scale"), v.scale, scale);
        if let Some(x) = v.not_available {
            n(&key("not_available"), x as f64, raw_range(v.ty));
        }
        if let Some(r) = v.registers {
            n(&key("registers"), f64::from(r), registers);
        }
    }
    if let Some(c) = &f.charger {
        charger_numbers(f, c, &mut n);
    }
    out
}

fn charger_numbers(
    f: &DriverFile,
    c: &super::schema::ChargerSpec,
    n: &mut impl FnMut(&str, f64, Range),
) {
    let value_type = |name: &str| f.values.get(name).map(|v| v.ty).unwrap_or(DataType::I64);
    n(
        "charger.min_current_a",
        c.min_current_a,
        Range::above(0.0, 1000.0, "A"),
    );
    n(
        "charger.max_current_a",
        c.max_current_a,
        Range::new(6.0, 1000.0, "A"),
    );
    n(
        "charger.no_error",
        c.no_error as f64,
        raw_range(value_type("error_code")),
    );
    for (i, s) in c.states.iter().enumerate() {
        n(
            &format!("charger.states[{i}].raw"),
            s.raw as f64,
            raw_range(value_type("status")),
        );
    }
    n(
        "charger.current_limit.address",
        f64::from(c.current_limit.address),
        ADDRESS,
    );
    if let Some(e) = &c.enable {
        n("charger.enable.address", f64::from(e.address), ADDRESS);
        n("charger.enable.on", e.on as f64, raw_range(e.ty));
        n("charger.enable.off", e.off as f64, raw_range(e.ty));
    }
    if let Some(fs) = &c.failsafe {
        if let Some(a) = fs.current_address {
            n("charger.failsafe.current_address", f64::from(a), ADDRESS);
        }
        if let Some(a) = fs.timeout_address {
            n("charger.failsafe.timeout_address", f64::from(a), ADDRESS);
        }
        n(
            "charger.failsafe.timeout_s",
            fs.timeout_s,
            Range::new(1.0, 3600.0, "s"),
        );
    }
    if let Some(k) = &c.keepalive {
        if let Some(a) = k.address {
            n("charger.keepalive.address", f64::from(a), ADDRESS);
        }
        if let Some(v) = k.value {
            n(
                "charger.keepalive.value",
                v as f64,
                raw_range(k.ty.unwrap_or(DataType::U16)),
            );
        }
        n(
            "charger.keepalive.period_s",
            k.period_s,
            Range::new(0.1, 3600.0, "s"),
        );
    }
    if let Some(p) = &c.phase_switch {
        n(
            "charger.phase_switch.address",
            f64::from(p.address),
            ADDRESS,
        );
        n(
            "charger.phase_switch.one_phase",
            p.one_phase as f64,
            raw_range(p.ty),
        );
        n(
            "charger.phase_switch.three_phase",
            p.three_phase as f64,
            raw_range(p.ty),
        );
    }
    if let Some(u) = &c.unlock {
        n("charger.unlock.address", f64::from(u.address), ADDRESS);
        n("charger.unlock.value", u.value as f64, raw_range(u.ty));
    }
}

/// The problems of a driver file's numbers: each outside its range, then the relations between
/// them (only when every one is in range, so a bad number is reported once).
pub fn check_numbers(f: &DriverFile) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = driver_numbers(f)
        .into_iter()
        .filter_map(|n| check_range(n.value, &n.range).err().map(|m| (n.key, m)))
        .collect();
    if !p.is_empty() {
        return p;
    }
    for (name, v) in &f.values {
        if v.scale.abs() < 1e-6 {
            p.push((
                format!("values.{name}.scale"),
                format!(
                    "{} is too close to 0: a factor between 1e-6 and 1e6 either way",
                    v.scale
                ),
            ));
        }
    }
    let Some(c) = &f.charger else {
        return p;
    };
    if c.min_current_a > c.max_current_a {
        p.push((
            "charger.min_current_a".into(),
            format!(
                "{} A is above max_current_a ({} A)",
                c.min_current_a, c.max_current_a
            ),
        ));
    }
    if let Some(fs) = &c.failsafe {
        if let (Some(ty), Some(unit)) = (fs.timeout_type, fs.timeout_unit) {
            let raw = fs.timeout_s / unit.factor();
            if let Err(m) = check_range(raw, &raw_range(ty)) {
                p.push((
                    "charger.failsafe.timeout_s".into(),
                    format!("{} s written in {unit:?}: {m}", fs.timeout_s),
                ));
            }
        }
        if let Some(k) = &c.keepalive
            && k.period_s >= fs.timeout_s
        {
            p.push((
                "charger.keepalive.period_s".into(),
                format!(
                    "{} s is not shorter than failsafe.timeout_s ({} s): the charger would fall \
                     back to its failsafe current between keep-alives",
                    k.period_s, fs.timeout_s
                ),
            ));
        }
    }
    p
}

#[cfg(test)]
#[path = "numbers_tests.rs"]
mod tests;
