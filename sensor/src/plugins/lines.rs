//! Line framing for text protocols (SMTP, IMAP ...): lines may span segments,
//! only a bounded head of each is kept, and a line may announce a literal
//! (IMAP `{n}`) whose bytes follow without being scanned for line ends.

use super::{Handover, Parser};
use crate::timing::Events;
use crate::Direction;

/// A line-oriented protocol: it sees line events of both directions; the
/// framing, gaps and the `Parser` plumbing are shared.
pub trait LineProtocol: Send {
    /// The framing state of [client→server, server→client].
    fn lines(&mut self) -> &mut [Lines; 2];
    /// A line event of `dir`; after an `End`, the literal bytes that follow.
    fn event(&mut self, dir: Direction, event: LineEvent, ev: &mut Events) -> u64;
    /// The connection switched to TLS (STARTTLS accepted): line parsing
    /// stops and the TLS plugin takes the rest.
    fn stopped(&self) -> bool {
        false
    }
}

impl<T: LineProtocol> Parser for T {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        if self.stopped() {
            return;
        }
        let mut lines = std::mem::take(&mut self.lines()[dir as usize]);
        lines.feed(data, |e| self.event(dir, e, ev));
        self.lines()[dir as usize] = lines;
    }

    fn gap(&mut self, dir: Direction, len: usize, _ev: &mut Events) {
        self.lines()[dir as usize].gap(len);
    }

    fn end(&mut self, _dir: Direction, _ev: &mut Events) {}

    fn handover(&self) -> Option<Handover> {
        self.stopped().then_some(Handover::next_chunk("tls"))
    }
}

/// Bytes of a line kept to read a command, a tag or a reply code.
const LINE_HEAD: usize = 512;

/// What the line framing reports.
pub enum LineEvent<'a> {
    /// A line begins at this offset of the data with this byte.
    Begin { at: usize, first: u8 },
    /// A line ended: its kept head, the offsets of its first byte (0 for a
    /// line begun in an earlier chunk) and of the byte after its `\n`.
    End { head: &'a [u8], start: usize, end: usize },
}

/// The line being received in one direction.
#[derive(Default)]
pub struct Lines {
    head: Vec<u8>,
    /// Bytes of the current line seen (may exceed what `head` keeps).
    len: usize,
    /// Literal bytes still to pass over before lines resume.
    literal: u64,
    /// The capture lost part of the current line: drop it.
    damaged: bool,
}

impl Lines {
    /// Feeds `data`, reporting where lines begin and end; after an `End`,
    /// `event` returns how many literal bytes follow the line (0 for none).
    pub fn feed(&mut self, data: &[u8], mut event: impl FnMut(LineEvent) -> u64) {
        let mut at = 0;
        while at < data.len() {
            if self.literal > 0 {
                let skip = self.literal.min((data.len() - at) as u64);
                self.literal -= skip;
                at += skip as usize;
                continue;
            }
            if self.len == 0 && !self.damaged {
                event(LineEvent::Begin { at, first: data[at] });
            }
            let Some(nl) = memchr::memchr(b'\n', &data[at..]) else {
                self.keep(&data[at..]);
                return;
            };
            let end = at + nl + 1;
            let start = if self.len == 0 { at } else { 0 };
            self.keep(&data[at..end]);
            if !self.damaged {
                self.literal = event(LineEvent::End { head: &self.head, start, end });
            }
            self.head.clear();
            self.len = 0;
            self.damaged = false;
            at = end;
        }
    }

    fn keep(&mut self, piece: &[u8]) {
        let keep = piece.len().min(LINE_HEAD.saturating_sub(self.head.len()));
        self.head.extend_from_slice(&piece[..keep]);
        self.len += piece.len();
    }

    /// `len` bytes were lost: inside a literal they just shorten it; else the
    /// line in progress is dropped and the next line end resynchronises.
    pub fn gap(&mut self, len: usize) {
        if self.literal >= len as u64 {
            self.literal -= len as u64;
            return;
        }
        self.literal = 0;
        self.head.clear();
        self.len = 1;
        self.damaged = true;
    }
}

/// A three-digit reply code (SMTP, FTP) and whether this is the reply's
/// last line (`250 ok`) rather than a continued one (`250-…`).
pub fn reply_code(line: &[u8]) -> Option<(u16, bool)> {
    let code = std::str::from_utf8(line.get(..3)?).ok()?.parse().ok()?;
    Some((code, line.get(3) != Some(&b'-')))
}

/// The literal a line announces at its end (`{n}` or `{n+}` before CRLF).
pub fn literal_len(line: &[u8]) -> u64 {
    let line = line.strip_suffix(b"\r\n").or_else(|| line.strip_suffix(b"\n")).unwrap_or(line);
    let Some(body) = line.strip_suffix(b"}") else { return 0 };
    let Some(open) = body.iter().rposition(|b| *b == b'{') else { return 0 };
    let digits = body[open + 1..].strip_suffix(b"+").unwrap_or(&body[open + 1..]);
    std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_across_segments_with_literals() {
        let mut l = Lines::default();
        let mut got = Vec::new();
        let mut cb = |ev: LineEvent| match ev {
            LineEvent::End { head, start, end } => {
                got.push((String::from_utf8_lossy(head).into_owned(), start, end));
                literal_len(head)
            }
            LineEvent::Begin { .. } => 0,
        };
        l.feed(b"* 1 FETCH (BODY {5}\r\nab", &mut cb);
        l.feed(b"c\nd)\r\nA1 OK done\r\nA2 O", &mut cb);
        l.feed(b"K\r\n", &mut cb);
        let lines: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(lines, vec!["* 1 FETCH (BODY {5}\r\n", ")\r\n", "A1 OK done\r\n", "A2 OK\r\n"]);
        assert_eq!((got[2].1, got[2].2), (6, 18));
        assert_eq!((got[3].1, got[3].2), (0, 3));
        assert_eq!(literal_len(b"a LOGIN {3+}\r\n"), 3);
        assert_eq!(literal_len(b"no literal\r\n"), 0);
    }
}
