//! IMAP (143): a tagged command and the server's tagged completion are one
//! transaction, named by the command (`IMAP_FETCH`, `IMAP_UID_FETCH` …),
//! its outcome OK, NO or BAD. Several tags may be outstanding; completions
//! pair by tag. A response begins with the first byte of the server's next
//! line (untagged data, `* …`, counts for the oldest open command). Literals (`{n}`) in either direction are passed over
//! without looking for line ends in them; a command announcing a literal
//! continues on the line after it, and a `+` continuation request lets the
//! client go on with the same command (literals, IDLE's DONE). After a
//! literal the line it interrupted goes on (`)` closing a FETCH): neither a
//! new response nor a tag. The greeting answers no command.

use super::lines::{literal_len, LineEvent, LineProtocol, Lines};
use super::{Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "imap",
    ports: &[143],
    transports: &[Transport::Tcp],
    detect: |b| {
        // "<tag> CAPABILITY" / "<tag> LOGIN": a tag, a space, a command word.
        let tag = b.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'.').count();
        let rest = b.get(tag + 1..).unwrap_or_default();
        tag > 0
            && b.get(tag) == Some(&b' ')
            && ["CAPABILITY", "LOGIN", "AUTHENTICATE", "STARTTLS"]
                .iter()
                .any(|c| rest.len() >= c.len() && rest[..c.len()].eq_ignore_ascii_case(c.as_bytes()))
    },
    new_parser: |_| Box::<Imap>::default(),
};

#[derive(Default)]
struct Imap {
    lines: [Lines; 2],
    /// The client's next line continues its last command.
    continuing: bool,
    /// Untagged data is being attributed to the oldest open command.
    untagged: bool,
    /// The server's next line is the rest of one a literal interrupted.
    server_line_goes_on: bool,
    /// The client has sent a command: server lines before it are the greeting.
    commanded: bool,
}

/// A tag as a matching id (FNV-1a).
fn tag_id(tag: &[u8]) -> u32 {
    tag.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

fn split_word(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|b| *b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line.strip_suffix(b"\r\n").unwrap_or(line), &[]),
    }
}

impl Imap {
    fn client_line(&mut self, line: &[u8], start: usize, end: usize, ev: &mut Events) -> u64 {
        let literal = literal_len(line);
        self.commanded = true;
        if !self.continuing {
            let (tag, command) = split_word(line);
            ev.request_start(start, tag_id(tag));
            ev.request_text(command.strip_suffix(b"\r\n").unwrap_or(command));
        }
        self.continuing = literal > 0;
        if literal == 0 {
            ev.request_end(end);
        }
        literal
    }

    /// A server line begins: whatever it is but a continuation request, it
    /// answers the oldest open command (its first byte is the response's).
    fn server_line_begins(&mut self, at: usize, first: u8, ev: &mut Events) {
        if first != b'+' && !self.untagged && !self.server_line_goes_on && self.commanded {
            self.untagged = ev.response_start(at, None);
        }
    }

    fn server_line(&mut self, line: &[u8], start: usize, end: usize, ev: &mut Events) -> u64 {
        let literal = literal_len(line);
        let goes_on = std::mem::replace(&mut self.server_line_goes_on, literal > 0);
        if goes_on || !self.commanded {
            return literal;
        }
        let (tag, rest) = split_word(line);
        match tag {
            b"*" => {}
            b"+" => {
                self.continuing = true;
                ev.request_resume();
            }
            _ => {
                let (status, _) = split_word(rest);
                let outcome = match status.to_ascii_uppercase().as_slice() {
                    b"OK" => Outcome::Ok,
                    b"NO" => Outcome::No,
                    _ => Outcome::Bad,
                };
                ev.response_end_id(start, end, tag_id(tag), outcome);
                self.untagged = false;
            }
        }
        literal
    }
}

impl LineProtocol for Imap {
    fn lines(&mut self) -> &mut [Lines; 2] {
        &mut self.lines
    }

    fn event(&mut self, dir: Direction, e: LineEvent, ev: &mut Events) -> u64 {
        match (dir, e) {
            (Direction::ToServer, LineEvent::End { head, start, end }) => self.client_line(head, start, end, ev),
            (Direction::ToClient, LineEvent::Begin { at, first }) => {
                self.server_line_begins(at, first, ev);
                0
            }
            (Direction::ToClient, LineEvent::End { head, start, end }) => self.server_line(head, start, end, ev),
            (Direction::ToServer, LineEvent::Begin { .. }) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_and_tags() {
        assert!((PLUGIN.detect)(b"a0000 CAPABILITY\r\n"));
        assert!((PLUGIN.detect)(b"A1 login user pass\r\n"));
        assert!(!(PLUGIN.detect)(b"GET / HTTP/1.1\r\n"));
        assert_ne!(tag_id(b"a0001"), tag_id(b"a0002"));
    }
}
