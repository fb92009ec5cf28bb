//! Workers: N threads, each owning the flows whose symmetric hash picks it.
//!
//! The reader decodes just enough of each frame to hash its flow, copies the
//! frame into that worker's current batch, and hands full batches over a
//! bounded lock-free single-producer/single-consumer ring (rtrb). Workers
//! return empty batches on a second ring, so batches are recycled and memory
//! stays constant. A full ring makes the reader wait (a file is never
//! dropped from); nothing else is shared, so no lock sits on the per-packet
//! path.

use crate::aggregate::{AggregateConfig, Aggregates};
use crate::capture::{CaptureError, CaptureSource};
use crate::decode::{decode, Packet};
use crate::flow::{FlowConfig, FlowKey, FlowStats, FlowTable};
use crate::report;
use crate::rules::{Namer, Rules};
use crate::transaction::{Transaction, TransactionSink};
use pastmon_common::SkipReason;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Frames per batch, and bytes per batch before it is handed over early.
const BATCH_FRAMES: usize = 256;
const BATCH_BYTES: usize = 256 * 1024;
/// Batches in flight per worker.
const RING_BATCHES: usize = 16;
/// Flows are swept for idleness once per this much capture time.
const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// Where `--transactions` lines go, shared by the workers.
pub type JsonlOut = Arc<Mutex<dyn Write + Send>>;

#[derive(Clone)]
pub struct EngineConfig {
    pub workers: usize,
    pub flows: FlowConfig,
    pub aggregate: AggregateConfig,
    pub rules: Arc<Rules>,
}

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
    /// First and last frame timestamps, Unix nanoseconds.
    pub first_ns: u64,
    pub last_ns: u64,
}

impl CaptureStats {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }
}

/// Everything one run produced.
pub struct Results {
    pub capture: CaptureStats,
    pub flows: FlowStats,
    pub aggregates: Aggregates,
    /// Signature names that overflowed a plugin's cap into `<PLUGIN>_OTHER`.
    pub signatures_overflowed: u64,
    /// Set when the capture ended with an error; the results cover what was
    /// read before it.
    pub error: Option<CaptureError>,
}

/// A frame the reader decoded: its headers, and where its captured payload
/// lies in the batch (only payload bytes are copied; the worker never decodes
/// again).
struct FrameRef {
    ts: u64,
    /// Decoded headers; its `payload` is empty, the bytes are in the batch.
    packet: Packet<'static>,
    start: u32,
    len: u32,
}

#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    frames: Vec<FrameRef>,
}

impl Batch {
    fn is_full(&self) -> bool {
        self.frames.len() >= BATCH_FRAMES || self.bytes.len() >= BATCH_BYTES
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
    }
}

/// The reader's end of one worker.
struct WorkerLink {
    to_worker: rtrb::Producer<Batch>,
    recycled: rtrb::Consumer<Batch>,
    current: Batch,
    /// Woken after each batch: an idle worker parks instead of spinning.
    thread: thread::Thread,
}

