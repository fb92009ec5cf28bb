//! MQTT 3.1, 3.1.1 and 5 (1883): what the client asks and the broker
//! acknowledges. CONNECT → CONNACK, PUBLISH at QoS 1 → PUBACK, at QoS 2 →
//! PUBREC (the first response) … PUBCOMP (the last), SUBSCRIBE → SUBACK,
//! UNSUBSCRIBE → UNSUBACK, PINGREQ → PINGRESP; paired by packet id (each
//! direction has its own ids), CONNECT and PINGREQ in order. A QoS 0
//! PUBLISH, DISCONNECT and AUTH have no answer: not transactions; nor are
//! the broker's own PUBLISHes to a subscriber (the client acknowledges
//! them: requests run from client to server here).
//!
//! Named through the rules from `TYPE` or `TYPE topic QOSn` (PUBLISH; the
//! first filter of a SUBSCRIBE or UNSUBSCRIBE), `MQTT_PUBLISH_<first topic
//! level>` … by default. Outcome `error` for a refused CONNECT, a failed
//! subscription, or an acknowledgement whose MQTT 5 reason code is 0x80 or
//! more; else `ok`. Payloads are passed over by length; a packet's head is
//! kept up to [`HEAD`] bytes (a topic cut there still names, but a packet id
//! after it is lost: that PUBLISH is not paired).

use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "mqtt",
    ports: &[1883],
    transports: &[Transport::Tcp],
    detect: |b| {
        b.first() == Some(&0x10)
            && b.len() >= 10
            && (b[..10].ends_with(b"MQTT") || b[..12.min(b.len())].ends_with(b"MQIsdp"))
    },
    new_parser: |_| Box::<Mqtt>::default(),
};

/// Bytes of a packet (after its fixed header) kept: topics, ids, reason codes.
const HEAD: usize = 256;

mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
}

/// Ids of the transactions without a packet id (packet ids are 16 bits).
const CONNECT_ID: u32 = 1 << 16;
const PING_ID: u32 = 2 << 16;

/// One control packet: its fixed header and the head of the rest.
struct Packet<'a> {
    kind: u8,
    flags: u8,
    /// The packet's whole length after the fixed header.
    len: u32,
    head: &'a [u8],
    at: usize,
    end: usize,
}

/// The framing of one direction.
#[derive(Default)]
struct Framing {
    /// Fixed header bytes: type and flags, remaining length (1 to 4).
    fixed: [u8; 5],
    fixed_len: usize,
    /// The remaining length is known: the body is being read.
    body: Option<u32>,
    read: u32,
    head: Vec<u8>,
    at: usize,
    broken: bool,
}

impl Framing {
    fn feed(&mut self, data: &[u8], mut on: impl FnMut(Packet)) {
        if self.fixed_len > 0 {
            self.at = 0; // the packet began in an earlier chunk
        }
        let mut i = 0;
        while i < data.len() && !self.broken {
            let Some(len) = self.body else {
                if self.fixed_len == 0 {
                    self.at = i;
                }
                self.fixed[self.fixed_len] = data[i];
                self.fixed_len += 1;
                i += 1;
                if self.fixed_len >= 2 && self.fixed[self.fixed_len - 1] & 0x80 == 0 {
                    let len = self.fixed[1..self.fixed_len]
                        .iter()
                        .enumerate()
                        .fold(0u32, |n, (k, b)| n | u32::from(b & 0x7f) << (7 * k));
                    self.body = Some(len);
                    self.read = 0;
                    self.head.clear();
                } else if self.fixed_len == self.fixed.len() {
                    self.broken = true; // a remaining length of more than four bytes
                }
                if self.body != Some(0) {
                    continue;
                }
                self.emit(i, &mut on);
                continue;
            };
            let take = ((len - self.read) as usize).min(data.len() - i);
            let keep = take.min(HEAD.saturating_sub(self.head.len()));
            self.head.extend_from_slice(&data[i..i + keep]);
            self.read += take as u32;
            i += take;
            if self.read == len {
                self.emit(i, &mut on);
            }
        }
    }

