//! AMQP 0-9-1 (5672, RabbitMQ): the client's synchronous methods paired
//! with their `-ok` on the same channel, in order (queue.declare →
//! declare-ok, basic.get → get-ok with its message, or get-empty …); after
//! confirm.select, each basic.publish paired with the broker's basic.ack or
//! basic.nack by delivery tag (`multiple` acknowledging all up to it). A
//! method sent with `no-wait`, and basic.publish without confirms, has no
//! answer: not a transaction; nor are the broker's deliveries to consumers.
//! A channel.close or connection.close from the broker (a 404 for a
//! passive declare of a missing queue, say) ends what was waiting on it as
//! an error.
//!
//! Named through the rules from `CLASS.METHOD name…` (upper-case method;
//! then the queue, the exchange, or for basic.publish the routing key and
//! the exchange), `AMQP_QUEUE_DECLARE_jobs`, `AMQP_BASIC_PUBLISH_jobs` … by
//! default. A frame's head is kept up to [`HEAD`] bytes; message bodies are
//! passed over by length.

use super::prefixed::{Message, Prefixed};
use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;
use std::collections::VecDeque;

pub static PLUGIN: Plugin = Plugin {
    name: "amqp",
    ports: &[5672],
    transports: &[Transport::Tcp],
    detect: |b| b.starts_with(b"AMQP"),
    new_parser: |_| Box::<Amqp>::default(),
};

/// Bytes of a frame's payload kept: a method's arguments up to its names.
const HEAD: usize = 512;
/// Answers awaited per connection; past it the oldest is given up.
const MAX_PENDING: usize = 256;
const FRAME_HEADER: usize = 7;
/// The client's protocol header: `AMQP` and the version.
const PROTOCOL_HEADER: usize = 8;
const FRAME_END: u8 = 0xce;

const METHOD: u8 = 1;
const CONTENT_HEADER: u8 = 2;
const CONTENT_BODY: u8 = 3;

/// (class, method) of the methods this parser reads.
mod method {
    pub const CONNECTION_CLOSE: (u16, u16) = (10, 50);
    pub const CHANNEL_CLOSE: (u16, u16) = (20, 40);
    pub const BASIC_PUBLISH: (u16, u16) = (60, 40);
    pub const BASIC_GET_OK: (u16, u16) = (60, 71);
    pub const BASIC_GET_EMPTY: (u16, u16) = (60, 72);
    pub const BASIC_ACK: (u16, u16) = (60, 80);
    pub const BASIC_NACK: (u16, u16) = (60, 120);
    pub const CONFIRM_SELECT: (u16, u16) = (85, 10);
}

/// Where a method's no-wait bit is: after a reserved short or not, so
/// many short strings, in the bits octet that follows them.
#[derive(Clone, Copy)]
struct NoWait {
    reserved: bool,
    strings: u8,
    mask: u8,
}

const fn no_wait(reserved: bool, strings: u8, mask: u8) -> Option<NoWait> {
    Some(NoWait { reserved, strings, mask })
}

