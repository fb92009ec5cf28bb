//! Shared by the console's tests: a real ClickHouse filled by the sensor's
//! engine from a capture, the console served on a free port, HTTP helpers.
#![allow(dead_code)] // each test binary uses its own subset

use pastmon::capture::CaptureFile;
use pastmon::config::Config;
use pastmon::export::Exporter;
use pastmon::report;
use pastmon::worker::{self, Outputs};
use pastmon_testbed::clickhouse::ClickHouse;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn capture() -> PathBuf {
    let dir = std::env::var_os("PASTMON_PCAPS").map(PathBuf::from).unwrap_or_else(|| root().join("../shared/pcaps"));
    dir.join("generated_http_python_sleep_curl_dns.pcap")
}

/// Runs the sensor's engine on the capture into `db`; returns its JSON
/// report (what `pastmon raw --format json` prints).
pub fn fill(ch: &ClickHouse, db: &str) -> Value {
    fill_with_interval(ch, db, 60)
}

/// The same with the sensor's intervals `interval` seconds long.
pub fn fill_with_interval(ch: &ClickHouse, db: &str, interval: u64) -> Value {
    fill_from(ch, db, &capture(), interval)
}

/// The same from the capture file `pcap`.
pub fn fill_from(ch: &ClickHouse, db: &str, pcap: &Path, interval: u64) -> Value {
    let rules = root().join("deploy/rules/demo.toml");
    let extra = format!("rules = \"{}\"", rules.display());
    let config = Config::load(&ch.config_with_interval(db, interval, &extra)).unwrap();
    let engine = config.analysis.engine(None).unwrap();
    let exporter = Exporter::start(
        config.export(engine.aggregate.interval_s, std::time::Duration::from_secs(30)),
        engine.workers + 1,
        None,
    )
    .unwrap();
    let mut file = CaptureFile::open(pcap).unwrap();
    let outputs = Outputs { export: Some(exporter.sender.clone()), ..Outputs::default() };
    worker::run(&mut [&mut file], &engine, outputs, &mut |_, _| {});
    let stats = exporter.finish().unwrap();
    assert_eq!(stats.left_in_spool, 0);
    // The same file again, without the database: the raw report.
    let mut file = CaptureFile::open(pcap).unwrap();
    let results = worker::run(&mut [&mut file], &engine, Outputs::default(), &mut |_, _| {});
    report::json_report(&results)
}

/// Serves the console on a free loopback port from a background thread,
/// through the same hardened stack as `pastmon-web serve`; `extra` is more
/// configuration (TOML lines before `[clickhouse]`).
pub fn serve_with(ch_url: &str, db: &str, tokens: Vec<String>, extra: &str) -> String {
    let cfg: pastmon_web::Config = toml::from_str(&format!(
        "listen = \"127.0.0.1:0\"\ntokens_sha256 = {tokens:?}\n{extra}\n[clickhouse]\nurl = \"{ch_url}\"\ndatabase = \"{db}\"\ntimeout = 5\n"
    ))
    .unwrap();
    cfg.check().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(cfg.listen).await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            pastmon_web::serve(&cfg, listener, std::future::pending()).await.unwrap();
        });
    });
    let scheme = if extra.contains("[tls]") { "https" } else { "http" };
    format!("{scheme}://{}", rx.recv().unwrap())
}

pub fn serve(ch_url: &str, db: &str, tokens: Vec<String>) -> String {
    serve_with(ch_url, db, tokens, "")
}

pub fn get(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{url}: {e}"),
    }
}

pub fn get_json(url: &str) -> Value {
    let (status, body) = get(url);
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Per signature from the raw report: (count, first_response count, sum µs).
pub fn raw_by_signature(report: &Value) -> BTreeMap<String, (u64, u64, f64)> {
    let mut out: BTreeMap<String, (u64, u64, f64)> = BTreeMap::new();
    for interval in report["intervals"].as_array().unwrap() {
        for row in interval["rows"].as_array().unwrap() {
            let e = out.entry(row["signature"].as_str().unwrap().to_owned()).or_default();
            e.0 += row["count"].as_u64().unwrap();
            let fr = &row["metrics"]["first_response"];
            e.1 += fr["count"].as_u64().unwrap_or(0);
            e.2 += fr["sum"].as_f64().unwrap_or(0.0);
        }
    }
    out
}

/// The capture's time frame in whole minutes.
pub fn frame(report: &Value) -> String {
    let first = report["capture"]["first_ns"].as_u64().unwrap() / 1_000_000_000 / 60 * 60;
    let last = report["capture"]["last_ns"].as_u64().unwrap() / 1_000_000_000 / 60 * 60 + 60;
    format!("from={first}&to={last}")
}
