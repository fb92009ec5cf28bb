//! Protocol and timing semantics on hand-built TCP conversations, where every
//! expected time is the one the test put on the packet.

mod common;

use common::conversation::{answered, ms, summary, Conv, MS};
use pastmon::decode::flags;
use pastmon::flow::FlowConfig;
use pastmon::transaction::{Metric, Outcome};

#[test]
fn keep_alive_timings_and_the_final_ack() {
    let mut c = Conv::open(80);
    c.client(20, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    c.server(70, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    c.server(90, b"56789");
    c.client_ack(95);
    c.client(200, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    c.server(230, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    c.client_ack(231);
    let txs = c.finish();
    assert_eq!(txs.len(), 2);
    let a = &txs[0];
    assert_eq!(&*a.signature, "GET");
    assert_eq!(a.outcome, Outcome::Status(200));
    assert_eq!(ms(a, Metric::FirstResponse), Some(50.0));
    assert_eq!(ms(a, Metric::LastResponse), Some(70.0));
    assert_eq!(ms(a, Metric::ServerTime), Some(50.0));
    assert_eq!(ms(a, Metric::RequestTime), Some(0.0));
    assert_eq!(ms(a, Metric::ServerRtt), Some(10.0));
    assert_eq!(ms(a, Metric::ClientRtt), Some(2.0));
    assert_eq!(ms(a, Metric::NetworkRtt), Some(12.0));
    assert_eq!(ms(a, Metric::LastAck), Some(75.0));
    assert_eq!(ms(a, Metric::EstDelivery), Some(74.0));
    assert_eq!(a.get(Metric::ServerPackets), Some(2));
    assert_eq!(a.get(Metric::AckedPackets), Some(2));
    assert_eq!(a.get(Metric::ServerBytes), a.get(Metric::AckedBytes));
    assert_eq!(a.get(Metric::ClientMss), Some(1460));
    // Window scale 2 applies after the handshake.
    assert_eq!(a.get(Metric::ClientWindow), Some(4000));
    assert_eq!(txs[1].outcome, Outcome::Status(404));
    assert_eq!(ms(&txs[1], Metric::FirstResponse), Some(30.0));
}

#[test]
fn bodiless_responses_keep_the_stream_in_step() {
    let mut c = Conv::open(80);
    c.client(20, b"HEAD / HTTP/1.1\r\n\r\n");
    c.server(30, b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
    c.client(40, b"GET /x HTTP/1.1\r\n\r\n");
    c.server(50, b"HTTP/1.1 204 No Content\r\n\r\n");
    c.client(60, b"GET /y HTTP/1.1\r\n\r\n");
    c.server(70, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
    c.client(80, b"GET /z HTTP/1.1\r\n\r\n");
    c.server(95, b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nok");
    let txs = c.finish();
    let got: Vec<(String, Outcome, Option<f64>)> =
        txs.iter().map(|t| (t.signature.to_string(), t.outcome, ms(t, Metric::FirstResponse))).collect();
    assert_eq!(
        got,
        vec![
            ("HEAD".into(), Outcome::Status(200), Some(10.0)),
            ("GET".into(), Outcome::Status(204), Some(10.0)),
            ("GET".into(), Outcome::Status(304), Some(10.0)),
            ("GET".into(), Outcome::Status(500), Some(15.0)),
        ]
    );
}

#[test]
fn pipelined_requests_pair_in_order() {
    let mut c = Conv::open(80);
    c.client(20, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
    c.server(30, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA");
    c.server(45, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    c.server(50, b"0\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    let txs = c.finish();
    let firsts: Vec<Option<f64>> = txs.iter().map(|t| ms(t, Metric::FirstResponse)).collect();
    let lasts: Vec<Option<f64>> = txs.iter().map(|t| ms(t, Metric::LastResponse)).collect();
    assert_eq!(firsts, vec![Some(10.0), Some(25.0), Some(30.0)]);
    assert_eq!(lasts, vec![Some(10.0), Some(30.0), Some(30.0)]);
    assert_eq!(txs[2].outcome, Outcome::Status(201));
    // One segment carried all three requests: each counts it, bytes split.
    assert!(txs.iter().all(|t| t.get(Metric::RequestPackets) == Some(1) && t.get(Metric::RequestBytes) == Some(19)));
}

#[test]
fn close_delimited_body_ends_at_the_last_data_before_fin() {
    let mut c = Conv::open(80);
    c.client(20, b"GET / HTTP/1.0\r\n\r\n");
    c.server(40, b"HTTP/1.0 200 OK\r\n\r\nsome");
    c.server(60, b" more");
    c.now = 80;
    c.send(1, flags::ACK | flags::FIN, b"");
    let txs = c.finish();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].outcome, Outcome::Status(200));
    assert_eq!(ms(&txs[0], Metric::LastResponse), Some(40.0));
}

#[test]
fn continue_then_upload_then_final_response() {
    let mut c = Conv::open(80);
    c.client(20, b"POST /up HTTP/1.1\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n");
    c.server(25, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.client(30, b"abc");
    c.client(40, b"def");
    c.server(100, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    let txs = c.finish();
    assert_eq!(txs.len(), 1);
    let t = &txs[0];
    assert_eq!(t.outcome, Outcome::Status(201));
    assert_eq!(ms(t, Metric::FirstResponse), Some(5.0));
    assert_eq!(ms(t, Metric::LastResponse), Some(80.0));
    assert_eq!(ms(t, Metric::RequestTime), Some(20.0));
    assert_eq!(t.get(Metric::RequestPackets), Some(3));
}

#[test]
fn upgrade_ends_http_parsing() {
    let mut c = Conv::open(80);
    c.client(20, b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    c.server(22, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
    c.client(30, b"GET / HTTP/1.1\r\n\r\n"); // websocket payload that looks like HTTP
    c.server(31, b"HTTP/1.1 200 OK\r\n\r\n");
    let txs = c.finish();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].outcome, Outcome::Status(101));
}

#[test]
fn an_ack_stamped_before_the_data_it_acknowledges_waits_for_it() {
    // The handshake ACK before the SYN/ACK.
    let mut c = Conv::with_config(80, FlowConfig::default());
    c.send(0, flags::SYN, b"");
    c.ack_of_unseen(12, 1);
    c.now = 14;
    c.send(1, flags::SYN | flags::ACK, b"");
    // A response, its ACK first.
    c.client(20, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    c.ack_of_unseen(31, response.len() as u32);
    // The next request, behind that ACK in its queue; the response
    // (sent before it arrived) does not acknowledge it.
    let before_b = c.seq[0];
    c.client(32, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    let after_b = std::mem::replace(&mut c.seq[0], before_b);
    c.server(35, response);
    c.seq[0] = after_b;
    c.server(40, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    c.client_ack(41);
    assert_eq!(c.table.stats.acks_ahead, 2);
    assert_eq!(c.table.stats.lost_bytes, 0);
    let txs = c.finish();
    let outcomes: Vec<_> = txs.iter().map(|t| t.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Status(200), Outcome::Status(404)]);
    let a = &txs[0];
    assert_eq!(ms(a, Metric::ServerRtt), Some(14.0));
    // Causality: the ACK came after what it acknowledges.
    assert_eq!(ms(a, Metric::ClientRtt), Some(0.0));
    assert_eq!(ms(a, Metric::FirstResponse), Some(15.0));
    assert_eq!(ms(a, Metric::LastAck), Some(15.0));
    assert_eq!(a.get(Metric::AckedBytes), a.get(Metric::ServerBytes));
    // The second request waited behind the ACK: timed from the response it followed.
    assert_eq!(ms(&txs[1], Metric::FirstResponse), Some(5.0));

    // A SYN/ACK the capture lost: the response, which acknowledges the held
    // request, lets it go, and later segments do not wait for the SYN/ACK.
    let mut c = Conv::with_config(80, FlowConfig::default());
    c.send(0, flags::SYN, b"");
    c.seq[1] = c.seq[1].wrapping_add(1);
    c.client_ack(12);
    c.client(20, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    c.server(30, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    c.client_ack(31);
    c.client(40, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    c.server(45, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(c.table.stats.acks_ahead, 1);
    let txs = c.finish();
    assert_eq!(txs.iter().map(|t| ms(t, Metric::FirstResponse)).collect::<Vec<_>>(), vec![Some(10.0), Some(5.0)]);
    assert_eq!(ms(&txs[0], Metric::ServerRtt), None);

    // Data the capture really lost: after the reorder window the ACK goes on
    // and the response is a gap, as without holding.
    let mut c = Conv::open(80);
    c.client(20, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    c.ack_of_unseen(40, 50);
    c.seq[1] = c.seq[1].wrapping_add(50);
    c.client(300, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    c.server(310, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    c.client_ack(311);
    assert_eq!(c.table.stats.lost_bytes, 50);
    let txs = c.finish();
    assert_eq!(txs.iter().map(|t| t.outcome).collect::<Vec<_>>(), vec![Outcome::Lost, Outcome::Status(404)]);
    assert_eq!(ms(&txs[1], Metric::FirstResponse), Some(10.0));
}

#[test]
fn no_response_reset_and_timeouts() {
    // A request left unanswered past the response timeout.
    let mut c = Conv::with_config(80, FlowConfig { response_timeout_ns: 60_000 * MS, ..FlowConfig::default() });
    c.handshake();
    c.client(20, b"GET /slow HTTP/1.1\r\n\r\n");
    c.client(70_000, b"GET /next HTTP/1.1\r\n\r\n");
    c.server(70_010, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let txs = c.finish();
    assert_eq!(txs.iter().map(|t| t.outcome).collect::<Vec<_>>(), vec![Outcome::NoResponse, Outcome::Status(200)]);
    assert_eq!(ms(&txs[1], Metric::FirstResponse), Some(10.0));

    // A reset in the middle of a response.
    let mut c = Conv::open(80);
    c.client(20, b"GET /big HTTP/1.1\r\n\r\n");
    c.server(30, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial");
    c.now = 40;
    c.send(0, flags::RST, b"");
    let txs = c.finish();
    assert_eq!(txs[0].outcome, Outcome::Reset);
    assert_eq!(txs[0].get(Metric::Resets), Some(1));
}

#[test]
fn generic_tcp_takes_turns_and_names_by_port() {
    let mut c = Conv::open(9999);
    c.client(20, b"\x00\x00\x00\x08query-1");
    c.server(25, b"result-1a");
    c.server(28, b"result-1b");
    c.client(40, b"\x00\x00\x00\x08query-2");
    c.server(49, b"result-2");
    let txs = c.finish();
    assert_eq!(txs.len(), 2);
    assert!(txs.iter().all(|t| &*t.signature == "TCP_9999" && t.plugin == "tcp" && t.outcome == Outcome::Ok));
    assert_eq!(ms(&txs[0], Metric::FirstResponse), Some(5.0));
    assert_eq!(ms(&txs[0], Metric::LastResponse), Some(8.0));
    assert_eq!(ms(&txs[1], Metric::LastResponse), Some(9.0));
    // The client's next turn acknowledged the first response.
    assert_eq!(ms(&txs[0], Metric::LastAck), Some(20.0));
}

#[test]
fn the_flow_cap_evicts_the_least_recently_seen() {
    let cfg = FlowConfig { max_flows: 2, ..FlowConfig::default() };
    let mut c = Conv::with_config(80, cfg);
    for port in [40001, 40002, 40003] {
        c.client_port = port;
        c.handshake();
        c.client(c.now + 1, b"GET / HTTP/1.1\r\n\r\n");
    }
    assert_eq!(c.table.stats.evicted, 1);
    assert_eq!(c.table.len(), 2);
    // The evicted flow's open request was finished, not lost.
    assert_eq!(c.out.len(), 1);
    assert_eq!(c.out[0].client.1, 40001);
    assert_eq!(c.out[0].outcome, Outcome::NoResponse);
}

#[test]
fn pop3_single_and_multi_line_replies() {
    let mut c = Conv::open(110);
    c.server(15, b"+OK POP3 ready\r\n");
    c.client(20, b"USER alice\r\n");
    c.server(22, b"+OK\r\n");
    c.client(30, b"PASS secret\r\n");
    c.server(80, b"-ERR bad password\r\n");
    c.client(90, b"LIST\r\n");
    c.server(95, b"+OK 2 messages\r\n1 120\r\n");
    c.server(99, b"2 200\r\n.\r\n");
    c.client(100, b"RETR 1\r\n");
    c.server(104, b"+OK 120 octets\r\nSubject: hi\r\n\r\n..dot-stuffed\r\n");
    c.server(120, b".\r\n");
    c.client(130, b"LIST 2\r\n");
    c.server(131, b"+OK 2 200\r\n");
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("POP3_USER", Outcome::Ok, 2.0, 2.0),
            answered("POP3_PASS", Outcome::Error, 50.0, 50.0),
            answered("POP3_LIST", Outcome::Ok, 5.0, 9.0),
            answered("POP3_RETR", Outcome::Ok, 4.0, 20.0),
            answered("POP3_LIST", Outcome::Ok, 1.0, 1.0),
        ]
    );
}

#[test]
fn pop3_sasl_auth_is_one_transaction_and_its_data_names_nothing() {
    let mut c = Conv::open(110);
    c.server(15, b"+OK POP3 ready\r\n");
    c.client(20, b"AUTH PLAIN\r\n");
    c.server(22, b"+ \r\n");
    c.client(25, b"AGFsaWNlAHNlY3JldA==\r\n");
    c.server(60, b"+OK Logged in.\r\n");
    c.client(70, b"STAT\r\n");
    c.server(71, b"+OK 0 0\r\n");
    let txs = c.finish();
    // AUTH: its first response is the server's challenge, its last the +OK.
    assert_eq!(
        summary(&txs),
        vec![answered("POP3_AUTH", Outcome::Ok, 2.0, 40.0), answered("POP3_STAT", Outcome::Ok, 1.0, 1.0)]
    );
}

#[test]
fn imap_literal_in_a_response_and_the_greeting_leave_nothing_unmatched() {
    let mut c = Conv::open(143);
    c.server(15, b"* OK [CAPABILITY IMAP4rev1] ready.\r\n");
    c.client(20, b"A1 FETCH 1 (BODY[])\r\n");
    // The literal interrupts the untagged line; ")" ends it.
    c.server(23, b"* 1 FETCH (BODY[] {9}\r\nHello\r\n\r\n)\r\n");
    c.server(25, b"A1 OK Fetch completed.\r\n");
    c.client(30, b"A2 LOGOUT\r\n");
    c.server(31, b"* BYE Logging out\r\nA2 OK Logout completed.\r\n");
    assert_eq!(c.table.stats.unmatched_responses, 0);
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![answered("IMAP_FETCH", Outcome::Ok, 3.0, 5.0), answered("IMAP_LOGOUT", Outcome::Ok, 1.0, 1.0)]
    );
}

#[test]
fn ftp_commands_end_at_their_final_reply() {
    let mut c = Conv::open(21);
    c.server(15, b"220-Welcome\r\n220 ready\r\n");
    c.client(20, b"USER anonymous\r\n");
    c.server(25, b"331 Password please\r\n");
    c.client(30, b"PASS x\r\n");
    c.server(40, b"230-Hello\r\n  more text\r\n");
    c.server(42, b"230 Logged in\r\n");
    c.client(50, b"RETR big.iso\r\n");
    c.server(52, b"150 Opening data connection\r\n");
    c.server(950, b"226 Transfer complete\r\n");
    c.client(960, b"CWD /nope\r\n");
    c.server(961, b"550 No such directory\r\n");
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("FTP_USER", Outcome::Status(331), 5.0, 5.0),
            answered("FTP_PASS", Outcome::Status(230), 10.0, 12.0),
            answered("FTP_RETR", Outcome::Status(226), 2.0, 900.0),
            answered("FTP_CWD", Outcome::Status(550), 1.0, 1.0),
        ]
    );
}

#[test]
fn smtp_hands_starttls_over_to_tls_and_skips_the_greeting() {
    let mut c = Conv::open(25);
    c.server(15, b"220 mx ESMTP\r\n");
    c.client(20, b"EHLO me\r\n");
    c.server(21, b"250-mx\r\n250-PIPELINING\r\n");
    c.server(23, b"250 STARTTLS\r\n");
    c.client(30, b"STARTTLS\r\n");
    c.server(31, b"220 go ahead\r\n");
    // Encrypted from here: no SMTP is read into it; the TLS plugin times the
    // handshake (its ClientHello is cut short here, so no name is known).
    c.client(40, b"\x16\x03\x01\x02\x00MAIL FROM:<x>\r\n");
    c.server(45, b"\x16\x03\x03\x00\x5a250 ok\r\n");
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("SMTP_EHLO", Outcome::Status(250), 1.0, 3.0),
            answered("SMTP_STARTTLS", Outcome::Status(220), 1.0, 1.0),
            answered("TLS_HANDSHAKE_unknown", Outcome::Ok, 5.0, 5.0),
        ]
    );
}

#[test]
fn redis_pipelined_commands_and_nested_replies() {
    let mut c = Conv::open(6379);
    // Three pipelined commands in one segment, one split across two.
    c.client(20, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nset\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nEXEC\r\n*2\r\n$6\r\nLRANGE");
    c.client(21, b"\r\n$1\r\nl\r\n");
    c.server(25, b"$5\r\nvalue\r\n+OK\r\n");
    c.server(27, b"*2\r\n*1\r\n:1\r\n$3\r\nab");
    c.server(30, b"c\r\n");
    c.server(31, b"-ERR wrong type\r\n");
    c.client(40, b"PING\r\n");
    c.server(41, b"+PONG\r\n");
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("REDIS_GET", Outcome::Ok, 5.0, 5.0),
            answered("REDIS_SET", Outcome::Ok, 5.0, 5.0),
            answered("REDIS_EXEC", Outcome::Ok, 7.0, 10.0),
            answered("REDIS_LRANGE", Outcome::Error, 11.0, 11.0),
            answered("REDIS_PING", Outcome::Ok, 1.0, 1.0),
        ]
    );
}

#[test]
fn irc_pairs_commands_with_their_replies_and_invents_nothing() {
    let mut c = Conv::open(6667);
    c.server(5, b":irc.lab NOTICE * :*** Looking up your hostname\r\n");
    c.client(10, b"NICK me\r\nUSER me 0 * :Me\r\n");
    c.server(12, b":irc.lab 001 me :Welcome\r\n:irc.lab 375 me :- MOTD\r\n");
    c.server(30, b":irc.lab 372 me :- hi\r\n:irc.lab 376 me :End of MOTD\r\n");
    c.client(40, b"JOIN #a,#b\r\n");
    c.server(43, b":me!u@h JOIN #a\r\n:irc.lab 353 me = #a :me\r\n:irc.lab 366 me #a :End\r\n");
    c.server(45, b":other!u@h PRIVMSG #a :hello\r\n");
    c.server(47, b":me!u@h JOIN #b\r\n:irc.lab 366 me #b :End\r\n");
    c.client(50, b"PRIVMSG #a :hi all\r\n"); // no reply: no transaction
    c.client(60, b"WHOIS ghost\r\n");
    c.server(61, b":irc.lab 401 me ghost :No such nick\r\n");
    c.server(62, b":irc.lab 318 me ghost :End of WHOIS\r\n");
    c.server(65, b"PING :irc.lab\r\n"); // the server's ping ...
    c.client(66, b"PONG :irc.lab\r\n"); // ... and our answer: not ours to time
    c.client(70, b"PING :t1\r\n");
    c.server(73, b":irc.lab PONG irc.lab :t1\r\n");
    c.client(80, b"PART #b\r\n");
    c.server(81, b":other!u@h PART #a\r\n"); // someone else's
    c.server(84, b":me!u@h PART #b\r\n");
    c.client(90, b"JOIN #secret\r\n");
    c.server(92, b":irc.lab 475 me #secret :Cannot join channel (+k)\r\n");
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("IRC_REGISTER", Outcome::Ok, 2.0, 20.0),
            answered("IRC_JOIN", Outcome::Ok, 3.0, 7.0),
            answered("IRC_WHOIS", Outcome::Error, 1.0, 2.0),
            answered("IRC_PING", Outcome::Ok, 3.0, 3.0),
            answered("IRC_PART", Outcome::Ok, 4.0, 4.0),
            answered("IRC_JOIN", Outcome::Error, 2.0, 2.0),
        ]
    );
}

/// A TLS record holding a minimal ClientHello with `sni`.
fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = vec![0, 0]; // server_name
    let list_len = 3 + name.len();
    sni_ext.extend((list_len as u16 + 2).to_be_bytes());
    sni_ext.extend((list_len as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend((name.len() as u16).to_be_bytes());
    sni_ext.extend(name);
    let mut body = vec![3, 3];
    body.extend([0u8; 32]); // random
    body.push(0); // session id
    body.extend([0, 2, 0x13, 0x01]); // one cipher suite
    body.extend([1, 0]); // no compression
    body.extend((sni_ext.len() as u16).to_be_bytes());
    body.extend(sni_ext);
    let mut hs = vec![1, 0];
    hs.extend((body.len() as u16).to_be_bytes());
    hs.extend(body);
    let mut record = vec![22, 3, 1];
    record.extend((hs.len() as u16).to_be_bytes());
    record.extend(hs);
    record
}

#[test]
fn postgres_ssl_request_accepted_hands_over_to_tls() {
    let mut c = Conv::open(5432);
    c.client(10, &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]); // SSLRequest
    c.server(11, b"S");
    c.client(20, &client_hello("db.lab"));
    // ServerHello (a stub) and ChangeCipherSpec: the server is keyed.
    c.server(25, &[22, 3, 3, 0, 4, 2, 0, 0, 0, 20, 3, 3, 0, 1, 1]);
    c.client(30, &[23, 3, 3, 0, 5, 1, 2, 3, 4, 5]); // a query, encrypted
    c.server(42, &[23, 3, 3, 0, 3, 9, 9, 9]);
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![answered("TLS_HANDSHAKE_db.lab", Outcome::Ok, 5.0, 5.0), answered("TLS_db.lab", Outcome::Ok, 12.0, 12.0)]
    );
}

#[test]
fn postgres_refused_login_is_an_error_not_unfinished() {
    let mut c = Conv::open(5432);
    // StartupMessage (protocol 3.0, user x), then the server's refusal.
    c.client(10, &[0, 0, 0, 17, 0, 3, 0, 0, b'u', b's', b'e', b'r', 0, b'x', 0, 0, 0]);
    let mut refusal = vec![b'E', 0, 0, 0, 12];
    refusal.extend(b"SFATAL\0\0\0\0");
    c.server(14, &refusal[..13]);
    let txs = c.finish(); // the server closes
    assert_eq!(summary(&txs), vec![answered("PG_STARTUP", Outcome::Error, 4.0, 4.0)]);
}

#[test]
fn memcached_text_pipelining_noreply_and_misses() {
    let mut c = Conv::open(11211);
    // set (its value split across segments), a noreply set (not a
    // transaction), a get of two keys (one hit), a miss, an incr of a
    // missing key, a bad command.
    c.client(20, b"set a 0 0 5\r\nhel");
    c.client(21, b"lo\r\nset b 0 0 1 noreply\r\nx\r\nget a zz\r\nget nope\r\nincr n 1\r\nbogus\r\n");
    c.server(25, b"STORED\r\nVALUE a 0 5\r\nhello\r\nEND\r\n");
    c.server(27, b"END\r\nNOT_FOUND\r\n");
    c.server(30, b"ERROR\r\n");
    // Meta commands: a quiet get that misses (no answer) and one that hits,
    // then mn ends the batch; a stats listing.
    c.client(40, b"mg q1 v q\r\nmg q2 v q\r\nmn\r\nstats\r\n");
    c.server(42, b"VA 2\r\nhi\r\nMN\r\nSTAT pid 1\r\nSTAT uptime 2\r\n");
    c.server(45, b"END\r\n");
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("MEMCACHED_SET", Outcome::Ok, 5.0, 5.0),
            answered("MEMCACHED_GET", Outcome::Ok, 4.0, 4.0),
            answered("MEMCACHED_GET", Outcome::No, 6.0, 6.0),
            answered("MEMCACHED_INCR", Outcome::No, 6.0, 6.0),
            answered("MEMCACHED_BOGUS", Outcome::Bad, 9.0, 9.0),
            answered("MEMCACHED_MN", Outcome::Ok, 2.0, 2.0),
            answered("MEMCACHED_STATS", Outcome::Ok, 2.0, 5.0),
        ]
    );
}

/// A binary memcached message: magic, opcode, key, extras and value.
fn memcached_binary(
    magic: u8,
    opcode: u8,
    status: u16,
    opaque: u32,
    key: &[u8],
    extras: &[u8],
    value: &[u8],
) -> Vec<u8> {
    let mut m = vec![magic, opcode];
    m.extend((key.len() as u16).to_be_bytes());
    m.extend([extras.len() as u8, 0]);
    m.extend(status.to_be_bytes());
    m.extend(((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    m.extend(opaque.to_be_bytes());
    m.extend([0; 8]);
    m.extend(extras);
    m.extend(key);
    m.extend(value);
    m
}

#[test]
fn memcached_binary_pairs_by_opaque_and_settles_quiet_requests() {
    let mut c = Conv::open(11211);
    let (rq, rs) = (
        |op, opaque, key: &[u8], extras: &[u8], value: &[u8]| memcached_binary(0x80, op, 0, opaque, key, extras, value),
        |op, status, opaque, key: &[u8], value: &[u8]| memcached_binary(0x81, op, status, opaque, key, &[], value),
    );
    // SET, then GETQ of a missing key (quiet: no answer), GETKQ of a present
    // one (answered), NOOP (ends the batch), GET of a missing key.
    let set = rq(0x01, 1, b"k", &[0; 8], b"v");
    c.client(
        20,
        &[set, rq(0x09, 2, b"gone", &[], b""), rq(0x0d, 3, b"k", &[], b""), rq(0x0a, 4, b"", &[], b"")].concat(),
    );
    c.server(23, &[rs(0x01, 0, 1, b"", b""), rs(0x0d, 0, 3, b"k", b"v"), rs(0x0a, 0, 4, b"", b"")].concat());
    c.client(30, &rq(0x00, 5, b"nope", &[], b""));
    c.server(32, &rs(0x00, 1, 5, b"", b"Not found"));
    // STAT: one message per statistic, then one without a key.
    c.client(40, &rq(0x10, 6, b"", &[], b""));
    c.server(41, &[rs(0x10, 0, 6, b"pid", b"1"), rs(0x10, 0, 6, b"uptime", b"2")].concat());
    c.server(44, &rs(0x10, 0, 6, b"", b""));
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("MEMCACHED_SET", Outcome::Ok, 3.0, 3.0),
            answered("MEMCACHED_NOOP", Outcome::Ok, 3.0, 3.0),
            answered("MEMCACHED_GET", Outcome::No, 2.0, 2.0),
            answered("MEMCACHED_STATS", Outcome::Ok, 1.0, 4.0),
        ]
    );
}

/// An MQTT control packet: type and flags, then the rest (its length
/// written as MQTT's variable byte integer).
fn mqtt(kind: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![kind << 4 | flags];
    let mut len = rest.len();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        p.push(if len > 0 { byte | 0x80 } else { byte });
        if len == 0 {
            break;
        }
    }
    p.extend(rest);
    p
}

fn mqtt_string(s: &str) -> Vec<u8> {
    [(s.len() as u16).to_be_bytes().to_vec(), s.as_bytes().to_vec()].concat()
}

#[test]
fn mqtt_pairs_acknowledgements_by_packet_id_and_skips_qos_0() {
    let mut c = Conv::open(1883);
    let connect = [mqtt_string("MQTT"), vec![4, 2, 0, 60], mqtt_string("lab")].concat();
    c.client(20, &mqtt(1, 0, &connect));
    c.server(22, &mqtt(2, 0, &[0, 0]));
    // QoS 0 (no transaction), QoS 1 id 1, QoS 2 id 2 with a 300-byte payload.
    let publish = |topic: &str, id: Option<u16>, body: &[u8]| {
        [mqtt_string(topic), id.map(|i| i.to_be_bytes().to_vec()).unwrap_or_default(), body.to_vec()].concat()
    };
    c.client(
        30,
        &[mqtt(3, 0, &publish("sensors/t", None, b"20")), mqtt(3, 2, &publish("sensors/t", Some(1), b"21"))].concat(),
    );
    c.client(31, &mqtt(3, 4, &publish("alerts/fire", Some(2), &[7; 300])));
    c.server(33, &mqtt(4, 0, &1u16.to_be_bytes()));
    c.server(35, &mqtt(5, 0, &2u16.to_be_bytes()));
    c.client(36, &mqtt(6, 2, &2u16.to_be_bytes())); // PUBREL
    c.server(40, &mqtt(7, 0, &2u16.to_be_bytes()));
    // SUBSCRIBE id 3 to two filters, one refused (0x80); the broker's own
    // PUBLISH to the client (QoS 1) and the client's PUBACK are no
    // transaction; PINGREQ.
    let subscribe =
        [3u16.to_be_bytes().to_vec(), mqtt_string("cmd/#"), vec![1], mqtt_string("secret/#"), vec![1]].concat();
    c.client(50, &mqtt(8, 2, &subscribe));
    c.server(51, &mqtt(9, 0, &[0, 3, 1, 0x80]));
    c.server(55, &mqtt(3, 2, &publish("cmd/go", Some(9), b"now")));
    c.client(56, &mqtt(4, 0, &9u16.to_be_bytes()));
    c.client(60, &mqtt(12, 0, b""));
    c.server(61, &mqtt(13, 0, b""));
    c.client(65, &mqtt(10, 2, &[4u16.to_be_bytes().to_vec(), mqtt_string("cmd/#")].concat()));
    c.server(67, &mqtt(11, 0, &4u16.to_be_bytes()));
    c.client(70, &mqtt(14, 0, b""));
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("MQTT_CONNECT", Outcome::Ok, 2.0, 2.0),
            answered("MQTT_PUBLISH_sensors", Outcome::Ok, 3.0, 3.0),
            answered("MQTT_PUBLISH_alerts", Outcome::Ok, 4.0, 9.0),
            answered("MQTT_SUBSCRIBE_cmd", Outcome::Error, 1.0, 1.0),
            answered("MQTT_PINGREQ", Outcome::Ok, 1.0, 1.0),
            answered("MQTT_UNSUBSCRIBE_cmd", Outcome::Ok, 2.0, 2.0),
        ]
    );
}

#[test]
fn mqtt_5_properties_and_reason_codes() {
    let mut c = Conv::open(1883);
    // Level 5, no CONNECT properties (a zero length), client id.
    let connect = [mqtt_string("MQTT"), vec![5, 2, 0, 60, 0], mqtt_string("lab")].concat();
    c.client(20, &mqtt(1, 0, &connect));
    c.server(21, &mqtt(2, 0, &[0, 0, 0]));
    // PUBLISH QoS 1 with a property (payload format indicator); PUBACK
    // with reason 0x87 (not authorized).
    let publish = [mqtt_string("ops/x"), 5u16.to_be_bytes().to_vec(), vec![2, 0x01, 1], b"hi".to_vec()].concat();
    c.client(30, &mqtt(3, 2, &publish));
    c.server(32, &mqtt(4, 0, &[0, 5, 0x87, 0]));
    // SUBSCRIBE with a subscription identifier property; SUBACK granted QoS 1.
    let subscribe = [6u16.to_be_bytes().to_vec(), vec![2, 0x0b, 7], mqtt_string("ops/#"), vec![1]].concat();
    c.client(40, &mqtt(8, 2, &subscribe));
    c.server(43, &mqtt(9, 0, &[0, 6, 0, 1]));
    // UNSUBSCRIBE; UNSUBACK with reason 0x11 (no such subscription: not a
    // failure) and then one refused (0x87).
    c.client(50, &mqtt(10, 2, &[7u16.to_be_bytes().to_vec(), vec![0], mqtt_string("ops/#")].concat()));
    c.server(51, &mqtt(11, 0, &[0, 7, 0, 0x11]));
    c.client(60, &mqtt(10, 2, &[8u16.to_be_bytes().to_vec(), vec![0], mqtt_string("root/#")].concat()));
    c.server(64, &mqtt(11, 0, &[0, 8, 0, 0x87]));
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("MQTT_CONNECT", Outcome::Ok, 1.0, 1.0),
            answered("MQTT_PUBLISH_ops", Outcome::Error, 2.0, 2.0),
            answered("MQTT_SUBSCRIBE_ops", Outcome::Ok, 3.0, 3.0),
            answered("MQTT_UNSUBSCRIBE_ops", Outcome::Ok, 1.0, 1.0),
            answered("MQTT_UNSUBSCRIBE_root", Outcome::Error, 4.0, 4.0),
        ]
    );
}

/// An AMQP 0-9-1 frame; a method frame's payload is class, method, arguments.
fn amqp_frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend(channel.to_be_bytes());
    f.extend((payload.len() as u32).to_be_bytes());
    f.extend(payload);
    f.push(0xce);
    f
}

fn amqp_method(channel: u16, class: u16, method: u16, args: &[u8]) -> Vec<u8> {
    amqp_frame(1, channel, &[class.to_be_bytes().to_vec(), method.to_be_bytes().to_vec(), args.to_vec()].concat())
}

fn shortstr(s: &str) -> Vec<u8> {
    [vec![s.len() as u8], s.as_bytes().to_vec()].concat()
}

#[test]
fn amqp_confirms_by_tag_no_wait_and_a_broker_closing_the_channel() {
    let mut c = Conv::open(5672);
    c.client(20, b"AMQP\x00\x00\x09\x01");
    // queue.declare jobs (answered), queue.declare quiet with no-wait (not a
    // transaction), confirm.select.
    let declare = |name: &str, bits: u8| [vec![0, 0], shortstr(name), vec![bits], vec![0, 0, 0, 0]].concat();
    c.client(
        30,
        &[amqp_method(1, 50, 10, &declare("jobs", 0)), amqp_method(1, 50, 10, &declare("quiet", 0x10))].concat(),
    );
    c.server(32, &amqp_method(1, 50, 11, &[shortstr("jobs"), vec![0; 8]].concat()));
    c.client(40, &amqp_method(1, 85, 10, &[0]));
    c.server(41, &amqp_method(1, 85, 11, b""));
    // Three publishes with their content; the broker acks 1 and 2 at once
    // (multiple), nacks 3.
    let publish = [vec![0, 0], shortstr(""), shortstr("jobs"), vec![0]].concat();
    let header = [60u16.to_be_bytes().to_vec(), vec![0, 0], 5u64.to_be_bytes().to_vec(), vec![0, 0]].concat();
    let message = [amqp_method(1, 60, 40, &publish), amqp_frame(2, 1, &header), amqp_frame(3, 1, b"hello")].concat();
    c.client(50, &[message.clone(), message.clone(), message].concat());
    c.server(55, &amqp_method(1, 60, 80, &[2u64.to_be_bytes().to_vec(), vec![1]].concat()));
    c.server(57, &amqp_method(1, 60, 120, &[3u64.to_be_bytes().to_vec(), vec![0]].concat()));
    // basic.get answered with a message (get-ok, header, body in two
    // segments), then a passive declare the broker refuses by closing.
    c.client(60, &amqp_method(1, 60, 70, &[vec![0, 0], shortstr("jobs"), vec![1]].concat()));
    let get_ok =
        [1u64.to_be_bytes().to_vec(), vec![0], shortstr(""), shortstr("jobs"), 0u32.to_be_bytes().to_vec()].concat();
    c.server(62, &[amqp_method(1, 60, 71, &get_ok), amqp_frame(2, 1, &header)].concat());
    c.server(66, &amqp_frame(3, 1, b"hello"));
    c.client(70, &amqp_method(1, 50, 10, &declare("missing", 0x01)));
    let close = [404u16.to_be_bytes().to_vec(), shortstr("NOT_FOUND"), vec![0, 50, 0, 10]].concat();
    c.server(71, &amqp_method(1, 20, 40, &close));
    c.client(72, &amqp_method(1, 20, 41, b""));
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("AMQP_QUEUE_DECLARE_jobs", Outcome::Ok, 2.0, 2.0),
            answered("AMQP_CONFIRM_SELECT", Outcome::Ok, 1.0, 1.0),
            answered("AMQP_BASIC_PUBLISH_jobs", Outcome::Ok, 5.0, 5.0),
            answered("AMQP_BASIC_PUBLISH_jobs", Outcome::Ok, 5.0, 5.0),
            answered("AMQP_BASIC_PUBLISH_jobs", Outcome::Error, 7.0, 7.0),
            answered("AMQP_BASIC_GET_jobs", Outcome::Ok, 2.0, 6.0),
            answered("AMQP_QUEUE_DECLARE_missing", Outcome::Error, 1.0, 1.0),
        ]
    );
}

/// A Kafka message: its length, then `body`.
fn kafka_message(body: &[u8]) -> Vec<u8> {
    [(body.len() as u32).to_be_bytes().to_vec(), body.to_vec()].concat()
}

/// A Produce v2 request: header (client id "c"), acks, timeout, one topic
/// with one partition.
fn kafka_produce(correlation: i32, acks: i16, topic: &str) -> Vec<u8> {
    let name = [(topic.len() as i16).to_be_bytes().to_vec(), topic.as_bytes().to_vec()].concat();
    let header = [0i16.to_be_bytes(), 2i16.to_be_bytes()].concat();
    let body = [header, correlation.to_be_bytes().to_vec(), vec![0, 1, b'c'], acks.to_be_bytes().to_vec()].concat();
    kafka_message(&[body, 1000i32.to_be_bytes().to_vec(), 1i32.to_be_bytes().to_vec(), name, vec![0; 8]].concat())
}

fn kafka_produce_response(correlation: i32, topic: &str, error: i16) -> Vec<u8> {
    let name = [(topic.len() as i16).to_be_bytes().to_vec(), topic.as_bytes().to_vec()].concat();
    let partition = [1i32.to_be_bytes().to_vec(), 0i32.to_be_bytes().to_vec(), error.to_be_bytes().to_vec()].concat();
    kafka_message(
        &[correlation.to_be_bytes().to_vec(), 1i32.to_be_bytes().to_vec(), name, partition, vec![0; 16]].concat(),
    )
}

#[test]
fn kafka_pairs_by_correlation_id_out_of_order_and_skips_acks_0() {
    let mut c = Conv::open(9092);
    // Three produces in flight (one with acks=0: never answered), answered
    // out of order, one with NOT_LEADER_OR_FOLLOWER (6).
    c.client(
        20,
        &[kafka_produce(7, 1, "orders"), kafka_produce(8, 0, "metrics"), kafka_produce(9, -1, "audit")].concat(),
    );
    c.server(24, &kafka_produce_response(9, "audit", 6));
    c.server(27, &kafka_produce_response(7, "orders", 0));
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("KAFKA_Produce_orders", Outcome::Ok, 7.0, 7.0),
            answered("KAFKA_Produce_audit", Outcome::Error, 4.0, 4.0)
        ]
    );
}

