//! The timing stage alone: the events a plugin would call, on chunks with
//! times and offsets chosen here, give exactly the metrics of DESIGN.md.

use super::testing::{Harness, MS};
use super::*;
use crate::transaction::{Metric, Transaction};

fn ms(tx: &Transaction, m: Metric) -> Option<f64> {
    tx.get(m).map(|v| v as f64 / MS as f64)
}

#[test]
fn a_request_in_two_packets_and_a_response_in_three() {
    let mut h = Harness::tcp();
    h.chunk(Direction::ToServer, 10, 100, |ev| {
        ev.request_start(0, 0);
        ev.request_text(b"HELLO");
    });
    h.chunk(Direction::ToServer, 12, 50, |ev| ev.request_end(50));
    h.chunk(Direction::ToClient, 20, 1000, |ev| {
        ev.response_start(0, None);
    });
    h.chunk(Direction::ToClient, 21, 1000, |_| {});
    h.chunk(Direction::ToClient, 25, 500, |ev| ev.response_end(500, Outcome::Ok));
    assert!(h.emit().is_empty(), "waits for the client's ACK of the last byte");
    h.ack(31);
    let txs = h.emit();
    assert_eq!(txs.len(), 1);
    let tx = &txs[0];
    assert_eq!(tx.start_ns, 10 * MS);
    assert_eq!(tx.outcome, Outcome::Ok);
    assert_eq!(&*tx.signature, "TCP_7000");
    assert_eq!(ms(tx, Metric::FirstResponse), Some(10.0));
    assert_eq!(ms(tx, Metric::LastResponse), Some(15.0));
    assert_eq!(ms(tx, Metric::ServerTime), Some(8.0), "from the request's last packet");
    assert_eq!(ms(tx, Metric::RequestTime), Some(2.0));
    assert_eq!(ms(tx, Metric::ServerRtt), Some(4.0));
    assert_eq!(ms(tx, Metric::ClientRtt), Some(2.0));
    assert_eq!(ms(tx, Metric::NetworkRtt), Some(6.0));
    assert_eq!(ms(tx, Metric::LastAck), Some(21.0));
    assert_eq!(ms(tx, Metric::EstDelivery), Some(20.0), "last ACK less half the client's round trip");
    assert_eq!(tx.get(Metric::RequestPackets), Some(2));
    assert_eq!(tx.get(Metric::RequestBytes), Some(150));
    assert_eq!(tx.get(Metric::ServerPackets), Some(3));
    assert_eq!(tx.get(Metric::ServerBytes), Some(2500));
    assert_eq!(tx.get(Metric::ServerPacketSize), Some(833));
    assert_eq!(tx.get(Metric::AckedBytes), Some(2500));
    assert_eq!(tx.get(Metric::AckedPackets), Some(3));
    assert_eq!(tx.get(Metric::ClientWindow), Some(64_000));
    assert_eq!(tx.get(Metric::ServerWindow), Some(32_000));
    assert_eq!((tx.get(Metric::ClientMss), tx.get(Metric::ServerMss)), (Some(1460), Some(1400)));
    assert_eq!(tx.get(Metric::RetransmitsServer), Some(0));
}

#[test]
fn an_ack_before_the_last_bytes_does_not_end_the_transaction() {
    let mut h = Harness::tcp();
    h.chunk(Direction::ToServer, 0, 10, |ev| ev.request_start(0, 0));
    h.chunk(Direction::ToClient, 5, 100, |ev| {
        ev.response_start(0, None);
    });
    h.ack(6); // covers the first 100 bytes only
    h.chunk(Direction::ToClient, 9, 100, |ev| ev.response_end(100, Outcome::Ok));
    assert!(h.emit().is_empty());
    h.ack(14);
    let txs = h.emit();
    assert_eq!(ms(&txs[0], Metric::LastAck), Some(14.0));
    assert_eq!(txs[0].get(Metric::AckedBytes), Some(200));
}

#[test]
fn without_the_final_ack_delivery_is_estimated_from_the_last_response() {
    let mut h = Harness::tcp();
    h.chunk(Direction::ToServer, 0, 10, |ev| ev.request_start(0, 0));
    h.chunk(Direction::ToClient, 5, 100, |ev| {
        ev.response_start(0, None);
        ev.response_end(100, Outcome::Ok);
    });
    h.txs.flush(FlushReason::Close);
    let txs = h.emit();
    assert_eq!(txs[0].outcome, Outcome::Ok, "a complete response stays complete");
    assert_eq!(ms(&txs[0], Metric::LastAck), None);
    assert_eq!(ms(&txs[0], Metric::EstDelivery), Some(6.0), "last response + client_rtt / 2");
    assert_eq!(txs[0].get(Metric::AckedBytes), Some(0));
}

