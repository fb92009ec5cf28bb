//! Aggregation: transactions → per-interval, per-key statistics.
//!
//! A transaction counts in the interval (aligned to the Unix epoch, so to the
//! wall clock) where its request started. The key is plugin, signature,
//! server address and port, and the client at the configured granularity.
//! Each metric keeps count, min, max, sum and a histogram; all of them merge
//! exactly, so the result of N workers equals that of one.
//!
//! Memory is bounded: past `max_keys` open keys a worker folds the client
//! out of new keys (client = none) and counts it.
//!
//! A row also keeps, until its interval closes, when each of its
//! transactions waited on the server and when each one ran, with its exact
//! client: what `backends` pairs calls with. At most `SPANS_PER_KEY` of
//! them per key a worker may keep; past that they are counted, not kept.

use crate::decode::Addr;
use crate::transaction::{Metric, Transaction, TransactionSink};
use pastmon_model::histogram::Histogram;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How clients appear in aggregation keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientGranularity {
    Address,
    /// Clients grouped by network prefix (IPv4 length, IPv6 length).
    Prefix {
        v4: u8,
        v6: u8,
    },
    None,
}

impl std::str::FromStr for ClientGranularity {
    type Err = String;

    /// `address`, `none`, or `prefix:V4LEN,V6LEN` (e.g. `prefix:24,64`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "address" => Ok(ClientGranularity::Address),
            "none" => Ok(ClientGranularity::None),
            _ => {
                let bad = || format!("client granularity '{s}': expected address, none or prefix:V4LEN,V6LEN");
                let lens = s.strip_prefix("prefix:").ok_or_else(bad)?;
                let (v4, v6) = lens.split_once(',').ok_or_else(bad)?;
                let (v4, v6): (u8, u8) = (v4.parse().map_err(|_| bad())?, v6.parse().map_err(|_| bad())?);
                if v4 > 32 || v6 > 128 {
                    return Err(bad());
                }
                Ok(ClientGranularity::Prefix { v4, v6 })
            }
        }
    }
}

/// A client key: address (masked to the prefix) and prefix length; `None`
/// when clients are not kept.
pub type ClientKey = Option<(Addr, u8)>;

/// A client key as text: an address, a prefix (`10.1.2.0/24`), or empty.
pub fn client_text(c: ClientKey) -> String {
    match c {
        None => String::new(),
        Some((addr, len)) if len == 32 || len == 128 => crate::decode::addr_to_ip(addr).to_string(),
        Some((addr, len)) => format!("{}/{len}", crate::decode::addr_to_ip(addr)),
    }
}

impl ClientGranularity {
    fn key(self, addr: Addr) -> ClientKey {
        let is_v4 = addr >> 32 == 0xffff;
        let (len, full) = match self {
            ClientGranularity::None => return None,
            ClientGranularity::Address => return Some((addr, if is_v4 { 32 } else { 128 })),
            ClientGranularity::Prefix { v4, .. } if is_v4 => (96 + u32::from(v4), v4),
            ClientGranularity::Prefix { v6, .. } => (u32::from(v6), v6),
        };
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
        Some((addr & mask, full))
    }
}

/// The key of a row within its interval.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub plugin: &'static str,
    pub signature: Arc<str>,
    pub server: (Addr, u16),
    pub client: ClientKey,
}

/// Count, min, max, sum and histogram of one metric.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub count: u64,
    pub min: u64,
    pub max: u64,
    pub sum: u64,
    pub hist: Histogram,
}

impl Stat {
    fn record(&mut self, v: u64) {
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
        self.hist.record(v);
    }

    pub fn merge(&mut self, o: &Stat) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 || o.min < self.min {
            self.min = o.min;
        }
        self.max = self.max.max(o.max);
        self.count += o.count;
        self.sum = self.sum.saturating_add(o.sum);
        self.hist.merge(&o.hist);
    }

    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    pub fn quantile(&self, q: f64) -> u64 {
        self.hist.quantile(q, self.min, self.max)
    }
}

/// Statistics of one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub count: u64,
    pub outcomes: BTreeMap<&'static str, u64>,
    pub metrics: [Stat; Metric::COUNT],
    /// Each transaction's wait on the server (request's last packet →
    /// response's first), absolute nanoseconds.
    pub waits: Vec<(u64, u64)>,
    /// Each transaction with a response: request's first packet → response's
    /// last, absolute nanoseconds, and its client's address.
    pub calls: Vec<Call>,
}

