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

use super::{Batch, FrameRef};
use crate::decode::Packet;
use std::collections::VecDeque;

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
    fn next_ts(&self) -> Option<u64> {
        self.queued.front().map(|b| b.frames[self.cursor].ts)
    }

    fn release(&mut self, mut batch: Batch) {
        batch.clear();
        // The reader may have stopped taking recycled batches; then drop it.
        let _ = self.recycle.push(batch);
    }
}

pub(super) struct Inputs {
    inputs: Vec<Input>,
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
        Inputs { inputs }
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
                input.horizon = input.horizon.max(batch.tick).max(batch.frames.last().map_or(0, |f| f.ts));
                if batch.frames.is_empty() {
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

    /// Hands `f` every frame that may be processed now, oldest first.
    pub(super) fn drain(&mut self, mut f: impl FnMut(u64, &Packet<'_>)) {
        loop {
            let horizon = self.horizon();
            let forced =
                self.inputs.iter().any(|i| i.queued_frames > MAX_QUEUED_FRAMES || i.queued.len() > MAX_QUEUED_BATCHES);
            let oldest = self.inputs.iter().enumerate().filter_map(|(k, i)| i.next_ts().map(|ts| (ts, k))).min();
            let Some((ts, k)) = oldest else { return };
            if ts > horizon && !forced {
                return;
            }
            let input = &mut self.inputs[k];
            let batch = &input.queued[0];
            let frame: &FrameRef = &batch.frames[input.cursor];
            let mut packet = frame.packet;
            packet.payload = &batch.bytes[frame.start as usize..(frame.start + frame.len) as usize];
            f(frame.ts, &packet);
            input.cursor += 1;
            input.queued_frames -= 1;
            if input.cursor == batch.frames.len() {
                input.cursor = 0;
                if let Some(done) = input.queued.pop_front() {
                    input.release(done);
                }
            }
        }
    }
}
