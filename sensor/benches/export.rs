//! Export benchmark (run by `cargo xtask bench clickhouse`, which starts a
//! throw-away server): level1 rows encoded and inserted by pastmon's own
//! client, against `clickhouse-client` inserting the same RowBinary bytes
//! (the peer), in the same run; then the sensor's memory and spool rate
//! while ClickHouse is down. Prints medians and ratios.
//!
//! Arguments: HTTP_URL TCP_PORT DATABASE SPOOL_DIR

use pastmon::aggregate::{Key, Row};
use pastmon::decode::addr_from_v4;
use pastmon::export::encode::{column_list, level1_columns, level1_row, RowBinary};
use pastmon::export::{schema, ExportConfig, Exporter, SpoolConfig};
use pastmon::records::Message;
use pastmon_clickhouse::{ClickHouseConfig, Client};
use pastmon_model::histogram::Histogram;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Rows per insert: one interval of a busy sensor.
const ROWS: usize = 20_000;
const RUNS: usize = 5;

/// A plausible row of 50 transactions: timings and sizes spread over five
/// histogram buckets, packet counts over two, and the near-constant metrics
/// (MSS, windows, retransmissions, zero windows, resets) in one.
fn row(seed: u64) -> Row {
    let mut r = Row { count: 50, ..Row::default() };
    r.outcomes.insert("2xx", 48);
    r.outcomes.insert("5xx", 2);
    for (i, stat) in r.metrics.iter_mut().enumerate() {
        let base = 1000 + seed % 977 + i as u64 * 100;
        stat.count = 50;
        stat.min = base;
        stat.max = base * 40;
        stat.sum = base * 50 * 7;
        let metric = pastmon_model::Metric::ALL[i];
        let spread: u64 = match metric.name() {
            "acked_packets" | "server_packets" | "request_packets" => 2,
            n if n.ends_with("mss") || n.ends_with("window") || n.starts_with("retransmits") => 1,
            "zero_windows" | "resets" => 1,
            _ => 5,
        };
        stat.hist =
            Histogram::from_buckets((0..spread).map(|b| (pastmon_model::histogram::bucket(base << b), 50 / spread)));
    }
    r
}

fn key(i: usize) -> Key {
    Key {
        plugin: "http",
        signature: format!("GET_page_{}", i % 1000).into(),
        server: (addr_from_v4([10, 0, (i / 1000 % 250) as u8, 1]), 80),
        client: Some((addr_from_v4([192, 168, (i % 250) as u8, 7]), 32)),
    }
}

fn rows(n: usize) -> Vec<(Key, Row)> {
    (0..n).map(|i| (key(i), row(i as u64))).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [url, tcp_port, db, spool_dir] = args.as_slice() else {
        eprintln!("usage: export HTTP_URL TCP_PORT DATABASE SPOOL_DIR (run it with cargo xtask bench clickhouse)");
        std::process::exit(2);
    };
    let cfg = ClickHouseConfig { url: url.clone(), database: db.clone(), timeout: 300, ..ClickHouseConfig::default() };
    let client = Client::new(cfg.clone());
    schema::apply(&client).expect("schema");
    let data = rows(ROWS);

    let mut encode_s = Vec::new();
    let mut body = RowBinary::default();
    for _ in 0..RUNS {
        body = RowBinary::default();
        let t = Instant::now();
        for (i, (k, r)) in data.iter().enumerate() {
            level1_row(&mut body, "bench", (1_700_000_000, 300), k, r, i as u64);
        }
        encode_s.push(t.elapsed().as_secs_f64());
    }
    let mb = body.0.len() as f64 / 1e6;
    let columns = column_list(&level1_columns());

    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let file = std::env::temp_dir().join("pastmon-bench-level1.bin");
    std::fs::write(&file, &body.0).unwrap();
    for _ in 0..RUNS {
        let t = Instant::now();
        client.insert("level1", &columns, &body.0).expect("insert");
        ours.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let status = Command::new("clickhouse-client")
            .args(["--port", tcp_port, "--query", &format!("INSERT INTO {db}.level1 ({columns}) FORMAT RowBinary")])
            .stdin(std::fs::File::open(&file).unwrap())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "clickhouse-client failed");
        peer.push(t.elapsed().as_secs_f64());
    }
    let stored: u64 = client.query(&format!("SELECT count() FROM {db}.level1")).unwrap().trim().parse().unwrap();
    assert_eq!(stored, (2 * RUNS * ROWS) as u64, "every inserted row is stored");
    let rate = |s: f64| ROWS as f64 / s;
    println!(
        "level1 rows: {ROWS} per insert ({mb:.1} MB RowBinary, {} columns), {RUNS} runs, medians",
        level1_columns().len()
    );
    println!("{:<40} {:>10} {:>14} {:>10}", "", "seconds", "rows/s", "ratio");
    let (e, o, p) = (median(encode_s), median(ours), median(peer));
    println!("{:<40} {e:>10.3} {:>14.0} {:>10}", "pastmon encode (RowBinary)", rate(e), "");
    println!("{:<40} {o:>10.3} {:>14.0} {:>10.2}", "pastmon insert (HTTP)", rate(o), p / o);
    println!("{:<40} {p:>10.3} {:>14.0} {:>10.2}", "clickhouse-client insert (peer)", rate(p), 1.0);

    // Spooling: ClickHouse unreachable, 20 intervals of ROWS/10 rows each.
    let _ = std::fs::remove_dir_all(spool_dir);
    let before = peak_rss_mb();
    let exporter = Exporter::start(
        ExportConfig {
            sensor: "bench".into(),
            clickhouse: ClickHouseConfig { url: "http://127.0.0.1:9".into(), timeout: 1, ..cfg },
            spool: SpoolConfig { dir: spool_dir.into(), max_bytes: 1 << 34 },
            interval_s: 300,
            drain_timeout: Duration::from_millis(100),
            retention: Default::default(),
        },
        1,
        None,
    )
    .unwrap();
    let t = Instant::now();
    let per = ROWS / 10;
    for interval in 0..20u64 {
        let rows = data.iter().take(per).map(|(k, r)| (k.clone(), Box::new(r.clone()))).collect();
        let start = 1_700_000_000 / 300 * 300 + interval * 300;
        let msg = Message::Progress {
            participant: 0,
            closed_before: start + 300,
            intervals: BTreeMap::from([(start, rows)]),
            health: BTreeMap::new(),
            transactions: Vec::new(),
        };
        exporter.sender.send(msg).unwrap();
    }
    let stats = exporter.finish().unwrap();
    let secs = t.elapsed().as_secs_f64();
    let spooled: u64 =
        std::fs::read_dir(spool_dir).unwrap().filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
    println!(
        "spooling while ClickHouse is down: {} rows in {:.2} s ({:.0} rows/s), {} batches, {:.0} MB on disk, peak RSS {:.0} MB (before {:.0} MB)",
        20 * per,
        secs,
        (20 * per) as f64 / secs,
        stats.left_in_spool,
        spooled as f64 / 1e6,
        peak_rss_mb(),
        before
    );
    let _ = std::fs::remove_dir_all(spool_dir);
}
