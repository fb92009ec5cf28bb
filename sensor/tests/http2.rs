//! HTTP/2 and gRPC on hand-built conversations: frames and HPACK blocks
//! written here byte by byte (RFC 9113, RFC 7541), every expected time the
//! one the test put on the packet.

mod common;

use common::conversation::{answered, summary, Conv, Summary};
use pastmon::transaction::Outcome;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// An HPACK integer of `value` with an `n`-bit prefix under `pattern`.
fn int(pattern: u8, n: u32, value: usize) -> Vec<u8> {
    let max = (1usize << n) - 1;
    if value < max {
        return vec![pattern | value as u8];
    }
    let (mut out, mut rest) = (vec![pattern | max as u8], value - max);
    while rest >= 128 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
    out
}

fn string(s: &str) -> Vec<u8> {
    [int(0, 7, s.len()), s.as_bytes().to_vec()].concat()
}

/// A field by its static index (RFC 7541 Appendix A).
fn indexed(index: usize) -> Vec<u8> {
    int(0x80, 7, index)
}

/// A literal without indexing, its name by static index.
fn literal(name_index: usize, value: &str) -> Vec<u8> {
    [int(0, 4, name_index), string(value)].concat()
}

/// A literal with incremental indexing (it enters the dynamic table).
fn literal_indexed(name_index: usize, value: &str) -> Vec<u8> {
    [int(0x40, 6, name_index), string(value)].concat()
}

/// A literal without indexing with a new name.
fn literal_named(name: &str, value: &str) -> Vec<u8> {
    [vec![0], string(name), string(value)].concat()
}

const METHOD_GET: usize = 2;
const METHOD_POST: usize = 3;
const PATH: usize = 4;
const SCHEME_HTTP: usize = 6;
const STATUS_200: usize = 8;
const STATUS_404: usize = 13;
const AUTHORITY: usize = 1;
const CONTENT_TYPE: usize = 31;

fn get(path: &str) -> Vec<u8> {
    [indexed(METHOD_GET), indexed(SCHEME_HTTP), literal(PATH, path), literal(AUTHORITY, "lab")].concat()
}

fn grpc_call(method: &str) -> Vec<u8> {
    let path = format!("/helloworld.Greeter/{method}");
    [
        indexed(METHOD_POST),
        indexed(SCHEME_HTTP),
        literal(PATH, &path),
        literal(CONTENT_TYPE, "application/grpc"),
        literal_named("te", "trailers"),
    ]
    .concat()
}

fn grpc_status(code: u32) -> Vec<u8> {
    literal_named("grpc-status", &code.to_string())
}

fn settings() -> Vec<u8> {
    frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100])
}

/// A connection with prior knowledge: the client's preface and SETTINGS at
/// 15 ms, the server's SETTINGS at 16 ms.
fn prior_knowledge(port: u16) -> Conv {
    let mut c = Conv::open(port);
    c.client(15, &[PREFACE, &settings()].concat());
    c.server(16, &[settings(), frame(SETTINGS, 1, 0, b"")].concat());
    c
}

fn names(txs: &[Summary]) -> Vec<&str> {
    txs.iter().map(|t| t.0.as_str()).collect()
}

#[test]
fn streams_interleave_and_each_is_timed_on_its_own() {
    // Port 80: the HTTP/1.x plugin sees the preface and hands over.
    let mut c = prior_knowledge(80);
    c.client(20, &frame(HEADERS, END_STREAM | END_HEADERS, 1, &get("/slow")));
    c.client(21, &frame(HEADERS, END_STREAM | END_HEADERS, 3, &get("/fast")));
    // Stream 3 answers first; stream 1's response comes in two DATA frames.
    c.server(24, &[frame(HEADERS, END_STREAM | END_HEADERS, 3, &indexed(STATUS_404))].concat());
    c.server(30, &[frame(HEADERS, END_HEADERS, 1, &indexed(STATUS_200)), frame(DATA, 0, 1, b"hello")].concat());
    c.server(45, &frame(DATA, END_STREAM, 1, b" world"));
    c.client_ack(46);
    let txs = c.finish();
    assert!(txs.iter().all(|t| t.plugin == "http2"), "{txs:?}");
    assert_eq!(
        summary(&txs),
        vec![answered("GET", Outcome::Status(200), 10.0, 25.0), answered("GET", Outcome::Status(404), 3.0, 3.0)]
    );
}

