//! What the console asks ClickHouse, and the one place SQL is written.
//!
//! Every value that reaches SQL is either validated against a closed set
//! (metrics, statistics, tables, plugins' names are checked as identifiers)
//! or quoted with `pastmon_clickhouse::quote`; times are integers.
//! The same statements run on ClickHouse 18.16 and modern versions: no
//! parameters, CTEs, window functions or `WITH FILL`.
//!
//! Level 1 rows are read with plain aggregates (`sum`, `sumMap`); the
//! rollups `level2_hour` and `level2_day` hold aggregate states, read with
//! the `-Merge` combinators. `Table` writes both forms, so every query below
//! works on all three.

use pastmon_clickhouse::{quote, ChError, Client};
use pastmon_common::SkipReason;
use pastmon_model::diagnosis::{Shares, PARTS};
use pastmon_model::histogram::{bucket_bounds, Histogram};
use pastmon_model::Metric;
use pastmon_model::Outcome;
use select::{Cell, Columns};
use serde::Serialize;
use std::collections::BTreeMap;

mod select;

/// A time frame, Unix seconds, `from` included, `to` excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Range {
    pub from: u64,
    pub to: u64,
}

/// The table a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Level1,
    /// Hourly per signature, without servers: what the Level 1 page reads.
    SignaturesHour,
    Level2Hour,
    Level2Day,
}

/// The finest key a query filters or groups by: it rules out the tables
/// that drop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Detail {
    Signature,
    Server,
    /// Clients live in level1 only.
    Client,
}

/// Seconds of the longest range read from the hourly rollups.
const HOURLY_UP_TO: u64 = 62 * 86_400;

impl Table {
    /// The table for a chart over a range, where resolution matters: level1
    /// (the sensor's intervals) up to two days, hourly rollups up to 62 days,
    /// daily beyond. A chart reads one selection's rows by the primary key;
    /// the rollups are partitioned by day and month, so a range reads only
    /// its own partitions (measured: `cargo xtask bench web`).
    pub fn for_chart(r: Range, detail: Detail) -> Table {
        match r.to.saturating_sub(r.from) {
            _ if detail == Detail::Client => Table::Level1,
            d if d <= 2 * 86_400 => Table::Level1,
            d if d <= HOURLY_UP_TO => Table::Level2Hour,
            _ => Table::Level2Day,
        }
    }

    /// The table for totals over a range (the Level 1 page, servers of a
    /// signature): these read every signature's rows, so the hourly rollups
    /// take over beyond three hours, and the range widens to whole hours.
    /// They hold 12 intervals to a row and no clients; `signatures_hour`
    /// no servers either, 10× fewer rows again on 10 servers.
    pub fn for_totals(r: Range, detail: Detail) -> Table {
        match r.to.saturating_sub(r.from) {
            _ if detail == Detail::Client => Table::Level1,
            d if d <= 3 * 3_600 => Table::Level1,
            d if d <= HOURLY_UP_TO && detail == Detail::Signature => Table::SignaturesHour,
            d if d <= HOURLY_UP_TO => Table::Level2Hour,
            _ => Table::Level2Day,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::Level1 => "level1",
            Table::SignaturesHour => "signatures_hour",
            Table::Level2Hour => "level2_hour",
            Table::Level2Day => "level2_day",
        }
    }

    /// Seconds per row of the table at least (level1: the sensor's interval).
    pub fn min_step(self) -> u64 {
        match self {
            Table::Level1 => 60,
            Table::SignaturesHour | Table::Level2Hour => 3_600,
            Table::Level2Day => 86_400,
        }
    }

    /// The range widened to whole rows of the table (rollup rows are whole
    /// hours or days).
    pub fn align(self, r: Range) -> Range {
        let step = self.min_step();
        Range { from: r.from / step * step, to: r.to.div_ceil(step) * step }
    }

    /// A row's own value of a summed column (rollups hold states).
    fn value(self, column: &str) -> String {
        match self {
            Table::Level1 => column.to_owned(),
            _ => format!("finalizeAggregation({column})"),
        }
    }

    fn sum(self, column: &str) -> String {
        match self {
            Table::Level1 => format!("sum({column})"),
            _ => format!("sumMerge({column})"),
        }
    }

    fn min(self, column: &str) -> String {
        match self {
            Table::Level1 => format!("min({column})"),
            _ => format!("minMerge({column})"),
        }
    }

    fn max(self, column: &str) -> String {
        match self {
            Table::Level1 => format!("max({column})"),
            _ => format!("maxMerge({column})"),
        }
    }

    /// The merged histogram of a metric: (buckets, counts).
    fn histogram(self, metric: Metric) -> String {
        let m = metric.name();
        match self {
            Table::Level1 => format!("sumMap({m}_buckets, {m}_counts)"),
            _ => format!("sumMapMerge({m}_hist)"),
        }
    }
}

