//! HTTP/1.x: keep-alive, true pipelining (several requests in one segment),
//! Content-Length, chunked and close-delimited bodies, 1xx interim responses,
//! HEAD / 204 / 304 without bodies, Upgrade and CONNECT (the connection then
//! becomes an opaque tunnel: no more transactions are invented from it;
//! `Upgrade: h2c` and an HTTP/2 preface hand it to the `http2` plugin).
//!
//! Responses pair with requests in order, as HTTP/1.x requires. The parser
//! buffers only message heads (at most [`MAX_HEAD`] bytes per direction);
//! bodies are counted, never stored. After a gap it resynchronises at the
//! next segment that starts a message; a gap at a message boundary on the
//! server side consumed a whole response, which is reported lost.

use super::{Handover, Parser, Plugin, Transport};
use crate::timing::{Events, MAX_OPEN};
use crate::transaction::Outcome;
use crate::Direction;
use std::collections::VecDeque;

pub static PLUGIN: Plugin = Plugin {
    name: "http",
    ports: &[80, 8000, 8008, 8080, 8081, 8888, 3128],
    transports: &[Transport::Tcp],
    detect: looks_like_request,
    new_parser: |_| Box::<Http>::default(),
};

/// Longest message head kept; longer heads are named from their start.
const MAX_HEAD: usize = 16 * 1024;
/// Longest chunk-size or trailer line accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// A method token (upper-case letters, '-' or '_') and a space: how every
/// HTTP/1.x request starts.
fn looks_like_request(data: &[u8]) -> bool {
    let token = data.iter().take_while(|b| b.is_ascii_uppercase() || **b == b'-' || **b == b'_').count();
    (1..=16).contains(&token) && data.get(token) == Some(&b' ') && data.get(token + 1).is_some_and(|b| *b > b' ')
}

/// True when `data` starts like a status line (or is a prefix of "HTTP/").
fn looks_like_response(data: &[u8]) -> bool {
    let n = data.len().min(5);
    n > 0 && data[..n] == b"HTTP/"[..n]
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line; `line` bytes of it seen, `size` so far.
    Size {
        size: u64,
        digits_done: bool,
        line: usize,
    },
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// Trailer lines after the last chunk; `line` bytes of the current one.
    Trailer {
        line: usize,
    },
}

#[derive(Debug)]
struct BadBody;

impl Body {
    fn chunked() -> Body {
        Body::Chunked(Chunk::Size { size: 0, digits_done: false, line: 0 })
    }

    /// Consumes body bytes from `data`: (bytes used, body complete).
    fn consume(&mut self, data: &[u8]) -> Result<(usize, bool), BadBody> {
        match self {
            Body::Length(n) => {
                let used = (*n).min(data.len() as u64);
                *n -= used;
                Ok((used as usize, *n == 0))
            }
            Body::UntilClose => Ok((data.len(), false)),
            Body::Chunked(state) => {
                let mut i = 0;
                while i < data.len() {
                    let b = data[i];
                    match state {
                        Chunk::Size { size, digits_done, line } => {
                            *line += 1;
                            if *line > MAX_CHUNK_LINE {
                                return Err(BadBody);
                            }
                            match (b, (b as char).to_digit(16)) {
                                (b'\n', _) if *line > 1 => {
                                    *state = if *size == 0 { Chunk::Trailer { line: 0 } } else { Chunk::Data(*size) };
                                }
                                (_, Some(d)) if !*digits_done => {
                                    *size =
                                        size.checked_mul(16).and_then(|s| s.checked_add(u64::from(d))).ok_or(BadBody)?
                                }
                                (_, _) if *line == 1 => return Err(BadBody),
                                _ => *digits_done = true,
                            }
                            i += 1;
                        }
                        Chunk::Data(n) => {
                            let used = (*n).min((data.len() - i) as u64);
                            *n -= used;
                            i += used as usize;
                            if *n == 0 {
                                *state = Chunk::DataEnd;
                            }
                        }
                        Chunk::DataEnd => {
                            i += 1;
                            match b {
                                b'\r' => {}
                                b'\n' => *state = Chunk::Size { size: 0, digits_done: false, line: 0 },
                                _ => return Err(BadBody),
                            }
                        }
                        Chunk::Trailer { line } => {
                            i += 1;
                            match b {
                                b'\r' => {}
                                b'\n' if *line == 0 => return Ok((i, true)),
                                b'\n' => *line = 0,
                                _ if *line >= MAX_CHUNK_LINE => return Err(BadBody),
                                _ => *line += 1,
                            }
                        }
                    }
                }
                Ok((i, false))
            }
        }
    }

