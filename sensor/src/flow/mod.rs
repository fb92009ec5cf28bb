//! Flow state: one worker's table of TCP connections and UDP conversations.
//!
//! Per packet: find (or create) the flow, orient it (client/server), track the
//! TCP handshake, windows, resets and both byte streams, hand ordered payload
//! to the flow's protocol parser, and emit finished transactions.
//!
//! Invariants:
//! - Memory is bounded: at most `max_flows` flows (the least recently seen is
//!   evicted, counted); per flow a fixed record (648 bytes, checked at compile time) plus the parser's
//!   message-head buffers (≤ 2 × 16 KiB, only while a head is incomplete) and
//!   out-of-order segments (≤ 2 × 64 KiB, only while a hole is open) and
//!   segments held until the other direction catches up (≤ 64 KiB, at most
//!   `reorder::REORDER_WINDOW_NS` of capture time).
//! - Results depend only on the packets of the flow, never on when the table
//!   is swept: an idle flow is treated as ended when its next packet arrives,
//!   exactly as if a sweep had removed it.
//! - Nothing here panics on any input.

mod reorder;
mod stream;

use crate::decode::{flags, Addr, Packet, Transport as L4};
use crate::plugins::{self, Parser, Transport};
use crate::rules::Namer;
use crate::timing::{Chunk, ConnFacts, Events, FlushReason, Transactions};
use crate::transaction::TransactionSink;
use crate::Direction;
use reorder::{Held, SegmentIn};
use rustc_hash::FxHashMap;
use stream::{Arrival, Piece, Segment, Stream};

/// Flow-table settings.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// Live flows per worker; beyond it the least recently seen is evicted.
    pub max_flows: usize,
    /// A flow without packets for this long has ended.
    pub idle_timeout_ns: u64,
    /// A request without a response for this long is finished as `no_response`.
    pub response_timeout_ns: u64,
    /// Server ports to watch, besides every plugin's own: orient midstream flows.
    pub server_ports: Vec<u16>,
}

impl Default for FlowConfig {
    fn default() -> FlowConfig {
        FlowConfig {
            max_flows: 1_000_000,
            idle_timeout_ns: 300 * 1_000_000_000,
            response_timeout_ns: 120 * 1_000_000_000,
            server_ports: Vec::new(),
        }
    }
}

/// Counters of one worker's flow table; they add up across workers.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowStats {
    pub flows: u64,
    pub tcp_flows: u64,
    pub udp_flows: u64,
    /// TCP connections picked up without their SYN.
    pub midstream: u64,
    pub evicted: u64,
    pub retransmissions: u64,
    pub out_of_order: u64,
    /// Payload bytes the capture dropped (sequence holes).
    pub lost_bytes: u64,
    /// Payload bytes cut by the snapshot length.
    pub truncated_bytes: u64,
    pub zero_windows: u64,
    pub resets: u64,
    /// UDP packets of flows no plugin claims.
    pub udp_unclaimed_packets: u64,
    pub transactions_overflowed: u64,
    pub unmatched_responses: u64,
    /// TCP segments that acknowledged data before it arrived (rx queues
    /// stamped out of order), held until it did.
    pub acks_ahead: u64,
    /// Frames the worker's merge took before every reader had reached their
    /// time (a reader stalled and the others' frames piled up).
    pub merged_early: u64,
}

impl FlowStats {
    fn fields(&mut self) -> [&mut u64; 16] {
        [
            &mut self.flows,
            &mut self.tcp_flows,
            &mut self.udp_flows,
            &mut self.midstream,
            &mut self.evicted,
            &mut self.retransmissions,
            &mut self.out_of_order,
            &mut self.lost_bytes,
            &mut self.truncated_bytes,
            &mut self.zero_windows,
            &mut self.resets,
            &mut self.udp_unclaimed_packets,
            &mut self.transactions_overflowed,
            &mut self.unmatched_responses,
            &mut self.acks_ahead,
            &mut self.merged_early,
        ]
    }

    pub fn add(&mut self, o: &FlowStats) {
        for (a, b) in self.fields().into_iter().zip(o.clone().fields()) {
            *a += *b;
        }
    }

