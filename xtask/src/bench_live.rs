//! `cargo xtask bench live`: the live path at the fastest replay this
//! machine makes.
//!
//! The HTTP capture of `bench pcap` (made once, cached) is replayed with
//! `tcpreplay -K --topspeed` onto one end of a veth pair with two queues, in
//! a namespace of its own. The other end is read once by `pastmon raw
//! --iface` (XDP and AF_XDP, the full analysis) and once by `tcpdump -w
//! /dev/null` (the peer, with its default buffer), alternately, `runs`
//! times each. Prints, as medians: packets offered (tcpreplay), received,
//! dropped, and the reader's CPU seconds (user + system, from
//! /proc/PID/stat, over the replay and a 2 s drain: not its start or end)
//! per million packets received. Kernel time spent in softirq (the XDP
//! program, the packet socket's copy) is in neither.
//! Needs root.

use crate::bench::{make_capture, median};
use crate::setup::ensure_debian;
use crate::sh::{self, cmd};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "pmbench-live";
const TX: &str = "pmbl-tx";
const RX: &str = "pmbl-rx";

pub fn live(rest: &[&str]) -> Result<()> {
    let (mut packets, mut runs) = (1_200_000u64, 3usize);
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match (*a, it.next()) {
            ("--packets", Some(n)) => packets = n.parse()?,
            ("--runs", Some(n)) => runs = n.parse()?,
            _ => bail!("usage: cargo xtask bench live [--packets N] [--runs N]"),
        }
    }
    ensure_debian(&["tcpreplay", "tcpdump", "nginx-light", "wrk", "ethtool", "time"])?;
    let root = crate::root();
    let file = root.join(format!("target/bench/http-{packets}.pcap"));
    if !file.exists() {
        make_capture(&file, packets)?;
    }
    sh::run(cmd("cargo", &["build", "--release", "--bin", "pastmon"]).current_dir(&root))?;
    let pastmon = root.join("target/release/pastmon");
    let pastmon = pastmon.to_str().context("path is not UTF-8")?;
    let file = file.to_str().context("path is not UTF-8")?;

    let _world = World::up()?;
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        eprintln!("run {run} of {runs}");
        ours.push(replay_into(file, Reader::Pastmon(pastmon))?);
        peer.push(replay_into(file, Reader::Tcpdump)?);
    }
    println!("\n{file} replayed with tcpreplay -K --topspeed onto a 2-queue veth; medians of {runs} runs\n");
    println!(
        "{:<34} {:>10} {:>12} {:>10} {:>10} {:>10} {:>14}",
        "reader", "offered", "offered/s", "received", "dropped", "CPU s", "CPU s per M"
    );
    let (a, b) = (Run::medians(&mut ours), Run::medians(&mut peer));
    for (name, r) in [("pastmon raw --iface (full analysis)", &a), ("tcpdump -w /dev/null (peer)", &b)] {
        println!(
            "{name:<34} {:>10.0} {:>12.0} {:>10.0} {:>10.0} {:>10.2} {:>14.2}",
            r.offered,
            r.offered_rate,
            r.received,
            r.dropped,
            r.cpu_s,
            r.cpu_per_million()
        );
    }
    println!("\nCPU per packet, pastmon / tcpdump: {:.2}", a.cpu_per_million() / b.cpu_per_million());
    Ok(())
}

enum Reader<'a> {
    Pastmon(&'a str),
    Tcpdump,
}

#[derive(Clone, Copy, Default)]
struct Run {
    offered: f64,
    offered_rate: f64,
    received: f64,
    dropped: f64,
    cpu_s: f64,
}

impl Run {
    fn cpu_per_million(&self) -> f64 {
        self.cpu_s / (self.received / 1e6).max(1e-9)
    }

    fn medians(runs: &mut [Run]) -> Run {
        let m = |f: fn(&Run) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        Run {
            offered: m(|r| r.offered),
            offered_rate: m(|r| r.offered_rate),
            received: m(|r| r.received),
            dropped: m(|r| r.dropped),
            cpu_s: m(|r| r.cpu_s),
        }
    }
}

/// The namespace with the veth pair; removed on drop.
struct World;

