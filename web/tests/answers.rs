//! The views that answer "why is it slow" against a real ClickHouse filled
//! by the sensor from a capture, at the sensor's default interval of 300 s
//! and at 60 s: a signature's parts over time, its outcomes, its backends
//! and their correlation, the dependency edges, the heatmap, a comparison
//! of two ranges and the sensors' health over time. Every number is held
//! against the sensor's own report (`pastmon raw --format json`) for the
//! same capture, or against rows the test wrote itself.

mod common;

use common::{fill_with_interval, get, get_json, serve};
use pastmon_model::diagnosis::PARTS;
use pastmon_testbed::clickhouse::ClickHouse;
use serde_json::Value;
use std::collections::BTreeMap;

/// The raw report's rows of one signature, by interval start (seconds).
fn raw_rows<'a>(report: &'a Value, sig: &str) -> BTreeMap<u64, Vec<&'a Value>> {
    let mut out: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for interval in report["intervals"].as_array().unwrap() {
        let start = interval["start"].as_u64().unwrap();
        for row in interval["rows"].as_array().unwrap() {
            if row["signature"] == sig {
                out.entry(start).or_default().push(row);
            }
        }
    }
    out
}

/// The capture's frame in whole intervals.
fn frame(report: &Value, interval: u64) -> (u64, u64) {
    let first = report["capture"]["first_ns"].as_u64().unwrap() / 1_000_000_000 / interval * interval;
    let last = report["capture"]["last_ns"].as_u64().unwrap() / 1_000_000_000 / interval * interval + interval;
    (first, last)
}

