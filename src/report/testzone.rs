//! Central European Time with the 2026 daylight-saving dates, as a chrono zone built in: unit tests
//! of daylight-saving days then depend neither on the machine's zone nor on its zone database.

use chrono::{FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// CET (+01:00), and CEST (+02:00) from 2026-03-29 01:00 UTC to 2026-10-25 01:00 UTC.
#[derive(Debug, Clone, Copy)]
pub struct Cet2026;

/// 2026-03-29T01:00:00Z: clocks go from 02:00 to 03:00.
pub const SPRING: i64 = 1_774_746_000_000;
/// 2026-10-25T01:00:00Z: clocks go from 03:00 back to 02:00.
pub const AUTUMN: i64 = 1_792_890_000_000;

fn cet() -> FixedOffset {
    FixedOffset::east_opt(3600).unwrap_or_else(|| unreachable!())
}

fn cest() -> FixedOffset {
    FixedOffset::east_opt(7200).unwrap_or_else(|| unreachable!())
}

fn at(t: i64) -> FixedOffset {
    if (SPRING..AUTUMN).contains(&t) {
        cest()
    } else {
        cet()
    }
}

impl TimeZone for Cet2026 {
    type Offset = FixedOffset;

    fn from_offset(_: &FixedOffset) -> Self {
        Cet2026
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> LocalResult<FixedOffset> {
        self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<FixedOffset> {
        let l = local.and_utc().timestamp_millis();
        let fits = |o: FixedOffset| at(l - i64::from(o.local_minus_utc()) * 1000) == o;
        match (fits(cest()), fits(cet())) {
            (true, true) => LocalResult::Ambiguous(cest(), cet()),
            (true, false) => LocalResult::Single(cest()),
            (false, true) => LocalResult::Single(cet()),
            (false, false) => LocalResult::None,
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
        self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
        at(utc.and_utc().timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::zone::{DAY_MS, HOUR_MS, day_start, format_local, pieces};

    fn date(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).expect("date")
    }

    #[test]
    fn the_spring_day_has_23_hours_and_skips_two_oclock() {
        let (a, b) = (
            day_start(&Cet2026, date(3, 29)),
            day_start(&Cet2026, date(3, 30)),
        );
        assert_eq!(b - a, 23 * HOUR_MS);
        assert_eq!(format_local(&Cet2026, a), "2026-03-29T00:00:00+01:00");
        let p = pieces(&Cet2026, a, b);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].tod, p[0].tod_end(), p[0].end),
            (0, 2 * HOUR_MS, SPRING)
        );
        assert_eq!((p[1].tod, p[1].tod_end()), (3 * HOUR_MS, DAY_MS));
    }

    #[test]
    fn the_autumn_day_has_25_hours_and_two_oclock_twice() {
        let (a, b) = (
            day_start(&Cet2026, date(10, 25)),
            day_start(&Cet2026, date(10, 26)),
        );
        assert_eq!(b - a, 25 * HOUR_MS);
        let p = pieces(&Cet2026, a, b);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].tod, p[0].tod_end(), p[0].end),
            (0, 3 * HOUR_MS, AUTUMN)
        );
        assert_eq!((p[1].tod, p[1].tod_end()), (2 * HOUR_MS, DAY_MS));
        assert_eq!(p[1].date, date(10, 25));
    }
}
