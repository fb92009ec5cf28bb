//! The sensor's configuration file (TOML; example in `deploy/pastmon.toml`).

use crate::aggregate::{AggregateConfig, ClientGranularity};
use crate::capture::xdp::{AttachMode, RingSizes, Watch, XdpConfig, ZeroCopy};
use crate::decode::{Decoder, Tunnels};
use crate::export::retention::RetentionConfig;
use crate::export::SpoolConfig;
use crate::flow::FlowConfig;
use crate::plugins;
use crate::rules::Rules;
use crate::worker::EngineConfig;
use pastmon_clickhouse::{check_identifier, ClickHouseConfig};
use pastmon_common::{Encapsulation, TunnelPorts, MAX_TUNNEL_PORTS};
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

/// The analysis settings: the `[analysis]` section of the configuration and
/// the same options of `pastmon raw`, defined once. Each default is the one
/// of the stage that owns the setting (`FlowConfig`, `AggregateConfig`).
#[derive(Clone, Debug, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct Analysis {
    /// Signature rules (TOML); default: the built-in deploy/rules/default.toml.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Aggregation interval in seconds, aligned to the wall clock.
    #[arg(long, default_value_t = Analysis::default().interval)]
    pub interval: u64,
    /// Seconds after an interval's end before it is exported (late responses).
    #[arg(skip = Analysis::default().grace)]
    pub grace: u64,
    /// Worker threads, 1 to 256 (default: one per core; live: one per rx queue).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Client part of the aggregation key: address, none, or prefix:V4LEN,V6LEN.
    #[arg(long, default_value_t = Analysis::default().clients)]
    pub clients: String,
    /// Live flows in all (shared among the workers); past it the least
    /// recently seen is evicted.
    #[arg(long, default_value_t = Analysis::default().max_flows)]
    pub max_flows: usize,
    /// Open aggregation keys in all (shared among the workers); past it
    /// clients are folded out of new keys, counted.
    #[arg(long, default_value_t = Analysis::default().max_keys)]
    pub max_keys: usize,
    /// Seconds without packets after which a flow has ended.
    #[arg(long, default_value_t = Analysis::default().idle_timeout)]
    pub idle_timeout: u64,
    /// Seconds a request waits for its response before it counts as no_response.
    #[arg(long, default_value_t = Analysis::default().response_timeout)]
    pub response_timeout: u64,
    /// Extra server ports (orient connections picked up midstream).
    #[arg(long = "server-port")]
    pub server_ports: Vec<u16>,
    /// Share of transactions (0 to 1) written one by one to `transactions`.
    #[arg(skip)]
    pub transactions_sample: f64,
    #[command(flatten)]
    pub tunnels: TunnelSettings,
}

/// `[analysis.tunnels]`: the tunnels opened (in userspace and in the XDP
/// filter alike), and what of them keys flows and stamps frames.
#[derive(Clone, Debug, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct TunnelSettings {
    /// Open no tunnel: tunnelled frames are analysed by their outer headers.
    #[arg(long)]
    pub outer_only: bool,
    /// UDP ports of VXLAN, up to 4 (repeatable).
    #[arg(long = "vxlan-port", value_name = "PORT", default_values_t = TunnelSettings::default().vxlan_ports)]
    pub vxlan_ports: Vec<u16>,
    /// UDP ports of GENEVE, up to 4 (repeatable).
    #[arg(long = "geneve-port", value_name = "PORT", default_values_t = TunnelSettings::default().geneve_ports)]
    pub geneve_ports: Vec<u16>,
    /// Encapsulations whose id keeps equal inner 5-tuples apart: vxlan,
    /// geneve (VNI), erspan (session), gre (key); `none` for none.
    #[arg(long = "tenant-key", value_name = "ENCAP", default_values_t = TunnelSettings::default().tenant_key)]
    pub tenant_key: Vec<String>,
    /// ERSPAN III's switch timestamps as the frames' times.
    #[arg(long)]
    pub switch_time: bool,
}

impl Default for TunnelSettings {
    fn default() -> Self {
        let standard = Tunnels::default();
        let ports = |p: [u16; MAX_TUNNEL_PORTS]| p.into_iter().filter(|p| *p != 0).collect();
        TunnelSettings {
            outer_only: !standard.open,
            vxlan_ports: ports(standard.ports.vxlan),
            geneve_ports: ports(standard.ports.geneve),
            tenant_key: Encapsulation::ALL
                .iter()
                .filter(|e| standard.tenant_key & e.bit() != 0)
                .map(|e| e.name().to_owned())
                .collect(),
            switch_time: standard.switch_time,
        }
    }
}

/// The encapsulations whose header carries a tenant id.
const TENANT_KEYS: [Encapsulation; 4] =
    [Encapsulation::Vxlan, Encapsulation::Geneve, Encapsulation::Erspan, Encapsulation::Gre];