#[test]
fn grpc_is_named_by_service_and_method_with_grpc_status_as_outcome() {
    let mut c = prior_knowledge(50051);
    let message = [0u8, 0, 0, 0, 2, 8, 1];
    // Unary: request HEADERS then DATA with END_STREAM; response HEADERS,
    // DATA, trailers.
    c.client(
        20,
        &[frame(HEADERS, END_HEADERS, 1, &grpc_call("SayHello")), frame(DATA, END_STREAM, 1, &message)].concat(),
    );
    c.server(
        25,
        &[
            frame(HEADERS, END_HEADERS, 1, &[indexed(STATUS_200), literal(CONTENT_TYPE, "application/grpc")].concat()),
            frame(DATA, 0, 1, &message),
            frame(HEADERS, END_STREAM | END_HEADERS, 1, &grpc_status(0)),
        ]
        .concat(),
    );
    // Server streaming: three messages over 20 ms, then the trailers.
    c.client(
        40,
        &[frame(HEADERS, END_HEADERS, 3, &grpc_call("Stream")), frame(DATA, END_STREAM, 3, &message)].concat(),
    );
    c.server(
        42,
        &frame(HEADERS, END_HEADERS, 3, &[indexed(STATUS_200), literal(CONTENT_TYPE, "application/grpc")].concat()),
    );
    c.server(45, &frame(DATA, 0, 3, &message));
    c.server(55, &frame(DATA, 0, 3, &message));
    c.server(60, &frame(HEADERS, END_STREAM | END_HEADERS, 3, &grpc_status(0)));
    // A failed call: trailers only, grpc-status 5 (NOT_FOUND).
    c.client(
        70,
        &[frame(HEADERS, END_HEADERS, 5, &grpc_call("SayHello")), frame(DATA, END_STREAM, 5, &message)].concat(),
    );
    c.server(
        71,
        &frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            5,
            &[indexed(STATUS_200), literal(CONTENT_TYPE, "application/grpc"), grpc_status(5)].concat(),
        ),
    );
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("/helloworld.Greeter/SayHello", Outcome::Ok, 5.0, 5.0),
            answered("/helloworld.Greeter/Stream", Outcome::Ok, 2.0, 20.0),
            answered("/helloworld.Greeter/SayHello", Outcome::Error, 1.0, 1.0),
        ]
    );
}

#[test]
fn resets_and_goaway_end_their_streams() {
    let mut c = prior_knowledge(80);
    c.client(20, &frame(HEADERS, END_STREAM | END_HEADERS, 1, &get("/a")));
    c.client(21, &frame(HEADERS, END_STREAM | END_HEADERS, 3, &get("/b")));
    c.client(22, &frame(HEADERS, END_STREAM | END_HEADERS, 5, &get("/c")));
    // Stream 1 is refused, then the server goes away after stream 1: 3 and
    // 5 are given up.
    c.server(25, &frame(RST_STREAM, 0, 1, &7u32.to_be_bytes()));
    c.server(26, &frame(GOAWAY, 0, 0, &[1u32.to_be_bytes(), 0u32.to_be_bytes()].concat()));
    let txs = c.finish();
    let got = summary(&txs);
    assert_eq!(names(&got), ["GET", "GET", "GET"]);
    assert!(got.iter().all(|t| t.1 == Outcome::Reset && t.2.is_none()), "{got:?}");
}

