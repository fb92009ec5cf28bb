//! Test support: one connection's timing stage, fed the chunks and events a
//! plugin would see and call, with times and offsets chosen by the test.

use super::{Chunk, ConnFacts, Events, Transactions};
use crate::decode::addr_from_v4;
use crate::rules::{Namer, Rules};
use crate::transaction::Transaction;
use crate::Direction;
use std::sync::Arc;

pub(crate) const MS: u64 = 1_000_000;

/// One connection's transactions, fed chunk by chunk.
pub(crate) struct Harness {
    pub(crate) txs: Transactions,
    facts: ConnFacts,
    namer: Namer,
    /// Next stream offset of client and server bytes.
    offset: [u64; 2],
    packet: u64,
    out: Vec<Transaction>,
}

impl Harness {
    /// A TCP connection whose handshake took SYN 0 → SYN/ACK 4 ms → ACK 6 ms.
    pub(crate) fn tcp() -> Harness {
        let facts = ConnFacts {
            plugin: "tcp",
            plugin_idx: 0,
            client: (addr_from_v4([10, 0, 0, 2]), 40000),
            server: (addr_from_v4([10, 0, 0, 1]), 7000),
            tcp: true,
            t_syn: Some(0),
            t_synack: Some(4 * MS),
            t_ack: Some(6 * MS),
            client_mss: Some(1460),
            server_mss: Some(1400),
            ..ConnFacts::default()
        };
        let namer = Namer::new(Arc::new(Rules::default_rules(&crate::plugins::names())));
        Harness { txs: Transactions::default(), facts, namer, offset: [0; 2], packet: 0, out: Vec::new() }
    }

    /// A packet of `len` bytes in `dir` at `ms`; `f` is what the plugin says.
    pub(crate) fn chunk(&mut self, dir: Direction, ms: u64, len: usize, f: impl FnOnce(&mut Events)) {
        self.packet += 1;
        let chunk = Chunk {
            dir,
            ts: ms * MS,
            packet: self.packet,
            stream_offset: self.offset[dir as usize],
            len,
            gap: false,
            window: Some(if dir == Direction::ToServer { 64_000 } else { 32_000 }),
        };
        self.offset[dir as usize] += len as u64;
        f(&mut Events::new(&mut self.txs, &self.facts, &mut self.namer, chunk));
    }

    /// The client acknowledges every server byte so far at `ms`.
    pub(crate) fn ack(&mut self, ms: u64) {
        self.ack_with_window(ms, 64_000);
    }

    /// The same, advertising a receive window of `window` bytes.
    pub(crate) fn ack_with_window(&mut self, ms: u64, window: u32) {
        self.txs.client_ack(self.offset[Direction::ToClient as usize], ms * MS, Some(window), self.facts.server_mss);
        self.txs.emit_done(&self.facts, &mut self.out);
    }

    pub(crate) fn emit(&mut self) -> Vec<Transaction> {
        self.txs.emit_done(&self.facts, &mut self.out);
        std::mem::take(&mut self.out)
    }
}
