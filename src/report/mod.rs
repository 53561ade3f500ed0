//! Operator reports: figures from the site's history (pure), and their renderers.
//!
//! [`load`] reads the rows of a period from the database (read-only, next to a running daemon)
//! into a [`ReportInput`]; [`build`] turns that into a [`Report`] with no I/O, so every figure is
//! tested over plain data; [`render`] writes a report as a table, CSV, JSON or one self-contained
//! HTML page; [`daily`] makes the summary published over MQTT. What each figure means, exactly,
//! is in `docs/reports.md`.
//!
//! Times are [`Millis`] (UTC); wall-clock figures (hour of day, weekday, tariff bands, the
//! report's days) follow the zone given to [`build`], daylight saving included ([`zone`]).

pub mod daily;
pub mod load;
pub mod render;
pub mod sessions;
pub mod site;
pub mod status;
pub mod tariff;
pub mod zone;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testzone;

use crate::config::Tariff;
use crate::store::Millis;
use crate::store::history::{Session, StatusChange};
use crate::store::samples::SiteSample;
use chrono::TimeZone;
use serde::{Deserialize, Serialize};

pub use load::{ReportContext, ReportError, load_input};

/// A charger as the config names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargerInfo {
    /// Its OCPP connector number.
    pub connector: u32,
    /// Its name.
    pub name: String,
}

/// Everything a report is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportInput {
    /// The site's id and name, if known (from the config).
    pub site_id: Option<String>,
    /// The site's name.
    pub site_name: Option<String>,
    /// The configured chargers; connectors seen in the history but not here are added.
    pub chargers: Vec<ChargerInfo>,
    /// The tariff, if known.
    pub tariff: Option<Tariff>,
    /// How the zone is called in the report (`Europe/Berlin`, `+01:00`).
    pub zone_label: String,
    /// Start of the period.
    pub from: Millis,
    /// End of the period, exclusive.
    pub to: Millis,
    /// Now: a period reaching past it ends here for the time-based figures.
    pub now: Millis,
    /// Status changes in the period, with each connector's last one before it.
    pub status: Vec<StatusChange>,
    /// Sessions that started in the period.
    pub sessions: Vec<Session>,
    /// Site samples overlapping the period.
    pub samples: Vec<SiteSample>,
}

/// A report over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The site's id, if known.
    pub site_id: Option<String>,
    /// The site's name, if known.
    pub site_name: Option<String>,
    /// The period.
    pub period: Period,
    /// The tariff's currency, if known.
    pub currency: Option<String>,
    /// Per charger (connector), by connector number.
    pub chargers: Vec<ChargerReport>,
    /// The site as a whole.
    pub site: SiteReport,
}

/// The period a report covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// Start (UTC ms).
    pub from_ms: Millis,
    /// End, exclusive (UTC ms).
    pub to_ms: Millis,
    /// Where time-based figures end: the end, or now if that is earlier.
    pub end_ms: Millis,
    /// Start in local time (RFC 3339).
    pub from: String,
    /// End in local time (RFC 3339).
    pub to: String,
    /// Where time-based figures end, in local time (RFC 3339).
    pub end: String,
    /// The zone of the local times.
    pub time_zone: String,
}

/// One charger's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChargerReport {
    /// Its connector number.
    pub connector: u32,
    /// Its name (`connector N` when the config is not known).
    pub name: String,
    /// Whether any status of it was recorded by the period's end; if not, `time` is `None`
    /// and the renderers say "no data".
    pub reported: bool,
    /// Time by state; `None`: no data.
    pub time: Option<TimeShares>,
    /// Outages.
    pub faults: FaultStats,
    /// Sessions that started in the period.
    pub sessions: SessionStats,
    /// Their revenue, by tariff band.
    pub revenue: Revenue,
}

/// Time by state over the observed part of the period, ms, and as % of the time observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeShares {
    /// Time with a known status.
    pub observed_ms: i64,
    /// Communicating and not Faulted.
    pub up_ms: i64,
    /// Available, Preparing, Charging, SuspendedEV, SuspendedEVSE or Finishing.
    pub available_ms: i64,
    /// A vehicle connected: Preparing, Charging, SuspendedEV, SuspendedEVSE or Finishing.
    pub occupied_ms: i64,
    /// Charging.
    pub charging_ms: i64,
    /// `up_ms / observed_ms`, %.
    pub uptime_pct: f64,
    /// `available_ms / observed_ms`, %.
    pub availability_pct: f64,
    /// `occupied_ms / observed_ms`, %: utilization by occupation.
    pub occupied_pct: f64,
    /// `charging_ms / observed_ms`, %: utilization by charging.
    pub charging_pct: f64,
}

/// Outages: episodes of being down (Faulted or not communicating) that began in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultStats {
    /// Outages that began in the period.
    pub count: u32,
    /// Of those, the ones over by the period's end.
    pub recovered: u32,
    /// Their mean time to recover, ms.
    pub mean_recovery_ms: Option<f64>,
    /// Their longest time to recover, ms.
    pub max_recovery_ms: Option<i64>,
    /// Down at the period's end.
    pub down_at_end: bool,
}

