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

//!
//! Files by job: `reader` (decode, dispatch), `batch` (batches and rings),
//! `merge` (a worker's inputs in time order), `analyse` (a worker's loop),
//! `sink` (where its transactions go), `closer` and `flow_health` (closed
//! intervals for the exporter).

mod analyse;
mod batch;
mod clock;
mod closer;
mod flow_health;
mod merge;
mod reader;
mod sink;

use crate::aggregate::{AggregateConfig, Aggregates};
use crate::capture::{sum_counters, CaptureSource};
use crate::decode::Decoder;
use crate::flow::{FlowConfig, FlowStats};
use crate::metrics::Health;
use crate::records::{CaptureStats, Message, Results};
use crate::rules::Rules;
use batch::{Batch, WorkerLink, RING_BATCHES};
use closer::Closer;
use reader::{Reader, ReaderOutput};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread;
/// Flows are swept for idleness once per this much capture time.
pub(crate) const SWEEP_EVERY_NS: u64 = 1_000_000_000;
/// With several readers, each hands its partial batches (and its time) to
/// every worker at least this often, idle or busy.
pub(crate) const FLUSH_EVERY_NS: u64 = 1_000_000;

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
    /// The tunnels opened, and what of them keys flows and stamps frames.
    pub decoder: Decoder,
    /// Pin reader and worker `i` to core `i` (live capture: one socket, its
    /// reader and a worker per core, as the NIC spreads its queues).
    pub pin_cores: bool,
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
                analyse::worker_loop(cfg, inputs, jsonl, closer, health)
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
            clock: clock::Clock::default(),
            decoder: cfg.decoder,
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
    let backends = aggregates.intervals.iter().map(|(start, rows)| (*start, crate::backends::pair(rows))).collect();
    Results {
        capture,
        source_counters: sum_counters(outs.into_iter().flat_map(|o| o.counters)),
        flows,
        aggregates,
        backends,
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
