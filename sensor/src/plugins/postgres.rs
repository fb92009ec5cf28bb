//! PostgreSQL (5432): the startup and authentication is one transaction
//! (`PG_STARTUP`); then each simple query (`Q`), and each extended-protocol
//! batch up to its `Sync` (Parse/Bind/Describe/Execute/Sync), is one, timed
//! to the server's ReadyForQuery. Named by the statement's first keyword
//! (`PG_SELECT` …) through rules over the query text; outcome `error` when
//! an ErrorResponse came. An SSLRequest answered `S` means TLS follows:
//! the TLS plugin takes the rest of the connection.

use super::{Handover, Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "pg",
    ports: &[5432],
    transports: &[Transport::Tcp],
    detect: |b| {
        // SSLRequest, or a StartupMessage of protocol 3.0.
        let code = b.get(4..8).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        matches!(code, Some(80_877_103) | Some(196_608))
    },
    new_parser: |_| Box::<Postgres>::default(),
};

/// Query text kept for naming.
const TEXT_HEAD: usize = 256;
const SSL_REQUEST: u32 = 80_877_103;

/// Message framing of one direction: `[type] length(4, includes itself) payload`.
#[derive(Default)]
struct Framer {
    /// Header bytes seen of the current message (type byte, then length).
    header: [u8; 5],
    have: usize,
    /// Payload bytes still to come in the current message.
    remaining: u32,
    /// Head of a query's payload (Q, P).
    text: Vec<u8>,
}

/// A message boundary found while framing.
enum Frame<'a> {
    /// A message begins at this offset with this byte (its type, when typed).
    Begin { at: usize, first: u8 },
    /// A message of `kind` ends at this offset; `text` is its payload head.
    End { kind: u8, end: usize, text: &'a [u8], first_word: u32 },
}

impl Framer {
    /// Frames `data`; `typed` is false for the untyped startup messages.
    fn feed(&mut self, data: &[u8], typed: bool, mut on: impl FnMut(Frame) -> bool) {
        let header_len = if typed { 5 } else { 4 };
        let mut i = 0;
        while i < data.len() {
            if self.have == 0 && self.remaining == 0 && !on(Frame::Begin { at: i, first: data[i] }) {
                return;
            }
            if self.have < header_len {
                let take = (header_len - self.have).min(data.len() - i);
                self.header[self.have..self.have + take].copy_from_slice(&data[i..i + take]);
                self.have += take;
                i += take;
                if self.have < header_len {
                    return;
                }
                let l = &self.header[header_len - 4..header_len];
                self.remaining = u32::from_be_bytes([l[0], l[1], l[2], l[3]]).saturating_sub(4);
                self.text.clear();
            }
            let take = (self.remaining as usize).min(data.len() - i);
            let keep = take.min(TEXT_HEAD.saturating_sub(self.text.len()));
            self.text.extend_from_slice(&data[i..i + keep]);
            self.remaining -= take as u32;
            i += take;
            if self.remaining == 0 {
                let kind = if typed { self.header[0] } else { 0 };
                let first_word = self.text.get(..4).map_or(0, |w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
                self.have = 0;
                if !on(Frame::End { kind, end: i, text: &self.text, first_word }) {
                    return;
                }
            }
        }
    }
}

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum Phase {
    /// Before the StartupMessage (an SSLRequest may come first).
    #[default]
    Startup,
    /// SSLRequest sent: the server answers one byte.
    SslAnswer,
    /// Startup sent, authenticating until the first ReadyForQuery.
    Authenticating,
    Ready,
    /// The server accepted TLS: the TLS plugin takes the rest.
    Tls,
    /// A broken stream: not parsed any more.
    Stopped,
}

#[derive(Default)]
struct Postgres {
    phase: Phase,
    framers: [Framer; 2],
    /// A request is being received (extended protocol: until Sync).
    in_request: bool,
    /// The current extended request has been named (by its first Parse).
    named: bool,
    /// Requests waiting for their ReadyForQuery.
    awaiting: usize,
    in_response: bool,
    error: bool,
}

impl Postgres {
    fn client(&mut self, data: &[u8], ev: &mut Events) {
        let typed = !matches!(self.phase, Phase::Startup);
        let mut framer = std::mem::take(&mut self.framers[0]);
        framer.feed(data, typed, |frame| {
            match (self.phase, frame) {
                (Phase::Stopped | Phase::Tls | Phase::SslAnswer, _) => return false,
                (Phase::Startup, Frame::End { end, first_word, .. }) => {
                    if first_word == SSL_REQUEST {
                        self.phase = Phase::SslAnswer;
                    } else {
                        ev.request_start(0, 0);
                        ev.request_text(b"STARTUP");
                        ev.request_end(end);
                        self.awaiting = 1;
                        self.phase = Phase::Authenticating;
                    }
                }
                // Password and SASL messages belong to the startup.
                (Phase::Authenticating, _) | (Phase::Startup, Frame::Begin { .. }) => {}
                (Phase::Ready, Frame::Begin { at, first }) => {
                    // Terminate and COPY data are no requests of their own.
                    if !self.in_request && !matches!(first, b'X' | b'd' | b'c' | b'f') {
                        ev.request_start(at, 0);
                        self.in_request = true;
                        self.named = false;
                    }
                }
                (Phase::Ready, Frame::End { kind, end, text, .. }) => self.client_message(kind, end, text, ev),
            }
            true
        });
        self.framers[0] = framer;
    }

