//! Types shared by the pastmon sensor (userspace) and its XDP program.
//!
//! Invariants:
//! - `no_std`, no allocation: the XDP side links this crate too.
//! - Every type that crosses the kernel/user boundary is `#[repr(C)]` with an
//!   explicit layout; changing a field changes the wire format between the two.
//! - Protocol constants live here once, so the kernel-side filter and the
//!   userspace decoder agree on what they parse.
#![no_std]

pub mod xdp;

/// EtherType values the parsers understand.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88A8;
    /// Pre-standard Q-in-Q outer tag, still sent by some switches.
    pub const QINQ_OLD: u16 = 0x9100;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// Transparent Ethernet bridging: an Ethernet frame in GRE or GENEVE.
    pub const TEB: u16 = 0x6558;
    /// ERSPAN types I and II in GRE (type I without a sequence number).
    pub const ERSPAN_II: u16 = 0x88BE;
    pub const ERSPAN_III: u16 = 0x22EB;
}

/// The standard UDP ports of tunnels the decoders open.
pub mod udp_port {
    pub const VXLAN: u16 = 4789;
    pub const GENEVE: u16 = 6081;
}

/// UDP ports per tunnel kind a decoder opens.
pub const MAX_TUNNEL_PORTS: usize = 4;

/// The UDP destination ports of VXLAN and of GENEVE the decoders open (0:
/// an unused slot); one value for the XDP program and userspace, so both
/// open the same tunnels.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelPorts {
    pub vxlan: [u16; MAX_TUNNEL_PORTS],
    pub geneve: [u16; MAX_TUNNEL_PORTS],
}

impl TunnelPorts {
    pub const STANDARD: TunnelPorts =
        TunnelPorts { vxlan: [udp_port::VXLAN, 0, 0, 0], geneve: [udp_port::GENEVE, 0, 0, 0] };

    /// The tunnel a UDP datagram to `port` carries, if any. A fixed loop
    /// the verifier can bound.
    #[inline(always)]
    pub fn udp_tunnel(&self, port: u16) -> Option<Encapsulation> {
        if port == 0 {
            return None;
        }
        let mut i = 0;
        while i < MAX_TUNNEL_PORTS {
            if self.vxlan[i] == port {
                return Some(Encapsulation::Vxlan);
            }
            if self.geneve[i] == port {
                return Some(Encapsulation::Geneve);
            }
            i += 1;
        }
        None
    }
}

impl Default for TunnelPorts {
    fn default() -> Self {
        TunnelPorts::STANDARD
    }
}

/// The tunnels the decoders open, one counter set each (frames, bytes,
/// malformed headers). A frame counts once under every encapsulation it
/// went through.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Encapsulation {
    Vxlan = 0,
    Geneve = 1,
    /// GRE carrying IP or bridged Ethernet (ERSPAN counts as its own).
    Gre = 2,
    /// ERSPAN types I, II and III (in GRE).
    Erspan = 3,
    /// IPv4 or IPv6 in IPv4 or IPv6.
    IpInIp = 4,
    /// An MPLS label stack (IP or an Ethernet pseudowire under it).
    Mpls = 5,
}

impl Encapsulation {
    pub const COUNT: usize = 6;
    pub const ALL: [Encapsulation; Self::COUNT] = [
        Encapsulation::Vxlan,
        Encapsulation::Geneve,
        Encapsulation::Gre,
        Encapsulation::Erspan,
        Encapsulation::IpInIp,
        Encapsulation::Mpls,
    ];

    /// Stable snake_case name, used in configuration, reports, metrics and
    /// the database.
    pub const fn name(self) -> &'static str {
        match self {
            Encapsulation::Vxlan => "vxlan",
            Encapsulation::Geneve => "geneve",
            Encapsulation::Gre => "gre",
            Encapsulation::Erspan => "erspan",
            Encapsulation::IpInIp => "ipip",
            Encapsulation::Mpls => "mpls",
        }
    }

    /// This encapsulation's bit in a set of them (`u8`).
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// IP protocol numbers the parsers understand.
pub mod ipproto {
    pub const HOPOPT: u8 = 0;
    /// IPv4 in IP.
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// IPv6 in IP.
    pub const IPV6: u8 = 41;
    pub const IPV6_ROUTE: u8 = 43;
    pub const IPV6_FRAG: u8 = 44;
    pub const GRE: u8 = 47;
    pub const AH: u8 = 51;
    pub const IPV6_NONXT: u8 = 59;
    pub const IPV6_OPTS: u8 = 60;
}

/// Why a frame was not analysed. Both the XDP program and the userspace
/// decoder count skipped frames by these reasons, one counter each.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Link type of the capture is not one the decoder knows.
    UnsupportedLinkType = 0,
    /// Frame ended inside the link-layer header (Ethernet, VLAN tags, SLL).
    TruncatedLink = 1,
    /// Not IPv4 or IPv6 (ARP, LLDP, STP, ...).
    NotIp = 2,
    /// Frame ended inside the IP header, or the header is inconsistent.
    BadIpHeader = 3,
    /// IPv4 fragment or IPv6 fragment header: not reassembled, counted.
    IpFragment = 4,
    /// IP payload is neither TCP nor UDP (ICMP, GRE, ESP, ...).
    NotTcpUdp = 5,
    /// Frame ended inside the TCP or UDP header, or its length is invalid.
    BadTransportHeader = 6,
}

impl SkipReason {
    pub const COUNT: usize = 7;
    pub const ALL: [SkipReason; Self::COUNT] = [
        SkipReason::UnsupportedLinkType,
        SkipReason::TruncatedLink,
        SkipReason::NotIp,
        SkipReason::BadIpHeader,
        SkipReason::IpFragment,
        SkipReason::NotTcpUdp,
        SkipReason::BadTransportHeader,
    ];

    /// Stable snake_case name, used in reports, metrics and the database.
    pub const fn name(self) -> &'static str {
        match self {
            SkipReason::UnsupportedLinkType => "unsupported_link_type",
            SkipReason::TruncatedLink => "truncated_link",
            SkipReason::NotIp => "not_ip",
            SkipReason::BadIpHeader => "bad_ip_header",
            SkipReason::IpFragment => "ip_fragment",
            SkipReason::NotTcpUdp => "not_tcp_udp",
            SkipReason::BadTransportHeader => "bad_transport_header",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encapsulations_are_dense_and_ordered() {
        for (i, e) in Encapsulation::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i);
        }
    }

    #[test]
    fn skip_reasons_are_dense_and_ordered() {
        for (i, r) in SkipReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
