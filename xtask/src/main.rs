//! `cargo xtask …`: the project's commands.
//!
//!   test              every check CI runs: fmt, clippy, all tests
//!   demo              ClickHouse, the lab network with traffic, the sensor live on its
//!                     mirror port, the console; Ctrl-C ends it (not root, or --pcap F:
//!                     a capture replayed instead)
//!   bench pcap        capture-file throughput against tcpdump, tcptrace, tshark
//!   bench live        XDP capture at tcpreplay's top speed against tcpdump\n  bench clickhouse  level1 insert rate against clickhouse-client; spooling memory
//!   bench web         console pages on a month of 1,000 signatures × 10 servers
//!   bench load        the console under 200 concurrent clients (ApacheBench)
//!   fuzz [SECONDS]    run every fuzz target for a while (nightly, cargo-fuzz):
//!                     decode, flows, and one per parser

mod bench;
mod bench_live;
mod bench_load;
mod bench_web;
mod demo;
mod local_ch;
mod mixed_capture;
mod setup;
mod sh;
mod toolchain;

use anyhow::{bail, Result};
use pastmon_testbed::lab::is_root;
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
        ["demo", rest @ ..] => demo::run(rest),
        ["bench", "pcap", rest @ ..] => bench::pcap(rest),
        ["bench", "live", rest @ ..] => bench_live::live(rest),
        ["bench", "clickhouse"] => bench::clickhouse(),
        ["bench", "web"] => bench_web::web(),
        ["bench", "load"] => bench_load::load(),
        ["fuzz", rest @ ..] => fuzz(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  test              fmt, clippy and every test (what CI runs)\n  demo [--pcap F]   ClickHouse, lab traffic, the live sensor and the console (Ctrl-C ends)\n  bench pcap        capture-file throughput against tcpdump, tcptrace and tshark\n  bench clickhouse  level1 insert rate against clickhouse-client, spooling memory\n  bench web         the console on a month of 1,000 signatures x 10 servers\n  bench load        the console under 200 concurrent clients (ab)\n  fuzz [SECONDS]    run each fuzz target (default 60 s each)"
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
    setup::for_tests(&root)?;
    sh::run(sh::cmd("cargo", &["fmt", "--all", "--", "--check"]).current_dir(&root))?;
    sh::run(sh::cmd("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]).current_dir(&root))?;
    // Ignored tests are the ones needing root or a browser: run here, they fail if
    // what they need is missing rather than pass without having run.
    sh::run(
        sh::cmd("cargo", &["test", "--workspace", "--profile", "ci", "--", "--include-ignored"]).current_dir(&root),
    )?;
    println!("xtask test: all checks passed");
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
    for target in [
        "decode", "flows", "http", "http2", "dns", "dns_tcp", "smtp", "imap", "pop3", "ftp", "pg", "mysql", "irc",
        "redis", "tls",
    ] {
        println!("== fuzz {target} for {seconds} s");
        let max_time = format!("-max_total_time={seconds}");
        sh::run(
            sh::cmd("cargo", &["+nightly", "fuzz", "run", target, "--", &max_time, "-rss_limit_mb=1024"])
                .current_dir(root.join("sensor")),
        )?;
    }
    Ok(())
}
