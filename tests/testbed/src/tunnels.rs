//! Tunnelled copies of captures: each frame of a classic pcap wrapped in
//! an encapsulation a mirror delivers (VXLAN, GENEVE, GRE, ERSPAN I/II/III,
//! IP in IP, MPLS). Written from the RFCs and the ERSPAN draft with literal
//! numbers, apart from the decoders it tests: the golden tests, the live
//! test's ERSPAN relay and `cargo xtask bench pcap` use it.

use crate::pcap::{read_pcap, PcapWriter};
use std::path::Path;

/// What a wrapper knows of the frame it wraps.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// The whole Ethernet frame.
    pub ethernet: &'a [u8],
    /// Its capture time, Unix nanoseconds (ERSPAN III stamps it).
    pub ts_ns: u64,
    /// Tenant: the VXLAN or GENEVE VNI, the ERSPAN session, the GRE key.
    pub tenant: u32,
}

impl Frame<'_> {
    /// The frame's IP packet (after its Ethernet header, untagged).
    pub fn ip(&self) -> &[u8] {
        &self.ethernet[14.min(self.ethernet.len())..]
    }
}

/// Wraps one frame into the bytes of the outer Ethernet frame.
pub type Wrap = fn(&Frame) -> Vec<u8>;

/// An outer Ethernet + IPv4 (10.99.0.1 → 10.99.0.2) header around `inner`
/// with IP protocol `proto`.
pub fn outer_ipv4(proto: u8, inner: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend([0x45, 0]);
    f.extend(((20 + inner.len()) as u16).to_be_bytes());
    f.extend([0, 0, 0x40, 0, 64, proto, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2]);
    f.extend_from_slice(inner);
    f
}

/// Outer IPv4 + UDP from port 50000 to `dport`.
pub fn outer_udp(dport: u16, inner: &[u8]) -> Vec<u8> {
    let mut u = 50000u16.to_be_bytes().to_vec();
    u.extend(dport.to_be_bytes());
    u.extend(((8 + inner.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend_from_slice(inner);
    outer_ipv4(17, &u)
}

/// Outer IPv4 + GRE with `flags`, `protocol` and the optional words `extra`.
pub fn gre(flags: u16, protocol: u16, extra: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut g = flags.to_be_bytes().to_vec();
    g.extend(protocol.to_be_bytes());
    g.extend_from_slice(extra);
    g.extend_from_slice(inner);
    outer_ipv4(47, &g)
}

/// An outer Ethernet frame with an MPLS label stack over `inner`.
pub fn mpls(labels: &[u32], inner: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0x47];
    for (i, label) in labels.iter().enumerate() {
        let bottom = u32::from(i + 1 == labels.len());
        f.extend(((label << 12) | (bottom << 8) | 64).to_be_bytes());
    }
    f.extend_from_slice(inner);
    f
}

/// VXLAN to UDP `port`: flags (VNI valid), reserved, the VNI, the frame.
pub fn vxlan_on(port: u16, f: &Frame) -> Vec<u8> {
    let vni = (f.tenant << 8).to_be_bytes();
    outer_udp(port, &[&[0x08, 0, 0, 0][..], &vni, f.ethernet].concat())
}

/// ERSPAN type II in GRE with a sequence number: session `f.tenant`.
pub fn erspan2(f: &Frame) -> Vec<u8> {
    let session = (f.tenant as u16 & 0x3ff).to_be_bytes();
    let header = [0x10, 0, session[0], session[1], 0, 0, 0, 0];
    gre(0x1000, 0x88be, &[0, 0, 0, 9], &[&header[..], f.ethernet].concat())
}

/// ERSPAN type III in GRE: session `f.tenant`, the frame's time in 100 ns
/// units (granularity 1), a platform sub-header.
pub fn erspan3(f: &Frame) -> Vec<u8> {
    let session = (f.tenant as u16 & 0x3ff).to_be_bytes();
    let stamp = ((f.ts_ns / 100) as u32).to_be_bytes();
    let header = [0x20, 0, session[0], session[1], stamp[0], stamp[1], stamp[2], stamp[3], 0, 0, 0, 0b011];
    gre(0x1000, 0x22eb, &[0, 0, 0, 9], &[&header[..], &[0; 8], f.ethernet].concat())
}

/// The encapsulations, by name.
pub const ENCAPSULATIONS: [(&str, Wrap); 11] = [
    ("vxlan", |f| vxlan_on(4789, f)),
    ("geneve", |f| {
        let vni = (f.tenant << 8).to_be_bytes();
        outer_udp(6081, &[&[0x01, 0, 0x65, 0x58][..], &vni, &[0, 1, 2, 3], f.ethernet].concat())
    }),
    ("gre_ip_key", |f| gre(0x2000, 0x0800, &f.tenant.to_be_bytes(), f.ip())),
    ("gre_bridged", |f| gre(0, 0x6558, &[], f.ethernet)),
    ("erspan1", |f| gre(0, 0x88be, &[], f.ethernet)),
    ("erspan2", erspan2),
    ("erspan3", erspan3),
    ("ipip", |f| outer_ipv4(4, f.ip())),
    ("mpls", |f| mpls(&[16, 17], f.ip())),
    ("mpls_pseudowire", |f| mpls(&[18], &[&[0, 0, 0, 0][..], f.ethernet].concat())),
    ("gre_in_vxlan", |f| {
        let inner = gre(0, 0x6558, &[], f.ethernet);
        vxlan_on(4789, &Frame { ethernet: &inner, ..*f })
    }),
];

/// The wrapper named `name`.
pub fn encapsulation(name: &str) -> Wrap {
    ENCAPSULATIONS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no encapsulation {name}")).1
}

/// Writes `input` to `output` with each frame wrapped by `wrap`, in tenant
/// `tenant(i)` for the i-th frame.
pub fn wrap_pcap(input: &Path, output: &Path, wrap: Wrap, tenant: impl Fn(usize) -> u32) -> std::io::Result<()> {
    let (global, records) = read_pcap(input)?;
    let mut out = PcapWriter::create(output, global)?;
    for (i, record) in records.enumerate() {
        let record = record?;
        let frame = Frame { ethernet: &record.frame, ts_ns: record.ts_ns(), tenant: tenant(i) };
        out.write(&record.ts, &wrap(&frame))?;
    }
    out.finish()
}