    /// Skips `len` bytes the capture lost: (bytes used, body complete).
    fn skip(&mut self, len: usize) -> Result<(usize, bool), BadBody> {
        match self {
            Body::Length(n) => {
                let used = (*n).min(len as u64);
                *n -= used;
                Ok((used as usize, *n == 0))
            }
            Body::UntilClose => Ok((len, false)),
            Body::Chunked(Chunk::Data(n)) if *n >= len as u64 => {
                *n -= len as u64;
                if *n == 0 {
                    *self = Body::Chunked(Chunk::DataEnd);
                }
                Ok((len, false))
            }
            Body::Chunked(_) => Err(BadBody),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Between messages.
    Idle,
    /// Collecting a message head into the buffer.
    Head,
    Body(Body),
    /// Lost track (gap, garbage): wait for a segment that starts a message.
    Resync,
    /// After Upgrade or CONNECT: not HTTP any more.
    Tunnel,
}

/// What the response parser must know about the request it answers.
#[derive(Clone, Copy, Debug, Default)]
struct RequestMeta {
    head: bool,
    connect: bool,
}

#[derive(Debug)]
struct Side {
    phase: Phase,
    head: Vec<u8>,
}

impl Default for Side {
    fn default() -> Side {
        Side { phase: Phase::Idle, head: Vec::new() }
    }
}

impl Side {
    /// Looks for the end of the head being collected in `data`; returns how
    /// many bytes of `data` belong to the head once it is complete. A head
    /// that arrives whole in one chunk is never copied (`head` stays empty,
    /// see [`Side::head`]); one split across chunks is gathered in `head`.
    fn collect_head(&mut self, data: &[u8]) -> Option<usize> {
        let end = match self.head.len() {
            0 => head_end(data),
            n => {
                // The blank line may straddle the chunk boundary.
                let mut joint = [0u8; 6];
                let tail = &self.head[n.saturating_sub(3)..];
                let m = data.len().min(3);
                joint[..tail.len()].copy_from_slice(tail);
                joint[tail.len()..tail.len() + m].copy_from_slice(&data[..m]);
                head_end(&joint[..tail.len() + m])
                    .filter(|e| *e > tail.len())
                    .map(|e| e - tail.len())
                    .or_else(|| head_end(data))
            }
        };
        if self.head.is_empty() && end.is_some() {
            return end;
        }
        let take = end.unwrap_or(data.len());
        let room = MAX_HEAD.saturating_sub(self.head.len());
        self.head.extend_from_slice(&data[..take.min(room)]);
        end
    }

    /// The complete head: `used` bytes at the start of `data`, or the gathered ones.
    fn head<'a>(&'a self, data: &'a [u8], used: usize) -> &'a [u8] {
        if self.head.is_empty() {
            &data[..used]
        } else {
            &self.head
        }
    }
}

/// Offset just past the blank line ending a head ("\r\n\r\n" or "\n\n").
fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', buf).find_map(|i| match buf.get(i + 1) {
        Some(b'\n') => Some(i + 2),
        Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

fn header_is(line: &[u8], name: &[u8]) -> bool {
    line.len() > name.len() && line[name.len()] == b':' && line[..name.len()].eq_ignore_ascii_case(name)
}

fn header_value(line: &[u8]) -> &[u8] {
    line.iter().position(|b| *b == b':').map_or(&[][..], |c| line[c + 1..].trim_ascii())
}

/// Parsed facts of a message head.
#[derive(Debug, Default)]
struct Head {
    status: Option<u16>,
    method_head: bool,
    method_connect: bool,
    content_length: Option<u64>,
    chunked: bool,
    /// `Upgrade: h2c`.
    upgrade_h2c: bool,
}

fn parse_head(head: &[u8]) -> Head {
    let mut lines = head.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let mut h = Head::default();
    if first.starts_with(b"HTTP/") {
        h.status =
            first.split(|b| *b == b' ').nth(1).and_then(|s| std::str::from_utf8(s).ok()).and_then(|s| s.parse().ok());
    } else {
        h.method_head = first.starts_with(b"HEAD ");
        h.method_connect = first.starts_with(b"CONNECT ");
    }
    for line in lines {
        // Only two headers matter: test the first letter before comparing.
        match line.first().map(u8::to_ascii_lowercase) {
            Some(b'c') if header_is(line, b"content-length") => {
                h.content_length = std::str::from_utf8(header_value(line)).ok().and_then(|v| v.parse().ok());
            }
            Some(b't') if header_is(line, b"transfer-encoding") => {
                let v = header_value(line);
                h.chunked = v.len() >= 7 && v[v.len() - 7..].eq_ignore_ascii_case(b"chunked");
            }
            Some(b'u') if header_is(line, b"upgrade") => {
                h.upgrade_h2c = header_value(line).eq_ignore_ascii_case(b"h2c")
            }
            _ => {}
        }
    }
    h
}

#[derive(Default)]
struct Http {
    requests: Side,
    responses: Side,
    /// Requests whose response head has not been parsed yet, oldest first.
    pending: VecDeque<RequestMeta>,
    /// A response transaction is open (between its first byte and its end,
    /// including after 1xx interim responses).
    in_response: bool,
    status: Option<u16>,
    /// HTTP/2 from this offset of the last chunk (a preface, or after the
    /// 101 of `Upgrade: h2c`).
    to_http2: Option<usize>,
}

impl Http {
    fn tunnel(&mut self) {
        self.requests.phase = Phase::Tunnel;
        self.responses.phase = Phase::Tunnel;
    }

    fn requests(&mut self, data: &[u8], ev: &mut Events) {
        let mut i = 0;
        while i < data.len() {
            let side = &mut self.requests;
            match &mut side.phase {
                Phase::Idle => {
                    i += data[i..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                    if i == data.len() {
                        break;
                    }
                    // Whatever a client sends at a message boundary is a request
                    // to the server, even a malformed one (it answers 400).
                    if self.in_response && self.responses.phase == Phase::Resync {
                        // Lost track of the response (gap, snapshot length): a
                        // new request says it is over.
                        self.end_response(0, ev);
                    }
                    if data[i..].starts_with(&super::http2::PREFACE[..14]) {
                        // Prior knowledge: the preface, not a request.
                        self.to_http2 = Some(i);
                        self.tunnel();
                        break;
                    }
                    let side = &mut self.requests;
                    ev.request_start(i, 0);
                    side.head.clear();
                    side.phase = Phase::Head;
                }
                Phase::Head => {
                    let Some(used) = side.collect_head(&data[i..]) else {
                        if side.head.len() >= MAX_HEAD {
                            ev.request_text(&side.head);
                            side.phase = Phase::Resync;
                        }
                        break;
                    };
                    let text = side.head(&data[i..], used);
                    ev.request_text(text);
                    let head = parse_head(text);
                    i += used;
                    if self.pending.len() >= MAX_OPEN {
                        self.pending.pop_front();
                    }
                    self.pending.push_back(RequestMeta { head: head.method_head, connect: head.method_connect });
                    side.phase = match (head.chunked, head.content_length) {
                        (true, _) => Phase::Body(Body::chunked()),
                        (false, Some(n)) if n > 0 => Phase::Body(Body::Length(n)),
                        _ => {
                            ev.request_end(i);
                            Phase::Idle
                        }
                    };
                }
                Phase::Body(body) => match body.consume(&data[i..]) {
                    Ok((used, done)) => {
                        i += used;
                        if done {
                            ev.request_end(i);
                            side.phase = Phase::Idle;
                        }
                    }
                    Err(BadBody) => side.phase = Phase::Resync,
                },
                Phase::Resync => {
                    if i == 0 && looks_like_request(data) {
                        side.phase = Phase::Idle;
                    } else {
                        break;
                    }
                }
                Phase::Tunnel => break,
            }
        }
    }

    fn end_response(&mut self, at: usize, ev: &mut Events) {
        if self.in_response {
            ev.response_end(at, self.status.map_or(Outcome::Incomplete, Outcome::Status));
        }
        self.in_response = false;
        self.status = None;
        self.responses.phase = Phase::Idle;
    }

    fn responses(&mut self, data: &[u8], ev: &mut Events) {
        let mut i = 0;
        while i < data.len() {
            let side = &mut self.responses;
            match &mut side.phase {
                Phase::Idle => {
                    i += data[i..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                    if i == data.len() {
                        break;
                    }
                    if !looks_like_response(&data[i..]) {
                        side.phase = Phase::Resync;
                        continue;
                    }
                    if !self.in_response {
                        ev.response_start(i, None);
                        self.in_response = true;
                    }
                    side.head.clear();
                    side.phase = Phase::Head;
                }
                Phase::Head => {
                    let Some(used) = side.collect_head(&data[i..]) else {
                        if side.head.len() >= MAX_HEAD {
                            side.phase = Phase::Resync;
                        }
                        break;
                    };
                    let head = parse_head(side.head(&data[i..], used));
                    i += used;
                    self.status = head.status;
                    let status = head.status.unwrap_or(0);
                    if (100..200).contains(&status) && status != 101 {
                        // Interim response: the final one follows in the same transaction.
                        side.phase = Phase::Idle;
                        continue;
                    }
                    let request = self.pending.pop_front().unwrap_or_default();
                    if status == 101 && head.upgrade_h2c {
                        // The request goes on as HTTP/2's stream 1.
                        self.to_http2 = Some(i);
                        self.tunnel();
                        break;
                    }
                    if status == 101 || (request.connect && (200..300).contains(&status)) {
                        self.end_response(i, ev);
                        self.tunnel();
                        break;
                    }
                    let no_body = request.head || status == 204 || status == 304;
                    match (no_body, head.chunked, head.content_length) {
                        (true, _, _) | (false, false, Some(0)) => self.end_response(i, ev),
                        (false, true, _) => side.phase = Phase::Body(Body::chunked()),
                        (false, false, Some(n)) => side.phase = Phase::Body(Body::Length(n)),
                        (false, false, None) => side.phase = Phase::Body(Body::UntilClose),
                    }
                }
                Phase::Body(body) => match body.consume(&data[i..]) {
                    Ok((used, done)) => {
                        i += used;
                        if done {
                            self.end_response(i, ev);
                        }
                    }
                    Err(BadBody) => side.phase = Phase::Resync,
                },
                Phase::Resync => {
                    if i == 0 && data.starts_with(b"HTTP/1.") {
                        // The previous response ends where the next one starts.
                        self.end_response(0, ev);
                    } else {
                        break;
                    }
                }
                Phase::Tunnel => break,
            }
        }
    }
}

impl Parser for Http {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        match dir {
            Direction::ToServer => self.requests(data, ev),
            Direction::ToClient => self.responses(data, ev),
        }
    }

    fn gap(&mut self, dir: Direction, len: usize, ev: &mut Events) {
        match dir {
            Direction::ToServer => {
                let side = &mut self.requests;
                side.phase = match std::mem::replace(&mut side.phase, Phase::Resync) {
                    Phase::Head => {
                        ev.request_text(&side.head);
                        Phase::Resync
                    }
                    Phase::Body(mut body) => match body.skip(len) {
                        Ok((used, true)) => {
                            ev.request_end(used);
                            if used == len {
                                Phase::Idle
                            } else {
                                Phase::Resync
                            }
                        }
                        Ok((_, false)) => Phase::Body(body),
                        Err(BadBody) => Phase::Resync,
                    },
                    Phase::Tunnel => Phase::Tunnel,
                    Phase::Idle | Phase::Resync => Phase::Resync,
                };
            }
            Direction::ToClient => {
                let phase = std::mem::replace(&mut self.responses.phase, Phase::Resync);
                self.responses.phase = match phase {
                    Phase::Idle if !self.in_response && !self.pending.is_empty() => {
                        // A gap between responses swallowed (at least) the next one.
                        self.pending.pop_front();
                        ev.response_lost();
                        Phase::Resync
                    }
                    Phase::Body(mut body) => match body.skip(len) {
                        Ok((used, true)) => {
                            self.end_response(used, ev);
                            if used == len {
                                Phase::Idle
                            } else {
                                Phase::Resync
                            }
                        }
                        Ok((_, false)) => Phase::Body(body),
                        Err(BadBody) => Phase::Resync,
                    },
                    Phase::Head => {
                        // A head cut short (snapshot length) still names its status.
                        self.status = parse_head(&self.responses.head).status;
                        Phase::Resync
                    }
                    Phase::Tunnel => Phase::Tunnel,
                    Phase::Idle | Phase::Resync => Phase::Resync,
                };
            }
        }
    }

    fn end(&mut self, dir: Direction, ev: &mut Events) {
        let closes_response = matches!(self.responses.phase, Phase::Body(Body::UntilClose) | Phase::Resync);
        if dir == Direction::ToClient && closes_response {
            self.end_response(0, ev);
        }
    }

    fn handover(&self) -> Option<Handover> {
        self.to_http2.map(|from| Handover { plugin: "http2", from })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consume_all(mut body: Body, parts: &[&[u8]]) -> (usize, bool) {
        let mut total = 0;
        for p in parts {
            let (used, done) = body.consume(p).unwrap();
            total += used;
            if done {
                return (total, true);
            }
        }
        (total, false)
    }

    #[test]
    fn chunked_bodies_end_after_trailers_across_segments() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        assert_eq!(consume_all(Body::chunked(), &[body]), (body.len() - 4, true));
        let (a, b) = body.split_at(9);
        assert_eq!(consume_all(Body::chunked(), &[a, b]), (body.len() - 4, true));
        assert!(Body::chunked().consume(b"zz\r\n").is_err());
    }

    #[test]
    fn heads_are_parsed() {
        let h = parse_head(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
        assert_eq!((h.status, h.content_length), (Some(304), Some(10)));
        let h = parse_head(b"HEAD / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert!(h.method_head && h.chunked);
        assert_eq!(head_end(b"GET / HTTP/1.0\n\nrest"), Some(16));
    }

    #[test]
    fn heads_split_anywhere_are_found() {
        let msg = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        let head_len = msg.len() - 4;
        for cut in 1..msg.len() {
            let mut side = Side::default();
            let (a, b) = msg.split_at(cut);
            let got = match side.collect_head(a) {
                Some(used) => (side.head(a, used).to_vec(), used),
                None => {
                    let used = side.collect_head(b).unwrap();
                    (side.head(b, used).to_vec(), cut + used)
                }
            };
            assert_eq!(got, (msg[..head_len].to_vec(), head_len), "cut at {cut}");
        }
    }

    #[test]
    fn detection() {
        assert!(looks_like_request(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_request(b"M-SEARCH * HTTP/1.1\r\n"));
        assert!(!looks_like_request(b"\x16\x03\x01\x02"));
        assert!(!looks_like_request(b"get / HTTP/1.1"));
        assert!(looks_like_response(b"HTT"));
        assert!(!looks_like_response(b"<html>"));
    }
}
