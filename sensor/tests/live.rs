//! Live capture end to end: a network of namespaces with a mirror port
//! (tests/lab/lab.sh), real nginx with endpoints of known delays, real curl
//! and wrk clients, and the sensor attached with XDP to the monitor veth
//! (two rx queues) in its own namespace. Needs root: ignored by a
//! plain `cargo test`, run by `cargo xtask test`, and failing when run
//! without root.
//!
//! Truth: the delays nginx was told to add, the requests the clients made
//! (nginx's access log, per server and URI), and tcpdump's capture of the
//! same mirror port replayed through `pastmon raw --pcap`.

mod common;

use pastmon_testbed::clickhouse::ClickHouse;
use pastmon_testbed::lab::{finish, interrupt, read_jsonl, require_root, root_dir, stop_tcpdump, wait_until, Lab};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::time::Duration;

fn micros(tx: &Value, metric: &str) -> f64 {
    tx[metric].as_f64().unwrap_or_else(|| panic!("{metric} missing in {tx}"))
}

/// Transactions keyed by client port and their order on the connection.
fn by_connection(txs: &[Value]) -> HashMap<(u64, usize), &Value> {
    let mut sorted: Vec<&Value> = txs.iter().collect();
    sorted.sort_by_key(|t| t["start_ns"].as_u64());
    let mut nth: HashMap<u64, usize> = HashMap::new();
    let mut out = HashMap::new();
    for t in sorted {
        let port = t["client_port"].as_u64().unwrap();
        let n = nth.entry(port).or_default();
        out.insert((port, *n), t);
        *n += 1;
    }
    out
}

