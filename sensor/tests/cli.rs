//! The `pastmon` binary: output formats and clear errors.

mod common;

use std::process::{Command, Output};

fn pastmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pastmon")).args(args).output().unwrap()
}

fn temp(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("pastmon-cli-{}-{name}", std::process::id()));
    std::fs::write(&p, contents).unwrap();
    p
}

#[test]
fn text_report_shows_capture_statistics_and_signatures() {
    let pcap = common::capture("http_wireshark_classic_http");
    let out = pastmon(&["raw", "--pcap", pcap.to_str().unwrap(), "--workers", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "packets          43",
        "flows ",
        "retransmissions",
        "transactions     3",
        "http GET: 2 transactions",
        "dns DNS_A: 1",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(text.contains("first_response"));
}

#[test]
fn json_report_and_transactions_agree() {
    let pcap = common::capture("http_keepalive_5req_mozilla");
    let jsonl = std::env::temp_dir().join(format!("pastmon-cli-{}-tx.jsonl", std::process::id()));
    let out = pastmon(&[
        "raw",
        "--pcap",
        pcap.to_str().unwrap(),
        "--format",
        "json",
        "--interval",
        "60",
        "--transactions",
        jsonl.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let txs: Vec<serde_json::Value> =
        std::fs::read_to_string(&jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    std::fs::remove_file(&jsonl).unwrap();
    assert_eq!(txs.len(), 5);
    let rows: Vec<&serde_json::Value> =
        report["intervals"].as_array().unwrap().iter().flat_map(|i| i["rows"].as_array().unwrap()).collect();
    assert_eq!(rows.iter().map(|r| r["count"].as_u64().unwrap()).sum::<u64>(), 5);
    // Every interval start is a multiple of the interval.
    assert!(report["intervals"].as_array().unwrap().iter().all(|i| i["start"].as_u64().unwrap() % 60 == 0));
    // The rows' first_response sums equal the transactions' (microseconds).
    let row_sum: f64 = rows.iter().map(|r| r["metrics"]["first_response"]["sum"].as_f64().unwrap()).sum();
    let tx_sum: f64 = txs.iter().map(|t| t["first_response"].as_f64().unwrap()).sum();
    assert!((row_sum - tx_sum).abs() < 0.01, "{row_sum} vs {tx_sum}");
    let m = &rows[0]["metrics"]["first_response"];
    for k in ["count", "min", "max", "avg", "p50", "p95", "p99"] {
        assert!(m[k].is_number(), "{k} missing in {m}");
    }
    assert_eq!(rows[0]["server"].as_str().unwrap().rsplit(':').next(), Some("80"));
    // Where the time went, per signature and server: shares that add up, a verdict.
    let diagnosis = report["diagnosis"].as_array().unwrap();
    assert!(!diagnosis.is_empty());
    for d in diagnosis {
        let shares = &d["shares"];
        let total: f64 = ["server", "network", "client"].iter().map(|k| shares[k].as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{d}");
        assert!(["server", "network", "client", "balanced"].contains(&d["verdict"].as_str().unwrap()), "{d}");
        assert!(d["parts"]["server_time"].is_number(), "{d}");
    }
    // The parts of each transaction's time add up to its last ACK.
    for t in &txs {
        let part = |k: &str| t[k].as_f64().unwrap_or(0.0);
        if t["last_ack"].is_number() {
            let sum: f64 =
                ["request_time", "server_time", "response_transfer", "delivery"].iter().map(|k| part(k)).sum();
            assert!((sum - part("last_ack")).abs() < 0.005, "{t}");
        }
    }
}

#[test]
fn missing_and_malformed_captures_are_clear_errors() {
    let out = pastmon(&["raw", "--pcap", "/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/x.pcap") && err.contains("No such file"), "{err}");

    let junk = temp("junk.pcap", b"this is not a capture file at all");
    let out = pastmon(&["raw", "--pcap", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng file"));

    // A file cut in the middle of a record: analysed up to the cut, then reported.
    let whole = std::fs::read(common::capture("http_pipelined_2req_in_1pkt")).unwrap();
    let cut = temp("cut.pcap", &whole[..whole.len() - 10]);
    let out = pastmon(&["raw", "--pcap", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("http GET: 2 transactions"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("file ends inside a record"));
    for p in [junk, cut] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn arguments_are_checked_and_each_error_is_said_once() {
    let pcap = common::capture("http_qinq");
    let p = pcap.to_str().unwrap();
    for (args, want) in [
        (vec!["--workers", "0"], "workers must be 1 to 256, not 0"),
        (vec!["--workers", "10000"], "workers must be 1 to 256, not 10000"),
        (vec!["--idle-timeout", "18446744074"], "idle_timeout must be 1 to 31536000 seconds"),
        (vec!["--response-timeout", "18446744074"], "response_timeout must be 1 to 31536000 seconds"),
        (vec!["--interval", "0"], "interval must be 1 to 86400 seconds"),
        (vec!["--rules", "/nonexistent/rules.toml"], "/nonexistent/rules.toml: cannot read the rules file"),
    ] {
        let started = std::time::Instant::now();
        let out = pastmon(&[&["raw", "--pcap", p][..], &args].concat());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: said once, on one line: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{args:?}");
    }
    let out = pastmon(&["raw", "--pcap", "/nonexistent/x.pcap"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    assert!(!err.contains("os error"), "{err}");
    // An output onto the input is refused, and the input stays whole.
    let copy = temp("input.pcap", &std::fs::read(&pcap).unwrap());
    let before = std::fs::read(&copy).unwrap();
    let out = pastmon(&["raw", "--pcap", copy.to_str().unwrap(), "--transactions", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the input capture"));
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    // A link type nothing decodes: said, not a silent zero.
    let mut odd = before.clone();
    odd[20..24].copy_from_slice(&147u32.to_le_bytes()); // DLT_USER0
    let odd = temp("odd-link.pcap", &odd);
    let out = pastmon(&["raw", "--pcap", odd.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("link type 147"), "{}", String::from_utf8_lossy(&out.stderr));
    for f in [copy, odd] {
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn a_bad_rule_file_names_file_and_line() {
    let rules = temp("bad.toml", b"[http]\ndepth = 64\n\n[[http.rule]]\nmatch = '^GET (['\nname = 'X'\n");
    let pcap = common::capture("http_qinq");
    let out = pastmon(&["raw", "--pcap", pcap.to_str().unwrap(), "--rules", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:5: bad regex", rules.display())), "{err}");
    std::fs::remove_file(rules).unwrap();
}

#[test]
fn custom_rules_name_transactions() {
    let rules = temp(
        "good.toml",
        b"[[http.rule]]\nmatch = '^GET /(\\w+)'\nname = 'GET_$1'\n[[http.rule]]\nmatch = '^(\\w+) '\nname = '$1'\n",
    );
    let pcap = common::capture("http_pipelined_2req_in_1pkt");
    let out = pastmon(&["raw", "--pcap", pcap.to_str().unwrap(), "--rules", rules.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("http GET_bar: 1") && text.contains("http GET_foo: 1"), "{text}");
    std::fs::remove_file(rules).unwrap();
}