/// A statistic of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    Count,
    Min,
    Avg,
    Max,
    P50,
    P95,
    P99,
    /// Values per second: the count over the step, so a chart's height
    /// does not depend on its step.
    Rate,
}

impl Stat {
    pub const ALL: [Stat; 8] =
        [Stat::Count, Stat::Rate, Stat::Min, Stat::Avg, Stat::Max, Stat::P50, Stat::P95, Stat::P99];

    pub fn name(self) -> &'static str {
        match self {
            Stat::Count => "count",
            Stat::Min => "min",
            Stat::Avg => "avg",
            Stat::Max => "max",
            Stat::P50 => "p50",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::Rate => "rate",
        }
    }

    pub fn parse(s: &str) -> Option<Stat> {
        Stat::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Percentiles come from the merged histogram; the rest from sums.
    pub fn needs_histogram(self) -> bool {
        matches!(self, Stat::P50 | Stat::P95 | Stat::P99)
    }
}

pub fn metric_by_name(s: &str) -> Option<Metric> {
    Metric::ALL.into_iter().find(|m| m.name() == s)
}

/// Which rows: every filter is optional and ANDed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    pub plugin: Option<String>,
    pub signature: Option<String>,
    pub server_ip: Option<String>,
    pub server_port: Option<u16>,
    /// Level 1 only (the rollups keep no clients).
    pub client: Option<String>,
    pub sensor: Option<String>,
}

impl Filter {
    pub fn detail(&self) -> Detail {
        if self.client.is_some() {
            Detail::Client
        } else if self.server_ip.is_some() || self.server_port.is_some() {
            Detail::Server
        } else {
            Detail::Signature
        }
    }

    fn sql(&self, range: Range) -> String {
        let mut w =
            format!("interval_start >= toDateTime({}) AND interval_start < toDateTime({})", range.from, range.to);
        for (column, value) in [
            ("plugin", &self.plugin),
            ("signature", &self.signature),
            ("server_ip", &self.server_ip),
            ("client", &self.client),
            ("sensor", &self.sensor),
        ] {
            if let Some(v) = value {
                w.push_str(&format!(" AND {column} = {}", quote(v)));
            }
        }
        if let Some(p) = self.server_port {
            w.push_str(&format!(" AND server_port = {p}"));
        }
        w
    }
}

/// Count, min, max, sum and histogram of one metric over some rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub min: u64,
    pub max: u64,
    pub sum: u64,
    #[serde(skip)]
    pub histogram: Histogram,
}

impl Summary {
    /// Adds another summary of the same metric.
    pub fn merge(&mut self, other: &Summary) {
        if other.count == 0 {
            return;
        }
        self.min = if self.count == 0 { other.min } else { self.min.min(other.min) };
        self.count += other.count;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.histogram.merge(&other.histogram);
    }

    /// The statistic; a rate needs the step, so it is `per_second`.
    pub fn stat(&self, stat: Stat) -> Option<f64> {
        self.per_second(stat, 1)
    }

