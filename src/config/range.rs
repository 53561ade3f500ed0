//! Numeric sanity: every number of a site config and of a driver file is finite and inside a
//! documented range. Each file kind lists all its numbers once, with their key path and range
//! (`site_numbers`, and `driver::numbers` for driver files), and every entry goes through
//! [`check_range`], so a number cannot be forgotten: a unit test walks every numeric field of
//! the schema and fails when one has no entry.

use super::schema::{PhaseLimit, SiteConfig};
use super::validate::IEC_MIN_CURRENT_A;

/// The accepted values of one numeric key: `lo..=hi` (or `lo` excluded), in `unit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
    /// `lo` itself is refused (e.g. a limit must be above 0).
    pub lo_excluded: bool,
    pub unit: &'static str,
    /// Why the range is what it is, added to the message (empty: nothing to add).
    pub why: &'static str,
}

impl Range {
    pub const fn new(lo: f64, hi: f64, unit: &'static str) -> Range {
        Range {
            lo,
            hi,
            lo_excluded: false,
            unit,
            why: "",
        }
    }

    /// `lo` excluded.
    pub const fn above(lo: f64, hi: f64, unit: &'static str) -> Range {
        Range {
            lo_excluded: true,
            ..Range::new(lo, hi, unit)
        }
    }

    pub const fn because(self, why: &'static str) -> Range {
        Range { why, ..self }
    }

    pub fn contains(&self, v: f64) -> bool {
        v.is_finite()
            && v <= self.hi
            && if self.lo_excluded {
                v > self.lo
            } else {
                v >= self.lo
            }
    }
}

/// One number of a file with the range it must be in.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// Key path, e.g. `chargers[2].max_current_a`.
    pub key: String,
    pub value: f64,
    pub range: Range,
}

impl Number {
    pub fn new(key: impl Into<String>, value: f64, range: Range) -> Number {
        Number {
            key: key.into(),
            value,
            range,
        }
    }
}

/// Checks one value; the message says what is wrong and what is accepted.
pub fn check_range(value: f64, r: &Range) -> Result<(), String> {
    if r.contains(value) {
        return Ok(());
    }
    let unit = if r.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", r.unit)
    };
    let lo = if r.lo_excluded {
        format!("above {}", r.lo)
    } else {
        r.lo.to_string()
    };
    let accepted = format!("{lo} to {}{unit}", r.hi);
    let mut msg = if value.is_finite() {
        format!("{}{unit} is out of range ({accepted})", short(value))
    } else {
        format!("{value} is not a finite number (give a value from {accepted})")
    };
    if !r.why.is_empty() {
        msg.push_str(": ");
        msg.push_str(r.why);
    }
    Err(msg)
}