    pub fn subtract(&mut self, o: &FlowStats) {
        for (a, b) in self.fields().into_iter().zip(o.clone().fields()) {
            *a = a.saturating_sub(*b);
        }
    }
}

/// A 5-tuple with the endpoints in a canonical order, so both directions of
/// a conversation give the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: (Addr, u16),
    hi: (Addr, u16),
    udp: bool,
}

impl FlowKey {
    /// The key and whether the packet was sent by the `lo` endpoint.
    pub fn of(p: &Packet) -> (FlowKey, bool) {
        let (s, d) = ((p.src, p.sport), (p.dst, p.dport));
        let udp = matches!(p.transport, L4::Udp);
        if s <= d {
            (FlowKey { lo: s, hi: d, udp }, true)
        } else {
            (FlowKey { lo: d, hi: s, udp }, false)
        }
    }

    /// Symmetric hash: the same for both directions; picks the owning worker.
    pub fn hash(&self) -> u64 {
        let mut h = (self.lo.0 as u64) ^ ((self.lo.0 >> 64) as u64).rotate_left(17);
        h ^= ((self.hi.0 as u64) ^ ((self.hi.0 >> 64) as u64).rotate_left(17)).rotate_left(31);
        h ^= (u64::from(self.lo.1) << 16 | u64::from(self.hi.1)) << 1 | u64::from(self.udp);
        // splitmix64 finaliser: spreads every input bit over the result.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

/// TCP-only state of a flow.
#[derive(Debug, Default)]
struct Tcp {
    /// Indexed by `Direction`: [client→server, server→client].
    streams: [Stream; 2],
    wscale: [Option<u8>; 2],
    /// Both SYNs carried window scale: later windows are scaled.
    scaling: bool,
    zero_window: [bool; 2],
    /// Server's initial sequence number + 1: the handshake ACK acknowledges it.
    synack_next: Option<u32>,
    /// Sequence number of the client's SYN, once seen.
    syn_seq: Option<u32>,
    closed: bool,
    /// Segments of one direction waiting for the other to catch up.
    held: Option<Box<Held>>,
    /// Held segments went on without the SYN/ACK: it was lost from the
    /// capture, so later segments do not wait for it.
    synack_missed: bool,
}

/// The application side of a flow: its parser and the transactions it opens.
struct App {
    /// Chosen at the first payload; `None` before, or for unclaimed UDP.
    parser: Option<Box<dyn Parser>>,
    /// The choice was made (a UDP flow nobody claims keeps `parser` empty).
    parser_chosen: bool,
    facts: ConnFacts,
    txs: Transactions,
}

struct Flow {
    key: FlowKey,
    client_is_lo: bool,
    last_seen: u64,
    packets: u64,
    app: App,
    tcp: Option<Box<Tcp>>,
    /// Least-recently-seen list links (slot indices; NIL at the ends).
    newer: u32,
    older: u32,
}

const NIL: u32 = u32::MAX;

/// Bytes of one TCP flow's fixed record: its slot, its TCP state and its
/// index entry. Message heads and out-of-order segments come on top, only
/// while in use (see the module invariants).
pub const FLOW_RECORD_BYTES: usize =
    std::mem::size_of::<Option<Flow>>() + std::mem::size_of::<Tcp>() + std::mem::size_of::<(FlowKey, u32)>();
// The module documentation and ARCHITECTURE.md state this size.
const _: () = assert!(FLOW_RECORD_BYTES <= 648);

/// One worker's flows.
pub struct FlowTable {
    cfg: FlowConfig,
    map: FxHashMap<FlowKey, u32>,
    slots: Vec<Option<Flow>>,
    free: Vec<u32>,
    newest: u32,
    oldest: u32,
    /// Slots of flows that held segments when last seen (checked at sweeps).
    holding: Vec<u32>,
    namer: Namer,
    pub stats: FlowStats,
}

impl FlowTable {
    pub fn new(cfg: FlowConfig, namer: Namer) -> FlowTable {
        FlowTable {
            cfg,
            map: FxHashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
            holding: Vec::new(),
            namer,
            stats: FlowStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Processes one decoded packet captured at `ts`.
    pub fn packet(&mut self, ts: u64, p: &Packet, sink: &mut dyn TransactionSink) {
        let (key, from_lo) = FlowKey::of(p);
        let tcp = p.tcp().copied();
        let mut slot = self.map.get(&key).copied();
        if let Some(s) = slot {
            let flow = self.flow(s);
            let idle = ts.saturating_sub(flow.last_seen) > self.cfg.idle_timeout_ns;
            // A SYN with a new initial sequence number is a new connection on a
            // reused 5-tuple (its old one may have ended unseen); a repeated
            // SYN with the same number is a retransmission.
            let new_connection = tcp.is_some_and(|h| {
                h.has(flags::SYN)
                    && !h.has(flags::ACK)
                    && flow.tcp.as_ref().is_some_and(|t| match t.syn_seq {
                        Some(seq) => seq != h.seq,
                        // Picked up midstream (or SYN/ACK seen first): a new
                        // connection only if the old one already carried data.
                        None => t.streams[0].started(),
                    })
            });
            // A side that sent its FIN cannot send new sequence numbers: if it
            // does, this is a new connection whose handshake the capture missed.
            let after_fin = tcp.is_some_and(|h| {
                let dir = if from_lo == flow.client_is_lo { Direction::ToServer } else { Direction::ToClient };
                flow.tcp.as_ref().is_some_and(|t| t.streams[dir as usize].is_past_fin(h.seq))
            });
            if idle || new_connection || after_fin {
                self.remove(s, sink);
                slot = None;
            }
        }
        let s = match slot {
            Some(s) => s,
            None => self.create(key, from_lo, p, ts, sink),
        };
        self.touch(s);
        let Some(flow) = self.slots[s as usize].as_mut() else {
            return;
        };
        flow.last_seen = ts;
        flow.packets += 1;
        let dir = if from_lo == flow.client_is_lo { Direction::ToServer } else { Direction::ToClient };
        flow.app.txs.expire(ts, self.cfg.response_timeout_ns);
        match tcp {
            Some(header) => {
                let seg =
                    SegmentIn { ts, packet: flow.packets, header, payload: p.payload, payload_len: p.payload_len };
                let holding = |flow: &Flow| flow.tcp.as_ref().is_some_and(|t| t.held.is_some());
                let held_before = holding(flow);
                tcp_arrival(flow, &mut self.namer, &mut self.stats, dir, seg);
                // Once per hold, so the list stays as short as the flows holding.
                if !held_before && holding(flow) {
                    self.holding.push(s);
                }
            }
            None => udp_packet(flow, &mut self.namer, &mut self.stats, dir, ts, p),
        }
        self.stats.unmatched_responses += std::mem::take(&mut flow.app.txs.unmatched_responses);
        self.stats.transactions_overflowed += std::mem::take(&mut flow.app.txs.overflowed);
        // A closed flow stays until it ages out, so stragglers (a last ACK)
        // do not become new midstream flows.
        flow.app.txs.emit_done(&flow.app.facts, sink);
    }

    /// Ends flows idle for longer than the idle timeout at `now`, and
    /// releases segments held for longer than the reorder window.
    pub fn sweep(&mut self, now: u64, sink: &mut dyn TransactionSink) {
        // A slot may be listed twice (a hold ended and another began).
        self.holding.sort_unstable();
        self.holding.dedup();
        for s in std::mem::take(&mut self.holding) {
            let Some(flow) = self.slots[s as usize].as_mut() else { continue };
            let Some(tcp) = flow.tcp.as_mut() else { continue };
            match tcp.held.as_ref() {
                Some(held) if held.expired(now) => {
                    release_held(flow, &mut self.namer, &mut self.stats);
                    flow.app.txs.emit_done(&flow.app.facts, sink);
                }
                Some(_) => self.holding.push(s),
                None => {}
            }
        }
        while self.oldest != NIL {
            let s = self.oldest;
            if now.saturating_sub(self.flow(s).last_seen) <= self.cfg.idle_timeout_ns {
                break;
            }
            self.remove(s, sink);
        }
    }

    /// Ends every flow (end of capture or shutdown).
    pub fn close_all(&mut self, sink: &mut dyn TransactionSink) {
        while self.oldest != NIL {
            self.remove(self.oldest, sink);
        }
    }

    fn flow(&self, s: u32) -> &Flow {
        match &self.slots[s as usize] {
            Some(f) => f,
            None => unreachable!("slot {s} is linked but empty"),
        }
    }

    fn create(&mut self, key: FlowKey, from_lo: bool, p: &Packet, ts: u64, sink: &mut dyn TransactionSink) -> u32 {
        if self.map.len() >= self.cfg.max_flows.max(1) && self.oldest != NIL {
            self.stats.evicted += 1;
            self.remove(self.oldest, sink);
        }
        let tcp = p.tcp();
        // The SYN's sender is the client, the SYN/ACK's the server; otherwise
        // the watched (or lower) port is the server's.
        let src_is_client = match tcp {
            Some(h) if h.has(flags::SYN) => !h.has(flags::ACK),
            _ => {
                let watched = |port: u16| plugins::is_known_server_port(port) || self.cfg.server_ports.contains(&port);
                match (watched(p.sport), watched(p.dport)) {
                    (false, true) => true,
                    (true, false) => false,
                    _ => p.sport >= p.dport,
                }
            }
        };
        let midstream = tcp.is_some_and(|h| !h.has(flags::SYN));
        self.stats.flows += 1;
        if tcp.is_some() {
            self.stats.tcp_flows += 1;
            self.stats.midstream += u64::from(midstream);
        } else {
            self.stats.udp_flows += 1;
        }
        let (client, server) =
            if src_is_client { ((p.src, p.sport), (p.dst, p.dport)) } else { ((p.dst, p.dport), (p.src, p.sport)) };
        let flow = Flow {
            key,
            client_is_lo: from_lo == src_is_client,
            last_seen: ts,
            packets: 0,
            app: App {
                parser: None,
                parser_chosen: false,
                facts: ConnFacts { client, server, tcp: tcp.is_some(), ..ConnFacts::default() },
                txs: Transactions::default(),
            },
            tcp: tcp.map(|_| Box::default()),
            newer: NIL,
            older: NIL,
        };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(flow);
                s
            }
            None => {
                self.slots.push(Some(flow));
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, s);
        s
    }

    /// Ends a flow: its parser sees the end of both directions, open
    /// transactions finish, and the slot is freed.
    fn remove(&mut self, s: u32, sink: &mut dyn TransactionSink) {
        self.unlink(s);
        let Some(mut flow) = self.slots[s as usize].take() else {
            return;
        };
        self.free.push(s);
        self.map.remove(&flow.key);
        let ts = flow.last_seen;
        release_held(&mut flow, &mut self.namer, &mut self.stats);
        if let Some(tcp) = flow.tcp.as_mut() {
            for dir in [Direction::ToServer, Direction::ToClient] {
                let stream = &mut tcp.streams[dir as usize];
                let finished = stream.finished();
                stream.flush(&mut |piece| flow.app.piece(&mut self.namer, &mut self.stats, dir, piece, ts, None));
                if !finished {
                    flow.app.piece(&mut self.namer, &mut self.stats, dir, Piece::End, ts, None);
                }
            }
        } else if let Some(parser) = flow.app.parser.as_mut() {
            for dir in [Direction::ToServer, Direction::ToClient] {
                let chunk = Chunk { dir, ts, packet: u64::MAX, stream_offset: 0, len: 0, gap: false, window: None };
                parser.end(dir, &mut Events::new(&mut flow.app.txs, &flow.app.facts, &mut self.namer, chunk));
            }
        }
        flow.app.txs.flush(FlushReason::Close);
        flow.app.txs.emit_done(&flow.app.facts, sink);
    }

    fn touch(&mut self, s: u32) {
        if self.newest == s {
            return;
        }
        self.unlink(s);
        let old_newest = self.newest;
        if let Some(f) = self.slots[s as usize].as_mut() {
            f.older = old_newest;
            f.newer = NIL;
        }
        if old_newest != NIL {
            if let Some(f) = self.slots[old_newest as usize].as_mut() {
                f.newer = s;
            }
        }
        self.newest = s;
        if self.oldest == NIL {
            self.oldest = s;
        }
    }

    fn unlink(&mut self, s: u32) {
        let Some(f) = self.slots[s as usize].as_mut() else {
            return;
        };
        let (newer, older) = (f.newer, f.older);
        f.newer = NIL;
        f.older = NIL;
        let linked = newer != NIL || older != NIL || self.newest == s;
        if !linked {
            return;
        }
        match newer {
            NIL => self.newest = older,
            n => {
                if let Some(f) = self.slots[n as usize].as_mut() {
                    f.older = older;
                }
            }
        }
        match older {
            NIL => self.oldest = newer,
            o => {
                if let Some(f) = self.slots[o as usize].as_mut() {
                    f.newer = newer;
                }
            }
        }
    }
}

fn choose_parser(
    flow_parser: &mut Option<Box<dyn Parser>>,
    facts: &mut ConnFacts,
    transport: Transport,
    client_first: Option<&[u8]>,
) {
    if let Some((idx, plugin)) = plugins::select(transport, facts.server.1, client_first) {
        facts.plugin = plugin.name;
        facts.plugin_idx = idx;
        *flow_parser = Some((plugin.new_parser)(transport));
    }
}

fn udp_packet(flow: &mut Flow, namer: &mut Namer, stats: &mut FlowStats, dir: Direction, ts: u64, p: &Packet) {
    if !flow.app.parser_chosen {
        flow.app.parser_chosen = true;
        let first = (dir == Direction::ToServer).then_some(p.payload);
        choose_parser(&mut flow.app.parser, &mut flow.app.facts, Transport::Udp, first);
    }
    let Some(parser) = flow.app.parser.as_mut() else {
        stats.udp_unclaimed_packets += 1;
        return;
    };
    let chunk =
        Chunk { dir, ts, packet: flow.packets, stream_offset: 0, len: p.payload.len(), gap: false, window: None };
    parser.parse(dir, p.payload, &mut Events::new(&mut flow.app.txs, &flow.app.facts, namer, chunk));
}

/// A TCP segment as it arrives: processed at once, or held while it
/// acknowledges what the other direction has not shown yet (see `reorder`).
fn tcp_arrival(flow: &mut Flow, namer: &mut Namer, stats: &mut FlowStats, dir: Direction, seg: SegmentIn) {
    let Some(tcp) = flow.tcp.as_mut() else { return };
    match tcp.held.as_mut() {
        Some(held) if held.dir == dir => {
            if !held.expired(seg.ts) && held.push(&seg) {
                return;
            }
            // The other direction's data is not coming (lost from the
            // capture), or too much waits: on in arrival order.
            release_held(flow, namer, stats);
        }
        Some(held) => {
            // This segment acknowledges held data: the held direction goes
            // first, whatever it still waits for.
            let acks_held = seg.header.has(flags::ACK) && tcp.streams[held.dir as usize].acks_unseen(seg.header.ack);
            if acks_held || held.expired(seg.ts) {
                release_held(flow, namer, stats);
            }
            tcp_segment(flow, namer, stats, dir, seg);
            release_caught_up(flow, namer, stats, seg.ts);
            return;
        }
        None => {}
    }
    if acks_unseen(flow, dir, &seg.header) {
        stats.acks_ahead += 1;
        let mut held = Box::new(Held::new(dir));
        held.push(&seg);
        if let Some(tcp) = flow.tcp.as_mut() {
            tcp.held = Some(held);
        }
        return;
    }
    tcp_segment(flow, namer, stats, dir, seg);
}

/// The segment acknowledges a SYN/ACK or bytes of the other direction that
/// have not arrived.
fn acks_unseen(flow: &Flow, dir: Direction, h: &crate::decode::TcpHeader) -> bool {
    let Some(tcp) = flow.tcp.as_ref() else { return false };
    if !h.has(flags::ACK) || h.has(flags::SYN) || h.has(flags::RST) {
        return false;
    }
    let handshake_ack_first =
        dir == Direction::ToServer && tcp.syn_seq.is_some() && flow.app.facts.t_synack.is_none() && !tcp.synack_missed;
    handshake_ack_first || tcp.streams[dir.reverse() as usize].acks_unseen(h.ack)
}

/// Processes held segments that no longer acknowledge anything unseen,
/// after the other direction's segment at `ts` that let them go.
fn release_caught_up(flow: &mut Flow, namer: &mut Namer, stats: &mut FlowStats, ts: u64) {
    loop {
        let Some(held) = flow.tcp.as_ref().and_then(|t| t.held.as_ref()) else { return };
        let ready = held.front().map(|s| (held.dir, s.header));
        match ready {
            Some((dir, h)) if !acks_unseen(flow, dir, &h) => pop_held(flow, namer, stats, ts),
            Some(_) => return,
            None => break,
        }
    }
    if let Some(tcp) = flow.tcp.as_mut() {
        tcp.held = None;
    }
}

/// Processes every held segment, in order, at their own times: what they
/// waited for is not coming.
fn release_held(flow: &mut Flow, namer: &mut Namer, stats: &mut FlowStats) {
    let Some(tcp) = flow.tcp.as_mut().filter(|t| t.held.is_some()) else { return };
    tcp.synack_missed |= flow.app.facts.t_synack.is_none();
    while flow.tcp.as_ref().and_then(|t| t.held.as_ref()).is_some_and(|h| !h.is_empty()) {
        pop_held(flow, namer, stats, 0);
    }
    if let Some(tcp) = flow.tcp.as_mut() {
        tcp.held = None;
    }
}

/// Processes the oldest held segment, timed no earlier than `not_before`.
fn pop_held(flow: &mut Flow, namer: &mut Namer, stats: &mut FlowStats, not_before: u64) {
    let Some(mut held) = flow.tcp.as_mut().and_then(|t| t.held.take()) else { return };
    let dir = held.dir;
    held.pop_into(|seg| tcp_segment(flow, namer, stats, dir, SegmentIn { ts: seg.ts.max(not_before), ..seg }));
    if let Some(tcp) = flow.tcp.as_mut() {
        tcp.held = Some(held);
    }
}

fn tcp_segment(flow: &mut Flow, namer: &mut Namer, stats: &mut FlowStats, dir: Direction, seg: SegmentIn) {
    let SegmentIn { ts, packet, header: h, payload, payload_len } = seg;
    let h = &h;
    let Some(tcp) = flow.tcp.as_mut() else { return };
    let facts = &mut flow.app.facts;
    let d = dir as usize;
    let syn = h.has(flags::SYN);

    // Handshake: timings, MSS, window scale, initial sequence numbers.
    if syn {
        tcp.streams[d].set_isn(h.seq);
        tcp.wscale[d] = h.wscale;
        if h.has(flags::ACK) {
            if facts.t_synack.is_none() {
                facts.t_synack = Some(ts);
                facts.server_mss = h.mss;
                tcp.synack_next = Some(h.seq.wrapping_add(1));
                tcp.scaling = tcp.wscale[0].is_some() && tcp.wscale[1].is_some();
            }
        } else if facts.t_synack.is_none() {
            tcp.syn_seq = Some(h.seq);
            // A retransmitted SYN restarts the clock: the SYN/ACK answers the last one.
            facts.t_syn = Some(ts);
            facts.client_mss = h.mss;
        }
    } else if dir == Direction::ToServer && facts.t_ack.is_none() && h.has(flags::ACK) && tcp.synack_next == Some(h.ack)
    {
        facts.t_ack = Some(ts);
    }

    // Windows: scaled except in SYNs; count transitions to zero.
    let window =
        if tcp.scaling && !syn { u32::from(h.window) << tcp.wscale[d].unwrap_or(0) } else { u32::from(h.window) };
    let zero = window == 0 && !syn && !h.has(flags::RST) && h.has(flags::ACK);
    if zero && !tcp.zero_window[d] {
        facts.zero_windows += 1;
        stats.zero_windows += 1;
    }
    tcp.zero_window[d] = zero;

    // The ACK first: it may reveal a capture hole in the other direction and
    // it may complete a transaction (t_ackN) before this packet's payload
    // starts the next one.
    let (this, other) = match dir {
        Direction::ToServer => {
            let [a, b] = &mut tcp.streams;
            (a, b)
        }
        Direction::ToClient => {
            let [a, b] = &mut tcp.streams;
            (b, a)
        }
    };
    if h.has(flags::ACK) && !syn {
        let acked =
            other.acknowledged(h.ack, &mut |piece| flow.app.piece(namer, stats, dir.reverse(), piece, ts, None));
        if let (Direction::ToServer, Some(offset)) = (dir, acked) {
            flow.app.txs.client_ack(offset, ts);
        }
    }

    if !syn {
        let seg = Segment { seq: h.seq, fin: h.has(flags::FIN), data: payload, wire_len: payload_len, ts, packet };
        let arrival = this.segment(seg, &mut |piece| flow.app.piece(namer, stats, dir, piece, ts, Some(window)));
        match arrival {
            Arrival::Retransmission => {
                flow.app.facts.retransmits[d] += 1;
                stats.retransmissions += 1;
            }
            Arrival::OutOfOrder => stats.out_of_order += 1,
            Arrival::Empty | Arrival::InOrder => {}
        }
    }

    if h.has(flags::RST) {
        flow.app.facts.resets += 1;
        stats.resets += 1;
        tcp.closed = true;
        flow.app.txs.flush(FlushReason::Reset);
    } else if tcp.streams[0].finished() && tcp.streams[1].finished() {
        tcp.closed = true;
        flow.app.txs.flush(FlushReason::Close);
    }
}

impl App {
    /// Hands one piece of a stream to the parser (choosing it at the first
    /// payload).
    fn piece(
        &mut self,
        namer: &mut Namer,
        stats: &mut FlowStats,
        dir: Direction,
        piece: Piece,
        ts: u64,
        window: Option<u32>,
    ) {
        let App { parser, txs, facts, .. } = self;
        if let Piece::Gap { len, truncated, .. } = piece {
            if truncated {
                stats.truncated_bytes += len;
            } else {
                stats.lost_bytes += len;
            }
        }
        if parser.is_none() {
            let client_first = match (&piece, dir) {
                (Piece::Data { data, .. }, Direction::ToServer) => Some(*data),
                // Server speaks first, or the payload was cut: ports decide.
                (Piece::Data { .. } | Piece::Gap { .. }, _) => None,
                (Piece::End, _) => return,
            };
            choose_parser(parser, facts, Transport::Tcp, client_first);
        }
        let Some(parser) = parser.as_mut() else {
            return;
        };
        let mut chunk = Chunk { dir, ts, packet: u64::MAX, stream_offset: 0, len: 0, gap: false, window };
        match piece {
            Piece::Data { data, offset, ts, packet } => {
                chunk.ts = ts;
                chunk.packet = packet;
                chunk.stream_offset = offset;
                chunk.len = data.len();
                parser.parse(dir, data, &mut Events::new(txs, &*facts, namer, chunk));
                // STARTTLS and the like: another plugin takes the rest.
                if let Some((idx, plugin)) = parser.handover().and_then(plugins::by_name) {
                    facts.plugin = plugin.name;
                    facts.plugin_idx = idx;
                    *parser = (plugin.new_parser)(Transport::Tcp);
                }
            }
            Piece::Gap { offset, len, .. } => {
                chunk.stream_offset = offset;
                chunk.len = len as usize;
                chunk.gap = true;
                parser.gap(dir, len as usize, &mut Events::new(txs, &*facts, namer, chunk));
            }
            Piece::End => parser.end(dir, &mut Events::new(txs, &*facts, namer, chunk)),
        }
    }
}