    /// The statistic over a step of `seconds` (only a rate depends on it).
    pub fn per_second(&self, stat: Stat, seconds: u64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match stat {
            Stat::Count => self.count as f64,
            Stat::Rate => self.count as f64 / seconds.max(1) as f64,
            Stat::Min => self.min as f64,
            Stat::Max => self.max as f64,
            Stat::Avg => self.sum as f64 / self.count as f64,
            Stat::P50 => self.histogram.quantile(0.50, self.min, self.max) as f64,
            Stat::P95 => self.histogram.quantile(0.95, self.min, self.max) as f64,
            Stat::P99 => self.histogram.quantile(0.99, self.min, self.max) as f64,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Invalid(String),
    #[error("ClickHouse: {0}")]
    Database(#[from] ChError),
    #[error("unexpected answer from ClickHouse: {0}")]
    Answer(String),
}

/// Outcomes counted as errors on the Level 1 page: server errors, resets,
/// timeouts and refusals (the `outcome_*` columns).
const ERROR_OUTCOMES: [&str; 7] = [
    "outcome_5xx",
    "outcome_servfail",
    "outcome_reset",
    "outcome_no_response",
    "outcome_incomplete",
    "outcome_no",
    "outcome_error",
];

/// Outcomes that are the client's error: a request the server rejected as
/// wrong (HTTP and SMTP 4xx, IMAP BAD, DNS FORMERR).
const CLIENT_ERROR_OUTCOMES: [&str; 3] = ["outcome_4xx", "outcome_bad", "outcome_formerr"];

/// The sum of some outcomes' counts.
fn outcomes_expr(t: Table, outcomes: &[&str]) -> String {
    outcomes.iter().map(|c| t.sum(c)).collect::<Vec<_>>().join(" + ")
}

fn errors_expr(t: Table) -> String {
    outcomes_expr(t, &ERROR_OUTCOMES)
}

/// One signature on the Level 1 page.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureRow {
    pub plugin: String,
    pub signature: String,
    pub transactions: u64,
    /// Server errors, resets, no response (`ERROR_OUTCOMES`).
    pub errors: u64,
    /// Requests rejected as the client's error (`CLIENT_ERROR_OUTCOMES`).
    pub client_errors: u64,
    pub first_response: Summary,
    pub last_response: Summary,
    /// Where its time went, from the parts' sums (none without any).
    pub shares: Option<Shares>,
    /// Transactions per step over the range, oldest first.
    pub sparkline: Vec<u64>,
}

/// The longest interval the sensors wrote in the range's level1 rows
/// (their `interval_seconds`; 0 without rows): a chart of level1 is never
/// finer than its rows.
pub fn row_seconds(client: &Client, db: &str, range: Range, filter: &Filter) -> Result<u64, QueryError> {
    let mut c = Columns::default();
    let seconds = c.cell("max(interval_seconds)");
    let sql = format!("SELECT {} FROM {db}.level1 WHERE {}", c.list(), filter.sql(range));
    Ok(c.fetch(client, &sql)?.first().map_or(0, |r| r.num(seconds)))
}

/// Steps of a range for a chart of about `points` points, aligned to the
/// table's rows.
pub fn step_for(range: Range, table: Table, points: u64) -> u64 {
    let raw = range.to.saturating_sub(range.from).div_ceil(points.max(1));
    let min = table.min_step();
    raw.max(min).div_ceil(min) * min
}

/// `step` widened to whole rows of `rows` seconds: a chart is never finer
/// than what is stored.
pub fn whole_rows(step: u64, rows: u64) -> u64 {
    step.div_ceil(rows.max(1)) * rows.max(1)
}

fn bucket_expr(step: u64) -> String {
    format!("intDiv(toUInt32(interval_start), {step}) * {step}")
}

/// Signatures the Level 1 summary lists at most (the sensors cap names per
/// plugin; this bounds a response whatever the database holds).
pub const MAX_SIGNATURES: usize = 20_000;

/// The Level 1 summary: every signature seen in the range, with its
/// transactions per step for the sparkline, in one pass over the rows.
pub fn signatures(client: &Client, db: &str, range: Range, filter: &Filter) -> Result<Vec<SignatureRow>, QueryError> {
    let t = Table::for_totals(range, filter.detail());
    let range = t.align(range);
    let mut step = step_for(range, t, 48);
    if t == Table::Level1 {
        // Never finer than the sensors' intervals: a saw-tooth otherwise.
        let rows = row_seconds(client, db, range, filter)?.max(t.min_step());
        step = whole_rows(step, rows);
    }
    let mut c = Columns::default();
    let (plugin, signature) = (c.cell("plugin"), c.cell("signature"));
    let transactions = c.cell(t.sum("transactions"));
    let errors = c.cell(errors_expr(t));
    let client_errors = c.cell(outcomes_expr(t, &CLIENT_ERROR_OUTCOMES));
    let first_response = c.summary(t, Metric::FirstResponse);
    let last_response = c.summary(t, Metric::LastResponse);
    let parts: Vec<(Metric, Cell)> =
        PARTS.iter().map(|(m, _)| (*m, c.cell(t.sum(&format!("{}_sum", m.name()))))).collect();
    let per_step =
        c.pairs(format!("sumMap([toUInt32({})], [toUInt64({})])", bucket_expr(step), t.value("transactions")));
    let sql = format!(
        "SELECT {} FROM {db}.{} WHERE {} GROUP BY plugin, signature ORDER BY plugin, signature LIMIT {MAX_SIGNATURES}",
        c.list(),
        t.name(),
        filter.sql(range)
    );
    let first = range.from / step * step;
    let slots = range.to.saturating_sub(first).div_ceil(step).max(1) as usize;
    Ok(c.fetch(client, &sql)?
        .into_iter()
        .map(|r| {
            let mut sparkline = vec![0; slots];
            for (t, n) in r.pairs(per_step) {
                if let Some(slot) = sparkline.get_mut((t.saturating_sub(first) / step) as usize) {
                    *slot += n;
                }
            }
            SignatureRow {
                plugin: r.text(plugin),
                signature: r.text(signature),
                transactions: r.num(transactions),
                errors: r.num(errors),
                client_errors: r.num(client_errors),
                first_response: r.summary(first_response),
                last_response: r.summary(last_response),
                shares: Shares::from_sums(|m| parts.iter().find(|(p, _)| *p == m).map_or(0, |(_, cell)| r.num(*cell))),
                sparkline,
            }
        })
        .collect())
}

/// Backends a signature's view lists at most.
pub const MAX_BACKENDS: usize = 20;

/// A backend the selected front transactions waited on (the sensor's
/// pairing, `backends` table), with the front's server time over the same
/// level1 rows.
#[derive(Clone, Debug, Serialize)]
pub struct BackendRow {
    pub plugin: String,
    pub signature: String,
    /// `ip:port`.
    pub server: String,
    pub calls: f64,
    pub time_ns: u64,
    /// Its time per step (start, ns): what correlates with the front's.
    pub per_step: Vec<(u64, u64)>,
}

/// The front's transactions and server time, and its backends by time.
pub struct Backends {
    pub transactions: u64,
    pub server_time_ns: u64,
    /// The front's server time per step (start, ns).
    pub per_step: Vec<(u64, u64)>,
    pub rows: Vec<BackendRow>,
}

/// The backends of the filtered front (a signature, maybe at one server)
/// over the range, with both sides' time per `step`; none for a client's
/// view (calls are not kept by client).
pub fn backends(client: &Client, db: &str, range: Range, filter: &Filter, step: u64) -> Result<Backends, QueryError> {
    if filter.detail() == Detail::Client {
        return Ok(Backends { transactions: 0, server_time_ns: 0, per_step: Vec::new(), rows: Vec::new() });
    }
    let step = step.max(60);
    let per_step = |column: &str| format!("sumMap([toUInt32({})], [toUInt64({column})])", bucket_expr(step));
    let mut front = Columns::default();
    let transactions = front.cell("sum(transactions)");
    let server_time = front.cell("sum(server_time_sum)");
    let front_steps = front.pairs(per_step("server_time_sum"));
    let sql = format!("SELECT {} FROM {db}.level1 WHERE {}", front.list(), filter.sql(range));
    let totals = front.fetch(client, &sql)?;
    let mut c = Columns::default();
    let (plugin, signature) = (c.cell("backend_plugin"), c.cell("backend_signature"));
    let server = c.cell("concat(backend_ip, ':', toString(backend_port)) AS b");
    let calls = c.cell("sum(calls)");
    let time = c.cell("sum(backend_time_sum) AS time");
    let steps = c.pairs(per_step("backend_time_sum"));
    let sql = format!(
        "SELECT {} FROM {db}.backends WHERE {} GROUP BY backend_plugin, backend_signature, b \
         ORDER BY time DESC, backend_plugin, backend_signature, b LIMIT {MAX_BACKENDS}",
        c.list(),
        filter.sql(range)
    );
    let rows = c
        .fetch(client, &sql)?
        .into_iter()
        .map(|r| BackendRow {
            plugin: r.text(plugin),
            signature: r.text(signature),
            server: r.text(server),
            calls: r.float(calls),
            time_ns: r.num(time),
            per_step: r.pairs(steps),
        })
        .collect();
    let total = totals.first();
    Ok(Backends {
        transactions: total.map_or(0, |r| r.num(transactions)),
        server_time_ns: total.map_or(0, |r| r.num(server_time)),
        per_step: total.map_or_else(Vec::new, |r| r.pairs(front_steps)),
        rows,
    })
}

/// One end of a call: a signature at a server (`ip:port`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct End {
    pub plugin: String,
    pub signature: String,
    pub server: String,
}

/// Calls from a front's transactions to a backend, as the sensor paired
/// them.
#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    pub front: End,
    pub backend: End,
    pub calls: f64,
    pub time_ns: u64,
}

