//! Timing: turns the boundaries a plugin finds in the byte stream into timed
//! transactions.
//!
//! A plugin parses ordered payload and calls [`Events`] at request and
//! response boundaries (as byte offsets into the chunk it was given). This
//! module attributes every byte, packet and timestamp to the right open
//! transaction, waits for the client's ACK of the last response byte
//! (`t_ackN`), and turns finished transactions into [`Transaction`] records.
//!
//! Invariants:
//! - At most [`MAX_OPEN`] transactions are open per flow (pipelining depth);
//!   beyond that the oldest is finished as `NoResponse` and counted.
//! - Responses pair with requests first-in first-out, or by an id the plugin
//!   gives (DNS message id), never by guess.
//! - Every timestamp is a packet's capture timestamp; nothing reads a clock.

mod finish;

use crate::decode::Addr;
use crate::rules::Namer;
use crate::transaction::{Outcome, TransactionSink};
use crate::Direction;
use finish::finish;
use std::collections::VecDeque;
use std::sync::Arc;

/// Open transactions per flow; a deeper pipeline is not plausible traffic.
pub const MAX_OPEN: usize = 32;

/// What the flow layer knows about the connection, read when a transaction
/// finishes.
#[derive(Clone, Debug, Default)]
pub struct ConnFacts {
    pub plugin: &'static str,
    pub plugin_idx: u8,
    pub client: (Addr, u16),
    pub server: (Addr, u16),
    /// TCP (acks, handshake, retransmissions apply) or UDP.
    pub tcp: bool,
    pub t_syn: Option<u64>,
    pub t_synack: Option<u64>,
    pub t_ack: Option<u64>,
    pub client_mss: Option<u16>,
    pub server_mss: Option<u16>,
    /// Retransmitted segments sent by the client / by the server.
    pub retransmits: [u32; 2],
    pub zero_windows: u32,
    pub resets: u32,
}

impl ConnFacts {
    pub fn server_rtt(&self) -> Option<u64> {
        Some(self.t_synack?.saturating_sub(self.t_syn?))
    }

    pub fn client_rtt(&self) -> Option<u64> {
        Some(self.t_ack?.saturating_sub(self.t_synack?))
    }

    fn trouble(&self) -> [u32; 4] {
        [self.retransmits[0], self.retransmits[1], self.zero_windows, self.resets]
    }
}

/// Where a transaction's response stands. The request side is tracked apart
/// (`OpenTx::request_open`): a server may answer before the request is
/// complete (100 Continue, an early error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No response yet.
    Waiting,
    Responding,
    /// Response complete; waiting for the client's ACK of its last byte.
    AwaitingAck,
    /// Ready to be emitted.
    Done,
}

#[derive(Clone, Debug)]
struct OpenTx {
    /// Plugin's own id for matching (DNS message id); 0 when unused.
    id: u32,
    state: State,
    /// Request bytes are still arriving.
    request_open: bool,
    outcome: Outcome,
    name: Option<Arc<str>>,
    t_rq0: u64,
    t_rq1: u64,
    t_rs0: Option<u64>,
    t_rs1: Option<u64>,
    t_ack_n: Option<u64>,
    rq_packets: u64,
    rq_bytes: u64,
    rs_packets: u64,
    rs_bytes: u64,
    last_rq_packet: u64,
    last_rs_packet: u64,
    /// Server stream offset just past the last response byte.
    rs_end: u64,
    /// Server stream offset of the first response byte.
    rs_start: u64,
    /// Highest client ACK (server stream offset) seen while open.
    acked_to: u64,
    client_window: Option<u32>,
    server_window: Option<u32>,
    trouble_at_start: [u32; 4],
    transfer: Transfer,
}

/// What the server was waiting for while its response was on its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Everything sent was acknowledged: the server was producing the rest.
    ServerIdle = 0,
    /// Data in flight: waiting for ACKs, or repairing a loss.
    Network = 1,
    /// The client's receive window was full or closed.
    Window = 2,
}

/// The response transfer (`t_rs0 → t_rs1`) split by `Wait`, from the flow's
/// TCP state at each server data packet and client ACK.
#[derive(Clone, Copy, Debug, Default)]
struct Transfer {
    /// Nanoseconds per `Wait` up to the last event.
    spent: [u64; 3],
    /// `spent` at the last response data packet: the split of `t_rs0 → t_rs1`.
    at_last_data: [u64; 3],
    /// Time of the last event (0: the response has not started).
    mark: u64,
    /// The client's advertised window (scaled) at its last segment.
    client_window: Option<u32>,
}