#[test]
fn unanswered_reset_and_cut_responses_get_their_outcomes() {
    let mut h = Harness::tcp();
    h.chunk(Direction::ToServer, 0, 10, |ev| ev.request_start(0, 0));
    h.txs.expire(1_000 * MS, 500 * MS);
    let txs = h.emit();
    assert_eq!(txs[0].outcome, Outcome::NoResponse);
    assert_eq!(txs[0].get(Metric::FirstResponse), None);
    assert_eq!(txs[0].get(Metric::ServerBytes), None, "no response, no response sizes");

    h.chunk(Direction::ToServer, 2_000, 10, |ev| ev.request_start(0, 0));
    h.chunk(Direction::ToClient, 2_010, 10, |ev| {
        ev.response_start(0, None);
    });
    h.txs.flush(FlushReason::Reset);
    assert_eq!(h.emit()[0].outcome, Outcome::Reset);

    h.chunk(Direction::ToServer, 3_000, 10, |ev| ev.request_start(0, 0));
    h.chunk(Direction::ToClient, 3_010, 10, |ev| {
        ev.response_start(0, None);
    });
    h.txs.flush(FlushReason::Close);
    assert_eq!(h.emit()[0].outcome, Outcome::Incomplete);
}

#[test]
fn responses_pair_in_order_or_by_id() {
    let mut h = Harness::tcp();
    h.chunk(Direction::ToServer, 0, 20, |ev| {
        ev.request_start(0, 7);
        ev.request_start(10, 8);
    });
    // Request 8 is answered first, by its id.
    h.chunk(Direction::ToClient, 4, 10, |ev| ev.response_end_id(0, 10, 8, Outcome::Ok));
    h.chunk(Direction::ToClient, 9, 10, |ev| ev.response_end_id(0, 10, 7, Outcome::Error));
    h.ack(10);
    let mut txs = h.emit();
    txs.sort_by_key(|t| t.get(Metric::FirstResponse));
    assert_eq!(txs.len(), 2);
    assert_eq!((txs[0].outcome, ms(&txs[0], Metric::FirstResponse)), (Outcome::Ok, Some(4.0)));
    assert_eq!((txs[1].outcome, ms(&txs[1], Metric::FirstResponse)), (Outcome::Error, Some(9.0)));
    // A response nobody asked for is counted, never paired by guess.
    h.chunk(Direction::ToClient, 20, 10, |ev| assert!(!ev.response_start(0, None)));
    assert_eq!(h.txs.unmatched_responses, 1);
}

#[test]
fn a_pipeline_deeper_than_the_cap_finishes_the_oldest() {
    let mut h = Harness::tcp();
    h.chunk(Direction::ToServer, 0, MAX_OPEN + 1, |ev| {
        for i in 0..=MAX_OPEN {
            ev.request_start(i, 0);
        }
    });
    assert_eq!(h.txs.overflowed, 1);
    let txs = h.emit();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].outcome, Outcome::NoResponse);
    assert_eq!(h.txs.open.len(), MAX_OPEN);
}

/// The parts of one transaction's time, ms: request transfer, server time,
/// server idle, network transfer, window wait, delivery; and last_ack.
fn parts(tx: &Transaction) -> ([f64; 6], f64) {
    let get = |m| ms(tx, m).unwrap_or(f64::NAN);
    let p = [
        get(Metric::RequestTime),
        get(Metric::ServerTime),
        get(Metric::ServerIdle),
        get(Metric::NetworkTransfer),
        get(Metric::WindowWait),
        get(Metric::Delivery),
    ];
    assert_eq!(p[2] + p[3] + p[4], get(Metric::ResponseTransfer), "the transfer's split adds up");
    assert_eq!(p.iter().sum::<f64>(), get(Metric::LastAck), "the parts add up to last_ack");
    (p, get(Metric::LastAck))
}

#[test]
fn a_server_that_pauses_with_nothing_in_flight_is_idle_not_slow_network() {
    let mut h = Harness::tcp();
    h.chunk(Direction::ToServer, 0, 10, |ev| ev.request_start(0, 0));
    h.chunk(Direction::ToClient, 5, 100, |ev| {
        ev.response_start(0, None);
    });
    h.ack(6); // all acknowledged: the server has nothing in flight
    h.chunk(Direction::ToClient, 200, 100, |ev| ev.response_end(100, Outcome::Ok));
    h.ack(202);
    let txs = h.emit();
    assert_eq!(parts(&txs[0]), ([0.0, 5.0, 194.0, 1.0, 0.0, 2.0], 202.0));
}

#[test]
fn data_in_flight_is_the_networks_time() {
    let mut h = Harness::tcp();
    h.chunk(Direction::ToServer, 0, 10, |ev| ev.request_start(0, 0));
    h.chunk(Direction::ToClient, 5, 1000, |ev| {
        ev.response_start(0, None);
    });
    h.chunk(Direction::ToClient, 25, 1000, |_| {});
    h.chunk(Direction::ToClient, 45, 1000, |ev| ev.response_end(1000, Outcome::Ok));
    h.ack(90);
    let txs = h.emit();
    assert_eq!(parts(&txs[0]), ([0.0, 5.0, 0.0, 40.0, 0.0, 45.0], 90.0));
}

#[test]
fn a_closed_receive_window_is_the_clients_time() {
    let mut h = Harness::tcp();
    h.chunk(Direction::ToServer, 0, 10, |ev| ev.request_start(0, 0));
    h.chunk(Direction::ToClient, 5, 1000, |ev| {
        ev.response_start(0, None);
    });
    h.ack_with_window(8, 0); // got it, but no room for more
    h.ack_with_window(108, 64_000); // the application read: room again
    h.chunk(Direction::ToClient, 110, 1000, |ev| ev.response_end(1000, Outcome::Ok));
    h.ack(111);
    let txs = h.emit();
    assert_eq!(parts(&txs[0]), ([0.0, 5.0, 2.0, 3.0, 100.0, 1.0], 111.0));
}