/// Edges listed at most.
pub const MAX_EDGES: usize = 200;

/// Which edges: those of one server, as the caller or the called, or all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Around<'a> {
    /// Calls this server made (`ip`, maybe only from one port).
    From(&'a str, Option<u16>),
    /// Calls made to this server.
    To(&'a str, Option<u16>),
    All,
}

/// The calls of the range, most time first.
pub fn edges(client: &Client, db: &str, range: Range, around: Around) -> Result<Vec<Edge>, QueryError> {
    let mut w = Filter::default().sql(range);
    let mut at = |ip_column: &str, port_column: &str, ip: &str, port: Option<u16>| {
        w.push_str(&format!(" AND {ip_column} = {}", quote(ip)));
        if let Some(p) = port {
            w.push_str(&format!(" AND {port_column} = {p}"));
        }
    };
    match around {
        Around::From(ip, port) => at("server_ip", "server_port", ip, port),
        Around::To(ip, port) => at("backend_ip", "backend_port", ip, port),
        Around::All => {}
    }
    let mut c = Columns::default();
    let (plugin, signature) = (c.cell("plugin"), c.cell("signature"));
    let server = c.cell("concat(server_ip, ':', toString(server_port)) AS f");
    let (bplugin, bsignature) = (c.cell("backend_plugin"), c.cell("backend_signature"));
    let bserver = c.cell("concat(backend_ip, ':', toString(backend_port)) AS b");
    let (calls, time) = (c.cell("sum(calls)"), c.cell("sum(backend_time_sum) AS time"));
    let sql = format!(
        "SELECT {} FROM {db}.backends WHERE {w} GROUP BY plugin, signature, f, backend_plugin, backend_signature, b \
         ORDER BY time DESC, plugin, signature, f, backend_plugin, backend_signature, b LIMIT {MAX_EDGES}",
        c.list()
    );
    Ok(c.fetch(client, &sql)?
        .into_iter()
        .map(|r| Edge {
            front: End { plugin: r.text(plugin), signature: r.text(signature), server: r.text(server) },
            backend: End { plugin: r.text(bplugin), signature: r.text(bsignature), server: r.text(bserver) },
            calls: r.float(calls),
            time_ns: r.num(time),
        })
        .collect())
}

/// Transactions and server errors of the signatures some servers answer
/// (by `ip`), per signature and server: the far side of edges.
pub fn answered(
    client: &Client,
    db: &str,
    range: Range,
    ips: &[&str],
) -> Result<BTreeMap<End, (u64, u64)>, QueryError> {
    if ips.is_empty() {
        return Ok(BTreeMap::new());
    }
    let t = Table::for_totals(range, Detail::Server);
    let range = t.align(range);
    let list: Vec<String> = ips.iter().map(|ip| quote(ip)).collect();
    let mut c = Columns::default();
    let (plugin, signature) = (c.cell("plugin"), c.cell("signature"));
    let server = c.cell("concat(server_ip, ':', toString(server_port)) AS s");
    let (transactions, errors) = (c.cell(t.sum("transactions")), c.cell(errors_expr(t)));
    let sql = format!(
        "SELECT {} FROM {db}.{} WHERE {} AND server_ip IN ({}) GROUP BY plugin, signature, s LIMIT {MAX_SIGNATURES}",
        c.list(),
        t.name(),
        Filter::default().sql(range),
        list.join(", ")
    );
    Ok(c.fetch(client, &sql)?
        .into_iter()
        .map(|r| {
            let end = End { plugin: r.text(plugin), signature: r.text(signature), server: r.text(server) };
            (end, (r.num(transactions), r.num(errors)))
        })
        .collect())
}

/// What a drill-down groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Server,
    Client,
}

