//! Raw-mode output: the text report, the JSON report and JSON-lines
//! transactions. Durations are microseconds in JSON, milliseconds in text.

use crate::aggregate::{client_text, ClientKey, Row, Stat};
use crate::backends::{Endpoint, Paired};
use crate::decode::{addr_to_ip, Addr};
use crate::records::Results;
use crate::transaction::{Metric, Unit};
use pastmon_common::{Encapsulation, SkipReason};
use pastmon_model::diagnosis::{correlation, Shares, PARTS};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// Backends the text report names under a signature.
const TOP_BACKENDS: usize = 3;

/// Quantiles reported beside min, max and avg.
const QUANTILES: [(&str, f64); 3] = [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)];

pub fn endpoint(addr: Addr, port: u16) -> String {
    std::net::SocketAddr::new(addr_to_ip(addr), port).to_string()
}

fn client_json(c: ClientKey) -> Value {
    match c {
        None => Value::Null,
        some => json!(client_text(some)),
    }
}

/// A metric value for JSON: microseconds for durations, else as is.
fn json_value(m: Metric, v: f64) -> Value {
    match m.unit() {
        // Nanosecond resolution, in microseconds.
        Unit::Nanoseconds => json!(v.round() / 1000.0),
        _ => json!(v),
    }
}

fn stat_json(m: Metric, s: &Stat) -> Value {
    let mut o = Map::new();
    o.insert("count".into(), json!(s.count));
    o.insert("min".into(), json_value(m, s.min as f64));
    o.insert("max".into(), json_value(m, s.max as f64));
    o.insert("sum".into(), json_value(m, s.sum as f64));
    o.insert("avg".into(), json_value(m, s.avg()));
    for (name, q) in QUANTILES {
        o.insert(name.into(), json_value(m, s.quantile(q) as f64));
    }
    Value::Object(o)
}

fn row_metrics_json(row: &Row) -> Value {
    let mut metrics = Map::new();
    for m in Metric::ALL {
        let s = &row.metrics[m as usize];
        if s.count > 0 {
            metrics.insert(m.name().into(), stat_json(m, s));
        }
    }
    Value::Object(metrics)
}

fn capture_json(r: &Results) -> Value {
    let skipped: Map<String, Value> = SkipReason::ALL
        .iter()
        .map(|reason| (reason.name().to_owned(), json!(r.capture.skipped[*reason as usize])))
        .collect();
    let tunnels: Map<String, Value> =
        Encapsulation::ALL.iter().map(|e| (e.name().to_owned(), json!(r.capture.tunnels[*e as usize]))).collect();
    json!({
        "packets": r.capture.packets,
        "bytes": r.capture.bytes,
        "first_ns": r.capture.first_ns,
        "last_ns": r.capture.last_ns,
        "skipped": skipped,
        "first_fragments": r.capture.first_fragments,
        "tunnels": tunnels,
        "dropped": r.capture.dropped,
        "stamps_ahead": r.capture.stamps_ahead,
        "stamps_behind": r.capture.stamps_behind,
        "flows": r.flows,
        "transactions": r.aggregates.transactions,
        "signatures": signature_totals(r).len(),
        "signatures_overflowed": r.signatures_overflowed,
        "clients_folded": r.aggregates.folded_clients,
        "spans_dropped": r.aggregates.spans_dropped,
        "error": r.error.as_ref().map(|e| e.to_string()),
        "source_counters": r.source_counters.iter().map(|c| (c.name.to_owned(), json!(c.value))).collect::<Map<String, Value>>(),
    })
}

