//! Backends: the calls a watched server makes to other watched servers while
//! its own clients wait on it.
//!
//! A front transaction at server S waits on S from its request's last packet
//! to its response's first (its server time). A call made by S (a
//! transaction whose client address is S's) that starts and ends inside that
//! wait belongs to the front transaction's signature; where the waits of
//! several of S's transactions hold it (concurrent requests), each gets an
//! equal part of it. The pairing is exact per call, from full addresses,
//! whatever the aggregation's client granularity.
//!
//! Workers keep a span of every transaction with a server time or a
//! response (bounded per interval and worker: past the cap, spans are
//! counted, not kept) until the interval closes; spans of one interval, from
//! every worker, are paired together, in a canonical order, so the result
//! does not depend on the worker count. A call that starts in a later
//! interval than its front transaction's request is not paired (at 300 s
//! intervals and sub-second server times, a fraction of a percent).

use crate::decode::Addr;
use crate::transaction::{Metric, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A transaction as the pairing sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// Request start, Unix nanoseconds (first, so spans sort by time).
    pub start_ns: u64,
    pub plugin: &'static str,
    pub signature: Arc<str>,
    pub client: Addr,
    pub server: (Addr, u16),
    /// The wait on the server (request's last packet → response's first),
    /// absolute nanoseconds; `(0, 0)` when it has none.
    pub waiting: (u64, u64),
    /// Response's last packet, absolute nanoseconds; 0 without a response.
    pub end_ns: u64,
}

impl Span {
    fn of(tx: &Transaction) -> Option<Span> {
        let at = |m: Metric| tx.get(m).map(|d| tx.start_ns.saturating_add(d));
        let waiting = match (at(Metric::RequestTime), at(Metric::FirstResponse)) {
            (Some(from), Some(to)) if to > from => (from, to),
            _ => (0, 0),
        };
        let end_ns = at(Metric::LastResponse).unwrap_or(0);
        (waiting.1 > 0 || end_ns > 0).then(|| Span {
            start_ns: tx.start_ns,
            plugin: tx.plugin,
            signature: tx.signature.clone(),
            client: tx.client.0,
            server: tx.server,
            waiting,
            end_ns,
        })
    }
}

/// One worker's spans by interval (Unix seconds), as aggregation keeps rows.
#[derive(Debug, Default)]
pub struct Spans {
    interval_ns: u64,
    /// Spans kept per interval; past it, counted in `dropped`.
    cap: usize,
    pub intervals: BTreeMap<u64, Vec<Span>>,
    pub dropped: u64,
}

impl Spans {
    pub fn new(interval_s: u64, cap: usize) -> Spans {
        Spans { interval_ns: interval_s.max(1) * 1_000_000_000, cap, intervals: BTreeMap::new(), dropped: 0 }
    }

    pub fn record(&mut self, tx: &Transaction) {
        let Some(span) = Span::of(tx) else { return };
        let interval = tx.start_ns / self.interval_ns * self.interval_ns / 1_000_000_000;
        let spans = self.intervals.entry(interval).or_default();
        if spans.len() < self.cap {
            spans.push(span);
        } else {
            self.dropped += 1;
        }
    }

    /// Removes and returns the intervals that start before `before_s`.
    pub fn take_before(&mut self, before_s: u64) -> BTreeMap<u64, Vec<Span>> {
        let open = self.intervals.split_off(&before_s);
        std::mem::replace(&mut self.intervals, open)
    }

    pub fn merge(&mut self, other: Spans) {
        self.dropped += other.dropped;
        for (start, spans) in other.intervals {
            self.intervals.entry(start).or_default().extend(spans);
        }
    }
}

/// A signature at a server: a front or a backend.
pub type Endpoint = (&'static str, Arc<str>, (Addr, u16));

/// A front signature and a backend it called.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    pub front: Endpoint,
    pub backend: Endpoint,
}

/// The calls paired on one edge in one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Paired {
    /// Calls, each counted once over the front transactions whose wait held
    /// it (a call held by two counts a half at each).
    pub calls: f64,
    /// Their time (request's first packet → response's last), nanoseconds,
    /// shared likewise.
    pub time_ns: f64,
}

impl Paired {
    pub fn add(&mut self, o: &Paired) {
        self.calls += o.calls;
        self.time_ns += o.time_ns;
    }
}