/// How a drill-down ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Most transactions first.
    Count,
    /// Slowest average of the metric first.
    Slow,
}

#[derive(Clone, Debug, Serialize)]
pub struct DrillRow {
    /// `ip:port` for servers, the client (address or prefix) for clients.
    pub key: String,
    pub transactions: u64,
    pub errors: u64,
    pub metric: Summary,
}

/// What a drill-down shows: the top `limit` servers or clients by `order`
/// of `metric`.
#[derive(Clone, Copy, Debug)]
pub struct DrillSpec {
    pub by: By,
    pub metric: Metric,
    pub order: Order,
    pub limit: u32,
}

impl DrillSpec {
    /// The table a drill-down reads: totals, with the servers or clients
    /// it groups by.
    pub fn table(&self, range: Range, filter: &Filter) -> Table {
        let detail = match self.by {
            By::Server => Detail::Server,
            By::Client => Detail::Client,
        };
        Table::for_totals(range, detail.max(filter.detail()))
    }
}

/// The top servers or clients of the filtered rows.
pub fn drill(
    client: &Client,
    db: &str,
    range: Range,
    filter: &Filter,
    spec: DrillSpec,
) -> Result<Vec<DrillRow>, QueryError> {
    let DrillSpec { by, metric, order, limit } = spec;
    let t = spec.table(range, filter);
    let range = t.align(range);
    let key = match by {
        By::Server => "concat(server_ip, ':', toString(server_port))",
        By::Client => "client",
    };
    let m = metric.name();
    let order_by = match order {
        Order::Count => format!("{} DESC", t.sum("transactions")),
        Order::Slow => format!("{} / greatest({}, 1) DESC", t.sum(&format!("{m}_sum")), t.sum(&format!("{m}_count"))),
    };
    let mut c = Columns::default();
    let k = c.cell(format!("{key} AS k"));
    let transactions = c.cell(t.sum("transactions"));
    let errors = c.cell(errors_expr(t));
    let summary = c.summary(t, metric);
    let sql = format!(
        "SELECT {} FROM {db}.{} WHERE {} GROUP BY k ORDER BY {order_by}, k LIMIT {}",
        c.list(),
        t.name(),
        filter.sql(range),
        limit.clamp(1, 1000)
    );
    Ok(c.fetch(client, &sql)?
        .into_iter()
        .map(|r| DrillRow {
            key: r.text(k),
            transactions: r.num(transactions),
            errors: r.num(errors),
            metric: r.summary(summary),
        })
        .collect())
}

/// One point of a time series: the step's start and the statistic (none
/// when the step has no values).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub t: u64,
    pub v: Option<f64>,
}

/// Some metrics per step: a series of a statistic each, and each metric's
/// summary over the whole range (merged from the same rows).
pub struct Series {
    pub points: Vec<Vec<Point>>,
    pub totals: Vec<Summary>,
}

