//! The console's API and pages against a real ClickHouse filled by the
//! sensor from a capture file: the numbers shown equal what the sensor's own
//! report (`pastmon raw --format json`) gives for the same file.

mod common;

use common::{fill, frame, get, get_json, raw_by_signature, serve};
use pastmon_testbed::clickhouse::ClickHouse;
use pastmon_web::hash_token;
use serde_json::Value;
use std::collections::BTreeMap;

#[test]
fn the_api_and_pages_show_what_the_sensor_measured() {
    let ch = ClickHouse::start("web");
    let report = fill(&ch, "webtest");
    let base = serve(&ch.url(), "webtest", Vec::new());
    let frame = frame(&report);
    let raw = raw_by_signature(&report);

    // Level 1: every signature, with the raw report's counts and averages.
    let v = get_json(&format!("{base}/api/v1/signatures?{frame}"));
    assert_eq!(v["table"], "level1");
    let shown: BTreeMap<String, &Value> =
        v["signatures"].as_array().unwrap().iter().map(|s| (s["signature"].as_str().unwrap().to_owned(), s)).collect();
    assert_eq!(shown.keys().collect::<Vec<_>>(), raw.keys().collect::<Vec<_>>());
    // Client errors apart from the server's: the raw report's outcomes.
    let mut raw_client_errors: BTreeMap<String, u64> = BTreeMap::new();
    for row in report["intervals"].as_array().unwrap().iter().flat_map(|i| i["rows"].as_array().unwrap()) {
        let n: u64 = ["4xx", "bad", "FORMERR"].iter().filter_map(|o| row["outcomes"][*o].as_u64()).sum();
        *raw_client_errors.entry(row["signature"].as_str().unwrap().to_owned()).or_default() += n;
    }
    for (sig, (count, fr_count, fr_sum)) in &raw {
        let s = shown[sig];
        assert_eq!(s["transactions"].as_u64(), Some(*count), "{sig}");
        assert_eq!(s["client_errors"].as_u64(), raw_client_errors.get(sig).copied(), "{sig}");
        assert_eq!(s["first_response"]["count"].as_u64(), Some(*fr_count), "{sig}");
        if *fr_count > 0 {
            let avg = s["first_response"]["avg"].as_f64().unwrap();
            assert!((avg - fr_sum / *fr_count as f64).abs() < 0.01, "{sig}: {avg} vs {}", fr_sum / *fr_count as f64);
            let (min, p95, max) = (
                s["first_response"]["min"].as_f64().unwrap(),
                s["first_response"]["p95"].as_f64().unwrap(),
                s["first_response"]["max"].as_f64().unwrap(),
            );
            assert!(min <= p95 && p95 <= max, "{sig}: {min} {p95} {max}");
        }
        assert_eq!(s["sparkline"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).sum::<u64>(), *count);
    }
    // The slow side: the raw report's parts summed over the signature's rows.
    let mut raw_parts: BTreeMap<String, BTreeMap<&str, f64>> = BTreeMap::new();
    for row in report["intervals"].as_array().unwrap().iter().flat_map(|i| i["rows"].as_array().unwrap()) {
        let sums = raw_parts.entry(row["signature"].as_str().unwrap().to_owned()).or_default();
        for (part, _) in pastmon_model::diagnosis::PARTS {
            *sums.entry(part.name()).or_default() += row["metrics"][part.name()]["sum"].as_f64().unwrap_or(0.0);
        }
    }
    let mut verdicts = 0;
    for (sig, sums) in &raw_parts {
        let want = pastmon_model::diagnosis::Shares::from_sums(|m| (sums[m.name()] * 1000.0).round() as u64);
        let s = shown[sig];
        assert_eq!(s["verdict"].as_str(), want.map(|w| w.verdict().name()), "{sig}");
        if let Some(w) = want {
            verdicts += 1;
            for (side, v) in [("server", w.server), ("network", w.network), ("client", w.client)] {
                assert!((s["shares"][side].as_f64().unwrap() - v).abs() < 1e-9, "{sig} {side}: {}", s["shares"]);
            }
        }
    }
    assert!(verdicts >= 3, "{raw_parts:?}");
    assert_eq!(shown["GET_sleep"]["verdict"], "server", "{}", shown["GET_sleep"]);
    // The worst across plugins: the slowest by p95 of the last response,
    // those with server errors by their share; nothing ran before the
    // capture, so nothing is slower than before.
    let mut by_p95: Vec<(f64, &str)> =
        shown.iter().filter_map(|(sig, s)| Some((s["last_response"]["p95"].as_f64()?, sig.as_str()))).collect();
    by_p95.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let slowest: Vec<&str> =
        v["worst"]["slowest"].as_array().unwrap().iter().map(|r| r["signature"].as_str().unwrap()).collect();
    let want: Vec<&str> = by_p95.iter().take(5).map(|(_, sig)| *sig).collect();
    assert_eq!(slowest, want);
    let errors = v["worst"]["most_errors"].as_array().unwrap();
    let with_errors = shown.values().filter(|s| s["errors"].as_u64() > Some(0)).count();
    assert_eq!(errors.len(), with_errors.min(5));
    for pair in errors.windows(2) {
        assert!(pair[0]["value"].as_f64() >= pair[1]["value"].as_f64(), "{errors:?}");
    }
    for e in errors {
        assert_eq!(e["value"], shown[e["signature"].as_str().unwrap()]["error_share"], "{e}");
    }
    assert_eq!(v["worst"]["slower_than_before"].as_array().unwrap().len(), 0);
    // Split in two, the second half against the first: each signature's
    // growth is its p95 now over its p95 then, as the two halves show them.
    let (from, to) = (frame_bound(&frame, "from"), frame_bound(&frame, "to"));
    let mid = from + (to - from) / 2 / 60 * 60;
    let (then, now) = (mid - (to - mid), to);
    let p95s = |from: u64, to: u64| -> BTreeMap<String, f64> {
        get_json(&format!("{base}/api/v1/signatures?from={from}&to={to}"))["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| Some((s["signature"].as_str()?.to_owned(), s["last_response"]["p95"].as_f64()?)))
            .collect()
    };
    let (before, after) = (p95s(then, mid), p95s(mid, now));
    let halves = get_json(&format!("{base}/api/v1/signatures?from={mid}&to={now}"));
    let mut want: Vec<(f64, String)> = after
        .iter()
        .filter_map(|(sig, p)| before.get(sig).filter(|b| **b > 0.0 && p > *b).map(|b| (p / b, sig.clone())))
        .collect();
    want.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    want.truncate(5);
    let got: Vec<(f64, String)> = halves["worst"]["slower_than_before"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["value"].as_f64().unwrap(), r["signature"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for ((g, gs), (w, ws)) in got.iter().zip(&want) {
        assert_eq!(gs, ws);
        assert!((g - w).abs() < 1e-9, "{gs}: {g} vs {w}");
    }

    // A day around it reads the hourly totals per signature: the same
    // counts, sums and merged histograms, so the same statistics.
    let first = report["capture"]["first_ns"].as_u64().unwrap() / 1_000_000_000;
    let day = format!("from={}&to={}", first - 43_200, first + 43_200);
    let wide = get_json(&format!("{base}/api/v1/signatures?{day}"));
    assert_eq!(wide["table"], "signatures_hour");
    let wide: BTreeMap<String, &Value> = wide["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["signature"].as_str().unwrap().to_owned(), s))
        .collect();
    assert_eq!(wide.len(), shown.len());
    for (sig, s) in &shown {
        for key in ["transactions", "errors", "client_errors"] {
            assert_eq!(wide[sig][key], s[key], "{sig} {key}");
        }
        assert_eq!(wide[sig]["first_response"], s["first_response"], "{sig}");
        assert_eq!(wide[sig]["verdict"], s["verdict"], "{sig}");
        assert_eq!(wide[sig]["last_response"], s["last_response"], "{sig}");
    }

    // A time frame without data says where the data is, and links to it.
    let week_before = format!("from={}&to={}", first - 8 * 86_400, first - 7 * 86_400);
    let empty = get_json(&format!("{base}/api/v1/signatures?{week_before}"));
    assert_eq!(empty["signatures"].as_array().unwrap().len(), 0);
    let span = ch.query("SELECT toUInt32(min(interval_start)), toUInt32(max(interval_start)) FROM webtest.sensors");
    let (from, to) = span.trim().split_once('\t').unwrap();
    assert_eq!(empty["data_span"]["from"].to_string(), from);
    assert_eq!(empty["data_span"]["to"].to_string(), to);
    let (_, html) = get(&format!("{base}/?{week_before}"));
    assert!(html.contains("The sensors wrote intervals from") && html.contains("the last day of it"), "{html}");
    assert!(v["data_span"].is_null(), "a frame with data needs no hint");

    // Drill-down: the servers of a signature add up to it, from level1 and
    // from the hourly rollup.
    let sig = "GET_sleep";
    let d = get_json(&format!("{base}/api/v1/drill?{frame}&signature={sig}&by=server"));
    let total: u64 = d["rows"].as_array().unwrap().iter().map(|r| r["transactions"].as_u64().unwrap()).sum();
    assert_eq!(total, raw[sig].0);
    let d = get_json(&format!("{base}/api/v1/drill?{day}&signature={sig}&by=server"));
    assert_eq!(d["table"], "level2_hour");
    let total: u64 = d["rows"].as_array().unwrap().iter().map(|r| r["transactions"].as_u64().unwrap()).sum();
    assert_eq!(total, raw[sig].0);
    let clients = get_json(&format!("{base}/api/v1/drill?{frame}&signature={sig}&by=client&order=slow"));
    assert!(!clients["rows"].as_array().unwrap().is_empty());
    assert_eq!(d["backends"].as_array().unwrap().len(), 0, "the capture has no server calling another");

    // Backends: calls paired by the sensor (here written by hand: half of
    // each row's server time in one call to a database, a tenth in two DNS
    // lookups) are listed by their share of the signature's server time.
    for (plugin, signature, ip, port, calls, part) in
        [("postgresql", "SELECT", "10.9.9.9", 5432, 1, 2), ("dns", "DNS_A", "10.9.9.10", 53, 2, 10)]
    {
        ch.query(&format!(
            "INSERT INTO webtest.backends SELECT interval_start, any(interval_seconds), sensor, plugin, signature, \
             server_ip, server_port, '{plugin}', '{signature}', '{ip}', {port}, toFloat64({calls} * sum(transactions)), \
             intDiv(sum(server_time_sum), {part}), 0 FROM webtest.level1 WHERE signature = '{sig}' \
             GROUP BY interval_start, sensor, plugin, signature, server_ip, server_port"
        ));
    }
    let d = get_json(&format!("{base}/api/v1/drill?{frame}&signature={sig}&by=server"));
    let backends = d["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 2, "{backends:?}");
    for (b, (name, server, share, calls)) in
        backends.iter().zip([("SELECT", "10.9.9.9:5432", 0.5, 1.0), ("DNS_A", "10.9.9.10:53", 0.1, 2.0)])
    {
        assert_eq!((b["signature"].as_str(), b["server"].as_str()), (Some(name), Some(server)), "{b}");
        assert!((b["share"].as_f64().unwrap() - share).abs() < 1e-6, "{b}");
        assert!((b["calls_per_transaction"].as_f64().unwrap() - calls).abs() < 1e-9, "{b}");
    }
    let (_, html) = get(&format!("{base}/drill?{frame}&signature={sig}&by=server"));
    assert!(
        html.contains(&format!("{sig} spends 50 % of its server time waiting on postgresql SELECT at 10.9.9.9:5432.")),
        "{html}"
    );
    assert!(html.contains("signature=DNS_A"), "each backend links to its own page");
    let clients = get_json(&format!("{base}/api/v1/drill?{frame}&signature={sig}&by=client"));
    assert_eq!(clients["backends"].as_array().unwrap().len(), 0);

    // Graph: counts per minute add up; the histogram holds every value.
    let g = get_json(&format!("{base}/api/v1/graph?{frame}&series={sig}&metric=first_response&stat=count&step=60"));
    let points = g["series"][0]["points"].as_array().unwrap();
    let counted: f64 = points.iter().filter_map(|p| p["v"].as_f64()).sum();
    assert_eq!(counted as u64, raw[sig].1);
    let in_buckets: u64 =
        g["histogram"]["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(in_buckets, raw[sig].1);
    let (_, csv) = get(&format!("{base}/api/v1/graph?{frame}&series={sig}&stat=count&step=60&format=csv"));
    assert!(csv.starts_with("series,time,value\n"), "{csv}");
    assert_eq!(csv.lines().count(), points.len() + 1);
    let (_, hist_csv) = get(&format!("{base}/api/v1/graph?{frame}&series={sig}&format=csv&part=histogram"));
    assert!(hist_csv.starts_with("lo,hi,count\n"), "{hist_csv}");

    // The pages draw the same: a row per signature, a circle per point.
    let (status, html) = get(&format!("{base}/?{frame}"));
    assert_eq!(status, 200);
    for sig in raw.keys() {
        assert!(html.contains(&format!(">{sig}</a>")), "{sig} missing on the Level 1 page");
    }
    let (_, html) = get(&format!("{base}/graph?{frame}&series={sig}&stat=count&step=60"));
    let with_values = points.iter().filter(|p| !p["v"].is_null()).count();
    assert_eq!(html.matches("class=\"pt\"").count(), with_values);
    assert!(html.matches("class=\"bar\"").count() > 0);
    let (status, html) = get(&format!("{base}/sensors?{frame}"));
    assert_eq!(status, 200);
    assert!(html.contains("test-sensor"), "{html}");
    // Capture health as the raw report counted it; a file drops nothing.
    let sensors = get_json(&format!("{base}/api/v1/sensors?{frame}"));
    let row = &sensors["sensors"][0];
    assert_eq!(row["sensor"], "test-sensor", "{sensors}");
    assert_eq!(row["packets"], report["capture"]["packets"], "{sensors}");
    assert_eq!((&row["dropped"], &report["capture"]["dropped"]), (&0.into(), &0.into()), "{sensors}");
}

/// At the sensor's default interval of 300 s, a chart of level1 steps by
/// 300 s: continuous traffic leaves no point empty, and the points equal
/// the raw report's rows.
#[test]
fn charts_of_five_minute_rows_step_by_five_minutes() {
    let ch = ClickHouse::start("web300");
    let report = common::fill_with_interval(&ch, "web300", 300);
    let base = serve(&ch.url(), "web300", Vec::new());
    let first = report["capture"]["first_ns"].as_u64().unwrap() / 1_000_000_000 / 300 * 300;
    let last = report["capture"]["last_ns"].as_u64().unwrap() / 1_000_000_000 / 300 * 300 + 300;
    let v = get_json(&format!("{base}/api/v1/graph?from={first}&to={last}&metric=first_response&stat=count"));
    assert_eq!(v["step"], 300, "{v}");
    let points = v["series"][0]["points"].as_array().unwrap();
    assert_eq!(points.len() as u64, (last - first) / 300, "{v}");
    let counts: Vec<u64> = points.iter().map(|p| p["v"].as_f64().unwrap_or(0.0) as u64).collect();
    assert!(counts.iter().all(|n| *n > 0), "no empty point on continuous traffic: {counts:?}");
    let raw: Vec<u64> = report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["metrics"]["first_response"]["count"].as_u64().unwrap_or(0))
                .sum()
        })
        .collect();
    assert_eq!(counts, raw, "each point is its interval of the raw report");
}

#[test]
fn hostile_input_is_refused_or_harmless_and_errors_are_one_line() {
    let ch = ClickHouse::start("webhostile");
    let report = fill(&ch, "webhostile");
    let base = serve(&ch.url(), "webhostile", Vec::new());
    let frame = frame(&report);
    // Quoted: a signature that tries to end the string matches nothing.
    let v = get_json(&format!("{base}/api/v1/signatures?{frame}&signature=x%27%20OR%201%3D1%20--%20%5C"));
    assert_eq!(v["signatures"].as_array().unwrap().len(), 0);
    // Closed sets and bounds: clear 400s.
    for (endpoint, q) in [
        ("graph", "metric=first_response%29%3B%20DROP"),
        ("graph", "stat=p42"),
        ("signatures", "last=2h"),
        ("signatures", "server=1.2.3.4%27"),
        ("drill", "limit=0"),
        ("drill", "by=everyone"),
        ("graph", "from=9&to=3"),
    ] {
        let (status, body) = get(&format!("{base}/api/v1/{endpoint}?{q}"));
        assert_eq!(status, 400, "{q}: {body}");
        let e: Value = serde_json::from_str(&body).unwrap();
        assert!(!e["error"].as_str().unwrap().is_empty());
    }
    let (status, html) = get(&format!("{base}/graph?stat=%3Cscript%3E"));
    assert_eq!(status, 400);
    assert!(!html.contains("<script>alert") && html.contains("&lt;script&gt;"), "{html}");
    // The database still holds its tables.
    assert_eq!(ch.query("EXISTS TABLE webhostile.level1").trim(), "1");
    // ClickHouse gone: a short generic message, not a dump (the detail is
    // logged; tests/attack.rs checks what the log and the answers hold).
    ch.down();
    let (status, body) = get(&format!("{base}/api/v1/signatures?{frame}"));
    assert_eq!(status, 502, "{body}");
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["error"], "the database did not answer; the console's log says why");
}

#[test]
fn tokens_guard_every_page_and_api() {
    let ch = ClickHouse::start("webauth");
    let token = "s3cret-token";
    let base = serve(&ch.url(), "webauth", vec![hash_token(token)]);
    let (status, _) = get(&format!("{base}/api/v1/sensors"));
    assert_eq!(status, 401);
    let (status, _) = get(&format!("{base}/"));
    assert_eq!(status, 401);
    let ok = ureq::get(&format!("{base}/api/v1/openapi.json")).set("Authorization", &format!("Bearer {token}")).call();
    assert_eq!(ok.unwrap().status(), 200);
    // HTTP Basic with the token as password (what a browser sends): "u:s3cret-token".
    let basic =
        ureq::get(&format!("{base}/api/v1/openapi.json")).set("Authorization", "Basic dTpzM2NyZXQtdG9rZW4=").call();
    assert_eq!(basic.unwrap().status(), 200);
    let wrong = ureq::get(&format!("{base}/")).set("Authorization", "Bearer nope").call();
    assert!(matches!(wrong, Err(ureq::Error::Status(401, _))));
}

/// `from` or `to` of a `from=…&to=…` frame.
fn frame_bound(frame: &str, name: &str) -> u64 {
    frame.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().parse().unwrap()
}

/// The README's SQL for percentiles (the block that reads
/// `histogram_buckets`), run as it stands on the test's database and range,
/// gives the console's p50, p95 and p99 of every signature.
#[test]
fn the_readme_percentile_sql_gives_the_consoles_percentiles() {
    let ch = ClickHouse::start("websql");
    let report = fill(&ch, "websql");
    let base = serve(&ch.url(), "websql", Vec::new());
    let frame = frame(&report);
    let range: Vec<u64> = frame.split('&').map(|kv| kv.split_once('=').unwrap().1.parse().unwrap()).collect();
    let range = format!("interval_start >= toDateTime({}) AND interval_start < toDateTime({})", range[0], range[1]);
    let rows = ch.json_rows(&pastmon_testbed::readme::sql("histogram_buckets", "websql", &range));
    let v = get_json(&format!("{base}/api/v1/signatures?{frame}"));
    let mut compared = 0;
    for s in v["signatures"].as_array().unwrap() {
        let signature = s["signature"].as_str().unwrap();
        for (q, stat) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
            let Some(console_us) = s["first_response"][stat].as_f64() else { continue };
            let row = rows
                .iter()
                .find(|r| r["signature"] == signature && r["q"].as_f64() == Some(q))
                .unwrap_or_else(|| panic!("{signature} {stat}: not in {rows:?}"));
            let sql_us = row["first_response_ms"].as_f64().unwrap() * 1e3;
            assert!((sql_us - console_us).abs() < 1e-6, "{signature} {stat}: SQL {sql_us} µs, console {console_us}");
            compared += 1;
        }
    }
    assert!(compared >= 9, "only {compared} percentiles compared");
}
