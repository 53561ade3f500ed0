//! The report as CSV (RFC 4180): one figure per row, `scope,connector,name,figure,value,unit`,
//! so every figure of every charger and of the site fits one table a spreadsheet can pivot.
//! A charger that never reported has the value `no data` in its time-based figures.

use super::NO_DATA;
use crate::report::site::WEEKDAYS;
use crate::report::{ChargerReport, Report, Revenue, SessionStats};

/// A field, quoted when it has to be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

struct Rows {
    out: String,
}

impl Rows {
    fn row(
        &mut self,
        scope: &str,
        connector: &str,
        name: &str,
        figure: &str,
        value: String,
        unit: &str,
    ) {
        let cells = [scope, connector, name, figure, &value, unit].map(field);
        self.out.push_str(&cells.join(","));
        self.out.push_str("\r\n");
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn sessions(rows: &mut Rows, scope: &str, conn: &str, name: &str, s: &SessionStats) {
    rows.row(scope, conn, name, "sessions", s.count.to_string(), "");
    rows.row(scope, conn, name, "energy", s.energy_wh.to_string(), "Wh");
    rows.row(
        scope,
        conn,
        name,
        "mean_session_energy",
        opt(s.mean_energy_wh),
        "Wh",
    );
    rows.row(
        scope,
        conn,
        name,
        "median_session_energy",
        opt(s.median_energy_wh),
        "Wh",
    );
    rows.row(
        scope,
        conn,
        name,
        "mean_session_duration",
        opt(s.mean_duration_ms),
        "ms",
    );
    rows.row(
        scope,
        conn,
        name,
        "median_session_duration",
        opt(s.median_duration_ms),
        "ms",
    );
    rows.row(
        scope,
        conn,
        name,
        "session_idle_time",
        s.idle_ms.to_string(),
        "ms",
    );
}

fn revenue(rows: &mut Rows, scope: &str, conn: &str, name: &str, r: &Revenue, cur: &str) {
    for b in &r.by_band {
        let figure = format!("revenue[{}]", b.band);
        rows.row(scope, conn, name, &figure, b.amount.to_string(), cur);
        let figure = format!("energy[{}]", b.band);
        rows.row(scope, conn, name, &figure, b.energy_wh.to_string(), "Wh");
    }
    rows.row(scope, conn, name, "revenue", r.total.to_string(), cur);
}

fn charger(rows: &mut Rows, c: &ChargerReport, cur: &str) {
    let conn = c.connector.to_string();
    let n = c.name.as_str();
    let time = |f: fn(&crate::report::TimeShares) -> String| {
        c.time.as_ref().map_or_else(|| NO_DATA.to_string(), f)
    };
    rows.row(
        "charger",
        &conn,
        n,
        "observed_time",
        time(|t| t.observed_ms.to_string()),
        "ms",
    );
    rows.row(
        "charger",
        &conn,
        n,
        "uptime",
        time(|t| t.uptime_pct.to_string()),
        "%",
    );
    rows.row(
        "charger",
        &conn,
        n,
        "availability",
        time(|t| t.availability_pct.to_string()),
        "%",
    );
    rows.row(
        "charger",
        &conn,
        n,
        "occupied",
        time(|t| t.occupied_pct.to_string()),
        "%",
    );
    rows.row(
        "charger",
        &conn,
        n,
        "charging",
        time(|t| t.charging_pct.to_string()),
        "%",
    );
    let f = &c.faults;
    rows.row("charger", &conn, n, "faults", f.count.to_string(), "");
    rows.row(
        "charger",
        &conn,
        n,
        "recovered",
        f.recovered.to_string(),
        "",
    );
    rows.row(
        "charger",
        &conn,
        n,
        "mean_time_to_recover",
        opt(f.mean_recovery_ms),
        "ms",
    );
    rows.row(
        "charger",
        &conn,
        n,
        "max_time_to_recover",
        opt(f.max_recovery_ms),
        "ms",
    );
    rows.row(
        "charger",
        &conn,
        n,
        "down_at_end",
        f.down_at_end.to_string(),
        "",
    );
    sessions(rows, "charger", &conn, n, &c.sessions);
    revenue(rows, "charger", &conn, n, &c.revenue, cur);
}

/// Renders `r`.
pub fn render(r: &Report) -> String {
    let mut rows = Rows { out: String::new() };
    rows.row(
        "scope",
        "connector",
        "name",
        "figure",
        "value".into(),
        "unit",
    );
    let cur = r.currency.as_deref().unwrap_or("");
    let site = r.site_id.as_deref().unwrap_or("site");
    rows.row("period", "", site, "from", r.period.from.clone(), "");
    rows.row("period", "", site, "to", r.period.to.clone(), "");
    rows.row(
        "period",
        "",
        site,
        "time_zone",
        r.period.time_zone.clone(),
        "",
    );
    for c in &r.chargers {
        charger(&mut rows, c, cur);
    }
    let s = &r.site;
    let or_no_data = |p: Option<f64>| p.map_or_else(|| NO_DATA.to_string(), |p| p.to_string());
    rows.row("site", "", site, "uptime", or_no_data(s.uptime_pct), "%");
    rows.row(
        "site",
        "",
        site,
        "availability",
        or_no_data(s.availability_pct),
        "%",
    );
    rows.row("site", "", site, "faults", s.faults.to_string(), "");
    sessions(&mut rows, "site", "", site, &s.sessions);
    revenue(&mut rows, "site", "", site, &s.revenue, cur);
    let e = &s.energy;
    rows.row(
        "site",
        "",
        site,
        "grid_energy",
        e.total_wh.to_string(),
        "Wh",
    );
    rows.row(
        "site",
        "",
        site,
        "grid_energy_measured_time",
        e.measured_ms.to_string(),
        "ms",
    );
    for (h, wh) in e.by_hour_wh.iter().enumerate() {
        rows.row(
            "site",
            "",
            site,
            &format!("grid_energy_hour[{h:02}]"),
            wh.to_string(),
            "Wh",
        );
    }
    for (d, wh) in e.by_weekday_wh.iter().enumerate() {
        let figure = format!("grid_energy_weekday[{}]", WEEKDAYS[d]);
        rows.row("site", "", site, &figure, wh.to_string(), "Wh");
    }
    rows.row("site", "", site, "peak_hour", opt(e.peak_hour), "");
    rows.row(
        "site",
        "",
        site,
        "peak_weekday",
        opt(e.peak_weekday.clone()),
        "",
    );
    let c = &s.curtailment;
    rows.row(
        "site",
        "",
        site,
        "curtailed_time",
        c.curtailed_ms.to_string(),
        "ms",
    );
    rows.row(
        "site",
        "",
        site,
        "deferred_energy",
        c.deferred_wh.to_string(),
        "Wh",
    );
    rows.row(
        "site",
        "",
        site,
        "curtailed_time_without_estimate",
        c.unestimated_ms.to_string(),
        "ms",
    );
    rows.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(field("cp-1"), "cp-1");
        assert_eq!(field("bay 1, left"), "\"bay 1, left\"");
        assert_eq!(field("the \"big\" one"), "\"the \"\"big\"\" one\"");
    }
}