/// The client's synchronous methods (their `-ok` is the next method id),
/// with their names and no-wait bits.
fn synchronous(class: u16, method: u16) -> Option<(&'static str, Option<NoWait>)> {
    Some(match (class, method) {
        (10, 40) => ("CONNECTION.OPEN", None),
        (10, 50) => ("CONNECTION.CLOSE", None),
        (20, 10) => ("CHANNEL.OPEN", None),
        (20, 20) => ("CHANNEL.FLOW", None),
        (20, 40) => ("CHANNEL.CLOSE", None),
        // passive, durable, auto-delete, internal, no-wait
        (40, 10) => ("EXCHANGE.DECLARE", no_wait(true, 2, 0x10)),
        // if-unused, no-wait
        (40, 20) => ("EXCHANGE.DELETE", no_wait(true, 1, 0x02)),
        (40, 30) => ("EXCHANGE.BIND", no_wait(true, 3, 0x01)),
        (40, 40) => ("EXCHANGE.UNBIND", no_wait(true, 3, 0x01)),
        // passive, durable, exclusive, auto-delete, no-wait
        (50, 10) => ("QUEUE.DECLARE", no_wait(true, 1, 0x10)),
        (50, 20) => ("QUEUE.BIND", no_wait(true, 3, 0x01)),
        (50, 30) => ("QUEUE.PURGE", no_wait(true, 1, 0x01)),
        // if-unused, if-empty, no-wait
        (50, 40) => ("QUEUE.DELETE", no_wait(true, 1, 0x04)),
        (50, 50) => ("QUEUE.UNBIND", None),
        (60, 10) => ("BASIC.QOS", None),
        // no-local, no-ack, exclusive, no-wait
        (60, 20) => ("BASIC.CONSUME", no_wait(true, 2, 0x08)),
        (60, 30) => ("BASIC.CANCEL", no_wait(false, 1, 0x01)),
        (60, 70) => ("BASIC.GET", None),
        (60, 110) => ("BASIC.RECOVER", None),
        (85, 10) => ("CONFIRM.SELECT", no_wait(false, 0, 0x01)),
        (90, 10) => ("TX.SELECT", None),
        (90, 20) => ("TX.COMMIT", None),
        (90, 30) => ("TX.ROLLBACK", None),
        _ => return None,
    })
}

/// The answer a synchronous method waits for: its `-ok` (unbind's is 51).
fn answer_of(class: u16, method: u16) -> (u16, u16) {
    match (class, method) {
        (40, 40) => (40, 51),
        _ => (class, method + 1),
    }
}

/// One frame: its type, channel, payload size and the head of its payload.
struct Frame<'a> {
    kind: u8,
    channel: u16,
    size: u32,
    head: &'a [u8],
    at: usize,
    end: usize,
}

impl Frame<'_> {
    fn method(&self) -> Option<(u16, u16)> {
        Some((be16(self.head, 0)?, be16(self.head, 2)?))
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A short string at `*at` (advanced past it).
fn shortstr<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let len = usize::from(*b.get(*at)?);
    let s = b.get(*at + 1..*at + 1 + len)?;
    *at += 1 + len;
    Some(s)
}

/// A frame's length after its header: the payload and the frame-end octet.
fn length(header: &[u8; FRAME_HEADER]) -> Option<u32> {
    u32::from_be_bytes([header[3], header[4], header[5], header[6]]).checked_add(1)
}

/// A frame read whole, or None when its frame-end octet (kept when the
/// payload fits the head) is not there.
fn frame<'a>(m: &Message<'a, FRAME_HEADER>) -> Option<Frame<'a>> {
    let size = m.len - 1;
    let head = match m.head.split_last() {
        Some((&end, payload)) if payload.len() == size as usize => (end == FRAME_END).then_some(payload)?,
        _ => m.head,
    };
    let channel = u16::from_be_bytes([m.header[1], m.header[2]]);
    Some(Frame { kind: m.header[0], channel, size, head, at: m.at, end: m.end })
}

/// A transaction waiting on a channel.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    channel: u16,
    id: u32,
    /// The method it answers to ((60, 80) for a confirm, with its tag).
    answer: (u16, u16),
    tag: u64,
}

/// Message content being passed over on a channel (a publish's, a get-ok's).
#[derive(Clone, Copy, Debug)]
struct Content {
    channel: u16,
    /// Body bytes still to come, once the header frame gave their size.
    left: Option<u64>,
    /// The transaction it ends (the get-ok's; a publish ends its request).
    id: Option<u32>,
    start: usize,
}

#[derive(Default)]
struct Pairing {
    waiting: VecDeque<Waiting>,
    next_id: u32,
    /// Channels in confirm mode and the delivery tag of their last publish.
    confirms: Vec<(u16, u64)>,
    /// Content being read: the client's and the broker's.
    content: [Option<Content>; 2],
    text: Vec<u8>,
}

