//! The data of each view, shared by its page and its API call: the page
//! draws exactly what the API returns for the same query string.
//!
//! Durations are in microseconds (as `pastmon raw --format json` gives
//! them); other metrics in their own unit.

use crate::params::{Params, SeriesSpec};
use crate::query::{self, Bucket, By, Filter, Order, Point, QueryError, Range, Stat, Summary, Table};
use pastmon_clickhouse::Client;
use pastmon_model::diagnosis::Shares;
use pastmon_model::{Metric, Unit};
use serde::Serialize;

/// Why a view has no data. What users read is short: a parameter's error
/// says what to change; a database error only that the database failed
/// (its detail goes to the console's log, never to a user).
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// A parameter is wrong: the user's to fix (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// ClickHouse failed or is unreachable (HTTP 502).
    #[error("the database did not answer; the console's log says why")]
    Query(#[from] QueryError),
    /// Too many views are reading the database (HTTP 503).
    #[error("the console is busy; try again in a few seconds")]
    Busy,
    #[error("internal error; the console's log says more")]
    Internal,
}

impl From<String> for ViewError {
    fn from(s: String) -> ViewError {
        ViewError::BadRequest(s)
    }
}

/// Points per series a chart may have.
pub const MAX_POINTS: u64 = 5_000;

pub fn is_duration(m: Metric) -> bool {
    m.unit() == Unit::Nanoseconds
}

/// A stored value in the API's unit.
fn out(m: Metric, v: f64) -> f64 {
    if is_duration(m) {
        (v / 1e3 * 1e3).round() / 1e3
    } else {
        v
    }
}

/// Every statistic of a summary, in the API's unit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub count: u64,
    pub min: Option<f64>,
    pub avg: Option<f64>,
    pub max: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Stats {
    fn of(m: Metric, s: &Summary) -> Stats {
        let get = |stat| s.stat(stat).map(|v| out(m, v));
        Stats {
            count: s.count,
            min: get(Stat::Min),
            avg: get(Stat::Avg),
            max: get(Stat::Max),
            p50: get(Stat::P50),
            p95: get(Stat::P95),
            p99: get(Stat::P99),
        }
    }
}

#[derive(Serialize)]
pub struct SignatureOut {
    pub plugin: String,
    pub signature: String,
    pub transactions: u64,
    /// Server-side errors: server errors (HTTP 5xx, DNS SERVFAIL), resets,
    /// no response, incomplete responses, refusals.
    pub errors: u64,
    /// errors / transactions.
    pub error_share: f64,
    /// Requests rejected as the client's error (HTTP 4xx, IMAP BAD, DNS FORMERR).
    pub client_errors: u64,
    /// client_errors / transactions.
    pub client_error_share: f64,
    pub first_response: Stats,
    pub last_response: Stats,
    /// The slow side (README, "Where the time goes"): server, network,
    /// client or balanced; none where no time was measured.
    pub verdict: Option<&'static str>,
    /// Each side's share of the time, 0 to 1.
    pub shares: Option<Shares>,
    pub sparkline: Vec<u64>,
}

#[derive(Serialize)]
pub struct SignaturesView {
    pub range: Range,
    pub table: Table,
    pub filter: Filter,
    pub signatures: Vec<SignatureOut>,
    /// The signatures to look at first, across plugins.
    pub worst: Worst,
    /// With no signature in the range: the first and last interval the
    /// sensors wrote, to say where the data is.
    pub data_span: Option<Range>,
}

/// Signatures listed in each "worst" ranking at most.
pub const WORST_N: usize = 5;

/// The worst signatures of the range, each ranking most first.
#[derive(Serialize)]
pub struct Worst {
    /// By p95 of the last response.
    pub slowest: Vec<Ranked>,
    /// By share of server errors (those with any).
    pub most_errors: Vec<Ranked>,
    /// By how much the p95 of the last response grew against the period
    /// just before (value: now ÷ before, above 1 only).
    pub slower_than_before: Vec<Ranked>,
}

#[derive(Serialize)]
pub struct Ranked {
    pub plugin: String,
    pub signature: String,
    pub value: f64,
    pub verdict: Option<&'static str>,
}