/// A transaction as a possible call to a backend: start, end, client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub start_ns: u64,
    pub end_ns: u64,
    pub client: Addr,
}

/// Waits and calls a worker keeps per key it may keep, in all open
/// intervals: 16 × 16–32 bytes, a sixth of a row's 2.3 KB.
pub const SPANS_PER_KEY: usize = 16;

/// A transaction's wait on the server and its span as a call, where it has
/// them.
fn spans_of(tx: &Transaction) -> (Option<(u64, u64)>, Option<Call>) {
    let at = |m: Metric| tx.get(m).map(|d| tx.start_ns.saturating_add(d));
    let wait = match (at(Metric::RequestTime), at(Metric::FirstResponse)) {
        (Some(from), Some(to)) if to > from => Some((from, to)),
        _ => None,
    };
    let call = at(Metric::LastResponse).map(|end_ns| Call { start_ns: tx.start_ns, end_ns, client: tx.client.0 });
    (wait, call)
}

impl Row {
    fn record(&mut self, tx: &Transaction) {
        self.count += 1;
        *self.outcomes.entry(tx.outcome.label()).or_default() += 1;
        for (stat, v) in self.metrics.iter_mut().zip(tx.metrics) {
            if let Some(v) = v {
                stat.record(v);
            }
        }
    }

    /// Adds `o`'s statistics (not its waits and calls: `merge_rows` moves
    /// those, totals over rows need none).
    pub fn merge(&mut self, o: &Row) {
        self.count += o.count;
        for (k, n) in &o.outcomes {
            *self.outcomes.entry(k).or_default() += n;
        }
        for (a, b) in self.metrics.iter_mut().zip(&o.metrics) {
            a.merge(b);
        }
    }
}

#[derive(Clone, Debug)]
pub struct AggregateConfig {
    pub interval_s: u64,
    pub clients: ClientGranularity,
    pub max_keys: usize,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        AggregateConfig { interval_s: 300, clients: ClientGranularity::Address, max_keys: 200_000 }
    }
}

/// Rows of one interval.
/// Rows are boxed: a row is 1.5 KB, and a hash table keeps up to twice its
/// entries' room, so the table holds pointers, not rows.
pub type IntervalRows = FxHashMap<Key, Box<Row>>;

/// Aggregated rows of one worker (or, merged, of all), by interval start
/// (Unix seconds).
#[derive(Debug)]
pub struct Aggregates {
    interval_ns: u64,
    clients: ClientGranularity,
    max_keys: usize,
    pub intervals: BTreeMap<u64, IntervalRows>,
    /// Open keys over all intervals (the cap applies to it).
    keys: usize,
    pub transactions: u64,
    /// Transactions whose client was folded out of the key (key cap reached).
    pub folded_clients: u64,
    /// Waits and calls kept in open intervals, and those not kept (cap).
    spans: usize,
    pub spans_dropped: u64,
}

impl Aggregates {
    pub fn new(cfg: &AggregateConfig) -> Aggregates {
        Aggregates {
            interval_ns: cfg.interval_s.max(1) * 1_000_000_000,
            clients: cfg.clients,
            max_keys: cfg.max_keys,
            intervals: BTreeMap::new(),
            keys: 0,
            transactions: 0,
            folded_clients: 0,
            spans: 0,
            spans_dropped: 0,
        }
    }

    pub fn merge(&mut self, other: Aggregates) {
        self.transactions += other.transactions;
        self.folded_clients += other.folded_clients;
        self.spans_dropped += other.spans_dropped;
        for (start, rows) in other.intervals {
            merge_rows(self.intervals.entry(start).or_default(), rows);
        }
        self.keys = self.intervals.values().map(|r| r.len()).sum();
        self.spans = self.intervals.values().flat_map(|r| r.values()).map(|r| r.waits.len() + r.calls.len()).sum();
    }

    /// Removes and returns the intervals that start before `before_s`.
    pub fn take_before(&mut self, before_s: u64) -> BTreeMap<u64, IntervalRows> {
        let open = self.intervals.split_off(&before_s);
        let closed = std::mem::replace(&mut self.intervals, open);
        self.keys -= closed.values().map(|r| r.len()).sum::<usize>();
        self.spans -= closed.values().flat_map(|r| r.values()).map(|r| r.waits.len() + r.calls.len()).sum::<usize>();
        closed
    }

