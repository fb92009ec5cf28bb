//! MySQL and MariaDB (3306): the login (client handshake response to the
//! server's OK or ERR, through any auth switch) is one transaction
//! (`MYSQL_LOGIN`); then each command to the end of its response: OK or
//! ERR, or a whole result set (column count, column definitions, the EOF
//! that classic servers send after them, rows, the final EOF/OK), following
//! further result sets while the server flags more. COM_QUERY is named by
//! its statement keyword (`MYSQL_SELECT` …) through rules over the SQL
//! text; prepared statements as `PREPARE <sql>` and `EXECUTE`; other
//! commands by name. Outcome `error` on an ERR packet. A client that asks
//! for TLS hands the rest of the connection to the TLS plugin.
//!
//! Framing: packets are `length(3, LE) sequence(1) payload`; only the first
//! `HEAD` bytes of a payload are kept (SQL text for naming, status flags).

use super::{Handover, Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "mysql",
    ports: &[3306],
    transports: &[Transport::Tcp],
    detect: is_handshake_response,
    new_parser: |_| Box::<Mysql>::default(),
};

/// Payload bytes kept per packet.
const HEAD: usize = 256;
/// A payload of this length continues in the next packet.
const MAX_PAYLOAD: usize = 0xff_ffff;
const CLIENT_PROTOCOL_41: u32 = 0x0200;
const CLIENT_SSL: u32 = 0x0800;
const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;
const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
const OK: u8 = 0x00;
const ERR: u8 = 0xff;
const EOF: u8 = 0xfe;

/// A client's first packet: sequence 1, protocol 4.1 capabilities.
fn is_handshake_response(b: &[u8]) -> bool {
    let len = b.get(..3).map_or(0, |l| usize::from(l[0]) | usize::from(l[1]) << 8 | usize::from(l[2]) << 16);
    b.len() >= 8 && b[3] == 1 && len >= 32 && capabilities(&b[4..]) & CLIENT_PROTOCOL_41 != 0
}

