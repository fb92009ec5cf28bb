//! MongoDB (27017): OP_MSG, and the legacy OP_QUERY and OP_GET_MORE with
//! their OP_REPLY, paired by requestID and responseTo (several in flight).
//! Named through the rules from `command collection` (the body's first
//! element and, where it is a string, its value: `find users`,
//! `insert orders`, `hello`), `MONGO_find_users` by default; a legacy query
//! of a collection is a `find`, OP_COMPRESSED is `compressed`. Outcome
//! `error` for a reply whose `ok` is 0 (or an OP_REPLY with QueryFailure),
//! else `ok`. What asks for no reply is not a transaction: an OP_MSG with
//! moreToCome (unacknowledged writes) and the legacy OP_INSERT, OP_UPDATE,
//! OP_DELETE and OP_KILL_CURSORS.
//!
//! A message's head is kept up to [`HEAD`] bytes and its last [`TAIL`]
//! bytes, where a reply's `ok` is when the body before it is large.

use super::prefixed::{Message, Prefixed};
use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;
use std::collections::VecDeque;

pub static PLUGIN: Plugin = Plugin {
    name: "mongodb",
    ports: &[27017],
    transports: &[Transport::Tcp],
    detect: looks_like_request,
    new_parser: |_| Box::<MongoDb>::default(),
};

const HEAD: usize = 512;
const TAIL: usize = 256;
const HEADER: usize = 16;
/// The largest message believed (MongoDB's maxMessageSizeBytes).
const MAX_MESSAGE: u32 = 48_000_000;
/// Requests awaiting a reply per connection; past it the oldest is given up.
const MAX_PENDING: usize = 256;

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_GET_MORE: i32 = 2005;
const OP_COMPRESSED: i32 = 2012;
const OP_MSG: i32 = 2013;

fn le32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A message's length after its header.
fn length(h: &[u8; HEADER]) -> Option<u32> {
    let len = u32::try_from(le32(h, 0)?).ok()?;
    (HEADER as u32..=MAX_MESSAGE).contains(&len).then(|| len - HEADER as u32)
}

/// Whether a client's first bytes read as a request: a plausible length,
/// no responseTo, an opcode that asks.
fn looks_like_request(b: &[u8]) -> bool {
    let (Some(len), Some(to), Some(op)) = (le32(b, 0), le32(b, 8), le32(b, 12)) else { return false };
    (HEADER as i32..=MAX_MESSAGE as i32).contains(&len) && to == 0 && matches!(op, OP_MSG | OP_QUERY | OP_COMPRESSED)
}

/// A C string at `*at` (advanced past its NUL).
fn cstring<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let s = b.get(*at..)?;
    let end = memchr::memchr(0, s)?;
    *at += end + 1;
    Some(&s[..end])
}

/// The size of a BSON value of `kind` at `at`.
fn value_size(kind: u8, b: &[u8], at: usize) -> Option<usize> {
    let int = |at| le32(b, at).and_then(|n| usize::try_from(n).ok());
    Some(match kind {
        0x01 | 0x09 | 0x11 | 0x12 => 8,
        0x02 | 0x0d | 0x0e => 4 + int(at)?,
        0x03 | 0x04 | 0x0f => int(at)?,
        0x05 => 5 + int(at)?,
        0x06 | 0x0a | 0x7f | 0xff => 0,
        0x07 => 12,
        0x08 => 1,
        0x0b => {
            let mut end = at;
            cstring(b, &mut end)?;
            cstring(b, &mut end)?;
            end - at
        }
        0x0c => 4 + int(at)? + 12,
        0x10 => 4,
        0x13 => 16,
        _ => return None,
    })
}

/// A BSON document's first element: its name and, for a string, its value.
fn first_element(doc: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let kind = *doc.get(4)?;
    let mut at = 5;
    let name = cstring(doc, &mut at)?;
    let value = (kind == 0x02).then(|| {
        let len = usize::try_from(le32(doc, at)?).ok()?.checked_sub(1)?;
        doc.get(at + 4..at + 4 + len)
    });
    Some((name, value.flatten()))
}

/// Whether a BSON value means true (`ok: 1`, `1.0`, `true`).
fn truthy(kind: u8, v: &[u8]) -> Option<bool> {
    Some(match kind {
        0x01 => f64::from_le_bytes(v.get(..8)?.try_into().ok()?) != 0.0,
        0x08 => *v.first()? != 0,
        0x10 => le32(v, 0)? != 0,
        0x12 => i64::from_le_bytes(v.get(..8)?.try_into().ok()?) != 0,
        _ => return None,
    })
}

