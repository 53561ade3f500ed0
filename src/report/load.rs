//! The thin I/O edge of reports: the period from the command line's dates, and the rows of that
//! period from the database.

use super::zone::{DAY_MS, day_start, local_date};
use super::{ChargerInfo, ReportInput};
use crate::config::{SiteConfig, Tariff};
use crate::store::history::{sessions, status_changes};
use crate::store::samples::site_samples;
use crate::store::{Millis, StoreError};
use chrono::{NaiveDate, TimeDelta, TimeZone};
use rusqlite::Connection;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The database could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A date on the command line.
    #[error("`{0}` is not a date YYYY-MM-DD")]
    Date(String),
    /// The period is empty or reversed.
    #[error("the period is empty: --from {from} is not before --to {to}")]
    Period {
        /// The start date.
        from: NaiveDate,
        /// The end date.
        to: NaiveDate,
    },
    /// A `--tz` argument.
    #[error("`{0}` is not a time zone offset (use local, UTC or +HH:MM; named zones go in TZ)")]
    Zone(String),
    /// Rendering to JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// What the report knows besides the database: from the site config, when there is one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportContext {
    /// The site's id.
    pub site_id: Option<String>,
    /// The site's name.
    pub site_name: Option<String>,
    /// The configured chargers.
    pub chargers: Vec<ChargerInfo>,
    /// The tariff.
    pub tariff: Option<Tariff>,
    /// The zone's name for the report.
    pub zone_label: String,
}

impl ReportContext {
    /// The context a site config gives.
    pub fn from_config(config: &SiteConfig, zone_label: &str) -> ReportContext {
        ReportContext {
            site_id: Some(config.site.id.clone()),
            site_name: Some(config.site.name.clone()),
            chargers: config
                .chargers
                .iter()
                .map(|c| ChargerInfo {
                    connector: c.connector,
                    name: c.name.clone(),
                })
                .collect(),
            tariff: config.tariff.clone(),
            zone_label: zone_label.to_string(),
        }
    }
}

/// Samples starting up to this long before the period are read, so one that reaches into the
/// period counts for its part inside (recorded samples are a minute, merged ones 15 minutes).
const SAMPLE_LOOKBACK_MS: i64 = DAY_MS;

/// Reads the rows of `[from, to)` for a report.
pub fn load_input(
    conn: &Connection,
    ctx: &ReportContext,
    from: Millis,
    to: Millis,
    now: Millis,
) -> Result<ReportInput, ReportError> {
    Ok(ReportInput {
        site_id: ctx.site_id.clone(),
        site_name: ctx.site_name.clone(),
        chargers: ctx.chargers.clone(),
        tariff: ctx.tariff.clone(),
        zone_label: ctx.zone_label.clone(),
        from,
        to,
        now,
        status: status_changes(conn, from, to)?,
        sessions: sessions(conn, from, to)?,
        samples: site_samples(conn, from.saturating_sub(SAMPLE_LOOKBACK_MS), to)?,
    })
}

/// A `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<NaiveDate, ReportError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| ReportError::Date(text.into()))
}

/// The period of local dates `[from, to)` in `zone`: by default the last 7 days up to and
/// including today; only `from`: up to the end of today; only `to`: the 7 days before it.
pub fn period<Tz: TimeZone>(
    zone: &Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now: Millis,
) -> Result<(Millis, Millis), ReportError> {
    let today = local_date(zone, now);
    let to = to.unwrap_or(today + TimeDelta::days(1));
    let from = from.unwrap_or(to - TimeDelta::days(7));
    if from >= to {
        return Err(ReportError::Period { from, to });
    }
    Ok((day_start(zone, from), day_start(zone, to)))
}

/// The local day before the one `now` is in: its date and `[start, end)`.
pub fn previous_day<Tz: TimeZone>(zone: &Tz, now: Millis) -> (NaiveDate, Millis, Millis) {
    let today = local_date(zone, now);
    let yesterday = today - TimeDelta::days(1);
    (
        yesterday,
        day_start(zone, yesterday),
        day_start(zone, today),
    )
}

/// The next local midnight after `now`.
pub fn next_midnight<Tz: TimeZone>(zone: &Tz, now: Millis) -> Millis {
    day_start(zone, local_date(zone, now) + TimeDelta::days(1))
}

/// How the local zone is called: the `TZ` environment variable, else the zone `/etc/localtime`
/// links to, else `local time`.
pub fn local_zone_label() -> String {
    if let Ok(tz) = std::env::var("TZ") {
        let tz = tz.trim_start_matches(':');
        if !tz.is_empty() {
            return tz.to_string();
        }
    }
    std::fs::read_link("/etc/localtime")
        .ok()
        .and_then(|p| {
            let p = p.to_string_lossy().into_owned();
            p.split_once("zoneinfo/").map(|(_, name)| name.to_string())
        })
        .unwrap_or_else(|| "local time".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testzone::Cet2026;

    fn date(s: &str) -> NaiveDate {
        parse_date(s).expect("date")
    }

    #[test]
    fn periods_are_local_days() {
        // 2026-03-30 12:00 CEST.
        let now = 1_774_864_800_000;
        let (a, b) = period(&Cet2026, None, None, now).expect("period");
        assert_eq!(a, day_start(&Cet2026, date("2026-03-24")));
        assert_eq!(b, day_start(&Cet2026, date("2026-03-31")));
        assert_eq!(
            b - a,
            7 * DAY_MS - 3_600_000,
            "the week with the spring day is shorter"
        );
        let (a, b) = period(
            &Cet2026,
            Some(date("2026-03-29")),
            Some(date("2026-03-30")),
            now,
        )
        .expect("one day");
        assert_eq!(b - a, 23 * 3_600_000);
        assert!(matches!(
            period(
                &Cet2026,
                Some(date("2026-03-30")),
                Some(date("2026-03-30")),
                now
            ),
            Err(ReportError::Period { .. })
        ));
        assert!(matches!(
            parse_date("30.03.2026"),
            Err(ReportError::Date(_))
        ));
        let (d, a, b) = previous_day(&Cet2026, now);
        assert_eq!((d, b - a), (date("2026-03-29"), 23 * 3_600_000));
        assert_eq!(
            next_midnight(&Cet2026, now),
            day_start(&Cet2026, date("2026-03-31"))
        );
    }
}
