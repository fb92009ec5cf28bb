//! Turns arbitrary bytes into one conversation's packets and runs them
//! through a flow table: the fuzz targets (`flows`, and one per parser) and
//! a smoke test share it.
//!
//! Input of [`run_conversation`]: byte 0 picks the server port (HTTP, DNS,
//! SMTP, IMAP, PostgreSQL, Redis, POP3, FTP, generic TCP, HTTP/2, memcached,
//! MQTT, AMQP, Kafka, MongoDB) and TCP or UDP;
//! then, as for [`run_conversation_on`], records of `[h, flags, seq_delta:2,
//! ack_delta:2, window, len, payload...]`: `h` bit 0 is the direction, the
//! rest advances the clock.

use crate::decode::{addr_from_v4, Packet, TcpHeader, Transport};
use crate::flow::{FlowConfig, FlowTable};
use crate::rules::{Namer, Rules};
use crate::transaction::Transaction;
use std::sync::{Arc, OnceLock};

const PORTS: [u16; 16] = [80, 53, 25, 143, 5432, 6379, 110, 21, 8080, 9999, 50051, 11211, 1883, 5672, 9092, 27017];

pub fn run_conversation(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return };
    run_conversation_on(PORTS[usize::from(first & 0x0f) % PORTS.len()], first & 0x80 != 0, rest);
}

