//! The report as aligned text for a terminal.

use super::{NO_DATA, duration, hour_span, kwh, money, or_dash, pct, title};
use crate::report::Report;
use crate::report::site::WEEKDAYS;
use std::fmt::Write;

/// Lays out rows of cells in columns; the first column left-aligned, the others right-aligned.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = width[i].saturating_sub(cell.chars().count());
            if i == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        out.push_str("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn header(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Renders `r`.
pub fn render(r: &Report) -> String {
    let cur = r.currency.as_deref();
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", title(r));

    let _ = writeln!(out, "Availability");
    let mut rows = vec![header(&[
        "charger",
        "uptime",
        "available",
        "occupied",
        "charging",
        "faults",
        "mean TTR",
        "max TTR",
    ])];
    for c in &r.chargers {
        let name = format!("{} {}", c.connector, c.name);
        match &c.time {
            None => rows.push(vec![name, NO_DATA.into()]),
            Some(t) => rows.push(vec![
                name,
                pct(Some(t.uptime_pct)),
                pct(Some(t.availability_pct)),
                pct(Some(t.occupied_pct)),
                pct(Some(t.charging_pct)),
                format!(
                    "{}{}",
                    c.faults.count,
                    if c.faults.down_at_end { " (down)" } else { "" }
                ),
                or_dash(c.faults.mean_recovery_ms, duration),
                or_dash(c.faults.max_recovery_ms, |m| duration(m as f64)),
            ]),
        }
    }
    rows.push(vec![
        "site".into(),
        pct(r.site.uptime_pct),
        pct(r.site.availability_pct),
        String::new(),
        String::new(),
        r.site.faults.to_string(),
    ]);
    out.push_str(&columns(&rows));

    let _ = writeln!(out, "\nSessions");
    let mut rows = vec![header(&[
        "charger",
        "sessions",
        "kWh",
        "mean kWh",
        "median kWh",
        "mean time",
        "median time",
        "revenue",
    ])];
    let mut line = |name: String, s: &crate::report::SessionStats, revenue: f64| {
        rows.push(vec![
            name,
            s.count.to_string(),
            kwh(s.energy_wh as f64),
            or_dash(s.mean_energy_wh, kwh),
            or_dash(s.median_energy_wh, kwh),
            or_dash(s.mean_duration_ms, duration),
            or_dash(s.median_duration_ms, duration),
            money(revenue, cur),
        ]);
    };
    for c in &r.chargers {
        line(
            format!("{} {}", c.connector, c.name),
            &c.sessions,
            c.revenue.total,
        );
    }
    line("site".into(), &r.site.sessions, r.site.revenue.total);
    out.push_str(&columns(&rows));

    let _ = writeln!(out, "\nRevenue by tariff band");
    let mut rows = vec![header(&["band", "kWh", "revenue"])];
    for b in &r.site.revenue.by_band {
        rows.push(vec![b.band.clone(), kwh(b.energy_wh), money(b.amount, cur)]);
    }
    out.push_str(&columns(&rows));

    let e = &r.site.energy;
    let _ = writeln!(
        out,
        "\nSite energy at the grid connection: {} kWh over {} measured",
        kwh(e.total_wh),
        duration(e.measured_ms as f64)
    );
    if let Some(h) = e.peak_hour {
        let _ = writeln!(out, "  peak hour: {}", hour_span(h));
    }
    if let Some(d) = &e.peak_weekday {
        let _ = writeln!(out, "  peak day: {d}");
    }
    let top = e.by_hour_wh.iter().copied().fold(0.0, f64::max);
    let bar = |wh: f64| {
        let n = if top > 0.0 {
            (wh / top * 30.0).round() as usize
        } else {
            0
        };
        "#".repeat(n)
    };
    let width = e
        .by_hour_wh
        .iter()
        .map(|wh| kwh(*wh).len())
        .max()
        .unwrap_or(4);
    for (h, wh) in e.by_hour_wh.iter().enumerate() {
        let line = format!(
            "  {}  {:>width$}  {}",
            hour_span(h as u32),
            kwh(*wh),
            bar(*wh)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let mut rows = Vec::new();
    for (d, wh) in e.by_weekday_wh.iter().enumerate() {
        rows.push(vec![WEEKDAYS[d].to_string(), kwh(*wh)]);
    }
    out.push_str(&columns(&rows));

    let c = &r.site.curtailment;
    let _ = writeln!(
        out,
        "\nCurtailed by a limit: {}; energy deferred (estimate): {} kWh",
        duration(c.curtailed_ms as f64),
        kwh(c.deferred_wh)
    );
    if c.unestimated_ms > 0 {
        let _ = writeln!(
            out,
            "  of which {} without an estimate",
            duration(c.unestimated_ms as f64)
        );
    }
    out
}
