//! The `pastmon` command: a thin layer over the library.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use pastmon::aggregate::{AggregateConfig, ClientGranularity};
use pastmon::capture::CaptureFile;
use pastmon::config::Config;
use pastmon::export::clickhouse::Client;
use pastmon::export::{schema, ExportConfig, Exporter};
use pastmon::flow::FlowConfig;
use pastmon::metrics::{self, Health};
use pastmon::report;
use pastmon::rules::Rules;
use pastmon::worker::{self, EngineConfig, Outputs};
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
    /// The sensor: analyse and write every closed interval to ClickHouse.
    Run(RunArgs),
    /// Database schema: `apply` the migrations not yet applied, or show their `status`.
    Schema {
        #[arg(value_enum)]
        action: SchemaAction,
        /// Configuration file (its [clickhouse] section is used).
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaAction {
    Apply,
    Status,
    /// Drop partitions older than the [retention] settings now.
    Retention,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Configuration file (TOML, see deploy/pastmon.toml).
    #[arg(long)]
    config: PathBuf,
    /// Read this capture file instead of a live interface.
    #[arg(long)]
    pcap: PathBuf,
    /// At the end of the file, seconds to keep retrying an unreachable
    /// ClickHouse before leaving the rest in the spool.
    #[arg(long, default_value_t = 30)]
    drain_timeout: u64,
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
        Command::Run(args) => run(args),
        Command::Schema { action, config } => schema(action, &config),
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
        grace_s: 0,
        transactions_sample: 0.0,
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

    let outputs = Outputs { jsonl, ..Outputs::default() };
    let results = with_progress(|progress| worker::run(&mut source, &cfg, outputs, progress));
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

/// Runs `f` with a progress callback that drives a bar on a terminal.
fn with_progress<T>(f: impl FnOnce(&mut dyn FnMut(u64, Option<u64>)) -> T) -> T {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let out = f(&mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total.unwrap_or(done));
            bar.set_position(done);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out
}

fn run(args: RunArgs) -> Result<()> {
    let config = Config::load(&args.config)?;
    let engine = config.engine()?;
    // The exporter applies the schema before its first insert; without the
    // database the sensor still runs and the spool keeps the data.
    let mut source = CaptureFile::open(&args.pcap)?;
    let health = Health::new(engine.workers);
    if let Some(addr) = config.metrics_listen {
        let bound = metrics::serve(addr, health.clone()).with_context(|| format!("metrics_listen {addr}"))?;
        eprintln!("pastmon: metrics on http://{bound}/metrics");
    }
    let exporter = Exporter::start(
        ExportConfig {
            sensor: config.sensor.clone(),
            clickhouse: config.clickhouse.clone(),
            spool: config.spool.clone(),
            interval_s: engine.aggregate.interval_s,
            drain_timeout: std::time::Duration::from_secs(args.drain_timeout),
            retention: config.retention.clone(),
        },
        engine.workers + 1,
        Some(health.clone()),
    )?;
    let sender = exporter.sender.clone();
    let outputs = Outputs { export: Some(sender), health: Some(health), ..Outputs::default() };
    let results = with_progress(|progress| worker::run(&mut source, &engine, outputs, progress));
    let stats = exporter.finish()?;
    let c = &results.capture;
    println!(
        "{}: {} packets, {} flows; exported {} batches ({} rows), {} replayed from the spool, {} duplicates skipped, {} late transactions",
        args.pcap.display(),
        c.packets,
        results.flows.flows,
        stats.batches_inserted,
        stats.rows_inserted,
        stats.replayed,
        stats.duplicates_skipped,
        stats.late_transactions
    );
    if stats.left_in_spool > 0 {
        bail!(
            "{} batches are still in the spool {} ({}); the next start sends them",
            stats.left_in_spool,
            config.spool.dir.display(),
            stats.last_error.as_deref().unwrap_or("ClickHouse did not take them in time")
        );
    }
    if let Some(e) = results.error {
        bail!("{e} (everything before it was exported)");
    }
    Ok(())
}

fn schema(action: SchemaAction, config: &std::path::Path) -> Result<()> {
    let config = Config::load(config)?;
    let client = Client::new(config.clickhouse.clone());
    match action {
        SchemaAction::Apply => {
            let applied = schema::apply(&client)?;
            println!("applied: {applied:?}");
        }
        SchemaAction::Retention => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
            for (table, partition) in config.retention.enforce(&client, now)? {
                println!("dropped {table} partition {partition}");
            }
        }
        SchemaAction::Status => {
            for m in schema::status(&client)? {
                println!("{:03} {:<14} {}", m.version, m.name, if m.applied { "applied" } else { "pending" });
            }
        }
    }
    Ok(())
}
