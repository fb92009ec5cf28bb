//! Decode: frame bytes → addresses, ports, TCP header fields and payload.
//!
//! Handles Ethernet, 802.1Q and 802.1ad (any depth up to [`MAX_VLAN_TAGS`]),
//! Linux cooked v1/v2, BSD null and raw IP links; IPv4 and IPv6 with extension
//! headers; TCP with options; UDP. Tunnels are opened (`tunnel`, up to
//! [`MAX_TUNNELS`] deep) and the innermost packet is the one decoded: VXLAN
//! (UDP 4789), GENEVE (UDP 6081), GRE with IP or Ethernet inside (transparent
//! bridging) and ERSPAN types I, II and III in it, IP in IP (4 and 41) and
//! MPLS label stacks (with an Ethernet pseudowire's control word); the outer
//! headers never become a flow. A tunnel header that is cut short or
//! inconsistent counts as a bad transport header, and as malformed for its
//! encapsulation in the [`TunnelPath`] the caller counts. Works on the
//! captured bytes only: every read is bounds-checked, nothing allocates,
//! nothing panics. A frame that does not
//! decode returns the [`SkipReason`] it is counted under.
//!
//! The payload is cut to the IP length (Ethernet padding is not payload) and to
//! what was captured; `payload_len` keeps the length the headers announce, so
//! the flow layer can count bytes lost to a snapshot length without inventing
//! them.
//!
//! (DESIGN.md names etherparse; this hand-written decoder replaces it because it
//! also needs SLL2, BSD null, per-reason skip counts shared with the XDP side,
//! and it is the per-packet hot path: one pass, no intermediate slices.)

use crate::capture::LinkType;
use pastmon_common::{ethertype, ipproto, Encapsulation, SkipReason, TunnelPorts};

const MAX_VLAN_TAGS: usize = 4;
/// Tunnels inside tunnels opened at most (MPLS stacks included); a deeper
/// one is left closed: its frame counts as not TCP/UDP or not IP.
const MAX_TUNNELS: u8 = 3;
const MAX_MPLS_LABELS: usize = 8;
const MAX_IPV6_EXT_HEADERS: usize = 8;

/// An IP address as 128 bits; IPv4 is stored IPv4-mapped (`::ffff:a.b.c.d`).
pub type Addr = u128;

pub fn addr_from_v4(b: [u8; 4]) -> Addr {
    0xffff_0000_0000 | u128::from(u32::from_be_bytes(b))
}

pub fn addr_to_ip(a: Addr) -> std::net::IpAddr {
    let v6 = std::net::Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => v4.into(),
        None => v6.into(),
    }
}

/// TCP flag bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpHeader {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// Raw window field (scale not applied).
    pub window: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// TSval, TSecr.
    pub timestamps: Option<(u32, u32)>,
}

impl TcpHeader {
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp(TcpHeader),
    Udp,
}

#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    pub transport: Transport,
    /// Captured payload bytes, without link padding.
    pub payload: &'a [u8],
    /// Payload length the IP header announces (≥ `payload.len()`).
    pub payload_len: u32,
    /// First fragment of a fragmented datagram (later fragments are skipped).
    pub first_fragment: bool,
    /// The tunnel tenant (VNI, ERSPAN session, GRE key) keying its flow, 0
    /// for none: the encapsulation + 1 above the id's 32 bits.
    pub tenant: u64,
}

impl<'a> Packet<'a> {
    /// A whole TCP segment from `src` to `dst`, as `decode` gives one
    /// (hand-built conversations in tests).
    pub fn tcp_segment(src: (Addr, u16), dst: (Addr, u16), header: TcpHeader, payload: &'a [u8]) -> Packet<'a> {
        Packet {
            src: src.0,
            dst: dst.0,
            sport: src.1,
            dport: dst.1,
            transport: Transport::Tcp(header),
            payload,
            payload_len: payload.len() as u32,
            first_fragment: false,
            tenant: 0,
        }
    }

    pub fn tcp(&self) -> Option<&TcpHeader> {
        match &self.transport {
            Transport::Tcp(h) => Some(h),
            Transport::Udp => None,
        }
    }
}

/// Which tunnels the decoder opens (`[analysis.tunnels]`), and which of
/// their ids keep flows apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnels {
    /// Off: "outer only": no tunnel is opened, a tunnelled frame is analysed
    /// (or skipped) by its outer headers.
    pub open: bool,
    pub ports: TunnelPorts,
    /// Encapsulations (`Encapsulation::bit`s) whose id (VXLAN and GENEVE
    /// VNI, ERSPAN session, GRE key) is part of the flow key: equal inner
    /// 5-tuples of two tenants stay two flows.
    pub tenant_key: u8,
    /// ERSPAN III's switch timestamp is the frame's time (`SwitchStamp`).
    pub switch_time: bool,
}

