//! The HTML report in a real browser (headless Chromium): it renders to a screenshot that is not a
//! blank page, its SVG charts are in the DOM the browser built, and the console stays clean.

use super::{BERLIN, history, hubgate_report, site};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("chromium is not installed: run tests/provision.sh");
}

/// Runs headless Chromium on `url` with `extra` arguments (bounded by `timeout`).
fn run(profile: &Path, url: &str, extra: &[&str]) -> Output {
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Console output and script errors in Chromium's log.
fn console_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Refused to")
                || l.contains("Content Security Policy")
        })
        .map(String::from)
        .collect()
}

/// A screenshot of `url`: its size in bytes, and the width and height in its PNG header.
fn screenshot(dir: &Path, name: &str, url: &str) -> (u64, u32, u32, Vec<String>) {
    let png = dir.join(format!("{name}.png"));
    let profile = dir.join(format!("{name}-profile"));
    let out = run(
        &profile,
        url,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,1600",
        ],
    );
    let bytes =
        std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (
        bytes.len() as u64,
        be(16),
        be(20),
        console_lines(&out.stderr),
    )
}

#[test]
fn the_html_report_renders_in_a_headless_browser() {
    let dir = site(history::spring);
    let config = dir.path().join("site.toml");
    let html = dir.path().join("report.html");
    hubgate_report(
        BERLIN,
        &[
            "--config",
            config.to_str().expect("path"),
            "--from",
            "2026-03-27",
            "--to",
            "2026-03-30",
            "--format",
            "html",
            "--output",
            html.to_str().expect("path"),
        ],
    );
    let text = std::fs::read_to_string(&html).expect("html written");
    for outside in [
        "<script", "src=", "href=", "url(", "@import", "<link", "<img",
    ] {
        assert!(
            !text.contains(outside),
            "the page refers outside: {outside}"
        );
    }

    // A control page: a console message is seen in the log, and an empty page's screenshot is
    // small, so the checks below can fail.
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><html><body><script>console.error('hubgate-probe')</script></body></html>",
    )
    .expect("control page");
    let (blank_size, _, _, control_console) = screenshot(
        dir.path(),
        "control",
        &format!("file://{}", control.display()),
    );
    assert!(
        control_console.iter().any(|l| l.contains("hubgate-probe")),
        "console messages are not in Chromium's log: {control_console:?}"
    );

    let url = format!("file://{}", html.display());
    let (size, width, height, console) = screenshot(dir.path(), "report", &url);
    assert_eq!((width, height), (1200, 1600));
    assert!(
        size > 3 * blank_size,
        "the screenshot looks blank: {size} bytes vs {blank_size} for an empty page"
    );
    assert!(console.is_empty(), "console: {console:?}");

    // The DOM the browser built holds every chart with its shapes.
    let out = run(&dir.path().join("dom-profile"), &url, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout);
    for id in [
        "energy-by-hour",
        "energy-heatmap",
        "energy-by-weekday",
        "charger-shares",
    ] {
        assert!(
            dom.contains(&format!("<svg id=\"{id}\"")),
            "no chart {id} in the DOM"
        );
    }
    assert_eq!(
        dom.matches("<rect class=\"bar\"").count(),
        24 + 7,
        "hour and weekday bars"
    );
    assert_eq!(
        dom.matches("<rect class=\"cell\"").count(),
        7 * 24,
        "heatmap cells"
    );
    assert!(
        dom.contains("class=\"nodata\">no data</text>"),
        "bay-3 has no data in the chart"
    );
    assert!(
        dom.contains("<td class=\"nodata\">no data</td>"),
        "bay-3 has no data in the table"
    );
    assert!(console_lines(&out.stderr).is_empty());
}
