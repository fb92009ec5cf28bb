//! A hand-built TCP conversation through the flow table, where every
//! expected time is the one the test put on the packet.

use pastmon::decode::{addr_from_v4, flags, Packet, TcpHeader};
use pastmon::flow::{FlowConfig, FlowTable};
use pastmon::rules::{Namer, Rules};
use pastmon::transaction::{Metric, Outcome, Transaction};
use std::sync::Arc;

pub const MS: u64 = 1_000_000;
pub const T0: u64 = 1_700_000_000 * 1_000_000_000;

/// One client and one server; `now` is in milliseconds since T0.
pub struct Conv {
    pub table: FlowTable,
    pub out: Vec<Transaction>,
    pub now: u64,
    /// Next sequence number of client and server.
    pub seq: [u32; 2],
    pub client_port: u16,
    pub server_port: u16,
}

impl Conv {
    pub fn with_config(server_port: u16, cfg: FlowConfig) -> Conv {
        Conv {
            table: FlowTable::new(cfg, Namer::new(Arc::new(Rules::default_rules(&pastmon::plugins::names())))),
            out: Vec::new(),
            now: 0,
            seq: [1000, 9000],
            client_port: 40000,
            server_port,
        }
    }

    /// A connection with its handshake: SYN at 0, SYN/ACK at 10 ms, ACK at 12 ms.
    pub fn open(server_port: u16) -> Conv {
        let mut c = Conv::with_config(server_port, FlowConfig::default());
        c.handshake();
        c
    }

    pub fn handshake(&mut self) {
        self.send(0, flags::SYN, b"");
        self.now += 10;
        self.send(1, flags::SYN | flags::ACK, b"");
        self.now += 2;
        self.send(0, flags::ACK, b"");
    }

    pub fn send(&mut self, from: usize, fl: u8, data: &[u8]) {
        let (client, server) =
            ((addr_from_v4([10, 0, 0, 2]), self.client_port), (addr_from_v4([10, 0, 0, 1]), self.server_port));
        let (src, dst) = if from == 0 { (client, server) } else { (server, client) };
        let syn = fl & flags::SYN != 0;
        let h = TcpHeader {
            seq: self.seq[from],
            ack: if fl & flags::ACK != 0 { self.seq[1 - from] } else { 0 },
            flags: fl,
            window: 1000,
            mss: syn.then_some(1460),
            wscale: syn.then_some(2),
            sack_permitted: false,
            timestamps: None,
        };
        let p = Packet::tcp_segment(src, dst, h, data);
        self.seq[from] =
            self.seq[from].wrapping_add(data.len() as u32 + u32::from(syn) + u32::from(fl & flags::FIN != 0));
        let ts = T0 + self.now * MS;
        self.table.packet(ts, ts, &p, &mut self.out);
    }

    pub fn client(&mut self, at_ms: u64, data: &[u8]) {
        self.now = at_ms;
        self.send(0, flags::ACK | flags::PSH, data);
    }

    pub fn server(&mut self, at_ms: u64, data: &[u8]) {
        self.now = at_ms;
        self.send(1, flags::ACK | flags::PSH, data);
    }

    pub fn client_ack(&mut self, at_ms: u64) {
        self.now = at_ms;
        self.send(0, flags::ACK, b"");
    }

    /// A client ACK of `n` server bytes (or a SYN/ACK) the capture has not
    /// shown yet: stamped by an rx queue running ahead of the server's.
    pub fn ack_of_unseen(&mut self, at_ms: u64, n: u32) {
        self.now = at_ms;
        let next = self.seq[1];
        self.seq[1] = next.wrapping_add(n);
        self.send(0, flags::ACK, b"");
        self.seq[1] = next;
    }

    pub fn finish(mut self) -> Vec<Transaction> {
        self.table.close_all(&mut self.out);
        self.out.sort_by_key(|t| t.start_ns);
        self.out
    }
}

pub fn ms(t: &Transaction, m: Metric) -> Option<f64> {
    t.get(m).map(|v| v as f64 / MS as f64)
}

pub type Summary = (String, Outcome, Option<f64>, Option<f64>);

/// Name, outcome, first and last response (ms) of each transaction.
pub fn summary(txs: &[Transaction]) -> Vec<Summary> {
    txs.iter()
        .map(|t| (t.signature.to_string(), t.outcome, ms(t, Metric::FirstResponse), ms(t, Metric::LastResponse)))
        .collect()
}

/// A transaction that was answered, as `summary` shows it.
pub fn answered(name: &str, outcome: Outcome, first_ms: f64, last_ms: f64) -> Summary {
    (name.to_owned(), outcome, Some(first_ms), Some(last_ms))
}
