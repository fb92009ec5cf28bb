//! Workers: N threads, each owning the flows whose symmetric hash picks it.
//!
//! Each capture source has a reader. A reader decodes each frame once, copies
//! it into the current batch of the worker owning its flow, and hands full
//! batches over a bounded lock-free single-producer/single-consumer ring
//! (rtrb), one ring per reader and worker; a worker merges its rings in time
//! order (`merge`). Workers
//! return empty batches on a second ring, so batches are recycled and memory
//! stays constant. A full ring makes the reader wait (a file is never
//! dropped from); nothing else is shared, so no lock sits on the per-packet
//! path.

mod merge;

use crate::aggregate::{AggregateConfig, Aggregates, IntervalRows};
use crate::capture::{frames_dropped, sum_counters, CaptureError, CaptureSource, LinkType, Next, SourceCounter};
use crate::decode::{decode, Packet};
use crate::export::encode::SensorInterval;
use crate::export::Message;
use crate::flow::{FlowConfig, FlowKey, FlowStats, FlowTable};
use crate::metrics::Health;
use crate::report;
use crate::rules::{Namer, Rules};
use crate::transaction::{Transaction, TransactionSink};
use pastmon_common::SkipReason;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc::SyncSender;
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
/// With several readers, each hands its partial batches (and its time) to
/// every worker at least this often, idle or busy.
const FLUSH_EVERY_NS: u64 = 1_000_000;

/// Where `--transactions` lines go, shared by the workers.
pub type JsonlOut = Arc<Mutex<dyn Write + Send>>;

/// Where a run's results go besides what `run` returns.
#[derive(Default)]
pub struct Outputs {
    /// One JSON line per transaction.
    pub jsonl: Option<JsonlOut>,
    /// Closed intervals go to the exporter (participants: the workers, then
    /// the readers) instead of into the results.
    pub export: Option<SyncSender<Message>>,
    /// Counters for `/metrics`, published once a second of capture time.
    pub health: Option<Arc<Health>>,
}

#[derive(Clone)]
pub struct EngineConfig {
    pub workers: usize,
    /// Seconds after an interval's end before it is closed (late responses).
    pub grace_s: u64,
    /// Share of transactions (0..=1) exported one by one (`transactions` table).
    pub transactions_sample: f64,
    pub flows: FlowConfig,
    pub aggregate: AggregateConfig,
    pub rules: Arc<Rules>,
    /// Pin reader and worker `i` to core `i` (live capture: one socket, its
    /// reader and a worker per core, as the NIC spreads its queues).
    pub pin_cores: bool,
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
    /// Frames the source lost before the reader saw them (live capture:
    /// socket drops, full rings, failed redirects), counted when the reader
    /// reads the source's counters (every second).
    pub dropped: u64,
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
        self.dropped += o.dropped;
        if self.first_ns == 0 || (o.first_ns != 0 && o.first_ns < self.first_ns) {
            self.first_ns = o.first_ns;
        }
        self.last_ns = self.last_ns.max(o.last_ns);
    }

    fn count(&mut self, ts_ns: u64, wire_len: u32) {
        self.packets += 1;
        self.bytes += u64::from(wire_len);
        if self.first_ns == 0 {
            self.first_ns = ts_ns;
        }
        self.last_ns = self.last_ns.max(ts_ns);
    }
}

/// One participant's (a worker's or the reader's) link to the exporter: it
/// reports the intervals it has closed.
struct Closer {
    participant: usize,
    sender: SyncSender<Message>,
    interval_s: u64,
    grace_s: u64,
    /// Every interval starting before this (Unix seconds) was reported.
    closed_before: u64,
}

impl Closer {
    /// Intervals that start before the returned second are over at capture
    /// time `now_ns`, grace period included.
    fn due(&self, now_ns: u64) -> u64 {
        match (now_ns / 1_000_000_000).checked_sub(self.grace_s + self.interval_s) {
            Some(s) => (s / self.interval_s + 1) * self.interval_s,
            None => 0,
        }
    }

    fn interval_of(&self, ts_ns: u64) -> u64 {
        ts_ns / 1_000_000_000 / self.interval_s * self.interval_s
    }

