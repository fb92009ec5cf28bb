//! memcached (11211): the text protocol (classic and meta commands) and the
//! binary one, chosen by the client's first byte; pipelined requests pair
//! with their responses in order (binary: by opaque).
//!
//! Named through the rules from `COMMAND KEY` (lower-case command, the
//! first key; binary opcodes by their text commands, GetK as get),
//! `MEMCACHED_GET` … by default. Outcomes: `ok`; `no` for a miss (a get without a value, EN, key
//! not found), NOT_STORED, EXISTS and NOT_FOUND; `bad` for ERROR and
//! CLIENT_ERROR (binary: unknown command, invalid arguments); `error` for
//! SERVER_ERROR and other binary statuses.
//!
//! Requests that ask for no answer are not transactions (nothing to time):
//! `noreply` (never answered), quiet meta commands (flag `q`) and quiet
//! binary opcodes (GetQ, SetQ …). The quiet ones are remembered so that the
//! answers they do get (a quiet get's hit, an error) pair with them, not
//! with the requests after them; the `mn` or NOOP that ends a quiet batch
//! settles them. Values are
//! passed over by length; a line is kept up to [`LINE_HEAD`] bytes.

use super::prefixed::{self, Prefixed};
use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;
use std::collections::VecDeque;

pub static PLUGIN: Plugin = Plugin {
    name: "memcached",
    ports: &[11211],
    transports: &[Transport::Tcp],
    detect: |_| false,
    new_parser: |_| Box::<Memcached>::default(),
};

/// Bytes of a command or response line kept (a key is at most 250).
const LINE_HEAD: usize = 512;
/// Key bytes of a binary request kept for its name.
const KEY_HEAD: usize = 64;
/// Requests awaiting an answer, per connection; past it the oldest is given up.
const MAX_PENDING: usize = 256;
const BINARY_HEADER: usize = 24;

/// A request that awaits (or may get) an answer.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// The transaction's id; quiet requests have none.
    id: Option<u32>,
    /// Binary: the request's opaque and opcode.
    opaque: u32,
    opcode: u8,
    /// Text: the answer is values or stats up to END.
    multi: bool,
    /// Text: a retrieval, whose listing without a value is a miss.
    retrieval: bool,
    /// Binary: its answer has begun (STAT answers with many messages).
    answered: bool,
}

/// One text line or the end of the data block after one.
enum Piece<'a> {
    Line { at: usize, end: usize, line: &'a [u8] },
    DataEnd { end: usize },
}

/// The text framing of one direction: lines, and data blocks passed over
/// by the length their line gave.
#[derive(Default)]
struct Text {
    line: Vec<u8>,
    /// The line being read began in an earlier chunk (its bytes so far in
    /// `line`).
    carried: bool,
    /// Data block bytes (CRLF included) still to pass over.
    skip: u64,
}

impl Text {
    /// Feeds `data`; `on` returns the length of the data block that follows
    /// a line (0: none).
    fn feed(&mut self, data: &[u8], mut on: impl FnMut(Piece) -> u64) {
        let mut i = 0;
        while i < data.len() {
            if self.skip > 0 {
                let take = self.skip.min((data.len() - i) as u64);
                self.skip -= take;
                i += take as usize;
                if self.skip == 0 {
                    self.skip = on(Piece::DataEnd { end: i });
                }
                continue;
            }
            let Some(nl) = memchr::memchr(b'\n', &data[i..]) else {
                if !self.carried {
                    self.line.clear();
                    self.carried = true;
                }
                let keep = (data.len() - i).min(LINE_HEAD.saturating_sub(self.line.len()));
                self.line.extend_from_slice(&data[i..i + keep]);
                return;
            };
            let end = i + nl + 1;
            let (at, line) = if self.carried {
                let keep = (end - i).min(LINE_HEAD.saturating_sub(self.line.len()));
                self.line.extend_from_slice(&data[i..i + keep]);
                (0, &self.line[..])
            } else {
                (i, &data[i..end.min(i + LINE_HEAD)])
            };
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let skip = on(Piece::Line { at, end, line });
            self.carried = false;
            self.skip = skip;
            i = end;
        }
    }
}

/// One binary message: its header and the head of its key.
struct Message<'a> {
    at: usize,
    end: usize,
    header: &'a [u8; BINARY_HEADER],
    key: &'a [u8],
}

