//! A throw-away ClickHouse for xtask commands (deploy/clickhouse/local-server.sh),
//! stopped when dropped.

use crate::sh::{self, cmd};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

pub struct LocalClickHouse {
    script: String,
    dir: String,
    pub http_port: u16,
    pub tcp_port: u16,
}

impl LocalClickHouse {
    /// Installs Debian's server if missing and starts it with its data in `dir`.
    pub fn start(dir: PathBuf) -> Result<LocalClickHouse> {
        let script = crate::root().join("deploy/clickhouse/local-server.sh");
        let script = script.to_str().context("path is not UTF-8")?.to_owned();
        sh::run(&mut cmd(&script, &["install"]))?;
        let _ = std::fs::remove_dir_all(&dir);
        let dir = dir.to_str().context("path is not UTF-8")?.to_owned();
        let (http_port, tcp_port) = (free_port()?, free_port()?);
        sh::run(&mut cmd(&script, &["start", &dir, &http_port.to_string(), &tcp_port.to_string()]))?;
        Ok(LocalClickHouse { script, dir, http_port, tcp_port })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Runs SQL through the HTTP interface; returns the answer.
    pub fn query(&self, sql: &str) -> Result<String> {
        let out = Command::new("curl").args(["-sS", "--fail-with-body", &self.url(), "--data-binary", sql]).output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        anyhow::ensure!(out.status.success(), "{sql}: {text}");
        Ok(text)
    }
}

impl Drop for LocalClickHouse {
    fn drop(&mut self) {
        let _ = Command::new(&self.script).args(["stop", &self.dir]).status();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
