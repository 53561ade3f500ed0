use super::*;
use crate::report::testzone::Cet2026;
use chrono::{DateTime, FixedOffset};

fn ms(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("time")
        .timestamp_millis()
}

fn band(
    name: &str,
    days: &[&str],
    start: &str,
    end: &str,
    kwh: f64,
    min: Option<f64>,
) -> TariffBand {
    TariffBand {
        name: name.into(),
        days: days.iter().map(|d| d.to_string()).collect(),
        start: start.into(),
        end: end.into(),
        price_per_kwh: kwh,
        price_per_minute: min,
    }
}

fn tariff(bands: Vec<TariffBand>) -> Tariff {
    Tariff {
        currency: "EUR".into(),
        price_per_kwh: 0.40,
        price_per_minute: 0.0,
        session_fee: 0.50,
        bands,
    }
}

fn session(start: &str, stop: &str, wh: i64, cost: Option<f64>) -> Session {
    let (a, b) = (ms(start), ms(stop));
    Session {
        tx: 1,
        csms_tx_id: None,
        connector: 1,
        id_tag: "T".into(),
        started_at: a,
        stopped_at: b,
        energy_wh: wh,
        duration_ms: b - a,
        idle_ms: 0,
        cost,
        stop_reason: None,
    }
}

fn line<'a>(lines: &'a [BandRevenue], name: &str) -> &'a BandRevenue {
    lines.iter().find(|l| l.band == name).expect("line")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("utc")
}

fn weekday_tariff() -> Pricing {
    Pricing::new(&tariff(vec![
        band("night", &[], "22:00", "06:00", 0.20, None),
        band(
            "peak",
            &["mon", "tue", "wed", "thu", "fri"],
            "17:00",
            "20:00",
            0.60,
            Some(0.01),
        ),
    ]))
}

#[test]
fn a_session_into_the_peak_is_split_at_the_band_edge() {
    // Monday 16:00-18:00 UTC, 10 kWh, no recorded cost: the tariff's price stands.
    let s = session("2026-01-05T16:00:00Z", "2026-01-05T18:00:00Z", 10_000, None);
    let lines = weekday_tariff().split(&s, &utc());
    let names: Vec<_> = lines.iter().map(|l| l.band.as_str()).collect();
    assert_eq!(names, ["night", "peak", BASE, FEE, UNSPLIT]);
    let (peak, base) = (line(&lines, "peak"), line(&lines, BASE));
    assert_eq!((peak.energy_wh, base.energy_wh), (5000.0, 5000.0));
    assert!(
        close(peak.amount, 5.0 * 0.60 + 60.0 * 0.01),
        "{}",
        peak.amount
    );
    assert!(close(base.amount, 5.0 * 0.40));
    assert!(close(line(&lines, FEE).amount, 0.50));
    assert_eq!(line(&lines, "night").amount, 0.0);
}

#[test]
fn a_recorded_cost_is_split_in_proportion_to_the_tariff() {
    // Friday 23:00 to Saturday 01:00: both hours in the night band (it belongs to Friday).
    let s = session(
        "2026-01-09T23:00:00Z",
        "2026-01-10T01:00:00Z",
        4000,
        Some(2.0),
    );
    let lines = weekday_tariff().split(&s, &utc());
    let priced = 4.0 * 0.20 + 0.50;
    assert_eq!(line(&lines, "night").energy_wh, 4000.0);
    assert!(close(line(&lines, "night").amount, 0.8 * 2.0 / priced));
    assert!(close(line(&lines, FEE).amount, 0.5 * 2.0 / priced));
    assert!(close(lines.iter().map(|l| l.amount).sum::<f64>(), 2.0));
}

#[test]
fn a_band_past_midnight_belongs_to_the_day_it_starts() {
    let r = Rule::new(&band("late", &["fri"], "23:00", "01:00", 0.1, None)).expect("rule");
    let h = |x: i64| x * 3_600_000;
    assert!(r.applies(Weekday::Fri, h(23)));
    assert!(r.applies(Weekday::Sat, h(0) + 1));
    assert!(!r.applies(Weekday::Sat, h(1)));
    assert!(!r.applies(Weekday::Sun, h(0)));
    assert!(!r.applies(Weekday::Thu, h(23)));
    let all_day = Rule::new(&band("x", &["mon"], "07:00", "07:00", 0.1, None)).expect("rule");
    assert!(all_day.applies(Weekday::Tue, h(6)) && !all_day.applies(Weekday::Tue, h(7)));
}

#[test]
fn the_skipped_hour_of_spring_takes_no_energy() {
    // 01:00 CET to 04:00 CEST is two real hours; the band covers 00:00-03:00 local, so one.
    let p = Pricing::new(&tariff(vec![band(
        "early",
        &[],
        "00:00",
        "03:00",
        0.10,
        None,
    )]));
    let s = session(
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T04:00:00+02:00",
        2000,
        None,
    );
    assert_eq!(s.duration_ms, 2 * 3_600_000);
    let lines = p.split(&s, &Cet2026);
    assert_eq!(line(&lines, "early").energy_wh, 1000.0);
    assert_eq!(line(&lines, BASE).energy_wh, 1000.0);
}

#[test]
fn the_repeated_hour_of_autumn_counts_twice() {
    // 01:30 CEST to 02:30 CET: two real hours, of which 02:00-03:00 CEST and 02:00-02:30 CET
    // are in the band.
    let p = Pricing::new(&tariff(vec![band(
        "two",
        &["sun"],
        "02:00",
        "03:00",
        0.10,
        None,
    )]));
    let s = session(
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        4000,
        None,
    );
    assert_eq!(s.duration_ms, 2 * 3_600_000);
    let lines = p.split(&s, &Cet2026);
    assert_eq!(line(&lines, "two").energy_wh, 3000.0);
    assert_eq!(line(&lines, BASE).energy_wh, 1000.0);
}

#[test]
fn without_a_tariff_recorded_costs_stay_unsplit() {
    let a = session(
        "2026-01-05T10:00:00Z",
        "2026-01-05T11:00:00Z",
        1500,
        Some(3.0),
    );
    let b = session("2026-01-05T12:00:00Z", "2026-01-05T12:00:00Z", 0, None);
    let r = revenue(&[&a, &b], None, &utc());
    assert_eq!(r.by_band.len(), 1);
    assert_eq!(
        (r.by_band[0].energy_wh, r.by_band[0].amount, r.total),
        (1500.0, 3.0, 3.0)
    );
    let free = Pricing::new(&Tariff {
        session_fee: 0.0,
        price_per_kwh: 0.0,
        ..tariff(vec![])
    });
    let r = revenue(&[&a, &b], Some(&free), &utc());
    assert_eq!(
        line(&r.by_band, UNSPLIT).amount,
        3.0,
        "priced at 0, recorded 3"
    );
    assert_eq!(line(&r.by_band, BASE).energy_wh, 1500.0);
    assert_eq!(r.total, 3.0);
}
