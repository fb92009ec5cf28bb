//! The flow state machine on segments built here: orientation, handshake
//! facts, window scaling, retransmissions, resets, reused 5-tuples, idle
//! ends independent of sweeps, eviction. Generic TCP (port 7000) keeps the
//! application side out of the way.

use super::*;
use crate::decode::{addr_from_v4, TcpHeader};
use crate::rules::Rules;
use crate::transaction::{Metric, Outcome, Transaction};
use std::sync::Arc;

const MS: u64 = 1_000_000;
const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 2], 40000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 1], 7000);

struct Wire {
    table: FlowTable,
    out: Vec<Transaction>,
    /// Next sequence number of client and server.
    seq: [u32; 2],
}

impl Wire {
    fn new(cfg: FlowConfig) -> Wire {
        let namer = Namer::new(Arc::new(Rules::default_rules(&plugins::names())));
        Wire { table: FlowTable::new(cfg, namer), out: Vec::new(), seq: [1000, 5000] }
    }

    /// A segment from the client (0) or the server (1) at `ms`.
    fn send(&mut self, from: usize, ms: u64, fl: u8, data: &[u8]) {
        self.send_seq(from, ms, fl, data, self.seq[from]);
        let syn_fin = u32::from(fl & flags::SYN != 0) + u32::from(fl & flags::FIN != 0);
        self.seq[from] = self.seq[from].wrapping_add(data.len() as u32 + syn_fin);
    }

    /// The same with an explicit sequence number (retransmissions).
    fn send_seq(&mut self, from: usize, ms: u64, fl: u8, data: &[u8], seq: u32) {
        let (c, s) = ((addr_from_v4(CLIENT.0), CLIENT.1), (addr_from_v4(SERVER.0), SERVER.1));
        let (src, dst) = if from == 0 { (c, s) } else { (s, c) };
        let syn = fl & flags::SYN != 0;
        let header = TcpHeader {
            seq,
            ack: if fl & flags::ACK != 0 { self.seq[1 - from] } else { 0 },
            flags: fl,
            window: 100,
            mss: syn.then_some(if from == 0 { 1460 } else { 1400 }),
            wscale: syn.then_some(3),
            sack_permitted: false,
            timestamps: None,
        };
        let p = Packet::tcp_segment(src, dst, header, data);
        self.table.packet(ms * MS, ms * MS, &p, &mut self.out);
    }

    fn handshake(&mut self) {
        self.send(0, 0, flags::SYN, b"");
        self.send(1, 4, flags::SYN | flags::ACK, b"");
        self.send(0, 6, flags::ACK, b"");
    }

    /// A request at `ms`, its response 5 ms later, the client's ACK 1 ms after.
    fn exchange(&mut self, ms: u64) {
        self.send(0, ms, flags::ACK | flags::PSH, b"REQUEST");
        self.send(1, ms + 5, flags::ACK | flags::PSH, b"RESPONSE");
        self.send(0, ms + 6, flags::ACK, b"");
    }

    fn finish(mut self) -> (Vec<Transaction>, FlowStats) {
        self.table.close_all(&mut self.out);
        (self.out, self.table.stats.clone())
    }
}

fn ms(tx: &Transaction, m: Metric) -> Option<u64> {
    tx.get(m).map(|v| v / MS)
}

#[test]
fn the_handshake_orients_the_flow_and_gives_its_facts() {
    let mut w = Wire::new(FlowConfig::default());
    w.handshake();
    w.exchange(10);
    let (txs, stats) = w.finish();
    assert_eq!((stats.flows, stats.tcp_flows, stats.midstream), (1, 1, 0));
    let tx = &txs[0];
    assert_eq!(tx.client.1, CLIENT.1);
    assert_eq!(tx.server.1, SERVER.1);
    assert_eq!((ms(tx, Metric::ServerRtt), ms(tx, Metric::ClientRtt)), (Some(4), Some(2)));
    assert_eq!((tx.get(Metric::ClientMss), tx.get(Metric::ServerMss)), (Some(1460), Some(1400)));
    // Both SYNs carried window scale 3: later windows are scaled.
    assert_eq!((tx.get(Metric::ClientWindow), tx.get(Metric::ServerWindow)), (Some(800), Some(800)));
    assert_eq!((ms(tx, Metric::FirstResponse), ms(tx, Metric::LastAck)), (Some(5), Some(6)));
}