/// One conversation with a server on `port` (over UDP when `udp`): the
/// per-parser fuzz targets pin the parser this way.
pub fn run_conversation_on(port: u16, udp: bool, mut rest: &[u8]) {
    let cfg = FlowConfig { max_flows: 4, ..FlowConfig::default() };
    static RULES: OnceLock<Arc<Rules>> = OnceLock::new();
    let rules = RULES.get_or_init(|| Arc::new(Rules::default_rules(&crate::plugins::names())));
    let mut table = FlowTable::new(cfg, Namer::new(rules.clone()));
    let mut out: Vec<Transaction> = Vec::new();
    let (client, server) = ((addr_from_v4([10, 0, 0, 2]), 40000), (addr_from_v4([10, 0, 0, 1]), port));
    let mut next_seq = [1000u32, 5000u32];
    let mut ts = 1_700_000_000_000_000_000u64;
    while rest.len() >= 8 {
        let (h, tail) = rest.split_at(8);
        let len = usize::from(h[7]).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let dir = usize::from(h[0] & 1);
        ts += u64::from(h[0] >> 1) * 1_000_000;
        let seq = next_seq[dir].wrapping_add(i16::from_be_bytes([h[2], h[3]]) as i32 as u32);
        next_seq[dir] = seq.wrapping_add(len as u32);
        let ack = next_seq[1 - dir].wrapping_add(i16::from_be_bytes([h[4], h[5]]) as i32 as u32);
        let (src, dst) = if dir == 0 { (client, server) } else { (server, client) };
        let transport = if udp {
            Transport::Udp
        } else {
            Transport::Tcp(TcpHeader {
                seq,
                ack,
                flags: h[1] & 0x1f,
                window: u16::from(h[6]) << 8,
                mss: (h[1] & 0x02 != 0).then_some(1460),
                wscale: (h[1] & 0x40 != 0).then_some(h[6] & 0x0f),
                sack_permitted: false,
                timestamps: None,
            })
        };
        // Sometimes announce more payload than was captured (snapshot length).
        let payload_len = len as u32 + u32::from(h[1] >> 7) * u32::from(h[6]);
        let p = Packet {
            src: src.0,
            dst: dst.0,
            sport: src.1,
            dport: dst.1,
            transport,
            payload,
            payload_len,
            first_fragment: false,
            tenant: 0,
        };
        table.packet(ts, ts, &p, &mut out);
    }
    table.close_all(&mut out);
    for tx in &out {
        for (m, v) in crate::transaction::Metric::ALL.iter().zip(tx.metrics) {
            if let Some(v) = v {
                // Durations are differences of this conversation's times.
                if m.unit() == crate::transaction::Unit::Nanoseconds {
                    assert!(v <= ts - 1_700_000_000_000_000_000, "{m:?} = {v}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// A cheap stand-in for `cargo xtask fuzz` in every test run: random
    /// conversations, some seeded with real protocol bytes.
    #[test]
    fn random_conversations_never_panic() {
        let seeds: [&[u8]; 24] = [
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n",
            b"*2\r\n%1\r\n+a\r\n:1\r\n$-1\r\n-ERR x\r\n$3\r\nabc\r\n",
            b"\x00\x00\x00\x08\x04\xd2\x16\x2fQ\x00\x00\x00\x0dSELECT 1\x00P\x00\x00\x00\x08\x00x\x00S\x00\x00\x00\x04",
            b"NT\x00\x00\x00\x06\x00\x00E\x00\x00\x00\x05xZ\x00\x00\x00\x05I",
            b"a1 LOGIN {4}\r\nuser pass\r\na2 FETCH 1 BODY[]\r\n",
            b"* 1 FETCH (BODY[] {3}\r\nabc)\r\n+ go\r\na1 OK done\r\na2 NO\r\n",
            b"EHLO x\r\nMAIL FROM:<a@b>\r\nDATA\r\n",
            b"250-x\r\n250 ok\r\n354 go\r\n334 VXNlcg==\r\n220 tls\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            // HTTP/2: the preface, HEADERS with Huffman and table entries;
            // the server's HEADERS, DATA, RST_STREAM and GOAWAY.
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x16\x01\x05\x00\x00\x00\x01\x82\x86\x44\x8c\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff\x41\x03abc\xbe",
            b"\x00\x00\x01\x01\x04\x00\x00\x00\x01\x88\x00\x00\x02\x00\x01\x00\x00\x00\x01ok\x00\x00\x04\x03\x00\x00\x00\x00\x03\x00\x00\x00\x08\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00",
            // memcached: text with a value and noreply, meta quiet, binary.
            b"set a 0 0 5\r\nhello\r\nget a b\r\nmg k v q\r\nmn\r\ndelete a noreply\r\n",
            b"STORED\r\nVALUE a 0 5\r\nhello\r\nEND\r\nVA 2\r\nhi\r\nMN\r\n\x81\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00ok",
            // MQTT 5: CONNECT, PUBLISH QoS 1 with a property, SUBSCRIBE; the
            // broker's CONNACK, PUBACK with a reason, SUBACK.
            b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x03lab\x32\x0c\x00\x03a/b\x00\x01\x02\x01\x01hi\x82\x0a\x00\x02\x02\x0b\x07\x00\x02a/\x01",
            b"\x20\x03\x00\x00\x00\x40\x04\x00\x01\x87\x00\x90\x04\x00\x02\x00\x01\x50\x02\x00\x01\x70\x02\x00\x01",
            // AMQP: the protocol header, queue.declare, confirm.select, a
            // publish with its content; the broker's declare-ok, ack, close.
            b"AMQP\x00\x00\x09\x01\x01\x00\x01\x00\x00\x00\x0e\x00\x32\x00\x0a\x00\x00\x04jobs\x00\x00\x00\x00\x00\xce\x01\x00\x01\x00\x00\x00\x05\x00\x55\x00\x0a\x00\xce\x01\x00\x01\x00\x00\x00\x0d\x00\x3c\x00\x28\x00\x00\x00\x04jobs\x00\xce\x02\x00\x01\x00\x00\x00\x0e\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\xce\x03\x00\x01\x00\x00\x00\x02hi\xce",
            b"\x01\x00\x01\x00\x00\x00\x05\x00\x55\x00\x0b\x00\xce\x01\x00\x01\x00\x00\x00\x0d\x00\x3c\x00\x50\x00\x00\x00\x00\x00\x00\x00\x01\x00\xce\x01\x00\x01\x00\x00\x00\x08\x00\x14\x00\x28\x01\x94\x00\x00\xce",
            // Kafka: Produce v9 (flexible, a null transactional id), its answer.
            b"\x00\x00\x00\x2a\x00\x00\x00\x09\x00\x00\x00\x2f\x00\x01c\x00\x00\x00\x01\x00\x00\x05\xdc\x02\x09zqy-test\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            b"\x00\x00\x00\x16\x00\x00\x00\x2f\x00\x02\x09zqy-test\x02\x00\x00\x00\x00\x00\x06\x00",
            // MongoDB: OP_MSG find, its reply with ok after a string.
            b"\x3a\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00\x25\x00\x00\x00\x02find\x00\x06\x00\x00\x00users\x00\x02$db\x00\x04\x00\x00\x00app\x00\x00",
            b"\x35\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00\x02e\x00\x04\x00\x00\x00bad\x00\x01ok\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..6000 {
            let mut input = vec![rand() as u8];
            for _ in 0..(rand() % 12) {
                let seed = seeds[(rand() as usize) % seeds.len()];
                let cut = (rand() as usize) % (seed.len() + 1);
                let mut h = rand().to_le_bytes();
                h[7] = cut as u8;
                if rand() % 3 == 0 {
                    h[2] = 0;
                    h[3] = 0;
                }
                input.extend_from_slice(&h);
                input.extend_from_slice(&seed[..cut]);
            }
            super::run_conversation(&input);
        }
    }
}
