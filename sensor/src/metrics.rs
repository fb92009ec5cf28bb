//! Health: counters the sensor's threads publish now and then (never per
//! packet), served in the Prometheus text format on `/metrics`.
//!
//! The reader and each worker publish at every tick (once a second of
//! capture time) into their own slots; the exporter after every round. The
//! server thread only reads.

use crate::capture::{sum_counters, SourceCounter};
use crate::flow::FlowStats;
use crate::records::{CaptureStats, TunnelCount};
use pastmon_common::{Encapsulation, SkipReason};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Health {
    /// One slot per reader (capture source): its counts and the source's own
    /// counters.
    capture: Mutex<Vec<(CaptureStats, Vec<SourceCounter>)>>,
    /// One slot per worker.
    flows: Mutex<Vec<FlowStats>>,
    open_flows: Mutex<Vec<u64>>,
    transactions: Mutex<Vec<u64>>,
    pub signatures: AtomicU64,
    pub batches_inserted: AtomicU64,
    pub rows_inserted: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub spool_batches: AtomicU64,
    pub refused_batches: AtomicU64,
    /// End (Unix seconds) of the newest interval in the database.
    pub exported_until: AtomicU64,
    /// Start (Unix seconds) of the oldest interval not yet exported (0: none).
    pub oldest_open_interval: AtomicU64,
}

impl Health {
    pub fn new(readers: usize, workers: usize) -> Arc<Health> {
        let h = Health::default();
        *lock(&h.capture) = vec![Default::default(); readers];
        *lock(&h.flows) = vec![FlowStats::default(); workers];
        *lock(&h.open_flows) = vec![0; workers];
        *lock(&h.transactions) = vec![0; workers];
        Arc::new(h)
    }

    pub fn publish_capture(&self, reader: usize, c: &CaptureStats, counters: &[SourceCounter]) {
        if let Some(slot) = lock(&self.capture).get_mut(reader) {
            *slot = (c.clone(), counters.to_vec());
        }
    }

    pub fn publish_worker(&self, worker: usize, flows: &FlowStats, open_flows: usize, transactions: u64) {
        if let Some(slot) = lock(&self.flows).get_mut(worker) {
            *slot = flows.clone();
        }
        if let Some(slot) = lock(&self.open_flows).get_mut(worker) {
            *slot = open_flows as u64;
        }
        if let Some(slot) = lock(&self.transactions).get_mut(worker) {
            *slot = transactions;
        }
    }