impl Message<'_> {
    fn opcode(&self) -> u8 {
        self.header[1]
    }
    fn key_len(&self) -> u16 {
        u16::from_be_bytes([self.header[2], self.header[3]])
    }
    /// The response's status (the request's vbucket).
    fn status(&self) -> u16 {
        u16::from_be_bytes([self.header[6], self.header[7]])
    }
    fn opaque(&self) -> u32 {
        u32::from_be_bytes([self.header[12], self.header[13], self.header[14], self.header[15]])
    }
}

/// Bytes after a binary header kept: the extras (at most 255) and the
/// head of the key.
const BINARY_HEAD: usize = 255 + KEY_HEAD;

/// The binary framing of one direction.
fn binary_framing() -> Prefixed<BINARY_HEADER> {
    Prefixed::new(BINARY_HEAD)
}

/// A binary message's body length; None for another magic.
fn body_length(magic: u8) -> impl Fn(&[u8; BINARY_HEADER]) -> Option<u32> {
    move |h| (h[0] == magic).then(|| u32::from_be_bytes([h[8], h[9], h[10], h[11]]))
}

/// A binary message read whole: its header and the head of its key.
fn binary_message<'a>(m: &prefixed::Message<'a, BINARY_HEADER>) -> Message<'a> {
    let extras = usize::from(m.header[4]);
    let key_len = usize::from(u16::from_be_bytes([m.header[2], m.header[3]])).min(KEY_HEAD);
    let key = m.head.get(extras..).map_or(&[][..], |k| &k[..key_len.min(k.len())]);
    Message { at: m.at, end: m.end, header: m.header, key }
}

/// Binary opcodes that are not transactions: the quiet ones (no answer
/// unless there is something to say) and Quit (its answer only closes the
/// connection, as the text protocol's quit does without one).
fn untimed_opcode(op: u8) -> bool {
    matches!(op, 0x07 | 0x09 | 0x0d | 0x11..=0x1a | 0x1e)
}

/// The text command of a binary opcode (its quiet form without the Q;
/// GetK, which answers with the key, is a get).
fn opcode_name(op: u8) -> &'static str {
    match op {
        0x00 | 0x09 | 0x0c | 0x0d => "get",
        0x01 | 0x11 => "set",
        0x02 | 0x12 => "add",
        0x03 | 0x13 => "replace",
        0x04 | 0x14 => "delete",
        0x05 | 0x15 => "incr",
        0x06 | 0x16 => "decr",
        0x07 | 0x17 => "quit",
        0x08 | 0x18 => "flush_all",
        0x0a => "noop",
        0x0b => "version",
        0x0e | 0x19 => "append",
        0x0f | 0x1a => "prepend",
        0x10 => "stats",
        0x1b => "verbosity",
        0x1c => "touch",
        0x1d | 0x1e => "gat",
        0x20 => "sasl_list",
        0x21 => "sasl_auth",
        0x22 => "sasl_step",
        _ => "unknown",
    }
}

const NOOP: u8 = 0x0a;
const STAT: u8 = 0x10;

/// Which of the two protocols the connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Text,
    Binary,
}

/// The answer being read (text).
#[derive(Clone, Copy, Debug)]
struct Answer {
    pending: Pending,
    at: usize,
    /// A VALUE (or VA) came: a hit.
    hit: bool,
    /// The answer ends with the data block being passed over (VA).
    ends_with_data: bool,
}

#[derive(Default)]
struct Pairing {
    dialect: Option<Dialect>,
    pending: VecDeque<Pending>,
    next_id: u32,
    answer: Option<Answer>,
    text: Vec<u8>,
}

/// Splits a text line into its space-separated tokens.
fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| *b == b' ').filter(|t| !t.is_empty())
}

fn number(token: Option<&[u8]>) -> Option<u64> {
    std::str::from_utf8(token?).ok()?.parse().ok()
}

impl Pairing {
    /// Remembers a request (`pending`, its id to be given); a transaction
    /// unless `quiet`.
    fn request(&mut self, at: usize, text: &[u8], quiet: bool, mut pending: Pending, ev: &mut Events) {
        if self.pending.len() >= MAX_PENDING {
            if let Some(Pending { id: Some(id), .. }) = self.pending.pop_front() {
                ev.abandon(id, Outcome::NoResponse);
            }
        }
        pending.id = (!quiet).then(|| {
            self.next_id = self.next_id.wrapping_add(1);
            ev.request_start(at, self.next_id);
            ev.request_text(text);
            self.next_id
        });
        self.pending.push_back(pending);
    }

