//! The report as one self-contained HTML page: inline CSS, inline SVG charts, tables; no
//! scripts, fonts, images or links to fetch, so it opens anywhere and can be mailed as is. Its
//! content security policy forbids loading anything, so a browser would refuse (and report) any
//! outside resource.

use super::svg::{bars, charger_shares, esc, heatmap};
use super::{NO_DATA, duration, hour_span, kwh, money, or_dash, pct, title};
use crate::report::Report;
use crate::report::site::WEEKDAYS;
use std::fmt::Write;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;
color:#1d2630;background:#fff;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h3{font-size:14px;margin:16px 0 0;color:#44505c}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d5dbe1;
padding-bottom:4px}.meta{color:#5b6773;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{padding:4px 10px;text-align:right;
border-bottom:1px solid #eceff2}th:first-child,td:first-child{text-align:left}th{background:#f3f5f7}
tr.total td{font-weight:600;border-top:2px solid #c9d0d6}td.nodata{color:#a33;font-style:italic}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #d5dbe1;border-radius:6px;
padding:10px 14px;min-width:140px}.card b{display:block;font-size:20px}.card span{color:#5b6773;font-size:12px}
svg.chart{width:100%;height:auto;max-width:760px;display:block;margin:8px 0}
svg .bar{fill:#2f7ebc}svg .axis{stroke:#8896a3}svg .tick{font-size:11px;fill:#44505c}
svg .label{font-size:12px;fill:#1d2630}svg .nodata{font-size:12px;fill:#a33;font-style:italic}
svg .up{fill:#2e9d5b}svg .avail{fill:#2f7ebc}svg .occ{fill:#d08a1e}svg .chg{fill:#7a4bb7}
";

fn card(out: &mut String, value: &str, label: &str) {
    let _ = write!(
        out,
        r#"<div class="card"><b>{}</b><span>{}</span></div>"#,
        esc(value),
        esc(label)
    );
}

fn row(out: &mut String, class: &str, cells: &[String]) {
    let _ = write!(out, r#"<tr class="{class}">"#);
    for c in cells {
        if c == NO_DATA {
            let _ = write!(out, r#"<td class="nodata">{}</td>"#, esc(c));
        } else {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
    }
    out.push_str("</tr>");
}

fn head(out: &mut String, cells: &[&str]) {
    out.push_str("<table><thead><tr>");
    for c in cells {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>");
}

/// Renders `r`.
pub fn render(r: &Report) -> String {
    let cur = r.currency.as_deref();
    let s = &r.site;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" \
         content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title(r))
    );
    let _ = write!(
        out,
        r#"<h1>{}</h1><p class="meta">{} to {} ({}), figures up to {}</p>"#,
        esc(r
            .site_name
            .as_deref()
            .or(r.site_id.as_deref())
            .unwrap_or("hubgate site")),
        esc(&super::short_time(&r.period.from)),
        esc(&super::short_time(&r.period.to)),
        esc(&r.period.time_zone),
        esc(&super::short_time(&r.period.end)),
    );
    out.push_str(r#"<div class="cards">"#);
    card(
        &mut out,
        &format!("{} kWh", kwh(s.sessions.energy_wh as f64)),
        "charged in sessions",
    );
    card(&mut out, &s.sessions.count.to_string(), "sessions");
    card(&mut out, &money(s.revenue.total, cur), "revenue");
    card(&mut out, &pct(s.uptime_pct), "uptime");
    card(&mut out, &s.faults.to_string(), "faults");
    card(
        &mut out,
        &duration(s.curtailment.curtailed_ms as f64),
        "curtailed by a limit",
    );
    out.push_str("</div>");

    out.push_str("<h2>Chargers</h2>");
    out.push_str(&charger_shares("charger-shares", &r.chargers));
    head(
        &mut out,
        &[
            "charger",
            "uptime",
            "available",
            "occupied",
            "charging",
            "faults",
            "mean TTR",
            "max TTR",
        ],
    );
    for c in &r.chargers {
        let name = format!("{} {}", c.connector, c.name);
        let t = c.time.as_ref();
        let share = |f: fn(&crate::report::TimeShares) -> f64| match t {
            Some(t) => pct(Some(f(t))),
            None => NO_DATA.to_string(),
        };
        row(
            &mut out,
            "",
            &[
                name,
                share(|t| t.uptime_pct),
                share(|t| t.availability_pct),
                share(|t| t.occupied_pct),
                share(|t| t.charging_pct),
                format!(
                    "{}{}",
                    c.faults.count,
                    if c.faults.down_at_end { " (down)" } else { "" }
                ),
                or_dash(c.faults.mean_recovery_ms, duration),
                or_dash(c.faults.max_recovery_ms, |m| duration(m as f64)),
            ],
        );
    }
    out.push_str("</tbody></table>");

    out.push_str("<h2>Sessions</h2>");
    head(
        &mut out,
        &[
            "charger",
            "sessions",
            "kWh",
            "mean kWh",
            "median kWh",
            "mean time",
            "median time",
            "revenue",
        ],
    );
    let lines = r
        .chargers
        .iter()
        .map(|c| {
            (
                format!("{} {}", c.connector, c.name),
                &c.sessions,
                c.revenue.total,
                "",
            )
        })
        .chain([("site".to_string(), &s.sessions, s.revenue.total, "total")]);
    for (name, st, revenue, class) in lines {
        row(
            &mut out,
            class,
            &[
                name,
                st.count.to_string(),
                kwh(st.energy_wh as f64),
                or_dash(st.mean_energy_wh, kwh),
                or_dash(st.median_energy_wh, kwh),
                or_dash(st.mean_duration_ms, duration),
                or_dash(st.median_duration_ms, duration),
                money(revenue, cur),
            ],
        );
    }
    out.push_str("</tbody></table>");

    out.push_str("<h2>Revenue by tariff band</h2>");
    head(&mut out, &["band", "kWh", "revenue"]);
    for b in &s.revenue.by_band {
        row(
            &mut out,
            "",
            &[b.band.clone(), kwh(b.energy_wh), money(b.amount, cur)],
        );
    }
    out.push_str("</tbody></table>");

    let e = &s.energy;
    out.push_str("<h2>Site energy at the grid connection</h2>");
    let _ = write!(
        out,
        r#"<p class="meta">{} kWh over {} measured; peak hour {}, peak day {}</p>"#,
        kwh(e.total_wh),
        esc(&duration(e.measured_ms as f64)),
        esc(&or_dash(e.peak_hour, hour_span)),
        esc(e.peak_weekday.as_deref().unwrap_or("-"))
    );
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    out.push_str("<h3>By hour of day (local time)</h3>");
    out.push_str(&bars(
        "energy-by-hour",
        "Energy by hour of day",
        &hours,
        &e.by_hour_wh,
        3,
    ));
    out.push_str("<h3>By day of week and hour</h3>");
    out.push_str(&heatmap("energy-heatmap", &e.by_weekday_hour_wh));
    out.push_str("<h3>By day of week</h3>");
    let days: Vec<String> = WEEKDAYS.iter().map(|d| d.to_string()).collect();
    out.push_str(&bars(
        "energy-by-weekday",
        "Energy by day of week",
        &days,
        &e.by_weekday_wh,
        1,
    ));

    let c = &s.curtailment;
    out.push_str("<h2>Curtailment</h2>");
    let _ = write!(
        out,
        r#"<p>Curtailed by a limit for {}; energy deferred (estimate) {} kWh{}.</p>"#,
        esc(&duration(c.curtailed_ms as f64)),
        kwh(c.deferred_wh),
        if c.unestimated_ms > 0 {
            format!(
                ", {} of it without an estimate",
                esc(&duration(c.unestimated_ms as f64))
            )
        } else {
            String::new()
        }
    );
    out.push_str("</body></html>\n");
    out
}
