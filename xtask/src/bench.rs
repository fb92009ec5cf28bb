//! `cargo xtask bench pcap`: capture-file throughput.
//!
//! Makes (once, cached in target/bench/) a capture of real HTTP traffic: nginx
//! and wrk in two network namespaces, keep-alive and new-connection load,
//! tcpdump on the server side, offloads off so packets are wire-sized. Then,
//! in one run and on the same file, times the read floor (`tcpdump -r F -w
//! /dev/null`), `tcptrace -n`, tshark's HTTP timing and `pastmon raw` with one
//! worker and with all workers, and one worker on the same capture wrapped
//! in VXLAN (the tunnel's cost). Prints medians of wall time, packets/s,
//! peak memory, and ratios against one pastmon worker.
//!
//! Then the same for a mixed-protocol capture of real servers under their
//! benchmark clients (made once by `mixed_capture`), whole
//! and split by protocol: pastmon beside the read floor on each part, with
//! HTTP's row from the first capture for comparison. Needs root.

use crate::sh::{self, cmd};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const NS_SERVER: &str = "pmbench-srv";
const NS_CLIENT: &str = "pmbench-cli";
const SERVER_IP: &str = "10.231.0.1";
const CLIENT_IP: &str = "10.231.0.2";

pub fn pcap(rest: &[&str]) -> Result<()> {
    let (mut packets, mut runs, mut file) = (1_200_000u64, 3usize, None);
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match (*a, it.next()) {
            ("--packets", Some(n)) => packets = n.parse()?,
            ("--runs", Some(n)) => runs = n.parse()?,
            ("--pcap", Some(f)) => file = Some(PathBuf::from(f)),
            _ => bail!("usage: cargo xtask bench pcap [--packets N] [--runs N] [--pcap FILE]"),
        }
    }
    let root = crate::root();
    crate::setup::ensure_debian(&["tcpdump", "tcptrace", "tshark", "nginx-light", "wrk", "ethtool", "time"])?;
    let file = match file {
        Some(f) => f,
        None => {
            let f = root.join(format!("target/bench/http-{packets}.pcap"));
            if !f.exists() {
                make_capture(&f, packets)?;
            }
            f
        }
    };
    sh::run(cmd("cargo", &["build", "--release", "--bin", "pastmon"]).current_dir(&root))?;
    sh::run(&mut cmd(root.join("tests/lab/lab.sh").to_str().context("path")?, &["install"]))?;
    let pastmon = root.join("target/release/pastmon");
    let pastmon = pastmon.to_str().unwrap_or("pastmon");
    let f = file.to_str().context("capture path is not UTF-8")?;
    // The same capture as a cloud's traffic mirroring delivers it: every
    // frame in VXLAN (outer Ethernet, IPv4, UDP 4789, VNI 42).
    let vxlan = file.with_extension("vxlan.pcap");
    if !vxlan.exists() {
        let wrap = pastmon_testbed::tunnels::encapsulation("vxlan");
        pastmon_testbed::tunnels::wrap_pcap(&file, &vxlan, wrap, |_| 42).context("wrapping the capture in VXLAN")?;
    }
    let vx = vxlan.to_str().context("capture path is not UTF-8")?;
    let count = count_packets(f)?;
    let size_mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).to_string();
    println!("capture {f}: {count} packets, {size_mb:.0} MB; {runs} runs each, medians\n");

    let tools: Vec<(&str, Vec<&str>, usize)> = vec![
        ("tcpdump -r (read floor)", vec!["tcpdump", "-r", f, "-w", "/dev/null"], runs),
        ("tcptrace -n", vec!["tcptrace", "-n", f], runs),
        ("tshark http.time", vec!["tshark", "-r", f, "-Y", "http.time", "-T", "fields", "-e", "http.time"], 1),
        ("pastmon raw, 1 worker", vec![pastmon, "raw", "--pcap", f, "--workers", "1", "--format", "json"], runs),
        ("pastmon raw, all workers", vec![pastmon, "raw", "--pcap", f, "--workers", &cores, "--format", "json"], runs),
        (
            "pastmon raw, 1 worker, VXLAN",
            vec![pastmon, "raw", "--pcap", vx, "--workers", "1", "--format", "json"],
            runs,
        ),
    ];
    let mut rows = Vec::new();
    for (name, argv, n) in &tools {
        let mut times = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..*n {
            let (secs, kb) = timed(argv)?;
            times.push(secs);
            rss.push(kb);
        }
        rows.push((*name, median(&mut times), median(&mut rss)));
    }
    let pastmon_one = rows[3].1;
    println!("{:<28} {:>9} {:>14} {:>12} {:>16}", "tool", "seconds", "packets/s", "peak MB", "time / pastmon-1");
    for (name, secs, kb) in &rows {
        println!(
            "{name:<28} {secs:>9.3} {:>14.0} {:>12.1} {:>16.2}",
            count as f64 / secs,
            kb / 1024.0,
            secs / pastmon_one
        );
    }
    println!();
    mixed(&root, pastmon, runs, (count, pastmon_one))
}

