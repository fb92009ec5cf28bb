//! Storage against a real ClickHouse server (Debian's 18.16 here): the schema
//! matches the row encoder, exported intervals equal what `pastmon raw`
//! prints, rollups equal level1, and outages or crashes lose and double
//! nothing.

mod common;

use pastmon::capture::{CaptureFile, CaptureSource, Next};
use pastmon::decode::{decode, flags};
use pastmon::export::encode::{
    backends_columns, level1_columns, sensors_columns, sensors_row, transactions_columns, RowBinary,
};
use pastmon::export::schema::MIGRATIONS;
use pastmon::flow::FlowKey;
use pastmon::records::{CaptureStats, SensorInterval};
use pastmon_model::histogram::{bucket, bucket_bounds, Histogram};
use pastmon_testbed::clickhouse::ClickHouse;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

fn pastmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pastmon")).args(args).output().unwrap()
}

fn run(config: &Path, pcap: &Path, drain_timeout: &str) -> Output {
    pastmon(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
        "--drain-timeout",
        drain_timeout,
    ])
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "pastmon failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What `pastmon raw --format json` says about a capture, keyed like level1:
/// (interval, plugin, signature, server, client) → row.
fn raw_rows(pcap: &Path) -> BTreeMap<(u64, String, String, String, String), Value> {
    let out = pastmon(&["raw", "--pcap", pcap.to_str().unwrap(), "--interval", "60", "--format", "json"]);
    assert_ok(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rows = BTreeMap::new();
    for interval in report["intervals"].as_array().unwrap() {
        for r in interval["rows"].as_array().unwrap() {
            let server = r["server"].as_str().unwrap();
            let (ip, port) = server.rsplit_once(':').unwrap();
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let key = (
                interval["start"].as_u64().unwrap(),
                r["plugin"].as_str().unwrap().to_owned(),
                r["signature"].as_str().unwrap().to_owned(),
                format!("{ip}:{port}"),
                r["client"].as_str().unwrap_or("").to_owned(),
            );
            rows.insert(key, r.clone());
        }
    }
    rows
}

/// level1 of `db` keyed the same way.
fn stored_rows(ch: &ClickHouse, db: &str) -> BTreeMap<(u64, String, String, String, String), Value> {
    ch.json_rows(&format!("SELECT *, toUInt32(interval_start) AS start FROM {db}.level1"))
        .into_iter()
        .map(|r| {
            let key = (
                r["start"].as_u64().unwrap(),
                r["plugin"].as_str().unwrap().to_owned(),
                r["signature"].as_str().unwrap().to_owned(),
                format!("{}:{}", r["server_ip"].as_str().unwrap(), r["server_port"]),
                r["client"].as_str().unwrap().to_owned(),
            );
            (key, r)
        })
        .collect()
}

/// ClickHouse's JSON writes UInt64 as strings.
fn num(v: &Value) -> u64 {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Every stored row equals the raw report's: counts, min, max and sum
/// exactly (durations: ns stored, µs printed), percentiles from the stored
/// histogram equal to the printed ones.
fn assert_rows_equal(
    stored: &BTreeMap<(u64, String, String, String, String), Value>,
    raw: &BTreeMap<(u64, String, String, String, String), Value>,
) {
    assert_eq!(stored.keys().collect::<Vec<_>>(), raw.keys().collect::<Vec<_>>());
    for (key, r) in raw {
        let s = &stored[key];
        assert_eq!(num(&s["transactions"]), r["count"].as_u64().unwrap(), "{key:?}");
        for (metric, m) in r["metrics"].as_object().unwrap() {
            let scale = if num(&s[format!("{metric}_count")]) > 0 && metric_is_duration(metric) { 1000.0 } else { 1.0 };
            assert_eq!(num(&s[format!("{metric}_count")]), m["count"].as_u64().unwrap(), "{key:?} {metric}");
            for stat in ["min", "max", "sum"] {
                let stored = num(&s[format!("{metric}_{stat}")]) as f64 / scale;
                assert!(
                    (stored - m[stat].as_f64().unwrap()).abs() < 0.0011,
                    "{key:?} {metric}_{stat}: {stored} vs {}",
                    m[stat]
                );
            }
            let buckets: Vec<u16> =
                s[format!("{metric}_buckets")].as_array().unwrap().iter().map(|v| num(v) as u16).collect();
            let counts: Vec<u64> = s[format!("{metric}_counts")].as_array().unwrap().iter().map(num).collect();
            let hist = Histogram::from_buckets(buckets.into_iter().zip(counts));
            let (min, max) = (num(&s[format!("{metric}_min")]), num(&s[format!("{metric}_max")]));
            for (q, name) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
                let stored = hist.quantile(q, min, max) as f64 / scale;
                assert!((stored - m[name].as_f64().unwrap()).abs() < 0.0011, "{key:?} {metric} {name}");
            }
        }
    }
}

fn metric_is_duration(name: &str) -> bool {
    pastmon_model::Metric::ALL.iter().any(|m| m.name() == name && m.unit() == pastmon_model::Unit::Nanoseconds)
}

#[test]
fn schema_matches_the_row_encoder_and_migrations_are_idempotent() {
    let ch = ClickHouse::start("schema");
    let config = ch.config("schema_db", "");
    for _ in 0..2 {
        assert_ok(&pastmon(&["schema", "apply", "--config", config.to_str().unwrap()]));
    }
    let status = pastmon(&["schema", "status", "--config", config.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(text.matches("applied").count(), MIGRATIONS.len(), "{text}");
    let applied = ch.query("SELECT count() FROM schema_db.schema_migrations");
    assert_eq!(applied.trim(), MIGRATIONS.len().to_string());
    for (table, want) in [
        ("level1", level1_columns()),
        ("sensors", sensors_columns()),
        ("transactions", transactions_columns()),
        ("backends", backends_columns()),
    ] {
        let got: Vec<(String, String)> = ch
            .query(&format!("DESCRIBE TABLE schema_db.{table}"))
            .lines()
            .map(|l| {
                let mut f = l.split('\t');
                (f.next().unwrap().to_owned(), f.next().unwrap().to_owned())
            })
            .collect();
        let want: Vec<(String, String)> = want.into_iter().map(|(n, t)| (n, t.to_owned())).collect();
        assert_eq!(got, want, "{table}");
    }
    // Every column says what it means (a plain view's columns cannot carry
    // comments: histogram_buckets's are in its SQL file and the README).
    let uncommented = ch.query("SELECT count() FROM system.columns WHERE database = 'schema_db' AND table NOT IN ('schema_migrations', 'histogram_buckets') AND table NOT LIKE '%_mv' AND comment = ''");
    assert_eq!(uncommented.trim(), "0");
    // The bucket bounds SQL reads are the model's, bucket by bucket, with the
    // value the console reports for a percentile in each.
    let got: Vec<(u16, u64, u64, u64)> = ch
        .query("SELECT bucket, lower_bound, upper_bound, middle FROM schema_db.histogram_buckets ORDER BY bucket")
        .lines()
        .map(|l| {
            let f: Vec<u64> = l.split('\t').map(|v| v.parse().unwrap()).collect();
            (f[0] as u16, f[1], f[2], f[3])
        })
        .collect();
    let want: Vec<(u16, u64, u64, u64)> = (0..=bucket(u64::MAX))
        .map(|b| {
            let (lo, hi) = bucket_bounds(b);
            (b, lo, hi, Histogram::from_buckets([(b, 3)]).quantile(0.5, 0, u64::MAX))
        })
        .collect();
    assert_eq!(got, want);
}

/// Flows per minute (Unix seconds) by their first packet: a TCP connection
/// at its SYN (a new initial sequence number on a used 5-tuple is a new
/// one), a UDP conversation at its first datagram.
fn flows_by_minute(pcap: &Path) -> BTreeMap<u64, u64> {
    let mut file = CaptureFile::open(pcap).unwrap();
    let (mut seen, mut out) = (HashSet::new(), BTreeMap::new());
    while let Ok(Next::Frame(f)) = file.next_frame() {
        let Ok(p) = decode(f.link, f.data) else { continue };
        let first = match p.tcp() {
            Some(h) if h.has(flags::SYN) && !h.has(flags::ACK) => seen.insert((FlowKey::of(&p).0, h.seq)),
            Some(_) => false,
            None => seen.insert((FlowKey::of(&p).0, 0)),
        };
        if first {
            *out.entry(f.ts_ns / 1_000_000_000 / 60 * 60).or_default() += 1;
        }
    }
    out
}

/// A spool file as sensors wrote them before parts named their columns
/// (format 1), holding one `sensors` row of that time: no `dropped` column.
fn spool_file_v1(id: u64, packets: u64) -> Vec<u8> {
    let mut row = RowBinary::default();
    let health = SensorInterval { capture: CaptureStats { packets, ..CaptureStats::default() }, ..Default::default() };
    sensors_row(&mut row, "old-sensor", (1_700_000_100, 60), &health, (0, 0), id);
    // `dropped` follows interval_start and interval_seconds (4 bytes each),
    // sensor and version (a length byte each), packets and bytes (8 each).
    let at = 8 + 1 + "old-sensor".len() + 1 + env!("CARGO_PKG_VERSION").len() + 16;
    let mut data = row.0;
    // The tunnel counters (3 × 8 bytes an encapsulation) come before
    // export_lag_seconds, spool_bytes and batch_id (4 + 8 + 8 bytes).
    let tunnels_end = data.len() - 20;
    data.drain(tunnels_end - pastmon_common::Encapsulation::COUNT * 24..tunnels_end);
    data.drain(at..at + 8);
    let mut file = b"PMSPOOL1".to_vec();
    for n in [id, 1_700_000_100] {
        file.extend_from_slice(&n.to_le_bytes());
    }
    file.extend_from_slice(&1u32.to_le_bytes());
    file.extend_from_slice(&7u16.to_le_bytes());
    file.extend_from_slice(b"sensors");
    file.extend_from_slice(&1u64.to_le_bytes());
    file.extend_from_slice(&(data.len() as u64).to_le_bytes());
    file.extend_from_slice(&data);
    let crc = crc32fast::hash(&file);
    file.extend_from_slice(&crc.to_le_bytes());
    file
}

#[test]
fn a_batch_spooled_before_a_column_was_added_still_inserts() {
    let ch = ClickHouse::start("spoolv1");
    let config = ch.config("spoolv1", "");
    let spool = ch.dir.join("spool-spoolv1");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(spool.join(format!("{:020}.batch", 5)), spool_file_v1(5, 4242)).unwrap();
    assert_ok(&run(&config, &common::capture("http_ipv4_and_ipv6"), "10"));
    let row = ch.query("SELECT packets, dropped, batch_id FROM spoolv1.sensors WHERE sensor = 'old-sensor'");
    assert_eq!(row.trim(), "4242\t0\t5");
    assert_eq!(ch.query("SELECT sum(packets) FROM spoolv1.sensors WHERE sensor = 'test-sensor'").trim(), "20");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "the spool is empty");
}

#[test]
fn exported_intervals_equal_the_raw_report_and_rollups_agree() {
    let ch = ClickHouse::start("roundtrip");
    let config = ch.config("roundtrip", "");
    let captures = ["http_browser_espn", "generated_http_python_sleep_curl_dns", "http_ipv4_and_ipv6"];
    let mut raw = BTreeMap::new();
    for name in captures {
        let pcap = common::capture(name);
        assert_ok(&run(&config, &pcap, "10"));
        raw.extend(raw_rows(&pcap));
    }
    let stored = stored_rows(&ch, "roundtrip");
    assert_rows_equal(&stored, &raw);

    // One sensors row per interval with traffic, packets as captured.
    let packets: u64 = ch.query("SELECT sum(packets) FROM roundtrip.sensors").trim().parse().unwrap();
    assert_eq!(packets, 956 + 6832 + 20);

    // Flows count in the interval of their first packet.
    let want = flows_by_minute(&common::capture("generated_http_python_sleep_curl_dns"));
    assert_eq!(want.values().sum::<u64>(), 121);
    let (first, last) = (want.keys().next().unwrap(), want.keys().last().unwrap());
    let stored = ch.query(&format!(
        "SELECT toUInt32(interval_start), sum(flows) FROM roundtrip.sensors \
         WHERE interval_start BETWEEN {first} AND {last} GROUP BY interval_start ORDER BY 1"
    ));
    let want: String = want.iter().map(|(t, n)| format!("{t}\t{n}\n")).collect();
    assert_eq!(stored, want);

    // Rollups: level2_hour, level2_day and signatures_hour (no server)
    // equal level1 summed by hand.
    for (table, bucket, server) in [
        ("level2_hour", "toStartOfHour", "server_ip"),
        ("level2_day", "toStartOfDay", "server_ip"),
        ("signatures_hour", "toStartOfHour", "''"),
    ] {
        let rolled = ch.query(&format!(
            "SELECT toUInt32(interval_start), signature, {server} AS server, sumMerge(transactions), \
             sumMerge(first_response_sum), minMerge(first_response_min), maxMerge(last_response_max), \
             sumMapMerge(first_response_hist), sumMerge(outcome_2xx) \
             FROM roundtrip.{table} GROUP BY interval_start, signature, server ORDER BY 1, 2, 3"
        ));
        let by_hand = ch.query(&format!(
            "SELECT toUInt32({bucket}(interval_start)) AS t, signature, {server} AS server, sum(transactions), \
             sum(first_response_sum), min(first_response_min), max(last_response_max), \
             sumMap(first_response_buckets, first_response_counts), sum(outcome_2xx) \
             FROM roundtrip.level1 GROUP BY t, signature, server ORDER BY 1, 2, 3"
        ));
        assert!(rolled.lines().count() > 3);
        assert_eq!(rolled, by_hand, "{table}");
    }
    // The parts of the time, added to the rollups by a migration, too.
    for (table, bucket) in [("level2_hour", "toStartOfHour"), ("level2_day", "toStartOfDay")] {
        let rolled = ch.query(&format!(
            "SELECT toUInt32(interval_start), signature, server_ip, sumMerge(delivery_sum), \
             sumMerge(server_idle_count), maxMerge(network_transfer_max), sumMapMerge(response_transfer_hist) \
             FROM roundtrip.{table} GROUP BY interval_start, signature, server_ip ORDER BY 1, 2, 3"
        ));
        let by_hand = ch.query(&format!(
            "SELECT toUInt32({bucket}(interval_start)) AS t, signature, server_ip, sum(delivery_sum), \
             sum(server_idle_count), max(network_transfer_max), sumMap(response_transfer_buckets, response_transfer_counts) \
             FROM roundtrip.level1 GROUP BY t, signature, server_ip ORDER BY 1, 2, 3"
        ));
        assert_eq!(rolled, by_hand, "{table}: the parts");
        let delivered: u64 =
            ch.query(&format!("SELECT sumMerge(delivery_sum) FROM roundtrip.{table}")).trim().parse().unwrap();
        assert!(delivered > 0, "{table}: no delivery time rolled up");
    }
}

#[test]
fn an_outage_loses_nothing_and_doubles_nothing() {
    let ch = ClickHouse::start("outage");
    let config = ch.config("outage", "");
    let first = common::capture("http_browser_espn");
    let second = common::capture("http_dns_wikipedia");

    // ClickHouse down: the run ends with its batches in the spool.
    ch.down();
    let out = run(&config, &first, "1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("still in the spool"), "{err}");

    // Back up: the next run replays the spool first, then adds its own.
    ch.up();
    let out = run(&config, &second, "10");
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("replayed from the spool"));
    let mut raw = raw_rows(&first);
    raw.extend(raw_rows(&second));
    assert_rows_equal(&stored_rows(&ch, "outage"), &raw);
    assert_eq!(ch.query("SELECT count() FROM outage.sensors WHERE packets > 0").trim(), "2");
}

#[test]
fn a_batch_inserted_just_before_a_crash_is_not_inserted_again() {
    let ch = ClickHouse::start("crash");
    let config = ch.config("crash", "");
    let spool = ch.dir.join("spool-crash");
    let pcap = common::capture("mixed_tcpreplay_test");

    // Spool the batches without a server, keep a copy of the spool files.
    ch.down();
    assert!(!run(&config, &pcap, "1").status.success());
    let saved = ch.dir.join("saved-spool");
    std::fs::create_dir_all(&saved).unwrap();
    for f in std::fs::read_dir(&spool).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, saved.join(f.file_name().unwrap())).unwrap();
    }
    // Deliver them; then put the files back, as if the sensor had been
    // killed (SIGKILL) after the inserts but before it removed them.
    ch.up();
    assert_ok(&run(&config, &common::capture("latency1_baseline"), "10"));
    for f in std::fs::read_dir(&saved).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, spool.join(f.file_name().unwrap())).unwrap();
    }
    let out = run(&config, &common::capture("latency2_wire"), "10");
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("duplicates skipped"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(" 0 duplicates skipped"));
    let mut raw = raw_rows(&pcap);
    raw.extend(raw_rows(&common::capture("latency1_baseline")));
    raw.extend(raw_rows(&common::capture("latency2_wire")));
    assert_rows_equal(&stored_rows(&ch, "crash"), &raw);
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "spool not emptied");
}

