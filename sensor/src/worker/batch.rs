//! Batches of decoded frames and the rings that carry them from a reader to
//! a worker and back (recycled, so memory stays constant).

use crate::decode::Packet;
use std::thread;

/// Frames per batch, and bytes per batch before it is handed over early.
const BATCH_FRAMES: usize = 256;
const BATCH_BYTES: usize = 256 * 1024;
/// Batches in flight per worker.
pub(super) const RING_BATCHES: usize = 16;

/// A frame the reader decoded: its headers, and where its captured payload
/// lies in the batch (only payload bytes are copied; the worker never decodes
/// again).
pub(super) struct FrameRef {
    pub(super) ts: u64,
    /// The reader's capture clock at this frame (`reader::Clock`): never
    /// runs backwards, follows no lone outlier stamp.
    pub(super) clock: u64,
    /// Decoded headers; its `payload` is empty, the bytes are in the batch.
    pub(super) packet: Packet<'static>,
    pub(super) start: u32,
    pub(super) len: u32,
}

#[derive(Default)]
pub(super) struct Batch {
    pub(super) bytes: Vec<u8>,
    pub(super) frames: Vec<FrameRef>,
    /// Capture time the reader has reached (0: none): lets a worker that
    /// sees no traffic close intervals too.
    pub(super) tick: u64,
    /// After this batch's frames, sweep the flow table at this clock: the
    /// reader puts the same sweep at the same place of every worker's
    /// stream, so a flow meets sweeps at the same times whatever the
    /// worker count.
    pub(super) sweep: Option<u64>,
}

impl Batch {
    pub(super) fn is_full(&self) -> bool {
        self.frames.len() >= BATCH_FRAMES || self.bytes.len() >= BATCH_BYTES
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
        self.tick = 0;
        self.sweep = None;
    }
}

/// The reader's end of one worker.
pub(super) struct WorkerLink {
    pub(super) to_worker: rtrb::Producer<Batch>,
    pub(super) recycled: rtrb::Consumer<Batch>,
    pub(super) current: Batch,
    /// Woken after each batch: an idle worker parks instead of spinning.
    pub(super) thread: thread::Thread,
}

impl WorkerLink {
    pub(super) fn send_current(&mut self) {
        let fresh = self.recycled.pop().unwrap_or_default();
        let mut full = std::mem::replace(&mut self.current, fresh);
        loop {
            match self.to_worker.push(full) {
                Ok(()) => {
                    self.thread.unpark();
                    return;
                }
                Err(rtrb::PushError::Full(back)) => {
                    full = back;
                    if self.to_worker.is_abandoned() {
                        return; // the worker died; its panic is reported at join
                    }
                    thread::yield_now();
                }
            }
        }
    }
}
