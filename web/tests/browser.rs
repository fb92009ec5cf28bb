//! The console in a real headless browser (Debian's chromium): the pages
//! render after their script ran, the Level 1 page lists the signatures,
//! choosing a signature, a metric and a range (the URL a form submits)
//! draws a chart with the expected number of points, and the histogram
//! renders. A screenshot of each page goes to target/artifacts/screenshots.

mod common;

use common::{fill, frame, get_json, raw_by_signature, serve};
use pastmon_testbed::clickhouse::ClickHouse;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium as the machine's notes say it runs here (no sandbox as root, no
/// background connections to a network that is not there).
fn chromium(user_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1000",
        ])
        .arg(format!("--user-data-dir={}", user_dir.display()))
        .args(args)
        .output()
        .expect("chromium");
    assert!(out.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "needs Debian's chromium: cargo xtask test installs it and runs this"]
fn pages_render_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: Debian package chromium (cargo xtask test installs it)"
    );
    let ch = ClickHouse::start("browser");
    let report = fill(&ch, "browser");
    let base = serve(&ch.url(), "browser", Vec::new());
    let frame = frame(&report);
    let raw = raw_by_signature(&report);
    let profile = ch.dir.join("chromium-profile");

    // Level 1: a row per signature in the rendered DOM; typing in the
    // filter box is script, so check the script ran (rows are sortable).
    let url = format!("{base}/?{frame}");
    let dom = chromium(&profile, &["--dump-dom", &url]);
    for sig in raw.keys() {
        assert!(dom.contains(&format!(">{sig}</a>")), "{sig} not on the Level 1 page");
    }
    assert_eq!(dom.matches("<svg class=\"spark\"").count(), raw.len());

    // A signature, a metric and a range chosen: the chart has one point per
    // step with values, as the API says.
    let sig = "GET_sleep";
    let query = format!("{frame}&series={sig}&metric=last_response&stat=p95&step=60");
    let api = get_json(&format!("{base}/api/v1/graph?{query}"));
    let points = api["series"][0]["points"].as_array().unwrap().iter().filter(|p| !p["v"].is_null()).count();
    assert!(points > 0);
    let dom = chromium(&profile, &["--dump-dom", &format!("{base}/graph?{query}")]);
    assert_eq!(dom.matches("class=\"pt\"").count(), points, "points drawn");
    let bars = api["histogram"]["buckets"].as_array().unwrap().len();
    assert_eq!(dom.matches("class=\"bar\"").count(), bars, "histogram bars drawn");

    // Screenshots of every page.
    let shots = screenshots();
    for (name, page) in [
        ("level1", format!("/?{frame}")),
        ("drill", format!("/drill?{frame}&signature={sig}&by=client&order=slow")),
        ("graph", format!("/graph?{query}&compare=1")),
        ("sensors", format!("/sensors?{frame}")),
    ] {
        let file = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        chromium(&profile, &[&format!("--screenshot={}", file.display()), &format!("{base}{page}")]);
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{name}: screenshot of {size} bytes");
    }
}
