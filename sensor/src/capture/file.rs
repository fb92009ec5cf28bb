//! pcap and pcapng capture files.
//!
//! Streams the file through one reusable window that records and frames are
//! read in place from (no copy per frame): memory stays constant whatever the
//! file size (a mapped file would count its whole size in RSS).
//! pcap: both byte orders, micro- and nanosecond magic. pcapng: several
//! sections and interfaces, per-interface `if_tsresol` and `if_tsoffset`,
//! enhanced, simple and obsolete packet blocks; other blocks are skipped.

use super::{CaptureError, CaptureSource, Frame, LinkType, Next};
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Largest frame accepted; bigger claims are corruption, not jumbo frames.
const MAX_FRAME: u32 = 256 * 1024;
/// Largest pcapng block accepted.
const MAX_BLOCK: u32 = 16 * 1024 * 1024;
/// Bytes read from the file at a time (the window grows for a larger block).
const WINDOW: usize = 1 << 20;

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;

#[derive(Clone, Copy)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    /// Timestamp units per second are `10^exp` (decimal) or `2^exp`.
    ts_exp: u8,
    ts_decimal: bool,
    ts_offset_s: i64,
}

impl Interface {
    fn ts_to_ns(&self, ts: u64) -> u64 {
        let ns = if self.ts_decimal {
            if self.ts_exp <= 9 {
                ts.saturating_mul(10u64.pow(9 - u32::from(self.ts_exp)))
            } else {
                ts / 10u64.pow(u32::from(self.ts_exp.min(19)) - 9)
            }
        } else {
            ((u128::from(ts) * 1_000_000_000) >> self.ts_exp.min(127)) as u64
        };
        ns.saturating_add_signed(self.ts_offset_s.saturating_mul(1_000_000_000))
    }
}

enum Format {
    Pcap { swapped: bool, nanos: bool, link: LinkType },
    PcapNg { swapped: bool, interfaces: Vec<Interface> },
}

/// A pcap or pcapng file read frame by frame.
pub struct CaptureFile {
    path: PathBuf,
    file: File,
    format: Format,
    /// Read window: bytes `[start, end)` are read but not yet consumed.
    window: Vec<u8>,
    start: usize,
    end: usize,
    /// The current record (what the last `fill` made available) in `window`.
    rec: Range<usize>,
    /// The current frame's bytes in `window`.
    frame: Range<usize>,
    offset: u64,
    size: Option<u64>,
}

