//! `pastmon-web`: serve the console, or hash a token for its configuration.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pastmon_web::{hash_token, Config};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "pastmon-web", version, about = "pastmon's console over ClickHouse")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the console (configuration: deploy/pastmon-web.toml).
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the SHA-256 of a token, for `tokens_sha256`.
    HashToken { token: String },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("pastmon-web: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::HashToken { token } => {
            println!("{}", hash_token(&token));
            Ok(())
        }
        Command::Serve { config } => {
            let text = std::fs::read_to_string(&config).with_context(|| config.display().to_string())?;
            let mut cfg: Config = toml::from_str(&text).with_context(|| config.display().to_string())?;
            cfg.clickhouse
                .read_password_file()
                .map_err(|e| anyhow::anyhow!("clickhouse.{e}"))
                .with_context(|| config.display().to_string())?;
            cfg.check().map_err(anyhow::Error::msg).with_context(|| config.display().to_string())?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(cfg.listen)
                    .await
                    .with_context(|| format!("listen {}", cfg.listen))?;
                let scheme = if cfg.tls.is_some() { "https" } else { "http" };
                eprintln!("pastmon-web: {scheme}://{}/", listener.local_addr()?);
                pastmon_web::serve(&cfg, listener, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
            })
        }
    }
}