/// The protocols of the mixed capture and their servers' ports.
const MIXED: [(&str, u16); 13] = [
    ("redis", 6379),
    ("postgresql", 5432),
    ("mysql", 3306),
    ("tls", 443),
    ("smtp", 25),
    ("imap", 143),
    ("pop3", 110),
    ("ftp", 21),
    ("http2", 8080),
    ("grpc", 50051),
    ("memcached", 11211),
    ("mqtt", 1883),
    ("amqp", 5672),
];

/// Protocols with no server in Debian's archive: their real captures'
/// messages repeated over 64 connections (`pastmon_testbed::repeat`), about
/// 200,000 packets each, to their default port.
const REPEATED: [(&str, &str, u16); 2] =
    [("kafka", "sensor/tests/captures/kafka", 9092), ("mongodb", "sensor/tests/captures/mongodb", 27017)];

/// A capture of `dir`'s captures' messages repeated (see [`REPEATED`]).
fn repeated(dir: &Path, port: u16, out: &Path) -> Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|f| f.extension().is_some_and(|e| e == "pcap"));
    files.sort();
    let mut messages = Vec::new();
    for f in &files {
        messages.extend(pastmon_testbed::repeat::messages(f).with_context(|| format!("reading {}", f.display()))?);
    }
    pastmon_testbed::repeat::write(out, &messages, port, 64, 200_000).context("writing the repeated capture")
}

/// Per-protocol throughput on the mixed capture and the repeated ones;
/// `http` is (packets, seconds) of one pastmon worker on the HTTP capture.
fn mixed(root: &Path, pastmon: &str, runs: usize, http: (u64, f64)) -> Result<()> {
    let dir = root.join("target/bench");
    let whole = dir.join("mixed.pcap");
    if !whole.exists() {
        crate::mixed_capture::make(&whole)?;
    }
    let whole_s = whole.to_str().context("capture path is not UTF-8")?.to_owned();
    let mut parts = vec![("all, mixed".to_owned(), whole_s.clone())];
    for (name, port) in MIXED {
        let part = dir.join(format!("mixed-{name}.pcap")).to_str().context("path")?.to_owned();
        sh::run(cmd("tcpdump", &["-r", &whole_s, "-w", &part, &format!("tcp port {port}")]).stderr(Stdio::null()))?;
        parts.push((name.to_owned(), part));
    }
    for (name, captures, port) in REPEATED {
        let part = dir.join(format!("repeated-{name}.pcap"));
        repeated(&root.join(captures), port, &part)?;
        parts.push((format!("{name} (repeated)"), part.to_str().context("path")?.to_owned()));
    }
    println!("mixed-protocol capture {whole_s}, whole and by protocol; {runs} runs each, medians\n");
    println!(
        "{:<18} {:>9} {:>13} {:>11} {:>14} {:>15} {:>13} {:>11}",
        "protocol", "packets", "transactions", "pastmon s", "packets/s", "transactions/s", "vs read floor", "vs HTTP"
    );
    let http_rate = http.0 as f64 / http.1;
    for (name, f) in &parts {
        let packets = count_packets(f)?;
        let floor = median_seconds(&["tcpdump", "-r", f, "-w", "/dev/null"], runs)?;
        let argv = [pastmon, "raw", "--pcap", f, "--workers", "1"];
        let secs = median_seconds(&argv, runs)?;
        let rate = packets as f64 / secs;
        let txs = transactions(&argv)?;
        println!(
            "{name:<18} {packets:>9} {txs:>13} {secs:>11.3} {rate:>14.0} {:>15.0} {:>13.2} {:>11.2}",
            txs as f64 / secs,
            secs / floor,
            rate / http_rate
        );
    }
    println!(
        "{:<18} {:>9} {:>13} {:>11.3} {http_rate:>14.0} {:>15} {:>13} {:>11.2}",
        "http", http.0, "", http.1, "", "", 1.0
    );
    Ok(())
}