/// A statistic of some metrics per step over the range, one series per
/// metric, read in one pass.
pub fn series(
    client: &Client,
    db: &str,
    range: Range,
    filter: &Filter,
    metrics: &[Metric],
    stat: Stat,
    step: u64,
) -> Result<Series, QueryError> {
    let t = Table::for_chart(range, filter.detail());
    let range = t.align(range);
    let step = step.max(t.min_step());
    let mut c = Columns::default();
    let start = c.cell(format!("{} AS t", bucket_expr(step)));
    let summaries: Vec<_> = metrics.iter().map(|m| c.summary_of(t, *m, stat.needs_histogram())).collect();
    let sql = format!("SELECT {} FROM {db}.{} WHERE {} GROUP BY t ORDER BY t", c.list(), t.name(), filter.sql(range));
    let mut by_step: BTreeMap<u64, Vec<Summary>> = BTreeMap::new();
    for r in c.fetch(client, &sql)? {
        by_step.insert(r.num(start), summaries.iter().map(|s| r.summary(*s)).collect());
    }
    let first = range.from / step * step;
    let points = (0..metrics.len())
        .map(|i| {
            (first..range.to)
                .step_by(step as usize)
                .map(|t| Point { t, v: by_step.get(&t).and_then(|s| s[i].per_second(stat, step)) })
                .collect()
        })
        .collect();
    let mut totals = vec![Summary::default(); metrics.len()];
    for summaries in by_step.values() {
        for (total, s) in totals.iter_mut().zip(summaries) {
            total.merge(s);
        }
    }
    Ok(Series { points, totals })
}

/// A metric's merged histogram per step: the columns of a heatmap.
pub fn histograms(
    client: &Client,
    db: &str,
    range: Range,
    filter: &Filter,
    metric: Metric,
    step: u64,
) -> Result<Vec<(u64, Histogram)>, QueryError> {
    let t = Table::for_chart(range, filter.detail());
    let range = t.align(range);
    let step = step.max(t.min_step());
    let mut c = Columns::default();
    let start = c.cell(format!("{} AS t", bucket_expr(step)));
    let summary = c.summary(t, metric);
    let sql = format!("SELECT {} FROM {db}.{} WHERE {} GROUP BY t ORDER BY t", c.list(), t.name(), filter.sql(range));
    Ok(c.fetch(client, &sql)?.into_iter().map(|r| (r.num(start), r.summary(summary).histogram)).collect())
}

/// Times the sensors lost frames or payload in the range (merged where
/// they touch): what a chart shades, since its numbers there may be low.
pub fn losses(client: &Client, db: &str, range: Range, sensor: Option<&str>) -> Result<Vec<Range>, QueryError> {
    let mut c = Columns::default();
    let (start, seconds) = (c.cell("toUInt32(interval_start) AS s"), c.cell("interval_seconds"));
    let filter = Filter { sensor: sensor.map(str::to_owned), ..Filter::default() };
    let sql = format!(
        "SELECT {} FROM {db}.sensors WHERE {} AND (dropped > 0 OR lost_bytes > 0) ORDER BY s LIMIT {MAX_LOSSES}",
        c.list(),
        filter.sql(range)
    );
    let mut out: Vec<Range> = Vec::new();
    for r in c.fetch(client, &sql)? {
        let (from, to) = (r.num(start), r.num(start) + r.num(seconds).max(1));
        match out.last_mut() {
            Some(last) if from <= last.to => last.to = last.to.max(to),
            _ => out.push(Range { from, to }),
        }
    }
    Ok(out)
}

/// Loss intervals read at most (beyond, a chart shades the first ones).
const MAX_LOSSES: usize = 2_000;

/// Capture health per step, all sensors (or the filtered one) together.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HealthPoint {
    pub t: u64,
    pub packets: u64,
    pub dropped: u64,
    pub skipped: u64,
    pub lost_bytes: u64,
    pub max_export_lag_seconds: u64,
}

pub fn health(
    client: &Client,
    db: &str,
    range: Range,
    sensor: Option<&str>,
    step: u64,
) -> Result<Vec<HealthPoint>, QueryError> {
    let skipped: Vec<String> = skip_columns().iter().map(|c| format!("sum({c})")).collect();
    let mut c = Columns::default();
    let start = c.cell(format!("{} AS t", bucket_expr(step)));
    let (packets, dropped) = (c.cell("sum(packets)"), c.cell("sum(dropped)"));
    let (skipped, lost, lag) =
        (c.cell(skipped.join(" + ")), c.cell("sum(lost_bytes)"), c.cell("max(export_lag_seconds)"));
    let filter = Filter { sensor: sensor.map(str::to_owned), ..Filter::default() };
    let sql = format!("SELECT {} FROM {db}.sensors WHERE {} GROUP BY t ORDER BY t", c.list(), filter.sql(range));
    let rows: BTreeMap<u64, HealthPoint> = c
        .fetch(client, &sql)?
        .into_iter()
        .map(|r| {
            let t = r.num(start);
            let point = HealthPoint {
                t,
                packets: r.num(packets),
                dropped: r.num(dropped),
                skipped: r.num(skipped),
                lost_bytes: r.num(lost),
                max_export_lag_seconds: r.num(lag),
            };
            (t, point)
        })
        .collect();
    let first = range.from / step * step;
    Ok((first..range.to)
        .step_by(step as usize)
        .map(|t| rows.get(&t).cloned().unwrap_or(HealthPoint { t, ..HealthPoint::default() }))
        .collect())
}