    /// The Prometheus text exposition at Unix time `now_s`.
    pub fn render(&self, now_s: u64) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP pastmon_{name} {help}\n# TYPE pastmon_{name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "pastmon_{name}{labels} {v}");
            }
        };
        let one = |v: u64| vec![(String::new(), v)];
        let mut c = CaptureStats::default();
        let mut source_counters = Vec::new();
        for (stats, counters) in lock(&self.capture).iter() {
            c.add(stats);
            source_counters.extend(counters.iter().cloned());
        }
        metric("packets_total", "counter", "Frames captured.", &one(c.packets));
        metric("bytes_total", "counter", "Bytes captured (on the wire).", &one(c.bytes));
        let skipped: Vec<(String, u64)> =
            SkipReason::ALL.iter().map(|r| (format!("{{reason=\"{}\"}}", r.name()), c.skipped[*r as usize])).collect();
        metric("skipped_frames_total", "counter", "Frames not analysed, by reason.", &skipped);
        let by_tunnel = |f: fn(&TunnelCount) -> u64| -> Vec<(String, u64)> {
            Encapsulation::ALL
                .iter()
                .map(|e| (format!("{{encapsulation=\"{}\"}}", e.name()), f(&c.tunnels[*e as usize])))
                .collect()
        };
        metric(
            "tunnel_frames_total",
            "counter",
            "Frames that came through a tunnel, by encapsulation.",
            &by_tunnel(|t| t.frames),
        );
        metric("tunnel_bytes_total", "counter", "Bytes (on the wire) of those frames.", &by_tunnel(|t| t.bytes));
        metric(
            "tunnel_malformed_total",
            "counter",
            "Tunnel headers cut short or inconsistent (frames skipped), by encapsulation.",
            &by_tunnel(|t| t.malformed),
        );
        for counter in sum_counters(source_counters) {
            metric(counter.name, "counter", counter.help, &one(counter.value));
        }
        let mut flows = FlowStats::default();
        for f in lock(&self.flows).iter() {
            flows.add(f);
        }
        metric("flows_total", "counter", "Flows started.", &one(flows.flows));
        metric(
            "midstream_flows_total",
            "counter",
            "TCP connections picked up without their handshake.",
            &one(flows.midstream),
        );
        metric("evicted_flows_total", "counter", "Flows evicted by the flow cap.", &one(flows.evicted));
        metric("retransmissions_total", "counter", "Retransmitted TCP segments.", &one(flows.retransmissions));
        metric("lost_bytes_total", "counter", "Payload bytes missing from the capture.", &one(flows.lost_bytes));
        metric(
            "acks_ahead_total",
            "counter",
            "TCP segments that acknowledged data before it was captured (rx queues out of step).",
            &one(flows.acks_ahead),
        );
        metric(
            "merged_early_total",
            "counter",
            "Frames a worker took before every reader reached their time (a reader stalled): order not guaranteed.",
            &one(flows.merged_early),
        );
        metric("open_flows", "gauge", "Flows in the workers' tables.", &one(lock(&self.open_flows).iter().sum()));
        metric("transactions_total", "counter", "Transactions timed.", &one(lock(&self.transactions).iter().sum()));
        metric("signatures", "gauge", "Distinct signature names.", &one(self.signatures.load(Ordering::Relaxed)));
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        metric(
            "export_batches_total",
            "counter",
            "Batches inserted into ClickHouse.",
            &one(get(&self.batches_inserted)),
        );
        metric("export_rows_total", "counter", "Rows inserted into ClickHouse.", &one(get(&self.rows_inserted)));
        metric(
            "export_failures_total",
            "counter",
            "Failed export attempts (retried).",
            &one(get(&self.failed_attempts)),
        );
        metric(
            "export_refused_batches_total",
            "counter",
            "Batches refused: spool full.",
            &one(get(&self.refused_batches)),
        );
        metric("spool_bytes", "gauge", "Bytes waiting in the spool.", &one(get(&self.spool_bytes)));
        metric("spool_batches", "gauge", "Batches waiting in the spool.", &one(get(&self.spool_batches)));
        let lag = match get(&self.exported_until) {
            0 => 0,
            t => now_s.saturating_sub(t),
        };
        metric("export_lag_seconds", "gauge", "Seconds since the end of the newest exported interval.", &one(lag));
        let age = match get(&self.oldest_open_interval) {
            0 => 0,
            t => now_s.saturating_sub(t),
        };
        metric("oldest_open_interval_age_seconds", "gauge", "Age of the oldest interval not yet exported.", &one(age));
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves `/metrics` on `addr` from a background thread through
/// `pastmon_http` (many scrapers at once, every connection bounded in time
/// and number); returns the bound address (port 0 picks a free one).
pub fn serve(addr: SocketAddr, health: Arc<Health>) -> std::io::Result<SocketAddr> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listener = {
        let _entered = runtime.enter();
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(std_listener)?
    };
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let health = health.clone();
            async move {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], health.render(now))
            }
        }),
    );
    let limits = pastmon_http::Limits { max_connections: 64, ..pastmon_http::Limits::default() };
    std::thread::Builder::new().name("pastmon-metrics".into()).spawn(move || {
        let _ = runtime.block_on(pastmon_http::serve(listener, app, limits, None, std::future::pending()));
    })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let h = Health::new(2, 2);
        h.publish_capture(0, &CaptureStats { packets: 10, bytes: 1000, ..CaptureStats::default() }, &[]);
        let kept = SourceCounter { name: "xdp_kept_total", help: "Kept.", value: 4, dropped_frames: false };
        h.publish_capture(1, &CaptureStats { packets: 5, ..CaptureStats::default() }, &[kept]);
        h.publish_worker(1, &FlowStats { flows: 3, ..FlowStats::default() }, 2, 7);
        h.exported_until.store(1000, Ordering::Relaxed);
        let text = h.render(1300);
        for line in [
            "pastmon_packets_total 15",
            "pastmon_xdp_kept_total 4",
            "pastmon_flows_total 3",
            "pastmon_transactions_total 7",
            "pastmon_export_lag_seconds 300",
            "pastmon_skipped_frames_total{reason=\"not_ip\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }
}
