//! The console in a real headless browser (Debian's chromium): the pages
//! render after their script ran, the Level 1 page lists the signatures,
//! choosing a signature, a metric and a range (the URL a form submits)
//! draws a chart with the expected number of points, and the histogram
//! renders; the signature page, the dependencies, the heatmap and a
//! comparison render with their values; through WebDriver (Debian's
//! chromedriver), pointing at a chart shows the value under the pointer
//! and dragging across it zooms. A screenshot of each page goes to
//! target/artifacts/screenshots.

mod common;

use common::{fill, frame, get_json, raw_by_signature, serve};
use pastmon_testbed::clickhouse::ClickHouse;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Chromium's flags here: no sandbox as root, no background connections to
/// a network that is not there.
const FLAGS: [&str; 10] = [
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
];

/// Chromium as the machine's notes say it runs here (no sandbox as root, no
/// background connections to a network that is not there).
fn chromium(user_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(CHROMIUM)
        .args(FLAGS)
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

    // The views that answer: each renders with its values.
    let dom = chromium(&profile, &["--dump-dom", &format!("{base}/?{frame}")]);
    assert!(dom.contains("slow side") && dom.contains("server "), "the cause column");
    let signature = format!("/signature?{frame}&plugin=http&signature={sig}");
    let api = get_json(&format!("{base}/api/v1{signature}"));
    let dom = chromium(&profile, &["--dump-dom", &format!("{base}{signature}")]);
    assert!(dom.contains(&format!("{sig} is slow on the server side")), "the verdict");
    let with_values: usize = api["parts_series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["points"].as_array().unwrap().iter().filter(|p| !p["v"].is_null()).count())
        .sum();
    assert_eq!(dom.matches("class=\"pt\"").count(), with_values, "the parts drawn");
    let heat = format!("/heatmap?{frame}&signature={sig}&metric=last_response");
    let api = get_json(&format!("{base}/api/v1{heat}"));
    let values: u64 = api["columns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()))
        .sum();
    assert!(values > 0);
    let dom = chromium(&profile, &["--dump-dom", &format!("{base}{heat}")]);
    let drawn: u64 = dom.split("data-n=\"").skip(1).map(|s| s.split('"').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(drawn, values, "every value in a heatmap cell");
    let compare = format!("/compare?{frame}&signature={sig}&metric=last_response");
    let dom = chromium(&profile, &["--dump-dom", &format!("{base}{compare}")]);
    assert!(dom.contains(&format!("http {sig}")) && dom.contains("class=\"bar\""), "the comparison");
    // A database call of the signature's, as the sensor pairs them.
    ch.query(&format!(
        "INSERT INTO browser.backends SELECT interval_start, any(interval_seconds), sensor, plugin, signature, \
         server_ip, server_port, 'postgresql', 'SELECT', '10.9.9.9', 5432, toFloat64(sum(transactions)), \
         intDiv(sum(server_time_sum), 2), 0 FROM browser.level1 WHERE signature = '{sig}' \
         GROUP BY interval_start, sensor, plugin, signature, server_ip, server_port"
    ));
    let dependencies = format!("/dependencies?{frame}");
    let dom = chromium(&profile, &["--dump-dom", &format!("{base}{dependencies}")]);
    assert!(dom.contains("postgresql SELECT") && dom.contains("10.9.9.9:5432"), "the dependencies: {dom}");

    // Pointing and dragging, as a user does.
    // Two hours around the capture: room to drag across.
    let (from, to) = frame_of(&frame);
    pointer_shows_values_and_drag_zooms(
        &base,
        &format!("from={}&to={}&series={sig}&stat=count", from - 3_600, to + 3_600),
    );

    // Screenshots of every page.
    let shots = screenshots();
    for (name, page) in [
        ("level1", format!("/?{frame}")),
        ("drill", format!("/drill?{frame}&signature={sig}&by=client&order=slow")),
        ("graph", format!("/graph?{query}&compare=1")),
        ("signature", signature),
        ("heatmap", heat),
        ("compare", compare),
        ("dependencies", dependencies),
        ("sensors", format!("/sensors?{frame}")),
    ] {
        let file = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        chromium(&profile, &[&format!("--screenshot={}", file.display()), &format!("{base}{page}")]);
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{name}: screenshot of {size} bytes");
    }
}

/// A WebDriver session of chromedriver's, ended with it.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Driver {
    fn start(profile: &Path) -> Driver {
        assert!(
            Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is missing: Debian package chromium-driver (cargo xtask test installs it)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(started.elapsed().as_secs() < 20, "chromedriver did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = serde_json::json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        } } });
        let mut driver = Driver { child, url: base.clone() };
        let session = driver.post(&format!("{base}/session"), caps);
        driver.url = format!("{base}/session/{}", session["sessionId"].as_str().expect("a session"));
        driver
    }

    fn post(&self, url: &str, body: serde_json::Value) -> serde_json::Value {
        let answer = match ureq::post(url).set("Content-Type", "application/json").send_string(&body.to_string()) {
            Ok(r) => r.into_string().unwrap(),
            Err(ureq::Error::Status(code, r)) => panic!("WebDriver {url}: {code} {}", r.into_string().unwrap()),
            Err(e) => panic!("WebDriver {url}: {e}"),
        };
        serde_json::from_str::<serde_json::Value>(&answer).unwrap()["value"].clone()
    }

    fn command(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.post(&format!("{}/{path}", self.url), body)
    }

    fn run(&self, script: &str) -> serde_json::Value {
        self.command("execute/sync", serde_json::json!({ "script": script, "args": [] }))
    }

    /// Pointer actions relative to the centre of the first `css` element.
    fn pointer(&self, css: &str, actions: serde_json::Value) {
        let element = self.command("element", serde_json::json!({ "using": "css selector", "value": css }));
        let origin = element.as_object().and_then(|o| o.values().next()).expect("the element").clone();
        let actions: Vec<serde_json::Value> = actions
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if a["type"] == "pointerMove" {
                    a["origin"] = serde_json::json!({ "element-6066-11e4-a52e-4f735466cecf": origin });
                }
                a
            })
            .collect();
        self.command(
            "actions",
            serde_json::json!({ "actions": [{ "type": "pointer", "id": "mouse",
                "parameters": { "pointerType": "mouse" }, "actions": actions }] }),
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.url).call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// On the graph page: the pointer over the chart shows the crosshair and a
/// tooltip holding one of the chart's values; a drag across its middle
/// reloads the page zoomed to the dragged span, inside the old one.
fn pointer_shows_values_and_drag_zooms(base: &str, query: &str) {
    let profile = std::env::temp_dir().join(format!("pastmon-webdriver-{}", std::process::id()));
    let driver = Driver::start(&profile);
    driver.command("url", serde_json::json!({ "url": format!("{base}/graph?{query}") }));
    let values: Vec<String> = serde_json::from_value(
        driver.run("return Array.from(document.querySelectorAll('svg.chart circle.pt')).map(c => c.dataset.v)"),
    )
    .unwrap();
    assert!(!values.is_empty());
    driver.pointer(
        "svg.chart",
        serde_json::json!([{ "type": "pointerMove", "duration": 0, "x": 0, "y": 0 },
                           { "type": "pointerMove", "duration": 50, "x": 10, "y": 0 }]),
    );
    let tip = driver.run("var t = document.getElementById('tip'); return t && !t.hidden ? t.textContent : null");
    let tip = tip.as_str().expect("the tooltip shows on hover").to_owned();
    assert!(tip.contains("UTC") && values.iter().any(|v| tip.contains(v.as_str())), "{tip} shows none of {values:?}");
    let old: (u64, u64) = frame_of(query);
    driver.pointer(
        "svg.chart",
        serde_json::json!([{ "type": "pointerMove", "duration": 0, "x": -150, "y": 0 },
                           { "type": "pointerDown", "button": 0 },
                           { "type": "pointerMove", "duration": 200, "x": 150, "y": 0 },
                           { "type": "pointerUp", "button": 0 }]),
    );
    let mut url = String::new();
    for _ in 0..50 {
        url = driver.run("return window.location.href").as_str().unwrap_or_default().to_owned();
        if url.contains("from=") && !url.contains(&format!("from={}", old.0)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let new = frame_of(url.split_once('?').map_or("", |(_, q)| q));
    assert!(old.0 < new.0 && new.1 < old.1 && new.0 < new.1, "a drag zooms in: {old:?} to {new:?} ({url})");
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
}

/// `from` and `to` of a query string.
fn frame_of(query: &str) -> (u64, u64) {
    let get = |key: &str| {
        query.split('&').find_map(|kv| kv.strip_prefix(&format!("{key}="))).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    (get("from"), get("to"))
}
