//! Export: closed intervals → ClickHouse, through the spool.
//!
//! Pieces, as in Vector's sinks: `clickhouse` (the client), `schema`
//! (migrations), `encode` (RowBinary rows), `spool` (durable batches), and
//! here the exporter thread that merges what the workers closed and delivers
//! it with retries.
//!
//! Invariants:
//! - An interval is exported once every participant (each worker and the
//!   reader) has closed it, so level1 has one row per interval and key. A
//!   transaction that finishes after its interval was exported (later than
//!   the grace period) is exported in a further batch and counted as late.
//! - A batch is on disk (fsynced) before it is sent, and leaves the spool only
//!   when all its parts are in the database; a batch that may have reached the
//!   database before a failure is checked by `batch_id` before it is sent
//!   again. Nothing is lost and nothing is inserted twice.

pub mod encode;
pub mod retention;
pub mod schema;
pub mod spool;

use crate::aggregate::{merge_rows, IntervalRows};
use crate::metrics::Health;
use crate::records::{Message, SensorInterval};
use crate::transaction::Transaction;
use encode::RowBinary;
use pastmon_clickhouse::{quote, ChError, ClickHouseConfig, Client};
use serde::Deserialize;
use spool::{Batch, Part, Spool, SpoolError};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig { dir: PathBuf::from("/var/lib/pastmon/spool"), max_bytes: 1 << 30 }
    }
}

#[derive(Clone, Debug)]
pub struct ExportConfig {
    pub sensor: String,
    pub clickhouse: ClickHouseConfig,
    pub spool: SpoolConfig,
    pub interval_s: u64,
    /// At the end of a capture file, how long to keep retrying before
    /// leaving what is left in the spool.
    pub drain_timeout: Duration,
    pub retention: retention::RetentionConfig,
}

/// What the exporter did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportStats {
    pub batches_inserted: u64,
    pub rows_inserted: u64,
    /// Batches found in the spool at start and replayed.
    pub replayed: u64,
    /// Parts not sent again because the database already had them.
    pub duplicates_skipped: u64,
    /// Batches refused because the spool was full.
    pub refused: u64,
    pub late_transactions: u64,
    pub failed_attempts: u64,
    /// Batches still in the spool when the exporter stopped, and why.
    pub left_in_spool: u64,
    pub last_error: Option<String>,
}

pub struct Exporter {
    pub sender: SyncSender<Message>,
    handle: JoinHandle<Result<ExportStats, SpoolError>>,
}

impl Exporter {
    /// Starts the exporter thread for `participants` senders. Batches left
    /// in the spool by an earlier run are replayed first.
    pub fn start(cfg: ExportConfig, participants: usize, health: Option<Arc<Health>>) -> Result<Exporter, SpoolError> {
        let spool = Spool::open(&cfg.spool.dir, cfg.spool.max_bytes)?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(256);
        let handle = std::thread::Builder::new()
            .name("pastmon-exporter".into())
            .spawn(move || ExportLoop::new(cfg, spool, participants, health).run(receiver))
            .map_err(|source| SpoolError::Io { path: PathBuf::from("<thread>"), source })?;
        Ok(Exporter { sender, handle })
    }

