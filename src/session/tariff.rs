//! Local cost of a session (pure): price per kWh and per minute, a session fee, and time-of-use
//! bands in the site's local time. Energy between two readings counts as spread evenly over the
//! time between them, so a span that crosses a band boundary is priced on both sides of it.

use crate::config::parse_hhmm;
use crate::config::schema::Tariff as TariffConfig;
use chrono::{Datelike, Duration, NaiveDateTime, Timelike};

const DAY_MIN: u32 = 24 * 60;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A time-of-use band.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Bit `d` set: the band starts on weekday `d` (0 = Monday).
    pub days: u8,
    /// Minutes since midnight; `end <= start` runs past midnight into the next day.
    pub start_min: u32,
    pub end_min: u32,
    pub price_per_kwh: f64,
    pub price_per_minute: Option<f64>,
}

impl Band {
    fn starts_on(&self, weekday: u32) -> bool {
        self.days & (1 << weekday) != 0
    }

    /// True when the band is in force at `t`.
    fn covers(&self, t: NaiveDateTime) -> bool {
        let minute = t.hour() * 60 + t.minute();
        let today = t.weekday().num_days_from_monday();
        let yesterday = (today + 6) % 7;
        if self.end_min > self.start_min {
            self.starts_on(today) && minute >= self.start_min && minute < self.end_min
        } else {
            (self.starts_on(today) && minute >= self.start_min)
                || (self.starts_on(yesterday) && minute < self.end_min)
        }
    }
}

/// The site's prices.
#[derive(Debug, Clone, PartialEq)]
pub struct Tariff {
    pub currency: String,
    pub price_per_kwh: f64,
    pub price_per_minute: f64,
    pub session_fee: f64,
    /// The first band in force at an instant sets its prices.
    pub bands: Vec<Band>,
}

impl Tariff {
    /// From a checked `[tariff]` (bands with times that do not parse are skipped).
    pub fn from_config(t: &TariffConfig) -> Tariff {
        let bands = t
            .bands
            .iter()
            .filter_map(|b| {
                let start_min = parse_hhmm(&b.start)?;
                let end_min = parse_hhmm(&b.end)? % DAY_MIN;
                let days = if b.days.is_empty() {
                    0x7f
                } else {
                    b.days
                        .iter()
                        .filter_map(|d| DAYS.iter().position(|x| x == d))
                        .fold(0u8, |acc, i| acc | (1 << i))
                };
                Some(Band {
                    days,
                    start_min,
                    end_min,
                    price_per_kwh: b.price_per_kwh,
                    price_per_minute: b.price_per_minute,
                })
            })
            .collect();
        Tariff {
            currency: t.currency.clone(),
            price_per_kwh: t.price_per_kwh,
            price_per_minute: t.price_per_minute,
            session_fee: t.session_fee,
            bands,
        }
    }

    /// Price per kWh and per minute at local time `t`.
    pub fn prices_at(&self, t: NaiveDateTime) -> (f64, f64) {
        match self.bands.iter().find(|b| b.covers(t)) {
            Some(b) => (
                b.price_per_kwh,
                b.price_per_minute.unwrap_or(self.price_per_minute),
            ),
            None => (self.price_per_kwh, self.price_per_minute),
        }
    }

    /// The next instant after `t` at which a price may change (a band edge or midnight).
    fn next_edge(&self, t: NaiveDateTime) -> NaiveDateTime {
        let midnight = t.date().and_hms_opt(0, 0, 0).unwrap_or(t);
        let since = t - midnight;
        self.bands
            .iter()
            .flat_map(|b| [b.start_min, b.end_min])
            .map(|m| Duration::minutes(i64::from(m)))
            .filter(|d| *d > since)
            .min()
            .map_or(midnight + Duration::days(1), |d| midnight + d)
    }

    /// The cost of `energy_wh` taken evenly between `from` and `to`, and of that time.
    pub fn span_cost(&self, from: NaiveDateTime, to: NaiveDateTime, energy_wh: f64) -> f64 {
        let energy_wh = energy_wh.max(0.0);
        if to <= from {
            return energy_wh / 1000.0 * self.prices_at(from).0;
        }
        let total_s = (to - from).as_seconds_f64();
        let mut cost = 0.0;
        let mut t = from;
        while t < to {
            let end = self.next_edge(t).min(to);
            let (per_kwh, per_min) = self.prices_at(t);
            let part_s = (end - t).as_seconds_f64();
            cost += energy_wh * part_s / total_s / 1000.0 * per_kwh + part_s / 60.0 * per_min;
            t = end;
        }
        cost
    }
}

/// A running session's cost, fed with its energy register as it is read.
#[derive(Debug, Clone, PartialEq)]
pub struct CostMeter {
    cost: f64,
    last: (NaiveDateTime, f64),
}

impl CostMeter {
    /// A session that starts at local time `at` with the register at `register_wh`.
    pub fn start(tariff: &Tariff, at: NaiveDateTime, register_wh: f64) -> CostMeter {
        CostMeter {
            cost: tariff.session_fee,
            last: (at, register_wh),
        }
    }

    /// The register read `register_wh` at local time `at`.
    pub fn advance(&mut self, tariff: &Tariff, at: NaiveDateTime, register_wh: f64) {
        let (t0, e0) = self.last;
        if at < t0 {
            return;
        }
        self.cost += tariff.span_cost(t0, at, register_wh - e0);
        self.last = (at, register_wh.max(e0));
    }

