//! A worker's flow counters per interval, for the `sensors` table.

use crate::flow::FlowStats;
use crate::records::SensorInterval;
use std::collections::BTreeMap;

/// A worker's flow counters per interval for the `sensors` table: noted at
/// the first frame of each interval (for the one before) and once a second,
/// handed over as intervals close.
#[derive(Default)]
pub(super) struct FlowHealth {
    pub(super) noted: FlowStats,
    pub(super) by_interval: BTreeMap<u64, SensorInterval>,
}

impl FlowHealth {
    pub(super) fn note(&mut self, now: &FlowStats, interval: u64) {
        let mut delta = now.clone();
        delta.subtract(&self.noted);
        if delta != FlowStats::default() {
            self.by_interval.entry(interval).or_default().flows.add(&delta);
            self.noted = now.clone();
        }
    }

    pub(super) fn take_before(&mut self, due: u64) -> BTreeMap<u64, SensorInterval> {
        let open = self.by_interval.split_off(&due);
        std::mem::replace(&mut self.by_interval, open)
    }
}