/// A BSON document of `elements` (type, name, value bytes).
fn bson(elements: &[(u8, &str, Vec<u8>)]) -> Vec<u8> {
    let mut body: Vec<u8> = Vec::new();
    for (kind, name, value) in elements {
        body.push(*kind);
        body.extend(name.as_bytes());
        body.push(0);
        body.extend(value);
    }
    body.push(0);
    [((body.len() + 4) as i32).to_le_bytes().to_vec(), body].concat()
}

fn bson_string(s: &str) -> Vec<u8> {
    [((s.len() + 1) as i32).to_le_bytes().to_vec(), s.as_bytes().to_vec(), vec![0]].concat()
}

/// A MongoDB message: header (length, requestID, responseTo, opCode), body.
fn mongo_message(id: i32, to: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let len = (16 + body.len()) as i32;
    [len.to_le_bytes(), id.to_le_bytes(), to.to_le_bytes(), op.to_le_bytes()]
        .concat()
        .into_iter()
        .chain(body.iter().copied())
        .collect()
}

/// An OP_MSG with `flags` and one body section.
fn op_msg(id: i32, to: i32, flags: u32, doc: &[u8]) -> Vec<u8> {
    mongo_message(id, to, 2013, &[flags.to_le_bytes().to_vec(), vec![0], doc.to_vec()].concat())
}