    fn report(
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

/// Everything one run produced.
pub struct Results {
    pub capture: CaptureStats,
    /// The sources' own counters (live capture: kernel and socket drops).
    pub source_counters: Vec<SourceCounter>,
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
    /// Capture time the reader has reached (0: none): lets a worker that
    /// sees no traffic close intervals too.
    tick: u64,
}

impl Batch {
    fn is_full(&self) -> bool {
        self.frames.len() >= BATCH_FRAMES || self.bytes.len() >= BATCH_BYTES
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
        self.tick = 0;
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

/// Sampled transactions a worker holds until their interval closes; past
/// this many more are not sampled (counted).
const MAX_SAMPLED: usize = 100_000;

/// Where a worker's transactions go: its aggregates, the shared
/// `--transactions` file through a local buffer, and the sample for the
/// database's `transactions` table.
struct WorkerSink {
    aggregates: Aggregates,
    jsonl: Option<(Vec<u8>, JsonlOut)>,
    /// Keep a transaction when its hash is below this (0: sampling off).
    sample_below: u64,
    sampled: Vec<Transaction>,
    sample_overflow: u64,
}

impl WorkerSink {
    /// Deterministic sampling: the same transactions whatever the worker count.
    fn sample(&mut self, tx: &Transaction) {
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
        if self.sample_below > 0 {
            self.sample(&tx);
        }
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
    mut inputs: merge::Inputs,
    jsonl: Option<JsonlOut>,
    mut closer: Option<Closer>,
    health: Option<(usize, Arc<Health>)>,
) -> WorkerOutput {
    let mut flows = FlowTable::new(cfg.flows.clone(), Namer::new(cfg.rules.clone()));
    let sample_below = match (&closer, cfg.transactions_sample) {
        (Some(_), r) if r >= 1.0 => u64::MAX,
        (Some(_), r) if r > 0.0 => (r * u64::MAX as f64) as u64,
        _ => 0,
    };
    let mut sink = WorkerSink {
        aggregates: Aggregates::new(&cfg.aggregate),
        jsonl: jsonl.map(|out| (Vec::new(), out)),
        sample_below,
        sampled: Vec::new(),
        sample_overflow: 0,
    };
    let mut next_sweep = 0;
    let mut idle_spins = 0u32;
    let mut now = 0;
    let mut flow_health = FlowHealth::default();
    let mut next_report = 0;
    // End of the interval of the last frame (ns): at the first frame past it,
    // the flow counters so far go to that interval.
    let interval_ns = closer.as_ref().map(|c| c.interval_s * 1_000_000_000);
    let mut interval_end = 0;
    loop {
        let got = inputs.pull();
        inputs.drain(|ts, packet| {
            if let Some(len) = interval_ns.filter(|_| ts >= interval_end) {
                if interval_end > 0 {
                    flow_health.note(&flows.stats, (interval_end - len) / 1_000_000_000);
                }
                interval_end = (ts / len + 1) * len;
            }
            flows.packet(ts, packet, &mut sink);
            if ts >= next_sweep {
                flows.sweep(ts, &mut sink);
                next_sweep = ts + SWEEP_EVERY_NS;
            }
            now = now.max(ts);
        });
        flows.stats.merged_early = inputs.taken_early;
        if inputs.over() {
            break;
        }
        // Every reader has reached the horizon: intervals before it can close.
        now = now.max(inputs.horizon());
        if let Some(c) = closer.as_mut() {
            if now >= next_report {
                flow_health.note(&flows.stats, c.interval_of(now));
            }
            let due = c.due(now);
            if due > c.closed_before {
                let health = flow_health.take_before(due);
                c.report(due, sink.aggregates.take_before(due), health, std::mem::take(&mut sink.sampled));
            }
        }
        if now >= next_report {
            if let Some((i, h)) = &health {
                h.publish_worker(*i, &flows.stats, flows.len(), sink.aggregates.transactions);
            }
            next_report = now + SWEEP_EVERY_NS;
        }
        if got {
            idle_spins = 0;
        } else {
            idle_spins += 1;
            if idle_spins < 4 {
                thread::yield_now();
            } else {
                thread::park_timeout(Duration::from_millis(1));
            }
        }
    }
    flows.close_all(&mut sink);
    sink.flush_jsonl();
    if let Some((i, h)) = &health {
        h.publish_worker(*i, &flows.stats, flows.len(), sink.aggregates.transactions);
    }
    if let Some(mut c) = closer {
        flow_health.note(&flows.stats, c.interval_of(now));
        let health = flow_health.take_before(u64::MAX);
        c.report(u64::MAX, sink.aggregates.take_before(u64::MAX), health, std::mem::take(&mut sink.sampled));
        if sink.sample_overflow > 0 {
            eprintln!("pastmon: {} transactions not sampled (more than {MAX_SAMPLED} waiting)", sink.sample_overflow);
        }
    }
    WorkerOutput { flows: flows.stats.clone(), aggregates: sink.aggregates }
}

/// A worker's flow counters per interval for the `sensors` table: noted at
/// the first frame of each interval (for the one before) and once a second,
/// handed over as intervals close.
#[derive(Default)]
struct FlowHealth {
    noted: FlowStats,
    by_interval: BTreeMap<u64, SensorInterval>,
}

impl FlowHealth {
    fn note(&mut self, now: &FlowStats, interval: u64) {
        let mut delta = now.clone();
        delta.subtract(&self.noted);
        if delta != FlowStats::default() {
            self.by_interval.entry(interval).or_default().flows.add(&delta);
            self.noted = now.clone();
        }
    }

    fn take_before(&mut self, due: u64) -> BTreeMap<u64, SensorInterval> {
        let open = self.by_interval.split_off(&due);
        std::mem::replace(&mut self.by_interval, open)
    }
}

/// Runs capture sources through `cfg.workers` workers to their end. Each
/// source has its own reader (the first on the calling thread, which alone
/// reports `progress`); every reader reaches every worker over its own SPSC
/// ring, so frames of one flow seen by different sources (rx queues with
/// asymmetric RSS) meet at the flow's owner.
pub fn run(
    sources: &mut [&mut (dyn CaptureSource + Send)],
    cfg: &EngineConfig,
    outputs: Outputs,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Results {
    let Outputs { jsonl, export, health } = outputs;
    let n = cfg.workers.max(1);
    let closer = |participant| {
        export.clone().map(|sender| Closer {
            participant,
            sender,
            interval_s: cfg.aggregate.interval_s.max(1),
            grace_s: cfg.grace_s,
            closed_before: 0,
        })
    };
    let mut reader_links: Vec<Vec<WorkerLink>> = sources.iter().map(|_| Vec::with_capacity(n)).collect();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let mut rings = Vec::with_capacity(sources.len());
        let mut producers = Vec::with_capacity(sources.len());
        for _ in 0..sources.len() {
            let (to_worker, from_reader) = rtrb::RingBuffer::new(RING_BATCHES);
            let (recycle, recycled) = rtrb::RingBuffer::new(RING_BATCHES + 2);
            rings.push((from_reader, recycle));
            producers.push((to_worker, recycled));
        }
        let inputs = merge::Inputs::new(rings);
        let (cfg, jsonl, closer, health) = (cfg.clone(), jsonl.clone(), closer(i), health.clone().map(|h| (i, h)));
        let handle = thread::Builder::new()
            .name(format!("pastmon-worker-{i}"))
            .spawn(move || {
                if cfg.pin_cores {
                    pin_to_core(i);
                }
                worker_loop(cfg, inputs, jsonl, closer, health)
            })
            .unwrap_or_else(|e| panic!("cannot start a worker thread: {e}"));
        for (links, (to_worker, recycled)) in reader_links.iter_mut().zip(producers) {
            links.push(WorkerLink { to_worker, recycled, current: Batch::default(), thread: handle.thread().clone() });
        }
        handles.push(handle);
    }

    let merged = sources.len() > 1;
    let readers: Vec<Reader> = reader_links
        .into_iter()
        .enumerate()
        .map(|(r, links)| Reader {
            index: r,
            links,
            capture: CaptureStats::default(),
            intervals: BTreeMap::new(),
            closer: closer(n + r),
            health: health.clone(),
            rules: cfg.rules.clone(),
            next_tick: 0,
            next_flush: 0,
            merged,
            dropped_before: 0,
        })
        .collect();
    drop(export);
    let pin = cfg.pin_cores;
    if pin {
        pin_to_core(0); // the first reader runs on the calling thread
    }
    let mut outs = thread::scope(|scope| {
        let mut readers = readers.into_iter();
        let mut sources = sources.iter_mut();
        let first = readers.next().zip(sources.next());
        let others: Vec<_> = readers
            .zip(sources)
            .map(|(reader, source)| {
                thread::Builder::new()
                    .name(format!("pastmon-reader-{}", reader.index))
                    .spawn_scoped(scope, move || {
                        if pin {
                            pin_to_core(reader.index);
                        }
                        reader.read(&mut **source, &mut |_, _| {})
                    })
                    .unwrap_or_else(|e| panic!("cannot start a reader thread: {e}"))
            })
            .collect();
        let mut outs: Vec<ReaderOutput> =
            first.map(|(reader, source)| reader.read(&mut **source, progress)).into_iter().collect();
        for h in others {
            outs.push(h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        outs
    });

    let mut capture = CaptureStats::default();
    let mut error = None;
    for out in &mut outs {
        capture.add(&out.capture);
        error = error.or(out.error.take());
    }
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
    Results {
        capture,
        source_counters: sum_counters(outs.into_iter().flat_map(|o| o.counters)),
        flows,
        aggregates,
        signatures_overflowed: cfg.rules.overflowed(),
        error,
    }
}

/// Pins the calling thread to core `i` modulo the cores it may use; a
/// failure (a restricted cpuset) leaves the scheduler in charge.
fn pin_to_core(i: usize) {
    // SAFETY: cpu_set_t is plain data; the calls only read and write it.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return;
        }
        let cores: Vec<usize> = (0..libc::CPU_SETSIZE as usize).filter(|c| libc::CPU_ISSET(*c, &allowed)).collect();
        if cores.is_empty() {
            return;
        }
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cores[i % cores.len()], &mut one);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
    }
}

/// One source's reader: decodes each frame once, counts it, and hands it to
/// the worker owning its flow.
struct Reader {
    index: usize,
    links: Vec<WorkerLink>,
    capture: CaptureStats,
    /// Capture health per interval, for the exporter.
    intervals: BTreeMap<u64, SensorInterval>,
    closer: Option<Closer>,
    health: Option<Arc<Health>>,
    rules: Arc<Rules>,
    next_tick: u64,
    next_flush: u64,
    /// Workers merge several readers: flush every FLUSH_EVERY_NS.
    merged: bool,
    /// The source's dropped frames at the last look at its counters.
    dropped_before: u64,
}

struct ReaderOutput {
    capture: CaptureStats,
    counters: Vec<SourceCounter>,
    error: Option<CaptureError>,
}

impl Reader {
    fn read(mut self, source: &mut dyn CaptureSource, progress: &mut dyn FnMut(u64, Option<u64>)) -> ReaderOutput {
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
            let ts = frame.ts_ns;
            self.frame(ts, frame.link, frame.data, frame.wire_len);
            // After the frame (its borrow of the source is over): the tick
            // then carries it, and the source can be asked for counters.
            if ts >= self.next_tick {
                self.tick(ts, source);
            } else if self.merged && ts >= self.next_flush {
                // Other readers' frames wait in the workers' merge until
                // this reader's horizon passes them: keep it moving.
                self.flush(ts);
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
        // The reader's time: its last frame, or its last tick (an idle source).
        let now = self.capture.last_ns.max(self.next_tick.saturating_sub(SWEEP_EVERY_NS));
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

    /// Once a second of capture time: every worker learns the time (and gets
    /// its partial batch), so idle ones close intervals too; the reader
    /// reports its closed intervals and publishes its counters.
    fn tick(&mut self, ts: u64, source: &mut dyn CaptureSource) {
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

    /// Counts and decodes one frame and queues it for its flow's worker.
    fn frame(&mut self, ts: u64, link: LinkType, data: &[u8], wire_len: u32) {
        let mut interval =
            self.closer.as_ref().map(|c| &mut self.intervals.entry(c.interval_of(ts)).or_default().capture);
        self.capture.count(ts, wire_len);
        if let Some(s) = interval.as_deref_mut() {
            s.count(ts, wire_len);
        }
        let packet = match decode(link, data) {
            Ok(p) => p,
            Err(reason) => {
                self.capture.skipped[reason as usize] += 1;
                if let Some(s) = interval {
                    s.skipped[reason as usize] += 1;
                }
                return;
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
        link.current.frames.push(FrameRef { ts, packet: Packet { payload: &[], ..packet }, start, len });
        if link.current.is_full() {
            link.send_current();
        }
    }
}