impl Default for Tunnels {
    fn default() -> Self {
        Tunnels {
            open: true,
            ports: TunnelPorts::STANDARD,
            tenant_key: Encapsulation::Vxlan.bit() | Encapsulation::Geneve.bit(),
            switch_time: false,
        }
    }
}

/// What one frame's tunnels were: filled in by [`Decoder::decode`] whether
/// the frame decodes or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelPath {
    /// Encapsulations the frame went through (`Encapsulation::bit`s).
    pub layers: u8,
    /// The encapsulation whose header was cut short or inconsistent.
    pub malformed: Option<Encapsulation>,
    /// ERSPAN III's timestamp of the innermost ERSPAN III header.
    pub switch_stamp: Option<SwitchStamp>,
}

/// The timestamp an ERSPAN III header carries: 32 bits in the unit its
/// granularity names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchStamp {
    pub value: u32,
    /// 0: 100 µs, 1: 100 ns, 2: IEEE 1588 (nanoseconds of the second),
    /// 3: platform-specific (not used).
    pub granularity: u8,
}

impl SwitchStamp {
    /// The stamp as Unix nanoseconds: of the times it can stand for (it
    /// wraps: 100 µs units every 4.97 days, 100 ns units every 429 s, 1588
    /// nanoseconds every second), the nearest to `near_ns` (the capture's
    /// own time). None for a platform-specific stamp or a 1588 one out of
    /// range.
    pub fn unix_ns(self, near_ns: u64) -> Option<u64> {
        let (unit, period) = match self.granularity {
            0 => (100_000, 1u64 << 32),
            1 => (100, 1u64 << 32),
            2 if self.value < 1_000_000_000 => (1, 1_000_000_000),
            _ => return None,
        };
        let near = near_ns / unit;
        let base = near - near % period + u64::from(self.value);
        let nearest = [base.checked_sub(period), Some(base), base.checked_add(period)]
            .into_iter()
            .flatten()
            .min_by_key(|t| t.abs_diff(near))?;
        nearest.checked_mul(unit)
    }
}

/// Decodes frames with one tunnel configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct Decoder {
    pub tunnels: Tunnels,
}

/// `Decoder::default().decode`, for one-off frames (tests, fuzzing).
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, SkipReason> {
    Decoder::default().decode(link, frame, &mut TunnelPath::default())
}

/// One frame's way down through its headers.
struct Walk<'c> {
    tunnels: &'c Tunnels,
    /// Tunnels opened so far.
    depth: u8,
    path: &'c mut TunnelPath,
    /// The innermost id of an encapsulation in `tenant_key`.
    tenant: u64,
}

impl Walk<'_> {
    /// Enters a tunnel of `kind`; false past [`MAX_TUNNELS`].
    fn enter(&mut self, kind: Encapsulation) -> bool {
        if self.depth >= MAX_TUNNELS {
            return false;
        }
        self.depth += 1;
        self.path.layers |= kind.bit();
        true
    }

    /// The error of a `kind` header cut short or inconsistent.
    fn malformed(&mut self, kind: Encapsulation) -> SkipReason {
        self.path.malformed = Some(kind);
        SkipReason::BadTransportHeader
    }

    /// The tunnel's tenant id, where the configuration keys flows by it.
    fn tenant(&mut self, kind: Encapsulation, id: u32) {
        if self.tunnels.tenant_key & kind.bit() != 0 {
            self.tenant = (u64::from(kind as u8) + 1) << 32 | u64::from(id);
        }
    }
}

