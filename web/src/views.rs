//! The data of each view, shared by its page and its API call: the page
//! draws exactly what the API returns for the same query string.
//!
//! Durations are in microseconds (as `pastmon raw --format json` gives
//! them); other metrics in their own unit.

use crate::params::{Params, SeriesSpec};
use crate::query::{self, Bucket, By, Filter, Order, Point, QueryError, Range, Stat, Summary, Table};
use pastmon_clickhouse::Client;
use pastmon_model::diagnosis::{correlation, Shares, PARTS};
use pastmon_model::histogram::Histogram;
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
fn out_unit(m: Metric, v: f64) -> f64 {
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
        let get = |stat| s.stat(stat).map(|v| out_unit(m, v));
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
    fn of(now: &[SignatureOut], before: &[query::SignatureSummary]) -> Worst {
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
                let p95 = b.metric.stat(Stat::P95)?;
                Some(((b.plugin.as_str(), b.signature.as_str()), out_unit(Metric::LastResponse, p95)))
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

/// `part` of `whole`, 0 of nothing.
pub fn share(part: u64, whole: u64) -> f64 {
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
    // Only the last response's p95 of the period before: a lighter read.
    let before = query::by_signature(client, db, previous, &filter, Metric::LastResponse)?;
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
/// calls and their time per front transaction, and how its time moved
/// with the front's.
#[derive(Serialize)]
pub struct BackendOut {
    pub plugin: String,
    pub signature: String,
    pub server: String,
    pub share: f64,
    pub calls_per_transaction: f64,
    /// Microseconds.
    pub time_per_transaction: f64,
    /// Pearson's correlation of its time and the front's server time step
    /// by step (none under three steps or where either does not vary).
    pub correlation: Option<f64>,
}

/// Steps a correlation is computed over at most.
const CORRELATION_STEPS: u64 = 500;

fn backends_of(client: &Client, db: &str, range: Range, filter: &Filter) -> Result<Vec<BackendOut>, ViewError> {
    if filter.signature.is_none() {
        return Ok(Vec::new());
    }
    // Pairs come from the steps where the front worked, so a step finer
    // than the stored rows only leaves steps out, never pairs a row twice.
    let step = (range.to - range.from).div_ceil(CORRELATION_STEPS).max(60);
    let b = query::backends(client, db, range, filter, step)?;
    let per_transaction = |v: f64| if b.transactions == 0 { 0.0 } else { v / b.transactions as f64 };
    let front: std::collections::BTreeMap<u64, u64> = b.per_step.iter().copied().collect();
    Ok(b.rows
        .into_iter()
        .map(|r| {
            // Steps where the front worked; a backend silent there counts 0.
            let mine: std::collections::BTreeMap<u64, u64> = r.per_step.iter().copied().collect();
            let pairs: Vec<(f64, f64)> =
                front.iter().map(|(t, f)| (*f as f64, mine.get(t).copied().unwrap_or(0) as f64)).collect();
            BackendOut {
                share: share(r.time_ns, b.server_time_ns),
                calls_per_transaction: per_transaction(r.calls),
                time_per_transaction: per_transaction(r.time_ns as f64) / 1000.0,
                correlation: correlation(&pairs),
                plugin: r.plugin,
                signature: r.signature,
                server: r.server,
            }
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

impl HistogramOut {
    /// In the API's unit (durations in microseconds).
    fn of(metric: Metric, s: &Summary) -> HistogramOut {
        HistogramOut { stats: Stats::of(metric, s), buckets: buckets_in_unit(metric, &s.histogram) }
    }
}

/// A histogram's buckets in the API's unit (durations in microseconds).
fn buckets_in_unit(metric: Metric, h: &Histogram) -> Vec<Bucket> {
    let conv = |v: u64| if is_duration(metric) { v / 1_000 } else { v };
    query::buckets(h).into_iter().map(|b| Bucket { lo: conv(b.lo), hi: conv(b.hi), count: b.count }).collect()
}

/// The API's name of a metric's unit, or of a statistic's.
pub fn unit_name(metric: Metric, stat: Stat) -> &'static str {
    match (stat, metric.unit()) {
        (Stat::Count, _) => "count",
        (Stat::Rate, _) => "per_second",
        (_, Unit::Nanoseconds) => "microseconds",
        (_, Unit::Bytes) => "bytes",
        (_, Unit::Count) => "count",
    }
}

/// The step of a chart over `range` from `table`: the one asked for or
/// about `points` of them, never finer than the table's rows (level1's are
/// the sensors' intervals, 300 s by default), at most `MAX_POINTS`.
pub fn chart_step(
    client: &Client,
    db: &str,
    range: Range,
    filter: &Filter,
    asked: Option<u64>,
    points: u64,
) -> Result<(Table, u64), ViewError> {
    let table = Table::for_chart(range, filter.detail());
    let step = match asked {
        Some(s) => s.max(table.min_step()),
        None => query::step_for(range, table, points),
    };
    // Bounded before anything is queried or allocated.
    let n = (range.to - range.from).div_ceil(step);
    if n > MAX_POINTS {
        return Err(ViewError::BadRequest(format!(
            "step {step} s gives {n} points per series; at most {MAX_POINTS}: use a step of at least {} s",
            (range.to - range.from).div_ceil(MAX_POINTS)
        )));
    }
    let step = match table {
        Table::Level1 => {
            let rows = query::row_seconds(client, db, range, filter)?.max(table.min_step());
            query::whole_rows(step, rows)
        }
        _ => step,
    };
    Ok((table, step))
}

#[derive(Serialize)]
pub struct GraphView {
    pub range: Range,
    pub table: Table,
    /// The metrics drawn (one unit).
    pub metrics: Vec<&'static str>,
    pub stat: &'static str,
    /// "microseconds", "bytes", "count" or "per_second".
    pub unit: &'static str,
    pub step: u64,
    pub series: Vec<SeriesOut>,
    /// The same series over the previous period, shifted onto this one's
    /// times (with `compare=1`).
    pub previous: Vec<SeriesOut>,
    /// The first metric's histogram over everything charted, from the
    /// merged buckets.
    pub histogram: HistogramOut,
    /// The same per series (selection), to overlay them.
    pub histograms: Vec<(String, HistogramOut)>,
    /// Times the sensors lost frames or payload: values there may be low.
    pub losses: Vec<Range>,
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

/// Points of a statistic of `metric` in the API's unit (counts and rates
/// as they are).
fn in_unit(metric: Metric, stat: Stat, points: Vec<Point>) -> Vec<Point> {
    let convert = !matches!(stat, Stat::Count | Stat::Rate);
    points
        .into_iter()
        .map(|p| Point { t: p.t, v: p.v.map(|v| if convert { out_unit(metric, v) } else { v }) })
        .collect()
}

/// Series of `metrics` for each selection, in the API's unit: one per
/// selection and metric (named by both when there are several metrics).
fn lines(
    client: &Client,
    db: &str,
    range: Range,
    selections: &[(String, Filter)],
    metrics: &[Metric],
    stat: Stat,
    step: u64,
) -> Result<Vec<SeriesOut>, ViewError> {
    // One query per selection, at once: each is small and its time mostly
    // ClickHouse's per-query work, so a page waits for the slowest, not
    // the sum (six selections at most, within the view's gate).
    let per_selection: Vec<Result<Vec<Vec<Point>>, QueryError>> = std::thread::scope(|scope| {
        let running: Vec<_> = selections
            .iter()
            .map(|(_, f)| {
                scope.spawn(move || query::series(client, db, range, f, metrics, stat, step).map(|s| s.points))
            })
            .collect();
        running
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(QueryError::Answer("a query panicked".into()))))
            .collect()
    });
    let mut out = Vec::new();
    for ((name, _), per_metric) in selections.iter().zip(per_selection) {
        for (metric, points) in metrics.iter().zip(per_metric?) {
            let points = in_unit(*metric, stat, points);
            let name = if metrics.len() > 1 { format!("{name} {}", metric.name()) } else { name.clone() };
            out.push(SeriesOut { name, points });
        }
    }
    Ok(out)
}

pub fn graph(client: &Client, db: &str, p: &Params, now: u64) -> Result<GraphView, ViewError> {
    let (range, base, metrics, stat) = (p.range(now)?, p.filter()?, p.metrics()?, p.stat()?);
    let (table, step) = chart_step(client, db, range, &base, p.step()?, 120)?;
    let specs = p.series()?;
    let selections: Vec<(String, Filter)> = if specs.is_empty() {
        vec![(base.signature.clone().unwrap_or_else(|| "all".into()), base.clone())]
    } else {
        specs.iter().map(|s| (s.label(), series_filter(&base, s))).collect()
    };
    let series = lines(client, db, range, &selections, &metrics, stat, step)?;
    let previous = if p.flag("compare") {
        let len = range.to - range.from;
        let prev = Range { from: range.from.saturating_sub(len), to: range.from };
        let mut s = lines(client, db, prev, &selections, &metrics, stat, step)?;
        for x in &mut s {
            x.name = format!("{} (previous)", x.name);
            for pt in &mut x.points {
                pt.t += len;
            }
        }
        s
    } else {
        Vec::new()
    };
    // Each selection's histogram, and that of everything charted.
    let mut whole = Summary::default();
    let mut histograms = Vec::new();
    for (name, f) in &selections {
        let s = query::summary(client, db, range, f, metrics[0])?;
        whole.merge(&s);
        histograms.push((name.clone(), HistogramOut::of(metrics[0], &s)));
    }
    Ok(GraphView {
        range,
        table,
        metrics: metrics.iter().map(|m| m.name()).collect(),
        stat: stat.name(),
        unit: unit_name(metrics[0], stat),
        step,
        series,
        previous,
        histogram: HistogramOut::of(metrics[0], &whole),
        histograms,
        losses: query::losses(client, db, range, base.sensor.as_deref())?,
    })
}

/// One part of a signature's time: its side, average and share.
#[derive(Serialize)]
pub struct PartOut {
    pub part: &'static str,
    pub side: &'static str,
    /// Microseconds per transaction measured.
    pub avg: Option<f64>,
    /// Of the six parts' total.
    pub share: f64,
}

/// A signature's page: where its time goes, what it waits on, how it ended.
#[derive(Serialize)]
pub struct SignatureView {
    pub range: Range,
    pub table: Table,
    pub filter: Filter,
    pub transactions: u64,
    pub errors: u64,
    pub client_errors: u64,
    pub verdict: Option<&'static str>,
    pub shares: Option<Shares>,
    pub parts: Vec<PartOut>,
    /// "avg" or "p95": the statistic of each part stacked over time.
    pub parts_stat: &'static str,
    pub step: u64,
    /// Each part per step, stacked in this order (microseconds).
    pub parts_series: Vec<SeriesOut>,
    pub backends: Vec<BackendOut>,
    /// Its last response beside its top backends' (p95, microseconds).
    pub beside_backends: Vec<SeriesOut>,
    /// Transactions by outcome (labels as `pastmon raw` gives them).
    pub outcomes: Vec<(String, u64)>,
    pub losses: Vec<Range>,
}

/// Backends drawn beside their front at most.
const BESIDE: usize = 4;

pub fn signature(client: &Client, db: &str, p: &Params, now: u64) -> Result<SignatureView, ViewError> {
    let (range, filter) = (p.range(now)?, p.filter()?);
    if filter.signature.is_none() {
        return Err(ViewError::BadRequest("signature: which signature's page?".into()));
    }
    let parts_stat = match p.get("parts").unwrap_or("avg") {
        "avg" => Stat::Avg,
        "p95" => Stat::P95,
        other => return Err(ViewError::BadRequest(format!("parts {other:?}: avg or p95"))),
    };
    let outcomes = query::outcomes(client, db, range, &filter)?;
    let (table, step) = chart_step(client, db, range, &filter, p.step()?, 120)?;
    let metrics: Vec<Metric> = PARTS.iter().map(|(m, _)| *m).collect();
    // The parts per step, and over the range from the same rows.
    let mut parts_read = query::series(client, db, range, &filter, &metrics, parts_stat, step)?;
    let whole = std::mem::take(&mut parts_read.totals);
    let shares = Shares::from_sums(|m| metrics.iter().zip(&whole).find(|(x, _)| **x == m).map_or(0, |(_, s)| s.sum));
    let total: u64 = whole.iter().map(|s| s.sum).sum();
    let parts = PARTS
        .iter()
        .zip(&whole)
        .map(|((m, side), s)| PartOut {
            part: m.name(),
            side: side.name(),
            avg: s.stat(Stat::Avg).map(|v| out_unit(*m, v)),
            share: share(s.sum, total),
        })
        .collect();
    let parts_series = parts_read
        .points
        .into_iter()
        .zip(&metrics)
        .map(|(points, m)| SeriesOut { name: m.name().to_owned(), points: in_unit(*m, parts_stat, points) })
        .collect();
    let name = filter.signature.clone().unwrap_or_default();
    let backends = backends_of(client, db, range, &filter)?;
    let mut selections = vec![(name, filter.clone())];
    for b in backends.iter().take(BESIDE) {
        let (ip, port) = crate::params::parse_server(&b.server)?;
        let f = Filter {
            plugin: Some(b.plugin.clone()),
            signature: Some(b.signature.clone()),
            server_ip: Some(ip),
            server_port: port,
            ..Filter::default()
        };
        selections.push((format!("{}@{}", b.signature, b.server), f));
    }
    let beside_backends = if backends.is_empty() {
        Vec::new()
    } else {
        lines(client, db, range, &selections, &[Metric::LastResponse], Stat::P95, step)?
    };
    Ok(SignatureView {
        range,
        table,
        transactions: outcomes.transactions,
        errors: outcomes.errors,
        client_errors: outcomes.client_errors,
        verdict: shares.map(|s| s.verdict().name()),
        shares,
        parts,
        parts_stat: parts_stat.name(),
        step,
        parts_series,
        backends,
        beside_backends,
        outcomes: outcomes.by_label,
        losses: query::losses(client, db, range, filter.sensor.as_deref())?,
        filter,
    })
}

/// A heatmap column: a step and its buckets (API unit).
#[derive(Serialize)]
pub struct HeatColumn {
    pub t: u64,
    pub buckets: Vec<Bucket>,
}

#[derive(Serialize)]
pub struct HeatmapView {
    pub range: Range,
    pub table: Table,
    pub filter: Filter,
    pub metric: &'static str,
    pub unit: &'static str,
    pub step: u64,
    /// Steps with values, oldest first.
    pub columns: Vec<HeatColumn>,
    pub losses: Vec<Range>,
}

/// Columns a heatmap has at most by default (one per pixel or so at most).
const HEATMAP_COLUMNS: u64 = 120;

pub fn heatmap(client: &Client, db: &str, p: &Params, now: u64) -> Result<HeatmapView, ViewError> {
    let (range, filter, metric) = (p.range(now)?, p.filter()?, p.metric()?);
    let (table, step) = chart_step(client, db, range, &filter, p.step()?, HEATMAP_COLUMNS)?;
    let columns = query::histograms(client, db, range, &filter, metric, step)?
        .into_iter()
        .map(|(t, h)| HeatColumn { t, buckets: buckets_in_unit(metric, &h) })
        .collect();
    Ok(HeatmapView {
        range,
        table,
        metric: metric.name(),
        unit: unit_name(metric, Stat::Avg),
        step,
        columns,
        losses: query::losses(client, db, range, filter.sensor.as_deref())?,
        filter,
    })
}

/// One signature in both ranges.
#[derive(Serialize)]
pub struct CompareRow {
    pub plugin: String,
    pub signature: String,
    pub before_transactions: u64,
    pub after_transactions: u64,
    pub before: Stats,
    pub after: Stats,
    /// after ÷ before of the p95 and p50 (none where either is missing or 0).
    pub p95_change: Option<f64>,
    pub p50_change: Option<f64>,
}

#[derive(Serialize)]
pub struct CompareView {
    /// The view's range: after the change.
    pub range: Range,
    /// What it is held against.
    pub before: Range,
    pub filter: Filter,
    pub metric: &'static str,
    pub unit: &'static str,
    /// Most grown p95 first; signatures in one range only come last.
    pub rows: Vec<CompareRow>,
    /// With a signature chosen: its histogram in each range.
    pub histograms: Option<[HistogramOut; 2]>,
}

pub fn compare(client: &Client, db: &str, p: &Params, now: u64) -> Result<CompareView, ViewError> {
    let (range, filter, metric) = (p.range(now)?, p.filter()?, p.metric()?);
    let before = p.before_range(range)?;
    let then = query::by_signature(client, db, before, &filter, metric)?;
    let then: std::collections::HashMap<(&str, &str), &query::SignatureSummary> =
        then.iter().map(|s| ((s.plugin.as_str(), s.signature.as_str()), s)).collect();
    let now_rows = query::by_signature(client, db, range, &filter, metric)?;
    let change = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let mut rows: Vec<CompareRow> = now_rows
        .iter()
        .map(|s| {
            let b = then.get(&(s.plugin.as_str(), s.signature.as_str()));
            let before_stats = b.map_or_else(Stats::default, |b| Stats::of(metric, &b.metric));
            let after = Stats::of(metric, &s.metric);
            CompareRow {
                plugin: s.plugin.clone(),
                signature: s.signature.clone(),
                before_transactions: b.map_or(0, |b| b.transactions),
                after_transactions: s.transactions,
                p95_change: change(after.p95, before_stats.p95),
                p50_change: change(after.p50, before_stats.p50),
                before: before_stats,
                after,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        let key = |r: &CompareRow| r.p95_change.unwrap_or(f64::NEG_INFINITY);
        key(b).total_cmp(&key(a)).then_with(|| (&a.plugin, &a.signature).cmp(&(&b.plugin, &b.signature)))
    });
    let histograms = if filter.signature.is_some() {
        let side = |r| query::summary(client, db, r, &filter, metric).map(|s| HistogramOut::of(metric, &s));
        Some([side(before)?, side(range)?])
    } else {
        None
    };
    Ok(CompareView {
        range,
        before,
        filter,
        metric: metric.name(),
        unit: unit_name(metric, Stat::Avg),
        rows,
        histograms,
    })
}

/// A call edge with what the console shows of it.
#[derive(Serialize)]
pub struct EdgeOut {
    pub front: query::End,
    pub backend: query::End,
    pub calls: f64,
    /// Microseconds per call.
    pub latency: f64,
    /// Server errors of the called signature at that server, over all its
    /// transactions (the sensor keeps outcomes per signature, not per caller).
    pub error_share: Option<f64>,
}

#[derive(Serialize)]
pub struct DependenciesView {
    pub range: Range,
    /// The server looked at (`ip` or `ip:port`); none: every edge.
    pub server: Option<String>,
    /// Calls to it: who calls it.
    pub callers: Vec<EdgeOut>,
    /// Calls it made: whom it calls.
    pub callees: Vec<EdgeOut>,
    /// Without a server: every edge, most time first.
    pub edges: Vec<EdgeOut>,
}

fn edges_out(client: &Client, db: &str, range: Range, edges: Vec<query::Edge>) -> Result<Vec<EdgeOut>, ViewError> {
    let mut ips: Vec<&str> = edges.iter().filter_map(|e| e.backend.server.rsplit_once(':').map(|(ip, _)| ip)).collect();
    ips.sort_unstable();
    ips.dedup();
    let answered = query::answered(client, db, range, &ips)?;
    Ok(edges
        .iter()
        .map(|e| EdgeOut {
            front: e.front.clone(),
            backend: e.backend.clone(),
            calls: e.calls,
            latency: if e.calls > 0.0 { e.time_ns as f64 / e.calls / 1000.0 } else { 0.0 },
            error_share: answered.get(&e.backend).map(|(t, err)| share(*err, *t)),
        })
        .collect())
}

pub fn dependencies(client: &Client, db: &str, p: &Params, now: u64) -> Result<DependenciesView, ViewError> {
    let range = p.range(now)?;
    let server = p.get("server").map(crate::params::parse_server).transpose()?;
    let run = |around| -> Result<Vec<EdgeOut>, ViewError> {
        let edges = query::edges(client, db, range, around)?;
        edges_out(client, db, range, edges)
    };
    Ok(match &server {
        Some((ip, port)) => DependenciesView {
            range,
            server: p.get("server").map(str::to_owned),
            callers: run(query::Around::To(ip, *port))?,
            callees: run(query::Around::From(ip, *port))?,
            edges: Vec::new(),
        },
        None => DependenciesView {
            range,
            server: None,
            callers: Vec::new(),
            callees: Vec::new(),
            edges: run(query::Around::All)?,
        },
    })
}

#[derive(Serialize)]
pub struct SensorsView {
    pub range: Range,
    pub sensors: Vec<query::SensorRow>,
    pub step: u64,
    /// Drops, frames not analysed, missing payload and export lag per step.
    pub health: Vec<query::HealthPoint>,
    pub losses: Vec<Range>,
}

pub fn sensors(client: &Client, db: &str, p: &Params, now: u64) -> Result<SensorsView, ViewError> {
    let range = p.range(now)?;
    let sensor = p.filter()?.sensor;
    let rows = query::row_seconds(client, db, range, &Filter::default())?.max(60);
    let step = query::whole_rows(query::step_for(range, Table::Level1, 120), rows);
    Ok(SensorsView {
        range,
        sensors: query::sensors(client, db, range)?,
        step,
        health: query::health(client, db, range, sensor.as_deref(), step)?,
        losses: query::losses(client, db, range, sensor.as_deref())?,
    })
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