/// Open transactions of one flow.
#[derive(Debug, Default)]
pub struct Transactions {
    open: VecDeque<OpenTx>,
    done: usize,
    /// Requests finished early because the pipeline was deeper than MAX_OPEN.
    pub overflowed: u64,
    /// Response starts that matched no open request.
    pub unmatched_responses: u64,
}

/// One chunk of payload (or a gap) as the plugin sees it.
#[derive(Clone, Copy, Debug)]
pub struct Chunk {
    pub dir: Direction,
    pub ts: u64,
    /// Serial of the packet within the flow; counts packets once per transaction.
    pub packet: u64,
    /// Offset of the chunk's first byte in its direction's stream.
    pub stream_offset: u64,
    pub len: usize,
    /// Bytes lost from the capture: counted as bytes, not as packets or times.
    pub gap: bool,
    /// The sender's advertised receive window, scale applied.
    pub window: Option<u32>,
}

/// The plugin's handle on the timing stage while it parses one chunk.
pub struct Events<'a> {
    txs: &'a mut Transactions,
    facts: &'a ConnFacts,
    namer: &'a mut Namer,
    chunk: Chunk,
    /// Bytes of the chunk before this offset are attributed.
    cursor: usize,
}

impl<'a> Events<'a> {
    pub fn new(txs: &'a mut Transactions, facts: &'a ConnFacts, namer: &'a mut Namer, chunk: Chunk) -> Self {
        Events { txs, facts, namer, chunk, cursor: 0 }
    }

    /// A new request starts at byte `at` of the chunk; `id` is the plugin's
    /// matching key (0 for first-in first-out protocols).
    pub fn request_start(&mut self, at: usize, id: u32) {
        self.attribute(at);
        if let Some(tx) = self.txs.open.back_mut() {
            tx.request_open = false;
        }
        if self.txs.open.len() >= MAX_OPEN {
            self.txs.overflowed += 1;
            if let Some(tx) = self.txs.open.iter_mut().find(|t| t.state != State::Done) {
                tx.state = State::Done;
                tx.outcome = Outcome::NoResponse;
                self.txs.done += 1;
            }
        }
        self.txs.open.push_back(OpenTx {
            id,
            state: State::Waiting,
            request_open: true,
            outcome: Outcome::NoResponse,
            name: None,
            t_rq0: self.chunk.ts,
            t_rq1: self.chunk.ts,
            t_rs0: None,
            t_rs1: None,
            t_ack_n: None,
            rq_packets: 0,
            rq_bytes: 0,
            rs_packets: 0,
            rs_bytes: 0,
            last_rq_packet: u64::MAX,
            last_rs_packet: u64::MAX,
            rs_end: 0,
            rs_start: 0,
            acked_to: 0,
            client_window: self.chunk.window,
            server_window: None,
            trouble_at_start: self.facts.trouble(),
            transfer: Transfer { client_window: self.chunk.window, ..Transfer::default() },
        });
    }

    /// Names the newest request from the text the rules match against.
    pub fn request_text(&mut self, text: &[u8]) {
        let (idx, plugin, port) = (self.facts.plugin_idx, self.facts.plugin, self.facts.server.1);
        if let Some(tx) = self.txs.open.back_mut() {
            if tx.name.is_none() {
                tx.name = Some(self.namer.name(idx, plugin, text, port));
            }
        }
    }

    /// The request being received ends just before byte `at`.
    pub fn request_end(&mut self, at: usize) {
        self.attribute(at);
        if let Some(tx) = self.txs.open.back_mut() {
            tx.request_open = false;
        }
    }

    /// The newest request goes on after an interim reply (SMTP `354`, `334`):
    /// the client's next bytes belong to it again, until `request_end`.
    pub fn request_resume(&mut self) {
        if let Some(tx) = self.txs.open.back_mut().filter(|t| t.state == State::Waiting) {
            tx.request_open = true;
        }
    }

    /// A response starts at byte `at`: to the oldest request without one, or
    /// to the request with `id`. Returns false when no request matches.
    pub fn response_start(&mut self, at: usize, id: Option<u32>) -> bool {
        self.attribute(at);
        let matches = |t: &OpenTx| t.state == State::Waiting && id.is_none_or(|id| t.id == id);
        let Some(tx) = self.txs.open.iter_mut().find(|t| matches(t)) else {
            self.txs.unmatched_responses += 1;
            return false;
        };
        tx.state = State::Responding;
        tx.t_rs0 = Some(self.chunk.ts);
        tx.rs_start = self.chunk.stream_offset + at as u64;
        tx.rs_end = tx.rs_start;
        tx.server_window = self.chunk.window;
        tx.transfer.mark = self.chunk.ts;
        true
    }