impl WorkerLink {
    fn send_current(&mut self) {
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

/// Where a worker's transactions go: its aggregates, and the shared
/// `--transactions` file through a local buffer.
struct WorkerSink {
    aggregates: Aggregates,
    jsonl: Option<(Vec<u8>, JsonlOut)>,
}

impl WorkerSink {
    fn flush_jsonl(&mut self) {
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
        if let Some((buf, _)) = &mut self.jsonl {
            report::transaction_json(&tx, buf);
            if buf.len() >= 64 * 1024 {
                self.flush_jsonl();
            }
        }
        self.aggregates.transaction(tx);
    }
}

struct WorkerOutput {
    flows: FlowStats,
    aggregates: Aggregates,
}

fn worker_loop(
    cfg: EngineConfig,
    mut from_reader: rtrb::Consumer<Batch>,
    mut recycle: rtrb::Producer<Batch>,
    jsonl: Option<JsonlOut>,
) -> WorkerOutput {
    let mut flows = FlowTable::new(cfg.flows.clone(), Namer::new(cfg.rules.clone()));
    let mut sink =
        WorkerSink { aggregates: Aggregates::new(&cfg.aggregate), jsonl: jsonl.map(|out| (Vec::new(), out)) };
    let mut next_sweep = 0;
    let mut idle_spins = 0u32;
    loop {
        let mut batch = match from_reader.pop() {
            Ok(b) => b,
            Err(_) if from_reader.is_abandoned() && from_reader.is_empty() => break,
            Err(_) => {
                idle_spins += 1;
                if idle_spins < 4 {
                    thread::yield_now();
                } else {
                    thread::park_timeout(Duration::from_millis(1));
                }
                continue;
            }
        };
        idle_spins = 0;
        for f in &batch.frames {
            let mut packet = f.packet;
            packet.payload = &batch.bytes[f.start as usize..(f.start + f.len) as usize];
            flows.packet(f.ts, &packet, &mut sink);
            if f.ts >= next_sweep {
                flows.sweep(f.ts, &mut sink);
                next_sweep = f.ts + SWEEP_EVERY_NS;
            }
        }
        batch.clear();
        // The reader may have stopped taking recycled batches; then drop it.
        let _ = recycle.push(batch);
    }
    flows.close_all(&mut sink);
    sink.flush_jsonl();
    WorkerOutput { flows: flows.stats.clone(), aggregates: sink.aggregates }
}

/// Runs a capture source through `cfg.workers` workers to its end.
/// `jsonl` receives one JSON line per transaction; `progress` is called now
/// and then with the source's progress.
pub fn run(
    source: &mut dyn CaptureSource,
    cfg: &EngineConfig,
    jsonl: Option<JsonlOut>,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Results {
    let n = cfg.workers.max(1);
    let mut links = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let (to_worker, from_reader) = rtrb::RingBuffer::new(RING_BATCHES);
        let (recycle, recycled) = rtrb::RingBuffer::new(RING_BATCHES + 2);
        let (cfg, jsonl) = (cfg.clone(), jsonl.clone());
        let handle = thread::Builder::new()
            .name(format!("pastmon-worker-{i}"))
            .spawn(move || worker_loop(cfg, from_reader, recycle, jsonl))
            .unwrap_or_else(|e| panic!("cannot start a worker thread: {e}"));
        links.push(WorkerLink { to_worker, recycled, current: Batch::default(), thread: handle.thread().clone() });
        handles.push(handle);
    }

    let mut capture = CaptureStats::default();
    let mut error = None;
    loop {
        let frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        capture.packets += 1;
        capture.bytes += u64::from(frame.wire_len);
        if capture.first_ns == 0 {
            capture.first_ns = frame.ts_ns;
        }
        capture.last_ns = capture.last_ns.max(frame.ts_ns);
        let packet = match decode(frame.link, frame.data) {
            Ok(p) => p,
            Err(reason) => {
                capture.skipped[reason as usize] += 1;
                continue;
            }
        };
        capture.first_fragments += u64::from(packet.first_fragment);
        let worker = (FlowKey::of(&packet).0.hash() % n as u64) as usize;
        let link = &mut links[worker];
        let start = link.current.bytes.len() as u32;
        link.current.bytes.extend_from_slice(packet.payload);
        let len = packet.payload.len() as u32;
        link.current.frames.push(FrameRef { ts: frame.ts_ns, packet: Packet { payload: &[], ..packet }, start, len });
        if link.current.is_full() {
            link.send_current();
        }
        if capture.packets % 8192 == 0 {
            let (done, total) = source.progress();
            progress(done, total);
        }
    }
    for link in &mut links {
        if !link.current.frames.is_empty() {
            link.send_current();
        }
    }
    drop(links);

    let mut flows = FlowStats::default();
    let mut aggregates = Aggregates::new(&cfg.aggregate);
    for h in handles {
        let out = match h.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        flows.add(&out.flows);
        aggregates.merge(out.aggregates);
    }
    let (done, total) = source.progress();
    progress(done, total);
    Results { capture, flows, aggregates, signatures_overflowed: cfg.rules.overflowed(), error }
}
