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

mod app;
mod reorder;
mod slots;
mod stream;
mod tcp;

use crate::decode::{flags, Addr, Packet, Transport as L4};
use crate::plugins;
use crate::rules::Namer;
use crate::timing::{Chunk, ConnFacts, Events, FlushReason, Transactions};
use crate::transaction::TransactionSink;
use crate::Direction;
use app::{udp_packet, App};
use reorder::SegmentIn;
use slots::{LruSlots, Slot};
use stream::Piece;
use tcp::{release_held, tcp_arrival, Tcp};

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
/// a conversation give the same key, and the tunnel tenant it came in
/// (`Packet::tenant`), so two tenants' equal 5-tuples stay apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: (Addr, u16),
    hi: (Addr, u16),
    udp: bool,
    tenant: u64,
}

impl FlowKey {
    /// The key and whether the packet was sent by the `lo` endpoint.
    pub fn of(p: &Packet) -> (FlowKey, bool) {
        let (s, d) = ((p.src, p.sport), (p.dst, p.dport));
        let (udp, tenant) = (matches!(p.transport, L4::Udp), p.tenant);
        if s <= d {
            (FlowKey { lo: s, hi: d, udp, tenant }, true)
        } else {
            (FlowKey { lo: d, hi: s, udp, tenant }, false)
        }
    }

    /// Symmetric hash: the same for both directions; picks the owning worker.
    pub fn hash(&self) -> u64 {
        let mut h = (self.lo.0 as u64) ^ ((self.lo.0 >> 64) as u64).rotate_left(17);
        h ^= ((self.hi.0 as u64) ^ ((self.hi.0 >> 64) as u64).rotate_left(17)).rotate_left(31);
        h ^= (u64::from(self.lo.1) << 16 | u64::from(self.hi.1)) << 1 | u64::from(self.udp);
        h ^= self.tenant.rotate_left(47);
        // splitmix64 finaliser: spreads every input bit over the result.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

struct Flow {
    key: FlowKey,
    client_is_lo: bool,
    last_seen: u64,
    packets: u64,
    app: App,
    tcp: Option<Box<Tcp>>,
}

/// Bytes of one TCP flow's fixed record: its slot, its TCP state and its
/// index entry. Message heads and out-of-order segments come on top, only
/// while in use (see the module invariants).
pub const FLOW_RECORD_BYTES: usize =
    std::mem::size_of::<Flow>() + slots::overhead::<FlowKey, Flow>() + std::mem::size_of::<Tcp>();
// The module documentation and ARCHITECTURE.md state this size.
const _: () = assert!(FLOW_RECORD_BYTES <= 648);

/// One worker's flows.
pub struct FlowTable {
    cfg: FlowConfig,
    flows: LruSlots<FlowKey, Flow>,
    /// Slots of flows that held segments when last seen (checked at sweeps).
    holding: Vec<Slot>,
    namer: Namer,
    pub stats: FlowStats,
}

impl FlowTable {
    pub fn new(cfg: FlowConfig, namer: Namer) -> FlowTable {
        FlowTable { cfg, flows: LruSlots::new(), holding: Vec::new(), namer, stats: FlowStats::default() }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.len() == 0
    }

    /// Processes one decoded packet stamped `ts`, at capture clock `clock`
    /// (the reader's: never backwards; equal to `ts` for stamps in order).
    pub fn packet(&mut self, ts: u64, clock: u64, p: &Packet, sink: &mut dyn TransactionSink) {
        let (key, from_lo) = FlowKey::of(p);
        let tcp = p.tcp().copied();
        let mut slot = self.flows.find(&key);
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
        self.flows.touch(s);
        let Some(flow) = self.flows.get_mut(s) else {
            return;
        };
        flow.last_seen = ts;
        flow.packets += 1;
        let dir = if from_lo == flow.client_is_lo { Direction::ToServer } else { Direction::ToClient };
        flow.app.txs.expire(ts, self.cfg.response_timeout_ns);
        match tcp {
            Some(header) => {
                let seg = SegmentIn {
                    ts,
                    clock,
                    packet: flow.packets,
                    header,
                    payload: p.payload,
                    payload_len: p.payload_len,
                };
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

    /// Ends flows idle for longer than the idle timeout at capture clock
    /// `now`, and releases segments held for longer than the reorder window.
    pub fn sweep(&mut self, now: u64, sink: &mut dyn TransactionSink) {
        // A slot may be listed twice (a hold ended and another began).
        self.holding.sort_unstable();
        self.holding.dedup();
        for s in std::mem::take(&mut self.holding) {
            let Some(flow) = self.flows.get_mut(s) else { continue };
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
        while let Some(s) = self.flows.oldest() {
            if now.saturating_sub(self.flow(s).last_seen) <= self.cfg.idle_timeout_ns {
                break;
            }
            self.remove(s, sink);
        }
    }

    /// Ends every flow (end of capture or shutdown).
    pub fn close_all(&mut self, sink: &mut dyn TransactionSink) {
        while let Some(s) = self.flows.oldest() {
            self.remove(s, sink);
        }
    }

    fn flow(&self, s: Slot) -> &Flow {
        match self.flows.get(s) {
            Some(f) => f,
            None => unreachable!("slot {s} is linked but empty"),
        }
    }

    fn create(&mut self, key: FlowKey, from_lo: bool, p: &Packet, ts: u64, sink: &mut dyn TransactionSink) -> Slot {
        if self.flows.len() >= self.cfg.max_flows.max(1) {
            if let Some(oldest) = self.flows.oldest() {
                self.stats.evicted += 1;
                self.remove(oldest, sink);
            }
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
        };
        self.flows.insert(key, flow)
    }

    /// Ends a flow: its parser sees the end of both directions, open
    /// transactions finish, and the slot is freed.
    fn remove(&mut self, s: Slot, sink: &mut dyn TransactionSink) {
        let Some(key) = self.flows.get(s).map(|f| f.key) else { return };
        let Some(mut flow) = self.flows.remove(s, &key) else {
            return;
        };
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
}

#[cfg(test)]
mod tests;
