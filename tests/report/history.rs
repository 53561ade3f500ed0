//! A known history, written into a real SQLite file with the store's own functions: three days of
//! spring (Friday 27 to Sunday 29 March 2026, when Berlin's clocks go forward) and the Sunday of
//! autumn (25 October 2026, when they go back). Times are written with their UTC offset, as a
//! site clock in Europe/Berlin shows them.

use hubgate::store::history::{StatusChange, record_status};
use hubgate::store::journal::{NewTransaction, StopRecord, record_start, record_stop};
use hubgate::store::samples::{SiteSample, record_site_sample};
use hubgate::store::{Millis, Store};
use rusqlite::Connection;
use serde_json::json;
use std::path::Path;

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;

/// `2026-03-28T08:00:00+01:00` as ms since the epoch.
pub fn at(rfc3339: &str) -> Millis {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis()
}

/// The site config: three chargers (bay-3 never reports), a tariff with a night band every day
/// and a weekday evening peak with a minute price.
pub fn config(database: &Path) -> String {
    let mut text = format!(
        r#"
[site]
id = "hub-7"
name = "Depot Nord"
grid_limit_a = 63

[[buses]]
name = "b"
kind = "tcp"
host = "127.0.0.1"
port = 1502

[storage]
database = "{}"

[tariff]
currency = "EUR"
price_per_kwh = 0.40
session_fee = 0.50

[[tariff.bands]]
name = "night"
start = "22:00"
end = "06:00"
price_per_kwh = 0.20

[[tariff.bands]]
name = "peak"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "17:00"
end = "20:00"
price_per_kwh = 0.60
price_per_minute = 0.01
"#,
        database.display()
    );
    for (i, name) in ["bay-1", "bay-2", "bay-3"].iter().enumerate() {
        text.push_str(&format!(
            "\n[[chargers]]\nname = \"{name}\"\ndriver = \"abb-terra-ac\"\nbus = \"b\"\nunit = {}\n\
             max_current_a = 32\nconnector = {}\n",
            i + 1,
            i + 1
        ));
    }
    text
}

fn status(c: &Connection, connector: u32, status: &str, when: &str) {
    status_at(c, connector, status, at(when));
}

/// Records a status (`Unreachable` and `Stopped` as the recorder writes them) at `when`.
pub fn status_at(c: &Connection, connector: u32, status: &str, when: Millis) {
    let (error, info) = match status {
        "Faulted" => ("OtherError", None),
        "Unreachable" => ("OtherError", Some("unreachable")),
        "Stopped" => ("NoError", Some("hubgate stopped")),
        _ => ("NoError", None),
    };
    let status = match status {
        "Unreachable" => "Unavailable",
        "Stopped" => "Unknown",
        s => s,
    };
    record_status(
        c,
        &StatusChange {
            connector,
            status: status.into(),
            error_code: error.into(),
            info: info.map(String::from),
            at: when,
        },
    )
    .expect("status");
}

fn session(c: &Connection, connector: u32, start: &str, stop: &str, wh: i64, cost: Option<f64>) {
    session_at(c, connector, at(start), at(stop), wh, cost);
}

/// Journals a session of `wh` from `start` to `stop`.
pub fn session_at(
    c: &Connection,
    connector: u32,
    start: Millis,
    stop: Millis,
    wh: i64,
    cost: Option<f64>,
) {
    let begun = record_start(
        c,
        &NewTransaction {
            connector,
            id_tag: "TAG-1".into(),
            started_at: start,
            meter_start_wh: 100_000,
            payload: json!({"connectorId": connector, "idTag": "TAG-1", "meterStart": 100_000}),
        },
    )
    .expect("start");
    record_stop(
        c,
        &StopRecord {
            tx: begun.tx,
            stopped_at: stop,
            meter_stop_wh: 100_000 + wh,
            reason: Some("EVDisconnected".into()),
            cost,
            payload: json!({"meterStop": 100_000 + wh}),
        },
    )
    .expect("stop");
}

fn sample(
    c: &Connection,
    when: &str,
    span_ms: i64,
    power: Option<f64>,
    curtailed: bool,
    deferred: Option<f64>,
) {
    record_site_sample(
        c,
        &SiteSample {
            at: at(when),
            span_ms,
            current_a: [Some(16.0), Some(16.0), Some(16.0)],
            power_w: power,
            limit_a: [Some(62.0); 3],
            curtailed,
            deferred_w: deferred,
        },
    )
    .expect("sample");
}

