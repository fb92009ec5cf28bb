//! A remote SPAN, live: the lab's mirror port delivers its copies through a
//! tunnel to the sensor's interface, as a switch's ERSPAN session or a
//! cloud's VXLAN mirroring does, and the sensor's XDP filter watches the
//! inner server. For each of VXLAN (a kernel `vxlan` device), ERSPAN II and
//! GRE with bridged Ethernet (tests/lab/tunnel_relay.py: this kernel has no
//! `erspan` or `gretap` device), the sensor must give the transactions nginx
//! logged, with the delays nginx was told to add, count the frames of that
//! encapsulation, and agree with tcpdump's captures of the tunnel and of
//! the plain mirror replayed through `pastmon raw --pcap`.
//!
//! Needs root: ignored by a plain `cargo test`, run by `cargo xtask test`.

use pastmon_testbed::lab::{finish, interrupt, read_jsonl, require_root, root_dir, stop_tcpdump, Lab};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The requests each kind of tunnel carries: (URI, signature, times) to the
/// watched server, and `/delay10` twice to the second address, not watched.
const REQUESTS: [(&str, &str, usize); 3] =
    [("/delay10", "GET_delay10", 3), ("/delay200", "GET_delay200", 2), ("/fail", "GET_fail", 1)];

/// (signature, client port, outcome, code, server bytes) of the watched
/// server's transactions, sorted: what two captures of the same traffic share.
fn shape(txs: &[Value], server: &str) -> Vec<(String, u64, String, u64, u64)> {
    let mut out: Vec<_> = txs
        .iter()
        .filter(|t| t["server"] == server)
        .map(|t| {
            (
                t["signature"].as_str().unwrap().to_owned(),
                t["client_port"].as_u64().unwrap(),
                t["outcome"].to_string(),
                t["code"].as_u64().unwrap_or(0),
                t["server_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn replay(pcap: &Path, rules: &Path, jsonl: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["raw", "--pcap", pcap.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--format", "json"])
        .args(["--interval", "60", "--transactions", jsonl.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn a_tunnelled_mirror_gives_the_transactions_of_the_plain_one() {
    require_root("live tunnel test");
    let lab = Lab::up("pmtn", 91, "ns");
    let dir = std::env::temp_dir().join(format!("pastmon-live-tunnels-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = root_dir().join("deploy/rules/demo.toml");
    let (watched, other) = (lab.server(2), lab.server(3));
    let watch = format!("{watched}:80");
    let mut served_before: BTreeMap<(String, String), usize> = BTreeMap::new();

    // (lab.sh's kind, the encapsulation the sensor counts)
    for (kind, encapsulation) in [("vxlan", "vxlan"), ("erspan2", "erspan"), ("gretap", "gre")] {
        lab.tunnel(kind);
        let file = |name: &str| dir.join(format!("{kind}-{name}"));
        let (tunnel_pcap, mirror_pcap, live_jsonl) = (file("tunnel.pcap"), file("mirror.pcap"), file("live.jsonl"));
        let tunnel_dump = lab.record_switch_port("mon0", &tunnel_pcap, "");
        let mirror_dump = lab.record_mirror(&mirror_pcap, "tcp port 80");
        let sensor = lab.raw_sensor(
            env!("CARGO_BIN_EXE_pastmon"),
            &[
                &["--watch", &watch, "--rules", rules.to_str().unwrap(), "--interval", "60", "--format", "json"][..],
                &["--transactions", live_jsonl.to_str().unwrap()],
            ]
            .concat(),
        );
        for (uri, _, times) in REQUESTS {
            lab.curl(2, uri, times);
        }
        lab.curl(3, "/delay10", 2);
        std::thread::sleep(Duration::from_millis(500)); // the last ACKs and FINs
        interrupt(&sensor);
        let sensor = finish(sensor, "pastmon raw --iface");
        stop_tcpdump(tunnel_dump, &tunnel_pcap);
        stop_tcpdump(mirror_dump, &mirror_pcap);
        assert!(!lab.xdp_attached(Some("pmtn-mon")), "{kind}: XDP still attached after the sensor exited");

        // What nginx served during this kind's turn.
        let log = lab.access_log();
        let served = |server: &str, uri: &str| {
            let key = (server.to_owned(), uri.to_owned());
            log.get(&key).copied().unwrap_or(0) - served_before.get(&key).copied().unwrap_or(0)
        };
        assert_eq!(served(&other, "/delay10"), 2, "{kind}: {log:?}");

        let report: Value = serde_json::from_slice(&sensor.stdout).unwrap();
        let counters = &report["capture"]["source_counters"];
        for counter in ["xdp_filtered_out_total", "xdp_decapsulated_total"] {
            assert!(counters[counter].as_u64().unwrap() > 0, "{kind}: {counter}: {counters}");
        }
        for dropped in ["xsk_rx_dropped_total", "xsk_rx_ring_full_total", "xdp_redirect_failed_total"] {
            assert_eq!(counters[dropped], 0, "{kind}: {dropped}: {counters}");
        }
        let tunnels = &report["capture"]["tunnels"];
        assert!(tunnels[encapsulation]["frames"].as_u64().unwrap() > 0, "{kind}: {tunnels}");
        assert_eq!(tunnels[encapsulation]["malformed"], 0, "{kind}: {tunnels}");

        // Exactly what nginx served the watched server, at the delays it was told.
        let live = read_jsonl(&live_jsonl);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for tx in &live {
            assert_eq!(tx["server"], watched.as_str(), "{kind}: a server that is not watched: {tx}");
            *seen.entry(tx["signature"].as_str().unwrap().to_owned()).or_default() += 1;
            let delay_ms = match tx["signature"].as_str().unwrap() {
                "GET_delay10" => 10.0,
                "GET_delay200" => 200.0,
                _ => continue,
            };
            let last = tx["last_response"].as_f64().unwrap();
            assert!((delay_ms * 1000.0..=(delay_ms + 5.0) * 1000.0).contains(&last), "{kind}: {tx}");
        }
        for (uri, signature, times) in REQUESTS {
            assert_eq!(served(&watched, uri), times, "{kind}: nginx log for {uri}: {log:?}");
            assert_eq!(seen.get(signature).copied().unwrap_or(0), times, "{kind}: {signature}: {seen:?}");
        }

        // The tunnel's capture and the plain mirror's, through the file path.
        let tunnel_replay = replay(&tunnel_pcap, &rules, &file("tunnel.jsonl"));
        assert!(tunnel_replay["capture"]["tunnels"][encapsulation]["frames"].as_u64().unwrap() > 0);
        let mirror_replay = replay(&mirror_pcap, &rules, &file("mirror.jsonl"));
        assert_eq!(mirror_replay["capture"]["tunnels"][encapsulation]["frames"], 0);
        let want = shape(&live, &watched);
        assert_eq!(shape(&read_jsonl(&file("tunnel.jsonl")), &watched), want, "{kind}: the tunnel's capture");
        assert_eq!(shape(&read_jsonl(&file("mirror.jsonl")), &watched), want, "{kind}: the plain mirror's capture");
        served_before = log;
    }
    lab.tunnel("plain");
    let _ = std::fs::remove_dir_all(&dir);
}