impl CaptureFile {
    pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
        let io_err = |error| CaptureError::Io { path: path.to_owned(), error };
        let file = File::open(path).map_err(io_err)?;
        let size = file.metadata().ok().map(|m| m.len());
        let mut file = CaptureFile {
            path: path.to_owned(),
            file,
            format: Format::PcapNg { swapped: false, interfaces: Vec::new() },
            window: vec![0; WINDOW],
            start: 0,
            end: 0,
            rec: 0..0,
            frame: 0..0,
            offset: 0,
            size,
        };
        if !file.fill(4, true)? {
            return Err(file.malformed("file is shorter than any capture header"));
        }
        let head: [u8; 4] = file.rec().try_into().unwrap_or_default();
        let magic_le = u32::from_le_bytes(head);
        match magic_le {
            PCAP_MAGIC_US | PCAP_MAGIC_NS => file.pcap_header(false, magic_le == PCAP_MAGIC_NS)?,
            m if m.swap_bytes() == PCAP_MAGIC_US || m.swap_bytes() == PCAP_MAGIC_NS => {
                file.pcap_header(true, m.swap_bytes() == PCAP_MAGIC_NS)?
            }
            PCAPNG_SHB => file.pcapng_section_header()?,
            _ => return Err(CaptureError::UnknownFormat { path: path.to_owned(), magic: u32::from_be_bytes(head) }),
        }
        Ok(file)
    }

    fn malformed(&self, what: impl Into<String>) -> CaptureError {
        CaptureError::Malformed { path: self.path.clone(), offset: self.offset, what: what.into() }
    }

    fn rec(&self) -> &[u8] {
        &self.window[self.rec.clone()]
    }

    /// Makes the next `n` bytes of the file the current record (`rec()`).
    /// `Ok(false)` on a clean end of file before the first byte when `eof_ok`.
    fn fill(&mut self, n: usize, eof_ok: bool) -> Result<bool, CaptureError> {
        if self.end - self.start < n {
            self.window.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.window.len() < n {
                self.window.resize(n, 0);
            }
            while self.end < n {
                match self.file.read(&mut self.window[self.end..]) {
                    Ok(0) if self.end == 0 && eof_ok => return Ok(false),
                    Ok(0) => {
                        let got = self.end;
                        return Err(self.malformed(format!("file ends inside a record ({got} of {n} bytes)")));
                    }
                    Ok(k) => self.end += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(CaptureError::Io { path: self.path.clone(), error }),
                }
            }
        }
        self.rec = self.start..self.start + n;
        self.start += n;
        self.offset += n as u64;
        Ok(true)
    }

    fn pcap_header(&mut self, swapped: bool, nanos: bool) -> Result<(), CaptureError> {
        self.fill(20, false)?;
        let code = u32_at(self.rec(), 16, swapped) & 0x0fff_ffff;
        let link = LinkType::from_pcap(code);
        // One link type for the whole file: none of its frames could be read.
        if let LinkType::Other(link) = link {
            return Err(CaptureError::UnsupportedLink { path: self.path.clone(), link });
        }
        self.format = Format::Pcap { swapped, nanos, link };
        Ok(())
    }

    /// Parses a section header block whose type word was already read.
    fn pcapng_section_header(&mut self) -> Result<(), CaptureError> {
        self.fill(8, false)?;
        let bom = u32::from_le_bytes(self.rec()[4..8].try_into().unwrap_or_default());
        let swapped = match bom {
            PCAPNG_BOM => false,
            b if b.swap_bytes() == PCAPNG_BOM => true,
            _ => return Err(self.malformed("pcapng section header without byte-order magic")),
        };
        let total = u32_at(self.rec(), 0, swapped);
        if !(28..=MAX_BLOCK).contains(&total) || !total.is_multiple_of(4) {
            return Err(self.malformed(format!("section header block length {total}")));
        }
        self.fill(total as usize - 12, false)?;
        self.format = Format::PcapNg { swapped, interfaces: Vec::new() };
        Ok(())
    }

    fn next_pcap(&mut self, swapped: bool, nanos: bool) -> Result<Option<(u64, u32, u32)>, CaptureError> {
        if !self.fill(16, true)? {
            return Ok(None);
        }
        let sec = u64::from(u32_at(self.rec(), 0, swapped));
        let frac = u64::from(u32_at(self.rec(), 4, swapped));
        let caplen = u32_at(self.rec(), 8, swapped);
        let wire = u32_at(self.rec(), 12, swapped);
        if caplen > MAX_FRAME {
            return Err(self.malformed(format!("record claims {caplen} captured bytes")));
        }
        let ts = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        self.fill(caplen as usize, false)?;
        self.frame = self.rec.clone();
        Ok(Some((ts, caplen, wire.max(caplen))))
    }

    /// Next packet block of a pcapng file: (timestamp, link, wire length);
    /// the packet bytes are `self.frame`.
    fn next_pcapng(&mut self) -> Result<Option<(u64, LinkType, u32)>, CaptureError> {
        loop {
            if !self.fill(8, true)? {
                return Ok(None);
            }
            let raw_type = u32::from_le_bytes(self.rec()[0..4].try_into().unwrap_or_default());
            if raw_type == PCAPNG_SHB {
                self.pcapng_section_header()?;
                continue;
            }
            let Format::PcapNg { swapped, .. } = self.format else {
                return Ok(None);
            };
            let block_type = u32_at(self.rec(), 0, swapped);
            let total = u32_at(self.rec(), 4, swapped);
            if !(12..=MAX_BLOCK).contains(&total) || !total.is_multiple_of(4) {
                return Err(self.malformed(format!("block length {total}")));
            }
            self.fill(total as usize - 8, false)?;
            let body_len = total as usize - 12;
            match block_type {
                1 => self.interface_block(swapped, body_len)?,
                // Enhanced packet block.
                6 if body_len >= 20 => {
                    let iface = self.interface(u32_at(self.rec(), 0, swapped))?;
                    let ts =
                        (u64::from(u32_at(self.rec(), 4, swapped)) << 32) | u64::from(u32_at(self.rec(), 8, swapped));
                    let caplen = u32_at(self.rec(), 12, swapped);
                    let wire = u32_at(self.rec(), 16, swapped);
                    return self.packet_at(20, caplen, body_len, iface.ts_to_ns(ts), iface.link, wire);
                }
                // Obsolete packet block.
                2 if body_len >= 20 => {
                    let id = u32::from(u16_at(self.rec(), 0, swapped));
                    let iface = self.interface(id)?;
                    let ts =
                        (u64::from(u32_at(self.rec(), 4, swapped)) << 32) | u64::from(u32_at(self.rec(), 8, swapped));
                    let caplen = u32_at(self.rec(), 12, swapped);
                    let wire = u32_at(self.rec(), 16, swapped);
                    return self.packet_at(20, caplen, body_len, iface.ts_to_ns(ts), iface.link, wire);
                }
                // Simple packet block: no timestamp, interface 0.
                3 if body_len >= 4 => {
                    let iface = self.interface(0)?;
                    let wire = u32_at(self.rec(), 0, swapped);
                    let caplen = wire.min(iface.snaplen).min(body_len as u32 - 4);
                    return self.packet_at(4, caplen, body_len, 0, iface.link, wire);
                }
                _ => {}
            }
        }
    }

    fn interface(&self, id: u32) -> Result<Interface, CaptureError> {
        match &self.format {
            Format::PcapNg { interfaces, .. } => interfaces
                .get(id as usize)
                .copied()
                .ok_or_else(|| self.malformed(format!("packet for undeclared interface {id}"))),
            Format::Pcap { .. } => Err(self.malformed("pcapng block in a pcap file")),
        }
    }

    fn packet_at(
        &mut self,
        start: usize,
        caplen: u32,
        body_len: usize,
        ts: u64,
        link: LinkType,
        wire: u32,
    ) -> Result<Option<(u64, LinkType, u32)>, CaptureError> {
        if caplen > MAX_FRAME || start + caplen as usize > body_len {
            return Err(self.malformed(format!("packet block claims {caplen} captured bytes")));
        }
        let from = self.rec.start + start;
        self.frame = from..from + caplen as usize;
        Ok(Some((ts, link, wire.max(caplen))))
    }

    fn interface_block(&mut self, swapped: bool, body_len: usize) -> Result<(), CaptureError> {
        if body_len < 8 {
            return Err(self.malformed("interface description block too short"));
        }
        let mut iface = Interface {
            link: LinkType::from_pcap(u32::from(u16_at(self.rec(), 0, swapped))),
            snaplen: match u32_at(self.rec(), 4, swapped) {
                0 => MAX_FRAME,
                s => s.min(MAX_FRAME),
            },
            ts_exp: 6,
            ts_decimal: true,
            ts_offset_s: 0,
        };
        let mut at = 8;
        while at + 4 <= body_len {
            let code = u16_at(self.rec(), at, swapped);
            let len = usize::from(u16_at(self.rec(), at + 2, swapped));
            let value = self.rec().get(at + 4..at + 4 + len).unwrap_or(&[]);
            match (code, value) {
                (0, _) => break,
                (9, [v, ..]) => {
                    iface.ts_decimal = v & 0x80 == 0;
                    iface.ts_exp = v & 0x7f;
                }
                (14, v) if v.len() == 8 => {
                    let raw = u64::from_le_bytes(v.try_into().unwrap_or_default());
                    iface.ts_offset_s = if swapped { raw.swap_bytes() } else { raw } as i64;
                }
                _ => {}
            }
            at += 4 + len.div_ceil(4) * 4;
        }
        if let Format::PcapNg { interfaces, .. } = &mut self.format {
            interfaces.push(iface);
        }
        Ok(())
    }
}