    /// The response being received ends just before byte `at`.
    pub fn response_end(&mut self, at: usize, outcome: Outcome) {
        self.finish_response(at, None, outcome);
    }

    /// The response to the request with `id` ends just before byte `at`
    /// (protocols that complete requests out of order: IMAP tags). A
    /// request with no response yet gets one starting at `start`.
    pub fn response_end_id(&mut self, start: usize, at: usize, id: u32, outcome: Outcome) {
        let responding = self.txs.open.iter().any(|t| t.state == State::Responding && t.id == id);
        if responding || self.response_start(start, Some(id)) {
            self.finish_response(at, Some(id), outcome);
        }
    }

    fn finish_response(&mut self, at: usize, id: Option<u32>, outcome: Outcome) {
        self.attribute(at);
        let tcp = self.facts.tcp;
        let tx = match id {
            None => self.txs.responding(),
            Some(id) => self.txs.open.iter_mut().find(|t| t.state == State::Responding && t.id == id),
        };
        if let Some(tx) = tx {
            tx.outcome = outcome;
            // Answered by bytes another transaction's answer took (one AMQP
            // ack for several publishes): its last response is its first.
            if tx.t_rs1.is_none() {
                tx.t_rs1 = tx.t_rs0;
            }
            // The final ACK may have come already (a turn-taking protocol ends
            // a response only when the client speaks again).
            tx.state = if tcp && tx.t_ack_n.is_none() { State::AwaitingAck } else { State::Done };
            if tx.state == State::Done {
                self.txs.done += 1;
            }
        }
    }

    /// The response of the oldest open request was lost from the capture
    /// (a gap consumed it whole).
    pub fn response_lost(&mut self) {
        if let Some(tx) = self.txs.open.iter_mut().find(|t| matches!(t.state, State::Waiting | State::Responding)) {
            tx.outcome = Outcome::Lost;
            tx.state = State::Done;
            self.txs.done += 1;
        }
    }

    /// The request with `id` ends without (the rest of) its response, with
    /// `outcome`: HTTP/2's RST_STREAM, or a stream a GOAWAY gives up.
    pub fn abandon(&mut self, id: u32, outcome: Outcome) {
        let open = |t: &OpenTx| t.id == id && matches!(t.state, State::Waiting | State::Responding);
        if let Some(tx) = self.txs.open.iter_mut().find(|t| open(t)) {
            tx.outcome = outcome;
            tx.state = State::Done;
            self.txs.done += 1;
        }
    }

    /// After a handover (HTTP/1.1's `Upgrade: h2c`): the request the
    /// previous plugin left open goes on as `id` of this one, its response
    /// (the 101 was only the switch) still to come. False when there is none.
    pub fn continue_as(&mut self, id: u32) -> bool {
        let open = |t: &&mut OpenTx| matches!(t.state, State::Waiting | State::Responding);
        let Some(tx) = self.txs.open.iter_mut().rev().find(open) else { return false };
        tx.id = id;
        tx.state = State::Waiting;
        (tx.t_rs0, tx.t_rs1) = (None, None);
        true
    }

    /// Chunk bytes from `at` on are not this parser's (another plugin takes
    /// them over): they are attributed by the next one.
    pub fn stop_at(&mut self, at: usize) {
        self.attribute(at);
        self.chunk.len = self.chunk.len.min(at);
    }

    /// Attributes chunk bytes `[cursor, upto)` to the current transaction of
    /// the chunk's direction.
    fn attribute(&mut self, upto: usize) {
        let upto = upto.min(self.chunk.len);
        if upto <= self.cursor {
            return;
        }
        let n = (upto - self.cursor) as u64;
        let c = self.chunk;
        self.cursor = upto;
        match c.dir {
            Direction::ToServer => {
                if let Some(tx) = self.txs.open.back_mut().filter(|t| t.request_open) {
                    tx.rq_bytes += n;
                    if !c.gap {
                        tx.t_rq1 = c.ts;
                        if tx.last_rq_packet != c.packet {
                            tx.last_rq_packet = c.packet;
                            tx.rq_packets += 1;
                        }
                    }
                }
            }
            Direction::ToClient => {
                if let Some(tx) = self.txs.responding() {
                    if !c.gap {
                        // The time since the last event goes to what the
                        // server waited for before sending these bytes.
                        tx.account_transfer(c.ts, self.facts.server_mss);
                    }
                    tx.rs_bytes += n;
                    tx.rs_end = c.stream_offset + upto as u64;
                    if !c.gap {
                        tx.transfer.at_last_data = tx.transfer.spent;
                    }
                    // An ACK seen before these bytes did not cover them.
                    if tx.acked_to < tx.rs_end {
                        tx.t_ack_n = None;
                    }
                    if !c.gap {
                        tx.t_rs1 = Some(c.ts);
                        if tx.last_rs_packet != c.packet {
                            tx.last_rs_packet = c.packet;
                            tx.rs_packets += 1;
                        }
                    }
                }
            }
        }
    }
}

