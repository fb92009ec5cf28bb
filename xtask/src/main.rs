//! `cargo xtask …`: the project's commands.
//!
//!   test              every check CI runs: fmt, clippy, all tests
//!   demo [--pcap F]   build; `pastmon raw` on a capture, then `pastmon run` into a throw-away ClickHouse
//!   bench pcap        capture-file throughput against tcpdump, tcptrace, tshark
//!   bench clickhouse  level1 insert rate against clickhouse-client; spooling memory
//!   fuzz [SECONDS]    run every fuzz target for a while (nightly, cargo-fuzz):
//!                     decode, flows, and one per parser

mod bench;
mod local_ch;
mod sh;
mod toolchain;

use anyhow::{bail, Result};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Everything below builds the sensor, whose build.rs builds the XDP program.
    if let Err(e) = toolchain::ensure_ebpf() {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
    let result = match args.as_slice() {
        ["test", rest @ ..] => test(rest),
        ["demo", rest @ ..] => demo(rest),
        ["bench", "pcap", rest @ ..] => bench::pcap(rest),
        ["bench", "clickhouse"] => bench::clickhouse(),
        ["fuzz", rest @ ..] => fuzz(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  test              fmt, clippy and every test (what CI runs)\n  demo [--pcap F]   build; pastmon raw on a capture, then pastmon run into a throw-away ClickHouse\n  bench pcap        capture-file throughput against tcpdump, tcptrace and tshark\n  bench clickhouse  level1 insert rate against clickhouse-client, spooling memory\n  fuzz [SECONDS]    run each fuzz target (default 60 s each)"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

/// The repository root (xtask lives one level down).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap_or_else(|_| PathBuf::from(".."))
}

/// `../shared/pcaps` beside the checkout, or `$PASTMON_PCAPS`.
pub fn pcaps_dir() -> PathBuf {
    std::env::var_os("PASTMON_PCAPS").map(PathBuf::from).unwrap_or_else(|| root().join("../shared/pcaps"))
}

fn test(rest: &[&str]) -> Result<()> {
    if !rest.is_empty() {
        bail!("test takes no arguments");
    }
    let root = root();
    sh::run(sh::cmd("cargo", &["fmt", "--all", "--", "--check"]).current_dir(&root))?;
    sh::run(sh::cmd("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]).current_dir(&root))?;
    sh::run(sh::cmd("cargo", &["test", "--workspace", "--release"]).current_dir(&root))?;
    println!("xtask test: all checks passed");
    Ok(())
}

/// Analyses a capture in the foreground, then runs the sensor on it into a
/// throw-away ClickHouse and shows what landed there.
fn demo(rest: &[&str]) -> Result<()> {
    let pcap = match rest {
        [] => pcaps_dir().join("generated_http_python_sleep_curl_dns.pcap"),
        ["--pcap", p] => PathBuf::from(p),
        _ => bail!("usage: cargo xtask demo [--pcap FILE]"),
    };
    if !pcap.exists() {
        bail!("{} not found (give --pcap FILE, or set PASTMON_PCAPS)", pcap.display());
    }
    let root = root();
    sh::run(sh::cmd("cargo", &["build", "--release", "--bin", "pastmon"]).current_dir(&root))?;
    let bin = root.join("target/release/pastmon");
    let bin = bin.to_str().unwrap_or("pastmon");
    let rules = root.join("deploy/rules/demo.toml");
    let (pcap_s, rules_s) = (pcap.to_str().unwrap_or(""), rules.to_str().unwrap_or(""));
    println!("\n== pastmon raw: the analysis in the foreground, no database\n");
    sh::run(&mut sh::cmd(bin, &["raw", "--pcap", pcap_s, "--rules", rules_s, "--interval", "60"]))?;

    println!("\n== pastmon run: the same capture into ClickHouse\n");
    let dir = root.join("target/demo");
    let ch = local_ch::LocalClickHouse::start(dir.join("clickhouse"))?;
    let config = dir.join("pastmon.toml");
    std::fs::write(
        &config,
        format!(
            "sensor = \"demo\"\n[analysis]\nrules = \"{rules_s}\"\ninterval = 60\ngrace = 0\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"demo\"\n[spool]\ndir = \"{}\"\n",
            ch.url(),
            dir.join("spool").display()
        ),
    )?;
    sh::run(&mut sh::cmd(bin, &["run", "--config", config.to_str().unwrap_or(""), "--pcap", pcap_s]))?;
    let sql = "SELECT plugin, signature, sum(transactions) AS transactions, \
               round(sum(first_response_sum) / sum(first_response_count) / 1e6, 3) AS avg_first_response_ms, \
               round(max(last_response_max) / 1e6, 3) AS max_last_response_ms \
               FROM demo.level1 GROUP BY plugin, signature ORDER BY transactions DESC FORMAT PrettyCompactNoEscapes";
    println!("\n$ {sql}\n{}", ch.query(sql)?);
    let sql = "SELECT interval_start, packets, bytes, flows, transactions, export_lag_seconds \
               FROM demo.sensors ORDER BY interval_start FORMAT PrettyCompactNoEscapes";
    println!("$ {sql}\n{}", ch.query(sql)?);
    println!("(the demo's ClickHouse stops now; `pastmon run --config deploy/pastmon.toml` writes to yours)");
    Ok(())
}

fn fuzz(rest: &[&str]) -> Result<()> {
    let seconds = match rest {
        [] => 60,
        [s] => s.parse()?,
        _ => bail!("usage: cargo xtask fuzz [SECONDS]"),
    };
    let root = root();
    if !sh::succeeds(&mut sh::cmd("cargo", &["fuzz", "--version"])) {
        sh::run(&mut sh::cmd("cargo", &["install", "cargo-fuzz", "--locked"]))?;
    }
    for target in ["decode", "flows", "http", "dns", "dns_tcp", "smtp", "imap", "pop3", "ftp", "pg", "redis", "tls"] {
        println!("== fuzz {target} for {seconds} s");
        let max_time = format!("-max_total_time={seconds}");
        sh::run(
            sh::cmd("cargo", &["+nightly", "fuzz", "run", target, "--", &max_time, "-rss_limit_mb=1024"])
                .current_dir(root.join("sensor")),
        )?;
    }
    Ok(())
}
