//! A two-shard ClickHouse cluster (ZooKeeper and two 18.16 servers on
//! loopback, deploy/clickhouse/cluster/local-cluster.sh): two sensors write
//! to different nodes; the Distributed tables on either node hold both.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Cluster {
    dir: PathBuf,
    http: [u16; 2],
}

fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/clickhouse/cluster/local-cluster.sh")
}

impl Cluster {
    fn start() -> Cluster {
        let dir = std::env::temp_dir().join(format!("pastmon-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = Cluster { dir, http: [port(), port()] };
        let ports: Vec<String> =
            [port(), c.http[0], port(), port(), c.http[1], port(), port()].iter().map(u16::to_string).collect();
        let mut args = vec!["start".to_owned(), c.dir.to_str().unwrap().to_owned()];
        args.extend(ports);
        assert!(Command::new(script()).args(&args).status().unwrap().success(), "cluster did not start");
        c
    }

    fn query(&self, node: usize, sql: &str) -> String {
        ureq::post(&format!("http://127.0.0.1:{}", self.http[node])).send_string(sql).unwrap().into_string().unwrap()
    }

    fn sensor_config(&self, node: usize) -> PathBuf {
        let path = self.dir.join(format!("sensor{node}.toml"));
        std::fs::write(
            &path,
            format!(
                "sensor = \"sensor-{node}\"\n[analysis]\ninterval = 60\ngrace = 0\nworkers = 2\n\
                 [clickhouse]\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"pastmon\"\ncluster = \"pastmon\"\n\
                 [spool]\ndir = \"{}/spool{node}\"\n",
                self.http[node],
                self.dir.display()
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["stop", self.dir.to_str().unwrap()]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn two_sensors_on_two_nodes_one_distributed_view() {
    let cluster = Cluster::start();
    let captures = [common::capture("http_browser_espn"), common::capture("http_dns_wikipedia")];
    for (node, pcap) in captures.iter().enumerate() {
        let out = Command::new(env!("CARGO_BIN_EXE_pastmon"))
            .args(["run", "--config", cluster.sensor_config(node).to_str().unwrap(), "--pcap", pcap.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let transactions = |pcap: &Path| common::analyse(pcap, 1).txs.len();
    let want = format!("sensor-0\t{}\nsensor-1\t{}\n", transactions(&captures[0]), transactions(&captures[1]));
    for node in 0..2 {
        // Each node stores its own sensor's rows ...
        let local = cluster.query(node, "SELECT DISTINCT sensor FROM pastmon.level1_local");
        assert_eq!(local.trim(), format!("sensor-{node}"));
        // ... and the Distributed tables, on either node, hold both.
        let all =
            cluster.query(node, "SELECT sensor, sum(transactions) FROM pastmon.level1 GROUP BY sensor ORDER BY sensor");
        assert_eq!(all, want, "level1 on node {node}");
        let hourly = cluster.query(
            node,
            "SELECT sensor, sumMerge(transactions) FROM pastmon.level2_hour GROUP BY sensor ORDER BY sensor",
        );
        assert_eq!(hourly, want, "level2_hour on node {node}");
        // Migration 7 added `dropped` to both the local and the Distributed table.
        let sensors = cluster.query(node, "SELECT count(), sum(dropped) FROM pastmon.sensors");
        assert_eq!(sensors.trim(), "2\t0");
    }
    // Column comments live on the Distributed tables that readers query.
    let comment = cluster.query(
        0,
        "SELECT comment FROM system.columns WHERE database = 'pastmon' AND table = 'level1' AND name = 'transactions'",
    );
    assert!(comment.contains("transactions whose request started"), "{comment}");
    // Columns added since (migrations 8-10) keep theirs, on every node, and
    // the rollups made again on the cluster roll them up.
    for node in 0..2 {
        let comment = cluster.query(
            node,
            "SELECT comment FROM system.columns WHERE database = 'pastmon' AND table = 'level1' AND name = 'delivery_sum'",
        );
        assert!(comment.contains("sum of delivery"), "node {node}: {comment}");
        let rolled = cluster.query(node, "SELECT sumMerge(delivery_count) FROM pastmon.level2_hour");
        let stored = cluster.query(node, "SELECT sum(delivery_count) FROM pastmon.level1");
        assert_eq!(rolled, stored, "node {node}");
    }
}
