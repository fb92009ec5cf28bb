//! One capture source's reader: counts and decodes each frame once and
//! hands it to the worker owning its flow.

use super::batch::{FrameRef, WorkerLink};
use super::clock::Clock;
use super::closer::Closer;
use super::{FLUSH_EVERY_NS, SWEEP_EVERY_NS};
use crate::capture::{frames_dropped, CaptureError, CaptureSource, LinkType, Next, SourceCounter};
use crate::decode::{Decoder, Packet, TunnelPath};
use crate::flow::FlowKey;
use crate::metrics::Health;
use crate::records::{CaptureStats, SensorInterval};
use crate::rules::Rules;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One source's reader: decodes each frame once, counts it, and hands it to
/// the worker owning its flow.
pub(super) struct Reader {
    pub(super) index: usize,
    pub(super) links: Vec<WorkerLink>,
    pub(super) capture: CaptureStats,
    /// Capture health per interval, for the exporter.
    pub(super) intervals: BTreeMap<u64, SensorInterval>,
    pub(super) closer: Option<Closer>,
    pub(super) health: Option<Arc<Health>>,
    pub(super) rules: Arc<Rules>,
    pub(super) next_tick: u64,
    pub(super) next_flush: u64,
    /// Workers merge several readers: flush every FLUSH_EVERY_NS.
    pub(super) merged: bool,
    /// The source's dropped frames at the last look at its counters.
    pub(super) dropped_before: u64,
    pub(super) clock: Clock,
    pub(super) decoder: Decoder,
}

pub(super) struct ReaderOutput {
    pub(super) capture: CaptureStats,
    pub(super) counters: Vec<SourceCounter>,
    pub(super) error: Option<CaptureError>,
}