/// The reply document's `ok`: among the top-level elements of the head,
/// else the last `ok` element in the message's tail.
fn ok_of(doc: &[u8], tail: &[u8]) -> Option<bool> {
    let mut at = 4;
    while let Some(&kind) = doc.get(at).filter(|k| **k != 0) {
        at += 1;
        let name = cstring(doc, &mut at)?;
        if name == b"ok" {
            return truthy(kind, &doc[at..]);
        }
        at += value_size(kind, doc, at)?;
    }
    (0..tail.len().saturating_sub(4)).rev().find_map(|i| {
        let kind = tail[i];
        (matches!(kind, 0x01 | 0x08 | 0x10 | 0x12) && &tail[i + 1..i + 4] == b"ok\0")
            .then(|| truthy(kind, &tail[i + 4..]))?
    })
}

/// The body document of an OP_MSG (its kind 0 section) after the flags.
fn msg_body(sections: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    loop {
        match *sections.get(at)? {
            0 => return sections.get(at + 1..),
            1 => at += 1 + usize::try_from(le32(sections, at + 1)?).ok()?,
            _ => return None,
        }
    }
}

#[derive(Default)]
struct Pairing {
    pending: VecDeque<i32>,
    text: Vec<u8>,
}

impl Pairing {
    fn request(&mut self, m: Message<HEADER>, ev: &mut Events) {
        let (Some(id), Some(op)) = (le32(m.header, 4), le32(m.header, 12)) else { return };
        let b = m.head;
        self.text.clear();
        let (command, collection): (&[u8], Option<&[u8]>) = match op {
            OP_MSG => {
                // Flags: moreToCome (bit 1) wants no reply.
                if le32(b, 0).is_some_and(|f| f & 2 != 0) {
                    return;
                }
                msg_body(b.get(4..).unwrap_or_default()).and_then(first_element).unwrap_or((b"unknown", None))
            }
            OP_QUERY | OP_GET_MORE => {
                let mut at = 4;
                let Some(full) = cstring(b, &mut at) else { return };
                let collection = full.splitn(2, |c| *c == b'.').nth(1);
                match (op, collection) {
                    (OP_GET_MORE, _) => (b"getMore", collection),
                    (_, Some(c)) if c == b"$cmd" => {
                        b.get(at + 8..).and_then(first_element).unwrap_or((b"unknown", None))
                    }
                    _ => (b"find", collection),
                }
            }
            OP_COMPRESSED => (b"compressed", None),
            _ => return, // legacy writes and kill cursors: no reply
        };
        self.text.extend_from_slice(command);
        if let Some(c) = collection {
            self.text.push(b' ');
            self.text.extend_from_slice(c);
        }
        if self.pending.len() >= MAX_PENDING {
            if let Some(old) = self.pending.pop_front() {
                ev.abandon(old as u32, Outcome::NoResponse);
            }
        }
        ev.request_start(m.at, id as u32);
        ev.request_text(&self.text);
        ev.request_end(m.end);
        self.pending.push_back(id);
    }

    fn reply(&mut self, m: Message<HEADER>, ev: &mut Events) {
        let (Some(to), Some(op)) = (le32(m.header, 8), le32(m.header, 12)) else { return };
        let Some(k) = self.pending.iter().position(|id| *id == to) else { return };
        self.pending.remove(k);
        let b = m.head;
        let ok = match op {
            OP_MSG => msg_body(b.get(4..).unwrap_or_default()).and_then(|doc| ok_of(doc, m.tail)),
            // Flags (QueryFailure is bit 1), cursor, start, count, documents.
            OP_REPLY if le32(b, 0).is_some_and(|f| f & 2 != 0) => Some(false),
            OP_REPLY => b.get(20..).and_then(|doc| ok_of(doc, m.tail)),
            _ => None,
        };
        let outcome = if ok == Some(false) { Outcome::Error } else { Outcome::Ok };
        ev.response_end_id(m.at, m.end, to as u32, outcome);
    }
}

struct MongoDb {
    framing: [Prefixed<HEADER>; 2],
    pairing: Pairing,
}

impl Default for MongoDb {
    fn default() -> Self {
        let framing = [Prefixed::new(HEAD), Prefixed::with_tail(HEAD, TAIL)];
        MongoDb { framing, pairing: Pairing::default() }
    }
}

impl Parser for MongoDb {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        let MongoDb { framing, pairing } = self;
        framing[dir as usize].feed(data, length, |m| {
            match dir {
                Direction::ToServer => pairing.request(m, ev),
                Direction::ToClient => pairing.reply(m, ev),
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
