//! Helpers shared by the integration tests: where the shared captures are,
//! running the engine on one, and reading the oracle tables.
#![allow(dead_code)] // each test binary uses its own subset

pub mod conversation;

use pastmon::aggregate::AggregateConfig;
use pastmon::capture::CaptureFile;
use pastmon::flow::FlowConfig;
use pastmon::records::Results;
use pastmon::report;
use pastmon::rules::Rules;
use pastmon::worker::{self, EngineConfig};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `../shared/pcaps` beside the checkout, or `$PASTMON_PCAPS`.
pub fn pcaps_dir() -> PathBuf {
    let dir = std::env::var_os("PASTMON_PCAPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps"));
    assert!(dir.join("MANIFEST.tsv").exists(), "test captures not found at {} (set PASTMON_PCAPS)", dir.display());
    dir
}

/// Every capture file, sorted.
pub fn all_captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(pcaps_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("pcap" | "pcapng" | "cap")))
        .collect();
    v.sort();
    v
}

/// A capture by its name without extension.
pub fn capture(name: &str) -> PathBuf {
    all_captures()
        .into_iter()
        .find(|p| p.file_stem().and_then(|s| s.to_str()) == Some(name))
        .unwrap_or_else(|| panic!("no capture named {name}"))
}

pub struct Run {
    pub results: Results,
    pub report: Value,
    /// One JSON object per transaction, as `--transactions` writes them.
    pub txs: Vec<Value>,
}

impl Run {
    pub fn plugin(&self, plugin: &str) -> Vec<&Value> {
        self.txs.iter().filter(|t| t["plugin"] == plugin).collect()
    }
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The engine with default settings, the built-in rules and `workers` workers.
pub fn engine(workers: usize) -> EngineConfig {
    EngineConfig {
        workers,
        grace_s: 0,
        transactions_sample: 0.0,
        flows: FlowConfig::default(),
        aggregate: AggregateConfig::default(),
        rules: Arc::new(Rules::default_rules(&pastmon::plugins::names())),
        decoder: pastmon::decode::Decoder::default(),
        pin_cores: false,
    }
}

pub fn analyse(path: &Path, workers: usize) -> Run {
    analyse_with(path, &engine(workers))
}

pub fn analyse_with(path: &Path, cfg: &EngineConfig) -> Run {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink: worker::JsonlOut = Arc::new(Mutex::new(SharedBuf(buf.clone())));
    let mut source = CaptureFile::open(path).unwrap();
    let outputs = worker::Outputs { jsonl: Some(sink), ..worker::Outputs::default() };
    let results = worker::run(&mut [&mut source], cfg, outputs, &mut |_, _| {});
    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let txs = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Run { report: report::json_report(&results), results, txs }
}

/// Rows of an oracle TSV as maps from column name to value (repeated header
/// lines, as some oracle files have, are skipped).
pub fn oracle(capture: &str, table: &str) -> Vec<HashMap<String, String>> {
    let path = pcaps_dir().join("oracle").join(capture).join(table);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let cols: Vec<&str> = header.split('\t').collect();
    lines
        .filter(|l| *l != header && !l.is_empty())
        .map(|l| cols.iter().map(|c| c.to_string()).zip(l.split('\t').map(str::to_owned)).collect())
        .collect()
}

/// Seconds (as written by tshark) to microseconds.
pub fn us(s: &str) -> f64 {
    s.parse::<f64>().unwrap() * 1e6
}

pub fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}