impl Reader {
    pub(super) fn read(
        mut self,
        source: &mut dyn CaptureSource,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> ReaderOutput {
        let mut error = None;
        loop {
            let frame = match source.next_frame() {
                Ok(Next::Frame(f)) => f,
                Ok(Next::Idle { now_ns }) => {
                    self.idle(now_ns, source);
                    continue;
                }
                Ok(Next::End) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            let clock = self.frame(frame.ts_ns, frame.link, frame.data, frame.wire_len);
            // After the frame (its borrow of the source is over): the tick
            // then carries it, and the source can be asked for counters.
            if clock >= self.next_tick {
                self.tick(clock, source);
            } else if self.merged && clock >= self.next_flush {
                // Other readers' frames wait in the workers' merge until
                // this reader's horizon passes them: keep it moving.
                self.flush(clock);
            }
            if self.capture.packets.is_multiple_of(8192) {
                let (done, total) = source.progress();
                progress(done, total);
            }
        }
        for link in &mut self.links {
            if !link.current.frames.is_empty() {
                link.send_current();
            }
        }
        let counters = source.counters();
        // The reader's time: its clock at the last frame, or its last tick.
        let now = self.clock.at_idle(self.next_tick.saturating_sub(SWEEP_EVERY_NS));
        self.count_drops(now, &counters);
        let Reader { links, capture, intervals, closer, health, index, .. } = self;
        drop(links);
        if let Some(mut c) = closer {
            c.report(u64::MAX, BTreeMap::new(), intervals, Vec::new());
        }
        if let Some(h) = &health {
            h.publish_capture(index, &capture, &counters);
        }
        let (done, total) = source.progress();
        progress(done, total);
        ReaderOutput { capture, counters, error }
    }

    /// A live source has nothing for now: the workers get the partial
    /// batches and the time, so frames wait neither for full batches nor,
    /// in a worker's merge, for this reader.
    fn idle(&mut self, now_ns: u64, source: &mut dyn CaptureSource) {
        let now_ns = self.clock.at_idle(now_ns);
        if now_ns >= self.next_tick {
            self.tick(now_ns, source);
        } else if now_ns >= self.next_flush {
            self.flush(now_ns);
        }
    }

    /// Hands every worker its partial batch and this reader's time (its
    /// horizon in the worker's merge).
    fn flush(&mut self, now_ns: u64) {
        for link in &mut self.links {
            link.current.tick = now_ns;
            link.send_current();
        }
        self.next_flush = now_ns + FLUSH_EVERY_NS;
    }

    /// Once a second of capture time: every worker learns the time and gets
    /// its partial batch with a sweep at its end (so idle ones close
    /// intervals too, and every worker sweeps at the same place of the
    /// capture); the reader reports its closed intervals and publishes its
    /// counters.
    fn tick(&mut self, ts: u64, source: &mut dyn CaptureSource) {
        for link in &mut self.links {
            link.current.sweep = Some(ts);
        }
        self.flush(ts);
        self.next_tick = ts + SWEEP_EVERY_NS;
        let counters = source.counters();
        self.count_drops(ts, &counters);
        if let Some(h) = &self.health {
            h.publish_capture(self.index, &self.capture, &counters);
            h.signatures.store(self.rules.signatures(), std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(c) = self.closer.as_mut() {
            let due = c.due(ts);
            if due > c.closed_before {
                let open = self.intervals.split_off(&due);
                c.report(due, BTreeMap::new(), std::mem::replace(&mut self.intervals, open), Vec::new());
            }
        }
    }

    /// Frames the source dropped since the last look: they count in the
    /// interval of `ts` (the drops happened since the last second).
    fn count_drops(&mut self, ts: u64, counters: &[SourceCounter]) {
        let total = frames_dropped(counters);
        let new = total.saturating_sub(self.dropped_before);
        self.dropped_before = total;
        if new == 0 {
            return;
        }
        self.capture.dropped += new;
        if let Some(c) = &self.closer {
            self.intervals.entry(c.interval_of(ts)).or_default().capture.dropped += new;
        }
    }

    /// Decodes and counts one frame and queues it for its flow's worker;
    /// returns the capture clock at it. Its capture health counts in the
    /// interval of the clock (a stray stamp opens no interval of its own).
    fn frame(&mut self, ts: u64, link: LinkType, data: &[u8], wire_len: u32) -> u64 {
        let mut path = TunnelPath::default();
        let decoded = self.decoder.decode(link, data, &mut path);
        let ts = match path.switch_stamp {
            Some(stamp) if self.decoder.tunnels.switch_time => stamp.unix_ns(ts).unwrap_or(ts),
            _ => ts,
        };
        let clock = self.clock.at_frame(ts, &mut self.capture);
        let mut interval =
            self.closer.as_ref().map(|c| &mut self.intervals.entry(c.interval_of(clock)).or_default().capture);
        self.capture.count(ts, wire_len);
        if let Some(s) = interval.as_deref_mut() {
            s.count(ts, wire_len);
        }
        if path.layers != 0 {
            self.capture.count_tunnels(&path, wire_len);
            if let Some(s) = interval.as_deref_mut() {
                s.count_tunnels(&path, wire_len);
            }
        }
        let packet = match decoded {
            Ok(p) => p,
            Err(reason) => {
                self.capture.skipped[reason as usize] += 1;
                if let Some(s) = interval {
                    s.skipped[reason as usize] += 1;
                }
                return clock;
            }
        };
        if packet.first_fragment {
            self.capture.first_fragments += 1;
            if let Some(s) = interval {
                s.first_fragments += 1;
            }
        }
        let worker = (FlowKey::of(&packet).0.hash() % self.links.len() as u64) as usize;
        let link = &mut self.links[worker];
        let start = link.current.bytes.len() as u32;
        link.current.bytes.extend_from_slice(packet.payload);
        let len = packet.payload.len() as u32;
        link.current.frames.push(FrameRef { ts, clock, packet: Packet { payload: &[], ..packet }, start, len });
        if link.current.is_full() {
            link.send_current();
        }
        clock
    }
}
