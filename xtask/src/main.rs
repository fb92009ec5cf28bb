//! `cargo xtask …`: the project's commands.
//!
//!   test              every check CI runs: fmt, clippy, all tests
//!   demo [--pcap F]   build, then analyse a capture with `pastmon raw`
//!   bench pcap        capture-file throughput against tcpdump, tcptrace, tshark
//!   bench clickhouse  level1 insert rate against clickhouse-client; spooling memory
//!   fuzz [SECONDS]    run every fuzz target for a while (nightly, cargo-fuzz)

mod bench;
mod sh;

use anyhow::{bail, Result};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test", rest @ ..] => test(rest),
        ["demo", rest @ ..] => demo(rest),
        ["bench", "pcap", rest @ ..] => bench::pcap(rest),
        ["bench", "clickhouse"] => bench::clickhouse(),
        ["fuzz", rest @ ..] => fuzz(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  test              fmt, clippy and every test (what CI runs)\n  demo [--pcap F]   build and analyse a capture with pastmon raw\n  bench pcap        capture-file throughput against tcpdump, tcptrace and tshark\n  bench clickhouse  level1 insert rate against clickhouse-client, spooling memory\n  fuzz [SECONDS]    run each fuzz target (default 60 s each)"
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
    let rules = root.join("deploy/rules/demo.toml");
    println!("$ pastmon raw --pcap {} --rules {} --interval 60", pcap.display(), rules.display());
    sh::run(&mut sh::cmd(
        bin.to_str().unwrap_or("pastmon"),
        &["raw", "--pcap", pcap.to_str().unwrap_or(""), "--rules", rules.to_str().unwrap_or(""), "--interval", "60"],
    ))
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
    for target in ["decode", "flows"] {
        println!("== fuzz {target} for {seconds} s");
        let max_time = format!("-max_total_time={seconds}");
        sh::run(
            sh::cmd("cargo", &["+nightly", "fuzz", "run", target, "--", &max_time, "-rss_limit_mb=1024"])
                .current_dir(root.join("sensor")),
        )?;
    }
    Ok(())
}