impl Pairing {
    fn client(&mut self, f: Frame, ev: &mut Events) {
        if self.content(Direction::ToServer, &f, ev) {
            return;
        }
        let Some((class, m)) = f.method().filter(|_| f.kind == METHOD) else { return };
        let args = &f.head[4..];
        let (name, answer, tag) = if (class, m) == method::BASIC_PUBLISH {
            // Without confirms nothing answers; the message follows.
            let Some(slot) = self.confirms.iter_mut().find(|(c, _)| *c == f.channel) else {
                self.content[0] = Some(Content { channel: f.channel, left: None, id: None, start: f.at });
                return;
            };
            slot.1 += 1;
            ("BASIC.PUBLISH", method::BASIC_ACK, slot.1)
        } else {
            let Some((name, no_wait)) = synchronous(class, m) else { return };
            if let Some(NoWait { reserved, strings, mask }) = no_wait {
                let mut at = if reserved { 2 } else { 0 };
                let strings = (0..strings).try_for_each(|_| shortstr(args, &mut at).map(|_| ()));
                if strings.and_then(|()| args.get(at)).is_some_and(|bits| bits & mask != 0) {
                    return;
                }
            }
            (name, answer_of(class, m), 0)
        };
        self.text.clear();
        self.text.extend_from_slice(name.as_bytes());
        self.names(class, m, args);
        if self.waiting.len() >= MAX_PENDING {
            if let Some(old) = self.waiting.pop_front() {
                ev.abandon(old.id, Outcome::NoResponse);
            }
        }
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        ev.request_start(f.at, id);
        ev.request_text(&self.text);
        self.waiting.push_back(Waiting { channel: f.channel, id, answer, tag });
        if (class, m) == method::CONFIRM_SELECT {
            self.confirms.push((f.channel, 0));
        }
        if (class, m) == method::BASIC_PUBLISH {
            self.content[0] = Some(Content { channel: f.channel, left: None, id: Some(id), start: f.at });
        } else {
            ev.request_end(f.end);
        }
    }

    /// The names a method's text carries: its queue or exchange (after the
    /// reserved short); basic.publish: routing key, then exchange.
    fn names(&mut self, class: u16, m: u16, args: &[u8]) {
        let mut at = 2;
        let mut strings: Vec<&[u8]> = Vec::new();
        let count = match (class, m) {
            (40 | 50, _) | (60, 20) | (60, 70) => 1,
            (60, 40) => 2,
            _ => 0,
        };
        for _ in 0..count {
            let Some(s) = shortstr(args, &mut at) else { break };
            strings.push(s);
        }
        if (class, m) == method::BASIC_PUBLISH {
            strings.reverse();
        }
        for s in strings.iter().filter(|s| !s.is_empty()) {
            self.text.push(b' ');
            self.text.extend_from_slice(s);
        }
    }

    /// A header or body frame of the content being read on `dir`: true
    /// when it was one.
    fn content(&mut self, dir: Direction, f: &Frame, ev: &mut Events) -> bool {
        let slot = &mut self.content[dir as usize];
        let Some(c) = slot.as_mut().filter(|c| c.channel == f.channel) else { return false };
        match f.kind {
            CONTENT_HEADER => c.left = be64(f.head, 4),
            CONTENT_BODY => c.left = c.left.map(|l| l.saturating_sub(u64::from(f.size))),
            _ => {
                *slot = None;
                return false;
            }
        }
        if c.left == Some(0) {
            let c = *c;
            *slot = None;
            match (dir, c.id) {
                (Direction::ToServer, Some(_)) => ev.request_end(f.end),
                (Direction::ToClient, Some(id)) => ev.response_end_id(c.start, f.end, id, Outcome::Ok),
                (_, None) => {}
            }
        }
        true
    }