impl Decoder {
    /// The innermost packet of `frame`, or why it is not analysed; `path`
    /// says which tunnels the frame went through either way.
    pub fn decode<'a>(&self, link: LinkType, frame: &'a [u8], path: &mut TunnelPath) -> Result<Packet<'a>, SkipReason> {
        *path = TunnelPath::default();
        let (ether_type, l3) = match link {
            LinkType::Ethernet => ethernet(frame)?,
            LinkType::LinuxSll => (be16(frame, 14).ok_or(SkipReason::TruncatedLink)?, 16),
            LinkType::LinuxSll2 => (be16(frame, 0).ok_or(SkipReason::TruncatedLink)?, 20),
            LinkType::Null => {
                let family = frame.get(0..4).ok_or(SkipReason::TruncatedLink)?;
                // Host byte order of the capturing machine: accept both.
                let family = u32::from_le_bytes([family[0], family[1], family[2], family[3]]);
                match family.min(family.swap_bytes()) {
                    2 => (ethertype::IPV4, 4),
                    24 | 28 | 30 => (ethertype::IPV6, 4),
                    _ => return Err(SkipReason::NotIp),
                }
            }
            LinkType::RawIp => match frame.first().map(|b| b >> 4) {
                Some(4) => (ethertype::IPV4, 0),
                Some(6) => (ethertype::IPV6, 0),
                Some(_) => return Err(SkipReason::NotIp),
                None => return Err(SkipReason::TruncatedLink),
            },
            LinkType::Other(_) => return Err(SkipReason::UnsupportedLinkType),
        };
        let ip = frame.get(l3..).ok_or(SkipReason::TruncatedLink)?;
        let mut walk = Walk { tunnels: &self.tunnels, depth: 0, path, tenant: 0 };
        let packet = network(ether_type, ip, &mut walk)?;
        Ok(Packet { tenant: walk.tenant, ..packet })
    }
}

/// The packet of EtherType `ether_type` starting at `bytes`.
fn network<'a>(ether_type: u16, bytes: &'a [u8], w: &mut Walk) -> Result<Packet<'a>, SkipReason> {
    match ether_type {
        ethertype::IPV4 => ipv4(bytes, w),
        ethertype::IPV6 => ipv6(bytes, w),
        ethertype::MPLS | ethertype::MPLS_MULTICAST if w.tunnels.open && w.enter(Encapsulation::Mpls) => mpls(bytes, w),
        _ => Err(SkipReason::NotIp),
    }
}

/// An Ethernet frame carried in a tunnel of `kind`.
fn inner_ethernet<'a>(frame: &'a [u8], kind: Encapsulation, w: &mut Walk) -> Result<Packet<'a>, SkipReason> {
    let Ok((ether_type, l3)) = ethernet(frame) else { return Err(w.malformed(kind)) };
    network(ether_type, &frame[l3..], w)
}

/// An MPLS label stack: the labels up to the bottom of the stack, then IP
/// (by its version) or an Ethernet pseudowire behind a zero control word.
fn mpls<'a>(bytes: &'a [u8], w: &mut Walk) -> Result<Packet<'a>, SkipReason> {
    let kind = Encapsulation::Mpls;
    let mut at = 0;
    for _ in 0..MAX_MPLS_LABELS {
        let Some(label) = bytes.get(at + 2) else { return Err(w.malformed(kind)) };
        at += 4;
        if label & 1 == 1 {
            let inner = &bytes[at.min(bytes.len())..];
            return match inner.first().map(|b| b >> 4) {
                Some(4) => ipv4(inner, w),
                Some(6) => ipv6(inner, w),
                Some(0) if inner.len() >= 4 => inner_ethernet(&inner[4..], kind, w),
                Some(1..=3 | 5 | 7..) => Err(SkipReason::NotIp),
                _ => Err(w.malformed(kind)),
            };
        }
    }
    Err(w.malformed(kind))
}

