//! A flow's TCP state: handshake, windows, resets, both byte streams, and
//! segments held while they acknowledge what the other direction has not
//! shown yet.

use super::reorder::{Held, SegmentIn};
use super::stream::{Arrival, Segment, Stream};
use super::{Flow, FlowStats};
use crate::decode::flags;
use crate::rules::Namer;
use crate::timing::FlushReason;
use crate::Direction;

/// TCP-only state of a flow.
#[derive(Debug, Default)]
pub(super) struct Tcp {
    /// Indexed by `Direction`: [client→server, server→client].
    pub(super) streams: [Stream; 2],
    pub(super) wscale: [Option<u8>; 2],
    /// Both SYNs carried window scale: later windows are scaled.
    pub(super) scaling: bool,
    pub(super) zero_window: [bool; 2],
    /// Server's initial sequence number + 1: the handshake ACK acknowledges it.
    pub(super) synack_next: Option<u32>,
    /// Sequence number of the client's SYN, once seen.
    pub(super) syn_seq: Option<u32>,
    pub(super) closed: bool,
    /// Segments of one direction waiting for the other to catch up.
    pub(super) held: Option<Box<Held>>,
    /// Held segments went on without the SYN/ACK: it was lost from the
    /// capture, so later segments do not wait for it.
    pub(super) synack_missed: bool,
}

/// A TCP segment as it arrives: processed at once, or held while it
/// acknowledges what the other direction has not shown yet (see `reorder`).
pub(super) fn tcp_arrival(flow: &mut Flow, namer: &mut Namer, stats: &mut FlowStats, dir: Direction, seg: SegmentIn) {
    let Some(tcp) = flow.tcp.as_mut() else { return };
    match tcp.held.as_mut() {
        Some(held) if held.dir == dir => {
            if !held.expired(seg.clock) && held.push(&seg) {
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
            if acks_held || held.expired(seg.clock) {
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
pub(super) fn release_held(flow: &mut Flow, namer: &mut Namer, stats: &mut FlowStats) {
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
    let SegmentIn { ts, packet, header: h, payload, payload_len, .. } = seg;
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
            flow.app.txs.client_ack(offset, ts, Some(window), flow.app.facts.server_mss);
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