/// Writes the spring history (see the test for what each figure must be).
pub fn spring(c: &Connection) {
    // bay-1: known since Thursday evening, so Friday starts Available.
    status(c, 1, "Available", "2026-03-26T20:00:00+01:00");
    // bay-2: first heard of on Friday morning.
    status(c, 2, "Available", "2026-03-27T09:00:00+01:00");
    // Friday evening: a session on bay-2 from the base price into the weekday peak.
    status(c, 2, "Charging", "2026-03-27T16:00:00+01:00");
    status(c, 2, "Available", "2026-03-27T19:00:00+01:00");
    session(
        c,
        2,
        "2026-03-27T16:00:00+01:00",
        "2026-03-27T19:00:00+01:00",
        15_000,
        None,
    );
    // hubgate stopped Friday 22:00 and started again Saturday 06:00.
    status(c, 1, "Stopped", "2026-03-27T22:00:00+01:00");
    status(c, 2, "Stopped", "2026-03-27T22:00:00+01:00");
    status(c, 1, "Available", "2026-03-28T06:00:00+01:00");
    status(c, 2, "Available", "2026-03-28T06:00:00+01:00");
    // Saturday morning on bay-1.
    status(c, 1, "Preparing", "2026-03-28T08:00:00+01:00");
    status(c, 1, "Charging", "2026-03-28T08:10:00+01:00");
    status(c, 1, "Finishing", "2026-03-28T10:10:00+01:00");
    status(c, 1, "Available", "2026-03-28T10:20:00+01:00");
    session(
        c,
        1,
        "2026-03-28T08:10:00+01:00",
        "2026-03-28T10:10:00+01:00",
        22_000,
        None,
    );
    // A fault of 90 minutes.
    status(c, 1, "Faulted", "2026-03-28T12:00:00+01:00");
    status(c, 1, "Available", "2026-03-28T13:30:00+01:00");
    // Overnight into Sunday, across midnight and the jump from 02:00 to 03:00: 4 real hours,
    // all in the night band; the recorded cost is twice the tariff's price.
    status(c, 1, "Preparing", "2026-03-28T22:50:00+01:00");
    status(c, 1, "Charging", "2026-03-28T23:00:00+01:00");
    status(c, 1, "Finishing", "2026-03-29T04:00:00+02:00");
    status(c, 1, "Available", "2026-03-29T04:05:00+02:00");
    session(
        c,
        1,
        "2026-03-28T23:00:00+01:00",
        "2026-03-29T04:00:00+02:00",
        8_000,
        Some(4.2),
    );
    // bay-2 faults before the jump and stays faulted.
    status(c, 2, "Faulted", "2026-03-29T01:30:00+01:00");
    // bay-1 unreachable for 45 minutes.
    status(c, 1, "Unreachable", "2026-03-29T10:00:00+02:00");
    status(c, 1, "Available", "2026-03-29T10:45:00+02:00");
    // Sunday afternoon (no peak on Sundays).
    status(c, 1, "Preparing", "2026-03-29T13:55:00+02:00");
    status(c, 1, "Charging", "2026-03-29T14:00:00+02:00");
    status(c, 1, "SuspendedEV", "2026-03-29T15:00:00+02:00");
    status(c, 1, "Finishing", "2026-03-29T15:30:00+02:00");
    status(c, 1, "Available", "2026-03-29T15:35:00+02:00");
    session(
        c,
        1,
        "2026-03-29T14:00:00+02:00",
        "2026-03-29T15:30:00+02:00",
        9_000,
        None,
    );

    // Site samples.
    // Reaching into Friday from Thursday: 10 of its 20 minutes count; curtailed, no estimate.
    sample(
        c,
        "2026-03-26T23:50:00+01:00",
        20 * MIN,
        Some(3000.0),
        true,
        None,
    );
    // Friday 17:30-18:30 at 11 kW, curtailed, 4 kW deferred.
    sample(
        c,
        "2026-03-27T17:30:00+01:00",
        HOUR,
        Some(11_000.0),
        true,
        Some(4000.0),
    );
    // Saturday noon, two one-minute samples at 1.2 kW; one without a power reading.
    sample(
        c,
        "2026-03-28T12:00:00+01:00",
        MIN,
        Some(1200.0),
        false,
        Some(0.0),
    );
    sample(
        c,
        "2026-03-28T12:01:00+01:00",
        MIN,
        Some(1200.0),
        false,
        Some(0.0),
    );
    sample(c, "2026-03-28T15:00:00+01:00", 10 * MIN, None, false, None);
    // Sunday 01:30 CET for one real hour: half before the jump (hour 1), half after (hour 3).
    sample(
        c,
        "2026-03-29T01:30:00+01:00",
        HOUR,
        Some(6000.0),
        false,
        Some(0.0),
    );
    // Sunday 23:59, two minutes: one inside the period.
    sample(
        c,
        "2026-03-29T23:59:00+02:00",
        2 * MIN,
        Some(6000.0),
        false,
        Some(0.0),
    );
}

/// Writes the autumn history.
pub fn autumn(c: &Connection) {
    status(c, 1, "Available", "2026-10-24T18:00:00+02:00");
    // 01:00 CEST to 03:30 CET: three and a half real hours, all night band.
    status(c, 1, "Charging", "2026-10-25T01:00:00+02:00");
    status(c, 1, "Available", "2026-10-25T03:30:00+01:00");
    session(
        c,
        1,
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T03:30:00+01:00",
        7_000,
        None,
    );
    status(c, 2, "Available", "2026-10-25T12:00:00+01:00");
    // 02:30 CEST for an hour: 02:30-03:00 CEST and 02:00-02:30 CET, both hour 2.
    sample(
        c,
        "2026-10-25T02:30:00+02:00",
        HOUR,
        Some(2000.0),
        false,
        Some(0.0),
    );
}

/// A new database in `dir` with `fill`'s history; returns its path.
pub fn database(dir: &Path, fill: impl FnOnce(&Connection)) -> std::path::PathBuf {
    let path = dir.join("hubgate.db");
    let store = Store::open(&path).expect("open");
    fill(store.conn());
    path
}