/// The packet inside a tunnel's payload `l4` (an IP protocol's, or a UDP
/// datagram's to `dport`), or none when this is no tunnel (or one too deep).
fn tunnel<'a>(proto: u8, l4: &'a [u8], dport: u16, w: &mut Walk) -> Option<Result<Packet<'a>, SkipReason>> {
    let t = w.tunnels;
    let kind = match (proto, dport) {
        _ if !t.open => return None,
        (ipproto::IPIP | ipproto::IPV6, _) => Encapsulation::IpInIp,
        // ERSPAN counts as itself: it is the mirror's format, GRE its carrier.
        (ipproto::GRE, _) if matches!(be16(l4, 2), Some(ethertype::ERSPAN_II | ethertype::ERSPAN_III)) => {
            Encapsulation::Erspan
        }
        (ipproto::GRE, _) => Encapsulation::Gre,
        (ipproto::UDP, _) => t.ports.udp_tunnel(dport)?,
        _ => return None,
    };
    if !w.enter(kind) {
        return None;
    }
    Some(match kind {
        // IP in IP: the inner IP header is the tunnel's own.
        Encapsulation::IpInIp if l4.len() < if proto == ipproto::IPIP { 20 } else { 40 } => Err(w.malformed(kind)),
        Encapsulation::IpInIp if proto == ipproto::IPIP => ipv4(l4, w),
        Encapsulation::IpInIp => ipv6(l4, w),
        Encapsulation::Gre | Encapsulation::Erspan => gre(l4, kind, w),
        // VXLAN: the UDP header, flags, reserved, VNI; an Ethernet frame follows.
        Encapsulation::Vxlan => match (l4.get(16..), be32(l4, 12)) {
            (Some(frame), Some(vni)) => {
                w.tenant(kind, vni >> 8);
                inner_ethernet(frame, kind, w)
            }
            _ => Err(w.malformed(kind)),
        },
        _ => geneve(&l4[8.min(l4.len())..], w),
    })
}

/// GENEVE: 8 bytes, options, then the protocol its header names.
fn geneve<'a>(h: &'a [u8], w: &mut Walk) -> Result<Packet<'a>, SkipReason> {
    let kind = Encapsulation::Geneve;
    let (Some(first), Some(protocol), Some(vni)) = (h.first(), be16(h, 2), be32(h, 4)) else {
        return Err(w.malformed(kind));
    };
    let Some(inner) = h.get(8 + usize::from(first & 0x3f) * 4..) else { return Err(w.malformed(kind)) };
    w.tenant(kind, vni >> 8);
    match protocol {
        ethertype::TEB => inner_ethernet(inner, kind, w),
        other => network(other, inner, w),
    }
}

/// GRE (RFC 2784/2890): optional checksum, key and sequence number, then
/// IP, bridged Ethernet, or ERSPAN (type I without a sequence number,
/// type II with one, type III).
fn gre<'a>(h: &'a [u8], kind: Encapsulation, w: &mut Walk) -> Result<Packet<'a>, SkipReason> {
    let (Some(flags), Some(protocol)) = (be16(h, 0), be16(h, 2)) else { return Err(w.malformed(kind)) };
    let has = |bit: u16| flags & bit != 0;
    let key_at = if has(0x8000) { 8 } else { 4 };
    let at = key_at + [0x2000u16, 0x1000].iter().filter(|bit| has(**bit)).count() * 4;
    let Some(inner) = h.get(at..) else { return Err(w.malformed(kind)) };
    if has(0x2000) && kind == Encapsulation::Gre {
        w.tenant(kind, be32(h, key_at).unwrap_or_default());
    }
    let session = |w: &mut Walk| {
        if let Some(id) = be16(inner, 2) {
            w.tenant(kind, u32::from(id & 0x3ff));
        }
    };
    match protocol {
        ethertype::TEB => inner_ethernet(inner, kind, w),
        ethertype::ERSPAN_II if !has(0x1000) => inner_ethernet(inner, kind, w),
        ethertype::ERSPAN_II => {
            session(w);
            match inner.get(8..) {
                Some(frame) => inner_ethernet(frame, kind, w),
                None => Err(w.malformed(kind)),
            }
        }
        ethertype::ERSPAN_III => {
            // 12 bytes; the O flag adds an 8-byte platform sub-header.
            let (Some(value), Some(&last)) = (be32(inner, 4), inner.get(11)) else { return Err(w.malformed(kind)) };
            session(w);
            w.path.switch_stamp = Some(SwitchStamp { value, granularity: (last >> 1) & 3 });
            match inner.get(12 + usize::from(last & 1) * 8..) {
                Some(frame) => inner_ethernet(frame, kind, w),
                None => Err(w.malformed(kind)),
            }
        }
        other => network(other, inner, w),
    }
}

