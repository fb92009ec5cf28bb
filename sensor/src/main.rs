//! The `pastmon` command: a thin layer over the library.

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use pastmon::aggregate::{AggregateConfig, ClientGranularity};
use pastmon::capture::xdp::{AttachMode, RingSizes, Watch, XdpCapture, XdpConfig, ZeroCopy};
use pastmon::capture::{CaptureFile, CaptureSource};
use pastmon::config::Config;
use pastmon::export::{schema, Exporter};
use pastmon::flow::FlowConfig;
use pastmon::metrics::{self, Health};
use pastmon::report;
use pastmon::rules::Rules;
use pastmon::worker::{self, EngineConfig, Outputs};
use pastmon::{plugins, privileges, signals};
use pastmon_clickhouse::Client;
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
    /// Read this capture file instead of the live interfaces of [capture].
    #[arg(long)]
    pcap: Option<PathBuf>,
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

/// Live capture options (`--iface`).
#[derive(clap::Args)]
struct LiveArgs {
    /// Watched server, ADDRESS[/LEN][:PORTS], IPv6 in [brackets]; repeatable.
    /// None: every frame is kept.
    #[arg(long = "watch", value_name = "SERVER")]
    watch: Vec<Watch>,
    /// Pass frames not kept on to the kernel instead of dropping them.
    #[arg(long)]
    pass_others: bool,
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    xdp_mode: AttachMode,
    #[arg(long, value_enum, default_value_t = ZeroCopy::Auto)]
    zero_copy: ZeroCopy,
    /// UMEM frames per rx queue (power of two).
    #[arg(long, default_value_t = RingSizes::default().frames)]
    frames: u32,
    /// Rx ring entries per rx queue (power of two).
    #[arg(long, default_value_t = RingSizes::default().rx_ring)]
    rx_ring: u32,
    /// Stop after this many seconds (else at SIGINT or SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
}

#[derive(clap::Args)]
#[command(group(ArgGroup::new("source").required(true).args(["pcap", "iface"])))]
struct RawArgs {
    /// pcap or pcapng file to read.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Capture live from this monitor interface (XDP and AF_XDP, needs
    /// root) until SIGINT or SIGTERM.
    #[arg(long, value_name = "IF")]
    iface: Option<String>,
    #[command(flatten)]
    live: LiveArgs,
    /// Signature rules (TOML); default: the built-in deploy/rules/default.toml.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Aggregation interval in seconds, aligned to the wall clock.
    #[arg(long, default_value_t = 300)]
    interval: u64,
    /// Worker threads (default: the number of cores; live: one per rx queue).
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

/// Where frames come from: a file, or the sockets of live interfaces.
enum Capture {
    File(CaptureFile, String),
    Live(Vec<XdpCapture>),
}

impl Capture {
    /// Attaches to every interface; logs how.
    fn live(configs: &[XdpConfig], duration: Option<u64>) -> Result<Capture> {
        let stop = signals::stop_flag();
        let mut captures = Vec::new();
        for cfg in configs {
            let capture = XdpCapture::open(cfg, stop)?;
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

    fn open_file(path: &std::path::Path) -> Result<Capture> {
        Ok(Capture::File(CaptureFile::open(path)?, path.display().to_string()))
    }
}

fn raw(args: RawArgs) -> Result<()> {
    let rules = match &args.rules {
        Some(path) => Rules::load(path, &plugins::names())?,
        None => Rules::default_rules(&plugins::names()),
    };
    if args.interval == 0 {
        bail!("--interval must be at least 1 second");
    }
    let mut capture = match (&args.pcap, &args.iface) {
        (Some(path), _) => Capture::open_file(path)?,
        (None, Some(iface)) => {
            let l = &args.live;
            let cfg = XdpConfig {
                interface: iface.clone(),
                watch: l.watch.clone(),
                pass_others: l.pass_others,
                mode: l.xdp_mode,
                zero_copy: l.zero_copy,
                sizes: RingSizes { frames: l.frames, rx_ring: l.rx_ring, ..RingSizes::default() },
            };
            Capture::live(&[cfg], l.duration)?
        }
        (None, None) => bail!("give --pcap FILE or --iface IF"),
    };
    let is_live = matches!(capture, Capture::Live(_));
    let mut sources = capture.sources();
    let live_workers = is_live.then_some(sources.len());
    let cfg = EngineConfig {
        grace_s: 0,
        transactions_sample: 0.0,
        workers: args.workers.or(live_workers).unwrap_or_else(cores),
        flows: FlowConfig {
            max_flows: args.max_flows,
            idle_timeout_ns: args.idle_timeout * 1_000_000_000,
            response_timeout_ns: args.response_timeout * 1_000_000_000,
            server_ports: args.server_ports.clone(),
        },
        aggregate: AggregateConfig { interval_s: args.interval, clients: args.clients, ..AggregateConfig::default() },
        rules: Arc::new(rules),
        pin_cores: is_live,
    };
    let jsonl_file = match &args.transactions {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("{}", path.display()))?;
            Some(Arc::new(Mutex::new(BufWriter::new(file))))
        }
        None => None,
    };
    let jsonl = jsonl_file.clone().map(|f| f as worker::JsonlOut);

