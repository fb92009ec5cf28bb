//! FTP control (21): each command and its final reply, named by the command
//! (`FTP_RETR` …), outcome the reply class. Preliminary 1xx replies (150
//! "opening data connection") begin the response but do not end it; the
//! transfer's 226 does. Replies may span lines (`123-…` until `123 …`). The
//! greeting answers no command.

use super::lines::{reply_code, LineEvent, LineProtocol, Lines};
use super::{Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "ftp",
    ports: &[21],
    transports: &[Transport::Tcp],
    detect: |b| {
        let head = &b[..b.len().min(5)];
        head.eq_ignore_ascii_case(b"USER ") && b.ends_with(b"\r\n")
    },
    new_parser: |_| Box::<Ftp>::default(),
};

#[derive(Default)]
struct Ftp {
    lines: [Lines; 2],
    /// Commands sent and not yet finally answered.
    awaiting: usize,
    in_reply: bool,
    /// The code of a multi-line reply in progress (`123-`).
    continued: Option<u16>,
}

impl Ftp {
    fn server_line(&mut self, line: &[u8], end: usize, ev: &mut Events) {
        let Some((code, last)) = reply_code(line) else { return };
        if let Some(open) = self.continued {
            // Inside a multi-line reply only its own code with a space ends it.
            if code != open || !last {
                return;
            }
            self.continued = None;
        } else if !last {
            self.continued = Some(code);
            return;
        }
        if !self.in_reply || (100..200).contains(&code) {
            return; // the greeting, or a preliminary reply
        }
        ev.response_end(end, Outcome::Status(code));
        self.in_reply = false;
        self.awaiting = self.awaiting.saturating_sub(1);
    }
}

impl LineProtocol for Ftp {
    fn lines(&mut self) -> &mut [Lines; 2] {
        &mut self.lines
    }

    fn event(&mut self, dir: Direction, e: LineEvent, ev: &mut Events) -> u64 {
        match (dir, e) {
            (Direction::ToServer, LineEvent::End { head, start, end }) => {
                ev.request_start(start, 0);
                ev.request_text(head.strip_suffix(b"\r\n").unwrap_or(head));
                ev.request_end(end);
                self.awaiting += 1;
            }
            (Direction::ToClient, LineEvent::Begin { at, .. }) => {
                if !self.in_reply && self.awaiting > 0 {
                    self.in_reply = ev.response_start(at, None);
                }
            }
            (Direction::ToClient, LineEvent::End { head, end, .. }) => self.server_line(head, end, ev),
            (Direction::ToServer, LineEvent::Begin { .. }) => {}
        }
        0
    }
}
