//! Renderers of a [`Report`]: aligned text, CSV, JSON and one self-contained HTML page.

mod csv;
mod html;
mod svg;
mod table;

use super::{Report, ReportError};
use std::fmt;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for a terminal.
    #[default]
    Table,
    /// One figure per row: `scope,connector,name,figure,value,unit`.
    Csv,
    /// The report as JSON (every figure, raw units).
    Json,
    /// One HTML file with inline CSS and SVG charts, no scripts or external resources.
    Html,
}

/// The report in `format`.
pub fn render(report: &Report, format: Format) -> Result<String, ReportError> {
    Ok(match format {
        Format::Table => table::render(report),
        Format::Csv => csv::render(report),
        Format::Json => serde_json::to_string_pretty(report)? + "\n",
        Format::Html => html::render(report),
    })
}

/// Shown instead of a figure of a charger that never reported.
pub const NO_DATA: &str = "no data";

/// A duration for people: `2 h 05 min`, `12 min`, `40 s`.
pub fn duration(ms: f64) -> String {
    let s = (ms / 1000.0).round() as i64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// Wh as kWh with two decimals.
pub fn kwh(wh: f64) -> String {
    format!("{:.2}", wh / 1000.0)
}

/// A percentage with one decimal, or [`NO_DATA`].
pub fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| NO_DATA.to_string(), |p| format!("{p:.1} %"))
}

/// Money with two decimals and the currency, if known.
pub fn money(amount: f64, currency: Option<&str>) -> String {
    match currency {
        Some(c) => format!("{amount:.2} {c}"),
        None => format!("{amount:.2}"),
    }
}

/// `value` or `-` when absent.
pub fn or_dash<T>(value: Option<T>, f: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "-".to_string(), f)
}

/// The hour of day as `HH:00-HH:00`.
pub fn hour_span(hour: u32) -> String {
    format!("{hour:02}:00-{:02}:00", hour + 1)
}

/// A local RFC 3339 time shortened to `YYYY-MM-DD HH:MM`.
pub fn short_time(rfc3339: &str) -> String {
    let t = rfc3339.replacen('T', " ", 1);
    t.get(..16).unwrap_or(&t).to_string()
}

/// A title for the report.
pub fn title(r: &Report) -> String {
    let site = match (&r.site_name, &r.site_id) {
        (Some(n), Some(i)) => format!("{n} ({i})"),
        (Some(n), None) => n.clone(),
        (None, Some(i)) => i.clone(),
        (None, None) => "hubgate site".into(),
    };
    format!(
        "{site}: {} to {} ({})",
        short_time(&r.period.from),
        short_time(&r.period.to),
        r.period.time_zone
    )
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Html => "html",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(duration(7_500_000.0), "2 h 05 min");
        assert_eq!(duration(720_000.0), "12 min");
        assert_eq!(duration(40_000.0), "40 s");
        assert_eq!(kwh(12_345.0), "12.35");
        assert_eq!(pct(None), NO_DATA);
        assert_eq!(pct(Some(99.94)), "99.9 %");
        assert_eq!(money(3.456, Some("EUR")), "3.46 EUR");
        assert_eq!(hour_span(23), "23:00-24:00");
        assert_eq!(short_time("2026-03-29T00:00:00+01:00"), "2026-03-29 00:00");
    }
}
