//! The per-transaction metrics of DESIGN.md: their names (the database's
//! column prefixes, the API's keys) and units.

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
    ResponseTransfer,
    ServerIdle,
    NetworkTransfer,
    WindowWait,
    Delivery,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Nanoseconds,
    Count,
    Bytes,
}

impl Metric {
    pub const COUNT: usize = 29;
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
        Metric::ResponseTransfer,
        Metric::ServerIdle,
        Metric::NetworkTransfer,
        Metric::WindowWait,
        Metric::Delivery,
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
            Metric::ResponseTransfer => "response_transfer",
            Metric::ServerIdle => "server_idle",
            Metric::NetworkTransfer => "network_transfer",
            Metric::WindowWait => "window_wait",
            Metric::Delivery => "delivery",
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
            | Metric::EstDelivery
            | Metric::ResponseTransfer
            | Metric::ServerIdle
            | Metric::NetworkTransfer
            | Metric::WindowWait
            | Metric::Delivery => Unit::Nanoseconds,
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
