//! A worker's inputs, one per reader, merged in time order.
//!
//! Each reader sends its frames in capture-time order, and with every batch
//! the time it has reached (its horizon: no later frame of that reader is
//! older). Frames of one flow can come through different readers (rx
//! queues with asymmetric RSS: a request on one queue, its response on
//! another), so the worker takes the oldest frame of all inputs, and only
//! once every other input's horizon has passed it. An input holding more
//! than `MAX_QUEUED_FRAMES` frames or `MAX_QUEUED_BATCHES` batches forces
//! progress, so memory stays bounded when one reader stalls; with one
//! reader (files) frames go straight through.

use super::batch::{Batch, FrameRef};
use crate::decode::Packet;
use std::collections::VecDeque;

/// What a worker is handed, in order.
pub(super) enum Event<'a> {
    /// A frame: its stamp, the reader's clock, its headers and payload.
    Frame { ts: u64, clock: u64, packet: Packet<'a> },
    /// Sweep the flow table at this clock.
    Sweep(u64),
}

/// Frames, and batches, an input may hold back before its frames are taken
/// regardless: about a second of a stalled reader at 64 k frames/s, and at
/// most 64 MiB of payload in full batches. Readers send a batch at least
/// every millisecond, so batches are often small.
const MAX_QUEUED_FRAMES: usize = 65_536;
const MAX_QUEUED_BATCHES: usize = 1_024;

struct Input {
    from_reader: rtrb::Consumer<Batch>,
    recycle: rtrb::Producer<Batch>,
    queued: VecDeque<Batch>,
    /// Frames in `queued`.
    queued_frames: usize,
    /// Next frame of `queued.front()`.
    cursor: usize,
    /// The reader's time: no frame older than this will come from it.
    horizon: u64,
    /// The reader is gone and its ring drained.
    finished: bool,
}

impl Input {
    /// The time of this input's next event, and whether it is a sweep: its
    /// next frame's clock, or the sweep at the end of a batch whose frames
    /// were all taken. Clocks, not stamps, order the inputs: a reader's
    /// clock never runs backwards, so its own frames stay in its order.
    fn next_event(&self) -> Option<(u64, bool)> {
        let batch = self.queued.front()?;
        match batch.frames.get(self.cursor) {
            Some(frame) => Some((frame.clock, false)),
            None => batch.sweep.map(|clock| (clock, true)),
        }
    }

    /// Drops front batches whose frames were all taken and that end in no
    /// sweep.
    fn retire_done(&mut self) {
        while self.queued.front().is_some_and(|b| self.cursor >= b.frames.len() && b.sweep.is_none()) {
            self.cursor = 0;
            if let Some(done) = self.queued.pop_front() {
                self.release(done);
            }
        }
    }

    fn release(&mut self, mut batch: Batch) {
        batch.clear();
        // The reader may have stopped taking recycled batches; then drop it.
        let _ = self.recycle.push(batch);
    }
}

pub(super) struct Inputs {
    inputs: Vec<Input>,
    /// Frames taken before every other input's horizon passed them (an
    /// input held too much): their order with other readers' frames is not
    /// guaranteed.
    pub(super) taken_early: u64,
}

impl Inputs {
    pub(super) fn new(rings: Vec<(rtrb::Consumer<Batch>, rtrb::Producer<Batch>)>) -> Inputs {
        let inputs = rings
            .into_iter()
            .map(|(from_reader, recycle)| Input {
                from_reader,
                recycle,
                queued: VecDeque::new(),
                queued_frames: 0,
                cursor: 0,
                horizon: 0,
                finished: false,
            })
            .collect();
        Inputs { inputs, taken_early: 0 }
    }

    /// Takes every batch waiting on the rings; whether any came.
    pub(super) fn pull(&mut self) -> bool {
        let mut got = false;
        for input in &mut self.inputs {
            loop {
                let abandoned = input.from_reader.is_abandoned();
                let Ok(batch) = input.from_reader.pop() else {
                    input.finished = abandoned;
                    break;
                };
                got = true;
                input.horizon = input.horizon.max(batch.tick).max(batch.frames.last().map_or(0, |f| f.clock));
                if batch.frames.is_empty() && batch.sweep.is_none() {
                    input.release(batch);
                } else {
                    input.queued_frames += batch.frames.len();
                    input.queued.push_back(batch);
                }
            }
        }
        got
    }

    /// Every reader is gone and every frame was taken.
    pub(super) fn over(&self) -> bool {
        self.inputs.iter().all(|i| i.finished && i.queued.is_empty())
    }

    /// The time every input has reached (`u64::MAX` once all are over).
    pub(super) fn horizon(&self) -> u64 {
        self.inputs.iter().filter(|i| !i.finished).map(|i| i.horizon).min().unwrap_or(u64::MAX)
    }

