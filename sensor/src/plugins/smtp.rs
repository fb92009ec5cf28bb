//! SMTP (25, 587): each command and its reply is a transaction, named by the
//! command (`SMTP_EHLO`, `SMTP_DATA` …), its outcome the reply class.
//!
//! Replies may span lines (`250-…` continues, `250 …` ends). A 3xx reply is
//! interim: after `354` the message follows and `DATA … .` is one request
//! timed to the final reply; after `334` the next client line (AUTH data)
//! belongs to the same request. The server's greeting answers no command and
//! is not a transaction. After `STARTTLS` is accepted the rest is encrypted:
//! the TLS plugin takes it.

use super::lines::{reply_code, LineEvent, LineProtocol, Lines};
use super::{Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "smtp",
    ports: &[25, 587],
    transports: &[Transport::Tcp],
    detect: |b| {
        let head = &b[..b.len().min(5)];
        head.eq_ignore_ascii_case(b"EHLO ") || head.eq_ignore_ascii_case(b"HELO ")
    },
    new_parser: |_| Box::<Smtp>::default(),
};

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum Client {
    #[default]
    Commands,
    /// After 334: the next line continues the current request.
    AuthLine,
    /// After 354: the message, until a line with a single dot.
    Message,
    /// After an accepted STARTTLS: not SMTP any more.
    Encrypted,
}

#[derive(Default)]
struct Smtp {
    client: Client,
    lines: [Lines; 2],
    /// A command was sent and its reply has not begun: the greeting comes
    /// before any command and is no transaction.
    awaiting: usize,
    in_reply: bool,
    last_verb_starttls: bool,
}

impl Smtp {
    fn client_line(&mut self, line: &[u8], start: usize, end: usize, ev: &mut Events) {
        match self.client {
            Client::Encrypted => {}
            Client::Message => {
                if line.starts_with(b".\r\n") || line == b".\n" {
                    ev.request_end(end);
                    self.client = Client::Commands;
                }
            }
            Client::AuthLine => {
                ev.request_end(end);
                self.client = Client::Commands;
            }
            Client::Commands => {
                ev.request_start(start, 0);
                ev.request_text(line.strip_suffix(b"\r\n").unwrap_or(line));
                ev.request_end(end);
                self.awaiting += 1;
                self.last_verb_starttls = line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"STARTTLS");
            }
        }
    }

    fn server_line(&mut self, line: &[u8], start: usize, end: usize, ev: &mut Events) {
        let Some((code, last)) = reply_code(line) else { return };
        if self.awaiting == 0 && !self.in_reply {
            return; // the greeting, or a reply nothing asked for
        }
        if (300..400).contains(&code) {
            // Interim: the client goes on with the same request.
            if last {
                self.client = if code == 354 { Client::Message } else { Client::AuthLine };
                ev.request_resume();
            }
            return;
        }
        if !self.in_reply {
            ev.response_start(start, None);
            self.in_reply = true;
        }
        if last {
            ev.response_end(end, Outcome::Status(code));
            self.in_reply = false;
            self.awaiting = self.awaiting.saturating_sub(1);
            if self.last_verb_starttls && code == 220 {
                self.client = Client::Encrypted;
            }
        }
    }
}

impl LineProtocol for Smtp {
    fn lines(&mut self) -> &mut [Lines; 2] {
        &mut self.lines
    }

    /// Replies are recognised by their code, so by whole lines.
    fn event(&mut self, dir: Direction, e: LineEvent, ev: &mut Events) -> u64 {
        if let LineEvent::End { head, start, end } = e {
            match dir {
                Direction::ToServer => self.client_line(head, start, end, ev),
                Direction::ToClient => self.server_line(head, start, end, ev),
            }
        }
        0
    }

    fn stopped(&self) -> bool {
        self.client == Client::Encrypted
    }
}