#[test]
fn a_flow_picked_up_midstream_is_oriented_by_the_watched_port() {
    let mut w = Wire::new(FlowConfig { server_ports: vec![SERVER.1], ..FlowConfig::default() });
    // The server's segment comes first; the watched port still makes it the server.
    w.send(1, 0, flags::ACK, b"");
    w.exchange(10);
    let (txs, stats) = w.finish();
    assert_eq!(stats.midstream, 1);
    assert_eq!(txs[0].server.1, SERVER.1);
    assert_eq!(txs[0].get(Metric::ServerRtt), None, "no handshake seen");
}

#[test]
fn retransmissions_and_resets_are_counted_on_the_flow_and_the_transaction() {
    let mut w = Wire::new(FlowConfig::default());
    w.handshake();
    w.send(0, 10, flags::ACK | flags::PSH, b"REQUEST");
    let seq = w.seq[1];
    w.send(1, 15, flags::ACK | flags::PSH, b"RESPONSE");
    w.send_seq(1, 215, flags::ACK | flags::PSH, b"RESPONSE", seq);
    w.send(0, 216, flags::ACK, b"");
    w.send(0, 300, flags::ACK | flags::PSH, b"AGAIN");
    w.send(1, 301, flags::RST, b"");
    let (txs, stats) = w.finish();
    assert_eq!((stats.retransmissions, stats.resets), (1, 1));
    assert_eq!(txs[0].get(Metric::RetransmitsServer), Some(1));
    assert_eq!(txs[0].get(Metric::ServerBytes), Some(8), "a retransmission adds no response bytes");
    assert_eq!(txs[1].outcome, Outcome::Reset);
    assert_eq!(txs[1].get(Metric::Resets), Some(1));
}

#[test]
fn a_new_syn_on_a_used_five_tuple_is_a_new_connection() {
    let mut w = Wire::new(FlowConfig::default());
    w.handshake();
    w.exchange(10);
    w.seq = [90_000, 70_000];
    w.handshake();
    w.exchange(30);
    let (txs, stats) = w.finish();
    assert_eq!(stats.flows, 2);
    assert_eq!(txs.len(), 2);
    assert!(txs.iter().all(|t| t.outcome == Outcome::Ok), "{txs:?}");
}

#[test]
fn an_idle_flow_ends_the_same_whether_or_not_a_sweep_saw_it() {
    let run = |sweep: bool| {
        let mut w = Wire::new(FlowConfig { idle_timeout_ns: 100 * MS, ..FlowConfig::default() });
        w.handshake();
        w.send(0, 10, flags::ACK | flags::PSH, b"REQUEST");
        if sweep {
            let Wire { table, out, .. } = &mut w;
            table.sweep(500 * MS, out);
        }
        w.exchange(600);
        w.finish()
    };
    let (swept, swept_stats) = run(true);
    let (unswept, unswept_stats) = run(false);
    assert_eq!(swept, unswept);
    assert_eq!(swept_stats, unswept_stats);
    assert_eq!(swept[0].outcome, Outcome::NoResponse, "the request before the idle time got no answer");
    assert_eq!(swept_stats.flows, 2, "after the idle time a new flow begins (midstream)");
}

#[test]
fn past_the_cap_the_least_recently_seen_flow_is_evicted() {
    let mut w = Wire::new(FlowConfig { max_flows: 1, ..FlowConfig::default() });
    w.handshake();
    w.send(0, 10, flags::ACK | flags::PSH, b"REQUEST");
    // Another client's SYN takes the only slot.
    let syn = TcpHeader { seq: 1, flags: flags::SYN, window: 100, ..TcpHeader::default() };
    let other = Packet::tcp_segment((addr_from_v4([10, 0, 0, 3]), 41000), (addr_from_v4(SERVER.0), SERVER.1), syn, b"");
    w.table.packet(20 * MS, 20 * MS, &other, &mut w.out);
    assert_eq!(w.table.stats.evicted, 1);
    assert_eq!(w.table.len(), 1);
    assert_eq!(w.out.len(), 1, "the evicted flow's open request ends");
    assert_eq!(w.out[0].outcome, Outcome::NoResponse);
}