/// Session counts, energy and durations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    /// Sessions that started in the period (and have stopped).
    pub count: u32,
    /// Their energy, Wh.
    pub energy_wh: i64,
    /// Mean energy per session, Wh.
    pub mean_energy_wh: Option<f64>,
    /// Median energy per session, Wh.
    pub median_energy_wh: Option<f64>,
    /// Mean duration (start to stop), ms.
    pub mean_duration_ms: Option<f64>,
    /// Median duration, ms.
    pub median_duration_ms: Option<f64>,
    /// Time in sessions without energy flowing, ms.
    pub idle_ms: i64,
}

/// Revenue, by tariff band.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Revenue {
    /// The sum of the lines.
    pub total: f64,
    /// One line per band, then the base prices, the session fees, and recorded costs not split.
    pub by_band: Vec<BandRevenue>,
}

/// One tariff band's share.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BandRevenue {
    /// The band's name, [`tariff::BASE`], [`tariff::FEE`] or [`tariff::UNSPLIT`].
    pub band: String,
    /// Energy priced in the band, Wh.
    pub energy_wh: f64,
    /// Revenue, in the tariff's currency.
    pub amount: f64,
}

/// The site's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteReport {
    /// All sessions.
    pub sessions: SessionStats,
    /// All revenue.
    pub revenue: Revenue,
    /// Up time of all chargers with data over their time observed, %; `None`: no data.
    pub uptime_pct: Option<f64>,
    /// Available time of all chargers with data over their time observed, %.
    pub availability_pct: Option<f64>,
    /// Outages of all chargers.
    pub faults: u32,
    /// Energy at the grid connection by local hour and weekday.
    pub energy: EnergyProfile,
    /// Time curtailed and energy deferred.
    pub curtailment: Curtailment,
}

/// Energy by local hour of day and day of week, Wh.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyProfile {
    /// Time covered by samples with a power, ms.
    pub measured_ms: i64,
    /// All of it, Wh.
    pub total_wh: f64,
    /// By hour of day 0..23.
    pub by_hour_wh: [f64; 24],
    /// By weekday, Monday first.
    pub by_weekday_wh: [f64; 7],
    /// By weekday (Monday first) and hour.
    pub by_weekday_hour_wh: [[f64; 24]; 7],
    /// The hour of day with the most energy.
    pub peak_hour: Option<u32>,
    /// The weekday with the most energy (`mon` .. `sun`).
    pub peak_weekday: Option<String>,
}

/// Curtailment by a limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Curtailment {
    /// Time in which some charger got less than it could take because of a limit, ms.
    pub curtailed_ms: i64,
    /// Energy the curtailed chargers could have taken on top in that time, Wh (estimate).
    pub deferred_wh: f64,
    /// Curtailed time of samples without an estimate, ms.
    pub unestimated_ms: i64,
}

/// Computes the report of `input` in `zone`.
pub fn build<Tz: TimeZone>(input: &ReportInput, zone: &Tz) -> Report {
    let end = input.to.min(input.now).max(input.from);
    let pricing = input.tariff.as_ref().map(tariff::Pricing::new);
    let mut chargers = input.chargers.clone();
    let seen = input
        .status
        .iter()
        .map(|s| s.connector)
        .chain(input.sessions.iter().map(|s| s.connector));
    for c in seen.filter(|c| *c != 0) {
        if !chargers.iter().any(|k| k.connector == c) {
            chargers.push(ChargerInfo {
                connector: c,
                name: format!("connector {c}"),
            });
        }
    }
    chargers.sort_by_key(|c| c.connector);
    let reports: Vec<ChargerReport> = chargers
        .iter()
        .map(|c| {
            let changes: Vec<&StatusChange> = input
                .status
                .iter()
                .filter(|s| s.connector == c.connector)
                .collect();
            let own: Vec<&Session> = input
                .sessions
                .iter()
                .filter(|s| s.connector == c.connector)
                .collect();
            let time = status::time_shares(&changes, input.from, end);
            ChargerReport {
                connector: c.connector,
                name: c.name.clone(),
                reported: time.is_some(),
                time,
                faults: status::faults(&changes, input.from, end),
                sessions: sessions::stats(&own),
                revenue: tariff::revenue(&own, pricing.as_ref(), zone),
            }
        })
        .collect();
    let all: Vec<&Session> = input.sessions.iter().collect();
    let with_data: Vec<&TimeShares> = reports.iter().filter_map(|r| r.time.as_ref()).collect();
    let observed: i64 = with_data.iter().map(|t| t.observed_ms).sum();
    let share = |f: fn(&TimeShares) -> i64| {
        (observed > 0)
            .then(|| 100.0 * with_data.iter().map(|t| f(t)).sum::<i64>() as f64 / observed as f64)
    };
    let site = SiteReport {
        sessions: sessions::stats(&all),
        revenue: tariff::revenue(&all, pricing.as_ref(), zone),
        uptime_pct: share(|t| t.up_ms),
        availability_pct: share(|t| t.available_ms),
        faults: reports.iter().map(|r| r.faults.count).sum(),
        energy: site::energy_profile(&input.samples, input.from, end, zone),
        curtailment: site::curtailment(&input.samples, input.from, end),
    };
    Report {
        site_id: input.site_id.clone(),
        site_name: input.site_name.clone(),
        period: Period {
            from_ms: input.from,
            to_ms: input.to,
            end_ms: end,
            from: zone::format_local(zone, input.from),
            to: zone::format_local(zone, input.to),
            end: zone::format_local(zone, end),
            time_zone: input.zone_label.clone(),
        },
        currency: input.tariff.as_ref().map(|t| t.currency.clone()),
        chargers: reports,
        site,
    }
}