/// Returns the EtherType after any VLAN tags and the offset of the L3 header.
fn ethernet(frame: &[u8]) -> Result<(u16, usize), SkipReason> {
    let mut ether_type = be16(frame, 12).ok_or(SkipReason::TruncatedLink)?;
    let mut at = 14;
    for _ in 0..MAX_VLAN_TAGS {
        if !matches!(ether_type, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD) {
            break;
        }
        ether_type = be16(frame, at + 2).ok_or(SkipReason::TruncatedLink)?;
        at += 4;
    }
    Ok((ether_type, at))
}

fn ipv4<'a>(ip: &'a [u8], w: &mut Walk) -> Result<Packet<'a>, SkipReason> {
    let h = ip.get(0..20).ok_or(SkipReason::BadIpHeader)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if h[0] >> 4 != 4 || ihl < 20 || ip.len() < ihl {
        return Err(SkipReason::BadIpHeader);
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let frag = u16::from_be_bytes([h[6], h[7]]);
    let first_fragment = match (frag & 0x1fff, frag & 0x2000 != 0) {
        (0, more) => more,
        // Later fragments carry no transport header: not reassembled, counted.
        _ => return Err(SkipReason::IpFragment),
    };
    // A zero total length comes from captures of TSO super-frames: trust the capture.
    let l4_len = if total == 0 {
        ip.len() - ihl
    } else if total < ihl {
        return Err(SkipReason::BadIpHeader);
    } else {
        total - ihl
    };
    let src = addr_from_v4([h[12], h[13], h[14], h[15]]);
    let dst = addr_from_v4([h[16], h[17], h[18], h[19]]);
    transport(h[9], src, dst, &ip[ihl..], l4_len, first_fragment, w)
}

fn ipv6<'a>(ip: &'a [u8], w: &mut Walk) -> Result<Packet<'a>, SkipReason> {
    let h = ip.get(0..40).ok_or(SkipReason::BadIpHeader)?;
    if h[0] >> 4 != 6 {
        return Err(SkipReason::BadIpHeader);
    }
    let mut remaining = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if remaining == 0 {
        // Jumbogram or TSO capture: trust the capture.
        remaining = ip.len() - 40;
    }
    let mut next = h[6];
    let src = u128::from_be_bytes(h[8..24].try_into().map_err(|_| SkipReason::BadIpHeader)?);
    let dst = u128::from_be_bytes(h[24..40].try_into().map_err(|_| SkipReason::BadIpHeader)?);
    let mut at = 40;
    let mut first_fragment = false;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        let len = match next {
            ipproto::HOPOPT | ipproto::IPV6_ROUTE | ipproto::IPV6_OPTS => {
                (usize::from(*ip.get(at + 1).ok_or(SkipReason::BadIpHeader)?) + 1) * 8
            }
            ipproto::AH => (usize::from(*ip.get(at + 1).ok_or(SkipReason::BadIpHeader)?) + 2) * 4,
            ipproto::IPV6_FRAG => {
                let off = be16(ip, at + 2).ok_or(SkipReason::BadIpHeader)?;
                if off & 0xfff8 != 0 {
                    return Err(SkipReason::IpFragment);
                }
                first_fragment = off & 1 != 0;
                8
            }
            _ => break,
        };
        next = *ip.get(at).ok_or(SkipReason::BadIpHeader)?;
        if len > remaining {
            return Err(SkipReason::BadIpHeader);
        }
        remaining -= len;
        at += len;
    }
    let l4 = ip.get(at..).ok_or(SkipReason::BadIpHeader)?;
    transport(next, src, dst, l4, remaining, first_fragment, w)
}