#[test]
fn the_dynamic_table_names_later_requests() {
    let mut c = prior_knowledge(50051);
    let ok = [indexed(STATUS_200), literal(CONTENT_TYPE, "application/grpc"), grpc_status(0)].concat();
    // :path and content-type enter the table (62 is the newest).
    let first = [
        indexed(METHOD_POST),
        indexed(SCHEME_HTTP),
        literal_indexed(PATH, "/pkg.Mail/Read"),
        literal_indexed(CONTENT_TYPE, "application/grpc"),
    ]
    .concat();
    c.client(20, &frame(HEADERS, END_STREAM | END_HEADERS, 1, &first));
    c.server(22, &frame(HEADERS, END_STREAM | END_HEADERS, 1, &ok));
    // The same call by reference (:path 63, content-type 62), split into a
    // padded HEADERS and a CONTINUATION.
    let again = [indexed(METHOD_POST), indexed(SCHEME_HTTP), indexed(63), indexed(62)].concat();
    let mut padded = vec![3];
    padded.extend(&again[..2]);
    padded.extend([0, 0, 0]);
    c.client(
        30,
        &[frame(HEADERS, END_STREAM | PADDED, 3, &padded), frame(CONTINUATION, END_HEADERS, 3, &again[2..])].concat(),
    );
    c.server(33, &frame(HEADERS, END_STREAM | END_HEADERS, 3, &ok));
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![answered("/pkg.Mail/Read", Outcome::Ok, 2.0, 2.0), answered("/pkg.Mail/Read", Outcome::Ok, 3.0, 3.0)]
    );
}

#[test]
fn midstream_names_nothing_it_cannot_decode() {
    // No handshake, no preface: the first segment is a HEADERS frame that
    // refers to a dynamic entry this side never saw.
    let mut c = Conv::with_config(50051, pastmon::flow::FlowConfig::default());
    let unseen = [indexed(METHOD_POST), indexed(SCHEME_HTTP), indexed(62), literal(CONTENT_TYPE, "application/grpc")];
    c.client(0, &frame(HEADERS, END_STREAM | END_HEADERS, 7, &unseen.concat()));
    c.server(4, &frame(HEADERS, END_STREAM | END_HEADERS, 7, &[indexed(STATUS_200), grpc_status(0)].concat()));
    // A request that adds its path to the table, and one that refers to it.
    let adds = [indexed(METHOD_POST), literal_indexed(PATH, "/pkg.Svc/Get"), literal(CONTENT_TYPE, "application/grpc")];
    c.client(10, &frame(HEADERS, END_STREAM | END_HEADERS, 9, &adds.concat()));
    c.server(12, &frame(HEADERS, END_STREAM | END_HEADERS, 9, &[indexed(STATUS_200), grpc_status(0)].concat()));
    let refers = [indexed(METHOD_POST), indexed(62), literal(CONTENT_TYPE, "application/grpc")];
    c.client(20, &frame(HEADERS, END_STREAM | END_HEADERS, 11, &refers.concat()));
    c.server(21, &frame(HEADERS, END_STREAM | END_HEADERS, 11, &[indexed(STATUS_200), grpc_status(0)].concat()));
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![
            answered("H2_UNKNOWN", Outcome::Ok, 4.0, 4.0),
            answered("/pkg.Svc/Get", Outcome::Ok, 2.0, 2.0),
            answered("/pkg.Svc/Get", Outcome::Ok, 1.0, 1.0),
        ]
    );
}

#[test]
fn upgrade_from_http1_goes_on_as_stream_1() {
    let mut c = Conv::open(80);
    c.client(20, b"GET /up HTTP/1.1\r\nHost: lab\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
    // The 101 and, in the same segment, the server's SETTINGS; stream 1's
    // response 10 ms later.
    c.server(
        22,
        &[&b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"[..], &settings()]
            .concat(),
    );
    c.client(23, &[PREFACE, &settings()].concat());
    c.server(30, &[frame(HEADERS, END_HEADERS, 1, &indexed(STATUS_200)), frame(DATA, END_STREAM, 1, b"up")].concat());
    c.client(40, &frame(HEADERS, END_STREAM | END_HEADERS, 3, &get("/next")));
    c.server(41, &frame(HEADERS, END_STREAM | END_HEADERS, 3, &indexed(STATUS_404)));
    let txs = c.finish();
    assert_eq!(
        summary(&txs),
        vec![answered("GET", Outcome::Status(200), 10.0, 10.0), answered("GET", Outcome::Status(404), 1.0, 1.0)]
    );
    assert_eq!(txs[0].plugin, "http2");
}