#[test]
fn every_statement_runs_on_modern_clickhouse_too() {
    let ch = ClickHouse::start("compat");
    let config = ch.config("compat", "");
    let log = ch.dir.join("sql.log");
    let logged = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pastmon")).args(args).env("PASTMON_SQL_LOG", &log).output().unwrap()
    };
    let (c, espn, dns) =
        (config.to_str().unwrap(), common::capture("http_browser_espn"), common::capture("dns_udp_v4v6_edns"));
    // Migrations, status, inserts, and (after an outage) the replay checks.
    assert_ok(&logged(&["schema", "status", "--config", c]));
    ch.down();
    logged(&["run", "--config", c, "--pcap", espn.to_str().unwrap(), "--drain-timeout", "1"]);
    ch.up();
    assert_ok(&logged(&["run", "--config", c, "--pcap", dns.to_str().unwrap(), "--drain-timeout", "10"]));
    assert_ok(&logged(&["schema", "status", "--config", c]));
    let text = std::fs::read_to_string(&log).unwrap();
    for kind in
        ["CREATE TABLE", "CREATE MATERIALIZED VIEW", "INSERT INTO compat.level1", "batch_id =", "schema_migrations"]
    {
        assert!(text.contains(kind), "no {kind} statement logged");
    }
    // The README's percentile query and the bucket view give the modern
    // server what they give 18.16 (nanoseconds, to compare exact text).
    let mut checks = String::new();
    for sql in [
        pastmon_testbed::readme::sql("histogram_buckets", "compat", "interval_start >= toDateTime(0)")
            .replace(" / 1e6 AS first_response_ms", " AS first_response_ns"),
        "SELECT * FROM compat.histogram_buckets ORDER BY bucket".to_owned(),
    ] {
        let expect = ch.query(&sql);
        assert!(expect.lines().count() > 10, "{sql}: {expect}");
        checks += &format!("{}\n", serde_json::json!({"sql": sql, "expect": expect}));
    }
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(checks.as_bytes()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/compat/chdb_replay.py");
    let out = Command::new("python3").arg(script).arg(&log).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn retention_drops_whole_old_partitions() {
    let ch = ClickHouse::start("retention");
    let config = ch.config("retention", "");
    assert_ok(&run(&config, &common::capture("http_browser_espn"), "10"));
    assert_ok(&run(&config, &common::capture("smtp_session"), "10"));
    let partitions = |t: &str| {
        ch.query(&format!("SELECT count(DISTINCT partition) FROM system.parts WHERE database = 'retention' AND table = '{t}' AND active"))
    };
    assert!(partitions("level1").trim().parse::<u32>().unwrap() >= 2);
    // The captures are years old: a 30-day level1 retention drops every
    // level1 partition and leaves the other tables alone.
    let strict = ch.dir.join("strict.toml");
    let text = std::fs::read_to_string(&config).unwrap() + "[retention]\nlevel1_days = 30\n";
    std::fs::write(&strict, text).unwrap();
    let out = pastmon(&["schema", "retention", "--config", strict.to_str().unwrap()]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("dropped level1 partition 20100407"));
    assert_eq!(partitions("level1").trim(), "0");
    assert_eq!(ch.query("SELECT count() FROM retention.level1").trim(), "0");
    assert_ne!(ch.query("SELECT count() FROM retention.level2_day").trim(), "0");
    assert_ne!(ch.query("SELECT count() FROM retention.sensors").trim(), "0");
}

#[test]
fn the_password_comes_from_its_file_and_no_output_shows_it() {
    let ch = ClickHouse::start("pwfile");
    let secret = "pastmon-test-secret"; // user `guarded` (local-server.sh)
    let with_password = |name: &str, password: &str| {
        let file = ch.dir.join(format!("{name}.password"));
        std::fs::write(&file, format!("{password}\n")).unwrap();
        let config = ch.dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(ch.config("pwfile", "")).unwrap().replace(
            "[clickhouse]\n",
            &format!("[clickhouse]\nuser = \"guarded\"\npassword_file = \"{}\"\n", file.display()),
        );
        std::fs::write(&config, text).unwrap();
        config
    };
    let out = run(&with_password("right", secret), &common::capture("smtp_session"), "10");
    assert_ok(&out);
    assert_ne!(ch.query("SELECT count() FROM pwfile.level1").trim(), "0");
    // A wrong password: refused by the server, said, the batch spooled; the
    // password read from the file appears in no output.
    let wrong = "not-the-secret-4821";
    let out = run(&with_password("wrong", wrong), &common::capture("smtp_session"), "2");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("guarded"), "the refusal is reported: {text}");
    assert!(!text.contains(wrong) && !text.contains(secret), "{text}");
}