/// `l4` is the captured transport bytes, `l4_len` the length the IP header
/// announces. A first fragment is decoded like a truncated packet: its
/// headers are all there, the rest of the payload is missing (UDP's own
/// length says how much).
fn transport<'a>(
    proto: u8,
    src: Addr,
    dst: Addr,
    l4: &'a [u8],
    l4_len: usize,
    first_fragment: bool,
    w: &mut Walk,
) -> Result<Packet<'a>, SkipReason> {
    let bad = SkipReason::BadTransportHeader;
    // IP and GRE tunnels carry no ports; a fragment's inner packet is cut.
    if !first_fragment && matches!(proto, ipproto::IPIP | ipproto::IPV6 | ipproto::GRE) {
        if let Some(inner) = tunnel(proto, &l4[..l4_len.min(l4.len())], 0, w) {
            return inner;
        }
    }
    let (sport, dport) = (be16(l4, 0).ok_or(bad)?, be16(l4, 2).ok_or(bad)?);
    let (transport, header_len) = match proto {
        ipproto::TCP => {
            let h = l4.get(0..20).ok_or(bad)?;
            let header_len = usize::from(h[12] >> 4) * 4;
            let options = l4.get(20..header_len).ok_or(bad)?;
            let mut tcp = TcpHeader {
                seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
                flags: h[13],
                window: u16::from_be_bytes([h[14], h[15]]),
                ..TcpHeader::default()
            };
            tcp_options(options, &mut tcp);
            (Transport::Tcp(tcp), header_len)
        }
        ipproto::UDP => (Transport::Udp, 8),
        ipproto::IPV6_NONXT => return Err(SkipReason::NotTcpUdp),
        _ => return Err(SkipReason::NotTcpUdp),
    };
    if header_len > l4_len || l4.len() < header_len {
        return Err(bad);
    }
    let mut payload_len = l4_len - header_len;
    let mut captured = &l4[header_len..];
    if transport == Transport::Udp {
        let udp_len = usize::from(be16(l4, 4).ok_or(bad)?);
        match udp_len.checked_sub(8) {
            Some(n) if first_fragment => {
                captured = &captured[..captured.len().min(payload_len)];
                payload_len = n;
            }
            Some(n) if n <= payload_len => payload_len = n,
            _ => return Err(bad),
        }
    } else if first_fragment {
        captured = &captured[..captured.len().min(payload_len)];
    }
    let payload = &captured[..captured.len().min(payload_len)];
    if transport == Transport::Udp && !first_fragment {
        if let Some(inner) = tunnel(proto, &l4[..(8 + payload.len()).min(l4.len())], dport, w) {
            return inner;
        }
    }
    Ok(Packet {
        src,
        dst,
        sport,
        dport,
        transport,
        payload,
        payload_len: u32::try_from(payload_len).map_err(|_| bad)?,
        first_fragment,
        tenant: 0,
    })
}