    fn text_request(&mut self, piece: Piece, ev: &mut Events) -> u64 {
        let (at, end, line) = match piece {
            Piece::Line { at, end, line } => (at, end, line),
            // A stored value was passed over: the request ends with it.
            Piece::DataEnd { end } => {
                ev.request_end(end);
                return 0;
            }
        };
        let mut t = tokens(line);
        let command = t.next().unwrap_or_default().to_ascii_lowercase();
        let args: Vec<&[u8]> = t.collect();
        let last_is = |word: &[u8]| args.last().is_some_and(|a| a.eq_ignore_ascii_case(word));
        let storage = matches!(&command[..], b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas");
        let (quiet, data, multi) = match &command[..] {
            // noreply is never answered, quit closes the connection: nothing
            // to time or to pair, only a value to pass over.
            _ if last_is(b"noreply") => {
                return if storage { number(args.get(3).copied()).map_or(0, |n| n + 2) } else { 0 }
            }
            b"quit" => return 0,
            _ if storage => (false, number(args.get(3).copied()).map(|n| n + 2), false),
            b"stats" => (false, None, true),
            b"ms" => (args.iter().skip(2).any(|f| *f == b"q"), number(args.get(1).copied()).map(|n| n + 2), false),
            b"mg" | b"md" | b"ma" | b"me" => (args.iter().skip(1).any(|f| *f == b"q"), None, false),
            b"get" | b"gets" | b"gat" | b"gats" => (false, None, true),
            _ => (false, None, false),
        };
        self.text.clear();
        self.text.extend_from_slice(&command);
        // The first key (gat and gats put the expiry first).
        let key = if matches!(&command[..], b"gat" | b"gats") { args.get(1) } else { args.first() };
        if let Some(key) = key.filter(|_| command != b"stats") {
            self.text.push(b' ');
            self.text.extend_from_slice(key);
        }
        let text = std::mem::take(&mut self.text);
        let retrieval = multi && command != b"stats";
        let pending = Pending { id: None, opaque: 0, opcode: 0, multi, retrieval, answered: false };
        self.request(at, &text, quiet, pending, ev);
        self.text = text;
        match data {
            Some(n) => n,
            None => {
                if !quiet {
                    ev.request_end(end);
                }
                0
            }
        }
    }

    /// The request a text answer beginning with `line` belongs to.
    fn text_target(&mut self, line: &[u8]) -> Option<Pending> {
        let front = self.pending.pop_front()?;
        if front.id.is_some() || line != b"MN" {
            return Some(front);
        }
        // The batch's `mn` answers: the quiet ones before it said nothing.
        while let Some(p) = self.pending.pop_front() {
            if p.id.is_some() {
                return Some(p);
            }
        }
        None
    }

    fn text_response(&mut self, piece: Piece, ev: &mut Events) -> u64 {
        let (at, end, line) = match piece {
            Piece::Line { at, end, line } => (at, end, line),
            Piece::DataEnd { end } => {
                if let Some(a) = self.answer.filter(|a| a.ends_with_data) {
                    self.finish(a, end, Outcome::Ok, ev);
                }
                return 0;
            }
        };
        let mut answer = match self.answer {
            Some(a) => a,
            None => {
                let Some(pending) = self.text_target(line) else { return 0 };
                if let Some(id) = pending.id {
                    ev.response_start(at, Some(id));
                }
                Answer { pending, at, hit: false, ends_with_data: false }
            }
        };
        let mut t = tokens(line);
        let first = t.next().unwrap_or_default();
        match first {
            b"VALUE" => {
                answer.hit = true;
                self.answer = Some(answer);
                return number(t.nth(2)).map_or(0, |n| n + 2);
            }
            b"VA" => {
                answer.hit = true;
                answer.ends_with_data = true;
                self.answer = Some(answer);
                return number(t.next()).map_or(0, |n| n + 2);
            }
            b"STAT" if answer.pending.multi => {
                self.answer = Some(answer);
                return 0;
            }
            _ => {}
        }
        let outcome = match first {
            b"END" if !answer.hit && answer.pending.retrieval => Outcome::No,
            b"NOT_STORED" | b"EXISTS" | b"NOT_FOUND" | b"EN" | b"NF" | b"NS" | b"EX" => Outcome::No,
            b"ERROR" | b"CLIENT_ERROR" => Outcome::Bad,
            b"SERVER_ERROR" => Outcome::Error,
            _ => Outcome::Ok,
        };
        self.finish(answer, end, outcome, ev);
        0
    }

    fn finish(&mut self, answer: Answer, end: usize, outcome: Outcome, ev: &mut Events) {
        self.answer = None;
        if let Some(id) = answer.pending.id {
            ev.response_end_id(answer.at, end, id, outcome);
        }
    }

    fn binary_request(&mut self, m: Message, ev: &mut Events) {
        let op = m.opcode();
        self.text.clear();
        self.text.extend_from_slice(opcode_name(op).as_bytes());
        if m.key_len() > 0 {
            self.text.push(b' ');
            self.text.extend_from_slice(m.key);
        }
        let text = std::mem::take(&mut self.text);
        let quiet = untimed_opcode(op);
        let pending =
            Pending { id: None, opaque: m.opaque(), opcode: op, multi: false, retrieval: false, answered: false };
        self.request(m.at, &text, quiet, pending, ev);
        self.text = text;
        if !quiet {
            ev.request_end(m.end);
        }
    }

    fn binary_response(&mut self, m: Message, ev: &mut Events) {
        let Some(k) = self.pending.iter().position(|p| p.opaque == m.opaque()) else { return };
        // Quiet requests before the answered one said nothing: success.
        let mut k = k;
        while k > 0 && self.pending[k - 1].id.is_none() {
            self.pending.remove(k - 1);
            k -= 1;
        }
        let p = self.pending[k];
        if let Some(id) = p.id.filter(|_| !p.answered) {
            ev.response_start(m.at, Some(id));
        }
        self.pending[k].answered = true;
        // STAT answers with one message per statistic, then one without a key.
        if p.opcode == STAT && m.key_len() > 0 {
            return;
        }
        self.pending.remove(k);
        if p.opcode == NOOP {
            self.pending.retain(|q| q.id.is_some());
        }
        let outcome = match m.status() {
            0 => Outcome::Ok,
            1 | 2 | 5 => Outcome::No,
            4 | 0x81 => Outcome::Bad,
            _ => Outcome::Error,
        };
        if let Some(id) = p.id {
            ev.response_end_id(m.at, m.end, id, outcome);
        }
    }
}

struct Memcached {
    text: [Text; 2],
    binary: [Prefixed<BINARY_HEADER>; 2],
    pairing: Pairing,
    /// Bytes were lost: the framing cannot be trusted any more.
    broken: bool,
}

impl Default for Memcached {
    fn default() -> Self {
        let (text, binary) = (Default::default(), [binary_framing(), binary_framing()]);
        Memcached { text, binary, pairing: Pairing::default(), broken: false }
    }
}

impl Parser for Memcached {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        let Memcached { text, binary, pairing, broken } = self;
        let Some(&first) = data.first().filter(|_| !*broken) else { return };
        let binary_magic = matches!(first, 0x80 | 0x81);
        let dialect = *pairing.dialect.get_or_insert(if binary_magic { Dialect::Binary } else { Dialect::Text });
        let d = dir as usize;
        match (dialect, dir) {
            (Dialect::Text, Direction::ToServer) => text[d].feed(data, |p| pairing.text_request(p, ev)),
            (Dialect::Text, Direction::ToClient) => text[d].feed(data, |p| pairing.text_response(p, ev)),
            (Dialect::Binary, Direction::ToServer) => binary[d].feed(data, body_length(0x80), |m| {
                pairing.binary_request(binary_message(&m), ev);
                true
            }),
            (Dialect::Binary, Direction::ToClient) => binary[d].feed(data, body_length(0x81), |m| {
                pairing.binary_response(binary_message(&m), ev);
                true
            }),
        }
    }

    /// Lost bytes break the framing: stop rather than guess.
    fn gap(&mut self, _dir: Direction, _len: usize, _ev: &mut Events) {
        self.broken = true;
    }

    fn end(&mut self, _dir: Direction, _ev: &mut Events) {}
}
