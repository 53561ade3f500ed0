//! Meter readings of an outlet (or of the site, connector 0) turned into OCPP sampled values,
//! and the clock-aligned sampling instants.

use super::messages::{
    Location, Measurand, MeterValue, PhaseLabel, ReadingContext, SampledValue, Timestamp,
    UnitOfMeasure,
};
use chrono::{DateTime, Duration, Utc};

/// The latest reading of one connector's meter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeterReading {
    /// Imported energy register (Wh).
    pub energy_wh: f64,
    /// Active power (W).
    pub power_w: Option<f64>,
    /// Current per phase (A), the phases the outlet has.
    pub currents_a: Vec<(PhaseLabel, f64)>,
    /// Phase-to-neutral voltage per phase (V).
    pub voltages_v: Vec<(PhaseLabel, f64)>,
    /// Current the charger offers the car (A), the setpoint.
    pub offered_a: Option<f64>,
    /// Battery state of charge (%), when the car tells.
    pub soc_percent: Option<f64>,
}

/// An energy register in integer Wh, as meterStart/meterStop want it.
pub fn whole_wh(wh: f64) -> i32 {
    let r = wh.round();
    if r.is_nan() {
        0
    } else {
        r.clamp(0.0, f64::from(i32::MAX)) as i32
    }
}

fn value(
    v: String,
    measurand: Measurand,
    unit: UnitOfMeasure,
    phase: Option<PhaseLabel>,
    context: ReadingContext,
) -> SampledValue {
    SampledValue {
        value: v,
        context: Some(context),
        format: None,
        measurand: Some(measurand),
        phase,
        location: Some(Location::Outlet),
        unit: Some(unit),
    }
}

/// The sampled values of `reading` for `measurands` (those it has), with `context`.
pub fn sampled_values(
    reading: &MeterReading,
    measurands: &[Measurand],
    context: ReadingContext,
) -> Vec<SampledValue> {
    let mut out = Vec::new();
    for &m in measurands {
        match m {
            Measurand::EnergyActiveImportRegister => out.push(value(
                whole_wh(reading.energy_wh).to_string(),
                m,
                UnitOfMeasure::Wh,
                None,
                context,
            )),
            Measurand::PowerActiveImport => {
                if let Some(p) = reading.power_w {
                    out.push(value(format!("{p:.0}"), m, UnitOfMeasure::W, None, context));
                }
            }
            Measurand::CurrentImport => {
                for &(phase, a) in &reading.currents_a {
                    out.push(value(
                        format!("{a:.1}"),
                        m,
                        UnitOfMeasure::A,
                        Some(phase),
                        context,
                    ));
                }
            }
            Measurand::Voltage => {
                for &(phase, v) in &reading.voltages_v {
                    out.push(value(
                        format!("{v:.1}"),
                        m,
                        UnitOfMeasure::V,
                        Some(phase),
                        context,
                    ));
                }
            }
            Measurand::CurrentOffered => {
                if let Some(a) = reading.offered_a {
                    out.push(value(format!("{a:.1}"), m, UnitOfMeasure::A, None, context));
                }
            }
            Measurand::SoC => {
                if let Some(s) = reading.soc_percent {
                    let mut v = value(format!("{s:.0}"), m, UnitOfMeasure::Percent, None, context);
                    v.location = Some(Location::EV);
                    out.push(v);
                }
            }
            _ => {}
        }
    }
    out
}

/// One MeterValue at `at`, if anything was sampled.
pub fn meter_value(
    reading: &MeterReading,
    measurands: &[Measurand],
    context: ReadingContext,
    at: DateTime<Utc>,
) -> Option<MeterValue> {
    let sampled_value = sampled_values(reading, measurands, context);
    (!sampled_value.is_empty()).then_some(MeterValue {
        timestamp: Timestamp(at),
        sampled_value,
    })
}

/// The first clock-aligned instant after `t` for an interval of `interval_s` seconds counted
/// from midnight UTC.
pub fn next_aligned(t: DateTime<Utc>, interval_s: u32) -> Option<DateTime<Utc>> {
    if interval_s == 0 {
        return None;
    }
    let midnight = t.date_naive().and_hms_opt(0, 0, 0)?.and_utc();
    let since = (t - midnight).num_seconds();
    let step = i64::from(interval_s);
    Some(midnight + Duration::seconds((since / step + 1) * step))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn values_are_strings_with_units() {
        let r = MeterReading {
            energy_wh: 12345.6,
            power_w: Some(7360.4),
            currents_a: vec![(PhaseLabel::L1, 16.04), (PhaseLabel::L2, 15.96)],
            ..Default::default()
        };
        let m = [
            Measurand::EnergyActiveImportRegister,
            Measurand::CurrentImport,
            Measurand::SoC,
        ];
        let v = sampled_values(&r, &m, ReadingContext::SamplePeriodic);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].value, "12346");
        assert_eq!(v[0].unit, Some(UnitOfMeasure::Wh));
        assert_eq!(
            (v[1].value.as_str(), v[1].phase),
            ("16.0", Some(PhaseLabel::L1))
        );
        let json = serde_json::to_value(&v[0]).unwrap();
        assert!(json["value"].is_string());
        assert_eq!(whole_wh(f64::NAN), 0);
        assert_eq!(whole_wh(-3.0), 0);
    }

    #[test]
    fn aligned_instants_count_from_midnight() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 10, 7, 30).unwrap();
        assert_eq!(
            next_aligned(t, 900),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 10, 15, 0).unwrap())
        );
        let on = Utc.with_ymd_and_hms(2026, 1, 1, 10, 15, 0).unwrap();
        assert_eq!(
            next_aligned(on, 900),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 10, 30, 0).unwrap())
        );
        assert_eq!(next_aligned(t, 0), None);
    }
}
