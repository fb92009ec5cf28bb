//! Golden tests over the shared captures (`../shared/pcaps`), checked against
//! the independent oracle tables made with tshark 4.0 (`oracle/*/`).
//!
//! Timings compare packet timestamps, so "equal" means within 1 µs (the
//! oracle prints microseconds). Where pastmon and the oracle disagree because
//! the oracle is wrong, the test says which rows and why.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

const TOLERANCE_US: f64 = 1.001;

/// One line per capture: what the engine counted. Reviewed by hand against
/// the capture (tshark) when blessed; `PASTMON_BLESS=1` rewrites it.
fn summary_line(name: &str, run: &Run) -> String {
    let c = &run.report["capture"];
    let fl = &c["flows"];
    let mut by_plugin: BTreeMap<String, u64> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for t in &run.txs {
        *by_plugin.entry(t["plugin"].as_str().unwrap().to_owned()).or_default() += 1;
        *outcomes.entry(t["outcome"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let join = |m: &BTreeMap<String, u64>| m.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
    let skipped: u64 = c["skipped"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    format!(
        "{name}\t{}\t{skipped}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        c["packets"],
        fl["tcp_flows"],
        fl["udp_flows"],
        fl["midstream"],
        fl["retransmissions"],
        fl["out_of_order"],
        fl["acks_ahead"],
        fl["lost_bytes"],
        fl["truncated_bytes"],
        fl["resets"],
        c["signatures"],
        join(&by_plugin),
        join(&outcomes)
    )
}

#[test]
fn every_capture_is_analysed_as_summarised() {
    let header = "capture\tpackets\tskipped\ttcp_flows\tudp_flows\tmidstream\tretransmissions\tout_of_order\tacks_ahead\tlost_bytes\ttruncated_bytes\tresets\tsignatures\ttransactions\toutcomes";
    let mut lines = vec![header.to_owned()];
    for path in all_captures() {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let run = analyse(&path, 2);
        assert!(run.results.error.is_none(), "{name}: {:?}", run.results.error);
        lines.push(summary_line(&name, &run));
    }
    let got = lines.join("\n") + "\n";
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/summary.tsv");
    if std::env::var_os("PASTMON_BLESS").is_some() {
        // Blessing writes the new summary for review (git diff); it checks nothing.
        std::fs::write(&file, &got).unwrap();
        eprintln!("PASTMON_BLESS: wrote {}; review the diff", file.display());
        return;
    }
    let want = std::fs::read_to_string(&file).unwrap();
    for (g, w) in got.lines().zip(want.lines()) {
        assert_eq!(g, w, "summary differs (PASTMON_BLESS=1 rewrites tests/golden/summary.tsv after review)");
    }
    assert_eq!(got.lines().count(), want.lines().count());
}

/// Our HTTP transactions starting at `start_us` (request's first packet).
fn starting_at<'a>(txs: &[&'a Value], start_us: f64) -> Vec<&'a Value> {
    txs.iter().filter(|t| (f(&t["start_ns"]) / 1000.0 - start_us).abs() < TOLERANCE_US).copied().collect()
}

#[test]
fn http_transactions_match_the_oracle() {
    let dirs = std::fs::read_dir(pcaps_dir().join("oracle")).unwrap();
    let mut names: Vec<String> = dirs.map(|d| d.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut checked = 0;
    for name in names {
        let rows: Vec<_> = oracle(&name, "transactions.tsv")
            .into_iter()
            // Responses tshark could not pair with any request have no request times.
            .filter(|r| !r["t_req_first"].is_empty() && !r["t_resp_first"].is_empty())
            .collect();
        if rows.is_empty() {
            continue;
        }
        // The snaplen-128 copy of bro.org: tshark sees no response bodies, so it
        // reports every response as ending in its first frame. pastmon follows
        // the TCP sequence numbers past the cut and finds the true end, which
        // the full capture's oracle gives.
        let last_from = if name == "http_browser_bro.org_snap128_DERIVED" {
            oracle("http_browser_bro.org", "transactions.tsv")
        } else {
            rows.clone()
        };
        let run = analyse(&capture(&name), 2);
        let mut ours = run.plugin("http");
        assert!(ours.len() >= rows.len(), "{name}: {} transactions, oracle {}", ours.len(), rows.len());
        for r in &rows {
            let start = us(&r["t_req_first"]);
            let first = us(&r["t_resp_first"]) - start;
            let want_last = last_from
                .iter()
                .find(|o| o["t_req_first"] == r["t_req_first"] && o["t_resp_first"] == r["t_resp_first"])
                .map(|o| us(&o["t_resp_last"]) - start);
            let cands = starting_at(&ours, start);
            let found = cands
                .iter()
                .position(|t| (f(&t["first_response"]) - first).abs() < TOLERANCE_US)
                .unwrap_or_else(|| {
                    panic!(
                        "{name}: no transaction for {} {} at {} with first_response {first} µs; candidates {:?}",
                        r["method"],
                        r["uri"],
                        r["t_req_first"],
                        cands.iter().map(|t| &t["first_response"]).collect::<Vec<_>>()
                    )
                });
            let t = cands[found];
            if let Some(last) = want_last {
                assert!(
                    (f(&t["last_response"]) - last).abs() < TOLERANCE_US,
                    "{name}: {} {}: last_response {} µs, oracle {last}",
                    r["method"],
                    r["uri"],
                    t["last_response"]
                );
            }
            let status: Option<u64> = r["status"].parse().ok();
            if t["outcome"] != "incomplete" {
                assert_eq!(t["code"].as_u64(), status, "{name}: {} {}", r["method"], r["uri"]);
            }
            ours.retain(|o| !std::ptr::eq(*o, t));
            checked += 1;
        }
    }
    assert!(checked > 1300, "only {checked} oracle transactions checked");
}

#[test]
fn dns_transactions_match_the_oracle() {
    let mut checked = 0;
    for path in all_captures() {
        let name = path.file_stem().unwrap().to_str().unwrap();
        let rows: Vec<_> = oracle(name, "dns.tsv").into_iter().filter(|r| !r["dns.response_to"].is_empty()).collect();
        if rows.is_empty() {
            continue;
        }
        let run = analyse(&path, 2);
        let ours = run.plugin("dns");
        for r in rows {
            let rtt = us(&r["dns.time"]);
            let query = us(&r["frame.time_epoch"]) - rtt;
            let id = u32::from_str_radix(r["dns.id"].trim_start_matches("0x"), 16).unwrap();
            let t = starting_at(&ours, query)
                .into_iter()
                .find(|t| t["first_response"].is_number())
                .unwrap_or_else(|| panic!("{name}: no answered query {id:#x} at {query}"));
            let got = f(&t["first_response"]);
            assert_eq!(t["first_response"], t["last_response"]);
            if name == "dns_udp_v4v6_edns" && (r["frame.number"] == "59" || r["frame.number"] == "85") {
                // The response was IP-fragmented. tshark times it at the last
                // fragment (where it reassembles); pastmon at the first, when
                // the response's first byte arrived: 17 µs and 38 µs earlier.
                assert!(got < rtt && got > rtt - 50.0, "{name} {id:#x}: {got} vs {rtt}");
            } else {
                assert!((got - rtt).abs() < TOLERANCE_US, "{name} {id:#x}: first_response {got} µs, oracle {rtt}");
            }
            assert_eq!(t["code"].as_u64().unwrap().to_string(), r["dns.flags.rcode"], "{name} {id:#x}");
            checked += 1;
        }
    }
    assert!(checked >= 2580, "only {checked} DNS responses checked");
}

#[test]
fn latency_captures_give_the_documented_handshake_and_first_byte() {
    // ../shared/notes/testing.md, in milliseconds: handshake SYN→SYN/ACK and
    // time to first byte.
    for (name, handshake_ms, first_byte_ms) in [
        ("latency1_baseline", 30.1, 70.95),
        ("latency2_wire", 878.5, 1171.1),
        ("latency3_client", 23.8, 62.3),
        ("latency4_server", 18.6, 1030.9),
    ] {
        let run = analyse(&capture(name), 1);
        assert_eq!(run.txs.len(), 1, "{name}");
        let t = &run.txs[0];
        let srtt = f(&t["server_rtt"]);
        let first = f(&t["first_response"]);
        assert!((srtt / 1000.0 - handshake_ms).abs() < 0.05, "{name}: server_rtt {srtt} µs");
        assert!((first / 1000.0 - first_byte_ms).abs() < 0.05, "{name}: first_response {first} µs");
        // And exactly the oracle's microseconds.
        let synack = &oracle(name, "tcp_handshake.tsv")[1];
        assert!((srtt - us(&synack["tcp.analysis.ack_rtt"])).abs() < TOLERANCE_US, "{name}");
        let ttfb = &oracle(name, "http_ttfb.tsv")[0];
        assert!((first - us(&ttfb["http.time"])).abs() < TOLERANCE_US, "{name}");
        // Only the first response segment is in these captures.
        assert_eq!(t["outcome"], "incomplete", "{name}");
        assert_eq!(t["server_packets"], 1, "{name}");
    }
}

#[test]
fn pipelined_requests_in_one_segment_are_two_transactions() {
    let run = analyse(&capture("http_pipelined_2req_in_1pkt"), 1);
    let http = run.plugin("http");
    assert_eq!(http.len(), 2);
    assert_eq!(http[0]["start_ns"], http[1]["start_ns"]);
    let mut firsts: Vec<f64> = http.iter().map(|t| f(&t["first_response"])).collect();
    firsts.sort_by(f64::total_cmp);
    assert_eq!(firsts, vec![57357.0, 58999.0]);
    // The two requests share one 2-request segment: each counts it once.
    assert!(http.iter().all(|t| t["request_packets"] == 1 && t["outcome"] == "2xx"));
}

#[test]
fn retransmissions_are_counted_not_repeated() {
    // tshark flags 47 retransmissions in http_retransmissions: 36 carry data,
    // 11 are repeated SYN, SYN/ACK and FIN segments without payload, which
    // pastmon does not count as retransmitted data. In http_range_retrans_ooo
    // it flags 14 full-size data retransmissions (and 2 empty ones).
    for (name, transactions, retransmissions) in
        [("http_retransmissions", 4, 36..=36), ("http_range_retrans_ooo", 2, 14..=17)]
    {
        let run = analyse(&capture(name), 1);
        assert_eq!(run.plugin("http").len(), transactions, "{name}");
        let flow_total = run.report["capture"]["flows"]["retransmissions"].as_u64().unwrap();
        assert!(retransmissions.contains(&flow_total), "{name}: {flow_total} retransmissions");
    }
    // Every transaction of the first capture suffered some, in both directions.
    let run = analyse(&capture("http_retransmissions"), 1);
    for t in &run.txs {
        assert!(t["retransmits_client"].as_u64().unwrap() >= 4, "{t}");
        assert!(t["retransmits_server"].as_u64().unwrap() >= 1, "{t}");
    }
}

#[test]
fn tagged_and_plain_twins_give_the_same_transactions() {
    let vlan = analyse(&capture("http_vlan8021q"), 1);
    let qinq = analyse(&capture("http_qinq"), 1);
    assert_eq!(vlan.txs.len(), 1);
    assert_eq!(vlan.txs, qinq.txs);
    // Client→server tagged, server→client untagged: still one flow.
    let asym = analyse(&capture("tcp_syn_retransmit_ts_partial_vlan"), 1);
    assert_eq!(asym.report["capture"]["flows"]["tcp_flows"], 1);
    assert_eq!(asym.plugin("http").len(), 1);
    assert_eq!(asym.txs[0]["outcome"], "2xx");
    // The same site over IPv4 and IPv6, from a pcapng file.
    let both = analyse(&capture("http_ipv4_and_ipv6"), 1);
    let servers: Vec<&str> = both.txs.iter().map(|t| t["server"].as_str().unwrap()).collect();
    assert_eq!(servers.len(), 2);
    assert!(servers.iter().any(|s| s.contains(':')) && servers.iter().any(|s| s.contains('.')));
    assert!(both.txs.iter().all(|t| t["outcome"] == "2xx" && t["signature"] == "GET"));
}

#[test]
fn snaplen_cut_payload_is_counted_never_invented() {
    let full = analyse(&capture("http_browser_bro.org"), 1);
    let cut = analyse(&capture("http_browser_bro.org_snap128_DERIVED"), 1);
    assert!(cut.report["capture"]["flows"]["truncated_bytes"].as_u64().unwrap() > 400_000);
    assert_eq!(full.report["capture"]["flows"]["truncated_bytes"], 0);
    let key = |t: &Value| (t["start_ns"].as_u64().unwrap(), t["first_response"].to_string());
    let mut a: Vec<_> = full.txs.iter().map(key).collect();
    let mut b: Vec<_> = cut.txs.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // Byte counts come from sequence numbers, so they survive the cut.
    let bytes = |r: &Run| r.txs.iter().map(|t| t["server_bytes"].as_u64().unwrap_or(0)).sum::<u64>();
    assert_eq!(bytes(&full), bytes(&cut));
}

#[test]
fn one_worker_and_many_workers_agree() {
    for name in [
        "generated_http_python_sleep_curl_dns",
        "http_browser_espn",
        "http_ipv6_1000req_keepalive_one_dropped",
        "mixed_tcpreplay_test",
    ] {
        let one = analyse(&capture(name), 1);
        let many = analyse(&capture(name), 4);
        assert_eq!(one.report, many.report, "{name}: reports differ");
        let sorted = |r: &Run| {
            let mut v: Vec<String> = r.txs.iter().map(|t| t.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&one), sorted(&many), "{name}: transactions differ");
    }
}

#[test]
fn a_response_lost_from_the_capture_is_reported_lost() {
    let run = analyse(&capture("http_ipv6_1000req_keepalive_one_dropped"), 1);
    let http = run.plugin("http");
    assert_eq!(http.len(), 1000);
    let lost: Vec<_> = http.iter().filter(|t| t["outcome"] == "lost").collect();
    assert_eq!(lost.len(), 1);
    assert!(lost[0]["first_response"].is_null());
    assert_eq!(http.iter().filter(|t| t["outcome"] == "2xx").count(), 999);
}

#[test]
fn smtp_commands_are_timed_to_their_final_replies() {
    // Expected values from tshark's view of the same frames:
    //   tshark -r smtp_session.pcap -Y 'smtp.req.command || smtp.response.code' \
    //          -T fields -e frame.number -e frame.time_epoch -e smtp.req.command -e smtp.response.code
    // A command's first response is its first reply line; 3xx replies are
    // interim: AUTH ends at 235 (after two 334 and the client's two lines),
    // DATA at the 250 after the message (after 354). The greeting (220) is no
    // transaction.
    let run = analyse(&capture("smtp_session"), 2);
    let mut got: Vec<(u64, String, u64, f64)> = run
        .plugin("smtp")
        .iter()
        .map(|t| {
            let start_us = t["start_ns"].as_u64().unwrap() / 1000;
            (
                start_us,
                t["signature"].as_str().unwrap().to_owned(),
                t["code"].as_u64().unwrap(),
                f(&t["first_response"]),
            )
        })
        .collect();
    got.sort_by_key(|g| g.0);
    let want: Vec<(u64, &str, u64, f64)> = vec![
        (1254722768224809, "SMTP_EHLO", 250, 341374.0),  // frames 7 → 9
        (1254722768568729, "SMTP_AUTH", 235, 1045069.0), // 10 → 15
        (1254722769614414, "SMTP_MAIL", 250, 342351.0),  // 16 → 17
        (1254722769957250, "SMTP_RCPT", 250, 362458.0),  // 18 → 19
        (1254722770320203, "SMTP_DATA", 250, 1928586.0), // 20 → 52
        (1254722774763825, "SMTP_QUIT", 221, 341642.0),  // 54 → 56
        (1437831787883306, "SMTP_EHLO", 250, 2975.0),    // 68 → 70
        (1437831787887031, "SMTP_MAIL", 250, 2754.0),    // 72 → 73
        (1437831787890232, "SMTP_RCPT", 250, 2754.0),    // 75 → 76
        (1437831787893587, "SMTP_RCPT", 250, 4037.0),    // 78 → 79
        (1437831787898413, "SMTP_RCPT", 250, 2656.0),    // 81 → 82
        (1437831787901697, "SMTP_DATA", 250, 12416.0),   // 84 → 88
    ];
    let want: Vec<(u64, String, u64, f64)> = want.into_iter().map(|(a, b, c, d)| (a, b.to_owned(), c, d)).collect();
    assert_eq!(got, want);
    // DATA's request runs from the command to the message's final dot (frame 45).
    let data = run.plugin("smtp").into_iter().find(|t| t["start_ns"] == 1254722770320203000u64).unwrap();
    assert_eq!(f(&data["request_time"]), 1538131.0);
    assert_eq!(f(&data["server_time"]), 390455.0);
}

#[test]
fn imap_commands_pair_with_their_tagged_completions() {
    // The client sends 26 tagged commands (26 lines to port 143, no
    // literals); each is one transaction ending at its tagged OK. Expected
    // times from the frames (tshark -r imap_session.pcap -Y 'tcp.port==143'):
    // a response starts with the first byte of the server's next line, even
    // when that line ends in a later segment (FETCH 12: frame 43, not 44).
    let run = analyse(&capture("imap_session"), 2);
    let imap = run.plugin("imap");
    assert_eq!(imap.len(), 26);
    assert!(imap.iter().all(|t| t["outcome"] == "ok"));
    let at = |start_us: u64| imap.iter().find(|t| t["start_ns"].as_u64().unwrap() / 1000 == start_us).copied().unwrap();
    for (start_us, name, first, last) in [
        (942357327546876, "IMAP_CAPABILITY", 659.0, 659.0),    // frames 6 → 7
        (942357327548831, "IMAP_LOGIN", 104090.0, 104090.0),   // 8 → 9
        (942357327745540, "IMAP_FETCH", 1013182.0, 1438190.0), // 14 → 22 … 34
        (942357337315791, "IMAP_FETCH", 11463.0, 27665.0),     // 42 → 43 … 49, a {3339} literal
    ] {
        let t = at(start_us);
        assert_eq!(t["signature"], name);
        assert_eq!((f(&t["first_response"]), f(&t["last_response"])), (first, last), "{name} at {start_us}");
    }
    let names: BTreeMap<&str, usize> = imap.iter().fold(BTreeMap::new(), |mut m, t| {
        *m.entry(t["signature"].as_str().unwrap()).or_default() += 1;
        m
    });
    assert_eq!(names["IMAP_NOOP"], 14);
    assert_eq!(names["IMAP_FETCH"], 3);
}

#[test]
fn postgres_queries_are_timed_to_ready_for_query() {
    // 84 simple queries and 2 startups; tshark counts 86 ReadyForQuery:
    //   tshark -r postgresql_app.pcap -Y pgsql -T fields -e pgsql.type
    // Times from the frames: the first startup (SSLRequest answered N,
    // StartupMessage frame 8, authentication, ReadyForQuery in frame 11)
    // and the first SELECT (frame 14 → 15).
    let run = analyse(&capture("postgresql_app"), 2);
    let pg = run.plugin("pg");
    assert_eq!(pg.len(), 86);
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &pg {
        *names.entry(t["signature"].as_str().unwrap()).or_default() += 1;
        assert_eq!(t["outcome"], "ok");
    }
    let want: BTreeMap<&str, usize> = [
        ("PG_BEGIN", 26),
        ("PG_COMMIT", 4),
        ("PG_INSERT", 2),
        ("PG_ROLLBACK", 22),
        ("PG_SELECT", 26),
        ("PG_SHOW", 4),
        ("PG_STARTUP", 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(names, want);
    let at = |ns: u64| pg.iter().find(|t| t["start_ns"] == ns).copied().unwrap();
    let startup = at(1773396018139620000);
    assert_eq!((f(&startup["first_response"]), f(&startup["last_response"])), (381.0, 3008.0));
    let select = at(1773396018142947000);
    assert_eq!((select["signature"].as_str(), f(&select["first_response"])), (Some("PG_SELECT"), 902.0));
}

#[test]
fn tls_handshake_and_application_data_turns_are_timed() {
    // tshark -r tls12_session.pcap -T fields -e frame.number -e frame.time_relative
    //   -e tcp.len -e tls.record.content_type -e tls.handshake.type
    // ClientHello (no SNI) frame 4 at 0.037056; the server's first flight
    // starts in frame 5 at 0.078141 (ServerHello, Certificate for
    // *.taleo.net); the client's key exchange, then the server's
    // ChangeCipherSpec + Finished in frame 11 at 0.117843: the handshake is
    // 41.085 ms to the first response byte, 80.787 ms to Finished.
    // Application data: client records in frames 13 (3.067287) and 15, the
    // server's in frames 16 (3.256275) to 18 (3.256620): 188.988 / 189.333 ms.
    // The client's close_notify alert (frame 20) is not a request.
    let run = analyse(&capture("tls12_session"), 1);
    let tls = run.plugin("tls");
    let got: Vec<(&str, f64, f64)> = tls
        .iter()
        .map(|t| (t["signature"].as_str().unwrap(), f(&t["first_response"]), f(&t["last_response"])))
        .collect();
    assert_eq!(got, vec![("TLS_HANDSHAKE_*.taleo.net", 41085.0, 80787.0), ("TLS_*.taleo.net", 188988.0, 189333.0)]);
    assert_eq!((tls[1]["request_bytes"].as_u64(), tls[1]["server_bytes"].as_u64()), (Some(58), Some(2066)));
}

#[test]
fn mysql_commands_are_timed_to_the_end_of_their_results() {
    // tshark -r mysql_session.pcap -Y mysql -T fields -e frame.number
    //   -e frame.time_relative -e mysql.command -e mysql.query -e mysql.response_code
    // The login: handshake response frame 6 (0.000559) → OK frame 8
    // (0.000695): 136 µs. 14 COM_QUERY, one COM_INIT_DB (frame 15), one
    // COM_FIELD_LIST (frame 21), and COM_QUIT (frame 54), which has no
    // answer. `select @@version_comment limit 1`: frame 9 (0.000893) → its
    // result set, frame 10 (0.001051): 158 µs; `create table`: frame 24
    // (23.151488) → OK frame 25 (23.154991): 3,503 µs.
    let run = analyse(&capture("mysql_session"), 2);
    let my = run.plugin("mysql");
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &my {
        *names.entry(t["signature"].as_str().unwrap()).or_default() += 1;
        assert_eq!(t["outcome"], "ok");
    }
    let want: BTreeMap<&str, usize> = [
        ("MYSQL_CREATE", 1),
        ("MYSQL_DELETE", 3),
        ("MYSQL_DROP", 1),
        ("MYSQL_FIELD_LIST", 1),
        ("MYSQL_INIT_DB", 1),
        ("MYSQL_INSERT", 2),
        ("MYSQL_LOGIN", 1),
        ("MYSQL_SELECT", 5),
        ("MYSQL_SHOW", 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(names, want);
    let first = |sig: &str| my.iter().find(|t| t["signature"] == sig).copied().unwrap();
    assert_eq!(f(&first("MYSQL_LOGIN")["first_response"]), 136.0);
    assert_eq!(f(&first("MYSQL_SELECT")["last_response"]), 158.0);
    assert_eq!(f(&first("MYSQL_CREATE")["last_response"]), 3503.0);
}