    fn client_message(&mut self, kind: u8, end: usize, text: &[u8], ev: &mut Events) {
        if !self.in_request {
            return;
        }
        let query = match kind {
            b'Q' => Some(text),
            // Parse: statement name, then the query.
            b'P' => text.iter().position(|b| *b == 0).map(|i| &text[i + 1..]),
            _ => None,
        };
        if let (Some(q), false) = (query, self.named) {
            let q = q.split(|b| *b == 0).next().unwrap_or_default();
            ev.request_text(q);
            self.named = true;
        }
        if matches!(kind, b'Q' | b'S') {
            if !self.named {
                ev.request_text(b"EXECUTE");
            }
            ev.request_end(end);
            self.in_request = false;
            self.awaiting += 1;
        }
    }

    fn server(&mut self, data: &[u8], ev: &mut Events) {
        if self.phase == Phase::SslAnswer {
            match data.first() {
                Some(b'S') => self.phase = Phase::Tls,
                Some(_) => {
                    self.phase = Phase::Startup;
                    self.server(&data[1..], ev);
                }
                None => {}
            }
            return;
        }
        let mut framer = std::mem::take(&mut self.framers[1]);
        framer.feed(data, true, |frame| {
            match frame {
                Frame::Begin { at, .. } => {
                    if self.awaiting > 0 && !self.in_response {
                        self.in_response = ev.response_start(at, None);
                        self.error = false;
                    }
                }
                Frame::End { kind: b'E', .. } => self.error = true,
                Frame::End { kind: b'Z', end, .. } => {
                    if self.in_response {
                        ev.response_end(end, if self.error { Outcome::Error } else { Outcome::Ok });
                    }
                    self.in_response = false;
                    self.awaiting = self.awaiting.saturating_sub(1);
                    self.phase = Phase::Ready;
                }
                Frame::End { .. } => {}
            }
            true
        });
        self.framers[1] = framer;
    }
}

impl Parser for Postgres {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        match (dir, self.phase) {
            (_, Phase::Stopped | Phase::Tls) => {}
            (Direction::ToServer, _) => self.client(data, ev),
            (Direction::ToClient, _) => self.server(data, ev),
        }
    }

    /// Lost bytes break the framing: stop rather than guess.
    fn gap(&mut self, _dir: Direction, _len: usize, _ev: &mut Events) {
        self.phase = Phase::Stopped;
    }

    /// A server that closes after an ErrorResponse (a refused login) has
    /// answered: the request failed rather than went unfinished.
    fn end(&mut self, dir: Direction, ev: &mut Events) {
        if dir == Direction::ToClient && self.in_response && self.error {
            ev.response_end(0, Outcome::Error);
            self.in_response = false;
        }
    }

    fn handover(&self) -> Option<Handover> {
        (self.phase == Phase::Tls).then_some(Handover::next_chunk("tls"))
    }
}
