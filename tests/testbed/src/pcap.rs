//! Classic pcap files, read and written record by record, for the tools
//! that make captures for the tests and benchmarks (tunnels, repeat).

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

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

    /// A new file of Ethernet frames with microsecond times.
    pub fn ethernet(path: &Path) -> std::io::Result<PcapWriter> {
        let mut global = [0u8; 24];
        global[..4].copy_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1]);
        global[4..8].copy_from_slice(&[2, 0, 4, 0]);
        global[20..24].copy_from_slice(&1u32.to_le_bytes());
        PcapWriter::create(path, global)
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