#[test]
fn mongodb_pairs_by_request_id_skips_more_to_come_and_reads_ok_after_a_large_body() {
    let mut c = Conv::open(27017);
    let find = bson(&[(0x02, "find", bson_string("users")), (0x02, "$db", bson_string("app"))]);
    let insert = bson(&[(0x02, "insert", bson_string("logs")), (0x02, "$db", bson_string("app"))]);
    // Two finds in flight, an insert with moreToCome (no reply wanted).
    c.client(20, &[op_msg(1, 0, 0, &find), op_msg(2, 0, 2, &insert), op_msg(3, 0, 0, &find)].concat());
    // Replies out of order: 3 ok; 1 fails with its ok: 0 after a 2 KB
    // string, past the kept head.
    let ok = bson(&[(0x01, "ok", 1.0f64.to_le_bytes().to_vec())]);
    let failed = bson(&[(0x02, "errmsg", bson_string(&"x".repeat(2000))), (0x01, "ok", 0.0f64.to_le_bytes().to_vec())]);
    c.server(23, &op_msg(10, 3, 0, &ok));
    c.server(26, &op_msg(11, 1, 0, &failed));
    // A legacy query of a collection failing (OP_REPLY with QueryFailure).
    let query = [vec![0; 4], b"app.users\0".to_vec(), vec![0; 8], bson(&[])].concat();
    c.client(30, &mongo_message(4, 0, 2004, &query));
    c.server(31, &mongo_message(12, 4, 1, &[2u32.to_le_bytes().to_vec(), vec![0; 16], bson(&[])].concat()));
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("MONGO_find_users", Outcome::Error, 6.0, 6.0),
            answered("MONGO_find_users", Outcome::Ok, 3.0, 3.0),
            answered("MONGO_find_users", Outcome::Error, 1.0, 1.0),
        ]
    );
}
