//! The records the stages of the sensor hand each other: what a reader
//! counted (`CaptureStats`), one interval's capture health (`SensorInterval`),
//! what a worker or reader tells the exporter as it closes intervals
//! (`Message`), and everything a run produced (`Results`).
//!
//! A low module: it names types of the stages below it (capture, flow,
//! aggregate, transaction) and is imported by the ones above (worker,
//! export, metrics, report), so none of those needs another.

use crate::aggregate::{Aggregates, IntervalRows};
use crate::backends::{Edge, Paired};
use crate::capture::{CaptureError, SourceCounter};
use crate::decode::TunnelPath;
use crate::flow::FlowStats;
use crate::transaction::Transaction;
use pastmon_common::{Encapsulation, SkipReason};
use std::collections::BTreeMap;

/// What the reader saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureStats {
    pub packets: u64,
    /// Bytes on the wire (frame lengths before any snapshot cut).
    pub bytes: u64,
    /// Frames not analysed, by reason.
    pub skipped: [u64; SkipReason::COUNT],
    /// First fragments of fragmented datagrams: analysed as truncated packets.
    pub first_fragments: u64,
    /// Frames by the tunnels they came through, by `Encapsulation`.
    pub tunnels: [TunnelCount; Encapsulation::COUNT],
    /// Frames the source lost before the reader saw them (live capture:
    /// socket drops, full rings, failed redirects), counted when the reader
    /// reads the source's counters (every second).
    pub dropped: u64,
    /// Frames stamped more than a minute past the capture clock, alone (the
    /// clock did not follow them), and more than a minute behind it.
    pub stamps_ahead: u64,
    pub stamps_behind: u64,
    /// First and last frame timestamps, Unix nanoseconds.
    pub first_ns: u64,
    pub last_ns: u64,
}

impl CaptureStats {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }

    /// Adds `o`'s counters (timestamps: the earliest first, the latest last).
    pub fn add(&mut self, o: &CaptureStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        for (a, b) in self.skipped.iter_mut().zip(o.skipped) {
            *a += b;
        }
        self.first_fragments += o.first_fragments;
        for (a, b) in self.tunnels.iter_mut().zip(o.tunnels) {
            a.add(&b);
        }
        self.dropped += o.dropped;
        self.stamps_ahead += o.stamps_ahead;
        self.stamps_behind += o.stamps_behind;
        if self.first_ns == 0 || (o.first_ns != 0 && o.first_ns < self.first_ns) {
            self.first_ns = o.first_ns;
        }
        self.last_ns = self.last_ns.max(o.last_ns);
    }

    /// Counts a frame under each encapsulation of its `path`.
    pub(crate) fn count_tunnels(&mut self, path: &TunnelPath, wire_len: u32) {
        for e in Encapsulation::ALL.iter().filter(|e| path.layers & e.bit() != 0) {
            let t = &mut self.tunnels[*e as usize];
            t.frames += 1;
            t.bytes += u64::from(wire_len);
            t.malformed += u64::from(path.malformed == Some(*e));
        }
    }

    pub(crate) fn count(&mut self, ts_ns: u64, wire_len: u32) {
        self.packets += 1;
        self.bytes += u64::from(wire_len);
        if self.first_ns == 0 {
            self.first_ns = ts_ns;
        }
        self.last_ns = self.last_ns.max(ts_ns);
    }
}

/// One encapsulation's frames (each counted once, however deep it sits),
/// their bytes on the wire, and its headers found cut short or
/// inconsistent (those frames are skipped as bad transport headers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TunnelCount {
    pub frames: u64,
    pub bytes: u64,
    pub malformed: u64,
}

impl TunnelCount {
    pub fn add(&mut self, o: &TunnelCount) {
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.malformed += o.malformed;
    }
}

/// Capture health of one interval: one `sensors` row.
#[derive(Clone, Debug, Default)]
pub struct SensorInterval {
    pub capture: CaptureStats,
    pub flows: FlowStats,
    pub transactions: u64,
    pub late_transactions: u64,
}

/// What workers and the reader tell the exporter.
pub enum Message {
    /// `participant` has closed every interval that starts before
    /// `closed_before` (Unix seconds); here are its rows and capture-health
    /// counters for them.
    Progress {
        participant: usize,
        closed_before: u64,
        intervals: BTreeMap<u64, IntervalRows>,
        health: BTreeMap<u64, SensorInterval>,
        /// Sampled transactions, for the `transactions` table.
        transactions: Vec<Transaction>,
    },
}

/// Everything one run produced.
pub struct Results {
    pub capture: CaptureStats,
    /// The sources' own counters (live capture: kernel and socket drops).
    pub source_counters: Vec<SourceCounter>,
    pub flows: FlowStats,
    pub aggregates: Aggregates,
    /// Backend calls paired with the front transactions that waited on
    /// them, by interval (`backends::pair`).
    pub backends: BTreeMap<u64, BTreeMap<Edge, Paired>>,
    /// Signature names that overflowed a plugin's cap into `<PLUGIN>_OTHER`.
    pub signatures_overflowed: u64,
    /// Set when the capture ended with an error; the results cover what was
    /// read before it.
    pub error: Option<CaptureError>,
}