impl Worst {
    fn of(now: &[SignatureOut], before: &[query::SignatureRow]) -> Worst {
        let ranked = |by: &dyn Fn(&SignatureOut) -> Option<f64>| -> Vec<Ranked> {
            let mut v: Vec<Ranked> = now
                .iter()
                .filter_map(|s| {
                    let value = by(s)?;
                    Some(Ranked { plugin: s.plugin.clone(), signature: s.signature.clone(), value, verdict: s.verdict })
                })
                .collect();
            v.sort_by(|a, b| {
                b.value.total_cmp(&a.value).then_with(|| (&a.plugin, &a.signature).cmp(&(&b.plugin, &b.signature)))
            });
            v.truncate(WORST_N);
            v
        };
        // By name: up to MAX_SIGNATURES on either side.
        let before: std::collections::HashMap<(&str, &str), f64> = before
            .iter()
            .filter_map(|b| {
                let p95 = b.last_response.stat(Stat::P95)?;
                Some(((b.plugin.as_str(), b.signature.as_str()), out(Metric::LastResponse, p95)))
            })
            .collect();
        let before_p95 = |s: &SignatureOut| before.get(&(s.plugin.as_str(), s.signature.as_str())).copied();
        Worst {
            slowest: ranked(&|s| s.last_response.p95),
            most_errors: ranked(&|s| (s.errors > 0).then_some(s.error_share)),
            slower_than_before: ranked(&|s| {
                let (now, then) = (s.last_response.p95?, before_p95(s)?);
                (then > 0.0 && now > then).then(|| now / then)
            }),
        }
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

pub fn signatures(client: &Client, db: &str, p: &Params, now: u64) -> Result<SignaturesView, ViewError> {
    let (range, filter) = (p.range(now)?, p.filter()?);
    let rows = query::signatures(client, db, range, &filter)?;
    let length = range.to.saturating_sub(range.from);
    let previous = Range { from: range.from.saturating_sub(length), to: range.from };
    let before = query::signatures(client, db, previous, &filter)?;
    let signatures = rows
        .into_iter()
        .map(|r| SignatureOut {
            error_share: share(r.errors, r.transactions),
            client_error_share: share(r.client_errors, r.transactions),
            client_errors: r.client_errors,
            first_response: Stats::of(Metric::FirstResponse, &r.first_response),
            last_response: Stats::of(Metric::LastResponse, &r.last_response),
            verdict: r.shares.map(|s| s.verdict().name()),
            shares: r.shares,
            plugin: r.plugin,
            signature: r.signature,
            transactions: r.transactions,
            errors: r.errors,
            sparkline: r.sparkline,
        })
        .collect::<Vec<_>>();
    let worst = Worst::of(&signatures, &before);
    let data_span = if signatures.is_empty() { query::data_span(client, db)? } else { None };
    Ok(SignaturesView { range, table: Table::for_totals(range, filter.detail()), filter, signatures, worst, data_span })
}

#[derive(Serialize)]
pub struct DrillOut {
    pub key: String,
    pub transactions: u64,
    pub errors: u64,
    pub stats: Stats,
}

#[derive(Serialize)]
pub struct DrillView {
    pub range: Range,
    pub table: Table,
    pub filter: Filter,
    pub by: By,
    pub order: Order,
    pub metric: &'static str,
    pub rows: Vec<DrillOut>,
    /// What the selected signature waited on, most first (a signature's
    /// servers only).
    pub backends: Vec<BackendOut>,
}

/// A backend of the selected front: its share of the front's server time,
/// calls and their time per front transaction.
#[derive(Serialize)]
pub struct BackendOut {
    pub plugin: String,
    pub signature: String,
    pub server: String,
    pub share: f64,
    pub calls_per_transaction: f64,
    /// Microseconds.
    pub time_per_transaction: f64,
}

fn backends_of(client: &Client, db: &str, range: Range, filter: &Filter) -> Result<Vec<BackendOut>, ViewError> {
    if filter.signature.is_none() {
        return Ok(Vec::new());
    }
    let b = query::backends(client, db, range, filter)?;
    let per_transaction = |v: f64| if b.transactions == 0 { 0.0 } else { v / b.transactions as f64 };
    Ok(b.rows
        .into_iter()
        .map(|r| BackendOut {
            share: if b.server_time_ns == 0 { 0.0 } else { r.time_ns as f64 / b.server_time_ns as f64 },
            calls_per_transaction: per_transaction(r.calls),
            time_per_transaction: per_transaction(r.time_ns as f64) / 1000.0,
            plugin: r.plugin,
            signature: r.signature,
            server: r.server,
        })
        .collect())
}

pub fn drill(client: &Client, db: &str, p: &Params, now: u64) -> Result<DrillView, ViewError> {
    let (range, filter, by, order, metric, limit) =
        (p.range(now)?, p.filter()?, p.by()?, p.order()?, p.metric()?, p.limit()?);
    let spec = query::DrillSpec { by, metric, order, limit };
    let table = spec.table(range, &filter);
    let rows = query::drill(client, db, range, &filter, spec)?
        .into_iter()
        .map(|r| DrillOut {
            key: r.key,
            transactions: r.transactions,
            errors: r.errors,
            stats: Stats::of(metric, &r.metric),
        })
        .collect();
    let backends = if by == By::Server { backends_of(client, db, range, &filter)? } else { Vec::new() };
    Ok(DrillView { range, table, filter, by, order, metric: metric.name(), rows, backends })
}

#[derive(Clone, Serialize)]
pub struct SeriesOut {
    pub name: String,
    pub points: Vec<Point>,
}

#[derive(Serialize)]
pub struct HistogramOut {
    pub stats: Stats,
    pub buckets: Vec<Bucket>,
}

#[derive(Serialize)]
pub struct GraphView {
    pub range: Range,
    pub table: Table,
    pub metric: &'static str,
    pub stat: &'static str,
    /// "microseconds", "bytes" or "count".
    pub unit: &'static str,
    pub step: u64,
    pub series: Vec<SeriesOut>,
    /// The same series over the previous period, shifted onto this one's
    /// times (with `compare=1`).
    pub previous: Vec<SeriesOut>,
    /// The whole selection's histogram from the merged buckets.
    pub histogram: HistogramOut,
}

/// The filter of one series: the page's filter narrowed to its signature
/// and server.
fn series_filter(base: &Filter, s: &SeriesSpec) -> Filter {
    Filter {
        signature: Some(s.signature.clone()),
        server_ip: s.server_ip.clone().or_else(|| base.server_ip.clone()),
        server_port: s.server_port.or(base.server_port),
        ..base.clone()
    }
}

pub fn graph(client: &Client, db: &str, p: &Params, now: u64) -> Result<GraphView, ViewError> {
    let (range, base, metric, stat) = (p.range(now)?, p.filter()?, p.metric()?, p.stat()?);
    let table = Table::for_chart(range, base.detail());
    let step = match p.step()? {
        Some(s) => s.max(table.min_step()),
        None => query::step_for(range, table, 120),
    };
    // Bounded before anything is queried or allocated.
    let points = (range.to - range.from).div_ceil(step);
    if points > MAX_POINTS {
        return Err(ViewError::BadRequest(format!(
            "step {step} s gives {points} points per series; at most {MAX_POINTS}: use a step of at least {} s",
            (range.to - range.from).div_ceil(MAX_POINTS)
        )));
    }
    // Level1 rows are as long as the sensors' intervals (300 s by default):
    // a finer step would leave most points empty.
    let step = match table {
        Table::Level1 => {
            let rows = query::row_seconds(client, db, range, &base)?.max(table.min_step());
            step.div_ceil(rows) * rows
        }
        _ => step,
    };
    let specs = p.series()?;
    let selections: Vec<(String, Filter)> = if specs.is_empty() {
        vec![(base.signature.clone().unwrap_or_else(|| "all".into()), base.clone())]
    } else {
        specs.iter().map(|s| (s.label(), series_filter(&base, s))).collect()
    };
    let run = |range: Range, shift: u64| -> Result<Vec<SeriesOut>, ViewError> {
        selections
            .iter()
            .map(|(name, f)| {
                let points = query::series(client, db, range, f, metric, stat, step)?
                    .into_iter()
                    .map(|pt| Point {
                        t: pt.t + shift,
                        v: pt.v.map(|v| if stat == Stat::Count { v } else { out(metric, v) }),
                    })
                    .collect();
                Ok(SeriesOut { name: name.clone(), points })
            })
            .collect()
    };
    let series = run(range, 0)?;
    let previous = if p.flag("compare") {
        let len = range.to - range.from;
        let prev = Range { from: range.from.saturating_sub(len), to: range.from };
        let mut s = run(prev, len)?;
        for x in &mut s {
            x.name = format!("{} (previous)", x.name);
        }
        s
    } else {
        Vec::new()
    };
    // The histogram of everything charted: one merged summary.
    let mut whole = Summary::default();
    for (_, f) in &selections {
        let s = query::summary(client, db, range, f, metric)?;
        whole.min = if whole.count == 0 {
            s.min
        } else if s.count == 0 {
            whole.min
        } else {
            whole.min.min(s.min)
        };
        whole.count += s.count;
        whole.max = whole.max.max(s.max);
        whole.sum += s.sum;
        whole.histogram.merge(&s.histogram);
    }
    let buckets = query::buckets(&whole.histogram)
        .into_iter()
        .map(|b| {
            let conv = |v: u64| if is_duration(metric) { v / 1_000 } else { v };
            Bucket { lo: conv(b.lo), hi: conv(b.hi), count: b.count }
        })
        .collect();
    let unit = match metric.unit() {
        Unit::Nanoseconds => "microseconds",
        Unit::Bytes => "bytes",
        Unit::Count => "count",
    };
    Ok(GraphView {
        range,
        table,
        metric: metric.name(),
        stat: stat.name(),
        unit: if stat == Stat::Count { "count" } else { unit },
        step,
        series,
        previous,
        histogram: HistogramOut { stats: Stats::of(metric, &whole), buckets },
    })
}

#[derive(Serialize)]
pub struct SensorsView {
    pub range: Range,
    pub sensors: Vec<query::SensorRow>,
}

pub fn sensors(client: &Client, db: &str, p: &Params, now: u64) -> Result<SensorsView, ViewError> {
    let range = p.range(now)?;
    Ok(SensorsView { range, sensors: query::sensors(client, db, range)? })
}

/// A graph's series as CSV: `series,time,value`.
pub fn series_csv(v: &GraphView) -> String {
    let mut out = String::from("series,time,value\n");
    for s in v.series.iter().chain(&v.previous) {
        for p in &s.points {
            let value = p.v.map(|x| x.to_string()).unwrap_or_default();
            out.push_str(&format!("{},{},{value}\n", csv_field(&s.name), p.t));
        }
    }
    out
}

/// A graph's histogram as CSV: `lo,hi,count`.
pub fn histogram_csv(v: &GraphView) -> String {
    let mut out = String::from("lo,hi,count\n");
    for b in &v.histogram.buckets {
        out.push_str(&format!("{},{},{}\n", b.lo, b.hi, b.count));
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
