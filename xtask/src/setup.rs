//! What the tests and the demo need on the machine, installed when missing:
//! Debian packages (one `apt-get` for all of them), the Python package of the
//! modern-ClickHouse compatibility test, and the toolchain's components.
//! Idempotent and quiet when everything is there, so `cargo xtask test` is
//! the whole of CI on a fresh machine.

use crate::sh::{self, cmd};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// What a command needs beyond the lab's own packages (`tests/lab/lab.sh packages`).
const DEBIAN_FOR_TESTS: &[&str] = &[
    // deploy/clickhouse/local-server.sh: every storage and console test.
    "clickhouse-server",
    "clickhouse-client",
    // deploy/clickhouse/cluster/local-cluster.sh: sensor/tests/cluster.rs.
    "zookeeper",
    // web/tests/browser.rs: pages rendered, and pointed and dragged at
    // through WebDriver.
    "chromium",
    "chromium-driver",
    "curl",
];

/// Everything `cargo xtask test` runs against.
pub fn for_tests(root: &Path) -> Result<()> {
    debian(root, DEBIAN_FOR_TESTS)?;
    python_module("chdb", "chdb-core")?;
    rust_components()
}

/// Installs the missing ones of `extra` and of the lab's packages in one go,
/// then lets the lab script switch off the services Debian starts.
fn debian(root: &Path, extra: &[&str]) -> Result<()> {
    let lab = root.join("tests/lab/lab.sh");
    let lab = lab.to_str().context("path is not UTF-8")?;
    let listed = sh::output(&mut cmd(lab, &["packages"]))?;
    let mut wanted: Vec<&str> = listed.split_whitespace().chain(extra.iter().copied()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    ensure_debian(&wanted)?;
    if crate::is_root() {
        sh::run(&mut cmd(lab, &["install"]))?;
    }
    Ok(())
}

/// Installs the Debian packages of `wanted` that are missing, in one go.
pub fn ensure_debian(wanted: &[&str]) -> Result<()> {
    let missing = missing_packages(wanted)?;
    if !missing.is_empty() {
        if !crate::is_root() {
            bail!("Debian packages missing: {} (install them, or run as root)", missing.join(" "));
        }
        eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
        let mut update = cmd("apt-get", &["update", "-qq"]);
        sh::run(update.env("DEBIAN_FRONTEND", "noninteractive"))?;
        let mut install = cmd("apt-get", &["install", "-y", "-qq", "--no-install-recommends"]);
        install.args(&missing).env("DEBIAN_FRONTEND", "noninteractive");
        sh::run(&mut install)?;
    }
    Ok(())
}

/// The packages of `wanted` dpkg does not list as installed.
fn missing_packages(wanted: &[&str]) -> Result<Vec<String>> {
    let mut query = cmd("dpkg-query", &["-W", "-f=${Package} ${Status}\\n"]);
    query.args(wanted);
    // dpkg-query exits 1 when a package is unknown; its stdout still lists the rest.
    let out = query.output().context("cannot run dpkg-query (not a Debian machine?)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let installed: Vec<&str> =
        text.lines().filter(|l| l.ends_with("install ok installed")).filter_map(|l| l.split(' ').next()).collect();
    Ok(wanted.iter().filter(|p| !installed.contains(p)).map(|p| (*p).to_owned()).collect())
}

fn python_module(module: &str, package: &str) -> Result<()> {
    if sh::succeeds(&mut cmd("python3", &["-c", &format!("import {module}")])) {
        return Ok(());
    }
    sh::run(&mut cmd("python3", &["-m", "pip", "install", "--quiet", package]))
}

fn rust_components() -> Result<()> {
    for (tool, component) in [("clippy", "clippy"), ("fmt", "rustfmt")] {
        if !sh::succeeds(&mut cmd("cargo", &[tool, "--version"])) {
            sh::run(&mut cmd("rustup", &["component", "add", component]))?;
        }
    }
    Ok(())
}
