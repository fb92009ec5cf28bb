//! The lab's known causes, end to end: traffic with a cause the test
//! itself made (a slow backend behind the front, a token-bucket network, a
//! slow-reading client), recorded off the mirror, stored by the sensor's
//! engine at its default 300-second interval, and read back through the
//! console: each cause's verdict, the backend explaining the front's time,
//! and the edge between them appear on the pages and in the API.

mod common;

use common::{fill_from, get, get_json, serve};
use pastmon_testbed::clickhouse::ClickHouse;
use pastmon_testbed::lab::{require_root, stop_tcpdump, Lab};

#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn the_console_names_the_labs_causes() {
    require_root("the console's lab test");
    pastmon_testbed::servers::require(&["tc", "tcpdump", "curl"]);
    let lab = Lab::up("pmwc", 90, "ns");
    let dir = std::env::temp_dir().join(format!("pastmon-web-causes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("mirror.pcap");
    let tcpdump = lab.record_mirror(&pcap, "tcp port 80");
    std::thread::sleep(std::time::Duration::from_millis(500));
    // /app waits on the backend's /delay200 (lab.sh's proxy_pass).
    lab.curl(2, "/app", 6);
    lab.through_token_bucket("8mbit", || lab.curl(2, "/big.bin", 2));
    lab.slow_read(3, "/big.bin");
    std::thread::sleep(std::time::Duration::from_millis(500));
    stop_tcpdump(tcpdump, &pcap);

    let ch = ClickHouse::start("causes");
    let report = fill_from(&ch, "causes", &pcap, 300);
    let base = serve(&ch.url(), "causes", Vec::new());
    let first = report["capture"]["first_ns"].as_u64().unwrap() / 1_000_000_000 / 300 * 300;
    let last = report["capture"]["last_ns"].as_u64().unwrap() / 1_000_000_000 / 300 * 300 + 300;
    let frame = format!("from={first}&to={last}");
    let (front, backend, reader) =
        (format!("{}:80", lab.server(2)), format!("{}:80", lab.backend()), format!("{}:80", lab.server(3)));

    // Each cause at its server: the verdict the signature page gives.
    let page = |sig: &str, server: &str| {
        get_json(&format!("{base}/api/v1/signature?{frame}&plugin=http&signature={sig}&server={server}"))
    };
    let app = page("GET_app", &front);
    assert_eq!(app["verdict"], "server", "{app}");
    let top = &app["backends"][0];
    assert_eq!((&top["signature"], &top["server"]), (&"GET_delay200".into(), &backend.as_str().into()), "{app}");
    assert!(top["share"].as_f64().unwrap() >= 0.8, "the backend explains the front's time: {top}");
    assert!((top["calls_per_transaction"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{top}");
    assert_eq!(page("GET_delay200", &backend)["verdict"], "server");
    assert_eq!(page("GET_big", &front)["verdict"], "network", "through the token bucket");
    assert_eq!(page("GET_big", &reader)["verdict"], "client", "the slow reader");
    let (_, html) = get(&format!("{base}/signature?{frame}&plugin=http&signature=GET_app&server={front}"));
    assert!(html.contains("GET_app is slow on the server side"), "{html}");
    assert!(html.contains(&format!("Its server waits on http GET_delay200 at {backend} for")), "{html}");

    // Level 1's cause column: GET_app and GET_delay200 are the server's.
    let level1 = get_json(&format!("{base}/api/v1/signatures?{frame}"));
    for sig in ["GET_app", "GET_delay200"] {
        let row = level1["signatures"].as_array().unwrap().iter().find(|s| s["signature"] == sig).unwrap();
        assert_eq!(row["verdict"], "server", "{row}");
    }

    // The edge, seen from both ends.
    let d = get_json(&format!("{base}/api/v1/dependencies?{frame}&server={}", lab.backend()));
    let caller = &d["callers"][0];
    assert_eq!(
        (&caller["front"]["signature"], &caller["front"]["server"]),
        (&"GET_app".into(), &front.as_str().into())
    );
    assert!((caller["calls"].as_f64().unwrap() - 6.0).abs() < 1e-9, "six calls of /app: {caller}");
    assert_eq!(caller["error_share"], 0.0, "{caller}");
    let latency = caller["latency"].as_f64().unwrap();
    assert!((200_000.0..260_000.0).contains(&latency), "the backend answers in 200 ms: {latency} µs");
    let d = get_json(&format!("{base}/api/v1/dependencies?{frame}&server={front}"));
    assert_eq!(d["callees"][0]["backend"]["server"], backend.as_str(), "{d}");
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
