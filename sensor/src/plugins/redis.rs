//! Redis (6379): RESP requests and replies, pipelined and paired in order,
//! named by command (`REDIS_GET` …), outcome `error` for error replies.
//! Values nest (arrays, maps, sets, pushes); bulk strings are passed over
//! by length. Inline commands (`PING\r\n`) are requests too.

use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "redis",
    ports: &[6379],
    transports: &[Transport::Tcp],
    detect: |b| b.starts_with(b"*") && b.get(1).is_some_and(u8::is_ascii_digit) && b.windows(3).any(|w| w == b"\r\n$"),
    new_parser: |_| Box::<Redis>::default(),
};

/// Deepest nesting followed; deeper values stop the parser (not plausible).
const MAX_DEPTH: usize = 32;
/// Header line bytes kept (type, length).
const LINE_HEAD: usize = 64;
/// Command name bytes kept.
const NAME_HEAD: usize = 32;

/// What one direction's value parser found in a chunk.
enum Value {
    Begin(usize),
    End { end: usize, error: bool },
}

/// Incremental RESP framing of one direction.
#[derive(Default)]
struct Framing {
    /// Elements still expected per open aggregate, innermost last.
    open: Vec<u64>,
    line: Vec<u8>,
    in_line: bool,
    /// Bulk bytes (and their CRLF) still to pass over.
    bulk: u64,
    /// The bulk being passed over is the command name: keep its head.
    bulk_is_name: bool,
    /// The top-level value began with an error type.
    error: bool,
    /// First bulk string of the current top-level value (the command).
    name: Vec<u8>,
    broken: bool,
}

impl Framing {
    fn feed(&mut self, data: &[u8], inline_allowed: bool, mut on: impl FnMut(Value, &[u8])) {
        let mut i = 0;
        while i < data.len() && !self.broken {
            if self.bulk > 0 {
                let take = self.bulk.min((data.len() - i) as u64) as usize;
                if self.bulk_is_name {
                    let keep = take.min(NAME_HEAD.saturating_sub(self.name.len()));
                    self.name.extend_from_slice(&data[i..i + keep]);
                }
                self.bulk -= take as u64;
                i += take;
                if self.bulk == 0 {
                    self.bulk_is_name = false;
                    if let Some(end) = self.element_done(i) {
                        on(end, &self.name);
                    }
                }
                continue;
            }
            if !self.in_line {
                self.in_line = true;
                self.line.clear();
                if self.open.is_empty() {
                    self.error = matches!(data[i], b'-' | b'!');
                    self.name.clear();
                    on(Value::Begin(i), &[]);
                }
            }
            let Some(nl) = memchr::memchr(b'\n', &data[i..]) else {
                let keep = (data.len() - i).min(LINE_HEAD.saturating_sub(self.line.len()));
                self.line.extend_from_slice(&data[i..i + keep]);
                return;
            };
            let keep = (nl + 1).min(LINE_HEAD.saturating_sub(self.line.len()));
            self.line.extend_from_slice(&data[i..i + keep]);
            i += nl + 1;
            self.in_line = false;
            if let Some(end) = self.header(i, inline_allowed) {
                on(end, &self.name);
            }
        }
    }

    /// A header line ended at `at`; returns the end of a top-level value.
    fn header(&mut self, at: usize, inline_allowed: bool) -> Option<Value> {
        let line = std::mem::take(&mut self.line);
        let body = line.strip_suffix(b"\r\n").unwrap_or(&line);
        let (&kind, rest) = body.split_first()?;
        let number = || std::str::from_utf8(rest).ok().and_then(|n| n.parse::<i64>().ok());
        let result = match kind {
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = number().unwrap_or(-1);
                // A map holds pairs; an attribute is a map followed by its value.
                let n = match kind {
                    b'%' => n.saturating_mul(2),
                    b'|' => n.saturating_mul(2).saturating_add(1),
                    _ => n,
                };
                if n <= 0 {
                    return self.element_done(at);
                }
                if self.open.len() >= MAX_DEPTH {
                    self.broken = true;
                    return None;
                }
                self.open.push(n as u64);
                None
            }
            b'$' | b'=' | b'!' => match number() {
                Some(len) if len >= 0 => {
                    self.bulk = len as u64 + 2;
                    self.bulk_is_name = self.name.is_empty() && self.open.len() == 1;
                    None
                }
                _ => self.element_done(at),
            },
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => self.element_done(at),
            _ if inline_allowed && self.open.is_empty() => {
                self.name = body.split(|b| *b == b' ').next().unwrap_or_default().to_vec();
                self.element_done(at)
            }
            _ => {
                self.broken = true;
                None
            }
        };
        self.line = line;
        result
    }

    /// An element ended at `at`: close the aggregates it completes; returns
    /// the end of a top-level value.
    fn element_done(&mut self, at: usize) -> Option<Value> {
        while let Some(top) = self.open.last_mut() {
            *top -= 1;
            if *top > 0 {
                return None;
            }
            self.open.pop();
        }
        Some(Value::End { end: at, error: self.error })
    }
}

#[derive(Default)]
struct Redis {
    framing: [Framing; 2],
}

impl Parser for Redis {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        let framing = &mut self.framing[dir as usize];
        match dir {
            Direction::ToServer => framing.feed(data, true, |v, name| match v {
                Value::Begin(at) => ev.request_start(at, 0),
                Value::End { end, .. } => {
                    ev.request_text(name);
                    ev.request_end(end);
                }
            }),
            Direction::ToClient => framing.feed(data, false, |v, _| match v {
                Value::Begin(at) => {
                    ev.response_start(at, None);
                }
                Value::End { end, error } => ev.response_end(end, if error { Outcome::Error } else { Outcome::Ok }),
            }),
        }
    }

    /// Lost bytes break the framing: stop rather than guess.
    fn gap(&mut self, dir: Direction, _len: usize, _ev: &mut Events) {
        self.framing[dir as usize].broken = true;
    }

    fn end(&mut self, _dir: Direction, _ev: &mut Events) {}
}
