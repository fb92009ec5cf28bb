//! The slow side, live: the lab's nginx with causes this test sets up, each
//! on its own signature and server, the sensor on the mirror port, and the
//! verdicts it gives, live and from the tcpdump capture of the same port.
//!
//! - `/delay200` (nginx sleeps before answering): the server;
//! - `/stream` (first byte at once, the rest 200 ms later, nothing in
//!   flight meanwhile): the server, idle during the transfer;
//! - 2 MiB through an 8 Mbit/s token bucket towards the client: the network;
//! - 2 MiB to a client that reads 128 KB/s with a small receive buffer
//!   (its window fills and closes): the client;
//! - `/app`, which the server proxies to a backend's `/delay200`: the
//!   server, the backend found and explaining most of its server time,
//!   while `/delay200` at the same server has no backend;
//! - `/` at the second address through a delay bridge adding 50 ms each way
//!   between the client and the switch: the network.
//!
//! The capture, stored in ClickHouse, gives the same shares and backends.
//!
//! Needs root: ignored by a plain `cargo test`, run by `cargo xtask test`.

mod common;

use pastmon_model::diagnosis::Shares;
use pastmon_model::Metric;
use pastmon_testbed::clickhouse::ClickHouse;
use pastmon_testbed::lab::{finish, interrupt, require_root, root_dir, stop_tcpdump, Lab};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// (signature, server, verdict, shares, backends) from a JSON report.
fn verdicts(report: &Value) -> Vec<(String, String, String, Value, Vec<Value>)> {
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
                d["backends"].as_array().unwrap().clone(),
            )
        })
        .collect()
}