impl TunnelSettings {
    /// The decoder's settings; the error names the setting.
    pub fn decoder(&self) -> Result<Tunnels, String> {
        let ports = |name: &str, list: &[u16]| {
            if list.len() > MAX_TUNNEL_PORTS || list.contains(&0) {
                return Err(format!("tunnels.{name}: 1 to {MAX_TUNNEL_PORTS} ports from 1 to 65535, not {list:?}"));
            }
            let mut slots = [0; MAX_TUNNEL_PORTS];
            slots[..list.len()].copy_from_slice(list);
            Ok(slots)
        };
        let (vxlan, geneve) = (ports("vxlan_ports", &self.vxlan_ports)?, ports("geneve_ports", &self.geneve_ports)?);
        if let Some(p) = self.vxlan_ports.iter().find(|p| self.geneve_ports.contains(p)) {
            return Err(format!("tunnels: port {p} is in both vxlan_ports and geneve_ports"));
        }
        let mut tenant_key = 0;
        for name in self.tenant_key.iter().filter(|n| *n != "none") {
            let Some(e) = TENANT_KEYS.iter().find(|e| e.name() == name) else {
                let names: Vec<&str> = TENANT_KEYS.iter().map(|e| e.name()).collect();
                return Err(format!("tunnels.tenant_key: {name:?} is none of {}, none", names.join(", ")));
            };
            tenant_key |= e.bit();
        }
        Ok(Tunnels {
            open: !self.outer_only,
            ports: TunnelPorts { vxlan, geneve },
            tenant_key,
            switch_time: self.switch_time,
        })
    }
}

/// The most worker threads a sensor starts.
pub const MAX_WORKERS: usize = 256;
/// The longest idle or response timeout, seconds (a year).
pub const MAX_TIMEOUT_S: u64 = 365 * 86_400;

impl Default for Analysis {
    fn default() -> Self {
        let (flows, aggregate) = (FlowConfig::default(), AggregateConfig::default());
        Analysis {
            rules: None,
            interval: aggregate.interval_s,
            grace: 150,
            workers: None,
            clients: "address".into(),
            max_flows: flows.max_flows,
            max_keys: aggregate.max_keys,
            idle_timeout: flows.idle_timeout_ns / 1_000_000_000,
            response_timeout: flows.response_timeout_ns / 1_000_000_000,
            server_ports: Vec::new(),
            transactions_sample: 0.0,
            tunnels: TunnelSettings::default(),
        }
    }
}

impl Analysis {
    /// Checks every setting; the error names the setting and its bounds.
    pub fn check(&self) -> Result<(), String> {
        if self.interval == 0 || self.interval > 86_400 {
            return Err(format!("interval must be 1 to 86400 seconds, not {}", self.interval));
        }
        if let Some(n) = self.workers.filter(|n| !(1..=MAX_WORKERS).contains(n)) {
            return Err(format!("workers must be 1 to {MAX_WORKERS}, not {n} (leave it out for one per core)"));
        }
        for (name, v) in [("idle_timeout", self.idle_timeout), ("response_timeout", self.response_timeout)] {
            if v == 0 || v > MAX_TIMEOUT_S {
                return Err(format!("{name} must be 1 to {MAX_TIMEOUT_S} seconds, not {v}"));
            }
        }
        if self.max_flows == 0 || self.max_keys == 0 {
            return Err("max_flows and max_keys must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.transactions_sample) {
            return Err("transactions_sample must be between 0 and 1".into());
        }
        self.tunnels.decoder()?;
        self.clients.parse::<ClientGranularity>().map(|_| ()).map_err(|e| format!("clients: {e}"))
    }

    /// The engine settings, with the rules loaded, for settings `check`ed
    /// already (`Config::load` and `session::run` do). `live_queues`: the rx
    /// queues of a live capture, each its own worker unless `workers` says
    /// otherwise (a file: one worker per core).
    pub fn engine(&self, live_queues: Option<usize>) -> anyhow::Result<EngineConfig> {
        let rules = match &self.rules {
            Some(path) => Rules::load(path, &plugins::names())?,
            None => Rules::default_rules(&plugins::names()),
        };
        let cores = || std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = self.workers.or(live_queues).unwrap_or_else(cores).clamp(1, MAX_WORKERS);
        Ok(EngineConfig {
            workers,
            grace_s: self.grace,
            transactions_sample: self.transactions_sample,
            flows: FlowConfig {
                // The caps are global: each worker holds its share.
                max_flows: self.max_flows.div_ceil(workers),
                idle_timeout_ns: self.idle_timeout * 1_000_000_000,
                response_timeout_ns: self.response_timeout * 1_000_000_000,
                server_ports: self.server_ports.clone(),
            },
            aggregate: AggregateConfig {
                interval_s: self.interval,
                clients: self.clients.parse().map_err(anyhow::Error::msg)?,
                max_keys: self.max_keys.div_ceil(workers),
            },
            rules: Arc::new(rules),
            decoder: Decoder { tunnels: self.tunnels.decoder().map_err(anyhow::Error::msg)? },
            pin_cores: live_queues.is_some(),
        })
    }
}

/// What is wrong with a configuration file.
pub type ConfigError = crate::FileError;

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            reason: format!("cannot read the configuration: {}", crate::io_reason(&e)),
        })?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start).min(text.len());
            let line = text.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            ConfigError { file: file.clone(), line: Some(line), reason: e.message().to_owned() }
        })?;
        let invalid = |reason: String| ConfigError { file: file.clone(), line: None, reason };
        check_identifier(&cfg.clickhouse.database).map_err(|e| invalid(format!("clickhouse.database: {e}")))?;
        cfg.clickhouse.read_password_file().map_err(|e| invalid(format!("clickhouse.{e}")))?;
        if cfg.sensor.is_empty() {
            return Err(invalid("sensor: the name must not be empty".into()));
        }
        cfg.analysis.check().map_err(|e| invalid(format!("analysis.{e}")))?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example the README and the packages ship loads as it stands,
    /// and says what the defaults are.
    #[test]
    fn the_shipped_example_loads_with_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/pastmon.toml");
        let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.analysis.tunnels.decoder(), TunnelSettings::default().decoder());
        assert!(cfg.analysis.tunnels.decoder().unwrap().open);
    }
}