    /// The cost so far, rounded to the cent.
    pub fn total(&self) -> f64 {
        (self.cost * 100.0).round() / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(day: u32, h: u32, m: u32) -> NaiveDateTime {
        // 2026-06-01 is a Monday.
        NaiveDate::from_ymd_opt(2026, 6, day)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    }

    fn base() -> Tariff {
        Tariff {
            currency: "EUR".into(),
            price_per_kwh: 0.40,
            price_per_minute: 0.0,
            session_fee: 0.50,
            bands: vec![],
        }
    }

    fn band(days: u8, start: u32, end: u32, per_kwh: f64) -> Band {
        Band {
            days,
            start_min: start,
            end_min: end,
            price_per_kwh: per_kwh,
            price_per_minute: None,
        }
    }

    #[test]
    fn kwh_minutes_and_fee() {
        let mut t = base();
        t.price_per_minute = 0.02;
        let mut m = CostMeter::start(&t, at(1, 10, 0), 1000.0);
        m.advance(&t, at(1, 10, 30), 6000.0);
        m.advance(&t, at(1, 11, 0), 11000.0);
        // 10 kWh x 0.40 + 60 min x 0.02 + 0.50
        assert!((m.total() - 5.70).abs() < 1e-9, "{}", m.total());
    }

    #[test]
    fn a_span_across_a_band_edge_is_split_by_time() {
        let mut t = base();
        t.bands.push(band(0x7f, 17 * 60, 20 * 60, 0.60));
        // 16:30 -> 17:30, 4 kWh evenly: 2 kWh at 0.40 and 2 kWh at 0.60.
        let c = t.span_cost(at(1, 16, 30), at(1, 17, 30), 4000.0);
        assert!((c - 2.0).abs() < 1e-9, "{c}");
        assert_eq!(t.prices_at(at(1, 20, 0)).0, 0.40);
        assert_eq!(t.prices_at(at(1, 19, 59)).0, 0.60);
    }

    #[test]
    fn bands_follow_their_days_and_run_past_midnight() {
        let mut t = base();
        // Weekdays 17:00-20:00 peak; Friday 22:00 -> 06:00 night rate.
        t.bands.push(band(0b001_1111, 17 * 60, 20 * 60, 0.60));
        t.bands.push(band(0b001_0000, 22 * 60, 6 * 60, 0.20));
        assert_eq!(t.prices_at(at(6, 18, 0)).0, 0.40, "Saturday: no peak");
        assert_eq!(t.prices_at(at(5, 18, 0)).0, 0.60, "Friday peak");
        assert_eq!(t.prices_at(at(5, 23, 0)).0, 0.20, "Friday night");
        assert_eq!(t.prices_at(at(6, 5, 59)).0, 0.20, "early Saturday");
        assert_eq!(t.prices_at(at(6, 6, 0)).0, 0.40);
        assert_eq!(t.prices_at(at(4, 23, 0)).0, 0.40, "Thursday night");
        // Friday 21:00 -> Saturday 07:00, 10 kWh evenly over 10 h: 1 h base, 8 h night, 1 h base.
        let c = t.span_cost(at(5, 21, 0), at(6, 7, 0), 10_000.0);
        assert!(
            (c - (1.0 * 0.40 + 8.0 * 0.20 + 1.0 * 0.40)).abs() < 1e-9,
            "{c}"
        );
    }

    #[test]
    fn band_per_minute_price_replaces_the_base_one() {
        let mut t = base();
        t.price_per_minute = 0.01;
        t.bands.push(Band {
            price_per_minute: Some(0.05),
            ..band(0x7f, 0, 12 * 60, 0.40)
        });
        let c = t.span_cost(at(1, 11, 0), at(1, 13, 0), 0.0);
        assert!((c - (60.0 * 0.05 + 60.0 * 0.01)).abs() < 1e-9, "{c}");
    }

    #[test]
    fn from_config_reads_days_and_times() {
        let cfg = TariffConfig {
            currency: "EUR".into(),
            price_per_kwh: 0.45,
            price_per_minute: 0.0,
            session_fee: 0.30,
            bands: vec![crate::config::schema::TariffBand {
                name: "evening-peak".into(),
                days: vec!["mon".into(), "fri".into()],
                start: "17:00".into(),
                end: "24:00".into(),
                price_per_kwh: 0.59,
                price_per_minute: None,
            }],
        };
        let t = Tariff::from_config(&cfg);
        assert_eq!(t.bands[0].days, 0b001_0001);
        assert_eq!((t.bands[0].start_min, t.bands[0].end_min), (1020, 0));
        assert_eq!(t.prices_at(at(1, 23, 59)).0, 0.59);
        assert_eq!(t.prices_at(at(2, 0, 0)).0, 0.45);
    }

    #[test]
    fn a_register_going_back_costs_nothing() {
        let t = base();
        let mut m = CostMeter::start(&t, at(1, 10, 0), 5000.0);
        m.advance(&t, at(1, 10, 10), 4000.0);
        m.advance(&t, at(1, 10, 20), 6000.0);
        assert!((m.total() - (0.50 + 0.40)).abs() < 1e-9, "{}", m.total());
    }
}