    let outputs = Outputs { jsonl, ..Outputs::default() };
    let results = with_progress(|progress| worker::run(&mut sources, &cfg, outputs, progress));
    drop(sources);
    let name = capture.name();
    drop(capture); // detaches the XDP program before the report is printed
    if let (Some(file), Some(path)) = (jsonl_file, &args.transactions) {
        file.lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }

    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Text => stdout.write_all(report::text_report(&results, &name).as_bytes())?,
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
    let mut engine = config.engine()?;
    let mut capture = match (&args.pcap, &config.capture) {
        (Some(path), _) => Capture::open_file(path)?,
        (None, Some(live)) => {
            if config.user.is_none() && privileges::is_root() && !config.allow_root {
                bail!(
                    "{}: set `user` to the account the sensor drops to once capture is set up \
                     (or `allow_root = true` to stay root)",
                    args.config.display()
                );
            }
            Capture::live(&live.xdp(), None)?
        }
        (None, None) => bail!("{}: no [capture] section; give --pcap FILE to read a file", args.config.display()),
    };
    let is_live = matches!(capture, Capture::Live(_));
    let mut sources = capture.sources();
    if is_live && config.analysis.workers == 0 {
        engine.workers = sources.len();
    }
    engine.pin_cores = is_live;
    let health = Health::new(sources.len(), engine.workers);
    if let Some(addr) = config.metrics_listen {
        let bound = metrics::serve(addr, health.clone()).with_context(|| format!("metrics_listen {addr}"))?;
        eprintln!("pastmon: metrics on http://{bound}/metrics");
    }
    if let (true, Some(user)) = (is_live, &config.user) {
        privileges::drop_to(user)?;
        eprintln!("pastmon: running as {user}, no capabilities");
    }
    // The exporter applies the schema before its first insert; without the
    // database the sensor still runs and the spool keeps the data.
    let exporter = Exporter::start(
        config.export(engine.aggregate.interval_s, std::time::Duration::from_secs(args.drain_timeout)),
        engine.workers + sources.len(),
        Some(health.clone()),
    )?;
    let sender = exporter.sender.clone();
    let outputs = Outputs { export: Some(sender), health: Some(health), ..Outputs::default() };
    let results = with_progress(|progress| worker::run(&mut sources, &engine, outputs, progress));
    drop(sources);
    let name = capture.name();
    drop(capture);
    let stats = exporter.finish()?;
    let c = &results.capture;
    println!(
        "{name}: {} packets, {} flows; exported {} batches ({} rows), {} replayed from the spool, {} duplicates skipped, {} late transactions",
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