    fn emit(&mut self, end: usize, on: &mut impl FnMut(Packet)) {
        let (kind, flags) = (self.fixed[0] >> 4, self.fixed[0] & 0x0f);
        let len = self.body.take().unwrap_or(0);
        self.fixed_len = 0;
        let at = std::mem::take(&mut self.at);
        on(Packet { kind, flags, len, head: &self.head, at, end });
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// A variable byte integer (MQTT 5 property lengths) at `at`: (value, bytes).
fn varint(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for k in 0..4 {
        let byte = *b.get(at + k)?;
        value |= usize::from(byte & 0x7f) << (7 * k);
        if byte & 0x80 == 0 {
            return Some((value, k + 1));
        }
    }
    None
}

#[derive(Default)]
struct Mqtt {
    framing: [Framing; 2],
    /// The CONNECT's protocol level (5: MQTT 5, with properties).
    level: u8,
    text: Vec<u8>,
}

/// A client packet: opens a transaction where it asks for an answer;
/// returns a CONNECT's protocol level.
fn request(level: u8, p: Packet, text: &mut Vec<u8>, ev: &mut Events) -> Option<u8> {
    let name: &[u8] = match p.kind {
        kind::CONNECT => b"CONNECT",
        kind::PUBLISH => b"PUBLISH",
        kind::SUBSCRIBE => b"SUBSCRIBE",
        kind::UNSUBSCRIBE => b"UNSUBSCRIBE",
        kind::PINGREQ => b"PINGREQ",
        _ => return None,
    };
    text.clear();
    text.extend_from_slice(name);
    let mut connect_level = None;
    let id = match p.kind {
        kind::CONNECT => {
            // The protocol name, then the level.
            connect_level = be16(p.head, 0).and_then(|n| p.head.get(2 + usize::from(n))).copied();
            CONNECT_ID
        }
        kind::PINGREQ => PING_ID,
        kind::PUBLISH => {
            let qos = (p.flags >> 1) & 3;
            let topic_len = usize::from(be16(p.head, 0)?);
            text.push(b' ');
            text.extend_from_slice(&p.head[2..(2 + topic_len).min(p.head.len())]);
            text.extend_from_slice(b" QOS");
            text.push(b'0' + qos);
            if !matches!(qos, 1 | 2) {
                return None;
            }
            u32::from(be16(p.head, 2 + topic_len)?)
        }
        _ => {
            // SUBSCRIBE, UNSUBSCRIBE: the packet id, MQTT 5 properties,
            // then the first filter.
            let pid = be16(p.head, 0)?;
            let mut at = 2;
            if level == 5 {
                let (props, n) = varint(p.head, at)?;
                at += n + props;
            }
            if let Some(filter_len) = be16(p.head, at) {
                let from = (at + 2).min(p.head.len());
                text.push(b' ');
                text.extend_from_slice(&p.head[from..(from + usize::from(filter_len)).min(p.head.len())]);
            }
            u32::from(pid)
        }
    };
    ev.request_start(p.at, id);
    ev.request_text(text);
    ev.request_end(p.end);
    connect_level
}

/// A broker packet: answers a transaction where it acknowledges one.
fn response(v5: bool, p: Packet, ev: &mut Events) {
    let pid = || be16(p.head, 0).map(u32::from);
    // An MQTT 5 reason code of 0x80 or more is a failure.
    let reason = |code: Option<&u8>| if code.is_some_and(|c| *c >= 0x80) { Outcome::Error } else { Outcome::Ok };
    let (id, outcome) = match p.kind {
        // The session present flag, then the return (3.x) or reason code.
        kind::CONNACK => {
            (CONNECT_ID, if p.head.get(1).is_some_and(|c| *c != 0) { Outcome::Error } else { Outcome::Ok })
        }
        kind::PINGRESP => (PING_ID, Outcome::Ok),
        // 3.x: the packet id alone.
        kind::UNSUBACK if !v5 => {
            let Some(id) = pid() else { return };
            (id, Outcome::Ok)
        }
        // The packet id, then (MQTT 5, when longer) a reason code.
        kind::PUBACK | kind::PUBCOMP | kind::PUBREC => {
            let Some(id) = pid() else { return };
            let outcome = reason(p.head.get(2).filter(|_| p.len > 2));
            if p.kind == kind::PUBREC && outcome == Outcome::Ok {
                // The first response; PUBCOMP ends it, after the client's PUBREL.
                ev.response_start(p.at, Some(id));
                return;
            }
            (id, outcome)
        }
        // The packet id, MQTT 5 properties, then a code per filter.
        kind::SUBACK | kind::UNSUBACK => {
            let Some(id) = pid() else { return };
            let mut at = 2;
            if v5 {
                let Some((props, n)) = varint(p.head, at) else { return };
                at += n + props;
            }
            let codes = p.head.get(at..).unwrap_or_default();
            (id, if codes.iter().any(|c| *c >= 0x80) { Outcome::Error } else { Outcome::Ok })
        }
        _ => return,
    };
    ev.response_end_id(p.at, p.end, id, outcome);
}

impl Parser for Mqtt {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        let Mqtt { framing, level, text } = self;
        match dir {
            Direction::ToServer => framing[dir as usize].feed(data, |p| {
                if let Some(l) = request(*level, p, text, ev) {
                    *level = l;
                }
            }),
            Direction::ToClient => {
                let v5 = *level == 5;
                framing[dir as usize].feed(data, |p| response(v5, p, ev));
            }
        }
    }

    /// Lost bytes break the framing: stop rather than guess.
    fn gap(&mut self, dir: Direction, _len: usize, _ev: &mut Events) {
        self.framing[dir as usize].broken = true;
    }

    fn end(&mut self, _dir: Direction, _ev: &mut Events) {}
}