impl Drop for Events<'_> {
    /// Whatever the plugin did not delimit belongs to the current transaction.
    fn drop(&mut self) {
        self.attribute(self.chunk.len);
    }
}

/// Why open transactions are being finished without their natural end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushReason {
    Reset,
    /// FIN, idle timeout, eviction or end of capture.
    Close,
}

impl OpenTx {
    /// What the server waits for now, from the bytes in flight and the
    /// client's window: less than a segment of room is a full window.
    fn waiting_for(&self, server_mss: Option<u16>) -> Wait {
        let in_flight = self.rs_end.saturating_sub(self.acked_to.max(self.rs_start));
        match self.transfer.client_window.map(u64::from) {
            Some(0) => Wait::Window,
            _ if in_flight == 0 => Wait::ServerIdle,
            Some(w) if in_flight + u64::from(server_mss.unwrap_or(1460)) > w => Wait::Window,
            _ => Wait::Network,
        }
    }

    /// Charges the time since the last event of the response transfer to
    /// what the server was waiting for, and moves the mark to `ts`.
    fn account_transfer(&mut self, ts: u64, server_mss: Option<u16>) {
        if self.transfer.mark == 0 || ts <= self.transfer.mark {
            return;
        }
        let wait = self.waiting_for(server_mss);
        self.transfer.spent[wait as usize] += ts - self.transfer.mark;
        self.transfer.mark = ts;
    }
}

impl Transactions {
    fn responding(&mut self) -> Option<&mut OpenTx> {
        self.open.iter_mut().find(|t| t.state == State::Responding)
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// A client ACK covering server stream offset `ack`, advertising
    /// `window` (scaled).
    pub fn client_ack(&mut self, ack: u64, ts: u64, window: Option<u32>, server_mss: Option<u16>) {
        if let Some(tx) = self.responding() {
            tx.account_transfer(ts, server_mss);
            tx.transfer.client_window = window;
        }
        for tx in &mut self.open {
            if matches!(tx.state, State::Responding | State::AwaitingAck) && ack > tx.acked_to {
                tx.acked_to = ack;
                if ack >= tx.rs_end && tx.t_ack_n.is_none() {
                    tx.t_ack_n = Some(ts);
                    if tx.state == State::AwaitingAck {
                        tx.state = State::Done;
                        self.done += 1;
                    }
                }
            }
        }
    }

    /// Finishes requests that waited longer than `timeout_ns` for a response,
    /// and responses whose final ACK never came within it.
    pub fn expire(&mut self, now: u64, timeout_ns: u64) {
        for tx in &mut self.open {
            let since = tx.t_rs1.unwrap_or(tx.t_rq1);
            if matches!(tx.state, State::Waiting | State::AwaitingAck) && now.saturating_sub(since) > timeout_ns {
                tx.state = State::Done;
                self.done += 1;
            }
        }
    }

    /// Finishes every open transaction (connection closed, reset or evicted).
    pub fn flush(&mut self, reason: FlushReason) {
        for tx in &mut self.open {
            match (tx.state, reason) {
                (State::Done, _) | (State::AwaitingAck, _) => {}
                (State::Responding, FlushReason::Reset) => tx.outcome = Outcome::Reset,
                (State::Responding, FlushReason::Close) => tx.outcome = Outcome::Incomplete,
                (_, FlushReason::Reset) => tx.outcome = Outcome::Reset,
                (_, FlushReason::Close) => tx.outcome = Outcome::NoResponse,
            }
            if tx.state != State::Done {
                tx.state = State::Done;
                self.done += 1;
            }
        }
    }

    /// Hands finished transactions to `sink`, oldest first.
    pub fn emit_done(&mut self, facts: &ConnFacts, sink: &mut dyn TransactionSink) {
        if self.done == 0 {
            return;
        }
        let mut i = 0;
        while i < self.open.len() {
            if self.open[i].state == State::Done {
                if let Some(tx) = self.open.remove(i) {
                    sink.transaction(finish(tx, facts));
                }
            } else {
                i += 1;
            }
        }
        self.done = 0;
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