fn assert_causes(report: &Value, lab: &Lab, what: &str) {
    let v = verdicts(report);
    for (sig, server, verdict, shares, backends) in &v {
        eprintln!("{what}: {sig} at {server}: {verdict} {shares} backends {backends:?}");
    }
    let find = |sig: &str, host: u8| {
        let server = format!("{}:80", lab.server(host));
        v.iter()
            .find(|(s, srv, ..)| s == sig && *srv == server)
            .unwrap_or_else(|| panic!("{what}: no diagnosis of {sig} at {server} in {v:?}"))
            .clone()
    };
    let share = |shares: &Value, side: &str| shares[side].as_f64().unwrap();
    let (_, _, verdict, shares, _) = find("GET_delay200", 2);
    assert_eq!(verdict, "server", "{what}: GET_delay200 {shares}");
    assert!(share(&shares, "server") > 0.9, "{what}: GET_delay200 {shares}");
    let (_, _, verdict, shares, _) = find("GET_stream", 2);
    assert_eq!(verdict, "server", "{what}: GET_stream {shares}");
    let (_, _, verdict, shares, _) = find("GET_big", 2);
    assert_eq!(verdict, "network", "{what}: GET_big through the token bucket {shares}");
    let (_, _, verdict, shares, _) = find("GET_big", 3);
    assert_eq!(verdict, "client", "{what}: GET_big to the slow reader {shares}");
    let (_, _, verdict, shares, backends) = find("GET_app", 2);
    assert_eq!(verdict, "server", "{what}: GET_app {shares}");
    let backend = backends.first().unwrap_or_else(|| panic!("{what}: GET_app has no backend"));
    assert_eq!(backend["signature"], "GET_delay200", "{what}: {backend}");
    assert_eq!(backend["server"].as_str(), Some(format!("{}:80", lab.backend()).as_str()), "{what}: {backend}");
    assert!(backend["share"].as_f64().unwrap() >= 0.8, "{what}: the backend explains {backend}");
    assert!((backend["calls_per_transaction"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{what}: {backend}");
    let (.., backends) = find("GET_delay200", 2);
    assert!(backends.is_empty(), "{what}: GET_delay200 at the front calls nothing: {backends:?}");
    let (_, _, verdict, shares, _) = find("GET", 3);
    assert_eq!(verdict, "network", "{what}: GET through the delay bridge {shares}");
    assert!(share(&shares, "network") > 0.9, "{what}: GET through the delay bridge {shares}");
}

/// Puts a delay bridge (tests/lab/delay_bridge.py) between the client's
/// switch port and the bridge: 50 ms each way.
fn delay_the_client(lab: &Lab) -> std::process::Child {
    let sw = |args: &[&str]| {
        let out = lab.ns("sw", args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (port, near, far) = (format!("{}-swc", lab.name), format!("{}-dl0", lab.name), format!("{}-dl1", lab.name));
    sw(&["ip", "link", "set", &port, "nomaster"]);
    sw(&["ip", "link", "add", &near, "type", "veth", "peer", "name", &far]);
    sw(&["ip", "link", "set", &far, "master", &format!("{}-br", lab.name)]);
    for dev in [&near, &far] {
        sw(&["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"]);
        sw(&["ip", "link", "set", dev, "up"]);
    }
    // A packet socket reads an offloaded frame before its checksum is
    // filled in: the hosts compute their own, so that forwarded frames hold
    // them.
    for (ns, dev) in [("c", "c0"), ("s", "s0")] {
        let dev = format!("{}-{dev}", lab.name);
        assert!(lab.ns(ns, &["ethtool", "-K", &dev, "tx", "off"]).output().unwrap().status.success());
    }
    let script = root_dir().join("tests/lab/delay_bridge.py");
    let mut bridge = lab
        .ns("sw", &["python3", script.to_str().unwrap(), &port, &near, "50"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(bridge.stdout.as_mut().unwrap()), &mut up).unwrap();
    assert_eq!(up.trim(), "delay bridge up");
    bridge
}

/// The capture stored in ClickHouse: the shares from level1's sums of the
/// parts, and the backends' shares and calls from `backends` over level1,
/// equal the raw report's.
fn assert_stored_equals(report: &Value, pcap: &Path, rules: &Path) {
    let ch = ClickHouse::start("diagnosis");
    let config = ch.config("diagnosis", &format!("rules = {:?}", rules.to_str().unwrap()));
    let run = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["run", "--config", config.to_str().unwrap(), "--pcap", pcap.to_str().unwrap(), "--drain-timeout", "10"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let num = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap();
    let sums: Vec<String> = Metric::ALL.iter().map(|m| format!("sum({}_sum) AS {}", m.name(), m.name())).collect();
    let fronts = ch.json_rows(&format!(
        "SELECT signature, concat(server_ip, ':', toString(server_port)) AS server, sum(transactions) AS transactions, {} \
         FROM diagnosis.level1 GROUP BY signature, server",
        sums.join(", ")
    ));
    let backends = ch.json_rows(
        "SELECT signature, concat(server_ip, ':', toString(server_port)) AS server, backend_signature, \
         concat(backend_ip, ':', toString(backend_port)) AS backend, sum(calls) AS calls, \
         sum(backend_time_sum) AS time FROM diagnosis.backends GROUP BY signature, server, backend_signature, backend",
    );
    let diagnosis = report["diagnosis"].as_array().unwrap();
    assert!(!diagnosis.is_empty());
    for d in diagnosis {
        let (sig, server) = (d["signature"].as_str().unwrap(), d["server"].as_str().unwrap());
        let front = fronts.iter().find(|r| r["signature"] == sig && r["server"] == server).unwrap();
        let shares = Shares::from_sums(|m| num(&front[m.name()]) as u64).unwrap();
        assert_eq!(shares.verdict().name(), d["verdict"], "{sig} at {server}");
        for side in ["server", "network", "client"] {
            let stored = serde_json::to_value(shares).unwrap()[side].as_f64().unwrap();
            assert!((stored - d["shares"][side].as_f64().unwrap()).abs() < 1e-9, "{sig} at {server} {side}");
        }
        let stored: Vec<&Value> = backends.iter().filter(|b| b["signature"] == sig && b["server"] == server).collect();
        assert_eq!(stored.len(), d["backends"].as_array().unwrap().len(), "{sig} at {server}: {stored:?}");
        for b in d["backends"].as_array().unwrap() {
            let row = stored
                .iter()
                .find(|r| r["backend_signature"] == b["signature"] && r["backend"] == b["server"])
                .unwrap_or_else(|| panic!("{sig} at {server}: {b} not stored"));
            let share = num(&row["time"]) / num(&front["server_time"]);
            assert!((share - b["share"].as_f64().unwrap()).abs() < 1e-6, "{sig} at {server}: {b} vs {row}");
            let calls = num(&row["calls"]) / num(&front["transactions"]);
            assert!((calls - b["calls_per_transaction"].as_f64().unwrap()).abs() < 1e-9, "{b} vs {row}");
        }
    }
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
    lab.curl(2, "/app", 4);
    // The bottleneck: the switch's port towards the client.
    lab.through_token_bucket("8mbit", || lab.curl(2, "/big.bin", 2));
    lab.slow_read(3, "/big.bin");
    let mut bridge = delay_the_client(&lab);
    lab.curl(3, "/", 4);
    let _ = bridge.kill();
    let _ = bridge.wait();
    std::thread::sleep(Duration::from_millis(500));

    interrupt(&sensor);
    let sensor = finish(sensor, "pastmon raw --iface");
    stop_tcpdump(tcpdump, &pcap);
    let live: Value = serde_json::from_slice(&sensor.stdout).unwrap();
    assert_causes(&live, &lab, "live");

    let replay = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["raw", "--pcap", pcap.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--format", "json"])
        // The stored intervals' length: calls pair within an interval.
        .args(["--interval", "60"])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let replayed: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_causes(&replayed, &lab, "replayed capture");
    assert_stored_equals(&replayed, &pcap, &rules);
    let _ = std::fs::remove_dir_all(&dir);
}
