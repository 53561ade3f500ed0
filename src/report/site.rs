//! Site figures from the site samples (pure): energy drawn by local hour of day and day of week,
//! time curtailed, and the energy curtailment deferred.
//!
//! A sample stands for its span at its mean power; the part of its span inside the period counts,
//! cut at local hour boundaries. The power is the site's at the grid connection (from the grid
//! meter, or the chargers' sum where there is none), so these are the site's peaks, building
//! load included.

use super::zone::{HOUR_MS, pieces};
use super::{Curtailment, EnergyProfile};
use crate::store::Millis;
use crate::store::samples::SiteSample;
use chrono::TimeZone;

/// Wh from a mean power over `ms`.
fn wh(power_w: f64, ms: i64) -> f64 {
    power_w * ms as f64 / HOUR_MS as f64
}

/// Energy by local hour and weekday over `[from, end)`.
pub fn energy_profile<Tz: TimeZone>(
    samples: &[SiteSample],
    from: Millis,
    end: Millis,
    zone: &Tz,
) -> EnergyProfile {
    let mut p = EnergyProfile::default();
    for s in samples {
        let (a, b) = (s.at.max(from), (s.at + s.span_ms).min(end));
        let Some(power) = s.power_w else { continue };
        if a >= b {
            continue;
        }
        p.measured_ms += b - a;
        for piece in pieces(zone, a, b) {
            let day = piece.weekday().num_days_from_monday() as usize;
            let mut t = piece.start;
            while t < piece.end {
                let tod = piece.tod + (t - piece.start);
                let hour = (tod / HOUR_MS).clamp(0, 23) as usize;
                let next = (piece.start + (hour as i64 + 1) * HOUR_MS - piece.tod).min(piece.end);
                let e = wh(power, next - t);
                p.by_weekday_hour_wh[day][hour] += e;
                t = next;
            }
        }
    }
    for (day, hours) in p.by_weekday_hour_wh.iter().enumerate() {
        for (hour, e) in hours.iter().enumerate() {
            p.by_hour_wh[hour] += e;
            p.by_weekday_wh[day] += e;
        }
    }
    p.total_wh = p.by_weekday_wh.iter().sum();
    p.peak_hour = argmax(&p.by_hour_wh);
    p.peak_weekday = argmax(&p.by_weekday_wh).map(|d| WEEKDAYS[d as usize].to_string());
    p
}

/// Weekday names in the order of the profile's rows.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The index of the largest positive value (the first of equals); `None` if none is positive.
fn argmax(values: &[f64]) -> Option<u32> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in values.iter().enumerate() {
        if *v > 0.0 && best.is_none_or(|(_, b)| *v > b) {
            best = Some((i, *v));
        }
    }
    best.and_then(|(i, _)| u32::try_from(i).ok())
}

/// Time curtailed and energy deferred over `[from, end)`.
pub fn curtailment(samples: &[SiteSample], from: Millis, end: Millis) -> Curtailment {
    let mut c = Curtailment::default();
    for s in samples.iter().filter(|s| s.curtailed) {
        let d = (s.at + s.span_ms).min(end) - s.at.max(from);
        if d <= 0 {
            continue;
        }
        c.curtailed_ms += d;
        match s.deferred_w {
            Some(w) => c.deferred_wh += wh(w, d),
            None => c.unestimated_ms += d,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testzone::{Cet2026, SPRING};
    use chrono::FixedOffset;

    fn sample(at: Millis, span_ms: i64, power: Option<f64>, deferred: Option<f64>) -> SiteSample {
        SiteSample {
            at,
            span_ms,
            current_a: [None; 3],
            power_w: power,
            limit_a: [None; 3],
            curtailed: deferred.is_some(),
            deferred_w: deferred,
        }
    }

    #[test]
    fn a_sample_across_an_hour_is_shared_by_both_hours() {
        // Thursday 2026-01-01 09:30 to 10:30 UTC at 3.6 kW; the period starts at 09:45.
        let at = 1_767_259_800_000;
        let s = [sample(at, HOUR_MS, Some(3600.0), None)];
        let utc = FixedOffset::east_opt(0).expect("utc");
        let p = energy_profile(&s, at + 15 * 60_000, at + 10 * HOUR_MS, &utc);
        assert_eq!(p.measured_ms, 45 * 60_000);
        assert_eq!((p.by_hour_wh[9], p.by_hour_wh[10]), (900.0, 1800.0));
        assert_eq!(p.by_weekday_wh[3], 2700.0);
        assert_eq!(p.total_wh, 2700.0);
        assert_eq!(
            (p.peak_hour, p.peak_weekday.as_deref()),
            (Some(10), Some("thu"))
        );
    }

    #[test]
    fn energy_by_hour_follows_the_local_clock_over_the_spring_jump() {
        // 01:30 CET to 03:30 CEST: one real hour, half in hour 1 and half in hour 3.
        let s = [sample(SPRING - HOUR_MS / 2, HOUR_MS, Some(1000.0), None)];
        let p = energy_profile(&s, 0, i64::MAX / 2, &Cet2026);
        assert_eq!(
            (p.by_hour_wh[1], p.by_hour_wh[2], p.by_hour_wh[3]),
            (500.0, 0.0, 500.0)
        );
        assert_eq!(p.by_weekday_wh[6], 1000.0, "a Sunday");
    }

    #[test]
    fn curtailment_counts_spans_inside_the_period() {
        let s = [
            sample(0, 60_000, Some(1.0), Some(7200.0)),
            sample(60_000, 60_000, Some(1.0), None),
            sample(120_000, 60_000, Some(1.0), Some(3600.0)),
            SiteSample {
                curtailed: true,
                ..sample(180_000, 60_000, None, None)
            },
        ];
        let c = curtailment(&s, 30_000, 210_000);
        assert_eq!(c.curtailed_ms, 30_000 + 60_000 + 30_000);
        assert_eq!(c.deferred_wh, 60.0 + 60.0);
        assert_eq!(c.unestimated_ms, 30_000);
        let none = energy_profile(&[], 0, 1, &Cet2026);
        assert_eq!((none.total_wh, none.peak_hour), (0.0, None));
    }
}