    /// Waits for the exporter to deliver everything (every sender dropped).
    pub fn finish(self) -> Result<ExportStats, SpoolError> {
        drop(self.sender);
        match self.handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[derive(Default)]
struct Pending {
    rows: IntervalRows,
    health: SensorInterval,
    transactions: Vec<Transaction>,
}

struct ExportLoop {
    cfg: ExportConfig,
    client: Client,
    spool: Spool,
    /// closed_before per participant.
    watermarks: Vec<u64>,
    pending: BTreeMap<u64, Pending>,
    /// Intervals already exported (later rows for them are late).
    exported_before: u64,
    next_id: u64,
    /// Batches written by this run and never attempted unsuccessfully: they
    /// need no duplicate check.
    clean: HashSet<u64>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The migrations were applied (done before the first insert).
    schema_ready: bool,
    /// When retention is next enforced.
    retention_at: Instant,
    last_error: Option<String>,
    stats: ExportStats,
    health: Option<Arc<Health>>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl ExportLoop {
    fn new(cfg: ExportConfig, spool: Spool, participants: usize, health: Option<Arc<Health>>) -> ExportLoop {
        let client = Client::new(cfg.clickhouse.clone());
        // Ids grow across restarts: seconds since the epoch, then a counter.
        let last_spooled = spool
            .pending()
            .ok()
            .and_then(|v| v.last().and_then(|p| p.file_stem()?.to_str()?.parse::<u64>().ok()))
            .unwrap_or(0);
        let next_id = (unix_now() << 20).max(last_spooled + 1);
        ExportLoop {
            cfg,
            client,
            spool,
            watermarks: vec![0; participants],
            pending: BTreeMap::new(),
            exported_before: 0,
            next_id,
            clean: HashSet::new(),
            retry_at: None,
            backoff: Duration::from_secs(1),
            schema_ready: false,
            retention_at: Instant::now(),
            last_error: None,
            stats: ExportStats::default(),
            health,
        }
    }

    fn run(mut self, receiver: Receiver<Message>) -> Result<ExportStats, SpoolError> {
        self.stats.replayed = self.spool.pending()?.len() as u64;
        let mut draining_since = None;
        loop {
            let wait = self.retry_at.map_or(Duration::from_millis(500), |t| {
                t.saturating_duration_since(Instant::now()).max(Duration::from_millis(10))
            });
            match receiver.recv_timeout(wait) {
                Ok(msg) => self.receive(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // Every sender is gone: everything is closed.
                    self.watermarks.iter_mut().for_each(|w| *w = u64::MAX);
                    draining_since.get_or_insert_with(Instant::now);
                }
            }
            self.batch_ready_intervals()?;
            if self.retry_at.is_none_or(|t| Instant::now() >= t) {
                self.deliver()?;
            }
            self.publish()?;
            if self.schema_ready && Instant::now() >= self.retention_at {
                self.retention_at = Instant::now() + Duration::from_secs(3600);
                match self.cfg.retention.enforce(&self.client, unix_now()) {
                    Ok(dropped) if !dropped.is_empty() => eprintln!("pastmon: retention dropped {dropped:?}"),
                    Ok(_) => {}
                    Err(e) => eprintln!("pastmon: retention: {e}"),
                }
            }
            if let Some(since) = draining_since {
                let empty = self.spool.pending()?.is_empty();
                if empty || since.elapsed() >= self.cfg.drain_timeout {
                    self.stats.left_in_spool = self.spool.pending()?.len() as u64;
                    self.stats.last_error = self.last_error.take();
                    return Ok(self.stats);
                }
            }
        }
    }

    fn receive(&mut self, msg: Message) {
        let Message::Progress { participant, closed_before, intervals, health, transactions } = msg;
        let interval_s = self.cfg.interval_s.max(1);
        for tx in transactions {
            let start = tx.start_ns / 1_000_000_000 / interval_s * interval_s;
            self.pending.entry(start).or_default().transactions.push(tx);
        }
        for (start, rows) in intervals {
            if start < self.exported_before {
                self.stats.late_transactions += rows.values().map(|r| r.count).sum::<u64>();
            }
            merge_rows(&mut self.pending.entry(start).or_default().rows, rows);
        }
        for (start, h) in health {
            let p = &mut self.pending.entry(start).or_default().health;
            p.capture.add(&h.capture);
            p.flows.add(&h.flows);
        }
        if let Some(w) = self.watermarks.get_mut(participant) {
            *w = (*w).max(closed_before);
        }
    }

    /// Publishes the export's state for `/metrics`.
    fn publish(&self) -> Result<(), SpoolError> {
        let Some(h) = &self.health else { return Ok(()) };
        let set = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        set(&h.batches_inserted, self.stats.batches_inserted);
        set(&h.rows_inserted, self.stats.rows_inserted);
        set(&h.failed_attempts, self.stats.failed_attempts);
        set(&h.refused_batches, self.stats.refused);
        set(&h.spool_bytes, self.spool.bytes());
        set(&h.spool_batches, self.spool.pending()?.len() as u64);
        set(&h.oldest_open_interval, self.pending.keys().next().copied().unwrap_or(0));
        Ok(())
    }

    /// Turns every interval all participants have closed into a spooled batch.
    fn batch_ready_intervals(&mut self) -> Result<(), SpoolError> {
        let ready_before = self.watermarks.iter().copied().min().unwrap_or(u64::MAX);
        let still_open = self.pending.split_off(&ready_before);
        let ready = std::mem::replace(&mut self.pending, still_open);
        for (start, p) in ready {
            let late = start < self.exported_before;
            self.exported_before = self.exported_before.max(start + 1);
            let batch = self.encode(start, p, late);
            match self.spool.push(&batch) {
                Ok(_) => {
                    self.clean.insert(batch.id);
                }
                Err(SpoolError::Full { id, bytes, max }) => {
                    self.stats.refused += 1;
                    eprintln!("pastmon: spool full ({bytes} of {max} bytes): batch {id} for interval {start} dropped");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn encode(&mut self, start: u64, p: Pending, late: bool) -> Batch {
        let id = self.next_id;
        self.next_id += 1;
        let interval = (start, u32::try_from(self.cfg.interval_s).unwrap_or(u32::MAX));
        let sensor = &self.cfg.sensor;
        let mut level1 = RowBinary::default();
        let mut keys: Vec<_> = p.rows.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (key, row) in &keys {
            encode::level1_row(&mut level1, sensor, interval, key, row, id);
        }
        let mut parts = vec![Part::new("level1", keys.len() as u64, level1.0)];
        if !p.transactions.is_empty() {
            let mut txs = RowBinary::default();
            for tx in &p.transactions {
                encode::transaction_row(&mut txs, sensor, tx, id);
            }
            parts.push(Part::new("transactions", p.transactions.len() as u64, txs.0));
        }
        let backends = crate::backends::pair(&p.rows);
        if !backends.is_empty() {
            let mut rows = RowBinary::default();
            for (edge, paired) in &backends {
                encode::backends_row(&mut rows, sensor, interval, edge, paired, id);
            }
            parts.push(Part::new("backends", backends.len() as u64, rows.0));
        }
        if !late {
            let mut health = p.health;
            health.transactions = p.rows.values().map(|r| r.count).sum();
            let lag = unix_now().saturating_sub(start + self.cfg.interval_s);
            let mut sensors = RowBinary::default();
            let export = (u32::try_from(lag).unwrap_or(u32::MAX), self.spool.bytes());
            encode::sensors_row(&mut sensors, sensor, interval, &health, export, id);
            parts.push(Part::new("sensors", 1, sensors.0));
        }
        Batch { id, interval_start: start, parts }
    }

    /// Sends spooled batches in order until one fails.
    fn deliver(&mut self) -> Result<(), SpoolError> {
        let pending = self.spool.pending()?;
        if pending.is_empty() {
            return Ok(());
        }
        if !self.schema_ready {
            match schema::apply(&self.client) {
                Ok(applied) => {
                    if !applied.is_empty() {
                        eprintln!("pastmon: schema migrations applied: {applied:?}");
                    }
                    self.schema_ready = true;
                }
                Err(e) => {
                    self.failed(format!("cannot apply the schema: {e}"));
                    return Ok(());
                }
            }
        }
        for path in pending {
            let batch = match self.spool.load(&path) {
                Ok(b) => b,
                Err(SpoolError::Corrupt(p)) => {
                    eprintln!("pastmon: spool file {} is damaged; set aside", p.display());
                    continue;
                }
                Err(e) => return Err(e),
            };
            match self.send(&batch) {
                Ok(()) => {
                    self.last_error = None;
                    if let Some(h) = &self.health {
                        h.exported_until.fetch_max(batch.interval_start + self.cfg.interval_s, Ordering::Relaxed);
                    }
                    self.spool.remove(&path)?;
                    self.clean.remove(&batch.id);
                    self.stats.batches_inserted += 1;
                    self.retry_at = None;
                    self.backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    self.clean.remove(&batch.id);
                    self.failed(format!("export of batch {} failed: {e}", batch.id));
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Records a failed attempt and schedules the next (exponential backoff).
    fn failed(&mut self, what: String) {
        self.stats.failed_attempts += 1;
        eprintln!("pastmon: {what}; retrying in {:?}", self.backoff);
        self.last_error = Some(what);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(Duration::from_secs(60));
    }

    fn send(&mut self, batch: &Batch) -> Result<(), ChError> {
        let check = !self.clean.contains(&batch.id);
        for part in &batch.parts {
            if part.rows == 0 {
                continue;
            }
            if check && self.already_inserted(&part.table, batch.id)? {
                self.stats.duplicates_skipped += 1;
                continue;
            }
            self.client.insert(&part.table, &part.columns, &part.data)?;
            self.stats.rows_inserted += part.rows;
        }
        Ok(())
    }

    fn already_inserted(&self, table: &str, id: u64) -> Result<bool, ChError> {
        let db = &self.cfg.clickhouse.database;
        let sql =
            format!("SELECT count() FROM {db}.{table} WHERE sensor = {} AND batch_id = {id}", quote(&self.cfg.sensor));
        Ok(self.client.query(&sql)?.trim() != "0")
    }
}
