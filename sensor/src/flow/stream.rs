//! One direction of a TCP connection: sequence tracking and reassembly.
//!
//! Sequence numbers become 64-bit stream offsets (offset 0 is the byte after
//! the SYN, or the first byte seen for a connection picked up midstream).
//! Payload is handed on in order and once; retransmitted bytes are dropped and
//! reported; segments ahead of a hole wait in a bounded buffer. A hole becomes
//! a gap (bytes the capture lost) when the receiver acknowledges past it or the
//! buffer is full; bytes cut by the snapshot length are gaps too. Nothing is
//! invented: a gap is a length, never filler bytes.

/// Out-of-order segments held per direction, and their total payload.
const MAX_PENDING_SEGMENTS: usize = 16;
const MAX_PENDING_BYTES: usize = 64 * 1024;
/// An ACK further than this past the data seen is not believed (corruption,
/// or an ACK for a different incarnation of the 5-tuple).
const MAX_ACK_JUMP: u64 = 1 << 30;

/// What the stream hands on, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Data {
        data: &'a [u8],
        offset: u64,
        ts: u64,
        packet: u64,
    },
    /// `len` bytes at `offset` are missing; `truncated` when the snapshot
    /// length cut them (otherwise the capture dropped the segment).
    Gap {
        offset: u64,
        len: u64,
        truncated: bool,
    },
    /// The sender's FIN: no more data in this direction.
    End,
}

/// How a segment related to what was already seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// No payload (pure ACK, SYN, FIN or RST alone).
    Empty,
    /// Carried new in-order data.
    InOrder,
    /// Every payload byte (or some of them) was seen before.
    Retransmission,
    /// Ahead of a hole: held until the hole fills or is declared a gap.
    OutOfOrder,
}

/// One TCP segment of a direction, as the stream needs it.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub seq: u32,
    pub fin: bool,
    /// Captured payload bytes.
    pub data: &'a [u8],
    /// Payload length on the wire (more than `data` when cut by the snapshot length).
    pub wire_len: u32,
    pub ts: u64,
    /// The packet's serial within its flow.
    pub packet: u64,
}

#[derive(Debug)]
struct Pending {
    offset: u64,
    ts: u64,
    packet: u64,
    wire_len: u64,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    /// Next offset expected in order.
    next: u64,
    /// Offset of the FIN, once seen.
    fin_at: Option<u64>,
    fin_delivered: bool,
    pending: Vec<Pending>,
    pending_bytes: usize,
}

impl Stream {
    /// Sets offset 0 to the byte after this initial sequence number (SYN).
    pub fn set_isn(&mut self, isn: u32) {
        if self.base.is_none() {
            self.base = Some(isn.wrapping_add(1));
        }
    }

    /// Unwraps `seq` to an offset near `next`; `None` if before offset 0.
    fn offset(&mut self, seq: u32) -> Option<u64> {
        let base = *self.base.get_or_insert(seq);
        let rel_next = base.wrapping_add(self.next as u32);
        let delta = i64::from(seq.wrapping_sub(rel_next) as i32);
        u64::try_from(self.next as i64 + delta).ok()
    }

    /// A segment of this direction.
    pub fn segment(&mut self, seg: Segment, out: &mut impl FnMut(Piece)) -> Arrival {
        let Segment { seq, fin, mut data, wire_len, ts, packet } = seg;
        let Some(mut offset) = self.offset(seq) else {
            return Arrival::Retransmission;
        };
        let mut wire_len = u64::from(wire_len);
        if fin && self.fin_at.is_none() {
            self.fin_at = Some(offset + wire_len);
        }
        let arrival = if wire_len == 0 {
            Arrival::Empty
        } else if offset + wire_len <= self.next {
            return Arrival::Retransmission;
        } else if offset > self.next {
            self.hold(offset, ts, packet, wire_len, data, out);
            return Arrival::OutOfOrder;
        } else if offset < self.next {
            let skip = self.next - offset;
            data = data.get(skip as usize..).unwrap_or_default();
            wire_len -= skip;
            offset = self.next;
            Arrival::Retransmission
        } else {
            Arrival::InOrder
        };
        if wire_len > 0 {
            self.deliver(offset, ts, packet, wire_len, data, out);
            self.drain(out);
        }
        self.check_fin(out);
        arrival
    }

