//! `cargo xtask bench load`: the console under many clients at once.
//!
//! Fills a throw-away ClickHouse from the demo capture (`pastmon run
//! --pcap`), serves the console in release, and has ApacheBench send 2,000
//! Level 1 API requests, 200 at a time, and as many pages; prints ab's
//! failures and percentiles. Beside it, the peer: the same number of
//! requests for the console's static OpenAPI document, which queries
//! nothing (the HTTP stack alone).

use crate::local_ch::LocalClickHouse;
use crate::sh::{self, cmd};
use anyhow::{Context, Result};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn load() -> Result<()> {
    let root = crate::root();
    crate::setup::ensure_debian(&["apache2-utils", "curl"])?;
    sh::run(cmd("cargo", &["build", "--release", "--bin", "pastmon", "--bin", "pastmon-web"]).current_dir(&root))?;
    let dir = root.join("target/bench-load");
    std::fs::create_dir_all(&dir)?;
    let ch = LocalClickHouse::start(dir.join("clickhouse"))?;
    let pcap = crate::pcaps_dir().join("generated_http_python_sleep_curl_dns.pcap");
    let sensor = dir.join("pastmon.toml");
    std::fs::write(
        &sensor,
        format!(
            "sensor = \"load\"\n[analysis]\ninterval = 60\ngrace = 0\n[clickhouse]\nurl = \"{}\"\ndatabase = \"load\"\n\
             [spool]\ndir = \"{}\"\n",
            ch.url(),
            dir.join("spool").display()
        ),
    )?;
    let bin = |name: &str| root.join("target/release").join(name).to_str().map(str::to_owned).context("path");
    sh::run(cmd(&bin("pastmon")?, &["run", "--config", sensor.to_str().context("path")?, "--pcap"]).arg(&pcap))?;
    let span = ch.query("SELECT toUInt32(min(interval_start)), toUInt32(max(interval_start)) + 60 FROM load.level1")?;
    let (from, to) = span.trim().split_once('\t').context("no rows stored")?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let web = dir.join("pastmon-web.toml");
    std::fs::write(
        &web,
        format!("listen = \"127.0.0.1:{port}\"\n[clickhouse]\nurl = \"{}\"\ndatabase = \"load\"\n", ch.url()),
    )?;
    let _web = Running(
        Command::new(bin("pastmon-web")?)
            .args(["serve", "--config", web.to_str().context("path")?])
            .stderr(Stdio::null())
            .spawn()?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while !sh::succeeds(&mut cmd("curl", &["-sf", "-o", "/dev/null", &format!("{base}/api/v1/openapi.json")])) {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(20), "pastmon-web did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("\nab -n 2000 -c 200, loopback, the demo capture's rows (ClickHouse 18.16)\n");
    println!(
        "{:<34} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "request", "failed", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (name, path) in [
        ("OpenAPI document (peer: no query)", "/api/v1/openapi.json".to_owned()),
        ("Level 1 API", format!("/api/v1/signatures?from={from}&to={to}")),
        ("Level 1 page", format!("/?from={from}&to={to}")),
    ] {
        let out = sh::output(&mut cmd("ab", &["-q", "-n", "2000", "-c", "200", "-s", "30", &format!("{base}{path}")]))?;
        let field = |label: &str| -> String {
            out.lines()
                .find(|l| l.trim_start().starts_with(label))
                .and_then(|l| l.split_whitespace().nth(label.split_whitespace().count()))
                .unwrap_or("?")
                .to_owned()
        };
        let pct = |p: &str| field(&format!("{p}%"));
        let failed = field("Failed requests:");
        let non_2xx = out
            .lines()
            .find(|l| l.starts_with("Non-2xx responses:"))
            .map_or("0", |l| l.split_whitespace().last().unwrap_or("?"));
        println!(
            "{name:<34} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9}",
            format!("{failed}+{non_2xx}"),
            field("Requests per second:"),
            pct("50"),
            pct("95"),
            pct("99"),
            pct("100")
        );
    }
    drop(ch);
    Ok(())
}
