//! The sensor's configuration file (TOML; example in `deploy/pastmon.toml`).

use crate::aggregate::{AggregateConfig, ClientGranularity};
use crate::capture::xdp::{AttachMode, RingSizes, Watch, XdpConfig, ZeroCopy};
use crate::export::retention::RetentionConfig;
use crate::export::SpoolConfig;
use crate::flow::FlowConfig;
use crate::plugins;
use crate::rules::Rules;
use crate::worker::EngineConfig;
use pastmon_clickhouse::{check_identifier, ClickHouseConfig};
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
    /// The user a live sensor runs as once capture is set up.
    pub user: Option<String>,
    /// Let a live sensor go on as root when no `user` is set.
    #[serde(default)]
    pub allow_root: bool,
    /// Live capture; `pastmon run --pcap` ignores it.
    pub capture: Option<Capture>,
    #[serde(default)]
    pub analysis: Analysis,
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    #[serde(default)]
    pub spool: SpoolConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// What frames are not kept become on the monitor interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Others {
    /// Dropped in the driver: the default on a dedicated monitor port.
    #[default]
    Drop,
    /// Passed on to the kernel's stack.
    Pass,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    /// Monitor (mirror) interfaces, each with every rx queue.
    pub interfaces: Vec<String>,
    /// Watched servers, `ADDRESS[/LEN][:PORTS]`; none: keep everything.
    #[serde(default)]
    pub watch: Vec<Watch>,
    #[serde(default)]
    pub others: Others,
    #[serde(default = "default_mode")]
    pub mode: AttachMode,
    #[serde(default = "default_zero_copy")]
    pub zero_copy: ZeroCopy,
    /// UMEM frames per rx queue (power of two).
    #[serde(default = "default_frames")]
    pub frames: u32,
    /// Bytes per UMEM frame: 2048 or 4096.
    #[serde(default = "default_frame_size")]
    pub frame_size: u32,
    /// Rx ring entries per queue (power of two).
    #[serde(default = "default_rx_ring")]
    pub rx_ring: u32,
}

fn default_mode() -> AttachMode {
    AttachMode::Auto
}
fn default_zero_copy() -> ZeroCopy {
    ZeroCopy::Auto
}
fn default_frames() -> u32 {
    RingSizes::default().frames
}
fn default_frame_size() -> u32 {
    RingSizes::default().frame_size
}
fn default_rx_ring() -> u32 {
    RingSizes::default().rx_ring
}

impl Capture {
    /// One XDP setup per interface.
    pub fn xdp(&self) -> Vec<XdpConfig> {
        self.interfaces
            .iter()
            .map(|interface| XdpConfig {
                interface: interface.clone(),
                watch: self.watch.clone(),
                pass_others: self.others == Others::Pass,
                mode: self.mode,
                zero_copy: self.zero_copy,
                sizes: RingSizes { frames: self.frames, frame_size: self.frame_size, rx_ring: self.rx_ring },
            })
            .collect()
    }
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
        if let Some(capture) = &cfg.capture {
            if capture.interfaces.is_empty() {
                return Err(invalid("capture.interfaces: name at least one interface".into()));
            }
            let sizes = RingSizes { frames: capture.frames, frame_size: capture.frame_size, rx_ring: capture.rx_ring };
            sizes.check().map_err(|e| invalid(format!("capture: {e}")))?;
        }
        Ok(cfg)
    }

    /// The exporter's settings, for intervals of `interval_s` seconds.
    pub fn export(&self, interval_s: u64, drain_timeout: std::time::Duration) -> crate::export::ExportConfig {
        crate::export::ExportConfig {
            sensor: self.sensor.clone(),
            clickhouse: self.clickhouse.clone(),
            spool: self.spool.clone(),
            interval_s,
            drain_timeout,
            retention: self.retention.clone(),
        }
    }

    /// The engine settings, with the rules loaded.
    pub fn engine(&self) -> anyhow::Result<EngineConfig> {
        let a = &self.analysis;
        let rules = match &a.rules {
            Some(path) => Rules::load(path, &plugins::names())?,
            None => Rules::default_rules(&plugins::names()),
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
            pin_cores: false,
        })
    }
}