/// Writes the JSON report, `{"capture": {...}, "intervals": [{"start", "rows":
/// [...]}]}`, one row at a time: memory stays that of the rows themselves
/// however many there are (a row's JSON is built, written and dropped).
pub fn write_json_report(r: &Results, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    write!(out, "{{\"capture\":")?;
    serde_json::to_writer(&mut *out, &capture_json(r))?;
    write!(out, ",\n\"intervals\":[")?;
    for (i, (start, rows)) in r.aggregates.by_interval().into_iter().enumerate() {
        write!(out, "{}\n{{\"start\":{start},\"rows\":[", if i > 0 { "," } else { "" })?;
        for (j, (k, row)) in rows.into_iter().enumerate() {
            let row = json!({
                "plugin": k.plugin,
                "signature": &*k.signature,
                "server": endpoint(k.server.0, k.server.1),
                "client": client_json(k.client),
                "count": row.count,
                "outcomes": row.outcomes,
                "metrics": row_metrics_json(row),
            });
            writeln!(out, "{}", if j > 0 { "," } else { "" })?;
            serde_json::to_writer(&mut *out, &row)?;
        }
        write!(out, "]}}")?;
    }
    write!(out, "],\n\"diagnosis\":[")?;
    for (i, d) in diagnoses(r).iter().enumerate() {
        writeln!(out, "{}", if i > 0 { "," } else { "" })?;
        serde_json::to_writer(&mut *out, &diagnosis_json(d))?;
    }
    writeln!(out, "]}}")
}

/// The JSON report as a value (tests and the console's tests read it so).
pub fn json_report(r: &Results) -> Value {
    let mut text = Vec::new();
    write_json_report(r, &mut text).unwrap_or_else(|e| unreachable!("writing to memory: {e}"));
    serde_json::from_slice(&text).unwrap_or_else(|e| unreachable!("the report is JSON: {e}"))
}

/// Where the time of one signature at one server went (model::diagnosis).
pub struct Diagnosis {
    pub front: Endpoint,
    pub shares: Shares,
    /// Each part's average, nanoseconds, over the transactions that have it.
    pub parts: Vec<(Metric, f64)>,
    /// What it waited on, most first.
    pub backends: Vec<Backend>,
    /// The shares interval by interval (start, Unix seconds).
    pub intervals: Vec<(u64, Shares)>,
}

/// A backend a signature waited on, over the whole run.
pub struct Backend {
    pub endpoint: Endpoint,
    /// Share of the front's server time spent in calls to it.
    pub share: f64,
    pub calls_per_transaction: f64,
    /// Nanoseconds of calls to it per front transaction.
    pub time_per_transaction: f64,
    /// Of the front's average server time and the calls' average time,
    /// interval by interval (none under three intervals).
    pub correlation: Option<f64>,
}

fn server_time(row: &Row) -> &Stat {
    &row.metrics[Metric::ServerTime as usize]
}

/// The diagnosis of every signature × server whose time was measured,
/// from the parts' sums over all intervals and clients, with the backends
/// paired with it.
pub fn diagnoses(r: &Results) -> Vec<Diagnosis> {
    // Per front: its rows over the run and per interval.
    let mut fronts: BTreeMap<Endpoint, (Row, BTreeMap<u64, Row>)> = BTreeMap::new();
    for (start, k, row) in r.aggregates.rows() {
        let (total, by_interval) = fronts.entry((k.plugin, k.signature.clone(), k.server)).or_default();
        total.merge(row);
        by_interval.entry(start).or_default().merge(row);
    }
    // Per front and backend: the calls over the run and per interval.
    type Calls = (Paired, Vec<(u64, Paired)>);
    let mut calls: BTreeMap<&Endpoint, BTreeMap<&Endpoint, Calls>> = BTreeMap::new();
    for (start, edges) in &r.backends {
        for (edge, paired) in edges {
            let (total, by_interval) = calls.entry(&edge.front).or_default().entry(&edge.backend).or_default();
            total.add(paired);
            by_interval.push((*start, *paired));
        }
    }
    fronts
        .iter()
        .filter_map(|(front, (row, by_interval))| {
            let shares = Shares::from_sums(|m| row.metrics[m as usize].sum)?;
            let parts = PARTS.iter().map(|(m, _)| (*m, row.metrics[*m as usize].avg())).collect();
            let waited = server_time(row);
            let mut backends: Vec<Backend> = calls
                .get(front)
                .into_iter()
                .flatten()
                .map(|(backend, (total, intervals))| {
                    let pairs: Vec<(f64, f64)> = intervals
                        .iter()
                        .filter_map(|(start, p)| {
                            let front_avg = server_time(by_interval.get(start)?).avg();
                            (p.calls > 0.0).then(|| (front_avg, p.time_ns / p.calls))
                        })
                        .collect();
                    Backend {
                        endpoint: (*backend).clone(),
                        share: if waited.sum > 0 { total.time_ns / waited.sum as f64 } else { 0.0 },
                        calls_per_transaction: total.calls / row.count.max(1) as f64,
                        time_per_transaction: total.time_ns / row.count.max(1) as f64,
                        correlation: correlation(&pairs),
                    }
                })
                .collect();
            backends.sort_by(|a, b| b.share.total_cmp(&a.share).then_with(|| a.endpoint.cmp(&b.endpoint)));
            let intervals = by_interval
                .iter()
                .filter_map(|(start, row)| Some((*start, Shares::from_sums(|m| row.metrics[m as usize].sum)?)))
                .collect();
            Some(Diagnosis { front: front.clone(), shares, parts, backends, intervals })
        })
        .collect()
}