/// A number as a person writes it: `1e300`, not three hundred digits.
fn short(v: f64) -> String {
    if v != 0.0 && !(1e-6..1e15).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// The message for a non-finite number in a file, before it could be typed.
pub fn not_finite(text: &str) -> String {
    format!("{text} is not a finite number: give a value (nan and inf are not accepted)")
}

const CURRENT: Range = Range::above(0.0, 10_000.0, "A");
const PRICE: Range = Range::new(0.0, 1.0e6, "");
const DAYS: Range = Range::new(1.0, 3_660.0, "days");

/// A per-phase limit: one entry when the three phases agree (as `limit_a = 63` is written),
/// else one per phase (`limit_a[2]`).
fn phase_limit(n: &mut impl FnMut(String, f64, Range), key: &str, l: &PhaseLimit) {
    let [a, b, c] = l.0.0;
    if a.to_bits() == b.to_bits() && b.to_bits() == c.to_bits() {
        n(key.to_string(), a, CURRENT);
    } else {
        for (i, v) in l.0.0.iter().enumerate() {
            n(format!("{key}[{i}]"), *v, CURRENT);
        }
    }
}

/// Every number of a site config, with its key path and range (see README, config reference).
pub fn site_numbers(cfg: &SiteConfig) -> Vec<Number> {
    let mut out = Vec::new();
    let mut n = |key: String, value: f64, range: Range| out.push(Number::new(key, value, range));
    let s = &cfg.site;
    phase_limit(&mut n, "site.grid_limit_a", &s.grid_limit_a);
    n(
        "site.nominal_voltage_v".into(),
        s.nominal_voltage_v,
        Range::new(100.0, 480.0, "V"),
    );
    n(
        "site.safety_margin_a".into(),
        s.safety_margin_a,
        Range::new(0.0, 1000.0, "A"),
    );
    n(
        "site.fallback_current_a".into(),
        s.fallback_current_a,
        Range::new(0.0, 1000.0, "A"),
    );
    let k = &cfg.control;
    n(
        "control.cycle_ms".into(),
        k.cycle_ms as f64,
        Range::new(100.0, 60_000.0, "ms"),
    );
    n(
        "control.meter_stale_s".into(),
        k.meter_stale_s,
        Range::new(0.2, 600.0, "s"),
    );
    n(
        "control.ramp_up_a_per_s".into(),
        k.ramp_up_a_per_s,
        Range::new(0.1, 1000.0, "A/s"),
    );
    n(
        "control.hysteresis_a".into(),
        k.hysteresis_a,
        Range::new(0.0, 10.0, "A"),
    );
    let rotation = Range::new(10.0, 86_400.0, "s");
    n(
        "control.rotation_period_s".into(),
        k.rotation_period_s as f64,
        rotation,
    );
    for (i, b) in cfg.buses.iter().enumerate() {
        let p = format!("buses[{i}]");
        if let Some(port) = b.port {
            n(
                format!("{p}.port"),
                f64::from(port),
                Range::new(1.0, 65_535.0, ""),
            );
        }
        n(
            format!("{p}.baud"),
            f64::from(b.baud),
            Range::new(1200.0, 115_200.0, "baud"),
        );
        n(
            format!("{p}.stop_bits"),
            f64::from(b.stop_bits),
            Range::new(1.0, 2.0, ""),
        );
        n(
            format!("{p}.data_bits"),
            f64::from(b.data_bits),
            Range::new(7.0, 8.0, ""),
        );
        n(
            format!("{p}.timeout_ms"),
            b.timeout_ms as f64,
            Range::new(10.0, 30_000.0, "ms"),
        );
        if let Some(d) = b.inter_frame_delay_ms {
            n(
                format!("{p}.inter_frame_delay_ms"),
                d,
                Range::new(0.0, 1000.0, "ms"),
            );
        }
    }
    for (i, c) in cfg.circuits.iter().enumerate() {
        phase_limit(&mut n, &format!("circuits[{i}].limit_a"), &c.limit_a);
    }
    let unit = Range::new(1.0, 247.0, "").because("Modbus unit ids are 1 to 247");
    for (i, m) in cfg.meters.iter().enumerate() {
        n(format!("meters[{i}].unit"), f64::from(m.unit), unit);
    }
    let min_current =
        Range::new(IEC_MIN_CURRENT_A, 1000.0, "A").because("IEC 61851 allows no less than 6 A");
    for (i, c) in cfg.chargers.iter().enumerate() {
        let p = format!("chargers[{i}]");
        n(format!("{p}.unit"), f64::from(c.unit), unit);
        n(format!("{p}.min_current_a"), c.min_current_a, min_current);
        n(format!("{p}.max_current_a"), c.max_current_a, min_current);
        n(
            format!("{p}.priority"),
            f64::from(c.priority),
            Range::new(-1000.0, 1000.0, ""),
        );
        n(
            format!("{p}.connector"),
            f64::from(c.connector),
            Range::new(1.0, 1000.0, "")
                .because("connector 0 is the whole site; number the chargers 1 to N"),
        );
    }
    if let Some(o) = &cfg.ocpp {
        let profile = Range::new(0.0, 3.0, "").because("0 (none, labs only), 1, 2 or 3");
        n(
            "ocpp.security_profile".into(),
            f64::from(o.security_profile),
            profile,
        );
    }
    let st = &cfg.storage;
    n(
        "storage.history_days".into(),
        f64::from(st.history_days),
        DAYS,
    );
    n(
        "storage.full_resolution_days".into(),
        f64::from(st.full_resolution_days),
        DAYS,
    );
    n(
        "storage.sessions_days".into(),
        f64::from(st.sessions_days),
        DAYS,
    );
    n(
        "storage.reopen_max_s".into(),
        f64::from(st.reopen_max_s),
        Range::new(1.0, 3600.0, "s"),
    );
    let a = &cfg.auth;
    let energy = Range::new(0.0, 1000.0, "kWh");
    n(
        "auth.unknown_id_max_energy_kwh".into(),
        a.unknown_id_max_energy_kwh,
        energy,
    );
    let duration = Range::new(0.0, 10_080.0, "min");
    n(
        "auth.unknown_id_max_duration_min".into(),
        a.unknown_id_max_duration_min,
        duration,
    );
    if let Some(t) = &cfg.tariff {
        n("tariff.price_per_kwh".into(), t.price_per_kwh, PRICE);
        n("tariff.price_per_minute".into(), t.price_per_minute, PRICE);
        n("tariff.session_fee".into(), t.session_fee, PRICE);
        for (i, b) in t.bands.iter().enumerate() {
            n(
                format!("tariff.bands[{i}].price_per_kwh"),
                b.price_per_kwh,
                PRICE,
            );
            if let Some(v) = b.price_per_minute {
                n(format!("tariff.bands[{i}].price_per_minute"), v, PRICE);
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "range_tests.rs"]
mod tests;
