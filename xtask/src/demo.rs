//! `cargo xtask demo`: the whole thing on one machine. A throw-away
//! ClickHouse; the lab network of the live tests (tests/lab/lab.sh: nginx
//! with slow, streaming and failing endpoints behind a mirrored switch port)
//! with clients making traffic; the sensor on the mirror port; the console
//! on 127.0.0.1. Ctrl-C tears it all down. Without root (no XDP) it replays
//! the shared capture files instead.

use crate::local_ch::LocalClickHouse;
use crate::sh;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

const LAB: &str = "pmdemo";
const NET: &str = "92";

/// Kills a child on drop (SIGINT first: the sensor and console drain and
/// exit cleanly).
struct Running(Child, &'static str);

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("demo: {} did not stop; killing it", self.1);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lab network, taken down on drop.
struct Lab;

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(crate::root().join("tests/lab/lab.sh")).args(["down", LAB]).status();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("path is not UTF-8")
}

pub fn run(rest: &[&str]) -> Result<()> {
    let mut pcap = None;
    let mut seconds = None;
    let mut args = rest.iter();
    while let Some(a) = args.next() {
        match (*a, args.next()) {
            ("--pcap", Some(p)) => pcap = Some(PathBuf::from(p)),
            ("--for", Some(s)) => seconds = Some(s.parse::<u64>().context("--for SECONDS")?),
            _ => bail!("usage: cargo xtask demo [--pcap FILE] [--for SECONDS]"),
        }
    }
    let root = crate::root();
    sh::run(sh::cmd("cargo", &["build", "--release", "--bin", "pastmon", "--bin", "pastmon-web"]).current_dir(&root))?;
    let bin = root.join("target/release/pastmon");
    let dir = root.join("target/demo");
    let _ = std::fs::remove_dir_all(dir.join("spool"));
    std::fs::create_dir_all(dir.join("spool"))?;
    let ch = LocalClickHouse::start(dir.join("clickhouse"))?;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(signal, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }

    let rules = root.join("deploy/rules/demo.toml");
    let live = pcap.is_none() && crate::is_root();
    let mut sensor_config = format!(
        "sensor = \"demo\"\n{}\n[analysis]\nrules = \"{}\"\ninterval = 60\ngrace = 5\n\
         [clickhouse]\nurl = \"{}\"\ndatabase = \"demo\"\n[spool]\ndir = \"{}\"\n",
        if live { "user = \"nobody\"" } else { "" },
        rules.display(),
        ch.url(),
        dir.join("spool").display()
    );
    let mut running = Vec::new();
    let mut _lab = None;
    let mut traffic = None;
    let first_page;
    if live {
        sh::run(&mut sh::cmd(path(&root.join("tests/lab/lab.sh"))?, &["install"]))?;
        sh::run(&mut sh::cmd(path(&root.join("tests/lab/lab.sh"))?, &["up", LAB, NET, "2", "root"]))?;
        _lab = Some(Lab);
        // The sensor switches to nobody once capture is set up.
        sh::run(&mut sh::cmd("chmod", &["0777", path(&dir.join("spool"))?]))?;
        sensor_config.push_str(&format!(
            "[capture]\ninterfaces = [\"{LAB}-mon1\"]\nwatch = [\"10.{NET}.0.2:80\", \"10.{NET}.0.4:80\"]\n"
        ));
        let config = dir.join("pastmon.toml");
        std::fs::write(&config, &sensor_config)?;
        println!("\n== the sensor on the lab's mirror port ({LAB}-mon1), watching 10.{NET}.0.2:80 and its backend 10.{NET}.0.4:80\n");
        let sensor = Command::new(&bin).args(["run", "--config", path(&config)?]).spawn()?;
        running.push(Running(sensor, "pastmon run"));
        traffic = Some(std::thread::spawn(make_traffic));
        first_page = "/?last=1h".to_owned();
    } else {
        let pcap = pcap.unwrap_or_else(|| crate::pcaps_dir().join("generated_http_python_sleep_curl_dns.pcap"));
        if !pcap.exists() {
            bail!("{} not found (give --pcap FILE, or set PASTMON_PCAPS)", pcap.display());
        }
        println!("\n(not root: no live capture; replaying {} instead)\n", pcap.display());
        let config = dir.join("pastmon.toml");
        std::fs::write(&config, &sensor_config)?;
        sh::run(&mut sh::cmd(path(&bin)?, &["run", "--config", path(&config)?, "--pcap", path(&pcap)?]))?;
        let span =
            ch.query("SELECT toUInt32(min(interval_start)), toUInt32(max(interval_start)) + 60 FROM demo.level1")?;
        let (from, to) = span.trim().split_once('\t').context("no rows stored")?;
        first_page = format!("/?from={from}&to={to}");
    }

    let web_port = free_port()?;
    let web_config = dir.join("pastmon-web.toml");
    std::fs::write(
        &web_config,
        format!("listen = \"127.0.0.1:{web_port}\"\n[clickhouse]\nurl = \"{}\"\ndatabase = \"demo\"\n", ch.url()),
    )?;
    let web = Command::new(root.join("target/release/pastmon-web"))
        .args(["serve", "--config", path(&web_config)?])
        .stderr(Stdio::null())
        .spawn()?;
    running.push(Running(web, "pastmon-web"));
    println!("\n== the console: http://127.0.0.1:{web_port}{first_page}");
    if live {
        println!("   (intervals are one minute long: the first rows appear about a minute after the start)");
        println!("   why GET_app is slow: http://127.0.0.1:{web_port}/signature?last=1h&plugin=http&signature=GET_app");
        println!("   who calls whom: http://127.0.0.1:{web_port}/dependencies?last=1h");
    }
    println!("   Ctrl-C stops everything.\n");
    let start = Instant::now();
    while !STOP.load(Ordering::SeqCst) && seconds.is_none_or(|s| start.elapsed() < Duration::from_secs(s)) {
        std::thread::sleep(Duration::from_millis(200));
    }
    STOP.store(true, Ordering::SeqCst);
    println!("\n== stopping");
    if let Some(t) = traffic {
        let _ = t.join();
    }
    drop(running); // the console, then the sensor (drains into ClickHouse)
    let summary = ch.query(
        "SELECT plugin, signature, sum(transactions) AS transactions, \
         round(sum(first_response_sum) / sum(first_response_count) / 1e6, 3) AS avg_first_response_ms \
         FROM demo.level1 GROUP BY plugin, signature ORDER BY transactions DESC FORMAT PrettyCompactNoEscapes",
    )?;
    println!("What the demo stored:\n{summary}");
    let backends = ch.query(
        "SELECT signature, backend_signature, concat(backend_ip, ':', toString(backend_port)) AS backend, \
         round(sum(calls)) AS paired_calls, round(sum(backend_time_sum) / sum(calls) / 1e6, 3) AS avg_call_ms \
         FROM demo.backends GROUP BY signature, backend_signature, backend ORDER BY paired_calls DESC \
         FORMAT PrettyCompactNoEscapes",
    )?;
    println!("What the signatures waited on:\n{backends}");
    Ok(())
}

/// Clients of the lab: a steady mix of fast, slow, streaming and failing
/// requests, a keep-alive burst now and then, and a server that is not
/// watched.
fn make_traffic() {
    let client = |args: &[&str]| {
        let _ = Command::new("ip")
            .args(["netns", "exec", &format!("{LAB}-c")])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    let url = |host: u8, path: &str| format!("http://10.{NET}.0.{host}{path}");
    let mut round = 0u64;
    while !STOP.load(Ordering::SeqCst) {
        // `/app` waits on the lab's backend: its drill-down names it.
        for path in ["/", "/delay10", "/delay10", "/delay200", "/stream", "/fail", "/app"] {
            client(&["curl", "-s", "-o", "/dev/null", &url(2, path)]);
        }
        client(&["curl", "-s", "-o", "/dev/null", &url(3, "/delay10")]);
        if round.is_multiple_of(20) {
            client(&["wrk", "-t1", "-c1", "-d1s", &url(2, "/")]);
        }
        round += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
}