fn diagnosis_json(d: &Diagnosis) -> Value {
    let parts: Map<String, Value> =
        d.parts.iter().map(|(m, avg)| (m.name().to_owned(), json_value(*m, *avg))).collect();
    let (plugin, signature, server) = &d.front;
    let backends: Vec<Value> = d
        .backends
        .iter()
        .map(|b| {
            let (plugin, signature, server) = &b.endpoint;
            json!({
                "plugin": plugin,
                "signature": &**signature,
                "server": endpoint(server.0, server.1),
                "share": b.share,
                "correlation": b.correlation,
                "calls_per_transaction": b.calls_per_transaction,
                "time_per_transaction": json_value(Metric::ServerTime, b.time_per_transaction),
            })
        })
        .collect();
    json!({
        "plugin": plugin,
        "signature": &**signature,
        "server": endpoint(server.0, server.1),
        "verdict": d.shares.verdict().name(),
        "shares": d.shares,
        "parts": parts,
        "backends": backends,
        "intervals": d.intervals.iter().map(|(start, shares)| json!({
            "start": start,
            "verdict": shares.verdict().name(),
            "shares": shares,
        })).collect::<Vec<Value>>(),
    })
}

/// "server 92 %, network 8 %, client 0 %".
fn shares_text(s: &Shares) -> String {
    format!("server {:.0} %, network {:.0} %, client {:.0} %", s.server * 100.0, s.network * 100.0, s.client * 100.0)
}

