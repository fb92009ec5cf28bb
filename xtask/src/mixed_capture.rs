//! Makes the mixed-protocol capture of `cargo xtask bench pcap`: real
//! servers in the lab (the live tests' own, from pastmon-testbed), loaded by
//! their benchmark clients at once — redis-benchmark, pgbench (simple and
//! extended query protocol), mariadb-slap (reads by key), wrk over TLS,
//! Python's smtplib, imaplib, poplib and ftplib, h2load against h2o (HTTP/2,
//! ten streams in flight per connection), gRPC calls (python3-grpcio),
//! memcslap (memcached, text and binary), mosquitto_pub (MQTT, QoS 1 and 2
//! on one connection each) and pika (AMQP: confirmed publishes and gets) —
//! while tcpdump records the mirror port. Needs root.

use anyhow::{ensure, Result};
use pastmon_testbed::lab::{is_root, Lab};
use pastmon_testbed::servers::{pg_bin, require, Servers};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

/// Records the capture into `out`.
pub fn make(out: &Path) -> Result<()> {
    ensure!(is_root(), "the mixed-protocol capture needs root (network namespaces)");
    let out = out.to_str().ok_or_else(|| anyhow::anyhow!("path is not UTF-8"))?;
    require(&[
        "redis-benchmark",
        "mariadb-slap",
        "wrk",
        "tcpdump",
        "/usr/bin/python3",
        "h2o",
        "h2load",
        "memcslap",
        "mosquitto",
    ]);
    let lab = Lab::up("pmmx", 89, "ns");
    let mut servers = Servers::new(&lab);
    servers.redis();
    servers.postgres();
    servers.mariadb();
    servers.nginx_tls();
    servers.smtp_sink();
    servers.dovecot();
    servers.vsftpd();
    servers.h2o();
    servers.grpc();
    servers.memcached();
    servers.mosquitto();
    servers.rabbitmq();
    let ip = lab.server(2);
    let pgbench = pg_bin("pgbench");
    let run = |args: &[&str]| {
        let status = lab.ns("c", args).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
        assert!(status.success(), "{args:?}");
    };
    // Tables for pgbench, before the capture.
    run(&[&pgbench, "-i", "-q", "-h", &ip, "-U", "postgres", "postgres"]);

    let mut tcpdump = lab
        .ns("sw", &["tcpdump", "-i", "pmmx-sws", "-s", "0", "-B", "65536", "-U", "-w", out, "tcp"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let spawn =
        |args: &[&str]| -> Child { lab.ns("c", args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap() };
    let script = pastmon_testbed::lab::root_dir().join("xtask/mail_load.py");
    let url = "https://".to_owned() + &ip + "/";
    let h2 = format!("http://{ip}:8080/hello.txt");
    let grpc = pastmon_testbed::lab::root_dir().join("tests/lab/grpc_lab.py");
    let memcached = format!("--servers={ip}:11211");
    let amqp = pastmon_testbed::lab::root_dir().join("tests/lab/amqp_lab.py");
    let clients = vec![
        spawn(&["redis-benchmark", "-h", &ip, "-q", "-n", "20000", "-c", "2", "-t", "set,get,incr,lpush"]),
        spawn(&[&pgbench, "-h", &ip, "-U", "postgres", "-S", "-c", "2", "-t", "5000", "postgres"]),
        spawn(&[&pgbench, "-h", &ip, "-U", "postgres", "-M", "extended", "-c", "2", "-t", "1000", "postgres"]),
        spawn(&[
            "mariadb-slap",
            "-h",
            &ip,
            "-u",
            "root",
            "--concurrency=2",
            "--number-of-queries=20000",
            "--auto-generate-sql",
            "--auto-generate-sql-add-autoincrement",
            "--auto-generate-sql-load-type=key",
        ]),
        spawn(&["wrk", "-t1", "-c2", "-d5s", &url]),
        spawn(&["wrk", "-t1", "-c1", "-d3s", "-H", "Connection: close", &url]),
        spawn(&["python3", script.to_str().unwrap(), &ip, "1000"]),
        spawn(&["python3", script.to_str().unwrap(), &ip, "1000"]),
        spawn(&["h2load", "-n", "100000", "-c", "2", "-m", "10", &h2]),
        spawn(&["/usr/bin/python3", grpc.to_str().unwrap(), "load", &ip, "50051", "10000"]),
        spawn(&["memcslap", &memcached, "--concurrency=2", "--execute-number=40000", "--test=get"]),
        spawn(&["memcslap", &memcached, "--binary", "--concurrency=2", "--execute-number=20000", "--test=set"]),
        spawn(&["sh", "-c", &format!("seq 20000 | mosquitto_pub -h {ip} -t bench/q1 -q 1 -l")]),
        spawn(&["sh", "-c", &format!("seq 8000 | mosquitto_pub -h {ip} -t bench/q2 -q 2 -l -V mqttv5")]),
        spawn(&["/usr/bin/python3", amqp.to_str().unwrap(), &ip, "10000"]),
    ];
    for mut c in clients {
        let status = c.wait().unwrap();
        assert!(status.success(), "a load client failed: {status}");
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(tcpdump.id() as i32, libc::SIGINT) };
    assert!(tcpdump.wait().unwrap().success());
    drop(servers);
    Ok(())
}