/// One signature's transactions and a metric's summary.
#[derive(Clone, Debug)]
pub struct SignatureSummary {
    pub plugin: String,
    pub signature: String,
    pub transactions: u64,
    pub metric: Summary,
}

/// A metric per signature over the range (a comparison's side).
pub fn by_signature(
    client: &Client,
    db: &str,
    range: Range,
    filter: &Filter,
    metric: Metric,
) -> Result<Vec<SignatureSummary>, QueryError> {
    let t = Table::for_totals(range, filter.detail());
    let range = t.align(range);
    let mut c = Columns::default();
    let (plugin, signature) = (c.cell("plugin"), c.cell("signature"));
    let transactions = c.cell(t.sum("transactions"));
    let summary = c.summary(t, metric);
    let sql = format!(
        "SELECT {} FROM {db}.{} WHERE {} GROUP BY plugin, signature ORDER BY plugin, signature LIMIT {MAX_SIGNATURES}",
        c.list(),
        t.name(),
        filter.sql(range)
    );
    Ok(c.fetch(client, &sql)?
        .into_iter()
        .map(|r| SignatureSummary {
            plugin: r.text(plugin),
            signature: r.text(signature),
            transactions: r.num(transactions),
            metric: r.summary(summary),
        })
        .collect())
}

/// The filtered transactions, their errors, and their count by outcome.
#[derive(Clone, Debug, Default)]
pub struct Outcomes {
    pub transactions: u64,
    /// `ERROR_OUTCOMES` and `CLIENT_ERROR_OUTCOMES` summed.
    pub errors: u64,
    pub client_errors: u64,
    /// In the order of `Outcome::LABELS`, those with none left out.
    pub by_label: Vec<(String, u64)>,
}

pub fn outcomes(client: &Client, db: &str, range: Range, filter: &Filter) -> Result<Outcomes, QueryError> {
    let t = Table::for_totals(range, filter.detail());
    let range = t.align(range);
    let mut c = Columns::default();
    let transactions = c.cell(t.sum("transactions"));
    let (errors, client_errors) = (c.cell(errors_expr(t)), c.cell(outcomes_expr(t, &CLIENT_ERROR_OUTCOMES)));
    let cells: Vec<(&str, Cell)> =
        Outcome::LABELS.iter().map(|l| (*l, c.cell(t.sum(&format!("outcome_{}", l.to_ascii_lowercase()))))).collect();
    let sql = format!("SELECT {} FROM {db}.{} WHERE {}", c.list(), t.name(), filter.sql(range));
    let rows = c.fetch(client, &sql)?;
    let Some(r) = rows.first() else { return Ok(Outcomes::default()) };
    Ok(Outcomes {
        transactions: r.num(transactions),
        errors: r.num(errors),
        client_errors: r.num(client_errors),
        by_label: cells.iter().map(|(l, cell)| ((*l).to_owned(), r.num(*cell))).filter(|(_, n)| *n > 0).collect(),
    })
}

/// The metric over the whole range: its summary and merged histogram.
pub fn summary(
    client: &Client,
    db: &str,
    range: Range,
    filter: &Filter,
    metric: Metric,
) -> Result<Summary, QueryError> {
    Ok(summaries(client, db, range, filter, &[metric], true)?.pop().unwrap_or_default())
}

/// Some metrics over the whole range, in one pass: a summary each, with
/// its histogram if `histograms`.
pub fn summaries(
    client: &Client,
    db: &str,
    range: Range,
    filter: &Filter,
    metrics: &[Metric],
    histograms: bool,
) -> Result<Vec<Summary>, QueryError> {
    let t = Table::for_chart(range, filter.detail());
    let mut c = Columns::default();
    let cells: Vec<_> = metrics.iter().map(|m| c.summary_of(t, *m, histograms)).collect();
    let sql = format!("SELECT {} FROM {db}.{} WHERE {}", c.list(), t.name(), filter.sql(range));
    let rows = c.fetch(client, &sql)?;
    Ok(cells.iter().map(|cell| rows.first().map(|r| r.summary(*cell)).unwrap_or_default()).collect())
}

/// A histogram bucket for display: `[lo, hi)` in the metric's unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub lo: u64,
    pub hi: u64,
    pub count: u64,
}

pub fn buckets(h: &Histogram) -> Vec<Bucket> {
    h.buckets()
        .iter()
        .map(|&(b, count)| {
            let (lo, hi) = bucket_bounds(b);
            Bucket { lo, hi, count }
        })
        .collect()
}