fn capabilities(payload: &[u8]) -> u32 {
    payload.get(..4).map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// Packet framing of one direction.
#[derive(Default)]
struct Packets {
    header: [u8; 4],
    have: usize,
    /// Payload bytes still to come.
    remaining: usize,
    /// The current logical packet continues a maximal one.
    continued: bool,
    /// Length of the current payload.
    len: usize,
    head: Vec<u8>,
}

/// A packet boundary found while framing.
enum Packet<'a> {
    /// A packet begins: its offset, sequence number and first payload byte
    /// (when this piece of data holds them).
    Begin { at: usize, seq: u8, first: Option<u8> },
    /// A whole packet: its end offset, payload length and head.
    End { end: usize, len: usize, head: &'a [u8] },
}

impl Packets {
    fn feed(&mut self, data: &[u8], mut on: impl FnMut(Packet) -> bool) {
        let mut i = 0;
        while i < data.len() {
            if self.have < 4 {
                let begin = Packet::Begin {
                    at: i,
                    seq: data.get(i + 3).copied().unwrap_or(0),
                    first: data.get(i + 4).copied(),
                };
                if self.have == 0 && !self.continued && !on(begin) {
                    return;
                }
                let take = (4 - self.have).min(data.len() - i);
                self.header[self.have..self.have + take].copy_from_slice(&data[i..i + take]);
                self.have += take;
                i += take;
                if self.have < 4 {
                    return;
                }
                self.remaining =
                    usize::from(self.header[0]) | usize::from(self.header[1]) << 8 | usize::from(self.header[2]) << 16;
                if !self.continued {
                    self.len = 0;
                    self.head.clear();
                }
                self.len += self.remaining;
                self.continued = self.remaining == MAX_PAYLOAD;
            }
            let take = self.remaining.min(data.len() - i);
            let keep = take.min(HEAD.saturating_sub(self.head.len()));
            self.head.extend_from_slice(&data[i..i + keep]);
            self.remaining -= take;
            i += take;
            if self.remaining == 0 {
                self.have = 0;
                if !self.continued && !on(Packet::End { end: i, len: self.len, head: &self.head }) {
                    return;
                }
            }
        }
    }
}

/// A length-encoded integer at `at`: (value, bytes used).
fn lenenc(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let n = match *b.get(at)? {
        x @ 0..=0xfa => return Some((u64::from(x), 1)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let bytes = b.get(at + 1..at + 1 + n)?;
    Some((bytes.iter().rev().fold(0, |acc, x| acc << 8 | u64::from(*x)), 1 + n))
}

/// The status flags of an OK packet, or of an EOF (short: classic layout).
fn status(head: &[u8], len: usize) -> u16 {
    let at = if head.first() == Some(&EOF) && len < 9 {
        Some(3)
    } else {
        lenenc(head, 1).and_then(|(_, a)| lenenc(head, 1 + a).map(|(_, b)| 1 + a + b))
    };
    at.and_then(|at| head.get(at..at + 2)).map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

/// What the server's answer to the current command looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// OK or ERR (or, for a few commands, one packet of text).
    Single,
    /// A result set's column count, or OK/ERR.
    Header,
    /// Column definitions still to come.
    Columns(u64),
    /// After the definitions: a classic EOF, or (deprecated EOF) the rows.
    AfterColumns,
    Rows,
    /// COM_FIELD_LIST: definitions up to an EOF.
    FieldList,
    /// COM_STMT_PREPARE: its OK, then this many definitions and EOFs.
    Prepare,
    PrepareDefinitions(u64),
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the client's handshake response.
    #[default]
    Greeting,
    /// Logging in: until the server's OK or ERR.
    Login,
    Ready,
    /// The client asked for TLS: the TLS plugin takes the rest.
    Tls,
    /// Replication or a broken stream: not parsed any more.
    Stopped,
}

#[derive(Default)]
struct Mysql {
    phase: Phase,
    packets: [Packets; 2],
    /// Capabilities of the server's greeting and of the client's response.
    server_caps: u32,
    client_caps: u32,
    /// The answer awaited, while a command is open.
    expect: Option<Expect>,
    in_response: bool,
    error: bool,
}

impl Mysql {
    fn deprecate_eof(&self) -> bool {
        self.server_caps & self.client_caps & CLIENT_DEPRECATE_EOF != 0
    }

    fn client(&mut self, data: &[u8], ev: &mut Events) {
        let mut packets = std::mem::take(&mut self.packets[0]);
        packets.feed(data, |p| {
            match p {
                Packet::Begin { at, seq, first } => {
                    // A command starts with sequence 0 (also when the capture
                    // began after the login); a new one ends what is open.
                    if seq == 0 && matches!(self.phase, Phase::Ready | Phase::Greeting) {
                        self.phase = Phase::Ready;
                        self.finish(0, ev);
                        // QUIT, STMT_CLOSE, STMT_SEND_LONG_DATA get no answer.
                        if !matches!(first, Some(0x01 | 0x18 | 0x19)) {
                            ev.request_start(at, 0);
                            self.expect = Some(Expect::Single);
                        }
                    } else if self.phase == Phase::Greeting {
                        ev.request_start(at, 0);
                    }
                }
                Packet::End { end, len, head } => match self.phase {
                    Phase::Greeting => {
                        self.client_caps = capabilities(head);
                        if len == 32 && self.client_caps & CLIENT_SSL != 0 {
                            self.phase = Phase::Tls;
                            return false;
                        }
                        ev.request_text(b"LOGIN");
                        ev.request_end(end);
                        self.phase = Phase::Login;
                        self.expect = Some(Expect::Single);
                    }
                    Phase::Ready if self.expect.is_some() && !self.in_response => self.command(head, end, ev),
                    _ => {}
                },
            }
            !matches!(self.phase, Phase::Stopped | Phase::Tls)
        });
        self.packets[0] = packets;
    }

    /// Names a command and sets what its answer looks like.
    fn command(&mut self, head: &[u8], end: usize, ev: &mut Events) {
        let (expect, name): (Option<Expect>, &[u8]) = match head.first() {
            Some(0x03) => (Some(Expect::Header), &head[1..]),
            Some(0x16) => (Some(Expect::Prepare), b"PREPARE"),
            Some(0x17) => (Some(Expect::Header), b"EXECUTE"),
            Some(0x1c) => (Some(Expect::Rows), b"FETCH"),
            Some(0x0a) => (Some(Expect::Header), b"PROCESS_INFO"),
            Some(0x04) => (Some(Expect::FieldList), b"FIELD_LIST"),
            Some(0x09) => (Some(Expect::Single), b"STATISTICS"),
            Some(0x02) => (Some(Expect::Single), b"INIT_DB"),
            Some(0x0e) => (Some(Expect::Single), b"PING"),
            Some(0x11) => (Some(Expect::Single), b"CHANGE_USER"),
            Some(0x1a) => (Some(Expect::Single), b"STMT_RESET"),
            Some(0x1b) => (Some(Expect::Single), b"SET_OPTION"),
            Some(0x1f) => (Some(Expect::Single), b"RESET_CONNECTION"),
            Some(0x05..=0x08 | 0x0c | 0x0d) => (Some(Expect::Single), b"ADMIN"),
            // A command without answer whose first byte came late: it
            // stays unanswered.
            Some(0x01 | 0x18 | 0x19) => (None, b"NO_ANSWER"),
            // Replication and the rest: not a request/response stream.
            _ => {
                self.phase = Phase::Stopped;
                (None, b"OTHER")
            }
        };
        if head.first() == Some(&0x16) {
            let mut text = b"PREPARE ".to_vec();
            text.extend_from_slice(&head[1..]);
            ev.request_text(&text);
        } else {
            ev.request_text(name);
        }
        ev.request_end(end);
        self.expect = expect;
    }

    fn server(&mut self, data: &[u8], ev: &mut Events) {
        let mut packets = std::mem::take(&mut self.packets[1]);
        packets.feed(data, |p| {
            match p {
                Packet::Begin { at, .. } => {
                    if self.expect.is_some() && !self.in_response && self.phase != Phase::Greeting {
                        self.in_response = ev.response_start(at, None);
                        self.error = false;
                    }
                }
                Packet::End { end, len, head } => self.server_packet(end, len, head, ev),
            }
            self.phase != Phase::Stopped
        });
        self.packets[1] = packets;
    }

    fn server_packet(&mut self, end: usize, len: usize, head: &[u8], ev: &mut Events) {
        let first = head.first().copied().unwrap_or(0);
        if self.phase == Phase::Greeting {
            // The greeting: protocol 10, version, thread id, 8 bytes of
            // scramble, filler, capabilities (low), charset, status, (high).
            if first == 10 {
                if let Some(nul) = head.iter().position(|b| *b == 0) {
                    let at = nul + 1 + 4 + 8 + 1;
                    if let (Some(lo), Some(hi)) = (head.get(at..at + 2), head.get(at + 5..at + 7)) {
                        self.server_caps = u32::from(u16::from_le_bytes([lo[0], lo[1]]))
                            | u32::from(u16::from_le_bytes([hi[0], hi[1]])) << 16;
                    }
                }
            }
            return;
        }
        let Some(expect) = self.expect else { return };
        if first == ERR {
            self.error = true;
            return self.finish(end, ev);
        }
        let terminator = first == EOF && len < MAX_PAYLOAD;
        let next = match expect {
            // Login: an auth switch (0xfe) or more auth data (0x01) goes on.
            _ if self.phase == Phase::Login => (first == OK).then_some(None),
            Expect::Single => Some(None),
            Expect::Header => match first {
                OK => Some((status(head, len) & SERVER_MORE_RESULTS_EXISTS != 0).then_some(Expect::Header)),
                // LOCAL INFILE: the client sends a file, then the server OKs.
                0xfb => Some(Some(Expect::Single)),
                _ => Some(Some(match lenenc(head, 0) {
                    Some((n, _)) if n > 0 => Expect::Columns(n),
                    _ => Expect::AfterColumns,
                })),
            },
            Expect::Columns(n) => Some(Some(if n > 1 { Expect::Columns(n - 1) } else { Expect::AfterColumns })),
            Expect::AfterColumns if terminator && len < 9 => Some(Some(Expect::Rows)),
            Expect::AfterColumns | Expect::Rows if terminator => {
                Some((status(head, len) & SERVER_MORE_RESULTS_EXISTS != 0).then_some(Expect::Header))
            }
            Expect::AfterColumns | Expect::Rows => Some(Some(Expect::Rows)),
            Expect::FieldList => Some(if terminator { None } else { Some(Expect::FieldList) }),
            Expect::Prepare => {
                // stmt id(4), columns(2), params(2).
                let count = |at: usize| head.get(at..at + 2).map_or(0, |c| u64::from(u16::from_le_bytes([c[0], c[1]])));
                let (columns, params) = (count(5), count(7));
                let eofs = if self.deprecate_eof() { 0 } else { u64::from(columns > 0) + u64::from(params > 0) };
                let left = columns + params + eofs;
                Some((left > 0).then_some(Expect::PrepareDefinitions(left)))
            }
            Expect::PrepareDefinitions(n) => Some((n > 1).then_some(Expect::PrepareDefinitions(n - 1))),
        };
        match next {
            Some(Some(e)) => self.expect = Some(e),
            Some(None) => self.finish(end, ev),
            None => {}
        }
    }

    /// Ends the open response (at `end` of the current server data; 0 when
    /// a new command arrives first) and the command.
    fn finish(&mut self, end: usize, ev: &mut Events) {
        if self.in_response {
            ev.response_end(end, if self.error { Outcome::Error } else { Outcome::Ok });
        }
        if self.phase == Phase::Login {
            self.phase = Phase::Ready;
        }
        self.in_response = false;
        self.expect = None;
    }
}

impl Parser for Mysql {
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

    fn end(&mut self, _dir: Direction, _ev: &mut Events) {}

    fn handover(&self) -> Option<Handover> {
        (self.phase == Phase::Tls).then_some(Handover::next_chunk("tls"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_encoded_integers() {
        assert_eq!(lenenc(&[0x05], 0), Some((5, 1)));
        assert_eq!(lenenc(&[0xfc, 0x34, 0x12], 0), Some((0x1234, 3)));
        assert_eq!(lenenc(&[0xfd, 1, 2, 3], 0), Some((0x030201, 4)));
        assert_eq!(lenenc(&[0xfc, 1], 0), None);
    }

    #[test]
    fn status_of_ok_and_eof() {
        // OK: header, affected rows 0, last id 0, status 0x0008.
        assert_eq!(status(&[0x00, 0x00, 0x00, 0x08, 0x00, 0, 0], 7), SERVER_MORE_RESULTS_EXISTS);
        // Classic EOF: header, warnings, status 0x0002.
        assert_eq!(status(&[0xfe, 0, 0, 0x02, 0x00], 5), 0x0002);
    }

    #[test]
    fn packets_straddle_segments() {
        let mut p = Packets::default();
        let mut ends = Vec::new();
        let stream = [3u8, 0, 0, 0, 0x03, b'x', b'y', 1, 0, 0, 1, 0x0e];
        for piece in stream.chunks(5) {
            p.feed(piece, |e| {
                if let Packet::End { len, head, .. } = e {
                    ends.push((len, head.to_vec()));
                }
                true
            });
        }
        assert_eq!(ends, vec![(3, vec![0x03, b'x', b'y']), (1, vec![0x0e])]);
    }
}