fn tcp_options(mut opts: &[u8], tcp: &mut TcpHeader) {
    while let Some(&kind) = opts.first() {
        match kind {
            0 => return,
            1 => {
                opts = &opts[1..];
                continue;
            }
            _ => {}
        }
        let len = match opts.get(1) {
            Some(&l) if l >= 2 && usize::from(l) <= opts.len() => usize::from(l),
            _ => return,
        };
        let body = &opts[2..len];
        match (kind, body) {
            (2, [a, b]) => tcp.mss = Some(u16::from_be_bytes([*a, *b])),
            // RFC 7323: a shift above 14 is treated as 14.
            (3, [s]) => tcp.wscale = Some((*s).min(14)),
            (4, []) => tcp.sack_permitted = true,
            (8, [a, b, c, d, e, f, g, h]) => {
                tcp.timestamps = Some((u32::from_be_bytes([*a, *b, *c, *d]), u32::from_be_bytes([*e, *f, *g, *h])))
            }
            _ => {}
        }
        opts = &opts[len..];
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + optional VLAN tags + IPv4 + TCP SYN with options + padding.
    fn syn_frame(tags: &[u16]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for t in tags {
            f.extend(t.to_be_bytes());
            f.extend([0, 42]);
        }
        f.extend(ethertype::IPV4.to_be_bytes());
        let tcp_len = 20 + 20;
        let total = (20 + tcp_len) as u16;
        f.extend([0x45, 0]);
        f.extend(total.to_be_bytes());
        f.extend([0, 0, 0x40, 0, 64, ipproto::TCP, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend(40000u16.to_be_bytes());
        f.extend(80u16.to_be_bytes());
        f.extend(1000u32.to_be_bytes());
        f.extend(0u32.to_be_bytes());
        f.extend([0xa0, flags::SYN, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend([2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);
        f.extend([0; 6]); // Ethernet padding: not payload
        f
    }

    #[test]
    fn ipv4_tcp_options_through_vlan_and_qinq() {
        for tags in [&[][..], &[ethertype::VLAN], &[ethertype::QINQ, ethertype::VLAN]] {
            let frame = syn_frame(tags);
            let p = decode(LinkType::Ethernet, &frame).unwrap();
            assert_eq!(addr_to_ip(p.src).to_string(), "10.0.0.1");
            assert_eq!((p.sport, p.dport), (40000, 80));
            let tcp = p.tcp().unwrap();
            assert_eq!(tcp.seq, 1000);
            assert!(tcp.has(flags::SYN));
            assert_eq!(tcp.mss, Some(1460));
            assert_eq!(tcp.wscale, Some(7));
            assert!(tcp.sack_permitted);
            assert_eq!(tcp.timestamps, Some((1, 0)));
            assert!(p.payload.is_empty(), "padding must not become payload");
        }
    }

    #[test]
    fn truncations_and_fragments_are_counted_by_reason() {
        let frame = syn_frame(&[]);
        assert_eq!(decode(LinkType::Ethernet, &frame[..10]).unwrap_err(), SkipReason::TruncatedLink);
        assert_eq!(decode(LinkType::Ethernet, &frame[..30]).unwrap_err(), SkipReason::BadIpHeader);
        assert_eq!(decode(LinkType::Ethernet, &frame[..40]).unwrap_err(), SkipReason::BadTransportHeader);
        let mut frag = frame.clone();
        frag[20] = 0x20; // more fragments, offset 0: headers are there
        assert!(decode(LinkType::Ethernet, &frag).unwrap().first_fragment);
        frag[21] = 0x10; // a later fragment
        assert_eq!(decode(LinkType::Ethernet, &frag).unwrap_err(), SkipReason::IpFragment);
        let mut arp = frame;
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(decode(LinkType::Ethernet, &arp).unwrap_err(), SkipReason::NotIp);
        assert_eq!(decode(LinkType::Other(147), &arp).unwrap_err(), SkipReason::UnsupportedLinkType);
    }

    #[test]
    fn linux_cooked_and_null_links() {
        let eth = syn_frame(&[]);
        let ip = &eth[14..];
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
        sll.extend(ethertype::IPV4.to_be_bytes());
        sll.extend_from_slice(ip);
        let mut sll2 = ethertype::IPV4.to_be_bytes().to_vec();
        sll2.extend([0; 18]);
        sll2.extend_from_slice(ip);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(ip);
        for (link, frame) in [(LinkType::LinuxSll, sll), (LinkType::LinuxSll2, sll2), (LinkType::Null, null)] {
            let p = decode(link, &frame).unwrap();
            assert_eq!((p.sport, p.dport), (40000, 80), "{link:?}");
        }
    }

    #[test]
    fn ipv6_with_extension_header_and_truncated_payload() {
        let mut ip = vec![0x60, 0, 0, 0];
        let payload_len: u16 = 8 + 8 + 100;
        ip.extend(payload_len.to_be_bytes());
        ip.extend([ipproto::IPV6_OPTS, 64]);
        ip.extend([0u8; 15]);
        ip.push(1);
        ip.extend([0u8; 15]);
        ip.push(2);
        ip.extend([ipproto::UDP, 0, 0, 0, 0, 0, 0, 0]); // dest options, 8 bytes
        ip.extend(5353u16.to_be_bytes());
        ip.extend(53u16.to_be_bytes());
        ip.extend([0, 108, 0, 0]);
        ip.extend([0xab; 30]); // only 30 of 100 payload bytes captured
        let p = decode(LinkType::RawIp, &ip).unwrap();
        assert_eq!(p.transport, Transport::Udp);
        assert_eq!(addr_to_ip(p.dst).to_string(), "::2");
        assert_eq!(p.dport, 53);
        assert_eq!(p.payload.len(), 30);
        assert_eq!(p.payload_len, 100);
    }
}
