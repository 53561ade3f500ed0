//! Revenue by tariff band (pure): each session's cost split over the bands its time fell in.
//!
//! The journal keeps a session's start, stop, energy and cost, not how the energy was spread over
//! time, so the split assumes the energy flowed evenly from start to stop. Each part of the
//! session is priced with the band in force (its kWh price, its minute price or the base one),
//! the session fee is its own line, and the parts are then scaled so that they add up to the
//! cost recorded for the session; a session without a recorded cost keeps the tariff's price.

use super::zone::{Piece, WEEK, parse_weekday, pieces};
use super::{BandRevenue, Revenue};
use crate::config::{Tariff, TariffBand, parse_hhmm};
use crate::store::history::Session;
use chrono::{TimeZone, Weekday};

/// The line of the base prices (no band in force).
pub const BASE: &str = "base";
/// The line of the session fees.
pub const FEE: &str = "session fee";
/// The line of recorded costs the tariff gives no price to split by (no tariff, or a tariff that
/// prices the session at 0).
pub const UNSPLIT: &str = "unsplit";

/// A band's rule, in ms since local midnight.
#[derive(Debug, Clone)]
struct Rule {
    days: Vec<Weekday>,
    start: i64,
    end: i64,
}

impl Rule {
    fn new(b: &TariffBand) -> Option<Rule> {
        let ms = |s: &str| parse_hhmm(s).map(|m| i64::from(m) * 60_000);
        let days = if b.days.is_empty() {
            WEEK.to_vec()
        } else {
            b.days.iter().filter_map(|d| parse_weekday(d)).collect()
        };
        Some(Rule {
            days,
            start: ms(&b.start)?,
            end: ms(&b.end)?,
        })
    }

    /// Whether the band is in force at time of day `tod` on a day `day`. A band belongs to the
    /// day it starts on: one that ends at or before its start runs past midnight into the next
    /// day (an equal start and end: 24 hours).
    fn applies(&self, day: Weekday, tod: i64) -> bool {
        let on = |d: Weekday| self.days.contains(&d);
        if self.start < self.end {
            on(day) && self.start <= tod && tod < self.end
        } else {
            (on(day) && tod >= self.start) || (on(day.pred()) && tod < self.end)
        }
    }
}

/// The tariff, ready to price sessions.
#[derive(Debug, Clone)]
pub struct Pricing {
    tariff: Tariff,
    rules: Vec<Option<Rule>>,
}

impl Pricing {
    /// Prepares `tariff` (a band with an unreadable time never applies; validation refuses
    /// such configs anyway).
    pub fn new(tariff: &Tariff) -> Pricing {
        Pricing {
            tariff: tariff.clone(),
            rules: tariff.bands.iter().map(Rule::new).collect(),
        }
    }

    /// The revenue lines, in order: each band, the base prices, the session fee, unsplit.
    pub fn line_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tariff.bands.iter().map(|b| b.name.clone()).collect();
        names.extend([BASE, FEE, UNSPLIT].map(String::from));
        names
    }

    /// The band in force (index), or `None` for the base prices; the first band listed wins.
    fn band_at(&self, day: Weekday, tod: i64) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.applies(day, tod)))
    }

    /// Prices (per kWh, per minute) of a band or the base.
    fn prices(&self, band: Option<usize>) -> (f64, f64) {
        match band.and_then(|i| self.tariff.bands.get(i)) {
            Some(b) => (
                b.price_per_kwh,
                b.price_per_minute.unwrap_or(self.tariff.price_per_minute),
            ),
            None => (self.tariff.price_per_kwh, self.tariff.price_per_minute),
        }
    }

    /// The stretches of a piece with one band each: (band, ms).
    fn split_piece(&self, p: &Piece) -> Vec<(Option<usize>, i64)> {
        let (a, b) = (p.tod, p.tod_end());
        let mut edges: Vec<i64> = self
            .rules
            .iter()
            .flatten()
            .flat_map(|r| [r.start, r.end])
            .filter(|e| *e > a && *e < b)
            .collect();
        edges.push(a);
        edges.push(b);
        edges.sort_unstable();
        edges.dedup();
        edges
            .windows(2)
            .map(|w| (self.band_at(p.weekday(), w[0]), w[1] - w[0]))
            .collect()
    }

    /// One session's revenue lines, named as in [`Pricing::line_names`] (zeros included).
    pub fn split<Tz: TimeZone>(&self, s: &Session, zone: &Tz) -> Vec<BandRevenue> {
        let n = self.tariff.bands.len();
        let mut energy = vec![0.0; n + 1];
        let mut amount = vec![0.0; n + 1];
        let slot = |band: Option<usize>| band.unwrap_or(n);
        let total_ms = s.stopped_at - s.started_at;
        let wh = s.energy_wh as f64;
        if total_ms <= 0 {
            let p = pieces(zone, s.started_at, s.started_at + 1);
            let band = p.first().and_then(|p| self.band_at(p.weekday(), p.tod));
            energy[slot(band)] += wh;
            amount[slot(band)] += wh / 1000.0 * self.prices(band).0;
        } else {
            for piece in pieces(zone, s.started_at, s.stopped_at) {
                for (band, ms) in self.split_piece(&piece) {
                    let part = wh * ms as f64 / total_ms as f64;
                    let (per_kwh, per_min) = self.prices(band);
                    energy[slot(band)] += part;
                    amount[slot(band)] += part / 1000.0 * per_kwh + ms as f64 / 60_000.0 * per_min;
                }
            }
        }
        let fee = self.tariff.session_fee;
        let priced: f64 = amount.iter().sum::<f64>() + fee;
        let recorded = s.cost.unwrap_or(priced);
        let (scale, unsplit) = if priced > 0.0 {
            (recorded / priced, 0.0)
        } else {
            (0.0, recorded)
        };
        let mut lines: Vec<BandRevenue> = self
            .line_names()
            .into_iter()
            .map(|band| BandRevenue {
                band,
                energy_wh: 0.0,
                amount: 0.0,
            })
            .collect();
        for i in 0..=n {
            lines[i].energy_wh = energy[i];
            lines[i].amount = amount[i] * scale;
        }
        lines[n + 1].amount = fee * scale;
        lines[n + 2].amount = unsplit;
        lines
    }
}

/// Revenue of `sessions`: summed lines, by [`Pricing`] if there is a tariff; without one, every
/// session's energy and recorded cost go to the [`UNSPLIT`] line.
pub fn revenue<Tz: TimeZone>(
    sessions: &[&Session],
    pricing: Option<&Pricing>,
    zone: &Tz,
) -> Revenue {
    let mut out = Revenue {
        total: 0.0,
        by_band: match pricing {
            Some(p) => p.line_names(),
            None => vec![UNSPLIT.to_string()],
        }
        .into_iter()
        .map(|band| BandRevenue {
            band,
            energy_wh: 0.0,
            amount: 0.0,
        })
        .collect(),
    };
    for s in sessions {
        let lines = match pricing {
            Some(p) => p.split(s, zone),
            None => vec![BandRevenue {
                band: UNSPLIT.into(),
                energy_wh: s.energy_wh as f64,
                amount: s.cost.unwrap_or(0.0),
            }],
        };
        for (sum, line) in out.by_band.iter_mut().zip(lines) {
            sum.energy_wh += line.energy_wh;
            sum.amount += line.amount;
        }
    }
    out.total = out.by_band.iter().map(|l| l.amount).sum();
    out
}

#[cfg(test)]
mod tests;
