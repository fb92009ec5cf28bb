//! One run of the sensor, from start to finish, for `pastmon raw` and
//! `pastmon run` alike. The order is fixed here and nowhere else:
//!
//! 1. open the input: a capture file, or XDP attached to every interface
//!    with its sockets (needs privileges);
//! 2. bind the metrics port (may be privileged);
//! 3. drop to the configured user (no capabilities from here on);
//! 4. start the exporter (run mode) or open the `--transactions` file;
//! 5. run the engine to the end of the input or to SIGINT/SIGTERM;
//! 6. detach from the interfaces, drain the exporter, flush the files.

use crate::capture::xdp::{XdpCapture, XdpConfig};
use crate::capture::{CaptureFile, CaptureSource};
use crate::config::Analysis;
use crate::export::{ExportConfig, ExportStats, Exporter};
use crate::metrics::{self, Health};
use crate::records::Results;
use crate::worker::{self, JsonlOut, Outputs};
use crate::{privileges, signals};
use anyhow::{bail, Context, Result};
use pastmon_common::TunnelPorts;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where frames come from.
pub enum Input {
    File(PathBuf),
    /// Live interfaces; stop after `duration` seconds if given.
    Live {
        interfaces: Vec<XdpConfig>,
        duration: Option<u64>,
    },
}

/// Everything a run needs to know before it starts.
pub struct Plan {
    pub input: Input,
    pub analysis: Analysis,
    pub metrics_listen: Option<SocketAddr>,
    /// Switch to this user once capture is set up (live input only).
    pub user: Option<String>,
    /// Closed intervals go to ClickHouse (run mode); else into the results.
    pub export: Option<ExportConfig>,
    /// One JSON line per transaction into this file.
    pub transactions: Option<PathBuf>,
}

/// What a run produced.
pub struct Finished {
    /// The input's name: the file, or `live IF, …`.
    pub name: String,
    pub results: Results,
    pub export: Option<ExportStats>,
}

/// Runs `plan` in the order above; `progress` sees bytes read of a file.
pub fn run(plan: Plan, progress: &mut dyn FnMut(u64, Option<u64>)) -> Result<Finished> {
    let Plan { input, analysis, metrics_listen, user, export, transactions } = plan;
    // Arguments first: nothing is attached or written for a run that cannot go on.
    analysis.check().map_err(anyhow::Error::msg)?;
    if let (Some(out), Input::File(input)) = (&transactions, &input) {
        refuse_overwriting(out, input)?;
    }

    let tunnels = analysis.tunnels.decoder().map_err(anyhow::Error::msg)?;
    let mut capture = Capture::open(&input, tunnels.open.then_some(tunnels.ports))?;
    let live_queues = capture.is_live().then(|| capture.sources().len());
    let engine = analysis.engine(live_queues)?;
    let sources_n = capture.sources().len();
    let health = Health::new(sources_n, engine.workers);
    if let Some(addr) = metrics_listen {
        let bound = metrics::serve(addr, health.clone()).with_context(|| format!("metrics_listen {addr}"))?;
        eprintln!("pastmon: metrics on http://{bound}/metrics");
    }
    if let (true, Some(user)) = (capture.is_live(), &user) {
        privileges::drop_to(user)?;
        eprintln!("pastmon: running as {user}, no capabilities");
    }

    // The exporter applies the schema before its first insert; without the
    // database the sensor still runs and the spool keeps the data.
    let exporter = match export {
        Some(cfg) => Some(Exporter::start(cfg, engine.workers + sources_n, Some(health.clone()))?),
        None => None,
    };
    let jsonl_file = match &transactions {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("{}", path.display()))?;
            Some(Arc::new(Mutex::new(BufWriter::new(file))))
        }
        None => None,
    };
    let outputs = Outputs {
        jsonl: jsonl_file.clone().map(|f| f as JsonlOut),
        export: exporter.as_ref().map(|e| e.sender.clone()),
        health: Some(health),
    };

    let mut sources = capture.sources();
    let results = worker::run(&mut sources, &engine, outputs, progress);
    drop(sources);
    let name = capture.name();
    drop(capture); // detaches the XDP program before anything is reported

    let export = exporter.map(Exporter::finish).transpose()?;
    if let (Some(file), Some(path)) = (jsonl_file, &transactions) {
        file.lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Finished { name, results, export })
}

/// An output file that is the input capture would destroy it.
fn refuse_overwriting(out: &Path, input: &Path) -> Result<()> {
    let same = match (std::fs::canonicalize(out), std::fs::canonicalize(input)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        bail!("--transactions {} is the input capture: name another file", out.display());
    }
    Ok(())
}

/// Where frames come from, opened.
enum Capture {
    File(CaptureFile, String),
    Live(Vec<XdpCapture>),
}

impl Capture {
    /// `tunnels`: what the XDP program opens (as the decoder does).
    fn open(input: &Input, tunnels: Option<TunnelPorts>) -> Result<Capture> {
        match input {
            Input::File(path) => Ok(Capture::File(CaptureFile::open(path)?, path.display().to_string())),
            Input::Live { interfaces, duration } => Capture::live(interfaces, tunnels, *duration),
        }
    }

    /// Attaches to every interface; logs how.
    fn live(configs: &[XdpConfig], tunnels: Option<TunnelPorts>, duration: Option<u64>) -> Result<Capture> {
        let stop = signals::stop_flag();
        let mut captures = Vec::new();
        for cfg in configs {
            let capture = XdpCapture::open(cfg, tunnels, stop)?;
            let zero_copy = capture.sockets.iter().filter(|s| s.zero_copy()).count();
            eprintln!(
                "pastmon: {}: XDP attached in {:?} mode, {} rx queues ({} zero-copy), watching {}",
                cfg.interface,
                capture.mode,
                capture.sockets.len(),
                zero_copy,
                if cfg.watch.is_empty() { "everything".to_owned() } else { format!("{} servers", cfg.watch.len()) }
            );
            captures.push(capture);
        }
        if let Some(seconds) = duration {
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs(seconds));
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            });
        }
        Ok(Capture::Live(captures))
    }

    fn is_live(&self) -> bool {
        matches!(self, Capture::Live(_))
    }

    fn sources(&mut self) -> Vec<&mut (dyn CaptureSource + Send)> {
        match self {
            Capture::File(file, _) => vec![file],
            Capture::Live(captures) => captures
                .iter_mut()
                .flat_map(|c| c.sockets.iter_mut())
                .map(|s| s as &mut (dyn CaptureSource + Send))
                .collect(),
        }
    }

    fn name(&self) -> String {
        match self {
            Capture::File(_, name) => name.clone(),
            Capture::Live(captures) => {
                let names: Vec<String> = captures.iter().map(|c| c.interface.clone()).collect();
                format!("live {}", names.join(", "))
            }
        }
    }
}
