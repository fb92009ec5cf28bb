//! One typed description per SELECT: each expression added returns a handle
//! that later reads its own cells back, so the column list and the reading
//! of a row come from the same place and never rely on positions.

use super::{QueryError, Summary, Table};
use pastmon_clickhouse::Client;
use pastmon_model::histogram::Histogram;
use pastmon_model::Metric;
use serde_json::Value;

/// The expressions of one SELECT, in order.
#[derive(Default)]
pub(super) struct Columns {
    exprs: Vec<String>,
}

/// A column holding a number or a string.
#[derive(Clone, Copy)]
pub(super) struct Cell(usize);

/// A `sumMap` column: `[[keys], [values]]`.
#[derive(Clone, Copy)]
pub(super) struct Pairs(usize);

/// The five columns of a metric's summary: count, min, max, sum, histogram.
#[derive(Clone, Copy)]
pub(super) struct SummaryCells(usize);

impl Columns {
    pub(super) fn cell(&mut self, expr: impl Into<String>) -> Cell {
        self.exprs.push(expr.into());
        Cell(self.exprs.len() - 1)
    }

    pub(super) fn pairs(&mut self, expr: impl Into<String>) -> Pairs {
        self.exprs.push(expr.into());
        Pairs(self.exprs.len() - 1)
    }

    /// The summary of `metric` over the selected rows of table `t`.
    pub(super) fn summary(&mut self, t: Table, metric: Metric) -> SummaryCells {
        self.summary_of(t, metric, true)
    }

    /// The same, the histogram merged only when `histogram` (percentiles
    /// need it; merging it is most of a summary's cost): else it reads empty.
    pub(super) fn summary_of(&mut self, t: Table, metric: Metric, histogram: bool) -> SummaryCells {
        let m = metric.name();
        let first = self.exprs.len();
        self.exprs.extend([
            t.sum(&format!("{m}_count")),
            t.min(&format!("{m}_min")),
            t.max(&format!("{m}_max")),
            t.sum(&format!("{m}_sum")),
            if histogram { t.histogram(metric) } else { "([], [])".to_owned() },
        ]);
        SummaryCells(first)
    }

    /// The SELECT list.
    pub(super) fn list(&self) -> String {
        self.exprs.join(", ")
    }

    /// Runs `sql` (which selects `self.list()`) and checks each row's width.
    pub(super) fn fetch(&self, client: &Client, sql: &str) -> Result<Vec<Row>, QueryError> {
        let text = client.query(&format!("{sql} FORMAT JSONCompact"))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| QueryError::Answer(e.to_string()))?;
        let data = v.get("data").and_then(|d| d.as_array()).ok_or_else(|| QueryError::Answer("no data".into()))?;
        let width = self.exprs.len();
        data.iter()
            .map(|r| match r.as_array() {
                Some(cells) if cells.len() == width => Ok(Row(cells.clone())),
                _ => Err(QueryError::Answer(format!("a row of {width} cells expected, got {r}"))),
            })
            .collect()
    }
}

/// One row of an answer, read through the handles of its `Columns`.
pub(super) struct Row(Vec<Value>);

impl Row {
    /// A number cell (JSON formats quote 64-bit integers).
    pub(super) fn num(&self, c: Cell) -> u64 {
        num(&self.0[c.0])
    }

    /// A floating-point cell.
    pub(super) fn float(&self, c: Cell) -> f64 {
        let v = &self.0[c.0];
        v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or(0.0)
    }

    pub(super) fn text(&self, c: Cell) -> String {
        let v = &self.0[c.0];
        v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
    }

    pub(super) fn pairs(&self, c: Pairs) -> Vec<(u64, u64)> {
        pairs(&self.0[c.0])
    }

    pub(super) fn summary(&self, c: SummaryCells) -> Summary {
        let at = |i: usize| &self.0[c.0 + i];
        let histogram = Histogram::from_buckets(pairs(at(4)).into_iter().map(|(k, n)| (k as u16, n)));
        let count = num(at(0));
        Summary { count, min: if count == 0 { 0 } else { num(at(1)) }, max: num(at(2)), sum: num(at(3)), histogram }
    }
}

fn num(v: &Value) -> u64 {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or(0)
}

fn pairs(cell: &Value) -> Vec<(u64, u64)> {
    match cell.as_array().map(Vec::as_slice) {
        Some([keys, values]) => match (keys.as_array(), values.as_array()) {
            (Some(k), Some(v)) => k.iter().zip(v).map(|(k, v)| (num(k), num(v))).collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}
