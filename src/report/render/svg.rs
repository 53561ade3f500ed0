//! Inline SVG charts for the HTML report: plain shapes and text, no scripts.

use crate::report::ChargerReport;
use crate::report::site::WEEKDAYS;
use std::fmt::Write;

/// Text escaped for HTML and SVG content and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A vertical bar chart with a label under each bar (every `label_every`-th shown).
pub fn bars(
    id: &str,
    title: &str,
    labels: &[String],
    values: &[f64],
    label_every: usize,
) -> String {
    let (w, h, left, bottom, top) = (720.0, 240.0, 56.0, 28.0, 16.0);
    let max = values.iter().copied().fold(0.0, f64::max);
    let n = values.len().max(1) as f64;
    let slot = (w - left - 8.0) / n;
    let plot = h - bottom - top;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img"><title>{}</title>"#,
        esc(title)
    );
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{y}" x2="{x2}" y2="{y}" class="axis"/>"#,
        y = h - bottom,
        x2 = w - 8.0
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" class="tick" text-anchor="end">{:.1} kWh</text>"#,
        left - 4.0,
        top + 4.0,
        max / 1000.0
    );
    for (i, v) in values.iter().enumerate() {
        let bh = if max > 0.0 { v / max * plot } else { 0.0 };
        let x = left + i as f64 * slot + slot * 0.1;
        let label = labels.get(i).map_or("", String::as_str);
        let _ = write!(
            s,
            r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}"><title>{}: {:.2} kWh</title></rect>"#,
            h - bottom - bh,
            slot * 0.8,
            esc(label),
            v / 1000.0
        );
        if i % label_every.max(1) == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{}" class="tick" text-anchor="middle">{}</text>"#,
                x + slot * 0.4,
                h - bottom + 16.0,
                esc(label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// A heatmap of energy by weekday (rows, Monday first) and hour (columns).
pub fn heatmap(id: &str, values: &[[f64; 24]; 7]) -> String {
    let (left, top, cw, ch) = (44.0, 20.0, 27.0, 24.0);
    let (w, h) = (left + 24.0 * cw + 8.0, top + 7.0 * ch + 8.0);
    let max = values.iter().flatten().copied().fold(0.0, f64::max);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img"><title>Energy by weekday and hour</title>"#
    );
    for hour in (0..24).step_by(3) {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="14" class="tick" text-anchor="middle">{hour:02}</text>"#,
            left + hour as f64 * cw + cw / 2.0
        );
    }
    for (d, row) in values.iter().enumerate() {
        let y = top + d as f64 * ch;
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            left - 6.0,
            y + ch / 2.0 + 4.0,
            WEEKDAYS[d]
        );
        for (hour, v) in row.iter().enumerate() {
            let level = if max > 0.0 { v / max } else { 0.0 };
            let _ = write!(
                s,
                r#"<rect class="cell" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="rgb({},{},{})"><title>{} {hour:02}:00: {:.2} kWh</title></rect>"#,
                left + hour as f64 * cw,
                cw - 2.0,
                ch - 2.0,
                (240.0 - 200.0 * level).round(),
                (244.0 - 130.0 * level).round(),
                (248.0 - 40.0 * level).round(),
                WEEKDAYS[d],
                v / 1000.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars per charger: uptime, availability, occupied and charging, 0-100 %.
pub fn charger_shares(id: &str, chargers: &[ChargerReport]) -> String {
    let figures: [(&str, &str); 4] = [
        ("uptime", "up"),
        ("available", "avail"),
        ("occupied", "occ"),
        ("charging", "chg"),
    ];
    let (left, bar_h, gap, width) = (180.0, 12.0, 10.0, 480.0);
    let group = figures.len() as f64 * bar_h + gap;
    let h = 28.0 + chargers.len().max(1) as f64 * group;
    let w = left + width + 70.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img"><title>Uptime and utilization per charger</title>"#
    );
    for (i, (name, class)) in figures.iter().enumerate() {
        let x = left + i as f64 * 110.0;
        let _ = write!(
            s,
            r#"<rect class="{class}" x="{x}" y="4" width="10" height="10"/><text x="{}" y="13" class="tick">{name}</text>"#,
            x + 14.0
        );
    }
    for (i, c) in chargers.iter().enumerate() {
        let y0 = 24.0 + i as f64 * group;
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" class="label" text-anchor="end">{} {}</text>"#,
            left - 8.0,
            y0 + 2.0 * bar_h + 4.0,
            c.connector,
            esc(&c.name)
        );
        let Some(t) = &c.time else {
            let _ = write!(
                s,
                r#"<text x="{left}" y="{:.1}" class="nodata">no data</text>"#,
                y0 + 2.0 * bar_h + 4.0
            );
            continue;
        };
        let values = [
            t.uptime_pct,
            t.availability_pct,
            t.occupied_pct,
            t.charging_pct,
        ];
        for (k, ((name, class), v)) in figures.iter().zip(values).enumerate() {
            let y = y0 + k as f64 * bar_h;
            let _ = write!(
                s,
                r#"<rect class="{class}" x="{left}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{name}: {v:.1} %</title></rect><text x="{:.1}" y="{:.1}" class="tick">{v:.1} %</text>"#,
                v.clamp(0.0, 100.0) / 100.0 * width,
                bar_h - 2.0,
                left + v.clamp(0.0, 100.0) / 100.0 * width + 4.0,
                y + bar_h - 3.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_draw_one_shape_per_value() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let labels: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
        let mut values = [0.0; 24];
        values[7] = 2000.0;
        let svg = bars("e", "Energy <by hour>", &labels, &values, 3);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 24);
        assert!(svg.contains("Energy &lt;by hour&gt;"));
        assert!(svg.contains("2.0 kWh"), "{svg}");
        let svg = heatmap("h", &[[1.0; 24]; 7]);
        assert_eq!(svg.matches("<rect class=\"cell\"").count(), 168);
    }
}
