//! [`build`] over plain data: which chargers appear, no data, the period's end at now.

use super::*;
use chrono::FixedOffset;

fn change(connector: u32, status: &str, at: Millis) -> StatusChange {
    StatusChange {
        connector,
        status: status.into(),
        error_code: "NoError".into(),
        info: None,
        at,
    }
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("utc")
}

#[test]
fn an_empty_period_has_every_configured_charger_with_no_data() {
    let input = ReportInput {
        chargers: vec![
            ChargerInfo {
                connector: 2,
                name: "b".into(),
            },
            ChargerInfo {
                connector: 1,
                name: "a".into(),
            },
        ],
        zone_label: "UTC".into(),
        from: 0,
        to: 1000,
        now: 5000,
        ..ReportInput::default()
    };
    let r = build(&input, &utc());
    assert_eq!(r.chargers.len(), 2);
    assert_eq!(r.chargers[0].name, "a", "by connector");
    assert!(r.chargers.iter().all(|c| !c.reported && c.time.is_none()));
    assert_eq!(r.site.uptime_pct, None);
    assert_eq!(r.site.sessions, SessionStats::default());
    assert_eq!(r.site.revenue.by_band.len(), 1);
    assert_eq!(r.site.energy.peak_hour, None);
    assert_eq!(r.period.from, "1970-01-01T00:00:00+00:00");
    for format in [
        render::Format::Table,
        render::Format::Csv,
        render::Format::Json,
        render::Format::Html,
    ] {
        let text = render::render(&r, format).expect("render");
        let expected = match format {
            render::Format::Json => "\"reported\": false",
            _ => "no data",
        };
        assert!(text.contains(expected), "{format}: {text}");
    }
}

#[test]
fn history_adds_unconfigured_connectors_but_not_the_charge_point() {
    let input = ReportInput {
        from: 0,
        to: 1000,
        now: 400,
        status: vec![
            change(0, "Available", 0),
            change(3, "Available", 100),
            change(3, "Charging", 200),
        ],
        ..ReportInput::default()
    };
    let r = build(&input, &utc());
    assert_eq!(r.chargers.len(), 1);
    let c = &r.chargers[0];
    assert_eq!((c.connector, c.name.as_str()), (3, "connector 3"));
    let t = c.time.as_ref().expect("data");
    assert_eq!(
        (t.observed_ms, t.charging_ms),
        (300, 200),
        "up to now, not to the end"
    );
    assert_eq!(r.period.end_ms, 400);
    assert_eq!(r.site.uptime_pct, Some(100.0));
}
