//! The sensor's configuration file (TOML; example in `deploy/pastmon.toml`).

use crate::aggregate::{AggregateConfig, ClientGranularity};
use crate::export::clickhouse::{check_identifier, ClickHouseConfig};
use crate::export::retention::RetentionConfig;
use crate::export::SpoolConfig;
use crate::flow::FlowConfig;
use crate::rules::Rules;
use crate::worker::EngineConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The sensor's name in the database.
    pub sensor: String,
    /// Address of the Prometheus `/metrics` endpoint; none when absent.
    pub metrics_listen: Option<std::net::SocketAddr>,
    #[serde(default)]
    pub analysis: Analysis,
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    #[serde(default)]
    pub spool: SpoolConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Analysis {
    /// Signature rules; the built-in defaults when absent.
    pub rules: Option<PathBuf>,
    /// Aggregation interval, seconds.
    pub interval: u64,
    /// Seconds after an interval's end before it is exported.
    pub grace: u64,
    /// Worker threads; 0: one per core.
    pub workers: usize,
    /// `address`, `none` or `prefix:V4LEN,V6LEN`.
    pub clients: String,
    pub max_flows: usize,
    pub idle_timeout: u64,
    pub response_timeout: u64,
    pub server_ports: Vec<u16>,
    /// Share of transactions (0 to 1) written one by one to `transactions`.
    pub transactions_sample: f64,
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            rules: None,
            interval: 300,
            grace: 150,
            workers: 0,
            clients: "address".into(),
            max_flows: 1_000_000,
            idle_timeout: 300,
            response_timeout: 120,
            server_ports: Vec::new(),
            transactions_sample: 0.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: 0,
            reason: e.to_string(),
        })?;
        let cfg: Config = toml::from_str(&text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start).min(text.len());
            let line = text.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            ConfigError { file: file.clone(), line, reason: e.message().to_owned() }
        })?;
        let invalid = |reason: String| ConfigError { file: file.clone(), line: 0, reason };
        check_identifier(&cfg.clickhouse.database).map_err(|e| invalid(format!("clickhouse.database: {e}")))?;
        if cfg.sensor.is_empty() {
            return Err(invalid("sensor: the name must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&cfg.analysis.transactions_sample) {
            return Err(invalid("analysis.transactions_sample must be between 0 and 1".into()));
        }
        if cfg.analysis.interval == 0 {
            return Err(invalid("analysis.interval must be at least 1 second".into()));
        }
        cfg.analysis.clients.parse::<ClientGranularity>().map_err(|e| invalid(format!("analysis.clients: {e}")))?;
        Ok(cfg)
    }

    /// The engine settings, with the rules loaded.
    pub fn engine(&self) -> anyhow::Result<EngineConfig> {
        let a = &self.analysis;
        let rules = match &a.rules {
            Some(path) => Rules::load(path)?,
            None => Rules::default_rules(),
        };
        Ok(EngineConfig {
            workers: match a.workers {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
            grace_s: a.grace,
            transactions_sample: a.transactions_sample,
            flows: FlowConfig {
                max_flows: a.max_flows,
                idle_timeout_ns: a.idle_timeout * 1_000_000_000,
                response_timeout_ns: a.response_timeout * 1_000_000_000,
                server_ports: a.server_ports.clone(),
            },
            aggregate: AggregateConfig {
                interval_s: a.interval,
                clients: a.clients.parse().map_err(anyhow::Error::msg)?,
                ..AggregateConfig::default()
            },
            rules: Arc::new(rules),
        })
    }
}