impl CaptureSource for CaptureFile {
    fn next_frame(&mut self) -> Result<Next<'_>, CaptureError> {
        let next = match self.format {
            Format::Pcap { swapped, nanos, link } => {
                self.next_pcap(swapped, nanos)?.map(|(ts, _, wire)| (ts, link, wire))
            }
            Format::PcapNg { .. } => self.next_pcapng()?,
        };
        Ok(match next {
            Some((ts_ns, link, wire_len)) => {
                Next::Frame(Frame { ts_ns, link, data: &self.window[self.frame.clone()], wire_len })
            }
            None => Next::End,
        })
    }

    fn progress(&self) -> (u64, Option<u64>) {
        (self.offset, self.size)
    }
}

fn u32_at(b: &[u8], at: usize, swapped: bool) -> u32 {
    let v = b.get(at..at + 4).and_then(|s| s.try_into().ok()).map_or(0, u32::from_le_bytes);
    if swapped {
        v.swap_bytes()
    } else {
        v
    }
}

fn u16_at(b: &[u8], at: usize, swapped: bool) -> u16 {
    let v = b.get(at..at + 2).and_then(|s| s.try_into().ok()).map_or(0, u16::from_le_bytes);
    if swapped {
        v.swap_bytes()
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("pastmon-{}-{name}", std::process::id()));
        File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }

    fn pcap_file(magic: u32, big_endian: bool, frac: u32) -> Vec<u8> {
        let w = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = Vec::new();
        f.extend(w(magic));
        f.extend(if big_endian { [0, 2, 0, 4] } else { [2, 0, 4, 0] });
        f.extend(w(0));
        f.extend(w(0));
        f.extend(w(65535));
        f.extend(w(1));
        f.extend(w(1_700_000_000));
        f.extend(w(frac));
        f.extend(w(3));
        f.extend(w(60));
        f.extend([1, 2, 3]);
        f
    }

    #[test]
    fn pcap_micro_and_nano_in_both_byte_orders() {
        for (magic, frac, want_ns) in [(PCAP_MAGIC_US, 5, 5_000), (PCAP_MAGIC_NS, 5, 5)] {
            for be in [false, true] {
                let path = write_temp(&format!("{magic:x}-{be}.pcap"), &pcap_file(magic, be, frac));
                let mut f = CaptureFile::open(&path).unwrap();
                let Next::Frame(fr) = f.next_frame().unwrap() else { panic!("no frame") };
                assert_eq!(fr.ts_ns, 1_700_000_000 * 1_000_000_000 + want_ns);
                assert_eq!(fr.data, &[1, 2, 3]);
                assert_eq!(fr.wire_len, 60);
                assert_eq!(fr.link, LinkType::Ethernet);
                assert!(matches!(f.next_frame().unwrap(), Next::End));
                std::fs::remove_file(path).unwrap();
            }
        }
    }

    #[test]
    fn truncated_record_is_a_clear_error() {
        let mut bytes = pcap_file(PCAP_MAGIC_US, false, 0);
        bytes.truncate(bytes.len() - 1);
        let path = write_temp("trunc.pcap", &bytes);
        let mut f = CaptureFile::open(&path).unwrap();
        let err = f.next_frame().unwrap_err().to_string();
        assert!(err.contains("file ends inside a record"), "{err}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn unknown_magic_is_rejected() {
        let path = write_temp("junk.txt", b"hello world, not a capture");
        let err = CaptureFile::open(&path).err().unwrap().to_string();
        assert!(err.contains("not a pcap or pcapng file"), "{err}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn interface_timestamp_resolutions() {
        let i = |exp, decimal| Interface {
            link: LinkType::Ethernet,
            snaplen: 0,
            ts_exp: exp,
            ts_decimal: decimal,
            ts_offset_s: 0,
        };
        assert_eq!(i(6, true).ts_to_ns(1_500_000), 1_500_000_000);
        assert_eq!(i(9, true).ts_to_ns(7), 7);
        assert_eq!(i(12, true).ts_to_ns(7_000), 7);
        assert_eq!(i(10, false).ts_to_ns(1024), 1_000_000_000);
    }
}
