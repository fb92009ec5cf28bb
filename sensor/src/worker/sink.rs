//! Where a worker's transactions go: its aggregates, the `--transactions`
//! file, and the sample for the database's `transactions` table.

use super::JsonlOut;
use crate::aggregate::Aggregates;
use crate::transaction::{Transaction, TransactionSink};

/// Sampled transactions a worker holds until their interval closes; past
/// this many more are not sampled (counted).
pub(super) const MAX_SAMPLED: usize = 100_000;

/// Where a worker's transactions go: its aggregates, the shared
/// `--transactions` file through a local buffer, and the sample for the
/// database's `transactions` table.
pub(super) struct WorkerSink {
    pub(super) aggregates: Aggregates,
    pub(super) jsonl: Option<(Vec<u8>, JsonlOut)>,
    /// Keep a transaction when its hash is below this (0: sampling off).
    pub(super) sample_below: u64,
    pub(super) sampled: Vec<Transaction>,
    pub(super) sample_overflow: u64,
}

impl WorkerSink {
    /// Deterministic sampling: the same transactions whatever the worker count.
    pub(super) fn sample(&mut self, tx: &Transaction) {
        let h = (tx.start_ns ^ u64::from(tx.client.1) << 48 ^ (tx.client.0 as u64))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
            .wrapping_mul(0xbf58_476d_1ce4_e5b9);
        if h < self.sample_below || self.sample_below == u64::MAX {
            if self.sampled.len() < MAX_SAMPLED {
                self.sampled.push(tx.clone());
            } else {
                self.sample_overflow += 1;
            }
        }
    }
}

impl WorkerSink {
    pub(super) fn flush_jsonl(&mut self) {
        if let Some((buf, out)) = &mut self.jsonl {
            if !buf.is_empty() {
                let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                // A write error (disk full) must not stop the analysis; the
                // caller checks the file when it flushes at the end.
                let _ = out.write_all(buf);
                buf.clear();
            }
        }
    }
}

impl TransactionSink for WorkerSink {
    fn transaction(&mut self, tx: Transaction) {
        if self.sample_below > 0 {
            self.sample(&tx);
        }
        if let Some((buf, _)) = &mut self.jsonl {
            tx.write_json_line(buf);
            if buf.len() >= 64 * 1024 {
                self.flush_jsonl();
            }
        }
        self.aggregates.transaction(tx);
    }
}
