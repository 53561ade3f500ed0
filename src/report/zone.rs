//! Local time for reports (pure): the site's days, hours and weekdays as its clock shows them,
//! daylight saving included.
//!
//! Every figure that depends on the wall clock (energy by hour, tariff bands, the report's
//! days) cuts time into [`Piece`]s: stretches in which the zone's UTC offset does not change and
//! the local date stays the same. Inside a piece local time is UTC plus a constant, so the local
//! time of day of any instant is a subtraction away. On the day clocks go forward the piece ends
//! at the jump (the hour skipped has no time in it); on the day they go back the repeated hour
//! appears in two pieces, and counts twice as hour of day.

use crate::store::Millis;
use chrono::{DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, Offset, TimeZone, Weekday};

/// Milliseconds in a day of 24 hours.
pub const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;

/// A stretch of time with one UTC offset, inside one local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Start (UTC).
    pub start: Millis,
    /// End, exclusive (UTC).
    pub end: Millis,
    /// The local date.
    pub date: NaiveDate,
    /// Local time of day at `start`, ms since local midnight.
    pub tod: i64,
}

impl Piece {
    /// Local time of day at the end of the piece (up to [`DAY_MS`]).
    pub fn tod_end(&self) -> i64 {
        self.tod + (self.end - self.start)
    }

    /// The weekday of the piece's date.
    pub fn weekday(&self) -> Weekday {
        self.date.weekday()
    }
}

/// The zone's offset from UTC at `t`, ms (0 for an instant chrono cannot represent).
pub fn offset_ms<Tz: TimeZone>(zone: &Tz, t: Millis) -> i64 {
    DateTime::from_timestamp_millis(t).map_or(0, |utc| {
        i64::from(
            zone.offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        ) * 1000
    })
}

/// The local date at `t`.
pub fn local_date<Tz: TimeZone>(zone: &Tz, t: Millis) -> NaiveDate {
    DateTime::from_timestamp_millis(t + offset_ms(zone, t))
        .map(|local| local.date_naive())
        .unwrap_or_default()
}

/// `t` as local time in RFC 3339 (`2026-03-29T03:00:00+02:00`).
pub fn format_local<Tz: TimeZone>(zone: &Tz, t: Millis) -> String {
    let off = offset_ms(zone, t);
    let fixed = i32::try_from(off / 1000)
        .ok()
        .and_then(FixedOffset::east_opt)
        .unwrap_or_else(|| Offset::fix(&chrono::Utc));
    match DateTime::from_timestamp_millis(t) {
        Some(utc) => utc
            .with_timezone(&fixed)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        None => t.to_string(),
    }
}

/// The instant the local `date` begins: its midnight, or, where midnight falls into a jump of
/// the clock, the first instant after the jump.
pub fn day_start<Tz: TimeZone>(zone: &Tz, date: NaiveDate) -> Millis {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    // A gap is shorter than a day; the first local minute that exists after it is the jump.
    for minute in 0..(24 * 60) {
        let local = midnight + chrono::TimeDelta::minutes(minute);
        match zone.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return t.timestamp_millis();
            }
            LocalResult::None => {}
        }
    }
    // No zone skips a whole day; read midnight as UTC rather than fail.
    midnight.and_utc().timestamp_millis()
}

/// `[from, to)` cut into pieces of constant offset within one local date, in order.
///
/// Assumes the offset changes at most once between an instant and the next local midnight
/// (true of every zone in use).
pub fn pieces<Tz: TimeZone>(zone: &Tz, from: Millis, to: Millis) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        let off = offset_ms(zone, t);
        let local = t + off;
        let tod = local.rem_euclid(DAY_MS);
        let mut end = to.min(t + (DAY_MS - tod));
        if offset_ms(zone, end - 1) != off {
            // The first instant with another offset, in (t, end - 1].
            let (mut lo, mut hi) = (t, end - 1);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset_ms(zone, mid) == off {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            end = hi;
        }
        out.push(Piece {
            start: t,
            end,
            date: local_date(zone, t),
            tod,
        });
        t = end;
    }
    out
}

/// Every weekday, Monday first.
pub const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// Three-letter lowercase name of a weekday, as tariff bands spell it (`mon` .. `sun`).
pub fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// The weekday named `mon` .. `sun`.
pub fn parse_weekday(name: &str) -> Option<Weekday> {
    WEEK.into_iter().find(|d| weekday_name(*d) == name)
}

/// A fixed offset from a `--tz` argument: `UTC`, `Z`, `+02:00`, `-0530`, `+1`.
pub fn parse_fixed_offset(text: &str) -> Option<FixedOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> Millis {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("time")
            .timestamp_millis()
    }

    #[test]
    fn a_fixed_zone_cuts_at_local_midnight() {
        let z = FixedOffset::east_opt(3600).expect("zone");
        let p = pieces(
            &z,
            ms("2026-01-01T20:00:00+01:00"),
            ms("2026-01-02T02:00:00+01:00"),
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].tod, 20 * HOUR_MS);
        assert_eq!(p[0].tod_end(), DAY_MS);
        assert_eq!(
            p[1].date,
            NaiveDate::from_ymd_opt(2026, 1, 2).expect("date")
        );
        assert_eq!((p[1].tod, p[1].tod_end()), (0, 2 * HOUR_MS));
        assert_eq!(p[1].weekday(), Weekday::Fri);
    }

    #[test]
    fn offsets_parse_in_the_usual_spellings() {
        let off = |s| parse_fixed_offset(s).map(|o| o.local_minus_utc());
        assert_eq!(off("UTC"), Some(0));
        assert_eq!(off("+02:00"), Some(7200));
        assert_eq!(off("-0530"), Some(-(5 * 3600 + 30 * 60)));
        assert_eq!(off("+1"), Some(3600));
        assert_eq!(off("Europe/Berlin"), None);
        assert_eq!(off("+25:00"), None);
        assert_eq!(off(""), None);
    }

    #[test]
    fn day_start_and_local_dates_agree() {
        let z = FixedOffset::west_opt(5 * 3600).expect("zone");
        let d = NaiveDate::from_ymd_opt(2026, 7, 4).expect("date");
        let start = day_start(&z, d);
        assert_eq!(start, ms("2026-07-04T05:00:00Z"));
        assert_eq!(local_date(&z, start), d);
        assert_eq!(local_date(&z, start - 1), d.pred_opt().expect("pred"));
        assert_eq!(format_local(&z, start), "2026-07-04T00:00:00-05:00");
        assert_eq!(parse_weekday("sat"), Some(Weekday::Sat));
        assert_eq!(parse_weekday("Sat"), None);
    }
}
