//! Builds the XDP program (`sensor-ebpf`) for `bpfel-unknown-none` with the
//! nightly toolchain and bpf-linker, into OUT_DIR; `capture::xdp` embeds the
//! object. The eBPF crate is its own workspace with its own toolchain file,
//! so it is built by a separate cargo, as aya-build does. Without the `xdp`
//! feature nothing is built (the console's tests use the engine alone).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("sensor/ is inside the workspace");
    let ebpf_dir = root.join("sensor-ebpf");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    if env::var_os("CARGO_FEATURE_XDP").is_none() {
        return;
    }
    for watched in ["sensor-ebpf/src", "sensor-ebpf/Cargo.toml", "sensor-ebpf/Cargo.lock", "common/src"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut cargo = Command::new("rustup");
    cargo.args(["run", "nightly", "cargo", "build", "--release", "--target-dir"]).arg(out_dir.join("ebpf"));
    cargo.current_dir(&ebpf_dir);
    // The outer build's settings (its rustc, flags, target, sanitizers under
    // cargo-fuzz) must not leak into the eBPF build.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO") || key.starts_with("RUSTC") || key == "RUSTFLAGS" || key == "RUSTUP_TOOLCHAIN" {
            cargo.env_remove(key.as_ref());
        }
    }
    let status = cargo.status().unwrap_or_else(|e| panic!("cannot run rustup to build the XDP program: {e}"));
    if !status.success() {
        panic!(
            "building the XDP program failed ({status}). It needs the nightly toolchain with rust-src and \
             bpf-linker: `rustup toolchain install nightly --component rust-src` and \
             `cargo install bpf-linker@0.10.4 --locked` (cargo xtask does both)."
        );
    }
    let object = out_dir.join("ebpf/bpfel-unknown-none/release/pastmon-xdp");
    std::fs::copy(&object, out_dir.join("pastmon-xdp.o")).unwrap_or_else(|e| panic!("{}: {e}", object.display()));
}
