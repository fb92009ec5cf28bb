//! One worker's loop: its flows, their transactions, its closed intervals.

use super::closer::Closer;
use super::flow_health::FlowHealth;
use super::merge::{self, Event};
use super::sink::{WorkerSink, MAX_SAMPLED};
use super::{EngineConfig, JsonlOut, SWEEP_EVERY_NS};
use crate::aggregate::Aggregates;
use crate::flow::{FlowStats, FlowTable};
use crate::metrics::Health;
use crate::rules::Namer;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What a worker hands back at the end.
pub(super) struct WorkerOutput {
    pub(super) flows: FlowStats,
    pub(super) aggregates: Aggregates,
}

/// A worker thread: merges its inputs, runs every frame through its flow
/// table, closes intervals as every reader's horizon passes them.
pub(super) fn worker_loop(
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
        inputs.drain(|event| match event {
            Event::Frame { ts, clock, packet } => {
                if let Some(len) = interval_ns.filter(|_| clock >= interval_end) {
                    if interval_end > 0 {
                        flow_health.note(&flows.stats, (interval_end - len) / 1_000_000_000);
                    }
                    interval_end = (clock / len + 1) * len;
                }
                flows.packet(ts, clock, &packet, &mut sink);
                now = now.max(clock);
            }
            // Where the reader put them: at the same place of every worker's
            // frames, so a flow meets the same sweeps whatever the worker count.
            Event::Sweep(clock) => {
                flows.sweep(clock, &mut sink);
                now = now.max(clock);
            }
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
