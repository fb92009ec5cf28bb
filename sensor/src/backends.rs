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
//! The waits and calls come from the aggregation rows of one interval (every
//! worker's, merged: `aggregate::Row::waits`, `calls`); they are paired in a
//! canonical order, so the result does not depend on the worker count. A
//! call that starts in a later interval than its front transaction's
//! request is not paired (at 300 s intervals and sub-second server times, a
//! fraction of a percent).

use crate::aggregate::{Call, IntervalRows, Key};
use crate::decode::Addr;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A signature at a server: a front or a backend.
pub type Endpoint = (&'static str, Arc<str>, (Addr, u16));

fn endpoint(k: &Key) -> Endpoint {
    (k.plugin, k.signature.clone(), k.server)
}

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

/// A wait on a server: from, to (absolute nanoseconds), the waiting key.
type Wait<'a> = (u64, u64, &'a Key);

/// Pairs one interval's calls with the front waits that hold them.
pub fn pair(rows: &IntervalRows) -> BTreeMap<Edge, Paired> {
    // Most transactions are neither: only calls whose client is a server
    // with waits, and waits at servers that made calls, are sorted and kept.
    let waiting: FxHashSet<Addr> = rows.iter().filter(|(_, r)| !r.waits.is_empty()).map(|(k, _)| k.server.0).collect();
    let mut calls: Vec<(Call, &Key)> = rows
        .iter()
        .flat_map(|(k, r)| r.calls.iter().filter(|c| waiting.contains(&c.client)).map(move |c| (*c, k)))
        .collect();
    if calls.is_empty() {
        return BTreeMap::new();
    }
    // In one order whatever the workers' (the sums are of floats).
    calls.sort_unstable();
    let callers: FxHashSet<Addr> = calls.iter().map(|(c, _)| c.client).collect();
    // Waits by server address, by start; and the longest, to bound the scan.
    let mut waits: FxHashMap<Addr, (Vec<Wait>, u64)> = FxHashMap::default();
    for (k, r) in rows.iter().filter(|(k, _)| callers.contains(&k.server.0)) {
        let (list, longest) = waits.entry(k.server.0).or_default();
        for &(from, to) in &r.waits {
            list.push((from, to, k));
            *longest = (*longest).max(to - from);
        }
    }
    for (list, _) in waits.values_mut() {
        list.sort_unstable();
    }
    let mut edges: BTreeMap<Edge, Paired> = BTreeMap::new();
    let mut holders: Vec<&Key> = Vec::new();
    for (call, backend) in calls {
        let Some((list, longest)) = waits.get(&call.client) else { continue };
        // Waits that began by the call's start, back to the longest wait.
        let last = list.partition_point(|w| w.0 <= call.start_ns);
        let earliest = call.start_ns.saturating_sub(*longest);
        holders.clear();
        holders.extend(
            list[..last].iter().rev().take_while(|w| w.0 >= earliest).filter(|w| call.end_ns <= w.1).map(|w| w.2),
        );
        let share = 1.0 / holders.len() as f64;
        let time = (call.end_ns - call.start_ns) as f64;
        for front in &holders {
            let p = edges.entry(Edge { front: endpoint(front), backend: endpoint(backend) }).or_default();
            p.calls += share;
            p.time_ns += share * time;
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{AggregateConfig, Aggregates};
    use crate::decode::addr_from_v4;
    use crate::transaction::{Metric, Outcome, Transaction, TransactionSink};

    const MS: u64 = 1_000_000;

    /// A transaction from 10.0.0.`client` to 10.0.0.`server`:80 starting at
    /// `start` ms, waiting on the server over `waiting` and ending at `end`.
    fn tx(sig: &str, client: u8, server: u8, start: u64, waiting: (u64, u64), end: u64) -> Transaction {
        let mut metrics = [None; Metric::COUNT];
        metrics[Metric::RequestTime as usize] = Some((waiting.0 - start) * MS);
        metrics[Metric::FirstResponse as usize] = Some((waiting.1 - start) * MS);
        metrics[Metric::LastResponse as usize] = Some((end - start) * MS);
        Transaction {
            plugin: "http",
            signature: sig.into(),
            client: (addr_from_v4([10, 0, 0, client]), 40000),
            server: (addr_from_v4([10, 0, 0, server]), 80),
            outcome: Outcome::Status(200),
            start_ns: 1_000_000 * MS + start * MS,
            metrics,
        }
    }

    #[test]
    fn a_call_inside_a_wait_belongs_to_its_signature_shared_among_concurrent_waits() {
        let cfg = AggregateConfig { interval_s: 3600, clients: "none".parse().unwrap(), max_keys: 100 };
        let mut a = Aggregates::new(&cfg);
        for t in [
            // Front 10.0.0.2: GET_app waits 1..101, calls the backend 10.0.0.4 at 2..98.
            tx("GET_app", 1, 2, 0, (1, 101), 102),
            tx("GET_db", 2, 4, 2, (3, 97), 98),
            // GET_static at the same front waits 200..210 and calls nothing.
            tx("GET_static", 1, 2, 199, (200, 210), 211),
            // Two concurrent GET_app waits hold one call: a half each.
            tx("GET_app", 1, 2, 300, (301, 400), 401),
            tx("GET_app", 3, 2, 305, (306, 400), 401),
            tx("GET_db", 2, 4, 310, (311, 349), 350),
            // A call outliving every wait is nobody's.
            tx("GET_db", 2, 4, 390, (391, 409), 410),
        ] {
            a.transaction(t);
        }
        assert_eq!(a.intervals.len(), 1);
        let edges = pair(a.intervals.values().next().unwrap());
        assert_eq!(edges.len(), 1, "{edges:?}");
        let (edge, p) = edges.iter().next().unwrap();
        assert_eq!((&*edge.front.1, &*edge.backend.1), ("GET_app", "GET_db"));
        assert_eq!(edge.backend.2 .0, addr_from_v4([10, 0, 0, 4]));
        assert_eq!(p.calls, 2.0);
        assert_eq!(p.time_ns, (96 + 40) as f64 * MS as f64);
    }

    #[test]
    fn past_the_cap_spans_are_counted_not_kept() {
        let cfg = AggregateConfig { interval_s: 60, clients: "none".parse().unwrap(), max_keys: 1 };
        let mut a = Aggregates::new(&cfg);
        for i in 0..10 {
            a.transaction(tx("GET", 1, 2, i, (i + 1, i + 2), i + 3));
        }
        let row = a.rows().next().unwrap().2;
        assert_eq!((row.count, row.waits.len(), row.calls.len()), (10, 8, 8));
        assert_eq!(a.spans_dropped, 2);
    }
}
