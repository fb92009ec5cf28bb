//! POP3 (110): each command and its reply, named by the command
//! (`POP3_RETR` …), outcome `+OK` (ok) or `-ERR` (error). Replies to RETR,
//! TOP, CAPA, and to LIST and UIDL without an argument, continue until a
//! line with a single dot. The greeting answers no command. A `+ `
//! continuation (SASL `AUTH`, RFC 5034) lets the client's next line go on
//! with the same command: one transaction, its text never read.

use super::lines::{LineEvent, LineProtocol, Lines};
use super::{Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;
use std::collections::VecDeque;

pub static PLUGIN: Plugin = Plugin {
    name: "pop3",
    ports: &[110],
    transports: &[Transport::Tcp],
    detect: |b| {
        let head = &b[..b.len().min(5)];
        head.eq_ignore_ascii_case(b"USER ")
            || head.eq_ignore_ascii_case(b"CAPA\r")
            || head.eq_ignore_ascii_case(b"APOP ")
    },
    new_parser: |_| Box::<Pop3>::default(),
};

/// Commands awaiting replies, bounded like the transactions behind them.
const MAX_PENDING: usize = crate::timing::MAX_OPEN;

#[derive(Default)]
struct Pop3 {
    lines: [Lines; 2],
    /// Per command sent and not yet answered: does its reply span lines?
    pending: VecDeque<bool>,
    /// Inside a reply: Some(multi-line) once its status line has ended.
    reply: Option<bool>,
    in_reply: bool,
    /// The reply in progress began with `+OK`.
    ok: bool,
    /// After a `+ ` continuation: the client's next line (SASL data) belongs
    /// to the open command.
    continuing: bool,
}

fn multi_line(command: &[u8]) -> bool {
    let words: Vec<&[u8]> = command.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect();
    let verb = words.first().map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    match verb.as_slice() {
        b"RETR" | b"TOP" | b"CAPA" => true,
        b"LIST" | b"UIDL" => words.len() == 1,
        _ => false,
    }
}

impl Pop3 {
    fn client_line(&mut self, line: &[u8], start: usize, end: usize, ev: &mut Events) {
        if self.continuing {
            self.continuing = false;
            ev.request_end(end);
            return;
        }
        let text = line.strip_suffix(b"\r\n").unwrap_or(line);
        ev.request_start(start, 0);
        ev.request_text(text);
        ev.request_end(end);
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(multi_line(text));
    }

    fn server_begins(&mut self, at: usize, ev: &mut Events) {
        if !self.in_reply && !self.pending.is_empty() {
            self.in_reply = ev.response_start(at, None);
        }
    }

    fn server_line(&mut self, line: &[u8], end: usize, ev: &mut Events) {
        if !self.in_reply {
            return; // the greeting, or nothing asked for
        }
        match self.reply {
            None if line.starts_with(b"+ ") || line == b"+\r\n" => {
                self.continuing = true;
                ev.request_resume();
            }
            None => {
                self.ok = line.starts_with(b"+OK");
                let multi = self.pending.pop_front().unwrap_or(false) && self.ok;
                if multi {
                    self.reply = Some(true);
                } else {
                    self.finish(end, ev);
                }
            }
            Some(_) => {
                if line == b".\r\n" || line == b".\n" {
                    self.finish(end, ev);
                }
            }
        }
    }

    fn finish(&mut self, end: usize, ev: &mut Events) {
        ev.response_end(end, if self.ok { Outcome::Ok } else { Outcome::Error });
        self.reply = None;
        self.in_reply = false;
    }
}

impl LineProtocol for Pop3 {
    fn lines(&mut self) -> &mut [Lines; 2] {
        &mut self.lines
    }

    fn event(&mut self, dir: Direction, e: LineEvent, ev: &mut Events) -> u64 {
        match (dir, e) {
            (Direction::ToServer, LineEvent::End { head, start, end }) => self.client_line(head, start, end, ev),
            (Direction::ToClient, LineEvent::Begin { at, .. }) => self.server_begins(at, ev),
            (Direction::ToClient, LineEvent::End { head, end, .. }) => self.server_line(head, end, ev),
            (Direction::ToServer, LineEvent::Begin { .. }) => {}
        }
        0
    }
}