    /// Hands `f` every frame and sweep that may be processed now, oldest
    /// first (by the readers' clocks): an event waits until every other
    /// input's horizon has passed it, so a sweep never runs ahead of another
    /// reader's older frames.
    pub(super) fn drain(&mut self, mut f: impl FnMut(Event<'_>)) {
        loop {
            for input in &mut self.inputs {
                input.retire_done();
            }
            let horizon = self.horizon();
            let forced =
                self.inputs.iter().any(|i| i.queued_frames > MAX_QUEUED_FRAMES || i.queued.len() > MAX_QUEUED_BATCHES);
            let oldest = self.inputs.iter().enumerate().filter_map(|(k, i)| i.next_event().map(|e| (e, k))).min();
            let Some(((at, sweep), k)) = oldest else { return };
            if at > horizon {
                if !forced {
                    return;
                }
                self.taken_early += 1;
            }
            let input = &mut self.inputs[k];
            if sweep {
                input.cursor = 0;
                if let Some(done) = input.queued.pop_front() {
                    f(Event::Sweep(at));
                    input.release(done);
                }
                continue;
            }
            let batch = &input.queued[0];
            let frame: &FrameRef = &batch.frames[input.cursor];
            let mut packet = frame.packet;
            packet.payload = &batch.bytes[frame.start as usize..(frame.start + frame.len) as usize];
            f(Event::Frame { ts: frame.ts, clock: frame.clock, packet });
            input.cursor += 1;
            input.queued_frames -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{addr_from_v4, Transport};

    fn frame(ts: u64) -> FrameRef {
        let addr = addr_from_v4([10, 0, 0, 1]);
        let packet = Packet {
            src: addr,
            dst: addr,
            sport: 1,
            dport: 2,
            transport: Transport::Udp,
            payload: &[],
            payload_len: 0,
            first_fragment: false,
            tenant: 0,
        };
        FrameRef { ts, clock: ts, packet, start: 0, len: 0 }
    }

    /// Two readers' rings; the producers' ends.
    fn two_inputs() -> (Inputs, Vec<rtrb::Producer<Batch>>) {
        let (mut producers, mut rings) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let (to_worker, from_reader) = rtrb::RingBuffer::new(MAX_QUEUED_BATCHES + 8);
            let (recycle, _recycled) = rtrb::RingBuffer::new(MAX_QUEUED_BATCHES + 8);
            producers.push(to_worker);
            rings.push((from_reader, recycle));
        }
        (Inputs::new(rings), producers)
    }

    #[test]
    fn frames_wait_for_every_horizon_unless_an_input_holds_too_much() {
        let (mut inputs, mut readers) = two_inputs();
        let batch = |ts: &[u64], tick| Batch {
            bytes: Vec::new(),
            frames: ts.iter().map(|t| frame(*t)).collect(),
            tick,
            sweep: None,
        };
        readers[0].push(batch(&[10, 30], 30)).ok().unwrap();
        readers[1].push(batch(&[20], 25)).ok().unwrap();
        inputs.pull();
        let mut taken = Vec::new();
        let take = |taken: &mut Vec<u64>, e: Event| {
            if let Event::Frame { ts, .. } = e {
                taken.push(ts);
            }
        };
        inputs.drain(|e| take(&mut taken, e));
        // Reader 1 has reached 25: 30 may still be preceded by its frames.
        assert_eq!(taken, [10, 20]);
        readers[1].push(batch(&[], 40)).ok().unwrap();
        inputs.pull();
        inputs.drain(|e| take(&mut taken, e));
        assert_eq!((&taken[..], inputs.taken_early), (&[10, 20, 30][..], 0));

        // Reader 1 stalls: reader 0's batches pile up until they are taken anyway.
        for i in 0..=MAX_QUEUED_BATCHES as u64 {
            readers[0].push(batch(&[100 + i], 100 + i)).ok().unwrap();
        }
        inputs.pull();
        taken.clear();
        inputs.drain(|e| take(&mut taken, e));
        assert_eq!(taken, [100]);
        assert_eq!(inputs.taken_early, 1);
    }

    #[test]
    fn sweeps_take_their_place_in_clock_order_even_from_empty_batches() {
        let (mut inputs, mut readers) = two_inputs();
        let batch = |ts: &[u64], tick, sweep| Batch {
            bytes: Vec::new(),
            frames: ts.iter().map(|t| frame(*t)).collect(),
            tick,
            sweep,
        };
        readers[0].push(batch(&[10, 20], 20, Some(20))).ok().unwrap();
        readers[1].push(batch(&[], 20, Some(20))).ok().unwrap();
        inputs.pull();
        let mut seen = Vec::new();
        inputs.drain(|e| {
            seen.push(match e {
                Event::Frame { ts, .. } => format!("f{ts}"),
                Event::Sweep(c) => format!("s{c}"),
            })
        });
        // Reader 1's sweep at 20 waits for reader 0's older frames.
        assert_eq!(seen, ["f10", "f20", "s20", "s20"]);
    }
}
