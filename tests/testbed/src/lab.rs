//! The lab network of the live tests (tests/lab/lab.sh) and helpers for
//! the processes they run in it.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The checkout (this crate is tests/testbed).
pub fn root_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Fails `test` unless it runs as root. Live tests build network
/// namespaces; they are `#[ignore]`d for a plain `cargo test` and run by
/// `cargo xtask test` (as root in CI), never passing without having run.
pub fn require_root(test: &str) {
    assert!(is_root(), "{test} needs root: it builds network namespaces (cargo xtask test runs it as root)");
}

/// The live tests run one at a time: their timings must not share the two
/// cores with another lab's traffic.
static ONE_LAB_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The lab network; torn down on drop, also when the test panics. A test
/// holds the only lab while it lives: the lock is released after the
/// teardown (fields drop after `Drop::drop`).
pub struct Lab {
    pub name: &'static str,
    pub net: u8,
    _low_latency: Option<std::fs::File>,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

/// Keeps the CPUs out of deep idle while held, as a capture appliance is
/// tuned (tuned's latency-performance profile does the same): a PM QoS
/// request of 0 µs on `/dev/cpu_dma_latency`. On an idle VM a halted vCPU
/// wakes milliseconds late, which puts milliseconds into the lab's timings
/// (a 10 ms endpoint measured at 12.5 ms by the sensor and by tcpdump
/// alike); the request holds while the file stays open.
fn low_latency() -> Option<std::fs::File> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open("/dev/cpu_dma_latency").ok()?;
    f.write_all(&0i32.to_ne_bytes()).ok()?;
    Some(f)
}

impl Lab {
    pub fn up(name: &'static str, net: u8, monitor: &str) -> Lab {
        let one_at_a_time = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let status = Command::new(root_dir().join("tests/lab/lab.sh"))
            .args(["up", name, &net.to_string(), "2", monitor])
            .status()
            .expect("tests/lab/lab.sh");
        assert!(status.success(), "lab.sh up failed");
        Lab { name, net, _low_latency: low_latency(), _one_at_a_time: one_at_a_time }
    }

    pub fn ns(&self, which: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &format!("{}-{which}", self.name)]).args(args);
        c
    }

    pub fn server(&self, host: u8) -> String {
        format!("10.{}.0.{host}", self.net)
    }

    /// The backend's address (lab.sh: the second nginx, 10.N.0.4).
    pub fn backend(&self) -> String {
        self.server(4)
    }

    pub fn curl(&self, host: u8, path: &str, times: usize) {
        let url = format!("http://{}{path}", self.server(host));
        for _ in 0..times {
            let out = self.ns("c", &["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", &url]).output().unwrap();
            assert!(out.status.success(), "curl {url}: {out:?}");
        }
    }

    /// Runs `f` with the switch's port towards the client limited to `rate`
    /// by a token bucket (netem is not in this kernel; tbf is): a
    /// bandwidth-bound network.
    pub fn through_token_bucket(&self, rate: &str, f: impl FnOnce()) {
        let port = format!("{}-swc", self.name);
        let tc = |args: &[&str]| {
            let out = self.ns("sw", &[&["tc"][..], args].concat()).output().unwrap();
            assert!(out.status.success(), "tc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        tc(&["qdisc", "add", "dev", &port, "root", "tbf", "rate", rate, "burst", "16kb", "latency", "400ms"]);
        f();
        tc(&["qdisc", "del", "dev", &port, "root"]);
    }

    /// A slow reader: the client's receive buffer made small, `path` of
    /// `host` read at 128 KB/s, so its window closes (the client is slow).
    pub fn slow_read(&self, host: u8, path: &str) {
        let sysctl = self.ns("c", &["sysctl", "-q", "-w", "net.ipv4.tcp_rmem=4096 16384 32768"]).status().unwrap();
        assert!(sysctl.success());
        let url = format!("http://{}{path}", self.server(host));
        let slow = self.ns("c", &["curl", "-s", "-o", "/dev/null", "--limit-rate", "128k", &url]).status().unwrap();
        assert!(slow.success(), "curl --limit-rate {url}");
    }

    /// Requests nginx logged, by (server address, URI).
    pub fn access_log(&self) -> BTreeMap<(String, String), usize> {
        let text = std::fs::read_to_string(format!("/run/pastmon-lab-{}/access.log", self.name)).unwrap();
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            *counts.entry((f[0].to_owned(), f[1].to_owned())).or_default() += 1;
        }
        counts
    }

    /// tcpdump on the switch's server port (the frames the mirror copies),
    /// writing `pcap`, with the capture filter `filter`.
    pub fn record_mirror(&self, pcap: &Path, filter: &str) -> Child {
        self.record_switch_port("sws", pcap, filter)
    }

    /// tcpdump on the switch's port `port` (lab.sh's device NAME-`port`).
    pub fn record_switch_port(&self, port: &str, pcap: &Path, filter: &str) -> Child {
        let port = format!("{}-{port}", self.name);
        self.ns("sw", &["tcpdump", "-i", &port, "-s", "0", "-U", "-w", pcap.to_str().unwrap(), filter])
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Makes the mirror port deliver its copies tunnelled, as a remote SPAN
    /// does (`lab.sh tunnel`): `kind` is vxlan, erspan2, gretap or plain.
    /// The tunnelled frames leave the switch through its port `mon0`.
    pub fn tunnel(&self, kind: &str) {
        let status = Command::new(root_dir().join("tests/lab/lab.sh"))
            .args(["tunnel", self.name, &self.net.to_string(), kind])
            .status()
            .expect("tests/lab/lab.sh");
        assert!(status.success(), "lab.sh tunnel {kind} failed");
    }

    /// `pastmon raw --iface` on the monitor port, in the monitor namespace,
    /// with `args` (its report on stdout); returns once its XDP program is
    /// attached and the capture points have settled.
    pub fn raw_sensor(&self, pastmon: &str, args: &[&str]) -> Child {
        let iface = format!("{}-mon1", self.name);
        let sensor = self
            .ns("mon", &[pastmon, "raw", "--iface", &iface])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let monitor_ns = format!("{}-mon", self.name);
        wait_until("the XDP program", Duration::from_secs(20), || self.xdp_attached(Some(&monitor_ns)));
        std::thread::sleep(Duration::from_millis(500)); // tcpdump's socket too
        sensor
    }

    /// Whether an XDP program is attached to the monitor interface.
    pub fn xdp_attached(&self, monitor_ns: Option<&str>) -> bool {
        let dev = format!("{}-mon1", self.name);
        let mut c = Command::new("ip");
        if let Some(ns) = monitor_ns {
            c.args(["-n", ns]);
        }
        let out = c.args(["link", "show", "dev", &dev]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains("xdp")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(root_dir().join("tests/lab/lab.sh")).args(["down", self.name]).status();
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a `tcpdump -U -w FILE` once it has written what it was given: a
/// tcpdump that lost its core still has frames in its socket, and SIGINT
/// makes it leave them there. Waits for the file to stop growing (at most
/// 10 s), then interrupts it and checks it ended well.
pub fn stop_tcpdump(tcpdump: Child, file: &Path) {
    let size = || std::fs::metadata(file).map_or(0, |m| m.len());
    let start = Instant::now();
    let mut last = (size(), Instant::now());
    while start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        let now = size();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= Duration::from_millis(500) {
            break;
        }
    }
    interrupt(&tcpdump);
    finish(tcpdump, "tcpdump");
}

pub fn interrupt(child: &Child) {
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

pub fn finish(child: Child, what: &str) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
