//! Kafka and MongoDB on real captures (sensor/tests/captures/README.md says
//! whence), against what tshark's dissector shows of them: each request
//! and its response (Kafka's correlation id, MongoDB's requestID and
//! responseTo), the API or command, the topic or collection, the error
//! code or `ok`, and the time between the two frames (tshark's
//! `frame.time_relative`).

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The transactions of one capture, sorted (workers write them in any
/// order): (plugin, signature, outcome, first and last response in µs).
fn transactions(capture: &str) -> Vec<(String, String, String, f64, f64)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
    let out = std::env::temp_dir().join(format!(
        "pastmon-captures-{}-{}.jsonl",
        std::process::id(),
        capture.replace('/', "-")
    ));
    let run = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["raw", "--pcap"])
        .arg(dir.join(format!("{capture}.pcap")))
        .arg("--transactions")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{capture}: {}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let mut txs: Vec<_> = text
        .lines()
        .map(|l| {
            let t: Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| t[k].as_str().unwrap().to_owned();
            let us = |k: &str| t[k].as_f64().unwrap_or(f64::NAN);
            (s("plugin"), s("signature"), s("outcome"), us("first_response"), us("last_response"))
        })
        .collect();
    txs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    txs
}

fn tx(plugin: &str, signature: &str, outcome: &str, us: f64) -> (String, String, String, f64, f64) {
    (plugin.into(), signature.into(), outcome.into(), us, us)
}

fn kafka(signature: &str, us: f64) -> (String, String, String, f64, f64) {
    tx("kafka", signature, "ok", us)
}

#[test]
fn produce_v2_v7_and_v9_are_named_by_topic() {
    // tshark: correlation 1, topic2, acks 1, error 0, response after 16.107 ms.
    assert_eq!(transactions("kafka/00-produce-v2"), [kafka("KAFKA_Produce_topic2", 16107.0)]);
    // v7 on port 36333 (found by content): quickstart-events, 28.415 ms.
    assert_eq!(transactions("kafka/00-produce-v7-sw8"), [kafka("KAFKA_Produce_quickstart-events", 28415.0)]);
    // v9, flexible: a null transactional id, then topic zqy-test (tshark
    // names correlation 47 and acks 1, not the compact topic), 1.619 ms.
    assert_eq!(transactions("kafka/00-produce-v9"), [kafka("KAFKA_Produce_zqy-test", 1619.0)]);
}

#[test]
fn fetch_group_and_api_versions_requests_pair_by_correlation_id() {
    // Fetch v12 (flexible): topic zqy-test, a long poll of 499.61 ms.
    assert_eq!(transactions("kafka/01-fetch-v12-ok"), [kafka("KAFKA_Fetch_zqy-test", 499610.0)]);
    assert_eq!(transactions("kafka/13-leave-group-v4"), [kafka("KAFKA_LeaveGroup", 2739.0)]);
    // ApiVersions v3: header v2 request, header v0 response.
    assert_eq!(transactions("kafka/18-api-versions-v3"), [kafka("KAFKA_ApiVersions", 4941.0)]);
    // A Fetch v13 (topic ids: no name) polling on one connection while
    // another commits offsets (v8, topic orders: by group, no topic named)
    // and heartbeats; the Fetch's answer comes last, after 501.156 ms.
    assert_eq!(
        transactions("kafka/mixed-with-unsupported"),
        [kafka("KAFKA_Fetch", 501156.0), kafka("KAFKA_Heartbeat", 277.0), kafka("KAFKA_OffsetCommit", 1001.0)]
    );
}

fn mongo(signature: &str, us: f64) -> (String, String, String, f64, f64) {
    tx("mongodb", signature, "ok", us)
}

#[test]
fn mongodb_op_query_and_op_msg_pair_by_request_id() {
    // A mongo shell's session: isMaster by OP_QUERY on admin.$cmd (its
    // OP_REPLY), then OP_MSG commands; replSetGetStatus answers ok: 0.
    let mut want = vec![
        mongo("MONGO_isMaster", 1053.0),
        mongo("MONGO_saslContinue", 325.0),
        mongo("MONGO_saslContinue", 338.0),
        mongo("MONGO_whatsmyuri", 128.0),
        mongo("MONGO_buildinfo", 196.0),
        mongo("MONGO_getLog_startupWarnings", 182.0),
        mongo("MONGO_isMaster", 174.0),
        mongo("MONGO_buildInfo", 139.0),
        mongo("MONGO_getCmdLineOpts", 135.0),
        mongo("MONGO_buildInfo", 207.0),
        mongo("MONGO_isMaster", 143.0),
        tx("mongodb", "MONGO_replSetGetStatus", "error", 571.0),
        mongo("MONGO_getLog_startupWarnings", 334.0),
        mongo("MONGO_isMaster", 189.0),
        mongo("MONGO_endSessions", 786.0),
    ];
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(transactions("mongodb/mongo"), want);
    // A find on collection query (port 3717, found by content); its reply's
    // ok comes after the batch, before $clusterTime.
    assert_eq!(transactions("mongodb/mongo-msg"), [mongo("MONGO_find_query", 1458.0)]);
}
