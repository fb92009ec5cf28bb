//! The eBPF toolchain the sensor's build needs (sensor/build.rs builds the
//! XDP program): nightly with rust-src, and bpf-linker. Installed here when
//! missing, so `cargo xtask …` works on a fresh machine.

use crate::sh;
use anyhow::{bail, Result};

/// bpf-linker must use the same LLVM as nightly's rustc; 0.10.4 loads
/// rustup's own libLLVM (../shared/notes/xdp.md).
const BPF_LINKER: &str = "bpf-linker@0.10.4";

pub fn ensure_ebpf() -> Result<()> {
    if !sh::succeeds(&mut sh::cmd("rustup", &["run", "nightly", "rustc", "--version"])) {
        bail!("the nightly toolchain is missing: `rustup toolchain install nightly --component rust-src`");
    }
    let installed =
        sh::output(&mut sh::cmd("rustup", &["component", "list", "--toolchain", "nightly", "--installed"]))?;
    if !installed.lines().any(|l| l.starts_with("rust-src")) {
        sh::run(&mut sh::cmd("rustup", &["component", "add", "rust-src", "--toolchain", "nightly"]))?;
    }
    if !sh::succeeds(&mut sh::cmd("bpf-linker", &["--version"])) {
        sh::run(&mut sh::cmd("cargo", &["install", BPF_LINKER, "--locked"]))?;
    }
    Ok(())
}
