//! A finished transaction's metrics, computed from its open record and the
//! connection's facts (DESIGN.md's metric table).

use super::{ConnFacts, OpenTx};
use crate::transaction::{Metric, Transaction};
use std::sync::Arc;

/// Computes the metrics of DESIGN.md's table for one finished transaction.
pub(super) fn finish(tx: OpenTx, f: &ConnFacts) -> Transaction {
    let mut m = [None; Metric::COUNT];
    let mut set = |metric: Metric, v: Option<u64>| m[metric as usize] = v;
    let since_rq0 = |t: Option<u64>| t.map(|t| t.saturating_sub(tx.t_rq0));
    let client_rtt = f.client_rtt();
    let last_response = since_rq0(tx.t_rs1);
    set(Metric::FirstResponse, since_rq0(tx.t_rs0));
    set(Metric::LastResponse, last_response);
    set(Metric::ServerTime, tx.t_rs0.map(|t| t.saturating_sub(tx.t_rq1)));
    set(Metric::RequestTime, Some(tx.t_rq1.saturating_sub(tx.t_rq0)));
    set(Metric::ServerRtt, f.server_rtt());
    set(Metric::ClientRtt, client_rtt);
    set(Metric::NetworkRtt, f.server_rtt().zip(client_rtt).map(|(s, c)| s + c));
    set(Metric::LastAck, since_rq0(tx.t_ack_n));
    let est = match (tx.t_ack_n, client_rtt, last_response) {
        (Some(t), Some(rtt), _) => Some(t.saturating_sub(rtt / 2).saturating_sub(tx.t_rq0)),
        (None, Some(rtt), Some(last)) => Some(last + rtt / 2),
        _ => None,
    };
    set(Metric::EstDelivery, est);
    // The parts of the time (model::diagnosis), adding up to last_ack.
    if let (Some(rs0), Some(rs1)) = (tx.t_rs0, tx.t_rs1) {
        let transfer = rs1.saturating_sub(rs0);
        let [idle, _, window] = tx.transfer.at_last_data;
        // Stamps out of order can charge past t_rs1: the split is kept
        // within the transfer, the network part taking what is left.
        let (idle, window) = (idle.min(transfer), window.min(transfer - idle.min(transfer)));
        set(Metric::ResponseTransfer, Some(transfer));
        set(Metric::ServerIdle, Some(idle));
        set(Metric::WindowWait, Some(window));
        set(Metric::NetworkTransfer, Some(transfer - idle - window));
        set(Metric::Delivery, tx.t_ack_n.map(|t| t.saturating_sub(rs1)));
    }
    let responded = tx.t_rs0.is_some();
    if responded {
        set(Metric::ServerPackets, Some(tx.rs_packets));
        set(Metric::ServerBytes, Some(tx.rs_bytes));
        set(Metric::ServerPacketSize, tx.rs_bytes.checked_div(tx.rs_packets));
        set(Metric::ServerWindow, tx.server_window.map(u64::from));
        if f.tcp {
            let acked_bytes = tx.acked_to.clamp(tx.rs_start, tx.rs_end) - tx.rs_start;
            let acked_packets = if acked_bytes >= tx.rs_bytes {
                tx.rs_packets
            } else {
                // Partial acknowledgement: packets in proportion to bytes.
                (tx.rs_packets * acked_bytes).checked_div(tx.rs_bytes).unwrap_or(0)
            };
            set(Metric::AckedBytes, Some(acked_bytes));
            set(Metric::AckedPackets, Some(acked_packets));
        }
    }
    set(Metric::RequestPackets, Some(tx.rq_packets));
    set(Metric::RequestBytes, Some(tx.rq_bytes));
    set(Metric::ClientWindow, tx.client_window.map(u64::from));
    if f.tcp {
        set(Metric::ClientMss, f.client_mss.map(u64::from));
        set(Metric::ServerMss, f.server_mss.map(u64::from));
        let now = f.trouble();
        let diff = |i: usize| Some(u64::from(now[i].saturating_sub(tx.trouble_at_start[i])));
        set(Metric::RetransmitsClient, diff(0));
        set(Metric::RetransmitsServer, diff(1));
        set(Metric::ZeroWindows, diff(2));
        set(Metric::Resets, diff(3));
    }
    Transaction {
        plugin: f.plugin,
        signature: tx.name.unwrap_or_else(|| Arc::from(format!("{}_OTHER", f.plugin.to_ascii_uppercase()))),
        client: f.client,
        server: f.server,
        outcome: tx.outcome,
        start_ns: tx.t_rq0,
        metrics: m,
    }
}