#[test]
fn sampled_transactions_are_stored_one_by_one() {
    let ch = ClickHouse::start("sample");
    let config = ch.config("sample", "transactions_sample = 1.0");
    let pcap = common::capture("http_dns_wikipedia");
    assert_ok(&run(&config, &pcap, "10"));
    let raw = common::analyse(&pcap, 1);
    let mut want: Vec<(u64, String, Option<u64>)> = raw
        .txs
        .iter()
        .map(|t| {
            let first = t["first_response"].as_f64().map(|us| (us * 1000.0).round() as u64);
            (t["start_ns"].as_u64().unwrap(), t["signature"].as_str().unwrap().to_owned(), first)
        })
        .collect();
    let mut got: Vec<(u64, String, Option<u64>)> = ch
        .json_rows("SELECT start_ns, signature, first_response FROM sample.transactions")
        .iter()
        .map(|r| {
            (
                num(&r["start_ns"]),
                r["signature"].as_str().unwrap().to_owned(),
                (!r["first_response"].is_null()).then(|| num(&r["first_response"])),
            )
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), 39);
    assert_eq!(got, want);

    // Half the rate: about half of them.
    let config = ch.config("half", "transactions_sample = 0.5");
    assert_ok(&run(&config, &pcap, "10"));
    let n: u64 = ch.query("SELECT count() FROM half.transactions").trim().parse().unwrap();
    assert!((8..=31).contains(&n), "{n} of 39 sampled");
}

