//! Completed transactions and their metrics: what the timing stage hands to
//! aggregation and to `--transactions`.

use crate::decode::{addr_to_ip, Addr};
pub use pastmon_model::{Metric, Outcome, Unit};
use std::io::Write as _;
use std::sync::Arc;

/// A completed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub plugin: &'static str,
    pub signature: Arc<str>,
    pub client: (Addr, u16),
    pub server: (Addr, u16),
    pub outcome: Outcome,
    /// Request start (first request packet), Unix nanoseconds.
    pub start_ns: u64,
    pub metrics: [Option<u64>; Metric::COUNT],
}

impl Transaction {
    pub fn get(&self, m: Metric) -> Option<u64> {
        self.metrics[m as usize]
    }

    /// Appends the transaction as one JSON line (`--transactions`): durations
    /// in microseconds, `null` where a metric does not apply.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        let ip = |a: Addr| addr_to_ip(a).to_string();
        let _ = write!(
            out,
            "{{\"start_ns\":{},\"client\":\"{}\",\"client_port\":{},\"server\":\"{}\",\"server_port\":{},\"plugin\":\"{}\",\"signature\":",
            self.start_ns,
            ip(self.client.0),
            self.client.1,
            ip(self.server.0),
            self.server.1,
            self.plugin
        );
        let _ = serde_json::to_writer(&mut *out, &*self.signature);
        let _ = write!(out, ",\"outcome\":\"{}\",\"code\":", self.outcome.label());
        match self.outcome.code() {
            Some(c) => {
                let _ = write!(out, "{c}");
            }
            None => out.extend_from_slice(b"null"),
        }
        for m in Metric::ALL {
            let _ = write!(out, ",\"{}\":", m.name());
            match (self.get(m), m.unit()) {
                (None, _) => out.extend_from_slice(b"null"),
                (Some(ns), Unit::Nanoseconds) => {
                    let _ = write!(out, "{}.{:03}", ns / 1000, ns % 1000);
                }
                (Some(v), _) => {
                    let _ = write!(out, "{v}");
                }
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Where completed transactions go (the worker's aggregator and, with
/// `--transactions`, its JSON-lines buffer).
pub trait TransactionSink {
    fn transaction(&mut self, tx: Transaction);
}

impl TransactionSink for Vec<Transaction> {
    fn transaction(&mut self, tx: Transaction) {
        self.push(tx);
    }
}
