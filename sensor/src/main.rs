//! The `pastmon` command: a thin layer over the library.

use anyhow::{bail, Result};
use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use pastmon::capture::xdp::{AttachMode, RingSizes, Watch, XdpConfig, ZeroCopy};
use pastmon::config::{Analysis, Config};
use pastmon::export::schema;
use pastmon::session::{self, Finished, Input, Plan};
use pastmon::{privileges, report};
use pastmon_clickhouse::Client;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "pastmon", version, about = "Passive application response-time monitor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse a capture in the foreground and print the statistics (no database).
    Raw(Box<RawArgs>),
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
    #[command(flatten)]
    analysis: Analysis,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write one JSON object per transaction to this file.
    #[arg(long)]
    transactions: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Raw(args) => raw(*args),
        Command::Run(args) => run(args),
        Command::Schema { action, config } => schema(action, &config),
    };
    if let Err(e) = result {
        eprintln!("pastmon: {e:#}");
        std::process::exit(1);
    }
}

fn raw(args: RawArgs) -> Result<()> {
    let input = match (&args.pcap, &args.iface) {
        (Some(path), _) => Input::File(path.clone()),
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
            Input::Live { interfaces: vec![cfg], duration: l.duration }
        }
        (None, None) => bail!("give --pcap FILE or --iface IF"),
    };
    let plan = Plan {
        input,
        analysis: Analysis { grace: 0, ..args.analysis },
        metrics_listen: None,
        user: None,
        export: None,
        transactions: args.transactions,
    };
    let Finished { name, results, .. } = with_progress(|progress| session::run(plan, progress))?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Text => stdout.write_all(report::text_report(&results, &name).as_bytes())?,
        Format::Json => {
            let mut out = std::io::BufWriter::new(&mut stdout);
            report::write_json_report(&results, &mut out)?;
            out.flush()?;
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
    let input = match (&args.pcap, &config.capture) {
        (Some(path), _) => Input::File(path.clone()),
        (None, Some(live)) => {
            if config.user.is_none() && privileges::is_root() && !config.allow_root {
                bail!(
                    "{}: set `user` to the account the sensor drops to once capture is set up \
                     (or `allow_root = true` to stay root)",
                    args.config.display()
                );
            }
            Input::Live { interfaces: live.xdp(), duration: None }
        }
        (None, None) => bail!("{}: no [capture] section; give --pcap FILE to read a file", args.config.display()),
    };
    let export = config.export(config.analysis.interval, std::time::Duration::from_secs(args.drain_timeout));
    let plan = Plan {
        input,
        analysis: config.analysis.clone(),
        metrics_listen: config.metrics_listen,
        user: config.user.clone(),
        export: Some(export),
        transactions: None,
    };
    let Finished { name, results, export } = with_progress(|progress| session::run(plan, progress))?;
    let stats = export.unwrap_or_default();
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
