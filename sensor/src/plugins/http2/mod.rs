//! HTTP/2 (`http2`), gRPC included: one transaction per stream, from the
//! request's HEADERS to the response's END_STREAM.
//!
//! Connections are taken with prior knowledge (the client's preface; the
//! HTTP/1.x plugin hands a preface on its ports over), after HTTP/1.1's
//! `Upgrade: h2c` (the HTTP/1.x plugin hands the connection over after the
//! 101, and the upgraded request goes on as stream 1), or on gRPC's port
//! 50051 whatever comes first. Requests are named through the rules from
//! the text `METHOD PATH HTTP/2\r\n` followed by `content-type:` and `host:`
//! lines where the request has them (`deploy/rules/default.toml` names gRPC
//! calls by `/package.Service/Method`, the rest by method). The outcome is
//! the `:status`, for gRPC `grpc-status` (0 ok, else error); RST_STREAM
//! and the streams a GOAWAY gives up are resets.
//!
//! Header blocks go through HPACK with each direction's dynamic table
//! ([`hpack`]). A connection picked up midstream (no preface), or one that
//! lost bytes, resynchronises on two consecutive plausible frame headers;
//! the table is then unknown, and a request whose method or path it cannot
//! decode has the text `UNKNOWN` (named `H2_UNKNOWN` by default) until the
//! encoder refers to entries added since.
//!
//! Bounded: a header block is kept up to [`MAX_BLOCK`] bytes (a message
//! head; a longer one leaves its request unnamed and the table unknown),
//! the dynamic tables to their default 4 KiB, streams to [`MAX_STREAMS`];
//! DATA payloads are passed over by length. Bytes of interleaved streams go
//! to the oldest responding transaction, as for pipelined HTTP/1.1.

mod hpack;

use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "http2",
    ports: &[50051],
    transports: &[Transport::Tcp],
    detect: |b| b.len() >= 4 && PREFACE.starts_with(&b[..b.len().min(PREFACE.len())]),
    new_parser: |_| Box::<Http2>::default(),
};

/// The client connection preface (RFC 9113 3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER: usize = 9;
/// The largest header block kept, HEADERS or PUSH_PROMISE with their
/// CONTINUATION frames: SETTINGS_MAX_FRAME_SIZE's default.
pub const MAX_BLOCK: usize = 16 * 1024;
/// Open streams followed per connection (servers commonly allow 100); past
/// it the oldest is dropped and its transaction ends without a response.
pub const MAX_STREAMS: usize = 128;
/// The largest frame a resynchronisation accepts (the default maximum).
const MAX_PLAUSIBLE_FRAME: u32 = 16 * 1024;
/// Bytes of a header value kept for the request's text.
const VALUE_HEAD: usize = 192;

mod kind {
    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const PRIORITY: u8 = 2;
    pub const RST_STREAM: u8 = 3;
    pub const SETTINGS: u8 = 4;
    pub const PUSH_PROMISE: u8 = 5;
    pub const PING: u8 = 6;
    pub const GOAWAY: u8 = 7;
    pub const WINDOW_UPDATE: u8 = 8;
    pub const CONTINUATION: u8 = 9;
}

mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FrameHeader {
    len: u32,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl FrameHeader {
    fn parse(b: &[u8; FRAME_HEADER]) -> FrameHeader {
        FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    /// Whether this could start a frame of a connection picked up midway:
    /// a known type that may begin one (not CONTINUATION), no undefined
    /// flag, the reserved bit clear, a stream where the type needs one and
    /// none where it must not, and a default-sized length.
    fn plausible(b: &[u8; FRAME_HEADER]) -> bool {
        let h = FrameHeader::parse(b);
        let (flags, on_stream) = match h.kind {
            kind::DATA => (flag::END_STREAM | flag::PADDED, Some(true)),
            kind::HEADERS => (flag::END_STREAM | flag::END_HEADERS | flag::PADDED | flag::PRIORITY, Some(true)),
            kind::PRIORITY => (0, Some(true)),
            kind::RST_STREAM => (0, Some(true)),
            kind::SETTINGS | kind::PING => (0x1, Some(false)),
            kind::PUSH_PROMISE => (flag::END_HEADERS | flag::PADDED, Some(true)),
            kind::GOAWAY => (0, Some(false)),
            kind::WINDOW_UPDATE => (0, None),
            _ => return false,
        };
        b[5] & 0x80 == 0
            && h.flags & !flags == 0
            && h.len <= MAX_PLAUSIBLE_FRAME
            && on_stream.is_none_or(|s| s == (h.stream != 0))
    }
}

/// Where a direction's byte stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alignment {
    /// The client's preface, so many bytes of it matched.
    Preface(usize),
    /// The server's first bytes: frames if the client's preface was seen
    /// or they begin with a plausible SETTINGS frame.
    Start,
    Frames,
    /// Lost (midstream, gap, nonsense): looking for frame headers.
    Lost,
}

/// A header block being gathered.
#[derive(Default)]
struct Block {
    bytes: Vec<u8>,
    stream: u32,
    /// The HEADERS frame had END_STREAM.
    end_stream: bool,
    /// Longer than [`MAX_BLOCK`]: not decoded.
    overflow: bool,
    /// Where the current frame's fragment starts in `bytes`.
    fragment: usize,
}

/// One direction.
struct Side {
    alignment: Alignment,
    header: [u8; FRAME_HEADER],
    have: usize,
    /// The frame whose payload is being read, and the bytes still to come.
    frame: Option<(FrameHeader, u32)>,
    /// A header block is open: only CONTINUATION may follow.
    in_block: bool,
    block: Block,
    /// GOAWAY's last stream id, as it arrives.
    goaway: [u8; 4],
    decoder: hpack::Decoder,
}

impl Side {
    fn new(alignment: Alignment) -> Side {
        Side {
            alignment,
            header: [0; FRAME_HEADER],
            have: 0,
            frame: None,
            in_block: false,
            block: Block::default(),
            goaway: [0; 4],
            decoder: hpack::Decoder::default(),
        }
    }

    /// Lost track: what was being gathered is dropped, and the table is
    /// unknown from here on.
    fn lose(&mut self) {
        self.alignment = Alignment::Lost;
        self.have = 0;
        self.frame = None;
        self.in_block = false;
        self.decoder.forget();
    }
}

/// A stream with a request this parser opened.
#[derive(Clone, Copy, Debug, Default)]
struct Stream {
    id: u32,
    named: bool,
    responding: bool,
    grpc: bool,
    status: Option<u16>,
    grpc_status: Option<u32>,
}

/// A header value kept (its first [`VALUE_HEAD`] bytes), its buffer reused.
#[derive(Default)]
struct Kept {
    bytes: Vec<u8>,
    set: bool,
}

impl Kept {
    fn keep(&mut self, value: &[u8]) {
        self.bytes.clear();
        self.bytes.extend_from_slice(&value[..value.len().min(VALUE_HEAD)]);
        self.set = true;
    }

    fn get(&self) -> Option<&[u8]> {
        self.set.then_some(&self.bytes[..])
    }
}

/// The fields of a header block this parser reads.
#[derive(Default)]
struct Fields {
    method: Kept,
    path: Kept,
    authority: Kept,
    content_type: Kept,
    status: Option<u16>,
    grpc_status: Option<u32>,
}

impl Fields {
    fn take(&mut self, (name, value): hpack::Field) {
        let (Some(name), Some(value)) = (name, value) else { return };
        let number = || std::str::from_utf8(value).ok().and_then(|v| v.trim().parse().ok());
        match name {
            b":method" => self.method.keep(value),
            b":path" => self.path.keep(value),
            b":authority" | b"host" => self.authority.keep(value),
            b"content-type" => self.content_type.keep(value),
            b":status" => self.status = number().map(|n: u32| n.min(999) as u16),
            b"grpc-status" => self.grpc_status = number(),
            _ => {}
        }
    }

    fn clear(&mut self) {
        for kept in [&mut self.method, &mut self.path, &mut self.authority, &mut self.content_type] {
            kept.set = false;
        }
        self.status = None;
        self.grpc_status = None;
    }

    fn is_grpc(&self) -> bool {
        self.content_type.get().is_some_and(|c| c.starts_with(b"application/grpc"))
    }

    /// The text the rules see for a request.
    fn request_text(&self, out: &mut Vec<u8>) {
        out.clear();
        let (Some(method), Some(path)) = (self.method.get(), self.path.get()) else {
            out.extend_from_slice(b"UNKNOWN");
            return;
        };
        for part in [method, b" ", path, b" HTTP/2\r\n"] {
            out.extend_from_slice(part);
        }
        for (name, value) in [(&b"content-type: "[..], &self.content_type), (b"host: ", &self.authority)] {
            if let Some(v) = value.get() {
                for part in [name, v, b"\r\n"] {
                    out.extend_from_slice(part);
                }
            }
        }
    }
}

pub struct Http2 {
    sides: [Side; 2],
    streams: Vec<Stream>,
    /// The first bytes were seen: a request handed over is adopted then.
    started: bool,
    preface_seen: bool,
    fields: Fields,
    text: Vec<u8>,
}

impl Default for Http2 {
    fn default() -> Self {
        Http2 {
            sides: [Side::new(Alignment::Preface(0)), Side::new(Alignment::Start)],
            streams: Vec::new(),
            started: false,
            preface_seen: false,
            fields: Fields::default(),
            text: Vec::new(),
        }
    }
}

/// Where two consecutive plausible frame headers begin in `data` (or one
/// whose frame ends exactly at its end).
fn resync(data: &[u8]) -> Option<usize> {
    let header = |at: usize| data.get(at..at + FRAME_HEADER).map(|b| <[u8; FRAME_HEADER]>::try_from(b).unwrap());
    (0..data.len().saturating_sub(FRAME_HEADER - 1)).find(|&at| {
        let Some(h) = header(at).filter(FrameHeader::plausible) else { return false };
        let next = at + FRAME_HEADER + FrameHeader::parse(&h).len as usize;
        next == data.len() || header(next).is_some_and(|n| FrameHeader::plausible(&n))
    })
}

impl Http2 {
    fn stream(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    fn remove(&mut self, id: u32) -> Option<Stream> {
        let at = self.streams.iter().position(|s| s.id == id)?;
        Some(self.streams.remove(at))
    }

    fn open_stream(&mut self, stream: Stream, ev: &mut Events) {
        if self.streams.len() >= MAX_STREAMS {
            let oldest = self.streams.remove(0);
            ev.abandon(oldest.id, Outcome::NoResponse);
        }
        self.streams.push(stream);
    }

    fn feed(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        let mut i = 0;
        while i < data.len() {
            let preface_seen = self.preface_seen;
            let side = &mut self.sides[dir as usize];
            match side.alignment {
                Alignment::Preface(n) => {
                    let take = (PREFACE.len() - n).min(data.len() - i);
                    if data[i..i + take] != PREFACE[n..n + take] {
                        side.lose();
                        continue;
                    }
                    i += take;
                    side.alignment =
                        if n + take == PREFACE.len() { Alignment::Frames } else { Alignment::Preface(n + take) };
                    self.preface_seen |= side.alignment == Alignment::Frames;
                }
                Alignment::Start => {
                    let settings = data.get(i..i + FRAME_HEADER).map(|b| {
                        let b = <[u8; FRAME_HEADER]>::try_from(b).unwrap();
                        FrameHeader::plausible(&b) && FrameHeader::parse(&b).kind == kind::SETTINGS
                    });
                    if preface_seen || settings == Some(true) {
                        side.alignment = Alignment::Frames;
                    } else {
                        side.lose();
                    }
                }
                Alignment::Lost => match resync(&data[i..]) {
                    Some(at) => {
                        i += at;
                        side.alignment = Alignment::Frames;
                    }
                    None => return,
                },
                Alignment::Frames => {
                    if side.frame.is_none() {
                        let starts_here = side.have == 0;
                        let take = (FRAME_HEADER - side.have).min(data.len() - i);
                        side.header[side.have..side.have + take].copy_from_slice(&data[i..i + take]);
                        side.have += take;
                        let at = if starts_here { i } else { 0 };
                        i += take;
                        if side.have < FRAME_HEADER {
                            return;
                        }
                        side.have = 0;
                        let h = FrameHeader::parse(&side.header);
                        if side.in_block != (h.kind == kind::CONTINUATION) {
                            // A block interrupted, or a CONTINUATION of none.
                            side.lose();
                            continue;
                        }
                        side.frame = Some((h, h.len));
                        self.frame_begins(dir, h, at, ev);
                    }
                    let side = &mut self.sides[dir as usize];
                    let Some((h, remaining)) = side.frame.as_mut() else { continue };
                    let take = (*remaining as usize).min(data.len() - i);
                    let payload = &data[i..i + take];
                    match h.kind {
                        kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION => {
                            let block = &mut side.block;
                            if block.bytes.len() + take > MAX_BLOCK {
                                block.overflow = true;
                            } else if !block.overflow {
                                block.bytes.extend_from_slice(payload);
                            }
                        }
                        kind::GOAWAY => {
                            let done = (h.len - *remaining) as usize;
                            for (k, b) in payload.iter().enumerate().take(4usize.saturating_sub(done)) {
                                side.goaway[done + k] = *b;
                            }
                        }
                        _ => {}
                    }
                    *remaining -= take as u32;
                    i += take;
                    if *remaining == 0 {
                        let h = *h;
                        side.frame = None;
                        self.frame_ends(dir, h, i, ev);
                    }
                }
            }
        }
    }

    /// A frame's header was read; it began at byte `at` of the chunk.
    fn frame_begins(&mut self, dir: Direction, h: FrameHeader, at: usize, ev: &mut Events) {
        let side = &mut self.sides[dir as usize];
        match h.kind {
            kind::HEADERS | kind::PUSH_PROMISE => {
                side.in_block = true;
                side.block.bytes.clear();
                side.block.overflow = false;
                side.block.fragment = 0;
                side.block.stream = h.stream;
                side.block.end_stream = h.kind == kind::HEADERS && h.flags & flag::END_STREAM != 0;
            }
            kind::CONTINUATION => side.block.fragment = side.block.bytes.len(),
            _ => {}
        }
        match (dir, h.kind) {
            (Direction::ToServer, kind::HEADERS) if h.stream % 2 == 1 && self.stream(h.stream).is_none() => {
                ev.request_start(at, h.stream);
                self.open_stream(Stream { id: h.stream, ..Stream::default() }, ev);
            }
            (Direction::ToClient, kind::HEADERS | kind::DATA) => {
                if let Some(s) = self.stream(h.stream).filter(|s| !s.responding) {
                    s.responding = true;
                    ev.response_start(at, Some(h.stream));
                }
            }
            _ => {}
        }
    }

    /// A frame ended just before byte `at` of the chunk.
    fn frame_ends(&mut self, dir: Direction, h: FrameHeader, at: usize, ev: &mut Events) {
        match h.kind {
            kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION => {
                let side = &mut self.sides[dir as usize];
                if !side.block.overflow && strip(&mut side.block, h).is_err() {
                    side.lose();
                    return;
                }
                if h.flags & flag::END_HEADERS != 0 {
                    side.in_block = false;
                    self.block_ends(dir, at, ev);
                }
            }
            kind::DATA if h.flags & flag::END_STREAM != 0 => self.stream_ends(dir, h.stream, at, ev),
            kind::RST_STREAM if self.remove(h.stream).is_some() => ev.abandon(h.stream, Outcome::Reset),
            kind::GOAWAY if dir == Direction::ToClient => {
                let last = u32::from_be_bytes(self.sides[dir as usize].goaway) & 0x7fff_ffff;
                for s in std::mem::take(&mut self.streams) {
                    if s.id > last {
                        ev.abandon(s.id, Outcome::Reset);
                    } else {
                        self.streams.push(s);
                    }
                }
            }
            _ => {}
        }
    }

    /// A header block is complete: decode it and act on its fields.
    fn block_ends(&mut self, dir: Direction, at: usize, ev: &mut Events) {
        let Http2 { sides, fields, .. } = self;
        let side = &mut sides[dir as usize];
        fields.clear();
        if side.block.overflow {
            side.decoder.forget();
        } else {
            // A corrupt block has emptied the table; its fields so far stand.
            let _ = side.decoder.block(&side.block.bytes, |f| fields.take(f));
        }
        let (id, end_stream) = (side.block.stream, side.block.end_stream);
        let Some(stream) = self.streams.iter_mut().find(|s| s.id == id) else { return };
        match dir {
            Direction::ToServer if !stream.named => {
                stream.named = true;
                stream.grpc = self.fields.is_grpc();
                self.fields.request_text(&mut self.text);
                ev.request_text(&self.text);
            }
            Direction::ToServer => {}
            Direction::ToClient => {
                stream.status = self.fields.status.or(stream.status);
                stream.grpc_status = self.fields.grpc_status.or(stream.grpc_status);
                stream.grpc |= self.fields.is_grpc();
            }
        }
        if end_stream {
            self.stream_ends(dir, id, at, ev);
        }
    }

    /// `dir` of stream `id` ended (END_STREAM) just before byte `at`.
    fn stream_ends(&mut self, dir: Direction, id: u32, at: usize, ev: &mut Events) {
        match dir {
            Direction::ToServer => {
                if self.stream(id).is_some() {
                    ev.request_end(at);
                }
            }
            Direction::ToClient => {
                let Some(s) = self.remove(id) else { return };
                let outcome = match (s.grpc, s.grpc_status, s.status) {
                    (true, Some(0), _) => Outcome::Ok,
                    (true, Some(_), _) => Outcome::Error,
                    (_, _, Some(status)) => Outcome::Status(status),
                    (_, _, None) => Outcome::Incomplete,
                };
                ev.response_end_id(at, at, id, outcome);
            }
        }
    }
}

/// Takes the padding, priority and promised stream of the frame `h` out of
/// its fragment, the block's last.
fn strip(block: &mut Block, h: FrameHeader) -> Result<(), ()> {
    let from = block.fragment;
    let padded = h.kind != kind::CONTINUATION && h.flags & flag::PADDED != 0;
    let pad = if padded { usize::from(*block.bytes.get(from).ok_or(())?) } else { 0 };
    let head = usize::from(padded)
        + if h.kind == kind::HEADERS && h.flags & flag::PRIORITY != 0 { 5 } else { 0 }
        + if h.kind == kind::PUSH_PROMISE { 4 } else { 0 };
    if from + head + pad > block.bytes.len() {
        return Err(());
    }
    block.bytes.truncate(block.bytes.len() - pad);
    block.bytes.drain(from..from + head);
    Ok(())
}

impl Parser for Http2 {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        if !self.started {
            self.started = true;
            // HTTP/1.1's Upgrade: h2c: the request goes on as stream 1.
            if ev.continue_as(1) {
                self.streams.push(Stream { id: 1, named: true, ..Stream::default() });
            }
        }
        self.feed(dir, data, ev);
    }

    fn gap(&mut self, dir: Direction, _len: usize, _ev: &mut Events) {
        self.sides[dir as usize].lose();
    }

    fn end(&mut self, _dir: Direction, _ev: &mut Events) {}
}
