//! The application side of a flow: the protocol parser chosen for it, the
//! facts of its connection, and the transactions its parser opens.

use super::stream::Piece;
use super::{Flow, FlowStats};
use crate::decode::Packet;
use crate::plugins::{self, Parser, Transport};
use crate::rules::Namer;
use crate::timing::{Chunk, ConnFacts, Events, Transactions};
use crate::Direction;

/// The application side of a flow: its parser and the transactions it opens.
pub(super) struct App {
    /// Chosen at the first payload; `None` before, or for unclaimed UDP.
    pub(super) parser: Option<Box<dyn Parser>>,
    /// The choice was made (a UDP flow nobody claims keeps `parser` empty).
    pub(super) parser_chosen: bool,
    pub(super) facts: ConnFacts,
    pub(super) txs: Transactions,
}

impl App {
    /// Hands one piece of a stream to the parser (choosing it at the first
    /// payload).
    pub(super) fn piece(
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
                let mut ev = Events::new(txs, &*facts, namer, chunk);
                parser.parse(dir, data, &mut ev);
                // STARTTLS and the like: another plugin takes the rest,
                // perhaps from within this chunk.
                let Some(handover) = parser.handover() else { return };
                ev.stop_at(handover.from);
                drop(ev);
                let Some((idx, plugin)) = plugins::by_name(handover.plugin) else { return };
                facts.plugin = plugin.name;
                facts.plugin_idx = idx;
                *parser = (plugin.new_parser)(Transport::Tcp);
                if let Some(rest) = data.get(handover.from..).filter(|r| !r.is_empty()) {
                    chunk.stream_offset += handover.from as u64;
                    chunk.len = rest.len();
                    parser.parse(dir, rest, &mut Events::new(txs, &*facts, namer, chunk));
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

pub(super) fn udp_packet(
    flow: &mut Flow,
    namer: &mut Namer,
    stats: &mut FlowStats,
    dir: Direction,
    ts: u64,
    p: &Packet,
) {
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