/// The first and last interval any sensor wrote (Unix seconds), from the
/// small `sensors` table; none in an empty database.
pub fn data_span(client: &Client, db: &str) -> Result<Option<Range>, QueryError> {
    let mut c = Columns::default();
    let (n, first, last) =
        (c.cell("count()"), c.cell("toUInt32(min(interval_start))"), c.cell("toUInt32(max(interval_start))"));
    let rows = c.fetch(client, &format!("SELECT {} FROM {db}.sensors", c.list()))?;
    Ok(rows.first().filter(|r| r.num(n) > 0).map(|r| Range { from: r.num(first), to: r.num(last) }))
}

/// Capture health of the sensors over the range.
#[derive(Clone, Debug, Serialize)]
pub struct SensorRow {
    pub sensor: String,
    pub version: String,
    pub intervals: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Frames the capture lost before analysis (socket drops, full rings).
    pub dropped: u64,
    pub skipped: u64,
    pub flows: u64,
    pub transactions: u64,
    pub lost_bytes: u64,
    pub max_export_lag_seconds: u64,
    pub last_interval: u64,
}

pub fn sensors(client: &Client, db: &str, range: Range) -> Result<Vec<SensorRow>, QueryError> {
    let skipped: Vec<String> = skip_columns().iter().map(|c| format!("sum({c})")).collect();
    let mut c = Columns::default();
    let sensor = c.cell("sensor");
    let version = c.cell("any(version)");
    let intervals = c.cell("count()");
    let packets = c.cell("sum(packets)");
    let bytes = c.cell("sum(bytes)");
    let dropped = c.cell("sum(dropped)");
    let skipped = c.cell(skipped.join(" + "));
    let flows = c.cell("sum(flows)");
    let transactions = c.cell("sum(transactions)");
    let lost_bytes = c.cell("sum(lost_bytes)");
    let lag = c.cell("max(export_lag_seconds)");
    let last = c.cell("toUInt32(max(interval_start))");
    let sql = format!(
        "SELECT {} FROM {db}.sensors WHERE {} GROUP BY sensor ORDER BY sensor",
        c.list(),
        Filter::default().sql(range)
    );
    Ok(c.fetch(client, &sql)?
        .into_iter()
        .map(|r| SensorRow {
            sensor: r.text(sensor),
            version: r.text(version),
            intervals: r.num(intervals),
            packets: r.num(packets),
            bytes: r.num(bytes),
            dropped: r.num(dropped),
            skipped: r.num(skipped),
            flows: r.num(flows),
            transactions: r.num(transactions),
            lost_bytes: r.num(lost_bytes),
            max_export_lag_seconds: r.num(lag),
            last_interval: r.num(last),
        })
        .collect())
}

/// The `skipped_*` columns of `sensors`, one per skip reason.
fn skip_columns() -> Vec<String> {
    SkipReason::ALL.iter().map(|r| format!("skipped_{}", r.name())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_the_range() {
        let r = |days: u64| Range { from: 0, to: days * 86_400 };
        let hours = |h: u64| Range { from: 0, to: h * 3_600 };
        assert_eq!(Table::for_chart(r(2), Detail::Signature), Table::Level1);
        assert_eq!(Table::for_chart(r(3), Detail::Server), Table::Level2Hour);
        assert_eq!(Table::for_chart(r(30), Detail::Signature), Table::Level2Hour);
        assert_eq!(Table::for_chart(r(30), Detail::Client), Table::Level1);
        assert_eq!(Table::for_chart(r(400), Detail::Signature), Table::Level2Day);
        assert_eq!(Table::for_totals(hours(3), Detail::Signature), Table::Level1);
        assert_eq!(Table::for_totals(hours(4), Detail::Signature), Table::SignaturesHour);
        assert_eq!(Table::for_totals(hours(4), Detail::Server), Table::Level2Hour);
        assert_eq!(Table::for_totals(r(62), Detail::Signature), Table::SignaturesHour);
        assert_eq!(Table::for_totals(r(63), Detail::Signature), Table::Level2Day);
        assert_eq!(Table::for_totals(r(63), Detail::Client), Table::Level1);
        let server = Filter { server_port: Some(80), ..Filter::default() };
        assert_eq!(server.detail(), Detail::Server);
    }

    #[test]
    fn hostile_filter_values_are_quoted() {
        let f = Filter { signature: Some("x' OR 1=1 --\\".into()), ..Filter::default() };
        let sql = f.sql(Range { from: 1, to: 2 });
        assert!(sql.ends_with("signature = 'x\\' OR 1=1 --\\\\'"), "{sql}");
    }

    #[test]
    fn steps_are_whole_rows() {
        let range = Range { from: 0, to: 86_400 };
        assert_eq!(step_for(range, Table::Level1, 48), 1_800);
        assert_eq!(step_for(range, Table::Level2Hour, 48), 3_600);
        assert_eq!(Table::Level2Hour.align(Range { from: 3_599, to: 3_601 }), Range { from: 0, to: 7_200 });
        assert_eq!(step_for(Range { from: 0, to: 600 }, Table::Level1, 48), 60);
    }
}