/// Rows of all intervals, servers and clients merged per (plugin, signature).
fn signature_totals(r: &Results) -> BTreeMap<(&'static str, Arc<str>), Row> {
    let mut totals: BTreeMap<(&'static str, Arc<str>), Row> = BTreeMap::new();
    for (_, k, row) in r.aggregates.rows() {
        totals.entry((k.plugin, k.signature.clone())).or_default().merge(row);
    }
    totals
}

fn human(m: Metric, v: f64) -> String {
    match m.unit() {
        Unit::Nanoseconds => format!("{:.3}ms", v / 1e6),
        _ if v.fract() == 0.0 => format!("{v:.0}"),
        _ => format!("{v:.1}"),
    }
}

/// The text report: capture statistics, then a table per signature.
pub fn text_report(r: &Results, source: &str) -> String {
    let c = &r.capture;
    let f = &r.flows;
    let mut out = String::new();
    let secs = c.last_ns.saturating_sub(c.first_ns) as f64 / 1e9;
    let _ = writeln!(out, "capture {source}");
    let _ = writeln!(out, "  packets          {} ({} bytes, {secs:.3} s)", c.packets, c.bytes);
    if c.dropped > 0 {
        let _ = writeln!(out, "  dropped          {} frames lost before analysis (see live capture)", c.dropped);
    }
    if c.stamps_ahead + c.stamps_behind > 0 {
        let _ = writeln!(
            out,
            "  stamps           {} more than a minute ahead of the capture clock (not followed), {} behind it",
            c.stamps_ahead, c.stamps_behind
        );
    }
    let skipped: Vec<String> = SkipReason::ALL
        .iter()
        .filter(|r| c.skipped[**r as usize] > 0)
        .map(|r| format!("{} {}", r.name(), c.skipped[*r as usize]))
        .collect();
    let _ = writeln!(
        out,
        "  skipped          {} ({}); first fragments analysed {}",
        c.skipped_total(),
        skipped.join(", "),
        c.first_fragments
    );
    let tunnels: Vec<String> = Encapsulation::ALL
        .iter()
        .map(|e| (e, c.tunnels[*e as usize]))
        .filter(|(_, t)| t.frames > 0)
        .map(|(e, t)| format!("{} {} frames ({} bytes, {} malformed)", e.name(), t.frames, t.bytes, t.malformed))
        .collect();
    if !tunnels.is_empty() {
        let _ = writeln!(out, "  tunnels          {}", tunnels.join(", "));
    }
    let _ = writeln!(
        out,
        "  flows            {} (tcp {}, udp {}, midstream {}, evicted {})",
        f.flows, f.tcp_flows, f.udp_flows, f.midstream, f.evicted
    );
    let _ = writeln!(
        out,
        "  tcp              retransmissions {}, out of order {}, acks ahead of data {}, zero windows {}, resets {}",
        f.retransmissions, f.out_of_order, f.acks_ahead, f.zero_windows, f.resets
    );
    let _ = writeln!(out, "  payload missing  lost {} bytes, truncated {} bytes", f.lost_bytes, f.truncated_bytes);
    let totals = signature_totals(r);
    let _ = writeln!(
        out,
        "  transactions     {} ({} signatures, {} over the cap; {} unmatched responses)",
        r.aggregates.transactions,
        totals.len(),
        r.signatures_overflowed,
        f.unmatched_responses
    );
    if !r.source_counters.is_empty() {
        let counters: Vec<String> = r.source_counters.iter().map(|c| format!("{} {}", c.name, c.value)).collect();
        let _ = writeln!(out, "  live capture     {}", counters.join(", "));
    }
    if r.aggregates.spans_dropped > 0 {
        let _ = writeln!(
            out,
            "  backends         {} transactions over the pairing cap, not paired with calls",
            r.aggregates.spans_dropped
        );
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "  error            {e}");
    }
    let diagnoses = diagnoses(r);
    for ((plugin, sig), row) in &totals {
        let outcomes: Vec<String> = row.outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "\n{plugin} {sig}: {} transactions ({})", row.count, outcomes.join(", "));
        for d in diagnoses.iter().filter(|d| d.front.0 == *plugin && d.front.1 == *sig) {
            let server = d.front.2;
            let _ = writeln!(
                out,
                "  slow side at {}: {} ({})",
                endpoint(server.0, server.1),
                d.shares.verdict().name(),
                shares_text(&d.shares)
            );
            for b in d.backends.iter().take(TOP_BACKENDS) {
                let (plugin, signature, server) = &b.endpoint;
                let correlation = b.correlation.map(|c| format!(", correlation {c:.2}")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    waits on {plugin} {signature} at {}: {:.0} % of its server time, {:.1} calls, {} per transaction{correlation}",
                    endpoint(server.0, server.1),
                    b.share * 100.0,
                    b.calls_per_transaction,
                    human(Metric::ServerTime, b.time_per_transaction),
                );
            }
        }
        let _ = writeln!(
            out,
            "  {:<20} {:>7} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
            "metric", "count", "avg", "min", "p50", "p95", "p99", "max"
        );
        for m in Metric::ALL {
            let s = &row.metrics[m as usize];
            if s.count == 0 {
                continue;
            }
            let _ = writeln!(
                out,
                "  {:<20} {:>7} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
                m.name(),
                s.count,
                human(m, s.avg()),
                human(m, s.min as f64),
                human(m, s.quantile(0.50) as f64),
                human(m, s.quantile(0.95) as f64),
                human(m, s.quantile(0.99) as f64),
                human(m, s.max as f64),
            );
        }
    }
    out
}