    /// The peer acknowledged up to `ack`: it has every byte before it, so a
    /// hole before it was lost by the capture. Returns the acknowledged offset.
    pub fn acknowledged(&mut self, ack: u32, out: &mut impl FnMut(Piece)) -> Option<u64> {
        let ack_offset = self.offset(ack)?;
        let mut limit = ack_offset;
        if self.fin_at.is_some_and(|f| ack_offset == f + 1) {
            limit -= 1; // the FIN takes one sequence number
        }
        if limit > self.next && limit - self.next < MAX_ACK_JUMP {
            self.fill_holes_until(limit, out);
        }
        Some(ack_offset)
    }

    /// `ack` acknowledges bytes (or a FIN) this direction has not shown yet:
    /// past everything seen, held segments included.
    pub fn acks_unseen(&self, ack: u32) -> bool {
        let Some(base) = self.base else { return false };
        let seen_end = self.pending.iter().map(|p| p.offset + p.wire_len).fold(self.next, u64::max);
        let fin = self.fin_at.map_or(0, |f| u64::from(f >= seen_end));
        let ahead = ack.wrapping_sub(base.wrapping_add((seen_end + fin) as u32)) as i32;
        ahead > 0 && (ahead as u64) < MAX_ACK_JUMP
    }

    /// End of the connection: everything held is handed on, holes as gaps.
    pub fn flush(&mut self, out: &mut impl FnMut(Piece)) {
        if let Some(end) = self.pending.iter().map(|p| p.offset + p.wire_len).max() {
            self.fill_holes_until(end, out);
        }
    }

    fn fill_holes_until(&mut self, limit: u64, out: &mut impl FnMut(Piece)) {
        while self.next < limit {
            let hole_end = self.pending.first().map_or(limit, |p| p.offset.min(limit));
            if hole_end > self.next {
                out(Piece::Gap { offset: self.next, len: hole_end - self.next, truncated: false });
                self.next = hole_end;
            }
            self.drain(out);
        }
        self.check_fin(out);
    }

    fn deliver(&mut self, offset: u64, ts: u64, packet: u64, wire_len: u64, data: &[u8], out: &mut impl FnMut(Piece)) {
        let data = &data[..data.len().min(wire_len as usize)];
        if !data.is_empty() {
            out(Piece::Data { data, offset, ts, packet });
        }
        let captured = data.len() as u64;
        if captured < wire_len {
            out(Piece::Gap { offset: offset + captured, len: wire_len - captured, truncated: true });
        }
        self.next = offset + wire_len;
    }

    /// Hands on held segments that are now in order.
    fn drain(&mut self, out: &mut impl FnMut(Piece)) {
        while self.pending.first().is_some_and(|p| p.offset <= self.next) {
            let p = self.pending.remove(0);
            self.pending_bytes -= p.data.len();
            let end = p.offset + p.wire_len;
            if end > self.next {
                let skip = self.next - p.offset;
                let data = p.data.get(skip as usize..).unwrap_or_default();
                self.deliver(self.next, p.ts, p.packet, end - self.next, data, out);
            }
        }
    }

    fn hold(&mut self, offset: u64, ts: u64, packet: u64, wire_len: u64, data: &[u8], out: &mut impl FnMut(Piece)) {
        let at = self.pending.partition_point(|p| p.offset < offset);
        if self.pending.get(at).is_some_and(|p| p.offset == offset && p.wire_len >= wire_len) {
            return; // a retransmission of a held segment
        }
        self.pending.insert(at, Pending { offset, ts, packet, wire_len, data: data.to_vec() });
        self.pending_bytes += data.len();
        // Too much held: the hole is not going to fill.
        while self.pending.len() > MAX_PENDING_SEGMENTS || self.pending_bytes > MAX_PENDING_BYTES {
            let first = self.pending[0].offset;
            self.fill_holes_until(first + 1, out);
        }
    }

