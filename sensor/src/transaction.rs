//! Completed transactions and their metrics: what the timing stage hands to
//! aggregation and to `--transactions`.

use crate::decode::{addr_to_ip, Addr};
use std::io::Write as _;
use std::sync::Arc;

/// Every per-transaction metric of DESIGN.md. Durations are nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    FirstResponse,
    LastResponse,
    ServerTime,
    RequestTime,
    ServerRtt,
    ClientRtt,
    NetworkRtt,
    LastAck,
    EstDelivery,
    AckedPackets,
    AckedBytes,
    ServerPackets,
    ServerBytes,
    ServerPacketSize,
    RequestPackets,
    RequestBytes,
    ClientMss,
    ServerMss,
    ClientWindow,
    ServerWindow,
    RetransmitsClient,
    RetransmitsServer,
    ZeroWindows,
    Resets,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Nanoseconds,
    Count,
    Bytes,
}

impl Metric {
    pub const COUNT: usize = 24;
    pub const ALL: [Metric; Metric::COUNT] = [
        Metric::FirstResponse,
        Metric::LastResponse,
        Metric::ServerTime,
        Metric::RequestTime,
        Metric::ServerRtt,
        Metric::ClientRtt,
        Metric::NetworkRtt,
        Metric::LastAck,
        Metric::EstDelivery,
        Metric::AckedPackets,
        Metric::AckedBytes,
        Metric::ServerPackets,
        Metric::ServerBytes,
        Metric::ServerPacketSize,
        Metric::RequestPackets,
        Metric::RequestBytes,
        Metric::ClientMss,
        Metric::ServerMss,
        Metric::ClientWindow,
        Metric::ServerWindow,
        Metric::RetransmitsClient,
        Metric::RetransmitsServer,
        Metric::ZeroWindows,
        Metric::Resets,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Metric::FirstResponse => "first_response",
            Metric::LastResponse => "last_response",
            Metric::ServerTime => "server_time",
            Metric::RequestTime => "request_time",
            Metric::ServerRtt => "server_rtt",
            Metric::ClientRtt => "client_rtt",
            Metric::NetworkRtt => "network_rtt",
            Metric::LastAck => "last_ack",
            Metric::EstDelivery => "est_delivery",
            Metric::AckedPackets => "acked_packets",
            Metric::AckedBytes => "acked_bytes",
            Metric::ServerPackets => "server_packets",
            Metric::ServerBytes => "server_bytes",
            Metric::ServerPacketSize => "server_packet_size",
            Metric::RequestPackets => "request_packets",
            Metric::RequestBytes => "request_bytes",
            Metric::ClientMss => "client_mss",
            Metric::ServerMss => "server_mss",
            Metric::ClientWindow => "client_window",
            Metric::ServerWindow => "server_window",
            Metric::RetransmitsClient => "retransmits_client",
            Metric::RetransmitsServer => "retransmits_server",
            Metric::ZeroWindows => "zero_windows",
            Metric::Resets => "resets",
        }
    }

    pub const fn unit(self) -> Unit {
        match self {
            Metric::FirstResponse
            | Metric::LastResponse
            | Metric::ServerTime
            | Metric::RequestTime
            | Metric::ServerRtt
            | Metric::ClientRtt
            | Metric::NetworkRtt
            | Metric::LastAck
            | Metric::EstDelivery => Unit::Nanoseconds,
            Metric::AckedBytes
            | Metric::ServerBytes
            | Metric::ServerPacketSize
            | Metric::RequestBytes
            | Metric::ClientMss
            | Metric::ServerMss
            | Metric::ClientWindow
            | Metric::ServerWindow => Unit::Bytes,
            _ => Unit::Count,
        }
    }
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Complete; the protocol has no result code (generic TCP).
    Ok,
    /// Three-digit status of the final response: HTTP status, SMTP reply code.
    Status(u16),
    /// DNS response code.
    Dns(u8),
    /// No response before the response timeout or the end of the connection.
    NoResponse,
    /// The connection was reset before the response completed.
    Reset,
    /// The response began but the connection ended before it completed.
    Incomplete,
    /// The response was lost from the capture (sequence gap), not on the wire.
    Lost,
    /// The server refused the command (IMAP `NO`).
    No,
    /// The server rejected the command as malformed (IMAP `BAD`).
    Bad,
    /// The server answered with an error (POP3 `-ERR`).
    Error,
}

