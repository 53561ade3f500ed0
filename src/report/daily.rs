//! The daily summary published over MQTT on `<prefix>/report/daily` (retained): the previous local
//! day's energy, sessions, revenue and uptime, for the site and each charger.

use super::load::{ReportContext, ReportError, load_input, previous_day};
use super::{Report, build};
use crate::store::{Millis, Store};
use chrono::TimeZone;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The summary of one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailySummary {
    /// The site's id.
    pub site_id: Option<String>,
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    /// The zone of that date.
    pub time_zone: String,
    /// The day's start and end (UTC ms; 23 or 25 hours apart on daylight-saving days).
    pub from_ms: Millis,
    /// End, exclusive.
    pub to_ms: Millis,
    /// Energy of the sessions that started that day, kWh.
    pub energy_kwh: f64,
    /// Sessions that started that day.
    pub sessions: u32,
    /// Their revenue.
    pub revenue: f64,
    /// The tariff's currency, if known.
    pub currency: Option<String>,
    /// Site uptime, %; `None`: no charger reported.
    pub uptime_pct: Option<f64>,
    /// Outages that began that day.
    pub faults: u32,
    /// Per charger.
    pub chargers: Vec<ChargerDay>,
}

/// One charger's day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChargerDay {
    /// Connector number.
    pub connector: u32,
    /// Name.
    pub name: String,
    /// Session energy, kWh.
    pub energy_kwh: f64,
    /// Sessions.
    pub sessions: u32,
    /// Revenue.
    pub revenue: f64,
    /// Uptime, %; `None`: no data.
    pub uptime_pct: Option<f64>,
}

/// Where the daemon's daily summary comes from: its database and what the config tells.
#[derive(Debug, Clone, PartialEq)]
pub struct DailySource {
    /// The database, opened read-only for each summary.
    pub database: std::path::PathBuf,
    /// Names, tariff and zone label.
    pub context: ReportContext,
}

/// Rounds to `places` decimals (for payloads people read).
fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// The summary of a one-day `report` of local `date` (pure): energy to the Wh, money to the
/// cent, percentages to 0.01.
pub fn summary(report: &Report, date: chrono::NaiveDate) -> DailySummary {
    let s = &report.site;
    DailySummary {
        site_id: report.site_id.clone(),
        date: date.format("%Y-%m-%d").to_string(),
        time_zone: report.period.time_zone.clone(),
        from_ms: report.period.from_ms,
        to_ms: report.period.to_ms,
        energy_kwh: round(s.sessions.energy_wh as f64 / 1000.0, 3),
        sessions: s.sessions.count,
        revenue: round(s.revenue.total, 2),
        currency: report.currency.clone(),
        uptime_pct: s.uptime_pct.map(|p| round(p, 2)),
        faults: s.faults,
        chargers: report
            .chargers
            .iter()
            .map(|c| ChargerDay {
                connector: c.connector,
                name: c.name.clone(),
                energy_kwh: round(c.sessions.energy_wh as f64 / 1000.0, 3),
                sessions: c.sessions.count,
                revenue: round(c.revenue.total, 2),
                uptime_pct: c.time.as_ref().map(|t| round(t.uptime_pct, 2)),
            })
            .collect(),
    }
}

/// The topic of the daily summary under `prefix`.
pub fn topic(prefix: &str) -> String {
    format!("{}/report/daily", prefix.trim_end_matches('/'))
}

/// Reads the database at `path` (read-only) and summarizes the local day before `now` (the site's
/// clock: the `TZ` environment or the system's zone when `zone` is [`chrono::Local`]).
pub fn previous_day_summary<Tz: TimeZone>(
    path: &Path,
    ctx: &ReportContext,
    zone: &Tz,
    now: Millis,
) -> Result<DailySummary, ReportError> {
    let (date, from, to) = previous_day(zone, now);
    let store = Store::open_read_only(path)?;
    let input = load_input(store.conn(), ctx, from, to, now)?;
    Ok(summary(&build(&input, zone), date))
}

/// The JSON summary of the local day before `at` (the site's clock, [`chrono::Local`]), read
/// off the async threads; `None`, logged, if it cannot be made.
pub async fn payload(source: DailySource, at: Millis) -> Option<String> {
    let made = tokio::task::spawn_blocking(move || {
        previous_day_summary(&source.database, &source.context, &chrono::Local, at)
    })
    .await;
    match made {
        Ok(Ok(summary)) => match serde_json::to_string(&summary) {
            Ok(payload) => {
                tracing::info!(date = %summary.date, "daily summary made");
                Some(payload)
            }
            Err(e) => {
                tracing::warn!(error = %e, "daily summary not serialized");
                None
            }
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no daily summary");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "daily summary task failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ReportInput;
    use crate::report::testzone::Cet2026;
    use crate::store::history::StatusChange;

    #[test]
    fn a_day_is_summarized_with_rounded_figures() {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 10, 25).expect("date");
        let from = crate::report::zone::day_start(&Cet2026, date);
        let to = from + 25 * 3_600_000;
        let input = ReportInput {
            site_id: Some("s".into()),
            zone_label: "Europe/Berlin".into(),
            from,
            to,
            now: to + 1,
            status: vec![
                StatusChange {
                    connector: 2,
                    status: "Available".into(),
                    error_code: "NoError".into(),
                    info: None,
                    at: from,
                },
                StatusChange {
                    connector: 2,
                    status: "Faulted".into(),
                    error_code: "OtherError".into(),
                    info: None,
                    at: from + 24 * 3_600_000,
                },
            ],
            ..ReportInput::default()
        };
        let s = summary(&build(&input, &Cet2026), date);
        assert_eq!(s.date, "2026-10-25");
        assert_eq!(s.to_ms - s.from_ms, 25 * 3_600_000);
        assert_eq!(s.uptime_pct, Some(96.0), "24 of 25 hours");
        assert_eq!((s.faults, s.sessions, s.energy_kwh), (1, 0, 0.0));
        assert_eq!(s.chargers.len(), 1);
        assert_eq!(s.chargers[0].name, "connector 2");
        assert_eq!(topic("hubgate/site-1/"), "hubgate/site-1/report/daily");
    }
}