    fn broker(&mut self, f: Frame, ev: &mut Events) {
        if self.content(Direction::ToClient, &f, ev) {
            return;
        }
        let Some((class, m)) = f.method().filter(|_| f.kind == METHOD) else { return };
        let args = &f.head[4..];
        match (class, m) {
            method::BASIC_ACK | method::BASIC_NACK => {
                let (Some(tag), Some(&bits)) = (be64(args, 0), args.get(8)) else { return };
                let outcome = if (class, m) == method::BASIC_ACK { Outcome::Ok } else { Outcome::Error };
                let acked = |w: &Waiting| {
                    w.channel == f.channel
                        && w.answer == method::BASIC_ACK
                        && (w.tag == tag || bits & 1 != 0 && w.tag <= tag)
                };
                self.end_where(acked, f.at, f.end, outcome, ev);
            }
            // The broker closes the channel (or the connection): what waited
            // on it failed.
            method::CHANNEL_CLOSE => self.end_where(|w| w.channel == f.channel, f.at, f.end, Outcome::Error, ev),
            method::CONNECTION_CLOSE => self.end_where(|_| true, f.at, f.end, Outcome::Error, ev),
            _ => {
                let expected = |w: &Waiting| w.channel == f.channel && w.answer != method::BASIC_ACK;
                let Some(k) = self.waiting.iter().position(expected) else { return };
                let w = self.waiting[k];
                let get = w.answer == method::BASIC_GET_OK;
                if w.answer != (class, m) && !(get && (class, m) == method::BASIC_GET_EMPTY) {
                    return;
                }
                self.waiting.remove(k);
                if (class, m) == method::BASIC_GET_OK {
                    // The message follows: the answer ends with its body.
                    ev.response_start(f.at, Some(w.id));
                    self.content[1] = Some(Content { channel: f.channel, left: None, id: Some(w.id), start: f.at });
                    return;
                }
                let outcome = if (class, m) == method::BASIC_GET_EMPTY { Outcome::No } else { Outcome::Ok };
                ev.response_end_id(f.at, f.end, w.id, outcome);
            }
        }
    }

    fn end_where(
        &mut self,
        which: impl Fn(&Waiting) -> bool,
        at: usize,
        end: usize,
        outcome: Outcome,
        ev: &mut Events,
    ) {
        self.waiting.retain(|w| {
            let ends = which(w);
            if ends {
                ev.response_end_id(at, end, w.id, outcome);
            }
            !ends
        });
    }
}

struct Amqp {
    framing: [Prefixed<FRAME_HEADER>; 2],
    /// Bytes of the client's protocol header still to pass over.
    preamble: usize,
    pairing: Pairing,
}

impl Default for Amqp {
    fn default() -> Self {
        let framing = [Prefixed::new(HEAD), Prefixed::new(HEAD)];
        Amqp { framing, preamble: PROTOCOL_HEADER, pairing: Pairing::default() }
    }
}

impl Parser for Amqp {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        let Amqp { framing, preamble, pairing } = self;
        let mut skip = 0;
        if dir == Direction::ToServer && *preamble > 0 {
            // A connection picked up after its protocol header has none.
            if *preamble == PROTOCOL_HEADER && !data.starts_with(b"AMQP") {
                *preamble = 0;
            }
            skip = (*preamble).min(data.len());
            *preamble -= skip;
        }
        framing[dir as usize].feed(&data[skip..], length, |m| {
            let Some(mut f) = frame(&m) else { return false };
            // Offsets in the chunk, the protocol header included.
            (f.at, f.end) = (f.at + skip, f.end + skip);
            match dir {
                Direction::ToServer => pairing.client(f, ev),
                Direction::ToClient => pairing.broker(f, ev),
            }
            true
        });
    }

    /// Lost bytes break the framing: stop rather than guess.
    fn gap(&mut self, dir: Direction, _len: usize, _ev: &mut Events) {
        self.framing[dir as usize].broken = true;
    }

    fn end(&mut self, _dir: Direction, _ev: &mut Events) {}
}