/// Transactions in pastmon's text report of a run.
fn transactions(argv: &[&str]) -> Result<u64> {
    let out = Command::new(argv[0]).args(&argv[1..]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("transactions"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("no transactions line in the report")
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median wall seconds of `runs` runs.
fn median_seconds(argv: &[&str], runs: usize) -> Result<f64> {
    Ok(median(&mut (0..runs).map(|_| timed(argv).map(|t| t.0)).collect::<Result<Vec<_>>>()?))
}

/// Wall seconds and peak resident kilobytes (GNU time) of one run.
fn timed(argv: &[&str]) -> Result<(f64, f64)> {
    let out = std::env::temp_dir().join(format!("pastmon-bench-time-{}", std::process::id()));
    let mut args = vec!["-f", "%e %M", "-o", out.to_str().unwrap_or("/tmp/pastmon-bench-time")];
    args.extend_from_slice(argv);
    let started = std::time::Instant::now();
    let status = Command::new("/usr/bin/time").args(&args).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    if !status.success() {
        bail!("{} failed: {status}", argv.join(" "));
    }
    let text = std::fs::read_to_string(&out)?;
    let mut fields = text.split_whitespace();
    let elapsed = started.elapsed().as_secs_f64();
    let kb: f64 = fields.nth(1).context("no rss")?.parse()?;
    Ok((elapsed, kb))
}

fn count_packets(f: &str) -> Result<u64> {
    let out = Command::new("tcpdump").args(["-r", f, "-w", "/dev/null", "--count"]).output()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .zip(text.split_whitespace().skip(1))
        .find(|(_, w)| w.starts_with("packet"))
        .and_then(|(n, _)| n.parse().ok())
        .with_context(|| format!("cannot count packets: {text}"))
}

/// Removes the namespaces (and with them the veths) and the nginx of a run.
struct World {
    dir: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("nginx.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        for ns in [NS_SERVER, NS_CLIENT] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ns(name: &str, args: &[&str]) -> Command {
    let mut c = cmd("ip", &["netns", "exec", name]);
    c.args(args);
    c
}

pub fn make_capture(file: &Path, packets: u64) -> Result<()> {
    let dir = file.parent().context("capture path has no folder")?.join("world");
    std::fs::create_dir_all(&dir)?;
    for ns_name in [NS_SERVER, NS_CLIENT] {
        let _ = Command::new("ip").args(["netns", "del", ns_name]).status();
    }
    let world = World { dir: dir.clone() };
    for ns_name in [NS_SERVER, NS_CLIENT] {
        sh::run(&mut cmd("ip", &["netns", "add", ns_name]))?;
        sh::run(&mut ns(ns_name, &["ip", "link", "set", "lo", "up"]))?;
    }
    sh::run(&mut cmd(
        "ip",
        &["link", "add", "pmb-s", "netns", NS_SERVER, "type", "veth", "peer", "name", "pmb-c", "netns", NS_CLIENT],
    ))?;
    for (ns_name, dev, ip) in [(NS_SERVER, "pmb-s", SERVER_IP), (NS_CLIENT, "pmb-c", CLIENT_IP)] {
        sh::run(&mut ns(ns_name, &["ip", "addr", "add", &format!("{ip}/24"), "dev", dev]))?;
        sh::run(&mut ns(ns_name, &["ip", "link", "set", dev, "up"]))?;
        sh::run(&mut ns(ns_name, &["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"]))?;
    }
    let html = dir.join("html");
    std::fs::create_dir_all(&html)?;
    std::fs::write(html.join("index.html"), "<html><body>pastmon bench</body></html>\n")?;
    std::fs::write(html.join("page.html"), "x".repeat(2_000))?;
    std::fs::write(html.join("image.bin"), vec![b'i'; 8_000])?;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon on; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; keepalive_requests 100000;\n\
               client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n\
               uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
               server {{ listen {SERVER_IP}:80; root {h}; }} }}\n",
            d = dir.display(),
            h = html.display()
        ),
    )?;
    std::fs::create_dir_all(dir.join("tmp"))?;
    sh::run(&mut ns(NS_SERVER, &["nginx", "-c", conf.to_str().unwrap_or("")]))?;
    let count = packets.to_string();
    let file_s = file.to_str().context("path is not UTF-8")?;
    let mut tcpdump =
        ns(NS_SERVER, &["tcpdump", "-i", "pmb-s", "-s", "0", "-B", "131072", "-c", &count, "-w", file_s]).spawn()?;
    std::thread::sleep(Duration::from_secs(1));
    // Keep-alive load on three URLs, and a client that reconnects every request.
    let url = |p: &str| format!("http://{SERVER_IP}/{p}");
    let mut clients = Vec::new();
    for (conns, path, close) in
        [("2", "index.html", false), ("2", "page.html", false), ("1", "image.bin", false), ("2", "index.html", true)]
    {
        let u = url(path);
        let mut args = vec!["wrk", "-t1", "-c", conns, "-d", "120s"];
        if close {
            args.extend(["-H", "Connection: close"]);
        }
        args.push(&u);
        clients.push(ns(NS_CLIENT, &args).stdout(Stdio::null()).spawn()?);
    }
    let status = tcpdump.wait()?;
    for mut c in clients {
        let _ = c.kill();
        let _ = c.wait();
    }
    drop(world);
    if !status.success() {
        bail!("tcpdump failed: {status}");
    }
    Ok(())
}

/// `cargo xtask bench clickhouse`: a throw-away ClickHouse (the project's
/// local-server.sh), then the export benchmark (sensor/benches/export.rs)
/// and the server-side insert cost on 18.16 and modern ClickHouse
/// (tests/compat/insert_engines.py).
pub fn clickhouse() -> Result<()> {
    let root = crate::root();
    let dir = root.join("target/bench/clickhouse");
    let ch = crate::local_ch::LocalClickHouse::start(dir.clone())?;
    let spool = dir.join("spool");
    let spool = spool.to_str().context("path is not UTF-8")?;
    let tcp_port = ch.tcp_port.to_string();
    sh::run(
        cmd("cargo", &["bench", "-p", "pastmon", "--bench", "export", "--", &ch.url(), &tcp_port, "bench", spool])
            .current_dir(&root),
    )?;
    // The server's own share, with and without the rollup views, beside
    // modern ClickHouse (chdb) on the same schema and rows.
    let script = root.join("tests/compat/insert_engines.py");
    sh::run(&mut cmd("python3", &[script.to_str().context("path is not UTF-8")?, &tcp_port, "bench"]))
}