/// Pairs one interval's spans (every worker's): each call with the front
/// waits that hold it.
pub fn pair(mut spans: Vec<Span>) -> BTreeMap<Edge, Paired> {
    spans.sort_unstable();
    // Waits by server address, by start; and the longest, to bound the scan.
    let mut waits: BTreeMap<Addr, (Vec<&Span>, u64)> = BTreeMap::new();
    for s in spans.iter().filter(|s| s.waiting.1 > 0) {
        let (list, longest) = waits.entry(s.server.0).or_default();
        list.push(s);
        *longest = (*longest).max(s.waiting.1 - s.waiting.0);
    }
    for (list, _) in waits.values_mut() {
        list.sort_by_key(|s| s.waiting.0);
    }
    let mut edges: BTreeMap<Edge, Paired> = BTreeMap::new();
    let mut holders: Vec<&Span> = Vec::new();
    for call in spans.iter().filter(|s| s.end_ns > 0) {
        let Some((list, longest)) = waits.get(&call.client) else { continue };
        // Waits that began by the call's start, back to the longest wait.
        let last = list.partition_point(|w| w.waiting.0 <= call.start_ns);
        let earliest = call.start_ns.saturating_sub(*longest);
        holders.clear();
        holders.extend(
            list[..last].iter().rev().take_while(|w| w.waiting.0 >= earliest).filter(|w| call.end_ns <= w.waiting.1),
        );
        let share = 1.0 / holders.len() as f64;
        let time = (call.end_ns - call.start_ns) as f64;
        for front in &holders {
            let edge = Edge {
                front: (front.plugin, front.signature.clone(), front.server),
                backend: (call.plugin, call.signature.clone(), call.server),
            };
            let p = edges.entry(edge).or_default();
            p.calls += share;
            p.time_ns += share * time;
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::addr_from_v4;

    const MS: u64 = 1_000_000;

    fn span(sig: &str, client: u8, server: u8, start: u64, waiting: (u64, u64), end: u64) -> Span {
        Span {
            start_ns: start * MS,
            plugin: "http",
            signature: sig.into(),
            client: addr_from_v4([10, 0, 0, client]),
            server: (addr_from_v4([10, 0, 0, server]), 80),
            waiting: (waiting.0 * MS, waiting.1 * MS),
            end_ns: end * MS,
        }
    }

    #[test]
    fn a_call_inside_a_wait_belongs_to_its_signature_shared_among_concurrent_waits() {
        let spans = vec![
            // Front 10.0.0.2: GET_app waits 1..101, calls the backend 10.0.0.4 at 2..98.
            span("GET_app", 1, 2, 0, (1, 101), 102),
            span("GET_db", 2, 4, 2, (3, 97), 98),
            // GET_static at the same front waits 200..210 and calls nothing.
            span("GET_static", 1, 2, 199, (200, 210), 211),
            // Two concurrent GET_app waits hold one call: a half each.
            span("GET_app", 1, 2, 300, (301, 400), 401),
            span("GET_app", 3, 2, 305, (306, 400), 401),
            span("GET_db", 2, 4, 310, (311, 349), 350),
            // A call outliving every wait is nobody's.
            span("GET_db", 2, 4, 390, (391, 409), 410),
        ];
        let edges = pair(spans);
        assert_eq!(edges.len(), 1, "{edges:?}");
        let (edge, p) = edges.iter().next().unwrap();
        assert_eq!((&*edge.front.1, &*edge.backend.1), ("GET_app", "GET_db"));
        assert_eq!(edge.backend.2 .0, addr_from_v4([10, 0, 0, 4]));
        assert_eq!(p.calls, 2.0);
        assert_eq!(p.time_ns, (96 + 40) as f64 * MS as f64);
    }

    #[test]
    fn the_cap_counts_what_it_does_not_keep() {
        let mut spans = Spans::new(60, 1);
        let mut tx = Transaction {
            plugin: "http",
            signature: "GET".into(),
            client: (addr_from_v4([10, 0, 0, 1]), 4000),
            server: (addr_from_v4([10, 0, 0, 2]), 80),
            outcome: crate::transaction::Outcome::Status(200),
            start_ns: 61_000 * MS,
            metrics: [None; Metric::COUNT],
        };
        spans.record(&tx);
        assert!(spans.intervals.is_empty(), "no response, no span");
        tx.metrics[Metric::LastResponse as usize] = Some(5 * MS);
        spans.record(&tx);
        spans.record(&tx);
        assert_eq!((spans.intervals[&60].len(), spans.dropped), (1, 1));
        assert_eq!(spans.take_before(120).len(), 1);
    }
}