/// A signature's page, the heatmap and the sensors' health at `interval`
/// seconds: every point is its interval of the raw report, none missing.
fn charts_equal_the_report(interval: u64) {
    let db = format!("answers{interval}");
    let ch = ClickHouse::start(&db);
    let report = fill_with_interval(&ch, &db, interval);
    let base = serve(&ch.url(), &db, Vec::new());
    let (from, to) = frame(&report, interval);
    let sig = "GET_sleep";
    let rows = raw_rows(&report, sig);
    assert!(!rows.is_empty(), "{sig} in the capture");

    // The parts stacked over time: each point the interval's part sum over
    // its count, in microseconds, as the report has them.
    let v = get_json(&format!("{base}/api/v1/signature?from={from}&to={to}&plugin=http&signature={sig}"));
    assert_eq!(v["step"], interval, "{v}");
    assert_eq!(v["verdict"], "server", "{v}");
    let series = v["parts_series"].as_array().unwrap();
    assert_eq!(series.len(), PARTS.len());
    for (s, (part, _)) in series.iter().zip(PARTS) {
        assert_eq!(s["name"], part.name());
        let points: BTreeMap<u64, Option<f64>> =
            s["points"].as_array().unwrap().iter().map(|p| (p["t"].as_u64().unwrap(), p["v"].as_f64())).collect();
        for (start, rs) in &rows {
            let (sum, count) = rs.iter().fold((0.0, 0), |(s, c), r| {
                let m = &r["metrics"][part.name()];
                (s + m["sum"].as_f64().unwrap_or(0.0), c + m["count"].as_u64().unwrap_or(0))
            });
            let got = points.get(start).copied().flatten();
            if count == 0 {
                assert_eq!(got, None, "{} at {start}", part.name());
            } else {
                let want = sum / count as f64;
                let got = got.unwrap_or_else(|| panic!("{} at {start}: no point", part.name()));
                assert!((got - want).abs() < 0.01, "{} at {start}: {got} vs {want}", part.name());
            }
        }
    }
    // Its outcomes, as the report counted them.
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows.values().flatten() {
        for (label, n) in r["outcomes"].as_object().unwrap() {
            *want.entry(label.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    let got: BTreeMap<String, u64> = v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o[0].as_str().unwrap().to_owned(), o[1].as_u64().unwrap()))
        .collect();
    assert_eq!(got, want);
    let (status, html) = get(&format!("{base}/signature?from={from}&to={to}&plugin=http&signature={sig}"));
    assert_eq!(status, 200);
    assert!(html.contains(&format!("{sig} is slow on the server side")), "{html}");
    assert!(html.contains("class=\"crumbs\"") && html.contains(">Level 1</a>"), "breadcrumbs");

    // The heatmap: a column per interval with values, each holding the
    // interval's first responses.
    let h = get_json(&format!("{base}/api/v1/heatmap?from={from}&to={to}&signature={sig}&metric=first_response"));
    assert_eq!(h["step"], interval);
    let columns: BTreeMap<u64, u64> = h["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let n = c["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
            (c["t"].as_u64().unwrap(), n)
        })
        .collect();
    let want: BTreeMap<u64, u64> = rows
        .iter()
        .map(|(t, rs)| (*t, rs.iter().map(|r| r["metrics"]["first_response"]["count"].as_u64().unwrap_or(0)).sum()))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(columns, want);
    let (_, html) = get(&format!("{base}/heatmap?from={from}&to={to}&signature={sig}&metric=first_response"));
    // Its cells hold every value once (fine buckets merged into bands).
    let drawn: u64 =
        html.split("data-n=\"").skip(1).map(|s| s.split('"').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(drawn, columns.values().sum::<u64>());

    // A rate does not depend on the step: transactions per second.
    let g = get_json(&format!("{base}/api/v1/graph?from={from}&to={to}&series={sig}&stat=rate"));
    assert_eq!((&g["unit"], &g["step"]), (&Value::from("per_second"), &Value::from(interval)), "{g}");
    for p in g["series"][0]["points"].as_array().unwrap() {
        let t = p["t"].as_u64().unwrap();
        let count: u64 = rows
            .get(&t)
            .map_or(0, |rs| rs.iter().map(|r| r["metrics"]["first_response"]["count"].as_u64().unwrap_or(0)).sum());
        let got = p["v"].as_f64().unwrap_or(0.0);
        assert!((got - count as f64 / interval as f64).abs() < 1e-9, "{t}: {got} vs {count}/{interval}");
    }

    // The sensors' health per step adds up to the capture's packets; a
    // file loses nothing, so no time is shaded.
    let s = get_json(&format!("{base}/api/v1/sensors?from={from}&to={to}"));
    let packets: u64 = s["health"].as_array().unwrap().iter().map(|h| h["packets"].as_u64().unwrap()).sum();
    assert_eq!(packets, report["capture"]["packets"].as_u64().unwrap());
    assert_eq!(s["losses"].as_array().unwrap().len(), 0);
    // An interval where frames were lost is shaded on every graph.
    ch.query(&format!(
        "INSERT INTO {db}.sensors (sensor, interval_start, interval_seconds, dropped) VALUES ('lossy', {from}, {interval}, 7)"
    ));
    let g = get_json(&format!("{base}/api/v1/graph?from={from}&to={to}&series={sig}"));
    assert_eq!(g["losses"], serde_json::json!([{ "from": from, "to": from + interval }]), "{g}");
    let (_, html) = get(&format!("{base}/signature?from={from}&to={to}&plugin=http&signature={sig}"));
    assert!(html.contains("class=\"loss\""), "the loss is shaded");
}

#[test]
fn at_five_minute_intervals_every_chart_is_the_report() {
    charts_equal_the_report(300);
}

#[test]
fn at_one_minute_intervals_every_chart_is_the_report() {
    charts_equal_the_report(60);
}

/// Backends written by hand (as the sensor pairs them): a database call
/// taking half of the front's server time and two lookups at the capture's
/// own DNS server taking a tenth; the signature page, the dependency view
/// and the comparison show them with their numbers.
#[test]
fn backends_dependencies_and_comparisons() {
    let ch = ClickHouse::start("answersdeps");
    let db = "answersdeps";
    let report = fill_with_interval(&ch, db, 60);
    let base = serve(&ch.url(), db, Vec::new());
    let (from, to) = frame(&report, 60);
    let sig = "GET_sleep";
    let dns = ch.query(&format!(
        "SELECT plugin, signature, server_ip, server_port, sum(transactions), sum(outcome_servfail) + \
         sum(outcome_reset) + sum(outcome_no_response) + sum(outcome_incomplete) FROM {db}.level1 \
         WHERE plugin = 'dns' GROUP BY plugin, signature, server_ip, server_port ORDER BY sum(transactions) DESC LIMIT 1"
    ));
    let dns: Vec<&str> = dns.trim().split('\t').collect();
    let [dns_plugin, dns_sig, dns_ip, dns_port, dns_n, dns_errors] = dns[..] else {
        panic!("no DNS in the capture: {dns:?}")
    };
    for (plugin, signature, ip, port, calls, part) in
        [("postgresql", "SELECT", "10.9.9.9", "5432", 1, 2), (dns_plugin, dns_sig, dns_ip, dns_port, 2, 10)]
    {
        ch.query(&format!(
            "INSERT INTO {db}.backends SELECT interval_start, any(interval_seconds), sensor, plugin, signature, \
             server_ip, server_port, '{plugin}', '{signature}', '{ip}', {port}, toFloat64({calls} * sum(transactions)), \
             intDiv(sum(server_time_sum), {part}), 0 FROM {db}.level1 WHERE signature = '{sig}' \
             GROUP BY interval_start, sensor, plugin, signature, server_ip, server_port"
        ));
    }
    let front = ch.query(&format!(
        "SELECT concat(server_ip, ':', toString(server_port)), count() FROM {db}.level1 WHERE signature = '{sig}' \
         GROUP BY server_ip, server_port"
    ));
    let (front_server, _) = front.trim().split_once('\t').unwrap();

    // The signature page: backends by share, correlated with the front's
    // server time (proportional by construction), drawn beside it.
    let v = get_json(&format!("{base}/api/v1/signature?from={from}&to={to}&plugin=http&signature={sig}"));
    let backends = v["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 2, "{v}");
    assert_eq!(backends[0]["signature"], "SELECT");
    assert!((backends[0]["share"].as_f64().unwrap() - 0.5).abs() < 1e-3, "{}", backends[0]);
    assert!((backends[1]["share"].as_f64().unwrap() - 0.1).abs() < 1e-3, "{}", backends[1]);
    let steps = ch.query(&format!("SELECT uniqExact(interval_start) FROM {db}.level1 WHERE signature = '{sig}'"));
    for b in backends {
        match steps.trim().parse::<u64>().unwrap() {
            n if n >= 3 => assert!(b["correlation"].as_f64().unwrap() > 0.99, "{b}"),
            _ => assert!(b["correlation"].is_null(), "{b}"),
        }
    }
    let beside: Vec<&str> =
        v["beside_backends"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(beside, [sig.to_owned(), "SELECT@10.9.9.9:5432".into(), format!("{dns_sig}@{dns_ip}:{dns_port}")]);
    let (_, html) = get(&format!("{base}/signature?from={from}&to={to}&plugin=http&signature={sig}"));
    assert!(html.contains("Its server waits on postgresql SELECT at 10.9.9.9:5432 for 50 % of its time."), "{html}");

    // Dependencies: the front server calls both; the DNS server is called
    // by it, with the DNS signature's own error share; each end a link.
    let d = get_json(&format!("{base}/api/v1/dependencies?from={from}&to={to}&server={front_server}"));
    let callees = d["callees"].as_array().unwrap();
    assert_eq!(callees.len(), 2, "{d}");
    let transactions: f64 = ch
        .query(&format!("SELECT sum(transactions) FROM {db}.level1 WHERE signature = '{sig}'"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(callees[0]["backend"]["server"], "10.9.9.9:5432");
    assert!((callees[0]["calls"].as_f64().unwrap() - transactions).abs() < 1e-6, "{}", callees[0]);
    assert!(callees[0]["error_share"].is_null(), "nothing answered at 10.9.9.9 in level1");
    let (n, errors): (f64, f64) = (dns_n.parse().unwrap(), dns_errors.parse().unwrap());
    assert!((callees[1]["error_share"].as_f64().unwrap() - errors / n).abs() < 1e-9, "{}", callees[1]);
    assert!((callees[1]["calls"].as_f64().unwrap() - 2.0 * transactions).abs() < 1e-6, "{}", callees[1]);
    let c = get_json(&format!("{base}/api/v1/dependencies?from={from}&to={to}&server={dns_ip}"));
    let callers = c["callers"].as_array().unwrap();
    assert_eq!(callers.len(), 1, "{c}");
    assert_eq!(callers[0]["front"]["signature"], sig);
    assert_eq!(callers[0]["front"]["server"], front_server);
    let all = get_json(&format!("{base}/api/v1/dependencies?from={from}&to={to}"));
    assert_eq!(all["edges"].as_array().unwrap().len(), 2);
    let (_, html) = get(&format!("{base}/dependencies?from={from}&to={to}&server={front_server}"));
    assert!(html.contains("Whom it calls") && html.contains("server=10.9.9.9%3A5432"), "{html}");

    // A comparison of the capture's halves: each side's p95 as the Level 1
    // view of that half gives it, the change their ratio, most grown first.
    let mid = from + (to - from) / 2 / 60 * 60;
    let p95s = |from: u64, to: u64| -> BTreeMap<String, (f64, u64)> {
        get_json(&format!("{base}/api/v1/signatures?from={from}&to={to}"))["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| {
                let p95 = s["last_response"]["p95"].as_f64()?;
                Some((s["signature"].as_str()?.to_owned(), (p95, s["transactions"].as_u64()?)))
            })
            .collect()
    };
    let (before, after) = (p95s(from, mid), p95s(mid, to));
    let q = format!("from={mid}&to={to}&before_from={from}&before_to={mid}&metric=last_response");
    let cmp = get_json(&format!("{base}/api/v1/compare?{q}"));
    assert_eq!(cmp["before"], serde_json::json!({ "from": from, "to": mid }));
    let rows = cmp["rows"].as_array().unwrap();
    let mut checked = 0;
    for r in rows {
        let name = r["signature"].as_str().unwrap();
        if let (Some(b), Some(a)) = (before.get(name), after.get(name)) {
            assert_eq!(r["before"]["p95"].as_f64(), Some(b.0), "{name}");
            assert_eq!(r["after"]["p95"].as_f64(), Some(a.0), "{name}");
            assert_eq!(r["after_transactions"].as_u64(), Some(a.1), "{name}");
            if b.0 > 0.0 {
                assert!((r["p95_change"].as_f64().unwrap() - a.0 / b.0).abs() < 1e-9, "{name}");
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "{cmp}");
    let changes: Vec<f64> = rows.iter().map(|r| r["p95_change"].as_f64().unwrap_or(f64::NEG_INFINITY)).collect();
    assert!(changes.windows(2).all(|w| w[0] >= w[1]), "sorted by change: {changes:?}");
    // One signature: both histograms, each with its half's values.
    let one = get_json(&format!("{base}/api/v1/compare?{q}&signature={sig}"));
    let counts: Vec<u64> = one["histograms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum())
        .collect();
    let responses = |from: u64, to: u64| -> u64 {
        get_json(&format!("{base}/api/v1/signatures?from={from}&to={to}&signature={sig}"))["signatures"][0]
            ["last_response"]["count"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(counts, [responses(from, mid), responses(mid, to)]);
    let (_, html) = get(&format!("{base}/compare?{q}&signature={sig}"));
    assert!(html.contains("class=\"histogram\"") && html.contains(">before<") && html.contains(">after<"), "{html}");

    // Several metrics of one unit drawn together; of two units refused.
    let g = get_json(&format!(
        "{base}/api/v1/graph?from={from}&to={to}&series={sig}&metric=server_time&metric=network_rtt"
    ));
    assert_eq!(g["series"].as_array().unwrap().len(), 2, "{g}");
    let (status, body) =
        get(&format!("{base}/api/v1/graph?from={from}&to={to}&metric=server_time&metric=server_bytes"));
    assert_eq!(status, 400, "{body}");
    // An error keeps the navigation and the form.
    let (status, html) = get(&format!("{base}/graph?from={from}&to={to}&metric=server_time&metric=server_bytes"));
    assert_eq!(status, 400);
    assert!(html.contains("<nav>") && html.contains("form class=\"range\""), "{html}");
}
