//! The slow side, live: the lab's nginx with causes this test sets up, each
//! on its own signature and server, the sensor on the mirror port, and the
//! verdicts it gives, live and from the tcpdump capture of the same port.
//!
//! - `/delay200` (nginx sleeps before answering): the server;
//! - `/stream` (first byte at once, the rest 200 ms later, nothing in
//!   flight meanwhile): the server, idle during the transfer;
//! - 2 MiB through an 8 Mbit/s token bucket towards the client: the network;
//! - 2 MiB to a client that reads 128 KB/s with a small receive buffer
//!   (its window fills and closes): the client.
//!
//! Needs root: ignored by a plain `cargo test`, run by `cargo xtask test`.

mod common;

use pastmon_testbed::lab::{finish, interrupt, require_root, root_dir, stop_tcpdump, Lab};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// (signature, server) → (verdict, shares) from a JSON report.
fn verdicts(report: &Value) -> Vec<(String, String, String, Value)> {
    report["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["signature"].as_str().unwrap().to_owned(),
                d["server"].as_str().unwrap().to_owned(),
                d["verdict"].as_str().unwrap().to_owned(),
                d["shares"].clone(),
            )
        })
        .collect()
}

fn assert_causes(report: &Value, lab: &Lab, what: &str) {
    let v = verdicts(report);
    for (sig, server, verdict, shares) in &v {
        eprintln!("{what}: {sig} at {server}: {verdict} {shares}");
    }
    let find = |sig: &str, host: u8| {
        let server = format!("{}:80", lab.server(host));
        v.iter()
            .find(|(s, srv, ..)| s == sig && *srv == server)
            .unwrap_or_else(|| panic!("{what}: no diagnosis of {sig} at {server} in {v:?}"))
            .clone()
    };
    let share = |shares: &Value, side: &str| shares[side].as_f64().unwrap();
    let (_, _, verdict, shares) = find("GET_delay200", 2);
    assert_eq!(verdict, "server", "{what}: GET_delay200 {shares}");
    assert!(share(&shares, "server") > 0.9, "{what}: GET_delay200 {shares}");
    let (_, _, verdict, shares) = find("GET_stream", 2);
    assert_eq!(verdict, "server", "{what}: GET_stream {shares}");
    let (_, _, verdict, shares) = find("GET_big", 2);
    assert_eq!(verdict, "network", "{what}: GET_big through the token bucket {shares}");
    let (_, _, verdict, shares) = find("GET_big", 3);
    assert_eq!(verdict, "client", "{what}: GET_big to the slow reader {shares}");
}

#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn the_slow_side_is_found_for_known_causes() {
    require_root("live diagnosis test");
    pastmon_testbed::servers::require(&["tc", "tcpdump", "curl"]);
    let lab = Lab::up("pmdg", 87, "ns");
    let dir = std::env::temp_dir().join(format!("pastmon-diagnosis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("mirror.pcap");
    let rules = root_dir().join("deploy/rules/demo.toml");
    let watched = format!("10.{}.0.0/24:80", lab.net);
    let tcpdump = lab.record_mirror(&pcap, "tcp port 80");
    let args = ["--watch", &watched, "--rules", rules.to_str().unwrap(), "--format", "json"];
    let sensor = lab.raw_sensor(env!("CARGO_BIN_EXE_pastmon"), &args);

    lab.curl(2, "/delay200", 4);
    lab.curl(2, "/stream", 4);
    // The bottleneck: the switch's port towards the client.
    let tc = |args: &[&str]| {
        let out = lab.ns("sw", &[&["tc"][..], args].concat()).output().unwrap();
        assert!(out.status.success(), "tc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    tc(&["qdisc", "add", "dev", "pmdg-swc", "root", "tbf", "rate", "8mbit", "burst", "16kb", "latency", "400ms"]);
    lab.curl(2, "/big.bin", 2);
    tc(&["qdisc", "del", "dev", "pmdg-swc", "root"]);
    // The slow reader: a small receive buffer, read at 128 KB/s.
    let sysctl = lab.ns("c", &["sysctl", "-q", "-w", "net.ipv4.tcp_rmem=4096 16384 32768"]).status().unwrap();
    assert!(sysctl.success());
    let url = format!("http://{}/big.bin", lab.server(3));
    let slow = lab.ns("c", &["curl", "-s", "-o", "/dev/null", "--limit-rate", "128k", &url]).status().unwrap();
    assert!(slow.success());
    std::thread::sleep(Duration::from_millis(500));

    interrupt(&sensor);
    let sensor = finish(sensor, "pastmon raw --iface");
    stop_tcpdump(tcpdump, &pcap);
    let live: Value = serde_json::from_slice(&sensor.stdout).unwrap();
    assert_causes(&live, &lab, "live");

    let replay = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["raw", "--pcap", pcap.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let replayed: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_causes(&replayed, &lab, "replayed capture");
    let _ = std::fs::remove_dir_all(&dir);
}