#[test]
fn metrics_show_capture_health_and_the_spool_while_clickhouse_is_down() {
    let ch = ClickHouse::start("metrics");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = ch.config("metrics", "");
    let config = ch.dir.join("metrics-on.toml");
    let text = format!("metrics_listen = \"127.0.0.1:{port}\"\n") + &std::fs::read_to_string(&base).unwrap();
    std::fs::write(&config, text).unwrap();
    ch.down();
    let pcap = common::capture("http_browser_espn");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["run", "--config", config.to_str().unwrap(), "--pcap", pcap.to_str().unwrap(), "--drain-timeout", "5"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    for _ in 0..100 {
        if let Ok(r) = ureq::get(&format!("http://127.0.0.1:{port}/metrics")).call() {
            seen = r.into_string().unwrap();
            if seen.contains("pastmon_spool_batches 1") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.wait();
    for line in [
        "pastmon_packets_total 956",
        "pastmon_spool_batches 1",
        "pastmon_transactions_total 75",
        "pastmon_skipped_frames_total{reason=\"not_ip\"} 0",
    ] {
        assert!(seen.contains(line), "{line} missing from\n{seen}");
    }
    assert!(!seen.contains("pastmon_export_failures_total 0"), "the outage is counted:\n{seen}");
}

#[test]
fn clickhouse_coming_back_while_the_sensor_runs_gets_everything_once() {
    let ch = ClickHouse::start("comeback");
    let config = ch.config("comeback", "");
    let pcap = common::capture("generated_http_python_sleep_curl_dns");
    ch.down();
    let child = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["run", "--config", config.to_str().unwrap(), "--pcap", pcap.to_str().unwrap(), "--drain-timeout", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The sensor has read the file and is retrying with backoff: bring the
    // server back while it waits.
    std::thread::sleep(std::time::Duration::from_secs(3));
    ch.up();
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("retrying"), "the outage was seen");
    assert_rows_equal(&stored_rows(&ch, "comeback"), &raw_rows(&pcap));
    assert_eq!(ch.query("SELECT sum(packets) FROM comeback.sensors").trim(), "6832");
}
