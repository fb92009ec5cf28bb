//! The `pastmon` command: a thin layer over the library.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use pastmon::aggregate::{AggregateConfig, ClientGranularity};
use pastmon::capture::CaptureFile;
use pastmon::flow::FlowConfig;
use pastmon::report;
use pastmon::rules::Rules;
use pastmon::worker::{self, EngineConfig};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Parser)]
#[command(name = "pastmon", version, about = "Passive application response-time monitor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse a capture in the foreground and print the statistics (no database).
    Raw(RawArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
struct RawArgs {
    /// pcap or pcapng file to read.
    #[arg(long)]
    pcap: PathBuf,
    /// Signature rules (TOML); default: the built-in deploy/rules/default.toml.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Aggregation interval in seconds, aligned to the wall clock.
    #[arg(long, default_value_t = 300)]
    interval: u64,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    workers: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write one JSON object per transaction to this file.
    #[arg(long)]
    transactions: Option<PathBuf>,
    /// Client part of the aggregation key: address, none, or prefix:V4LEN,V6LEN.
    #[arg(long, default_value = "address")]
    clients: ClientGranularity,
    /// Extra server ports (orient connections picked up midstream).
    #[arg(long = "server-port")]
    server_ports: Vec<u16>,
    /// Live flows per worker before the least recently seen is evicted.
    #[arg(long, default_value_t = 1_000_000)]
    max_flows: usize,
    /// Seconds without packets after which a flow has ended.
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,
    /// Seconds a request waits for its response before it counts as no_response.
    #[arg(long, default_value_t = 120)]
    response_timeout: u64,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Raw(args) => raw(args),
    };
    if let Err(e) = result {
        eprintln!("pastmon: {e:#}");
        std::process::exit(1);
    }
}

fn raw(args: RawArgs) -> Result<()> {
    let rules = match &args.rules {
        Some(path) => Rules::load(path)?,
        None => Rules::default_rules(),
    };
    if args.interval == 0 {
        bail!("--interval must be at least 1 second");
    }
    let cfg = EngineConfig {
        workers: args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        flows: FlowConfig {
            max_flows: args.max_flows,
            idle_timeout_ns: args.idle_timeout * 1_000_000_000,
            response_timeout_ns: args.response_timeout * 1_000_000_000,
            server_ports: args.server_ports.clone(),
        },
        aggregate: AggregateConfig { interval_s: args.interval, clients: args.clients, ..AggregateConfig::default() },
        rules: Arc::new(rules),
    };
    let mut source = CaptureFile::open(&args.pcap)?;
    let jsonl_file = match &args.transactions {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("{}", path.display()))?;
            Some(Arc::new(Mutex::new(BufWriter::new(file))))
        }
        None => None,
    };
    let jsonl = jsonl_file.clone().map(|f| f as worker::JsonlOut);

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let results = worker::run(&mut source, &cfg, jsonl, &mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total.unwrap_or(done));
            bar.set_position(done);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let (Some(file), Some(path)) = (jsonl_file, &args.transactions) {
        file.lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }

    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Text => stdout.write_all(report::text_report(&results, &args.pcap.display().to_string()).as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report::json_report(&results))?;
            writeln!(stdout)?;
        }
    }
    stdout.flush()?;
    if let Some(e) = results.error {
        bail!("{e} (the statistics above cover the frames before it)");
    }
    Ok(())
}