#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn live_capture_times_real_nginx_through_a_mirror_port() {
    require_root("live capture test");
    let lab = Lab::up("pmlv", 81, "ns");
    let dir = std::env::temp_dir().join(format!("pastmon-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (pcap, live_jsonl, replay_jsonl) = (dir.join("mirror.pcap"), dir.join("live.jsonl"), dir.join("replay.jsonl"));
    let rules = root_dir().join("deploy/rules/demo.toml");
    let watched = format!("{}:80", lab.server(2));

    // tcpdump on the switch port the mirror copies (the same frames).
    let tcpdump = lab.record_mirror(&pcap, "tcp port 80");
    let args = ["--watch", &watched, "--rules", rules.to_str().unwrap(), "--interval", "60", "--format", "json"];
    let sensor = lab.raw_sensor(
        env!("CARGO_BIN_EXE_pastmon"),
        &[&args[..], &["--transactions", live_jsonl.to_str().unwrap()]].concat(),
    );

    lab.curl(2, "/delay10", 5);
    lab.curl(2, "/delay200", 3);
    lab.curl(2, "/stream", 3);
    lab.curl(2, "/fail", 2);
    // Keep-alive load on two connections, stopped after 2,000 responses (a
    // few more may be in flight): the count is nginx's log.
    let script = dir.join("stop.lua");
    std::fs::write(
        &script,
        "local n = 0\nfunction response()\n  n = n + 1\n  if n >= 2000 then wrk.thread:stop() end\nend\n",
    )
    .unwrap();
    let url = format!("http://{}/", lab.server(2));
    let wrk = lab.ns("c", &["wrk", "-t1", "-c2", "-d10s", "-s", script.to_str().unwrap(), &url]).output().unwrap();
    assert!(wrk.status.success(), "wrk: {wrk:?}");
    // A server that is not watched.
    lab.curl(3, "/delay10", 4);
    std::thread::sleep(Duration::from_millis(500)); // the last ACKs and FINs

    interrupt(&sensor);
    let sensor = finish(sensor, "pastmon raw --iface");
    stop_tcpdump(tcpdump, &pcap);
    assert!(!lab.xdp_attached(Some("pmlv-mon")), "an XDP program is still attached after the sensor exited");

    let report: Value = serde_json::from_slice(&sensor.stdout).unwrap();
    let counters = &report["capture"]["source_counters"];
    assert!(counters["xdp_filtered_out_total"].as_u64().unwrap() > 0, "{counters}");
    for dropped in ["xsk_rx_dropped_total", "xsk_rx_ring_full_total", "xdp_redirect_failed_total"] {
        assert_eq!(counters[dropped], 0, "{dropped}: {counters}");
    }

    // Exactly the requests nginx served to the watched server, none of the other.
    let live = read_jsonl(&live_jsonl);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for tx in &live {
        assert_eq!(tx["server"], lab.server(2), "a server that is not watched was reported: {tx}");
        *seen.entry(tx["signature"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let log = lab.access_log();
    let served = |uri: &str| log.get(&(lab.server(2), uri.to_owned())).copied().unwrap_or(0);
    assert_eq!(log.get(&(lab.server(3), "/delay10".to_owned())), Some(&4), "{log:?}");
    for (uri, signature, made) in [
        ("/delay10", "GET_delay10", 5),
        ("/delay200", "GET_delay200", 3),
        ("/stream", "GET_stream", 3),
        ("/fail", "GET_fail", 2),
    ] {
        assert_eq!(served(uri), made, "nginx log for {uri}: {log:?}");
        assert_eq!(seen.get(signature).copied().unwrap_or(0), made, "{signature}: {seen:?}");
    }
    // wrk counts the responses it read; nginx also logs the one or two
    // requests in flight when wrk stopped.
    let wrk_out = String::from_utf8_lossy(&wrk.stdout);
    let wrk_done: usize =
        wrk_out.lines().find_map(|l| l.trim().split(" requests in").next()?.trim().parse().ok()).unwrap_or(0);
    let keep_alive = seen.get("GET").copied().unwrap_or(0);
    assert!(wrk_done >= 2000, "{wrk_out}");
    assert!(
        (wrk_done..=served("/")).contains(&keep_alive),
        "wrk read {wrk_done} responses, nginx logged {}, the sensor saw {keep_alive}",
        served("/")
    );

    // Timings against the delays nginx was told to add (within 2 ms).
    let within = |v: f64, want_ms: f64| (want_ms * 1000.0..=(want_ms + 2.0) * 1000.0).contains(&v);
    for tx in &live {
        let (first, last) = (micros(tx, "first_response"), micros(tx, "last_response"));
        match tx["signature"].as_str().unwrap() {
            "GET_delay10" => assert!(within(first, 10.0) && within(last, 10.0), "{tx}"),
            "GET_delay200" => assert!(within(first, 200.0) && within(last, 200.0), "{tx}"),
            "GET_stream" => assert!(within(first, 0.0) && within(last, 200.0), "{tx}"),
            "GET_fail" => assert_eq!(tx["code"], 500, "{tx}"),
            _ => {}
        }
    }

    // The same frames from tcpdump, through the file path: the same transactions.
    let replay = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["raw", "--pcap", pcap.to_str().unwrap(), "--rules", rules.to_str().unwrap()])
        .args(["--interval", "60", "--transactions", replay_jsonl.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let replayed = read_jsonl(&replay_jsonl);
    let replayed: Vec<Value> = replayed.into_iter().filter(|t| t["server"] == lab.server(2)).collect();
    assert!(
        replayed.len() >= live.len() && replayed.len() <= live.len() + 2,
        "{} replayed, {} live",
        replayed.len(),
        live.len()
    );
    let (live_by, replay_by) = (by_connection(&live), by_connection(&replayed));
    let mut under_load = Vec::new();
    for (key, l) in &live_by {
        let r = replay_by.get(key).unwrap_or_else(|| panic!("{l} not in the replay"));
        for field in ["signature", "outcome", "code", "request_bytes", "server_bytes", "server_packets"] {
            assert_eq!(l[field], r[field], "{field}: live {l} replay {r}");
        }
        // Two capture points of the same mirror: tens of microseconds apart.
        for metric in ["first_response", "last_response"] {
            let (a, b) = (micros(l, metric), micros(r, metric));
            if l["signature"] == "GET" {
                under_load.push((a - b).abs());
            } else {
                assert!((a - b).abs() < 1000.0, "{metric}: live {a} µs, replay {b} µs: {l}");
            }
        }
    }
    // Under wrk's load both cores are busy, and a queue's poll (which stamps
    // the live frames) can run late by a scheduling delay: most, not all,
    // of those transactions agree to the millisecond.
    under_load.sort_by(f64::total_cmp);
    let median = under_load[under_load.len() / 2];
    let within_1ms = under_load.iter().filter(|d| **d < 1000.0).count();
    assert!(median < 100.0, "median live/replay difference under load {median} µs");
    assert!(within_1ms * 100 >= under_load.len() * 99, "{within_1ms} of {} within 1 ms", under_load.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads `/metrics` from the sensor.
fn metrics(addr: &str) -> String {
    ureq::get(&format!("http://{addr}/metrics")).call().map(|r| r.into_string().unwrap()).unwrap_or_default()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in\n{text}"))
}

/// The long-running sensor: attaches, drops to `nobody` with no
/// capabilities, serves /metrics, writes closed intervals to a real
/// ClickHouse, and on SIGTERM drains, detaches and exits cleanly.
#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn the_sensor_runs_unprivileged_into_clickhouse_and_detaches_on_sigterm() {
    require_root("live sensor test");
    // The monitor port stays in this namespace: the sensor reaches the test
    // ClickHouse on loopback.
    let lab = Lab::up("pmlr", 83, "root");
    let ch = ClickHouse::start("live");
    let spool = ch.dir.join("spool-live");
    std::fs::create_dir_all(&spool).unwrap();
    // The sensor runs as nobody once capture is set up.
    Command::new("chmod").args(["0777", spool.to_str().unwrap()]).status().unwrap();
    let metrics_addr =
        format!("127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let config = ch.dir.join("live.toml");
    std::fs::write(
        &config,
        format!(
            "sensor = \"live-sensor\"\nuser = \"nobody\"\nmetrics_listen = \"{metrics_addr}\"\n\
             [capture]\ninterfaces = [\"pmlr-mon1\"]\nwatch = [\"{}:80\"]\n\
             [analysis]\nrules = \"{}\"\ninterval = 2\ngrace = 0\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"live\"\n[spool]\ndir = \"{}\"\n",
            lab.server(2),
            root_dir().join("deploy/rules/demo.toml").display(),
            ch.url(),
            spool.display()
        ),
    )
    .unwrap();
    let sensor = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["run", "--config", config.to_str().unwrap(), "--drain-timeout", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the XDP program", Duration::from_secs(20), || lab.xdp_attached(None));
    wait_until("the privilege drop", Duration::from_secs(10), || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", sensor.id())).unwrap_or_default();
        status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("65534"))
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", sensor.id())).unwrap();
    let cap_eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap().trim().to_owned();
    assert_eq!(cap_eff, "0000000000000000", "capabilities left after the drop");

    lab.curl(2, "/delay10", 4);
    lab.curl(2, "/fail", 2);
    lab.curl(3, "/delay10", 3); // not watched
                                // The kernel's counters are read once a second, the workers' published
                                // once a second: wait for both.
    wait_until("the transactions and XDP counters in /metrics", Duration::from_secs(10), || {
        let text = metrics(&metrics_addr);
        text.contains("pastmon_transactions_total 6")
            && metric(&text, "pastmon_xdp_kept_total") > 0
            && metric(&text, "pastmon_xdp_filtered_out_total") > 0
    });
    let text = metrics(&metrics_addr);
    assert_eq!(metric(&text, "pastmon_xsk_rx_dropped_total"), 0, "{text}");
    // Intervals of 2 s close as time passes, without more traffic.
    wait_until("level1 rows", Duration::from_secs(20), || {
        ch.query("EXISTS TABLE live.level1").trim() == "1"
            && ch.query("SELECT sum(transactions) FROM live.level1").trim() == "6"
    });

    // SAFETY: a signal to our own child.
    unsafe { libc::kill(sensor.id() as i32, libc::SIGTERM) };
    let out = finish(sensor, "pastmon run");
    assert!(!lab.xdp_attached(None), "an XDP program is still attached after the sensor exited");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("running as nobody"), "{stderr}");

    let by_signature = ch.query(
        "SELECT signature, sum(transactions) FROM live.level1 WHERE server_ip = '10.83.0.2' GROUP BY signature ORDER BY signature",
    );
    assert_eq!(by_signature, "GET_delay10\t4\nGET_fail\t2\n");
    assert_eq!(ch.query("SELECT count() FROM live.level1 WHERE server_ip != '10.83.0.2'").trim(), "0");
    let health = ch.query("SELECT sum(packets), sum(dropped) FROM live.sensors WHERE sensor = 'live-sensor'");
    let (packets, dropped) = health.trim().split_once('\t').unwrap();
    assert!(packets.parse::<u64>().unwrap() > 20, "{health}");
    assert_eq!(dropped, "0", "{health}");
}

/// Frames the kernel could not hand to a stopped sensor are counted as
/// dropped, in the report as in the sources' own counters.
#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn frames_dropped_while_the_sensor_stalls_are_counted() {
    require_root("live drop test");
    let lab = Lab::up("pmld", 85, "ns");
    let watched = format!("{}:80", lab.server(2));
    // Small rings fill within a moment of a stall.
    let args = ["raw", "--iface", "pmld-mon1", "--watch", &watched, "--frames", "256", "--rx-ring", "64"];
    let mut command = lab.ns("mon", &[env!("CARGO_BIN_EXE_pastmon")]);
    let sensor = command.args(args).args(["--format", "json"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let sensor = sensor.spawn().unwrap();
    wait_until("the XDP program", Duration::from_secs(20), || lab.xdp_attached(Some("pmld-mon")));
    let signal = |sig| {
        // SAFETY: a signal to our own child (`ip netns exec` execs the sensor).
        unsafe { libc::kill(sensor.id() as i32, sig) };
    };
    signal(libc::SIGSTOP);
    let url = format!("http://{}/", lab.server(2));
    let wrk = lab.ns("c", &["wrk", "-t1", "-c2", "-d1s", &url]).output().unwrap();
    assert!(wrk.status.success(), "wrk: {wrk:?}");
    signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(1500)); // a reader's look at its counters
    interrupt(&sensor);
    let sensor = finish(sensor, "pastmon raw --iface");

    let report: Value = serde_json::from_slice(&sensor.stdout).unwrap();
    let counters = &report["capture"]["source_counters"];
    let counted: u64 =
        ["xsk_rx_dropped_total", "xsk_rx_ring_full_total", "xdp_redirect_failed_total", "xsk_bad_descriptors_total"]
            .iter()
            .map(|name| counters[name].as_u64().unwrap())
            .sum();
    let dropped = report["capture"]["dropped"].as_u64().unwrap();
    assert!(dropped > 0, "nothing dropped: {counters}");
    assert_eq!(dropped, counted, "{counters}");
    // What did get through was analysed: kept frames are read or dropped.
    let kept = counters["xdp_kept_total"].as_u64().unwrap();
    let packets = report["capture"]["packets"].as_u64().unwrap();
    assert_eq!(packets + dropped, kept, "{counters}");
}

/// However the sensor ends, the kernel takes its XDP program off.
#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn a_killed_sensor_leaves_no_program_attached() {
    require_root("live kill test");
    let lab = Lab::up("pmlk", 84, "ns");
    let mut sensor = lab
        .ns("mon", &[env!("CARGO_BIN_EXE_pastmon"), "raw", "--iface", "pmlk-mon1", "--xdp-mode", "native"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the XDP program", Duration::from_secs(20), || lab.xdp_attached(Some("pmlk-mon")));
    sensor.kill().unwrap(); // SIGKILL: no cleanup code runs
    sensor.wait().unwrap();
    wait_until("the kernel to detach the program", Duration::from_secs(5), || !lab.xdp_attached(Some("pmlk-mon")));
}
