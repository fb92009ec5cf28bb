//! `cargo xtask bench web`: the console on a month of data.
//!
//! Fills a throw-away ClickHouse with 1,000 signatures × 10 servers: one day
//! of 5-minute level1 rows (the rollup views fill level2_hour from them, as
//! in production) and 29 more days of level2_hour rows written directly.
//! The Level 1 page reads level1 up to 3 hours and the hourly totals per
//! signature beyond (filled by their view from the day of level1); a
//! 30-day graph reads the hourly rollup.
//! Then times the pages and their API, medians of several runs, beside the
//! peer: the page's heaviest statement sent straight to ClickHouse.

use crate::local_ch::LocalClickHouse;
use crate::sh;
use anyhow::{Context, Result};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SIGNATURES: u64 = 1_000;
const SERVERS: u64 = 10;
const RUNS: usize = 7;

/// One timed request: its seconds.
type Timed<'a> = Box<dyn Fn() -> Result<f64> + 'a>;

struct Web(Child);

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Seconds for one HTTP GET (curl's own total time).
fn time_get(url: &str) -> Result<f64> {
    let out =
        Command::new("curl").args(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", url]).output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, secs) = text.split_once(' ').context("curl output")?;
    anyhow::ensure!(code == "200", "{url}: HTTP {code}");
    Ok(secs.trim().parse()?)
}

fn time_sql(ch: &LocalClickHouse, sql: &str) -> Result<f64> {
    let start = Instant::now();
    ch.query(sql)?;
    Ok(start.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The columns of one timing metric, as constant-ish expressions of `number`.
fn timing(m: &str, base_ms: u64) -> (String, String) {
    let cols = format!("{m}_count, {m}_min, {m}_max, {m}_sum, {m}_buckets, {m}_counts");
    let ns = base_ms * 1_000_000;
    let values = format!(
        "toUInt64(20), toUInt64({ns} + number % 97 * 1000), toUInt64({ns} * 4), toUInt64({ns} * 30), \
         [toUInt16(320 + number % 8), toUInt16(340), toUInt16(360)], [toUInt64(10), toUInt64(8), toUInt64(2)]"
    );
    (cols, values)
}

pub fn web() -> Result<()> {
    let root = crate::root();
    sh::run(sh::cmd("cargo", &["build", "--release", "--bin", "pastmon", "--bin", "pastmon-web"]).current_dir(&root))?;
    let dir = root.join("target/bench/web");
    let ch = LocalClickHouse::start(dir.join("clickhouse"))?;
    let config = dir.join("pastmon.toml");
    std::fs::write(
        &config,
        format!("sensor = \"bench\"\n[clickhouse]\nurl = \"{}\"\ndatabase = \"benchweb\"\n", ch.url()),
    )?;
    let cfg = config.to_str().context("path")?;
    sh::run(&mut sh::cmd(
        root.join("target/release/pastmon").to_str().context("path")?,
        &["schema", "apply", "--config", cfg],
    ))?;

    // level1 ends at the last whole 5 minutes, the rollups' own days at the
    // hour the level1 day starts in.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() / 300 * 300;
    let hour = (now - 86_400) / 3_600 * 3_600;
    let keys = SIGNATURES * SERVERS;
    let key_cols = "sensor, plugin, signature, server_ip, server_port";
    let key_vals = format!(
        "'bench', 'http', concat('SIG_', toString(number % {SIGNATURES})), \
         concat('10.0.0.', toString(intDiv(number % {keys}, {SIGNATURES}))), toUInt16(80)"
    );
    let (fr_cols, fr_vals) = timing("first_response", 10);
    let (lr_cols, lr_vals) = timing("last_response", 30);
    let day_rows = 288 * keys;
    let start = Instant::now();
    ch.query(&format!(
        "INSERT INTO benchweb.level1 (interval_start, interval_seconds, {key_cols}, client, transactions, outcome_2xx, \
         outcome_5xx, {fr_cols}, {lr_cols}) SELECT toDateTime({} + intDiv(number, {keys}) * 300), 300, {key_vals}, '', \
         toUInt64(20), toUInt64(19), toUInt64(1), {fr_vals}, {lr_vals} FROM numbers({day_rows})",
        now - 86_400
    ))?;
    println!("level1: {day_rows} rows (one day) in {:.1} s", start.elapsed().as_secs_f64());
    // A tenth of the fronts wait on a database of theirs: the backends a
    // signature's page and the dependencies read.
    ch.query(&format!(
        "INSERT INTO benchweb.backends (interval_start, interval_seconds, {key_cols}, backend_plugin, \
         backend_signature, backend_ip, backend_port, calls, backend_time_sum) SELECT \
         toDateTime({} + intDiv(number, {keys}) * 300), 300, {key_vals}, 'postgresql', \
         concat('SELECT_', toString(number % 50)), concat('10.0.1.', toString(number % 7)), toUInt16(5432), \
         toFloat64(20), toUInt64(200000000 + number % 89 * 1000000) FROM numbers({day_rows}) WHERE number % 10 = 0",
        now - 86_400
    ))?;
    let day_hour_rows = 24 * keys;
    let state = |m: &str, base_ms: u64| {
        let ns = base_ms * 1_000_000;
        format!(
            "arrayReduce('sumState', [toUInt64(240)]), arrayReduce('minState', [toUInt64({ns})]), \
             arrayReduce('maxState', [toUInt64({ns} * 4)]), arrayReduce('sumState', [toUInt64({ns} * 360)]), \
             arrayReduce('sumMapState', [[toUInt16(320 + number % 8), toUInt16(340), toUInt16(360)]], \
             [[toUInt64(120), toUInt64(96), toUInt64(24)]]) /* {m} */"
        )
    };
    let start = Instant::now();
    // A day per insert, as the views write them: the table is partitioned
    // by day, and one insert into 29 partitions opens too many files.
    for day in 1..30 {
        ch.query(&format!(
            "INSERT INTO benchweb.level2_hour (interval_start, {key_cols}, transactions, first_response_count, \
             first_response_min, first_response_max, first_response_sum, first_response_hist, last_response_count, \
             last_response_min, last_response_max, last_response_sum, last_response_hist) \
             SELECT toDateTime({} + intDiv(number, {keys}) * 3600), {key_vals}, arrayReduce('sumState', [toUInt64(240)]), \
             {}, {} FROM numbers({day_hour_rows})",
            hour - day * 86_400,
            state("first_response", 10),
            state("last_response", 30)
        ))?;
    }
    println!("level2_hour: {} rows (29 more days) in {:.1} s", 29 * day_hour_rows, start.elapsed().as_secs_f64());
    // Let the background merges settle before timing.
    let start = Instant::now();
    while ch.query("SELECT count() FROM system.merges")?.trim() != "0" && start.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_secs(1));
    }
    println!("merges settled after {:.0} s", start.elapsed().as_secs_f64());

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let web_config = dir.join("pastmon-web.toml");
    std::fs::write(
        &web_config,
        format!("listen = \"127.0.0.1:{port}\"\n[clickhouse]\nurl = \"{}\"\ndatabase = \"benchweb\"\n", ch.url()),
    )?;
    let _web = Web(Command::new(root.join("target/release/pastmon-web"))
        .args(["serve", "--config", web_config.to_str().context("path")?])
        .stderr(Stdio::null())
        .spawn()?);
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while time_get(&format!("{base}/api/v1/openapi.json")).is_err() {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(20), "pastmon-web did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let graph = "last=30d&series=SIG_7@10.0.0.3:80&metric=first_response&stat=p95";
    let sig = "plugin=http&signature=SIG_10&metric=last_response";
    // The Level 1 summary without the sparkline and errors, straight to
    // ClickHouse (peer): what any client pays for the same rows, from the
    // table the page reads. The same from level1, where the page used to read.
    let merged = |m: &str| {
        format!("sumMerge({m}_count), minMerge({m}_min), maxMerge({m}_max), sumMerge({m}_sum), sumMapMerge({m}_hist)")
    };
    let plain =
        |m: &str| format!("sum({m}_count), min({m}_min), max({m}_max), sum({m}_sum), sumMap({m}_buckets, {m}_counts)");
    let summary_sql = |table: &str, transactions: &str, metric: &dyn Fn(&str) -> String| {
        format!(
            "SELECT plugin, signature, {transactions}, {}, {} FROM benchweb.{table} WHERE interval_start >= \
             toDateTime({}) GROUP BY plugin, signature FORMAT JSONCompact",
            metric("first_response"),
            metric("last_response"),
            now - 86_400
        )
    };
    let sql = summary_sql("signatures_hour", "sumMerge(transactions)", &merged);
    let level1_sql = summary_sql("level1", "sum(transactions)", &plain);
    let cases: Vec<(&str, Timed)> = vec![
        ("Level 1 page, last 1h (level1)", Box::new(|| time_get(&format!("{base}/?last=1h")))),
        ("Level 1 page, last 6h (signatures_hour)", Box::new(|| time_get(&format!("{base}/?last=6h")))),
        ("Level 1 page, last 24h (signatures_hour)", Box::new(|| time_get(&format!("{base}/?last=24h")))),
        ("  its API call", Box::new(|| time_get(&format!("{base}/api/v1/signatures?last=24h")))),
        ("  peer: its summary SQL alone", Box::new(|| time_sql(&ch, &sql))),
        ("  peer: the same SQL on level1", Box::new(|| time_sql(&ch, &level1_sql))),
        ("30-day graph page (level2_hour)", Box::new(|| time_get(&format!("{base}/graph?{graph}")))),
        ("  its API call", Box::new(|| time_get(&format!("{base}/api/v1/graph?{graph}")))),
        ("Signature page, last 24h (level1)", Box::new(|| time_get(&format!("{base}/signature?last=24h&{sig}")))),
        ("Signature page, last 30d (level2_hour)", Box::new(|| time_get(&format!("{base}/signature?last=30d&{sig}")))),
        ("Heatmap, last 24h (level1)", Box::new(|| time_get(&format!("{base}/heatmap?last=24h&{sig}")))),
        ("Heatmap, last 30d (level2_hour)", Box::new(|| time_get(&format!("{base}/heatmap?last=30d&{sig}")))),
        ("Compare 24h with the day before", Box::new(|| time_get(&format!("{base}/compare?last=24h")))),
        ("  one signature, histograms", Box::new(|| time_get(&format!("{base}/compare?last=24h&{sig}")))),
        ("Dependencies, every edge, 24h", Box::new(|| time_get(&format!("{base}/dependencies?last=24h")))),
        (
            "Dependencies of one server, 24h",
            Box::new(|| time_get(&format!("{base}/dependencies?last=24h&server=10.0.0.3"))),
        ),
        ("Sensors page, last 24h", Box::new(|| time_get(&format!("{base}/sensors?last=24h")))),
    ];
    println!("\n{} signatures × {} servers; {RUNS} runs each, medians\n", SIGNATURES, SERVERS);
    let measure = |when: &str| -> Result<()> {
        println!("{:<40} {:>10}", format!("view ({when})"), "seconds");
        for (name, case) in &cases {
            case()?; // warm
            let times: Vec<f64> = (0..RUNS).map(|_| case()).collect::<Result<_>>()?;
            println!("{name:<40} {:>10.3}", median(times));
        }
        Ok(())
    };
    measure("rollup parts as inserted")?;
    // A long-running server has merged its rollup parts; do it now.
    let start = Instant::now();
    ch.query("OPTIMIZE TABLE benchweb.level2_hour FINAL")?;
    ch.query("OPTIMIZE TABLE benchweb.level1 FINAL")?;
    println!("\n(parts merged in {:.1} s)\n", start.elapsed().as_secs_f64());
    measure("parts merged")
}
