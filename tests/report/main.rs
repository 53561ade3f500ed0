//! Operator reports against a real SQLite file holding a known history, through the real
//! `hubgate report` command with the site's zone set explicitly (`TZ=Europe/Berlin`): every figure
//! checked against values worked out by hand, over a day boundary and both daylight-saving
//! changes, with an empty period and a charger that never reported. The HTML report is rendered
//! in headless Chromium; the demo's history is reported on; the daily summary goes out over MQTT.

mod browser;
mod formats;
mod history;
mod live;

use history::{HOUR, MIN, at};
use hubgate::report::{ChargerReport, Report};
use std::path::Path;
use std::process::Command;

const BERLIN: &str = "Europe/Berlin";

/// Runs `hubgate report` with `TZ=tz` and the given arguments; returns its standard output.
pub fn hubgate_report(tz: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .arg("report")
        .args(args)
        .env("TZ", tz)
        .env_remove("HUBGATE_CONFIG")
        .output()
        .expect("run hubgate report");
    assert!(
        out.status.success(),
        "hubgate report {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The JSON report of `[from, to)` on the site of `dir`.
fn report(dir: &Path, from: &str, to: &str) -> Report {
    let config = dir.join("site.toml");
    let text = hubgate_report(
        BERLIN,
        &[
            "--config",
            config.to_str().expect("path"),
            "--from",
            from,
            "--to",
            to,
            "--format",
            "json",
        ],
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A site in a temporary directory: config and database with `fill`'s history.
fn site(fill: impl FnOnce(&rusqlite::Connection)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let db = history::database(dir.path(), fill);
    std::fs::write(dir.path().join("site.toml"), history::config(&db)).expect("config");
    dir
}

/// `part` of `whole` minutes in %. (Compared to 1e-9: JSON's decimal text of a float may read
/// back one unit in the last place off.)
fn pct(part: i64, whole: i64) -> f64 {
    100.0 * part as f64 / whole as f64
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn assert_close(what: &str, got: f64, want: f64) {
    assert!(close(got, want), "{what}: got {got}, want {want}");
}

fn charger<'a>(r: &'a Report, name: &str) -> &'a ChargerReport {
    r.chargers.iter().find(|c| c.name == name).expect("charger")
}

/// Revenue lines as (band, Wh, amount), in order.
fn lines(r: &hubgate::report::Revenue) -> Vec<(String, f64, f64)> {
    r.by_band
        .iter()
        .map(|b| (b.band.clone(), b.energy_wh, b.amount))
        .collect()
}

fn assert_lines(what: &str, got: &hubgate::report::Revenue, want: &[(&str, f64, f64)]) {
    let got_lines = lines(got);
    assert_eq!(got_lines.len(), want.len(), "{what}: {got_lines:?}");
    for ((band, wh, amount), (wband, wwh, wamount)) in got_lines.iter().zip(want) {
        assert_eq!((band.as_str(), *wh), (*wband, *wwh), "{what}");
        assert_close(&format!("{what} {band}"), *amount, *wamount);
    }
    assert_close(
        &format!("{what} total"),
        got.total,
        want.iter().map(|w| w.2).sum(),
    );
}

#[test]
fn three_spring_days_across_midnight_and_the_clock_change() {
    let dir = site(history::spring);
    let r = report(dir.path(), "2026-03-27", "2026-03-30");
    assert_eq!(r.period.from, "2026-03-27T00:00:00+01:00");
    assert_eq!(r.period.to, "2026-03-30T00:00:00+02:00");
    assert_eq!(
        r.period.to_ms - r.period.from_ms,
        71 * HOUR,
        "24 + 24 + 23 hours"
    );
    assert_eq!(r.period.time_zone, BERLIN);
    assert_eq!(
        (r.site_id.as_deref(), r.currency.as_deref()),
        (Some("hub-7"), Some("EUR"))
    );
    let names: Vec<_> = r
        .chargers
        .iter()
        .map(|c| (c.connector, c.name.as_str()))
        .collect();
    assert_eq!(names, [(1, "bay-1"), (2, "bay-2"), (3, "bay-3")]);

    // bay-1: 63 h observed (hubgate was stopped for 8 of the 71); down 90 + 45 min.
    let b1 = charger(&r, "bay-1");
    let t = b1.time.as_ref().expect("bay-1 reported");
    assert_eq!(
        (
            t.observed_ms,
            t.up_ms,
            t.available_ms,
            t.occupied_ms,
            t.charging_ms
        ),
        (3780 * MIN, 3645 * MIN, 3645 * MIN, 495 * MIN, 420 * MIN)
    );
    assert_close("uptime", t.uptime_pct, pct(3645, 3780));
    assert_close("availability", t.availability_pct, pct(3645, 3780));
    assert_close("occupied", t.occupied_pct, pct(495, 3780));
    assert_close("charging", t.charging_pct, pct(420, 3780));
    let f = &b1.faults;
    assert_eq!((f.count, f.recovered, f.down_at_end), (2, 2, false));
    assert_eq!(f.mean_recovery_ms, Some(67.5 * MIN as f64));
    assert_eq!(f.max_recovery_ms, Some(90 * MIN));
    let s = &b1.sessions;
    assert_eq!((s.count, s.energy_wh), (3, 39_000));
    assert_eq!(
        (s.mean_energy_wh, s.median_energy_wh),
        (Some(13_000.0), Some(9_000.0))
    );
    assert_eq!(
        s.mean_duration_ms,
        Some(2.5 * HOUR as f64),
        "2 h, 4 h and 1.5 h"
    );
    assert_eq!(s.median_duration_ms, Some(2.0 * HOUR as f64));
    // 22 kWh base + fee; 8 kWh night at twice the tariff (recorded 4.20); 9 kWh base + fee.
    assert_lines(
        "bay-1",
        &b1.revenue,
        &[
            ("night", 8000.0, 3.2),
            ("peak", 0.0, 0.0),
            ("base", 31_000.0, 22.0 * 0.4 + 9.0 * 0.4),
            ("session fee", 0.0, 0.5 + 1.0 + 0.5),
            ("unsplit", 0.0, 0.0),
        ],
    );

    // bay-2: from Friday 09:00; faulted from Sunday 01:30 CET to the end.
    let b2 = charger(&r, "bay-2");
    let t = b2.time.as_ref().expect("bay-2 reported");
    assert_eq!(
        (
            t.observed_ms,
            t.up_ms,
            t.available_ms,
            t.occupied_ms,
            t.charging_ms
        ),
        (3240 * MIN, 1950 * MIN, 1950 * MIN, 180 * MIN, 180 * MIN)
    );
    let f = &b2.faults;
    assert_eq!((f.count, f.recovered, f.down_at_end), (1, 0, true));
    assert_eq!((f.mean_recovery_ms, f.max_recovery_ms), (None, None));
    assert_eq!((b2.sessions.count, b2.sessions.energy_wh), (1, 15_000));
    assert_eq!(b2.sessions.median_duration_ms, Some(3.0 * HOUR as f64));
    // Friday 16:00-19:00: one hour base, two in the peak at 0.60/kWh and 0.01/min.
    assert_lines(
        "bay-2",
        &b2.revenue,
        &[
            ("night", 0.0, 0.0),
            ("peak", 10_000.0, 10.0 * 0.6 + 120.0 * 0.01),
            ("base", 5000.0, 5.0 * 0.4),
            ("session fee", 0.0, 0.5),
            ("unsplit", 0.0, 0.0),
        ],
    );

    // bay-3 never reported.
    let b3 = charger(&r, "bay-3");
    assert!(!b3.reported && b3.time.is_none());
    assert_eq!(
        (b3.faults.count, b3.sessions.count, b3.revenue.total),
        (0, 0, 0.0)
    );

    // The site.
    let site_pct = pct(3645 + 1950, 3780 + 3240);
    assert_close("site uptime", r.site.uptime_pct.expect("data"), site_pct);
    assert_close(
        "site availability",
        r.site.availability_pct.expect("data"),
        site_pct,
    );
    assert_eq!(r.site.faults, 3);
    let s = &r.site.sessions;
    assert_eq!((s.count, s.energy_wh, s.idle_ms), (4, 54_000, 0));
    assert_eq!(
        (s.mean_energy_wh, s.median_energy_wh),
        (Some(13_500.0), Some(12_000.0))
    );
    assert_eq!(
        (s.mean_duration_ms, s.median_duration_ms),
        (Some(2.625 * HOUR as f64), Some(2.5 * HOUR as f64)),
        "3 h, 2 h, 4 h and 1.5 h"
    );
    assert_close("site revenue", r.site.revenue.total, 17.6 + 9.7);
    assert_eq!(r.site.revenue.by_band[2].energy_wh, 36_000.0);

    let e = &r.site.energy;
    let mut hours = [0.0; 24];
    for (h, wh) in [
        (0, 500.0),
        (1, 3000.0),
        (3, 3000.0),
        (12, 40.0),
        (17, 5500.0),
        (18, 5500.0),
        (23, 100.0),
    ] {
        hours[h] = wh;
    }
    assert_eq!(e.by_hour_wh, hours);
    assert_eq!(
        e.by_weekday_wh,
        [0.0, 0.0, 0.0, 0.0, 11_500.0, 40.0, 6100.0]
    );
    assert_eq!(e.by_weekday_hour_wh[6][1], 3000.0, "Sunday before the jump");
    assert_eq!(
        e.by_weekday_hour_wh[6][2], 0.0,
        "the hour that does not exist"
    );
    assert_eq!(e.by_weekday_hour_wh[6][3], 3000.0, "Sunday after the jump");
    assert_eq!(
        e.by_weekday_hour_wh[4][0], 500.0,
        "from Thursday's sample, Friday's part"
    );
    assert_eq!((e.total_wh, e.measured_ms), (17_640.0, 133 * MIN));
    assert_eq!(
        (e.peak_hour, e.peak_weekday.as_deref()),
        (Some(17), Some("fri"))
    );
    let c = &r.site.curtailment;
    assert_eq!(
        (c.curtailed_ms, c.deferred_wh, c.unestimated_ms),
        (70 * MIN, 4000.0, 10 * MIN)
    );
}

#[test]
fn one_day_ends_at_midnight_and_keeps_the_session_begun_before_it() {
    let dir = site(history::spring);
    let r = report(dir.path(), "2026-03-28", "2026-03-29");
    assert_eq!(r.period.to_ms - r.period.from_ms, 24 * HOUR);
    // bay-1 from 06:00 (hubgate started); the overnight session's first hour is Saturday's.
    let b1 = charger(&r, "bay-1");
    let t = b1.time.as_ref().expect("data");
    assert_eq!(
        (t.observed_ms, t.up_ms, t.occupied_ms, t.charging_ms),
        (1080 * MIN, 990 * MIN, 210 * MIN, 180 * MIN)
    );
    assert_eq!(
        (b1.faults.count, b1.faults.max_recovery_ms),
        (1, Some(90 * MIN))
    );
    // Sessions are counted on the day they start, whole.
    let s = &b1.sessions;
    assert_eq!(
        (s.count, s.energy_wh, s.median_energy_wh),
        (2, 30_000, Some(15_000.0))
    );
    assert_eq!(s.mean_duration_ms, Some(3.0 * HOUR as f64));
    let b2 = charger(&r, "bay-2");
    assert_eq!(
        b2.time.as_ref().map(|t| (t.observed_ms, t.uptime_pct)),
        Some((18 * HOUR, 100.0))
    );
    assert!(!b2.faults.down_at_end, "its fault is on Sunday");
    assert_eq!(r.site.energy.total_wh, 40.0);
    assert_eq!(
        (
            r.site.energy.peak_hour,
            r.site.energy.peak_weekday.as_deref()
        ),
        (Some(12), Some("sat"))
    );
    assert_eq!(r.site.curtailment.curtailed_ms, 0);
}

#[test]
fn the_autumn_sunday_has_25_hours() {
    let dir = site(history::autumn);
    let r = report(dir.path(), "2026-10-25", "2026-10-26");
    assert_eq!(r.period.from, "2026-10-25T00:00:00+02:00");
    assert_eq!(r.period.to, "2026-10-26T00:00:00+01:00");
    assert_eq!(r.period.to_ms - r.period.from_ms, 25 * HOUR);
    let t = charger(&r, "bay-1").time.clone().expect("data");
    assert_eq!(
        (t.observed_ms, t.up_ms, t.charging_ms),
        (25 * HOUR, 25 * HOUR, 210 * MIN)
    );
    assert_close("charging", t.charging_pct, pct(210, 1500));
    let s = &charger(&r, "bay-1").sessions;
    assert_eq!(
        (s.count, s.energy_wh, s.mean_duration_ms),
        (1, 7000, Some(3.5 * HOUR as f64))
    );
    assert_lines(
        "bay-1",
        &charger(&r, "bay-1").revenue,
        &[
            ("night", 7000.0, 1.4),
            ("peak", 0.0, 0.0),
            ("base", 0.0, 0.0),
            ("session fee", 0.0, 0.5),
            ("unsplit", 0.0, 0.0),
        ],
    );
    let t2 = charger(&r, "bay-2").time.clone().expect("data");
    assert_eq!((t2.observed_ms, t2.uptime_pct), (12 * HOUR, 100.0));
    assert!(charger(&r, "bay-3").time.is_none());
    assert_eq!(r.site.uptime_pct, Some(100.0));
    let e = &r.site.energy;
    assert_eq!(
        (e.by_hour_wh[2], e.total_wh, e.measured_ms),
        (2000.0, 2000.0, HOUR)
    );
    assert_eq!(e.by_weekday_hour_wh[6][2], 2000.0, "02:00-03:00 twice");
    assert_eq!(
        at("2026-10-25T02:00:00+01:00") - at("2026-10-25T02:00:00+02:00"),
        HOUR
    );
}
