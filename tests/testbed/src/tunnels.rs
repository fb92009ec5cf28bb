//! Tunnelled copies of captures: each frame of a classic pcap wrapped in
//! an encapsulation a mirror delivers (VXLAN, GENEVE, GRE, ERSPAN I/II/III,
//! IP in IP, MPLS). Written from the RFCs and the ERSPAN draft with literal
//! numbers, apart from the decoders it tests: the golden tests, the live
//! test's ERSPAN relay and `cargo xtask bench pcap` use it.

use std::io::{BufReader, BufWriter, Read, Write};
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

/// A classic pcap record: its time (seconds, microseconds) and its frame.
pub struct Record {
    pub ts: [u8; 8],
    pub frame: Vec<u8>,
}

impl Record {
    pub fn ts_ns(&self) -> u64 {
        let secs = u32::from_le_bytes(self.ts[..4].try_into().unwrap());
        let micros = u32::from_le_bytes(self.ts[4..].try_into().unwrap());
        u64::from(secs) * 1_000_000_000 + u64::from(micros) * 1000
    }
}

/// Reads a classic little-endian microsecond pcap of Ethernet frames,
/// record by record: (its global header, the records).
pub fn read_pcap(path: &Path) -> std::io::Result<([u8; 24], impl Iterator<Item = std::io::Result<Record>>)> {
    let mut r = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut global = [0u8; 24];
    r.read_exact(&mut global)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {what}", path.display()));
    if global[..4] != [0xd4, 0xc3, 0xb2, 0xa1] || u32::from_le_bytes(global[20..24].try_into().unwrap()) != 1 {
        return Err(bad("not a classic little-endian pcap of Ethernet frames"));
    }
    let records = std::iter::from_fn(move || {
        let mut h = [0u8; 16];
        match r.read_exact(&mut h) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) => return Some(Err(e)),
            Ok(()) => {}
        }
        let captured = u32::from_le_bytes(h[8..12].try_into().unwrap()) as usize;
        let wire = u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize;
        if captured != wire {
            // A wrapped snapshot would move the cut: whole frames only.
            return Some(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a frame cut by the snapshot length",
            )));
        }
        let mut frame = vec![0; captured];
        Some(r.read_exact(&mut frame).map(|()| Record { ts: h[..8].try_into().unwrap(), frame }))
    });
    Ok((global, records))
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

/// A classic pcap being written.
pub struct PcapWriter(BufWriter<std::fs::File>);

impl PcapWriter {
    /// A new file with `global`'s header, its snapshot length raised to
    /// 65,535 (wrapped frames are longer).
    pub fn create(path: &Path, mut global: [u8; 24]) -> std::io::Result<PcapWriter> {
        global[16..20].copy_from_slice(&65_535u32.to_le_bytes());
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        w.write_all(&global)?;
        Ok(PcapWriter(w))
    }

    pub fn write(&mut self, ts: &[u8; 8], frame: &[u8]) -> std::io::Result<()> {
        self.0.write_all(ts)?;
        let len = (frame.len() as u32).to_le_bytes();
        self.0.write_all(&len)?;
        self.0.write_all(&len)?;
        self.0.write_all(frame)
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