impl Outcome {
    /// Every label [`Outcome::label`] gives, in the order of the database's
    /// `outcome_*` columns (named after the lower-cased label).
    pub const LABELS: [&'static str; 21] = [
        "ok",
        "1xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "status_invalid",
        "NOERROR",
        "FORMERR",
        "SERVFAIL",
        "NXDOMAIN",
        "NOTIMP",
        "REFUSED",
        "DNS_OTHER",
        "no_response",
        "reset",
        "incomplete",
        "lost",
        "no",
        "bad",
        "error",
    ];

    /// Label aggregated per key: HTTP by class, DNS by rcode name.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Status(s) => match s / 100 {
                1 => "1xx",
                2 => "2xx",
                3 => "3xx",
                4 => "4xx",
                5 => "5xx",
                _ => "status_invalid",
            },
            Outcome::Dns(rcode) => match rcode {
                0 => "NOERROR",
                1 => "FORMERR",
                2 => "SERVFAIL",
                3 => "NXDOMAIN",
                4 => "NOTIMP",
                5 => "REFUSED",
                _ => "DNS_OTHER",
            },
            Outcome::NoResponse => "no_response",
            Outcome::Reset => "reset",
            Outcome::Incomplete => "incomplete",
            Outcome::Lost => "lost",
            Outcome::No => "no",
            Outcome::Bad => "bad",
            Outcome::Error => "error",
        }
    }

    /// Protocol result code, when there is one (HTTP status, DNS rcode).
    pub fn code(self) -> Option<u16> {
        match self {
            Outcome::Status(s) => Some(s),
            Outcome::Dns(r) => Some(u16::from(r)),
            _ => None,
        }
    }
}

/// A completed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub plugin: &'static str,
    pub signature: Arc<str>,
    pub client: (Addr, u16),
    pub server: (Addr, u16),
    pub outcome: Outcome,
    /// Request start (first request packet), Unix nanoseconds.
    pub start_ns: u64,
    pub metrics: [Option<u64>; Metric::COUNT],
}

impl Transaction {
    pub fn get(&self, m: Metric) -> Option<u64> {
        self.metrics[m as usize]
    }

    /// Appends the transaction as one JSON line (`--transactions`): durations
    /// in microseconds, `null` where a metric does not apply.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        let ip = |a: Addr| addr_to_ip(a).to_string();
        let _ = write!(
            out,
            "{{\"start_ns\":{},\"client\":\"{}\",\"client_port\":{},\"server\":\"{}\",\"server_port\":{},\"plugin\":\"{}\",\"signature\":",
            self.start_ns,
            ip(self.client.0),
            self.client.1,
            ip(self.server.0),
            self.server.1,
            self.plugin
        );
        let _ = serde_json::to_writer(&mut *out, &*self.signature);
        let _ = write!(out, ",\"outcome\":\"{}\",\"code\":", self.outcome.label());
        match self.outcome.code() {
            Some(c) => {
                let _ = write!(out, "{c}");
            }
            None => out.extend_from_slice(b"null"),
        }
        for m in Metric::ALL {
            let _ = write!(out, ",\"{}\":", m.name());
            match (self.get(m), m.unit()) {
                (None, _) => out.extend_from_slice(b"null"),
                (Some(ns), Unit::Nanoseconds) => {
                    let _ = write!(out, "{}.{:03}", ns / 1000, ns % 1000);
                }
                (Some(v), _) => {
                    let _ = write!(out, "{v}");
                }
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Where completed transactions go (the worker's aggregator and, with
/// `--transactions`, its JSON-lines buffer).
pub trait TransactionSink {
    fn transaction(&mut self, tx: Transaction);
}

impl TransactionSink for Vec<Transaction> {
    fn transaction(&mut self, tx: Transaction) {
        self.push(tx);
    }
}