    /// Every row of every interval.
    pub fn rows(&self) -> impl Iterator<Item = (u64, &Key, &Row)> {
        self.intervals.iter().flat_map(|(start, rows)| rows.iter().map(move |(k, r)| (*start, k, &**r)))
    }

    /// Rows grouped by interval, each interval's rows in key order.
    pub fn by_interval(&self) -> BTreeMap<u64, Vec<(&Key, &Row)>> {
        self.intervals
            .iter()
            .map(|(start, rows)| {
                let mut v: Vec<(&Key, &Row)> = rows.iter().map(|(k, r)| (k, &**r)).collect();
                v.sort_by(|a, b| a.0.cmp(b.0));
                (*start, v)
            })
            .collect()
    }
}

/// Adds `from` into `into`, key by key.
pub fn merge_rows(into: &mut IntervalRows, from: IntervalRows) {
    for (k, row) in from {
        match into.get_mut(&k) {
            Some(r) => {
                r.merge(&row);
                let Row { waits, calls, .. } = *row;
                r.waits.extend(waits);
                r.calls.extend(calls);
            }
            None => {
                into.insert(k, row);
            }
        }
    }
}

impl TransactionSink for Aggregates {
    fn transaction(&mut self, tx: Transaction) {
        self.transactions += 1;
        let interval = tx.start_ns / self.interval_ns * self.interval_ns / 1_000_000_000;
        let mut key = Key {
            plugin: tx.plugin,
            signature: tx.signature.clone(),
            server: tx.server,
            client: self.clients.key(tx.client.0),
        };
        let rows = self.intervals.entry(interval).or_default();
        if self.keys >= self.max_keys && key.client.is_some() && !rows.contains_key(&key) {
            self.folded_clients += 1;
            key.client = None;
        }
        let row = rows.entry(key).or_insert_with(|| {
            self.keys += 1;
            Box::default()
        });
        let (wait, call) = spans_of(&tx);
        let n = usize::from(wait.is_some()) + usize::from(call.is_some());
        if n > 0 {
            if self.spans + n <= self.max_keys.saturating_mul(SPANS_PER_KEY) {
                row.waits.extend(wait);
                row.calls.extend(call);
                self.spans += n;
            } else {
                self.spans_dropped += 1;
            }
        }
        row.record(&tx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::addr_from_v4;
    use crate::transaction::Outcome;

    fn tx(start_s: u64, client: [u8; 4], first_response_ns: u64) -> Transaction {
        let mut metrics = [None; Metric::COUNT];
        metrics[Metric::FirstResponse as usize] = Some(first_response_ns);
        Transaction {
            plugin: "http",
            signature: "GET".into(),
            client: (addr_from_v4(client), 40000),
            server: (addr_from_v4([10, 0, 0, 1]), 80),
            outcome: Outcome::Status(200),
            start_ns: start_s * 1_000_000_000 + 5,
            metrics,
        }
    }

    #[test]
    fn intervals_align_and_prefixes_group_clients() {
        let cfg = AggregateConfig { interval_s: 300, clients: "prefix:24,64".parse().unwrap(), max_keys: 100 };
        let mut a = Aggregates::new(&cfg);
        a.transaction(tx(599, [192, 168, 1, 7], 10));
        a.transaction(tx(600, [192, 168, 1, 9], 30));
        a.transaction(tx(899, [192, 168, 1, 200], 20));
        let by = a.by_interval();
        assert_eq!(by.keys().copied().collect::<Vec<_>>(), vec![300, 600]);
        let (k, row) = by[&600][0];
        assert_eq!(k.client, Some((addr_from_v4([192, 168, 1, 0]), 24)));
        let s = &row.metrics[Metric::FirstResponse as usize];
        assert_eq!((s.count, s.min, s.max, s.sum), (2, 20, 30, 50));
        assert_eq!(row.outcomes["2xx"], 2);
        assert_eq!(a.take_before(600).keys().copied().collect::<Vec<_>>(), vec![300]);
        assert_eq!(a.intervals.keys().copied().collect::<Vec<_>>(), vec![600]);
    }

    #[test]
    fn key_cap_folds_clients() {
        let cfg = AggregateConfig { interval_s: 60, clients: ClientGranularity::Address, max_keys: 1 };
        let mut a = Aggregates::new(&cfg);
        a.transaction(tx(0, [1, 1, 1, 1], 1));
        a.transaction(tx(0, [2, 2, 2, 2], 1));
        assert_eq!(a.folded_clients, 1);
        assert_eq!(a.rows().count(), 2);
    }
}
