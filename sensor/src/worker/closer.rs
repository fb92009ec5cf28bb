//! A participant's (a worker's or a reader's) link to the exporter.

use crate::aggregate::IntervalRows;
use crate::records::{Message, SensorInterval};
use crate::transaction::Transaction;
use std::collections::BTreeMap;
use std::sync::mpsc::SyncSender;

/// Reports the intervals a participant has closed.
pub(super) struct Closer {
    pub(super) participant: usize,
    pub(super) sender: SyncSender<Message>,
    pub(super) interval_s: u64,
    pub(super) grace_s: u64,
    /// Every interval starting before this (Unix seconds) was reported.
    pub(super) closed_before: u64,
}

impl Closer {
    /// Intervals that start before the returned second are over at capture
    /// time `now_ns`, grace period included.
    pub(super) fn due(&self, now_ns: u64) -> u64 {
        match (now_ns / 1_000_000_000).checked_sub(self.grace_s + self.interval_s) {
            Some(s) => (s / self.interval_s + 1) * self.interval_s,
            None => 0,
        }
    }

    pub(super) fn interval_of(&self, ts_ns: u64) -> u64 {
        ts_ns / 1_000_000_000 / self.interval_s * self.interval_s
    }

    pub(super) fn report(
        &mut self,
        closed_before: u64,
        intervals: BTreeMap<u64, IntervalRows>,
        health: BTreeMap<u64, SensorInterval>,
        transactions: Vec<Transaction>,
    ) {
        self.closed_before = closed_before;
        let participant = self.participant;
        // A gone exporter is reported by its own thread; the analysis goes on.
        let _ = self.sender.send(Message::Progress { participant, closed_before, intervals, health, transactions });
    }
}
