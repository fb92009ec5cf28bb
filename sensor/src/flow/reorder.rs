//! Segments that arrived before the data they acknowledge.
//!
//! A live capture stamps each rx queue's frames when that queue's poll runs.
//! When the two directions of a connection come through different queues
//! (asymmetric RSS on a NIC, a mirror onto a multi-queue veth), one queue can
//! run behind the other by a scheduling delay, so a client's ACK may carry an
//! earlier stamp than the server data it acknowledges. Taken in stamp order,
//! that data would look lost (the receiver acknowledged past it) and its
//! transaction would end as `lost`.
//!
//! So a segment that acknowledges bytes (or a SYN/ACK) the other direction
//! has not shown yet waits here, with every later segment of its direction
//! (a direction's own order is its queue's order), until the other direction
//! catches up, or until `REORDER_WINDOW_NS` of capture time has passed: then
//! the data really was lost from the capture and becomes a gap, as before.
//! Causality fixes the released segments' time: not before the data they
//! acknowledge.
//!
//! Bounded: at most `MAX_HELD_SEGMENTS` segments and `MAX_HELD_BYTES` of
//! payload per flow; more releases everything.

use crate::decode::TcpHeader;
use crate::Direction;
use std::collections::VecDeque;

/// How far behind one rx queue may run before its missing data counts as
/// lost. Twice the readers' in-flight allowance: enough for a deferred
/// softirq on a busy machine, and only a lost segment ever waits this long.
pub const REORDER_WINDOW_NS: u64 = 100_000_000;
const MAX_HELD_SEGMENTS: usize = 64;
const MAX_HELD_BYTES: usize = 64 * 1024;

/// One TCP segment as the flow needs it, borrowed from its frame.
#[derive(Clone, Copy, Debug)]
pub struct SegmentIn<'a> {
    pub ts: u64,
    /// The reader's capture clock at this segment: holds expire by it.
    pub clock: u64,
    /// The packet's serial within its flow.
    pub packet: u64,
    pub header: TcpHeader,
    pub payload: &'a [u8],
    /// Payload length on the wire (more than `payload` when cut by the snapshot length).
    pub payload_len: u32,
}

#[derive(Debug)]
struct HeldSegment {
    ts: u64,
    clock: u64,
    packet: u64,
    header: TcpHeader,
    payload: Vec<u8>,
    payload_len: u32,
}

impl HeldSegment {
    fn as_segment(&self) -> SegmentIn<'_> {
        SegmentIn {
            ts: self.ts,
            clock: self.clock,
            packet: self.packet,
            header: self.header,
            payload: &self.payload,
            payload_len: self.payload_len,
        }
    }
}

/// The held segments of one direction, oldest first.
#[derive(Debug)]
pub struct Held {
    pub dir: Direction,
    segments: VecDeque<HeldSegment>,
    bytes: usize,
}

impl Held {
    pub fn new(dir: Direction) -> Held {
        Held { dir, segments: VecDeque::new(), bytes: 0 }
    }

    /// Queues a copy of `seg`; false (and nothing queued) when full.
    pub fn push(&mut self, seg: &SegmentIn) -> bool {
        if self.segments.len() >= MAX_HELD_SEGMENTS || self.bytes + seg.payload.len() > MAX_HELD_BYTES {
            return false;
        }
        self.bytes += seg.payload.len();
        self.segments.push_back(HeldSegment {
            ts: seg.ts,
            clock: seg.clock,
            packet: seg.packet,
            header: seg.header,
            payload: seg.payload.to_vec(),
            payload_len: seg.payload_len,
        });
        true
    }

    /// The oldest held segment has waited out the window at capture clock
    /// `now`. By the clock, not by stamps, so a flow's own next segment and
    /// a sweep in between decide alike.
    pub fn expired(&self, now: u64) -> bool {
        self.segments.front().is_some_and(|s| now.saturating_sub(s.clock) > REORDER_WINDOW_NS)
    }

    pub fn front(&self) -> Option<SegmentIn<'_>> {
        self.segments.front().map(HeldSegment::as_segment)
    }

    /// Hands the oldest segment to `process` and drops it.
    pub fn pop_into(&mut self, process: impl FnOnce(SegmentIn)) {
        if let Some(s) = self.segments.pop_front() {
            self.bytes -= s.payload.len();
            process(s.as_segment());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }
}