    fn check_fin(&mut self, out: &mut impl FnMut(Piece)) {
        if !self.fin_delivered && self.fin_at.is_some_and(|f| f <= self.next) {
            self.fin_delivered = true;
            out(Piece::End);
        }
    }

    /// This direction sent its FIN, and `seq` lies past it: a new connection
    /// on the same 5-tuple.
    pub fn is_past_fin(&self, seq: u32) -> bool {
        match (self.fin_at, self.base) {
            (Some(fin), Some(base)) => {
                let fin_seq = base.wrapping_add(fin as u32);
                (seq.wrapping_sub(fin_seq) as i32) > 1
            }
            _ => false,
        }
    }

    /// Payload was seen in this direction.
    pub fn started(&self) -> bool {
        self.next > 0 || !self.pending.is_empty()
    }

    pub fn finished(&self) -> bool {
        self.fin_delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Got {
        D(u64, Vec<u8>),
        G(u64, u64, bool),
        E,
    }

    fn run(stream: &mut Stream, seq: u32, data: &[u8], wire: u32, fin: bool) -> (Arrival, Vec<Got>) {
        let mut got = Vec::new();
        let seg = Segment { seq, fin, data, wire_len: wire, ts: 0, packet: 0 };
        let a = stream.segment(seg, &mut |p| {
            got.push(match p {
                Piece::Data { data, offset, .. } => Got::D(offset, data.to_vec()),
                Piece::Gap { offset, len, truncated } => Got::G(offset, len, truncated),
                Piece::End => Got::E,
            })
        });
        (a, got)
    }

    #[test]
    fn in_order_retransmission_and_reordering() {
        let mut s = Stream::default();
        s.set_isn(u32::MAX - 2); // offset 0 at seq u32::MAX - 1: wraps
        let base = u32::MAX - 1;
        assert_eq!(run(&mut s, base, b"abc", 3, false), (Arrival::InOrder, vec![Got::D(0, b"abc".to_vec())]));
        assert_eq!(run(&mut s, base, b"abc", 3, false).0, Arrival::Retransmission);
        assert_eq!(run(&mut s, base.wrapping_add(6), b"ghi", 3, false), (Arrival::OutOfOrder, vec![]));
        let (a, got) = run(&mut s, base.wrapping_add(2), b"cdef", 4, false);
        assert_eq!(a, Arrival::Retransmission);
        assert_eq!(got, vec![Got::D(3, b"def".to_vec()), Got::D(6, b"ghi".to_vec())]);
        assert_eq!(run(&mut s, base.wrapping_add(9), b"", 0, true).1, vec![Got::E]);
    }

    #[test]
    fn ack_past_a_hole_is_a_gap_and_truncation_is_a_gap() {
        let mut s = Stream::default();
        s.set_isn(99);
        assert_eq!(run(&mut s, 100, b"ab", 10, false).1, vec![Got::D(0, b"ab".to_vec()), Got::G(2, 8, true)]);
        let (_, got) = run(&mut s, 120, b"xy", 2, false);
        assert!(got.is_empty());
        let mut got = Vec::new();
        assert_eq!(s.acknowledged(122, &mut |p| got.push(format!("{p:?}"))), Some(22));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("Gap { offset: 10, len: 10, truncated: false }"), "{got:?}");
        assert_eq!(s.next, 22);
    }

    #[test]
    fn holding_is_bounded() {
        let mut s = Stream::default();
        s.set_isn(0);
        for i in 0..100u32 {
            run(&mut s, 1000 + i * 1000, &[0; 1000], 1000, false);
        }
        assert!(s.pending.len() <= MAX_PENDING_SEGMENTS);
        assert!(s.pending_bytes <= MAX_PENDING_BYTES);
    }
}
