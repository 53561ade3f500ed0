//! The other ways to ask: a POSIX zone rule, an empty period and database, the table and CSV
//! formats, the database without a config, a fixed offset.

use super::history::{self, HOUR};
use super::{BERLIN, assert_lines, hubgate_report, report, site};
use hubgate::report::Report;

#[test]
fn a_posix_rule_gives_the_same_figures_as_the_zone_database() {
    let dir = site(history::spring);
    let config = dir.path().join("site.toml");
    let args = [
        "--config",
        config.to_str().expect("path"),
        "--from",
        "2026-03-27",
        "--to",
        "2026-03-30",
        "--format",
        "json",
    ];
    let named: Report = serde_json::from_str(&hubgate_report(BERLIN, &args)).expect("json");
    let mut rule: Report =
        serde_json::from_str(&hubgate_report("CET-1CEST,M3.5.0,M10.5.0/3", &args)).expect("json");
    assert_eq!(rule.period.time_zone, "CET-1CEST,M3.5.0,M10.5.0/3");
    rule.period.time_zone = BERLIN.into();
    assert_eq!(rule, named);
}

#[test]
fn an_empty_period_and_an_empty_database_report_no_data() {
    let dir = site(history::spring);
    let r = report(dir.path(), "2026-01-05", "2026-01-06");
    assert!(
        r.chargers.iter().all(|c| !c.reported && c.time.is_none()),
        "{r:?}"
    );
    assert_eq!(
        (
            r.site.uptime_pct,
            r.site.sessions.count,
            r.site.energy.total_wh
        ),
        (None, 0, 0.0)
    );
    assert_eq!((r.site.faults, r.site.curtailment.curtailed_ms), (0, 0));
    assert_eq!(r.site.revenue.total, 0.0);

    let empty = site(|_| {});
    let config = empty.path().join("site.toml");
    let config = config.to_str().expect("path");
    // No dates: the last 7 days.
    let r: Report = serde_json::from_str(&hubgate_report(
        BERLIN,
        &["--config", config, "--format", "json"],
    ))
    .expect("json");
    assert_eq!(r.chargers.len(), 3);
    assert!(r.chargers.iter().all(|c| c.time.is_none()));
    let table = hubgate_report(BERLIN, &["--config", config]);
    assert_eq!(
        table.matches("no data").count(),
        5,
        "three chargers, the site's uptime and availability: {table}"
    );
    let csv = hubgate_report(BERLIN, &["--config", config, "--format", "csv"]);
    assert!(
        csv.contains("charger,3,bay-3,uptime,no data,%\r\n"),
        "{csv}"
    );
    assert!(csv.contains("site,,hub-7,uptime,no data,%\r\n"), "{csv}");
}

#[test]
fn table_and_csv_carry_the_figures() {
    let dir = site(history::spring);
    let config = dir.path().join("site.toml");
    let config = config.to_str().expect("path");
    let period = ["--from", "2026-03-27", "--to", "2026-03-30"];
    let table = hubgate_report(BERLIN, &[&["--config", config][..], &period].concat());
    assert!(
        table.starts_with(
            "Depot Nord (hub-7): 2026-03-27 00:00 to 2026-03-30 00:00 (Europe/Berlin)"
        ),
        "{table}"
    );
    assert!(table.contains("3 bay-3  no data"), "{table}");
    assert!(table.contains("peak hour: 17:00-18:00"), "{table}");
    assert!(table.contains("\n  site            4  54.00  "), "{table}");
    assert!(table.contains("\n  17:00-18:00  5.50  ###"), "{table}");
    let csv = hubgate_report(
        BERLIN,
        &[&["--config", config, "--format", "csv"][..], &period].concat(),
    );
    let rows: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(rows[0], "scope,connector,name,figure,value,unit");
    assert!(rows.contains(&"charger,1,bay-1,faults,2,"), "{csv}");
    assert!(rows.contains(&"charger,2,bay-2,energy,15000,Wh"), "{csv}");
    assert!(
        rows.contains(&"site,,hub-7,grid_energy_hour[17],5500,Wh"),
        "{csv}"
    );
    assert!(
        rows.contains(&"site,,hub-7,deferred_energy,4000,Wh"),
        "{csv}"
    );
    assert!(rows.contains(&"site,,hub-7,sessions,4,"), "{csv}");
}

#[test]
fn the_database_alone_is_enough() {
    let dir = site(history::autumn);
    let db = dir.path().join("hubgate.db");
    let text = hubgate_report(
        BERLIN,
        &[
            "--database",
            db.to_str().expect("path"),
            "--from",
            "2026-10-25",
            "--to",
            "2026-10-26",
            "--format",
            "json",
        ],
    );
    let r: Report = serde_json::from_str(&text).expect("json");
    assert_eq!(r.site_id, None);
    let names: Vec<_> = r.chargers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["connector 1", "connector 2"],
        "only what the history knows"
    );
    assert_lines("site", &r.site.revenue, &[("unsplit", 7000.0, 0.0)]);
    // A fixed offset instead of the zone: the day is 24 hours.
    let text = hubgate_report(
        BERLIN,
        &[
            "--database",
            db.to_str().expect("path"),
            "--from",
            "2026-10-25",
            "--to",
            "2026-10-26",
            "--format",
            "json",
            "--tz",
            "+01:00",
        ],
    );
    let r: Report = serde_json::from_str(&text).expect("json");
    assert_eq!(
        (
            r.period.to_ms - r.period.from_ms,
            r.period.time_zone.as_str()
        ),
        (24 * HOUR, "+01:00")
    );
}
