//! Length-prefixed messages, for the binary protocols whose every message
//! begins with a fixed-size header that gives the length of the rest
//! (Kafka, AMQP frames, memcached's binary protocol): the header is
//! gathered across chunks, the first `keep` bytes of the rest are kept (a
//! message head), and the rest is passed over by length.

/// One message: its header, the head (and, where asked for, the tail) of
/// what follows, and where it began and ended in the chunk (it began at 0
/// when it began in an earlier one).
pub struct Message<'a, const N: usize> {
    pub header: &'a [u8; N],
    pub head: &'a [u8],
    /// The last bytes of the message, up to the `tail` asked for.
    pub tail: &'a [u8],
    /// The whole length after the header.
    pub len: u32,
    pub at: usize,
    pub end: usize,
}

/// One direction's framing.
pub struct Prefixed<const N: usize> {
    header: [u8; N],
    have: usize,
    len: u32,
    left: u32,
    keep: usize,
    head: Vec<u8>,
    tail_keep: usize,
    tail: Vec<u8>,
    at: usize,
    /// Set by a header that gives no length, or a message its reader
    /// refused: nothing more is read.
    pub broken: bool,
}

impl<const N: usize> Prefixed<N> {
    /// Keeps the first `keep` bytes after each header.
    pub fn new(keep: usize) -> Self {
        Prefixed::with_tail(keep, 0)
    }

    /// Keeps the first `keep` bytes after each header and its last `tail`
    /// (where a reply puts its status after a body of any size).
    pub fn with_tail(keep: usize, tail: usize) -> Self {
        let (head, tail_buf) = (Vec::new(), Vec::new());
        Prefixed {
            header: [0; N],
            have: 0,
            len: 0,
            left: 0,
            keep,
            head,
            tail_keep: tail,
            tail: tail_buf,
            at: 0,
            broken: false,
        }
    }

    /// Feeds one chunk. `length` gives the length after a header (None: not
    /// a header of this protocol); `on` reads each message whole, false
    /// when it is not one of this protocol.
    pub fn feed(
        &mut self,
        data: &[u8],
        length: impl Fn(&[u8; N]) -> Option<u32>,
        mut on: impl FnMut(Message<N>) -> bool,
    ) {
        if self.have > 0 {
            self.at = 0; // the message began in an earlier chunk
        }
        let mut i = 0;
        while i < data.len() && !self.broken {
            if self.have < N {
                if self.have == 0 {
                    self.at = i;
                }
                let take = (N - self.have).min(data.len() - i);
                self.header[self.have..self.have + take].copy_from_slice(&data[i..i + take]);
                self.have += take;
                i += take;
                if self.have < N {
                    return;
                }
                let Some(len) = length(&self.header) else {
                    self.broken = true;
                    return;
                };
                (self.len, self.left) = (len, len);
                self.head.clear();
                self.tail.clear();
            }
            let take = (self.left as usize).min(data.len() - i);
            let keep = take.min(self.keep.saturating_sub(self.head.len()));
            self.head.extend_from_slice(&data[i..i + keep]);
            if self.tail_keep > 0 {
                let piece = &data[i + take - take.min(self.tail_keep)..i + take];
                let drop = (self.tail.len() + piece.len()).saturating_sub(self.tail_keep);
                self.tail.drain(..drop.min(self.tail.len()));
                self.tail.extend_from_slice(piece);
            }
            self.left -= take as u32;
            i += take;
            if self.left == 0 {
                self.have = 0;
                let at = std::mem::take(&mut self.at);
                let message =
                    Message { header: &self.header, head: &self.head, tail: &self.tail, len: self.len, at, end: i };
                self.broken = !on(message);
            }
        }
    }
}