impl World {
    fn up() -> Result<World> {
        let _ = Command::new("ip").args(["netns", "del", NS]).status();
        sh::run(&mut cmd("ip", &["netns", "add", NS]))?;
        let world = World;
        sh::run(&mut in_ns(&[
            "ip",
            "link",
            "add",
            TX,
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
            "type",
            "veth",
            "peer",
            "name",
            RX,
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
        ]))?;
        for dev in [TX, RX] {
            let _ = in_ns(&["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"]).output();
            sh::run(&mut in_ns(&["ip", "link", "set", dev, "up"]))?;
        }
        Ok(world)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", NS]).status();
    }
}

fn in_ns(args: &[&str]) -> Command {
    let mut c = cmd("ip", &["netns", "exec", NS]);
    c.args(args);
    c
}

/// One replay with `reader` on the receiving end.
fn replay_into(file: &str, reader: Reader) -> Result<Run> {
    let mut child = match reader {
        Reader::Pastmon(bin) => in_ns(&[bin, "raw", "--iface", RX, "--format", "json"]),
        Reader::Tcpdump => in_ns(&["tcpdump", "-i", RX, "-n", "-w", "/dev/null"]),
    }
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()?;
    let ready = match reader {
        Reader::Pastmon(_) => {
            wait_for(|| sh::output(&mut in_ns(&["ip", "link", "show", RX])).is_ok_and(|s| s.contains("xdp")))
        }
        // tcpdump's socket: no sign to wait for but time.
        Reader::Tcpdump => {
            std::thread::sleep(Duration::from_secs(1));
            true
        }
    };
    if !ready {
        let _ = child.kill();
        bail!("the sensor did not attach its XDP program");
    }
    std::thread::sleep(Duration::from_millis(500));
    // CPU of the replay and the drain only: not the start (the UMEM) or the end.
    let cpu_before = cpu_seconds(child.id())?;
    let replay = sh::output(&mut in_ns(&["tcpreplay", "-K", "--topspeed", "-i", TX, file]))?;
    std::thread::sleep(Duration::from_secs(2)); // the readers drain
    let cpu_s = cpu_seconds(child.id())? - cpu_before;
    let (offered, offered_rate) = tcpreplay_figures(&replay)?;
    let Output { stdout, stderr, .. } = stop(child)?;
    let (received, dropped) = match reader {
        Reader::Pastmon(_) => {
            let report: Value = serde_json::from_slice(&stdout).context("the sensor's JSON report")?;
            let capture = &report["capture"];
            let seen = capture["source_counters"]["xdp_seen_total"].as_f64().unwrap_or(0.0);
            let received = capture["packets"].as_f64().unwrap_or(0.0);
            // Dropped after the program saw them, or never seen (the veth's ring).
            let dropped = capture["dropped"].as_f64().unwrap_or(0.0) + (offered - seen).max(0.0);
            (received, dropped)
        }
        Reader::Tcpdump => {
            let text = String::from_utf8_lossy(&stderr);
            let count = |what: &str| {
                text.lines().find(|l| l.ends_with(what)).and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
            };
            let received = count("packets captured").context("tcpdump's statistics")?;
            (received, count("packets dropped by kernel").context("tcpdump's statistics")?)
        }
    };
    Ok(Run { offered, offered_rate, received, dropped, cpu_s })
}

/// Packets sent and packets per second from tcpreplay's summary.
fn tcpreplay_figures(text: &str) -> Result<(f64, f64)> {
    let number_after = |label: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.trim_start().starts_with(label))?;
        line.trim_start()[label.len()..].split_whitespace().next()?.parse().ok()
    };
    let sent = number_after("Actual:").context("tcpreplay printed no Actual: line")?;
    let rate = text
        .lines()
        .find(|l| l.trim_start().starts_with("Rated:"))
        .and_then(|l| l.split(',').find(|p| p.trim_end().ends_with("pps")))
        .and_then(|p| p.split_whitespace().next()?.parse().ok())
        .context("tcpreplay printed no packet rate")?;
    Ok((sent, rate))
}

/// CPU seconds (user + system) process `pid` has used so far.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // After the name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).context("a malformed /proc/PID/stat");
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// SIGINT, then the reader's output.
fn stop(child: Child) -> Result<Output> {
    // SAFETY: a signal to our own child (`ip netns exec` execs the reader).
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("the reader failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(out)
}

fn wait_for(ok: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcpreplay_summary_is_read() {
        let text = "Actual: 1200000 packets (633000000 bytes) sent in 1.50 seconds\n\
                    Rated: 422000000.0 Bps, 3376.00 Mbps, 800000.00 pps\n";
        assert_eq!(tcpreplay_figures(text).unwrap(), (1_200_000.0, 800_000.0));
    }
}
