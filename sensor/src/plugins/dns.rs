//! DNS over UDP and TCP. Queries and responses pair by message id, so several
//! queries may be outstanding on one 5-tuple and answered in any order. Rules
//! see `QTYPE qname` (e.g. `AAAA www.example.com`); the outcome is the rcode.
//!
//! Over TCP each message has a two-byte length prefix; the parser keeps only
//! the head of the current message (header and question).

use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "dns",
    ports: &[53, 5353, 5355],
    transports: &[Transport::Udp, Transport::Tcp],
    detect: |_| false,
    new_parser: |t| Box::new(Dns::new(t)),
};

/// Bytes of a message kept to read its header and question.
const HEAD: usize = 12 + 256 + 4;

/// A decoded DNS header and first question.
#[derive(Debug, PartialEq, Eq)]
struct Message {
    id: u16,
    response: bool,
    rcode: u8,
}

/// Parses the header and writes `QTYPE qname` of the first question to `text`.
fn parse(msg: &[u8], text: &mut Vec<u8>) -> Option<Message> {
    let h = msg.get(..12)?;
    let id = u16::from_be_bytes([h[0], h[1]]);
    let flags = u16::from_be_bytes([h[2], h[3]]);
    let qdcount = u16::from_be_bytes([h[4], h[5]]);
    text.clear();
    if qdcount > 0 {
        let mut name = Vec::with_capacity(0);
        let mut at = 12;
        loop {
            let len = usize::from(*msg.get(at)?);
            if len == 0 {
                at += 1;
                break;
            }
            // Questions are not compressed in practice; a pointer ends the name.
            if len & 0xc0 != 0 {
                at += 2;
                break;
            }
            let label = msg.get(at + 1..at + 1 + len)?;
            if !name.is_empty() {
                name.push(b'.');
            }
            name.extend(label.iter().map(|&b| if b.is_ascii_graphic() { b } else { b'_' }));
            at += 1 + len;
        }
        let qtype = msg.get(at..at + 2).map(|t| u16::from_be_bytes([t[0], t[1]]));
        match qtype.map(qtype_name) {
            Some(Ok(n)) => text.extend_from_slice(n.as_bytes()),
            Some(Err(n)) => text.extend_from_slice(format!("TYPE{n}").as_bytes()),
            None => text.extend_from_slice(b"TRUNCATED"),
        }
        text.push(b' ');
        text.extend_from_slice(if name.is_empty() { b"." } else { &name });
    } else {
        text.extend_from_slice(b"NOQUESTION .");
    }
    Some(Message { id, response: flags & 0x8000 != 0, rcode: (flags & 0x000f) as u8 })
}

fn qtype_name(t: u16) -> Result<&'static str, u16> {
    Ok(match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        43 => "DS",
        46 => "RRSIG",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        252 => "AXFR",
        255 => "ANY",
        other => return Err(other),
    })
}

/// Length-prefixed message framing of DNS over TCP, per direction.
#[derive(Default)]
struct Framing {
    /// Bytes of the current length prefix seen (0..2).
    prefix_seen: u8,
    prefix: [u8; 2],
    /// Message bytes still to come.
    remaining: usize,
    /// Head (header and question) of the current message.
    head: Vec<u8>,
    /// The capture lost bytes of this direction: wait for a new segment.
    lost: bool,
}

struct Dns {
    transport: Transport,
    framing: [Framing; 2],
    text: Vec<u8>,
}

impl Dns {
    fn new(transport: Transport) -> Dns {
        Dns { transport, framing: Default::default(), text: Vec::new() }
    }

    /// A whole message head (or datagram) starting at `at`, ending at `end`.
    fn message(&mut self, dir: Direction, msg: &[u8], at: usize, end: usize, ev: &mut Events) {
        let Some(m) = parse(msg, &mut self.text) else {
            return;
        };
        match (dir, m.response) {
            (Direction::ToServer, false) => {
                ev.request_start(at, u32::from(m.id));
                ev.request_text(&self.text);
                ev.request_end(end);
            }
            (Direction::ToClient, true) if ev.response_start(at, Some(u32::from(m.id))) => {
                ev.response_end(end, Outcome::Dns(m.rcode));
            }
            _ => {}
        }
    }

    fn tcp(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        let f = &mut self.framing[dir as usize];
        if f.lost {
            // Resynchronise only where a segment plausibly starts a message.
            if data.len() < 14 {
                return;
            }
            *f = Framing::default();
        }
        let mut i = 0;
        let mut msg_start = 0;
        while i < data.len() {
            let f = &mut self.framing[dir as usize];
            if f.prefix_seen < 2 {
                if f.prefix_seen == 0 {
                    msg_start = i;
                }
                f.prefix[usize::from(f.prefix_seen)] = data[i];
                f.prefix_seen += 1;
                i += 1;
                if f.prefix_seen == 2 {
                    f.remaining = usize::from(u16::from_be_bytes(f.prefix));
                    f.head.clear();
                }
                continue;
            }
            let take = f.remaining.min(data.len() - i);
            let keep = take.min(HEAD.saturating_sub(f.head.len()));
            f.head.extend_from_slice(&data[i..i + keep]);
            f.remaining -= take;
            i += take;
            if f.remaining == 0 {
                let head = std::mem::take(&mut f.head);
                f.prefix_seen = 0;
                self.message(dir, &head, msg_start, i, ev);
                self.framing[dir as usize].head = head;
                msg_start = i;
            }
        }
    }
}

impl Parser for Dns {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        match self.transport {
            Transport::Udp => self.message(dir, data, 0, data.len(), ev),
            Transport::Tcp => self.tcp(dir, data, ev),
        }
    }

    fn gap(&mut self, dir: Direction, _len: usize, _ev: &mut Events) {
        self.framing[dir as usize].lost = true;
    }

    fn end(&mut self, _dir: Direction, _ev: &mut Events) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_text_and_header() {
        let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x1c\x00\x01";
        let mut text = Vec::new();
        let m = parse(q, &mut text).unwrap();
        assert_eq!(m, Message { id: 0x1234, response: false, rcode: 0 });
        assert_eq!(text, b"AAAA www.example.com");
        let mut r = q.to_vec();
        r[2] = 0x81;
        r[3] = 0x83;
        assert_eq!(parse(&r, &mut text).unwrap().rcode, 3);
        assert!(parse(&q[..8], &mut text).is_none());
        let mut odd = q.to_vec();
        let n = odd.len();
        odd[n - 4..n - 2].copy_from_slice(&999u16.to_be_bytes());
        parse(&odd, &mut text).unwrap();
        assert_eq!(text, b"TYPE999 www.example.com");
    }
}
